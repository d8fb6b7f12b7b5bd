/* SPDX-License-Identifier: MIT */
/* Faults over time per process (timeline.h). */
#include "timeline.h"

#include <stdlib.h>
#include <string.h>

#include "model.h"

/* Halve the resolution: bucket k takes 2k and 2k+1. */
static void coarsen(struct timeline *tl)
{
	uint32_t half = (tl->used + 1) / 2;
	for (int c = 0; c < FC_N; c++) {
		uint64_t *b = tl->cnt[c];
		if (!b)
			continue;
		for (uint32_t k = 0; k < half; k++)
			b[k] = b[2 * k] + (2 * k + 1 < tl->used ? b[2 * k + 1] : 0);
		memset(b + half, 0, (tl->used - half) * sizeof(*b));
	}
	tl->width *= 2;
	tl->used = half;
}

/* Room for bucket k in every class's counts. */
static void reserve(struct timeline *tl, uint32_t k)
{
	if (k < tl->cap)
		return;
	uint32_t cap = tl->cap ? tl->cap : 4;
	while (cap <= k)
		cap *= 2;
	if (cap > TL_BUCKETS)
		cap = TL_BUCKETS;
	for (int c = 0; c < FC_N; c++) {
		if (!tl->cnt[c])
			continue;
		tl->cnt[c] = model__realloc(tl->cnt[c], cap * sizeof(uint64_t));
		memset(tl->cnt[c] + tl->cap, 0, (cap - tl->cap) * sizeof(uint64_t));
	}
	tl->cap = cap;
}

/* timeline__add's other cases: p's first fault, a fault outside the last
 * fault's bucket, a class's first count (out of line, so that the common
 * case calls nothing and saves no registers). */
static __attribute__((noinline)) void add_slow(struct proc *p, uint64_t t, int cls)
{
	struct timeline *tl = p->tl;
	if (!tl) {
		tl = p->tl = model__alloc(sizeof(*tl));
		/* a process never seen starting (damaged input): its first fault */
		tl->base = p->start_ns ? p->start_ns : t;
		tl->width = 1000;
	}
	uint64_t off = t > tl->base ? t - tl->base : 0;
	uint32_t k = tl->k;
	if (tl->k_w != tl->width || off < tl->k_lo || off - tl->k_lo >= tl->width) {
		while (off / tl->width >= TL_BUCKETS)
			coarsen(tl);
		k = (uint32_t)(off / tl->width);
		reserve(tl, k);
		tl->k = k;
		tl->k_lo = (uint64_t)k * tl->width;
		tl->k_w = tl->width;
	}
	if (!tl->cnt[cls])
		tl->cnt[cls] = model__alloc(tl->cap * sizeof(uint64_t));
	tl->cnt[cls][k]++;
	if (k + 1 > tl->used)
		tl->used = k + 1;
	if (t > tl->last_t)
		tl->last_t = t;
}

void timeline__add(struct proc *p, uint64_t t, int cls)
{
	if (cls < 0 || cls >= FC_N)
		return;
	struct timeline *tl = p->tl;
	if (!tl) {
		add_slow(p, t, cls);
		return;
	}
	uint64_t off = t > tl->base ? t - tl->base : 0;
	/* in the last fault's bucket (k < used: it was counted in) */
	if (tl->k_w != tl->width || off < tl->k_lo || off - tl->k_lo >= tl->width ||
	    !tl->cnt[cls]) {
		add_slow(p, t, cls);
		return;
	}
	tl->cnt[cls][tl->k]++;
	if (tl->k + 1 > tl->used)
		tl->used = tl->k + 1;
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
