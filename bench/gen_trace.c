/* SPDX-License-Identifier: MIT */
/*
 * Writes a synthetic trace directory for analyzer benchmarks: one root
 * process with a maps snapshot and NMAP shim mmaps (each with a stack),
 * the kernel copies of those calls, NFORK forked children inheriting
 * everything, and NFAULT fault records spread over the mappings in time
 * order per process (first touches, then copy-on-write in the children).
 * The files are written by the one trace-file writer
 * (vmaprof/tracewriter.h), without checksums (no VP_FH_SEGSUM) and with
 * fixed times, so the same arguments give the same bytes.
 * usage: gen_trace DIR NFAULT [NMAP] [NFORK]
 *
 * With --procs P (P > 1): a tree of P processes instead (put_tree below),
 * for analyzer memory and throughput at scale (bench/scale.py): each node
 * has FANOUT children (--fanout, default 8); every other child execs one of
 * 16 programs (a new image: maps snapshot, file and anonymous mappings),
 * the others run on in their parent's image and inherit what it has
 * mapped; each process maps its own anonymous memory (--maps M shim mmaps
 * with stacks, default 16, and the kernel's copies), takes NFAULT / P
 * faults of several classes over its own, inherited, file and stack
 * mappings, unmaps half of its own, then its children run, then it exits.
 * One preload file per process, the faults in bpf.vpt.
 * usage: gen_trace --procs P [--fanout F] [--maps M] DIR NFAULT
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmaprof/record.h"
#include "vmaprof/tracewriter.h"

#define ROOT 1000 /* the root process's pid */

static const char *vp_base_name_c(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}
static const uint64_t base = 0x100000000ull, msz = 64 * 4096;

static void open_out(struct tracewriter *w, const char *path, uint32_t source, uint32_t pid,
		     size_t buf)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	uint32_t flags = source == VP_SRC_BPF ? VP_FH_SEQUENTIAL : 0;

	if (fd < 0 || tracewriter__init(w, source, pid, flags, 0, buf)) {
		perror(path);
		exit(1);
	}
	w->hdr.page_size = 4096;
	w->hdr.stack_depth = 64;
	if (tracewriter__begin(w, fd)) {
		perror(path);
		exit(1);
	}
}

static void close_out(struct tracewriter *w)
{
	int err = tracewriter__flush(w);

	if (err || close(w->fd)) {
		fprintf(stderr, "gen_trace: %s\n", strerror(err ? -err : errno));
		exit(1);
	}
	tracewriter__free(w);
}

static void hdr(struct vp_rec *h, uint16_t type, uint32_t size, uint64_t t, uint32_t pid)
{
	h->type = type;
	h->flags = 0;
	h->size = size;
	h->time_ns = t;
	h->pid = pid;
	h->tid = pid;
}

static void write_session(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/session.json", dir);
	FILE *s = fopen(path, "w");
	if (!s) {
		perror(path);
		exit(1);
	}
	fprintf(s, "{\"session_version\":1,\"root_pid\":1000,\"command\":[\"synthetic\"],"
		   "\"page_size\":4096,\"start_ns\":1,\"end_ns\":0,\"exit_code\":0,"
		   "\"exit_signal\":null,\"stack_depth\":64,\"collectors\":{\"preload\":"
		   "{\"active\":true},\"bpf\":{\"active\":true}}}\n");
	fclose(s);
}

/* The root's maps snapshot, then nmap mmaps: the shim's, each with its
 * stack, and the kernel's copy. Returns the time after them. */
