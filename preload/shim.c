/* SPDX-License-Identifier: MIT */
/*
 * The LD_PRELOAD shim: interposes the address-space, process and exec calls
 * of the traced program and records each one with its call stack.
 *
 * preload/ in layers, top to bottom; a file calls and includes only files
 * of the layers below its own (the hooks call down, nothing calls back up):
 *   6 hooks    shim.c (this file: the interposed calls and their
 *              bookkeeping, a stream's start, forks, exec, exit),
 *              unwind_pipe.c (libunwind's pipe), vfork.S
 *   5 sigstack sigstack.c: the stacks the kernel collector's signal asks for
 *   4 records  records.c (one encoder per record type), stacks.c (call stacks)
 *   3 writer   writer.c: the trace file, and the records of its own mappings
 *   2 core     core.c: libc's real functions, the process's and the
 *              thread's state, record headers
 *   1 leaves   seccomp.c, broker_client.c, env.c (and vmaprof/rawsys.h): none uses
 *              another file of the shim
 *
 * Rules every hook follows (the program must never notice us):
 * - The thread-local guard is checked first: a call made while this thread
 *   is already inside a hook (libunwind's own mmaps, a signal handler, the
 *   shim itself) is passed straight through and only counted.
 * - The real function's result and errno are returned unchanged; errno is
 *   saved right after the real call and restored after recording.
 * - A release (munmap, mremap's old range, mprotect) is timestamped before
 *   the real call, an acquisition after it, so a range another thread reuses
 *   at once is never attributed to the wrong mapping.
 * - No malloc, no stdio, no locks on the hook path.
 * - If anything of ours fails, recording stops and calls pass through.
 */
/* mmap and mmap64 are both defined here: glibc must not redirect one to the
 * other (x86_64 off_t is 64-bit either way). */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/seccomp.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "broker_client.h"
#include "core.h"
#include "env.h"
#include "records.h"
#include "seccomp.h"
#include "sigstack.h"
#include "stacks.h"
#include "unwind_pipe.h"
#include "vmaprof/broker.h"
#include "vmaprof/clock.h"
#include "vmaprof/record.h"
#include "writer.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

extern char **environ;

/* ---- the hooks' own state ---- */

static _Atomic int exit_recorded; /* exit/_exit seen: the destructor adds nothing */
static int configured;     /* VMAPROF_DIR was set at start */
static char out_dir[VP_MAX_PATH];
static uint32_t stack_depth = 64;

static void unseen_child(void);

/* Enter a hook: 1 if this call is to be recorded. */
#define enter() enter_from(__builtin_return_address(0))
static inline int enter_from(const void *ra)
{
	if (UNLIKELY(!atomic_load_explicit(&core__resolved, memory_order_acquire)))
		core__resolve();
	if (in_hook) {
		writer__reentered();
		return 0;
	}
	if (!atomic_load_explicit(&core__ready, memory_order_acquire) || vp_vfork_child)
		return 0;
	/* a child made behind libc's back (core.h: the fork token) */
	if (UNLIKELY(*core__fork_token == 0) ||
	    UNLIKELY(core__token_by_pid && SYS0(SYS_getpid) != core__pid)) {
		unseen_child();
		if (!atomic_load_explicit(&core__ready, memory_order_acquire))
			return 0;
	}
	if (UNLIKELY(stacks__internal_caller(ra))) {
		writer__reentered();
		return 0;
	}
	in_hook = 1;
	return 1;
}

/* A call the shim or libunwind made for itself (not the program), while
 * recording. */
static inline int internal_call(const void *ra)
{
	return atomic_load_explicit(&core__ready, memory_order_relaxed) && !vp_vfork_child &&
	       (in_hook || stacks__internal_caller(ra));
}

static inline void leave(void)
{
	in_hook = 0;
}

/* ---- a process image's stream ---- */

/* The inode of our PID namespace, which numbers every pid we record
 * (record.h, vp_file_header.pid_ns): the link /proc/self/ns/pid reads
 * "pid:[4026531836]". Read at every start: a child of a process that
 * unshared CLONE_NEWPID is in a namespace of its own. 0 when unreadable
 * (no /proc; the analyzer then takes our pids as the recorder's). */
