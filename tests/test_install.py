# SPDX-License-Identifier: MIT
"""vmaprof from any checkout, and installed like a tool (issue 20).

- shim-0700: a copy of the build in a 0700 directory (like a clone in /root
  or a home): a root recording of a program that drops to nobody gives the
  dropped process a copy of the shim it can load (cli/shimcopy.h): in a
  root-owned 0755 cache, named by the SHA-256 of its bytes, reused by the
  next recording; the dropped process has its stacks.
- shim-unsafe: caches vmaprof must not use (writable by others, a symlink,
  another user's directory, a noexec mount) are refused with the reason in
  session.json, and the recording goes on with the shim where it is; a
  copy that is not the shim's bytes is replaced, not used.
- shim-notroot: not root, nothing changes: the shim where it was found.
- install: `meson install --destdir` of this build; the installed vmaprof,
  with the build tree's shim hidden (a private mount namespace), records
  the installed demo with the installed shim (session.json, the shim's
  mappings in the report); moved to another prefix it finds its own shim;
  run by nobody too; vmaprof(1) renders without warnings.
"""
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile

import report3
from vptest import VMAPROF, check, eq, main, validate_report, workload

SHIM = "libvmaprof-preload.so"
BUILD = os.path.dirname(os.path.abspath(VMAPROF))
BUILD_SHIM = os.path.join(BUILD, "preload", SHIM)
DROP = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
NOBODY = 65534


def need_root():
    if os.geteuid() != 0:
        print("SKIP: needs root (privilege drops, meson install into a private namespace)")
        raise SystemExit(77)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def tmpdir(m, prefix="vmaprof-install-"):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, m)
    return d


class Rec:
    """`vmaprof record -o <fresh dir> -- cmd` with a given vmaprof binary."""

    def __init__(self, vmaprof, cmd, args=(), env=None, prefix=None):
        self.tmp = tmpdir(0o755, "vmaprof-install-rec-")
        self.dir = os.path.join(self.tmp, "rec")
        argv = [vmaprof, "record", "-o", self.dir, *args, "--", *cmd]
        p = subprocess.run((prefix or []) + argv, capture_output=True, text=True,
                           timeout=300, env=env)
        self.rc, self.stderr = p.returncode, p.stderr
        check(os.path.exists(os.path.join(self.dir, "report.json")),
              f"no report.json ({p.returncode}): {p.stderr}")
        validate_report(os.path.join(self.dir, "report.json"))
        self.report = report3.expand(json.load(open(os.path.join(self.dir, "report.json"))))
        self.session = json.load(open(os.path.join(self.dir, "session.json")))
        self.pre = self.session["collectors"]["preload"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)


def shared_copy(*paths):
    """Copies of build outputs in a fresh 0755 directory every user can
    reach (the workloads the dropped processes run)."""
    d = tmpdir(0o755, "vmaprof-install-bin-")
    return d, [shutil.copy2(p, d) for p in paths]


def build_in(parent):
    """The build's vmaprof and shim laid out as in the build tree, in
    `parent`: what a checkout in that directory would have."""
    os.mkdir(os.path.join(parent, "preload"), 0o755)
    exe = shutil.copy2(VMAPROF, os.path.join(parent, "vmaprof"))
    shutil.copy2(BUILD_SHIM, os.path.join(parent, "preload", SHIM))
    return exe


def mapped_from(proc, fn):
    """How many mappings (whole, not split pieces; folded and untouched ones
    counted) the process made from a stack naming fn: its sites' mappings
    (schema_version 3 summarises untouched entries in idle[], by site)."""
    return sum(s["mappings"] for s in proc["sites"]
               if any(f["function"] == fn for f in s["stack"]))


