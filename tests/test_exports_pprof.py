#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`vmaprof report DIR --format pprof` (docs/exports.md, "pprof"), read back
with the real reader, `go tool pprof` (Debian's golang-go): the functions and
counts it shows for known workloads, and every sample type summed per
process equal to report.json's figures."""
import os
import re
import subprocess

from exports_check import CLASSES, check_pprof_totals, go_pprof, num, raw
from vptest import VMAPROF, Recording, check, eq, main, workload

WCXX = workload("w_cxx")
W = workload("w_faults")


class Rec(Recording):
    def __init__(self, cmd, args=()):
        super().__init__(cmd, args=args, prefix="vmaprof-pprof-")

    def pprof(self):
        """Export the recording; the path of the profile."""
        out = os.path.join(self.tmp, "profile.pb.gz")
        p = subprocess.run([VMAPROF, "report", self.dir, "--format", "pprof", "-o", out],
                           capture_output=True, text=True, timeout=300)
        eq(p.returncode, 0, f"vmaprof report --format pprof: {p.stderr}")
        with open(out, "rb") as f:
            eq(f.read(2), b"\x1f\x8b", "the profile is gzipped")
        return out


def top(path, sample_index, *extra):
    """`-top` of one sample type, every node: {function: (flat, cum)}."""
    out = go_pprof("-top", f"-sample_index={sample_index}", "-nodefraction=0",
                   "-nodecount=1000000", *extra, path)
    check(f"Type: {sample_index}" in out, f"pprof shows {sample_index}:\n{out}")
    rows = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+)\s+\S+%\s+\S+%\s+(\S+)\s+\S+%\s+(.+)$", line)
        if m and m.group(1) != "flat":
            rows[m.group(3)] = (num(m.group(1)), num(m.group(2)))
    return rows


def stackless_labels(r, cls):
    """{label: faults of class cls} of the sites without a stack."""
    out = {}
    for p in r.procs:
        for s in p["sites"]:
            if not s["stack"] and s["faults"][cls]:
                out[s["label"]] = out.get(s["label"], 0) + s["faults"][cls]
    return out


