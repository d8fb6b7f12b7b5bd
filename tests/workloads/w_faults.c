/* SPDX-License-Identifier: MIT */
/*
 * Fault workloads with known answers for the collector tests, built both
 * dynamically and statically (w_faults_static: no shim can load there).
 * Each scenario prints the ranges it used, so a test can count the faults
 * that fell inside them. Usage: w_faults SCENARIO N
 *   touch N   write-touch N fresh anonymous pages: N demand-zero faults
 *   read N    read-touch N fresh anonymous pages: Z of them map the shared
 *             zero page (zero_page faults, printed as "zeropages Z", read off
 *             /proc/self/pagemap), the rest allocate (demand_zero)
 *   readwrite N  read N fresh pages, then write them: zero_page Z,
 *             demand_zero N (the writes replace the zero page), no copies
 *   forkzero N   read N fresh pages (Z map the zero page), fork; the child
 *             writes them (N-Z copies, Z zero-filled), exits; the parent then
 *             writes them (Z zero-filled, N-Z reuses)
 *   calloc N  calloc N pages (glibc mmaps them), read them, write them
 *   populate|madvpop|madvread|mlock|maplocked|mlockall N
 *             fault N pages in through a syscall (MAP_POPULATE,
 *             MADV_POPULATE_WRITE/READ, mlock, MAP_LOCKED, mlockall
 *             MCL_FUTURE): no fault event; then write them all
 *   shared N K   MAP_SHARED|MAP_ANONYMOUS N pages written by the parent, then
 *             by each of K children in turn (shmem faults; only the parent's
 *             allocate)
 *   memfd N   a memfd of N pages mapped shared, written
 *   tmpfile N K DIR   the same with a file of N pages in DIR (a tmpfs there:
 *             shmem faults, whatever the path)
 *   segv N    N PROT_NONE pages touched in turn: each write fails (SIGSEGV,
 *             a fault event the kernel does not count), the handler makes
 *             the page writable, the write is retried (a demand-zero fault)
 *   writeout N   MAP_SHARED|MAP_ANONYMOUS N pages written by the parent; a
 *             child write(2)s them to a file without touching them first:
 *             the kernel's atomic copy faults (page faults disabled, nothing
 *             happens) then faults each page in once: N shmem faults
 *   cow N     touch N pages, fork; the child rewrites them (N copies);
 *             after it exits the parent rewrites them (N reuses)
 *   split N   3N pages: write the first N, mprotect the middle N read-only,
 *             read the middle N, write the last N (3N demand-zero faults,
 *             N on each piece of the split mapping)
 *   grow N    brk: grow the heap by N pages with sbrk and write them
 *   reusefor MS  the same for at least MS milliseconds ("reused N": how often)
 *   reuse N   N times: map one page, write it, unmap it (the kernel hands
 *             back the same address every time: N entries, one fault each)
 *   stack N   grow the stack by N pages below the stack pointer, touched
 *             top-down: the kernel extends [stack] (N demand-zero faults)
 *   churn N   N times: map 1 MiB, write its first page, read its last, unmap
 *             it (bench/w_churn's loop): N demand-zero faults, and Z
 *             zero-page reads (printed as "churnzero Z", from pagemap before
 *             each unmap), the other N - Z reads allocate
 *   vmwrite N process_vm_writev(2) into N fresh pages of its own: the kernel
 *             faults them in (get_user_pages) without fault events, in a
 *             system call the collector does not hook
 *   inlined N map N pages through an always-inlined helper, from a function
 *             of its own (prints "inlined CALL CALLEE": the line of the call
 *             and of the mmap in the helper), and write them
 *   faultread N DIR  write N pages to an unnamed file in DIR, drop them from
 *             the page cache (prints "cold C": pages not resident after),
 *             write-touch one fresh page (region), then at once read(2) the
 *             file: the read allocates page cache after the fault returned
 * W_FAULTS_ME=TAG in the environment: first print "me TAG PID pid:[NS]", the
 * pid getpid() gives and the PID namespace /proc/self/ns/pid names.
 */
#include <stdint.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096ul

