/* SPDX-License-Identifier: MIT */
/* The human summary `record` prints and `report --format text` shows,
 * from a finished analysis (view.h): per process the largest costs and who
 * mapped them, per fork what it un-shared; what was not measured and why. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "derive.h"
#include "view.h"
#include "writer.h"

static void human_bytes(uint64_t b, char *out, size_t n)
{
	if (b >= (1ull << 30))
		snprintf(out, n, "%.1f GiB", (double)b / (1ull << 30));
	else if (b >= (1ull << 20))
		snprintf(out, n, "%.1f MiB", (double)b / (1ull << 20));
	else if (b >= 1024)
		snprintf(out, n, "%.1f KiB", (double)b / 1024);
	else
		snprintf(out, n, "%" PRIu64 " B", b);
}

static uint64_t total(const uint64_t f[FC_N])
{
	uint64_t t = 0;
	for (int c = 0; c < FC_N; c++)
		t += f[c];
	return t;
}

/* One line of the summary, cut to 100 columns (an ellipsis says so). */
static void line_out(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_out(FILE *out, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (n > 100) {
		/* cut on a character boundary (labels may be UTF-8) */
		int cut = 97;
		while (cut > 0 && ((unsigned char)buf[cut] & 0xc0) == 0x80)
			cut--;
		memcpy(buf + cut, "...", 4);
	}
	fprintf(out, "%s\n", buf);
}

/* s cut to at most `width` bytes, on a character boundary, with "..." at
 * the end when cut: a title (nginx's "master process" and its whole
 * command line) gives way to the pid and counts on its line. */
static const char *fit(const char *s, size_t width, char *buf, size_t n)
{
	size_t len = strlen(s);
	if (width < 4)
		width = 4;
	if (len <= width || n < 4) {
		snprintf(buf, n, "%s", s);
		return buf;
	}
	size_t cut = width - 3 < n - 4 ? width - 3 : n - 4;
	while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
		cut--;
	memcpy(buf, s, cut);
	memcpy(buf + cut, "...", 4);
	return buf;
}

/* Call sites summed over one or more processes (processes of one command
 * are grouped), by label: the stacks that reach one culprit function by
 * different paths are one row (report.json keeps them apart). */
struct agg {
	const char *key, *label, *where; /* key: the label */
	uint64_t faults[FC_N], mappings, bytes_mapped;
};

struct aggs {
	struct agg *v;
	uint32_t n, cap;
	struct u64map by_key; /* hash of key (probed) -> index + 1 */
};

static void aggs_add(struct aggs *g, const struct csite *s)
{
	if (s->internal)
		return; /* the tool's own cost, not the program's answer */
	uint64_t h = vp_hash_str(s->label);
	uintptr_t i;
	for (;; h = h + 1 ? h + 1 : 1) {
		i = (uintptr_t)u64map__get(&g->by_key, h);
		if (!i || !strcmp(g->v[i - 1].key, s->label))
			break;
	}
	if (!i) {
		g->v = model__grow(g->v, &g->cap, g->n + 1, sizeof(*g->v));
		memset(&g->v[g->n], 0, sizeof(g->v[g->n]));
		g->v[g->n].key = s->label;
		g->v[g->n].label = s->label;
		g->v[g->n].where = s->where;
		i = ++g->n;
		if (u64map__put(&g->by_key, h, (void *)i))
			model__oom();
	}
	struct agg *x = &g->v[i - 1];
	for (int c = 0; c < FC_N; c++)
		x->faults[c] += s->faults[c];
	x->mappings += s->mappings;
	x->bytes_mapped += s->bytes_mapped;
}

/* The sites with most faults of class `cls` (at least `min`): at most 3. */
static void top_sites(const struct analysis *a, const struct aggs *g, int cls, uint64_t min,
		      int *header, FILE *out)
{
	uint32_t best[3] = { UINT32_MAX, UINT32_MAX, UINT32_MAX };
	for (uint32_t i = 0; i < g->n; i++) {
		if (g->v[i].faults[cls] < min)
			continue;
		for (int k = 0; k < 3; k++) {
			if (best[k] == UINT32_MAX || g->v[i].faults[cls] > g->v[best[k]].faults[cls]) {
				memmove(best + k + 1, best + k, (size_t)(2 - k) * sizeof(*best));
				best[k] = i;
				break;
			}
		}
	}
	for (int k = 0; k < 3 && best[k] != UINT32_MAX; k++) {
		const struct agg *x = &g->v[best[k]];
		char fb[32], mb[32];
		if (!*header) {
			line_out(out, "    %-12s %8s %10s %10s %5s  %s", "class", "faults", "faulted",
				 "mapped", "maps", "call site");
			*header = 1;
		}
		human_bytes(x->faults[cls] * a->page_size, fb, sizeof(fb));
		human_bytes(x->bytes_mapped, mb, sizeof(mb));
		line_out(out, "    %-12s %8" PRIu64 " %10s %10s %5" PRIu64 "  %s%s%s%s", fclass_name[cls],
			 x->faults[cls], fb, mb, x->mappings, x->label, x->where ? " (" : "",
			 x->where ? x->where : "", x->where ? ")" : "");
	}
}

/* Without the kernel collector: the largest mappings the shim saw. */
static void top_by_size(struct analysis *a, const struct proc *p, FILE *out)
{
	uint32_t best[3] = { UINT32_MAX, UINT32_MAX, UINT32_MAX };
	for (uint32_t i = 0; i < p->nv; i++) {
		const struct vma *e = &p->v[i];
		if (e->internal || e->origin == VO_INITIAL || e->origin == VO_EXEC ||
		    e->origin == VO_INHERITED || e->piece_of)
			continue;
		for (int k = 0; k < 3; k++) {
			const struct vma *b = best[k] == UINT32_MAX ? NULL : &p->v[best[k]];
			if (!b || e->end - e->start > b->end - b->start) {
				memmove(best + k + 1, best + k, (size_t)(2 - k) * sizeof(*best));
				best[k] = i;
				break;
			}
		}
	}
	if (best[0] != UINT32_MAX)
		fprintf(out, "    largest mappings it made:\n    %9s  %-5s  %s\n", "size", "kind",
			"mapped by");
	for (int k = 0; k < 3 && best[k] != UINT32_MAX; k++) {
		const struct vma *e = &p->v[best[k]];
		char sz[32];
		human_bytes(e->end - e->start, sz, sizeof(sz));
		const struct csite *st = &p->sites[e->site];
		line_out(out, "    %9s  %-5s  %s%s%s%s", sz, vk_name[e->kind], st->label,
			 st->where ? " (" : "", st->where ? st->where : "", st->where ? ")" : "");
	}
}

/* "N process(es) without call stacks (no shim trace): 1 static binary
 * (no dynamic loader), ..." -- reasons counted, most frequent first. */
/* record -p (docs/attach.md): the window, and what it cannot show. */
static void attach_summary(struct analysis *a, FILE *out)
{
	json_t *at = json_object_get(a->session, "attach"), *v;
	json_t *s0 = json_object_get(at, "attached_ns"), *s1 = json_object_get(a->session, "end_ns");
	const char *by = json_string_value(json_object_get(at, "ended_by"));
	size_t i;
	fprintf(out, "  attached to a running process: pid");
	json_array_foreach(json_object_get(at, "pids"), i, v)
		fprintf(out, "%s%" PRId64, i ? "," : " ", (int64_t)json_integer_value(v));
	if (json_is_integer(s0) && json_is_integer(s1) && json_integer_value(s0) >= 0 &&
	    json_integer_value(s1) >= json_integer_value(s0))
		fprintf(out, " for %.1f s",
			(double)((uint64_t)json_integer_value(s1) - (uint64_t)json_integer_value(s0)) /
				1e9);
	if (by)
		fprintf(out, " (ended by %s)", !strcmp(by, "exit") ? "their exit" : by);
	fprintf(out, "; %zu process(es) left running\n",
		json_array_size(json_object_get(a->session, "running_at_end")));
	json_t *ks = json_object_get(json_object_get(json_object_get(a->session, "collectors"),
						    "bpf"), "kernel_stack_bytes");
	if (json_integer_value(ks) > 0) /* kernel stacks (bpf/README.md) */
		fprintf(out, "  mapping stacks are not available for mappings made before the "
			"attach (`initial`);\n  later ones have the kernel collector's (no shim "
			"in a running process); kernel\n  counters are deltas over the attach "
			"window\n");
	else
		fprintf(out, "  mapping stacks are not available for mappings made before the attach "
			"(`initial`),\n  nor for later ones (no shim in a running process); kernel "
			"counters are deltas\n  over the attach window\n");
}

static void without_summary(struct analysis *a, FILE *out)
{
	if (!a->preload_without)
		return;
	const char *why[8];
	uint32_t cnt[8], n = 0, other = 0;
	for (uint32_t i = 0; i < a->nprocs; i++) {
		const struct proc *p = a->procs[i];
		if (p->preload_active)
			continue;
		const char *r = p->preload_reason ? p->preload_reason : "unknown";
		uint32_t k = 0;
		while (k < n && strcmp(why[k], r))
			k++;
		if (k == n && n == 8) {
			other++;
			continue;
		}
		if (k == n) {
			why[n] = r;
			cnt[n++] = 0;
		}
		cnt[k]++;
	}
	json_t *ks = json_object_get(json_object_get(json_object_get(a->session, "collectors"),
						    "bpf"), "kernel_stack_bytes");
	if (json_integer_value(ks) > 0) /* kernel stacks stand in (bpf/README.md) */
		fprintf(out, "  %u process(es) without the shim's call stacks (the kernel's stand "
			"in for their mappings):", a->preload_without);
	else
		fprintf(out, "  %u process(es) without call stacks (no shim trace):",
			a->preload_without);
	for (int first = 1; n; first = 0) {
		uint32_t best = 0;
		for (uint32_t k = 1; k < n; k++)
			if (cnt[k] > cnt[best])
				best = k;
		fprintf(out, "%s %u %s", first ? "" : ",", cnt[best], why[best]);
		why[best] = why[n - 1];
		cnt[best] = cnt[n - 1];
		n--;
	}
	if (other)
		fprintf(out, ", %u for other reasons", other);
	fputc('\n', out);
}

/* What the summary shows one block for: a process, or the processes of
 * one command when the tree has many (three or more of that command). */
struct unit {
	const struct proc *p; /* the first (or only) one */
	const char *name;
	uint32_t nprocs;
	int grouped;
	uint64_t faults[FC_N];
	struct aggs sites;
};

/* What a process is, in a few words: its title (a server's "postgres:
 * checkpointer"), else its program's name. */
/* "3", or "3 (host 3216)" for a process its own PID namespace numbers
 * otherwise than the recorder's (docs/report.md). */
static const char *pid_str(const struct proc *p, char *b, size_t n)
{
	if (p->host_pid != p->own_pid)
		snprintf(b, n, "%u (host %u)", p->own_pid, p->host_pid);
	else
		snprintf(b, n, "%u", p->own_pid);
	return b;
}

/* Processes in PID namespaces: which pid the summary says. */
static void pidns_line(const struct analysis *a, FILE *out)
{
	int shown = 0, other = 0, kernel = 0;
	for (uint32_t i = 0; i < a->nprocs; i++) {
		shown |= pidns__shown(a->procs[i]);
		other |= a->procs[i]->host_pid != a->procs[i]->own_pid;
		kernel |= a->procs[i]->ns_pids != NULL;
	}
	if (other)
		fprintf(out, "  PID namespaces: each process by its own pid (getpid() in its "
			"namespace); host: its pid where vmaprof ran\n");
	else if (shown)
		fprintf(out, "  in a PID namespace: pids as it numbers them%s\n",
			kernel ? " (the kernel's: report.json ns_pids)" : "");
}

static const char *proc_title(const struct proc *p)
{
	return p->title ? p->title : vp_base_name(p->exe);
}

static const char *proc_command(const struct proc *p)
{
	return p->name ? p->name : vp_base_name(p->exe);
}

static int unit_cmp(const void *x, const void *y)
{
	const struct unit *a = x, *b = y;
	uint64_t ta = total(a->faults), tb = total(b->faults);
	if (ta != tb)
		return ta > tb ? -1 : 1;
	if (a->nprocs != b->nprocs)
		return a->nprocs > b->nprocs ? -1 : 1;
	return (a->p->pid > b->p->pid) - (a->p->pid < b->p->pid);
}

static uint32_t units_make(struct analysis *a, struct unit **out)
{
	struct unit *u = calloc(a->nprocs + 1, sizeof(*u));
	uint32_t n = 0;
	if (!u)
		model__oom();
	for (uint32_t i = 0; i < a->nprocs; i++) {
		const struct proc *p = a->procs[i];
		const char *name = proc_command(p);
		uint32_t same = 0;
		for (uint32_t j = 0; j < a->nprocs && a->nprocs > 6; j++)
			same += !strcmp(proc_command(a->procs[j]), name);
		uint32_t k = n;
		if (same >= 3)
			for (k = 0; k < n; k++)
				if (u[k].grouped && !strcmp(u[k].name, name))
					break;
		if (k == n) {
			u[n].p = p;
			u[n].name = name;
			u[n].grouped = same >= 3;
			n++;
		}
		struct unit *x = &u[k];
		x->nprocs++;
		for (int c = 0; c < FC_N; c++)
			x->faults[c] += p->faults[c];
		for (uint32_t s = 0; s < p->nsites; s++)
			aggs_add(&x->sites, &p->sites[s]);
	}
	if (n > 1)
		qsort(u, n, sizeof(*u), unit_cmp);
	*out = u;
	return n;
}

static void units_free(struct unit *u, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		free(u[i].sites.v);
		u64map__free(&u[i].sites.by_key);
	}
	free(u);
}

