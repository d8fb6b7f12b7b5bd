#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A live Redis server's SET throughput while `vmaprof record -p` records it,
against the same server unrecorded (issue 23: within 5%). Section P1 of
bench/run.py.

    bench/redis_attach.py --vmaprof PATH/vmaprof [--rounds N] [--requests N]

One redis-server (Debian's, no persistence, a private port) runs for the
whole measurement. Each round runs `redis-benchmark -t set` against it
unrecorded, then again while `vmaprof record -p PID` is attached (started
before, stopped with SIGINT after, its report written as usual); the order
alternates round by round, so a machine that slows down in the middle
slows both. The figure is the ratio of the median requests/s, recorded
over unrecorded (1.00 = no cost), with the minimum and maximum of the
per-round ratios. Where the kernel collector cannot load (no root, no BPF),
the section says so and gives no figure.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PORT = 6397


def need(prog):
    p = shutil.which(prog)
    if not p:
        raise RuntimeError(f"{prog} is not installed (Debian: apt-get install redis-server)")
    return p


def wait_port(port, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not listen on port {port} in {timeout:.0f} s")


def server_cpu(pid):
    """CPU seconds (user + sys) process pid has used."""
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def bench_set(port, requests, cpu=None):
    """requests/s of one `redis-benchmark -t set` run; with cpu = (pid,
    list), the CPU seconds server pid used meanwhile appended to the list."""
    c0 = server_cpu(cpu[0]) if cpu is not None else 0
    p = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(requests),
                        "-c", "50", "-q", "--csv"], capture_output=True, text=True, timeout=600)
    if cpu is not None:
        cpu[1].append(server_cpu(cpu[0]) - c0)
    for line in p.stdout.splitlines():
        f = [x.strip('"') for x in line.split(",")]
        if f and f[0] == "SET":
            return float(f[1])
    raise RuntimeError(f"redis-benchmark gave no SET figure: {p.stdout}{p.stderr}")


def recorded(vmaprof, pid, port, requests, tmp, k, hooks=None, cpu=None):
    """requests/s with vmaprof attached; the recording's own figures (its
    session's syscall hooks added to the set `hooks`)."""
    out = os.path.join(tmp, f"rec{k}")
    shutil.rmtree(out, ignore_errors=True)
    err = open(os.path.join(tmp, f"rec{k}.err"), "w+")
    rec = subprocess.Popen([vmaprof, "record", "-p", str(pid), "-o", out],
                           stdout=subprocess.DEVNULL, stderr=err)
    try:
        # attached when it says so (docs/attach.md); give up after 30 s
        end = time.monotonic() + 30
        while time.monotonic() < end:
            err.seek(0)
            text = err.read()
            if "attached to" in text:
                break
            if rec.poll() is not None:
                raise RuntimeError(f"vmaprof record -p exited {rec.returncode}: {text[-400:]}")
            time.sleep(0.05)
        else:
            raise RuntimeError("vmaprof record -p did not attach in 30 s")
        rps = bench_set(port, requests, None if cpu is None else (pid, cpu))
    finally:
        rec.send_signal(signal.SIGINT)
        rec.wait(timeout=300)
        err.close()
    if rec.returncode != 0:
        raise RuntimeError(f"vmaprof record -p exited {rec.returncode}")
    if hooks is not None:
        with open(os.path.join(out, "session.json")) as f:
            b = json.load(f)["collectors"]["bpf"]
        hooks.add(b.get("syscall_hooks") if b.get("active") else f"inactive: {b.get('reason')}")
    shutil.rmtree(out, ignore_errors=True)
    return rps


def run(vmaprof, rounds=5, requests=100000, tmp=None):
    need("redis-server")
    need("redis-benchmark")
    own = tmp is None
    tmp = tempfile.mkdtemp(prefix="vmaprof-redis-") if own else tmp
    srv = subprocess.Popen(["redis-server", "--port", str(PORT), "--bind", "127.0.0.1",
                            "--save", "", "--appendonly", "no", "--daemonize", "no",
                            "--dir", tmp], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    bare, rec, ratios, hooks, cpu_bare, cpu_rec = [], [], [], set(), [], []
    try:
        wait_port(PORT)
        bench_set(PORT, requests // 4)  # warm: the server's own first allocations
        for k in range(rounds):
            if k % 2 == 0:
                b = bench_set(PORT, requests, (srv.pid, cpu_bare))
                r = recorded(vmaprof, srv.pid, PORT, requests, tmp, k, hooks, cpu_rec)
            else:
                r = recorded(vmaprof, srv.pid, PORT, requests, tmp, k, hooks, cpu_rec)
                b = bench_set(PORT, requests, (srv.pid, cpu_bare))
            bare.append(b)
            rec.append(r)
            ratios.append(r / b)
    finally:
        srv.terminate()
        srv.wait(timeout=30)
        if own:
            shutil.rmtree(tmp, ignore_errors=True)
    return {"bare": bare, "recorded": rec, "ratios": ratios,
            "ratio": statistics.median(rec) / statistics.median(bare), "requests": requests,
            "hooks": sorted(hooks), "cpu_bare": cpu_bare, "cpu_recorded": cpu_rec}


def table(res):
    b, r = res["bare"], res["recorded"]
    return "\n".join([
        f"`redis-benchmark -t set -n {res['requests']} -c 50` against one redis-server, "
        f"unrecorded and under `vmaprof record -p`, alternated, {len(b)} rounds:", "",
        "| | requests/s median | min-max |", "|---|---|---|",
        f"| unrecorded | {statistics.median(b):.0f} | {min(b):.0f}-{max(b):.0f} |",
        f"| under `record -p` | {statistics.median(r):.0f} | {min(r):.0f}-{max(r):.0f} |",
        f"| ratio (recorded / unrecorded) | {res['ratio']:.3f} of medians | "
        f"{min(res['ratios']):.3f}-{max(res['ratios']):.3f} per round |", ""])


def figures(build, vmaprof, tmp, quick, rounds):
    """bench/run.py's P1 section."""
    res = run(vmaprof, rounds=max(3, rounds), requests=20000 if quick else 100000)
    return {"lines": [table(res)], "ratio": res["ratio"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vmaprof", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100000)
    a = ap.parse_args()
    print(table(run(a.vmaprof, a.rounds, a.requests)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
