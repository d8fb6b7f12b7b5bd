# SPDX-License-Identifier: MIT
"""`vmaprof diff` on hand-made reports (tests/fixtures/diff, written by its gen.py),
and on recordings of tests/workloads/w_cowstack.c for write sites (the
write_sites cases: they record, as root with the kernel collector).

usage: python3 tests/test_diff.py CASE   (env VMAPROF: the built vmaprof)

Standard library only; the fixtures' schema check runs validate_report.py
under Debian's /usr/bin/python3, which has python3-jsonschema.
"""
import copy
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures", "diff")
VMAPROF = os.environ.get("VMAPROF", "vmaprof")
SYSTEM_PYTHON = "/usr/bin/python3"
VALID = ["base.json", "same.json", "worse.json", "reordered.json", "unmeasured.json",
         "doubled.json", "cxx_v1.json", "cxx_v2.json", "server_a.json", "server_b.json",
         "server_grown.json", "server_flags.json"]
CHILD = "root:exec(app)/fork"  # the process that makes the COW copies (a fork, no exec)


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def fx(name):
    return os.path.join(FIX, name)


def diff(*args):
    p = subprocess.run([VMAPROF, "diff", *args], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def expect(rc_want, args, what):
    rc, out, err = diff(*args)
    check(rc == rc_want, f"{what}: `vmaprof diff {' '.join(args)}` exited {rc}, expected "
          f"{rc_want}\n--- stdout\n{out}--- stderr\n{err}")
    return out, err


def exceeded(out):
    return [line for line in out.splitlines() if line.startswith("EXCEEDED")]


def only_verdict(out, what, bounds="no bounds given", pages=16, change=20):
    """Nothing but the verdict line: no change above the noise floors
    (--min-pages, and --min-change, a percentage of the base: 20 unless set)."""
    floor = (f"no change of {pages} pages and {change}% or more" if pages and change else
             f"no change of {pages} pages or more" if pages else
             f"no change of {change}% or more" if change else "no change")
    want = f"vmaprof diff: {floor}; {bounds}\n"
    check(out == want, f"{what}: expected only {want!r}, got:\n{out}")


def rows(out, role, site):
    """The change lines of one site: [metric, old, new, change] each."""
    got = []
    for line in out.splitlines():
        cols = [c.strip() for c in line.split("  ") if c.strip()]
        if len(cols) == 5 and cols[0].strip() == role and cols[1].strip() == site:
            old, new = cols[3].split(" -> ")
            got.append([cols[2].strip(), old, new, cols[4]])
    return got


def most_growth(out):
    return [line for line in out.splitlines() if line.startswith("  most growth: ")]


def bad_input(args, what, needle):
    """Exit 2, one clear line on stderr naming the problem, nothing on stdout."""
    out, err = expect(2, args, what)
    lines = err.strip().splitlines()
    check(len(lines) == 1 and lines[0].startswith("vmaprof diff: "),
          f"{what}: expected one 'vmaprof diff: ...' line on stderr, got {err!r}")
    check(needle in lines[0], f"{what}: stderr {lines[0]!r} does not mention {needle!r}")
    check(out == "", f"{what}: stdout should be empty on bad input, got {out!r}")


def validate(paths):
    p = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "validate_report.py"), *paths],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def written(doc):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, prefix="vmaprof-diff-")
    json.dump(doc, f)
    f.close()
    return f.name


# ---- cases -------------------------------------------------------------------

def t_generated():
    """The checked-in fixtures are exactly what gen.py writes."""
    with tempfile.TemporaryDirectory() as t:
        subprocess.run([sys.executable, fx("gen.py"), t], check=True)
        for name in sorted(os.listdir(t)):
            check(filecmp.cmp(os.path.join(t, name), fx(name), shallow=False),
                  f"{name} differs from gen.py's output (re-run tests/fixtures/diff/gen.py)")


def t_schema():
    """Good fixtures are valid; each bad one is caught, with the right status."""
    rc, out = validate([fx(n) for n in VALID])
    check(rc == 0, f"fixtures against the JSON Schema:\n{out}")
    v2 = json.load(open(fx("cxx_v2.json")))
    vmas = [v for p in v2["processes"] for v in p["vmas"]]
    check(v2["schema_version"] == 2 and any(v.get("instances", 1) > 1 for v in vmas) and
          any(f.get("mangled") for v in vmas for f in v["stack"]) and
          all("label" in v for v in vmas), "cxx_v2.json lacks the schema_version 2 fields")
    for name, want, needle in [("wrong_version.json", 1, "$.schema_version"),
                               ("missing_field.json", 1, "'faults' is a required property"),
                               ("not_json.json", 2, "cannot read a JSON document")]:
        rc, out = validate([fx(name)])
        check(rc == want and needle in out, f"validate {name}: rc {rc} (want {want}):\n{out}")
    base = json.load(open(fx("base.json")))
    for what, edit, needle in [
            ("a float count", lambda r: r.update(page_size=4096.0), "$.page_size"),
            ("a bad prot", lambda r: r["processes"][0]["vmas"][0].update(prot="rwz"), "prot"),
            ("a bad kind", lambda r: r["processes"][0]["vmas"][0].update(kind="text"), "kind"),
            ("a bad class", lambda r: r["processes"][0]["vmas"][3]["top_fault_sites"][0]
             .update({"class": "major"}), "class"),
            ("a missing fault class", lambda r: r["processes"][1]["faults"].pop("cow_reuse"),
             "cow_reuse"),
            ("a negative count", lambda r: r["collectors"]["bpf"].update(lost=-1), "lost"),
            ("inherited without inherited_from",
             lambda r: r["processes"][1]["vmas"][1].update(inherited_from=None), "inherited_from"),
            ("forked_from without time", lambda r: r["processes"][1]["forked_from"].pop("time_ns"),
             "time_ns"),
            # version-2 fields, on a version-2 report
            ("instances 0", lambda r: r["processes"][0]["vmas"][3].update(instances=0),
             "instances"),
            ("a numeric label", lambda r: r["processes"][0]["vmas"][3].update(label=7), "label"),
            ("a numeric mangled", lambda r: r["processes"][0]["vmas"][3]["stack"][0]
             .update(mangled=7), "mangled"),
            ("a site without its key", lambda r: r["processes"][0]["sites"][0].pop("key"),
             "key")]:
        doc = copy.deepcopy(v2 if what.startswith(("instances", "a numeric", "a site"))
                            else base)
        edit(doc)
        path = written(doc)
        try:
            rc, out = validate([path])
        finally:
            os.unlink(path)
        check(rc == 1 and needle in out, f"the schema accepts {what} (rc {rc}):\n{out}")
    extra = copy.deepcopy(base)
    extra["processes"][0]["vmas"][0]["note"] = "more fields are welcome"
    path = written(extra)
    try:
        rc, out = validate([path])
    finally:
        os.unlink(path)
    check(rc == 0, f"the schema rejects an additional field:\n{out}")


def t_same():
    """Same vs same: the verdict line and nothing else."""
    out, _ = expect(0, [fx("base.json"), fx("same.json"), "--max-increase", "cow_copy=0%",
                        "--max-increase", "mapped_bytes=0%"], "identical reports")
    only_verdict(out, "identical reports", "0 of 2 bounds exceeded")
    out, _ = expect(0, [fx("base.json"), fx("same.json"), "--min-pages", "0"], "--min-pages 0")
    only_verdict(out, "identical reports, every change shown", pages=0)


def t_worse():
    args = [fx("base.json"), fx("worse.json")]
    out, _ = expect(1, args + ["--max-increase", "cow_copy=10%"], "cow_copy +25% vs 10%")
    ex = exceeded(out)
    check(ex == [f"EXCEEDED cow_copy +25.0% > 10% at * (old 400, new 500)",
                 f"EXCEEDED cow_copy +25.0% > 10% at {CHILD} (old 400, new 500)"],
          f"expected the total and the child to exceed, nothing else:\n{out}")
    growth = f"  most growth: {CHILD}  alloc_buffer (anon)  400 -> 500 (+100)"
    check(most_growth(out) == [growth, growth],
          f"each violation should name the buffer's call site:\n{out}")
    got = rows(out, CHILD, "alloc_buffer (anon)")
    check(["cow_copy", "400", "500", "+25.0%"] in got,
          f"no cow_copy line for the buffer's call site in {CHILD}:\n{out}")
    check(not rows(out, CHILD, "(process)"), f"a role's own sum is not a change line:\n{out}")
    check(out.splitlines()[-1] == "vmaprof diff: 4 changes of 16 pages and 20% or more; "
          "1 of 1 bound exceeded", f"verdict:\n{out}")
    out, _ = expect(0, args + ["--max-increase", "cow_copy=30%"], "cow_copy +25% vs 30%")
    check(not exceeded(out), f"30% bound reported exceeded:\n{out}")
    expect(0, args + ["--max-increase", "cow_copy=25"], "PCT without '%', exact bound")
    expect(1, args + ["--max-increase", "cow_copy=24.9%"], "PCT with a fraction")
    expect(0, args, "no bounds at all")
    # the same run compared the other way round is a decrease: holds
    expect(0, [fx("worse.json"), fx("base.json"), "--max-increase", "cow_copy=0%"],
           "a decrease")


def t_doubled():
    """The root's buffer doubled: the lines name its call site, the bound's
    violation names it as the site that grew the most."""
    out, _ = expect(1, [fx("base.json"), fx("doubled.json"), "--max-increase",
                        "demand_zero=50%"], "a doubled buffer")
    got = rows(out, "root:exec(app)", "alloc_buffer (anon)")
    for want in (["demand_zero", "1000", "2000", "+100.0%"],
                 ["live_bytes", "4096000", "8192000", "+100.0%"]):
        check(want in got, f"missing {want} for alloc_buffer:\n{out}")
    sites = {line.split("  ")[1] for line in out.splitlines()
             if line.startswith("root:exec(app) ")}
    check(sites == {"alloc_buffer (anon)"}, f"only the buffer's site changed: {sites}\n{out}")
    check(most_growth(out) and all("root:exec(app)  alloc_buffer (anon)  1000 -> 2000 (+1000)"
                                   in m for m in most_growth(out)),
          f"the violation should name alloc_buffer:\n{out}")


