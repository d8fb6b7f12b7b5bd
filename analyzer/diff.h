/* SPDX-License-Identifier: MIT */
/*
 * diff: `vmaprof diff BASE.json NEW.json [--max-increase METRIC=PCT]...
 * [--min-pages N] [--format text|json|markdown]` -- compare two report.json
 * files (schema_version 1 or 2) for CI. docs/diff.md is the user's page.
 *
 * Processes are matched by role, never by pid: the root is `root`, a process
 * that its parent forked as its n-th child (by fork time) is
 * `<parent role at fork time>/fork[n]`, and each exec appends
 * `:exec(<basename>)`. Within a role, VMAs are matched by mapping call site
 * (kind, path and creating stack), never by address; VMAs with the same site
 * are summed. See diff.c for the exact keys. Frames are keyed by their raw
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
 * mapped_bytes is divided by the page size, vma_count is measured by the
 * pages of the VMAs behind it. A role's change below it is not checked
 * against the bounds either; the whole-report totals always are.
 *
 * Output (stdout): the changes of each call site and of the whole report,
 * never a role's own sum (its sites say where it changed):
 *  text      one line per change, at most ~100 columns:
 *            `ROLE  SITE  METRIC  OLD -> NEW  CHANGE`, where SITE is the
 *            site's short name and kind, `alloc_buffer (anon)`, and CHANGE
 *            `+25.0%` or `(new)` from 0; the whole report's role is `*`
 *            and its site `(all processes)`. Long roles keep their tail,
 *            long names their head, cut with "...". Then `only in BASE|NEW:
 *            ROLE` for roles one side lacks, one `EXCEEDED ...` line per
 *            bound exceeded at a role or the whole report, naming the site
 *            that grew the most there (`; most at alloc_buffer (anon) +100`),
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
 *              change_pct, most_grown: null | {role, label, kind, key, old,
 *              new, change_pct}}},
 *            changes[] {role, label, kind, key, metric, old, new, change_pct},
 *            only_in_base[], only_in_new[] (roles).
 *            role "*" is the whole report (label, kind, key null); label is
 *            the short name (null when the site has none: kind says it);
 *            change_pct is rounded to 0.1 and null when old is 0.
 * The site's short name is the report's `label` (v2), else the first frame
 * of its stack that is not allocator plumbing (malloc and friends, mmap,
 * brk/sbrk, operator new, the vmaprof shim; list in diff.c), else the
 * basename of its path.
 *
 * Promises: output on stdout is deterministic (sorted, no colours, no times);
 * any defect of the input (unreadable, not JSON, wrong schema_version, a
 * missing or mistyped field the diff needs) is one line on stderr, nothing
 * on stdout, and exit status 2, never a crash.
 */
#ifndef VP_DIFF_H
#define VP_DIFF_H

#include <stdio.h>

/* The default of --min-pages. */
#define DIFF_MIN_PAGES 16

/* argv[0] is "diff". Returns the process exit status: 0 every bound holds,
 * 1 a bound is exceeded, 2 bad input or usage. */
int diff__main(int argc, char **argv);
/* Its usage text (`vmaprof diff --help`, also in `vmaprof --help`). */
void diff__usage(FILE *f);

#endif
