/* SPDX-License-Identifier: MIT */
/*
 * The analyzer's in-memory model, shared by analyze.c (which builds it) and
 * report.c (which writes it out). Not a public interface.
 */
#ifndef VP_MODEL_H
#define VP_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "analyze.h"
#include "reader.h"
#include "symbolize.h"
#include "tracedir.h"
#include "traceutil.h"

#define T_NEVER UINT64_MAX

enum fclass { FC_DEMAND_ZERO, FC_COW_COPY, FC_COW_REUSE, FC_FILE, FC_SHARED_WRITE, FC_OTHER, FC_N };
extern const char *const fclass_name[FC_N];

enum vkind { VK_HEAP, VK_STACK, VK_ANON, VK_FILE, VK_SHM, VK_CODE, VK_DATA, VK_VDSO, VK_OTHER };
enum vorigin { VO_MMAP, VO_MREMAP, VO_BRK, VO_INITIAL, VO_INHERITED, VO_EXEC, VO_SYSCALL };
enum vend { VE_NONE, VE_MUNMAP, VE_SPLIT, VE_MREMAP, VE_EXEC, VE_REPLACED };
/* Why an entry a call made has no stack (report: stack_missing). VS_NO_SHIM
 * becomes "before shim start" or "no shim" in the report, by whether the
 * process image had a shim. */
enum vstackwhy { VS_NONE, VS_NO_SHIM, VS_BUSY, VS_BLOCKED, VS_HANDLER, VS_SEND, VS_OFF,
		 VS_NO_ANSWER, VS_UNWIND, VS_ALTSTACK };

/* One report entry: a mapping as the program made it, or a piece of one
 * after mprotect/munmap/mremap split it. [valid_from, destroyed_ns) is when
 * faults are charged to it; created_ns is the mapping's own creation. */
struct vma {
	uint64_t start, end;
	uint64_t created_ns, valid_from, destroyed_ns;
	uint64_t offset;
	const char *path;      /* interned, NULL for anonymous */
	int32_t stack_file;    /* preload file holding the stack, -1 none */
	uint32_t stack_id;
	uint32_t inh_pid;      /* inherited_from, 0 none */
	uint32_t inh_vma;
	uint32_t piece_of;     /* id + 1 of the entry this was split from */
	uint8_t prot, shared, anonymous, internal, kind, origin, ended_by;
	uint8_t stack_why;     /* enum vstackwhy */
	uint64_t faults[FC_N];
	uint64_t pages;
	/* fault sites: (ip, class) -> count, open addressing */
	struct site *sites;
	uint32_t nsites, capsites;
};

struct site {
	uint64_t ip;
	uint32_t cls; /* fclass + 1; 0 = empty slot */
	uint16_t kernel;
	int16_t space; /* report.c: the image to symbolize in */
	uint64_t count;
};

struct image {              /* one preload trace file of this process */
	int file;               /* index in analysis.files */
	uint64_t start_ns;      /* when this image began (exec or fork) */
};

struct exec_ev {
	uint64_t t;
	const char *path;       /* interned */
	json_t *argv;           /* array, or NULL */
};

struct child_ref {          /* a fork this process made */
	uint32_t child;
	uint64_t t, end;        /* end: the child's exit or first exec */
	uint64_t cow_parent, cow_child;
};

struct proc {
	uint32_t pid, ppid;
	int is_root, forked;
	uint64_t fork_t, start_ns, end_ns;
	int exited;
	int64_t exit_code, exit_signal;   /* -1 = unknown */
	int have_kc;
	uint64_t minflt, majflt;
	uint64_t prefault;                /* trace pages the shim populated (in minflt,
					   * seen by no tracepoint) */
	uint64_t calls[9];                /* vp_call index; [8] = fork, [0] = exec */
	uint64_t faults[FC_N], pages, outside;
	uint64_t brk_cur;
	const char *exe;
	json_t *argv;
	struct vma *v;
	uint32_t nv, capv;
	uint32_t *live;                   /* ids of live entries, sorted by start */
	uint32_t nlive, caplive;
	struct image *img;
	uint32_t nimg;
	struct exec_ev *ex;
	uint32_t nex;
	struct child_ref *kids;
	uint32_t nkids;
	uint64_t first_exec_t;            /* T_NEVER if none */
	/* pass-2 index: ranges of entries with equal [start,end) */
	struct qrange *qr;
	uint32_t nqr;
	uint32_t *qent;                   /* entry ids grouped by range, by valid_from */
	uint64_t *qmaxend;
	struct proc *hnext;               /* pid hash chain */
};

struct qrange {
	uint64_t start, end;
	uint32_t first, count;
};

struct tfile {
	char name[256];
	struct reader *r;
	int is_bpf;
	uint32_t pid;
	struct stack_map stacks;
	uint64_t records, lost, damaged;
};

struct analysis {
	char dir[4096];
	json_t *session;
	struct tfile *files;
	uint32_t nfiles;
	struct proc **procs;              /* in creation order */
	struct { uint32_t pid; uint64_t pages; } *pref; /* shim prefaults per pid */
	uint32_t npref, cappref;
	uint32_t nprocs, capprocs;
	struct proc *phash[4096];
	struct symbolizer *sym;
	uint32_t root_pid;
	uint64_t preload_records, preload_lost, bpf_records, bpf_lost, damaged, unreadable;
	uint64_t preload_damaged, bpf_damaged; /* records the reader had to skip */
	uint64_t faults, records;
	int preload_active, bpf_active;
	const char *preload_reason, *bpf_reason;
	/* interned strings */
	char **strs;
	uint32_t nstrs, capstrs;
	double seconds;
	uint64_t page_size;
};

struct proc *model__proc(struct analysis *a, uint32_t pid);
const char *model__intern(struct analysis *a, const char *s, size_t len);

#endif
