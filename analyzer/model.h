/* SPDX-License-Identifier: MIT */
/*
 * The analyzer's in-memory model, shared by analyze.c (which builds it) and
 * report_json.c and summary.c (which write it out). Not a public interface.
 */
#ifndef VP_MODEL_H
#define VP_MODEL_H

#include <jansson.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "analyze.h"
#include "fclass.h"
#include "reader.h"
#include "symbolize.h"
#include "tracedir.h"
#include "traceutil.h"

#define T_NEVER UINT64_MAX

/* Fault classes: docs/report.md has the rules (classify() in analyze.c). */

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
/* Which syscalls faulted pages in without fault events (report: populated.by_syscall). */
enum pop_kind { POP_MMAP, POP_MADVISE, POP_MLOCK, POP_MREMAP, POP_MPROTECT, POP_BRK, POP_EXECVE,
		POP_IOCTL, POP_OTHER, POP_N };
extern const char *const pop_name[POP_N];

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
	uint64_t pages;              /* allocated in its faults, and populated */
	uint64_t pop_faults, pop_pages; /* made by syscalls without fault events */
	struct u64map fault_sites; /* fault_site__key -> count */
	/* sites.c's shape */
	uint32_t site;              /* index in the process's sites */
	uint32_t instances;         /* mappings this entry stands for (folded) */
	uint32_t folded_into;       /* id + 1 of the entry that stands for this one,
				     * VMA_UNUSED: not shown (sites.c, unused inherited) */
	uint64_t last_destroyed_ns; /* of the last instance */
	uint8_t last_ended_by;
};

#define VMA_UNUSED UINT32_MAX

/* A creating call site of one process (report: sites[]; sites.c). */
struct csite {
	const char *key;          /* symbolized stack, or "(origin) kind path" */
	const char *label;        /* the frame that names it (sites.c: site_label) */
	int label_frame;          /* its index in the stack, -1 stackless */
	const char *where;        /* that frame's "file.c:line", or NULL */
	int internal;             /* the shim's own memory (the tool's cost) */
	int32_t stack_file;       /* a representative stack, -1 none */
	uint32_t stack_id;
	uint32_t first_vma;       /* id + 1 of its first entry */
	uint64_t mappings, bytes_mapped, peak_live_bytes;
	uint64_t faults[FC_N], pages, pop_faults, pop_pages;
	uint32_t *vmas;           /* the entries shown (not folded into another) */
	uint32_t nvmas, capvmas;
};

/* Where faults happened: the faulting instruction, by class. */
struct fault_site {
	uint64_t ip;
	uint32_t cls; /* fclass + 1 */
	uint16_t kernel;
	int16_t space; /* report_json.c: the image to symbolize in */
	uint64_t count;
};

struct image {              /* one preload trace file of this process */
	int file;               /* index in analysis.files */
	uint64_t start_ns;      /* when this image began (exec or fork) */
};

struct exec_ev {
	uint64_t t;
	const char *path;       /* interned: as the exec was given it */
	json_t *argv;           /* array, or NULL */
	uint8_t traced;         /* a shim stream started in this image */
	uint8_t secure;         /* AT_SECURE exec: the loader ignored LD_PRELOAD */
};

struct child_ref {          /* a fork this process made */
	uint32_t child;
	uint64_t t, end;        /* end: the child's exit or first exec */
	uint64_t cow_parent, cow_child;
	struct u64map cow_vma_parent, cow_vma_child; /* entry id + 1 -> copies */
};

