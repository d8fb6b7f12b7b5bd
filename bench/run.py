#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""vmaprof overhead benchmark, side by side with the tools people use today.

Every round runs each workload under every tool, alternating (bare, vmaprof,
..., strace, ltrace, perf trace, bpftrace, heaptrack, then the next round), so
slow drift of the machine hits all of them alike; the table gives medians and
min-max over the rounds. Writes bench/RESULTS.md (regenerated on each run,
never edited by hand).

usage: bench/run.py [--build DIR] [--rounds N] [--quick] [--only W1,W3,U1,W3W,S1,F1,B1,T1,Z1,E1,P1,L1]
                    [--tools bare,vmaprof,...] [--out FILE] [--validate]

Beside the table (selected with --only too):
- U1: a syscall-heavy program that is not traced (dd, 2M calls) alone and
  while `vmaprof record -- sleep` runs elsewhere, alternated;
- W3W: W3's whole command bare, under `vmaprof record` and under the
  minimal fault recorder (the floor), 7 alternated runs: the W3 target's
  ratio of minimums;
- S1: start-up, `vmaprof record -- true` as a whole against --no-bpf,
  strace and bare true;
- F1: what a recording leaves on disk (a process making 10 mapping calls;
  300 runs of /bin/true);
- B1/R1: `make -j2` of the C project bench/gen_build.py writes (40 library
  files, 40 test programs: ~420 processes of make, sh, gcc, cc1, as,
  collect2, ld), bare, recorded and recorded --no-signal-stacks,
  alternated, and the traces it leaves; the recorded runs' phases (record
  --stats); the last recording is then timed under `vmaprof report` each
  round, with the symbolizer's share (R1);
- T1: the tree of F1's 300 runs of /bin/true, the whole command bare and
  under `vmaprof record`, alternated: the ratio of the medians; the
  recorded runs' phases, and the ratio the recorder's fixed costs alone
  (start-up, stop, report) give;
- Z1: the build recording's report.json and its HTML, pprof, Perfetto and
  folded exports, in MB (runs the build of B1);
- E1, P1, L1: sections other scripts measure, run last: bench/e2e.py (end
  to end, side by side), bench/redis_attach.py (a live Redis server's SET
  throughput under `record -p` against unrecorded) and bench/scale.py (the analyzer on a synthetic
  recording of 100 M fault events across 10,000 processes). Each is imported
  if it is there and called as figures(build=, vmaprof=, tmp=, quick=,
  rounds=) -> dict; with --quick it must take seconds, not minutes. What
  run.py reads of the dict: `lines`, markdown shown as the section's body;
  `targets`, [(target, measured, met)] rows for the Targets table (E1);
  `ratio` (P1: recorded over unrecorded requests/s, the target >= 0.95);
  `events`, `processes`, `events_per_s`, `peak_rss_bytes` (L1: its table and
  the targets >= 15 M events/s, <= 2 GB). A script that is not there, has
  no figures() or raises leaves its section and target row saying
  "not run" and why.

The Targets table gives each figure's bound and verdict (issue 22: W4, the
build and T1 end to end <= 1.3x, 1.5x, 1.5x; the build's report.json <=
8 MB; the analysis at scale >= 15 M events/s in <= 2 GB).

Needs root (BPF, perf, bpftrace). A peer tool that is missing or cannot run
here is skipped with the reason in the output and in RESULTS.md.
"""
import argparse
import datetime
import glob
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# Peers that stop the program at every call would take minutes per run on
# the 200k-pair workloads; they run a fraction of the pairs (the figure is
# per pair, so it compares): a twentieth, ltrace a fiftieth.
SLOW_DIVISOR = 20
TRUE = shutil.which("true") or "/bin/true"
RUN_TIMEOUT = 120  # seconds for one run; a tool that takes longer is dropped

BPFTRACE_SCRIPT = r"""
BEGIN { @t[cpid] = 1; }
tracepoint:sched:sched_process_fork /@t[pid]/ { @t[args->child_pid] = 1; }
tracepoint:exceptions:page_fault_user /@t[pid]/ { @faults[args->error_code] = count(); }
tracepoint:exceptions:page_fault_kernel /@t[pid]/ { @kfaults[args->error_code] = count(); }
END { clear(@t); }
"""


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Skip(Exception):
    pass


# ---------------------------------------------------------------- workloads

class Workload:
    def __init__(self, key, title, cmd, metric, unit, slow_cmd=None, pairs=None):
        self.key, self.title, self.cmd = key, title, cmd
        self.metric, self.unit = metric, unit   # metric(stdout, timeit) -> float
        self.slow_cmd = slow_cmd                # slow_cmd(divisor) -> command
        self.pairs = pairs

    def command(self, divisor):
        return self.slow_cmd(divisor) if self.slow_cmd and divisor > 1 else self.cmd


def per_pair(out, t):
    m = re.search(r"ns_per_pair=([\d.]+)", out)
    if not m:
        raise RuntimeError(f"no ns_per_pair in output {out[-300:]!r}")
    return float(m.group(1))


def storm_ms(out, t):
    m = re.search(r"storm_ns=(\d+)", out)
    if not m:
        raise RuntimeError(f"no storm_ns in output {out[-300:]!r}")
    return int(m.group(1)) / 1e6


def per_iter(out, t):
    m = re.search(r"ns_per_iter=([\d.]+)", out)
    if not m:
        raise RuntimeError(f"no ns_per_iter in output {out[-300:]!r}")
    return float(m.group(1))


def elapsed_ms(out, t):
    return t["elapsed_ns"] / 1e6


def workloads(build, pairs, quick):
    wp = os.path.join(build, "bench", "w_pairs")
    wc = os.path.join(build, "bench", "w_cow")
    wch = os.path.join(build, "bench", "w_churn")
    churn = 20000 if quick else 100000
    mib = 64 if quick else 512
    gcc_out = os.path.join(tempfile.gettempdir(), "vmaprof-bench-w4.o")
    w4 = ["gcc", "-O2", "-g", "-I", os.path.join(ROOT, "include"),
          "-I", os.path.join(ROOT, "analyzer", "core"), "-I", os.path.join(ROOT, "analyzer", "rules"),
          "-I", build, "-c", os.path.join(ROOT, "analyzer", "core", "analyze.c"), "-o", gcc_out]
    return [
        Workload("W1", f"W1: {pairs} mmap+munmap pairs, 1 thread", [wp, str(pairs), "1"],
                 per_pair, "ns/pair", lambda d: [wp, str(max(pairs // d, 8)), "1"], pairs),
        Workload("W2", f"W2: {pairs} mmap+munmap pairs from 8 threads",
                 [wp, str(pairs // 8), "8"], per_pair, "ns/pair",
                 lambda d: [wp, str(max(pairs // d // 8, 1)), "8"], pairs),
        Workload("W3", f"W3: touch {mib} MiB, fork, child rewrites it all", [wc, str(mib)],
                 storm_ms, "ms"),
        Workload("W4", "W4: gcc -O2 -g -c analyzer/core/analyze.c (gcc, cc1, as)", w4,
                 elapsed_ms, "ms"),
        Workload("W5", f"W5: churn, {churn} times mmap 1 MiB, write a page, read a page, "
                 "munmap (faults in new mappings)", [wch, str(churn)], per_iter, "ns/iter"),
    ]


# ---------------------------------------------------------------- tools

def file_size(p):
    try:
        return os.path.getsize(p)
    except OSError:
        return 0


def count_lines(p, pat=None):
    n = 0
    rx = re.compile(pat) if pat else None
    with open(p, errors="replace") as f:
        for line in f:
            if rx is None or rx.search(line):
                n += 1
    return n


class Tool:
    slow = 1            # divides the pair count of W1/W2 by this
    outer_timeit = False
    note = ""

    def __init__(self, name, vmaprof=None):
        self.name = name
        self.vmaprof = vmaprof

    def probe(self, tmp):
        """Raise Skip(reason) when the tool cannot run here."""

    def command(self, inner, work):
        raise NotImplementedError

    def collect(self, work):
        return {}


class Bare(Tool):
    def command(self, inner, work):
        return inner


VALIDATE = False  # --validate: every report.json against the JSON Schema


class Vmaprof(Tool):
    def __init__(self, name, vmaprof, opts):
        super().__init__(name, vmaprof)
        self.opts = opts

    def command(self, inner, work):
        return [self.vmaprof, "record", "-o", os.path.join(work, "rec"), *self.opts, "--",
                *inner]

    def collect(self, work):
        d = os.path.join(work, "rec")
        if VALIDATE:
            v = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "validate_report.py"),
                                os.path.join(d, "report.json")], capture_output=True, text=True)
            if v.returncode != 0:
                raise RuntimeError(f"report.json fails the schema: {v.stdout[-500:]}{v.stderr[-300:]}")
        rep = json.load(open(os.path.join(d, "report.json")))
        ses = json.load(open(os.path.join(d, "session.json")))
        col = rep["collectors"]
        events = sum(c.get("events") or 0 for c in col.values())
        lost = sum(c.get("lost") or 0 for c in col.values())
        tb = sum(file_size(p) for p in glob.glob(os.path.join(d, "*.vpt")))
        r = {"events": events, "lost": lost, "bytes": tb,
             "report_bytes": file_size(os.path.join(d, "report.json"))}
        b = ses["collectors"]["bpf"]
        if b.get("programs") is not None:
            r["bpf"] = {"faults": b["faults"], "lost": b["lost"], "records": b["records"],
                        "programs": {p["name"]: (p["run_cnt"], p["run_time_ns"])
                                     for p in b["programs"]}}
        return r


FLOOR_TOOL = "floor: empty fault programs"
REC_FLOOR_TOOL = "floor: a minimal fault recorder"
FLOOR_TOOLS = (FLOOR_TOOL, REC_FLOOR_TOOL)


class Floor(Tool):
    """The program bare, with empty programs at the collector's two fault
    tracepoints (build/bench/sysfloor fault): what any program there costs
    per fault on this machine, the floor of the BPF cost per traced fault.
    With mode "record" (sysfloor record): a minimal recorder at the same
    points, which finds the faulting task's slot in task storage (the
    command's tree only), reads the clock and writes the fault's time,
    address and ip there: what any recorder that dates each fault of the
    traced tree pays, above which the collector's own work is."""

    def __init__(self, name, sysfloor, mode="fault"):
        super().__init__(name)
        self.sysfloor = sysfloor
        self.mode = mode
        self.note = ("empty BPF programs at page_fault_user and mm_page_alloc (bench/sysfloor), "
                     "BPF run-time statistics on; nothing recorded" if mode == "fault" else
                     "page_fault_user finds the task's slot in task storage (the command's tree "
                     "only: its first task gets one before its exec, fork children at "
                     "sched_process_fork), reads the clock, writes time, address and ip there; "
                     "mm_page_alloc empty (bench/sysfloor record); no batch, no ring buffer")

    def probe(self, tmp):
        if not os.access(self.sysfloor, os.X_OK):
            raise Skip(f"{self.sysfloor} not built (a build without the BPF collector)")
        try_run([self.sysfloor, self.mode, os.path.join(tmp, "floor-probe.txt"), "--", TRUE])

    def command(self, inner, work):
        return [self.sysfloor, self.mode, os.path.join(work, "floor.txt"), "--", *inner]

    def collect(self, work):
        fl = {"programs": {}}
        with open(os.path.join(work, "floor.txt")) as f:
            for line in f:
                w = line.split()
                if w[0] in ("faults", "first_task_faults"):
                    fl[w[0]] = int(w[1])
                elif w[0] == "prog":
                    fl["programs"][w[1]] = (int(w[2]), int(w[3]))
        if self.mode == "record" and not fl.get("first_task_faults"):
            raise RuntimeError("the minimal recorder saw no fault of the command's first task")
        return {"floor": fl}


