// SPDX-License-Identifier: MIT
/*
 * collector: loader and ring-buffer drain for collector.bpf.c.
 *
 * The trace file is written sequentially by this process only: a
 * vp_file_header, then records copied from the ring buffer into a large
 * user-space buffer and written out with write(2). No record crosses a
 * VP_SEG_SIZE boundary of the data area; a VP_REC_PAD fills the rest of a
 * segment when the next record does not fit. The header's counters are
 * rewritten (pwrite) at every flush, so a killed recorder leaves a file
 * whose header describes what reached the disk.
 *
 * Checksums (VP_FH_SEGSUM): a running CRC-32C of the current segment is
 * kept as records are emitted; a full segment ends with its VP_REC_SEGSUM
 * trailer, and every flush seals the header with the checksum of the
 * partial last segment (what the flush wrote) and of the header itself.
 */
#include "collector.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vmaprof/clock.h>
#include <vmaprof/crc32c.h>
#include <vmaprof/record.h>
#include "collector_shared.h"
#include "collector.skel.h"

#define DEFAULT_RINGBUF (64u << 20)
#define OUT_BUF_SIZE (8u << 20)
/* Flush when this much is buffered even if the ring buffer is still busy. */
#define FLUSH_AT (4u << 20)

struct collector {
	struct collector_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *flush_link; /* iter/task: pending faults at finish */
	int fd;
	int stats_fd;
	int finished;
	int write_err;       /* first write error (-errno), reported once */
	int write_err_told;
	char *buf;
	size_t buf_len;
	uint64_t data_off;   /* data-area bytes produced (flushed + buffered) */
	uint64_t flushed;    /* data-area bytes written to the file */
	uint64_t records;
	uint64_t faults;
	uint64_t bad;        /* malformed ring-buffer samples */
	uint64_t dropped;    /* records lost to write errors */
	uint64_t lost_seen;  /* value of the BPF `lost` counter already reported */
	uint32_t seg_crc;     /* CRC-32C of the current segment so far */
	uint32_t seg_records; /* records in it (pads not counted) */
	struct vp_file_header hdr;
};

static void set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* libbpf's last warning while loading: kept to explain a refusal. */
static char libbpf_msg[512];

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = 0;
	/* keep the first specific message: later ones are generic wrappers */
	if (n && !libbpf_msg[0])
		snprintf(libbpf_msg, sizeof(libbpf_msg), "%s", line);
	return 0;
}

static uint64_t lost_total(const struct collector *c)
{
	return c->hdr.lost;
}

