/* SPDX-License-Identifier: MIT */
/*
 * The analyzer's model as the core builds it: analyze.c, model.c,
 * procinfo.c, pidns.c and sites.c. The structs and what a finished
 * analysis offers its readers are in view.h; this adds the functions that
 * build and change it. Not for the outputs: they read view.h only.
 */
#ifndef VP_MODEL_H
#define VP_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "analyze.h"
#include "reader.h"
#include "tracedir.h"
#include "view.h"

/* ---- model.c ---- */

/* Out of memory (model__oom, model__try): view.h. */

/* The process of `pid`, created on first sight (model__find: NULL then). */
struct proc *model__proc(struct analysis *a, uint32_t pid);
/* Report order: the first process, then by start time, then pid. */
void model__sort_procs(struct analysis *a);
const char *model__intern(struct analysis *a, const char *s, size_t len);

/* The timeline: entries are created (new_vma), made live (live_insert),
 * ended and split around a range (carve: munmap, mremap's old range, a
 * shrinking brk, replacement by add_entry; an exec ends them all itself),
 * re-protected in place of a range (reprotect: the pieces keep the stack). */
uint32_t model__new_vma(struct proc *p, const struct vma *tmpl);
uint32_t model__live_lb(const struct proc *p, uint64_t addr);
void model__live_insert(struct proc *p, uint32_t id);
int model__carve(struct proc *p, uint64_t lo, uint64_t hi, uint64_t t, int why);
void model__add_entry(struct proc *p, struct vma *e, uint64_t t);
void model__reprotect(struct proc *p, uint64_t lo, uint64_t hi, uint8_t prot, uint64_t t);

/* Pass 3's index (attribute_all, once the timeline is complete): the
 * entry live at (addr, t), the entry a call starting at t0 created at
 * addr; -1 if none. */
void model__index(struct proc *p);
int64_t model__lookup(const struct proc *p, uint64_t addr, uint64_t t);
int64_t model__lookup_created(const struct proc *p, uint64_t addr, uint64_t t0);
/* model__lookup's answer `id` for every (addr, t) in [lo, hi) x [tlo, thi). */
struct lookup_box {
	uint64_t lo, hi, tlo, thi;
	int64_t id;
};
int64_t model__lookup_box(const struct proc *p, uint64_t addr, uint64_t t, struct lookup_box *b);
/* model__lookup through the last boxes of process c->p (pass 3 changes no
 * timeline, so a box stays true; another process empties the cache). */
#define LOOKUP_CACHE_BOXES 8
struct lookup_cache {
	const struct proc *p;
	uint32_t n, next; /* boxes held, the one to replace */
	struct lookup_box box[LOOKUP_CACHE_BOXES];
};
int64_t model__lookup_cached(const struct proc *p, struct lookup_cache *c, uint64_t addr,
			     uint64_t t);
/* Count one fault of class cls at ip in e's fault sites. */
void model__site_add(struct vma *e, uint64_t ip, int cls, int kernel);

/* ---- sites.c: call sites and folded entries (docs/report.md) ---- */
/* Group each process's entries by creating call site and, unless
 * every_vma, fold repeated mappings: analysis__view's work, once (later
 * calls do nothing); the outputs read the result (view.h). */
void sites__shape(struct analysis *a, int every_vma);
/* What sites__shape made: one process's sites, and the analysis's caches. */
void sites__free(struct proc *p);
void sites__free_all(struct analysis *a);
/* vp_frame_anon's text of f ("base+0x1a2b", "0x<ip>", cut at n - 1 bytes
 * as its snprintf cuts; n >= 1) into buf, without formatting; its length. */
struct vp_frame;
size_t sites__frame_anon(const struct vp_frame *f, char *buf, size_t n);

/* ---- pidns.c: processes in PID namespaces (docs/report.md) ---- */
struct ns_ent {                       /* (ns, nr) meant `key` from time t on */
	uint64_t t;
	uint32_t key;
	uint32_t prev;                    /* index + 1 of the entry it replaced, 0 none */
};
struct ns_chain {                     /* a process's pid at each level */
	uint32_t level;
	struct vp_ns_id ids[VP_NS_LEVELS];
};
/* Before pass 1 reads a trace file: decide the keys' namespace and, when
 * any file numbers its pids in another namespace, read the collector's
 * VP_REC_TASK_NS records (or, without it, pair the broker's file names,
 * the recorder's pids, with their headers' own pids). */
void pidns__prepare(struct analysis *a, const struct tracedir *td);
/* One VP_REC_TASK_NS (pass 1 adds those prepare did not read). */
void pidns__add(struct analysis *a, const struct vp_task_ns *n);
/* The key of pid `nr` of namespace `ns` at time t (T_NEVER: the latest);
 * nr itself when there is nothing to translate or it is not known. */
uint32_t pidns__key(const struct analysis *a, uint32_t ns, uint32_t nr, uint64_t t);
/* After the replay: own_pid, pid_ns, host_pid, ns_pids of every process. */
void pidns__name(struct analysis *a);
void pidns__free(struct analysis *a);

/* ---- procinfo.c: who a process is, and whether the shim traced it ---- */
int procinfo__names_fd(const char *path);
json_t *procinfo__argv_json(const char *s, uint32_t len);
void procinfo__apply_name(struct analysis *a, struct proc *p, const struct vp_task_name *n);
void procinfo__load_markers(struct analysis *a, const struct tracedir *td);
void procinfo__preload_status(struct analysis *a);

#endif
