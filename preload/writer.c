/* SPDX-License-Identifier: MIT */
/*
 * Trace file writer (layer 3 of preload/, see shim.c: below it only core
 * and the leaves). Layout and rules: include/vmaprof/record.h; the pure
 * ones shared with the other writers (the header's fixed fields, a
 * segment's usable bytes, the header's checksum) are the static inline
 * functions of include/vmaprof/tracewriter.h.
 *
 * Why MAP_SHARED and not write(2): write(2) of one 104-byte record costs
 * ~1500 ns here, a store into a shared file mapping ~70-120 ns (including
 * the page faults), and the record still survives the process being
 * killed, since it is in the page cache once stored.
 *
 * Segments get their blocks with fallocate first: a store into a shared
 * page with no block behind it (disk or tmpfs full) raises SIGBUS in the
 * traced program. Then MADV_POPULATE_WRITE faults the range in with one
 * system call: left to fault on first store, a shared file page costs one
 * exception each (10-20 us in our VMs, ~400 ns per record, measured: W1 of
 * bench/run.py 5500 ns/pair against 4885 populated). Populated pages count
 * in the process's min_flt but reach no fault tracepoint, so their number
 * travels in a VP_REC_INTERNAL record (`populated`) and the analyzer sets
 * them beside the kernel's counters.
 *
 * Growth (record.h: VP_SEG_STEP): most process images of a build or a shell
 * script write a few KiB in all, so the first segment does not get its
 * 1 MiB at once. Its whole 1 MiB is mapped (address space only; no page of
 * it is touched before it has a block), but blocks and populated pages go
 * only to its first GROW_FIRST bytes; a reservation reaching past s[0].lim
 * doubles it (fallocate + MADV_POPULATE_WRITE of the new part, under
 * map_lock, before anyone stores there), up to the whole segment: at most
 * 6 steps, each needing the file reopened (the broker: ~50-100 us). Later
 * segments (a program that wrote 1 MiB writes more) get the whole segment
 * at once, as before. A step that fails (disk full) stops recording like a
 * segment that cannot be created: the reservations past lim are counted as
 * lost, and the file is left ending at the old step (a reader takes that
 * as the writer's stop, not as a truncated file).
 *
 * Where the file comes from: the recorder's broker (vmaprof/broker.h) when
 * VMAPROF_BROKER names one -- it creates the file 0600 in the 0700 trace
 * directory and passes the descriptor, so a process that dropped its
 * privileges (su, setpriv, a daemon's setuid) is still recorded -- else, or
 * when the broker cannot be reached, by path (the shim used on its own, a
 * program in another network namespace).
 *
 * Concurrency: `head` (in the mapped header) hands out byte ranges; a range
 * never crosses a segment (the reserving thread pads the tail of a segment
 * and tries again). `s[k].done` counts committed bytes of segment k; whoever
 * completes a segment unmaps it, so the target's address space holds at most
 * the segments still being written.
 *
 * Checksums (record.h, VP_FH_SEGSUM): no record goes into the last
 * VP_SEGSUM_SIZE bytes of a segment; a range reaching into them is padded
 * up to them, and its bytes there are only counted as done. Whoever
 * completes the segment computes its CRC-32C (SSE4.2: ~110 us per 1 MiB
 * segment, which holds ~5000 mmap/munmap pairs) and stores the trailer
 * before unmapping it. writer__seal (exit, exec) checksums the partial
 * last segment and the header; once sealed, every later change to the
 * header first clears hdr_crc (a writer killed in between leaves an
 * unsealed file, read unverified, not a "damaged" one) and seals again.
 */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "broker_client.h"
#include "vmaprof/crc32c.h"
#include "seccomp.h"
#include "core.h"
#include "vmaprof/broker.h"
#include "vmaprof/clock.h"
#include "vmaprof/tracewriter.h"

#define MAX_SEGS 4096u /* 4 GiB of trace per process image */

