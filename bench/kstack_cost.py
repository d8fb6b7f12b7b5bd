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
import json
import os
import shutil
import subprocess
import tempfile


def one(a, size, d):
    out = os.path.join(d, "rec")
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, VMAPROF_KERNEL_STACK=size, VMAPROF_SYSCALL_HOOKS=a.hooks)
    p = subprocess.run([os.path.join(a.build, "vmaprof"), "record", "--bpf-stats", "-o", out,
                        "--", os.path.join(a.build, "tests", "w_kstack_static"), "loop",
                        str(a.n), str(a.depth)], env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"record failed: {p.stderr}")
    b = json.load(open(os.path.join(out, "session.json")))["collectors"]["bpf"]
    progs = {x["name"]: x for x in b["programs"]}
    ex = max((progs[n] for n in ("sys_exit", "sc_exit") if n in progs),
             key=lambda x: x["run_cnt"])
    return {"exit_ns": ex["run_time_ns"], "stacks": b["kernel_stacks"], "lost": b["lost"],
            "bytes": os.path.getsize(os.path.join(out, "bpf.vpt"))}


def med(v):
    v = sorted(v)
    return v[len(v) // 2]


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
