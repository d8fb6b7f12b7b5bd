// SPDX-License-Identifier: MIT
/*
 * analyzer/core/model.c: the timeline of one process's entries as the replay
 * changes it. munmap ends the entries it touches and leaves what lies
 * outside the range as pieces (model__carve); mprotect does the same with a
 * re-protected middle piece (model__reprotect); mmap and mremap add an
 * entry, ending what it replaces (model__add_entry). Each case builds a
 * process by hand, applies one change, and checks every entry exactly: its
 * range, file offset, protection, lifetime, why it ended, which entry it is
 * a piece of, and the live set. After the timeline, the index must charge a
 * fault to the entry live at its address and time (model__lookup).
 * Interned strings: one copy per text, also among thousands, and a text
 * that is not clean UTF-8 gets a cleaned copy of its own each time.
 * Returns 0 when every check passes, 1 otherwise (each failure is printed).
 */
#include "model.h"
#include "symbolize.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"

#define P 0x1000ull
#define A 0x10000ull   /* where the cases' entries begin */
#define B 0x80000ull   /* where a moved mapping goes */
#define OFF 0x5000ull  /* the file offset of the file mappings */
#define RW (PROT_READ | PROT_WRITE)

static void proc_free(struct proc *p)
{
	for (uint32_t i = 0; i < p->nv; i++)
		u64map__free(&p->v[i].fault_sites);
	free(p->v);
	free(p->live);
	free(p->qr);
	free(p->qent);
	free(p->qmaxend);
	memset(p, 0, sizeof(*p));
}

/* An anonymous read-write mapping [lo, hi) made at t, as apply_mem makes one. */
static uint32_t map_anon(struct proc *p, uint64_t lo, uint64_t hi, uint64_t t)
{
	struct vma e = { .start = lo, .end = hi, .prot = RW, .anonymous = 1, .kind = VK_ANON,
			 .origin = VO_MMAP, .stack_file = 0, .stack_id = 7, .created_ns = t };
	model__add_entry(p, &e, t);
	return p->nv - 1;
}

/* A private file mapping [lo, hi) at file offset OFF, made at t. */
static uint32_t map_file(struct proc *p, uint64_t lo, uint64_t hi, uint64_t t)
{
	struct vma e = { .start = lo, .end = hi, .offset = OFF, .path = "/lib/x.so",
			 .prot = PROT_READ | PROT_EXEC, .kind = VK_CODE, .origin = VO_MMAP,
			 .stack_file = -1, .created_ns = t };
	model__add_entry(p, &e, t);
	return p->nv - 1;
}

/* Entry id as it must be: [lo, hi) with `prot`, live [from, until), ended
 * by `why`, a piece of `of` (id + 1, 0 none). */
static void expect_vma(const struct proc *p, uint32_t id, uint64_t lo, uint64_t hi, uint8_t prot,
		       uint64_t from, uint64_t until, int why, uint32_t of, int line)
{
	if (id >= p->nv) {
		CHECK(id < p->nv, "line %d: entry %u of %u", line, id, p->nv);
		return;
	}
	const struct vma *e = &p->v[id];
	CHECK(e->start == lo && e->end == hi && e->prot == prot && e->valid_from == from &&
		      e->destroyed_ns == until && e->ended_by == why && e->piece_of == of,
	      "line %d: entry %u is [%#llx, %#llx) prot %u live [%llu, %lld) ended %u piece_of %u, "
	      "want [%#llx, %#llx) prot %u live [%llu, %lld) ended %d piece_of %u",
	      line, id, (unsigned long long)e->start, (unsigned long long)e->end, e->prot,
	      (unsigned long long)e->valid_from, (long long)e->destroyed_ns, e->ended_by,
	      e->piece_of, (unsigned long long)lo, (unsigned long long)hi, prot,
	      (unsigned long long)from, (long long)until, why, of);
}
#define EXPECT_VMA(p, id, lo, hi, prot, from, until, why, of) \
	expect_vma(p, id, lo, hi, prot, from, until, why, of, __LINE__)