enum { SEG_NONE = 0, SEG_MAPPING, SEG_MAPPED, SEG_FAILED };

/* One segment's state: its fields side by side, so a process writing
 * only segment 0 (most do) touches one page of this table, not one page
 * of each of four arrays (a page fault each, per process). */
struct wseg {
	char *_Atomic p;
	_Atomic uint32_t state;
	/* bytes from the segment's start with blocks and populated pages:
	 * nothing is stored at or past lim (growth, above) */
	_Atomic uint32_t lim;
	_Atomic uint64_t done;
};

static struct {
	/* No descriptor is kept open: programs that close every fd (daemons)
	 * would take it away, or worse, reuse its number for a file of their
	 * own that we would then truncate. Each new segment reopens the file:
	 * through the broker when it gave us the file (we may no longer be
	 * allowed to open it by path), else by path. */
	int via_broker;
	struct vp_file_header *hdr;
	_Atomic int active;
	atomic_flag map_lock;
	_Atomic int sealed;     /* writer__seal ran: keep the seal current */
	_Atomic int seal_busy;  /* a thread is computing the seal */
	_Atomic int seal_dirty; /* the seal must be computed (again) */
	_Atomic uint32_t seal_reading; /* k+1: the seal reads segment k */
	struct wseg s[MAX_SEGS];
	char name[256];   /* the file's name in the trace directory (broker) */
	char path[VP_MAX_PATH];
} w;

#define GROW_FIRST VP_SEG_STEP /* segment 0 starts with 16 KiB */

int writer__active(void)
{
	return atomic_load_explicit(&w.active, memory_order_relaxed);
}

#define USABLE VP_SEG_USABLE /* record bytes of a segment (tracewriter.h) */

/* Records (not pads) in the first `len` bytes of a segment: all committed. */
static uint32_t count_records(const char *p, uint32_t len)
{
	uint32_t n = 0;
	for (uint32_t off = 0; off + sizeof(struct vp_rec) <= len;) {
		const struct vp_rec *r = (const struct vp_rec *)(p + off);
		if (r->size < 8 || (r->size & 7) || r->size > len - off)
			break;
		n += r->type != VP_REC_PAD;
		off += r->size;
	}
	return n;
}

/* The collector does not signal a thread inside a hook (sigstack.c). The
 * writer's own steps that other callers wait on (mapping a segment,
 * growing one, the seal's read of one) run as if inside one, whoever
 * called them (a hook, a thread-exit destructor, the constructor): no
 * handler of ours comes in on this thread to wait for them. */
#define QUIET_BEGIN() int quiet_saved_ = in_hook; in_hook = 1
#define QUIET_END() (in_hook = quiet_saved_)

/* k + 1 while this thread's seal reads segment k (compute_seal), else 0. */
static __thread uint32_t sealing_seg __attribute__((tls_model("initial-exec")));

static void compute_seal(void)
{
	struct vp_file_header *h = w.hdr;
	atomic_store((_Atomic uint32_t *)&h->hdr_crc, 0);
	uint64_t head = atomic_load((_Atomic uint64_t *)&h->head);
	uint64_t tail_len = 0;
	uint32_t tcrc = 0, trec = 0, in = (uint32_t)(head % VP_SEG_SIZE);
	uint64_t k = head / VP_SEG_SIZE;
	if (in && k < MAX_SEGS) {
		/* pin segment k: its completer waits before unmapping it */
		QUIET_BEGIN();
		sealing_seg = (uint32_t)k + 1;
		atomic_store(&w.seal_reading, (uint32_t)k + 1);
		char *p = atomic_load(&w.s[k].p);
		if (p && atomic_load(&w.s[k].done) == in && in <= USABLE) {
			tcrc = vp_crc32c(0, p, in);
			trec = count_records(p, in);
			tail_len = in;
		}
		atomic_store(&w.seal_reading, 0);
		sealing_seg = 0;
		QUIET_END();
	}
	h->tail_len = tail_len;
	h->tail_crc = tcrc;
	h->tail_records = trec;
	atomic_store((_Atomic uint32_t *)&h->hdr_crc, vp_fh_crc(h));
}

