/* SPDX-License-Identifier: MIT */
/*
 * pprof (outputs.h; docs/exports.md) of a finished analysis (view.h): Go's
 * profile.proto, gzipped, built from the same call sites as report.json's
 * sites[].
 *
 * - Sample types: the fault classes (fclass.h, unit "faults"), then
 *   pages_allocated and populated (pages) and bytes (bytes mapped,
 *   cumulative). Without the kernel collector only `bytes` was measured and
 *   only it is written. Default: cow_copy (bytes when unmeasured).
 * - One sample per (process, call site): its creating stack, leaf first,
 *   demangled; a site without a stack gets one frame named by its label
 *   ("[heap] brk"). Labels: pid (numeric), comm, process ("comm[pid]"),
 *   site, and kind and path when all of the site's entries agree on one;
 *   host_pid (numeric) for a process in a PID namespace (docs/report.md).
 * - What a process has that no site has (faults outside every mapping,
 *   pages populated by exec, mlockall or I/O) is one more sample of the
 *   process with a frame saying so: the samples of a process sum to its
 *   report.json figures, class by class.
 *
 * The protobuf is written here (varints and length-delimited fields; the
 * field numbers are those of github.com/google/pprof's profile.proto), the
 * gzip by zlib.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "config.h"
#include "derive.h"
#include "view.h"
#include "writer.h"

/* profile.proto field numbers */
enum {
	P_SAMPLE_TYPE = 1, P_SAMPLE = 2, P_MAPPING = 3, P_LOCATION = 4, P_FUNCTION = 5,
	P_STRING_TABLE = 6, P_DURATION_NANOS = 10, P_COMMENT = 13, P_DEFAULT_SAMPLE_TYPE = 14,
	VT_TYPE = 1, VT_UNIT = 2,
	S_LOCATION_ID = 1, S_VALUE = 2, S_LABEL = 3,
	L_KEY = 1, L_STR = 2, L_NUM = 3,
	M_ID = 1, M_FILENAME = 5, M_HAS_FUNCTIONS = 7, M_HAS_FILENAMES = 8, M_HAS_LINE_NUMBERS = 9,
	LOC_ID = 1, LOC_MAPPING_ID = 2, LOC_ADDRESS = 3, LOC_LINE = 4,
	LN_FUNCTION_ID = 1, LN_LINE = 2,
	F_ID = 1, F_NAME = 2, F_SYSTEM_NAME = 3, F_FILENAME = 4,
};
enum { WT_VARINT = 0, WT_LEN = 2 };

/* ---- a growable byte buffer and the protobuf wire format ---- */

struct pbuf {
	uint8_t *p;
	size_t n, cap;
};

