// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * vmaprof kernel-side collector.
 *
 * Follows the traced process tree and records, for every traced task, its
 * page faults (with the user pages allocated while handling each one), its
 * address-space syscalls and its fork/exec/exit, as vp_* records (see
 * include/vmaprof/record.h) pushed through one ring buffer.
 *
 * Invariants:
 * - A task is traced iff it has an entry in `tstate` (task-local storage).
 *   User space creates the root's entry (collector__track, keyed by pidfd);
 *   sched_process_fork creates the child's when the parent has one. Every
 *   program that fires system-wide (mm_page_alloc, sys_enter, sys_exit,
 *   page faults) therefore answers "not traced" with one storage lookup,
 *   which for a task without any BPF storage is a NULL pointer check.
 * - A fault is "open" from its page_fault_* event until the task's next
 *   fault, syscall entry, syscall exit or exit; movable-page allocations of
 *   the task in between are charged to it. See README.md for why these ends.
 * - Nothing grows per fault: the open fault and up to CT_BATCH - 1
 *   finished ones live in the task's storage and are output as one sample
 *   when the batch is full and at the task's syscall entry/exit, exec and
 *   exit; flush_tasks collects what tasks still hold when recording stops.
 * - A failed ring-buffer reserve is counted in `lost` (one per record it
 *   would have carried), never dropped silently.
 *
 * Two variants are built from this file (bpf/README.md, "Kernels"): the
 * default one for Linux 5.17 and later (task storage, BTF pointers to the
 * current task, bpf_loop, bpf_find_vma, bpf_task_pt_regs), and with
 * VP_COMPAT one for 5.10 to 5.16 that keeps the per-task state in a
 * preallocated hash map keyed by tid, reads the current task through
 * bpf_probe_read_kernel, sums threads in a bounded loop, finds VMAs by
 * walking the mm's rbtree and hooks system calls through the raw
 * tracepoints only. Both have the same programs, maps and globals, so one
 * skeleton (the default's) opens either object; the loader picks one.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <vmaprof/record.h>
#include "collector_shared.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

/* User addresses on x86_64 (4-level paging TASK_SIZE_MAX; 5-level kernels
 * have larger user space but faults above this are rare enough to ignore). */
#define USER_ADDR_END 0x800000000000ULL
/* Superblock magics of the filesystems behind shared memory. */
#define TMPFS_MAGIC 0x01021994
#define HUGETLBFS_MAGIC 0x958458f6
/* Threads summed per TASK_EXIT (bpf_loop bound). */
#define MAX_THREADS 65536

/* The current task, and a field of a task, in each variant: the default
 * one dereferences BTF pointers directly (one load); the compat one has no
 * bpf_get_current_task_btf (Linux 5.11), so every read of a task goes
 * through bpf_probe_read_kernel. */
#ifdef VP_COMPAT
#define CUR_TASK() ((struct task_struct *)bpf_get_current_task())
#define TF(t, f) BPF_CORE_READ(t, f)
#define READ_BITFIELD BPF_CORE_READ_BITFIELD_PROBED
/* bpf_probe_read_kernel disables page faults around its copy: read that
 * way, the current task's pagefault_disabled is one more than it was */
#define PF_DISABLED(t) (BPF_CORE_READ(t, pagefault_disabled) > 1)
#else
#define PF_DISABLED(t) ((t)->pagefault_disabled)
#define READ_BITFIELD BPF_CORE_READ_BITFIELD
#define CUR_TASK() bpf_get_current_task_btf()
#define TF(t, f) ((t)->f)
#endif

/* x86_64 syscall numbers (compat/ia32 syscalls are not decoded). */
#define NR_mmap 9
#define NR_ioctl 16
#define NR_mprotect 10
#define NR_munmap 11
#define NR_brk 12
#define NR_mremap 25
#define NR_madvise 28
#define NR_shmat 30
#define NR_shmdt 67
#define NR_mlock 149
#define NR_munlock 150
#define NR_mlockall 151
#define NR_munlockall 152
#define NR_prctl 157
#define NR_exit_group 231
#define NR_remap_file_pages 216
#define NR_mlock2 325
#define NR_pkey_mprotect 329
#define NR_mseal 462
#define NR_execve 59
#define NR_execveat 322

/* Filters and knobs, set by the loader before load. */
const volatile __u32 self_tgid = 0;  /* the recorder: never traced */
/* CT_VMA_OFF (the default): faults carry no VMA info, the analyzer classifies
 * them with its own model of the address space; CT_VMA_EVERY: bpf_find_vma
 * on every fault (VP_FAULT_VMA), to check that model against the kernel. */
const volatile __u32 vma_mode = CT_VMA_OFF;
/* Wake the consumer only when this much data waits in the ring buffer: a
 * wakeup (irq_work) costs microseconds, more than the whole fault record;
 * the consumer polls with a timeout and drains whatever is there. */
const volatile __u64 wake_bytes = 16 << 20;
/* Never signal a traced thread: the shim's announcements are ignored, so
 * every acquisition says VP_NOSIG_NO_SHIM. `record -p` sets it: a process
 * it attached to may run under another recorder's shim, whose handler
 * would write our answers into that recorder's traces. */
const volatile __u32 no_signals = 0;
/* Kernel stacks (kstack_take): pages of user stack copied per capture, from
 * the page holding the stack pointer up; 0 = off. The loader sets it from
 * the configured size (collector_opts.kstack_bytes). A known constant to
 * the verifier (a frozen read-only map), so it sizes the reservation. */
const volatile __u32 kstack_pages = 0;
/* also for calls in an image where no shim announced itself (collector.h) */
const volatile __u32 kstack_no_shim = 0;
/* The kernel's paths of file mappings (kpath_build) are walked only where
 * no shim is preloaded (record -p, --no-preload: kstack_no_shim's modes).
 * Off, the walk is dead code the verifier never explores: its 64-step
 * loops cost every `vmaprof record` ~0.13 s of start-up here (kernel
 * collector 0.10 -> 0.23 s for `record -- true`, bench/NOTES.md). */
const volatile __u32 kpath_on = 0;
/* Write stacks (record.h VP_KSTACK_WRITE): the first ws_first write faults
 * on present pages of each thread (since its creation or its process's
 * last fork), then 1 in ws_every (0: none after the first); both 0: off. */
const volatile __u32 ws_first = 0;
const volatile __u32 ws_every = 0;

/* VP_REC_RSS: at most one sample per task per this many ns when the
 * kernel's rss_stat tracepoint fires for its own mm (the loader attaches
 * rss_stat only when asked: 0 here then). */
const volatile __u64 rss_interval_ns = 0;
/* Possible CPUs (the loader's libbpf_num_possible_cpus): how many per-CPU
 * parts an RSS counter of Linux 6.2+ has to be summed over. */
const volatile __u32 ncpus = 1;

/* Counters read by user space (mmap'ed .bss). */
__u64 lost = 0;       /* ring-buffer reserves that failed */
__u64 untracked = 0;  /* children of traced tasks we could not mark */
__u64 unhandled = 0;  /* kernel-mode faults with page faults disabled: not faults */
__u64 kstacks = 0;    /* VP_REC_KSTACK records submitted */
__u64 kstacks_skipped = 0; /* not taken: the ring buffer was half full */
__u64 wstacks = 0;    /* of kstacks: write stacks (VP_KSTACK_WRITE) */
__u64 wstacks_skipped = 0; /* write stacks due but not taken (half full) */
__u64 mmstats = 0;    /* VP_REC_MMSTAT records submitted */
__u64 rss_samples = 0; /* VP_REC_RSS records submitted */
/* Which syscall programs act (written by user space): 0 the raw pair
 * sys_enter/sys_exit, 1 the per-syscall sc_enter/sc_exit, 2 the
 * fentry/fexit programs on the calls' __x64_sys_* functions. Two pairs are
 * attached for an instant when the collector switches; a syscall entered
 * under one and left under the other is handled by the same code and
 * per-task state. */
__u32 sys_mode = 0;

#ifdef VP_COMPAT
/* Keyed by tid; preallocated: a tracing program allocating map memory at
 * run time makes kernels before 5.13 warn (WARN_ONCE) and is unsafe in
 * mm_page_alloc. An entry is created at fork (or by user space for the
 * root) and deleted when its task is freed (sched_process_free). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CT_COMPAT_TASKS);
	__type(key, __u32);
	__type(value, struct task_state);
} tstate SEC(".maps");
#else
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_state);
} tstate SEC(".maps");
#endif

/* Threads to mark (`record -p` on kernels without PIDFD_THREAD, whose task
 * storage user space cannot key by a thread's pidfd): tid -> the initial
 * state; mark_tasks creates each one's entry and says how in `_pad0`
 * (CT_MARK_*). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct task_state);
} marks SEC(".maps");

/* The compat variant's new entries are copies of this one zeroed state (a
 * value this large fits neither the BPF stack nor, without changing the
 * globals both variants share, .rodata). Unused in the default variant. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct task_state);
} zero_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20); /* the loader resizes it */
} rb SEC(".maps");

static __always_inline __u64 task_faults(struct task_struct *t)
{
	return TF(t, min_flt) + TF(t, maj_flt);
}

#ifdef VP_COMPAT
static __always_inline struct task_state *state_of(struct task_struct *t)
{
	__u32 tid = BPF_CORE_READ(t, pid);
	struct task_state *st = bpf_map_lookup_elem(&tstate, &tid);

	if (!st)
		return NULL;
	if (st->task != (__u64)t) {
		if (st->task)
			return NULL; /* a new task with the tid of one not yet freed */
		st->task = (__u64)t;
	}
	return st;
}
#else
static __always_inline struct task_state *state_of(struct task_struct *t)
{
	/* Most tasks have no BPF storage at all: one load, no helper call. */
	if (!t->bpf_storage)
		return NULL;
	return bpf_task_storage_get(&tstate, t, 0, 0);
}
#endif

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) >= wake_bytes ? BPF_RB_FORCE_WAKEUP
									 : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_lost(void)
{
	__sync_fetch_and_add(&lost, 1);
}

static __always_inline void hdr(struct vp_rec *h, __u16 type, __u32 size, __u64 now)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->type = type;
	h->flags = 0;
	h->size = size;
	h->time_ns = now;
	h->pid = id >> 32;
	h->tid = (__u32)id;
}

/* Output the task's finished faults (fb[0, nb)) as one ring-buffer sample;
 * user space splits it by h.size. On failure every record in it is lost. */
static __always_inline void batch_flush(struct task_state *st)
{
	__u64 n = st->nb, sz;

	if (!n)
		return;
	sz = n * sizeof(struct vp_fault);
	barrier_var(sz);
	if (sz > sizeof(st->fb))
		return; /* never: nb <= CT_BATCH; bounds the size for the verifier */
	if (bpf_ringbuf_output(&rb, st->fb, sz, rb_flags()))
		__sync_fetch_and_add(&lost, n);
	st->nb = 0;
}

