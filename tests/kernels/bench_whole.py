#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The whole command against the bare program (issue 23; bench/NOTES.md
"Issue 23: Redis, W3 and record -- true where users are").

    bench_whole.py [--rounds N] [--mib M] [--true-rounds N]

W3 (bench/run.py's: build/bench/w_cow M, touch M MiB, fork, the child
rewrites it all) bare and as `vmaprof record -o DIR -- w_cow M` (start-up,
recording, report: the whole command), alternated, the order swapped every
round; then `true` bare and as `vmaprof record -- true`, alternated; then
one `vmaprof record --stats -- true` to show where its time goes. Wall and
CPU (user+sys, with the children) seconds, medians, minimums, ratios.
Runs natively or in the matrix's guests:

    tests/kernels/run.py --kernel 6.1 --shell 'python3 tests/kernels/bench_whole.py'
"""
import argparse
import os
import shutil
import subprocess
import tempfile

from benchlib import VMAPROF, hooks, table, timed


def alternate(rounds, cmds, out):
    """Each of cmds (name -> argv) once a round, the order reversed every
    other round; out (a directory the recordings write) removed before
    each run. name -> [(wall, cpu)], and name -> the syscall hooks its
    recordings used."""
    runs = {k: [] for k in cmds}
    seen = {}
    for i in range(rounds):
        for k in (list(cmds) if i % 2 == 0 else list(cmds)[::-1]):
            shutil.rmtree(out, ignore_errors=True)
            runs[k].append(timed(cmds[k]))
            if out in cmds[k]:
                seen.setdefault(k, set()).add(hooks(out))
        print(f"round {i + 1}: " + ", ".join(f"{k} {v[-1][0]:.3f}s" for k, v in runs.items()),
              flush=True)
    return runs, {k: ",".join(sorted(v)) for k, v in seen.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--mib", type=int, default=512)
    ap.add_argument("--true-rounds", type=int, default=15)
    a = ap.parse_args()
    wc = os.path.join(os.path.dirname(VMAPROF), "bench", "w_cow")
    true = shutil.which("true")
    print(f"kernel {os.uname().release}; {a.rounds} rounds of W3 ({a.mib} MiB), "
          f"{a.true_rounds} of true", flush=True)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "rec")
        runs, seen = alternate(a.rounds, {"bare": [wc, str(a.mib)],
                                    "vmaprof record": [VMAPROF, "record", "-o", out, "--", wc,
                                                       str(a.mib)]}, out)
        print(f"W3 whole command ({a.mib} MiB):")
        table(runs, "bare", ("wall", "cpu"), seen, fmt="{:.3f}")
        runs, seen = alternate(a.true_rounds, {"true": [true],
                                         "vmaprof record -- true": [VMAPROF, "record", "-o",
                                                                    out, "--", true]}, out)
        print("record -- true:")
        table(runs, "true", ("wall", "cpu"), seen, fmt="{:.3f}")
        shutil.rmtree(out, ignore_errors=True)
        p = subprocess.run([VMAPROF, "record", "--stats", "-o", out, "--", true],
                           capture_output=True, text=True)
        print(f"record --stats -- true (exit {p.returncode}):")
        print("".join(x for x in p.stderr.splitlines(True) if x.startswith("vmaprof:")))


if __name__ == "__main__":
    main()