/* The live set is exactly ids[0..n), in that (address) order. */
static void expect_live(const struct proc *p, const uint32_t *ids, uint32_t n, int line)
{
	CHECK(p->nlive == n, "line %d: %u live entries, want %u", line, p->nlive, n);
	for (uint32_t i = 0; i < n && i < p->nlive; i++)
		CHECK(p->live[i] == ids[i], "line %d: live[%u] is entry %u, want %u", line, i,
		      p->live[i], ids[i]);
}
#define EXPECT_LIVE(p, ...)                                                              \
	do {                                                                             \
		const uint32_t ids_[] = { __VA_ARGS__ };                                 \
		expect_live(p, ids_, sizeof(ids_) / sizeof(ids_[0]), __LINE__);         \
	} while (0)
#define EXPECT_NONE_LIVE(p) expect_live(p, NULL, 0, __LINE__)

/* ---- munmap: head, tail, middle ------------------------------------------ */

static void test_munmap_head_tail(void)
{
	struct proc p = { 0 };
	uint32_t f = map_file(&p, A, A + 4 * P, 10);
	CHECK(model__carve(&p, A, A + P, 20, VE_MUNMAP) == 1, "head: one entry touched");
	EXPECT_VMA(&p, f, A, A + 4 * P, PROT_READ | PROT_EXEC, 10, 20, VE_MUNMAP, 0);
	/* the rest lives on from the munmap, at its own place in the file */
	EXPECT_VMA(&p, 1, A + P, A + 4 * P, PROT_READ | PROT_EXEC, 20, T_NEVER, VE_NONE, f + 1);
	CHECK(p.v[1].offset == OFF + P, "head: piece at file offset %#llx",
	      (unsigned long long)p.v[1].offset);
	CHECK(p.v[1].created_ns == 10 && p.v[1].path == p.v[f].path && p.v[1].kind == VK_CODE,
	      "head: the piece keeps the mapping's creation, path and kind");
	EXPECT_LIVE(&p, 1);

	CHECK(model__carve(&p, A + 3 * P, A + 4 * P, 30, VE_MUNMAP) == 1, "tail: one entry");
	EXPECT_VMA(&p, 1, A + P, A + 4 * P, PROT_READ | PROT_EXEC, 20, 30, VE_MUNMAP, f + 1);
	/* a piece of a piece names the piece it was cut from */
	EXPECT_VMA(&p, 2, A + P, A + 3 * P, PROT_READ | PROT_EXEC, 30, T_NEVER, VE_NONE, 2);
	CHECK(p.v[2].offset == OFF + P, "tail: the head keeps its offset, %#llx",
	      (unsigned long long)p.v[2].offset);
	EXPECT_LIVE(&p, 2);
	CHECK(p.nv == 3, "%u entries, want 3", p.nv);
	proc_free(&p);
}

static void test_munmap_middle(void)
{
	struct proc p = { 0 };
	uint32_t f = map_file(&p, A, A + 4 * P, 10);
	p.v[f].faults[FC_FILE] = 5; /* what was charged before stays with it */
	CHECK(model__carve(&p, A + P, A + 2 * P, 20, VE_MUNMAP) == 1, "middle: one entry");
	EXPECT_VMA(&p, f, A, A + 4 * P, PROT_READ | PROT_EXEC, 10, 20, VE_MUNMAP, 0);
	EXPECT_VMA(&p, 1, A, A + P, PROT_READ | PROT_EXEC, 20, T_NEVER, VE_NONE, f + 1);
	EXPECT_VMA(&p, 2, A + 2 * P, A + 4 * P, PROT_READ | PROT_EXEC, 20, T_NEVER, VE_NONE, f + 1);
	CHECK(p.v[1].offset == OFF && p.v[2].offset == OFF + 2 * P,
	      "middle: offsets %#llx %#llx", (unsigned long long)p.v[1].offset,
	      (unsigned long long)p.v[2].offset);
	CHECK(p.v[f].faults[FC_FILE] == 5 && !p.v[1].faults[FC_FILE] && !p.v[2].faults[FC_FILE],
	      "middle: the faults stay on the ended entry, the pieces start at 0");
	EXPECT_LIVE(&p, 1, 2);
	proc_free(&p);
}

