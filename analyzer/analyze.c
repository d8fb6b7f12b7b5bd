/* SPDX-License-Identifier: MIT */
/*
 * Pass 1 (timeline) and pass 2 (fault attribution); see analyze.h.
 *
 * Times: an acquisition (mmap, mremap, brk growth) takes effect at the end
 * of its call (t_end), a release (munmap, mprotect) at its start (time_ns):
 * a fault in between on the same range belongs to whichever mapping was
 * really there. Entries are split rather than edited, so every entry keeps
 * the lifetime during which faults are charged to it.
 */
#include "analyze.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "model.h"

const char *const fclass_name[FC_N] = { "demand_zero", "zero_page", "cow_copy", "cow_reuse",
					"file", "shmem", "shared_write", "other" };
const char *const pop_name[POP_N] = { "mmap", "madvise", "mlock", "mremap", "mprotect",
				      "brk", "execve", "ioctl", "other" };

#define VM_READ 0x1ull
#define VM_WRITE 0x2ull
#define VM_EXEC 0x4ull
#define VM_SHARED 0x8ull
#define VM_MAYSHARE 0x80ull

#define USER_END 0x800000000000ull
#define PAGE_UP(x, ps) (((x) + (ps) - 1) & ~((uint64_t)(ps) - 1))

/* ---- small utilities ---- */

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
	if (need <= *cap)
		return p;
	uint32_t c = *cap ? *cap : 8;
	while (c < need)
		c *= 2;
	void *n = realloc(p, (size_t)c * elem);
	if (!n) {
		fprintf(stderr, "vmaprof: out of memory\n");
		exit(2);
	}
	*cap = c;
	return n;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *model__intern(struct analysis *a, const char *s, size_t len)
{
	/* linear probe over a small table is fine: paths are few */
	for (uint32_t i = 0; i < a->nstrs; i++)
		if (strlen(a->strs[i]) == len && memcmp(a->strs[i], s, len) == 0)
			return a->strs[i];
	a->strs = grow(a->strs, &a->capstrs, a->nstrs + 1, sizeof(*a->strs));
	char *c = malloc(len + 1);
	if (!c)
		exit(2);
	vp_utf8_clean(c, s, len); /* traces may be damaged: keep the JSON valid */
	a->strs[a->nstrs++] = c;
	return c;
}

struct proc *model__proc(struct analysis *a, uint32_t pid)
{
	struct proc **h = &a->phash[pid & 4095];
	for (struct proc *p = *h; p; p = p->hnext)
		if (p->pid == pid)
			return p;
	struct proc *p = calloc(1, sizeof(*p));
	if (!p)
		exit(2);
	p->pid = pid;
	p->exit_code = p->exit_signal = -1;
	p->first_exec_t = T_NEVER;
	p->hnext = *h;
	*h = p;
	a->procs = grow(a->procs, &a->capprocs, a->nprocs + 1, sizeof(*a->procs));
	a->procs[a->nprocs++] = p;
	return p;
}

static struct proc *find_proc(struct analysis *a, uint32_t pid)
{
	for (struct proc *p = a->phash[pid & 4095]; p; p = p->hnext)
		if (p->pid == pid)
			return p;
	return NULL;
}

/* ---- internal ranges (the shim's own memory), keyed by (pid, start) ---- */

struct iset {
	struct u64map m;
};

static uint64_t ikey(uint32_t pid, uint64_t start)
{
	return ((uint64_t)pid << 40) ^ (start >> 12) ^ 0x8000000000000000ull; /* never 0 */
}

static void iset_add(struct iset *s, uint64_t key)
{
	if (u64map__put(&s->m, key, (void *)1))
		exit(2);
}

static int iset_has(const struct iset *s, uint64_t key)
{
	return u64map__get(&s->m, key) != NULL;
}

/* ---- pass 1: events ---- */

enum evk { EV_PROC, EV_MAPS, EV_MEM, EV_FORK, EV_EXIT, EV_TFORK, EV_TEXEC, EV_TEXIT, EV_TNAME };

struct ev {
	uint64_t t, seq;
	const struct vp_rec *r;
	char *text; /* EV_MAPS: the whole snapshot (owned) */
	size_t tlen;
	uint32_t file;
	uint8_t kind, dup, why;
};

struct evs {
	struct ev *e;
	uint32_t n, cap;
};

static void ev_add(struct evs *v, uint64_t t, const struct vp_rec *r, uint32_t file, int kind)
{
	v->e = grow(v->e, &v->cap, v->n + 1, sizeof(*v->e));
	v->e[v->n] = (struct ev){ .t = t, .seq = v->n, .r = r, .file = file, .kind = (uint8_t)kind };
	v->n++;
}

