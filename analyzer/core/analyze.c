/* SPDX-License-Identifier: MIT */
/*
 * analysis__run (analyze.h) in four passes, in this file's order:
 *  1. collect: every trace file is read once; records that change the
 *     timeline become events (time-ordered, the shim's and the kernel's copy
 *     of one call paired: dedup), stacks and maps go to their tables.
 *  2. replay: the events in time order, one handler per kind, build each
 *     process's VMA timeline (model.c) and its identity (procinfo.c).
 *  3. attribute_all: the kernel collector's files are read again; each fault
 *     and syscall-made fault is charged to the entry live at its address
 *     and time (the index is built first).
 *  4. apply_session: what only the recorder knew (root's status and argv,
 *     its counts before tracing, each process's shim status); session.json
 *     itself is read before pass 1 (load_session).
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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kunwind.h"
#include "model.h"
#include "timeline.h"
#include "vmaprof/clock.h"


#define VM_READ 0x1ull
#define VM_WRITE 0x2ull
#define VM_EXEC 0x4ull
#define VM_SHARED 0x8ull
#define VM_MAYSHARE 0x80ull

#define USER_END 0x800000000000ull
#define PAGE_UP(x, ps) (((x) + (ps) - 1) & ~((uint64_t)(ps) - 1))

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
		model__oom();
}

static int iset_has(const struct iset *s, uint64_t key)
{
	return u64map__get(&s->m, key) != NULL;
}

/* ---- the run's working state (analysis.pass while analysis__run runs) ---- */

enum evk { EV_PROC, EV_MAPS, EV_MEM, EV_FORK, EV_EXIT, EV_TFORK, EV_TEXEC, EV_TEXIT, EV_TNAME,
	   EV_SIGSTACK, EV_KSTACK, EV_MMSTAT, EV_RSS };

struct ev {
	uint64_t t, seq;
	const struct vp_rec *r;
	char *text; /* EV_MAPS: the whole snapshot (owned) */
	size_t tlen;
	uint32_t file;
	/* the record's pid and tid as keys (pidns.c: a shim's are numbered in
	 * its PID namespace), and the pid it names: EV_FORK's child, EV_PROC's
	 * parent */
	uint32_t pid, tid, aux;
	uint8_t kind, dup, why;
};

struct evs {
	struct ev *e;
	uint32_t n, cap;
};

/* Entries waiting for their signal stack (2. replay: sig_note). */
struct sigwait {
	uint32_t vma;
	uint64_t ret;
};

struct sigwaits {
	struct u64map by_thread; /* pid << 32 | tid -> index + 1 in w */
	struct sigwait *w;
	uint32_t n, cap;
	/* kernel stacks: the thread's latest entry a VP_REC_KSTACK may follow */
	struct u64map kwait;     /* pid << 32 | tid -> index + 1 in w */
	struct kunwind *ku;
};

/* Copies of the collector's records that are events: bpf.vpt holds every
 * fault too (most of a recording's bytes), so pass 1 keeps its events'
 * records here and gives the file's mapping back; pages of it an event
 * pointed into would otherwise be read in again by the replay and count
 * in the analyzer's memory, which then grew with the faults. */
struct arena {
	char **blk;
	uint32_t nblk, cap;
	size_t used; /* bytes of the last block */
};

#define ARENA_BLOCK (1u << 20) /* > VP_MAX_RECORD */

static const struct vp_rec *arena_copy(struct arena *ar, const struct vp_rec *h)
{
	if (!ar->nblk || ar->used + h->size > ARENA_BLOCK) {
		ar->blk = model__grow(ar->blk, &ar->cap, ar->nblk + 1, sizeof(*ar->blk));
		ar->blk[ar->nblk] = malloc(ARENA_BLOCK);
		if (!ar->blk[ar->nblk])
			model__oom();
		ar->nblk++;
		ar->used = 0;
	}
	void *c = ar->blk[ar->nblk - 1] + ar->used;
	memcpy(c, h, h->size);
	ar->used += h->size; /* sizes are multiples of 8: copies stay aligned */
	return c;
}

static void arena_free(struct arena *ar)
{
	for (uint32_t i = 0; i < ar->nblk; i++)
		free(ar->blk[i]);
	free(ar->blk);
}

/* What passes 1 and 2 share, freed once the replay is done: the
 * directory's files, the events (the collector's records copied), the
 * shim's own ranges, the entries waiting for their signal stack. */
struct run {
	struct tracedir td;
	struct evs ev;
	struct arena recs;
	struct iset internal;
	struct sigwaits sigw;
};

static void run_free(void *x)
{
	struct run *r = x;
	if (!r)
		return;
	tracedir__free(&r->td);
	for (uint32_t i = 0; i < r->ev.n; i++)
		free(r->ev.e[i].text);
	free(r->ev.e);
	arena_free(&r->recs);
	u64map__free(&r->internal.m);
	u64map__free(&r->sigw.by_thread);
	u64map__free(&r->sigw.kwait);
	kunwind__free(r->sigw.ku);
	free(r->sigw.w);
	free(r);
}

/* ---- 1. collect: the trace files' records to time-ordered events ---- */

static void ev_add(struct evs *v, uint64_t t, const struct vp_rec *r, uint32_t file, int kind)
{
	v->e = model__grow(v->e, &v->cap, v->n + 1, sizeof(*v->e));
	v->e[v->n] = (struct ev){ .t = t, .seq = v->n, .r = r, .file = file, .pid = r->pid,
				  .tid = r->tid, .kind = (uint8_t)kind };
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
	uint32_t cur, last; /* first unconsumed entry, last entry */
};

static uint64_t dkey_of(const struct ev *e)
{
	const struct vp_mem *m = (const void *)e->r;
	uint32_t call = m->call == VP_CALL_SBRK ? VP_CALL_BRK : m->call;
	uint64_t ret = (m->call == VP_CALL_BRK || m->call == VP_CALL_SBRK) ? brk_new(m) : m->ret;
	uint64_t k = ((uint64_t)e->tid << 32) ^ ((uint64_t)call << 56) ^ ret;
	k *= 0x9e3779b97f4a7c15ull;
	k ^= k >> 31;
	return k ? k : 1; /* the map's keys are nonzero */
}

