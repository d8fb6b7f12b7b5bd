/* SPDX-License-Identifier: MIT */
/*
 * Writes a synthetic trace directory for analyzer benchmarks: one root
 * process with a maps snapshot and NMAP shim mmaps (each with a stack),
 * the kernel copies of those calls, NFORK forked children inheriting
 * everything, and NFAULT fault records spread over the mappings in time
 * order per process (first touches, then copy-on-write in the children).
 * usage: gen_trace DIR NFAULT [NMAP] [NFORK]
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vmaprof/record.h"

struct out {
	FILE *f;
	uint64_t data, records;
	struct vp_file_header h;
};

static void open_out(struct out *o, const char *path, uint32_t source, uint32_t pid)
{
	o->f = fopen(path, "wb");
	if (!o->f) {
		perror(path);
		exit(1);
	}
	memset(&o->h, 0, sizeof(o->h));
	o->h.magic = VP_MAGIC;
	o->h.version = VP_FORMAT_VERSION;
	o->h.header_size = VP_HEADER_SIZE;
	o->h.source = source;
	o->h.pid = pid;
	o->h.page_size = 4096;
	o->h.flags = source == VP_SRC_BPF ? VP_FH_SEQUENTIAL : 0;
	o->h.seg_size = VP_SEG_SIZE;
	o->h.stack_depth = 64;
	fwrite(&o->h, sizeof(o->h), 1, o->f);
	o->data = 0;
	o->records = 0;
}

static void put(struct out *o, const void *r, uint32_t size)
{
	uint64_t in = o->data % VP_SEG_SIZE;
	if (in + size > VP_SEG_SIZE) { /* pad to the segment end */
		uint32_t pad = (uint32_t)(VP_SEG_SIZE - in);
		struct vp_rec p = { .type = VP_REC_PAD, .size = pad };
		fwrite(&p, 8, 1, o->f);
		for (uint32_t i = 8; i < pad; i++)
			fputc(0, o->f);
		o->data += pad;
	}
	fwrite(r, size, 1, o->f);
	o->data += size;
	o->records++;
}

static void close_out(struct out *o)
{
	o->h.head = o->data;
	o->h.records = o->records;
	fseek(o->f, 0, SEEK_SET);
	fwrite(&o->h, sizeof(o->h), 1, o->f);
	fclose(o->f);
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
	char path[4096];
	snprintf(path, sizeof(path), "%s/session.json", dir);
	FILE *s = fopen(path, "w");
	fprintf(s, "{\"session_version\":1,\"root_pid\":1000,\"command\":[\"synthetic\"],"
		   "\"page_size\":4096,\"start_ns\":1,\"end_ns\":0,\"exit_code\":0,"
		   "\"exit_signal\":null,\"stack_depth\":64,\"collectors\":{\"preload\":"
		   "{\"active\":true},\"bpf\":{\"active\":true}}}\n");
	fclose(s);

	const uint64_t base = 0x100000000ull, msz = 64 * 4096;
	struct out p, b;
	snprintf(path, sizeof(path), "%s/preload.1000.100.vpt", dir);
	open_out(&p, path, VP_SRC_PRELOAD, 1000);
	snprintf(path, sizeof(path), "%s/bpf.vpt", dir);
	open_out(&b, path, VP_SRC_BPF, 999);

	uint64_t t = 1000;
	struct { struct vp_maps m; char text[256]; } mr;
	int tl = snprintf(mr.text, sizeof(mr.text),
			  "00400000-00401000 r-xp 00000000 08:01 7 /synthetic\n"
			  "7ffff0000000-7ffff0021000 rw-p 00000000 00:00 0 [stack]\n");
	hdr(&mr.m.h, VP_REC_MAPS, VP_ALIGN8(sizeof(mr.m) + (uint32_t)tl), t++, 1000);
	mr.m.h.flags = VP_MAPS_LAST;
	mr.m.len = (uint32_t)tl;
	mr.m.seq = mr.m.chunk = 0;
	mr.m.why = VP_MAPS_START;
	put(&p, &mr, mr.m.h.size);
	for (uint32_t i = 0; i < nmap; i++) {
		struct { struct vp_stack s; uint64_t ips[4]; } st;
		hdr(&st.s.h, VP_REC_STACK, sizeof(st), t, 1000);
		st.s.id = i + 1;
		st.s.depth = 4;
		for (int k = 0; k < 4; k++)
			st.ips[k] = 0x400100 + (uint64_t)(i % 97) * 16 + (uint64_t)k;
		put(&p, &st, sizeof(st));
		struct vp_mem m = { 0 };
		hdr(&m.h, VP_REC_MEM, sizeof(m), t, 1000);
		m.h.flags = VP_MEM_FROM_SHIM;
		m.call = VP_CALL_MMAP;
		m.args[1] = msz;
		m.args[2] = 3;
		m.args[3] = 0x22;
		m.args[4] = (uint64_t)-1;
		m.ret = base + i * msz;
		m.t_end = t + 50;
		m.stack_id = i + 1;
		put(&p, &m, sizeof(m));
		m.h.flags = VP_MEM_FROM_KERNEL;
		m.h.time_ns = t + 10;
		m.t_end = t + 40;
		m.stack_id = 0;
		put(&b, &m, sizeof(m));
		t += 100;
	}
	/* faults: the root touches everything, then forks; each child rewrites */
	uint64_t per = nfault / (1 + nfork), pages = (uint64_t)nmap * 64;
	for (uint32_t c = 0; c <= nfork; c++) {
		uint32_t pid = c ? 1000 + c : 1000;
		if (c) {
			struct vp_task_fork f;
			hdr(&f.h, VP_REC_TASK_FORK, sizeof(f), t++, 1000);
			f.child_pid = f.child_tid = pid;
			put(&b, &f, sizeof(f));
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
			put(&b, &f, sizeof(f));
		}
		if (c) {
			struct vp_task_exit e = { 0 };
			hdr(&e.h, VP_REC_TASK_EXIT, sizeof(e), t++, pid);
			e.min_flt = per;
			put(&b, &e, sizeof(e));
		}
	}
	struct vp_task_exit e = { 0 };
	hdr(&e.h, VP_REC_TASK_EXIT, sizeof(e), t++, 1000);
	e.min_flt = per;
	put(&b, &e, sizeof(e));
	close_out(&p);
	close_out(&b);
	printf("%s: %llu faults, %u mappings, %u forks\n", dir,
	       (unsigned long long)(per * (1 + nfork)), nmap, nfork);
	return 0;
}