static int ev_cmp(const void *x, const void *y)
{
	const struct ev *a = x, *b = y;
	if (a->t != b->t)
		return a->t < b->t ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static int is_acquire(uint32_t call)
{
	return call == VP_CALL_MMAP || call == VP_CALL_MREMAP || call == VP_CALL_BRK ||
	       call == VP_CALL_SBRK;
}

static uint64_t mem_time(const struct vp_mem *m)
{
	return is_acquire(m->call) && m->t_end ? m->t_end : m->h.time_ns;
}

/* The new program break a brk/sbrk record ends with (0 when unknown). */
static uint64_t brk_new(const struct vp_mem *m)
{
	if (m->err)
		return 0;
	if (m->call == VP_CALL_SBRK)
		return m->args[1];
	return m->ret;
}

/* Shim and kernel records of the same call are one event: same thread,
 * same call, same result, the kernel's span inside the shim's.
 *
 * Shim records are bucketed by that key, each bucket in time order. A
 * thread's calls do not overlap, so as kernel records are taken in time order
 * each bucket is consumed front to back: a shim record that ended before the
 * kernel call ended can match no later kernel record either. That keeps a
 * program that maps the same address ten million times linear (W1). */
struct dkey {
	uint32_t ev;
	uint32_t next;
};

struct dbucket {
	uint64_t key;
	uint32_t cur, last; /* first unconsumed entry, last entry (UINT32_MAX: none) */
};

static uint64_t dkey_of(const struct vp_mem *m)
{
	uint32_t call = m->call == VP_CALL_SBRK ? VP_CALL_BRK : m->call;
	uint64_t ret = (m->call == VP_CALL_BRK || m->call == VP_CALL_SBRK) ? brk_new(m) : m->ret;
	uint64_t k = ((uint64_t)m->h.tid << 32) ^ ((uint64_t)call << 56) ^ ret;
	k *= 0x9e3779b97f4a7c15ull;
	return k ^ (k >> 31);
}

static struct dbucket *dfind(struct dbucket *b, uint32_t cap, uint64_t k, int create)
{
	for (uint32_t i = (uint32_t)k & (cap - 1);; i = (i + 1) & (cap - 1)) {
		if (b[i].cur == UINT32_MAX && b[i].last == UINT32_MAX) {
			if (!create)
				return NULL;
			b[i].key = k;
			return &b[i];
		}
		if (b[i].key == k)
			return &b[i];
	}
}

static void dedup(struct evs *v)
{
	uint32_t cap = 1;
	while (cap < v->n * 2 + 2)
		cap <<= 1;
	struct dbucket *b = malloc(cap * sizeof(*b));
	struct dkey *dk = malloc((v->n + 1) * sizeof(*dk));
	if (!b || !dk)
		exit(2);
	memset(b, 0xff, cap * sizeof(*b));
	uint32_t nd = 0;
	for (uint32_t i = 0; i < v->n; i++) {
		const struct vp_mem *m = (const void *)v->e[i].r;
		if (v->e[i].kind != EV_MEM || !(m->h.flags & VP_MEM_FROM_SHIM))
			continue;
		struct dbucket *q = dfind(b, cap, dkey_of(m), 1);
		dk[nd] = (struct dkey){ i, UINT32_MAX };
		if (q->last == UINT32_MAX)
			q->cur = nd;
		else
			dk[q->last].next = nd;
		q->last = nd++;
	}
	for (uint32_t i = 0; i < v->n; i++) {
		const struct vp_mem *km = (const void *)v->e[i].r;
		if (v->e[i].kind != EV_MEM || !(km->h.flags & VP_MEM_FROM_KERNEL))
			continue;
		struct dbucket *q = dfind(b, cap, dkey_of(km), 0);
		if (!q)
			continue;
		for (uint32_t d = q->cur; d != UINT32_MAX; d = dk[d].next) {
			struct ev *se = &v->e[dk[d].ev];
			const struct vp_mem *sm = (const void *)se->r;
			if (sm->h.pid != km->h.pid || sm->h.tid != km->h.tid)
				continue; /* another thread's key hashed alike */
			if (se->dup == 2 || sm->t_end + 1 < km->t_end) {
				/* matched, or over before this call ended */
				if (d == q->cur)
					q->cur = dk[d].next;
				continue;
			}
			if (km->h.time_ns + 1 >= sm->h.time_ns) {
				v->e[i].dup = 1; /* kernel copy: dropped */
				se->dup = 2;     /* shim copy: confirmed */
				if (d == q->cur)
					q->cur = dk[d].next;
			}
			break; /* it began after this call began: so do the later ones */
		}
	}
	free(b);
	free(dk);
}

/* ---- the live set and entries ---- */

static uint32_t new_vma(struct proc *p, const struct vma *tmpl)
{
	p->v = grow(p->v, &p->capv, p->nv + 1, sizeof(*p->v));
	p->v[p->nv] = *tmpl;
	p->v[p->nv].sites = NULL;
	p->v[p->nv].nsites = p->v[p->nv].capsites = 0;
	memset(p->v[p->nv].faults, 0, sizeof(p->v[p->nv].faults));
	p->v[p->nv].pages = 0;
	return p->nv++;
}

/* First live index whose entry ends after addr. */
static uint32_t live_lb(const struct proc *p, uint64_t addr)
{
	uint32_t lo = 0, hi = p->nlive;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (p->v[p->live[mid]].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void live_insert(struct proc *p, uint32_t id)
{
	p->live = grow(p->live, &p->caplive, p->nlive + 1, sizeof(*p->live));
	uint32_t i = live_lb(p, p->v[id].start);
	memmove(p->live + i + 1, p->live + i, (p->nlive - i) * sizeof(*p->live));
	p->live[i] = id;
	p->nlive++;
}

static void live_remove_at(struct proc *p, uint32_t i)
{
	memmove(p->live + i, p->live + i + 1, (p->nlive - i - 1) * sizeof(*p->live));
	p->nlive--;
}

static uint32_t piece(struct proc *p, uint32_t from, uint64_t lo, uint64_t hi, uint64_t t)
{
	struct vma tmpl = p->v[from];
	tmpl.start = lo;
	tmpl.end = hi;
	if (!tmpl.anonymous)
		tmpl.offset += lo - p->v[from].start;
	tmpl.valid_from = t;
	tmpl.destroyed_ns = T_NEVER;
	tmpl.ended_by = VE_NONE;
	tmpl.piece_of = from + 1;
	return new_vma(p, &tmpl);
}

/* End every live entry overlapping [lo, hi) at t; the parts outside the
 * range live on as pieces. Returns how many entries it touched. */
static int carve(struct proc *p, uint64_t lo, uint64_t hi, uint64_t t, int why)
{
	int n = 0;
	uint32_t i = live_lb(p, lo);
	while (i < p->nlive && p->v[p->live[i]].start < hi) {
		uint32_t id = p->live[i];
		live_remove_at(p, i);
		p->v[id].destroyed_ns = t;
		p->v[id].ended_by = (uint8_t)why;
		n++;
		if (p->v[id].start < lo)
			live_insert(p, piece(p, id, p->v[id].start, lo, t));
		if (p->v[id].end > hi)
			live_insert(p, piece(p, id, hi, p->v[id].end, t));
		i = live_lb(p, lo);
		while (i < p->nlive && p->v[p->live[i]].start < lo)
			i++;
	}
	return n;
}

static void add_entry(struct proc *p, struct vma *e, uint64_t t)
{
	if (e->end <= e->start)
		return;
	carve(p, e->start, e->end, t, VE_REPLACED);
	e->valid_from = t;
	e->destroyed_ns = T_NEVER;
	live_insert(p, new_vma(p, e));
}

static void reprotect(struct proc *p, uint64_t lo, uint64_t hi, uint8_t prot, uint64_t t)
{
	uint32_t i = live_lb(p, lo);
	while (i < p->nlive && p->v[p->live[i]].start < hi) {
		uint32_t id = p->live[i];
		if (p->v[id].prot == prot) {
			i++;
			continue;
		}
		uint64_t s = p->v[id].start, e = p->v[id].end;
		uint64_t a = s > lo ? s : lo, b = e < hi ? e : hi;
		live_remove_at(p, i);
		p->v[id].destroyed_ns = t;
		p->v[id].ended_by = VE_SPLIT;
		if (s < a)
			live_insert(p, piece(p, id, s, a, t));
		uint32_t mid = piece(p, id, a, b, t);
		p->v[mid].prot = prot;
		live_insert(p, mid);
		if (b < e)
			live_insert(p, piece(p, id, b, e, t));
		i = live_lb(p, b);
	}
}

/* Fill the gaps of the live set with the lines of a maps snapshot. */
static void fill_from_maps(struct analysis *a, struct proc *p, const char *text, size_t len,
			   uint64_t valid_from, int origin, const struct iset *internal)
{
	const char *s = text, *end = text + len;
	size_t dl = strlen(a->dir);
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			nl = end;
		unsigned long long lo, hi, off;
		char perms[8] = "";
		int path_at = 0;
		char line[4096 + 256];
		size_t ll = (size_t)(nl - s) < sizeof(line) - 1 ? (size_t)(nl - s) : sizeof(line) - 1;
		memcpy(line, s, ll);
		line[ll] = 0;
		s = nl + 1;
		if (sscanf(line, "%llx-%llx %7s %llx %*x:%*x %*u %n", &lo, &hi, perms, &off,
			   &path_at) < 4 || hi <= lo || strlen(perms) < 4 || hi > USER_END)
			continue; /* [vsyscall] lives in kernel space: not a user VMA */
		const char *path = path_at > 0 && path_at <= (int)ll ? line + path_at : "";
		/* only where the timeline has nothing; but a file mapping the
		 * kernel side saw (no path in a syscall record) learns its path */
		uint32_t i = live_lb(p, lo);
		if (i < p->nlive && p->v[p->live[i]].start < hi) {
			for (; i < p->nlive && p->v[p->live[i]].start < hi; i++) {
				/* and so do the pieces it was split from */
				for (uint32_t id = p->live[i] + 1; id; id = p->v[id - 1].piece_of) {
					struct vma *x = &p->v[id - 1];
					if (x->path || x->anonymous || path[0] != '/')
						break;
					x->path = model__intern(a, path, strlen(path));
				}
			}
			continue;
		}
		struct vma e = { 0 };
		e.start = lo;
		e.end = hi;
		e.offset = off;
		e.prot = (uint8_t)((perms[0] == 'r' ? PROT_READ : 0) |
				   (perms[1] == 'w' ? PROT_WRITE : 0) |
				   (perms[2] == 'x' ? PROT_EXEC : 0));
		e.shared = perms[3] == 's';
		e.stack_file = -1;
		e.created_ns = valid_from;
		e.origin = (uint8_t)origin;
		int special = path[0] == '[';
		e.anonymous = !path[0] || special;
		if (path[0] && !special)
			e.path = model__intern(a, path, strlen(path));
		if (!strcmp(path, "[heap]"))
			e.kind = VK_HEAP;
		else if (!strncmp(path, "[stack", 6))
			e.kind = VK_STACK;
		else if (!strcmp(path, "[vdso]") || !strncmp(path, "[vvar", 5) ||
			 !strcmp(path, "[vsyscall]"))
			e.kind = VK_VDSO;
		else if (special)
			e.kind = VK_OTHER;
		else if (!path[0])
			e.kind = e.shared ? VK_SHM : VK_ANON;
		else if (e.shared && !strncmp(path, "/dev/zero", 9))
			e.kind = VK_SHM;
		else if (e.prot & PROT_EXEC)
			e.kind = VK_CODE;
		else if ((e.prot & PROT_WRITE) && !e.shared)
			e.kind = VK_DATA;
		else
			e.kind = VK_FILE;
		if (e.shared && !path[0])
			e.anonymous = 1;
		e.internal = iset_has(internal, ikey(p->pid, lo)) ||
			     (path[0] && !strncmp(path, a->dir, dl) && !strncmp(path + dl, "/preload.", 9));
		if (e.internal)
			e.kind = VK_OTHER;
		e.valid_from = valid_from;
		e.destroyed_ns = T_NEVER;
		live_insert(p, new_vma(p, &e));
		if (e.kind == VK_HEAP && !p->brk_cur)
			p->brk_cur = hi;
	}
}

static uint8_t kind_of_mmap(int shared, int anon, uint64_t flags, uint8_t prot)
{
	if (flags & MAP_STACK)
		return VK_STACK;
	if (anon)
		return shared ? VK_SHM : VK_ANON;
	if (prot & PROT_EXEC)
		return VK_CODE;
	if ((prot & PROT_WRITE) && !shared)
		return VK_DATA;
	return VK_FILE;
}

static void apply_mem(struct analysis *a, struct proc *p, const struct ev *ev,
		      const struct iset *internal)
{
	const struct vp_mem *m = (const void *)ev->r;
	int shim = !!(m->h.flags & VP_MEM_FROM_SHIM);
	uint64_t ps = a->page_size;
	uint64_t t = ev->t;
	int failed = m->err != 0;
	switch (m->call) {
	case VP_CALL_MMAP: {
		if (failed || m->ret >= (uint64_t)-4096)
			break;
		struct vma e = { 0 };
		uint64_t flags = m->args[3];
		e.start = m->ret;
		e.end = m->ret + PAGE_UP(m->args[1], ps);
		e.prot = (uint8_t)(m->args[2] & 7);
		e.shared = (flags & 3) == MAP_SHARED || (flags & 3) == 3 /* SHARED_VALIDATE */;
		e.anonymous = (flags & MAP_ANONYMOUS) || (int64_t)m->args[4] < 0;
		e.offset = e.anonymous ? 0 : m->args[5];
		if (m->path_len)
			e.path = model__intern(a, vp_mem_path(m), m->path_len);
		e.kind = kind_of_mmap(e.shared, e.anonymous, flags, e.prot);
		e.origin = shim ? VO_MMAP : VO_SYSCALL;
		e.stack_file = shim ? (int32_t)ev->file : -1;
		e.stack_id = shim ? m->stack_id : 0;
		e.created_ns = t;
		e.internal = !shim && iset_has(internal, ikey(p->pid, e.start));
		if (e.internal)
			e.kind = VK_OTHER;
		add_entry(p, &e, t);
		break;
	}
	case VP_CALL_MUNMAP:
		if (!failed)
			carve(p, m->args[0], m->args[0] + PAGE_UP(m->args[1], ps), t, VE_MUNMAP);
		break;
	case VP_CALL_MPROTECT:
		if (!failed)
			reprotect(p, m->args[0], m->args[0] + PAGE_UP(m->args[1], ps),
				  (uint8_t)(m->args[2] & 7), t);
		break;
	case VP_CALL_MREMAP: {
		if (failed || m->ret >= (uint64_t)-4096)
			break;
		uint32_t i = live_lb(p, m->args[0]);
		struct vma e = { 0 };
		int have = i < p->nlive && p->v[p->live[i]].start < m->args[0] + m->args[1];
		if (have)
			e = p->v[p->live[i]];
		else {
			e.anonymous = 1;
			e.prot = PROT_READ | PROT_WRITE;
			e.kind = VK_ANON;
			e.stack_file = -1;
		}
		carve(p, m->args[0], m->args[0] + PAGE_UP(m->args[1], ps), t, VE_MREMAP);
		e.start = m->ret;
		e.end = m->ret + PAGE_UP(m->args[2], ps);
		e.origin = VO_MREMAP;
		e.created_ns = t;
		e.inh_pid = e.inh_vma = e.piece_of = 0;
		if (shim) {
			e.stack_file = (int32_t)ev->file;
			e.stack_id = m->stack_id;
		}
		add_entry(p, &e, t);
		break;
	}
	case VP_CALL_BRK:
	case VP_CALL_SBRK: {
		uint64_t nb = brk_new(m);
		uint64_t old = m->call == VP_CALL_SBRK ? m->ret : (shim ? m->args[1] : p->brk_cur);
		if (!nb || nb >= (uint64_t)-4096)
			break;
		if (!old) {
			p->brk_cur = nb;
			break;
		}
		uint64_t lo = PAGE_UP(old, ps), hi = PAGE_UP(nb, ps);
		if (hi > lo) {
			struct vma e = { 0 };
			e.start = lo;
			e.end = hi;
			e.prot = PROT_READ | PROT_WRITE;
			e.anonymous = 1;
			e.kind = VK_HEAP;
			e.origin = VO_BRK;
			e.stack_file = shim ? (int32_t)ev->file : -1;
			e.stack_id = shim ? m->stack_id : 0;
			e.created_ns = t;
			add_entry(p, &e, t);
		} else if (hi < lo) {
			carve(p, hi, lo, t, VE_MUNMAP);
		}
		p->brk_cur = nb;
		break;
	}
	default:
		break;
	}
}

static int internal_call(const struct vp_mem *m, uint32_t pid, const struct iset *internal)
{
	return (m->h.flags & VP_MEM_FROM_KERNEL) && m->call == VP_CALL_MMAP &&
	       iset_has(internal, ikey(pid, m->ret));
}

static void do_fork(struct analysis *a, uint32_t ppid, uint32_t cpid, uint64_t t)
{
	/* a process that forks itself is damaged input: copying its live
	 * entries into itself would never end (fuzzer regression) */
	if (ppid == cpid)
		return;
	struct proc *pp = model__proc(a, ppid), *c = model__proc(a, cpid);
	if (c->forked || c->is_root)
		return;
	c->forked = 1;
	c->ppid = ppid;
	c->fork_t = t;
	c->start_ns = t;
	c->brk_cur = pp->brk_cur;
	if (!c->exe) {
		/* until it execs, the child runs a copy of the parent's image */
		c->exe = pp->exe;
		c->exe_resolved = pp->exe_resolved;
		c->name = pp->name;
		c->title = pp->title;
		c->argv = pp->argv ? json_incref(pp->argv) : NULL;
	}
	c->pre_exec_secure = pp->nex ? pp->ex[pp->nex - 1].secure : pp->pre_exec_secure;
	for (uint32_t i = 0; i < pp->nlive; i++) {
		struct vma e = pp->v[pp->live[i]];
		e.origin = VO_INHERITED;
		e.inh_pid = ppid;
		e.inh_vma = pp->live[i];
		e.piece_of = 0;
		e.created_ns = t;
		e.valid_from = t;
		e.destroyed_ns = T_NEVER;
		e.ended_by = VE_NONE;
		live_insert(c, new_vma(c, &e));
	}
	pp->kids = realloc(pp->kids, (pp->nkids + 1) * sizeof(*pp->kids));
	if (!pp->kids)
		exit(2);
	pp->kids[pp->nkids++] = (struct child_ref){ .child = cpid, .t = t, .end = T_NEVER };
	pp->calls[8]++;
}

static void child_ended(struct analysis *a, struct proc *c, uint64_t t)
{
	if (!c->forked)
		return;
	struct proc *pp = find_proc(a, c->ppid);
	for (uint32_t i = 0; pp && i < pp->nkids; i++)
		if (pp->kids[i].child == c->pid && pp->kids[i].end > t && pp->kids[i].t <= t)
			pp->kids[i].end = t;
}

static void do_exec(struct analysis *a, struct proc *p, uint64_t t, const char *path,
		    size_t plen)
{
	for (uint32_t i = p->nlive; i-- > 0;) {
		struct vma *e = &p->v[p->live[i]];
		e->destroyed_ns = t;
		e->ended_by = VE_EXEC;
	}
	p->nlive = 0;
	p->brk_cur = 0;
	p->ex = realloc(p->ex, (p->nex + 1) * sizeof(*p->ex));
	if (!p->ex)
		exit(2);
	p->ex[p->nex++] = (struct exec_ev){ .t = t, .path = model__intern(a, path, plen) };
	p->exe = p->ex[p->nex - 1].path;
	/* the new image's own identity comes with it (TASK_NAME, PROC): none
	 * of the old image's may leak into it */
	p->exe_resolved = NULL;
	json_decref(p->argv);
	p->argv = NULL;
	p->name = NULL;
	p->title = NULL;
	p->calls[0]++;
	if (p->first_exec_t == T_NEVER) {
		p->first_exec_t = t;
		child_ended(a, p, t);
	}
}

static json_t *argv_json(const char *s, uint32_t len)
{
	json_t *arr = json_array();
	for (uint32_t i = 0; i < len;) {
		size_t l = strnlen(s + i, len - i);
		json_array_append_new(arr, vp_json_text(s + i, l));
		i += (uint32_t)l + 1;
	}
	return arr;
}

/* An exec given "/dev/fd/N" (fexecve) or "/proc/self/fd/N" names no
 * program: the resolved path says more. */
static int names_fd(const char *path)
{
	return path && (!strncmp(path, "/dev/fd/", 8) || !strncmp(path, "/proc/", 6));
}

/* Arguments as one line: the non-empty NUL-separated pieces of s[0, len)
 * joined by spaces, trailing spaces dropped (what ps shows). */
static size_t args_line(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap;) {
		size_t l = strnlen(s + i, len - i);
		if (l) {
			if (o && o + 1 < cap)
				out[o++] = ' ';
			size_t c = l < cap - 1 - o ? l : cap - 1 - o;
			memcpy(out + o, s + i, c);
			o += c;
		}
		i += l + 1;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = 0;
	return o;
}

/* The title a program set over its argv area, as of its exit record; NULL
 * when the area still holds its arguments. */
static const char *title_of(struct analysis *a, const struct vp_task_name *n, json_t *argv)
{
	static char got[VP_NAME_ARGV_MAX + 1], want[VP_NAME_ARGV_MAX + 1];
	const char *s = vp_task_name_argv(n);
	size_t len = n->argv_len, gl, wl = 0;
	if (!len || !argv)
		return NULL; /* nothing to tell a title from the arguments by */
	if (n->h.flags & VP_NAME_ARGV_SPILL)
		len = strnlen(s, len); /* one string, on into the environment area */
	gl = args_line(s, len, got, sizeof(got));
	if (!gl)
		return NULL;
	for (size_t i = 0; argv && i < json_array_size(argv); i++) {
		const char *v = json_string_value(json_array_get(argv, i));
		size_t l = v ? strlen(v) : 0;
		if (!l)
			continue;
		if (wl && wl + 1 < sizeof(want))
			want[wl++] = ' ';
		if (wl + l >= sizeof(want))
			l = sizeof(want) - 1 - wl;
		memcpy(want + wl, v, l);
		wl += l;
	}
	while (wl && want[wl - 1] == ' ')
		wl--;
	if (gl == wl && !memcmp(got, want, gl))
		return NULL;
	return model__intern(a, got, gl);
}

static void apply_name(struct analysis *a, struct proc *p, const struct vp_task_name *n)
{
	size_t cl = strnlen(n->comm, sizeof(n->comm));
	if (cl)
		p->name = model__intern(a, n->comm, cl);
	if (n->why == VP_NAME_EXEC) {
		if (p->nex)
			p->ex[p->nex - 1].secure = !!(n->h.flags & VP_NAME_SECURE);
		if (!n->argv_len)
			return; /* the area could not be read: the shim may tell */
		json_t *av = argv_json(vp_task_name_argv(n), n->argv_len);
		if (p->nex) {
			json_decref(p->ex[p->nex - 1].argv);
			p->ex[p->nex - 1].argv = json_incref(av);
		}
		json_decref(p->argv);
		p->argv = av;
		return;
	}
	p->title = title_of(a, n, p->argv);
}

/* ---- per-process shim status ---- */

/* 1: an ELF executable without PT_INTERP (static: ld.so never runs, so
 * nothing is preloaded), 0: dynamic, -1: cannot tell (gone, not ELF, a
 * relative path we cannot resolve now). */
static int elf_is_static(const char *path)
{
	if (!path || path[0] != '/')
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	Elf64_Ehdr eh;
	int r = -1;
	if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    (eh.e_type == ET_EXEC || eh.e_type == ET_DYN) &&
	    eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum > 0 && eh.e_phnum < 512) {
		r = 1;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
			    (ssize_t)sizeof(ph)) {
				r = -1;
				break;
			}
			if (ph.p_type == PT_INTERP) {
				r = 0;
				break;
			}
		}
	}
	close(fd);
	return r;
}

