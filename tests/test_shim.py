# SPDX-License-Identifier: MIT
"""The preload shim on real runs of tests/workloads/w_shim.c, exact counts."""
import os
import shutil
import subprocess
import tempfile

from vptest import check, eq, main, record, workload, parse_dump, Fail, Recording, VMAPROF

W = workload("w_shim")


def mmaps_from(stream, fn, frame=0):
    """Shim mmap records whose stack frame `frame` is function `fn`."""
    return [r for r in stream.of("mem", call="mmap", src="shim")
            if len(r.stack) > frame and r.stack[frame]["function"] == fn]


def only_stream(run, suffix="w_shim"):
    s = run.by_exe(suffix)
    eq(len(s), 1, f"streams of {suffix}")
    return s[0]


def t_maps():
    n = 50
    run = record([W, "maps", str(n)])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    s = only_stream(run)
    mm = s.of("mem", call="mmap", src="shim")
    # Exactly the program's mmaps: nothing of libunwind, the shim or ld.so.
    eq(len(mm), n, "mmap records")
    for r in mm:
        eq(r.functions()[:2], ["map_from_here", "scenario_maps"], "mmap stack")
        check(r.stack[0]["file"].endswith("w_shim.c"), f"file: {r.stack[0]}")
        check(r.stack[0]["line"] > 0, "line number")
        eq((r["len"], r["prot"], r["flags"], r["fd"], r["err"]), (4096, "rw-", 0x22, -1, 0),
           "mmap args")
        eq(r["ret"] % 4096, 0, "mmap result aligned")
        check(r["t_end"] >= r["t"], "acquisition time after call time")
    eq(len(s.of("mem", call="munmap")), n, "munmap records")
    pr = s.of("mem", call="mprotect")
    eq(len(pr), 1, "mprotect records")
    eq(pr[0].functions()[0], "protect_here", "mprotect stack")
    eq(pr[0]["prot"], "r--", "mprotect prot")
    ma = s.of("mem", call="madvise")
    eq(len(ma), 1, "madvise records")
    eq((ma[0].functions()[0], ma[0]["advice"]), ("advise_here", 4), "madvise")
    mr = s.of("mem", call="mremap")
    eq(len(mr), 1, "mremap records")
    eq((mr[0].functions()[0], mr[0]["len"], mr[0]["new_len"]), ("remap_here", 4096, 16384),
       "mremap")
    last_unmap = s.of("mem", call="munmap")[-1]
    eq((last_unmap["addr"], last_unmap["len"]), (mr[0]["ret"], 16384),
       "final munmap is the remapped range")
    # the hot call site costs one stack record: same id every time
    eq(len({r["stack"] for r in mm}), 1, "distinct stack ids for one call site")
    # The shim's own mappings are known and disjoint from the program's.
    internal = [(r["start"], r["start"] + r["len"]) for r in s.of("internal")]
    check(internal, "internal mappings noted")
    for r in mm:
        for lo, hi in internal:
            check(not (lo <= r["ret"] < hi), "program mapping inside a shim mapping")
    proc = s.proc()
    eq(proc["argv"], [W, "maps", str(n)], "argv")
    eq(proc["stack_depth"], 64, "default stack depth")
    maps = s.of("maps")
    check(maps and maps[-1]["last"] == 1, "initial maps snapshot complete")
    eq(s.records[0].kind in ("internal", "proc"), True, "nothing recorded before the snapshot")