/* An anonymous mapping's pieces keep offset 0. */
static void test_munmap_anon_offset(void)
{
	struct proc p = { 0 };
	map_anon(&p, A, A + 3 * P, 10);
	model__carve(&p, A, A + P, 20, VE_MUNMAP);
	CHECK(p.v[1].offset == 0 && p.v[1].start == A + P, "anonymous piece at offset %#llx",
	      (unsigned long long)p.v[1].offset);
	CHECK(p.v[1].stack_id == 7 && p.v[1].stack_file == 0 && p.v[1].origin == VO_MMAP,
	      "a piece keeps the stack and origin of its mapping");
	proc_free(&p);
}

/* ---- munmap over several entries ----------------------------------------- */

static void test_munmap_several(void)
{
	struct proc p = { 0 };
	map_anon(&p, A, A + P, 10);              /* 0 */
	map_anon(&p, A + 2 * P, A + 4 * P, 11);  /* 1 */
	map_anon(&p, A + 5 * P, A + 7 * P, 12);  /* 2 */
	map_anon(&p, A + 8 * P, A + 9 * P, 13);  /* 3 */
	EXPECT_LIVE(&p, 0, 1, 2, 3);
	/* from inside 1 to inside 2: 1's head and 2's tail live on */
	CHECK(model__carve(&p, A + 3 * P, A + 6 * P, 20, VE_MUNMAP) == 2, "two entries touched");
	EXPECT_VMA(&p, 0, A, A + P, RW, 10, T_NEVER, VE_NONE, 0);
	EXPECT_VMA(&p, 1, A + 2 * P, A + 4 * P, RW, 11, 20, VE_MUNMAP, 0);
	EXPECT_VMA(&p, 2, A + 5 * P, A + 7 * P, RW, 12, 20, VE_MUNMAP, 0);
	EXPECT_VMA(&p, 3, A + 8 * P, A + 9 * P, RW, 13, T_NEVER, VE_NONE, 0);
	EXPECT_VMA(&p, 4, A + 2 * P, A + 3 * P, RW, 20, T_NEVER, VE_NONE, 2);
	EXPECT_VMA(&p, 5, A + 6 * P, A + 7 * P, RW, 20, T_NEVER, VE_NONE, 3);
	EXPECT_LIVE(&p, 0, 4, 5, 3);
	/* everything, gaps included */
	CHECK(model__carve(&p, A, A + 9 * P, 30, VE_MUNMAP) == 4, "four entries touched");
	EXPECT_VMA(&p, 0, A, A + P, RW, 10, 30, VE_MUNMAP, 0);
	EXPECT_VMA(&p, 4, A + 2 * P, A + 3 * P, RW, 20, 30, VE_MUNMAP, 2);
	EXPECT_VMA(&p, 5, A + 6 * P, A + 7 * P, RW, 20, 30, VE_MUNMAP, 3);
	EXPECT_VMA(&p, 3, A + 8 * P, A + 9 * P, RW, 13, 30, VE_MUNMAP, 0);
	CHECK(p.nv == 6, "no piece left: %u entries, want 6", p.nv);
	EXPECT_NONE_LIVE(&p);
	proc_free(&p);
}

/* ---- ranges that touch nothing, zero-length and unaligned ranges --------- */

