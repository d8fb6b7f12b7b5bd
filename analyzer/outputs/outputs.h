/* SPDX-License-Identifier: MIT */
/*
 * The outputs: everything `vmaprof report --format FMT` and `vmaprof
 * record` write (docs/report.md, docs/exports.md). Each is written from a
 * finished analysis (view.h: analysis__run, then analysis__view once),
 * with its call sites and folded entries, so that every format shows the
 * same numbers; `records` alone lists the trace files themselves.
 *
 * Promises: every function returns 0 or -errno, never exits: -EIO (or the
 * write's own errno, e.g. -ENOSPC, -EPIPE) when writing to f failed,
 * -ENOMEM out of memory, -EINVAL for an analysis analysis__view did not
 * shape. Out of memory is caught in one place (outputs.c) for all writers.
 * What was written before an error is left in f: the caller drops it.
 */
#ifndef VP_OUTPUTS_H
#define VP_OUTPUTS_H

#include <stddef.h>
#include <stdio.h>

struct analysis;

enum output_format {
	OUT_JSON,     /* report.json (docs/report.md), streamed */
	OUT_TEXT,     /* the human summary `record` prints */
	OUT_HTML,     /* one self-contained page (no network access at all) */
	OUT_PPROF,    /* Go's profile.proto, gzipped */
	OUT_PERFETTO, /* Chrome JSON trace format: a timeline for ui.perfetto.dev */
	OUT_FOLDED,   /* Brendan Gregg's folded stacks: `frame;frame;frame count` */
	OUT_RECORDS,  /* every record of the trace files, one per line (no analysis) */
	OUT_FOLDED_WRITES, /* folded stacks of the write sites (write stacks) */
};

/* The format named fmt ("json", "text", "html", "pprof", "perfetto",
 * "folded", "records", "folded-writes"), or -EINVAL. */
int output__format(const char *fmt);

/* Write the finished analysis a in format fmt (not OUT_RECORDS) to f.
 * json_flags: OUT_JSON's jansson dump flags (indentation, ASCII), else 0.
 * f is flushed before the result is returned. */
int output__write(struct analysis *a, enum output_format fmt, FILE *f, size_t json_flags);

/*
 * OUT_RECORDS, from the trace directory itself: a plain, line-oriented
 * listing of every record, one line per record:
 *   <kind> t=<ns> pid=<pid> tid=<tid> key=value ...
 * followed, for records with a stack and when `stacks` is set, by
 * "  #<n> 0x<ip> <function>+0x<off> <module> <file>:<line>" lines. Each
 * file starts with a "# file" line carrying its header and the reader's
 * loss counters. Stable enough for tests to parse; the JSON report is the
 * format for users. -errno only when the directory cannot be read at all:
 * damaged files are reported in the listing ("# error ...").
 */
int output__records(const char *dir, FILE *out, int stacks);

#endif
