/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of the preload shim (not part of the trace contract).
 *
 * The real libc functions are resolved once with dlsym(RTLD_NEXT); until
 * then the shim__real_* helpers fall back to raw system calls, so the shim
 * can map its own memory even while dlsym itself is running.
 */
#ifndef VP_SHIM_H
#define VP_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

void *shim__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int shim__real_munmap(void *addr, size_t len);
int shim__real_open(const char *path, int flags, int mode);

/* Tell the trace that [p, p+len) is (un)mapped by the shim for itself, so
 * the analyzer can keep it out of the program's picture. */
void shim__note_internal(void *p, size_t len, uint32_t what, int unmapped);

/* CLOCK_MONOTONIC in ns (vDSO, no syscall). */
uint64_t shim__now(void);

/* Fill a record header (everything but type and size). */
struct vp_rec;
void shim__fill_header(struct vp_rec *r, uint64_t time_ns);

#endif
