#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run commands or the kernel-dependent test cases on Debian's own kernels
under qemu (TCG): Debian 11 (5.10), 12 (6.1) and 13 (6.12).

    tests/kernels/run.py --kernel 6.1 --shell 'uname -r'
    tests/kernels/run.py [--kernel 5.10 --kernel 6.1 ...] [--cases FILE] [--only PATTERN]

Each kernel is Debian's `linux-image-amd64` of its release, resolved to the
concrete image package and fetched with apt into a cache that persists
between runs (VMAPROF_KERNEL_CACHE, default /var/cache/vmaprof/kernels),
through a private apt configuration (its own sources.list, lists and
archives; signatures checked against debian-archive-keyring). The guest
boots from a small initramfs (static busybox and the virtio/9p modules that
kernel needs), mounts the host's root read-only and the checkout writable at
the same path over virtio-9p, and runs tests/kernels/guest.py as PID 1,
which writes what happened into build/kernels/<release>/.

With --shell: one boot, CMD run as root in the checkout, its output printed,
its exit status returned. Otherwise every case listed in tests/kernels/
cases.txt is run in one boot per kernel, as meson would run it; one line per
case, one line per kernel, build/kernels/results.json, exit 1 if any case
failed or any kernel could not be had or booted. See tests/kernels/README.md.
Python standard library only.
"""
import argparse
import fcntl
import fnmatch
import glob
import gzip
import hashlib
import json
import lzma
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("VMAPROF_KERNEL_CACHE", "/var/cache/vmaprof/kernels")
# .debs already on this machine, used when their SHA-256 is the one apt's
# signed index gives (so they are as good as downloaded)
SEED_DIRS = [d for d in os.environ.get("VMAPROF_KERNEL_DEBS", "/var/cache/vmaprof-kernels")
             .split(":") if d]
MIRROR = os.environ.get("VMAPROF_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY = os.environ.get("VMAPROF_DEBIAN_SECURITY", "http://deb.debian.org/debian-security")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
LISTS_MAX_AGE = 6 * 3600  # apt lists younger than this are not refreshed
META = "linux-image-amd64"

# kernel series -> (Debian release, [(archive, suite)])
KERNELS = {
    "5.10": ("bullseye", [(MIRROR, "bullseye"), (SECURITY, "bullseye-security")]),
    "6.1": ("bookworm", [(MIRROR, "bookworm"), (SECURITY, "bookworm-security")]),
    "6.12": ("trixie", [(MIRROR, "trixie")]),
    # not in the default matrix: Debian's newest kernel, a control that the
    # collector loads and the cases can pass under this harness
    "trixie-backports": ("trixie-backports", [(MIRROR, "trixie-backports")]),
}
DEFAULT_KERNELS = ["5.10", "6.1", "6.12"]

# what the initramfs loads (with their dependencies, from the modules'
# own .modinfo): virtio-pci, the 9p file system over virtio, virtio-blk
# and ext4 for the build disk (with a crc32c), and the virtio RNG (so that
# nothing in the guest waits for entropy)
MODULES_NEEDED = ["virtio_pci", "9pnet_virtio", "9p", "virtio_blk", "ext4"]
# crc32c: ext4 asks the crypto API for it at mount time (a soft dependency,
# not in depends=), by one name or another
MODULES_WANTED = ["virtio_rng", "crc32c_generic", "crc32c_intel", "crc32c_cryptoapi"]

QEMU = "qemu-system-x86_64"
BUSYBOX = "/bin/busybox"  # busybox-static
INITRD_FORMAT = 1  # bump when the initramfs layout changes
# beyond the cases' own time: boot, module loading, python start-up over 9p
BOOT_ALLOWANCE = 240


class KernelError(Exception):
    """This kernel cannot be had or booted; the message says why."""


def say(msg):
    print(msg, flush=True)


def note(msg):
    print(f"kernels: {msg}", file=sys.stderr, flush=True)


class Lock:
    """flock on a file: runs on one machine share the cache and outdirs."""

    def __init__(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.f = open(path, "a+")

    def __enter__(self):
        try:
            fcntl.flock(self.f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note(f"waiting for {self.f.name} (another run holds it)")
            fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# ---------------------------------------------------------------- apt

class Apt:
    """A private apt for one Debian release: its own apt.conf (APT_CONFIG,
    so the system's apt.conf.d, sources and keyrings play no part), sources
    list, lists, archives and an empty dpkg status."""

    def __init__(self, release, sources):
        self.release = release
        self.dir = os.path.join(CACHE, "apt", release)
        for d in ("lists/partial", "cache/archives/partial", "state", "empty", "debs", "log"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        self.sources = os.path.join(self.dir, "sources.list")
        lines = [f"deb [signed-by={KEYRING} arch=amd64] {uri} {suite} main\n"
                 for uri, suite in sources]
        self._write(self.sources, "".join(lines))
        d, e = self.dir, os.path.join(self.dir, "empty")
        self.conf = os.path.join(d, "apt.conf")
        self._write(self.conf, f"""// written by tests/kernels/run.py: apt for {release}'s kernels only
Dir::Etc::main "/dev/null";
Dir::Etc::parts "{e}";
Dir::Etc::sourcelist "{self.sources}";
Dir::Etc::sourceparts "/dev/null";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "{e}";
Dir::Etc::trusted "{e}/none.gpg";
Dir::Etc::trustedparts "{e}";
Dir::State "{d}/state";
Dir::State::lists "{d}/lists";
Dir::State::status "/dev/null";
Dir::Cache "{d}/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Dir::Log "{d}/log";
APT::Architecture "amd64";
APT::Architectures {{ "amd64"; }};
Acquire::Languages "none";
Acquire::Retries "2";
Acquire::http::Timeout "30";
""")
        # the same, said on the command line too (and visible in ps)
        self.opts = ["-o", f"Dir::Etc::sourcelist={self.sources}",
                     "-o", "Dir::Etc::sourceparts=/dev/null",
                     "-o", f"Dir::State::lists={d}/lists",
                     "-o", f"Dir::Cache={d}/cache",
                     "-o", "Dir::State::status=/dev/null"]

    @staticmethod
    def _write(path, text):
        if not os.path.exists(path) or open(path).read() != text:
            with open(path + ".tmp", "w") as f:
                f.write(text)
            os.rename(path + ".tmp", path)

    def _run(self, tool, args, timeout, cwd=None):
        env = dict(os.environ, APT_CONFIG=self.conf, LC_ALL="C")
        try:
            return subprocess.run([tool, *self.opts, *args], capture_output=True, text=True,
                                  env=env, timeout=timeout, cwd=cwd)
        except subprocess.TimeoutExpired:
            raise KernelError(f"{tool} {' '.join(args)} took over {timeout} s "
                              "(is the Debian mirror reachable?)")

    def stamp(self):
        return os.path.join(self.dir, "lists", ".updated")

    def fresh(self):
        try:
            return time.time() - os.stat(self.stamp()).st_mtime < LISTS_MAX_AGE
        except OSError:
            return False

    def update(self):
        """apt-get update; raises KernelError with apt's own words."""
        p = self._run("apt-get", ["-q", "--error-on=any", "update"], 300)
        if p.returncode != 0:
            err = "; ".join(l[3:].strip() for l in (p.stderr + p.stdout).splitlines()
                            if l.startswith(("E:", "W:")) and "Some index files" not in l) \
                or p.stderr.strip()
            raise KernelError(f"apt-get update for {self.release} failed: {err}")
        open(self.stamp(), "w").close()

    def show(self, pkg):
        p = self._run("apt-cache", ["show", "--no-all-versions", pkg], 60)
        if p.returncode != 0 or not p.stdout.strip():
            raise KernelError(f"apt-cache show {pkg} ({self.release}): "
                              f"{p.stderr.strip() or 'no such package'}")
        fields = {}
        for line in p.stdout.splitlines():
            m = re.match(r"([\w-]+): (.*)", line)
            if m:
                fields[m.group(1)] = m.group(2)
        return fields

    def resolve(self):
        """linux-image-amd64 -> the concrete image package it depends on,
        and the packages that hold that image's files where Debian split
        them off (linux-binary-*, linux-modules-*, linux-base-* of the same
        version, as in Debian's newest kernels)."""
        meta = self.show(META)
        m = re.search(r"\b(linux-image-[0-9][^\s,(]*)", meta.get("Depends", ""))
        if not m:
            raise KernelError(f"{META} ({self.release}) depends on no image: {meta.get('Depends')!r}")
        f = self.show(m.group(1))
        parts = [f]
        for dep, ver in re.findall(r"\b(linux-(?:binary|modules|base)-[0-9][^\s,(]*) \(= ([^)]+)\)",
                                   f.get("Depends", "")):
            p = self.show(dep)
            if p.get("Version") != ver:
                raise KernelError(f"{f['Package']} needs {dep} (= {ver}), the index has "
                                  f"{p.get('Version')}")
            parts.append(p)
        return {"package": f["Package"], "version": f["Version"],
                "meta_version": meta.get("Version"),
                "debs": [{"package": p["Package"], "version": p["Version"],
                          "sha256": p.get("SHA256"), "size": int(p.get("Size", 0))}
                         for p in parts]}

    def download(self, info):
        """The .deb of `info` (one of resolve()'s debs), verified against the
        SHA-256 of the signed index: from a seed directory if one has it,
        else apt-get download. Returns (path, whether it was downloaded)."""
        want = info["sha256"]
        debs = os.path.join(self.dir, "debs")
        for d in [debs, *SEED_DIRS]:
            for path in sorted(glob.glob(os.path.join(d, f"{info['package']}_*.deb"))):
                if want and sha256_of(path) == want:
                    note(f"using {path} (SHA-256 matches {self.release}'s signed index)")
                    return path, d == debs
        note(f"downloading {info['package']} {info['version']} "
             f"({info['size'] / 2**20:.0f} MiB) from {self.release}")
        p = self._run("apt-get", ["-q", "download", f"{info['package']}={info['version']}"],
                      900, cwd=debs)
        if p.returncode != 0:
            raise KernelError(f"apt-get download {info['package']}={info['version']} failed: "
                              f"{p.stderr.strip()}")
        got = [os.path.join(debs, f) for f in os.listdir(debs)
               if f.startswith(info["package"] + "_") and f.endswith(".deb")]
        for path in got:
            if want and sha256_of(path) == want:
                return path, True
        for path in got:
            os.unlink(path)
        raise KernelError(f"downloaded {got} but none has the SHA-256 {want}")


# ---------------------------------------------------------------- kernels

class Kernel:
    def __init__(self, series, image_dir, info):
        self.series = series
        self.dir = image_dir
        self.info = info
        self.release = info["release"]
        self.vmlinuz = os.path.join(image_dir, info["vmlinuz"])
        self.modules = os.path.join(image_dir, info["modules"])  # .../modules/<release>

    def __str__(self):
        return f"{self.info['package']} {self.info['version']}"


def extract(debs, dest, info):
    tmp = dest + ".partial"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for deb in debs:
        p = subprocess.run(["dpkg", "-x", deb, tmp], capture_output=True, text=True)
        if p.returncode != 0:
            raise KernelError(f"dpkg -x {deb}: {p.stderr.strip()}")
    deb = " + ".join(os.path.basename(d) for d in debs)
    vm = glob.glob(os.path.join(tmp, "boot", "vmlinuz-*"))
    if vm:
        release = os.path.basename(vm[0])[len("vmlinuz-"):]
    else:  # newer packages: /usr/lib/modules/<release>/vmlinuz
        vm = glob.glob(os.path.join(tmp, "usr", "lib", "modules", "*", "vmlinuz"))
        release = os.path.basename(os.path.dirname(vm[0])) if vm else None
    if len(vm) != 1:
        raise KernelError(f"{deb}: {len(vm)} vmlinuz files in /boot or /usr/lib/modules/*/")
    mods = [os.path.join(tmp, p, "modules", release) for p in ("lib", "usr/lib")]
    mods = [m for m in mods if os.path.isdir(m)]
    if not mods:
        raise KernelError(f"{deb}: no modules directory for {release}")
    meta = dict(info, release=release, vmlinuz=os.path.relpath(vm[0], tmp),
                modules=os.path.relpath(mods[0], tmp), extracted=time.time())
    with open(os.path.join(tmp, "image.json"), "w") as f:
        json.dump(meta, f, indent=1)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    return meta


def get_kernel(series, refresh=False):
    """The cached kernel of `series`, fetched first if it is not cached.
    Raises KernelError saying why there is none."""
    if series not in KERNELS:
        raise KernelError(f"unknown kernel {series!r} (known: {', '.join(KERNELS)})")
    release, sources = KERNELS[series]
    with Lock(os.path.join(CACHE, "lock")):
        apt = Apt(release, sources)
        resolved_path = os.path.join(CACHE, "resolved", series + ".json")
        os.makedirs(os.path.dirname(resolved_path), exist_ok=True)
        problem = None
        if refresh or not apt.fresh():
            try:
                apt.update()
            except KernelError as e:
                problem = str(e)
                note(problem)
        info = None
        try:
            info = apt.resolve()
        except KernelError as e:
            problem = problem or str(e)
        if info is None:
            if not os.path.exists(resolved_path):
                raise KernelError(f"no kernel for {series}: cannot resolve {META} in {release} "
                                  f"({problem}) and none is cached in {CACHE}")
            info = json.load(open(resolved_path))
            note(f"{series}: apt unusable ({problem}); using the cached "
                 f"{info['package']} {info['version']}")
        image = os.path.join(CACHE, "images", f"{info['package']}_{info['version']}")
        meta_path = os.path.join(image, "image.json")
        if os.path.exists(meta_path):
            meta = json.load(open(meta_path))
        else:
            if problem and not apt.fresh():
                note(f"{series}: {info['package']} {info['version']} is not cached; "
                     "trying to download it all the same")
            got = [apt.download(d) for d in info["debs"]]
            meta = extract([path for path, _ in got], image, info)
            for path, downloaded in got:
                if downloaded:
                    os.unlink(path)  # the extraction is the cache
        with open(resolved_path + ".tmp", "w") as f:
            json.dump(info, f, indent=1)
        os.rename(resolved_path + ".tmp", resolved_path)
        return Kernel(series, image, meta)


# ---------------------------------------------------------------- modules

def read_module(path):
    if path.endswith(".xz"):
        return lzma.decompress(open(path, "rb").read())
    if path.endswith(".gz"):
        return gzip.decompress(open(path, "rb").read())
    if path.endswith(".zst"):
        p = subprocess.run(["zstd", "-dc", path], capture_output=True)
        if p.returncode != 0:
            raise KernelError(f"zstd -dc {path}: {p.stderr.decode(errors='replace')}")
        return p.stdout
    return open(path, "rb").read()


def modinfo(data):
    """The .modinfo section of an ELF64 module: {key: [values]}."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ValueError("not an ELF64 object")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def sh(i):
        return struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize)
    names_off = sh(shstrndx)[4]
    out = {}
    for i in range(shnum):
        name, _, _, _, off, size = sh(i)
        end = data.index(b"\0", names_off + name)
        if data[names_off + name:end] == b".modinfo":
            for item in data[off:off + size].split(b"\0"):
                if b"=" in item:
                    k, v = item.decode(errors="replace").split("=", 1)
                    out.setdefault(k, []).append(v)
    return out


def modname(path):
    return re.sub(r"\.ko(\.xz|\.zst|\.gz)?$", "", os.path.basename(path)).replace("-", "_")


def module_plan(kernel):
    """[(name, path)] to insmod in that order: MODULES_NEEDED and
    MODULES_WANTED with their dependencies, less what is built in."""
    index = {}
    for root, _, files in os.walk(os.path.join(kernel.modules, "kernel")):
        for f in files:
            if re.search(r"\.ko(\.xz|\.zst|\.gz)?$", f):
                index[modname(f)] = os.path.join(root, f)
    builtin = set()
    try:
        for line in open(os.path.join(kernel.modules, "modules.builtin")):
            builtin.add(modname(line.strip()))
    except OSError:
        pass
    order, seen, data = [], set(), {}

    def visit(name, chain):
        if name in seen or name in builtin:
            return True
        if name not in index:
            return False
        seen.add(name)
        data[name] = read_module(index[name])
        deps = [d for v in modinfo(data[name]).get("depends", []) for d in v.split(",") if d]
        for d in deps:
            if not visit(d.replace("-", "_"), chain + [name]):
                raise KernelError(f"{kernel.release}: module {d} (needed by {name}) not found")
        order.append(name)
        return True
    for m in MODULES_NEEDED:
        if not visit(m, []):
            raise KernelError(f"{kernel.release}: module {m} is neither built in nor shipped")
    for m in MODULES_WANTED:
        visit(m, [])
    return [(n, data[n]) for n in order]


def build_initrd(kernel):
    """initramfs (newc cpio, uncompressed) of busybox, init.sh and the
    modules; cached next to the kernel, keyed by what goes in."""
    plan = module_plan(kernel)
    init = open(os.path.join(HERE, "init.sh"), "rb").read()
    busybox = open(BUSYBOX, "rb").read()
    h = hashlib.sha256(f"format {INITRD_FORMAT}\n".encode())
    for part in (init, busybox, *[n.encode() + b"\0" + d for n, d in plan]):
        h.update(hashlib.sha256(part).digest())
    path = os.path.join(kernel.dir, f"initrd-{h.hexdigest()[:16]}.cpio")
    if os.path.exists(path):
        return path, [n for n, _ in plan]
    stage = path + ".d"
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("bin", "dev", "proc", "sys", "modules", "newroot"):
        os.makedirs(os.path.join(stage, d))
    with open(os.path.join(stage, "init"), "wb") as f:
        f.write(init)
    os.chmod(os.path.join(stage, "init"), 0o755)
    shutil.copy(BUSYBOX, os.path.join(stage, "bin", "busybox"))
    os.chmod(os.path.join(stage, "bin", "busybox"), 0o755)
    os.mknod(os.path.join(stage, "dev", "console"), 0o600 | 0o020000, os.makedev(5, 1))
    names = []
    for i, (n, d) in enumerate(plan):
        fn = f"{i:02d}-{n}.ko"
        with open(os.path.join(stage, "modules", fn), "wb") as f:
            f.write(d)
        names.append(fn)
    with open(os.path.join(stage, "modules", "order"), "w") as f:
        f.write("\n".join(names) + "\n")
    files = []
    for root, dirs, fs in os.walk(stage):
        for x in sorted(dirs) + sorted(fs):
            files.append(os.path.relpath(os.path.join(root, x), stage))
    with open(path + ".tmp", "wb") as out:
        p = subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"],
                           input="\n".join(sorted(files)) + "\n", text=True,
                           stdout=out, stderr=subprocess.PIPE, cwd=stage)
    if p.returncode != 0:
        raise KernelError(f"cpio: {p.stderr}")
    os.rename(path + ".tmp", path)
    shutil.rmtree(stage, ignore_errors=True)
    for old in glob.glob(os.path.join(kernel.dir, "initrd-*.cpio")):
        if old != path:
            os.unlink(old)
    return path, [n for n, _ in plan]


# ---------------------------------------------------------------- booting

def host_python():
    return os.path.realpath(sys.executable)


def guest_env():
    """The environment every guest command starts from: the host's own
    (as meson passes it to tests), less what names host-only things."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SSH_", "DISPLAY", "XDG_", "DBUS_", "WAYLAND", "TMUX"))}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env["HOME"] = env.get("HOME", "/root")
    env["VMAPROF_IN_KERNEL_VM"] = "1"
    return env


