/* SPDX-License-Identifier: MIT */
/*
 * How outputs.c runs a writer (inside outputs/ only): each writer file
 * offers one struct writer. outputs.c allocates its zeroed state, runs
 * write under the one out-of-memory guard (model__try, view.h), then
 * calls release whatever happened (an unwind included) and flushes f.
 * write returns 0 or -errno; it reads the analysis through view.h only.
 */
#ifndef VP_OUTPUTS_WRITER_H
#define VP_OUTPUTS_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct analysis;
struct strtab;

/* The id of s[0..n) in t, added if new (*fresh, when not NULL, says so);
 * out of memory unwinds to the writer's guard. The writers' string and
 * stack tables all intern through it. */
uint32_t writer__intern(struct strtab *t, const void *s, size_t n, bool *fresh);

struct writer {
	size_t state_size;   /* bytes of zeroed state write gets (0: none) */
	int (*write)(struct analysis *a, FILE *f, size_t json_flags, void *state);
	void (*release)(void *state); /* frees what state holds, not state; NULL: nothing */
};

extern const struct writer json_writer;     /* report_json.c */
extern const struct writer text_writer;     /* summary.c */
extern const struct writer html_writer;     /* export_html.c */
extern const struct writer pprof_writer;    /* export_pprof.c */
extern const struct writer perfetto_writer; /* export_perfetto.c */
extern const struct writer folded_writer;
extern const struct writer folded_writes_writer;   /* export_folded.c */

#endif
