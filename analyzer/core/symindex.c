// SPDX-License-Identifier: MIT
/*
 * Symbol index of one libdwfl module (see symindex.h for the promise).
 *
 * What dwfl_module_addrinfo does (elfutils 0.188, libdwfl/
 * dwfl_module_addrsym.c), which the index must answer alike:
 *  - It walks the table in index order, globals first ([first_global,
 *    n), or [1, n) when first_global is 0 or 1), then the locals ([1,
 *    first_global)) only when the globals gave no sized symbol holding the
 *    address and no sizeless one exactly at it. A symbol counts when it
 *    has a name, is defined (st_shndx), is not a section, file or TLS
 *    symbol, and its value (dwfl_module_getsym_info's address) is <= addr.
 *  - Every counted symbol raises `min_label` to value + size.
 *  - A sized symbol holding addr (addr - value < size) replaces the best
 *    one when there is none, when it starts higher, or when it binds
 *    stronger (global 3, weak 2, local 1, others 0); at the same start,
 *    when it is smaller and binds no weaker, or as big and binds stronger.
 *    That fold depends on the order, so it is run as is, in table order,
 *    over the few symbols holding addr.
 *  - Sizeless symbols are only a fallback: while no sized symbol was
 *    found, one whose value is >= min_label so far and in the same
 *    section as addr (both looked up among the ELF's SHF_ALLOC sections
 *    as libdwfl's find_section does; for a section index >= SHN_LORESERVE,
 *    only at addr exactly) takes the fallback's place; it is used only if
 *    its value is >= the final min_label. A taken value is never below an
 *    earlier one, and the final min_label is at least every value seen,
 *    so the answer is the last sizeless symbol in table order whose value
 *    is the highest value seen and equals the final min_label (none when
 *    a sized symbol reaches past it) and that is in addr's section.
 * So each pass keeps its counted symbols sorted by value with the running
 * maximum of value + size: the symbols at or below addr are a prefix, the
 * ones holding addr are found walking back until that maximum is <= addr,
 * and min_label is the maximum at the prefix's end.
 *
 * Function descriptors (ppc64) make libdwfl try a second value per symbol:
 * not reproduced, those modules are left to libdwfl (-ENOTSUP).
 */
#include "symindex.h"

#include <errno.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct isym {
	uint64_t value, size;
	const char *name;  /* the module's string */
	uint32_t ndx;      /* index in libdwfl's table: the order of its walk */
	uint32_t shndx;    /* as dwfl_module_getsym_info says (-1: not allocated) */
	int bind;          /* binding_value */
};

struct pass {
	struct isym *s;  /* sorted by value, then ndx */
	uint64_t *reach; /* reach[i]: max of value + size over s[0..i] */
	size_t n;
};

struct secref {
	uint64_t start, end; /* end inclusive in the search, as libdwfl's */
	size_t ndx;
};

struct symindex {
	struct pass g, l; /* globals, locals */
	bool has_l;       /* the table has a locals pass */
	struct secref *secs;
	size_t nsecs;
	const struct isym **hits; /* scratch: symbols holding an address, room
				   * for a whole pass so a lookup never allocates */
};

/* GELF_ST_BIND as higher-is-better, as libdwfl ranks them. */
static int binding_value(unsigned char info)
{
	switch (GELF_ST_BIND(info)) {
	case STB_GLOBAL: return 3;
	case STB_WEAK: return 2;
	case STB_LOCAL: return 1;
	default: return 0;
	}
}

static int secref_cmp(const void *a, const void *b)
{
	const struct secref *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return x->ndx < y->ndx ? -1 : x->ndx > y->ndx;
}

/* The main ELF's SHF_ALLOC sections at module addresses, sorted as
 * libdwfl's cache_sections sorts them. 0, -ENOTSUP, -ENOMEM. */
