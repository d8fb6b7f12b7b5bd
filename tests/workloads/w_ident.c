/* SPDX-License-Identifier: MIT */
/*
 * w_ident: a process that renames itself, for the process-identity tests.
 *
 *   w_ident title NAME TITLE [ARG...]
 *     prctl(PR_SET_NAME, NAME), then writes TITLE over its whole argv area
 *     (NUL-padded), the way PostgreSQL's "postgres: checkpointer" is made,
 *     and exits 0.
 *   w_ident spill NAME N
 *     the same with the title "NAME: " followed by N 'x', written on past
 *     the argv area into the environment strings that follow it (longer
 *     titles than argv had room for; /proc/PID/cmdline then reads the
 *     string up to its NUL).
 *   w_ident forks NAME TITLE N PAGES [PAD...]
 *     names and titles itself as `title` does (PAD: arguments that make
 *     room for a long TITLE), then forks N children one after the other,
 *     each of which titles itself "child TITLE", writes PAGES pages of a fresh anonymous mapping (PAGES
 *     demand-zero faults) and exits 0; prints "child=C" for each, exits 0.
 *   w_ident serve NAME TITLE KIDS [PAD...]
 *     names and titles itself, forks KIDS children that wait for SIGTERM
 *     (or their parent's death), prints "ready pid=P kids=C1,C2,...", and
 *     waits for SIGTERM: then ends its children, reaps them, exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int spill(char **argv, int argc)
{
	char name[16];
	snprintf(name, sizeof(name), "%s", argv[2]);
	long n = strtol(argv[3], NULL, 10);
	if (prctl(PR_SET_NAME, name, 0, 0, 0)) {
		perror("prctl");
		return 1;
	}
	/* the environment strings follow argv's on the stack */
	char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]) + 1;
	for (char **e = environ; *e; e++)
		if (*e == end)
			end = *e + strlen(*e) + 1;
	size_t room = (size_t)(end - start), l = strlen(name) + 2 + (size_t)n;
	if (l + 1 > room) {
		fprintf(stderr, "w_ident: only %zu bytes of argv+environment\n", room);
		return 1;
	}
	memset(start, 0, room);
	memcpy(start, name, strlen(name));
	memcpy(start + strlen(name), ": ", 2);
	memset(start + strlen(name) + 2, 'x', (size_t)n);
	return 0;
}

/* prctl(PR_SET_NAME) and TITLE over the whole argv area. 0 or -1. */
static int set_title(int argc, char **argv, const char *n, const char *t)
{
	char name[16];
	snprintf(name, sizeof(name), "%s", n);
	if (prctl(PR_SET_NAME, name, 0, 0, 0)) {
		perror("prctl");
		return -1;
	}
	char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
	size_t area = (size_t)(end - start), l = strlen(t);
	if (l > area) {
		fprintf(stderr, "w_ident: a title of %zu bytes in %zu of argv\n", l, area);
		return -1;
	}
	memset(start, 0, area);
	memmove(start, t, l);
	return 0;
}

static int forks(int argc, char **argv)
{
	long n = strtol(argv[4], NULL, 10), pages = strtol(argv[5], NULL, 10);
	long psz = sysconf(_SC_PAGESIZE);
	char *title = strdup(argv[3]), *name = strdup(argv[2]);
	if (!title || !name || set_title(argc, argv, name, title))
		return 1;
	for (long i = 0; i < n; i++) {
		fflush(stdout);
		pid_t c = fork();
		if (c < 0)
			return 1;
		if (c == 0) {
			/* a title of its own, as long: "child " and the parent's */
			char *ct = malloc(strlen(title) + 7);
			if (!ct)
				_exit(1);
			sprintf(ct, "child %s", title);
			if (set_title(argc, argv, name, ct))
				_exit(1);
			char *m = mmap(NULL, (size_t)(pages * psz), PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				_exit(1);
			for (long k = 0; k < pages; k++)
				m[k * psz] = 1;
			_exit(0);
		}
		int st;
		if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
			return 1;
		printf("child=%d\n", (int)c);
	}
	return 0;
}

static int serve(int argc, char **argv)
{
	long n = strtol(argv[4], NULL, 10);
	char *title = strdup(argv[3]), *name = strdup(argv[2]);
	pid_t kids[64];
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (!title || !name || n < 0 || n > 64 || set_title(argc, argv, name, title))
		return 1;
	pid_t me = getpid();
	for (long i = 0; i < n; i++) {
		fflush(stdout);
		kids[i] = fork();
		if (kids[i] < 0)
			return 1;
		if (kids[i] == 0) {
			int sig;
			prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
			if (getppid() != me)
				_exit(0);
			sigwait(&set, &sig);
			_exit(0);
		}
	}
	printf("ready pid=%d kids=", (int)me);
	for (long i = 0; i < n; i++)
		printf("%s%d", i ? "," : "", (int)kids[i]);
	printf("\n");
	fflush(stdout);
	int sig;
	sigwait(&set, &sig);
	for (long i = 0; i < n; i++)
		kill(kids[i], SIGTERM);
	for (long i = 0; i < n; i++)
		waitpid(kids[i], NULL, 0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 6 && !strcmp(argv[1], "forks"))
		return forks(argc, argv);
	if (argc >= 5 && !strcmp(argv[1], "serve"))
		return serve(argc, argv);
	if (argc == 4 && !strcmp(argv[1], "spill"))
		return spill(argv, argc);
	if (argc < 4 || strcmp(argv[1], "title")) {
		fprintf(stderr, "usage: w_ident title NAME TITLE [ARG...] | spill NAME N | forks NAME "
			"TITLE N PAGES [PAD...] | serve NAME TITLE KIDS [PAD...]\n");
		return 2;
	}
	char name[16], title[256];
	snprintf(name, sizeof(name), "%s", argv[2]);
	snprintf(title, sizeof(title), "%s", argv[3]);
	if (prctl(PR_SET_NAME, name, 0, 0, 0)) {
		perror("prctl");
		return 1;
	}
	/* the argv strings are contiguous: argv[0] .. end of argv[argc-1] */
	char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
	size_t area = (size_t)(end - start), l = strlen(title);
	if (l > area)
		l = area;
	memset(start, 0, area);
	memcpy(start, title, l);
	printf("area %zu\n", area);
	return 0;
}
