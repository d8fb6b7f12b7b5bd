/* SPDX-License-Identifier: MIT */
/*
 * The shape every output shows (docs/report.md, "Call sites" and "Folded
 * mappings"), computed once after the analysis:
 *
 * - Call sites: each entry of a process belongs to the site that created
 *   it, keyed by its symbolized creating stack (frames by function, or by
 *   module and address where no symbol is known): two stacks that differ
 *   only in return addresses within the same functions are one site, and
 *   a child's inherited entries (which keep the parent's stack) belong to
 *   the parent's code path. Entries without a stack are grouped by origin,
 *   kind, path and why there is no stack; the shim's own memory is one site.
 *   A site sums its entries' figures.
 * - Folding: entries of one site with the same kind, prot, size, sharing,
 *   path and origin whose lifetimes do not overlap become one entry with
 *   `instances` N (the first's address and creation, the last's
 *   destruction, every figure summed) once the site made more than
 *   FOLD_MIN of them. Chains are built by interval partitioning (earliest
 *   ending chain first), so N live-at-once mappings stay N entries.
 * - Unused inherited mappings: a fork child's copy of a parent's mapping
 *   that it dropped at its exec without a fault, a populated page or any
 *   other event on it (make's and sh's children, before they exec the next
 *   program) is not an entry of its own: the process counts them in
 *   `inherited_unused` (the parent's entry shows the mapping). Kept as
 *   entries when another process's entry was inherited from one of them,
 *   and with --every-vma.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "label.h"
#include "model.h"

#define FOLD_MIN 16
#define INTERNAL_KEY "(vmaprof) the shim's own memory"

/* The analyzer's text buffers (traceutil.h) stop it when memory runs out. */
#define sbuf_add(b, ...) (vp_buf_printf((b), __VA_ARGS__) ? model__oom() : (void)0)
#define sbuf_put(b, s, n) (vp_buf_put((b), (s), (n)) ? model__oom() : (void)0)

/* A stack key names every frame: at 10,000 processes of unsymbolized
 * frames vp_frame_anon's snprintf was 3% of the command (model.h). */
size_t sites__frame_anon(const struct vp_frame *f, char *buf, size_t n)
{
	char hex[24];
	size_t h = (size_t)(vp_hex_into(hex + sizeof(hex), f->module ? f->mod_offset : f->ip, 1) -
			    hex);
	size_t len = 0;
	if (f->module) {
		const char *base = strrchr(f->module, '/');
		base = base ? base + 1 : f->module;
		size_t bl = strlen(base);
		memcpy(buf, base, bl < n - 1 ? bl : n - 1);
		len = bl < n - 1 ? bl : n - 1;
		if (len < n - 1)
			buf[len++] = '+';
	}
	for (const char *x = "0x"; *x && len < n - 1; x++)
		buf[len++] = *x;
	size_t hl = sizeof(hex) - h;
	if (hl > n - 1 - len)
		hl = n - 1 - len;
	memcpy(buf + len, hex + h, hl);
	len += hl;
	buf[len] = 0;
	return len;
}

/* The key of a creating stack: frames innermost first, ';'-separated. */
static const char *stack_key(struct analysis *a, struct vp_buf *b, int32_t file, uint32_t id)
{
	const struct vp_stack *s = stack_map__get(&a->files[file].stacks, id);
	if (!s || !s->depth)
		return NULL;
	b->n = 0;
	for (uint32_t i = 0; i < s->depth; i++) {
		struct vp_frame f = { .ip = s->ips[i] };
		symbolizer__lookup_fn(a->sym, (uint64_t)file, s->ips[i], i > 0, &f);
		char anon[300];
		if (i)
			sbuf_put(b, ";", 1);
		if (f.function)
			sbuf_put(b, f.function, strlen(f.function));
		else
			sbuf_put(b, anon, sites__frame_anon(&f, anon, sizeof(anon)));
	}
	return b->p;
}