static uint64_t put_mappings(struct tracewriter *p, struct tracewriter *b, uint64_t t,
			     uint32_t nmap)
{
	struct { struct vp_maps m; char text[256]; } mr;
	int tl = snprintf(mr.text, sizeof(mr.text),
			  "00400000-00401000 r-xp 00000000 08:01 7 /synthetic\n"
			  "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0 [stack]\n");
	hdr(&mr.m.h, VP_REC_MAPS, VP_ALIGN8(sizeof(mr.m) + (uint32_t)tl), t++, ROOT);
	mr.m.h.flags = VP_MAPS_LAST;
	mr.m.len = (uint32_t)tl;
	mr.m.seq = mr.m.chunk = 0;
	mr.m.why = VP_MAPS_START;
	tracewriter__emit(p, &mr, mr.m.h.size);
	for (uint32_t i = 0; i < nmap; i++) {
		struct { struct vp_stack s; uint64_t ips[4]; } st;
		hdr(&st.s.h, VP_REC_STACK, sizeof(st), t, ROOT);
		st.s.id = i + 1;
		st.s.depth = 4;
		for (int k = 0; k < 4; k++)
			st.ips[k] = 0x400100 + (uint64_t)(i % 97) * 16 + (uint64_t)k;
		tracewriter__emit(p, &st, sizeof(st));
		struct vp_mem m = { 0 };
		hdr(&m.h, VP_REC_MEM, sizeof(m), t, ROOT);
		m.h.flags = VP_MEM_FROM_SHIM;
		m.call = VP_CALL_MMAP;
		m.args[1] = msz;
		m.args[2] = 3;
		m.args[3] = 0x22;
		m.args[4] = (uint64_t)-1;
		m.ret = base + i * msz;
		m.t_end = t + 50;
		m.stack_id = i + 1;
		tracewriter__emit(p, &m, sizeof(m));
		m.h.flags = VP_MEM_FROM_KERNEL;
		m.h.time_ns = t + 10;
		m.t_end = t + 40;
		m.stack_id = 0;
		tracewriter__emit(b, &m, sizeof(m));
		t += 100;
	}
	return t;
}

static void put_exit(struct tracewriter *b, uint64_t t, uint32_t pid, uint64_t faults)
{
	struct vp_task_exit e = { 0 };
	hdr(&e.h, VP_REC_TASK_EXIT, sizeof(e), t, pid);
	e.min_flt = faults;
	tracewriter__emit(b, &e, sizeof(e));
}

/* The root touches every page, then forks; each child (fork, its `per`
 * faults, exit) rewrites them. Returns the time after them. */
static uint64_t put_faults(struct tracewriter *b, uint64_t t, uint64_t per, uint32_t nmap,
			   uint32_t nfork)
{
	uint64_t pages = (uint64_t)nmap * 64;
	for (uint32_t c = 0; c <= nfork; c++) {
		uint32_t pid = c ? ROOT + c : ROOT;
		if (c) {
			struct vp_task_fork f;
			hdr(&f.h, VP_REC_TASK_FORK, sizeof(f), t++, ROOT);
			f.child_pid = f.child_tid = pid;
			tracewriter__emit(b, &f, sizeof(f));
		}
		for (uint64_t i = 0; i < per; i++) {
			struct vp_fault f = { 0 };
			hdr(&f.h, VP_REC_FAULT, sizeof(f), t++, pid);
			f.h.flags = VP_FAULT_VMA;
			f.addr = base + (i % pages) * 4096;
			f.ip = 0x400180 + (i % 7);
			f.error_code = c ? 0x7 : 0x6;
			f.pages = 1;
			f.vm_flags = 0x73;
			tracewriter__emit(b, &f, sizeof(f));
		}
		if (c)
			put_exit(b, t++, pid, per);
	}
	return t;
}

/* ---- --procs: a tree of processes ---- */

#define NPROG 16
#define REGION 0x10000000ull /* own mappings of a process at depth d: base + d * REGION */
#define STACK_TOP 0x7ffff0021000ull

struct tree {
	const char *dir;
	struct tracewriter b;  /* bpf.vpt */
	uint64_t t;
	uint32_t nproc, fanout, nmap;
	uint64_t per, extra;   /* faults per process; the root also takes `extra` */
	uint64_t faults, files;
};

static uint32_t prog_of(uint32_t i)
{
	return i ? 1 + (i % (NPROG - 1)) : 0;
}

static int prog_name(char *buf, size_t n, uint32_t prog)
{
	return prog ? snprintf(buf, n, "/usr/bin/prog%02u", prog) : snprintf(buf, n, "/usr/bin/make");
}