/* "commands: 812 x cc1, 40 x as, ..." when the tree ran more than one. */
static void commands_line(const struct analysis *a, FILE *out)
{
	const char **name = calloc(a->nprocs + 1, sizeof(*name));
	uint32_t *cnt = calloc(a->nprocs + 1, sizeof(*cnt)), n = 0;
	if (!name || !cnt)
		model__oom();
	for (uint32_t i = 0; i < a->nprocs; i++) {
		const char *c = proc_command(a->procs[i]);
		uint32_t k = 0;
		while (k < n && strcmp(name[k], c))
			k++;
		if (k == n)
			name[n++] = c;
		cnt[k]++;
	}
	if (n > 1) {
		char line[512];
		size_t len = (size_t)snprintf(line, sizeof(line), "  commands:");
		for (uint32_t shown = 0; shown < n; shown++) {
			uint32_t best = 0;
			for (uint32_t k = 1; k < n; k++)
				if (cnt[k] > cnt[best] || (cnt[k] == cnt[best] && cnt[best] &&
							   strcmp(name[k], name[best]) < 0))
					best = k;
			if (!cnt[best])
				break;
			char item[96];
			snprintf(item, sizeof(item), "%s %u x %s", shown ? "," : "", cnt[best], name[best]);
			if (len + strlen(item) > 92) {
				snprintf(line + len, sizeof(line) - len, ", ...");
				break;
			}
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s", item);
			cnt[best] = 0;
		}
		fprintf(out, "%s\n", line);
	}
	free(name);
	free(cnt);
}

