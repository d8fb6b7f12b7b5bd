/* SPDX-License-Identifier: MIT */
/*
 * diff, step 3 of 4: compare. The pairs match.c made of two reports -> the
 * changes worth showing (rows: the whole report and every site, noise cut
 * by --min-pages) and the --max-increase bounds exceeded (violations: at
 * the whole report and at each role, with the site that grew the most
 * there). Also the metrics' names. Next: print.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff_int.h"

static const char *const other_metric_names[M_NR - FC_N] = {
	"total_faults", "pages_allocated", "vma_count", "live_bytes", "bytes_mapped",
};

const char *metric_name(int m)
{
	return m < FC_N ? fclass_name[m] : other_metric_names[m - FC_N];
}

/* The names of metrics [from, to), space-separated (usage and errors). */
static void metric_list(char *buf, size_t cap, int from, int to)
{
	size_t n = 0;
	buf[0] = 0;
	for (int m = from; m < to && n < cap; m++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%s", m > from ? " " : "", metric_name(m));
}

void diff__metric_list(char *buf, size_t cap, enum diff_metrics set)
{
	metric_list(buf, cap, set == DIFF_METRICS_FIGURES ? FC_N : 0,
		    set == DIFF_METRICS_CLASSES ? FC_N : M_NR);
}

int diff__metric_by_name(const char *name, size_t len)
{
	for (int m = 0; m < M_NR; m++)
		if (strlen(metric_name(m)) == len && !strncmp(name, metric_name(m), len))
			return m;
	/* the name live_bytes had before bytes_mapped came: gates written
	 * then keep the figure they meant */
	if (len == 12 && !strncmp(name, "mapped_bytes", len))
		return M_LIVE_BYTES;
	return -1;
}

/* A change is noise when it is smaller than --min-pages pages: faults and
 * pages count as pages, bytes in pages, vma_count by the pages of the VMAs
 * behind it (bytes_mapped). */
static int is_noise(const struct diff_opts *o, uint64_t page_size, enum metric m,
		    const struct metrics *a, const struct metrics *b)
{
	uint64_t x = a->v[m], y = b->v[m], d;
	if (!o->min_pages)
		return 0;
	if (m == M_VMA_COUNT) {
		x = a->v[M_BYTES_MAPPED];
		y = b->v[M_BYTES_MAPPED];
	}
	d = x > y ? x - y : y - x;
	if (m == M_LIVE_BYTES || m == M_BYTES_MAPPED || m == M_VMA_COUNT)
		d /= page_size;
	return d < o->min_pages;
}

static int exceeds(const struct diff_bound *bd, uint64_t old, uint64_t new)
{
	if (!old)
		return new > 0;
	return (long double)new * 100.0L > (long double)old * (100.0L + (long double)bd->pct);
}

void result__free(struct result *res)
{
	free(res->pairs);
	free(res->rows);
	free(res->over);
}

double change_pct(uint64_t old, uint64_t new)
{
	return ((double)new - (double)old) * 100.0 / (double)old;
}


/* The pair of a role and its sites: pairs[i] (key NULL) and pairs[i+1..]. */
static const struct pair *most_grown(const struct result *res, size_t from, size_t to,
				     enum metric m)
{
	const struct pair *best = NULL;
	uint64_t grew = 0;
	for (size_t i = from; i < to; i++) {
		const struct pair *p = &res->pairs[i];
		if (!pair__key(p) || p->b.v[m] <= p->a.v[m])
			continue;
		if (p->b.v[m] - p->a.v[m] > grew) {
			grew = p->b.v[m] - p->a.v[m];
			best = p;
		}
	}
	return best;
}

static int violation__add(struct result *res, size_t *cap, size_t bound, const struct pair *at,
			  const struct pair *most)
{
	struct violation *v = grow(res->over, res->n_over, cap, sizeof(*v), 16);
	if (!v)
		return -ENOMEM;
	res->over = v;
	res->over[res->n_over++] = (struct violation){ bound, at, most };
	return 0;
}

/* Changes: the whole report and every site; a role's own figures are the
 * sum of its sites, checked against the bounds (result__bounds). */
static int result__rows(const struct diff_opts *o, struct result *res)
{
	size_t cap_rows = 0;
	for (size_t k = 0; k < res->n_pairs; k++) {
		const struct pair *p = &res->pairs[k];
		if (k && !pair__key(p))
			continue;
		for (int m = 0; m < M_NR; m++) {
			if (p->a.v[m] == p->b.v[m] || is_noise(o, res->page_size, m, &p->a, &p->b))
				continue;
			/* nothing unmapped on either side: the same change as live_bytes */
			if (m == M_BYTES_MAPPED && p->a.v[m] == p->a.v[M_LIVE_BYTES] &&
			    p->b.v[m] == p->b.v[M_LIVE_BYTES])
				continue;
			struct row *r = grow(res->rows, res->n_rows, &cap_rows, sizeof(*r), 64);
			if (!r)
				return -ENOMEM;
			res->rows = r;
			res->rows[res->n_rows++] = (struct row){ p, m };
		}
	}
	return 0;
}

/* Bounds: the whole report always; each role unless the change is noise. */
static int result__bounds(const struct diff_opts *o, struct result *res)
{
	size_t n = res->n_pairs, cap_over = 0;
	for (size_t bd = 0; bd < o->n_bounds; bd++) {
		enum metric m = o->bounds[bd].metric;
		size_t before = res->n_over;
		const struct pair *t = &res->pairs[0];
		if (exceeds(&o->bounds[bd], t->a.v[m], t->b.v[m]) &&
		    violation__add(res, &cap_over, bd, t, most_grown(res, 1, n, m)))
			return -ENOMEM;
		for (size_t k = 1; k < n; k++) {
			const struct pair *p = &res->pairs[k];
			size_t end = k + 1;
			if (pair__key(p))
				continue;
			while (end < n && pair__key(&res->pairs[end]))
				end++;
			if (is_noise(o, res->page_size, m, &p->a, &p->b) ||
			    !exceeds(&o->bounds[bd], p->a.v[m], p->b.v[m]))
				continue;
			if (violation__add(res, &cap_over, bd, p, most_grown(res, k + 1, end, m)))
				return -ENOMEM;
		}
		res->bounds_over += res->n_over > before;
	}
	return 0;
}

int reports__compare(const struct diff_opts *o, const struct report *a,
		     const struct report *b, struct result *res)
{
	int err = reports__pair(a, b, res);
	res->page_size = b->page_size;
	if (!err)
		err = result__rows(o, res);
	if (!err)
		err = result__bounds(o, res);
	return err;
}
