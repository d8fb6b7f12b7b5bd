# SPDX-License-Identifier: MIT
"""Signal-stack cost per hook kind: w_malloc 20000 under record --bpf-stats, with and without signal stacks, raw vs per-syscall tracepoints. Usage (repo root): python3 bench/sysfloor/sig_compare.py"""
import subprocess, json, os, re, tempfile, shutil, statistics
res = {}
for r in range(5):
    for m in ("raw", "tracepoints"):
        for sig in (1, 0):
            d = tempfile.mkdtemp(prefix="sg"); shutil.rmtree(d)
            args = ["build/vmaprof", "record", "--bpf-stats", "-o", d] + ([] if sig else ["--no-signal-stacks"]) + ["--", "build/bench/w_malloc", "20000"]
            p = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, VMAPROF_SYSCALL_HOOKS=m))
            ns = float(re.search(r"ns_per_iter[ =:]+([0-9.]+)", p.stdout + p.stderr).group(1))
            b = json.load(open(d + "/session.json"))["collectors"]["bpf"]
            progs = {x["name"]: x for x in b["programs"]}
            ex = progs["sc_exit" if m == "tracepoints" else "sys_exit"]
            res.setdefault((m, sig), []).append((ns, ex["run_time_ns"], ex["run_cnt"]))
            shutil.rmtree(d)
for k, v in sorted(res.items()):
    print(k, "loop ns/iter median %.0f [%.0f-%.0f]" % (statistics.median(x[0] for x in v), min(x[0] for x in v), max(x[0] for x in v)),
          "exit prog total ms median %.1f, runs median %d, ns/run median %.0f" % (statistics.median(x[1] for x in v) / 1e6, statistics.median(x[2] for x in v), statistics.median(x[1] / x[2] for x in v)))
