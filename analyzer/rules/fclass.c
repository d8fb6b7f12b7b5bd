/* SPDX-License-Identifier: MIT */
/* The fault classes' names (fclass.h), apart from the analyzer: diff reads
 * them as report.json's keys and links no more of it than this. */
#include "fclass.h"

const char *const fclass_name[FC_N] = { "demand_zero", "zero_page", "cow_copy", "cow_reuse",
					"file", "shmem", "shared_write", "other" };
