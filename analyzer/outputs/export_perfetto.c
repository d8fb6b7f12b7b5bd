/* SPDX-License-Identifier: MIT */
/*
 * The Perfetto timeline (outputs.h; docs/exports.md, "Perfetto") of a
 * finished analysis (view.h): Chrome's JSON trace format, which
 * ui.perfetto.dev and chrome://tracing open.
 *
 * Per process (pid = its pid, or in a PID namespace its host_pid: unique in
 * the report, docs/report.md): metadata naming it; on its own lane (tid =
 * pid) a slice for its lifetime with one nested slice per exec'd image,
 * instants for its execs and forks, and a flow arrow from each fork to the
 * child; a "faults" counter per class, cumulative (timeline.h); and its
 * report.json entries as slices on "mappings N" lanes, each lane holding
 * slices that never overlap (interval partitioning: as few lanes as the
 * most entries live at once). Times are whole microseconds since the
 * recording's start (the earliest process start), rounded down, so that
 * slices that touch in nanoseconds still touch and never overlap.
 *
 * Written as it goes (no document tree): memory is the analysis's plus one
 * process's entry order.
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

struct span;
struct lane;

/* lanes of entries: tids from here up, one range for the whole trace so
 * that no lane shares a tid with a process or another process's lane */
#define LANE_TID_BASE 1000000000u

struct pw {
	FILE *f;
	struct analysis *a;
	uint64_t origin;   /* ns: ts 0 */
	int first;         /* no comma before the next event */
	uint32_t next_lane;
	/* one process's entries in order (entry_lanes), freed on the way out */
	struct span *sp;
	struct lane *heap;
	uint32_t *lane_of;
};

static void put_file(void *f, const char *s, size_t n)
{
	fwrite(s, 1, n, f);
}

/* A JSON string of NUL-terminated s (NULL: null), ASCII only: control
 * characters and non-ASCII as \u escapes, invalid UTF-8 as '?'. */
static void put_str(FILE *f, const char *s)
{
	vp_json_escape(s, VP_JSON_ASCII, put_file, f);
}

static uint64_t us(const struct pw *w, uint64_t t)
{
	return t > w->origin ? (t - w->origin) / 1000 : 0;
}

/* `{"ph":PH,"pid":PID,"tid":TID,` after the separator; the caller goes on. */
static void ev(struct pw *w, const char *ph, uint32_t pid, uint32_t tid)
{
	fputs(w->first ? "\n" : ",\n", w->f);
	w->first = 0;
	fprintf(w->f, "{\"ph\":\"%s\",\"pid\":%" PRIu32 ",\"tid\":%" PRIu32 ",", ph, pid, tid);
}

static void meta(struct pw *w, uint32_t pid, uint32_t tid, const char *what, const char *name)
{
	ev(w, "M", pid, tid);
	fprintf(w->f, "\"name\":\"%s\",\"args\":{\"name\":", what);
	put_str(w->f, name);
	fputs("}}", w->f);
}

static void meta_sort(struct pw *w, uint32_t pid, uint32_t tid, const char *what, uint32_t idx)
{
	ev(w, "M", pid, tid);
	fprintf(w->f, "\"name\":\"%s\",\"args\":{\"sort_index\":%" PRIu32 "}}", what, idx);
}

/* A complete slice [t0, t1) (t1 >= t0); args follow, the caller closes. */
static void slice(struct pw *w, uint32_t pid, uint32_t tid, uint64_t t0, uint64_t t1,
		  const char *cat, const char *name)
{
	ev(w, "X", pid, tid);
	uint64_t a = us(w, t0), b = us(w, t1 > t0 ? t1 : t0);
	fprintf(w->f, "\"ts\":%" PRIu64 ",\"dur\":%" PRIu64 ",\"cat\":\"%s\",\"name\":", a, b - a,
		cat);
	put_str(w->f, name);
}

static void faults_obj(struct pw *w, const uint64_t f[FC_N])
{
	if (!derive__measured(w->a)) {
		fputs("null", w->f);
		return;
	}
	uint64_t total = 0;
	putc('{', w->f);
	for (int c = 0; c < FC_N; c++) {
		fprintf(w->f, "\"%s\":%" PRIu64 ",", fclass_name[c], f[c]);
		total += f[c];
	}
	fprintf(w->f, "\"total\":%" PRIu64 "}", total);
}

static void size_text(char *out, size_t n, uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	double v = (double)bytes;
	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == (double)(uint64_t)v)
		snprintf(out, n, "%.0f %s", v, unit[u]);
	else
		snprintf(out, n, "%.1f %s", v, unit[u]);
}

