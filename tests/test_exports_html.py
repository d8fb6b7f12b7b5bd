#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The HTML page (`vmaprof report --format html`, `record --html`;
docs/exports.md, "HTML") opened in a real browser: Debian's chromium,
headless, which runs the page's scripts and prints the DOM they built.
The page must show the demo's call sites, processes and what its forks
un-shared; request nothing from the network; and survive hostile names."""
import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile

from vptest import VMAPROF, Fail, Recording, check, eq, main, validate_report, workload

CHROMIUM = shutil.which("chromium")
DEMO = os.path.join(os.path.dirname(VMAPROF), "vmaprof-demo")
W = workload("w_faults")
# screenshots kept for a human to look at: build/tests/artifacts/
ARTIFACTS = os.path.join(os.environ.get("VP_WORKLOADS", tempfile.gettempdir()), "artifacts")
# nothing the browser does on its own (updates, sync, ...) and no name resolves
BROWSER_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-default-apps", "--disable-extensions",
                 "--host-resolver-rules=MAP * ~NOTFOUND"]


def need_chromium():
    if not CHROMIUM:
        print("SKIP: chromium missing (apt install chromium; bootstrap.sh test does)")
        raise SystemExit(77)


def browser(page, *args, netlog=None, frag=""):
    """chromium on file `page` (at #frag) with extra args; its stdout. With
    netlog, its network log is written there (page_requests reads it)."""
    with tempfile.TemporaryDirectory(prefix="vp-chromium-") as ud:
        extra = [f"--log-net-log={netlog}"] if netlog else []
        p = subprocess.run([CHROMIUM, *BROWSER_FLAGS, f"--user-data-dir={ud}", *extra, *args,
                            "file://" + os.path.abspath(page) + (f"#{frag}" if frag else "")],
                           capture_output=True, text=True, timeout=120)
        check(p.returncode == 0, f"chromium failed ({p.returncode}): {p.stderr[-2000:]}")
        return p.stdout


def page_requests(netlog):
    """URLs requested from a file:// page according to chromium's net log."""
    d = json.load(open(netlog))
    urls = set()
    for e in d.get("events", []):
        prm = e.get("params") or {}
        if "url" in prm and str(prm.get("network_isolation_key", "")).startswith("file://"):
            urls.add(prm["url"])
    return urls


class Dom(html.parser.HTMLParser):
    """The text of each element with an id, its attributes, and the visible
    text (script and style left out) of a DOM."""
    VOID = {"meta", "br", "img", "input", "link", "hr", "source", "wbr", "col", "area", "base"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.stack = []  # [tag, attrs, [text]]
        self.by_id, self.attrs, self.tags = {}, [], []
        self.elems = []  # (tag, attrs, text) of each element ended
        self.inside = {}  # id: [(tag, attrs, text)] of the elements inside it
        self.visible = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        self.attrs.append((tag, a))
        if tag not in self.VOID:
            self.stack.append([tag, a, []])

    def handle_endtag(self, tag):
        while self.stack:
            t, a, txt = self.stack.pop()
            self.elems.append((t, a, "".join(txt)))
            for _, up, _ in self.stack:
                if up.get("id"):
                    self.inside.setdefault(up["id"], []).append((t, a, "".join(txt)))
            if a.get("id"):
                self.by_id[a["id"]] = "".join(txt)
            if t == tag:
                break

    def handle_data(self, data):
        if any(t in ("script", "style") for t, _, _ in self.stack):
            return
        self.visible.append(data)
        for _, _, txt in self.stack:
            txt.append(data)

    def text(self):
        return "".join(self.visible)


def fmt_bytes(n):
    """The page's fmtBytes."""
    if n < 1024:
        return f"{n} B"
    units = ["KiB", "MiB", "GiB", "TiB"]
    i = -1
    while True:
        n /= 1024
        i += 1
        if not (n >= 1024 and i < len(units) - 1):
            break
    return f"{n:.1f} {units[i]}"


def unshared(pages, page_size):
    """The page's unshared(): bytes and pages."""
    word = "page" if pages == 1 else "pages"
    return f"{fmt_bytes(pages * page_size)} ({pages:,} {word})"


def page_data(page):
    """The JSON model embedded in the page, and the page's text."""
    text = open(page, encoding="utf-8").read()
    m = re.search(r'<script type="application/json" id="vp-data">(.*?)</script>', text, re.S)
    check(m is not None, "the page has its data element")
    return json.loads(m.group(1)), text


def external_refs(text):
    """References to anything outside the page: URLs, src/href that are not
    data: or #, CSS imports and url()s that are not data:."""
    bad = re.findall(r"(?i)\b(?:https?|ftp|wss?):/\S{0,60}", text)
    for m in re.finditer(r"""(?i)\b(src|href|action|srcset|poster)\s*=\s*["']?([^"'\s>]*)""", text):
        if not (m.group(2).startswith("data:") or m.group(2).startswith("#")):
            bad.append(m.group(0))
    bad += re.findall(r"(?i)@import[^;]{0,60}", text)
    bad += [u for u in re.findall(r"(?i)url\(\s*['\"]?([^)'\"]*)", text) if not u.startswith("data:")]
    return bad


def save_screenshot(page, name, frag=""):
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, name)
    if os.path.exists(shot):
        os.unlink(shot)
    browser(page, "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1400,2200", frag=frag)
    check(os.path.exists(shot) and os.path.getsize(shot) > 10000, f"a screenshot at {shot}")
    with open(shot, "rb") as f:
        eq(f.read(8), b"\x89PNG\r\n\x1a\n", "the screenshot is a PNG")
    print(f"screenshot: {shot}")


def t_demo():
    """The demo (a parent fills a 64 MiB cache in build_cache, forks 2
    workers that rewrite a quarter of it) as the browser draws it: every pid
    in the fork tree, build_cache in the call sites, each fork's un-shared
    bytes on each side as report.json counts them (a worker's side: at
    least its 16 MiB of copies, named build_cache), the collectors' counts.
    record --html writes the same page as report --format html."""
    need_chromium()
    with Recording([DEMO], args=["--html"], prefix="vmaprof-html-") as r:
        r.require_bpf()
        eq(r.rc, 0, f"demo exit status: {r.stderr}")
        rec_page = os.path.join(r.dir, "report.html")
        check(os.path.exists(rec_page), "record --html wrote report.html")
        page = os.path.join(r.tmp, "page.html")
        p = subprocess.run([VMAPROF, "report", r.dir, "--format", "html", "-o", page],
                           capture_output=True, text=True)
        eq(p.returncode, 0, f"report --format html: {p.stderr}")
        data, text = page_data(page)
        eq(open(rec_page, encoding="utf-8").read(), text, "record --html and report --format html agree")
        eq(len(data["processes"]), len(r.procs), "every process in the page's data")
        eq(external_refs(text), [], "no reference outside the page")

        dom = Dom(browser(page, "--dump-dom"))
        check("vp-timing" in dom.by_id, "the page's script ran to its end (no exception)")
        procs = {a.get("data-pid"): txt for t, a, txt in dom.elems if "proc" in a.get("class", "")}
        for pr in r.procs:
            eq(procs.get(str(pr["pid"])), f"{pr['pid']} {pr['name']}", f"pid {pr['pid']} in the fork tree")
        eq(len(procs), len(r.procs), "one entry per process in the fork tree")
        sites = dom.by_id.get("sites", "")
        check("build_cache" in sites, f"build_cache in the call-site table:\n{sites[:2000]}")
        # opened on the process that copied most (ties: most faults)
        top = max(r.procs, key=lambda p: (p["faults"]["cow_copy"], p["faults"]["total"],
                                          -r.procs.index(p)))
        check(dom.by_id.get("st-title", "").startswith(f"Call sites of {top['pid']} "),
              f"the process that copied most is the one shown: {dom.by_id.get('st-title')}")
        forks = r.report["forks"]
        eq(len(forks), 2, "two workers forked")
        ps = r.report["page_size"]
        for f in forks:
            line = dom.by_id.get(f"fork-{f['child']}")
            check(line is not None, f"a line for the fork of {f['child']}")
            want = (f"un-shared: parent {unshared(f['cow_copy_parent'], ps)}, "
                    f"child {unshared(f['cow_copy_child'], ps)}")
            check(want in line, f"fork of {f['child']}: {want!r} in {line!r}")
            check(f["cow_copy_child"] * ps >= 16 << 20,
                  f"worker {f['child']} copied its quarter of the cache: {f['cow_copy_child']} pages")
            check(re.search(r"child copied in: build_cache 16\.\d MiB", line),
                  f"the worker's copies are named build_cache: {line!r}")
        # the answer first: the fork that un-shared most, its worker's
        # copies named build_cache; the process that allocated most
        big = max(forks, key=lambda f: (f["cow_copy_parent"] + f["cow_copy_child"], -f["child"]))
        ans = dom.by_id.get(f"ans-fork-{big['child']}")
        check(ans is not None, f"the headline names the fork of {big['child']}: {dom.by_id.get('answer')!r}")
        tot = big["cow_copy_parent"] + big["cow_copy_child"]
        want = (f"its fork un-shared {fmt_bytes(tot * ps)} (child "
                f"{fmt_bytes(big['cow_copy_child'] * ps)}, parent ")
        check(want in ans, f"headline fork figures {want!r} in {ans!r}")
        check(re.search(r"child's copies: (99|100)% in build_cache \(demo\.c:\d+\) 16\.\d MiB", ans),
              f"the headline names build_cache for the worker's copies: {ans!r}")
        check(dom.text().index("What cost most") < dom.text().index("Collectors and losses"),
              "the headline comes before the collectors")
        check_headline(dom, r.report, "demo")
        check_fork_sides(dom, r.report, "demo")
        most = max(r.report["processes"], key=lambda p: (p["pages_allocated"], -p["pid"]))
        ans = dom.by_id.get(f"ans-proc-{most['pid']}", "")
        check(f"allocated {fmt_bytes(most['pages_allocated'] * ps)} of new pages in "
              f"{most['faults']['total']:,} faults" in ans, f"the process that allocated most: {ans!r}")
        check("most in: 99% in build_cache" in ans or "most in: 100% in build_cache" in ans,
              f"its pages named build_cache: {ans!r}")
        # faults over time of the process shown: every one of its faults
        mem = [a for t, a, _ in dom.elems if a.get("id") == "mem-note"]
        eq(int(mem[0].get("data-faults", -1)) if mem else None, top["faults"]["total"],
           "the memory chart sums the shown process's faults")
        col = dom.by_id.get("collectors", "")
        for name in ("preload", "bpf"):
            c = r.report["collectors"][name]
            check(re.search(rf"{name} \(.*?\)yes{c['events']:,}{c['lost']:,}", col),
                  f"collector {name} with {c['events']:,} events, {c['lost']:,} lost: {col!r}")
        check(re.search(r"lost: preload records \d+, bpf records \d+, damaged records \d+, "
                        r"unreadable files \d+", dom.by_id.get("lost", "")), "the lost counts")
        # the class selector names every class; the timeline has a legend
        for c in ("cow_copy", "demand_zero", "file"):
            check(c in dom.by_id.get("legend", ""), f"{c} in the timeline's legend")
        check(re.search(r"\d+ faults of class \w+", dom.by_id.get("fl-note", "")),
              f"the flame graph counts faults: {dom.by_id.get('fl-note')!r}")
        # the worker selected (#pid=): its timeline, its sites
        w = forks[0]["child"]
        dom = Dom(browser(page, "--dump-dom", frag=f"pid={w}&class=cow_copy"))
        check(dom.by_id.get("st-title", "").startswith(f"Call sites of {w} "), "the worker shown")
        check(re.search(r"[\d,]+ faults of class cow_copy", dom.by_id.get("fl-note", "")),
              "the cow_copy flame graph")
        save_screenshot(page, "html-demo.png", frag=f"pid={w}&class=cow_copy")


def t_big_tree():
    """A tree of 120 processes (a shell running true 120 times, then one
    sleep, named so that only it matches "sleep"): the fork tree says how
    many, its filter (#filter=) keeps the
    matching process and its ancestors and hides the rest, and the memory
    chart of the whole tree (#mem=all) sums every process's faults."""
    need_chromium()
    n = 120
    with Recording(["sh", "-c", f"for i in $(seq {n}); do /bin/true; done; s=sle; ${{s}}ep 0.01"],
                   prefix="vmaprof-html-big-") as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        page = os.path.join(r.tmp, "page.html")
        p = subprocess.run([VMAPROF, "report", r.dir, "--format", "html", "-o", page],
                           capture_output=True, text=True)
        eq(p.returncode, 0, f"report --format html: {p.stderr}")
        procs = r.report["processes"]
        eq(len(procs), n + 3, "sh, seq, the trues and sleep")
        dom = Dom(browser(page, "--dump-dom", frag="filter=sleep&mem=all"))
        check("vp-timing" in dom.by_id, "the page's script ran to its end")
        eq(dom.by_id.get("tree-count"), "1 process match", "the filter's count")
        shown = {}
        for t, a, txt in dom.elems:
            if t == "li":
                pid = re.match(r"(?:[▾▸])?(\d+) ", txt)
                if pid and pid.group(1) not in shown:
                    shown[pid.group(1)] = "display: none" not in a.get("style", "")
        sleep = [p_ for p_ in procs if p_["name"] == "sleep"][0]
        root = [p_ for p_ in procs if p_["name"] == "sh"][0]
        true_ = [p_ for p_ in procs if p_["name"] == "true"]
        eq(len(true_), n, "every true recorded")
        check(shown.get(str(sleep["pid"])), f"sleep {sleep['pid']} shown")
        check(shown.get(str(root["pid"])), f"its parent sh {root['pid']} shown (opened)")
        hidden = [p_["pid"] for p_ in true_ if shown.get(str(p_["pid"]), True)]
        eq(hidden, [], "every true hidden by the filter")
        mem = [a for t, a, _ in dom.elems if a.get("id") == "mem-note"]
        eq(int(mem[0]["data-faults"]), sum(p_["faults"]["total"] for p_ in procs),
           "the whole tree's chart sums every process's faults")
        check("the whole tree (123 processes)" in dom.by_id.get("mem-title", ""),
              f"chart title: {dom.by_id.get('mem-title')!r}")
        timing = [a for t, a, _ in dom.elems if a.get("id") == "vp-timing"][0]
        print(f"drawn in {timing['data-ms']} ms: {timing.get('data-phases')}")
        save_screenshot(page, "html-big-tree.png", frag="filter=sleep&mem=all")


def headline_order(report):
    """The headline's lines as docs/exports.md ("HTML") ranks them: forks
    (copies on both sides) and processes (pages allocated) in one list,
    most pages first (ties: forks, earliest first, then processes in
    report order); kept while at least 1% of the first line's pages, at
    most 6. [(kind, pages, fork or process)] kept, and the number of forks
    and of processes left out."""
    cand = [("fork", (f["cow_copy_parent"] or 0) + (f["cow_copy_child"] or 0), (0, f["time_ns"]), f)
            for f in report["forks"]]
    cand += [("proc", p["pages_allocated"] or 0, (1, i), p) for i, p in enumerate(report["processes"])]
    cand = sorted([c for c in cand if c[1] > 0], key=lambda c: (-c[1], c[2]))
    kept = [c for k, c in enumerate(cand) if k < 6 and c[1] * 100 >= cand[0][1]]
    rest = cand[len(kept):]
    return ([(kind, n, x) for kind, n, _, x in kept],
            sum(1 for c in rest if c[0] == "fork"), sum(1 for c in rest if c[0] == "proc"))


def check_headline(dom, report, what):
    """The headline ("What cost most") as report.json counts it: its lines
    in headline_order's order; a fork's with both sides' bytes, a
    process's with its bytes and fault count; what was left out counted
    (#ans-rest). The number of lines."""
    ps = report["page_size"]
    kept, rest_forks, rest_procs = headline_order(report)
    want_ids = [f"ans-{kind}-{x['child'] if kind == 'fork' else x['pid']}" for kind, _, x in kept]
    got_ids = [a["id"] for t, a in dom.attrs if a.get("id", "").startswith("ans-") and a["id"] != "ans-rest"]
    eq(got_ids, want_ids, f"{what}: the headline's lines, most pages first "
       f"({[(k, n) for k, n, _ in kept]})")
    for kind, n, x in kept:
        if kind == "fork":
            f = x
            ans = dom.by_id.get(f"ans-fork-{f['child']}")
            want = (f"its fork un-shared {fmt_bytes(n * ps)} (child {fmt_bytes(f['cow_copy_child'] * ps)}, "
                    f"parent ")
            check(want in ans, f"{what}: fork of {f['child']}: {want!r} in {ans!r}")
            check(f"{fmt_bytes(f['cow_copy_parent'] * ps)}, copied on write after the fork" in ans,
                  f"{what}: the parent's side of the fork of {f['child']} in {ans!r}")
        else:
            pr = x
            if want_ids.count(f"ans-proc-{pr['pid']}") > 1:
                continue  # two images of one pid: one id on the page
            ans = dom.by_id.get(f"ans-proc-{pr['pid']}", "")
            want = (f"allocated {fmt_bytes(n * ps)} of new pages in "
                    f"{pr['faults']['total']:,} fault")
            check(want in ans, f"{what}: process {pr['pid']}: {want!r} in {ans!r}")
    rest = [a for t, a in dom.attrs if a.get("id") == "ans-rest"]
    if rest_forks or rest_procs:
        check(rest, f"{what}: the headline says what it left out: {dom.by_id.get('answer')!r}")
        eq((int(rest[0]["data-forks"]), int(rest[0]["data-procs"])), (rest_forks, rest_procs),
           f"{what}: forks and processes left out of the headline")
    else:
        eq(rest, [], f"{what}: nothing left out of the headline")
    return len(kept)


def check_fork_sides(dom, report, what):
    """Each fork line the tree has built: a side that copied pages in red
    bold (b), a side that copied none in grey (span.nil), no alarm. The
    number of sides with no copies seen."""
    ps = report["page_size"]
    zero = 0
    for f in report["forks"]:
        if f"fork-{f['child']}" not in dom.by_id:
            continue
        inner = dom.inside.get(f"fork-{f['child']}", [])
        sides = (f["cow_copy_parent"], f["cow_copy_child"])
        eq([txt for t, a, txt in inner if t == "b"], [unshared(n, ps) for n in sides if n > 0],
           f"{what}: the fork of {f['child']}'s sides in bold")
        eq([txt for t, a, txt in inner if t == "span" and "nil" in a.get("class", "").split()],
           [unshared(n, ps) for n in sides if n == 0], f"{what}: the fork of {f['child']}'s sides in grey")
        zero += sides.count(0)
    return zero


def page_of_recording(r, what, shot, frag=""):
    """report --format html of recording r, opened in chromium: its
    headline checked against report.json, its draw time printed, a
    screenshot kept."""
    page = os.path.join(r.tmp, "page.html")
    p = subprocess.run([VMAPROF, "report", r.dir, "--format", "html", "-o", page],
                       capture_output=True, text=True)
    eq(p.returncode, 0, f"report --format html: {p.stderr}")
    data, text = page_data(page)
    eq(len(data["processes"]), len(r.report["processes"]), f"{what}: every process in the page's data")
    eq(external_refs(text), [], "no reference outside the page")
    dom = Dom(browser(page, "--dump-dom", frag=frag))
    check("vp-timing" in dom.by_id, f"{what}: the page's script ran to its end (no exception)")
    n = check_headline(dom, r.report, what)
    check(n > 0, f"{what}: something in the headline")
    check_fork_sides(dom, r.report, what)
    check(dom.text().index("What cost most") < dom.text().index("Collectors and losses"),
          "the headline comes before the collectors")
    procs = {a.get("data-pid") for t, a, txt in dom.elems if "proc" in a.get("class", "")}
    pids = {str(p["pid"]) for p in r.report["processes"]}
    eq(dom.by_id.get("tree-count"), f"{len(r.report['processes']):,} processes, {len(r.report['forks']):,} "
       f"fork{'s' if len(r.report['forks']) != 1 else ''}", f"{what}: the tree's count")
    if len(r.report["processes"]) <= 60:
        eq(procs, pids, f"{what}: every pid in the fork tree")
    else:
        # a big tree opens folded below its first level; folded processes'
        # entries are built when opened (t_build's filter opens them)
        check(procs <= pids and len(procs) > 1, f"{what}: the tree's first levels ({len(procs)} entries)")
        tree = [a for t, a, _ in dom.elems if a.get("id") == "tree"][0]
        eq(int(tree.get("data-built", -1)), len(procs), f"{what}: the entries built are those in the DOM")
    timing = [a for t, a, _ in dom.elems if a.get("id") == "vp-timing"][0]
    print(f"{what}: {len(r.report['processes'])} processes, {os.path.getsize(page) / 1e6:.1f} MB page, "
          f"drawn in {timing['data-ms']} ms: {timing.get('data-phases')}")
    save_screenshot(page, shot, frag=frag)
    return page, data


def check_filter(page, data, q, what):
    """The fork tree filtered (#filter=q): the page's count of matches is
    the processes whose pid, name or arguments contain q (as the page's
    data has them); each is shown (built, even under a folded process),
    marked, with its ancestors opened; every other entry built is hidden."""
    P = data["processes"]

    def name(p):
        return p.get("name") or (p["exe"].split("/")[-1] if p.get("exe") else "?")
    hits = [p for p in P if q.lower() in f"{p['pid']} {name(p)} {' '.join(p.get('argv') or [])}".lower()]
    check(len(hits) > 1, f"{what}: several processes match {q!r}")
    dom = Dom(browser(page, "--dump-dom", frag=f"filter={q}"))
    check("vp-timing" in dom.by_id, f"{what}: the filtered page's script ran to its end")
    eq(dom.by_id.get("tree-count"), f"{len(hits):,} process{'es' if len(hits) != 1 else ''} match",
       f"{what}: the filter's count")
    # each li's pid, whether it is hidden; the marked entries
    hidden_li, marked = {}, set()
    for t, a, txt in dom.elems:
        m = re.match(r"(?:[▾▸])?(\d+) ", txt) if t == "li" else None
        if m:
            hidden_li.setdefault(m.group(1), "display: none" in a.get("style", ""))
        if {"proc", "hit"} <= set(a.get("class", "").split()):
            marked.add(a.get("data-pid"))
    hit_pids = {str(p["pid"]) for p in hits}
    eq(marked, hit_pids, f"{what}: the matching entries marked")
    # the matches and their ancestors (by ppid: a build reuses no pid) shown,
    # every other entry built hidden
    by_pid = {p["pid"]: p for p in P}
    eq(len(by_pid), len(P), f"{what}: no pid reused")
    keep = set()
    for p in hits:
        for _ in range(len(P)):
            keep.add(str(p["pid"]))
            p = by_pid.get(p.get("ppid"))
            if p is None:
                break
    eq({pid for pid, hid in hidden_li.items() if not hid}, keep,
       f"{what}: shown: the matches and their ancestors")
    return dom


def t_rank():
    """The headline ranks by pages, forks and processes in one list: a shell
    runs a process that touches 20,000 pages (78 MiB), one that touches
    2,000 and forks a child that rewrites them (>= 2,000 copies), and one
    that does the same with 1 page (a fork that copies a page, and the
    pages of the stack and data the two sides write: far under 1% of 78
    MiB). The 78 MiB process is first, the 2,000-page fork is listed below
    it, the 1-page fork is not (counted as left out). The shell's own forks
    (dash starts each command with vfork: no page copied on either side)
    show their 0 B in grey in the fork tree, not in red bold."""
    need_chromium()
    cmd = f"{W} touch 20000 >/dev/null; {W} cow 2000 >/dev/null; {W} cow 1 >/dev/null"
    with Recording(["sh", "-c", cmd], prefix="vmaprof-html-rank-") as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        procs = r.report["processes"]
        ps = r.report["page_size"]
        wf = [p_ for p_ in procs if p_["name"] == "w_faults"]
        eq(len(wf), 5, "touch, cow 2000 and its child, cow 1 and its child")
        big = [p_ for p_ in wf if (p_.get("argv") or [])[1:2] == ["touch"]]
        eq(len(big), 1, "the touch process")
        big = big[0]
        check(big["pages_allocated"] >= 20000, f"touch 20000 allocated: {big['pages_allocated']}")
        kids = {f["parent"]: f for f in r.report["forks"] if f["parent"] in {p_["pid"] for p_ in wf}}
        eq(len(kids), 2, f"the two cow forks: {r.report['forks']}")
        argv = {p_["pid"]: p_.get("argv") for p_ in wf}
        f2000 = [f for pid, f in kids.items() if argv[pid][1:3] == ["cow", "2000"]][0]
        f1 = [f for pid, f in kids.items() if argv[pid][1:3] == ["cow", "1"]][0]
        check(f2000["cow_copy_child"] >= 2000, f"the child of cow 2000 copied them: {f2000}")
        n1 = f1["cow_copy_parent"] + f1["cow_copy_child"]
        check(1 <= n1 and n1 * 100 < big["pages_allocated"],
              f"the fork of cow 1 copied a few pages: {n1}")
        page, data = page_of_recording(r, "rank", "html-rank.png")
        dom = Dom(browser(page, "--dump-dom"))
        ids = [a["id"] for t, a in dom.attrs if a.get("id", "").startswith("ans-")]
        eq(ids[0], f"ans-proc-{big['pid']}", f"the 78 MiB process first: {ids}")
        check(f"ans-fork-{f2000['child']}" in ids, f"the fork that copied 2,000 pages listed: {ids}")
        check(f"ans-fork-{f1['child']}" not in ids, f"the fork that copied {n1} pages not listed: {ids}")
        rest = [a for t, a in dom.attrs if a.get("id") == "ans-rest"]
        check(rest and int(rest[0]["data-forks"]) >= 1, f"the small fork counted as left out: {rest}")
        check(check_fork_sides(dom, r.report, "rank") >= 2, "a fork that copied nothing (the shell's)")
        # the pages each line names (its bold figure), in the page's order
        pages = [int([a for t, a, _ in dom.inside[i] if t == "b"][0]["data-pages"]) for i in ids if i != "ans-rest"]
        eq(pages, sorted(pages, reverse=True), "the headline's lines most pages first")
        check(all(n * 100 >= pages[0] for n in pages), f"every line 1% of the first or more: {pages}")


def t_postgres():
    """PostgreSQL + pgbench (tests/test_repeat.py's run: a fresh initdb,
    pg_ctl start, pgbench -i -s 2, pgbench -c 2 -t 300, pg_ctl stop) as
    the page draws it: the headline's forks and processes with report.json's
    figures, every pid in the fork tree."""
    need_chromium()
    import test_repeat
    bindir = test_repeat.pg_bin()
    if not bindir:
        print("SKIP: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres; "
              "bootstrap.sh test installs the postgresql package)")
        raise SystemExit(77)
    try:
        r = test_repeat.run_pg(bindir, 2)
    except Fail as e:
        # the server run itself (initdb, pg_ctl, pgbench), not the page:
        # once more, saying why (one unexplained failure in 8 s, under a
        # parallel suite)
        print(f"postgres run failed, once more: {e}")
        r = test_repeat.run_pg(bindir, 2)
    try:
        r.require_bpf()
        check(any("postgres" in p["name"] for p in r.report["processes"]), "the server recorded")
        page_of_recording(r, "postgres + pgbench", "html-postgres.png")
    finally:
        r.__exit__(None, None, None)


def t_build():
    """make -j2 of bench/gen_build.py's project with 40 files and 40 tests
    (~400 processes of sh, cc, cc1, as, collect2, ld) as the page draws
    it: the headline as report.json counts it, the tree folded below its
    first level, and filtered (#filter=cc1) to every cc1 (built under its
    folded parents) and its ancestors. bench/NOTES.md has its draw time."""
    need_chromium()
    import test_repeat
    r = test_repeat.run_build(False, files=40, tests=40)
    try:
        r.require_bpf()
        eq(r.rc, 0, f"make exit status ({r.stderr[-2000:]})")
        n = len(r.report["processes"])
        check(n > 350, f"a build's tree: {n}")
        cc1 = [p for p in r.report["processes"] if p["name"] == "cc1"]
        eq(len(cc1), 80, "a cc1 per file and per test")
        page, data = page_of_recording(r, "make -j2", "html-build.png")
        check_filter(page, data, "cc1", "make -j2")
    finally:
        r.__exit__(None, None, None)


def t_offline():
    """No request leaves the page: its text references nothing outside it,
    and chromium's network log of opening it shows no request by the page.
    The same checks catch a page that does request something (so they can
    fail)."""
    need_chromium()
    with Recording([W, "cow", "64", "1"], prefix="vmaprof-html-") as r:
        page = os.path.join(r.tmp, "page.html")
        p = subprocess.run([VMAPROF, "report", r.dir, "--format", "html", "-o", page],
                           capture_output=True, text=True)
        eq(p.returncode, 0, f"report --format html: {p.stderr}")
        text = open(page, encoding="utf-8").read()
        eq(external_refs(text), [], "no reference outside the page")
        log = os.path.join(r.tmp, "net.json")
        dom = Dom(browser(page, "--dump-dom", netlog=log))
        check("vp-timing" in dom.by_id, "the page's script ran to its end")
        eq(page_requests(log), set(), "requests by the page")
        # the control: a page that loads an image and fetches
        bad = os.path.join(r.tmp, "bad.html")
        with open(bad, "w") as f:
            f.write('<html><body><img src="http://example.com/x.png">'
                    '<script>fetch("https://example.org/y")</script></body></html>')
        check(len(external_refs(open(bad).read())) >= 2, "the scan finds the control's references")
        browser(bad, "--dump-dom", netlog=log)
        reqs = page_requests(log)
        check({"http://example.com/x.png", "https://example.org/y"} <= reqs,
              f"the network log shows the control's requests: {reqs}")


def t_hostile_names():
    """Names that are markup, script ends and invalid UTF-8 (a program run
    from a directory named `a<`, as `script><img src=x onerror=...>`, with
    such arguments) are data, not page: the data element is not ended early,
    no element is injected, the names show as text and the page draws."""
    need_chromium()
    tmp = tempfile.mkdtemp(prefix="vmaprof-html-hostile-")
    try:
        d = os.path.join(tmp, "a<")
        os.mkdir(d)
        exe = os.path.join(d, "script><img src=x onerror=alert(1)>")
        shutil.copy(W, exe)
        arg = b"</script><b id=injected>x</b>\xff\xfe"
        with Recording([exe, "touch", "16", os.fsdecode(arg)], prefix="vmaprof-html-") as r:
            eq(r.rc, 0, f"exit status: {r.stderr}")
            page = os.path.join(r.tmp, "page.html")
            p = subprocess.run([VMAPROF, "report", r.dir, "--format", "html", "-o", page],
                               capture_output=True, text=True)
            eq(p.returncode, 0, f"report --format html: {p.stderr}")
            data, text = page_data(page)
            eq(text.count("</script>"), 2, "only the page's own two script elements end")
            check("\\u003c/script>" in text, "'<' escaped in the data")
            argv = data["processes"][0]["argv"]
            eq(argv[0], exe, "the program's name as data")
            check(argv[-1].startswith("</script><b id=injected>x</b>"), f"the argument as data: {argv}")
            dom = Dom(browser(page, "--dump-dom"))
            check("vp-timing" in dom.by_id, "the page's script ran to its end")
            check("injected" not in dom.by_id, "no element injected by a name")
            eq(dom.tags.count("img"), 0, "no img element injected")
            check(any(a.get("title", "").startswith(exe) for _, a in dom.attrs),
                  "the command line shown as text (the process's title)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def t_bad_input():
    """Bad input is a clear error, never a crash or a half-written page:
    no recording, an unwritable output."""
    tmp = tempfile.mkdtemp(prefix="vmaprof-html-bad-")
    try:
        p = subprocess.run([VMAPROF, "report", os.path.join(tmp, "nothing"), "--format", "html",
                            "-o", os.path.join(tmp, "x.html")], capture_output=True, text=True)
        eq(p.returncode, 2, f"no recording: {p.stderr}")
        check(p.stderr.startswith("vmaprof") and "No such file or directory" in p.stderr and
              "Traceback" not in p.stderr, p.stderr)
        check(not os.path.exists(os.path.join(tmp, "x.html")), "no page for no recording")
        with Recording([W, "touch", "4"], prefix="vmaprof-html-") as r:
            out = os.path.join(tmp, "no", "such", "dir", "x.html")
            p = subprocess.run([VMAPROF, "report", r.dir, "--format", "html", "-o", out],
                               capture_output=True, text=True)
            eq(p.returncode, 2, f"unwritable output: {p.stderr}")
            check("No such file or directory" in p.stderr, f"says why: {p.stderr}")
            if os.path.exists("/dev/full"):
                p = subprocess.run([VMAPROF, "report", r.dir, "--format", "html", "-o", "/dev/full"],
                                   capture_output=True, text=True)
                eq(p.returncode, 2, f"a full disk: {p.stderr}")
                check("No space left" in p.stderr or "cannot write" in p.stderr, p.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def t_attach():
    """A record -p recording of a stripped program: the page's banner says
    the shim's stacks are absent and the kernel collector's are shown (not
    "No call stacks" over a page that lists them), and frames without a
    symbol are module+offset, as the folded export names them, never a raw
    address."""
    need_chromium()
    if os.geteuid() != 0:
        print("SKIP: needs root (record -p: the kernel collector)")
        raise SystemExit(77)
    import signal
    tmp = tempfile.mkdtemp(prefix="vmaprof-html-attach-")
    os.chmod(tmp, 0o755)
    w = rec = None
    try:
        prog = os.path.join(tmp, "w_attach_stripped")
        shutil.copy(workload("w_attach"), prog)
        subprocess.run(["strip", "--strip-all", prog], check=True)
        w = subprocess.Popen([prog, "64", "10", "5"], stdout=subprocess.PIPE, text=True)
        ready = w.stdout.readline()
        check(ready.startswith("ready pid="), f"w_attach: {ready!r}")
        d = os.path.join(tmp, "rec")
        rec = subprocess.Popen([VMAPROF, "record", "-p", str(w.pid), "-o", d, "--html"],
                               stderr=subprocess.PIPE, text=True)
        seen = ""
        while "attached to" not in seen:
            line = rec.stderr.readline()
            check(line, f"record -p did not attach: {seen}")
            seen += line
        if "kernel collector is unavailable" in seen:
            print(f"SKIP: {seen.strip()}")
            raise SystemExit(77)
        os.kill(w.pid, signal.SIGUSR1)  # maps and forks in the window
        forked = w.stdout.readline()
        check(forked.startswith("forked child="), f"w_attach: {forked!r}")
        rec.send_signal(signal.SIGINT)
        err = seen + rec.stderr.read()
        eq(rec.wait(timeout=120), 0, f"record -p: {err}")
        rj = os.path.join(d, "report.json")
        validate_report(rj)
        rep = json.load(open(rj))
        check(rep["kernel_stacks"], f"kernel stacks in report.json: {err}")
        page = os.path.join(d, "report.html")
        data, _ = page_data(page)
        eq((data["attached"], data["kernel_stacks"], data["collectors"]["preload"]["active"]),
           (True, True, False), "the page's model: attached, kernel stacks, no shim")
        mine = [f for f in data["frames"] if f[1] == "w_attach_stripped"]
        check(mine, f"frames in the stripped program: {data['frames']}")
        for f in mine:
            check(re.fullmatch(r"w_attach_stripped\+0x[0-9a-f]+", f[0]),
                  f"a frame without a symbol is module+offset: {f}")
        check(not [f for f in data["frames"] if re.fullmatch(r"0x[0-9a-f]+", f[0]) and f[1]],
              f"no raw address for a frame in a module: {data['frames']}")
        folded = subprocess.run([VMAPROF, "report", d, "--format", "folded", "-o", "-"],
                                capture_output=True, text=True, timeout=120)
        eq(folded.returncode, 0, folded.stderr)
        names = set(re.findall(r"w_attach_stripped\+0x[0-9a-f]+", folded.stdout))
        check(names and {f[0] for f in mine} <= names,
              f"the page's names are the folded export's: {sorted(f[0] for f in mine)} vs "
              f"{sorted(names)}")
        dom = Dom(browser(page, "--dump-dom"))
        check("vp-timing" in dom.by_id, "the page's script ran to its end (no exception)")
        answer = dom.by_id.get("answer", "")
        check("No call stacks" not in answer, f"no claim of no call stacks: {answer!r}")
        check("No shim call stacks (attached to a running process): the call stacks shown are "
              "the kernel collector's, for mappings made after the attach; those made before it "
              "(initial) have none." in answer, f"the banner: {answer!r}")
    finally:
        for p in (rec, w):
            if p and p.poll() is None:
                p.terminate()
                p.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main({"attach": t_attach, "demo": t_demo, "big_tree": t_big_tree, "rank": t_rank,
          "postgres": t_postgres, "build": t_build,
          "offline": t_offline,
          "hostile_names": t_hostile_names,
          "bad_input": t_bad_input})
