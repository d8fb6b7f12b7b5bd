/* SPDX-License-Identifier: MIT */
/*
 * The diff wing's own header: the structs its files hand along the flow
 *
 *   load.c     report.json -> struct report (its processes, type-checked)
 *   match.c    -> roles, site keys and entries of one report; the entries
 *                 of two reports -> pairs (struct result)
 *   compare.c  pairs -> the changes worth showing and the bounds exceeded
 *   writes.c   the forks' write sites of each report -> pairs by role
 *                 and label (struct wpair), named under cow_copy bounds
 *   print.c    -> text, json or markdown on stdout
 *
 * and diff.c, which runs it for cli/cmd_diff.c. What the keys and metrics
 * mean is in diff.h; this header is not for anyone outside analyzer/diff/.
 */
#ifndef VP_DIFF_INT_H
#define VP_DIFF_INT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "diff.h"
#include "fclass.h"

struct label_rules;

/* Metrics: the fault classes (enum fclass, the keys of a report's `faults`
 * objects), then the figures below. */
enum metric {
	M_TOTAL_FAULTS = FC_N,
	M_PAGES_ALLOCATED,
	M_VMA_COUNT,
	M_LIVE_BYTES,   /* bytes mapped at exit (the old `mapped_bytes`) */
	M_BYTES_MAPPED, /* bytes of every mapping made, unmapped or not (cumulative) */
	M_NR,
};

/* A metric --max-increase takes that is not a figure of a scope: the copies
 * (cow_copy) of each write site within a role (writes.c), as the reports'
 * forks[].write_sites_parent / write_sites_child scale them. */
#define M_WRITE_SITE M_NR
#define M_NAMES (M_NR + 1) /* the names metric_name knows */

const char *metric_name(int m);

/* v[M_BYTES_MAPPED] with v[M_VMA_COUNT] gives the size of a site's
 * mappings (compare.c: a few pieces more or fewer are not more memory). */
struct metrics {
	uint64_t v[M_NR];
};

static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static inline uint64_t sat_mul(uint64_t a, uint64_t b)
{
	return b && a > UINT64_MAX / b ? UINT64_MAX : a * b;
}

/* Room for one more element after the n (of `size` bytes) at p, which has
 * room for *cap: p itself, or p moved with *cap doubled (from `first`).
 * NULL when out of memory, p and *cap unchanged. */
static inline void *grow(void *p, size_t n, size_t *cap, size_t size, size_t first)
{
	if (n < *cap)
		return p;
	size_t c = *cap ? *cap * 2 : first;
	void *x = realloc(p, c * size);
	if (x)
		*cap = c;
	return x;
}

/* One scope of one report: a process role (key NULL) or a call site in it. */
struct entry {
	const char *role;  /* owned by the report's proc */
	const char *loose; /* the role without arguments (see reports__unify) */
	uint64_t procs;    /* a process role: how many processes it sums */
	char *key;
	char *label; /* the site's short name (see vma_key); NULL for a process */
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
	unsigned long number; /* root[n] */
	int state; /* role construction: 0 todo, 1 busy (cycle check), 2 done */
	char *up, *lup;    /* the parent's part of role and loose: "root:exec(sh)/" */
	char *role, *loose; /* loose: role with each argument list "[*]" */
};

/* Where processes[i].vmas stands in the document text. */
struct span_text {
	size_t off, len;
};

/* One write site of one side of one fork (docs/report.md "Write sites"):
 * the process that wrote, the site's label ("f < g"), its scaled copies and
 * the variance of that estimate from the sampling (writes.c). */
struct wsrc {
	size_t proc;
	char *label;
	uint64_t copies;
	double var;
};

struct report {
	const char *file;
	const struct label_rules *plumbing; /* frames that never name a site */
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
	struct v3 *v3;  /* schema_version 3: its tables (load.c); NULL before */
	struct wsrc *ws; /* writes.c: the fork tables' write sites */
	size_t n_ws, cap_ws;
	int has_writes; /* some fork has write_sites_parent or write_sites_child */
};

