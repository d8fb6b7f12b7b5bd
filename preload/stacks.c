/* SPDX-License-Identifier: MIT */
/*
 * Stack capture with libunwind's unw_backtrace (fast trace path with a
 * per-thread cache) and deduplication by a lock-free open-addressing table
 * keyed by a 64-bit hash of the frames. Layer 4 of preload/ (see shim.c),
 * beside records.c: it writes its VP_REC_STACKs through the writer.
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
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "core.h"
#include "seccomp.h"
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
static uint32_t cache_gen = 1; /* bumped by stacks__init: cached ids are per file */
/* The stack cache: 0 not decided yet, 1 on, -1 off. Decided at the first
 * capture, not at start (cache_allowed): the probe of libunwind's rows
 * parses DWARF and blocks and unblocks signals a dozen times, which a
 * process that never takes a stack (a shell script's /bin/true) should
 * not pay for. */
static _Atomic int cache_on;
static int cache_wanted; /* VMAPROF_STACK_CACHE is not "0" */
static int rows_understood(void);
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

void stacks__prepare(uint32_t d)
{
	if (!d || self_text.lo)
		return;
	locate((const void *)&stacks__capture_at, &self_text);
	locate((const void *)&unw_backtrace, &unwind_text);
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	const char *env = getenv("VMAPROF_STACK_CACHE");
	cache_wanted = !(env && strcmp(env, "0") == 0);
}

int stacks__init(uint32_t d)
{
	depth = d > VP_MAX_STACK_DEPTH ? VP_MAX_STACK_DEPTH : d;
	atomic_store(&next_id, 1);
	cache_gen++; /* cached ids belong to the previous file */
	if (!depth)
		return 0;
	stacks__prepare(depth);
	size_t bytes = sizeof(struct slot) * TABLE_SIZE;
	void *p = core__real_mmap(NULL, bytes, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		depth = 0;
		return -1;
	}
	table = p;
	writer__note_internal(p, bytes, VP_INT_STACKS, 0, 0);
	return 0;
}