static const char *proc_name(const struct proc *p, char *buf, size_t n)
{
	if (p->name)
		return p->name;
	if (p->exe)
		return vp_base_name(p->exe);
	snprintf(buf, n, "pid %" PRIu32, p->own_pid);
	return buf;
}

/* The process's argv as one line (title when it rewrote it). */
static void labels_text(const struct proc *p, char *out, size_t n)
{
	out[0] = 0;
	if (p->title) {
		snprintf(out, n, "%s", p->title);
		return;
	}
	size_t i, at = 0;
	json_t *v;
	json_array_foreach(p->argv, i, v) {
		const char *s = json_string_value(v);
		if (!s || at + 1 >= n)
			continue;
		int k = snprintf(out + at, n - at, "%s%s", at ? " " : "", s);
		if (k < 0)
			break;
		at += (size_t)k < n - at ? (size_t)k : n - at - 1;
	}
}

/* ---- the process's own lane: lifetime, images, execs, forks ---- */

/* The track of a process: its pid, unique in the report (host_pid in a PID
 * namespace: two containers may both have a pid 3). */
static uint32_t track(struct analysis *a, uint32_t key)
{
	const struct proc *p = model__find(a, key);
	return p ? p->host_pid : key;
}

static void proc_lane(struct pw *w, const struct proc *p, const char *name)
{
	FILE *f = w->f;
	uint64_t end = p->end_ns > p->start_ns ? p->end_ns : p->start_ns;
	uint32_t tp = p->host_pid;
	slice(w, tp, tp, p->start_ns, end, "process", name);
	fprintf(f, ",\"args\":{\"pid\":%" PRIu32 ",\"ppid\":%" PRIu32, p->own_pid,
		pidns__report_pid(w->a, p->ppid));
	if (pidns__shown(p))
		fprintf(f, ",\"host_pid\":%" PRIu32, p->host_pid);
	fputs(",\"exe\":", f);
	put_str(f, p->exe);
	fputs(",\"exit_code\":", f);
	if (p->exit_code >= 0)
		fprintf(f, "%" PRId64, p->exit_code);
	else
		fputs("null", f);
	fputs(",\"exit_signal\":", f);
	if (p->exit_signal >= 0)
		fprintf(f, "%" PRId64, p->exit_signal);
	else
		fputs("null", f);
	fputs(",\"faults\":", f);
	faults_obj(w, p->faults);
	fputs("}}", f);
	for (uint32_t k = 0; k < p->nex; k++) {
		const struct exec_ev *x = &p->ex[k];
		uint64_t t0 = x->t < p->start_ns ? p->start_ns : x->t > end ? end : x->t;
		uint64_t t1 = k + 1 < p->nex ? p->ex[k + 1].t : end;
		t1 = t1 < t0 ? t0 : t1 > end ? end : t1;
		slice(w, tp, tp, t0, t1, "image", x->path ? vp_base_name(x->path) : "?");
		fputs(",\"args\":{\"path\":", f);
		put_str(f, x->path);
		fputs("}}", f);
		ev(w, "i", tp, tp);
		fprintf(f, "\"ts\":%" PRIu64 ",\"s\":\"t\",\"cat\":\"exec\",\"name\":\"exec\","
			"\"args\":{\"time_ns\":%" PRIu64 ",\"path\":", us(w, t0), x->t);
		put_str(f, x->path);
		fputs(",\"argv\":", f);
		if (x->argv && json_dumpf(x->argv, f, JSON_COMPACT | JSON_ENSURE_ASCII))
			fputs("null", f); /* (a write error: ferror says so) */
		else if (!x->argv)
			fputs("[]", f);
		fputs("}}", f);
	}
	for (uint32_t k = 0; k < p->nkids; k++) {
		const struct child_ref *c = &p->kids[k];
		int m = derive__measured(w->a);
		uint32_t tc = track(w->a, c->child);
		ev(w, "i", tp, tp);
		fprintf(f, "\"ts\":%" PRIu64 ",\"s\":\"t\",\"cat\":\"fork\",\"name\":\"fork\","
			"\"args\":{\"parent\":%" PRIu32 ",\"child\":%" PRIu32 ",\"time_ns\":%" PRIu64,
			us(w, c->t), tp, tc, c->t);
		if (m)
			fprintf(f, ",\"cow_copy_parent\":%" PRIu64 ",\"cow_copy_child\":%" PRIu64 "}}",
				c->cow_parent, c->cow_child);
		else
			fputs(",\"cow_copy_parent\":null,\"cow_copy_child\":null}}", f);
		/* the arrow: from the parent's lifetime slice to the child's */
		ev(w, "s", tp, tp);
		fprintf(f, "\"ts\":%" PRIu64 ",\"id\":%" PRIu32 ",\"cat\":\"fork\",\"name\":\"fork\"}",
			us(w, c->t), tc);
		ev(w, "f", tc, tc);
		fprintf(f, "\"ts\":%" PRIu64 ",\"id\":%" PRIu32 ",\"bp\":\"e\",\"cat\":\"fork\","
			"\"name\":\"fork\"}", us(w, c->t), tc);
	}
}