static uint32_t read_pid_ns(void)
{
	char b[64];
	long n = SYS3(SYS_readlink, "/proc/self/ns/pid", b, sizeof(b) - 1);
	if (n <= 5 || memcmp(b, "pid:[", 5) != 0)
		return 0;
	uint64_t v = 0;
	for (long i = 5; i < n && b[i] >= '0' && b[i] <= '9' && v <= UINT32_MAX; i++)
		v = v * 10 + (uint64_t)(b[i] - '0');
	return v <= UINT32_MAX ? (uint32_t)v : 0;
}

/* Start a trace file for this process image: PROC, then the maps snapshot
 * before anything else is recorded. argc, argv, envp: the constructor's
 * (a fresh image's, record__proc takes the arguments from them); 0 and
 * NULL in a fork child (its arguments may have been rewritten: a process
 * title), where /proc/self/cmdline is read. `signals`: set up the signal
 * stacks' handler (sigstack__setup, once per image: the constructor's). */
static void start_stream(int argc, char **argv, char **envp, int signals)
{
	/* Under a seccomp filter that would refuse one of the calls a start
	 * makes (or one we cannot read) the shim stays off -- it cannot even
	 * say so safely; the parent's fork record or exec attempt says it. */
	int sc_nr;
	uint32_t sc_act;
	if (!sc__all_ok(core__start_calls(), &sc_nr, &sc_act))
		return; /* and no signal handler: signal stacks stay off */
	core__pid = (pid_t)SYS0(SYS_getpid);
	core__tid = (pid_t)SYS0(SYS_gettid);
	/* The broker's answer takes it a few wake-ups across CPUs (~150 us
	 * here, bench/NOTES.md): ask first, do what needs no file meanwhile. */
	int asked = broker__begin(VP_BROKER_OPEN, 0, NULL); /* -ENOSYS: no broker */
	uint32_t pid_ns = read_pid_ns();
	if (signals)
		sigstack__setup(stack_depth != 0);
	stacks__prepare(stack_depth);
	int err = writer__open(out_dir, core__pid, pid_ns, stack_depth, asked);
	if (err == -ESHUTDOWN)
		return; /* the recording has ended (writer.c): stay off, no marker */
	if (err < 0) {
		/* Cannot record: leave a marker the recorder can report (through
		 * the broker, which can write where we may not), and pass every
		 * call through from now on. */
		if (broker__request(VP_BROKER_FAILED, -err, err == -EPERM && broker__available()
				    ? "the recorder refused the shim's request"
				    : "cannot create the trace file", NULL, 0) == 0)
			return;
		char path[VP_MAX_PATH + 64];
		int n = snprintf(path, sizeof(path), "%s/preload.%d.failed", out_dir, (int)core__pid);
		if (n > 0 && (size_t)n < sizeof(path)) {
			int fd = core__real_open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
			if (fd >= 0)
				close(fd);
		}
		return;
	}
	record__proc(stack_depth, argc, argv, envp);
	void *token_page = core__arm_fork_token();
	if (token_page)
		writer__note_internal(token_page, 4096, VP_INT_OTHER, 0, 0);
	record__maps(VP_MAPS_START);
	stacks__init(stack_depth);
	atomic_store_explicit(&core__ready, 1, memory_order_release);
}

static void after_fork_child(void)
{
	/* Only this thread exists now; the parent's file, stack table and
	 * thread ids are not ours. */
	atomic_store(&core__ready, 0);
	core__tid = 0;
	in_hook = 1;
	writer__forget();
	stacks__forget();
	start_stream(0, NULL, NULL, 0);
	in_hook = 0;
}

/* First hook call in a child made behind libc's back (the fork token): the
 * trace, stack table and thread ids are the parent's; start our own. Only
 * the calling thread exists in the child. */
static void unseen_child(void)
{
	int saved = errno;
	after_fork_child();
	errno = saved;
}

