#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Byte-identical outputs across a refactoring: record a set of baseline
trace directories once, render every output of each with one vmaprof, and
compare the renderings of two vmaprofs byte for byte.

usage: tests/same_outputs.py record BUILD DIR     record the baselines into DIR/traces
       tests/same_outputs.py render VMAPROF DIR OUT   every output of every trace
       tests/same_outputs.py compare OUT_A OUT_B  exit 1 and list what differs

The recordings run copies of the workloads (DIR/bin), so that symbolizing
them later reads the same bytes whatever is rebuilt meanwhile. Rendered per
trace directory: report.json (default and --every-vma), text, html, pprof,
perfetto, folded, records (with and without stacks); and `vmaprof diff` of
pairs of reports in text, json and markdown. Needs root (the kernel
collector) for `record`.
"""
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")

FORMATS = [
    ("report.json", ["--format", "json"]),
    ("report.every.json", ["--format", "json", "--every-vma"]),
    ("plumbing.json", ["--format", "json", "--plumbing", "function:build_*"]),
    ("summary.txt", ["--format", "text"]),
    ("report.html", ["--format", "html"]),
    ("profile.pb.gz", ["--format", "pprof"]),
    ("perfetto.json", ["--format", "perfetto"]),
    ("folded.txt", ["--format", "folded"]),
    ("records.txt", ["--format", "records"]),
    ("records.nostacks.txt", ["--format", "records", "--no-stacks"]),
]

# (name, workload binary under BUILD, its arguments)
RECORDINGS = [
    ("demo", "vmaprof-demo", []),
    ("cow", "tests/w_faults", ["cow", "300"]),
    ("forkzero", "tests/w_faults", ["forkzero", "200"]),
    ("shared", "tests/w_faults", ["shared", "64", "3"]),
    ("split", "tests/w_faults", ["split", "50"]),
    ("reuse", "tests/w_faults", ["reuse", "200"]),
    ("static", "tests/w_faults_static", ["cow", "100"]),
    ("sigstack", "tests/w_sigstack", ["malloc"]),
    ("cxx", "tests/w_cxx", []),
]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, **kw)


def record(build, d):
    # vmaprof finds its shim in preload/ beside itself: copies of both, so
    # that the shim's own frames in the traces symbolize the same later
    bindir = os.path.join(d, "bin")
    os.makedirs(os.path.join(bindir, "preload"), exist_ok=True)
    vmaprof = os.path.join(bindir, "vmaprof")
    shutil.copy2(os.path.join(build, "vmaprof"), vmaprof)
    for f in os.listdir(os.path.join(build, "preload")):
        if f.endswith(".so"):
            shutil.copy2(os.path.join(build, "preload", f), os.path.join(bindir, "preload", f))
    traces = os.path.join(d, "traces")
    os.makedirs(traces, exist_ok=True)
    for name, exe, args in RECORDINGS:
        src = os.path.join(build, exe)
        if not os.path.exists(src):
            print(f"skip {name}: no {src}")
            continue
        dst = os.path.join(bindir, os.path.basename(exe))
        shutil.copy2(src, dst)
        out = os.path.join(traces, name)
        shutil.rmtree(out, ignore_errors=True)
        p = run([vmaprof, "record", "-o", out, "--", dst] + args)
        print(f"{name}: exit {p.returncode}")
    # CPython forking workers (the interpreter is the system's)
    shutil.copy2(os.path.join(HERE, "workloads", "w_pyfork.py"), bindir)
    out = os.path.join(traces, "pyfork")
    shutil.rmtree(out, ignore_errors=True)
    p = run([vmaprof, "record", "-o", out, "--", "/usr/bin/python3",
             os.path.join(bindir, "w_pyfork.py")])
    print(f"pyfork: exit {p.returncode}")
    # a build of many processes
    proj = os.path.join(d, "proj")
    shutil.rmtree(proj, ignore_errors=True)
    subprocess.run([sys.executable, os.path.join(HERE, "..", "bench", "gen_build.py"), proj,
                    "--files", "6", "--tests", "6"], check=True)
    out = os.path.join(traces, "build")
    shutil.rmtree(out, ignore_errors=True)
    p = run([vmaprof, "record", "-o", out, "--", "make", "-s", "-C", proj, "-j2"])
    print(f"build: exit {p.returncode}")


def trace_dirs(d):
    out = []
    tr = os.path.join(d, "traces")
    for n in sorted(os.listdir(tr)):
        out.append((n, os.path.join(tr, n)))
    for n in sorted(os.listdir(GOLDEN)):
        p = os.path.join(GOLDEN, n)
        if os.path.isdir(p):
            out.append(("golden-" + n, p))
    return out


def render(vmaprof, d, outdir):
    os.makedirs(outdir, exist_ok=True)
    reports = []
    for name, td in trace_dirs(d):
        for fname, args in FORMATS:
            dst = os.path.join(outdir, f"{name}.{fname}")
            p = run([vmaprof, "report", td, "-o", dst] + args)
            with open(dst + ".exit", "w") as f:
                f.write(f"{p.returncode}\n{p.stderr.decode(errors='replace')}")
            if fname == "report.json" and p.returncode == 0:
                reports.append((name, dst))
    pairs = [(a, b) for a in reports for b in reports if a[0] != b[0]][:40]
    pairs += [(a, a) for a in reports[:3]]
    fixtures = os.path.join(HERE, "fixtures", "diff")
    fx = sorted(os.path.join(fixtures, f) for f in os.listdir(fixtures) if f.endswith(".json"))
    pairs += [((os.path.basename(a), a), (os.path.basename(b), b)) for a in fx for b in fx]
    for (an, a), (bn, b) in pairs:
        for fmt in ("text", "json", "markdown"):
            for gate in ([], ["--max-increase", "cow_copy=10%", "--max-increase",
                              "demand_zero=0%", "--min-pages", "1"]):
                p = run([vmaprof, "diff", a, b, "--format", fmt] + gate)
                tag = "gate" if gate else "plain"
                with open(os.path.join(outdir, f"diff.{an}.{bn}.{fmt}.{tag}"), "wb") as f:
                    f.write(b"exit %d\n" % p.returncode + p.stdout + b"\n--stderr--\n" + p.stderr)
    for bad in (["diff"], ["diff", "/nonexistent.json", "/nonexistent.json"],
                ["report"], ["report", "/nonexistent"], ["report", GOLDEN, "--format", "x"]):
        p = run([vmaprof] + bad)
        with open(os.path.join(outdir, "bad." + "_".join(bad).replace("/", "_")), "wb") as f:
            f.write(b"exit %d\n" % p.returncode + p.stdout + b"\n--stderr--\n" + p.stderr)
    print(f"{len(os.listdir(outdir))} files in {outdir}")


def digest(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def compare(a, b):
    na, nb = set(os.listdir(a)), set(os.listdir(b))
    bad = sorted(na ^ nb)
    for n in sorted(na & nb):
        if digest(os.path.join(a, n)) != digest(os.path.join(b, n)):
            bad.append(n)
    for n in bad:
        print("differs:", n)
    print(f"{len(na | nb) - len(bad)} of {len(na | nb)} files identical")
    return 1 if bad else 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "record":
        record(os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "render":
        render(os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3]),
               os.path.abspath(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        return compare(sys.argv[2], sys.argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
