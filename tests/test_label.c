// SPDX-License-Identifier: MIT
/*
 * analyzer/rules/label.h: demangling (C++, Rust legacy and v0, garbage) and the
 * label frame picked from stacks as the analyzer sees them (function names
 * raw from the symbol table, module paths as in the maps text).
 * Returns 0 when every check passes, 1 otherwise (each failure is printed).
 */
#include "label.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define LIBC "/usr/lib/x86_64-linux-gnu/libc.so.6"
#define LIBSTDCXX "/usr/lib/x86_64-linux-gnu/libstdc++.so.6"
#define REDIS "/usr/bin/redis-server"
#define PYTHON "/usr/bin/python3.11"
#define CC1 "/usr/lib/gcc/x86_64-linux-gnu/12/cc1"

/* ---- demangling ----------------------------------------------------------- */

static void expect_demangled(const char *sym, const char *want)
{
	char *got = label__demangle(sym);

	if (want)
		CHECK(got && !strcmp(got, want), "%s -> \"%s\", want \"%s\"", sym,
		      got ? got : "(null)", want);
	else
		CHECK(got == NULL, "%s -> \"%s\", want NULL", sym, got);
	free(got);
}

static void test_demangle(void)
{
	/* C++ */
	expect_demangled("_ZN2ns4Type6methodEi", "ns::Type::method(int)");
	expect_demangled("_ZN2ns4Type6methodEm", "ns::Type::method(unsigned long)");
	expect_demangled("_Znwm", "operator new(unsigned long)");
	expect_demangled("_ZnwmSt11align_val_t", "operator new(unsigned long, std::align_val_t)");
	expect_demangled("_ZnamRKSt9nothrow_t", "operator new[](unsigned long, std::nothrow_t const&)");
	expect_demangled("_ZNSt6vectorIiSaIiEE9push_backERKi",
			 "std::vector<int, std::allocator<int> >::push_back(int const&)");
	expect_demangled("_ZN2ns4Type6methodEi.cold", "ns::Type::method(int) [clone .cold]");

	/* Rust legacy: the ::h<hash> is dropped, $-escapes decoded, an LLVM
	 * suffix dropped */
	expect_demangled("_ZN3std2io5stdio6_print17h1d2e3f4a5b6c7d8eE", "std::io::stdio::_print");
	expect_demangled("_ZN4core3ptr13drop_in_place17hdeadbeefdeadbeefE",
			 "core::ptr::drop_in_place");
	expect_demangled("_ZN71_$LT$Test$u20$$u2b$$u20$$u27$static$u20$as$u20$foo..Bar$LT$Test$GT$$GT$"
			 "3bar17h930b740aa94f1d3aE",
			 "<Test + 'static as foo::Bar<Test>>::bar");
	expect_demangled("_ZN3foo3bar17h05af221e174051e9E.llvm.1234", "foo::bar");
	/* A "hash" with fewer than 5 distinct hex digits is not one to
	 * libiberty: the name is read as C++, the h-part kept. rustc's hashes
	 * are 64 random bits, so this is a curiosity, pinned here. */
	expect_demangled("_ZN3foo3bar17h0000000000000000E", "foo::bar::h0000000000000000");

	/* Rust v0: crate disambiguators not shown */
	expect_demangled("_RNvCs15kBYyAo9fc_7mycrate7example", "mycrate::example");
	expect_demangled("_RNvNtCs1234_7mycrate3foo3bar", "mycrate::foo::bar");
	expect_demangled("_RINvNtCs4NRVxsYgnAr_4core3ptr9drop_glueINtNtCscdodAO9FK5_5alloc4sync3Arce"
			 "EECs92BnbMq7p8c_15influxdb3_write",
			 "core::ptr::drop_glue::<alloc::sync::Arc<str>>");
	expect_demangled("_RNvCs15kBYyAo9fc_7mycrate7example.llvm.123456", "mycrate::example");

	/* not mangled, or not valid */
	const char *plain[] = { "malloc", "main", "zmalloc_usable", "_PyObject_ArenaMmap", "",
				"_", "_Z", "_ZN", "_ZN3foo", "_R", "_RNv", "_Zfoo", "_RZ",
				"_GLOBAL__sub_I_main", "__Z3foov", "Z3foov" };
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		expect_demangled(plain[i], NULL);
	expect_demangled(NULL, NULL);
}

