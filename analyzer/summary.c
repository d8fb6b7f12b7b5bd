/* SPDX-License-Identifier: MIT */
/* The human summary `record` prints and `report --format text` shows:
 * per process the largest costs and who mapped them, per fork what it
 * un-shared; what was not measured and why. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "derive.h"
#include "model.h"

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

/* Where an entry came from, in a few words: the first frame of its stack
 * outside libc, else its path, else its kind. */
static void vma_label(struct analysis *a, const struct proc *p, const struct vma *e, char *out,
		      size_t n)
{
	const struct vp_stack *s = (e->stack_file >= 0 && (uint32_t)e->stack_file < a->nfiles)
					   ? stack_map__get(&a->files[e->stack_file].stacks, e->stack_id)
					   : NULL;
	for (uint32_t i = 0; s && i < s->depth; i++) {
		struct vp_frame f = { 0 };
		if (symbolizer__lookup(a->sym, (uint64_t)e->stack_file, s->ips[i], i > 0, &f) ||
		    !f.function || (f.module && strstr(f.module, "/libc.so")))
			continue;
		const char *file = f.file ? strrchr(f.file, '/') : NULL;
		file = file ? file + 1 : f.file;
		if (file)
			snprintf(out, n, "%s (%s:%d)", f.function, file, f.line);
		else
			snprintf(out, n, "%s", f.function);
		return;
	}
	const char *missing = derive__stack_missing(p, e);
	if (e->path)
		snprintf(out, n, "%s", e->path);
	else if (missing)
		snprintf(out, n, "(%s, %s; no stack: %s)", vo_name[e->origin],
			 vk_name[e->kind], missing);
	else
		snprintf(out, n, "(%s, %s)", vo_name[e->origin], vk_name[e->kind]);
}

/* The entries with most faults of class `cls`, leaving out the noise
 * (fewer than `min` faults). Prints at most 3. */
static void top_vmas(struct analysis *a, const struct proc *p, int cls, uint64_t min, FILE *out)
{
	uint32_t best[3] = { UINT32_MAX, UINT32_MAX, UINT32_MAX };
	for (uint32_t i = 0; i < p->nv; i++) {
		if (p->v[i].internal || p->v[i].faults[cls] < min)
			continue;
		for (int k = 0; k < 3; k++) {
			if (best[k] == UINT32_MAX || p->v[i].faults[cls] > p->v[best[k]].faults[cls]) {
				memmove(best + k + 1, best + k, (size_t)(2 - k) * sizeof(*best));
				best[k] = i;
				break;
			}
		}
	}
	for (int k = 0; k < 3 && best[k] != UINT32_MAX; k++) {
		const struct vma *e = &p->v[best[k]];
		char sz[32], label[512];
		human_bytes(e->end - e->start, sz, sizeof(sz));
		vma_label(a, p, e, label, sizeof(label));
		fprintf(out, "    %-12s %9" PRIu64 "  %9s  %-5s  %s\n", fclass_name[cls], e->faults[cls],
			sz, vk_name[e->kind], label);
	}
}

static const char *base_name(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;
	return s ? s + 1 : (path ? path : "?");
}

static int cost_cmp(const void *x, const void *y)
{
	const struct proc *a = *(struct proc *const *)x, *b = *(struct proc *const *)y;
	uint64_t ta = total(a->faults), tb = total(b->faults);
	return ta != tb ? (ta > tb ? -1 : 1) : (a->pid > b->pid) - (a->pid < b->pid);
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
		char sz[32], label[512];
		human_bytes(e->end - e->start, sz, sizeof(sz));
		vma_label(a, p, e, label, sizeof(label));
		fprintf(out, "    %9s  %-5s  %s\n", sz, vk_name[e->kind], label);
	}
}

/* "N process(es) without call stacks (no shim trace): 1 static binary
 * (no dynamic loader), ..." -- reasons counted, most frequent first. */
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
	fprintf(out, "  %u process(es) without call stacks (no shim trace):", a->preload_without);
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