static void test_out_of_range(void)
{
	struct proc p = { 0 };
	map_anon(&p, A, A + P, 10);
	map_anon(&p, A + 4 * P, A + 5 * P, 11);
	CHECK(model__carve(&p, A + P, A + 4 * P, 20, VE_MUNMAP) == 0, "the gap: nothing");
	CHECK(model__carve(&p, 0, A, 20, VE_MUNMAP) == 0, "below: nothing");
	CHECK(model__carve(&p, A + 5 * P, A + 100 * P, 20, VE_MUNMAP) == 0, "above: nothing");
	model__reprotect(&p, A + P, A + 4 * P, PROT_READ, 20);
	CHECK(p.nv == 2, "%u entries, want 2", p.nv);
	EXPECT_VMA(&p, 0, A, A + P, RW, 10, T_NEVER, VE_NONE, 0);
	EXPECT_VMA(&p, 1, A + 4 * P, A + 5 * P, RW, 11, T_NEVER, VE_NONE, 0);
	EXPECT_LIVE(&p, 0, 1);
	/* past the end of an entry and beyond: its head lives on */
	CHECK(model__carve(&p, A + 4 * P + P / 2, A + 9 * P, 30, VE_MUNMAP) == 1, "one entry");
	EXPECT_VMA(&p, 2, A + 4 * P, A + 4 * P + P / 2, RW, 30, T_NEVER, VE_NONE, 2);
	EXPECT_LIVE(&p, 0, 2);
	/* an empty process */
	struct proc q = { 0 };
	CHECK(model__carve(&q, A, A + P, 10, VE_MUNMAP) == 0 && q.nv == 0, "empty process");
	model__reprotect(&q, A, A + P, PROT_READ, 10);
	CHECK(q.nv == 0 && q.nlive == 0, "empty process: nothing made");
	proc_free(&p);
}

/* The model cuts where it is told: page rounding is the replay's
 * (apply_mem rounds lengths up to pages). */
static void test_unaligned(void)
{
	struct proc p = { 0 };
	uint32_t f = map_file(&p, A, A + 4 * P, 10);
	CHECK(model__carve(&p, A + 100, A + 200, 20, VE_MUNMAP) == 1, "one entry");
	EXPECT_VMA(&p, f, A, A + 4 * P, PROT_READ | PROT_EXEC, 10, 20, VE_MUNMAP, 0);
	EXPECT_VMA(&p, 1, A, A + 100, PROT_READ | PROT_EXEC, 20, T_NEVER, VE_NONE, f + 1);
	EXPECT_VMA(&p, 2, A + 200, A + 4 * P, PROT_READ | PROT_EXEC, 20, T_NEVER, VE_NONE, f + 1);
	CHECK(p.v[2].offset == OFF + 200, "offset %#llx", (unsigned long long)p.v[2].offset);
	EXPECT_LIVE(&p, 1, 2);
	proc_free(&p);
}

/*
 * Zero-length ranges, as the model treats them today. At an entry's start
 * or in a gap they touch nothing; strictly inside an entry, carve ends it
 * and leaves two pieces that meet there, and reprotect with another
 * protection also leaves a zero-length middle piece. The kernel refuses
 * munmap(addr, 0) but accepts mprotect(addr, 0) and mremap(addr, 0, ...)
 * of a shared mapping; changing this changes reports, so it is pinned here
 * as it is.
 */
static void test_zero_length(void)
{
	struct proc p = { 0 };
	map_anon(&p, A, A + 4 * P, 10);
	CHECK(model__carve(&p, A, A, 20, VE_MUNMAP) == 0, "at the start: nothing");
	CHECK(model__carve(&p, A + 4 * P, A + 4 * P, 20, VE_MUNMAP) == 0, "at the end: nothing");
	model__reprotect(&p, A, A, PROT_READ, 20);
	CHECK(p.nv == 1, "nothing made: %u entries", p.nv);
	EXPECT_LIVE(&p, 0);

	CHECK(model__carve(&p, A + P, A + P, 20, VE_MUNMAP) == 1, "inside: the entry is cut");
	EXPECT_VMA(&p, 0, A, A + 4 * P, RW, 10, 20, VE_MUNMAP, 0);
	EXPECT_VMA(&p, 1, A, A + P, RW, 20, T_NEVER, VE_NONE, 1);
	EXPECT_VMA(&p, 2, A + P, A + 4 * P, RW, 20, T_NEVER, VE_NONE, 1);
	EXPECT_LIVE(&p, 1, 2);

	model__reprotect(&p, A + 2 * P, A + 2 * P, PROT_READ, 30);
	EXPECT_VMA(&p, 2, A + P, A + 4 * P, RW, 20, 30, VE_SPLIT, 1);
	EXPECT_VMA(&p, 3, A + P, A + 2 * P, RW, 30, T_NEVER, VE_NONE, 3);
	EXPECT_VMA(&p, 4, A + 2 * P, A + 2 * P, PROT_READ, 30, T_NEVER, VE_NONE, 3);
	EXPECT_VMA(&p, 5, A + 2 * P, A + 4 * P, RW, 30, T_NEVER, VE_NONE, 3);
	EXPECT_LIVE(&p, 1, 3, 4, 5);
	/* an entry of no size is never added */
	struct vma e = { .start = B, .end = B, .stack_file = -1 };
	model__add_entry(&p, &e, 40);
	CHECK(p.nv == 6, "empty mapping added: %u entries", p.nv);
	proc_free(&p);
}