static void dedup(struct evs *v)
{
	struct u64map by_key = { 0 }; /* dkey_of -> index + 1 in b */
	struct dbucket *b = malloc((v->n + 1) * sizeof(*b));
	struct dkey *dk = malloc((v->n + 1) * sizeof(*dk));
	if (!b || !dk)
		model__oom();
	uint32_t nb = 0, nd = 0;
	for (uint32_t i = 0; i < v->n; i++) {
		const struct vp_mem *m = (const void *)v->e[i].r;
		if (v->e[i].kind != EV_MEM || !(m->h.flags & VP_MEM_FROM_SHIM))
			continue;
		uint64_t k = dkey_of(&v->e[i]);
		uintptr_t bi = (uintptr_t)u64map__get(&by_key, k);
		if (!bi) {
			b[nb] = (struct dbucket){ nd, nd };
			bi = ++nb;
			if (u64map__put(&by_key, k, (void *)bi))
				model__oom();
		} else {
			dk[b[bi - 1].last].next = nd;
			b[bi - 1].last = nd;
		}
		dk[nd++] = (struct dkey){ i, UINT32_MAX };
	}
	for (uint32_t i = 0; i < v->n; i++) {
		const struct vp_mem *km = (const void *)v->e[i].r;
		if (v->e[i].kind != EV_MEM || !(km->h.flags & VP_MEM_FROM_KERNEL))
			continue;
		uintptr_t bi = (uintptr_t)u64map__get(&by_key, dkey_of(&v->e[i]));
		if (!bi)
			continue;
		struct dbucket *q = &b[bi - 1];
		for (uint32_t d = q->cur; d != UINT32_MAX; d = dk[d].next) {
			struct ev *se = &v->e[dk[d].ev];
			const struct vp_mem *sm = (const void *)se->r;
			if (se->pid != v->e[i].pid || se->tid != v->e[i].tid)
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
	u64map__free(&by_key);
	free(b);
	free(dk);
}

/* A pid `nr` of a file's records at t as a key: a shim numbers pids in its
 * own PID namespace `fns` (pidns.c); the collector's (fns 0) are keys
 * already. */
static uint32_t file_key(const struct analysis *a, uint32_t fns, uint32_t nr, uint64_t t)
{
	return fns ? pidns__key(a, fns, nr, t) : nr;
}

/* Open the file a->files[a->nfiles] is to be; one that cannot be read is
 * counted as lost (at least one record) and left out: -1. */
static int open_file(struct analysis *a, struct tfile *f, const struct tracedir_file *tf)
{
	char path[4500], w[512];
	snprintf(path, sizeof(path), "%s/%s", a->dir, tf->name);
	snprintf(f->name, sizeof(f->name), "%s", tf->name);
	/* bpf.vpt is read, not mapped: pass 1 copies what it keeps of it */
	if (!(tf->is_bpf ? reader__open_stream : reader__open)(path, &f->r, w, sizeof(w)))
		return 0;
	fprintf(stderr, "vmaprof: %s (skipped)\n", w);
	a->unreadable++;
	if (tf->is_bpf)
		a->bpf_damaged++;
	else
		a->preload_damaged++;
	return -1;
}

/* Who wrote f, from its header; returns the PID namespace its records'
 * pids are numbered in (0: they are keys). */
static uint32_t file_identity(struct analysis *a, struct tfile *f, const struct tracedir_file *tf)
{
	const struct vp_file_header *fh = reader__header(f->r);
	uint32_t fns = f->is_bpf ? 0 : fh->pid_ns;
	f->own_pid = f->is_bpf ? 0 : fh->pid;
	f->pid_ns = fns;
	f->pid = f->is_bpf ? 0 : fh->pid ? file_key(a, fns, fh->pid, fh->start_ns)
			 : pidns__rec(a, tf->pid, fh->start_ns);
	return fns;
}

/* A maps snapshot completed by chunk h: to the symbolizer and, as an
 * event, to the replay (which keeps its own copy of the text). */
static void collect_maps(struct analysis *a, struct evs *ev, uint32_t fi, const struct vp_rec *h,
			 struct maps_acc *acc)
{
	const char *text;
	size_t len;
	if (maps_acc__feed(acc, (const void *)h, &text, &len) <= 0)
		return;
	symbolizer__add_maps(a->sym, fi, text, len);
	ev_add(ev, h->time_ns, h, fi, EV_MAPS);
	struct ev *e = &ev->e[ev->n - 1];
	e->text = model__realloc(NULL, len + 1);
	memcpy(e->text, text, len + 1);
	e->tlen = len;
	e->why = (uint8_t)((const struct vp_maps *)h)->why;
}

/* A child forked under a seccomp filter (the shim's VP_FORK_SECCOMP). */
static void note_seccomp_fork(struct analysis *a, uint32_t child)
{
	a->sc_fork_pids = model__grow(a->sc_fork_pids, &a->capsc_fork, a->nsc_fork + 1,
				      sizeof(*a->sc_fork_pids));
	a->sc_fork_pids[a->nsc_fork++] = child;
}

/* VP_REC_EXEC is an attempt (the kernel's exec record or the new image's
 * own stream says whether it succeeded): one under a seccomp filter
 * (VP_EXEC_SECCOMP) marks its process; a failed one takes back the
 * process's last mark, its image goes on. */
static void note_seccomp_exec(struct analysis *a, const struct vp_exec *x, uint32_t pid)
{
	if ((x->h.flags & VP_EXEC_SECCOMP) && !x->err) {
		a->sc_exec_pids = model__grow(a->sc_exec_pids, &a->capsc_exec, a->nsc_exec + 1,
					      sizeof(*a->sc_exec_pids));
		a->sc_exec_pids[a->nsc_exec++] = pid;
	} else if (x->err && a->nsc_exec && a->sc_exec_pids[a->nsc_exec - 1] == pid) {
		a->nsc_exec--;
	}
}

/* The shim's own memory: a range it mapped (the replay marks the entry
 * internal) and the trace pages it populated. */
static void note_internal(struct analysis *a, struct run *run, const struct vp_internal *in,
			  uint32_t pid)
{
	if (in->h.flags & VP_INT_UNMAPPED)
		return;
	iset_add(&run->internal, ikey(pid, in->start));
	if (!in->populated)
		return;
	a->pref = model__grow(a->pref, &a->cappref, a->npref + 1, sizeof(*a->pref));
	a->pref[a->npref].pid = pid;
	a->pref[a->npref++].pages = in->populated;
}

/* A stack record into file f's table; a copy when f is read as a stream,
 * or when it has frames no user code can be at (VP_USER_IP_END: those are
 * left out, the frames the unwinder found past them kept). */
static void keep_stack(struct tfile *f, const struct vp_rec *h)
{
	const struct vp_stack *s = (const void *)h, *old = NULL;
	uint32_t bad = stack__bad_ips(s); /* depth fits h->size: the reader checked */
	if (f->own_stacks || bad) {
		struct vp_stack *c = model__alloc(h->size);
		memcpy(c, h, h->size);
		c->depth = stack__keep_user_ips(c->ips, c->depth);
		if (f->own_stacks) {
			old = stack_map__get(&f->stacks, s->id); /* replaced: a later one wins */
		} else {
			f->fixed = model__grow(f->fixed, &f->capfixed, f->nfixed + 1,
					       sizeof(*f->fixed));
			f->fixed[f->nfixed++] = c;
		}
		s = c;
	}
	if (stack_map__put(&f->stacks, s) == -ENOMEM)
		model__oom();
	free((void *)old);
}

/* One record of file fi: an event, or straight into its table. */
static void collect_record(struct analysis *a, struct run *run, uint32_t fi, uint32_t fns,
			   const struct vp_rec *h, struct maps_acc *acc)
{
	struct tfile *f = &a->files[fi];
	struct evs *ev = &run->ev;
	switch (h->type) {
	case VP_REC_PROC: ev_add(ev, h->time_ns, h, fi, EV_PROC); break;
	case VP_REC_STACK: keep_stack(f, h); break;
	case VP_REC_MAPS: collect_maps(a, ev, fi, h, acc); break;
	case VP_REC_MEM: ev_add(ev, mem_time((const void *)h), h, fi, EV_MEM); break;
	case VP_REC_FORK:
		ev_add(ev, h->time_ns, h, fi, EV_FORK);
		if ((h->flags & VP_FORK_SECCOMP) && ((const struct vp_fork *)h)->child)
			note_seccomp_fork(a, file_key(a, fns, ((const struct vp_fork *)h)->child,
						      h->time_ns));
		break;
	case VP_REC_EXEC:
		note_seccomp_exec(a, (const void *)h, file_key(a, fns, h->pid, h->time_ns));
		break;
	case VP_REC_EXIT: ev_add(ev, h->time_ns, h, fi, EV_EXIT); break;
	case VP_REC_SIGSTACK: ev_add(ev, h->time_ns, h, fi, EV_SIGSTACK); break;
	case VP_REC_KSTACK:
		/* write stacks go with their faults (pass 3) */
		if (!(h->flags & VP_KSTACK_WRITE))
			ev_add(ev, h->time_ns, h, fi, EV_KSTACK);
		break;
	case VP_REC_INTERNAL:
		note_internal(a, run, (const void *)h, file_key(a, fns, h->pid, h->time_ns));
		break;
	case VP_REC_TASK_FORK: ev_add(ev, h->time_ns, h, fi, EV_TFORK); break;
	case VP_REC_TASK_EXEC: ev_add(ev, h->time_ns, h, fi, EV_TEXEC); break;
	case VP_REC_TASK_EXIT: ev_add(ev, h->time_ns, h, fi, EV_TEXIT); break;
	case VP_REC_TASK_NAME: ev_add(ev, h->time_ns, h, fi, EV_TNAME); break;
	case VP_REC_MMSTAT: ev_add(ev, h->time_ns, h, fi, EV_MMSTAT); break;
	case VP_REC_RSS: ev_add(ev, h->time_ns, h, fi, EV_RSS); break;
	case VP_REC_BPF_LOST: break; /* the header's lost counter covers it */
	case VP_REC_TASK_NS:
		if (!a->ns_scanned) /* else pidns__prepare read them */
			pidns__add(a, (const void *)h);
		break;
	default: break;
	}
}

/* The pids an event of record h names, as keys. */
static void key_event(const struct analysis *a, struct ev *e, const struct vp_rec *h, uint32_t fns)
{
	e->pid = file_key(a, fns, h->pid, h->time_ns);
	e->tid = file_key(a, fns, h->tid, h->time_ns);
	if (h->type == VP_REC_FORK)
		e->aux = file_key(a, fns, ((const struct vp_fork *)h)->child, h->time_ns);
	else if (h->type == VP_REC_PROC)
		e->aux = file_key(a, fns, ((const struct vp_proc *)h)->ppid, h->time_ns);
}

/* What the file's reader counted, into the file's and the analysis's totals. */
static void count_file(struct analysis *a, struct tfile *f)
{
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

/* One file: its events, stacks, maps snapshots, internal ranges. */
static void collect_file(struct analysis *a, struct run *run, const struct tracedir_file *tf)
{
	struct tfile *f = &a->files[a->nfiles];
	if (open_file(a, f, tf))
		return;
	uint32_t fi = a->nfiles++;
	f->is_bpf = tf->is_bpf;
	f->own_stacks = tf->is_bpf;
	uint32_t fns = file_identity(a, f, tf);
	struct maps_acc acc = { 0 };
	const struct vp_rec *h;
	while (reader__next(f->r, &h) > 0) {
		if (!f->is_bpf && a->end_cut && h->time_ns > a->end_cut) {
			a->late_records++;
			continue;
		}
		f->records++;
		if (h->type == VP_REC_FAULT)
			continue; /* pass 3's (most of bpf.vpt): nothing to collect */
		uint32_t nev = run->ev.n;
		collect_record(a, run, fi, fns, h, &acc);
		if (run->ev.n > nev) {
			key_event(a, &run->ev.e[run->ev.n - 1], h, fns);
			if (f->is_bpf)
				run->ev.e[run->ev.n - 1].r = arena_copy(&run->recs, h);
		}
	}
	maps_acc__free(&acc);
	count_file(a, f);
	if (f->is_bpf)
		reader__unmap(f->r); /* pass 3 reads the faults again */
}

static void collect(struct analysis *a, struct run *run)
{
	a->files = model__alloc((run->td.n ? run->td.n : 1) * sizeof(*a->files));
	pidns__prepare(a, &run->td);
	for (size_t i = 0; i < run->td.n; i++)
		collect_file(a, run, &run->td.files[i]);
	procinfo__load_markers(a, &run->td);
	if (run->ev.n > 1) /* ev.e is NULL when there is nothing: qsort(NULL, 0) is UB */
		qsort(run->ev.e, run->ev.n, sizeof(*run->ev.e), ev_cmp);
	dedup(&run->ev);
}

/* ---- 2. replay: the events build each process's timeline ---- */

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

/* The kind of a maps line's mapping, by its path ("" anonymous) and mode. */
static uint8_t kind_of_maps_line(const char *path, int shared, uint8_t prot)
{
	if (!strcmp(path, "[heap]"))
		return VK_HEAP;
	if (!strncmp(path, "[stack", 6))
		return VK_STACK;
	if (!strcmp(path, "[vdso]") || !strncmp(path, "[vvar", 5) || !strcmp(path, "[vsyscall]"))
		return VK_VDSO;
	if (path[0] == '[')
		return VK_OTHER;
	if (shared && !strncmp(path, "/dev/zero", 9))
		return VK_SHM;
	return kind_of_mmap(shared, !path[0], 0, prot);
}

/* Live entries in [lo, hi) the timeline already has: a file mapping the
 * kernel side saw (no path in a syscall record) learns its path from the
 * snapshot, and so do the pieces it was split from. */
static void learn_path(struct analysis *a, struct proc *p, uint64_t lo, uint64_t hi,
		       const char *path)
{
	for (uint32_t i = model__live_lb(p, lo); i < p->nlive && p->v[p->live[i]].start < hi; i++) {
		for (uint32_t id = p->live[i] + 1; id; id = p->v[id - 1].piece_of) {
			struct vma *x = &p->v[id - 1];
			if (x->path || x->anonymous || path[0] != '/')
				break;
			x->path = model__intern(a, path, strlen(path));
		}
	}
}

/* The entry of a maps line where the timeline has none, live from valid_from. */
static void add_maps_entry(struct analysis *a, struct proc *p, const struct vp_maps_line *ml,
			   const char *path, uint64_t valid_from, int origin,
			   const struct iset *internal)
{
	size_t dl = strlen(a->dir);
	struct vma e = { 0 };
	e.start = ml->start;
	e.end = ml->end;
	e.offset = ml->pgoff;
	e.prot = (uint8_t)((ml->read ? PROT_READ : 0) | (ml->write ? PROT_WRITE : 0) |
			   (ml->exec ? PROT_EXEC : 0));
	e.shared = ml->shared;
	e.stack_file = -1;
	e.created_ns = valid_from;
	e.origin = (uint8_t)origin;
	int special = path[0] == '[';
	e.anonymous = !path[0] || special;
	if (path[0] && !special)
		e.path = model__intern(a, path, strlen(path));
	e.kind = kind_of_maps_line(path, e.shared, e.prot);
	if (e.shared && !path[0])
		e.anonymous = 1;
	e.internal = iset_has(internal, ikey(p->pid, e.start)) ||
		     (path[0] && !strncmp(path, a->dir, dl) && !strncmp(path + dl, "/preload.", 9));
	if (e.internal)
		e.kind = VK_OTHER;
	e.valid_from = valid_from;
	e.destroyed_ns = T_NEVER;
	model__live_insert(p, model__new_vma(p, &e));
	if (e.kind == VK_HEAP && !p->brk_cur)
		p->brk_cur = e.end;
}

/* Fill the gaps of the live set with the lines of a maps snapshot. */
static void fill_from_maps(struct analysis *a, struct proc *p, const char *text, size_t len,
			   uint64_t valid_from, int origin, const struct iset *internal)
{
	const char *s = text, *end = text + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		if (!nl)
			nl = end;
		struct vp_maps_line ml;
		int ok = vp_maps_line_parse(s, nl, &ml);
		s = nl + 1;
		if (!ok || ml.end > USER_END)
			continue; /* [vsyscall] lives in kernel space: not a user VMA */
		char path[VP_MAPS_LINE_MAX + 1];
		memcpy(path, ml.path, ml.path_len);
		path[ml.path_len] = 0;
		uint32_t i = model__live_lb(p, ml.start);
		if (i < p->nlive && p->v[p->live[i]].start < ml.end)
			learn_path(a, p, ml.start, ml.end, path);
		else
			add_maps_entry(a, p, &ml, path, valid_from, origin, internal);
	}
}

/* Who made an entry: the shim's call has the stack of its record (file
 * and id); a kernel record's entry waits for one (sig_note). */
static void call_stack(struct vma *e, const struct ev *ev, int shim)
{
	const struct vp_mem *m = (const void *)ev->r;
	e->stack_file = shim ? (int32_t)ev->file : -1;
	e->stack_id = shim ? m->stack_id : 0;
}

/* What a file mapping's entry shows for a path the collector could not
 * give (record.h VP_KPATH_*; docs/report.md): a bracketed marker, as the
 * kernel names what has no path, never a part of a path. */
static const char *kpath_marker(struct analysis *a, uint16_t why)
{
	static const char *const txt[VP_KPATH_MAX] = {
		[VP_KPATH_LONG] = "[path too long]",
		[VP_KPATH_UNREACHABLE] = "[path outside the process's root]",
		[VP_KPATH_UNREADABLE] = "[path unreadable]",
		[VP_KPATH_FD_CHANGED] = "[path unknown: fd changed during mmap]",
	};
	const char *t = why < VP_KPATH_MAX ? txt[why] : NULL;
	return t ? model__intern(a, t, strlen(t)) : NULL;
}

static void apply_mmap(struct analysis *a, struct proc *p, const struct ev *ev, int shim,
		       const struct iset *internal)
{
	const struct vp_mem *m = (const void *)ev->r;
	if (m->ret >= (uint64_t)-4096)
		return;
	struct vma e = { 0 };
	uint64_t flags = m->args[3];
	e.start = m->ret;
	e.end = m->ret + PAGE_UP(m->args[1], a->page_size);
	e.prot = (uint8_t)(m->args[2] & 7);
	e.shared = (flags & 3) == MAP_SHARED || (flags & 3) == 3 /* SHARED_VALIDATE */;
	e.anonymous = (flags & MAP_ANONYMOUS) || (int64_t)m->args[4] < 0;
	e.offset = e.anonymous ? 0 : m->args[5];
	const struct vp_mem_file *mf = e.anonymous ? NULL : vp_mem_file(m);
	if (m->path_len)
		e.path = model__intern(a, vp_mem_path(m), m->path_len);
	else if (mf && mf->why != VP_KPATH_OK && mf->why != VP_KPATH_DELETED)
		e.path = kpath_marker(a, mf->why);
	if (mf && m->path_len)
		e.ino = mf->ino;
	e.kind = kind_of_mmap(e.shared, e.anonymous, flags, e.prot);
	e.origin = shim ? VO_MMAP : VO_SYSCALL;
	call_stack(&e, ev, shim);
	e.created_ns = ev->t;
	e.internal = !shim && iset_has(internal, ikey(p->pid, e.start));
	if (e.internal)
		e.kind = VK_OTHER;
	model__add_entry(p, &e, ev->t);
}

/* The old range ends (VE_MREMAP); the new one is a mapping made now, of the
 * entry that was at the old address (the one mremap would have found). */
static void apply_mremap(struct analysis *a, struct proc *p, const struct ev *ev, int shim)
{
	const struct vp_mem *m = (const void *)ev->r;
	uint64_t ps = a->page_size, t = ev->t;
	if (m->ret >= (uint64_t)-4096)
		return;
	uint32_t i = model__live_lb(p, m->args[0]);
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
	model__carve(p, m->args[0], m->args[0] + PAGE_UP(m->args[1], ps), t, VE_MREMAP);
	e.start = m->ret;
	e.end = m->ret + PAGE_UP(m->args[2], ps);
	e.origin = VO_MREMAP;
	e.created_ns = t;
	e.inh_pid = e.inh_vma = e.piece_of = 0;
	if (shim)
		call_stack(&e, ev, shim);
	model__add_entry(p, &e, t);
}

/* The program break moved: growth is a new heap entry, shrinking an unmap. */
static void apply_brk(struct analysis *a, struct proc *p, const struct ev *ev, int shim)
{
	const struct vp_mem *m = (const void *)ev->r;
	uint64_t ps = a->page_size;
	uint64_t nb = brk_new(m);
	uint64_t old = m->call == VP_CALL_SBRK ? m->ret : (shim ? m->args[1] : p->brk_cur);
	if (!nb || nb >= (uint64_t)-4096)
		return;
	if (!old) {
		p->brk_cur = nb;
		return;
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
		call_stack(&e, ev, shim);
		e.created_ns = ev->t;
		model__add_entry(p, &e, ev->t);
	} else if (hi < lo) {
		model__carve(p, hi, lo, ev->t, VE_MUNMAP);
	}
	p->brk_cur = nb;
}

/* One call of the program's (a failed one changed nothing). */
static void apply_mem(struct analysis *a, struct proc *p, const struct ev *ev,
		      const struct iset *internal)
{
	const struct vp_mem *m = (const void *)ev->r;
	int shim = !!(m->h.flags & VP_MEM_FROM_SHIM);
	uint64_t ps = a->page_size;
	if (m->err)
		return;
	switch (m->call) {
	case VP_CALL_MMAP: apply_mmap(a, p, ev, shim, internal); break;
	case VP_CALL_MUNMAP:
		model__carve(p, m->args[0], m->args[0] + PAGE_UP(m->args[1], ps), ev->t, VE_MUNMAP);
		break;
	case VP_CALL_MPROTECT:
		model__reprotect(p, m->args[0], m->args[0] + PAGE_UP(m->args[1], ps),
				 (uint8_t)(m->args[2] & 7), ev->t);
		break;
	case VP_CALL_MREMAP: apply_mremap(a, p, ev, shim); break;
	case VP_CALL_BRK:
	case VP_CALL_SBRK: apply_brk(a, p, ev, shim); break;
	default: break;
	}
}

/* Signal stacks: a kernel record the collector marked VP_MEM_SIGNALLED
 * waits for the VP_REC_SIGSTACK the shim's handler wrote in the same thread
 * right after the syscall (so before anything else that thread did); it
 * carries the syscall's return value, which must be equal. Otherwise the
 * record says why no stack was asked for. */
static const uint8_t nosig_why[VP_NOSIG_MAX] = {
	[VP_NOSIG_NO_SHIM] = VS_NO_SHIM, [VP_NOSIG_IN_SHIM] = VS_BUSY,
	[VP_NOSIG_BLOCKED] = VS_BLOCKED, [VP_NOSIG_HANDLER] = VS_HANDLER,
	[VP_NOSIG_SEND] = VS_SEND, [VP_NOSIG_OFF] = VS_OFF, [VP_NOSIG_ALTSTACK] = VS_ALTSTACK,
};

/* The kernel stack of entry id (VP_REC_KSTACK, kunwind.h) comes next in
 * the thread's stream, when the collector took one. */
static void k_note(struct sigwaits *sw, const struct vp_mem *m, uint32_t id)
{
	sw->w = model__grow(sw->w, &sw->cap, sw->n + 1, sizeof(*sw->w));
	sw->w[sw->n] = (struct sigwait){ id, m->ret };
	if (u64map__put(&sw->kwait, ((uint64_t)m->h.pid << 32) | m->h.tid,
			(void *)(uintptr_t)(++sw->n)))
		model__oom();
}

/* After a kernel record made entry p->v[nv0..]: note why it has no stack,
 * or wait for its signal stack. */
static void sig_note(struct sigwaits *sw, struct proc *p, const struct vp_mem *m, uint32_t nv0,
		     uint64_t t)
{
	unsigned ns = VP_MEM_NOSIG(m->h.flags);
	if (p->nv <= nv0 || (!(m->h.flags & VP_MEM_SIGNALLED) && !ns))
		return;
	uint32_t id = p->nv - 1;
	struct vma *v = &p->v[id];
	/* (a moved mapping keeps the stack that made it unless the mremap's
	 * own comes, as for the shim's mremap records) */
	if (v->valid_from != t || v->piece_of || (v->stack_id && m->call != VP_CALL_MREMAP))
		return;
	if (!(m->h.flags & VP_MEM_SIGNALLED)) {
		if (!v->stack_id)
			v->stack_why = m->h.flags & VP_MEM_KSKIP ? VS_K_SKIP
				       : ns < VP_NOSIG_MAX ? nosig_why[ns] : VS_SEND;
		k_note(sw, m, id);
		return;
	}
	if (!v->stack_id)
		v->stack_why = VS_NO_ANSWER; /* until its stack comes */
	sw->w = model__grow(sw->w, &sw->cap, sw->n + 1, sizeof(*sw->w));
	sw->w[sw->n] = (struct sigwait){ id, m->ret };
	if (u64map__put(&sw->by_thread, ((uint64_t)m->h.pid << 32) | m->h.tid,
			(void *)(uintptr_t)(++sw->n)))
		model__oom();
}

static void k_answer(struct analysis *a, struct sigwaits *sw, struct proc *p, const struct ev *e)
{
	const struct vp_kstack *k = (const void *)e->r;
	uint64_t key = ((uint64_t)k->h.pid << 32) | k->h.tid;
	uintptr_t i = (uintptr_t)u64map__get(&sw->kwait, key);
	if (!i || sw->w[i - 1].ret != k->ret || sw->w[i - 1].vma >= p->nv)
		return; /* not ours to pair (or its kernel record was lost) */
	if (u64map__put(&sw->kwait, key, NULL))
		model__oom();
	struct vma *v = &p->v[sw->w[i - 1].vma];
	if (!v->stack_id) /* the shim's stack, where it has one, wins */
		kunwind__take(&sw->ku, a, p, v, k);
}

static void sig_answer(struct sigwaits *sw, struct proc *p, const struct ev *e)
{
	const struct vp_sigstack *g = (const void *)e->r;
	uint32_t file = e->file;
	uint64_t key = ((uint64_t)e->pid << 32) | e->tid;
	uintptr_t i = (uintptr_t)u64map__get(&sw->by_thread, key);
	if (!i || sw->w[i - 1].ret != g->ret || sw->w[i - 1].vma >= p->nv)
		return; /* not ours to pair (or its kernel record was lost) */
	struct vma *v = &p->v[sw->w[i - 1].vma];
	if (u64map__put(&sw->by_thread, key, NULL))
		model__oom();
	if (!g->stack_id) {
		if (!v->stack_id)
			v->stack_why = VS_UNWIND;
		return;
	}
	v->stack_file = (int32_t)file;
	v->stack_id = g->stack_id;
	v->stack_why = VS_NONE;
}

/* A kernel-side mmap record of memory the shim mapped for itself (its trace
 * segments, stack table): not one of the program's calls. */
static int shims_own_call(const struct vp_mem *m, uint32_t pid, const struct iset *internal)
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
		model__live_insert(c, model__new_vma(c, &e));
	}
	pp->kids = model__realloc(pp->kids, (pp->nkids + 1) * sizeof(*pp->kids));
	pp->kids[pp->nkids++] = (struct child_ref){ .child = cpid, .t = t, .end = T_NEVER };
	pp->calls[8]++;
}

