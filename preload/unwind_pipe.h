/* SPDX-License-Identifier: MIT */
/* libunwind's memory validation pipe, answered by the shim (unwind_pipe.c;
 * hooks, layer 6 of preload/, see shim.c): pipe2, read, write and close
 * are interposed there; syscall() in shim.c, a hook beside it, hands the
 * raw-syscall forms of the last three here. */
#ifndef VP_PRELOAD_UNWIND_PIPE_H
#define VP_PRELOAD_UNWIND_PIPE_H

#include <stddef.h>

int unwind_pipe__is_fake(int fd);
long unwind_pipe__syscall(long nr, int fd, const void *buf, size_t n);

#endif