struct proc {
	uint32_t pid, ppid;               /* keys (pidns.c): in the kernel's numbering when
					   * it traced, else the recorder's */
	/* Who the process is to itself and to the recorder (pidns.c, after the
	 * replay): its pid in its own PID namespace (the report's `pid`), that
	 * namespace's inode (0 unknown), its pid in the recorder's namespace,
	 * and its pid at each level from the initial namespace down (the
	 * kernel's VP_REC_TASK_NS; ns_level 0: not known). */
	uint32_t own_pid, pid_ns, host_pid;
	uint32_t ns_level;
	uint32_t *ns_pids;                /* ns_level + 1, or NULL */
	int is_root, forked;
	uint64_t fork_t, start_ns, end_ns;
	int exited;
	int64_t exit_code, exit_signal;   /* -1 = unknown */
	int have_kc;
	int kc_cut;          /* VP_EXIT_THREADS_CUT: the counters miss threads */
	uint64_t minflt, majflt;
	uint64_t prefault;                /* trace pages the shim populated (in minflt,
					   * seen by no tracepoint), from its own records */
	uint64_t shim_sys;                /* the same, from the kernel's VP_REC_SYSFAULTS */
	uint64_t pop_faults, pop_pages;   /* faulted in by syscalls (VP_REC_SYSFAULTS) */
	uint64_t pop_by[POP_N];
	uint64_t before_trace;            /* minflt + majflt when tracing began */
	uint64_t calls[9];                /* vp_call index; [8] = fork, [0] = exec */
	uint64_t faults[FC_N], pages, outside;
	uint64_t brk_cur;
	const char *exe;                  /* as run (exec path given, symlink names kept) */
	const char *exe_resolved;         /* /proc/self/exe as the shim read it, or NULL */
	json_t *argv;
	const char *name;                 /* comm: at exit, else at the last exec/fork */
	const char *title;                /* argv area at exit when it differs from argv */
	int pre_exec_traced;              /* a shim stream before any exec (fork child) */
	int pre_exec_secure;              /* the image inherited at fork was AT_SECURE */
	int preload_active;               /* computed after the replay */
	const char *preload_reason;
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
	struct csite *sites;              /* sites.c */
	uint32_t nsites, capsites;
	uint64_t unused_inherited, unused_inherited_bytes; /* entries not shown (sites.c) */
	int attached_tree;                /* record -p: no shim in it, ever */
	struct timeline *tl;              /* faults over time (timeline.h), or NULL */
};

struct qrange {
	uint64_t start, end;
	uint32_t first, count;
};

struct tfile {
	char name[256];
	struct reader *r;
	int is_bpf;
	uint32_t pid;       /* preload: the process (a key, pidns.c) */
	uint32_t own_pid;   /* its header's pid: the writer's own numbering */
	uint32_t pid_ns;    /* the namespace of that numbering (header), 0 unknown */
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
	struct u64map by_pid; /* pid + 1 -> struct proc */
	struct symbolizer *sym;
	uint32_t root_pid;
	uint64_t preload_records, preload_lost, bpf_records, bpf_lost, damaged, unreadable;
	uint64_t preload_damaged, bpf_damaged; /* records the reader had to skip */
	uint64_t faults, records;
	int preload_active, bpf_active;
	int complete;                     /* the session end marker was written */
	int stopped;                      /* record stopped waiting (signal) */
	int attached;                     /* record -p: session.json "attach" */
	const char *preload_reason, *bpf_reason;
	uint32_t preload_without;         /* processes with preload_active 0 */
	uint32_t *failed_pids;            /* preload.<pid>.failed markers */
	const char **failed_why;          /* their text (interned), or NULL */
	uint32_t nfailed;
	uint32_t *sc_exec_pids;           /* exec'd under a seccomp filter (VP_EXEC_SECCOMP) */
	uint32_t nsc_exec, capsc_exec;
	uint32_t *sc_fork_pids;           /* children started under one (VP_FORK_SECCOMP) */
	uint32_t nsc_fork, capsc_fork;
	/* interned strings */
	char **strs;
	uint32_t nstrs, capstrs;
	double seconds;
	uint64_t page_size;
	int debug_outside;                /* VMAPROF_DEBUG_OUTSIDE: print faults outside entries */
	struct u64map shmem_files;        /* interned path -> 1: a fault with the kernel's
					   * VMA info found it on tmpfs/hugetlbfs */
	int shaped;                       /* sites.c ran */
	struct label_rules *rules;        /* plumbing (label.h); NULL until shaped */
	struct u64map demangled;          /* function string -> demangled (sites.c) */
	/* PID namespaces (pidns.c): pids of the shim's records are numbered
	 * in the shim's namespace, the collector's in the initial one, the
	 * recorder's (session.json) in its own; processes are keyed by one of
	 * them (key_ns) and every other is translated on reading. */
	uint32_t key_ns;                  /* the keys' namespace, 0 unknown */
	uint32_t rec_ns;                  /* the recorder's (session.json pid_ns), 0 unknown */
	int ns_scanned;                   /* the collector's VP_REC_TASK_NS are in */
	struct u64map ns_ids;             /* ns << 32 | nr -> index + 1 in ns_ent (latest) */
	struct ns_ent *ns_ent;
	uint32_t n_ns_ent, cap_ns_ent;
	struct u64map ns_chain;           /* key + 1 -> index + 1 in ns_chains */
	struct ns_chain *ns_chains;
	uint32_t n_ns_chains, cap_ns_chains;
	void *pass;                       /* analyze.c's working state while it runs */
	void (*pass_free)(void *);
};