def t_first_shape():
    """Reports of the first shape (six classes, no populated) still read:
    the classes added since count as 0 there."""
    out, _ = expect(0, [fx("first_shape.json"), fx("same.json"), "--max-increase",
                        "cow_copy=0%", "--max-increase", "zero_page=0%"], "old vs new shape")
    only_verdict(out, "old vs new shape", "0 of 2 bounds exceeded")
    out, _ = expect(1, [fx("first_shape.json"), fx("worse.json"), "--max-increase",
                        "cow_copy=10%"], "old base, worse new")
    check(exceeded(out), f"the bound should be exceeded:\n{out}")


def t_unmeasured():
    """A report recorded without the kernel collector has null fault figures:
    mappings are compared, and a bound on a figure it lacks is bad input."""
    out, _ = expect(0, [fx("unmeasured.json"), fx("same.json")], "unmeasured base")
    check("no fault figures" in out, f"the diff should say what it lacks:\n{out}")
    out, err = expect(2, [fx("unmeasured.json"), fx("same.json"), "--max-increase",
                          "cow_copy=10%"], "a bound on an unmeasured figure")
    check("no fault figures" in err and "cow_copy" in err, f"message: {err}")
    expect(0, [fx("unmeasured.json"), fx("same.json"), "--max-increase", "mapped_bytes=0%"],
           "mapped bytes are measured by the shim")


def t_streamed():
    """VMA lists are read one object at a time from the text (big reports):
    strings with quotes, brackets and escapes inside them, other spacing and
    member order must not confuse that; a broken VMA object is exit 2."""
    tricky = '/usr/a "dir" ]}[{ \\ with, commas/lib.so'
    paths = []
    for name in ("base.json", "worse.json"):
        doc = json.load(open(fx(name)))
        for p in doc["processes"]:
            for v in p["vmas"]:
                if v["path"]:
                    v["path"] = tricky + v["path"]
            p["vmas"] = [dict(reversed(list(v.items()))) for v in p["vmas"]]
        f = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False,
                                        prefix="vmaprof-diff-")
        json.dump(doc, f, indent=3, separators=(" , ", " : "))
        f.close()
        paths.append(f.name)
    try:
        out, _ = expect(0, [paths[0], paths[0]], "tricky strings, same")
        only_verdict(out, "tricky strings, same")
        out, _ = expect(1, [paths[0], paths[1], "--max-increase", "cow_copy=10%"],
                        "tricky strings, worse")
        check("EXCEEDED cow_copy +25.0% > 10% at * (old 400, new 500)" in out, out)
        text = open(paths[1]).read()
        i = text.index('"vmas"')
        j = text.index("{", i)
        with open(paths[1], "w") as f:
            f.write(text[:j] + "{ nonsense" + text[j + 1:])
        _, err = expect(2, [paths[0], paths[1]], "a broken VMA object")
        check("vmas[" in err or "not JSON" in err or "not a JSON" in err, err)
    finally:
        for q in paths:
            os.unlink(q)


# a bound on `file` that never fails: file faults are listed only where a
# bound names them (or --min-pages 0), and these cases change file faults
LIST_FILE = ["--max-increase", "file=1000000%"]

ALL_METRICS = ("demand_zero", "zero_page", "cow_copy", "cow_reuse", "file", "shmem",
               "shared_write", "other", "total_faults", "pages_allocated", "vma_count",
               "live_bytes", "bytes_mapped")


def t_reordered():
    """Other pids, addresses, times and order: matched by role and call site."""
    out, _ = expect(0, [fx("base.json"), fx("reordered.json"), "--min-pages", "0"] +
                    sum((["--max-increase", m + "=0%"] for m in ALL_METRICS), []),
                    "reordered copy")
    only_verdict(out, "reordered copy", f"0 of {len(ALL_METRICS)} bounds exceeded", pages=0)


def t_min_pages():
    """A change smaller than N pages is noise: not shown, a role's not
    checked; the whole-report total still is."""
    args = [fx("base.json"), fx("worse.json"), "--max-increase", "cow_copy=10%"]
    out, _ = expect(1, args + ["--min-pages", "101"], "--min-pages 101")
    ex = exceeded(out)
    check(len(ex) == 1 and " at * " in ex[0], f"only the total should exceed:\n{out}")
    check(CHILD not in out.replace("most growth: " + CHILD, ""),
          f"the role's change (+100 < 101 pages) is shown:\n{out}")
    check(out.splitlines()[-1].startswith("vmaprof diff: no change of 101 pages and 20% or more;"),
          f"verdict:\n{out}")
    out, _ = expect(1, args + ["--min-pages", "100"], "--min-pages 100")
    check(any(f"at {CHILD} " in e for e in exceeded(out)),
          f"+100 pages is not below 100: the role should be checked:\n{out}")
    check(rows(out, CHILD, "alloc_buffer (anon)"), f"the site's change is shown:\n{out}")
    # default 16: a 10-page change is noise, a 20-page one is not
    for grow, shown in ((10, False), (20, True)):
        doc = json.load(open(fx("base.json")))
        v = doc["processes"][0]["vmas"][6]
        v["faults"]["file"] += grow
        v["faults"]["total"] += grow
        path = written(doc)
        try:
            # (file faults are listed where a bound names them: t_file_faults)
            out, _ = expect(0, [fx("base.json"), path] + LIST_FILE, f"+{grow} file faults")
        finally:
            os.unlink(path)
        got = rows(out, "root:exec(app)", "load_data (file)")
        check(bool(got) == shown, f"+{grow} pages {'not ' if shown else ''}shown:\n{out}")


def t_file_faults():
    """File faults move with the page cache (docs/diff.md): 200 more of them
    at one mapping are not listed by default; a bound on `file` or
    --min-pages 0 lists them, and the bound checks them."""
    doc = json.load(open(fx("base.json")))
    root = doc["processes"][0]
    data = root["vmas"][6]  # load_data: 16 file faults
    for o in (data, root):
        o["faults"]["file"] += 200
    path = written(doc)
    try:
        out, _ = expect(0, [fx("base.json"), path], "+200 file faults, default")
        check(not rows(out, "root:exec(app)", "load_data (file)") and
              not [ln for ln in out.splitlines() if "  file  " in ln],
              f"file faults listed by default:\n{out}")
        out, _ = expect(0, [fx("base.json"), path, "--min-pages", "0"], "--min-pages 0")
        check(["file", "16", "216", "+1250.0%"] in rows(out, "root:exec(app)", "load_data (file)"),
              f"--min-pages 0 lists them:\n{out}")
        out, _ = expect(1, [fx("base.json"), path, "--max-increase", "file=50%"], "a bound")
        check(rows(out, "root:exec(app)", "load_data (file)") and
              any(e.startswith("EXCEEDED file ") for e in exceeded(out)),
              f"a bound on file lists and checks them:\n{out}")
    finally:
        os.unlink(path)


def third_child(exe=None):
    """base.json with a third child of the root: a copy of the COW child,
    forked last, or (exe) one that execs exe."""
    doc = json.load(open(fx("base.json")))
    third = copy.deepcopy(doc["processes"][1])
    third["pid"] = 1003
    third["start_ns"] = third["forked_from"]["time_ns"] = doc["processes"][0]["end_ns"] - 100
    if exe:
        third["execs"] = [{"time_ns": third["start_ns"] + 10, "path": exe,
                           "argv": [os.path.basename(exe), "--flag"]}]
        third["exe"], third["argv"] = exe, [os.path.basename(exe), "--flag"]
    doc["processes"].append(third)
    return doc


def text_and_json(doc, args, what):
    """`vmaprof diff base.json DOC ARGS` as text and as json (exit 1 both)."""
    path = written(doc)
    try:
        out, _ = expect(1, [fx("base.json"), path] + args, what)
        js, _ = expect(1, [fx("base.json"), path] + args + ["--format", "json"], what + ", json")
    finally:
        os.unlink(path)
    return out, js


def t_new_role():
    """A process only in NEW is compared against 0: any increase exceeds."""
    out, js = text_and_json(third_child("/usr/bin/env"), ["--max-increase", "cow_copy=50%"],
                            "a third child")
    role = "root:exec(app)/fork:exec(env)[--flag]"
    check(f"only in NEW: {role}" in out, f"no 'only in NEW' line for {role}:\n{out}")
    ex = exceeded(out)
    check(any(e.startswith("EXCEEDED cow_copy from 0 > 50% at ") and
              e.endswith("exec(env)[--flag] (old 0, new 400; base is 0, so any increase exceeds)")
              for e in ex), f"the new role should exceed from base 0, saying so:\n{out}")
    check("EXCEEDED cow_copy +100.0% > 50% at * (old 400, new 800)" in ex,
          f"the total doubled:\n{out}")
    check({"role": role, "label": "alloc_buffer", "metric": "cow_copy", "old": 0, "new": 400}
          in [{k: c[k] for k in ("role", "label", "metric", "old", "new")}
              for c in json.loads(js)["changes"]], f"the new role's site:\n{js}")


def t_same_siblings():
    """A second child that is the same command as the first (same parent,
    no exec, same title) is not a new role: the two are summed, and the
    violation says how many processes the role sums."""
    out, js = text_and_json(third_child(), ["--max-increase", "cow_copy=50%"],
                            "a second copy of the COW child")
    check("only in" not in out, f"no role is new:\n{out}")
    check(f"EXCEEDED cow_copy +100.0% > 50% at {CHILD} (1 -> 2 processes, old 400, new 800)"
          in exceeded(out), f"the role sums both children:\n{out}")
    check(["cow_copy", "400", "800", "+100.0%"] in rows(out, CHILD, "alloc_buffer (anon)"), out)
    ex = json.loads(js)["bounds"][0]["exceeded"]
    check([(e["role"], e["processes_old"], e["processes_new"]) for e in ex] ==
          [("*", None, None), (CHILD, 1, 2)], ex)


