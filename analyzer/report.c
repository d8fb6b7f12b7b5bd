/* SPDX-License-Identifier: MIT */
/* report.json (docs/report.md, schema_version 1) and the human summary. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "config.h"
#include "model.h"

static const char *const kind_name[] = { "heap", "stack", "anon", "file", "shm",
					 "code", "data", "vdso", "other" };
static const char *const origin_name[] = { "mmap", "mremap", "brk", "initial",
					   "inherited", "exec", "syscall" };
static const char *const end_name[] = { NULL, "munmap", "split", "mremap", "exec", "replaced" };

static json_t *jnum_or_null(uint64_t v, int known)
{
	return known ? json_integer((json_int_t)v) : json_null();
}

/* Fault counts need the kernel collector: without it they are unmeasured,
 * null, never 0. */
static int measured(const struct analysis *a)
{
	return a->bpf_active;
}

static json_t *faults_json(const struct analysis *a, const uint64_t f[FC_N])
{
	if (!measured(a))
		return json_null();
	json_t *o = json_object();
	uint64_t total = 0;
	for (int c = 0; c < FC_N; c++) {
		json_object_set_new(o, fclass_name[c], json_integer((json_int_t)f[c]));
		total += f[c];
	}
	json_object_set_new(o, "total", json_integer((json_int_t)total));
	return o;
}

static json_t *frame_json(struct analysis *a, int space, uint64_t ip, int return_addr,
			  int kernel)
{
	json_t *fr = json_object();
	/* kernel text addresses do not fit the report's unsigned integers (and
	 * mean nothing to the reader): a kernel-mode site says so instead */
	json_object_set_new(fr, "ip", json_integer(kernel ? 0 : (json_int_t)ip));
	struct vp_frame f = { .ip = ip };
	if (kernel) {
		json_object_set_new(fr, "kernel", json_true());
		json_object_set_new(fr, "function", json_string("[kernel]"));
		json_object_set_new(fr, "module", json_null());
		json_object_set_new(fr, "file", json_null());
		json_object_set_new(fr, "line", json_null());
		return fr;
	}
	if (space >= 0)
		symbolizer__lookup(a->sym, (uint64_t)space, ip, return_addr, &f);
	json_object_set_new(fr, "function", vp_json_str(f.function));
	json_object_set_new(fr, "module", vp_json_str(f.module));
	json_object_set_new(fr, "file", vp_json_str(f.file));
	json_object_set_new(fr, "line", f.line ? json_integer(f.line) : json_null());
	return fr;
}

/* Stacks are shared by many entries: one JSON array per (file, id). */
static json_t *stack_json(struct analysis *a, struct u64map *sc, int32_t file, uint32_t id)
{
	if (file < 0 || !id || (uint32_t)file >= a->nfiles)
		return json_array();
	uint64_t key = ((uint64_t)(uint32_t)file << 32) | id;
	json_t *arr = u64map__get(sc, key);
	if (arr)
		return json_incref(arr);
	arr = json_array();
	const struct vp_stack *s = stack_map__get(&a->files[file].stacks, id);
	for (uint32_t i = 0; s && i < s->depth; i++)
		json_array_append_new(arr, frame_json(a, file, s->ips[i], i > 0, 0));
	if (u64map__put(sc, key, arr))
		exit(2);
	return json_incref(arr);
}

static int site_cmp(const void *x, const void *y)
{
	const struct site *a = x, *b = y;
	if (a->count != b->count)
		return a->count > b->count ? -1 : 1;
	if (a->ip != b->ip)
		return a->ip < b->ip ? -1 : 1;
	return (int)a->cls - (int)b->cls;
}

static int site_key_cmp(const void *x, const void *y)
{
	const struct site *a = x, *b = y;
	if (a->ip != b->ip)
		return a->ip < b->ip ? -1 : 1;
	if (a->cls != b->cls)
		return (int)a->cls - (int)b->cls;
	return a->space - b->space;
}

static int space_at(const struct proc *p, uint64_t t)
{
	int s = -1;
	for (uint32_t i = 0; i < p->nimg; i++)
		if (p->img[i].start_ns <= t)
			s = p->img[i].file;
	if (s < 0 && p->nimg)
		s = p->img[0].file;
	return s;
}

