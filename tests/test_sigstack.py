# SPDX-License-Identifier: MIT
"""Signal stacks end to end: mappings the shim cannot interpose get their
stack from the shim's handler of the collector's signal; programs that take
the signal over, block it or rely on errno and restartable syscalls run
exactly as bare. Workload: tests/workloads/w_sigstack.c. Every report is
validated against schema/report.schema.json (test_report.Rec)."""
import json
import os
import re
import subprocess
import sys
import tempfile

from test_golden import report_of
from test_report import Rec
import report3
from vptest import check, eq, main, workload

# These test the signal and the reasons it is not sent: the kernel's own
# stacks, which fill in where it cannot be (bpf/README.md "Kernel stacks",
# test_kstack.py), are off.
os.environ["VMAPROF_KERNEL_STACK"] = "0"
# malloc fills what it hands out (as meson's default MALLOC_PERTURB_ has it
# do): the heap that grew while the handler was replaced takes its faults,
# enough for the summary to show that site and say why it has no stack
os.environ["MALLOC_PERTURB_"] = "77"

# every entry listed: these check the stack of each mapping, touched or
# not (untouched ones are otherwise summarised in idle[], docs/report.md)
EVERY = ["--every-vma"]
W = workload("w_sigstack")
WS = workload("w_faults_static")


def addrs(stdout, tag):
    return [int(x, 16) for x in re.findall(r"(?m)^" + tag + r" 0x([0-9a-f]+)", stdout)]


def one(stdout, tag):
    a = addrs(stdout, tag)
    eq(len(a), 1, f"one '{tag}' line in {stdout!r}")
    return a[0]


def funcs(v):
    return [f["function"] for f in v["stack"]]


def made_at(proc, start, origin=None):
    """The entry a call made at `start` (not a piece of another)."""
    v = [e for e in proc["vmas"] if e["start"] == start and e["piece_of"] is None
         and (origin is None or e["origin"] == origin)]
    eq(len(v), 1, f"one entry made at 0x{start:x} ({origin}): {[(e['origin'], e['end']) for e in v]}")
    return v[0]


def has_frame(v, fn, what):
    check(fn in funcs(v), f"{what}: {fn} not in the stack {funcs(v)} "
          f"(stack_missing: {v.get('stack_missing')})")


def missing(v, why, what):
    eq((v["stack"], v.get("stack_missing")), ([], why), f"{what}: no stack, and why")


def bare(mode):
    p = subprocess.run([W, mode], capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, f"bare {mode}: {p.stderr}")
    return p.stdout


def lines(stdout, prefix):
    return [l for l in stdout.splitlines() if l.startswith(prefix)]


def t_malloc():
    with Rec([W, "malloc"], args=EVERY) as r:
        r.require_bpf()
        eq(r.rc, 0, "exit status")
        root = r.root()
        has_frame(made_at(root, one(r.stdout, "big"), "syscall"), "big_from_malloc",
                  "malloc's own mmap")
        has_frame(made_at(root, one(r.stdout, "moved"), "mremap"), "grow_big",
                  "realloc's mremap")
        has_frame(made_at(root, one(r.stdout, "raw"), "syscall"), "raw_mapper",
                  "syscall(SYS_mmap)")
        has_frame(made_at(root, one(r.stdout, "tbig"), "syscall"), "big_in_thread",
                  "malloc's mmap in a thread")
        ts = one(r.stdout, "tstack")
        tv = [v for v in root["vmas"] if v["start"] <= ts < v["end"] and v["origin"] == "syscall"]
        check(tv, "the thread's stack mapping")
        for v in tv:
            has_frame(v, "start_worker", "pthread_create's stack mmap")
        m = re.search(r"heap 0x([0-9a-f]+) 0x([0-9a-f]+)", r.stdout)
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        heap = [v for v in root["vmas"] if v["origin"] == "brk" and v["piece_of"] is None
                and v["start"] >= lo & ~4095 and v["end"] <= (hi + 4095) & ~4095]
        # 2000 x 1000 bytes, the heap grows by 132 KiB at a time
        check(len(heap) >= 10, f"brk growths in grow_heap: {len(heap)}")
        for v in heap:
            has_frame(v, "grow_heap", "malloc's brk")
        why = sorted({v.get("stack_missing") for v in root["vmas"] if not v["stack"]
                      and v["origin"] in ("syscall", "brk", "mremap", "mmap")} - {None})
        eq(why, ["before shim start"], "only ld.so's mappings lack a stack")