struct fork_ref {
	const struct proc *p;
	const struct child_ref *c;
};

static int fork_cmp(const void *x, const void *y)
{
	const struct fork_ref *a = x, *b = y;
	uint64_t ta = a->c->cow_child + a->c->cow_parent, tb = b->c->cow_child + b->c->cow_parent;
	if (ta != tb)
		return ta > tb ? -1 : 1;
	return a->c->t < b->c->t ? -1 : a->c->t > b->c->t;
}

/* The site of one side that copied most, with its share ("" if none). */
static void fork_top_site(const struct analysis *a, const struct proc *p, const struct u64map *m,
			  char *out, size_t n)
{
	out[0] = 0;
	struct site_count *c;
	uint32_t k = sites__fork_copies(p, m, &c);
	/* by label: sites of one label are one answer, named by its first
	 * site; the tool's own memory is not the answer */
	struct site_count *g = model__alloc((k + 1) * sizeof(*g));
	uint32_t ng = 0;
	uint64_t own = 0;
	for (uint32_t i = 0; i < k; i++) {
		const struct csite *s = &p->sites[c[i].site];
		if (s->internal) {
			own += c[i].n;
			continue;
		}
		uint32_t j = 0;
		while (j < ng && strcmp(p->sites[g[j].site].label, s->label))
			j++;
		if (j == ng)
			g[ng++] = c[i];
		else {
			g[j].n += c[i].n;
			if (c[i].site < g[j].site)
				g[j].site = c[i].site;
		}
	}
	uint32_t best = 0;
	for (uint32_t j = 1; j < ng; j++)
		if (g[j].n > g[best].n || (g[j].n == g[best].n && g[j].site < g[best].site))
			best = j;
	/* the copies of the tool's own memory (the shim's data, its stack
	 * cache) are said apart: they are ours, not the program's */
	char ob[32], os[64] = "";
	if (own) {
		human_bytes(own * a->page_size, ob, sizeof(ob));
		snprintf(os, sizeof(os), "%s%s in vmaprof's own memory", ng ? "; " : "", ob);
	}
	if (ng) {
		char b[32];
		human_bytes(g[best].n * a->page_size, b, sizeof(b));
		snprintf(out, n, " (%s in %s%s)", b, p->sites[g[best].site].label, os);
	} else if (own)
		snprintf(out, n, " (%s)", os);
	free(g);
	free(c);
}

