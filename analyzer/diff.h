/* SPDX-License-Identifier: MIT */
/*
 * diff: `vmaprof diff BASE.json NEW.json [--max-increase METRIC=PCT]...
 * [--min-pages N]` -- compare two report.json files (schema_version 1) for CI.
 *
 * Processes are matched by role, never by pid: the root is `root`, a process
 * that its parent forked as its n-th child (by fork time) is
 * `<parent role at fork time>/fork[n]`, and each exec appends
 * `:exec(<basename>)`. Within a role, VMAs are matched by mapping call site
 * (kind, path and creating stack), never by address; VMAs with the same site
 * are summed. See diff.c for the exact keys.
 *
 * Promises: output on stdout is deterministic (sorted, no colours, no times);
 * any defect of the input (unreadable, not JSON, wrong schema_version, a
 * missing or mistyped field the diff needs) is one line on stderr and exit
 * status 2, never a crash.
 */
#ifndef VP_DIFF_H
#define VP_DIFF_H

#include <stdio.h>

/* argv[0] is "diff". Returns the process exit status: 0 every bound holds,
 * 1 a bound is exceeded, 2 bad input or usage. */
int diff__main(int argc, char **argv);
/* Its usage text (`vmaprof diff --help`, also in `vmaprof --help`). */
void diff__usage(FILE *f);

#endif