def own(mode):
    b = bare(mode)
    want = ["handled 0 from kernel 0", "after raise handled 1 from kernel 0"]
    eq(lines(b, "handled") + lines(b, "after"), want, "bare run")
    with Rec([W, mode], args=EVERY) as r:
        r.require_bpf()
        eq(r.rc, 0, "exit status")
        eq(lines(r.stdout, "handled") + lines(r.stdout, "after"), want,
           "the program's handler: never called by us, called by its own raise()")
        root = r.root()
        missing(made_at(root, one(r.stdout, "big"), "syscall"), "handler replaced", "malloc")
        missing(made_at(root, one(r.stdout, "raw"), "syscall"), "handler replaced", "raw")
        check("no stack: handler replaced" in r.stderr, f"summary says why:\n{r.stderr}")


def t_ignore_or_default(mode):
    eq(lines(bare(mode), "survived"), ["survived"], "bare")
    with Rec([W, mode], args=EVERY) as r:
        r.require_bpf()
        eq((r.rc, lines(r.stdout, "survived")), (0, ["survived"]),
           "no signal reached a program without a handler")
        missing(made_at(r.root(), one(r.stdout, "big"), "syscall"), "handler replaced", "malloc")


def t_block():
    eq(lines(bare("block"), "pending"), ["pending 0"], "bare")
    with Rec([W, "block"], args=EVERY) as r:
        r.require_bpf()
        eq((r.rc, lines(r.stdout, "pending")), (0, ["pending 0"]), "nothing sent while blocked")
        root = r.root()
        b1, b2 = addrs(r.stdout, "big")
        r1, r2 = addrs(r.stdout, "raw")
        missing(made_at(root, b1, "syscall"), "signal blocked", "malloc, blocked")
        missing(made_at(root, r1, "syscall"), "signal blocked", "raw, blocked")
        has_frame(made_at(root, b2, "syscall"), "big_from_malloc", "malloc, unblocked")
        has_frame(made_at(root, r2, "syscall"), "raw_mapper", "raw, unblocked")


def t_errno():
    with Rec([W, "errno"], args=EVERY) as r:
        r.require_bpf()
        eq((r.rc, lines(r.stdout, "errno")), (0, ["errno changed 0"]), "errno kept")
        root = r.root()
        big, raw = addrs(r.stdout, "big"), addrs(r.stdout, "raw")
        eq((len(big), len(raw)), (50, 50), "mappings")
        eq(sum("big_from_malloc" in funcs(made_at(root, a, "syscall")) for a in big), 50,
           "every malloc mmap has its stack")
        eq(sum("raw_mapper" in funcs(made_at(root, a, "syscall")) for a in raw), 50,
           "every raw mmap has its stack")


def t_restart():
    with Rec([W, "restart"], args=EVERY) as r:
        r.require_bpf()
        eq((r.rc, lines(r.stdout, "read")), (0, ["read 1 errno 0"]),
           "the other thread's read() was not interrupted")
        churn = [v for v in r.root()["vmas"] if v["piece_of"] is None and "churn" in funcs(v)]
        eq(sum(v["instances"] for v in churn), 400, "each of the 400 mmaps signalled and answered")


def t_race():
    # Without the drain in sig_yield (stand-in handler, grace period, wait
    # for pending signals) this program's handler got our signal in 3 of
    # 6 runs here.
    for i in range(3):
        with Rec([W, "race"], args=EVERY) as r:
            r.require_bpf()
            eq((r.rc, lines(r.stdout, "handled")), (0, ["handled 0 from kernel 0"]),
               f"run {i}: our signal never reached the program's handler, nor killed it")
            vm = [v for v in r.root()["vmas"] if v["piece_of"] is None]
            check(any("churn" in funcs(v) for v in vm), "stacks while the signal was ours")
            check(any(v.get("stack_missing") == "handler replaced" for v in vm),
                  "missing while it was the program's")


def the_child(r):
    """The one child the workload reports ("child PID status S"), both
    having exited 0."""
    m = re.search(r"child (\d+) status (\d+)", r.stdout)
    eq((r.rc, m.group(2)), (0, "0"), "exit statuses")
    cp = [p for p in r.procs if p["pid"] == int(m.group(1))]
    eq(len(cp), 1, "the child")
    return cp[0]


def t_fork():
    with Rec([W, "fork"], args=EVERY) as r:
        r.require_bpf()
        has_frame(made_at(the_child(r), one(r.stdout, "big"), "syscall"), "big_from_malloc",
                  "malloc in the forked child")


def t_altstack():
    # an alternate signal stack far smaller than the handler needs (it does
    # not run there: not SA_ONSTACK)
    with Rec([W, "altstack3000"], args=EVERY) as r:
        r.require_bpf()
        eq((r.rc, lines(r.stdout, "altstack")), (0, ["altstack 3000 survived"]), "survived")
        has_frame(made_at(r.root(), one(r.stdout, "big"), "syscall"), "big_from_malloc",
                  "malloc with a tiny alternate stack")