def t_cxx():
    """A C++ method that maps 64 pages and writes each: pprof's top of
    demand_zero names the demangled method with 64 faults; stackless sites
    are frames named by their labels, with their faults; totals match."""
    with Rec([WCXX, "64"]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        path = r.pprof()
        rows = top(path, "demand_zero")
        want = "ns::Type::method(unsigned long)"
        check(want in rows, f"{want} in pprof's top: {sorted(rows)}")
        eq(rows[want][0], 64, f"{want}: its demand-zero faults")
        check("_ZN2ns4Type6methodEm" not in rows, "no mangled name shown")
        check("main" in rows and rows["main"][1] >= 64, f"its caller main: {rows.get('main')}")
        labels = stackless_labels(r, "demand_zero")
        check(labels, "the recording has stackless sites with faults")
        for label, n in labels.items():
            eq(rows.get(label, (None,))[0], n, f"stackless site {label!r}: a frame of its own")
        check_pprof_totals(r, path)


def t_fork_cow():
    """A fork whose child rewrites a 300-page region: cow_copy names the
    function that mapped it with exactly 300 copies, all in the child
    (-tagfocus on its pid label); the parent's later rewrite is 300
    reuses; -tagroot=process roots each process's copies; totals match for
    both processes."""
    n = 300
    with Rec([W, "cow", str(n)]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        eq(len(r.procs), 2, "parent and child")
        parent = r.root()
        child = [p for p in r.procs if p is not parent][0]
        site = [s for s in child["sites"] if s["faults"]["cow_copy"] == n]
        eq(len(site), 1, f"report.json: one site of the child with {n} copies")
        fn = site[0]["label"]
        # the parent's rewrite reuses its pages, but for those another
        # CPU's LRU batch still references (the kernel copies them: 10 of
        # 300 seen under load), as report.json says
        psite = [s for s in parent["sites"] if s["label"] == fn]
        pc = psite[0]["faults"]["cow_copy"] if psite else 0
        check(pc <= 16, f"the parent copied at most an LRU batch: {pc}")
        path = r.pprof()
        rows = top(path, "cow_copy")
        eq(rows.get(fn, (None,))[0], n + pc, f"{fn}: the region's copies in pprof")
        rows = top(path, "cow_copy", f"-tagfocus=pid={child['pid']}")
        eq(rows.get(fn, (None,))[0], n, f"{fn}: the copies are the child's")
        rows = top(path, "cow_copy", f"-tagfocus=pid={parent['pid']}")
        check(rows.get(fn, (0,))[0] == pc, f"the parent's as report.json says: {rows.get(fn)}")
        rows = top(path, "cow_reuse", f"-tagfocus=pid={parent['pid']}")
        eq(rows.get(fn, (None,))[0], n - pc, f"{fn}: the parent's reuses")
        rows = top(path, "cow_copy", "-tagroot=process")
        for p in (parent, child):
            node = f"{p['name']}[{p['pid']}]"
            eq(rows.get(node, (None, None))[1], p["faults"]["cow_copy"],
               f"-tagroot=process: {node} holds its process's copies")
        check_pprof_totals(r, path)


def t_populated_outside():
    """mlockall(MCL_FUTURE), then a 200-page mapping: pprof's populated
    names main with 200 pages; the faults no mapping covered are one frame
    of their own, as many as report.json's faults_outside_vmas."""
    n = 200
    with Rec([W, "mlockall", str(n)]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        root = r.root()
        path = r.pprof()
        rows = top(path, "populated")
        eq(rows.get("main", (None,))[0], n, "main: the pages mlockall populated")
        outside = sum(top(path, c).get("[faults outside any mapping]", (0,))[0]
                      for c in CLASSES)
        eq(outside, root["faults_outside_vmas"], "faults outside any mapping")
        check_pprof_totals(r, path)


def t_unmeasured():
    """Without the kernel collector no fault was measured: the profile has
    one sample type, bytes mapped, its sum report.json's."""
    with Rec([W, "cow", "50"], args=["--no-bpf"]) as r:
        eq(r.report["collectors"]["bpf"]["active"], False, "no kernel collector")
        path = r.pprof()
        types, default, samples = raw(path)
        eq(types, [("bytes", "bytes")], "only bytes mapped was measured")
        eq(default, 0, "and it is the default")
        for p in r.procs:
            eq(sum(v[0] for v, pid in samples if pid == p["pid"]),
               sum(s["bytes_mapped"] for s in p["sites"]), f"pid {p['pid']}: bytes mapped")


def t_bad_output():
    """Errors are said, not crashes: an output in a missing directory, a
    directory that holds no recording."""
    with Rec([W, "touch", "4"]) as r:
        bad = os.path.join(r.tmp, "missing", "p.pb.gz")
        p = subprocess.run([VMAPROF, "report", r.dir, "--format", "pprof", "-o", bad],
                           capture_output=True, text=True)
        eq(p.returncode, 2, f"exit status: {p.stderr}")
        check("missing" in p.stderr and "No such file" in p.stderr, f"says why: {p.stderr}")
        check(not os.path.exists(bad), "no file")
        empty = os.path.join(r.tmp, "empty")
        os.mkdir(empty)
        p = subprocess.run([VMAPROF, "report", empty, "--format", "pprof", "-o",
                            os.path.join(r.tmp, "e.pb.gz")], capture_output=True, text=True)
        eq(p.returncode, 2, f"exit status: {p.stderr}")
        check("no vmaprof recording" in p.stderr, f"says why: {p.stderr}")


if __name__ == "__main__":
    main({
        "cxx": t_cxx,
        "fork-cow": t_fork_cow,
        "populated-outside": t_populated_outside,
        "unmeasured": t_unmeasured,
        "bad-output": t_bad_output,
    })
