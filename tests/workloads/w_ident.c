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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

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

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "spill"))
		return spill(argv, argc);
	if (argc < 4 || strcmp(argv[1], "title")) {
		fprintf(stderr, "usage: w_ident title NAME TITLE [ARG...] | spill NAME N\n");
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
