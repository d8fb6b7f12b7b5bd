# SPDX-License-Identifier: MIT
"""No silent gaps across privilege drops and exec (as root).

- Processes that drop privileges (setpriv, su) keep their shim trace: the
  recorder's broker creates their files (tests of cli/broker_server.c).
- The recording is private: directory 0700, files 0600, owned by SUDO_UID.
- Where the shim cannot record (static binary, setuid program run by a
  user), processes[].preload says so and why, and the summary counts it.
- Process identity: a symlink's own name, each exec's argv, the name and
  title a program gives itself.

Every report.json is validated against schema/report.schema.json.

From a checkout other users cannot enter (a clone in /root, mode 0700) the
recorder gives the dropped processes a copy of the shim they can load
(cli/shimcopy.h); the workloads they run are copied where they can reach
them (share_workloads), since no recorder can make a program in a 0700
directory executable for nobody.
"""
import atexit
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

import report3
from vptest import VMAPROF, Recording, check, eq, main, parse_dump, workload, validate_report

HERE = os.path.dirname(os.path.abspath(__file__))
W = workload("w_shim")
WS = workload("w_faults_static")
WI = workload("w_ident")
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-jsonschema
DROP = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


validate = validate_report


def share_workloads():
    """The workloads, where `nobody` can run them: the build's own if it
    can, else copies in a fresh 0755 directory (removed at exit)."""
    global W, WS, WI
    if os.geteuid() != 0 or as_nobody(["test", "-x", W]).returncode == 0:
        return
    d = tempfile.mkdtemp(prefix="vmaprof-privdrop-bin-")
    os.chmod(d, 0o755)
    atexit.register(shutil.rmtree, d, True)
    W, WS, WI = (shutil.copy2(w, d) for w in (W, WS, WI))


def need_root():
    if os.geteuid() != 0:
        print("SKIP: needs root (the recorder's broker is for root recorders)")
        raise SystemExit(77)


class Rec(Recording):
    """`vmaprof record` into a fresh directory whose parent others may enter,
    so only the recording's own modes keep them out."""

    def __init__(self, cmd, args=(), env=None):
        need_root()
        super().__init__(cmd, args, env, prefix="vmaprof-privdrop-", tmp_mode=0o755)
        self.session = json.load(open(os.path.join(self.dir, "session.json")))
        self.require_bpf()

    def records(self):
        d = subprocess.run([VMAPROF, "report", self.dir, "--format", "records"],
                           capture_output=True, text=True, timeout=120)
        eq(d.returncode, 0, f"report --format records: {d.stderr}")
        streams, errors, failed = parse_dump(d.stdout)
        eq(errors, [], "dump errors")
        eq(failed, [], "shim failure markers")
        return [s for s in streams if s.header["source"] == "preload"]

    def proc_running(self, exe):
        p = [p for p in self.procs if p["execs"] and p["execs"][-1]["path"] == exe]
        eq(len(p), 1, f"processes whose last exec is {exe}")
        return p[0]


def mapped_from(proc, fn):
    """How many mappings (whole, not split pieces; folded and untouched ones
    counted) the process made from a stack naming fn: its sites' mappings
    (schema_version 3 summarises untouched entries in idle[], by site)."""
    return sum(s["mappings"] for s in proc["sites"]
               if any(f["function"] == fn for f in s["stack"]))


def shim_mmaps(stream, fn):
    return [r for r in stream.of("mem", call="mmap", src="shim")
            if r.stack and r.stack[0]["function"] == fn]


def check_all_traced(r):
    for p in r.procs:
        eq(p["preload"], {"active": True, "reason": None},
           f"pid {p['pid']} ({p['exe']}) shim status")
    pre = r.report["collectors"]["preload"]
    eq((pre["active"], pre["reason"], pre["processes_without"]), (True, None, 0),
       "collectors.preload")
    br = r.session["collectors"]["preload"]["broker"]
    eq((br["active"], br["refused"], br["errors"]), (True, 0, 0), "broker")


def as_nobody(cmd):
    return subprocess.run(DROP + cmd, capture_output=True, text=True, timeout=60)


