/* SPDX-License-Identifier: MIT */
/* The symbolizer's counters of an analysis (analysis_sym.h), for
 * `vmaprof report --stats`. */
#include "analysis_sym.h"
#include "model.h"

void analysis__symbolizer_stats(const struct analysis *a, struct vp_symbolizer_stats *out)
{
	symbolizer__stats(a ? a->sym : NULL, out);
}
