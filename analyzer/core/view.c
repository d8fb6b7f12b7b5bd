/* SPDX-License-Identifier: MIT */
/* What the values of a finished analysis are called (view.h): the names
 * of populating syscalls, entry kinds, origins and ends,
 * and why an entry has no stack. The core (sites.c keys stackless call
 * sites by them) and the outputs use these; the fault classes' names,
 * which diff reads too, are in fclass.c. */
#include "view.h"

const char *const pop_name[POP_N] = { "mmap", "madvise", "mlock", "mremap", "mprotect",
				      "brk", "execve", "ioctl", "other" };
const char *const vk_name[] = { "heap", "stack", "anon", "file", "shm",
				"code", "data", "vdso", "other" };
const char *const vo_name[] = { "mmap", "mremap", "brk", "initial",
				"inherited", "exec", "syscall" };
const char *const ve_name[] = { NULL, "munmap", "split", "mremap", "exec", "replaced" };

const char *vma__stack_missing(const struct proc *p, const struct vma *e)
{
	static const char *const why[] = {
		[VS_BUSY] = "busy", [VS_BLOCKED] = "signal blocked",
		[VS_HANDLER] = "handler replaced", [VS_SEND] = "signal failed",
		[VS_OFF] = "signal stacks off", [VS_NO_ANSWER] = "no answer",
		[VS_UNWIND] = "unwind failed", [VS_ALTSTACK] = "alternate stack full",
		[VS_K_CUT] = "kernel stack: the copy of the stack ended",
		[VS_K_CFI] = "kernel stack: no unwind info",
		[VS_K_NOMAP] = "kernel stack: no module map",
		[VS_K_FAIL] = "kernel stack: unwinding failed",
		[VS_K_SKIP] = "kernel stack: not taken, the ring buffer was busy",
	};
	if (!e->stack_why || e->stack_why > VS_K_SKIP || e->internal)
		return NULL; /* (the shim's own memory needs no excuse) */
	if (e->stack_why != VS_NO_SHIM)
		return why[e->stack_why];
	if (p->attached_tree)
		return "no shim"; /* record -p: none in a running process */
	/* the process image it was made in: did a shim start in it later? */
	uint64_t from = 0, to = T_NEVER;
	for (uint32_t i = 0; i < p->nex; i++) {
		if (p->ex[i].t <= e->created_ns)
			from = p->ex[i].t;
		else if (p->ex[i].t < to)
			to = p->ex[i].t;
	}
	for (uint32_t i = 0; i < p->nimg; i++)
		if (p->img[i].start_ns >= from && p->img[i].start_ns < to)
			return "before shim start";
	return "no shim";
}

const char *vma__stack_cut(const struct vma *e)
{
	if (e->stack_why == VS_K_CUT)
		return "kernel stack cut short: the copy of the stack ended";
	if (e->stack_why == VS_K_CFI)
		return "kernel stack cut short: no unwind info";
	return NULL;
}
