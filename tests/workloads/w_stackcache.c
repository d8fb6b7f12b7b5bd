/* SPDX-License-Identifier: MIT */
/*
 * Stacks that a wrong stack cache would confuse (tests/test_stackcache.py):
 * every mmap below is made from a known chain of functions, in a known
 * order, and the test compares each recorded stack with that chain and
 * with a run whose cache is off (VMAPROF_STACK_CACHE=0).
 *
 *   callers N    the same call site in map_it() reached alternately from
 *                caller_a() and caller_b(), identical frames, same depth
 *   outer N      the same, one frame further out: outer_a() and outer_b()
 *                both call mid(), which calls map_it()
 *   recurse N    map_it() at the bottom of rec() nested 1..7 deep, varying
 *   longjmp N    a deep chain left by longjmp, then a call from elsewhere
 *   signal N     mmap from a SIGUSR1 handler raised from two callers
 *   threads N    "callers" in two threads at once
 *   alloca N     map_it() from map_fp(), a frame-pointer function that pads
 *                its frame with alloca so that map_it() runs at the same
 *                stack pointer whichever of via_a() (a big frame) or
 *                via_b() (a small one) called it, from one call site: same
 *                ip and sp, only rbp (map_fp's CFA) tells them apart, and
 *                the slots a cache keyed without it would re-read still
 *                hold via_a's frame (unwritten alloca padding)
 *   seccomp N    N mmaps alternately from map_a() and map_b(), then a
 *                seccomp filter refusing rt_sigprocmask (EPERM), under
 *                which the shim cannot unwind, then N more: their stacks
 *                can only come from the cache
 */
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define NOINL __attribute__((noinline))

static volatile int sink;

NOINL static void map_it(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		abort();
	munmap(p, 4096);
	sink++;
}

static uintptr_t fp_target; /* the stack pointer map_fp pads down to */

NOINL __attribute__((optimize("no-omit-frame-pointer"))) static void map_fp(void)
{
	char *here = __builtin_alloca(16);
	uintptr_t cur = (uintptr_t)here;
	if (!fp_target)
		fp_target = cur - 4096;
	volatile char *pad = __builtin_alloca(cur - fp_target);
	pad[0] = 0;
	map_it();
	sink += pad[0];
}

NOINL static void via_a(void)
{
	volatile char big[512];
	big[0] = 1;
	map_fp();
	sink += big[0];
}

NOINL static void via_b(void)
{
	map_fp();
	sink += 2;
}

static void (*volatile vias[2])(void) = { via_a, via_b };

NOINL static void scenario_alloca(int n)
{
	for (int i = 0; i < n; i++)
		vias[i & 1]();
}

NOINL static void caller_a(void)
{
	map_it();
	sink++;
}

NOINL static void caller_b(void)
{
	map_it();
	sink++;
}

NOINL static void mid(void)
{
	map_it();
	sink++;
}

NOINL static void outer_a(void)
{
	mid();
	sink++;
}

NOINL static void outer_b(void)
{
	mid();
	sink += 2;
}

NOINL static void scenario_outer(int n)
{
	for (int i = 0; i < n; i++) {
		if (i & 1)
			outer_b();
		else
			outer_a();
	}
}

NOINL static void rec(int d)
{
	if (d <= 1)
		map_it();
	else
		rec(d - 1);
	sink++;
}

static jmp_buf jb;

NOINL static void deep(int d)
{
	if (d == 0) {
		map_it();
		longjmp(jb, 1);
	}
	deep(d - 1);
	sink++;
}

NOINL static void after_jump(void)
{
	map_it();
	sink++;
}

static void on_usr1(int sig)
{
	(void)sig;
	map_it();
}

NOINL static void raise_a(void)
{
	raise(SIGUSR1);
	sink++;
}

NOINL static void raise_b(void)
{
	raise(SIGUSR1);
	sink++;
}

NOINL static void map_only(void)
{
	if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
		abort();
	sink++;
}

NOINL static void map_a(void)
{
	map_only();
	sink++;
}

NOINL static void map_b(void)
{
	map_only();
	sink += 2;
}

static void refuse_sigprocmask(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_rt_sigprocmask, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 1 /* EPERM */),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(f) / sizeof(f[0]), .filter = f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		abort();
}

NOINL static void scenario_seccomp(int n)
{
	for (int round = 0; round < 2; round++) {
		if (round)
			refuse_sigprocmask();
		for (int i = 0; i < n; i++) {
			if (i & 1)
				map_b();
			else
				map_a();
		}
	}
}

NOINL static void scenario_callers(int n)
{
	for (int i = 0; i < n; i++) {
		if (i & 1)
			caller_b();
		else
			caller_a();
	}
}

static const int depths[] = { 1, 3, 2, 7, 3, 1, 5, 4, 6, 2 };

NOINL static void scenario_recurse(int n)
{
	for (int i = 0; i < n; i++)
		rec(depths[i % 10]);
}

NOINL static void scenario_longjmp(int n)
{
	for (int i = 0; i < n; i++) {
		if (setjmp(jb) == 0)
			deep(depths[i % 10]);
		else
			after_jump();
	}
}

NOINL static void scenario_signal(int n)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < n; i++) {
		if (i & 1)
			raise_b();
		else
			raise_a();
	}
}

static void *thread_fn(void *arg)
{
	scenario_callers((int)(long)arg);
	return NULL;
}

NOINL static void scenario_threads(int n)
{
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, thread_fn, (void *)(long)n);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: w_stackcache callers|outer|recurse|longjmp|signal|threads|seccomp|alloca N\n");
		return 2;
	}
	int n = atoi(argv[2]);
	if (!strcmp(argv[1], "callers"))
		scenario_callers(n);
	else if (!strcmp(argv[1], "recurse"))
		scenario_recurse(n);
	else if (!strcmp(argv[1], "longjmp"))
		scenario_longjmp(n);
	else if (!strcmp(argv[1], "signal"))
		scenario_signal(n);
	else if (!strcmp(argv[1], "outer"))
		scenario_outer(n);
	else if (!strcmp(argv[1], "seccomp"))
		scenario_seccomp(n);
	else if (!strcmp(argv[1], "threads"))
		scenario_threads(n);
	else if (!strcmp(argv[1], "alloca"))
		scenario_alloca(n);
	else
		return 2;
	return 0;
}
