# SPDX-License-Identifier: MIT
"""`vmaprof record -p PID`: attaching to a process that already runs (root).

The workload (tests/workloads/w_attach.c) builds a region at start, then on
SIGUSR1 writes its spare pages and forks a child that rewrites part of the
region. The recorder attaches after the region exists, so the child's
copies and the parent's demand-zero faults are known exactly; the kernel's
counters over the window must balance (difference 0). The traced process
is never harmed: it keeps running, not stopped, its region's checksum the
same. Error cases: no such pid, a process that has exited, pid 1, a kernel
thread, a user who may not trace it. Two recorders at once, and a recorder
killed with SIGKILL (no BPF program of it left behind).

Every report.json is validated against schema/report.schema.json, and every
export format is checked against it (exports_check).
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time

import report3
from vptest import VMAPROF, Fail, check, eq, main, validate_report, workload

W = workload("w_attach")
REGION, CHILD, PARENT = 64, 10, 5
NOBODY = pwd.getpwnam("nobody")
PSZ = os.sysconf("SC_PAGE_SIZE")


def need_root():
    if os.geteuid() != 0:
        print("SKIP: needs root (the kernel collector)")
        raise SystemExit(77)


def need_bpf():
    """Skip where the kernel collector cannot load (no BTF, no BPF build)."""
    need_root()
    with Tmp() as t:
        p = subprocess.run([VMAPROF, "record", "-o", os.path.join(t, "r"), "--", "true"],
                           capture_output=True, text=True, timeout=120)
        s = json.load(open(os.path.join(t, "r", "session.json")))
        b = s["collectors"]["bpf"]
        if not b["active"]:
            print(f"SKIP: kernel collector unavailable: {b.get('reason')}")
            raise SystemExit(77)


class Tmp:
    def __enter__(self):
        self.d = tempfile.mkdtemp(prefix="vmaprof-attach-")
        os.chmod(self.d, 0o755)
        return self.d

    def __exit__(self, *exc):
        shutil.rmtree(self.d, ignore_errors=True)


def host_pid_of(root, own):
    """The pid here of the descendant of `root` whose own PID namespace
    numbers it `own` (the last of NSpid in /proc/PID/status)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open(f"/proc/{d}/status").read()
        except OSError:
            continue
        ns = re.search(r"^NSpid:\s*(.*)$", st, re.M).group(1).split()
        if len(ns) < 2 or int(ns[-1]) != own:
            continue
        pid = int(d)
        while pid > 1:  # a descendant of root?
            try:
                pid = int(re.search(r"^PPid:\s*(\d+)", open(f"/proc/{pid}/status").read(),
                                    re.M).group(1))
            except OSError:
                break
            if pid == root:
                return int(d)
    raise Fail(f"no descendant of {root} is pid {own} in its namespace")


