# SPDX-License-Identifier: MIT
"""Programs hostile to the shim (tests/workloads/w_hostile.c) and damaged
traces: the shim must never break or kill the program, never misattribute,
and the report must say what it could not record and why."""
import json
import os
import random
import shutil
import subprocess
import tempfile

import report3
from vptest import VMAPROF, check, eq, main, parse_dump, workload, Fail

W = workload("w_hostile")
W_SHIM = workload("w_shim")


class Rec:
    """`vmaprof record` of cmd into a temporary directory, kept until exit."""

    def __init__(self, cmd, args=("--no-bpf",)):
        self.tmp = tempfile.mkdtemp(prefix="vmaprof-hostile-")
        self.dir = os.path.join(self.tmp, "rec")
        p = subprocess.run([VMAPROF, "record", "-o", self.dir, *args, "--", *cmd],
                           capture_output=True, text=True, timeout=300)
        self.rc, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr
        self.report = report3.expand(json.load(open(os.path.join(self.dir, "report.json"))))
        d = subprocess.run([VMAPROF, "report", self.dir, "--format", "records"],
                           capture_output=True, text=True, timeout=300)
        eq(d.returncode, 0, f"report --format records: {d.stderr}")
        self.streams, self.errors, self.failed = parse_dump(d.stdout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def proc(self, pid):
        p = [p for p in self.report["processes"] if p["pid"] == pid]
        eq(len(p), 1, f"processes with pid {pid}")
        return p[0]

    def streams_of(self, pid):
        return [s for s in self.streams if s.header["source"] == "preload" and s.pid == pid]


def shim_mmaps(stream, fn):
    return [r for r in stream.of("mem", call="mmap", src="shim")
            if r.stack and r.stack[0]["function"] == fn]


def vmas_by(proc, fn):
    return [v for v in proc["vmas"] if v["stack"] and v["stack"][0]["function"] == fn]


def rawclone(kind):
    n = 1000
    with Rec([W, "rawclone", str(n), kind]) as r:
        eq(r.rc, 0, f"exit status ({r.stderr})")
        out = dict(l.split(" ", 1) for l in r.stdout.split("\n") if l.startswith("child "))
        child = int(out["child"])
        parent = r.report["processes"][0]["pid"]
        check(child != parent, "two processes")
        ps = r.streams_of(parent)
        eq(len(ps), 1, "parent streams")
        # every record of the parent's stream is the parent's own
        eq(sorted({rec["pid"] for rec in ps[0].records}), [parent], "pids in the parent's stream")
        eq(len(shim_mmaps(ps[0], "child_map")), 0, "child's mmaps in the parent's stream")
        eq(len(shim_mmaps(ps[0], "parent_map")), 3, "parent's own mmaps")
        cs = r.streams_of(child)
        eq(len(cs), 1, "child streams")
        eq(sorted({rec["pid"] for rec in cs[0].records}), [child], "pids in the child's stream")
        eq(len(shim_mmaps(cs[0], "child_map")), n, "child's mmaps in its own stream")
        eq(cs[0].proc()["ppid"], parent, "child's ppid")
        for s in (ps[0], cs[0]):
            for k in ("lost", "incomplete", "bad", "truncated"):
                eq(s.header[k], 0, f"{s.header['name']} {k}")
        # the report: no phantom VMAs in the parent, exactly n in the child
        eq(len(vmas_by(r.proc(parent), "child_map")), 0, "phantom VMAs in the parent")
        eq(len(vmas_by(r.proc(parent), "parent_map")), 3, "parent's VMAs")
        eq(len(vmas_by(r.proc(child), "child_map")), n, "child's VMAs")
        eq(r.proc(child)["preload"]["active"], True, "child traced by the shim")


def t_rawclone():
    rawclone("clone")


def t_rawclone3():
    rawclone("clone3")


def t_rawclone_asm():
    rawclone("asm")


def t_seccomp():
    """A filter that kills on fallocate and madvise, installed after the
    shim started: the program must run as it does bare (exit 0), the shim
    must stop before making either call, and the report must say why."""
    n = 20000
    bare = subprocess.run([W, "seccomp", str(n)], capture_output=True, text=True, timeout=120)
    eq((bare.returncode, bare.stdout), (0, f"pairs {n}\n"), "bare run")
    with Rec([W, "seccomp", str(n)]) as r:
        eq(r.rc, 0, f"exit status under vmaprof record ({r.stderr[-400:]})")
        eq(r.stdout, f"pairs {n}\n", "program output")
        p = r.report["processes"][0]
        eq(p["exit_signal"], None, "killed by a signal")
        why = p["preload"]["reason"] or ""
        check("seccomp" in why and "fallocate" in why,
              f"report says the shim stopped for the seccomp filter: {why!r}")
        s = r.streams_of(p["pid"])
        eq(len(s), 1, "streams")
        eq(s[0].header["disabled"], "seccomp", "disabled reason in the trace header")
        got = len(shim_mmaps(s[0], "pair_map"))
        unm = len([x for x in s[0].of("mem", call="munmap", src="shim")])
        lost = s[0].header["lost"]
        check(0 < got < n, f"recorded some pairs before stopping ({got})")
        # every call the shim saw is either recorded or counted as lost
        check(got + unm + lost >= 2 * n, f"recorded {got}+{unm} + lost {lost} < {2 * n}")
        check(r.report["collectors"]["preload"]["lost"] >= lost, "report counts the lost calls")
        # nothing is damaged: the file just ends where the shim stopped
        eq(r.report["lost"]["damaged_records"], 0, "damaged records")
        print(f"recorded {got} mmaps + {unm} munmaps, lost {lost}, of {2 * n} calls")
        check("seccomp" in r.stderr, f"summary says why: {r.stderr[-600:]}")


def t_seccomp_harmless():
    """A filter that kills only a syscall the shim never makes: the shim
    goes on recording everything."""
    n = 20000
    with Rec([W, "seccomp", str(n), "101"]) as r:  # 101: ptrace
        eq(r.rc, 0, f"exit status ({r.stderr[-400:]})")
        p = r.report["processes"][0]
        s = r.streams_of(p["pid"])
        eq(len(s), 1, "streams")
        eq(s[0].header["disabled"], "none", "disabled")
        eq(s[0].header["lost"], 0, "lost")
        eq(len(shim_mmaps(s[0], "pair_map")), n, "all pairs recorded")
        eq(p["preload"]["reason"], None, "no reason: complete")


def t_seccomp_fork():
    """A child forked under a filter that would kill the shim's start-up
    calls: it must run as bare (before: killed by SIGSYS at its first
    fallocate), record nothing, and the report must say why."""
    n = 2000
    with Rec([W, "seccomp_fork", str(n)]) as r:
        eq(r.rc, 0, f"exit status ({r.stderr[-400:]})")
        child = int(r.stdout.split()[1])
        eq(r.stdout, f"child {child} pairs {n}\n", "program output")
        eq(r.streams_of(child), [], "streams of the child")
        p = r.proc(child)
        eq(p["exit_signal"], None, "child killed by a signal")
        why = p["preload"]["reason"] or ""
        check("seccomp" in why, f"the report says why the child has no trace: {why!r}")


def t_seccomp_exec():
    """An image that starts under a filter the shim never saw installed
    (inherited across exec): the shim cannot know what the filter allows,
    so it makes no call of its own; the program runs as bare."""
    n = 20000
    with Rec([W, "seccomp_exec", str(n)]) as r:
        eq(r.rc, 0, f"exit status ({r.stderr[-400:]})")
        eq(r.stdout, f"pairs {n}\n", "program output")
        p = r.report["processes"][0]
        eq(p["exit_signal"], None, "killed by a signal")
        # the image before the exec was recorded; the one after has no stream
        s = r.streams_of(p["pid"])
        eq(len(s), 1, "streams (the first image only)")
        eq(len(shim_mmaps(s[0], "pair_map")), 0, "pairs recorded")
        why = p["preload"]["reason"] or ""
        eq(p["preload"]["active"], False, "preload active")
        check("seccomp" in why, f"the report says why there is no trace: {why!r}")


def report_json(d):
    p = subprocess.run([VMAPROF, "report", d, "-o", "-"], capture_output=True, text=True,
                       timeout=120)
    eq(p.returncode, 0, f"report on {d}: {p.stderr[-400:]}")
    r = json.loads(p.stdout)
    r["tool"].pop("version", None)
    return r


def content_len(path):
    """Bytes of a trace file that hold something: the header and `head`
    bytes of data (the rest of a shim file's last segment is zeroes)."""
    data = open(path, "rb").read(4096)
    size = os.path.getsize(path)
    if len(data) < 4096:
        return size
    head = int.from_bytes(data[48:56], "little")
    return min(size, 4096 + head) if head else size


def t_bitflip():
    """Random single-bit flips in recorded traces: every flip that changes
    the report must show in its lost counters (damaged records or an
    unreadable file) -- never a silently different report."""
    flips = int(os.environ.get("VP_FLIPS", "200"))
    seed = int(os.environ.get("VP_FLIP_SEED", "20261129"))
    args = ("--no-bpf",) if os.geteuid() != 0 else ()
    with Rec([W, "rawclone", "300", "clone"], args=args) as r:
        eq(r.rc, 0, "exit status")
        names = sorted(n for n in os.listdir(r.dir) if n.endswith(".vpt"))
        check(names, "trace files")
        sizes = [content_len(os.path.join(r.dir, n)) for n in names]
        base = report_json(r.dir)
        eq(base["lost"]["damaged_records"], 0, "damage in the clean recording")
        rnd = random.Random(seed)
        changed = silent = 0
        silent_where = []
        work = os.path.join(r.tmp, "flip")
        for i in range(flips):
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            for n in os.listdir(r.dir):
                if n.endswith(".vpt") or n.endswith(".failed") or n == "session.json":
                    shutil.copy(os.path.join(r.dir, n), os.path.join(work, n))
            k = rnd.choices(range(len(names)), weights=sizes)[0]
            bit = rnd.randrange(sizes[k] * 8)
            path = os.path.join(work, names[k])
            with open(path, "r+b") as f:
                f.seek(bit // 8)
                b = f.read(1)[0]
                f.seek(bit // 8)
                f.write(bytes([b ^ (1 << (bit % 8))]))
            got = report_json(work)
            if got == base:
                continue
            changed += 1
            lost = got["lost"]
            if lost["damaged_records"] == 0 and lost["unreadable_files"] == 0:
                silent += 1
                silent_where.append(f"{names[k]}@{bit // 8}.{bit % 8}")
        print(f"{flips} flips (seed {seed}) over {len(names)} files: {changed} changed the "
              f"report, {silent} of them with nothing counted in lost")
        eq(silent, 0, f"flips that changed the report silently ({silent_where[:10]})")


def t_killed():
    """A writer killed (SIGKILL) after filling more than one segment: the
    full segments are verified by their checksums, the last one -- never
    sealed -- is read unverified, and nothing is called damaged."""
    n = 15000  # ~1.6 MiB of mmap records: two segments
    with Rec([W_SHIM, "killme", str(n)]) as r:
        eq(r.rc, 128 + 9, "exit status (SIGKILL)")
        s = [s for s in r.streams if s.header["source"] == "preload"]
        eq(len(s), 1, "streams")
        h = s[0].header
        eq(h["checksums"], "segments", "checksummed, not sealed (killed)")
        eq((h["seg_damaged"], h["hdr_damaged"], h["incomplete"], h["bad"]), (0, 0, 0, 0),
           "damage")
        check(0 < h["unverified"] < 1 << 20, f"only the last segment unverified: {h['unverified']}")
        mm = [x for x in s[0].of("mem", call="mmap", src="shim")
              if x.stack and x.stack[0]["function"] == "map_from_here"]
        eq(len(mm), n, "every mmap recorded before the kill")
        eq(r.report["lost"]["damaged_records"], 0, "report: damaged")


def t_sealed_golden():
    """The golden fork_cow recording sealed by an independent CRC-32C
    (tests/fuzz/run_fuzz.py, Python): the report is exactly the golden one
    (every checksum verifies); one flipped bit in a file's data makes all
    of that file's records damaged -- exactly the count its seal names --
    and none of them used."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))
    from run_fuzz import sealed
    golden = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "fork_cow")
    want = json.load(open(os.path.join(golden, "expected.json")))
    with tempfile.TemporaryDirectory() as t:
        d = os.path.join(t, "rec")
        os.makedirs(d)
        traces = []
        for n in os.listdir(golden):
            if n == "expected.json":
                continue
            b = open(os.path.join(golden, n), "rb").read()
            if n.endswith(".vpt"):
                b = sealed(b)
                eq(int.from_bytes(b[28:32], "little") & 2, 2, f"{n} sealed")
                traces.append((n, int.from_bytes(b[112:116], "little")))
            open(os.path.join(d, n), "wb").write(b)
        got = report_json(d)
        eq(got, want, "report of the sealed recording")
        for n, nrec in traces:
            p = os.path.join(d, n)
            b = bytearray(open(p, "rb").read())
            b[4096 + 40] ^= 0x10  # inside the first record
            open(p, "wb").write(b)
            got = report_json(d)
            eq(got["lost"]["damaged_records"], nrec, f"{n}: damaged records")
            b[4096 + 40] ^= 0x10
            open(p, "wb").write(b)
        eq(report_json(d), want, "restored")


def t_session_json():
    """session.json is read whole, in one read(2) per 64 KiB (jansson's
    json_loadfd read it a byte per call): the golden recording's report is
    the same with its session.json padded by 100 KiB of blanks (several
    reads); one larger than 64 MiB is refused with a clear error, not read
    without end."""
    golden = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "fork_cow")
    want = json.load(open(os.path.join(golden, "expected.json")))
    with tempfile.TemporaryDirectory() as t:
        d = os.path.join(t, "rec")
        shutil.copytree(golden, d)
        os.remove(os.path.join(d, "expected.json"))
        sp = os.path.join(d, "session.json")
        text = open(sp).read()
        open(sp, "w").write(text + " " * 100000 + "\n")
        eq(report_json(d), want, "report with a padded session.json")
        with open(sp, "w") as f:
            f.write(text)
            f.truncate(64 * 1024 * 1024 + 1)  # refused by its size, before parsing
        p = subprocess.run([VMAPROF, "report", d, "-o", "-"], capture_output=True, text=True,
                           timeout=120)
        eq(p.returncode != 0, True, "report with a session.json over 64 MiB fails")
        check("session.json" in p.stderr and "64 MiB" in p.stderr,
              f"the error names the file and the bound: {p.stderr!r}")


def t_bpf_segment_damaged():
    """A --no-preload recording whose one trace file (bpf.vpt) has its one
    segment damaged (a bit flipped in a record: the sealed file's checksum
    of it fails): every record of it counted damaged, and the report still
    valid -- the first process named by the command the recorder ran
    (report.json's exe is never null), its argv and exit status from
    session.json."""
    from vptest import validate_report
    with Rec([W_SHIM, "maps", "2"], args=("--no-preload",)) as r:
        b = json.load(open(os.path.join(r.dir, "session.json")))["collectors"]["bpf"]
        if not b["active"]:
            print(f"SKIP: kernel collector unavailable: {b['reason']}")
            raise SystemExit(77)
        eq(r.rc, 0, f"exit status: {r.stderr}")
        eq(sorted(n for n in os.listdir(r.dir) if n.endswith(".vpt")), ["bpf.vpt"],
           "one trace file")
        path = os.path.join(r.dir, "bpf.vpt")
        data = bytearray(open(path, "rb").read())
        check(len(data) - 4096 < 4 << 20, f"one segment: {len(data)} bytes")
        data[4096 + 200] ^= 1
        open(path, "wb").write(bytes(data))
        out = os.path.join(r.tmp, "damaged.json")
        p = subprocess.run([VMAPROF, "report", r.dir, "-o", out], capture_output=True,
                           text=True, timeout=120)
        eq(p.returncode, 0, f"report of the damaged recording: {p.stderr}")
        validate_report(out)
        rep = report3.expand(json.load(open(out)))
        eq(rep["lost"]["damaged_records"], b["records"],
           "every record the collector wrote counted damaged")
        eq(len(rep["processes"]), 1, "the first process, from session.json")
        proc = rep["processes"][0]
        eq((proc["exe"], proc["argv"], proc["exit_code"]), (W_SHIM, [W_SHIM, "maps", "2"], 0),
           "named by the command the recorder ran")
        eq(proc["faults"]["total"], 0, "nothing read of it")
        t = subprocess.run([VMAPROF, "report", r.dir, "--format", "text", "-o", "-"],
                           capture_output=True, text=True, timeout=120)
        check(f"{b['records']} damaged" in t.stdout, f"the summary shows the loss:\n{t.stdout}")


if __name__ == "__main__":
    main({"rawclone": t_rawclone, "rawclone3": t_rawclone3, "rawclone_asm": t_rawclone_asm,
          "seccomp": t_seccomp, "seccomp_harmless": t_seccomp_harmless, "seccomp_exec": t_seccomp_exec,
          "seccomp_fork": t_seccomp_fork,
          "bitflip": t_bitflip, "killed": t_killed,
          "sealed_golden": t_sealed_golden, "session_json": t_session_json,
          "bpf_segment_damaged": t_bpf_segment_damaged})
