/* SPDX-License-Identifier: MIT */
/*
 * The command's process: a child sharing our memory until its exec
 * (spawn.h says why and under which rules the child runs).
 */
#include "spawn.h"
#include "resolve.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmaprof/rawsys.h"

#define STACK_SIZE (64 << 10)

/* The kernel's struct sigaction (rt_sigaction takes this, not libc's). */
struct ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

struct spawn {
	char **argv;
	char **env;
	char **cands;   /* the paths execvp would try, in its order */
	char **sh_argv; /* "/bin/sh", the file, argv[1..]: for ENOEXEC */
	int go_fd, fail_fd, our_go, our_fail;
	uint64_t mask;  /* the caller's signal mask, restored before execve */
	/* the child's scratch (no local of its has its address taken) */
	char byte;
	int err;
	struct ksigaction ka;
	void *stack;
};

static void free_vec(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void spawn__free(struct spawn *s)
{
	if (!s)
		return;
	if (s->stack)
		munmap(s->stack, STACK_SIZE);
	free_vec(s->env);
	free_vec(s->cands);
	free(s->sh_argv); /* its strings are argv's and cands' */
	free(s);
}

/* ---- the child: raw system calls only ---- */

static long execve_raw(const char *path, char **argv, char **env)
{
	return rawsys__ret(SYS_execve, (long)path, (long)argv, (long)env, 0, 0, 0);
}

/* execve, and for a file without #! (ENOEXEC) /bin/sh with it, as execvp
 * does: the error of the last attempt. */
static long try_exec(struct spawn *s, char *path)
{
	long r = execve_raw(path, s->argv, s->env);
	if (r == -ENOEXEC) {
		s->sh_argv[1] = path;
		r = execve_raw("/bin/sh", s->sh_argv, s->env);
	}
	return r;
}

static int child_main(void *arg)
{
	struct spawn *s = arg;
	long r = -ENOENT;
	int eacces = 0;

	rawsys__ret(SYS_close, s->our_go, 0, 0, 0, 0, 0);
	rawsys__ret(SYS_close, s->our_fail, 0, 0, 0, 0, 0);
	/* our handlers must not run here, on the recorder's memory: back to
	 * the default (ignored signals stay ignored, as across an exec) */
	for (int sig = 1; sig < 65; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (rawsys__ret(SYS_rt_sigaction, sig, 0, (long)&s->ka, 8, 0, 0) ||
		    s->ka.handler == (void *)SIG_DFL || s->ka.handler == (void *)SIG_IGN)
			continue;
		s->ka.handler = (void *)SIG_DFL;
		s->ka.flags = 0;
		s->ka.restorer = NULL;
		s->ka.mask = 0;
		rawsys__ret(SYS_rt_sigaction, sig, (long)&s->ka, 0, 8, 0, 0);
	}
	do
		r = rawsys__ret(SYS_read, s->go_fd, (long)&s->byte, 1, 0, 0, 0);
	while (r == -EINTR);
	rawsys__ret(SYS_close, s->go_fd, 0, 0, 0, 0, 0);
	rawsys__ret(SYS_rt_sigprocmask, SIG_SETMASK, (long)&s->mask, 0, 8, 0, 0);
	r = -ENOENT;
	for (size_t i = 0; s->cands[i]; i++) {
		r = try_exec(s, s->cands[i]);
		if (r == -EACCES) {
			eacces = 1;
			continue;
		}
		if (r != -ENOENT && r != -ESTALE && r != -ENOTDIR && r != -ENODEV &&
		    r != -ETIMEDOUT)
			break;
	}
	s->err = (int)(eacces && (r == -ENOENT || r == -ESTALE || r == -ENOTDIR ||
				  r == -ENODEV || r == -ETIMEDOUT || r == -EACCES)
		       ? EACCES : -r);
	rawsys__ret(SYS_write, s->fail_fd, (long)&s->err, sizeof(s->err), 0, 0, 0);
	rawsys__ret(SYS_exit_group, s->err == ENOENT ? 127 : 126, 0, 0, 0, 0, 0);
	return 0;
}

/* ---- what the child needs, built here ---- */

static size_t name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq ? (size_t)(eq - entry) : strlen(entry);
}

static int is_var(const char *entry, const char *name)
{
	size_t l = strlen(name);
	return name_len(entry) == l && !strncmp(entry, name, l);
}

static char *join(const char *a, const char *sep, const char *b)
{
	size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
	char *p = malloc(la + ls + lb + 1);
	if (p) {
		memcpy(p, a, la);
		memcpy(p + la, sep, ls);
		memcpy(p + la + ls, b, lb + 1);
	}
	return p;
}

/* base_env with vars applied: a new vector of new strings. */
static char **build_env(char *const base[], const struct spawn_var *vars, int nvars)
{
	size_t n = 0, k = 0;
	while (base && base[n])
		n++;
	char **env = calloc(n + (size_t)nvars + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int j;
		for (j = 0; j < nvars && !(vars[j].replace && is_var(base[i], vars[j].name)); j++)
			;
		if (j < nvars)
			continue; /* replaced below */
		if (!(env[k++] = strdup(base[i])))
			goto fail;
	}
	for (int j = 0; j < nvars; j++) {
		int set = 0;
		for (size_t i = 0; !vars[j].replace && i < n && !set; i++)
			set = is_var(base[i], vars[j].name);
		if (!set && !(env[k++] = join(vars[j].name, "=", vars[j].value)))
			goto fail;
	}
	return env;
fail:
	free_vec(env);
	return NULL;
}

struct spawn *spawn__start(char *const argv[], char *const base_env[],
			   const struct spawn_var *vars, int nvars, int go_fd, int fail_fd,
			   int our_go, int our_fail, pid_t *pid)
{
	struct spawn *s = calloc(1, sizeof(*s));
	size_t argc = 0;
	sigset_t all, old;
	int e;

	if (!s)
		return NULL;
	while (argv[argc])
		argc++;
	s->argv = (char **)argv;
	s->go_fd = go_fd;
	s->fail_fd = fail_fd;
	s->our_go = our_go;
	s->our_fail = our_fail;
	s->env = build_env(base_env, vars, nvars);
	s->cands = resolve_candidates(argv[0]);
	s->sh_argv = calloc(argc + 2, sizeof(*s->sh_argv));
	s->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (s->stack == MAP_FAILED)
		s->stack = NULL;
	if (!s->env || !s->cands || !s->sh_argv || !s->stack) {
		spawn__free(s);
		errno = ENOMEM;
		return NULL;
	}
	s->sh_argv[0] = "/bin/sh";
	for (size_t i = 1; i < argc; i++)
		s->sh_argv[i + 1] = argv[i];
	/* every signal blocked from before the clone until the child's
	 * handlers are the default ones (it restores s->mask itself) */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	memcpy(&s->mask, &old, sizeof(s->mask));
	*pid = clone(child_main, (char *)s->stack + STACK_SIZE, CLONE_VM | SIGCHLD, s);
	e = errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (*pid < 0) {
		spawn__free(s);
		errno = e;
		return NULL;
	}
	return s;
}
