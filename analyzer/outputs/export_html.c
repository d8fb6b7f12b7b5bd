/* SPDX-License-Identifier: MIT */
/*
 * The HTML page (outputs.h; docs/exports.md, "HTML") of a finished
 * analysis (view.h): the template analyzer/outputs/html/report.html
 * (embedded at build time as vp_report_html, see analyzer/meson.build)
 * with a compact model of the analysis written into its data element. Not report.json: a build's report is ~100 MB, the page
 * must open in a second or two. So:
 *  - frames are deduplicated text ([function, "file.c:line" or module]) and
 *    stacks are lists of frame indexes, deduplicated across processes;
 *  - entries are flat number arrays (ENTRY_STRIDE numbers each), at most
 *    ENTRY_CAP per process (the ones with most faults, then the largest;
 *    the rest are counted, not drawn);
 *  - times are nanoseconds since the first process started.
 * Every string goes through out_str, which escapes '<' (no "</script>" can
 * end the element early) and replaces invalid UTF-8 by '?'.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "derive.h"
#include "timeline.h"
#include "view.h"
#include "writer.h"

/* report_html.c, generated from html/report.html by xxd -i */
extern unsigned char vp_report_html[];
extern unsigned int vp_report_html_len;

#define DATA_MARK "/*@VP_DATA@*/"
#define ENTRY_CAP 20000
/* created, destroyed (-1 live at the end), site, dominant class (-1 none),
 * bytes, kind, path (-1 none), instances, stack (-1 none), start address,
 * pages allocated, origin, prot bits, then the faults of each class */
#define ENTRY_STRIDE (13 + FC_N)

struct out {
	FILE *f;
};

static void out_raw(struct out *o, const char *s, size_t n)
{
	fwrite(s, 1, n, o->f);
}

static void out_lit(struct out *o, const char *s)
{
	fputs(s, o->f);
}

static void out_i64(struct out *o, int64_t v)
{
	fprintf(o->f, "%" PRId64, v);
}

static void out_u64(struct out *o, uint64_t v)
{
	fprintf(o->f, "%" PRIu64, v);
}

/* v in base 36 (digits 0-9a-z, '-' before a negative): what the page's
 * parseInt(x, 36) reads back. An address or a time in ns is a third
 * shorter than in decimal. */
static void out_b36(struct out *o, int64_t v)
{
	char buf[16], *e = buf + sizeof(buf), *q = e;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do {
		*--q = "0123456789abcdefghijklmnopqrstuvwxyz"[u % 36];
		u /= 36;
	} while (u);
	if (v < 0)
		*--q = '-';
	out_raw(o, q, (size_t)(e - q));
}

static void put_file(void *f, const char *s, size_t n)
{
	fwrite(s, 1, n, f);
}

/* A JSON string of s (NULL: null) that is safe inside a <script> element:
 * '<' is \u003c; valid UTF-8 passes through, anything else is '?'. */
static void out_str(struct out *o, const char *s)
{
	vp_json_escape(s, VP_JSON_LT, put_file, o->f);
}

/* ---- strings to indexes: frames by their text, stacks by their frames ---- */

struct page {
	struct analysis *a;
	struct strtab frames;  /* "function\x01where" */
	struct strtab stacks;  /* "i,j,k" frame indexes, innermost first */
	struct strtab paths;
	struct u64map by_stack; /* (file << 32 | id) -> stack index + 1 */
	char *buf;             /* scratch text */
	uint32_t nbuf, capbuf;
	uint64_t t0;
};

static void buf_add(struct page *pg, const char *s, size_t n)
{
	pg->buf = model__grow(pg->buf, &pg->capbuf, pg->nbuf + (uint32_t)n + 1, 1);
	memcpy(pg->buf + pg->nbuf, s, n);
	pg->nbuf += (uint32_t)n;
	pg->buf[pg->nbuf] = 0;
}

