#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the golden trace directories (tests/golden/<case>/) byte for byte
from the layouts in include/vmaprof/record.h. Run it to regenerate them;
the test compares `vmaprof report` on each with <case>/expected.json.

usage: gen.py OUTDIR
"""
import json
import os
import struct
import sys

MAGIC = 0x31544150524d5056
SEG = 1 << 20
T = {"PROC": 2, "MAPS": 3, "STACK": 4, "MEM": 5, "FORK": 6, "EXEC": 7, "EXIT": 8,
     "INTERNAL": 9, "FAULT": 16, "TASK_FORK": 17, "TASK_EXEC": 18, "TASK_EXIT": 19,
     "TASK_NS": 24}
MMAP, MUNMAP, MREMAP, MPROTECT = 1, 2, 3, 4
SHIM, KERNEL = 1, 2
VMA_ANON_RW = 0x73  # VM_READ|VM_WRITE|VM_MAYREAD|VM_MAYWRITE


def pad8(b):
    return b + b"\0" * (-len(b) % 8)


def rec(typ, t, pid, tid, payload, flags=0):
    body = pad8(payload)
    size = 24 + len(body)
    return struct.pack("<HHIQII", T[typ], flags, size, t, pid, tid) + body


class File:
    """version 2 files say the PID namespace numbering their pids (pid_ns)."""

    def __init__(self, source, pid, version=1, pid_ns=0):
        self.source, self.pid, self.recs = source, pid, []
        self.version, self.pid_ns = version, pid_ns

    def add(self, r):
        self.recs.append(r)

    def write(self, path, truncate=None, garbage_at=None):
        data = b"".join(self.recs)
        hdr = struct.pack("<QIIIIIIQQQQQIIQ", MAGIC, self.version, 4096, self.source, self.pid,
                          4096, 1 if self.source == 2 else 0, 1000, SEG, len(data),
                          len(self.recs), 0, 0, 64, 0)
        if self.version >= 2:  # dis_nr .. _pad1, then pid_ns at 120
            hdr += b"\0" * 32 + struct.pack("<I", self.pid_ns)
        blob = hdr + b"\0" * (4096 - len(hdr)) + data
        if garbage_at is not None:
            blob = blob[:garbage_at] + b"\xa5" * 40 + blob[garbage_at + 40:]
        if truncate is not None:
            blob = blob[:truncate]
        with open(path, "wb") as f:
            f.write(blob)


def proc(f, t, pid, ppid, exe, argv):
    e, a = exe.encode(), b"".join(x.encode() + b"\0" for x in argv)
    f.add(rec("PROC", t, pid, pid, struct.pack("<IIIIII", ppid, len(argv), len(e), len(a), 64, 0) + e + a))


def maps(f, t, pid, text):
    b = text.encode()
    f.add(rec("MAPS", t, pid, pid, struct.pack("<IIII", 0, 0, 1, len(b)) + b, flags=1))


def stack(f, t, pid, sid, ips):
    f.add(rec("STACK", t, pid, pid, struct.pack("<II", sid, len(ips)) + b"".join(struct.pack("<Q", i) for i in ips)))


def mem(f, src, t, t_end, pid, call, args, ret, err=0, stack_id=0, path=b"", tid=None):
    args = list(args) + [0] * (6 - len(args))
    f.add(rec("MEM", t, pid, pid if tid is None else tid, struct.pack("<IiQ6QQII", call, err, ret & (2**64 - 1),
                                              *[a & (2**64 - 1) for a in args], t_end,
                                              stack_id, len(path)) + path, flags=src))


def fault(f, t, pid, addr, err, pages, vm_flags=VMA_ANON_RW, file=0, ip=0x400150, kernel=False,
          tid=None):
    flags = (2 if vm_flags is not None else 0) | (1 if kernel else 0)
    f.add(rec("FAULT", t, pid, pid if tid is None else tid, struct.pack("<QQIIQII", addr, ip, err, pages, vm_flags or 0, file, 0), flags=flags))


def fork_cow(out):
    """Root maps 3 pages (shim + kernel copy of the call), touches them,
    forks; the child copies 2, exits; the parent reuses 1; a fault outside
    every mapping; a munmap and a fault on the released page; a split."""
    os.makedirs(out, exist_ok=True)
    json.dump({"session_version": 1, "root_pid": 100, "command": ["app", "--golden"],
               "page_size": 4096, "start_ns": 1000, "end_ns": 9000, "exit_code": 0,
               "exit_signal": None, "stack_depth": 64,
               "collectors": {"preload": {"active": True}, "bpf": {"active": True}}},
              open(os.path.join(out, "session.json"), "w"), indent=1)
    p = File(1, 100)
    proc(p, 1100, 100, 1, "/golden/app", ["app", "--golden"])
    maps(p, 1200, 100, "00400000-00401000 r-xp 00000000 08:01 7 /golden/app\n"
                       "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0 [stack]\n")
    stack(p, 1900, 100, 1, [0x400100, 0x400200])
    mem(p, SHIM, 2000, 2100, 100, MMAP, [0, 0x3000, 3, 0x22, -1, 0], 0x10000000, stack_id=1)
    mem(p, SHIM, 5000, 5050, 100, MUNMAP, [0x10002000, 0x1000], 0, stack_id=1)
    mem(p, SHIM, 5500, 5550, 100, MPROTECT, [0x10000000, 0x1000, 1], 0, stack_id=1)
    p.add(rec("FORK", 3050, 100, 100, struct.pack("<IIiIII", 101, 1, 0, 1, 0, 0)))
    p.write(os.path.join(out, "preload.100.1100.vpt"))
    b = File(2, 99)
    b.add(rec("TASK_EXEC", 1050, 100, 100, struct.pack("<II", 100, 11) + b"/golden/app"))
    mem(b, KERNEL, 2010, 2090, 100, MMAP, [0, 0x3000, 3, 0x22, -1, 0], 0x10000000)
    for i in range(3):
        fault(b, 2200 + i, 100, 0x10000000 + i * 4096, 0x6, 1)
    b.add(rec("TASK_FORK", 3000, 100, 100, struct.pack("<II", 101, 101)))
    fault(b, 3200, 101, 0x10000000, 0x7, 1)
    fault(b, 3201, 101, 0x10001000, 0x7, 1)
    fault(b, 3300, 100, 0x10002000, 0x7, 1)             # parent copies while the child lives
    b.add(rec("TASK_EXIT", 4000, 101, 101, struct.pack("<QQiI", 2, 0, 0, 0)))
    fault(b, 4100, 100, 0x10000000, 0x7, 0)             # reuse
    fault(b, 4200, 100, 0x20000000, 0x6, 1, vm_flags=None)  # outside every mapping
    mem(b, KERNEL, 5010, 5040, 100, MUNMAP, [0x10002000, 0x1000], 0)
    fault(b, 5100, 100, 0x10002000, 0x6, 0, vm_flags=None)  # released page: outside
    mem(b, KERNEL, 5510, 5540, 100, MPROTECT, [0x10000000, 0x1000, 1], 0)
    fault(b, 5600, 100, 0x10001000, 0x6, 1)             # on the rw piece after the split
    fault(b, 5700, 100, 0x7ffff0020000, 0x6, 1)         # stack (from the maps snapshot)
    b.add(rec("TASK_EXIT", 6000, 100, 100, struct.pack("<QQiI", 9, 0, 0, 0)))
    b.write(os.path.join(out, "bpf.vpt"))


def attach(out):
    """`record -p 100` (docs/attach.md): the recorder's own trace file for
    the attached process (PROC at the attach, the maps snapshot 1 ns later:
    a region and spare pages that existed before), the kernel's records of
    the window (the parent writes its spare page, forks; the child copies 2
    region pages and exits), the counters at the attach and at the end in
    session.json: both processes balance with difference 0."""
    os.makedirs(out, exist_ok=True)
    json.dump({"session_version": 1, "root_pid": 100, "command": ["server", "--golden"],
               "page_size": 4096, "start_ns": 1000, "end_ns": 9000, "exit_code": None,
               "exit_signal": None, "stack_depth": 0, "complete": True,
               "running_at_end": [100],
               "collectors": {"preload": {"active": False,
                                          "reason": "attached to a running process"},
                              "bpf": {"active": True}},
               "attach": {"pids": [100], "attached_ns": 1500, "duration_s": None,
                          "ended_by": "signal",
                          "processes": [{"pid": 100, "comm": "server", "threads": 2,
                                         "minflt": 50, "majflt": 3, "exact": True}],
                          "counters_at_end": [{"pid": 100, "minflt": 52, "majflt": 3,
                                               "exact": True}]}},
              open(os.path.join(out, "session.json"), "w"), indent=1)
    p = File(1, 100)
    proc(p, 1000, 100, 1, "/golden/server", ["server", "--golden"])
    maps(p, 1001, 100, "00400000-00401000 r-xp 00000000 08:01 7 /golden/server\n"
                       "10000000-10003000 rw-p 00000000 00:00 0 \n"
                       "20000000-20001000 rw-p 00000000 00:00 0 \n"
                       "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0 [stack]\n")
    p.write(os.path.join(out, "preload.100.1000.vpt"))
    b = File(2, 99)
    fault(b, 2000, 100, 0x20000000, 0x6, 1)             # the parent's spare page
    b.add(rec("TASK_FORK", 3000, 100, 100, struct.pack("<II", 101, 101)))
    fault(b, 3200, 101, 0x10000000, 0x7, 1)             # the child's copies
    fault(b, 3201, 101, 0x10001000, 0x7, 1)
    fault(b, 3300, 100, 0x7ffff0020000, 0x7, 1)         # the parent's stack, copied
    b.add(rec("TASK_EXIT", 4000, 101, 101, struct.pack("<QQiI", 2, 0, 0, 0)))
    b.write(os.path.join(out, "bpf.vpt"))


INIT_NS, NS_A, NS_B = 0xEFFFFFFC, 4026532300, 4026532301


def task_ns(f, t, pid, tid, ids):
    """VP_REC_TASK_NS: the task (pid, tid: the initial namespace's) at each
    level, ids [(ns, nr)] from the initial namespace down."""
    f.add(rec("TASK_NS", t, pid, tid, struct.pack("<II", len(ids) - 1, len(ids)) +
              b"".join(struct.pack("<II", ns, nr) for ns, nr in ids)))


def pidns(out):
    """PID namespaces (version 2 traces): the recorder and its first process
    (pid 100, /golden/sh) in the initial namespace start three containers.
    A (pid 1 = the kernel's 200) maps a region, a thread of it (its tid 3 =
    202) maps another, it forks its pid 2 (201), which copies 2 pages. B
    (300, its child 301), at the same time, has the same pids 1 and 2 and
    its region at the same address. C (400), after A is gone, gets A's
    namespace inode again and is pid 1 there too. The shim's records say
    the containers' own pids; the collector's the kernel's, and each task's
    ids (TASK_NS). Every fault lands on its own process's entry, the
    thread's call is one entry (the shim's and the kernel's record paired
    by the thread's two tids), and every process balances."""
    os.makedirs(out, exist_ok=True)
    json.dump({"session_version": 1, "root_pid": 100, "command": ["sh", "--golden"],
               "page_size": 4096, "start_ns": 1000, "end_ns": 9000, "exit_code": 0,
               "exit_signal": None, "stack_depth": 64, "pid_ns": INIT_NS,
               "collectors": {"preload": {"active": True}, "bpf": {"active": True}}},
              open(os.path.join(out, "session.json"), "w"), indent=1)
    code = "00400000-00401000 r-xp 00000000 08:01 7 /golden/app\n"
    r = File(1, 100, 2, INIT_NS)
    proc(r, 1100, 100, 1, "/golden/sh", ["sh", "--golden"])
    maps(r, 1101, 100, "00400000-00401000 r-xp 00000000 08:01 9 /golden/sh\n")
    for t, child in ((2010, 200), (2060, 300), (6010, 400)):
        r.add(rec("FORK", t, 100, 100, struct.pack("<IIiIII", child, 1, 0, 0, 0, 0)))
    r.write(os.path.join(out, "preload.100.1100.vpt"))
    b = File(2, 99, 2, INIT_NS)
    b.add(rec("TASK_EXEC", 1050, 100, 100, struct.pack("<II", 100, 10) + b"/golden/sh"))
    # A: its pid 1, then a thread, then its pid 2
    b.add(rec("TASK_FORK", 2000, 100, 100, struct.pack("<II", 200, 200)))
    task_ns(b, 2000, 200, 200, [(INIT_NS, 200), (NS_A, 1)])
    a1 = File(1, 1, 2, NS_A)
    proc(a1, 2100, 1, 0, "/golden/app", ["app", "a"])
    maps(a1, 2101, 1, code)
    stack(a1, 2150, 1, 1, [0x400100, 0x400200])
    mem(a1, SHIM, 2200, 2300, 1, MMAP, [0, 0x4000, 3, 0x22, -1, 0], 0x10000000, stack_id=1)
    mem(b, KERNEL, 2210, 2290, 200, MMAP, [0, 0x4000, 3, 0x22, -1, 0], 0x10000000)
    for i in range(4):
        fault(b, 2400 + i, 200, 0x10000000 + i * 4096, 0x6, 1)
    task_ns(b, 2500, 200, 202, [(INIT_NS, 202), (NS_A, 3)])
    stack(a1, 2550, 1, 2, [0x400110, 0x400210])
    mem(a1, SHIM, 2600, 2700, 1, MMAP, [0, 0x2000, 3, 0x22, -1, 0], 0x30000000, stack_id=2,
        tid=3)
    mem(b, KERNEL, 2610, 2690, 200, MMAP, [0, 0x2000, 3, 0x22, -1, 0], 0x30000000, tid=202)
    fault(b, 2800, 200, 0x30000000, 0x6, 1, tid=202)
    b.add(rec("TASK_FORK", 3000, 200, 200, struct.pack("<II", 201, 201)))
    task_ns(b, 3000, 201, 201, [(INIT_NS, 201), (NS_A, 2)])
    a1.add(rec("FORK", 3050, 1, 1, struct.pack("<IIiIII", 2, 1, 0, 1, 0, 0)))
    a1.write(os.path.join(out, "preload.1.2100.vpt"))
    a2 = File(1, 2, 2, NS_A)
    proc(a2, 3100, 2, 1, "/golden/app", ["app", "a"])
    a2.write(os.path.join(out, "preload.2.3100.vpt"))
    fault(b, 3200, 201, 0x10000000, 0x7, 1)
    fault(b, 3201, 201, 0x10001000, 0x7, 1)
    b.add(rec("TASK_EXIT", 4000, 201, 201, struct.pack("<QQiI", 2, 0, 0, 0)))
    b.add(rec("TASK_EXIT", 5000, 200, 200, struct.pack("<QQiI", 5, 0, 0, 0)))
    # B, meanwhile: the same pids, the same address
    b.add(rec("TASK_FORK", 2050, 100, 100, struct.pack("<II", 300, 300)))
    task_ns(b, 2050, 300, 300, [(INIT_NS, 300), (NS_B, 1)])
    b1 = File(1, 1, 2, NS_B)
    proc(b1, 2120, 1, 0, "/golden/app", ["app", "b"])
    maps(b1, 2121, 1, code)
    stack(b1, 2160, 1, 1, [0x400120, 0x400220])
    mem(b1, SHIM, 2250, 2350, 1, MMAP, [0, 0x3000, 3, 0x22, -1, 0], 0x10000000, stack_id=1)
    mem(b, KERNEL, 2260, 2340, 300, MMAP, [0, 0x3000, 3, 0x22, -1, 0], 0x10000000)
    for i in range(3):
        fault(b, 2450 + i, 300, 0x10000000 + i * 4096, 0x6, 1)
    b.add(rec("TASK_FORK", 3500, 300, 300, struct.pack("<II", 301, 301)))
    task_ns(b, 3500, 301, 301, [(INIT_NS, 301), (NS_B, 2)])
    b1.add(rec("FORK", 3550, 1, 1, struct.pack("<IIiIII", 2, 1, 0, 1, 0, 0)))
    b1.write(os.path.join(out, "preload.1.2120.vpt"))
    b2 = File(1, 2, 2, NS_B)
    proc(b2, 3600, 2, 1, "/golden/app", ["app", "b"])
    b2.write(os.path.join(out, "preload.2.3600.vpt"))
    fault(b, 3700, 301, 0x10002000, 0x7, 1)
    b.add(rec("TASK_EXIT", 4500, 301, 301, struct.pack("<QQiI", 1, 0, 0, 0)))
    b.add(rec("TASK_EXIT", 5500, 300, 300, struct.pack("<QQiI", 3, 0, 0, 0)))
    # C, after A: A's namespace inode again, pid 1 again
    b.add(rec("TASK_FORK", 6000, 100, 100, struct.pack("<II", 400, 400)))
    task_ns(b, 6000, 400, 400, [(INIT_NS, 400), (NS_A, 1)])
    c1 = File(1, 1, 2, NS_A)
    proc(c1, 6100, 1, 0, "/golden/app", ["app", "c"])
    maps(c1, 6101, 1, code)
    stack(c1, 6150, 1, 1, [0x400130, 0x400230])
    mem(c1, SHIM, 6200, 6300, 1, MMAP, [0, 0x1000, 3, 0x22, -1, 0], 0x50000000, stack_id=1)
    mem(b, KERNEL, 6210, 6290, 400, MMAP, [0, 0x1000, 3, 0x22, -1, 0], 0x50000000)
    fault(b, 6400, 400, 0x50000000, 0x6, 1)
    c1.write(os.path.join(out, "preload.1.6100.vpt"))
    b.add(rec("TASK_EXIT", 7000, 400, 400, struct.pack("<QQiI", 1, 0, 0, 0)))
    b.add(rec("TASK_EXIT", 8000, 100, 100, struct.pack("<QQiI", 0, 0, 0, 0)))
    b.recs.sort(key=lambda x: struct.unpack_from("<Q", x, 8)[0])  # the collector's order
    b.write(os.path.join(out, "bpf.vpt"))


def damaged(out):
    """The same recording with a truncated kernel stream and garbage in the
    middle of the shim's: a partial report whose counters say so."""
    fork_cow(out)
    bp = os.path.join(out, "bpf.vpt")
    data = open(bp, "rb").read()
    open(bp, "wb").write(data[:len(data) - 150])
    pp = os.path.join(out, "preload.100.1100.vpt")
    data = bytearray(open(pp, "rb").read())
    data[4096 + 40:4096 + 80] = b"\xa5" * 40
    open(pp, "wb").write(bytes(data))
    open(os.path.join(out, "preload.102.7000.vpt"), "wb").write(b"not a trace at all")


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    fork_cow(os.path.join(root, "fork_cow"))
    damaged(os.path.join(root, "damaged"))
    attach(os.path.join(root, "attach"))
    pidns(os.path.join(root, "pidns"))
