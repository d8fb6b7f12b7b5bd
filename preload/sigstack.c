/* SPDX-License-Identifier: MIT */
/*
 * Signal stacks: the call stacks of mappings the shim cannot interpose.
 * Layer 5 of preload/ (see shim.c): above records and stacks, below the
 * hooks (which call sigstack__setup, __announce and __yield).
 *
 * Mappings the shim cannot interpose (malloc's own mmap and brk, ld.so,
 * raw syscalls) are seen by the kernel collector only. For those it sends
 * this thread `sig_no` at the syscall's exit (bpf/collector.bpf.c,
 * sig_request), so the handler below runs before the thread's next user
 * instruction, unwinds from the signal context and writes a
 * VP_REC_SIGSTACK the analyzer pairs with the kernel's VP_REC_MEM.
 *
 * The program must not notice: the handler saves errno, runs with every
 * signal blocked and is SA_RESTART (the signalled syscall has completed
 * anyway); the collector signals only the thread that made the call, only
 * when it does not block the signal, is not inside a hook of ours
 * (in_hook, read through the announced TLS offset) and the signal's
 * handler is still ours. A program that installs its own disposition for
 * the signal wins: see sigstack__yield.
 *
 * Not SA_ONSTACK: the handler needs ~8 KiB of stack with the kernel's frame
 * (3.4 KiB of it here, AT_MINSIGSTKSZ; libunwind's unw_backtrace keeps a
 * cursor and a context on the stack), and alternate stacks are often
 * smaller (Rust's std gives every thread 8 KiB; test sigstack-altstack:
 * with SA_ONSTACK an alternate stack of 7.5 KiB killed the program). The
 * thread's own stack is the one it was just making the system call on; a
 * thread already running on its alternate stack (in a handler of its own)
 * is signalled only with 16 KiB left there (the collector checks). */
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>

#include "core.h"
#include "records.h"
#include "seccomp.h"
#include "sigstack.h"
#include "stacks.h"
#include "vmaprof/record.h"
#include "writer.h"

static int sig_no;        /* the collector's signal; 0 = signal stacks off */

static inline void sig_take(int sig, siginfo_t *si, void *ucv, uint16_t flags)
{
	int saved = errno;
	/* bpf_send_signal_thread sends SI_KERNEL; kill/tgkill/sigqueue from
	 * someone else are not requests for a stack */
	if (si->si_code != SI_KERNEL || !core__owns_stream())
		goto out;
	if (in_hook) {
		/* the collector does not signal a thread inside a hook (it
		 * reads in_hook), so this cannot happen; if it does, writing
		 * could wait on a lock this thread holds: count it only */
		writer__reentered();
		goto out;
	}
	in_hook = 1;
	const ucontext_t *uc = ucv;
	uint64_t ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	uint64_t ret = (uint64_t)uc->uc_mcontext.gregs[REG_RAX];
	uint32_t st = stacks__capture_context(ucv, ip);
	record__sigstack(sig, (uint16_t)(flags | (st ? 0 : VP_SIGSTK_NOSTACK)), st, ip, ret);
	in_hook = 0;
out:
	errno = saved;
}

/* The announced handler, and the stand-in used while the program takes
 * the signal over (a different address: the collector stops at once). */
__attribute__((noinline)) static void sig_handler(int sig, siginfo_t *si, void *uc)
{
	sig_take(sig, si, uc, 0);
}

__attribute__((noinline)) static void sig_drain(int sig, siginfo_t *si, void *uc)
{
	sig_take(sig, si, uc, VP_SIGSTK_DRAIN);
}

/* At start, once per image: take VMAPROF_SIGNAL (default SIGRTMAX-1, 0 =
 * off) if nobody holds it (an ignored signal survives exec: then the
 * program's disposition stays and the collector reports "handler"). */
