/* SPDX-License-Identifier: MIT */
/*
 * vmaprof diff's flow (diff__run, which cli/cmd_diff.c calls with the parsed
 * command line): each report is loaded (load.c) and turned into roles,
 * sites and entries (match.c); the two are paired and compared (match.c,
 * compare.c) and the result printed (print.c). diff.h says what it promises.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "diff_int.h"
#include "label.h"

/* One report -> its sorted entries. */
static int report__open(struct report *r, const char *file, const struct label_rules *plumbing,
			struct diag *d)
{
	r->plumbing = plumbing;
	int err = report__load(r, file, d);
	if (!err)
		err = report__roles(r, d);
	if (!err)
		err = report__entries(r, d);
	if (!err)
		err = report__writes(r, d);
	/* Everything needed from the document is in the entries now; a big
	 * report's tree is most of the memory, and the other one loads next. */
	json_decref(r->root);
	r->root = NULL;
	free(r->text);
	r->text = NULL;
	free(r->vmas_text);
	r->vmas_text = NULL;
	for (size_t i = 0; r->procs && i < r->n_procs; i++)
		r->procs[i].j = NULL;
	return err;
}

/* A bound on a figure one side never measured cannot hold or fail. */
static int bounds__measured(const struct diff_opts *o, const struct report *base,
			    const struct report *new, struct diag *d)
{
	for (size_t k = 0; k < o->n_bounds; k++) {
		enum metric m = o->bounds[k].metric;
		const struct report *un = base->unmeasured ? base : new->unmeasured ? new : NULL;
		/* write sites: a report of a recording without write stacks
		 * (or of a version before them) has none to bound */
		const struct report *nw = !base->has_writes ? base : !new->has_writes ? new : NULL;
		if ((int)m == M_WRITE_SITE && nw)
			return diag__fail(d, "--max-increase %s: %s has no write sites (recorded "
					  "without write stacks, or by a vmaprof before them)",
					  metric_name(m), nw->file);
		if (un && m != M_VMA_COUNT && m != M_LIVE_BYTES &&
		    m != M_BYTES_MAPPED)
			return diag__fail(d, "--max-increase %s: %s has no fault figures (recorded "
					  "without the kernel collector)", metric_name(m), un->file);
	}
	return 0;
}

int diff__run(const struct diff_opts *o, const char *base_file, const char *new_file, char *why,
	      size_t why_len)
{
	struct result res = { 0 };
	struct report base = { 0 }, new = { 0 };
	struct label_rules *plumbing = NULL;
	struct diag d = { .why = "" };
	int rc = 2;
	if (label_rules__new(&plumbing)) {
		diag__fail(&d, "out of memory");
		goto cleanup;
	}
	if (report__open(&base, base_file, plumbing, &d) ||
	    report__open(&new, new_file, plumbing, &d) || bounds__measured(o, &base, &new, &d))
		goto cleanup;
	if (reports__unify(&base, &new)) {
		diag__fail(&d, "out of memory");
		goto cleanup;
	}
	res.unmeasured = base.unmeasured || new.unmeasured;
	res.unmeasured_file = base.unmeasured ? base.file : new.file;
	if (reports__compare(o, &base, &new, &res) || result__print(o, &res)) {
		diag__fail(&d, "out of memory");
		goto cleanup;
	}
	rc = res.n_over ? 1 : 0;
cleanup:
	snprintf(why, why_len, "%s", d.why);
	result__free(&res);
	report__free(&base);
	report__free(&new);
	label_rules__free(plumbing);
	return rc;
}
