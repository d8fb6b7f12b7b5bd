#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""End-to-end wall time of `vmaprof record -o DIR -- CMD` against bare CMD,
for one or more vmaprof binaries side by side in one run.

Every round runs each workload bare and under every vmaprof given, in an
order that rotates from round to round (so a slow spell of a shared
machine does not always hit the same one); the table gives each one's
median and minimum and their ratios to bare. The whole command is timed:
start-up (BPF load, broker, shim copy), the program, the stop and drain,
and the report written at the end.

Workloads (--only picks some):
  W4     gcc -O2 -g -c analyzer/core/analyze.c (bench/run.py's W4)
  build  make -j2 of bench/gen_build.py --files 40 --tests 40 (bench/run.py's
         R1; `make clean` before every run, untimed)
  true300  sh -c 'for i in $(seq 300); do /bin/true; done'
  true   `true`: what start-up and the end cost with nothing to record

usage: bench/e2e.py --vmaprof A [--vmaprof B ...] [--rounds N] [--only W4,build] [--phases]
                    [--build DIR] [--json FILE]
--build is a build directory of this tree (for W4's -I of config.h; default
ROOT/build). Needs root, as `vmaprof record` with the kernel collector does.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


CPU = {}  # id(result list) -> CPU seconds (user + sys) of each run


PHASE = re.compile(r"vmaprof:   (start-up|the program|stop|report) +([0-9.]+) s")
RSS = re.compile(r"peak RSS (\d+) MiB")


def phases(stderr):
    """record --stats' phases (start-up, the program, stop, report: s) and
    the report's peak RSS (MiB) from its stderr."""
    out = {k: float(v) for k, v in PHASE.findall(stderr)}
    m = RSS.search(stderr)
    if m:
        out["peak RSS MiB"] = float(m.group(1))
    return out


def timed(argv, cwd=None, cpu=None, stats=None):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        sys.exit(f"e2e: {' '.join(argv)} exited {p.returncode}:\n{p.stderr.decode()[-2000:]}")
    if cpu is not None:
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    if stats is not None:
        stats.append(phases(p.stderr.decode(errors="replace")))
    return dt


def workloads(build, tmp):
    gcc_out = os.path.join(tmp, "w4.o")
    w4 = ["gcc", "-O2", "-g", "-I", os.path.join(ROOT, "include"),
          "-I", os.path.join(ROOT, "analyzer", "core"), "-I",
          os.path.join(ROOT, "analyzer", "rules"), "-I", build, "-c",
          os.path.join(ROOT, "analyzer", "core", "analyze.c"), "-o", gcc_out]
    src = os.path.join(tmp, "build-src")

    def build_prep():
        if not os.path.isdir(src):
            subprocess.run([sys.executable, os.path.join(HERE, "gen_build.py"), src,
                            "--files", "40", "--tests", "40"], check=True,
                           stdout=subprocess.DEVNULL)
        subprocess.run(["make", "-C", src, "-s", "clean"], check=True, capture_output=True)

    return {
        "W4": ("gcc -O2 -g -c analyzer/core/analyze.c", w4, None),
        "build": ("make -j2 of gen_build.py --files 40 --tests 40",
                  ["make", "-C", src, "-j2", "-s"], build_prep),
        "true300": ("300 x /bin/true from sh",
                    ["sh", "-c", "for i in $(seq 300); do /bin/true; done"], None),
        "true": ("true (start-up and end only)", ["true"], None),
    }


def run(args):
    tmp = tempfile.mkdtemp(prefix="vmaprof-e2e-")
    rec = os.path.join(tmp, "rec")
    wl = workloads(args.build, tmp)
    names = args.only.split(",") if args.only else list(wl)
    for n in names:
        if n not in wl:
            sys.exit(f"e2e: unknown workload {n} (known: {', '.join(wl)})")
    tools = [("bare", None)] + [(v, v) for v in args.vmaprof]
    res = {n: {t: [] for t, _ in tools} for n in names}
    cpu = {n: {t: [] for t, _ in tools} for n in names}
    ph = {n: {t: [] for t, _ in tools} for n in names}
    extra = ["--stats"] if getattr(args, "phases", False) else []
    try:
        for r in range(args.rounds):
            for n in names:
                _, argv, prep = wl[n]
                order = tools[r % len(tools):] + tools[:r % len(tools)]
                for label, v in order:
                    if prep:
                        prep()
                    if v is None:
                        dt = timed(argv, cpu=cpu[n][label])
                    else:
                        shutil.rmtree(rec, ignore_errors=True)
                        dt = timed([v, "record", *extra, "-o", rec, "--", *argv],
                                   cpu=cpu[n][label], stats=ph[n][label])
                    res[n][label].append(dt)
            print(f"e2e: round {r + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res["cpu"] = cpu
    if extra:
        res["phases"] = ph
    return names, wl, tools, res


def table(names, wl, tools, res):
    """Wall time of the whole command, and its CPU time (user + sys of the
    command and of vmaprof: what the machine paid, less noisy than wall
    time on a shared machine)."""
    cpu = res.get("cpu", {})
    out = ["| workload | tool | median s | min s | median ratio | min ratio | CPU median s |",
           "|---|---|---|---|---|---|---|"]
    for n in names:
        b = res[n]["bare"]
        for label, _ in tools:
            v = res[n][label]
            med, mn = statistics.median(v), min(v)
            rm = med / statistics.median(b) if label != "bare" else 1.0
            rn = mn / min(b) if label != "bare" else 1.0
            c = cpu.get(n, {}).get(label)
            cs = f"{statistics.median(c):.3f}" if c else "-"
            out.append(f"| {n}: {wl[n][0]} | {label} | {med:.3f} | {mn:.3f} | {rm:.2f}x | "
                       f"{rn:.2f}x | {cs} |")
    if "phases" in res:
        keys = ["start-up", "the program", "stop", "report", "peak RSS MiB"]
        out += ["", "record --stats, medians (s; the report's peak RSS in MiB):", "",
                "| workload | tool | " + " | ".join(keys) + " |",
                "|---|---|" + "---|" * len(keys)]
        for n in names:
            for label, _ in tools[1:]:
                rows = res["phases"][n][label]
                vals = [statistics.median([r[k] for r in rows if k in r])
                        if any(k in r for r in rows) else float("nan") for k in keys]
                out.append(f"| {n} | {label} | " +
                           " | ".join(f"{v:.3f}" if k != keys[-1] else f"{v:.0f}"
                                      for k, v in zip(keys, vals)) + " |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmaprof", action="append", required=True,
                    help="a vmaprof binary (repeat to compare several)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", help="workloads, comma-separated (W4,build,true300,true)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="a build directory of this tree (W4 includes its config.h)")
    ap.add_argument("--json", help="also write every time measured to this file")
    ap.add_argument("--phases", action="store_true",
                    help="run record with --stats and add a table of its phases' medians")
    args = ap.parse_args()
    for v in args.vmaprof:
        if not os.access(v, os.X_OK):
            sys.exit(f"e2e: {v} is not an executable")
    names, wl, tools, res = run(args)
    print(table(names, wl, tools, res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "times": res}, f, indent=1)


def figures(build, vmaprof, tmp, quick, rounds):
    """bench/run.py's E1 section: this vmaprof side by side with an older one
    (VMAPROF_BENCH_BEFORE=/path/to/vmaprof), so one run gives before and after.
    Without it the section says how to get it (run.py measures the ratios to
    bare itself: W4, B1, T1)."""
    before = os.environ.get("VMAPROF_BENCH_BEFORE")
    if not before:
        return {"lines": ["Not compared: set VMAPROF_BENCH_BEFORE to an older vmaprof "
                          "binary to time it side by side with this one "
                          "(the ratios to bare are in W4, B1 and T1 above)."], "targets": []}
    if not os.access(before, os.X_OK):
        raise RuntimeError(f"VMAPROF_BENCH_BEFORE={before} is not an executable")
    args = argparse.Namespace(vmaprof=[before, vmaprof], rounds=1 if quick else rounds,
                              only="W4,true" if quick else "W4,build,true300,true",
                              build=build, json=None)
    names, wl, tools, res = run(args)
    return {"lines": [f"Before: `{before}`; after: `{vmaprof}`; "
                      f"{args.rounds} alternated round(s).", "",
                      table(names, wl, tools, res)], "targets": []}


if __name__ == "__main__":
    main()