class Workload:
    """w_attach running, its `ready` line read. pid: as it printed it (its
    own namespace's); hpid: as this test sees it (the same outside a PID
    namespace; in_ns: the command runs it in one)."""

    def __init__(self, *args, cmd=None, env=None, in_ns=False):
        argv = cmd or [W, str(REGION), str(CHILD), str(PARENT), *map(str, args)]
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
        line = self.p.stdout.readline()
        check(line.startswith("ready") or "ready pid=" in line, f"workload: {line!r}")
        f = dict(kv.split("=") for kv in line.split()[1:])
        self.pid = int(f["pid"])
        self.hpid = host_pid_of(self.p.pid, self.pid) if in_ns else self.pid
        self.region = int(f["region"], 16)
        self.spare = int(f["spare"], 16)
        self.chain = (env or {}).get("W_ATTACH_CHAIN") == "1"
        self.quiet()

    def quiet(self):
        """Wait until every thread sleeps in a system call: it prints its
        line before returning to its wait, and the way back can still
        fault (stack pages copy-on-write since its fork), which would fall
        between the recorder's reading of its counters and the marking or
        the detach. Not for the thread chain, which never rests."""
        if self.chain:
            return
        for _ in range(2000):
            busy = 0
            for tid in os.listdir(f"/proc/{self.hpid}/task"):
                try:
                    nr = open(f"/proc/{self.hpid}/task/{tid}/syscall").read().split()[0]
                except (OSError, IndexError):
                    continue
                busy += nr == "running" or nr.startswith("-")
            if not busy:
                return
            time.sleep(0.005)
        raise Fail(f"workload {self.pid} never came to rest")

    def work(self):
        os.kill(self.hpid, signal.SIGUSR1)
        line = self.p.stdout.readline()
        m = re.match(r"forked child=(\d+) status=(\d+) file=0x([0-9a-f]+)", line)
        check(m, f"workload after SIGUSR1: {line!r}")
        eq(int(m.group(2)), 0, "the child's status")
        self.file = int(m.group(3), 16)
        self.quiet()
        return int(m.group(1))

    def unharmed(self):
        """Still running, not stopped, its region as it was."""
        check(self.p.poll() is None, "the traced process is still running")
        state = open(f"/proc/{self.hpid}/stat").read().rsplit(")", 1)[1].split()[0]
        check(state in "SR", f"the traced process's state: {state}")
        os.kill(self.hpid, signal.SIGUSR2)
        line = self.p.stdout.readline()
        check(line.startswith("check region=same"), f"its own check of the region: {line!r}")

    def stop(self):
        if self.p.poll() is None:
            if self.hpid != self.p.pid:
                # in a namespace (unshare --fork passes SIGTERM on to
                # nobody): w_attach itself, then its shell is done
                try:
                    os.kill(self.hpid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            else:
                self.p.terminate()
        self.p.wait(timeout=30)


class Attach:
    """`vmaprof record -p PIDS -o DIR ARGS` running in the background."""

    def __init__(self, d, pids, args=()):
        self.dir = d
        self.p = subprocess.Popen([VMAPROF, "record", "-p", ",".join(map(str, pids)),
                                   "-o", d, *args], stderr=subprocess.PIPE, text=True)
        # the recorder says when it is attached (every thread marked)
        seen = ""
        while True:
            line = self.p.stderr.readline()
            seen += line
            if not line or "attached to" in line:
                break
        check("attached to" in line, f"record -p did not attach: {seen!r}")
        self.attached_line = seen

    def stop(self, sig=signal.SIGINT):
        if sig:
            self.p.send_signal(sig)
        self.err = self.attached_line + self.p.stderr.read()
        self.rc = self.p.wait(timeout=120)
        return self.load()

    def load(self):
        path = os.path.join(self.dir, "report.json")
        check(os.path.exists(path), f"no report.json: rc {self.rc}\n{self.err}")
        validate_report(path)
        self.report = report3.expand(json.load(open(path)))
        self.procs = self.report["processes"]
        self.session = json.load(open(os.path.join(self.dir, "session.json")))
        import exports_check
        exports_check.check_exports(self)
        return self

    def proc(self, pid):
        p = [x for x in self.procs if x["pid"] == pid]
        eq(len(p), 1, f"process {pid} in the report")
        return p[0]

    def vma_at(self, proc, addr):
        v = [e for e in proc["vmas"] if e["start"] <= addr < e["end"]]
        if not v:
            # untouched in the window: summarised in idle[] (schema_version
            # 3); the same recording's --every-vma report lists it
            if not getattr(self, "every", None):
                out = subprocess.run([VMAPROF, "report", self.dir, "--every-vma", "-o", "-"],
                                     capture_output=True, text=True, timeout=120)
                eq(out.returncode, 0, out.stderr)
                self.every = report3.expand(json.loads(out.stdout))
            q = [x for x in self.every["processes"]
                 if (x.get("host_pid"), x["pid"]) == (proc.get("host_pid"), proc["pid"])]
            v = [e for e in (q[0]["vmas"] if q else []) if e["start"] <= addr < e["end"]]
        check(v, f"no entry of {proc['pid']} at {addr:#x}")
        check(len(v) == 1, f"{len(v)} entries of {proc['pid']} at {addr:#x}")
        return v[0]

    def summary(self):
        s = subprocess.run([VMAPROF, "report", self.dir, "--format", "text"],
                           capture_output=True, text=True, timeout=60)
        eq(s.returncode, 0, s.stderr)
        return s.stdout


def check_window(a, w, child, balanced=True):
    """The report of one attach window in which `w` did its work once."""
    eq(a.rc, 0, f"record -p's exit code: {a.err}")
    col = a.report["collectors"]
    eq(col["preload"]["active"], False, "no shim in a running process")
    eq(col["preload"]["reason"], "attached to a running process", "the mode")
    eq(col["bpf"]["active"], True, "the kernel collector")
    eq(col["bpf"]["lost"], 0, "nothing lost")
    parent = a.proc(w.pid)
    kid = a.proc(child)
    eq(kid["forked_from"]["pid"], w.pid, "the child's parent")
    eq(parent["running_at_end"], True, "the attached process runs on")
    # the region: made before the attach (from the maps snapshot: initial,
    # no stack), copied by the child exactly
    reg = a.vma_at(parent, w.region)
    eq(reg["origin"], "initial", "the region's origin in the parent")
    eq((reg["start"], reg["end"]), (w.region, w.region + REGION * PSZ), "the region's bounds")
    eq(reg["faults"]["total"], 0, "the parent does not touch the region in the window")
    kreg = a.vma_at(kid, w.region)
    eq(kreg["origin"], "inherited", "the region's origin in the child")
    eq(kreg["faults"]["cow_copy"], CHILD, "the child's copies of the region")
    eq(kreg["faults"]["total"], CHILD, "the child's faults on the region")
    # the parent's faults in the window: its spare pages, first touched now
    sp = a.vma_at(parent, w.spare)
    eq(sp["origin"], "initial", "the spare pages' origin")
    eq(sp["faults"]["demand_zero"], PARENT, "the parent's demand-zero faults")
    eq(sp["faults"]["total"], PARENT, "the parent's faults on its spare pages")
    # a file mapped in the window: named by the snapshot at the end
    fv = a.vma_at(parent, w.file)
    eq((fv["origin"], fv["path"]), ("syscall", os.path.realpath(W)),
       "the file mapped in the window, named")
    check(fv["faults"]["file"] >= 1, f"its read: {fv['faults']}")
    # kernel counters: deltas over the window, balanced exactly
    for p in (parent, kid) if balanced else (kid,):
        kc = p["kernel_counters"]
        check(kc["minflt"] is not None, f"{p['pid']}: kernel counters read")
        eq(kc["difference"], 0, f"{p['pid']}: traced faults against the kernel's counters "
           f"{kc}")
        eq(p["warnings"], [], f"{p['pid']}: warnings")
    eq(kid["kernel_counters"]["before_trace"], 0, "a child forked in the window")
    check(parent["kernel_counters"]["before_trace"] > REGION,
          "the parent's faults before the attach (its region among them)")
    # forks[]: what each side un-shared
    f = [x for x in a.report["forks"] if x["parent"] == w.pid and x["child"] == child]
    eq(len(f), 1, "the fork in forks[]")
    check(f[0]["cow_copy_child"] >= CHILD, f"the child's copies in forks[]: {f[0]}")
    eq(f[0]["cow_copy_child"], kid["faults"]["cow_copy"], "forks[] against the child's faults")
    s = a.summary()
    check("mapping stacks are not available for mappings made before the attach" in s,
          f"the summary says what attaching cannot show:\n{s}")
    check("stopped early" not in s, f"attaching is not a stop:\n{s}")


def t_cow():
    """Attach, the workload forks, Ctrl-C (SIGINT to vmaprof): exact faults."""
    need_bpf()
    with Tmp() as t:
        w = Workload()
        try:
            a = Attach(os.path.join(t, "r"), [w.pid])
            child = w.work()
            a.stop(signal.SIGINT)
            check_window(a, w, child)
            eq(a.session["attach"]["ended_by"], "signal", "ended by the signal")
            eq(a.session["attach"]["processes"][0]["threads"], 1, "one thread marked")
            w.unharmed()
        finally:
            w.stop()


def t_pidns():
    """From the host into a container (a PID namespace): record -p takes the
    host's pid; the report names each process by its own pid (what it
    printed), the host's beside it, and its figures are exact as outside."""
    need_bpf()
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True, text=True)
    if probe.returncode:
        print(f"SKIP: cannot make a PID namespace: {probe.stderr.strip()}")
        raise SystemExit(77)
    with Tmp() as t:
        # sh is the namespace's pid 1, w_attach its pid 2 (--kill-child:
        # the namespace goes with unshare)
        w = Workload(cmd=["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "sh",
                          "-c", f"{W} {REGION} {CHILD} {PARENT} & wait"], in_ns=True)
        try:
            eq(w.pid, 2, "w_attach's own pid")
            check(w.hpid != w.pid, f"its host pid {w.hpid}")
            a = Attach(os.path.join(t, "r"), [w.hpid])
            check(f"pid {w.hpid} (pid {w.pid} in its PID namespace, 1 thread(s))" in
                  a.attached_line, f"record -p says both pids: {a.attached_line!r}")
            child = w.work()
            a.stop(signal.SIGINT)
            check_window(a, w, child)  # by the pids the processes printed
            eq(a.session["attach"]["pids"], [w.hpid], "session.json: the pid given")
            parent, kid = a.proc(w.pid), a.proc(child)
            ns = os.stat(f"/proc/{w.hpid}/ns/pid").st_ino
            eq((parent["host_pid"], parent["pid_ns"], parent["ns_pids"][-1]), (w.hpid, ns, w.pid),
               "the attached process: the host's pid beside its own")
            check(kid["host_pid"] != child, f"the child's host pid: {kid['host_pid']}")
            eq((kid["pid_ns"], kid["ns_pids"][-1]), (ns, child), "the child, in the namespace")
            eq(kid["forked_from"], {"pid": w.pid, "host_pid": w.hpid,
                                    "time_ns": kid["forked_from"]["time_ns"]}, "its parent")
            s = a.summary()
            for want in (f"pid {w.pid} (host {w.hpid}) w_attach",
                         f"pid {child} (host {kid['host_pid']}) w_attach",
                         f"attached to a running process: pid {w.hpid} "):
                check(want in s, f"the summary says {want!r}:\n{s}")
            w.unharmed()
        finally:
            w.stop()


