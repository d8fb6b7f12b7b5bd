#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the end of a recording costs where the syscall hooks switch from
the raw pair to the per-syscall tracepoints (no fentry; bench/NOTES.md
"Issue 23: the raw phase").

    bench_switch.py --vmaprof A [--vmaprof B ...] [--rounds N] [--sleeps 0,1,30]

For each sleep S (0: `true`), `vmaprof record --stats -o DIR -- sleep S`
under each binary, alternated, the order swapped every round: the whole
command's wall time less S, and record --stats' "stop" phase (draining
the kernel collector, where the syscall hooks are detached), with the
hooks session.json names.
"""
import argparse
import re
import shutil
import subprocess
import tempfile
import time

from benchlib import hooks, table

STOP = re.compile(r"vmaprof:   stop +([0-9.]+) s")


def one(vmaprof, sleep, out):
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["true"] if sleep == 0 else ["sleep", str(sleep)]
    t0 = time.monotonic()
    p = subprocess.run([vmaprof, "record", "--stats", "-o", out, "--", *cmd],
                       capture_output=True, text=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"{vmaprof} record failed: {p.stderr[-400:]}")
    return (wall - sleep, float(STOP.search(p.stderr).group(1))), hooks(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmaprof", action="append", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sleeps", default="0,1,30")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for s in (float(x) if "." in x else int(x) for x in a.sleeps.split(",")):
            runs, seen = {v: [] for v in a.vmaprof}, {}
            for i in range(a.rounds):
                for v in (a.vmaprof if i % 2 == 0 else a.vmaprof[::-1]):
                    r, h = one(v, s, d + "/rec")
                    runs[v].append(r)
                    seen.setdefault(v, set()).add(h)
                print(f"sleep {s} round {i + 1}: " + ", ".join(
                    f"{v} {x[-1][0]:.3f}s beyond, stop {x[-1][1]:.3f}s" for v, x in runs.items()),
                    flush=True)
            print(f"record -- {'true' if s == 0 else f'sleep {s}'}: seconds beyond the command, "
                  "and the stop phase")
            table(runs, a.vmaprof[0], ("beyond", "stop"),
                  {k: ",".join(sorted(v)) for k, v in seen.items()}, fmt="{:.3f}")


if __name__ == "__main__":
    main()
