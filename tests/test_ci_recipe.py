# SPDX-License-Identifier: MIT
"""README.md's CI recipe ("In CI"), end to end, as a CI user follows it.

The script block (ci/vmaprof-gate.sh) and the GitHub Actions workflow after
it are taken from README.md itself, so the README cannot say something this
test does not run. A git repository in a temp dir holds a small C program
(serve.c: builds a 2048-page table, forks a child that rewrites 256 pages of
it), its Makefile with a `test` target, the script and the workflow: commit
A on main; commit B on a branch makes the child rewrite 1024 pages (4x its
copies). The workflow runs as GitHub would run it, step by step: a fresh
clone per run, `run:` steps in bash -eo pipefail, `if:` conditions,
upload-artifact keeping the listed files per run, and a stand-in `gh` that
lists runs, downloads a run's artifact and records PR comments (only the
options the real gh has; an unknown one fails). Runs:

  1. push to main at A: no base yet; the artifact is A's report.json;
  2. a pull request at A (A'): main's report fetched, diff prints only the
     verdict line, exit 0, that line is the comment;
  3. a pull request at B: exit 1 fails the job, the artifact is still kept,
     the comment names the role and `build_table`, 256 -> 1024 copies;
  4. a pull request whose tests fail: the job fails with make's status and
     says the tests failed; report, diff and comment as usual;
  5. a base report that cannot be read: exit 2, "broken setup", no comment.

Every report.json kept is checked against the schema. Needs root (the
kernel collector counts the copies)."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from vptest import VMAPROF, SYSTEM_PYTHON, check, eq, main, validate_report

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "README.md")
WORKFLOW = "memory.yml"
REPO = "example/serve"

SERVE_C = r"""/* serve: builds a table, then forks a worker that updates part of it */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define TABLE_PAGES 2048
#define UPDATE_PAGES @UPDATE@