/* glibc calls constructors with main's arguments */
__attribute__((constructor(101))) static void shim_init(int argc, char **argv, char **envp)
{
	int saved = errno;
	in_hook = 1;
	core__resolve();
	const char *dir = getenv("VMAPROF_DIR");
	if (dir && *dir && strlen(dir) < sizeof(out_dir)) {
		strcpy(out_dir, dir);
		configured = 1;
		const char *d = getenv("VMAPROF_STACK_DEPTH");
		if (d && *d) {
			char *end;
			unsigned long v = strtoul(d, &end, 10);
			if (*end == 0)
				stack_depth = v > VP_MAX_STACK_DEPTH ? VP_MAX_STACK_DEPTH : (uint32_t)v;
		}
		env__save(environ);
		broker__set(getenv(VP_BROKER_ENV));
		broker__set_netns(getenv(VP_BROKER_NETNS_ENV));
		/* one look at the status file for both (seccomp.h) */
		sc__probe_hold(1);
		start_stream(argc, argv, envp, 1);
		sc__probe_hold(0);
		if (atomic_load(&core__ready))
			sigstack__announce(); /* once per image: forks inherit it */
		pthread_atfork(NULL, NULL, after_fork_child);
	}
	in_hook = 0;
	errno = saved;
}

__attribute__((destructor)) static void shim_fini(void)
{
	if (atomic_load(&exit_recorded) || !enter())
		return;
	int saved = errno;
	record__exit(VP_EXIT_DESTRUCTOR, 0);
	writer__seal();
	errno = saved;
	leave();
}

/* ---- address-space hooks ---- */