def t_threads():
    """A multi-threaded process whose fork comes from another thread than
    the main one: every thread must be marked."""
    need_bpf()
    with Tmp() as t:
        w = Workload(4)
        try:
            a = Attach(os.path.join(t, "r"), [w.pid], ["--duration", "600",
                                                       "--ring-buffer", "1M"])
            child = w.work()
            a.stop(signal.SIGTERM)
            check_window(a, w, child)
            eq(a.session["collectors"]["bpf"]["ring_buffer_bytes"], 1 << 20, "--ring-buffer")
            eq(a.session["attach"]["processes"][0]["threads"], 5, "every thread marked")
            w.unharmed()
        finally:
            w.stop()


def t_chain():
    """Threads that never stop changing: a chain, each link starting the
    next and exiting, does the work. The marking passes must catch a link
    before it starts the next (or the fork is missed). The parent's counters
    are not compared: links fault while it is being marked."""
    need_bpf()
    with Tmp() as t:
        w = Workload(env=dict(os.environ, W_ATTACH_CHAIN="1"))
        try:
            a = Attach(os.path.join(t, "r"), [w.pid])
            child = w.work()
            a.stop()
            check_window(a, w, child, balanced=False)
            check(a.session["attach"]["processes"][0]["threads"] >= 2,
                  "the main thread and a link marked")
            w.unharmed()
        finally:
            w.stop()