def t_long_args():
    """Command lines longer than 64 bytes are cut in the role, with a hash
    of all of it: two that differ only at the end stay two roles."""
    docs = []
    for grow in (0, 100):
        doc = json.load(open(fx("base.json")))
        for i, f in enumerate(("one.c", "two.c")):
            kid = copy.deepcopy(doc["processes"][1])
            kid["pid"] = 1010 + i
            kid["start_ns"] = kid["forked_from"]["time_ns"] = doc["processes"][0]["end_ns"] - 9 + i
            argv = ["cc1", "-quiet"] + ["-fsome-long-option-%d" % k for k in range(6)] + [f]
            kid["execs"] = [{"time_ns": kid["start_ns"] + 1, "path": "/usr/libexec/cc1",
                             "argv": argv}]
            kid["exe"], kid["argv"] = "/usr/libexec/cc1", argv
            if i:
                for o in (kid, kid["vmas"][1]):
                    o["faults"]["cow_copy"] += grow
                    o["faults"]["total"] += grow
            doc["processes"].append(kid)
        docs.append(doc)
    a, b = written(docs[0]), written(docs[1])
    try:
        out, _ = expect(1, [a, b, "--max-increase", "cow_copy=10%"], "long argv")
        js, _ = expect(1, [a, b, "--max-increase", "cow_copy=10%", "--format", "json"],
                       "long argv, json")
    finally:
        os.unlink(a)
        os.unlink(b)
    check(all(len(ln) <= 100 for ln in out.splitlines()), out)
    roles = {c["role"] for c in json.loads(js)["changes"] if c["role"] != "*"}
    check(len(roles) == 1, f"only two.c's role changed: {roles}")
    role = roles.pop()
    ex = {e["role"]: e["processes_new"] for e in json.loads(js)["bounds"][0]["exceeded"]}
    check(ex.get(role) == 1, f"one.c and two.c are summed in one role: {ex}")
    check(role.startswith("root:exec(app)/fork:exec(cc1)[-quiet -fsome-long-option-0 ") and
          "...#" in role and len(role.split("/")[-1]) < 80, role)


# The server job of gen.py (server_*.json), gated as the CI user gates it.
GATE = ["--max-increase", "cow_copy=25%", "--max-increase", "demand_zero=25%"]
BACKENDS = "root:exec(runner)/fork:exec(server)[-D /tmp/*]/fork(srv: client backend)"


def t_server_same():
    """Two runs of a job whose forks come in another order, whose temp names
    differ and whose equal siblings split the work otherwise: only the
    verdict, in every format and either way round."""
    for a, b in (("server_a.json", "server_b.json"), ("server_b.json", "server_a.json")):
        out, _ = expect(0, [fx(a), fx(b)] + GATE, f"{a} vs {b}")
        only_verdict(out, f"{a} vs {b}", "0 of 2 bounds exceeded")
        out, _ = expect(0, [fx(a), fx(b), "--format", "json"] + GATE, f"{a} vs {b}, json")
        doc = json.loads(out)
        check(doc["changes"] == [] and doc["only_in_base"] == [] and doc["only_in_new"] == [],
              out)
        out, _ = expect(0, [fx(a), fx(b), "--format", "markdown"] + GATE, f"{a} vs {b}, md")
        check(out.strip() == "**vmaprof diff: no change of 16 pages and 20% or more; 0 of 2 bounds "
              "exceeded**", out)
    # every figure equal, not just under the floor
    out, _ = expect(0, [fx("server_a.json"), fx("server_b.json"), "--min-pages", "0"] +
                    sum((["--max-increase", m + "=0%"] for m in ALL_METRICS), []), "exact")
    only_verdict(out, "server a vs b, every change", f"0 of {len(ALL_METRICS)} bounds exceeded",
                 pages=0)
    # what the roles are named by
    a = json.load(open(fx("server_a.json")))
    backends = [p for p in a["processes"] if p["title"] == "srv: client backend"]
    check(len(backends) == 2, "two backends in the fixture")


def t_server_grown():
    """The backends' first touches and copies grew 4x: the gate fails and
    names the backends' role (both summed) and each metric's site."""
    out, _ = expect(1, [fx("server_a.json"), fx("server_grown.json")] + GATE, "grown 4x")
    ex = exceeded(out)
    check(len(ex) == 4, f"each metric at * and at the backends:\n{out}")
    for metric, site, old, new in (("cow_copy", "shared_init", 200, 800),
                                   ("demand_zero", "exec_query", 800, 3200)):
        check(any(e.startswith(f"EXCEEDED {metric} +300.0% > 25% at ...") and
                  e.endswith(f"/fork(srv: client backend) (2 processes, old {old}, new {new})")
                  for e in ex), f"{metric}: the backends' role:\n{out}")
        check(any(f"fork(srv: client backend)  {site} (anon)  {old} -> {new}" in m
                  for m in most_growth(out)), f"{metric}: the site:\n{out}")
    check(all(len(ln) <= 100 for ln in out.splitlines()), f"lines over 100 columns:\n{out}")
    out, _ = expect(1, [fx("server_a.json"), fx("server_grown.json"), "--format", "json"] + GATE,
                    "grown 4x, json")
    for b in json.loads(out)["bounds"]:
        roles = [(e["role"], e["most_grown"]["role"], e["most_grown"]["label"])
                 for e in b["exceeded"]]
        site = "shared_init" if b["metric"] == "cow_copy" else "exec_query"
        check(roles == [("*", BACKENDS, site), (BACKENDS, BACKENDS, site)], roles)


def t_server_flags():
    """The build's commands got another flag (-O3): their roles differ, so
    they are matched by their loose names (arguments [*]), summed; the
    memory is the same, so only the verdict."""
    out, _ = expect(0, [fx("server_a.json"), fx("server_flags.json"), "--min-pages", "0"] + GATE,
                    "other flags")
    only_verdict(out, "other flags", "0 of 2 bounds exceeded", pages=0)
    doc = json.load(open(fx("server_flags.json")))
    cc1 = [p for p in doc["processes"] if p["exe"].endswith("/cc1")]
    for o in (cc1[0], cc1[0]["vmas"][0]):
        o["faults"]["demand_zero"] += 2000
        o["faults"]["total"] += 2000
    path = written(doc)
    try:
        out, _ = expect(1, [fx("server_a.json"), path, "--format", "json"] + GATE,
                        "other flags, cc1 grew")
    finally:
        os.unlink(path)
    loose = "root:exec(runner)/fork:exec(sh)[*]/fork:exec(cc1)[*]"
    dz = [b for b in json.loads(out)["bounds"] if b["metric"] == "demand_zero"][0]
    check([e["role"] for e in dz["exceeded"]] == ["*", loose] and
          dz["exceeded"][1]["most_grown"]["label"] == "ggc_alloc", dz)


def t_temp_args():
    """A temp file in a command line is `*` whatever mkstemp made up, all
    letters too (/tmp/ccQwErTy.s): the command keeps its exact role."""
    doc = json.load(open(fx("server_a.json")))
    cc1 = [p for p in doc["processes"] if p["exe"].endswith("/cc1")][0]
    argv = cc1["argv"][:-1] + ["/tmp/ccQwErTy.s"]
    cc1["argv"] = cc1["execs"][0]["argv"] = argv
    for o in (cc1, cc1["vmas"][0]):
        o["faults"]["demand_zero"] += 2000
        o["faults"]["total"] += 2000
    path = written(doc)
    try:
        out, _ = expect(1, [fx("server_a.json"), path, "--format", "json"] + GATE, "temp arg")
    finally:
        os.unlink(path)
    dz = [b for b in json.loads(out)["bounds"] if b["metric"] == "demand_zero"][0]
    want = ("root:exec(runner)/fork:exec(sh)[-c cc -O2 -c f1.c -o f1.o]/"
            "fork:exec(cc1)[-quiet f1.c -o /tmp/*]")
    check([e["role"] for e in dz["exceeded"]] == ["*", want], dz)
    check(not json.loads(out)["only_in_new"], out)


def t_page_cache():
    """Pages a file fault read into the page cache (a cold cache: the first
    run after boot or a build) are not the program's: a mapping's
    pages_allocated keeps only its copies, first touches and shared pages."""
    doc = json.load(open(fx("base.json")))
    root = doc["processes"][0]
    data = root["vmas"][6]  # load_data: 16 file faults, nothing allocated
    check(data["faults"]["file"] == 16 and data["pages_allocated"] == 0, data)
    for o in (data, root):
        o["pages_allocated"] += 200  # readahead of a cold file
    cold = written(copy.deepcopy(doc))
    for o in (data, root):  # and now 40 of its pages written: private copies
        o["pages_allocated"] += 40
        o["faults"]["cow_copy"] += 40
        o["faults"]["total"] += 40
    copied = written(doc)
    try:
        out, _ = expect(0, [fx("base.json"), cold, "--max-increase", "pages_allocated=0%"],
                        "a cold page cache")
        only_verdict(out, "a cold page cache", "0 of 1 bound exceeded")
        # --min-change 0: 40 pages are under 20% of the process's figure
        out, _ = expect(0, [fx("base.json"), copied, "--min-change", "0"],
                        "copies of a file's pages")
    finally:
        os.unlink(cold)
        os.unlink(copied)
    check(["pages_allocated", "0", "40", "(new)"] in rows(out, "root:exec(app)",
                                                          "load_data (file)"), out)


def moved_doc(out_of_root, into_child):
    """base.json with `out_of_root` first touches taken off the root's
    alloc_buffer and `into_child` given to its COW child's (a fork of the
    same program: one family)."""
    doc = json.load(open(fx("base.json")))
    root, child = doc["processes"][0], doc["processes"][1]
    for o, d in ((root["vmas"][3], -out_of_root), (root, -out_of_root),
                 (child["vmas"][1], into_child), (child, into_child)):
        o["faults"]["demand_zero"] += d
        o["faults"]["total"] += d
        o["pages_allocated"] += d
    return doc


def internal_doc(internal_pages, child_buffer):
    """base.json with an entry of the tool's own memory (internal: the
    shim's buffers, libunwind's cache) in the COW child, `internal_pages`
    first touches in it, and `child_buffer` more in the child's
    alloc_buffer."""
    doc = json.load(open(fx("base.json")))
    child = doc["processes"][1]
    own = copy.deepcopy(child["vmas"][1])
    own.update(id=max(v["id"] for v in child["vmas"]) + 1, internal=True, kind="other",
               origin="mmap", inherited_from=None, stack=[], top_fault_sites=[],
               start=own["end"] + (1 << 20), end=own["end"] + (1 << 20) + (4 << 20))
    own["faults"] = {k: 0 for k in own["faults"]}
    own["pages_allocated"] = 0
    child["vmas"].append(own)
    for o, d in ((own, internal_pages), (child["vmas"][1], child_buffer),
                 (child, internal_pages + child_buffer)):
        o["faults"]["demand_zero"] += d
        o["faults"]["total"] += d
        o["pages_allocated"] += d
    return doc


