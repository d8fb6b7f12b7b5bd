/* SPDX-License-Identifier: MIT */
/* the HTML page (export.h). */
#include <errno.h>

#include "export.h"

int export__html(struct analysis *a, FILE *f)
{
	(void)a;
	(void)f;
	return -ENOSYS; /* issue 13: being written */
}
