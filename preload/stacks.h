/* SPDX-License-Identifier: MIT */
/*
 * stacks: user call stacks of the hooked calls, deduplicated in the stream
 * (layer 4 of preload/, see shim.c).
 *
 * Promises: stacks__capture returns the id of the caller's stack (frames of
 * the shim itself removed) and has written a VP_REC_STACK for that id
 * before returning it, so a record using the id always follows its
 * definition in the file. Ids are per trace file; the table lives in an
 * anonymous mapping of the shim, not in malloc'd memory. Returns 0 when
 * stacks are off or could not be captured.
 */
#ifndef VP_STACKS_H
#define VP_STACKS_H

#include <stdint.h>

/* Set the depth (0 = off) and map a fresh table. 0 or -errno. Called at
 * start and again in a fork child (ids restart with the child's file). */
int stacks__init(uint32_t depth);
/* stacks__init's once-per-image part (where our own and libunwind's code
 * lie, libunwind's caching policy), which needs no trace file yet: done
 * while the broker makes one. Nothing with depth 0. */
void stacks__prepare(uint32_t depth);
/* The hook's own frame pointer (`fp`: __builtin_frame_address(0) in the
 * exported function the program called; fp[0] is the program's rbp, fp[1]
 * its return address) lets a per-thread cache prove an unchanged stack
 * without unwinding it (stacks.c, "The stack cache"). Called from a helper
 * whose caller is not the program, the cache simply stays unused. */
uint32_t stacks__capture_at(void *const *fp);
#define stacks__capture() stacks__capture_at((void *const *)__builtin_frame_address(0))
/* In a signal handler: the stack of the interrupted code, from the
 * handler's ucontext (`ip`: its instruction pointer). */
uint32_t stacks__capture_context(void *uc, uint64_t ip);
/* 1 if a call returning to `ra` was made by the shim or by libunwind (its
 * per-thread caches are freed by a thread-exit destructor, outside any
 * hook): such calls are ours, not the program's. */
int stacks__internal_caller(const void *ra);
/* In a fork child: drop the parent's table (its ids mean nothing in the
 * child's file). */
void stacks__forget(void);

#endif