def t_threads():
    t, n = 8, 5000
    run = record([W, "threads", str(t), str(n)])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    s = only_stream(run)
    mm = mmaps_from(s, "map_from_here")
    eq(len(mm), t * n, "mmap records from 8 threads")
    check(all(r.functions()[1] == "thread_worker" for r in mm), "worker frame")
    un = [r for r in s.of("mem", call="munmap") if r.functions()[:1] == ["unmap_from_here"]]
    eq(len(un), t * n, "munmap records")
    per_tid = {}
    for r in mm:
        per_tid[r["tid"]] = per_tid.get(r["tid"], 0) + 1
    eq(sorted(per_tid.values()), [n] * t, "mmaps per thread")
    check(s.pid not in per_tid, "workers are not the main thread")
    # Each munmap releases the range its own thread mapped just before.
    last = {}
    for r in s.records:
        if r.kind != "mem" or not r.stack:
            continue
        if r["call"] == "mmap" and r.stack[0]["function"] == "map_from_here":
            last[r["tid"]] = r["ret"]
        elif r["call"] == "munmap" and r.stack[0]["function"] == "unmap_from_here":
            eq(r["addr"], last.pop(r["tid"], None), "munmap of the thread's own mapping")
    eq(len(last), 0, "every mapping released")
    # Addresses are reused across threads all the time. Ordered by the
    # shim's times (release: before the real munmap, acquisition: after
    # the real mmap), each address must alternate acquire/release, each
    # pair in one thread: no range is ever attributed to the wrong mapping.
    ev = []
    for r in s.of("mem", src="shim"):
        if r["call"] == "mmap":
            ev.append((r["t_end"], 1, r["ret"], r["tid"]))
        elif r["call"] == "munmap":
            ev.append((r["t"], 0, r["addr"], r["tid"]))
    ev.sort()
    held = {}
    reused = 0
    for _, acq, addr, tid in ev:
        if acq:
            check(addr not in held, f"0x{addr:x} acquired twice without release")
            held[addr] = tid
        else:
            eq(held.pop(addr, None), tid, f"release of 0x{addr:x} by its acquirer")
            reused += 1
    check(reused == t * n, "all pairs ordered")


def t_fork():
    k = 7
    run = record([W, "fork", str(k)])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    child_pid = int(run.stdout.split()[1])
    parent = [s for s in run.by_exe("w_shim") if s.pid != child_pid]
    eq(len(parent), 1, "parent streams")
    parent = parent[0]
    forks = parent.of("fork", kind="fork")
    eq(len(forks), 1, "fork records in the parent")
    eq((forks[0]["child"], forks[0]["err"]), (child_pid, 0), "fork record")
    eq(forks[0].functions()[0], "scenario_fork", "fork stack")
    child = run.by_pid(child_pid)
    eq(len(child), 1, "child streams")
    child = child[0]
    eq(child.proc()["ppid"], parent.pid, "child's ppid")
    eq(len(mmaps_from(child, "map_from_here")), k, "child mmaps")
    check(all(r.functions()[1] == "child_maps" for r in mmaps_from(child, "map_from_here")),
          "child stack")
    # neither lost nor duplicated: the parent's own mapping is in its stream only
    eq(len(mmaps_from(parent, "map_from_here")), 1, "parent mmaps")
    check(mmaps_from(parent, "map_from_here")[0]["t"] > forks[0]["t"], "parent maps after fork")
    check(child.header["name"] != parent.header["name"], "separate files")


def t_vfork():
    run = record([W, "vfork"])
    eq(run.rc, 0, "exit status (and the parent's stack survived vfork)")
    run.assert_clean()
    child_pid = int(run.stdout.split()[1])
    parent = [s for s in run.preload if s.pid != child_pid][0]
    vf = parent.of("fork", kind="vfork")
    eq(len(vf), 1, "vfork records")
    eq(vf[0]["child"], child_pid, "vfork child pid")
    eq(vf[0].functions()[0], "scenario_vfork", "vfork stack")
    eq(len(mmaps_from(parent, "map_from_here")), 1, "parent mmaps after vfork")
    child = run.by_pid(child_pid)
    eq(len(child), 1, "streams of the vforked child after exec")
    eq(child[0].proc()["argv"], ["w_shim", "maps", "1"], "exec'd argv")
    eq(len(mmaps_from(child[0], "map_from_here")), 1, "child mmaps")