def t_duration():
    """--duration ends the recording by itself; the process runs on; a
    second attach to the same process afterwards works too."""
    need_bpf()
    with Tmp() as t:
        w = Workload()
        try:
            a = Attach(os.path.join(t, "r"), [w.pid], ["--duration", "0.3"])
            a.stop(None)
            eq(a.rc, 0, a.err)
            eq(a.session["attach"]["ended_by"], "duration", "ended by --duration")
            eq(a.proc(w.pid)["kernel_counters"]["difference"], 0, "balanced")
            w.unharmed()
            a2 = Attach(os.path.join(t, "r2"), [w.pid])
            child = w.work()
            a2.stop()
            check_window(a2, w, child)
            w.unharmed()
        finally:
            w.stop()


def t_exit():
    """The traced process exits: the recording ends by itself, with its exit
    status and counters from the kernel."""
    need_bpf()
    with Tmp() as t:
        w = Workload()
        try:
            a = Attach(os.path.join(t, "r"), [w.pid])
            child = w.work()
            w.p.terminate()  # SIGTERM: the workload returns 0
            a.stop(None)
            eq(a.session["attach"]["ended_by"], "exit", "ended by the exit")
            p = a.proc(w.pid)
            eq(p["running_at_end"], False, "exited")
            eq(p["exit_code"], 0, "its exit status")
            eq(p["kernel_counters"]["difference"], 0, "balanced at its exit")
            kreg = a.vma_at(a.proc(child), w.region)
            eq(kreg["faults"]["cow_copy"], CHILD, "the child's copies")
        finally:
            w.stop()