def make_build_disk(build, image):
    """An ext4 image holding a copy of the build tree (less build/kernels,
    the guests' own output), for init.sh to mount over build/ in the guest.
    Features any of the kernels mounts (no metadata_csum, no orphan_file)."""
    stage = image + ".d"
    shutil.rmtree(stage, ignore_errors=True)
    top = os.path.abspath(build)
    shutil.copytree(build, stage, symlinks=True,
                    ignore=lambda d, names: ["kernels"] if os.path.abspath(d) == top else [])
    used = 0
    for root, _, files in os.walk(stage):
        for f in files:
            try:
                used += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    size_mb = max(512, 2 * used // 2**20 + 256)
    try:
        os.unlink(image)
    except FileNotFoundError:
        pass
    err = ""
    for features in ("^metadata_csum,^orphan_file", "^metadata_csum"):
        p = subprocess.run(["mke2fs", "-q", "-F", "-t", "ext4", "-O", features, "-L", "vmaprof-build",
                            "-E", "root_owner=0:0", "-d", stage, image, f"{size_mb}M"],
                           capture_output=True, text=True)
        if p.returncode == 0:
            break
        err = p.stderr.strip()
    shutil.rmtree(stage, ignore_errors=True)
    if p.returncode != 0:
        raise KernelError(f"mke2fs of the build disk: {err}")


class Boot:
    """One qemu run: writes the job, boots, follows the guest's files and
    the console, enforces the overall time-out."""

    def __init__(self, kernel, outdir, job, timeout, on_progress, args):
        self.kernel, self.outdir, self.job, self.timeout = kernel, outdir, job, timeout
        self.on_progress, self.args = on_progress, args

    def clean(self):
        for f in ("job.json", "guest.json", "done.json", "results.jsonl", "output.log",
                  "console.log", "qemu.log", "build.ext4"):
            try:
                os.unlink(os.path.join(self.outdir, f))
            except FileNotFoundError:
                pass
        shutil.rmtree(os.path.join(self.outdir, "cases"), ignore_errors=True)

    def run(self):
        os.makedirs(self.outdir, exist_ok=True)
        self.clean()
        with Lock(os.path.join(CACHE, "lock")):
            initrd, mods = build_initrd(self.kernel)
        disk = None
        if self.args.build_fs == "ext4" and os.path.isdir(self.args.build):
            disk = os.path.join(self.outdir, "build.ext4")
            make_build_disk(self.args.build, disk)
        job_path = os.path.join(self.outdir, "job.json")
        self.job["outdir"] = self.outdir
        config = os.path.join(os.path.dirname(self.kernel.vmlinuz), "config-" + self.kernel.release)
        if not os.path.exists(config):  # newer packages keep it with the modules
            config = os.path.join(self.kernel.modules, "config")
        with open(job_path, "w") as f:
            json.dump(self.job, f, indent=1)
        console = os.path.join(self.outdir, "console.log")
        append = ["console=ttyS0,115200", "panic=1", "oops=panic", "loglevel=4",
                  "random.trust_cpu=on", "rdinit=/init",
                  f"vmaprof.share={CHECKOUT}", f"vmaprof.job={job_path}",
                  f"vmaprof.guest={os.path.join(HERE, 'guest.py')}",
                  f"vmaprof.python={host_python()}"]
        if os.path.exists(config):  # init.sh puts it in the guest's /boot
            append.append(f"vmaprof.config={config}")
        if disk:
            append.append(f"vmaprof.build={self.args.build}")
        append += self.args.append or []
        for a in append:
            if " " in a:
                raise KernelError(f"a space in the kernel command line: {a!r}")
        cmd = [QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
               "-machine", "pc", "-accel", self.args.accel, "-cpu", self.args.cpu,
               "-smp", str(self.args.smp), "-m", self.args.memory,
               "-kernel", self.kernel.vmlinuz, "-initrd", initrd, "-append", " ".join(append),
               "-chardev", f"file,id=con,path={console}", "-serial", "chardev:con",
               "-virtfs", "local,path=/,mount_tag=root,security_model=none,readonly=on,"
                          "multidevs=remap",
               "-virtfs", f"local,path={CHECKOUT},mount_tag=share,security_model=none,"
                          "multidevs=remap",
               "-device", "virtio-rng-pci", "-net", "none"]
        if disk:
            cmd += ["-drive", f"file={disk},if=virtio,format=raw,cache=unsafe"]
        qlog = open(os.path.join(self.outdir, "qemu.log"), "w")
        qlog.write(" ".join(cmd) + "\n")
        qlog.flush()
        start = time.monotonic()
        q = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog,
                             start_new_session=True)
        self.boot_seconds = None
        self.timed_out = False
        out_pos = res_pos = 0
        guest_json = os.path.join(self.outdir, "guest.json")
        try:
            while True:
                rc = q.poll()
                if self.boot_seconds is None and os.path.exists(guest_json):
                    self.boot_seconds = time.monotonic() - start
                out_pos = self._follow("output.log", out_pos, self._echo)
                res_pos = self._follow("results.jsonl", res_pos, self._result_lines)
                if rc is not None:
                    break
                if time.monotonic() - start > self.timeout:
                    self.timed_out = True
                    note(f"{self.kernel.release}: no end after {self.timeout} s; killing qemu")
                    os.killpg(q.pid, signal.SIGTERM)
                    try:
                        q.wait(10)
                    except subprocess.TimeoutExpired:
                        os.killpg(q.pid, signal.SIGKILL)
                        q.wait()
                    break
                time.sleep(0.5)
        finally:  # also when run.py itself is told to stop (SIGTERM, SIGINT)
            if q.poll() is None:
                os.killpg(q.pid, signal.SIGKILL)
                q.wait()
            qlog.close()
            if disk and os.path.exists(disk):
                os.unlink(disk)
        self.seconds = time.monotonic() - start
        self.qemu_rc = q.returncode
        self._follow("output.log", out_pos, self._echo)
        self._follow("results.jsonl", res_pos, self._result_lines)
        self.console = open(console, errors="replace").read() if os.path.exists(console) else ""
        self.guest = self._load("guest.json")
        self.done = self._load("done.json")
        return self

    def _load(self, name):
        try:
            return json.load(open(os.path.join(self.outdir, name)))
        except (OSError, ValueError):
            return None

    def _follow(self, name, pos, fn):
        path = os.path.join(self.outdir, name)
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                data = f.read()
        except FileNotFoundError:
            return pos
        if name.endswith(".jsonl"):  # whole lines only
            cut = data.rfind(b"\n") + 1
            data = data[:cut]
        if data:
            fn(data)
        return pos + len(data)

    def _echo(self, data):
        sys.stdout.buffer.write(data)
        sys.stdout.flush()

    def _result_lines(self, data):
        for line in data.decode(errors="replace").splitlines():
            try:
                self.on_progress(json.loads(line))
            except ValueError:
                pass

    def why_no_end(self):
        """What the console says about a guest that did not finish."""
        c = self.console
        for pat in (r"VMAPROF-INIT-FAIL: .*", r"VMAPROF-GUEST-FAIL: .*", r"Kernel panic.*",
                    r"BUG: .*", r"Oops.*"):
            m = re.search(pat, c)
            if m:
                return m.group(0).strip()
        if self.timed_out:
            return f"killed after the overall time-out ({self.timeout} s)"
        tail = [l for l in c.splitlines() if l.strip()][-3:]
        return f"qemu exited with {self.qemu_rc} before the guest finished; console ends: " + \
            " | ".join(tail)


