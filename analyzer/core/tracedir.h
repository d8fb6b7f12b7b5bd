/* SPDX-License-Identifier: MIT */
/*
 * tracedir: the files of a recorded directory.
 *   preload.<pid>.<start_ns>.vpt   one per process image (shim)
 *   preload.<pid>.failed           the shim of <pid> could not record (one line: why)
 *   bpf.vpt                        the kernel collector's stream
 *   session.json                   what `vmaprof record` knows (command, status)
 * Promises: files sorted by start time (then pid); names validated; no
 * other file in the directory is ever opened.
 */
#ifndef VP_TRACEDIR_H
#define VP_TRACEDIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct tracedir_file {
	char name[256];
	pid_t pid;          /* from the name; 0 for bpf.vpt */
	uint64_t start_ns;  /* from the name; UINT64_MAX for bpf.vpt (sorts last) */
	int is_bpf;
};

struct tracedir {
	struct tracedir_file *files;
	size_t n;
	pid_t *failed;
	size_t n_failed;
	int has_session;
};

/* 0 or -errno (directory unreadable). */
int tracedir__scan(const char *dir, struct tracedir *td);
void tracedir__free(struct tracedir *td);

#endif
