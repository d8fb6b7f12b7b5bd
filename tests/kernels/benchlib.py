# SPDX-License-Identifier: MIT
"""What the guest benchmarks share (bench_untraced.py, bench_redis.py,
bench_whole.py): timing a command, reading a recording's syscall hooks,
and the table of medians, minimums and their ratios to a baseline."""
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VMAPROF = os.environ.get("VMAPROF", os.path.join(ROOT, "build", "vmaprof"))


def timed(argv, **kw):
    """Wall and CPU (user+sys, the command and its reaped children)
    seconds of one run of argv; exits when it fails."""
    kw.setdefault("stdout", subprocess.DEVNULL)
    kw.setdefault("stderr", subprocess.DEVNULL)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, **kw)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv[0]} failed: {status}")
    return wall, ru.ru_utime + ru.ru_stime


def hooks(out):
    """The syscall hooks session.json of recording `out` names."""
    b = json.load(open(os.path.join(out, "session.json")))["collectors"]["bpf"]
    return b.get("syscall_hooks") if b.get("active") else "inactive: " + str(b.get("reason"))


def table(runs, base, cols, notes=None, fmt="{:.2f}"):
    """Print, for each series of runs (name -> list of tuples, one value
    per column), each column's median, minimum and maximum and their ratios
    to series `base` (ratio of medians, of minimums, of maximums); notes:
    name -> what to print after the row (the hooks). Returns the ratios:
    name -> column -> (of medians, of minimums, of maximums)."""
    def fig(vals):
        return statistics.median(vals), min(vals), max(vals)

    width = max(len(k) for k in runs) + 1
    head = "".join(f" {c + ' ' + s:>14}" for c in cols for s in ("med", "min", "max"))
    head += "".join(f" {'ratio ' + c + ' ' + s:>18}" for c in cols for s in ("med", "min", "max"))
    print(f"{'':{width}}{head}  notes")
    out = {}
    for k, v in runs.items():
        figs = [fig([x[i] for x in v]) for i in range(len(cols))]
        bases = [fig([x[i] for x in runs[base]]) for i in range(len(cols))]
        out[k] = {c: tuple(a / b for a, b in zip(f, bf)) for c, f, bf in zip(cols, figs, bases)}
        row = "".join(f" {fmt.format(x):>14}" for f in figs for x in f)
        row += "".join(f" {x:18.3f}" for c in cols for x in out[k][c])
        print(f"{k:{width}}{row}  {(notes or {}).get(k, '')}")
    return out
