/* SPDX-License-Identifier: MIT */
/*
 * diff, step 2 of 4: match. After load.c, one report's processes get roles
 * and its VMAs site keys, summed into entries (one per role and per site in
 * a role); then the entries of two reports are paired (reports__pair), and
 * compare.c takes the pairs.
 *
 * Addresses and pids differ from run to run (ASLR, pid allocation), so
 * nothing here is keyed by them:
 *  - role: `root` (several roots: `root[2]`, ... by start time); a child is
 *    `<parent's role at fork time>/fork`, then what it is (segment__add):
 *    `:exec(<basename of path>)` per exec, `(<title>)`, `[<args>]`. Never
 *    its fork order: a server's workers come in another order every run.
 *    A child whose parent is not in the report starts with `orphan`.
 *    Processes of one role are one entry, summed (entries__merge); roles
 *    one report lacks fall back to their loose name (reports__unify).
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
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "diff_int.h"
#include "label.h"

static void metrics__add(struct metrics *to, const struct metrics *m)
{
	for (int i = 0; i < M_NR; i++)
		to->v[i] = sat_add(to->v[i], m->v[i]);
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

static const char *basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash && slash[1] ? slash + 1 : path;
}

/* ---- roles -------------------------------------------------------------- */

static char *norm_path(const char *path);
static int is_digit(char c);

/* Directories whose file names are made up per run. */
static const char *const temp_dirs[] = { "/tmp/", "/var/tmp/", "/dev/shm/", "/run/shm/", NULL };

/* -1, 0 or 1: x before, as, or after y. */
static int cmp_i64(int64_t x, int64_t y)
{
	return x < y ? -1 : x > y;
}

static int cmp_u64(uint64_t x, uint64_t y)
{
	return x < y ? -1 : x > y;
}

