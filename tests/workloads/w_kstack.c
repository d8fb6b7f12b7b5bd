/* SPDX-License-Identifier: MIT */
/*
 * Mappings from named functions, for the kernel stacks (VP_REC_KSTACK):
 * built statically (w_kstack_static: no shim can load, every stack is the
 * collector's) and dynamically (w_kstack: to be attached to with
 * `record -p`, where no shim runs either). Built without frame pointers:
 * the analyzer must unwind with the modules' CFI.
 * Usage: w_kstack SCENARIO ...
 *   maps A B   map_a() A times (one page each), map_b() B times (two pages
 *              each); every mapping written once and kept
 *   loop N [D] N times: mmap one page, write it, munmap it (the bench);
 *              D levels of 1 KiB frames below main first (default 0)
 *   wait A B   print "ready PID", wait for a line on stdin, then `maps A B`,
 *              print "done", wait for another line, exit
 *   deep D     deep_call() D levels deep, 1 KiB of stack each, then map_a()
 *              once: a stack deeper than the collector's copy
 *   files DIR  map_file() of files it makes in DIR (bpf/README.md "File
 *              paths of mappings"), each read once and kept: DIR/named.dat
 *              3 times (2 pages each), DIR/deleted.dat once (3 pages,
 *              unlinked before it is mapped), and once (5 pages) long.dat
 *              under 21 nested directories of 200-byte names (a path
 *              longer than PATH_MAX, reached by chdir)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PG 4096ul

static __attribute__((noinline)) char *map_pages(unsigned long n)
{
	char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(99);
	}
	p[0] = 1;
	return p;
}

__attribute__((noinline)) void map_a(void)
{
	map_pages(1);
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

__attribute__((noinline)) void map_b(void)
{
	map_pages(2);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) long deep_call(long d)
{
	volatile char pad[1024];
	pad[0] = (char)d;
	if (d <= 0)
		map_a();
	else
		pad[1] = (char)deep_call(d - 1);
	return pad[0] + pad[1];
}

static __attribute__((noinline)) int loop(long n, long d)
{
	volatile char pad[1024];
	pad[0] = 0;
	if (d > 0)
		return loop(n, d - 1) + pad[0];
	for (long i = 0; i < n; i++) {
		char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 99;
		p[0] = 1;
		munmap(p, PG);
	}
	return pad[0];
}

static void maps(long a, long b)
{
	for (long i = 0; i < a; i++)
		map_a();
	for (long i = 0; i < b; i++)
		map_b();
}

/* The file mapping whose stack the kernel takes: pages of fd, read once. */
__attribute__((noinline)) void map_file(int fd, unsigned long pages)
{
	volatile char *p = mmap(NULL, pages * PG, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		perror("mmap file");
		exit(99);
	}
	(void)p[0];
	__asm__ volatile("" ::: "memory");
}

/* A new file `name` (relative to the current directory) of `pages` pages. */
static int make_file(const char *name, unsigned long pages)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)(pages * PG))) {
		perror(name);
		exit(98);
	}
	return fd;
}

static void files(const char *dir)
{
	char comp[201];
	int fd;

	if (chdir(dir)) {
		perror(dir);
		exit(98);
	}
	fd = make_file("named.dat", 2);
	for (int i = 0; i < 3; i++)
		map_file(fd, 2);
	close(fd);
	fd = make_file("deleted.dat", 3);
	unlink("deleted.dat");
	map_file(fd, 3);
	close(fd);
	memset(comp, 'd', 200);
	comp[200] = 0;
	for (int i = 0; i < 21; i++)
		if (mkdir(comp, 0755) || chdir(comp)) {
			perror("nested directory");
			exit(98);
		}
	fd = make_file("long.dat", 5);
	map_file(fd, 5);
	close(fd);
}

static void wait_line(void)
{
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		exit(0);
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "maps")) {
		maps(atol(argv[2]), atol(argv[3]));
	} else if (argc >= 3 && !strcmp(argv[1], "loop")) {
		return loop(atol(argv[2]), argc >= 4 ? atol(argv[3]) : 0);
	} else if (argc >= 3 && !strcmp(argv[1], "files")) {
		files(argv[2]);
	} else if (argc >= 3 && !strcmp(argv[1], "deep")) {
		deep_call(atol(argv[2]));
	} else if (argc >= 4 && !strcmp(argv[1], "wait")) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		wait_line();
		maps(atol(argv[2]), atol(argv[3]));
		printf("done\n");
		fflush(stdout);
		wait_line();
	} else {
		fprintf(stderr, "usage: w_kstack maps A B | loop N | wait A B | deep D | files DIR\n");
		return 2;
	}
	return 0;
}