/* ---- mprotect ------------------------------------------------------------ */

static void test_mprotect_middle(void)
{
	struct proc p = { 0 };
	map_anon(&p, A, A + 4 * P, 10);
	model__reprotect(&p, A + P, A + 2 * P, PROT_READ, 20);
	EXPECT_VMA(&p, 0, A, A + 4 * P, RW, 10, 20, VE_SPLIT, 0);
	EXPECT_VMA(&p, 1, A, A + P, RW, 20, T_NEVER, VE_NONE, 1);
	EXPECT_VMA(&p, 2, A + P, A + 2 * P, PROT_READ, 20, T_NEVER, VE_NONE, 1);
	EXPECT_VMA(&p, 3, A + 2 * P, A + 4 * P, RW, 20, T_NEVER, VE_NONE, 1);
	EXPECT_LIVE(&p, 1, 2, 3);
	/* the same protection again: nothing changes */
	model__reprotect(&p, A + P, A + 2 * P, PROT_READ, 30);
	CHECK(p.nv == 4, "same protection: %u entries, want 4", p.nv);
	EXPECT_LIVE(&p, 1, 2, 3);
	/* over all three: only those of another protection are split */
	model__reprotect(&p, A, A + 4 * P, PROT_READ, 40);
	EXPECT_VMA(&p, 1, A, A + P, RW, 20, 40, VE_SPLIT, 1);
	EXPECT_VMA(&p, 2, A + P, A + 2 * P, PROT_READ, 20, T_NEVER, VE_NONE, 1);
	EXPECT_VMA(&p, 3, A + 2 * P, A + 4 * P, RW, 20, 40, VE_SPLIT, 1);
	EXPECT_VMA(&p, 4, A, A + P, PROT_READ, 40, T_NEVER, VE_NONE, 2);
	EXPECT_VMA(&p, 5, A + 2 * P, A + 4 * P, PROT_READ, 40, T_NEVER, VE_NONE, 4);
	EXPECT_LIVE(&p, 4, 2, 5);
	proc_free(&p);
}

/* Faults after the timeline: each goes to the piece live at its address
 * and time; one at the mprotect's own time already sees the pieces. */
static void charge(struct proc *p, uint64_t addr, uint64_t t)
{
	int64_t id = model__lookup(p, addr, t);
	if (id >= 0)
		p->v[id].faults[FC_DEMAND_ZERO]++;
	else
		p->outside++;
}

