/* SPDX-License-Identifier: MIT */
/*
 * vmaprof-demo: a tiny pre-forking "server", the kind of program vmaprof is
 * for. The parent builds a 64 MiB cache (demand-zero faults), then forks
 * two workers; each rewrites a quarter of the inherited cache (copy-on-
 * write copies the parent pays for in memory) and maps a private scratch
 * buffer of its own. One worker also execs a helper (`true`) the way a
 * server runs a hook script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MiB (1024u * 1024u)
#define CACHE (64u * MiB)

__attribute__((noinline)) static char *build_cache(void)
{
	char *c = mmap(NULL, CACHE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c == MAP_FAILED) {
		perror("mmap cache");
		exit(1);
	}
	madvise(c, CACHE, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < CACHE; i += 4096)
		c[i] = (char)i; /* first touch: one demand-zero fault per page */
	return c;
}

__attribute__((noinline)) static char *scratch_buffer(size_t len)
{
	char *s = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s == MAP_FAILED) {
		perror("mmap scratch");
		exit(1);
	}
	memset(s, 1, len);
	return s;
}

__attribute__((noinline)) static void worker(int id, char *cache)
{
	/* rewrite this worker's quarter of the cache: copy-on-write */
	size_t q = CACHE / 4, start = (size_t)id * q;
	for (size_t i = start; i < start + q; i += 4096)
		cache[i]++;
	char *s = scratch_buffer(8 * MiB);
	munmap(s, 8 * MiB);
	if (id == 1) {
		execlp("true", "true", (char *)NULL);
		perror("exec true");
	}
	_exit(0);
}

int main(void)
{
	char *cache = build_cache();
	pid_t w[2];
	for (int i = 0; i < 2; i++) {
		w[i] = fork();
		if (w[i] < 0) {
			perror("fork");
			return 1;
		}
		if (w[i] == 0)
			worker(i, cache);
	}
	int bad = 0;
	for (int i = 0; i < 2; i++) {
		int st;
		waitpid(w[i], &st, 0);
		bad |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
	}
	printf("vmaprof-demo: cache of %u MiB served by 2 workers\n", CACHE / MiB);
	munmap(cache, CACHE);
	return bad;
}
