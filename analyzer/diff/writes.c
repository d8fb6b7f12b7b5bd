/* SPDX-License-Identifier: MIT */
/*
 * diff: write sites (docs/report.md "Write sites", docs/diff.md "Write
 * sites"). The code whose writes made a role's copy-on-write copies, from
 * each report's forks[].write_sites_parent / write_sites_child: per side of
 * a fork, the unwound stacks of sampled write faults, their copies scaled
 * so that the side's sites sum to its exact cow_copy count. They are
 * charged to the process that wrote (the fork's parent or child), summed
 * per role and label ("f < g") and, for the whole report, per label; then
 * the two reports side by side (struct wpair).
 *
 * The copies of a site are an estimate: with n samples in a table of T
 * copies, a site with share p has a standard error of about
 * T * sqrt(p (1 - p) / n), and one sample stands for T / n copies. The
 * variance of each table's estimate (both terms, squared) is summed along,
 * and a change counts (wpair__beyond) where it passes --min-pages and
 * WRITES_NOISE_SD standard errors of the difference: two identical runs
 * then differ by less, whatever the bound's percentage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff_int.h"

/* A write site's change of fewer standard errors than this is the
 * sampling's (docs/diff.md "Write sites": about 1 in 16,000 of such
 * changes between identical runs passes it, normal approximation). */
#define WRITES_NOISE_SD 4.0

static int wsrc__push(struct report *r, size_t proc, const char *label, uint64_t copies,
		      double var)
{
	struct wsrc *w = grow(r->ws, r->n_ws, &r->cap_ws, sizeof(*w), 64);
	char *l = strdup(label);
	if (!w || !l) {
		free(l);
		if (w)
			r->ws = w;
		return -ENOMEM;
	}
	r->ws = w;
	r->ws[r->n_ws++] = (struct wsrc){ proc, l, copies, var };
	return 0;
}

/* One side's table, type-checked; charged to process proc (-1: none in the
 * report, the table only checked). */
static int writes__table(struct report *r, struct diag *d, json_t *arr, const char *at,
			 long proc)
{
	uint64_t total = 0, samples = 0;
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return diag__fail(d, "%s: %s: expected an array", r->file, at);
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < json_array_size(arr); i++) {
			json_t *w = json_array_get(arr, i);
			const char *label, *cls;
			uint64_t c, n;
			char sub[160];
			int err;
			snprintf(sub, sizeof(sub), "%s[%zu]", at, i);
			if (!json_is_object(w))
				return diag__fail(d, "%s: %s: expected an object", r->file, sub);
			if ((err = get_string_or_null(d, r, w, sub, "label", &label)) ||
			    (err = get_string_or_null(d, r, w, sub, "class", &cls)) ||
			    (err = get_count(d, r, w, sub, "copies", &c)) ||
			    (err = get_count(d, r, w, sub, "samples", &n)))
				return err;
			if (!label || !cls)
				return diag__fail(d, "%s: %s: label and class must be strings", r->file,
						  sub);
			if (strcmp(cls, "cow_copy"))
				continue;
			if (!pass) {
				total = sat_add(total, c);
				samples = sat_add(samples, n);
				continue;
			}
			if (proc < 0)
				continue;
			/* the estimate's variance: the share's binomial error, and
			 * one sample's weight (a site seen once or not at all) */
			double t = (double)total, p = total ? (double)c / t : 0, var;
			if (samples)
				var = t * t * p * (1 - p) / (double)samples +
				      (t / (double)samples) * (t / (double)samples);
			else
				var = t * t;
			if (wsrc__push(r, (size_t)proc, label, c, var))
				return diag__fail(d, "out of memory");
		}
	}
	return 0;
}

static int by_pid(const void *a, const void *b, void *arg)
{
	const struct dproc *ps = arg, *x = &ps[*(const size_t *)a], *y = &ps[*(const size_t *)b];
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The process with pid `pid` (host_pid where the report has one) that a
 * fork at time t made (child) or that made it (parent: the one of that pid
 * started last before t); -1 if none. order: the processes by pid. */
static long writes__proc(const struct report *r, const size_t *order, int64_t pid, uint64_t t,
			 int child)
{
	size_t lo = 0, hi = r->n_procs;
	long best = -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->procs[order[mid]].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k < r->n_procs && r->procs[order[k]].pid == pid; k++) {
		const struct dproc *p = &r->procs[order[k]];
		if (child && p->has_ff && p->ff_time == t)
			return (long)order[k];
		if (!child && p->start_ns <= t &&
		    (best < 0 || r->procs[best].start_ns <= p->start_ns))
			best = (long)order[k];
	}
	return best;
}

