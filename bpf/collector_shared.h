/* SPDX-License-Identifier: MIT */
/*
 * Types shared by collector.bpf.c and collector.c: the per-task state kept
 * in task-local storage. User space only creates the root's entry
 * (traced = 1, everything else 0), so it needs the exact size and layout.
 * Only fixed-width types; no functions.
 */
#ifndef VMAPROF_COLLECTOR_SHARED_H
#define VMAPROF_COLLECTOR_SHARED_H

#include <vmaprof/record.h>

/* task_state.in_fault */
enum {
	CT_FAULT_NONE = 0,
	CT_FAULT_OPEN = 1,         /* counting its allocations */
	CT_FAULT_OPEN_NOCOUNT = 2, /* kernel-mode on anonymous memory, after its folio */
	CT_FAULT_OPEN_MORE = 3,    /* kernel-mode, not anonymous: counting on */
};

/* Longest exec filename the collector copies into a TASK_EXEC, its NUL
 * included; longer names are truncated. */
#define CT_EXEC_PATH_MAX 512

/* Finished faults kept per task before one ring-buffer output (power of 2). */
#ifndef CT_BATCH
#define CT_BATCH 16
#endif

/* Tasks the compat variant can trace at once (its preallocated hash map;
 * a fork beyond that is counted in `untracked`). */
#ifndef CT_COMPAT_TASKS
#define CT_COMPAT_TASKS 16384
#endif
/* Threads summed at a process's exit by the compat variant's bounded loop
 * (bpf_loop, Linux 5.17, sums up to 65536). */
#define CT_COMPAT_THREADS VP_COMPAT_EXIT_THREADS /* the verifier's budget */

/* What mark_tasks did with a thread listed in `marks` (its _pad0). */
/* Why an image can have no shim (task_state.img_no_shim; 0: it may have
 * one, ld.so's calls before it starts take no kernel stacks). */
enum { CT_IMG_SHIM = 0, CT_IMG_STATIC = 1, CT_IMG_SECURE = 2, CT_IMG_SECCOMP = 3 };
enum { CT_MARK_NONE = 0, CT_MARK_CREATED = 1, CT_MARK_EXISTED = 2, CT_MARK_FAILED = 3 };

/* Values of the `vma_mode` read-only global. */
enum { CT_VMA_OFF = 0, CT_VMA_EVERY = 1 };

struct task_state {
	/* fb[0, nb): finished faults not yet output; fb[nb]: the open fault
	 * when in_fault (header filled at its start). nb < CT_BATCH always:
	 * the batch is output as soon as it is full. */
	struct vp_fault fb[CT_BATCH];
	__u64 mem_args[6];   /* syscall arguments saved at sys_enter */
	__u64 mem_t0;        /* sys_enter time */
	__u32 mem_call;      /* enum vp_call of the syscall in flight, 0 = none */
	__u8 traced;
	__u8 in_fault;       /* CT_FAULT_* */
	__u8 exited;         /* sched_process_exit seen for this task */
	__u8 _pad0;          /* 0; in `marks`: CT_MARK_* */
	__u32 nb;            /* finished faults in fb */
	/* Faults the kernel counted without a fault event (VP_REC_SYSFAULTS):
	 * the task's min_flt + maj_flt and maj_flt at the last balance (a
	 * hooked syscall's entry or exit; for the root, set by user space at
	 * registration), the fault events since (sys_kf), user pages a
	 * populating syscall allocated outside them; the syscall in flight's
	 * first two arguments and entry time. */
	__u64 sys_flt0;
	__u64 sys_maj0;
	__u64 sys_args[2];
	__u64 sys_t0;
	__u32 sys_nr;
	__u32 sys_kf;
	__u32 sys_pages;
	__u8 sys_in;         /* between sys_enter and sys_exit */
	__u8 sys_populates;  /* the syscall may populate VMAs: count its pages */
	/* CT_IMG_*: this task's process image can have no shim announcing
	 * itself (set at exec, copied at fork): kernel stacks where none did
	 * (VP_NOSIG_NO_SHIM) even when the loader did not ask for them. */
	__u8 img_no_shim;
	__u8 mm_flags;       /* CT_MM_* (collector.bpf.c, the mm's own figures) */
	/* Signal stacks (bpf/README.md): what the shim of this task's process
	 * image announced (sig_tgid 0: nothing yet). Copied to new tasks at
	 * fork (a thread shares it, a forked process takes it over under its
	 * own tgid, a vfork/CLONE_VM child gets sig_tgid 0), cleared at exec. */
	__u64 sig_handler;   /* the shim's handler for sig_no */
	__s64 sig_tls;       /* offset of the shim's per-thread in_hook flag
			      * from the thread pointer (fs base) */
	__u64 sig_brk0;      /* mm->brk at sys_enter of brk */
	__u64 f_flt0;        /* min_flt + maj_flt when the open fault began */
	__u32 sig_tgid;      /* the process that announced */
	__u32 sig_no;        /* its signal, 0 = signal stacks off */
	/* The compat variant (no task storage, bpf/README.md "Kernels"): the
	 * task this entry of the tid-keyed hash map belongs to, set by the
	 * first program that finds it 0 (user space writes 0), so that a
	 * task reusing a tid before the old task is freed is not taken for
	 * it. 0 in the task-storage variant. */
	__u64 task;
	/* Write stacks (VP_KSTACK_WRITE): write faults on present pages
	 * since the task's creation or its process's last fork. */
	__u32 ws_seen;
	__u32 _pad3;
	__u64 rss_t;         /* time of the task's last VP_REC_RSS */
	/* File paths of mappings (record.h VP_MEM_KPATH): the struct file
	 * the fd of a file-backed mmap named at its entry, compared at its
	 * exit (0: not such a call). */
	__u64 mem_file;
};
/* Both sides compile this one definition; user space writes a zeroed entry. */
_Static_assert(sizeof(struct task_state) % 8 == 0, "task_state has no tail padding");

#endif /* VMAPROF_COLLECTOR_SHARED_H */
