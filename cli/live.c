/* SPDX-License-Identifier: MIT */
/*
 * record's live view (live.h). What a fault is, live: the kernel
 * collector's fault records carry no VMA (the analyzer classifies them
 * afterwards with its model of each address space), so the view counts
 * what the record itself says:
 *  - copy: a write to a present page that allocated a page not asked
 *    zeroed (copy-on-write: the report's cow_copy);
 *  - new: a fault on a missing page that allocated one (a first touch of
 *    anonymous memory, or a file page read in: demand_zero or file);
 *  - other: the rest (page-cache hits, reuse, zero page, ...).
 * The report's classes are exact; the view's are what can be told at once.
 *
 * Where: each process's mappings as the collector's address-space records
 * make them (mmap, munmap, mremap, brk; a fork child starts with its
 * parent's, an exec with none; record -p's targets with their
 * /proc/PID/maps at the attach), so each copy and new page is put on the
 * mapping it fell in: a file's name, "[heap]", or "[anon SIZE]". What exec
 * itself mapped (the program, ld.so, the stack) no record shows: "(exec)".
 * Call sites need the shim's stacks and the analysis: the report has them.
 */
#include "live.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "traceutil.h"
#include "vmaprof/clock.h"

enum { LC_NEW, LC_COPY, LC_OTHER, LC_N };

#define WHERE_MAX 32 /* labels counted per process; the rest: "(other)" */

struct lmap {
	uint64_t lo, hi;
	int32_t wi; /* its label's index in the process's w[], -1: not looked up */
	char label[24];
};

struct lwhere {
	char label[24];
	uint64_t copies, news; /* pages */
};

struct lproc {
	uint32_t pid, ppid;
	char name[17];
	int forked, exited;
	uint64_t n[LC_N];     /* faults by live class */
	uint64_t shown[LC_N]; /* at the last redraw: the rate's base */
	uint64_t pages;       /* pages allocated by its faults */
	uint64_t copies;      /* pages copied on write (since its fork, for a child) */
	double rate;          /* faults per second at the last redraw */
	double rate_c[LC_N];
	struct lmap *m;       /* its mappings, by address, not overlapping */
	uint32_t nm, capm;
	uint64_t heap_lo;     /* the break's start (first brk's answer), 0 unknown */
	struct lwhere w[WHERE_MAX + 1]; /* [WHERE_MAX]: "(other)" */
	uint32_t nw;
};

struct live {
	int tty;
	struct termios saved;
	int termios_ok;
	char what[96];
	struct u64map by_pid; /* pid -> index + 1 */
	struct lproc *p;
	uint32_t np, cap;
	uint64_t records, faults, lost_seen;
	uint64_t t0, last;
	int page_kib;
	struct vp_buf scr; /* the frame being drawn */
};

static struct lproc *proc_of(struct live *l, uint32_t pid)
{
	if (!pid)
		return NULL;
	void **slot = u64map__slot(&l->by_pid, pid);
	if (!slot)
		return NULL;
	if (*slot)
		return &l->p[(uintptr_t)*slot - 1];
	if (l->np == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 64;
		struct lproc *q = realloc(l->p, cap * sizeof(*q));
		if (!q) {
			*slot = NULL; /* left as absent: counted again next time */
			return NULL;
		}
		l->p = q;
		l->cap = cap;
	}
	struct lproc *p = &l->p[l->np];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	*slot = (void *)(uintptr_t)(++l->np);
	return p;
}

static void set_name(struct lproc *p, const char *s, size_t n)
{
	if (n > sizeof(p->name) - 1)
		n = sizeof(p->name) - 1;
	memcpy(p->name, s, n);
	p->name[n] = 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p->name[i] < 32 || p->name[i] == 127)
			p->name[i] = '?';
}

/* n KiB as a short size: "512K", "3.4M", "1.2G" */
static const char *size_kib(char *b, size_t cap, uint64_t kib)
{
	if (kib < 1024)
		snprintf(b, cap, "%" PRIu64 "K", kib);
	else if (kib < 1024 * 1024)
		snprintf(b, cap, "%.1fM", kib / 1024.0);
	else
		snprintf(b, cap, "%.1fG", kib / (1024.0 * 1024));
	return b;
}

/* ---- where: the mappings ---- */

/* Room for one more mapping: 0, or -1 (the view then misses it). */
static int map_room(struct lproc *p)
{
	if (p->nm < p->capm)
		return 0;
	uint32_t cap = p->capm ? p->capm * 2 : 16;
	struct lmap *q = realloc(p->m, cap * sizeof(*q));
	if (!q)
		return -1;
	p->m = q;
	p->capm = cap;
	return 0;
}

