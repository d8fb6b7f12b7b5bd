#!/usr/bin/env bash
# Set up a fresh Debian 12 machine (as root) and build vmaprof, then either
#   ./bootstrap.sh demo   record the bundled demo and show the summary
#   ./bootstrap.sh test   run the whole test suite (what CI runs)
#   ./bootstrap.sh bench  the overhead benchmark against strace, ltrace, perf
#                         trace, bpftrace and heaptrack (writes bench/RESULTS.md)
# Installs only the Debian packages that are missing.
set -euo pipefail
cd "$(dirname "$0")"

what=${1:-demo}
case "$what" in demo|test|bench) ;; *) echo "usage: $0 demo|test|bench [bench/run.py options]" >&2; exit 2 ;; esac
shift || true

pkgs=(build-essential pkg-config meson ninja-build clang llvm bpftool
      libbpf-dev libunwind-dev libjansson-dev libelf-dev libdw-dev zlib1g-dev
      python3 python3-jsonschema libclang-rt-14-dev libiberty-dev xxd)
# the tools the benchmark compares with (and gcc for its workload 4)
# a CPython with symbols for the call-site test (Debian's python3 is stripped)
[ "$what" = test ] && pkgs+=(python3.11-dbg chromium)
# a terminal the live view is tested in (tests/test_live.py)
[ "$what" = test ] && pkgs+=(tmux)
# go tool pprof, the reader the pprof export is tested with
[ "$what" = test ] && pkgs+=(golang-go)
# man, to check that the installed vmaprof(1) renders without warnings
[ "$what" = test ] && pkgs+=(man-db)
# a server with many workers for the repeatability test (tests/test_repeat.py)
[ "$what" = test ] && pkgs+=(postgresql)
# the kernel matrix (tests/kernels/): Debian's kernels under qemu, booted
# from a busybox initramfs with their (xz/zstd-compressed) modules, the
# build tree on an ext4 image (mke2fs -d)
[ "$what" = test ] && pkgs+=(qemu-system-x86 busybox-static cpio xz-utils zstd debian-archive-keyring e2fsprogs)
[ "$what" = bench ] && pkgs+=(strace ltrace linux-perf bpftrace heaptrack gcc)
# a live server for `record -p` (bench/redis_attach.py, section P1)
[ "$what" = bench ] && pkgs+=(redis-server)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "bootstrap: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

opts=(-Dbuildtype=debugoptimized)
[ -n "${CI:-}" ] && opts+=(-Dwerror=true)
if [ -f build/build.ninja ]; then
	meson setup --reconfigure build "${opts[@]}" >/dev/null
else
	meson setup build "${opts[@]}" >/dev/null
fi
meson compile -C build

if [ "$what" = bench ]; then
	exec python3 bench/run.py "$@"
fi

if [ "$what" = demo ]; then
	rm -rf vmaprof.demo
	exec ./build/vmaprof record -o vmaprof.demo -- ./build/vmaprof-demo
fi

rc=0
meson test -C build --print-errorlogs || rc=$?

# The kernel matrix: the kernel-dependent cases (tests/kernels/cases.txt)
# on Debian 11, 12 and 13's kernels under qemu. VMAPROF_KERNELS=none skips
# it locally (or =6.1 chooses); CI always runs all three.
kernels=build/kernels/results.json
rm -f "$kernels"
if [ -n "${CI:-}" ]; then
	unset VMAPROF_KERNELS
fi
if [ "${VMAPROF_KERNELS:-}" = none ]; then
	echo "bootstrap: VMAPROF_KERNELS=none: the kernel matrix is not run"
else
	python3 tests/kernels/run.py || rc=1
	if [ ! -f "$kernels" ]; then
		echo "bootstrap: the kernel matrix wrote no $kernels"
		rc=1
	fi
fi

# The plain summary line CI looks for: meson's own log plus every case of
# every kernel of the matrix.
python3 - build/meson-logs/testlog.json "$kernels" <<'PY'
import json, os, sys
ok = bad = skip = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r == "OK":
        ok += 1
    elif r == "SKIP":
        skip += 1
    else:
        bad += 1
if os.path.exists(sys.argv[2]):
    k = json.load(open(sys.argv[2]))
    ok, bad, skip = ok + k["passed"], bad + k["failed"], skip + k["skipped"]
    for s in k["kernels"]:
        print(f"kernel {s['release'] or s['kernel']}: {s['passed']} passed, "
              f"{s['failed']} failed, {s['skipped']} skipped"
              + (f" ({s['error']})" if s["error"] else ""))
if skip:
    print(f"{skip} skipped (each printed why)")
print(f"{ok} passed, {bad} failed")
PY
exit $rc
