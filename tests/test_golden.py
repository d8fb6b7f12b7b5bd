# SPDX-License-Identifier: MIT
"""Golden traces: checked-in trace directories (written byte for byte by
tests/golden/gen.py from the record.h layouts) -> expected report.json,
compared exactly (all but tool.version)."""
import difflib
import filecmp
import json
import os
import subprocess
import sys
import tempfile

import report3
from vptest import VMAPROF, check, eq, main

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")


def report_of(d, *args):
    p = subprocess.run([VMAPROF, "report", d, *args, "-o", "-"], capture_output=True, text=True,
                       timeout=60)
    eq(p.returncode, 0, f"report on {d}: {p.stderr}")
    r = json.loads(p.stdout)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(r, f)
    try:
        v = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "validate_report.py"), f.name],
                           capture_output=True, text=True)
        eq(v.returncode, 0, f"schema: {v.stdout}{v.stderr}")
    finally:
        os.unlink(f.name)
    r["tool"].pop("version")
    return r, p.stderr


def compare(case):
    d = os.path.join(GOLDEN, case)
    got, err = report_of(d)
    want = json.load(open(os.path.join(d, "expected.json")))
    if got != want:
        a = json.dumps(want, indent=1, sort_keys=True).splitlines()
        b = json.dumps(got, indent=1, sort_keys=True).splitlines()
        sys.stderr.write("\n".join(difflib.unified_diff(a, b, "expected", "got", lineterm="")))
        raise AssertionError(f"{case}: report differs from expected.json")
    return report3.expand(got), err


def t_generated():
    """The checked-in traces are exactly what gen.py writes."""
    with tempfile.TemporaryDirectory() as t:
        subprocess.run([sys.executable, os.path.join(GOLDEN, "gen.py"), t], check=True)
        for case in ("fork_cow", "damaged", "attach", "pidns"):
            for name in sorted(os.listdir(os.path.join(t, case))):
                check(filecmp.cmp(os.path.join(t, case, name), os.path.join(GOLDEN, case, name),
                                  shallow=False), f"{case}/{name} differs from gen.py's output")


def t_fork_cow():
    got, _ = compare("fork_cow")
    eq(got["forks"][0]["cow_copy_child"], 2, "child copies")


def t_attach():
    """record -p: counters over the window, initial and inherited entries."""
    got, _ = compare("attach")
    procs = {p["pid"]: p for p in got["processes"]}
    eq(got["collectors"]["preload"]["reason"], "attached to a running process", "the mode")
    eq(procs[100]["kernel_counters"], {"minflt": 52, "majflt": 3, "shim_prefault": 0,
                                       "before_trace": 53, "populated": 0, "difference": 0},
       "the attached process's counters: deltas over the window")
    eq(procs[101]["kernel_counters"]["difference"], 0, "the child's")
    eq(procs[100]["name"], "server", "the attached process's name (its comm)")
    eq(procs[101]["name"], "server", "the child's, copied at the fork")
    reg = [v for v in procs[101]["vmas"] if v["start"] == 0x10000000]
    eq((reg[0]["origin"], reg[0]["faults"]["cow_copy"]), ("inherited", 2), "the child's copies")
    sp = [v for v in procs[100]["vmas"] if v["start"] == 0x20000000]
    eq((sp[0]["origin"], sp[0]["faults"]["demand_zero"]), ("initial", 1), "the parent's fault")
    t = subprocess.run([VMAPROF, "report", os.path.join(GOLDEN, "attach"), "--format", "text"],
                       capture_output=True, text=True, timeout=60)
    eq(t.returncode, 0, t.stderr)
    for want in ("attached to a running process: pid 100 for 0.0 s (ended by signal); "
                 "1 process(es) left running",
                 "mapping stacks are not available for mappings made before the attach",
                 "the kernel counted 55 (0 populated by syscalls, 0 the shim's own, "
                 "53 before the attach)"):
        check(want in t.stdout, f"the summary says {want!r}:\n{t.stdout}")
    check("stopped early" not in t.stdout, "attaching is not stopping early")


def t_pidns():
    """Version 2 traces of three containers (gen.py pidns): the shim's pids
    are the containers' own, the collector's the kernel's; two containers
    have a pid 1 and a pid 2 at once, a third reuses one's namespace inode
    and its pid 1 later."""
    got, _ = compare("pidns")
    procs = {p.get("host_pid", p["pid"]): p for p in got["processes"]}
    eq(len(procs), 6, "six processes, each once")
    eq({k: (p["pid"], p.get("ns_pids")) for k, p in procs.items()},
       {100: (100, None), 200: (1, [200, 1]), 201: (2, [201, 2]), 300: (1, [300, 1]),
        301: (2, [301, 2]), 400: (1, [400, 1])}, "own pids, the kernel's beside them")
    eq({k: p["faults"]["total"] for k, p in procs.items()},
       {100: 0, 200: 5, 201: 2, 300: 3, 301: 1, 400: 1}, "each its own faults")
    a1 = {v["start"]: v for v in procs[200]["vmas"]}
    eq((a1[0x30000000]["origin"], a1[0x30000000]["faults"]["demand_zero"]), ("mmap", 1),
       "the thread's mapping: the shim's and the kernel's record are one call")
    for k, p in procs.items():
        eq(p["kernel_counters"]["difference"], 0, f"{k} balances")


def t_damaged():
    got, err = compare("damaged")
    check("not a vmaprof trace" in err, f"clear error for the bad file: {err}")
    check(got["lost"]["damaged_records"] > 0 and got["lost"]["unreadable_files"] == 1,
          "lost counters say what is missing")


def cases():
    """`generated`, and one case per checked-in trace directory under
    tests/golden (one with a session or trace files beside expected.json):
    its own t_<name> when it has more to check, else the exact comparison."""
    found = {"generated": t_generated}
    for name in sorted(os.listdir(GOLDEN)):
        d = os.path.join(GOLDEN, name)
        if not (os.path.isfile(os.path.join(d, "expected.json")) and
                any(f == "session.json" or f.endswith(".vpt") for f in os.listdir(d))):
            continue
        found[name] = globals().get("t_" + name) or (lambda n=name: compare(n))
    return found


if __name__ == "__main__":
    main(cases())
