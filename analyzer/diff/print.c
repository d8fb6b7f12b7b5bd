/* SPDX-License-Identifier: MIT */
/*
 * diff, step 4 of 4: print. The result compare.c made -> stdout as text
 * (one line per change, at most ~100 columns), markdown (for a CI comment)
 * or json (for scripts); the formats are described in diff.h. Output is
 * deterministic: sorted, no colours, no times.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff_int.h"

#define LINE_MAX_COLS 100
#define ROLE_COLS 44
#define ROLE_MIN_COLS 24
#define SITE_COLS 34
#define MD_MAX_ROWS 50
#define MD_ROLE_COLS 60 /* a markdown table wraps in its cell: roles keep more */

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

/* A site's column, "label (kind)" (pair__site), cut to `width`. A label
 * is a function's name, cut at its end (its head names it); or, where the
 * symbolizer had no name for the frame, "module+0xOFFSET < caller" with
 * the nearest caller that has one (analyzer/core/sites.c, as the summary
 * shows it): there the caller is what identifies the site, so the frame
 * gives up its head (the module's name) and then the whole of it first:
 * "...so.3.1.2+0xd860f < rb_str_modify_expand (heap)" (and "... < rb_str_...",
 * cut at its end as any other, where even the caller does not fit). */
static void fit_site(char *buf, size_t cap, const struct pair *p, size_t width)
{
	char site[512], tail[sizeof(site) - 8];
	const char *label = pair__label(p), *lt = label ? strstr(label, " < ") : NULL;
	size_t fl = lt ? (size_t)(lt - label) : 0; /* the frame's length */
	pair__site(p, site, sizeof(site));
	if (strlen(site) <= width || !pair__key(p) || !lt || !memmem(label, fl, "+0x", 3) ||
	    fl >= strlen(site) || strncmp(site, label, fl)) {
		fit(buf, cap, site, width, 0);
		return;
	}
	/* the caller and the kind: what pair__site put after the frame */
	snprintf(tail, sizeof(tail), "%.*s", (int)(sizeof(tail) - 1), site + fl);
	size_t tl = strlen(tail), room = width > tl ? width - tl : 0;
	if (room >= 8 && room < cap) { /* "..." and the frame's last 5 or more */
		const char *t = label + fl - (room - 3);
		/* from a whole character, and not a dot after "..." */
		while (t < label + fl && (*t == '.' || ((unsigned char)*t & 0xc0) == 0x80))
			t++;
		snprintf(buf, cap, "...%.*s", (int)(label + fl - t), t);
		snprintf(buf + strlen(buf), cap - strlen(buf), "%s", tail);
		return;
	}
	snprintf(site, sizeof(site), "...%s", tail);
	fit(buf, cap, site, width, 0);
}

