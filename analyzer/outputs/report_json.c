/* SPDX-License-Identifier: MIT */
/* report.json (docs/report.md, schema_version 3), streamed, from a
 * finished analysis (view.h). What repeats across entries and processes is
 * written once, in tables at the end (frames, stacks, paths, site_keys),
 * and entries are rows that refer to them by index. The processes are
 * written on two threads (write_procs). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "derive.h"
#include "view.h"
#include "writer.h"

/* jansson's json_dumpf makes one stdio call per token, which was a third
 * of writing a big report; dump into a reused buffer, write that once. */
#define dumpbuf vp_buf

/* jansson's dump callback (0 or -1) */
static int dumpbuf_add(const char *s, size_t n, void *data)
{
	return vp_buf_put(data, s, n);
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

/* A frame's object from what the symbolizer said of it (f, lines: with
 * file and line). */
static json_t *frame_of(struct analysis *a, const struct vp_frame *fp, int lines)
{
	json_t *fr = json_object();
	struct vp_frame f = *fp;
	uint64_t ip = f.ip;
	const char *fn = sites__demangle(a, f.function);
	json_object_set_new(fr, "function", vp_json_str(fn));
	if (fn != f.function)
		json_object_set_new(fr, "mangled", vp_json_str(f.function));
	json_object_set_new(fr, "module", vp_json_str(f.module));
	/* the offset in the module is the same in every process and run; the
	 * ip (this process's address) only where there is no module */
	if (f.module)
		json_object_set_new(fr, "module_offset", json_integer((json_int_t)f.mod_offset));
	else
		json_object_set_new(fr, "ip", json_integer((json_int_t)ip));
	if (lines) {
		json_object_set_new(fr, "file", vp_json_str(f.file));
		json_object_set_new(fr, "line", f.line ? json_integer(f.line) : json_null());
	}
	return fr;
}

/* lines: with file and line (else without, and the symbolizer does not read
 * the file's DWARF for them) */
static json_t *frame_json(struct analysis *a, int space, uint64_t ip, int return_addr,
			  int kernel, int lines)
{
	/* kernel text addresses do not fit the report's unsigned integers (and
	 * mean nothing to the reader): a kernel-mode site says so instead */
	struct vp_frame f = { .ip = ip };
	if (kernel) {
		json_t *fr = json_object();
		json_object_set_new(fr, "kernel", json_true());
		json_object_set_new(fr, "function", json_string("[kernel]"));
		json_object_set_new(fr, "module", json_null());
		return fr;
	}
	if (space >= 0 && lines)
		symbolizer__lookup(a->sym, (uint64_t)space, ip, return_addr, &f);
	else if (space >= 0)
		symbolizer__lookup_fn(a->sym, (uint64_t)space, ip, return_addr, &f);
	return frame_of(a, &f, lines);
}

/* The tables written once at the end of the report, and the caches that
 * fill them: a stack (file, stack id) is symbolized once, a fault site's
 * frame (image, ip) once. */
struct write_state {
	struct strtab frames, stacks, paths, skeys;
	struct u64map sc; /* (file, stack id) -> stack index + 1 */
	struct u64map fc; /* fault_frame_key -> frame index + 1 */
	struct u64map sf; /* stack frames by what the symbolizer said (sym_frame) */
	struct u64map ff; /* fault sites' frames (no file:line) by the same */
	/* stacks[] indexes of kernel stacks (kunwind.c), in order of first use */
	struct u64map ks;
	uint32_t *kst, nkst, capkst;
	struct dumpbuf db, tmp;
	struct dumpbuf fdb, ftmp; /* the processes' writer's (struct fmt) */
};

/* A stack frame's index by the symbolizer's answer: a frame's text is made
 * of the answer's strings (and the ip where there is no module) alone, and
 * the symbolizer's strings live as long as it does, one pointer per text
 * it hands out (sites__demangle keys on them too). Processes of one
 * program share their stacks' frames: each is written once, not once per
 * process's stack. */
struct sym_frame {
	struct u64map_node n;
	const char *function, *module, *file;
	uint64_t at; /* mod_offset, or the ip without a module */
	int line;
	uint32_t frame;
};

static void sym_frame_key(const struct vp_frame *f, struct sym_frame *k)
{
	k->function = f->function;
	k->module = f->module;
	k->file = f->file;
	k->at = f->module ? f->mod_offset : f->ip;
	k->line = f->line;
	uint64_t h = vp_hash_mix((uintptr_t)k->function) ^ vp_hash_mix((uintptr_t)k->module * 3) ^
		     vp_hash_mix((uintptr_t)k->file * 5) ^ vp_hash_mix(k->at * 7 + (uint64_t)k->line);
	k->n.hash = h ? h : 1;
}

/* A frame object's index in frames[] (j is released). */
static uint32_t frame_id(struct write_state *w, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(j);
	if (!text)
		model__oom();
	uint32_t id = writer__intern(&w->frames, text, strlen(text), NULL);
	free(text);
	return id;
}

static int dumpbuf_addu(struct dumpbuf *b, uint64_t v)
{
	char d[24];
	int i = sizeof(d);
	do
		d[--i] = (char)('0' + v % 10);
	while ((v /= 10));
	return dumpbuf_add(d + i, sizeof(d) - (size_t)i, b);
}

/* The index in frames[] of the frame the symbolizer's answer f makes (with
 * file and line or without: one map each), written once however many
 * processes' addresses give that answer. */
static uint32_t sym_frame_id(struct analysis *a, struct write_state *w, struct u64map *m,
			     const struct vp_frame *f, int lines)
{
	struct sym_frame k;
	sym_frame_key(f, &k);
	for (struct u64map_node *n = u64map__chain(m, k.n.hash); n; n = n->next) {
		const struct sym_frame *c = (const void *)n;
		if (c->function == k.function && c->module == k.module && c->file == k.file &&
		    c->at == k.at && c->line == k.line)
			return c->frame;
	}
	struct sym_frame *c = model__alloc(sizeof(*c));
	*c = k;
	c->frame = frame_id(w, frame_of(a, f, lines));
	if (u64map__chain_add(m, &c->n))
		model__oom();
	return c->frame;
}

/* The index in frames[] of frame ip of a stack of file (space). */
static uint32_t stack_frame(struct analysis *a, struct write_state *w, int32_t file, uint64_t ip,
			    int return_addr)
{
	struct vp_frame f = { .ip = ip };
	symbolizer__lookup(a->sym, (uint64_t)file, ip, return_addr, &f);
	return sym_frame_id(a, w, &w->sf, &f, 1);
}

/* The index in stacks[] of stack id of file (an empty stack when unknown);
 * *empty: it has no frame. */
static uint32_t stack_idx(struct analysis *a, struct write_state *w, int32_t file, uint32_t id,
			  int *empty)
{
	int known = file >= 0 && id && (uint32_t)file < a->nfiles;
	uint64_t key = known ? ((uint64_t)(uint32_t)file << 32) | id : 1ull << 63;
	const struct vp_stack *st = known ? stack_map__get(&a->files[file].stacks, id) : NULL;
	*empty = !st || !st->depth;
	void *v = u64map__get(&w->sc, key);
	if (v)
		return (uint32_t)(uintptr_t)v - 1;
	struct dumpbuf *b = &w->tmp;
	int err = 0;
	b->n = 0;
	err |= dumpbuf_add("[", 1, b);
	for (uint32_t i = 0; st && i < st->depth; i++) {
		uint32_t f = stack_frame(a, w, file, st->ips[i], i > 0);
		if (i)
			err |= dumpbuf_add(",", 1, b);
		err |= dumpbuf_addu(b, f);
	}
	err |= dumpbuf_add("]", 1, b);
	if (err)
		model__oom();
	uint32_t s = writer__intern(&w->stacks, b->p, b->n, NULL);
	if (u64map__put(&w->sc, key, (void *)(uintptr_t)(s + 1)))
		model__oom();
	if (known && a->files[file].kstacks && !*empty && !u64map__get(&w->ks, s + 1ull)) {
		if (u64map__put(&w->ks, s + 1ull, (void *)1))
			model__oom();
		w->kst = model__grow(w->kst, &w->capkst, w->nkst + 1, sizeof(*w->kst));
		w->kst[w->nkst++] = s;
	}
	return s;
}

/* The frame of a fault site: symbolized without file and line, once per
 * (image, ip); its text made once per answer (processes of one program
 * share them). */
static uint32_t fault_frame(struct analysis *a, struct write_state *w, int space, uint64_t ip,
			    int kernel)
{
	uint64_t key = kernel ? 1 : ((uint64_t)(uint16_t)(space + 2) << 48) | ip;
	int cached = kernel || ip < (1ull << 48);
	void *v = cached ? u64map__get(&w->fc, key) : NULL;
	if (v)
		return (uint32_t)(uintptr_t)v - 1;
	uint32_t f;
	if (kernel || space < 0) {
		f = frame_id(w, frame_json(a, space, ip, 0, kernel, 0));
	} else {
		struct vp_frame fr = { .ip = ip };
		symbolizer__lookup_fn(a->sym, (uint64_t)space, ip, 0, &fr);
		f = sym_frame_id(a, w, &w->ff, &fr, 0);
	}
	if (cached && u64map__put(&w->fc, key, (void *)(uintptr_t)(f + 1)))
		model__oom();
	return f;
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

/* The id under which entry id of p is shown: the entry it was folded into. */
static uint32_t shown_id(const struct proc *p, uint32_t id)
{
	if (p && id < p->nv && p->v[id].folded_into)
		return p->v[id].folded_into - 1;
	return id;
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

/* A row's separator: nothing before its first value. */
static void jw_sep(struct jw *w)
{
	if (!w->first)
		jw_raw(w, ",", 1);
	w->first = 0;
}

static void jw_u64_or_null(struct jw *w, uint64_t v, int known)
{
	if (known)
		jw_u64(w, v);
	else
		jw_lit(w, "null");
}

/* faults as an array in fault_classes' order (null: not measured) */
static void jw_faults(struct jw *w, const struct analysis *a, const uint64_t f[FC_N])
{
	if (!derive__measured(a)) {
		jw_lit(w, "null");
		return;
	}
	for (int c = 0; c < FC_N; c++) {
		jw_raw(w, c ? "," : "[", 1);
		jw_u64(w, f[c]);
	}
	jw_raw(w, "]", 1);
}

/* populated as [faults, pages] (null: not measured) */
static void jw_pop(struct jw *w, const struct analysis *a, uint64_t faults, uint64_t pages)
{
	if (!derive__measured(a)) {
		jw_lit(w, "null");
		return;
	}
	jw_raw(w, "[", 1);
	jw_u64(w, faults);
	jw_raw(w, ",", 1);
	jw_u64(w, pages);
	jw_raw(w, "]", 1);
}

/* The first 5 fault sites of a row, as the tables numbered them: what the
 * planning thread hands the formatting one (write_proc). */
struct top5 {
	uint32_t n;
	struct {
		uint32_t frame, cls;
		uint64_t count;
	} s[5];
};

/* The top 5 of `n` fault sites (sorted here), their frames symbolized in
 * `space` where a site has no image of its own. */
static void top_sites(struct analysis *a, struct write_state *w, struct fault_site *tmp,
		      uint32_t n, int space, struct top5 *out)
{
	if (n > 1)
		qsort(tmp, n, sizeof(*tmp), site_cmp);
	out->n = 0;
	for (uint32_t i = 0; i < n && i < 5; i++) {
		out->s[i].frame = fault_frame(a, w, tmp[i].space >= 0 ? tmp[i].space : space,
					      tmp[i].ip, (int)tmp[i].kernel);
		out->s[i].cls = tmp[i].cls - 1;
		out->s[i].count = tmp[i].count;
		out->n++;
	}
}

/* [frame, class, count] rows */
static void jw_top5(struct jw *jw, const struct top5 *t)
{
	jw_raw(jw, "[", 1);
	for (uint32_t i = 0; i < t->n; i++) {
		jw_raw(jw, i ? ",[" : "[", i ? 2 : 1);
		jw_u64(jw, t->s[i].frame);
		jw_raw(jw, ",", 1);
		jw_u64(jw, t->s[i].cls);
		jw_raw(jw, ",", 1);
		jw_u64(jw, t->s[i].count);
		jw_raw(jw, "]", 1);
	}
	jw_raw(jw, "]", 1);
}

static struct fault_site *sites_tmp(size_t n)
{
	struct fault_site *tmp = malloc((n + 1) * sizeof(*tmp));
	if (!tmp)
		model__oom();
	return tmp;
}

/* e's fault sites, most first. */
static void vma_sites(struct analysis *a, struct write_state *w, const struct proc *p,
		      const struct vma *e, struct top5 *out)
{
	out->n = 0;
	if (!e->fault_sites.n)
		return;
	struct fault_site *tmp = sites_tmp(e->fault_sites.n);
	uint32_t n = 0;
	fault_sites_append(e, -1, tmp, &n);
	top_sites(a, w, tmp, n, space_at(a, p, e->valid_from), out);
	free(tmp);
}

/* A process's sites over all its entries, merged by (ip, class, image). */
static void proc_sites(struct analysis *a, struct write_state *w, const struct proc *p,
		       struct top5 *out)
{
	size_t total = 0;
	for (uint32_t i = 0; i < p->nv; i++)
		total += p->v[i].fault_sites.n;
	struct fault_site *tmp = sites_tmp(total);
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nv; i++)
		fault_sites_append(&p->v[i], space_at(a, p, p->v[i].valid_from), tmp, &n);
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
	top_sites(a, w, tmp, m, p->nimg ? p->img[p->nimg - 1].file : -1, out);
	free(tmp);
}

/* The index in site_keys[] of site s (its stack: stacks[] index st): what
 * sites are told apart by, the same in every process that has the site.
 * Interned in the formatting's table (struct fmt). */
static uint32_t site_key_idx(struct strtab *skeys, struct dumpbuf *tmp, const struct csite *s,
			     uint32_t st)
{
	struct jw jw = { tmp, 1, 0 };
	tmp->n = 0;
	jw_raw(&jw, "{", 1);
	jw_key(&jw, "key"); jw_str(&jw, s->key);
	jw_key(&jw, "label"); jw_str(&jw, s->label);
	jw_key(&jw, "label_frame");
	jw_u64_or_null(&jw, (uint64_t)s->label_frame, s->label_frame >= 0);
	jw_key(&jw, "stack"); jw_u64(&jw, st);
	jw_raw(&jw, "}", 1);
	if (jw.oom)
		model__oom();
	return writer__intern(skeys, tmp->p, tmp->n, NULL);
}

/* What formats processes' rows (write_proc): its buffers, and the two
 * tables only it adds to while they are written. */
struct fmt {
	struct dumpbuf *db, *tmp;
	struct strtab *paths, *skeys;
};

/* One call site of p (its stack: stacks[] index st): a row of
 * site_columns. */
static void site_row(struct jw *jw, const struct analysis *a, struct fmt *fm,
		     const struct proc *p, uint32_t i, uint32_t st)
{
	const struct csite *s = &p->sites[i];
	int measured = derive__measured(a);
	uint32_t k = site_key_idx(fm->skeys, fm->tmp, s, st);
	jw->first = 1;
	jw_raw(jw, "[", 1);
	jw_sep(jw); jw_u64(jw, i);
	jw_sep(jw); jw_u64(jw, k);
	jw_sep(jw); jw_u64(jw, s->mappings);
	jw_sep(jw); jw_u64(jw, s->bytes_mapped);
	jw_sep(jw); jw_u64(jw, s->peak_live_bytes);
	jw_sep(jw); jw_faults(jw, a, s->faults);
	jw_sep(jw); jw_u64_or_null(jw, s->pages, measured);
	jw_sep(jw); jw_pop(jw, a, s->pop_faults, s->pop_pages);
	jw_raw(jw, "]", 1);
}

/* An entry with nothing to show of its own: no fault, no page, no
 * populated page. Summarised in its process's idle[] unless --every-vma
 * (and never when faults were not measured: nothing says it is idle). */
static int vma_idle(const struct analysis *a, const struct vma *e)
{
	if (a->every_vma || !derive__measured(a) || e->pages || e->pop_faults || e->pop_pages ||
	    e->fault_sites.n)
		return 0;
	for (int c = 0; c < FC_N; c++)
		if (e->faults[c])
			return 0;
	return 1;
}

/* An entry with a row of its own in "vmas" (not folded, not idle). */
static int vma_shown(const struct analysis *a, const struct vma *e)
{
	return !e->folded_into && !vma_idle(a, e);
}

static uint32_t path_idx(struct strtab *paths, const char *path)
{
	return writer__intern(paths, path, strlen(path), NULL);
}

/* What the tables say of one shown entry: its stack's index (empty: the
 * stack has no frame) and its top fault sites. */
struct vma_plan {
	uint32_t stack;
	int empty;
	struct top5 top;
};

static void plan_vma(struct analysis *a, struct write_state *w, const struct proc *p,
		     const struct vma *e, struct vma_plan *vp)
{
	vp->stack = stack_idx(a, w, e->stack_file, e->stack_id, &vp->empty);
	vma_sites(a, w, p, e, &vp->top);
}

/* One entry: a row of vma_columns, appended to jw. */
static void vma_row(struct jw *jw, struct analysis *a, struct fmt *fm, const struct proc *p,
		    uint32_t id, const struct vma_plan *vp)
{
	const struct vma *e = &p->v[id];
	char prot[4] = { (e->prot & PROT_READ) ? 'r' : '-', (e->prot & PROT_WRITE) ? 'w' : '-',
			 (e->prot & PROT_EXEC) ? 'x' : '-', 0 };
	int measured = derive__measured(a);
	jw->first = 1;
	jw_raw(jw, "[", 1);
	jw_sep(jw); jw_u64(jw, id);
	jw_sep(jw); jw_u64(jw, e->start);
	jw_sep(jw); jw_u64(jw, e->end);
	jw_sep(jw); jw_str(jw, prot);
	jw_sep(jw); jw_lit(jw, e->shared ? "true" : "false");
	jw_sep(jw); jw_lit(jw, e->anonymous ? "true" : "false");
	jw_sep(jw); jw_u64_or_null(jw, e->path ? path_idx(fm->paths, e->path) : 0, e->path != NULL);
	jw_sep(jw); jw_u64(jw, e->offset);
	jw_sep(jw); jw_str(jw, vk_name[e->kind]);
	jw_sep(jw); jw_str(jw, vo_name[e->origin]);
	jw_sep(jw); jw_u64(jw, e->created_ns);
	/* null: the same as created_ns (all but inherited entries) */
	jw_sep(jw); jw_u64_or_null(jw, e->valid_from, e->valid_from != e->created_ns);
	jw_sep(jw); jw_u64_or_null(jw, e->last_destroyed_ns, e->last_destroyed_ns != T_NEVER);
	jw_sep(jw); jw_str(jw, e->last_ended_by ? ve_name[e->last_ended_by] : NULL);
	jw_sep(jw); jw_u64(jw, e->instances);
	jw_sep(jw); jw_u64_or_null(jw, e->piece_of - 1, e->piece_of != 0);
	jw_sep(jw); jw_lit(jw, e->internal ? "true" : "false");
	jw_sep(jw);
	if (e->origin == VO_INHERITED && e->inh_pid) {
		jw_raw(jw, "[", 1);
		jw_u64(jw, pidns__report_pid(a, e->inh_pid));
		jw_raw(jw, ",", 1);
		jw_u64(jw, shown_id(model__find(a, e->inh_pid), e->inh_vma));
		jw_raw(jw, "]", 1);
	} else {
		jw_lit(jw, "null");
	}
	jw_sep(jw); jw_u64(jw, e->site);
	jw_sep(jw); jw_u64(jw, vp->stack);
	jw_sep(jw); jw_str(jw, vp->empty ? vma__stack_missing(p, e) : vma__stack_cut(e));
	jw_sep(jw); jw_faults(jw, a, e->faults);
	jw_sep(jw); jw_u64_or_null(jw, e->pages, measured);
	jw_sep(jw); jw_pop(jw, a, e->pop_faults, e->pop_pages);
	jw_sep(jw); jw_top5(jw, &vp->top);
	jw_raw(jw, "]", 1);
}

/* The idle entries of one process, by (site, kind, path, internal). */
struct idle_row {
	uint32_t site;
	uint8_t kind, internal;
	const char *path; /* interned: compared by pointer */
	uint64_t entries, mappings, bytes, live, live_bytes;
};

static uint32_t idle_rows(const struct analysis *a, const struct proc *p, struct idle_row **out)
{
	struct idle_row *r = NULL;
	uint32_t n = 0, cap = 0;
	for (uint32_t v = 0; v < p->nv; v++) {
		const struct vma *e = &p->v[v];
		if (e->folded_into || !vma_idle(a, e))
			continue;
		uint32_t k = 0;
		while (k < n && !(r[k].site == e->site && r[k].kind == e->kind &&
				  r[k].internal == e->internal && r[k].path == e->path))
			k++;
		if (k == n) {
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				struct idle_row *x = realloc(r, cap * sizeof(*r));
				if (!x) {
					free(r);
					model__oom();
				}
				r = x;
			}
			r[n++] = (struct idle_row){ .site = e->site, .kind = e->kind,
						    .internal = e->internal, .path = e->path };
		}
		uint64_t size = e->end - e->start;
		r[k].entries++;
		r[k].mappings += e->instances;
		r[k].bytes += size * e->instances;
		if (e->last_destroyed_ns == T_NEVER) {
			r[k].live++;
			r[k].live_bytes += size;
		}
	}
	*out = r;
	return n;
}

static void idle_row(struct jw *jw, struct fmt *fm, const struct idle_row *r)
{
	jw->first = 1;
	jw_raw(jw, "[", 1);
	jw_sep(jw); jw_u64(jw, r->site);
	jw_sep(jw); jw_str(jw, vk_name[r->kind]);
	jw_sep(jw); jw_u64_or_null(jw, r->path ? path_idx(fm->paths, r->path) : 0, r->path != NULL);
	jw_sep(jw); jw_lit(jw, r->internal ? "true" : "false");
	jw_sep(jw); jw_u64(jw, r->entries);
	jw_sep(jw); jw_u64(jw, r->mappings);
	jw_sep(jw); jw_u64(jw, r->bytes);
	jw_sep(jw); jw_u64(jw, r->live);
	jw_sep(jw); jw_u64(jw, r->live_bytes);
	jw_raw(jw, "]", 1);
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


/* "kernel_mm" (docs/report.md, "The kernel's figures"): what the mm said of
 * each image of p, in bytes; a warning into `w` when the last image's
 * mappings came near vm.max_map_count. */
static json_t *kernel_mm_json(const struct analysis *a, const struct proc *p, char *w, size_t wn)
{
	static const char *const when[] = { "?", "exec", "exit", "exit_late" };
	uint64_t ps = a->page_size;
	json_t *imgs = json_array();
	for (uint32_t i = 0; i < p->nmm; i++) {
		const struct mm_reading *m = &p->mm[i];
		int partial = !!(m->flags & VP_MMSTAT_PARTIAL);
		int64_t rss = m->rss[VP_RSS_FILE] + m->rss[VP_RSS_ANON] + m->rss[VP_RSS_SHMEM];
		uint64_t peak = m->hiwater_rss > (uint64_t)(rss > 0 ? rss : 0) ? m->hiwater_rss
									      : (uint64_t)rss;
		uint64_t vpeak = m->hiwater_vm > m->total_vm ? m->hiwater_vm : m->total_vm;
		json_t *r = json_pack("{s:s, s:I, s:s?, s:b, s:b, s:I}", "when", when[m->why],
				      "time_ns", (json_int_t)m->t, "exe", m->exe, "partial", partial,
				      "rss_exact", !partial && !(m->flags & VP_MMSTAT_APPROX),
				      "rss_peak", (json_int_t)(peak * ps));
#define MMF(name, v) json_object_set_new(r, name, partial ? json_null() : json_integer((json_int_t)(v)))
		MMF("rss", rss * (int64_t)ps);
		MMF("rss_anon", m->rss[VP_RSS_ANON] * (int64_t)ps);
		MMF("rss_file", m->rss[VP_RSS_FILE] * (int64_t)ps);
		MMF("rss_shmem", m->rss[VP_RSS_SHMEM] * (int64_t)ps);
		MMF("swap", m->rss[VP_RSS_SWAP] * (int64_t)ps);
		MMF("hiwater_rss", m->hiwater_rss * ps);
		MMF("vm_peak", vpeak * ps);
		MMF("vm_size", m->total_vm * ps);
		MMF("locked", m->locked_vm * ps);
		MMF("pinned", m->pinned_vm * ps);
		MMF("data", m->data_vm * ps);
		MMF("exec", m->exec_vm * ps);
		MMF("stack", m->stack_vm * ps);
		MMF("map_count", m->map_count);
#undef MMF
		json_array_append_new(imgs, r);
	}
	json_t *lim = json_object_get(a->session, "vm_max_map_count");
	int64_t max = json_is_integer(lim) ? json_integer_value(lim) : 0;
	const struct mm_reading *last = p->nmm ? &p->mm[p->nmm - 1] : NULL;
	int near = 0;
	if (max > 0 && last && !(last->flags & VP_MMSTAT_PARTIAL) &&
	    (int64_t)last->map_count * 10 >= max * 9) {
		near = 1;
		snprintf(w, wn, "%u mappings at the end, %lld%% of vm.max_map_count (%lld): "
			 "mmap fails with ENOMEM at the limit", last->map_count,
			 (long long)((int64_t)last->map_count * 100 / max), (long long)max);
	}
	return json_pack("{s:o, s:I, s:o, s:b}", "images", imgs, "rss_samples",
			 (json_int_t)p->nrss, "max_map_count", max > 0 ? json_integer(max) : json_null(),
			 "near_max_map_count", near);
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
	char mmw[200] = "";
	if (p->nmm || p->nrss)
		json_object_set_new(o, "kernel_mm", kernel_mm_json(a, p, mmw, sizeof(mmw)));
	json_t *w = json_array();
	if (kb.warning[0])
		json_array_append_new(w, json_string(kb.warning));
	if (mmw[0])
		json_array_append_new(w, json_string(mmw));
	json_object_set_new(o, "warnings", w);
	return o; /* "top_fault_sites", "sites", "vmas" and "idle" follow, streamed
		   * by write_proc */
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

/* The names of a row's values, in order (docs/report.md). */
static const char *const site_columns[] = {
	"id", "site_key", "mappings", "bytes_mapped", "peak_live_bytes", "faults",
	"pages_allocated", "populated", NULL,
};
static const char *const vma_columns[] = {
	"id", "start", "end", "prot", "shared", "anonymous", "path", "offset", "kind", "origin",
	"created_ns", "valid_from_ns", "destroyed_ns", "ended_by", "instances", "piece_of",
	"internal", "inherited_from", "site", "stack", "stack_missing", "faults",
	"pages_allocated", "populated", "top_fault_sites", NULL,
};
static const char *const idle_columns[] = {
	"site", "kind", "path", "internal", "entries", "mappings", "bytes_mapped", "live",
	"live_bytes", NULL,
};

static json_t *columns(const char *const *names)
{
	json_t *arr = json_array();
	for (; *names; names++)
		json_array_append_new(arr, json_string(*names));
	return arr;
}

static json_t *report_head(struct analysis *a)
{
	json_t *r = json_object();
	json_object_set_new(r, "schema_version", json_integer(3));
	json_object_set_new(r, "tool", json_pack("{s:s, s:s}", "name", "vmaprof", "version",
						 VMAPROF_VERSION));
	json_t *cmd = json_object_get(a->session, "command");
	json_object_set_new(r, "command", json_is_array(cmd) ? json_incref(cmd) : json_array());
	json_object_set_new(r, "page_size", json_integer((json_int_t)a->page_size));
	json_object_set_new(r, "every_vma", json_boolean(a->every_vma));
	json_t *fc = json_array();
	for (int c = 0; c < FC_N; c++)
		json_array_append_new(fc, json_string(fclass_name[c]));
	json_object_set_new(r, "fault_classes", fc);
	json_object_set_new(r, "site_columns", columns(site_columns));
	json_object_set_new(r, "vma_columns", columns(vma_columns));
	json_object_set_new(r, "idle_columns", columns(idle_columns));
	json_object_set_new(
		r, "collectors",
		json_pack("{s:o, s:{s:b, s:I, s:I, s:s?}}", "preload", preload_json(a), "bpf", "active",
			  a->bpf_active, "events", (json_int_t)a->bpf_records, "lost",
			  (json_int_t)(a->bpf_lost + a->bpf_damaged), "reason", a->bpf_active ? NULL : a->bpf_reason));
	json_t *col = json_object_get(r, "collectors");
	/* write stacks: the sampling, what was paired with its fault (not in
	 * recordings without them: their reports keep their bytes) */
	if (a->ws_first || a->ws_every || a->ws_paired || a->ws_unpaired)
		json_object_set_new(
			json_object_get(col, "bpf"), "write_stacks",
			json_pack("{s:I, s:I, s:I, s:I, s:I}", "first", (json_int_t)a->ws_first,
				  "every", (json_int_t)a->ws_every, "paired", (json_int_t)a->ws_paired,
				  "unpaired", (json_int_t)a->ws_unpaired, "skipped",
				  (json_int_t)a->ws_skipped));
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

/* The report is streamed: one process header or one row at a time is
 * built, written and freed, so memory stays that of the analysis itself
 * and of the tables (a 200k-mapping report used to hold a 900 MiB jansson
 * tree). Member order: "vmas" and "idle" last in a process; "processes",
 * "forks", "commands" and then the tables they refer to last in the
 * report. */
static void sym_frame_free(struct u64map_node *n)
{
	free(n);
}

static void write_state_free(void *state)
{
	struct write_state *w = state;
	free(w->db.p);
	free(w->tmp.p);
	free(w->fdb.p);
	free(w->ftmp.p);
	strtab__free(&w->frames);
	strtab__free(&w->stacks);
	strtab__free(&w->paths);
	strtab__free(&w->skeys);
	u64map__free(&w->sc);
	u64map__free(&w->fc);
	u64map__free(&w->ks);
	free(w->kst);
	u64map__chain_free(&w->sf, sym_frame_free);
	u64map__chain_free(&w->ff, sym_frame_free);
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

/* db's text to f; db emptied. */
static int flush_db(struct dumpbuf *db, struct jw *jw, FILE *f)
{
	int err = jw->oom || fwrite(db->p, 1, db->n, f) != db->n ? -1 : 0;
	db->n = 0;
	return err;
}

static json_t *write_sites_json(struct analysis *a, struct write_state *w, const struct proc *p,
				const struct wsites *t, uint64_t exact);

/* What one process's rows take from the tables, in the order the serial
 * writer would have numbered them (write_proc): found by the planning
 * side, formatted by the other. */
struct proc_plan {
	json_t *ws;           /* "write_sites" (NULL: none) */
	struct top5 top;      /* "top_fault_sites" */
	uint32_t *site_stack; /* stacks[] index of each site's stack */
	struct vma_plan *vp;  /* each shown entry's, in order */
};

static void plan_free(struct proc_plan *pl)
{
	json_decref(pl->ws);
	free(pl->site_stack);
	free(pl->vp);
	*pl = (struct proc_plan){ 0 };
}

static void plan_proc(struct analysis *a, const struct proc *p, struct write_state *w,
		      struct proc_plan *pl)
{
	/* every sampled write that copied (cow_copy, shared_write), unscaled
	 * weights: the tables mix classes and forks */
	if (p->ws.n)
		pl->ws = write_sites_json(a, w, p, &p->ws, 0);
	proc_sites(a, w, p, &pl->top);
	pl->site_stack = model__alloc((p->nsites + 1ull) * sizeof(*pl->site_stack));
	for (uint32_t s = 0; s < p->nsites; s++) {
		int empty;
		pl->site_stack[s] = stack_idx(a, w, p->sites[s].stack_file, p->sites[s].stack_id,
					      &empty);
	}
	uint32_t shown = 0;
	for (uint32_t v = 0; v < p->nv; v++)
		shown += vma_shown(a, &p->v[v]);
	pl->vp = model__alloc((shown + 1ull) * sizeof(*pl->vp));
	for (uint32_t v = 0, k = 0; v < p->nv; v++)
		if (vma_shown(a, &p->v[v]))
			plan_vma(a, w, p, &p->v[v], &pl->vp[k++]);
}

/* One process: its header, its fault sites, then rows: its sites, its
 * shown entries and its idle ones summarised. */
static int write_proc(struct analysis *a, const struct proc *p, FILE *f, size_t flags,
		      struct fmt *fm, struct proc_plan *pl)
{
	const char *nl = (flags & JSON_MAX_INDENT) ? "\n" : "";
	struct dumpbuf *db = fm->db;
	struct jw jw = { db, 1, 0 };
	json_t *o = proc_json(a, p);
	if (pl->ws)
		json_object_set_new(o, "write_sites", pl->ws);
	pl->ws = NULL;
	int err = dump_to(o, f, flags, db, 1);
	json_decref(o);
	db->n = 0;
	jw_raw(&jw, ",\"top_fault_sites\":", 19);
	jw_top5(&jw, &pl->top);
	jw_raw(&jw, ",\"sites\":[", 10);
	for (uint32_t s = 0; s < p->nsites; s++) {
		jw_raw(&jw, s ? ",\n" : nl, s ? 2 : strlen(nl));
		site_row(&jw, a, fm, p, s, pl->site_stack[s]);
	}
	jw_raw(&jw, "],\"vmas\":[", 10);
	err |= flush_db(db, &jw, f);
	for (uint32_t v = 0, shown = 0; v < p->nv && !err; v++) {
		if (!vma_shown(a, &p->v[v]))
			continue;
		jw_raw(&jw, shown ? ",\n" : nl, shown ? 2 : strlen(nl));
		vma_row(&jw, a, fm, p, v, &pl->vp[shown]);
		shown++;
		if (db->n > 1 << 16)
			err |= flush_db(db, &jw, f);
	}
	jw_raw(&jw, "],\"idle\":[", 10);
	struct idle_row *rows;
	uint32_t n = idle_rows(a, p, &rows);
	for (uint32_t i = 0; i < n; i++) {
		jw_raw(&jw, i ? ",\n" : nl, i ? 2 : strlen(nl));
		idle_row(&jw, fm, &rows[i]);
	}
	free(rows);
	jw_raw(&jw, "]}", 2);
	err |= flush_db(db, &jw, f);
	return err;
}

/* The processes on both cores: this thread plans them (the ids their rows
 * take from the stack and frame tables, numbered in order of first use,
 * symbolizing as it goes), a second formats and writes each once it is
 * planned, at most PLAN_LEAD behind. The text is the same as one thread
 * writes. */
#define PLAN_LEAD 64

struct procs_out {
	struct analysis *a;
	struct write_state *w;
	FILE *f;
	size_t flags;
	struct fmt fm;
	struct proc_plan *plans;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint32_t planned, written;
	int threaded;
	int stop; /* planning failed: the writer gives up */
	int err;  /* writing failed (-1) or ran out of memory (-ENOMEM) */
	int why;  /* the failed write's errno (the writer's own) */
};

/* Process i written (its plan freed); -1 on a failed write. */
static int write_one(struct procs_out *o, uint32_t i)
{
	const char *nl = (o->flags & JSON_MAX_INDENT) ? "\n" : "";
	fputs(i ? ",\n" : nl, o->f);
	int err = write_proc(o->a, o->a->procs[i], o->f, o->flags, &o->fm, &o->plans[i]);
	plan_free(&o->plans[i]);
	return err ? -1 : 0;
}

static int write_all(void *ctx)
{
	struct procs_out *o = ctx;
	for (uint32_t i = 0; i < o->a->nprocs; i++) {
		pthread_mutex_lock(&o->mu);
		while (o->planned <= i && !o->stop)
			pthread_cond_wait(&o->cv, &o->mu);
		int stop = o->stop;
		pthread_mutex_unlock(&o->mu);
		if (stop)
			break;
		int err = write_one(o, i);
		int why = errno;
		pthread_mutex_lock(&o->mu);
		o->written = i + 1;
		if (err) {
			o->err = err;
			o->why = why;
		}
		pthread_cond_signal(&o->cv);
		pthread_mutex_unlock(&o->mu);
		if (err)
			break;
	}
	return 0;
}

static void *writer_main(void *ctx)
{
	struct procs_out *o = ctx;
	if (model__try(write_all, o)) {
		pthread_mutex_lock(&o->mu);
		o->err = -ENOMEM;
		pthread_cond_signal(&o->cv);
		pthread_mutex_unlock(&o->mu);
	}
	return NULL;
}

static int plan_all(void *ctx)
{
	struct procs_out *o = ctx;
	for (uint32_t i = 0; i < o->a->nprocs; i++) {
		if (!o->threaded) {
			plan_proc(o->a, o->a->procs[i], o->w, &o->plans[i]);
			if ((o->err = write_one(o, i)))
				break;
			continue;
		}
		pthread_mutex_lock(&o->mu);
		while (i >= o->written + PLAN_LEAD && !o->err)
			pthread_cond_wait(&o->cv, &o->mu);
		int err = o->err;
		pthread_mutex_unlock(&o->mu);
		if (err)
			break;
		plan_proc(o->a, o->a->procs[i], o->w, &o->plans[i]);
		pthread_mutex_lock(&o->mu);
		o->planned = i + 1;
		pthread_cond_signal(&o->cv);
		pthread_mutex_unlock(&o->mu);
	}
	return 0;
}

/* "processes": 0, -1 (a failed write); out of memory unwinds. */
static int write_procs(struct analysis *a, struct write_state *w, FILE *f, size_t flags)
{
	struct procs_out o = { .a = a, .w = w, .f = f, .flags = flags,
			       .fm = { &w->fdb, &w->ftmp, &w->paths, &w->skeys } };
	o.plans = calloc(a->nprocs + 1, sizeof(*o.plans));
	if (!o.plans)
		model__oom();
	pthread_mutex_init(&o.mu, NULL);
	pthread_cond_init(&o.cv, NULL);
	pthread_t t;
	/* VMAPROF_REPORT_THREADS=1: one thread (the same text; to compare) */
	const char *nt = getenv("VMAPROF_REPORT_THREADS");
	o.threaded = a->nprocs > 1 && !(nt && !strcmp(nt, "1")) &&
		     !pthread_create(&t, NULL, writer_main, &o);
	a->write_threads = o.threaded ? 2 : 1;
	int planned = model__try(plan_all, &o);
	if (o.threaded) {
		pthread_mutex_lock(&o.mu);
		o.stop = planned != 0; /* planning ran out of memory */
		pthread_cond_signal(&o.cv);
		pthread_mutex_unlock(&o.mu);
		pthread_join(t, NULL);
	}
	for (uint32_t i = 0; i < a->nprocs; i++)
		plan_free(&o.plans[i]);
	free(o.plans);
	pthread_mutex_destroy(&o.mu);
	pthread_cond_destroy(&o.cv);
	if (planned || o.err == -ENOMEM)
		model__oom();
	if (o.err && o.why)
		errno = o.why; /* as write_report says it */
	return o.err ? -1 : 0;
}

/* Write sites of one table (docs/report.md "Write sites"): grouped by
 * stack, most copies first (the first 10), each with its mappings (sites
 * of p). copies: the table's samples scaled to `exact` (0: by the
 * sampling's weights alone). */
static json_t *write_sites_json(struct analysis *a, struct write_state *w, const struct proc *p,
				const struct wsites *t, uint64_t exact)
{
	json_t *arr = json_array();
	struct ws_group *g;
	uint32_t n = p ? wsites__by_stack(t, exact, &g) : 0;
	double scale = exact && t->weight > 0 ? (double)exact / t->weight : 1;
	for (uint32_t i = 0; i < n && i < 10; i++) {
		const struct wsite *ws = &t->w[g[i].site];
		char lb[600];
		int empty;
		uint32_t si = stack_idx(a, w, ws->stack_id ? ws->stack_file : -1, ws->stack_id,
					&empty);
		json_t *maps = json_array();
		for (uint32_t j = 0; j < t->n; j++) {
			const struct wsite *x = &t->w[j];
			if (x->stack_id != ws->stack_id || x->stack_file != ws->stack_file ||
			    x->why != ws->why || x->cls != ws->cls || x->vma >= p->nv)
				continue;
			uint32_t site = p->v[x->vma].site;
			json_array_append_new(maps, json_pack("{s:i, s:s, s:I, s:I}", "site", (int)site,
							      "label", p->sites[site].label,
							      "copies",
							      (json_int_t)(x->weight * scale + 0.5),
							      "samples", (json_int_t)x->samples));
		}
		json_array_append_new(
			arr, json_pack("{s:s, s:i, s:s, s:I, s:I, s:o}", "label",
				       wsites__label(a, ws, lb, sizeof(lb)), "stack", (int)si, "class",
				       fclass_name[ws->cls], "copies",
				       (json_int_t)(g[i].copies + 0.5), "samples",
				       (json_int_t)g[i].samples, "mappings", maps));
	}
	free(g);
	return arr;
}

/* One fork of p (forks[]). */
static json_t *fork_json(struct analysis *a, const struct proc *p, const struct child_ref *c,
			 struct write_state *w)
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
	if (a->ws_first || a->ws_every || a->ws_paired) {
		json_object_set_new(o, "write_sites_parent",
				    write_sites_json(a, w, p, &c->ws_parent, c->cow_parent));
		json_object_set_new(o, "write_sites_child",
				    write_sites_json(a, w, cp, &c->ws_child, c->cow_child));
	}
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
	if (!err)
		err |= write_procs(a, w, f, flags);
	fprintf(f, "],%s\"forks\":[", nl);
	int first = 1;
	for (uint32_t i = 0; i < a->nprocs && !err; i++) {
		const struct proc *p = a->procs[i];
		for (uint32_t k = 0; k < p->nkids && !err; k++) {
			json_t *o = fork_json(a, p, &p->kids[k], w);
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
	/* the stacks the kernel collector took and the analyzer unwound (only
	 * when there are any: reports without keep their bytes) */
	if (w->nkst) {
		fprintf(f, ",%s\"kernel_stacks\":[", nl);
		for (uint32_t i = 0; i < w->nkst; i++)
			fprintf(f, "%s%u", i ? "," : "", w->kst[i]);
		fputs("]", f);
	}
	/* the tables, last: every row above refers to them by index */
	const struct {
		const char *name;
		const struct strtab *t;
	} tabs[] = { { "site_keys", &w->skeys }, { "stacks", &w->stacks },
		     { "frames", &w->frames }, { "paths", &w->paths } };
	for (size_t k = 0; k < sizeof(tabs) / sizeof(tabs[0]) && !err; k++) {
		const struct strtab *t = tabs[k].t;
		fprintf(f, ",%s\"%s\":[", nl, tabs[k].name);
		for (uint32_t i = 0; i < t->n; i++) {
			if (i)
				fputs(",\n", f);
			else
				fputs(nl, f);
			if (t == &w->paths) {
				struct jw jw = { &w->db, 1, 0 };
				w->db.n = 0;
				jw_str(&jw, t->s[i]);
				err |= flush_db(&w->db, &jw, f);
			} else {
				fwrite(t->s[i], 1, t->len[i], f);
			}
		}
		fputs("]", f);
	}
	fprintf(f, "}\n");
	/* the failed write's errno, as the caller says it */
	return err || ferror(f) ? (errno ? -errno : -EIO) : 0;
}

const struct writer json_writer = { sizeof(struct write_state), write_report, write_state_free };
