# SPDX-License-Identifier: MIT
"""The benchmark harness itself still runs: bench/run.py --quick on W3 and W4
(and R1, `vmaprof report` on a recorded make -j2) with the bare program, every vmaprof configuration, strace and
the per-fault floor (bench/sysfloor), every report
checked against the schema (--validate), and issue 22's sections: T1 (a
tree of /bin/true end to end), Z1 (the build's report and export sizes),
E1 and L1 (bench/e2e.py, bench/scale.py: run, or said not run), W3W (the
W3 target from its own alternated runs, the minimal recorder beside it) and their
Targets rows. No timing is asserted here: the figures belong to
bench/RESULTS.md, written by a full run."""
import os
import re
import subprocess
import sys
import tempfile

from vptest import VMAPROF, check, eq, main

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, "..", "bench", "run.py")


def t_quick():
    if os.geteuid() != 0:
        print("SKIP: the harness needs root (BPF collector)")
        raise SystemExit(77)
    build = os.path.dirname(VMAPROF)
    with tempfile.TemporaryDirectory(prefix="vmaprof-bench-test-") as tmp:
        out = os.path.join(tmp, "RESULTS.md")
        p = subprocess.run([sys.executable, RUN, "--build", build, "--quick", "--only", "W3,W4,W3W,R1,T1,Z1,E1,L1,S1",
                            "--tools", "bare,vmaprof,strace,floor", "--validate", "--out", out],
                           capture_output=True, text=True, timeout=600)
        eq(p.returncode, 0, f"bench/run.py exit status: {p.stderr[-2000:]}")
        text = open(out).read()
        for w in ("W3", "W4"):
            for tool in ("bare", "vmaprof record", "vmaprof record --no-bpf",
                         "vmaprof record --no-bpf --no-stacks", "vmaprof record --no-preload",
                         "vmaprof record --bpf-stats"):
                rows = [l for l in text.splitlines() if l.startswith(f"| {w} | {tool} |")]
                eq(len(rows), 1, f"{w} {tool} row")
                check("failed" not in rows[0], f"{w} {tool}: {rows[0]}")
                if tool.startswith("vmaprof"):
                    cells = [c.strip() for c in rows[0].split("|")]
                    eq(cells[10], "0", f"{w} {tool}: lost")
        strace = [l for l in text.splitlines() if "strace" in l and l.startswith("| W3")]
        check(strace or "strace" in text.split("Skipped here:")[-1], "strace ran or said why not")
        # the storm's faults, traced with stats on: W3 touches 64 MiB twice
        m = re.search(r"^\| W3 \| (\d+) \| \d+ \| 0 \| (\d+) \|", text, re.M)
        check(m is not None, "BPF cost row for W3")
        check(int(m.group(1)) >= 2 * 64 * 256, f"W3 faults traced: {m.group(1)}")
        # the floor beside it: empty programs at the same two tracepoints during
        # bare W3, over the faults the kernel counted for it (2 x 64 MiB and
        # the program's own start), and that floor in the target's row
        m = re.search(r"^\| W3, floor: empty fault programs \| (\d+) \(the kernel's count\) "
                      r"\|(?: \|){4} (\d+) \| \| mm_page_alloc \d+ \([\d.]+\), "
                      r"page_fault_user \d+ \(([\d.]+)\) \|$", text, re.M)
        check(m is not None, "floor row for W3")
        check(m and int(m.group(1)) >= 2 * 64 * 256, f"W3 faults counted: {m and m.group(1)}")
        check(m and int(m.group(2)) > 0, f"W3 floor ns per fault: {m and m.group(2)}")
        check(m and 0.9 <= float(m.group(3)) <= 1.1,
              f"page_fault_user runs per fault of bare W3: {m and m.group(3)}")
        # the minimal fault recorder (sysfloor record) beside it, which found
        # the command's tree (its collect() refuses a run that saw none)
        m = re.search(r"^\| W3, floor: a minimal fault recorder \| (\d+) \(the kernel's count\) "
                      r"\|(?: \|){4} (\d+) \| \| mm_page_alloc \d+ \([\d.]+\), "
                      r"rec_fork \d+ \([\d.]+\), rec_pfu \d+ \(([\d.]+)\) \|$", text, re.M)
        check(m is not None, "minimal recorder's floor row for W3")
        check(m and int(m.group(2)) > 0, f"W3 minimal recorder ns per fault: {m and m.group(2)}")
        check(m and 0.9 <= float(m.group(3)) <= 1.1,
              f"rec_pfu runs per fault of bare W3: {m and m.group(3)}")
        check(re.search(r"^\| BPF <= 150 ns per traced fault .* \| \d+ ns \| \d+ ns \(\d+-\d+\): "
                        r"empty programs at page_fault_user and mm_page_alloc during bare W3 "
                        r"\(this run\); \d+ ns \(\d+-\d+\): a minimal recorder there", text, re.M),
              "the target's floors are this run's")
        # W3W: the W3 target from its own alternated runs, the minimal
        # recorder's whole command as its floor
        for arm in ("bare", "vmaprof record", "floor: a minimal fault recorder"):
            check(re.search(rf"^\| {re.escape(arm)} \| [\d.]+ \| [\d.]+ \| [\d.]+ \| [\d.]+x \| "
                            r"[\d.]+x \|$", text, re.M), f"W3W row {arm}")
        check(re.search(r"^\| W3 whole `vmaprof record` .* ratio of minimums of 2 alternated runs "
                        r"\| [\d.]+x \| [\d.]+x: the minimal fault recorder's whole command", text,
                        re.M), "the W3 whole target from W3W, its floor beside it")
        check(re.search(r"\| analyzer >= 5 M fault events/s", text), "analyzer target row")
        # S1: record -- true beside its floor (empty programs at the same
        # attach points, sysfloor start), and that floor in the target's row
        m = re.search(r"^\| `floor: sysfloor start -- true` \| ([\d.]+) \|", text, re.M)
        check(m is not None, "S1 floor row")
        check(m and float(m.group(1)) > 0, f"S1 floor: {m and m.group(0)}")
        check(re.search(r"^\| start-up: `vmaprof record -- true` <= 30 ms \| \d+ ms \| \d+ ms "
                        r"\(\d+-\d+\): empty programs at every attach point", text, re.M),
              "the start-up target's floor is this run's")
        # R1: the build recording's report time, its symbolizer counts, the target
        m = re.search(r"^\| R1: make -j2 .*\((\d+) processes\) \| [\d.]+ \| [\d.]+ \| "
                      r"[\d.]+-[\d.]+ \| [\d.]+ \| \d+ \| \d+ \| \d+ \| (\d+) \| \d+ \|$", text, re.M)
        check(m is not None, "R1 report-time row")
        check(m and int(m.group(1)) >= 20, f"R1 processes: {m and m.group(1)}")
        check(m and int(m.group(2)) > 0, "R1: names found in the symbolizer's own index")
        check(re.search(r"\| `vmaprof report` on the R1 build recording < 1.5 s", text),
              "R1 target row")
        # T1: --quick runs 50 times /bin/true: sh, the $(seq) subshell, 50 trues
        m = re.search(r"^## 50 x /bin/true end to end \(T1\)\n\n.*\((\d+) processes\)", text,
                      re.M)
        check(m is not None, "T1 section")
        eq(int(m.group(1)), 52, "T1 processes")
        check(re.search(r"^\| [\d.]+ \| [\d.]+-[\d.]+ \| [\d.]+ \| [\d.]+-[\d.]+ \| [\d.]+x \| "
                        r"[\d.]+ MB \|$", text, re.M), "T1 row")
        # B1 and T1: where the recorded runs' time goes (record --stats), and
        # B1 without signal stacks beside them
        ph = re.findall(r"^\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| [+-][\d.]+ \| "
                        r"([\d.]+)x \|$", text, re.M)
        eq(len(ph), 2, "B1 and T1 phase rows")
        for row in ph:
            check(float(row[1]) > 0 and float(row[3]) > 0 and float(row[4]) >= 1,
                  f"phases: {row}")
        check(re.search(r"^In the same rotation, `vmaprof record --no-signal-stacks`.* "
                        r"[\d.]+ s median \([\d.]+-[\d.]+\), [\d.]+x\.$", text, re.M),
              "B1 without signal stacks")
        # Z1: report.json and every export of the build recording, none empty
        z1 = text.split("## Report sizes of the build (Z1)", 1)
        check(len(z1) == 2, "Z1 section")
        for out in ("report.json", "html", "pprof", "perfetto", "folded"):
            m = re.search(rf"^\| {out} \| ([\d.]+) \|", z1[1], re.M)
            check(m is not None, f"Z1 {out} row")
            check(float(m.group(1)) > 0, f"Z1 {out}: {m.group(0)}")
        # E1, L1: run, or said why not, in their section and (L1) in Targets
        for name, key in (("e2e", "E1"), ("scale", "L1")):
            sec = re.search(rf"^## .* \(bench/{name}.py, {key}\)\n\n(.*)$", text, re.M)
            check(sec is not None, f"{key} section")
            if not os.path.exists(os.path.join(HERE, "..", "bench", f"{name}.py")):
                eq(sec.group(1), f"Not run: bench/{name}.py is not there.", f"{key} section")
        check(re.search(r"^\| analysis at scale .*\| (met|MISSED|not run) \|$", text, re.M),
              "scale target row")
        for row in (r"`make -j2` end to end under vmaprof record <= 1.5x bare",
                    r"report.json of the build \(\d+ processes\) <= 8 MB",
                    r"W4 end to end under vmaprof record <= 1.3x bare",
                    r"50 x /bin/true end to end under vmaprof record <= 1.5x bare"):
            check(re.search(rf"^\| {row}.* \| (met|MISSED) \|$", text, re.M), f"target {row}")


if __name__ == "__main__":
    main({"quick": t_quick})
