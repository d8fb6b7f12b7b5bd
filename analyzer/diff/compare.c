/* SPDX-License-Identifier: MIT */
/*
 * diff, step 3 of 4: compare. The pairs match.c made of two reports -> each
 * pair's own change (what moved between sites or processes of one family
 * taken off: result__settle), the changes worth showing (rows: the whole
 * report and every site, noise cut by --min-pages and --min-change) and
 * the --max-increase bounds exceeded on the roles' changes less what moved
 * in to them (violations: at the whole report and at each role, with the
 * site whose own growth was the largest there). Also the metrics' names.
 * Next: print.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff_int.h"

static const char *const other_metric_names[M_NAMES - FC_N] = {
	"total_faults", "pages_allocated", "vma_count", "live_bytes", "bytes_mapped",
	"write_site",
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
		    set == DIFF_METRICS_CLASSES ? FC_N : M_NAMES);
}

int diff__metric_by_name(const char *name, size_t len)
{
	for (int m = 0; m < M_NAMES; m++)
		if (strlen(metric_name(m)) == len && !strncmp(name, metric_name(m), len))
			return m;
	/* the name live_bytes had before bytes_mapped came: gates written
	 * then keep the figure they meant */
	if (len == 12 && !strncmp(name, "mapped_bytes", len))
		return M_LIVE_BYTES;
	return -1;
}

/* Noise (docs/diff.md "Metrics and noise"). Two floors, a change must pass
 * both to be shown: --min-pages, in pages (faults and pages count as pages,
 * bytes are divided by the page size; vma_count counts mappings), and
 * --min-change, a percentage of the base (a site that grows from 0 passes
 * it). The bounds use --min-pages alone: a bound is a percentage already. */

static uint64_t mag(int64_t d)
{
	return d < 0 ? (uint64_t)0 - (uint64_t)d : (uint64_t)d;
}

static int64_t delta(uint64_t old, uint64_t new)
{
	return new >= old ? (int64_t)(new - old) : -(int64_t)(old - new);
}

/* A change of |d| in the units --min-pages counts. */
static uint64_t floor_units(enum metric m, uint64_t d, uint64_t page_size)
{
	if (m == M_LIVE_BYTES || m == M_BYTES_MAPPED)
		return d / (page_size ? page_size : 4096);
	return d;
}

/* d from old passes --min-pages and, when `relative`, --min-change. */
static int beyond(const struct diff_opts *o, uint64_t page_size, enum metric m, uint64_t old,
		  int64_t d, int relative)
{
	uint64_t u = mag(d);
	if (!u || floor_units(m, u, page_size) < o->min_pages)
		return 0;
	return !relative || !old || (long double)u * 100.0L >= (long double)old * o->min_change;
}

/* A byte change that is a few mappings more or fewer (under --min-pages of
 * them) of the sizes the site's mappings have: the same memory mapped in
 * another number of pieces (a stack or a library's mapping recorded in two,
 * a heap grown in more steps), not more of it. */
static int pieces(const struct diff_opts *o, const struct pair *p, enum metric m, int64_t d)
{
	uint64_t na = p->a.v[M_VMA_COUNT], nb = p->b.v[M_VMA_COUNT];
	uint64_t dn = na > nb ? na - nb : nb - na, pa, pb;
	if ((m != M_LIVE_BYTES && m != M_BYTES_MAPPED) || !dn || dn >= o->min_pages)
		return 0;
	pa = na ? p->a.v[M_BYTES_MAPPED] / na : 0;
	pb = nb ? p->b.v[M_BYTES_MAPPED] / nb : 0;
	return mag(d) <= sat_mul(dn, pa > pb ? pa : pb);
}

/* ---- moves ----
 * Work that changed hands between processes of different roles at one call
 * site (a parallel query's scan split between a backend and its worker as
 * timing goes), or between sites of one role that are one allocator's (two
 * stacks into _PyObject_ArenaMmap; malloc's dynamic mmap threshold turning
 * a buffer from an mmap into heap): one +N, another -N. Such a group is
 * judged on its sum. Where the sum's change is noise, every member's change
 * moved and none is its own; else what the decreases account for is taken
 * off the increases (and the other way), in proportion, and the rest is
 * the members' own. Shared memory's groups are judged on their sum even
 * where no member shrank (is_shared). */

static int is_anon(const char *kind)
{
	return kind && (!strcmp(kind, "anon") || !strcmp(kind, "heap"));
}

/* Shared memory (kind shm): a process's fault there maps a page of the
 * family's into its own page tables, a page its siblings may have mapped
 * too. How many of them do depends on which process did which part of the
 * work (a server's WAL written by its walwriter or by the backends that
 * filled the buffers: 193 to 958 faults of the walwriter's in identical
 * runs), so a member's growth need not be matched by another's decrease:
 * such a group is judged on its sum whichever way its members moved. */
