// SPDX-License-Identifier: MIT
/*
 * The symbol index (analyzer/core/symindex.h) against libdwfl itself: for
 * every symbol of real modules (libc with its detached debug symbols when
 * installed, cc1, python3.11-dbg, vmaprof, this program, or the files
 * given as arguments), the index and dwfl_module_addrinfo must give the
 * same name and offset at the symbol's start, inside it, at its last
 * byte, just past its end and just before its start, at every section's
 * bounds and at addresses spread over the whole module (gaps between
 * symbols). A module must hold symbols and every comparison must agree.
 * Files that do not exist on this machine are skipped and said so; at
 * least two must be checked.
 *
 * libdwfl takes up to ~1 ms a lookup on cc1, so by default each module
 * is compared at an even sample of at most 8000 of those addresses
 * (every one of them is still looked up in the index); VP_SYMINDEX_FULL=1
 * compares them all (minutes: 384,678 addresses on the five default
 * modules agreed when this was written).
 *
 * usage: test_symindex [FILE...]
 */
#include "symindex.h"

#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <inttypes.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

static uint64_t compared, disagreed;

/* Compare both at addr; print the first few disagreements. */
static void compare(Dwfl_Module *mod, struct symindex *x, const char *path, uint64_t addr)
{
	GElf_Off off_l = 0;
	GElf_Sym sym;
	uint64_t off_i = 0;
	const char *l = dwfl_module_addrinfo(mod, addr, &off_l, &sym, NULL, NULL, NULL);
	const char *i = symindex__lookup(x, addr, &off_i);
	bool same = (!l && !i) || (l && i && !strcmp(l, i) && off_l == off_i);

	compared++;
	if (!same && disagreed++ < 20)
		fprintf(stderr, "FAIL %s at 0x%" PRIx64 ": libdwfl %s+0x%" PRIx64
			", index %s+0x%" PRIx64 "\n", path, addr, l ? l : "(none)",
			(uint64_t)off_l, i ? i : "(none)", off_i);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct addrs {
	uint64_t *a;
	size_t n, cap;
};

static void add(struct addrs *v, uint64_t a)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 4096;
		v->a = realloc(v->a, v->cap * sizeof(*v->a));
		if (!v->a) {
			perror("realloc");
			exit(2);
		}
	}
	v->a[v->n++] = a;
}

/* Every address worth asking about in mod: around each symbol, each
 * section's bounds, and a sweep over the sections' whole span. */
static void collect(Dwfl_Module *mod, struct addrs *v, int *nsyms)
{
	GElf_Addr bias, lo = UINT64_MAX, hi = 0;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	Elf_Scn *scn = NULL;
	int n = dwfl_module_getsymtab(mod);

	*nsyms = n;
	for (int k = 1; k < n; k++) {
		GElf_Sym sym;
		GElf_Addr value;
		if (!dwfl_module_getsym_info(mod, k, &sym, &value, NULL, NULL, NULL))
			continue;
		add(v, value);
		add(v, value - 1);
		add(v, value + 1);
		if (sym.st_size) {
			add(v, value + sym.st_size / 2);
			add(v, value + sym.st_size - 1);
			add(v, value + sym.st_size);
		}
	}
	while (elf && (scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr mem, *sh = gelf_getshdr(scn, &mem);
		if (!sh || !(sh->sh_flags & SHF_ALLOC))
			continue;
		uint64_t s = sh->sh_addr + bias, e = s + sh->sh_size;
		add(v, s);
		add(v, s - 1);
		add(v, e);
		add(v, e - 1);
		if (s < lo)
			lo = s;
		if (e > hi)
			hi = e;
	}
	for (uint64_t k = 0; lo < hi && k < 20000; k++)
		add(v, lo + (hi - lo) / 20000 * k + (k * 7919) % 64);
	qsort(v->a, v->n, sizeof(*v->a), cmp_u64);
	size_t m = 0;
	for (size_t k = 0; k < v->n; k++)
		if (!m || v->a[m - 1] != v->a[k])
			v->a[m++] = v->a[k];
	v->n = m;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 if path was checked, 0 if it is not on this machine. */
static int check_file(const char *path)
{
	if (access(path, R_OK))
		return 0;
	Dwfl *dwfl = dwfl_begin(&callbacks);
	dwfl_report_begin(dwfl);
	Dwfl_Module *mod = dwfl_report_elf(dwfl, path, path, -1, 0, true);
	dwfl_report_end(dwfl, NULL, NULL);
	CHECK(mod, "%s: dwfl_report_elf: %s", path, dwfl_errmsg(-1));
	if (!mod) {
		dwfl_end(dwfl);
		return 1;
	}
	struct symindex *x = NULL;
	struct addrs v = { 0 };
	int nsyms, err = symindex__build(mod, &x);
	CHECK(!err && x, "%s: symindex__build: %d", path, err);
	if (!x) {
		dwfl_end(dwfl);
		return 1;
	}
	collect(mod, &v, &nsyms);
	CHECK(symindex__size(x) > 10, "%s: %zu symbols indexed", path, symindex__size(x));
	uint64_t before = disagreed;
	const char *full = getenv("VP_SYMINDEX_FULL");
	size_t step = full && !strcmp(full, "1") ? 1 : v.n / 8000 + 1, asked = 0;
	double t0 = now();
	for (size_t k = 0; k < v.n; k += step, asked++)
		compare(mod, x, path, v.a[k]);
	double t1 = now();
	for (size_t k = 0; k < v.n; k++) {
		uint64_t off;
		symindex__lookup(x, v.a[k], &off);
	}
	double t2 = now();
	CHECK(disagreed == before, "%s: %" PRIu64 " of %zu addresses differ", path,
	      disagreed - before, asked);
	printf("%s: %d symbols (%zu indexed), %zu of %zu addresses compared, %" PRIu64
	       " differ; per lookup: libdwfl + index %.1f us, index %.2f us\n", path, nsyms,
	       symindex__size(x), asked, v.n, disagreed - before, (t1 - t0) / (double)asked * 1e6,
	       (t2 - t1) / (double)v.n * 1e6);
	free(v.a);
	symindex__free(x);
	dwfl_end(dwfl);
	return 1;
}

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (strstr(info->dlpi_name, "/libc.so"))
		snprintf(data, 4096, "%s", info->dlpi_name);
	return 0;
}

int main(int argc, char **argv)
{
	static char libc[4096], self[4096];
	const char *deflt[] = { libc, "/usr/lib/gcc/x86_64-linux-gnu/12/cc1",
				"/usr/bin/python3.11-dbg", VMAPROF_BIN, self };
	int checked = 0;

	unsetenv("DEBUGINFOD_URLS"); /* this machine's files only */
	elf_version(EV_CURRENT);
	dl_iterate_phdr(phdr_cb, libc);
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0)
		self[n] = '\0';
	if (argc > 1) {
		for (int k = 1; k < argc; k++) {
			int c = check_file(argv[k]);
			CHECK(c, "%s: not found", argv[k]);
			checked += c;
		}
	} else {
		for (size_t k = 0; k < sizeof(deflt) / sizeof(deflt[0]); k++) {
			if (!deflt[k][0])
				continue;
			if (check_file(deflt[k]))
				checked++;
			else
				printf("%s: not on this machine, skipped\n", deflt[k]);
		}
		CHECK(checked >= 2, "only %d module(s) checked", checked);
	}
	printf("%" PRIu64 " addresses compared, %" PRIu64 " differ\n", compared, disagreed);
	return failures != 0;
}
