/* SPDX-License-Identifier: MIT */
/*
 * The symbolizer counters of an analysis, for `vmaprof report --stats`.
 * Its own file so the analysis core (analyze.c, view.h) needs no change:
 * a read-only hook on struct analysis.
 */
#ifndef VP_ANALYSIS_SYM_H
#define VP_ANALYSIS_SYM_H

#include "symbolize.h"

struct analysis;

/* Copy of the counters of a's symbolizer; all zero when a is NULL or has
 * none. They grow while the report is written (symbolization is lazy). */
void analysis__symbolizer_stats(const struct analysis *a, struct vp_symbolizer_stats *out);

#endif
