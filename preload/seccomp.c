/* SPDX-License-Identifier: MIT */
/*
 * Known seccomp filters and a classic BPF interpreter for them (the subset
 * the kernel's seccomp checker accepts: loads from struct seccomp_data,
 * scratch memory, ALU, jumps, return). See seccomp.h for the why. Layer 1
 * of preload/ (see shim.c): raw system calls only, no other file of ours.
 */
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "vmaprof/rawsys.h"

#define MADV_POPULATE_WRITE_ 23

/* Worst action of the known filters per call, ALLOW when none. */
static _Atomic uint32_t sc_act[SC_N];
static _Atomic int sc_init_done;
static _Atomic int sc_known;   /* filters seen installed in this image */
static _Atomic int sc_strict;  /* SECCOMP_MODE_STRICT seen */
static _Atomic int sc_unknown; /* a filter we did not see */
__attribute__((visibility("hidden"))) int sc__any_hidden;

/* Each call as the shim makes it: number and arguments (0 where the value
 * is not known in advance: descriptors, addresses). */
static const struct {
	int nr;
	uint64_t a[6];
} calls[SC_N] = {
	[SC_OPENAT] = { SYS_openat, { (uint64_t)(int64_t)AT_FDCWD, 0, O_RDWR | O_CLOEXEC, 0 } },
	[SC_READ] = { SYS_read, { 0 } },
	[SC_CLOSE] = { SYS_close, { 0 } },
	[SC_FALLOCATE] = { SYS_fallocate, { 0, 0, 0, 1u << 20 } },
	[SC_FSTAT] = { SYS_fstat, { 0 } },
	[SC_FTRUNCATE] = { SYS_ftruncate, { 0 } },
	[SC_MMAP] = { SYS_mmap, { 0, 1u << 20, PROT_READ | PROT_WRITE, MAP_SHARED, 0, 0 } },
	[SC_MADVISE] = { SYS_madvise, { 0, 1u << 20, MADV_POPULATE_WRITE_ } },
	[SC_MUNMAP] = { SYS_munmap, { 0, 1u << 20 } },
	[SC_SOCKET] = { SYS_socket, { AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0 } },
	[SC_CONNECT] = { SYS_connect, { 0 } },
	[SC_SENDTO] = { SYS_sendto, { 0, 0, 0, MSG_NOSIGNAL, 0, 0 } },
	[SC_RECVMSG] = { SYS_recvmsg, { 0, 0, MSG_CMSG_CLOEXEC } },
	[SC_READLINK] = { SYS_readlink, { 0 } },
	[SC_GETPID] = { SYS_getpid, { 0 } },
	[SC_GETTID] = { SYS_gettid, { 0 } },
	[SC_GETPPID] = { SYS_getppid, { 0 } },
	[SC_PROCESS_VM_READV] = { SYS_process_vm_readv, { 0, 0, 1, 0, 1, 0 } },
	[SC_RT_SIGPROCMASK] = { SYS_rt_sigprocmask, { SIG_SETMASK, 0, 0, 8 } },
};

static void init(void)
{
	if (atomic_load_explicit(&sc_init_done, memory_order_acquire))
		return;
	for (int i = 0; i < SC_N; i++)
		atomic_store(&sc_act[i], SECCOMP_RET_ALLOW);
	atomic_store_explicit(&sc_init_done, 1, memory_order_release);
}

/* Precedence as the kernel's: the lowest ACTION_FULL as a signed value. */
static uint32_t worse(uint32_t a, uint32_t b)
{
	int32_t x = (int32_t)(a & SECCOMP_RET_ACTION_FULL), y = (int32_t)(b & SECCOMP_RET_ACTION_FULL);
	return x <= y ? a : b;
}

static int harmless(uint32_t act)
{
	act &= SECCOMP_RET_ACTION_FULL;
	return act == SECCOMP_RET_ALLOW || act == SECCOMP_RET_LOG;
}

static uint32_t ld32(const struct seccomp_data *d, uint32_t k)
{
	uint32_t v;
	memcpy(&v, (const char *)d + k, 4);
	return v;
}

/* A load's value (BPF_LD, BPF_LDX) into *v; -1: the checker would have
 * refused the instruction. */
