/* SPDX-License-Identifier: MIT */
/*
 * diff, step 1 of 4: load. A report.json file -> struct report: the
 * document parsed (big ones without their VMA lists, read one VMA at a
 * time later through vma_next), schema_version, page_size and each
 * process's pid, fork and exec fields type-checked; and the typed getters
 * match.c reads the rest with. A schema_version 3 report's rows (entries
 * referring to frame, stack and path tables; idle entries summarised) are
 * handed to match.c as the entry objects of version 2 (vma_next), so that
 * the versions diff alike. Any defect of the input is one message in
 * struct diag, never a crash. Next: match.c (roles, sites, entries).
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diff_int.h"

int diag__fail(struct diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- typed access to the report --------------------------------------- */
/* `at` names the object in messages, as a JSON path ("processes[2].vmas[0]"). */

int field(struct diag *d, const struct report *r, json_t *obj, const char *at,
	  const char *name, json_t **out)
{
	*out = json_object_get(obj, name);
	if (!*out)
		return diag__fail(d, "%s: %s%s%s: missing", r->file, at, *at ? "." : "", name);
	return 0;
}

int get_count(struct diag *d, const struct report *r, json_t *obj, const char *at,
	      const char *name, uint64_t *out)
{
	json_t *v;
	int err = field(d, r, obj, at, name, &v);
	if (err)
		return err;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return diag__fail(d, "%s: %s%s%s: expected a non-negative integer", r->file, at,
				  *at ? "." : "", name);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

/* A count that is null where it was not measured: read as 0 (the report's
 * `unmeasured` flag, set from its faults, says so). */
int get_count_or_null(struct diag *d, const struct report *r, json_t *obj, const char *at,
		      const char *name, uint64_t *out)
{
	json_t *v = json_object_get(obj, name);
	if (v && json_is_null(v)) {
		*out = 0;
		return 0;
	}
	return get_count(d, r, obj, at, name, out);
}

int get_int(struct diag *d, const struct report *r, json_t *obj, const char *at,
	    const char *name, int64_t *out)
{
	json_t *v;
	int err = field(d, r, obj, at, name, &v);
	if (err)
		return err;
	if (!json_is_integer(v))
		return diag__fail(d, "%s: %s%s%s: expected an integer", r->file, at,
				  *at ? "." : "", name);
	*out = json_integer_value(v);
	return 0;
}

/* *out is NULL when the field is JSON null. */
int get_string_or_null(struct diag *d, const struct report *r, json_t *obj, const char *at,
		       const char *name, const char **out)
{
	json_t *v;
	int err = field(d, r, obj, at, name, &v);
	if (err)
		return err;
	if (!json_is_string(v) && !json_is_null(v))
		return diag__fail(d, "%s: %s%s%s: expected a string or null", r->file, at,
				  *at ? "." : "", name);
	*out = json_is_string(v) ? json_string_value(v) : NULL;
	return 0;
}

int get_typed(struct diag *d, const struct report *r, json_t *obj, const char *at,
	      const char *name, json_type type, int null_ok, json_t **out)
{
	static const char *const what[] = {
		[JSON_OBJECT] = "an object", [JSON_ARRAY] = "an array",
		[JSON_STRING] = "a string",
	};
	int err = field(d, r, obj, at, name, out);
	if (err)
		return err;
	if (null_ok && json_is_null(*out)) {
		*out = NULL;
		return 0;
	}
	if (json_typeof(*out) != type)
		return diag__fail(d, "%s: %s%s%s: expected %s%s", r->file, at, *at ? "." : "",
				  name, what[type], null_ok ? " or null" : "");
	return 0;
}

/* The classes and total of a `faults` object into m. */
int get_faults(struct diag *d, struct report *r, json_t *obj, const char *at,
	       struct metrics *m)
{
	char sub[256];
	json_t *f;
	int err = get_typed(d, r, obj, at, "faults", JSON_OBJECT, 1, &f);
	if (err)
		return err;
	if (!f) {
		/* not measured (no kernel collector): no figures to compare */
		r->unmeasured = 1;
		return 0;
	}
	snprintf(sub, sizeof(sub), "%s.faults", at);
	for (int i = 0; i < FC_N; i++) {
		if (fclass__added_later(i) && !json_object_get(f, fclass_name[i]))
			continue;
		err = get_count(d, r, f, sub, fclass_name[i], &m->v[i]);
		if (err)
			return err;
	}
	return get_count(d, r, f, sub, "total", &m->v[M_TOTAL_FAULTS]);
}

/* An optional field: absent is *out = NULL; present, a string or null. */
int get_opt_string(struct diag *d, const struct report *r, json_t *obj, const char *at,
		   const char *name, const char **out)
{
	*out = NULL;
	if (!json_object_get(obj, name))
		return 0;
	return get_string_or_null(d, r, obj, at, name, out);
}

/* instances: absent is 1 (schema_version 2: one entry for N folded mappings). */
int get_instances(struct diag *d, const struct report *r, json_t *vma, const char *at,
		  uint64_t *out)
{
	*out = 1;
	if (!json_object_get(vma, "instances"))
		return 0;
	int err = get_count(d, r, vma, at, "instances", out);
	if (!err && !*out)
		err = diag__fail(d, "%s: %s.instances: must be at least 1", r->file, at);
	return err;
}

/* ---- loading ------------------------------------------------------------ */

/* The required names of docs/report.md. The diff reads and type-checks only some of them,
 * but a report without the others is not schema_version 1: refuse it rather
 * than compare half a report (tests/validate_report.py checks all types). */
static const char *const top_names[] = {
	"schema_version", "tool", "command", "page_size", "collectors", "processes", "forks",
	NULL,
};
static const char *const proc_names[] = {
	"pid", "ppid", "exe", "argv", "start_ns", "end_ns", "exit_code", "exit_signal",
	"forked_from", "execs", "calls", "faults", "pages_allocated", "kernel_counters", "vmas",
	NULL,
};
static const char *const vma_names[] = {
	"id", "start", "end", "prot", "shared", "anonymous", "path", "offset", "kind", "origin",
	"created_ns", "destroyed_ns", "inherited_from", "stack", "faults", "pages_allocated",
	"top_fault_sites", NULL,
};

static int require(struct diag *d, const struct report *r, json_t *obj, const char *at,
		   const char *const *names)
{
	for (; *names; names++)
		if (!json_object_get(obj, *names))
			return diag__fail(d, "%s: %s%s%s: missing", r->file, at, *at ? "." : "",
					  *names);
	return 0;
}


int require_vma(struct diag *d, const struct report *r, json_t *vma, const char *at)
{
	return require(d, r, vma, at, vma_names);
}

/* The whole file in memory: jansson parses a buffer several times faster
 * than a FILE (getc per character). */
static int slurp(const char *file, char **buf, size_t *len, struct diag *d)
{
	struct stat st;
	size_t cap = 1 << 16, n = 0;
	int err = 0;
	char *b = NULL;
	FILE *f = fopen(file, "r");
	if (!f)
		return diag__fail(d, "%s: cannot read: %s", file, strerror(errno));
	if (fstat(fileno(f), &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			err = diag__fail(d, "%s: cannot read: %s", file, strerror(EISDIR));
			goto cleanup;
		}
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < SIZE_MAX - 1)
			cap = (size_t)st.st_size + 1;
	}
	b = malloc(cap);
	if (!b) {
		err = diag__fail(d, "%s: out of memory", file);
		goto cleanup;
	}
	for (;;) {
		if (n == cap) {
			char *nb = cap < SIZE_MAX / 2 ? realloc(b, cap * 2) : NULL;
			if (!nb) {
				err = diag__fail(d, "%s: out of memory", file);
				goto cleanup;
			}
			b = nb;
			cap *= 2;
		}
		size_t got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				err = diag__fail(d, "%s: cannot read: %s", file, strerror(errno));
			break;
		}
	}
