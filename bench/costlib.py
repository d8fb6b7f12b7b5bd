# SPDX-License-Identifier: MIT
"""What the per-feature cost scripts (kstack_cost.py, rss_stat_cost.py,
wstack_cost.py) share: one `vmaprof record --bpf-stats` into a fresh
directory, and what its session.json says of the kernel collector."""
import json
import os
import shutil
import subprocess


def record_bpf(build, out, cmd, env=None, args=()):
    """Records cmd with --bpf-stats into out (emptied first). Returns the
    finished process, session.json's collectors.bpf, its programs by name
    and the size of bpf.vpt in bytes."""
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([os.path.join(build, "vmaprof"), "record", "--bpf-stats", *args,
                        "-o", out, "--", *cmd], env=env, capture_output=True, text=True)
    if p.returncode:
        raise SystemExit(f"record failed: {p.stderr}")
    b = json.load(open(os.path.join(out, "session.json")))["collectors"]["bpf"]
    progs = {x["name"]: x for x in b.get("programs", [])}
    return p, b, progs, os.path.getsize(os.path.join(out, "bpf.vpt"))


def med(v):
    v = sorted(v)
    return v[len(v) // 2]