static int load(const struct sock_filter *i, const uint32_t *M, const struct seccomp_data *d,
		uint32_t *v)
{
	uint32_t k = i->k;
	switch (BPF_MODE(i->code)) {
	case BPF_ABS:
		if (BPF_CLASS(i->code) != BPF_LD || BPF_SIZE(i->code) != BPF_W ||
		    (k & 3) || k > sizeof(*d) - 4)
			return -1;
		*v = ld32(d, k);
		return 0;
	case BPF_IMM: *v = k; return 0;
	case BPF_MEM:
		if (k >= BPF_MEMWORDS)
			return -1;
		*v = M[k];
		return 0;
	case BPF_LEN: *v = sizeof(*d); return 0;
	default: return -1;
	}
}

/* *A = *A op src (BPF_ALU). 0; 1 on a division by zero (the filter then
 * returns 0, as the kernel's); -1: the checker would have refused it. */
static int alu(uint16_t code, uint32_t *A, uint32_t src)
{
	switch (BPF_OP(code)) {
	case BPF_ADD: *A += src; break;
	case BPF_SUB: *A -= src; break;
	case BPF_MUL: *A *= src; break;
	case BPF_DIV: if (!src) return 1; *A /= src; break;
	case BPF_MOD: if (!src) return 1; *A %= src; break;
	case BPF_OR: *A |= src; break;
	case BPF_AND: *A &= src; break;
	case BPF_XOR: *A ^= src; break;
	case BPF_LSH: *A = src < 32 ? *A << src : 0; break;
	case BPF_RSH: *A = src < 32 ? *A >> src : 0; break;
	case BPF_NEG: *A = -*A; break;
	default: return -1;
	}
	return 0;
}

/* Run one filter; anything it could not have passed the kernel's checker
 * with answers KILL (the safe side). */
static uint32_t run(const struct sock_filter *f, unsigned n, const struct seccomp_data *d)
{
	uint32_t A = 0, X = 0, M[BPF_MEMWORDS];
	memset(M, 0, sizeof(M));
	for (unsigned pc = 0; pc < n; pc++) {
		const struct sock_filter *i = &f[pc];
		uint32_t k = i->k, src = BPF_SRC(i->code) == BPF_X ? X : k, v;
		int r;
		switch (BPF_CLASS(i->code)) {
		case BPF_LD:
		case BPF_LDX:
			if (load(i, M, d, &v) < 0)
				return SECCOMP_RET_KILL_PROCESS;
			if (BPF_CLASS(i->code) == BPF_LD)
				A = v;
			else
				X = v;
			break;
		case BPF_ST:
		case BPF_STX:
			if (k >= BPF_MEMWORDS)
				return SECCOMP_RET_KILL_PROCESS;
			M[k] = BPF_CLASS(i->code) == BPF_ST ? A : X;
			break;
		case BPF_ALU:
			r = alu(i->code, &A, src);
			if (r)
				return r > 0 ? 0 : SECCOMP_RET_KILL_PROCESS;
			break;
		case BPF_JMP: {
			int c;
			switch (BPF_OP(i->code)) {
			case BPF_JA: pc += k; continue;
			case BPF_JEQ: c = A == src; break;
			case BPF_JGT: c = A > src; break;
			case BPF_JGE: c = A >= src; break;
			case BPF_JSET: c = (A & src) != 0; break;
			default: return SECCOMP_RET_KILL_PROCESS;
			}
			pc += c ? i->jt : i->jf;
			break;
		}
		case BPF_RET:
			return BPF_RVAL(i->code) == BPF_A ? A : k;
		case BPF_MISC:
			if (BPF_MISCOP(i->code) == BPF_TAX)
				X = A;
			else
				A = X;
			break;
		default:
			return SECCOMP_RET_KILL_PROCESS;
		}
	}
	return SECCOMP_RET_KILL_PROCESS; /* fell off the end: the checker refuses that */
}

void sc__eval(const void *fprog, struct sc_pending *p)
{
	const struct sock_fprog *fp = fprog;
	p->strict = 0;
	for (int c = 0; c < SC_N; c++) {
		if (!fp || !fp->filter || !fp->len || fp->len > BPF_MAXINSNS) {
			p->act[c] = SECCOMP_RET_KILL_PROCESS; /* cannot read it: assume the worst */
			continue;
		}
		struct seccomp_data d;
		memset(&d, 0, sizeof(d));
		d.nr = calls[c].nr;
		d.arch = AUDIT_ARCH_X86_64;
		for (int j = 0; j < 6; j++)
			d.args[j] = calls[c].a[j];
		p->act[c] = run(fp->filter, fp->len, &d);
	}
}

void sc__strict(struct sc_pending *p)
{
	p->strict = 1;
	for (int c = 0; c < SC_N; c++)
		p->act[c] = c == SC_READ ? SECCOMP_RET_ALLOW : SECCOMP_RET_KILL_PROCESS;
}