int analysis__summary(struct analysis *a, FILE *out)
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
	json_t *cmd = json_array_get(json_object_get(a->session, "command"), 0);
	const char *name = base_name(json_string_value(cmd));
	if (!derive__measured(a)) {
		fprintf(out, "\nvmaprof: %s: %u process(es); page faults, pages allocated and fork "
			"copies\n  not measured (no kernel collector: %s)\n", name, a->nprocs,
			a->bpf_reason ? a->bpf_reason : "unknown reason");
	} else {
		fprintf(out, "\nvmaprof: %s: %u process(es), %" PRIu64 " page faults, %s of pages "
			"allocated by them\n", name, a->nprocs, total(all), pb);
		fprintf(out, "  demand_zero %" PRIu64 " (first touch: new zeroed page)  zero_page %" PRIu64
			" (read of untouched memory: no page)\n  cow_copy %" PRIu64
			" (copy-on-write copies)  cow_reuse %" PRIu64 "  file %" PRIu64 "  shmem %" PRIu64
			"  shared_write %" PRIu64 "  other %" PRIu64 "\n",
			all[FC_DEMAND_ZERO], all[FC_ZERO_PAGE], all[FC_COW_COPY], all[FC_COW_REUSE],
			all[FC_FILE], all[FC_SHMEM], all[FC_SHARED_WRITE], all[FC_OTHER]);
		if (pop)
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
	without_summary(a, out);
	struct proc **by = malloc((a->nprocs + 1) * sizeof(*by));
	if (!by)
		return -ENOMEM;
	if (a->nprocs) /* a->procs is NULL without processes */
		memcpy(by, a->procs, a->nprocs * sizeof(*by));
	if (a->nprocs > 1)
		qsort(by, a->nprocs, sizeof(*by), cost_cmp);
	for (uint32_t i = 0; i < a->nprocs && i < 6; i++) {
		const struct proc *p = by[i];
		uint64_t t = total(p->faults);
		if (!derive__measured(a)) {
			fprintf(out, "\n  pid %u %s%s: %" PRIu64 " mapping(s) recorded\n", p->pid,
				base_name(p->exe), p->is_root ? " (first process)" : "", (uint64_t)p->nv);
			if (p->preload_active && p->preload_reason) /* a trace that stopped early */
				fprintf(out, "    %s\n", p->preload_reason);
			top_by_size(a, p, out);
			continue;
		}
		struct kc_balance kb;
		derive__kc_balance(a, p, &kb);
		fprintf(out, "\n  pid %u %s", p->pid, base_name(p->exe));
		if (p->title)
			fprintf(out, " [%s]", p->title);
		else if (p->name && strncmp(p->name, base_name(p->exe), 15))
			fprintf(out, " [%s]", p->name);
		fprintf(out, "%s: %" PRIu64 " faults", p->is_root ? " (first process)" : "", t);
		if (p->have_kc) {
			fprintf(out, ", the kernel counted %" PRIu64, p->minflt + p->majflt);
			uint64_t other = p->pop_faults + kb.shim + p->before_trace;
			if (other)
				fprintf(out, "\n    (of which %" PRIu64 " populated by syscalls, %" PRIu64
					" the shim's own, %" PRIu64 " before tracing)", p->pop_faults, kb.shim,
					p->before_trace);
		}
		fputc('\n', out);
		if (p->preload_active && p->preload_reason) /* a trace that stopped early */
			fprintf(out, "    %s\n", p->preload_reason);
		if (kb.warning[0])
			fprintf(out, "    WARNING: %s\n", kb.warning);
		uint64_t min = t / 100 > 4 ? t / 100 : 4;
		if (p->faults[FC_COW_COPY] >= min || p->faults[FC_DEMAND_ZERO] >= min ||
		    p->faults[FC_SHMEM] >= min)
			fprintf(out, "    %-12s %9s  %9s  %-5s  %s\n", "class", "faults", "size", "kind",
				"mapped by");
		top_vmas(a, p, FC_COW_COPY, min, out);
		top_vmas(a, p, FC_DEMAND_ZERO, min, out);
		top_vmas(a, p, FC_SHMEM, min, out);
	}
	if (a->nprocs > 6)
		fprintf(out, "  ... %u more process(es) in report.json\n", a->nprocs - 6);
	free(by);
	int nf = 0;
	for (uint32_t i = 0; i < a->nprocs; i++) {
		const struct proc *p = a->procs[i];
		for (uint32_t k = 0; k < p->nkids; k++, nf++) {
			if (!nf)
				fprintf(out, derive__measured(a) ? "\n  memory each fork un-shared "
							   "(copy-on-write copies):\n"
							 : "\n  forks (copies not measured: no kernel "
							   "collector):\n");
			if (nf >= 8)
				continue;
			if (!derive__measured(a)) {
				fprintf(out, "    %u %s -> %u\n", p->pid, base_name(p->exe),
					p->kids[k].child);
				continue;
			}
			char cb[32], pbb[32];
			const struct proc *c = NULL;
			for (uint32_t j = 0; j < a->nprocs && !c; j++)
				if (a->procs[j]->pid == p->kids[k].child)
					c = a->procs[j];
			human_bytes(p->kids[k].cow_child * a->page_size, cb, sizeof(cb));
			human_bytes(p->kids[k].cow_parent * a->page_size, pbb, sizeof(pbb));
			fprintf(out, "    %u %s -> %u %s: child copied %s, parent %s while it lived\n",
				p->pid, base_name(p->exe), p->kids[k].child, base_name(c ? c->exe : NULL),
				cb, pbb);
		}
	}
	if (nf > 8)
		fprintf(out, "    ... %d more fork(s) in report.json\n", nf - 8);
	if (a->preload_lost || a->bpf_lost || a->damaged || a->unreadable)
		fprintf(out, "  LOST: %" PRIu64 " shim records, %" PRIu64 " kernel records, %" PRIu64
			" damaged, %" PRIu64 " unreadable files\n", a->preload_lost, a->bpf_lost,
			a->damaged, a->unreadable);
	return ferror(out) ? -EIO : 0;
}