static int load_sections(struct symindex *x, Elf *elf, uint64_t bias)
{
	size_t shstrndx, cap = 0;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) < 0)
		return -ENOTSUP;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr mem, *sh = gelf_getshdr(scn, &mem);

		if (!sh)
			return -ENOTSUP;
		if (!(sh->sh_flags & SHF_ALLOC))
			continue;
		if (!elf_strptr(elf, shstrndx, sh->sh_name))
			return -ENOTSUP; /* libdwfl gives up on such a file */
		if (x->nsecs == cap) {
			size_t nc = cap ? cap * 2 : 32;
			struct secref *n = realloc(x->secs, nc * sizeof(*n));

			if (!n)
				return -ENOMEM;
			x->secs = n;
			cap = nc;
		}
		x->secs[x->nsecs].start = sh->sh_addr + bias;
		x->secs[x->nsecs].end = sh->sh_addr + bias + sh->sh_size;
		x->secs[x->nsecs].ndx = elf_ndxscn(scn);
		x->nsecs++;
	}
	if (x->nsecs > 1)
		qsort(x->secs, x->nsecs, sizeof(*x->secs), secref_cmp);
	return 0;
}

/* The section index of addr as libdwfl's find_section has it (a section's
 * end counts as inside it unless the next one starts there); SHN_UNDEF
 * for none. */
static size_t section_of(const struct symindex *x, uint64_t addr)
{
	size_t l = 0, u = x->nsecs;

	while (l < u) {
		size_t i = (l + u) / 2;

		if (addr < x->secs[i].start) {
			u = i;
		} else if (addr > x->secs[i].end) {
			l = i + 1;
		} else {
			if (addr == x->secs[i].end && i + 1 < x->nsecs &&
			    addr == x->secs[i + 1].start)
				i++;
			return x->secs[i].ndx;
		}
	}
	return SHN_UNDEF;
}

static bool same_section(const struct symindex *x, const struct isym *s, uint64_t addr)
{
	if (s->shndx >= SHN_LORESERVE)
		return s->value == addr;
	return section_of(x, addr) == section_of(x, s->value);
}

static int isym_cmp(const void *a, const void *b)
{
	const struct isym *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->ndx < y->ndx ? -1 : x->ndx > y->ndx;
}

static int pass__add(struct pass *p, size_t *cap, const struct isym *s)
{
	if (p->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 256;
		struct isym *n = realloc(p->s, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->s = n;
		*cap = nc;
	}
	p->s[p->n++] = *s;
	return 0;
}

static int pass__finish(struct pass *p)
{
	uint64_t m = 0;

	if (p->n > 1)
		qsort(p->s, p->n, sizeof(*p->s), isym_cmp);
	p->reach = malloc((p->n ? p->n : 1) * sizeof(*p->reach));
	if (!p->reach)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		if (p->s[i].value + p->s[i].size > m)
			m = p->s[i].value + p->s[i].size;
		p->reach[i] = m;
	}
	return 0;
}

/* Read the counted symbols of the table into the passes. */
static int load_symbols(struct symindex *x, Dwfl_Module *mod)
{
	int n = dwfl_module_getsymtab(mod);
	int fg = n < 0 ? -1 : dwfl_module_getsymtab_first_global(mod);
	size_t gcap = 0, lcap = 0;

	if (n < 0 || fg < 0)
		return 0; /* libdwfl answers nothing: neither do we */
	x->has_l = fg > 1;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr value;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &value, &shndx, NULL,
							   NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		bool global = i >= (fg == 0 ? 1 : fg);

		if (!name || !name[0] || sym.st_shndx == SHN_UNDEF || type == STT_SECTION ||
		    type == STT_FILE || type == STT_TLS)
			continue;
		if (value + sym.st_size < value)
			return -ENOTSUP; /* min_label would wrap */
		struct isym s = { .value = value, .size = sym.st_size, .name = name,
				  .ndx = (uint32_t)i, .shndx = shndx,
				  .bind = binding_value(sym.st_info) };
		int err = global ? pass__add(&x->g, &gcap, &s) : pass__add(&x->l, &lcap, &s);

		if (err)
			return err;
	}
	return 0;
}

int symindex__build(Dwfl_Module *mod, struct symindex **out)
{
	GElf_Addr bias;
	GElf_Ehdr ehdr_mem, *ehdr;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	struct symindex *x;
	int err;

	*out = NULL;
	if (!elf || !(ehdr = gelf_getehdr(elf, &ehdr_mem)))
		return -ENOTSUP;
	if (ehdr->e_machine == EM_PPC64 || ehdr->e_type == ET_REL)
		return -ENOTSUP;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	err = load_sections(x, elf, bias);
	if (!err)
		err = load_symbols(x, mod);
	if (!err)
		err = pass__finish(&x->g);
	if (!err)
		err = pass__finish(&x->l);
	if (!err) {
		size_t n = x->g.n > x->l.n ? x->g.n : x->l.n;

		x->hits = malloc((n ? n : 1) * sizeof(*x->hits));
		if (!x->hits)
			err = -ENOMEM;
	}
	if (err) {
		symindex__free(x);
		return err;
	}
	*out = x;
	return 0;
}