static void verdict(const struct diff_opts *o, const struct result *res, char *buf, size_t len)
{
	char floor[64] = "", changes[128], bounds[64];
	if (o->min_pages && o->min_change > 0)
		snprintf(floor, sizeof(floor), " of %" PRIu64 " pages and %g%% or more", o->min_pages,
			 o->min_change);
	else if (o->min_pages)
		snprintf(floor, sizeof(floor), " of %" PRIu64 " pages or more", o->min_pages);
	else if (o->min_change > 0)
		snprintf(floor, sizeof(floor), " of %g%% or more", o->min_change);
	if (res->n_rows)
		snprintf(changes, sizeof(changes), "%zu change%s%s", res->n_rows,
			 res->n_rows == 1 ? "" : "s", floor);
	else
		snprintf(changes, sizeof(changes), "no change%s", floor);
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

/* What of a scope's change moved in from (> 0) or out to (< 0) other
 * sites or processes of its family (compare.c, result__settle). */
static int64_t moved(const struct pair *p, enum metric m)
{
	int64_t d = p->b.v[m] >= p->a.v[m] ? (int64_t)(p->b.v[m] - p->a.v[m]) :
					      -(int64_t)(p->a.v[m] - p->b.v[m]);
	return d - p->own[m];
}

/* The new figure a bound was checked on: old plus the own change. */
static uint64_t own_new(const struct pair *p, enum metric m)
{
	int64_t o = p->own[m];
	if (o >= 0)
		return p->a.v[m] + (uint64_t)o;
	return (uint64_t)-o > p->a.v[m] ? 0 : p->a.v[m] - (uint64_t)-o;
}

/* ", new Y" of a violation, where Y is the figure its bound was checked
 * on: what the report says, or where some of it moved in from the role's
 * family (not counted, docs/diff.md "Moves") ", new N less M moved in from
 * its family = Y". */
static void checked_new(char *buf, size_t len, uint64_t new, int64_t in, uint64_t checked)
{
	if (in > 0)
		snprintf(buf, len, ", new %" PRIu64 " less %" PRId64 " moved in from its family = %"
			 PRIu64, new, in, checked);
	else
		snprintf(buf, len, ", new %" PRIu64, checked);
}

/* "EXCEEDED <what> at <role> (<procs>old X, new Y)" */
static void violation__head(char *head, size_t hlen, const char *what, const char *role,
			    const char *procs, const struct pair *p, enum metric m)
{
	char nw[128];
	checked_new(nw, sizeof(nw), p->b.v[m], moved(p, m), own_new(p, m));
	snprintf(head, hlen, "EXCEEDED %s at %s (%sold %" PRIu64 "%s%s)", what, role, procs,
		 p->a.v[m], nw, p->a.v[m] ? "" : "; base is 0, so any increase exceeds");
}

/* The EXCEEDED line of a violation, and (in *most, "" if none) the site
 * that grew the most there: "ROLE  SITE  OLD -> NEW (+DELTA)". */
static void violation__text(const struct diff_opts *o, const struct violation *v, char *head,
			    size_t hlen, char *most, size_t mlen)
{
	const struct diff_bound *bd = &o->bounds[v->bound];
	enum metric m = bd->metric;
	const struct pair *p = v->at;
	char role[LINE_MAX_COLS + 8], what[64] = "", procs[48] = "";
	if (v->ws) { /* a write site: its own line names it (writer__text) */
		const struct wpair *w = v->ws;
		/* checked on its own change, which is never above its change
		 * (writes.c): the change less what moved in */
		uint64_t nw = w->own >= 0 ? w->a + (uint64_t)w->own : w->a;
		char nws[128];
		checked_new(nws, sizeof(nws), w->b, (int64_t)w->b - (int64_t)nw, nw);
		if (!w->a)
			snprintf(what, sizeof(what), "%s from 0 > %g%%", metric_name(m), bd->pct);
		else
			snprintf(what, sizeof(what), "%s %+.1f%% > %g%%", metric_name(m),
				 change_pct(w->a, nw), bd->pct);
		snprintf(head, hlen, "EXCEEDED %s at %s (old %" PRIu64 "%s)", what, "", w->a, nws);
		size_t rest = strlen(head);
		fit(role, sizeof(role), p->role, LINE_MAX_COLS > rest + ROLE_MIN_COLS ?
		    LINE_MAX_COLS - rest : ROLE_MIN_COLS, 1);
		snprintf(head, hlen, "EXCEEDED %s at %s (old %" PRIu64 "%s)", what, role, w->a, nws);
		*most = 0;
		return;
	}
	if (p->procs_a > 1 || p->procs_b > 1) /* a role of several processes, summed */
		snprintf(procs, sizeof(procs), p->procs_a == p->procs_b ? "%" PRIu64 " processes, " :
			 "%" PRIu64 " -> %" PRIu64 " processes, ", p->procs_a ? p->procs_a : p->procs_b,
			 p->procs_b);
	if (!p->a.v[m])
		snprintf(what, sizeof(what), "%s from 0 > %g%%", metric_name(m), bd->pct);
	else
		snprintf(what, sizeof(what), "%s %+.1f%% > %g%%", metric_name(m),
			 change_pct(p->a.v[m], own_new(p, m)), bd->pct);
	/* the role gets what the line leaves, ROLE_MIN_COLS at least */
	violation__head(head, hlen, what, "", procs, p, m);
	size_t rest = strlen(head);
	fit(role, sizeof(role), p->role, LINE_MAX_COLS > rest + ROLE_MIN_COLS ?
	    LINE_MAX_COLS - rest : ROLE_MIN_COLS, 1);
	violation__head(head, hlen, what, role, procs, p, m);
	*most = 0;
	if (v->most) {
		const struct pair *g = v->most;
		char s[LINE_MAX_COLS + 8], figs[128], tail[LINE_MAX_COLS + 136], mv[48] = "";
		/* the growth that chose it: its own (most_grown), not what
		 * moved in from its family */
		int64_t in = moved(g, m);
		if (in)
			snprintf(mv, sizeof(mv), " own, %" PRIu64 " moved %s",
				 in > 0 ? (uint64_t)in : (uint64_t)-in, in > 0 ? "in" : "out");
		snprintf(figs, sizeof(figs), "  %" PRIu64 " -> %" PRIu64 " (+%" PRId64 "%s)",
			 g->a.v[m], g->b.v[m], g->own[m], mv);
		/* the site: SITE_COLS, or what the line leaves after the role
		 * (given up to ROLE_MIN_COLS first) where that is more */
		size_t rl = strlen(g->role) < ROLE_MIN_COLS ? strlen(g->role) : ROLE_MIN_COLS;
		size_t used = 15 + rl + 2 + strlen(figs), sw = SITE_COLS;
		if (LINE_MAX_COLS > used + SITE_COLS)
			sw = LINE_MAX_COLS - used;
		fit_site(s, sizeof(s), g, sw);
		snprintf(tail, sizeof(tail), "  %s%s", s, figs);
		/* "  most growth: " (15) goes before it in the text output */
		size_t rest = 15 + strlen(tail), w = LINE_MAX_COLS > rest ? LINE_MAX_COLS - rest : 0;
		fit(role, sizeof(role), g->role, w < ROLE_MIN_COLS ? ROLE_MIN_COLS :
		    w > ROLE_COLS ? ROLE_COLS : w, 1);
		snprintf(most, mlen, "%s%s", role, tail);
	}
}

/* The write sites a violation names: a write_site bound's own, else the
 * ones that grew most at a cow_copy bound's role. */
static size_t writers(const struct violation *v, const struct wpair **out)
{
	if (v->ws) {
		out[0] = v->ws;
		return 1;
	}
	for (size_t i = 0; i < v->n_by; i++)
		out[i] = v->by[i];
	return v->n_by;
}

/* "LABEL  OLD -> NEW (+OWN)" of a write site, or "(+OWN own, N moved in)"
 * where part of its change moved within its family (writes.c). */
static void writer__text(const struct wpair *w, char *buf, size_t len)
{
	char label[LINE_MAX_COLS], mv[48] = "";
	int64_t d = w->b >= w->a ? (int64_t)(w->b - w->a) : -(int64_t)(w->a - w->b);
	int64_t in = d - w->own;
	fit(label, sizeof(label), w->label, 56, 0);
	if (in)
		snprintf(mv, sizeof(mv), " own, %" PRIu64 " moved %s",
			 in > 0 ? (uint64_t)in : (uint64_t)-in, in > 0 ? "in" : "out");
	snprintf(buf, len, "%s  %" PRIu64 " -> %" PRIu64 " (%+" PRId64 "%s)", label, w->a, w->b,
		 w->own, mv);
}

/* Why a cow_copy violation names no write site: one report has none. */
static const char *writers_missing(const struct diff_opts *o, const struct result *res,
				   const struct violation *v)
{
	if (v->ws || o->bounds[v->bound].metric != FC_COW_COPY || res->writes)
		return NULL;
	return res->writes_missing;
}

/* The tail of a change line: "METRIC  OLD -> NEW  CHANGE". */
static void row__tail(const struct row *r, int wm, char *buf, size_t len)
{
	const struct pair *p = r->p;
	char pct[32];
	format_pct(pct, sizeof(pct), p->a.v[r->metric], p->b.v[r->metric]);
	int64_t in = moved(p, r->metric);
	char mv[48] = "";
	if (in)
		snprintf(mv, sizeof(mv), " (%" PRIu64 " moved %s)",
			 in > 0 ? (uint64_t)in : (uint64_t)-in, in > 0 ? "in" : "out");
	snprintf(buf, len, "%-*s  %" PRIu64 " -> %" PRIu64 "  %s%s", wm, metric_name(r->metric),
		 p->a.v[r->metric], p->b.v[r->metric], pct, mv);
}

/* The widths of the role and site columns, one for the whole table (a
 * name cut at one width on one line and another on the next reads as two
 * names): as wide as the widest, at most ROLE_COLS and SITE_COLS (the
 * site more where the line has room to spare), and
 * narrower where the longest line would pass LINE_MAX_COLS. */
static void text__widths(const struct result *res, size_t *wr, size_t *ws, size_t *wm)
{
	size_t wt = 0;
	*wr = *ws = *wm = 1;
	for (size_t i = 0; i < res->n_rows; i++) {
		size_t l = strlen(metric_name(res->rows[i].metric));
		*wm = l > *wm ? l : *wm;
	}
	for (size_t i = 0; i < res->n_rows; i++) {
		char site[SITE_COLS * 4], tail[128];
		size_t l = strlen(res->rows[i].p->role);
		*wr = l > *wr ? l : *wr;
		pair__site(res->rows[i].p, site, sizeof(site));
		l = strlen(site);
		*ws = l > *ws ? l : *ws;
		row__tail(&res->rows[i], (int)*wm, tail, sizeof(tail));
		wt = strlen(tail) > wt ? strlen(tail) : wt;
	}
	size_t ws_all = *ws < LINE_MAX_COLS ? *ws : LINE_MAX_COLS;
	*wr = *wr < ROLE_COLS ? *wr : ROLE_COLS;
	*ws = *ws < SITE_COLS ? *ws : SITE_COLS;
	/* too wide: the role gives up its head first (its tail says most),
	 * down to ROLE_MIN_COLS, then the site its tail */
	size_t room = LINE_MAX_COLS > wt + 4 ? LINE_MAX_COLS - wt - 4 : 0;
	if (*ws + *wr > room)
		*wr = room > *ws + ROLE_MIN_COLS ? room - *ws : ROLE_MIN_COLS;
	if (*ws + *wr > room)
		*ws = room > *wr + 12 ? room - *wr : 12;
	/* room to spare: a longer site name gets it (cut, it may lose what
	 * names it) */
	if (*ws < ws_all && *ws + *wr < room)
		*ws = ws_all < room - *wr ? ws_all : room - *wr;
}

static void print_text(const struct diff_opts *o, const struct result *res)
{
	size_t wr, ws, wm;
	char line[512];
	text__widths(res, &wr, &ws, &wm);
	if (res->unmeasured)
		printf("note: %s has no fault figures (recorded without the kernel collector); "
		       "comparing mappings only\n", res->unmeasured_file);
	for_each_lonely(res, text_lonely, NULL);
	for (size_t i = 0; i < res->n_rows; i++) {
		const struct row *r = &res->rows[i];
		char s[LINE_MAX_COLS + 8], role[ROLE_COLS + 8], tail[128];
		row__tail(r, (int)wm, tail, sizeof(tail));
		fit(role, sizeof(role), r->p->role, wr, 1);
		fit_site(s, sizeof(s), r->p, ws);
		printf("%-*s  %-*s  %s\n", (int)wr, role, (int)ws, s, tail);
	}
	for (size_t i = 0; i < res->n_over; i++) {
		char most[256];
		violation__text(o, &res->over[i], line, sizeof(line), most, sizeof(most));
		printf("%s\n", line);
		if (*most)
			printf("  most growth: %s\n", most);
		const struct wpair *ws[WRITERS_MAX];
		for (size_t k = 0, n = writers(&res->over[i], ws); k < n; k++) {
			writer__text(ws[k], most, sizeof(most));
			printf("  written by: %s\n", most);
		}
		const char *miss = writers_missing(o, res, &res->over[i]);
		if (miss)
			printf("  written by: not compared (%s has no write sites)\n", miss);
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
			char s[SITE_COLS + 8], role[MD_ROLE_COLS + 8], pct[32];
			fit_site(s, sizeof(s), p, SITE_COLS + 6);
			fit(role, sizeof(role), p->role, MD_ROLE_COLS, 1);
			format_pct(pct, sizeof(pct), p->a.v[r->metric], p->b.v[r->metric]);
			int64_t in = moved(p, r->metric);
			char mv[48] = "";
			if (in) /* as the text line says it (row__tail) */
				snprintf(mv, sizeof(mv), " (%" PRIu64 " moved %s)",
					 in > 0 ? (uint64_t)in : (uint64_t)-in, in > 0 ? "in" : "out");
			fputs("| ", stdout);
			md_cell(role);
			fputs(" | ", stdout);
			md_cell(s);
			printf(" | %s | %" PRIu64 " | %" PRIu64 " | %s%s |\n", metric_name(r->metric),
			       p->a.v[r->metric], p->b.v[r->metric], pct, mv);
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
		const struct wpair *ws[WRITERS_MAX];
		for (size_t k = 0, n = writers(&res->over[i], ws); k < n; k++) {
			writer__text(ws[k], most, sizeof(most));
			fputs(k ? "; " : ", written by: ", stdout);
			md_cell(most);
		}
		const char *miss = writers_missing(o, res, &res->over[i]);
		if (miss) {
			fputs(", written by: not compared (", stdout);
			md_cell(miss);
			fputs(" has no write sites)", stdout);
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
	json_object_set_new(o, "moved", json_integer(moved(p, m)));
	return o;
}

/* A write site: {role (unless NULL), label, old, new, change_pct, moved}. */
static json_t *json_writer(const char *role, const struct wpair *w)
{
	json_t *o = json_object();
	int64_t d = w->b >= w->a ? (int64_t)(w->b - w->a) : -(int64_t)(w->a - w->b);
	if (role)
		json_object_set_new(o, "role", json_string(role));
	json_object_set_new(o, "label", json_string(w->label));
	json_object_set_new(o, "old", json_count(w->a));
	json_object_set_new(o, "new", json_count(w->b));
	json_object_set_new(o, "change_pct", w->a ? json_real(round1(change_pct(w->a, w->b))) :
			    json_null());
	json_object_set_new(o, "moved", json_integer(d - w->own));
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
	json_object_set_new(doc, "min_change", json_real(o->min_change));
	snprintf(line, sizeof(line), "%s has no fault figures (recorded without the kernel "
		 "collector); comparing mappings only", res->unmeasured_file ? res->unmeasured_file : "");
	json_object_set_new(doc, "note", res->unmeasured ? json_string(line) : json_null());
	/* write sites compared: both reports have them (docs/diff.md) */
	json_object_set_new(doc, "write_sites", json_boolean(res->writes));
	for (size_t bd = 0; bd < o->n_bounds; bd++) {
		json_t *b = json_object(), *ex = json_array();
		json_object_set_new(b, "metric", json_string(metric_name(o->bounds[bd].metric)));
		json_object_set_new(b, "max_increase_pct", json_real(o->bounds[bd].pct));
		for (size_t i = 0; i < res->n_over; i++) {
			const struct violation *v = &res->over[i];
			if (v->bound != bd)
				continue;
			json_t *e = v->ws ? json_writer(v->at->role, v->ws) :
					json_scope(v->at, o->bounds[bd].metric, 0);
			json_object_del(e, "label");
			json_object_del(e, "kind");
			json_object_del(e, "key");
			/* the figures the bound was checked on: old and new less what
			 * moved in (moved), as the text line says them */
			uint64_t a = v->ws ? v->ws->a : v->at->a.v[o->bounds[bd].metric];
			uint64_t c = v->ws ? (v->ws->own >= 0 ? a + (uint64_t)v->ws->own : a) :
					 own_new(v->at, o->bounds[bd].metric);
			json_object_set_new(e, "checked_new", json_count(c));
			json_object_set_new(e, "change_pct", a ? json_real(round1(change_pct(a, c))) :
					    json_null());
			/* the whole report (role "*") counts no processes of its own */
			json_object_set_new(e, "processes_old", v->at->x ? json_count(v->at->procs_a) :
					    json_null());
			json_object_set_new(e, "processes_new", v->at->y ? json_count(v->at->procs_b) :
					    json_null());
			json_object_set_new(e, "most_grown", v->most ?
					    json_scope(v->most, o->bounds[bd].metric, 0) : json_null());
			/* the write sites it names (text: "written by:") */
			const struct wpair *ws[WRITERS_MAX];
			json_t *by = json_array();
			for (size_t k = 0, nw = writers(v, ws); k < nw; k++)
				json_array_append_new(by, json_writer(NULL, ws[k]));
			json_object_set_new(e, "written_by", by);
			json_array_append_new(ex, e);
		}
		json_object_set_new(b, "exceeded", ex);
		json_array_append_new(bounds, b);
	}
	for (size_t i = 0; i < res->n_rows; i++)
		json_array_append_new(changes, json_scope(res->rows[i].p, res->rows[i].metric, 1));
	for_each_lonely(res, json_lonely, only);
	/* sites whose change moved (in part) to or from others: at least
	 * --min-pages of it */
	json_t *mv = json_array();
	for (size_t k = 1; k < res->n_pairs; k++) {
		const struct pair *p = &res->pairs[k];
		for (int m = 0; pair__key(p) && m < M_NR; m++) {
			int64_t in = moved(p, m);
			uint64_t u = in < 0 ? (uint64_t)-in : (uint64_t)in;
			if (m == M_LIVE_BYTES || m == M_BYTES_MAPPED)
				u /= res->page_size ? res->page_size : 4096;
			if (in && u >= (o->min_pages ? o->min_pages : 1))
				json_array_append_new(mv, json_scope(p, m, 1));
		}
	}
	json_object_set_new(doc, "bounds", bounds);
	json_object_set_new(doc, "changes", changes);
	json_object_set_new(doc, "only_in_base", only[0]);
	json_object_set_new(doc, "only_in_new", only[1]);
	json_object_set_new(doc, "moved", mv);
	char *text = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	json_decref(doc);
	if (!text)
		return -ENOMEM;
	printf("%s\n", text);
	free(text);
	return 0;
}

int result__print(const struct diff_opts *o, const struct result *res)
{
	if (o->format == DIFF_JSON)
		return print_json(o, res);
	if (o->format == DIFF_MARKDOWN)
		print_markdown(o, res);
	else
		print_text(o, res);
	return 0;
}
