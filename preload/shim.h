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
#include <errno.h>
#include <sys/types.h>

#include "rawsys.h"

void *shim__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int shim__real_munmap(void *addr, size_t len);
int shim__real_open(const char *path, int flags, int mode);

/* Tell the trace that [p, p+len) is (un)mapped by the shim for itself, so
 * the analyzer can keep it out of the program's picture. */
void shim__note_internal(void *p, size_t len, uint32_t what, int unmapped, uint32_t populated);


/* The calling thread is inside a hook (the shim or libunwind working). The
 * flag itself: sigstack.c sets it and announces its TLS offset. */
int shim__in_hook(void);
extern __thread int in_hook __attribute__((tls_model("initial-exec"), visibility("hidden")));
/* This process image's stream is open and this thread may write to it
 * (not a vfork child borrowing the thread, not a raw-clone child still on
 * its parent's stream). */
int shim__owns_stream(void);
struct sigaction;
int shim__real_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* libc's own, for the interposers in other files of the shim. */
int shim__real_pipe2(int fds[2], int flags);
ssize_t shim__real_read(int fd, void *buf, size_t n);
ssize_t shim__real_write(int fd, const void *buf, size_t n);
int shim__real_close(int fd);

/* 1 when a seccomp filter in force would refuse what starting a new trace
 * stream takes (a forked child then records nothing). */
int shim__start_refused(void);

/* Fill a record header (everything but type and size). */
struct vp_rec;
void shim__fill_header(struct vp_rec *r, uint64_t time_ns);

#endif