def t_internal_growth():
    """The tool's own memory grows with the processes recorded: the gate
    counts it (the kernel does), but "most growth" names the program's site
    that grew most, never vmaprof-internal, even where that grew more."""
    gate = ["--max-increase", "demand_zero=25%"]
    old = written(internal_doc(100, 0))
    new = written(internal_doc(900, 300))
    try:
        out, _ = expect(1, [old, new] + gate, "the child's buffer and the tool's memory grew")
        check(most_growth(out) and all("vmaprof-internal" not in m for m in most_growth(out)),
              out)
        check(most_growth(out)[-1] == f"  most growth: {CHILD}  alloc_buffer (anon)  "
              "0 -> 300 (+300)", out)
        j, _ = expect(1, [old, new, "--format", "json"] + gate, "json")
        mg = [e["most_grown"] for b in json.loads(j)["bounds"] for e in b["exceeded"]
              if e.get("most_grown")]
        check(mg and all(m.get("label") != "vmaprof-internal" for m in mg), j)
    finally:
        os.unlink(old)
        os.unlink(new)


def t_pid_title():
    """A pid in a title is made up per run whatever its length
    (PostgreSQL's "parallel worker for PID 780", a pid under 1000 once the
    kernel's pids wrapped): two runs match, the role says `PID *`; so does
    `pid=N`. Other short numbers stay (a port, a worker count)."""
    def doc(title):
        d = json.load(open(fx("base.json")))
        d["processes"][1]["title"] = title
        return written(d)
    a = doc("app: parallel worker for PID 780 pid=12 port 5432 workers 3")
    b = doc("app: parallel worker for PID 824 pid=97 port 5432 workers 3")
    c = doc("app: parallel worker for PID 824 pid=97 port 5432 workers 4")
    try:
        out, _ = expect(0, [a, b], "the same worker, other pids")
        only_verdict(out, "the same worker, other pids")
        out, _ = expect(0, [a, c], "another worker count")
        check("only in BASE: " in out and "workers 3)" in out and "PID *" in out and
              "pid=*" in out, out)
    finally:
        for f in (a, b, c):
            os.unlink(f)


def t_moved():
    """Work that changed hands between processes of one family at one site
    (a leader and its parallel worker) is judged on its sum: moved, not
    grown; what is not matched by a decrease is growth and fails."""
    gate = ["--max-increase", "demand_zero=25%"]
    moved = written(moved_doc(300, 300))
    grown = written(moved_doc(0, 300))
    part = written(moved_doc(100, 300))
    try:
        out, _ = expect(0, [fx("base.json"), moved] + gate, "300 pages moved to the child")
        only_verdict(out, "moved", "0 of 1 bound exceeded")
        out, _ = expect(0, [fx("base.json"), moved, "--format", "json"] + gate, "moved, json")
        got = sorted((m["role"], m["label"], m["moved"]) for m in json.loads(out)["moved"]
                     if m["metric"] == "demand_zero")
        want = [("root:exec(app)", "alloc_buffer", -300), (CHILD, "alloc_buffer", 300)]
        check(got == want, f"json moved[]: expected {want}, got {got}")
        out, _ = expect(1, [fx("base.json"), grown] + gate, "300 pages more in the child")
        check(exceeded(out)[-1].startswith(f"EXCEEDED demand_zero from 0 > 25% at {CHILD} "
                                           "(old 0, new 300;"), out)
        check(most_growth(out)[-1] == f"  most growth: {CHILD}  alloc_buffer (anon)  "
              "0 -> 300 (+300)", out)
        # 100 of the 300 moved: the other 200 are the child's own
        out, _ = expect(1, [fx("base.json"), part] + gate, "100 moved, 200 grown")
        check(exceeded(out)[-1] == f"EXCEEDED demand_zero from 0 > 25% at {CHILD} (old 0, "
              "new 300 less 100 moved in from its family = 200; base is 0, so any increase "
              "exceeds)", out)
        check(["demand_zero", "0", "300", "(new) (100 moved in)"] in rows(out, CHILD,
              "alloc_buffer (anon)"), out)
        check(most_growth(out)[-1] == f"  most growth: {CHILD}  alloc_buffer (anon)  "
              "0 -> 300 (+200 own, 100 moved in)", out)
        md, _ = expect(1, [fx("base.json"), part, "--format", "markdown"] + gate,
                       "100 moved, 200 grown (markdown)")
        check(f"| `{CHILD}` | `alloc_buffer (anon)` | demand_zero | 0 | 300 | "
              "(new) (100 moved in) |" in md.splitlines(), md)
        check("(+200 own, 100 moved in)`" in md, md)
    finally:
        for f in (moved, grown, part):
            os.unlink(f)


def t_moved_other_site():
    """A family's malloc memory that changed hands between sites of other
    names (a parallel sort's memory: grown at one allocation site in the
    worker, shrunk at another in its leader) is not the receiving role's own
    growth for its bounds either; growth beyond what the family shrank
    still is."""
    gate = ["--max-increase", "demand_zero=25%"]

    def renamed(doc):
        doc["processes"][1]["vmas"][1]["stack"][0]["function"] = "sort_buffer"
        doc["processes"][1]["vmas"][1].pop("label", None)
        return doc
    base = written(renamed(json.load(open(fx("base.json")))))
    moved = written(renamed(moved_doc(300, 300)))
    grown = written(renamed(moved_doc(0, 300)))
    try:
        out, _ = expect(0, [base, moved] + gate, "300 pages moved between sites of two names")
        check(not exceeded(out), f"moved, not grown:\n{out}")
        out, _ = expect(1, [base, grown] + gate, "300 pages more in the child")
        check(any(f"at {CHILD} " in e for e in exceeded(out)), out)
    finally:
        for f in (base, moved, grown):
            os.unlink(f)


def shared_doc(child_faults):
    """base.json with a shared mapping (kind shm) that the root maps and
    first touches (2000 pages) and its COW child, inheriting it, faults
    `child_faults` pages of into its own page tables (the root's pages: it
    allocates none)."""
    doc = json.load(open(fx("base.json")))
    root, child = doc["processes"][0], doc["processes"][1]
    stack = [{"ip": 93824992235900, "function": "map_pool", "module": "/usr/bin/app",
              "file": "app.c", "line": 20}] + copy.deepcopy(root["vmas"][3]["stack"][1:])
    nofaults = dict.fromkeys(root["faults"], 0)
    for proc, n, alloc, vma_id in ((root, 2000, 2000, 9), (child, child_faults, 0, 3)):
        vma = {"id": vma_id, "start": 140737300000000, "end": 140737300000000 + 2000 * 4096,
               "prot": "rw-", "shared": True, "anonymous": False,
               "path": "/memfd:pool (deleted)", "offset": 0, "kind": "shm",
               "origin": "mmap" if proc is root else "inherited",
               "created_ns": proc["start_ns"] + 500, "destroyed_ns": None,
               "inherited_from": None if proc is root else {"pid": root["pid"], "vma": 9},
               "stack": stack, "faults": dict(nofaults, shmem=n, total=n),
               "pages_allocated": alloc, "populated": {"faults": 0, "pages": 0},
               "top_fault_sites": []}
        proc["vmas"].append(vma)
        proc["faults"]["shmem"] += n
        proc["faults"]["total"] += n
        proc["pages_allocated"] += alloc
        proc["kernel_counters"]["minflt"] += n
    return doc


def t_shared_touch():
    """A shared mapping's faults are its family's: how many of its pages
    each process maps depends on which process did which part of the work
    (a server's walwriter or its backends writing the WAL out), so a member
    whose faults there grew while none shrank is judged on the family's sum
    there: within the floors, moved, not listed and no bound exceeded; a
    sum grown beyond them is the members' own and fails. A private
    mapping's growth without a decrease stays its own (t_moved)."""
    gate = ["--max-increase", "shmem=25%"]
    base, wobble, grown = (written(shared_doc(n)) for n in (300, 600, 1200))
    try:
        # the child +300 (+100%), the family's sum 2300 -> 2600 (+13%)
        for x, y in ((base, wobble), (wobble, base)):
            out, _ = expect(0, [x, y] + gate, "a sibling mapped more of the shared pages")
            only_verdict(out, "shared pages mapped by another share", "0 of 1 bound exceeded")
        out, _ = expect(0, [base, wobble, "--format", "json"] + gate, "shared, json")
        got = sorted((m["role"], m["metric"], m["moved"]) for m in json.loads(out)["moved"]
                     if m["label"] == "map_pool")
        check((CHILD, "shmem", 300) in got, f"json moved[]: no ({CHILD}, shmem, 300) in {got}")
        # the child +900, the sum +39%: beyond the floors, its own
        out, _ = expect(1, [base, grown] + gate, "shared pages mapped 4x")
        check(exceeded(out) and exceeded(out)[-1] == (
            f"EXCEEDED shmem +300.0% > 25% at {CHILD} (old 300, new 1200)"), out)
        check(most_growth(out)[-1] == f"  most growth: {CHILD}  map_pool (shm)  "
              "300 -> 1200 (+900)", out)
    finally:
        for f in (base, wobble, grown):
            os.unlink(f)


def copies_doc(root_buffer, root_scratch, root_heap, child_buffer):
    """base.json with the COW copies of the root's alloc_buffer, scratch and
    heap (grow) sites and of its child's alloc_buffer set (the child copies
    400 pages of the buffer in base.json; the root none)."""
    doc = json.load(open(fx("base.json")))
    root, child = doc["processes"][0], doc["processes"][1]
    for proc, vma, n in ((root, root["vmas"][3], root_buffer), (root, root["vmas"][7], root_scratch),
                         (root, root["vmas"][2], root_heap), (child, child["vmas"][1], child_buffer)):
        d = n - vma["faults"]["cow_copy"]
        for o in (vma, proc):
            o["faults"]["cow_copy"] += d
            o["faults"]["total"] += d
            o["pages_allocated"] += d
    return doc


def violations(out, j):
    """Each violation's figures as the text prints them and as the json has
    them: [role, pct, old, new, moved in, checked new] both ways."""
    text = []
    for line in exceeded(out):
        # EXCEEDED cow_copy +25.0% > 10% at ROLE (old A, new B[ less M moved in from its
        # family = C])
        head, figs = line.split(" (", 1)
        pct, role = head.split()[2], head.split(" at ", 1)[1]
        figs = figs.rstrip(")").split("processes, ")[-1]
        old = int(figs.split("old ", 1)[1].split(",")[0])
        new = figs.split("new ", 1)[1].split(";")[0]
        if " less " in new:
            raw, rest = new.split(" less ", 1)
            moved, checked = rest.split(" moved in from its family = ")
            new, moved, checked = int(raw), int(moved), int(checked)
        else:
            new, moved, checked = int(new), 0, int(new)
        text.append([role, float(pct.rstrip("%")), old, new, moved, checked])
    js = [[e["role"], e["change_pct"], e["old"], e["new"], e["moved"], e["checked_new"]]
          for bd in j["bounds"] for e in bd["exceeded"]]
    return text, js


