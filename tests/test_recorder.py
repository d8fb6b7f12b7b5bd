# SPDX-License-Identifier: MIT
"""`vmaprof record` and `vmaprof report` as root, probed as an attacker and an
unlucky user would: planted symlinks, other users' directories, FIFOs, full
disks, signals, a recorder killed mid-recording, a pid reused after the
command was reaped. Root-only cases say why and exit 77 elsewhere."""
import errno
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import report3
from vptest import VMAPROF, check, eq, main, workload, validate_report

HERE = os.path.dirname(os.path.abspath(__file__))
NOBODY = pwd.getpwnam("nobody")


def need_root():
    if os.geteuid() != 0:
        print("SKIP: needs root (the recorder's root-only behaviour)")
        raise SystemExit(77)


def record(args, cmd, timeout=60, **kw):
    return subprocess.run([VMAPROF, "record", *args, "--", *cmd], capture_output=True,
                          text=True, timeout=timeout, **kw)


validate = validate_report


class Tmp:
    def __enter__(self):
        self.d = tempfile.mkdtemp(prefix="vmaprof-rec-")
        os.chmod(self.d, 0o755)
        return self.d

    def __exit__(self, *exc):
        subprocess.run(["umount", "-l", os.path.join(self.d, "mnt")], capture_output=True)
        shutil.rmtree(self.d, ignore_errors=True)


def as_nobody(argv):
    return subprocess.run(["setpriv", f"--reuid={NOBODY.pw_uid}", f"--regid={NOBODY.pw_gid}",
                           "--clear-groups", "--", *argv], capture_output=True, text=True)


def t_symlinks():
    """Root never writes through a symlink another user planted."""
    need_root()
    with Tmp() as t:
        victim = os.path.join(t, "victim")
        with open(victim, "w") as f:
            f.write("root's data\n")
        os.chmod(victim, 0o600)
        # 1. a directory of nobody's with report.json -> victim inside
        d = os.path.join(t, "d")
        os.mkdir(d)
        os.chown(d, NOBODY.pw_uid, NOBODY.pw_gid)
        p = as_nobody(["ln", "-s", victim, os.path.join(d, "report.json")])
        eq(p.returncode, 0, f"plant: {p.stderr}")
        marker = os.path.join(t, "ran")
        p = record(["-o", d], ["touch", marker])
        eq(p.returncode, 2, f"another user's directory refused: {p.stderr}")
        check("belongs to another user" in p.stderr, p.stderr)
        check(not os.path.exists(marker), "refused before the command ran")
        # 2. -o given as a symlink (to a directory)
        real = os.path.join(t, "real")
        os.mkdir(real, 0o700)
        link = os.path.join(t, "link")
        os.symlink(real, link)
        p = record(["-o", link], ["true"])
        eq(p.returncode, 2, f"-o as a symlink refused: {p.stderr}")
        check("symbolic link" in p.stderr, p.stderr)
        # 3. the output name planted as a symlink in a sticky world-writable
        #    directory (what a default vmaprof.<cmd>.<pid> name is exposed to)
        sticky = os.path.join(t, "sticky")
        os.mkdir(sticky)
        os.chmod(sticky, 0o1777)
        planted = os.path.join(sticky, "vmaprof.true.1")
        p = as_nobody(["ln", "-s", victim, planted])
        eq(p.returncode, 0, f"plant: {p.stderr}")
        p = record(["-o", planted], ["true"])
        eq(p.returncode, 2, f"planted name refused: {p.stderr}")
        p = as_nobody(["mkdir", "-m", "0777", os.path.join(sticky, "vmaprof.true.2")])
        p = record(["-o", os.path.join(sticky, "vmaprof.true.2")], ["true"])
        eq(p.returncode, 2, f"a planted directory refused: {p.stderr}")
        # 4. group/world-writable existing directory of ours
        ww = os.path.join(t, "ww")
        os.mkdir(ww)
        os.chmod(ww, 0o777)
        p = record(["-o", ww], ["true"])
        eq(p.returncode, 2, f"world-writable directory refused: {p.stderr}")
        check("writable by other users" in p.stderr, p.stderr)
        eq(open(victim).read(), "root's data\n", "the victim file is untouched")
        # 5. `vmaprof report` replacing a planted report.json symlink: the
        #    link is replaced, its target untouched
        ok = os.path.join(t, "ok")
        p = record(["-o", ok], ["true"])
        eq(p.returncode, 0, f"a fresh directory works: {p.stderr}")
        os.unlink(os.path.join(ok, "report.json"))
        os.symlink(victim, os.path.join(ok, "report.json"))
        p = subprocess.run([VMAPROF, "report", ok], capture_output=True, text=True, timeout=60)
        eq(p.returncode, 0, f"report: {p.stderr}")
        check(not os.path.islink(os.path.join(ok, "report.json")), "symlink replaced")
        eq(open(victim).read(), "root's data\n", "the victim file is untouched")
        eq(stat.S_IMODE(os.stat(os.path.join(ok, "report.json")).st_mode), 0o600, "0600")
        validate(os.path.join(ok, "report.json"))
        check(not [n for n in os.listdir(ok) if n.endswith(".tmp")], "no temporary files left")


