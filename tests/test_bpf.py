# SPDX-License-Identifier: MIT
"""The kernel fault collector end to end through `vmaprof record`.

Ground truth comes from tests/workloads/w_faults.c (it prints the ranges it
touched) and from the kernel's own counters (min_flt + maj_flt, read by the
collector at exit). Skips (77) only where this kernel or build has no BPF.
"""
import json
import os
import re
import subprocess
import tempfile

from vptest import VMAPROF, check, eq, main, record, workload

W = workload("w_faults")
WS = workload("w_faults_static")


def bpf_run(cmd, args=()):
    run = record(cmd, args=args, keep=True)
    sess = json.load(open(os.path.join(run.dir, "session.json")))
    run.session = sess
    b = sess["collectors"]["bpf"]
    if not b["active"] and "--no-bpf" not in args:
        why = b.get("reason") or "unknown"
        if re.search(r"without BPF|not root|BTF|Operation not permitted", why):
            print(f"SKIP: kernel collector unavailable here: {why}")
            raise SystemExit(77)
        raise AssertionError(f"collector inactive: {why}")
    return run


def needs_tracepoint_hooks(bpf):
    """Skip (77) where the collector runs its compat variant (kernels
    before 5.17, bpf/README.md "Kernels"): it hooks system calls through
    the raw tracepoints only (no bpf_task_pt_regs before 5.15)."""
    if bpf.get("variant") == "compat":
        print(f"SKIP: no per-syscall hooks in the compat variant "
              f"({bpf.get('variant_reason')})")
        raise SystemExit(77)


def needs_fentry(bpf):
    """Skip (77) where the kernel does not run fentry programs on the calls'
    __x64_sys_* functions (bpf/README.md "How system calls are hooked":
    no BPF trampolines, e.g. a kernel without ftrace, which answers EPERM):
    the collector then hooks them through tracepoints and says why. On
    every kernel of the matrix (5.10, 6.1, 6.12) it must be fentry."""
    if bpf["syscall_hooks"] != "fentry":
        why = bpf.get("syscall_hooks_reason") or ""
        check(why.startswith("no fentry: "), f"why not fentry is said: {why!r}")
        if re.search(r"refuses an fentry program|has no function __x64_sys_mmap", why):
            print(f"SKIP: this kernel runs no fentry programs on system calls: {why}")
            raise SystemExit(77)
        raise AssertionError(f"fentry not used: {why}")


def with_hooks(mode, f, *a):
    """f(*a) with VMAPROF_SYSCALL_HOOKS=mode (None: the default)."""
    old = os.environ.get("VMAPROF_SYSCALL_HOOKS")
    if mode is None:
        os.environ.pop("VMAPROF_SYSCALL_HOOKS", None)
    else:
        os.environ["VMAPROF_SYSCALL_HOOKS"] = mode
    try:
        return f(*a)
    finally:
        if old is None:
            os.environ.pop("VMAPROF_SYSCALL_HOOKS", None)
        else:
            os.environ["VMAPROF_SYSCALL_HOOKS"] = old


def region_of(stdout):
    m = re.search(r"region 0x([0-9a-f]+) (\d+)", stdout)
    check(m is not None, f"workload printed no region: {stdout!r}")
    return int(m.group(1), 16), int(m.group(2))


def faults_in(run, pid, lo, size):
    return [r for r in run.bpf.of("fault", pid=pid) if lo <= r["addr"] < lo + size]


def root_pid(run):
    ex = run.bpf.of("task_exec")
    check(ex, "no exec record for the root")
    return ex[0]["pid"]