/* The top 5 of `n` sites (sorted here), symbolized in `space`. */
static json_t *top_sites(struct analysis *a, struct site *tmp, uint32_t n, int space)
{
	json_t *arr = json_array();
	if (n > 1)
		qsort(tmp, n, sizeof(*tmp), site_cmp);
	for (uint32_t i = 0; i < n && i < 5; i++) {
		json_t *fr = frame_json(a, tmp[i].space >= 0 ? tmp[i].space : space, tmp[i].ip, 0,
					(int)tmp[i].kernel);
		json_object_del(fr, "file");
		json_object_del(fr, "line");
		json_object_set_new(fr, "class", json_string(fclass_name[tmp[i].cls - 1]));
		json_object_set_new(fr, "count", json_integer((json_int_t)tmp[i].count));
		json_array_append_new(arr, fr);
	}
	return arr;
}

static json_t *sites_json(struct analysis *a, const struct proc *p, const struct vma *e)
{
	struct site *tmp = malloc((e->nsites + 1) * sizeof(*tmp));
	if (!tmp)
		exit(2);
	uint32_t n = 0;
	for (uint32_t i = 0; i < e->capsites; i++)
		if (e->sites[i].cls)
			tmp[n++] = e->sites[i];
	json_t *arr = top_sites(a, tmp, n, space_at(p, e->valid_from));
	free(tmp);
	return arr;
}

/* A process's sites over all its entries, merged by (ip, class). */
static json_t *proc_sites_json(struct analysis *a, const struct proc *p)
{
	uint32_t total = 0;
	for (uint32_t i = 0; i < p->nv; i++)
		total += p->v[i].nsites;
	struct site *tmp = malloc((total + 1) * sizeof(*tmp));
	if (!tmp)
		exit(2);
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->nv; i++) {
		int space = space_at(p, p->v[i].valid_from);
		for (uint32_t j = 0; j < p->v[i].capsites; j++)
			if (p->v[i].sites[j].cls) {
				tmp[n] = p->v[i].sites[j];
				tmp[n++].space = (int16_t)space;
			}
	}
	/* merge equal (ip, class, image): sort by them, then fold */
	if (n > 1)
		qsort(tmp, n, sizeof(*tmp), site_key_cmp);
	uint32_t m = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (m && tmp[m - 1].ip == tmp[i].ip && tmp[m - 1].cls == tmp[i].cls &&
		    tmp[m - 1].space == tmp[i].space)
			tmp[m - 1].count += tmp[i].count;
		else
			tmp[m++] = tmp[i];
	}
	json_t *arr = top_sites(a, tmp, m, p->nimg ? p->img[p->nimg - 1].file : -1);
	free(tmp);
	return arr;
}

/*
 * The kernel's own count against ours: every fault the kernel counted for a
 * process (minflt + majflt at its exit) is a traced fault event, a fault a
 * syscall made without one (populated, and the shim's trace prefault), or
 * one taken before tracing began. `difference` is what none of them
 * explains (< 0: we traced more than the kernel counted, e.g. faults that
 * failed with SIGSEGV/-EFAULT, which the kernel does not count).
 */
struct kc_balance {
	uint64_t shim;
	int64_t difference;
	char warning[256];
};

static void kc_balance(const struct analysis *a, const struct proc *p, struct kc_balance *b)
{
	uint64_t traced = 0;
	for (int c = 0; c < FC_N; c++)
		traced += p->faults[c];
	b->shim = p->shim_sys ? p->shim_sys : p->prefault;
	b->difference = 0;
	b->warning[0] = 0;
	if (!p->have_kc || !measured(a))
		return;
	uint64_t kernel = p->minflt + p->majflt;
	uint64_t ours = traced + p->pop_faults + b->shim + p->before_trace;
	b->difference = (int64_t)(kernel - ours);
	/* more than 3% (and a handful) apart: say so, whichever way */
	uint64_t gap = ours > kernel ? ours - kernel : kernel - ours;
	if (gap > 5 && gap * 100 > kernel * 3)
		snprintf(b->warning, sizeof(b->warning),
			 ours > kernel ? "traced %" PRIu64 " faults, more than the %" PRIu64
					 " the kernel counted"
				       : "the kernel counted %" PRIu64 " faults, %" PRIu64
					 " more than were traced",
			 ours > kernel ? ours : kernel, ours > kernel ? kernel : gap);
}

