/* SPDX-License-Identifier: MIT */
/*
 * The fault classes (docs/report.md, "Fault classes"), in report order:
 * the keys of every `faults` object of report.json, the summary's columns
 * and diff's class metrics. Names are defined in fclass.c.
 */
#ifndef VP_FCLASS_H
#define VP_FCLASS_H

enum fclass {
	FC_DEMAND_ZERO, FC_ZERO_PAGE, FC_COW_COPY, FC_COW_REUSE, FC_FILE, FC_SHMEM,
	FC_SHARED_WRITE, FC_OTHER, FC_N
};
extern const char *const fclass_name[FC_N];

/* Classes added after the first version-1 reports were written: absent
 * from those, where a reader takes them as 0. */
static inline int fclass__added_later(enum fclass c)
{
	return c == FC_ZERO_PAGE || c == FC_SHMEM;
}

#endif