/* Remove [lo, hi) from p's mappings (pieces outside it stay). */
static void map_cut(struct lproc *p, uint64_t lo, uint64_t hi)
{
	for (uint32_t i = 0; i < p->nm;) {
		struct lmap *e = &p->m[i];
		if (e->hi <= lo || e->lo >= hi) {
			i++;
			continue;
		}
		if (e->lo < lo && e->hi > hi) { /* a hole in the middle: two pieces */
			if (map_room(p))
				return;
			e = &p->m[i];
			memmove(e + 2, e + 1, (p->nm - i - 1) * sizeof(*e));
			e[1] = e[0];
			e[0].hi = lo;
			e[1].lo = hi;
			p->nm++;
			return;
		}
		if (e->lo < lo) {
			e->hi = lo;
			i++;
		} else if (e->hi > hi) {
			e->lo = hi;
			i++;
		} else {
			memmove(e, e + 1, (p->nm - i - 1) * sizeof(*e));
			p->nm--;
		}
	}
}

/* [lo, hi) is now one mapping called label. */
static void map_add(struct lproc *p, uint64_t lo, uint64_t hi, const char *label)
{
	if (hi <= lo)
		return;
	map_cut(p, lo, hi);
	if (map_room(p))
		return;
	uint32_t i = p->nm;
	while (i && p->m[i - 1].lo >= hi)
		i--;
	memmove(&p->m[i + 1], &p->m[i], (p->nm - i) * sizeof(p->m[0]));
	p->m[i] = (struct lmap){ .lo = lo, .hi = hi, .wi = -1 };
	snprintf(p->m[i].label, sizeof(p->m[i].label), "%s", label);
	p->nm++;
}

static struct lmap *map_at(const struct lproc *p, uint64_t addr)
{
	uint32_t lo = 0, hi = p->nm;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (p->m[mid].hi <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->nm && p->m[lo].lo <= addr ? &p->m[lo] : NULL;
}

static void anon_label(char *b, size_t n, uint64_t bytes)
{
	char sz[16];
	snprintf(b, n, "[anon %s]", size_kib(sz, sizeof(sz), bytes / 1024));
}

/* The label of a file mapping: its path's base name. */
static void file_label(char *b, size_t n, const char *path, size_t len)
{
	const char *base = path;
	for (size_t i = 0; i < len; i++)
		if (path[i] == '/')
			base = path + i + 1;
	size_t k = len - (size_t)(base - path);
	snprintf(b, n, "%.*s", (int)(k < n - 1 ? k : n - 1), base);
}

/* The index in p->w of label (added when new; WHERE_MAX: "(other)"). */
static uint32_t where_slot(struct lproc *p, const char *label)
{
	uint32_t i = 0;
	while (i < p->nw && strcmp(p->w[i].label, label))
		i++;
	if (i < p->nw)
		return i;
	if (p->nw == WHERE_MAX) {
		snprintf(p->w[WHERE_MAX].label, sizeof(p->w[0].label), "(other)");
		return WHERE_MAX;
	}
	snprintf(p->w[i].label, sizeof(p->w[i].label), "%s", label);
	p->nw++;
	return i;
}

static void where_count(struct lproc *p, uint64_t addr, int c, uint64_t pages)
{
	struct lmap *m = map_at(p, addr);
	uint32_t i;
	if (m) {
		if (m->wi < 0)
			m->wi = (int32_t)where_slot(p, m->label);
		i = (uint32_t)m->wi;
	} else {
		i = where_slot(p, "(exec)");
	}
	if (c == LC_COPY)
		p->w[i].copies += pages;
	else
		p->w[i].news += pages;
}

/* An address-space call of p as the collector saw it. */
static void where_mem(struct lproc *p, const struct vp_rec *h)
{
	const struct vp_mem *m = (const void *)h;
	if (h->size < sizeof(*m) || m->err)
		return;
	char label[24];
	uint64_t len;
	switch (m->call) {
	case VP_CALL_MMAP:
		len = (m->args[1] + 4095) & ~4095ull;
		if (m->path_len && sizeof(*m) + m->path_len <= h->size)
			file_label(label, sizeof(label), (const char *)(m + 1), m->path_len);
		else if (m->args[3] & 0x20 /* MAP_ANONYMOUS */)
			anon_label(label, sizeof(label), len);
		else
			snprintf(label, sizeof(label), "(file)");
		map_add(p, m->ret, m->ret + len, label);
		return;
	case VP_CALL_MUNMAP:
		map_cut(p, m->args[0], m->args[0] + ((m->args[1] + 4095) & ~4095ull));
		return;
	case VP_CALL_MREMAP: {
		const struct lmap *e = map_at(p, m->args[0]);
		snprintf(label, sizeof(label), "%s", e ? e->label : "(exec)");
		if (e && !strncmp(label, "[anon ", 6))
			anon_label(label, sizeof(label), m->args[2]);
		map_cut(p, m->args[0], m->args[0] + m->args[1]);
		map_add(p, m->ret, m->ret + ((m->args[2] + 4095) & ~4095ull), label);
		return;
	}
	case VP_CALL_BRK:
		if (!p->heap_lo) {
			p->heap_lo = m->ret; /* libc asks brk(0) first: the start */
			return;
		}
		if (m->ret > p->heap_lo)
			map_add(p, p->heap_lo, m->ret, "[heap]");
		return;
	default:
		return;
	}
}

/* p's mappings from /proc/PID/maps (record -p's targets, at the attach). */
static void where_seed(struct lproc *p, uint32_t pid)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%u/maps", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;
		int off = 0;
		if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %n", &lo, &hi, &off) < 2 || !off)
			continue;
		char *name = line + off, label[24];
		name[strcspn(name, "\n")] = 0;
		if (!strcmp(name, "[heap]")) {
			p->heap_lo = lo;
			snprintf(label, sizeof(label), "[heap]");
		} else if (name[0] == '[' || name[0] == 0) {
			if (name[0])
				snprintf(label, sizeof(label), "%.23s", name);
			else
				anon_label(label, sizeof(label), hi - lo);
		} else {
			file_label(label, sizeof(label), name, strlen(name));
		}
		map_add(p, lo, hi, label);
	}
	fclose(f);
}