static __always_inline struct vp_fault *open_slot(struct task_state *st)
{
	return &st->fb[st->nb & (CT_BATCH - 1)];
}

/* End the open fault: it joins the batch; a full batch is output. */
static __always_inline void fault_end(struct task_state *st, __u16 flags)
{
	__u32 i = st->nb & (CT_BATCH - 1);

	st->in_fault = CT_FAULT_NONE;
	st->fb[i].h.flags |= flags;
	st->nb = i + 1;
	if (i + 1 == CT_BATCH)
		batch_flush(st);
}

/* End the open fault if any and output everything pending: before any
 * other record of the task, and where the task leaves user space. */
static __always_inline void fault_flush(struct task_state *st, __u16 flags)
{
	if (st->in_fault)
		fault_end(st, flags);
	batch_flush(st);
}

struct vma_info {
	__u64 start;
	__u64 end;
	__u64 flags;
	__u32 file;  /* VP_VMA_* */
};

static __always_inline void vma_fill(struct vm_area_struct *vma, struct vma_info *vi)
{
	struct file *f = TF(vma, vm_file);
	unsigned long magic;

	vi->start = TF(vma, vm_start);
	vi->end = TF(vma, vm_end);
	vi->flags = TF(vma, vm_flags);
	vi->file = 0;
	if (f) {
		/* shared anonymous memory, SysV shm, memfd and POSIX shm all
		 * live on tmpfs/shmem (or hugetlbfs): their first touch
		 * allocates memory, it reads no file */
		magic = BPF_CORE_READ(f, f_inode, i_sb, s_magic);
		vi->file = VP_VMA_FILE |
			   (magic == TMPFS_MAGIC || magic == HUGETLBFS_MAGIC ? VP_VMA_SHMEM : 0);
	}
}

#ifdef VP_COMPAT
/* Before 6.1 the VMAs of an mm are also an rbtree (mm->mm_rb, linked by
 * vma->vm_rb), which newer kernels (maple tree) and so our vmlinux.h lack:
 * local definitions, matched by CO-RE against the running kernel's BTF. */
struct mm_struct___rb {
	struct rb_root mm_rb;
} __attribute__((preserve_access_index));
struct vm_area_struct___rb {
	unsigned long vm_start;
	unsigned long vm_end;
	struct rb_node vm_rb;
} __attribute__((preserve_access_index));
/* An rbtree of n nodes is at most 2 log2(n + 1) deep: 32 for the 65530
 * VMAs vm.max_map_count allows by default. */
#define VMA_WALK_MAX 40

/* bpf_find_vma (5.17) by hand: the VMA of `task` holding addr, 0 or -1
 * (none, too deep, or a kernel without the rbtree). The walk runs inside
 * the task's own fault, under its mmap_lock, and reads with
 * bpf_probe_read_kernel, so a tree changing under it cannot hurt. */
static __always_inline int lookup_vma(struct task_struct *task, __u64 addr, struct vma_info *vi)
{
	struct mm_struct___rb *mm;
	struct vm_area_struct___rb *v;
	struct rb_node *node;
	int i;

	if (!bpf_core_field_exists(struct mm_struct___rb, mm_rb))
		return -1;
	mm = (void *)BPF_CORE_READ(task, mm);
	if (!mm)
		return -1;
	node = BPF_CORE_READ(mm, mm_rb.rb_node);
	for (i = 0; i < VMA_WALK_MAX && node; i++) {
		v = (void *)((char *)node - bpf_core_field_offset(struct vm_area_struct___rb, vm_rb));
		if (addr < BPF_CORE_READ(v, vm_end)) {
			if (BPF_CORE_READ(v, vm_start) <= addr) {
				vma_fill((struct vm_area_struct *)v, vi);
				return 0;
			}
			node = BPF_CORE_READ(node, rb_left);
		} else {
			node = BPF_CORE_READ(node, rb_right);
		}
	}
	return -1;
}
#else
static long vma_cb(struct task_struct *task, struct vm_area_struct *vma, void *data)
{
	vma_fill(vma, data);
	return 0;
}

/* -ENOENT (no VMA) or -EBUSY (mmap_lock taken) */
static __always_inline int lookup_vma(struct task_struct *task, __u64 addr, struct vma_info *vi)
{
	return bpf_find_vma(task, addr, vma_cb, vi, 0);
}
#endif

/* The kernel's view of the VMA into the fault record: at every fault with
 * CT_VMA_EVERY, to check the analyzer's model against it (~3 us per fault
 * here: the fault tracepoint runs with interrupts off, so the helper's
 * mmap_read_unlock goes through irq_work), and from mm_page_alloc (where
 * interrupts are on) for the few faults whose allocation leaves the
 * analyzer a question. */
static __always_inline void fault_vma(struct vp_fault *f, struct task_struct *task, __u64 addr)
{
	struct vma_info vi;

	if (lookup_vma(task, addr, &vi))
		return; /* no VMA, or not found now: record without */
	f->h.flags |= VP_FAULT_VMA;
	f->vm_flags = vi.flags;
	f->vma_file = vi.file;
}

/*
 * Kernel stacks (bpf/README.md "Kernel stacks"): the user registers and a
 * copy of the top of the user stack at the exit of an acquisition whose
 * stack neither the shim records (it was not inside a shim hook) nor its
 * signal will bring (no shim announced in the process image -- a static or
 * setuid binary, `record -p`, a shim that could not load -- or the signal
 * blocked, taken over, failed, or no room on the alternate stack). With
 * signal stacks turned off (VP_NOSIG_OFF: --no-signal-stacks, --no-stacks)
 * nothing is taken. The analyzer unwinds the copy with the modules' CFI.
 */
#define KSTACK_PAGES_MAX (VP_KSTACK_MAX >> 12)

static __always_inline int kstack_wanted(struct task_state *st, __u16 flags)
{
	__u16 why = VP_MEM_NOSIG(flags);

	return kstack_pages && why && why != VP_NOSIG_IN_SHIM && why != VP_NOSIG_OFF &&
	       (why != VP_NOSIG_NO_SHIM || kstack_no_shim || st->img_no_shim);
}

/* A stack is many records' worth: none while the ring is half full, so
 * that a burst of them never costs the faults and calls the counts rest
 * on (those are lost only when it is full). The VP_REC_MEM says so. */
static __always_inline int kstack_room(void)
{
	if (bpf_ringbuf_query(&rb, BPF_RB_AVAIL_DATA) <= 2 * wake_bytes)
		return 1;
	__sync_fetch_and_add(&kstacks_skipped, 1);
	return 0;
}

/* The registers of pt_regs `regs` in DWARF order (record.h VP_KREG_*). */
static __always_inline void kstack_regs(struct vp_kstack *k, struct pt_regs *regs, long ret)
{
	k->regs[0] = ret;
	k->regs[1] = BPF_CORE_READ(regs, dx);
	k->regs[2] = BPF_CORE_READ(regs, cx);
	k->regs[3] = BPF_CORE_READ(regs, bx);
	k->regs[4] = BPF_CORE_READ(regs, si);
	k->regs[5] = BPF_CORE_READ(regs, di);
	k->regs[6] = BPF_CORE_READ(regs, bp);
	k->regs[7] = BPF_CORE_READ(regs, sp);
	k->regs[8] = BPF_CORE_READ(regs, r8);
	k->regs[9] = BPF_CORE_READ(regs, r9);
	k->regs[10] = BPF_CORE_READ(regs, r10);
	k->regs[11] = BPF_CORE_READ(regs, r11);
	k->regs[12] = BPF_CORE_READ(regs, r12);
	k->regs[13] = BPF_CORE_READ(regs, r13);
	k->regs[14] = BPF_CORE_READ(regs, r14);
	k->regs[15] = BPF_CORE_READ(regs, r15);
	k->regs[16] = BPF_CORE_READ(regs, ip);
}

/* One VP_REC_KSTACK after the VP_REC_MEM of `call` (its result ret, exit
 * time now). The copy is read a page at a time (a constant size the
 * verifier bounds, at constant offsets): a page that is not present or
 * lies past the stack's top ends it (VP_KSTACK_CUT), keeping the pages
 * before it; bpf_probe_read_user never faults a page in. The main
 * thread's copy ends with the page of the environment's end. */
static __noinline void kstack_take(struct task_struct *task, struct pt_regs *regs, __u32 what,
				   long ret, __u64 now)
{
	/* what: the call (enum vp_call), or 0 and VP_KSTACK_WRITE (and
	 * VP_KSTACK_SAMPLED) << 16 for a write fault's stack (ret its address) */
	__u32 call = what & 0xffff;
	struct vp_kstack *k;
	__u64 base, env_end;
	__u32 len = 0, lim = KSTACK_PAGES_MAX;
	__u16 flags = 0;

	if (!regs)
		return;
	k = bpf_ringbuf_reserve(&rb, sizeof(*k) + ((__u64)kstack_pages << 12), 0);
	if (!k) {
		count_lost();
		return;
	}
	kstack_regs(k, regs, call ? ret : BPF_CORE_READ(regs, ax));
	base = k->regs[VP_KREG_RSP] & ~4095ULL;
	/* On the main thread's stack the environment strings lie near its
	 * top: no page past theirs is read (a read that faults past the top
	 * costs ~5 us here, more than the whole copy). */
	env_end = BPF_CORE_READ(task, mm, env_end);
	if (env_end > base && env_end - base < ((__u64)kstack_pages << 12)) {
		lim = ((env_end - 1 - base) >> 12) + 1;
		flags = VP_KSTACK_TOP;
	}
#pragma unroll
	for (int i = 0; i < KSTACK_PAGES_MAX; i++) {
		if (i >= kstack_pages || i >= lim)
			break;
		if (bpf_probe_read_user((char *)(k + 1) + (i << 12), 4096,
					(void *)(base + ((__u64)i << 12)))) {
			flags |= VP_KSTACK_CUT;
			break;
		}
		len += 4096;
	}
	hdr(&k->h, VP_REC_KSTACK, sizeof(*k) + len, now);
	k->h.flags = flags | (what >> 16);
	k->h.pid = TF(task, tgid);
	k->h.tid = TF(task, pid);
	k->call = call;
	k->stack_len = len;
	k->ret = ret;
	k->stack_base = base;
	k->start_code = BPF_CORE_READ(task, mm, start_code);
	__sync_fetch_and_add(&kstacks, 1);
	if (!call)
		__sync_fetch_and_add(&wstacks, 1);
	bpf_ringbuf_submit(k, rb_flags());
}

/* A write fault f on a present page (fault_begin): its stack when the
 * sampling (ws_first, ws_every) says so. */