static int is_shared(const char *kind)
{
	return kind && !strcmp(kind, "shm");
}

/* A role's family: the program its last exec started, with the processes
 * that program forked without exec'ing (a server and its workers, a pool
 * and its workers): the role up to the first "/fork" after its last
 * ":exec(" (a root without exec: up to its first "/fork"). */
size_t family_len(const char *role)
{
	const char *e = NULL, *f;
	for (const char *x = strstr(role, ":exec("); x; x = strstr(x + 1, ":exec("))
		e = x;
	f = strstr(e ? e : role, "/fork");
	return f ? (size_t)(f - role) : strlen(role);
}

/* The path in a site key `<kind>[:<path>][@<frames>]`, and its length. */
static const char *key_path(const char *key, size_t *len)
{
	size_t k = strcspn(key, ":@");
	if (key[k] != ':') {
		*len = 0;
		return "";
	}
	*len = strcspn(key + k + 1, "@");
	return key + k + 1;
}

/* One group: sites of the same short name, kind and path in processes of
 * one parent (one role, or the workers, backends, jobs one server, pool or
 * make forked), heap and anon being one kind (both are what malloc hands
 * out). Stacks may differ further out (a backend and a parallel worker
 * reach one allocation from two main loops). */
static int by_group(const void *a, const void *b, void *arg)
{
	const struct pair *ps = arg, *x = &ps[*(const size_t *)a], *y = &ps[*(const size_t *)b];
	const char *kx = pair__kind(x), *ky = pair__kind(y), *lx = pair__label(x),
		   *ly = pair__label(y), *px, *py;
	size_t nx = family_len(x->role), ny = family_len(y->role), lpx, lpy;
	int c = memcmp(x->role, y->role, nx < ny ? nx : ny);
	if (c || nx != ny)
		return c ? c : nx < ny ? -1 : 1;
	if ((c = strcmp(is_anon(kx) ? "anon" : kx ? kx : "", is_anon(ky) ? "anon" : ky ? ky : "")))
		return c;
	px = key_path(pair__key(x), &lpx);
	py = key_path(pair__key(y), &lpy);
	if ((c = memcmp(px, py, lpx < lpy ? lpx : lpy)) || lpx != lpy)
		return c ? c : lpx < lpy ? -1 : 1;
	return strcmp(lx ? lx : "", ly ? ly : "");
}

/* What malloc gave the processes of one parent: their heap and anon sites
 * whatever their names (memory one allocation freed is handed to another;
 * a heap grown by one site is used by the next; a leader's sort memory is
 * reached by another path in its worker). Listing only (result__settle). */
static int by_family_anon(const void *a, const void *b, void *arg)
{
	const struct pair *ps = arg, *x = &ps[*(const size_t *)a], *y = &ps[*(const size_t *)b];
	size_t nx = family_len(x->role), ny = family_len(y->role);
	int c = memcmp(x->role, y->role, nx < ny ? nx : ny);
	return c ? c : nx < ny ? -1 : nx > ny;
}

static int64_t *change_of(struct pair *p, int list)
{
	return list ? p->list : p->own;
}

static void group__settle(const struct diff_opts *o, struct result *res, const size_t *idx,
			  size_t n, int list)
{
	int shared = is_shared(pair__kind(&res->pairs[idx[0]]));
	for (int m = 0; m < M_NR; m++) {
		uint64_t up = 0, down = 0, base = 0, mv;
		for (size_t i = 0; i < n; i++) {
			struct pair *p = &res->pairs[idx[i]];
			int64_t d = change_of(p, list)[m];
			if (d > 0)
				up = sat_add(up, (uint64_t)d);
			else
				down = sat_add(down, mag(d));
			base = sat_add(base, p->a.v[m]);
		}
		if (!up && !down)
			continue;
		if ((!up || !down) && !shared)
			continue;
		mv = up < down ? up : down;
		int all = !beyond(o, res->page_size, m, base, delta(down, up), 1);
		for (size_t i = 0; i < n; i++) {
			int64_t *own = change_of(&res->pairs[idx[i]], list), d = own[m];
			long double share = d ? (long double)mag(d) * (long double)mv /
						(long double)(d > 0 ? up : down) : 0.0L;
			if (all)
				own[m] = 0;
			else if (d > 0)
				own[m] = d - (int64_t)(share + 0.5L);
			else if (d < 0)
				own[m] = d + (int64_t)(share + 0.5L);
		}
	}
}

