/* SPDX-License-Identifier: MIT */
/* report.json (docs/report.md, schema_version 2), streamed, from a
 * finished analysis (view.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "derive.h"
#include "view.h"
#include "writer.h"

/* jansson's json_dumpf makes one stdio call per token, which was a third
 * of writing a big report; dump into a reused buffer, write that once. */
struct dumpbuf {
	char *p;
	size_t n, cap;
};

static int dumpbuf_add(const char *s, size_t n, void *data)
{
	struct dumpbuf *b = data;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	return 0;
}

static json_t *jnum_or_null(uint64_t v, int known)
{
	return known ? json_integer((json_int_t)v) : json_null();
}

static json_t *faults_json(const struct analysis *a, const uint64_t f[FC_N])
{
	if (!derive__measured(a))
		return json_null();
	json_t *o = json_object();
	uint64_t total = 0;
	for (int c = 0; c < FC_N; c++) {
		json_object_set_new(o, fclass_name[c], json_integer((json_int_t)f[c]));
		total += f[c];
	}
	json_object_set_new(o, "total", json_integer((json_int_t)total));
	return o;
}

/* lines: with file and line (else without, and the symbolizer does not read
 * the file's DWARF for them) */
static json_t *frame_json(struct analysis *a, int space, uint64_t ip, int return_addr,
			  int kernel, int lines)
{
	json_t *fr = json_object();
	/* kernel text addresses do not fit the report's unsigned integers (and
	 * mean nothing to the reader): a kernel-mode site says so instead */
	json_object_set_new(fr, "ip", json_integer(kernel ? 0 : (json_int_t)ip));
	struct vp_frame f = { .ip = ip };
	if (kernel) {
		json_object_set_new(fr, "kernel", json_true());
		json_object_set_new(fr, "function", json_string("[kernel]"));
		json_object_set_new(fr, "module", json_null());
		json_object_set_new(fr, "file", json_null());
		json_object_set_new(fr, "line", json_null());
		return fr;
	}
	if (space >= 0 && lines)
		symbolizer__lookup(a->sym, (uint64_t)space, ip, return_addr, &f);
	else if (space >= 0)
		symbolizer__lookup_fn(a->sym, (uint64_t)space, ip, return_addr, &f);
	const char *fn = sites__demangle(a, f.function);
	json_object_set_new(fr, "function", vp_json_str(fn));
	if (fn != f.function)
		json_object_set_new(fr, "mangled", vp_json_str(f.function));
	json_object_set_new(fr, "module", vp_json_str(f.module));
	if (f.module)
		json_object_set_new(fr, "module_offset", json_integer((json_int_t)f.mod_offset));
	if (lines) {
		json_object_set_new(fr, "file", vp_json_str(f.file));
		json_object_set_new(fr, "line", f.line ? json_integer(f.line) : json_null());
	}
	return fr;
}

/* Stacks are shared by many entries (and sites): each (file, id) is
 * symbolized and serialized once, and its text is written as it is. */
struct stext {
	char *s;
	size_t n;
	int empty;
};

static const struct stext *stack_text(struct analysis *a, struct u64map *sc, int32_t file,
				      uint32_t id)
{
	int known = file >= 0 && id && (uint32_t)file < a->nfiles;
	uint64_t key = known ? ((uint64_t)(uint32_t)file << 32) | id : 1ull << 63;
	struct stext *t = u64map__get(sc, key);
	if (t)
		return t;
	json_t *arr = json_array();
	const struct vp_stack *st = known ? stack_map__get(&a->files[file].stacks, id) : NULL;
	for (uint32_t i = 0; st && i < st->depth; i++)
		json_array_append_new(arr, frame_json(a, file, st->ips[i], i > 0, 0, 1));
	struct stext *n = malloc(sizeof(*n));
	char *text = json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (n && text)
		*n = (struct stext){ text, strlen(text), json_array_size(arr) == 0 };
	json_decref(arr);
	if (!n || !text || u64map__put(sc, key, n)) {
		free(n);
		free(text);
		model__oom();
	}
	return n;
}