void live__seed(struct live *l, uint32_t pid, const char *name)
{
	struct lproc *p = proc_of(l, pid);
	if (p && name)
		set_name(p, name, strcspn(name, "\n"));
	if (p)
		where_seed(p, pid);
}

void live__record(void *ctx, const struct vp_rec *h)
{
	struct live *l = ctx;
	struct lproc *p;
	l->records++;
	switch (h->type) {
	case VP_REC_FAULT: {
		const struct vp_fault *f = (const void *)h;
		if (!(p = proc_of(l, h->pid)))
			return;
		int present = f->error_code & 1, write = f->error_code & 2;
		int c = LC_OTHER;
		if (f->pages && present && write && !(h->flags & (VP_FAULT_ZEROED | VP_FAULT_HUGE)))
			c = LC_COPY;
		else if (f->pages && !present)
			c = LC_NEW;
		p->n[c]++;
		p->pages += f->pages;
		if (c == LC_COPY)
			p->copies += f->pages;
		if (f->pages && c != LC_OTHER)
			where_count(p, f->addr, c, f->pages);
		l->faults++;
		return;
	}
	case VP_REC_MEM:
		if ((p = proc_of(l, h->pid)))
			where_mem(p, h);
		return;
	case VP_REC_TASK_FORK: {
		const struct vp_task_fork *fk = (const void *)h;
		struct lproc *parent = proc_of(l, h->pid);
		if (!(p = proc_of(l, fk->child_pid)))
			return;
		/* the parent's pointer may have moved with the child's entry */
		parent = proc_of(l, h->pid);
		p->ppid = h->pid;
		p->forked = 1;
		if (parent && !p->name[0])
			memcpy(p->name, parent->name, sizeof(p->name));
		if (parent && parent->nm && !p->nm) {
			free(p->m);
			p->capm = 0;
			p->m = malloc(parent->nm * sizeof(*p->m));
			if (p->m) {
				memcpy(p->m, parent->m, parent->nm * sizeof(*p->m));
				p->nm = p->capm = parent->nm;
				for (uint32_t i = 0; i < p->nm; i++)
					p->m[i].wi = -1; /* the parent's w[] */
				p->heap_lo = parent->heap_lo;
			}
		}
		return;
	}
	case VP_REC_TASK_EXEC: {
		const struct vp_task_exec *ex = (const void *)h;
		if (!(p = proc_of(l, h->pid)) || sizeof(*ex) + ex->path_len > h->size)
			return;
		const char *path = (const char *)(ex + 1), *b = path;
		for (uint32_t i = 0; i < ex->path_len; i++)
			if (path[i] == '/')
				b = path + i + 1;
		set_name(p, b, ex->path_len - (size_t)(b - path));
		p->nm = 0; /* a new address space */
		p->heap_lo = 0;
		return; /* its copies since the fork stay its own: what the fork cost */
	}
	case VP_REC_TASK_NAME: {
		const struct vp_task_name *nm = (const void *)h;
		if ((p = proc_of(l, h->pid)))
			set_name(p, nm->comm, strnlen(nm->comm, sizeof(nm->comm)));
		return;
	}
	case VP_REC_TASK_EXIT:
		if ((p = proc_of(l, h->pid)))
			p->exited = 1;
		return;
	default:
		return;
	}
}

