#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build a libFuzzer harness with clang (ASan, UBSan) and fuzz it for a
bounded time, starting from the seed corpus (the golden traces and the
target's regressions directory). A crash fails the test and leaves its
input in tests/fuzz/<regressions>-new/ to be checked in as a regression.

Targets:
  reader    fuzz_reader.c: one trace file through the reader
            (regressions/)
  analyzer  fuzz_analyzer.c: a whole trace directory through analysis,
            report.json and the summary (regressions-analyzer/; real
            recordings in replay-analyzer/ are replayed, not fuzzed)

usage: run_fuzz.py BUILDDIR SECONDS [reader|analyzer]
       run_fuzz.py --seeds OUTDIR      write the analyzer's golden seeds
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
GOLDEN = os.path.join(ROOT, "tests", "golden")
SEP = b"\nVPFUZZ\n"

# harness, analyzer sources, pkg-config packages, libraries without a .pc
# (libiberty: label.c's demangler), regressions directory
TARGETS = {
    "reader": (["fuzz_reader.c"], ["core/reader.c"], [], [], "regressions"),
    "analyzer": (["fuzz_analyzer.c"], None,  # every source of analyzer/meson.build
                 ["jansson", "libdw", "libelf", "zlib"], ["-liberty"], "regressions-analyzer"),
}


def analyzer_sources():
    """The analyzer library's sources and the rules it links, as
    analyzer/meson.build lists them, so the fuzzed build cannot drift from
    the real one."""
    text = open(os.path.join(ROOT, "analyzer", "meson.build")).read()
    blocks = re.findall(r"(?:core|outputs|rules)_sources = files\((.*?)\)", text, re.S)
    return [f for b in blocks for f in re.findall(r"'([\w./]+\.c)'", b)]


def _crc32c_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


_T = _crc32c_table()


def crc32c(b, crc=0):
    crc ^= 0xFFFFFFFF
    for x in b:
        crc = _T[(crc ^ x) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def sealed(trace):
    """A trace of one partial segment as a writer that stopped cleanly
    leaves it (record.h VP_FH_SEGSUM): flag, tail checksum, header checksum."""
    if len(trace) < 4096:
        return trace
    h = bytearray(trace[:4096])
    head = int.from_bytes(h[48:56], "little") or len(trace) - 4096
    data = trace[4096:4096 + head]
    if head >= (1 << 20) - 32 or len(data) != head:
        return trace
    recs, off = 0, 0
    while off + 24 <= len(data):
        size = int.from_bytes(data[off + 4:off + 8], "little")
        if size < 8 or size % 8 or off + size > len(data):
            break
        recs += int.from_bytes(data[off:off + 2], "little") != 1
        off += size
    flags = int.from_bytes(h[28:32], "little") | 2
    h[28:32] = flags.to_bytes(4, "little")
    h[96:100] = b"\0\0\0\0"                             # hdr_crc
    h[100:104] = crc32c(data).to_bytes(4, "little")      # tail_crc
    h[104:112] = head.to_bytes(8, "little")              # tail_len
    h[112:116] = recs.to_bytes(4, "little")              # tail_records
    h[96:100] = crc32c(bytes(h)).to_bytes(4, "little")
    return bytes(h) + trace[4096:]


def analyzer_seeds(out):
    """Each golden directory as one input (fuzz_analyzer.c's layout), and
    each of its trace files alone."""
    os.makedirs(out, exist_ok=True)
    for case in sorted(os.listdir(GOLDEN)):
        d = os.path.join(GOLDEN, case)
        if not os.path.isdir(d):
            continue
        names = sorted(os.listdir(d))
        pre = [n for n in names if n.startswith("preload.") and n.endswith(".vpt")]
        read = lambda n: open(os.path.join(d, n), "rb").read() if n in names else b""
        parts = [read(pre[0]) if pre else b"", read("bpf.vpt"), read("session.json")]
        parts += [read(n) for n in pre[1:]]
        with open(os.path.join(out, f"golden-{case}"), "wb") as f:
            f.write(SEP.join(parts))
        # the same, checksummed and sealed as today's writers leave it
        sp = [sealed(p) if i != 2 else p for i, p in enumerate(parts)]
        with open(os.path.join(out, f"golden-{case}-sealed"), "wb") as f:
            f.write(SEP.join(sp))
        for n in pre:
            shutil.copy(os.path.join(d, n), os.path.join(out, f"golden-{case}-{n}"))


def main():
    if sys.argv[1] == "--seeds":
        analyzer_seeds(sys.argv[2])
        return 0
    build, seconds = sys.argv[1], sys.argv[2]
    target = sys.argv[3] if len(sys.argv) > 3 else "reader"
    harness, sources, pkgs, libs, regdir = TARGETS[target]
    if sources is None:
        sources = analyzer_sources()
    clang = shutil.which("clang")
    if not clang:
        print("SKIP: clang not installed (the replay test still runs the corpus)")
        return 77
    flags = []
    if pkgs:
        p = subprocess.run(["pkg-config", "--cflags", "--libs", *pkgs], capture_output=True,
                           text=True)
        if p.returncode:
            print(p.stderr)
            return 1
        flags = p.stdout.split()
    # generated by meson for the analyzer: the HTML page's template (outputs/export_html.c)
    generated = []
    if target == "analyzer":
        html = os.path.join(os.path.dirname(os.path.abspath(build)), "analyzer", "report_html.c")
        if not os.path.exists(html):
            print(f"{html} missing: build the analyzer first")
            return 1
        generated.append(html)
    exe = os.path.join(build, f"fuzz_{target}")
    cmd = [clang, "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
           "-D_GNU_SOURCE", "-I", os.path.join(ROOT, "include"),
           *[a for d in ("core", "rules", "outputs") for a in ("-I", os.path.join(ROOT, "analyzer", d))],
           "-I", build, "-I", os.path.dirname(os.path.abspath(build)),
           *[os.path.join(HERE, h) for h in harness],
           *[os.path.join(ROOT, "analyzer", s) for s in sources], *generated, "-o", exe, *flags,
           *libs, "-lm"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        print(p.stderr)
        return 1
    regressions = os.path.join(HERE, regdir)
    with tempfile.TemporaryDirectory() as work:
        corpus = os.path.join(work, "corpus")
        os.makedirs(corpus)
        if target == "analyzer":
            analyzer_seeds(corpus)
        else:
            for c in ("fork_cow", "damaged", "pidns"):
                for f in os.listdir(os.path.join(GOLDEN, c)):
                    if f.endswith(".vpt"):
                        shutil.copy(os.path.join(GOLDEN, c, f), os.path.join(corpus, f"{c}-{f}"))
                        with open(os.path.join(corpus, f"{c}-sealed-{f}"), "wb") as o:
                            o.write(sealed(open(os.path.join(GOLDEN, c, f), "rb").read()))
        for f in os.listdir(regressions):
            shutil.copy(os.path.join(regressions, f), os.path.join(corpus, f"regressions-{f}"))
        crashes = regressions + "-new"
        os.makedirs(crashes, exist_ok=True)
        # Replay the regressions under the sanitizers first: a fixed bug
        # that comes back fails here even if the fuzzer never finds it.
        reg = [os.path.join(regressions, f) for f in sorted(os.listdir(regressions))]
        # real recordings: replayed, not fuzzed (symbolizing this machine's
        # libraries on every input would slow the fuzzer tenfold)
        slow = os.path.join(HERE, f"replay-{target}")
        if os.path.isdir(slow):
            reg += [os.path.join(slow, f) for f in sorted(os.listdir(slow))]
        if reg:
            p = subprocess.run([exe, "-runs=1", *reg], capture_output=True, text=True)
            if p.returncode:
                print("\n".join(p.stderr.splitlines()[-40:]))
                return 1
        # Leaks are not crashes here: the analyzer exits on out-of-memory
        # by design and the fuzzer's leak check would only report those.
        p = subprocess.run([exe, f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
                            "-max_len=65536", "-detect_leaks=0", f"-artifact_prefix={crashes}/",
                            "-print_final_stats=1", corpus], capture_output=True, text=True)
        tail = "\n".join(p.stderr.splitlines()[-25:])
        print(tail)
        if not os.listdir(crashes):
            os.rmdir(crashes)
        return 0 if p.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