static const char *failed_marker(const struct analysis *a, uint32_t pid, int *found)
{
	for (uint32_t i = 0; i < a->nfailed; i++)
		if (a->failed_pids[i] == pid) {
			*found = 1;
			return a->failed_why[i];
		}
	*found = 0;
	return NULL;
}

static int broker_refused(const struct analysis *a, uint32_t pid)
{
	json_t *rp = json_object_get(json_object_get(json_object_get(json_object_get(
						 a->session, "collectors"), "preload"), "broker"),
				     "refused_pids");
	for (size_t i = 0; i < json_array_size(rp); i++)
		if (json_integer_value(json_array_get(rp, i)) == (json_int_t)pid)
			return 1;
	return 0;
}

static const char *const dis_why[] = {
	[VP_DIS_EXTEND] = "the shim stopped recording: could not grow its trace file (disk full?)",
	[VP_DIS_MAP] = "the shim stopped recording: could not map a new trace segment",
	[VP_DIS_REOPEN] = "the shim stopped recording: could not reopen its trace file",
};

/* The system calls the shim makes for itself, by x86_64 number. */
static const char *shim_syscall_name(int32_t nr)
{
	switch (nr) {
	case 0: return "read";
	case 3: return "close";
	case 5: return "fstat";
	case 9: return "mmap";
	case 11: return "munmap";
	case 14: return "rt_sigprocmask";
	case 28: return "madvise";
	case 39: return "getpid";
	case 41: return "socket";
	case 42: return "connect";
	case 44: return "sendto";
	case 47: return "recvmsg";
	case 77: return "ftruncate";
	case 89: return "readlink";
	case 110: return "getppid";
	case 186: return "gettid";
	case 257: return "openat";
	case 285: return "fallocate";
	case 310: return "process_vm_readv";
	default: return NULL;
	}
}