static json_t *vma_json(struct analysis *a, struct u64map *sc, const struct proc *p,
			uint32_t id)
{
	const struct vma *e = &p->v[id];
	char prot[4] = { (e->prot & PROT_READ) ? 'r' : '-', (e->prot & PROT_WRITE) ? 'w' : '-',
			 (e->prot & PROT_EXEC) ? 'x' : '-', 0 };
	json_t *o = json_object();
	json_object_set_new(o, "id", json_integer(id));
	json_object_set_new(o, "start", json_integer((json_int_t)e->start));
	json_object_set_new(o, "end", json_integer((json_int_t)e->end));
	json_object_set_new(o, "prot", json_string(prot));
	json_object_set_new(o, "shared", json_boolean(e->shared));
	json_object_set_new(o, "anonymous", json_boolean(e->anonymous));
	json_object_set_new(o, "path", vp_json_str(e->path));
	json_object_set_new(o, "offset", json_integer((json_int_t)e->offset));
	json_object_set_new(o, "kind", json_string(kind_name[e->kind]));
	json_object_set_new(o, "origin", json_string(origin_name[e->origin]));
	json_object_set_new(o, "created_ns", json_integer((json_int_t)e->created_ns));
	json_object_set_new(o, "valid_from_ns", json_integer((json_int_t)e->valid_from));
	json_object_set_new(o, "destroyed_ns", jnum_or_null(e->destroyed_ns,
							     e->destroyed_ns != T_NEVER));
	json_object_set_new(o, "ended_by", e->ended_by ? json_string(end_name[e->ended_by])
						       : json_null());
	json_object_set_new(o, "piece_of", e->piece_of ? json_integer(e->piece_of - 1)
						       : json_null());
	json_object_set_new(o, "internal", json_boolean(e->internal));
	if (e->origin == VO_INHERITED && e->inh_pid)
		json_object_set_new(o, "inherited_from",
				    json_pack("{s:i, s:i}", "pid", (int)e->inh_pid, "vma",
					      (int)e->inh_vma));
	else
		json_object_set_new(o, "inherited_from", json_null());
	json_object_set_new(o, "stack", stack_json(a, sc, e->stack_file, e->stack_id));
	json_object_set_new(o, "faults", faults_json(a, e->faults));
	json_object_set_new(o, "pages_allocated", jnum_or_null(e->pages, measured(a)));
	json_object_set_new(o, "populated",
			    measured(a) ? json_pack("{s:I, s:I}", "faults", (json_int_t)e->pop_faults,
						    "pages", (json_int_t)e->pop_pages)
					: json_null());
	json_object_set_new(o, "top_fault_sites", sites_json(a, p, e));
	return o;
}