static void update_header_counters(struct collector *c)
{
	c->hdr.head = c->flushed;
	c->hdr.records = c->records - c->dropped;
	c->hdr.lost = c->lost_seen + c->bad + c->dropped;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush(struct collector *c)
{
	int err = 0;

	if (c->buf_len && !c->write_err) {
		err = write_all(c->fd, c->buf, c->buf_len);
		if (err) {
			c->write_err = err;
			c->hdr.disabled = VP_DIS_EXTEND;
		} else {
			c->flushed += c->buf_len;
		}
	}
	if (c->write_err) {
		/* Everything after the failure is lost; count whole records:
		 * the buffer holds records only. */
		const char *p = c->buf, *end = c->buf + c->buf_len;

		while (p + sizeof(struct vp_rec) <= end) {
			const struct vp_rec *h = (const void *)p;

			if (h->type != VP_REC_PAD && h->type != VP_REC_SEGSUM)
				c->dropped++;
			p += h->size;
		}
	}
	c->buf_len = 0;
	update_header_counters(c);
	/* seal: everything produced is on disk (unless a write failed) */
	uint64_t in = c->flushed % VP_SEG_SIZE;
	int whole = !c->write_err && c->flushed == c->data_off;
	c->hdr.tail_len = whole ? in : 0;
	c->hdr.tail_crc = whole && in ? c->seg_crc : 0;
	c->hdr.tail_records = whole && in ? c->seg_records : 0;
	c->hdr.hdr_crc = 0;
	c->hdr.hdr_crc = vp_crc32c(0, &c->hdr, sizeof(c->hdr));
	if (pwrite(c->fd, &c->hdr, sizeof(c->hdr), 0) != (ssize_t)sizeof(c->hdr) && !err)
		err = -errno;
	return c->write_err ? c->write_err : err;
}

/* Append one record, padding to the next segment first if it would cross. */
static void emit(struct collector *c, const void *rec, uint32_t size)
{
	const uint32_t usable = VP_SEG_SIZE - VP_SEGSUM_SIZE;
	uint64_t in_seg = c->data_off % VP_SEG_SIZE;

	if (c->buf_len + VP_MAX_RECORD + VP_SEGSUM_SIZE + size > OUT_BUF_SIZE)
		flush(c);
	if (in_seg + size > usable) {
		uint32_t pad = usable - (uint32_t)in_seg;
		struct vp_segsum *t;

		if (pad) {
			struct vp_rec *p = (void *)(c->buf + c->buf_len);

			/* every record size and offset is a multiple of 8 */
			memset(p, 0, pad);
			p->size = pad;
			p->type = VP_REC_PAD;
			c->seg_crc = vp_crc32c(c->seg_crc, p, pad);
			c->buf_len += pad;
			c->data_off += pad;
		}
		t = (void *)(c->buf + c->buf_len);
		memset(t, 0, sizeof(*t));
		t->h.size = VP_SEGSUM_SIZE;
		t->h.time_ns = vp_mono_ns();
		t->h.pid = c->hdr.pid;
		t->h.type = VP_REC_SEGSUM;
		t->crc = c->seg_crc;
		t->records = c->seg_records;
		c->buf_len += sizeof(*t);
		c->data_off += sizeof(*t);
		c->seg_crc = 0;
		c->seg_records = 0;
	}
	memcpy(c->buf + c->buf_len, rec, size);
	c->seg_crc = vp_crc32c(c->seg_crc, rec, size);
	c->seg_records++;
	c->buf_len += size;
	c->data_off += size;
	c->records++;
}

/* One ring-buffer sample holds either one record of any type (the sample
 * may be longer than h.size: TASK_EXEC reserves room for the longest path),
 * or a task's batch of finished VP_REC_FAULTs back to back, each with its
 * own h.size, filling the sample exactly. */
static int on_sample(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	const char *p = data;

	while (size) {
		const struct vp_rec *h = (const void *)p;

		if (size < sizeof(*h) || h->size < sizeof(*h) || h->size > size ||
		    (h->size & 7) || h->size > VP_MAX_RECORD || h->type < VP_REC_MEM ||
		    h->type >= VP_REC_TYPE_MAX) {
			c->bad++; /* the rest of the sample cannot be delimited */
			return 0;
		}
		emit(c, h, h->size);
		if (h->type != VP_REC_FAULT)
			return 0;
		c->faults++;
		p += h->size;
		size -= h->size;
	}
	return 0;
}

/* Report reserve failures as a VP_REC_BPF_LOST record whenever they grew. */
static void check_lost(struct collector *c)
{
	uint64_t now = __atomic_load_n(&c->skel->bss->lost, __ATOMIC_RELAXED);
	struct vp_bpf_lost r;

	if (now <= c->lost_seen)
		return;
	memset(&r, 0, sizeof(r));
	r.h.size = sizeof(r);
	r.h.time_ns = vp_mono_ns();
	r.h.pid = c->hdr.pid;
	r.h.tid = c->hdr.pid;
	r.count = now - c->lost_seen;
	r.h.type = VP_REC_BPF_LOST;
	c->lost_seen = now;
	emit(c, &r, sizeof(r));
}

static size_t ringbuf_size(size_t want)
{
	size_t sz = 4096;

	if (!want)
		want = DEFAULT_RINGBUF;
	while (sz < want && sz < (1ul << 31))
		sz <<= 1;
	return sz;
}

int collector__new(const struct collector_opts *o, struct collector **out, char *why,
		   size_t why_len)
{
	libbpf_print_fn_t old_print = NULL;
	struct collector *c = NULL;
	int err;

	*out = NULL;
	if (!o || !o->trace_path) {
		set_why(why, why_len, "no trace path");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = -errno;
		set_why(why, why_len, "out of memory");
		return err;
	}
	c->fd = -1;
	c->stats_fd = -1;
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		err = -errno;
		set_why(why, why_len, "no kernel BTF (/sys/kernel/btf/vmlinux: %s)",
			strerror(-err));
		goto cleanup;
	}
	c->buf = malloc(OUT_BUF_SIZE);
	if (!c->buf) {
		err = -errno;
		set_why(why, why_len, "out of memory");
		goto cleanup;
	}

	libbpf_msg[0] = 0;
	old_print = libbpf_set_print(libbpf_print);
	c->skel = collector_bpf__open();
	if (!c->skel) {
		err = -errno;
		set_why(why, why_len, "cannot open the BPF object: %s",
			libbpf_msg[0] ? libbpf_msg : strerror(-err));
		goto cleanup;
	}
	c->skel->rodata->self_tgid = o->self_pid ? o->self_pid : getpid();
	switch (o->vma) {
	case COLLECTOR_VMA_OFF: c->skel->rodata->vma_mode = CT_VMA_OFF; break;
	case COLLECTOR_VMA_EVERY: c->skel->rodata->vma_mode = CT_VMA_EVERY; break;
	default: c->skel->rodata->vma_mode = CT_VMA_CACHED; break;
	}
	c->skel->rodata->no_signals = o->no_signals;
	c->skel->rodata->wake_bytes = ringbuf_size(o->ringbuf_bytes) / 4;
	/* run once by collector__finish, not attached with the producers */
	bpf_program__set_autoattach(c->skel->progs.flush_tasks, false);
	err = bpf_map__set_max_entries(c->skel->maps.rb, ringbuf_size(o->ringbuf_bytes));
	if (err) {
		set_why(why, why_len, "cannot size the ring buffer: %s", strerror(-err));
		goto cleanup;
	}
	libbpf_msg[0] = 0;
	err = collector_bpf__load(c->skel);
	if (err) {
		if (err == -EPERM || err == -EACCES)
			set_why(why, why_len,
				"not allowed to load BPF programs (need root, or CAP_BPF and "
				"CAP_PERFMON): %s", libbpf_msg[0] ? libbpf_msg : strerror(-err));
		else
			set_why(why, why_len, "BPF program refused by the kernel: %s",
				libbpf_msg[0] ? libbpf_msg : strerror(-err));
		goto cleanup;
	}
	libbpf_msg[0] = 0;
	err = collector_bpf__attach(c->skel);
	if (err) {
		set_why(why, why_len, "cannot attach the BPF programs: %s",
			libbpf_msg[0] ? libbpf_msg : strerror(-err));
		goto cleanup;
	}
	/* Without the task iterator, faults still pending in task storage when
	 * recording stops could not be collected: refuse now rather than lose
	 * them uncounted later. */
	c->flush_link = bpf_program__attach_iter(c->skel->progs.flush_tasks, NULL);
	if (!c->flush_link) {
		err = -errno;
		set_why(why, why_len, "cannot attach the task iterator: %s",
			libbpf_msg[0] ? libbpf_msg : strerror(-err));
		goto cleanup;
	}
	if (o->prog_stats) {
		c->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (c->stats_fd < 0) {
			err = -errno;
			set_why(why, why_len, "cannot enable BPF run-time stats: %s",
				strerror(-err));
			goto cleanup;
		}
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.rb), on_sample, c, NULL);
	if (!c->rb) {
		err = -errno;
		set_why(why, why_len, "cannot map the ring buffer: %s", strerror(-err));
		goto cleanup;
	}

	/* a new file, never through a symlink planted under its name */
	c->fd = open(o->trace_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->fd < 0) {
		err = -errno;
		set_why(why, why_len, "cannot create %s: %s", o->trace_path, strerror(-err));
		goto cleanup;
	}
	c->hdr.magic = VP_MAGIC;
	c->hdr.version = VP_FORMAT_VERSION;
	c->hdr.header_size = VP_HEADER_SIZE;
	c->hdr.source = VP_SRC_BPF;
	c->hdr.pid = getpid();
	c->hdr.page_size = sysconf(_SC_PAGESIZE);
	c->hdr.flags = VP_FH_SEQUENTIAL | VP_FH_SEGSUM;
	c->hdr.start_ns = vp_mono_ns();
	c->hdr.seg_size = VP_SEG_SIZE;
	err = write_all(c->fd, (const char *)&c->hdr, sizeof(c->hdr));
	if (err) {
		set_why(why, why_len, "cannot write %s: %s", o->trace_path, strerror(-err));
		goto cleanup;
	}
	libbpf_set_print(old_print);
	*out = c;
	return 0;