def expect_refusal(args, want, t, user=None):
    d = os.path.join(t, "refused")
    argv = [VMAPROF, "record", *args, "-o", d]
    if user:
        argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                "--clear-groups", "--", *argv]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    eq(p.returncode, 2, f"{args}: exit code ({p.stderr})")
    check(re.search(want, p.stderr), f"{args}: says {want!r}: {p.stderr!r}")
    check(not os.path.exists(d), f"{args}: no directory left behind")


def t_errors():
    """Bad targets: a clear error, exit 2, nothing left behind."""
    need_bpf()
    with Tmp() as t:
        # no such pid: a child of ours, reaped
        q = subprocess.Popen(["true"])
        q.wait()
        expect_refusal(["-p", str(q.pid)], r"no process with pid %d" % q.pid, t)
        # exited but not reaped (what a process exiting during the attach
        # looks like): a zombie
        z = subprocess.Popen(["true"])
        while open(f"/proc/{z.pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        expect_refusal(["-p", str(z.pid)], r"pid %d .* has exited" % z.pid, t)
        z.wait()
        expect_refusal(["-p", "1"], r"refusing pid 1", t)
        expect_refusal(["-p", "2"], r"kernel thread", t)  # kthreadd
        expect_refusal(["-p", "abc"], r"process ids", t)
        expect_refusal(["-p", "0"], r"-p 0: not a process id \(1 to 4194304\)", t)
        w = Workload(2)
        try:
            tid = max(int(x) for x in os.listdir(f"/proc/{w.pid}/task"))
            expect_refusal(["-p", str(tid)], r"not a process id", t)
            expect_refusal(["-p", str(w.pid), "--", "true"], r"no command", t)
            expect_refusal(["-p", str(w.pid), "--no-bpf"], r"needs the kernel collector", t)
            expect_refusal(["-p", str(w.pid), "--duration", "0"], r"--duration", t)
            expect_refusal(["-p", str(w.pid), "--ring-buffer", "1"], r"--ring-buffer", t)
            # one good pid and one bad: nothing attached at all
            expect_refusal(["-p", f"{w.pid},{q.pid}"], r"no process with pid %d" % q.pid, t)
            w.unharmed()
        finally:
            w.stop()


def t_nonroot():
    """A user who may not trace the process (or load BPF): exit 2, why."""
    need_bpf()
    with Tmp() as t:
        w = Workload()  # runs as root
        try:
            expect_refusal(["-p", str(w.pid)], r"not allowed to trace pid %d" % w.pid, t,
                           user=NOBODY)
            w.unharmed()
        finally:
            w.stop()
        # their own process: the collector cannot load for them (in a
        # directory of theirs)
        t = os.path.join(t, "nobody")
        os.mkdir(t)
        os.chown(t, NOBODY.pw_uid, NOBODY.pw_gid)
        w = Workload(cmd=["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
                          "--clear-groups", "--", W, str(REGION), str(CHILD), str(PARENT)])
        try:
            expect_refusal(["-p", str(w.pid)], r"kernel collector is unavailable", t,
                           user=NOBODY)
            check(not os.path.exists(os.path.join(t, "refused")), "nothing left")
            w.unharmed()
        finally:
            w.stop()


def t_two():
    """Two recorders at once: a wrapped recording of the workload (shim and
    collector) and an attach to it; each report exact, neither confused."""
    need_bpf()
    with Tmp() as t:
        wrapped_dir = os.path.join(t, "wrapped")
        w = Workload(cmd=[VMAPROF, "record", "-o", wrapped_dir, "--", W, str(REGION),
                          str(CHILD), str(PARENT)])
        wrapper = w.p
        try:
            a = Attach(os.path.join(t, "a"), [w.pid])
            b = Attach(os.path.join(t, "b"), [w.pid])  # and a third at once
            child = w.work()
            a.stop()
            b.stop()
            for x in (a, b):
                check_window(x, w, child)
            w.unharmed()
        finally:
            w.p = wrapper
            os.kill(w.pid, signal.SIGTERM)
            wrapper.wait(timeout=120)
        path = os.path.join(wrapped_dir, "report.json")
        validate_report(path)
        rep = report3.expand(json.load(open(path)))
        eq(rep["collectors"]["preload"]["active"], True, "the wrapped recording's shim")
        procs = {p["pid"]: p for p in rep["processes"]}
        kid = procs[child]
        kreg = [e for e in kid["vmas"] if e["start"] <= w.region < e["end"]]
        eq(len(kreg), 1, "the region in the wrapped recording's child")
        eq(kreg[0]["faults"]["cow_copy"], CHILD, "the wrapped recording's child copies")
        for p in rep["processes"]:
            eq(p["warnings"], [], f"wrapped recording, pid {p['pid']}: warnings")
            eq(p["kernel_counters"]["difference"], 0, f"wrapped recording, pid {p['pid']}")


def bpf_progs():
    p = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                       timeout=60)
    eq(p.returncode, 0, p.stderr)
    return {x["id"]: x.get("name", "") for x in json.loads(p.stdout)}


