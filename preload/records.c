/* SPDX-License-Identifier: MIT */
/*
 * The shim's record encoders (records.h): one function per record type the
 * hooks write, each reserving its bytes in the trace (writer.h), filling
 * them, committing. Async-signal-safe like the writer; they make no system
 * call but readlink for a file mapping's path, and only where a seccomp
 * filter would allow it.
 */
#include "records.h"

#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>

#include "seccomp.h"
#include "shim.h"
#include "vmaprof/clock.h"
#include "vmaprof/record.h"
#include "writer.h"

void shim__note_internal(void *p, size_t len, uint32_t what, int unmapped, uint32_t populated)
{
	uint32_t seg;
	struct vp_internal *r = (struct vp_internal *)writer__reserve(sizeof(*r), &seg);
	if (!r)
		return;
	shim__fill_header(&r->h, vp_mono_ns());
	r->h.flags = unmapped ? VP_INT_UNMAPPED : 0;
	r->start = (uint64_t)(uintptr_t)p;
	r->len = len;
	r->what = what;
	r->populated = populated;
	writer__commit(&r->h, VP_REC_INTERNAL, seg);
}

void record__mem(uint32_t call, uint64_t t0, uint64_t a0, uint64_t a1, uint64_t a2,
		    uint64_t a3, uint64_t a4, uint64_t a5, uint64_t ret, int err,
		    uint32_t stack, const char *path, uint32_t path_len)
{
	uint64_t t1 = vp_mono_ns();
	uint32_t seg, size = VP_ALIGN8((uint32_t)sizeof(struct vp_mem) + path_len);
	struct vp_mem *r = (struct vp_mem *)writer__reserve(size, &seg);
	if (!r)
		return;
	shim__fill_header(&r->h, t0);
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
	shim__fill_header(&r->h, vp_mono_ns());
	r->child = child > 0 ? (uint32_t)child : 0;
	r->kind = kind;
	r->err = err;
	/* a fork child starts its own stream (if the filters let it); a
	 * vfork or spawn child's new image starts under a filter it cannot
	 * read and records nothing */
	if (kind == VP_FORK_FORK || kind == VP_FORK_CLONE ? shim__start_refused() : !sc__ok(SC_N))
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
	shim__fill_header(&r->h, vp_mono_ns());
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
	shim__fill_header(&r->h, vp_mono_ns());
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
	shim__fill_header(&r->h, vp_mono_ns());
	r->h.flags = flags;
	r->stack_id = stack;
	r->signo = (uint32_t)sig;
	r->ip = ip;
	r->ret = ret;
	writer__commit(&r->h, VP_REC_SIGSTACK, seg);
}
