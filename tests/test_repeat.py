#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Repeatability of `vmaprof diff` on real jobs (docs/diff.md, "Metrics and
noise"): two identical runs of a job diff clean, printing only the verdict
line under a 25% gate on copies and first touches, and a run of the job
whose copies or first touches grew about 4x fails that gate, naming the role
and the site. Three jobs, the kinds CI runs:

  pool      a Python multiprocessing fork pool (tests/workloads/w_pool.py:
            4 workers, 40 tasks handed out as the scheduler goes); 4x:
            `w_pool.py 4` (a 4x table the workers copy, 4x task buffers)
  build     `make -j2` of bench/gen_build.py --files 10 --tests 10; 4x:
            one source file with a long function added (its compiler's
            first touches grow several times)
  postgres  PostgreSQL + pgbench, a fresh initdb each run (the server as
            user postgres, data and socket dirs in a temp dir):
            `pg_ctl start; pgbench -i -s 2; pgbench -c 2 -t 300; pg_ctl
            stop`; 4x: `pgbench -i -s 8` (4x the rows its parallel CREATE
            INDEX sorts)

Each case records three runs (base, same, 4x); about 1, 1 and 1.5 minutes
on 2 cores.
"""
import glob
import json
import os
import pwd
import shutil
import subprocess
import tempfile

from vptest import VMAPROF, Recording, check, eq, main

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
PYTHON = "/usr/bin/python3"  # Debian's: what a CI machine has
GATE = ["--max-increase", "cow_copy=25%", "--max-increase", "demand_zero=25%"]
VERDICT_OK = "vmaprof diff: no change of 16 pages and 20% or more; 0 of 2 bounds exceeded\n"


def rec(cmd):
    """A recording (schema-checked), kept until the case ends."""
    return Recording(cmd, prefix="vmaprof-repeat-", check_exports=False)


def diff(a, b, *more):
    p = subprocess.run([VMAPROF, "diff", os.path.join(a.dir, "report.json"),
                        os.path.join(b.dir, "report.json"), *GATE, *more],
                       capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def same(a, b, what):
    """Only the verdict line, exit 0, both ways round."""
    for x, y, way in ((a, b, "base -> same"), (b, a, "same -> base")):
        rc, out, err = diff(x, y)
        check(rc == 0 and out == VERDICT_OK,
              f"{what}, {way}: expected exit 0 and only {VERDICT_OK!r}, got exit {rc}:\n"
              f"{out}{err}")


def grown(a, b, what, role_part, metric):
    """Exit 1; `metric` exceeded at a role containing `role_part` (the
    json's full role: the text cuts long ones), naming the site that grew
    the most there; in the text an EXCEEDED line at a role and its `most
    growth` line."""
    rc, out, err = diff(a, b)
    lines = out.splitlines()
    eq(rc, 1, f"{what}: exit status of the 4x run's diff\n{out}{err}")
    hits = [i for i, l in enumerate(lines) if l.startswith(f"EXCEEDED {metric} ") and
            " at * " not in l]
    check(hits and all(i + 1 < len(lines) and lines[i + 1].startswith("  most growth: ")
                       for i in hits), f"{what}: no `EXCEEDED {metric}` at a role, each "
          f"naming a site:\n{out}")
    check(lines[-1].startswith("vmaprof diff: ") and " 0 of 2 bounds" not in lines[-1],
          f"{what}: verdict line:\n{out}")
    rc, js, err = diff(a, b, "--format", "json")
    doc = json.loads(js)
    ex = [e for bd in doc["bounds"] if bd["metric"] == metric for e in bd["exceeded"]
          if e["role"] != "*" and role_part in e["role"]]
    check(ex and all(e["most_grown"] and e["most_grown"]["label"] and
                     e["most_grown"]["new"] > e["most_grown"]["old"] for e in ex),
          f"{what}: json: no {metric} exceeded at a role with {role_part!r} naming its "
          f"site:\n{js}")
    return out


def run_pool(scale):
    return rec([PYTHON, os.path.join(HERE, "workloads", "w_pool.py"), str(scale)])


def t_pool():
    base, again, big = run_pool(1), run_pool(1), run_pool(4)
    try:
        for r in (base, again, big):
            eq(r.rc, 0, f"w_pool.py exit status ({r.stderr})")
        same(base, again, "pool")
        grown(base, big, "pool 4x", "/fork", "cow_copy")
        grown(base, big, "pool 4x", "/fork", "demand_zero")
    finally:
        for r in (base, again, big):
            r.__exit__(None, None, None)


BIG_FUNCTION_LINES = 1000


def run_build(bigger, files=10, tests=10):
    """make -j2 of gen_build.py's project recorded (10 + 10: ~104
    processes; 40 + 40: ~404)."""
    d = tempfile.mkdtemp(prefix="vmaprof-repeat-build-")
    try:
        subprocess.run([PYTHON, os.path.join(SRC, "bench", "gen_build.py"), d, "--files", str(files),
                        "--tests", str(tests)], check=True, capture_output=True)
        if bigger:
            # a long function in one file: its compiler's first touches
            # (cc1's and as's) grow several times
            body = "".join(f"  x = x * {i % 7 + 3} + {i};\n  if (x > {i * 13}) x ^= {i};\n"
                           for i in range(BIG_FUNCTION_LINES))
            with open(os.path.join(d, "lib", "f00.c"), "a") as f:
                f.write(f"\nint f00_big(int x)\n{{\n{body}  return x;\n}}\n")
        return rec(["make", "-C", d, "-j2"])
    finally:
        shutil.rmtree(d, ignore_errors=True)


def t_build():
    base, again, big = run_build(False), run_build(False), run_build(True)
    try:
        for r in (base, again, big):
            eq(r.rc, 0, f"make exit status ({r.stderr[-2000:]})")
        same(base, again, "make -j2")
        grown(base, big, "make -j2, a bigger f00.c", "f00.", "demand_zero")
    finally:
        for r in (base, again, big):
            r.__exit__(None, None, None)


def pg_bin():
    """The newest /usr/lib/postgresql/*/bin with a server (never a wrapper
    on PATH: a CI machine has Debian's packages only)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def run_pg(bindir, scale):
    """One fresh cluster, recorded from pg_ctl start to pg_ctl stop."""
    t = tempfile.mkdtemp(prefix="vmaprof-repeat-pg-")
    pw = pwd.getpwnam("postgres")
    os.chown(t, pw.pw_uid, pw.pw_gid)
    try:
        p = subprocess.run(["runuser", "-u", "postgres", "--", f"{bindir}/initdb", "-D",
                            f"{t}/data", "-A", "trust"], capture_output=True, text=True,
                           timeout=300)
        check(p.returncode == 0, f"initdb failed: {p.stderr}")
        script = (f'B={bindir}; T={t}; '
                  '$B/pg_ctl -D $T/data -o "-k $T -c listen_addresses=" -l $T/log -w start '
                  f'&& $B/pgbench -h $T -i -s {scale} postgres && '
                  '$B/pgbench -h $T -c 2 -t 300 postgres; rc=$?; '
                  '$B/pg_ctl -D $T/data -w stop; exit $rc')
        r = rec(["runuser", "-u", "postgres", "--", "sh", "-c", script])
        log = open(f"{t}/log").read() if os.path.exists(f"{t}/log") else ""
        check(r.rc == 0, f"pgbench run failed ({r.rc}):\n{r.stderr[-3000:]}\n{log[-2000:]}")
        return r
    finally:
        shutil.rmtree(t, ignore_errors=True)


def t_postgres():
    bindir = pg_bin()
    if not bindir:
        print("SKIP: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; "
              "bootstrap.sh test installs the postgresql package)")
        raise SystemExit(77)
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        print("SKIP: no user postgres (the postgresql package makes it)")
        raise SystemExit(77)
    base, again, big = run_pg(bindir, 2), run_pg(bindir, 2), run_pg(bindir, 8)
    try:
        same(base, again, "postgres + pgbench")
        grown(base, big, "postgres + pgbench -s 8", "(postgres: ", "demand_zero")
    finally:
        for r in (base, again, big):
            r.__exit__(None, None, None)


if __name__ == "__main__":
    main({"pool": t_pool, "build": t_build, "postgres": t_postgres})