static __always_inline void wstack_maybe(struct task_struct *task, struct task_state *st,
					 struct vp_fault *f, struct pt_regs *regs)
{
	__u32 n = st->ws_seen++;
	__u32 what = VP_KSTACK_WRITE << 16;

	if (!kstack_pages)
		return;
	if (n >= ws_first) {
		if (!ws_every || bpf_get_prandom_u32() % ws_every)
			return;
		what |= VP_KSTACK_SAMPLED << 16;
	}
	if (!kstack_room()) {
		__sync_fetch_and_add(&wstacks_skipped, 1);
		f->h.flags |= VP_FAULT_WSKIP;
		return;
	}
	kstack_take(task, regs, what, f->addr, f->h.time_ns);
}

static __always_inline int fault_begin(__u64 addr, struct pt_regs *regs, __u64 error_code,
				       __u16 kflag)
{
	struct task_struct *task = CUR_TASK();
	struct task_state *st = state_of(task);
	struct vp_fault *f;

	if (!st)
		return 0;
	if (st->in_fault)
		fault_end(st, 0);
	/* every fault event, for the balance against min_flt + maj_flt
	 * (sys_done, sys_balance); the counter at open tells mm_page_alloc
	 * when this fault has completed */
	st->sys_kf++;
	st->f_flt0 = task_faults(task);
	f = open_slot(st);
	f->h.type = VP_REC_FAULT;
	f->h.flags = kflag;
	f->h.size = sizeof(*f);
	f->h.time_ns = bpf_ktime_get_ns();
	/* = bpf_get_current_pid_tgid(), without the helper call */
	f->h.pid = TF(task, tgid);
	f->h.tid = TF(task, pid);
	f->addr = addr;
	f->ip = regs->ip;
	f->error_code = error_code;
	f->pages = 0;
	f->vm_flags = 0; /* and vma_file: 0 unless a VMA is looked up (_pad is
			  * never written: 0 since the storage was created) */
	f->vma_file = 0;
	if (vma_mode == CT_VMA_EVERY)
		fault_vma(f, task, addr);
	/* a user-mode write to a present page: a copy-on-write copy, a shared
	 * write (or a write replacing the zero page); the record comes before
	 * the fault's, which waits in the batch */
	if ((ws_first || ws_every) && !kflag && (error_code & 3) == 3)
		wstack_maybe(task, st, f, regs);
	if (st->exited) {
		/* after our exit record (e.g. clear_child_tid): no end will come */
		st->in_fault = CT_FAULT_OPEN;
		fault_flush(st, VP_FAULT_CUT);
		return 0;
	}
	st->in_fault = CT_FAULT_OPEN;
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	return fault_begin(address, regs, error_code, 0);
}

SEC("tp_btf/page_fault_kernel")
int BPF_PROG(page_fault_kernel, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code)
{
	if (address >= USER_ADDR_END)
		return 0;
	/* Under pagefault_disable() (write(2)'s copy_folio_from_iter_atomic,
	 * futexes, ...) the handler only runs the exception fixup: nothing is
	 * mapped, the kernel counts no fault, and the caller faults the page in
	 * properly afterwards (a second, real event). Count them apart. */
	if (PF_DISABLED(CUR_TASK())) {
		if (state_of(CUR_TASK()))
			__sync_fetch_and_add(&unhandled, 1);
		return 0;
	}
	return fault_begin(address, regs, error_code, VP_FAULT_KERNEL);
}

/* Whether the open kernel-mode fault f is on an anonymous VMA (no vm_file).
 * Unknown (no VMA, mmap_lock busy) counts as not anonymous: keep counting. */
static __always_inline int kernel_fault_anon(struct vp_fault *f)
{
	struct vma_info vi;

	if (f->h.flags & VP_FAULT_VMA)
		return !f->vma_file;
	if (lookup_vma(CUR_TASK(), f->addr, &vi))
		return 0;
	return !vi.file;
}

/* Has the open fault ended although no event of the task came? Only the
 * traced tree's address-space calls are hooked (bpf/README.md), so a task
 * can return to user space after a fault and allocate in a system call we
 * do not see (page cache in read(2)). Two exact signs: the kernel counts a
 * fault in min_flt/maj_flt when handle_mm_fault completes (mm_account_fault;
 * a retried fault is counted once, at its end), and for a user-mode fault
 * memcg sets task->in_user_fault around handle_mm_fault (a user fault that
 * never got there, e.g. SIGSEGV, is not counted at all). */
static __always_inline int fault_over(struct task_state *st, struct task_struct *task)
{
	if (task_faults(task) != st->f_flt0)
		return 1;
	if (bpf_core_field_exists(task->in_user_fault) &&
	    !(open_slot(st)->h.flags & VP_FAULT_KERNEL) &&
	    !READ_BITFIELD(task, in_user_fault))
		return 1;
	return 0;
}

SEC("tp_btf/mm_page_alloc")
int BPF_PROG(mm_page_alloc, struct page *page, unsigned int order, gfp_t gfp_flags,
	     int migratetype)
{
	struct task_struct *task;
	struct task_state *st;
	struct vp_fault *f;

	/* User pages (anonymous, COW copies, page cache) are movable; page
	 * tables, slab and network buffers are not. Test this before touching
	 * any map: this tracepoint fires for every allocation in the system. */
	if (!(gfp_flags & (1u << ___GFP_MOVABLE_BIT)))
		return 0;
	task = CUR_TASK();
	st = state_of(task);
	if (!st)
		return 0;
	if (st->in_fault != CT_FAULT_NONE && fault_over(st, task))
		fault_end(st, 0);
	if (st->in_fault == CT_FAULT_NONE) {
		/* get_user_pages inside mmap(MAP_POPULATE), madvise(POPULATE_*),
		 * mlock*, ...: no fault event, the pages are the syscall's */
		if (st->sys_in && st->sys_populates)
			st->sys_pages += 1u << (order & 31);
		return 0;
	}
	if (st->in_fault == CT_FAULT_OPEN_NOCOUNT)
		return 0;
	f = open_slot(st);
	if (st->in_fault == CT_FAULT_OPEN && f->pages && (f->h.flags & VP_FAULT_KERNEL)) {
		/* A kernel-mode fault on an anonymous VMA allocates at most one
		 * folio (zero-fill or COW copy): a second allocation before
		 * the next event is the syscall's (read(2) filling the page
		 * cache after its copy_to_user faulted), not the fault's. Only
		 * now is the VMA looked up (rare: most faults allocate once),
		 * from the allocation, where interrupts are on. */
		if (kernel_fault_anon(f)) {
			st->in_fault = CT_FAULT_OPEN_NOCOUNT;
			return 0;
		}
		st->in_fault = CT_FAULT_OPEN_MORE; /* file (readahead): count on */
	} else if (!f->pages && !(f->error_code & 1) && !(gfp_flags & (1u << ___GFP_ZERO_BIT)) &&
		   !(f->h.flags & VP_FAULT_VMA)) {
		/* The first allocation of a not-present fault, not zeroed: the
		 * page cache of a file, shared memory (tmpfs/shmem, which the
		 * analyzer cannot always tell from a file by its path), a THP
		 * or a swap-in. Not on first touches of anonymous memory
		 * (zeroed) nor copy-on-write copies (present): the kernel's
		 * VMA info for the few faults where it tells more, from here
		 * where interrupts are on (no irq_work; -EBUSY: without). */
		fault_vma(f, task, f->addr);
	}
	f->pages += 1u << (order & 31);
	/* The zero-filled page that a first write or a write to the shared
	 * zero page gets is asked for with __GFP_ZERO (order 0); a COW copy is
	 * not. Larger folios (THP, also replacing the huge zero page) are
	 * zeroed after allocation: mark them apart. */
	if (gfp_flags & (1u << ___GFP_ZERO_BIT))
		f->h.flags |= VP_FAULT_ZEROED;
	if (order)
		f->h.flags |= VP_FAULT_HUGE;
	return 0;
}

/* Which syscalls change VMAs and which of them we record. */
static __always_inline __u32 mem_call_of(long id, int *changes_vmas)
{
	*changes_vmas = 1;
	switch (id) {
	case NR_mmap: return VP_CALL_MMAP;
	case NR_munmap: return VP_CALL_MUNMAP;
	case NR_mremap: return VP_CALL_MREMAP;
	case NR_mprotect: return VP_CALL_MPROTECT;
	case NR_madvise: return VP_CALL_MADVISE;
	case NR_brk: return VP_CALL_BRK;
	case NR_shmat: case NR_shmdt: case NR_mlock: case NR_munlock:
	case NR_mlockall: case NR_munlockall: case NR_remap_file_pages:
	case NR_mlock2: case NR_pkey_mprotect: case NR_mseal:
		return 0;
	}
	*changes_vmas = 0;
	return 0;
}

/* Syscalls whose page allocations outside fault events populate VMAs (the
 * rest allocate page cache, pipe buffers, ...: not counted as populated). */
static __always_inline int populates(long id)
{
	switch (id) {
	case NR_mmap: case NR_mremap: case NR_mprotect: case NR_madvise: case NR_brk:
	case NR_mlock: case NR_mlock2: case NR_mlockall: case NR_remap_file_pages:
	case NR_ioctl: /* userfaultfd's UFFDIO_COPY/ZEROPAGE */
		return 1;
	}
	return 0;
}

/* Output one VP_REC_SYSFAULTS: `d` faults the kernel counted for the task
 * without a fault event (and `pages` populated outside fault events) since
 * the last balance, then start the next interval from the task's counters. */
static __always_inline void sys_faults_out(struct task_state *st, struct task_struct *task,
					   __s64 d, __u32 nr, long ret, __u64 a0, __u64 a1,
					   __u64 t0)
{
	struct vp_sysfaults *r;
	__u32 pages = st->sys_pages;
	__u64 maj0 = st->sys_maj0;

	st->sys_flt0 = task_faults(task);
	st->sys_maj0 = TF(task, maj_flt);
	st->sys_kf = 0;
	st->sys_pages = 0;
	if (d <= 0 && !pages)
		return;
	if (d < 0)
		d = 0; /* a fault event that failed (-EFAULT, SIGSEGV): not counted */
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		count_lost();
		return;
	}
	hdr(&r->h, VP_REC_SYSFAULTS, sizeof(*r), bpf_ktime_get_ns());
	r->h.pid = TF(task, tgid);
	r->h.tid = TF(task, pid);
	r->nr = nr;
	r->pages = pages;
	r->faults = d;
	r->majflt = TF(task, maj_flt) - maj0;
	r->args[0] = a0;
	r->args[1] = a1;
	r->ret = ret;
	r->t_enter = t0 ? t0 : r->h.time_ns;
	bpf_ringbuf_submit(r, rb_flags());
}

/* What the task's min_flt + maj_flt grew by beyond the fault events seen
 * since the last balance (sys_flt0, sys_kf). */
