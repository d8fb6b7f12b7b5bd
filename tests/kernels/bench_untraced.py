#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What an untraced process pays for a recording beside it (bench/NOTES.md,
"Issue 23: fentry hooks, what the rest of the machine pays").

    bench_untraced.py [--rounds N] [--count C] [--modes fentry,raw,tracepoints]

Runs `dd if=/dev/zero of=/dev/null bs=1 count=C` (2 C system calls, none of
them hooked) alternately without a recording and beside `vmaprof record --
sh -c 'echo ready; read x'` (started afresh for each run and stopped after
it, so the "without" runs have nothing attached), with the syscall hooks
each mode names (VMAPROF_SYSCALL_HOOKS; "fentry" fails the recording where
the kernel refuses them). Prints, per mode, the dd wall and CPU (user+sys)
times of each run, their medians and minimums, and the ratios against the
"without" runs of the same rounds. Meant for the matrix's guests:

    tests/kernels/run.py --kernel 6.1 --shell 'python3 tests/kernels/bench_untraced.py'
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

VMAPROF = os.environ.get("VMAPROF", os.path.join(os.path.dirname(__file__), "../../build/vmaprof"))


def dd(count):
    """Wall and CPU seconds of one dd."""
    t0 = time.monotonic()
    p = subprocess.Popen(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"dd failed: {status}")
    return wall, ru.ru_utime + ru.ru_stime


def beside(mode, count, d):
    """dd beside a recording with hooks `mode`; the session's hooks too."""
    env = dict(os.environ, VMAPROF_SYSCALL_HOOKS=mode)
    out = os.path.join(d, f"rec-{mode}-{time.monotonic_ns()}")
    rec = subprocess.Popen([VMAPROF, "record", "-o", out, "--", "sh", "-c", "echo ready; read x"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, env=env)
    line = rec.stdout.readline()
    if not line.startswith(b"ready"):
        sys.exit(f"recording did not start: {line!r}")
    r = dd(count)
    rec.communicate(b"x\n")
    sess = json.load(open(os.path.join(out, "session.json")))
    b = sess["collectors"]["bpf"]
    return r, b.get("syscall_hooks") if b.get("active") else "inactive: " + str(b.get("reason"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=1 << 20)
    ap.add_argument("--modes", default="fentry,raw,tracepoints")
    a = ap.parse_args()
    modes = a.modes.split(",")
    print(f"kernel {os.uname().release}; dd bs=1 count={a.count}; {a.rounds} rounds, "
          f"alternated: without, then beside each of {modes}")
    runs = {"without": []}
    hooks = {}
    with tempfile.TemporaryDirectory() as d:
        dd(a.count // 8)  # warm up
        for i in range(a.rounds):
            runs["without"].append(dd(a.count))
            for m in modes:
                r, h = beside(m, a.count, d)
                runs.setdefault(m, []).append(r)
                hooks.setdefault(m, set()).add(h)
            print(f"round {i + 1}: " + ", ".join(
                f"{k} {v[-1][0]:.2f}s wall {v[-1][1]:.2f}s cpu" for k, v in runs.items()),
                flush=True)
    base = runs["without"]
    bw = statistics.median(x[0] for x in base)
    bc = statistics.median(x[1] for x in base)
    bwm = min(x[0] for x in base)
    bcm = min(x[1] for x in base)
    print(f"{'':12} {'wall med':>9} {'wall min':>9} {'cpu med':>8} {'cpu min':>8} "
          f"{'ratio wall med':>15} {'ratio wall min':>15} {'ratio cpu med':>14} {'ratio cpu min':>14}  hooks")
    for k, v in runs.items():
        w = statistics.median(x[0] for x in v)
        c = statistics.median(x[1] for x in v)
        wm = min(x[0] for x in v)
        cm = min(x[1] for x in v)
        print(f"{k:12} {w:9.2f} {wm:9.2f} {c:8.2f} {cm:8.2f} {w / bw:15.3f} {wm / bwm:15.3f} "
              f"{c / bc:14.3f} {cm / bcm:14.3f}  {','.join(sorted(hooks.get(k, {'-'})))}")


if __name__ == "__main__":
    main()
