# SPDX-License-Identifier: MIT
"""Helpers for vmaprof's end-to-end tests (Python standard library only).

A test records a real run with the built `vmaprof`, then reads the trace
back through `vmaprof report --format text` (the same code users run) and
asserts on the parsed records.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

VMAPROF = os.environ.get("VMAPROF", "vmaprof")
WORKLOADS = os.environ.get("VP_WORKLOADS", ".")


SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with python3-jsonschema
HERE = os.path.dirname(os.path.abspath(__file__))


def validate_report(path):
    """report.json at `path` against schema/report.schema.json (every report
    a test produces goes through this)."""
    p = subprocess.run([SYSTEM_PYTHON, os.path.join(HERE, "validate_report.py"), path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise Fail(f"{path} against the JSON Schema:\n{p.stdout}{p.stderr}")


class Fail(Exception):
    pass


class Recording:
    """`vmaprof record -o <fresh dir>/rec -- cmd`: its status and output,
    report.json validated against the schema and loaded, and every export
    format written and checked against it (exports_check.check_exports;
    check_exports=False only where a test exports itself). A context
    manager: the directory goes at the end. tmp_mode: the fresh directory's
    mode. wrap: a command the recorder runs under (`unshare --pid ...`)."""

    def __init__(self, cmd, args=(), env=None, prefix="vmaprof-test-", tmp_mode=None,
                 check_exports=True, wrap=(), cwd=None):
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        if tmp_mode is not None:
            os.chmod(self.tmp, tmp_mode)
        self.dir = os.path.join(self.tmp, "rec")
        self.args = list(args)
        # wrap: run the recorder itself under it (unshare --pid ...)
        p = subprocess.run([*wrap, VMAPROF, "record", "-o", self.dir, *args, "--", *cmd],
                           capture_output=True, text=True, timeout=300, env=env, cwd=cwd)
        self.rc, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr
        path = os.path.join(self.dir, "report.json")
        check(os.path.exists(path), f"record wrote no report.json: {p.stderr}")
        validate_report(path)
        # schema_version 3 read in version 2's shape (report3.py); the
        # document as written is self.raw
        import report3
        self.raw = json.load(open(path))
        self.report = report3.expand(self.raw)
        self.procs = self.report["processes"]
        if check_exports:
            # every recording a test makes, in every export format, each
            # read back and held against this report.json (exports_check.py)
            import exports_check
            exports_check.check_exports(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def root(self):
        r = [p for p in self.procs if p["forked_from"] is None]
        eq(len(r), 1, "one root process")
        return r[0]

    def require_bpf(self):
        """Exit 77 (skip) where this kernel or build has no BPF; else the
        kernel collector must have run."""
        b = self.report["collectors"]["bpf"]
        if not b["active"]:
            if re.search(r"without BPF|not root|BTF", b["reason"] or ""):
                print(f"SKIP: kernel collector unavailable: {b['reason']}")
                raise SystemExit(77)
            raise AssertionError(f"collector inactive: {b['reason']}")


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: expected {want!r}, got {got!r}")


def workload(name):
    return os.path.join(WORKLOADS, name)


_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\[.*\]$|\S+)')
_FRAME = re.compile(r"  #(\d+) 0x([0-9a-f]+) (\S+?)\+0x([0-9a-f]+) (\S+) (\S+):(-?\d+)$")


def _value(v):
    if v.startswith('"') or v.startswith("["):
        return json.loads(v)
    if re.fullmatch(r"-?\d+", v):
        return int(v)
    if re.fullmatch(r"0x[0-9a-f]+", v):
        return int(v, 16)
    return v


class Record(dict):
    """One dump line: .kind plus key=value fields, .stack a list of frames."""

    def __init__(self, kind, fields):
        super().__init__(fields)
        self.kind = kind
        self.stack = []
        self.missing_stack = False  # the stack id names no stack record

    def functions(self):
        return [f["function"] for f in self.stack]


class Stream:
    def __init__(self, header):
        self.header = header
        self.records = []

    @property
    def pid(self):
        return self.header["pid"]

    def of(self, _kind, **match):
        return [r for r in self.records
                if r.kind == _kind and all(r.get(k) == v for k, v in match.items())]

    def proc(self):
        p = self.of("proc")
        check(len(p) == 1, f"stream {self.header['name']}: {len(p)} proc records")
        return p[0]


def parse_dump(text):
    streams, errors, failed = [], [], []
    cur = None
    rec = None
    for line in text.splitlines():
        if line.startswith("# file "):
            name = line.split()[2]
            fields = {k: _value(v) for k, v in _KV.findall(line)}
            fields["name"] = name
            cur = Stream(fields)
            streams.append(cur)
            rec = None
        elif line.startswith("# error "):
            errors.append(line[8:])
        elif line.startswith("# shim-failed "):
            failed.append(int(line.split("pid=")[1]))
        elif line.startswith("  # stack "):
            check(rec is not None, f"stray line: {line!r}")
            rec.missing_stack = True
        elif line.startswith("  #"):
            m = _FRAME.match(line)
            check(m is not None and rec is not None, f"bad frame line: {line!r}")
            rec.stack.append({
                "n": int(m.group(1)), "ip": int(m.group(2), 16),
                "function": m.group(3), "offset": int(m.group(4), 16),
                "module": m.group(5), "file": m.group(6), "line": int(m.group(7)),
            })
        elif line.strip():
            check(cur is not None, f"record before any file: {line!r}")
            kind, rest = line.split(" ", 1)
            rec = Record(kind, {k: _value(v) for k, v in _KV.findall(rest)})
            cur.records.append(rec)
    return streams, errors, failed


class Run:
    def __init__(self, rc, stdout, stderr, outdir, streams, errors, failed):
        self.rc, self.stdout, self.stderr, self.dir = rc, stdout, stderr, outdir
        self.streams, self.errors, self.failed = streams, errors, failed

    @property
    def preload(self):
        """The shim's streams (one per process image), in start order."""
        return [s for s in self.streams if s.header["source"] == "preload"]

    @property
    def bpf(self):
        """The kernel collector's stream, or None."""
        b = [s for s in self.streams if s.header["source"] == "bpf"]
        return b[0] if b else None

    def by_pid(self, pid):
        """Streams of one pid in start order (several after exec)."""
        return [s for s in self.streams if s.pid == pid and s.header["source"] == "preload"]

    def by_exe(self, suffix):
        return [s for s in self.streams if s.header["source"] == "preload"
                and s.proc()["exe"].endswith(suffix)]

    def assert_clean(self):
        """No loss, no damage, no shim failure anywhere."""
        check(not self.errors, f"dump errors: {self.errors}")
        check(not self.failed, f"shim failed in pids {self.failed}")
        for s in self.streams:
            for k in ("lost", "incomplete", "bad", "truncated"):
                eq(s.header[k], 0, f"{s.header['name']} {k}")
            eq(s.header["disabled"], "none", f"{s.header['name']} disabled")


