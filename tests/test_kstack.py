# SPDX-License-Identifier: MIT
"""Kernel stacks end to end (bpf/README.md "Kernel stacks"): where no shim
records a mapping's call (a static binary, `record -p` on a running
process), the collector copies the user registers and the top of the user
stack at the call's exit and the analyzer unwinds it with the modules' CFI.
Workload: tests/workloads/w_kstack.c (built without frame pointers), whose
mappings come from map_a() and map_b(): the report's stacks must name them
with the exact counts, each mapping's one write a demand-zero fault, and
every process's faults balance against the kernel's counters. Every report
is validated against schema/report.schema.json."""
import json
import os
import shutil
import subprocess
import tempfile
import time

import report3
from test_attach import Attach, Tmp, need_bpf
from test_report import Rec, check_totals
from vptest import check, eq, main, workload

WS = workload("w_kstack_static")
WD = workload("w_kstack")
A, B = 37, 23

# Kernel stacks where no shim announced itself are taken by default where
# no shim is preloaded (record -p, --no-preload) and, in a wrapped
# recording, in images where none can be: static, secure-exec (setuid) and
# seccomp-filtered ones (the collector's image_no_shim at exec). A dynamic
# image waits for its shim: ld.so's calls before it take none. Every case
# here runs with the defaults.
os.environ.pop("VMAPROF_KERNEL_STACK_NO_SHIM", None)
DROP = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]


def funcs(stack):
    return [f.get("function") for f in stack]


def by_caller(raw, proc):
    """mappings, faults and pages per site whose stack holds map_a / map_b;
    each such site's stack must be one the kernel took (kernel_stacks)."""
    kst = [[raw["frames"][f] for f in raw["stacks"][i]] for i in raw.get("kernel_stacks", [])]
    out = {}
    for s in proc["sites"]:
        fs = funcs(s["stack"])
        for fn in ("map_a", "map_b"):
            if fn not in fs:
                continue
            check(fs.index(fn) > fs.index("map_pages") and "main" in fs and "_start" in fs,
                  f"{fn}'s whole stack, map_pages to _start: {fs}")
            o = out.setdefault(fn, [0, 0, 0])
            o[0] += s["mappings"]
            o[1] += s["faults"]["demand_zero"]
            o[2] += s["bytes_mapped"]
            check(s["stack"] in kst, f"{fn}'s stack is one of kernel_stacks")
    return out


def check_maps(raw, proc, a, b, what):
    got = by_caller(raw, proc)
    psz = os.sysconf("SC_PAGE_SIZE")
    eq(got.get("map_a"), [a, a, a * psz], f"{what}: map_a's mappings, faults, bytes")
    eq(got.get("map_b"), [b, b, b * 2 * psz], f"{what}: map_b's mappings, faults, bytes")


def session_bpf(r):
    return json.load(open(os.path.join(r.dir, "session.json")))["collectors"]["bpf"]