/* Without a stack: by origin, kind, path and why there is no stack. */
static const char *stackless_key(struct vp_buf *b, const struct proc *p, const struct vma *e)
{
	const char *missing = vma__stack_missing(p, e);
	b->n = 0;
	sbuf_add(b, "(%s) %s%s%s%s%s", vo_name[e->origin], vk_name[e->kind], e->path ? " " : "",
		 e->path ? e->path : "", missing ? "; no stack: " : "", missing ? missing : "");
	return b->p;
}

/* The site of key in p (created on first sight); stack: a representative. */
static uint32_t site_of(struct proc *p, struct u64map *by_key, const char *key, int32_t file,
			uint32_t id)
{
	for (uint64_t h = vp_hash_str(key);; h = h + 1 ? h + 1 : 1) {
		uintptr_t i = (uintptr_t)u64map__get(by_key, h);
		if (!i) {
			p->sites = model__grow(p->sites, &p->capsites, p->nsites + 1,
					       sizeof(*p->sites));
			struct csite *s = &p->sites[p->nsites];
			memset(s, 0, sizeof(*s));
			s->key = strdup(key);
			if (!s->key || u64map__put(by_key, h, (void *)(uintptr_t)(p->nsites + 1)))
				model__oom();
			s->stack_file = id ? file : -1;
			s->stack_id = id;
			return p->nsites++;
		}
		if (!strcmp(p->sites[i - 1].key, key))
			return (uint32_t)i - 1;
	}
}

const char *sites__demangle(struct analysis *a, const char *fn)
{
	if (!fn)
		return NULL;
	const char *d = u64map__get(&a->demangled, (uintptr_t)fn);
	if (d)
		return d;
	char *m = label__demangle(fn);
	d = m ? m : fn;
	if (u64map__put(&a->demangled, (uintptr_t)fn, (void *)d)) {
		free(m);
		model__oom();
	}
	return d;
}

/* label__is_plumbing of one of the symbolizer's strings (function or
 * module), remembered by its pointer: the symbolizer hands out one pointer
 * per text for as long as it lives (as sites__demangle keys on), and a
 * build's hundreds of processes label the same frames again and again
 * (a mangled name was demangled twice and matched against every glob at
 * each sight). */
static int plumbing_of(struct analysis *a, struct u64map *memo, const char *s, int module)
{
	if (!s)
		return 0;
	uintptr_t v = (uintptr_t)u64map__get(memo, (uintptr_t)s);
	if (!v) {
		struct vp_frame f = { .function = module ? NULL : s, .module = module ? s : NULL };
		v = 1 + (label__is_plumbing(a->rules, &f) != 0);
		if (u64map__put(memo, (uintptr_t)s, (void *)v))
			model__oom();
	}
	return v == 2;
}

static int plumbing_memo(void *ctx, const struct vp_frame *f)
{
	struct analysis *a = ctx;
	return plumbing_of(a, &a->plumbing_fn, f->function, 0) ||
	       plumbing_of(a, &a->plumbing_mod, f->module, 1);
}

/* The label frame of f[0..n) under a's rules (label__pick, memoised). */
static int pick_label(struct analysis *a, const struct vp_frame *f, size_t n)
{
	return a->rules ? label__pick_with(f, n, plumbing_memo, a) : -1;
}

/* The name a person reads: the demangled function of the first frame
 * outside allocator and runtime plumbing (label.h); for a stackless site,
 * its path or kind, origin and why it has no stack. */
