/* SPDX-License-Identifier: MIT */
/* Figures and names both outputs (report_json.c, summary.c) take from the
 * model: see derive.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "derive.h"
#include "model.h"

const char *const pop_name[POP_N] = { "mmap", "madvise", "mlock", "mremap", "mprotect",
				      "brk", "execve", "ioctl", "other" };
const char *const vk_name[] = { "heap", "stack", "anon", "file", "shm",
				"code", "data", "vdso", "other" };
const char *const vo_name[] = { "mmap", "mremap", "brk", "initial",
				"inherited", "exec", "syscall" };
const char *const ve_name[] = { NULL, "munmap", "split", "mremap", "exec", "replaced" };

/* Fault counts need the kernel collector: without it they are unmeasured,
 * null, never 0. */
int derive__measured(const struct analysis *a)
{
	return a->bpf_active;
}

int derive__preload(const struct analysis *a, int where, char *buf, size_t n,
		    const char **reason)
{
	int active = a->preload_active && a->preload_records > 0;
	const char *see = where ? " (processes[].preload says why)" : "";
	*reason = NULL;
	if (!active && a->preload_active) {
		snprintf(buf, n, "the shim recorded nothing%s", see);
		*reason = buf;
	} else if (!active) {
		*reason = a->preload_reason ? a->preload_reason : "unknown reason";
	} else if (a->preload_without) {
		snprintf(buf, n, "%u of %u process(es) have no shim trace%s", a->preload_without,
			 a->nprocs, see);
		*reason = buf;
	}
	return active;
}

void derive__kc_balance(const struct analysis *a, const struct proc *p, struct kc_balance *b)
{
	uint64_t traced = 0;
	for (int c = 0; c < FC_N; c++)
		traced += p->faults[c];
	b->shim = p->shim_sys ? p->shim_sys : p->prefault;
	b->difference = 0;
	b->warning[0] = 0;
	if (!p->have_kc || !derive__measured(a))
		return;
	uint64_t kernel = p->minflt + p->majflt;
	uint64_t ours = traced + p->pop_faults + b->shim + p->before_trace;
	b->difference = (int64_t)(kernel - ours);
	/* more than 3% (and a handful) apart: say so, whichever way */
	uint64_t gap = ours > kernel ? ours - kernel : kernel - ours;
	if (p->kc_cut)
		snprintf(b->warning, sizeof(b->warning),
			 "the kernel's counters leave out the threads past the first %d still "
			 "listed at exit (a kernel without bpf_loop, Linux 5.17): %" PRIu64
			 " counted, %" PRIu64 " traced",
			 VP_COMPAT_EXIT_THREADS, kernel, ours);
	else if (gap > 5 && gap * 100 > kernel * 3)
		snprintf(b->warning, sizeof(b->warning),
			 ours > kernel ? "traced %" PRIu64 " faults, more than the %" PRIu64
					 " the kernel counted"
				       : "the kernel counted %" PRIu64 " faults, %" PRIu64
					 " more than were traced",
			 ours > kernel ? ours : kernel, ours > kernel ? kernel : gap);
}

/* Why an entry made by a call has no stack, or NULL (it has one, or it
 * was not made by a call, or the trace does not say). */
const char *derive__stack_missing(const struct proc *p, const struct vma *e)
{
	static const char *const why[] = {
		[VS_BUSY] = "busy", [VS_BLOCKED] = "signal blocked",
		[VS_HANDLER] = "handler replaced", [VS_SEND] = "signal failed",
		[VS_OFF] = "signal stacks off", [VS_NO_ANSWER] = "no answer",
		[VS_UNWIND] = "unwind failed", [VS_ALTSTACK] = "alternate stack full",
	};
	if (!e->stack_why || e->stack_why > VS_ALTSTACK || e->internal)
		return NULL; /* (the shim's own memory needs no excuse) */
	if (e->stack_why != VS_NO_SHIM)
		return why[e->stack_why];
	if (p->attached_tree)
		return "no shim"; /* record -p: none in a running process */
	/* the process image it was made in: did a shim start in it later? */
	uint64_t from = 0, to = T_NEVER;
	for (uint32_t i = 0; i < p->nex; i++) {
		if (p->ex[i].t <= e->created_ns)
			from = p->ex[i].t;
		else if (p->ex[i].t < to)
			to = p->ex[i].t;
	}
	for (uint32_t i = 0; i < p->nimg; i++)
		if (p->img[i].start_ns >= from && p->img[i].start_ns < to)
			return "before shim start";
	return "no shim";
}
