/* SPDX-License-Identifier: MIT */
/* Faults over time per process (timeline.h). */
#include "timeline.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Halve the resolution: bucket k takes 2k and 2k+1. */
static void coarsen(struct timeline *tl)
{
	for (int c = 0; c < FC_N; c++) {
		uint64_t *b = tl->cnt[c];
		if (!b)
			continue;
		for (uint32_t k = 0; k < TL_BUCKETS / 2; k++)
			b[k] = b[2 * k] + b[2 * k + 1];
		memset(b + TL_BUCKETS / 2, 0, TL_BUCKETS / 2 * sizeof(*b));
	}
	tl->width *= 2;
	tl->used = (tl->used + 1) / 2;
}

void timeline__add(struct proc *p, uint64_t t, int cls)
{
	if (cls < 0 || cls >= FC_N)
		return;
	struct timeline *tl = p->tl;
	if (!tl) {
		tl = p->tl = model__alloc(sizeof(*tl));
		/* a process never seen starting (damaged input): its first fault */
		tl->base = p->start_ns ? p->start_ns : t;
		tl->width = 1000;
	}
	if (!tl->cnt[cls])
		tl->cnt[cls] = model__alloc(TL_BUCKETS * sizeof(uint64_t));
	uint64_t off = t > tl->base ? t - tl->base : 0;
	while (off / tl->width >= TL_BUCKETS)
		coarsen(tl);
	uint32_t k = (uint32_t)(off / tl->width);
	tl->cnt[cls][k]++;
	if (k + 1 > tl->used)
		tl->used = k + 1;
	if (t > tl->last_t)
		tl->last_t = t;
}

uint64_t timeline__bucket_end(const struct timeline *tl, uint32_t k)
{
	uint64_t last = tl->last_t > tl->base ? tl->last_t : tl->base, end;
	if (__builtin_mul_overflow((uint64_t)k + 1, tl->width, &end) ||
	    __builtin_add_overflow(end, tl->base, &end))
		return last;
	return end < last ? end : last;
}

void timeline__free(struct timeline *tl)
{
	if (!tl)
		return;
	for (int c = 0; c < FC_N; c++)
		free(tl->cnt[c]);
	free(tl);
}
