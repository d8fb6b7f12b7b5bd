#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Call sites, labels and the summary on real programs (docs/report.md,
"Call sites"): a CPython fork whose worker copies its parent's object
arenas, a C++ method that maps memory, a churn loop folded exactly."""
import os
import re
import shutil
import subprocess
import tempfile

import exports_check
import report3
from vptest import VMAPROF, Recording, check, eq, main, workload

HERE = os.path.dirname(os.path.abspath(__file__))
# Debian's python3.11-dbg: an interpreter whose symbols name _PyObject_ArenaMmap
# (Debian's /usr/bin/python3 is stripped). bootstrap.sh installs it.
PYTHON_DBG = "/usr/bin/python3.11d"
WCXX = workload("w_cxx")
W = workload("w_faults")


class Rec(Recording):
    def __init__(self, cmd, args=()):
        super().__init__(cmd, args=args, prefix="vmaprof-sites-")


def summary_block(text, head_re):
    """The lines of one process's block in the summary (after its head)."""
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if re.match(head_re, l.strip()):
            out = []
            for m in lines[i + 1:]:
                if not m.strip():
                    break
                out.append(m)
            return out
    raise AssertionError(f"no block {head_re!r} in:\n{text}")


def rows(block, cls):
    """(faults, call site) of the summary's rows of one class."""
    out = []
    for l in block:
        m = re.match(r"\s+" + cls + r"\s+(\d+)\s+\S+ \S+\s+\S+ \S+\s+\d+\s+(.*)$", l)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return out


def label_sum(proc, label, cls):
    return sum(s["faults"][cls] for s in proc["sites"] if s["label"] == label)