def spawn(kind):
    run = record([W, kind])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    child_pid = int(run.stdout.split()[1])
    parent = [s for s in run.preload if s.pid != child_pid][0]
    sp = parent.of("fork", kind="spawn")
    eq(len(sp), 1, "spawn records")
    eq((sp[0]["child"], sp[0]["err"]), (child_pid, 0), "spawn record")
    child = run.by_pid(child_pid)
    eq(len(child), 1, "spawned child streams (its envp had no LD_PRELOAD)")
    eq(len(mmaps_from(child[0], "map_from_here")), 2, "spawned child mmaps")


def t_exec_chain():
    # sh execs env, env -i clears everything and execs w_shim: all traced
    run = record(["sh", "-c", f"exec env -i {W} maps 3"])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    images = run.by_pid(run.preload[0].pid)
    exes = [os.path.basename(s.proc()["exe"]) for s in images]
    eq(exes, ["dash", "env", "w_shim"], "exec chain of one pid")
    envs = images[1].of("exec", phase="attempt")
    eq(len(envs), 1, "env's exec")
    eq(envs[0]["env_fixed"], 1, "env -i dropped LD_PRELOAD; the shim put it back")
    eq(len(mmaps_from(images[2], "map_from_here")), 3, "mmaps after env -i")


def t_execfresh():
    run = record([W, "execfresh"])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    images = run.by_pid(run.preload[0].pid)
    eq(len(images), 2, "images of the pid")
    ex = images[0].of("exec")
    eq([(e["phase"], e["kind"], e["env_fixed"]) for e in ex], [("attempt", "execve", 1)],
       "exec records")
    eq(ex[0]["argv"], ["w_shim", "maps", "3"], "exec argv")
    eq(len(mmaps_from(images[1], "map_from_here")), 3, "mmaps after execve with empty envp")


def fdexec(kind):
    run = record([W, kind])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    images = run.by_pid(run.preload[0].pid)
    eq(len(images), 2, f"images of the pid after {kind}")
    ex = images[0].of("exec")
    eq([(e["phase"], e["kind"], e["env_fixed"]) for e in ex], [("attempt", kind, 1)],
       "exec records")
    eq(len(mmaps_from(images[1], "map_from_here")), 2, f"mmaps after {kind}")


def t_clone():
    run = record([W, "clone", "4"])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    child_pid = int(run.stdout.split()[1])
    parent = [s for s in run.preload if s.pid != child_pid][0]
    cl = parent.of("fork", kind="clone")
    eq([(c["child"], c["err"]) for c in cl], [(child_pid, 0)], "clone records")
    child = run.by_pid(child_pid)
    eq(len(child), 1, "clone child streams")
    eq(child[0].proc()["ppid"], parent.pid, "clone child's ppid")
    mm = mmaps_from(child[0], "map_from_here")
    eq(len(mm), 4, "clone child mmaps")
    eq(mm[0].functions()[1:3], ["child_maps", "clone_fn"], "clone child stack")


def t_closefds():
    n = 30000  # ~6 MB of records: the shim maps several new segments
    run = record([W, "closefds", str(n)])
    eq(run.rc, 0, "the program's own file was left alone (exit 3 if not)")
    run.assert_clean()
    s = only_stream(run)
    eq(len(mmaps_from(s, "map_from_here")), n, "mmaps after closing every fd")


def t_diskfull():
    """The trace file system fills up: recording stops, the program goes on
    untouched (no SIGBUS from a shared page without a block behind it), and
    every record that could not be written is counted."""
    mnt = tempfile.mkdtemp(prefix="vmaprof-full-")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode:
        print(f"SKIP: cannot mount a small tmpfs ({p.stderr.strip()})")
        os.rmdir(mnt)
        raise SystemExit(77)
    try:
        n = 30000
        out = os.path.join(mnt, "rec")
        p = subprocess.run([VMAPROF, "record", "-o", out, "--", W, "closefds", str(n)],
                           capture_output=True, text=True, timeout=120)
        eq(p.returncode, 0, f"program unharmed by a full disk: {p.stderr}")
        check("lost" in p.stderr.lower(), f"summary mentions the loss: {p.stderr}")
        d = subprocess.run([VMAPROF, "report", out, "--format", "records", "--no-stacks"], capture_output=True,
                           text=True, timeout=120)
        streams, errors, _ = parse_dump(d.stdout)
        streams = [x for x in streams if x.header["source"] == "preload"]
        eq(len(streams), 1, "one shim stream")
        h = streams[0].header
        eq(h["disabled"], "extend", "reason recording stopped")
        kept = len(streams[0].of("mem"))
        check(0 < kept < 2 * n, f"some records kept: {kept}")
        # every call is either in the trace or counted as lost
        eq(kept + h["lost"] >= 2 * n, True, f"kept {kept} + lost {h['lost']} covers {2 * n}")
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)


