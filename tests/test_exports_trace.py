#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`vmaprof report --format perfetto` and `--format folded` (docs/exports.md)
on real recordings: the trace's tracks, slices, counters and forks against
report.json, and the folded stacks' counts against report.json's faults."""
import json
import os
import subprocess
import tempfile

from vptest import VMAPROF, Recording, check, eq, main, workload

W = workload("w_faults")
WCXX = workload("w_cxx")
DEMO = os.path.join(os.path.dirname(VMAPROF), "vmaprof-demo")
CLASSES = ["demand_zero", "zero_page", "cow_copy", "cow_reuse", "file", "shmem",
           "shared_write", "other"]


class Rec(Recording):
    def __init__(self, cmd, args=()):
        super().__init__(cmd, args=args, prefix="vmaprof-exports-")

    def export(self, fmt, extra=()):
        p = subprocess.run([VMAPROF, "report", self.dir, "--format", fmt, *extra],
                           capture_output=True, text=True, timeout=300)
        eq(p.returncode, 0, f"report --format {fmt}: {p.stderr}")
        return p.stdout, p.stderr


def proc_by_pid(r):
    return {p["pid"]: p for p in r.procs}


def check_trace(r, doc):
    """Everything a trace must satisfy against its report.json; returns the
    events by phase."""
    check(isinstance(doc, dict) and isinstance(doc.get("traceEvents"), list),
          "a JSON object with traceEvents")
    evs = doc["traceEvents"]
    procs = proc_by_pid(r)
    origin = min(p["start_ns"] for p in r.procs if p["start_ns"])
    eq(doc["otherData"]["origin_ns"], origin, "ts 0 is the earliest process start")
    by_ph = {}
    for e in evs:
        by_ph.setdefault(e["ph"], []).append(e)
        check(isinstance(e["pid"], int) and isinstance(e["tid"], int), f"pid/tid ints: {e}")
        if e["ph"] != "M":
            check(isinstance(e["ts"], int) and e["ts"] >= 0, f"ts a whole number >= 0: {e}")
        if e["ph"] == "X":
            check(isinstance(e["dur"], int) and e["dur"] >= 0, f"dur >= 0: {e}")

    # every process with events is named, and is a process of the report
    named = {e["pid"]: e["args"]["name"] for e in by_ph["M"] if e["name"] == "process_name"}
    for e in evs:
        check(e["pid"] in named, f"pid {e['pid']} has events but no process_name")
    eq(set(named), set(procs), "one named track per process")
    for pid, p in procs.items():
        eq(named[pid], p["name"], f"pid {pid}'s track is named by its command")
    lanes = {(e["pid"], e["tid"]) for e in by_ph["M"] if e["name"] == "thread_name"}
    for e in by_ph["X"]:
        check((e["pid"], e["tid"]) in lanes, f"slice on an unnamed lane: {e}")

    # slices on one lane nest or are apart, never overlap partly
    per_lane = {}
    for e in by_ph["X"]:
        per_lane.setdefault((e["pid"], e["tid"]), []).append(e)
    for lane, xs in per_lane.items():
        xs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []
        for e in xs:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            if stack:
                top = stack[-1]
                check(e["ts"] + e["dur"] <= top["ts"] + top["dur"],
                      f"lane {lane}: {e['name']} [{e['ts']}+{e['dur']}] overlaps "
                      f"{top['name']} [{top['ts']}+{top['dur']}] partly")
                check(e["cat"] != "vma" and top["cat"] != "vma",
                      f"lane {lane}: mappings share a lane while both live: {e} {top}")
            stack.append(e)

    # the process slice: its lifetime, in microseconds since the origin
    for e in by_ph["X"]:
        if e["cat"] == "process":
            p = procs[e["pid"]]
            eq(e["ts"], (p["start_ns"] - origin) // 1000, f"pid {e['pid']} starts (us)")
            eq(e["ts"] + e["dur"], (p["end_ns"] - origin) // 1000, f"pid {e['pid']} ends (us)")

    # one slice per shown entry, where report.json puts it
    vma_x = {}
    for e in by_ph["X"]:
        if e["cat"] == "vma":
            key = (e["pid"], e["args"]["id"])
            check(key not in vma_x, f"entry {key} shown twice")
            vma_x[key] = e
    eq(len(vma_x), sum(len(p["vmas"]) for p in r.procs), "one slice per entry")
    for pid, p in procs.items():
        for v in p["vmas"]:
            e = vma_x.get((pid, v["id"]))
            check(e is not None, f"pid {pid} entry {v['id']} has no slice")
            end = v["destroyed_ns"] if v["destroyed_ns"] is not None else p["end_ns"]
            end = max(end, v["valid_from_ns"])
            eq((e["ts"], e["ts"] + e["dur"]),
               ((v["valid_from_ns"] - origin) // 1000, (end - origin) // 1000),
               f"pid {pid} entry {v['id']} span (us)")
            eq((e["args"]["instances"], e["args"]["kind"], e["args"]["label"], e["args"]["path"]),
               (v["instances"], v["kind"], v["label"], v["path"]), f"entry {v['id']} args")
            eq(e["args"]["faults"], v["faults"], f"entry {v['id']} faults")

    # counters: cumulative per class, ending at the process's faults
    series = {}
    for e in by_ph.get("C", []):
        eq(e["name"], "faults", "the counter's name")
        series.setdefault(e["pid"], []).append(e)
    for pid, p in procs.items():
        if not p["faults"]["total"]:
            continue
        cs = sorted(series.get(pid, []), key=lambda e: e["ts"])
        check(len(cs) >= 2, f"pid {pid} has fault counters")
        p_end = (p["end_ns"] - origin) // 1000
        for c in CLASSES:
            vals = [e["args"].get(c, 0) for e in cs]
            eq(vals[0], 0, f"pid {pid} {c} starts at 0")
            check(all(a <= b for a, b in zip(vals, vals[1:])), f"pid {pid} {c} monotonic: {vals}")
            eq(vals[-1], p["faults"][c], f"pid {pid} {c} counter ends at the process's faults")
        check(cs[0]["ts"] >= (p["start_ns"] - origin) // 1000 - 1,
              f"pid {pid}'s counters start with it")
    for pid in series:
        check(procs[pid]["faults"]["total"] > 0, f"counters only where there are faults")

    # forks: an instant on the parent and an arrow to the child, one per fork
    forks = sorted((e["args"]["parent"], e["args"]["child"], e["args"]["time_ns"],
                    e["args"]["cow_copy_parent"], e["args"]["cow_copy_child"])
                   for e in by_ph.get("i", []) if e["cat"] == "fork")
    want = sorted((f["parent"], f["child"], f["time_ns"], f["cow_copy_parent"],
                   f["cow_copy_child"]) for f in r.report["forks"])
    eq(forks, want, "fork events = report.json forks[]")
    for e in by_ph.get("i", []):
        if e["cat"] == "fork":
            eq(e["pid"], e["args"]["parent"], "a fork is on the parent's track")
            eq(e["ts"], (e["args"]["time_ns"] - origin) // 1000, "at the fork's time (us)")
    starts = {(e["id"], e["pid"], e["ts"]) for e in by_ph.get("s", [])}
    ends = {(e["id"], e["pid"], e["ts"]) for e in by_ph.get("f", [])}
    eq(starts, {(f[1], f[0], (f[2] - origin) // 1000) for f in want}, "flows start at the parent")
    eq(ends, {(f[1], f[1], (f[2] - origin) // 1000) for f in want}, "and end at the child")
    execs = sorted((e["pid"], e["args"]["time_ns"], e["args"]["path"])
                   for e in by_ph.get("i", []) if e["cat"] == "exec")
    eq(execs, sorted((p["pid"], x["time_ns"], x["path"]) for p in r.procs for x in p["execs"]),
       "exec events = report.json execs[]")
    return by_ph


def trace_of(r, extra=()):
    out, _ = r.export("perfetto", extra)
    return json.loads(out)


def folded_lines(text):
    """(stack, count) of each line; a line is `frames count`."""
    out = []
    for l in text.splitlines():
        stack, _, n = l.rpartition(" ")
        check(stack and n.isdigit(), f"a folded line: {l!r}")
        check("\n" not in stack and "\r" not in stack, "one line each")
        out.append((stack.split(";"), int(n)))
    return out


def check_folded(r, text):
    lines = folded_lines(text)
    stacks = [";".join(s) for s, _ in lines]
    eq(len(stacks), len(set(stacks)), "equal stacks merged into one line")
    tot = {c: 0 for c in CLASSES}
    names = {p["name"] for p in r.procs}
    for s, n in lines:
        check(s[0] in CLASSES, f"the root frame is the class: {s}")
        check(s[1] in names, f"then the process's command: {s}")
        check(len(s) >= 3 and all(s), f"then the stack: {s}")
        check(n > 0, "counts > 0")
        tot[s[0]] += n
    want = {c: sum(p["faults"][c] for p in r.procs) for c in CLASSES}
    eq(tot, want, "faults per class = report.json's, summed over processes")
    # each line from report.json's sites: the stack outermost first down to
    # the labelled frame (plumbing below it left out), equal lines summed
    clean = lambda f: "".join(" " if ord(ch) < 32 or ord(ch) == 127 else ch
                              for ch in f.replace(";", ","))
    expect = {}
    for p in r.procs:
        in_sites = {c: 0 for c in CLASSES}
        for s in p["sites"]:
            if s["label_frame"] is None:
                frames = [s["label"]]
            else:
                frames = [f["function"] or "%s@%x" % (os.path.basename(f["module"] or "?"),
                                                      f["ip"])
                          for f in s["stack"][s["label_frame"]:]][::-1]
            for c in CLASSES:
                in_sites[c] += s["faults"][c]
                if s["faults"][c]:
                    k = ";".join(clean(x) for x in [c, p["name"], *frames])
                    expect[k] = expect.get(k, 0) + s["faults"][c]
        for c in CLASSES:
            if p["faults"][c] > in_sites[c]:
                k = ";".join([c, clean(p["name"]), "[outside mappings]"])
                expect[k] = expect.get(k, 0) + p["faults"][c] - in_sites[c]
    eq(dict((";".join(s), n) for s, n in lines), expect, "the lines report.json's sites make")
    return lines


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
    e.report = json.load(open(path))
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