/* Below this many stacks a side's top write site is given as a count of
 * stacks, not scaled to a share of its copies. */
#define WS_FEW 10

/* The write site of one side that copied most (write stacks), scaled to
 * the side's exact count, and the sampling ("" if none). */
static void fork_top_write(struct analysis *a, const struct wsites *t, uint64_t exact, char *out,
			   size_t n, char *note, size_t nn)
{
	out[0] = 0;
	note[0] = 0;
	struct ws_group *g;
	uint32_t k = wsites__by_stack(t, exact, &g);
	if (k && t->samples < WS_FEW) {
		/* too few stacks to scale to a share of the copies (the first
		 * ones after a fork, not a sample of them): the count itself,
		 * of the stacks with the label that has most of them */
		char lb[300], other[300], best[300] = "";
		uint64_t most = 0;
		for (uint32_t i = 0; i < k; i++) {
			wsites__label(a, &t->w[g[i].site], lb, sizeof(lb));
			uint64_t c = 0;
			for (uint32_t j = 0; j < k; j++)
				if (!strcmp(wsites__label(a, &t->w[g[j].site], other, sizeof(other)), lb))
					c += g[j].samples;
			if (c > most) {
				most = c;
				snprintf(best, sizeof(best), "%s", lb);
			}
		}
		/* which stacks they are: the first writes after the fork (each
		 * one copy, weight 1) say nothing of the copies after them */
		uint64_t sampled = a->ws_every > 1 && t->weight > (double)t->samples
			? (uint64_t)((t->weight - (double)t->samples) / (a->ws_every - 1) + 0.5)
			: 0;
		uint64_t first = t->samples > sampled ? t->samples - sampled : 0;
		if (first == t->samples)
			snprintf(note, nn, "(the first writes after the fork, not a sample of its "
				 "%" PRIu64 " copies)", exact);
		else
			snprintf(note, nn, "(%" PRIu64 " of them the first writes after the fork: "
				 "too few to share out its %" PRIu64 " copies)", first, exact);
		snprintf(out, n, "written by %s: %" PRIu64 " of %" PRIu64 " stack%s", best, most,
			 t->samples, t->samples == 1 ? "" : "s");
	} else if (k) {
		char lb[300];
		snprintf(out, n, "written by %s: %.0f%% (%" PRIu64 " stack%s)",
			 wsites__label(a, &t->w[g[0].site], lb, sizeof(lb)),
			 exact ? 100.0 * g[0].copies / (double)exact : 0.0, t->samples,
			 t->samples == 1 ? "" : "s");
	}
	free(g);
}

