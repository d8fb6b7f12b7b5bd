/* SPDX-License-Identifier: MIT */
/* Subcommands of the vmaprof binary. Each returns the process exit code. */
#ifndef VP_CLI_H
#define VP_CLI_H

#include <stdio.h>

int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_diff(int argc, char **argv);

/* Each subcommand's usage; `vmaprof --help` prints them all (record's:
 * recording.c, which both ways of recording share). */
extern const char vp_record_usage[];
extern const char vp_report_usage[];
/* diff's usage lists its metrics by name, so it is printed (cmd_diff.c). */
void vp_diff_usage(FILE *f);

#include <stddef.h>
#include <jansson.h>
/* 1 if DIR already holds trace files or a session. */
int vp_dir_has_traces(const char *dir);
/* The short summary `record` prints when the command is gone. */
void vp_print_record_summary(const char *dir, FILE *out);
/* Analyse DIR, write report.json (out_path NULL: DIR/report.json, "-":
 * stdout) and, when `summary` is set, print the human summary there.
 * `stats`: also print throughput and peak RSS. Returns 0 or an exit code. */
struct vp_report_opts {
	int stats;     /* also print throughput and peak RSS */
	int every_vma; /* no folding of repeated mappings */
	int html;      /* record --html: DIR/report.html too, from the same analysis */
	const char **plumbing; /* --plumbing rules (argv strings) */
	size_t nplumbing;
	int exiting;   /* the process ends after this report (report, record,
			* record -p): the analysis is left to the exit, not
			* freed, unless VMAPROF_FREE_AT_EXIT is set */
};
/* Add one --plumbing rule to o (argv's string is kept). 0, or -errno after
 * saying on stderr what is wrong with it. */
int vp_report_opts_add_plumbing(struct vp_report_opts *o, const char *spec);
int vp_write_report(const char *dir, const char *out_path, FILE *summary,
		    const struct vp_report_opts *o);

#endif
