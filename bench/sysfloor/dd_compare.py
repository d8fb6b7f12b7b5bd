# SPDX-License-Identifier: MIT
"""dd (2M syscalls) CPU/wall alone vs beside empty programs / a recording. Usage (repo root): python3 bench/sysfloor/dd_compare.py ROUNDS none,pertp,raw,rawtest,col-raw,col-tracepoints. Needs /tmp/sysfloor (bench/NOTES.md); pertp ids 174/173 are this host's sys_enter_mmap/sys_exit_mmap."""
import subprocess, time, sys, os, signal, statistics, tempfile, shutil
DD = ["dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=1000000"]
modes = sys.argv[2].split(",")
rounds = int(sys.argv[1])
def start(m):
    if m == "none": return None, None
    if m.startswith("col-"):
        d = tempfile.mkdtemp(prefix="fl"); shutil.rmtree(d)
        env = dict(os.environ, VMAPROF_SYSCALL_HOOKS=m[4:])
        p = subprocess.Popen(["build/vmaprof", "record", "-o", d, "--", "sleep", "30"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
        return p, d
    p = subprocess.Popen(["/tmp/sysfloor", m, "30"] + (["174", "173"] if m == "pertp" else []), stderr=subprocess.DEVNULL)
    time.sleep(0.6)
    return p, None
res = {m: [] for m in modes}; wall = {m: [] for m in modes}
for r in range(rounds):
    for m in modes:
        p, d = start(m)
        t = time.perf_counter()
        c = subprocess.Popen(DD, stderr=subprocess.DEVNULL)
        _, st, ru = os.wait4(c.pid, 0)
        wall[m].append(time.perf_counter() - t)
        res[m].append(ru.ru_utime + ru.ru_stime)
        if p:
            p.send_signal(signal.SIGINT if d else signal.SIGTERM); p.wait()
        if d: shutil.rmtree(d, ignore_errors=True)
base = res[modes[0]]; wb = wall[modes[0]]
print("dd if=/dev/zero of=/dev/null bs=1 count=1000000, user+sys CPU s (wall s), alternated, %d rounds" % rounds)
for m in modes:
    v = res[m]
    ratios = [a / b for a, b in zip(v, base)]
    wr = [a / b for a, b in zip(wall[m], wb)]
    print(f"{m:16s} cpu median {statistics.median(v):.3f} min {min(v):.3f} max {max(v):.3f} | cpu ratio pairwise median {statistics.median(ratios):.3f}, min/min {min(v)/min(base):.3f} | wall median {statistics.median(wall[m]):.3f}, ratio median {statistics.median(wr):.3f}")
