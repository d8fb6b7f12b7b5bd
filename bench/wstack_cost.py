#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write stacks' cost (bpf/README.md "Write stacks"): a fork storm recorded
with write stacks off and on, side by side, alternated round by round.

    bench/wstack_cost.py [--build DIR] [--rounds R] [--sampling K,N ...]
                         [--workload w3|pool]

w3: bench/w_cow 512 (one fork, the child copies 512 MiB: 131,072
cow_copy), its own storm time (storm_ns). pool: tests/workloads/w_pool.py
(a CPython multiprocessing fork pool, 4 workers). Each round runs
`vmaprof record --bpf-stats --write-stacks X` for off and each sampling,
in turn; per arm: the command's wall time (record start to report), the
workload's own time where it prints one, the write stacks taken, and the
page_fault_user program's run time. Per stack = (run time with - run time
off) / stacks taken, from the same round. Medians [min-max] over rounds,
and the per-round ratio of each arm's times to off's.
"""
import argparse
import os
import re
import statistics
import tempfile
import time

from costlib import record_bpf


def one(a, ws, d):
    if a.workload == "w3":
        cmd = [os.path.join(a.build, "bench", "w_cow"), "512"]
    else:
        cmd = ["python3", os.path.join(os.path.dirname(__file__), "..", "tests", "workloads",
                                       "w_pool.py"), "1"]
    t0 = time.monotonic()
    p, b, progs, size_b = record_bpf(a.build, os.path.join(d, "rec"), cmd,
                                     args=("--write-stacks", ws))
    wall = (time.monotonic() - t0) * 1e3
    m = re.search(r"storm_ns=(\d+)", p.stdout)
    return {"wall_ms": wall, "own_ms": int(m.group(1)) / 1e6 if m else None,
            "pfu_ns": progs.get("page_fault_user", {}).get("run_time_ns", 0),
            "pfu_runs": progs.get("page_fault_user", {}).get("run_cnt", 0),
            "stacks": b.get("write_stacks", {}).get("taken", 0), "lost": b["lost"],
            "bytes": size_b}


def fmt(v):
    v = [x for x in v if x is not None]
    if not v:
        return "-"
    return f"{statistics.median(v):.1f} [{min(v):.1f}-{max(v):.1f}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--sampling", action="append", default=None)
    ap.add_argument("--workload", choices=("w3", "pool"), default="w3")
    a = ap.parse_args()
    arms = ["off"] + (a.sampling or ["8,64"])
    res = {x: [] for x in arms}
    with tempfile.TemporaryDirectory(prefix="vp-wstack-bench-") as d:
        for r in range(a.rounds):
            order = arms if r % 2 == 0 else arms[::-1]
            for x in order:
                res[x].append(one(a, x, d))
    print(f"workload {a.workload}, {a.rounds} rounds, alternated")
    for x in arms:
        v = res[x]
        print(f"  {x:>6}: wall {fmt([y['wall_ms'] for y in v])} ms, own "
              f"{fmt([y['own_ms'] for y in v])} ms, stacks {fmt([y['stacks'] for y in v])}, "
              f"page_fault_user {fmt([y['pfu_ns'] / 1e6 for y in v])} ms run time "
              f"({fmt([y['pfu_runs'] for y in v])} runs), trace "
              f"{fmt([y['bytes'] / 1e6 for y in v])} MB, lost {sum(y['lost'] for y in v)}")
        if x == "off":
            continue
        off = res["off"]
        rw = [y["wall_ms"] / o["wall_ms"] for y, o in zip(v, off)]
        ro = [y["own_ms"] / o["own_ms"] for y, o in zip(v, off) if y["own_ms"] and o["own_ms"]]
        per = [(y["pfu_ns"] - o["pfu_ns"]) / y["stacks"] / 1e3 for y, o in zip(v, off)
               if y["stacks"]]
        print(f"          ratio to off: wall {fmt(rw)}, own {fmt(ro)}; per stack "
              f"{fmt(per)} us of page_fault_user")


if __name__ == "__main__":
    main()