void stacks__forget(void)
{
	if (table)
		core__real_munmap(table, sizeof(struct slot) * TABLE_SIZE);
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
	core__fill_header(&s->h, vp_mono_ns());
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

/* ---- The stack cache ----
 *
 * unw_backtrace's walk over the program's frames (libunwind 1.6's fast
 * trace, src/x86_64/Gtrace.c) is a function of three registers at the
 * program's call into the hook (rip: the return address, rsp: the hook's
 * CFA, rbp) and of the memory it reads, provided every frame it walks is a
 * "standard" one: CFA = rsp or rbp + constant, return address at CFA-8,
 * rbp unchanged or reloaded from CFA+constant (libunwind's
 * tdep_stash_frame). For such frames, given the same registers, the same
 * rule (fixed by the ip) computes the same CFA and so reads the same two
 * slots; if those hold the same values, the next frame starts from the
 * same registers, and by induction the whole walk, where it stops
 * included, is the same.
 *
 * So on a miss the walk is repeated frame by frame with a cursor, each
 * frame's rule taken from libunwind's own DWARF parser
 * (unw_reg_states_iterate; its row layout is checked at start on a probe
 * function with known CFI below, else the cache stays off), and the stack
 * is cached only if every frame is standard, no frame is a signal frame,
 * the walk ends by the depth limit, an undefined return address or a zero
 * one, and the model reproduces unw_backtrace's ips and libunwind's CFAs
 * exactly. The entry keeps the three registers and every slot read with
 * its value; a hit re-reads the slots in walk order (so it reads nothing
 * the unwinder itself would not) and needs all equal. Anything else
 * (signal frames, CFA expressions or other base registers, PLT stubs,
 * frames without unwind info, deeper than CACHE_FRAMES) is unwound every
 * time as before. VMAPROF_STACK_CACHE=0 turns the cache off (tests compare
 * both). Like libunwind's own per-thread trace cache it assumes the code
 * at an address does not change while recording (no JIT, no dlclose then
 * dlopen of other code at the same address). */

#define CACHE_SETS 4 /* of 2 entries: one call site reached from two callers at the same sp */
#define CACHE_FRAMES 16
#define CACHE_SLOTS (2 * CACHE_FRAMES)

struct cslot {
	uintptr_t addr, val;
};

struct centry {
	uintptr_t ip, sp, bp;
	uint32_t gen, id;
	uint32_t nslots;
	uint8_t bp_used; /* the walk used the hook's rbp (a CFA rule on it) */
	uint8_t failed;  /* (ip, sp) gave a stack the cache cannot prove: no
			  * new attempt there until the entry is reused */
	uint8_t _pad[2];
	struct cslot slot[CACHE_SLOTS];
};

static __thread struct centry tcache[CACHE_SETS][2] __attribute__((tls_model("initial-exec")));
static __thread uint8_t tcache_last[CACHE_SETS] __attribute__((tls_model("initial-exec")));
/* libunwind 1.6's dwarf_reg_state_t, as unw_reg_states_iterate passes it
 * (include/dwarf.h; 17 preserved registers on x86-64 plus the CFA's
 * register and offset columns). Checked against a probe at start. */
#define RS_COLS 19
#define COL_CFA_REG 17
#define COL_CFA_OFF 18
enum { W_UNDEF, W_SAME, W_CFAREL, W_REG, W_EXPR, W_VAL_EXPR };
struct rs16 {
	unw_word_t ret_addr_column;
	char where[RS_COLS];
	unw_word_t val[RS_COLS];
};

struct row_query {
	unw_word_t ip;
	int found, bad;
	struct rs16 rs;
};

static int row_cb(void *token, void *data, size_t size, unw_word_t start, unw_word_t end)
{
	struct row_query *q = token;
	if (size != sizeof(struct rs16)) {
		q->bad = 1;
		return 0;
	}
	if (q->ip >= start && q->ip < end) {
		memcpy(&q->rs, data, sizeof(q->rs));
		q->found = 1;
	}
	return 0;
}

/* The row in force at `ip` of the procedure the cursor is in (a copy of
 * it is used: the iteration changes the cursor's state). */
static int row_at(const unw_cursor_t *c, unw_word_t ip, struct rs16 *out)
{
	unw_cursor_t cc = *c;
	struct row_query q = { .ip = ip };
	if (unw_reg_states_iterate(&cc, row_cb, &q) < 0 || q.bad || !q.found)
		return -1;
	*out = q.rs;
	return 0;
}

/* A function never called, whose CFI is known: push rbp; mov rsp, rbp. */
__asm__(".text\n"
	".type vp_cfi_probe, @function\n"
	"vp_cfi_probe:\n"
	".cfi_startproc\n"
	"push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"vp_cfi_probe_pushed:\n"
	"mov %rsp, %rbp\n"
	".cfi_def_cfa_register %rbp\n"
	"vp_cfi_probe_body:\n"
	"nop\n"
	"nop\n"
	"pop %rbp\n"
	".cfi_def_cfa %rsp, 8\n"
	"ret\n"
	".cfi_endproc\n"
	".size vp_cfi_probe, .-vp_cfi_probe\n");
extern const char vp_cfi_probe_pushed[] __attribute__((visibility("hidden")));
extern const char vp_cfi_probe_body[] __attribute__((visibility("hidden")));

static int probe_row(unw_word_t at, struct rs16 *rs)
{
	unw_context_t uc;
	memset(&uc, 0, sizeof(uc));
	/* init_local (not SIGNAL_FRAME): rows are looked up at ip-1 */
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(at + 1);
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)&uc;
	unw_cursor_t c;
	if (unw_init_local(&c, &uc) < 0)
		return -1;
	return row_at(&c, at, rs);
}

/* Does libunwind hand us rows in the layout assumed above? */
static int rows_understood(void)
{
	struct rs16 a, b;
	if (probe_row((unw_word_t)(uintptr_t)vp_cfi_probe_pushed, &a) < 0 ||
	    probe_row((unw_word_t)(uintptr_t)vp_cfi_probe_body, &b) < 0)
		return 0;
	return a.ret_addr_column == 16 && b.ret_addr_column == 16 &&
	       a.where[COL_CFA_REG] == W_REG && a.val[COL_CFA_REG] == UNW_X86_64_RSP &&
	       a.val[COL_CFA_OFF] == 16 && a.where[UNW_X86_64_RBP] == W_CFAREL &&
	       (int64_t)a.val[UNW_X86_64_RBP] == -16 && a.where[16] == W_CFAREL &&
	       (int64_t)a.val[16] == -8 && b.where[COL_CFA_REG] == W_REG &&
	       b.val[COL_CFA_REG] == UNW_X86_64_RBP && b.val[COL_CFA_OFF] == 16 &&
	       b.where[UNW_X86_64_RBP] == W_CFAREL && (int64_t)b.val[UNW_X86_64_RBP] == -16 &&
	       b.where[UNW_X86_64_RSP] == W_SAME;
}

static int small(unw_word_t v, int64_t lim)
{
	int64_t x = (int64_t)v;
	return x > -lim && x < lim;
}

/* libunwind's standard frame, stricter: rbp saved at CFA+k or unchanged,
 * rsp unchanged (the new rsp is the CFA). Returns 1 if so, 2 if the
 * return address is undefined (the outermost frame), 0 otherwise. */