/* The helper mode inlined maps through, inlined into inlined_region. */
static inline __attribute__((always_inline)) char *inl_region(unsigned long n, int *callee)
{
	char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); *callee = __LINE__;
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(99);
	}
	return p;
}

__attribute__((noinline)) char *inlined_region(unsigned long n)
{
	int callee;
	char *p = inl_region(n, &callee); int call = __LINE__;
	printf("inlined %d %d\n", call, callee);
	return p;
}

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

/* Fork; the child rewrites the n pages and exits; once it is gone the
 * parent rewrites them too. Prints "child PID". 0, or -1 if fork failed. */
static int fork_rewrite(char *p, unsigned long n)
{
	pid_t c = fork();
	if (c < 0)
		return -1;
	if (c == 0) {
		write_all(p, n, 2);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	printf("child %d\n", (int)c);
	write_all(p, n, 3);
	return 0;
}

static void read_all(volatile char *p, unsigned long n)
{
	volatile char sum = 0;
	for (unsigned long i = 0; i < n; i++)
		sum += p[i * PG];
	(void)sum;
}

/* Pages of [p, p + n pages) that map the shared zero page, as the kernel
 * says in /proc/self/pagemap: present, but not an exclusively mapped page
 * of ours (call it before any fork). -1 if pagemap cannot be read. */
static long zero_pages(const char *p, unsigned long n)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	long z = 0;
	if (fd < 0)
		return -1;
	for (unsigned long i = 0; i < n; i++) {
		uint64_t e;
		if (pread(fd, &e, 8, (off_t)(((uintptr_t)p / PG + i) * 8)) != 8) {
			close(fd);
			return -1;
		}
		z += (e >> 63 & 1) && !(e >> 56 & 1);
	}
	close(fd);
	return z;
}

static void unprotect(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	char *page = (char *)((uintptr_t)si->si_addr & ~(PG - 1));
	if (mprotect(page, PG, PROT_READ | PROT_WRITE))
		_exit(97);
}