/* ---- fault counters ---- */

static void counters(struct pw *w, const struct proc *p)
{
	const struct timeline *tl = p->tl;
	if (!tl || !derive__measured(w->a))
		return;
	uint64_t cum[FC_N] = { 0 };
	for (uint32_t k = 0; k <= tl->used; k++) {
		/* k == 0 first: every class at 0 at the start, then each bucket
		 * with faults, at its end (by then its faults had happened) */
		uint32_t b = k - 1;
		uint64_t t = tl->base;
		if (k) {
			int any = 0;
			for (int c = 0; c < FC_N; c++)
				if (tl->cnt[c] && tl->cnt[c][b]) {
					cum[c] += tl->cnt[c][b];
					any = 1;
				}
			if (!any)
				continue;
			t = timeline__bucket_end(tl, b);
		}
		ev(w, "C", p->host_pid, p->host_pid);
		fprintf(w->f, "\"ts\":%" PRIu64 ",\"name\":\"faults\",\"args\":{", us(w, t));
		int first = 1;
		for (int c = 0; c < FC_N; c++) {
			if (!tl->cnt[c])
				continue;
			fprintf(w->f, "%s\"%s\":%" PRIu64, first ? "" : ",", fclass_name[c], cum[c]);
			first = 0;
		}
		fputs("}}", w->f);
	}
}

/* ---- entries on lanes ---- */

struct span {
	uint64_t t0, t1;
	uint32_t id;
};

static int span_cmp(const void *x, const void *y)
{
	const struct span *a = x, *b = y;
	if (a->t0 != b->t0)
		return a->t0 < b->t0 ? -1 : 1;
	if (a->t1 != b->t1)
		return a->t1 < b->t1 ? -1 : 1;
	return a->id < b->id ? -1 : a->id > b->id;
}

/* A min-heap of lanes by the end of their last slice (then lane number). */
struct lane {
	uint64_t end;
	uint32_t n;
};

static int lane_less(const struct lane *a, const struct lane *b)
{
	return a->end < b->end || (a->end == b->end && a->n < b->n);
}

