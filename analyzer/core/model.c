/* SPDX-License-Identifier: MIT */
/*
 * The analyzer's model (its structs in view.h, built through model.h):
 * processes, their VMA entries and the timeline operations on them (an entry is split, never edited, so each
 * keeps the span during which faults are charged to it), the per-process
 * index used to find the entry live at (address, time), and memory.
 *
 * Errors: the only failure here is running out of memory; model__oom()
 * unwinds to the analyzer's entry point (analysis__run, analysis__view and
 * the outputs run their work under model__try), which frees what was built
 * and returns -ENOMEM. Nothing in the analyzer exits the process.
 */
#include "model.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread jmp_buf *oom_jmp;

/* The one guard: body's state lives in ctx, not on body's stack, so the
 * caller can free it after an unwind. Guards nest (the outer one is armed
 * again on the way out). */
int model__try(int (*body)(void *ctx), void *ctx)
{
	jmp_buf here;
	jmp_buf *outer = oom_jmp;
	oom_jmp = &here;
	if (setjmp(here)) {
		oom_jmp = outer;
		return -ENOMEM;
	}
	int err = body(ctx);
	oom_jmp = outer;
	return err;
}

void model__oom(void)
{
	if (oom_jmp)
		longjmp(*oom_jmp, 1);
	/* not armed: a caller outside the analyzer's entry points */
	fprintf(stderr, "vmaprof: out of memory\n");
	abort();
}

void *model__alloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		model__oom();
	/* written, not calloc'd: see traceutil.c zalloc */
	return memset(p, 0, n);
}

void *model__realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		model__oom(); /* p stays valid: whoever owns it frees it */
	return q;
}

static int proc_cmp(const void *x, const void *y)
{
	const struct proc *a = *(struct proc *const *)x, *b = *(struct proc *const *)y;
	if (a->is_root != b->is_root)
		return a->is_root ? -1 : 1;
	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

void model__sort_procs(struct analysis *a)
{
	if (a->nprocs > 1) /* a->procs is NULL without processes */
		qsort(a->procs, a->nprocs, sizeof(*a->procs), proc_cmp);
}

void *model__grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	uint32_t c = *cap ? *cap : 8;
	while (c < need)
		c *= 2;
	void *n = realloc(p, (size_t)c * elem);
	if (!n)
		model__oom();
	*cap = c;
	return n;
}

/* One copy of each text: the first string interned whose copy is s[0..len)
 * as a C string. A copy is cleaned (vp_utf8_clean: traces may be damaged,
 * the JSON must stay valid), so a text with invalid UTF-8 or a NUL never
 * equals one and gets a copy of its own each time. */
const char *model__intern(struct analysis *a, const char *s, size_t len)
{
	uint64_t h = vp_hash_bytes(s, len);
	uint32_t last = 0;
	if (!memchr(s, 0, len)) {
		for (uint32_t i = (uint32_t)(uintptr_t)u64map__get(&a->by_str, h); i;
		     i = a->str_next[i - 1]) {
			last = i;
			if (!memcmp(a->strs[i - 1], s, len) && !a->strs[i - 1][len])
				return a->strs[i - 1];
		}
	}
	uint32_t cap = a->capstrs;
	a->strs = model__grow(a->strs, &cap, a->nstrs + 1, sizeof(*a->strs));
	a->str_next = model__grow(a->str_next, &a->capstrs, a->nstrs + 1, sizeof(*a->str_next));
	char *c = malloc(len + 1);
	if (!c)
		model__oom();
	vp_utf8_clean(c, s, len);
	size_t clen = strlen(c);
	if (clen != len || memcmp(c, s, len)) {
		/* the copy differs from s: chain it by its own text */
		h = vp_hash_bytes(c, clen);
		last = 0;
		for (uint32_t i = (uint32_t)(uintptr_t)u64map__get(&a->by_str, h); i;
		     i = a->str_next[i - 1])
			last = i;
	}
	a->strs[a->nstrs] = c;
	a->str_next[a->nstrs] = 0;
	a->nstrs++;
	if (last)
		a->str_next[last - 1] = a->nstrs;
	else if (u64map__put(&a->by_str, h, (void *)(uintptr_t)a->nstrs))
		model__oom(); /* c is in strs: freed with the analysis */
	return c;
}

