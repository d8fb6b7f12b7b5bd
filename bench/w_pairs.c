/* SPDX-License-Identifier: MIT */
/*
 * Benchmark workload: N mmap+munmap pairs of one page from T threads.
 * Prints the loop's own wall time (CLOCK_MONOTONIC), so process start-up
 * and the recorder's set-up are not part of the per-call figure.
 * usage: w_pairs N [T]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

static long n;

static __attribute__((noinline)) void *pairs(void *arg)
{
	for (long i = 0; i < n; i++) {
		void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || munmap(p, 4096))
			abort();
	}
	return arg;
}

int main(int argc, char **argv)
{
	n = argc > 1 ? atol(argv[1]) : 200000;
	int t = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t th[64];
	if (t < 1 || t > 64)
		return 2;
	struct timespec a, b;
	struct rusage ra, rb;
	getrusage(RUSAGE_SELF, &ra);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < t; i++)
		pthread_create(&th[i], NULL, pairs, NULL);
	for (int i = 0; i < t; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	getrusage(RUSAGE_SELF, &rb);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
#define TV(x) ((x).tv_sec * 1e9 + (x).tv_usec * 1e3)
	double user = TV(rb.ru_utime) - TV(ra.ru_utime), sys = TV(rb.ru_stime) - TV(ra.ru_stime);
	printf("loop_ns=%.0f pairs=%ld threads=%d ns_per_pair=%.1f user_ns_per_pair=%.1f "
	       "sys_ns_per_pair=%.1f minflt=%ld\n", ns, n * t, t, ns / (n * t), user / (n * t),
	       sys / (n * t), rb.ru_minflt - ra.ru_minflt);
	return 0;
}