__attribute__((noinline)) char *build_table(size_t pages)
{
	char *t = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (t == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	memset(t, 1, pages * PAGE);
	return t;
}

__attribute__((noinline)) void update_table(char *t, size_t pages)
{
	for (size_t i = 0; i < pages; i++)
		t[i * PAGE] = 2;
}

int main(void)
{
	char *t = build_table(TABLE_PAGES);
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return 1;
	if (pid == 0) {
		update_table(t, UPDATE_PAGES);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		return 1;
	return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
"""

MAKEFILE = "serve: serve.c\n\tcc -O1 -g -o serve serve.c\n\ntest: serve\n\t./serve\n"

# "installing" vmaprof: the test puts the build's vmaprof on PATH
INSTALL_SH = "#!/bin/sh\ncommand -v vmaprof\n"

# A stand-in for GitHub's CLI over the runs this test made: the subcommands
# and options the workflow uses, as the real gh spells them.
FAKE_GH = r'''#!/usr/bin/env python3
import argparse, json, os, shutil, sys
state_path = os.environ["FAKE_GH_STATE"]
state = json.load(open(state_path))
ap = argparse.ArgumentParser(prog="gh")
sub = ap.add_subparsers(dest="cmd", required=True)
run = sub.add_parser("run").add_subparsers(dest="sub", required=True)
ls = run.add_parser("list")
ls.add_argument("-R", "--repo", required=True)
ls.add_argument("-b", "--branch")
ls.add_argument("-w", "--workflow")
ls.add_argument("-s", "--status")
ls.add_argument("-L", "--limit", type=int, default=20)
ls.add_argument("--json", required=True)
ls.add_argument("-q", "--jq")
dl = run.add_parser("download")
dl.add_argument("run_id")
dl.add_argument("-R", "--repo", required=True)
dl.add_argument("-n", "--name", required=True)
dl.add_argument("-D", "--dir", default=".")
pr = sub.add_parser("pr").add_subparsers(dest="sub", required=True)
cm = pr.add_parser("comment")
cm.add_argument("number")
cm.add_argument("-F", "--body-file", required=True)
a = ap.parse_args()
if not os.environ.get("GH_TOKEN"):
    sys.exit("gh: no GH_TOKEN")
if a.cmd == "run" and a.sub == "list":
    runs = [r for r in reversed(state["runs"])
            if (a.branch is None or r["branch"] == a.branch)
            and (a.workflow is None or r["workflow"] == a.workflow)
            and (a.status is None or r["conclusion"] == a.status)][:a.limit]
    fields = a.json.split(",")
    out = [{f: r[f] for f in fields} for r in runs]
    if a.jq is None:
        print(json.dumps(out))
    elif a.jq == ".[0].databaseId // empty":
        if out:
            print(out[0]["databaseId"])
    else:
        sys.exit(f"gh (stand-in): --jq {a.jq!r} not understood")
elif a.cmd == "run" and a.sub == "download":
    src = os.path.join(state["store"], str(int(a.run_id)), a.name)
    if not os.path.isdir(src):
        sys.exit(f"no artifact {a.name} in run {a.run_id}")
    shutil.copytree(src, a.dir, dirs_exist_ok=True)
else:
    with open(a.body_file) as f:
        state["comments"].append({"pr": int(a.number), "body": f.read()})
    json.dump(state, open(state_path, "w"))
'''


def readme_recipe():
    """The script and the workflow, as README.md's "In CI" section shows them."""
    text = open(README).read()
    m = re.search(r"^## In CI\b.*?(?=^## )", text, re.S | re.M)
    check(m is not None, 'README.md has no "## In CI" section')
    blocks, cur = [], None
    for line in m.group(0).splitlines():
        if line.startswith("    ") or (cur is not None and line == ""):
            if cur is None:
                cur = []
                blocks.append(cur)
            cur.append(line[4:])
        else:
            cur = None
    blocks = ["\n".join(b).strip("\n") + "\n" for b in blocks]
    script = [b for b in blocks if b.startswith("#!/bin/sh\n")]
    wf = [b for b in blocks if b.startswith(f"# .github/workflows/{WORKFLOW}\n")]
    eq(len(script), 1, "README's script blocks (#!/bin/sh)")
    eq(len(wf), 1, f"README's workflow blocks ({WORKFLOW})")
    return script[0], wf[0]


def load_yaml(text):
    """YAML through Debian's python3-yaml (the tests' python has the stdlib only)."""
    p = subprocess.run([SYSTEM_PYTHON, "-c",
                        "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
                       input=text, capture_output=True, text=True)
    eq(p.returncode, 0, f"the README's workflow as YAML: {p.stderr}")
    return json.loads(p.stdout)


def git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=ci test", "-c", "user.email=ci@example.org",
                    *args], cwd=cwd, check=True, capture_output=True, text=True)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


class Actions:
    """GitHub Actions for one workflow, as far as README's uses it."""

    def __init__(self, tmp, origin, workflow):
        self.tmp, self.origin, self.wf = tmp, origin, workflow
        self.store = os.path.join(tmp, "artifacts")
        self.state = os.path.join(tmp, "gh-state.json")
        json.dump({"runs": [], "comments": [], "store": self.store}, open(self.state, "w"))
        self.bin = os.path.join(tmp, "bin")
        write(os.path.join(self.bin, "gh"), FAKE_GH, 0o755)
        # the runner's user may sudo; here we are root already
        write(os.path.join(self.bin, "sudo"), '#!/bin/sh\nexec "$@"\n', 0o755)
        trig = workflow.get("on", workflow.get("true"))  # YAML 1.1 reads `on` as true
        check(isinstance(trig, dict) and "pull_request" in trig
              and trig.get("push", {}).get("branches") == ["main"],
              f"workflow triggers: {trig}")
        jobs = list(workflow["jobs"].values())
        eq(len(jobs), 1, "jobs in the workflow")
        self.job = jobs[0]

    def gh_state(self):
        return json.load(open(self.state))

    def expr(self, s, ctx):
        """${{ ... }} in a run: script or env value."""
        def one(m):
            e = m.group(1).strip()
            check(e in ctx, f"workflow expression not known to the test: {e}")
            return str(ctx[e])
        return re.sub(r"\$\{\{(.*?)\}\}", one, s)

    def cond(self, s, event, failed):
        if s is None:
            return not failed
        e = s.strip()
        if e.startswith("${{"):
            e = e[3:-2]
        e = e.replace("!cancelled()", "True").replace("&&", " and ")
        e = e.replace("github.event_name", repr(event))
        check(re.fullmatch(r"[\sA-Za-z_'=]*", e) is not None, f"if: not known to the test: {s}")
        return eval(e, {"__builtins__": {}})

    def run(self, event, sha, branch, pr=None):
        """One workflow run: its conclusion and each step's (name, status, output)."""
        st = self.gh_state()
        rid = len(st["runs"]) + 1
        ws = os.path.join(self.tmp, f"ws{rid}")
        ctx = {"github.token": "token-of-this-run",
               "github.event.pull_request.number": pr}
        env = dict(os.environ, GITHUB_REPOSITORY=REPO, GITHUB_WORKSPACE=ws,
                   FAKE_GH_STATE=self.state,
                   PATH=os.pathsep.join([self.bin, os.path.dirname(os.path.abspath(VMAPROF)),
                                         os.environ["PATH"]]))
        for k, v in (self.job.get("env") or {}).items():
            env[k] = self.expr(str(v), ctx)
        failed, steps = False, []
        for i, s in enumerate(self.job["steps"]):
            name = s.get("name") or s.get("uses") or f"step {i}"
            if not self.cond(s.get("if"), event, failed):
                steps.append((name, "skipped", ""))
                continue
            uses = s.get("uses", "")
            if uses.startswith("actions/checkout@"):
                subprocess.run(["git", "clone", "-q", self.origin, ws], check=True)
                git(ws, "checkout", "-q", sha)
                rc, out = 0, ""
            elif uses.startswith("actions/upload-artifact@"):
                rc, out = self.upload(rid, ws, s["with"]), ""
            else:
                check(not uses, f"step {name}: `uses: {uses}` not known to the test")
                script = os.path.join(self.tmp, f"step{rid}-{i}.sh")
                write(script, self.expr(s["run"], ctx))
                p = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", script],
                                   cwd=ws, env=env, capture_output=True, text=True, timeout=300)
                rc, out = p.returncode, p.stdout + p.stderr
            steps.append((name, rc, out))
            failed = failed or rc != 0
        st = self.gh_state()
        st["runs"].append({"databaseId": rid, "branch": branch, "workflow": WORKFLOW,
                           "event": event, "conclusion": "failure" if failed else "success"})
        json.dump(st, open(self.state, "w"))
        return rid, ("failure" if failed else "success"), steps

    def upload(self, rid, ws, w):
        """upload-artifact: the files listed, below their common directory."""
        paths = [p.strip() for p in w["path"].splitlines() if p.strip()]
        found = [p for p in paths if os.path.isfile(os.path.join(ws, p))]
        if not found:
            eq(w.get("if-no-files-found"), "ignore", "upload with no files")
            return 0
        root = os.path.commonpath([os.path.dirname(p) for p in paths])
        dst = os.path.join(self.store, str(rid), w["name"])
        for p in found:
            os.makedirs(os.path.dirname(os.path.join(dst, os.path.relpath(p, root))),
                        exist_ok=True)
            shutil.copy(os.path.join(ws, p), os.path.join(dst, os.path.relpath(p, root)))
        return 0


def step(steps, name):
    s = [x for x in steps if x[0] == name]
    eq(len(s), 1, f"steps named {name!r}")
    return s[0]


def artifact(gh, rid):
    d = os.path.join(gh.store, str(rid), "vmaprof-report")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


GATE = "Record the tests and gate them"
VERDICT_SAME = "**vmaprof diff: no change of 16 pages and 20% or more; 0 of 2 bounds exceeded**"


def t_recipe():
    if os.geteuid() != 0:
        print("SKIP: the recipe's gate counts faults: the kernel collector needs root")
        raise SystemExit(77)
    script, wf_text = readme_recipe()
    # the commands the brief of the recipe promises, in the script itself
    for cmd in ("vmaprof record -o vmaprof.rec -- make test",
                "--max-increase cow_copy=25% --max-increase demand_zero=25%",
                "--format markdown > vmaprof.rec/diff.md"):
        check(cmd in script.replace("\\\n        ", ""), f"the script runs {cmd!r}")
    workflow = load_yaml(wf_text)
    tmp = tempfile.mkdtemp(prefix="vmaprof-ci-")
    try:
        origin = os.path.join(tmp, "origin")
        os.makedirs(origin)
        git(origin, "init", "-q", "-b", "main")
        write(os.path.join(origin, "serve.c"), SERVE_C.replace("@UPDATE@", "256"))
        write(os.path.join(origin, "Makefile"), MAKEFILE)
        write(os.path.join(origin, "ci", "vmaprof-gate.sh"), script, 0o755)
        write(os.path.join(origin, "ci", "install-vmaprof.sh"), INSTALL_SH, 0o755)
        write(os.path.join(origin, ".github", "workflows", WORKFLOW), wf_text)
        git(origin, "add", "-A")
        git(origin, "commit", "-q", "-m", "A: the worker updates 256 pages of the table")
        git(origin, "checkout", "-q", "-b", "grow")
        write(os.path.join(origin, "serve.c"), SERVE_C.replace("@UPDATE@", "1024"))
        git(origin, "commit", "-q", "-am", "B: the worker updates 1024 pages (4x)")
        git(origin, "checkout", "-q", "-b", "fail", "main")
        write(os.path.join(origin, "serve.c"), SERVE_C.replace("@UPDATE@", "256").replace(
            "return !(WIFEXITED(st) && WEXITSTATUS(st) == 0);", "return 3;"))
        git(origin, "commit", "-q", "-am", "C: A whose test fails (exit 3)")
        git(origin, "checkout", "-q", "main")
        sha = {}
        for ref in ("main", "grow", "fail"):
            sha[ref] = subprocess.run(["git", "rev-parse", ref], cwd=origin, check=True,
                                      capture_output=True, text=True).stdout.strip()
        gh = Actions(tmp, origin, workflow)

        # 1. push to main at A: the base report, nothing to compare yet
        rid, concl, steps = gh.run("push", sha["main"], "main")
        eq(concl, "success", f"push to main: {steps}")
        eq(step(steps, "Fetch the main branch's report")[1], "skipped", "fetch on a push")
        check("nothing to compare" in step(steps, GATE)[2], f"gate with no base: {steps}")
        eq(artifact(gh, rid), ["report.json"], "main's artifact")
        validate_report(os.path.join(gh.store, str(rid), "vmaprof-report", "report.json"))
        eq(gh.gh_state()["comments"], [], "comments after a push")

        # 2. a pull request at A again: only the verdict line, exit 0
        rid, concl, steps = gh.run("pull_request", sha["main"], "same", pr=1)
        eq(concl, "success", f"A against A: {steps}")
        eq(step(steps, GATE)[1], 0, "the gate's exit status, A against A")
        eq(artifact(gh, rid), ["diff.md", "report.json"], "A' artifact")
        validate_report(os.path.join(gh.store, str(rid), "vmaprof-report", "report.json"))
        c = gh.gh_state()["comments"]
        eq(len(c), 1, "comments after A'")
        eq((c[0]["pr"], c[0]["body"].strip()), (1, VERDICT_SAME), "the comment on A'")

        # 3. a pull request at B: the child copies 4x; exit 1 fails the job
        rid, concl, steps = gh.run("pull_request", sha["grow"], "grow", pr=2)
        eq(concl, "failure", "B against A")
        name, rc, out = step(steps, GATE)
        eq(rc, 1, f"the gate's exit status, B against A: {out}")
        check("memory grew past a bound" in out, f"the gate says why: {out}")
        eq(step(steps, "Keep the report")[1], 0, "artifact kept after the failure")
        eq(artifact(gh, rid), ["diff.md", "report.json"], "B's artifact")
        validate_report(os.path.join(gh.store, str(rid), "vmaprof-report", "report.json"))
        c = gh.gh_state()["comments"]
        eq(len(c), 2, "comments after B")
        body = c[1]["body"]
        eq(c[1]["pr"], 2, "B's comment's PR")
        role = "root:exec(make)/fork:exec(serve)/fork"
        check(body.startswith("**vmaprof diff: ") and "1 of 2 bounds exceeded**" in body,
              f"B's verdict: {body}")
        check(f"| `{role}` | `build_table (anon)` | cow_copy | 256 | 1024 | +300.0% |" in body,
              f"B's comment names the role, the site and its copies: {body}")
        check(re.search(rf"EXCEEDED cow_copy \+[\d.]+% > 25% at {re.escape(role)} .*"
                        rf"most growth: `{re.escape(role)}  build_table \(anon\)  256 -> 1024",
                        body), f"B's violation names the site: {body}")
        check("demand_zero" not in body.split("EXCEEDED", 1)[1], "only cow_copy exceeded")

        # 4. a pull request whose tests fail (make exits 2): the job fails with
        # the tests' status and says so; the report and the diff are still kept
        rid, concl, steps = gh.run("pull_request", sha["fail"], "fail", pr=3)
        eq(concl, "failure", "failing tests")
        name, rc, out = step(steps, GATE)
        eq(rc, 2, f"the gate's exit status when make test fails: {out}")
        check("the tests failed (exit 2)" in out, f"the gate says: {out}")
        eq(artifact(gh, rid), ["diff.md", "report.json"], "C's artifact")
        validate_report(os.path.join(gh.store, str(rid), "vmaprof-report", "report.json"))
        c = gh.gh_state()["comments"]
        eq((len(c), c[-1]["pr"], c[-1]["body"].strip()), (3, 3, VERDICT_SAME),
           "the comment on C (same memory as A)")

        # 5. a base that cannot be read (a damaged artifact): exit 2, no comment
        base = os.path.join(gh.store, "1", "vmaprof-report", "report.json")
        with open(base, "r+") as f:
            f.truncate(100)
        rid, concl, steps = gh.run("pull_request", sha["main"], "same", pr=4)
        eq(concl, "failure", "a damaged base")
        name, rc, out = step(steps, GATE)
        eq(rc, 2, f"the gate's exit status on a damaged base: {out}")
        check("broken setup" in out, f"the gate says: {out}")
        eq(len(gh.gh_state()["comments"]), 3, "no comment from a broken setup")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def t_no_bpf():
    """README's "Privileges": without the kernel collector the fault gate is
    exit 2 (the script's broken setup), and the mappings gate works."""
    tmp = tempfile.mkdtemp(prefix="vmaprof-ci-")
    try:
        write(os.path.join(tmp, "serve.c"), SERVE_C.replace("@UPDATE@", "256"))
        write(os.path.join(tmp, "Makefile"), MAKEFILE)
        subprocess.run(["make", "-s", "serve"], cwd=tmp, check=True)
        reps = []
        for r in ("a", "b"):
            p = subprocess.run([VMAPROF, "record", "--no-bpf", "-o", r, "--", "make", "test"],
                               cwd=tmp, capture_output=True, text=True, timeout=300)
            eq(p.returncode, 0, f"record --no-bpf: {p.stderr}")
            reps.append(os.path.join(tmp, r, "report.json"))
            validate_report(reps[-1])
            rep = json.load(open(reps[-1]))
            eq(rep["collectors"]["bpf"]["active"], False, "bpf collector under --no-bpf")
        p = subprocess.run([VMAPROF, "diff", *reps, "--max-increase", "cow_copy=25%",
                            "--max-increase", "demand_zero=25%", "--format", "markdown"],
                           capture_output=True, text=True)
        eq((p.returncode, p.stdout), (2, ""), f"fault gate without fault figures: {p.stderr}")
        check("has no fault figures (recorded without the kernel collector)" in p.stderr,
              p.stderr)
        check("live_bytes=25% --max-increase bytes_mapped=25%" in
              open(README).read().replace("\n", " "), "README names the mappings gate")
        p = subprocess.run([VMAPROF, "diff", *reps, "--max-increase", "live_bytes=25%",
                            "--max-increase", "bytes_mapped=25%", "--format", "markdown"],
                           capture_output=True, text=True)
        eq(p.returncode, 0, f"mappings gate without fault figures: {p.stdout}{p.stderr}")
        check("comparing mappings only" in p.stdout, p.stdout)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main({"recipe": t_recipe, "no_bpf": t_no_bpf})
