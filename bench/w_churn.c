/* SPDX-License-Identifier: MIT */
/*
 * Benchmark workload: mapping churn. N times: mmap 1 MiB of private
 * anonymous memory, write its first page, read its last page, munmap it:
 * two faults in a mapping that did not exist before (one demand-zero, one
 * zero-page on kernels with the shared zero page). A collector that caches
 * VMAs per task misses on every one of these faults. Prints the loop's own
 * wall time (CLOCK_MONOTONIC) and the kernel's fault count for it.
 * usage: w_churn [N]   (default 200000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#define MIB (1ul << 20)

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	struct timespec a, b;
	struct rusage ra, rb;
	unsigned sum = 0;
	if (n < 1)
		return 2;
	getrusage(RUSAGE_SELF, &ra);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		volatile char *p = mmap(NULL, MIB, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			abort();
		p[0] = 1;
		sum += p[MIB - 4096];
		if (munmap((void *)p, MIB))
			abort();
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	getrusage(RUSAGE_SELF, &rb);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	long flt = rb.ru_minflt - ra.ru_minflt;
	printf("loop_ns=%.0f iterations=%ld ns_per_iter=%.1f minflt=%ld ns_per_fault=%.1f sum=%u\n",
	       ns, n, ns / n, flt, flt ? ns / flt : 0.0, sum);
	return 0;
}
