#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Per-process start cost of recording (issues 22 and 23), two vmaprof
binaries side by side in one run.

Each round runs, in an order rotating from round to round: the tree
`sh -c 'for i in $(seq 300); do /bin/true; done'` bare and, for each
vmaprof given, under `record`, `record --no-preload` and `record --no-bpf`;
then `record -- true` with each vmaprof. For every run: the whole
command's wall time, its CPU time (user+sys of the command and all its
children, from wait4) and, for `record`, "the program" line of --stats
(from the tree's start to its end, without start-up and report).

usage: bench/shim_start.py --vmaprof BEFORE --vmaprof AFTER [--rounds N]
Needs root (the kernel collector).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TREE = ["sh", "-c", "for i in $(seq 300); do /bin/true; done"]
PROG = re.compile(r"the program\s+([0-9.]+) s")


def run(argv):
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.monotonic() - t0
    if status != 0:
        sys.exit(f"shim_start: {' '.join(argv)} failed:\n{err.decode()[-2000:]}")
    m = PROG.search(err.decode())
    return dt, ru.ru_utime + ru.ru_stime, float(m.group(1)) if m else None


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmaprof", action="append", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="vmaprof-shimstart-")
    rec = os.path.join(tmp, "rec")
    cases = [("tree bare", None, [], TREE)]
    for i, v in enumerate(args.vmaprof):
        for flags, name in (([], "record"), (["--no-preload"], "--no-preload"),
                            (["--no-bpf"], "--no-bpf")):
            cases.append((f"tree {name} [{i}]", v, flags, TREE))
    for i, v in enumerate(args.vmaprof):
        cases.append((f"`record -- true` [{i}]", v, [], ["true"]))
    res = {c[0]: [] for c in cases}
    try:
        for r in range(args.rounds):
            k = r % len(cases)
            for label, v, flags, argv in cases[k:] + cases[:k]:
                if v is None:
                    res[label].append(run(argv))
                    continue
                shutil.rmtree(rec, ignore_errors=True)
                res[label].append(run([v, "record", "--stats", *flags, "-o", rec, "--", *argv]))
            print(f"shim_start: round {r + 1}/{args.rounds}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for i, v in enumerate(args.vmaprof):
        print(f"[{i}] {v}")
    print("| case | wall median s | wall min s | CPU median s | CPU min s "
          "| program median s | program min s |")
    print("|---|---|---|---|---|---|---|")
    for label, *_ in cases:
        w = [x[0] for x in res[label]]
        c = [x[1] for x in res[label]]
        p = [x[2] for x in res[label] if x[2] is not None]
        ps = f"{statistics.median(p):.3f} | {min(p):.3f}" if p else "- | -"
        print(f"| {label} | {statistics.median(w):.3f} | {min(w):.3f} | "
              f"{statistics.median(c):.3f} | {min(c):.3f} | {ps} |")


if __name__ == "__main__":
    main()