def t_setpriv():
    """setpriv drops to nobody and execs: the new image is traced."""
    n = 40
    with Rec(DROP + [W, "maps", str(n)]) as r:
        eq(r.rc, 0, f"exit status: {r.stderr}")
        eq(len(r.procs), 1, "one process (setpriv execs the workload)")
        p = r.procs[0]
        check_all_traced(r)
        eq([e["path"] for e in p["execs"]][1:], [W], "exec of the workload")
        eq(p["execs"][-1]["argv"], [W, "maps", str(n)], "argv of the exec after the drop")
        eq(p["execs"][0]["argv"], ["setpriv", *DROP[1:], W, "maps", str(n)], "setpriv's argv")
        eq(p["argv"], [W, "maps", str(n)], "process argv: the last exec's")
        eq((p["exe"], p["name"], p["title"]), (W, "w_shim", None), "identity")
        eq(mapped_from(p, "map_from_here"), n, "mappings from map_from_here after the drop (report)")
        sites = {s["id"] for s in p["sites"] if s["stack"] and
                 s["stack"][0]["function"] == "map_from_here"}
        for s in sites:
            eq(p["sites"][s]["stack"][1]["function"], "scenario_maps", "stack")
        eq({v["anonymous"] for v in p["vmas"] if v["site"] in sites} |
           {i["path"] is None for i in p["idle"] if i["site"] in sites}, {True}, "anonymous")
        streams = r.records()
        eq(len(streams), 2, "shim streams: setpriv's and the workload's")
        after = [s for s in streams if s.proc()["exe"] == os.path.realpath(W)]
        eq(len(after), 1, "stream of the workload")
        eq(len(shim_mmaps(after[0], "map_from_here")), n, "shim mmap records after the drop")
        for k in ("lost", "incomplete", "bad"):
            eq(after[0].header[k], 0, k)
        # libraries keep their paths: the shim's maps snapshot is there
        libc = [v for v in p["vmas"] if (v["path"] or "").endswith("/libc.so.6")
                and v["valid_from_ns"] >= p["execs"][-1]["time_ns"]]
        check(libc, "libc mappings of the dropped image have their path")
        br = r.session["collectors"]["preload"]["broker"]
        eq(br["files"], 2, "files the broker created")


def t_su():
    """su forks, the child drops to nobody and execs a shell that runs the
    workload: every process, before and after the drop, is traced."""
    n = 25
    with Rec(["su", "nobody", "-s", "/bin/sh", "-c", f"{W} maps {n}"]) as r:
        eq(r.rc, 0, f"exit status: {r.stderr}")
        check_all_traced(r)
        w = r.proc_running(W)
        eq(mapped_from(w, "map_from_here"), n,
           "mappings from map_from_here")
        eq(w["argv"], [W, "maps", str(n)], "workload argv")
        eq(w["name"], "w_shim", "workload name")
        streams = r.records()
        ws = [s for s in streams if s.proc()["exe"] == os.path.realpath(W)]
        eq(len(ws), 1, "streams of the workload")
        eq(len(shim_mmaps(ws[0], "map_from_here")), n, "shim mmap records")
        # su (the root), its child that drops to nobody and execs the shell,
        # and the workload (dash forks for it)
        eq(len(r.procs), 3, "processes")
        su, sh = r.procs[0], [p for p in r.procs if p["name"] == "sh"]
        eq((su["name"], su["argv"]), ("su", ["su", "nobody", "-s", "/bin/sh", "-c",
                                             f"{W} maps {n}"]), "su")
        eq(len(sh), 1, "the shell")
        eq((sh[0]["ppid"], sh[0]["argv"], [e["path"] for e in sh[0]["execs"]]),
           (su["pid"], ["sh", "-c", f"{W} maps {n}"], ["/bin/sh"]), "the shell")
        eq(w["ppid"], sh[0]["pid"], "the workload's parent")


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def t_modes():
    """A root recording: 0700 directory, 0600 files; nobody reads nothing.
    Through sudo: everything belongs to SUDO_UID/SUDO_GID."""
    with Rec(DROP + [W, "maps", "3"]) as r:
        eq(mode(r.dir), 0o700, "trace directory mode")
        names = sorted(os.listdir(r.dir))
        check("report.json" in names and "session.json" in names and "bpf.vpt" in names,
              f"files: {names}")
        eq(len([n for n in names if n.startswith("preload.")]), 2, "shim traces")
        for n in names:
            eq(mode(os.path.join(r.dir, n)), 0o600, f"{n} mode")
            eq(os.lstat(os.path.join(r.dir, n)).st_uid, 0, f"{n} owner")
        p = as_nobody(["ls", r.dir])
        check(p.returncode != 0 and "Permission denied" in p.stderr,
              f"nobody lists the directory: {p.returncode} {p.stderr}")
        os.chmod(r.dir, 0o755)  # even with the directory open, the files stay shut
        for n in names:
            p = as_nobody(["cat", os.path.join(r.dir, n)])
            check(p.returncode != 0 and "Permission denied" in p.stderr,
                  f"nobody reads {n}: {p.returncode} {p.stderr}")
        os.chmod(r.dir, 0o700)
        # `vmaprof report` rewriting report.json keeps it private
        os.chmod(os.path.join(r.dir, "report.json"), 0o644)
        q = subprocess.run([VMAPROF, "report", r.dir], capture_output=True, text=True,
                           timeout=120)
        eq(q.returncode, 0, f"report: {q.stderr}")
        eq(mode(os.path.join(r.dir, "report.json")), 0o600, "rewritten report.json mode")
    env = dict(os.environ, SUDO_UID="65534", SUDO_GID="65534")
    with Rec(DROP + [W, "maps", "3"], env=env) as r:
        st = os.lstat(r.dir)
        eq((st.st_uid, st.st_gid, mode(r.dir)), (65534, 65534, 0o700), "directory owner, mode")
        for n in sorted(os.listdir(r.dir)):
            st = os.lstat(os.path.join(r.dir, n))
            eq((st.st_uid, st.st_gid, mode(os.path.join(r.dir, n))), (65534, 65534, 0o600),
               f"{n} owner, mode")
        p = as_nobody(["cat", os.path.join(r.dir, "report.json")])
        eq(p.returncode, 0, f"the sudo user reads the report: {p.stderr}")