static int site_cmp(const void *x, const void *y)
{
	const struct fault_site *a = x, *b = y;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->ip != b->ip)
		return a->ip < b->ip ? -1 : 1;
	return (int)a->cls - (int)b->cls;
}

static int site_key_cmp(const void *x, const void *y)
{
	const struct fault_site *a = x, *b = y;
	if (a->ip != b->ip)
		return a->ip < b->ip ? -1 : 1;
	if (a->cls != b->cls)
		return (int)a->cls - (int)b->cls;
	return a->space - b->space;
}

static int space_at(struct analysis *a, const struct proc *p, uint64_t t)
{
	for (int hop = 0; p && hop < 64; hop++) {
		int s = -1;
		for (uint32_t i = 0; i < p->nimg; i++)
			if (p->img[i].start_ns <= t)
				s = p->img[i].file;
		if (s < 0 && p->nimg)
			s = p->img[0].file;
		if (s >= 0 || !p->forked || (p->nex && t >= p->ex[0].t))
			return s;
		/* a fork child with no image of its own (a recording attached to
		 * its parent, or no shim in it) runs its parent's until it execs */
		t = p->fork_t;
		p = model__find(a, p->ppid);
	}
	return -1;
}

/* The top 5 of `n` sites (sorted here), symbolized in `space`. */
static json_t *top_sites(struct analysis *a, struct fault_site *tmp, uint32_t n, int space)
{
	json_t *arr = json_array();
	if (n > 1)
		qsort(tmp, n, sizeof(*tmp), site_cmp);
	for (uint32_t i = 0; i < n && i < 5; i++) {
		json_t *fr = frame_json(a, tmp[i].space >= 0 ? tmp[i].space : space, tmp[i].ip, 0,
					(int)tmp[i].kernel, 0);
		json_object_del(fr, "file");
		json_object_del(fr, "line");
		json_object_set_new(fr, "class", json_string(fclass_name[tmp[i].cls - 1]));
		json_object_set_new(fr, "count", json_integer((json_int_t)tmp[i].count));
		json_array_append_new(arr, fr);
	}
	return arr;
}

/* e's fault sites, appended to tmp[*n...] with image `space`. */
static void fault_sites_append(const struct vma *e, int space, struct fault_site *tmp, uint32_t *n)
{
	uint64_t key;
	void *count;
	for (size_t i = 0; u64map__next(&e->fault_sites, &i, &key, &count);) {
		tmp[*n] = fault_site__of_key(key);
		tmp[*n].count = (uintptr_t)count;
		tmp[(*n)++].space = (int16_t)space;
	}
}

static json_t *sites_json(struct analysis *a, const struct proc *p, const struct vma *e)
{
	struct fault_site *tmp = malloc((e->fault_sites.n + 1) * sizeof(*tmp));
	if (!tmp)
		model__oom();
	uint32_t n = 0;
	fault_sites_append(e, -1, tmp, &n);
	json_t *arr = top_sites(a, tmp, n, space_at(a, p, e->valid_from));
	free(tmp);
	return arr;
}

/* A process's sites over all its entries, merged by (ip, class). */
static json_t *proc_sites_json(struct analysis *a, const struct proc *p)
{
	size_t total = 0;
	for (uint32_t i = 0; i < p->nv; i++)
		total += p->v[i].fault_sites.n;
	struct fault_site *tmp = malloc((total + 1) * sizeof(*tmp));
	if (!tmp)
		model__oom();
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nv; i++)
		fault_sites_append(&p->v[i], space_at(a, p, p->v[i].valid_from), tmp, &n);
	/* merge equal (ip, class, image): sort by them, then fold */
	if (n > 1)
		qsort(tmp, n, sizeof(*tmp), site_key_cmp);
	uint32_t m = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (m && tmp[m - 1].ip == tmp[i].ip && tmp[m - 1].cls == tmp[i].cls &&
		    tmp[m - 1].space == tmp[i].space)
			tmp[m - 1].count += tmp[i].count;
		else
			tmp[m++] = tmp[i];
	}
	json_t *arr = top_sites(a, tmp, m, p->nimg ? p->img[p->nimg - 1].file : -1);
	free(tmp);
	return arr;
}