static const char *seccomp_action_name(uint32_t act)
{
	switch (act & 0xffff0000u) {
	case 0x80000000u: return "kill the program";
	case 0x00000000u: return "kill the thread";
	case 0x00030000u: return "trap (SIGSYS)";
	case 0x00050000u: return "fail";
	case 0x7fc00000u: return "hand to a supervisor";
	case 0x7ff00000u: return "hand to a tracer";
	default: return "refuse";
	}
}

/* Why the shim stopped recording the stream with header h, or NULL. */
static const char *disabled_why(struct analysis *a, const struct vp_file_header *h)
{
	uint32_t d = h->disabled;
	if (d == VP_DIS_SECCOMP) {
		char b[400], num[32];
		const char *name = shim_syscall_name(h->dis_nr);
		if (!name) {
			snprintf(num, sizeof(num), "system call %d", h->dis_nr);
			name = num;
		}
		if (h->dis_nr < 0)
			snprintf(b, sizeof(b), "the shim stopped recording: a seccomp filter it did "
				 "not see installed is in force (its rules unknown), so it made no "
				 "further system call of its own; later calls are counted as lost");
		else
			snprintf(b, sizeof(b), "the shim stopped recording: the program's seccomp "
				 "filter would %s on the shim's own %s (for a new trace segment), so "
				 "it never made it; later calls are counted as lost",
				 seccomp_action_name(h->dis_action), name);
		return model__intern(a, b, strlen(b));
	}
	return d < sizeof(dis_why) / sizeof(*dis_why) ? dis_why[d] : NULL;
}

/* The shim's last exec attempt in process `pid` was made under a seccomp
 * filter (and no failure followed): the new image recorded nothing. */
static int sc_exec(const struct analysis *a, uint32_t pid)
{
	for (uint32_t i = 0; i < a->nsc_exec; i++)
		if (a->sc_exec_pids[i] == pid)
			return 1;
	return 0;
}

#define SC_EXEC_WHY "exec'd under a seccomp filter: the new image's shim could not know " \
		    "what the filter allows, so it made no system call of its own and "    \
		    "recorded nothing"

