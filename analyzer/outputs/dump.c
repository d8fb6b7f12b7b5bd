/* SPDX-License-Identifier: MIT */
/*
 * `vmaprof report --format records` (outputs.h): every record of a trace
 * directory, one line each, read from the trace files themselves (not
 * from an analysis), with the stacks symbolized. For debugging, and for
 * tests to parse.
 */
#include "outputs.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"
#include "symbolize.h"
#include "traceutil.h"
#include "tracedir.h"

static const char *call_name(uint32_t c)
{
	static const char *n[] = { "?", "mmap", "munmap", "mremap", "mprotect",
				   "madvise", "brk", "sbrk" };
	return c < VP_CALL_MAX ? n[c] : "?";
}

static void prot_str(uint64_t p, char out[4])
{
	out[0] = (p & 1) ? 'r' : '-';
	out[1] = (p & 2) ? 'w' : '-';
	out[2] = (p & 4) ? 'x' : '-';
	out[3] = 0;
}

/* Print a NUL-separated string list as a compact JSON array. */
static void print_argv(FILE *out, const char *a, uint32_t len)
{
	json_t *arr = json_array();
	for (uint32_t i = 0; i < len;) {
		size_t l = strnlen(a + i, len - i);
		json_array_append_new(arr, vp_json_text(a + i, l));
		i += (uint32_t)l + 1;
	}
	char *s = json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII);
	fputs(s ? s : "[]", out);
	free(s);
	json_decref(arr);
}

static void print_str(FILE *out, const char *s, uint32_t len)
{
	json_t *j = vp_json_text(s, len);
	char *d = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
	fputs(d ? d : "\"\"", out);
	free(d);
	json_decref(j);
}

static void print_stack(FILE *out, struct symbolizer *sym, uint64_t space,
			const struct stack_map *sm, uint32_t id)
{
	const struct vp_stack *s = stack_map__get(sm, id);
	if (!s) {
		if (id)
			fprintf(out, "  # stack %u missing\n", id);
		return;
	}
	for (uint32_t i = 0; i < s->depth; i++) {
		struct vp_frame f = { .ip = s->ips[i] };
		if (sym)
			symbolizer__lookup(sym, space, s->ips[i], i > 0, &f);
		fprintf(out, "  #%u 0x%llx %s+0x%llx %s %s:%d\n", i, s->ips[i],
			f.function ? f.function : "??", (unsigned long long)f.fn_offset, f.module ? f.module : "??",
			f.file ? f.file : "??", f.line);
	}
}

static void print_mem(FILE *out, const struct vp_mem *m)
{
	char p[4];
	fprintf(out, " call=%s", call_name(m->call));
	switch (m->call) {
	case VP_CALL_MMAP:
		prot_str(m->args[2], p);
		fprintf(out, " addr=0x%llx len=%llu prot=%s flags=0x%llx"
			" fd=%lld off=%llu", m->args[0], m->args[1], p, m->args[3],
			(long long)m->args[4], m->args[5]);
		break;
	case VP_CALL_MREMAP:
		fprintf(out, " addr=0x%llx len=%llu new_len=%llu"
			" flags=0x%llx new_addr=0x%llx", m->args[0], m->args[1],
			m->args[2], m->args[3], m->args[4]);
		break;
	case VP_CALL_MPROTECT:
		prot_str(m->args[2], p);
		fprintf(out, " addr=0x%llx len=%llu prot=%s", m->args[0],
			m->args[1], p);
		break;
	case VP_CALL_MADVISE:
		fprintf(out, " addr=0x%llx len=%llu advice=%llu", m->args[0],
			m->args[1], m->args[2]);
		break;
	case VP_CALL_BRK:
		fprintf(out, " addr=0x%llx old=0x%llx", m->args[0], m->args[1]);
		break;
	case VP_CALL_SBRK:
		fprintf(out, " inc=%lld new=0x%llx", (long long)m->args[0], m->args[1]);
		break;
	default:
		fprintf(out, " addr=0x%llx len=%llu", m->args[0], m->args[1]);
	}
	fprintf(out, " ret=0x%llx err=%d t_end=%llu src=%s stack=%u", m->ret, m->err,
		m->t_end, (m->h.flags & VP_MEM_FROM_KERNEL) ? "kernel" : "shim", m->stack_id);
	static const char *const nosig[VP_NOSIG_MAX] = {
		[VP_NOSIG_NO_SHIM] = "no_shim", [VP_NOSIG_IN_SHIM] = "in_shim",
		[VP_NOSIG_BLOCKED] = "blocked", [VP_NOSIG_HANDLER] = "handler",
		[VP_NOSIG_SEND] = "send_failed", [VP_NOSIG_OFF] = "off",
		[VP_NOSIG_ALTSTACK] = "altstack",
	};
	unsigned ns = VP_MEM_NOSIG(m->h.flags);
	if (m->h.flags & VP_MEM_SIGNALLED)
		fputs(" sig=signalled", out);
	else if (ns)
		fprintf(out, " sig=%s", ns < VP_NOSIG_MAX && nosig[ns] ? nosig[ns] : "?");
	if (m->h.flags & VP_MEM_KSKIP)
		fputs(" kstack=skipped", out);
	if (m->path_len) {
		fputs(" path=", out);
		print_str(out, vp_mem_path(m), m->path_len);
	}
}

