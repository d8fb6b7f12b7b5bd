// SPDX-License-Identifier: GPL-2.0 OR MIT
/* Empty programs for measuring what hooking syscalls costs everyone else
 * (bench/NOTES.md "Untraced processes"), and the floor of the collector's
 * per-fault cost: empty programs at its two fault tracepoints (bench/run.py,
 * "floor" rows). Not part of vmaprof. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

SEC("tp_btf/sys_enter")
int BPF_PROG(raw_enter, struct pt_regs *regs, long id) { return 0; }
SEC("tp_btf/sys_exit")
int BPF_PROG(raw_exit, struct pt_regs *regs, long ret) { return 0; }
/* the collector's untraced path: one load and a branch */
SEC("tp_btf/sys_enter")
int BPF_PROG(raw_enter_test, struct pt_regs *regs, long id)
{
	struct task_struct *t = bpf_get_current_task_btf();
	return t->bpf_storage ? 1 : 0;
}
SEC("tracepoint/syscalls/sys_enter_mmap")
int tp_enter(struct trace_event_raw_sys_enter *ctx) { return 0; }
SEC("tracepoint/syscalls/sys_exit_mmap")
int tp_exit(struct trace_event_raw_sys_exit *ctx) { return 0; }
/* an address-space attach point that is not a syscall tracepoint */
SEC("tp_btf/mmap_lock_start_locking")
int BPF_PROG(ml_start, struct mm_struct *mm, bool write) { return 0; }
SEC("tp_btf/mmap_lock_released")
int BPF_PROG(ml_released, struct mm_struct *mm, bool write) { return 0; }
/* the floor of the collector's fault programs: the same attach points,
 * nothing done */
SEC("tp_btf/page_fault_user")
int BPF_PROG(page_fault_user, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code) { return 0; }

/* The floor of any recorder of faults (sysfloor record): what a program
 * that keeps per-task state for the traced tree and dates each fault
 * cannot avoid. Tasks of the tree have a slot in task storage (the
 * command's first task gets it from user space, forks inherit it in
 * rec_fork); page_fault_user tests the task, finds its slot, reads the
 * clock (rec_clock) and writes the fault's time, address and ip there.
 * No batch, no ring buffer, no fault classification. */
const volatile int rec_clock = 1;

struct rec_slot {
	__u64 time;
	__u64 addr;
	__u64 ip;
	__u64 n;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct rec_slot);
} rec_tasks SEC(".maps");

SEC("tp_btf/page_fault_user")
int BPF_PROG(rec_pfu, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct rec_slot *r;

	if (!t->bpf_storage)
		return 0;
	r = bpf_task_storage_get(&rec_tasks, t, 0, 0);
	if (!r)
		return 0;
	r->time = rec_clock ? bpf_ktime_get_ns() : 0;
	r->addr = address;
	r->ip = regs->ip;
	r->n++;
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(rec_fork, struct task_struct *parent, struct task_struct *child)
{
	if (parent->bpf_storage && bpf_task_storage_get(&rec_tasks, parent, 0, 0))
		bpf_task_storage_get(&rec_tasks, child, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	return 0;
}

SEC("tp_btf/mm_page_alloc")
int BPF_PROG(mm_page_alloc, struct page *page, unsigned int order, gfp_t gfp_flags,
	     int migratetype) { return 0; }

/* The floor of the collector's start (sysfloor start): empty programs at
 * every attach point a default recording attaches at its start (with
 * raw_enter/raw_exit and the two fault programs above), and maps like
 * its ring buffer and task storage. Loading them costs libbpf's reading
 * of the kernel's BTF and the attaches; the verifier has nothing to
 * explore. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} st_rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} st_tasks SEC(".maps");

SEC("tp_btf/page_fault_kernel")
int BPF_PROG(st_pfk, unsigned long address, struct pt_regs *regs,
	     unsigned long error_code) { return 0; }
SEC("tp_btf/sched_process_fork")
int BPF_PROG(st_fork, struct task_struct *parent, struct task_struct *child) { return 0; }
SEC("tp_btf/sched_process_exec")
int BPF_PROG(st_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	return 0;
}
SEC("tp_btf/sched_process_exit")
int BPF_PROG(st_exit, struct task_struct *p) { return 0; }
SEC("iter/task")
int st_iter(struct bpf_iter__task *ctx) { return 0; }
