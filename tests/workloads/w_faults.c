/* SPDX-License-Identifier: MIT */
/*
 * Fault workloads with known answers for the collector tests, built both
 * dynamically and statically (w_faults_static: no shim can load there).
 * Each scenario prints the ranges it used, so a test can count the faults
 * that fell inside them. Usage: w_faults SCENARIO N
 *   touch N   write-touch N fresh anonymous pages: N demand-zero faults
 *   read N    read-touch N fresh anonymous pages: N demand-zero faults
 *   cow N     touch N pages, fork; the child rewrites them (N copies);
 *             after it exits the parent rewrites them (N reuses)
 *   split N   3N pages: write the first N, mprotect the middle N read-only,
 *             read the middle N, write the last N (3N demand-zero faults,
 *             N on each piece of the split mapping)
 *   grow N    brk: grow the heap by N pages with sbrk and write them
 *   reuse N   N times: map one page, write it, unmap it (the kernel hands
 *             back the same address every time: N entries, one fault each)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096ul

static char *region(unsigned long n)
{
	char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(99);
	}
	/* one fault per 4K page, whatever THP is set to */
	madvise(p, n * PG, MADV_NOHUGEPAGE);
	return p;
}

static void write_all(volatile char *p, unsigned long n, char v)
{
	for (unsigned long i = 0; i < n; i++)
		p[i * PG] = v;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: w_faults touch|read|cow N\n");
		return 2;
	}
	unsigned long n = strtoul(argv[2], NULL, 10);
	setvbuf(stdout, NULL, _IONBF, 0);
	char *p = region(n);
	printf("region 0x%lx %lu\n", (unsigned long)p, n * PG);
	if (!strcmp(argv[1], "touch")) {
		write_all(p, n, 1);
	} else if (!strcmp(argv[1], "read")) {
		volatile char sum = 0;
		for (unsigned long i = 0; i < n; i++)
			sum += p[i * PG];
		(void)sum;
	} else if (!strcmp(argv[1], "cow")) {
		write_all(p, n, 1);
		pid_t c = fork();
		if (c < 0)
			return 99;
		if (c == 0) {
			write_all(p, n, 2);
			_exit(0);
		}
		int st;
		waitpid(c, &st, 0);
		printf("child %d\n", (int)c);
		write_all(p, n, 3);
	} else if (!strcmp(argv[1], "split")) {
		munmap(p, n * PG);
		p = region(3 * n);
		printf("split 0x%lx %lu\n", (unsigned long)p, 3 * n * PG);
		write_all(p, n, 1);
		if (mprotect(p + n * PG, n * PG, PROT_READ))
			return 99;
		volatile char sum = 0;
		for (unsigned long i = 0; i < n; i++)
			sum += p[(n + i) * PG];
		(void)sum;
		write_all(p + 2 * n * PG, n, 1);
	} else if (!strcmp(argv[1], "reuse")) {
		char *first = NULL;
		munmap(p, n * PG);
		for (unsigned long i = 0; i < n; i++) {
			char *q = region(1);
			if (!first)
				first = q;
			if (q != first)
				printf("moved 0x%lx\n", (unsigned long)q);
			write_all(q, 1, 1);
			munmap(q, PG);
		}
		printf("reuse 0x%lx %lu\n", (unsigned long)first, PG);
	} else if (!strcmp(argv[1], "grow")) {
		char *old = sbrk(0);
		char *b = sbrk((intptr_t)(n * PG));
		if (b == (void *)-1)
			return 99;
		printf("heap 0x%lx 0x%lx\n", (unsigned long)old, (unsigned long)sbrk(0));
		write_all(b, n, 1);
	} else {
		return 2;
	}
	return 0;
}
