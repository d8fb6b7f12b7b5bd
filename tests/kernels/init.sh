#!/bin/busybox sh
# SPDX-License-Identifier: MIT
# /init of the guest's initramfs (tests/kernels/run.py builds it around a
# static busybox). Loads the modules the kernel needs for virtio-9p (run.py
# put them in /modules in load order), mounts the host's root read-only and
# the checkout writable at its own path, the kernel's file systems, and
# switch_root's into tests/kernels/guest.py (PID 1 from then on: the one
# next to run.py, read through the host's root, so that --checkout can be
# any tree). Whatever goes wrong here is said on the console with
# VMAPROF-INIT-FAIL and the machine powers off, so the host never waits for
# its time-out.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s

fail() {
	echo "VMAPROF-INIT-FAIL: $*"
	sync
	poweroff -f
	sleep 5
	echo o > /proc/sysrq-trigger
}

mount -t proc proc /proc || fail "mount proc"
mount -t sysfs sysfs /sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs"

while read -r m; do
	[ -n "$m" ] || continue
	insmod "/modules/$m" || fail "insmod $m"
done < /modules/order

share= job= python= config= guest= build=
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	vmaprof.share=*) share=${arg#vmaprof.share=} ;;
	vmaprof.job=*) job=${arg#vmaprof.job=} ;;
	vmaprof.python=*) python=${arg#vmaprof.python=} ;;
	vmaprof.config=*) config=${arg#vmaprof.config=} ;;
	vmaprof.guest=*) guest=${arg#vmaprof.guest=} ;;
	vmaprof.build=*) build=${arg#vmaprof.build=} ;;
	esac
done
[ -n "$share" ] && [ -n "$job" ] && [ -n "$python" ] && [ -n "$guest" ] \
	|| fail "vmaprof.share/job/python/guest missing from the kernel command line"

nine="trans=virtio,version=9p2000.L,msize=262144"
mkdir -p /newroot
# The host's root: read-only, cached (nothing changes it under the guest
# but the checkout, which is mounted over it uncached).
mount -t 9p -o "$nine,ro,cache=loose" root /newroot || fail "mount 9p root (tag root)"
for d in tmp run var/tmp; do
	mount -t tmpfs -o mode=1777 tmpfs "/newroot/$d" || fail "tmpfs on /$d"
done
mount -o remount,mode=755 /newroot/run
# the checkout after those: it may live under /tmp (a CI clone), where the
# guest's own /tmp needs the directory made
mkdir -p "/newroot$share" 2>/dev/null
[ -d "/newroot$share" ] || fail "$share not in the host's root"
mount -t 9p -o "$nine,cache=none" share "/newroot$share" || fail "mount 9p share (tag share) on $share"
mount --move /dev /newroot/dev || fail "move /dev"
mkdir -p /newroot/dev/pts /newroot/dev/shm 2>/dev/null
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /newroot/dev/pts || fail "devpts"
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm || fail "tmpfs on /dev/shm"
mount --move /proc /newroot/proc || fail "move /proc"
mount --move /sys /newroot/sys || fail "move /sys"
mount -t bpf -o mode=700 bpf /newroot/sys/fs/bpf || fail "bpffs on /sys/fs/bpf"
mount -t tracefs tracefs /newroot/sys/kernel/tracing || echo "init: no tracefs"
mount -t debugfs debugfs /newroot/sys/kernel/debug || echo "init: no debugfs"
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup || echo "init: no cgroup2"

# The build tree on a disk of its own when run.py made one (an ext4 copy of
# build/, thrown away after the run), as users have their programs: a page
# cache that can be dropped, O_TMPFILE, mincore. The job's directory, under
# build/ on the share, stays reachable at /run/vmaprof.
if [ -n "$build" ]; then
	n=0
	while [ ! -b /newroot/dev/vda ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
	mkdir -p /newroot/run/vmaprof
	mount --bind "/newroot${job%/*}" /newroot/run/vmaprof || fail "bind ${job%/*}"
	mount -t ext4 /newroot/dev/vda "/newroot$build" || fail "mount the build disk (vda) on $build"
	job=/run/vmaprof/${job##*/}
fi

# /boot holds this kernel's config (bpftool, and what else reads
# /boot/config-$(uname -r)), not the host's kernels
if [ -n "$config" ] && [ -f "/newroot$config" ]; then
	mount -t tmpfs -o mode=755 tmpfs /newroot/boot \
		&& cp "/newroot$config" "/newroot/boot/config-$(uname -r)" \
		|| echo "init: no /boot/config-$(uname -r)"
fi

[ -f "/newroot$guest" ] || fail "no $guest in the host's root"
echo "init: switching to $guest"
exec switch_root /newroot "$python" "$guest" "$job"
fail "switch_root"