def trace_files(d):
    return [os.path.join(d, f) for f in sorted(os.listdir(d))
            if f.startswith("preload.") and f.endswith(".vpt")]


def dump(d, *opts):
    p = subprocess.run([VMAPROF, "report", d, "--format", "records", *opts],
                       capture_output=True, text=True, timeout=120)
    eq(p.returncode, 0, f"report --format records: {p.stderr}")
    streams, errors, failed = parse_dump(p.stdout)
    check(not errors and not failed, f"dump errors {errors}, shim failures {failed}")
    return [s for s in streams if s.header["source"] == "preload"]


STEP = 16 << 10  # record.h VP_SEG_STEP: segment 0's first allocation
SEG = 1 << 20


def grown_size(head):
    """The data area the writer gave blocks for, `head` bytes reserved:
    segment 0 from 16 KiB, doubled as needed; later segments whole."""
    if head > SEG:
        return -(-head // SEG) * SEG
    n = STEP
    while n < head:
        n *= 2
    return n


def populated(stream):
    """Pages the shim prefaulted for its trace (VP_REC_INTERNAL)."""
    return sum(r["populated"] for r in stream.of("internal")
               if r["what"] == "trace" and not r["unmapped"])


def t_small():
    """A process making about 10 mapping calls: its trace file is a few KiB
    on disk (the header and segment 0's first step), and the shim
    prefaulted exactly those pages, as the report's
    kernel_counters.shim_prefault says too."""
    with Recording([W, "maps", "4"]) as rec:  # 4 mmap, 4 munmap, mprotect, madvise, mremap
        eq(rec.rc, 0, "exit status")
        f = trace_files(rec.dir)
        eq(len(f), 1, "one trace file")
        st = os.stat(f[0])
        s = dump(rec.dir)[0]
        eq(len(s.of("mem", call="mmap", src="shim")), 4, "mmap records")
        head = int.from_bytes(open(f[0], "rb").read(56)[48:56], "little")  # vp_file_header.head
        check(head <= STEP, f"a small process writes less than one step: {head} bytes")
        eq(st.st_size, 4096 + STEP, "file: the header and one 16 KiB step")
        check(st.st_blocks * 512 <= 4096 + STEP, f"{st.st_blocks} blocks on disk")
        pages = populated(s)
        if pages:  # 0: a kernel without MADV_POPULATE_WRITE
            eq(pages, st.st_size // 4096, "every page of the file prefaulted once")
        p = [x for x in rec.procs if x["exe"].endswith("w_shim")]
        eq(len(p), 1, "one w_shim process")
        kc = p[0]["kernel_counters"]
        eq(kc["shim_prefault"], pages, "kernel_counters.shim_prefault")
        check(kc["shim_prefault"] <= 16, f"at most 16 prefaulted pages: {kc}")


def t_grow():
    """A process writing ~3 MB of records: segment 0 grows through every
    step (16 KiB to 1 MiB), more segments follow; every record reads back,
    the file is exactly as long as the steps, and each of its pages was
    prefaulted once."""
    n = 12000
    run = record([W, "maps", str(n)], keep=True)
    try:
        eq(run.rc, 0, "exit status")
        run.assert_clean()
        s = only_stream(run)
        mm = mmaps_from(s, "map_from_here")
        eq(len(mm), n, "mmap records")
        eq(len(s.of("mem", call="munmap")), n, "munmap records")
        eq(s.header["checksums"], "sealed", "sealed at exit")
        eq((s.header["seg_damaged"], s.header["hdr_damaged"]), (0, 0), "checksums match")
        f = trace_files(run.dir)
        eq(len(f), 1, "one trace file")
        head = int.from_bytes(open(f[0], "rb").read(56)[48:56], "little")
        check(head > 2 * SEG, f"more than two segments written: {head}")
        size = os.path.getsize(f[0])
        eq(size, 4096 + grown_size(head), f"file size for {head} bytes reserved")
        pages = populated(s)
        if pages:
            eq(pages, size // 4096, "every page of the file prefaulted once")
            # 6 steps of segment 0 after its first, one note each
            steps = [r for r in s.of("internal") if r["what"] == "trace" and r["populated"]]
            eq(len(steps), 1 + 1 + 6 + (size - 4096 - SEG) // SEG,
               "notes: header, segment 0, its 6 steps, later segments")
    finally:
        shutil.rmtree(os.path.dirname(run.dir), ignore_errors=True)


def diskfull_step(fs):
    """The disk fills up in the middle of a growth step of segment 0: the
    shim (used on its own, by path) stops recording cleanly, the program is
    unharmed, the file keeps its last whole step (not read as truncated:
    ext4 may allocate part of a failed fallocate, which the shim gives
    back), and every call after the stop is counted as lost."""
    tmp = tempfile.mkdtemp(prefix="vmaprof-step-")
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    if fs == "tmpfs":
        cmd = ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt]
    else:
        img = os.path.join(tmp, "fs.img")
        with open(img, "wb") as f:
            f.truncate(4 << 20)
        # 1 KiB blocks: a fallocate that runs out leaves the blocks and the
        # size it got (4 KiB blocks fail before allocating anything here)
        p = subprocess.run(["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-m", "0",
                            "-b", "1024", img], capture_output=True, text=True)
        if p.returncode:
            shutil.rmtree(tmp)
            print(f"SKIP: cannot make an ext4 image ({p.stderr.strip()})")
            raise SystemExit(77)
        cmd = ["mount", "-o", "loop", img, mnt]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode:
        print(f"SKIP: cannot mount a small {fs} ({p.stderr.strip()})")
        shutil.rmtree(tmp)
        raise SystemExit(77)
    out = os.path.join(tmp, "out")
    os.mkdir(out)
    try:
        d = os.path.join(mnt, "rec")
        os.mkdir(d)
        # 100 KiB (25 pages) left: the header and steps to 16, 32 and 64 KiB
        # take 17 pages; the step to 128 KiB needs 16 more
        vf = os.statvfs(mnt)
        with open(os.path.join(mnt, "fill"), "wb") as fill:
            fill.write(b"x" * (vf.f_bavail * vf.f_frsize - (100 << 10)))
        n = 3000
        shim = os.path.join(os.path.dirname(VMAPROF), "preload", "libvmaprof-preload.so")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VMAPROF_")}
        env.update(LD_PRELOAD=shim, VMAPROF_DIR=d)
        p = subprocess.run([W, "maps", str(n)], env=env, capture_output=True, text=True,
                           timeout=60)
        eq(p.returncode, 0, f"program unharmed by a full disk: {p.stderr}")
        f = trace_files(d)
        eq(len(f), 1, "one trace file")
        size = os.path.getsize(f[0])
        if fs == "tmpfs":
            eq(size, 4096 + 4 * STEP, "the file ends at the last step")
        else:  # the file system's own metadata takes some of the 100 KiB
            check(size - 4096 in (STEP, 2 * STEP, 4 * STEP),
                  f"the file ends at a step: {size}")
        shutil.copy(f[0], out)
        s = dump(out, "--no-stacks")
        eq(len(s), 1, "one shim stream")
        h = s[0].header
        eq(h["disabled"], "extend", "reason recording stopped")
        eq((h["truncated"], h["bad"], h["incomplete"]), (0, 0, 0), "not damaged")
        mm = s[0].of("mem", call="mmap", src="shim")
        un = s[0].of("mem", call="munmap", src="shim")
        check(0 < len(mm) < n, f"some records kept: {len(mm)}")
        # calls in order: mmap i, munmap i; the kept ones are the first
        eq(len(un) in (len(mm), len(mm) - 1), True, f"{len(mm)} mmaps, {len(un)} munmaps")
        calls = 2 * n + 3
        check(len(mm) + len(un) + h["lost"] >= calls,
              f"kept {len(mm)} + {len(un)}, lost {h['lost']}: every one of {calls} calls")
    finally:
        subprocess.run(["umount", mnt])
        shutil.rmtree(tmp, ignore_errors=True)


def t_execfail():
    run = record([W, "execfail"])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    s = only_stream(run)
    ex = s.of("exec")
    eq([(e["phase"], e["err"]) for e in ex], [("attempt", 0), ("failed", 2)], "exec records")
    eq(ex[0]["path"], "/nonexistent/vmaprof-test", "exec path")
    mm = mmaps_from(s, "map_from_here")
    eq(len(mm), 1, "tracing goes on after a failed exec")
    check(mm[0]["t"] > ex[1]["t"], "mapping after the failure")


def killed(scenario, sig):
    n = 20
    run = record([W, scenario, str(n)])
    eq(run.rc, 128 + sig, "exit status 128+signal")
    s = only_stream(run)
    eq(len(mmaps_from(s, "map_from_here")), n, f"mappings before {scenario}")
    for k in ("lost", "incomplete", "bad"):
        eq(s.header[k], 0, k)


def t_exitcode():
    run = record([W, "exitcode", "7"])
    eq(run.rc, 7, "exit status passes through")
    s = only_stream(run)
    ex = s.of("exit")
    eq([(e["kind"], e["status"]) for e in ex], [("_exit", 7)], "exit records")


def t_errno():
    run = record([W, "errno"])
    eq(run.rc, 0, "errno and results unchanged under the shim (see stderr)\n" + run.stderr)
    s = only_stream(run)
    failed = [r for r in s.of("mem") if r["err"]]
    eq([(r["call"], r["err"]) for r in failed],
       [("mmap", 22), ("munmap", 22), ("mprotect", 22)], "failed calls recorded with errno")


def t_dlopen():
    run = record([W, "dlopen"])
    eq(run.rc, 0, "exit status")
    s = only_stream(run)
    eq(len(s.of("maps", why="dlopen", last=1)), 1, "maps snapshot after dlopen")


def t_no_stacks():
    run = record([W, "maps", "5"], args=["--no-stacks"])
    eq(run.rc, 0, "exit status")
    s = only_stream(run)
    mm = s.of("mem", call="mmap")
    eq(len(mm), 5, "mmap records")
    eq({r["stack"] for r in mm}, {0}, "no stacks")
    eq(s.proc()["stack_depth"], 0, "depth recorded")


def t_stack_depth():
    run = record([W, "maps", "3"], args=["--stack-depth", "2"])
    s = only_stream(run)
    eq([len(r.stack) for r in s.of("mem", call="mmap")], [2, 2, 2], "stack depth 2")


def t_unwritable():
    """The shim cannot open its file: the program runs exactly as without it."""
    env = dict(os.environ, VMAPROF_DIR="/nonexistent/vmaprof", LD_PRELOAD=shim_path(),
               VMAPROF_SHIM=shim_path())
    for args in (["errno"], ["maps", "10"], ["fork", "2"]):
        p = subprocess.run([W, *args], capture_output=True, text=True, env=env, timeout=60)
        eq(p.returncode, 0, f"w_shim {args} with an unwritable trace dir: {p.stderr}")


def shim_path():
    return os.path.join(os.path.dirname(os.path.abspath(VMAPROF)), "preload",
                        "libvmaprof-preload.so")


def t_python():
    run = record(["python3", "-c", "import os; print('hi')"])
    eq((run.rc, run.stdout), (0, "hi\n"), "python runs and prints through")
    run.assert_clean()
    py = [s for s in run.preload if "python" in os.path.basename(s.proc()["exe"])]
    check(py, "python's stream present")
    mm = py[0].of("mem", call="mmap")
    check(len(mm) >= 1, "python's mmaps recorded")
    check(all(r.stack for r in mm), "every python mmap has a stack")


def t_sh_pipeline():
    bare = subprocess.run(["sh", "-c", "ls / | wc -l"], capture_output=True, text=True)
    run = record(["sh", "-c", "ls / | wc -l"])
    eq((run.rc, run.stdout), (0, bare.stdout), "same output as the bare run")
    run.assert_clean()
    exes = sorted(os.path.basename(s.proc()["exe"]) for s in run.preload)
    check("ls" in exes and "wc" in exes and "dash" in exes, f"processes: {exes}")
    sh = [s for s in run.preload if s.proc()["exe"].endswith("dash")][0]
    for name in ("ls", "wc"):
        s = [x for x in run.preload if x.proc()["exe"].endswith("/" + name)][0]
        images = run.by_pid(s.pid)
        eq(images[0].proc()["ppid"], sh.pid, f"{name} is a child of sh")
        check(s.of("mem", call="mmap") or s.of("exit"), f"{name} recorded")


def t_bad_input():
    tmp = tempfile.mkdtemp(prefix="vmaprof-bad-")
    try:
        run = record([W, "maps", "200"], keep=True)
        # the shim's file (bpf.vpt's first half may hold only faults and
        # the write stacks of the first write faults: no mmap)
        src = [f for f in os.listdir(run.dir) if f.startswith("preload.") and f.endswith(".vpt")][0]
        data = open(os.path.join(run.dir, src), "rb").read()
        shutil.rmtree(os.path.dirname(run.dir))
        os.makedirs(os.path.join(tmp, "d"))
        d = os.path.join(tmp, "d")

        def put(name, blob):
            with open(os.path.join(d, name), "wb") as f:
                f.write(blob)

        head = 4096 + int.from_bytes(data[48:56], "little")  # vp_file_header.head
        put("preload.1.1.vpt", data[:4096 + (head - 4096) // 2])   # truncated
        put("preload.2.2.vpt", b"garbage" * 100)                    # not a trace
        corrupt = bytearray(data[:head])
        for i in range(4096 + 2000, head, 997):                     # flipped bytes
            corrupt[i] ^= 0xff
        put("preload.3.3.vpt", bytes(corrupt))
        put("preload.4.4.vpt", b"")                                 # empty
        p = subprocess.run([VMAPROF, "report", d, "--format", "records"], capture_output=True,
                           text=True, timeout=60)
        eq(p.returncode, 0, f"report on damaged input: {p.stderr}")
        streams, errors, _ = parse_dump(p.stdout)
        eq(len(errors), 2, f"clear errors for the two non-traces: {errors}")
        check(any("not a vmaprof trace" in e for e in errors), "error names the problem")
        by = {s.header["name"]: s for s in streams}
        tr = by["preload.1.1.vpt"]
        check(tr.header["truncated"] > 0, "truncation counted")
        check(0 < len(tr.of("mem", call="mmap")) < 200, "partial records kept")
        co = by["preload.3.3.vpt"]
        check(co.header["bad"] > 0, "damage counted")
        p = subprocess.run([VMAPROF, "report", "/nonexistent"], capture_output=True, text=True)
        eq(p.returncode, 2, "missing dir exit code")
        check("/nonexistent: No such file or directory" in p.stderr, f"message: {p.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def t_argv():
    """A fresh image's arguments come from the constructor's argv, a fork
    child's and ld.so-run programs' from /proc/self/cmdline: the same
    bytes either way (whole arguments up to 16 KiB), checked against what
    was passed."""
    longs = [chr(ord("a") + i) * 3000 for i in range(7)]  # 21 KB: cut at 16 KiB
    odd = ["a b", "", "\u00fc=x", "-c"]
    script = ('/bin/true "$@"; /lib64/ld-linux-x86-64.so.2 /bin/true z "" y; '
              '/bin/sh -c \'/bin/true q & wait\' sh2')
    run = record(["sh", "-c", script, "sh", *odd, *longs])
    eq(run.rc, 0, "exit status")
    run.assert_clean()
    want, used = ["/bin/true"], len("/bin/true") + 1
    for a in odd + longs:
        b = len(a.encode()) + 1
        if used + b > 16384:
            break
        want.append(a)
        used += b
    argvs = [s.proc()["argv"] for s in run.preload]
    check(want in argvs, f"fresh image's argv cut at whole arguments: {[a[:3] for a in argvs]}")
    eq(len(want), 1 + len(odd) + 5, "arguments kept of the long list")
    check(["/lib64/ld-linux-x86-64.so.2", "/bin/true", "z", "", "y"] in argvs,
          f"ld.so as the command: its own argument too: {argvs}")
    check(["/bin/true", "q"] in argvs, f"a forked shell's child: {argvs}")
    # the inner shell's image (from argv) and its fork child for `&` (from
    # /proc) before that execs /bin/true: the same arguments
    eq(argvs.count(["/bin/sh", "-c", "/bin/true q & wait", "sh2"]), 2,
       "the inner shell and its fork child")


def t_cli():
    p = subprocess.run([VMAPROF, "record"], capture_output=True, text=True)
    eq(p.returncode, 2, "record without command")
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([VMAPROF, "record", "-o", d + "/r", "--", "/nonexistent/cmd"],
                           capture_output=True, text=True)
    eq(p.returncode, 127, "command not found -> 127")
    check("cannot run" in p.stderr, p.stderr)
    p = subprocess.run([VMAPROF, "--version"], capture_output=True, text=True)
    check(p.returncode == 0 and p.stdout.startswith("vmaprof "), "version")
    p = subprocess.run([VMAPROF, "record", "--stack-depth", "x", "--", "true"],
                       capture_output=True, text=True)
    eq(p.returncode, 2, "bad --stack-depth")
    for sub in ("record", "report", "diff"):
        p = subprocess.run([VMAPROF, sub, "--help"], capture_output=True, text=True)
        check(p.returncode == 0 and p.stdout.startswith(f"usage: vmaprof {sub}"),
              f"{sub} --help: {p.returncode} {p.stdout[:80]!r} {p.stderr[:80]!r}")
    # stdin passes through
    run = record(["sh", "-c", "read x; echo got $x"], stdin=open(os.devnull))
    eq(run.stdout, "got\n", "stdin passes through")


if __name__ == "__main__":
    main({
        "maps": t_maps, "threads": t_threads, "fork": t_fork, "vfork": t_vfork,
        "spawn": lambda: spawn("spawn"), "spawnp": lambda: spawn("spawnp"),
        "exec_chain": t_exec_chain, "execfresh": t_execfresh, "execfail": t_execfail,
        "fexecve": lambda: fdexec("fexecve"), "execveat": lambda: fdexec("execveat"),
        "clone": t_clone, "closefds": t_closefds, "diskfull": t_diskfull,
        "small": t_small, "grow": t_grow, "diskfull_step": lambda: diskfull_step("tmpfs"),
        "diskfull_step_ext4": lambda: diskfull_step("ext4"),
        "sigkill": lambda: killed("killme", 9), "abort": lambda: killed("abortme", 6),
        "exitcode": t_exitcode, "errno": t_errno, "dlopen": t_dlopen,
        "no_stacks": t_no_stacks, "stack_depth": t_stack_depth, "unwritable": t_unwritable,
        "python": t_python, "sh_pipeline": t_sh_pipeline, "bad_input": t_bad_input,
        "cli": t_cli, "argv": t_argv,
    })