def t_static():
    """A static binary in the tree: no shim trace, said per process, counted
    in the summary; its argv is its own exec's, not its parent's."""
    with Rec(["sh", "-c", f"{WS} touch 10; {W} maps 2"]) as r:
        eq(r.rc, 0, f"exit status: {r.stderr}")
        s = r.proc_running(WS)
        eq(s["preload"], {"active": False, "reason": "static binary (no dynamic loader)"},
           "static process shim status")
        eq(s["argv"], [WS, "touch", "10"], "static process argv (the kernel's copy)")
        eq(s["execs"][-1]["argv"], [WS, "touch", "10"], "exec argv")
        eq((s["exe"], s["name"]), (WS, "w_faults_static"), "static identity")
        eq(s["exe_resolved"], None, "no shim: no resolved exe")
        others = [p for p in r.procs if p is not s]
        eq(len(others), 2, "the shell and the dynamic workload")
        for p in others:
            eq(p["preload"], {"active": True, "reason": None}, f"{p['exe']} shim status")
        pre = r.report["collectors"]["preload"]
        eq((pre["active"], pre["processes_without"]), (True, 1), "collectors.preload")
        eq(pre["reason"], "1 of 3 process(es) have no shim trace "
           "(processes[].preload says why)", "collectors.preload.reason")
        # (the kernel collector's stacks stand in: test_kstack.py)
        line = "  1 process(es) without the shim's call stacks (the kernel's stand in for " \
               "their mappings): 1 static binary (no dynamic loader)"
        check(line in r.stderr.splitlines(), f"summary line {line!r} in:\n{r.stderr}")
        eq(mapped_from(r.proc_running(W), "map_from_here"), 2, "the dynamic one traced")