/* A process image's first record: exe and argv. */
static void put_proc(struct tracewriter *p, uint64_t t, uint32_t pid, uint32_t ppid, uint32_t prog,
		     uint32_t i)
{
	struct { struct vp_proc p; char text[128]; } r = { 0 };
	char exe[64];
	int el = prog_name(exe, sizeof(exe), prog);
	memcpy(r.text, exe, (size_t)el);
	int al = snprintf(r.text + el, sizeof(r.text) - (size_t)el, "%s%c-j%u", vp_base_name_c(exe), 0,
			  i % 4);
	r.p.argc = 2;
	r.p.exe_len = (uint32_t)el;
	r.p.argv_len = (uint32_t)al + 1;
	r.p.ppid = ppid;
	r.p.stack_depth = 64;
	hdr(&r.p.h, VP_REC_PROC, VP_ALIGN8(sizeof(r.p) + r.p.exe_len + r.p.argv_len), t, pid);
	tracewriter__emit(p, &r, r.p.h.size);
}

/* An exec'd image's maps snapshot: its program, a library, its stack. */
static void put_maps(struct tracewriter *p, uint64_t t, uint32_t pid, uint32_t prog)
{
	struct { struct vp_maps m; char text[512]; } mr = { 0 };
	char exe[64];
	prog_name(exe, sizeof(exe), prog);
	int tl = snprintf(mr.text, sizeof(mr.text),
			  "00400000-00410000 r-xp 00000000 08:01 %u %s\n"
			  "00610000-00612000 rw-p 00010000 08:01 %u %s\n"
			  "7f0000000000-7f0000200000 r-xp 00000000 08:01 9 /usr/lib/libsynth.so\n"
			  "7f0000200000-7f0000210000 rw-p 00200000 08:01 9 /usr/lib/libsynth.so\n"
			  "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0 [stack]\n",
			  100 + prog, exe, 100 + prog, exe);
	hdr(&mr.m.h, VP_REC_MAPS, VP_ALIGN8(sizeof(mr.m) + (uint32_t)tl), t, pid);
	mr.m.h.flags = VP_MAPS_LAST;
	mr.m.len = (uint32_t)tl;
	mr.m.why = VP_MAPS_START;
	tracewriter__emit(p, &mr, mr.m.h.size);
}

/* One address-space call, as the shim (with stack `sid`, 0 none) and the
 * kernel recorded it. */
static void put_call(struct tree *g, struct tracewriter *p, uint32_t pid, uint32_t call,
		     uint64_t addr, uint32_t sid)
{
	struct vp_mem m = { 0 };
	hdr(&m.h, VP_REC_MEM, sizeof(m), g->t, pid);
	m.h.flags = VP_MEM_FROM_SHIM;
	m.call = call;
	if (call == VP_CALL_MMAP) {
		m.args[1] = msz;
		m.args[2] = 3;
		m.args[3] = 0x22;
		m.args[4] = (uint64_t)-1;
		m.ret = addr;
	} else {
		m.args[0] = addr;
		m.args[1] = msz;
	}
	m.t_end = g->t + 50;
	m.stack_id = sid;
	tracewriter__emit(p, &m, sizeof(m));
	m.h.flags = VP_MEM_FROM_KERNEL;
	m.h.time_ns = g->t + 10;
	m.t_end = g->t + 40;
	m.stack_id = 0;
	tracewriter__emit(&g->b, &m, sizeof(m));
	g->t += 100;
}

/* Own mapping k's call stack: the program's, one of 8 call paths. */
static void put_stack(struct tracewriter *p, uint64_t t, uint32_t pid, uint32_t prog, uint32_t k)
{
	struct { struct vp_stack s; uint64_t ips[4]; } st;
	hdr(&st.s.h, VP_REC_STACK, sizeof(st), t, pid);
	st.s.id = k + 1;
	st.s.depth = 4;
	for (uint32_t f = 0; f < 4; f++)
		st.ips[f] = 0x400100 + (uint64_t)prog * 0x400 + (uint64_t)(k % 8) * 0x40 + f * 8;
	tracewriter__emit(p, &st, sizeof(st));
}