/* A random NUL-terminated string of up to max bytes (bytes 1..255). */
static void random_string(char *buf, size_t max, unsigned *seed)
{
	size_t n = (size_t)rand_r(seed) % max;

	for (size_t i = 0; i < n; i++)
		buf[i] = (char)(1 + rand_r(seed) % 255);
	buf[n] = 0;
}

/* Random bytes, random mangling-alphabet soup behind _Z/_R, and long or
 * deeply nested names: never a crash, and any answer is a string. */
static void test_demangle_garbage(void)
{
	static const char alphabet[] = "NEIJLSTBCvRKPOiljmcah0123456789_sStTpnwdaXYZQGMD$.";
	char buf[512];
	unsigned seed = 12;
	size_t answered = 0;

	for (int i = 0; i < 200000; i++) {
		random_string(buf, sizeof(buf) - 1, &seed);
		if (i % 2 && strlen(buf) > 2) {
			buf[0] = '_';
			buf[1] = i % 4 == 1 ? 'Z' : 'R';
			/* mostly mangling letters, so the parsers go deep */
			for (size_t k = 2; buf[k]; k++)
				if (rand_r(&seed) % 8)
					buf[k] = alphabet[(size_t)rand_r(&seed) % (sizeof(alphabet) - 1)];
		}
		char *d = label__demangle(buf);

		if (d) {
			answered++;
			CHECK(strlen(d) < 1u << 20, "absurd answer for a %zu-byte input", strlen(buf));
		}
		free(d);
	}
	printf("# garbage: %zu of 200000 random names demangled to something\n", answered);

	/* long and deep: a 1 MiB run of one letter, nesting past the recursion
	 * limit in both grammars, a namespace chain of 300 */
	size_t big = 1 << 20;
	char *s = malloc(big + 64);

	CHECK(s != NULL, "malloc");
	if (!s)
		return;
	const char *heads[] = { "_Z", "_ZN", "_Z1fI", "_R", "_RNv", "_RIN", "_RB" };
	const char fills[] = { 'N', 'I', 'P', 'B', 'R', 'A', '1' };
	for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++)
		for (size_t f = 0; f < sizeof(fills); f++) {
			strcpy(s, heads[h]);
			memset(s + strlen(heads[h]), fills[f], big);
			s[strlen(heads[h]) + big] = 0;
			free(label__demangle(s));
		}
	/* _ZN 1a 1a ... E: a::a::...::a */
	size_t len = 0;
	len += (size_t)sprintf(s + len, "_ZN");
	for (int i = 0; i < 300; i++)
		len += (size_t)sprintf(s + len, "1a");
	sprintf(s + len, "E");
	char *d = label__demangle(s);

	CHECK(d && strlen(d) == 300 + 299 * 2 && !strncmp(d, "a::a::", 6),
	      "300-deep namespace: %.40s", d ? d : "(null)");
	free(d);
	/* nested templates past the limit: _Z1fI1fI1fI... refused, not a crash */
	len = (size_t)sprintf(s, "_Z1f");
	for (int i = 0; i < 100000; i++)
		len += (size_t)sprintf(s + len, "I1f");
	for (int i = 0; i < 100000; i++)
		len += (size_t)sprintf(s + len, "E");
	sprintf(s + len, "v");
	free(label__demangle(s));
	free(s);
}

/* ---- picking the label ---------------------------------------------------- */

#define FR(fn, mod) { .ip = 0x1000, .function = (fn), .module = (mod) }
#define PICK(r, st) label__pick((r), (st), sizeof(st) / sizeof((st)[0]))