def t_fifos():
    """A FIFO named like a trace file or report.json hangs nothing."""
    with Tmp() as t:
        d = os.path.join(t, "r")
        p = record(["-o", d], [workload("w_faults"), "touch", "10"])
        eq(p.returncode, 0, p.stderr)
        os.mkfifo(os.path.join(d, "preload.4242.123.vpt"))
        os.mkfifo(os.path.join(d, "preload.4243.failed"))
        os.unlink(os.path.join(d, "report.json"))
        os.mkfifo(os.path.join(d, "report.json"))
        t0 = time.time()
        p = subprocess.run([VMAPROF, "report", d], capture_output=True, text=True, timeout=30)
        eq(p.returncode, 0, f"report with FIFOs: {p.stderr}")
        check(time.time() - t0 < 20, "did not hang")
        check(os.path.isfile(os.path.join(d, "report.json")), "report.json is a file now")
        validate(os.path.join(d, "report.json"))
        for fmt in ("text", "records"):
            p = subprocess.run([VMAPROF, "report", d, "--format", fmt, "-o", "-"],
                               capture_output=True, text=True, timeout=30)
            eq(p.returncode, 0, f"--format {fmt} with FIFOs: {p.stderr}")
        # session.json as a FIFO
        d2 = os.path.join(t, "r2")
        p = record(["-o", d2], ["true"])
        os.unlink(os.path.join(d2, "session.json"))
        os.mkfifo(os.path.join(d2, "session.json"))
        p = subprocess.run([VMAPROF, "report", d2, "-o", "-"], capture_output=True, text=True,
                           timeout=30)
        eq(p.returncode, 0, f"report with a FIFO session.json: {p.stderr}")
        # record into a directory holding a FIFO named report.json: refused
        d3 = os.path.join(t, "r3")
        os.mkdir(d3, 0o700)
        os.mkfifo(os.path.join(d3, "report.json"))
        p = record(["-o", d3], ["true"], timeout=30)
        eq(p.returncode, 2, f"refused: {p.stderr}")