def progs_of(pid):
    """The BPF programs a process holds (its descriptors' fdinfo: a program's
    or a link's prog_id), by id with bpftool's name: other recorders may
    load and unload theirs meanwhile."""
    ids = set()
    d = f"/proc/{pid}/fdinfo"
    for fd in os.listdir(d):
        try:
            for line in open(os.path.join(d, fd)):
                if line.startswith("prog_id:"):
                    ids.add(int(line.split()[1]))
        except OSError:
            pass
    progs = bpf_progs()
    return {i: progs.get(i, "") for i in ids}


def t_killed():
    """vmaprof ending normally, and SIGKILLed while attached: no program of
    it is left in the kernel, and the traced process is unharmed."""
    need_bpf()
    if not shutil.which("bpftool"):
        print("SKIP: no bpftool")
        raise SystemExit(77)
    def gone_after(ours, what):
        # the kernel frees them when the last reference (the recorder's
        # descriptors) goes: allow it a moment
        left = ours
        for _ in range(200):
            now = bpf_progs()
            left = {i: n for i, n in ours.items() if i in now}
            if not left:
                break
            time.sleep(0.05)
        eq(left, {}, f"programs still loaded after {what}")

    with Tmp() as t:
        w = Workload()
        try:
            # a recorder that ends normally
            a = Attach(os.path.join(t, "r0"), [w.pid])
            ours = progs_of(a.p.pid)
            check(ours, "the collector's programs while attached")
            a.stop()
            gone_after(ours, "the recorder ended")
            # a recorder SIGKILLed
            a = Attach(os.path.join(t, "r"), [w.pid])
            ours = progs_of(a.p.pid)
            names = set(ours.values())
            check({"page_fault_use", "sched_process_f"} & names or
                  {"page_fault_user", "sched_process_fork"} & names,
                  f"the collector's programs while attached: {names}")
            a.p.kill()
            a.p.wait()
            gone_after(ours, "SIGKILL")
            # what it left is a recording that says it is incomplete
            d = os.path.join(t, "r")
            r = subprocess.run([VMAPROF, "report", d], capture_output=True, text=True,
                               timeout=60)
            eq(r.returncode, 0, r.stderr)
            validate_report(os.path.join(d, "report.json"))
            rep = report3.expand(json.load(open(os.path.join(d, "report.json"))))
            eq(rep["complete"], False, "the killed recorder's recording is incomplete")
            eq(rep["collectors"]["preload"]["reason"], "attached to a running process",
               "still an attach")
            check(any(p["pid"] == w.pid for p in rep["processes"]), "the attached process")
            child = w.work()  # not traced any more, and harmless
            check(child > 0, "the workload forks on")
            w.unharmed()
        finally:
            w.stop()


def t_several():
    """-p with two processes: both attached, each with its own counters."""
    need_bpf()
    with Tmp() as t:
        w1, w2 = Workload(), Workload()
        try:
            a = Attach(os.path.join(t, "r"), [w1.pid, w2.pid])
            c1 = w1.work()
            c2 = w2.work()
            a.stop()
            eq(a.rc, 0, a.err)
            eq(a.session["attach"]["pids"], [w1.pid, w2.pid], "both attached")
            for w, c in ((w1, c1), (w2, c2)):
                eq(a.vma_at(a.proc(c), w.region)["faults"]["cow_copy"], CHILD,
                   f"child of {w.pid}")
                eq(a.vma_at(a.proc(w.pid), w.spare)["faults"]["demand_zero"], PARENT,
                   f"parent {w.pid}")
                for pid in (w.pid, c):
                    eq(a.proc(pid)["kernel_counters"]["difference"], 0, f"{pid} balanced")
                w.unharmed()
        finally:
            w1.stop()
            w2.stop()


