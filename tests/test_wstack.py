# SPDX-License-Identifier: MIT
"""Write stacks end to end (bpf/README.md "Write stacks", docs/report.md
"Write sites"): the collector copies the user stack of sampled write faults
on present pages, the analyzer unwinds them and reports, per fork side and
per mapping, the stacks of the writes that made the copies, scaled from the
sample. Workload: tests/workloads/w_cowstack.c -- a child copies PAGES
pages of one mapping, 3 in 4 written by write_three(), 1 in 4 by
write_one(), interleaved. The mapping's cow_copy count must be exact, the
top write sites must name those functions, and the ratio of their copies
must be 3:1 within the sampling's error (binomial, 4 standard deviations
of the samples actually taken). And CPython's fork pool (w_pool.py): its
workers' copies are written by a named runtime function chain. Every
report is validated against schema/report.schema.json."""
import json
import math
import os
import re
import subprocess

from test_report import Rec, check_totals
from vptest import check, eq, main, workload

W = workload("w_cowstack")
PAGES = 4096


def fork_of(r):
    forks = r.raw["forks"]
    root = r.root()
    f = [x for x in forks if x["parent"] == root["pid"]]
    eq(len(f), 1, "one fork")
    return f[0], [p for p in r.procs if p["pid"] == f[0]["child"]][0]


def funcs(raw, si):
    return [raw["frames"][f].get("function") for f in raw["stacks"][si]]


def copies_by_writer(raw, sites):
    """copies and samples per writer (write_three / write_one) among the
    write sites; each one's stack must reach copy_pages and main."""
    out = {}
    for w in sites:
        fs = funcs(raw, w["stack"])
        for fn in ("write_three", "write_one"):
            if fs and fs[0] == fn:
                check("copy_pages" in fs and "main" in fs,
                      f"{fn}'s whole stack, to copy_pages and main: {fs}")
                check(w["label"].startswith(fn + " < copy_pages"),
                      f"label names the writer and its caller: {w['label']}")
                eq(w["class"], "cow_copy", f"{fn}: class")
                o = out.setdefault(fn, [0, 0])
                o[0] += w["copies"]
                o[1] += w["samples"]
    return out


def run(first, every, pages=PAGES, extra=()):
    args = ([] if first is None else ["--write-stacks", f"{first},{every}"]) + list(extra)
    r = Rec([W, str(pages)], args)
    r.require_bpf()
    eq(r.rc, 0, f"exit status: {r.stderr}")
    return r


def check_ratio(r, first, every, pages):
    f, child = fork_of(r)
    # the mapping: exactly PAGES copies by the child
    big = [v for v in child["vmas"] if v["kind"] == "anon" and v["end"] - v["start"] ==
           pages * os.sysconf("SC_PAGE_SIZE")]
    eq(len(big), 1, "the child's copy of the mapping")
    eq(big[0]["faults"]["cow_copy"], pages, "the child's copies in the mapping")
    ws = r.report["collectors"]["bpf"]["write_stacks"]
    eq((ws["first"], ws["every"]), (first, every), "the sampling, as reported")
    eq(ws["unpaired"], 0, "every write stack paired with its fault")
    eq(ws["skipped"], 0, "none skipped")
    got = copies_by_writer(r.raw, f["write_sites_child"])
    check(set(got) == {"write_three", "write_one"}, f"write sites name both writers: "
          f"{[w['label'] for w in f['write_sites_child']]}")
    top = f["write_sites_child"][0]
    check(top["label"].startswith("write_three"), f"top write site: {top['label']}")
    # samples in the mapping: the child's first `first` writes of present
    # pages (its stack may take some) and then 1 in `every`
    n = got["write_three"][1] + got["write_one"][1]
    want_n = pages / every if every else 0
    check(n >= min(first, pages) * 0.5 and abs(n - first - want_n) <= 5 * math.sqrt(want_n) + 8,
          f"samples taken in the mapping: {n} for first {first}, 1 in {every} of {pages}")
    a, b = got["write_three"][0], got["write_one"][0]
    # copies scaled to the side's exact count (the child's other copies:
    # its stack and libc's data, a few)
    check(abs((a + b) - pages) <= 0.1 * pages + 16, f"scaled copies {a} + {b} vs {pages}")
    frac = a / (a + b)
    sd = math.sqrt(0.75 * 0.25 / n)
    check(abs(frac - 0.75) <= 4 * sd + 0.01,
          f"write_three's share {frac:.3f} (of {n} samples) vs 0.75 +- {4 * sd:.3f}")
    print(f"  {n} samples: write_three {a}, write_one {b} copies ({frac:.3f}, "
          f"4 sd {4 * sd:.3f})")
    eq(f["cow_copy_child"] >= pages, True, "the fork's child side counts the mapping")
    check(re.search(r"\(written by: sampled write stacks, each thread's first %d after a fork, "
                    r"then 1 in %d\)" % (first, every), r.stderr) and
          re.search(r"child copied [\d.]+ MiB.*\n +written by write_three < copy_pages: "
                    r"\d+% \(\d+ stacks\)", r.stderr),
          f"the summary's fork list names the top write site:\n{r.stderr}")
    check_totals(r)
    return got


