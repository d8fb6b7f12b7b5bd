// SPDX-License-Identifier: MIT
/*
 * The label of a call stack (see label.h for the promises, docs/labels.md
 * for the user's view).
 *
 * Plumbing is data: the table below, one glob per row, matched with
 * fnmatch(3). Adding an allocator is adding rows, never code.
 */
#include "label.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* libiberty's demangler (libiberty-dev). The header pulls in libiberty.h
 * from its own directory; nothing else of libiberty is used. */
#include <libiberty/demangle.h>

enum rule_on {
	ON_FUNCTION, /* the function name: raw, clone suffix cut, demangled */
	ON_MODULE,   /* the basename of the module path */
};

struct rule {
	enum rule_on on;
	const char *glob;
};

#define F(g) { ON_FUNCTION, g }
#define M(g) { ON_MODULE, g }

/*
 * The built-in plumbing. A frame that matches any row is skipped when the
 * label is picked. Deliberately absent: interpreters' and runtimes' own
 * allocators that name a real subsystem (CPython's _PyObject_ArenaMmap is
 * the right label for an arena mapping), and generic words (arena_*,
 * pages_*, extent_*) that name user code as often as an allocator's.
 */
static const struct rule builtin_rules[] = {
	/* The C allocator (glibc's public names; also every other libc). */
	F("malloc"), F("calloc"), F("realloc"), F("reallocarray"), F("free"), F("cfree"),
	F("posix_memalign"), F("aligned_alloc"), F("memalign"), F("valloc"), F("pvalloc"),
	F("malloc_usable_size"),
	/* Mapping system calls and their glibc aliases. */
	F("mmap"), F("mmap64"), F("__mmap"), F("__mmap64"), F("munmap"), F("__munmap"),
	F("mremap"), F("__mremap"), F("sbrk"), F("__sbrk"), F("brk"), F("__brk"),
	/* glibc malloc internals (seen by name in static binaries, where the
	 * libc.so* module rule cannot apply). alloc_perturb and friends are
	 * always inlined, so they never appear as frames. */
	F("__libc_*"), F("__glibc_*"), F("__GI_*"), F("__posix_memalign"),
	F("_int_malloc"), F("_int_realloc"), F("_int_memalign"), F("_int_free"),
	F("_mid_memalign"), F("sysmalloc"), F("sysmalloc_mmap"), F("sysmalloc_mmap_fallback"),
	F("malloc_consolidate"), F("tcache_init"), F("ptmalloc_init"), F("malloc_hook_ini"),
	F("arena_get2"), F("arena_get_retry"), F("_int_new_arena"), F("new_heap"),
	F("alloc_new_heap"), F("grow_heap"), F("__default_morecore"), F("__morecore"),
	/* C++ operator new/delete, mangled (all overloads: nothrow, aligned,
	 * sized) and demangled (also class-specific Foo::operator new). */
	F("_Znw*"), F("_Zna*"), F("_Zdl*"), F("_Zda*"),
	F("operator new*"), F("operator delete*"), F("*::operator new*"), F("*::operator delete*"),
	/* libstdc++ allocator templates (inlined at -O2, frames at -O0). */
	F("std::allocator<*>::allocate(*"), F("std::__new_allocator<*>::allocate(*"),
	F("__gnu_cxx::new_allocator<*>::allocate(*"), F("std::allocator_traits<*>::allocate(*"),
	/* Rust's global allocator and raw vectors. */
	F("__rust_alloc*"), F("__rust_realloc"), F("__rdl_*"), F("__rg_*"),
	F("alloc::alloc::*"), F("alloc::raw_vec::*"), F("<alloc::alloc::Global as *"),
	F("<std::alloc::System as *"), F("std::sys::*::alloc::*"),
	/* Redis zmalloc (and zlib's zcalloc hook). */
	F("zmalloc*"), F("zcalloc*"), F("zrealloc*"), F("zfree*"),
	F("ztrymalloc*"), F("ztrycalloc*"), F("ztryrealloc*"),
	/* jemalloc: prefixed public and private names (je_ is the private
	 * namespace, _rjem_ the Rust jemallocator's prefix), and its static
	 * allocation paths. */
	F("je_*"), F("_rjem_*"), F("imalloc*"), F("ialloc*"), F("iralloc*"),
	F("malloc_default"),
	/* tcmalloc (gperftools and Google's). */
	F("tc_*"), F("tcmalloc::*"), F("TCMalloc_*"), F("*SysAllocator::Alloc*"),
	F("(anonymous namespace)::do_malloc*"), F("(anonymous namespace)::do_calloc*"),
	/* mimalloc. */
	F("mi_*"), F("_mi_*"),
	/* CPython's raw-memory wrappers (around malloc), and the entry points of
	 * its memory and object allocators, which hand a large request to
	 * malloc: the mapping is the caller's (list_resize, a bytes object).
	 * Not the allocator's own arenas: _PyObject_ArenaMmap, nearer the
	 * mmap, is where they come from and names them. */
	F("PyMem_Raw*"), F("_PyMem_Raw*"), F("_PyMem_DebugRaw*"),
	F("PyMem_Malloc"), F("PyMem_Calloc"), F("PyMem_Realloc"),
	F("_PyMem_Debug*"), F("PyObject_Malloc"), F("PyObject_Calloc"),
	F("PyObject_Realloc"), F("_PyObject_Malloc"), F("_PyObject_Calloc"),
	F("_PyObject_Realloc"),
	/* Go: the system-call wrappers (the runtime's, syscall's and x/sys's:
	 * a direct syscall.Mmap is named by its caller) and the runtime's
	 * layer over mmap (its heap's growth is named by the heap function
	 * that grew it: the goroutine that asked is on another stack). */
	F("syscall.Syscall*"), F("syscall.RawSyscall*"), F("syscall.rawSyscall*"),
	F("syscall.mmap"), F("syscall.munmap"), F("syscall.Mmap"), F("syscall.Munmap"),
	F("syscall.(*mmapper).*"), F("runtime/internal/syscall.*"), F("internal/runtime/syscall.*"),
	F("golang.org/x/sys/unix.Syscall*"), F("golang.org/x/sys/unix.RawSyscall*"),
	F("golang.org/x/sys/unix.mmap"), F("golang.org/x/sys/unix.munmap"),
	F("golang.org/x/sys/unix.Mmap"), F("golang.org/x/sys/unix.Munmap"),
	F("golang.org/x/sys/unix.(*mmapper).*"),
	F("runtime.mmap"), F("runtime.munmap"), F("runtime.sysMmap*"), F("runtime.sysMunmap*"),
	F("runtime.sysAlloc"), F("runtime.sysAllocOS"), F("runtime.sysReserve"),
	F("runtime.sysReserveOS"), F("runtime.sysMap"), F("runtime.sysMapOS"),
	F("runtime.sysUsed"), F("runtime.sysUsedOS"), F("runtime.sysHugePage*"),
	/* GLib. */
	F("g_malloc*"), F("g_try_malloc*"), F("g_realloc*"), F("g_try_realloc*"),
	F("g_slice_*"), F("g_aligned_alloc*"),
	/* Modules that are all plumbing: the C library and the dynamic loader
	 * (whatever they map, they map for their caller), the allocators'
	 * libraries, libstdc++ (operator new, containers' growth) and our
	 * own preload shim. */
	M("libc.so*"), M("libc-*.so"), M("libpthread.so*"), M("libpthread-*.so"),
	M("ld-linux*.so*"), M("ld-*.so*"), M("ld.so*"),
	M("libjemalloc.so*"), M("libtcmalloc*.so*"), M("libmimalloc*.so*"),
	M("libstdc++.so*"),
	M("libvmaprof-preload.so*"),
};