void sc__commit(const struct sc_pending *p)
{
	init();
	for (int c = 0; c < SC_N; c++) {
		uint32_t cur = atomic_load(&sc_act[c]);
		while (!atomic_compare_exchange_weak(&sc_act[c], &cur, worse(cur, p->act[c])))
			;
	}
	if (p->strict)
		atomic_store(&sc_strict, 1);
	else
		atomic_fetch_add(&sc_known, 1);
	__atomic_store_n(&sc__any_hidden, 1, __ATOMIC_RELEASE);
}

int sc__ok_slow(enum sc_call c)
{
	if (atomic_load_explicit(&sc_unknown, memory_order_relaxed))
		return 0;
	if (c == SC_N) /* any filter at all */
		return !atomic_load(&sc_known) && !atomic_load(&sc_strict);
	if (!atomic_load_explicit(&sc_init_done, memory_order_acquire))
		return 1;
	return harmless(atomic_load_explicit(&sc_act[c], memory_order_relaxed));
}

int sc__nr(enum sc_call c)
{
	return calls[c].nr;
}

uint32_t sc__action(enum sc_call c)
{
	if (atomic_load(&sc_unknown) || !atomic_load(&sc_init_done))
		return atomic_load(&sc_unknown) ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_ALLOW;
	return atomic_load(&sc_act[c]);
}

/* Parse "Name:\t<number>" out of the status text. -1 when absent. */
static long field(const char *buf, const char *name)
{
	size_t l = strlen(name);
	for (const char *p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (strncmp(p, name, l) || p[l] != ':')
			continue;
		p += l + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		long v = 0;
		int any = 0;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (*p++ - '0');
			any = 1;
		}
		return any ? v : -1;
	}
	return -1;
}

static int hold, held_valid, held_result;

void sc__probe_hold(int on)
{
	hold = on;
	held_valid = 0;
}

static int probe_status(void);

int sc__probe(void)
{
	if (!hold)
		return probe_status();
	if (!held_valid) {
		held_result = probe_status();
		held_valid = 1;
	}
	return held_result;
}

static int probe_status(void)
{
	if (atomic_load(&sc_unknown))
		return -1;
	/* Reading the status file takes openat, read and close: when a known
	 * filter refuses one of them, do not look (and do not go on: we cannot
	 * tell whether another filter came since). */
	if (!sc__ok(SC_OPENAT) || !sc__ok(SC_READ) || !sc__ok(SC_CLOSE))
		return -1;
	int e = errno;
	long fd = SYS4(SYS_openat, AT_FDCWD, "/proc/thread-self/status", O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		errno = e;
		return 0; /* no /proc: nothing to learn, nothing known against us */
	}
	char buf[4096];
	long n, got = 0;
	while (got < (long)sizeof(buf) - 1 &&
	       (n = SYS3(SYS_read, fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
		got += n;
	SYS1(SYS_close, fd);
	errno = e;
	buf[got > 0 ? got : 0] = 0;
	long mode = field(buf, "Seccomp"), count = field(buf, "Seccomp_filters");
	int unknown;
	if (mode <= 0)
		unknown = 0;
	else if (mode == SECCOMP_MODE_STRICT)
		unknown = !atomic_load(&sc_strict);
	else if (count >= 0)
		unknown = count > atomic_load(&sc_known);
	else
		unknown = atomic_load(&sc_known) == 0; /* kernels < 5.9: no count */
	if (unknown) {
		atomic_store(&sc_unknown, 1);
		__atomic_store_n(&sc__any_hidden, 1, __ATOMIC_RELEASE);
	}
	return unknown ? -1 : 0;
}

static int refused(enum sc_call c, int *nr, uint32_t *action)
{
	if (atomic_load(&sc_unknown)) {
		*nr = -1;
		*action = SECCOMP_RET_KILL_PROCESS;
	} else {
		*nr = calls[c].nr;
		*action = sc__action(c);
	}
	return 0;
}

int sc__all_ok(const enum sc_call *need, int *nr, uint32_t *action)
{
	/* what we know first (no system call), then look for filters we
	 * did not see (a system call each, made only when safe) */
	for (int i = 0; need[i] != SC_N; i++)
		if (!sc__ok(need[i]))
			return refused(need[i], nr, action);
	if (sc__probe() < 0)
		return refused(!sc__ok(SC_OPENAT) ? SC_OPENAT : !sc__ok(SC_READ) ? SC_READ : SC_CLOSE,
			       nr, action);
	return 1;
}