/* "    PARENTPID TITLE -> CHILDPID TITLE" in 100 columns: the titles are
 * cut (the longer one first), never the pids. */
static void fork_line(struct analysis *a, const struct proc *p, uint32_t child,
		      const struct proc *c, FILE *out)
{
	const char *pt = proc_title(p), *ct = c ? proc_title(c) : "?";
	char pb[104], cb[104];
	int fixed = snprintf(NULL, 0, "    %u  -> %u ", p->own_pid, pidns__report_pid(a, child));
	size_t room = fixed > 0 && fixed < 60 ? 100 - (size_t)fixed : 40;
	size_t pl = strlen(pt), cl = strlen(ct), pw = pl, cw = cl;
	if (pl + cl > room) {
		/* the shorter keeps its length when it fits in half the room */
		if (cl <= room / 2)
			pw = room - cl;
		else if (pl <= room / 2)
			cw = room - pl;
		else {
			pw = room / 2;
			cw = room - pw;
		}
	}
	line_out(out, "    %u %s -> %u %s", p->own_pid, fit(pt, pw, pb, sizeof(pb)),
		 pidns__report_pid(a, child), fit(ct, cw, cb, sizeof(cb)));
}

/* Each fork, largest first: what each side un-shared, and from where. */
static void forks_out(struct analysis *a, FILE *out)
{
	uint32_t nf = 0;
	for (uint32_t i = 0; i < a->nprocs; i++)
		nf += a->procs[i]->nkids;
	if (!nf)
		return;
	struct fork_ref *f = calloc(nf, sizeof(*f));
	if (!f)
		model__oom();
	nf = 0;
	for (uint32_t i = 0; i < a->nprocs; i++)
		for (uint32_t k = 0; k < a->procs[i]->nkids; k++)
			f[nf++] = (struct fork_ref){ a->procs[i], &a->procs[i]->kids[k] };
	if (!derive__measured(a)) {
		fprintf(out, "\n  forks (copies not measured: no kernel collector):\n");
		for (uint32_t i = 0; i < nf && i < 8; i++)
			fprintf(out, "    %u %s -> %u\n", f[i].p->own_pid, vp_base_name(f[i].p->exe),
				pidns__report_pid(a, f[i].c->child));
	} else {
		qsort(f, nf, sizeof(*f), fork_cmp);
		fprintf(out, "\n  what each fork un-shared (copy-on-write copies), largest first:\n");
		/* the sampling once, so that each "written by" line fits */
		if (a->ws_every || a->ws_first)
			line_out(out, "    (written by: sampled write stacks, each thread's first %u "
				      "after a fork, then 1 in %u)", a->ws_first, a->ws_every);
		/* forks that un-shared little (fork + exec) are counted, not listed */
		uint64_t small = 16, rest = 0, rest_pages = 0;
		uint32_t shown = 0;
		for (uint32_t i = 0; i < nf; i++) {
			uint64_t pages = f[i].c->cow_child + f[i].c->cow_parent;
			if (shown == 8 || (pages < small && shown)) {
				rest++;
				rest_pages += pages;
				continue;
			}
			shown++;
			const struct proc *p = f[i].p, *c = model__find(a, f[i].c->child);
			char cb[32], pbb[32], cs[200], ps[200], cw[400], pw[400];
			human_bytes(f[i].c->cow_child * a->page_size, cb, sizeof(cb));
			human_bytes(f[i].c->cow_parent * a->page_size, pbb, sizeof(pbb));
			fork_top_site(a, c, &f[i].c->cow_vma_child, cs, sizeof(cs));
			fork_top_site(a, p, &f[i].c->cow_vma_parent, ps, sizeof(ps));
			char cn[160], pn[160];
			fork_top_write(a, &f[i].c->ws_child, f[i].c->cow_child, cw, sizeof(cw), cn,
				       sizeof(cn));
			fork_top_write(a, &f[i].c->ws_parent, f[i].c->cow_parent, pw, sizeof(pw), pn,
				       sizeof(pn));
			fork_line(a, p, f[i].c->child, c, out);
			line_out(out, "      child copied %s%s", cb, cs);
			if (cw[0])
				line_out(out, "        %s", cw);
			if (cn[0])
				line_out(out, "        %s", cn);
			line_out(out, "      parent copied %s meanwhile%s", pbb, ps);
			if (pw[0])
				line_out(out, "        %s", pw);
			if (pn[0])
				line_out(out, "        %s", pn);
		}
		if (rest) {
			char rb[32];
			human_bytes(rest_pages * a->page_size, rb, sizeof(rb));
			line_out(out, "    ... %" PRIu64 " more fork(s), %s in all (report.json forks[])",
				 rest, rb);
		}
		nf = 0; /* said */
	}
	if (nf > 8)
		fprintf(out, "    ... %u more fork(s) in report.json\n", nf - 8);
	free(f);
}