def check_counters(run, slack=0):
    """Every process's kernel count (min_flt + maj_flt at exit) against the
    records, exactly: fault events + faults syscalls made without events
    (sysfaults, the shim's trace prefault among them) + the root's count
    before tracing began (session.json)."""
    exits = run.bpf.of("task_exit")
    check(exits, "no exit records")
    per_pid = {}
    for r in run.bpf.of("fault"):
        per_pid[r["pid"]] = per_pid.get(r["pid"], 0) + 1
    for r in run.bpf.of("sysfaults"):
        per_pid[r["pid"]] = per_pid.get(r["pid"], 0) + r["faults"]
    bt = run.session.get("before_trace") or {}
    if bt:
        per_pid[bt["pid"]] = per_pid.get(bt["pid"], 0) + bt["minflt"] + bt["majflt"]
    worst = 0
    for e in exits:
        kernel = e["min_flt"] + e["maj_flt"]
        traced = per_pid.get(e["pid"], 0)
        worst = max(worst, abs(kernel - traced))
        check(abs(kernel - traced) <= slack,
              f"pid {e['pid']}: kernel counted {kernel}, records explain {traced}")
    print(f"{len(exits)} processes, worst difference {worst}")
    return len(exits)


def t_static():
    """A static binary: no shim can load, the collector still sees all."""
    n = 1000
    run = bpf_run([WS, "touch", str(n)])
    eq(run.rc, 0, "exit status")
    lo, size = region_of(run.stdout)
    pid = root_pid(run)
    eq(run.by_pid(pid), [], "no shim stream in a static binary")
    f = faults_in(run, pid, lo, size)
    eq(len(f), n, "write first-touch faults in the region")
    eq({r["error_code"] for r in f}, {0x6}, "error codes (not-present user write)")
    check(all(r["pages"] >= 1 for r in f), "a page allocated in every fault")
    mm = [r for r in run.bpf.of("mem", pid=pid, call="mmap") if r["ret"] == lo]
    eq(len(mm), 1, "the region's mmap syscall seen by the kernel side")
    eq((mm[0]["len"], mm[0]["src"]), (size, "kernel"), "mmap record")
    check_counters(run)


def t_no_preload():
    n = 500
    run = bpf_run([W, "read", str(n)], args=["--no-preload"])
    eq(run.rc, 0, "exit status")
    eq(run.preload, [], "no shim streams with --no-preload")
    eq(run.session["collectors"]["preload"]["active"], False, "preload inactive")
    check("no-preload" in run.session["collectors"]["preload"]["reason"], "reason given")
    lo, size = region_of(run.stdout)
    f = faults_in(run, root_pid(run), lo, size)
    eq(len(f), n, "read first-touch faults")
    eq({r["error_code"] for r in f}, {0x4}, "error codes (not-present user read)")


def t_cow():
    n = 500
    run = bpf_run([W, "cow", str(n)])
    eq(run.rc, 0, "exit status")
    lo, size = region_of(run.stdout)
    child = int(re.search(r"child (\d+)", run.stdout).group(1))
    pid = root_pid(run)
    forks = run.bpf.of("task_fork", pid=pid)
    eq([x["child_pid"] for x in forks], [child], "fork followed in the kernel")
    cf = faults_in(run, child, lo, size)
    eq(len(cf), n, "child's faults on inherited pages")
    eq({r["error_code"] for r in cf}, {0x7}, "child: write-protect faults")
    check(all(r["pages"] >= 1 for r in cf), "child: every fault copied a page (cow_copy)")
    # what tells a copy from a zero-fill (docs/report.md): a COW copy's page
    # is not asked for zeroed, a first touch's is (__GFP_ZERO)
    eq({r["zeroed"] for r in cf}, {0}, "child: copies are not zeroed allocations")
    exit_t = run.bpf.of("task_exit", pid=child)[0]["t"]
    pf = faults_in(run, pid, lo, size)
    first = [r for r in pf if r["t"] < exit_t]
    after = [r for r in pf if r["t"] > exit_t]
    eq(len(first), n, "parent's first touches")
    eq({r["error_code"] for r in first}, {0x6}, "demand-zero error codes")
    eq({(r["pages"], r["zeroed"]) for r in first}, {(1, 1)}, "first touches: one zeroed page each")
    eq(len(after), n, "parent's rewrites after the child exited")
    eq({r["error_code"] for r in after}, {0x7}, "write-protect faults")
    # reused, not copied: the child is gone. Except a page another CPU's
    # per-CPU LRU batch still holds a reference to (at most a batch of 15):
    # the kernel copies it (none on this VM natively, 1 of 500 seen on 5.10
    # under qemu; how many depends on where the tasks ran)
    reused = sum(1 for r in after if r["pages"] == 0)
    copied = sum(1 for r in after if r["pages"] == 1)
    eq(reused + copied, n, "each rewrite reused its page or copied it once")
    check(copied <= 16, f"cow_reuse: {reused} of {n} reused, {copied} copied (at most an LRU batch)")
    check_counters(run)


