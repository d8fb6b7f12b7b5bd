# SPDX-License-Identifier: MIT
"""Checks of `vmaprof report --format perfetto|folded|pprof|html` against
the recording's report.json. vptest.Recording runs check_exports on every
recording a test makes (so every test recording is exported in all four
formats and read back: pprof by `go tool pprof`); tests/test_exports_*.py
use the same checks on workloads with known answers."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from vptest import VMAPROF, check, eq

CLASSES = ["demand_zero", "zero_page", "cow_copy", "cow_reuse", "file", "shmem",
           "shared_write", "other"]
MEASURED_TYPES = [(c, "faults") for c in CLASSES] + [
    ("pages_allocated", "pages"), ("populated", "pages"), ("bytes", "bytes")]


def proc_key(p):
    """A process's pid, unique in the report: in a PID namespace (where two
    containers may both have a pid 3) its host_pid."""
    return p.get("host_pid", p["pid"])


def proc_by_pid(r):
    return {proc_key(p): p for p in r.procs}

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
        want = p["name"] or os.path.basename(p["exe"] or "") or None
        check(named[pid] in (p["name"], want, f"pid {pid}"),
              f"pid {pid}'s track is named by its command: {named[pid]!r}, want {want!r}")
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
                # (a mapping shorter than a microsecond has dur 0: it may
                # touch another one's start after rounding, not overlap it)
                check(e["cat"] != "vma" or top["cat"] != "vma" or e["dur"] == 0 or
                      top["dur"] == 0,
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
    # entries report.json summarises (idle[], schema_version 3) are slices
    # too: per process, kind, label and path, as many and as many mappings
    idle = sum(i["entries"] for p in r.procs for i in p.get("idle", []))
    eq(len(vma_x), sum(len(p["vmas"]) for p in r.procs) + idle, "one slice per entry")
    for pid, p in procs.items():
        listed = {v["id"] for v in p["vmas"]}
        want, got = {}, {}
        for i in p.get("idle", []):
            k = (i["kind"], p["sites"][i["site"]]["label"], i["path"])
            n = want.get(k, (0, 0))
            want[k] = (n[0] + i["entries"], n[1] + i["mappings"])
        for (vpid, vid), e in vma_x.items():
            if vpid != pid or vid in listed:
                continue
            k = (e["args"]["kind"], e["args"]["label"], e["args"]["path"])
            n = got.get(k, (0, 0))
            got[k] = (n[0] + 1, n[1] + e["args"]["instances"])
            check(not any((e["args"]["faults"] or {}).values()), f"idle entry {vid}: no fault")
        eq(got, want, f"pid {pid}: the idle entries' slices against idle[]")
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
        if not p["faults"] or not p["faults"]["total"]:
            check(pid not in series, f"pid {pid}: counters without measured faults")
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
        check((procs[pid]["faults"] or {}).get("total", 0) > 0,
              f"counters only where there are faults")

    # forks: an instant on the parent and an arrow to the child, one per fork
    forks = sorted((e["args"]["parent"], e["args"]["child"], e["args"]["time_ns"],
                    e["args"]["cow_copy_parent"], e["args"]["cow_copy_child"])
                   for e in by_ph.get("i", []) if e["cat"] == "fork")
    want = sorted((f.get("parent_host_pid", f["parent"]), f.get("child_host_pid", f["child"]),
                   f["time_ns"], f["cow_copy_parent"], f["cow_copy_child"])
                  for f in r.report["forks"])
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
    eq(execs, sorted((proc_key(p), x["time_ns"], x["path"]) for p in r.procs for x in p["execs"]),
       "exec events = report.json execs[]")
    return by_ph

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
                frames = [f["function"] or ("%s+0x%x" % (os.path.basename(f["module"]),
                                                         f["module_offset"])
                                             if f["module"] else "0x%x" % f["ip"])
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

def go_tool():
    """The go command (exit 77 where it is missing: the set-up installs it)."""
    go = shutil.which("go")
    if not go:
        print("SKIP: go missing (apt install golang-go; bootstrap.sh test does)")
        raise SystemExit(77)
    return go


def go_env(home):
    """An environment for go with home as its HOME, build cache and GOPATH."""
    return dict(os.environ, HOME=home, GOCACHE=os.path.join(home, "cache"),
                GOPATH=os.path.join(home, "go"), PPROF_TMPDIR=home)


def go_pprof(*args):
    """`go tool pprof ARGS` with a private HOME and build cache: its stdout."""
    go = go_tool()
    home = tempfile.mkdtemp(prefix="vmaprof-gohome-")
    try:
        p = subprocess.run([go, "tool", "pprof", *args], capture_output=True, text=True,
                           env=go_env(home), timeout=300)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    eq(p.returncode, 0, f"go tool pprof {' '.join(args)}: {p.stderr}")
    return p.stdout

def num(s):
    """pprof's figure ("64faults", "0") as an integer."""
    m = re.match(r"-?\d+", s)
    check(m is not None, f"not a count: {s!r}")
    return int(m.group(0))

