/* SPDX-License-Identifier: MIT */
/*
 * reader: validated access to one trace file (format: vmaprof/record.h).
 *
 * Promises: every record reader__next returns has a known type, a size
 * within the file and large enough for its fixed part, and variable parts
 * (paths, argv, ips, text) that lie inside the record. Anything else --
 * truncation, garbage, records the writer never finished -- is skipped and
 * counted in reader_stats, never returned and never a crash. Memory use is
 * constant (the file is mapped read-only, not loaded; one of up to 256 KiB
 * is read whole into memory instead).
 */
#ifndef VP_READER_H
#define VP_READER_H

#include <stddef.h>
#include <stdint.h>

#include "vmaprof/record.h"

struct reader_stats {
	uint64_t records;    /* valid records returned */
	uint64_t incomplete; /* reserved by the writer but never committed */
	uint64_t bad;        /* records with impossible sizes or contents */
	uint64_t skipped;    /* bytes skipped while resynchronising */
	uint64_t truncated;  /* bytes the header promised that the file lacks */
	/* VP_FH_SEGSUM checksums */
	uint64_t seg_damaged;  /* records in segments whose checksum failed (not returned) */
	uint64_t segs_damaged; /* such segments */
	uint64_t hdr_damaged;  /* 1: the sealed header does not match its checksum */
	uint64_t unverified;   /* bytes read without a checksum to verify them by
				* (a writer killed or still running, older traces) */
};

struct reader;
/* 0 or -errno; on error `why` holds a one-line reason. */
int reader__open(const char *path, struct reader **out, char *why, size_t why_len);
/* The same, for one pass that keeps no record: a record reader__next
 * returns is valid until the next call (the file is read, one segment at a
 * time, into a buffer, the next segment on another thread meanwhile;
 * reading a multi-GB bpf.vpt so costs less than mapping its pages in and
 * out). reader__unmap ends the reading (and the thread). */
int reader__open_stream(const char *path, struct reader **out, char *why, size_t why_len);
const struct vp_file_header *reader__header(const struct reader *r);
/* 1 and *rec set, 0 at the end. */
int reader__next(struct reader *r, const struct vp_rec **rec);
const struct reader_stats *reader__stats(const struct reader *r);
/* Give the file's mapping (or buffers) back once the caller holds no record of it (a
 * multi-GB bpf.vpt after pass 1 copied what it keeps): the header and the
 * stats stay, reader__next returns 0 from then on. */
void reader__unmap(struct reader *r);
void reader__free(struct reader *r);

/* Accessors for variable parts (valid for records reader__next returned). */
static inline const char *vp_mem_path(const struct vp_mem *m) { return (const char *)(m + 1); }
/* VP_MEM_KPATH: the vp_mem_file after the path (NULL: the record has none) */
static inline const struct vp_mem_file *vp_mem_file(const struct vp_mem *m)
{
	if (!(m->h.flags & VP_MEM_KPATH))
		return NULL;
	return (const void *)((const char *)(m + 1) + VP_ALIGN8((uint64_t)m->path_len));
}
static inline const char *vp_exec_path(const struct vp_exec *e) { return (const char *)(e + 1); }
static inline const char *vp_exec_argv(const struct vp_exec *e) { return (const char *)(e + 1) + e->path_len; }
static inline const char *vp_proc_exe(const struct vp_proc *p) { return (const char *)(p + 1); }
static inline const char *vp_proc_argv(const struct vp_proc *p) { return (const char *)(p + 1) + p->exe_len; }
static inline const char *vp_proc_execfn(const struct vp_proc *p) { return (const char *)(p + 1) + p->exe_len + p->argv_len; }
static inline uint32_t vp_proc_execfn_len(const struct vp_proc *p)
{
	uint64_t used = sizeof(*p) + (uint64_t)p->exe_len + p->argv_len;
	return used + p->execfn_len <= p->h.size ? p->execfn_len : 0;
}
static inline const char *vp_task_name_argv(const struct vp_task_name *n) { return (const char *)(n + 1); }
static inline const char *vp_maps_text(const struct vp_maps *m) { return (const char *)(m + 1); }
static inline const char *vp_fork_path(const struct vp_fork *f) { return (const char *)(f + 1); }
static inline const struct vp_ns_id *vp_task_ns_ids(const struct vp_task_ns *n) { return (const struct vp_ns_id *)(n + 1); }
static inline const char *vp_task_exec_path(const struct vp_task_exec *e) { return (const char *)(e + 1); }

#endif