def t_race():
    """Processes that exit while vmaprof attaches to them: each attempt
    either records (exit 0, a valid report, ended by the exit) or is refused
    with a reason (exit 2, nothing left behind); never a hang or a crash."""
    need_bpf()
    with Tmp() as t:
        outcomes = {0: 0, 2: 0}
        for i in range(12):
            # from gone before vmaprof looks to exiting well after the attach
            s = subprocess.Popen(["sleep", "%.2f" % (i * 0.06)])
            d = os.path.join(t, f"r{i}")
            p = subprocess.run([VMAPROF, "record", "-p", str(s.pid), "-o", d],
                               capture_output=True, text=True, timeout=120)
            s.wait()
            check(p.returncode in (0, 2), f"attempt {i}: exit {p.returncode}: {p.stderr}")
            outcomes[p.returncode] += 1
            if p.returncode == 2:
                print(f"attempt {i}: {p.stderr.strip()}")
                check(re.search(r"exited|no process with pid", p.stderr),
                      f"attempt {i}: says why: {p.stderr!r}")
                check(not os.path.exists(d), f"attempt {i}: nothing left behind")
            else:
                validate_report(os.path.join(d, "report.json"))
                sj = json.load(open(os.path.join(d, "session.json")))
                eq(sj["attach"]["ended_by"], "exit", f"attempt {i}: ended by the exit")
        print(f"recorded {outcomes[0]}, refused {outcomes[2]}")


def t_bigmaps():
    """A process with 40000 mappings: the snapshot spans several 1 MiB
    segments of its trace file (pads, checksummed trailers); every line of
    it becomes an entry, nothing damaged, the counts still exact."""
    need_bpf()
    n = 40000
    with Tmp() as t:
        w = Workload(env=dict(os.environ, W_ATTACH_MAPS=str(n)))
        try:
            lines = sum(1 for _ in open(f"/proc/{w.pid}/maps"))
            check(lines > n, f"{lines} mappings")
            a = Attach(os.path.join(t, "r"), [w.pid])
            child = w.work()
            a.stop()
            check_window(a, w, child)
            eq(a.report["lost"], {"preload_records": 0, "bpf_records": 0, "damaged_records": 0,
                                  "unreadable_files": 0}, "nothing lost or damaged")
            f = [x for x in os.listdir(a.dir) if x.startswith("preload.")]
            eq(len(f), 1, "one trace file for the attached process")
            size = os.path.getsize(os.path.join(a.dir, f[0]))
            check(size > 4096 + (1 << 20), f"the snapshot spans segments ({size} bytes)")
            q = a.proc(w.pid)
            # untouched ones are summarised in idle[] by their site, "(initial) ..."
            initial = (sum(e["origin"] == "initial" for e in q["vmas"]) +
                       sum(i["entries"] for i in q["idle"]
                           if q["sites"][i["site"]]["key"].startswith("(initial)")))
            check(initial >= lines - 2, f"{initial} initial entries of {lines} lines")
            w.unharmed()
        finally:
            w.stop()


WI = workload("w_ident")
TITLE = "srv: master process /usr/local/sbin/srv -c /etc/srv/srv.conf -g daemon off; workers 3;"


