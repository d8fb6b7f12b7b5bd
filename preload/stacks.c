/* SPDX-License-Identifier: MIT */
/*
 * Stack capture with libunwind's unw_backtrace (fast trace path with a
 * per-thread cache) and deduplication by a lock-free open-addressing table
 * keyed by a 64-bit hash of the frames.
 *
 * Why hash-only keys: comparing frames would need a frame store shared by
 * all threads; with 64-bit keys the chance of two different stacks sharing
 * a key in a run with a million distinct stacks is ~3e-8.
 *
 * A slot is claimed by CAS on its key, then its id is published after the
 * VP_REC_STACK record is committed; a reader that finds the key but no id
 * yet (another thread is still writing it) emits its own copy under a new
 * id instead of waiting. A full table degrades to one record per call.
 */
#include "stacks.h"

#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "seccomp.h"
#include "shim.h"
#include "vmaprof/clock.h"
#include "writer.h"

#define TABLE_BITS 16
#define TABLE_SIZE (1u << TABLE_BITS)
#define MAX_PROBE 64
#define SKIP_MAX 8 /* shim frames at most between the hook and unw_backtrace */

struct slot {
	_Atomic uint64_t key;
	_Atomic uint32_t id;
	uint32_t _pad;
};

static struct slot *table;
static _Atomic uint32_t next_id = 1;
static uint32_t depth;
struct text {
	uintptr_t lo, hi;
};
static struct text self_text;   /* the shim's own code */
static struct text unwind_text; /* libunwind's */

struct text_query {
	uintptr_t addr;
	struct text *out;
};

/* dl_iterate_phdr callback: the executable segment holding q->addr. */
static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
	struct text_query *q = data;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr, hi = lo + ph->p_memsz;
		if (q->addr >= lo && q->addr < hi) {
			q->out->lo = lo;
			q->out->hi = hi;
			return 1;
		}
	}
	return 0;
}

static void locate(const void *addr, struct text *out)
{
	struct text_query q = { (uintptr_t)addr, out };
	dl_iterate_phdr(find_text, &q);
}

static int in_text(const struct text *t, uintptr_t a)
{
	return a >= t->lo && a < t->hi;
}

int stacks__internal_caller(const void *ra)
{
	uintptr_t a = (uintptr_t)ra;
	return in_text(&unwind_text, a) || in_text(&self_text, a);
}

int stacks__init(uint32_t d)
{
	depth = d > VP_MAX_STACK_DEPTH ? VP_MAX_STACK_DEPTH : d;
	atomic_store(&next_id, 1);
	if (!depth)
		return 0;
	if (!self_text.lo) {
		locate((const void *)&stacks__capture, &self_text);
		locate((const void *)&unw_backtrace, &unwind_text);
		unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	}
	size_t bytes = sizeof(struct slot) * TABLE_SIZE;
	void *p = shim__real_mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		depth = 0;
		return -1;
	}
	table = p;
	shim__note_internal(p, bytes, VP_INT_STACKS, 0, 0);
	return 0;
}

void stacks__forget(void)
{
	if (table)
		shim__real_munmap(table, sizeof(struct slot) * TABLE_SIZE);
	table = NULL;
}

static uint64_t hash_frames(void *const *ips, int n)
{
	uint64_t h = 0x243f6a8885a308d3ull ^ (uint64_t)n;
	for (int i = 0; i < n; i++) {
		h ^= (uint64_t)(uintptr_t)ips[i];
		h *= 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h | 1; /* 0 marks an empty slot */
}

static uint32_t emit(void *const *ips, int n)
{
	uint32_t id = atomic_fetch_add(&next_id, 1), seg;
	uint32_t size = (uint32_t)(sizeof(struct vp_stack) + (size_t)n * sizeof(uint64_t));
	struct vp_stack *s = (struct vp_stack *)writer__reserve(size, &seg);
	if (!s)
		return 0;
	shim__fill_header(&s->h, vp_mono_ns());
	s->id = id;
	s->depth = (uint32_t)n;
	for (int i = 0; i < n; i++)
		s->ips[i] = (uint64_t)(uintptr_t)ips[i];
	writer__commit(&s->h, VP_REC_STACK, seg);
	return id;
}

/* The id of ips[0, n), emitting its VP_REC_STACK the first time. */
static uint32_t intern(void *const *ips, int n)
{
	if (n > (int)depth)
		n = (int)depth;
	if (n <= 0)
		return 0;
	uint64_t key = hash_frames(ips, n);
	for (uint32_t i = 0; i < MAX_PROBE; i++) {
		struct slot *sl = &table[(key + i) & (TABLE_SIZE - 1)];
		uint64_t k = atomic_load_explicit(&sl->key, memory_order_acquire);
		if (k == 0) {
			uint64_t empty = 0;
			if (atomic_compare_exchange_strong(&sl->key, &empty, key)) {
				uint32_t id = emit(ips, n);
				atomic_store_explicit(&sl->id, id, memory_order_release);
				return id;
			}
			k = empty; /* someone claimed it first: with which key? */
		}
		if (k == key) {
			uint32_t id = atomic_load_explicit(&sl->id, memory_order_acquire);
			return id ? id : emit(ips, n);
		}
	}
	return emit(ips, n);
}

/* libunwind blocks signals around its caches and maps memory: not under a
 * seccomp filter that would refuse either */
static int unwind_allowed(void)
{
	return sc__ok(SC_RT_SIGPROCMASK) && sc__ok(SC_MMAP);
}

uint32_t stacks__capture(void)
{
	if (!depth || !table || !unwind_allowed())
		return 0;
	void *buf[VP_MAX_STACK_DEPTH + SKIP_MAX];
	int n = unw_backtrace(buf, (int)depth + SKIP_MAX);
	int skip = 0;
	while (skip < n && in_text(&self_text, (uintptr_t)buf[skip]))
		skip++;
	return intern(buf + skip, n - skip);
}

/* The fast path: unw_backtrace from here walks through the signal frame
 * (the kernel's sigreturn trampoline) with libunwind's trace cache, and the
 * interrupted frame is the one whose ip is the context's own. If it is not
 * among the first frames (the walk lost its way), unwind from the context
 * itself (unw_init_local2 with UNW_INIT_SIGNAL_FRAME: ips[0] is an exact
 * ip, not a return address), frame by frame. */
static __attribute__((noinline)) uint32_t capture_stepping(void *uc, void **buf)
{
	unw_cursor_t c; /* ~1 KiB: only on this path */
	if (unw_init_local2(&c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) < 0)
		return 0;
	int n = 0;
	do {
		unw_word_t pc;
		if (unw_get_reg(&c, UNW_REG_IP, &pc) < 0 || !pc)
			break;
		buf[n++] = (void *)(uintptr_t)pc;
	} while (n < (int)depth && unw_step(&c) > 0);
	return intern(buf, n);
}

/* (It may run on the program's alternate signal stack: frames sized by the
 * depth asked for, 576 bytes at the default 64.) */
uint32_t stacks__capture_context(void *uc, uint64_t ip)
{
	if (!depth || !table || !unwind_allowed())
		return 0;
	void *buf[depth + SKIP_MAX];
	int n = unw_backtrace(buf, (int)depth + SKIP_MAX);
	for (int i = 0; i < n && i < SKIP_MAX; i++)
		if ((uintptr_t)buf[i] == ip)
			return intern(buf + i, n - i);
	return capture_stepping(uc, buf);
}