def t_moved_out():
    """Copies a parent made at one site in one run and its child in the
    other (whichever wrote the page first: a family's move), while the
    parent's other sites wobble by a few pages each: two identical runs.
    The parent's change is +2 pages; what moved out of it is not added back
    to it (docs/diff.md "Moves"), so the gate holds (it failed with the
    root's 'own' +22 on 45, +48.9%). Then a real growth of the child's
    copies with some moved in: the bound is checked on old against new less
    what moved in, and the text and json say exactly those figures."""
    gate = ["--max-increase", "cow_copy=10%"]
    base = written(copies_doc(30, 10, 5, 400))
    # the root: 20 of the buffer's copies to the child, scratch +12, heap +10
    same = written(copies_doc(10, 22, 15, 420))
    # and the child's buffer 100 more copies of its own
    grown = written(copies_doc(10, 22, 15, 520))
    try:
        rc, msg = validate([base, same, grown])
        check(rc == 0, f"the reports against the JSON Schema:\n{msg}")
        for a, b in ((base, same), (same, base)):
            out, _ = expect(0, [a, b] + gate, "20 copies moved, +2 at the root")
            only_verdict(out, "moved out", "0 of 1 bound exceeded")
            out, _ = expect(0, [a, b, "--format", "json"] + gate, "moved out, json")
            j = json.loads(out)
            check(j["verdict"] == "ok" and not j["bounds"][0]["exceeded"], out)
        out, _ = expect(1, [base, grown] + gate, "the child's copies +100 of its own")
        jout, _ = expect(1, [base, grown, "--format", "json"] + gate, "grown, json")
        text, js = violations(out, json.loads(jout))
        want = [["*", 27.4, 445, 567, 0, 567],
                [CHILD, 25.0, 400, 520, 20, 500]]
        check(text == want, f"text violations: expected {want}, got {text}\n{out}")
        check(js == want, f"json violations: expected {want}, got {js}\n{jout}")
        for role, pct, old, new, moved, checked in text:
            check(round((checked - old) * 100 / old, 1) == pct and checked == new - moved,
                  f"{role}: {pct}% is not {old} -> {checked}\n{out}")
        check(exceeded(out)[-1] == f"EXCEEDED cow_copy +25.0% > 10% at {CHILD} (old 400, "
              "new 520 less 20 moved in from its family = 500)", out)
        check(most_growth(out)[-1] == f"  most growth: {CHILD}  alloc_buffer (anon)  "
              "400 -> 520 (+100 own, 20 moved in)", out)
    finally:
        for f in (base, same, grown):
            os.unlink(f)


def t_min_change():
    """--min-change: a change under that percentage of its base (the larger
    of its site's and its role's) is not listed; 0 lists it; bad values are
    refused; bounds are checked whatever it is."""
    doc = json.load(open(fx("base.json")))
    root = doc["processes"][0]
    for o in (root["vmas"][3], root):  # alloc_buffer +150 of 1000: +15%
        o["faults"]["demand_zero"] += 150
        o["faults"]["total"] += 150
        o["pages_allocated"] += 150
    path = written(doc)
    try:
        out, _ = expect(0, [fx("base.json"), path], "+15%")
        only_verdict(out, "+15% under the 20% floor")
        out, _ = expect(0, [fx("base.json"), path, "--min-change", "10%"], "--min-change 10%")
        check(["demand_zero", "1000", "1150", "+15.0%"] in rows(out, "root:exec(app)",
              "alloc_buffer (anon)"), out)
        check(out.splitlines()[-1].endswith("of 16 pages and 10% or more; no bounds given"), out)
        out, _ = expect(1, [fx("base.json"), path, "--max-increase", "demand_zero=5%"],
                        "a 5% bound under the 20% floor")
        check(exceeded(out) and not rows(out, "root:exec(app)", "alloc_buffer (anon)"), out)
    finally:
        os.unlink(path)
    bad_input([fx("base.json"), fx("same.json"), "--min-change", "x"], "--min-change x",
              "--min-change x")


def t_mapped():
    """live_bytes is what is mapped at exit, bytes_mapped every mapping made
    (cumulative, as report.json's sites[].bytes_mapped and the summary's
    "mapped"); `mapped_bytes`, the old name of live_bytes, still gates it."""
    out, _ = expect(1, [fx("base.json"), fx("doubled.json"), "--max-increase",
                        "mapped_bytes=50%"], "the old name")
    check(any(e.startswith("EXCEEDED live_bytes +90.8% > 50% at root:exec(app)")
              for e in exceeded(out)), out)
    check(not rows(out, "root:exec(app)", "alloc_buffer (anon)")[-1][0] == "bytes_mapped",
          f"bytes_mapped equal to live_bytes is not listed twice:\n{out}")
    doc = json.load(open(fx("base.json")))
    scratch = doc["processes"][0]["vmas"][7]  # unmapped before exit
    check(scratch["destroyed_ns"] is not None, "vmas[7] is the unmapped scratch buffer")
    scratch["end"] += 64 * 4096
    path = written(doc)
    try:
        out, _ = expect(0, [fx("base.json"), path, "--max-increase", "live_bytes=0%"],
                        "a bigger scratch buffer, live at exit the same")
        # bytes mapped and unmapped again are listed where a bound asks
        # for them (they move with the allocator's arenas: docs/diff.md)
        check(not rows(out, "root:exec(app)", "scratch (anon)"), out)
        out, _ = expect(1, [fx("base.json"), path, "--max-increase", "bytes_mapped=1%",
                            "--min-change", "0"], "a bigger scratch buffer, cumulative")
        check(rows(out, "root:exec(app)", "scratch (anon)") ==
              [["bytes_mapped", "262144", "524288", "+100.0%"]], out)
    finally:
        os.unlink(path)
    check(exceeded(out) == ["EXCEEDED bytes_mapped +2.9% > 1% at * (old 9179136, new 9441280)",
                            "EXCEEDED bytes_mapped +5.5% > 1% at root:exec(app) "
                            "(old 4771840, new 5033984)"], out)


def t_widths():
    """Labels are cut at one width per table: every change line has its
    metric at the same column."""
    doc = json.load(open(fx("base.json")))
    new = copy.deepcopy(doc)
    for d, grow in ((doc, 0), (new, 100)):
        root = d["processes"][0]
        for i, (n, fn) in enumerate(((6, "repalloc_extended_context_" * 2),
                                     (3, "repalloc_ex" + "x" * 40))):
            v = root["vmas"][n]
            v["stack"][0]["function"] = fn
            cls = "file" if n == 6 else "demand_zero"
            v["faults"][cls] += grow * (i + 1) * 1000
            v["faults"]["total"] += grow * (i + 1) * 1000
    a, b = written(doc), written(new)
    try:
        out, _ = expect(0, [a, b] + LIST_FILE, "long labels")
    finally:
        os.unlink(a)
        os.unlink(b)
    lines = [ln for ln in out.splitlines() if not ln.startswith("vmaprof diff:")]
    cols = {min(ln.find(m) for m in ALL_METRICS if ln.find(m) > 0) for ln in lines}
    check(len(lines) == 4 and len(cols) == 1, f"the metric column moves: {cols}\n{out}")
    cut = {ln.split("  ")[1] for ln in lines if "..." in ln.split("  ")[1]}
    check(cut and len({len(c) for c in cut}) == 1, f"labels cut at several widths: {cut}")


def with_vmas(doc, paths, pages=32, fn="open_shared"):
    """doc's root with one file VMA per path, each `pages` pages with that
    many file faults, created at `fn`."""
    root = doc["processes"][0]
    base = root["vmas"][6]
    for i, path in enumerate(paths):
        v = copy.deepcopy(base)
        v.update(id=100 + i, start=base["start"] + (0x100000 * (i + 1)), path=path,
                 label=None)
        v.pop("label")
        v["end"] = v["start"] + pages * 4096
        v["stack"] = copy.deepcopy(v["stack"])
        v["stack"][0]["function"] = fn
        v["faults"]["file"] = v["faults"]["total"] = pages
        root["vmas"].append(v)
        root["faults"]["file"] += pages
        root["faults"]["total"] += pages
    return doc


RUN1 = ["/dev/shm/sem.XyZ123 (deleted)", "/tmp/tmpk3j4h5g1", "/memfd:buf1234 (deleted)",
        "/dev/shm/pulse-shm-2384791", "/proc/1000/task/1000/mem", "/var/tmp/app.Qx81aB",
        "/run/user/1000/app.31337.cache"]
RUN2 = ["/dev/shm/sem.8XlN0Q", "/tmp/tmpabcdefgh", "/memfd:buf98 (deleted)",
        "/dev/shm/pulse-shm-93", "/proc/4242/task/4243/mem", "/var/tmp/app.zz9PQr",
        "/run/user/0/app.90210.cache"]


def t_random_names():
    """Names made up per run (/dev/shm, /tmp, memfd numbers, pids) match."""
    base = json.load(open(fx("base.json")))
    a = written(with_vmas(copy.deepcopy(base), RUN1))
    b = written(with_vmas(copy.deepcopy(base), RUN2))
    c = written(with_vmas(copy.deepcopy(base), ["/usr/share/app/a.bin"]))
    d = written(with_vmas(copy.deepcopy(base), ["/usr/share/app/b.bin"]))
    try:
        out, _ = expect(0, [a, b, "--min-pages", "0"], "random names")
        only_verdict(out, "random names", pages=0)
        out, _ = expect(0, [a, b, "--min-pages", "0", "--format", "json"], "random names, json")
        check(json.loads(out)["changes"] == [], out)
        # the keys, as a change from BASE shows them
        out, _ = expect(0, [fx("base.json"), b, "--format", "json"] + LIST_FILE,
                        "normalised keys")
        keys = {c["key"].split("@")[0] for c in json.loads(out)["changes"] if c["key"]}
        for want in ("file:/dev/shm/sem.*", "file:/tmp/*", "file:/memfd:buf*",
                     "file:/dev/shm/pulse-*", "file:/proc/*/task/*/mem", "file:/var/tmp/app.*",
                     "file:/run/user/*/app.*.cache"):
            check(want in keys, f"no key {want!r} in {sorted(keys)}")
        # names that are not made up per run still tell files apart
        out, _ = expect(0, [c, d] + LIST_FILE, "two real files")
        check(rows(out, "root:exec(app)", "open_shared (file)"),
              f"a.bin vs b.bin should differ:\n{out}")
    finally:
        for q in (a, b, c, d):
            os.unlink(q)


