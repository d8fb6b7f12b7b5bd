/* SPDX-License-Identifier: MIT */
/*
 * tracewriter: the one writer of trace files by record.h's rules, for the
 * writers that write a file from one thread, in order: the kernel
 * collector's bpf.vpt (bpf/collector.c), the preload.*.vpt files `record
 * -p` makes for the processes it attaches to (cli/attach.c) and the
 * synthetic traces of bench/gen_trace.c. It holds what record.h asks of a
 * writer: the header's fixed fields; records padded (VP_REC_PAD) so that
 * none crosses a segment; with VP_FH_SEGSUM, the trailer (VP_REC_SEGSUM)
 * that ends each full segment and the sealed header. Source:
 * tracefile/tracewriter.c (a static library).
 *
 * The shim's writer (preload/writer.c) writes from many threads and signal
 * handlers into a shared mapping, without malloc: it cannot be this one.
 * The rules that are pure -- the header's fixed fields, a segment's bytes
 * for records, the header's checksum -- are the static inline functions
 * below, safe in a signal handler, and it uses them too.
 *
 * Records are copied into a buffer and written with write(2), the header
 * rewritten with pwrite(2) at offset 0 at every flush (a killed writer
 * leaves a header that describes what reached the file). Functions that
 * can fail return 0 or -errno.
 */
#ifndef VMAPROF_TRACEWRITER_H
#define VMAPROF_TRACEWRITER_H

#include <stddef.h>
#include <stdint.h>

#include "vmaprof/crc32c.h"
#include "vmaprof/record.h"

/* Bytes of a segment records may use in a VP_FH_SEGSUM file: the rest is
 * the trailer's. */
#define VP_SEG_USABLE (VP_SEG_SIZE - VP_SEGSUM_SIZE)

/* The header fields every writer sets alike, but magic: a writer read
 * while it writes (the shim's, MAP_SHARED) stores that one last. */
static inline void vp_fh_init(struct vp_file_header *h, uint32_t source, uint32_t pid,
			      uint32_t flags, uint64_t start_ns)
{
	h->version = VP_FORMAT_VERSION;
	h->header_size = VP_HEADER_SIZE;
	h->seg_size = VP_SEG_SIZE;
	h->source = source;
	h->pid = pid;
	h->flags = flags;
	h->start_ns = start_ns;
}

/* The header's seal (record.h: hdr_crc): the CRC-32C of the whole
 * header with hdr_crc 0 -- the writer clears it before calling this (the
 * shim's before it changes anything the seal covers, so that a reader
 * never takes a stale seal for a good one). */
static inline uint32_t vp_fh_crc(const struct vp_file_header *h)
{
	return vp_crc32c(0, h, sizeof(*h));
}

struct tracewriter {
	/* The file's header: tracewriter__init sets the fixed fields,
	 * page_size and magic; the caller sets the others it wants
	 * (stack_depth, pid_ns, disabled) before tracewriter__begin or any
	 * flush. head, records, lost and the seal are the writer's. */
	struct vp_file_header hdr;
	uint64_t lost;        /* records the caller could not store: hdr.lost is
			       * this plus `dropped` */
	uint32_t trailer_tid; /* h.tid of the trailers (h.pid: hdr.pid) */
	/* the writer's own */
	int fd;               /* -1 before tracewriter__begin */
	char *buf;
	size_t len, cap;
	int grows;            /* buf grows as needed (buf_size 0) */
	int err;              /* first error (-errno): nothing more is written */
	uint64_t data_off;    /* data-area bytes produced (written + buffered) */
	uint64_t written;     /* data-area bytes in the file */
	uint64_t records;     /* records emitted (not pads, not trailers) */
	uint64_t dropped;     /* ... of which a failed write lost */
	uint32_t seg_crc;     /* CRC-32C of the current segment so far */
	uint32_t seg_records; /* records in it */
};

/* Set w up for a file of `source` written by `pid` (hdr.pid), header flags
 * `flags` (VP_FH_*: VP_FH_SEGSUM for checksums), opened at `start_ns`.
 * buf_size: records are buffered in that many bytes and written out when
 * it is full (at least VP_MAX_RECORD * 4); 0: the buffer grows and holds
 * them all until tracewriter__flush. 0 or -ENOMEM. */
int tracewriter__init(struct tracewriter *w, uint32_t source, uint32_t pid, uint32_t flags,
		      uint64_t start_ns, size_t buf_size);
/* The file: fd, new and empty, opened for writing (kept by the caller).
 * Writes the header as it is now; the records follow it. */
int tracewriter__begin(struct tracewriter *w, int fd);
/* Append one record (size a multiple of 8, at most VP_MAX_RECORD): after a
 * pad, and with VP_FH_SEGSUM the segment's trailer, when it would not fit
 * in what is left of the segment. A buffer of fixed size that fills up is
 * flushed (with tracewriter__begin called first). */
void tracewriter__emit(struct tracewriter *w, const void *rec, uint32_t size);
/* Write the buffered records; set hdr.head, hdr.records and hdr.lost; seal
 * the header with VP_FH_SEGSUM (the partial last segment's checksum when
 * everything emitted is in the file); rewrite it at offset 0. After a
 * failed write (hdr.disabled VP_DIS_EXTEND) records are counted as dropped
 * instead, and every call returns that first error. */
int tracewriter__flush(struct tracewriter *w);
/* Bytes emitted but not written yet. */
size_t tracewriter__buffered(const struct tracewriter *w);
/* write(2) all n bytes of buf to fd, again after EINTR or a short write:
 * the writer's own, for its users' other files too. 0 or -errno. */
int tracewriter__write_all(int fd, const void *buf, size_t n);
/* Frees the buffer (not the file). Accepts a zeroed w. */
void tracewriter__free(struct tracewriter *w);

#endif /* VMAPROF_TRACEWRITER_H */
