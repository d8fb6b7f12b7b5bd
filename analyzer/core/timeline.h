/* SPDX-License-Identifier: MIT */
/*
 * When a process's faults happened, by class, in bounded memory: the
 * attribution pass (analyze.c, attribute()) counts each fault event into
 * a fixed number of time buckets per process; when a fault falls past the
 * last bucket, neighbouring buckets are merged pairwise and the bucket
 * width doubles. Buckets start at 1 us wide at the process's start, so a
 * short process keeps microsecond resolution and a long one at most
 * TL_BUCKETS samples. Only classes that occur get their counts, and only
 * as many buckets as the process used (grown as it goes: 10,000 short
 * processes do not hold TL_BUCKETS each).
 *
 * Promises: the counts of a process sum, per class, to exactly the faults
 * attribute() charged it (its report.json `faults`); a fault before the
 * process's start counts in the first bucket. Out of memory: model__oom().
 * Used by the Perfetto export's fault counters (export_perfetto.c).
 */
#ifndef VP_TIMELINE_H
#define VP_TIMELINE_H

#include <stdint.h>

#include "fclass.h"

#define TL_BUCKETS 256u

struct timeline {
	uint64_t base;          /* ns: bucket 0 starts here */
	uint64_t width;         /* ns per bucket */
	uint64_t last_t;        /* the latest fault's time */
	uint32_t used;          /* buckets 0 .. used-1 may hold counts */
	uint32_t cap;           /* buckets allocated in each cnt[] (>= used) */
	uint64_t *cnt[FC_N];    /* cap counts each, NULL: none of that class */
	/* the last fault's bucket: k, starting at offset k_lo, while the
	 * width is k_w (a process's faults come in time order: most fall in
	 * the bucket of the one before, found without dividing) */
	uint64_t k_lo, k_w;
	uint32_t k;
};

struct proc;

/* One fault of class cls at t (ns) in p. */
void timeline__add(struct proc *p, uint64_t t, int cls);
/* Bucket k's time span: [start, end), end clamped to the last fault. */
uint64_t timeline__bucket_end(const struct timeline *tl, uint32_t k);
void timeline__free(struct timeline *tl);

#endif