def t_json():
    """--format json: the documented keys, the numbers, the violations."""
    out, _ = expect(1, [fx("base.json"), fx("worse.json"), "--max-increase", "cow_copy=10%",
                        "--format", "json"], "json")
    doc = json.loads(out)
    for k in ("verdict", "summary", "min_pages", "note", "bounds", "changes", "only_in_base",
              "only_in_new"):
        check(k in doc, f"json lacks {k!r}: {sorted(doc)}")
    check(doc["verdict"] == "exceeded" and doc["min_pages"] == 16, out)
    ch = [c for c in doc["changes"] if c["role"] == CHILD and c["metric"] == "cow_copy"]
    check(len(ch) == 1, f"one cow_copy change in {CHILD}: {doc['changes']}")
    c = ch[0]
    check(set(c) >= {"role", "label", "kind", "key", "metric", "old", "new", "change_pct"}, c)
    check((c["label"], c["kind"], c["old"], c["new"], c["change_pct"]) ==
          ("alloc_buffer", "anon", 400, 500, 25.0), c)
    check(c["key"] == "anon@alloc_buffer<main<__libc_start_call_main", c)
    b = doc["bounds"]
    check(len(b) == 1 and b[0]["metric"] == "cow_copy" and b[0]["max_increase_pct"] == 10, b)
    roles = [e["role"] for e in b[0]["exceeded"]]
    check(roles == ["*", CHILD], roles)
    for e in b[0]["exceeded"]:
        check(e["most_grown"]["label"] == "alloc_buffer" and e["most_grown"]["role"] == CHILD, e)
    out, _ = expect(0, [fx("base.json"), fx("same.json"), "--format", "json"], "json, same")
    doc = json.loads(out)
    check(doc["verdict"] == "ok" and doc["changes"] == [] and doc["bounds"] == [], out)
    check(doc["summary"] == "vmaprof diff: no change of 16 pages and 20% or more; no bounds given", out)
    _, err = expect(2, [fx("base.json"), fx("not_json.json"), "--format", "json"], "json, bad")


def t_markdown():
    """--format markdown: the verdict, a table with the site, the violations."""
    out, _ = expect(1, [fx("base.json"), fx("doubled.json"), "--max-increase",
                        "demand_zero=50%", "--format", "markdown"], "markdown")
    lines = out.splitlines()
    check(lines[0].startswith("**vmaprof diff: ") and lines[0].endswith("**"), out)
    i = lines.index("| role | site | metric | old | new | change |")
    check(lines[i + 1] == "|:--|:--|:--|--:|--:|--:|", out)
    table = [ln for ln in lines[i + 2:] if ln.startswith("| ")]
    check("| `root:exec(app)` | `alloc_buffer (anon)` | demand_zero | 1000 | 2000 | +100.0% |"
          in table, out)
    check(all(ln.count(" | ") == 5 for ln in table), f"a cell broke the table:\n{out}")
    check(any(ln.startswith("- `EXCEEDED demand_zero") and "alloc_buffer" in ln
              for ln in lines), out)
    out, _ = expect(0, [fx("base.json"), fx("same.json"), "--format", "markdown"],
                    "markdown, same")
    check("|" not in out and out.startswith("**vmaprof diff: no change"), out)


def t_long_names():
    """Lines fit 100 columns: long roles, function names and paths are cut."""
    doc = json.load(open(fx("base.json")))
    new = copy.deepcopy(doc)
    for d, grow in ((doc, 0), (new, 100)):
        v = d["processes"][0]["vmas"][6]
        v["path"] = "/usr/share/" + "very-long-directory/" * 40 + "data.bin"
        v["stack"] = [dict(v["stack"][0], function="ns::" + "Template<Deep|Name>::" * 60 +
                           f"load{i}()") for i in range(30)]
        for o in (v, d["processes"][0]):
            o["faults"]["file"] += grow
            o["faults"]["total"] += grow
        d["processes"][0]["execs"][0]["path"] = "/opt/" + "x" * 300
    a, b = written(doc), written(new)
    try:
        for fmt in ("text", "markdown"):
            out, _ = expect(1, [a, b, "--format", fmt, "--max-increase", "file=10%"],
                            f"long names, {fmt}")
            check("..." in out, f"nothing was cut:\n{out}")
            if fmt == "text":
                long = [ln for ln in out.splitlines() if len(ln) > 100]
                check(not long, f"lines over 100 columns: {long}")
                check(any(ln.startswith("...") and "Template<Deep|Name>" in ln
                          for ln in out.splitlines()), out)
            else:
                table = [ln for ln in out.splitlines() if ln.startswith("| ")]
                check(table and all(ln.count(" | ") == 5 for ln in table), out)
                check(all(len(ln) < 200 for ln in table), out)
        out, _ = expect(1, [a, b, "--format", "json", "--max-increase", "file=10%"], "json")
        keys = [c["key"] for c in json.loads(out)["changes"] if c["key"]]
        check(keys and all(len(k) > 1000 for k in keys), "json keeps the whole key")
    finally:
        os.unlink(a)
        os.unlink(b)


def t_anon_label():
    """A site whose frame has no symbol is named by its file and offset and
    the nearest caller that has a name (analyzer/core/sites.c); cut to its
    column, it keeps the caller, which tells it apart, and gives up the
    file's name first (it lost the caller: `libruby-3.1.so.3.1.2+0x...`)."""
    label = "libruby-3.1.so.3.1.2+0xd860f < rb_str_modify_expand"
    docs = [json.load(open(fx(n))) for n in ("base.json", "doubled.json")]
    for d in docs:
        d["processes"][0]["vmas"][3]["label"] = label
    a, b = written(docs[0]), written(docs[1])
    gate = ["--max-increase", "demand_zero=50%"]
    try:
        rc, msg = validate([a, b])
        check(rc == 0, f"the reports against the JSON Schema:\n{msg}")
        out, _ = expect(1, [a, b] + gate, "a doubled buffer at an unsymbolized frame")
        sites = [ln.split("  ")[1] for ln in out.splitlines() if ln.startswith("root:exec(app) ")]
        check(sites and all(s.startswith("...") and s.endswith(" < rb_str_modify_expand (anon)")
                            for s in sites), f"site column: {sites}\n{out}")
        check(len(most_growth(out)) == 2 and all(
            m.startswith("  most growth: root:exec(app)  ...") and len(m) <= 100 and
            m.endswith("+0xd860f < rb_str_modify_expand (anon)  1000 -> 2000 (+1000)")
            for m in most_growth(out)), out)
        md, _ = expect(1, [a, b, "--format", "markdown"] + gate, "markdown")
        check("| `root:exec(app)` | `...0xd860f < rb_str_modify_expand (anon)` | demand_zero | "
              "1000 | 2000 | +100.0% |" in md.splitlines(), md)
        j, _ = expect(1, [a, b, "--format", "json"] + gate, "json")
        check(all(c["label"] == label for c in json.loads(j)["changes"] if c["label"]),
              "json keeps the whole label")
    finally:
        os.unlink(a)
        os.unlink(b)


def t_v1_v2():
    """A schema_version 1 and a 2 report of one run match exactly: stacks
    keyed by the raw symbol, `instances` counted; v2's label names the site."""
    out, _ = expect(0, [fx("cxx_v1.json"), fx("cxx_v2.json"), "--min-pages", "0"] +
                    sum((["--max-increase", m + "=0%"] for m in ALL_METRICS), []), "v1 vs v2")
    only_verdict(out, "v1 vs v2", f"0 of {len(ALL_METRICS)} bounds exceeded", pages=0)
    out, _ = expect(0, [fx("cxx_v2.json"), fx("cxx_v1.json"), "--min-pages", "0"], "v2 vs v1")
    only_verdict(out, "v2 vs v1", pages=0)
    v2 = json.load(open(fx("cxx_v2.json")))
    root = v2["processes"][0]
    data = next(v for v in root["vmas"] if v["label"] == "app::Data::load()")
    data["faults"]["file"] += 100
    data["faults"]["total"] += 100
    pool = next(v for v in root["vmas"] if v.get("instances", 1) > 1)
    pool["instances"] += 20
    path = written(v2)
    try:
        out, _ = expect(0, [fx("cxx_v1.json"), path] + LIST_FILE, "v1 vs a grown v2")
    finally:
        os.unlink(path)
    check(["file", "16", "116", "+625.0%"] in rows(out, "root:exec(app)",
                                                    "app::Data::load() (file)"),
          f"the demangled label should name the site:\n{out}")
    check(["vma_count", "20", "40", "+100.0%"] in rows(out, "root:exec(app)",
                                                      "app::Pool::take() (anon)"),
          f"instances should count in vma_count:\n{out}")


def t_deterministic():
    args = [fx("base.json"), fx("worse.json"), "--max-increase", "cow_copy=10%",
            "--max-increase", "total_faults=1%"]
    first = diff(*args)
    for _ in range(3):
        check(diff(*args) == first, "two runs printed different output")
    check("\x1b" not in first[1], "colour codes in the output")


def t_bad_json():
    bad_input([fx("base.json"), fx("not_json.json")], "not JSON", "not_json.json")


def t_bad_version():
    bad_input([fx("wrong_version.json"), fx("base.json")], "schema_version 99", "schema_version")


def t_missing_field():
    bad_input([fx("base.json"), fx("missing_field.json")], "a process without faults",
              "processes[1].faults")


def t_bad_format():
    bad_input([fx("base.json"), fx("same.json"), "--format", "yaml"], "format yaml",
              "--format yaml: unknown format (one of: text json markdown)")
    bad_input([fx("base.json"), fx("same.json"), "--format"], "no format", "--format")


def t_help():
    """`vmaprof diff --help` and `vmaprof --help` show the options."""
    for args in (["diff", "--help"], ["--help"]):
        p = subprocess.run([VMAPROF, *args], capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, f"{args}: exit {p.returncode}")
        for o in ("--max-increase", "--min-pages", "--format text|json|markdown", "default 16"):
            check(o in p.stdout, f"`vmaprof {' '.join(args)}` does not show {o!r}:\n{p.stdout}")


