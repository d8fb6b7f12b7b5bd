/* SPDX-License-Identifier: MIT */
/*
 * Record encoders of the shim (records.c; layer 4 of preload/, see shim.c):
 * what a hook calls to put one call, fork, exec attempt or exit into the
 * trace. They never fail loudly: a record that cannot be reserved is
 * counted by the writer as lost.
 */
#ifndef VP_PRELOAD_RECORDS_H
#define VP_PRELOAD_RECORDS_H

#include <stdint.h>
#include <sys/types.h>

/* VP_REC_MEM: t0 before the call, its six arguments, result, errno, stack;
 * a file-backed mmap's path when known. */
void record__mem(uint32_t call, uint64_t t0, uint64_t a0, uint64_t a1, uint64_t a2,
		 uint64_t a3, uint64_t a4, uint64_t a5, uint64_t ret, int err, uint32_t stack,
		 const char *path, uint32_t path_len);
/* Path of an fd (for file mappings): its length, 0 if unknown. */
uint32_t record__fd_path(int fd, char *buf, size_t cap);
void record__fork(uint32_t kind, pid_t child, int err, uint32_t stack, const char *path);
/* An exec attempt (err 0) or its failure (err = errno). */
void record__exec(uint32_t kind, const char *path, char *const argv[], int err, int fixed,
		  uint32_t stack);
void record__exit(uint32_t kind, int status);
/* VP_REC_SIGSTACK: the stack a collector's signal asked for (sigstack.c). */
void record__sigstack(int sig, uint16_t flags, uint32_t stack, uint64_t ip, uint64_t ret);
/* VP_REC_PROC: who this process image is (exe, argv, AT_EXECFN), first in
 * every stream; stack_depth as configured. */
void record__proc(uint32_t stack_depth, int argc, char *const *argv, char *const *envp);
/* Copy /proc/self/maps into VP_REC_MAPS chunks (why: VP_MAPS_START or
 * VP_MAPS_DLOPEN). A seccomp filter refusing the reads: counted as lost. */
void record__maps(uint32_t why);

#endif
