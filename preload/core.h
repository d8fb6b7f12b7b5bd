/* SPDX-License-Identifier: MIT */
/*
 * core: the shim's services (layer 2 of preload/, see shim.c): libc's real
 * functions, the process's and the thread's state, record headers. Every
 * file above it (writer, records, stacks, sigstack, the hooks) calls down
 * into it; it calls only the leaves (vmaprof/rawsys.h, seccomp, broker_client).
 *
 * The real libc functions are resolved once with dlsym(RTLD_NEXT); until
 * then the core__real_* helpers fall back to raw system calls, so the shim
 * can map its own memory even while dlsym itself is running.
 *
 * The state is read by the hooks' inline fast path (shim.c, enter_from):
 * hidden globals, one load each, as when they were static in shim.c.
 */
#ifndef VP_PRELOAD_CORE_H
#define VP_PRELOAD_CORE_H

#include <dlfcn.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <sys/types.h>

#include "vmaprof/rawsys.h"
#include "seccomp.h"

#define CORE_HIDDEN __attribute__((visibility("hidden")))
#define CORE_TLS __attribute__((tls_model("initial-exec"), visibility("hidden")))

/* ---- libc's real functions ---- */

/* NULL until core__resolve has run (then NULL only if libc lacks one). */
struct core_real {
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*mprotect)(void *, size_t, int);
	int (*madvise)(void *, size_t, int);
	int (*brk)(void *);
	void *(*sbrk)(intptr_t);
	pid_t (*fork)(void);
	int (*clone)(int (*)(void *), void *, int, void *, ...);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
	int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			   const posix_spawnattr_t *, char *const[], char *const[]);
	int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
			    const posix_spawnattr_t *, char *const[], char *const[]);
	void (*exit)(int) __attribute__((noreturn));
	void (*_exit)(int) __attribute__((noreturn));
	void (*_Exit)(int) __attribute__((noreturn));
	void *(*dlopen)(const char *, int);
	void *(*dlmopen)(Lmid_t, const char *, int);
	int (*pipe2)(int[2], int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	int (*close)(int);
	long (*syscall)(long, ...);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	sighandler_t (*signal)(int, sighandler_t);
	sighandler_t (*sysv_signal)(int, sighandler_t);
	sighandler_t (*sigset)(int, sighandler_t);
	int (*prctl)(int, ...);
};
extern struct core_real core__real CORE_HIDDEN;
/* core__real is filled (release; read it with acquire). */
extern _Atomic int core__resolved CORE_HIDDEN;
/* Fill core__real (once; a call made while dlsym runs returns at once). */
void core__resolve(void);

/* libc's own where resolved, else the raw system call; errno as libc's. */
void *core__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int core__real_munmap(void *addr, size_t len);
int core__real_open(const char *path, int flags, int mode);
int core__real_pipe2(int fds[2], int flags);
ssize_t core__real_read(int fd, void *buf, size_t n);
ssize_t core__real_write(int fd, const void *buf, size_t n);
int core__real_close(int fd);
/* libc's sigaction (resolved first if need be); -1 without one. */
int core__real_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* ---- state ---- */

/* The calling thread is inside a hook (the shim or libunwind working).
 * sigstack.c announces its TLS offset to the collector. */
extern __thread int in_hook CORE_TLS;
/* Set by vfork.S before the syscall: this thread is the parent's, and the
 * code running now may be the vfork child borrowing it. */
extern __thread int vp_vfork_child CORE_TLS;
/* This thread's id in the records (0: not read yet; core__fill_header
 * reads it). */
extern __thread pid_t core__tid CORE_TLS;
/* This process image's pid, as its stream was started. */
extern pid_t core__pid CORE_HIDDEN;
/* Init done and a trace file is open (release by the stream's start). */
extern _Atomic int core__ready CORE_HIDDEN;

/* Children the fork hooks never saw (the fork token).
 *
 * A child made by a raw clone/clone3 system call (syscall(SYS_clone, ...),
 * inline assembly, a runtime with its own fork) runs no atfork handler: it
 * would go on writing into its parent's trace under the parent's pid. So
 * every hook checks a word on a page marked MADV_WIPEONFORK: the kernel
 * hands any child not sharing our memory (fork, clone and clone3 without
 * CLONE_VM) that page zero-filled, so a zero means "a new process whose
 * stream was not started yet" -- one load, no system call, exact. The
 * child then starts its own stream as a forked one does. (getpid() is a
 * real system call in glibc >= 2.25: 140-200 ns here, measured over 2M
 * calls, against 0.6-0.7 ns for the load -- and a hook's whole record costs
 * ~100-200 ns.) Kernels without MADV_WIPEONFORK (< 4.14) fall back to
 * comparing getpid() with the cached pid. */
extern volatile const uint64_t *core__fork_token CORE_HIDDEN;
extern int core__token_by_pid CORE_HIDDEN; /* no MADV_WIPEONFORK: compare pids instead */
/* Arm the fork token for this process. In a child the page is already
 * mapped (and wiped): it is only set again. Returns the page when it was
 * mapped now (the caller notes it as the shim's own), else NULL. */
void *core__arm_fork_token(void);

/* This process image's stream is open and this thread may write to it
 * (not a vfork child borrowing the thread, not a raw-clone child still on
 * its parent's stream). */
int core__owns_stream(void);

/* Every system call starting a new trace stream makes (SC_N-terminated):
 * through the broker when there is one, else by path. */
const enum sc_call *core__start_calls(void);
/* 1 when a seccomp filter in force would refuse what starting a new trace
 * stream takes (a forked child then records nothing). No system call. */
int core__start_refused(void);

/* Fill a record header (everything but type and size). */
struct vp_rec;
void core__fill_header(struct vp_rec *r, uint64_t time_ns);

#endif
