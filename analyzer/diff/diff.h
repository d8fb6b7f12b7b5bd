/* SPDX-License-Identifier: MIT */
/*
 * diff: `vmaprof diff BASE.json NEW.json [--max-increase METRIC=PCT]...
 * [--min-pages N] [--format text|json|markdown]` -- compare two report.json
 * files (schema_version 1 or 2) for CI. docs/diff.md is the user's page;
 * cli/cmd_diff.c parses the command line into struct diff_opts, diff__run
 * does the rest (diff_int.h: how the files of analyzer/diff/ share it).
 *
 * Processes are matched by role, never by pid nor fork order: the root is
 * `root`, a child `<parent role at fork time>/fork`, and then what the
 * process is: `:exec(<basename>)` per exec, `(<title>)` (the title it wrote
 * over argv, else a comm other than its program's), `[<args>]` (its last
 * exec's argv after argv[0], normalised; long ones cut with a hash). Siblings
 * with one role are summed (the scheduler decides which did what; their sum
 * is stable). Roles one report lacks are matched by their loose name (every
 * `[<args>]` as `[*]`) where both sides have it. docs/diff.md says why.
 * Within a role, VMAs are matched by mapping call site
 * (kind, path and creating stack), never by address; VMAs with the same site
 * are summed. See match.c for the exact keys. Frames are keyed by their raw
 * symbol (`mangled` where a v2 report has it, else `function`), so a v1 and
 * a v2 report of one binary match; a v2 entry with `instances` N counts N
 * in vma_count.
 *
 * Noise in names: a path in a site key is normalised first, so names made
 * up per run match:
 *  - a trailing " (deleted)" is dropped;
 *  - `/memfd:NAME`: each run of digits in NAME is `*`: /memfd:buf123 -> /memfd:buf*;
 *  - under /tmp/, /var/tmp/, /dev/shm/ and /run/shm/ the rest of the path
 *    is `*`, after the first word of the name when it has one (letters up
 *    to the first '.', '-' or '_'): /dev/shm/sem.XyZ123 -> /dev/shm/sem.*,
 *    /tmp/app-1234.sock -> /tmp/app-*, and /tmp/tmpk3j4h5g1 (no word) ->
 *    /tmp/ followed by `*`;
 *  - elsewhere a path component of digits only (a pid, a uid: /proc/1234/,
 *    /run/user/1000/) is `*`, and so is a run of 4 or more digits between
 *    separators ('/', '.', '-', '_'): /var/run/app.31337.pid -> /var/run/app.*.pid.
 * Sites whose names normalise alike are one site (summed).
 *
 * Noise in numbers: a change smaller than --min-pages pages (default
 * DIFF_MIN_PAGES) is not shown; faults and pages_allocated count as pages,
 * live_bytes (mapped at exit) and bytes_mapped (every mapping, cumulative)
 * are divided by the page size, vma_count counts mappings; a listed change
 * also passes --min-change (DIFF_MIN_CHANGE percent of the larger of the
 * site's and its role's base). Work that moved between sites or sibling
 * processes is judged on its sum (compare.c, docs/diff.md "Moves"): a role's
 * bounds are checked on its change less what moved in to it (what moved
 * out is not added back). That change below --min-pages is not checked
 * against the bounds either; the whole-report totals always are.
 *
 * Write sites (writes.c, docs/diff.md "Write sites"): the copies of each
 * write site (the code whose writes made a fork side's cow_copy copies,
 * forks[].write_sites_parent / write_sites_child, scaled from a sample)
 * per role and label, and per label for the whole report. A cow_copy
 * bound exceeded names the write sites there that grew most ("written
 * by:"); --max-increase write_site=PCT bounds each. A write site's change
 * counts only past --min-pages and 4 standard errors of the sampling.
 * Reports without write sites are not compared for them.
 *
 * Output (stdout): the changes of each call site and of the whole report,
 * never a role's own sum (its sites say where it changed):
 *  text      one line per change, at most ~100 columns:
 *            `ROLE  SITE  METRIC  OLD -> NEW  CHANGE`, where SITE is the
 *            site's short name and kind, `alloc_buffer (anon)`, and CHANGE
 *            `+25.0%` or `(new)` from 0; the whole report's role is `*`
 *            and its site `(all processes)`. Long roles keep their tail,
 *            long names their head, cut with "..." (a name of a frame
 *            without a symbol, `libx.so+0x1f0 < caller`, keeps the caller
 *            and gives up the frame's head first). Then `only in BASE|NEW:
 *            ROLE` for roles one side lacks, one `EXCEEDED ...` line per
 *            bound exceeded at a role or the whole report with the figures
 *            it was checked on (`old 400, new 520 less 20 moved in from its
 *            family = 500` where some moved in) and the site that grew the
 *            most there (`most growth: ...` on the next line),
 *            and last the verdict line, the only line when nothing changed:
 *            `vmaprof diff: no change of 16 pages or more; 0 of 3 bounds
 *            exceeded` (`no bounds given` without --max-increase).
 *  markdown  the verdict in bold, a table (role, site, metric, old, new,
 *            change; the first 50 changes), then the roles only one side
 *            has and the EXCEEDED lines as a list.
 *  json      one object (keys stable; more may be added):
 *            verdict "ok" | "exceeded", summary (the verdict line),
 *            min_pages, note (null, or why fault figures are missing),
 *            bounds[] {metric, max_increase_pct, exceeded[] {role, old, new,
 *              change_pct, moved, checked_new, processes_old, processes_new,
 *              written_by[], most_grown: null |
 *              {role, label, kind, key, old, new, change_pct}}},
 *            changes[] {role, label, kind, key, metric, old, new, change_pct,
 *              moved}, only_in_base[], only_in_new[] (roles), moved[] (sites
 *            whose change moved to or from others, as changes[]).
 *            role "*" is the whole report (label, kind, key null); label is
 *            the short name (null when the site has none: kind says it);
 *            change_pct is rounded to 0.1 and null when old is 0; an
 *            exceeded[] entry's is old -> checked_new (new less moved, what
 *            moved in and was not counted): the figures the bound was
 *            checked on.
 * The site's short name is the report's `label` (v2), else the first frame
 * of its stack that is not allocator plumbing (malloc and friends, mmap,
 * brk/sbrk, operator new, the vmaprof shim: the built-in rules of label.h,
 * the ones the analyzer names sites by), else the basename of its path.
 *
 * Promises: output on stdout is deterministic (sorted, no colours, no times);
 * any defect of the input (unreadable, not JSON, wrong schema_version, a
 * missing or mistyped field the diff needs) is one line on stderr, nothing
 * on stdout, and exit status 2, never a crash.
 */
