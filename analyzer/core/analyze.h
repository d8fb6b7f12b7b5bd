/* SPDX-License-Identifier: MIT */
/*
 * analyze: turn a trace directory into the per-process, per-VMA picture of
 * report.json (docs/report.md, schema_version 2).
 *
 * Four passes (analyze.c, in its order, each a function):
 *  1. collect reads every record except faults -- the shim's calls, the
 *     kernel's address-space syscalls, maps snapshots, fork/exec/exit --
 *     into time-ordered events;
 *  2. replay hands each event to its handler, building a timeline of VMA
 *     entries per process (model.c: each entry an address range with a
 *     lifetime) and who each process is (procinfo.c);
 *  3. attribute_all streams the faults in file order and charges each to
 *     the entry live at its address and time;
 *  4. apply_session adds what only the recorder knew.
 * Memory is bounded by mappings, stacks and fault sites, never by the
 * number of faults.
 *
 * Promises: damaged or missing input never crashes; what could not be used
 * is counted in the report's `lost` fields. Faults outside every known
 * entry are counted as `other` on the process, never dropped. Errors are
 * returned (-errno), never an exit: out of memory included. Processes are
 * in report order (the first process, then by start) once analysis__run
 * returns; once analysis__view shaped it, the analysis is finished: what
 * view.h describes, what the outputs (outputs/outputs.h) write.
 */
#ifndef VP_ANALYZE_H
#define VP_ANALYZE_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

struct analysis;

struct analyze_stats {
	uint64_t records;      /* records read, all files */
	uint64_t faults;       /* fault records */
	double seconds;        /* wall time of analysis__run */
	uint64_t peak_rss_kb;  /* of this process after the run */
	int write_threads;     /* report.json's processes written on (0: none) */
};

/* 0 or -errno; on error `why` has a one-line reason (no recording, ...). */
int analysis__run(const char *dir, struct analysis **out, char *why, size_t why_len);
/* How the outputs group and fold entries (docs/report.md, "Call sites"). */
struct analysis_view {
	int every_vma; /* no folding: one entry per mapping */
	/* more allocator plumbing for labels: "GLOB", "function:GLOB" or
	 * "module:GLOB" (docs/labels.md) */
	const char *const *plumbing;
	size_t nplumbing;
};
/* Shape the analysis for the outputs (call sites, folded entries): once,
 * after analysis__run and before writing; the outputs refuse an analysis
 * that was not shaped. A second call fails. 0 or -errno (`why` says what
 * was wrong: -EINVAL for a bad option). */
int analysis__view(struct analysis *a, const struct analysis_view *v, char *why, size_t why_len);
void analysis__stats(const struct analysis *a, struct analyze_stats *st);
void analysis__free(struct analysis *a);

#endif
