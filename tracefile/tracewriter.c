// SPDX-License-Identifier: MIT
/*
 * tracewriter: record.h's rules for a writer that writes its file in order
 * from one thread (include/vmaprof/tracewriter.h says who does).
 *
 * Layout as the records are emitted: a record goes where the last one
 * ended, unless it would reach past the bytes of its segment records may
 * use (VP_SEG_SIZE, or with VP_FH_SEGSUM VP_SEG_USABLE); then a VP_REC_PAD
 * fills the rest of them first and, with VP_FH_SEGSUM, the segment's
 * trailer follows the pad: the CRC-32C of the segment's records and pads,
 * kept running as they are emitted, and how many records it holds. The
 * trailer is written when the next record needs the next segment, so a
 * file never ends on a segment boundary but at its start.
 *
 * A flush writes what is buffered and rewrites the header: its counters,
 * and with VP_FH_SEGSUM its seal -- the running checksum of the partial
 * last segment when everything emitted reached the file, and the header's
 * own.
 */
#include "vmaprof/tracewriter.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmaprof/clock.h"

int tracewriter__init(struct tracewriter *w, uint32_t source, uint32_t pid, uint32_t flags,
		      uint64_t start_ns, size_t buf_size)
{
	memset(w, 0, sizeof(*w));
	w->fd = -1;
	vp_fh_init(&w->hdr, source, pid, flags, start_ns);
	w->hdr.magic = VP_MAGIC;
	w->hdr.page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	if (!buf_size) {
		w->grows = 1;
		return 0;
	}
	/* room for a pad, a trailer and the longest record (make_room) */
	if (buf_size < 4 * VP_MAX_RECORD)
		buf_size = 4 * VP_MAX_RECORD;
	w->buf = malloc(buf_size);
	if (!w->buf)
		return -ENOMEM;
	w->cap = buf_size;
	return 0;
}

int tracewriter__write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t r = write(fd, p, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int tracewriter__begin(struct tracewriter *w, int fd)
{
	w->fd = fd;
	return tracewriter__write_all(fd, &w->hdr, sizeof(w->hdr));
}

size_t tracewriter__buffered(const struct tracewriter *w)
{
	return w->len;
}

void tracewriter__free(struct tracewriter *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

/* After a failed write everything buffered is lost: count whole records
 * (the buffer holds records, pads and trailers only). */
static void count_dropped(struct tracewriter *w)
{
	const char *p = w->buf, *end = w->buf + w->len;

	while (p + sizeof(struct vp_rec) <= end) {
		const struct vp_rec *h = (const void *)p;

		if (h->type != VP_REC_PAD && h->type != VP_REC_SEGSUM)
			w->dropped++;
		p += h->size;
	}
}

/* record.h, VP_FH_SEGSUM: tail_* when the whole data area is in the file,
 * then the header's own checksum. */
static void seal(struct tracewriter *w)
{
	uint64_t in = w->written % VP_SEG_SIZE;
	int whole = !w->err && w->written == w->data_off;

	w->hdr.tail_len = whole ? in : 0;
	w->hdr.tail_crc = whole && in ? w->seg_crc : 0;
	w->hdr.tail_records = whole && in ? w->seg_records : 0;
	w->hdr.hdr_crc = 0;
	w->hdr.hdr_crc = vp_fh_crc(&w->hdr);
}

int tracewriter__flush(struct tracewriter *w)
{
	int err = 0;

	if (w->len && !w->err) {
		err = tracewriter__write_all(w->fd, w->buf, w->len);
		if (err) {
			w->err = err;
			if (w->hdr.disabled == VP_DIS_NONE)
				w->hdr.disabled = VP_DIS_EXTEND;
		} else {
			w->written += w->len;
		}
	}
	if (w->err)
		count_dropped(w);
	w->len = 0;
	w->hdr.head = w->written;
	w->hdr.records = w->records - w->dropped;
	w->hdr.lost = w->lost + w->dropped;
	if (w->hdr.flags & VP_FH_SEGSUM)
		seal(w);
	if (pwrite(w->fd, &w->hdr, sizeof(w->hdr), 0) != (ssize_t)sizeof(w->hdr) && !err)
		err = -errno;
	return w->err ? w->err : err;
}

/* Room in the buffer for a record of `size` with the pad (shorter than
 * the record) and trailer that may come first. A fixed buffer is flushed;
 * a growing one grows. 0, or -1 when it cannot (out of memory). */
static int make_room(struct tracewriter *w, uint32_t size)
{
	size_t need = w->len + VP_MAX_RECORD + VP_SEGSUM_SIZE + size;

	if (!w->grows) {
		if (need > w->cap)
			tracewriter__flush(w);
		return 0;
	}
	if (w->err)
		return -1;
	if (need > w->cap) {
		size_t nc = w->cap ? w->cap * 2 : 65536;
		char *nb;

		while (nc < need)
			nc *= 2;
		nb = realloc(w->buf, nc);
		if (!nb) {
			w->err = -ENOMEM;
			return -1;
		}
		w->buf = nb;
		w->cap = nc;
	}
	return 0;
}

/* Put `n` bytes into the buffer as part of the current segment. */
static void *put(struct tracewriter *w, uint32_t n)
{
	void *p = w->buf + w->len;

	w->len += n;
	w->data_off += n;
	return p;
}

/* A pad of `n` bytes: every record size and offset is a multiple of 8. */
static void put_pad(struct tracewriter *w, uint32_t n)
{
	struct vp_rec *p = put(w, n);

	memset(p, 0, n);
	p->size = n;
	p->type = VP_REC_PAD;
	w->seg_crc = vp_crc32c(w->seg_crc, p, n);
}

/* The trailer of the segment that ends here; the next one starts anew. */
static void put_trailer(struct tracewriter *w)
{
	struct vp_segsum *t = put(w, VP_SEGSUM_SIZE);

	memset(t, 0, sizeof(*t));
	t->h.size = VP_SEGSUM_SIZE;
	t->h.time_ns = vp_mono_ns();
	t->h.pid = w->hdr.pid;
	t->h.tid = w->trailer_tid;
	t->h.type = VP_REC_SEGSUM;
	t->crc = w->seg_crc;
	t->records = w->seg_records;
	w->seg_crc = 0;
	w->seg_records = 0;
}

void tracewriter__emit(struct tracewriter *w, const void *rec, uint32_t size)
{
	const int segsum = (w->hdr.flags & VP_FH_SEGSUM) != 0;
	const uint32_t room = segsum ? VP_SEG_USABLE : VP_SEG_SIZE;

	if (make_room(w, size) < 0)
		return;
	uint32_t in = (uint32_t)(w->data_off % VP_SEG_SIZE);
	if (in + size > room) {
		if (room > in)
			put_pad(w, room - in);
		if (segsum)
			put_trailer(w);
	}
	memcpy(put(w, size), rec, size);
	if (segsum)
		w->seg_crc = vp_crc32c(w->seg_crc, rec, size);
	w->seg_records++;
	w->records++;
}
