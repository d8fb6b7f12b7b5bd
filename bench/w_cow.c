/* SPDX-License-Identifier: MIT */
/*
 * Benchmark workload 3, the fork-and-write storm: touch MIB MiB of private
 * anonymous memory (one write per 4 KiB page: demand-zero faults; no huge
 * pages, whatever the host's THP setting), fork, and
 * let the child rewrite all of it (copy-on-write copies) while the parent
 * waits. Prints the storm's own wall time and the page count.
 * usage: w_cow [MIB]   (default 512)
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void write_all(volatile char *p, size_t pages, char v)
{
	for (size_t i = 0; i < pages; i++)
		p[i * 4096] = v;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
	size_t pages = mib << 8;
	struct timespec a, b;
	if (!mib)
		return 2;
	clock_gettime(CLOCK_MONOTONIC, &a);
	char *p = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	if (p == MAP_FAILED)
		return 3;
	/* one fault per 4 KiB page on every host, THP "always" too (a kernel
	 * without THP refuses the advice: its pages are small anyway) */
	madvise(p, pages * 4096, MADV_NOHUGEPAGE);
	write_all(p, pages, 1);
	pid_t c = fork();
	if (c < 0)
		return 4;
	if (c == 0) {
		write_all(p, pages, 2);
		_exit(0);
	}
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		return 5;
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("storm_ns=%.0f pages=%zu\n",
	       (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec), pages);
	return 0;
}
