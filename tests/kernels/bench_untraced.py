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
the kernel refuses them; "auto": the default, the variable unset;
MODE@PATH: with vmaprof PATH, to compare two builds). Prints, per mode, the dd wall and CPU (user+sys)
times of each run, their medians and minimums, and the ratios against the
"without" runs of the same rounds. Meant for the matrix's guests:

    tests/kernels/run.py --kernel 6.1 --shell 'python3 tests/kernels/bench_untraced.py'
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from benchlib import VMAPROF, hooks, table, timed


def dd(count):
    """Wall and CPU seconds of one dd."""
    return timed(["dd", "if=/dev/zero", "of=/dev/null", "bs=1", f"count={count}"])


def beside(spec, count, d):
    """dd beside a recording with hooks `mode` (spec: MODE or MODE@VMAPROF,
    another binary); the session's hooks too."""
    mode, _, vmaprof = spec.partition("@")
    env = dict(os.environ, VMAPROF_SYSCALL_HOOKS=mode)
    if mode == "auto":  # the default: what users get
        del env["VMAPROF_SYSCALL_HOOKS"]
    out = os.path.join(d, f"rec-{mode}-{time.monotonic_ns()}")
    rec = subprocess.Popen([vmaprof or VMAPROF, "record", "-o", out, "--", "sh", "-c", "echo ready; read x"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, env=env)
    line = rec.stdout.readline()
    if not line.startswith(b"ready"):
        sys.exit(f"recording did not start: {line!r}")
    r = dd(count)
    rec.communicate(b"x\n")
    return r, hooks(out)


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
    hooks_seen = {}
    with tempfile.TemporaryDirectory() as d:
        dd(a.count // 8)  # warm up
        for i in range(a.rounds):
            runs["without"].append(dd(a.count))
            for m in modes:
                r, h = beside(m, a.count, d)
                runs.setdefault(m, []).append(r)
                hooks_seen.setdefault(m, set()).add(h)
            print(f"round {i + 1}: " + ", ".join(
                f"{k} {v[-1][0]:.2f}s wall {v[-1][1]:.2f}s cpu" for k, v in runs.items()),
                flush=True)
    table(runs, "without", ("wall", "cpu"),
          {k: ",".join(sorted(v)) for k, v in hooks_seen.items()})


if __name__ == "__main__":
    main()