static void test_mprotect_faults(void)
{
	struct proc p = { 0 };
	map_anon(&p, A, A + 4 * P, 10);
	model__reprotect(&p, A + P, A + 2 * P, PROT_READ, 20);
	model__index(&p);
	charge(&p, A + P + 8, 15);      /* before: the whole mapping */
	charge(&p, A + 3 * P, 19);      /* before */
	charge(&p, A, 20);              /* at the mprotect: the head */
	charge(&p, A + P, 25);          /* the middle */
	charge(&p, A + 2 * P - 1, 25);  /* the middle's last byte */
	charge(&p, A + 2 * P, 25);      /* the tail's first */
	charge(&p, A + 4 * P, 25);      /* past the end */
	charge(&p, A + P, 5);           /* before the mapping */
	uint64_t want[] = { 2, 1, 2, 1 };
	for (uint32_t i = 0; i < 4; i++)
		CHECK(p.v[i].faults[FC_DEMAND_ZERO] == want[i], "entry %u: %llu faults, want %llu", i,
		      (unsigned long long)p.v[i].faults[FC_DEMAND_ZERO],
		      (unsigned long long)want[i]);
	CHECK(p.outside == 2, "%llu outside, want 2", (unsigned long long)p.outside);
	proc_free(&p);
}

/* ---- pass 3's lookup cache (model__lookup_box, model__lookup_cached) ---- */

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(uint64_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state % n;
}

/* A random timeline over 64 pages: mmaps replacing what they cover,
 * munmaps, mprotects, and entries put in beside live ones as a maps
 * snapshot or a fork does (overlapping, often begun at the same time). */
static void random_timeline(struct proc *p)
{
	uint64_t t = 1;
	for (int k = 0; k < 120; k++, t += 1 + rnd(3)) {
		uint64_t lo = A + rnd(60) * P, hi = lo + (1 + rnd(8)) * P;
		switch (rnd(5)) {
		case 0: map_anon(p, lo, hi, t); break;
		case 1: model__carve(p, lo, hi, t, VE_MUNMAP); break;
		case 2: model__reprotect(p, lo, hi, PROT_READ, t); break;
		default: {
			struct vma e = { .start = lo, .end = hi, .prot = RW, .anonymous = 1,
					 .kind = VK_ANON, .stack_file = -1, .created_ns = t,
					 .valid_from = t - rnd(2) * (t > 1), .destroyed_ns = T_NEVER };
			model__live_insert(p, model__new_vma(p, &e));
		}
		}
	}
}

/* Every box holds model__lookup's answer for every point of it, and the
 * cache answers a run of nearby faults as the full lookup does. */
static void test_lookup_cache(void)
{
	uint64_t checked = 0, hits = 0;
	for (int round = 0; round < 40; round++) {
		struct proc p = { 0 };
		random_timeline(&p);
		model__index(&p);
		struct lookup_cache c = { 0 };
		for (int q = 0; q < 4000; q++) {
			uint64_t addr = A - 2 * P + rnd(70 * P), t = rnd(400);
			int64_t want = model__lookup(&p, addr, t);
			struct lookup_box b;
			int64_t got = model__lookup_box(&p, addr, t, &b);
			CHECK(got == want && addr >= b.lo && addr < b.hi && t >= b.tlo && t < b.thi,
			      "round %d: box of (0x%llx, %llu)", round, (unsigned long long)addr,
			      (unsigned long long)t);
			for (int k = 0; k < 8; k++) {
				uint64_t w = b.hi - b.lo, d = b.thi - b.tlo;
				uint64_t x = b.lo + rnd(w > 80 * P ? 80 * P : w);
				uint64_t y = b.tlo + rnd(d > 500 ? 500 : d);
				CHECK(model__lookup(&p, x, y) == b.id, "round %d: (0x%llx, %llu) in the box",
				      round, (unsigned long long)x, (unsigned long long)y);
				checked++;
			}
			uint32_t before = c.next;
			CHECK(model__lookup_cached(&p, &c, addr, t) == want, "round %d: cached", round);
			hits += c.next == before && c.p == &p;
		}
		proc_free(&p);
	}
	CHECK(checked > 1000000 && hits > 10000, "%llu points checked, %llu cache hits",
	      (unsigned long long)checked, (unsigned long long)hits);
}

/* ---- mremap: the calls apply_mem makes (carve the old range, add the new) */