cleanup:
	if (old_print)
		libbpf_set_print(old_print);
	c->finished = 1; /* nothing to drain */
	collector__free(c);
	return err;
}

int collector__track(struct collector *c, pid_t root_pid)
{
	struct task_state v;
	int pidfd, err = 0;

	if (!c || c->finished || root_pid <= 0)
		return -EINVAL;
	pidfd = syscall(SYS_pidfd_open, root_pid, 0);
	if (pidfd < 0)
		return -errno;
	memset(&v, 0, sizeof(v));
	v.traced = 1;
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.tstate), &pidfd, &v, BPF_ANY))
		err = -errno;
	close(pidfd);
	return err;
}

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9: a pidfd of the thread, not the process */
#endif

int collector__track_thread(struct collector *c, pid_t tid)
{
	struct task_state v;
	int pidfd, err = 0;

	if (!c || c->finished || tid <= 0)
		return -EINVAL;
	pidfd = syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	if (pidfd < 0)
		return -errno;
	memset(&v, 0, sizeof(v));
	v.traced = 1;
	/* never overwrite a state the programs keep (an open fault, batches) */
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.tstate), &pidfd, &v, BPF_NOEXIST))
		err = -errno;
	close(pidfd);
	return err;
}

int collector__traced(struct collector *c, pid_t pid)
{
	struct task_state v;
	int pidfd, r;

	if (!c || pid <= 0)
		return -EINVAL;
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return errno == ESRCH ? 0 : -errno;
	r = bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.tstate), &pidfd, &v) == 0;
	if (!r && errno != ENOENT)
		r = -errno;
	close(pidfd);
	return r;
}