/* Why the image at `path` (secure: AT_SECURE) of process p has no shim
 * trace: the most specific reason known. */
static const char *untraced_why(struct analysis *a, const struct proc *p, const char *path,
				int secure)
{
	int found;
	const char *m = failed_marker(a, p->pid, &found);
	if (found) {
		char b[600];
		snprintf(b, sizeof(b), "the shim could not record: %s",
			 m ? m : "cannot create the trace file");
		return model__intern(a, b, strlen(b));
	}
	if (sc_exec(a, p->pid))
		return SC_EXEC_WHY;
	for (uint32_t i = 0; i < a->nsc_fork; i++)
		if (a->sc_fork_pids[i] == p->pid)
			return "started under a seccomp filter that would refuse the shim's own "
			       "system calls (or whose rules it could not know): the shim made none "
			       "and recorded nothing";
	/* a stream of this pid that stopped before its first record */
	for (uint32_t i = 0; i < a->nfiles; i++) {
		const struct tfile *f = &a->files[i];
		const char *w = f->is_bpf || f->pid != p->pid || f->records
					? NULL : disabled_why(a, reader__header(f->r));
		if (w)
			return w;
	}
	if (secure)
		return "setuid/setgid program (secure exec: the dynamic loader ignored LD_PRELOAD)";
	if (elf_is_static(path) == 1)
		return "static binary (no dynamic loader)";
	if (broker_refused(a, p->pid))
		return "the recorder refused the shim's request (not in the traced tree)";
	return "no trace from the shim";
}

/* processes[].preload: active when every image the process ran has a shim
 * stream (images a process only passes through -- a vfork or posix_spawn
 * child before its exec -- are not asked for one); the reason is that of
 * the first image without, or why a stream stopped early. */
static void preload_status(struct analysis *a)
{
	for (uint32_t i = 0; i < a->nprocs; i++) {
		struct proc *p = a->procs[i];
		p->preload_active = 1;
		p->preload_reason = NULL;
		if (!a->preload_active) {
			p->preload_active = 0;
			p->preload_reason = a->preload_reason ? a->preload_reason
							      : "the shim was not used";
		} else if (!p->nex && !p->pre_exec_traced) {
			p->preload_active = 0;
			p->preload_reason = untraced_why(a, p, p->exe, p->pre_exec_secure);
		} else {
			for (uint32_t k = 0; k < p->nex; k++)
				if (!p->ex[k].traced) {
					p->preload_active = 0;
					p->preload_reason =
						untraced_why(a, p, p->ex[k].path, p->ex[k].secure);
					break;
				}
		}
		/* without the kernel collector the exec itself is known only
		 * from the shim's attempt record */
		if (p->preload_active && !p->nex && sc_exec(a, p->pid)) {
			p->preload_active = 0;
			p->preload_reason = SC_EXEC_WHY;
		}
		for (uint32_t k = 0; p->preload_active && k < p->nimg; k++) {
			const struct tfile *f = &a->files[p->img[k].file];
			const char *w = disabled_why(a, reader__header(f->r));
			if (w)
				p->preload_reason = w;
		}
		a->preload_without += !p->preload_active;
	}
}

/* The shim's failure markers, with the line the broker wrote into each. */
static void load_markers(struct analysis *a, const struct tracedir *td)
{
	a->failed_pids = calloc(td->n_failed + 1, sizeof(*a->failed_pids));
	a->failed_why = calloc(td->n_failed + 1, sizeof(*a->failed_why));
	if (!a->failed_pids || !a->failed_why)
		exit(2);
	for (size_t i = 0; i < td->n_failed; i++) {
		char path[4200], buf[512];
		snprintf(path, sizeof(path), "%s/preload.%d.failed", a->dir, (int)td->failed[i]);
		a->failed_pids[a->nfailed] = (uint32_t)td->failed[i];
		a->failed_why[a->nfailed] = NULL;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = 0;
			size_t l = strcspn(buf, "\n");
			if (l)
				a->failed_why[a->nfailed] = model__intern(a, buf, l);
		}
		a->nfailed++;
	}
}

/* ---- pass 2: faults ---- */

static struct proc *qsort_proc; /* qsort's comparator context */

static int qcmp(const void *x, const void *y)
{
	const struct vma *a = &qsort_proc->v[*(const uint32_t *)x];
	const struct vma *b = &qsort_proc->v[*(const uint32_t *)y];
	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	if (a->valid_from != b->valid_from)
		return a->valid_from < b->valid_from ? -1 : 1;
	return 0;
}

static void build_index(struct proc *p)
{
	if (!p->nv)
		return;
	p->qent = malloc(p->nv * sizeof(*p->qent));
	p->qr = malloc(p->nv * sizeof(*p->qr));
	p->qmaxend = malloc(p->nv * sizeof(*p->qmaxend));
	if (!p->qent || !p->qr || !p->qmaxend)
		exit(2);
	for (uint32_t i = 0; i < p->nv; i++)
		p->qent[i] = i;
	qsort_proc = p;
	qsort(p->qent, p->nv, sizeof(*p->qent), qcmp);
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nv; i++) {
		const struct vma *e = &p->v[p->qent[i]];
		if (n && p->qr[n - 1].start == e->start && p->qr[n - 1].end == e->end) {
			p->qr[n - 1].count++;
			continue;
		}
		p->qr[n++] = (struct qrange){ e->start, e->end, i, 1 };
	}
	p->nqr = n;
	uint64_t mx = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (p->qr[i].end > mx)
			mx = p->qr[i].end;
		p->qmaxend[i] = mx;
	}
}

/* The entry live at (addr, t): among entries covering addr whose lifetime
 * holds t, the one that began last. -1 if none. */