def t_unusable():
    """An output that cannot work is refused before the command runs."""
    need_root()
    with Tmp() as t:
        marker = os.path.join(t, "ran")
        f = os.path.join(t, "file")
        open(f, "w").close()
        p = record(["-o", f], ["touch", marker])
        eq(p.returncode, 2, f"-o a regular file: {p.stderr}")
        check("not a directory" in p.stderr, p.stderr)
        mnt = os.path.join(t, "mnt")
        os.mkdir(mnt)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", mnt],
                           capture_output=True, text=True)
        check(m.returncode == 0, f"cannot mount a read-only tmpfs: {m.stderr}")
        p = record(["-o", os.path.join(mnt, "x")], ["touch", marker])
        eq(p.returncode, 2, f"read-only file system: {p.stderr}")
        subprocess.run(["mount", "-o", "remount,rw", mnt], check=True)
        os.mkdir(os.path.join(mnt, "y"), 0o700)
        subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
        p = record(["-o", os.path.join(mnt, "y")], ["touch", marker])
        eq(p.returncode, 2, f"existing directory on a read-only file system: {p.stderr}")
        check("not writable" in p.stderr, p.stderr)
        subprocess.run(["umount", mnt], check=True)
        # a user who cannot create the directory
        p = as_nobody([VMAPROF, "record", "--no-bpf", "-o", "/root/vmaprof-nope", "--",
                       "touch", marker])
        eq(p.returncode, 2, f"unwritable parent: {p.stderr}")
        check(not os.path.exists(marker), "the command never ran")
        p = subprocess.run([VMAPROF, "record", "--stack-depth", "", "--", "true"],
                           capture_output=True, text=True)
        eq(p.returncode, 2, f"--stack-depth '' is not 0: {p.stderr}")