class Strace(Tool):
    slow = SLOW_DIVISOR

    def probe(self, tmp):
        need("strace")
        try_run(["strace", "-f", "-qq", "-o", "/dev/null", TRUE])

    def command(self, inner, work):
        return ["strace", "-f", "-qq", "-e", "trace=%memory", "-o",
                os.path.join(work, "strace.txt"), "--", *inner]

    def collect(self, work):
        p = os.path.join(work, "strace.txt")
        return {"events": count_lines(p, r"^\d+ +\w+\("), "bytes": file_size(p), "lost": 0}


class Ltrace(Tool):
    slow = 50

    def probe(self, tmp):
        need("ltrace")
        try_run(["ltrace", "-f", "-e", "mmap", "-o", "/dev/null", TRUE])

    def command(self, inner, work):
        return ["ltrace", "-f", "-e", "mmap+munmap+mremap", "-o",
                os.path.join(work, "ltrace.txt"), *inner]

    def collect(self, work):
        p = os.path.join(work, "ltrace.txt")
        return {"events": count_lines(p, r"(mmap|munmap|mremap)\S*\("),
                "bytes": file_size(p), "lost": 0}


class PerfTrace(Tool):
    slow = SLOW_DIVISOR

    def probe(self, tmp):
        need("perf")
        ensure_tracefs()
        try_run(["perf", "trace", "-F", "all", "-e", "mmap", "-o", "/dev/null", "--", TRUE])

    def command(self, inner, work):
        return ["perf", "trace", "-F", "all", "-e", "mmap,munmap,mremap,mprotect,madvise,brk",
                "-o", os.path.join(work, "perf.txt"), "--", *inner]

    def collect(self, work):
        p = os.path.join(work, "perf.txt")
        lost = events = 0
        with open(p, errors="replace") as f:
            for line in f:
                m = re.match(r"LOST (\d+) events", line)
                if m:
                    lost += int(m.group(1))
                elif re.search(r"(fault|\w+\()", line):
                    events += 1
        return {"events": events, "lost": lost, "bytes": file_size(p)}


class Bpftrace(Tool):
    note = "counts faults per error code in the kernel: no per-event output"

    def probe(self, tmp):
        need("bpftrace")
        s = os.path.join(tmp, "probe.bt")
        with open(s, "w") as f:
            f.write(BPFTRACE_SCRIPT)
        try_run(["bpftrace", "-q", "-c", TRUE, s])

    def command(self, inner, work):
        s = os.path.join(work, "faults.bt")
        with open(s, "w") as f:
            f.write(BPFTRACE_SCRIPT)
        return ["bpftrace", "-q", "-o", os.path.join(work, "bpftrace.txt"), "-c",
                shlex.join(inner), s]

    def collect(self, work):
        n = 0
        with open(os.path.join(work, "bpftrace.txt"), errors="replace") as f:
            for line in f:
                m = re.match(r"@k?faults\[\d+\]: (\d+)", line)
                if m:
                    n += int(m.group(1))
        return {"events": n}


class Heaptrack(Tool):
    # heaptrack stops LD_PRELOAD from reaching children, so it must be the
    # direct parent of the program: timeit goes outside, and the RSS figure
    # is the largest of the program and heaptrack's own helper processes.
    outer_timeit = True
    note = "sees malloc, not mmap; RSS includes its helper process; follows no children"

    def probe(self, tmp):
        need("heaptrack")
        try_run(["heaptrack", "-o", os.path.join(tmp, "probe"), TRUE])

    def command(self, inner, work):
        return ["heaptrack", "-o", os.path.join(work, "heaptrack"), *inner]

    def collect(self, work):
        return {"bytes": sum(file_size(p) for p in glob.glob(os.path.join(work, "heaptrack*")))}


def need(prog):
    if not shutil.which(prog):
        raise Skip(f"{prog} is not installed (apt-get install it; ./bootstrap.sh bench does)")


