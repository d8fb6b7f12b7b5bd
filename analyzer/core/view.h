/* SPDX-License-Identifier: MIT */
/*
 * A finished analysis, as the outputs (outputs/) read it: the processes of
 * a recording in report order, each with its VMA entries (a mapping, or a
 * piece of one, with its lifetime and the faults charged to it), its call
 * sites and folded entries (sites.c), its forks and execs; and the
 * recording's own figures (collectors, losses, the session).
 *
 * An analysis is finished when analysis__run built it and analysis__view
 * shaped it (analyze.h): nothing in it changes any more, except caches
 * that fill as it is read (stacks are symbolized and names demangled on
 * first use, hence the non-const `struct analysis *` of some readers).
 * Readers use the structs below and the functions of this header only;
 * the core builds the analysis through model.h, which is not for them.
 * docs/report.md says what each figure means.
 */
#ifndef VP_VIEW_H
#define VP_VIEW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "fclass.h"
#include "symbolize.h"
#include "traceutil.h"

struct reader;
struct label_rules;
struct timeline;
struct ns_ent;
struct ns_chain;

#define T_NEVER UINT64_MAX

enum vkind { VK_HEAP, VK_STACK, VK_ANON, VK_FILE, VK_SHM, VK_CODE, VK_DATA, VK_VDSO, VK_OTHER };
enum vorigin { VO_MMAP, VO_MREMAP, VO_BRK, VO_INITIAL, VO_INHERITED, VO_EXEC, VO_SYSCALL };
enum vend { VE_NONE, VE_MUNMAP, VE_SPLIT, VE_MREMAP, VE_EXEC, VE_REPLACED };
/* Why an entry a call made has no stack (report: stack_missing). VS_NO_SHIM
 * becomes "before shim start" or "no shim" in the report, by whether the
 * process image had a shim. */
enum vstackwhy { VS_NONE, VS_NO_SHIM, VS_BUSY, VS_BLOCKED, VS_HANDLER, VS_SEND, VS_OFF,
		 VS_NO_ANSWER, VS_UNWIND, VS_ALTSTACK,
		 /* kernel stacks (kunwind.c): none could be unwound; the first two
		  * also where one was but stops early */
		 VS_K_CUT, VS_K_CFI, VS_K_NOMAP, VS_K_FAIL, VS_K_SKIP };

/* Which syscalls faulted pages in without fault events (report: populated.by_syscall). */
enum pop_kind { POP_MMAP, POP_MADVISE, POP_MLOCK, POP_MREMAP, POP_MPROTECT, POP_BRK, POP_EXECVE,
		POP_IOCTL, POP_OTHER, POP_N };
extern const char *const pop_name[POP_N];
/* The report's names of enum vkind, vorigin and vend (VE_NONE: NULL). */
extern const char *const vk_name[];
extern const char *const vo_name[];
extern const char *const ve_name[];

/* One report entry: a mapping as the program made it, or a piece of one
 * after mprotect/munmap/mremap split it. [valid_from, destroyed_ns) is when
 * faults are charged to it; created_ns is the mapping's own creation. */
