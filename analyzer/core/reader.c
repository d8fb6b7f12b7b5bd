/* SPDX-License-Identifier: MIT */
/* The reader of one trace file (reader.h): the first step of the core's
 * pass 1 (analyze.c), and of `report --format records` (outputs/dump.c). */
#include "reader.h"

#include "vmaprof/crc32c.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct reader {
	const unsigned char *map;
	size_t map_len;  /* the file's size (mapped or not) */
	/* reader__open_stream: no mapping; the segment the cursor is in is
	 * read (pread) into buf, which holds the file's bytes [buf_off,
	 * buf_off + buf_len) */
	int fd;
	unsigned char *buf;
	uint64_t buf_off, buf_len;
	struct ahead *ahead_rd; /* the next segment, read on the other core */
	uint64_t off, end, seg;
	uint64_t seg_mask;  /* seg - 1 (a power of two: check_header) */
	unsigned seg_shift; /* log2(seg) */
	uint64_t seg_left;  /* records of segment cur_seg end at this offset */
	uint64_t cur_seg;
	uint64_t ahead;     /* pages up to here were asked in (MADV_POPULATE_READ) */
	int map_owned; /* map is a malloc'd copy of a small file (SMALL_FILE) */
	int in_gap; /* resynchronising: count one bad record per gap */
	uint64_t dropped; /* pages before this offset were given back */
	/* VP_FH_SEGSUM */
	int segsum, sealed;
	uint64_t next_check;  /* index of the next segment to verify */
	uint64_t bad_until;   /* records before this offset are in a damaged segment */
	uint64_t bad_seen, bad_expect;
	struct vp_file_header hdr;
	struct reader_stats st;
};

/* The trace file at path, opened to be mapped: never blocking on a FIFO or
 * device, never following a planted symlink. fd and its size in *size, or
 * -errno (`why` says) when it cannot be a trace. */
/* The file's byte at off: in the mapping, or (stream) in the buffer,
 * which holds every byte reader__next and check_segment read there. */
static const unsigned char *at(const struct reader *r, uint64_t off)
{
	return r->buf ? r->buf + (off - r->buf_off) : r->map + off;
}

static int open_trace(const char *path, size_t *size, char *why, size_t why_len)
{
	struct stat sb;
	int err, fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0) {
		err = -errno;
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
		return err;
	}
	if (fstat(fd, &sb) < 0) {
		err = -errno;
		snprintf(why, why_len, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < VP_HEADER_SIZE) {
		err = -EINVAL;
		snprintf(why, why_len, "%s: not a vmaprof trace (%lld bytes, header needs %u)",
			 path, (long long)sb.st_size, VP_HEADER_SIZE);
	} else {
		*size = (size_t)sb.st_size;
		return fd;
	}
	close(fd);
	return err;
}

/* A header this reader can read: 0, or -errno (`why` says). */
static int check_header(const char *path, const struct vp_file_header *h, char *why,
			size_t why_len)
{
	if (h->magic != VP_MAGIC) {
		snprintf(why, why_len, "%s: bad magic (not a vmaprof trace, or the writer died "
			 "before writing its header)", path);
		return -EINVAL;
	}
	if (h->version < VP_FORMAT_VERSION_MIN || h->version > VP_FORMAT_VERSION) {
		snprintf(why, why_len, "%s: trace format version %u, this vmaprof reads %u to %u",
			 path, h->version, VP_FORMAT_VERSION_MIN, VP_FORMAT_VERSION);
		return -EPROTO;
	}
	if (h->header_size != VP_HEADER_SIZE || h->seg_size < 65536 ||
	    (h->seg_size & (h->seg_size - 1)) || h->seg_size > (1ull << 30) ||
	    (h->source != VP_SRC_PRELOAD && h->source != VP_SRC_BPF)) {
		snprintf(why, why_len, "%s: damaged header (header_size %u, seg_size %llu, "
			 "source %u)", path, h->header_size, (unsigned long long)h->seg_size,
			 h->source);
		return -EINVAL;
	}
	return 0;
}

/* What the header says how to read the rest by: a sealed header (hdr_crc
 * set) must match, as flags (VP_FH_SEGSUM), head, the counters and the
 * tail's checksum all come from it. */