#undef F
#undef M

struct label_rules {
	struct rule *user; /* globs owned (strdup'd) */
	size_t nuser, cap;
};

/* ---- demangling --------------------------------------------------------- */

static bool looks_mangled(const char *sym)
{
	return sym[0] == '_' && (sym[1] == 'Z' || sym[1] == 'R');
}

/*
 * DMGL_AUTO: Rust (legacy and v0) first, then the Itanium C++ ABI, nothing
 * else (Java, GNAT and D are only tried when asked for). No DMGL_VERBOSE:
 * that would keep a legacy Rust symbol's ::h<hash> (a per-build hash,
 * noise in a report and different between two builds that diff compares)
 * and show v0 crate disambiguators. The recursion limit stays on (it is,
 * unless DMGL_NO_RECURSE_LIMIT), so nested garbage cannot exhaust the stack.
 */
static char *demangle(const char *sym, bool params)
{
	if (!sym || !looks_mangled(sym))
		return NULL;
	return cplus_demangle(sym, DMGL_AUTO | DMGL_ANSI | (params ? DMGL_PARAMS : 0));
}

char *label__demangle(const char *sym)
{
	return demangle(sym, true);
}

/* ---- rules -------------------------------------------------------------- */

int label_rules__new(struct label_rules **out)
{
	if (!out)
		return -EINVAL;
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void label_rules__free(struct label_rules *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nuser; i++)
		free((char *)r->user[i].glob);
	free(r->user);
	free(r);
}