static void site_label(struct analysis *a, const struct proc *p, struct csite *s, struct vp_buf *b)
{
	const struct vp_stack *st = s->stack_id ? stack_map__get(&a->files[s->stack_file].stacks,
								  s->stack_id) : NULL;
	s->label_frame = -1;
	b->n = 0;
	if (st && st->depth) {
		struct vp_frame f[VP_MAX_STACK_DEPTH];
		uint32_t n = st->depth < VP_MAX_STACK_DEPTH ? st->depth : VP_MAX_STACK_DEPTH;
		for (uint32_t i = 0; i < n; i++) {
			f[i] = (struct vp_frame){ .ip = st->ips[i] };
			symbolizer__lookup_fn(a->sym, (uint64_t)s->stack_file, st->ips[i], i > 0,
					      &f[i]);
		}
		int k = pick_label(a, f, n);
		if (k < 0)
			k = 0;
		/* only the label's frame shows its line */
		symbolizer__lookup(a->sym, (uint64_t)s->stack_file, st->ips[k], k > 0, &f[k]);
		s->label_frame = k;
		if (f[k].function)
			sbuf_add(b, "%s", sites__demangle(a, f[k].function));
		else {
			/* no symbol (a static function of a stripped binary): the file
			 * and offset, and the nearest caller that has a name */
			char anon[300];
			sbuf_add(b, "%s", vp_frame_anon(&f[k], anon, sizeof(anon)));
			for (uint32_t j = (uint32_t)k + 1; j < n; j++)
				if (f[j].function) {
					sbuf_add(b, " < %s", sites__demangle(a, f[j].function));
					break;
				}
		}
		if (f[k].file && f[k].line) {
			char w[300];
			snprintf(w, sizeof(w), "%s:%d", vp_base_name(f[k].file), f[k].line);
			s->where = strdup(w);
			if (!s->where)
				model__oom();
		}
	} else if (!strcmp(s->key, INTERNAL_KEY)) {
		sbuf_add(b, "vmaprof's own memory");
	} else {
		const struct vma *e = &p->v[s->first_vma - 1];
		const char *missing = vma__stack_missing(p, e);
		if (e->path)
			sbuf_add(b, "%s %s", vp_base_name(e->path), vo_name[e->origin]);
		else
			sbuf_add(b, "[%s] %s", vk_name[e->kind], vo_name[e->origin]);
		sbuf_add(b, "%s%s", missing ? "; no stack: " : "", missing ? missing : "");
	}
	s->label = strdup(b->p ? b->p : "");
	if (!s->label)
		model__oom();
}

static void add_figures(struct vma *to, struct vma *e)
{
	for (int c = 0; c < FC_N; c++)
		to->faults[c] += e->faults[c];
	to->pages += e->pages;
	to->pop_faults += e->pop_faults;
	to->pop_pages += e->pop_pages;
	uint64_t key;
	void *n;
	for (size_t i = 0; u64map__next(&e->fault_sites, &i, &key, &n);) {
		uintptr_t have = (uintptr_t)u64map__get(&to->fault_sites, key);
		if (u64map__put(&to->fault_sites, key, (void *)(have + (uintptr_t)n)))
			model__oom();
	}
	u64map__free(&e->fault_sites);
	memset(e->faults, 0, sizeof(e->faults));
	e->pages = e->pop_faults = e->pop_pages = 0;
}

/* An entry a fork child inherited and dropped at its exec untouched. */
static int unused_inherited(const struct vma *e)
{
	if (e->origin != VO_INHERITED || e->ended_by != VE_EXEC || e->internal || e->piece_of ||
	    e->pages || e->pop_faults || e->pop_pages || e->fault_sites.n)
		return 0;
	for (int c = 0; c < FC_N; c++)
		if (e->faults[c])
			return 0;
	return 1;
}

static uint64_t ref_key(uint32_t pid, uint32_t id)
{
	return ((uint64_t)pid << 32) | id;
}

static int foldable(const struct vma *e)
{
	return !e->piece_of && e->ended_by != VE_SPLIT && !e->internal;
}

static struct proc *fold_proc; /* qsort context */

/* Entries of one shape: same site, kind, prot, size, sharing, origin, path. */
static int same_shape(const struct vma *a, const struct vma *b)
{
	return a->site == b->site && a->kind == b->kind && a->prot == b->prot &&
	       a->shared == b->shared && a->origin == b->origin &&
	       a->end - a->start == b->end - b->start && a->path == b->path;
}

static int shape_cmp(const void *x, const void *y)
{
	const struct vma *a = &fold_proc->v[*(const uint32_t *)x];
	const struct vma *b = &fold_proc->v[*(const uint32_t *)y];
	if (a->site != b->site)
		return a->site < b->site ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->prot != b->prot)
		return a->prot < b->prot ? -1 : 1;
	if (a->shared != b->shared)
		return a->shared < b->shared ? -1 : 1;
	if (a->origin != b->origin)
		return a->origin < b->origin ? -1 : 1;
	if (a->end - a->start != b->end - b->start)
		return a->end - a->start < b->end - b->start ? -1 : 1;
	if (a->path != b->path)
		return (uintptr_t)a->path < (uintptr_t)b->path ? -1 : 1;
	if (a->valid_from != b->valid_from)
		return a->valid_from < b->valid_from ? -1 : 1;
	return *(const uint32_t *)x < *(const uint32_t *)y ? -1 : 1;
}