def check_dropped_traced(r, w, n, shim):
    """One process, setpriv then the workload as nobody: the workload's
    image loaded `shim` and recorded its n mappings with their stacks."""
    eq(r.rc, 0, f"exit status: {r.stderr}")
    check("cannot be preloaded" not in r.stderr, f"ld.so could not load the shim: {r.stderr}")
    eq(len(r.report["processes"]), 1, "one process (setpriv execs the workload)")
    p = r.report["processes"][0]
    eq(p["preload"], {"active": True, "reason": None}, "the dropped process's shim status")
    eq(r.report["collectors"]["preload"]["processes_without"], 0, "processes without the shim")
    eq(p["execs"][-1]["path"], w, "the workload ran after the drop")
    eq(mapped_from(p, "map_from_here"), n, "mappings with their stacks after the drop")
    for s in p["sites"]:
        if s["stack"] and s["stack"][0]["function"] == "map_from_here":
            eq(s["stack"][1]["function"], "scenario_maps", "stack")
    after = p["execs"][-1]["time_ns"]
    paths = {v["path"] for v in p["vmas"] if v["valid_from_ns"] >= after
             and (v["path"] or "").endswith("/" + SHIM)}
    eq(paths, {shim}, "the shim the dropped image mapped")


def t_shim_0700():
    need_root()
    t = tmpdir(0o700)                  # the checkout nobody may enter
    bindir, (w,) = shared_copy(workload("w_shim"))
    croot = tmpdir(0o755)              # the cache's parent: root's, 0755
    cache = os.path.join(croot, "cache")
    env = dict(os.environ, VMAPROF_SHIM_CACHE=cache)
    try:
        exe = build_in(t)
        src = os.path.join(t, "preload", SHIM)
        want = os.path.join(cache, "shim", sha256(src), SHIM)
        # without the copy the dropped process could not open the shim
        p = subprocess.run(DROP + ["test", "-r", src], capture_output=True)
        check(p.returncode != 0, "nobody can read the shim in the 0700 checkout")
        with Rec(exe, DROP + [w, "maps", "12"], env=env) as r:
            eq((r.pre["shim"], r.pre["shim_source"], r.pre["shim_copy"],
                r.pre["shim_copy_error"]), (want, src, "created", None), "session.json shim")
            check_dropped_traced(r, w, 12, want)
        # the copy: root's, 0644, in root's 0755 directories, the same bytes
        for d in (cache, os.path.join(cache, "shim"), os.path.dirname(want)):
            st = os.lstat(d)
            eq((stat.S_ISDIR(st.st_mode), st.st_uid, mode(d)), (True, 0, 0o755), d)
        st = os.lstat(want)
        eq((stat.S_ISREG(st.st_mode), st.st_uid, mode(want)), (True, 0, 0o644), want)
        eq(sha256(want), sha256(src), "the copy's bytes")
        eq(os.listdir(os.path.dirname(want)), [SHIM], "no temporary file left")
        p = subprocess.run(DROP + ["test", "-r", want], capture_output=True)
        eq(p.returncode, 0, "nobody can read the copy")
        # the next recording reuses it: the same file, not rewritten
        with Rec(exe, DROP + [w, "maps", "3"], env=env) as r:
            eq((r.pre["shim"], r.pre["shim_copy"]), (want, "reused"), "second recording")
            check_dropped_traced(r, w, 3, want)
        st2 = os.lstat(want)
        eq((st2.st_ino, st2.st_mtime_ns), (st.st_ino, st.st_mtime_ns), "the copy was reused")
        # su: a fork, a drop, a shell, the workload: every process traced
        cmd = ["su", "nobody", "-s", "/bin/sh", "-c", f"{w} maps 4"]
        with Rec(exe, cmd, env=env) as r:
            eq(r.rc, 0, f"su: {r.stderr}")
            for q in r.report["processes"]:
                eq(q["preload"], {"active": True, "reason": None}, f"{q['exe']} shim status")
            ws = [q for q in r.report["processes"] if q["execs"][-1]["path"] == w]
            eq(len(ws), 1, "the workload's process")
            eq(mapped_from(ws[0], "map_from_here"), 4, "mappings")
        # a new build (other bytes) gets a copy of its own beside it
        with open(os.path.join(t, "preload", SHIM), "ab") as f:
            f.write(b"\0" * 16)
        want2 = os.path.join(cache, "shim", sha256(src), SHIM)
        check(want2 != want, "another hash")
        with Rec(exe, DROP + [w, "maps", "2"], env=env) as r:
            eq((r.pre["shim"], r.pre["shim_copy"]), (want2, "created"), "a new build")
            check_dropped_traced(r, w, 2, want2)
        check(os.path.exists(want), "the older copy stays (a recording may use it)")
        # the same tree made root's and 0755: safe where it is, no copy
        os.chmod(t, 0o755)
        with Rec(exe, DROP + [w, "maps", "2"], env=env) as r:
            eq((r.pre["shim"], r.pre["shim_copy"], r.pre["shim_copy_error"]), (src, None, None),
               "a root-owned build every user can reach")
            check_dropped_traced(r, w, 2, src)
        # readable by all but another user's (who could replace it): copied
        for root, dirs, files in os.walk(t):
            for n in dirs + files:
                os.chown(os.path.join(root, n), NOBODY, NOBODY)
        with Rec(exe, DROP + [w, "maps", "2"], env=env) as r:
            eq((r.pre["shim"], r.pre["shim_copy"]), (want2, "reused"), "another user's build")
            check_dropped_traced(r, w, 2, want2)
    finally:
        for d in (t, bindir, croot):
            shutil.rmtree(d, ignore_errors=True)