static uint32_t frame_index(struct page *pg, int file, uint64_t ip, int return_addr)
{
	struct vp_frame f = { .ip = ip };
	symbolizer__lookup(pg->a->sym, (uint64_t)file, ip, return_addr, &f);
	const char *fn = sites__demangle(pg->a, f.function);
	char tmp[300];
	pg->nbuf = 0;
	/* without a symbol: module+offset, as labels and the folded export
	 * name it (the same in every process and run), not the address */
	if (!fn)
		fn = vp_frame_anon(&f, tmp, sizeof(tmp));
	buf_add(pg, fn, strlen(fn));
	uint32_t sep = pg->nbuf;
	buf_add(pg, "\x01", 1);
	if (f.file) {
		const char *b = vp_base_name(f.file);
		buf_add(pg, b, strlen(b));
		snprintf(tmp, sizeof(tmp), ":%d", f.line);
		if (f.line)
			buf_add(pg, tmp, strlen(tmp));
	} else if (f.module) {
		const char *b = vp_base_name(f.module);
		buf_add(pg, b, strlen(b));
	}
	/* no byte of the text is 1 but the separator (demangled names, paths) */
	for (uint32_t i = 0; i < pg->nbuf; i++)
		if (pg->buf[i] == 1 && i != sep)
			pg->buf[i] = '?';
	return writer__intern(&pg->frames, pg->buf, pg->nbuf, NULL);
}

/* The stack index of (file, id), -1 for none (or an empty stack). */
static int64_t stack_index(struct page *pg, int32_t file, uint32_t id)
{
	struct analysis *a = pg->a;
	if (file < 0 || !id || (uint32_t)file >= a->nfiles)
		return -1;
	uint64_t key = (uint64_t)(uint32_t)file << 32 | id;
	void *v = u64map__get(&pg->by_stack, key);
	if (v)
		return (int64_t)(uintptr_t)v - 2; /* 1: empty */
	const struct vp_stack *st = stack_map__get(&a->files[file].stacks, id);
	int64_t idx = -1;
	if (st && st->depth) {
		uint32_t *fr = model__alloc(st->depth * sizeof(*fr));
		for (uint32_t i = 0; i < st->depth; i++)
			fr[i] = frame_index(pg, file, st->ips[i], i > 0);
		pg->nbuf = 0;
		for (uint32_t i = 0; i < st->depth; i++) {
			char t[16];
			int n = snprintf(t, sizeof(t), i ? ",%u" : "%u", fr[i]);
			buf_add(pg, t, (size_t)n);
		}
		free(fr);
		idx = writer__intern(&pg->stacks, pg->buf, pg->nbuf, NULL);
	}
	if (u64map__put(&pg->by_stack, key, (void *)(uintptr_t)(idx + 2)))
		model__oom();
	return idx;
}

static int64_t rel(const struct page *pg, uint64_t t)
{
	return t >= pg->t0 ? (int64_t)(t - pg->t0) : 0;
}

static void out_faults(struct out *o, const uint64_t f[FC_N])
{
	out_lit(o, "[");
	for (int c = 0; c < FC_N; c++) {
		if (c)
			out_lit(o, ",");
		out_u64(o, f[c]);
	}
	out_lit(o, "]");
}

static int dominant(const uint64_t f[FC_N])
{
	int best = -1;
	uint64_t n = 0;
	for (int c = 0; c < FC_N; c++)
		if (f[c] > n) {
			n = f[c];
			best = c;
		}
	return best;
}

static uint64_t total(const uint64_t f[FC_N])
{
	uint64_t t = 0;
	for (int c = 0; c < FC_N; c++)
		t += f[c];
	return t;
}

struct rank {
	uint64_t faults, bytes;
	uint32_t id;
};