/* What the recording ran, in a word: its command's program name. Attached
 * to a running process (record -p), the command is that process's
 * /proc/PID/cmdline, which a server may have overwritten with its title
 * (nginx's "nginx: master process nginx -c /etc/nginx/... -g ..."): a
 * text with spaces is no path to take the last part of, so the first
 * process's own name (comm) says it, else the title cut short. */
static const char *command_name(const struct analysis *a, char *buf, size_t n)
{
	const char *cmd = json_string_value(json_array_get(json_object_get(a->session, "command"),
							  0));
	if (!cmd)
		cmd = "";
	if (!strchr(cmd, ' '))
		return vp_base_name(cmd);
	for (uint32_t i = 0; i < a->nprocs; i++)
		if (a->procs[i]->is_root && (a->procs[i]->name || a->procs[i]->exe))
			return proc_command(a->procs[i]);
	return fit(cmd, n - 1 < 40 ? n - 1 : 40, buf, n);
}

/* The whole tree's figures, and whether the recording is whole. */
static void totals_out(struct analysis *a, FILE *out)
{
	uint64_t all[FC_N] = { 0 }, pages = 0, pop = 0, pop_pages = 0;
	for (uint32_t i = 0; i < a->nprocs; i++) {
		for (int c = 0; c < FC_N; c++)
			all[c] += a->procs[i]->faults[c];
		pages += a->procs[i]->pages;
		pop += a->procs[i]->pop_faults;
		pop_pages += a->procs[i]->pop_pages;
	}
	char pb[32];
	human_bytes(pages * a->page_size, pb, sizeof(pb));
	char nb[48];
	const char *name = command_name(a, nb, sizeof(nb));
	if (!derive__measured(a)) {
		fprintf(out, "\nvmaprof: %s: %u process(es); page faults, pages allocated and fork "
			"copies\n  not measured (no kernel collector: %s)\n", name, a->nprocs,
			a->bpf_reason ? a->bpf_reason : "unknown reason");
	} else {
		fprintf(out, "\nvmaprof: %s: %u process(es), %" PRIu64 " page faults, %s of pages "
			"allocated\n  (cumulative: memory freed again counts too)\n", name, a->nprocs,
			total(all), pb);
		line_out(out, "  demand_zero %" PRIu64 " (first touch: new zeroed page)   zero_page %" PRIu64
			 " (read: no page)", all[FC_DEMAND_ZERO], all[FC_ZERO_PAGE]);
		line_out(out, "  cow_copy %" PRIu64 " (copy-on-write copies)   cow_reuse %" PRIu64
			 "   file %" PRIu64 "   shmem %" PRIu64, all[FC_COW_COPY], all[FC_COW_REUSE],
			 all[FC_FILE], all[FC_SHMEM]);
		line_out(out, "  shared_write %" PRIu64 "   other %" PRIu64, all[FC_SHARED_WRITE],
			 all[FC_OTHER]);
		if (pop_pages)
			fprintf(out, "  populated by syscalls without faults (MAP_POPULATE, "
				"MADV_POPULATE_*, mlock, exec): %" PRIu64 " pages,\n  %" PRIu64
				" of them allocated\n", pop, pop_pages);
	}
	if (!a->complete)
		fprintf(out, "  INCOMPLETE: the recorder stopped before the recording ended (no "
			"session end marker):\n  faults, exits and counters after that are missing\n");
	if (a->stopped)
		fprintf(out, "  stopped early (signal): %zu process(es) still running were left "
			"running\n", json_array_size(json_object_get(a->session, "running_at_end")));
}