struct vma {
	uint64_t start, end;
	uint64_t created_ns, valid_from, destroyed_ns;
	uint64_t offset;
	const char *path;      /* interned, NULL for anonymous */
	uint64_t ino;          /* the file's inode as the collector read it
				* (VP_MEM_KPATH), 0 = not known */
	int32_t stack_file;    /* preload file holding the stack, -1 none */
	uint32_t stack_id;
	uint32_t inh_pid;      /* inherited_from, 0 none */
	uint32_t inh_vma;
	uint32_t piece_of;     /* id + 1 of the entry this was split from */
	uint64_t grown_to;     /* [stack]: the lowest page its faults grew it
				* down to (analyze.c stack_growth), 0 none */
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

/* Write sites (docs/report.md "Write sites"): the sampled stacks of the
 * writes that copied pages (VP_KSTACK_WRITE), per mapping entry. A site
 * is (entry, stack, class); `weight` is what its samples stand for by the
 * sampling (1 each in a thread's first writes, `every` each after), the
 * outputs scale it so that a table's weights sum to its exact count. */
struct wsite {
	uint32_t vma;           /* entry id in the writing process */
	int32_t stack_file;     /* kunwind's stack file, -1 none */
	uint32_t stack_id;      /* 0: could not be unwound (why) */
	uint8_t cls, why;       /* enum fclass; enum vstackwhy when no stack */
	uint64_t samples;
	double weight;
};
struct wsites {
	struct wsite *w;
	uint32_t n, cap;
	struct u64map idx;      /* key -> index + 1 */
	uint64_t samples;
	double weight;
};

struct child_ref {          /* a fork this process made */
	uint32_t child;
	uint64_t t, end;        /* end: the child's exit or first exec */
	uint64_t cow_parent, cow_child;
	struct u64map cow_vma_parent, cow_vma_child; /* entry id + 1 -> copies */
	struct wsites ws_parent, ws_child; /* the copies' write sites (parent's,
					    * child's entries) */
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
	struct wsites ws;                 /* write sites of all its cow_copy and
					   * shared_write faults */
	/* The kernel's own figures (docs/report.md, "The kernel's figures"):
	 * one reading per image, in time order (an exec that failed leaves a
	 * reading its image's later one supersedes: dropped), and the
	 * rss_stat samples. */
	struct mm_reading *mm;
	uint32_t nmm;
	struct rss_sample *rss;
	uint32_t nrss, caprss;
};

/* What the kernel's mm said of one process image (VP_REC_MMSTAT): sizes
 * in pages, as record.h's vp_mmstat; exe: the image's, as the replay knew
 * it then (NULL unknown). */
struct mm_reading {
	uint64_t t;
	uint32_t why, flags, map_count;
	const char *exe;
	uint64_t hiwater_rss, hiwater_vm, total_vm, locked_vm, pinned_vm, data_vm, exec_vm,
		stack_vm;
	int64_t rss[VP_RSS_N];
};
/* One VP_REC_RSS sample (pages). */
struct rss_sample {
	uint64_t t;
	int64_t rss[VP_RSS_N];
	uint32_t flags;
};

/* The core's lookup index of a process (model.c); not for readers. */
struct qrange {
	uint64_t start, end;
	uint32_t first, count;
};

/* One trace file; readers take its stacks (stack_map__get, symbolized
 * through analysis.sym with the file's index as the address space). */
struct tfile {
	char name[256];
	struct reader *r;
	int is_bpf;
	uint32_t pid;       /* preload: the process (a key, pidns.c) */
	uint32_t own_pid;   /* its header's pid: the writer's own numbering */
	uint32_t pid_ns;    /* the namespace of that numbering (header), 0 unknown */
	struct stack_map stacks;
	int own_stacks;     /* bpf: stacks holds copies of its records (freed with it) */
	struct vp_stack **fixed; /* else: the copies keep_stack made without bad
				  * frames (freed with it) */
	uint32_t nfixed, capfixed;
	int kstacks;        /* kunwind.c's stacks of one process (pid): no trace
			     * file (r NULL), its symbolizer space their modules */
	uint64_t records, lost, damaged;
};

/* The recording. Readers take procs[0..nprocs) (report order), the
 * session, the collectors' figures and losses, files[] for stacks and sym
 * to symbolize them; by_pid, pref, strs, the PID namespace tables and
 * pass are the core's bookkeeping: look processes up with model__find and
 * pids with the pidns__ functions below. */
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
	/* shim trace files begun after the session's end (a process still running
	 * when the recording ended, started later): not part of it, left out */
	uint64_t late_files;
	uint64_t late_records; /* in the other files, dated after the end */
	uint64_t end_cut;      /* the end: shim records after it are left out (0: none) */
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
	/* interned strings (model__intern): by_str maps the hash of a
	 * string's text to index + 1 of the first string with that hash,
	 * str_next chains the others in order (index + 1, 0 ends) */
	char **strs;
	uint32_t *str_next;
	uint32_t nstrs, capstrs;
	struct u64map by_str;
	double seconds;
	uint64_t page_size;
	int debug_outside;                /* VMAPROF_DEBUG_OUTSIDE: print faults outside entries */
	struct u64map shmem_files;        /* interned path -> 1: a fault with the kernel's
					   * VMA info found it on tmpfs/hugetlbfs */
	int shaped;                       /* sites.c ran */
	/* write stacks (session.json collectors.bpf.write_stacks): the
	 * sampling (first, every; both 0: off or an older recorder), stacks
	 * paired with their faults, and those left unpaired (fault lost) */
	uint32_t ws_first, ws_every;
	uint64_t ws_paired, ws_unpaired, ws_skipped;
	int every_vma;                    /* shaped with --every-vma: no entry folded
					   * or summarised (report_json.c) */
	int write_threads;                /* report.json's processes were written on
					   * (report_json.c; 0: not written) */
	struct label_rules *rules;        /* plumbing (label.h); NULL until shaped */
	struct u64map demangled;          /* function string -> demangled (sites.c) */
	/* label__is_plumbing of a symbolizer's function or module string
	 * (1 no, 2 yes), by its pointer (sites.c) */
	struct u64map plumbing_fn, plumbing_mod;
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
	/* the kernel stacks' unwinder (kunwind.h), kept after the passes:
	 * its libdwfl handles are many mappings, whose unmapping (one TLB
	 * shootdown each, with our other threads running) cost 17% of a
	 * --no-preload report of 300 processes; freed with the analysis,
	 * which a report leaves to the exit */
	struct kunwind *ku;
};

