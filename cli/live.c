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

void live__seed(struct live *l, uint32_t pid, const char *name)
{
	struct lproc *p = proc_of(l, pid);
	if (p && name)
		set_name(p, name, strcspn(name, "\n"));
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
		l->faults++;
		return;
	}
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

static int by_rate(const void *x, const void *y)
{
	const struct lproc *a = *(const struct lproc *const *)x, *b = *(const struct lproc *const *)y;
	if (a->exited != b->exited)
		return a->exited - b->exited;
	if (a->rate != b->rate)
		return a->rate > b->rate ? -1 : 1;
	if (a->copies != b->copies)
		return a->copies > b->copies ? -1 : 1;
	if (a->pages != b->pages)
		return a->pages > b->pages ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
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
	int lines = rows - 5;
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
	free(l->p);
	free(l->scr.p);
	free(l);
}
