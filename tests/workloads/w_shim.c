/* SPDX-License-Identifier: MIT */
/*
 * Workloads with known answers for the shim tests. Each scenario makes its
 * mappings from named, non-inlined functions, so a test can demand that
 * exact function in the recorded stack. Usage: w_shim SCENARIO [ARGS].
 * Exit 0 means the program itself saw what it expected (results, errno).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define PG 4096

extern char **environ;
static const char *self;

static void die(const char *what)
{
	fprintf(stderr, "w_shim: %s: %s\n", what, strerror(errno));
	exit(99);
}

NOINLINE void *map_from_here(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	__asm__ volatile("" ::: "memory"); /* keep the call a call, not a tail call */
	return p;
}

NOINLINE void unmap_from_here(void *p, size_t len)
{
	if (munmap(p, len))
		die("munmap");
	__asm__ volatile("" ::: "memory");
}

/* maps N: N mappings from map_from_here, then mprotect/madvise/mremap of
 * the last one from their own functions, then unmap all. */
NOINLINE void protect_here(void *p) { if (mprotect(p, PG, PROT_READ)) die("mprotect"); __asm__ volatile("" ::: "memory"); }
NOINLINE void advise_here(void *p) { if (madvise(p, PG, MADV_DONTNEED)) die("madvise"); __asm__ volatile("" ::: "memory"); }
NOINLINE void *remap_here(void *p) { void *q = mremap(p, PG, 4 * PG, MREMAP_MAYMOVE); if (q == MAP_FAILED) die("mremap"); __asm__ volatile("" ::: "memory"); return q; }

static int scenario_maps(int n)
{
	void *last = NULL;
	for (int i = 0; i < n; i++) {
		void *p = map_from_here(PG);
		if (i == n - 1)
			last = p;
		else
			unmap_from_here(p, PG);
	}
	protect_here(last);
	advise_here(last);
	last = remap_here(last);
	unmap_from_here(last, 4 * PG);
	return 0;
}

NOINLINE void *thread_worker(void *arg)
{
	long n = (long)arg;
	for (long i = 0; i < n; i++)
		unmap_from_here(map_from_here(PG), PG);
	return NULL;
}

static int scenario_threads(int t, long n)
{
	pthread_t th[64];
	if (t > 64)
		t = 64;
	for (int i = 0; i < t; i++)
		if (pthread_create(&th[i], NULL, thread_worker, (void *)n))
			die("pthread_create");
	for (int i = 0; i < t; i++)
		pthread_join(th[i], NULL);
	return 0;
}

NOINLINE void child_maps(int k)
{
	for (int i = 0; i < k; i++)
		map_from_here(PG);
}

/* fork K: the child maps K regions from child_maps; the parent maps one
 * after the child is gone. */
static int scenario_fork(int k)
{
	pid_t p = fork();
	if (p < 0)
		die("fork");
	if (p == 0) {
		child_maps(k);
		_exit(0);
	}
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	map_from_here(PG);
	printf("child %d\n", (int)p);
	return 0;
}

/* vfork: the child execs `self maps 1`; the parent then maps once. A stack
 * variable written before vfork must read the same after it. */
