/* SPDX-License-Identifier: MIT */
/*
 * Processes in PID namespaces (docs/report.md, "Processes in PID
 * namespaces"; record.h, VP_REC_TASK_NS).
 *
 * Three numberings meet in one recording: the kernel collector's records
 * number tasks in the kernel's initial namespace; the shim's in its own
 * (what getpid() said there), which its header's pid_ns names; the
 * recorder's (session.json, the broker's file names, `record -p`'s files)
 * in the recorder's. One process is one process whichever numbering names
 * it: the analysis keys processes by the collector's numbering when it has
 * a collector stream (one pid per task on the whole machine), else by the
 * recorder's, and translates every pid of another numbering as it reads it.
 *
 * The translation is exact: a namespace is its inode, and the collector's
 * VP_REC_TASK_NS give a task's id in every namespace of its hierarchy, so
 * the pid 3 of one container and the pid 3 of another are two processes.
 * An inode or a pid may be reused within a recording (a container after
 * another): each (namespace, id) remembers from when it meant which task,
 * and a pid read at time t is the task it meant then. Without the
 * collector, a file the broker created is named after the recorder's pid
 * of the shim that asked for it (SO_PEERCRED): that pairs the two
 * numberings of every traced process (not those of a namespace between
 * them, when namespaces nest).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

static uint64_t id_key(uint32_t ns, uint32_t nr)
{
	return ((uint64_t)ns << 32) | nr; /* nr > 0: never 0 */
}

/* (ns, nr) means `key` from time t on. */
static void add_id(struct analysis *a, uint32_t ns, uint32_t nr, uint32_t key, uint64_t t)
{
	if (!ns || !nr || !key)
		return;
	uint64_t k = id_key(ns, nr);
	uintptr_t prev = (uintptr_t)u64map__get(&a->ns_ids, k);
	if (prev && a->ns_ent[prev - 1].key == key)
		return; /* said again (at the task's exec, after its fork) */
	a->ns_ent = model__grow(a->ns_ent, &a->cap_ns_ent, a->n_ns_ent + 1, sizeof(*a->ns_ent));
	a->ns_ent[a->n_ns_ent++] = (struct ns_ent){ t, key, (uint32_t)prev };
	if (u64map__put(&a->ns_ids, k, (void *)(uintptr_t)a->n_ns_ent))
		model__oom();
}

void pidns__add(struct analysis *a, const struct vp_task_ns *n)
{
	const struct vp_ns_id *ids = vp_task_ns_ids(n);
	/* a thread's ids are its tid's; a thread-group leader's are its pid's */
	for (uint32_t i = 0; i < n->count; i++)
		add_id(a, ids[i].ns, ids[i].nr, n->h.tid, n->h.time_ns);
	if (n->h.pid != n->h.tid || !n->h.pid)
		return;
	uintptr_t c = (uintptr_t)u64map__get(&a->ns_chain, (uint64_t)n->h.pid + 1);
	if (!c) {
		a->ns_chains = model__grow(a->ns_chains, &a->cap_ns_chains, a->n_ns_chains + 1,
					   sizeof(*a->ns_chains));
		c = ++a->n_ns_chains;
		if (u64map__put(&a->ns_chain, (uint64_t)n->h.pid + 1, (void *)c))
			model__oom();
	}
	struct ns_chain *ch = &a->ns_chains[c - 1];
	ch->level = n->level;
	memcpy(ch->ids, ids, n->count * sizeof(*ids));
}

uint32_t pidns__key(const struct analysis *a, uint32_t ns, uint32_t nr, uint64_t t)
{
	if (!nr || !ns || ns == a->key_ns || !a->n_ns_ent)
		return nr;
	uintptr_t i = (uintptr_t)u64map__get(&a->ns_ids, id_key(ns, nr));
	const struct ns_ent *best = NULL, *first = NULL;
	for (; i; i = a->ns_ent[i - 1].prev) {
		const struct ns_ent *e = &a->ns_ent[i - 1];
		if (e->t <= t && (!best || e->t > best->t))
			best = e;
		if (!first || e->t < first->t)
			first = e;
	}
	/* before any record said it: the first (a task's own records may
	 * be stamped before the collector's record of its creation) */
	return best ? best->key : first ? first->key : nr;
}

uint32_t pidns__rec(const struct analysis *a, int64_t nr, uint64_t t)
{
	if (nr <= 0 || nr > (int64_t)UINT32_MAX)
		return 0;
	return pidns__key(a, a->rec_ns, (uint32_t)nr, t);
}

