# SPDX-License-Identifier: MIT
"""The kernel fault collector end to end through `vmaprof record`.

Ground truth comes from tests/workloads/w_faults.c (it prints the ranges it
touched) and from the kernel's own counters (min_flt + maj_flt, read by the
collector at exit). Skips (77) only where this kernel or build has no BPF.
"""
import json
import os
import re
import subprocess
import tempfile

from vptest import VMAPROF, check, eq, main, record, workload

W = workload("w_faults")
WS = workload("w_faults_static")


def bpf_run(cmd, args=()):
    run = record(cmd, args=args, keep=True)
    sess = json.load(open(os.path.join(run.dir, "session.json")))
    run.session = sess
    b = sess["collectors"]["bpf"]
    if not b["active"] and "--no-bpf" not in args:
        why = b.get("reason") or "unknown"
        if re.search(r"without BPF|not root|BTF|Operation not permitted", why):
            print(f"SKIP: kernel collector unavailable here: {why}")
            raise SystemExit(77)
        raise AssertionError(f"collector inactive: {why}")
    return run


def region_of(stdout):
    m = re.search(r"region 0x([0-9a-f]+) (\d+)", stdout)
    check(m is not None, f"workload printed no region: {stdout!r}")
    return int(m.group(1), 16), int(m.group(2))


def faults_in(run, pid, lo, size):
    return [r for r in run.bpf.of("fault", pid=pid) if lo <= r["addr"] < lo + size]


def root_pid(run):
    ex = run.bpf.of("task_exec")
    check(ex, "no exec record for the root")
    return ex[0]["pid"]


def check_counters(run, slack=0):
    """Every process's kernel count (min_flt + maj_flt at exit) against the
    records, exactly: fault events + faults syscalls made without events
    (sysfaults, the shim's trace prefault among them) + the root's count
    before tracing began (session.json)."""
    exits = run.bpf.of("task_exit")
    check(exits, "no exit records")
    per_pid = {}
    for r in run.bpf.of("fault"):
        per_pid[r["pid"]] = per_pid.get(r["pid"], 0) + 1
    for r in run.bpf.of("sysfaults"):
        per_pid[r["pid"]] = per_pid.get(r["pid"], 0) + r["faults"]
    bt = run.session.get("before_trace") or {}
    if bt:
        per_pid[bt["pid"]] = per_pid.get(bt["pid"], 0) + bt["minflt"] + bt["majflt"]
    worst = 0
    for e in exits:
        kernel = e["min_flt"] + e["maj_flt"]
        traced = per_pid.get(e["pid"], 0)
        worst = max(worst, abs(kernel - traced))
        check(abs(kernel - traced) <= slack,
              f"pid {e['pid']}: kernel counted {kernel}, records explain {traced}")
    print(f"{len(exits)} processes, worst difference {worst}")
    return len(exits)


def t_static():
    """A static binary: no shim can load, the collector still sees all."""
    n = 1000
    run = bpf_run([WS, "touch", str(n)])
    eq(run.rc, 0, "exit status")
    lo, size = region_of(run.stdout)
    pid = root_pid(run)
    eq(run.by_pid(pid), [], "no shim stream in a static binary")
    f = faults_in(run, pid, lo, size)
    eq(len(f), n, "write first-touch faults in the region")
    eq({r["error_code"] for r in f}, {0x6}, "error codes (not-present user write)")
    check(all(r["pages"] >= 1 for r in f), "a page allocated in every fault")
    mm = [r for r in run.bpf.of("mem", pid=pid, call="mmap") if r["ret"] == lo]
    eq(len(mm), 1, "the region's mmap syscall seen by the kernel side")
    eq((mm[0]["len"], mm[0]["src"]), (size, "kernel"), "mmap record")
    check_counters(run)


def t_no_preload():
    n = 500
    run = bpf_run([W, "read", str(n)], args=["--no-preload"])
    eq(run.rc, 0, "exit status")
    eq(run.preload, [], "no shim streams with --no-preload")
    eq(run.session["collectors"]["preload"]["active"], False, "preload inactive")
    check("no-preload" in run.session["collectors"]["preload"]["reason"], "reason given")
    lo, size = region_of(run.stdout)
    f = faults_in(run, root_pid(run), lo, size)
    eq(len(f), n, "read first-touch faults")
    eq({r["error_code"] for r in f}, {0x4}, "error codes (not-present user read)")