def t_bad_metric():
    bad_input([fx("base.json"), fx("same.json"), "--max-increase", "foo=10%"], "metric foo",
              "foo")


def t_bad_pct():
    for pct in ("abc", "-5%", "1e3", "%", "10%%", "", "nan"):
        bad_input([fx("base.json"), fx("same.json"), "--max-increase", "cow_copy=" + pct],
                  f"PCT {pct!r}", "cow_copy=" + pct)


def t_no_file():
    bad_input([fx("base.json"), fx("does-not-exist.json")], "a missing file",
              "does-not-exist.json")
    bad_input([fx("base.json")], "one report only", "two reports")


def t_directories():
    """A recording's directory stands for its report.json (what `vmaprof
    record` leaves); a directory without one is a clear error."""
    with tempfile.TemporaryDirectory() as t:
        b, w = os.path.join(t, "base"), os.path.join(t, "worse")
        for d, f in ((b, "base.json"), (w, "worse.json")):
            os.mkdir(d)
            shutil.copy(fx(f), os.path.join(d, "report.json"))
        bound = ["--max-increase", "cow_copy=10%"]
        files = expect(1, [os.path.join(b, "report.json"), os.path.join(w, "report.json"),
                           *bound], "report.json files")
        dirs = expect(1, [b, w, *bound], "their directories")
        check(dirs == files, f"directories: another result than their report.json files:\n"
              f"{dirs[0]}\n---\n{files[0]}")
        check(exceeded(dirs[0]), f"the bound exceeded:\n{dirs[0]}")
        expect(1, [b + "/", fx("worse.json"), *bound], "a directory with '/' and a file")
        empty = os.path.join(t, "empty")
        os.mkdir(empty)
        bad_input([empty, w], "a directory without report.json",
                  f"{empty} is a directory without a report.json")
        bad_input([b, empty], "the new one without report.json", "pass a recording's directory "
                  "or its report.json")


def t_bad_types():
    """Mistyped or missing fields anywhere the diff reads: exit 2, never a crash."""
    base = json.load(open(fx("base.json")))
    edits = [
        lambda r: r.update(processes={}),
        lambda r: r.update(page_size=0),
        lambda r: r.update(page_size="4096"),
        lambda r: r["processes"].append(7),
        lambda r: r["processes"][0].update(vmas=None),
        lambda r: r["processes"][0]["vmas"][3].update(start=-1),
        lambda r: r["processes"][0]["vmas"][3].update(end=1),
        lambda r: r["processes"][0]["vmas"][3]["stack"][0].update(ip="0x10"),
        lambda r: r["processes"][0]["vmas"][3].update(instances=0),
        lambda r: r["processes"][0]["vmas"][3].update(instances="2"),
        lambda r: r["processes"][0]["vmas"][3].update(label=["x"]),
        lambda r: r["processes"][0]["vmas"][3]["stack"][0].update(mangled=1),
        lambda r: r.update(schema_version=3),
        lambda r: r["processes"][0]["vmas"][3]["stack"].append(None),
        lambda r: r["processes"][0]["vmas"][3]["faults"].update(cow_copy=1.5),
        lambda r: r["processes"][0]["vmas"][3].pop("kind"),
        lambda r: r["processes"][1].update(forked_from={"pid": 1000}),
        lambda r: r["processes"][0]["execs"][0].update(path=None),
        # a fork cycle: the root claims to be its own child's child
        lambda r: r["processes"][0].update(forked_from={"pid": 1001, "time_ns": 1}),
    ]
    for i, edit in enumerate(edits):
        doc = copy.deepcopy(base)
        edit(doc)
        path = written(doc)
        try:
            rc, out, err = diff(fx("base.json"), path)
        finally:
            os.unlink(path)
        check(rc == 2 and len(err.strip().splitlines()) == 1,
              f"edit #{i}: exit {rc}, stderr {err!r} (want 2 and one line)")


def t_v2_v3():
    """A schema_version 2 report (tests/fixtures/v2: rendered by vmaprof
    before version 3 from the golden traces) and the version 3 report of the
    same recording diff as equal, both ways, with every bound at 0% and no
    noise floor, though version 3 summarises the idle entries; a version 3
    report whose idle summary is changed does not."""
    zero = ["--min-pages", "0"] + [a for m in ("total_faults", "pages_allocated", "vma_count",
                                               "live_bytes", "bytes_mapped")
                                   for a in ("--max-increase", f"{m}=0%")]
    for case in ("fork_cow", "pidns"):
        v2 = os.path.join(HERE, "fixtures", "v2", case + ".json")
        check(json.load(open(v2))["schema_version"] == 2, f"{v2} is not version 2")
        with tempfile.TemporaryDirectory() as t:
            v3 = os.path.join(t, "v3.json")
            p = subprocess.run([VMAPROF, "report", os.path.join(HERE, "golden", case), "-o", v3],
                               capture_output=True, text=True, timeout=60)
            check(p.returncode == 0, p.stderr)
            doc = json.load(open(v3))
            idle = [r for p in doc["processes"] for r in p["idle"]]
            check(doc["schema_version"] == 3 and idle, f"{case}: no idle rows to check")
            out, _ = expect(0, [v2, v3, *zero], f"{case}: v2 -> v3")
            check("no change" in out, f"{case}: v2 -> v3 shows changes:\n{out}")
            out, _ = expect(0, [v3, v2, *zero], f"{case}: v3 -> v2")
            check("no change" in out, f"{case}: v3 -> v2 shows changes:\n{out}")
            # one more idle mapping of 1 MiB: the diff must see it
            cols = doc["idle_columns"]
            row = idle[0]
            row[cols.index("mappings")] += 1
            row[cols.index("entries")] += 1
            row[cols.index("bytes_mapped")] += 1 << 20
            grown = os.path.join(t, "grown.json")
            json.dump(doc, open(grown, "w"))
            out, _ = expect(1, [v2, grown, *zero], f"{case}: v2 -> v3 with an idle mapping more")
            check("bytes_mapped" in out and "vma_count" in out, out)


def t_bad_v3():
    """A version 3 report whose rows or tables do not hold together is bad
    input (exit 2, one line naming where), never a crash."""
    with tempfile.TemporaryDirectory() as t:
        good = os.path.join(t, "good.json")
        p = subprocess.run([VMAPROF, "report", os.path.join(HERE, "golden", "fork_cow"), "-o",
                            good], capture_output=True, text=True, timeout=60)
        check(p.returncode == 0, p.stderr)
        doc = json.load(open(good))
        vc, ic = doc["vma_columns"], doc["idle_columns"]

        def row(d, k, v):
            d["processes"][0]["vmas"][0][vc.index(k)] = v

        def idle(d, k, v):
            d["processes"][0]["idle"][0][ic.index(k)] = v
        for what, edit, needle in [
                ("a stack past stacks[]", lambda d: row(d, "stack", 999),
                 "processes[0].vmas[0]: stack is not an index into stacks"),
                ("a path past paths[]", lambda d: row(d, "path", 999),
                 "processes[0].vmas[0]: path is not an index into paths"),
                ("a site past sites[]", lambda d: row(d, "site", 999),
                 "processes[0].vmas[0]: site is not an index"),
                ("faults not an array", lambda d: row(d, "faults", {"file": 1}),
                 "processes[0].vmas[0]: faults"),
                ("a short row", lambda d: d["processes"][0]["vmas"][0].__delitem__(slice(3, None)),
                 "row shorter than vma_columns"),
                ("an idle row with more live than mappings", lambda d: idle(d, "live", 99),
                 "an idle row is not one"),
                ("a site key past site_keys[]",
                 lambda d: d["processes"][0]["sites"][0].__setitem__(1, 999), "site is not an index"),
                ("a frame past frames[]", lambda d: d["stacks"].append([999]) or
                 row(d, "stack", len(d["stacks"]) - 1), "stack is not an index into stacks"),
                ("no stack column", lambda d: d["vma_columns"].remove("stack"),
                 'vma_columns: no column "stack"'),
                ("no frames table", lambda d: d.pop("frames"), "frames: missing")]:
            d = copy.deepcopy(doc)
            edit(d)
            bad = os.path.join(t, "bad.json")
            json.dump(d, open(bad, "w"))
            bad_input([bad, good], what, needle)


# ---- write sites: real recordings of w_cowstack --------------------------------

WRITE_GATE = ["--max-increase", "cow_copy=25%", "--max-increase", "write_site=25%"]
COW_CHILD = "root:exec(w_cowstack)/fork"  # the child that copies the pages
COW_PAGES = 4096


def cow_record(t, name, one=1, sampling="8,8"):
    """`vmaprof record --write-stacks 8,8 -- w_cowstack 4096 ONE` into t/name
    (sampling None: the default, 8 then 1 in 64):
    the child copies 3072 pages by write_three and 1024 * ONE by write_one
    (tests/workloads/w_cowstack.c); report.json validated against the
    schema (vptest.Recording). Exit 77 without the kernel collector."""
    import vptest
    try:
        r = vptest.Recording([vptest.workload("w_cowstack"), str(COW_PAGES), str(one)],
                             ["--write-stacks", sampling] if sampling else [],
                             prefix="vmaprof-diff-",
                             check_exports=False)
        r.require_bpf()
    except vptest.Fail as e:
        raise Fail(str(e))
    check(r.rc == 0, f"w_cowstack {one}: exit status {r.rc}: {r.stderr}")
    # the child's copies, exactly, and its write sites naming both writers
    f = [x for x in r.raw["forks"] if x["parent"] == r.root()["pid"]]
    check(len(f) == 1, f"w_cowstack {one}: one fork, got {len(f)}")
    big = [v for p in r.procs if p["pid"] == f[0]["child"] for v in p["vmas"]
           if v["kind"] == "anon" and v["faults"]["cow_copy"] >= COW_PAGES]
    want = COW_PAGES + (one - 1) * COW_PAGES // 4
    check(len(big) == 1 and big[0]["faults"]["cow_copy"] == want,
          f"w_cowstack {one}: the child's copies of the mapping, want {want}: "
          f"{[v['faults']['cow_copy'] for v in big]}")
    labels = {w["label"] for w in f[0].get("write_sites_child", [])}
    check({"write_three < copy_pages", "write_one < copy_pages"} <= labels,
          f"w_cowstack {one}: the child's write sites: {sorted(labels)}")
    path = os.path.join(t, name + ".json")
    shutil.copyfile(os.path.join(r.dir, "report.json"), path)
    r.__exit__(None, None, None)
    return path