static char *locked_region(const char *how, unsigned long n)
{
	int extra = !strcmp(how, "populate") ? MAP_POPULATE : !strcmp(how, "maplocked") ? MAP_LOCKED : 0;
	if (!strcmp(how, "mlockall") && mlockall(MCL_FUTURE)) {
		perror("mlockall");
		exit(99);
	}
	char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | extra,
		       -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(99);
	}
	int r = 0;
	if (!strcmp(how, "madvpop"))
		r = madvise(p, n * PG, MADV_POPULATE_WRITE);
	else if (!strcmp(how, "madvread"))
		r = madvise(p, n * PG, MADV_POPULATE_READ);
	else if (!strcmp(how, "mlock"))
		r = mlock(p, n * PG);
	if (r) {
		perror(how);
		exit(99);
	}
	if (!strcmp(how, "mlockall"))
		munlockall();
	return p;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: w_faults SCENARIO N [K]\n");
		return 2;
	}
	unsigned long n = strtoul(argv[2], NULL, 10);
	setvbuf(stdout, NULL, _IONBF, 0);
	/* W_FAULTS_ME=TAG: say who we are to ourselves first (tests/test_pidns.py) */
	const char *me = getenv("W_FAULTS_ME");
	if (me) {
		char ns[64];
		ssize_t l = readlink("/proc/self/ns/pid", ns, sizeof(ns) - 1);
		ns[l > 0 ? l : 0] = 0;
		printf("me %s %d %s\n", me, (int)getpid(), ns);
	}
	/* 4K pages everywhere, whatever THP is set to (MAP_POPULATE cannot be
	 * preceded by a madvise) */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	const char *how = argv[1];
	if (!strcmp(how, "populate") || !strcmp(how, "madvpop") || !strcmp(how, "madvread") ||
	    !strcmp(how, "mlock") || !strcmp(how, "maplocked") || !strcmp(how, "mlockall")) {
		char *q = locked_region(how, n);
		printf("region 0x%lx %lu\n", (unsigned long)q, n * PG);
		printf("zeropages %ld\n", zero_pages(q, n));
		write_all(q, n, 1);
		return 0;
	}
	if (!strcmp(how, "shared") || !strcmp(how, "memfd") || !strcmp(how, "tmpfile")) {
		int fd = -1, flags = MAP_SHARED | MAP_ANONYMOUS;
		if (!strcmp(how, "tmpfile")) {
			char path[4096];
			if (argc < 5)
				return 2;
			snprintf(path, sizeof(path), "%s/w_faults.shm", argv[4]);
			fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || ftruncate(fd, (off_t)(n * PG)))
				return 99;
			flags = MAP_SHARED;
		} else if (!strcmp(how, "memfd")) {
			fd = memfd_create("w_faults", 0);
			if (fd < 0 || ftruncate(fd, (off_t)(n * PG)))
				return 99;
			flags = MAP_SHARED;
		}
		char *q = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, flags, fd, 0);
		if (q == MAP_FAILED)
			return 99;
		printf("region 0x%lx %lu\n", (unsigned long)q, n * PG);
		write_all(q, n, 1);
		unsigned long kids = argc > 3 ? strtoul(argv[3], NULL, 10) : 0;
		for (unsigned long k = 0; k < kids; k++) {
			pid_t c = fork();
			if (c < 0)
				return 99;
			if (c == 0) {
				write_all(q, n, (char)(2 + k));
				_exit(0);
			}
			int st;
			waitpid(c, &st, 0);
			printf("child %d\n", (int)c);
		}
		return 0;
	}
	if (!strcmp(how, "segv")) {
		struct sigaction sa = { .sa_sigaction = unprotect, .sa_flags = SA_SIGINFO };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGSEGV, &sa, NULL);
		char *q = region(n);
		if (mprotect(q, n * PG, PROT_NONE))
			return 99;
		printf("region 0x%lx %lu\n", (unsigned long)q, n * PG);
		write_all(q, n, 1);
		return 0;
	}
	if (!strcmp(how, "writeout")) {
		char *q = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (q == MAP_FAILED)
			return 99;
		printf("region 0x%lx %lu\n", (unsigned long)q, n * PG);
		write_all(q, n, 1);
		pid_t c = fork();
		if (c < 0)
			return 99;
		if (c == 0) {
			/* into a memfd, not a file of whatever /tmp is: the write path
			 * (copy with faults disabled, then fault in) is the kernel's
			 * generic one on every host, whatever its file systems */
			int fd = memfd_create("w_faults-out", 0);
			if (fd < 0)
				_exit(98);
			for (unsigned long i = 0; i < n; i++) /* a page per call, like a database */
				if (write(fd, q + i * PG, PG) != (ssize_t)PG)
					_exit(98);
			_exit(0);
		}
		int st;
		waitpid(c, &st, 0);
		printf("child %d status %d\n", (int)c, st);
		return 0;
	}
	if (!strcmp(how, "calloc")) {
		char *q = calloc(n, PG);
		if (!q)
			return 99;
		uintptr_t lo = (uintptr_t)q & ~(PG - 1);
		unsigned long len = (((uintptr_t)q + n * PG + PG - 1) & ~(PG - 1)) - lo;
		printf("calloc 0x%lx %lu\n", (unsigned long)lo, len);
		read_all((char *)lo, len / PG);
		printf("zeropages %ld\n", zero_pages((char *)lo, len / PG));
		write_all((char *)lo, len / PG, 1);
		return 0;
	}
	if (!strcmp(how, "vmwrite")) {
		char *src = region(n), *q = region(n);
		write_all(src, n, 1);
		struct iovec l = { src, n * PG }, r = { q, n * PG };
		if (process_vm_writev(getpid(), &l, 1, &r, 1, 0) != (ssize_t)(n * PG))
			return 99;
		printf("region 0x%lx %lu\n", (unsigned long)q, n * PG);
		return 0;
	}
	if (!strcmp(how, "faultread") && argc > 3) {
		char *buf = region(n);
		write_all(buf, n, 1);
		int fd = open(argv[3], O_TMPFILE | O_RDWR, 0600);
		if (fd < 0 || write(fd, buf, n * PG) != (ssize_t)(n * PG) || fsync(fd) ||
		    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED))
			return 99;
		char *m = mmap(NULL, n * PG, PROT_READ, MAP_SHARED, fd, 0);
		unsigned char *vec = malloc(n);
		if (m == MAP_FAILED || !vec || mincore(m, n * PG, vec))
			return 99;
		unsigned long cold = 0;
		for (unsigned long i = 0; i < n; i++)
			cold += !(vec[i] & 1);
		munmap(m, n * PG);
		printf("cold %lu\n", cold);
		char *q = region(1);
		if (lseek(fd, 0, SEEK_SET) != 0)
			return 99;
		q[0] = 1; /* the fault; no hooked system call until after the read */
		if (read(fd, buf, n * PG) != (ssize_t)(n * PG))
			return 99;
		printf("region 0x%lx %lu\n", (unsigned long)q, PG);
		return 0;
	}
	if (!strcmp(argv[1], "inlined")) {
		char *q = inlined_region(n);
		printf("region 0x%lx %lu\n", (unsigned long)q, n * PG);
		write_all(q, n, 1);
		return 0;
	}
	char *p = region(n);
	printf("region 0x%lx %lu\n", (unsigned long)p, n * PG);
	if (!strcmp(argv[1], "touch")) {
		write_all(p, n, 1);
	} else if (!strcmp(argv[1], "read")) {
		read_all(p, n);
		printf("zeropages %ld\n", zero_pages(p, n));
	} else if (!strcmp(argv[1], "readwrite")) {
		read_all(p, n);
		printf("zeropages %ld\n", zero_pages(p, n));
		write_all(p, n, 1);
	} else if (!strcmp(argv[1], "forkzero")) {
		read_all(p, n);
		printf("zeropages %ld\n", zero_pages(p, n));
		if (fork_rewrite(p, n))
			return 99;
	} else if (!strcmp(argv[1], "cow")) {
		write_all(p, n, 1);
		if (fork_rewrite(p, n))
			return 99;
	} else if (!strcmp(argv[1], "split")) {
		munmap(p, n * PG);
		p = region(3 * n);
		printf("split 0x%lx %lu\n", (unsigned long)p, 3 * n * PG);
		write_all(p, n, 1);
		if (mprotect(p + n * PG, n * PG, PROT_READ))
			return 99;
		read_all(p + n * PG, n);
		printf("zeropages %ld\n", zero_pages(p + n * PG, n));
		write_all(p + 2 * n * PG, n, 1);
	} else if (!strcmp(argv[1], "reuse") || !strcmp(argv[1], "reusefor")) {
		/* reusefor MS: as reuse, for at least MS milliseconds; prints
		 * how many times ("reused N") */
		char *first = NULL;
		int timed = argv[1][5] == 'f';
		struct timespec t0, t;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		munmap(p, n * PG);
		unsigned long i;
		for (i = 0; timed || i < n; i++) {
			if (timed && !(i & 255)) {
				clock_gettime(CLOCK_MONOTONIC, &t);
				if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >=
				    (long)n)
					break;
			}
			char *q = region(1);
			if (!first)
				first = q;
			if (q != first)
				printf("moved 0x%lx\n", (unsigned long)q);
			write_all(q, 1, 1);
			munmap(q, PG);
		}
		printf("reuse 0x%lx %lu\n", (unsigned long)first, PG);
		if (timed)
			printf("reused %lu\n", i);
	} else if (!strcmp(argv[1], "stack")) {
		/* grow the stack down by N pages, touched top-down */
		munmap(p, n * PG);
		volatile char *s = __builtin_alloca(n * PG);
		for (long i = (long)(n - 1) * PG; i >= 0; i -= PG)
			s[i] = 1;
		printf("stack 0x%lx %lu\n", (unsigned long)s, n * PG);
	} else if (!strcmp(argv[1], "churn")) {
		long z = 0;
		munmap(p, n * PG);
		for (unsigned long i = 0; i < n; i++) {
			char *q = region(256);
			write_all(q, 1, 1);
			read_all(q + 255 * PG, 1);
			long zi = zero_pages(q + 255 * PG, 1);
			z = zi < 0 || z < 0 ? -1 : z + zi;
			munmap(q, 256 * PG);
		}
		printf("churnzero %ld\n", z);
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