static __always_inline __s64 sys_unseen(struct task_state *st, struct task_struct *task)
{
	return (__s64)(task_faults(task) - st->sys_flt0) - st->sys_kf;
}

/* End of the syscall in flight (its exit, or the task's exit inside it):
 * output the faults it made the kernel take without fault events (the clock
 * is read only then: nearly every syscall made none). */
static __always_inline void sys_done(struct task_state *st, struct task_struct *task, long ret)
{
	if (!st->sys_in)
		return;
	st->sys_in = 0;
	sys_faults_out(st, task, sys_unseen(st, task), st->sys_nr, ret, st->sys_args[0],
		       st->sys_args[1], st->sys_t0);
}

/* Between two hooked events: faults that system calls we do not hook made
 * without fault events (O_DIRECT I/O, process_vm_writev, ...), as one
 * VP_REC_SYSFAULTS with nr VP_SYS_UNHOOKED. With every syscall hooked (the
 * raw-tracepoint fallback) the interval holds only user-mode faults: 0. */
static __always_inline void sys_balance(struct task_state *st, struct task_struct *task)
{
	sys_faults_out(st, task, sys_unseen(st, task), VP_SYS_UNHOOKED, 0, 0, 0, 0);
}

/*
 * Signal stacks: the shim's stack of a mapping it did not interpose
 * (malloc's own mmap/brk, ld.so, raw syscalls). The shim announces its
 * handler with a prctl the kernel rejects (sig_announce); at sys_exit of
 * an acquisition made outside the shim's hooks the thread is sent the
 * shim's signal (sig_request), which it takes before running another user
 * instruction: the handler unwinds from the signal context and writes a
 * VP_REC_SIGSTACK. Each condition is tested at every send, so a program
 * that blocks the signal or installs its own handler wins at once, and a
 * program with no handler (a new image before its shim started) is never
 * signalled. The VP_REC_MEM says it was signalled, or why not.
 */
static __always_inline void sig_announce(struct task_state *st, struct task_struct *task,
					 const unsigned long *args)
{
	if (no_signals || args[0] != VP_ANNOUNCE_PRCTL || args[4] != VP_ANNOUNCE_MAGIC)
		return;
	st->sig_handler = args[1];
	st->sig_tls = args[2];
	st->sig_no = args[3] <= 64 ? args[3] : 0;
	st->sig_tgid = TF(task, tgid);
}

static __always_inline __u16 nosig(__u16 why)
{
	return why << VP_MEM_NOSIG_SHIFT;
}

/* Room the shim's handler needs below the stack pointer when the thread
 * already runs on its alternate signal stack (the handler is not
 * SA_ONSTACK: otherwise it runs on the thread's own stack). */
#define SIG_MIN_ROOM (16u << 10)

/* At sys_exit of call `call` (its record's args in st, result ret, user
 * stack pointer sp): send the shim's signal when the call made a mapping
 * and the shim can take the stack. Returns the VP_REC_MEM flags saying what
 * happened. */
static __always_inline __u16 sig_request(struct task_state *st, struct task_struct *task,
					 __u32 call, long ret, __u64 sp)
{
	struct sighand_struct *sh;
	__u64 sig, handler = 0;
	int busy = 0;

	if (ret < 0 && ret >= -4095)
		return 0;
	if (call == VP_CALL_BRK) {
		if ((__u64)ret <= st->sig_brk0)
			return 0; /* a query or a shrink: nothing mapped */
	} else if (call != VP_CALL_MMAP && call != VP_CALL_MREMAP) {
		return 0;
	}
	if (st->sig_tgid != TF(task, tgid))
		return nosig(VP_NOSIG_NO_SHIM);
	sig = st->sig_no;
	if (!sig || sig > 64)
		return nosig(VP_NOSIG_OFF);
	/* the shim's hooks record their calls themselves, and a thread
	 * inside one must not be interrupted by us */
	if (bpf_probe_read_user(&busy, sizeof(busy), (void *)(TF(task, thread.fsbase) + st->sig_tls)))
		return nosig(VP_NOSIG_SEND);
	if (busy)
		return nosig(VP_NOSIG_IN_SHIM);
	if (TF(task, blocked.sig[0]) & (1ULL << (sig - 1)))
		return nosig(VP_NOSIG_BLOCKED);
	if (sp - TF(task, sas_ss_sp) < TF(task, sas_ss_size) &&
	    sp - TF(task, sas_ss_sp) < SIG_MIN_ROOM)
		return nosig(VP_NOSIG_ALTSTACK);
	sh = BPF_CORE_READ(task, sighand);
	if (!sh || bpf_probe_read_kernel(&handler, sizeof(handler),
					 &sh->action[(sig - 1) & 63].sa.sa_handler) ||
	    handler != st->sig_handler)
		return nosig(VP_NOSIG_HANDLER);
	if (bpf_send_signal_thread(sig))
		return nosig(VP_NOSIG_SEND);
	return VP_MEM_SIGNALLED;
}

struct name_rec {
	struct vp_task_name n;
	char argv[VP_NAME_ARGV_MAX];
};

/* VP_REC_TASK_NAME of process `p` (the current task): the leader's comm,
 * the credentials and the argv area of its mm (see record.h). The area is
 * read with bpf_probe_read_user, which does not fault pages in: a page
 * swapped out leaves the argv empty, never a wrong one. */
static __always_inline void emit_name(struct task_struct *p, __u32 why, __u16 flags)
{
	struct mm_struct *mm = TF(p, mm);
	struct name_rec *r;
	__u64 start, end, env_end, len = 0, l2;

	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		count_lost();
		return;
	}
	if (mm) {
		start = BPF_CORE_READ(mm, arg_start);
		end = BPF_CORE_READ(mm, arg_end);
		env_end = BPF_CORE_READ(mm, env_end);
		if (end > start) {
			len = end - start;
			if (len > VP_NAME_ARGV_MAX) {
				len = VP_NAME_ARGV_MAX;
				flags |= VP_NAME_ARGV_CUT;
			}
			barrier_var(len);
			if (len > VP_NAME_ARGV_MAX || len == 0 ||
			    bpf_probe_read_user(r->argv, len, (void *)start)) {
				len = 0;
			} else if (r->argv[(len - 1) & (VP_NAME_ARGV_MAX - 1)] != 0 &&
				   env_end > end && !(flags & VP_NAME_ARGV_CUT)) {
				/* a title written on past the arguments (what
				 * /proc/PID/cmdline then reads: up to the first NUL) */
				l2 = env_end - start;
				if (l2 > VP_NAME_ARGV_MAX)
					l2 = VP_NAME_ARGV_MAX;
				barrier_var(l2);
				if (l2 <= VP_NAME_ARGV_MAX && l2 > 0 &&
				    !bpf_probe_read_user(r->argv, l2, (void *)start)) {
					len = l2;
					flags |= VP_NAME_ARGV_SPILL;
				}
			}
		}
	}
	hdr(&r->n.h, VP_REC_TASK_NAME, VP_ALIGN8(sizeof(r->n) + (__u32)len), bpf_ktime_get_ns());
	r->n.h.flags = flags;
	r->n.h.pid = TF(p, tgid);
	r->n.h.tid = TF(p, pid);
	r->n.why = why;
	r->n.argv_len = len;
	bpf_probe_read_kernel(r->n.comm, sizeof(r->n.comm), BPF_CORE_READ(p, group_leader, comm));
	r->n.uid = BPF_CORE_READ(p, cred, uid.val);
	r->n.euid = BPF_CORE_READ(p, cred, euid.val);
	r->n.gid = BPF_CORE_READ(p, cred, gid.val);
	r->n.egid = BPF_CORE_READ(p, cred, egid.val);
	bpf_ringbuf_submit(r, rb_flags());
}

/* Whether sched_process_exit fires after exit_mm (the mm, with the title a
 * program wrote over its argv, already gone): on kernels whose tracepoint
 * has no group_dead argument yet (Debian's 5.10, 6.1 and 6.12; 6.18 has
 * it, and fires before exit_mm). A CO-RE constant: the loader's relocation
 * against the running kernel's BTF decides it, the verifier drops the
 * other branch. */
static __always_inline int exit_after_mm(void)
{
	return !bpf_core_field_exists(struct trace_event_raw_sched_process_exit, group_dead);
}

/*
 * The mm's own figures (record.h, VP_REC_MMSTAT and VP_REC_RSS).
 *
 * RSS counters differ by kernel: before 6.2 mm->rss_stat is a struct
 * mm_rss_stat of atomic_long_t count[NR_MM_COUNTERS], and each thread keeps
 * counts not yet folded in (task->rss_stat, struct task_rss_stat: folded
 * every 64 events and at exit); from 6.2 mm->rss_stat[] is an array of
 * percpu_counter, whose `count` lags the sum of its per-CPU parts. The
 * flavours below are the old layout; which one the kernel has is a CO-RE
 * constant (bpf_core_type_exists).
 */
struct mm_rss_stat___old {
	atomic_long_t count[VP_RSS_N];
};
struct mm_struct___old {
	struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));
struct task_rss_stat___old {
	int events;
	int count[VP_RSS_N];
};
struct task_struct___old {
	struct task_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

/* Summing a per-CPU counter needs each CPU's per-CPU offset (the address
 * of a per-CPU variable on CPU c is its per-CPU pointer plus
 * __per_cpu_offset[c], x86_64). The default variant takes them from a
 * per-CPU map of its own: bpf_map_lookup_percpu_elem (5.19) gives CPU c's
 * copy of its element, the map's pptrs[0] the element's per-CPU pointer;
 * their difference is the offset. No symbol needed. (A BTF per-CPU
 * symbol, this_cpu_off with bpf_per_cpu_ptr, would do too, but the kernel
 * resolves its address through kallsyms and refuses the program where
 * kallsyms lists no data symbols, as on this 6.18 VM.) The compat variant
 * (no bpf_loop, no bpf_map_lookup_percpu_elem on its kernels, which have
 * no per-CPU RSS counters anyway) reads __per_cpu_offset[], a typeless
 * weak __ksym libbpf resolves from /proc/kallsyms where it is listed
 * (CONFIG_KALLSYMS_ALL), else uses the approximate values. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pcpu_probe SEC(".maps");

extern const void __per_cpu_offset __ksym __weak;

struct pc_sum {
	__u64 counters; /* the s32 __percpu * */
	__u64 base;     /* pcpu_probe's element's per-CPU pointer */
	__s64 sum;
	__u32 bad;
};