def boot(kernel, outdir, job, timeout, on_progress, args):
    """Boot.run(), once more if the kernel crashed before the job began
    (the guest never started): such a crash under emulation is not what
    the job is about, and is said. A crash once the job runs is the
    job's, and is reported as it is."""
    keep = os.path.join(outdir, "console.first-boot.log")
    if os.path.exists(keep):
        os.unlink(keep)
    b = Boot(kernel, outdir, dict(job), timeout, on_progress, args).run()
    if b.guest is None and re.search(r"Kernel panic|Oops|BUG: ", b.console):
        shutil.copy(os.path.join(outdir, "console.log"), keep)
        note(f"{kernel.release}: the kernel crashed while booting ({b.why_no_end()}; "
             f"{keep}); booting once more")
        b = Boot(kernel, outdir, dict(job), timeout, on_progress, args).run()
    return b


# ---------------------------------------------------------------- modes

def run_shell(series, args):
    try:
        kernel = get_kernel(series, args.refresh)
    except KernelError as e:
        note(f"FAILED {series}: {e}")
        return 1
    note(f"booting {kernel} ({kernel.release}) under TCG")
    outdir = os.path.join(args.outdir, kernel.release)
    job = {"mode": "shell", "shell": args.shell, "checkout": CHECKOUT, "env": guest_env(),
           "timeout": args.timeout}
    with Lock(os.path.join(outdir + ".lock")):
        b = boot(kernel, outdir, job, args.vm_timeout or args.timeout + BOOT_ALLOWANCE,
                 lambda r: None, args)
    if not b.done:
        note(f"{kernel.release}: the command did not finish: {b.why_no_end()} "
             f"(console: {os.path.join(outdir, 'console.log')})")
        return 1
    booted = f"{b.boot_seconds:.0f} s" if b.boot_seconds else "?"
    note(f"{kernel.release}: exit status {b.done['status']} "
         f"(boot {booted}, command {b.done['seconds']:.0f} s, all {b.seconds:.0f} s)")
    if b.guest and not b.guest["btf"]:
        note(f"{kernel.release}: NO /sys/kernel/btf/vmlinux in the guest")
    return b.done["status"]