/* forks[i]: its write site tables charged to its child and parent. */
static int writes__fork(struct report *r, struct diag *d, const size_t *order, json_t *f,
			size_t i)
{
	json_t *hp;
	char at[64], sub[96];
	int64_t parent, child;
	uint64_t t;
	int err;
	snprintf(at, sizeof(at), "forks[%zu]", i);
	if (!json_is_object(f))
		return diag__fail(d, "%s: %s: expected an object", r->file, at);
	json_t *tp = json_object_get(f, "write_sites_parent"),
	       *tc = json_object_get(f, "write_sites_child");
	if (!tp && !tc)
		return 0;
	r->has_writes = 1;
	if ((err = get_int(d, r, f, at, "parent", &parent)) ||
	    (err = get_int(d, r, f, at, "child", &child)) ||
	    (err = get_count(d, r, f, at, "time_ns", &t)))
		return err;
	/* in PID namespaces processes are told apart by host_pid
	 * (docs/report.md), as load.c links them */
	if (json_is_integer(hp = json_object_get(f, "parent_host_pid")))
		parent = json_integer_value(hp);
	if (json_is_integer(hp = json_object_get(f, "child_host_pid")))
		child = json_integer_value(hp);
	long ci = writes__proc(r, order, child, t, 1);
	long pi = ci >= 0 && r->procs[ci].parent >= 0 ? r->procs[ci].parent :
		  writes__proc(r, order, parent, t, 0);
	snprintf(sub, sizeof(sub), "%s.write_sites_parent", at);
	if ((err = writes__table(r, d, tp, sub, pi)))
		return err;
	snprintf(sub, sizeof(sub), "%s.write_sites_child", at);
	return writes__table(r, d, tc, sub, ci);
}

int report__writes(struct report *r, struct diag *d)
{
	json_t *forks = json_object_get(r->root, "forks");
	if (!forks || json_is_null(forks))
		return 0;
	if (!json_is_array(forks))
		return diag__fail(d, "%s: forks: expected an array", r->file);
	size_t *order = malloc((r->n_procs ? r->n_procs : 1) * sizeof(*order));
	if (!order)
		return diag__fail(d, "out of memory");
	for (size_t i = 0; i < r->n_procs; i++)
		order[i] = i;
	if (r->n_procs > 1)
		qsort_r(order, r->n_procs, sizeof(*order), by_pid, r->procs);
	int err = 0;
	for (size_t i = 0; !err && i < json_array_size(forks); i++)
		err = writes__fork(r, d, order, json_array_get(forks, i), i);
	free(order);
	return err;
}

void report__writes_free(struct report *r)
{
	for (size_t i = 0; i < r->n_ws; i++)
		free(r->ws[i].label);
	free(r->ws);
	r->ws = NULL;
	r->n_ws = r->cap_ws = 0;
}

/* ---- two reports ---- */

struct witem {
	const char *role, *label;
	uint64_t copies;
	double var;
	int side;
};

static int witem_cmp(const void *a, const void *b)
{
	const struct witem *x = a, *y = b;
	int c = strcmp(x->role, y->role);
	return c ? c : strcmp(x->label, y->label);
}

int wpair__beyond(const struct diff_opts *o, const struct wpair *w, int64_t d)
{
	double u = d < 0 ? -(double)d : (double)d;
	if (!d || u < (double)o->min_pages)
		return 0;
	return u * u > WRITES_NOISE_SD * WRITES_NOISE_SD * w->var; /* no libm here */
}

/* Copies that moved between processes of one family at one write site
 * (whichever of a pool and its workers wrote a shared page first copied
 * it) are judged on their sum, as the mapping sites are (compare.c): a
 * group is one label in the roles of one family; where some grew and
 * others shrank, a sum within the floors moved entirely, else what the
 * decreases account for is taken off the increases (and the other way) in
 * proportion. */
static int by_family_label(const void *a, const void *b, void *arg)
{
	const struct wpair *ws = arg, *x = &ws[*(const size_t *)a], *y = &ws[*(const size_t *)b];
	size_t nx = family_len(x->role), ny = family_len(y->role);
	int c = memcmp(x->role, y->role, nx < ny ? nx : ny);
	if (c || nx != ny)
		return c ? c : nx < ny ? -1 : 1;
	return strcmp(x->label, y->label);
}