static const char *fork_kind(uint32_t k)
{
	static const char *n[] = { "?", "fork", "vfork", "clone", "spawn" };
	return k <= VP_FORK_SPAWN ? n[k] : "?";
}

static const char *exec_kind(uint32_t k)
{
	static const char *n[] = { "?", "execve", "execv", "execvp", "execvpe", "execl",
				   "execlp", "execle", "fexecve", "execveat" };
	return k <= VP_EXEC_EXECVEAT ? n[k] : "?";
}

static const char *dis_name(uint32_t d)
{
	switch (d) {
	case VP_DIS_NONE: return "none";
	case VP_DIS_EXTEND: return "extend";
	case VP_DIS_MAP: return "map";
	case VP_DIS_STACKS: return "stacks";
	case VP_DIS_REOPEN: return "reopen";
	case VP_DIS_SECCOMP: return "seccomp";
	default: return "unknown";
	}
}

static void dump_record(FILE *out, const struct vp_rec *h, struct symbolizer *sym,
			uint64_t space, const struct stack_map *sm, int stacks)
{
	static const char *kind[VP_REC_TYPE_MAX] = {
		[VP_REC_PROC] = "proc", [VP_REC_MAPS] = "maps", [VP_REC_STACK] = "stack",
		[VP_REC_MEM] = "mem", [VP_REC_FORK] = "fork", [VP_REC_EXEC] = "exec",
		[VP_REC_EXIT] = "exit", [VP_REC_INTERNAL] = "internal",
		[VP_REC_SIGSTACK] = "sigstack",
		[VP_REC_FAULT] = "fault", [VP_REC_TASK_FORK] = "task_fork",
		[VP_REC_TASK_EXEC] = "task_exec", [VP_REC_TASK_EXIT] = "task_exit",
		[VP_REC_BPF_LOST] = "bpf_lost", [VP_REC_SYSFAULTS] = "sysfaults",
		[VP_REC_TASK_NAME] = "task_name", [VP_REC_TASK_NS] = "task_ns",
		[VP_REC_KSTACK] = "kstack", [VP_REC_MMSTAT] = "mmstat", [VP_REC_RSS] = "rss",
	};
	uint32_t stack = 0;
	fprintf(out, "%s t=%llu pid=%u tid=%u", kind[h->type], h->time_ns, h->pid, h->tid);
	switch (h->type) {
	case VP_REC_PROC: {
		const struct vp_proc *p = (const void *)h;
		fprintf(out, " ppid=%u stack_depth=%u exe=", p->ppid, p->stack_depth);
		print_str(out, vp_proc_exe(p), p->exe_len);
		if (vp_proc_execfn_len(p)) {
			fputs(" execfn=", out);
			print_str(out, vp_proc_execfn(p), vp_proc_execfn_len(p));
		}
		fputs(" argv=", out);
		print_argv(out, vp_proc_argv(p), p->argv_len);
		break;
	}
	case VP_REC_MAPS: {
		const struct vp_maps *m = (const void *)h;
		fprintf(out, " seq=%u chunk=%u why=%s bytes=%u last=%d", m->seq, m->chunk,
			m->why == VP_MAPS_DLOPEN ? "dlopen" : "start", m->len,
			!!(h->flags & VP_MAPS_LAST));
		break;
	}
	case VP_REC_STACK: {
		const struct vp_stack *s = (const void *)h;
		fprintf(out, " id=%u depth=%u", s->id, s->depth);
		break;
	}
	case VP_REC_MEM: {
		const struct vp_mem *m = (const void *)h;
		print_mem(out, m);
		stack = m->stack_id;
		break;
	}
	case VP_REC_FORK: {
		const struct vp_fork *f = (const void *)h;
		fprintf(out, " kind=%s child=%u err=%d stack=%u", fork_kind(f->kind), f->child,
			f->err, f->stack_id);
		if (f->path_len) {
			fputs(" path=", out);
			print_str(out, vp_fork_path(f), f->path_len);
		}
		stack = f->stack_id;
		break;
	}
	case VP_REC_EXEC: {
		const struct vp_exec *e = (const void *)h;
		fprintf(out, " kind=%s phase=%s err=%d env_fixed=%d stack=%u path=",
			exec_kind(e->kind), e->err ? "failed" : "attempt", e->err,
			!!(h->flags & VP_EXEC_ENV_FIXED), e->stack_id);
		print_str(out, vp_exec_path(e), e->path_len);
		fputs(" argv=", out);
		print_argv(out, vp_exec_argv(e), e->argv_len);
		stack = e->stack_id;
		break;
	}
	case VP_REC_EXIT: {
		const struct vp_exit *e = (const void *)h;
		static const char *k[] = { "?", "exit", "_exit", "destructor" };
		fprintf(out, " kind=%s status=%d", e->kind <= 3 ? k[e->kind] : "?", e->status);
		break;
	}
	case VP_REC_INTERNAL: {
		const struct vp_internal *i = (const void *)h;
		static const char *w[] = { "?", "trace", "stacks", "other" };
		fprintf(out, " what=%s start=0x%llx len=%llu unmapped=%d populated=%u",
			i->what <= 3 ? w[i->what] : "?", i->start, i->len,
			!!(h->flags & VP_INT_UNMAPPED), i->populated);
		break;
	}
	case VP_REC_SIGSTACK: {
		const struct vp_sigstack *g = (const void *)h;
		fprintf(out, " signo=%u ip=0x%llx ret=0x%llx stack=%u nostack=%d drain=%d",
			g->signo, g->ip, g->ret, g->stack_id, !!(h->flags & VP_SIGSTK_NOSTACK),
			!!(h->flags & VP_SIGSTK_DRAIN));
		stack = g->stack_id;
		break;
	}
	case VP_REC_KSTACK: {
		const struct vp_kstack *k = (const void *)h;
		fprintf(out, " call=%u ret=0x%llx ip=0x%llx sp=0x%llx bp=0x%llx stack_base=0x%llx "
			"stack_len=%u cut=%d start_code=0x%llx%s%s", k->call, k->ret,
			k->regs[VP_KREG_RIP], k->regs[VP_KREG_RSP], k->regs[VP_KREG_RBP],
			k->stack_base, k->stack_len, !!(h->flags & VP_KSTACK_CUT), k->start_code,
			h->flags & VP_KSTACK_WRITE ? " write" : "",
			h->flags & VP_KSTACK_SAMPLED ? " sampled" : "");
		break;
	}
	case VP_REC_FAULT: {
		const struct vp_fault *f = (const void *)h;
		fprintf(out, " addr=0x%llx ip=0x%llx error_code=0x%x pages=%u "
			"kernel=%d vma=%d vm_flags=0x%llx file=%u cut=%d zeroed=%d huge=%d", f->addr,
			f->ip, f->error_code, f->pages, !!(h->flags & VP_FAULT_KERNEL),
			!!(h->flags & VP_FAULT_VMA), f->vm_flags, f->vma_file,
			!!(h->flags & VP_FAULT_CUT), !!(h->flags & VP_FAULT_ZEROED),
			!!(h->flags & VP_FAULT_HUGE));
		break;
	}
	case VP_REC_TASK_FORK: {
		const struct vp_task_fork *f = (const void *)h;
		fprintf(out, " child_pid=%u child_tid=%u", f->child_pid, f->child_tid);
		break;
	}
	case VP_REC_TASK_EXEC: {
		const struct vp_task_exec *e = (const void *)h;
		fprintf(out, " old_pid=%u path=", e->old_pid);
		print_str(out, vp_task_exec_path(e), e->path_len);
		break;
	}
	case VP_REC_TASK_EXIT: {
		const struct vp_task_exit *e = (const void *)h;
		fprintf(out, " min_flt=%llu maj_flt=%llu exit_code=%d", e->min_flt,
			e->maj_flt, e->exit_code);
		break;
	}
	case VP_REC_MMSTAT: {
		const struct vp_mmstat *m = (const void *)h;
		static const char *why[] = { "?", "exec", "exit", "late" };
		fprintf(out, " why=%s partial=%d approx=%d map_count=%u hiwater_rss=%llu "
			"hiwater_vm=%llu total_vm=%llu locked_vm=%llu pinned_vm=%llu data_vm=%llu "
			"exec_vm=%llu stack_vm=%llu rss_file=%lld rss_anon=%lld rss_swap=%lld "
			"rss_shmem=%lld", why[m->why < 4 ? m->why : 0], !!(h->flags & VP_MMSTAT_PARTIAL),
			!!(h->flags & VP_MMSTAT_APPROX), m->map_count, m->hiwater_rss, m->hiwater_vm,
			m->total_vm, m->locked_vm, m->pinned_vm, m->data_vm, m->exec_vm, m->stack_vm,
			m->rss[VP_RSS_FILE], m->rss[VP_RSS_ANON], m->rss[VP_RSS_SWAP],
			m->rss[VP_RSS_SHMEM]);
		break;
	}
	case VP_REC_RSS: {
		const struct vp_rss *m = (const void *)h;
		fprintf(out, " approx=%d rss_file=%lld rss_anon=%lld rss_swap=%lld rss_shmem=%lld",
			!!(h->flags & VP_MMSTAT_APPROX), m->rss[VP_RSS_FILE], m->rss[VP_RSS_ANON],
			m->rss[VP_RSS_SWAP], m->rss[VP_RSS_SHMEM]);
		break;
	}
	case VP_REC_TASK_NAME: {
		const struct vp_task_name *n = (const void *)h;
		fprintf(out, " why=%s secure=%d uid=%u euid=%u gid=%u egid=%u cut=%d spill=%d comm=",
			n->why == VP_NAME_EXEC ? "exec" : "exit", !!(h->flags & VP_NAME_SECURE),
			n->uid, n->euid, n->gid, n->egid, !!(h->flags & VP_NAME_ARGV_CUT),
			!!(h->flags & VP_NAME_ARGV_SPILL));
		print_str(out, n->comm, (uint32_t)strnlen(n->comm, sizeof(n->comm)));
		fputs(" argv=", out);
		print_argv(out, vp_task_name_argv(n), n->argv_len);
		break;
	}
	case VP_REC_TASK_NS: {
		const struct vp_task_ns *n = (const void *)h;
		fprintf(out, " level=%u ns=", n->level);
		for (uint32_t i = 0; i < n->count; i++)
			fprintf(out, "%s%u", i ? "," : "", vp_task_ns_ids(n)[i].ns);
		fputs(" nr=", out);
		for (uint32_t i = 0; i < n->count; i++)
			fprintf(out, "%s%u", i ? "," : "", vp_task_ns_ids(n)[i].nr);
		break;
	}
	case VP_REC_BPF_LOST: {
		const struct vp_bpf_lost *l = (const void *)h;
		fprintf(out, " count=%llu", l->count);
		break;
	}
	case VP_REC_SYSFAULTS: {
		const struct vp_sysfaults *y = (const void *)h;
		fprintf(out, " nr=%u faults=%llu majflt=%llu pages=%u arg0=0x%llx arg1=%llu "
			"ret=0x%llx t_enter=%llu", y->nr, y->faults, y->majflt, y->pages,
			y->args[0], y->args[1], y->ret, y->t_enter);
		break;
	}
	}
	fputc('\n', out);
	if (stacks && stack)
		print_stack(out, sym, space, sm, stack);
}