cleanup:
	fclose(f);
	if (err) {
		free(b);
		return err;
	}
	*buf = b;
	*len = n;
	return 0;
}

/* ---- reading big reports a VMA at a time ----
 *
 * A report's VMA entries are nearly all of it (200k mappings: ~190 MB), and
 * a jansson tree of the whole document costs ten times its size. So the
 * document is parsed without the contents of processes[].vmas (the text is
 * copied with each such array emptied, and where it stood is noted), and
 * each VMA object is parsed on its own, used and freed. A document that
 * does not scan as JSON is parsed whole, for jansson's exact error. */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The end of the JSON value at p (a string, container, number or literal),
 * or NULL when it is not well formed enough to delimit. */
static const char *skip_value(const char *p, const char *end)
{
	if (p >= end)
		return NULL;
	if (*p == '"') {
		for (p++; p < end; p++) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				return p + 1;
		}
		return NULL;
	}
	if (*p == '{' || *p == '[') {
		int depth = 0;
		for (; p < end; p++) {
			if (*p == '"') {
				const char *q = skip_value(p, end);
				if (!q)
					return NULL;
				p = q - 1;
			} else if (*p == '{' || *p == '[') {
				depth++;
			} else if (*p == '}' || *p == ']') {
				if (--depth == 0)
					return p + 1;
			}
		}
		return NULL;
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
	       *p != '\t' && *p != '\r')
		p++;
	return p;
}

