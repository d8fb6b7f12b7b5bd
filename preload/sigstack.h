/* SPDX-License-Identifier: MIT */
/*
 * Signal stacks (sigstack.c; layer 5 of preload/, see shim.c): the shim's
 * side of the kernel collector's request for a stack, by a signal at the
 * exit of a mapping call the shim could not interpose.
 */
#ifndef VP_PRELOAD_SIGSTACK_H
#define VP_PRELOAD_SIGSTACK_H

/* Once per process image, before its stream starts: take the collector's
 * signal (VMAPROF_SIGNAL, default SIGRTMAX-1, 0 = off) if nobody holds it;
 * off without stacks or under a seccomp filter. */
void sigstack__setup(int stacks_on);
/* Once per image, after the stream started: tell the collector (a prctl
 * it rejects) the handler, the signal and where the hook flag lives. */
void sigstack__announce(void);
/* The program sets a disposition for `sig` (handler: its new one): if it
 * is ours, hand it over without a signal in flight reaching the program. */
void sigstack__yield(int sig, const void *handler);

#endif
