/* SPDX-License-Identifier: MIT */
/*
 * A long-running program to attach to (`vmaprof record -p`, tests/test_attach.py).
 * Usage: w_attach REGION_PAGES CHILD_PAGES PARENT_PAGES [THREADS]
 *
 * At start it maps REGION_PAGES anonymous pages and writes every one (its
 * region), maps PARENT_PAGES more without touching them, prints
 *   ready pid=P region=0xA region_pages=N spare=0xB threads=T
 * and waits for signals (blocked, taken with sigwaitinfo: the program
 * notices no signal it did not ask for):
 *   SIGUSR1  write the PARENT_PAGES spare pages (PARENT_PAGES demand-zero
 *            faults), then fork a child that rewrites the first CHILD_PAGES
 *            pages of the region (CHILD_PAGES copy-on-write copies) and
 *            exits 0; wait for it; print "forked child=C status=S file=0xF"
 *            (F: where it mapped its own executable, one page, before the
 *            fork, and read it).
 *            With THREADS > 0 the work is done by the first of THREADS extra
 *            threads (so a tracer that marked only the main thread would
 *            miss the fork).
 *   SIGUSR2  print "check region=same|changed minflt=F" (the region's
 *            checksum against the one taken at start; its own fault count)
 *   SIGTERM  exit 0
 * Every line is flushed at once. W_ATTACH_MAPS=N in the environment: N more
 * one-page mappings at start, every other one read-only (so none merge), a
 * /proc/PID/maps of N lines. W_ATTACH_CHAIN=1: the work is done by a chain
 * of threads, each of which sleeps 200 us, starts the next and exits (one
 * alive at a time, always a new one: a tracer must keep marking threads
 * until none is left unmarked, or it misses the fork).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static char *region, *spare;
static long region_pages, child_pages, parent_pages, psz;
static int work_pipe[2], done_pipe[2];

static uint64_t checksum(void)
{
	uint64_t h = 1469598103934665603ull;
	for (long i = 0; i < region_pages * psz; i += 64)
		h = (h ^ (unsigned char)region[i]) * 1099511628211ull;
	return h;
}

static char *guarded(long pages)
{
	char *p = mmap(NULL, (pages + 2) * psz, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || mprotect(p + psz, pages * psz, PROT_READ | PROT_WRITE))
		return NULL;
	return p + psz;
}

static void work(void)
{
	for (long i = 0; i < parent_pages; i++)
		spare[i * psz] = 1;
	/* a file mapped now (after any attach): its own executable, read */
	char *file = MAP_FAILED;
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		file = mmap(NULL, (size_t)psz, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
	}
	if (file != MAP_FAILED && file[0] != 0x7f)
		_exit(3);
	pid_t c = fork();
	if (c == 0) {
		for (long i = 0; i < child_pages; i++)
			region[i * psz] = (char)(region[i * psz] + 1);
		_exit(0);
	}
	int st = -1;
	if (c > 0)
		waitpid(c, &st, 0);
	printf("forked child=%d status=%d file=%p\n", (int)c, st,
	       file == MAP_FAILED ? NULL : (void *)file);
	fflush(stdout);
}

static atomic_int want_work;

static void *chain(void *arg)
{
	(void)arg;
	usleep(200);
	if (atomic_exchange(&want_work, 0)) {
		work();
		if (write(done_pipe[1], "d", 1) != 1)
			_exit(1);
	}
	pthread_attr_t at;
	pthread_t t;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	while (pthread_create(&t, &at, chain, NULL))
		usleep(100);
	return NULL;
}

static void *worker(void *arg)
{
	char b;
	while (arg && read(work_pipe[0], &b, 1) == 1) {
		work();
		if (write(done_pipe[1], "d", 1) != 1)
			break;
	}
	for (;;)
		pause(); /* the other threads: just exist */
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: w_attach REGION_PAGES CHILD_PAGES PARENT_PAGES [THREADS]\n");
		return 2;
	}
	psz = sysconf(_SC_PAGESIZE);
	region_pages = atol(argv[1]);
	child_pages = atol(argv[2]);
	parent_pages = atol(argv[3]);
	int threads = argc > 4 ? atoi(argv[4]) : 0;
	if (region_pages <= 0 || child_pages < 0 || child_pages > region_pages || parent_pages < 0)
		return 2;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* threads inherit the mask */
	/* each between PROT_NONE guard pages: never merged with a neighbour,
	 * so its VMA holds its faults only */
	region = guarded(region_pages);
	spare = guarded(parent_pages ? parent_pages : 1);
	if (!region || !spare)
		return 1;
	long extra = getenv("W_ATTACH_MAPS") ? atol(getenv("W_ATTACH_MAPS")) : 0;
	for (long i = 0; i < extra; i++)
		if (mmap(NULL, psz, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
			return 1;
	for (long i = 0; i < region_pages; i++)
		memset(region + i * psz, (int)(i * 7 + 1), (size_t)psz);
	uint64_t sum0 = checksum();
	if (pipe(work_pipe) || pipe(done_pipe))
		return 1;
	for (int i = 0; i < threads; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, worker, i == 0 ? (void *)1 : NULL))
			return 1;
	}
	int chained = getenv("W_ATTACH_CHAIN") && atoi(getenv("W_ATTACH_CHAIN"));
	if (chained) {
		pthread_t t;
		if (pthread_create(&t, NULL, chain, NULL) || pthread_detach(t))
			return 1;
	}
	printf("ready pid=%d region=%p region_pages=%ld spare=%p threads=%d\n", (int)getpid(),
	       (void *)region, region_pages, (void *)spare, threads);
	fflush(stdout);
	for (;;) {
		int sig = sigwaitinfo(&set, NULL);
		if (sig == SIGUSR1) {
			char b;
			if (chained) {
				atomic_store(&want_work, 1);
				if (read(done_pipe[0], &b, 1) != 1)
					return 1;
			} else if (threads) {
				if (write(work_pipe[1], "w", 1) != 1 || read(done_pipe[0], &b, 1) != 1)
					return 1;
			} else {
				work();
			}
		} else if (sig == SIGUSR2) {
			struct rusage ru;
			getrusage(RUSAGE_SELF, &ru);
			printf("check region=%s minflt=%ld\n", checksum() == sum0 ? "same" : "changed",
			       ru.ru_minflt);
			fflush(stdout);
		} else if (sig == SIGTERM) {
			return 0;
		}
	}
}