static json_t *proc_json(struct analysis *a, struct u64map *sc, const struct proc *p)
{
	json_t *o = json_object();
	json_object_set_new(o, "pid", json_integer(p->pid));
	json_object_set_new(o, "ppid", json_integer(p->ppid));
	json_object_set_new(o, "exe", vp_json_str(p->exe));
	json_object_set_new(o, "exe_resolved", vp_json_str(p->exe_resolved));
	json_object_set_new(o, "name", vp_json_str(p->name));
	json_object_set_new(o, "title", vp_json_str(p->title));
	json_object_set_new(o, "argv", p->argv ? json_incref(p->argv) : json_array());
	json_object_set_new(o, "preload", json_pack("{s:b, s:o}", "active", p->preload_active,
						    "reason", vp_json_str(p->preload_reason)));
	json_object_set_new(o, "start_ns", json_integer((json_int_t)p->start_ns));
	json_object_set_new(o, "end_ns", json_integer((json_int_t)p->end_ns));
	json_object_set_new(o, "exit_code", p->exit_code >= 0 ? json_integer(p->exit_code)
							     : json_null());
	json_object_set_new(o, "exit_signal", p->exit_signal >= 0 ? json_integer(p->exit_signal)
								 : json_null());
	json_object_set_new(o, "forked_from",
			    p->forked ? json_pack("{s:i, s:I}", "pid", (int)p->ppid, "time_ns",
						  (json_int_t)p->fork_t)
				      : json_null());
	json_t *ex = json_array();
	for (uint32_t i = 0; i < p->nex; i++)
		json_array_append_new(ex, json_pack("{s:I, s:s, s:o}", "time_ns",
						    (json_int_t)p->ex[i].t, "path",
						    p->ex[i].path ? p->ex[i].path : "", "argv",
						    p->ex[i].argv ? json_incref(p->ex[i].argv)
								  : json_array()));
	json_object_set_new(o, "execs", ex);
	json_object_set_new(o, "calls",
			    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				      "mmap", (json_int_t)p->calls[VP_CALL_MMAP],
				      "munmap", (json_int_t)p->calls[VP_CALL_MUNMAP],
				      "mremap", (json_int_t)p->calls[VP_CALL_MREMAP],
				      "mprotect", (json_int_t)p->calls[VP_CALL_MPROTECT],
				      "madvise", (json_int_t)p->calls[VP_CALL_MADVISE],
				      "brk", (json_int_t)p->calls[VP_CALL_BRK],
				      "fork", (json_int_t)p->calls[8],
				      "exec", (json_int_t)p->calls[0]));
	json_object_set_new(o, "faults", faults_json(a, p->faults));
	json_object_set_new(o, "pages_allocated", jnum_or_null(p->pages, measured(a)));
	json_t *pop = json_null();
	if (measured(a)) {
		json_t *by = json_object();
		for (int k = 0; k < POP_N; k++)
			if (p->pop_by[k])
				json_object_set_new(by, pop_name[k], json_integer((json_int_t)p->pop_by[k]));
		pop = json_pack("{s:I, s:I, s:o}", "faults", (json_int_t)p->pop_faults, "pages",
				(json_int_t)p->pop_pages, "by_syscall", by);
	}
	json_object_set_new(o, "populated", pop);
	json_object_set_new(o, "faults_outside_vmas", jnum_or_null(p->outside, measured(a)));
	json_object_set_new(o, "top_fault_sites", proc_sites_json(a, p));
	struct kc_balance kb;
	kc_balance(a, p, &kb);
	json_t *kc = json_pack("{s:o, s:o, s:I}", "minflt", jnum_or_null(p->minflt, p->have_kc),
			       "majflt", jnum_or_null(p->majflt, p->have_kc), "shim_prefault",
			       (json_int_t)kb.shim);
	json_object_set_new(kc, "before_trace", jnum_or_null(p->before_trace, measured(a)));
	json_object_set_new(kc, "populated", jnum_or_null(p->pop_faults, measured(a)));
	json_object_set_new(kc, "difference", p->have_kc ? json_integer(kb.difference)
							 : json_null());
	json_object_set_new(o, "kernel_counters", kc);
	json_t *w = json_array();
	if (kb.warning[0])
		json_array_append_new(w, json_string(kb.warning));
	json_object_set_new(o, "warnings", w);
	return o; /* "vmas" follows, streamed by analysis__write_report */
}

static int proc_cmp(const void *x, const void *y)
{
	const struct proc *a = *(struct proc *const *)x, *b = *(struct proc *const *)y;
	if (a->is_root != b->is_root)
		return a->is_root ? -1 : 1;
	if (a->start_ns != b->start_ns)
		return a->start_ns < b->start_ns ? -1 : 1;
	return a->pid < b->pid ? -1 : a->pid > b->pid;
}

/* jansson's json_dumpf makes one stdio call per token, which was a third
 * of writing a big report; dump into a reused buffer, write that once. */
struct dumpbuf {
	char *p;
	size_t n, cap;
};