/* The id under which entry id of p is shown: the entry it was folded into. */
static uint32_t shown_id(const struct proc *p, uint32_t id)
{
	if (p && id < p->nv && p->v[id].folded_into)
		return p->v[id].folded_into - 1;
	return id;
}

static json_t *faults_json(const struct analysis *a, const uint64_t f[FC_N]);

/* One call site of p (sites.c), without its stack (written beside it). */
static json_t *site_json(struct analysis *a, const struct proc *p, uint32_t i)
{
	const struct csite *s = &p->sites[i];
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(i));
	json_object_set_new(o, "label", json_string(s->label));
	json_object_set_new(o, "label_frame", s->label_frame >= 0 ? json_integer(s->label_frame)
								   : json_null());
	json_object_set_new(o, "key", vp_json_str(s->key));
	json_object_set_new(o, "mappings", json_integer((json_int_t)s->mappings));
	json_object_set_new(o, "bytes_mapped", json_integer((json_int_t)s->bytes_mapped));
	json_object_set_new(o, "peak_live_bytes", json_integer((json_int_t)s->peak_live_bytes));
	json_object_set_new(o, "faults", faults_json(a, s->faults));
	json_object_set_new(o, "pages_allocated", jnum_or_null(s->pages, derive__measured(a)));
	json_object_set_new(o, "populated",
			    derive__measured(a) ? json_pack("{s:I, s:I}", "faults",
							    (json_int_t)s->pop_faults, "pages",
							    (json_int_t)s->pop_pages)
						: json_null());
	json_t *ids = json_array();
	for (uint32_t k = 0; k < s->nvmas; k++)
		json_array_append_new(ids, json_integer(s->vmas[k]));
	json_object_set_new(o, "vmas", ids);
	return o;
}

/* ---- entries written directly: a build's report has ~70k of them, and
 * building each as jansson objects was most of `vmaprof report`'s time. The
 * text is the same JSON jansson writes with JSON_ENSURE_ASCII. */
struct jw {
	struct dumpbuf *b;
	int first; /* no comma before the next member */
	int oom;
};

static void jw_raw(struct jw *w, const char *s, size_t n)
{
	if (dumpbuf_add(s, n, w->b))
		w->oom = 1;
}

static void jw_lit(struct jw *w, const char *s)
{
	jw_raw(w, s, strlen(s));
}

static void jw_key(struct jw *w, const char *k)
{
	if (!w->first)
		jw_raw(w, ",", 1);
	w->first = 0;
	jw_raw(w, "\"", 1);
	jw_lit(w, k);
	jw_raw(w, "\":", 2);
}

static void jw_u64(struct jw *w, uint64_t v)
{
	char d[24];
	int i = sizeof(d);
	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10));
	jw_raw(w, d + i, sizeof(d) - (size_t)i);
}

static void jw_put(void *ctx, const char *s, size_t n)
{
	jw_raw(ctx, s, n);
}

/* A JSON string of s (NULL: null), ASCII only as jansson's ENSURE_ASCII. */
static void jw_str(struct jw *w, const char *s)
{
	vp_json_escape(s, VP_JSON_ASCII, jw_put, w);
}

static void jw_faults(struct jw *w, const struct analysis *a, const uint64_t f[FC_N])
{
	if (!derive__measured(a)) {
		jw_lit(w, "null");
		return;
	}
	uint64_t total = 0;
	jw_raw(w, "{", 1);
	w->first = 1;
	for (int c = 0; c < FC_N; c++) {
		jw_key(w, fclass_name[c]);
		jw_u64(w, f[c]);
		total += f[c];
	}
	jw_key(w, "total");
	jw_u64(w, total);
	jw_raw(w, "}", 1);
	w->first = 0;
}

static void jw_json(struct jw *w, const json_t *j)
{
	if (json_dump_callback(j, dumpbuf_add, w->b, JSON_COMPACT | JSON_ENSURE_ASCII |
						      JSON_ENCODE_ANY))
		w->oom = 1;
}

