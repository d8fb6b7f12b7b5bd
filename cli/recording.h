/* SPDX-License-Identifier: MIT */
/*
 * recording: what the two ways of `vmaprof record` share -- running a
 * command (cmd_record.c) and attaching to running processes (attach.c,
 * `record -p`) -- so both call down into it and neither calls the other,
 * but for cmd_record.c handing `record -p` over to attach.c. Here: record's
 * usage (cli.h), --ring-buffer's SIZE, the output directory, the kernel
 * collector's start and its figures, session.json and the report at the
 * end.
 */
#ifndef VP_RECORDING_H
#define VP_RECORDING_H

#include <stdint.h>
#include <jansson.h>
#include <stddef.h>

#include "outfile.h"

struct collector;
struct collector_opts;
struct collector_stats;

/* --ring-buffer's SIZE ("N", "NK", "NM", "NG") within the collector's
 * limits into *out. 0, or -1 with the error said on stderr. */
int recording__parse_ringbuf_size(const char *s, size_t *out);
/* --write-stacks K,N or off (both 0): 0, or -1 after saying why on stderr. */
int recording__parse_write_stacks(const char *s, uint32_t *first, uint32_t *every);

/* The output directory `dir` (outfile.h: ours, 0700), holding no
 * recording or report yet: its descriptor in *dirfd, *created 1 when made
 * now, its absolute path in absdir (PATH_MAX bytes); the files' owner in
 * *owner. 0, or -1 said on stderr. */
int recording__prepare_dir(const char *dir, struct out_owner *owner, int *dirfd, int *created,
			   char *absdir);

/* The kernel collector writing DIR/bpf.vpt (absdir: DIR), with the
 * options *co but its trace_path (this one). 0, or -errno with why set (a
 * user namespace said as such: root there is not root for BPF). */
int recording__start_collector(const char *absdir, struct collector_opts *co,
			       struct collector **out, char *why, size_t why_len);

/* session.json's collectors.bpf figures of a finished collector: its
 * counts, ring buffer, syscall hooks, variant, and with `prog_stats`
 * (--bpf-stats) each program's kernel run-time statistics. */
json_t *recording__collector_json(struct collector *col, const struct collector_stats *cst,
				   int prog_stats);

/* DIR/name (absdir: DIR) to the owner of the recording, if one is set;
 * a failure is said on stderr. */
void recording__hand_over(int dirfd, const struct out_owner *owner, const char *absdir,
			  const char *name);

/* Write session.json into dirfd from s (taken): with `complete`, the
 * namespace its pids are numbered in and, when not NULL, `running` (the
 * pids left running, kept by the caller). 0 or -errno. */
int recording__write_session(int dirfd, const struct out_owner *owner, json_t *s, int complete,
			     json_t *running);

/* The end of a recording, its end marker written (session.json, with
 * result session_err: 0 or -errno): the report (DIR/report.json, and what
 * o asks for). Whatever fails is an ERROR line on stderr; 1 when no
 * report.json was written (the summary of the traces printed instead),
 * else 0. */
struct vp_report_opts;
int recording__report(const char *absdir, int session_err, const struct vp_report_opts *o);

/*
 * While the command runs: a thread that reads, every PREFETCH_MS, the
 * maps of the recorder's descendants (/proc/PID/task/TID/children) and
 * hands them to a prefetching symbolizer (symbolize.h), so that the files
 * they execute are opened, indexed and their DWARF read on the time the
 * programs leave, not after them. recording__prefetch_stop ends it and
 * donates the symbolizer to the report's analysis (in this process);
 * recording__report frees it if the report did not take it. Nothing
 * depends on it: NULL when it cannot start (then the report does the
 * work as always), and the answers are the same either way.
 */
struct recording_prefetch;
struct recording_prefetch *recording__prefetch_start(void);
/* stats: a line on what the scout did (record --stats), or NULL */
void recording__prefetch_stop(struct recording_prefetch *p, FILE *stats);

#endif
