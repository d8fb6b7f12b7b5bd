/* SPDX-License-Identifier: MIT */
/*
 * The shim's record encoders (records.h; layer 4 of preload/, see shim.c):
 * one function per record type the hooks write, each reserving its bytes
 * in the trace (writer.h), filling them, committing. Async-signal-safe
 * like the writer; the call records make no system call but readlink for a
 * file mapping's path, and only where a seccomp filter would allow it. The
 * two a stream's start writes (PROC, MAPS; MAPS again at a dlopen) read
 * /proc/self through libc's own functions (core.h), not the hooks.
 */
#include "records.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"
#include "seccomp.h"
#include "vmaprof/clock.h"
#include "vmaprof/record.h"
#include "writer.h"

void record__mem(uint32_t call, uint64_t t0, uint64_t a0, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, uint64_t ret, int err,
		    uint32_t stack, const char *path, uint32_t path_len)
{
	uint64_t t1 = vp_mono_ns();
	uint32_t seg, size = VP_ALIGN8((uint32_t)sizeof(struct vp_mem) + path_len);
	struct vp_mem *r = (struct vp_mem *)writer__reserve(size, &seg);
	if (!r)
		return;
	core__fill_header(&r->h, t0);
	r->h.flags = VP_MEM_FROM_SHIM;
	r->call = call;
	r->err = err;
	r->ret = ret;
	r->args[0] = a0; r->args[1] = a1; r->args[2] = a2;
	r->args[3] = a3; r->args[4] = a4; r->args[5] = a5;
	r->t_end = t1;
	r->stack_id = stack;
	r->path_len = path_len;
	if (path_len)
		memcpy(r + 1, path, path_len);
	writer__commit(&r->h, VP_REC_MEM, seg);
}

/* Path of an fd, for file mappings. Returns its length, 0 if unknown. */
uint32_t record__fd_path(int fd, char *buf, size_t cap)
{
	char link[32] = "/proc/self/fd/";
	int n = fd, i = 14;
	char digits[12];
	int d = 0;
	do {
		digits[d++] = (char)('0' + n % 10);
		n /= 10;
	} while (n && d < 11);
	while (d)
		link[i++] = digits[--d];
	link[i] = 0;
	if (!sc__ok(SC_READLINK))
		return 0;
	long l = SYS3(SYS_readlink, link, buf, cap);
	return l > 0 ? (uint32_t)l : 0;
}

void record__fork(uint32_t kind, pid_t child, int err, uint32_t stack, const char *path)
{
	uint32_t pl = path ? (uint32_t)strnlen(path, VP_MAX_PATH) : 0;
	uint32_t seg, size = VP_ALIGN8((uint32_t)sizeof(struct vp_fork) + pl);
	struct vp_fork *r = (struct vp_fork *)writer__reserve(size, &seg);
	if (!r)
		return;
	core__fill_header(&r->h, vp_mono_ns());
	r->child = child > 0 ? (uint32_t)child : 0;
	r->kind = kind;
	r->err = err;
	/* a fork child starts its own stream (if the filters let it); a
	 * vfork or spawn child's new image starts under a filter it cannot
	 * read and records nothing */
	if (kind == VP_FORK_FORK || kind == VP_FORK_CLONE ? core__start_refused() : !sc__ok(SC_N))
		r->h.flags |= VP_FORK_SECCOMP;
	r->stack_id = stack;
	r->path_len = pl;
	if (pl)
		memcpy(r + 1, path, pl);
	writer__commit(&r->h, VP_REC_FORK, seg);
}

/* Bytes argv takes as NUL-terminated strings, capped to fit one record. */
static uint32_t argv_bytes(char *const argv[], uint32_t cap, uint32_t *argc)
{
	uint32_t b = 0, n = 0;
	for (; argv && argv[n]; n++) {
		uint32_t l = (uint32_t)strlen(argv[n]) + 1;
		if (b + l > cap)
			break;
		b += l;
	}
	*argc = n;
	return b;
}

void record__exec(uint32_t kind, const char *path, char *const argv[], int err,
		     int fixed, uint32_t stack)
{
	uint32_t pl = path ? (uint32_t)strnlen(path, VP_MAX_PATH) : 0, argc;
	uint32_t room = VP_MAX_RECORD - (uint32_t)sizeof(struct vp_exec) - pl - 8;
	uint32_t al = argv_bytes(argv, room, &argc);
	uint32_t seg, size = VP_ALIGN8((uint32_t)sizeof(struct vp_exec) + pl + al);
	struct vp_exec *r = (struct vp_exec *)writer__reserve(size, &seg);
	if (!r)
		return;
	core__fill_header(&r->h, vp_mono_ns());
	r->h.flags = (fixed ? VP_EXEC_ENV_FIXED : 0) | (sc__ok(SC_N) ? 0 : VP_EXEC_SECCOMP);
	r->err = err;
	r->kind = kind;
	r->stack_id = stack;
	r->argc = argc;
	r->path_len = pl;
	r->argv_len = al;
	char *p = (char *)(r + 1);
	memcpy(p, path, pl);
	p += pl;
	for (uint32_t i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		memcpy(p, argv[i], l);
		p += l;
	}
	writer__commit(&r->h, VP_REC_EXEC, seg);
}

void record__exit(uint32_t kind, int status)
{
	uint32_t seg;
	struct vp_exit *r = (struct vp_exit *)writer__reserve(sizeof(*r), &seg);
	if (!r)
		return;
	core__fill_header(&r->h, vp_mono_ns());
	r->status = status;
	r->kind = kind;
	writer__commit(&r->h, VP_REC_EXIT, seg);
}