/* Compute the seal; if another thread (or a signal handler interrupting
 * one) is at it, leave it to that one: it runs again when told dirty. */
static void do_seal(void)
{
	atomic_store(&w.seal_dirty, 1);
	for (;;) {
		if (atomic_exchange(&w.seal_busy, 1))
			return;
		while (atomic_exchange(&w.seal_dirty, 0))
			compute_seal();
		atomic_store(&w.seal_busy, 0);
		if (!atomic_load(&w.seal_dirty))
			return;
	}
}

/* Around every change of the header or the data once sealed. */
static inline void unseal(void)
{
	if (__builtin_expect(atomic_load(&w.sealed), 0))
		atomic_store((_Atomic uint32_t *)&w.hdr->hdr_crc, 0);
}

static inline void reseal(void)
{
	if (__builtin_expect(atomic_load(&w.sealed), 0))
		do_seal();
}

void writer__seal(void)
{
	if (!w.hdr)
		return;
	atomic_store(&w.sealed, 1);
	do_seal();
}

static void disable(uint32_t why)
{
	atomic_store(&w.active, 0);
	if (w.hdr) {
		uint32_t none = VP_DIS_NONE;
		unseal();
		atomic_compare_exchange_strong((_Atomic uint32_t *)&w.hdr->disabled, &none, why);
		reseal();
	}
}

/* A seccomp filter would refuse call `nr` (action `act`): stop before it. */
static void disable_seccomp(int nr, uint32_t act)
{
	atomic_store(&w.active, 0);
	if (w.hdr) {
		uint32_t none = VP_DIS_NONE;
		unseal();
		if (atomic_compare_exchange_strong((_Atomic uint32_t *)&w.hdr->disabled, &none,
						   VP_DIS_SECCOMP)) {
			w.hdr->dis_nr = nr;
			w.hdr->dis_action = act;
		}
		reseal();
	}
}

void writer__lost(void)
{
	if (w.hdr) {
		unseal();
		atomic_fetch_add((_Atomic uint64_t *)&w.hdr->lost, 1);
		reseal();
	}
}