/* Append [p, q) to the skeleton. */
static int skel_add(char **s, size_t *n, size_t *cap, const char *p, size_t len)
{
	if (*n + len + 1 > *cap) {
		size_t c = *cap ? *cap : 4096;
		while (c < *n + len + 1)
			c *= 2;
		char *x = realloc(*s, c);
		if (!x)
			return -1;
		*s = x;
		*cap = c;
	}
	memcpy(*s + *n, p, len);
	*n += len;
	return 0;
}

/* The members of the object at p: for each, f(key, value span). */
static int scan_object(const char *p, const char *end, const char **after,
		       int (*f)(void *, const char *, size_t, const char *, const char *),
		       void *arg)
{
	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return -1;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}') {
		*after = p + 1;
		return 0;
	}
	for (;;) {
		const char *k = p, *ke = skip_value(p, end);
		if (!ke || *k != '"')
			return -1;
		p = skip_ws(ke, end);
		if (p >= end || *p != ':')
			return -1;
		const char *v = skip_ws(p + 1, end), *ve = skip_value(v, end);
		if (!ve || f(arg, k + 1, (size_t)(ke - k - 2), v, ve))
			return -1;
		p = skip_ws(ve, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == '}') {
			*after = p + 1;
			return 0;
		}
		return -1;
	}
}

struct skel {
	const char *base;
	char *out;
	size_t n, cap;
	const char *copied; /* text up to here is in out */
	struct span_text *vt;
	size_t nvt, capvt;
};

/* Note where a process's vmas array stands (len 0: it has none). */
static int skel_note(struct skel *s, size_t off, size_t len)
{
	struct span_text *x = grow(s->vt, s->nvt, &s->capvt, sizeof(*x), 64);
	if (!x)
		return -1;
	s->vt = x;
	s->vt[s->nvt++] = (struct span_text){ off, len };
	return 0;
}

static int skel_proc_member(void *arg, const char *k, size_t kl, const char *v, const char *ve)
{
	struct skel *s = arg;
	if (kl != 4 || memcmp(k, "vmas", 4) || *v != '[')
		return 0;
	/* copy up to the array, write it empty, remember where it was */
	if (skel_add(&s->out, &s->n, &s->cap, s->copied, (size_t)(v - s->copied)) ||
	    skel_add(&s->out, &s->n, &s->cap, "[]", 2))
		return -1;
	s->copied = ve;
	return skel_note(s, (size_t)(v - s->base), (size_t)(ve - v));
}

static int skel_top_member(void *arg, const char *k, size_t kl, const char *v, const char *ve)
{
	struct skel *s = arg;
	if (kl != 9 || memcmp(k, "processes", 9) || *v != '[')
		return 0;
	const char *p = skip_ws(v + 1, ve), *after;
	while (p < ve - 1) {
		size_t before = s->nvt;
		if (*p != '{' || scan_object(p, ve, &after, skel_proc_member, s))
			return -1;
		/* no vmas array here: keep the indexes aligned */
		if (s->nvt == before && skel_note(s, 0, 0))
			return -1;
		p = skip_ws(after, ve);
		if (p < ve && *p == ',')
			p = skip_ws(p + 1, ve);
	}
	return 0;
}

/* The document without its VMA lists (see above); -1 if it does not scan. */
static int skeletonize(struct report *r, const char *buf, size_t len, char **out, size_t *out_len)
{
	struct skel s = { .base = buf, .copied = buf };
	const char *after;
	if (scan_object(buf, buf + len, &after, skel_top_member, &s) ||
	    skel_add(&s.out, &s.n, &s.cap, s.copied, (size_t)(buf + len - s.copied))) {
		free(s.out);
		free(s.vt);
		return -1;
	}
	*out = s.out;
	*out_len = s.n;
	r->vmas_text = s.vt;
	r->n_vmas_text = s.nvt;
	return 0;
}

/* The i-th element of process pi's vmas, parsed: iterate with *pos
 * starting at 0; NULL at the end. (When the list came with the document,
 * its array element.) */