def t_cow():
    n = 500
    run = bpf_run([W, "cow", str(n)])
    eq(run.rc, 0, "exit status")
    lo, size = region_of(run.stdout)
    child = int(re.search(r"child (\d+)", run.stdout).group(1))
    pid = root_pid(run)
    forks = run.bpf.of("task_fork", pid=pid)
    eq([x["child_pid"] for x in forks], [child], "fork followed in the kernel")
    cf = faults_in(run, child, lo, size)
    eq(len(cf), n, "child's faults on inherited pages")
    eq({r["error_code"] for r in cf}, {0x7}, "child: write-protect faults")
    check(all(r["pages"] >= 1 for r in cf), "child: every fault copied a page (cow_copy)")
    # what tells a copy from a zero-fill (docs/report.md): a COW copy's page
    # is not asked for zeroed, a first touch's is (__GFP_ZERO)
    eq({r["zeroed"] for r in cf}, {0}, "child: copies are not zeroed allocations")
    exit_t = run.bpf.of("task_exit", pid=child)[0]["t"]
    pf = faults_in(run, pid, lo, size)
    first = [r for r in pf if r["t"] < exit_t]
    after = [r for r in pf if r["t"] > exit_t]
    eq(len(first), n, "parent's first touches")
    eq({r["error_code"] for r in first}, {0x6}, "demand-zero error codes")
    eq({(r["pages"], r["zeroed"]) for r in first}, {(1, 1)}, "first touches: one zeroed page each")
    eq(len(after), n, "parent's rewrites after the child exited")
    eq({r["error_code"] for r in after}, {0x7}, "write-protect faults")
    eq(sum(1 for r in after if r["pages"] == 0), n, "no copies: cow_reuse")
    check_counters(run)


def t_no_bpf():
    run = record([W, "touch", "10"], args=["--no-bpf"], keep=True)
    eq(run.rc, 0, "exit status")
    eq(run.bpf, None, "no collector stream")
    sess = json.load(open(os.path.join(run.dir, "session.json")))
    eq(sess["collectors"]["bpf"]["active"], False, "bpf inactive")
    check("--no-bpf" in sess["collectors"]["bpf"]["reason"], "reason given")
    eq(len(run.preload), 1, "the shim still records")


def t_ring_buffer():
    """--ring-buffer sizes the kernel collector's ring (rounded up to a power
    of two, said in session.json); bad sizes are refused before anything runs."""
    n = 2000
    run = bpf_run([W, "touch", str(n)], args=["--ring-buffer", "1000K"])
    eq(run.rc, 0, "exit status")
    eq(run.session["collectors"]["bpf"]["ring_buffer_bytes"], 1 << 20, "rounded up to 1 MiB")
    eq(run.session["collectors"]["bpf"]["lost"], 0, "nothing lost")
    lo, size = region_of(run.stdout)
    eq(len(faults_in(run, root_pid(run), lo, size)), n, "every first touch recorded")
    check_counters(run)
    dflt = bpf_run([W, "touch", "10"])
    eq(dflt.session["collectors"]["bpf"]["ring_buffer_bytes"], 8 << 20, "default 8 MiB")
    for bad in ("12x", "0", "-1M", "2G", "1k", ""):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "rec")
            p = subprocess.run([VMAPROF, "record", "-o", out,
                                "--ring-buffer", bad, "--", "true"],
                               capture_output=True, text=True, timeout=60)
            eq(p.returncode, 2, f"--ring-buffer {bad!r} refused: {p.stderr}")
            check("--ring-buffer must be" in p.stderr, f"says why: {p.stderr}")
            check(not os.path.exists(out), "nothing recorded")


def t_counters_python():
    run = bpf_run(["python3", "-c", "import json, re; print(len(json.dumps(list(range(100000)))))"])
    eq(run.rc, 0, "exit status")
    check(check_counters(run) >= 1, "python compared")


def t_counters_gcc():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "x.c")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\nint main(void){ puts(\"hi\"); return 0; }\n")
        run = bpf_run(["gcc", "-O2", "-o", os.path.join(d, "x"), src])
    eq(run.rc, 0, "gcc exit status")
    check(check_counters(run) >= 3, "gcc, cc1, as, ld compared")


if __name__ == "__main__":
    main({
        "static": t_static, "no_preload": t_no_preload, "cow": t_cow, "no_bpf": t_no_bpf,
        "counters_python": t_counters_python, "counters_gcc": t_counters_gcc,
        "ring_buffer": t_ring_buffer,
    })
