# SPDX-License-Identifier: MIT
"""Kernel stacks end to end (bpf/README.md "Kernel stacks"): where no shim
records a mapping's call (a static binary, `record -p` on a running
process), the collector copies the user registers and the top of the user
stack at the call's exit and the analyzer unwinds it with the modules' CFI.
Workload: tests/workloads/w_kstack.c (built without frame pointers), whose
mappings come from map_a() and map_b(): the report's stacks must name them
with the exact counts, each mapping's one write a demand-zero fault, and
every process's faults balance against the kernel's counters. Every report
is validated against schema/report.schema.json."""
import json
import os
import subprocess
import time

import report3
from test_attach import Attach, Tmp, need_bpf
from test_report import Rec, check_totals
from vptest import check, eq, main, workload

WS = workload("w_kstack_static")
WD = workload("w_kstack")
A, B = 37, 23

# Kernel stacks where no shim announced itself are taken by default only
# where no shim is preloaded (record -p, --no-preload); these cases run
# static binaries in wrapped recordings, so they ask for them
# (bpf/collector.h kstack_no_shim). test_report.py's static case does not.
os.environ["VMAPROF_KERNEL_STACK_NO_SHIM"] = "1"


def funcs(stack):
    return [f.get("function") for f in stack]


def by_caller(raw, proc):
    """mappings, faults and pages per site whose stack holds map_a / map_b;
    each such site's stack must be one the kernel took (kernel_stacks)."""
    kst = [[raw["frames"][f] for f in raw["stacks"][i]] for i in raw.get("kernel_stacks", [])]
    out = {}
    for s in proc["sites"]:
        fs = funcs(s["stack"])
        for fn in ("map_a", "map_b"):
            if fn not in fs:
                continue
            check(fs.index(fn) > fs.index("map_pages") and "main" in fs and "_start" in fs,
                  f"{fn}'s whole stack, map_pages to _start: {fs}")
            o = out.setdefault(fn, [0, 0, 0])
            o[0] += s["mappings"]
            o[1] += s["faults"]["demand_zero"]
            o[2] += s["bytes_mapped"]
            check(s["stack"] in kst, f"{fn}'s stack is one of kernel_stacks")
    return out


def check_maps(raw, proc, a, b, what):
    got = by_caller(raw, proc)
    psz = os.sysconf("SC_PAGE_SIZE")
    eq(got.get("map_a"), [a, a, a * psz], f"{what}: map_a's mappings, faults, bytes")
    eq(got.get("map_b"), [b, b, b * 2 * psz], f"{what}: map_b's mappings, faults, bytes")