static void test_pick(void)
{
	struct label_rules *r = NULL;

	CHECK(label_rules__new(&r) == 0 && r, "label_rules__new");
	if (!r)
		return;

	/* Redis: calloc < zcalloc < _dictExpand < dictExpand */
	const struct vp_frame redis[] = { FR("calloc", LIBC), FR("zcalloc", REDIS),
					  FR("_dictExpand", REDIS), FR("dictExpand", REDIS) };
	CHECK(PICK(r, redis) == 2, "redis: %d", PICK(r, redis));
	/* the same statically linked: plumbing by name alone */
	const struct vp_frame redis_static[] = {
		FR("__mmap", REDIS), FR("sysmalloc", REDIS), FR("_int_malloc", REDIS),
		FR("__libc_calloc", REDIS), FR("ztrycalloc_usable_internal", REDIS),
		FR("zcalloc", REDIS), FR("_dictExpand", REDIS) };
	CHECK(PICK(r, redis_static) == 6, "redis static: %d", PICK(r, redis_static));
	const struct vp_frame redis_je[] = { FR("je_pages_map", REDIS), FR("je_extent_alloc_mmap", REDIS),
					     FR("imalloc_body", REDIS), FR("je_malloc_default", REDIS),
					     FR("zmalloc_usable", REDIS), FR("createStringObject", REDIS) };
	CHECK(PICK(r, redis_je) == 5, "redis jemalloc: %d", PICK(r, redis_je));

	/* C++: operator new (mangled, in libstdc++ or, static, by name) */
	const struct vp_frame cxx[] = { FR("mmap64", LIBC), FR("sysmalloc", LIBC),
					FR("malloc", LIBC), FR("_Znwm", LIBSTDCXX),
					FR("_ZN2ns4Type6methodEm", "/work/build/tests/w_cxx"),
					FR("main", "/work/build/tests/w_cxx") };
	CHECK(PICK(r, cxx) == 4, "operator new: %d", PICK(r, cxx));
	const struct vp_frame cxx_static[] = { FR("_ZnwmSt11align_val_t", NULL),
					       FR("_ZN2ns4Type6methodEm", NULL) };
	CHECK(PICK(r, cxx_static) == 1, "aligned operator new: %d", PICK(r, cxx_static));
	const struct vp_frame cxx_nothrow[] = { FR("_ZnamRKSt9nothrow_t", NULL), FR("main", NULL) };
	CHECK(PICK(r, cxx_nothrow) == 1, "nothrow new[]: %d", PICK(r, cxx_nothrow));
	/* a class's own operator new matches only demangled:
	 * _ZN3FoonwEm = Foo::operator new(unsigned long) */
	const struct vp_frame cxx_class[] = { FR("_ZN3FoonwEm", NULL), FR("_ZN3Foo4makeEv", NULL) };
	CHECK(PICK(r, cxx_class) == 1, "Foo::operator new: %d", PICK(r, cxx_class));

	/* Anything in libc, named or not, symbol table or not */
	const struct vp_frame libc[] = { FR(NULL, LIBC), FR("getaddrinfo", LIBC),
					 FR("__GI___fopen_internal", LIBC),
					 FR(NULL, LIBC " (deleted)"), FR("resolve", "/usr/bin/app") };
	CHECK(PICK(r, libc) == 4, "libc module: %d", PICK(r, libc));
	const struct vp_frame loader[] = { FR("_dl_map_object_from_fd", "/lib64/ld-linux-x86-64.so.2"),
					   FR("dlopen_worker", LIBC), FR("load_plugin", "/usr/bin/app") };
	CHECK(PICK(r, loader) == 2, "loader: %d", PICK(r, loader));
	const struct vp_frame shim[] = { FR("mmap", "/usr/lib/x86_64-linux-gnu/vmaprof/libvmaprof-preload.so"),
					 FR("my_mmap_wrapper", "/usr/bin/app") };
	CHECK(PICK(r, shim) == 1, "our shim: %d", PICK(r, shim));

	/* CPython's arena is the label, not plumbing */
	const struct vp_frame cpython[] = { FR("mmap64", LIBC), FR("_PyObject_ArenaMmap", PYTHON),
					    FR("new_arena", PYTHON), FR("_PyObject_Malloc", PYTHON) };
	CHECK(PICK(r, cpython) == 1, "cpython arena: %d", PICK(r, cpython));
	/* a large CPython allocation goes to malloc: its caller is the label
	 * (Debian's LTO build names the local copy _PyObject_Malloc.lto_priv.0) */
	const struct vp_frame pybig[] = { FR("malloc", LIBC), FR("_PyObject_Malloc.lto_priv.0", PYTHON),
					  FR("PyObject_Malloc", PYTHON), FR("list_resize", PYTHON) };
	CHECK(PICK(r, pybig) == 3, "cpython large allocation: %d", PICK(r, pybig));

	/* an unsymbolized frame outside plumbing modules is someone's code */
	const struct vp_frame unknown[] = { FR("malloc", LIBC), FR(NULL, NULL), FR("main", "/usr/bin/app") };
	CHECK(PICK(r, unknown) == 1, "unknown frame: %d", PICK(r, unknown));
	const struct vp_frame jit[] = { FR("mmap", LIBC), FR(NULL, "/memfd:jit (deleted)"), FR("main", NULL) };
	CHECK(PICK(r, jit) == 1, "jit frame: %d", PICK(r, jit));

	/* GCC clone suffixes on C names */
	const struct vp_frame clones[] = { FR("sysmalloc.constprop.0", NULL), FR("_int_malloc.cold", NULL),
					   FR("build.part.0", NULL) };
	CHECK(PICK(r, clones) == 2, "clone suffixes: %d", PICK(r, clones));

	/* Rust: the global allocator, legacy and v0 */
	const struct vp_frame rust[] = {
		FR("__rust_alloc", "/usr/bin/rapp"),
		FR("_ZN5alloc7raw_vec19RawVec$LT$T$C$A$GT$7reserve21do_reserve_and_handle17h2a9b9e0c8f6d4e31E",
		   "/usr/bin/rapp"),
		FR("_RNvCs15kBYyAo9fc_7mycrate7example", "/usr/bin/rapp") };
	CHECK(PICK(r, rust) == 2, "rust: %d", PICK(r, rust));

	/* Go: a direct syscall.Mmap is its caller's; the heap's growth the
	 * heap function's (the frames as a Go 1.19-1.22 binary names them) */
	const struct vp_frame go_direct[] = {
		FR("runtime/internal/syscall.Syscall6", "/usr/bin/goapp"),
		FR("syscall.Syscall6", "/usr/bin/goapp"), FR("syscall.mmap", "/usr/bin/goapp"),
		FR("syscall.(*mmapper).Mmap", "/usr/bin/goapp"), FR("syscall.Mmap", "/usr/bin/goapp"),
		FR("main.rawMap", "/usr/bin/goapp"), FR("main.main", "/usr/bin/goapp") };
	CHECK(PICK(r, go_direct) == 5, "go, syscall.Mmap: %d", PICK(r, go_direct));
	const struct vp_frame go_heap[] = {
		FR("runtime.sysMmap.abi0", "/usr/bin/goapp"), FR("runtime.mmap", "/usr/bin/goapp"),
		FR("runtime.sysReserveOS", "/usr/bin/goapp"), FR("runtime.sysReserve", "/usr/bin/goapp"),
		FR("runtime.(*mheap).sysAlloc", "/usr/bin/goapp"),
		FR("runtime.(*mheap).grow", "/usr/bin/goapp") };
	CHECK(PICK(r, go_heap) == 4, "go, the heap's growth: %d", PICK(r, go_heap));

	/* all plumbing: the outermost frame with a function */
	const struct vp_frame allp[] = { FR("mmap", NULL), FR("malloc", NULL), FR("calloc", NULL) };
	CHECK(PICK(r, allp) == 2, "all plumbing: %d", PICK(r, allp));
	const struct vp_frame allp2[] = { FR("mmap", LIBC), FR("malloc", LIBC), FR(NULL, LIBC), FR(NULL, LIBC) };
	CHECK(PICK(r, allp2) == 1, "all plumbing, unnamed outer: %d", PICK(r, allp2));
	const struct vp_frame allp3[] = { FR(NULL, LIBC), FR(NULL, LIBC), FR(NULL, LIBC) };
	CHECK(PICK(r, allp3) == 2, "all plumbing, none named: %d", PICK(r, allp3));

	/* a single frame, nothing, NULLs */
	const struct vp_frame one[] = { FR("mmap", LIBC) };
	CHECK(PICK(r, one) == 0, "one frame: %d", PICK(r, one));
	CHECK(label__pick(r, redis, 0) == -1, "n == 0");
	CHECK(label__pick(r, NULL, 3) == -1, "frames NULL");
	CHECK(label__pick(NULL, redis, 4) == -1, "rules NULL");
	CHECK(!label__is_plumbing(r, NULL) && !label__is_plumbing(NULL, &redis[0]), "is_plumbing NULLs");
	CHECK(label__is_plumbing(r, &redis[0]) && !label__is_plumbing(r, &redis[2]), "is_plumbing");

	/* user rules: GCC's garbage collector, as `--plumbing 'ggc_*'` */
	const struct vp_frame gcc[] = { FR("mmap", LIBC), FR("alloc_page", CC1), FR("ggc_internal_alloc", CC1),
					FR("ggc_internal_cleared_alloc", CC1), FR("make_node", CC1) };
	const char *why = "unset";

	CHECK(PICK(r, gcc) == 1, "gcc before: %d", PICK(r, gcc));
	CHECK(label_rules__add(r, "ggc_*", &why) == 0 && why == NULL, "add ggc_*: %s", why);
	CHECK(PICK(r, gcc) == 1, "gcc with ggc_* only: %d", PICK(r, gcc));
	CHECK(label_rules__add(r, "function:alloc_page", NULL) == 0, "add function:alloc_page");
	CHECK(PICK(r, gcc) == 4, "gcc after: %d", PICK(r, gcc));
	/* a module rule */
	const struct vp_frame gc[] = { FR("GC_unix_mmap_get_mem", "/usr/lib/x86_64-linux-gnu/libgc.so.1"),
				       FR("GC_expand_hp_inner", "/usr/lib/x86_64-linux-gnu/libgc.so.1"),
				       FR("scheme_eval", "/usr/bin/guile") };
	CHECK(PICK(r, gc) == 0, "libgc before: %d", PICK(r, gc));
	CHECK(label_rules__add(r, "module:libgc.so*", &why) == 0, "add module:libgc.so*: %s", why);
	CHECK(PICK(r, gc) == 2, "libgc after: %d", PICK(r, gc));
	/* a demangled C++ rule, with or without the parameters */
	const struct vp_frame pool[] = { FR("_ZN4Pool3getEi", NULL), FR("_ZN4Pool4growEv", NULL),
					 FR("_ZN6Server6acceptEv", NULL) };
	CHECK(PICK(r, pool) == 0, "pool before: %d", PICK(r, pool));
	CHECK(label_rules__add(r, "Pool::ge", NULL) == 0, "add Pool::ge");
	CHECK(PICK(r, pool) == 0, "a prefix is not a match: %d", PICK(r, pool));
	CHECK(label_rules__add(r, "Pool::get", NULL) == 0, "add Pool::get");
	CHECK(PICK(r, pool) == 1, "Pool::get: %d", PICK(r, pool));
	CHECK(label_rules__add(r, "Pool::grow()", NULL) == 0, "add Pool::grow()");
	CHECK(PICK(r, pool) == 2, "Pool::grow(): %d", PICK(r, pool));
	/* "function:" lets a glob begin with "module:"; escapes work */
	const struct vp_frame odd[] = { FR("module:x", NULL), FR("weird[1]", NULL), FR("fine", NULL) };
	CHECK(PICK(r, odd) == 0, "odd before: %d", PICK(r, odd));
	CHECK(label_rules__add(r, "function:module:x", NULL) == 0, "add function:module:x");
	CHECK(label_rules__add(r, "weird\\[1\\]", NULL) == 0, "add weird\\[1\\]");
	CHECK(PICK(r, odd) == 2, "odd after: %d", PICK(r, odd));
	/* bracket expressions, a ']' or an escaped one as a member */
	const struct vp_frame br[] = { FR("pool_alloc7", NULL), FR("slab]", NULL), FR("arena]x", NULL),
				       FR("pool_allocx", NULL) };
	CHECK(label_rules__add(r, "pool_alloc[0-9]", NULL) == 0, "add bracket");
	CHECK(label_rules__add(r, "slab[]]", NULL) == 0, "add slab[]]");
	CHECK(label_rules__add(r, "arena[\\]]x", NULL) == 0, "add arena[\\]]x");
	CHECK(PICK(r, br) == 3, "bracket: %d", PICK(r, br));

	/* bad specs: -EINVAL, a reason, nothing added */
	char longspec[LABEL_SPEC_MAX + 2];

	memset(longspec, 'a', sizeof(longspec) - 1);
	longspec[sizeof(longspec) - 1] = 0;
	const char *bad[] = { "", "module:", "function:", "[ggc", "ggc_[a-", "abc\\",
			      "module:/usr/lib/libc.so.6", "module:lib/x", "module:lib[/]c",
			      "a\x01z", "tab\tname", "[\t]", "[[:alpha:]", "[[:alpha]]", "[a\\]",
			      longspec };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		int rc = label_rules__add(r, bad[i], &why);

		CHECK(rc == -EINVAL && why && *why, "bad spec %zu \"%.20s\": rc %d", i, bad[i], rc);
		CHECK(label_rules__add(r, bad[i], NULL) == -EINVAL, "bad spec %zu without why", i);
	}
	CHECK(label_rules__add(r, NULL, &why) == -EINVAL && why, "NULL spec");
	CHECK(label_rules__add(NULL, "x", &why) == -EINVAL && why, "NULL rules");
	/* "[ggc" was refused, not added to match itself literally */
	const struct vp_frame lit[] = { FR("[ggc", NULL) };
	CHECK(!label__is_plumbing(r, &lit[0]), "a refused rule was added");
	/* the longest allowed spec is fine */
	longspec[LABEL_SPEC_MAX] = 0;
	CHECK(label_rules__add(r, longspec, NULL) == 0, "spec of LABEL_SPEC_MAX bytes");

	CHECK(label_rules__new(NULL) == -EINVAL, "new(NULL)");
	label_rules__free(r);
	label_rules__free(NULL);
}