void sigstack__setup(int stacks_on)
{
	int s = SIGRTMAX - 1;
	const char *v = getenv("VMAPROF_SIGNAL");
	if (v && *v) {
		char *end;
		long x = strtol(v, &end, 10);
		s = *end || x < SIGRTMIN || x > SIGRTMAX ? 0 : (int)x;
	}
	if (!stacks_on)
		s = 0;
	/* under a seccomp filter (known or not) the shim makes no system call
	 * it does not need: no handler, no announcement (a prctl), no drain */
	if (s && (sc__probe() < 0 || !sc__ok(SC_N)))
		s = 0;
	sig_no = s;
	if (!s)
		return;
	struct sigaction old, sa;
	if (core__real_sigaction(s, NULL, &old) || old.sa_handler != SIG_DFL)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sig_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART; /* not SA_ONSTACK: see above */
	sigfillset(&sa.sa_mask);
	core__real_sigaction(s, &sa, NULL);
}

/* Tell the collector (prctl it rejects with EINVAL; see record.h) which
 * handler and signal this process image uses. Once per image: the
 * collector hands it on to forked children and threads itself. */
void sigstack__announce(void)
{
	if (!sc__ok(SC_N)) /* a seccomp filter: no prctl of ours */
		return;
	int e = errno;
	long tls = (long)((uintptr_t)&in_hook - (uintptr_t)__builtin_thread_pointer());
	SYS5(SYS_prctl, VP_ANNOUNCE_PRCTL, (uintptr_t)sig_handler, tls, sig_no,
	     VP_ANNOUNCE_MAGIC);
	errno = e;
}

/* Bit sig-1 of some thread's private pending set (/proc/self/task/.../status
 * SigPnd)? Raw system calls and stack buffers only. */
static int sig_pending_somewhere(int sig)
{
	int dfd = core__real_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (dfd < 0)
		return 0;
	char ents[4096];
	int found = 0;
	long n;
	while (!found && (n = SYS3(SYS_getdents64, dfd, ents, sizeof(ents))) > 0) {
		for (long off = 0; off < n && !found;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(ents + off);
			off += d->reclen;
			if (d->name[0] < '0' || d->name[0] > '9')
				continue;
			char path[64], buf[4096];
			snprintf(path, sizeof(path), "/proc/self/task/%s/status", d->name);
			int fd = core__real_open(path, O_RDONLY | O_CLOEXEC, 0);
			if (fd < 0)
				continue;
			long got = SYS3(SYS_read, fd, buf, sizeof(buf) - 1);
			SYS1(SYS_close, fd);
			if (got <= 0)
				continue;
			buf[got] = 0;
			const char *p = strstr(buf, "\nSigPnd:");
			if (p && (strtoull(p + 9, NULL, 16) >> (sig - 1)) & 1)
				found = 1;
		}
	}
	SYS1(SYS_close, dfd);
	return found;
}

/* The program sets a disposition for our signal (any handler, SIG_DFL,
 * SIG_IGN): it wins. But the collector may have read our handler's address
 * an instant ago and its signal may still be on its way to a thread; that
 * signal must not reach the program's handler, nor kill it under SIG_DFL.
 * So: put the stand-in handler in first (from then on the collector sends
 * nothing: it compares addresses), wait one RCU grace period (membarrier
 * GLOBAL: a collector program that read the old address has finished, its
 * signal is queued), then until no thread has it pending (the stand-in
 * takes those stacks); only then does the program's disposition go in.
 * Costs a few ms, once. Not covered: rt_sigaction by raw system call. */
void sigstack__yield(int sig, const void *handler)
{
	if (!sig_no || sig != sig_no || handler == (const void *)sig_handler ||
	    handler == (const void *)SIG_HOLD)
		return;
	struct sigaction cur;
	if (core__real_sigaction(sig, NULL, &cur) || cur.sa_sigaction != sig_handler)
		return;
	int e = errno;
	cur.sa_sigaction = sig_drain;
	core__real_sigaction(sig, &cur, NULL);
	if (SYS2(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0) < 0) {
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		SYS2(SYS_nanosleep, &ts, NULL);
	}
	for (int i = 0; i < 200 && sc__ok(SC_OPENAT) && sc__ok(SC_READ) &&
			sig_pending_somewhere(sig); i++) {
		struct timespec ts = { 0, 1000 * 1000 };
		SYS2(SYS_nanosleep, &ts, NULL);
	}
	errno = e;
}

