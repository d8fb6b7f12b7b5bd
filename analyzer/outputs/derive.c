/* SPDX-License-Identifier: MIT */
/* Figures the outputs share (report.json, the summary, the exports), taken
 * from a finished analysis: see derive.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "derive.h"
#include "view.h"

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