def raw(path):
    """`-raw`: the sample types ([(name, unit)], the default's index) and
    the samples as (values, pid)."""
    out = go_pprof("-raw", path)
    lines = out.splitlines()
    i = lines.index("Samples:")
    types, default = [], None
    for k, t in enumerate(lines[i + 1].split()):
        if t.endswith("[dflt]"):
            default = k
            t = t[:-len("[dflt]")]
        name, unit = t.split("/")
        types.append((name, unit))
    samples = []
    for line in lines[i + 2:]:
        if not line.startswith(" "):
            break
        m = re.match(r"\s+(-?\d+(?:\s+-?\d+)*):", line)
        if m:
            vals = [int(v) for v in m.group(1).split()]
            eq(len(vals), len(types), f"one value per type: {line}")
            samples.append([vals, None])
            continue
        m = re.search(r"\bpid:\[(\d+)\]", line)
        if m and samples and samples[-1][1] is None:
            samples[-1][1] = int(m.group(1))
        m = re.search(r"\bhost_pid:\[(\d+)\]", line)
        if m and samples:  # unique where pid is not (PID namespaces)
            samples[-1][1] = int(m.group(1))
    check(samples, f"no samples in:\n{out}")
    check(all(pid is not None for _, pid in samples), "every sample has its pid")
    return types, default, samples

def check_pprof_totals(r, path):
    """Each sample type summed over a process's samples is report.json's
    figure of that process: faults by class, pages allocated, populated
    pages, bytes mapped (its sites summed)."""
    types, default, samples = raw(path)
    # write stacks (docs/report.md "Write sites"): the write sites' copies,
    # scaled to the process's cow_copy, each rounded
    writes = "write_stacks" in r.report["collectors"]["bpf"]
    eq(types, MEASURED_TYPES + ([("cow_copy_writes", "copies")] if writes else []),
       "sample types")
    eq(types[default][0], "cow_copy", "the default sample type")
    for p in r.procs:
        want = [p["faults"][c] for c in CLASSES] + [
            p["pages_allocated"], p["populated"]["pages"],
            sum(s["bytes_mapped"] for s in p["sites"])]
        got = [sum(v[k] for v, pid in samples if pid == proc_key(p)) for k in range(len(types))]
        if writes:
            w = got.pop()
            types_ = types[:-1]
            cw = sum(x["copies"] for x in p.get("write_sites", []) if x["class"] == "cow_copy")
            # (each site's rounding: half a copy at most; sites <= samples)
            n = sum(x["samples"] for x in p.get("write_sites", [])) + 10
            check(w == 0 if cw == 0 else abs(w - p["faults"]["cow_copy"]) <= n,
                  f"pid {p['pid']}: cow_copy_writes {w} vs cow_copy {p['faults']['cow_copy']}")
        else:
            types_ = types
        eq(dict(zip([t for t, _ in types_], got)), dict(zip([t for t, _ in types_], want)),
           f"pid {p['pid']}: the profile's totals against report.json")
    pids = {pid for _, pid in samples}
    eq(pids, {proc_key(p) for p in r.procs}, "samples of every process, and only those")


def measured(r):
    return bool(r.report["collectors"]["bpf"]["active"])


def view_args(r):
    """The recording's own view options (--every-vma, --plumbing RULE), so an
    export shows what its report.json shows."""
    out, args = [], list(getattr(r, "args", ()))
    for i, a in enumerate(args):
        if a == "--every-vma":
            out.append(a)
        elif a == "--plumbing" and i + 1 < len(args):
            out += [a, args[i + 1]]
        elif a.startswith("--plumbing="):
            out.append(a)
    return out


def export(r, fmt, out=None):
    """`vmaprof report DIR --format fmt`: stdout (text), or the file written."""
    args = [VMAPROF, "report", r.dir, "--format", fmt, *view_args(r)]
    if out:
        args += ["-o", out]
    p = subprocess.run(args, capture_output=True, text=out is None, timeout=300)
    eq(p.returncode, 0, f"report --format {fmt}: {p.stderr}")
    return p.stdout


def check_html(r, path):
    """One file, nothing fetched from elsewhere, every process in it."""
    text = open(path, encoding="utf-8").read()
    check(text.lstrip().lower().startswith("<!doctype html"), "an HTML document")
    # the embedded data (program names, paths) is not markup: leave it out
    markup = re.sub(r'<script type="application/json"[^>]*>.*?</script>', "", text,
                    flags=re.S)
    check(len(markup) < len(text), "the data is embedded in the page")
    for m in re.finditer(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", markup, re.I):
        u = m.group(1)
        check(u.startswith(("#", "data:", "javascript:")) or u == "",
              f"the page refers to something outside itself: {u}")
    check(not re.search(r"@import|url\(\s*['\"]?https?:", markup, re.I), "no CSS from elsewhere")
    for p in r.procs:
        check(str(p["pid"]) in text, f"pid {p['pid']} in the page")


def check_exports(r):
    """Every format from this recording, each checked against report.json."""
    tmp = tempfile.mkdtemp(prefix="vmaprof-exports-")
    try:
        if r.procs:
            check_trace(r, json.loads(export(r, "perfetto")))
        folded = export(r, "folded")
        if measured(r):
            check_folded(r, folded)
        else:
            eq(folded, "", "no folded stacks without fault figures")
        pb = os.path.join(tmp, "p.pb.gz")
        export(r, "pprof", pb)
        with open(pb, "rb") as f:
            eq(f.read(2), b"\x1f\x8b", "the profile is gzipped")
        if shutil.which("go") and r.procs:
            if measured(r):
                check_pprof_totals(r, pb)
            else:
                types, _, _ = raw(pb)
                eq(types, [("bytes", "bytes")], "unmeasured: bytes mapped only")
        html = os.path.join(tmp, "r.html")
        export(r, "html", html)
        check_html(r, html)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