/* Random names and modules through label__pick: no crash, index in range. */
static void test_pick_garbage(void)
{
	struct label_rules *r = NULL;
	static char names[8][2][200];
	unsigned seed = 7;

	if (label_rules__new(&r))
		return;
	CHECK(label_rules__add(r, "x*[a-z]?", NULL) == 0, "add");
	for (int i = 0; i < 20000; i++) {
		struct vp_frame st[8];
		size_t n = 1 + (size_t)rand_r(&seed) % 8;

		for (size_t k = 0; k < n; k++) {
			random_string(names[k][0], sizeof(names[k][0]) - 1, &seed);
			random_string(names[k][1], sizeof(names[k][1]) - 1, &seed);
			if (rand_r(&seed) % 3 == 0)
				memcpy(names[k][0], "_Z", 2 + (names[k][0][0] == 0));
			st[k] = (struct vp_frame){ .function = rand_r(&seed) % 5 ? names[k][0] : NULL,
						   .module = rand_r(&seed) % 5 ? names[k][1] : NULL };
		}
		int p = label__pick(r, st, n);

		CHECK(p >= 0 && (size_t)p < n, "pick %d of %zu", p, n);
	}
	label_rules__free(r);
}

/* label__pick_with: a caller's memo of label__is_plumbing (what the
 * analyzer passes, by string pointer) picks what label__pick picks, asking
 * the rules once per distinct frame. */