/* idx[0..n) sorted by cmp: each run of equals (two or more) settled. */
static void groups__settle(const struct diff_opts *o, struct result *res, size_t *idx, size_t n,
			   int (*cmp)(const void *, const void *, void *), int list)
{
	if (n > 1)
		qsort_r(idx, n, sizeof(*idx), cmp, res->pairs);
	for (size_t g = 0; g < n;) {
		size_t h = g + 1;
		while (h < n && !cmp(&idx[g], &idx[h], res->pairs))
			h++;
		if (h - g > 1)
			group__settle(o, res, idx + g, h - g, list);
		g = h;
	}
}

/* Every pair's own change (moves taken off); a role's is its sites'. */
static int result__settle(const struct diff_opts *o, struct result *res)
{
	size_t n = res->n_pairs, *idx = malloc((n ? n : 1) * sizeof(*idx)), m = 0;
	if (!idx)
		return -ENOMEM;
	for (size_t k = 0; k < n; k++)
		for (int i = 0; i < M_NR; i++)
			res->pairs[k].own[i] = delta(res->pairs[k].a.v[i], res->pairs[k].b.v[i]);
	for (size_t k = 1; k < n; k++)
		if (pair__key(&res->pairs[k]))
			idx[m++] = k;
	groups__settle(o, res, idx, m, by_group, 0);
	/* A role's own change: its change less what moved in to its sites.
	 * What moved out of them is not added back: it is gone from the role
	 * however it went, and adding it back would charge the role growth it
	 * did not show (a decrease at one site that moved to a sibling left the
	 * few pages its other sites wobbled up by to pass --min-pages together
	 * as growth: two identical runs failed a gate on a role grown 2 pages,
	 * docs/diff.md "Moves"). A site's own change is never beyond its
	 * change (group__settle), so this is the sum of its growing sites' own
	 * changes and its shrinking sites' whole changes. */
	for (size_t k = 1; k < n;) {
		struct pair *r = &res->pairs[k];
		size_t end = k + 1;
		while (end < n && pair__key(&res->pairs[end])) {
			const struct pair *p = &res->pairs[end++];
			for (int i = 0; i < M_NR; i++) {
				int64_t in = delta(p->a.v[i], p->b.v[i]) - p->own[i];
				if (in > 0)
					r->own[i] -= in;
			}
		}
		k = end;
	}
	/* the roles' own changes are set: what follows changes only which of
	 * a role's sites are listed */
	m = 0;
	for (size_t k = 0; k < n; k++) {
		memcpy(res->pairs[k].list, res->pairs[k].own, sizeof(res->pairs[k].list));
		if (k && pair__key(&res->pairs[k]) && is_anon(pair__kind(&res->pairs[k])))
			idx[m++] = k;
	}
	groups__settle(o, res, idx, m, by_family_anon, 1);
	/* What moved in from the family's heap and anon sites of other names
	 * is not the role's own either, when it is more than noise itself
	 * (--min-pages): a parallel sort's memory grown at one allocation
	 * site in the worker and shrunk at another in its leader read +53.7%
	 * at the worker's role between two identical pgbench runs
	 * (docs/diff.md "Moves"). */
	for (size_t k = 1; k < n;) {
		struct pair *r = &res->pairs[k];
		size_t end = k + 1;
		int64_t in[M_NR] = { 0 };
		while (end < n && pair__key(&res->pairs[end])) {
			const struct pair *p = &res->pairs[end++];
			for (int i = 0; i < M_NR; i++)
				if (p->own[i] > 0 && p->list[i] < p->own[i])
					in[i] += p->own[i] - (p->list[i] > 0 ? p->list[i] : 0);
		}
		for (int i = 0; i < M_NR; i++)
			if (in[i] && floor_units((enum metric)i, (uint64_t)in[i], res->page_size) >=
					     o->min_pages)
				r->own[i] -= in[i];
		k = end;
	}
	free(idx);
	return 0;
}

static int exceeds(const struct diff_bound *bd, uint64_t old, int64_t own)
{
	uint64_t new = own < 0 ? (mag(own) > old ? 0 : old - mag(own)) : sat_add(old, (uint64_t)own);
	if (!old)
		return new > 0;
	return (long double)new * 100.0L > (long double)old * (100.0L + (long double)bd->pct);
}

void result__free(struct result *res)
{
	free(res->pairs);
	free(res->rows);
	free(res->over);
	free(res->wp);
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
		/* not the tool's own memory: it grows with the processes run,
		 * and the program's own growth is what the line is for */
		if (!pair__key(p) || p->own[m] <= 0 || !strcmp(pair__key(p), DIFF_INTERNAL_KEY))
			continue;
		if ((uint64_t)p->own[m] > grew) {
			grew = (uint64_t)p->own[m];
			best = p;
		}
	}
	return best;
}

