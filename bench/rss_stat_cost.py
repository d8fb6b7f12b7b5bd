#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What the kernel's rss_stat samples cost (bpf/README.md "The mm's own
figures", VMAPROF_RSS_STAT): W3 (bench/w_cow MIB: touch, fork, the child
rewrites it all) recorded by `vmaprof record --bpf-stats` without and with
VMAPROF_RSS_STAT=MS, alternated ROUNDS times; the storm's own wall time
(w_cow's), the rss_stat program's runs and run time, the samples written.
Then the cost to a process nobody traces: the same w_cow bare, alone and
while a recording with rss_stat on (of `sleep`) runs beside it, alternated
(the tracepoint's program runs for every process's RSS changes).

usage: bench/rss_stat_cost.py [--build DIR] [--mib MIB] [--rounds R] [--ms MS]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile

from costlib import med, record_bpf
import time


def storm_s(out):
    m = re.search(r"storm_ns=(\d+)", out)
    if not m:
        raise SystemExit(f"no time in w_cow's output: {out!r}")
    return int(m.group(1)) / 1e9


def recorded(a, d, ms):
    env = dict(os.environ)
    env.pop("VMAPROF_RSS_STAT", None)
    if ms:
        env["VMAPROF_RSS_STAT"] = ms
    p, b, progs, size_b = record_bpf(a.build, os.path.join(d, "rec"),
                                     [os.path.join(a.build, "bench", "w_cow"), str(a.mib)],
                                     env=env)
    rs = progs.get("rss_stat", {"run_cnt": 0, "run_time_ns": 0})
    return {"storm": storm_s(p.stdout), "runs": rs["run_cnt"], "ns": rs["run_time_ns"],
            "samples": b.get("rss_samples", 0), "lost": b["lost"],
            "bytes": size_b}


def bare(a):
    p = subprocess.run([os.path.join(a.build, "bench", "w_cow"), str(a.mib)],
                       capture_output=True, text=True)
    return storm_s(p.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ms", default="1")
    a = ap.parse_args()
    off, on = [], []
    with tempfile.TemporaryDirectory() as d:
        for _ in range(a.rounds):
            off.append(recorded(a, d, None))
            on.append(recorded(a, d, a.ms))
        print(f"W3 (w_cow {a.mib}) recorded, {a.rounds} rounds alternated, median [min-max]:")
        for name, v in (("without rss_stat", off), (f"VMAPROF_RSS_STAT={a.ms}", on)):
            s = [r["storm"] for r in v]
            print(f"  {name:24s} storm {med(s):.3f} s [{min(s):.3f}-{max(s):.3f}]  "
                  f"trace {med([r['bytes'] for r in v]) / 1e6:.1f} MB  lost {max(r['lost'] for r in v)}")
        runs, ns = med([r["runs"] for r in on]), med([r["ns"] for r in on])
        print(f"  rss_stat program: {runs} runs, {ns / max(runs, 1):.0f} ns/run, "
              f"{med([r['samples'] for r in on])} samples; storm ratio on/off "
              f"{med([r['storm'] for r in on]) / med([r['storm'] for r in off]):.3f}")
        # untraced: w_cow bare, alone and beside a recording (of `sleep`)
        # without and with rss_stat, alternated; and the program's own
        # figures there (--bpf-stats): every run is for an untraced task
        times = {"alone": [], "beside, rss_stat off": [], "beside, rss_stat on": []}
        prog = []
        for _ in range(a.rounds):
            times["alone"].append(bare(a))
            for name, ms in (("beside, rss_stat off", None), ("beside, rss_stat on", a.ms)):
                env = dict(os.environ)
                env.pop("VMAPROF_RSS_STAT", None)
                if ms:
                    env["VMAPROF_RSS_STAT"] = ms
                out = os.path.join(d, "side")
                shutil.rmtree(out, ignore_errors=True)
                r = subprocess.Popen([os.path.join(a.build, "vmaprof"), "record", "--bpf-stats",
                                      "-o", out, "--", "sleep", "4"], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)  # attached
                times[name].append(bare(a))
                r.wait()
                if ms:
                    b = json.load(open(os.path.join(out, "session.json")))["collectors"]["bpf"]
                    progs = {x["name"]: x for x in b.get("programs", [])}
                    rs = progs.get("rss_stat", {"run_cnt": 0, "run_time_ns": 0})
                    prog.append((rs["run_cnt"], rs["run_time_ns"]))
        print(f"untraced w_cow {a.mib} (its storm), {a.rounds} rounds alternated:")
        for name, v in times.items():
            print(f"  {name:22s} {med(v):.3f} s [{min(v):.3f}-{max(v):.3f}]  "
                  f"ratio {med(v) / med(times['alone']):.3f}")
        runs = med([x[0] for x in prog])
        ns = med([x[1] for x in prog])
        print(f"  rss_stat program over the 4 s recording beside it: {runs} runs (none traced), "
              f"{ns / max(runs, 1):.0f} ns/run, {ns / 1e6:.1f} ms in all")

if __name__ == "__main__":
    main()