void record__sigstack(int sig, uint16_t flags, uint32_t stack, uint64_t ip, uint64_t ret)
{
	uint32_t seg;
	struct vp_sigstack *r = (struct vp_sigstack *)writer__reserve(sizeof(*r), &seg);
	if (!r)
		return;
	core__fill_header(&r->h, vp_mono_ns());
	r->h.flags = flags;
	r->stack_id = stack;
	r->signo = (uint32_t)sig;
	r->ip = ip;
	r->ret = ret;
	writer__commit(&r->h, VP_REC_SIGSTACK, seg);
}

/* Copy /proc/self/maps into VP_REC_MAPS chunks. */
void record__maps(uint32_t why)
{
	static _Atomic uint32_t seq;
	uint32_t s = atomic_fetch_add(&seq, 1);
	if (!sc__ok(SC_OPENAT) || !sc__ok(SC_READ) || !sc__ok(SC_CLOSE)) {
		writer__lost(); /* a seccomp filter would refuse reading the maps */
		return;
	}
	int fd = core__real_open("/proc/self/maps", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		writer__lost();
		return;
	}
	char buf[8192];
	uint32_t chunk = 0;
	for (;;) {
		ssize_t n = core__real_read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			writer__lost();
		int last = n <= 0;
		uint32_t len = n > 0 ? (uint32_t)n : 0, seg;
		struct vp_maps *r = (struct vp_maps *)writer__reserve(
			VP_ALIGN8((uint32_t)sizeof(*r) + len), &seg);
		if (r) {
			core__fill_header(&r->h, vp_mono_ns());
			r->h.flags = last ? VP_MAPS_LAST : 0;
			r->seq = s;
			r->chunk = chunk;
			r->why = why;
			r->len = len;
			memcpy(r + 1, buf, len);
			writer__commit(&r->h, VP_REC_MAPS, seg);
		}
		chunk++;
		if (last)
			break;
	}
	core__real_close(fd);
}

/* The arguments as /proc/self/cmdline gives them (the arg area, whole
 * arguments up to `cap` bytes) into args, from argv itself when it is
 * provably that area: the constructor's argv of a fresh image, whose
 * strings the kernel laid out back to back, ending where the first
 * environment string (or, with none, the exec's file name) begins. ld.so
 * run as a command (AT_BASE 0: no interpreter) drops its own arguments from
 * argv, and an earlier constructor may have moved things: then -1, and the
 * caller reads /proc. Saves an open, two reads and a close per process. */
static ssize_t args_from_argv(int argc, char *const *argv, char *const *envp, char *args,
			      size_t cap)
{
	if (argc <= 0 || !argv || !argv[0] || !getauxval(AT_BASE))
		return -1;
	const char *end = envp && envp[0] ? envp[0] : (const char *)getauxval(AT_EXECFN);
	const char *p = argv[0];
	for (int i = 0; i < argc; i++) {
		if (!argv[i] || argv[i] != p)
			return -1;
		p += strlen(p) + 1;
	}
	if (p != end)
		return -1;
	size_t al = 0;
	for (int i = 0; i < argc; i++) {
		size_t l = strlen(argv[i]) + 1;
		if (al + l > cap)
			break;
		memcpy(args + al, argv[i], l);
		al += l;
	}
	return (ssize_t)al;
}

void record__proc(uint32_t stack_depth, int argc, char *const *argv, char *const *envp)
{
	uint32_t seg;
	char exe[VP_MAX_PATH];
	char args[16384];
	ssize_t el = SYS3(SYS_readlink, "/proc/self/exe", exe, sizeof(exe));
	if (el < 0)
		el = 0;
	ssize_t al = args_from_argv(argc, argv, envp, args, sizeof(args));
	int fd = al < 0 ? core__real_open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC, 0) : -1;
	if (al < 0)
		al = 0;
	if (fd >= 0) {
		ssize_t n;
		while (al < (ssize_t)sizeof(args) &&
		       (n = core__real_read(fd, args + al, sizeof(args) - (size_t)al)) > 0)
			al += n;
		core__real_close(fd);
	}
	/* keep whole arguments only */
	while (al > 0 && args[al - 1] != 0)
		al--;
	/* read from /proc: no empty arguments at the end, the NULs a process
	 * title is padded with (redis, nginx, postgres rewrite argv in place) */
	while (fd >= 0 && al >= 2 && args[al - 1] == 0 && args[al - 2] == 0)
		al--;
	uint32_t nargs = 0;
	for (ssize_t i = 0; i < al; i++)
		nargs += args[i] == 0;
	/* the path the exec was given (a symlink's own name), from the auxv */
	const char *fn = (const char *)getauxval(AT_EXECFN);
	size_t fl = fn ? strnlen(fn, VP_MAX_PATH) : 0;
	struct vp_proc *r = (struct vp_proc *)writer__reserve(
		VP_ALIGN8((uint32_t)(sizeof(*r) + (size_t)el + (size_t)al + fl)), &seg);
	if (!r)
		return;
	core__fill_header(&r->h, vp_mono_ns());
	r->ppid = (uint32_t)getppid();
	r->argc = nargs;
	r->exe_len = (uint32_t)el;
	r->argv_len = (uint32_t)al;
	r->stack_depth = stack_depth;
	r->execfn_len = (uint32_t)fl;
	memcpy(r + 1, exe, (size_t)el);
	memcpy((char *)(r + 1) + el, args, (size_t)al);
	memcpy((char *)(r + 1) + el + al, fn, fl);
	writer__commit(&r->h, VP_REC_PROC, seg);
}