/* One entry, stack included: appended to b. 0, or -1 out of memory. */
static int vma_write(struct analysis *a, struct u64map *sc, const struct proc *p, uint32_t id,
		     struct dumpbuf *b)
{
	const struct vma *e = &p->v[id];
	char prot[4] = { (e->prot & PROT_READ) ? 'r' : '-', (e->prot & PROT_WRITE) ? 'w' : '-',
			 (e->prot & PROT_EXEC) ? 'x' : '-', 0 };
	int measured = derive__measured(a);
	struct jw w = { b, 1, 0 };
	jw_raw(&w, "{", 1);
	jw_key(&w, "id"); jw_u64(&w, id);
	jw_key(&w, "start"); jw_u64(&w, e->start);
	jw_key(&w, "end"); jw_u64(&w, e->end);
	jw_key(&w, "prot"); jw_str(&w, prot);
	jw_key(&w, "shared"); jw_lit(&w, e->shared ? "true" : "false");
	jw_key(&w, "anonymous"); jw_lit(&w, e->anonymous ? "true" : "false");
	jw_key(&w, "path"); jw_str(&w, e->path);
	jw_key(&w, "offset"); jw_u64(&w, e->offset);
	jw_key(&w, "kind"); jw_str(&w, vk_name[e->kind]);
	jw_key(&w, "origin"); jw_str(&w, vo_name[e->origin]);
	jw_key(&w, "created_ns"); jw_u64(&w, e->created_ns);
	jw_key(&w, "valid_from_ns"); jw_u64(&w, e->valid_from);
	jw_key(&w, "destroyed_ns");
	if (e->last_destroyed_ns != T_NEVER)
		jw_u64(&w, e->last_destroyed_ns);
	else
		jw_lit(&w, "null");
	jw_key(&w, "ended_by"); jw_str(&w, e->last_ended_by ? ve_name[e->last_ended_by] : NULL);
	jw_key(&w, "instances"); jw_u64(&w, e->instances);
	jw_key(&w, "piece_of");
	if (e->piece_of)
		jw_u64(&w, e->piece_of - 1);
	else
		jw_lit(&w, "null");
	jw_key(&w, "internal"); jw_lit(&w, e->internal ? "true" : "false");
	jw_key(&w, "inherited_from");
	if (e->origin == VO_INHERITED && e->inh_pid) {
		jw_raw(&w, "{\"pid\":", 7);
		jw_u64(&w, pidns__report_pid(a, e->inh_pid));
		jw_raw(&w, ",\"vma\":", 7);
		jw_u64(&w, shown_id(model__find(a, e->inh_pid), e->inh_vma));
		jw_raw(&w, "}", 1);
	} else {
		jw_lit(&w, "null");
	}
	jw_key(&w, "site"); jw_u64(&w, e->site);
	jw_key(&w, "label"); jw_str(&w, p->sites[e->site].label);
	const struct stext *st = stack_text(a, sc, e->stack_file, e->stack_id);
	const char *missing = st->empty ? vma__stack_missing(p, e) : NULL;
	if (missing) {
		jw_key(&w, "stack_missing");
		jw_str(&w, missing);
	}
	jw_key(&w, "faults"); jw_faults(&w, a, e->faults);
	jw_key(&w, "pages_allocated");
	if (measured)
		jw_u64(&w, e->pages);
	else
		jw_lit(&w, "null");
	jw_key(&w, "populated");
	if (measured) {
		jw_raw(&w, "{\"faults\":", 10);
		jw_u64(&w, e->pop_faults);
		jw_raw(&w, ",\"pages\":", 9);
		jw_u64(&w, e->pop_pages);
		jw_raw(&w, "}", 1);
	} else {
		jw_lit(&w, "null");
	}
	jw_key(&w, "top_fault_sites");
	if (e->fault_sites.n) {
		json_t *t = sites_json(a, p, e);
		jw_json(&w, t);
		json_decref(t);
	} else {
		jw_raw(&w, "[]", 2);
	}
	jw_key(&w, "stack");
	jw_raw(&w, st->s, st->n);
	jw_raw(&w, "}", 1);
	return w.oom ? -1 : 0;
}

/* Listed by record as still running when it stopped waiting (a signal). */
static int running_at_end(const struct analysis *a, uint32_t pid)
{
	json_t *r = json_object_get(a->session, "running_at_end");
	size_t i;
	json_t *v;
	json_array_foreach(r, i, v)
		if (pidns__rec(a, json_integer_value(v), T_NEVER) == pid)
			return 1;
	return 0;
}

