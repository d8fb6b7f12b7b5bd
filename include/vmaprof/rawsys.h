/* SPDX-License-Identifier: MIT */
/*
 * Raw system calls: no libc wrapper, no symbol lookup, no errno save (the
 * caller's rules decide), so they work before dlsym has resolved anything
 * and inside the shim's own interposers (a layer-1 leaf of preload/, see
 * shim.c), and in the collector's closer process (bpf/collector.c), which
 * shares our memory and must not touch any thread's errno. x86-64 only.
 */
#ifndef VP_PRELOAD_RAWSYS_H
#define VP_PRELOAD_RAWSYS_H

#include <errno.h>

/* The kernel's answer as it is: -errno on failure; errno untouched. */
static inline long rawsys__ret(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

/* A system call that never goes through any symbol lookup (our own
 * syscall() interposer included): the return value and errno follow the
 * libc convention (-1 and errno on failure). */
static inline long rawsys__call(long n, long a1, long a2, long a3, long a4, long a5, long a6)
{
	long ret = rawsys__ret(n, a1, a2, a3, a4, a5, a6);
	if ((unsigned long)ret > -4096UL) {
		*__errno_location() = (int)-ret;
		return -1;
	}
	return ret;
}
#define SYS0(n) rawsys__call((n), 0, 0, 0, 0, 0, 0)
#define SYS1(n, a) rawsys__call((n), (long)(a), 0, 0, 0, 0, 0)
#define SYS2(n, a, b) rawsys__call((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define SYS3(n, a, b, c) rawsys__call((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define SYS4(n, a, b, c, d) rawsys__call((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define SYS5(n, a, b, c, d, e) \
	rawsys__call((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)
#define SYS6(n, a, b, c, d, e, f) \
	rawsys__call((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

#endif