def try_run(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise Skip(f"`{shlex.join(cmd)}` failed: {e}")
    if p.returncode != 0:
        err = (p.stderr or p.stdout).strip().splitlines()
        raise Skip(f"`{shlex.join(cmd)}` exits {p.returncode}: {err[-1] if err else ''}")


MOUNTED_TRACEFS = []


def ensure_tracefs():
    """perf trace reads syscall tracepoint formats from tracefs, which our
    machines do not mount; mount it for the run (unmounted at the end)."""
    t = "/sys/kernel/tracing"
    if os.path.exists(os.path.join(t, "events")):
        return
    p = subprocess.run(["mount", "-t", "tracefs", "nodev", t], capture_output=True, text=True)
    if p.returncode != 0:
        raise Skip(f"tracefs is not mounted and cannot be: {p.stderr.strip()}")
    MOUNTED_TRACEFS.append(t)


# ---------------------------------------------------------------- running

def run_one(tool, wl, timeit, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    tfile = os.path.join(work, "timeit.out")
    w = wl.command(tool.slow)
    if tool.outer_timeit:
        cmd = [timeit, tfile, *tool.command(w, work)]
    else:
        cmd = tool.command([timeit, tfile, *w], work)
    t0 = time.monotonic()
    # a hung tool must not eat the run's 10 minutes
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=work)
    e2e = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)}: exit {p.returncode}: {p.stderr[-800:]}")
    with open(tfile) as f:
        t = {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", f.read())}
    r = {"metric": wl.metric(p.stdout, t), "e2e": e2e, "rss": t["maxrss_kib"],
         "pairs": int(w[1]) * (int(w[2]) if len(w) > 2 else 1) if wl.pairs else None}
    r.update(tool.collect(work))
    return r


def analyzer_bench(build, vmaprof, timeit, tmp, nfault, rounds, real_dirs):
    """Analyzer throughput and peak RSS: a synthetic trace of nfault faults
    and the real recordings (W3, R1). Each run's --stats lines give the
    analysis's own clock and the symbolizer's time and counts; one more run
    writes the report to a file for its size."""
    res = []
    syn = os.path.join(tmp, "synthetic")
    subprocess.run([os.path.join(build, "bench", "gen_trace"), syn, str(nfault), "1000", "4"],
                   check=True, capture_output=True)
    cases = [(f"synthetic: {nfault} faults, 1000 mmaps, 4 forks", syn)] + real_dirs
    for title, d in cases:
        runs = []
        for _ in range(rounds):
            tf = os.path.join(tmp, "an.timeit")
            p = subprocess.run([timeit, tf, vmaprof, "report", d, "--stats", "-o", "/dev/null"],
                               capture_output=True, text=True, timeout=900)
            if p.returncode != 0:
                raise RuntimeError(f"vmaprof report {d}: {p.stderr[-500:]}")
            m = re.search(r"report of (\d+) records \((\d+) faults\)", p.stderr)
            an_s = re.search(r"read \+ analyse +([\d.]+) s", p.stderr)
            sy = re.search(r"symbolizer: ([\d.]+) s, (\d+) lookups, (\d+) answered by the "
                           r"\(space, ip\) cache, (\d+) resolved: (\d+) by the per-file cache, "
                           r"\d+ new file addresses", p.stderr)
            dw = re.search(r"(\d+) names from them, (\d+) from libdwfl", p.stderr)
            if not (m and an_s and sy and dw):
                raise RuntimeError(f"vmaprof report --stats: unexpected output {p.stderr[-500:]}")
            t = {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)", open(tf).read())}
            rec, flt = int(m.group(1)), int(m.group(2))
            # the whole command (read, analyse, symbolize, write JSON), not the
            # analyzer's own clock alone
            secs = t["elapsed_ns"] / 1e9
            runs.append({"rec_s": rec / secs, "flt_s": flt / secs, "rss": t["maxrss_kib"],
                         "records": rec, "faults": flt, "own": float(an_s.group(1)),
                         "secs": secs, "sym": float(sy.group(1)),
                         "counts": tuple(int(sy.group(i)) for i in range(2, 6))
                         + (int(dw.group(1)), int(dw.group(2)))})
        out = os.path.join(tmp, "an-report.json")
        subprocess.run([vmaprof, "report", d, "-o", out], check=True, capture_output=True,
                       timeout=900)
        size = file_size(out)
        os.unlink(out)
        res.append((title, runs, size))
    shutil.rmtree(syn, ignore_errors=True)
    return res


def disk_bytes(paths):
    """Bytes a set of files occupies on disk (allocated blocks), and apparent."""
    used = size = 0
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        used += st.st_blocks * 512
        size += st.st_size
    return used, size


def timed(cmd, timeout=RUN_TIMEOUT * 5, env=None):
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    t = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)}: exit {p.returncode}: {p.stderr[-500:]}")
    return t, p