static long pc_cb(__u32 cpu, void *data)
{
	struct pc_sum *s = data;
	__u64 off;
	__s32 v;

	if (cpu >= ncpus)
		return 1;
#ifdef VP_COMPAT
	if (bpf_probe_read_kernel(&off, sizeof(off),
				  (void *)((__u64)&__per_cpu_offset + cpu * sizeof(__u64)))) {
		s->bad = 1;
		return 1;
	}
#else
	{
		__u32 zero = 0;
		void *e = bpf_map_lookup_percpu_elem(&pcpu_probe, &zero, cpu);
		__u64 addr;

		if (!e)
			return 0; /* no such CPU */
		/* the element's address as a number */
		if (bpf_probe_read_kernel(&addr, sizeof(addr), &e)) {
			s->bad = 1;
			return 1;
		}
		off = addr - s->base;
	}
#endif
	if (bpf_probe_read_kernel(&v, sizeof(v), (void *)(s->counters + off))) {
		s->bad = 1;
		return 1;
	}
	s->sum += v;
	return 0;
}

/* mm's counters into rss[] (pages); `cur`: the current task when mm is its
 * own (its unfolded counts, before 6.2). Returns VP_MMSTAT_APPROX when a
 * per-CPU counter could not be summed. */
static __always_inline __u16 read_rss(struct mm_struct *mm, struct task_struct *cur, __s64 *rss)
{
	__u16 flags = 0;

	if (bpf_core_type_exists(struct mm_rss_stat___old)) {
		struct mm_struct___old *o = (void *)mm;
		struct task_struct___old *t = (void *)cur;

		for (int i = 0; i < VP_RSS_N; i++) {
			rss[i] = BPF_CORE_READ(o, rss_stat.count[i].counter);
			if (cur && bpf_core_field_exists(t->rss_stat))
				rss[i] += BPF_CORE_READ(t, rss_stat.count[i]);
		}
		return 0;
	}
	__u64 base = 0;
#ifdef VP_COMPAT
	base = (__u64)&__per_cpu_offset;
#else
	{
		void *mp = &pcpu_probe; /* the kernel's struct bpf_array */
		__u64 a = 0;

		/* as a number (no arithmetic on a map pointer), then its pptrs[0] */
		if (!bpf_probe_read_kernel(&a, sizeof(a), &mp) && a)
			bpf_probe_read_kernel(&base, sizeof(base),
					      (void *)(a + bpf_core_field_offset(struct bpf_array, pptrs)));
	}
#endif
	for (int i = 0; i < VP_RSS_N; i++) {
		struct pc_sum s = {};

		s.base = base;
		s.sum = BPF_CORE_READ(mm, rss_stat[i].count);
		s.counters = (__u64)BPF_CORE_READ(mm, rss_stat[i].counters);
		if (!base || !s.counters) {
			flags = VP_MMSTAT_APPROX;
		} else {
			__s64 approx = s.sum;
#ifdef VP_COMPAT
			/* forced onto a 6.2+ kernel (VMAPROF_BPF_VARIANT=compat):
			 * no bpf_loop; a bounded loop for small machines */
			for (__u32 c = 0; c < 64; c++)
				if (pc_cb(c, &s))
					break;
			if (ncpus > 64)
				s.bad = 1;
#else
			bpf_loop(ncpus, pc_cb, &s, 0);
#endif
			if (s.bad) {
				s.sum = approx;
				flags = VP_MMSTAT_APPROX;
			}
		}
		rss[i] = s.sum;
	}
	return flags;
}

/* Bits of task_state.mm_flags */
#define CT_MM_SHARED 0x1 /* on another process's mm (vfork, posix_spawn,
			  * clone(CLONE_VM)) until it execs */
#define CT_MM_WAS_SHARED 0x2 /* was, once: signal->maxrss holds that mm's peak */
#define CT_MM_DONE 0x4   /* its exit reading is written (exit_group) or refused */

/* VP_REC_MMSTAT of the current task's process image (record.h). */
static __always_inline void emit_mmstat(struct task_state *st, struct task_struct *p, __u32 why)
{
	struct mm_struct *mm = TF(p, mm);
	struct vp_mmstat *r;
	__u16 flags = 0;

	if (why == VP_MM_EXIT)
		st->mm_flags |= CT_MM_DONE;
	if (st->mm_flags & CT_MM_SHARED)
		return; /* another process's mm */
	if (why == VP_MM_LATE) {
		if (st->mm_flags & (CT_MM_DONE | CT_MM_WAS_SHARED))
			return;
		mm = NULL;
		flags = VP_MMSTAT_PARTIAL;
	} else if (!mm) {
		return;
	}
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		count_lost();
		return;
	}
	hdr(&r->h, VP_REC_MMSTAT, sizeof(*r), bpf_ktime_get_ns());
	r->h.pid = TF(p, tgid);
	r->h.tid = TF(p, pid);
	r->why = why;
	if (mm) {
		flags = read_rss(mm, p, r->rss);
		r->map_count = BPF_CORE_READ(mm, map_count);
		r->hiwater_rss = BPF_CORE_READ(mm, hiwater_rss);
		r->hiwater_vm = BPF_CORE_READ(mm, hiwater_vm);
		r->total_vm = BPF_CORE_READ(mm, total_vm);
		r->locked_vm = BPF_CORE_READ(mm, locked_vm);
		r->pinned_vm = BPF_CORE_READ(mm, pinned_vm.counter);
		r->data_vm = BPF_CORE_READ(mm, data_vm);
		r->exec_vm = BPF_CORE_READ(mm, exec_vm);
		r->stack_vm = BPF_CORE_READ(mm, stack_vm);
	} else {
		r->map_count = 0;
		r->hiwater_rss = BPF_CORE_READ(p, signal, maxrss);
		r->hiwater_vm = r->total_vm = r->locked_vm = r->pinned_vm = 0;
		r->data_vm = r->exec_vm = r->stack_vm = 0;
		for (int i = 0; i < VP_RSS_N; i++)
			r->rss[i] = 0;
	}
	r->h.flags = flags;
	__sync_fetch_and_add(&mmstats, 1);
	bpf_ringbuf_submit(r, rb_flags());
}

/* The kernel's rss_stat tracepoint: (mm, member, count) before 6.2, (mm,
 * member) since; only mm is read. Fires where an mm counter changes (before
 * 6.2 only when a thread folds its counts in, every 64 events, or on a
 * direct change), for every process on the machine: a traced task's own mm
 * gets a VP_REC_RSS at most every rss_interval_ns. Attached only when asked. */
SEC("tp_btf/rss_stat")
int BPF_PROG(rss_stat, struct mm_struct *mm)
{
	struct task_struct *task = CUR_TASK();
	struct task_state *st = state_of(task);
	struct vp_rss *r;
	__u64 now;

	if (!st || mm != TF(task, mm) || (st->mm_flags & CT_MM_SHARED))
		return 0;
	now = bpf_ktime_get_ns();
	if (now - st->rss_t < rss_interval_ns)
		return 0;
	st->rss_t = now;
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		count_lost();
		return 0;
	}
	hdr(&r->h, VP_REC_RSS, sizeof(*r), now);
	/* the mm's counters only: before 6.2 the tracepoint also fires while
	 * the thread folds its counts in (sync_mm_rss), after the mm's counter
	 * has them and before the thread's are zeroed -- adding those would
	 * count them twice */
	r->h.flags = read_rss(mm, NULL, r->rss);
	__sync_fetch_and_add(&rss_samples, 1);
	bpf_ringbuf_submit(r, rb_flags());
	return 0;
}

/*
 * File paths of mappings (bpf/README.md "File paths of mappings"; record.h
 * VP_MEM_KPATH). A successful file-backed mmap that the shim does not
 * record carries its file's path: the struct file its fd names in the
 * task's fd table (the same one at the call's entry and exit, else the
 * fd changed meanwhile and no path is given), its dentry followed up
 * through d_parent, crossing each mount to its mountpoint (struct mount's
 * mnt_parent and mnt_mountpoint), until the task's own root (fs->root):
 * the path as the process names the file, as its /proc/self/maps would.
 * The walk is bounded (KPATH_DEPTH steps, components and mount crossings
 * together); whatever stops it short of that root -- too deep or long, a
 * root that is not above the file, a read that fails -- gives no path but
 * the reason (VP_KPATH_*), never a part of one. Only the address-space
 * calls' exit runs this, and only for such an mmap: faults never do.
 */
#define MAP_ANONYMOUS_ 0x20
#define KPATH_MAX VP_MAX_PATH /* path_len < KPATH_MAX, as the kernel's PATH_MAX */
#define KPATH_DEPTH 64        /* components and mount crossings walked */
#define KPATH_NAME_MAX 255    /* NAME_MAX: the longest component */

/* The ring-buffer record of such a call: the VP_REC_MEM, then its path,
 * padding and vp_mem_file (the room past KPATH_MAX lets a component be
 * copied at an offset masked to KPATH_MAX - 1 with a length masked to
 * KPATH_NAME_MAX); the components' names found by the walk (leaf first)
 * are kept past that, in the reservation, not on the 512-byte stack. The
 * consumer copies h.size bytes of it (collector.c, on_sample). */
struct mem_kpath {
	struct vp_mem m;
	char path[KPATH_MAX + KPATH_NAME_MAX + 1 + sizeof(struct vp_mem_file)];
	__u64 names[KPATH_DEPTH];
	__u32 lens[KPATH_DEPTH];
};

/* The struct file fd names in task's fd table (0: none). */
static __always_inline __u64 fd_file(struct task_struct *task, __u64 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	__u64 f = 0;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds)
		return 0;
	bpf_probe_read_kernel(&f, sizeof(f), fds + fd);
	return f;
}