static void child_ended(struct analysis *a, struct proc *c, uint64_t t)
{
	if (!c->forked)
		return;
	struct proc *pp = model__find(a, c->ppid);
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
	p->ex = model__realloc(p->ex, (p->nex + 1) * sizeof(*p->ex));
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

/* The path an exec names. A relative one (execve's own argument,
 * `./server`) is resolved from the recording's working directory
 * (session.json "cwd") when the file there is the one the kernel executed
 * (record.h, VP_TEXEC_FILE: the same inode; its device is not compared, an
 * overlay's differs from what stat says): a static binary's stacks are
 * unwound from its file, named by this path. Else as recorded. buf holds
 * the resolved path (PATH_MAX); *len gets the length. */
static const char *exec_path(const struct analysis *a, const struct vp_task_exec *x, char *buf,
			     size_t *len)
{
	const char *path = vp_task_exec_path(x);
	*len = x->path_len;
	if (!x->path_len || path[0] == '/' || !(x->h.flags & VP_TEXEC_FILE) ||
	    VP_TEXEC_FILE_OFF(x->path_len) + sizeof(struct vp_exec_file) > x->h.size ||
	    memchr(path, 0, x->path_len))
		return path;
	const struct vp_exec_file *f =
		(const void *)((const char *)x + VP_TEXEC_FILE_OFF(x->path_len));
	const char *cwd = json_string_value(json_object_get(a->session, "cwd"));
	char joined[2 * PATH_MAX];
	struct stat st;
	if (!cwd || cwd[0] != '/' ||
	    snprintf(joined, sizeof(joined), "%s/%.*s", cwd, (int)x->path_len, path) >=
		    (int)sizeof(joined) ||
	    stat(joined, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_ino != f->ino ||
	    !realpath(joined, buf))
		return path;
	*len = strlen(buf);
	return buf;
}

/* The handlers, one per event kind, and the replay. */

static void on_proc(struct analysis *a, struct proc *p, const struct ev *e)
{
	const struct vp_proc *pr = (const void *)e->r;
	uint64_t img_start = p->nex ? p->ex[p->nex - 1].t : 0;
	if (p->nimg && (!p->nex || p->ex[p->nex - 1].t <= p->img[p->nimg - 1].start_ns)) {
		/* a new image with no kernel exec record: exec'd now,
		 * by the path it was given when the shim knows it */
		if (vp_proc_execfn_len(pr) && !procinfo__names_fd(vp_proc_execfn(pr)))
			do_exec(a, p, e->t, vp_proc_execfn(pr), vp_proc_execfn_len(pr));
		else
			do_exec(a, p, e->t, vp_proc_exe(pr), pr->exe_len);
		img_start = e->t;
	}
	/* When this image began: its exec; a forked child's first image at
	 * the fork; the first process's first image when recording began. */
	if (!img_start || (p->nimg && img_start <= p->img[p->nimg - 1].start_ns))
		img_start = p->nimg == 0 && p->forked ? p->fork_t : e->t;
	if (p->nimg == 0 && p->is_root && !p->nex)
		img_start = p->start_ns < e->t ? p->start_ns : e->t;
	p->img = model__realloc(p->img, (p->nimg + 1) * sizeof(*p->img));
	p->img[p->nimg++] = (struct image){ (int)e->file, img_start };
	/* exe: the path the image was run by (the kernel's exec record, else
	 * AT_EXECFN), not /proc/self/exe, which resolves symlinks
	 * (redis-server -> redis-check-rdb) */
	p->exe_resolved = model__intern(a, vp_proc_exe(pr), pr->exe_len);
	if (p->nex)
		p->ex[p->nex - 1].traced = 1;
	else
		p->pre_exec_traced = 1;
	const char *given = vp_proc_execfn_len(pr) && !procinfo__names_fd(vp_proc_execfn(pr))
				    ? model__intern(a, vp_proc_execfn(pr), vp_proc_execfn_len(pr))
				    : NULL;
	if (!p->nex || !p->exe || procinfo__names_fd(p->exe))
		p->exe = given ? given : p->exe_resolved;
	/* argv: the kernel's copy of this exec's arguments when there is one
	 * (TASK_NAME), else the shim's cmdline */
	if (!p->nex || !p->ex[p->nex - 1].argv) {
		json_decref(p->argv);
		p->argv = procinfo__argv_json(vp_proc_argv(pr), pr->argv_len);
		if (p->nex)
			p->ex[p->nex - 1].argv = json_incref(p->argv);
	}
	if (!p->ppid)
		p->ppid = e->aux; /* pr->ppid as a key */
}

static void on_maps(struct analysis *a, struct run *run, struct proc *p, const struct ev *e)
{
	if (!p->nimg || p->img[p->nimg - 1].file != (int)e->file)
		return;
	uint64_t from = p->img[p->nimg - 1].start_ns;
	int origin = VO_INITIAL;
	if (e->why == VP_MAPS_DLOPEN) {
		origin = VO_SYSCALL;
		from = e->t;
	} else if (p->nex) {
		origin = VO_EXEC;
	}
	fill_from_maps(a, p, e->text, e->tlen, from, origin, &run->internal);
}

static void on_mem(struct analysis *a, struct run *run, struct proc *p, const struct ev *e)
{
	const struct vp_mem *m = (const void *)e->r;
	if (e->dup == 1)
		return; /* the kernel's copy of a call the shim recorded */
	uint32_t nv0 = p->nv;
	apply_mem(a, p, e, &run->internal);
	if (m->h.flags & VP_MEM_FROM_KERNEL)
		sig_note(&run->sigw, p, m, nv0, e->t);
	if (!shims_own_call(m, p->pid, &run->internal))
		p->calls[m->call == VP_CALL_SBRK ? VP_CALL_BRK : m->call]++;
}

static void on_exit_call(struct proc *p, const struct ev *e)
{
	const struct vp_exit *x = (const void *)e->r;
	if (x->kind != VP_EXIT_DESTRUCTOR && p->exit_code < 0 && !p->exited)
		p->exit_code = x->status & 0xff;
	if (!p->exited)
		p->end_ns = e->t;
}

static void on_task_exit(struct analysis *a, struct proc *p, const struct ev *e)
{
	const struct vp_task_exit *x = (const void *)e->r;
	if (p->exited && p->have_kc) {
		/* a second exit of the same process: on kernels whose exit
		 * tracepoint has no group_dead (collector.bpf.c), two last
		 * threads exiting together may both take themselves for the
		 * last; the later reading has the larger counters */
		if (x->min_flt > p->minflt)
			p->minflt = x->min_flt;
		if (x->maj_flt > p->majflt)
			p->majflt = x->maj_flt;
		return;
	}
	p->exited = 1;
	p->end_ns = e->t;
	p->have_kc = 1;
	p->kc_cut = !!(x->h.flags & VP_EXIT_THREADS_CUT);
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
}

/* VP_REC_MMSTAT: the figures of p's current image. A reading at an exec
 * (VP_MM_EXEC) stands for the image the exec replaced; when no exec
 * followed (it failed), the image's next reading takes its place. A late
 * one (VP_MM_LATE: only the peak, after the mm went) counts only where
 * the image has no whole reading. */
static void on_mmstat(struct proc *p, const struct ev *e)
{
	const struct vp_mmstat *m = (const void *)e->r;
	uint64_t last_exec = p->nex ? p->ex[p->nex - 1].t : 0;
	struct mm_reading r = {
		.t = e->t, .why = m->why, .flags = m->h.flags, .map_count = m->map_count,
		.exe = p->exe, .hiwater_rss = m->hiwater_rss, .hiwater_vm = m->hiwater_vm,
		.total_vm = m->total_vm, .locked_vm = m->locked_vm, .pinned_vm = m->pinned_vm,
		.data_vm = m->data_vm, .exec_vm = m->exec_vm, .stack_vm = m->stack_vm,
	};
	if (m->why < VP_MM_EXEC || m->why > VP_MM_LATE)
		return;
	memcpy(r.rss, m->rss, sizeof(r.rss));
	if (p->nmm && p->mm[p->nmm - 1].t >= last_exec) {
		/* the same image read before: keep the better reading */
		struct mm_reading *o = &p->mm[p->nmm - 1];
		if (r.why == VP_MM_LATE && o->why != VP_MM_LATE)
			return;
		*o = r;
		return;
	}
	p->mm = model__realloc(p->mm, (p->nmm + 1) * sizeof(*p->mm));
	p->mm[p->nmm++] = r;
}

static void on_rss(struct proc *p, const struct ev *e)
{
	const struct vp_rss *m = (const void *)e->r;
	if (p->nrss == p->caprss) {
		p->caprss = p->caprss ? 2 * p->caprss : 64;
		p->rss = model__realloc(p->rss, p->caprss * sizeof(*p->rss));
	}
	struct rss_sample *r = &p->rss[p->nrss++];
	r->t = e->t;
	r->flags = m->h.flags;
	memcpy(r->rss, m->rss, sizeof(r->rss));
}

static void replay(struct analysis *a, struct run *run)
{
	/* the session's pids are the recorder's (pidns.c) */
	json_t *s0 = json_object_get(a->session, "start_ns");
	uint64_t t0 = json_is_integer(s0) ? (uint64_t)json_integer_value(s0) : 0;
	a->root_pid = pidns__rec(a, a->root_pid, t0);
	if (a->root_pid) {
		struct proc *r = model__proc(a, a->root_pid);
		r->is_root = 1;
		if (json_is_integer(s0))
			r->start_ns = t0;
	}
	/* record -p: an attached process's name (its comm at the attach; no
	 * exec record will name it), before its children copy it */
	json_t *v;
	size_t k;
	json_array_foreach(json_object_get(json_object_get(a->session, "attach"), "processes"), k, v) {
		const char *comm = json_string_value(json_object_get(v, "comm"));
		json_int_t pid = json_integer_value(json_object_get(v, "pid"));
		if (comm && *comm && pid > 0 && pid <= 4194304)
			model__proc(a, pidns__rec(a, pid, t0))->name =
				model__intern(a, comm, strnlen(comm, 15));
	}
	for (uint32_t i = 0; i < run->ev.n; i++) {
		const struct ev *e = &run->ev.e[i];
		const struct vp_rec *h = e->r;
		struct proc *p = model__proc(a, e->pid);
		if (!p->start_ns)
			p->start_ns = e->t;
		switch (e->kind) {
		case EV_PROC: on_proc(a, p, e); break;
		case EV_MAPS: on_maps(a, run, p, e); break;
		case EV_MEM: on_mem(a, run, p, e); break;
		case EV_FORK: {
			const struct vp_fork *f = (const void *)h;
			if (f->child && !f->err)
				do_fork(a, e->pid, e->aux, e->t);
			break;
		}
		case EV_SIGSTACK: sig_answer(&run->sigw, p, e); break;
		case EV_KSTACK: k_answer(a, &run->sigw, p, e); break;
		case EV_TFORK: do_fork(a, e->pid, ((const struct vp_task_fork *)h)->child_pid, e->t); break;
		case EV_TEXEC: {
			const struct vp_task_exec *x = (const void *)h;
			char buf[PATH_MAX];
			size_t len;
			const char *path = exec_path(a, x, buf, &len);
			do_exec(a, p, e->t, path, len);
			break;
		}
		case EV_EXIT: on_exit_call(p, e); break;
		case EV_TNAME: procinfo__apply_name(a, p, (const void *)h); break;
		case EV_TEXIT: on_task_exit(a, p, e); break;
		case EV_MMSTAT: on_mmstat(p, e); break;
		case EV_RSS: on_rss(p, e); break;
		}
		if (e->t > p->end_ns && !p->exited)
			p->end_ns = e->t;
	}
}

/* ---- 3. attribute_all: faults to the entries live where and when they happened ---- */

/* Whether a file mapping's path names shared memory (tmpfs/shmem or
 * hugetlbfs, which the kernel side no longer looks up): memfd, POSIX shm,
 * System V shm, MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB. A tmpfs file
 * elsewhere (a /tmp on tmpfs) is not recognised by its path: the collector
 * looks the VMA up at a not-present fault's first allocation that is not
 * zeroed (bpf/README.md "VMA info"), and such a fault on tmpfs marks its
 * path as shared memory for the faults after it (analysis.shmem_files). */
static int shmem_path(const char *path)
{
	static const char *const pre[] = { "/memfd:", "/dev/shm/", "/SYSV", "/anon_hugepage",
					   "/dev/hugepages/", "/run/shm/" };
	if (!path)
		return 0;
	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (!strncmp(path, pre[i], strlen(pre[i])))
			return 1;
	return 0;
}

/*
 * The class of one fault (docs/report.md, "Fault classes"), from the error
 * code, our entry for the address at that time (the collector no longer
 * looks the VMA up: bpf/README.md "VMA info"; traces that carry the
 * kernel's VMA info, VP_FAULT_VMA, are classified with it) and what was
 * allocated inside the fault:
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
static int classify(const struct analysis *a, const struct vp_fault *f, const struct vma *e)
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
		shmem = e->shared && (e->anonymous || e->kind == VK_SHM || shmem_path(e->path) ||
				      (e->path && u64map__get(&a->shmem_files, (uintptr_t)e->path)));
		readable = e->prot != 0;
		writable = !!(e->prot & PROT_WRITE);
		if (f->pages) {
			/* it allocated: the kernel handled the access, so the
			 * VMA allowed it then (an entry known from a later maps
			 * snapshot can miss an earlier mprotect: ld.so writes
			 * its RELRO before making it read-only) */
			readable = 1;
			writable |= write;
		}
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

/* One more copy in entry id + 1 (0: none) of a fork's side. */
static void count_copy(struct u64map *m, int64_t id)
{
	if (id < 0)
		return;
	void **n = u64map__slot(m, (uint64_t)id + 1);
	if (!n)
		model__oom();
	*n = (void *)((uintptr_t)*n + 1);
}

/* A copy-on-write copy un-shares memory of a fork only in a mapping both
 * sides had at the fork: the child's inherited entries (created at the
 * fork), the parent's entries made before it. Copies after the child's
 * exec, or in mappings made after the fork (a private file page written
 * for the first time is a copy from the page cache), are not the fork's. */
static void charge_fork(struct proc *p, struct proc *pp, uint64_t t, int64_t id,
			struct wsites **ws, struct wsites **ws2)
{
	if (id < 0)
		return;
	uint64_t made = p->v[id].created_ns;
	if (p->forked) {
		for (uint32_t i = 0; pp && i < pp->nkids; i++)
			if (pp->kids[i].child == p->pid && t >= pp->kids[i].t &&
			    t < pp->kids[i].end && made <= pp->kids[i].t) {
				pp->kids[i].cow_child++;
				count_copy(&pp->kids[i].cow_vma_child, id);
				*ws = &pp->kids[i].ws_child;
			}
	}
	/* the parent's copies go to the most recent fork whose child lives */
	for (uint32_t i = p->nkids; i-- > 0;) {
		if (p->kids[i].t <= t && t < p->kids[i].end) {
			if (made <= p->kids[i].t) {
				p->kids[i].cow_parent++;
				count_copy(&p->kids[i].cow_vma_parent, id);
				*ws2 = &p->kids[i].ws_parent;
			}
			break;
		}
	}
}

/* One sample of weight wt in table t: entry id, stack (file, sid) or why. */
static void ws_add(struct wsites *t, uint32_t id, int32_t file, uint32_t sid, int cls,
		   uint8_t why, double wt)
{
	if (!t)
		return;
	uint64_t key = ((uint64_t)(id + 1) << 32) ^ ((uint64_t)cls << 60) ^
		       (sid ? sid : 0x80000000u | why);
	uintptr_t i = (uintptr_t)u64map__get(&t->idx, key);
	if (!i) {
		t->w = model__grow(t->w, &t->cap, t->n + 1, sizeof(*t->w));
		t->w[t->n] = (struct wsite){ .vma = id, .stack_file = sid ? file : -1,
					     .stack_id = sid, .cls = (uint8_t)cls, .why = why };
		i = ++t->n;
		if (u64map__put(&t->idx, key, (void *)i))
			model__oom();
	}
	t->w[i - 1].samples++;
	t->w[i - 1].weight += wt;
	t->samples++;
	t->weight += wt;
}

void wsites__free(struct wsites *t)
{
	free(t->w);
	u64map__free(&t->idx);
	memset(t, 0, sizeof(*t));
}

/* The kernel grows a process's [stack] down on a fault below it, up to
 * the stack's rlimit: our entry has the size it was seen with (the maps
 * snapshot, the exec), so a fault below it where no other entry is, within
 * the default 8 MiB rlimit of its top, is the stack's. The entry grows down
 * to the lowest such fault's page once pass 3 is over (grow_stacks): its
 * lookups stay on the size they were indexed with until then. */
#define STACK_GROWTH_MAX (8ull << 20)

static int64_t stack_growth(const struct proc *p, uint64_t addr, uint64_t t)
{
	int64_t best = -1;
	for (uint32_t i = 0; i < p->nv; i++) {
		const struct vma *e = &p->v[i];
		if (e->kind != VK_STACK || addr >= e->start || e->end - addr > STACK_GROWTH_MAX ||
		    t < e->valid_from || t >= e->destroyed_ns)
			continue;
		if (best < 0 || e->start < p->v[best].start)
			best = i; /* the lowest live piece: the one that grows */
	}
	return best;
}

/* The process of the last fault (a process's faults come in runs), its
 * parent, and the boxes of its last lookups (model__lookup_cached). The
 * parent is looked up once per run: pass 3 changes no ppid and makes no
 * fork (both are the replay's), so the answer stays true; a parent first
 * made by a later fault of its own has no kids, the same as none. */
struct pcache {
	struct proc *p, *parent;
	uint32_t pid;
	struct lookup_cache lc;
};

static struct proc *proc_of(struct analysis *a, struct pcache *c, uint32_t pid)
{
	if (!c->p || c->pid != pid) {
		c->p = model__proc(a, pid);
		c->pid = pid;
		c->parent = c->p->forked ? model__find(a, c->p->ppid) : NULL;
	}
	return c->p;
}

/* Pass 3's write stacks (VP_KSTACK_WRITE): each thread's latest, waiting
 * for its fault (which the collector's batch outputs after it). */
struct wqueue {
	struct vp_kstack **k; /* malloc'd copies, [head, n) waiting */
	uint32_t head, n, cap;
};
struct wpend {
	struct u64map by_thread; /* pid << 32 | tid -> struct wqueue */
	struct kunwind *ku;
};

static void attribute(struct analysis *a, struct pcache *pc, const struct vp_fault *f,
		      struct wpend *wp)
{
	struct proc *p = proc_of(a, pc, f->h.pid);
	uint64_t t = f->h.time_ns;
	int64_t id = model__lookup_cached(p, &pc->lc, f->addr, t);
	if (id < 0 && (f->h.flags & VP_FAULT_KERNEL)) {
		/* execve writes the new image's stack and bss (kernel-mode
		 * faults) before the exec tracepoint fires: those belong to the
		 * image that is about to start */
		for (uint32_t i = 0; i < p->nex; i++)
			if (p->ex[i].t > t && p->ex[i].t - t < 10000000ull) {
				id = model__lookup(p, f->addr, p->ex[i].t);
				break;
			}
	}
	if (id < 0) {
		id = stack_growth(p, f->addr, t);
		if (id >= 0) {
			uint64_t pg = f->addr & ~((uint64_t)a->page_size - 1);
			if (!p->v[id].grown_to || pg < p->v[id].grown_to)
				p->v[id].grown_to = pg;
		}
	}
	struct vma *e = id >= 0 ? &p->v[id] : NULL;
	if ((f->h.flags & VP_FAULT_VMA) && (f->vma_file & VP_VMA_SHMEM) && e && e->path &&
	    u64map__put(&a->shmem_files, (uintptr_t)e->path, (void *)1))
		model__oom();
	int c = classify(a, f, e);
	p->faults[c]++;
	timeline__add(p, t, c);
	p->pages += f->pages;
	a->faults++;
	if (e) {
		e->faults[c]++;
		e->pages += f->pages;
		model__site_add(e, f->ip, c, !!(f->h.flags & VP_FAULT_KERNEL));
	} else {
		p->outside++;
		if (a->debug_outside)
			fprintf(stderr, "outside: pid %u addr 0x%llx t %llu err 0x%x vma %d\n", p->pid,
				(unsigned long long)f->addr, (unsigned long long)t, f->error_code,
				!!(f->h.flags & VP_FAULT_VMA));
	}
	struct wsites *wc = NULL, *wpar = NULL;
	if (c == FC_COW_COPY)
		charge_fork(p, pc->parent, t, id, &wc, &wpar);
	/* its write stack, when one was taken: the thread's oldest waiting
	 * (stacks come at the fault, faults in batches after them) */
	if (f->h.flags & VP_FAULT_WSKIP)
		a->ws_skipped++;
	struct wqueue *q = wp->by_thread.n ? u64map__get(&wp->by_thread,
							((uint64_t)f->h.pid << 32) | f->h.tid)
					   : NULL;
	while (q && q->head < q->n && q->k[q->head]->h.time_ns < t) {
		a->ws_unpaired++; /* its fault was lost */
		free(q->k[q->head]);
		q->k[q->head++] = NULL;
	}
	if (!q || q->head == q->n || q->k[q->head]->h.time_ns != t ||
	    q->k[q->head]->ret != f->addr)
		return;
	struct vp_kstack *k = q->k[q->head];
	q->k[q->head++] = NULL;
	if (q->head == q->n)
		q->head = q->n = 0;
	a->ws_paired++;
	if (e && (c == FC_COW_COPY || c == FC_SHARED_WRITE)) {
		int32_t file;
		uint8_t why;
		uint32_t sid = kunwind__write(&wp->ku, a, p, k, &file, &why);
		double wt = (k->h.flags & VP_KSTACK_SAMPLED) && a->ws_every ? a->ws_every : 1;
		if (sid)
			why = 0; /* (a stack cut short is still its site) */
		ws_add(&p->ws, (uint32_t)id, file, sid, c, why, wt);
		ws_add(wc, (uint32_t)id, file, sid, c, why, wt);
		ws_add(wpar, (uint32_t)id, file, sid, c, why, wt);
	}
	free(k);
}

static void wstack_note(struct analysis *a, struct wpend *wp, const struct vp_rec *h)
{
	void **slot = u64map__slot(&wp->by_thread, ((uint64_t)h->pid << 32) | h->tid);
	if (!slot)
		model__oom();
	if (!*slot)
		*slot = model__alloc(sizeof(struct wqueue));
	struct wqueue *q = *slot;
	q->k = model__grow(q->k, &q->cap, q->n + 1, sizeof(*q->k));
	q->k[q->n] = model__alloc(h->size);
	memcpy(q->k[q->n++], h, h->size);
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
	/* VP_SYS_UNHOOKED: calls the collector did not hook (O_DIRECT I/O,
	 * process_vm_writev, ...), balanced between two hooked events: no
	 * address to charge, like any other call's */
	case VP_SYS_UNHOOKED: kind = POP_OTHER; break;
	default: kind = POP_OTHER; break;
	}
	int64_t id = !at ? -1 : made ? model__lookup_created(p, at, s->t_enter) : model__lookup(p, at, s->h.time_ns);
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

/* Each [stack] entry down to the lowest page a fault grew it to, as the
 * kernel grew the mapping (its VmStk at exit reads the same). */
static void grow_stacks(struct analysis *a)
{
	for (uint32_t i = 0; i < a->nprocs; i++) {
		struct proc *p = a->procs[i];
		for (uint32_t j = 0; j < p->nv; j++)
			if (p->v[j].grown_to && p->v[j].grown_to < p->v[j].start)
				p->v[j].start = p->v[j].grown_to;
	}
}

static void attribute_all(struct analysis *a)
{
	for (uint32_t i = 0; i < a->nprocs; i++)
		model__index(a->procs[i]);
	for (uint32_t fi = 0; fi < a->nfiles; fi++) {
		struct tfile *f = &a->files[fi];
		if (!f->is_bpf)
			continue;
		char path[4500], w[512];
		struct reader *r;
		snprintf(path, sizeof(path), "%s/%s", a->dir, f->name);
		if (reader__open_stream(path, &r, w, sizeof(w)))
			continue;
		const struct vp_rec *h;
		struct pcache pc = { 0 };
		struct wpend wp = { 0 };
		while (reader__next(r, &h) > 0) {
			if (h->type == VP_REC_FAULT)
				attribute(a, &pc, (const void *)h, &wp);
			else if (h->type == VP_REC_SYSFAULTS && h->size >= sizeof(struct vp_sysfaults))
				attribute_sys(a, (const void *)h);
			else if (h->type == VP_REC_KSTACK && (h->flags & VP_KSTACK_WRITE))
				wstack_note(a, &wp, h);
		}
		reader__free(r);
		uint64_t key;
		void *n;
		for (size_t i = 0; u64map__next(&wp.by_thread, &i, &key, &n);) {
			struct wqueue *q = n;
			for (uint32_t j = q->head; j < q->n; j++) {
				a->ws_unpaired++;
				free(q->k[j]);
			}
			free(q->k);
			free(q);
		}
		u64map__free(&wp.by_thread);
		kunwind__free(wp.ku);
	}
	for (uint32_t i = 0; i < a->npref; i++) {
		struct proc *p = model__find(a, a->pref[i].pid);
		if (p)
			p->prefault += a->pref[i].pages;
	}
	grow_stacks(a);
}

/* ---- 4. apply_session: what only the recorder knew (session.json) ---- */

/* session.json is a few KiB (a pid per process left running at most):
 * a larger file is not one the recorder wrote. */
#define SESSION_MAX (64u << 20)

/* The whole of session.json, parsed from memory (json_loadfd reads a file
 * one byte per read(2)). NULL when missing or not JSON (analysed without
 * it); -EFBIG when larger than SESSION_MAX, which is an error. */
static int read_session(const char *path, json_t **out)
{
	*out = NULL;
	int fd = vp_open_regular(path, 0);
	if (fd < 0)
		return 0;
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int err = buf ? 0 : -ENOMEM;
	while (!err) {
		if (len == cap) {
			char *nb = cap > SESSION_MAX ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				err = cap > SESSION_MAX ? -EFBIG : -ENOMEM;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* what was read is parsed (an unreadable rest
				* fails as truncated JSON) */
		len += (size_t)n;
	}
	close(fd);
	if (!err && len > SESSION_MAX)
		err = -EFBIG;
	json_error_t je;
	if (!err)
		*out = json_loadb(buf, len, 0, &je);
	free(buf);
	return err;
}

/* Read before pass 1: the recorder's pids, page size and collectors. */
static int load_session(struct analysis *a)
{
	if (!json_is_object(a->session)) {
		json_decref(a->session);
		a->session = json_object();
		return -ENOENT;
	}
	json_t *r = json_object_get(a->session, "root_pid");
	if (json_is_integer(r))
		a->root_pid = (uint32_t)json_integer_value(r); /* the recorder's: replay translates */
	json_t *ns = json_object_get(a->session, "pid_ns");
	if (json_is_integer(ns) && json_integer_value(ns) > 0 &&
	    json_integer_value(ns) <= (json_int_t)UINT32_MAX)
		a->rec_ns = (uint32_t)json_integer_value(ns);
	json_t *ps = json_object_get(a->session, "page_size");
	if (json_is_integer(ps) && json_integer_value(ps) > 0)
		a->page_size = (uint64_t)json_integer_value(ps);
	json_t *c = json_object_get(a->session, "collectors");
	json_t *pre = json_object_get(c, "preload"), *bpf = json_object_get(c, "bpf");
	a->preload_active = json_is_true(json_object_get(pre, "active"));
	a->bpf_active = json_is_true(json_object_get(bpf, "active"));
	a->preload_reason = json_string_value(json_object_get(pre, "reason"));
	a->bpf_reason = json_string_value(json_object_get(bpf, "reason"));
	/* written at start with complete: false, again at the end with true;
	 * sessions from before the marker have no such key and are whole */
	json_t *cm = json_object_get(a->session, "complete");
	a->complete = cm ? json_is_true(cm) : 1;
	/* record -p (docs/attach.md): processes left running are the rule */
	a->attached = json_is_object(json_object_get(a->session, "attach"));
	a->stopped = json_is_array(json_object_get(a->session, "running_at_end")) && !a->attached;
	json_t *ws = json_object_get(bpf, "write_stacks");
	json_t *wf = json_object_get(ws, "first"), *we = json_object_get(ws, "every");
	if (json_is_integer(wf) && json_is_integer(we) && json_integer_value(wf) >= 0 &&
	    json_integer_value(we) >= 0 && json_integer_value(wf) <= UINT32_MAX &&
	    json_integer_value(we) <= UINT32_MAX) {
		a->ws_first = (uint32_t)json_integer_value(wf);
		a->ws_every = (uint32_t)json_integer_value(we);
	}
	return 0;
}

/* record -p (docs/attach.md): each attached process's counters when it was
 * attached to (its before_trace), and the counters of the traced processes
 * still running when recording stopped (read just before the detach), so
 * kernel_counters are deltas over the attach window. */
static void apply_attach(struct analysis *a)
{
	json_t *at = json_object_get(a->session, "attach"), *v;
	size_t i;
	for (uint32_t k = 0; k < a->nprocs; k++)
		a->procs[k]->attached_tree = 1;
	json_t *tj = json_object_get(at, "attached_ns"), *ej = json_object_get(a->session, "end_ns");
	uint64_t ta = json_is_integer(tj) ? (uint64_t)json_integer_value(tj) : T_NEVER;
	uint64_t te = json_is_integer(ej) ? (uint64_t)json_integer_value(ej) : T_NEVER;
	json_array_foreach(json_object_get(at, "processes"), i, v) {
		struct proc *p = model__find(a, pidns__rec(a, json_integer_value(json_object_get(v, "pid")), ta));
		if (p)
			p->before_trace = (uint64_t)json_integer_value(json_object_get(v, "minflt")) +
					  (uint64_t)json_integer_value(json_object_get(v, "majflt"));
	}
	json_array_foreach(json_object_get(at, "counters_at_end"), i, v) {
		struct proc *p = model__find(a, pidns__rec(a, json_integer_value(json_object_get(v, "pid")), te));
		if (!p || p->exited || p->have_kc)
			continue;
		p->have_kc = 1;
		p->minflt = (uint64_t)json_integer_value(json_object_get(v, "minflt"));
		p->majflt = (uint64_t)json_integer_value(json_object_get(v, "majflt"));
	}
}

static void apply_session(struct analysis *a)
{
	/* root's exit status from the recorder when the kernel gave none */
	struct proc *root = a->root_pid ? model__find(a, a->root_pid) : NULL;
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
	/* a root none of whose exec or shim records could be read (its only
	 * segment damaged, its records lost): the program the recorder ran,
	 * as it was given; any other process whose identity went with its
	 * records says so (report.json's exe is always a string) */
	json_t *c0 = json_array_get(json_object_get(a->session, "command"), 0);
	if (root && !root->exe && json_is_string(c0))
		root->exe = model__intern(a, json_string_value(c0), json_string_length(c0));
	for (uint32_t k = 0; k < a->nprocs; k++)
		if (!a->procs[k]->exe)
			a->procs[k]->exe = "(unknown: its records were lost)";
	/* what the root faulted between fork and the moment tracing began */
	json_t *bt = json_object_get(a->session, "before_trace");
	json_t *s0 = json_object_get(a->session, "start_ns");
	uint64_t t0 = json_is_integer(s0) ? (uint64_t)json_integer_value(s0) : 0;
	if (root && json_is_object(bt) &&
	    pidns__rec(a, json_integer_value(json_object_get(bt, "pid")), t0) == root->pid)
		root->before_trace =
			(uint64_t)json_integer_value(json_object_get(bt, "minflt")) +
			(uint64_t)json_integer_value(json_object_get(bt, "majflt"));
	if (a->attached)
		apply_attach(a);
	/* a process left running when the recording ended lived until then,
	 * not only until its last syscall or exec we saw */
	json_t *run = json_object_get(a->session, "running_at_end");
	json_t *end = json_object_get(a->session, "end_ns");
	for (size_t i = 0; json_is_integer(end) && i < json_array_size(run); i++) {
		struct proc *p = model__find(a, pidns__rec(a, json_integer_value(json_array_get(run, i)),
							   (uint64_t)json_integer_value(end)));
		if (p && !p->exited && (uint64_t)json_integer_value(end) > p->end_ns)
			p->end_ns = (uint64_t)json_integer_value(end);
	}
	procinfo__preload_status(a);
	pidns__name(a);
}

/* The passes, under analysis__run's out-of-memory guard. */
static int run_passes(void *ctx)
{
	struct analysis *a = ctx;
	struct run *run = a->pass;
	if (load_session(a) < 0) {
		/* no session.json: still analyse what is there */
		a->preload_active = 1;
		a->bpf_active = 1;
	}
	if (symbolizer__new(&a->sym) < 0)
		model__oom();
	collect(a, run);
	replay(a, run);
	a->pass = NULL;
	a->ku = run->sigw.ku;
	run->sigw.ku = NULL;
	run_free(run);
	attribute_all(a);
	apply_session(a);
	model__sort_procs(a);
	return 0;
}

/* Everything an analysis holds, whatever pass it stopped in (analyze.h). */
void analysis__free(struct analysis *a)
{
	if (!a)
		return;
	if (a->pass && a->pass_free)
		a->pass_free(a->pass);
	kunwind__free(a->ku);
	for (uint32_t i = 0; i < a->nprocs; i++) {
		struct proc *p = a->procs[i];
		for (uint32_t j = 0; j < p->nv; j++)
			u64map__free(&p->v[j].fault_sites);
		for (uint32_t j = 0; j < p->nex; j++)
			json_decref(p->ex[j].argv);
		json_decref(p->argv);
		free(p->v);
		free(p->live);
		free(p->img);
		free(p->ex);
		free(p->mm);
		free(p->rss);
		for (uint32_t j = 0; j < p->nkids; j++) {
			u64map__free(&p->kids[j].cow_vma_parent);
			u64map__free(&p->kids[j].cow_vma_child);
			wsites__free(&p->kids[j].ws_parent);
			wsites__free(&p->kids[j].ws_child);
		}
		wsites__free(&p->ws);
		free(p->kids);
		free(p->qr);
		free(p->qent);
		free(p->qmaxend);
		sites__free(p);
		timeline__free(p->tl);
		free(p->ns_pids);
		free(p);
	}
	free(a->procs);
	u64map__free(&a->by_pid);
	pidns__free(a);
	sites__free_all(a);
	free(a->pref);
	free(a->failed_pids);
	free(a->sc_exec_pids);
	free(a->sc_fork_pids);
	free(a->failed_why);
	for (uint32_t i = 0; i < a->nfiles; i++) {
		reader__free(a->files[i].r);
		uint64_t k;
		void *v;
		for (size_t j = 0; a->files[i].own_stacks && u64map__next(&a->files[i].stacks.m, &j, &k, &v);)
			free(v);
		stack_map__free(&a->files[i].stacks);
		for (uint32_t j = 0; j < a->files[i].nfixed; j++)
			free(a->files[i].fixed[j]);
		free(a->files[i].fixed);
	}
	free(a->files);
	for (uint32_t i = 0; i < a->nstrs; i++)
		free(a->strs[i]);
	free(a->strs);
	free(a->str_next);
	u64map__free(&a->by_str);
	symbolizer__free(a->sym);
	json_decref(a->session);
	free(a);
}
/* A process that outlived the recording (a daemon the recorder left
 * running) goes on writing into its shim file, and an older shim even
 * starts new files, once the recording is over (README, "Stopping a
 * recording"): a file whose name says it was begun after the session's
 * end_ns, and any shim record dated after it, is not part of this
 * recording (collect_file). */
static void drop_late_files(struct analysis *a, struct tracedir *td)
{
	json_t *c = json_object_get(a->session, "complete");
	json_t *e = json_object_get(a->session, "end_ns");
	if (!json_is_true(c) || !json_is_integer(e) || json_integer_value(e) <= 0)
		return;
	uint64_t end = (uint64_t)json_integer_value(e);
	a->end_cut = end;
	size_t k = 0;
	for (size_t i = 0; i < td->n; i++) {
		if (!td->files[i].is_bpf && td->files[i].start_ns > end) {
			a->late_files++;
			continue;
		}
		td->files[k++] = td->files[i];
	}
	td->n = k;
}


int analysis__run(const char *dir, struct analysis **out, char *why, size_t why_len)
{
	uint64_t t_start = vp_mono_ns();
	*out = NULL;
	struct analysis *a = calloc(1, sizeof(*a));
	struct run *run = calloc(1, sizeof(*run));
	if (!a || !run) {
		free(a);
		free(run);
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	a->pass = run;
	a->pass_free = run_free;
	int err = tracedir__scan(dir, &run->td);
	if (err) {
		snprintf(why, why_len, "%s: %s", dir, strerror(-err));
		analysis__free(a);
		return err;
	}
	if (!run->td.n && !run->td.has_session) {
		snprintf(why, why_len, "%s holds no vmaprof recording", dir);
		analysis__free(a);
		return -ENOENT;
	}
	snprintf(a->dir, sizeof(a->dir), "%s", dir);
	char spath[4200];
	snprintf(spath, sizeof(spath), "%s/session.json", dir);
	err = read_session(spath, &a->session);
	if (err) {
		snprintf(why, why_len, "%s: %s", spath,
			 err == -EFBIG ? "larger than 64 MiB: not a vmaprof session file"
				       : strerror(-err));
		analysis__free(a);
		return err;
	}
	drop_late_files(a, &run->td);
	a->page_size = 4096;
	a->debug_outside = getenv("VMAPROF_DEBUG_OUTSIDE") != NULL;
	if (model__try(run_passes, a)) {
		analysis__free(a);
		snprintf(why, why_len, "%s: out of memory", dir);
		return -ENOMEM;
	}
	a->seconds = (double)(vp_mono_ns() - t_start) / 1e9;
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
	st->write_threads = a->write_threads;
}