class Server:
    """w_ident serve: a process titled TITLE over its argv (as nginx's
    master is), with `kids` children already running."""

    def __init__(self, kids):
        self.p = subprocess.Popen([WI, "serve", "srvname", TITLE, str(kids), "p" * 120],
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        m = re.fullmatch(r"ready pid=(\d+) kids=([\d,]*)\n", line)
        check(m is not None, f"w_ident serve: {line!r}")
        self.pid = int(m.group(1))
        self.kids = [int(k) for k in m.group(2).split(",") if k]
        eq(len(self.kids), kids, "children started")
        eq(open(f"/proc/{self.pid}/cmdline").read().rstrip("\0"), TITLE, "the title over argv")

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        eq(self.p.wait(timeout=30), 0, "w_ident serve's exit")


def attach_briefly(d, pids):
    """record -p PIDS for 0.3 s into d, which must succeed."""
    a = Attach(d, pids, ["--duration", "0.3"])
    a.stop(None)
    eq(a.rc, 0, a.err)
    return a


def t_title():
    """A process whose cmdline is a title with '/' and spaces (nginx's
    "nginx: master process nginx -c /etc/... -g ..."): the summary names
    the recording by the process's name, not by the text after the title's
    last '/'."""
    need_bpf()
    with Tmp() as t:
        s = Server(0)
        try:
            a = attach_briefly(os.path.join(t, "r"), [s.pid])
            eq(a.report["command"], [TITLE], "report.json command: the cmdline as read, "
               "without the title's padding as empty arguments")
            eq(a.proc(s.pid)["argv"], [TITLE], "argv: the title, no padding")
            eq(a.proc(s.pid)["name"], "srvname", "the process's name")
            heads = [ln for ln in a.err.splitlines() if ln.startswith("vmaprof: ") and
                     "process(es)" in ln and "attached" not in ln and "detached" not in ln]
            eq(len(heads), 1, f"the summary's first line:\n{a.err}")
            check(heads[0].startswith("vmaprof: srvname: 1 process(es), "),
                  f"named by the process's name: {heads[0]!r}")
            check("note:" not in a.err, f"no children, no note:\n{a.err}")
            text = a.summary()
            check(re.search(r"^vmaprof: srvname: 1 process\(es\), ", text, re.M),
                  f"report --format text names it so too:\n{text}")
        finally:
            s.stop()


def t_symlink():
    """A program run by a symlink (Debian's redis-server -> redis-check-rdb):
    exe is the path it was run by, as when vmaprof runs it (AT_EXECFN, read
    from the process), exe_resolved the file; a process whose title wrote
    over its arguments keeps it too."""
    need_bpf()
    with Tmp() as t:
        link = os.path.join(t, "srvlink")
        os.symlink(WI, link)
        p = subprocess.Popen([link, "serve", "srvname", TITLE, "0", "p" * 120],
                             stdout=subprocess.PIPE, text=True)
        try:
            m = re.fullmatch(r"ready pid=(\d+) kids=\n", p.stdout.readline())
            check(m is not None, "w_ident serve by a symlink started")
            pid = int(m.group(1))
            a = attach_briefly(os.path.join(t, "r"), [pid])
            pr = a.proc(pid)
            eq(pr["exe"], link, "exe: the path it was run by")
            eq(pr["exe_resolved"], os.path.realpath(WI), "exe_resolved: the file")
        finally:
            p.send_signal(signal.SIGTERM)
            eq(p.wait(timeout=30), 0, "w_ident serve's exit")


def t_children():
    """A process given with -p that has children already: one line says how
    many, that they are not recorded, and how to include them; given
    together, no note and all of them recorded."""
    need_bpf()
    with Tmp() as t:
        s = Server(3)
        try:
            a = attach_briefly(os.path.join(t, "r"), [s.pid])
            notes = [ln for ln in a.err.splitlines() if ln.startswith("vmaprof: note:")]
            eq(len(notes), 1, f"one note:\n{a.err}")
            m = re.fullmatch(r"vmaprof: note: pid (\d+) \(srvname\) has (\d+) child process\(es\) "
                             r"running, not recorded \(only what it forks from now on is\); to "
                             r"include them: -p ([\d,]+) or -p \$\(pgrep -d, srvname\)", notes[0])
            check(m is not None, f"the note: {notes[0]!r}")
            eq((int(m.group(1)), int(m.group(2))), (s.pid, 3), "the note's pid and count")
            listed = [int(x) for x in m.group(3).split(",")]
            eq((listed[0], sorted(listed[1:])), (s.pid, sorted(s.kids)), "the pids to give")
            eq(sorted(p["pid"] for p in a.procs), [s.pid], "only the given process recorded")
            # as the note says: all of them
            a = attach_briefly(os.path.join(t, "r2"), listed)
            check("note:" not in a.err, f"every child given: no note:\n{a.err}")
            eq(sorted(p["pid"] for p in a.procs), sorted(listed), "all of them recorded")
        finally:
            s.stop()


if __name__ == "__main__":
    main({"cow": t_cow, "threads": t_threads, "duration": t_duration, "exit": t_exit,
          "errors": t_errors, "nonroot": t_nonroot, "two": t_two, "killed": t_killed,
          "several": t_several, "bigmaps": t_bigmaps, "race": t_race, "chain": t_chain,
          "pidns": t_pidns, "title": t_title, "symlink": t_symlink, "children": t_children})