/* The screen being built; a piece that finds no memory is left out. */
#define out(l, ...) ((void)vp_buf_printf(&(l)->scr, __VA_ARGS__))

/* Where are the pages going now, else where did they go most. */
static int busier(const struct lproc *a, const struct lproc *b)
{
	if (a->rate != b->rate)
		return a->rate > b->rate ? -1 : 1;
	if (a->copies != b->copies)
		return a->copies > b->copies ? -1 : 1;
	if (a->pages != b->pages)
		return a->pages > b->pages ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

/* The table's order: running first, then busier. */
static int by_rate(const void *x, const void *y)
{
	const struct lproc *a = *(const struct lproc *const *)x, *b = *(const struct lproc *const *)y;
	if (a->exited != b->exited)
		return a->exited - b->exited;
	return busier(a, b);
}

/* Whether p has pages to say where of. */
static int ord_where(const struct lproc *p)
{
	return p->nw > 0 || p->w[WHERE_MAX].copies + p->w[WHERE_MAX].news > 0;
}

static int by_where(const void *x, const void *y)
{
	const struct lwhere *a = x, *b = y;
	uint64_t na = a->copies + a->news, nb = b->copies + b->news;
	if (na != nb)
		return na > nb ? -1 : 1;
	return strcmp(a->label, b->label);
}

/* "PID NAME: [anon 64.0M] 16.0M/0K, [heap] 8K/1.2M, ..." within width. */
static void where_line(struct live *l, const struct lproc *p, int width)
{
	struct lwhere w[WHERE_MAX + 1];
	uint32_t n = p->nw;
	memcpy(w, p->w, n * sizeof(w[0]));
	if (p->w[WHERE_MAX].copies + p->w[WHERE_MAX].news)
		w[n++] = p->w[WHERE_MAX];
	qsort(w, n, sizeof(w[0]), by_where);
	char line[512];
	int k = snprintf(line, sizeof(line), "%7u %.15s:", p->pid, p->name[0] ? p->name : "?");
	for (uint32_t i = 0; i < n && k < (int)sizeof(line); i++) {
		char a[16], b[16], item[96];
		int m = snprintf(item, sizeof(item), "%s %s %s/%s", i ? "," : "", w[i].label,
				 size_kib(a, sizeof(a), w[i].copies * (uint64_t)l->page_kib),
				 size_kib(b, sizeof(b), w[i].news * (uint64_t)l->page_kib));
		if (k + m > width)
			break;
		k += snprintf(line + k, sizeof(line) - (size_t)k, "%s", item);
	}
	out(l, "%.*s\r\n", width, line);
}

static void draw(struct live *l, double dt)
{
	struct winsize ws = { 0 };
	int rows = 24, cols = 80;
	if (ioctl(l->tty, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
		rows = ws.ws_row;
		cols = ws.ws_col;
	}
	uint32_t running = 0;
	double total = 0;
	struct lproc **ord = malloc((l->np ? l->np : 1) * sizeof(*ord));
	if (!ord)
		return;
	for (uint32_t i = 0; i < l->np; i++) {
		struct lproc *p = &l->p[i];
		uint64_t sum = 0;
		for (int c = 0; c < LC_N; c++) {
			p->rate_c[c] = dt > 0 ? (double)(p->n[c] - p->shown[c]) / dt : 0;
			sum += p->n[c] - p->shown[c];
			p->shown[c] = p->n[c];
		}
		p->rate = dt > 0 ? (double)sum / dt : 0;
		total += p->rate;
		running += !p->exited;
		ord[i] = p;
	}
	qsort(ord, l->np, sizeof(*ord), by_rate);
	l->scr.n = 0;
	out(l, "\033[H\033[2J");
	out(l, "\033[1mvmaprof live\033[0m %.*s\r\n", cols > 14 ? cols - 14 : 0, l->what);
	out(l, "%u process%s (%u running)  %" PRIu64 " faults  %.0f/s  %.0f s  q: stop+report\r\n",
	    l->np, l->np == 1 ? "" : "es", running, l->faults, total, (vp_mono_ns() - l->t0) / 1e9);
	/* 79 columns: an 80-column terminal does not wrap */
	out(l, "\r\n\033[7m%7s %-15.15s %9s %7s %7s %7s %8s %8s %s\033[0m\r\n", "PID", "COMMAND",
	    "FAULTS/s", "NEW/s", "COPY/s", "OTHER/s", "COPIED", "ALLOC", "S");
	/* where the busiest processes' pages went: two lines at the bottom */
	const struct lproc *wp[2] = { NULL, NULL };
	for (uint32_t i = 0; i < l->np; i++) {
		const struct lproc *c = &l->p[i];
		if (!ord_where(c))
			continue;
		if (!wp[0] || busier(c, wp[0]) < 0) {
			wp[1] = wp[0];
			wp[0] = c;
		} else if (!wp[1] || busier(c, wp[1]) < 0) {
			wp[1] = c;
		}
	}
	int nwhere = (wp[0] != NULL) + (wp[1] != NULL);
	int lines = rows - 5 - (nwhere ? nwhere + 1 : 0);
	for (uint32_t i = 0; i < l->np && (int)i < lines; i++) {
		const struct lproc *p = ord[i];
		char a[16], b[16];
		out(l, "%7u %-15.15s %9.0f %7.0f %7.0f %7.0f %8s %8s %s\r\n", p->pid,
		    p->name[0] ? p->name : "?", p->rate, p->rate_c[LC_NEW], p->rate_c[LC_COPY],
		    p->rate_c[LC_OTHER], size_kib(a, sizeof(a), p->copies * (uint64_t)l->page_kib),
		    size_kib(b, sizeof(b), p->pages * (uint64_t)l->page_kib), p->exited ? "x" : "R");
	}
	if ((int)l->np > lines)
		out(l, "... %u more\r\n", l->np - (uint32_t)lines);
	if (nwhere)
		out(l, "\033[7m%-79.79s\033[0m\r\n",
		    "WHERE (pages copied / new, by mapping; call sites: the report)");
	for (int k = 0; k < nwhere; k++)
		where_line(l, wp[k], cols < 80 ? cols - 1 : 79);
	free(ord);
	for (size_t off = 0; off < l->scr.n;) {
		ssize_t w = write(l->tty, l->scr.p + off, l->scr.n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

static void tty_put(int fd, const char *s)
{
	for (size_t n = strlen(s); n;) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

struct live *live__new(const char *what, char *why, size_t why_len)
{
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, why_len, "--live draws on the terminal: /dev/tty: %s", strerror(errno));
		return NULL;
	}
	struct live *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		snprintf(why, why_len, "--live: out of memory");
		return NULL;
	}
	l->tty = fd;
	snprintf(l->what, sizeof(l->what), "%s", what);
	long ps = sysconf(_SC_PAGESIZE);
	l->page_kib = ps > 0 ? (int)(ps / 1024) : 4;
	if (tcgetattr(fd, &l->saved) == 0) {
		struct termios raw = l->saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw.c_cc[VMIN] = 0;
		raw.c_cc[VTIME] = 0;
		l->termios_ok = tcsetattr(fd, TCSANOW, &raw) == 0;
	}
	/* the alternate screen, cursor hidden (a terminal that cannot take
	 * it shows the figures all the same) */
	tty_put(fd, "\033[?1049h\033[?25l");
	l->t0 = l->last = vp_mono_ns();
	draw(l, 0);
	return l;
}

int live__tick(struct live *l)
{
	struct pollfd pf = { .fd = l->tty, .events = POLLIN };
	int quit = 0;
	while (poll(&pf, 1, 0) > 0 && (pf.revents & POLLIN)) {
		char k[32];
		ssize_t n = read(l->tty, k, sizeof(k));
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			quit |= k[i] == 'q' || k[i] == 'Q';
	}
	uint64_t now = vp_mono_ns();
	if (now - l->last >= 1000000000ull) {
		draw(l, (now - l->last) / 1e9);
		l->last = now;
	}
	return quit;
}

void live__free(struct live *l)
{
	if (!l)
		return;
	tty_put(l->tty, "\033[?25h\033[?1049l");
	if (l->termios_ok)
		tcsetattr(l->tty, TCSANOW, &l->saved);
	close(l->tty);
	u64map__free(&l->by_pid);
	for (uint32_t i = 0; i < l->np; i++)
		free(l->p[i].m);
	free(l->p);
	free(l->scr.p);
	free(l);
}