static int rank_cmp(const void *x, const void *y)
{
	const struct rank *a = x, *b = y;
	if (a->faults != b->faults)
		return a->faults > b->faults ? -1 : 1;
	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static int id_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

static void write_entry(struct out *o, struct page *pg, const struct vma *e, int first)
{
	int64_t path = e->path ? (int64_t)writer__intern(&pg->paths, e->path, strlen(e->path), NULL) : -1;
	int prot = ((e->prot & PROT_READ) ? 1 : 0) | ((e->prot & PROT_WRITE) ? 2 : 0) |
		   ((e->prot & PROT_EXEC) ? 4 : 0) | (e->shared ? 8 : 0);
	int64_t v[13 + FC_N] = {
		rel(pg, e->created_ns),
		e->last_destroyed_ns != T_NEVER ? rel(pg, e->last_destroyed_ns) : -1,
		e->site,
		dominant(e->faults),
		(int64_t)(e->end - e->start),
		e->kind,
		path,
		e->instances ? (int64_t)e->instances : 1,
		stack_index(pg, e->stack_file, e->stack_id),
		(int64_t)e->start,
		(int64_t)e->pages,
		e->origin,
		prot,
	};
	for (int c = 0; c < FC_N; c++)
		v[13 + c] = (int64_t)e->faults[c];
	/* base 36, the trailing zeros left out (most entries have faults of
	 * one class or none), entries separated by ';' (docs/exports.md) */
	int n = 13 + FC_N;
	while (n > 1 && !v[n - 1])
		n--;
	if (!first)
		out_lit(o, ";");
	for (int i = 0; i < n; i++) {
		if (i)
			out_lit(o, ",");
		out_b36(o, v[i]);
	}
}

/* `lit` (a key, with its comma) then a value: the page's data is mostly these. */
static void out_key_u64(struct out *o, const char *lit, uint64_t v)
{
	out_lit(o, lit);
	out_u64(o, v);
}

static void out_key_i64(struct out *o, const char *lit, int64_t v)
{
	out_lit(o, lit);
	out_i64(o, v);
}

static void out_key_str(struct out *o, const char *lit, const char *s)
{
	out_lit(o, lit);
	out_str(o, s);
}

static void out_key_bool(struct out *o, const char *lit, int b)
{
	out_lit(o, lit);
	out_lit(o, b ? "true" : "false");
}

/* v, or null when `known` is 0 */
static void out_key_known(struct out *o, const char *lit, int known, int64_t v)
{
	out_lit(o, lit);
	if (known)
		out_i64(o, v);
	else
		out_lit(o, "null");
}

/* The strings of a JSON array (argv, the command), comma-separated; "?"
 * for what is not a string. */
static void out_json_strings(struct out *o, const json_t *arr)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v) {
		if (i)
			out_lit(o, ",");
		out_str(o, json_is_string(v) ? json_string_value(v) : "?");
	}
}

/* A list of n names. */
static void out_names(struct out *o, const char *lit, const char *const *names, int n)
{
	out_lit(o, lit);
	for (int k = 0; k < n; k++) {
		if (k)
			out_lit(o, ",");
		out_str(o, names[k]);
	}
}

/* sites: [label, where, stack, mappings, bytes_mapped, peak_live_bytes,
 * pages, faults[FC_N]] */
static void write_sites(struct out *o, struct page *pg, const struct proc *p)
{
	out_lit(o, ",\"sites\":[");
	for (uint32_t s = 0; s < p->nsites; s++) {
		const struct csite *c = &p->sites[s];
		out_key_str(o, s ? ",[" : "[", c->label);
		out_key_str(o, ",", c->where);
		out_key_i64(o, ",", stack_index(pg, c->stack_file, c->stack_id));
		out_key_u64(o, ",", c->mappings);
		out_key_u64(o, ",", c->bytes_mapped);
		out_key_u64(o, ",", c->peak_live_bytes);
		out_key_u64(o, ",", c->pages);
		out_lit(o, ",");
		out_faults(o, c->faults);
		out_lit(o, "]");
	}
	out_lit(o, "]");
}

/* The ids of the n entries of p to draw (*cut_bytes: the size of those
 * left out), at most ENTRY_CAP of them: the ones with most faults, then
 * the largest, in id order. *total: the entries shown (not folded into
 * another). */
static uint32_t *pick_entries(const struct proc *p, uint32_t *total_n, uint32_t *drawn,
			      uint64_t *cut_bytes)
{
	uint32_t shown = 0;
	for (uint32_t k = 0; k < p->nv; k++)
		shown += !p->v[k].folded_into;
	uint32_t *ids = model__alloc((shown + 1) * sizeof(*ids));
	uint32_t n = 0;
	for (uint32_t k = 0; k < p->nv; k++)
		if (!p->v[k].folded_into)
			ids[n++] = k;
	*cut_bytes = 0;
	if (n > ENTRY_CAP) {
		struct rank *r = model__alloc(n * sizeof(*r));
		for (uint32_t k = 0; k < n; k++) {
			const struct vma *e = &p->v[ids[k]];
			r[k] = (struct rank){ total(e->faults),
					      (e->end - e->start) * (e->instances ? e->instances : 1),
					      ids[k] };
		}
		qsort(r, n, sizeof(*r), rank_cmp);
		for (uint32_t k = ENTRY_CAP; k < n; k++)
			*cut_bytes += r[k].bytes;
		for (uint32_t k = 0; k < ENTRY_CAP; k++)
			ids[k] = r[k].id;
		free(r);
		qsort(ids, ENTRY_CAP, sizeof(*ids), id_cmp);
	}
	*total_n = n;
	*drawn = n > ENTRY_CAP ? ENTRY_CAP : n;
	return ids;
}

