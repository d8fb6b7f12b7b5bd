#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A live Redis server's SET throughput under `vmaprof record -p`, against
the same server unrecorded (issue 23: within 5%; bench/NOTES.md "Issue 23:
Redis, W3 and record -- true where users are").

    bench_redis.py [--rounds N] [--requests N]

bench/redis_attach.py's measurement (one redis-server, `redis-benchmark -t
set -c 50` alternately unrecorded and under `record -p`, the order
swapped every round), printed as medians, minimums and maximums of
requests/s and of the server's CPU time (user + sys, /proc/PID/stat) per
request, and their ratios, with the syscall hooks the recordings used: on
a shared host, throughput swings with the load, the server's CPU per
request much less.
Runs natively or in the matrix's guests (the guest shares the host's
root, so Debian's redis-server and redis-benchmark are there):

    tests/kernels/run.py --kernel 6.1 --shell 'python3 tests/kernels/bench_redis.py'
"""
import argparse
import importlib.util
import os

from benchlib import ROOT, VMAPROF, table


def redis_attach():
    spec = importlib.util.spec_from_file_location(
        "redis_attach", os.path.join(ROOT, "bench", "redis_attach.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=100000)
    a = ap.parse_args()
    print(f"kernel {os.uname().release}; redis-benchmark -t set -n {a.requests} -c 50; "
          f"{a.rounds} rounds, alternated", flush=True)
    res = redis_attach().run(VMAPROF, a.rounds, a.requests)
    us = 1e6 / a.requests
    for i, (b, r, cb, cr) in enumerate(zip(res["bare"], res["recorded"], res["cpu_bare"],
                                           res["cpu_recorded"])):
        print(f"round {i + 1}: unrecorded {b:.0f}/s, server {cb * us:.1f} us CPU/request; "
              f"record -p {r:.0f}/s ({r / b:.3f}), server {cr * us:.1f} us CPU/request")
    table({"unrecorded": [(x, c * us) for x, c in zip(res["bare"], res["cpu_bare"])],
           "record -p": [(x, c * us) for x, c in zip(res["recorded"], res["cpu_recorded"])]},
          "unrecorded", ("SET/s", "us CPU/req"), {"record -p": ",".join(res["hooks"])},
          fmt="{:.1f}")


if __name__ == "__main__":
    main()