def t_shim_unsafe():
    need_root()
    t = tmpdir(0o700)
    bindir, (w,) = shared_copy(workload("w_shim"))
    croot = tmpdir(0o755)
    try:
        exe = build_in(t)
        src = os.path.join(t, "preload", SHIM)
        h = sha256(src)

        def refused(cache, why, what):
            env = dict(os.environ, VMAPROF_SHIM_CACHE=cache)
            with Rec(exe, DROP + [w, "maps", "1"], env=env) as r:
                eq(r.rc, 0, f"{what}: exit status: {r.stderr}")
                eq((r.pre["shim"], r.pre["shim_copy"]), (src, None), f"{what}: shim")
                check(why in (r.pre["shim_copy_error"] or ""),
                      f"{what}: reason {why!r}, got {r.pre['shim_copy_error']!r}")
                check("cannot place a copy of the shim" in r.stderr and why in r.stderr,
                      f"{what}: said on stderr: {r.stderr}")
                # as before this change: the dropped image has no shim
                p = r.report["processes"][0]
                eq(p["preload"]["active"], False, f"{what}: the dropped process")

        # a cache anyone may write
        c = os.path.join(croot, "open")
        os.mkdir(c)
        os.chmod(c, 0o777)
        refused(c, "is writable by group or others", "world-writable cache")
        # sticky is fine on the way (like /tmp), not for the cache itself
        os.chmod(c, 0o1777)
        refused(c, "is writable by group or others", "sticky cache")
        # a symlink anywhere on the way is refused, not followed
        real = os.path.join(croot, "real")
        os.mkdir(real, 0o755)
        os.symlink(real, os.path.join(croot, "link"))
        refused(os.path.join(croot, "link", "cache"), "is a symbolic link", "symlink on the way")
        check(not os.listdir(real), "nothing written through the symlink")
        # another user's directory on the way, and as the hash directory
        theirs = os.path.join(croot, "theirs")
        os.mkdir(theirs, 0o755)
        os.chown(theirs, NOBODY, NOBODY)
        refused(os.path.join(theirs, "cache"), "belongs to uid 65534, not root",
                "another user's directory on the way")
        c = os.path.join(croot, "c1")
        os.makedirs(os.path.join(c, "shim", h), 0o755)
        os.chown(os.path.join(c, "shim", h), NOBODY, NOBODY)
        refused(c, "belongs to uid 65534, not root", "another user's hash directory")
        c = os.path.join(croot, "c2")
        os.makedirs(os.path.join(c, "shim"), 0o755)
        os.symlink(real, os.path.join(c, "shim", h))
        refused(c, "is a symbolic link", "a symlink as the hash directory")
        check(not os.listdir(real), "nothing written through the symlink")
        # a noexec mount: ld.so could not map a copy there
        mnt = os.path.join(croot, "noexec")
        os.mkdir(mnt, 0o755)
        m = subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,mode=0755", "tmpfs", mnt],
                           capture_output=True, text=True)
        if m.returncode == 0:
            try:
                refused(mnt, "noexec", "a noexec cache")
            finally:
                subprocess.run(["umount", mnt])
        else:
            print(f"note: no noexec tmpfs here ({m.stderr.strip()}); case left out")
        # a copy that is not the shim's bytes (or not root's, or a link) is
        # replaced, never used
        c = os.path.join(croot, "c3")
        hd = os.path.join(c, "shim", h)
        os.makedirs(hd, 0o755)
        for what, plant in (
                ("other bytes", lambda f: open(f, "wb").write(b"not the shim")),
                ("nobody's file", lambda f: (shutil.copy2(src, f), os.chown(f, NOBODY, NOBODY))),
                ("group-writable", lambda f: (shutil.copy2(src, f), os.chmod(f, 0o664))),
                ("a symlink", lambda f: os.symlink(src, f))):
            f = os.path.join(hd, SHIM)
            if os.path.lexists(f):
                os.unlink(f)
            plant(f)
            env = dict(os.environ, VMAPROF_SHIM_CACHE=c)
            with Rec(exe, DROP + [w, "maps", "2"], env=env) as r:
                eq((r.pre["shim"], r.pre["shim_copy"]), (f, "created"), f"{what}: replaced")
                check_dropped_traced(r, w, 2, f)
            st = os.lstat(f)
            eq((stat.S_ISREG(st.st_mode), st.st_uid, mode(f), sha256(f)), (True, 0, 0o644, h),
               f"{what}: the copy now")
        # a relative cache is refused
        refused("relative/cache", "is not an absolute path", "a relative cache")
    finally:
        subprocess.run(["umount", os.path.join(croot, "noexec")], capture_output=True)
        for d in (t, bindir, croot):
            shutil.rmtree(d, ignore_errors=True)