static int after_drain(struct collector *c, int n)
{
	check_lost(c);
	if (c->buf_len >= FLUSH_AT || (n == 0 && c->buf_len)) {
		int err = flush(c);

		if (err && !c->write_err_told) {
			c->write_err_told = 1;
			return err;
		}
	}
	return n;
}

int collector__poll(struct collector *c, int timeout_ms)
{
	int n;

	if (!c || c->finished)
		return -EINVAL;
	/* The kernel side wakes us only when the ring is filling up (see
	 * wake_bytes); after the timeout, drain whatever is there. */
	n = ring_buffer__poll(c->rb, timeout_ms);
	if (n == -EINTR)
		n = 0;
	if (n >= 0) {
		int m = ring_buffer__consume(c->rb);

		n = m < 0 ? m : n + m;
	}
	if (n < 0)
		return n;
	return after_drain(c, n);
}

/* Run flush_tasks over every task: each task's pending faults go to the
 * ring buffer (a failed output is counted in `lost` there). */
static int flush_pending(struct collector *c)
{
	char buf[64];
	int fd, err = 0;
	ssize_t n;

	if (!c->flush_link)
		return 0;
	fd = bpf_iter_create(bpf_link__fd(c->flush_link));
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
	}
	close(fd);
	return err;
}

static int drain_all(struct collector *c)
{
	int n;

	do {
		n = ring_buffer__consume(c->rb);
		check_lost(c);
	} while (n > 0);
	return n < 0 ? n : 0;
}

int collector__finish(struct collector *c, struct collector_stats *st)
{
	int n, err = 0;

	if (!c || c->finished)
		return -EINVAL;
	/* Stop the producers first, then wait for a grace period: a program
	 * started before the detach may still be running on another CPU, and
	 * the tracepoints run them inside RCU read-side sections. After that
	 * records can only be in the ring or pending in task storage. */
	collector_bpf__detach(c->skel);
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0)
		usleep(50000); /* nohz_full or no membarrier: a program runs for µs */
	err = drain_all(c);
	n = flush_pending(c);
	if (n && !err)
		err = n;
	n = drain_all(c);
	if (n && !err)
		err = n;
	{
		int ferr = flush(c); /* also rewrites the header counters */

		if (ferr && !err)
			err = ferr;
	}
	if (close(c->fd) && !err)
		err = -errno;
	c->fd = -1;
	c->finished = 1;
	if (st) {
		st->records = c->records - c->dropped;
		st->lost = lost_total(c);
		st->faults = c->faults;
		st->untracked = c->skel->bss->untracked;
		st->unhandled = c->skel->bss->unhandled;
	}
	return err;
}

int collector__prog_stats(struct collector *c, struct collector_prog_stat *out, int max)
{
	struct bpf_program *prog;
	int n = 0;

	if (!c)
		return -EINVAL;
	bpf_object__for_each_program(prog, c->skel->obj) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		if (n < max) {
			memset(&info, 0, sizeof(info));
			if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
				return -errno;
			snprintf(out[n].name, sizeof(out[n].name), "%s", bpf_program__name(prog));
			out[n].run_ns = info.run_time_ns;
			out[n].run_cnt = info.run_cnt;
		}
		n++;
	}
	return n;
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	if (!c->finished)
		collector__finish(c, NULL);
	ring_buffer__free(c->rb);
	bpf_link__destroy(c->flush_link);
	collector_bpf__destroy(c->skel);
	if (c->fd >= 0)
		close(c->fd);
	if (c->stats_fd >= 0)
		close(c->stats_fd);
	free(c->buf);
	free(c);
}
