/* SPDX-License-Identifier: MIT */
/*
 * Signal-stack workloads: mappings the shim cannot interpose (malloc's own
 * mmap/brk/mremap, raw syscalls, glibc's thread stacks), and programs that
 * take the collector's signal over. Each mode prints what the test needs to
 * find the mappings; the same output bare and recorded where the program's
 * behaviour is under test. Usage: w_sigstack MODE
 *   malloc     big_from_malloc (8 MiB malloc: glibc mmaps it), grow_heap
 *              (small mallocs: brk), grow_big (realloc to 16 MiB: mremap),
 *              raw_mapper (syscall(SYS_mmap)), start_worker (a thread: its
 *              stack mmap'd by pthread_create) whose big_in_thread mallocs
 *   own        sigaction() for the signal first, then mappings: our
 *              signal never reaches the handler; raise() does, once
 *   own_signal the same through signal()
 *   ignore     SIG_IGN, then mappings and a raise(): nothing happens
 *   default    SIG_DFL set explicitly, then mappings (a signal would kill)
 *   block      block the signal, map, nothing pending; unblock, map again
 *   errno      50 mappings with errno set before: errno unchanged after
 *   restart    a thread blocks in read() on a pipe while this one maps
 *              200 times: its read returns the byte, never EINTR
 *   race       a thread maps in a loop while main flips the signal between
 *              its own handler and SIG_DFL 20 times: never called by us
 *   fork       the forked child mallocs big (it announces itself again)
 *   altstack   mappings with an alternate signal stack of SIGSTKSZ bytes
 *              (altstackN: N bytes)
 *   onaltstack its own SA_ONSTACK handler (12 KiB alternate stack) maps
 *   rawfork    the same through syscall(SYS_fork): no shim stream of its own
 *   exec       vfork; the child maps by raw syscall and execs `big`
 *   big        big_from_malloc only
 * The signal: $VMAPROF_SIGNAL if set and not 0, else SIGRTMAX-1.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))
#define MiB (1ul << 20)

static int the_signal(void)
{
	const char *v = getenv("VMAPROF_SIGNAL");
	int s = v ? atoi(v) : 0;
	return s > 0 ? s : SIGRTMAX - 1;
}

static unsigned long page_of(void *p)
{
	return (unsigned long)p & ~4095ul;
}

NOINLINE void *big_from_malloc(size_t n)
{
	char *p = malloc(n);
	if (!p)
		exit(99);
	p[0] = 1;
	printf("big 0x%lx\n", page_of(p));
	return p;
}

NOINLINE void grow_heap(void)
{
	char *before = sbrk(0);
	for (int i = 0; i < 2000; i++) {
		char *q = malloc(1000);
		if (!q)
			exit(99);
		q[0] = 1;
	}
	printf("heap 0x%lx 0x%lx\n", (unsigned long)before, (unsigned long)sbrk(0));
}

NOINLINE void *grow_big(void *p)
{
	char *q = realloc(p, 16 * MiB);
	if (!q)
		exit(99);
	q[16 * MiB - 1] = 1;
	printf("moved 0x%lx\n", page_of(q));
	return q;
}

NOINLINE void *raw_mapper(void)
{
	long r = syscall(SYS_mmap, 0, 4 * MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r == -1)
		exit(99);
	printf("raw 0x%lx\n", (unsigned long)r);
	return (void *)r;
}

NOINLINE void *big_in_thread(void)
{
	char *p = malloc(8 * MiB);
	if (!p)
		exit(99);
	p[0] = 1;
	printf("tbig 0x%lx\n", page_of(p));
	return p;
}

static void *worker(void *arg)
{
	pthread_attr_t at;
	void *lo;
	size_t sz;
	pthread_getattr_np(pthread_self(), &at);
	pthread_attr_getstack(&at, &lo, &sz);
	pthread_attr_destroy(&at);
	printf("tstack 0x%lx\n", (unsigned long)lo + sz / 2);
	return big_in_thread();
}

NOINLINE void start_worker(void)
{
	pthread_t t;
	if (pthread_create(&t, NULL, worker, NULL))
		exit(99);
	pthread_join(t, NULL);
}

static void mappings(void)
{
	big_from_malloc(8 * MiB);
	raw_mapper();
}

static volatile sig_atomic_t handled, handled_kernel;

static void on_sig(int sig, siginfo_t *si, void *uc)
{
	handled++;
	if (si->si_code == SI_KERNEL)
		handled_kernel++;
}

static void on_sig_plain(int sig)
{
	handled++;
}

static void *volatile in_handler;

static void on_usr1(int sig)
{
	long r = syscall(SYS_mmap, 0, 4 * MiB, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	in_handler = (void *)r;
}

static int pipefd[2];
static ssize_t got;
static int got_errno;

static void *reader(void *arg)
{
	char b;
	got = read(pipefd[0], &b, 1);
	got_errno = got < 0 ? errno : 0;
	return NULL;
}

NOINLINE void churn(int n)
{
	for (int i = 0; i < n; i++) {
		char *p = malloc(2 * MiB);
		if (!p)
			exit(99);
		p[0] = 1;
		free(p);
	}
}

static volatile int stop_churn, churned;

static void *churner(void *arg)
{
	while (!stop_churn) {
		churn(1);
		churned++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: w_sigstack MODE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	const char *m = argv[1];
	int sig = the_signal();
	if (!strcmp(m, "malloc")) {
		void *p = big_from_malloc(8 * MiB);
		grow_heap();
		grow_big(p);
		raw_mapper();
		start_worker();
	} else if (!strcmp(m, "big")) {
		big_from_malloc(8 * MiB);
	} else if (!strcmp(m, "own") || !strcmp(m, "own_signal")) {
		if (!strcmp(m, "own")) {
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_sigaction = on_sig;
			sa.sa_flags = SA_SIGINFO;
			sigaction(sig, &sa, NULL);
		} else {
			signal(sig, on_sig_plain);
		}
		mappings();
		printf("handled %d from kernel %d\n", (int)handled, (int)handled_kernel);
		raise(sig);
		printf("after raise handled %d from kernel %d\n", (int)handled, (int)handled_kernel);
	} else if (!strcmp(m, "ignore")) {
		signal(sig, SIG_IGN);
		mappings();
		raise(sig);
		printf("survived\n");
	} else if (!strcmp(m, "default")) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigaction(sig, &sa, NULL);
		mappings();
		printf("survived\n");
	} else if (!strcmp(m, "block")) {
		sigset_t s, pend;
		sigemptyset(&s);
		sigaddset(&s, sig);
		sigprocmask(SIG_BLOCK, &s, NULL);
		mappings();
		sigpending(&pend);
		printf("pending %d\n", sigismember(&pend, sig));
		sigprocmask(SIG_UNBLOCK, &s, NULL);
		printf("unblocked\n");
		mappings();
	} else if (!strcmp(m, "errno")) {
		int bad = 0;
		for (int i = 0; i < 50; i++) {
			errno = 1000 + i;
			big_from_malloc(8 * MiB + (size_t)i * 4096);
			bad += errno != 1000 + i;
			errno = 2000 + i;
			raw_mapper();
			bad += errno != 2000 + i;
		}
		printf("errno changed %d\n", bad);
	} else if (!strcmp(m, "restart")) {
		pthread_t t;
		mallopt(M_MMAP_THRESHOLD, 1 << 20); /* every 2 MiB malloc an mmap */
		if (pipe(pipefd) || pthread_create(&t, NULL, reader, NULL))
			return 99;
		churn(200);
		usleep(10000);
		churn(200);
		if (write(pipefd[1], "x", 1) != 1)
			return 99;
		pthread_join(t, NULL);
		printf("read %zd errno %d\n", got, got_errno);
	} else if (!strcmp(m, "race")) {
		/* a thread maps without pause while this one flips the
		 * signal's disposition between its own handler and SIG_DFL:
		 * no signal of ours may reach the handler or kill us */
		pthread_t t;
		mallopt(M_MMAP_THRESHOLD, 1 << 20);
		if (pthread_create(&t, NULL, churner, NULL))
			return 99;
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		while (churned < 20)
			usleep(1000);
		for (int i = 0; i < 20; i++) {
			usleep(2000);
			sa.sa_sigaction = on_sig;
			sa.sa_flags = SA_SIGINFO;
			sigaction(sig, &sa, NULL);
			usleep(2000);
			sa.sa_handler = SIG_DFL;
			sa.sa_flags = 0;
			sigaction(sig, &sa, NULL);
		}
		stop_churn = 1;
		pthread_join(t, NULL);
		printf("handled %d from kernel %d\n", (int)handled, (int)handled_kernel);
	} else if (!strcmp(m, "fork")) {
		pid_t c = fork();
		if (c < 0)
			return 99;
		if (c == 0) {
			big_from_malloc(8 * MiB);
			_exit(0);
		}
		int st;
		if (waitpid(c, &st, 0) != c)
			return 99;
		printf("child %d status %d\n", (int)c, st);
	} else if (!strncmp(m, "altstack", 8)) {
		/* an alternate signal stack (SIGSTKSZ, or altstackN: N bytes):
		 * the handler runs there (SA_ONSTACK) */
		size_t sz = m[8] ? (size_t)atol(m + 8) : (size_t)SIGSTKSZ;
		stack_t ss = { .ss_sp = malloc(sz), .ss_size = sz, .ss_flags = 0 };
		if (!ss.ss_sp || sigaltstack(&ss, NULL))
			return 99;
		mappings();
		grow_heap();
		printf("altstack %zu survived\n", sz);
	} else if (!strcmp(m, "onaltstack")) {
		/* the program's own SA_ONSTACK handler maps (12 KiB alternate
		 * stack): no room there for ours, so no signal */
		stack_t ss = { .ss_sp = malloc(12 << 10), .ss_size = 12 << 10, .ss_flags = 0 };
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_usr1;
		sa.sa_flags = SA_ONSTACK;
		if (!ss.ss_sp || sigaltstack(&ss, NULL) || sigaction(SIGUSR1, &sa, NULL))
			return 99;
		raise(SIGUSR1);
		printf("big 0x%lx\n", page_of(in_handler));
		printf("onaltstack survived\n");
	} else if (!strcmp(m, "rawfork")) {
		long c = syscall(SYS_fork);
		if (c < 0)
			return 99;
		if (c == 0) {
			big_from_malloc(8 * MiB);
			syscall(SYS_exit_group, 0);
		}
		int st;
		if (waitpid((pid_t)c, &st, 0) != c)
			return 99;
		printf("child %d status %d\n", (int)c, st);
	} else if (!strcmp(m, "exec")) {
		pid_t c = vfork();
		if (c < 0)
			return 99;
		if (c == 0) {
			syscall(SYS_mmap, 0, 4 * MiB, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			execl("/proc/self/exe", argv[0], "big", (char *)NULL);
			_exit(98);
		}
		int st;
		if (waitpid(c, &st, 0) != c)
			return 99;
		printf("child %d status %d\n", (int)c, st);
	} else {
		return 2;
	}
	return 0;
}