static __noinline void kpath_build(struct task_struct *task, struct mem_kpath *r, __u64 file0)
{
	struct file *f = (struct file *)fd_file(task, r->m.args[4] & 0xffffffffULL);
	struct dentry *d, *parent, *root_d;
	struct vfsmount *vm, *root_m;
	struct mount *mnt, *mp;
	__u64 moff = bpf_core_field_offset(struct mount, mnt);
	__u32 n = 0, off = 0, len, k, a, dev = 0;
	__u16 why = VP_KPATH_UNREADABLE;
	__u64 ino = 0;
	int i, done = 0, deleted;
	char *p;

	if (!f || (__u64)f != file0) {
		why = VP_KPATH_FD_CHANGED;
		goto out;
	}
	ino = BPF_CORE_READ(f, f_inode, i_ino);
	dev = BPF_CORE_READ(f, f_inode, i_sb, s_dev);
	d = BPF_CORE_READ(f, f_path.dentry);
	vm = BPF_CORE_READ(f, f_path.mnt);
	root_d = BPF_CORE_READ(task, fs, root.dentry);
	root_m = BPF_CORE_READ(task, fs, root.mnt);
	if (!d || !vm || !root_d || !root_m)
		goto out;
	/* d_unlinked(): unhashed, and not a root */
	deleted = !BPF_CORE_READ(d, d_hash.pprev) && BPF_CORE_READ(d, d_parent) != d;
	why = VP_KPATH_LONG; /* unless the walk ends otherwise */
	/* Step i keeps its component in names[i]/lens[i] (length 0: a mount
	 * crossed), so that every step leaves the verifier the same state
	 * whichever way it went: each step is explored once, not each path. */
	for (i = 0; i < KPATH_DEPTH; i++) {
		if (d == root_d && vm == root_m) {
			done = 1;
			break;
		}
		mnt = (struct mount *)((char *)vm - moff);
		if (d == BPF_CORE_READ(vm, mnt_root)) {
			/* the root of its mount: on to where it is mounted */
			mp = BPF_CORE_READ(mnt, mnt_parent);
			if (!mp || mp == mnt) {
				why = VP_KPATH_UNREACHABLE; /* the namespace's root, or detached */
				break;
			}
			d = BPF_CORE_READ(mnt, mnt_mountpoint);
			vm = (struct vfsmount *)((char *)mp + moff);
			r->lens[i & (KPATH_DEPTH - 1)] = 0;
			continue;
		}
		parent = BPF_CORE_READ(d, d_parent);
		if (!parent || parent == d) {
			why = VP_KPATH_UNREACHABLE; /* disconnected, or a pseudo file */
			break;
		}
		r->names[i & (KPATH_DEPTH - 1)] = (__u64)BPF_CORE_READ(d, d_name.name);
		len = BPF_CORE_READ(d, d_name.len);
		/* a name can be neither empty nor longer than NAME_MAX */
		r->lens[i & (KPATH_DEPTH - 1)] = len ? len : KPATH_NAME_MAX + 1;
		d = parent;
	}
	if (!done)
		goto out;
	/* n = i, read back from memory: a value the verifier does not know,
	 * so that it explores the copy once, not once for each step the walk
	 * could have ended at */
	r->m.path_len = i;
	n = *(volatile __u32 *)&r->m.path_len;
	if (n > KPATH_DEPTH)
		n = KPATH_DEPTH;
	why = deleted ? VP_KPATH_DELETED : VP_KPATH_OK;
	for (i = 0; i < KPATH_DEPTH; i++) {
		if (i >= n)
			break;
		k = (n - 1 - i) & (KPATH_DEPTH - 1);
		len = r->lens[k];
		if (!len)
			continue; /* a mount crossed */
		if (len > KPATH_NAME_MAX) {
			why = VP_KPATH_UNREADABLE;
			off = 0;
			goto out;
		}
		if (off + 1 + len >= KPATH_MAX) {
			why = VP_KPATH_LONG;
			off = 0;
			goto out;
		}
		r->path[off & (KPATH_MAX - 1)] = '/';
		off++;
		if (bpf_probe_read_kernel(&r->path[off & (KPATH_MAX - 1)], len & KPATH_NAME_MAX,
					  (void *)r->names[k])) {
			why = VP_KPATH_UNREADABLE;
			off = 0;
			goto out;
		}
		off += len;
		/* < KPATH_MAX already; masked so that every step leaves the
		 * verifier the same range (barrier_var: not optimized away) */
		barrier_var(off);
		off &= KPATH_MAX - 1;
	}
	if (!off) {
		r->path[0] = '/'; /* the root itself */
		off = 1;
	}
	if (deleted) {
		if (off + 10 >= KPATH_MAX) {
			why = VP_KPATH_LONG;
			off = 0;
			goto out;
		}
		p = &r->path[off & (KPATH_MAX - 1)];
		p[0] = ' ';
		p[1] = '(';
		p[2] = 'd';
		p[3] = 'e';
		p[4] = 'l';
		p[5] = 'e';
		p[6] = 't';
		p[7] = 'e';
		p[8] = 'd';
		p[9] = ')';
		off += 10;
	}
out:
	off &= KPATH_MAX - 1; /* < KPATH_MAX already: for the verifier */
	p = &r->path[off];
	for (i = 0; i < 8; i++)
		p[i] = 0; /* the padding up to 8 */
	a = VP_ALIGN8(off);
	if (a > KPATH_MAX)
		a = KPATH_MAX;
	struct vp_mem_file *tf = (struct vp_mem_file *)&r->path[a];
	tf->ino = ino;
	tf->dev = dev;
	tf->why = why;
	tf->_pad = 0;
	r->m.path_len = off;
	r->m.h.size = sizeof(r->m) + a + sizeof(*tf);
	r->m.h.flags |= VP_MEM_KPATH;
}

/* A hooked system call enters: `id` its number, `args` its six arguments. */
static __always_inline void sys_enter_common(struct task_state *st, struct task_struct *task,
					     long id, const unsigned long *args)
{
	int changes;
	__u32 call;

	fault_flush(st, 0);
	sys_done(st, task, 0); /* a missed exit: close that syscall first */
	sys_balance(st, task);
	st->sys_in = 1;
	st->sys_nr = id;
	st->sys_populates = populates(id);
	st->sys_args[0] = args[0];
	st->sys_args[1] = args[1];
	st->sys_t0 = bpf_ktime_get_ns();
	if (id == NR_prctl) {
		sig_announce(st, task, args);
		return;
	}
	if (id == NR_exit_group && exit_after_mm()) {
		/* the last look at the mm on kernels whose exit tracepoint
		 * comes after exit_mm: the title the program leaves, and the
		 * mm's own figures */
		emit_name(task, VP_NAME_EXIT, 0);
		emit_mmstat(st, task, VP_MM_EXIT);
		return;
	}
	if (id == NR_execve || id == NR_execveat) {
		/* the image an exec may replace (a failed one: a later reading
		 * of the process supersedes this) */
		emit_mmstat(st, task, VP_MM_EXEC);
		return;
	}
	call = mem_call_of(id, &changes);
	if (!changes)
		return;
	st->mem_call = call;
	if (!call)
		return;
	st->mem_t0 = st->sys_t0;
	st->mem_args[0] = args[0];
	st->mem_args[1] = args[1];
	st->mem_args[2] = args[2];
	st->mem_args[3] = args[3];
	st->mem_args[4] = args[4];
	st->mem_args[5] = args[5];
	/* a file-backed mmap: the file its fd names now (kpath_build) */
	st->mem_file = 0;
	if (kpath_on && call == VP_CALL_MMAP && !(args[3] & MAP_ANONYMOUS_) && (int)args[4] >= 0)
		st->mem_file = fd_file(task, (__u32)args[4]);
	if (call == VP_CALL_BRK)
		st->sig_brk0 = BPF_CORE_READ(task, mm, brk);
}

/* The VP_REC_MEM of the call in flight into m (its exit: ret at now);
 * *ks: whether a kernel stack goes with it. Returns its flags. */
static __always_inline __u16 mem_fill(struct task_state *st, struct task_struct *task,
				      struct vp_mem *m, long ret, __u64 sp, __u64 now, int *ks)
{
	__u16 flags;

	hdr(&m->h, VP_REC_MEM, sizeof(*m), st->mem_t0);
	flags = VP_MEM_FROM_KERNEL | sig_request(st, task, st->mem_call, ret, sp);
	*ks = kstack_wanted(st, flags);
	if (*ks && !kstack_room()) {
		*ks = 0;
		flags |= VP_MEM_KSKIP;
	}
	m->h.flags = flags;
	m->call = st->mem_call;
	m->ret = ret;
	m->err = (ret < 0 && ret >= -4095) ? -ret : 0;
	m->args[0] = st->mem_args[0];
	m->args[1] = st->mem_args[1];
	m->args[2] = st->mem_args[2];
	m->args[3] = st->mem_args[3];
	m->args[4] = st->mem_args[4];
	m->args[5] = st->mem_args[5];
	m->t_end = now;
	m->stack_id = 0;
	m->path_len = 0;
	return flags;
}

/* A hooked system call exits with `ret`; `sp`: the user stack pointer;
 * `regs`: the user registers (for kernel stacks). */
static __always_inline void sys_exit_common(struct task_state *st, struct task_struct *task,
					    long ret, __u64 sp, struct pt_regs *regs)
{
	struct mem_kpath *r;
	struct vp_mem *m;
	__u64 now, file0;
	__u32 call;
	__u16 flags;
	int ks;

	fault_flush(st, 0);
	sys_done(st, task, ret);
	if (!st->mem_call)
		return;
	now = bpf_ktime_get_ns();
	call = st->mem_call;
	file0 = st->mem_file;
	st->mem_file = 0;
	if (call == VP_CALL_MMAP && file0 && (ret < -4095 || ret >= 0)) {
		/* a file-backed mapping made: its path, unless the shim
		 * records the call (with the path it reads itself) */
		r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
		if (!r) {
			count_lost();
			st->mem_call = 0;
			return;
		}
		flags = mem_fill(st, task, &r->m, ret, sp, now, &ks);
		if (kpath_on && VP_MEM_NOSIG(flags) != VP_NOSIG_IN_SHIM)
			kpath_build(task, r, file0);
		st->mem_call = 0;
		bpf_ringbuf_submit(r, rb_flags());
	} else {
		m = bpf_ringbuf_reserve(&rb, sizeof(*m), 0);
		if (!m) {
			count_lost();
			st->mem_call = 0;
			return;
		}
		mem_fill(st, task, m, ret, sp, now, &ks);
		st->mem_call = 0;
		bpf_ringbuf_submit(m, rb_flags());
	}
	if (ks)
		kstack_take(task, regs, call, ret, now);
}

/*
 * How system calls are hooked (bpf/README.md): the raw sys_enter/sys_exit
 * tracepoints below, which run for every system call on the machine, for
 * a recording's first 500 ms and the attach; then (where they can be had) the
 * per-syscall tracepoints syscalls:sys_{enter,exit}_NAME of the calls
 * listed in collector.c (address-space calls, prctl, ioctl, execve),
 * attached through perf events, so that a system call of any other kind,
 * in any process, runs none of our code. (Attaching them takes 10-20 ms,
 * which the command's start should not wait for.) Both pairs
 * share the code above.
 */
/* The system call's six arguments, from the user registers at entry. */
static __always_inline void user_args(struct pt_regs *regs, unsigned long *args)
{
	args[0] = regs->di;
	args[1] = regs->si;
	args[2] = regs->dx;
	args[3] = regs->r10;
	args[4] = regs->r8;
	args[5] = regs->r9;
}

#ifdef VP_COMPAT
/* No bpf_task_pt_regs (Linux 5.15) to read the arguments of every call
 * from: the compat variant hooks system calls through the raw pair only,
 * and these are never attached (the skeleton has them in both). */
SEC("tracepoint")
int sc_enter(struct trace_event_raw_sys_enter *ctx)
{
	return 0;
}

