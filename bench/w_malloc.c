/* SPDX-License-Identifier: MIT */
/*
 * Benchmark workload for signal stacks: N malloc+free of SIZE bytes, each
 * one a glibc-internal mmap+munmap the shim cannot interpose (so the
 * collector signals the thread for every mmap). M_MMAP_THRESHOLD is pinned
 * at 128 KiB: with glibc's dynamic threshold the first free would raise it
 * and every later malloc would come from the heap. Each block is touched
 * once (one fault). Prints the loop's own wall time, as w_pairs does.
 * usage: w_malloc N [SIZE]
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static __attribute__((noinline)) void loop(long n, size_t size)
{
	for (long i = 0; i < n; i++) {
		volatile char *p = malloc(size);
		if (!p)
			abort();
		p[0] = 1;
		free((void *)p);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	size_t size = argc > 2 ? (size_t)atol(argv[2]) : 256 << 10;
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	loop(n, size);
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
	printf("w_malloc n=%ld size=%zu loop_ns=%.0f ns_per_iter=%.0f\n", n, size, ns, ns / (double)n);
	return 0;
}