static void writes__settle(const struct diff_opts *o, struct result *res)
{
	size_t n = 0, *idx = malloc((res->n_wp ? res->n_wp : 1) * sizeof(*idx));
	if (!idx)
		return; /* own stays the whole change */
	for (size_t i = 0; i < res->n_wp; i++)
		if (strcmp(res->wp[i].role, "*"))
			idx[n++] = i;
	if (n > 1)
		qsort_r(idx, n, sizeof(*idx), by_family_label, res->wp);
	for (size_t g = 0; g < n;) {
		size_t h = g + 1;
		while (h < n && !by_family_label(&idx[g], &idx[h], res->wp))
			h++;
		uint64_t up = 0, down = 0;
		struct wpair sum = { 0 };
		for (size_t i = g; i < h; i++) {
			int64_t d = res->wp[idx[i]].own;
			if (d > 0)
				up += (uint64_t)d;
			else
				down += (uint64_t)-d;
			sum.var += res->wp[idx[i]].var;
		}
		if (up && down) {
			uint64_t mv = up < down ? up : down;
			int all = !wpair__beyond(o, &sum, up > down ? (int64_t)(up - down) :
						 -(int64_t)(down - up));
			for (size_t i = g; i < h; i++) {
				int64_t *own = &res->wp[idx[i]].own, d = *own;
				double share = (double)(d < 0 ? -d : d) * (double)mv /
					       (double)(d > 0 ? up : down);
				if (all)
					*own = 0;
				else if (d > 0)
					*own = d - (int64_t)(share + 0.5);
				else if (d < 0)
					*own = d + (int64_t)(share + 0.5);
			}
		}
		g = h;
	}
	free(idx);
}

int reports__writes(const struct diff_opts *o, const struct report *a, const struct report *b,
		    struct result *res)
{
	const struct report *rs[2] = { a, b };
	size_t n = 0, w = 0;
	struct witem *it;
	res->writes = a->has_writes && b->has_writes;
	res->writes_missing = a->has_writes == b->has_writes ? NULL : a->has_writes ? b->file :
							 a->file;
	if (!res->writes)
		return 0;
	it = malloc((2 * (a->n_ws + b->n_ws) + 1) * sizeof(*it));
	if (!it)
		return -ENOMEM;
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < rs[s]->n_ws; i++) {
			const struct wsrc *x = &rs[s]->ws[i];
			it[n++] = (struct witem){ report__role_of(rs[s], x->proc), x->label, x->copies,
						  x->var, s };
			it[n++] = (struct witem){ "*", x->label, x->copies, x->var, s };
		}
	if (n > 1)
		qsort(it, n, sizeof(*it), witem_cmp);
	res->wp = calloc(n ? n : 1, sizeof(*res->wp));
	if (!res->wp) {
		free(it);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct wpair *p = &res->wp[w];
		if (!w || witem_cmp(&it[i - 1], &it[i]))
			*(p = &res->wp[w++]) = (struct wpair){ .role = it[i].role,
								.label = it[i].label };
		else
			p = &res->wp[w - 1];
		if (it[i].side)
			p->b = sat_add(p->b, it[i].copies);
		else
			p->a = sat_add(p->a, it[i].copies);
		p->var += it[i].var;
	}
	free(it);
	res->n_wp = w;
	for (size_t i = 0; i < w; i++) {
		struct wpair *p = &res->wp[i];
		p->own = p->b >= p->a ? (int64_t)(p->b - p->a) : -(int64_t)(p->a - p->b);
	}
	writes__settle(o, res);
	return 0;
}

size_t writes__grown(const struct diff_opts *o, const struct result *res, const char *role,
		     const struct wpair **out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < res->n_wp; i++) {
		const struct wpair *w = &res->wp[i];
		if (strcmp(w->role, role) || w->own <= 0 || !wpair__beyond(o, w, w->own))
			continue;
		size_t k = n < max ? n++ : max;
		if (k == max && out[max - 1]->own >= w->own)
			continue;
		if (k == max)
			k = max - 1;
		while (k && out[k - 1]->own < w->own) {
			out[k] = out[k - 1];
			k--;
		}
		out[k] = w;
	}
	return n;
}