/* ---- model.c ---- */

/* Out of memory: unwinds to the armed entry point (never returns). The
 * analyzer's entry points arm it around their work:
 *	jmp_buf j; jmp_buf *old = model__oom_arm(&j);
 *	if (setjmp(j)) { model__oom_arm(old); ...free...; return -ENOMEM; }
 *	...; model__oom_arm(old); */
void model__oom(void);
jmp_buf *model__oom_arm(jmp_buf *j);
void *model__alloc(size_t n);                 /* zeroed */
void *model__realloc(void *p, size_t n);
void *model__grow(void *p, uint32_t *cap, uint32_t need, size_t elem);

/* The process of `pid`, created on first sight (model__find: NULL then). */
struct proc *model__proc(struct analysis *a, uint32_t pid);
struct proc *model__find(struct analysis *a, uint32_t pid);
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
/* Count one fault of class cls at ip in e's fault sites. */
void model__site_add(struct vma *e, uint64_t ip, int cls, int kernel);
/* The fault site of a key of vma.fault_sites, count 0. */
struct fault_site fault_site__of_key(uint64_t key);

/* ---- sites.c: call sites and folded entries (docs/report.md) ---- */
/* Once (later calls do nothing): group each process's entries by creating
 * call site and, unless every_vma, fold repeated mappings. */
void sites__shape(struct analysis *a, int every_vma);
/* fn demangled (C++, Rust), or fn itself when it is not mangled; NULL for
 * NULL. Cached per interned symbol string. */
const char *sites__demangle(struct analysis *a, const char *fn);

/* Copies of one side of a fork by site of p (m: a child_ref's
 * cow_vma_parent or cow_vma_child), most first (ties: site order). */
struct site_count {
	uint32_t site;
	uint64_t n;
};
/* *out (malloc'd, the caller frees it) holds every site of p with a copy;
 * returns how many. */
uint32_t sites__fork_copies(const struct proc *p, const struct u64map *m,
			    struct site_count **out);

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
/* The same for a pid of the recorder's (session.json). */
uint32_t pidns__rec(const struct analysis *a, int64_t nr, uint64_t t);
/* After the replay: own_pid, pid_ns, host_pid, ns_pids of every process. */
void pidns__name(struct analysis *a);
/* Whether the report shows p's namespace fields (it lives in one other
 * than the initial namespace). */
int pidns__shown(const struct proc *p);
/* The report's name of the process keyed `key`: its own pid when it is
 * in the report, else `key`. */
uint32_t pidns__report_pid(struct analysis *a, uint32_t key);
void pidns__free(struct analysis *a);

/* ---- procinfo.c: who a process is, and whether the shim traced it ---- */
int procinfo__names_fd(const char *path);
json_t *procinfo__argv_json(const char *s, uint32_t len);
void procinfo__apply_name(struct analysis *a, struct proc *p, const struct vp_task_name *n);
void procinfo__load_markers(struct analysis *a, const struct tracedir *td);
void procinfo__preload_status(struct analysis *a);

#endif