/* A process in a PID namespace (docs/report.md): its pid as the recorder's
 * namespace numbers it, its namespace, its pid at each level. */
static void ns_fields(json_t *o, const struct proc *p)
{
	if (!pidns__shown(p))
		return;
	json_object_set_new(o, "host_pid", json_integer(p->host_pid));
	json_object_set_new(o, "pid_ns", json_integer(p->pid_ns));
	json_t *l = json_null();
	if (p->ns_pids) {
		l = json_array();
		for (uint32_t i = 0; i <= p->ns_level; i++)
			json_array_append_new(l, json_integer(p->ns_pids[i]));
	}
	json_object_set_new(o, "ns_pids", l);
}

static json_t *proc_json(struct analysis *a, const struct proc *p)
{
	json_t *o = json_object();
	json_object_set_new(o, "pid", json_integer(p->own_pid));
	json_object_set_new(o, "ppid", json_integer(pidns__report_pid(a, p->ppid)));
	ns_fields(o, p);
	json_object_set_new(o, "exe", vp_json_str(p->exe));
	json_object_set_new(o, "exe_resolved", vp_json_str(p->exe_resolved));
	json_object_set_new(o, "name", vp_json_str(p->name));
	json_object_set_new(o, "title", vp_json_str(p->title));
	json_object_set_new(o, "argv", p->argv ? json_incref(p->argv) : json_array());
	json_object_set_new(o, "preload", json_pack("{s:b, s:o}", "active", p->preload_active,
						    "reason", vp_json_str(p->preload_reason)));
	json_object_set_new(o, "start_ns", json_integer((json_int_t)p->start_ns));
	json_object_set_new(o, "end_ns", json_integer((json_int_t)p->end_ns));
	json_object_set_new(o, "exit_code", p->exit_code >= 0 ? json_integer(p->exit_code)
							     : json_null());
	json_object_set_new(o, "running_at_end", json_boolean(running_at_end(a, p->pid)));
	json_object_set_new(o, "exit_signal", p->exit_signal >= 0 ? json_integer(p->exit_signal)
								 : json_null());
	json_t *ff = p->forked ? json_pack("{s:i, s:I}", "pid", (int)pidns__report_pid(a, p->ppid),
					   "time_ns", (json_int_t)p->fork_t) : json_null();
	const struct proc *pp = p->forked ? model__find(a, p->ppid) : NULL;
	if (pp && pidns__shown(pp))
		json_object_set_new(ff, "host_pid", json_integer(pp->host_pid));
	json_object_set_new(o, "forked_from", ff);
	json_t *ex = json_array();
	for (uint32_t i = 0; i < p->nex; i++)
		json_array_append_new(ex, json_pack("{s:I, s:s, s:o}", "time_ns",
						    (json_int_t)p->ex[i].t, "path",
						    p->ex[i].path ? p->ex[i].path : "", "argv",
						    p->ex[i].argv ? json_incref(p->ex[i].argv)
								  : json_array()));
	json_object_set_new(o, "execs", ex);
	json_object_set_new(o, "calls",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      "mmap", (json_int_t)p->calls[VP_CALL_MMAP],
				      "munmap", (json_int_t)p->calls[VP_CALL_MUNMAP],
				      "mremap", (json_int_t)p->calls[VP_CALL_MREMAP],
				      "mprotect", (json_int_t)p->calls[VP_CALL_MPROTECT],
				      "madvise", (json_int_t)p->calls[VP_CALL_MADVISE],
				      "brk", (json_int_t)p->calls[VP_CALL_BRK],
				      "fork", (json_int_t)p->calls[8],
				      "exec", (json_int_t)p->calls[0]));
	json_object_set_new(o, "faults", faults_json(a, p->faults));
	json_object_set_new(o, "pages_allocated", jnum_or_null(p->pages, derive__measured(a)));
	json_t *pop = json_null();
	if (derive__measured(a)) {
		json_t *by = json_object();
		for (int k = 0; k < POP_N; k++)
			if (p->pop_by[k])
				json_object_set_new(by, pop_name[k], json_integer((json_int_t)p->pop_by[k]));
		pop = json_pack("{s:I, s:I, s:o}", "faults", (json_int_t)p->pop_faults, "pages",
				(json_int_t)p->pop_pages, "by_syscall", by);
	}
	json_object_set_new(o, "populated", pop);
	json_object_set_new(o, "faults_outside_vmas", jnum_or_null(p->outside, derive__measured(a)));
	json_object_set_new(o, "inherited_unused",
			    json_pack("{s:I, s:I}", "mappings", (json_int_t)p->unused_inherited,
				      "bytes", (json_int_t)p->unused_inherited_bytes));
	json_object_set_new(o, "top_fault_sites", proc_sites_json(a, p));
	struct kc_balance kb;
	derive__kc_balance(a, p, &kb);
	json_t *kc = json_pack("{s:o, s:o, s:I}", "minflt", jnum_or_null(p->minflt, p->have_kc),
			       "majflt", jnum_or_null(p->majflt, p->have_kc), "shim_prefault",
			       (json_int_t)kb.shim);
	json_object_set_new(kc, "before_trace", jnum_or_null(p->before_trace, derive__measured(a)));
	json_object_set_new(kc, "populated", jnum_or_null(p->pop_faults, derive__measured(a)));
	json_object_set_new(kc, "difference", p->have_kc ? json_integer(kb.difference)
							 : json_null());
	json_object_set_new(o, "kernel_counters", kc);
	json_t *w = json_array();
	if (kb.warning[0])
		json_array_append_new(w, json_string(kb.warning));
	json_object_set_new(o, "warnings", w);
	return o; /* "sites" and "vmas" follow, streamed by write_report */
}