def t_no_bpf():
    run = record([W, "touch", "10"], args=["--no-bpf"], keep=True)
    eq(run.rc, 0, "exit status")
    eq(run.bpf, None, "no collector stream")
    sess = json.load(open(os.path.join(run.dir, "session.json")))
    eq(sess["collectors"]["bpf"]["active"], False, "bpf inactive")
    check("--no-bpf" in sess["collectors"]["bpf"]["reason"], "reason given")
    eq(len(run.preload), 1, "the shim still records")


def t_ring_buffer():
    """--ring-buffer sizes the kernel collector's ring (rounded up to a power
    of two, said in session.json); bad sizes are refused before anything runs."""
    n = 2000
    run = bpf_run([W, "touch", str(n)], args=["--ring-buffer", "1000K"])
    eq(run.rc, 0, "exit status")
    eq(run.session["collectors"]["bpf"]["ring_buffer_bytes"], 1 << 20, "rounded up to 1 MiB")
    eq(run.session["collectors"]["bpf"]["lost"], 0, "nothing lost")
    lo, size = region_of(run.stdout)
    eq(len(faults_in(run, root_pid(run), lo, size)), n, "every first touch recorded")
    check_counters(run)
    dflt = bpf_run([W, "touch", "10"])
    eq(dflt.session["collectors"]["bpf"]["ring_buffer_bytes"], 8 << 20, "default 8 MiB")
    for bad in ("12x", "0", "-1M", "2G", "1k", ""):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "rec")
            p = subprocess.run([VMAPROF, "record", "-o", out,
                                "--ring-buffer", bad, "--", "true"],
                               capture_output=True, text=True, timeout=60)
            eq(p.returncode, 2, f"--ring-buffer {bad!r} refused: {p.stderr}")
            check("--ring-buffer must be" in p.stderr, f"says why: {p.stderr}")
            check(not os.path.exists(out), "nothing recorded")


def t_counters_python():
    run = bpf_run(["python3", "-c", "import json, re; print(len(json.dumps(list(range(100000)))))"])
    eq(run.rc, 0, "exit status")
    check(check_counters(run) >= 1, "python compared")


