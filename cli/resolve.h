/* SPDX-License-Identifier: MIT */
/*
 * Can the command be run at all? Decided before `record` creates anything,
 * the way execvp(3) will look for it: a name with a '/' is that file; a
 * bare name is searched in each PATH directory (unset PATH: the C
 * library's default, confstr(_CS_PATH); an empty entry: the current
 * directory), skipping directories that do not have it, and what cannot be
 * executed is remembered while the search goes on.
 *
 * The exit statuses are a shell's: 127 when nothing was found, 126 when
 * something was found but cannot be executed (a directory, a file without
 * execute permission, on a noexec mount, behind a directory we may not
 * search).
 */
#ifndef VP_RESOLVE_H
#define VP_RESOLVE_H

#include <stddef.h>

/* 0 when cmd can be run (execvp may still fail: the caller handles that
 * too), else 126 or 127 with `why`, one line naming the cause. */
int resolve_command(const char *cmd, char *why, size_t why_len);

/* The files execvp(cmd) tries, in its order, as the search above walks
 * them: NULL-terminated, malloc'd (resolve_free), NULL without memory. */
char **resolve_candidates(const char *cmd);
void resolve_free(char **v);

/* The exit status and the cause for errno `e` of a failed execvp of `cmd`
 * that resolve_command let through (a #! interpreter or an ELF loader
 * that does not exist, a race). */
int resolve_exec_error(const char *cmd, int e, char *why, size_t why_len);

#endif