static int dumpbuf_add(const char *s, size_t n, void *data)
{
	struct dumpbuf *b = data;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	return 0;
}

/* Write `o`; with `open`, without its closing brace, so that more members
 * can follow. */
static int dump_to(const json_t *o, FILE *f, size_t flags, struct dumpbuf *b, int open)
{
	b->n = 0;
	if (json_dump_callback(o, dumpbuf_add, b, flags))
		return -1;
	size_t n = b->n;
	if (open) {
		while (n && b->p[n - 1] != '}')
			n--;
		if (n)
			n--; /* the brace */
		while (n && (b->p[n - 1] == '\n' || b->p[n - 1] == ' '))
			n--;
	}
	return fwrite(b->p, 1, n, f) == n ? 0 : -1;
}

/* collectors.preload: active only if the shim recorded something; when
 * some processes have no trace of it, the reason says how many. */
static json_t *preload_json(struct analysis *a)
{
	int active = a->preload_active && a->preload_records > 0;
	char why[256];
	const char *reason = NULL;
	if (!active && a->preload_active)
		reason = "the shim recorded nothing (processes[].preload says why)";
	else if (!active)
		reason = a->preload_reason ? a->preload_reason : "unknown reason";
	else if (a->preload_without) {
		snprintf(why, sizeof(why), "%u of %u process(es) have no shim trace "
			 "(processes[].preload says why)", a->preload_without, a->nprocs);
		reason = why;
	}
	return json_pack("{s:b, s:I, s:I, s:o, s:I}", "active", active, "events",
			 (json_int_t)a->preload_records, "lost",
			 (json_int_t)(a->preload_lost + a->preload_damaged), "reason",
			 vp_json_str(reason), "processes_without", (json_int_t)a->preload_without);
}

static json_t *report_head(struct analysis *a)
{
	json_t *r = json_object();
	json_object_set_new(r, "schema_version", json_integer(1));
	json_object_set_new(r, "tool", json_pack("{s:s, s:s}", "name", "vmaprof", "version",
						 VMAPROF_VERSION));
	json_t *cmd = json_object_get(a->session, "command");
	json_object_set_new(r, "command", json_is_array(cmd) ? json_incref(cmd) : json_array());
	json_object_set_new(r, "page_size", json_integer((json_int_t)a->page_size));
	json_object_set_new(
		r, "collectors",
		json_pack("{s:o, s:{s:b, s:I, s:I, s:s?}}", "preload", preload_json(a), "bpf", "active",
			  a->bpf_active, "events", (json_int_t)a->bpf_records, "lost",
			  (json_int_t)(a->bpf_lost + a->bpf_damaged), "reason", a->bpf_active ? NULL : a->bpf_reason));
	json_t *col = json_object_get(r, "collectors");
	if (!json_object_get(json_object_get(col, "bpf"), "reason"))
		json_object_set_new(json_object_get(col, "bpf"), "reason", json_null());
	json_object_set_new(r, "lost",
			    json_pack("{s:I, s:I, s:I, s:I}", "preload_records",
				      (json_int_t)a->preload_lost, "bpf_records",
				      (json_int_t)a->bpf_lost, "damaged_records",
				      (json_int_t)a->damaged, "unreadable_files",
				      (json_int_t)a->unreadable));
	return r;
}

/* The report is streamed: one process header or one VMA object at a time is
 * built, written and freed, so memory stays that of the analysis itself
 * (a 200k-mapping report used to hold a 900 MiB jansson tree). Member order
 * is that of report.schema.json's examples: "vmas" last in a process,
 * "processes" then "forks" last in the report. */