/* ---- reading (model.c, sites.c, pidns.c, view.c) ---- */

/* The process keyed `pid` (pidns.c: a key, not always the report's pid),
 * NULL if there is none. */
struct proc *model__find(struct analysis *a, uint32_t pid);
/* The fault site of a key of vma.fault_sites, count 0. */
struct fault_site fault_site__of_key(uint64_t key);
/* Why an entry made by a call has no stack (report: stack_missing), or
 * NULL (it has one, or it was not made by a call, or the trace does not
 * say). */
const char *vma__stack_missing(const struct proc *p, const struct vma *e);
/* Where an entry has a kernel stack that stops early, why; else NULL. */
const char *vma__stack_cut(const struct vma *e);
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
/* Write sites of a table grouped by stack (across entries), most copies
 * first: ws_group.site is an index in t->w of the stack's first site,
 * copies its scaled count (t's weights scaled to `exact`, the table's
 * exact count; 0: unscaled). *out malloc'd; returns how many. */
struct ws_group {
	uint32_t site;
	uint64_t samples;
	double copies;
};
uint32_t wsites__by_stack(const struct wsites *t, uint64_t exact, struct ws_group **out);
/* The name of a write stack: its label frame (as sites are labelled) and
 * that frame's caller, "f < g"; into buf. */
const char *wsites__label(struct analysis *a, const struct wsite *w, char *buf, size_t n);
void wsites__free(struct wsites *t);
/* Whether the report shows p's namespace fields (it lives in one other
 * than the initial namespace). */
int pidns__shown(const struct proc *p);
/* The report's name of the process keyed `key`: its own pid when it is
 * in the report, else `key`. */
uint32_t pidns__report_pid(struct analysis *a, uint32_t key);
/* The key of a pid of the recorder's (session.json) at time t (T_NEVER:
 * the latest). */
uint32_t pidns__rec(const struct analysis *a, int64_t nr, uint64_t t);

/* ---- memory (model.c) ----
 * Out of memory unwinds: model__oom() jumps to the guard model__try armed
 * (never returns), which returns -ENOMEM to its caller, who then frees
 * what body had built (in ctx). Readers allocate their own tables with
 * these; the outputs run every writer under one guard (outputs.c). */
void model__oom(void);
void *model__alloc(size_t n);                 /* zeroed */
void *model__realloc(void *p, size_t n);
void *model__grow(void *p, uint32_t *cap, uint32_t need, size_t elem);
/* body(ctx) with out of memory armed: its result, or -ENOMEM. */
int model__try(int (*body)(void *ctx), void *ctx);

#endif