def t_shim_notroot():
    """Not root: no copy, LD_PRELOAD names the shim where it was found."""
    need_root()
    t = tmpdir(0o755)
    croot = tmpdir(0o755)
    cache = os.path.join(croot, "cache")
    try:
        exe = build_in(t)
        out = os.path.join(t, "out")
        os.mkdir(out, 0o755)
        os.chown(out, NOBODY, NOBODY)
        env = dict(os.environ, VMAPROF_SHIM_CACHE=cache)
        p = subprocess.run(DROP + [exe, "record", "--no-bpf", "-o", os.path.join(out, "r"), "--",
                                   "true"], capture_output=True, text=True, env=env, timeout=120)
        eq(p.returncode, 0, f"record as nobody: {p.stderr}")
        pre = json.load(open(os.path.join(out, "r", "session.json")))["collectors"]["preload"]
        src = os.path.join(t, "preload", SHIM)
        eq((pre["shim"], pre["shim_source"], pre["shim_copy"], pre["shim_copy_error"]),
           (src, src, None, None), "session.json shim")
        check(not os.path.exists(cache), "no cache made")
    finally:
        for d in (t, croot):
            shutil.rmtree(d, ignore_errors=True)


def meson_install(destdir):
    p = subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--destdir", destdir],
                       capture_output=True, text=True, timeout=300)
    eq(p.returncode, 0, f"meson install: {p.stdout}{p.stderr}")
    info = json.loads(subprocess.run(["meson", "introspect", "--buildoptions", BUILD],
                                     capture_output=True, text=True, check=True).stdout)
    opt = {o["name"]: o["value"] for o in info}
    return opt["prefix"], opt["bindir"], opt["libdir"], opt["mandir"]


def installed(destdir, prefix, sub):
    return os.path.join(destdir + prefix, sub)


def check_demo(r, shim):
    """The demo's recording, made with `shim` (and nothing else)."""
    eq(r.rc, 0, f"exit status: {r.stderr}")
    eq(r.pre["shim"], shim, "session.json: the shim in LD_PRELOAD")
    eq(r.pre["shim_source"], shim, "session.json: the shim found")
    procs = r.report["processes"]
    eq(len(procs), 3, "the demo: a server and two workers")
    for p in procs:
        eq(p["preload"], {"active": True, "reason": None}, f"pid {p['pid']} shim status")
        paths = {v["path"] for v in p["vmas"] if (v["path"] or "").endswith("/" + SHIM)}
        eq(paths, {shim}, f"pid {p['pid']}: the shim it mapped")
    root = [p for p in procs if p["forked_from"] is None][0]
    cache = [v for v in root["vmas"] if v["stack"] and v["stack"][0]["function"] == "build_cache"]
    check(cache, "the demo's cache mapping has its stack (build_cache)")