static void write_entries(struct out *o, struct page *pg, const struct proc *p)
{
	uint32_t n, drawn;
	uint64_t cut_bytes;
	uint32_t *ids = pick_entries(p, &n, &drawn, &cut_bytes);
	out_key_u64(o, ",\"entries\":", n);
	out_key_u64(o, ",\"cut\":", n - drawn);
	out_key_u64(o, ",\"cut_bytes\":", cut_bytes);
	/* one string, which the page reads when it draws the process
	 * (docs/exports.md): JSON.parse of a build's page made 48,000
	 * entries' numbers at its start */
	out_lit(o, ",\"v\":\"");
	for (uint32_t k = 0; k < drawn; k++)
		write_entry(o, pg, &p->v[ids[k]], k == 0);
	free(ids);
	out_lit(o, "\"");
}

/* "tl": when p's faults happened (timeline.h's buckets, those with
 * faults), flat: per bucket its end (ns since the first start), then
 * (class, faults) pairs, then -1. The page's memory chart sums them. */
static void write_timeline(struct out *o, struct page *pg, const struct proc *p)
{
	const struct timeline *tl = p->tl;
	out_lit(o, ",\"tl\":[");
	int first = 1;
	for (uint32_t b = 0; tl && b < tl->used; b++) {
		int any = 0;
		for (int c = 0; c < FC_N; c++) {
			if (!tl->cnt[c] || !tl->cnt[c][b])
				continue;
			if (!any)
				out_key_i64(o, first ? "" : ",", rel(pg, timeline__bucket_end(tl, b)));
			any = 1;
			first = 0;
			out_key_u64(o, ",", (uint64_t)c);
			out_key_u64(o, ",", tl->cnt[c][b]);
		}
		if (any)
			out_lit(o, ",-1");
	}
	out_lit(o, "]");
}

/* "rss": the kernel's resident set over time (VP_REC_RSS samples, with
 * VMAPROF_RSS_STAT), flat: per sample its time (ns since the first start)
 * then file, anon and shmem pages; then the image's exit reading where
 * there were samples. Empty without samples. */
static void write_rss(struct out *o, struct page *pg, const struct proc *p)
{
	out_lit(o, ",\"rss\":[");
	for (uint32_t i = 0; i < p->nrss; i++) {
		const struct rss_sample *r = &p->rss[i];
		out_key_i64(o, i ? "," : "", rel(pg, r->t));
		out_key_i64(o, ",", r->rss[VP_RSS_FILE]);
		out_key_i64(o, ",", r->rss[VP_RSS_ANON]);
		out_key_i64(o, ",", r->rss[VP_RSS_SHMEM]);
	}
	if (p->nrss && p->nmm && !(p->mm[p->nmm - 1].flags & VP_MMSTAT_PARTIAL) &&
	    p->mm[p->nmm - 1].t >= p->rss[p->nrss - 1].t) {
		const struct mm_reading *m = &p->mm[p->nmm - 1];
		out_key_i64(o, ",", rel(pg, m->t));
		out_key_i64(o, ",", m->rss[VP_RSS_FILE]);
		out_key_i64(o, ",", m->rss[VP_RSS_ANON]);
		out_key_i64(o, ",", m->rss[VP_RSS_SHMEM]);
	}
	out_lit(o, "]");
}

static void write_proc(struct out *o, struct page *pg, const struct proc *p)
{
	/* pid: as report.json names it (its own namespace's); key: unique in
	 * the recording (two containers may both have a pid 3), what forks
	 * name */
	out_key_u64(o, "{\"pid\":", p->own_pid);
	out_key_u64(o, ",\"key\":", p->pid);
	out_key_u64(o, ",\"ppid\":", pidns__report_pid(pg->a, p->ppid));
	out_key_str(o, ",\"name\":", p->name);
	out_key_str(o, ",\"exe\":", p->exe);
	out_lit(o, ",\"argv\":[");
	out_json_strings(o, p->argv);
	out_key_i64(o, "],\"start\":", rel(pg, p->start_ns));
	out_key_i64(o, ",\"end\":", p->end_ns ? rel(pg, p->end_ns) : -1);
	out_key_known(o, ",\"fork\":", p->forked, rel(pg, p->fork_t));
	out_key_known(o, ",\"exit\":", p->exit_code >= 0, p->exit_code);
	out_key_known(o, ",\"signal\":", p->exit_signal >= 0, p->exit_signal);
	out_lit(o, ",\"faults\":");
	out_faults(o, p->faults);
	out_key_u64(o, ",\"pages\":", p->pages);
	out_key_bool(o, ",\"preload\":", p->preload_active);
	out_key_str(o, ",\"preload_reason\":", p->preload_reason);
	write_sites(o, pg, p);
	write_entries(o, pg, p);
	write_timeline(o, pg, p);
	write_rss(o, pg, p);
	out_lit(o, "}");
}

