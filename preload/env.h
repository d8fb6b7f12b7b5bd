/* SPDX-License-Identifier: MIT */
/*
 * env: keep the shim in the environment of exec'd programs (layer 1 of
 * preload/, see shim.c: it uses no other file of the shim).
 *
 * Promises: env__save copies LD_PRELOAD and every VMAPROF_* variable at
 * start (the program may change or clear its environment later).
 * env__fix returns envp itself when nothing is missing, otherwise a vector
 * built in the caller's buffers (no malloc: it runs in vfork children) with
 * the saved VMAPROF_* variables added where absent and the shim put first in
 * LD_PRELOAD. Returns NULL when the buffers are too small (caller passes the
 * original environment through).
 */
#ifndef VP_ENV_H
#define VP_ENV_H

#include <stddef.h>

#define ENV_MAX_SAVED 16
#define ENV_PRELOAD_BUF 8192

void env__save(char **environ_at_start);
/* Number of entries of envp (NULL counts as empty). */
size_t env__count(char *const envp[]);
/* out must hold env__count(envp) + ENV_MAX_SAVED + 2 pointers. */
char *const *env__fix(char *const envp[], char **out, size_t out_cap, char *buf,
		      size_t buf_cap, int *fixed);

#endif