/* A min-heap of chains by the time their last entry ended. */
struct chain {
	uint64_t end;
	uint32_t rep;
};

static void heap_push(struct chain *h, uint32_t *n, struct chain c)
{
	uint32_t i = (*n)++;
	while (i && h[(i - 1) / 2].end > c.end) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = c;
}

static void heap_fix_top(struct chain *h, uint32_t n)
{
	uint32_t i = 0;
	struct chain c = h[0];
	for (;;) {
		uint32_t l = 2 * i + 1, m = i;
		struct chain best = c;
		if (l < n && h[l].end < best.end) {
			m = l;
			best = h[l];
		}
		if (l + 1 < n && h[l + 1].end < best.end)
			m = l + 1;
		if (m == i)
			break;
		h[i] = h[m];
		i = m;
	}
	h[i] = c;
}

/* Fold the group ids[0..n) (one shape, by creation time). */
static void fold_group(struct proc *p, const uint32_t *ids, uint32_t n, struct chain *heap)
{
	uint32_t nh = 0;
	for (uint32_t k = 0; k < n; k++) {
		struct vma *e = &p->v[ids[k]];
		if (nh && heap[0].end <= e->valid_from) {
			struct vma *r = &p->v[heap[0].rep];
			add_figures(r, e);
			r->instances++;
			r->last_destroyed_ns = e->destroyed_ns;
			r->last_ended_by = e->ended_by;
			e->folded_into = heap[0].rep + 1;
			heap[0].end = e->destroyed_ns;
			heap_fix_top(heap, nh);
		} else {
			heap_push(heap, &nh, (struct chain){ e->destroyed_ns, ids[k] });
		}
	}
}

static void fold(struct proc *p, uint32_t *ids, uint32_t n, struct chain *heap)
{
	fold_proc = p;
	if (n > 1)
		qsort(ids, n, sizeof(*ids), shape_cmp);
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i + 1;
		while (j < n && same_shape(&p->v[ids[i]], &p->v[ids[j]]))
			j++;
		if (j - i > FOLD_MIN)
			fold_group(p, ids + i, j - i, heap);
		i = j;
	}
}

/* Peak of the bytes the site's entries held at once. */
struct live_ev {
	uint64_t t;
	int64_t d;
};

static int live_cmp(const void *x, const void *y)
{
	const struct live_ev *a = x, *b = y;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->d < b->d ? -1 : a->d > b->d; /* ends before starts at one time */
}

static void site_peaks(struct proc *p)
{
	/* per site: its entries' [valid_from, destroyed) as +size/-size */
	uint32_t *count = calloc(p->nsites + 1, sizeof(*count));
	struct live_ev *ev = malloc(((size_t)p->nv * 2 + 1) * sizeof(*ev));
	uint32_t *first = calloc(p->nsites + 1, sizeof(*first));
	if (!count || !ev || !first)
		model__oom();
	for (uint32_t i = 0; i < p->nv; i++)
		if (p->v[i].folded_into != VMA_UNUSED)
			count[p->v[i].site] += 2;
	for (uint32_t s = 0, at = 0; s < p->nsites; s++) {
		first[s] = at;
		at += count[s];
		count[s] = first[s];
	}
	for (uint32_t i = 0; i < p->nv; i++) {
		const struct vma *e = &p->v[i];
		if (e->folded_into == VMA_UNUSED)
			continue;
		int64_t size = (int64_t)(e->end - e->start);
		ev[count[e->site]++] = (struct live_ev){ e->valid_from, size };
		ev[count[e->site]++] = (struct live_ev){ e->destroyed_ns, -size };
	}
	for (uint32_t s = 0; s < p->nsites; s++) {
		uint32_t n = count[s] - first[s];
		struct live_ev *v = ev + first[s];
		qsort(v, n, sizeof(*v), live_cmp);
		int64_t cur = 0, peak = 0;
		for (uint32_t k = 0; k < n; k++) {
			/* sizes from a damaged trace can be anything: saturate */
			if (__builtin_add_overflow(cur, v[k].d, &cur))
				cur = v[k].d > 0 ? INT64_MAX : INT64_MIN;
			if (cur > peak)
				peak = cur;
		}
		p->sites[s].peak_live_bytes = (uint64_t)peak;
	}
	free(count);
	free(ev);
	free(first);
}