def without_writes(src, dst):
    """src with every write_sites_* and the write stacks' sampling removed,
    as a report of a recording without write stacks (or an older vmaprof)
    has them; validated against the schema."""
    doc = json.load(open(src))
    for f in doc["forks"]:
        f.pop("write_sites_parent", None)
        f.pop("write_sites_child", None)
    for p in doc["processes"]:
        p.pop("write_sites", None)
    doc["collectors"]["bpf"].pop("write_stacks", None)
    json.dump(doc, open(dst, "w"))
    rc, out = validate([dst])
    check(rc == 0, f"{dst} against the JSON Schema:\n{out}")
    return dst


def writers(out):
    return [line for line in out.splitlines() if line.startswith("  written by: ")]


def t_write_sites_same():
    """Two identical recordings under the default sampling (the child's
    write sites from about 70 samples: first 8, then 1 in 64; write_one's
    1024 copies are off by about 20% in each) diff quietly under 25% gates
    on cow_copy and on each write site, and under a 5% gate on each write
    site (the sampling's floor, not the gate, keeps them quiet); so do the
    two reversed, and in markdown and json."""
    with tempfile.TemporaryDirectory() as t:
        a, b = cow_record(t, "a", sampling=None), cow_record(t, "b", sampling=None)
        for x, y in ((a, b), (b, a)):
            out, _ = expect(0, [x, y, *WRITE_GATE], "identical runs")
            only_verdict(out, "identical runs", bounds="0 of 2 bounds exceeded")
            out, _ = expect(0, [x, y, "--max-increase", "write_site=5%"], "a 5% gate")
            only_verdict(out, "a 5% gate", bounds="0 of 1 bound exceeded")
            out, _ = expect(0, [x, y, *WRITE_GATE, "--format", "markdown"], "markdown")
            check("EXCEEDED" not in out and "written by" not in out, out)
        j = json.loads(expect(0, [a, b, *WRITE_GATE, "--format", "json"], "json")[0])
        check(j["write_sites"] is True and j["verdict"] == "ok" and
              all(not bd["exceeded"] for bd in j["bounds"]), json.dumps(j, indent=1))


def t_write_sites_grown():
    """The child's writes from write_one 4x (1024 -> 4096 copies; its
    cow_copy 4096 -> 7168, +75%): the cow_copy gate fails at the child's
    role and names write_one as the write site that grew, not write_three
    (unchanged); the write_site gate fails at write_one alone. Text,
    markdown and json agree."""
    with tempfile.TemporaryDirectory() as t:
        a, c = cow_record(t, "a"), cow_record(t, "c", one=4)
        out, _ = expect(1, [a, c, "--max-increase", "cow_copy=25%"], "write_one 4x")
        ex = exceeded(out)
        check(any(e.startswith(f"EXCEEDED cow_copy +") and f"at {COW_CHILD} (" in e
                  for e in ex), f"cow_copy at the child:\n{out}")
        w = writers(out)
        check(w and all(x.startswith("  written by: write_one < copy_pages  ") for x in w),
              f"the write site that grew is write_one:\n{out}")
        # one "written by" under each violation (the child's and the whole report's)
        check(len(w) == len(ex) == 2, f"a write site under each violation:\n{out}")
        # write_one's scaled copies: about 1024 -> 4096 (the sampling's error
        # at 1 in 8: a few hundred copies)
        old, new = w[0].split("  ")[2].split(" (")[0].split(" -> ")
        check(512 <= int(old) <= 1536 and 3072 <= int(new) <= 5120,
              f"write_one's copies 1024 -> 4096 within the sampling's error: {w[0]}")
        out, _ = expect(1, [a, c, *WRITE_GATE], "write_site gate")
        ws = [e for e in exceeded(out) if e.startswith("EXCEEDED write_site")]
        check(len(ws) == 2 and any(f"at {COW_CHILD} (" in e for e in ws),
              f"write_site exceeded at the child and the whole report:\n{out}")
        check("write_three" not in out, f"write_three did not change:\n{out}")
        md, _ = expect(1, [a, c, *WRITE_GATE, "--format", "markdown"], "markdown")
        check(md.count(", written by: `write_one < copy_pages  ") == 4 and
              "write_three" not in md, f"markdown names write_one:\n{md}")
        j = json.loads(expect(1, [a, c, *WRITE_GATE, "--format", "json"], "json")[0])
        for bd in j["bounds"]:
            at = [e for e in bd["exceeded"] if e["role"] == COW_CHILD]
            check(len(at) == 1 and [x["label"] for x in at[0]["written_by"]] ==
                  ["write_one < copy_pages"], f"json {bd['metric']}: {json.dumps(bd, indent=1)}")
        # the growth named by --min-pages: a floor above it hides the write site
        out, _ = expect(1, [a, c, "--max-increase", "cow_copy=25%", "--min-pages", "100000"],
                        "a floor above the growth")
        check(not writers(out), f"no write site past --min-pages 100000:\n{out}")


def t_write_sites_old():
    """A report without write sites (a recording without write stacks, a
    vmaprof before them, a schema_version 2 report) diffs against one
    with them, both ways: quietly when nothing changed; when cow_copy grew,
    the violation says the write sites were not compared; a write_site
    gate on it is bad input (exit 2, one line); a malformed write site
    table is bad input too."""
    with tempfile.TemporaryDirectory() as t:
        a, c = cow_record(t, "a"), cow_record(t, "c", one=4)
        old = without_writes(a, os.path.join(t, "old.json"))
        for x, y in ((old, a), (a, old), (old, old)):
            out, _ = expect(0, [x, y, "--max-increase", "cow_copy=25%"], "old vs new")
            only_verdict(out, "old vs new", bounds="0 of 1 bound exceeded")
            j = json.loads(expect(0, [x, y, "--format", "json"], "json")[0])
            check(j["write_sites"] is False, "write sites not compared")
        out, _ = expect(1, [old, c, "--max-increase", "cow_copy=25%"], "old vs grown")
        check(writers(out) == [f"  written by: not compared ({old} has no write sites)"] * 2,
              f"says why no write site is named:\n{out}")
        bad_input([old, c, *WRITE_GATE], "write_site on an old report", "has no write sites")
        v2 = os.path.join(HERE, "fixtures", "v2", "fork_cow.json")
        out, _ = expect(0, [v2, v2, "--max-increase", "cow_copy=25%"], "v2")
        only_verdict(out, "v2", bounds="0 of 1 bound exceeded")
        doc = json.load(open(a))
        fk = [f for f in doc["forks"] if "write_sites_child" in f][0]
        for what, edit, needle in [
                ("not an array", lambda f: f.update(write_sites_child=7), "expected an array"),
                ("copies negative", lambda f: f["write_sites_child"][0].update(copies=-1),
                 "copies"),
                ("no label", lambda f: f["write_sites_child"][0].pop("label"), "label")]:
            d = copy.deepcopy(doc)
            edit([f for f in d["forks"] if f["time_ns"] == fk["time_ns"]][0])
            bad = os.path.join(t, "bad.json")
            json.dump(d, open(bad, "w"))
            bad_input([a, bad], what, needle)


def t_write_sites_edited():
    """One recording against itself edited: in the child, 1500 of
    write_three's copies become write_one's (the role's cow_copy the same):
    the cow_copy gate holds, the write_site gate fails at write_one alone;
    800 of write_one's copies written by the parent instead (the fork's
    two sides are one family): both gates hold, the write site's change
    moved (docs/diff.md "Write sites")."""
    with tempfile.TemporaryDirectory() as t:
        a = cow_record(t, "a")
        doc = json.load(open(a))
        fk = [f for f in doc["forks"] if f["write_sites_child"]][0]
        by = {w["label"]: w for w in fk["write_sites_child"]}
        one, three = by["write_one < copy_pages"], by["write_three < copy_pages"]

        def edited(name, edit):
            d = copy.deepcopy(doc)
            f = [x for x in d["forks"] if x["time_ns"] == fk["time_ns"]][0]
            edit(f, {w["label"]: w for w in f["write_sites_child"]})
            path = os.path.join(t, name)
            json.dump(d, open(path, "w"))
            rc, out = validate([path])
            check(rc == 0, f"{name} against the JSON Schema:\n{out}")
            return path

        def shift(f, w):
            w["write_one < copy_pages"]["copies"] += 1500
            w["write_three < copy_pages"]["copies"] -= 1500
        hidden = edited("hidden.json", shift)
        out, _ = expect(0, [a, hidden, "--max-increase", "cow_copy=25%"], "cow_copy unchanged")
        only_verdict(out, "cow_copy unchanged", bounds="0 of 1 bound exceeded")
        out, _ = expect(1, [a, hidden, *WRITE_GATE], "write_one grew within the role")
        ex = exceeded(out)
        check(len(ex) == 2 and all(e.startswith("EXCEEDED write_site +") for e in ex) and
              any(f"at {COW_CHILD} (old {one['copies']}, new {one['copies'] + 1500})" in e
                  for e in ex), f"write_site at the child:\n{out}")
        check(writers(out) == [f"  written by: write_one < copy_pages  {one['copies']} -> "
                               f"{one['copies'] + 1500} (+1500)"] * 2,
              f"names write_one, +1500:\n{out}")
        check(three["copies"] > 1500, f"write_three's copies: {three['copies']}")

        def to_parent(f, w):
            w["write_one < copy_pages"]["copies"] -= 800
            f["write_sites_parent"].append(dict(w["write_one < copy_pages"], copies=800,
                                                mappings=[]))
        moved = edited("moved.json", to_parent)
        for x, y in ((a, moved), (moved, a)):
            out, _ = expect(0, [x, y, *WRITE_GATE], "moved to the parent")
            only_verdict(out, "moved to the parent", bounds="0 of 2 bounds exceeded")


CASES = {name[2:]: fn for name, fn in globals().items() if name.startswith("t_")}


def main():
    if sys.argv[1:] == ["--list"]:
        print("\n".join(CASES))
        return 0
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print(f"usage: {sys.argv[0]} {{{','.join(CASES)}}}", file=sys.stderr)
        return 2
    try:
        CASES[sys.argv[1]]()
    except Fail as e:
        print(f"FAIL {sys.argv[1]}: {e}", file=sys.stderr)
        return 1
    print(f"ok {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