/* Write `o`; with `open`, without its closing brace, so that more members
 * can follow. */
static int dump_to(const json_t *o, FILE *f, size_t flags, struct dumpbuf *b, int open)
{
	b->n = 0;
	if (json_dump_callback(o, dumpbuf_add, b, flags))
		return -1;
	size_t n = b->n;
	if (open) {
		while (n && b->p[n - 1] != '}')
			n--;
		if (n)
			n--; /* the brace */
		while (n && (b->p[n - 1] == '\n' || b->p[n - 1] == ' '))
			n--;
	}
	return fwrite(b->p, 1, n, f) == n ? 0 : -1;
}

/* `o` written without its closing brace, then "stack": the stack's text. */
static int dump_with_stack(const json_t *o, const struct stext *t, FILE *f, size_t flags,
			   struct dumpbuf *b)
{
	if (dump_to(o, f, flags, b, 1))
		return -1;
	fputs(",\"stack\":", f);
	fwrite(t->s, 1, t->n, f);
	fputc('}', f);
	return 0;
}

/* collectors.preload: active only if the shim recorded something; when
 * some processes have no trace of it, the reason says how many. */
static json_t *preload_json(struct analysis *a)
{
	char why[256];
	const char *reason;
	int active = derive__preload(a, 1, why, sizeof(why), &reason);
	return json_pack("{s:b, s:I, s:I, s:o, s:I}", "active", active, "events",
			 (json_int_t)a->preload_records, "lost",
			 (json_int_t)(a->preload_lost + a->preload_damaged), "reason",
			 vp_json_str(reason), "processes_without", (json_int_t)a->preload_without);
}