/* NULL if glob is a well-formed fnmatch pattern, else what is wrong. glibc's
 * fnmatch takes an unterminated '[' literally and a trailing '\' as never
 * matching; both are more likely a typo, so they are refused. */
static const char *glob_error(const char *g, bool module)
{
	if (!*g)
		return "the glob is empty";
	for (const char *p = g; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return "the glob has a control character";
		if (module && *p == '/')
			return "a module glob matches the file's basename and cannot contain '/'";
	}
	for (const char *p = g; *p; p++) {
		if (*p == '\\') {
			if (!p[1])
				return "the glob ends in a lone '\\'";
			p++;
			continue;
		}
		if (*p == '[') {
			/* "[]...]" and "[!]...]": a ']' first is a member */
			const char *q = p + 1;

			if (*q == '!' || *q == '^')
				q++;
			if (*q == ']')
				q++;
			while (*q && *q != ']') {
				if (*q == '\\' && q[1]) { /* an escaped member */
					q += 2;
					continue;
				}
				if (q[0] == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
					const char *end = strchr(q + 2, q[1]);

					if (!end || end[1] != ']')
						return "the glob has an unterminated '[:', '[.' or '[=' in a bracket";
					q = end + 2;
					continue;
				}
				q++;
			}
			if (!*q)
				return "the glob has an unterminated '[' (write \\[ for a literal bracket)";
			p = q;
		}
	}
	return NULL;
}

