/* SPDX-License-Identifier: MIT */
/* The files of a trace directory (tracedir.h), in the order pass 1
 * (analyze.c) reads them. */
#include "tracedir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_file(const void *a, const void *b)
{
	const struct tracedir_file *x = a, *y = b;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Parse "preload.<pid>.<ns>.vpt" exactly. */
static int parse_preload(const char *n, pid_t *pid, uint64_t *ns)
{
	unsigned long p;
	unsigned long long t;
	int used = 0;
	if (sscanf(n, "preload.%lu.%llu.vpt%n", &p, &t, &used) != 2 || n[used] != 0 ||
	    p == 0 || p > 4194304)
		return 0;
	*pid = (pid_t)p;
	*ns = t;
	return 1;
}

int tracedir__scan(const char *dir, struct tracedir *td)
{
	memset(td, 0, sizeof(*td));
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	size_t cap = 0, fcap = 0;
	int err = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		struct tracedir_file f = { 0 };
		unsigned long p;
		int used = 0;
		if (strlen(e->d_name) >= sizeof(f.name))
			continue;
		if (parse_preload(e->d_name, &f.pid, &f.start_ns)) {
		} else if (strcmp(e->d_name, "bpf.vpt") == 0) {
			f.is_bpf = 1;
			f.start_ns = UINT64_MAX;
		} else if (sscanf(e->d_name, "preload.%lu.failed%n", &p, &used) == 1 &&
			   e->d_name[used] == 0) {
			if (td->n_failed == fcap) {
				fcap = fcap ? fcap * 2 : 8;
				pid_t *nf = realloc(td->failed, fcap * sizeof(*nf));
				if (!nf) {
					err = -ENOMEM;
					break;
				}
				td->failed = nf;
			}
			td->failed[td->n_failed++] = (pid_t)p;
			continue;
		} else {
			if (strcmp(e->d_name, "session.json") == 0)
				td->has_session = 1;
			continue;
		}
		strcpy(f.name, e->d_name);
		if (td->n == cap) {
			cap = cap ? cap * 2 : 16;
			struct tracedir_file *nf = realloc(td->files, cap * sizeof(*nf));
			if (!nf) {
				err = -ENOMEM;
				break;
			}
			td->files = nf;
		}
		td->files[td->n++] = f;
	}
	closedir(d);
	if (err) {
		tracedir__free(td);
		return err;
	}
	if (td->n)
		qsort(td->files, td->n, sizeof(*td->files), cmp_file);
	return 0;
}

void tracedir__free(struct tracedir *td)
{
	free(td->files);
	free(td->failed);
	memset(td, 0, sizeof(*td));
}
