# SPDX-License-Identifier: MIT
"""The kernel's own figures of a process (VP_REC_MMSTAT, report.json
`kernel_mm`) against what the process itself read from /proc right before
its end (tests/workloads/w_mmstat.c): map_count against /proc/self/maps,
RSS by type against the page-table walk of /proc/self/smaps_rollup
(exact where the collector could sum the per-CPU counters: rss_exact),
VmSize/VmPeak/VmLck exactly and VmRSS/VmHWM/RssAnon/RssFile within the
slack of the kernel's own /proc/PID/status, which reads the counters
approximately on most kernels (before 6.2 without the thread's unfolded
counts, fewer than 64 per counter; from 6.2 the per-CPU counters' global
part, fewer than max(32, 2 * CPUs) per CPU and counter).
"""
import json
import os
import re
import subprocess

from vptest import VMAPROF, Recording, check, eq, main, validate_report, workload

W = workload("w_mmstat")
PAGES = 3000   # anonymous pages the workload writes to
MAPS = 400     # 2 * MAPS more VMAs
KB = 1024


def slack_pages():
    """How far two readings of a process's rss may be apart on one kernel:
    since 6.2 each of the three rss counters (file, anon, shmem) is a
    per-CPU counter read approximately, off by up to a batch (max(32, 2n)
    pages) per CPU; RSS sums the three. (6.12 under TCG: maxrss 81 pages
    under VmHWM once, in CI's kernel matrix.)"""
    n = os.cpu_count() or 1
    return max(64, 3 * n * max(32, 2 * n))


class Rec(Recording):
    def __init__(self, cmd, args=(), env=None):
        super().__init__(cmd, args, env, prefix="vmaprof-mmstat-")
        self.said = {}
        for line in self.stdout.splitlines():
            k, _, v = line.partition(" ")
            self.said[k] = v

    def n(self, key):
        check(key in self.said, f"workload did not say {key}: {self.stdout!r}")
        return int(self.said[key])

    def proc(self, pid):
        ps = [p for p in self.procs if p["pid"] == pid]
        eq(len(ps), 1, f"processes with pid {pid}")
        return ps[0]

    def records(self):
        d = subprocess.run([VMAPROF, "report", self.dir, "--format", "records", "--no-stacks"],
                           capture_output=True, text=True, timeout=300)
        eq(d.returncode, 0, f"report --format records: {d.stderr}")
        return d.stdout


def near(got, want, slack, what):
    check(abs(got - want) <= slack, f"{what}: {got} against {want}, more than {slack} apart")