int label_rules__add(struct label_rules *r, const char *spec, const char **why)
{
	static const char module_prefix[] = "module:", function_prefix[] = "function:";
	const char *dummy, *glob, *err;
	enum rule_on on = ON_FUNCTION;

	if (!why)
		why = &dummy;
	*why = NULL;
	if (!r || !spec) {
		*why = "no rule given";
		return -EINVAL;
	}
	if (strnlen(spec, LABEL_SPEC_MAX + 1) > LABEL_SPEC_MAX) {
		*why = "the rule is longer than 1024 bytes";
		return -EINVAL;
	}
	glob = spec;
	if (!strncmp(spec, module_prefix, sizeof(module_prefix) - 1)) {
		on = ON_MODULE;
		glob = spec + sizeof(module_prefix) - 1;
	} else if (!strncmp(spec, function_prefix, sizeof(function_prefix) - 1)) {
		glob = spec + sizeof(function_prefix) - 1;
	}
	err = glob_error(glob, on == ON_MODULE);
	if (err) {
		*why = err;
		return -EINVAL;
	}
	if (r->nuser == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct rule *n = realloc(r->user, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->user = n;
		r->cap = cap;
	}
	char *copy = strdup(glob);

	if (!copy)
		return -ENOMEM;
	r->user[r->nuser++] = (struct rule){ on, copy };
	return 0;
}

/* ---- matching ----------------------------------------------------------- */

static bool any_match(const struct label_rules *r, enum rule_on on, const char *const *s,
		      size_t ns)
{
	size_t nb = sizeof(builtin_rules) / sizeof(builtin_rules[0]);

	for (size_t i = 0; i < nb + r->nuser; i++) {
		const struct rule *ru = i < nb ? &builtin_rules[i] : &r->user[i - nb];

		if (ru->on != on)
			continue;
		for (size_t k = 0; k < ns; k++)
			if (fnmatch(ru->glob, s[k], 0) == 0)
				return true;
	}
	return false;
}

static bool module_is_plumbing(const struct label_rules *r, const char *module)
{
	const char *slash;

	if (!module || !*module)
		return false;
	slash = strrchr(module, '/');
	const char *base = slash ? slash + 1 : module;

	return *base && any_match(r, ON_MODULE, &base, 1);
}

/*
 * The raw name, then without a GCC clone suffix ("f.cold", "f.isra.0",
 * "f.constprop.0", "f.part.0": everything from the first '.' of an
 * unmangled name; a mangled name keeps it, the demangler shows it as
 * "[clone .cold]"), then the demangled name with and without parameters.
 */
static bool function_is_plumbing(const struct label_rules *r, const char *fn)
{
	const char *dot;
	char *cut = NULL, *dem = NULL, *bare = NULL;
	const char *s[2];
	size_t ns = 0;
	bool hit;

	if (!fn || !*fn)
		return false;
	s[ns++] = fn;
	if (!looks_mangled(fn) && (dot = strchr(fn + 1, '.')) != NULL) {
		cut = strndup(fn, (size_t)(dot - fn));
		if (cut)
			s[ns++] = cut;
	}
	hit = any_match(r, ON_FUNCTION, s, ns);
	free(cut);
	if (hit || !looks_mangled(fn))
		return hit;

	/* out of memory here only means "not matched by a demangled glob" */
	dem = demangle(fn, true);
	bare = demangle(fn, false);
	ns = 0;
	if (dem)
		s[ns++] = dem;
	if (bare && (!dem || strcmp(bare, dem)))
		s[ns++] = bare;
	hit = ns && any_match(r, ON_FUNCTION, s, ns);
	free(dem);
	free(bare);
	return hit;
}

int label__is_plumbing(const struct label_rules *r, const struct vp_frame *f)
{
	if (!r || !f)
		return 0;
	return function_is_plumbing(r, f->function) || module_is_plumbing(r, f->module);
}

static int is_plumbing_by_rules(void *ctx, const struct vp_frame *f)
{
	return label__is_plumbing(ctx, f);
}

int label__pick(const struct label_rules *r, const struct vp_frame *frames, size_t n)
{
	if (!r)
		return -1;
	return label__pick_with(frames, n, is_plumbing_by_rules, (void *)r);
}

int label__pick_with(const struct vp_frame *frames, size_t n,
		     int (*is_plumbing)(void *ctx, const struct vp_frame *f), void *ctx)
{
	int last_known = -1;

	if (!frames || n == 0 || !is_plumbing)
		return -1;
	if (n > INT_MAX)
		n = INT_MAX;
	for (size_t i = 0; i < n; i++) {
		if (!is_plumbing(ctx, &frames[i]))
			return (int)i;
		if (frames[i].function)
			last_known = (int)i;
	}
	return last_known >= 0 ? last_known : (int)(n - 1);
}