static void heap_down(struct lane *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n && lane_less(&h[l], &h[m]))
			m = l;
		if (r < n && lane_less(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		struct lane t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void heap_up(struct lane *h, uint32_t i)
{
	while (i && lane_less(&h[i], &h[(i - 1) / 2])) {
		struct lane t = h[i];
		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static void entry_slice(struct pw *w, const struct proc *p, const struct span *s, uint32_t tid)
{
	FILE *f = w->f;
	const struct vma *e = &p->v[s->id];
	const char *label = e->site < p->nsites ? p->sites[e->site].label : NULL;
	char size[32], name[600];
	size_text(size, sizeof(size), e->end - e->start);
	if (e->instances > 1)
		snprintf(name, sizeof(name), "%s %s x%" PRIu32, label ? label : vk_name[e->kind], size,
			 e->instances);
	else
		snprintf(name, sizeof(name), "%s %s", label ? label : vk_name[e->kind], size);
	char prot[4] = { (e->prot & PROT_READ) ? 'r' : '-', (e->prot & PROT_WRITE) ? 'w' : '-',
			 (e->prot & PROT_EXEC) ? 'x' : '-', 0 };
	slice(w, p->host_pid, tid, s->t0, s->t1, "vma", name);
	fprintf(f, ",\"args\":{\"id\":%" PRIu32 ",\"site\":%" PRIu32 ",\"label\":", s->id, e->site);
	put_str(f, label);
	fprintf(f, ",\"kind\":\"%s\",\"origin\":\"%s\",\"prot\":\"%s%s\",\"path\":",
		vk_name[e->kind], vo_name[e->origin], prot, e->shared ? "s" : "p");
	put_str(f, e->path);
	fprintf(f, ",\"start\":\"0x%" PRIx64 "\",\"bytes\":%" PRIu64 ",\"instances\":%" PRIu32
		",\"valid_from_ns\":%" PRIu64 ",\"destroyed_ns\":", e->start, e->end - e->start,
		e->instances, e->valid_from);
	if (e->last_destroyed_ns != T_NEVER)
		fprintf(f, "%" PRIu64, e->last_destroyed_ns);
	else
		fputs("null", f);
	fputs(",\"ended_by\":", f);
	put_str(f, e->last_ended_by ? ve_name[e->last_ended_by] : NULL);
	fputs(",\"faults\":", f);
	faults_obj(w, e->faults);
	fputs(",\"pages_allocated\":", f);
	if (derive__measured(w->a))
		fprintf(f, "%" PRIu64, e->pages);
	else
		fputs("null", f);
	fputs("}}", f);
}

static void entry_lanes(struct pw *w, const struct proc *p)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nv; i++)
		n += !p->v[i].folded_into;
	if (!n)
		return;
	struct span *sp = w->sp = model__alloc(n * sizeof(*sp));
	struct lane *heap = w->heap = model__alloc(n * sizeof(*heap));
	uint32_t *lane_of = w->lane_of = model__alloc(n * sizeof(*lane_of));
	n = 0;
	for (uint32_t i = 0; i < p->nv; i++) {
		const struct vma *e = &p->v[i];
		if (e->folded_into)
			continue;
		uint64_t t1 = e->last_destroyed_ns != T_NEVER ? e->last_destroyed_ns : p->end_ns;
		sp[n++] = (struct span){ e->valid_from, t1 > e->valid_from ? t1 : e->valid_from, i };
	}
	qsort(sp, n, sizeof(*sp), span_cmp);
	/* earliest start first, each to the lane that came free first (or a
	 * new one): the fewest lanes, and no two slices of a lane overlap */
	uint32_t nh = 0, lanes = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (nh && heap[0].end <= sp[i].t0) {
			lane_of[i] = heap[0].n;
			heap[0].end = sp[i].t1;
			heap_down(heap, nh, 0);
		} else {
			lane_of[i] = lanes;
			heap[nh] = (struct lane){ sp[i].t1, lanes++ };
			heap_up(heap, nh++);
		}
	}
	uint32_t tid0 = w->next_lane;
	w->next_lane += lanes;
	for (uint32_t l = 0; l < lanes; l++) {
		char nm[32];
		snprintf(nm, sizeof(nm), "mappings %" PRIu32, l + 1);
		meta(w, p->host_pid, LANE_TID_BASE + tid0 + l, "thread_name", nm);
		meta_sort(w, p->host_pid, LANE_TID_BASE + tid0 + l, "thread_sort_index", l + 1);
	}
	for (uint32_t i = 0; i < n; i++)
		entry_slice(w, p, &sp[i], LANE_TID_BASE + tid0 + lane_of[i]);
	free(sp);
	free(heap);
	free(lane_of);
	w->sp = NULL;
	w->heap = NULL;
	w->lane_of = NULL;
}

static void write_trace(struct pw *w)
{
	struct analysis *a = w->a;
	FILE *f = w->f;
	int have = 0;
	for (uint32_t i = 0; i < a->nprocs; i++)
		if (a->procs[i]->start_ns && (!have || a->procs[i]->start_ns < w->origin)) {
			w->origin = a->procs[i]->start_ns;
			have = 1;
		}
	fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"tool\":\"vmaprof\",\"version\":\""
	      VMAPROF_VERSION "\",\"origin_ns\":", f);
	fprintf(f, "%" PRIu64 ",\"command\":", w->origin);
	json_t *cmd = json_object_get(a->session, "command");
	if (!json_is_array(cmd) || json_dumpf(cmd, f, JSON_COMPACT | JSON_ENSURE_ASCII))
		fputs("[]", f);
	fputs("},\"traceEvents\":[", f);
	w->first = 1;
	for (uint32_t i = 0; i < a->nprocs && !ferror(f); i++) {
		const struct proc *p = a->procs[i];
		char pb[32], lb[1024], tn[300];
		const char *name = proc_name(p, pb, sizeof(pb));
		uint32_t tp = p->host_pid;
		meta(w, tp, tp, "process_name", name);
		labels_text(p, lb, sizeof(lb));
		if (lb[0]) {
			ev(w, "M", tp, tp);
			fputs("\"name\":\"process_labels\",\"args\":{\"labels\":", f);
			put_str(f, lb);
			fputs("}}", f);
		}
		meta_sort(w, tp, tp, "process_sort_index", i);
		snprintf(tn, sizeof(tn), "%s %" PRIu32, name, p->own_pid);
		meta(w, tp, tp, "thread_name", tn);
		meta_sort(w, tp, tp, "thread_sort_index", 0);
		proc_lane(w, p, tn);
		counters(w, p);
		entry_lanes(w, p);
	}
	fputs("\n]}\n", f);
}

static void pw_free(void *state)
{
	struct pw *w = state;
	free(w->sp);
	free(w->heap);
	free(w->lane_of);
}

static int write_perfetto(struct analysis *a, FILE *f, size_t json_flags, void *state)
{
	struct pw *w = state;
	w->f = f;
	w->a = a;
	write_trace(w);
	return 0;
}

const struct writer perfetto_writer = { sizeof(struct pw), write_perfetto, pw_free };