def t_static():
    """A static binary (no shim can load): every mapping's stack is the
    kernel's, unwound through static glibc's CFI."""
    with Rec([WS, "maps", str(A), str(B)]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.root()
        eq(p["preload"]["active"], False, "no shim in a static binary")
        check_maps(r.raw, p, A, B, "static")
        check_totals(r)
        s = json.load(open(os.path.join(r.dir, "session.json")))["collectors"]["bpf"]
        check(s["kernel_stacks"] >= A + B, f"session.json: kernel stacks taken: {s}")
        eq(s["lost"], 0, "nothing lost")
        check("map_pages" in r.stderr, f"the summary names the site:\n{r.stderr}")


def t_off():
    """VMAPROF_KERNEL_STACK=0: none taken, the entries say why as before."""
    env = dict(os.environ, VMAPROF_KERNEL_STACK="0")
    with Rec([WS, "maps", "3", "2"], env=env) as r:
        r.require_bpf()
        eq(r.raw.get("kernel_stacks"), None, "no kernel stacks in the report")
        eq(json.load(open(os.path.join(r.dir, "session.json")))["collectors"]["bpf"]
           ["kernel_stacks"], 0, "none taken")
        anon = [v for v in r.root()["vmas"] if v["origin"] == "syscall"]
        eq(len(anon), 5, "the five mappings (each faulted)")
        eq({(len(v["stack"]), v["stack_missing"]) for v in anon}, {(0, "no shim")},
           "no stack, and why")


def t_cut():
    """A stack deeper than the copy (40 frames of 1 KiB, copy 8 KiB): the
    innermost frames, and stack_missing says it was cut short."""
    with Rec([WS, "deep", "40"]) as r:
        r.require_bpf()
        v = [v for v in r.root()["vmas"] if v["origin"] == "syscall"]
        eq(len(v), 1, "map_a's one mapping")
        fs = funcs(v[0]["stack"])
        eq(fs[1:4], ["map_pages", "map_a", "deep_call"], "the innermost frames")
        check("main" not in fs and len(fs) < 40, f"cut before main: {fs}")
        eq(v[0]["stack_missing"], "kernel stack cut short: the copy of the stack ended",
           "why it stops")
    # a larger copy reaches main
    env = dict(os.environ, VMAPROF_KERNEL_STACK="56K")
    with Rec([WS, "deep", "40"], env=env) as r:
        v = [v for v in r.root()["vmas"] if v["origin"] == "syscall"]
        fs = funcs(v[0]["stack"])
        eq(fs.count("deep_call"), 41, f"every level with a 56 KiB copy: {fs}")
        check("main" in fs and "_start" in fs, f"down to _start: {fs}")
        eq(v[0].get("stack_missing"), None, "nothing missing")


def t_damaged():
    """A VP_REC_KSTACK whose copy claims more than the record holds is
    damage: counted, never unwound past the record; the report is still
    written and valid."""
    import struct
    from vptest import validate_report
    # (no write stacks: two damaged records in a row are one gap, counted once)
    with Rec([WS, "maps", "3", "2"], ["--write-stacks", "off"]) as r:
        r.require_bpf()
        path = os.path.join(r.dir, "bpf.vpt")
        data = bytearray(open(path, "rb").read())
        off, n = 4096, 0
        while off + 24 <= len(data):
            typ, _, size = struct.unpack_from("<HHI", data, off)
            if size < 8 or size % 8:
                break
            if typ == 25:  # VP_REC_KSTACK: stack_len at +28
                struct.pack_into("<I", data, off + 28, 0xFFFF0)
                n += 1
            off += size
        check(n >= 5, f"the kernel stacks in bpf.vpt: {n}")
        # unseal the header (hdr_crc 0, as a killed writer leaves it): the
        # last segment is then read unverified, record by record
        struct.pack_into("<I", data, 96, 0)
        open(path, "wb").write(bytes(data))
        out = os.path.join(r.tmp, "damaged.json")
        p = subprocess.run([os.environ.get("VMAPROF", "vmaprof"), "report", r.dir, "-o", out],
                           capture_output=True, text=True, timeout=120)
        eq(p.returncode, 0, f"report of a damaged trace: {p.stderr}")
        validate_report(out)
        rep = report3.expand(json.load(open(out)))
        check(rep["lost"]["damaged_records"] >= n, f"counted as damaged: {rep['lost']}")
        eq(rep.get("kernel_stacks"), None, "no stack from a damaged record")


def t_attach():
    """`record -p` on a dynamic program started without vmaprof: the
    mappings it makes in the window have their stacks (libc's CFI)."""
    need_bpf()
    w = subprocess.Popen([WD, "wait", str(A), str(B)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        pid = int(w.stdout.readline().split()[1])
        with Tmp() as d:
            a = Attach(os.path.join(d, "rec"), [pid])
            w.stdin.write("go\n")
            w.stdin.flush()
            eq(w.stdout.readline().strip(), "done", "the workload's maps")
            time.sleep(0.2)
            a.stop()
            eq(a.rc, 0, f"record -p's exit code: {a.err}")
            raw = json.load(open(os.path.join(a.dir, "report.json")))
            p = a.proc(pid)
            check_maps(raw, p, A, B, "attach")
            kc = p["kernel_counters"]
            eq(kc["difference"], 0, f"traced faults against the kernel's counters {kc}")
    finally:
        w.stdin.write("x\n")
        w.stdin.flush()
        w.wait(timeout=30)


if __name__ == "__main__":
    main({"static": t_static, "off": t_off, "cut": t_cut, "damaged": t_damaged,
          "attach": t_attach})