struct proc *model__proc(struct analysis *a, uint32_t pid)
{
	struct proc *p = model__find(a, pid);
	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p || u64map__put(&a->by_pid, (uint64_t)pid + 1, p)) {
		free(p);
		model__oom();
	}
	p->pid = pid;
	p->exit_code = p->exit_signal = -1;
	p->first_exec_t = T_NEVER;
	a->procs = model__grow(a->procs, &a->capprocs, a->nprocs + 1, sizeof(*a->procs));
	a->procs[a->nprocs++] = p;
	return p;
}

struct proc *model__find(struct analysis *a, uint32_t pid)
{
	return u64map__get(&a->by_pid, (uint64_t)pid + 1);
}

uint32_t model__new_vma(struct proc *p, const struct vma *tmpl)
{
	p->v = model__grow(p->v, &p->capv, p->nv + 1, sizeof(*p->v));
	p->v[p->nv] = *tmpl;
	p->v[p->nv].fault_sites = (struct u64map){ 0 };
	memset(p->v[p->nv].faults, 0, sizeof(p->v[p->nv].faults));
	p->v[p->nv].pages = 0;
	return p->nv++;
}

/* First live index whose entry ends after addr. */
uint32_t model__live_lb(const struct proc *p, uint64_t addr)
{
	uint32_t lo = 0, hi = p->nlive;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (p->v[p->live[mid]].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void model__live_insert(struct proc *p, uint32_t id)
{
	p->live = model__grow(p->live, &p->caplive, p->nlive + 1, sizeof(*p->live));
	uint32_t i = model__live_lb(p, p->v[id].start);
	memmove(p->live + i + 1, p->live + i, (p->nlive - i) * sizeof(*p->live));
	p->live[i] = id;
	p->nlive++;
}

static void live_remove_at(struct proc *p, uint32_t i)
{
	memmove(p->live + i, p->live + i + 1, (p->nlive - i - 1) * sizeof(*p->live));
	p->nlive--;
}

static uint32_t piece(struct proc *p, uint32_t from, uint64_t lo, uint64_t hi, uint64_t t)
{
	struct vma tmpl = p->v[from];
	tmpl.start = lo;
	tmpl.end = hi;
	if (!tmpl.anonymous)
		tmpl.offset += lo - p->v[from].start;
	tmpl.valid_from = t;
	tmpl.destroyed_ns = T_NEVER;
	tmpl.ended_by = VE_NONE;
	tmpl.piece_of = from + 1;
	return model__new_vma(p, &tmpl);
}

/* End every live entry overlapping [lo, hi) at t; the parts outside the
 * range live on as pieces. Returns how many entries it touched. */
int model__carve(struct proc *p, uint64_t lo, uint64_t hi, uint64_t t, int why)
{
	int n = 0;
	uint32_t i = model__live_lb(p, lo);
	while (i < p->nlive && p->v[p->live[i]].start < hi) {
		uint32_t id = p->live[i];
		live_remove_at(p, i);
		p->v[id].destroyed_ns = t;
		p->v[id].ended_by = (uint8_t)why;
		n++;
		if (p->v[id].start < lo)
			model__live_insert(p, piece(p, id, p->v[id].start, lo, t));
		if (p->v[id].end > hi)
			model__live_insert(p, piece(p, id, hi, p->v[id].end, t));
		i = model__live_lb(p, lo);
		while (i < p->nlive && p->v[p->live[i]].start < lo)
			i++;
	}
	return n;
}

void model__add_entry(struct proc *p, struct vma *e, uint64_t t)
{
	if (e->end <= e->start)
		return;
	model__carve(p, e->start, e->end, t, VE_REPLACED);
	e->valid_from = t;
	e->destroyed_ns = T_NEVER;
	model__live_insert(p, model__new_vma(p, e));
}

void model__reprotect(struct proc *p, uint64_t lo, uint64_t hi, uint8_t prot, uint64_t t)
{
	uint32_t i = model__live_lb(p, lo);
	while (i < p->nlive && p->v[p->live[i]].start < hi) {
		uint32_t id = p->live[i];
		if (p->v[id].prot == prot) {
			i++;
			continue;
		}
		uint64_t s = p->v[id].start, e = p->v[id].end;
		uint64_t a = s > lo ? s : lo, b = e < hi ? e : hi;
		live_remove_at(p, i);
		p->v[id].destroyed_ns = t;
		p->v[id].ended_by = VE_SPLIT;
		if (s < a)
			model__live_insert(p, piece(p, id, s, a, t));
		uint32_t mid = piece(p, id, a, b, t);
		p->v[mid].prot = prot;
		model__live_insert(p, mid);
		if (b < e)
			model__live_insert(p, piece(p, id, b, e, t));
		i = model__live_lb(p, b);
	}
}

static struct proc *qsort_proc; /* qcmp's context */

/* model__index's order: by range, entries of one range by valid_from. */
static int qcmp(const void *x, const void *y)
{
	const struct vma *a = &qsort_proc->v[*(const uint32_t *)x];
	const struct vma *b = &qsort_proc->v[*(const uint32_t *)y];
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	if (a->valid_from != b->valid_from)
		return a->valid_from < b->valid_from ? -1 : 1;
	return 0;
}

void model__index(struct proc *p)
{
	if (!p->nv)
		return;
	/* the timeline is complete: give back what doubling left over */
	if (p->capv > p->nv) {
		p->v = model__realloc(p->v, p->nv * sizeof(*p->v));
		p->capv = p->nv;
	}
	p->qent = malloc(p->nv * sizeof(*p->qent));
	p->qr = malloc(p->nv * sizeof(*p->qr));
	p->qmaxend = malloc(p->nv * sizeof(*p->qmaxend));
	if (!p->qent || !p->qr || !p->qmaxend)
		model__oom();
	for (uint32_t i = 0; i < p->nv; i++)
		p->qent[i] = i;
	qsort_proc = p;
	qsort(p->qent, p->nv, sizeof(*p->qent), qcmp);
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nv; i++) {
		const struct vma *e = &p->v[p->qent[i]];
		if (n && p->qr[n - 1].start == e->start && p->qr[n - 1].end == e->end) {
			p->qr[n - 1].count++;
			continue;
		}
		p->qr[n++] = (struct qrange){ e->start, e->end, i, 1 };
	}
	p->nqr = n;
	uint64_t mx = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (p->qr[i].end > mx)
			mx = p->qr[i].end;
		p->qmaxend[i] = mx;
	}
}