def check_image(r, img, kb_exact=True):
    """One whole reading against the workload's own /proc figures."""
    ps = r.raw["page_size"]
    sl = slack_pages() * ps // KB
    check(not img["partial"], f"partial reading: {img}")
    eq(img["map_count"], r.n("vmas"), "map_count = VMAs in /proc/self/maps")
    check(img["map_count"] >= 2 * MAPS, f"map_count {img['map_count']} < {2 * MAPS}")
    check(img["rss_anon"] >= PAGES * ps, f"rss_anon {img['rss_anon']} < {PAGES} pages")
    eq(img["rss"], img["rss_anon"] + img["rss_file"] + img["rss_shmem"], "rss = anon+file+shmem")
    # the default collector sums per-CPU counters itself (6.2+) or adds the
    # thread's unfolded counts (before): exact everywhere; the compat one
    # needs __per_cpu_offset in /proc/kallsyms on a 6.2+ kernel
    if json.load(open(os.path.join(r.dir, "session.json")))["collectors"]["bpf"]["variant"] == "default":
        eq(img["rss_exact"], True, "rss_exact with the default collector")
    # the page-table walk: exact when the counters were read exactly
    if "rollup.Rss" in r.said:
        tol = 0 if img["rss_exact"] else sl
        near(img["rss_anon"] // KB, r.n("rollup.Anonymous"), tol, "rss_anon vs smaps_rollup Anonymous (kB)")
        # rss sums three counters (file, anon, shmem): each approximate
        # one may be off by the slack
        near(img["rss"] // KB, r.n("rollup.Rss"), 3 * tol, "rss vs smaps_rollup Rss (kB)")
    # fields the kernel keeps exactly
    eq(img["vm_size"] // KB, r.n("status.VmSize"), "vm_size vs VmSize (kB)")
    eq(img["vm_peak"] // KB, r.n("status.VmPeak"), "vm_peak vs VmPeak (kB)")
    eq(img["locked"] // KB, r.n("status.VmLck"), "locked vs VmLck (kB)")
    # status reads the RSS counters approximately on most kernels
    near(img["rss"] // KB, r.n("status.VmRSS"), 3 * sl, "rss vs VmRSS (kB)")
    near(img["rss_anon"] // KB, r.n("status.RssAnon"), sl, "rss_anon vs RssAnon (kB)")
    near(img["rss_file"] // KB, r.n("status.RssFile"), sl, "rss_file vs RssFile (kB)")
    near(img["rss_shmem"] // KB, r.n("status.RssShmem"), sl, "rss_shmem vs RssShmem (kB)")
    # rss_peak is max(hiwater_rss, rss) of the same reading (docs/report.md)
    eq(img["rss_peak"], max(img["hiwater_rss"], img["rss"]), "rss_peak = max(hiwater_rss, rss)")
    # VmHWM is the same max as /proc/self/status read it, allowed sl off as
    # before. A reading that is not exact (rss_exact false: the compat
    # collector on a 6.2+ kernel without __per_cpu_offset in kallsyms, as
    # this project's 6.18 test machine) sums three counters' global parts,
    # each less than sl pages from the counter's true sum: its rss, and so
    # its rss_peak, may be up to 3 * sl further off (rss vs VmRSS above
    # allows the same). Such runs read 56 to 344 kB under VmHWM; sl is 256.
    near(img["rss_peak"] // KB, r.n("status.VmHWM"), sl if img["rss_exact"] else 4 * sl,
         "rss_peak vs VmHWM (kB)")


def summary_line(r, pid, img):
    t = subprocess.run([VMAPROF, "report", r.dir, "--format", "text"], capture_output=True,
                       text=True, timeout=300)
    eq(t.returncode, 0, "report --format text")
    # the peak, then the parts as read (at exit): not "peak (anon ...)",
    # which read as the peak's make-up
    m = re.search(rf"pid {pid} .*?\n(?:    .*\n)*?    kernel: rss peak (.*?); at (\w+): anon (.*?), "
                  r"file (.*?), shmem (.*?)\n +vm peak (.*?), (\d+) mappings", t.stdout)
    check(m is not None, f"no kernel line for {pid} in:\n{t.stdout}")
    eq(m.group(2), img["when"], "the reading's time named")
    eq(m.group(1), human_bytes(img["rss_peak"]), "summary's rss peak")
    eq(m.group(3), human_bytes(img["rss_anon"]), "summary's anon (at the reading)")
    eq(m.group(4), human_bytes(img["rss_file"]), "summary's file (at the reading)")
    eq(m.group(5), human_bytes(img["rss_shmem"]), "summary's shmem (at the reading)")
    eq(int(m.group(7)), img["map_count"], "summary's mappings")


def human_bytes(b):
    """The summary's sizes (analyzer/outputs/summary.c human_bytes)."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if b >= 1 << shift:
            return f"{b / (1 << shift):.1f} {unit}"
    return f"{b} B"


def t_exit():
    """exit_group: one whole reading of the image, and one of the image the
    exec replaced (the recorder's child before it exec'd the workload)."""
    with Rec([W, str(PAGES), str(MAPS)]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.proc(r.n("pid"))
        km = p["kernel_mm"]
        imgs = km["images"]
        eq([i["when"] for i in imgs], ["exec", "exit"], "readings")
        check(imgs[0]["map_count"] > 0 and imgs[0]["vm_size"] > 0, f"exec reading: {imgs[0]}")
        check(imgs[1]["exe"].endswith("/w_mmstat"), f"exe {imgs[1]['exe']}")
        check_image(r, imgs[1])
        eq(km["max_map_count"], int(open("/proc/sys/vm/max_map_count").read()),
           "max_map_count from session.json")
        eq(km["near_max_map_count"], False, "near_max_map_count")
        summary_line(r, p["pid"], imgs[1])
        b = r.raw["collectors"]["bpf"]
        sess = json.load(open(os.path.join(r.dir, "session.json")))
        eq(sess["collectors"]["bpf"]["mm_readings"], 2, "session mm_readings")


def t_kill():
    """SIGKILL: on kernels whose sched_process_exit comes before exit_mm
    (group_dead, 6.18) a whole reading; elsewhere only the peak, from
    signal->maxrss, which also holds the peak of the image the exec replaced."""
    with Rec([W, str(PAGES), str(MAPS), "kill"]) as r:
        r.require_bpf()
        p = r.proc(r.n("pid"))
        eq(p["exit_signal"], 9, "killed")
        imgs = p["kernel_mm"]["images"]
        eq(len(imgs), 2, f"readings {imgs}")
        eq(imgs[0]["when"], "exec", "first reading")
        last = imgs[1]
        if last["when"] == "exit":
            check_image(r, last)
            return
        eq(last["when"], "exit_late", "killed after exit_mm")
        eq(last["partial"], True, "partial")
        check(last["map_count"] is None and last["rss"] is None, f"nulls: {last}")
        ps = r.raw["page_size"]
        sl = slack_pages() * ps
        want = max(imgs[0]["rss_peak"], r.n("status.VmHWM") * KB)
        near(last["rss_peak"], want, sl, "maxrss vs max(exec image's peak, VmHWM)")


def t_failexec():
    """An exec that fails: its reading is superseded by the image's exit."""
    with Rec([W, str(PAGES), str(MAPS), "failexec"]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.proc(r.n("pid"))
        imgs = p["kernel_mm"]["images"]
        eq([i["when"] for i in imgs], ["exec", "exit"], "readings")
        check_image(r, imgs[1])
        recs = r.records()
        n = len(re.findall(rf"^mmstat .*pid={p['pid']} .*why=exec", recs, re.M))
        eq(n, 2, "exec readings in the trace (the recorder's child's, the failed one)")


def t_spawn():
    """posix_spawn: the child runs on its parent's mm until its exec: no
    reading there; its own image's exit reading; the parent's unchanged."""
    with Rec([W, str(PAGES), str(MAPS), "spawn"]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.proc(r.n("pid"))
        check_image(r, p["kernel_mm"]["images"][-1])
        c = r.proc(r.n("child"))
        imgs = c["kernel_mm"]["images"]
        eq([i["when"] for i in imgs], ["exit"], "child's readings")
        check(imgs[0]["exe"].endswith("/true"), f"child exe {imgs[0]['exe']}")
        check(imgs[0]["map_count"] < 100 and imgs[0]["rss_anon"] < PAGES * r.raw["page_size"],
              f"the child's own small image: {imgs[0]}")


def t_rss_stat():
    """VMAPROF_RSS_STAT: the rss_stat samples climb with the writes and
    never pass what the image had at its end (+ the counters' slack)."""
    env = dict(os.environ, VMAPROF_RSS_STAT="0.2")
    with Rec([W, str(PAGES), str(MAPS)], env=env) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.proc(r.n("pid"))
        km = p["kernel_mm"]
        check(km["rss_samples"] >= 3, f"rss_samples {km['rss_samples']}")
        recs = r.records()
        samples = [(int(m.group(1)), int(m.group(2))) for m in
                   re.finditer(rf"^rss t=(\d+) pid={p['pid']} .*rss_anon=(-?\d+)", recs, re.M)]
        eq(len(samples), km["rss_samples"], "samples in the trace = report's rss_samples")
        # the workload's image: after its exec (before it, the recorder's
        # child, a copy of the recorder's mm)
        ex = [int(m.group(1)) for m in
              re.finditer(rf"^task_exec t=(\d+) pid={p['pid']} ", recs, re.M)]
        eq(len(ex), 1, "one exec")
        anon = [a for t, a in samples if t > ex[0]]
        check(len(anon) >= 3, f"{len(anon)} samples of the workload's image")
        ps = r.raw["page_size"]
        end = km["images"][-1]["rss_anon"] // ps
        check(max(anon) >= PAGES // 2, f"samples never reached half the writes: max {max(anon)}")
        check(max(anon) <= end + slack_pages(), f"a sample above the end: {max(anon)} > {end}")
        # the HTML page's curve: every sample, then the exit reading
        h = subprocess.run([VMAPROF, "report", r.dir, "--format", "html", "-o", "-"],
                           capture_output=True, text=True, timeout=300)
        eq(h.returncode, 0, f"report --format html: {h.stderr[-500:]}")
        m = re.search(rf'{{"pid":{p["pid"]},"key".*?"rss":\[([-0-9,]*)\]', h.stdout, re.S)
        check(m is not None, "no rss curve in the page")
        v = [int(x) for x in m.group(1).split(",")]
        # the exit reading closes the curve unless a sample came after it
        # (before 6.2: do_exit folds the thread's counts in after exit_group's
        # entry, and the kernel's tracepoint fires)
        te = [int(m.group(1)) for m in
              re.finditer(rf"^mmstat t=(\d+) pid={p['pid']} .*why=exit", recs, re.M)]
        eq(len(te), 1, "one exit reading")
        closes = te[0] >= samples[-1][0]
        eq(len(v), 4 * (km["rss_samples"] + closes), f"page's rss values: 4 per sample "
           f"{'+ the exit reading' if closes else '(one after the exit reading)'}")
        last = km["images"][-1]
        want = [last["rss_file"] // ps, last["rss_anon"] // ps, last["rss_shmem"] // ps]
        if closes:
            eq(v[-4 + 1:], want, "the curve ends at the exit reading's figures")
        else:  # a sample of the fold: the mm's counters, some folded in already
            for got, w in zip(v[-4 + 1:], want):
                near(got, w, 64, "the last sample against the exit reading")
        eq([x for i, x in enumerate(v) if i % 4 == 2][:len(samples)], [a for _, a in samples],
           "the page's anon pages = the trace's samples")
        sess = json.load(open(os.path.join(r.dir, "session.json")))
        eq(sess["collectors"]["bpf"]["rss_stat_interval_ns"], 200000, "interval")
        eq(sess["collectors"]["bpf"]["rss_samples"] >= km["rss_samples"], True, "session count")


def t_max_map_count():
    """A process whose mappings reach 90% of vm.max_map_count is flagged:
    the recording's session.json says a limit just above the workload's
    map_count (the machine's own is not changed), and the report, read
    again, warns."""
    with Rec([W, str(PAGES), str(MAPS)]) as r:
        r.require_bpf()
        n = r.n("vmas")
        sp = os.path.join(r.dir, "session.json")
        for lim, near_ in ((n + n // 20, True), (n * 2, False)):
            sess = json.load(open(sp))
            sess["vm_max_map_count"] = lim
            json.dump(sess, open(sp, "w"))
            p = subprocess.run([VMAPROF, "report", r.dir], capture_output=True, text=True,
                               timeout=300)
            eq(p.returncode, 0, f"report: {p.stderr}")
            validate_report(os.path.join(r.dir, "report.json"))
            rep = json.load(open(os.path.join(r.dir, "report.json")))
            pr = [q for q in rep["processes"] if q["pid"] == r.n("pid")][0]
            km = pr["kernel_mm"]
            eq(km["max_map_count"], lim, "max_map_count")
            eq(km["near_max_map_count"], near_, f"near at {n} of {lim}")
            warned = [w for w in pr["warnings"] if "vm.max_map_count" in w]
            eq(len(warned), 1 if near_ else 0, f"warnings {pr['warnings']}")
            t = subprocess.run([VMAPROF, "report", r.dir, "--format", "text"],
                               capture_output=True, text=True, timeout=300)
            eq(f"WARNING: {n} mappings, near vm.max_map_count ({lim})" in t.stdout, near_,
               "summary's warning")


main({
    "max_map_count": t_max_map_count,
    "exit": t_exit,
    "kill": t_kill,
    "failexec": t_failexec,
    "spawn": t_spawn,
    "rss_stat": t_rss_stat,
})
