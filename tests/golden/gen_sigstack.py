#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A trace directory for the analyzer's signal-stack pairing, written byte
for byte with gen.py's helpers (test_sigstack.py `golden` writes it to a
temporary directory and compares `vmaprof report` on it with
tests/golden/sigstack/expected.json; no kernel collector needed).

usage: gen_sigstack.py OUTDIR
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen  # noqa: E402

gen.T["SIGSTACK"] = 10
MMAP, BRK, MREMAP, KERNEL = 1, 6, 3, 2
SIGNALLED = 0x4
NOSIG = {"no_shim": 1, "in_shim": 2, "blocked": 3, "handler": 4, "send": 5, "off": 6,
         "altstack": 7}
NOSTACK = 0x1


def nosig(why):
    return KERNEL | NOSIG[why] << 4


def sigstack(f, t, pid, tid, stack_id, ip, ret, flags=0):
    f.add(gen.rec("SIGSTACK", t, pid, tid, struct.pack("<IIQQ", stack_id, 63, ip, ret),
                  flags=flags))


def write(out):
    """pid 100: ld.so maps before the shim started; then kernel-only
    mappings: signalled and answered (mmap, brk, mremap, a second thread),
    answered with another return value (not paired), answered without a
    stack, never answered, and one of each reason not to signal."""
    os.makedirs(out, exist_ok=True)
    json.dump({"session_version": 1, "root_pid": 100, "command": ["app"],
               "page_size": 4096, "start_ns": 1000, "end_ns": 9000, "exit_code": 0,
               "exit_signal": None, "stack_depth": 64,
               "collectors": {"preload": {"active": True}, "bpf": {"active": True}}},
              open(os.path.join(out, "session.json"), "w"), indent=1)
    M = 1 << 20
    anon = [0, 0, 3, 0x22, -1, 0]

    def mm(b, t, addr, size, flags, tid=100):
        a = list(anon)
        a[1] = size
        gen.mem(b, flags, t, t + 50, 100, MMAP, a, addr)
        if tid != 100:  # gen.mem writes tid = pid: patch the last record's tid
            r = bytearray(b.recs[-1])
            struct.pack_into("<I", r, 20, tid)
            b.recs[-1] = bytes(r)

    p = gen.File(1, 100)
    gen.proc(p, 1100, 100, 1, "/golden/app", ["app"])
    gen.maps(p, 1200, 100, "00400000-00401000 r-xp 00000000 08:01 7 /golden/app\n"
                           "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0 [stack]\n")
    gen.stack(p, 2150, 100, 1, [0x7e0000001000, 0x400100, 0x400200])
    sigstack(p, 2160, 100, 100, 1, 0x7e0000001000, 0x10000000)
    gen.stack(p, 2350, 100, 2, [0x7e0000002000, 0x400300])
    sigstack(p, 2360, 100, 100, 2, 0x7e0000002000, 0x602000)
    gen.stack(p, 2450, 100, 3, [0x7e0000003000, 0x400400])
    sigstack(p, 2460, 100, 100, 3, 0x7e0000003000, 0x30000000)  # mremap's own
    sigstack(p, 2560, 100, 101, 1, 0x7e0000001000, 0x11000000)  # thread 101
    sigstack(p, 2660, 100, 100, 1, 0x7e0000001000, 0x12345000)  # another ret: unpaired
    sigstack(p, 2760, 100, 100, 0, 0x7e0000001000, 0x13000000, flags=NOSTACK)
    p.write(os.path.join(out, "preload.100.1100.vpt"))

    b = gen.File(2, 99)
    b.add(gen.rec("TASK_EXEC", 1050, 100, 100, struct.pack("<II", 100, 11) + b"/golden/app"))
    mm(b, 1060, 0x7f0000000000, 8192, nosig("no_shim"))          # ld.so
    mm(b, 2100, 0x10000000, 8 * M, KERNEL | SIGNALLED)            # malloc's mmap
    gen.mem(b, KERNEL, 2200, 2210, 100, BRK, [0], 0x600000)       # brk(0): a query
    gen.mem(b, KERNEL | SIGNALLED, 2300, 2310, 100, BRK, [0x602000], 0x602000)
    gen.mem(b, KERNEL | SIGNALLED, 2400, 2410, 100, MREMAP,
            [0x10000000, 8 * M, 16 * M, 1, 0], 0x30000000)         # realloc's mremap
    mm(b, 2500, 0x11000000, M, KERNEL | SIGNALLED, tid=101)
    mm(b, 2600, 0x12000000, M, KERNEL | SIGNALLED)
    mm(b, 2700, 0x13000000, M, KERNEL | SIGNALLED)
    mm(b, 2800, 0x14000000, M, KERNEL | SIGNALLED)                # never answered
    for i, why in enumerate(("in_shim", "blocked", "handler", "send", "off", "altstack")):
        mm(b, 3000 + 100 * i, 0x20000000 + i * M, M, nosig(why))
    b.add(gen.rec("TASK_EXIT", 6000, 100, 100, struct.pack("<QQiI", 0, 0, 0, 0)))
    b.write(os.path.join(out, "bpf.vpt"))


if __name__ == "__main__":
    write(sys.argv[1])