def record(cmd, args=(), timeout=300, stdin=None, env=None, keep=False):
    tmp = tempfile.mkdtemp(prefix="vmaprof-test-")
    outdir = os.path.join(tmp, "rec")
    p = subprocess.run([VMAPROF, "record", "-o", outdir, *args, "--", *cmd],
                       capture_output=True, text=True, timeout=timeout, stdin=stdin,
                       env=env)
    d = subprocess.run([VMAPROF, "report", outdir, "--format", "records"],
                       capture_output=True, text=True, timeout=timeout)
    check(d.returncode == 0, f"report failed ({d.returncode}): {d.stderr}")
    streams, errors, failed = parse_dump(d.stdout)
    run = Run(p.returncode, p.stdout, p.stderr, outdir, streams, errors, failed)
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return run


def main(tests):
    """Run the test named in argv[1] from the dict `tests`; `--list` prints
    the names, one per line (tests/meson.build asks each script for them, so
    a case cannot be left out of the suite)."""
    if sys.argv[1:] == ["--list"]:
        print("\n".join(tests))
        sys.exit(0)
    if len(sys.argv) != 2 or sys.argv[1] not in tests:
        print(f"usage: {sys.argv[0]} {{{','.join(tests)}}}", file=sys.stderr)
        sys.exit(2)
    try:
        tests[sys.argv[1]]()
    except Fail as e:
        print(f"FAIL {sys.argv[1]}: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"ok {sys.argv[1]}")