static int violation__add(const struct diff_opts *o, struct result *res, size_t *cap,
			  size_t bound, const struct pair *at, const struct pair *most,
			  const struct wpair *ws)
{
	struct violation *v = grow(res->over, res->n_over, cap, sizeof(*v), 16);
	if (!v)
		return -ENOMEM;
	res->over = v;
	v = &res->over[res->n_over++];
	*v = (struct violation){ .bound = bound, .at = at, .most = most, .ws = ws };
	/* copies: the write sites that made most of the growth (writes.c) */
	if (!ws && o->bounds[bound].metric == FC_COW_COPY && res->writes)
		v->n_by = writes__grown(o, res, at->role, v->by, WRITERS_MAX);
	return 0;
}

/* The pair of process role `role` (pairs are sorted by role; "*" is
 * pairs[0]), or NULL. */
static const struct pair *role_pair(const struct result *res, const char *role)
{
	if (!strcmp(role, "*"))
		return &res->pairs[0];
	for (size_t k = 1; k < res->n_pairs; k++)
		if (!pair__key(&res->pairs[k]) && !strcmp(res->pairs[k].role, role))
			return &res->pairs[k];
	return NULL;
}

/* A write_site bound: each write site of each role and of the whole report
 * whose own change passes --min-pages and the sampling's floor
 * (wpair__beyond); --min-change does not hide a bound. */
static int writes__bound(const struct diff_opts *o, struct result *res, size_t bd,
			 size_t *cap_over)
{
	for (size_t i = 0; i < res->n_wp; i++) {
		const struct wpair *w = &res->wp[i];
		const struct pair *at;
		if (w->own <= 0 || !wpair__beyond(o, w, w->own) ||
		    !exceeds(&o->bounds[bd], w->a, w->own) || !(at = role_pair(res, w->role)))
			continue;
		if (violation__add(o, res, cap_over, bd, at, NULL, w))
			return -ENOMEM;
	}
	return 0;
}

static int bounded(const struct diff_opts *o, enum metric m)
{
	for (size_t i = 0; i < o->n_bounds; i++)
		if (o->bounds[i].metric == (int)m)
			return 1;
	return 0;
}

/* Changes: the whole report and every site; a role's own figures are the
 * sum of its sites, checked against the bounds (result__bounds). */
static int result__rows(const struct diff_opts *o, struct result *res)
{
	size_t cap_rows = 0;
	const struct pair *role = &res->pairs[0];
	for (size_t k = 0; k < res->n_pairs; k++) {
		const struct pair *p = &res->pairs[k];
		if (!pair__key(p))
			role = p;
		if (k && !pair__key(p))
			continue;
		for (int m = 0; m < M_NR; m++) {
			/* --min-change of the role's figure: a site's change that is
			 * small for its processes is the allocator's path, not theirs */
			if (!beyond(o, res->page_size, m, role->a.v[m] > p->a.v[m] ? role->a.v[m] :
				    p->a.v[m], p->list[m], 1) ||
			    pieces(o, p, m, p->list[m]))
				continue;
			/* listed when a bound asks for them (docs/diff.md): bytes
			 * mapped and unmapped again (reservations, malloc's arenas
			 * and chunks) move with the allocator's choices, file
			 * faults with the page cache (fault-around maps up to 16
			 * cached pages per fault; a page evicted between runs is
			 * one more fault) */
			if ((m == M_BYTES_MAPPED || m == (int)FC_FILE) && o->min_pages &&
			    !bounded(o, (enum metric)m))
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
		if ((int)m == M_WRITE_SITE) {
			if (writes__bound(o, res, bd, &cap_over))
				return -ENOMEM;
			res->bounds_over += res->n_over > before;
			continue;
		}
		if (exceeds(&o->bounds[bd], t->a.v[m], t->own[m]) &&
		    violation__add(o, res, &cap_over, bd, t, most_grown(res, 1, n, m), NULL))
			return -ENOMEM;
		for (size_t k = 1; k < n; k++) {
			const struct pair *p = &res->pairs[k];
			size_t end = k + 1;
			if (pair__key(p))
				continue;
			while (end < n && pair__key(&res->pairs[end]))
				end++;
			if (!beyond(o, res->page_size, m, p->a.v[m], p->own[m], 0) ||
			    pieces(o, p, m, p->own[m]) || !exceeds(&o->bounds[bd], p->a.v[m], p->own[m]))
				continue;
			if (violation__add(o, res, &cap_over, bd, p, most_grown(res, k + 1, end, m),
					   NULL))
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
		err = result__settle(o, res);
	if (!err)
		err = reports__writes(o, a, b, res);
	if (!err)
		err = result__rows(o, res);
	if (!err)
		err = result__bounds(o, res);
	return err;
}
