/* SPDX-License-Identifier: MIT */
/*
 * The command's process, made without copying the recorder: a child that
 * shares our memory (clone with CLONE_VM, not CLONE_VFORK: we go on while
 * it waits to be let go) until its exec replaces it. A fork copied the
 * recorder's page tables, write-protected every page of both, and then
 * each first write on either side took a copy-on-write fault, and the
 * child's exec tore the copy down again: 4-10 ms of `record -- true` on a
 * VM whose faults cost ~12 us (bench/NOTES.md, "the command's start").
 *
 * The child runs on its own small stack and makes raw system calls only
 * (vmaprof/rawsys.h): it shares the calling thread's TLS (errno) and heap,
 * so it calls nothing of libc's and allocates nothing. Everything it needs
 * is built here first: the environment, the argument vector for /bin/sh
 * (execvp runs a file without a #! line, ENOEXEC, through it), the paths
 * to try in execvp's order. Until its exec it blocks every signal, with
 * the handlers it inherited (a copy: not CLONE_SIGHAND) set back to the
 * default, and restores the caller's mask just before execve, as
 * posix_spawn does.
 */
#ifndef VP_SPAWN_H
#define VP_SPAWN_H

#include <signal.h>
#include <sys/types.h>

struct spawn;

/* One name=value of the command's environment on top of ours: `value`
 * replaces the variable's value if `replace`, else is added only when the
 * variable is not set. */
struct spawn_var {
	const char *name;
	const char *value;
	int replace;
};

/* The child, blocked in read(go_fd) until spawn__go; our ends of the two
 * pipes (go's write end, execfail's read end) are closed in it; on an exec
 * failure it writes its errno (an int) to fail_fd and exits 127 (ENOENT)
 * or 126. NULL with errno on failure (nothing started). */
struct spawn *spawn__start(char *const argv[], char *const base_env[],
			   const struct spawn_var *vars, int nvars, int go_fd, int fail_fd,
			   int our_go, int our_fail, pid_t *pid);

/* After the exec (end of file on the failure pipe) or the child's end:
 * its stack and vectors freed. NULL is a no-op. */
void spawn__free(struct spawn *s);

#endif
