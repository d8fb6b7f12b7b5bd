/* SPDX-License-Identifier: MIT */
/*
 * Folded stacks (outputs.h; docs/exports.md, "Folded stacks") of a
 * finished analysis (view.h): one line per fault class, process name and
 * creating call stack,
 *
 *	class;comm;outermost frame;...;label frame COUNT
 *
 * root first, so a flame graph splits by class, then by command. The stack
 * is the site's (sites.c), demangled, from the outermost frame down to the
 * frame that labels the site: allocator plumbing below it (malloc, mmap
 * wrappers, operator new) is left out. A site without a stack is one frame,
 * its label; faults outside every known mapping are "[outside mappings]".
 * COUNT is fault events; lines are sorted and equal lines merged.
 *
 * folded-writes: the write sites instead (docs/report.md "Write sites"),
 *
 *	class;comm;outermost frame;...;writing frame COPIES
 *
 * one line per sampled write stack of a cow_copy or shared_write, whole
 * (the write is the leaf), COPIES its samples' weights scaled to the
 * process's count of that class (an estimate: docs/report.md says its
 * error); empty without write stacks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "derive.h"
#include "view.h"
#include "writer.h"

struct buf {
	char *p;
	size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n + 1)
			cap *= 2;
		b->p = model__realloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = 0;
}

/* One frame: ';' would split it and a line break end the line; both, and
 * other control characters, are replaced. */
static void buf_frame(struct buf *b, const char *s)
{
	if (b->n)
		buf_add(b, ";", 1);
	if (!s || !*s) {
		buf_add(b, "?", 1);
		return;
	}
	size_t at = b->n;
	buf_add(b, s, strlen(s));
	for (char *c = b->p + at; *c; c++) {
		if (*c == ';')
			*c = ',';
		else if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = ' ';
	}
}

struct line {
	char *s;
	uint64_t n;
};

struct lines {
	struct line *l;
	uint32_t n, cap;
};

static void line_add(struct lines *ls, const struct buf *b, uint64_t n)
{
	ls->l = model__grow(ls->l, &ls->cap, ls->n + 1, sizeof(*ls->l));
	char *s = strdup(b->p);
	if (!s)
		model__oom();
	ls->l[ls->n++] = (struct line){ s, n };
}

static int line_cmp(const void *x, const void *y)
{
	return strcmp(((const struct line *)x)->s, ((const struct line *)y)->s);
}

/* The frames of site s outermost first, down to its label frame. */
static void site_frames(struct analysis *a, const struct csite *s, struct buf *b)
{
	const struct vp_stack *st = s->stack_id && s->stack_file >= 0 &&
					    (uint32_t)s->stack_file < a->nfiles
					    ? stack_map__get(&a->files[s->stack_file].stacks, s->stack_id)
					    : NULL;
	if (!st || !st->depth || s->label_frame < 0 || (uint32_t)s->label_frame >= st->depth) {
		buf_frame(b, s->label);
		return;
	}
	for (uint32_t i = st->depth; i-- > (uint32_t)s->label_frame;) {
		struct vp_frame f = { .ip = st->ips[i] };
		symbolizer__lookup(a->sym, (uint64_t)s->stack_file, st->ips[i], i > 0, &f);
		const char *fn = sites__demangle(a, f.function);
		if (fn) {
			buf_frame(b, fn);
		} else {
			char w[300];
			buf_frame(b, vp_frame_anon(&f, w, sizeof(w)));
		}
	}
}

/* The name a process's lines start with: its name, its executable's base
 * name, or "pid N" (written into buf). */
static const char *proc_comm(const struct proc *p, char *buf, size_t cap)
{
	if (p->name)
		return p->name;
	if (p->exe)
		return vp_base_name(p->exe);
	snprintf(buf, cap, "pid %" PRIu32, p->own_pid);
	return buf;
}

