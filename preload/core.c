/* SPDX-License-Identifier: MIT */
/*
 * The shim's services (core.h; layer 2 of preload/, see shim.c): libc's
 * real functions and raw-call fallbacks, the state every layer above reads
 * (the hook flag, the pids, the fork token) and record headers. Nothing
 * here records, maps a trace or calls up into the layers above.
 */
#include "core.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "broker_client.h"
#include "vmaprof/record.h"

#define UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- the real functions ---- */

struct core_real core__real;
_Atomic int core__resolved;

void core__resolve(void)
{
	static _Atomic int resolving;
	if (atomic_load_explicit(&core__resolved, memory_order_acquire))
		return;
	/* dlsym may itself call hooked functions: they use the raw system
	 * call fallbacks until we are done. */
	if (atomic_exchange(&resolving, 1))
		return;
#define R(n) core__real.n = (__typeof__(core__real.n))dlsym(RTLD_NEXT, #n)
	R(mmap); R(munmap); R(mremap); R(mprotect); R(madvise); R(brk); R(sbrk);
	R(fork); R(clone); R(execve); R(execvpe); R(fexecve); R(execveat);
	R(posix_spawn); R(posix_spawnp); R(exit); R(_exit); R(_Exit);
	R(dlopen); R(dlmopen); R(pipe2); R(read); R(write); R(close);
	R(syscall); R(sigaction); R(signal); R(sysv_signal); R(sigset); R(prctl);
#undef R
	atomic_store_explicit(&core__resolved, 1, memory_order_release);
}

void *core__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (core__real.mmap)
		return core__real.mmap(addr, len, prot, flags, fd, off);
	long r = SYS6(SYS_mmap, addr, len, prot, flags, fd, off);
	return (void *)r;
}

int core__real_munmap(void *addr, size_t len)
{
	if (core__real.munmap)
		return core__real.munmap(addr, len);
	return (int)SYS2(SYS_munmap, addr, len);
}

int core__real_open(const char *path, int flags, int mode)
{
	return (int)SYS4(SYS_openat, AT_FDCWD, path, flags, mode);
}

int core__real_pipe2(int fds[2], int flags)
{
	return core__real.pipe2 ? core__real.pipe2(fds, flags) : (int)SYS2(SYS_pipe2, fds, flags);
}

ssize_t core__real_read(int fd, void *buf, size_t n)
{
	return core__real.read ? core__real.read(fd, buf, n) : SYS3(SYS_read, fd, buf, n);
}

ssize_t core__real_write(int fd, const void *buf, size_t n)
{
	return core__real.write ? core__real.write(fd, buf, n) : SYS3(SYS_write, fd, buf, n);
}

int core__real_close(int fd)
{
	return core__real.close ? core__real.close(fd) : (int)SYS1(SYS_close, fd);
}

int core__real_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (!core__real.sigaction)
		core__resolve();
	return core__real.sigaction ? core__real.sigaction(sig, act, old) : -1;
}

/* ---- per-thread and per-process state ---- */

__thread int in_hook CORE_TLS;
__thread int vp_vfork_child CORE_TLS;
__thread pid_t core__tid CORE_TLS;
pid_t core__pid;
_Atomic int core__ready;

static const uint64_t token_static = 1;
volatile const uint64_t *core__fork_token = &token_static;
static volatile uint64_t *token_page;
int core__token_by_pid;

void *core__arm_fork_token(void)
{
	void *mapped = NULL;
	if (!token_page && !core__token_by_pid) {
		void *p = core__real_mmap(NULL, 4096, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			core__token_by_pid = 1;
			return NULL;
		}
		if (SYS3(SYS_madvise, p, 4096, MADV_WIPEONFORK)) {
			core__real_munmap(p, 4096);
			core__token_by_pid = 1;
			return NULL;
		}
		token_page = p;
		mapped = p;
	}
	if (token_page) {
		*token_page = 1;
		core__fork_token = token_page;
	}
	return mapped;
}

int core__owns_stream(void)
{
	/* a child forked by a raw system call runs on its parent's stream
	 * (pid, tids, file): it is not ours to write in (the fork token: one
	 * load; getpid only on kernels without MADV_WIPEONFORK, if allowed) */
	return atomic_load_explicit(&core__ready, memory_order_acquire) && !vp_vfork_child &&
	       *core__fork_token != 0 &&
	       !(core__token_by_pid && (!sc__ok(SC_GETPID) || SYS0(SYS_getpid) != core__pid));
}

/* ---- what a stream's start takes ---- */

/* Every system call a start makes, and the first segment's. */
static const enum sc_call start_via_broker[] = {
	SC_GETPID, SC_GETTID, SC_GETPPID, SC_SOCKET, SC_CONNECT, SC_SENDTO, SC_RECVMSG,
	SC_CLOSE, SC_FALLOCATE, SC_MMAP, SC_MADVISE, SC_READLINK, SC_OPENAT, SC_READ, SC_N
};
static const enum sc_call start_by_path[] = {
	SC_GETPID, SC_GETTID, SC_GETPPID, SC_CLOSE, SC_FALLOCATE, SC_MMAP, SC_MADVISE,
	SC_READLINK, SC_OPENAT, SC_READ, SC_N
};

const enum sc_call *core__start_calls(void)
{
	return broker__available() ? start_via_broker : start_by_path;
}

/* A filter known to be in force would refuse a start (no system call). */
int core__start_refused(void)
{
	const enum sc_call *need = core__start_calls();
	for (int i = 0; need[i] != SC_N; i++)
		if (!sc__ok(need[i]))
			return 1;
	return 0;
}

/* ---- record headers ---- */

void core__fill_header(struct vp_rec *r, uint64_t t)
{
	if (UNLIKELY(!core__tid) && sc__ok(SC_GETTID))
		core__tid = (pid_t)SYS0(SYS_gettid);
	r->flags = 0;
	r->time_ns = t;
	r->pid = (uint32_t)core__pid;
	r->tid = (uint32_t)core__tid;
}