/* [[site, pages copied], ...]: the sites of p whose pages one side of a
 * fork copied, most first, at most 10. */
static void write_fork_sites(struct out *o, const struct proc *p, const struct u64map *m)
{
	out_lit(o, "[");
	struct site_count *c;
	uint32_t n = sites__fork_copies(p, m, &c);
	for (uint32_t i = 0; i < n && i < 10; i++) {
		out_key_u64(o, i ? ",[" : "[", c[i].site);
		out_key_u64(o, ",", c[i].n);
		out_lit(o, "]");
	}
	free(c);
	out_lit(o, "]");
}

/* A fork side's write sites (docs/report.md "Write sites"): [[label,
 * copies scaled to the side's count, samples], ...], most first (5). */
static void write_fork_writes(struct out *o, struct analysis *a, const struct wsites *t,
			      uint64_t exact)
{
	out_lit(o, "[");
	struct ws_group *g;
	uint32_t n = wsites__by_stack(t, exact, &g);
	for (uint32_t i = 0; i < n && i < 5; i++) {
		char lb[600];
		out_key_str(o, i ? ",[" : "[", wsites__label(a, &t->w[g[i].site], lb, sizeof(lb)));
		out_key_u64(o, ",", (uint64_t)(g[i].copies + 0.5));
		out_key_u64(o, ",", g[i].samples);
		out_lit(o, "]");
	}
	free(g);
	out_lit(o, "]");
}

static void write_collector(struct out *o, const char *name, int active, uint64_t events,
			    uint64_t lost, const char *reason)
{
	out_lit(o, "\"");
	out_lit(o, name);
	out_key_bool(o, "\":{\"active\":", active);
	out_key_u64(o, ",\"events\":", events);
	out_key_u64(o, ",\"lost\":", lost);
	out_key_str(o, ",\"reason\":", reason);
	out_lit(o, "}");
}

/* What the recording is: its command, the names of classes, kinds and
 * origins, the collectors and lost records (as report.json counts them). */
static void write_head(struct out *o, struct analysis *a)
{
	out_key_str(o, "{\"version\":1,\"tool\":", "vmaprof " VMAPROF_VERSION);
	out_lit(o, ",\"command\":[");
	out_json_strings(o, json_object_get(a->session, "command"));
	out_key_u64(o, "],\"page_size\":", a->page_size);
	out_key_bool(o, ",\"measured\":", derive__measured(a));
	out_key_bool(o, ",\"complete\":", a->complete);
	out_names(o, ",\"classes\":[", fclass_name, FC_N);
	out_names(o, "],\"kinds\":[", vk_name, VK_OTHER + 1);
	out_names(o, "],\"origins\":[", vo_name, VO_SYSCALL + 1);
	char why[256];
	const char *pre_reason;
	int pre_active = derive__preload(a, 0, why, sizeof(why), &pre_reason);
	out_lit(o, "],\"collectors\":{");
	write_collector(o, "preload", pre_active, a->preload_records,
			a->preload_lost + a->preload_damaged, pre_reason);
	out_lit(o, ",");
	write_collector(o, "bpf", a->bpf_active, a->bpf_records, a->bpf_lost + a->bpf_damaged,
			a->bpf_active ? NULL : a->bpf_reason);
	/* the kernel collector's stacks (bpf/README.md "Kernel stacks"),
	 * which stand in where the shim's are absent (record -p) */
	json_t *ks = json_object_get(json_object_get(json_object_get(a->session, "collectors"),
						    "bpf"), "kernel_stack_bytes");
	out_key_bool(o, "},\"kernel_stacks\":", json_integer_value(ks) > 0);
	out_key_bool(o, ",\"attached\":", a->attached);
	out_key_u64(o, ",\"lost\":{\"preload_records\":", a->preload_lost);
	out_key_u64(o, ",\"bpf_records\":", a->bpf_lost);
	out_key_u64(o, ",\"damaged_records\":", a->damaged);
	out_key_u64(o, ",\"unreadable_files\":", a->unreadable);
	out_lit(o, "}");
}