/* The key of entry e's creating stack, symbolized once per (file, stack
 * id) across processes (keys: its cache); NULL without a stack. */
static const char *creating_key(struct analysis *a, struct u64map *keys, struct vp_buf *b,
				const struct vma *e)
{
	if (e->stack_file < 0 || !e->stack_id || (uint32_t)e->stack_file >= a->nfiles)
		return NULL;
	uint64_t k = ((uint64_t)(e->stack_file + 1) << 32) | e->stack_id;
	const char *key = u64map__get(keys, k);
	if (!key) {
		key = stack_key(a, b, e->stack_file, e->stack_id);
		if (key) {
			key = strdup(key);
			if (!key || u64map__put(keys, k, (void *)key))
				model__oom();
		}
	}
	return key;
}

/* The site of each of p's entries (the unused inherited ones, unless
 * every_vma: none, folded_into VMA_UNUSED). */
static void assign_sites(struct analysis *a, struct proc *p, struct u64map *keys, struct vp_buf *b,
			 int every_vma, const struct u64map *inherited)
{
	struct u64map by_key = { 0 };
	for (uint32_t i = 0; i < p->nv; i++) {
		struct vma *e = &p->v[i];
		e->instances = 1;
		e->last_destroyed_ns = e->destroyed_ns;
		e->last_ended_by = e->ended_by;
		if (!every_vma && unused_inherited(e) &&
		    !u64map__get(inherited, ref_key(p->pid, i))) {
			e->folded_into = VMA_UNUSED;
			e->site = 0;
			p->unused_inherited++;
			p->unused_inherited_bytes += e->end - e->start;
			continue;
		}
		const char *key;
		if (e->internal) {
			/* the shim's own memory: one site, whatever made it */
			e->site = site_of(p, &by_key, INTERNAL_KEY, -1, 0);
			p->sites[e->site].internal = 1;
		} else if ((key = creating_key(a, keys, b, e))) {
			e->site = site_of(p, &by_key, key, e->stack_file, e->stack_id);
		} else {
			e->site = site_of(p, &by_key, stackless_key(b, p, e), -1, 0);
		}
		if (!p->sites[e->site].first_vma)
			p->sites[e->site].first_vma = i + 1;
	}
	u64map__free(&by_key);
}

/* Fold the repeated mappings of p (the entries not folded already). */
static void fold_entries(struct proc *p)
{
	uint32_t *ids = malloc(((size_t)p->nv + 1) * sizeof(*ids));
	struct chain *heap = malloc(((size_t)p->nv + 1) * sizeof(*heap));
	if (!ids || !heap)
		model__oom();
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nv; i++)
		if (!p->v[i].folded_into && foldable(&p->v[i]))
			ids[n++] = i;
	fold(p, ids, n, heap);
	free(ids);
	free(heap);
}

/* Each site's figures: the sums of the entries it shows. */
static void sum_sites(struct proc *p)
{
	for (uint32_t i = 0; i < p->nv; i++) {
		const struct vma *e = &p->v[i];
		if (e->folded_into)
			continue; /* its figures are in the entry that stands for it */
		/* (only now: a process whose every entry is an unused inherited
		 * one has no sites at all, and sites + 0 on NULL is undefined) */
		struct csite *s = &p->sites[e->site];
		for (int c = 0; c < FC_N; c++)
			s->faults[c] += e->faults[c];
		s->pages += e->pages;
		s->pop_faults += e->pop_faults;
		s->pop_pages += e->pop_pages;
		if (!e->piece_of) {
			s->mappings += e->instances;
			s->bytes_mapped += (e->end - e->start) * e->instances;
		}
		s->vmas = model__grow(s->vmas, &s->capvmas, s->nvmas + 1, sizeof(*s->vmas));
		s->vmas[s->nvmas++] = i;
	}
}