def untraced_cost(vmaprof, tmp, rounds):
    """U1: a syscall-heavy program that is not traced (dd, 2M read/write
    calls), alone and while `vmaprof record -- sleep` runs elsewhere,
    alternated; the ratio of each pair. Twice: with the syscall hooks a
    recording starts with (the raw pair, its first 500 ms without fentry) and with the
    per-syscall tracepoints it switches to (VMAPROF_SYSCALL_HOOKS)."""
    dd = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"]
    modes = {"raw": "raw", "tracepoints": "tracepoints"}
    res = {"alone": []}
    res.update({m: [] for m in modes})
    ratio = {m: [] for m in modes}
    d = os.path.join(tmp, "u1")
    for _ in range(max(rounds, 3)):
        a, _ = timed(dd)
        res["alone"].append(a)
        for m, hooks in modes.items():
            shutil.rmtree(d, ignore_errors=True)
            rec = subprocess.Popen([vmaprof, "record", "-o", d, "--", "sleep", "60"],
                                   env=dict(os.environ, VMAPROF_SYSCALL_HOOKS=hooks),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                # the kernel collector is attached once the program runs
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not glob.glob(
                        os.path.join(d, "preload.*")):
                    time.sleep(0.05)
                time.sleep(0.2)
                b, _ = timed(dd)
            finally:
                rec.send_signal(2)
                rec.wait(timeout=60)
            res[m].append(b)
            ratio[m].append(b / a)
    shutil.rmtree(d, ignore_errors=True)
    return {"times": res, "ratio": ratio}


S1_FLOOR = "floor: sysfloor start -- true"


W3W_FLOOR = "floor: a minimal fault recorder"


def w3_whole(vmaprof, build, tmp, quick):
    """W3W: the W3 target's own measure, the whole command against the bare
    program, ratio of minimums over 7 alternated runs (2 of 64 MiB with --quick), the
    order reversed every other round. With sysfloor (a build with the
    collector) the minimal fault recorder beside them (`sysfloor record`:
    its fault programs, no start-up of ours, no report): the floor."""
    wc = [os.path.join(build, "bench", "w_cow"), "64" if quick else "512"]
    d = os.path.join(tmp, "w3w")
    sysfloor = os.path.join(build, "bench", "sysfloor")
    cmds = {"bare": wc, "vmaprof record": [vmaprof, "record", "-o", d, "--", *wc]}
    if os.access(sysfloor, os.X_OK):
        cmds[W3W_FLOOR] = [sysfloor, "record", os.path.join(tmp, "w3w-floor.txt"), "--", *wc]
    res = {k: [] for k in cmds}
    order = list(cmds)
    for r in range(2 if quick else 7):
        for k in (order if r % 2 == 0 else order[::-1]):
            shutil.rmtree(d, ignore_errors=True)
            res[k].append(timed(cmds[k])[0])
    shutil.rmtree(d, ignore_errors=True)
    res["mib"] = int(wc[1])
    return res


def startup_cost(vmaprof, tmp, rounds, sysfloor=None):
    """S1: `vmaprof record -- true`, whole command, against --no-bpf, strace
    and bare true, alternated; 5 runs of each per round. With sysfloor (a
    build with the collector): its `start` mode beside them, empty programs
    at every attach point a default recording attaches at start, loaded
    with libbpf and attached, then true run: the floor."""
    d = os.path.join(tmp, "s1")
    cmds = {"vmaprof record -- true": [vmaprof, "record", "-o", d, "--", TRUE],
            "vmaprof record --no-bpf -- true": [vmaprof, "record", "--no-bpf", "-o", d, "--",
                                                TRUE],
            "true": [TRUE]}
    if sysfloor and os.access(sysfloor, os.X_OK) and \
            subprocess.run([sysfloor, "start", "--", TRUE], capture_output=True).returncode == 0:
        cmds[S1_FLOOR] = [sysfloor, "start", "--", TRUE]
    if shutil.which("strace"):
        cmds["strace -f -o /dev/null true"] = ["strace", "-f", "-qq", "-o", "/dev/null", TRUE]
    res = {k: [] for k in cmds}
    for _ in range(max(rounds, 2) * 5):
        for k, c in cmds.items():
            shutil.rmtree(d, ignore_errors=True)
            res[k].append(timed(c)[0])
    shutil.rmtree(d, ignore_errors=True)
    return res


def footprint(vmaprof, build, tmp):
    """F1: what a recording leaves on disk: a process making 10 mapping calls
    (w_pairs 5), and 300 runs of /bin/true."""
    r = {}
    d = os.path.join(tmp, "f1")
    shutil.rmtree(d, ignore_errors=True)
    timed([vmaprof, "record", "-o", d, "--", os.path.join(build, "bench", "w_pairs"), "5"])
    rep = json.load(open(os.path.join(d, "report.json")))
    p = rep["processes"][0]
    r["ten_calls_disk"] = disk_bytes(glob.glob(os.path.join(d, "preload.*.vpt")))
    r["ten_calls_prefault"] = (p.get("kernel_counters") or {}).get("shim_prefault")
    shutil.rmtree(d, ignore_errors=True)
    timed([vmaprof, "record", "-o", d, "--", "sh", "-c",
           f"for i in $(seq 300); do {TRUE}; done"])
    r["true300_disk"] = disk_bytes(glob.glob(os.path.join(d, "*")))
    r["true300_traces"] = disk_bytes(glob.glob(os.path.join(d, "*.vpt")))
    shutil.rmtree(d, ignore_errors=True)
    return r


def build_cost(vmaprof, tmp, quick, rounds):
    """B1/R1: `make -j2` of bench/gen_build.py's project, bare and under
    `vmaprof record`, alternated (make clean before each); the traces it
    leaves. The last recording is kept for the analyzer figures (R1)."""
    src, rec = os.path.join(tmp, "build-src"), os.path.join(tmp, "build-rec")
    n = 10 if quick else 40
    subprocess.run([sys.executable, os.path.join(HERE, "gen_build.py"), src, "--files", str(n),
                    "--tests", str(n)], check=True)
    make = ["make", "-C", src, "-j2", "-s"]
    bare, traced, disk, nosig, phases = [], [], [], [], []
    for _ in range(max(rounds, 2)):
        subprocess.run(["make", "-C", src, "-s", "clean"], check=True, capture_output=True)
        bare.append(timed(make)[0])
        # the same without the signal stacks (on kernels from 6.14 on, a
        # signal sent from a tracepoint program is an IPI to the CPU itself)
        subprocess.run(["make", "-C", src, "-s", "clean"], check=True, capture_output=True)
        shutil.rmtree(rec, ignore_errors=True)
        nosig.append(timed([vmaprof, "record", "--no-signal-stacks", "-o", rec, "--", *make],
                           timeout=600)[0])
        subprocess.run(["make", "-C", src, "-s", "clean"], check=True, capture_output=True)
        shutil.rmtree(rec, ignore_errors=True)
        t, p = timed([vmaprof, "record", "--stats", "-o", rec, "--", *make], timeout=600)
        traced.append(t)
        phases.append(record_phases(p.stderr))
        disk.append(disk_bytes(glob.glob(os.path.join(rec, "*.vpt"))))
    nproc = len(json.load(open(os.path.join(rec, "report.json")))["processes"])
    title = f"R1: make -j2 of bench/gen_build.py --files {n} --tests {n} ({nproc} processes)"
    return {"bare": bare, "traced": traced, "disk": disk, "nproc": nproc, "nosig": nosig,
            "phases": phases,
            "report_bytes": file_size(os.path.join(rec, "report.json"))}, (title, rec)


PHASE_RE = re.compile(r"vmaprof:   (start-up|the program|stop|report) +([0-9.]+) s")


def record_phases(stderr):
    """`record --stats`' phases (start-up, the program, stop, report), in s."""
    return {k: float(v) for k, v in PHASE_RE.findall(stderr)}


def phase_medians(r):
    """The medians of a section's recorded runs' phases, and the ratio the
    command would have if the program ran at bare speed: (bare + start-up +
    stop + report) / bare. None unless every run printed its phases."""
    phases = r.get("phases")
    if not phases or not all(phases):
        return None
    m = {k: med([p.get(k, 0.0) for p in phases])
         for k in ("start-up", "the program", "stop", "report")}
    b = med(r["bare"])
    m["fixed ratio"] = (b + m["start-up"] + m["stop"] + m["report"]) / b
    return m


def phase_lines(r):
    """Where a recorded command's time goes (phase_medians), as a table."""
    m = phase_medians(r)
    if not m:
        return []
    return ["`record --stats` of the same recorded runs (medians, s):", "",
            "| start-up | the program | stop | report | the program over bare | "
            "(bare + start-up + stop + report) / bare |", "|---|---|---|---|---|---|",
            f"| {m['start-up']:.3f} | {m['the program']:.3f} | {m['stop']:.3f} | "
            f"{m['report']:.3f} | {m['the program'] - med(r['bare']):+.3f} | "
            f"{m['fixed ratio']:.2f}x |", ""]


def true_tree_cost(vmaprof, tmp, quick, rounds):
    """T1: the tree of a shell running /bin/true 300 times (F1's tree), the
    whole command bare and under `vmaprof record` (report written), in
    alternated; the ratio of the medians. Beside them, in the same
    rotation, the two halves of the cost: the kernel collector alone
    (--no-preload) and the shim alone (--no-bpf); and the tree with the
    shim preloaded but not recording (no VMAPROF_DIR: ld.so maps it,
    libunwind and liblzma into every process, its constructor returns),
    the floor of any recording with a preloaded shim."""
    n = 50 if quick else 300
    tree = ["sh", "-c", f"for i in $(seq {n}); do {TRUE}; done"]
    d = os.path.join(tmp, "t1")
    runs = {k: [] for k in ("bare", "loaded", "traced", "kernel", "shim")}
    opts = {"traced": [], "kernel": ["--no-preload"], "shim": ["--no-bpf"]}
    phases = []
    shim = os.path.join(os.path.dirname(vmaprof), "preload", "libvmaprof-preload.so")
    loaded = {k: v for k, v in os.environ.items() if not k.startswith("VMAPROF_")}
    loaded["LD_PRELOAD"] = shim
    for _ in range(rounds * 2):
        runs["bare"].append(timed(tree)[0])
        runs["loaded"].append(timed(tree, env=loaded)[0])
        for k, o in opts.items():
            shutil.rmtree(d, ignore_errors=True)
            st = ["--stats"] if k == "traced" else []
            t, p = timed([vmaprof, "record", *st, *o, "-o", d, "--", *tree])
            runs[k].append(t)
            if k == "traced":
                phases.append(record_phases(p.stderr))
                nproc = len(json.load(open(os.path.join(d, "report.json")))["processes"])
                rb = file_size(os.path.join(d, "report.json"))
    shutil.rmtree(d, ignore_errors=True)
    return {"n": n, **runs, "nproc": nproc, "report_bytes": rb, "phases": phases}


EXPORTS = ("html", "pprof", "perfetto", "folded")


def report_sizes(vmaprof, rec, tmp):
    """Z1: the build recording's report.json and each export of it, in
    bytes, with the time `vmaprof report` takes to write each."""
    r = {"json": (file_size(os.path.join(rec, "report.json")), None)}
    for fmt in EXPORTS:
        out = os.path.join(tmp, f"z1.{fmt}")
        t, _ = timed([vmaprof, "report", rec, "--format", fmt, "-o", out], timeout=900)
        r[fmt] = (file_size(out), t)
        os.unlink(out)
    return r


def hook(name, build, vmaprof, tmp, quick, rounds):
    """A section another script measures: bench/NAME.py's
    figures(build=, vmaprof=, tmp=, quick=, rounds=) -> dict (see the module
    comment); (figures, None), or (None, why it was not run)."""
    path = os.path.join(HERE, f"{name}.py")
    if not os.path.exists(path):
        return None, f"bench/{name}.py is not there"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
        fn = getattr(mod, "figures", None)
        if fn is None:
            return None, f"bench/{name}.py has no figures()"
        return fn(build=build, vmaprof=vmaprof, tmp=tmp, quick=quick, rounds=rounds), None
    except Exception as e:  # its failure is its section's, not the whole run's
        return None, f"bench/{name}.py failed: {type(e).__name__}: {str(e)[:300]}"


def fmt_range(vals, f="{:.0f}"):
    return f"{f.format(min(vals))}-{f.format(max(vals))}"


def med(vals):
    return statistics.median(vals)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=200000)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, 1 round: checks the harness, figures mean little")
    ap.add_argument("--only", help="workloads to run, e.g. W1,W3")
    ap.add_argument("--tools", help="tools to run (names as in the table's first word)")
    ap.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    ap.add_argument("--validate", action="store_true",
                    help="check every report.json against schema/report.schema.json")
    a = ap.parse_args()
    global VALIDATE
    VALIDATE = a.validate
    if a.quick:
        a.rounds, a.pairs = 1, 20000
    build = os.path.abspath(a.build)
    vmaprof = os.path.join(build, "vmaprof")
    timeit = os.path.join(build, "bench", "timeit")
    for p in (vmaprof, timeit):
        if not os.access(p, os.X_OK):
            sys.exit(f"bench: {p} missing: build first (./bootstrap.sh bench does)")
    if os.geteuid() != 0:
        sys.exit("bench: run as root (BPF collector, perf trace, bpftrace)")
    started = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="vmaprof-bench-")

    tools = [
        Bare("bare"),
        Vmaprof("vmaprof record", vmaprof, []),
        Vmaprof("vmaprof record --no-bpf", vmaprof, ["--no-bpf"]),
        Vmaprof("vmaprof record --no-bpf --no-stacks", vmaprof, ["--no-bpf", "--no-stacks"]),
        Vmaprof("vmaprof record --no-preload", vmaprof, ["--no-preload"]),
        Vmaprof("vmaprof record --bpf-stats", vmaprof, ["--bpf-stats"]),
        Floor(FLOOR_TOOL, os.path.join(build, "bench", "sysfloor")),
        Floor(REC_FLOOR_TOOL, os.path.join(build, "bench", "sysfloor"), "record"),
        Strace("strace -f -e trace=%memory"),
        Ltrace("ltrace -f -e mmap+munmap+mremap"),
        PerfTrace("perf trace -F all -e (memory syscalls)"),
        Bpftrace("bpftrace (faults per error code, pid tree)"),
        Heaptrack("heaptrack"),
    ]
    if a.tools:
        want = a.tools.split(",")
        tools = [t for t in tools if t.name.split()[0].rstrip(":") in want or t.name in want]
    skipped = []
    for t in list(tools):
        try:
            t.probe(tmp)
        except Skip as e:
            log(f"bench: skipping {t.name}: {e}")
            skipped.append((t.name, str(e)))
            tools.remove(t)
    wls = workloads(build, a.pairs, a.quick)
    if a.only:
        wls = [w for w in wls if w.key in a.only.split(",")]

    results = {}
    keep = {}
    hung = set()
    for r in range(a.rounds):
        for wl in wls:
            for t in tools:
                work = os.path.join(tmp, "run")
                if (wl.key, t.name) in hung:
                    continue
                try:
                    v = run_one(t, wl, timeit, work)
                except subprocess.TimeoutExpired:
                    log(f"bench: {wl.key} {t.name}: over {RUN_TIMEOUT} s, not run again")
                    hung.add((wl.key, t.name))
                    v = {"error": f"took over {RUN_TIMEOUT} s; killed"}
                except Exception as e:  # a tool failing on one workload: say so
                    log(f"bench: {wl.key} {t.name}: {e}")
                    v = {"error": str(e).splitlines()[0][:200]}
                results.setdefault((wl.key, t.name), []).append(v)
                if wl.key == "W3" and t.name == "vmaprof record" and "error" not in v:
                    # keep one real recording for the analyzer figures
                    dst = os.path.join(tmp, "w3-recording")
                    shutil.rmtree(dst, ignore_errors=True)
                    shutil.move(os.path.join(work, "rec"), dst)
                    keep["W3"] = dst
            log(f"bench: round {r + 1}/{a.rounds} {wl.key} done "
                f"({time.monotonic() - started:.0f} s)")
    real = [(f"real: the W3 recording ({wl.title})", keep["W3"])
            for wl in wls if wl.key == "W3" and "W3" in keep]
    extra = {}

    def want(key):
        return not a.only or key in a.only.split(",")
    for key, what, fn in (
            ("U1", "untraced dd", lambda: untraced_cost(vmaprof, tmp, a.rounds)),
            ("S1", "start-up", lambda: startup_cost(vmaprof, tmp, a.rounds,
                                                     os.path.join(build, "bench", "sysfloor"))),
            ("F1", "footprint", lambda: footprint(vmaprof, build, tmp)),
            ("W3W", "W3 whole, 7 alternated runs", lambda: w3_whole(vmaprof, build, tmp,
                                                                    a.quick)),
            ("T1", "300 x true end to end", lambda: true_tree_cost(vmaprof, tmp, a.quick,
                                                                    a.rounds))):
        if want(key):
            try:
                extra[key] = fn()
            except (RuntimeError, OSError, KeyError, subprocess.SubprocessError) as e:
                log(f"bench: {key} ({what}) not measured: {e}")
            log(f"bench: {key} done ({time.monotonic() - started:.0f} s)")
    if want("R1") or want("B1") or want("Z1"):
        try:
            extra["B1"], r1 = build_cost(vmaprof, tmp, a.quick, a.rounds)
            real.append(r1)
        except (RuntimeError, OSError, KeyError, subprocess.SubprocessError) as e:
            log(f"bench: R1/B1 (build recording) not measured: {e}")
        if want("Z1") and "B1" in extra:
            try:
                extra["Z1"] = report_sizes(vmaprof, r1[1], tmp)
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                log(f"bench: Z1 (report sizes of the build) not measured: {e}")
    an = analyzer_bench(build, vmaprof, timeit, tmp, 1000000 if a.quick else 10000000,
                        a.rounds, real)
    # other scripts' sections, last (the scale one is the longest); a script
    # that is not there or fails leaves its section saying so
    for key, name in (("E1", "e2e"), ("P1", "redis_attach"), ("L1", "scale")):
        if want(key):
            extra[key] = hook(name, build, vmaprof, tmp, a.quick, a.rounds)
            log(f"bench: {key} (bench/{name}.py) "
                f"{'done' if extra[key][0] is not None else 'not run: ' + extra[key][1]} "
                f"({time.monotonic() - started:.0f} s)")
    for t in MOUNTED_TRACEFS:
        subprocess.run(["umount", t])
    shutil.rmtree(tmp, ignore_errors=True)
    total = time.monotonic() - started

    text = render(a, wls, tools, skipped, results, an, total, extra)
    with open(a.out, "w") as f:
        f.write(text)
    print(text)


