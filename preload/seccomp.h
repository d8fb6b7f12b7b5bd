/* SPDX-License-Identifier: MIT */
/*
 * seccomp: which system calls of the shim's own a seccomp filter in force
 * would refuse, so the shim never makes a call that can kill the program.
 * Layer 1 of preload/ (see shim.c): every layer above asks it.
 *
 * The program installs filters through prctl(PR_SET_SECCOMP) or
 * syscall(SYS_seccomp), both interposed: each filter is run (a classic BPF
 * interpreter, below) on every system call the shim may make, with the
 * arguments it makes them with, once, at install time; the worst action
 * per call is kept. The shim then asks sc__ok() (a load) before a call of
 * its own. A filter the shim did not see installed (inherited across exec,
 * installed by inline assembly) is found by /proc/thread-self/status
 * ("Seccomp", "Seccomp_filters") at start and before each new trace
 * segment; its contents are unknown, so every call of ours counts as
 * refused.
 *
 * Filters apply per thread; the shim assumes any thread's filter applies
 * to all of them (the safe side). A filter that tests the instruction
 * pointer is run with the shim's own call site unknown (0).
 */
#ifndef VP_SECCOMP_H
#define VP_SECCOMP_H

#include <stdint.h>

/* System calls the shim makes for itself. */
enum sc_call {
	SC_OPENAT, SC_READ, SC_CLOSE, SC_FALLOCATE, SC_FSTAT, SC_FTRUNCATE, SC_MMAP,
	SC_MADVISE, SC_MUNMAP, SC_SOCKET, SC_CONNECT, SC_SENDTO, SC_RECVMSG, SC_READLINK,
	SC_GETPID, SC_GETTID, SC_GETPPID, SC_PROCESS_VM_READV, SC_RT_SIGPROCMASK,
	SC_N
};

/* 1 when no filter known to be in force would refuse call c (SC_N: 1 when
 * no filter is known to be in force at all). The common
 * case -- no filter ever seen -- is one load, inline (it is asked on every
 * hook call). */
extern int sc__any_hidden; /* a filter was installed or found: ask sc__ok_slow */
int sc__ok_slow(enum sc_call c);
static inline int sc__ok(enum sc_call c)
{
	return !__atomic_load_n(&sc__any_hidden, __ATOMIC_ACQUIRE) || sc__ok_slow(c);
}
/* The x86_64 number of call c. */
int sc__nr(enum sc_call c);
/* The worst action of the known filters for c (SECCOMP_RET_ALLOW if none). */
uint32_t sc__action(enum sc_call c);
/* Look at /proc/thread-self/status (when reading it is itself safe): 0 if
 * no filter is in force that the shim did not see installed, else -1. */
int sc__probe(void);
/* Between sc__probe_hold(1) and sc__probe_hold(0) the first probe's answer
 * stands for the later ones: for a stretch in which no filter can come
 * (the constructor's start, one thread, none of the program's code), so it
 * reads the status file once instead of once per step. */
void sc__probe_hold(int on);
/* 1 when every call in `need` (SC_N-terminated) is ok; else 0 and *nr,
 * *action say the first one refused (*nr -1: an unknown filter). Probes
 * the status file first. */
int sc__all_ok(const enum sc_call *need, int *nr, uint32_t *action);

/* The interposers' side: once the kernel installed a filter program
 * (struct sock_fprog *: valid, since the kernel read it), evaluate it and
 * commit. Evaluating makes no system call. */
struct sc_pending {
	uint32_t act[SC_N];
	int strict;
};
void sc__eval(const void *fprog, struct sc_pending *p);
void sc__strict(struct sc_pending *p);
void sc__commit(const struct sc_pending *p);

#endif
