/* SPDX-License-Identifier: MIT */
/*
 * Kernel stacks, unwound afterwards (2. replay): the collector's
 * VP_REC_KSTACK -- user registers and a copy of the top of the user stack
 * at the exit of an address-space call the shim did not record -- becomes
 * a call stack with elfutils' libdwfl (the modules' CFI, over the copied
 * bytes), kept in a stack table of its own per process (a tfile with
 * kstacks set, no trace file behind it) whose symbolizer space holds the
 * module map the unwinder used. The stack is then symbolized, labelled
 * and written as the shim's are.
 */
#ifndef VMAPROF_KUNWIND_H
#define VMAPROF_KUNWIND_H

#include "model.h"

struct kunwind;

/* Entry v of p was made by the kernel record k answers (same thread, same
 * return value): give it the unwound stack, or say in v->stack_why why
 * there is none (or why it stops early). *ku is created on first use. */
void kunwind__take(struct kunwind **ku, struct analysis *a, struct proc *p, struct vma *v,
		   const struct vp_kstack *k);
/* A write fault's stack (VP_KSTACK_WRITE), unwound after the replay with
 * p's modules at the record's time: its id in *file (one per distinct
 * stack), or 0 and *why (enum vstackwhy) says why there is none. */
uint32_t kunwind__write(struct kunwind **ku, struct analysis *a, struct proc *p,
			const struct vp_kstack *k, int32_t *file, uint8_t *why);
/* Accepts NULL. The stacks stay (in a->files). */
void kunwind__free(struct kunwind *ku);

#endif /* VMAPROF_KUNWIND_H */