/* forks: [parent key, child key, time, cow_copy_parent, cow_copy_child (pages,
 * -1 not measured), sites_parent, sites_child, writes_parent, writes_child
 * (write_fork_writes)] */
static void write_forks(struct out *o, struct page *pg)
{
	struct analysis *a = pg->a;
	int measured = derive__measured(a);
	int first = 1;
	out_lit(o, ",\n\"forks\":[");
	for (uint32_t k = 0; k < a->nprocs; k++) {
		const struct proc *p = a->procs[k];
		for (uint32_t c = 0; c < p->nkids; c++) {
			const struct child_ref *r = &p->kids[c];
			out_key_u64(o, first ? "[" : ",\n[", p->pid);
			first = 0;
			out_key_u64(o, ",", r->child);
			out_key_i64(o, ",", rel(pg, r->t));
			out_key_i64(o, ",", measured ? (int64_t)r->cow_parent : -1);
			out_key_i64(o, ",", measured ? (int64_t)r->cow_child : -1);
			out_lit(o, ",");
			write_fork_sites(o, p, &r->cow_vma_parent);
			out_lit(o, ",");
			write_fork_sites(o, model__find(a, r->child), &r->cow_vma_child);
			out_lit(o, ",");
			write_fork_writes(o, a, &r->ws_parent, r->cow_parent);
			out_lit(o, ",");
			write_fork_writes(o, a, &r->ws_child, r->cow_child);
			out_lit(o, "]");
		}
	}
	out_lit(o, "]");
}

/* The tables everything else indexes into: paths, frames, stacks. */
static void write_tables(struct out *o, struct page *pg)
{
	out_lit(o, ",\n\"paths\":[");
	for (uint32_t k = 0; k < pg->paths.n; k++) {
		if (k)
			out_lit(o, ",");
		out_str(o, pg->paths.s[k]);
	}
	out_lit(o, "],\n\"frames\":[");
	for (uint32_t k = 0; k < pg->frames.n; k++) {
		char *s = pg->frames.s[k], *sep = strchr(s, 1);
		out_lit(o, k ? ",[" : "[");
		*sep = 0;
		out_str(o, s);
		*sep = 1;
		out_key_str(o, ",", sep + 1);
		out_lit(o, "]");
	}
	out_lit(o, "],\n\"stacks\":[");
	for (uint32_t k = 0; k < pg->stacks.n; k++) {
		out_lit(o, k ? ",[" : "[");
		out_lit(o, pg->stacks.s[k]);
		out_lit(o, "]");
	}
	out_lit(o, "]");
}

static void write_data(struct out *o, struct page *pg)
{
	struct analysis *a = pg->a;
	pg->t0 = UINT64_MAX;
	for (uint32_t i = 0; i < a->nprocs; i++)
		if (a->procs[i]->start_ns && a->procs[i]->start_ns < pg->t0)
			pg->t0 = a->procs[i]->start_ns;
	if (pg->t0 == UINT64_MAX)
		pg->t0 = 0;
	write_head(o, a);
	out_lit(o, ",\n\"processes\":[");
	for (uint32_t k = 0; k < a->nprocs; k++) {
		if (k)
			out_lit(o, ",\n");
		write_proc(o, pg, a->procs[k]);
	}
	out_lit(o, "]");
	write_forks(o, pg);
	write_tables(o, pg);
	out_lit(o, "}");
}

static void page_free(void *state)
{
	struct page *pg = state;
	strtab__free(&pg->frames);
	strtab__free(&pg->stacks);
	strtab__free(&pg->paths);
	u64map__free(&pg->by_stack);
	free(pg->buf);
}

static int write_page(struct analysis *a, FILE *f, size_t json_flags, void *state)
{
	const char *tpl = (const char *)vp_report_html;
	size_t len = vp_report_html_len;
	const char *mark = memmem(tpl, len, DATA_MARK, strlen(DATA_MARK));
	if (!mark)
		return -EINVAL; /* the build embedded a template without the mark */
	struct page *pg = state;
	pg->a = a;
	struct out o = { f };
	out_raw(&o, tpl, (size_t)(mark - tpl));
	write_data(&o, pg);
	const char *rest = mark + strlen(DATA_MARK);
	out_raw(&o, rest, len - (size_t)(rest - tpl));
	return 0;
}

const struct writer html_writer = { sizeof(struct page), write_page, page_free };
