/* SPDX-License-Identifier: MIT */
/*
 * vmaprof diff: two report.json files -> the metrics that changed, per
 * process role and per VMA call site, and the verdict of --max-increase.
 *
 * Addresses and pids differ from run to run (ASLR, pid allocation), so
 * nothing here is keyed by them:
 *  - role: `root` (several roots: `root[2]`, ... by start time); a child is
 *    `<parent's role at fork time>/fork[n]`, n counting the parent's children
 *    by fork time from 1; every exec appends `:exec(<basename of path>)`.
 *    A child whose parent is not in the report is `orphan[n]`.
 *  - VMA site: `<kind>[:<path>][@<frame><frame>...]`, innermost frame first,
 *    joined by '<'. A frame is its function name; unsymbolized, it is
 *    `<module basename>+0x<file offset>` (the offset found through the
 *    process's own mapping of that module, so it survives ASLR), else
 *    `<module basename>@0x<ip>`, else `0x<ip>`. VMAs the report marks
 *    `internal` (the tracer's own; not a documented report field) are one site,
 *    `vmaprof-internal`.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "diff.h"
#include "fclass.h"

/* Metrics: the fault classes (enum fclass, the keys of a report's `faults`
 * objects), then the figures below. */
enum metric {
	M_TOTAL_FAULTS = FC_N,
	M_PAGES_ALLOCATED,
	M_VMA_COUNT,
	M_MAPPED_BYTES,
	M_NR,
};

static const char *const other_metric_names[M_NR - FC_N] = {
	"total_faults", "pages_allocated", "vma_count", "mapped_bytes",
};

static const char *metric_name(int m)
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

struct metrics {
	uint64_t v[M_NR];
	/* Bytes of every VMA, destroyed or not: how big the mappings behind
	 * vma_count are, for the --min-pages noise filter. */
	uint64_t span_bytes;
};

/* One scope of one report: a process role (key NULL) or a call site in it. */
struct entry {
	const char *role; /* owned by the report's proc */
	char *key;
	struct metrics m;
};

struct dproc {
	json_t *j;
	int64_t pid;
	uint64_t start_ns;
	int has_ff; /* forked_from is not null */
	int64_t ff_pid;
	uint64_t ff_time;
	long parent; /* index in report.procs, -1 if none */
	unsigned long number; /* fork[n], root[n] or orphan[n] */
	int state; /* role construction: 0 todo, 1 busy (cycle check), 2 done */
	char *base; /* role without this process's own execs */
	char *role;
};

/* Where processes[i].vmas stands in the document text. */
struct span_text {
	size_t off, len;
};

struct report {
	const char *file;
	json_t *root;      /* the document without the vmas arrays' contents */
	char *text;        /* the whole document, while the entries are built */
	struct span_text *vmas_text; /* per process, in order; NULL: in root */
	size_t n_vmas_text;
	uint64_t page_size;
	struct dproc *procs;
	size_t n_procs;
	struct entry *entries;
	size_t n_entries, cap_entries;
	struct metrics total;
	int unmeasured; /* faults were null: recorded without the kernel collector */
};

struct bound {
	enum metric metric;
	double pct;
};

struct row {
	char *scope;
	enum metric metric;
	size_t bound; /* for exceeded rows: index in diff_opts.bounds */
	uint64_t old, new;
};

struct rows {
	struct row *v;
	size_t n, cap;
};

/* ---- small helpers ---------------------------------------------------- */

/* Every failure ends in one message; `why` is what diff__main prints. */
struct diag {
	char why[768];
};