/* always_inline: enter() must see the program's return address */
static inline __attribute__((always_inline)) void *mmap_hook(void *addr, size_t len, int prot,
							       int flags, int fd, off_t off)
{
	const void *ra = __builtin_return_address(0);
	if (!enter_from(ra)) {
		if (!internal_call(ra))
			return core__real_mmap(addr, len, prot, flags, fd, off);
		/* Memory libunwind (or the shim) takes for itself must not merge
		 * with the program's anonymous mappings: a merged neighbour
		 * turns each of the program's munmaps into a VMA split. It is
		 * noted, so the analyzer keeps it out of the program's picture
		 * (the collector sees the system call anyway). */
		if ((flags & (MAP_ANONYMOUS | MAP_SHARED)) == MAP_ANONYMOUS)
			flags |= MAP_NORESERVE;
		void *r = core__real_mmap(addr, len, prot, flags, fd, off);
		if (r != MAP_FAILED) {
			int e = errno;
			writer__note_internal(r, len, VP_INT_OTHER, 0, 0);
			errno = e;
		}
		return r;
	}
	uint64_t t0 = vp_mono_ns();
	void *r = core__real.mmap(addr, len, prot, flags, fd, off);
	int e = errno, err = r == MAP_FAILED ? e : 0;
	uint32_t st = stacks__capture();
	char path[VP_MAX_PATH];
	uint32_t pl = 0;
	if (r != MAP_FAILED && !(flags & MAP_ANONYMOUS) && fd >= 0)
		pl = record__fd_path(fd, path, sizeof(path));
	record__mem(VP_CALL_MMAP, t0, (uintptr_t)addr, len, (uint64_t)prot, (uint64_t)(uint32_t)flags,
		(uint64_t)(int64_t)fd, (uint64_t)off, (uintptr_t)r, err, st, path, pl);
	errno = e;
	leave();
	return r;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_hook(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_hook(addr, len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len)
{
	const void *ra = __builtin_return_address(0);
	if (!enter_from(ra)) {
		int r = core__real_munmap(addr, len);
		if (r == 0 && internal_call(ra)) {
			int e = errno;
			writer__note_internal(addr, len, VP_INT_OTHER, 1, 0);
			errno = e;
		}
		return r;
	}
	uint64_t t0 = vp_mono_ns();
	int r = core__real.munmap(addr, len);
	int e = errno;
	uint32_t st = stacks__capture();
	record__mem(VP_CALL_MUNMAP, t0, (uintptr_t)addr, len, 0, 0, 0, 0, (uint64_t)(int64_t)r,
		r ? e : 0, st, NULL, 0);
	errno = e;
	leave();
	return r;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (!enter()) {
		if (!core__real.mremap)
			return (void *)SYS5(SYS_mremap, old, old_len, new_len, flags, new_addr);
		return core__real.mremap(old, old_len, new_len, flags, new_addr);
	}
	uint64_t t0 = vp_mono_ns();
	void *r = core__real.mremap(old, old_len, new_len, flags, new_addr);
	int e = errno;
	uint32_t st = stacks__capture();
	record__mem(VP_CALL_MREMAP, t0, (uintptr_t)old, old_len, new_len, (uint64_t)(uint32_t)flags,
		(uintptr_t)new_addr, 0, (uintptr_t)r, r == MAP_FAILED ? e : 0, st, NULL, 0);
	errno = e;
	leave();
	return r;
}

#define SIMPLE_HOOK(name, call, sysno)                                                     \
	EXPORT int name(void *addr, size_t len, int arg)                                   \
	{                                                                                  \
		if (!enter())                                                              \
			return core__real.name ? core__real.name(addr, len, arg)                       \
					 : (int)SYS3(sysno, addr, len, arg);               \
		uint64_t t0 = vp_mono_ns();                                                 \
		int r = core__real.name(addr, len, arg);                                         \
		int e = errno;                                                             \
		uint32_t st = stacks__capture();                                           \
		record__mem(call, t0, (uintptr_t)addr, len, (uint64_t)(int64_t)arg, 0, 0, 0,   \
			(uint64_t)(int64_t)r, r ? e : 0, st, NULL, 0);                     \
		errno = e;                                                                 \
		leave();                                                                   \
		return r;                                                                  \
	}
SIMPLE_HOOK(mprotect, VP_CALL_MPROTECT, SYS_mprotect)
SIMPLE_HOOK(madvise, VP_CALL_MADVISE, SYS_madvise)

EXPORT int brk(void *addr)
{
	if (!enter())
		return core__real.brk(addr);
	uint64_t t0 = vp_mono_ns();
	void *old = core__real.sbrk(0);
	int r = core__real.brk(addr);
	int e = errno;
	void *now = core__real.sbrk(0);
	uint32_t st = stacks__capture();
	record__mem(VP_CALL_BRK, t0, (uintptr_t)addr, (uintptr_t)old, 0, 0, 0, 0, (uintptr_t)now,
		r ? e : 0, st, NULL, 0);
	errno = e;
	leave();
	return r;
}

EXPORT void *sbrk(intptr_t inc)
{
	if (!enter())
		return core__real.sbrk(inc);
	uint64_t t0 = vp_mono_ns();
	void *r = core__real.sbrk(inc);
	int e = errno;
	void *now = core__real.sbrk(0);
	uint32_t st = stacks__capture();
	record__mem(VP_CALL_SBRK, t0, (uint64_t)inc, (uintptr_t)now, 0, 0, 0, 0, (uintptr_t)r,
		r == (void *)-1 ? e : 0, st, NULL, 0);
	errno = e;
	leave();
	return r;
}

/* ---- processes ---- */

EXPORT pid_t fork(void)
{
	if (!enter())
		return core__real.fork();
	uint32_t st = stacks__capture();
	/* The child runs after_fork_child (pthread_atfork) inside core__real.fork,
	 * with in_hook still 1 from here: it clears it itself. */
	pid_t r = core__real.fork();
	int e = errno;
	if (r != 0) {
		record__fork(VP_FORK_FORK, r, r < 0 ? e : 0, st, NULL);
		errno = e;
		leave();
	}
	return r;
}

/* Called from vfork.S in the parent once the child has exec'd or exited. */
__attribute__((visibility("hidden"))) pid_t vp_vfork_parent(pid_t r)
{
	vp_vfork_child = 0;
	int e = r < 0 ? (int)-r : 0;
	if (r < 0)
		r = -1;
	if (enter()) {
		record__fork(VP_FORK_VFORK, r, e, stacks__capture(), NULL);
		leave();
	}
	if (e)
		errno = e;
	return r;
}

struct clone_tramp {
	int (*fn)(void *);
	void *arg;
};

static int clone_child(void *p)
{
	/* A copy of the parent's memory: p points into that copy. */
	struct clone_tramp t = *(struct clone_tramp *)p;
	after_fork_child();
	return t.fn(t.arg);
}

EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	core__resolve();
	/* Threads and children sharing our memory keep our state as is. */
	if ((flags & (CLONE_THREAD | CLONE_VM)) || !enter())
		return core__real.clone(fn, stack, flags, arg, ptid, tls, ctid);
	uint32_t st = stacks__capture();
	struct clone_tramp t = { fn, arg };
	int r = core__real.clone(clone_child, stack, flags, &t, ptid, tls, ctid);
	int e = errno;
	record__fork(VP_FORK_CLONE, r, r < 0 ? e : 0, st, NULL);
	errno = e;
	leave();
	return r;
}

/* Build the fixed environment on the caller's stack (vfork-safe). */
#define WITH_FIXED_ENV(envp, fixed_var, out_var)                                           \
	size_t env_n_ = env__count(envp);                                                  \
	if (env_n_ > 65536)                                                                \
		env_n_ = 0; /* too big for the stack: pass it through */                   \
	char *env_vec_[env_n_ + ENV_MAX_SAVED + 2];                                        \
	char env_buf_[ENV_PRELOAD_BUF];                                                    \
	int fixed_var = 0;                                                                 \
	char *const *out_var = env__fix(envp, env_vec_, env_n_ + ENV_MAX_SAVED + 2,        \
					env_buf_, sizeof(env_buf_), &fixed_var);           \
	if (!out_var)                                                                      \
		out_var = envp;

/* One exec as the program asked for it (env: with the shim's variables
 * put back; its arrays live on the caller's stack, vfork-safe). */
struct exec_call {
	uint32_t kind;       /* enum vp_exec_kind: which function was called */
	const char *path;    /* as recorded (fexecve: /proc/self/fd/N) */
	char *const *argv;
	char *const *env;
	int fixed;           /* the shim's variables were put back */
	int search;          /* execvp*: search PATH */
	int fd, flags;       /* fexecve's fd; execveat's dirfd and flags */
};

static int exec_real(const struct exec_call *c)
{
	switch (c->kind) {
	case VP_EXEC_FEXECVE: return core__real.fexecve(c->fd, c->argv, c->env);
	case VP_EXEC_EXECVEAT: return core__real.execveat(c->fd, c->path, c->argv, c->env, c->flags);
	default:
		return c->search ? core__real.execvpe(c->path, c->argv, c->env)
				 : core__real.execve(c->path, c->argv, c->env);
	}
}

/* Record the attempt (and seal the trace: an exec that succeeds never
 * returns), exec, record the failure; errno is the exec's. */
static int do_exec(const void *ra, const struct exec_call *c)
{
	int rec = enter_from(ra);
	uint32_t st = 0;
	if (rec) {
		st = stacks__capture();
		record__exec(c->kind, c->path, c->argv, 0, c->fixed, st);
		writer__seal();
	}
	int r = exec_real(c);
	int e = errno;
	if (rec) {
		record__exec(c->kind, c->path, c->argv, e, c->fixed, st);
		leave();
	}
	errno = e;
	return r;
}

static int exec_common(const void *ra, uint32_t kind, const char *path, char *const argv[],
		       char *const envp[], int search)
{
	core__resolve();
	WITH_FIXED_ENV(envp, fixed, env);
	struct exec_call c = { .kind = kind, .path = path, .argv = argv, .env = env,
			       .fixed = fixed, .search = search };
	return do_exec(ra, &c);
}

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	return exec_common(__builtin_return_address(0), VP_EXEC_EXECVE, path, argv, envp, 0);
}

