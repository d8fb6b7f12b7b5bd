/* SPDX-License-Identifier: MIT */
/*
 * writer: the shim's trace file, written through a MAP_SHARED mapping
 * (layer 3 of preload/, see shim.c).
 *
 * Promises:
 * - A record is in the page cache the moment writer__commit returns, so it
 *   survives SIGKILL, abort and _exit of the traced process.
 * - Lock-free for writers: a reservation is one atomic add on the file
 *   header's `head`; only mapping a new segment, or giving the first one
 *   its next growth step (writer.c: Growth), takes a spin lock.
 * - Never blocks forever, never allocates with malloc, never touches errno
 *   visible to the caller (callers save/restore errno around it).
 * - On any failure (disk full, mmap refused) recording stops, the reason is
 *   stored in the header and every later record is counted in `lost`.
 */
#ifndef VP_WRITER_H
#define VP_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vmaprof/record.h"

/* Open DIR/preload.<pid>.<ns>.vpt and map its header. 0 or -errno.
 * `asked`: what broker__begin(VP_BROKER_OPEN, ...) returned (the caller
 * sends the broker's request ahead; its answer is waited for here). */
int writer__open(const char *dir, pid_t pid, uint32_t pid_ns, uint32_t stack_depth, int asked);
/* Reserve `size` bytes (multiple of 8, <= VP_MAX_RECORD) with rec->size
 * set. Returns NULL when recording is off or failed (counted as lost);
 * *seg is a handle to pass to writer__commit. */
struct vp_rec *writer__reserve(uint32_t size, uint32_t *seg);
/* Publish a reserved, filled record: stores `type` last (release). */
void writer__commit(struct vp_rec *rec, uint16_t type, uint32_t seg);
/* Count a record we could not even try to write. */
void writer__lost(void);
/* Count a hook call passed through because the thread was already in a hook. */
void writer__reentered(void);
/* In a fork child: forget the parent's file without touching it (no
 * munmap of pages the parent still writes), so writer__open can start anew. */
void writer__forget(void);
/* The writer stops here (exit, exec): checksum the last, partial segment
 * and the header (record.h: VP_FH_SEGSUM). Records written later keep the
 * seal current. */
void writer__seal(void);
/* True when a file is open and recording. */
int writer__active(void);
/* Tell the trace that [p, p+len) is (un)mapped by the shim for itself, so
 * the analyzer can keep it out of the program's picture (a VP_REC_INTERNAL;
 * `populated`: pages of it the writer populated). */
void writer__note_internal(void *p, size_t len, uint32_t what, int unmapped, uint32_t populated);

#endif