static void put_fault(struct tree *g, uint32_t pid, uint64_t addr, uint64_t ip, uint32_t err,
		      uint32_t pages)
{
	struct vp_fault f = { 0 };
	hdr(&f.h, VP_REC_FAULT, sizeof(f), g->t++, pid);
	f.addr = addr;
	f.ip = ip;
	f.error_code = err;
	f.pages = pages;
	tracewriter__emit(&g->b, &f, sizeof(f));
	g->faults++;
}

static uint32_t depth_of(const struct tree *g, uint32_t i)
{
	uint32_t d = 0;
	for (; i; i = (i - 1) / g->fanout)
		d++;
	return d;
}

/* n faults of process i, eight kinds in turn: first touches of its own
 * anonymous memory (demand_zero), reads of its program's text (file), a
 * copy of a page it inherited from its parent (cow_copy; a read of its own
 * memory when it exec'd: zero_page), a write to a page it has (cow_reuse),
 * stack growth (demand_zero, or cow_copy of an inherited stack). */
static void put_faults_of(struct tree *g, uint32_t i, uint32_t pid, int execd, uint64_t n)
{
	uint32_t prog = prog_of(i), d = depth_of(g, i);
	uint64_t own = base + d * REGION, pages = (uint64_t)g->nmap * 64;
	uint64_t inh = base + (d ? d - 1 : 0) * REGION;
	uint64_t ip0 = 0x400180 + (uint64_t)prog * 0x400;
	for (uint64_t j = 0; j < n; j++) {
		uint64_t c = j / 8, ip = ip0 + (j % 5) * 8;
		switch (j % 8) {
		case 4: put_fault(g, pid, 0x400000 + (c % 16) * 4096, ip, 0x4, 0); break;
		case 5:
			if (execd || !i)
				put_fault(g, pid, own + (c % pages) * 4096, ip, 0x4, 0);
			else /* the parent kept its even mappings */
				put_fault(g, pid, inh + ((c * 2 % g->nmap) & ~1ull) * msz +
							  (c % 64) * 4096, ip, 0x7, 1);
			break;
		case 6: put_fault(g, pid, own + (c % pages) * 4096, ip, 0x7, 0); break;
		case 7: put_fault(g, pid, STACK_TOP - 4096 * (1 + c % 32), ip, 0x6, 1); break;
		default: put_fault(g, pid, own + ((j - c * 4) % pages) * 4096, ip, 0x6, 1); break;
		}
	}
}

static void put_node(struct tree *g, uint32_t i)
{
	uint32_t pid = ROOT + i, ppid = i ? ROOT + (i - 1) / g->fanout : 0;
	uint32_t prog = prog_of(i), d = depth_of(g, i);
	int execd = i && i % 2 == 0;
	char path[4200];
	if (i) {
		struct vp_task_fork f;
		hdr(&f.h, VP_REC_TASK_FORK, sizeof(f), g->t++, ppid);
		f.child_pid = f.child_tid = pid;
		tracewriter__emit(&g->b, &f, sizeof(f));
	}
	if (execd) {
		struct { struct vp_task_exec x; char path[64]; } x = { 0 };
		int pl = prog_name(x.path, sizeof(x.path), prog);
		hdr(&x.x.h, VP_REC_TASK_EXEC, VP_ALIGN8(sizeof(x.x) + (uint32_t)pl), g->t++, pid);
		x.x.old_pid = pid;
		x.x.path_len = (uint32_t)pl;
		tracewriter__emit(&g->b, &x, x.x.h.size);
	}
	struct tracewriter p;
	snprintf(path, sizeof(path), "%s/preload.%u.%llu.vpt", g->dir, pid,
		 (unsigned long long)g->t);
	open_out(&p, path, VP_SRC_PRELOAD, pid, VP_MAX_RECORD * 4);
	g->files++;
	/* a forked child runs its parent's program until it execs */
	uint32_t run_prog = execd || !i ? prog : prog_of((i - 1) / g->fanout);
	put_proc(&p, g->t++, pid, ppid, run_prog, i);
	if (execd || !i)
		put_maps(&p, g->t++, pid, prog);
	uint64_t own = base + d * REGION;
	for (uint32_t k = 0; k < g->nmap; k++) {
		put_stack(&p, g->t, pid, run_prog, k);
		put_call(g, &p, pid, VP_CALL_MMAP, own + k * msz, k + 1);
	}
	uint64_t n = g->per + (i ? 0 : g->extra);
	put_faults_of(g, i, pid, execd, n);
	for (uint32_t k = 1; k < g->nmap; k += 2)
		put_call(g, &p, pid, VP_CALL_MUNMAP, own + k * msz, 0);
	close_out(&p);
	for (uint64_t c = (uint64_t)i * g->fanout + 1;
	     c <= (uint64_t)i * g->fanout + g->fanout && c < g->nproc; c++)
		put_node(g, (uint32_t)c);
	put_exit(&g->b, g->t++, pid, n);
}