static int scenario_vfork(void)
{
	volatile int canary = 0x5a5a;
	pid_t p = vfork();
	if (p < 0)
		die("vfork");
	if (p == 0) {
		execl(self, "w_shim", "maps", "1", (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	map_from_here(PG);
	printf("child %d\n", (int)p);
	return canary == 0x5a5a ? 0 : 2;
}

/* spawn: posix_spawn `self maps 2` with an empty environment. */
static int scenario_spawn(int use_p)
{
	pid_t p;
	char *argv[] = { "w_shim", "maps", "2", NULL };
	char *envp[] = { "FOO=bar", NULL };
	int r = use_p ? posix_spawnp(&p, self, NULL, NULL, argv, envp)
		      : posix_spawn(&p, self, NULL, NULL, argv, envp);
	if (r) {
		errno = r;
		die("posix_spawn");
	}
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	printf("child %d\n", (int)p);
	return 0;
}

/* execfresh: execve `self maps 3` with an environment lacking everything. */
static int scenario_execfresh(void)
{
	char *argv[] = { "w_shim", "maps", "3", NULL };
	char *envp[] = { NULL };
	execve(self, argv, envp);
	die("execve");
	return 1;
}

/* fexecve / execveat of `self maps 2` with an empty environment. */
static int scenario_fdexec(int at)
{
	char *argv[] = { "w_shim", "maps", "2", NULL };
	char *envp[] = { NULL };
	int fd = open(self, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("open self");
	if (at)
		execveat(fd, "", argv, envp, AT_EMPTY_PATH);
	else
		fexecve(fd, argv, envp);
	die(at ? "execveat" : "fexecve");
	return 1;
}

/* clone: a process made with clone(2)'s glibc wrapper maps K regions. */
static int clone_fn(void *arg)
{
	child_maps((int)(long)arg);
	return 0;
}

static int scenario_clone(int k)
{
	size_t sz = 256 * 1024;
	char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (stack == MAP_FAILED)
		die("mmap stack");
	pid_t p = clone(clone_fn, stack + sz, SIGCHLD, (void *)(long)k);
	if (p < 0)
		die("clone");
	int st;
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	printf("child %d\n", (int)p);
	return 0;
}

/* closefds N: close every descriptor like a daemon, open a file of our
 * own, make N mappings (several trace segments), and check the file was
 * left alone. */
static int scenario_closefds(int n)
{
	for (int fd = 3; fd < 4096; fd++)
		close(fd);
	char path[] = "/tmp/w_shim.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("mkstemp");
	unlink(path);
	static const char msg[] = "precious data";
	if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		die("write");
	for (int i = 0; i < n; i++)
		unmap_from_here(map_from_here(PG), PG);
	char buf[64] = { 0 };
	if (pread(fd, buf, sizeof(buf), 0) != (ssize_t)sizeof(msg) || memcmp(buf, msg, sizeof(msg)))
		return 3;
	return 0;
}

/* execfail: an exec that fails, then tracing goes on. */
static int scenario_execfail(void)
{
	char *argv[] = { "nope", NULL };
	execv("/nonexistent/vmaprof-test", argv);
	int e = errno;
	map_from_here(PG);
	return e == ENOENT ? 0 : 1;
}

/* killme N: N mappings, then SIGKILL ourselves. */
static int scenario_killme(int n)
{
	for (int i = 0; i < n; i++)
		map_from_here(PG);
	kill(getpid(), SIGKILL);
	return 1;
}

/* abortme N: N mappings, then abort(). */
static int scenario_abortme(int n)
{
	for (int i = 0; i < n; i++)
		map_from_here(PG);
	signal(SIGABRT, SIG_DFL);
	abort();
}

/* exitcode N: _exit(N) after one mapping. */
static int scenario_exitcode(int n)
{
	map_from_here(PG);
	_exit(n);
}

/* errno: failing calls must fail exactly as without the shim. */
static int scenario_errno(void)
{
	int bad = 0;
	errno = 1234;
	void *p = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED || errno != EINVAL) {
		fprintf(stderr, "mmap len 0: %p errno %d\n", p, errno);
		bad++;
	}
	errno = 1234;
	int r = munmap((void *)1, PG);
	if (r != -1 || errno != EINVAL) {
		fprintf(stderr, "munmap unaligned: %d errno %d\n", r, errno);
		bad++;
	}
	errno = 1234;
	r = mprotect((void *)1, PG, PROT_READ);
	if (r != -1 || errno != EINVAL) {
		fprintf(stderr, "mprotect unaligned: %d errno %d\n", r, errno);
		bad++;
	}
	/* success leaves errno alone */
	errno = 4321;
	p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || errno != 4321) {
		fprintf(stderr, "mmap ok: errno changed to %d\n", errno);
		bad++;
	}
	errno = 4321;
	if (munmap(p, PG) != 0 || errno != 4321) {
		fprintf(stderr, "munmap ok: errno changed to %d\n", errno);
		bad++;
	}
	return bad;
}

/* dlopen: a library loaded later still symbolizes (maps snapshot). */
static int scenario_dlopen(void)
{
	void *h = dlopen("libm.so.6", RTLD_NOW);
	if (!h)
		return 1;
	map_from_here(PG);
	return 0;
}

int main(int argc, char **argv)
{
	self = "/proc/self/exe";
	static char exe[4096];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (l > 0) {
		exe[l] = 0;
		self = exe;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: w_shim SCENARIO [ARGS]\n");
		return 2;
	}
	const char *s = argv[1];
	int a = argc > 2 ? atoi(argv[2]) : 0;
	long b = argc > 3 ? atol(argv[3]) : 0;
	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(s, "maps")) return scenario_maps(a);
	if (!strcmp(s, "threads")) return scenario_threads(a, b);
	if (!strcmp(s, "fork")) return scenario_fork(a);
	if (!strcmp(s, "vfork")) return scenario_vfork();
	if (!strcmp(s, "spawn")) return scenario_spawn(0);
	if (!strcmp(s, "spawnp")) return scenario_spawn(1);
	if (!strcmp(s, "execfresh")) return scenario_execfresh();
	if (!strcmp(s, "execfail")) return scenario_execfail();
	if (!strcmp(s, "fexecve")) return scenario_fdexec(0);
	if (!strcmp(s, "execveat")) return scenario_fdexec(1);
	if (!strcmp(s, "clone")) return scenario_clone(a);
	if (!strcmp(s, "closefds")) return scenario_closefds(a);
	if (!strcmp(s, "killme")) return scenario_killme(a);
	if (!strcmp(s, "abortme")) return scenario_abortme(a);
	if (!strcmp(s, "exitcode")) return scenario_exitcode(a);
	if (!strcmp(s, "errno")) return scenario_errno();
	if (!strcmp(s, "dlopen")) return scenario_dlopen();
	fprintf(stderr, "w_shim: unknown scenario %s\n", s);
	return 2;
}