SEC("tracepoint")
int sc_exit(struct trace_event_raw_sys_exit *ctx)
{
	return 0;
}
#else
SEC("tracepoint")
int sc_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_state *st = state_of(task);
	struct pt_regs *regs;
	unsigned long args[6];

	if (!st || *(volatile __u32 *)&sys_mode != 1)
		return 0;
	/* Not from ctx: an event has only as many args as its call, and the
	 * kernel refuses a program that reads past the event's end
	 * (max_ctx_offset) on the shorter ones. The user registers at entry
	 * are the raw tracepoint's. */
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	user_args(regs, args);
	sys_enter_common(st, task, regs->orig_ax, args);
	return 0;
}

SEC("tracepoint")
int sc_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_state *st = state_of(task);

	if (!st || *(volatile __u32 *)&sys_mode != 1)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);

	sys_exit_common(st, task, ctx->ret, regs->sp, regs);
	return 0;
}
#endif

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task = CUR_TASK();
	struct task_state *st = state_of(task);
	unsigned long args[6];

	if (!st || *(volatile __u32 *)&sys_mode != 0)
		return 0;
	user_args(regs, args);
	sys_enter_common(st, task, id, args);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = CUR_TASK();
	struct task_state *st = state_of(task);

	if (!st || *(volatile __u32 *)&sys_mode != 0)
		return 0;
	sys_exit_common(st, task, ret, regs->sp, regs);
	return 0;
}

/*
 * fentry/fexit on the system calls' own entry functions (__x64_sys_NAME,
 * what the syscall table calls with the user registers): where the kernel
 * has BPF trampolines, only a call of that kind, by any process, runs our
 * code, and nothing else on the machine changes (a syscall tracepoint
 * puts every task on the slow syscall path). Each pair knows its call's
 * number; the arguments come from the registers it is handed (the same as
 * the raw tracepoint's), so the compat variant has them too. bpf/README.md,
 * "How system calls are hooked", has the table of what each kernel allows.
 * The loader loads only the pairs whose function the kernel's BTF has
 * (mseal: 6.10) and exit_group's entry only where sched_process_exit comes
 * after exit_mm (as with the tracepoints).
 */
#ifdef VP_COMPAT
/* The compat variant's kernels: on Debian's 5.10 some of these functions
 * (__x64_sys_mremap) have their parameter typed in BTF as a pointer to a
 * forward-declared struct pt_regs, and that verifier refuses any read of
 * such an argument ("arg0 type FWD is not a struct"). So the argument's
 * slot is read as plain memory and the registers through
 * bpf_probe_read_kernel, as this variant reads the task. */
static __always_inline struct pt_regs *fentry_regs(void *ctx)
{
	struct pt_regs *regs = NULL;

	bpf_probe_read_kernel(&regs, sizeof(regs), ctx);
	return regs;
}

static __always_inline void fentry_args(struct pt_regs *regs, unsigned long *args)
{
	args[0] = BPF_CORE_READ(regs, di);
	args[1] = BPF_CORE_READ(regs, si);
	args[2] = BPF_CORE_READ(regs, dx);
	args[3] = BPF_CORE_READ(regs, r10);
	args[4] = BPF_CORE_READ(regs, r8);
	args[5] = BPF_CORE_READ(regs, r9);
}
#define FENTRY_SP(regs) BPF_CORE_READ(regs, sp)
#else
static __always_inline struct pt_regs *fentry_regs(void *ctx)
{
	return (struct pt_regs *)((__u64 *)ctx)[0];
}
#define fentry_args user_args
#define FENTRY_SP(regs) ((regs)->sp)
#endif

static __always_inline int fentry_enter(void *ctx, long nr)
{
	struct task_struct *task = CUR_TASK();
	struct task_state *st = state_of(task);
	unsigned long args[6];

	if (!st || *(volatile __u32 *)&sys_mode != 2)
		return 0;
	fentry_args(fentry_regs(ctx), args);
	sys_enter_common(st, task, nr, args);
	return 0;
}

/* fexit: ctx[0] the registers, ctx[1] the return value. */
static __always_inline int fentry_exit(void *ctx)
{
	struct task_struct *task = CUR_TASK();
	struct task_state *st = state_of(task);
	long ret = (long)((__u64 *)ctx)[1];
	struct pt_regs *regs;

	if (!st || *(volatile __u32 *)&sys_mode != 2)
		return 0;
	regs = fentry_regs(ctx);
	sys_exit_common(st, task, ret, FENTRY_SP(regs), regs);
	return 0;
}