int analysis__write_report(struct analysis *a, FILE *f, size_t flags)
{
	if (a->nprocs > 1) /* a->procs is NULL without processes */
		qsort(a->procs, a->nprocs, sizeof(*a->procs), proc_cmp);
	struct u64map sc = { 0 };
	struct dumpbuf db = { 0 };
	const char *nl = (flags & JSON_MAX_INDENT) ? "\n" : "";
	int err = 0;
	json_t *r = report_head(a);
	err |= dump_to(r, f, flags, &db, 1);
	json_decref(r);
	fprintf(f, ",%s\"processes\":[", nl);
	for (uint32_t i = 0; i < a->nprocs && !err; i++) {
		const struct proc *p = a->procs[i];
		json_t *o = proc_json(a, &sc, p);
		fputs(i ? ",\n" : nl, f);
		err |= dump_to(o, f, flags, &db, 1);
		json_decref(o);
		fprintf(f, ",%s\"vmas\":[", nl);
		for (uint32_t v = 0; v < p->nv && !err; v++) {
			json_t *e = vma_json(a, &sc, p, v);
			fputs(v ? ",\n" : nl, f);
			err |= dump_to(e, f, flags, &db, 0);
			json_decref(e);
		}
		fprintf(f, "]}");
	}
	fprintf(f, "],%s\"forks\":[", nl);
	int first = 1;
	for (uint32_t i = 0; i < a->nprocs && !err; i++) {
		const struct proc *p = a->procs[i];
		for (uint32_t k = 0; k < p->nkids && !err; k++) {
			const struct child_ref *c = &p->kids[k];
			json_t *o = json_pack("{s:i, s:i, s:I, s:o, s:o, s:o}", "parent", (int)p->pid,
					      "child", (int)c->child, "time_ns", (json_int_t)c->t,
					      "cow_copy_parent", jnum_or_null(c->cow_parent, measured(a)),
					      "cow_copy_child", jnum_or_null(c->cow_child, measured(a)),
					      "unshared_bytes",
					      jnum_or_null((c->cow_parent + c->cow_child) * a->page_size,
							   measured(a)));
			fputs(first ? nl : ",\n", f);
			first = 0;
			err |= dump_to(o, f, flags, &db, 0);
			json_decref(o);
		}
	}
	fprintf(f, "]}\n");
	free(db.p);
	for (size_t i = 0; i < sc.cap; i++)
		json_decref(sc.val[i]);
	u64map__free(&sc);
	return err || ferror(f) ? -1 : 0;
}

/* ---- summary ---- */

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
static void vma_label(struct analysis *a, const struct vma *e, char *out, size_t n)
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
	if (e->path)
		snprintf(out, n, "%s", e->path);
	else
		snprintf(out, n, "(%s, %s)", origin_name[e->origin], kind_name[e->kind]);
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
		vma_label(a, e, label, sizeof(label));
		fprintf(out, "    %-12s %9" PRIu64 "  %9s  %-5s  %s\n", fclass_name[cls], e->faults[cls],
			sz, kind_name[e->kind], label);
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
		vma_label(a, e, label, sizeof(label));
		fprintf(out, "    %9s  %-5s  %s\n", sz, kind_name[e->kind], label);
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

void analysis__summary(struct analysis *a, FILE *out)
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
	if (!measured(a)) {
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
	without_summary(a, out);
	struct proc **by = malloc((a->nprocs + 1) * sizeof(*by));
	if (!by)
		exit(2);
	if (a->nprocs) /* a->procs is NULL without processes */
		memcpy(by, a->procs, a->nprocs * sizeof(*by));
	if (a->nprocs > 1)
		qsort(by, a->nprocs, sizeof(*by), cost_cmp);
	for (uint32_t i = 0; i < a->nprocs && i < 6; i++) {
		const struct proc *p = by[i];
		uint64_t t = total(p->faults);
		if (!measured(a)) {
			fprintf(out, "\n  pid %u %s%s: %" PRIu64 " mapping(s) recorded\n", p->pid,
				base_name(p->exe), p->is_root ? " (first process)" : "", (uint64_t)p->nv);
			if (p->preload_active && p->preload_reason) /* a trace that stopped early */
				fprintf(out, "    %s\n", p->preload_reason);
			top_by_size(a, p, out);
			continue;
		}
		struct kc_balance kb;
		kc_balance(a, p, &kb);
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
				fprintf(out, measured(a) ? "\n  memory each fork un-shared "
							   "(copy-on-write copies):\n"
							 : "\n  forks (copies not measured: no kernel "
							   "collector):\n");
			if (nf >= 8)
				continue;
			if (!measured(a)) {
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
}
