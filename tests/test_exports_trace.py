#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`vmaprof report --format perfetto` and `--format folded` (docs/exports.md)
on real recordings: the trace's tracks, slices, counters and forks against
report.json, and the folded stacks' counts against report.json's faults."""
import json
import os
import subprocess
import tempfile

from exports_check import check_folded, check_trace
import report3
from vptest import VMAPROF, Recording, check, eq, main, workload

W = workload("w_faults")
WCXX = workload("w_cxx")
DEMO = os.path.join(os.path.dirname(VMAPROF), "vmaprof-demo")


class Rec(Recording):
    def __init__(self, cmd, args=()):
        super().__init__(cmd, args=args, prefix="vmaprof-exports-")

    def export(self, fmt, extra=()):
        p = subprocess.run([VMAPROF, "report", self.dir, "--format", fmt, *extra],
                           capture_output=True, text=True, timeout=300)
        eq(p.returncode, 0, f"report --format {fmt}: {p.stderr}")
        return p.stdout, p.stderr


def trace_of(r, extra=()):
    out, _ = r.export("perfetto", extra)
    return json.loads(out)


def t_demo():
    """The demo: a parent, two forked workers (one execs true); its trace
    and folded stacks against report.json."""
    with Rec([DEMO]) as r:
        r.require_bpf()
        eq(r.rc, 0, r.stderr)
        eq(len(r.report["forks"]), 2, "two forks")
        doc = trace_of(r)
        by_ph = check_trace(r, doc)
        check(any(e["cat"] == "image" for e in by_ph["X"]), "exec'd images are slices")
        lines = check_folded(r, r.export("folded")[0])
        cache = [n for s, n in lines if s[0] == "cow_copy" and s[-1] == "build_cache"]
        check(cache and max(cache) >= 4000,
              f"a worker's copies of the parent's cache, under build_cache: {cache}")
        check(any(s[-2:] == ["main", "build_cache"] for s, _ in lines),
              "root first: main before build_cache")


def t_cow():
    """w_faults cow: the child's copies rise after the fork, the parent's
    reuses after the child is gone; counters end at the report's counts."""
    n = 2000
    with Rec([W, "cow", str(n)]) as r:
        r.require_bpf()
        eq(r.rc, 0, r.stderr)
        by_ph = check_trace(r, trace_of(r))
        origin = min(p["start_ns"] for p in r.procs)
        fork = r.report["forks"][0]
        fork_us = (fork["time_ns"] - origin) // 1000
        child = [e for e in by_ph["C"] if e["pid"] == fork["child"]]
        rise = [e["ts"] for e in child if e["args"].get("cow_copy", 0) > 0]
        check(rise and min(rise) >= fork_us, "the child copies after the fork")
        parent = sorted((e for e in by_ph["C"] if e["pid"] == fork["parent"]),
                        key=lambda e: e["ts"])
        check(max(e["args"].get("cow_reuse", 0) for e in parent) >= n,
              "the parent's reuses are counted")
        # the n reuses come after the fork: the counter before it is far below
        before = [e["args"].get("cow_reuse", 0) for e in parent if e["ts"] < fork_us]
        check(not before or max(before) < n // 2, f"reuses before the fork: {before[-1:]}")
        check_folded(r, r.export("folded")[0])


def t_churn():
    """w_faults reuse: 5000 mappings folded into one entry: one slice from
    the first mapping to the last unmapping, saying 5000 instances."""
    n = 5000
    with Rec([W, "reuse", str(n)]) as r:
        r.require_bpf()
        by_ph = check_trace(r, trace_of(r))
        big = [e for e in by_ph["X"] if e["cat"] == "vma" and e["args"]["instances"] > 1]
        eq(len(big), 1, "one folded slice")
        eq((big[0]["args"]["instances"], big[0]["args"]["faults"]["demand_zero"]), (n, n),
           "n instances, n faults")
        check(f"x{n}" in big[0]["name"], f"the name says so: {big[0]['name']}")
        # --every-vma: one slice per mapping, still on lanes that never overlap
        every = check_trace_every(r)
        eq(len([e for e in every["X"] if e["cat"] == "vma" and e["args"]["label"] ==
                big[0]["args"]["label"] and e["args"]["bytes"] == big[0]["args"]["bytes"]]),
           n, "--every-vma: n slices")


def check_trace_every(r):
    """--every-vma's trace against --every-vma's report."""
    tmp = tempfile.mkdtemp(prefix="vmaprof-exports-every-")
    path = os.path.join(tmp, "every.json")
    p = subprocess.run([VMAPROF, "report", r.dir, "--every-vma", "-o", path],
                       capture_output=True, text=True)
    eq(p.returncode, 0, p.stderr)
    from vptest import validate_report
    validate_report(path)

    class Every:
        pass
    e = Every()
    e.report = report3.expand(json.load(open(path)))
    e.procs = e.report["processes"]
    os.unlink(path)
    os.rmdir(tmp)
    return check_trace(e, trace_of(r, ["--every-vma"]))


def t_folded_cxx():
    """w_cxx 64: the C++ method's 64 demand-zero faults, demangled, as the
    leaf of a stack rooted at demand_zero and the process."""
    with Rec([WCXX, "64"]) as r:
        r.require_bpf()
        eq(r.rc, 0, r.stderr)
        text = r.export("folded")[0]
        lines = check_folded(r, text)
        want = "ns::Type::method(unsigned long) 64"
        hit = [l for l in text.splitlines() if l.endswith(want)]
        eq(len(hit), 1, f"one line ending {want!r}:\n{text}")
        s = hit[0][:-3].split(";")
        eq(s[:2], ["demand_zero", r.root()["name"]], "under demand_zero and the process")
        check("main" in s[2:-1], f"main is an outer frame: {s}")
        check(not any("mmap" in f for f in s), f"allocator plumbing below the label is left out: {s}")
        check_trace(r, trace_of(r))


def t_folded_plumbing():
    """w_faults calloc: glibc's calloc maps the pages; the site is named by
    its caller, and the folded stack ends there, without calloc/malloc."""
    with Rec([W, "calloc", "300"]) as r:
        r.require_bpf()
        eq(r.rc, 0, r.stderr)
        root = r.root()
        site = max(root["sites"], key=lambda s: s["faults"]["demand_zero"])
        check(site["label_frame"] is not None and site["label_frame"] > 0,
              f"the busiest site has plumbing frames below its label: {site['label']}")
        lines = check_folded(r, r.export("folded")[0])
        hit = [s for s, n in lines if s[0] == "demand_zero" and s[-1] == site["label"]]
        check(hit, f"a demand_zero line ending at {site['label']}")
        check(not any("calloc" in f or "malloc" in f for s in hit for f in s),
              f"no allocator frames: {hit}")


def t_no_bpf():
    """Without the kernel collector: a trace without counters or fault
    figures, an empty folded profile that says why; both exit 0."""
    with Rec([W, "cow", "50"], args=["--no-bpf"]) as r:
        doc = trace_of(r)
        evs = doc["traceEvents"]
        eq([e for e in evs if e["ph"] == "C"], [], "no counters")
        check(all(e["args"]["faults"] is None for e in evs if e["ph"] == "X" and e["cat"] == "vma"),
              "entries' faults are null, not 0")
        eq(sum(1 for e in evs if e["ph"] == "X" and e["cat"] == "vma"),
           sum(len(p["vmas"]) for p in r.procs), "entries still shown")
        out, err = r.export("folded")
        eq(out, "", "no folded lines")
        check("kernel collector" in err, f"and says why: {err!r}")


def t_bad_input():
    """Not a recording, an unwritable output: exit 2 with a reason, no crash."""
    tmp = tempfile.mkdtemp(prefix="vmaprof-exports-bad-")
    try:
        for fmt in ("perfetto", "folded"):
            p = subprocess.run([VMAPROF, "report", tmp, "--format", fmt],
                               capture_output=True, text=True)
            eq(p.returncode, 2, f"{fmt} of an empty directory: {p.stderr}")
            check("no vmaprof recording" in p.stderr, f"says why: {p.stderr}")
        # a path that is not there, a file given for the directory: said so
        for path, why in ((os.path.join(tmp, "missing"), "No such file or directory"),
                          (os.path.abspath(__file__), "is not a directory")):
            p = subprocess.run([VMAPROF, "report", path], capture_output=True, text=True)
            eq(p.returncode, 2, f"report {path}: {p.stderr}")
            check(why in p.stderr, f"says why: {p.stderr}")
        with Rec([W, "touch", "10"]) as r:
            for fmt in ("perfetto", "folded"):
                p = subprocess.run([VMAPROF, "report", r.dir, "--format", fmt, "-o",
                                    "/dev/full"], capture_output=True, text=True)
                eq(p.returncode, 2, f"{fmt} to /dev/full: {p.stderr}")
                check("No space left" in p.stderr, f"says why: {p.stderr}")
    finally:
        os.rmdir(tmp)


if __name__ == "__main__":
    main({"demo": t_demo, "cow": t_cow, "churn": t_churn, "folded_cxx": t_folded_cxx,
          "folded_plumbing": t_folded_plumbing,
          "no_bpf": t_no_bpf, "bad_input": t_bad_input})