#define FENTRY_PAIR(name)						\
	SEC("fentry/__x64_sys_" #name)					\
	int fe_##name(void *ctx)					\
	{								\
		return fentry_enter(ctx, NR_##name);			\
	}								\
	SEC("fexit/__x64_sys_" #name)					\
	int fx_##name(void *ctx)					\
	{								\
		return fentry_exit(ctx);				\
	}

/* Keep in step with hooked_calls in collector.c. */
FENTRY_PAIR(mmap)
FENTRY_PAIR(munmap)
FENTRY_PAIR(mremap)
FENTRY_PAIR(mprotect)
FENTRY_PAIR(madvise)
FENTRY_PAIR(brk)
FENTRY_PAIR(shmat)
FENTRY_PAIR(shmdt)
FENTRY_PAIR(mlock)
FENTRY_PAIR(munlock)
FENTRY_PAIR(mlockall)
FENTRY_PAIR(munlockall)
FENTRY_PAIR(mlock2)
FENTRY_PAIR(remap_file_pages)
FENTRY_PAIR(pkey_mprotect)
FENTRY_PAIR(mseal)
FENTRY_PAIR(ioctl)
FENTRY_PAIR(prctl)
FENTRY_PAIR(execve)
FENTRY_PAIR(execveat)

/* exit_group never returns: its entry only. */
SEC("fentry/__x64_sys_exit_group")
int fe_exit_group(void *ctx)
{
	return fentry_enter(ctx, NR_exit_group);
}

#ifdef VP_COMPAT
/* A zeroed entry of the new task (replacing one a freed task with the same
 * tid might have left). */
static __always_inline struct task_state *new_state(struct task_struct *child)
{
	__u32 tid = child->pid, k = 0;
	struct task_state *st, *zero = bpf_map_lookup_elem(&zero_state, &k);

	if (!zero || bpf_map_update_elem(&tstate, &tid, zero, BPF_ANY))
		return NULL; /* the map is full */
	st = bpf_map_lookup_elem(&tstate, &tid);
	if (st)
		st->task = (__u64)child;
	return st;
}
#else
static __always_inline struct task_state *new_state(struct task_struct *child)
{
	return bpf_task_storage_get(&tstate, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
}
#endif

/*
 * PID namespaces (record.h, VP_REC_TASK_NS): a task in a namespace below
 * the initial one (a container, `unshare --pid`) is numbered by every
 * namespace of its hierarchy. Our records number it in the initial one,
 * the shim's records in its own (getpid()), the recorder in its own: this
 * record gives the analyzer all of them, once per task -- at its creation
 * (a thread too), at exec (the first process was created by the recorder
 * before it was traced) and, for `record -p`, for the tasks already
 * running (ns_tasks). Nothing is written for a task of the initial
 * namespace: one load of its pid's level.
 */
struct ns_rec {
	struct vp_task_ns n;
	struct vp_ns_id ids[VP_NS_LEVELS];
};

static __always_inline void emit_ns(struct task_struct *t)
{
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	struct ns_rec *r;
	__u32 level, i;

	if (!pid)
		return;
	level = BPF_CORE_READ(pid, level);
	if (!level || level >= VP_NS_LEVELS)
		return; /* the initial namespace (>= VP_NS_LEVELS: never) */
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		count_lost();
		return;
	}
	for (i = 0; i < VP_NS_LEVELS; i++) {
		struct upid *u = &pid->numbers[i];

		if (i > level)
			break;
		r->ids[i].nr = BPF_CORE_READ(u, nr);
		r->ids[i].ns = BPF_CORE_READ(u, ns, ns.inum);
	}
	hdr(&r->n.h, VP_REC_TASK_NS, sizeof(r->n) + (level + 1) * sizeof(struct vp_ns_id),
	    bpf_ktime_get_ns());
	r->n.h.pid = BPF_CORE_READ(t, tgid);
	r->n.h.tid = BPF_CORE_READ(t, pid);
	r->n.level = level;
	r->n.count = level + 1;
	bpf_ringbuf_submit(r, rb_flags());
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_process_fork, struct task_struct *parent, struct task_struct *child)
{
	struct task_state *st = state_of(parent), *cst;
	struct vp_task_fork *e;

	if (!st || child->tgid == self_tgid)
		return 0;
	cst = new_state(child);
	if (!cst) {
		__sync_fetch_and_add(&untracked, 1);
		return 0;
	}
	cst->traced = 1;
	/* signal stacks: a thread shares the announcement; a forked process
	 * is a copy of the parent's memory (the same handler at the same
	 * address: it takes it over under its own tgid, and the shim need not
	 * announce again, which a seccomp filter might not allow). A child
	 * sharing the parent's memory without being a thread (vfork,
	 * posix_spawn, clone(CLONE_VM)) runs on the parent's shim state: it is
	 * never signalled (sig_request compares tgids). */
	if (child->tgid != parent->tgid)
		st->ws_seen = 0; /* each side of a fork: its first write stacks */
	cst->sig_handler = st->sig_handler;
	cst->sig_tls = st->sig_tls;
	cst->sig_no = st->sig_no;
	cst->img_no_shim = st->img_no_shim; /* the same image */
	cst->mm_flags = st->mm_flags & (CT_MM_SHARED | CT_MM_WAS_SHARED);
	if (child->tgid != parent->tgid && child->mm == parent->mm)
		cst->mm_flags |= CT_MM_SHARED | CT_MM_WAS_SHARED;
	cst->sig_tgid = st->sig_tgid == parent->tgid &&
			(child->tgid == parent->tgid || child->mm != parent->mm) ? child->tgid : 0;
	emit_ns(child);
	if (child->tgid == parent->tgid)
		return 0; /* a thread: followed, but no record */
	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	hdr(&e->h, VP_REC_TASK_FORK, sizeof(*e), bpf_ktime_get_ns());
	e->h.pid = parent->tgid;
	e->h.tid = parent->pid;
	e->child_pid = child->tgid;
	e->child_tid = child->pid;
	bpf_ringbuf_submit(e, rb_flags());
	return 0;
}

#define AT_NULL 0
#define AT_BASE 7
#define SECCOMP_MODE_FILTER 2

/* At exec (the new image's mm and auxv built, sched_process_exec): whether
 * no shim can announce itself in the image, so that its acquisitions take
 * kernel stacks by default (kstack_wanted; CT_IMG_*). A secure exec
 * (setuid, setgid, file capabilities: ld.so ignores LD_PRELOAD); a seccomp
 * filter inherited across the exec (the shim then makes no call of its
 * own: no announcement, so no signal); no program interpreter (AT_BASE 0
 * in the auxv the ELF loader wrote into mm->saved_auxv: a static or
 * static-pie binary, nothing ld.so could preload). A dynamic image keeps
 * waiting for its shim: ld.so's own calls before it runs take none. An
 * image the ELF loader did not make (no AT_BASE at all) counts as one
 * that may have a shim. */
static __always_inline __u8 image_no_shim(struct task_struct *p, struct linux_binprm *bprm)
{
	struct mm_struct *mm = BPF_CORE_READ(p, mm); /* bprm->mm is NULL by now */
	__u64 pair[2];
	__u32 n;

	if (BPF_CORE_READ_BITFIELD(bprm, secureexec))
		return CT_IMG_SECURE;
	if (BPF_CORE_READ(p, seccomp.mode) == SECCOMP_MODE_FILTER)
		return CT_IMG_SECCOMP;
	if (!mm)
		return CT_IMG_SHIM;
	n = bpf_core_field_size(mm->saved_auxv) / sizeof(pair);
	for (__u32 i = 0; i < 32; i++) {
		if (i >= n)
			break;
		if (bpf_probe_read_kernel(pair, sizeof(pair), &mm->saved_auxv[2 * i]))
			break;
		if (pair[0] == AT_NULL)
			break;
		if (pair[0] == AT_BASE)
			return pair[1] ? CT_IMG_SHIM : CT_IMG_STATIC;
	}
	return CT_IMG_SHIM;
}

struct exec_rec {
	struct vp_task_exec e;
	char path[CT_EXEC_PATH_MAX + sizeof(struct vp_exec_file)];
};

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec, struct task_struct *p, pid_t old_pid,
	     struct linux_binprm *bprm)
{
	struct task_state *st = state_of(p);
	struct vp_exec_file *xf;
	struct exec_rec *r;
	__u32 off;
	long n;

	if (!st)
		return 0;
	fault_flush(st, 0);
	st->sig_tgid = 0; /* new image: no shim handler until it announces */
	st->mm_flags &= ~CT_MM_SHARED; /* its own mm now */
	st->sig_no = 0;
	st->img_no_shim = image_no_shim(p, bprm);
	/* a new image's first writes on present pages are its loader's
	 * relocations (copies of the files' data pages), not a fork's cost:
	 * sampled 1 in ws_every, the first ws_first are for the next fork
	 * (300 x /bin/true took 8 stacks each, 13 s to unwind) */
	st->ws_seen = ws_first;
	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r) {
		count_lost();
		return 0;
	}
	n = bpf_probe_read_kernel_str(r->path, CT_EXEC_PATH_MAX, bprm->filename);
	if (n < 1)
		n = 1;
	if (n > CT_EXEC_PATH_MAX)
		n = CT_EXEC_PATH_MAX;
	/* the file itself, after the path's NUL (record.h: VP_TEXEC_FILE):
	 * a relative path is resolved by it once the process is gone */
	off = ((__u32)n + 7) & ~7u;
	if (off > CT_EXEC_PATH_MAX)
		off = CT_EXEC_PATH_MAX;
	xf = (struct vp_exec_file *)(r->path + off);
	xf->ino = BPF_CORE_READ(bprm, file, f_inode, i_ino);
	xf->dev = BPF_CORE_READ(bprm, file, f_inode, i_sb, s_dev);
	xf->_pad = 0;
	hdr(&r->e.h, VP_REC_TASK_EXEC, sizeof(r->e) + off + sizeof(*xf), bpf_ktime_get_ns());
	r->e.h.flags = VP_TEXEC_FILE;
	r->e.old_pid = old_pid;
	r->e.path_len = n - 1;
	bpf_ringbuf_submit(r, rb_flags());
	/* who the new image is: its argv, and whether the loader ran in
	 * secure mode (then it ignored LD_PRELOAD: no shim trace will come) */
	emit_name(p, VP_NAME_EXEC,
		  BPF_CORE_READ_BITFIELD(bprm, secureexec) ? VP_NAME_SECURE : 0);
	emit_ns(p);
	return 0;
}

struct flt_sum {
	__u64 head;  /* &signal->thread_head */
	__u64 pos;   /* current list node (task->thread_node) */
	__u64 min;
	__u64 maj;
};

static long flt_cb(__u32 i, void *data)
{
	struct flt_sum *s = data;
	struct task_struct *t;
	struct list_head *pos = (void *)s->pos;

	if (!s->pos || s->pos == s->head)
		return 1;
	t = (void *)(s->pos - bpf_core_field_offset(struct task_struct, thread_node));
	s->min += BPF_CORE_READ(t, min_flt);
	s->maj += BPF_CORE_READ(t, maj_flt);
	s->pos = (__u64)BPF_CORE_READ(pos, next);
	return 0;
}

/* What getrusage(RUSAGE_SELF) sums: the counters of released threads
 * (folded into signal) plus those of every thread still listed. */
static __always_inline __u16 sum_threads(struct task_struct *p, struct flt_sum *s)
{
	struct signal_struct *sig = BPF_CORE_READ(p, signal);

	s->min = BPF_CORE_READ(sig, min_flt);
	s->maj = BPF_CORE_READ(sig, maj_flt);
	s->head = (__u64)&sig->thread_head;
	s->pos = (__u64)BPF_CORE_READ(sig, thread_head.next);
#ifdef VP_COMPAT
	for (int i = 0; i < CT_COMPAT_THREADS; i++)
		if (flt_cb(i, s))
			break;
	/* more threads listed than the loop may visit: said in the record */
	if (s->pos && s->pos != s->head)
		return VP_EXIT_THREADS_CUT;
#else
	bpf_loop(MAX_THREADS, flt_cb, s, 0);
#endif
	return 0;
}

/* The tracepoint's arguments: (p) until the kernel that added group_dead
 * (6.18 has it; Debian's 5.10, 6.1 and 6.12 do not). Read from the raw
 * context: the verifier refuses a program reading an argument the
 * tracepoint lacks, and on the kernels without it the CO-RE test below is a
 * constant that drops that read. There the exiting thread decremented
 * signal->live before the tracepoint: 0 means no thread of the group is
 * left. (Two last threads exiting at once may both see 0: the analyzer
 * keeps one exit per process, the larger counters.) */
SEC("tp_btf/sched_process_exit")
int sched_process_exit(__u64 *ctx)
{
	struct task_struct *p = (struct task_struct *)ctx[0];
	struct task_state *st = state_of(p);
	struct vp_task_exit *e;
	struct flt_sum s = {};
	int group_dead;
	__u16 cut;

	if (!st)
		return 0;
	if (bpf_core_field_exists(struct trace_event_raw_sched_process_exit, group_dead))
		group_dead = (__u8)ctx[1];
	else
		group_dead = BPF_CORE_READ(p, signal, live.counter) == 0;
	fault_flush(st, VP_FAULT_CUT);
	/* exit_group / exit, or a syscall a fatal signal ended: what it made
	 * the kernel fault in so far, before the counters below are read */
	sys_done(st, p, 0);
	sys_balance(st, p);
	st->exited = 1;
	if (!group_dead)
		return 0;
	/* Before exit_mm where the tracepoint has group_dead: the mm, with
	 * the title the program may have written over its argv, is still
	 * there. After it elsewhere: comm and credentials only (the title
	 * was read at exit_group). */
	emit_name(p, VP_NAME_EXIT, 0);
	emit_mmstat(st, p, exit_after_mm() ? VP_MM_LATE : VP_MM_EXIT);
	cut = sum_threads(p, &s);
	e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	hdr(&e->h, VP_REC_TASK_EXIT, sizeof(*e), bpf_ktime_get_ns());
	e->h.flags = cut;
	e->h.pid = TF(p, tgid);
	e->h.tid = TF(p, pid);
	e->min_flt = s.min;
	e->maj_flt = s.maj;
	e->exit_code = BPF_CORE_READ(p, exit_code);
	e->_pad = 0;
	bpf_ringbuf_submit(e, rb_flags());
	return 0;
}

/* The compat variant's entry of a task goes with the task (in the default
 * one the kernel frees task storage itself; there this program is not
 * loaded). Only the entry of this very task: its tid may be another's by
 * now. */
SEC("tp_btf/sched_process_free")
int BPF_PROG(sched_process_free, struct task_struct *p)
{
#ifdef VP_COMPAT
	__u32 tid = p->pid;
	struct task_state *st = bpf_map_lookup_elem(&tstate, &tid);

	if (st && (st->task == (__u64)p || !st->task))
		bpf_map_delete_elem(&tstate, &tid);
#endif
	return 0;
}

/*
 * Run once by collector__finish after the producers above are detached (and
 * an RCU grace period has passed, so none of them is still running): output
 * every task's pending faults, the open one with VP_FAULT_CUT (recording
 * stopped before its end). Tasks still in user space hold such records.
 */
SEC("iter/task")
int flush_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct task_state *st;

	if (!task)
		return 0;
#ifdef VP_COMPAT
	st = state_of(task);
#else
	st = bpf_task_storage_get(&tstate, task, 0, 0);
#endif
	if (!st)
		return 0;
	fault_flush(st, VP_FAULT_CUT);
	return 0;
}

/*
 * Run by collector__track_thread where user space cannot name one thread's
 * task storage (no PIDFD_THREAD, Linux 6.9): every task listed in `marks`
 * gets its entry with the initial state there, unless it has one already
 * (a thread sched_process_fork marked meanwhile: its state is kept).
 */
SEC("iter/task")
int mark_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct task_state *init;
	__u32 tid;

	if (!task)
		return 0;
	tid = task->pid;
	init = bpf_map_lookup_elem(&marks, &tid);
	if (!init || init->_pad0)
		return 0;
#ifdef VP_COMPAT
	if (bpf_map_update_elem(&tstate, &tid, init, BPF_NOEXIST)) {
		init->_pad0 = bpf_map_lookup_elem(&tstate, &tid) ? CT_MARK_EXISTED : CT_MARK_FAILED;
		return 0;
	}
	init->_pad0 = CT_MARK_CREATED;
	if ((init = bpf_map_lookup_elem(&tstate, &tid)))
		init->task = (__u64)task;
#else
	if (bpf_task_storage_get(&tstate, task, 0, 0)) {
		init->_pad0 = CT_MARK_EXISTED;
		return 0;
	}
	init->_pad0 = bpf_task_storage_get(&tstate, task, init, BPF_LOCAL_STORAGE_GET_F_CREATE)
			      ? CT_MARK_CREATED
			      : CT_MARK_FAILED;
#endif
	return 0;
}

/*
 * Run once by collector__announce_ns (`record -p`, after every thread of
 * the attached processes is marked): the namespace ids of each traced task
 * that was running before we traced it (emit_ns; tasks created later have
 * theirs from sched_process_fork).
 */
SEC("iter/task")
int ns_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task || !state_of(task))
		return 0;
	emit_ns(task);
	return 0;
}
