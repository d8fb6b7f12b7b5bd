# SPDX-License-Identifier: MIT
"""The guest side of tests/kernels/run.py: PID 1 of the test machine.

init.sh switch_root's here with the path of the job file that run.py wrote
into the checkout (mounted writable at the same path as on the host). PID 1
forks a worker and reaps every process until the worker ends, then syncs
and powers the machine off. The worker runs the job:

  shell: `sh -c CMD` in the checkout; its output to output.log, its status
         to done.json
  cases: each test case in turn, as meson would run it (its command line,
         environment and working directory from `meson introspect --tests`),
         each with its own time-out; its output to cases/NAME.log and one
         line per case to results.jsonl (written and synced as each case
         starts and ends, so a machine that dies mid-run still tells which
         case it was in)

Everything the host reads is in the job's outdir; the console gets one line
per event too (VMAPROF-...), the fallback when the share cannot be written.
Python standard library only.
"""
import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time


def console(msg):
    try:
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()
    except OSError:
        pass


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


def append_line(path, obj):
    with open(path, "a") as f:
        f.write(json.dumps(obj) + "\n")
        f.flush()
        os.fsync(f.fileno())


def loopback_up():
    """`ip link set lo up` without iproute2 (SIOCSIFFLAGS)."""
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flags = 0x1 | 0x8 | 0x40  # IFF_UP | IFF_LOOPBACK | IFF_RUNNING
        fcntl.ioctl(s.fileno(), 0x8914, struct.pack("16sH14x", b"lo", flags))
        s.close()
    except OSError as e:
        console(f"guest: could not bring lo up: {e}")


def guest_info():
    u = os.uname()
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    up = float(open("/proc/uptime").read().split()[0])
    mounts = [line.split()[1] + " " + line.split()[2] for line in open("/proc/mounts")]
    return {
        "release": u.release,
        "version": u.version,
        "machine": u.machine,
        "btf": os.path.exists("/sys/kernel/btf/vmlinux"),
        "cpus": os.cpu_count(),
        "mem_bytes": mem,
        "uptime_at_start": up,
        "cmdline": open("/proc/cmdline").read().strip(),
        "mounts": mounts,
    }


def kill_group(p):
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except OSError:
        pass


def run_logged(argv, cwd, env, log_path, timeout):
    """argv in its own session, stdout and stderr to log_path; returns
    (status, seconds, timed_out). The whole session is killed at the end,
    so nothing a case leaves behind runs into the next one."""
    start = time.monotonic()
    with open(log_path, "wb", buffering=0) as log:
        try:
            p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=log, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        except OSError as e:
            log.write(f"guest: cannot run {argv}: {e}\n".encode())
            return 127, time.monotonic() - start, False
        timed_out = False
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(p)
            rc = p.wait()
            log.write(f"\nguest: TIMEOUT after {timeout} s, killed\n".encode())
        kill_group(p)
    return rc, time.monotonic() - start, timed_out


def skip_reason(log_path):
    try:
        text = open(log_path, errors="replace").read()
    except OSError:
        return ""
    for line in text.splitlines():
        if "SKIP" in line:
            return line.strip()
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1].strip() if lines else "(said nothing)"


def do_shell(job, out):
    log = os.path.join(out, "output.log")
    cmd = ["/bin/sh", "-c", job["shell"]]
    console(f"VMAPROF-SHELL-START {job['shell']!r}")
    rc, secs, timed_out = run_logged(cmd, job["checkout"], job["env"], log, job["timeout"])
    if timed_out:
        rc = 124
    elif rc < 0:
        rc = 128 - rc
    write_json(os.path.join(out, "done.json"),
               {"status": rc, "seconds": round(secs, 2), "timed_out": timed_out})
    console(f"VMAPROF-DONE {rc}")
    return rc


def do_cases(job, out):
    results = os.path.join(out, "results.jsonl")
    logs = os.path.join(out, "cases")
    os.makedirs(logs, exist_ok=True)
    failed = 0
    start = time.monotonic()
    budget = job.get("budget")
    for c in job["cases"]:
        name = c["name"]
        if budget and time.monotonic() - start > budget:
            failed += 1
            append_line(results, {"event": "end", "name": name, "status": "not run",
                                  "rc": None, "seconds": 0,
                                  "why": f"the kernel's budget of {budget} s was spent"})
            console(f"VMAPROF-CASE {name} not-run 0")
            continue
        log = os.path.join(logs, name + ".log")
        append_line(results, {"event": "start", "name": name, "time": time.time()})
        console(f"VMAPROF-CASE-START {name}")
        env = dict(job["env"])
        env.update(c["env"])
        rc, secs, timed_out = run_logged(c["cmd"], c["workdir"], env, log, c["timeout"])
        if timed_out:
            status = "timeout"
        elif rc == 0:
            status = "pass"
        elif rc == 77:
            status = "skip"
        else:
            status = "fail"
        rec = {"event": "end", "name": name, "status": status, "rc": rc,
               "seconds": round(secs, 2), "log": os.path.relpath(log, out)}
        if status == "skip":
            rec["why"] = skip_reason(log)
        if status in ("fail", "timeout"):
            failed += 1
        append_line(results, rec)
        console(f"VMAPROF-CASE {name} {status} {secs:.1f}")
    write_json(os.path.join(out, "done.json"), {"status": 1 if failed else 0,
                                                "cases": len(job["cases"])})
    console(f"VMAPROF-DONE {1 if failed else 0}")
    return 0


def worker(job_path):
    job = json.load(open(job_path))
    # where the job file is, not job["outdir"] (the host's path): init.sh
    # may have bound that directory elsewhere, under a build/ of ext4
    out = os.path.dirname(os.path.abspath(job_path))
    socket.sethostname("vmaprof-guest")
    loopback_up()
    info = guest_info()
    write_json(os.path.join(out, "guest.json"), info)
    console(f"VMAPROF-GUEST {info['release']} btf={'yes' if info['btf'] else 'NO'} "
            f"up {info['uptime_at_start']:.1f} s")
    if job["mode"] == "shell":
        return do_shell(job, out)
    return do_cases(job, out)


def power_off():
    os.sync()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.reboot(0x4321FEDC)  # RB_POWER_OFF
    except Exception as e:  # noqa: BLE001 - PID 1 must get to the sysrq below
        console(f"guest: reboot(RB_POWER_OFF): {e}")
    try:
        with open("/proc/sysrq-trigger", "w") as f:
            f.write("o")
    except OSError:
        pass
    time.sleep(60)


def main():
    job_path = sys.argv[1]
    if os.getpid() != 1:  # run by hand: no reaping, no power-off
        sys.exit(worker(job_path))
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            rc = worker(job_path)
        except BaseException as e:  # noqa: BLE001 - said on the console, then power off
            console(f"VMAPROF-GUEST-FAIL: {type(e).__name__}: {e}")
            import traceback
            traceback.print_exc()
            sys.stdout.flush()
        os._exit(rc if isinstance(rc, int) else 1)
    while True:  # PID 1: reap everything until the worker ends
        try:
            p, _ = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if p == pid:
            break
    power_off()


if __name__ == "__main__":
    main()
