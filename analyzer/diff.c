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
 *    joined by '<', the path normalised (diff.h: noise in names). A frame
 *    is its raw symbol (`mangled` in a schema_version 2 report, else
 *    `function`); unsymbolized, it is
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
	char *label; /* the site's short name (see site_label); NULL for a process */
	char *kind;  /* the VMA kind; NULL for a process */
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

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
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
	if (json_integer_value(v) != 1 && json_integer_value(v) != 2)
		return diag__fail(d, "%s: schema_version %" JSON_INTEGER_FORMAT " is not supported "
				  "(this vmaprof reads 1 and 2)", file, json_integer_value(v));
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

static int report__push(struct report *r, const char *role, char *key, char *label, char *kind,
			const struct metrics *m)
{
	if (r->n_entries == r->cap_entries) {
		size_t cap = r->cap_entries ? r->cap_entries * 2 : 256;
		struct entry *e = realloc(r->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		r->entries = e;
		r->cap_entries = cap;
	}
	r->entries[r->n_entries++] =
		(struct entry){ .role = role, .key = key, .label = label, .kind = kind, .m = *m };
	return 0;
}

/* ---- noise in names (the rules are in diff.h) ---- */

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_sep(char c)
{
	return c == '.' || c == '-' || c == '_';
}

/* Directories whose file names are made up per run. */
static const char *const temp_dirs[] = { "/tmp/", "/var/tmp/", "/dev/shm/", "/run/shm/", NULL };

/* The path with the run-specific parts of its name replaced by '*'. */
static char *norm_path(const char *path)
{
	static const char deleted[] = " (deleted)";
	struct sbuf b = { 0 };
	size_t len = strlen(path), dl = sizeof(deleted) - 1;
	if (len > dl && !strcmp(path + len - dl, deleted))
		len -= dl;
	if (!strncmp(path, "/memfd:", 7)) {
		/* memfd names often carry a pid or counter */
		sbuf__add(&b, "/memfd:");
		for (size_t i = 7; i < len; i++) {
			if (!is_digit(path[i]))
				sbuf__add(&b, "%c", path[i]);
			else if (!i || !is_digit(path[i - 1]))
				sbuf__add(&b, "*");
		}
		return sbuf__take(&b);
	}
	for (const char *const *t = temp_dirs; *t; t++) {
		size_t tl = strlen(*t);
		if (len <= tl || strncmp(path, *t, tl))
			continue;
		/* keep the first word of the name when it is one ("sem.", "pulse-") */
		const char *name = path + tl;
		size_t w = 0;
		while (tl + w < len && name[w] != '/' && !is_sep(name[w]) && !is_digit(name[w]))
			w++;
		if (w && tl + w < len && is_sep(name[w]))
			sbuf__add(&b, "%.*s%.*s*", (int)tl, path, (int)w + 1, name);
		else
			sbuf__add(&b, "%.*s*", (int)tl, path);
		return sbuf__take(&b);
	}
	/* elsewhere: a component of digits only (a pid: /proc/1234/, /run/user/1000/)
	 * and a run of 4 or more digits between separators are '*' */
	for (size_t i = 0; i < len;) {
		if (!is_digit(path[i])) {
			sbuf__add(&b, "%c", path[i++]);
			continue;
		}
		size_t j = i;
		while (j < len && is_digit(path[j]))
			j++;
		int left = !i || path[i - 1] == '/' || is_sep(path[i - 1]);
		int right = j == len || path[j] == '/' || is_sep(path[j]);
		int whole = (!i || path[i - 1] == '/') && (j == len || path[j] == '/');
		if (whole || (left && right && j - i >= 4))
			sbuf__add(&b, "*");
		else
			sbuf__add(&b, "%.*s", (int)(j - i), path + i);
		i = j;
	}
	return sbuf__take(&b);
}

/* Allocator and mapping plumbing: never the name of a site. Compared
 * without a symbol version ("mmap@GLIBC_2.2.5"). */
static const char *const plumbing[] = {
	"malloc", "calloc", "realloc", "reallocarray", "free", "valloc", "pvalloc", "memalign",
	"aligned_alloc", "posix_memalign", "__libc_malloc", "__libc_calloc", "__libc_realloc",
	"__libc_memalign", "__libc_valloc", "__libc_pvalloc", "_int_malloc", "_int_realloc",
	"_int_memalign", "_mid_memalign", "sysmalloc", "sysmalloc_mmap", "tcache_init",
	"new_heap", "alloc_new_heap", "arena_get2", "arena_get_retry", "__default_morecore",
	"__glibc_morecore", "mmap", "mmap64", "__mmap", "__mmap64", "mremap", "__mremap", "brk",
	"__brk", "sbrk", "__sbrk", NULL,
};

static int is_plumbing(const char *fn, const char *module)
{
	if (module && !strcmp(basename_of(module), "libvmaprof-preload.so"))
		return 1;
	if (!fn)
		return 0;
	size_t n = strcspn(fn, "@");
	/* operator new and new[], mangled (_Znwm, _ZnamRKSt9nothrow_t, ...) or not */
	if (!strncmp(fn, "_Znw", 4) || !strncmp(fn, "_Zna", 4) || !strncmp(fn, "operator new", 12))
		return 1;
	for (const char *const *p = plumbing; *p; p++)
		if (strlen(*p) == n && !strncmp(fn, *p, n))
			return 1;
	return 0;
}

/* An optional field: absent is *out = NULL; present, a string or null. */
static int get_opt_string(struct diag *d, const struct report *r, json_t *obj, const char *at,
			  const char *name, const char **out)
{
	*out = NULL;
	if (!json_object_get(obj, name))
		return 0;
	return get_string_or_null(d, r, obj, at, name, out);
}

/* instances: absent is 1 (schema_version 2: one entry for N folded mappings). */
static int get_instances(struct diag *d, const struct report *r, json_t *vma, const char *at,
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

/* The site key of one VMA (see the top of this file) and its short name
 * (*label): the report's `label`, else the first frame outside allocator
 * plumbing, else the basename of its path, else NULL (the kind says it). */
static int vma_key(struct diag *d, const struct report *r, json_t *vma, const char *at,
		   const struct span *spans, size_t n_spans, char **out, char **label)
{
	struct sbuf b = { 0 }, lb = { 0 };
	const char *kind, *path, *given;
	char *npath = NULL;
	json_t *stack, *k;
	int err, have_label = 0;
	*out = *label = NULL;
	if ((err = get_typed(d, r, vma, at, "kind", JSON_STRING, 0, &k)) ||
	    (err = get_string_or_null(d, r, vma, at, "path", &path)) ||
	    (err = get_typed(d, r, vma, at, "stack", JSON_ARRAY, 0, &stack)) ||
	    (err = get_opt_string(d, r, vma, at, "label", &given)))
		return err;
	kind = json_string_value(k);
	/* The tracer's own mappings (trace files named by pid and time) would
	 * never match across runs: one bucket per role. */
	if (json_is_true(json_object_get(vma, "internal"))) {
		*out = strdup("vmaprof-internal");
		*label = strdup("vmaprof-internal");
		if (*out && *label)
			return 0;
		free(*out);
		free(*label);
		*out = *label = NULL;
		return diag__fail(d, "out of memory");
	}
	if (given && *given) {
		sbuf__add(&lb, "%s", given);
		have_label = 1;
	}
	if (path && !(npath = norm_path(path)))
		return diag__fail(d, "out of memory");
	sbuf__add(&b, "%s", kind);
	if (npath)
		sbuf__add(&b, ":%s", npath);
	for (size_t i = 0; i < json_array_size(stack); i++) {
		json_t *fr = json_array_get(stack, i);
		const char *fn, *mangled, *module;
		uint64_t ip, off;
		char sub[160];
		snprintf(sub, sizeof(sub), "%s.stack[%zu]", at, i);
		if (!json_is_object(fr)) {
			err = diag__fail(d, "%s: %s: expected an object", r->file, sub);
			goto fail;
		}
		if ((err = get_count(d, r, fr, sub, "ip", &ip)) ||
		    (err = get_string_or_null(d, r, fr, sub, "function", &fn)) ||
		    (err = get_opt_string(d, r, fr, sub, "mangled", &mangled)) ||
		    (err = get_string_or_null(d, r, fr, sub, "module", &module)))
			goto fail;
		/* the raw symbol: a v1 report's function, a v2 report's mangled */
		const char *raw = mangled && *mangled ? mangled : fn;
		size_t before = b.len;
		sbuf__add(&b, "%s", i ? "<" : "@");
		if (raw && *raw)
			sbuf__add(&b, "%s", raw);
		else if (module && json_is_integer(json_object_get(fr, "module_offset")))
			sbuf__add(&b, "%s+0x%" PRIx64, basename_of(module),
				  (uint64_t)json_integer_value(json_object_get(fr, "module_offset")));
		else if (module && module_offset(spans, n_spans, module, ip, &off))
			sbuf__add(&b, "%s+0x%" PRIx64, basename_of(module), off);
		else if (module)
			sbuf__add(&b, "%s@0x%" PRIx64, basename_of(module), ip);
		else
			sbuf__add(&b, "0x%" PRIx64, ip);
		if (!have_label && !b.oom && !is_plumbing(fn, module) && !is_plumbing(raw, module)) {
			if (fn && *fn)
				sbuf__add(&lb, "%s", fn);
			else
				sbuf__add(&lb, "%s", b.s + before + 1);
			have_label = 1;
		}
	}
	if (!have_label && npath)
		sbuf__add(&lb, "%s", basename_of(npath));
	free(npath);
	npath = NULL;
	*out = sbuf__take(&b);
	*label = lb.len || lb.oom ? sbuf__take(&lb) : NULL;
	if (!*out || (lb.len && !*label)) {
		free(*out);
		free(*label);
		*out = *label = NULL;
		return diag__fail(d, "out of memory");
	}
	return 0;
fail:
	free(npath);
	free(b.s);
	free(lb.s);
	return err;
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
		uint64_t start, end, offset, instances;
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
		    (err = field(d, r, v, vat, "destroyed_ns", &destroyed)) ||
		    (err = get_instances(d, r, v, vat, &instances)))
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
		/* folded mappings never overlap in time: one is live at most */
		if (json_is_null(destroyed))
			pm.v[M_MAPPED_BYTES] = sat_add(pm.v[M_MAPPED_BYTES], end - start);
		pm.span_bytes = sat_add(pm.span_bytes, sat_mul(end - start, instances));
		pm.v[M_VMA_COUNT] = sat_add(pm.v[M_VMA_COUNT], instances);
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
	if (n_spans > 1)
		qsort(spans, n_spans, sizeof(*spans), by_start);
	for (size_t i = 0; i < n_spans; i++)
		spans[i].max_end = i && spans[i - 1].max_end > spans[i].end ? spans[i - 1].max_end
									  : spans[i].end;

	/* Pass 2: per-VMA metrics under the site key. */
	pos = 0;
	for (size_t i = 0; i < n && (v = vma_next(r, pi, vmas, &pos, i, &bad)); i++) {
		struct metrics vm = { 0 };
		char vat[96], *key = NULL, *label = NULL, *kind;
		uint64_t instances = 1;
		uint64_t start = (uint64_t)json_integer_value(json_object_get(v, "start"));
		uint64_t end = (uint64_t)json_integer_value(json_object_get(v, "end"));
		snprintf(vat, sizeof(vat), "%s.vmas[%zu]", at, i);
		if ((err = get_faults(d, r, v, vat, &vm)) ||
		    (err = get_count_or_null(d, r, v, vat, "pages_allocated",
					     &vm.v[M_PAGES_ALLOCATED])) ||
		    (err = get_instances(d, r, v, vat, &instances)) ||
		    (err = vma_key(d, r, v, vat, spans, n_spans, &key, &label))) {
			json_decref(v);
			goto cleanup;
		}
		vm.v[M_VMA_COUNT] = instances;
		vm.span_bytes = sat_mul(end - start, instances);
		if (json_is_null(json_object_get(v, "destroyed_ns")))
			vm.v[M_MAPPED_BYTES] = end - start;
		kind = strdup(json_string_value(json_object_get(v, "kind")));
		json_decref(v);
		if (!kind || report__push(r, p->role, key, label, kind, &vm)) {
			free(key);
			free(label);
			free(kind);
			err = diag__fail(d, "out of memory");
			goto cleanup;
		}
	}
	if (report__push(r, p->role, NULL, NULL, NULL, &pm)) {
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
			struct entry *keep = &r->entries[w - 1];
			metrics__add(&keep->m, &r->entries[i].m);
			if (!keep->label) { /* one site, one label; the first one named */
				keep->label = r->entries[i].label;
				r->entries[i].label = NULL;
			}
			free(r->entries[i].key);
			free(r->entries[i].label);
			free(r->entries[i].kind);
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
	for (size_t i = 0; i < r->n_entries; i++) {
		free(r->entries[i].key);
		free(r->entries[i].label);
		free(r->entries[i].kind);
	}
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

enum format { F_TEXT, F_JSON, F_MARKDOWN };

struct diff_opts {
	struct bound *bounds;
	size_t n_bounds;
	uint64_t min_pages;
	uint64_t page_size; /* NEW's; used to turn bytes into pages */
	enum format format;
};

/* One scope in both reports: the whole report (role "*", no entries), a
 * process role (key NULL) or a call site in a role. */
struct pair {
	const char *role;
	const struct entry *x, *y; /* BASE's, NEW's; NULL where that side lacks it */
	struct metrics a, b;
	int loose; /* sites matched by kind and label, not by key (see loose_match) */
	int dead;  /* merged into another pair */
};

static const struct entry *pair__entry(const struct pair *p)
{
	return p->y ? p->y : p->x;
}

static const char *pair__key(const struct pair *p)
{
	const struct entry *e = pair__entry(p);
	return e ? e->key : NULL;
}

/* The short name: NEW's label, else BASE's. NULL when neither has one. */
static const char *pair__label(const struct pair *p)
{
	if (p->y && p->y->label)
		return p->y->label;
	return p->x ? p->x->label : NULL;
}

static const char *pair__kind(const struct pair *p)
{
	const struct entry *e = pair__entry(p);
	return e ? e->kind : NULL;
}

/* "label (kind)", "(kind)", or for a process or the whole report what it is. */
static void pair__site(const struct pair *p, char *buf, size_t len)
{
	const char *label = pair__label(p), *kind = pair__kind(p);
	if (!pair__key(p))
		snprintf(buf, len, "%s", p->x || p->y ? "(process)" : "(all processes)");
	else if (label && kind && strcmp(label, kind))
		snprintf(buf, len, "%s (%s)", label, kind);
	else
		snprintf(buf, len, "(%s)", label ? label : kind ? kind : "?");
}

/* A change is noise when it is smaller than --min-pages pages: faults and
 * pages count as pages, mapped_bytes in pages, vma_count by the pages of
 * the VMAs behind it. */
static int is_noise(const struct diff_opts *o, enum metric m, const struct metrics *a,
		    const struct metrics *b)
{
	uint64_t x = a->v[m], y = b->v[m], d;
	if (!o->min_pages)
		return 0;
	if (m == M_VMA_COUNT) {
		x = a->span_bytes;
		y = b->span_bytes;
	}
	d = x > y ? x - y : y - x;
	if (m == M_MAPPED_BYTES || m == M_VMA_COUNT)
		d /= o->page_size;
	return d < o->min_pages;
}

static int exceeds(const struct bound *bd, uint64_t old, uint64_t new)
{
	if (!old)
		return new > 0;
	return (long double)new * 100.0L > (long double)old * (100.0L + (long double)bd->pct);
}

struct row {
	const struct pair *p;
	enum metric metric;
};

/* A bound exceeded at a role or the whole report, and the site in it that
 * grew the most in that metric (NULL if none grew). */
struct violation {
	size_t bound;
	const struct pair *at, *most;
};

struct result {
	struct pair *pairs;
	size_t n_pairs;
	struct row *rows;
	size_t n_rows;
	struct violation *over;
	size_t n_over;
	size_t bounds_over; /* bounds with at least one violation */
	int unmeasured;
	const char *unmeasured_file;
};

static void result__free(struct result *res)
{
	free(res->pairs);
	free(res->rows);
	free(res->over);
}

static double change_pct(uint64_t old, uint64_t new)
{
	return ((double)new - (double)old) * 100.0 / (double)old;
}

/* "+25.0%", "-100.0%", "(new)" (from 0), "+<0.1%" */
static void format_pct(char *buf, size_t len, uint64_t old, uint64_t new)
{
	if (!old) {
		snprintf(buf, len, "(new)");
		return;
	}
	double pct = change_pct(old, new);
	if (fabs(pct) < 0.05) /* "-0.0%" would read as no change */
		snprintf(buf, len, "%s<0.1%%", pct < 0 ? "-" : "+");
	else
		snprintf(buf, len, "%+.1f%%", pct);
}

/* s cut to `width` bytes with "..." where it was cut (at the end, or at the
 * start when keep_tail), never inside a UTF-8 character. */
static void fit(char *buf, size_t cap, const char *s, size_t width, int keep_tail)
{
	size_t len = strlen(s);
	if (width < 4)
		width = 4;
	if (width > cap - 1)
		width = cap - 1;
	if (len <= width) {
		memcpy(buf, s, len + 1);
		return;
	}
	if (keep_tail) {
		const char *t = s + len - (width - 3);
		while (*t && ((unsigned char)*t & 0xc0) == 0x80)
			t++;
		snprintf(buf, cap, "...%s", t);
	} else {
		size_t n = width - 3;
		while (n && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		snprintf(buf, cap, "%.*s...", (int)n, s);
	}
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
	if (res->n_over == *cap) {
		size_t c = *cap ? *cap * 2 : 16;
		struct violation *v = realloc(res->over, c * sizeof(*v));
		if (!v)
			return -ENOMEM;
		res->over = v;
		*cap = c;
	}
	res->over[res->n_over++] = (struct violation){ bound, at, most };
	return 0;
}

/* The kind, path and label (heap: kind and path alone) of a site, for
 * loose_match: its key up to the stack, and its label. */
static int loose_key_cmp(const struct pair *x, const struct pair *y)
{
	const char *kx = pair__kind(x), *ky = pair__kind(y), *lx, *ly;
	const char *px = pair__key(x), *py = pair__key(y);
	size_t nx = strcspn(px, "@"), ny = strcspn(py, "@");
	int c = memcmp(px, py, nx < ny ? nx : ny);
	if (c || nx != ny)
		return c ? c : nx < ny ? -1 : 1;
	lx = kx && !strcmp(kx, "heap") ? "" : pair__label(x);
	ly = ky && !strcmp(ky, "heap") ? "" : pair__label(y);
	if (!lx || !ly)
		c = !!lx - !!ly;
	else
		c = strcmp(lx, ly);
	return c;
}

static int loose_cmp(const void *a, const void *b, void *arg)
{
	const struct pair *ps = arg;
	int c = loose_key_cmp(&ps[*(const size_t *)a], &ps[*(const size_t *)b]);
	if (c)
		return c;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Sites of a role that only one report has, whose stacks differ below the
 * same short name (an inlined or unsymbolized frame further out, another
 * caller of the same function), are matched by kind, path and short name:
 * all such sites of BASE against all of NEW, summed, when both sides have
 * one. The heap (brk) is grown by whichever allocation crosses its top, so
 * its unmatched sites are matched by kind and path alone. The merged pair keeps the
 * place (and key) of the first of them. */
static int loose_match(struct result *res)
{
	size_t n = res->n_pairs, *idx = malloc((n ? n : 1) * sizeof(*idx)), w = 1;
	if (!idx)
		return -ENOMEM;
	for (size_t k = 1; k < n;) {
		size_t end = k + 1, m = 0;
		while (end < n && pair__key(&res->pairs[end]))
			end++;
		for (size_t i = k; i < end; i++)
			if (pair__key(&res->pairs[i]) && !(res->pairs[i].x && res->pairs[i].y))
				idx[m++] = i;
		if (m > 1)
			qsort_r(idx, m, sizeof(*idx), loose_cmp, res->pairs);
		for (size_t g = 0; g < m;) {
			size_t h = g + 1, first;
			int in_a = !!res->pairs[idx[g]].x, in_b = !!res->pairs[idx[g]].y;
			while (h < m && !loose_key_cmp(&res->pairs[idx[g]], &res->pairs[idx[h]])) {
				in_a |= !!res->pairs[idx[h]].x;
				in_b |= !!res->pairs[idx[h]].y;
				h++;
			}
			if (!in_a || !in_b) {
				g = h;
				continue;
			}
			first = idx[g];
			for (size_t q = g + 1; q < h; q++)
				first = idx[q] < first ? idx[q] : first;
			struct pair *to = &res->pairs[first];
			to->loose = 1;
			for (size_t q = g; q < h; q++) {
				struct pair *from = &res->pairs[idx[q]];
				if (from == to)
					continue;
				if (!to->x)
					to->x = from->x;
				if (!to->y)
					to->y = from->y;
				metrics__add(&to->a, &from->a);
				metrics__add(&to->b, &from->b);
				from->dead = 1;
			}
			g = h;
		}
		k = end;
	}
	free(idx);
	for (size_t k = 1; k < n; k++)
		if (!res->pairs[k].dead)
			res->pairs[w++] = res->pairs[k];
	res->n_pairs = w;
	return 0;
}

/* Pairs the sorted entry lists (pairs[0] is the whole report), then the
 * changes worth showing and the bounds exceeded. */
static int reports__compare(const struct diff_opts *o, const struct report *a,
			    const struct report *b, struct result *res)
{
	static const struct metrics zero;
	size_t i = 0, j = 0, n = 1, cap_rows = 0, cap_over = 0;
	res->pairs = calloc(a->n_entries + b->n_entries + 1, sizeof(*res->pairs));
	if (!res->pairs)
		return -ENOMEM;
	res->pairs[0] = (struct pair){ .role = "*", .a = a->total, .b = b->total };
	while (i < a->n_entries || j < b->n_entries) {
		const struct entry *x = i < a->n_entries ? &a->entries[i] : NULL;
		const struct entry *y = j < b->n_entries ? &b->entries[j] : NULL;
		int c = !x ? 1 : !y ? -1 : entry_cmp(x, y);
		struct pair *p = &res->pairs[n++];
		p->role = (c <= 0 ? x : y)->role;
		p->x = c <= 0 ? x : NULL;
		p->y = c >= 0 ? y : NULL;
		p->a = p->x ? p->x->m : zero;
		p->b = p->y ? p->y->m : zero;
		i += c <= 0;
		j += c >= 0;
	}
	res->n_pairs = n;
	if (loose_match(res))
		return -ENOMEM;
	n = res->n_pairs;

	/* Changes: the whole report and every site; a role's own figures are
	 * the sum of its sites, checked against the bounds below. */
	for (size_t k = 0; k < n; k++) {
		const struct pair *p = &res->pairs[k];
		if (k && !pair__key(p))
			continue;
		for (int m = 0; m < M_NR; m++) {
			if (p->a.v[m] == p->b.v[m] || is_noise(o, m, &p->a, &p->b))
				continue;
			if (res->n_rows == cap_rows) {
				size_t c = cap_rows ? cap_rows * 2 : 64;
				struct row *r = realloc(res->rows, c * sizeof(*r));
				if (!r)
					return -ENOMEM;
				res->rows = r;
				cap_rows = c;
			}
			res->rows[res->n_rows++] = (struct row){ p, m };
		}
	}

	/* Bounds: the whole report always; each role unless the change is noise. */
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
			if (is_noise(o, m, &p->a, &p->b) ||
			    !exceeds(&o->bounds[bd], p->a.v[m], p->b.v[m]))
				continue;
			if (violation__add(res, &cap_over, bd, p, most_grown(res, k + 1, end, m)))
				return -ENOMEM;
		}
		res->bounds_over += res->n_over > before;
	}
	return 0;
}

/* ---- output ------------------------------------------------------------- */

#define LINE_MAX_COLS 100
#define ROLE_COLS 30
#define SITE_COLS 34
#define MD_MAX_ROWS 50

static void verdict(const struct diff_opts *o, const struct result *res, char *buf, size_t len)
{
	char changes[96], bounds[64];
	if (o->min_pages)
		snprintf(changes, sizeof(changes), "%s%zu change%s of %" PRIu64 " pages or more",
			 res->n_rows ? "" : "no", res->n_rows, res->n_rows == 1 ? "" : "s",
			 o->min_pages);
	else
		snprintf(changes, sizeof(changes), "%s%zu change%s", res->n_rows ? "" : "no",
			 res->n_rows, res->n_rows == 1 ? "" : "s");
	if (!res->n_rows) /* "no0 changes" -> "no change" */
		snprintf(changes, sizeof(changes), o->min_pages ?
			 "no change of %" PRIu64 " pages or more" : "no change", o->min_pages);
	if (o->n_bounds)
		snprintf(bounds, sizeof(bounds), "%zu of %zu bound%s exceeded", res->bounds_over,
			 o->n_bounds, o->n_bounds == 1 ? "" : "s");
	else
		snprintf(bounds, sizeof(bounds), "no bounds given");
	snprintf(buf, len, "vmaprof diff: %s; %s", changes, bounds);
}

/* The roles only one report has. */
static void for_each_lonely(const struct result *res, void (*f)(void *, const char *, int),
			    void *arg)
{
	for (size_t k = 1; k < res->n_pairs; k++) {
		const struct pair *p = &res->pairs[k];
		if (!pair__key(p) && !(p->x && p->y))
			f(arg, p->role, p->y != NULL);
	}
}

static void text_lonely(void *arg, const char *role, int in_new)
{
	char r[LINE_MAX_COLS];
	fit(r, sizeof(r), role, LINE_MAX_COLS - 13, 1);
	printf("only in %s: %s\n", in_new ? "NEW" : "BASE", r);
}

/* The EXCEEDED line of a violation, and (in *most, "" if none) the site
 * that grew the most there: "ROLE  SITE  OLD -> NEW (+DELTA)". */
static void violation__text(const struct diff_opts *o, const struct violation *v, char *head,
			    size_t hlen, char *most, size_t mlen)
{
	const struct bound *bd = &o->bounds[v->bound];
	enum metric m = bd->metric;
	const struct pair *p = v->at;
	char role[ROLE_COLS + 8];
	fit(role, sizeof(role), p->role, ROLE_COLS, 1);
	if (!p->a.v[m])
		snprintf(head, hlen, "EXCEEDED %s from 0 > %g%% at %s (old 0, new %" PRIu64
			 "; base is 0, so any increase exceeds)", metric_name(m), bd->pct, role,
			 p->b.v[m]);
	else
		snprintf(head, hlen, "EXCEEDED %s %+.1f%% > %g%% at %s (old %" PRIu64 ", new %" PRIu64
			 ")", metric_name(m), change_pct(p->a.v[m], p->b.v[m]), bd->pct, role,
			 p->a.v[m], p->b.v[m]);
	*most = 0;
	if (v->most) {
		const struct pair *g = v->most;
		char site[SITE_COLS * 4], s[SITE_COLS + 8];
		pair__site(g, site, sizeof(site));
		fit(s, sizeof(s), site, SITE_COLS, 0);
		fit(role, sizeof(role), g->role, ROLE_COLS, 1);
		snprintf(most, mlen, "%s  %s  %" PRIu64 " -> %" PRIu64 " (+%" PRIu64 ")", role, s,
			 g->a.v[m], g->b.v[m], g->b.v[m] - g->a.v[m]);
	}
}

static void print_text(const struct diff_opts *o, const struct result *res)
{
	size_t wr = 1, ws = 1, wm = 1;
	char line[512];
	for (size_t i = 0; i < res->n_rows; i++) {
		char site[SITE_COLS * 4];
		size_t l = strlen(res->rows[i].p->role);
		wr = l > wr ? l : wr;
		pair__site(res->rows[i].p, site, sizeof(site));
		l = strlen(site);
		ws = l > ws ? l : ws;
		l = strlen(metric_name(res->rows[i].metric));
		wm = l > wm ? l : wm;
	}
	wr = wr < ROLE_COLS ? wr : ROLE_COLS;
	ws = ws < SITE_COLS ? ws : SITE_COLS;
	if (res->unmeasured)
		printf("note: %s has no fault figures (recorded without the kernel collector); "
		       "comparing mappings only\n", res->unmeasured_file);
	for_each_lonely(res, text_lonely, NULL);
	for (size_t i = 0; i < res->n_rows; i++) {
		const struct row *r = &res->rows[i];
		const struct pair *p = r->p;
		char site[SITE_COLS * 4], s[SITE_COLS + 8], role[ROLE_COLS + 8], tail[128], pct[32];
		format_pct(pct, sizeof(pct), p->a.v[r->metric], p->b.v[r->metric]);
		snprintf(tail, sizeof(tail), "%-*s  %" PRIu64 " -> %" PRIu64 "  %s", (int)wm,
			 metric_name(r->metric), p->a.v[r->metric], p->b.v[r->metric], pct);
		pair__site(p, site, sizeof(site));
		/* a line that would pass the limit gives up site, then role, columns */
		size_t room = LINE_MAX_COLS > strlen(tail) + 4 ? LINE_MAX_COLS - strlen(tail) - 4 : 0;
		size_t sw = ws, rw = wr;
		if (sw + rw > room) {
			sw = room > rw + 12 ? room - rw : 12;
			rw = room > sw + 12 ? room - sw : 12;
		}
		fit(role, sizeof(role), p->role, rw, 1);
		fit(s, sizeof(s), site, sw, 0);
		printf("%-*s  %-*s  %s\n", (int)rw, role, (int)sw, s, tail);
	}
	for (size_t i = 0; i < res->n_over; i++) {
		char most[256];
		violation__text(o, &res->over[i], line, sizeof(line), most, sizeof(most));
		printf("%s\n", line);
		if (*most)
			printf("  most growth: %s\n", most);
	}
	verdict(o, res, line, sizeof(line));
	printf("%s\n", line);
}

/* A markdown table cell: in a code span, '|' escaped (GFM splits cells
 * on it even there) and no backticks. */
static void md_cell(const char *s)
{
	putchar('`');
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", stdout);
		else if (*s == '`')
			putchar('\'');
		else if ((unsigned char)*s >= 0x20)
			putchar(*s);
	}
	putchar('`');
}

static void md_lonely(void *arg, const char *role, int in_new)
{
	printf("- only in %s: ", in_new ? "NEW" : "BASE");
	md_cell(role);
	putchar('\n');
}

static void print_markdown(const struct diff_opts *o, const struct result *res)
{
	char line[512];
	verdict(o, res, line, sizeof(line));
	printf("**%s**\n", line);
	if (res->unmeasured)
		printf("\nnote: %s has no fault figures (recorded without the kernel collector); "
		       "comparing mappings only\n", res->unmeasured_file);
	if (res->n_rows) {
		printf("\n| role | site | metric | old | new | change |\n"
		       "|:--|:--|:--|--:|--:|--:|\n");
		for (size_t i = 0; i < res->n_rows && i < MD_MAX_ROWS; i++) {
			const struct row *r = &res->rows[i];
			const struct pair *p = r->p;
			char site[SITE_COLS * 4], s[SITE_COLS + 8], role[ROLE_COLS + 8], pct[32];
			pair__site(p, site, sizeof(site));
			fit(s, sizeof(s), site, SITE_COLS + 6, 0);
			fit(role, sizeof(role), p->role, ROLE_COLS, 1);
			format_pct(pct, sizeof(pct), p->a.v[r->metric], p->b.v[r->metric]);
			fputs("| ", stdout);
			md_cell(role);
			fputs(" | ", stdout);
			md_cell(s);
			printf(" | %s | %" PRIu64 " | %" PRIu64 " | %s |\n", metric_name(r->metric),
			       p->a.v[r->metric], p->b.v[r->metric], pct);
		}
		if (res->n_rows > MD_MAX_ROWS)
			printf("\n%zu more changes: see `vmaprof diff --format text`\n",
			       res->n_rows - MD_MAX_ROWS);
	}
	putchar('\n');
	for_each_lonely(res, md_lonely, NULL);
	for (size_t i = 0; i < res->n_over; i++) {
		char most[256];
		violation__text(o, &res->over[i], line, sizeof(line), most, sizeof(most));
		fputs("- ", stdout);
		md_cell(line);
		if (*most) {
			fputs(", most growth: ", stdout);
			md_cell(most);
		}
		putchar('\n');
	}
}

static json_t *json_count(uint64_t v)
{
	return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *json_str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* x rounded to 0.1 (no libm here) */
static double round1(double x)
{
	if (fabs(x) >= 1e15)
		return x;
	return (double)(long long)(x * 10 + (x < 0 ? -0.5 : 0.5)) / 10;
}

/* role, label, kind, key, (metric,) old, new, change_pct of one scope */
static json_t *json_scope(const struct pair *p, int m, int with_metric)
{
	json_t *o = json_object();
	json_object_set_new(o, "role", json_string(p->role));
	json_object_set_new(o, "label", json_str_or_null(pair__key(p) ? pair__label(p) : NULL));
	json_object_set_new(o, "kind", json_str_or_null(pair__kind(p)));
	json_object_set_new(o, "key", json_str_or_null(pair__key(p)));
	if (with_metric)
		json_object_set_new(o, "metric", json_string(metric_name(m)));
	json_object_set_new(o, "old", json_count(p->a.v[m]));
	json_object_set_new(o, "new", json_count(p->b.v[m]));
	json_object_set_new(o, "change_pct", p->a.v[m] ?
			    json_real(round1(change_pct(p->a.v[m], p->b.v[m]))) :
			    json_null());
	return o;
}

static void json_lonely(void *arg, const char *role, int in_new)
{
	json_t **arrs = arg;
	json_array_append_new(arrs[in_new], json_string(role));
}

static int print_json(const struct diff_opts *o, const struct result *res)
{
	char line[512];
	json_t *doc = json_object(), *bounds = json_array(), *changes = json_array();
	json_t *only[2] = { json_array(), json_array() };
	verdict(o, res, line, sizeof(line));
	json_object_set_new(doc, "verdict", json_string(res->n_over ? "exceeded" : "ok"));
	json_object_set_new(doc, "summary", json_string(line));
	json_object_set_new(doc, "min_pages", json_count(o->min_pages));
	snprintf(line, sizeof(line), "%s has no fault figures (recorded without the kernel "
		 "collector); comparing mappings only", res->unmeasured_file ? res->unmeasured_file : "");
	json_object_set_new(doc, "note", res->unmeasured ? json_string(line) : json_null());
	for (size_t bd = 0; bd < o->n_bounds; bd++) {
		json_t *b = json_object(), *ex = json_array();
		json_object_set_new(b, "metric", json_string(metric_name(o->bounds[bd].metric)));
		json_object_set_new(b, "max_increase_pct", json_real(o->bounds[bd].pct));
		for (size_t i = 0; i < res->n_over; i++) {
			const struct violation *v = &res->over[i];
			if (v->bound != bd)
				continue;
			json_t *e = json_scope(v->at, o->bounds[bd].metric, 0);
			json_object_del(e, "label");
			json_object_del(e, "kind");
			json_object_del(e, "key");
			json_object_set_new(e, "most_grown", v->most ?
					    json_scope(v->most, o->bounds[bd].metric, 0) : json_null());
			json_array_append_new(ex, e);
		}
		json_object_set_new(b, "exceeded", ex);
		json_array_append_new(bounds, b);
	}
	for (size_t i = 0; i < res->n_rows; i++)
		json_array_append_new(changes, json_scope(res->rows[i].p, res->rows[i].metric, 1));
	for_each_lonely(res, json_lonely, only);
	json_object_set_new(doc, "bounds", bounds);
	json_object_set_new(doc, "changes", changes);
	json_object_set_new(doc, "only_in_base", only[0]);
	json_object_set_new(doc, "only_in_new", only[1]);
	char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

/* ---- command line ----------------------------------------------------- */

void diff__usage(FILE *f)
{
	char classes[160], others[160];
	metric_list(classes, sizeof(classes), 0, FC_N);
	metric_list(others, sizeof(others), FC_N, M_NR);
	fprintf(f,
		"usage: vmaprof diff BASE.json NEW.json [--max-increase METRIC=PCT]... [--min-pages N]\n"
		"                    [--format text|json|markdown]\n"
		"  METRIC   %s\n"
		"           %s\n"
		"  PCT      allowed increase over BASE, like 10%% (bound: new <= base * (1 + PCT/100));\n"
		"           where BASE is 0 any increase exceeds\n"
		"  --min-pages N  a change smaller than N pages is noise: not shown, and a\n"
		"           process's is not checked (default %d; faults count as pages); the\n"
		"           whole-report totals are always checked\n"
		"  --format text (default) | json (for scripts) | markdown (for a CI comment)\n"
		"exit: 0 every bound holds, 1 a bound is exceeded, 2 bad input\n",
		classes, others, DIFF_MIN_PAGES);
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
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct diff_opts o = { .min_pages = DIFF_MIN_PAGES, .format = F_TEXT };
	struct result res = { 0 };
	struct report base = { 0 }, new = { 0 };
	struct diag d = { .why = "" };
	int c, rc = 2, saved_opterr = opterr;

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
		case 'f':
			if (!strcmp(optarg, "text")) {
				o.format = F_TEXT;
			} else if (!strcmp(optarg, "json")) {
				o.format = F_JSON;
			} else if (!strcmp(optarg, "markdown")) {
				o.format = F_MARKDOWN;
			} else {
				diag__fail(&d, "--format %s: unknown format (one of: text json markdown)",
					   optarg);
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
	res.unmeasured = base.unmeasured || new.unmeasured;
	res.unmeasured_file = base.unmeasured ? base.file : new.file;
	if (reports__compare(&o, &base, &new, &res)) {
		diag__fail(&d, "out of memory");
		goto cleanup;
	}
	if (o.format == F_JSON) {
		if (print_json(&o, &res)) {
			diag__fail(&d, "out of memory");
			goto cleanup;
		}
	} else if (o.format == F_MARKDOWN) {
		print_markdown(&o, &res);
	} else {
		print_text(&o, &res);
	}
	rc = res.n_over ? 1 : 0;
cleanup:
	if (d.why[0])
		fprintf(stderr, "vmaprof diff: %s\n", d.why);
	result__free(&res);
	report__free(&base);
	report__free(&new);
	free(o.bounds);
	opterr = saved_opterr;
	return rc;
}