static json_t *report_head(struct analysis *a)
{
	json_t *r = json_object();
	json_object_set_new(r, "schema_version", json_integer(2));
	json_object_set_new(r, "tool", json_pack("{s:s, s:s}", "name", "vmaprof", "version",
						 VMAPROF_VERSION));
	json_t *cmd = json_object_get(a->session, "command");
	json_object_set_new(r, "command", json_is_array(cmd) ? json_incref(cmd) : json_array());
	json_object_set_new(r, "page_size", json_integer((json_int_t)a->page_size));
	json_object_set_new(
		r, "collectors",
		json_pack("{s:o, s:{s:b, s:I, s:I, s:s?}}", "preload", preload_json(a), "bpf", "active",
			  a->bpf_active, "events", (json_int_t)a->bpf_records, "lost",
			  (json_int_t)(a->bpf_lost + a->bpf_damaged), "reason", a->bpf_active ? NULL : a->bpf_reason));
	json_t *col = json_object_get(r, "collectors");
	if (!json_object_get(json_object_get(col, "bpf"), "reason"))
		json_object_set_new(json_object_get(col, "bpf"), "reason", json_null());
	/* a recording whose recorder died (no session end marker) is partial:
	 * faults, exits and counters after that moment are missing */
	json_object_set_new(r, "complete", json_boolean(a->complete));
	json_object_set_new(json_object_get(col, "bpf"), "complete",
			    json_boolean(a->complete || !a->bpf_active));
	json_object_set_new(r, "lost",
			    json_pack("{s:I, s:I, s:I, s:I}", "preload_records",
				      (json_int_t)a->preload_lost, "bpf_records",
				      (json_int_t)a->bpf_lost, "damaged_records",
				      (json_int_t)a->damaged, "unreadable_files",
				      (json_int_t)a->unreadable));
	return r;
}

/* The report is streamed: one process header or one VMA object at a time is
 * built, written and freed, so memory stays that of the analysis itself
 * (a 200k-mapping report used to hold a 900 MiB jansson tree). Member order
 * is that of report.schema.json's examples: "vmas" last in a process,
 * "processes" then "forks" last in the report. */
struct write_state {
	struct u64map sc; /* stack text by (file, stack id): struct stext */
	struct dumpbuf db;
};

static void write_state_free(void *state)
{
	struct write_state *w = state;
	free(w->db.p);
	uint64_t k;
	void *v;
	for (size_t i = 0; u64map__next(&w->sc, &i, &k, &v);) {
		free(((struct stext *)v)->s);
		free(v);
	}
	u64map__free(&w->sc);
}

/* The sites of p whose pages one side of a fork copied, most first (the
 * first 10). */
static json_t *fork_sites(const struct analysis *a, const struct proc *p, const struct u64map *m)
{
	json_t *arr = json_array();
	struct site_count *c;
	uint32_t n = sites__fork_copies(p, m, &c);
	for (uint32_t i = 0; i < n && i < 10; i++)
		json_array_append_new(arr, json_pack("{s:i, s:s, s:I, s:I}", "site", (int)c[i].site,
						     "label", p->sites[c[i].site].label, "cow_copy",
						     (json_int_t)c[i].n, "bytes",
						     (json_int_t)(c[i].n * a->page_size)));
	free(c);
	return arr;
}

/* The tree by command: processes of one name summed (a build of 878
 * processes reads as "812 x cc1"), most pages allocated first. */
static json_t *commands_json(const struct analysis *a)
{
	json_t *arr = json_array();
	struct cmd {
		const char *name;
		uint32_t procs;
		uint64_t faults[FC_N], pages;
	} *c = calloc(a->nprocs + 1, sizeof(*c));
	uint32_t n = 0;
	if (!c)
		model__oom();
	for (uint32_t i = 0; i < a->nprocs; i++) {
		const struct proc *p = a->procs[i];
		const char *name = p->name ? p->name : "?";
		uint32_t k = 0;
		while (k < n && strcmp(c[k].name, name))
			k++;
		if (k == n)
			c[n++].name = name;
		c[k].procs++;
		for (int f = 0; f < FC_N; f++)
			c[k].faults[f] += p->faults[f];
		c[k].pages += p->pages;
	}
	/* most pages first, then most processes, then name */
	for (uint32_t i = 1; i < n; i++)
		for (uint32_t j = i; j > 0; j--) {
			struct cmd *x = &c[j - 1], *y = &c[j];
			if (x->pages > y->pages || (x->pages == y->pages && (x->procs > y->procs ||
			    (x->procs == y->procs && strcmp(x->name, y->name) <= 0))))
				break;
			struct cmd t = *x;
			*x = *y;
			*y = t;
		}
	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:i, s:o, s:o}", "command", c[i].name,
						     "processes", (int)c[i].procs, "faults",
						     faults_json(a, c[i].faults), "pages_allocated",
						     jnum_or_null(c[i].pages, derive__measured(a))));
	free(c);
	return arr;
}