static int standard(const struct rs16 *rs)
{
	if (rs->ret_addr_column != 16)
		return 0;
	if (rs->where[16] == W_UNDEF)
		return 2;
	return rs->where[COL_CFA_REG] == W_REG &&
	       (rs->val[COL_CFA_REG] == UNW_X86_64_RSP || rs->val[COL_CFA_REG] == UNW_X86_64_RBP) &&
	       small(rs->val[COL_CFA_OFF], 1 << 28) && rs->where[16] == W_CFAREL &&
	       (int64_t)rs->val[16] == -8 && rs->where[UNW_X86_64_RSP] == W_SAME &&
	       (rs->where[UNW_X86_64_RBP] == W_SAME ||
		(rs->where[UNW_X86_64_RBP] == W_CFAREL && small(rs->val[UNW_X86_64_RBP], 1 << 14) &&
		 (int64_t)rs->val[UNW_X86_64_RBP] != -1));
}

static inline unsigned set_of(uintptr_t ip, uintptr_t sp)
{
	return (unsigned)(((ip ^ (sp >> 4)) * 0x9e3779b97f4a7c15ull) >> (64 - 2));
}

_Static_assert(CACHE_SETS == 4, "set_of() takes the top 2 bits");

/* Step the cursor c (at cache_fill's frame) out to the program's frame:
 * the one whose ip and CFA are the hook's return address and CFA, and
 * whose rbp is the hook's saved one. 0 when found there. */
static int to_program_frame(unw_cursor_t *c, uintptr_t ip, uintptr_t sp, uintptr_t bp)
{
	unw_word_t r;
	int k = 0;
	for (;; k++) {
		if (k > SKIP_MAX + 2 || unw_get_reg(c, UNW_REG_IP, &r) < 0)
			return -1;
		if (r == ip)
			break;
		if (unw_step(c) <= 0)
			return -1;
	}
	if (unw_get_reg(c, UNW_REG_SP, &r) < 0 || r != sp ||
	    unw_get_reg(c, UNW_X86_64_RBP, &r) < 0 || r != bp)
		return -1;
	return 0;
}

/* Model the walk from the program's frame (cursor c, registers ip, sp,
 * bp) frame by frame: every frame standard, the model's ips and CFAs
 * libunwind's, and it stops where unw_backtrace stopped (ips[0, n)). The
 * slots it reads go into e->slot; 0 when proven, with *ns slots and
 * *bp_used. */
static int prove_walk(struct centry *e, unw_cursor_t *c, uintptr_t ip, uintptr_t sp,
		      uintptr_t bp, void *const *ips, int n, uint32_t *ns_out, int *bp_used_out)
{
	uintptr_t rip = ip, rsp = sp, rbp = bp;
	unw_word_t r;
	uint32_t ns = 0;
	/* whether a CFA rule used rbp while it still held the hook's value (a
	 * value reloaded from a slot is checked through the slot): if never,
	 * the walk does not depend on it (code without frame pointers keeps
	 * anything in rbp, a loop counter, say) */
	int rbp_initial = 1, bp_used = 0;
	for (int i = 0; i < n; i++) {
		if (rip != (uintptr_t)ips[i] || unw_is_signal_frame(c) != 0)
			return -1;
		if (i == n - 1 && n == (int)depth)
			break; /* truncated by the depth limit: nothing more read */
		struct rs16 rs;
		if (row_at(c, rip - 1, &rs) < 0)
			return -1;
		int kind = standard(&rs);
		if (kind == 2) {
			if (i == n - 1)
				break; /* the outermost frame: libunwind stops here */
			return -1;
		}
		if (!kind || ns + 2 > CACHE_SLOTS)
			return -1;
		if (rs.val[COL_CFA_REG] == UNW_X86_64_RBP && rbp_initial)
			bp_used = 1;
		uintptr_t cfa = (rs.val[COL_CFA_REG] == UNW_X86_64_RSP ? rsp : rbp) +
				(uintptr_t)rs.val[COL_CFA_OFF];
		if (i < n - 1) {
			/* libunwind's DWARF walk must agree before we read */
			if (unw_step(c) <= 0 || unw_get_reg(c, UNW_REG_SP, &r) < 0 || r != cfa)
				return -1;
		}
		uintptr_t ra = *(const uintptr_t *)(cfa - 8);
		e->slot[ns++] = (struct cslot){ cfa - 8, ra };
		if (rs.where[UNW_X86_64_RBP] == W_CFAREL) {
			uintptr_t at = cfa + (uintptr_t)rs.val[UNW_X86_64_RBP];
			rbp = *(const uintptr_t *)at;
			rbp_initial = 0;
			e->slot[ns++] = (struct cslot){ at, rbp };
		}
		rsp = cfa;
		rip = ra;
		if (i == n - 1) {
			if (rip != 0)
				return -1; /* it stopped for a reason we do not model */
		} else if (rip < 0x4000) {
			return -1;
		}
	}
	*ns_out = ns;
	*bp_used_out = bp_used;
	return 0;
}