def check_folded(r, child):
    """--format folded-writes: the child's cow_copy lines end in the two
    writers (the leaf), after copy_pages; they sum to its cow_copy (each
    line rounded)."""
    p = subprocess.run([os.environ.get("VMAPROF", "vmaprof"), "report", r.dir, "--format",
                        "folded-writes"], capture_output=True, text=True, timeout=120)
    eq(p.returncode, 0, f"folded-writes: {p.stderr}")
    lines = [ln.rsplit(" ", 1) for ln in p.stdout.splitlines()]
    mine = [(s.split(";"), int(n)) for s, n in lines if s.startswith("cow_copy;")]
    leaf = {}
    for fr, n in mine:
        if fr[-1] in ("write_three", "write_one"):
            eq(fr[-2], "copy_pages", f"the writer's caller: {fr}")
            leaf[fr[-1]] = leaf.get(fr[-1], 0) + n
    check(set(leaf) == {"write_three", "write_one"}, f"folded-writes names both: {leaf}")
    check(leaf["write_three"] > 2 * leaf["write_one"], f"3:1 in folded-writes: {leaf}")


def t_ratio():
    """--write-stacks 8,8: every write stack's writer, 3:1 within error."""
    with run(8, 8) as r:
        check_ratio(r, 8, 8, PAGES)
        check_folded(r, fork_of(r)[1])


def t_default():
    """The default sampling (8, 64): the same answer, fewer samples."""
    with run(None, None) as r:
        check_ratio(r, 8, 64, PAGES)


def t_all():
    """8,1: a stack for every write; the counts are the sample's exactly
    (a ring buffer large enough that none is skipped: a stack is not taken
    while it is half full, 1024 of them are 12 MB)."""
    with run(8, 1, 1024, ["--ring-buffer", "64M"]) as r:
        eq(r.report["collectors"]["bpf"]["write_stacks"]["skipped"], 0, "none skipped")
        f, _ = fork_of(r)
        got = copies_by_writer(r.raw, f["write_sites_child"])
        eq((got["write_three"][1], got["write_one"][1]), (768, 256), "samples: every write")


def kib(n):
    """Bytes as the summary writes a size under 1 MiB ("108.0 KiB")."""
    return f"{n / 1024:.1f} KiB"


def t_few():
    """--write-stacks 4,0: four stacks of the child's first writes and no
    sample after them -- too few to scale to a share of its copies, so the
    summary gives the top site as a count of stacks ("N of 4 stacks", the
    report's own figures), not a percentage; and the copies of vmaprof's
    own memory in the child (the shim's data) are said apart, equal to the
    report's "vmaprof's own memory" site."""
    with run(4, 0, 64) as r:
        f, _ = fork_of(r)
        ws = f["write_sites_child"]
        total = sum(w["samples"] for w in ws)
        check(1 <= total <= 4, f"the child's stacks: {[(w['label'], w['samples']) for w in ws]}")
        by_label = {}
        for w in ws:
            by_label[w["label"]] = by_label.get(w["label"], 0) + w["samples"]
        top = max(by_label.values())
        m = re.search(r"child copied [^\n]*\n +written by (\S.*): (\d+) of (\d+) stacks?\n"
                      r" +\(the first writes after the fork, not a sample of its (\d+) "
                      r"copies\)\n", r.stderr)
        check(m, f"the child's top write site as a count of stacks:\n{r.stderr}")
        eq((int(m.group(2)), int(m.group(3))), (top, total), "the counts, as in report.json")
        eq(int(m.group(4)), f["cow_copy_child"], "and the copies they are among")
        eq(by_label.get(m.group(1)), top, f"the label with most stacks: {by_label}")
        check("%" not in m.group(0), f"no share from 4 stacks: {m.group(0)}")
        own = sum(x["bytes"] for x in f["sites_child"] if x["label"] == "vmaprof's own memory")
        line = re.search(r"child copied [^\n]*", r.stderr).group(0)
        if own:
            check(f"{kib(own)} in vmaprof's own memory)" in line,
                  f"the shim's copies ({own} bytes) said apart: {line}")
        else:
            check("vmaprof's own memory" not in line, line)
        check_totals(r)


POOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads", "w_pool.py")


def base_fn(name):
    """A function's name without the compiler's local suffix
    (dictiter_iternextitem.lto_priv.0 in Debian's LTO build)."""
    return re.sub(r"\.(lto_priv|constprop|isra|part|cold)(\.\d+)*$", "", name or "")


def t_python():
    """CPython's fork pool (tests/workloads/w_pool.py, Debian's python3):
    each worker iterates the parent's table once, and the reference counts
    that iteration writes copy the object arenas. The workers' top write
    site is that runtime function (dictiter_iternextitem) with its caller,
    not a bare _PyEval_EvalFrameDefault; the write sites of each side are
    scaled to its exact cow_copy."""
    py = "/usr/bin/python3"
    if not os.access(py, os.X_OK):
        print(f"SKIP: {py} is not installed (./bootstrap.sh installs python3)")
        raise SystemExit(77)
    with Rec([py, POOL, "1"]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        root = r.root()
        forks = [f for f in r.raw["forks"] if f["parent"] == root["pid"]]
        eq(len(forks), 4, "the pool's four workers")
        named = 0
        for f in forks:
            ws = f.get("write_sites_child") or []
            check(ws, f"worker {f['child']}: write sites ({f['cow_copy_child']} copies)")
            # scaled to the side's exact count (each site rounded); the
            # list holds the 10 sites with most copies (docs/report.md)
            total = sum(w["copies"] for w in ws)
            check(total <= f["cow_copy_child"] + len(ws) and
                  (len(ws) == 10 or abs(total - f["cow_copy_child"]) <= len(ws)),
                  f"worker {f['child']}: write sites' copies {total} vs cow_copy_child "
                  f"{f['cow_copy_child']} ({len(ws)} sites)")
            by = {}
            for w in ws:
                key = tuple(base_fn(x) for x in funcs(r.raw, w["stack"])[:2])
                by[key] = by.get(key, 0) + w["copies"]
            top = max(by, key=by.get)
            eq(len(top), 2, f"worker {f['child']}: the top write site is a chain: {top}")
            check(top[0] != "_PyEval_EvalFrameDefault",
                  f"worker {f['child']}: top write site is the interpreter loop itself: {top}")
            print(f"  worker {f['child']}: {f['cow_copy_child']} copies, top {top[0]} < {top[1]}"
                  f" ({by[top]} copies)")
            named += top[0] == "dictiter_iternextitem"
        # the sample is 8 stacks then 1 in 64: a worker's top site may be
        # another runtime function by chance, not in most
        check(named >= 3, f"dictiter_iternextitem tops {named} of 4 workers")
        check(re.search(r"written by dictiter_iternextitem\S* < _PyEval_EvalFrameDefault", r.stderr),
              f"the summary's fork list names it:\n{r.stderr}")
        check_totals(r)


def t_off():
    """--write-stacks off: none taken, the counts unchanged."""
    with run(0, 0, 512) as r:
        f, child = fork_of(r)
        eq(f.get("write_sites_child"), None, "no write sites (none in the report)")
        eq(r.report["collectors"]["bpf"].get("write_stacks"), None, "no write stacks")
        s = json.load(open(os.path.join(r.dir, "session.json")))["collectors"]["bpf"]
        eq(s["write_stacks"]["taken"], 0, "none taken")
        big = [v for v in child["vmas"] if v["faults"]["cow_copy"] == 512]
        eq(len(big), 1, "the copies still counted")


if __name__ == "__main__":
    main({"ratio": t_ratio, "default": t_default, "all": t_all, "off": t_off, "few": t_few,
          "python": t_python})