static int put_tree(const char *dir, uint64_t nfault, uint32_t nproc, uint32_t fanout,
		    uint32_t nmap)
{
	struct tree g = { .dir = dir, .t = 1000, .nproc = nproc, .fanout = fanout, .nmap = nmap };
	char path[4096];
	g.per = nfault / nproc;
	g.extra = nfault % nproc;
	snprintf(path, sizeof(path), "%s/bpf.vpt", dir);
	open_out(&g.b, path, VP_SRC_BPF, 999, 1u << 20);
	put_node(&g, 0);
	close_out(&g.b);
	printf("%s: %llu faults, %u processes (fanout %u, every other child execs), "
	       "%u own mappings each, %llu trace files\n", dir, (unsigned long long)g.faults,
	       nproc, fanout, nmap, (unsigned long long)g.files + 1);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: gen_trace DIR NFAULT [NMAP] [NFORK]\n"
			"       gen_trace --procs P [--fanout F] [--maps M] DIR NFAULT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint32_t nproc = 0, fanout = 8, nmap_tree = 16;
	while (argc > 1 && !strncmp(argv[1], "--", 2)) {
		if (argc < 3)
			usage();
		long v = atol(argv[2]);
		if (v < 1 || v > 10000000)
			usage();
		if (!strcmp(argv[1], "--procs"))
			nproc = (uint32_t)v;
		else if (!strcmp(argv[1], "--fanout"))
			fanout = (uint32_t)v;
		else if (!strcmp(argv[1], "--maps"))
			nmap_tree = (uint32_t)v;
		else
			usage();
		argc -= 2;
		argv += 2;
	}
	if (nproc > 1) {
		if (argc != 3 || nmap_tree > REGION / msz)
			usage();
		if (mkdir(argv[1], 0755) && errno != EEXIST) {
			perror(argv[1]);
			return 1;
		}
		write_session(argv[1]);
		return put_tree(argv[1], strtoull(argv[2], NULL, 10), nproc, fanout, nmap_tree);
	}
	if (argc < 3) {
		fprintf(stderr, "usage: gen_trace DIR NFAULT [NMAP] [NFORK]\n");
		return 2;
	}
	const char *dir = argv[1];
	uint64_t nfault = strtoull(argv[2], NULL, 10);
	uint32_t nmap = argc > 3 ? (uint32_t)atoi(argv[3]) : 1000;
	uint32_t nfork = argc > 4 ? (uint32_t)atoi(argv[4]) : 4;
	if (mkdir(dir, 0755) && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	write_session(dir);

	char path[4096];
	struct tracewriter p, b;
	snprintf(path, sizeof(path), "%s/preload.1000.100.vpt", dir);
	open_out(&p, path, VP_SRC_PRELOAD, ROOT, 1u << 20);
	snprintf(path, sizeof(path), "%s/bpf.vpt", dir);
	open_out(&b, path, VP_SRC_BPF, 999, 1u << 20);

	uint64_t per = nfault / (1 + nfork);
	uint64_t t = put_mappings(&p, &b, 1000, nmap);
	t = put_faults(&b, t, per, nmap, nfork);
	put_exit(&b, t, ROOT, per);
	close_out(&p);
	close_out(&b);
	printf("%s: %llu faults, %u mappings, %u forks\n", dir,
	       (unsigned long long)(per * (1 + nfork)), nmap, nfork);
	return 0;
}