/* How many of p's symbols have value <= addr: they are a prefix. */
static size_t pass__upto(const struct pass *p, uint64_t addr)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->s[mid].value <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct isym *x = *(const struct isym *const *)a, *y = *(const struct isym *const *)b;

	return x->ndx < y->ndx ? -1 : x->ndx > y->ndx;
}

/* libdwfl's choice among the sized symbols of p[0..upto) holding addr
 * (its fold, in table order); NULL if none holds it. */
static const struct isym *pass__holding(struct symindex *x, const struct pass *p, size_t upto,
					uint64_t addr)
{
	const struct isym *best = NULL;
	size_t nh = 0;

	for (size_t i = upto; i-- > 0 && p->reach[i] > addr;) {
		const struct isym *s = &p->s[i];

		if (!s->size || addr - s->value >= s->size)
			continue;
		x->hits[nh++] = s; /* room for every symbol of a pass */
	}
	if (nh > 1)
		qsort(x->hits, nh, sizeof(*x->hits), hit_cmp);
	for (size_t i = 0; i < nh; i++) {
		const struct isym *c = best, *s = x->hits[i];

		if (!c || c->value < s->value || c->bind < s->bind)
			best = s;
		else if (c->value == s->value &&
			 ((c->size > s->size && c->bind <= s->bind) ||
			  (c->size >= s->size && c->bind < s->bind)))
			best = s;
	}
	return best;
}

/* The last (in table order) sizeless symbol of p[0..upto) at value v in
 * addr's section, or NULL. */
static const struct isym *pass__sizeless_at(const struct symindex *x, const struct pass *p,
					    size_t upto, uint64_t v, uint64_t addr)
{
	for (size_t i = upto; i-- > 0 && p->s[i].value == v;) /* sorted by ndx within v */
		if (!p->s[i].size && same_section(x, &p->s[i], addr))
			return &p->s[i];
	return NULL;
}

const char *symindex__lookup(struct symindex *x, uint64_t addr, uint64_t *off)
{
	size_t ng = pass__upto(&x->g, addr), nl = 0;
	const struct isym *best = pass__holding(x, &x->g, ng, addr);
	uint64_t top = 0, reach = 0;
	bool any = false, run_l;

	if (!best) {
		/* the locals pass runs unless a global sizeless symbol sits
		 * exactly at addr (always in addr's section) */
		run_l = x->has_l && !pass__sizeless_at(x, &x->g, ng, addr, addr);
		if (run_l) {
			nl = pass__upto(&x->l, addr);
			best = pass__holding(x, &x->l, nl, addr);
		}
	}
	if (!best) {
		if (ng) {
			top = x->g.s[ng - 1].value;
			reach = x->g.reach[ng - 1];
			any = true;
		}
		if (nl) {
			if (!any || x->l.s[nl - 1].value > top)
				top = x->l.s[nl - 1].value;
			if (!any || x->l.reach[nl - 1] > reach)
				reach = x->l.reach[nl - 1];
			any = true;
		}
		if (!any || reach != top) /* nothing seen, or a sized one reaches past */
			return NULL;
		if (nl && x->l.s[nl - 1].value == top)
			best = pass__sizeless_at(x, &x->l, nl, top, addr);
		if (!best && ng && x->g.s[ng - 1].value == top)
			best = pass__sizeless_at(x, &x->g, ng, top, addr);
		if (!best)
			return NULL;
	}
	*off = addr - best->value;
	return best->name;
}

size_t symindex__size(const struct symindex *x)
{
	return x ? x->g.n + x->l.n : 0;
}

void symindex__free(struct symindex *x)
{
	if (!x)
		return;
	free(x->g.s);
	free(x->g.reach);
	free(x->l.s);
	free(x->l.reach);
	free(x->secs);
	free(x->hits);
	free(x);
}