/* The last word of an order of indexes (of processes, of pairs): the index. */
static int by_index(const void *a, const void *b)
{
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

static int by_pid_start(const void *a, const void *b, void *arg)
{
	const struct dproc *ps = arg, *x = &ps[*(const size_t *)a], *y = &ps[*(const size_t *)b];
	int c = cmp_i64(x->pid, y->pid);
	if (!c)
		c = cmp_u64(x->start_ns, y->start_ns);
	return c ? c : by_index(a, b);
}

/* Roots by start time (root, root[2], ...); pid and index break ties. */
static int by_start_pid(const void *a, const void *b, void *arg)
{
	const struct dproc *ps = arg, *x = &ps[*(const size_t *)a], *y = &ps[*(const size_t *)b];
	int c = cmp_u64(x->start_ns, y->start_ns);
	if (!c)
		c = cmp_i64(x->pid, y->pid);
	return c ? c : by_index(a, b);
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

static int is_alnum(char c)
{
	return is_digit(c) || ((c | 32) >= 'a' && (c | 32) <= 'z');
}

/* A path in an argument: under a temp directory all of its name is made up
 * per run (mkstemp's /tmp/ccXbYzQw.s may be all letters, which norm_path
 * would keep as a word), else as norm_path makes it. */
static void arg_path__norm(struct sbuf *b, const char *w, size_t len)
{
	char *path = strndup(w, len), *n = path ? norm_path(path) : NULL;
	if (!n) {
		b->oom = 1;
		free(path);
		return;
	}
	for (const char *const *t = temp_dirs; *t; t++) {
		size_t tl = strlen(*t);
		if (!strncmp(n, *t, tl))
			n[tl] = '*', n[tl + 1] = 0;
	}
	sbuf__add(b, "%s", n);
	free(n);
	free(path);
}

/* One word of an argv or a title with what is made up per run as '*': a
 * path (from a '/' at the start, after '=', ':' or ',', or after a short
 * option: -o/tmp/x) as arg_path__norm makes it, and elsewhere a run of 4 or
 * more digits between non-alphanumerics (a pid, a port: 127.0.0.1(45678)). */
static void word__norm(struct sbuf *b, const char *w, size_t len)
{
	for (size_t i = 0; i < len;) {
		if (w[i] == '/' && (!i || w[i - 1] == '=' || w[i - 1] == ':' || w[i - 1] == ',' ||
				    (i == 2 && w[0] == '-'))) {
			arg_path__norm(b, w + i, len - i);
			return;
		}
		size_t j = i;
		while (j < len && is_digit(w[j]))
			j++;
		if (j == i)
			sbuf__add(b, "%c", (unsigned char)w[i] < 0x20 ? '?' : w[i]);
		else if (j - i >= 4 && (!i || !is_alnum(w[i - 1])) && (j == len || !is_alnum(w[j])))
			sbuf__add(b, "*");
		else
			sbuf__add(b, "%.*s", (int)(j - i), w + i);
		i = j > i ? j : i + 1;
	}
}

/* Whether w[0, n) names a pid: "pid" or "ppid", any case, alone or after
 * a non-letter ("PID", "--pid", "worker_pid"; not "rapid"). */
static int ends_pid(const char *w, size_t n)
{
	size_t k = n >= 4 && !strncasecmp(w + n - 4, "ppid", 4) ? 4 : 3;
	if (n < k || strncasecmp(w + n - 3, "pid", 3))
		return 0;
	return n == k || !isalpha((unsigned char)w[n - k - 1]);
}

static int all_digits(const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_digit(w[i]))
			return 0;
	return n > 0;
}

/* s, its words (split at white space) normalised and joined by one space.
 * A number of any length that a word "pid" names ("parallel worker for
 * PID 780", "pid=780", "pid:780") is made up per run: '*' (4 digits or
 * more are anyway, word__norm). */
static void text__norm(struct sbuf *b, const char *s)
{
	static const char ws[] = " \t\n\r";
	int first = 1, after_pid = 0;
	for (s += strspn(s, ws); *s; s += strspn(s, ws)) {
		size_t n = strcspn(s, ws);
		if (!first)
			sbuf__add(b, " ");
		const char *eq = memchr(s, '=', n), *co = memchr(s, ':', n);
		const char *sep = eq && (!co || eq < co) ? eq : co;
		if (after_pid && all_digits(s, n))
			sbuf__add(b, "*");
		else if (sep && ends_pid(s, (size_t)(sep - s)) &&
			 all_digits(sep + 1, n - (size_t)(sep + 1 - s)))
			sbuf__add(b, "%.*s*", (int)(sep + 1 - s), s);
		else
			word__norm(b, s, n);
		after_pid = ends_pid(s, n);
		first = 0;
		s += n;
	}
}

/* Arguments or a title longer than this are cut, and a hash of all of
 * them kept, so a role stays readable and still tells two long command
 * lines apart. */
#define PART_MAX 64
#define PART_HEAD 44

/* a's text (freed) into b between open and close; nothing when empty. */
static void part__add(struct sbuf *b, struct sbuf *a, char open, char close)
{
	if (a->oom)
		b->oom = 1;
	if (a->len && a->len <= PART_MAX) {
		sbuf__add(b, "%c%s%c", open, a->s, close);
	} else if (a->len) {
		uint32_t h = 2166136261u; /* FNV-1a */
		for (size_t k = 0; k < a->len; k++)
			h = (h ^ (unsigned char)a->s[k]) * 16777619u;
		size_t n = PART_HEAD;
		while (n && ((unsigned char)a->s[n] & 0xc0) == 0x80)
			n--;
		sbuf__add(b, "%c%.*s...#%08x%c", open, (int)n, a->s, h, close);
	}
	free(a->s);
}

/* `[ARGS]`: an exec's argv after argv[0] (the process's own `argv` for its
 * last exec when the exec has none), normalised. */
static void args__add(struct sbuf *b, const struct dproc *p, json_t *exec, int last)
{
	json_t *argv = json_object_get(exec, "argv");
	struct sbuf a = { 0 };
	if (!json_is_array(argv) && last)
		argv = json_object_get(p->j, "argv");
	for (size_t k = 1; k < json_array_size(argv); k++) {
		const char *s = json_string_value(json_array_get(argv, k));
		if (!s)
			continue;
		if (a.len)
			sbuf__add(&a, " ");
		text__norm(&a, s);
	}
	part__add(b, &a, '[', ']');
}

/* What the program calls itself: the title it wrote over its argv, else
 * its comm where that is not its program's name (prctl PR_SET_NAME). */
static void title__add(struct sbuf *b, const struct dproc *p)
{
	const char *title = json_string_value(json_object_get(p->j, "title"));
	const char *name = json_string_value(json_object_get(p->j, "name"));
	const char *exe = json_string_value(json_object_get(p->j, "exe"));
	struct sbuf t = { 0 };
	if (title && *title)
		text__norm(&t, title);
	else if (name && *name && (!exe || strncmp(name, basename_of(exe), 15)))
		text__norm(&t, name);
	part__add(b, &t, '(', ')');
}

/* What a role says of process p after its word (root, fork, orphan):
 * `:exec(<basename>)` per exec before `until` (all if NULL); then, when no
 * exec follows, its title (title__add); then the arguments of its last exec
 * (args__add), or `[*]` for the loose name, when `args` (not for a root:
 * its command line is the user's, and two runs of it with other flags
 * should still match). */
static void segment__add(struct sbuf *b, const struct dproc *p, const uint64_t *until,
			 int args, int loose)
{
	json_t *execs = json_object_get(p->j, "execs"), *last = NULL;
	size_t n = json_array_size(execs), k;
	for (k = 0; k < n; k++) {
		json_t *e = json_array_get(execs, k);
		uint64_t t = (uint64_t)json_integer_value(json_object_get(e, "time_ns"));
		if (until && t >= *until)
			break;
		sbuf__add(b, ":exec(%s)", basename_of(json_string_value(json_object_get(e, "path"))));
		last = e;
	}
	if (k == n)
		title__add(b, p);
	if (args && last && loose)
		sbuf__add(b, "[*]");
	else if (args && last)
		args__add(b, p, last, k == n);
}

/* p's role and loose name: its parent's up to the fork, then `/fork`, then
 * its own segment (a root: `root`, an orphan: `orphan`). p->up is what
 * comes before its segment, for its children. */
static int role__build(struct report *r, size_t i, struct diag *d)
{
	struct dproc *p = &r->procs[i];
	struct sbuf up = { 0 }, lup = { 0 }, b = { 0 }, lb = { 0 };
	if (p->state == 2)
		return 0;
	if (p->state == 1)
		return diag__fail(d, "%s: processes[%zu]: forked_from makes a cycle", r->file, i);
	p->state = 1;
	if (!p->has_ff) {
		sbuf__add(&up, p->number > 1 ? "root[%lu]" : "root", p->number);
		sbuf__add(&lup, p->number > 1 ? "root[%lu]" : "root", p->number);
	} else if (p->parent < 0) {
		sbuf__add(&up, "orphan");
		sbuf__add(&lup, "orphan");
	} else {
		struct dproc *pp = &r->procs[p->parent];
		int err = role__build(r, (size_t)p->parent, d);
		if (err)
			return err;
		sbuf__add(&up, "%s", pp->up);
		segment__add(&up, pp, &p->ff_time, pp->has_ff, 0);
		sbuf__add(&up, "/fork");
		sbuf__add(&lup, "%s", pp->lup);
		segment__add(&lup, pp, &p->ff_time, pp->has_ff, 1);
		sbuf__add(&lup, "/fork");
	}
	sbuf__add(&b, "%s", up.s ? up.s : "");
	segment__add(&b, p, NULL, p->has_ff, 0);
	sbuf__add(&lb, "%s", lup.s ? lup.s : "");
	segment__add(&lb, p, NULL, p->has_ff, 1);
	p->up = sbuf__take(&up);
	p->lup = sbuf__take(&lup);
	p->role = sbuf__take(&b);
	p->loose = sbuf__take(&lb);
	if (!p->up || !p->lup || !p->role || !p->loose)
		return diag__fail(d, "out of memory");
	p->state = 2;
	return 0;
}

int report__roles(struct report *r, struct diag *d)
{
	size_t n = r->n_procs, *order = calloc(n ? n : 1, sizeof(*order)), roots = 0;
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
	/* Children are named by what they are (segment__add), never by their
	 * order; only roots, which have no parent to tell them by, are counted. */
	for (size_t i = 0; i < n; i++)
		if (!r->procs[i].has_ff)
			order[roots++] = i;
	if (roots > 1)
		qsort_r(order, roots, sizeof(*order), by_start_pid, r->procs);
	for (size_t k = 0; k < roots; k++)
		r->procs[order[k]].number = k + 1;
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

/* A process's file mappings, by start (spans__sort). */
struct spans {
	struct span *s;
	size_t n, cap;
};

static int by_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The file offset of `ip` in the process's own mapping of `module`. */
static int module_offset(const struct spans *sp, const char *module, uint64_t ip, uint64_t *off)
{
	const struct span *s = sp->s;
	size_t lo = 0, hi = sp->n;
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

static int spans__add(struct spans *sp, uint64_t start, uint64_t end, uint64_t offset,
		      const char *path)
{
	struct span *x = grow(sp->s, sp->n, &sp->cap, sizeof(*x), 64);
	char *own = x ? strdup(path) : NULL;
	if (x)
		sp->s = x;
	if (!own)
		return -ENOMEM;
	sp->s[sp->n++] = (struct span){ start, end, offset, 0, own };
	return 0;
}

/* By start, each with the highest end up to it (module_offset's search). */
static void spans__sort(struct spans *sp)
{
	struct span *s = sp->s;
	if (sp->n > 1)
		qsort(s, sp->n, sizeof(*s), by_start);
	for (size_t i = 0; i < sp->n; i++)
		s[i].max_end = i && s[i - 1].max_end > s[i].end ? s[i - 1].max_end : s[i].end;
}

static void spans__free(struct spans *sp)
{
	for (size_t i = 0; i < sp->n; i++)
		free((char *)sp->s[i].path);
	free(sp->s);
}

/* An entry of process p: a site (key) or, key NULL, the process itself. */
static int report__push(struct report *r, const struct dproc *p, char *key, char *label,
			char *kind, const struct metrics *m)
{
	struct entry *e = grow(r->entries, r->n_entries, &r->cap_entries, sizeof(*e), 256);
	if (!e)
		return -ENOMEM;
	r->entries = e;
	r->entries[r->n_entries++] = (struct entry){ .role = p->role, .loose = p->loose,
						      .procs = !key, .key = key,
						      .label = label, .kind = kind, .m = *m };
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


/* Allocator and mapping plumbing never names a site: the analyzer's rules
 * (label.h), so a v1 report's sites are named as the analyzer names a v2
 * report's. Compared without a symbol version ("mmap@GLIBC_2.2.5"). */
static int is_plumbing(const struct label_rules *rules, const char *fn, const char *module)
{
	struct vp_frame f = { .function = fn, .module = module };
	size_t n = fn ? strcspn(fn, "@") : 0;
	char *bare = fn && fn[n] ? strndup(fn, n) : NULL;
	if (bare) /* out of memory: the name as it is */
		f.function = bare;
	int hit = label__is_plumbing(rules, &f);
	free(bare);
	return hit;
}

/* The key and label of the tracer's own mappings (trace files named by pid
 * and time would never match across runs): one bucket per role. */
static int internal_key(struct diag *d, char **out, char **label)
{
	*out = strdup(DIFF_INTERNAL_KEY);
	*label = strdup(DIFF_INTERNAL_KEY);
	if (*out && *label)
		return 0;
	free(*out);
	free(*label);
	*out = *label = NULL;
	return diag__fail(d, "out of memory");
}

/* One frame in a site key: its raw symbol, else where it is in its module. */
static void frame__key(struct sbuf *b, json_t *fr, const char *raw, const char *module,
		       uint64_t ip, const struct spans *sp)
{
	uint64_t off;
	if (raw && *raw)
		sbuf__add(b, "%s", raw);
	else if (module && json_is_integer(json_object_get(fr, "module_offset")))
		sbuf__add(b, "%s+0x%" PRIx64, basename_of(module),
			  (uint64_t)json_integer_value(json_object_get(fr, "module_offset")));
	else if (module && module_offset(sp, module, ip, &off))
		sbuf__add(b, "%s+0x%" PRIx64, basename_of(module), off);
	else if (module)
		sbuf__add(b, "%s@0x%" PRIx64, basename_of(module), ip);
	else
		sbuf__add(b, "0x%" PRIx64, ip);
}

/* The stack's part of a site key into b ("@frame<frame..."), and into lb,
 * unless *have_label, the first frame that is not plumbing. */
static int stack__key(struct diag *d, const struct report *r, json_t *stack, const char *at,
		      const struct spans *sp, struct sbuf *b, struct sbuf *lb, int *have_label)
{
	for (size_t i = 0; i < json_array_size(stack); i++) {
		json_t *fr = json_array_get(stack, i);
		const char *fn, *mangled, *module;
		uint64_t ip;
		char sub[160];
		int err;
		snprintf(sub, sizeof(sub), "%s.stack[%zu]", at, i);
		if (!json_is_object(fr))
			return diag__fail(d, "%s: %s: expected an object", r->file, sub);
		if ((err = get_count(d, r, fr, sub, "ip", &ip)) ||
		    (err = get_string_or_null(d, r, fr, sub, "function", &fn)) ||
		    (err = get_opt_string(d, r, fr, sub, "mangled", &mangled)) ||
		    (err = get_string_or_null(d, r, fr, sub, "module", &module)))
			return err;
		/* the raw symbol: a v1 report's function, a v2 report's mangled */
		const char *raw = mangled && *mangled ? mangled : fn;
		size_t before = b->len;
		sbuf__add(b, "%s", i ? "<" : "@");
		frame__key(b, fr, raw, module, ip, sp);
		if (!*have_label && !b->oom && !is_plumbing(r->plumbing, fn, module) &&
		    !is_plumbing(r->plumbing, raw, module)) {
			if (fn && *fn)
				sbuf__add(lb, "%s", fn);
			else
				sbuf__add(lb, "%s", b->s + before + 1);
			*have_label = 1;
		}
	}
	return 0;
}

/* The site key of one VMA (see the top of this file) and its short name
 * (*label): the report's `label`, else the first frame outside allocator
 * plumbing, else the basename of its path, else NULL (the kind says it). */
static int vma_key(struct diag *d, const struct report *r, json_t *vma, const char *at,
		   const struct spans *sp, char **out, char **label)
{
	struct sbuf b = { 0 }, lb = { 0 };
	const char *path, *given;
	char *npath = NULL;
	json_t *stack, *k;
	int err, have_label = 0;
	*out = *label = NULL;
	if ((err = get_typed(d, r, vma, at, "kind", JSON_STRING, 0, &k)) ||
	    (err = get_string_or_null(d, r, vma, at, "path", &path)) ||
	    (err = get_typed(d, r, vma, at, "stack", JSON_ARRAY, 0, &stack)) ||
	    (err = get_opt_string(d, r, vma, at, "label", &given)))
		return err;
	if (json_is_true(json_object_get(vma, "internal")))
		return internal_key(d, out, label);
	if (given && *given) {
		sbuf__add(&lb, "%s", given);
		have_label = 1;
	}
	if (path && !(npath = norm_path(path)))
		return diag__fail(d, "out of memory");
	sbuf__add(&b, "%s", json_string_value(k));
	if (npath)
		sbuf__add(&b, ":%s", npath);
	if ((err = stack__key(d, r, stack, at, sp, &b, &lb, &have_label))) {
		free(npath);
		free(b.s);
		free(lb.s);
		return err;
	}
	if (!have_label && npath)
		sbuf__add(&lb, "%s", basename_of(npath));
	free(npath);
	*out = sbuf__take(&b);
	*label = lb.len || lb.oom ? sbuf__take(&lb) : NULL;
	if (!*out || (lb.len && !*label)) {
		free(*out);
		free(*label);
		*out = *label = NULL;
		return diag__fail(d, "out of memory");
	}
	return 0;
}

/* Pass 1, one VMA: the types of its address fields, its mapping figures
 * into the process's pm, and where it maps a file into sp. */
static int vma__scan(struct diag *d, const struct report *r, json_t *v, const char *vat,
		     struct metrics *pm, struct spans *sp)
{
	json_t *destroyed;
	uint64_t start, end, instances;
	const char *path;
	int err;
	if (!json_is_object(v))
		return diag__fail(d, "%s: %s: expected an object", r->file, vat);
	if ((err = require_vma(d, r, v, vat)) ||
	    (err = get_count(d, r, v, vat, "start", &start)) ||
	    (err = get_count(d, r, v, vat, "end", &end)) ||
	    (err = get_string_or_null(d, r, v, vat, "path", &path)) ||
	    (err = field(d, r, v, vat, "destroyed_ns", &destroyed)) ||
	    (err = get_instances(d, r, v, vat, &instances)))
		return err;
	if (end < start)
		return diag__fail(d, "%s: %s: end is below start", r->file, vat);
	if (!json_is_null(destroyed) &&
	    (!json_is_integer(destroyed) || json_integer_value(destroyed) < 0))
		return diag__fail(d, "%s: %s.destroyed_ns: expected a non-negative integer "
				  "or null", r->file, vat);
	/* folded mappings never overlap in time: one is live at most */
	if (json_is_null(destroyed))
		pm->v[M_LIVE_BYTES] = sat_add(pm->v[M_LIVE_BYTES], end - start);
	pm->v[M_BYTES_MAPPED] = sat_add(pm->v[M_BYTES_MAPPED], sat_mul(end - start, instances));
	pm->v[M_VMA_COUNT] = sat_add(pm->v[M_VMA_COUNT], instances);
	if (path && json_object_get(v, "offset") && json_is_integer(json_object_get(v, "offset")) &&
	    spans__add(sp, start, end, (uint64_t)json_integer_value(json_object_get(v, "offset")),
		       path))
		return diag__fail(d, "out of memory");
	return 0;
}

/* A file's page that a fault read into the page cache is the machine's
 * (cached before the run or not: a build's first run reads its compiler in,
 * the next one finds it there), not the program's. Of a mapping with file
 * faults, pages_allocated keeps the private pages its faults made (copies,
 * first touches, shared memory); the rest is the page cache's. */
static uint64_t page_cache_pages(const struct metrics *vm)
{
	uint64_t own = sat_add(sat_add(vm->v[FC_DEMAND_ZERO], vm->v[FC_COW_COPY]),
			       vm->v[FC_SHMEM]);
	if (!vm->v[FC_FILE] || vm->v[M_PAGES_ALLOCATED] <= own)
		return 0;
	return vm->v[M_PAGES_ALLOCATED] - own;
}

/* Pass 2, one VMA (checked by pass 1): its entry, under its site key;
 * *cached grows by the page-cache pages taken out of it. */
static int vma__entry(struct diag *d, struct report *r, const struct dproc *p, json_t *v,
		      const char *vat, const struct spans *sp, uint64_t *cached)
{
	struct metrics vm = { 0 };
	char *key = NULL, *label = NULL, *kind;
	uint64_t instances = 1;
	uint64_t start = (uint64_t)json_integer_value(json_object_get(v, "start"));
	uint64_t end = (uint64_t)json_integer_value(json_object_get(v, "end"));
	int err;
	if ((err = get_faults(d, r, v, vat, &vm)) ||
	    (err = get_count_or_null(d, r, v, vat, "pages_allocated", &vm.v[M_PAGES_ALLOCATED])) ||
	    (err = get_instances(d, r, v, vat, &instances)) ||
	    (err = vma_key(d, r, v, vat, sp, &key, &label)))
		return err;
	uint64_t pc = page_cache_pages(&vm);
	vm.v[M_PAGES_ALLOCATED] -= pc;
	*cached = sat_add(*cached, pc);
	vm.v[M_VMA_COUNT] = instances;
	vm.v[M_BYTES_MAPPED] = sat_mul(end - start, instances);
	if (json_is_null(json_object_get(v, "destroyed_ns")))
		vm.v[M_LIVE_BYTES] = end - start;
	kind = strdup(json_string_value(json_object_get(v, "kind")));
	if (!kind || report__push(r, p, key, label, kind, &vm)) {
		free(key);
		free(label);
		free(kind);
		return diag__fail(d, "out of memory");
	}
	return 0;
}

/* Pass 1 over process pi's VMAs (vma__scan); *n: how many it has. */
static int proc__scan(struct diag *d, struct report *r, size_t pi, json_t *vmas, const char *at,
		      struct metrics *pm, struct spans *sp, size_t *n)
{
	size_t pos = 0;
	const char *bad;
	json_t *v;
	for (*n = 0; (v = vma_next(r, pi, vmas, &pos, *n, &bad)); (*n)++) {
		char vat[96];
		snprintf(vat, sizeof(vat), "%s.vmas[%zu]", at, *n);
		int err = vma__scan(d, r, v, vat, pm, sp);
		json_decref(v);
		if (err)
			return err;
	}
	if (bad)
		return diag__fail(d, "%s: %s.vmas[%zu]: %s", r->file, at, *n, bad);
	spans__sort(sp);
	return 0;
}

/* Pass 2 over process pi's n VMAs (vma__entry). */
static int proc__sites(struct diag *d, struct report *r, size_t pi, json_t *vmas,
		       const char *at, const struct spans *sp, size_t n, uint64_t *cached)
{
	size_t pos = 0;
	const char *bad;
	json_t *v;
	for (size_t i = 0; i < n && (v = vma_next(r, pi, vmas, &pos, i, &bad)); i++) {
		char vat[96];
		snprintf(vat, sizeof(vat), "%s.vmas[%zu]", at, i);
		int err = vma__entry(d, r, &r->procs[pi], v, vat, sp, cached);
		json_decref(v);
		if (err)
			return err;
	}
	return 0;
}

/* One entry for the process and one per VMA (merged per site later). The
 * VMAs are read twice, one object at a time (vma_next): first the file
 * mappings that unsymbolized frames are resolved through, then the metrics. */
static int proc__entries(struct report *r, size_t pi, struct diag *d)
{
	struct dproc *p = &r->procs[pi];
	struct metrics pm = { 0 };
	struct spans sp = { 0 };
	size_t n = 0;
	uint64_t cached = 0;
	json_t *vmas;
	char at[64];
	int err;
	snprintf(at, sizeof(at), "processes[%zu]", pi);
	if ((err = get_faults(d, r, p->j, at, &pm)) ||
	    (err = get_count_or_null(d, r, p->j, at, "pages_allocated", &pm.v[M_PAGES_ALLOCATED])) ||
	    (err = get_typed(d, r, p->j, at, "vmas", JSON_ARRAY, 0, &vmas)))
		return err;
	err = proc__scan(d, r, pi, vmas, at, &pm, &sp, &n);
	if (!err)
		err = proc__sites(d, r, pi, vmas, at, &sp, n, &cached);
	/* the process's pages_allocated, less what its mappings gave the page cache */
	pm.v[M_PAGES_ALLOCATED] -= cached < pm.v[M_PAGES_ALLOCATED] ? cached :
				   pm.v[M_PAGES_ALLOCATED];
	if (!err && report__push(r, p, NULL, NULL, NULL, &pm))
		err = diag__fail(d, "out of memory");
	if (!err)
		metrics__add(&r->total, &pm);
	spans__free(&sp);
	return err;
}

/* Process entries (key NULL) first within a role, then sites by key. */
int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->role, y->role);
	if (c)
		return c;
	if (!x->key || !y->key)
		return !!x->key - !!y->key;
	return strcmp(x->key, y->key);
}

/* Sorted by entry_cmp, and the entries of one role and site summed: the
 * VMAs of one site, and the processes of one role (siblings that are the
 * same command: which of them did which part of the work is up to the
 * scheduler, their sum is not). */
static void entries__merge(struct report *r)
{
	size_t w = 0;
	if (r->n_entries)
		qsort(r->entries, r->n_entries, sizeof(*r->entries), entry_cmp);
	for (size_t i = 0; i < r->n_entries; i++) {
		if (w && !entry_cmp(&r->entries[w - 1], &r->entries[i])) {
			struct entry *keep = &r->entries[w - 1];
			metrics__add(&keep->m, &r->entries[i].m);
			keep->procs += r->entries[i].procs;
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
}

int report__entries(struct report *r, struct diag *d)
{
	for (size_t i = 0; i < r->n_procs; i++) {
		int err = proc__entries(r, i, d);
		if (err)
			return err;
	}
	entries__merge(r);
	return 0;
}

/* Whether r has process role `role` (its entries are sorted). */
static int has_role(const struct report *r, const char *role)
{
	size_t lo = 0, hi = r->n_entries;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(r->entries[mid].role, role) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n_entries && !strcmp(r->entries[lo].role, role);
}

const char *report__role_of(const struct report *r, size_t pi)
{
	const struct dproc *p = &r->procs[pi];
	return has_role(r, p->role) ? p->role : p->loose;
}

static int by_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The loose names of r's roles that `other` lacks, sorted (*n of them). */
static const char **lonely_loose(const struct report *r, const struct report *other, size_t *n)
{
	const char **v = malloc((r->n_entries ? r->n_entries : 1) * sizeof(*v));
	*n = 0;
	if (!v)
		return NULL;
	for (size_t i = 0; i < r->n_entries; i++)
		if (!r->entries[i].key && !has_role(other, r->entries[i].role))
			v[(*n)++] = r->entries[i].loose;
	if (*n > 1)
		qsort(v, *n, sizeof(*v), by_str);
	return v;
}

/* Which of r's entries are of roles `other` lacks. */
static void lonely_flags(const struct report *r, const struct report *other, unsigned char *f)
{
	for (size_t i = 0; i < r->n_entries; i++)
		f[i] = !has_role(other, r->entries[i].role);
}

/* The flagged entries whose loose name is in both[0..n) take it. */
static void loosen(struct report *r, const unsigned char *f, const char **both, size_t n)
{
	for (size_t i = 0; i < r->n_entries; i++)
		if (f[i] && bsearch(&r->entries[i].loose, both, n, sizeof(*both), by_str))
			r->entries[i].role = r->entries[i].loose;
}

/* A command whose arguments changed (a new flag, another input) is not
 * the same role, and neither are its descendants; rather than show all of
 * them as gone and new, the roles one report has and the other lacks are
 * compared by their loose names (every argument list `[*]`), summed, where
 * both sides have that loose name. */
int reports__unify(struct report *a, struct report *b)
{
	size_t na, nb, n = 0;
	const char **la = lonely_loose(a, b, &na), **lb = lonely_loose(b, a, &nb), **both;
	unsigned char *fa = malloc(a->n_entries + 1), *fb = malloc(b->n_entries + 1);
	both = malloc((na + 1) * sizeof(*both));
	int err = !la || !lb || !fa || !fb || !both ? -ENOMEM : 0;
	for (size_t i = 0, j = 0; !err && i < na && j < nb;) {
		int c = strcmp(la[i], lb[j]);
		if (!c && (!n || strcmp(both[n - 1], la[i])))
			both[n++] = la[i];
		i += c <= 0;
		j += c >= 0;
	}
	if (!err && n) {
		/* both reports' flags first: loosening one changes has_role */
		lonely_flags(a, b, fa);
		lonely_flags(b, a, fb);
		loosen(a, fa, both, n);
		loosen(b, fb, both, n);
		entries__merge(a);
		entries__merge(b);
	}
	free(la);
	free(lb);
	free(fa);
	free(fb);
	free(both);
	return err;
}

/* ---- pairing two reports ------------------------------------------------ */

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
	return c ? c : by_index(a, b);
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


/* The sorted entry lists side by side (pairs[0] is the whole report). */
int reports__pair(const struct report *a, const struct report *b, struct result *res)
{
	static const struct metrics zero;
	size_t i = 0, j = 0, n = 1;
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
		p->procs_a = p->x ? p->x->procs : 0;
		p->procs_b = p->y ? p->y->procs : 0;
		i += c <= 0;
		j += c >= 0;
	}
	res->n_pairs = n;
	return loose_match(res);
}
