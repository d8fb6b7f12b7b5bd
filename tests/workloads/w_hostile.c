/* SPDX-License-Identifier: MIT */
/*
 * Programs that are hostile to an LD_PRELOAD tracer, with known answers
 * (tests/test_hostile.py). Usage: w_hostile SCENARIO [ARGS].
 *
 *   rawclone N KIND  a child made by a raw clone system call, bypassing
 *                    libc's fork (KIND: clone = syscall(SYS_clone),
 *                    clone3 = syscall(SYS_clone3), asm = the syscall
 *                    instruction inline, no libc at all); the child maps
 *                    N pages from child_map, the parent M=3 from
 *                    parent_map after it reaped the child.
 *   seccomp N [SYS]  installs a seccomp filter that kills the process on
 *                    fallocate and madvise (or only on SYS: a number, for
 *                    a filter that leaves the shim alone), then N
 *                    mmap/munmap pairs from pair_map. Exit 0 when all ran.
 *   seccomp_fork N   installs the fallocate/madvise filter, forks; the
 *                    child makes N pairs and exits 0, the parent waits.
 *   seccomp_exec N   installs the fallocate/madvise filter, then execs
 *                    itself as `seccomp N 101`: the new image starts under
 *                    a filter the shim never saw.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define PG 4096

static void die(const char *what)
{
	fprintf(stderr, "w_hostile: %s: %s\n", what, strerror(errno));
	exit(99);
}

NOINLINE void *child_map(void)
{
	void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	__asm__ volatile("" ::: "memory");
	return p;
}

NOINLINE void *parent_map(void)
{
	void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	__asm__ volatile("" ::: "memory");
	return p;
}

static long asm_fork(void)
{
	long ret;
	/* clone(SIGCHLD, 0, 0, 0, 0): a fork with no libc involved */
	register long r10 __asm__("r10") = 0;
	register long r8 __asm__("r8") = 0;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((long)SYS_clone), "D"((long)SIGCHLD), "S"(0L), "d"(0L), "r"(r10),
			   "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}

static int scenario_rawclone(int n, const char *kind)
{
	long c;
	if (!strcmp(kind, "clone")) {
		c = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	} else if (!strcmp(kind, "clone3")) {
		struct clone_args a;
		memset(&a, 0, sizeof(a));
		a.exit_signal = SIGCHLD;
		c = syscall(SYS_clone3, &a, sizeof(a));
	} else if (!strcmp(kind, "asm")) {
		c = asm_fork();
		if (c < 0) {
			errno = (int)-c;
			c = -1;
		}
	} else {
		fprintf(stderr, "w_hostile: unknown clone kind %s\n", kind);
		return 2;
	}
	if (c < 0)
		die("clone");
	if (c == 0) {
		for (int i = 0; i < n; i++)
			child_map();
		printf("child %d\n", (int)getpid());
		fflush(stdout);
		_exit(0);
	}
	int st;
	if (waitpid((pid_t)c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		die("child");
	for (int i = 0; i < 3; i++)
		parent_map();
	printf("parent %d child %ld\n", (int)getpid(), c);
	return 0;
}

NOINLINE void pair_map(void)
{
	void *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (munmap(p, PG))
		die("munmap");
	__asm__ volatile("" ::: "memory");
}

/* A hand-written filter: kill the process on each listed syscall, allow
 * everything else (a foreign architecture is killed too). */
static void install_filter(const int *nrs, int n)
{
	struct sock_filter f[64];
	int k = 0;
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, arch));
	f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	f[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
					      offsetof(struct seccomp_data, nr));
	for (int i = 0; i < n; i++) {
		f[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], 0, 1);
		f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	}
	f[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog prog = { (unsigned short)k, f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die("PR_SET_NO_NEW_PRIVS");
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		die("PR_SET_SECCOMP");
}

static int scenario_seccomp(int n, int only)
{
	int kill_these[] = { SYS_fallocate, SYS_madvise };
	if (only)
		install_filter(&only, 1);
	else
		install_filter(kill_these, 2);
	for (int i = 0; i < n; i++)
		pair_map();
	printf("pairs %d\n", n);
	return 0;
}

static int scenario_seccomp_fork(int n)
{
	int kill_these[] = { SYS_fallocate, SYS_madvise };
	install_filter(kill_these, 2);
	pid_t c = fork();
	if (c < 0)
		die("fork");
	if (c == 0) {
		for (int i = 0; i < n; i++)
			pair_map();
		printf("child %d pairs %d\n", (int)getpid(), n);
		fflush(stdout);
		_exit(0);
	}
	int st;
	if (waitpid(c, &st, 0) != c)
		die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "w_hostile: child status 0x%x\n", st);
		return 1;
	}
	return 0;
}

static int scenario_seccomp_exec(const char *self, const char *n)
{
	int kill_these[] = { SYS_fallocate, SYS_madvise };
	install_filter(kill_these, 2);
	execl(self, self, "seccomp", n, "101", (char *)NULL);
	die("execl");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: w_hostile SCENARIO [ARGS]\n");
		return 2;
	}
	const char *s = argv[1];
	int a = argc > 2 ? atoi(argv[2]) : 0;
	if (!strcmp(s, "rawclone"))
		return scenario_rawclone(a, argc > 3 ? argv[3] : "clone");
	if (!strcmp(s, "seccomp_fork"))
		return scenario_seccomp_fork(a);
	if (!strcmp(s, "seccomp_exec"))
		return scenario_seccomp_exec(argv[0], argc > 2 ? argv[2] : "1");
	if (!strcmp(s, "seccomp"))
		return scenario_seccomp(a, argc > 3 ? atoi(argv[3]) : 0);
	fprintf(stderr, "w_hostile: unknown scenario %s\n", s);
	return 2;
}