static void pb_raw(struct pbuf *b, const void *s, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n)
			cap *= 2;
		b->p = model__realloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void pb_varint(struct pbuf *b, uint64_t v)
{
	uint8_t d[10];
	size_t n = 0;
	do {
		d[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			d[n] |= 0x80;
		n++;
	} while (v);
	pb_raw(b, d, n);
}

static void pb_key(struct pbuf *b, unsigned field, unsigned wt)
{
	pb_varint(b, (uint64_t)field << 3 | wt);
}

/* An int64/uint64/bool field; zero is the default and is left out. */
static void pb_int(struct pbuf *b, unsigned field, uint64_t v)
{
	if (!v)
		return;
	pb_key(b, field, WT_VARINT);
	pb_varint(b, v);
}

static void pb_bytes(struct pbuf *b, unsigned field, const void *s, size_t n)
{
	pb_key(b, field, WT_LEN);
	pb_varint(b, n);
	pb_raw(b, s, n);
}

/* A nested message from its encoded body (which is then emptied). */
static void pb_msg(struct pbuf *b, unsigned field, struct pbuf *body)
{
	pb_bytes(b, field, body->p, body->n);
	body->n = 0;
}

/* A packed repeated varint field (zeros kept: they are values). */
static void pb_packed(struct pbuf *b, unsigned field, const uint64_t *v, size_t n,
		      struct pbuf *tmp)
{
	tmp->n = 0;
	for (size_t i = 0; i < n; i++)
		pb_varint(tmp, v[i]);
	pb_msg(b, field, tmp);
}

/* ---- deduplicating tables: strings, and tuples of 4 numbers -> id ---- */

/* The id of tuple k (ids from 1, in order of first sight); *fresh says
 * whether it was new. */
static uint32_t table_id(struct strtab *t, const uint64_t k[4], int *fresh)
{
	bool is_new;
	uint32_t id = writer__intern(t, k, 4 * sizeof(*k), &is_new);
	*fresh = is_new;
	return id + 1;
}

/* The string table: index 0 is "", then strings by content in order of
 * first sight (index = the table's id + 1). */
struct strings {
	struct strtab idx;
	struct pbuf enc;      /* field 6, every string so far */
};

static uint64_t str_index(struct strings *st, const char *s)
{
	if (!s || !*s)
		return 0;
	size_t len = strlen(s);
	bool fresh;
	uint32_t id = writer__intern(&st->idx, s, len, &fresh);
	if (fresh)
		pb_bytes(&st->enc, P_STRING_TABLE, s, len);
	return id + 1;
}

/* ---- the profile being built ---- */

struct mapinfo {
	uint64_t file;        /* string index */
	uint8_t has_files, has_lines;
};

struct pp {
	struct analysis *a;
	struct strings st;
	struct strtab maps, funcs, locs;
	struct mapinfo *map;  /* by mapping id - 1 */
	uint32_t nmap, capmap;
	struct pbuf funcs_enc, locs_enc, samples_enc, tmp, tmp2, sample, head, tail, empty;
	struct u64map stacks; /* (file + 1) << 32 | stack id -> uint64_t[1 + n]: n, location ids */
	int measured;
	int writes;  /* the recording had write stacks: V_WRITES is written */
	z_stream z;
	int z_on;
	uint8_t zout[1 << 16];
};

/* Sample types, in value order. V_WRITES (cow_copy_writes, where the
 * recording had write stacks): the copies of each write site, whose
 * stack is the write's (docs/report.md "Write sites"), scaled to the
 * process's cow_copy; its samples have 0 in every other type, the
 * creating sites' samples 0 in it. */
enum { V_PAGES = FC_N, V_POPULATED, V_BYTES, V_WRITES, V_N };

static uint32_t function_id(struct pp *x, const char *name, const char *sysname, const char *file)
{
	uint64_t k[4] = { str_index(&x->st, name), str_index(&x->st, sysname),
			  str_index(&x->st, file), 0 };
	int fresh;
	uint32_t id = table_id(&x->funcs, k, &fresh);
	if (fresh) {
		struct pbuf *t = &x->tmp;
		t->n = 0;
		pb_int(t, F_ID, id);
		pb_int(t, F_NAME, k[0]);
		pb_int(t, F_SYSTEM_NAME, k[1]);
		pb_int(t, F_FILENAME, k[2]);
		pb_msg(&x->funcs_enc, P_FUNCTION, t);
	}
	return id;
}

static uint32_t mapping_id(struct pp *x, const char *module)
{
	if (!module)
		return 0;
	uint64_t k[4] = { str_index(&x->st, module), 0, 0, 0 };
	int fresh;
	uint32_t id = table_id(&x->maps, k, &fresh);
	if (fresh) {
		x->map = model__grow(x->map, &x->capmap, id, sizeof(*x->map));
		x->map[id - 1] = (struct mapinfo){ .file = k[0] };
		x->nmap = id;
	}
	return id;
}

/* A location: (mapping, address, function, line), deduplicated. */
static uint32_t location_id(struct pp *x, uint32_t map, uint64_t addr, uint32_t fn, int line)
{
	uint64_t k[4] = { map, addr, fn, (uint64_t)(int64_t)line };
	int fresh;
	uint32_t id = table_id(&x->locs, k, &fresh);
	if (fresh) {
		struct pbuf *t = &x->tmp, *ln = &x->tmp2;
		t->n = ln->n = 0;
		pb_int(t, LOC_ID, id);
		pb_int(t, LOC_MAPPING_ID, map);
		pb_int(t, LOC_ADDRESS, addr);
		pb_int(ln, LN_FUNCTION_ID, fn);
		pb_int(ln, LN_LINE, (uint64_t)(int64_t)line);
		pb_msg(t, LOC_LINE, ln);
		pb_msg(&x->locs_enc, P_LOCATION, t);
	}
	return id;
}

/* A frame of its own, named `name` (stackless sites, process remainders). */
static uint32_t synthetic_location(struct pp *x, const char *name)
{
	return location_id(x, 0, 0, function_id(x, name, NULL, NULL), 0);
}

/* The location ids of a stack, leaf first, built once per (file, stack). */
static const uint64_t *stack_locations(struct pp *x, int32_t file, uint32_t sid)
{
	if (file < 0 || (uint32_t)file >= x->a->nfiles || !sid)
		return NULL;
	uint64_t key = ((uint64_t)(uint32_t)file + 1) << 32 | sid;
	uint64_t *ids = u64map__get(&x->stacks, key);
	if (ids)
		return ids;
	const struct vp_stack *s = stack_map__get(&x->a->files[file].stacks, sid);
	if (!s || !s->depth)
		return NULL;
	ids = model__alloc((1 + (size_t)s->depth) * sizeof(*ids));
	if (u64map__put(&x->stacks, key, ids)) {
		free(ids);
		model__oom();
	}
	for (uint32_t i = 0; i < s->depth; i++) {
		struct vp_frame f = { .ip = s->ips[i] };
		symbolizer__lookup(x->a->sym, (uint64_t)file, s->ips[i], i > 0, &f);
		char anon[300];
		const char *name = sites__demangle(x->a, f.function);
		if (!name) {
			/* as sites' keys name it: module+offset */
			name = vp_frame_anon(&f, anon, sizeof(anon));
		}
		uint32_t map = mapping_id(x, f.module);
		if (map && f.file)
			x->map[map - 1].has_files = 1;
		if (map && f.line)
			x->map[map - 1].has_lines = 1;
		uint32_t fn = function_id(x, name, f.function, f.file);
		ids[1 + i] = location_id(x, map, f.ip, fn, f.line);
		ids[0] = i + 1;
	}
	return ids;
}

static void label_str(struct pp *x, struct pbuf *s, const char *key, const char *val)
{
	struct pbuf *t = &x->tmp2;
	t->n = 0;
	pb_int(t, L_KEY, str_index(&x->st, key));
	pb_int(t, L_STR, str_index(&x->st, val));
	pb_msg(s, S_LABEL, t);
}

static void label_num(struct pp *x, struct pbuf *s, const char *key, int64_t val)
{
	struct pbuf *t = &x->tmp2;
	t->n = 0;
	pb_int(t, L_KEY, str_index(&x->st, key));
	pb_int(t, L_NUM, (uint64_t)val);
	pb_msg(s, S_LABEL, t);
}

/* One sample: `vals` (all V_N; the measured ones are written), `locs` leaf
 * first, the process's labels and the site's. Skipped when all are 0. */
static void add_sample(struct pp *x, const struct proc *p, const uint64_t vals[V_N],
		       const uint64_t *locs, uint32_t nlocs, const char *site, const char *kind,
		       const char *path)
{
	uint64_t v[V_N];
	uint32_t n = 0;
	int any = 0;
	for (int i = 0; i < V_N; i++)
		if ((x->measured || i == V_BYTES) && (i != V_WRITES || x->writes)) {
			v[n++] = vals[i];
			any |= vals[i] != 0;
		}
	if (!any)
		return;
	struct pbuf *s = &x->sample;
	s->n = 0;
	pb_packed(s, S_LOCATION_ID, locs, nlocs, &x->tmp);
	pb_packed(s, S_VALUE, v, n, &x->tmp);
	char who[300];
	snprintf(who, sizeof(who), "%s[%u]", p->name ? p->name : "?", p->own_pid);
	label_num(x, s, "pid", p->own_pid);
	if (pidns__shown(p)) /* two containers may both have a pid 3 */
		label_num(x, s, "host_pid", p->host_pid);
	label_str(x, s, "comm", p->name ? p->name : "?");
	label_str(x, s, "process", who); /* for -tagroot: pprof roots string labels only */
	label_str(x, s, "site", site);
	if (kind)
		label_str(x, s, "kind", kind);
	if (path)
		label_str(x, s, "path", path);
	pb_msg(&x->samples_enc, P_SAMPLE, s);
}

/* The kind and path all of a site's entries share, or NULL. */
static void site_kind_path(const struct proc *p, const struct csite *s, const char **kind,
			   const char **path)
{
	*kind = *path = NULL;
	if (!s->nvmas)
		return;
	const struct vma *e0 = &p->v[s->vmas[0]];
	int same_kind = 1, same_path = e0->path != NULL;
	for (uint32_t i = 1; i < s->nvmas; i++) {
		const struct vma *e = &p->v[s->vmas[i]];
		same_kind &= e->kind == e0->kind;
		same_path &= e->path == e0->path; /* interned */
	}
	if (same_kind)
		*kind = vk_name[e0->kind];
	if (same_path)
		*path = e0->path;
}

static void add_process(struct pp *x, const struct proc *p)
{
	uint64_t rest[V_N] = { 0 }, outside[V_N] = { 0 }, pop[V_N] = { 0 };
	for (int c = 0; c < FC_N; c++)
		rest[c] = p->faults[c];
	rest[V_PAGES] = p->pages;
	rest[V_POPULATED] = p->pop_pages;
	for (uint32_t i = 0; i < p->nsites; i++) {
		const struct csite *s = &p->sites[i];
		uint64_t v[V_N];
		for (int c = 0; c < FC_N; c++) {
			v[c] = s->faults[c];
			rest[c] -= s->faults[c];
		}
		v[V_PAGES] = s->pages;
		v[V_POPULATED] = s->pop_pages;
		v[V_BYTES] = s->bytes_mapped;
		v[V_WRITES] = 0;
		rest[V_PAGES] -= s->pages;
		rest[V_POPULATED] -= s->pop_pages;
		const char *kind, *path;
		site_kind_path(p, s, &kind, &path);
		const uint64_t *ids = stack_locations(x, s->stack_file, s->stack_id);
		uint64_t one;
		if (!ids) {
			one = synthetic_location(x, s->label);
			add_sample(x, p, v, &one, 1, s->label, kind, path);
		} else {
			/* from the labelled frame up, as the folded export: the
			 * allocator frames below it would take every flat count */
			uint32_t lf = s->label_frame > 0 && (uint64_t)s->label_frame < ids[0]
					      ? (uint32_t)s->label_frame : 0;
			add_sample(x, p, v, ids + 1 + lf, (uint32_t)ids[0] - lf, s->label, kind, path);
		}
	}
	/* what no site holds: pages populated by process-wide calls, and the
	 * faults (and their pages) outside every mapping */
	pop[V_PAGES] = pop[V_POPULATED] = rest[V_POPULATED];
	memcpy(outside, rest, sizeof(outside));
	outside[V_PAGES] -= pop[V_PAGES];
	outside[V_POPULATED] = 0;
	static const char OUT[] = "[faults outside any mapping]";
	static const char POP[] = "[populated by exec, mlockall or I/O]";
	uint64_t loc = synthetic_location(x, OUT);
	add_sample(x, p, outside, &loc, 1, OUT, NULL, NULL);
	loc = synthetic_location(x, POP);
	add_sample(x, p, pop, &loc, 1, POP, NULL, NULL);
	/* write sites of its copies: whole write stacks, leaf first */
	double wsum = 0;
	for (uint32_t i = 0; i < p->ws.n; i++)
		if (p->ws.w[i].cls == FC_COW_COPY)
			wsum += p->ws.w[i].weight;
	for (uint32_t i = 0; x->writes && wsum > 0 && i < p->ws.n; i++) {
		const struct wsite *w = &p->ws.w[i];
		if (w->cls != FC_COW_COPY)
			continue;
		uint64_t v[V_N] = { 0 };
		v[V_WRITES] = (uint64_t)(w->weight * (double)p->faults[FC_COW_COPY] / wsum + 0.5);
		char lb[600];
		wsites__label(x->a, w, lb, sizeof(lb));
		const uint64_t *ids = w->stack_id ? stack_locations(x, w->stack_file, w->stack_id)
						  : NULL;
		if (!ids) {
			uint64_t one = synthetic_location(x, lb);
			add_sample(x, p, v, &one, 1, lb, vk_name[p->v[w->vma].kind], p->v[w->vma].path);
		} else {
			add_sample(x, p, v, ids + 1, (uint32_t)ids[0], lb, vk_name[p->v[w->vma].kind],
				   p->v[w->vma].path);
		}
	}
}

/* ---- output: gzip through zlib ---- */

static int z_put(struct pp *x, FILE *f, const void *s, size_t n, int finish)
{
	x->z.next_in = (Bytef *)(uintptr_t)s;
	x->z.avail_in = (uInt)n;
	for (;;) {
		x->z.next_out = x->zout;
		x->z.avail_out = sizeof(x->zout);
		int r = deflate(&x->z, finish ? Z_FINISH : Z_NO_FLUSH);
		if (r == Z_STREAM_ERROR)
			return -EIO;
		size_t have = sizeof(x->zout) - x->z.avail_out;
		if (have && fwrite(x->zout, 1, have, f) != have)
			return -EIO;
		if (finish ? r == Z_STREAM_END : x->z.avail_in == 0 && x->z.avail_out != 0)
			return 0;
	}
}

/* A buffer of any size, in pieces zlib's uInt can count. */
static int z_buf(struct pp *x, FILE *f, const struct pbuf *b)
{
	for (size_t o = 0; o < b->n;) {
		size_t k = b->n - o > (1u << 30) ? (1u << 30) : b->n - o;
		int err = z_put(x, f, b->p + o, k, 0);
		if (err)
			return err;
		o += k;
	}
	return 0;
}

static void pp_free(void *state)
{
	struct pp *x = state;
	if (x->z_on)
		deflateEnd(&x->z);
	strtab__free(&x->st.idx);
	free(x->st.enc.p);
	strtab__free(&x->maps);
	strtab__free(&x->funcs);
	strtab__free(&x->locs);
	free(x->map);
	free(x->funcs_enc.p);
	free(x->locs_enc.p);
	free(x->samples_enc.p);
	free(x->tmp.p);
	free(x->tmp2.p);
	free(x->sample.p);
	free(x->head.p);
	free(x->tail.p);
	free(x->empty.p);
	uint64_t k;
	void *v;
	for (size_t i = 0; u64map__next(&x->stacks, &i, &k, &v);)
		free(v);
	u64map__free(&x->stacks);
}

static int write_profile(struct analysis *a, FILE *f, size_t json_flags, void *state)
{
	struct pp *x = state;
	x->a = a;
	x->measured = derive__measured(a);

	/* sample types */
	struct pbuf *head = &x->head, *tail = &x->tail;
	x->writes = x->measured && (a->ws_first || a->ws_every || a->ws_paired);
	static const char *const extra[4][2] = { { "pages_allocated", "pages" },
						 { "populated", "pages" }, { "bytes", "bytes" },
						 { "cow_copy_writes", "copies" } };
	uint64_t deflt = 0;
	for (int i = 0; i < V_N; i++) {
		if ((!x->measured && i != V_BYTES) || (i == V_WRITES && !x->writes))
			continue;
		const char *name = i < FC_N ? fclass_name[i] : extra[i - FC_N][0];
		const char *unit = i < FC_N ? "faults" : extra[i - FC_N][1];
		x->tmp.n = 0;
		pb_int(&x->tmp, VT_TYPE, str_index(&x->st, name));
		pb_int(&x->tmp, VT_UNIT, str_index(&x->st, unit));
		pb_msg(head, P_SAMPLE_TYPE, &x->tmp);
		if (i == (x->measured ? FC_COW_COPY : V_BYTES))
			deflt = str_index(&x->st, name);
	}

	for (uint32_t i = 0; i < a->nprocs; i++)
		add_process(x, a->procs[i]);

	/* the tail: mappings, comments, duration, default type */
	for (uint32_t i = 0; i < x->nmap; i++) {
		x->tmp.n = 0;
		pb_int(&x->tmp, M_ID, i + 1);
		pb_int(&x->tmp, M_FILENAME, x->map[i].file);
		/* symbolized here: pprof must not try again with runtime addresses */
		pb_int(&x->tmp, M_HAS_FUNCTIONS, 1);
		pb_int(&x->tmp, M_HAS_FILENAMES, x->map[i].has_files);
		pb_int(&x->tmp, M_HAS_LINE_NUMBERS, x->map[i].has_lines);
		pb_msg(tail, P_MAPPING, &x->tmp);
	}
	char c[512];
	snprintf(c, sizeof(c), "vmaprof %s: memory mappings by creating call site",
		 VMAPROF_VERSION);
	pb_int(tail, P_COMMENT, str_index(&x->st, c));
	json_t *cmd = json_object_get(a->session, "command");
	if (json_is_array(cmd)) {
		size_t k, used = (size_t)snprintf(c, sizeof(c), "command:");
		json_t *v;
		json_array_foreach(cmd, k, v) {
			if (used < sizeof(c) && json_is_string(v))
				used += (size_t)snprintf(c + used, sizeof(c) - used, " %s",
							 json_string_value(v));
		}
		pb_int(tail, P_COMMENT, str_index(&x->st, c));
	}
	json_t *t0 = json_object_get(a->session, "start_ns");
	json_t *t1 = json_object_get(a->session, "end_ns");
	if (json_is_integer(t0) && json_is_integer(t1) &&
	    json_integer_value(t1) > json_integer_value(t0))
		pb_int(tail, P_DURATION_NANOS,
		       (uint64_t)(json_integer_value(t1) - json_integer_value(t0)));
	pb_int(tail, P_DEFAULT_SAMPLE_TYPE, deflt);

	/* string 0 is "": written first, then the rest in index order */
	pb_bytes(&x->empty, P_STRING_TABLE, "", 0);

	if (deflateInit2(&x->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	x->z_on = 1;
	const struct pbuf *parts[] = { head, &x->samples_enc, &x->locs_enc, &x->funcs_enc,
				       &x->empty, &x->st.enc, tail };
	int err = 0;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]) && !err; i++)
		err = z_buf(x, f, parts[i]);
	if (!err)
		err = z_put(x, f, NULL, 0, 1);
	return err;
}

const struct writer pprof_writer = { sizeof(struct pp), write_profile, pp_free };