def t_counters_gcc():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "x.c")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\nint main(void){ puts(\"hi\"); return 0; }\n")
        run = bpf_run(["gcc", "-O2", "-o", os.path.join(d, "x"), src])
    eq(run.rc, 0, "gcc exit status")
    check(check_counters(run) >= 3, "gcc, cc1, as, ld compared")


def tracepoints(f):
    """Run test f with the per-syscall tracepoint hooks chosen."""
    def run():
        os.environ["VMAPROF_SYSCALL_HOOKS"] = "tracepoints"
        try:
            f()
        finally:
            del os.environ["VMAPROF_SYSCALL_HOOKS"]
    run.__doc__ = f.__doc__
    return run


def t_raw_fallback():
    """Where the per-syscall tracepoints cannot be attached, the raw
    sys_enter/sys_exit ones take over, say so, and count the same."""
    os.environ["VMAPROF_SYSCALL_HOOKS"] = "raw"
    try:
        run = bpf_run([W, "populate", "200"])
        run2 = bpf_run([W, "vmwrite", "100"])
    finally:
        del os.environ["VMAPROF_SYSCALL_HOOKS"]
    b = run.session["collectors"]["bpf"]
    eq(b["syscall_hooks"], "raw", "hooked through the raw tracepoints")
    want = "compat variant" if b.get("variant") == "compat" else "VMAPROF_SYSCALL_HOOKS"
    check(want in b["syscall_hooks_reason"], f"the reason is given: {b['syscall_hooks_reason']}")
    eq(run.rc, 0, "exit status")
    pid = root_pid(run)
    lo, size = region_of(run.stdout)
    mm = [r for r in run.bpf.of("mem", pid=pid, call="mmap") if r["ret"] == lo]
    eq(len(mm), 1, "the region's mmap seen by the kernel side")
    pop = [r for r in run.bpf.of("sysfaults", pid=pid) if r["nr"] == 9]
    eq(sum(r["faults"] for r in pop), 200, "MAP_POPULATE's faults, with its syscall number")
    check_counters(run)
    eq(run2.rc, 0, "exit status")
    pid = root_pid(run2)
    vw = [r for r in run2.bpf.of("sysfaults", pid=pid) if r["nr"] == 311]
    eq(sum(r["faults"] for r in vw), 100, "process_vm_writev's faults, with its number")
    check_counters(run2)


@tracepoints
def t_populate_hooked():
    """The populating calls keep their own SYSFAULTS records under the
    per-syscall tracepoints (and nothing is left to the balance)."""
    run = bpf_run([W, "populate", "200"])
    eq(run.rc, 0, "exit status")
    needs_tracepoint_hooks(run.session["collectors"]["bpf"])
    eq(run.session["collectors"]["bpf"]["syscall_hooks"], "tracepoints", "per-syscall hooks")
    pid = root_pid(run)
    pop = [r for r in run.bpf.of("sysfaults", pid=pid) if r["nr"] == 9]
    eq(sum(r["faults"] for r in pop), 200, "MAP_POPULATE's faults, with its syscall number")
    check_counters(run)


def t_switch():
    """Where fentry cannot be had (VMAPROF_SYSCALL_HOOKS=switch forces it),
    a recording starts on the raw pair and switches to the per-syscall
    tracepoints, attached on a thread of the collector, after a delay (here
    at once, racing the command's start, and after 100 ms): every mmap of a
    loop that runs across the switch is recorded once, and the counters
    still add up exactly."""
    for ms in ("0", "100"):
        os.environ["VMAPROF_SYSCALL_SWITCH_MS"] = ms
        try:
            # runs 0.4 s whatever the machine's speed: across the switch;
            # 1 s in the kernel matrix's TCG guests, where loading and
            # attaching the per-syscall pair takes a few hundred ms
            dur = "1000" if os.environ.get("VMAPROF_IN_KERNEL_VM") else "400"
            run = with_hooks("switch", bpf_run, [W, "reusefor", dur])
        finally:
            del os.environ["VMAPROF_SYSCALL_SWITCH_MS"]
        eq(run.rc, 0, "exit status")
        n = int(re.search(r"reused (\d+)", run.stdout).group(1))
        needs_tracepoint_hooks(run.session["collectors"]["bpf"])
        eq(run.session["collectors"]["bpf"]["syscall_hooks"], "raw then tracepoints",
           f"switched after {ms} ms")
        pid = root_pid(run)
        lo = int(re.search(r"reuse 0x([0-9a-f]+)", run.stdout).group(1), 16)
        mm = [r for r in run.bpf.of("mem", pid=pid, call="mmap") if r["ret"] == lo]
        um = [r for r in run.bpf.of("mem", pid=pid, call="munmap") if r["addr"] == lo]
        eq((len(mm), len(um)), (n, n), "every mmap and munmap of the loop, once")
        eq(len(faults_in(run, pid, lo, 4096)), n, "one fault per mapping")
        check_counters(run)


UNTRACED_CALLS = 1_000_000


def dd_beside_recording(calls=UNTRACED_CALLS):
    """Run an untraced dd making CALLS read/write calls while a recording
    (--bpf-stats) of an idle shell is under way; session.json's bpf
    collector (the test skips where the kernel collector is unavailable)."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "rec")
        rec = subprocess.Popen([os.environ.get("VMAPROF", "vmaprof"), "record", "--bpf-stats",
                                "-o", out, "--", "sh", "-c", "echo holding; read x"],
                               stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # wait until the command runs (it prints once traced), then make the calls
        line = rec.stdout.readline()
        check(line.startswith(b"holding"), f"workload started: {line!r}")
        dd = subprocess.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=1",
                             f"count={calls // 2}"], capture_output=True)
        eq(dd.returncode, 0, "dd exit status")
        rec.communicate(b"x\n")
        eq(rec.returncode, 0, "record exit status")
        sess = json.load(open(os.path.join(out, "session.json")))
    b = sess["collectors"]["bpf"]
    if not b["active"]:
        print(f"SKIP: kernel collector unavailable here: {b.get('reason')}")
        raise SystemExit(77)
    return b


@tracepoints
def t_untraced_syscalls():
    """The collector's syscall programs run for the traced tree's memory
    calls, not for every system call on the machine: an untraced dd making
    1M read/write calls during the recording runs none of them (other
    processes' mmaps etc. still do: the bound leaves room for a busy host)."""
    calls = UNTRACED_CALLS
    b = dd_beside_recording(calls)
    needs_tracepoint_hooks(b)
    progs = {p["name"]: p["run_cnt"] for p in b["programs"]}
    check("sc_enter" in progs and progs.get("page_fault_user", 0) > 0,
          f"--bpf-stats lists the programs that ran: {progs}")
    runs = progs.get("sc_enter", 0) + progs.get("sys_enter", 0)
    print(f"syscall hooks {b['syscall_hooks']} ({b.get('syscall_hooks_reason')}): "
          f"{runs} entry runs during {calls} untraced calls")
    eq(b["syscall_hooks"], "tracepoints", "hooked through per-syscall tracepoints")
    check(runs < calls // 2, f"entry program ran {runs} times: not for every system call")


# The workloads whose records t_fentry compares between the arrangements:
# every hooked address-space call with a result the workload fixes
# (mmap, munmap, mprotect, madvise, mlock, mlockall/munlockall, brk through
# malloc, MAP_POPULATE), and process_vm_writev (not hooked).
SAME = [("populate", "200"), ("mlock", "100"), ("madvpop", "100"), ("mlockall", "50"),
        ("churn", "40"), ("vmwrite", "100")]


def signature(run):
    """What must not depend on how system calls are hooked: the root's
    kernel-side VP_REC_MEM records (call, arguments but addresses, result
    or error), its faults by syscall (the unhooked ones, which the raw pair
    names, together), and its fault events in the workload's region."""
    pid = root_pid(run)
    mem = sorted((r["call"], r.get("len"), r.get("prot"), r.get("flags"), r.get("err"))
                 for r in run.bpf.of("mem", pid=pid))
    sysf = {}
    for r in run.bpf.of("sysfaults", pid=pid):
        nr = r["nr"] if r["nr"] in (9, 10, 12, 25, 28, 149, 151, 325) else "other"
        sysf[nr] = sysf.get(nr, 0) + r["faults"]
    lo, size = region_of(run.stdout)
    return {"mem": mem, "sysfaults": {k: v for k, v in sysf.items() if v},
            "region faults": len(faults_in(run, pid, lo, size))}


def t_fentry():
    """Where the kernel runs fentry programs (5.10, 6.1, 6.12 in the
    matrix), system calls are hooked there by default, session.json says so
    and why, and the same workloads give the same records as under the
    per-syscall tracepoints and the raw pair (VMAPROF_SYSCALL_HOOKS), with
    every process's counters balanced exactly."""
    rel = tuple(int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    for how, n in SAME:
        if how == "madvpop" and rel < (5, 14):
            print("madvpop: no MADV_POPULATE_WRITE before Linux 5.14: left out")
            continue
        got = {}
        for mode in (None, "tracepoints", "raw"):
            run = with_hooks(mode, bpf_run, [W, how, n])
            eq(run.rc, 0, f"{how}: exit status")
            b = run.session["collectors"]["bpf"]
            if mode is None:
                needs_fentry(b)
                check("fentry/fexit" in b["syscall_hooks_reason"],
                      f"the choice is explained: {b['syscall_hooks_reason']!r}")
            elif mode == "tracepoints" and b.get("variant") == "compat":
                eq(b["syscall_hooks"], "raw", f"{how}: compat variant: raw pair")
            else:
                eq(b["syscall_hooks"], mode, f"{how}: hooks {mode}")
            check_counters(run)
            got[mode or "fentry"] = signature(run)
        sig = got["fentry"]
        print(f"{how} {n}: {len(sig['mem'])} mem records, sysfaults {sig['sysfaults']}, "
              f"{sig['region faults']} region faults")
        check(len(sig["mem"]) > 0, f"{how}: kernel-side mem records")
        eq(got["tracepoints"], sig, f"{how}: tracepoints and fentry agree")
        eq(got["raw"], sig, f"{how}: raw pair and fentry agree")


def t_untraced_fentry():
    """With the fentry hooks an untraced dd making 1M read/write calls
    beside a recording runs none of our syscall programs: they ran only for
    hooked calls (the traced tree's and other processes' mmaps etc.)."""
    calls = UNTRACED_CALLS
    b = dd_beside_recording(calls)
    needs_fentry(b)
    progs = {p["name"]: p["run_cnt"] for p in b["programs"]}
    check(progs.get("fe_mmap", 0) > 0 and progs.get("fx_mmap", 0) > 0,
          f"--bpf-stats lists the fentry programs that ran: {progs}")
    check(progs.get("sys_enter", 0) == 0 and progs.get("sc_enter", 0) == 0,
          f"no tracepoint syscall program ran: {progs}")
    runs = sum(v for k, v in progs.items() if k.startswith("fe_"))
    print(f"syscall hooks {b['syscall_hooks']}: {runs} entry runs during {calls} untraced calls")
    check(runs < 20000, f"fentry programs ran {runs} times: not for every system call")


@tracepoints
def t_unhooked_sysfaults():
    """Faults an unhooked system call made without fault events
    (process_vm_writev into fresh pages) are balanced at the next hooked
    event or exit: exactly n, and every process's counters still add up."""
    n = 300
    run = bpf_run([W, "vmwrite", str(n)])
    eq(run.rc, 0, "exit status")
    pid = root_pid(run)
    lo, size = region_of(run.stdout)
    eq(faults_in(run, pid, lo, size), [], "no fault events in the region")
    unhooked = [r for r in run.bpf.of("sysfaults", pid=pid) if r["nr"] in (0xffffffff, 311)]
    eq(sum(r["faults"] for r in unhooked), n, "faults made by process_vm_writev")
    check_counters(run)


@tracepoints
def t_fault_end():
    """A user fault ends when the kernel has handled it, not at the next
    hooked call: the page cache a read(2) allocates right after it (no
    hooked call in between) is not charged to it."""
    n = 64
    run = bpf_run([W, "faultread", str(n), os.path.dirname(os.path.abspath(W))])
    eq(run.rc, 0, "exit status")
    cold = int(re.search(r"cold (\d+)", run.stdout).group(1))
    eq(cold, n, "the file left the page cache (a file system that can drop it)")
    lo, size = region_of(run.stdout)
    f = faults_in(run, root_pid(run), lo, size)
    eq(len(f), 1, "one fault on the page")
    eq(f[0]["pages"], 1, "the fault's own page only, not the read's page cache")
    check_counters(run)


if __name__ == "__main__":
    main({
        "static": t_static, "no_preload": t_no_preload, "cow": t_cow, "no_bpf": t_no_bpf,
        "counters_python": t_counters_python, "counters_gcc": t_counters_gcc,
        "ring_buffer": t_ring_buffer,
        "untraced_syscalls": t_untraced_syscalls, "unhooked_sysfaults": t_unhooked_sysfaults,
        "fault_end": t_fault_end, "raw_fallback": t_raw_fallback,
        "populate_hooked": t_populate_hooked, "switch": t_switch,
        "fentry": t_fentry, "untraced_fentry": t_untraced_fentry,
    })