static void remap(struct proc *p, uint64_t old, uint64_t old_len, uint64_t to, uint64_t new_len,
		  uint64_t t)
{
	uint32_t i = model__live_lb(p, old);
	struct vma e = p->v[p->live[i]];
	model__carve(p, old, old + old_len, t, VE_MREMAP);
	e.start = to;
	e.end = to + new_len;
	e.origin = VO_MREMAP;
	e.created_ns = t;
	e.inh_pid = e.inh_vma = e.piece_of = 0;
	model__add_entry(p, &e, t);
}

static void test_mremap_grow_shrink(void)
{
	struct proc p = { 0 };
	map_anon(&p, A, A + 2 * P, 10);
	p.v[0].faults[FC_DEMAND_ZERO] = 3;
	remap(&p, A, 2 * P, A, 4 * P, 20); /* grown in place */
	EXPECT_VMA(&p, 0, A, A + 2 * P, RW, 10, 20, VE_MREMAP, 0);
	EXPECT_VMA(&p, 1, A, A + 4 * P, RW, 20, T_NEVER, VE_NONE, 0);
	CHECK(p.v[1].origin == VO_MREMAP && p.v[1].created_ns == 20 && p.v[1].stack_id == 7,
	      "grown: a new mapping with the stack it had");
	CHECK(p.v[0].faults[FC_DEMAND_ZERO] == 3 && !p.v[1].faults[FC_DEMAND_ZERO],
	      "grown: the faults stay with the old entry");
	EXPECT_LIVE(&p, 1);
	remap(&p, A, 4 * P, A, P, 30); /* shrunk */
	EXPECT_VMA(&p, 1, A, A + 4 * P, RW, 20, 30, VE_MREMAP, 0);
	EXPECT_VMA(&p, 2, A, A + P, RW, 30, T_NEVER, VE_NONE, 0);
	EXPECT_LIVE(&p, 2);
	CHECK(p.nv == 3, "%u entries, want 3", p.nv);
	proc_free(&p);
}

static void test_mremap_move(void)
{
	struct proc p = { 0 };
	map_anon(&p, A, A + 4 * P, 10);   /* 0 */
	map_anon(&p, B, B + P, 11);       /* 1: in the way (MREMAP_FIXED) */
	/* the middle two pages move to B, grown by one */
	remap(&p, A + P, 2 * P, B, 3 * P, 20);
	EXPECT_VMA(&p, 0, A, A + 4 * P, RW, 10, 20, VE_MREMAP, 0);
	EXPECT_VMA(&p, 1, B, B + P, RW, 11, 20, VE_REPLACED, 0);
	EXPECT_VMA(&p, 2, A, A + P, RW, 20, T_NEVER, VE_NONE, 1);
	EXPECT_VMA(&p, 3, A + 3 * P, A + 4 * P, RW, 20, T_NEVER, VE_NONE, 1);
	EXPECT_VMA(&p, 4, B, B + 3 * P, RW, 20, T_NEVER, VE_NONE, 0);
	EXPECT_LIVE(&p, 2, 3, 4);
	model__index(&p);
	CHECK(model__lookup(&p, A + P, 15) == 0 && model__lookup(&p, A + P, 25) < 0,
	      "the old place: the mapping before, nothing after");
	CHECK(model__lookup(&p, B + 2 * P, 25) == 4 && model__lookup(&p, B, 15) == 1,
	      "the new place: the moved mapping after, the replaced one before");
	CHECK(model__lookup_created(&p, B, 18) == 4, "the entry the mremap made at B");
	proc_free(&p);
}