def t_setuid():
    """A setuid program run by nobody: the loader ignores LD_PRELOAD; the
    kernel's exec record says so (AT_SECURE)."""
    need_root()
    d = tempfile.mkdtemp(prefix="vmaprof-suid-")
    try:
        os.chmod(d, 0o755)
        suid = os.path.join(d, "w_suid")
        shutil.copy(W, suid)
        os.chmod(suid, 0o4755)
        with Rec(DROP + [suid, "maps", "2"]) as r:
            if r.rc != 0:
                print(f"SKIP: setuid program did not run here ({r.rc}): {r.stderr}")
                raise SystemExit(77)
            eq(len(r.procs), 1, "one process")
            p = r.procs[0]
            eq(p["preload"], {"active": False, "reason": "setuid/setgid program (secure exec: "
                              "the dynamic loader ignored LD_PRELOAD)"}, "shim status")
            eq(p["argv"], [suid, "maps", "2"], "argv")
            line = "  1 process(es) without the shim's call stacks (the kernel's stand in " \
                   "for their mappings): 1 setuid/setgid program (secure exec: the dynamic " \
                   "loader ignored LD_PRELOAD)"
            check(line in r.stderr.splitlines(), f"summary line in:\n{r.stderr}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def t_symlink():
    """A program run through a symlink shows as the symlink's name; the
    argv after exec is that exec's."""
    need_root()
    d = tempfile.mkdtemp(prefix="vmaprof-link-")
    try:
        link = os.path.join(d, "redis-server")
        os.symlink(W, link)
        with Rec(["sh", "-c", f"exec {link} maps 3"]) as r:
            eq(r.rc, 0, f"exit status: {r.stderr}")
            eq(len(r.procs), 1, "one process (sh execs)")
            p = r.procs[0]
            eq([e["path"] for e in p["execs"]][1:], [link], "exec path as given")
            eq(p["execs"][0]["argv"], ["sh", "-c", f"exec {link} maps 3"], "sh's argv")
            eq(p["execs"][1]["argv"], [link, "maps", "3"], "the exec's argv")
            eq((p["exe"], p["exe_resolved"], p["name"], p["argv"]),
               (link, os.path.realpath(W), "redis-server", [link, "maps", "3"]), "identity")
            eq(p["preload"]["active"], True, "traced")
            eq(mapped_from(p, "map_from_here"), 3, "mappings")
            check(re.search(r"^  pid \d+ redis-server \(first process\): ", r.stderr, re.M),
                  f"summary names the symlink:\n{r.stderr}")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def t_title():
    """prctl(PR_SET_NAME) and a title over argv: name and title at exit."""
    args = [WI, "title", "myname", "myname: worker", "extra1", "extra2"]
    with Rec(args) as r:
        eq(r.rc, 0, f"exit status: {r.stderr}")
        eq(len(r.procs), 1, "one process")
        p = r.procs[0]
        eq((p["exe"], p["name"], p["title"]), (WI, "myname", "myname: worker"), "identity")
        eq(p["argv"], args, "argv: what the exec got")
        eq(p["execs"][-1]["argv"], args, "exec argv")
        check(re.search(r"^  pid \d+ w_ident \[myname: worker\] \(first process\): ", r.stderr, re.M),
              f"summary shows the title:\n{r.stderr}")
    # a title longer than argv had room for runs on into the environment area
    env = dict(os.environ, VP_PAD="p" * 2000)
    with Rec([WI, "spill", "pgname", "300"], env=env) as r:
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.procs[0]
        eq((p["name"], p["title"]), ("pgname", "pgname: " + "x" * 300), "spilled title")
        eq(p["argv"], [WI, "spill", "pgname", "300"], "argv")


def t_longtitle():
    """A title longer than a summary line (nginx's "master process" and its
    whole command line): the title is cut, never the pid, the fault count
    or a fork's "-> child pid" after it."""
    title = ("srv: master process /usr/local/sbin/srv -c /etc/srv/srv.conf -p /var/lib/srv/ "
             "-g " + "opt " * 60 + "end")
    n, pages = 3, 20
    args = [WI, "forks", "srvname", title, str(n), str(pages), "p" * 400]
    with Rec(args) as r:
        eq(r.rc, 0, f"exit status: {r.stderr}")
        kids = [int(x) for x in re.findall(r"^child=(\d+)$", r.stdout, re.M)]
        eq(len(kids), n, f"children: {r.stdout}")
        root = [p for p in r.procs if p["title"] == title]
        eq(len(root), 1, "the parent, with its whole title in report.json")
        root = root[0]
        eq(sorted(p["pid"] for p in r.procs if p["pid"] != root["pid"]), sorted(kids),
           "the children in report.json")
        for p in r.procs:
            if p["pid"] != root["pid"]:
                eq(p["title"], "child " + title, f"child {p['pid']}'s title")
                eq(p["faults"]["demand_zero"] >= pages, True, f"child {p['pid']} demand_zero")
        lines = r.stderr.splitlines()
        for ln in lines:  # the summary's (not the paths vmaprof names)
            check(not ln.startswith("  ") or len(ln) <= 100, f"a summary line of {len(ln)} columns: {ln!r}")
        head = [ln for ln in lines if ln.startswith(f"  pid {root['pid']} ")]
        eq(len(head), 1, f"the parent's head line:\n{r.stderr}")
        m = re.fullmatch(r"  pid (\d+) w_ident \[(srv: master process .*)\.\.\.\] \(first process\): "
                         r"(\d+) faults", head[0])
        check(m is not None, f"head line keeps pid, title cut, count: {head[0]!r}")
        check(title.startswith(m.group(2)), f"the title's start: {m.group(2)!r}")
        eq(int(m.group(3)), root["faults"]["total"], "the head line's faults: report.json's")
        for c in kids:
            h = [ln for ln in lines if ln.startswith(f"  pid {c} ")]
            eq(len(h), 1, f"child {c}'s head line")
            m = re.fullmatch(r"  pid (\d+) w_ident \[child srv: .*\.\.\.\]: (\d+) faults", h[0])
            check(m is not None, f"child head line keeps its count: {h[0]!r}")
            eq(int(m.group(2)), [p for p in r.procs if p["pid"] == c][0]["faults"]["total"],
               f"child {c}'s faults")
        # every fork: "    PARENT TITLE... -> CHILD TITLE...", one per child
        forks = [re.fullmatch(r"    (\d+) (srv: master.*) -> (\d+) (child srv: .*)", ln)
                 for ln in lines]
        forks = [f for f in forks if f]
        eq(sorted(int(f.group(3)) for f in forks), sorted(kids), f"fork lines:\n{r.stderr}")
        for f in forks:
            eq(int(f.group(1)), root["pid"], "the fork's parent pid")
            check(f.group(2).endswith("...") and title.startswith(f.group(2)[:-3]),
                  f"the parent's title cut: {f.group(2)!r}")
            check(f.group(4).endswith("...") and ("child " + title).startswith(f.group(4)[:-3]),
                  f"the child's title cut: {f.group(4)!r}")


def t_diskfull():
    """The trace file system fills up under a dropped process: its report
    entry says its trace stopped early, and why."""
    need_root()
    mnt = tempfile.mkdtemp(prefix="vmaprof-full-")
    # 3 MiB: setpriv's trace (1 MiB + header), the workload's header and
    # first segment; its second segment does not fit. --no-bpf: no kernel
    # stream competing for the space, so the point it stops is fixed.
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode:
        print(f"SKIP: cannot mount a small tmpfs ({p.stderr.strip()})")
        os.rmdir(mnt)
        raise SystemExit(77)
    try:
        out = os.path.join(mnt, "rec")
        p = subprocess.run([VMAPROF, "record", "-o", out, "--no-bpf", "--", *DROP, W, "closefds",
                            "30000"],
                           capture_output=True, text=True, timeout=120)
        eq(p.returncode, 0, f"program unharmed by a full disk: {p.stderr}")
        with tempfile.TemporaryDirectory() as t:
            rj = os.path.join(t, "report.json")
            q = subprocess.run([VMAPROF, "report", out, "-o", rj], capture_output=True,
                               text=True, timeout=120)
            eq(q.returncode, 0, f"report: {q.stderr}")
            validate(rj)
            rep = report3.expand(json.load(open(rj)))
        eq(len(rep["processes"]), 1, "one process")
        eq(rep["processes"][0]["preload"],
           {"active": True, "reason": "the shim stopped recording: could not grow its "
            "trace file (disk full?)"}, "shim status")
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


if __name__ == "__main__":
    if sys.argv[1:] != ["--list"]:
        share_workloads()
    main({"setpriv": t_setpriv, "su": t_su, "modes": t_modes, "static": t_static,
          "setuid": t_setuid, "symlink": t_symlink, "title": t_title,
          "longtitle": t_longtitle, "diskfull": t_diskfull})