void writer__reentered(void)
{
	if (w.hdr && writer__active()) {
		unseal();
		atomic_fetch_add_explicit((_Atomic uint64_t *)&w.hdr->reentered, 1,
					  memory_order_relaxed);
		reseal();
	}
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* Give [off, off+len) of the file real blocks. 0 when they are reserved,
 * 1 when the file system cannot reserve them (no fallocate: the mapping
 * must then be prefaulted, see map_range), -errno on failure. */
static int grow_file(int fd, uint64_t off, uint64_t len)
{
	if (fallocate(fd, 0, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP)
		return -errno;
	if (!sc__ok(SC_FSTAT) || !sc__ok(SC_FTRUNCATE))
		return -EPERM; /* a seccomp filter would refuse the fallback */
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return -errno;
	if ((uint64_t)sb.st_size < off + len && ftruncate(fd, (off_t)(off + len)) < 0)
		return -errno;
	return 1;
}

/* Write-fault [p, p+len) of a shared file mapping now (also the guard
 * where blocks could not be reserved: a full disk fails here, not as
 * SIGBUS in the program later). *populated gets the number of pages
 * faulted in. 0 or -1 (errno set). */
static int populate(char *p, size_t len, uint32_t *populated)
{
	*populated = 0;
	if (SYS3(SYS_madvise, p, len, MADV_POPULATE_WRITE) == 0) {
		/* fresh file range: none of its pages was present */
		*populated = (uint32_t)(len / (size_t)sysconf(_SC_PAGESIZE));
		return 0;
	}
	/* EINVAL: a kernel without MADV_POPULATE_WRITE (< 5.14): the pages
	 * fault in on first store, where the collector sees them */
	return errno == EINVAL ? 0 : -1;
}

/* Map `len` bytes of the file from `off` shared and writable and populate
 * the first `fill` of them (the rest is not touched until it has blocks).
 * NULL on failure, nothing mapped. */
static void *map_range(int fd, uint64_t off, size_t len, size_t fill, uint32_t *populated)
{
	*populated = 0;
	void *p = core__real_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (p == MAP_FAILED)
		return NULL;
	if (populate(p, fill, populated) < 0) {
		int e = errno;
		core__real_munmap(p, len);
		errno = e;
		return NULL;
	}
	return p;
}

/* Reopen the trace file for a new segment. */
static int reopen(void)
{
	if (w.via_broker)
		return broker__request(VP_BROKER_REOPEN, 0, w.name, NULL, 0);
	int fd = core__real_open(w.path, O_RDWR | O_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

static uint64_t file_end; /* the file's length as the writer grew it */

/* Under map_lock, with fd open on the file: give [off, off+len) blocks.
 * A failure leaves the file as long as before (a file system that
 * allocated part of the range before running out keeps it otherwise:
 * ext4 does), so it still ends at a step boundary (record.h:
 * VP_SEG_STEP). grow_file's answer: 0, 1 (blocks not reserved: the
 * populate is the guard) or -errno. */
static int grow_locked(int fd, uint64_t off, uint64_t len)
{
	int r = grow_file(fd, off, len);
	if (r >= 0) {
		if (off + len > file_end)
			file_end = off + len;
		return r;
	}
	struct stat sb;
	if (sc__ok(SC_FSTAT) && sc__ok(SC_FTRUNCATE) && fstat(fd, &sb) == 0 &&
	    (uint64_t)sb.st_size > file_end)
		(void)!ftruncate(fd, (off_t)file_end);
	return r;
}

/* Segment k's first blocks and mapping, from fd (not closed here): its
 * whole VP_SEG_SIZE is mapped, the first `fill` bytes backed and populated.
 * NULL (errno, *why set) on failure. */
static char *seg_create(int fd, uint32_t k, uint32_t fill, uint32_t *pop, uint32_t *why)
{
	/* Grow the file only under the lock: with the ftruncate fallback,
	 * two threads extending for different segments must never shrink
	 * it (SIGBUS). */
	while (atomic_flag_test_and_set_explicit(&w.map_lock, memory_order_acquire))
		sched_yield();
	uint64_t off = VP_HEADER_SIZE + (uint64_t)k * VP_SEG_SIZE;
	/* blocks reserved already (writer__open's for segment 0): none to ask */
	int grown = off + fill <= file_end ? 0 : grow_locked(fd, off, fill);
	atomic_flag_clear_explicit(&w.map_lock, memory_order_release);
	*pop = 0;
	if (grown < 0) {
		*why = VP_DIS_EXTEND;
		return NULL;
	}
	char *p = map_range(fd, off, VP_SEG_SIZE, fill, pop);
	if (!p) {
		*why = VP_DIS_MAP;
		return NULL;
	}
	atomic_store_explicit(&w.s[k].lim, fill, memory_order_release);
	return p;
}

int writer__open(const char *dir, pid_t pid, uint32_t pid_ns, uint32_t stack_depth, int asked)
{
	char path[VP_MAX_PATH], name[256];
	uint64_t now = vp_mono_ns();
	int n = snprintf(path, sizeof(path), "%s/preload.%d.%llu.vpt", dir, (int)pid,
			 (unsigned long long)now);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	int via_broker = 0;
	int fd = broker__end(asked, VP_BROKER_OPEN, name, sizeof(name));
	if (fd >= 0) {
		via_broker = 1;
	} else {
		/* No broker, or it cannot be reached: the direct path. If that
		 * fails too, a refusal by the broker is the better reason. */
		int berr = fd;
		/* Nobody listens although we share the recorder's network
		 * namespace: the recording has ended (a daemon it left running
		 * starting a process). Stay off rather than add a file to a
		 * finished recording; in another namespace the broker is out
		 * of reach: the direct path, as without one. */
		if (sc__ok(SC_READLINK) && broker__gone(berr))
			return -ESHUTDOWN;
		fd = core__real_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			return berr == -EPERM ? berr : -errno;
	}
	file_end = 0;
	/* The header's blocks and segment 0's first step's in one fallocate
	 * (seg_create then finds them reserved); if that fails (a nearly
	 * full disk), the header's alone, as segment 0 alone may still fail
	 * later with its own reason. */
	int err = grow_locked(fd, 0, VP_HEADER_SIZE + GROW_FIRST);
	if (err < 0)
		err = grow_locked(fd, 0, VP_HEADER_SIZE);
	uint32_t hpop = 0;
	void *h = err < 0 ? NULL : map_range(fd, 0, VP_HEADER_SIZE, VP_HEADER_SIZE, &hpop);
	if (err > 0)
		err = 0;
	if (!h && !err)
		err = -errno;
	/* Segment 0 from the same descriptor: a reopen (a broker round trip)
	 * saved for every process image. If it fails, the first record
	 * tries again (seg_get) and stops recording with the reason. */
	char *s0 = NULL;
	uint32_t s0pop = 0, s0why = 0;
	if (!err)
		s0 = seg_create(fd, 0, GROW_FIRST, &s0pop, &s0why);
	core__real_close(fd);
	if (err) {
		if (!via_broker)
			unlink(path);
		return err;
	}
	memcpy(w.path, path, (size_t)n + 1);
	w.via_broker = via_broker;
	if (via_broker)
		memcpy(w.name, name, sizeof(name));
	w.hdr = h;
	atomic_flag_clear(&w.map_lock);
	struct vp_file_header *hdr = h;
	vp_fh_init(hdr, VP_SRC_PRELOAD, (uint32_t)pid, VP_FH_SEGSUM, now);
	hdr->pid_ns = pid_ns;
	hdr->page_size = (uint32_t)sysconf(_SC_PAGESIZE);
	hdr->stack_depth = stack_depth;
	/* magic last: a reader seeing it sees the rest */
	atomic_store_explicit((_Atomic uint64_t *)&hdr->magic, VP_MAGIC, memory_order_release);
	if (s0) {
		atomic_store_explicit(&w.s[0].p, s0, memory_order_relaxed);
		atomic_store_explicit(&w.s[0].state, SEG_MAPPED, memory_order_release);
	}
	atomic_store(&w.active, 1);
	writer__note_internal(h, VP_HEADER_SIZE, VP_INT_TRACE, 0, hpop);
	if (s0)
		writer__note_internal(s0, VP_SEG_SIZE, VP_INT_TRACE, 0, s0pop);
	return 0;
}

/* k + 1 while this thread maps segment k (seg_map), else 0. */
static __thread uint32_t mapping_seg __attribute__((tls_model("initial-exec")));

static char *seg_map(uint32_t k);

/* Map segment k, or wait for the thread that is mapping it. */
static char *seg_get(uint32_t k)
{
	uint32_t st = atomic_load_explicit(&w.s[k].state, memory_order_acquire);
	if (st == SEG_MAPPED)
		return atomic_load_explicit(&w.s[k].p, memory_order_relaxed);
	uint32_t none = SEG_NONE;
	if (st == SEG_NONE &&
	    atomic_compare_exchange_strong(&w.s[k].state, &none, SEG_MAPPING)) {
		QUIET_BEGIN();
		mapping_seg = k + 1;
		char *p = seg_map(k);
		mapping_seg = 0;
		QUIET_END();
		return p;
	}
	/* This very thread is mapping it: a signal handler (the collector's
	 * signal for the stack of our own mmap of the segment) or another
	 * re-entry wants a record in it. Waiting would wait for ourselves
	 * forever: that record is lost (counted) instead. */
	if (mapping_seg == k + 1)
		return NULL;
	/* Another thread is mapping it: that takes microseconds. */
	while ((st = atomic_load_explicit(&w.s[k].state, memory_order_acquire)) == SEG_MAPPING)
		sched_yield();
	return st == SEG_MAPPED ? atomic_load_explicit(&w.s[k].p, memory_order_relaxed) : NULL;
}

/* Map segment k, whose state this thread just set to SEG_MAPPING: its
 * base, or NULL with the state SEG_FAILED and recording stopped. */
static char *seg_map(uint32_t k)
{
	/* Each system call a new segment takes, checked against the
	 * seccomp filters in force first: one that would kill (or
	 * otherwise refuse) the call stops recording here instead. */
	static const enum sc_call via_broker[] = {
		SC_SOCKET, SC_CONNECT, SC_SENDTO, SC_RECVMSG, SC_CLOSE, SC_FALLOCATE,
		SC_MMAP, SC_MADVISE, SC_N
	};
	static const enum sc_call by_path[] = {
		SC_OPENAT, SC_CLOSE, SC_FALLOCATE, SC_MMAP, SC_MADVISE, SC_N
	};
	int sc_nr;
	uint32_t sc_act;
	if (!sc__all_ok(w.via_broker ? via_broker : by_path, &sc_nr, &sc_act)) {
		atomic_store_explicit(&w.s[k].state, SEG_FAILED, memory_order_release);
		disable_seccomp(sc_nr, sc_act);
		return NULL;
	}
	/* segment 0 grows (above); a later one is wanted whole */
	uint32_t fill = k ? VP_SEG_SIZE : GROW_FIRST, pop = 0, why = VP_DIS_REOPEN;
	int fd = reopen();
	char *p = fd >= 0 ? seg_create(fd, k, fill, &pop, &why) : NULL;
	if (fd >= 0)
		core__real_close(fd);
	if (!p) {
		atomic_store_explicit(&w.s[k].state, SEG_FAILED, memory_order_release);
		disable(why);
		return NULL;
	}
	atomic_store_explicit(&w.s[k].p, p, memory_order_relaxed);
	atomic_store_explicit(&w.s[k].state, SEG_MAPPED, memory_order_release);
	/* only now: the note is itself a record and may land in segment k */
	mapping_seg = 0;
	writer__note_internal(p, VP_SEG_SIZE, VP_INT_TRACE, 0, pop);
	return p;
}

/* Make the first `need` bytes of mapped segment k (base p) safe to store
 * into: double s[k].lim until it covers them (file comment: Growth). 0, or
 * -1 when recording stopped (the caller counts its record as lost). */
static int seg_grow_slow(uint32_t k, char *p, uint32_t need);

static int seg_grow(uint32_t k, char *p, uint32_t need)
{
	if (__builtin_expect(atomic_load_explicit(&w.s[k].lim, memory_order_acquire) >= need, 1))
		return 0;
	QUIET_BEGIN();
	int r = seg_grow_slow(k, p, need);
	QUIET_END();
	return r;
}

/* seg_grow's step under map_lock (another thread's step is waited for) */
static int seg_grow_slow(uint32_t k, char *p, uint32_t need)
{
	static const enum sc_call via_broker[] = {
		SC_SOCKET, SC_CONNECT, SC_SENDTO, SC_RECVMSG, SC_CLOSE, SC_FALLOCATE,
		SC_MADVISE, SC_N
	};
	static const enum sc_call by_path[] = {
		SC_OPENAT, SC_CLOSE, SC_FALLOCATE, SC_MADVISE, SC_N
	};
	int sc_nr;
	uint32_t sc_act;
	while (atomic_flag_test_and_set_explicit(&w.map_lock, memory_order_acquire))
		sched_yield();
	uint32_t cur = atomic_load_explicit(&w.s[k].lim, memory_order_relaxed);
	if (cur >= need) {
		atomic_flag_clear_explicit(&w.map_lock, memory_order_release);
		return 0;
	}
	if (!writer__active()) {
		/* an earlier step failed: no more system calls */
		atomic_flag_clear_explicit(&w.map_lock, memory_order_release);
		return -1;
	}
	if (!sc__all_ok(w.via_broker ? via_broker : by_path, &sc_nr, &sc_act)) {
		atomic_flag_clear_explicit(&w.map_lock, memory_order_release);
		disable_seccomp(sc_nr, sc_act);
		return -1;
	}
	uint32_t to = cur ? cur : GROW_FIRST;
	while (to < need)
		to *= 2;
	if (to > VP_SEG_SIZE)
		to = VP_SEG_SIZE;
	uint64_t off = VP_HEADER_SIZE + (uint64_t)k * VP_SEG_SIZE;
	uint32_t why = VP_DIS_REOPEN, pop = 0;
	int fd = reopen(), ok = 0;
	if (fd >= 0) {
		why = VP_DIS_EXTEND;
		if (grow_locked(fd, off + cur, to - cur) >= 0) {
			why = VP_DIS_MAP;
			ok = populate(p + cur, to - cur, &pop) == 0;
		}
		core__real_close(fd);
	}
	if (ok)
		atomic_store_explicit(&w.s[k].lim, to, memory_order_release);
	atomic_flag_clear_explicit(&w.map_lock, memory_order_release);
	if (!ok) {
		disable(why);
		return -1;
	}
	/* the populated pages, for the analyzer (the segment's start: the
	 * same shim mapping) */
	writer__note_internal(p, VP_SEG_SIZE, VP_INT_TRACE, 0, pop);
	return 0;
}

static void seg_done(uint32_t k, uint32_t bytes)
{
	uint64_t d = atomic_fetch_add(&w.s[k].done, bytes) + bytes;
	if (d == VP_SEG_SIZE) {
		char *p = atomic_exchange(&w.s[k].p, NULL);
		if (p) {
			/* complete: every byte before the trailer is committed */
			struct vp_segsum *t = (struct vp_segsum *)(p + USABLE);
			t->crc = vp_crc32c(0, p, USABLE);
			t->records = count_records(p, USABLE);
			core__fill_header(&t->h, vp_mono_ns());
			t->h.size = VP_SEGSUM_SIZE;
			atomic_store_explicit((_Atomic uint16_t *)&t->h.type, VP_REC_SEGSUM,
					      memory_order_release);
			/* a seal computing the checksum of this segment (it was the
			 * partial last one a moment ago) finishes first */
			if (sealing_seg == k + 1)
				p = NULL; /* that seal is this thread's, interrupted by
					   * this record's writer: it reads on once we
					   * return, so the segment stays mapped */
			while (p && atomic_load(&w.seal_reading) == k + 1)
				sched_yield();
		}
		/* under a seccomp filter refusing munmap the segment stays mapped */
		if (p && sc__ok(SC_MUNMAP)) {
			core__real_munmap(p, VP_SEG_SIZE);
			writer__note_internal(p, VP_SEG_SIZE, VP_INT_TRACE, 1, 0);
		}
	}
}

struct vp_rec *writer__reserve(uint32_t size, uint32_t *seg)
{
	if (!writer__active())
		goto lost;
	unseal();
	for (;;) {
		uint64_t off = atomic_fetch_add((_Atomic uint64_t *)&w.hdr->head, size);
		uint64_t k64 = off / VP_SEG_SIZE;
		if (k64 >= MAX_SEGS) {
			disable(VP_DIS_EXTEND);
			goto lost;
		}
		uint32_t k = (uint32_t)k64, in = (uint32_t)(off % VP_SEG_SIZE);
		char *base = seg_get(k);
		if (in + size <= USABLE) {
			if (!base || seg_grow(k, base, in + size) < 0)
				goto lost; /* the bytes stay a hole; readers skip it */
			struct vp_rec *r = (struct vp_rec *)(base + in);
			r->size = size;
			*seg = k;
			return r;
		}
		/* The range reaches into the segment's trailer: the segment is
		 * about to complete, so it gets its last blocks now (its
		 * completer writes the trailer). Pad what is left before the
		 * trailer (at least 8 bytes, all sizes are multiples of 8); its
		 * bytes in the trailer are only counted as done. A segment
		 * whose last step failed is never counted complete: nobody
		 * writes a trailer into pages without blocks. */
		int whole = base && seg_grow(k, base, VP_SEG_SIZE) == 0;
		if (whole && in < USABLE) {
			struct vp_rec *r = (struct vp_rec *)(base + in);
			r->size = USABLE - in;
			r->flags = 0;
			atomic_store_explicit((_Atomic uint16_t *)&r->type, VP_REC_PAD,
					      memory_order_release);
		}
		if (in + size <= VP_SEG_SIZE) {
			if (whole)
				seg_done(k, size);
			continue;
		}
		uint32_t spill = in + size - VP_SEG_SIZE; /* bytes in segment k+1 */
		if (whole)
			seg_done(k, VP_SEG_SIZE - in);
		/* The spill bytes in k+1 are reserved but unusable: account them
		 * as done so k+1 still completes, and mark them as a pad. */
		if (k + 1 < MAX_SEGS) {
			char *next = seg_get(k + 1);
			if (next && seg_grow(k + 1, next, spill) == 0) {
				struct vp_rec *r = (struct vp_rec *)next;
				r->size = spill;
				r->flags = 0;
				atomic_store_explicit((_Atomic uint16_t *)&r->type, VP_REC_PAD,
						      memory_order_release);
				seg_done(k + 1, spill);
			}
		}
	}
lost:
	writer__lost();
	return NULL;
}

void writer__commit(struct vp_rec *rec, uint16_t type, uint32_t seg)
{
	uint32_t size = rec->size;
	atomic_store_explicit((_Atomic uint16_t *)&rec->type, type, memory_order_release);
	atomic_fetch_add_explicit((_Atomic uint64_t *)&w.hdr->records, 1, memory_order_relaxed);
	seg_done(seg, size);
	reseal();
}

void writer__forget(void)
{
	atomic_store(&w.active, 0);
	atomic_store(&w.sealed, 0);
	atomic_store(&w.seal_busy, 0);
	atomic_store(&w.seal_dirty, 0);
	atomic_store(&w.seal_reading, 0);
	for (uint32_t k = 0; k < MAX_SEGS; k++) {
		uint32_t st = atomic_load(&w.s[k].state);
		if (st == SEG_NONE)
			break;
		char *p = atomic_load(&w.s[k].p);
		if (p)
			core__real_munmap(p, VP_SEG_SIZE);
		atomic_store(&w.s[k].p, NULL);
		atomic_store(&w.s[k].state, SEG_NONE);
		atomic_store(&w.s[k].done, 0);
		atomic_store(&w.s[k].lim, 0);
	}
	if (w.hdr)
		core__real_munmap(w.hdr, VP_HEADER_SIZE);
	w.hdr = NULL;
	w.path[0] = 0;
	w.name[0] = 0;
	w.via_broker = 0;
	file_end = 0;
}

/* A record of the shim's own mapping [p, p+len) (the trace's segments,
 * the stack table, the fork token, libunwind's memory), so the analyzer
 * keeps it out of the program's picture. */
void writer__note_internal(void *p, size_t len, uint32_t what, int unmapped, uint32_t populated)
{
	uint32_t seg;
	struct vp_internal *r = (struct vp_internal *)writer__reserve(sizeof(*r), &seg);
	if (!r)
		return;
	core__fill_header(&r->h, vp_mono_ns());
	r->h.flags = unmapped ? VP_INT_UNMAPPED : 0;
	r->start = (uint64_t)(uintptr_t)p;
	r->len = len;
	r->what = what;
	r->populated = populated;
	writer__commit(&r->h, VP_REC_INTERNAL, seg);
}