#ifndef VP_DIFF_H
#define VP_DIFF_H

#include <stddef.h>
#include <stdint.h>

/* The defaults of --min-pages and --min-change (docs/diff.md: measured). */
#define DIFF_MIN_PAGES 16
#define DIFF_MIN_CHANGE 20.0

enum diff_format { DIFF_TEXT, DIFF_JSON, DIFF_MARKDOWN };

/* --max-increase METRIC=PCT: metric as diff__metric_by_name gives it. */
struct diff_bound {
	int metric;
	double pct;
};

struct diff_opts {
	const struct diff_bound *bounds;
	size_t n_bounds;
	uint64_t min_pages; /* --min-pages */
	double min_change;  /* --min-change, percent of the base */
	enum diff_format format;
};

/* Metrics by name: the fault classes, the other figures, or both. */
enum diff_metrics { DIFF_METRICS_CLASSES, DIFF_METRICS_FIGURES, DIFF_METRICS_ALL };

/* The names of a set of metrics, space-separated, into buf (cut at cap). */
void diff__metric_list(char *buf, size_t cap, enum diff_metrics set);

/* The metric called name[0..len), or -1 if none is. */
int diff__metric_by_name(const char *name, size_t len);

/* Compare report base with report new under o and print the result on
 * stdout. Returns the process exit status: 0 every bound holds, 1 a bound
 * is exceeded, 2 bad input (then why[0..why_len) says what, nothing was
 * printed). */
int diff__run(const struct diff_opts *o, const char *base, const char *new, char *why,
	      size_t why_len);

#endif