static void read_seal(struct reader *r)
{
	const struct vp_file_header *h = &r->hdr;
	if (h->hdr_crc) {
		struct vp_file_header c = *h;
		c.hdr_crc = 0;
		if (vp_crc32c(0, &c, sizeof(c)) == h->hdr_crc)
			r->sealed = 1;
		else
			r->st.hdr_damaged = 1;
	}
	r->segsum = (h->flags & VP_FH_SEGSUM) != 0;
	if (h->version < 2)
		r->hdr.pid_ns = 0; /* reserved bytes in version 1 */
}

/* Where the records end (r->end), and what the header promised that the
 * file lacks (truncated). */
static void find_end(struct reader *r)
{
	const struct vp_file_header *h = &r->hdr;
	uint64_t avail = r->map_len - VP_HEADER_SIZE;
	if (h->head == 0 && (h->flags & VP_FH_SEQUENTIAL)) {
		r->end = r->map_len; /* the writer did not finish: read what is there */
	} else if (h->head > avail && h->disabled != VP_DIS_NONE &&
		   !(h->flags & VP_FH_SEQUENTIAL) && avail % VP_SEG_STEP == 0) {
		/* The writer stopped (disk full, seccomp, ...) before it could
		 * create the segment, or grow the segment by the step (record.h:
		 * VP_SEG_STEP), its last reservations fell into: the file ends
		 * at a step boundary and those calls are in `lost`. Nothing is
		 * missing from the file. */
		r->end = r->map_len;
	} else if (h->head > avail) {
		r->st.truncated = h->head - avail;
		r->end = r->map_len;
	} else {
		r->end = VP_HEADER_SIZE + h->head;
	}
}

/* len bytes of the file at off into p; what the file no longer has
 * (truncated while we read) reads as zeros, which no record starts with. */
static void read_at(int fd, void *p, uint64_t len, uint64_t off)
{
	uint64_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)p + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	memset((char *)p + got, 0, len - got);
}

/* A stream's buffer: one segment, up to this size (else the file is mapped). */
#define STREAM_SEG_MAX (64ull << 20)

/* A stream reads the segment after the cursor's on another thread while
 * the caller works on this one (the copy out of the page cache is a fifth
 * of a fault's cost in pass 3): a second buffer, one request at a time. */
struct ahead {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int fd;
	unsigned char *buf;
	uint64_t off, len; /* the request: len bytes at off into buf */
	int busy, quit;    /* a request not done yet; the thread is to end */
};

static void *ahead_main(void *x)
{
	struct ahead *ah = x;
	pthread_mutex_lock(&ah->lock);
	for (;;) {
		while (!ah->busy && !ah->quit)
			pthread_cond_wait(&ah->cv, &ah->lock);
		if (ah->quit)
			break;
		pthread_mutex_unlock(&ah->lock);
		read_at(ah->fd, ah->buf, ah->len, ah->off);
		pthread_mutex_lock(&ah->lock);
		ah->busy = 0;
		pthread_cond_broadcast(&ah->cv);
	}
	pthread_mutex_unlock(&ah->lock);
	return NULL;
}

/* NULL where there is no second buffer or thread: the stream reads each
 * segment itself. */
static struct ahead *ahead_new(int fd, uint64_t seg)
{
	struct ahead *ah = calloc(1, sizeof(*ah));
	if (!ah || !(ah->buf = malloc(seg))) {
		free(ah);
		return NULL;
	}
	ah->fd = fd;
	ah->off = UINT64_MAX;
	pthread_mutex_init(&ah->lock, NULL);
	pthread_cond_init(&ah->cv, NULL);
	if (pthread_create(&ah->th, NULL, ahead_main, ah)) {
		pthread_mutex_destroy(&ah->lock);
		pthread_cond_destroy(&ah->cv);
		free(ah->buf);
		free(ah);
		return NULL;
	}
	return ah;
}

/* Wait for the request in flight, if any. */
static void ahead_wait(struct ahead *ah)
{
	pthread_mutex_lock(&ah->lock);
	while (ah->busy)
		pthread_cond_wait(&ah->cv, &ah->lock);
	pthread_mutex_unlock(&ah->lock);
}

static void ahead_ask(struct ahead *ah, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&ah->lock);
	ah->off = off;
	ah->len = len;
	ah->busy = 1;
	pthread_cond_broadcast(&ah->cv);
	pthread_mutex_unlock(&ah->lock);
}

static void ahead_free(struct ahead *ah)
{
	if (!ah)
		return;
	pthread_mutex_lock(&ah->lock);
	ah->quit = 1;
	pthread_cond_broadcast(&ah->cv);
	pthread_mutex_unlock(&ah->lock);
	pthread_join(ah->th, NULL);
	pthread_mutex_destroy(&ah->lock);
	pthread_cond_destroy(&ah->cv);
	free(ah->buf);
	free(ah);
}

