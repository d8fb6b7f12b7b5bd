/* SPDX-License-Identifier: MIT */
/*
 * Write stacks (tests/test_wstack.py): a known number of copy-on-write
 * copies from two named functions in a known ratio.
 *
 *   w_cowstack PAGES [ONE]
 *
 * The parent maps PAGES private anonymous pages (one mmap), writes each
 * once (demand-zero), forks, and waits. The child writes each page once
 * more: page i by write_three() when i % 4 != 3, else by write_one() --
 * 3:1, interleaved so that any sampling of the child's writes sees the
 * ratio -- then exits with _exit (no more copies of that mapping). The
 * parent does not touch the mapping after the fork: the mapping's copies
 * are the child's PAGES, 3/4 of them written by write_three (both called
 * from copy_pages, from main).
 *
 * ONE (default 1) multiplies write_one's copies (tests/test_diff.py: a
 * run whose child's writes from one function grew): the mapping has
 * (ONE - 1) * PAGES / 4 pages more, each written by write_one after the
 * first PAGES, so write_three still copies 3 * PAGES / 4 pages and
 * write_one ONE * PAGES / 4.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) void write_three(volatile char *p)
{
	p[0] = 3;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void write_one(volatile char *p)
{
	p[0] = 1;
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void copy_pages(char *m, long pages, long extra, long ps)
{
	for (long i = 0; i < pages; i++) {
		if (i % 4 != 3)
			write_three(m + i * ps);
		else
			write_one(m + i * ps);
	}
	for (long i = pages; i < pages + extra; i++)
		write_one(m + i * ps);
	__asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	long pages = argc > 1 ? atol(argv[1]) : 4096;
	long one = argc > 2 ? atol(argv[2]) : 1;
	long extra = one > 1 ? (one - 1) * (pages / 4) : 0;
	long ps = sysconf(_SC_PAGESIZE);
	if (pages <= 0 || one <= 0)
		return 1;
	pages += extra; /* the mapping; copy_pages takes the first part back */
	char *m = mmap(NULL, pages * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	if (m == MAP_FAILED)
		return 1;
	madvise(m, pages * ps, MADV_NOHUGEPAGE);
	for (long i = 0; i < pages; i++)
		m[i * ps] = 7;
	pid_t c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		copy_pages(m, pages - extra, extra, ps);
		_exit(0);
	}
	int st;
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		return 1;
	return 0;
}