static int diag__fail(struct diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->why, sizeof(d->why), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A growable string; on allocation failure `oom` sticks and the text stops. */
struct sbuf {
	char *s;
	size_t len, cap;
	int oom;
};

static void sbuf__add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		int n;
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 64;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) {
			b->oom = 1;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

/* The finished string (never NULL unless out of memory), owned by the caller. */
static char *sbuf__take(struct sbuf *b)
{
	if (b->oom) {
		free(b->s);
		return NULL;
	}
	if (!b->s)
		return strdup("");
	return b->s;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void metrics__add(struct metrics *to, const struct metrics *m)
{
	for (int i = 0; i < M_NR; i++)
		to->v[i] = sat_add(to->v[i], m->v[i]);
	to->span_bytes = sat_add(to->span_bytes, m->span_bytes);
}

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

/* ---- typed access to the report --------------------------------------- */
/* `at` names the object in messages, as a JSON path ("processes[2].vmas[0]"). */

static int field(struct diag *d, const struct report *r, json_t *obj, const char *at,
		 const char *name, json_t **out)
{
	*out = json_object_get(obj, name);
	if (!*out)
		return diag__fail(d, "%s: %s%s%s: missing", r->file, at, *at ? "." : "", name);
	return 0;
}

static int get_count(struct diag *d, const struct report *r, json_t *obj, const char *at,
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
static int get_count_or_null(struct diag *d, const struct report *r, json_t *obj,
			     const char *at, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(obj, name);
	if (v && json_is_null(v)) {
		*out = 0;
		return 0;
	}
	return get_count(d, r, obj, at, name, out);
}

static int get_int(struct diag *d, const struct report *r, json_t *obj, const char *at,
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
static int get_string_or_null(struct diag *d, const struct report *r, json_t *obj,
			      const char *at, const char *name, const char **out)
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

static int get_typed(struct diag *d, const struct report *r, json_t *obj, const char *at,
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
static int get_faults(struct diag *d, const struct report *r, json_t *obj, const char *at,
		      struct metrics *m)
{
	char sub[256];
	json_t *f;
	int err = get_typed(d, r, obj, at, "faults", JSON_OBJECT, 1, &f);
	if (err)
		return err;
	if (!f) {
		/* not measured (no kernel collector): no figures to compare */
		((struct report *)r)->unmeasured = 1;
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
	if (s->nvt == s->capvt) {
		size_t c = s->capvt ? s->capvt * 2 : 64;
		struct span_text *x = realloc(s->vt, c * sizeof(*x));
		if (!x)
			return -1;
		s->vt = x;
		s->capvt = c;
	}
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

/* The i-th VMA object of process pi's list, parsed: iterate with *pos
 * starting at 0; NULL at the end. (When the list came with the document,
 * its array element.) */
static json_t *vma_next(struct report *r, size_t pi, json_t *arr, size_t *pos, size_t i,
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

static int report__load(struct report *r, const char *file, struct diag *d)
{
	json_error_t jerr;
	json_t *procs, *v;
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
	if (!json_is_object(r->root))
		return diag__fail(d, "%s: not a report: the document is not a JSON object", file);
	v = json_object_get(r->root, "schema_version");
	if (!v)
		return diag__fail(d, "%s: not a vmaprof report: schema_version missing", file);
	if (!json_is_integer(v))
		return diag__fail(d, "%s: schema_version: expected an integer", file);
	if (json_integer_value(v) != 1)
		return diag__fail(d, "%s: schema_version %" JSON_INTEGER_FORMAT " is not supported "
				  "(this vmaprof reads 1)", file, json_integer_value(v));
	err = require(d, r, r->root, "", top_names);
	if (!err)
		err = get_count(d, r, r->root, "", "page_size", &r->page_size);
	if (err)
		return err;
	if (!r->page_size)
		return diag__fail(d, "%s: page_size: must be positive", file);
	err = get_typed(d, r, r->root, "", "processes", JSON_ARRAY, 0, &procs);
	if (err)
		return err;
	r->n_procs = json_array_size(procs);
	r->procs = calloc(r->n_procs ? r->n_procs : 1, sizeof(*r->procs));
	if (!r->procs)
		return diag__fail(d, "out of memory");

	for (size_t i = 0; i < r->n_procs; i++) {
		struct dproc *p = &r->procs[i];
		char at[64];
		json_t *ff, *execs;
		snprintf(at, sizeof(at), "processes[%zu]", i);
		p->j = json_array_get(procs, i);
		p->parent = -1;
		if (!json_is_object(p->j))
			return diag__fail(d, "%s: %s: expected an object", file, at);
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
		}
		for (size_t k = 0; k < json_array_size(execs); k++) {
			char sub[96];
			json_t *e = json_array_get(execs, k), *path;
			uint64_t t;
			snprintf(sub, sizeof(sub), "%s.execs[%zu]", at, k);
			if (!json_is_object(e))
				return diag__fail(d, "%s: %s: expected an object", file, sub);
			if ((err = get_count(d, r, e, sub, "time_ns", &t)) ||
			    (err = get_typed(d, r, e, sub, "path", JSON_STRING, 0, &path)))
				return err;
		}
	}
	return 0;
}

/* ---- roles -------------------------------------------------------------- */

static int by_pid_start(const void *a, const void *b, void *arg)
{
	const struct dproc *ps = arg, *x = &ps[*(const size_t *)a], *y = &ps[*(const size_t *)b];
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Siblings in fork order; pid and index only break exact ties. */
static int by_parent_fork(const void *a, const void *b, void *arg)
{
	const struct dproc *ps = arg, *x = &ps[*(const size_t *)a], *y = &ps[*(const size_t *)b];
	if (x->parent != y->parent)
		return x->parent < y->parent ? -1 : 1;
	if (x->has_ff != y->has_ff)
		return x->has_ff < y->has_ff ? -1 : 1;
	uint64_t tx = x->has_ff ? x->ff_time : x->start_ns;
	uint64_t ty = y->has_ff ? y->ff_time : y->start_ns;
	if (tx != ty)
		return tx < ty ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* The parent is the process with that pid that started last before the fork
 * (pids are reused); failing that, the first one with that pid. */
static long find_parent(const struct report *r, const size_t *order, size_t self)
{
	const struct dproc *c = &r->procs[self];
	size_t lo = 0, hi = r->n_procs;
	long best = -1, first = -1;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->procs[order[mid]].pid < c->ff_pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k < r->n_procs && r->procs[order[k]].pid == c->ff_pid; k++) {
		if (order[k] == self)
			continue;
		if (first < 0)
			first = (long)order[k];
		if (r->procs[order[k]].start_ns <= c->ff_time)
			best = (long)order[k];
	}
	return best >= 0 ? best : first;
}

/* Appends `:exec(name)` for each of p's execs before `until` (all if NULL). */
static void add_execs(struct sbuf *b, const struct dproc *p, const uint64_t *until)
{
	json_t *execs = json_object_get(p->j, "execs");
	for (size_t k = 0; k < json_array_size(execs); k++) {
		json_t *e = json_array_get(execs, k);
		uint64_t t = (uint64_t)json_integer_value(json_object_get(e, "time_ns"));
		if (until && t >= *until)
			continue;
		sbuf__add(b, ":exec(%s)", basename_of(json_string_value(json_object_get(e, "path"))));
	}
}

static int role__build(struct report *r, size_t i, struct diag *d)
{
	struct dproc *p = &r->procs[i];
	struct sbuf b = { 0 };
	if (p->state == 2)
		return 0;
	if (p->state == 1)
		return diag__fail(d, "%s: processes[%zu]: forked_from makes a cycle", r->file, i);
	p->state = 1;
	if (!p->has_ff) {
		sbuf__add(&b, p->number > 1 ? "root[%lu]" : "root", p->number);
	} else if (p->parent < 0) {
		sbuf__add(&b, "orphan[%lu]", p->number);
	} else {
		struct dproc *pp = &r->procs[p->parent];
		int err = role__build(r, (size_t)p->parent, d);
		if (err)
			return err;
		sbuf__add(&b, "%s", pp->base);
		add_execs(&b, pp, &p->ff_time);
		sbuf__add(&b, "/fork[%lu]", p->number);
	}
	p->base = sbuf__take(&b);
	if (!p->base)
		return diag__fail(d, "out of memory");
	b = (struct sbuf){ 0 };
	sbuf__add(&b, "%s", p->base);
	add_execs(&b, p, NULL);
	p->role = sbuf__take(&b);
	if (!p->role)
		return diag__fail(d, "out of memory");
	p->state = 2;
	return 0;
}

static int report__roles(struct report *r, struct diag *d)
{
	size_t n = r->n_procs, *order = calloc(n ? n : 1, sizeof(*order));
	int err = 0;
	if (!order)
		return diag__fail(d, "out of memory");
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (n > 1)
		qsort_r(order, n, sizeof(*order), by_pid_start, r->procs);
	for (size_t i = 0; i < n; i++)
		if (r->procs[i].has_ff)
			r->procs[i].parent = find_parent(r, order, i);
	/* Number each group in order: the children of one parent (fork[n]), the
	 * roots (parent -1, no forked_from) and the orphans (parent -1). */
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	if (n > 1)
		qsort_r(order, n, sizeof(*order), by_parent_fork, r->procs);
	for (size_t k = 0; k < n; k++) {
		struct dproc *p = &r->procs[order[k]], *prev = k ? &r->procs[order[k - 1]] : NULL;
		int same = prev && prev->parent == p->parent && prev->has_ff == p->has_ff;
		p->number = same ? prev->number + 1 : 1;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = role__build(r, i, d);
	free(order);
	return err;
}

/* ---- call sites ------------------------------------------------------- */

struct span {
	uint64_t start, end, offset, max_end; /* max_end: of this and all before */
	const char *path;
};

static int by_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The file offset of `ip` in the process's own mapping of `module`. */
static int module_offset(const struct span *s, size_t n, const char *module, uint64_t ip,
			 uint64_t *off)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s[mid].start <= ip)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t k = lo; k-- > 0 && s[k].max_end > ip;) {
		if (s[k].end > ip && !strcmp(s[k].path, module)) {
			*off = ip - s[k].start + s[k].offset;
			return 1;
		}
	}
	return 0;
}

static int report__push(struct report *r, const char *role, char *key, const struct metrics *m)
{
	if (r->n_entries == r->cap_entries) {
		size_t cap = r->cap_entries ? r->cap_entries * 2 : 256;
		struct entry *e = realloc(r->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		r->entries = e;
		r->cap_entries = cap;
	}
	r->entries[r->n_entries++] = (struct entry){ .role = role, .key = key, .m = *m };
	return 0;
}

/* The site key of one VMA (see the top of this file). */
static int vma_key(struct diag *d, const struct report *r, json_t *vma, const char *at,
		   const struct span *spans, size_t n_spans, char **out)
{
	struct sbuf b = { 0 };
	const char *kind, *path;
	json_t *stack, *k;
	int err;
	if ((err = get_typed(d, r, vma, at, "kind", JSON_STRING, 0, &k)) ||
	    (err = get_string_or_null(d, r, vma, at, "path", &path)) ||
	    (err = get_typed(d, r, vma, at, "stack", JSON_ARRAY, 0, &stack)))
		return err;
	kind = json_string_value(k);
	/* The tracer's own mappings (trace files named by pid and time) would
	 * never match across runs: one bucket per role. */
	if (json_is_true(json_object_get(vma, "internal"))) {
		*out = strdup("vmaprof-internal");
		return *out ? 0 : diag__fail(d, "out of memory");
	}
	sbuf__add(&b, "%s", kind);
	if (path)
		sbuf__add(&b, ":%s", path);
	for (size_t i = 0; i < json_array_size(stack); i++) {
		json_t *fr = json_array_get(stack, i);
		const char *fn, *module;
		uint64_t ip, off;
		char sub[160];
		snprintf(sub, sizeof(sub), "%s.stack[%zu]", at, i);
		if (!json_is_object(fr)) {
			free(b.s);
			return diag__fail(d, "%s: %s: expected an object", r->file, sub);
		}
		if ((err = get_count(d, r, fr, sub, "ip", &ip)) ||
		    (err = get_string_or_null(d, r, fr, sub, "function", &fn)) ||
		    (err = get_string_or_null(d, r, fr, sub, "module", &module))) {
			free(b.s);
			return err;
		}
		sbuf__add(&b, "%s", i ? "<" : "@");
		if (fn && *fn)
			sbuf__add(&b, "%s", fn);
		else if (module && module_offset(spans, n_spans, module, ip, &off))
			sbuf__add(&b, "%s+0x%" PRIx64, basename_of(module), off);
		else if (module)
			sbuf__add(&b, "%s@0x%" PRIx64, basename_of(module), ip);
		else
			sbuf__add(&b, "0x%" PRIx64, ip);
	}
	*out = sbuf__take(&b);
	return *out ? 0 : diag__fail(d, "out of memory");
}

/* One entry for the process and one per VMA (merged per site later). The
 * VMAs are read twice, one object at a time (vma_next): first the file
 * mappings that unsymbolized frames are resolved through, then the metrics. */
static int proc__entries(struct report *r, size_t pi, struct diag *d)
{
	struct dproc *p = &r->procs[pi];
	struct metrics pm = { 0 };
	struct span *spans = NULL;
	size_t n_spans = 0, cap_spans = 0, n = 0, pos = 0;
	json_t *vmas, *v;
	const char *bad;
	char at[64];
	int err;
	snprintf(at, sizeof(at), "processes[%zu]", pi);
	if ((err = get_faults(d, r, p->j, at, &pm)) ||
	    (err = get_count_or_null(d, r, p->j, at, "pages_allocated", &pm.v[M_PAGES_ALLOCATED])) ||
	    (err = get_typed(d, r, p->j, at, "vmas", JSON_ARRAY, 0, &vmas)))
		return err;

	/* Pass 1: types of the address fields, and the file mappings. */
	for (; (v = vma_next(r, pi, vmas, &pos, n, &bad)); n++) {
		json_t *destroyed;
		char vat[96];
		uint64_t start, end, offset;
		const char *path;
		snprintf(vat, sizeof(vat), "%s.vmas[%zu]", at, n);
		if (!json_is_object(v)) {
			err = diag__fail(d, "%s: %s: expected an object", r->file, vat);
			goto next;
		}
		if ((err = require(d, r, v, vat, vma_names)) ||
		    (err = get_count(d, r, v, vat, "start", &start)) ||
		    (err = get_count(d, r, v, vat, "end", &end)) ||
		    (err = get_string_or_null(d, r, v, vat, "path", &path)) ||
		    (err = field(d, r, v, vat, "destroyed_ns", &destroyed)))
			goto next;
		if (end < start) {
			err = diag__fail(d, "%s: %s: end is below start", r->file, vat);
			goto next;
		}
		if (!json_is_null(destroyed) &&
		    (!json_is_integer(destroyed) || json_integer_value(destroyed) < 0)) {
			err = diag__fail(d, "%s: %s.destroyed_ns: expected a non-negative integer "
					 "or null", r->file, vat);
			goto next;
		}
		if (json_is_null(destroyed))
			pm.v[M_MAPPED_BYTES] = sat_add(pm.v[M_MAPPED_BYTES], end - start);
		pm.span_bytes = sat_add(pm.span_bytes, end - start);
		if (path && json_object_get(v, "offset") &&
		    json_is_integer(json_object_get(v, "offset"))) {
			offset = (uint64_t)json_integer_value(json_object_get(v, "offset"));
			if (n_spans == cap_spans) {
				size_t c = cap_spans ? cap_spans * 2 : 64;
				struct span *x = realloc(spans, c * sizeof(*x));
				if (!x) {
					err = diag__fail(d, "out of memory");
					goto next;
				}
				spans = x;
				cap_spans = c;
			}
			char *own = strdup(path);
			if (!own) {
				err = diag__fail(d, "out of memory");
				goto next;
			}
			spans[n_spans++] = (struct span){ start, end, offset, 0, own };
		}
next:
		json_decref(v);
		if (err)
			goto cleanup;
	}
	if (bad) {
		err = diag__fail(d, "%s: %s.vmas[%zu]: %s", r->file, at, n, bad);
		goto cleanup;
	}
	pm.v[M_VMA_COUNT] = n;
	if (n_spans > 1)
		qsort(spans, n_spans, sizeof(*spans), by_start);
	for (size_t i = 0; i < n_spans; i++)
		spans[i].max_end = i && spans[i - 1].max_end > spans[i].end ? spans[i - 1].max_end
									  : spans[i].end;

	/* Pass 2: per-VMA metrics under the site key. */
	pos = 0;
	for (size_t i = 0; i < n && (v = vma_next(r, pi, vmas, &pos, i, &bad)); i++) {
		struct metrics vm = { 0 };
		char vat[96], *key = NULL;
		uint64_t start = (uint64_t)json_integer_value(json_object_get(v, "start"));
		uint64_t end = (uint64_t)json_integer_value(json_object_get(v, "end"));
		snprintf(vat, sizeof(vat), "%s.vmas[%zu]", at, i);
		if ((err = get_faults(d, r, v, vat, &vm)) ||
		    (err = get_count_or_null(d, r, v, vat, "pages_allocated",
					     &vm.v[M_PAGES_ALLOCATED])) ||
		    (err = vma_key(d, r, v, vat, spans, n_spans, &key))) {
			json_decref(v);
			goto cleanup;
		}
		vm.v[M_VMA_COUNT] = 1;
		vm.span_bytes = end - start;
		if (json_is_null(json_object_get(v, "destroyed_ns")))
			vm.v[M_MAPPED_BYTES] = end - start;
		json_decref(v);
		if (report__push(r, p->role, key, &vm)) {
			free(key);
			err = diag__fail(d, "out of memory");
			goto cleanup;
		}
	}
	if (report__push(r, p->role, NULL, &pm)) {
		err = diag__fail(d, "out of memory");
		goto cleanup;
	}
	metrics__add(&r->total, &pm);
cleanup:
	for (size_t i = 0; i < n_spans; i++)
		free((char *)spans[i].path);
	free(spans);
	return err;
}

/* Process entries (key NULL) first within a role, then sites by key. */
static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->role, y->role);
	if (c)
		return c;
	if (!x->key || !y->key)
		return !!x->key - !!y->key;
	return strcmp(x->key, y->key);
}

static int report__entries(struct report *r, struct diag *d)
{
	size_t w = 0;
	for (size_t i = 0; i < r->n_procs; i++) {
		int err = proc__entries(r, i, d);
		if (err)
			return err;
	}
	if (r->n_entries)
		qsort(r->entries, r->n_entries, sizeof(*r->entries), entry_cmp);
	/* VMAs of one site in one role become one entry. */
	for (size_t i = 0; i < r->n_entries; i++) {
		if (w && r->entries[i].key && !entry_cmp(&r->entries[w - 1], &r->entries[i])) {
			metrics__add(&r->entries[w - 1].m, &r->entries[i].m);
			free(r->entries[i].key);
			continue;
		}
		r->entries[w++] = r->entries[i];
	}
	r->n_entries = w;
	return 0;
}

static int report__open(struct report *r, const char *file, struct diag *d)
{
	int err = report__load(r, file, d);
	if (!err)
		err = report__roles(r, d);
	if (!err)
		err = report__entries(r, d);
	/* Everything needed from the document is in the entries now; a big
	 * report's tree is most of the memory, and the other one loads next. */
	json_decref(r->root);
	r->root = NULL;
	free(r->text);
	r->text = NULL;
	free(r->vmas_text);
	r->vmas_text = NULL;
	for (size_t i = 0; r->procs && i < r->n_procs; i++)
		r->procs[i].j = NULL;
	return err;
}

static void report__free(struct report *r)
{
	for (size_t i = 0; i < r->n_entries; i++)
		free(r->entries[i].key);
	free(r->entries);
	for (size_t i = 0; r->procs && i < r->n_procs; i++) {
		free(r->procs[i].base);
		free(r->procs[i].role);
	}
	free(r->procs);
	json_decref(r->root);
	free(r->text);
	free(r->vmas_text);
}

/* ---- comparing ---------------------------------------------------------- */

struct diff_opts {
	struct bound *bounds;
	size_t n_bounds;
	uint64_t min_pages;
	uint64_t page_size; /* NEW's; used to turn bytes into pages */
};

/* --min-pages: a change at a role or site is noise when the value is below
 * N pages on both sides. vma_count is measured by the pages of all its VMAs. */
static int is_noise(const struct diff_opts *o, enum metric m, const struct metrics *a,
		    const struct metrics *b)
{
	uint64_t x, y;
	if (!o->min_pages)
		return 0;
	if (m == M_MAPPED_BYTES) {
		x = a->v[m] / o->page_size;
		y = b->v[m] / o->page_size;
	} else if (m == M_VMA_COUNT) {
		x = a->span_bytes / o->page_size;
		y = b->span_bytes / o->page_size;
	} else {
		x = a->v[m];
		y = b->v[m];
	}
	return x < o->min_pages && y < o->min_pages;
}

static int exceeds(const struct bound *bd, uint64_t old, uint64_t new)
{
	if (!old)
		return new > 0;
	return (long double)new * 100.0L > (long double)old * (100.0L + (long double)bd->pct);
}

static int rows__add(struct rows *rs, const char *role, const char *key, enum metric m,
		     uint64_t old, uint64_t new)
{
	struct sbuf b = { 0 };
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct row *v = realloc(rs->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		rs->v = v;
		rs->cap = cap;
	}
	sbuf__add(&b, key ? "%s vma:%s" : "%s", role, key);
	struct row *row = &rs->v[rs->n];
	row->scope = sbuf__take(&b);
	if (!row->scope)
		return -ENOMEM;
	row->metric = m;
	row->bound = 0;
	row->old = old;
	row->new = new;
	rs->n++;
	return 0;
}

static void rows__free(struct rows *rs)
{
	for (size_t i = 0; i < rs->n; i++)
		free(rs->v[i].scope);
	free(rs->v);
}

static void format_change(char *buf, size_t len, uint64_t old, uint64_t new)
{
	char delta[32];
	if (new >= old)
		snprintf(delta, sizeof(delta), "+%" PRIu64, new - old);
	else
		snprintf(delta, sizeof(delta), "-%" PRIu64, old - new);
	double pct = old ? ((double)new - (double)old) * 100.0 / (double)old : 0;
	if (!old)
		snprintf(buf, len, "%s (new)", delta);
	else if (fabs(pct) < 0.05) /* "-0.0%" would read as no change */
		snprintf(buf, len, "%s (%s<0.1%%)", delta, pct < 0 ? "-" : "+");
	else
		snprintf(buf, len, "%s (%+.1f%%)", delta,
			 ((double)new - (double)old) * 100.0 / (double)old);
}

/* Rows for one scope; bounds checked when `bounded` (roles and the total).
 * Returns the number of bounds exceeded, or -ENOMEM. */
static int scope__compare(const struct diff_opts *o, const char *role, const char *key,
			  const struct metrics *a, const struct metrics *b, int filtered,
			  int bounded, struct rows *changes, struct rows *over)
{
	int n_over = 0;
	for (int m = 0; m < M_NR; m++) {
		if (filtered && is_noise(o, m, a, b))
			continue;
		if (a->v[m] != b->v[m] && rows__add(changes, role, key, m, a->v[m], b->v[m]))
			return -ENOMEM;
	}
	for (size_t k = 0; bounded && k < o->n_bounds; k++) {
		enum metric m = o->bounds[k].metric;
		if (filtered && is_noise(o, m, a, b))
			continue;
		if (!exceeds(&o->bounds[k], a->v[m], b->v[m]))
			continue;
		if (rows__add(over, role, key, m, a->v[m], b->v[m]))
			return -ENOMEM;
		over->v[over->n - 1].bound = k;
		n_over++;
	}
	return n_over;
}

static void print_table(const struct rows *rs)
{
	int ws = (int)strlen("scope"), wm = (int)strlen("metric"), wo = 3, wn = 3;
	char num[32];
	for (size_t i = 0; i < rs->n; i++) {
		int l = (int)strlen(rs->v[i].scope);
		ws = l > ws ? l : ws;
		l = (int)strlen(metric_name(rs->v[i].metric));
		wm = l > wm ? l : wm;
		l = snprintf(num, sizeof(num), "%" PRIu64, rs->v[i].old);
		wo = l > wo ? l : wo;
		l = snprintf(num, sizeof(num), "%" PRIu64, rs->v[i].new);
		wn = l > wn ? l : wn;
	}
	printf("%-*s  %-*s  %*s  %*s  %s\n", ws, "scope", wm, "metric", wo, "old", wn, "new",
	       "change");
	for (size_t i = 0; i < rs->n; i++) {
		char change[64];
		const struct row *r = &rs->v[i];
		format_change(change, sizeof(change), r->old, r->new);
		printf("%-*s  %-*s  %*" PRIu64 "  %*" PRIu64 "  %s\n", ws, r->scope, wm,
		       metric_name(r->metric), wo, r->old, wn, r->new, change);
	}
}

static void print_exceeded(const struct diff_opts *o, const struct rows *over)
{
	for (size_t i = 0; i < over->n; i++) {
		const struct row *r = &over->v[i];
		const struct bound *bd = &o->bounds[r->bound];
		const char *name = metric_name(r->metric);
		if (!r->old)
			printf("EXCEEDED %s +%" PRIu64 " from 0 > %g%% at %s (old 0, new %" PRIu64
			       "; base is 0, so any increase exceeds)\n", name, r->new, bd->pct,
			       r->scope, r->new);
		else
			printf("EXCEEDED %s %+.1f%% > %g%% at %s (old %" PRIu64 ", new %" PRIu64 ")\n",
			       name, ((double)r->new - (double)r->old) * 100.0 / (double)r->old,
			       bd->pct, r->scope, r->old, r->new);
	}
}

/* Walks both sorted entry lists together. Returns bounds exceeded or -ENOMEM. */
static int reports__compare(const struct diff_opts *o, const struct report *a,
			    const struct report *b)
{
	struct rows changes = { 0 }, over = { 0 };
	static const struct metrics zero;
	size_t i = 0, j = 0, checks = 0;
	int n_over, err;

	n_over = scope__compare(o, "*", NULL, &a->total, &b->total, 0, 1, &changes, &over);
	checks += o->n_bounds;
	while (n_over >= 0 && (i < a->n_entries || j < b->n_entries)) {
		const struct entry *x = i < a->n_entries ? &a->entries[i] : NULL;
		const struct entry *y = j < b->n_entries ? &b->entries[j] : NULL;
		int c = !x ? 1 : !y ? -1 : entry_cmp(x, y);
		const struct entry *e = c <= 0 ? x : y;
		if (!e->key && c)
			printf("only in %s: %s\n", c < 0 ? "BASE" : "NEW", e->role);
		err = scope__compare(o, e->role, e->key, c <= 0 ? &x->m : &zero,
				     c >= 0 ? &y->m : &zero, 1, !e->key, &changes, &over);
		checks += e->key ? 0 : o->n_bounds;
		n_over = err < 0 ? err : n_over + err;
		i += c <= 0;
		j += c >= 0;
	}
	if (n_over >= 0) {
		if (changes.n)
			print_table(&changes);
		else
			printf("no changes\n");
		print_exceeded(o, &over);
		if (o->n_bounds)
			printf("%d of %zu bound checks exceeded\n", n_over, checks);
	}
	rows__free(&changes);
	rows__free(&over);
	return n_over;
}

/* ---- command line ----------------------------------------------------- */

void diff__usage(FILE *f)
{
	char classes[160], others[160];
	metric_list(classes, sizeof(classes), 0, FC_N);
	metric_list(others, sizeof(others), FC_N, M_NR);
	fprintf(f,
		"usage: vmaprof diff BASE.json NEW.json [--max-increase METRIC=PCT]... [--min-pages N]\n"
		"  METRIC   %s\n"
		"           %s\n"
		"  PCT      allowed increase over BASE, like 10%% (bound: new <= base * (1 + PCT/100));\n"
		"           where BASE is 0 any increase exceeds\n"
		"  --min-pages N  ignore role and VMA changes below N pages on both sides\n"
		"           (faults count as pages); the whole-report totals are always checked\n"
		"exit: 0 every bound holds, 1 a bound is exceeded, 2 bad input\n",
		classes, others);
}

/* Plain decimal only: "10", "10%", "2.5%"; no signs, exponents, hex, inf. */
static int parse_pct(const char *s, double *out)
{
	size_t digits = 0, dots = 0, i = 0;
	char *end;
	for (; s[i] && s[i] != '%'; i++) {
		if (s[i] == '.')
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return -EINVAL;
	}
	if (!digits || dots > 1 || (s[i] == '%' && s[i + 1]))
		return -EINVAL;
	errno = 0;
	*out = strtod(s, &end);
	if (errno || !isfinite(*out))
		return -EINVAL;
	return 0;
}

static int parse_bound(const char *arg, struct bound *bd, struct diag *d)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	int m;
	for (m = 0; m < M_NR; m++)
		if (strlen(metric_name(m)) == len && !strncmp(arg, metric_name(m), len))
			break;
	if (m == M_NR) {
		char all[256];
		metric_list(all, sizeof(all), 0, M_NR);
		return diag__fail(d, "--max-increase %s: unknown metric '%.*s' (one of: %s)", arg,
				  (int)len, arg, all);
	}
	if (!eq || parse_pct(eq + 1, &bd->pct))
		return diag__fail(d, "--max-increase %s: expected METRIC=PCT with PCT like 10%% "
				  "or 2.5%%", arg);
	bd->metric = m;
	return 0;
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;
	if (!*s)
		return -EINVAL;
	for (const char *c = s; *c; c++)
		if (*c < '0' || *c > '9')
			return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno ? -EINVAL : 0;
}

int diff__main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max-increase", required_argument, NULL, 'm' },
		{ "min-pages", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct diff_opts o = { 0 };
	struct report base = { 0 }, new = { 0 };
	struct diag d = { .why = "" };
	int c, rc = 2, n_over, saved_opterr = opterr;

	o.bounds = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*o.bounds));
	if (!o.bounds) {
		fputs("vmaprof diff: out of memory\n", stderr);
		return 2;
	}
	optind = 1;
	opterr = 0; /* the message below names the option itself */
	/* leading ':' tells a missing value (':') from an unknown option ('?') */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_bound(optarg, &o.bounds[o.n_bounds], &d))
				goto cleanup;
			o.n_bounds++;
			break;
		case 'p':
			if (parse_count(optarg, &o.min_pages)) {
				diag__fail(&d, "--min-pages %s: expected a number of pages", optarg);
				goto cleanup;
			}
			break;
		case 'h':
			diff__usage(stdout);
			rc = 0;
			goto cleanup;
		case ':':
			diag__fail(&d, "option '%s' needs a value (see vmaprof diff --help)",
				   argv[optind - 1] ? argv[optind - 1] : "?");
			goto cleanup;
		default:
			diag__fail(&d, "unknown option '%s' (see vmaprof diff --help)",
				   argv[optind - 1] ? argv[optind - 1] : "?");
			goto cleanup;
		}
	}
	if (argc - optind != 2) {
		diag__fail(&d, "expected two reports, BASE.json and NEW.json, got %d argument%s "
			   "(see vmaprof diff --help)", argc - optind, argc - optind == 1 ? "" : "s");
		goto cleanup;
	}
	if (report__open(&base, argv[optind], &d) || report__open(&new, argv[optind + 1], &d))
		goto cleanup;
	o.page_size = new.page_size;
	/* A bound on a figure one side never measured cannot hold or fail. */
	for (size_t k = 0; k < o.n_bounds; k++) {
		enum metric m = o.bounds[k].metric;
		const struct report *un = base.unmeasured ? &base : new.unmeasured ? &new : NULL;
		if (un && m != M_VMA_COUNT && m != M_MAPPED_BYTES) {
			diag__fail(&d, "--max-increase %s: %s has no fault figures (recorded "
				   "without the kernel collector)", metric_name(m), un->file);
			goto cleanup;
		}
	}
	if (base.unmeasured || new.unmeasured)
		printf("note: %s has no fault figures (recorded without the kernel collector); "
		       "comparing mappings only\n", base.unmeasured ? base.file : new.file);
	n_over = reports__compare(&o, &base, &new);
	if (n_over < 0) {
		diag__fail(&d, "out of memory");
		goto cleanup;
	}
	rc = n_over ? 1 : 0;
cleanup:
	if (d.why[0])
		fprintf(stderr, "vmaprof diff: %s\n", d.why);
	report__free(&base);
	report__free(&new);
	free(o.bounds);
	opterr = saved_opterr;
	return rc;
}