/* Files up to this size are read whole into memory rather than mapped. */
#define SMALL_FILE (256u << 10)

/* The mapping, or the copy of a small file, given back. */
static void release_map(struct reader *r)
{
	if (r->map_owned)
		free((void *)r->map);
	else if (r->map)
		munmap((void *)r->map, r->map_len);
	r->map = NULL;
	r->map_owned = 0;
}

static int open_any(const char *path, struct reader **out, char *why, size_t why_len,
		    int stream)
{
	struct reader *r = NULL;
	size_t size = 0;
	int err = 0, fd = open_trace(path, &size, why, why_len);
	*out = NULL;
	if (fd < 0)
		return fd;
	r = calloc(1, sizeof(*r));
	if (!r) {
		err = -ENOMEM;
		snprintf(why, why_len, "out of memory");
		goto cleanup;
	}
	r->fd = -1;
	r->map_len = size;
	if (stream) {
		read_at(fd, &r->hdr, sizeof(r->hdr), 0);
		err = check_header(path, &r->hdr, why, why_len);
		if (err)
			goto cleanup;
		if (r->hdr.seg_size <= STREAM_SEG_MAX) {
			r->buf = malloc(r->hdr.seg_size);
			if (!r->buf) {
				err = -ENOMEM;
				snprintf(why, why_len, "out of memory");
				goto cleanup;
			}
			r->fd = fd;
			fd = -1;
			posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
			if (r->map_len - VP_HEADER_SIZE > r->hdr.seg_size)
				r->ahead_rd = ahead_new(r->fd, r->hdr.seg_size);
		}
	}
	if (!r->buf && r->map_len <= SMALL_FILE) {
		/* a process's preload file is a few KiB: copied, not mapped
		 * (10,000 of them mapped cost a page fault or two each, and
		 * their munmaps a TLB flush on every CPU each) */
		unsigned char *c = malloc(r->map_len ? r->map_len : 1);
		if (!c) {
			err = -ENOMEM;
			snprintf(why, why_len, "out of memory");
			goto cleanup;
		}
		read_at(fd, c, r->map_len, 0);
		r->map = c;
		r->map_owned = 1;
		memcpy(&r->hdr, r->map, sizeof(r->hdr));
		err = check_header(path, &r->hdr, why, why_len);
		if (err)
			goto cleanup;
	} else if (!r->buf) {
		r->map = mmap(NULL, r->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (r->map == MAP_FAILED) {
			err = -errno;
			snprintf(why, why_len, "%s: mmap: %s", path, strerror(errno));
			r->map = NULL;
			goto cleanup;
		}
		madvise((void *)r->map, r->map_len, MADV_SEQUENTIAL);
		memcpy(&r->hdr, r->map, sizeof(r->hdr));
		err = check_header(path, &r->hdr, why, why_len);
		if (err)
			goto cleanup;
	}
	r->seg = r->hdr.seg_size;
	r->seg_mask = r->seg - 1;
	r->seg_shift = (unsigned)__builtin_ctzll(r->seg);
	r->off = VP_HEADER_SIZE;
	read_seal(r);
	find_end(r);
	*out = r;
	r = NULL;
cleanup:
	reader__free(r);
	if (fd >= 0)
		close(fd);
	return err;
}

int reader__open(const char *path, struct reader **out, char *why, size_t why_len)
{
	return open_any(path, out, why, why_len, 0);
}

int reader__open_stream(const char *path, struct reader **out, char *why, size_t why_len)
{
	return open_any(path, out, why, why_len, 1);
}

const struct vp_file_header *reader__header(const struct reader *r)
{
	return &r->hdr;
}

const struct reader_stats *reader__stats(const struct reader *r)
{
	return &r->st;
}

/* Variable part of a record fits inside it? */
static int fits(uint32_t size, size_t fixed, uint64_t var)
{
	return size >= fixed && var <= size - fixed;
}

/* The fixed part of each record type reader__next returns; 0: a type it
 * never returns. */
static const uint32_t fixed_size[VP_REC_TYPE_MAX] = {
	[VP_REC_PROC] = sizeof(struct vp_proc),
	[VP_REC_MAPS] = sizeof(struct vp_maps),
	[VP_REC_STACK] = sizeof(struct vp_stack),
	[VP_REC_MEM] = sizeof(struct vp_mem),
	[VP_REC_FORK] = sizeof(struct vp_fork),
	[VP_REC_EXEC] = sizeof(struct vp_exec),
	[VP_REC_EXIT] = sizeof(struct vp_exit),
	[VP_REC_INTERNAL] = sizeof(struct vp_internal),
	[VP_REC_SIGSTACK] = sizeof(struct vp_sigstack),
	[VP_REC_FAULT] = sizeof(struct vp_fault),
	[VP_REC_TASK_FORK] = sizeof(struct vp_task_fork),
	[VP_REC_TASK_EXEC] = sizeof(struct vp_task_exec),
	[VP_REC_TASK_EXIT] = sizeof(struct vp_task_exit),
	[VP_REC_TASK_NAME] = sizeof(struct vp_task_name),
	[VP_REC_BPF_LOST] = sizeof(struct vp_bpf_lost),
	[VP_REC_SYSFAULTS] = sizeof(struct vp_sysfaults),
	[VP_REC_TASK_NS] = sizeof(struct vp_task_ns),
	[VP_REC_KSTACK] = sizeof(struct vp_kstack),
	[VP_REC_MMSTAT] = sizeof(struct vp_mmstat),
	[VP_REC_RSS] = sizeof(struct vp_rss),
};

/* A record of a known type, its fixed part whole, its variable parts
 * inside it and its fields in range. */
static int valid(const struct vp_rec *h)
{
	uint32_t s = h->size;
	if (h->type >= VP_REC_TYPE_MAX || !fixed_size[h->type] || s < fixed_size[h->type])
		return 0;
	switch (h->type) {
	case VP_REC_PROC: {
		const struct vp_proc *p = (const void *)h;
		/* execfn_len was padding once: one that does not fit is read as
		 * 0 (vp_proc_execfn_len), not as a damaged record */
		return fits(s, sizeof(*p), (uint64_t)p->exe_len + p->argv_len);
	}
	case VP_REC_MAPS:
		return fits(s, sizeof(struct vp_maps), ((const struct vp_maps *)h)->len);
	case VP_REC_STACK: {
		const struct vp_stack *st = (const void *)h;
		return st->id && st->depth <= VP_MAX_STACK_DEPTH &&
		       fits(s, sizeof(*st), (uint64_t)st->depth * 8);
	}
	case VP_REC_MEM: {
		const struct vp_mem *m = (const void *)h;
		/* VP_MEM_KPATH: a vp_mem_file after the path, at 8 */
		uint64_t var = m->h.flags & VP_MEM_KPATH
				       ? VP_ALIGN8((uint64_t)m->path_len) + sizeof(struct vp_mem_file)
				       : m->path_len;
		return m->call > 0 && m->call < VP_CALL_MAX && fits(s, sizeof(*m), var) &&
		       (!(m->h.flags & VP_MEM_KPATH) ||
			(m->path_len < VP_MAX_PATH && vp_mem_file(m)->why < VP_KPATH_MAX));
	}
	case VP_REC_FORK: {
		const struct vp_fork *f = (const void *)h;
		return f->kind >= VP_FORK_FORK && f->kind <= VP_FORK_SPAWN &&
		       fits(s, sizeof(*f), f->path_len);
	}
	case VP_REC_EXEC: {
		const struct vp_exec *e = (const void *)h;
		if (!fits(s, sizeof(*e), (uint64_t)e->path_len + e->argv_len))
			return 0;
		/* argv: argc NUL-terminated strings, exactly */
		const char *a = vp_exec_argv(e);
		uint32_t nuls = 0;
		for (uint32_t i = 0; i < e->argv_len; i++)
			nuls += a[i] == 0;
		return nuls == e->argc && (e->argv_len == 0 || a[e->argv_len - 1] == 0);
	}
	case VP_REC_TASK_EXEC:
		return fits(s, sizeof(struct vp_task_exec), ((const struct vp_task_exec *)h)->path_len);
	case VP_REC_TASK_NAME: {
		const struct vp_task_name *n = (const void *)h;
		return (n->why == VP_NAME_EXEC || n->why == VP_NAME_EXIT) &&
		       n->argv_len <= VP_NAME_ARGV_MAX && fits(s, sizeof(*n), n->argv_len);
	}
	case VP_REC_TASK_NS: {
		const struct vp_task_ns *n = (const void *)h;
		return n->level > 0 && n->level < VP_NS_LEVELS && n->count == n->level + 1 &&
		       fits(s, sizeof(*n), (uint64_t)n->count * sizeof(struct vp_ns_id));
	}
	case VP_REC_KSTACK: {
		const struct vp_kstack *k = (const void *)h;
		int write = !!(h->flags & VP_KSTACK_WRITE);
		return (write ? k->call == 0 : k->call > 0 && k->call < VP_CALL_MAX) &&
		       k->stack_len <= VP_KSTACK_MAX &&
		       fits(s, sizeof(*k), k->stack_len);
	}
	default:
		return 1; /* a fixed part only */
	}
}

static int all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

/* Records of a damaged segment: counted, never returned. */
static void bad_flush(struct reader *r)
{
	if (!r->bad_until)
		return;
	uint64_t n = r->bad_seen > r->bad_expect ? r->bad_seen : r->bad_expect;
	r->st.seg_damaged += n ? n : 1;
	r->st.segs_damaged++;
	r->bad_until = 0;
}

/* VP_FH_SEGSUM: verify segment k before its first record is read. */
static void check_segment(struct reader *r, uint64_t k)
{
	uint64_t start = VP_HEADER_SIZE + k * r->seg, end = start + r->seg;
	uint64_t usable = r->seg - VP_SEGSUM_SIZE;
	const unsigned char *p = at(r, start);
	int bad = 0;
	uint64_t expect = 1;
	if (end <= r->end) {
		const struct vp_segsum *t = (const void *)(p + usable);
		if (t->h.type == VP_REC_SEGSUM && t->h.size == VP_SEGSUM_SIZE) {
			if (vp_crc32c(0, p, usable) != t->crc) {
				bad = 1;
				expect = t->records;
			}
		} else if (all_zero((const void *)t, VP_SEGSUM_SIZE)) {
			/* never completed: its writer was killed with a record
			 * of it still open */
			r->st.unverified += r->seg;
		} else {
			bad = 1;
		}
	} else {
		uint64_t len = r->end - start;
		if (r->sealed && r->hdr.tail_len == len && len <= usable) {
			if (vp_crc32c(0, p, len) != r->hdr.tail_crc) {
				bad = 1;
				expect = r->hdr.tail_records;
			}
		} else {
			/* the writer did not stop cleanly (killed, or still
			 * recording): nothing to verify the tail with */
			r->st.unverified += len;
		}
	}
	if (bad) {
		r->bad_until = end < r->end ? end : r->end;
		r->bad_seen = 0;
		r->bad_expect = expect;
	}
}

/* Give back the pages the cursor has passed, every 32 MiB, so reading a
 * multi-GB trace costs constant memory. The mapping is private and
 * read-only: records handed out earlier stay valid (a later access reads
 * the page back from the page cache). The 32 MiB ahead of the cursor are
 * mapped in one call (MADV_POPULATE_READ, Linux 5.14; where it fails, page
 * faults map them as before): one system call instead of a fault per few
 * pages. */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
static void drop_behind(struct reader *r)
{
	const uint64_t chunk = 32u << 20;
	if (!r->map || r->map_owned)
		return; /* a stream or a small file's copy: nothing mapped */
	if (r->off + chunk / 2 > r->ahead && r->ahead < r->end) {
		uint64_t from = r->ahead > r->off ? r->ahead : r->off & ~(uint64_t)4095;
		uint64_t to = from + chunk < r->end ? from + chunk : r->end;
		to = (to + 4095) & ~(uint64_t)4095;
		if (to > r->map_len)
			to = r->map_len;
		if (to > from)
			madvise((void *)(r->map + from), to - from, MADV_POPULATE_READ);
		r->ahead = to;
	}
	if (r->off - r->dropped < 2 * chunk)
		return;
	uint64_t upto = (r->off - chunk) & ~(uint64_t)4095;
	madvise((void *)(r->map + r->dropped), upto - r->dropped, MADV_DONTNEED);
	r->dropped = upto;
}

/* The segment the cursor entered: verify it (VP_FH_SEGSUM) before its
 * first record is read; where it ends. */
static void enter_segment(struct reader *r)
{
	uint64_t k = (r->off - VP_HEADER_SIZE) >> r->seg_shift;
	r->cur_seg = k;
	r->seg_left = VP_HEADER_SIZE + ((k + 1) << r->seg_shift);
	if (r->buf) {
		/* the segment's bytes up to the end of the records: all that
		 * reader__next and check_segment look at while in it */
		r->buf_off = VP_HEADER_SIZE + (k << r->seg_shift);
		uint64_t stop = r->seg_left < r->end ? r->seg_left : r->end;
		r->buf_len = stop > r->buf_off ? stop - r->buf_off : 0;
		struct ahead *ah = r->ahead_rd;
		if (ah) {
			ahead_wait(ah);
			if (ah->off == r->buf_off && ah->len == r->buf_len) {
				unsigned char *b = r->buf; /* the one read ahead is this segment */
				r->buf = ah->buf;
				ah->buf = b;
			} else {
				read_at(r->fd, r->buf, r->buf_len, r->buf_off);
			}
			ah->off = UINT64_MAX;
			if (stop < r->end) { /* the next segment, while this one is read */
				uint64_t nstop = stop + r->seg < r->end ? stop + r->seg : r->end;
				ahead_ask(ah, stop, nstop - stop);
			}
		} else {
			read_at(r->fd, r->buf, r->buf_len, r->buf_off);
		}
	}
	if (r->segsum && k >= r->next_check) {
		r->next_check = k + 1;
		check_segment(r, k);
	}
}

_Static_assert(sizeof(struct vp_fault) % 8 == 0 && sizeof(struct vp_fault) <= VP_MAX_RECORD,
	       "a fault record of its own size is sane (reader__next's fast path)");

int reader__next(struct reader *r, const struct vp_rec **rec)
{
	drop_behind(r);
	/* A whole fault record inside the segment the cursor is in, outside
	 * any damaged range: what the loop below returns for it, without its
	 * other checks (faults are most of a bpf.vpt; both fault passes read
	 * them). */
	if (!r->bad_until && r->off >= r->seg_left - r->seg &&
	    r->off + sizeof(struct vp_fault) <= r->seg_left &&
	    r->off + sizeof(struct vp_fault) <= r->end) {
		const struct vp_rec *h = (const void *)at(r, r->off);
		if (h->type == VP_REC_FAULT && h->size == sizeof(struct vp_fault)) {
			r->in_gap = 0;
			r->off += sizeof(struct vp_fault);
			r->st.records++;
			*rec = h;
			return 1;
		}
	}
	while (r->off + 8 <= r->end) {
		if (r->bad_until && r->off >= r->bad_until)
			bad_flush(r);
		if (r->off >= r->seg_left || r->off < r->seg_left - r->seg)
			enter_segment(r);
		const struct vp_rec *h = (const void *)at(r, r->off);
		uint64_t in_seg = (r->off - VP_HEADER_SIZE) & r->seg_mask;
		uint32_t size = h->size;
		int sane = size >= 8 && (size & 7) == 0 && size <= VP_MAX_RECORD &&
			   in_seg + size <= r->seg && r->off + size <= r->end;
		if (sane && (h->type == VP_REC_PAD || (h->type == VP_REC_SEGSUM && r->segsum))) {
			r->off += size;
			continue;
		}
		if (sane && size >= sizeof(struct vp_rec)) {
			if (h->type == 0) {
				/* reserved, never committed (writer killed mid-record) */
				r->st.incomplete++;
				r->off += size;
				continue;
			}
			if (valid(h)) {
				r->in_gap = 0;
				r->off += size;
				if (r->bad_until) {
					r->bad_seen++;
					continue;
				}
				r->st.records++;
				*rec = h;
				return 1;
			}
		}
		/* Garbage or a hole: a record can only start at an 8-byte
		 * boundary, so step 8 bytes and look again. */
		if ((h->type != 0 || size != 0) && !r->in_gap) {
			r->st.bad++;
			r->in_gap = 1;
		}
		r->st.skipped += 8;
		r->off += 8;
	}
	if (r->off < r->end)
		r->st.skipped += r->end - r->off;
	r->off = r->end;
	bad_flush(r);
	return 0;
}

void reader__unmap(struct reader *r)
{
	release_map(r);
	ahead_free(r->ahead_rd);
	r->ahead_rd = NULL;
	free(r->buf);
	r->buf = NULL;
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->map_len = 0;
	r->off = r->end = VP_HEADER_SIZE;
	r->dropped = r->ahead = 0;
}

void reader__free(struct reader *r)
{
	if (!r)
		return;
	release_map(r);
	ahead_free(r->ahead_rd);
	free(r->buf);
	if (r->fd >= 0)
		close(r->fd);
	free(r);
}