def t_python_fork():
    """A forked CPython worker reads every entry of its parent's dict: the
    reference-count writes copy the object arenas. The worker's summary names
    _PyObject_ArenaMmap once, with all of the arenas' copies summed over
    every stack that reached it; the fork names it too."""
    if not os.path.exists(PYTHON_DBG):
        print(f"SKIP: {PYTHON_DBG} missing (apt install python3.11-dbg; bootstrap.sh does)")
        raise SystemExit(77)
    with Rec([PYTHON_DBG, os.path.join(HERE, "workloads", "w_pyfork.py"), "200000"]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        eq(len(r.procs), 2, "parent and worker")
        parent = r.root()
        child = [p for p in r.procs if p is not parent][0]
        arena = label_sum(child, "_PyObject_ArenaMmap", "cow_copy")
        check(arena * 10 >= child["faults"]["cow_copy"] * 8,
              f"most of the worker's copies are in arenas: {arena} of "
              f"{child['faults']['cow_copy']}")
        check(arena >= 2000, f"the dict's arenas were copied: {arena} pages")
        check(len([s for s in child["sites"] if s["label"] == "_PyObject_ArenaMmap"]) >= 1,
              "sites labelled by the arena allocator, not by mmap or malloc")
        block = summary_block(r.stderr, rf"pid {child['pid']} \S+:")
        named = [(n, site) for n, site in rows(block, "cow_copy")
                 if site.startswith("_PyObject_ArenaMmap")]
        eq(len(named), 1, f"the worker's summary names the arena allocator once:\n"
           + "\n".join(block))
        eq(named[0][0], arena, "with all of its copies")
        fork = r.report["forks"][0]
        eq(fork["sites_child"][0]["label"], "_PyObject_ArenaMmap", "the fork's top site")
        wide = [l for l in r.stderr.splitlines() if len(l) > 100]
        eq(wide, [], "the summary fits 100 columns")
        check(f"in _PyObject_ArenaMmap" in r.stderr, f"the summary's fork line names it:\n{r.stderr}")


def t_cxx():
    """A C++ method that maps 64 pages and writes each: the site is named by
    the demangled method, the frame keeps the mangled symbol, the summary
    shows the method; every page is one demand-zero fault."""
    with Rec([WCXX, "64"]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        root = r.root()
        want = "ns::Type::method(unsigned long)"
        s = [x for x in root["sites"] if x["label"] == want]
        eq(len(s), 1, f"one site named {want}: {[x['label'] for x in root['sites']]}")
        s = s[0]
        f = s["stack"][s["label_frame"]]
        eq((f["function"], f["mangled"]), (want, "_ZN2ns4Type6methodEm"), "frame names")
        eq((s["faults"]["demand_zero"], s["mappings"], s["bytes_mapped"]),
           (64, 1, 64 * r.report["page_size"]), "its faults and mapping")
        v = [e for e in root["vmas"] if e["site"] == s["id"]]
        eq([e["label"] for e in v], [want], "its entry carries the label")
        check(any(want in l for l in summary_block(r.stderr, rf"pid {root['pid']} ")),
              f"the summary shows the demangled name:\n{r.stderr}")


GO_MAIN = """package main
%s
import (
	"fmt"
	"syscall"
)

//go:noinline
func rawMap(n int) []byte {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE) // MMAP
	if err != nil {
		panic(err)
	}
	return b
}

func main() {
	b := rawMap(64 << 12) // CALL
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	fmt.Println(%s, len(b))
}
"""
CGO = """
/*
int add(int a, int b) { return a + b; }
*/
import "C"
"""


def t_go():
    """A Go program's syscall.Mmap, built without and with cgo: the site is
    named by its caller (main.rawMap, docs/labels.md). Without cgo, the
    frame of main.rawMap is at the line of the call that was inlined into it
    (syscall.Mmap), not the inlined callee's. With cgo, only the C units
    have .debug_aranges: Go code is still at its own files, not taken for
    runtime/cgo's gcc_mmap.c (libdwfl's gap-blind lookup); the stacks of the
    threads cgo starts (unwound through asmcgocall) keep no frame at an
    address no code can be at."""
    go = exports_check.go_tool()
    d = tempfile.mkdtemp(prefix="vmaprof-go-")
    try:
        env = dict(exports_check.go_env(d), GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
        for cgo in (0, 1):
            src = os.path.join(d, f"m{cgo}")
            os.makedirs(src)
            text = GO_MAIN % ((CGO, "C.add(1, 2)") if cgo else ("", "3"))
            open(os.path.join(src, "main.go"), "w").write(text)
            open(os.path.join(src, "go.mod"), "w").write(f"module m{cgo}\ngo 1.19\n")
            lines = text.splitlines()
            mmap_line = next(i for i, l in enumerate(lines, 1) if l.endswith("// MMAP"))
            call_line = next(i for i, l in enumerate(lines, 1) if l.endswith("// CALL"))
            exe = os.path.join(src, "prog")
            b = subprocess.run([go, "build", "-o", exe, "."], cwd=src, capture_output=True,
                               text=True, env=dict(env, CGO_ENABLED=str(cgo)), timeout=600)
            eq(b.returncode, 0, f"go build (cgo {cgo}): {b.stderr}")
            with Rec([exe]) as r:
                r.require_bpf()
                eq(r.rc, 0, f"exit status: {r.stderr}")
                s = [x for p in r.procs for x in p["sites"] if x["label"] == "main.rawMap"]
                eq(len(s), 1, f"cgo {cgo}: one site main.rawMap: "
                   f"{[x['label'] for p in r.procs for x in p['sites']]}")
                f = {fr["function"]: fr for fr in s[0]["stack"]}
                check("main.rawMap" in f and "main.main" in f, f"cgo {cgo}: frames {list(f)}")
                for fn in ("main.rawMap", "main.main"):
                    check(f[fn]["file"] == os.path.join(src, "main.go"),
                          f"cgo {cgo}: {fn} in {f[fn]['file']}:{f[fn]['line']}")
                eq(f["main.main"]["line"], call_line, f"cgo {cgo}: main.main's line")
                if not cgo:
                    # (with cgo, Go 1.19 writes the inlined call's line as
                    # in cgo's rewritten file: its DW_AT_call_line is off)
                    eq(f["main.rawMap"]["line"], mmap_line, "main.rawMap's line: its own")
                eq(s[0]["faults"]["demand_zero"], 64, f"cgo {cgo}: its faults")
                # unwound through asmcgocall (pthread_create's stacks), the
                # kernel-taken stacks keep no frame where no code can be
                bad = [f for f in r.raw["frames"] if "ip" in f and not 0 <= f["ip"] < 1 << 56]
                eq(bad, [], f"cgo {cgo}: frames at impossible addresses")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def t_plumbing_flag():
    """--plumbing names one more frame as plumbing: the label moves to its
    caller; a bad rule is refused before anything runs."""
    with Rec([WCXX, "8"], args=["--plumbing", "ns::Type::method*"]) as r:
        r.require_bpf()
        root = r.root()
        labels = [x["label"] for x in root["sites"] if x["stack"] and x["faults"]["demand_zero"] == 8]
        eq(labels, ["main"], "the method is plumbing now: its caller names the site")
    p = subprocess.run([VMAPROF, "record", "--plumbing", "[", "--", "true"],
                       capture_output=True, text=True)
    eq(p.returncode, 2, "a bad rule: exit 2")
    check("--plumbing '['" in p.stderr and "unterminated" in p.stderr,
          f"and says why: {p.stderr}")


def t_fold_churn():
    """20,000 mmap/touch/munmap pairs from one line: one folded entry, every
    fault counted, the report small; --every-vma gives the same sites."""
    n = 20000
    with Rec([W, "reuse", str(n)]) as r:
        r.require_bpf()
        root = r.root()
        big = [e for e in root["vmas"] if e["instances"] > 1]
        eq(len(big), 1, "one folded entry")
        e = big[0]
        eq((e["instances"], e["faults"]["demand_zero"]), (n, n), "n mappings, n faults")
        size = os.path.getsize(os.path.join(r.dir, "report.json"))
        check(size < 400_000, f"report.json stays small: {size} bytes")
        every = os.path.join(r.tmp, "every.json")
        p = subprocess.run([VMAPROF, "report", r.dir, "--every-vma", "-o", every],
                           capture_output=True, text=True)
        eq(p.returncode, 0, p.stderr)
        import json
        full = report3.expand(json.load(open(every)))
        froot = [q for q in full["processes"] if q["pid"] == root["pid"]][0]
        idle = sum(i["entries"] for i in root["idle"])
        eq(full["every_vma"], True, "--every-vma says so")
        eq(froot["idle"], [], "--every-vma: nothing summarised")
        eq(len(froot["vmas"]), len(root["vmas"]) + idle + n - 1,
           "--every-vma: one entry each (the idle ones listed too)")
        key = lambda p: sorted((s["key"], s["mappings"], s["bytes_mapped"], s["peak_live_bytes"],
                                s["faults"]["total"], s["pages_allocated"]) for s in p["sites"])
        eq(key(froot), key(root), "the same sites, folded or not")


def t_diff():
    """vmaprof diff on real recordings: two runs of one program print only
    the verdict; a run that maps twice as much names the demangled method
    that grew and fails the bound."""
    # one bare run first: with the program and its libraries in the page
    # cache, no recording pays for reading them in (pages a cold first run
    # allocates in its file faults that a second would not)
    subprocess.run([WCXX, "64"], capture_output=True, check=True)
    with Rec([WCXX, "64"]) as a, Rec([WCXX, "64"]) as b, Rec([WCXX, "128"]) as c:
        a.require_bpf()
        ra, rb, rc = (os.path.join(x.dir, "report.json") for x in (a, b, c))
        p = subprocess.run([VMAPROF, "diff", ra, rb, "--max-increase", "demand_zero=10%"],
                           capture_output=True, text=True)
        eq(p.returncode, 0, f"same vs same: {p.stdout}{p.stderr}")
        eq(len(p.stdout.splitlines()), 1, f"only the verdict line:\n{p.stdout}")
        p = subprocess.run([VMAPROF, "diff", ra, rc, "--max-increase", "demand_zero=10%"],
                           capture_output=True, text=True)
        eq(p.returncode, 1, f"doubled: the bound fails: {p.stdout}{p.stderr}")
        grew = [l for l in p.stdout.splitlines() if "most growth" in l]
        check(grew and all("ns::Type::method(unsigned long)" in l and "64 -> 128" in l
                           for l in grew), f"the violation names the method:\n{p.stdout}")
        check(all(len(l) <= 100 for l in p.stdout.splitlines()), "lines fit 100 columns")


def t_pipe():
    """Output piped into `head`: vmaprof is not killed by SIGPIPE and its exit
    status does not change (report in every format, diff, record)."""
    with Rec([W, "reuse", "3000"], args=["--every-vma"]) as r:
        rep = os.path.join(r.dir, "report.json")
        for cmd in ([VMAPROF, "report", r.dir, "--format", "records"],
                    [VMAPROF, "report", r.dir, "--every-vma", "-o", "-"],
                    [VMAPROF, "report", r.dir, "--format", "text"],
                    [VMAPROF, "diff", rep, rep, "--format", "json"]):
            p = subprocess.run(["bash", "-c", '"$@" | head -c 1 >/dev/null; '
                                'exit ${PIPESTATUS[0]}', "sh", *cmd], capture_output=True,
                               text=True)
            eq(p.returncode, 0, f"{' '.join(cmd[1:3])} | head: {p.stderr}")
            check("cannot write" not in p.stderr, f"no error for a closed pipe: {p.stderr}")
    p = subprocess.run(["bash", "-c", '"$@" 2>&1 | head -c 1 >/dev/null; exit ${PIPESTATUS[0]}',
                        "sh", VMAPROF, "record", "-o", os.path.join("/tmp", f"vp-pipe-{os.getpid()}"),
                        "--", "sh", "-c", "exit 3"], capture_output=True, text=True)
    shutil.rmtree(f"/tmp/vp-pipe-{os.getpid()}", ignore_errors=True)
    eq(p.returncode, 3, "record | head keeps the command's exit status")


if __name__ == "__main__":
    main({"python_fork": t_python_fork, "cxx": t_cxx, "go": t_go, "plumbing_flag": t_plumbing_flag,
          "fold_churn": t_fold_churn, "diff": t_diff, "pipe": t_pipe})