/* The header of trace file `name` (not validated beyond magic and
 * version: the reader does that when pass 1 opens it). 0 or -1. */
static int read_header(const struct analysis *a, const char *name, struct vp_file_header *h)
{
	char path[4500];
	snprintf(path, sizeof(path), "%s/%s", a->dir, name);
	int fd = vp_open_regular(path, 0);
	if (fd < 0)
		return -1;
	ssize_t n = pread(fd, h, sizeof(*h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(*h) || h->magic != VP_MAGIC || h->version < 2 ||
	    h->version > VP_FORMAT_VERSION)
		return -1;
	return 0;
}

void pidns__prepare(struct analysis *a, const struct tracedir *td)
{
	int have_bpf = 0, other = 0;
	struct vp_file_header h;
	for (size_t i = 0; i < td->n; i++) {
		if (!td->files[i].is_bpf)
			continue;
		have_bpf = 1;
		/* a session from before pid_ns: the recorder's, from its stream */
		if (!a->rec_ns && !read_header(a, td->files[i].name, &h))
			a->rec_ns = h.pid_ns;
	}
	/* the collector numbers every task in the initial namespace */
	a->key_ns = have_bpf ? VP_PID_NS_INIT : a->rec_ns;
	if (a->rec_ns && a->rec_ns != a->key_ns)
		other = 1;
	for (size_t i = 0; i < td->n; i++) {
		const struct tracedir_file *f = &td->files[i];
		if (f->is_bpf || read_header(a, f->name, &h) || !h.pid_ns || h.pid_ns == a->key_ns)
			continue;
		other = 1;
		/* without the collector: the broker named the file after the
		 * recorder's pid of the shim (a file the shim made itself is
		 * named after its own pid: nothing to learn) */
		if (!have_bpf && f->pid > 0 && (uint32_t)f->pid != h.pid)
			add_id(a, h.pid_ns, h.pid, (uint32_t)f->pid, h.start_ns);
	}
	if (!have_bpf || !other)
		return; /* pass 1 reads the collector's records for the names */
	for (size_t i = 0; i < td->n; i++) {
		if (!td->files[i].is_bpf)
			continue;
		char path[4500], w[512];
		struct reader *r;
		snprintf(path, sizeof(path), "%s/%s", a->dir, td->files[i].name);
		if (reader__open(path, &r, w, sizeof(w)))
			continue; /* pass 1 says why */
		const struct vp_rec *rec;
		while (reader__next(r, &rec) > 0)
			if (rec->type == VP_REC_TASK_NS)
				pidns__add(a, (const void *)rec);
		reader__free(r);
	}
	a->ns_scanned = 1;
}

void pidns__name(struct analysis *a)
{
	for (uint32_t i = 0; i < a->nprocs; i++) {
		struct proc *p = a->procs[i];
		p->own_pid = p->host_pid = p->pid;
		uintptr_t c = (uintptr_t)u64map__get(&a->ns_chain, (uint64_t)p->pid + 1);
		if (!c)
			continue;
		const struct ns_chain *ch = &a->ns_chains[c - 1];
		p->own_pid = ch->ids[ch->level].nr;
		p->pid_ns = ch->ids[ch->level].ns;
		for (uint32_t l = 0; l <= ch->level; l++)
			if (ch->ids[l].ns == a->rec_ns)
				p->host_pid = ch->ids[l].nr;
		free(p->ns_pids);
		p->ns_pids = malloc((ch->level + 1) * sizeof(*p->ns_pids));
		if (!p->ns_pids)
			model__oom();
		for (uint32_t l = 0; l <= ch->level; l++)
			p->ns_pids[l] = ch->ids[l].nr;
		p->ns_level = ch->level;
	}
	/* without the kernel's word: what the shim's own headers say */
	for (uint32_t i = 0; i < a->nfiles; i++) {
		const struct tfile *f = &a->files[i];
		struct proc *p = f->is_bpf ? NULL : model__find(a, f->pid);
		if (!p || p->ns_pids || !f->pid_ns || !f->own_pid)
			continue;
		p->pid_ns = f->pid_ns;
		p->own_pid = f->own_pid;
	}
}

int pidns__shown(const struct proc *p)
{
	return p->pid_ns && p->pid_ns != VP_PID_NS_INIT;
}

uint32_t pidns__report_pid(struct analysis *a, uint32_t key)
{
	const struct proc *p = model__find(a, key);
	return p ? p->own_pid : key;
}

void pidns__free(struct analysis *a)
{
	u64map__free(&a->ns_ids);
	u64map__free(&a->ns_chain);
	free(a->ns_ent);
	free(a->ns_chains);
}
