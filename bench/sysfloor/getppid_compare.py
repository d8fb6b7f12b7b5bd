# SPDX-License-Identifier: MIT
"""getppid() ns per call (bench/sysfloor/sysloop, best chunk) alone vs beside empty programs / a recording. Usage (repo root): python3 bench/sysfloor/getppid_compare.py ROUNDS none,sud,mmaplock,pertp-enteronly,pertp,raw,col-raw,col-tracepoints. Needs /tmp/sysfloor and /tmp/sysloop (bench/NOTES.md)."""
import subprocess, time, sys, os, signal, statistics, tempfile, shutil
modes = sys.argv[2].split(","); rounds = int(sys.argv[1])
def start(m):
    if m in ("none", "sud"): return None, None
    if m.startswith("col-"):
        d = tempfile.mkdtemp(prefix="fl"); shutil.rmtree(d)
        env = dict(os.environ, VMAPROF_SYSCALL_HOOKS=m[4:])
        p = subprocess.Popen(["build/vmaprof", "record", "-o", d, "--", "sleep", "30"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5); return p, d
    args = ["/tmp/sysfloor", m.replace("-enteronly",""), "30"] + (["174", "173"] if m == "pertp" else ["174", "0"] if m == "pertp-enteronly" else [])
    p = subprocess.Popen(args, stderr=subprocess.DEVNULL); time.sleep(0.6); return p, None
res = {m: [] for m in modes}
for r in range(rounds):
    for m in modes:
        p, d = start(m)
        res[m].append(float(subprocess.run(["/tmp/sysloop"] + (["sud"] if m == "sud" else []), capture_output=True, text=True).stdout))
        if p: p.send_signal(signal.SIGINT if d else signal.SIGTERM); p.wait()
        if d: shutil.rmtree(d, ignore_errors=True)
b = min(res[modes[0]])
print("getppid() ns per call, best 10k-call chunk of 200, alternated, %d rounds" % rounds)
for m in modes:
    v = res[m]; print(f"{m:16s} min {min(v):.1f} median {statistics.median(v):.1f} max {max(v):.1f}  (+{min(v)-b:.1f} ns over none)")
