/* SPDX-License-Identifier: MIT */
/*
 * What the outputs (report.json, the summary, the exports) say alike about
 * a finished analysis (view.h), computed in one place so they cannot
 * disagree: whether faults
 * were measured at all, the kernel-counter balance of a process, whether
 * the shim recorded. (The names of entry kinds, origins and ends, and why
 * an entry has no stack, are the view's: view.h.)
 */
#ifndef VP_DERIVE_H
#define VP_DERIVE_H

#include <stdint.h>

struct analysis;
struct proc;
struct vma;

/* Fault figures need the kernel collector: without it they are
 * unmeasured (null), never 0. */
int derive__measured(const struct analysis *a);

/*
 * The kernel's own count against ours: every fault the kernel counted for a
 * process (minflt + majflt at its exit) is a traced fault event, a fault a
 * syscall made without one (populated, and the shim's trace prefault), or
 * one taken before tracing began. `difference` is what none of them
 * explains (< 0: we traced more than the kernel counted, e.g. faults that
 * failed with SIGSEGV/-EFAULT, which the kernel does not count).
 */
struct kc_balance {
	uint64_t shim;
	int64_t difference;
	char warning[256];
};

void derive__kc_balance(const struct analysis *a, const struct proc *p, struct kc_balance *b);

/* collectors.preload: whether the shim recorded something (returned), and
 * *reason: why not, or how many processes have no trace of it; NULL when
 * there is nothing to say. `where` adds where to look in report.json
 * (" (processes[].preload says why)"); buf holds a composed reason. */
int derive__preload(const struct analysis *a, int where, char *buf, size_t n,
		    const char **reason);

#endif