static int64_t lookup(const struct proc *p, uint64_t addr, uint64_t t)
{
	if (!p->nqr)
		return -1;
	uint32_t lo = 0, hi = p->nqr;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (p->qr[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	int64_t best = -1;
	uint64_t best_from = 0;
	for (int64_t i = (int64_t)lo - 1; i >= 0 && p->qmaxend[i] > addr; i--) {
		const struct qrange *r = &p->qr[i];
		if (r->end <= addr)
			continue;
		/* entries of the range by valid_from: last one begun by t */
		uint32_t a = 0, b = r->count;
		while (a < b) {
			uint32_t mid = (a + b) / 2;
			if (p->v[p->qent[r->first + mid]].valid_from <= t)
				a = mid + 1;
			else
				b = mid;
		}
		if (!a)
			continue;
		uint32_t id = p->qent[r->first + a - 1];
		const struct vma *e = &p->v[id];
		if (t >= e->destroyed_ns)
			continue;
		if (best < 0 || e->valid_from >= best_from) {
			best = id;
			best_from = e->valid_from;
		}
	}
	return best;
}

/*
 * The class of one fault (docs/report.md, "Fault classes"), from the error
 * code, the VMA as the kernel saw it (or our entry when it could not look)
 * and what was allocated inside the fault:
 * - not present, private anonymous: a page allocated -> demand_zero; none
 *   on a read -> zero_page (the shared zero page was mapped; kernels
 *   without it allocate, so the same read is demand_zero there); none on a
 *   write -> other (another thread mapped the page first);
 * - not present, shared: shmem when the VMA lives on tmpfs/hugetlbfs
 *   (MAP_SHARED|MAP_ANONYMOUS, SysV shm, memfd, /dev/shm), else file;
 * - not present, private file: a write copies the page-cache page (cow_copy);
 * - present + write, private: a zeroed or huge allocation replaced the
 *   (huge) zero page -> demand_zero; another allocation copied -> cow_copy;
 *   none -> cow_reuse. Shared: shared_write.
 */
/* The entry a call made at addr: of the entries covering addr, the first one
 * begun at or after t0 (the call's start). -1 if none. */
static int64_t lookup_created(const struct proc *p, uint64_t addr, uint64_t t0)
{
	int64_t best = -1;
	uint64_t best_from = UINT64_MAX;
	for (uint32_t i = 0; i < p->nqr; i++) {
		const struct qrange *r = &p->qr[i];
		if (r->start > addr)
			break;
		if (r->end <= addr)
			continue;
		uint32_t a = 0, b = r->count;
		while (a < b) {
			uint32_t mid = (a + b) / 2;
			if (p->v[p->qent[r->first + mid]].valid_from < t0)
				a = mid + 1;
			else
				b = mid;
		}
		if (a < r->count) {
			uint32_t id = p->qent[r->first + a];
			if (p->v[id].valid_from < best_from) {
				best = id;
				best_from = p->v[id].valid_from;
			}
		}
	}
	return best;
}

static int classify(const struct vp_fault *f, const struct vma *e)
{
	int present = f->error_code & 1, write = f->error_code & 2;
	int shared, file, shmem, readable, writable;
	if (f->h.flags & VP_FAULT_VMA) {
		shared = !!(f->vm_flags & (VM_SHARED | VM_MAYSHARE));
		file = !!(f->vma_file & VP_VMA_FILE);
		shmem = !!(f->vma_file & VP_VMA_SHMEM);
		readable = !!(f->vm_flags & (VM_READ | VM_EXEC | VM_WRITE));
		writable = !!(f->vm_flags & VM_WRITE);
	} else if (e) {
		shared = e->shared;
		file = !e->anonymous || e->shared;
		shmem = e->shared && (e->anonymous || e->kind == VK_SHM);
		readable = e->prot != 0;
		writable = !!(e->prot & PROT_WRITE);
	} else {
		return FC_OTHER;
	}
	if (!readable || (write && !writable))
		return FC_OTHER; /* guard pages, PROT_NONE, bad writes */
	if (!present) {
		if (shared)
			return shmem ? FC_SHMEM : FC_FILE;
		if (!file) {
			if (f->pages)
				return FC_DEMAND_ZERO;
			return write ? FC_OTHER : FC_ZERO_PAGE;
		}
		return write ? FC_COW_COPY : FC_FILE;
	}
	if (!write)
		return FC_OTHER; /* spurious or protection faults on reads */
	if (shared)
		return FC_SHARED_WRITE;
	if (!f->pages)
		return FC_COW_REUSE;
	return f->h.flags & (VP_FAULT_ZEROED | VP_FAULT_HUGE) ? FC_DEMAND_ZERO : FC_COW_COPY;
}

static void site_add(struct vma *e, uint64_t ip, int cls, int kernel)
{
	if ((e->nsites + 1) * 2 > e->capsites) {
		uint32_t cap = e->capsites ? e->capsites * 2 : 8;
		struct site *ns = calloc(cap, sizeof(*ns));
		if (!ns)
			exit(2);
		for (uint32_t i = 0; i < e->capsites; i++) {
			if (!e->sites[i].cls)
				continue;
			uint32_t j = (uint32_t)((e->sites[i].ip * 31 + e->sites[i].cls) & (cap - 1));
			while (ns[j].cls)
				j = (j + 1) & (cap - 1);
			ns[j] = e->sites[i];
		}
		free(e->sites);
		e->sites = ns;
		e->capsites = cap;
	}
	uint32_t j = (uint32_t)((ip * 31 + (uint64_t)(cls + 1)) & (e->capsites - 1));
	while (e->sites[j].cls && (e->sites[j].ip != ip || e->sites[j].cls != (uint32_t)cls + 1))
		j = (j + 1) & (e->capsites - 1);
	if (!e->sites[j].cls) {
		e->sites[j] = (struct site){ ip, (uint32_t)cls + 1, (uint16_t)kernel, -1, 0 };
		e->nsites++;
	}
	e->sites[j].count++;
}

static void charge_fork(struct analysis *a, struct proc *p, uint64_t t)
{
	if (p->forked) {
		struct proc *pp = find_proc(a, p->ppid);
		for (uint32_t i = 0; pp && i < pp->nkids; i++)
			if (pp->kids[i].child == p->pid && t >= pp->kids[i].t && t < pp->kids[i].end)
				pp->kids[i].cow_child++;
	}
	/* the parent's copies go to the most recent fork whose child lives */
	for (uint32_t i = p->nkids; i-- > 0;) {
		if (p->kids[i].t <= t && t < p->kids[i].end) {
			p->kids[i].cow_parent++;
			break;
		}
	}
}

static void attribute(struct analysis *a, const struct vp_fault *f)
{
	struct proc *p = model__proc(a, f->h.pid);
	uint64_t t = f->h.time_ns;
	int64_t id = lookup(p, f->addr, t);
	if (id < 0 && (f->h.flags & VP_FAULT_KERNEL)) {
		/* execve writes the new image's stack and bss (kernel-mode
		 * faults) before the exec tracepoint fires: those belong to the
		 * image that is about to start */
		for (uint32_t i = 0; i < p->nex; i++)
			if (p->ex[i].t > t && p->ex[i].t - t < 10000000ull) {
				id = lookup(p, f->addr, p->ex[i].t);
				break;
			}
	}
	struct vma *e = id >= 0 ? &p->v[id] : NULL;
	int c = classify(f, e);
	p->faults[c]++;
	p->pages += f->pages;
	a->faults++;
	if (e) {
		e->faults[c]++;
		e->pages += f->pages;
		site_add(e, f->ip, c, !!(f->h.flags & VP_FAULT_KERNEL));
	} else {
		p->outside++;
		if (getenv("VMAPROF_DEBUG_OUTSIDE"))
			fprintf(stderr, "outside: pid %u addr 0x%llx t %llu err 0x%x vma %d\n", p->pid,
				(unsigned long long)f->addr, (unsigned long long)t, f->error_code,
				!!(f->h.flags & VP_FAULT_VMA));
	}
	if (c == FC_COW_COPY)
		charge_fork(a, p, t);
}

/* x86_64 syscall numbers that populate a known range */
enum { SYS_MMAP = 9, SYS_MPROTECT = 10, SYS_BRK = 12, SYS_IOCTL = 16, SYS_MREMAP = 25,
       SYS_MADVISE = 28, SYS_EXECVE = 59, SYS_MLOCK = 149, SYS_MLOCKALL = 151,
       SYS_EXECVEAT = 322, SYS_MLOCK2 = 325 };

/* Faults a syscall made the kernel take without fault events (and pages it
 * allocated so): charged to the process as populated, and to the entry at
 * the start of the range the syscall names, when it names one. The shim's
 * own trace prefault is kept apart (kernel_counters.shim_prefault). */
static void attribute_sys(struct analysis *a, const struct vp_sysfaults *s)
{
	struct proc *p = model__proc(a, s->h.pid);
	int ok = s->ret < (uint64_t)-4095;
	uint64_t at = 0;
	int kind, made = 0; /* made: the call created the range (look it up by creation) */
	switch (s->nr) {
	case SYS_MMAP: kind = POP_MMAP; at = ok ? s->ret : 0; made = 1; break;
	case SYS_MREMAP: kind = POP_MREMAP; at = ok ? s->ret : 0; made = 1; break;
	case SYS_MADVISE: kind = POP_MADVISE; at = s->args[0]; break;
	case SYS_MPROTECT: kind = POP_MPROTECT; at = s->args[0]; break;
	case SYS_MLOCK: case SYS_MLOCK2: kind = POP_MLOCK; at = s->args[0]; break;
	case SYS_MLOCKALL: kind = POP_MLOCK; break;
	case SYS_BRK: kind = POP_BRK; at = ok && s->ret ? s->ret - 1 : 0; made = 1; break;
	case SYS_EXECVE: case SYS_EXECVEAT: kind = POP_EXECVE; break;
	case SYS_IOCTL: kind = POP_IOCTL; break;
	default: kind = POP_OTHER; break;
	}
	int64_t id = !at ? -1 : made ? lookup_created(p, at, s->t_enter) : lookup(p, at, s->h.time_ns);
	struct vma *e = id >= 0 ? &p->v[id] : NULL;
	if (e && e->internal) {
		p->shim_sys += s->faults;
		return;
	}
	p->pop_faults += s->faults;
	p->pop_pages += s->pages;
	p->pop_by[kind] += s->faults;
	p->pages += s->pages;
	if (e) {
		e->pop_faults += s->faults;
		e->pop_pages += s->pages;
		e->pages += s->pages;
	}
}

/* ---- the run ---- */

static int load_session(struct analysis *a)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/session.json", a->dir);
	json_error_t je;
	a->session = json_load_file(path, 0, &je);
	if (!json_is_object(a->session)) {
		json_decref(a->session);
		a->session = json_object();
		return -ENOENT;
	}
	json_t *r = json_object_get(a->session, "root_pid");
	if (json_is_integer(r))
		a->root_pid = (uint32_t)json_integer_value(r);
	json_t *ps = json_object_get(a->session, "page_size");
	if (json_is_integer(ps) && json_integer_value(ps) > 0)
		a->page_size = (uint64_t)json_integer_value(ps);
	json_t *c = json_object_get(a->session, "collectors");
	json_t *pre = json_object_get(c, "preload"), *bpf = json_object_get(c, "bpf");
	a->preload_active = json_is_true(json_object_get(pre, "active"));
	a->bpf_active = json_is_true(json_object_get(bpf, "active"));
	a->preload_reason = json_string_value(json_object_get(pre, "reason"));
	a->bpf_reason = json_string_value(json_object_get(bpf, "reason"));
	return 0;
}

int analysis__run(const char *dir, struct analysis **out, char *why, size_t why_len)
{
	uint64_t t_start = now_ns();
	struct tracedir td;
	int err = tracedir__scan(dir, &td);
	*out = NULL;
	if (err) {
		snprintf(why, why_len, "%s: %s", dir, strerror(-err));
		return err;
	}
	if (!td.n && !td.has_session) {
		snprintf(why, why_len, "%s holds no vmaprof recording", dir);
		tracedir__free(&td);
		return -ENOENT;
	}
	struct analysis *a = calloc(1, sizeof(*a));
	if (!a)
		exit(2);
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	a->page_size = 4096;
	if (load_session(a) < 0) {
		/* no session.json: still analyse what is there */
		a->preload_active = 1;
		a->bpf_active = 1;
	}
	symbolizer__new(&a->sym);
	a->files = calloc(td.n ? td.n : 1, sizeof(*a->files));
	if (!a->files)
		exit(2);

	struct evs ev = { 0 };
	struct iset internal = { 0 };
	for (size_t i = 0; i < td.n; i++) {
		struct tfile *f = &a->files[a->nfiles];
		char path[4500], w[512];
		snprintf(path, sizeof(path), "%s/%s", dir, td.files[i].name);
		snprintf(f->name, sizeof(f->name), "%s", td.files[i].name);
		if (reader__open(path, &f->r, w, sizeof(w))) {
			fprintf(stderr, "vmaprof: %s (skipped)\n", w);
			a->unreadable++;
			/* a whole stream is missing: at least one record lost */
			if (td.files[i].is_bpf)
				a->bpf_damaged++;
			else
				a->preload_damaged++;
			continue;
		}
		uint32_t fi = a->nfiles++;
		f->is_bpf = td.files[i].is_bpf;
		f->pid = (uint32_t)td.files[i].pid;
		struct maps_acc acc = { 0 };
		const struct vp_rec *h;
		while (reader__next(f->r, &h) > 0) {
			f->records++;
			switch (h->type) {
			case VP_REC_PROC: ev_add(&ev, h->time_ns, h, fi, EV_PROC); break;
			case VP_REC_STACK: stack_map__put(&f->stacks, (const void *)h); break;
			case VP_REC_MAPS: {
				const char *text;
				size_t len;
				if (maps_acc__feed(&acc, (const void *)h, &text, &len) > 0) {
					symbolizer__add_maps(a->sym, fi, text, len);
					ev_add(&ev, h->time_ns, h, fi, EV_MAPS);
					ev.e[ev.n - 1].text = malloc(len + 1);
					if (!ev.e[ev.n - 1].text)
						exit(2);
					memcpy(ev.e[ev.n - 1].text, text, len + 1);
					ev.e[ev.n - 1].tlen = len;
					ev.e[ev.n - 1].why = (uint8_t)((const struct vp_maps *)h)->why;
				}
				break;
			}
			case VP_REC_MEM: ev_add(&ev, mem_time((const void *)h), h, fi, EV_MEM); break;
			case VP_REC_FORK:
				ev_add(&ev, h->time_ns, h, fi, EV_FORK);
				if ((h->flags & VP_FORK_SECCOMP) && ((const struct vp_fork *)h)->child) {
					a->sc_fork_pids = grow(a->sc_fork_pids, &a->capsc_fork,
							       a->nsc_fork + 1,
							       sizeof(*a->sc_fork_pids));
					a->sc_fork_pids[a->nsc_fork++] = ((const struct vp_fork *)h)->child;
				}
				break;
			/* VP_REC_EXEC is an attempt: the kernel's exec record or the
			 * new image's own stream says whether it succeeded */
			case VP_REC_EXEC:
				if ((h->flags & VP_EXEC_SECCOMP) &&
				    !((const struct vp_exec *)h)->err) {
					a->sc_exec_pids = grow(a->sc_exec_pids, &a->capsc_exec,
							       a->nsc_exec + 1,
							       sizeof(*a->sc_exec_pids));
					a->sc_exec_pids[a->nsc_exec++] = h->pid;
				} else if (((const struct vp_exec *)h)->err && a->nsc_exec &&
					   a->sc_exec_pids[a->nsc_exec - 1] == h->pid) {
					a->nsc_exec--; /* that exec failed: the image goes on */
				}
				break;
			case VP_REC_EXIT: ev_add(&ev, h->time_ns, h, fi, EV_EXIT); break;
			case VP_REC_INTERNAL: {
				const struct vp_internal *in = (const void *)h;
				if (!(h->flags & VP_INT_UNMAPPED))
					iset_add(&internal, ikey(h->pid, in->start));
				if (!(h->flags & VP_INT_UNMAPPED) && in->populated) {
					a->pref = grow(a->pref, &a->cappref, a->npref + 1,
						       sizeof(*a->pref));
					a->pref[a->npref].pid = h->pid;
					a->pref[a->npref++].pages = in->populated;
				}
				break;
			}
			case VP_REC_TASK_FORK: ev_add(&ev, h->time_ns, h, fi, EV_TFORK); break;
			case VP_REC_TASK_EXEC: ev_add(&ev, h->time_ns, h, fi, EV_TEXEC); break;
			case VP_REC_TASK_EXIT: ev_add(&ev, h->time_ns, h, fi, EV_TEXIT); break;
			case VP_REC_TASK_NAME: ev_add(&ev, h->time_ns, h, fi, EV_TNAME); break;
			case VP_REC_BPF_LOST: break; /* the header's lost counter covers it */
			default: break;
			}
		}
		maps_acc__free(&acc);
		const struct vp_file_header *fh = reader__header(f->r);
		const struct reader_stats *st = reader__stats(f->r);
		f->lost = fh->lost;
		f->damaged = st->incomplete + st->bad + (st->truncated ? 1 : 0) + st->seg_damaged +
			     st->hdr_damaged;
		if (f->is_bpf) {
			a->bpf_records += f->records;
			a->bpf_lost += f->lost;
			a->bpf_damaged += f->damaged;
		} else {
			a->preload_records += f->records;
			a->preload_lost += f->lost;
			a->preload_damaged += f->damaged;
		}
		a->damaged += f->damaged;
		a->records += f->records;
	}
	load_markers(a, &td);
	tracedir__free(&td);

	if (ev.n > 1) /* ev.e is NULL when there is nothing: qsort(NULL, 0) is UB */
		qsort(ev.e, ev.n, sizeof(*ev.e), ev_cmp);
	dedup(&ev);

	if (a->root_pid) {
		struct proc *r = model__proc(a, a->root_pid);
		r->is_root = 1;
		json_t *s0 = json_object_get(a->session, "start_ns");
		if (json_is_integer(s0))
			r->start_ns = (uint64_t)json_integer_value(s0);
	}
	/* replay */
	for (uint32_t i = 0; i < ev.n; i++) {
		struct ev *e = &ev.e[i];
		const struct vp_rec *h = e->r;
		struct proc *p = model__proc(a, h->pid);
		if (!p->start_ns)
			p->start_ns = e->t;
		switch (e->kind) {
		case EV_PROC: {
			const struct vp_proc *pr = (const void *)h;
			uint64_t img_start = p->nex ? p->ex[p->nex - 1].t : 0;
			if (p->nimg && (!p->nex || p->ex[p->nex - 1].t <= p->img[p->nimg - 1].start_ns)) {
				/* a new image with no kernel exec record: exec'd now,
				 * by the path it was given when the shim knows it */
				if (vp_proc_execfn_len(pr) && !names_fd(vp_proc_execfn(pr)))
					do_exec(a, p, e->t, vp_proc_execfn(pr), vp_proc_execfn_len(pr));
				else
					do_exec(a, p, e->t, vp_proc_exe(pr), pr->exe_len);
				img_start = e->t;
			}
			if (!img_start || (p->nimg && img_start <= p->img[p->nimg - 1].start_ns))
				img_start = p->nimg == 0 && p->forked ? p->fork_t : e->t;
			if (p->nimg == 0 && p->is_root && !p->nex)
				img_start = p->start_ns < e->t ? p->start_ns : e->t;
			p->img = realloc(p->img, (p->nimg + 1) * sizeof(*p->img));
			if (!p->img)
				exit(2);
			p->img[p->nimg++] = (struct image){ (int)e->file, img_start };
			/* exe: the path the image was run by (the kernel's exec
			 * record, else AT_EXECFN), not /proc/self/exe, which
			 * resolves symlinks (redis-server -> redis-check-rdb) */
			p->exe_resolved = model__intern(a, vp_proc_exe(pr), pr->exe_len);
			if (p->nex)
				p->ex[p->nex - 1].traced = 1;
			else
				p->pre_exec_traced = 1;
			const char *given = vp_proc_execfn_len(pr) && !names_fd(vp_proc_execfn(pr))
						    ? model__intern(a, vp_proc_execfn(pr), vp_proc_execfn_len(pr))
						    : NULL;
			if (!p->nex || !p->exe || names_fd(p->exe))
				p->exe = given ? given : p->exe_resolved;
			/* argv: the kernel's copy of this exec's arguments when
			 * there is one (TASK_NAME), else the shim's cmdline */
			if (!p->nex || !p->ex[p->nex - 1].argv) {
				json_decref(p->argv);
				p->argv = argv_json(vp_proc_argv(pr), pr->argv_len);
				if (p->nex)
					p->ex[p->nex - 1].argv = json_incref(p->argv);
			}
			if (!p->ppid)
				p->ppid = pr->ppid;
			break;
		}
		case EV_MAPS: {
			if (!p->nimg || p->img[p->nimg - 1].file != (int)e->file)
				break;
			uint64_t from = p->img[p->nimg - 1].start_ns;
			int origin = VO_INITIAL;
			if (e->why == VP_MAPS_DLOPEN) {
				origin = VO_SYSCALL;
				from = e->t;
			} else if (p->nex) {
				origin = VO_EXEC;
			}
			fill_from_maps(a, p, e->text, e->tlen, from, origin, &internal);
			break;
		}
		case EV_MEM: {
			const struct vp_mem *m = (const void *)h;
			if (e->dup == 1)
				break;
			apply_mem(a, p, e, &internal);
			if (!internal_call(m, p->pid, &internal))
				p->calls[m->call == VP_CALL_SBRK ? VP_CALL_BRK : m->call]++;
			break;
		}
		case EV_FORK: {
			const struct vp_fork *f = (const void *)h;
			if (f->child && !f->err)
				do_fork(a, h->pid, f->child, e->t);
			break;
		}
		case EV_TFORK: {
			const struct vp_task_fork *f = (const void *)h;
			do_fork(a, h->pid, f->child_pid, e->t);
			break;
		}
		case EV_TEXEC: {
			const struct vp_task_exec *x = (const void *)h;
			do_exec(a, p, e->t, vp_task_exec_path(x), x->path_len);
			break;
		}
		case EV_EXIT: {
			const struct vp_exit *x = (const void *)h;
			if (x->kind != VP_EXIT_DESTRUCTOR && p->exit_code < 0 && !p->exited)
				p->exit_code = x->status & 0xff;
			if (!p->exited)
				p->end_ns = e->t;
			break;
		}
		case EV_TNAME:
			apply_name(a, p, (const void *)h);
			break;
		case EV_TEXIT: {
			const struct vp_task_exit *x = (const void *)h;
			p->exited = 1;
			p->end_ns = e->t;
			p->have_kc = 1;
			p->minflt = x->min_flt;
			p->majflt = x->maj_flt;
			int st = x->exit_code;
			if ((st & 0x7f) == 0) {
				p->exit_code = (st >> 8) & 0xff;
				p->exit_signal = -1;
			} else {
				p->exit_signal = st & 0x7f;
				p->exit_code = -1;
			}
			child_ended(a, p, e->t);
			break;
		}
		}
		if (e->t > p->end_ns && !p->exited)
			p->end_ns = e->t;
	}
	for (uint32_t i = 0; i < ev.n; i++)
		free(ev.e[i].text);
	free(ev.e);
	u64map__free(&internal.m);

	/* pass 2 */
	for (uint32_t i = 0; i < a->nprocs; i++)
		build_index(a->procs[i]);
	for (uint32_t fi = 0; fi < a->nfiles; fi++) {
		struct tfile *f = &a->files[fi];
		if (!f->is_bpf)
			continue;
		char path[4500], w[512];
		struct reader *r;
		snprintf(path, sizeof(path), "%s/%s", dir, f->name);
		if (reader__open(path, &r, w, sizeof(w)))
			continue;
		const struct vp_rec *h;
		while (reader__next(r, &h) > 0) {
			if (h->type == VP_REC_FAULT)
				attribute(a, (const void *)h);
			else if (h->type == VP_REC_SYSFAULTS && h->size >= sizeof(struct vp_sysfaults))
				attribute_sys(a, (const void *)h);
		}
		reader__free(r);
	}
	for (uint32_t i = 0; i < a->npref; i++) {
		struct proc *p = find_proc(a, a->pref[i].pid);
		if (p)
			p->prefault += a->pref[i].pages;
	}
	/* root's exit status from the recorder when the kernel gave none */
	struct proc *root = a->root_pid ? find_proc(a, a->root_pid) : NULL;
	if (root && !root->exited) {
		json_t *c = json_object_get(a->session, "exit_code");
		json_t *s = json_object_get(a->session, "exit_signal");
		if (json_is_integer(c))
			root->exit_code = json_integer_value(c);
		if (json_is_integer(s))
			root->exit_signal = json_integer_value(s);
	}
	if (root && !root->argv)
		root->argv = json_incref(json_object_get(a->session, "command"));
	/* what the root faulted between fork and the moment tracing began */
	json_t *bt = json_object_get(a->session, "before_trace");
	if (root && json_is_object(bt) &&
	    json_integer_value(json_object_get(bt, "pid")) == (json_int_t)root->pid)
		root->before_trace =
			(uint64_t)json_integer_value(json_object_get(bt, "minflt")) +
			(uint64_t)json_integer_value(json_object_get(bt, "majflt"));
	preload_status(a);
	a->seconds = (double)(now_ns() - t_start) / 1e9;
	*out = a;
	return 0;
}

void analysis__stats(const struct analysis *a, struct analyze_stats *st)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	st->records = a->records;
	st->faults = a->faults;
	st->seconds = a->seconds;
	st->peak_rss_kb = (uint64_t)ru.ru_maxrss;
}

void analysis__free(struct analysis *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->nprocs; i++) {
		struct proc *p = a->procs[i];
		for (uint32_t j = 0; j < p->nv; j++)
			free(p->v[j].sites);
		for (uint32_t j = 0; j < p->nex; j++)
			json_decref(p->ex[j].argv);
		json_decref(p->argv);
		free(p->v);
		free(p->live);
		free(p->img);
		free(p->ex);
		free(p->kids);
		free(p->qr);
		free(p->qent);
		free(p->qmaxend);
		free(p);
	}
	free(a->procs);
	free(a->pref);
	free(a->failed_pids);
	free(a->sc_exec_pids);
	free(a->sc_fork_pids);
	free(a->failed_why);
	for (uint32_t i = 0; i < a->nfiles; i++) {
		reader__free(a->files[i].r);
		stack_map__free(&a->files[i].stacks);
	}
	free(a->files);
	for (uint32_t i = 0; i < a->nstrs; i++)
		free(a->strs[i]);
	free(a->strs);
	symbolizer__free(a->sym);
	json_decref(a->session);
	free(a);
}
