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
static const uint64_t base = 0x100000000ull, msz = 64 * 4096;

static void open_out(struct tracewriter *w, const char *path, uint32_t source, uint32_t pid)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	uint32_t flags = source == VP_SRC_BPF ? VP_FH_SEQUENTIAL : 0;

	if (fd < 0 || tracewriter__init(w, source, pid, flags, 0, 1u << 20)) {
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

int main(int argc, char **argv)
{
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
	open_out(&p, path, VP_SRC_PRELOAD, ROOT);
	snprintf(path, sizeof(path), "%s/bpf.vpt", dir);
	open_out(&b, path, VP_SRC_BPF, 999);

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