def t_static():
    """A static binary (no shim can load): every mapping's stack is the
    kernel's, unwound through static glibc's CFI."""
    with Rec([WS, "maps", str(A), str(B)]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.root()
        eq(p["preload"]["active"], False, "no shim in a static binary")
        check_maps(r.raw, p, A, B, "static")
        check_totals(r)
        s = session_bpf(r)
        check(s["kernel_stacks"] >= A + B, f"session.json: kernel stacks taken: {s}")
        eq(s["lost"], 0, "nothing lost")
        check("map_pages" in r.stderr, f"the summary names the site:\n{r.stderr}")


def t_static_relative():
    """A static binary started by a relative path (`./w_kstack_static`:
    execve's argument as given): the exec's file is found again from the
    recording's working directory by its inode (record.h, VP_TEXEC_FILE),
    so its stacks unwind as with an absolute path. Started from another
    directory holding a different file of the same name, that file is
    never taken for it."""
    d, name = os.path.split(os.path.realpath(WS))
    with Rec(["./" + name, "maps", str(A), str(B)], cwd=d) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.root()
        eq(p["exe"], os.path.join(d, name), "the relative exec path, resolved")
        check_maps(r.raw, p, A, B, "static, relative")
        check_totals(r)
    other = tempfile.mkdtemp(prefix="vmaprof-kstack-")
    try:
        shutil.copy("/bin/true", os.path.join(other, name))
        with Rec(["sh", "-c", f"cd {d} && exec ./{name} maps {A} {B}"], cwd=other) as r:
            eq(r.rc, 0, f"exit status: {r.stderr}")
            p = r.root()
            # the collector may still have seen it alive (/proc/PID/exe):
            # then its own path; never the same-named file of the cwd
            check(p["exe"] in ("./" + name, os.path.join(d, name)),
                  f"exe {p['exe']!r}: not {os.path.join(other, name)}")
            if p["exe"].startswith("/"):
                check_maps(r.raw, p, A, B, "static, relative, run elsewhere")
            else:
                missing = {v.get("stack_missing") for v in p["vmas"] if v.get("stack_missing")}
                eq(by_caller(r.raw, p), {}, "no stack read from another file")
                check("kernel stack: no module map" in missing,
                      f"the entries say why they have no stack: {missing}")
            check_totals(r)
    finally:
        shutil.rmtree(other, ignore_errors=True)


def t_dynamic():
    """A dynamic program under the shim: ld.so's calls before the shim
    starts take no kernel stack (they say "before shim start"), the
    program's own mappings have the shim's stacks."""
    with Rec([WD, "maps", str(A), str(B)]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = r.root()
        eq(p["preload"]["active"], True, "the shim ran")
        early = [v for v in p["vmas"] if v["origin"] == "syscall"
                 and v.get("stack_missing") == "before shim start"]
        check(len(early) >= 3, f"ld.so's mappings before the shim: {len(early)}")
        eq({len(v["stack"]) for v in early}, {0}, "no stack for them")
        sb = session_bpf(r)
        # (kernel_stacks counts write stacks too: the first write faults of
        # each thread on present pages, issue 24's write sites)
        eq(sb["kernel_stacks"] - sb.get("write_stacks", {}).get("taken", 0), 0,
           "session.json: no kernel stack taken for a call")
        # the report's kernel stacks can only be write stacks (write sites
        # of cow_copy/shared_write faults, sampled at random after an exec:
        # some runs have one, from ld.so's relocations)
        ws = {w["stack"] for q in r.procs for w in q.get("write_sites") or []}
        ws |= {w["stack"] for f in r.raw.get("forks", [])
               for side in ("write_sites_parent", "write_sites_child")
               for w in f.get(side) or []}
        ks = set(r.raw.get("kernel_stacks") or [])
        eq(ks - ws, set(), f"the report's kernel stacks are write stacks only "
           f"(kernel_stacks {sorted(ks)}, write sites' {sorted(ws)})")
        got = {}
        for s in p["sites"]:
            for fn in ("map_a", "map_b"):
                if fn in funcs(s["stack"]):
                    got[fn] = got.get(fn, 0) + s["mappings"]
        eq(got, {"map_a": A, "map_b": B}, "the shim's stacks name the callers")


def stacks_taken(r, proc, what):
    """Kernel stacks of proc's image: at least one per mapping of map_a and
    map_b (ld.so's calls take theirs too), every one a VP_REC_KSTACK the
    collector submitted (session.json)."""
    s = session_bpf(r)
    check(s["kernel_stacks"] >= A + B, f"{what}: kernel stacks taken: {s}")
    eq(s["kernel_stacks_skipped"], 0, f"{what}: none skipped")
    anon = [v for v in proc["vmas"] if v["origin"] == "syscall" and v["ended_by"] != "exec" and
            v["end"] - v["start"] in (4096, 8192) and v["faults"]["demand_zero"] == 1]
    check(len(anon) >= A + B, f"{what}: the workload's mappings: {len(anon)}")
    nostack = [v for v in anon if v.get("stack_missing") in ("no shim", "before shim start")]
    eq(nostack, [], f"{what}: no mapping left waiting for a shim")


def t_setuid():
    """Setuid programs run by nobody (secure exec: ld.so ignores
    LD_PRELOAD): kernel stacks by default. The static copy's mappings are
    named; the dynamic copy's stacks are taken (its libraries' paths are
    known to no record: see bpf/README.md "Kernel stacks")."""
    if os.geteuid() != 0:
        print("SKIP: needs root (a setuid copy run as nobody)")
        raise SystemExit(77)
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="vmaprof-ksuid-")
    try:
        os.chmod(d, 0o755)
        for w, static in ((WS, True), (WD, False)):
            suid = os.path.join(d, os.path.basename(w))
            shutil.copy(w, suid)
            os.chmod(suid, 0o4755)
            with Rec(DROP + [suid, "maps", str(A), str(B)]) as r:
                r.require_bpf()
                if r.rc != 0:
                    print(f"SKIP: setuid program did not run here ({r.rc}): {r.stderr}")
                    raise SystemExit(77)
                eq(len(r.procs), 1, "one process (setpriv execs)")
                p = r.procs[0]
                eq(p["preload"]["active"], False, "no shim in a secure exec")
                check("secure exec" in (p["preload"].get("reason") or ""),
                      f"why: {p['preload']}")
                stacks_taken(r, p, suid)
                if static:
                    check_maps(r.raw, p, A, B, "setuid")
                check_totals(r)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# A launcher that installs an allow-all seccomp filter (no_new_privs, so no
# root needed), then execs the workload: the filter is inherited, the shim
# makes no call of its own under it (no announcement, no signal).
SECCOMP_EXEC = r"""
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
insn = struct.pack("HBBI", 0x06, 0, 0, 0x7fff0000)  # BPF_RET|BPF_K, SECCOMP_RET_ALLOW
buf = ctypes.create_string_buffer(insn)
class Prog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]
prog = Prog(1, ctypes.addressof(buf))
if libc.prctl(38, 1, 0, 0, 0) or libc.prctl(22, 2, ctypes.byref(prog), 0, 0):
    sys.exit("seccomp: %s" % os.strerror(ctypes.get_errno()))
os.execv(sys.argv[1], sys.argv[1:])
"""


def t_seccomp():
    """A dynamic program started under a seccomp filter: its shim does not
    announce itself, so the collector takes kernel stacks by default."""
    import sys
    with Rec([sys.executable, "-c", SECCOMP_EXEC, WD, "maps", str(A), str(B)]) as r:
        r.require_bpf()
        eq(r.rc, 0, f"exit status: {r.stderr}")
        p = [q for q in r.procs if q["argv"][:1] == [WD]]
        eq(len(p), 1, f"the workload's image: {[q['argv'] for q in r.procs]}")
        stacks_taken(r, p[0], "seccomp")


def t_off():
    """VMAPROF_KERNEL_STACK=0: none taken, the entries say why as before."""
    env = dict(os.environ, VMAPROF_KERNEL_STACK="0")
    with Rec([WS, "maps", "3", "2"], env=env) as r:
        r.require_bpf()
        eq(r.raw.get("kernel_stacks"), None, "no kernel stacks in the report")
        eq(json.load(open(os.path.join(r.dir, "session.json")))["collectors"]["bpf"]
           ["kernel_stacks"], 0, "none taken")
        anon = [v for v in r.root()["vmas"] if v["origin"] == "syscall"]
        eq(len(anon), 5, "the five mappings (each faulted)")
        eq({(len(v["stack"]), v["stack_missing"]) for v in anon}, {(0, "no shim")},
           "no stack, and why")


def t_cut():
    """A stack deeper than the copy (40 frames of 1 KiB, copy 8 KiB): the
    innermost frames, and stack_missing says it was cut short."""
    with Rec([WS, "deep", "40"]) as r:
        r.require_bpf()
        v = [v for v in r.root()["vmas"] if v["origin"] == "syscall"]
        eq(len(v), 1, "map_a's one mapping")
        fs = funcs(v[0]["stack"])
        eq(fs[1:4], ["map_pages", "map_a", "deep_call"], "the innermost frames")
        check("main" not in fs and len(fs) < 40, f"cut before main: {fs}")
        eq(v[0]["stack_missing"], "kernel stack cut short: the copy of the stack ended",
           "why it stops")
    # a larger copy reaches main
    env = dict(os.environ, VMAPROF_KERNEL_STACK="56K")
    with Rec([WS, "deep", "40"], env=env) as r:
        v = [v for v in r.root()["vmas"] if v["origin"] == "syscall"]
        fs = funcs(v[0]["stack"])
        eq(fs.count("deep_call"), 41, f"every level with a 56 KiB copy: {fs}")
        check("main" in fs and "_start" in fs, f"down to _start: {fs}")
        eq(v[0].get("stack_missing"), None, "nothing missing")


def t_damaged():
    """A VP_REC_KSTACK whose copy claims more than the record holds is
    damage: counted, never unwound past the record; the report is still
    written and valid."""
    import struct
    from vptest import validate_report
    # (no write stacks: two damaged records in a row are one gap, counted once)
    with Rec([WS, "maps", "3", "2"], ["--write-stacks", "off"]) as r:
        r.require_bpf()
        path = os.path.join(r.dir, "bpf.vpt")
        data = bytearray(open(path, "rb").read())
        off, n = 4096, 0
        while off + 24 <= len(data):
            typ, _, size = struct.unpack_from("<HHI", data, off)
            if size < 8 or size % 8:
                break
            if typ == 25:  # VP_REC_KSTACK: stack_len at +28
                struct.pack_into("<I", data, off + 28, 0xFFFF0)
                # the rest of it zeroed: the reader steps through a damaged
                # record's bytes 8 at a time, and a user stack's bytes can
                # pass for a record long enough to hide the next damaged
                # one (CI once counted 5 for 8); zeros never do
                data[off + 32:off + size] = bytes(size - 32)
                n += 1
            off += size
        check(n >= 5, f"the kernel stacks in bpf.vpt: {n}")
        # unseal the header (hdr_crc 0, as a killed writer leaves it): the
        # last segment is then read unverified, record by record
        struct.pack_into("<I", data, 96, 0)
        open(path, "wb").write(bytes(data))
        out = os.path.join(r.tmp, "damaged.json")
        p = subprocess.run([os.environ.get("VMAPROF", "vmaprof"), "report", r.dir, "-o", out],
                           capture_output=True, text=True, timeout=120)
        eq(p.returncode, 0, f"report of a damaged trace: {p.stderr}")
        validate_report(out)
        rep = report3.expand(json.load(open(out)))
        check(rep["lost"]["damaged_records"] >= n, f"counted as damaged: {rep['lost']}")
        eq(rep.get("kernel_stacks"), None, "no stack from a damaged record")


def attach_run(cmd, before=None):
    """`record -p` on cmd (a w_kstack `wait A B`), started without vmaprof:
    the mappings it makes in the window have their stacks. before(pid):
    run once it is ready, before the attach."""
    need_bpf()
    w = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = w.stdout.readline()
        check(line.startswith("ready "), f"the workload started: {line!r}")
        pid = int(line.split()[1])
        if before:
            before(pid)
        with Tmp() as d:
            a = Attach(os.path.join(d, "rec"), [pid])
            w.stdin.write("go\n")
            w.stdin.flush()
            eq(w.stdout.readline().strip(), "done", "the workload's maps")
            time.sleep(0.2)
            a.stop()
            eq(a.rc, 0, f"record -p's exit code: {a.err}")
            raw = json.load(open(os.path.join(a.dir, "report.json")))
            p = a.proc(pid)
            check_maps(raw, p, A, B, "attach")
            kc = p["kernel_counters"]
            eq(kc["difference"], 0, f"traced faults against the kernel's counters {kc}")
            return raw, p
    finally:
        w.stdin.write("x\n")
        w.stdin.flush()
        w.wait(timeout=30)


def t_attach():
    """`record -p` on a dynamic program started without vmaprof: the
    mappings it makes in the window have their stacks (libc's CFI)."""
    attach_run([WD, "wait", str(A), str(B)])


def module_of(raw, p, fn):
    return {f.get("module") for s in p["sites"] for f in s["stack"] if f.get("function") == fn}


def t_attach_deleted():
    """`record -p` on a program whose executable was deleted after it
    started (an upgrade under a running server): the unwinder and the
    symbolizer read it through /proc/PID/map_files while it runs; frames
    name it as /proc/PID/maps does."""
    import shutil
    import tempfile
    d = tempfile.mkdtemp(prefix="vmaprof-kdel-")
    try:
        exe = os.path.join(d, "w_kstack")
        shutil.copy(WD, exe)
        raw, p = attach_run([exe, "wait", str(A), str(B)], before=lambda pid: os.unlink(exe))
        eq(module_of(raw, p, "map_a"), {exe + " (deleted)"}, "map_a's module")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def container_root(d, dirs):
    """A root for pivot_root in d: w_kstack as /bin/w_kstack, copies of the
    libraries it needs at their paths, and the directories `dirs`."""
    import shutil
    libs = subprocess.run(["ldd", WD], capture_output=True, text=True).stdout
    for tok in libs.split():
        if tok.startswith("/") and os.path.exists(tok):
            dst = os.path.join(d, tok.lstrip("/"))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(tok, dst)
    for sub in dirs:
        os.makedirs(os.path.join(d, sub))
    shutil.copy(WD, os.path.join(d, "bin", "w_kstack"))


def t_attach_container():
    """`record -p` on a program in its own mount namespace and root
    (pivot_root, as a container runtime does): its maps name files by its
    own paths (/bin/w_kstack, which does not exist here; its libc's path
    names the host's), read through /proc/PID/map_files."""
    import shutil
    import tempfile
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("pivot_root"):
        print("SKIP: needs root, unshare and pivot_root (a mount namespace)")
        raise SystemExit(77)
    d = tempfile.mkdtemp(prefix="vmaprof-kctr-")
    try:
        container_root(d, ("bin", "old"))
        check(not os.path.exists("/bin/w_kstack"), "/bin/w_kstack is not a file here")
        script = (f"mount --make-rprivate / && mount --bind {d} {d} && cd {d} && "
                  f"pivot_root . old && exec /bin/w_kstack wait {A} {B}")
        raw, p = attach_run(["unshare", "-m", "sh", "-c", script])
        eq(module_of(raw, p, "map_a"), {"/bin/w_kstack"}, "map_a's module: the container's path")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def t_kpaths():
    """--no-preload (no shim: no maps snapshot names any file): the paths
    of the files a program maps come from the collector, which follows
    each mapped file's dentries and mounts up to the process's root at the
    mmap's exit (bpf/README.md "File paths of mappings"). w_kstack `files`
    maps DIR/named.dat 3 times (2 pages), DIR/deleted.dat once after
    unlinking it (3 pages: the name it had, " (deleted)") and once a file
    whose path is longer than PATH_MAX (5 pages: the marker, no path),
    all from map_file(). Those paths also place libc in the module map:
    the kernel stacks of the five mappings unwind through libc's __mmap
    into map_file and main."""
    with Tmp() as d:
        d = os.path.realpath(d)
        with Rec([WD, "files", d], ["--no-preload"]) as r:
            r.require_bpf()
            eq(r.rc, 0, f"exit status: {r.stderr}")
            p = r.root()
            eq(p["preload"]["active"], False, "no shim")
            psz = os.sysconf("SC_PAGE_SIZE")
            want = {f"{d}/named.dat": [2 * psz] * 3, f"{d}/deleted.dat (deleted)": [3 * psz],
                    "[path too long]": [5 * psz]}
            got = {}
            for v in p["vmas"]:
                if v["path"] in want:
                    got.setdefault(v["path"], []).append(v["end"] - v["start"])
                    eq((v["kind"], v["anonymous"], v["faults"]["file"], v["faults"]["total"]),
                       ("file", False, 1, 1), f"{v['path']}: a file mapping read once")
            eq(got, want, "the mapped files' paths, as the kernel named them")
            # the loader's own file mappings name their files too: no
            # mapping of a file is left without a path or with a marker
            files = [v for v in p["vmas"] if not v["anonymous"]]
            eq([v for v in files if v["path"] is None], [], "no file mapping without a path")
            eq({v["path"] for v in files if v["path"].startswith("[")}, {"[path too long]"},
               "the only marker is the long path's")
            check(any(os.path.basename(v["path"]).startswith("libc.so") for v in files),
                  f"libc's path: {sorted({v['path'] for v in files})}")
            kst = [[r.raw["frames"][f] for f in r.raw["stacks"][i]]
                   for i in r.raw.get("kernel_stacks", [])]
            n = 0
            for s in p["sites"]:
                fs = funcs(s["stack"])
                if "map_file" not in fs:
                    continue
                check(s["stack"] in kst, "map_file's stack is one the kernel took")
                eq(fs[:3], ["__mmap", "map_file", "main"], f"map_file's stack: {fs}")
                eq(s["label"], "map_file", "the site is labelled by the workload's function")
                n += s["mappings"]
            eq(n, 5, "map_file's mappings")
            mf = [v for v in p["vmas"] if v["path"] in want]
            check(all("map_file" in funcs(v["stack"]) for v in mf),
                  "each of the five mappings has map_file's stack")
            check_totals(r)


def t_kpaths_container():
    """--no-preload of a program in its own mount namespace and root
    (pivot_root): the collector names its files by its own paths (the
    walk stops at its root, not ours), and the analyzer, once it is gone,
    takes no file here for them that is not the inode the kernel mapped:
    its libc is a copy at the host's libc's path (the host's file is
    another inode) and its executable's path names nothing here, so its
    kernel stacks say "no module map" rather than read the host's libc."""
    import shutil
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("pivot_root"):
        print("SKIP: needs root, unshare and pivot_root (a mount namespace)")
        raise SystemExit(77)
    with Tmp() as d:
        container_root(d, ("bin", "old", "data"))
        check(not os.path.exists("/data/named.dat"), "/data/named.dat is not a file here")
        script = (f"mount --make-rprivate / && mount --bind {d} {d} && cd {d} && "
                  f"pivot_root . old && exec /bin/w_kstack files /data")
        with Rec(["unshare", "-m", "sh", "-c", script], ["--no-preload"]) as r:
            r.require_bpf()
            eq(r.rc, 0, f"exit status: {r.stderr}")
            p = [q for q in r.procs if q.get("exe") and q["exe"].endswith("w_kstack")]
            eq(len(p), 1, f"the workload's process: {[q.get('exe') for q in r.procs]}")
            p = p[0]
            psz = os.sysconf("SC_PAGE_SIZE")
            got = sorted((v["path"], v["end"] - v["start"]) for v in p["vmas"]
                         if v["path"] and (v["path"].startswith("/data/") or v["path"][0] == "["))
            eq(got, sorted([("/data/named.dat", 2 * psz)] * 3 +
                           [("/data/deleted.dat (deleted)", 3 * psz),
                            ("[path too long]", 5 * psz)]),
               "the container's own paths")
            # (sh exec'd it: the process's first image, sh's, is the host's)
            t = p["execs"][-1]["time_ns"]
            libc = {v["path"] for v in p["vmas"]
                    if v["path"] and "libc.so" in v["path"] and v["created_ns"] >= t}
            check(libc and all(os.path.exists(x) for x in libc),
                  f"libc by its path in the container, which names a file here too: {libc}")
            mine = [v for v in p["vmas"] if v["path"] and v["created_ns"] >= t and
                    (v["path"].startswith("/data/") or v["path"][0] == "[")]
            eq(len(mine), 5, "the workload's five mappings")
            # its executable's path names nothing here, its libc's another
            # inode: the kernel's stacks have no module to unwind with
            eq({(len(v["stack"]), v["stack_missing"]) for v in mine},
               {(0, "kernel stack: no module map")}, "the stacks, not unwound with another file")
            mods = {f.get("module") for v in mine for f in v["stack"]}
            eq({m for m in mods if m and "libc.so" in m}, set(),
               f"no frame read from the host's libc (another inode): {mods}")


if __name__ == "__main__":
    main({"static": t_static, "static_relative": t_static_relative, "dynamic": t_dynamic, "setuid": t_setuid,
          "seccomp": t_seccomp, "off": t_off, "cut": t_cut, "damaged": t_damaged,
          "attach": t_attach, "attach_deleted": t_attach_deleted,
          "attach_container": t_attach_container, "kpaths": t_kpaths,
          "kpaths_container": t_kpaths_container})
