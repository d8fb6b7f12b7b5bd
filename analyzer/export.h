/* SPDX-License-Identifier: MIT */
/*
 * Exports of an analysis for the tools people already use (docs/exports.md):
 * `vmaprof report DIR --format FMT`. Each is built from the same analysis as
 * report.json (call sites, folded entries, the same numbers) and writes one
 * document to f.
 * Promises: 0, or -errno (-EIO: a write failed, -ENOMEM); never exits.
 * The analysis is shaped with its default view unless analysis__view ran.
 */
#ifndef VP_EXPORT_H
#define VP_EXPORT_H

#include <stdio.h>

struct analysis;

/* One self-contained HTML page (no network access at all). */
int export__html(struct analysis *a, FILE *f);
/* Go's profile.proto, gzipped. */
int export__pprof(struct analysis *a, FILE *f);
/* Chrome JSON trace format: a timeline for ui.perfetto.dev. */
int export__perfetto(struct analysis *a, FILE *f);
/* Brendan Gregg's folded stacks: `frame;frame;frame count`. */
int export__folded(struct analysis *a, FILE *f);

#endif
