/* SPDX-License-Identifier: MIT */
/*
 * Benchmark wrapper: runs COMMAND, then writes one line to OUT:
 *   elapsed_ns=N maxrss_kib=N status=N
 * elapsed_ns is fork-to-reap wall time of COMMAND; maxrss_kib is the largest
 * resident set of COMMAND or any descendant it waited for (wait4's
 * ru_maxrss), i.e. the traced program's own peak RSS, not the tracer's.
 * usage: timeit OUT COMMAND [ARG...]
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec a, b;
	struct rusage ru;
	int st;
	if (argc < 3) {
		fprintf(stderr, "usage: timeit OUT COMMAND [ARG...]\n");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	pid_t c = fork();
	if (c < 0) {
		perror("timeit: fork");
		return 2;
	}
	if (c == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "timeit: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	while (wait4(c, &st, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("timeit: wait4");
			return 2;
		}
	clock_gettime(CLOCK_MONOTONIC, &b);
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	fprintf(f, "elapsed_ns=%.0f maxrss_kib=%ld status=%d\n",
		(b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec), ru.ru_maxrss, st);
	if (fclose(f))
		return 2;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