/* Ranges that may cover addr are those starting at or below it, walked
 * back from the last one while the running maximum end (qmaxend) still
 * passes addr: one past the last range starting at or below addr. */
static uint32_t ranges_upto(const struct proc *p, uint64_t addr)
{
	uint32_t lo = 0, hi = p->nqr;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (p->qr[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* How many entries of range r (ordered by valid_from) began before t, or
 * at t too when `inclusive`. */
static uint32_t begun_before(const struct proc *p, const struct qrange *r, uint64_t t,
			     int inclusive)
{
	uint32_t a = 0, b = r->count;
	while (a < b) {
		uint32_t mid = (a + b) / 2;
		uint64_t from = p->v[p->qent[r->first + mid]].valid_from;
		if (from < t || (inclusive && from == t))
			a = mid + 1;
		else
			b = mid;
	}
	return a;
}

/* The entry live at (addr, t): among entries covering addr whose lifetime
 * holds t, the one that began last. -1 if none. */
int64_t model__lookup(const struct proc *p, uint64_t addr, uint64_t t)
{
	int64_t best = -1;
	uint64_t best_from = 0;
	for (int64_t i = (int64_t)ranges_upto(p, addr) - 1; i >= 0 && p->qmaxend[i] > addr; i--) {
		const struct qrange *r = &p->qr[i];
		if (r->end <= addr)
			continue;
		/* entries of the range by valid_from: last one begun by t */
		uint32_t a = begun_before(p, r, t, 1);
		if (!a)
			continue;
		uint32_t id = p->qent[r->first + a - 1];
		const struct vma *e = &p->v[id];
		if (t >= e->destroyed_ns)
			continue;
		if (best < 0 || e->valid_from >= best_from) {
			best = id;
			best_from = e->valid_from;
		}
	}
	return best;
}

/* model__lookup, and the box of addresses [lo, hi) and times [tlo, thi)
 * around (addr, t) in which it gives the same answer (analyze.c caches it):
 * - addresses: no range starts or ends inside [lo, hi), so the same ranges
 *   cover every address of it, visited in the same order. Ranges not
 *   visited start at or below addr and end at or below the running maximum
 *   end where the walk stopped; ranges after the ones visited start at or
 *   above qr[upto].start.
 * - times: each covering range's candidate is the last entry begun by t
 *   (valid_from of it <= t < valid_from of the next one), live or not
 *   (destroyed_ns); between those bounds neither changes.
 * The answer is the same function of those candidates, so a fault in the
 * box is charged exactly as a full lookup would charge it. */
int64_t model__lookup_box(const struct proc *p, uint64_t addr, uint64_t t, struct lookup_box *b)
{
	int64_t best = -1;
	uint64_t best_from = 0;
	uint32_t up = ranges_upto(p, addr);
	uint64_t lo = 0, hi = up < p->nqr ? p->qr[up].start : UINT64_MAX;
	uint64_t tlo = 0, thi = UINT64_MAX;
	int64_t i;
	for (i = (int64_t)up - 1; i >= 0 && p->qmaxend[i] > addr; i--) {
		const struct qrange *r = &p->qr[i];
		if (r->start > lo)
			lo = r->start;
		if (r->end <= addr) {
			if (r->end > lo)
				lo = r->end;
			continue;
		}
		if (r->end < hi)
			hi = r->end;
		uint32_t a = begun_before(p, r, t, 1);
		if (a < r->count && p->v[p->qent[r->first + a]].valid_from < thi)
			thi = p->v[p->qent[r->first + a]].valid_from;
		if (!a)
			continue;
		uint32_t id = p->qent[r->first + a - 1];
		const struct vma *e = &p->v[id];
		if (e->valid_from > tlo)
			tlo = e->valid_from;
		if (t >= e->destroyed_ns) {
			if (e->destroyed_ns > tlo)
				tlo = e->destroyed_ns;
			continue;
		}
		if (e->destroyed_ns < thi)
			thi = e->destroyed_ns;
		if (best < 0 || e->valid_from >= best_from) {
			best = id;
			best_from = e->valid_from;
		}
	}
	if (i >= 0 && p->qmaxend[i] > lo)
		lo = p->qmaxend[i]; /* <= addr: the walk stopped there */
	*b = (struct lookup_box){ .lo = lo, .hi = hi, .tlo = tlo, .thi = thi, .id = best };
	return best;
}

int64_t model__lookup_cached(const struct proc *p, struct lookup_cache *c, uint64_t addr,
			     uint64_t t)
{
	if (c->p != p) {
		c->p = p;
		c->n = c->next = 0;
	}
	for (uint32_t k = 0; k < c->n; k++) {
		const struct lookup_box *b = &c->box[k];
		if (addr >= b->lo && addr < b->hi && t >= b->tlo && t < b->thi)
			return b->id;
	}
	struct lookup_box *b = &c->box[c->next];
	c->next = (c->next + 1) % LOOKUP_CACHE_BOXES;
	if (c->n < LOOKUP_CACHE_BOXES)
		c->n++;
	return model__lookup_box(p, addr, t, b);
}

/* The entry a call made at addr: of the entries covering addr, the first one
 * begun at or after t0 (the call's start). -1 if none. */
int64_t model__lookup_created(const struct proc *p, uint64_t addr, uint64_t t0)
{
	int64_t best = -1;
	uint64_t best_from = UINT64_MAX;
	for (int64_t i = (int64_t)ranges_upto(p, addr) - 1; i >= 0 && p->qmaxend[i] > addr; i--) {
		const struct qrange *r = &p->qr[i];
		if (r->end <= addr)
			continue;
		uint32_t a = begun_before(p, r, t0, 0);
		if (a < r->count) {
			uint32_t id = p->qent[r->first + a];
			if (p->v[id].valid_from < best_from) {
				best = id;
				best_from = p->v[id].valid_from;
			}
		}
	}
	return best;
}

/* (ip, class, kernel) packed into one exact key. A faulting instruction's
 * address is canonical (x86-64 with 4- or 5-level paging, arm64): its bits
 * 56..63 equal bit 56, so the low 57 bits give it back. Above them: the
 * kernel flag (bit 57) and class + 1 (bits 58..61), so a key is never 0. */
#define FS_IP_MASK ((1ull << 57) - 1)

static uint64_t fault_site__key(uint64_t ip, int cls, int kernel)
{
	return (ip & FS_IP_MASK) | (uint64_t)!!kernel << 57 | (uint64_t)(cls + 1) << 58;
}

struct fault_site fault_site__of_key(uint64_t key)
{
	uint64_t ip = key & FS_IP_MASK;
	if (ip >> 56)
		ip |= ~FS_IP_MASK; /* sign-extend from bit 56 */
	return (struct fault_site){ .ip = ip, .cls = (uint32_t)(key >> 58) & 15,
				    .kernel = (uint16_t)(key >> 57 & 1), .space = -1 };
}

void model__site_add(struct vma *e, uint64_t ip, int cls, int kernel)
{
	uint64_t key = fault_site__key(ip, cls, kernel);
	void **n = u64map__find(&e->fault_sites, key); /* most faults: a site seen before */
	if (!n)
		n = u64map__slot(&e->fault_sites, key);
	if (!n)
		model__oom();
	*n = (void *)((uintptr_t)*n + 1);
}

