#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How long the HTML page (`vmaprof report --format html`) takes to open and
draw in Chromium, for recordings of any size.

usage: bench/html_load.py [--vmaprof build/vmaprof] [--runs 5] DIR...

DIR is a recording (`vmaprof record -o DIR -- ...`), or a page already
written (a name ending in .html: timed as it is, e.g. one made with
another template, write s 0). For each recording, the page is
written to DIR.html and opened --runs times in headless chromium
(--dump-dom); the page itself writes, when its script has drawn everything
(fork tree, timeline and flame graph canvases, call-site table),
performance.now() -- milliseconds since navigation began, so parsing the
HTML and its data included -- into #vp-timing. Printed per recording: the
time to write the page, its size, and the median and worst in-page time,
and the median wall time of the whole chromium run (start-up included);
then the median of each of the page's steps (its data-phases: "load" is
the time before its script began, the HTML and its data read).
Suggested recordings (bench/NOTES.md has the figures):
    build/vmaprof record -o /tmp/rdemo -- build/vmaprof-demo
    build/vmaprof record -o /tmp/rchurn -- build/bench/w_pairs 200000
    python3 bench/gen_build.py /tmp/gb && build/vmaprof record -o /tmp/rb -- make -C /tmp/gb -j2
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,1000"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vmaprof", default=os.path.join(os.path.dirname(__file__), "..", "build",
                                                      "vmaprof"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--interleave", action="store_true",
                    help="open the pages in turn, run by run (an A/B on a busy machine)")
    ap.add_argument("dirs", nargs="+")
    o = ap.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:
        sys.exit("chromium missing (apt install chromium)")
    print(f"{'recording':<28} {'write s':>8} {'page MB':>8} {'draw ms (med/max)':>18} {'chromium wall s':>16}")
    pages = []  # [name, page, write s, ms, wall, phases]
    for d in o.dirs:
        if d.endswith(".html") and os.path.isfile(d):  # a page already written: opened as it is
            page, write_s = os.path.abspath(d), 0.0
        else:
            page = os.path.abspath(d.rstrip("/") + ".html")
            t = time.monotonic()
            subprocess.run([o.vmaprof, "report", d, "--format", "html", "-o", page], check=True)
            write_s = time.monotonic() - t
        pages.append([os.path.basename(d.rstrip("/")), page, write_s, [], [], {}])
    order = ([(r, x) for r in range(o.runs) for x in pages] if o.interleave else
             [(r, x) for x in pages for r in range(o.runs)])
    for _, (name, page, write_s, ms, wall, phases) in order:
        with tempfile.TemporaryDirectory(prefix="vp-chromium-") as ud:
            t = time.monotonic()
            p = subprocess.run([chromium, *FLAGS, f"--user-data-dir={ud}", "--dump-dom",
                                "file://" + page], capture_output=True, text=True, timeout=300)
            wall.append(time.monotonic() - t)
        m = re.search(r'id="vp-timing" data-ms="([\d.]+)"', p.stdout)
        if not m:
            sys.exit(f"{page}: the page did not finish drawing:\n{p.stderr[-2000:]}")
        ms.append(float(m.group(1)))
        ph = re.search(r'id="vp-timing" data-ms="[\d.]+" data-phases="([^"]*)"', p.stdout)
        for k, v in re.findall(r"(\w+) ([\d.]+)", ph.group(1) if ph else ""):
            phases.setdefault(k, []).append(float(v))
    for name, page, write_s, ms, wall, phases in pages:
        print(f"{name:<28} {write_s:8.2f} {os.path.getsize(page) / 1e6:8.2f} "
              f"{statistics.median(ms):9.0f} /{max(ms):6.0f} {statistics.median(wall):16.2f}")
        if phases:
            print("    phases, median ms: " + ", ".join(f"{k} {statistics.median(v):.0f}"
                                                    for k, v in phases.items()))

if __name__ == "__main__":
    main()
