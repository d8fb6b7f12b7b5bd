#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""BPF run time per traced fault, and the workload's own loop time, for one or
more builds of vmaprof, alternated round by round (bench/NOTES.md, "Kernel side
per fault").

    bench/bpf_fault_cost.py [--rounds N] [--no-stats] [--no-bare]
        --build NAME=PATH/vmaprof [--build ...] -- WORKLOAD [ARG...]

Each round runs the workload bare (unless --no-bare), then `vmaprof record
[--bpf-stats] -o DIR -- WORKLOAD` with each build. The workload prints its own
time (`storm_ns=` or `loop_ns=`: bench/w_cow, w_churn, w_pairs; other
commands get no time figures). Per traced
fault = Σ run_time_ns of page_fault_user + page_fault_kernel + mm_page_alloc
(session.json collectors.bpf.programs) / the report's faults (all processes).
A build that records no faults (a throw-away build whose fault programs are
empty: the floor) is divided by the previous build's count in the same round.
Prints median, min and max of each figure, and the per-round ratio to bare.
"""
import argparse
import json
import re
import shutil
import statistics
import subprocess
import tempfile

PROGS = ("page_fault_user", "page_fault_kernel", "mm_page_alloc")


def own_time_ms(out):
    m = re.search(r"\b(storm_ns|loop_ns)=(\d+)", out)
    return int(m.group(2)) / 1e6 if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-stats", action="store_true")
    ap.add_argument("--no-bare", action="store_true")
    ap.add_argument("--build", action="append", required=True, help="NAME=PATH/vmaprof")
    ap.add_argument("cmd", nargs="+")
    a = ap.parse_args()
    builds = [b.split("=", 1) for b in a.build]
    res = {}

    def add(k, v):
        if v is not None:
            res.setdefault(k, []).append(v)

    tmp = tempfile.mkdtemp(prefix="bpf-fault-cost.")
    try:
        for _ in range(a.rounds):
            if not a.no_bare:
                p = subprocess.run(a.cmd, capture_output=True, text=True)
                add("bare time_ms", own_time_ms(p.stdout))
            faults_before = None
            for name, exe in builds:
                d = f"{tmp}/{name}"
                shutil.rmtree(d, ignore_errors=True)
                argv = [exe, "record", "-o", d] + ([] if a.no_stats else ["--bpf-stats"])
                p = subprocess.run(argv + ["--"] + a.cmd, capture_output=True, text=True)
                add(f"{name} time_ms", own_time_ms(p.stdout))
                if a.no_stats:
                    continue
                with open(f"{d}/session.json") as f:
                    progs = {x["name"]: x for x in json.load(f)["collectors"]["bpf"]["programs"]}
                with open(f"{d}/report.json") as f:
                    faults = sum(q["faults"]["total"] for q in json.load(f)["processes"])
                if faults:
                    faults_before = faults
                elif faults_before:
                    faults = faults_before
                else:
                    raise SystemExit(f"{name}: no faults recorded and no build before it")
                add(f"{name} ns/traced fault",
                    sum(progs[n]["run_time_ns"] for n in PROGS) / faults)
                for n in ("page_fault_user", "mm_page_alloc"):
                    add(f"{name} {n} ns/run",
                        progs[n]["run_time_ns"] / max(1, progs[n]["run_cnt"]))
                add(f"{name} faults", faults)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for k, v in res.items():
        print(f"{k:40s} median {statistics.median(v):10.1f}  min {min(v):10.1f}  "
              f"max {max(v):10.1f}  n={len(v)}")
    if not a.no_bare and "bare time_ms" in res:
        for name, _ in builds:
            r = [x / y for x, y in zip(res[f"{name} time_ms"], res["bare time_ms"])]
            print(f"{name + ' / bare, per round':40s} median {statistics.median(r):10.3f}  "
                  f"min {min(r):10.3f}  max {max(r):10.3f}")


if __name__ == "__main__":
    main()