static void collect(struct analysis *a, struct lines *ls, struct buf *b, struct buf *fr)
{
	for (uint32_t i = 0; i < a->nprocs; i++) {
		const struct proc *p = a->procs[i];
		char pidname[32];
		const char *comm = proc_comm(p, pidname, sizeof(pidname));
		uint64_t in_sites[FC_N] = { 0 };
		for (uint32_t k = 0; k < p->nsites; k++) {
			const struct csite *s = &p->sites[k];
			int any = 0;
			for (int c = 0; c < FC_N; c++) {
				in_sites[c] += s->faults[c];
				any |= s->faults[c] != 0;
			}
			if (!any)
				continue;
			fr->n = 0;
			site_frames(a, s, fr);
			for (int c = 0; c < FC_N; c++) {
				if (!s->faults[c])
					continue;
				b->n = 0;
				buf_frame(b, fclass_name[c]);
				buf_frame(b, comm);
				buf_add(b, ";", 1);
				buf_add(b, fr->p, fr->n);
				line_add(ls, b, s->faults[c]);
			}
		}
		/* faults at addresses no entry covered */
		for (int c = 0; c < FC_N; c++) {
			if (p->faults[c] <= in_sites[c])
				continue;
			b->n = 0;
			buf_frame(b, fclass_name[c]);
			buf_frame(b, comm);
			buf_frame(b, "[outside mappings]");
			line_add(ls, b, p->faults[c] - in_sites[c]);
		}
	}
}

static void collect_writes(struct analysis *a, struct lines *ls, struct buf *b)
{
	for (uint32_t i = 0; i < a->nprocs; i++) {
		const struct proc *p = a->procs[i];
		char pidname[32];
		const char *comm = proc_comm(p, pidname, sizeof(pidname));
		double sum[FC_N] = { 0 };
		for (uint32_t k = 0; k < p->ws.n; k++)
			sum[p->ws.w[k].cls] += p->ws.w[k].weight;
		for (uint32_t k = 0; k < p->ws.n; k++) {
			const struct wsite *w = &p->ws.w[k];
			uint64_t n = (uint64_t)(w->weight * (double)p->faults[w->cls] / sum[w->cls] + 0.5);
			if (!n)
				continue;
			b->n = 0;
			buf_frame(b, fclass_name[w->cls]);
			buf_frame(b, comm);
			const struct vp_stack *st =
				w->stack_id ? stack_map__get(&a->files[w->stack_file].stacks, w->stack_id)
					    : NULL;
			if (!st || !st->depth) {
				char lb[300];
				buf_frame(b, wsites__label(a, w, lb, sizeof(lb)));
			}
			for (uint32_t j = st ? st->depth : 0; j-- > 0;) {
				struct vp_frame f = { .ip = st->ips[j] };
				symbolizer__lookup(a->sym, (uint64_t)w->stack_file, st->ips[j], j > 0, &f);
				const char *fn = sites__demangle(a, f.function);
				char an[300];
				buf_frame(b, fn ? fn : vp_frame_anon(&f, an, sizeof(an)));
			}
			line_add(ls, b, n);
		}
	}
}

struct folded {
	int writes;
	struct lines ls;
	struct buf b, fr;
};

static void folded_free(void *state)
{
	struct folded *s = state;
	for (uint32_t i = 0; i < s->ls.n; i++)
		free(s->ls.l[i].s);
	free(s->ls.l);
	free(s->b.p);
	free(s->fr.p);
}

static int write_folded(struct analysis *a, FILE *f, size_t json_flags, void *state)
{
	struct folded *s = state;
	struct lines *ls = &s->ls;
	if (!derive__measured(a))
		fprintf(stderr, "vmaprof report: no fault counts in this recording (the kernel "
				"collector did not run): the folded stacks are empty\n");
	else if (s->writes)
		collect_writes(a, ls, &s->b);
	else
		collect(a, ls, &s->b, &s->fr);
	if (ls->n > 1)
		qsort(ls->l, ls->n, sizeof(*ls->l), line_cmp);
	for (uint32_t i = 0; i < ls->n; i++) {
		uint64_t n = ls->l[i].n;
		while (i + 1 < ls->n && !strcmp(ls->l[i].s, ls->l[i + 1].s))
			n += ls->l[++i].n;
		if (fprintf(f, "%s %" PRIu64 "\n", ls->l[i].s, n) < 0)
			return -EIO;
	}
	return 0;
}

const struct writer folded_writer = { sizeof(struct folded), write_folded, folded_free };

static int write_folded_writes(struct analysis *a, FILE *f, size_t json_flags, void *state)
{
	((struct folded *)state)->writes = 1;
	return write_folded(a, f, json_flags, state);
}

const struct writer folded_writes_writer = { sizeof(struct folded), write_folded_writes,
					     folded_free };