struct memo {
	const struct label_rules *r;
	const struct vp_frame *seen[16];
	int hit[16], n, asked;
};

static int memo_is(void *ctx, const struct vp_frame *f)
{
	struct memo *m = ctx;
	for (int i = 0; i < m->n; i++)
		if (m->seen[i]->function == f->function && m->seen[i]->module == f->module)
			return m->hit[i];
	m->asked++;
	int h = label__is_plumbing(m->r, f);
	if (m->n < 16) {
		m->seen[m->n] = f;
		m->hit[m->n++] = h;
	}
	return h;
}

static void test_pick_with(void)
{
	struct label_rules *r = NULL;

	if (label_rules__new(&r))
		return;
	const struct vp_frame st[] = { FR("mmap64", LIBC), FR("sysmalloc", LIBC), FR("malloc", LIBC),
				       FR("_Znwm", LIBSTDCXX), FR("_ZN2ns4Type6methodEm", NULL),
				       FR("main", NULL) };
	struct memo m = { .r = r };
	for (int round = 0; round < 3; round++) {
		int k = label__pick_with(st, 6, memo_is, &m);
		CHECK(k == 4 && k == PICK(r, st), "pick_with round %d: %d", round, k);
	}
	CHECK(m.asked == 5, "the rules asked once per frame: %d", m.asked);
	CHECK(label__pick_with(st, 0, memo_is, &m) == -1, "pick_with n == 0");
	CHECK(label__pick_with(NULL, 2, memo_is, &m) == -1, "pick_with frames NULL");
	CHECK(label__pick_with(st, 2, NULL, &m) == -1, "pick_with no test");
	label_rules__free(r);
}

int main(void)
{
	test_demangle();
	test_demangle_garbage();
	test_pick();
	test_pick_garbage();
	test_pick_with();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("ok label\n");
	return 0;
}