static int dump_file(const char *path, const char *name, FILE *out, struct symbolizer *sym,
		     uint64_t space, int stacks)
{
	struct reader *r = NULL;
	char why[512];
	int err = reader__open(path, &r, why, sizeof(why));
	if (err) {
		fprintf(out, "# error %s\n", why);
		return err;
	}
	/* Pass 1: stacks and maps snapshots, so that pass 2 can print every
	 * stack symbolized wherever it was defined. */
	struct stack_map sm = { 0 };
	struct maps_acc acc = { 0 };
	const struct vp_rec *h;
	while (reader__next(r, &h) > 0) {
		const char *text;
		size_t len;
		if (h->type == VP_REC_STACK)
			stack_map__put(&sm, (const void *)h);
		else if (h->type == VP_REC_MAPS &&
			 maps_acc__feed(&acc, (const void *)h, &text, &len) > 0 && sym)
			symbolizer__add_maps(sym, space, text, len);
	}
	maps_acc__free(&acc);
	const struct vp_file_header *fh = reader__header(r);
	const struct reader_stats *st = reader__stats(r);
	fprintf(out, "# file %s source=%s pid=%u pid_ns=%u records=%llu lost=%llu"
		" reentered=%llu disabled=%s incomplete=%llu bad=%llu"
		" truncated=%llu checksums=%s seg_damaged=%llu hdr_damaged=%llu unverified=%llu\n",
		name, fh->source == VP_SRC_BPF ? "bpf" : "preload",
		fh->pid, fh->pid_ns, fh->records, fh->lost, fh->reentered, dis_name(fh->disabled),
		(unsigned long long)st->incomplete, (unsigned long long)st->bad, (unsigned long long)st->truncated,
		!(fh->flags & VP_FH_SEGSUM) ? "none" : fh->hdr_crc ? "sealed" : "segments",
		(unsigned long long)st->seg_damaged, (unsigned long long)st->hdr_damaged,
		(unsigned long long)st->unverified);
	/* Pass 2: a second reader rather than a rewind (the counters above are
	 * final). The first stays open until the end: sm points into its
	 * mapping, and nothing promises the file maps at the same address
	 * twice (the symbolizer's thread maps files meanwhile). */
	struct reader *r2 = NULL;
	err = reader__open(path, &r2, why, sizeof(why));
	if (!err) {
		while (reader__next(r2, &h) > 0)
			if (h->type != VP_REC_STACK)
				dump_record(out, h, sym, space, &sm, stacks);
		reader__free(r2);
	}
	reader__free(r);
	stack_map__free(&sm);
	return err;
}

int output__records(const char *dir, FILE *out, int stacks)
{
	struct tracedir td;
	int err = tracedir__scan(dir, &td);
	if (err)
		return err;
	struct symbolizer *sym = NULL;
	if (stacks && symbolizer__new(&sym))
		sym = NULL;
	for (size_t i = 0; i < td.n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, td.files[i].name);
		dump_file(path, td.files[i].name, out, sym, i, stacks);
	}
	for (size_t i = 0; i < td.n_failed; i++)
		fprintf(out, "# shim-failed pid=%d\n", td.failed[i]);
	symbolizer__free(sym);
	tracedir__free(&td);
	return 0;
}