static void shape_proc(struct analysis *a, struct proc *p, struct u64map *keys, struct vp_buf *b,
		       int every_vma, const struct u64map *inherited)
{
	assign_sites(a, p, keys, b, every_vma, inherited);
	for (uint32_t i = 0; i < p->nsites; i++)
		site_label(a, p, &p->sites[i], b);
	if (p->nsites)
		site_peaks(p);
	if (!every_vma)
		fold_entries(p);
	sum_sites(p);
}

void sites__shape(struct analysis *a, int every_vma)
{
	if (a->shaped)
		return;
	if (!a->rules && label_rules__new(&a->rules))
		model__oom();
	struct u64map keys = { 0 }; /* (file + 1, stack id) -> key */
	struct vp_buf b = { 0 };
	/* the entries another entry was inherited from: shown, to be named */
	struct u64map inherited = { 0 };
	for (uint32_t i = 0; i < a->nprocs; i++) {
		const struct proc *p = a->procs[i];
		for (uint32_t k = 0; k < p->nv; k++)
			if (p->v[k].inh_pid &&
			    u64map__put(&inherited, ref_key(p->v[k].inh_pid, p->v[k].inh_vma),
					(void *)1))
				model__oom();
	}
	for (uint32_t i = 0; i < a->nprocs; i++)
		shape_proc(a, a->procs[i], &keys, &b, every_vma, &inherited);
	u64map__free(&inherited);
	uint64_t k;
	void *v;
	for (size_t i = 0; u64map__next(&keys, &i, &k, &v);)
		free(v);
	u64map__free(&keys);
	free(b.p);
	a->shaped = 1;
	a->every_vma = every_vma;
}

static int site_count_cmp(const void *x, const void *y)
{
	const struct site_count *a = x, *b = y;
	if (a->n != b->n)
		return a->n > b->n ? -1 : 1;
	return a->site < b->site ? -1 : a->site > b->site;
}

uint32_t sites__fork_copies(const struct proc *p, const struct u64map *m,
			    struct site_count **out)
{
	*out = NULL;
	if (!p || !p->nsites)
		return 0;
	struct site_count *c = model__alloc(p->nsites * sizeof(*c));
	for (uint32_t i = 0; i < p->nsites; i++)
		c[i].site = i;
	uint64_t key;
	void *n;
	for (size_t i = 0; u64map__next(m, &i, &key, &n);)
		if (key - 1 < p->nv)
			c[p->v[key - 1].site].n += (uintptr_t)n;
	qsort(c, p->nsites, sizeof(*c), site_count_cmp);
	uint32_t k = 0;
	while (k < p->nsites && c[k].n)
		k++;
	*out = c;
	return k;
}

struct shape_args {
	struct analysis *a;
	int every_vma;
};

static int shape(void *ctx)
{
	const struct shape_args *s = ctx;
	sites__shape(s->a, s->every_vma);
	return 0;
}

