/* SPDX-License-Identifier: MIT */
/* pprof (export.h). */
#include <errno.h>

#include "export.h"

int export__pprof(struct analysis *a, FILE *f)
{
	(void)a;
	(void)f;
	return -ENOSYS; /* issue 13: being written */
}