/* Every failure ends in one message; `why` is what cli/cmd_diff.c prints. */
struct diag {
	char why[768];
};

int diag__fail(struct diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- load.c: the document, typed ----
 * `at` names the object in messages, as a JSON path ("processes[2].vmas[0]").
 * Each returns 0, or -EINVAL with d->why saying what is wrong where. */

int report__load(struct report *r, const char *file, struct diag *d);
void report__free(struct report *r);

/* The i-th VMA object of process pi's list, parsed (a new reference):
 * iterate with *pos starting at 0; NULL at the end, or with *bad set when
 * it is not JSON. */
json_t *vma_next(struct report *r, size_t pi, json_t *arr, size_t *pos, size_t i,
		 const char **bad);

int field(struct diag *d, const struct report *r, json_t *obj, const char *at,
	  const char *name, json_t **out);
int get_count(struct diag *d, const struct report *r, json_t *obj, const char *at,
	      const char *name, uint64_t *out);
int get_int(struct diag *d, const struct report *r, json_t *obj, const char *at,
	    const char *name, int64_t *out);
/* A count that is null where it was not measured reads as 0. */
int get_count_or_null(struct diag *d, const struct report *r, json_t *obj, const char *at,
		      const char *name, uint64_t *out);
/* *out is NULL when the field is JSON null. */
int get_string_or_null(struct diag *d, const struct report *r, json_t *obj, const char *at,
		       const char *name, const char **out);
/* An optional field: absent is *out = NULL; present, a string or null. */
int get_opt_string(struct diag *d, const struct report *r, json_t *obj, const char *at,
		   const char *name, const char **out);
/* null_ok: JSON null is *out = NULL. */
int get_typed(struct diag *d, const struct report *r, json_t *obj, const char *at,
	      const char *name, json_type type, int null_ok, json_t **out);
/* The classes and total of obj's `faults` into m (null: r->unmeasured). */
int get_faults(struct diag *d, struct report *r, json_t *obj, const char *at,
	       struct metrics *m);
/* instances: absent is 1 (schema_version 2: one entry for N folded mappings). */
int get_instances(struct diag *d, const struct report *r, json_t *vma, const char *at,
		  uint64_t *out);
/* The fields docs/report.md requires of a VMA entry are all there. */
int require_vma(struct diag *d, const struct report *r, json_t *vma, const char *at);

/* ---- match.c: roles and sites of one report, pairs of two ---- */

int report__roles(struct report *r, struct diag *d);
/* The report's entries, sorted by entry_cmp, one per role and site. */
int report__entries(struct report *r, struct diag *d);
/* Roles one report has and the other lacks become their loose names in both
 * where the loose name is on both sides' unmatched lists. 0 or -ENOMEM. */
int reports__unify(struct report *a, struct report *b);
/* Process entries (key NULL) first within a role, then sites by key. */
int entry_cmp(const void *a, const void *b);

/* One scope in both reports: the whole report (role "*", no entries), a
 * process role (key NULL) or a call site in a role. */
struct pair {
	const char *role;
	const struct entry *x, *y; /* BASE's, NEW's; NULL where that side lacks it */
	struct metrics a, b;
	uint64_t procs_a, procs_b; /* a process role: its processes in BASE, NEW */
	int loose; /* sites matched by kind and label, not by key (see loose_match) */
	/* compare.c: the change that is this scope's own, new - old less what
	 * moved in from (or out to) other roles or sites (result__settle); a
	 * role's, which its bounds are checked on, is new - old less what moved
	 * in to its sites (what moved out is not added back) */
	int64_t own[M_NR];
	/* the change that decides whether a site is listed: own, less what
	 * moved among the anon and heap sites of the processes of one parent */
	int64_t list[M_NR];
	int dead;  /* merged into another pair */
};

static inline const struct entry *pair__entry(const struct pair *p)
{
	return p->y ? p->y : p->x;
}

/* The one site of every entry marked internal (the tracer's own memory). */
#define DIFF_INTERNAL_KEY "vmaprof-internal"

static inline const char *pair__key(const struct pair *p)
{
	const struct entry *e = pair__entry(p);
	return e ? e->key : NULL;
}

/* The short name: NEW's label, else BASE's. NULL when neither has one. */
static inline const char *pair__label(const struct pair *p)
{
	if (p->y && p->y->label)
		return p->y->label;
	return p->x ? p->x->label : NULL;
}

static inline const char *pair__kind(const struct pair *p)
{
	const struct entry *e = pair__entry(p);
	return e ? e->kind : NULL;
}

struct row {
	const struct pair *p;
	enum metric metric;
};

/* A write site in both reports (writes.c): its role ("*": the whole
 * report, by label alone), label, scaled copies in BASE (a) and NEW (b),
 * the variance of b - a from the sampling, and its own change (what moved
 * to or from the same label in the role's family taken off). */
struct wpair {
	const char *role;
	const char *label;
	uint64_t a, b;
	double var;
	int64_t own;
};

#define WRITERS_MAX 3 /* write sites named under a cow_copy violation */

/* A bound exceeded at a role or the whole report, and the site in it that
 * grew the most in that metric (NULL if none grew); a cow_copy bound also
 * the write sites there that grew most (by[0..n_by)); a write_site bound
 * the write site (ws) that exceeded it. */
struct violation {
	size_t bound;
	const struct pair *at, *most;
	const struct wpair *ws;
	const struct wpair *by[WRITERS_MAX];
	size_t n_by;
};

struct result {
	struct pair *pairs;
	size_t n_pairs;
	struct row *rows;
	size_t n_rows;
	struct violation *over;
	size_t n_over;
	size_t bounds_over; /* bounds with at least one violation */
	uint64_t page_size; /* NEW's; turns bytes into pages */
	int unmeasured;
	const char *unmeasured_file;
	struct wpair *wp; /* writes.c: sorted by role, then label */
	size_t n_wp;
	int writes;                 /* both reports have write sites */
	const char *writes_missing; /* else the one that has none, if one has */
};

/* res->pairs: the whole report, then both reports' entries side by side,
 * loosely matched sites merged. 0 or -ENOMEM. */
int reports__pair(const struct report *a, const struct report *b, struct result *res);

/* The role of process pi as the entries have it (its loose name where
 * reports__unify loosened it). */
const char *report__role_of(const struct report *r, size_t pi);

/* ---- writes.c: write sites ---- */

/* r's forks' write sites into r->ws (before the document is dropped). 0,
 * or -EINVAL with d->why saying what is wrong where. */
int report__writes(struct report *r, struct diag *d);
void report__writes_free(struct report *r);
/* res->wp: the write sites of both reports by role and label, and the
 * whole report's by label; each one's own change. 0 or -ENOMEM. */
int reports__writes(const struct diff_opts *o, const struct report *a, const struct report *b,
		    struct result *res);
/* The change d of w passes --min-pages and the sampling's noise floor. */
int wpair__beyond(const struct diff_opts *o, const struct wpair *w, int64_t d);
/* The write sites of `role` whose own growth passes the floors, most first,
 * at most max of them into out; how many. */
size_t writes__grown(const struct diff_opts *o, const struct result *res, const char *role,
		     const struct wpair **out, size_t max);
/* The role's family: its length up to the first "/fork" after its last
 * ":exec(" (compare.c, docs/diff.md "Moves"). */
size_t family_len(const char *role);

/* ---- compare.c ---- */

/* The pairs, the changes worth showing and the bounds exceeded. 0 or -ENOMEM. */
int reports__compare(const struct diff_opts *o, const struct report *a,
		     const struct report *b, struct result *res);
void result__free(struct result *res);
double change_pct(uint64_t old, uint64_t new);

/* ---- print.c ---- */

/* The result in o->format on stdout. 0 or -ENOMEM. */
int result__print(const struct diff_opts *o, const struct result *res);

#endif