/* The head line of a unit of one process: who it is, its faults against
 * the kernel's count. */

/* What the kernel's mm said of the process's last image (report.json
 * "kernel_mm"): one line, and a warning near vm.max_map_count. */
static void kernel_mm_out(const struct analysis *a, const struct proc *p, FILE *out)
{
	if (!p->nmm)
		return;
	const struct mm_reading *m = &p->mm[p->nmm - 1];
	uint64_t ps = a->page_size;
	char pk[32], an[32], fi[32], sh[32], vp[32];
	int64_t rss = m->rss[VP_RSS_FILE] + m->rss[VP_RSS_ANON] + m->rss[VP_RSS_SHMEM];
	uint64_t peak = m->hiwater_rss > (uint64_t)(rss > 0 ? rss : 0) ? m->hiwater_rss : (uint64_t)rss;
	human_bytes(peak * ps, pk, sizeof(pk));
	if (m->flags & VP_MMSTAT_PARTIAL) {
		line_out(out, "    kernel: rss peak %s (killed: only the peak was left to read)", pk);
		return;
	}
	uint64_t vpeak = m->hiwater_vm > m->total_vm ? m->hiwater_vm : m->total_vm;
	human_bytes((uint64_t)(m->rss[VP_RSS_ANON] > 0 ? m->rss[VP_RSS_ANON] : 0) * ps, an, sizeof(an));
	human_bytes((uint64_t)(m->rss[VP_RSS_FILE] > 0 ? m->rss[VP_RSS_FILE] : 0) * ps, fi, sizeof(fi));
	human_bytes((uint64_t)(m->rss[VP_RSS_SHMEM] > 0 ? m->rss[VP_RSS_SHMEM] : 0) * ps, sh, sizeof(sh));
	human_bytes(vpeak * ps, vp, sizeof(vp));
	/* two lines of at most 92 columns: whole, not cut at 100 as line_out
	 * would cut one */
	/* the peak is the image's; the parts are what was resident when the
	 * kernel was read (exit, or the exec that replaced the image) */
	fprintf(out, "    kernel: rss peak %s; at %s: anon %s, file %s, shmem %s\n", pk,
		m->why == VP_MM_EXEC ? "exec" : "exit", an, fi, sh);
	fprintf(out, "            vm peak %s, %u mappings\n", vp, m->map_count);
	json_t *lim = json_object_get(a->session, "vm_max_map_count");
	int64_t max = json_is_integer(lim) ? json_integer_value(lim) : 0;
	if (max > 0 && (int64_t)m->map_count * 10 >= max * 9)
		line_out(out, "    WARNING: %u mappings, near vm.max_map_count (%lld): mmap fails "
			 "with ENOMEM at the limit", m->map_count, (long long)max);
}