EXPORT int execv(const char *path, char *const argv[])
{
	return exec_common(__builtin_return_address(0), VP_EXEC_EXECV, path, argv, environ, 0);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	return exec_common(__builtin_return_address(0), VP_EXEC_EXECVP, file, argv, environ, 1);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return exec_common(__builtin_return_address(0), VP_EXEC_EXECVPE, file, argv, envp, 1);
}

/* execl family: gather the variadic arguments into an argv on the stack;
 * with_env: an envp follows the terminating NULL (execle). */
#define GATHER_ARGS(first, ap, argv_var, with_env, env_var)                                \
	size_t n_ = 1;                                                                     \
	va_start(ap, first);                                                               \
	while (va_arg(ap, char *))                                                         \
		n_++;                                                                      \
	va_end(ap);                                                                        \
	char *argv_var[n_ + 1];                                                            \
	argv_var[0] = (char *)first;                                                       \
	va_start(ap, first);                                                               \
	for (size_t i_ = 1; i_ <= n_; i_++)                                                \
		argv_var[i_] = va_arg(ap, char *);                                         \
	char *const *env_var = (with_env) ? va_arg(ap, char *const *) : environ;           \
	va_end(ap);

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	GATHER_ARGS(arg, ap, argv, 0, envp);
	return exec_common(__builtin_return_address(0), VP_EXEC_EXECL, path, argv, envp, 0);
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	GATHER_ARGS(arg, ap, argv, 0, envp);
	return exec_common(__builtin_return_address(0), VP_EXEC_EXECLP, file, argv, envp, 1);
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	GATHER_ARGS(arg, ap, argv, 1, envp);
	return exec_common(__builtin_return_address(0), VP_EXEC_EXECLE, path, argv, envp, 0);
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	const void *ra = __builtin_return_address(0);
	core__resolve();
	char path[32];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	WITH_FIXED_ENV(envp, fixed, env);
	struct exec_call c = { .kind = VP_EXEC_FEXECVE, .path = path, .argv = argv, .env = env,
			       .fixed = fixed, .fd = fd };
	return do_exec(ra, &c);
}

EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		    int flags)
{
	const void *ra = __builtin_return_address(0);
	core__resolve();
	WITH_FIXED_ENV(envp, fixed, env);
	struct exec_call c = { .kind = VP_EXEC_EXECVEAT, .path = path, .argv = argv, .env = env,
			       .fixed = fixed, .fd = dirfd, .flags = flags };
	return do_exec(ra, &c);
}

static int spawn_common(const void *ra, int search, pid_t *pid, const char *path,
			const posix_spawn_file_actions_t *fa, const posix_spawnattr_t *at,
			char *const argv[], char *const envp[])
{
	core__resolve();
	WITH_FIXED_ENV(envp, fixed, env);
	(void)fixed;
	pid_t child = 0;
	int rec = enter_from(ra);
	uint32_t st = rec ? stacks__capture() : 0;
	int r = search ? core__real.posix_spawnp(&child, path, fa, at, argv, env)
		       : core__real.posix_spawn(&child, path, fa, at, argv, env);
	int e = errno;
	if (pid)
		*pid = child;
	if (rec) {
		record__fork(VP_FORK_SPAWN, r ? 0 : child, r, st, path);
		leave();
	}
	errno = e;
	return r;
}

EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		       const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	return spawn_common(__builtin_return_address(0), 0, pid, path, fa, at, argv, envp);
}

EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	return spawn_common(__builtin_return_address(0), 1, pid, file, fa, at, argv, envp);
}

#define EXIT_HOOK(name, kind)                                                              \
	EXPORT void name(int status)                                                       \
	{                                                                                  \
		if (enter()) {                                                             \
			atomic_store(&exit_recorded, 1);                                   \
			record__exit(kind, status);                                            \
			writer__seal();                                                    \
			leave();                                                           \
		}                                                                          \
		core__resolve();                                                                 \
		core__real.name(status);                                                         \
	}
EXIT_HOOK(exit, VP_EXIT_EXIT)
EXIT_HOOK(_exit, VP_EXIT__EXIT)
EXIT_HOOK(_Exit, VP_EXIT__EXIT)

/* libunwind (Debian's 1.6) writes through syscall(SYS_write, ...): see
 * unwind_pipe.c; and programs install seccomp filters through it. */
EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
	long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
	va_end(ap);
	if (UNLIKELY((nr == SYS_write || nr == SYS_read || nr == SYS_close) &&
		     unwind_pipe__is_fake((int)a1)))
		return unwind_pipe__syscall(nr, (int)a1, (const void *)a2, (size_t)a3);
	if (UNLIKELY(nr == SYS_seccomp || (nr == SYS_prctl && a1 == PR_SET_SECCOMP))) {
		/* seccomp(op, flags, args) or prctl(PR_SET_SECCOMP, mode, args) */
		long mode = nr == SYS_seccomp ? a1 : a2;
		void *prog = (void *)a3; /* args / the filter, third either way */
		int is_filter = nr == SYS_seccomp ? mode == SECCOMP_SET_MODE_FILTER
						  : mode == SECCOMP_MODE_FILTER;
		int is_strict = nr == SYS_seccomp ? mode == SECCOMP_SET_MODE_STRICT
						  : mode == SECCOMP_MODE_STRICT;
		long r = core__real.syscall ? core__real.syscall(nr, a1, a2, a3, a4, a5, a6)
				      : rawsys__call(nr, a1, a2, a3, a4, a5, a6);
		/* Read the program only once the kernel took it: a bad pointer
		 * is the kernel's EFAULT, never our crash. (A positive return of
		 * a failed TSYNC counts as installed: the safe side.) */
		if (r >= 0 && (is_filter || is_strict)) {
			int e = errno;
			struct sc_pending pend;
			if (is_filter)
				sc__eval(prog, &pend);
			else
				sc__strict(&pend);
			sc__commit(&pend);
			errno = e;
		}
		return r;
	}
	if (UNLIKELY(!core__real.syscall))
		return rawsys__call(nr, a1, a2, a3, a4, a5, a6);
	return core__real.syscall(nr, a1, a2, a3, a4, a5, a6);
}

/* ---- seccomp filters the program installs (see seccomp.h) ---- */

EXPORT int prctl(int option, ...)
{
	va_list ap;
	va_start(ap, option);
	unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
	unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
	va_end(ap);
	core__resolve();
	int r = core__real.prctl ? core__real.prctl(option, a2, a3, a4, a5)
			   : (int)SYS5(SYS_prctl, option, a2, a3, a4, a5);
	/* evaluated once the kernel took it (see syscall() above) */
	if (r == 0 && option == PR_SET_SECCOMP &&
	    (a2 == SECCOMP_MODE_FILTER || a2 == SECCOMP_MODE_STRICT)) {
		int e = errno;
		struct sc_pending pend;
		if (a2 == SECCOMP_MODE_FILTER)
			sc__eval((const void *)a3, &pend);
		else
			sc__strict(&pend);
		sc__commit(&pend);
		errno = e;
	}
	return r;
}


/* ---- dlopen: new modules appear; snapshot the maps for symbolization ---- */

/* A module was loaded (h: its handle, NULL if none): snapshot the maps.
 * ra: the program's return address, for enter_from. */
static void *after_dlopen(const void *ra, void *h)
{
	if (h && enter_from(ra)) {
		int e = errno;
		record__maps(VP_MAPS_DLOPEN);
		errno = e;
		leave();
	}
	return h;
}

EXPORT void *dlopen(const char *file, int mode)
{
	const void *ra = __builtin_return_address(0);
	core__resolve();
	return after_dlopen(ra, core__real.dlopen(file, mode));
}

EXPORT void *dlmopen(Lmid_t lm, const char *file, int mode)
{
	const void *ra = __builtin_return_address(0);
	core__resolve();
	return after_dlopen(ra, core__real.dlmopen(lm, file, mode));
}

/* ---- the program takes the collector's signal over: see sigstack__yield ---- */

EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (act)
		sigstack__yield(sig, (act->sa_flags & SA_SIGINFO) ? (const void *)act->sa_sigaction
							   : (const void *)act->sa_handler);
	return core__real_sigaction(sig, act, old);
}

EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return sigaction(sig, act, old);
}

#define SIGNAL_HOOK(name, fn)                                                              \
	EXPORT sighandler_t name(int sig, sighandler_t h)                                  \
	{                                                                                  \
		sigstack__yield(sig, (const void *)h);                                      \
		if (!core__real.fn)                                                              \
			core__resolve();                                                         \
		return core__real.fn(sig, h);                                                    \
	}
SIGNAL_HOOK(signal, signal)
SIGNAL_HOOK(bsd_signal, signal)
SIGNAL_HOOK(ssignal, signal)
SIGNAL_HOOK(sysv_signal, sysv_signal)
SIGNAL_HOOK(__sysv_signal, sysv_signal)
SIGNAL_HOOK(sigset, sigset)