int analysis__view(struct analysis *a, const struct analysis_view *v, char *why, size_t why_len)
{
	if (a->shaped) {
		snprintf(why, why_len, "the analysis was already shaped");
		return -EINVAL;
	}
	int err = label_rules__new(&a->rules);
	if (err) {
		snprintf(why, why_len, "plumbing rules: %s", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < v->nplumbing; i++) {
		const char *bad = NULL;
		err = label_rules__add(a->rules, v->plumbing[i], &bad);
		if (err) {
			snprintf(why, why_len, "--plumbing '%s': %s", v->plumbing[i],
				 bad ? bad : strerror(-err));
			return err;
		}
	}
	struct shape_args s = { a, v->every_vma };
	err = model__try(shape, &s);
	if (err)
		snprintf(why, why_len, "out of memory");
	return err;
}

/* The shape sites__shape gave (view.h: struct csite), and its caches
 * (analysis__free). */
void sites__free_all(struct analysis *a)
{
	uint64_t k;
	void *v;
	for (size_t i = 0; u64map__next(&a->demangled, &i, &k, &v);)
		if ((uintptr_t)v != k)
			free(v);
	u64map__free(&a->demangled);
	u64map__free(&a->plumbing_fn);
	u64map__free(&a->plumbing_mod);
	u64map__free(&a->shmem_files);
	label_rules__free(a->rules);
	a->rules = NULL;
}

void sites__free(struct proc *p)
{
	for (uint32_t s = 0; s < p->nsites; s++) {
		free((char *)p->sites[s].key);
		free((char *)p->sites[s].label);
		free((char *)p->sites[s].where);
		free(p->sites[s].vmas);
	}
	free(p->sites);
}

static int ws_group_cmp(const void *x, const void *y)
{
	const struct ws_group *a = x, *b = y;
	if (a->copies != b->copies)
		return a->copies > b->copies ? -1 : 1;
	return a->site < b->site ? -1 : a->site > b->site;
}

uint32_t wsites__by_stack(const struct wsites *t, uint64_t exact, struct ws_group **out)
{
	*out = NULL;
	if (!t->n)
		return 0;
	struct ws_group *g = model__alloc(t->n * sizeof(*g));
	struct u64map by = { 0 };
	uint32_t n = 0;
	double scale = exact && t->weight > 0 ? (double)exact / t->weight : 1;
	for (uint32_t i = 0; i < t->n; i++) {
		const struct wsite *w = &t->w[i];
		uint64_t key = w->stack_id ? ((uint64_t)(uint32_t)w->stack_file << 32) | w->stack_id
					   : (1ull << 63) | w->why;
		key ^= (uint64_t)w->cls << 56;
		uintptr_t j = (uintptr_t)u64map__get(&by, key);
		if (!j) {
			g[n] = (struct ws_group){ .site = i };
			j = ++n;
			if (u64map__put(&by, key, (void *)j))
				model__oom();
		}
		g[j - 1].samples += w->samples;
		g[j - 1].copies += w->weight * scale;
	}
	u64map__free(&by);
	qsort(g, n, sizeof(*g), ws_group_cmp);
	*out = g;
	return n;
}

const char *wsites__label(struct analysis *a, const struct wsite *w, char *buf, size_t n)
{
	const struct vp_stack *st = w->stack_id && w->stack_file >= 0 &&
					    (uint32_t)w->stack_file < a->nfiles
					    ? stack_map__get(&a->files[w->stack_file].stacks, w->stack_id)
					    : NULL;
	if (!st || !st->depth) {
		static const char *const why[] = {
			[VS_K_CUT] = "the copy of the stack ended", [VS_K_CFI] = "no unwind info",
			[VS_K_NOMAP] = "no module map", [VS_K_FAIL] = "unwinding failed",
		};
		snprintf(buf, n, "(no stack: %s)",
			 w->why <= VS_K_FAIL && why[w->why] ? why[w->why] : "unknown");
		return buf;
	}
	struct vp_frame f[VP_MAX_STACK_DEPTH];
	uint32_t d = st->depth < VP_MAX_STACK_DEPTH ? st->depth : VP_MAX_STACK_DEPTH;
	for (uint32_t i = 0; i < d; i++) {
		f[i] = (struct vp_frame){ .ip = st->ips[i] };
		symbolizer__lookup_fn(a->sym, (uint64_t)w->stack_file, st->ips[i], i > 0, &f[i]);
	}
	int k = a->rules ? pick_label(a, f, d) : 0;
	if (k < 0)
		k = 0;
	char anon[300];
	const char *l = f[k].function ? sites__demangle(a, f[k].function)
				      : vp_frame_anon(&f[k], anon, sizeof(anon));
	size_t len = (size_t)snprintf(buf, n, "%s", l);
	for (uint32_t j = (uint32_t)k + 1; j < d && len < n; j++)
		if (f[j].function) {
			snprintf(buf + len, n - len, " < %s", sites__demangle(a, f[j].function));
			break;
		}
	return buf;
}