def t_diskfull():
    """A report that cannot be written leaves no truncated file, says so, and
    record keeps the command's exit status; report's failures are exit 2."""
    need_root()
    with Tmp() as t:
        mnt = os.path.join(t, "mnt")
        os.mkdir(mnt)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", mnt],
                           capture_output=True, text=True)
        check(m.returncode == 0, f"cannot mount a small tmpfs: {m.stderr}")
        d = os.path.join(mnt, "r")
        p = record(["-o", d, "--no-preload"], [workload("w_faults"), "touch", "3000"])
        eq(p.returncode, 0, f"first recording: {p.stderr}")
        size = os.path.getsize(os.path.join(d, "report.json"))
        os.unlink(os.path.join(d, "report.json"))
        # fill the disk, then rebuild the report
        # unbuffered: a short last write leaves nothing for close() to
        # flush, so the only ENOSPC is the one looked for here
        fd = os.open(os.path.join(mnt, "fill"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"x" * 65536) > 0:
                pass
        except OSError as e:
            eq(e.errno, errno.ENOSPC, f"filling the small tmpfs: {e}")
        finally:
            os.close(fd)
        p = subprocess.run([VMAPROF, "report", d], capture_output=True, text=True, timeout=60)
        eq(p.returncode, 2, f"report on a full disk: {p.stderr}")
        check("cannot write" in p.stderr and "No space left" in p.stderr, p.stderr)
        check(not os.path.exists(os.path.join(d, "report.json")), "no truncated report.json")
        check(not [n for n in os.listdir(d) if n.endswith(".tmp")], "temporary file removed")
        # record itself on a full disk: the command's status, an ERROR line
        os.truncate(os.path.join(mnt, "fill"), os.path.getsize(os.path.join(mnt, "fill")) -
                    size // 2)
        p = record(["-o", os.path.join(mnt, "r2"), "--no-preload"],
                   ["sh", "-c", "exit 3"])
        eq(p.returncode, 3, f"the command's status: {p.stderr}")
        if not os.path.exists(os.path.join(mnt, "r2", "report.json")):
            check("ERROR" in p.stderr, f"the failure is said: {p.stderr}")
        subprocess.run(["umount", mnt], check=True)
    with Tmp() as t:
        d = os.path.join(t, "r")
        p = record(["-o", d], ["true"])
        for fmt in ("records", "text", "json"):
            with open("/dev/full", "w") as full:
                p = subprocess.run([VMAPROF, "report", d, "--format", fmt, "-o", "-"],
                                   stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
            eq(p.returncode, 2, f"--format {fmt} > /dev/full: {p.stderr}")
            check("No space left" in p.stderr, f"{fmt}: says why: {p.stderr}")


def wait_for(path, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def session_root(d):
    wait_for(os.path.join(d, "session.json"), "session.json")
    for _ in range(100):
        try:
            return json.load(open(os.path.join(d, "session.json")))["root_pid"]
        except (ValueError, KeyError):
            time.sleep(0.05)
    raise AssertionError("no root pid")


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def t_stop():
    """A detached descendant does not make the recorder unstoppable."""
    with Tmp() as t:
        # one SIGTERM, command exits, a daemon lives on: stops after a grace
        d = os.path.join(t, "r")
        p = subprocess.Popen([VMAPROF, "record", "-o", d, "--", "sh", "-c",
                              "setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $! > "
                              + os.path.join(t, "daemon") + "; wait"],
                             stderr=subprocess.PIPE, text=True)
        session_root(d)
        wait_for(os.path.join(t, "daemon"), "the daemon's pid")
        time.sleep(0.3)
        t0 = time.time()
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=30)[1]
        daemon = int(open(os.path.join(t, "daemon")).read())
        eq(p.returncode, 143, f"128 + SIGTERM: {err}")
        check(time.time() - t0 < 10, "stopped within the grace period")
        check(not gone(daemon), "the daemon was left running")
        r = report3.expand(json.load(open(os.path.join(d, "report.json"))))
        validate(os.path.join(d, "report.json"))
        eq([x["pid"] for x in r["processes"] if x["running_at_end"]], [daemon],
           "the daemon is marked running")
        check("left running" in err, err)
        os.kill(daemon, signal.SIGKILL)
        # a command that ignores SIGINT: the second SIGINT stops the recording
        d = os.path.join(t, "r2")
        errf = open(os.path.join(t, "err2"), "w+")  # not a pipe: sleep keeps it open
        p = subprocess.Popen([VMAPROF, "record", "-o", d, "--", "sh", "-c",
                              "trap '' INT; sleep 30"], stderr=errf, text=True)
        session_root(d)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        time.sleep(0.5)
        check(p.poll() is None, "one SIGINT that the command ignores: still recording")
        t0 = time.time()
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
        errf.seek(0)
        err = errf.read()
        check(time.time() - t0 < 10, f"the second SIGINT stopped it: {err}")
        eq(p.returncode, 130, f"128 + SIGINT: {err}")
        r = report3.expand(json.load(open(os.path.join(d, "report.json"))))
        running = [x["pid"] for x in r["processes"] if x["running_at_end"]]
        check(len(running) >= 1, f"the command's processes are marked running: {running}")
        for pid in running:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # timeout --foreground: one SIGTERM after the command exited
        d = os.path.join(t, "r3")
        t0 = time.time()
        p = subprocess.run(["timeout", "--foreground", "3", VMAPROF, "record", "-o", d, "--",
                            "sh", "-c", "sh -c 'setsid sleep 20 </dev/null >/dev/null 2>&1 &'"],
                           capture_output=True, text=True, timeout=60)
        check(time.time() - t0 < 12, f"stopped by timeout's SIGTERM: {p.stderr}")
        eq(p.returncode, 124, f"timeout's status: {p.stderr}")
        r = report3.expand(json.load(open(os.path.join(d, "report.json"))))
        for x in r["processes"]:
            if x["running_at_end"]:
                os.kill(x["pid"], signal.SIGKILL)


def t_after_end():
    """A daemon the recording left running adds nothing to the finished
    directory: after the end its new processes and images find the broker
    gone and stay off (preload/writer.c), and a shim file begun after the
    session's end (an older shim's, or one made by hand here) is left out of
    the report and counted in the summary."""
    with Tmp() as t:
        d = os.path.join(t, "r")
        go, done, pidf = (os.path.join(t, x) for x in ("go", "done", "daemon"))
        daemon_sh = (f"echo \\$\\$ > {pidf}; while [ ! -e {go} ]; do sleep 0.05; done; "
                     f"/bin/true; sh -c 'exec /bin/true'; touch {done}")
        p = subprocess.Popen([VMAPROF, "record", "-o", d, "--", "sh", "-c",
                              f"setsid sh -c \"{daemon_sh}\" </dev/null >/dev/null 2>&1 & wait"],
                             stderr=subprocess.PIPE, text=True)
        session_root(d)
        wait_for(pidf, "the daemon's pid")
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=30)[1]
        eq(p.returncode, 143, f"128 + SIGTERM: {err}")
        daemon = int(open(pidf).read())
        check(not gone(daemon), "the daemon was left running")
        before = sorted(os.listdir(d))
        rep = json.load(open(os.path.join(d, "report.json")))
        nproc = len(rep["processes"])
        open(go, "w").close()
        wait_for(done, "the daemon's processes after the end")
        time.sleep(0.2)
        after = sorted(os.listdir(d))
        eq(after, before, "nothing added to the finished recording")
        # a file begun after the end: left out, and said
        s = json.load(open(os.path.join(d, "session.json")))
        eq(s["complete"], True, "session complete")
        src = next(x for x in before if x.startswith("preload."))
        late = f"preload.{daemon}.{s['end_ns'] + 1000}.vpt"
        shutil.copy(os.path.join(d, src), os.path.join(d, late))
        out, txt = os.path.join(t, "again.json"), os.path.join(t, "again.txt")
        r = subprocess.run([VMAPROF, "report", d, "-o", txt, "--format", "text"],
                           capture_output=True, text=True)
        eq(r.returncode, 0, r.stderr)
        summary = open(txt).read()
        check("left out: 1 shim trace file(s) begun and" in summary,
              f"the summary: {summary[-800:]}")
        r = subprocess.run([VMAPROF, "report", d, "-o", out], capture_output=True, text=True)
        eq(r.returncode, 0, r.stderr)
        validate(out)
        eq(len(json.load(open(out))["processes"]), nproc, "the late file's process is not in it")


def t_stale_pid():
    """After the command was reaped, a signal to the recorder never reaches
    another process that got the command's pid."""
    need_root()
    with Tmp() as t:
        d = os.path.join(t, "r")
        p = subprocess.Popen([VMAPROF, "record", "-o", d, "--", "sh", "-c",
                              "setsid sleep 30 </dev/null >/dev/null 2>&1 & echo $! > "
                              + os.path.join(t, "daemon")], stderr=subprocess.PIPE, text=True)
        root = session_root(d)
        wait_for(os.path.join(t, "daemon"), "the daemon's pid")
        end = time.time() + 10
        while not gone(root) or os.path.exists(f"/proc/{root}"):
            check(time.time() < end, "the command was not reaped")
            time.sleep(0.05)
        impostor = None
        for _ in range(50):
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write(str(root - 1))
            q = subprocess.Popen(["sleep", "30"])
            if q.pid == root:
                impostor = q
                break
            q.kill()
            q.wait()
        check(impostor is not None, "could not give a new process the command's pid")
        p.send_signal(signal.SIGTERM)
        err = p.communicate(timeout=30)[1]
        time.sleep(0.2)
        check(impostor.poll() is None, f"the unrelated process with pid {root} was signalled")
        eq(p.returncode, 143, err)
        impostor.kill()
        impostor.wait()
        os.kill(int(open(os.path.join(t, "daemon")).read()), signal.SIGKILL)


def t_killed():
    """A recorder SIGKILLed mid-recording: the command survives, and the
    report built afterwards says it is incomplete."""
    with Tmp() as t:
        d = os.path.join(t, "r")
        out = os.path.join(t, "done")
        p = subprocess.Popen([VMAPROF, "record", "-o", d, "--", "sh", "-c",
                              f"sleep 1; echo ok > {out}"], stderr=subprocess.PIPE, text=True)
        session_root(d)
        time.sleep(0.3)
        p.kill()
        p.wait()
        wait_for(out, "the command to finish on its own", timeout=10)
        r = subprocess.run([VMAPROF, "report", d, "-o", "-"], capture_output=True, text=True,
                           timeout=60)
        eq(r.returncode, 0, r.stderr)
        rep = report3.expand(json.loads(r.stdout))
        eq(rep["complete"], False, "incomplete recording")
        if rep["collectors"]["bpf"]["active"]:
            eq(rep["collectors"]["bpf"]["complete"], False, "the kernel side says so too")
        s = subprocess.run([VMAPROF, "report", d, "--format", "text"], capture_output=True,
                           text=True, timeout=60)
        check("INCOMPLETE" in s.stdout, f"summary says so:\n{s.stdout}")
        # a whole recording says complete
        d2 = os.path.join(t, "r2")
        p = record(["-o", d2], ["true"])
        eq(json.load(open(os.path.join(d2, "report.json")))["complete"], True, "complete")


def t_prefetch():
    """The files the program runs are opened, indexed and their DWARF read
    while it runs (cli/recording.h, recording__prefetch_start) and the
    report uses them: report.json is byte for byte what `vmaprof report`
    writes of the same recording afterwards, without a prefetch."""
    need_root()
    with Tmp() as t:
        d = os.path.join(t, "r")
        w = workload("w_faults")
        p = record(["-o", d, "--stats"], ["sh", "-c", f"sleep 0.3; {w} cow 200; sleep 0.1"])
        eq(p.returncode, 0, p.stderr)
        import re
        m = re.search(r"during the recording: (\d+) files used, (\d+) opened again", p.stderr)
        check(m and int(m.group(1)) >= 1, f"no prefetched file used:\n{p.stderr}")
        check(m and int(m.group(2)) == 0, f"a file changed meanwhile?\n{p.stderr}")
        again = os.path.join(t, "again.json")
        q = subprocess.run([VMAPROF, "report", d, "-o", again], capture_output=True, text=True)
        eq(q.returncode, 0, q.stderr)
        check(open(os.path.join(d, "report.json"), "rb").read() == open(again, "rb").read(),
              "report.json of record (prefetched) differs from report's")
        validate(os.path.join(d, "report.json"))


def t_pool():
    """The broker makes trace files ahead under hidden names (cli/broker_server.c):
    every process of a loop of short ones gets its own file, named after its
    pid, none of the made-ahead files is left at the end, and the files the
    broker counts are the ones in the directory."""
    need_root()
    with Tmp() as t:
        d = os.path.join(t, "r")
        p = record(["-o", d, "--no-bpf"], ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do "
                                           "/bin/true; done; /bin/true & /bin/true & wait"])
        eq(p.returncode, 0, p.stderr)
        names = os.listdir(d)
        check(not [n for n in names if n.startswith(".pool.")], f"made-ahead files left: {names}")
        traces = sorted(n for n in names if n.startswith("preload.") and n.endswith(".vpt"))
        broker = json.load(open(os.path.join(d, "session.json")))["collectors"]["preload"]["broker"]
        eq(broker["files"], len(traces), f"broker counted vs files in {d}: {names}")
        eq(broker["errors"], 0, "broker errors")
        rep = report3.expand(json.load(open(os.path.join(d, "report.json"))))
        pids = sorted(pr["pid"] for pr in rep["processes"])
        eq(len(pids), 15, f"sh and 14 /bin/true: {pids}")
        eq(sorted({int(n.split(".")[1]) for n in traces}), pids,
           "one trace file per process, named after its pid")
        check(all(pr["preload"]["active"] for pr in rep["processes"]), "every process traced")
        validate(os.path.join(d, "report.json"))


def t_help():
    """`vmaprof --help` lists every option each subcommand accepts (read from
    their getopt tables in the sources)."""
    import re
    src = os.path.dirname(HERE)
    p = subprocess.run([VMAPROF, "--help"], capture_output=True, text=True)
    eq(p.returncode, 0, p.stderr)
    for f in ("cli/cmd_record.c", "cli/attach.c", "cli/cmd_report.c", "cli/cmd_diff.c"):
        opts = re.findall(r'\{ "([a-z-]+)", (?:no|required|optional)_argument', open(
            os.path.join(src, f)).read())
        check(opts, f"no options found in {f}")
        for o in opts:
            if o != "help":
                check(f"--{o}" in p.stdout, f"--{o} ({f}) missing from vmaprof --help")


if __name__ == "__main__":
    main({"symlinks": t_symlinks, "fifos": t_fifos, "unusable": t_unusable,
          "diskfull": t_diskfull, "stop": t_stop, "stale_pid": t_stale_pid,
          "killed": t_killed, "help": t_help, "prefetch": t_prefetch,
          "after_end": t_after_end, "pool": t_pool})