/* One process: its header, then its sites and its shown entries. */
static int write_proc(struct analysis *a, const struct proc *p, FILE *f, size_t flags,
		      struct write_state *w)
{
	const char *nl = (flags & JSON_MAX_INDENT) ? "\n" : "";
	struct dumpbuf *db = &w->db;
	json_t *o = proc_json(a, p);
	int err = dump_to(o, f, flags, db, 1);
	json_decref(o);
	fprintf(f, ",%s\"sites\":[", nl);
	for (uint32_t s = 0; s < p->nsites && !err; s++) {
		json_t *so = site_json(a, p, s);
		fputs(s ? ",\n" : nl, f);
		err |= dump_with_stack(so, stack_text(a, &w->sc, p->sites[s].stack_file,
						     p->sites[s].stack_id), f, flags, db);
		json_decref(so);
	}
	fprintf(f, "],%s\"vmas\":[", nl);
	for (uint32_t v = 0, shown = 0; v < p->nv && !err; v++) {
		if (p->v[v].folded_into)
			continue;
		fputs(shown++ ? ",\n" : nl, f);
		db->n = 0;
		if (vma_write(a, &w->sc, p, v, db) ||
		    fwrite(db->p, 1, db->n, f) != db->n)
			err = -1;
	}
	fprintf(f, "]}");
	return err;
}

/* One fork of p (forks[]). */
static json_t *fork_json(struct analysis *a, const struct proc *p, const struct child_ref *c)
{
	const struct proc *cp = model__find(a, c->child);
	json_t *o = json_pack("{s:i, s:i, s:I, s:o, s:o, s:o, s:o, s:o}", "parent",
			      (int)p->own_pid, "child",
			      (int)pidns__report_pid(a, c->child), "time_ns", (json_int_t)c->t,
			      "cow_copy_parent", jnum_or_null(c->cow_parent, derive__measured(a)),
			      "cow_copy_child", jnum_or_null(c->cow_child, derive__measured(a)),
			      "unshared_bytes",
			      jnum_or_null((c->cow_parent + c->cow_child) * a->page_size,
					   derive__measured(a)),
			      "sites_parent", fork_sites(a, p, &c->cow_vma_parent),
			      "sites_child",
			      fork_sites(a, model__find(a, c->child), &c->cow_vma_child));
	if (pidns__shown(p))
		json_object_set_new(o, "parent_host_pid", json_integer(p->host_pid));
	if (cp && pidns__shown(cp))
		json_object_set_new(o, "child_host_pid", json_integer(cp->host_pid));
	return o;
}

static int write_report(struct analysis *a, FILE *f, size_t flags, void *state)
{
	struct write_state *w = state;
	const char *nl = (flags & JSON_MAX_INDENT) ? "\n" : "";
	int err = 0;
	json_t *r = report_head(a);
	err |= dump_to(r, f, flags, &w->db, 1);
	json_decref(r);
	fprintf(f, ",%s\"processes\":[", nl);
	for (uint32_t i = 0; i < a->nprocs && !err; i++) {
		fputs(i ? ",\n" : nl, f);
		err |= write_proc(a, a->procs[i], f, flags, w);
	}
	fprintf(f, "],%s\"forks\":[", nl);
	int first = 1;
	for (uint32_t i = 0; i < a->nprocs && !err; i++) {
		const struct proc *p = a->procs[i];
		for (uint32_t k = 0; k < p->nkids && !err; k++) {
			json_t *o = fork_json(a, p, &p->kids[k]);
			fputs(first ? nl : ",\n", f);
			first = 0;
			err |= dump_to(o, f, flags, &w->db, 0);
			json_decref(o);
		}
	}
	fprintf(f, "],%s\"commands\":", nl);
	json_t *cmds = commands_json(a);
	err |= dump_to(cmds, f, flags, &w->db, 0);
	json_decref(cmds);
	fprintf(f, "}\n");
	/* the failed write's errno, as the caller says it */
	return err || ferror(f) ? (errno ? -errno : -EIO) : 0;
}

const struct writer json_writer = { sizeof(struct write_state), write_report, write_state_free };