def t_onaltstack():
    with Rec([W, "onaltstack"], args=EVERY) as r:
        r.require_bpf()
        eq((r.rc, lines(r.stdout, "onaltstack")), (0, ["onaltstack survived"]), "survived")
        missing(made_at(r.root(), one(r.stdout, "big"), "syscall"), "alternate stack full",
                "mapped on a 12 KiB alternate stack")


def t_rawfork():
    # The child of a raw fork runs on its parent's shim state (its stream,
    # pid, tids): the collector signals it, the handler writes nothing.
    with Rec([W, "rawfork"], args=EVERY) as r:
        r.require_bpf()
        missing(made_at(the_child(r), one(r.stdout, "big"), "syscall"), "no answer",
                "malloc in the raw-forked child")


def t_exec():
    with Rec([W, "exec"], args=EVERY) as r:
        r.require_bpf()
        child = int(re.search(r"child (\d+) status (\d+)", r.stdout).group(1))
        eq((r.rc, re.search(r"status (\d+)", r.stdout).group(1)), (0, "0"), "exit statuses")
        cp = [p for p in r.procs if p["pid"] == child]
        eq(len(cp), 1, "the child")
        cp = cp[0]
        check(cp["execs"], "the child exec'd")
        has_frame(made_at(cp, one(r.stdout, "big"), "syscall"), "big_from_malloc",
                  "malloc in the exec'd image")
        t_exec_ns = cp["execs"][0]["time_ns"]
        before = [v for v in cp["vmas"] if v["origin"] == "syscall" and not v["stack"]
                  and v["created_ns"] < t_exec_ns and v["end"] - v["start"] == 4 << 20]
        eq([v.get("stack_missing") for v in before], ["no shim"],
           "the vfork child's raw mmap: not signalled")
        ld = [v.get("stack_missing") for v in cp["vmas"] if v["origin"] == "syscall"
              and v["created_ns"] > t_exec_ns and not v["stack"] and not v["internal"]]
        check(ld and set(ld) == {"before shim start"}, f"ld.so's mappings after exec: {set(ld)}")


def t_off():
    with Rec([W, "malloc"], args=["--no-signal-stacks", *EVERY]) as r:
        r.require_bpf()
        eq(r.rc, 0, "exit status")
        missing(made_at(r.root(), one(r.stdout, "big"), "syscall"), "signal stacks off", "malloc")


def t_static():
    with Rec([WS, "touch", "10"], args=EVERY) as r:
        r.require_bpf()
        m = re.search(r"region 0x([0-9a-f]+)", r.stdout)
        missing(made_at(r.root(), int(m.group(1), 16), "syscall"), "no shim", "static binary")


def t_golden():
    """The analyzer's pairing on a written trace (no kernel collector
    needed): tests/golden/gen_sigstack.py -> tests/golden/sigstack/expected.json."""
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([sys.executable, os.path.join(here, "golden", "gen_sigstack.py"), d],
                       check=True)
        # every entry, each with its own stack (idle ones are not summarised)
        got, _ = report_of(d, "--every-vma")
    want = json.load(open(os.path.join(here, "golden", "sigstack", "expected.json")))
    eq(got, want, "report on the sigstack golden trace")
    got = report3.expand(got)
    v = {e["start"]: e for e in got["processes"][0]["vmas"]}

    def where(f):  # schema_version 3: the ip only where no module says where
        return f["ip"] if "ip" in f else (f["module"], f["module_offset"])
    app = "/golden/app"  # mapped at 0x400000
    eq([where(f) for f in v[0x10000000]["stack"]], [0x7e0000001000, (app, 0x100), (app, 0x200)],
       "malloc's mmap: its signal stack")
    eq([where(f) for f in v[0x30000000]["stack"]], [0x7e0000003000, (app, 0x400)],
       "mremap: its own stack, not the one of the mapping it moved")
    eq(len(v[0x11000000]["stack"]), 3, "another thread's")
    eq([v[a].get("stack_missing") for a in (0x7f0000000000, 0x12000000, 0x13000000,
                                            0x14000000)],
       ["before shim start", "no answer", "unwind failed", "no answer"], "not paired")
    eq([v[0x20000000 + i * (1 << 20)].get("stack_missing") for i in range(6)],
       ["busy", "signal blocked", "handler replaced", "signal failed", "signal stacks off",
        "alternate stack full"], "each reason not to signal")


if __name__ == "__main__":
    main({"malloc": t_malloc, "own": lambda: own("own"), "own_signal": lambda: own("own_signal"),
          "ignore": lambda: t_ignore_or_default("ignore"),
          "default": lambda: t_ignore_or_default("default"), "block": t_block,
          "errno": t_errno, "restart": t_restart, "race": t_race, "fork": t_fork, "rawfork": t_rawfork,
          "altstack": t_altstack, "onaltstack": t_onaltstack, "golden": t_golden, "exec": t_exec, "off": t_off,
          "static": t_static})
