#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Build the reader harness with clang + libFuzzer (ASan, UBSan) and fuzz it
for a bounded time, starting from the seed corpus (the golden traces and
tests/fuzz/regressions). A crash fails the test and leaves its input in
tests/fuzz/regressions-new/ to be checked in as a regression.

usage: run_fuzz.py BUILDDIR SECONDS
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    build, seconds = sys.argv[1], sys.argv[2]
    clang = shutil.which("clang")
    if not clang:
        print("SKIP: clang not installed (the replay test still runs the corpus)")
        return 77
    exe = os.path.join(build, "fuzz_reader")
    cmd = [clang, "-g", "-O1", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
           "-D_GNU_SOURCE", "-I", os.path.join(ROOT, "include"), "-I", os.path.join(ROOT, "analyzer"),
           os.path.join(HERE, "fuzz_reader.c"), os.path.join(ROOT, "analyzer", "reader.c"), "-o", exe]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        print(p.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        corpus = os.path.join(work, "corpus")
        os.makedirs(corpus)
        seeds = [os.path.join(ROOT, "tests", "golden", c) for c in ("fork_cow", "damaged")]
        seeds.append(os.path.join(HERE, "regressions"))
        for d in seeds:
            for f in os.listdir(d):
                if f.endswith(".vpt") or d.endswith("regressions"):
                    shutil.copy(os.path.join(d, f), os.path.join(corpus, f"{os.path.basename(d)}-{f}"))
        crashes = os.path.join(HERE, "regressions-new")
        os.makedirs(crashes, exist_ok=True)
        p = subprocess.run([exe, f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
                            "-max_len=65536", f"-artifact_prefix={crashes}/", "-print_final_stats=1",
                            corpus], capture_output=True, text=True)
        tail = "\n".join(p.stderr.splitlines()[-25:])
        print(tail)
        if not os.listdir(crashes):
            os.rmdir(crashes)
        return 0 if p.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
