// SPDX-License-Identifier: MIT
/*
 * A process whose mm figures are known, for the kernel's own figures
 * (VP_REC_MMSTAT, tests/test_mmstat.py):
 *
 *   w_mmstat PAGES MAPPINGS [kill|spawn|failexec]
 *
 * writes to PAGES pages of a private anonymous mapping (PAGES anonymous
 * pages in RSS), then makes 2 * MAPPINGS more VMAs (a PROT_NONE reservation
 * of 2 * MAPPINGS pages, every other page made readable: the pieces cannot
 * merge), then reads what the kernel says of it -- /proc/self/status (VmHWM,
 * VmRSS, RssAnon, RssFile, RssShmem, VmPeak, VmSize, VmLck), the exact page
 * table walk of /proc/self/smaps_rollup (Rss, Anonymous) and the number of
 * VMAs in /proc/self/maps (less [vsyscall], which is not in map_count) --
 * writes it to stdout as `key value` lines, and ends by the raw exit_group
 * system call (or, with `kill`, by SIGKILL to itself): nothing runs between
 * the reading and the end that could change the mm (no stdio, no
 * allocation, no shim destructor, all buffers and all code it runs touched
 * before: the reading is made twice, the first one dropped). `spawn`:
 * first posix_spawn /bin/true (a child on this mm until its exec) and wait
 * for it; `failexec`: first an execve that fails (ENOENT).
 */
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static char buf[1 << 20];   /* what /proc says (touched before use) */
static char out[1 << 16];
static size_t outn;

static long slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	long n = 0, r;

	if (fd < 0)
		return -1;
	while ((r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += r;
	close(fd);
	buf[n] = 0;
	return n;
}

static void put(const char *s)
{
	size_t l = strlen(s);

	if (outn + l < sizeof(out)) {
		memcpy(out + outn, s, l);
		outn += l;
	}
}

/* "Key:   123 kB" lines of buf -> "key 123" (kB) lines of out */
static void keys(const char *prefix, const char *const *want, int n)
{
	for (int i = 0; i < n; i++) {
		char *p = buf;
		size_t l = strlen(want[i]);

		while ((p = strstr(p, want[i]))) {
			if ((p == buf || p[-1] == '\n') && p[l] == ':') {
				char line[128], *e = strchr(p, '\n');
				long v = strtol(p + l + 1, NULL, 10);

				(void)e;
				snprintf(line, sizeof(line), "%s%s %ld\n", prefix, want[i], v);
				put(line);
				break;
			}
			p += l;
		}
	}
}

/* what the kernel says of this process, into out: /proc/self/status,
 * smaps_rollup, the VMAs of maps; nonzero when one cannot be read */
static int reading(void)
{
	static const char *const status[] = { "VmHWM", "VmRSS", "RssAnon", "RssFile",
					      "RssShmem", "VmPeak", "VmSize", "VmLck" };
	static const char *const rollup[] = { "Rss", "Anonymous" };
	char line[128];
	long n = 0;

	if (slurp("/proc/self/status") < 0)
		return 1;
	keys("status.", status, 8);
	if (slurp("/proc/self/smaps_rollup") >= 0)
		keys("rollup.", rollup, 2);
	if (slurp("/proc/self/maps") < 0)
		return 1;
	for (char *p = buf; *p; p++)
		n += *p == '\n';
	if (strstr(buf, "[vsyscall]"))
		n--;
	snprintf(line, sizeof(line), "vmas %ld\npid %d\n", n, (int)getpid());
	put(line);
	return 0;
}

int main(int argc, char **argv)
{
	long pg = sysconf(_SC_PAGESIZE);
	long pages, maps;
	char line[128];
	char *a, *r;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PAGES MAPPINGS [kill|spawn|failexec]\n", argv[0]);
		return 2;
	}
	memset(buf, 1, sizeof(buf));
	memset(out, 1, sizeof(out));
	if (argc > 3 && !strcmp(argv[3], "spawn")) {
		char *cargv[] = { "true", NULL };
		extern char **environ;
		pid_t c;
		int st;

		if (posix_spawn(&c, "/bin/true", NULL, NULL, cargv, environ) ||
		    waitpid(c, &st, 0) != c)
			return 1;
		snprintf(line, sizeof(line), "child %d\n", (int)c);
		put(line);
	}
	if (argc > 3 && !strcmp(argv[3], "failexec")) {
		char *cargv[] = { "x", NULL };

		execve("/nonexistent/w_mmstat", cargv, NULL);
	}
	pages = atol(argv[1]);
	maps = atol(argv[2]);
	a = mmap(NULL, pages * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r = mmap(NULL, 2 * maps * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || r == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise(a, pages * pg, MADV_NOHUGEPAGE); /* 4 KiB pages: PAGES of them */
	for (long i = 0; i < pages; i++)
		a[i * pg] = 1;
	for (long i = 0; i < maps; i++)
		if (mprotect(r + 2 * i * pg, pg, PROT_READ)) {
			perror("mprotect");
			return 1;
		}
	snprintf(line, sizeof(line), "region %p %ld\nreserved %p %ld\n", (void *)a, pages,
		 (void *)r, maps);
	put(line);
	/* everything that follows only reads: the buffers are touched, and
	 * the reading runs twice, the first one's output dropped, so that the
	 * code it runs (strstr, strtol, ... of libc, first called here) is
	 * faulted in before the figures are read -- a first call after the
	 * status read faulted in file pages (16 at once, fault-around) that
	 * the kernel's exit reading counted and VmHWM/VmRSS did not; the
	 * same for write() and syscall(), called after it */
	{
		size_t mark = outn;

		if (write(1, out, 0) < 0)
			return 1;
		syscall(SYS_getpid);
		if (reading())
			return 1;
		outn = mark;
		if (reading())
			return 1;
	}
	if (write(1, out, outn) != (ssize_t)outn)
		return 1;
	if (argc > 3 && !strcmp(argv[3], "kill"))
		syscall(SYS_kill, getpid(), SIGKILL);
	syscall(SYS_exit_group, 0);
	return 0;
}