def t_install():
    need_root()
    dest = tmpdir(0o755, "vmaprof-destdir-")
    moved = tmpdir(0o755, "vmaprof-moved-")
    try:
        prefix, bindir, libdir, mandir = meson_install(dest)
        exe = installed(dest, prefix, os.path.join(bindir, "vmaprof"))
        demo = installed(dest, prefix, os.path.join(bindir, "vmaprof-demo"))
        shim = installed(dest, prefix, os.path.join(libdir, "vmaprof", SHIM))
        page = installed(dest, prefix, os.path.join(mandir, "man1", "vmaprof.1"))
        for f in (exe, demo, shim, page):
            check(os.path.isfile(f), f"installed: {f}")
        eq(sha256(shim), sha256(BUILD_SHIM), "the installed shim is the build's")
        # the man page renders without a warning
        p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80"))
        eq((p.returncode, p.stderr), (0, ""), "man --warnings -l vmaprof.1")
        for sec in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS",
                    "ENVIRONMENT", "FILES", "EXAMPLES"):
            check(f"\n{sec}\n" in p.stdout, f"man page section {sec}")
        for s in ("vmaprof record -p", "vmaprof report", "vmaprof diff", "127", "126"):
            check(s in p.stdout, f"man page mentions {s!r}")
        # the staged tree, with the build tree's shim out of sight: a private
        # mount namespace puts an empty directory over build/preload
        rec = os.path.join(dest, "rec")
        script = ('mount -t tmpfs -o mode=0755 tmpfs "$1" && test ! -e "$1/$2" && shift 2 && '
                  'exec "$@"')
        hide = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                os.path.dirname(BUILD_SHIM), SHIM]
        p = subprocess.run(hide + ["true"], capture_output=True, text=True)
        if p.returncode != 0:
            print(f"note: cannot hide the build's shim here ({p.stderr.strip()})")
            hide = []
        with Rec(exe, [demo], prefix=hide) as r:
            check_demo(r, shim)
        # moved to another prefix: it finds the shim beside it
        tree = os.path.join(moved, "opt")
        shutil.copytree(dest + prefix, tree, symlinks=True)
        mexe = os.path.join(tree, bindir, "vmaprof")
        mshim = os.path.join(tree, libdir, "vmaprof", SHIM)
        with Rec(mexe, [os.path.join(tree, bindir, "vmaprof-demo")], prefix=hide) as r:
            check_demo(r, mshim)
        # not root: the same, for nobody (no kernel collector)
        out = os.path.join(moved, "out")
        os.mkdir(out, 0o755)
        os.chown(out, NOBODY, NOBODY)
        p = subprocess.run(hide + DROP + [mexe, "record", "-o", os.path.join(out, "r"), "--",
                                          os.path.join(tree, bindir, "vmaprof-demo")],
                           capture_output=True, text=True, timeout=300)
        eq(p.returncode, 0, f"installed vmaprof run by nobody: {p.stderr}")
        s = json.load(open(os.path.join(out, "r", "session.json")))
        eq((s["collectors"]["preload"]["shim"], s["collectors"]["preload"]["active"]),
           (mshim, True), "nobody's recording: the moved tree's shim")
        rep = report3.expand(json.load(open(os.path.join(out, "r", "report.json"))))
        eq([q["preload"]["active"] for q in rep["processes"]], [True] * 3, "shim in every process")
    finally:
        shutil.rmtree(dest, ignore_errors=True)
        shutil.rmtree(moved, ignore_errors=True)


if __name__ == "__main__":
    main({"shim-0700": t_shim_0700, "shim-unsafe": t_shim_unsafe,
          "shim-notroot": t_shim_notroot, "install": t_install})