static json_t *vma_raw(struct report *r, size_t pi, json_t *arr, size_t *pos, size_t i,
		       const char **bad)
{
	*bad = NULL;
	if (!r->vmas_text || pi >= r->n_vmas_text || !r->vmas_text[pi].len)
		return i < json_array_size(arr) ? json_incref(json_array_get(arr, i)) : NULL;
	const char *base = r->text + r->vmas_text[pi].off, *end = base + r->vmas_text[pi].len - 1;
	const char *p = skip_ws(base + (*pos ? *pos : 1), end);
	if (p < end && *p == ',')
		p = skip_ws(p + 1, end);
	if (p >= end)
		return NULL;
	const char *q = skip_value(p, end);
	if (!q) {
		*bad = "not JSON";
		return NULL;
	}
	*pos = (size_t)(q - base);
	json_error_t jerr;
	json_t *v = json_loadb(p, (size_t)(q - p), JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		*bad = "not JSON";
	return v;
}

/* ---- schema_version 3 ----------------------------------------------------
 *
 * Rows name their values in the document's vma_columns, site_columns and
 * idle_columns; entries refer to frames[], stacks[], paths[] and (through
 * their site) site_keys[] by index (docs/report.md). Each row becomes the
 * version-2 object match.c reads; each idle[] row (entries summarised by
 * site, kind and path) becomes up to four objects whose counts, bytes
 * mapped and bytes live at exit add up to the row's exactly. */

enum { VC_ID, VC_START, VC_END, VC_PROT, VC_SHARED, VC_ANON, VC_PATH, VC_OFFSET, VC_KIND,
       VC_ORIGIN, VC_CREATED, VC_DESTROYED, VC_INHERITED, VC_INSTANCES, VC_INTERNAL, VC_SITE,
       VC_STACK, VC_FAULTS, VC_PAGES, VC_N };
static const char *const vcol_name[VC_N] = {
	"id", "start", "end", "prot", "shared", "anonymous", "path", "offset", "kind",
	"origin", "created_ns", "destroyed_ns", "inherited_from", "instances", "internal", "site",
	"stack", "faults", "pages_allocated",
};
enum { IC_SITE, IC_KIND, IC_PATH, IC_INTERNAL, IC_MAPPINGS, IC_BYTES, IC_LIVE, IC_LIVE_BYTES,
       IC_N };
static const char *const icol_name[IC_N] = {
	"site", "kind", "path", "internal", "mappings", "bytes_mapped", "live", "live_bytes",
};
enum { SC_SITE_KEY, SC_N };
static const char *const scol_name[SC_N] = { "site_key" };

struct v3 {
	json_t *frames, *stacks, *paths, *site_keys, *classes; /* borrowed from root */
	int vcol[VC_N], icol[IC_N], scol[SC_N];
	size_t *nrows; /* per process: rows in vmas + 1, 0 not counted yet */
};

/* Where each name stands in the document's list `list`. */
static int v3__columns(struct diag *d, struct report *r, const char *list,
		       const char *const *names, int *pos, int n)
{
	json_t *cols;
	int err = get_typed(d, r, r->root, "", list, JSON_ARRAY, 0, &cols);
	if (err)
		return err;
	for (int k = 0; k < n; k++) {
		pos[k] = -1;
		for (size_t i = 0; i < json_array_size(cols); i++)
			if (json_is_string(json_array_get(cols, i)) &&
			    !strcmp(json_string_value(json_array_get(cols, i)), names[k]))
				pos[k] = (int)i;
		if (pos[k] < 0)
			return diag__fail(d, "%s: %s: no column \"%s\"", r->file, list, names[k]);
	}
	return 0;
}

static int v3__load(struct report *r, struct diag *d)
{
	struct v3 *t = calloc(1, sizeof(*t));
	int err;
	if (!t)
		return diag__fail(d, "out of memory");
	r->v3 = t;
	if ((err = get_typed(d, r, r->root, "", "frames", JSON_ARRAY, 0, &t->frames)) ||
	    (err = get_typed(d, r, r->root, "", "stacks", JSON_ARRAY, 0, &t->stacks)) ||
	    (err = get_typed(d, r, r->root, "", "paths", JSON_ARRAY, 0, &t->paths)) ||
	    (err = get_typed(d, r, r->root, "", "site_keys", JSON_ARRAY, 0, &t->site_keys)) ||
	    (err = get_typed(d, r, r->root, "", "fault_classes", JSON_ARRAY, 0, &t->classes)) ||
	    (err = v3__columns(d, r, "vma_columns", vcol_name, t->vcol, VC_N)) ||
	    (err = v3__columns(d, r, "idle_columns", icol_name, t->icol, IC_N)) ||
	    (err = v3__columns(d, r, "site_columns", scol_name, t->scol, SC_N)))
		return err;
	if (json_array_size(t->classes) != FC_N)
		return diag__fail(d, "%s: fault_classes: expected %d names", r->file, FC_N);
	for (size_t i = 0; i < FC_N; i++)
		if (!json_is_string(json_array_get(t->classes, i)))
			return diag__fail(d, "%s: fault_classes[%zu]: expected a string", r->file, i);
	/* a frame's ip is this process's address: version 3 gives it only
	 * where there is no module_offset, and site keys use it only there */
	size_t i;
	json_t *fr;
	json_array_foreach(t->frames, i, fr) {
		if (!json_is_object(fr))
			return diag__fail(d, "%s: frames[%zu]: expected an object", r->file, i);
		if (!json_object_get(fr, "ip") && json_object_set_new(fr, "ip", json_integer(0)))
			return diag__fail(d, "out of memory");
	}
	return 0;
}

/* Element k of a table, or NULL when k is not an index into it. */
static json_t *v3__at(json_t *table, json_t *k)
{
	if (!json_is_integer(k) || json_integer_value(k) < 0)
		return NULL;
	return json_array_get(table, (size_t)json_integer_value(k));
}

/* The site_keys[] object of site s of process j. */
static json_t *v3__site_key(const struct report *r, json_t *j, json_t *s)
{
	json_t *row = v3__at(json_object_get(j, "sites"), s);
	if (!json_is_array(row))
		return NULL;
	return v3__at(r->v3->site_keys, json_array_get(row, (size_t)r->v3->scol[SC_SITE_KEY]));
}

/* The frames of stack k, as version 2 wrote them; NULL if k is not one. */
static json_t *v3__stack(const struct report *r, json_t *k)
{
	json_t *ids = v3__at(r->v3->stacks, k), *out;
	if (!json_is_array(ids) || !(out = json_array()))
		return NULL;
	size_t i;
	json_t *f;
	json_array_foreach(ids, i, f) {
		json_t *fr = v3__at(r->v3->frames, f);
		if (!fr || json_array_append(out, fr)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* A path column: an index into paths[], or null. 0, or -1 when neither. */
static int v3__path(const struct report *r, json_t *k, json_t **out)
{
	if (json_is_null(k)) {
		*out = json_null();
		return 0;
	}
	json_t *p = v3__at(r->v3->paths, k);
	if (!json_is_string(p))
		return -1;
	*out = json_incref(p);
	return 0;
}

/* The label of site `site` of process j into o (and the site itself);
 * with_stack: its stack too. NULL, or what is wrong. */
static const char *v3__site_fields(const struct report *r, json_t *j, json_t *site, json_t *o,
				   int with_stack)
{
	json_t *sk = v3__site_key(r, j, site);
	if (!json_is_object(sk))
		return "site is not an index into the process's sites (and site_keys)";
	if (with_stack) {
		json_t *st = v3__stack(r, json_object_get(sk, "stack"));
		if (!st)
			return "its site's stack is not an index into stacks (of frames)";
		json_object_set_new(o, "stack", st);
	}
	json_t *label = json_object_get(sk, "label");
	json_object_set_new(o, "label", json_is_string(label) ? json_incref(label) : json_null());
	json_object_set(o, "site", site);
	return NULL;
}

/* A faults column (an array in fault_classes' order, or null) as the object
 * version 2 wrote; NULL when it is neither. */
static json_t *v3__faults(const struct report *r, json_t *v)
{
	if (json_is_null(v))
		return json_null();
	if (!json_is_array(v) || json_array_size(v) != FC_N)
		return NULL;
	json_t *f = json_object();
	uint64_t total = 0;
	for (size_t c = 0; f && c < FC_N; c++) {
		json_t *n = json_array_get(v, c);
		if (!json_is_integer(n) || json_integer_value(n) < 0) {
			json_decref(f);
			return NULL;
		}
		total = sat_add(total, (uint64_t)json_integer_value(n));
		json_object_set(f, json_string_value(json_array_get(r->v3->classes, c)), n);
	}
	if (f)
		json_object_set_new(f, "total", json_integer((json_int_t)total));
	return f;
}

/* Row `row` of vmas[] as the object version 2 wrote. */
static json_t *v3__vma(struct report *r, json_t *j, json_t *row, const char **bad)
{
	const struct v3 *t = r->v3;
	json_t *o = json_object(), *v, *x;
	const char *why = NULL;
	if (!o) {
		*bad = "out of memory";
		return NULL;
	}
	if (!json_is_array(row)) {
		*bad = "expected a row (an array, see vma_columns)";
		json_decref(o);
		return NULL;
	}
	for (int k = 0; k < VC_N && !why; k++) {
		v = json_array_get(row, (size_t)t->vcol[k]);
		if (!v) {
			why = "row shorter than vma_columns";
			break;
		}
		switch (k) {
		case VC_PATH:
			if (v3__path(r, v, &x))
				why = "path is not an index into paths";
			else
				json_object_set_new(o, "path", x);
			break;
		case VC_INHERITED:
			if (json_is_array(v) && json_array_size(v) == 2)
				x = json_pack("{s:O, s:O}", "pid", json_array_get(v, 0), "vma",
					      json_array_get(v, 1));
			else
				x = json_incref(v);
			json_object_set_new(o, "inherited_from", x);
			break;
		case VC_STACK:
			if (!(x = v3__stack(r, v)))
				why = "stack is not an index into stacks (of frames)";
			else
				json_object_set_new(o, "stack", x);
			break;
		case VC_FAULTS:
			if (!(x = v3__faults(r, v)))
				why = "faults: expected an array of counts (fault_classes) or null";
			else
				json_object_set_new(o, "faults", x);
			break;
		case VC_SITE:
			why = v3__site_fields(r, j, v, o, 0);
			break;
		default:
			json_object_set(o, vcol_name[k], v);
		}
	}
	if (why) {
		*bad = why;
		json_decref(o);
		return NULL;
	}
	/* the diff does not read fault sites */
	json_object_set_new(o, "top_fault_sites", json_array());
	return o;
}

/* The counts of idle row `row` into f; how many version-2 objects it
 * stands for (see above), -1 when it is not a row. */
static int v3__idle_parts(const struct v3 *t, json_t *row, uint64_t f[IC_N])
{
	if (!json_is_array(row))
		return -1;
	for (int k = IC_MAPPINGS; k < IC_N; k++) {
		json_t *v = json_array_get(row, (size_t)t->icol[k]);
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return -1;
		f[k] = (uint64_t)json_integer_value(v);
	}
	if (f[IC_LIVE] > f[IC_MAPPINGS] || f[IC_LIVE_BYTES] > f[IC_BYTES])
		return -1;
	return (f[IC_LIVE] > 0) + (f[IC_LIVE] > 1) + (f[IC_MAPPINGS] > f[IC_LIVE]) +
	       (f[IC_MAPPINGS] > f[IC_LIVE] + 1);
}

/* Part `part` of idle row `row` (counts f) as a version-2 object: the live
 * bytes; the other live mappings; the other bytes; the other mappings. */
static json_t *v3__idle_part(struct report *r, json_t *j, json_t *row, const uint64_t f[IC_N],
			     int part, const char **bad)
{
	const struct v3 *t = r->v3;
	uint64_t size[4] = { f[IC_LIVE_BYTES], 0, f[IC_BYTES] - f[IC_LIVE_BYTES], 0 };
	uint64_t inst[4] = { 1, f[IC_LIVE] - 1, 1, f[IC_MAPPINGS] - f[IC_LIVE] - 1 };
	json_t *kind = json_array_get(row, (size_t)t->icol[IC_KIND]);
	json_t *internal = json_array_get(row, (size_t)t->icol[IC_INTERNAL]);
	json_t *o, *path, *fz = json_object();
	const char *why = NULL;
	if (!json_is_string(kind) || !json_is_boolean(internal)) {
		*bad = "an idle row is not one (see idle_columns)";
		json_decref(fz);
		return NULL;
	}
	/* idle: no fault and no page (null would read as not measured) */
	for (size_t c = 0; fz && c < FC_N; c++)
		json_object_set_new(fz, json_string_value(json_array_get(t->classes, c)),
				    json_integer(0));
	json_object_set_new(fz, "total", json_integer(0));
	o = json_pack("{s:i, s:I, s:I, s:s, s:b, s:b, s:n, s:O, s:s, s:I, s:o, s:n, s:I, s:O, "
		      "s:o, s:I, s:[]}",
		      "id", 0, "start", (json_int_t)0, "end", (json_int_t)size[part], "prot", "---",
		      "shared", 0, "anonymous", 0, "offset", "kind", kind, "origin", "idle",
		      "created_ns", (json_int_t)0, "destroyed_ns",
		      part < 2 ? json_null() : json_integer(0), "inherited_from", "instances",
		      (json_int_t)inst[part], "internal", internal, "faults", fz,
		      "pages_allocated", (json_int_t)0, "top_fault_sites");
	if (!o)
		why = "out of memory";
	else if (v3__path(r, json_array_get(row, (size_t)t->icol[IC_PATH]), &path))
		why = "an idle row's path is not an index into paths";
	else if (json_object_set_new(o, "path", path))
		why = "out of memory";
	else
		why = v3__site_fields(r, j, json_array_get(row, (size_t)t->icol[IC_SITE]), o, 1);
	if (why) {
		json_decref(o);
		*bad = why;
		return NULL;
	}
	return o;
}

/* The k-th object the idle rows of process j stand for; NULL past them. */
static json_t *v3__idle(struct report *r, json_t *j, size_t k, const char **bad)
{
	json_t *rows = json_object_get(j, "idle"), *row;
	uint64_t f[IC_N];
	size_t i;
	json_array_foreach(rows, i, row) {
		int n = v3__idle_parts(r->v3, row, f);
		if (n < 0) {
			*bad = "an idle row is not one (see idle_columns)";
			return NULL;
		}
		if (k >= (size_t)n) {
			k -= (size_t)n;
			continue;
		}
		int have[4] = { f[IC_LIVE] > 0, f[IC_LIVE] > 1, f[IC_MAPPINGS] > f[IC_LIVE],
				f[IC_MAPPINGS] > f[IC_LIVE] + 1 };
		int part = 0;
		while (!have[part] || k--)
			part++;
		return v3__idle_part(r, j, row, f, part, bad);
	}
	return NULL;
}

/* Rows in process pi's vmas (counted once); SIZE_MAX when they do not scan. */
static size_t v3__nrows(struct report *r, size_t pi, json_t *arr)
{
	struct v3 *t = r->v3;
	if (!t->nrows && !(t->nrows = calloc(r->n_procs + 1, sizeof(*t->nrows))))
		return SIZE_MAX;
	if (pi < r->n_procs && t->nrows[pi])
		return t->nrows[pi] - 1;
	size_t n = json_array_size(arr);
	if (r->vmas_text && pi < r->n_vmas_text && r->vmas_text[pi].len) {
		const char *p = r->text + r->vmas_text[pi].off,
			   *end = p + r->vmas_text[pi].len - 1;
		n = 0;
		for (p = skip_ws(p + 1, end); p < end; n++) {
			if (!(p = skip_value(p, end)))
				return SIZE_MAX;
			p = skip_ws(p, end);
			if (p < end && *p == ',')
				p = skip_ws(p + 1, end);
		}
	}
	if (pi < r->n_procs)
		t->nrows[pi] = n + 1;
	return n;
}

/* The i-th VMA object of process pi's list, parsed: iterate with *pos
 * starting at 0; NULL at the end. A version 3 report's rows, then what its
 * idle rows stand for, as version 2 objects. */
json_t *vma_next(struct report *r, size_t pi, json_t *arr, size_t *pos, size_t i,
		 const char **bad)
{
	if (!r->v3)
		return vma_raw(r, pi, arr, pos, i, bad);
	json_t *j = pi < r->n_procs ? r->procs[pi].j : NULL;
	size_t n = v3__nrows(r, pi, arr);
	*bad = NULL;
	if (n == SIZE_MAX) {
		*bad = "not JSON";
		return NULL;
	}
	if (i >= n)
		return v3__idle(r, j, i - n, bad);
	json_t *row = vma_raw(r, pi, arr, pos, i, bad);
	if (!row)
		return NULL;
	json_t *o = v3__vma(r, j, row, bad);
	json_decref(row);
	return o;
}


/* ---- the document and its processes ------------------------------------ */

/* The document, parsed without the contents of its VMA lists when it scans
 * (see above), else whole. */
static int report__parse(struct report *r, const char *file, struct diag *d)
{
	json_error_t jerr;
	char *buf = NULL;
	size_t len = 0;
	int err = slurp(file, &buf, &len, d);
	if (err)
		return err;
	/* Duplicate names would make "the" value of a field ambiguous. */
	char *skel = NULL;
	size_t skel_len = 0;
	if (skeletonize(r, buf, len, &skel, &skel_len) == 0) {
		r->root = json_loadb(skel, skel_len, JSON_REJECT_DUPLICATES, &jerr);
		free(skel);
		r->text = buf;
	} else {
		r->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
		free(buf);
	}
	r->file = file;
	if (!r->root)
		return diag__fail(d, "%s: not a JSON document: %s (line %d, column %d)", file,
				  jerr.text, jerr.line, jerr.column);
	return 0;
}

static int v3__load(struct report *r, struct diag *d);

/* A report this diff reads: an object of schema_version 1, 2 or 3 with every
 * required top-level name and a page size. */
static int report__check_top(struct report *r, struct diag *d)
{
	const char *file = r->file;
	json_t *v;
	int err;
	if (!json_is_object(r->root))
		return diag__fail(d, "%s: not a report: the document is not a JSON object", file);
	v = json_object_get(r->root, "schema_version");
	if (!v)
		return diag__fail(d, "%s: not a vmaprof report: schema_version missing", file);
	if (!json_is_integer(v))
		return diag__fail(d, "%s: schema_version: expected an integer", file);
	if (json_integer_value(v) < 1 || json_integer_value(v) > 3)
		return diag__fail(d, "%s: schema_version %" JSON_INTEGER_FORMAT " is not supported "
				  "(this vmaprof reads 1, 2 and 3)", file, json_integer_value(v));
	err = require(d, r, r->root, "", top_names);
	if (!err)
		err = get_count(d, r, r->root, "", "page_size", &r->page_size);
	if (err)
		return err;
	if (!r->page_size)
		return diag__fail(d, "%s: page_size: must be positive", file);
	if (json_integer_value(v) == 3)
		return v3__load(r, d);
	return 0;
}

/* The fields roles are built from: forked_from's pid and time (host_pid in
 * PID namespaces), and each exec's time and path. */
static int proc__load(struct report *r, size_t i, json_t *j, struct diag *d)
{
	struct dproc *p = &r->procs[i];
	char at[64];
	json_t *ff, *execs;
	int err;
	snprintf(at, sizeof(at), "processes[%zu]", i);
	p->j = j;
	p->parent = -1;
	if (!json_is_object(p->j))
		return diag__fail(d, "%s: %s: expected an object", r->file, at);
	if ((err = require(d, r, p->j, at, proc_names)) ||
	    (err = get_int(d, r, p->j, at, "pid", &p->pid)) ||
	    (err = get_count(d, r, p->j, at, "start_ns", &p->start_ns)) ||
	    (err = get_typed(d, r, p->j, at, "forked_from", JSON_OBJECT, 1, &ff)) ||
	    (err = get_typed(d, r, p->j, at, "execs", JSON_ARRAY, 0, &execs)))
		return err;
	if (ff) {
		char sub[96];
		snprintf(sub, sizeof(sub), "%s.forked_from", at);
		p->has_ff = 1;
		if ((err = get_int(d, r, ff, sub, "pid", &p->ff_pid)) ||
		    (err = get_count(d, r, ff, sub, "time_ns", &p->ff_time)))
			return err;
		json_t *fh = json_object_get(ff, "host_pid");
		if (json_is_integer(fh))
			p->ff_pid = json_integer_value(fh);
	}
	/* in PID namespaces two processes may share a pid (two containers'
	 * pid 3): the tree is linked by host_pid there (docs/report.md) */
	json_t *hp = json_object_get(p->j, "host_pid");
	if (json_is_integer(hp))
		p->pid = json_integer_value(hp);
	for (size_t k = 0; k < json_array_size(execs); k++) {
		char sub[96];
		json_t *e = json_array_get(execs, k), *path;
		uint64_t t;
		snprintf(sub, sizeof(sub), "%s.execs[%zu]", at, k);
		if (!json_is_object(e))
			return diag__fail(d, "%s: %s: expected an object", r->file, sub);
		if ((err = get_count(d, r, e, sub, "time_ns", &t)) ||
		    (err = get_typed(d, r, e, sub, "path", JSON_STRING, 0, &path)))
			return err;
	}
	return 0;
}

int report__load(struct report *r, const char *file, struct diag *d)
{
	json_t *procs;
	int err = report__parse(r, file, d);
	if (!err)
		err = report__check_top(r, d);
	if (!err)
		err = get_typed(d, r, r->root, "", "processes", JSON_ARRAY, 0, &procs);
	if (err)
		return err;
	r->n_procs = json_array_size(procs);
	r->procs = calloc(r->n_procs ? r->n_procs : 1, sizeof(*r->procs));
	if (!r->procs)
		return diag__fail(d, "out of memory");
	for (size_t i = 0; i < r->n_procs; i++)
		if ((err = proc__load(r, i, json_array_get(procs, i), d)))
			return err;
	return 0;
}

void report__free(struct report *r)
{
	for (size_t i = 0; i < r->n_entries; i++) {
		free(r->entries[i].key);
		free(r->entries[i].label);
		free(r->entries[i].kind);
	}
	free(r->entries);
	report__writes_free(r);
	for (size_t i = 0; r->procs && i < r->n_procs; i++) {
		free(r->procs[i].up);
		free(r->procs[i].lup);
		free(r->procs[i].role);
		free(r->procs[i].loose);
	}
	free(r->procs);
	json_decref(r->root);
	free(r->text);
	free(r->vmas_text);
	if (r->v3) {
		free(r->v3->nrows);
		free(r->v3);
	}
}