/* Prove the walk from (ip, sp, bp) yields ips[0, n) and where it stops (n
 * < depth: it ended there); fill e on success. Runs on a miss only. */
static __attribute__((noinline)) void cache_fill(struct centry *e, uintptr_t ip, uintptr_t sp,
						 uintptr_t bp, void *const *ips, int n, uint32_t id)
{
	/* until proven: a failed attempt at (ip, sp), not tried again there */
	e->ip = ip;
	e->sp = sp;
	e->gen = cache_gen;
	e->failed = 1;
	e->nslots = 0;
	if (n <= 0 || n > CACHE_FRAMES || (uintptr_t)ips[0] != ip)
		return;
	/* the context is this frame's: the cursor steps out from here */
	unw_context_t uc;
	unw_cursor_t c;
	if (unw_getcontext(&uc) < 0 || unw_init_local(&c, &uc) < 0)
		return;
	uint32_t ns;
	int bp_used;
	if (to_program_frame(&c, ip, sp, bp) < 0 ||
	    prove_walk(e, &c, ip, sp, bp, ips, n, &ns, &bp_used) < 0)
		return;
	e->bp = bp;
	e->bp_used = (uint8_t)bp_used;
	e->id = id;
	e->nslots = ns;
	e->failed = 0;
}

static inline int cache_hit(const struct centry *e, uintptr_t ip, uintptr_t sp, uintptr_t bp)
{
	if (e->ip != ip || e->sp != sp || e->gen != cache_gen || e->failed ||
	    (e->bp_used && e->bp != bp))
		return 0;
	for (uint32_t i = 0; i < e->nslots; i++)
		if (*(const volatile uintptr_t *)e->slot[i].addr != e->slot[i].val)
			return 0;
	return 1;
}

/* The miss path: unwind (only where libunwind's own system calls are
 * allowed), intern, and try to cache the result in e (NULL: no cache). */
static __attribute__((noinline)) uint32_t capture_slow(struct centry *e, uintptr_t ip,
							 uintptr_t sp, uintptr_t bp)
{
	if (!unwind_allowed())
		return 0;
	void *buf[VP_MAX_STACK_DEPTH + SKIP_MAX];
	int n = unw_backtrace(buf, (int)depth + SKIP_MAX);
	int skip = 0;
	while (skip < n && in_text(&self_text, (uintptr_t)buf[skip]))
		skip++;
	uint32_t id = intern(buf + skip, n - skip);
	if (e && id) {
		int m = n - skip > (int)depth ? (int)depth : n - skip;
		cache_fill(e, ip, sp, bp, buf + skip, m, id);
	}
	return id;
}

/* Whether the cache may be used (cache_on). Two threads deciding at once
 * both probe, and agree. Never called in a signal handler (the cache is
 * not used there), so the probe's libunwind calls are the same a capture
 * makes. */
static int cache_allowed(void)
{
	int on = atomic_load_explicit(&cache_on, memory_order_relaxed);
	if (__builtin_expect(on != 0, 1))
		return on > 0;
	if (!unwind_allowed())
		return 0; /* no probe now (it would unwind); no miss can fill anyway */
	on = cache_wanted && rows_understood() ? 1 : -1;
	atomic_store_explicit(&cache_on, on, memory_order_relaxed);
	return on > 0;
}

/* A hit makes no system call and reads only the slots the unwinder would
 * read, so it needs no unwind_allowed(). */
uint32_t stacks__capture_at(void *const *fp)
{
	if (!depth || !table)
		return 0;
	uintptr_t ip = (uintptr_t)fp[1], sp = (uintptr_t)(fp + 2), bp = (uintptr_t)fp[0];
	if (!cache_allowed() || in_text(&self_text, ip))
		return capture_slow(NULL, ip, sp, bp);
	unsigned set = set_of(ip, sp);
	struct centry *s = tcache[set];
	unsigned last = tcache_last[set] & 1u, other = last ^ 1u;
	if (cache_hit(&s[last], ip, sp, bp))
		return s[last].id;
	/* a hit on the other entry makes it the last used; a miss refills it */
	tcache_last[set] = (uint8_t)other;
	if (cache_hit(&s[other], ip, sp, bp))
		return s[other].id;
	/* a stack here that could not be proven before: unwind, do not try
	 * again (an attempt walks the DWARF rows of every frame) */
	for (unsigned k = 0; k < 2; k++)
		if (s[k].failed && s[k].ip == ip && s[k].sp == sp && s[k].gen == cache_gen)
			return capture_slow(NULL, ip, sp, bp);
	return capture_slow(&s[other], ip, sp, bp);
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
