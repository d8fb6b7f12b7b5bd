#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The cost of a kernel stack (bpf/README.md "Kernel stacks"): a static
binary (tests/w_kstack_static, no shim) maps, writes and unmaps one page N
times, recorded with `--bpf-stats` with kernel stacks off
(VMAPROF_KERNEL_STACK=0) and on (SIZE, default 8K), alternated ROUNDS
times. Each mmap is one captured stack; the syscall exit program's run time
with minus without, divided by the stacks taken, is the cost of one.

usage: bench/kstack_cost.py [--build DIR] [-n N] [--rounds R] [--depth D]
                            [--size SIZE] [--hooks tracepoints|raw]
--depth D: the loop runs D frames of 1 KiB below main (a stack that fills
the copy; at depth 0 the main thread's copy ends at its environment).
"""
import argparse
import os
import tempfile

from costlib import med, record_bpf


def one(a, size, d):
    env = dict(os.environ, VMAPROF_KERNEL_STACK=size, VMAPROF_SYSCALL_HOOKS=a.hooks)
    _, b, progs, size_b = record_bpf(a.build, os.path.join(d, "rec"),
                                     [os.path.join(a.build, "tests", "w_kstack_static"), "loop",
                                      str(a.n), str(a.depth)], env=env)
    ex = max((progs[n] for n in ("sys_exit", "sc_exit") if n in progs),
             key=lambda x: x["run_cnt"])
    return {"exit_ns": ex["run_time_ns"], "stacks": b["kernel_stacks"], "lost": b["lost"],
            "bytes": size_b}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--depth", type=int, default=0)
    ap.add_argument("--size", default="8K")
    ap.add_argument("--hooks", default="tracepoints")
    a = ap.parse_args()
    runs = {"0": [], a.size: []}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(a.rounds):
            for s in runs:
                runs[s].append(one(a, s, d))
    off, on = runs["0"], runs[a.size]
    stacks = med([r["stacks"] for r in on])
    per = (med([r["exit_ns"] for r in on]) - med([r["exit_ns"] for r in off])) / max(1, stacks)
    print(f"n {a.n} depth {a.depth} size {a.size} hooks {a.hooks} rounds {a.rounds}")
    print(f"exit program total, median: off {med([r['exit_ns'] for r in off]) / 1e6:.1f} ms, "
          f"on {med([r['exit_ns'] for r in on]) / 1e6:.1f} ms; stacks {stacks}, "
          f"lost off {[r['lost'] for r in off]} on {[r['lost'] for r in on]}")
    print(f"per stack: {per / 1000:.2f} us; bpf.vpt per stack "
          f"{(med([r['bytes'] for r in on]) - med([r['bytes'] for r in off])) / max(1, stacks):.0f} B")


if __name__ == "__main__":
    main()