def target_floors(extra):
    """Floors of the Targets rows, by the start of the target's text: what
    the thing measured costs at the least, below any change of ours."""
    fl = extra.get("bpf_floor", {}).get("W3")
    rfl = extra.get("bpf_rec_floor", {}).get("W3")
    s1fl = (extra.get("S1") or {}).get(S1_FLOOR)
    f = {
        "BPF <= 150 ns per traced fault":
            (f"{fl[0]:.0f} ns ({fl[1]}): empty programs at page_fault_user and mm_page_alloc "
             "during bare W3 (this run)" +
             (f"; {rfl[0]:.0f} ns ({rfl[1]}): a minimal recorder there (task storage slot, "
              "clock, time/address/ip written; this run; bench/NOTES.md, what a fault's first "
              "touch of memory costs on this VM)" if rfl else "")) if fl else
            "116-153 ns: empty programs at the same tracepoints (bench/NOTES.md, issue 14)",
        "start-up: `vmaprof record -- true`":
            (f"{med(s1fl) * 1e3:.0f} ms ({fmt_range([x * 1e3 for x in s1fl], '{:.0f}')}): "
             "empty programs at every attach point a recording starts with, loaded with "
             "libbpf and attached, then true (`sysfloor start`, this run); what is ours "
             "above it is mostly the verifier (bench/NOTES.md, the verifier's share of the "
             "start)") if s1fl else
            "~25 ms: empty programs at the same attach points (`sysfloor start`; "
            "bench/NOTES.md, the verifier's share of the start)",
        "a process not traced slows":
            "fentry kernels only (this one refuses fentry): 0.99-1.03x in a 6.1 guest "
            "(tests/kernels/bench_untraced.py, bench/NOTES.md)",
        "a live Redis server":
            "this kernel: syscall tracepoints, every task's syscalls on the slow path",
    }
    w = extra.get("W3W")
    if w and w.get(W3W_FLOOR):
        f["W3 whole `vmaprof record`"] = (
            f"{min(w[W3W_FLOOR]) / min(w['bare']):.2f}x: the minimal fault recorder's whole "
            "command in the same rounds (its fault programs only: no start-up, no report)")
    t = extra.get("T1")
    if t and t.get("kernel"):
        f[f"{t['n']} x /bin/true end to end"] = (
            f"{med(t['loaded']) / med(t['bare']):.2f}x: the shim preloaded, not recording; "
            f"with the shim recording alone {med(t['shim']) / med(t['bare']):.2f}x, the kernel "
            f"collector alone {med(t['kernel']) / med(t['bare']):.2f}x; the recorder's start-up, "
            f"stop and report alone {fixed_ratio(t)} (this run)")
    b = extra.get("B1")
    if b and phase_medians(b):
        f["`make -j2` end to end"] = (
            f"{fixed_ratio(b)}: bare plus the recorder's start-up, stop and report (this run)")
    return f


def fixed_ratio(r):
    """phase_medians' fixed-cost ratio as text ("?" without the phases)."""
    m = phase_medians(r)
    return f"{m['fixed ratio']:.2f}x" if m else "?"


def with_floor(row, floors):
    """A Targets row `| target | measured | verdict |` with its floor and
    the kernel before the verdict."""
    cells = [c.strip() for c in row.strip().strip("|").split(" | ")]
    if len(cells) < 3:
        return row
    target = cells[0]
    floor = next((v for k, v in floors.items() if target.startswith(k)), "")
    return "| " + " | ".join(cells[:-1] + [floor, platform.release(), cells[-1]]) + " |"