/* model__intern: the first copy of each text, whatever came between. */
static void test_intern(void)
{
	static struct analysis a;
	char buf[32];
	const char *first[3000];
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(buf, sizeof(buf), "/tmp/cc%04d.s", i);
		first[i] = model__intern(&a, buf, (size_t)n);
	}
	int same = 0;
	for (int i = 2999; i >= 0; i--) {
		int n = snprintf(buf, sizeof(buf), "/tmp/cc%04d.s", i);
		same += model__intern(&a, buf, (size_t)n) == first[i];
	}
	CHECK(same == 3000 && a.nstrs == 3000, "%d of 3000 interned again to their copy, %u copies",
	      same, a.nstrs);
	/* not UTF-8: a cleaned copy each time; its clean text then is that copy */
	const char *b1 = model__intern(&a, "a\xff", 2), *b2 = model__intern(&a, "a\xff", 2);
	CHECK(b1 != b2 && !strcmp(b1, "a?") && !strcmp(b2, "a?"), "a\\xff: %s %s", b1, b2);
	CHECK(model__intern(&a, "a?", 2) == b1, "a? is the first cleaned copy");
	/* a NUL inside: never the copy of a shorter text */
	const char *z = model__intern(&a, "/tmp/cc0001.s\0x", 15);
	CHECK(z != first[1] && model__intern(&a, "/tmp/cc0001.s", 13) == first[1],
	      "a text with a NUL inside is its own copy");
	CHECK(model__intern(&a, "", 0) == model__intern(&a, "", 0), "the empty text once");
	for (uint32_t i = 0; i < a.nstrs; i++)
		free(a.strs[i]);
	free(a.strs);
	free(a.str_next);
	u64map__free(&a.by_str);
}

/* u64map__slot: a counter by key in one probe; keys that differ only in
 * their high bits (file << 32 | id) stay apart. */
static void test_u64map_slot(void)
{
	struct u64map m = { 0 };
	for (uint64_t f = 0; f < 2000; f++)
		for (uint64_t id = 1; id <= 8; id++)
			for (uint64_t k = 0; k < id; k++) {
				void **v = u64map__slot(&m, f << 32 | id);
				*v = (void *)((uintptr_t)*v + 1);
			}
	int ok = m.n == 16000;
	for (uint64_t f = 0; f < 2000; f++)
		for (uint64_t id = 1; id <= 8; id++)
			ok &= (uintptr_t)u64map__get(&m, f << 32 | id) == id;
	CHECK(ok, "16000 counters (%zu keys)", m.n);
	u64map__free(&m);
}

/* sites__frame_anon writes what vp_frame_anon's snprintf writes: random
 * offsets of every width, modules with and without '/', empty, and longer
 * than the buffer, buffers from 1 byte up. */
static void test_frame_anon(void)
{
	char mod[700];
	uint64_t x = 88172645463325252ull;
	int bad = 0;
	for (int it = 0; it < 200000; it++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
		struct vp_frame f = { 0 };
		uint64_t v = x >> (x % 64);
		size_t n = x % 3 ? 300 : 1 + (x >> 8) % 40;
		if (x % 5) {
			size_t len = (x >> 16) % 4 ? (x >> 20) % 40 : (x >> 20) % 650;
			for (size_t k = 0; k < len; k++)
				mod[k] = (x >> (k % 50)) % 9 == 0 ? '/' : (char)('a' + k % 26);
			mod[len] = 0;
			f.module = mod;
			f.mod_offset = v;
		} else {
			f.ip = v;
		}
		char want[700], got[700];
		vp_frame_anon(&f, want, n);
		size_t len = sites__frame_anon(&f, got, n);
		if ((strcmp(want, got) || len != strlen(want)) && bad++ < 3)
			CHECK(0, "frame [%s], n %zu: [%s] not [%s]", f.module ? f.module : "", n,
			      got, want);
	}
	CHECK(!bad, "200000 anonymous frame names as vp_frame_anon's (%d differ)", bad);
}

int main(void)
{
	test_intern();
	test_frame_anon();
	test_u64map_slot();
	test_munmap_head_tail();
	test_munmap_middle();
	test_munmap_anon_offset();
	test_munmap_several();
	test_out_of_range();
	test_unaligned();
	test_zero_length();
	test_mprotect_middle();
	test_mprotect_faults();
	test_mremap_grow_shrink();
	test_mremap_move();
	test_lookup_cache();
	if (failures)
		fprintf(stderr, "%d check(s) failed\n", failures);
	else
		printf("ok model\n");
	return failures != 0;
}