static void proc_head_out(struct analysis *a, const struct proc *p, uint64_t t, FILE *out)
{
	struct kc_balance kb;
	derive__kc_balance(a, p, &kb);
	char head[160], tail[80], tb[104];
	char pb[48];
	int n = snprintf(head, sizeof(head), "  pid %s %s", pid_str(p, pb, sizeof(pb)),
			 vp_base_name(p->exe));
	int m = snprintf(tail, sizeof(tail), "%s: %" PRIu64 " faults",
			 p->is_root ? " (first process)" : "", t);
	/* the title takes what the line has left; the pid and the count stay */
	const char *title = p->title ? p->title
		: p->name && strncmp(p->name, vp_base_name(p->exe), 15) ? p->name : NULL;
	size_t used = (size_t)(n > 0 ? n : 0) + (size_t)(m > 0 ? m : 0) + 4; /* "\n", " [", "]" */
	if (title)
		line_out(out, "\n%s [%s]%s", head, fit(title, used < 80 ? 100 - used : 20, tb,
							sizeof(tb)), tail);
	else
		line_out(out, "\n%s%s", head, tail);
	if (p->have_kc) {
		line_out(out, "    the kernel counted %" PRIu64 " (%" PRIu64 " populated by "
			 "syscalls, %" PRIu64 " the shim's own, %" PRIu64 " before %s)",
			 p->minflt + p->majflt, p->pop_faults, kb.shim, p->before_trace,
			 a->attached ? "the attach" : "tracing");
	}
	kernel_mm_out(a, p, out);
	if (p->preload_active && p->preload_reason) /* a trace that stopped early */
		line_out(out, "    %s", p->preload_reason);
	if (kb.warning[0])
		line_out(out, "    WARNING: %s", kb.warning);
}

/* One unit (a process, or the processes of one command): its head and
 * its largest sites; without fault figures, its largest mappings. */
static void unit_out(struct analysis *a, const struct unit *x, FILE *out)
{
	const struct proc *p = x->p;
	if (!derive__measured(a)) {
		char pb[48];
		fprintf(out, "\n  pid %s %s%s: %" PRIu64 " mapping(s) recorded\n",
			pid_str(p, pb, sizeof(pb)), vp_base_name(p->exe), p->is_root ? " (first process)" : "", (uint64_t)p->nv);
		if (p->preload_active && p->preload_reason) /* a trace that stopped early */
			fprintf(out, "    %s\n", p->preload_reason);
		top_by_size(a, p, out);
		return;
	}
	uint64_t t = total(x->faults);
	if (x->nprocs > 1)
		line_out(out, "\n  %u x %s: %" PRIu64 " faults in all (cumulative)", x->nprocs,
			 x->name, t);
	else
		proc_head_out(a, p, t, out);
	uint64_t min = t / 100 > 4 ? t / 100 : 4;
	int header = 0;
	top_sites(a, &x->sites, FC_COW_COPY, min, &header, out);
	top_sites(a, &x->sites, FC_DEMAND_ZERO, min, &header, out);
	top_sites(a, &x->sites, FC_SHMEM, min, &header, out);
}

static int summary(struct analysis *a, FILE *out, size_t json_flags, void *state)
{
	totals_out(a, out);
	if (a->attached)
		attach_summary(a, out);
	without_summary(a, out);
	commands_line(a, out);
	pidns_line(a, out);
	struct unit *u = NULL;
	uint32_t nu = units_make(a, &u);
	for (uint32_t i = 0; i < nu && i < 6; i++)
		unit_out(a, &u[i], out);
	if (nu > 6)
		fprintf(out, "  ... %u more in report.json\n", nu - 6);
	units_free(u, nu);
	forks_out(a, out);
	if (a->preload_lost || a->bpf_lost || a->damaged || a->unreadable)
		fprintf(out, "  LOST: %" PRIu64 " shim records, %" PRIu64 " kernel records, %" PRIu64
			" damaged, %" PRIu64 " unreadable files\n", a->preload_lost, a->bpf_lost,
			a->damaged, a->unreadable);
	if (a->late_files || a->late_records)
		fprintf(out, "  left out: %" PRIu64 " shim trace file(s) begun and %" PRIu64
			" record(s) written after the recording ended (processes it left running)\n",
			a->late_files, a->late_records);
	return ferror(out) ? -EIO : 0;
}

const struct writer text_writer = { 0, summary, NULL };