def read_cases(path):
    """cases.txt: `suite script case [timeout=S] [kernels=K,K]` per line, #
    comments; kernels= limits a case to those kernel series (a case that
    needs what the others lack, e.g. the default collector's per-syscall
    tracepoints, which 5.10's compat collector does not use)."""
    cases = []
    for n, line in enumerate(open(path), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) < 3:
            raise SystemExit(f"{path}:{n}: want `suite script case [timeout=S]`: {line!r}")
        c = {"suite": parts[0], "script": parts[1], "case": parts[2], "timeout": None,
             "kernels": None}
        for opt in parts[3:]:
            m = re.fullmatch(r"timeout=(\d+)", opt)
            k = re.fullmatch(r"kernels=([0-9.,]+)", opt)
            if m:
                c["timeout"] = int(m.group(1))
            elif k:
                c["kernels"] = [x for x in k.group(1).split(",") if x]
            else:
                raise SystemExit(f"{path}:{n}: unknown option {opt!r}")
        c["name"] = f"{c['suite']}-{c['case']}"
        cases.append(c)
    return cases


def meson_tests(build):
    p = subprocess.run(["meson", "introspect", build, "--tests"], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise SystemExit(f"kernels: meson introspect {build} --tests: {p.stderr.strip()} "
                         "(build first: meson setup build && meson compile -C build)")
    return {t["name"]: t for t in json.loads(p.stdout)}


_interpreters = {}


def real_interpreter(exe):
    """The interpreter a `python3` on meson's command line runs: a wrapper
    script such as pyenv's shim (bash running `pyenv exec`) costs ~15 s per
    case under TCG, so the guest runs what the wrapper would have run."""
    if not re.match(r"python", os.path.basename(exe)):
        return exe
    if exe not in _interpreters:
        real = exe
        try:
            p = subprocess.run([exe, "-c", "import sys; print(sys.executable)"],
                               capture_output=True, text=True, timeout=60)
            if p.returncode == 0 and os.path.isfile(p.stdout.strip()):
                real = p.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
        _interpreters[exe] = real
    return _interpreters[exe]


def plan_cases(cases, build, default_timeout):
    """Each case with meson's command line, environment and directory;
    a case meson does not know is an error of the list, said at once."""
    tests = meson_tests(build)
    bad = []
    for c in cases:
        t = tests.get(c["name"])
        if t is None or os.path.basename(t["cmd"][1]) != c["script"]:
            bad.append(f"{c['suite']} {c['script']} {c['case']}")
            continue
        c["cmd"] = [real_interpreter(t["cmd"][0]), *t["cmd"][1:]]
        c["env"] = t["env"]
        c["workdir"] = t["workdir"] or build
        c["timeout"] = c["timeout"] or default_timeout
    if bad:
        raise SystemExit("kernels: not in meson's tests (meson introspect --tests): "
                         + ", ".join(bad))
    return cases


def tail(path, lines=40):
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return "(no log)"
    t = text.splitlines()[-lines:]
    return "\n".join(t)


def run_cases(series, cases, args):
    """One boot running every case; returns the kernel's summary dict."""
    cases = [c for c in cases if not c.get("kernels") or series in c["kernels"]]
    t0 = time.monotonic()
    summary = {"kernel": series, "release": None, "package": None, "version": None,
               "error": None, "boot_seconds": None, "seconds": None, "btf": None,
               "cases": []}
    by_name = {c["name"]: {"name": c["name"], "suite": c["suite"], "script": c["script"],
                           "case": c["case"], "status": "not run", "seconds": None}
               for c in cases}
    try:
        kernel = get_kernel(series, args.refresh)
    except KernelError as e:
        summary["error"] = str(e)
        say(f"kernel {series}: FAILED: {e}")
        for c in cases:
            by_name[c["name"]]["why"] = "kernel unavailable"
        return finish(summary, by_name, cases, t0, series)
    summary.update(release=kernel.release, package=kernel.info["package"],
                   version=kernel.info["version"])
    say(f"kernel {kernel.release} ({kernel}): {len(cases)} cases, booting under TCG")
    outdir = os.path.join(args.outdir, kernel.release)
    budget = args.budget
    job = {"mode": "cases", "checkout": CHECKOUT, "env": guest_env(), "budget": budget,
           "cases": [{k: c[k] for k in ("name", "cmd", "env", "workdir", "timeout")}
                     for c in cases]}

    def progress(r):
        if r.get("event") != "end":
            return
        c = by_name.get(r["name"])
        if c is None:
            return
        log = os.path.join(outdir, r["log"]) if r.get("log") else None
        c.update(status=r["status"], seconds=r["seconds"], rc=r.get("rc"), log=log)
        if r.get("why"):
            c["why"] = r["why"]
        line = f"  {kernel.release:<24} {r['name']:<28} {r['status'].upper():<8} " \
               f"{r['seconds']:7.1f} s"
        if r["status"] in ("skip", "not run"):
            line += f"  ({c.get('why', '')})"
        say(line)
        if r["status"] in ("fail", "timeout") and not args.quiet:
            say("    | " + tail(log or "", args.log_lines).replace("\n", "\n    | "))

    if budget:
        overall = BOOT_ALLOWANCE + budget + max(c["timeout"] for c in cases)
    else:
        overall = BOOT_ALLOWANCE + sum(c["timeout"] for c in cases)
    overall = args.vm_timeout or overall
    try:
        with Lock(os.path.join(outdir + ".lock")):
            b = boot(kernel, outdir, job, overall, progress, args)
    except KernelError as e:
        summary["error"] = str(e)
        say(f"kernel {kernel.release}: FAILED: {e}")
        return finish(summary, by_name, cases, t0, kernel.release)
    summary["boot_seconds"] = round(b.boot_seconds, 1) if b.boot_seconds else None
    summary["btf"] = b.guest["btf"] if b.guest else None
    if b.guest and not b.guest["btf"]:
        say(f"kernel {kernel.release}: NO /sys/kernel/btf/vmlinux in the guest")
    if not b.done:
        why = b.why_no_end()
        summary["error"] = why
        say(f"kernel {kernel.release}: the run did not finish: {why}")
        for c in by_name.values():
            if c["status"] == "not run":
                c["why"] = why
        # the case that was running when it ended
        started = set()
        try:
            for line in open(os.path.join(outdir, "results.jsonl")):
                r = json.loads(line)
                if r.get("event") == "start":
                    started.add(r["name"])
        except (OSError, ValueError):
            pass
        for n in started:
            if by_name[n]["status"] == "not run":
                by_name[n]["status"] = "died"
                say(f"  {kernel.release:<24} {n:<28} DIED     (the guest ended inside it)")
    return finish(summary, by_name, cases, t0, kernel.release)


SKIPS_FAIL = False


def finish(summary, by_name, cases, t0, label):
    summary["cases"] = [by_name[c["name"]] for c in cases]
    st = [c["status"] for c in summary["cases"]]
    summary["passed"] = st.count("pass")
    summary["skipped"] = 0 if SKIPS_FAIL else st.count("skip")
    summary["failed"] = len(st) - summary["passed"] - summary["skipped"]
    if not cases and summary["error"]:
        summary["failed"] = 1
    summary["seconds"] = round(time.monotonic() - t0, 1)
    line = f"kernel {label}: {summary['passed']} passed, {summary['failed']} failed"
    if summary["skipped"]:
        line += f", {summary['skipped']} skipped"
    say(f"{line} ({summary['seconds']:.0f} s)")
    # a skip in the matrix is mostly the collector not loading: say why, once
    whys = {}
    for c in summary["cases"]:
        if c["status"] == "skip":
            whys.setdefault(c.get("why", ""), []).append(c["name"])
    for why, names in whys.items():
        say(f"  {len(names)} skipped{' (counted as failed)' if SKIPS_FAIL else ''}: {why}")
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", action="append", metavar="K",
                    help=f"kernel series ({', '.join(KERNELS)}); repeatable, default all "
                         "(VMAPROF_KERNELS=5.10,6.1 also chooses; =none runs nothing)")
    ap.add_argument("--shell", metavar="CMD", help="run CMD as root in the checkout and exit "
                    "with its status (one kernel)")
    ap.add_argument("--cases", default=os.path.join(HERE, "cases.txt"),
                    help="list of cases (default tests/kernels/cases.txt)")
    ap.add_argument("--only", action="append", metavar="GLOB",
                    help="only cases whose name (suite-case) matches; repeatable")
    ap.add_argument("--checkout", default=None,
                    help="the directory shared writable with the guest, where --shell runs "
                         "(default: the checkout this run.py is in)")
    ap.add_argument("--build", default=None,
                    help="meson build directory (default CHECKOUT/build)")
    ap.add_argument("--outdir", default=None,
                    help="where the guests write (default BUILD/kernels; must be in the checkout)")
    ap.add_argument("--timeout", type=int, default=600,
                    help="--shell: the command's time-out in seconds (default 600)")
    ap.add_argument("--case-timeout", type=int, default=240,
                    help="default time-out of one case in the guest (cases.txt may say "
                         "timeout=S per case; default 240)")
    ap.add_argument("--budget", type=int, default=1500,
                    help="seconds one kernel's cases may take in all; cases not started by "
                         "then are failed as not run (default 1500; 0: no limit but the sum "
                         "of the time-outs)")
    ap.add_argument("--vm-timeout", type=int, default=None,
                    help="kill qemu after this many seconds (default: 240 + budget + the "
                         "longest case time-out; --shell: 240 + --timeout)")
    ap.add_argument("--build-fs", choices=("ext4", "9p"), default=None,
                    help="where the guest sees BUILD: ext4 = a copy on a disk of its own, "
                         "changes thrown away (default for cases: file systems as users have "
                         "them); 9p = the host's directory itself (default for --shell)")
    ap.add_argument("--accel", default="tcg,thread=single",
                    help="qemu -accel (default tcg,thread=single: one host thread for both "
                         "vCPUs; as fast as thread=multi on this busy 2-core machine, and "
                         "multi-threaded TCG crashed a 6.12 guest at boot, an int3 Oops in "
                         "code the kernel was patching)")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--cpu", default="max,la57=off",
                    help="qemu -cpu (default max,la57=off: every feature TCG emulates, "
                         "but 4-level paging as on most machines)")
    ap.add_argument("--memory", default="2G")
    ap.add_argument("--append", action="append", metavar="ARG",
                    help="extra kernel command-line argument; repeatable")
    ap.add_argument("--refresh", action="store_true",
                    help="apt-get update even if the lists are younger than 6 hours")
    ap.add_argument("--fetch-only", action="store_true",
                    help="only get the kernels into the cache and say what they are")
    ap.add_argument("--json", default=None,
                    help="summary file (default BUILD/kernels/results.json)")
    ap.add_argument("--log-lines", type=int, default=40,
                    help="lines of a failed case's log to print (default 40)")
    ap.add_argument("--quiet", action="store_true", help="no failure logs")
    ap.add_argument("--skips-fail", action="store_true",
                    default=os.environ.get("VMAPROF_KERNELS_SKIPS_FAIL") == "1",
                    help="count a skipped case (exit 77) as failed: in the matrix a skip "
                         "usually means the collector did not load (VMAPROF_KERNELS_SKIPS_FAIL=1)")
    args = ap.parse_args()

    global CHECKOUT
    if args.checkout:
        CHECKOUT = os.path.realpath(args.checkout)
        if not os.path.isdir(CHECKOUT):
            ap.error(f"--checkout {args.checkout}: not a directory")
    if CHECKOUT == "/" or any((CHECKOUT + "/").startswith(d)
                              for d in ("/proc/", "/sys/", "/dev/", "/boot/")):
        ap.error(f"{CHECKOUT}: not a directory the guest can share (it has its own /dev, "
                 "/proc, /sys, /boot)")
    args.build = os.path.abspath(args.build or os.path.join(CHECKOUT, "build"))
    if args.build_fs is None:
        args.build_fs = "9p" if args.shell is not None else "ext4"
    if args.build_fs == "ext4" and not (args.build + "/").startswith(CHECKOUT + "/"):
        ap.error("--build-fs ext4: BUILD must be inside the checkout")
    args.outdir = os.path.abspath(args.outdir or os.path.join(args.build, "kernels"))
    if not (args.outdir + "/").startswith(CHECKOUT + "/"):
        ap.error(f"--outdir must be inside the checkout {CHECKOUT} (the guest's writable share)")
    if args.kernel:
        kernels = args.kernel
    else:
        env = os.environ.get("VMAPROF_KERNELS", "").strip()
        if env == "none" and not args.shell:
            say("kernels: VMAPROF_KERNELS=none, no kernel run")
            return 0
        kernels = [k for k in env.split(",") if k] if env and env != "none" else DEFAULT_KERNELS
    for k in kernels:
        if k not in KERNELS:
            ap.error(f"unknown kernel {k!r} (known: {', '.join(KERNELS)})")
    for tool in (QEMU, "dpkg", "apt-get", "cpio", BUSYBOX):
        if not shutil.which(tool):
            ap.error(f"{tool} is missing (./bootstrap.sh test installs what the kernel matrix "
                     "needs: qemu-system-x86 busybox-static cpio xz-utils zstd)")

    if args.fetch_only:
        rc = 0
        for k in kernels:
            try:
                kern = get_kernel(k, args.refresh)
                say(f"{k}: {kern} ({kern.release}) in {kern.dir}")
            except KernelError as e:
                say(f"{k}: FAILED: {e}")
                rc = 1
        return rc

    if args.shell is not None:
        if len(kernels) != 1:
            ap.error("--shell runs on one --kernel")
        return run_shell(kernels[0], args)

    global SKIPS_FAIL
    SKIPS_FAIL = args.skips_fail
    cases = read_cases(args.cases)
    if args.only:
        cases = [c for c in cases if any(fnmatch.fnmatch(c["name"], g) for g in args.only)]
        if not cases:
            ap.error(f"no case in {args.cases} matches {args.only}")
    cases = plan_cases(cases, args.build, args.case_timeout)
    json_path = args.json or os.path.join(args.outdir, "results.json")
    os.makedirs(os.path.dirname(json_path), exist_ok=True)
    try:
        os.unlink(json_path)
    except FileNotFoundError:
        pass
    perturb = os.environ.get("MALLOC_PERTURB_") or str(random.randint(1, 255))
    for c in cases:  # as meson does for every test it runs
        c["env"] = dict(c["env"], MALLOC_PERTURB_=perturb)
    t0 = time.monotonic()
    summaries = [run_cases(k, cases, args) for k in kernels]
    total = {"passed": sum(s["passed"] for s in summaries),
             "failed": sum(s["failed"] for s in summaries),
             "skipped": sum(s["skipped"] for s in summaries),
             "seconds": round(time.monotonic() - t0, 1),
             "cases_file": os.path.relpath(args.cases, CHECKOUT),
             "kernels": summaries}
    with open(json_path + ".tmp", "w") as f:
        json.dump(total, f, indent=1)
        f.write("\n")
    os.rename(json_path + ".tmp", json_path)
    line = f"kernels: {total['passed']} passed, {total['failed']} failed"
    if total["skipped"]:
        line += f", {total['skipped']} skipped"
    say(f"{line} on {len(kernels)} kernel(s) in {total['seconds']:.0f} s "
        f"({os.path.relpath(json_path, CHECKOUT)})")
    return 1 if total["failed"] else 0


def stopped(signum, frame):
    """SIGTERM/SIGHUP: unwind (qemu is killed on the way), say it, fail."""
    note(f"stopped by signal {signum}; qemu killed, no results.json written")
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stopped)
    signal.signal(signal.SIGHUP, stopped)
    sys.exit(main())
