/* SPDX-License-Identifier: MIT */
/*
 * dump: a plain, line-oriented listing of every record of a trace
 * directory, with symbolized stacks. One line per record:
 *   <kind> t=<ns> pid=<pid> tid=<tid> key=value ...
 * followed, for records with a stack, by "  #<n> 0x<ip> <function>+0x<off>
 * <module> <file>:<line>" lines. Each file starts with a "# file" line
 * carrying its header and the reader's loss counters. Stable enough for
 * tests to parse; the JSON report is the format for users.
 */
#ifndef VP_DUMP_H
#define VP_DUMP_H

#include <stdio.h>

struct dump_opts {
	int stacks; /* print stack frames */
};

/* 0, or -errno when the directory cannot be read at all. Damaged files are
 * reported in the listing ("# error ...") and do not stop it. */
int dump__dir(const char *dir, FILE *out, const struct dump_opts *o);

#endif