def render(a, wls, tools, skipped, results, an, total, extra):
    L = []
    L += ["# vmaprof benchmark results", "",
          "Generated by `bench/run.py` (`./bootstrap.sh bench`); do not edit by hand.", "",
          f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
          f"- machine: {platform.node()}, {os.cpu_count()} CPUs, "
          f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') >> 30} GiB, "
          f"kernel {platform.release()}, {distro()}",
          f"- rounds: {a.rounds}; in each round every workload runs under every tool in turn; "
          f"whole run {total / 60:.1f} min", ""]
    L += ["How to read it: *workload time* is the program's own figure (W1/W2: its loop",
          "time per mmap+munmap pair; W3: the storm's wall time from mmap to the child's",
          "reaping; W4: fork-to-reap time of gcc), so tool start-up and post-processing are",
          "not in it; *end-to-end* is the whole command including those (vmaprof writes",
          "report.json after the program exits). Ratios are of medians. *Peak RSS* is the",
          "traced program's own (wait4 ru_maxrss of the program and its children).",
          f"*events* is what the tool wrote down (calls, faults); *lost* what it says it",
          f"dropped. strace and perf trace run {a.pairs // SLOW_DIVISOR} pairs on W1/W2, ltrace",
          f"{a.pairs // 50} (figures are per pair), to keep the run short. *trace bytes/event*",
          "is the size of what the tool wrote over its events (vmaprof: the trace files,",
          "whose 1 MiB segments are allocated ahead, so a run with few events shows big",
          "figures).", ""]
    if skipped:
        L += ["Skipped here:", ""]
        L += [f"- {n}: {why}" for n, why in skipped]
        L.append("")

    L += ["| workload | tool | workload time median | min-max | ratio to bare | "
          "end-to-end s | ratio | peak RSS MiB | events | lost | trace bytes/event |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    e2e_ratio, e2e_min_ratio, report_bytes = {}, {}, {}
    for wl in wls:
        bare = [v for v in results.get((wl.key, "bare"), []) if "error" not in v]
        bm = med([v["metric"] for v in bare]) if bare else None
        be = med([v["e2e"] for v in bare]) if bare else None
        for t in tools:
            vs = results.get((wl.key, t.name), [])
            ok = [v for v in vs if "error" not in v]
            if not ok:
                err = vs[0]["error"] if vs else "not run"
                L.append(f"| {wl.key} | {t.name} | failed: {err} | | | | | | | | |")
                continue
            m = med([v["metric"] for v in ok])
            e = med([v["e2e"] for v in ok])
            summary[(wl.key, t.name)] = m / bm if bm else None
            e2e_ratio[(wl.key, t.name)] = e / be if be else None
            if bare:
                e2e_min_ratio[(wl.key, t.name)] = (min(v["e2e"] for v in ok) /
                                                   min(v["e2e"] for v in bare))
            rb = [v["report_bytes"] for v in ok if v.get("report_bytes")]
            if rb:
                report_bytes[(wl.key, t.name)] = med(rb)
            ev = [v["events"] for v in ok if v.get("events") is not None]
            lost = [v["lost"] for v in ok if v.get("lost") is not None]
            by = [v["bytes"] / v["events"] for v in ok if v.get("bytes") and v.get("events")]
            pairs = ok[0]["pairs"]
            evs = f"{med(ev):.0f}" if ev else ""
            if pairs and ev:
                evs += f" ({pairs} pairs)"
            bys = f"{med(by):.0f}" if by else ""
            L.append(
                f"| {wl.key} | {t.name} | {m:.0f} {wl.unit} | "
                f"{fmt_range([v['metric'] for v in ok])} | {m / bm:.2f}x | {e:.2f} | "
                f"{e / be:.2f}x | {med([v['rss'] for v in ok]) / 1024:.1f} | {evs} | "
                f"{max(lost) if lost else ''} | {bys} |")
    L.append("")
    L += ["Workloads:", ""] + [f"- {wl.title}" for wl in wls]
    notes = [(t.name, t.note) for t in tools if t.note]
    if notes:
        L += ["", "Tool notes:", ""] + [f"- {n}: {x}" for n, x in notes]
    L.append("")

    # shim ns per call
    L += ["## Shim cost per call", "",
          "(workload time per pair under the configuration - bare) / 2 calls per pair.", "",
          "| workload | configuration | ns per call |", "|---|---|---|"]
    for wl in wls:
        if not wl.pairs:
            continue
        bare = [v["metric"] for v in results.get((wl.key, "bare"), []) if "error" not in v]
        for name in ("vmaprof record --no-bpf", "vmaprof record --no-bpf --no-stacks",
                     "vmaprof record"):
            vs = [v["metric"] for v in results.get((wl.key, name), []) if "error" not in v]
            if bare and vs:
                L.append(f"| {wl.key} | {name} | {(med(vs) - med(bare)) / 2:.0f} |")
    L.append("")

    # BPF cost
    L += ["## BPF cost per traced fault", "",
          "From `vmaprof record --bpf-stats` (kernel BPF run-time statistics on while",
          "recording): the sum of run_time_ns of every collector program, which run for",
          "every task in the system, divided by the faults traced for the program's tree.", "",
          "Σ ns / kernel record is the same sum over every record the collector wrote",
          "(faults and address-space system calls): the figure for W1/W2, which fault",
          "little.", "",
          "*fault programs* is the same sum over the three fault programs only",
          "(page_fault_user, page_fault_kernel, mm_page_alloc): the per-fault cost, apart",
          "from the system-call programs a workload's own mmap/munmap calls run.", "",
          "| workload | faults traced | records | lost | Σ ns / traced fault median | min-max | "
          "fault programs ns / traced fault | Σ ns / kernel record | "
          "per program: ns/run (runs per traced fault) |",
          "|---|---|---|---|---|---|---|---|---|"]
    bpf_fig = {}
    for wl in wls:
        ok = [v for v in results.get((wl.key, "vmaprof record --bpf-stats"), [])
              if "error" not in v and v.get("bpf")]
        if not ok:
            continue
        per, per_rec, per_f = [], [], []
        for v in ok:
            b = v["bpf"]
            tot = sum(ns for _, ns in b["programs"].values())
            per.append(tot / b["faults"] if b["faults"] else float("nan"))
            fp = sum(ns for n, (_, ns) in b["programs"].items()
                     if n in ("page_fault_user", "page_fault_kernel", "mm_page_alloc"))
            per_f.append(fp / b["faults"] if b["faults"] else float("nan"))
            per_rec.append(tot / b["records"] if b["records"] else float("nan"))
        b = ok[-1]["bpf"]
        progs = ", ".join(f"{n} {ns / c:.0f} ({c / b['faults']:.2f})"
                          for n, (c, ns) in sorted(b["programs"].items(), key=lambda x: -x[1][1])
                          if c and b["faults"])
        bpf_fig[wl.key] = med(per_f)
        L.append(f"| {wl.key} | {med([v['bpf']['faults'] for v in ok]):.0f} | "
                 f"{med([v['bpf']['records'] for v in ok]):.0f} | "
                 f"{max(v['bpf']['lost'] for v in ok)} | {med(per):.0f} | {fmt_range(per)} | "
                 f"{med(per_f):.0f} | {med(per_rec):.0f} | {progs} |")
    floor_fig = {}
    for tool in FLOOR_TOOLS:
        for wl in wls:
            ok = [v["floor"] for v in results.get((wl.key, tool), [])
                  if "error" not in v and v.get("floor", {}).get("faults")]
            if not ok:
                continue
            per_f = [sum(ns for _, ns in fl["programs"].values()) / fl["faults"] for fl in ok]
            fl = ok[-1]
            progs = ", ".join(f"{n} {ns / c:.0f} ({c / fl['faults']:.2f})"
                              for n, (c, ns) in sorted(fl["programs"].items()) if c)
            floor_fig.setdefault(tool, {})[wl.key] = (med(per_f), fmt_range(per_f))
            L.append(f"| {wl.key}, {tool} | {med([x['faults'] for x in ok]):.0f} (the kernel's "
                     f"count) | | | | | {med(per_f):.0f} | | {progs} |")
    extra["bpf_floor"] = floor_fig.get(FLOOR_TOOL, {})
    extra["bpf_rec_floor"] = floor_fig.get(REC_FLOOR_TOOL, {})
    L.append("")
    if floor_fig:
        L += ["*floor* rows: the same workload bare, over the faults the kernel counted for",
              "it (wait4's minflt + majflt). *empty fault programs*: empty programs at the two",
              "fault tracepoints the collector uses most (bench/sysfloor, `fault` mode), what",
              "any BPF program at those points costs per fault on this machine. *a minimal",
              "fault recorder*: at the same points, a program that finds the faulting task's",
              "slot in task storage (the command's tree only), reads the clock and writes the",
              "fault's time, address and ip there (`record` mode): what any recorder that",
              "dates each fault of a traced tree pays here; the collector's own work (the",
              "fault's record, its batch, the ring buffer, the classification's fields) is",
              "what lies above it. Both in the same run.", ""]

    # analyzer
    L += ["## Analyzer", "",
          "`vmaprof report DIR --stats -o /dev/null` (read, analyse, symbolize, write the JSON",
          "report); events/s over the whole command's wall time, peak RSS of the command.", "",
          "| trace | records | faults | fault events/s, analysis only (its own clock) | "
          "fault events/s, whole command | min-max | peak RSS MiB |",
          "|---|---|---|---|---|---|---|"]
    an_fault_rate = None
    for title, runs, size in an:
        fr = [r["flt_s"] for r in runs]
        own = [r["faults"] / r["own"] for r in runs if r["own"] > 0]
        if title.startswith("synthetic"):
            an_fault_rate = (med(own) if own else 0, med(fr))
        L.append(f"| {title} | {runs[0]['records']} | {runs[0]['faults']} | "
                 f"{med(own) / 1e6 if own else 0:.2f} M | {med(fr) / 1e6:.2f} M | "
                 f"{fmt_range([x / 1e6 for x in fr], '{:.2f}')} M | "
                 f"{max(r['rss'] for r in runs) / 1024:.0f} |")
    L.append("")
    L += ["Whole `vmaprof report` time per trace, the symbolizer's share (its own clock:",
          "answering lookups its (space, ip) cache did not hold) and its counts: lookups,",
          "answered by the (space, ip) cache, by the per-file cache; names found in the",
          "symbolizer's own index of a file's symbols, and asked of libdwfl.", "",
          "| trace | report MB | whole command s median | min-max | symbolizing s | "
          "lookups | (space, ip) hits | per-file hits | names from the index | libdwfl lookups |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    build_s = None
    for title, runs, size in an:
        secs = [r["secs"] for r in runs]
        c = runs[0]["counts"]
        if title.startswith("R1"):
            build_s = med(secs)
        L.append(f"| {title} | {size / 1e6:.1f} | {med(secs):.3f} | "
                 f"{fmt_range(secs, '{:.3f}')} | {med([r['sym'] for r in runs]):.3f} | "
                 f"{c[0]} | {c[1]} | {c[3]} | {c[4]} | {c[5]} |")
    L.append("")

    # issue 14's figures: untraced processes, start-up, footprint, the build
    fig = {}
    u = extra.get("U1")
    if u:
        fig["U1"] = {m: med(v) for m, v in u["ratio"].items()}
        L += ["## A process that is not traced", "",
              "`dd if=/dev/zero of=/dev/null bs=1 count=1000000` (2M system calls) alone, and",
              "while `vmaprof record -- sleep 60` runs elsewhere; alternated, ratio per pair.",
              "On a kernel without fentry (this one) a recording hooks system calls with the",
              "raw sys_enter/sys_exit pair for its first 500 ms, then with per-syscall",
              "tracepoints (bpf/README.md); each is measured fixed with VMAPROF_SYSCALL_HOOKS.", "",
              "| dd | s median | min-max | ratio to alone, median | min-max |",
              "|---|---|---|---|---|",
              f"| alone | {med(u['times']['alone']):.3f} | "
              f"{fmt_range(u['times']['alone'], '{:.3f}')} | | |"]
        for m in u["ratio"]:
            L.append(f"| while recording, {m} hooks | {med(u['times'][m]):.3f} | "
                     f"{fmt_range(u['times'][m], '{:.3f}')} | {med(u['ratio'][m]):.3f}x | "
                     f"{fmt_range(u['ratio'][m], '{:.3f}')} |")
        L.append("")
    w = extra.get("W3W")
    if w:
        L += ["## W3's whole command, alternated (W3W)", "",
              f"`w_cow {w.get('mib', 512)}` bare, under `vmaprof record` (start, recording, report) and under the",
              "minimal fault recorder (bench/sysfloor record: no start-up of ours, no report),",
              f"{len(w['bare'])} rounds, the order reversed every other round; ratios to bare.", "",
              "| command | s min | median | max | ratio of minimums | ratio of medians |",
              "|---|---|---|---|---|---|"]
        for k, v in w.items():
            if k == "mib":
                continue
            L.append(f"| {k} | {min(v):.3f} | {med(v):.3f} | {max(v):.3f} | "
                     f"{min(v) / min(w['bare']):.3f}x | {med(v) / med(w['bare']):.3f}x |")
        L.append("")
    st = extra.get("S1")
    if st:
        fig["S1"] = med(st["vmaprof record -- true"])
        L += ["## Start-up", "",
              "The whole command, fresh output directory each run, alternated.", "",
              "| command | ms median | min-max |", "|---|---|---|"]
        for k, v in st.items():
            L.append(f"| `{k}` | {med(v) * 1e3:.1f} | "
                     f"{fmt_range([x * 1e3 for x in v], '{:.1f}')} |")
        L.append("")
    f = extra.get("F1")
    if f:
        fig["F1"] = f
        L += ["## What a recording leaves behind", "",
              "Disk is allocated blocks (st_blocks) of the trace files; prefaulted pages is",
              "the report's kernel_counters.shim_prefault of the process.", "",
              "| recording | trace files on disk | apparent size | shim's prefaulted pages |",
              "|---|---|---|---|",
              f"| a process making 10 mapping calls (`w_pairs 5`) | "
              f"{f['ten_calls_disk'][0] / 1024:.0f} KiB | {f['ten_calls_disk'][1] / 1024:.0f} KiB | "
              f"{f['ten_calls_prefault']} |",
              f"| 300 runs of /bin/true (`sh -c 'for ...'`): the traces | "
              f"{f['true300_traces'][0] / 2**20:.1f} MiB | {f['true300_traces'][1] / 2**20:.1f} MiB | |",
              f"| the same: the whole directory (traces, session.json, report.json) | "
              f"{f['true300_disk'][0] / 2**20:.1f} MiB | {f['true300_disk'][1] / 2**20:.1f} MiB | |",
              ""]
    b = extra.get("B1")
    if b:
        fig["B1"] = med(b["traced"]) / med(b["bare"])
        fig["B1disk"] = med([x[0] for x in b["disk"]])
        L += ["## The build (B1)", "",
              f"`make -j2` of bench/gen_build.py's project ({b['nproc']} processes), `make clean`",
              "before each run, bare and under `vmaprof record` (end to end, report included),",
              "alternated.", "",
              "| bare s median | min-max | vmaprof record s median | min-max | "
              "ratio of medians | traces on disk | report.json |", "|---|---|---|---|---|---|---|",
              f"| {med(b['bare']):.2f} | {fmt_range(b['bare'], '{:.2f}')} | "
              f"{med(b['traced']):.2f} | {fmt_range(b['traced'], '{:.2f}')} | {fig['B1']:.2f}x | "
              f"{fig['B1disk'] / 1e6:.0f} MB | {b['report_bytes'] / 1e6:.1f} MB |", ""]
        if b.get("nosig"):
            L += ["In the same rotation, `vmaprof record --no-signal-stacks` (no stack for the "
                  "mappings the shim does not interpose: malloc's brk, ld.so's, libc's own): "
                  f"{med(b['nosig']):.2f} s median ({fmt_range(b['nosig'], '{:.2f}')}), "
                  f"{med(b['nosig']) / med(b['bare']):.2f}x.", ""]
        L += phase_lines(b)

    # issue 22's figures: a tree of many short processes, the build's
    # report and its exports, and the sections of bench/e2e.py, bench/scale.py
    t = extra.get("T1")
    if t:
        fig["T1"] = med(t["traced"]) / med(t["bare"])
        L += [f"## {t['n']} x /bin/true end to end (T1)", "",
              f"`sh -c 'for i in $(seq {t['n']}); do {TRUE}; done'` ({t['nproc']} processes), the "
              "whole command bare and under", "`vmaprof record` (report written), in "
              "alternated pairs.", "",
              "| bare s median | min-max | vmaprof record s median | min-max | "
              "ratio of medians | report.json |", "|---|---|---|---|---|---|",
              f"| {med(t['bare']):.2f} | {fmt_range(t['bare'], '{:.2f}')} | "
              f"{med(t['traced']):.2f} | {fmt_range(t['traced'], '{:.2f}')} | {fig['T1']:.2f}x | "
              f"{t['report_bytes'] / 1e6:.1f} MB |", ""]
        if t.get("kernel"):
            L += ["Where it goes, in the same rotation: each half of vmaprof alone "
                  "(ratio of medians against bare):", "",
                  "| recording | s median | min-max | ratio |", "|---|---|---|---|"]
            for k, what in (("loaded", "the shim preloaded, not recording (its load alone)"),
                            ("kernel", "kernel collector alone (`--no-preload`)"),
                            ("shim", "shim alone (`--no-bpf`)"), ("traced", "both (default)")):
                L.append(f"| {what} | {med(t[k]):.2f} | {fmt_range(t[k], '{:.2f}')} | "
                         f"{med(t[k]) / med(t['bare']):.2f}x |")
            L.append("")
        L += phase_lines(t)
    z = extra.get("Z1")
    if z:
        L += ["## Report sizes of the build (Z1)", "",
              f"The last B1 recording ({b['nproc']} processes): report.json as `record` wrote "
              "it, and each export", "`vmaprof report DIR --format FMT -o FILE` writes of it "
              "(the whole command's time).", "",
              "| output | MB | written in s |", "|---|---|---|",
              f"| report.json | {z['json'][0] / 1e6:.2f} | (by record) |"]
        L += [f"| {f} | {z[f][0] / 1e6:.2f} | {z[f][1]:.2f} |" for f in EXPORTS]
        L.append("")
    hooks = {}
    for key, name, title in (("E1", "e2e", "End to end, side by side"),
                             ("P1", "redis_attach", "A live Redis server under record -p"),
                             ("L1", "scale", "The analyzer at scale")):
        if key not in extra:
            continue
        h, why = extra[key]
        L += [f"## {title} (bench/{name}.py, {key})", ""]
        if h is None:
            L += [f"Not run: {why}.", ""]
            hooks[key] = why
            continue
        if key == "L1":
            need = ("events", "processes", "events_per_s", "peak_rss_bytes")
            miss = [k for k in need if h.get(k) is None]
            if miss:
                why = f"bench/scale.py gave no {', '.join(miss)}"
                L += [f"Not measured: {why}.", ""]
                hooks[key] = why
                continue
            L += [f"A synthetic recording of {h['events']} fault events across "
                  f"{h['processes']} processes, analysed by `vmaprof report`.", "",
                  "| events | processes | events/s | peak RSS MB |", "|---|---|---|---|",
                  f"| {h['events']} | {h['processes']} | {h['events_per_s'] / 1e6:.2f} M | "
                  f"{h['peak_rss_bytes'] / 1e6:.0f} |", ""]
        L += list(h.get("lines") or [])
        L.append("")
        hooks[key] = h

    # targets
    def verdict(ok):
        return "met" if ok else "MISSED"
    L += ["## Targets", "",
          "Each figure measured in this run, on this machine's kernel; *floor* is what no",
          "change of ours below that line can go under, where one applies (measured in this",
          "run, or where bench/NOTES.md says).", "",
          "| target | measured | floor | kernel | verdict |", "|---|---|---|---|---|"]
    first_row = len(L)
    s = summary.get(("W1", "vmaprof record --no-bpf"))
    if s:
        L.append(f"| shim with stacks on W1 <= 1.15x bare | {s:.2f}x | {verdict(s <= 1.15)} |")
    s = summary.get(("W1", "vmaprof record"))
    if s:
        L.append(f"| W1 under the full `vmaprof record` <= 1.25x bare | {s:.2f}x | "
                 f"{verdict(s <= 1.25)} |")
    s = e2e_ratio.get(("W1", "vmaprof record"))
    if s:
        L.append(f"| W1 whole `vmaprof record` (start, recording, report) <= 2.5x bare | "
                 f"{s:.2f}x | {verdict(s <= 2.5)} |")
    s = report_bytes.get(("W1", "vmaprof record"))
    if s:
        L.append(f"| W1 report.json <= 2 MB (repeated mappings folded) | {s / 1e6:.2f} MB | "
                 f"{verdict(s <= 2e6)} |")
    s = summary.get(("W3", "vmaprof record"))
    if s:
        L.append(f"| W3 under vmaprof record (shim + BPF) <= 1.05x bare | {s:.2f}x | "
                 f"{verdict(s <= 1.05)} |")
    s = e2e_min_ratio.get(("W3", "vmaprof record"))
    n = len([v for v in results.get(("W3", "vmaprof record"), []) if "error" not in v])
    w = extra.get("W3W")
    if w and w.get("vmaprof record"):
        s, n = min(w["vmaprof record"]) / min(w["bare"]), len(w["bare"])
    if s:
        L.append(f"| W3 whole `vmaprof record` (start, recording, report) <= 1.10x bare, ratio "
                 f"of minimums of {n} alternated runs | {s:.2f}x | {verdict(s <= 1.10)} |")
    if "W3" in bpf_fig:
        L.append(f"| BPF <= 150 ns per traced fault (W3, fault programs; the floor of empty "
                 f"programs at the same tracepoints: the floor rows above) | {bpf_fig['W3']:.0f} ns | "
                 f"{verdict(bpf_fig['W3'] <= 150)} |")
    if "W3" in bpf_fig and "W5" in bpf_fig:
        s = bpf_fig["W5"] / bpf_fig["W3"]
        L.append(f"| churn (W5) BPF cost per fault (fault programs) <= 1.5x the storm's (W3) | "
                 f"{bpf_fig['W5']:.0f} ns vs {bpf_fig['W3']:.0f} ns: {s:.2f}x | "
                 f"{verdict(s <= 1.5)} |")
    if "U1" in fig:
        for m, x in fig["U1"].items():
            L.append(f"| a process not traced slows <= 3% while vmaprof records (dd), "
                     f"{m} hooks | {(x - 1) * 100:+.1f}% | {verdict(x <= 1.03)} |")
    if "S1" in fig:
        L.append(f"| start-up: `vmaprof record -- true` <= 30 ms | {fig['S1'] * 1e3:.0f} ms | "
                 f"{verdict(fig['S1'] <= 0.030)} |")
    if "F1" in fig:
        f = fig["F1"]
        pf = f["ten_calls_prefault"]
        L.append(f"| 10 mapping calls: a few KiB of trace (here: <= 24 KiB), <= 16 prefaulted "
                 f"pages | {f['ten_calls_disk'][0] / 1024:.0f} KiB, {pf} pages | "
                 f"{verdict(f['ten_calls_disk'][0] <= 24576 and pf is not None and pf <= 16)} |")
        L.append(f"| 300 runs of /bin/true leave <= 40 MiB (the whole directory) | "
                 f"{f['true300_disk'][0] / 2**20:.1f} MiB | "
                 f"{verdict(f['true300_disk'][0] <= 40 * 2**20)} |")
    if "B1" in fig:
        L.append(f"| the build's traces <= 100 MB | {fig['B1disk'] / 1e6:.0f} MB | "
                 f"{verdict(fig['B1disk'] <= 100e6)} |")
        L.append(f"| `make -j2` end to end under vmaprof record <= 1.5x bare ({b['nproc']} "
                 f"processes) | {fig['B1']:.2f}x | {verdict(fig['B1'] <= 1.5)} |")
        rb = b["report_bytes"]
        L.append(f"| report.json of the build ({b['nproc']} processes) <= 8 MB | "
                 f"{rb / 1e6:.2f} MB | {verdict(rb <= 8e6)} |")
    s = e2e_ratio.get(("W4", "vmaprof record"))
    if s:
        L.append(f"| W4 end to end under vmaprof record <= 1.3x bare | {s:.2f}x | "
                 f"{verdict(s <= 1.3)} |")
    if "T1" in fig:
        L.append(f"| {extra['T1']['n']} x /bin/true end to end under vmaprof record <= 1.5x "
                 f"bare | {fig['T1']:.2f}x | {verdict(fig['T1'] <= 1.5)} |")
    h = hooks.get("L1")
    if isinstance(h, dict):
        L.append(f"| analysis at scale ({h['events']} events, {h['processes']} processes) >= "
                 f"15 M events/s | {h['events_per_s'] / 1e6:.2f} M/s | "
                 f"{verdict(h['events_per_s'] >= 15e6)} |")
        L.append(f"| analysis at scale: peak memory <= 2 GB | "
                 f"{h['peak_rss_bytes'] / 1e9:.2f} GB | "
                 f"{verdict(h['peak_rss_bytes'] <= 2e9)} |")
    elif h is not None:
        L.append(f"| analysis at scale >= 15 M events/s, <= 2 GB | not run: {h} | not run |")
    h = hooks.get("P1")
    if isinstance(h, dict) and h.get("ratio"):
        L.append(f"| a live Redis server's SET requests/s under `record -p` within 5% of "
                 f"unrecorded (kernel {platform.release()}) | {h['ratio']:.3f}x | "
                 f"{verdict(h['ratio'] >= 0.95)} |")
    elif h is not None:
        L.append(f"| Redis SET requests/s under `record -p` within 5% | not run: {h} | "
                 f"not run |")
    h = hooks.get("E1")
    if isinstance(h, dict):
        for what, measured, ok in h.get("targets") or ():
            L.append(f"| {what} | {measured} | {verdict(ok)} |")
    if an_fault_rate:
        own, whole = an_fault_rate
        L.append(f"| analyzer >= 5 M fault events/s (synthetic trace) | {own / 1e6:.2f} M/s "
                 f"analysing; {whole / 1e6:.2f} M/s for the whole `vmaprof report` | "
                 f"{verdict(own >= 5e6)} (analysis); {verdict(whole >= 5e6)} (whole command) |")
    if build_s is not None:
        L.append(f"| `vmaprof report` on the R1 build recording < 1.5 s | {build_s:.2f} s | "
                 f"{verdict(build_s < 1.5)} |")
    L[first_row:] = [with_floor(r, target_floors(extra)) for r in L[first_row:]]
    L.append("")
    notes_file = os.path.join(HERE, "NOTES.md")
    if os.path.exists(notes_file):
        L += ["## What the figures mean, and what remains", "",
              f"(from bench/NOTES.md, written by hand; the tables above are not)", ""]
        L.append(open(notes_file).read().strip())
        L.append("")
    return "\n".join(L)


def distro():
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown distribution"


if __name__ == "__main__":
    main()
