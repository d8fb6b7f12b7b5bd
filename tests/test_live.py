#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""record's live view (`vmaprof record --live`; cli/live.h) as a person
sees it over ssh: in tmux, an 80x24 terminal, read with capture-pane and
driven with send-keys. The demo's workers each copy 16 MiB of their
parent's cache after the fork; the view must show that while the tree
runs, fit in 80 columns, and end the recording with q (the report
written as usual). Without a terminal, --live says why and records
nothing."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

from vptest import VMAPROF, check, eq, main, validate_report

DEMO = os.path.join(os.path.dirname(VMAPROF), "vmaprof-demo")
TMUX = shutil.which("tmux")


def tmux(*args, check_rc=True):
    p = subprocess.run([TMUX, "-L", "vp-live-test", *args], capture_output=True, text=True)
    if check_rc:
        check(p.returncode == 0, f"tmux {' '.join(args)}: {p.stderr}")
    return p.stdout


def pane():
    return tmux("capture-pane", "-p", "-t", "live")


def wait_for(pred, what, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = pane()
        if pred(text):
            return text
        time.sleep(0.5)
    check(False, f"{what} within {timeout} s; the screen:\n{text}")


def size_of(s):
    """The view's short size ("512K", "16.1M") in KiB."""
    m = re.fullmatch(r"([\d.]+)([KMG])", s)
    check(m is not None, f"a size: {s!r}")
    return float(m.group(1)) * {"K": 1, "M": 1024, "G": 1024 * 1024}[m.group(2)]


def scratch():
    """A directory for one case (skipped without tmux): it, the recording's
    path in it, and the file the pane's shell writes vmaprof's exit status
    to."""
    if not TMUX:
        print("SKIP: tmux missing (apt install tmux; bootstrap.sh test does)")
        raise SystemExit(77)
    d = tempfile.mkdtemp(prefix="vmaprof-live-")
    return d, os.path.join(d, "rec"), os.path.join(d, "status")


def quit_and_status(status, timeout=120):
    """Press q in the view; vmaprof's exit status once it has ended."""
    tmux("send-keys", "-t", "live", "q")
    end = time.monotonic() + timeout
    while not os.path.exists(status) and time.monotonic() < end:
        time.sleep(0.3)
    if not os.path.exists(status):
        check(False, f"vmaprof ended after q; the screen:\n{pane()}")
    time.sleep(0.3)  # the shell's echo may be under way
    return open(status).read().strip()


def t_tmux():
    """The demo twice, then a sleep that holds the tree: each worker's line
    shows its copies since the fork (16 MiB of the cache, within the view's
    rounding of the report's cow_copy pages), no line is wider than 80
    columns, the WHERE lines put two workers' copies on the cache's 64 MiB
    anonymous mapping, and q ends the recording with exit status 0 and a
    report that validates."""
    d, out, status = scratch()
    cmd = (f"{VMAPROF} record --live -o {out} -- sh -c '{DEMO} >/dev/null; {DEMO} >/dev/null; "
           f"sleep 120'; echo $? > {status}; sleep 60")
    tmux("kill-server", check_rc=False)
    try:
        tmux("new-session", "-d", "-s", "live", "-x", "80", "-y", "24", cmd)
        # both demos done: four workers exited (x), the sleep running
        # (once nothing runs, WHERE shows the two that copied most)
        text = wait_for(lambda t: len(re.findall(r"^ *\d+ +(?:vmaprof-demo|true) .* x$", t, re.M)) >= 4
                        and len(re.findall(r"^ *\d+ [^:]+: \[anon 64\.0M\]", t, re.M)) == 2,
                        "four workers shown exited, two of them in WHERE")
        print(text)
        lines = text.split("\n")
        eq([ln for ln in lines if len(ln) > 80], [], "no line wider than 80 columns")
        check(lines[0].startswith("vmaprof live "), f"the header: {lines[0]!r}")
        check(re.search(r"PID COMMAND +FAULTS/s +NEW/s +COPY/s +OTHER/s +COPIED +ALLOC S", text),
              "the column heads")
        rows = {}
        for ln in lines:
            m = re.match(r" *(\d+) (\S+) +(\d+) +(\d+) +(\d+) +(\d+) +(\S+) +(\S+) ([Rx])$", ln)
            if m:
                rows[int(m.group(1))] = (m.group(2), size_of(m.group(7)), size_of(m.group(8)),
                                         m.group(9))
        # where the pages went: the two workers shown copied their 16 MiB
        # in the cache's 64 MiB anonymous mapping, inherited from the parent
        i = next((k for k, ln in enumerate(lines) if ln.startswith("WHERE (pages copied / new")), None)
        check(i is not None, "the WHERE lines")
        where = {}
        for ln in lines[i + 1:i + 3]:
            m = re.match(r" *(\d+) [^:]+: \[anon 64\.0M\] (\S+)/(\S+)", ln)
            check(m is not None, f"a worker's copies put on [anon 64.0M] first: {ln!r}")
            where[int(m.group(1))] = size_of(m.group(2))
        eq(quit_and_status(status), "0", "exit status after q")
        path = os.path.join(out, "report.json")
        validate_report(path)
        rep = json.load(open(path))
        ps = rep["page_size"] // 1024
        forks = [f for f in rep["forks"] if f["cow_copy_child"] * rep["page_size"] >= 16 << 20]
        eq(len(forks), 4, "four workers copied their quarter of the cache")
        for f in forks:
            check(f["child"] in rows, f"worker {f['child']} on the screen: {sorted(rows)}")
            name, copied, alloc, state = rows[f["child"]]
            want = f["cow_copy_child"] * ps
            check(abs(copied - want) <= max(0.01 * want, 0.1 * 1024),
                  f"worker {f['child']}: the view's {copied:.0f} KiB copied against the report's "
                  f"{want} KiB")
            eq(state, "x", f"worker {f['child']} shown exited")
            if f["child"] in where:
                # the cache's pages only: the worker's other copies are elsewhere
                check(16 * 1024 <= where[f["child"]] <= want,
                      f"worker {f['child']}: {where[f['child']]:.0f} KiB of copies in the cache, "
                      f"of {want} KiB in all")
        eq(len(where), 2, "two workers in WHERE")
        sess = json.load(open(os.path.join(out, "session.json")))
        check(sess.get("complete"), "the recording is complete")
    finally:
        tmux("kill-server", check_rc=False)
        shutil.rmtree(d, ignore_errors=True)


def t_attach():
    """record -p PID --live on a sleeping process: the view lists it by
    name before it faults, q detaches (exit 0, a report that validates) and
    the process runs on."""
    d, out, status = scratch()
    target = subprocess.Popen(["sleep", "120"])
    tmux("kill-server", check_rc=False)
    try:
        tmux("new-session", "-d", "-s", "live", "-x", "80", "-y", "24",
             f"{VMAPROF} record -p {target.pid} --live -o {out}; echo $? > {status}; sleep 60")
        wait_for(lambda t: re.search(rf"^ *{target.pid} sleep .* R$", t, re.M),
                 f"sleep {target.pid} listed")
        check(pane().startswith(f"vmaprof live pid {target.pid}"), "the header names the pid")
        eq(quit_and_status(status, 60), "0", "exit status after q")
        validate_report(os.path.join(out, "report.json"))
        eq(target.poll(), None, "the attached process runs on")
    finally:
        target.kill()
        target.wait()
        tmux("kill-server", check_rc=False)
        shutil.rmtree(d, ignore_errors=True)


def t_no_terminal():
    """Without a controlling terminal (a new session, no tty), --live is
    refused before anything runs: exit 2, the reason named, no directory."""
    d = tempfile.mkdtemp(prefix="vmaprof-live-")
    out = os.path.join(d, "rec")
    try:
        p = subprocess.run([VMAPROF, "record", "--live", "-o", out, "--", "true"],
                           capture_output=True, text=True, start_new_session=True,
                           stdin=subprocess.DEVNULL)
        eq(p.returncode, 2, f"exit status: {p.stderr}")
        check("--live" in p.stderr and "/dev/tty" in p.stderr, f"the reason: {p.stderr!r}")
        check(not os.path.exists(os.path.join(out, "report.json")), "no report written")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main({"tmux": t_tmux, "attach": t_attach, "no_terminal": t_no_terminal})
