// SPDX-License-Identifier: MIT
/*
 * Symbolizer against real outcomes: this program's own /proc/self/maps, its
 * own functions (built -g -O0, so lines are exact), libc, a dlopen'd libm
 * added by a second snapshot, plus garbage maps text and broken files.
 * Returns 0 when every check passes, 1 otherwise (each failure is printed).
 */
#include "symbolize.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define SPACE_SELF 1
#define SPACE_FILES 2
#define SPACE_REPLACE 3
#define SPACE_SHARED 4

/* ---- known code in this binary ------------------------------------------ */

/* The line of the call in sym_probe_caller, set when it runs. */
int probe_line;
/* The line on which sym_target_fn starts. Declarator and brace share it so
 * that the whole prologue belongs to it, whichever compiler. */
const int target_line = __LINE__ + 1;
int sym_target_fn(int x) {
	return x * 3 + 1;
}

__attribute__((noinline)) uintptr_t sym_probe_callee(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

__attribute__((noinline)) uintptr_t sym_probe_caller(void)
{
	uintptr_t ra;

	/* Both on one line: the call instruction belongs to probe_line. */
	probe_line = __LINE__; ra = sym_probe_callee();
	return ra;
}

/* ---- helpers -------------------------------------------------------------- */

/* Whole file, NUL-terminated (the NUL is not counted in *len). */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap ? cap * 2 : 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);

		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int add_self_maps(struct symbolizer *s, uint64_t space)
{
	size_t len;
	char *text = read_file("/proc/self/maps", &len);
	int err;

	if (!text)
		return -errno;
	err = symbolizer__add_maps(s, space, text, len);
	free(text);
	return err;
}

/* The mapping of /proc/self/maps containing addr: fills start/pgoff/ino/path. */
static int find_self_mapping(uintptr_t addr, uint64_t *start, uint64_t *end, uint64_t *pgoff,
			     char *devino, size_t devino_len, char *path, size_t path_len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[8192];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uint64_t a, b, off;
		char perms[8], dev[32], ino[32];
		int n = 0;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %31s %31s %n", &a, &b,
			   perms, &off, dev, ino, &n) < 6)
			continue;
		if (addr < a || addr >= b)
			continue;
		*start = a;
		*end = b;
		*pgoff = off;
		snprintf(devino, devino_len, "%s %s", dev, ino);
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, path_len, "%s", line + n);
		err = 0;
		break;
	}
	fclose(f);
	return err;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = s ? strlen(s) : 0, b = strlen(suffix);

	return s && a >= b && !strcmp(s + a - b, suffix);
}

static void print_frame(const char *what, int rc, const struct vp_frame *f)
{
	printf("%-28s rc=%-3d ip=%#" PRIx64 " %s+%#" PRIx64 " (%s) %s:%d\n", what, rc, f->ip,
	       f->function ? f->function : "?", f->fn_offset, f->module ? f->module : "-",
	       f->file ? f->file : "?", f->line);
}

/* Copy the first `len` bytes of src to dst (len 0 = random bytes). */
static int make_file(const char *dst, const char *src, size_t len, uint64_t *ino)
{
	int in = -1, out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char buf[65536];
	struct stat st;
	int err = 0;

	if (out < 0)
		return -errno;
	if (src && (in = open(src, O_RDONLY)) < 0) {
		err = -errno;
		goto cleanup;
	}
	for (size_t done = 0; done < (src ? len : sizeof(buf));) {
		size_t want = sizeof(buf) < len - done ? sizeof(buf) : len - done;
		ssize_t r;

		if (!src) {
			want = sizeof(buf);
			for (size_t i = 0; i < want; i++)
				buf[i] = (char)rand();
			r = (ssize_t)want;
		} else if ((r = read(in, buf, want)) <= 0) {
			break;
		}
		if (write(out, buf, (size_t)r) != r) {
			err = -EIO;
			goto cleanup;
		}
		done += (size_t)r;
	}
	if (fstat(out, &st)) {
		err = -errno;
		goto cleanup;
	}
	*ino = st.st_ino;
cleanup:
	if (in >= 0)
		close(in);
	close(out);
	return err;
}

/* ---- the cases ------------------------------------------------------------ */

static void test_self(struct symbolizer *s)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	struct vp_frame f, g;
	uintptr_t ra = sym_probe_caller();
	struct vp_symbolizer_stats st0, st1;
	int rc;

	CHECK(n > 0, "readlink /proc/self/exe");
	exe[n > 0 ? n : 0] = '\0';

	/* (a) a few bytes into a function of ours, exact ip. */
	rc = symbolizer__lookup(s, SPACE_SELF, (uintptr_t)sym_target_fn + 4, false, &f);
	print_frame("sym_target_fn+4", rc, &f);
	CHECK(rc == 0, "rc %d", rc);
	CHECK(f.ip == (uintptr_t)sym_target_fn + 4, "ip not kept");
	CHECK(f.function && !strcmp(f.function, "sym_target_fn"), "function %s", f.function);
	CHECK(f.fn_offset == 4, "fn_offset %" PRIu64, f.fn_offset);
	CHECK(f.module && !strcmp(f.module, exe), "module %s, want %s", f.module, exe);
	CHECK(ends_with(f.file, "test_symbolize.c"), "file %s", f.file);
	CHECK(f.line == target_line, "line %d, want %d", f.line, target_line);

	/* (a) a return address: ip - 1 is the call on probe_line. */
	rc = symbolizer__lookup(s, SPACE_SELF, ra, true, &f);
	print_frame("return addr in caller", rc, &f);
	CHECK(rc == 0, "rc %d", rc);
	CHECK(f.ip == ra, "ip not kept");
	CHECK(f.function && !strcmp(f.function, "sym_probe_caller"), "function %s", f.function);
	CHECK(f.function && f.fn_offset == ra - (uintptr_t)sym_probe_caller,
	      "fn_offset %#" PRIx64 " want %#" PRIxPTR, f.fn_offset,
	      ra - (uintptr_t)sym_probe_caller);
	CHECK(ends_with(f.file, "test_symbolize.c"), "file %s", f.file);
	CHECK(f.line == probe_line, "line %d, want %d", f.line, probe_line);

	/* (e) the same lookup again is a cache hit with the same strings. */
	symbolizer__stats(s, &st0);
	rc = symbolizer__lookup(s, SPACE_SELF, ra, true, &g);
	symbolizer__stats(s, &st1);
	CHECK(rc == 0, "rc %d", rc);
	CHECK(st1.cache_hits == st0.cache_hits + 1, "no cache hit (%" PRIu64 " -> %" PRIu64 ")",
	      st0.cache_hits, st1.cache_hits);
	CHECK(st1.cache_entries == st0.cache_entries, "cache grew on a repeated ip");
	CHECK(g.function == f.function && g.module == f.module && g.file == f.file &&
		      g.line == f.line && g.fn_offset == f.fn_offset,
	      "cached frame differs");
	/* The same ip as an exact ip is another question (no -1). */
	rc = symbolizer__lookup(s, SPACE_SELF, ra, false, &g);
	CHECK(rc == 0 && g.fn_offset == f.fn_offset, "exact-ip fn_offset %" PRIu64, g.fn_offset);
}

/*
 * symbolizer__lookup_fn: the function without file:line, and the DWARF line
 * table is not read for it; a later full lookup of the same ip (a cache hit)
 * adds the line, the same as a symbolizer asked for it at once.
 */
static void test_lazy_lines(const char *maps, size_t len)
{
	struct symbolizer *s = NULL;
	struct vp_symbolizer_stats st0, st1;
	struct vp_frame f, g;
	uintptr_t ip = (uintptr_t)sym_target_fn + 4;
	int rc;

	CHECK(symbolizer__new(&s) == 0, "symbolizer__new");
	if (!s)
		return;
	CHECK(symbolizer__add_maps(s, SPACE_SELF, maps, len) == 0, "add_maps");
	rc = symbolizer__lookup_fn(s, SPACE_SELF, ip, false, &f);
	symbolizer__stats(s, &st0);
	print_frame("lookup_fn sym_target_fn+4", rc, &f);
	CHECK(rc == 0 && f.function && !strcmp(f.function, "sym_target_fn") && f.fn_offset == 4,
	      "function %s", f.function);
	CHECK(f.file == NULL && f.line == 0, "no line asked, got %s:%d", f.file, f.line);
	CHECK(st0.lines_resolved == 0, "line table read for lookup_fn (%" PRIu64 ")",
	      st0.lines_resolved);
	rc = symbolizer__lookup(s, SPACE_SELF, ip, false, &g);
	symbolizer__stats(s, &st1);
	CHECK(rc == 0 && g.function == f.function && g.fn_offset == 4, "same function");
	CHECK(ends_with(g.file, "test_symbolize.c") && g.line == target_line,
	      "line added later: %s:%d, want %d", g.file, g.line, target_line);
	CHECK(st1.cache_hits == st0.cache_hits + 1 && st1.lines_resolved == 1,
	      "the cached entry completed (hits %" PRIu64 " -> %" PRIu64 ", lines %" PRIu64 ")",
	      st0.cache_hits, st1.cache_hits, st1.lines_resolved);
	rc = symbolizer__lookup_fn(s, SPACE_SELF, ip, false, &f);
	CHECK(rc == 0 && f.file == NULL && f.line == 0 && f.function == g.function,
	      "lookup_fn after the line is known still leaves it out");
	symbolizer__free(s);
}

static void test_libc(struct symbolizer *s)
{
	void *p = dlsym(RTLD_DEFAULT, "getpid");
	struct vp_frame f;
	int rc;

	CHECK(p != NULL, "dlsym getpid: %s", dlerror());
	if (!p)
		return;
	/* (b) */
	rc = symbolizer__lookup(s, SPACE_SELF, (uintptr_t)p, false, &f);
	print_frame("libc getpid", rc, &f);
	CHECK(rc == 0, "rc %d", rc);
	CHECK(f.function && strstr(f.function, "getpid"), "function %s", f.function);
	CHECK(f.fn_offset == 0, "fn_offset %" PRIu64, f.fn_offset);
	CHECK(f.module && strstr(f.module, "libc.so"), "module %s", f.module);
}

/*
 * The same file mapped elsewhere in another space (another process running
 * the same libc): the answer comes from the per-file cache (libdwfl is not
 * asked again) and is the same, strings being the same pointers.
 */
static void test_shared_file(struct symbolizer *s)
{
	uintptr_t p = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	struct vp_symbolizer_stats st0, st1;
	struct vp_frame ref, f;
	uint64_t ls, le, lo, base = 0x7f0000000000ULL;
	char ldev[80], lpath[PATH_MAX], text[PATH_MAX + 128];
	struct stat st;
	int rc;

	if (!p || find_self_mapping(p, &ls, &le, &lo, ldev, sizeof(ldev), lpath, sizeof(lpath)) ||
	    stat(lpath, &st)) {
		CHECK(0, "libc's mapping of getpid");
		return;
	}
	rc = symbolizer__lookup(s, SPACE_SELF, p, false, &ref);
	CHECK(rc == 0 && ref.function, "self getpid: rc %d", rc);
	snprintf(text, sizeof(text), "%" PRIx64 "-%" PRIx64 " r-xp %08" PRIx64 " fe:00 %" PRIu64
		 " %s\n", base, base + (le - ls), lo, (uint64_t)st.st_ino, lpath);
	CHECK(symbolizer__add_maps(s, SPACE_SHARED, text, strlen(text)) == 0, "shared maps");
	symbolizer__stats(s, &st0);
	rc = symbolizer__lookup(s, SPACE_SHARED, base + (p - ls), false, &f);
	symbolizer__stats(s, &st1);
	print_frame("getpid, libc elsewhere", rc, &f);
	CHECK(rc == 0, "rc %d", rc);
	CHECK(f.ip == base + (p - ls), "ip not kept");
	CHECK(f.function == ref.function && f.fn_offset == ref.fn_offset && f.module == ref.module &&
		      f.file == ref.file && f.line == ref.line,
	      "frame differs from the same file address in another space");
	CHECK(st1.cache_hits == st0.cache_hits, "a new space's ip cannot be a (space, ip) hit");
	CHECK(st1.file_cache_hits == st0.file_cache_hits + 1, "no per-file cache hit");
	CHECK(st1.file_cache_entries == st0.file_cache_entries, "libdwfl asked again");
	CHECK(st1.files == st0.files, "the same (path, inode) is one file");
	/* As a return address (ip - 1 looked up): another file address, and
	 * the offset is of the ip as recorded. */
	rc = symbolizer__lookup(s, SPACE_SHARED, base + (p - ls) + 2, true, &f);
	CHECK(rc == 0 && f.function == ref.function && f.fn_offset == ref.fn_offset + 2,
	      "return address: rc %d fn_offset %" PRIu64, rc, f.fn_offset);
}

/* Until the prefetch's worker has read `files` files (30 s at most). */
static void wait_prewarm(struct symbolizer *s, uint64_t files)
{
	struct vp_symbolizer_stats st;

	for (int i = 0; i < 3000; i++) {
		symbolizer__stats(s, &st);
		if (st.prewarm_files >= files)
			return;
		usleep(10000);
	}
	CHECK(0, "prefetch worker: %" PRIu64 " of %" PRIu64 " files in 30 s", st.prewarm_files,
	      files);
}

/* Until the worker has done every file handed to it (30 s at most): it
 * maps the files it reads (debug files too), which a snapshot of this
 * process's maps would otherwise see come and go. */
static void wait_prewarm_idle(struct symbolizer *s)
{
	struct vp_symbolizer_stats st;

	symbolizer__stats(s, &st);
	wait_prewarm(s, st.prewarm_queued);
}

static void test_dlopen(struct symbolizer *s)
{
	struct vp_symbolizer_stats st0, st1;
	struct vp_frame f;
	size_t len;
	char *maps;
	void *h;
	uintptr_t c, other = 0;
	const char *other_name = NULL;
	static const struct {
		const char *soname, *probe, *fn;
		const char *others[4]; /* functions to find on another page */
	} libs[] = {
		{ "libm.so.6", "/libm.so", "cos", { "exp", "log", "floor", "sqrt" } },
		{ "libcrypt.so.1", "/libcrypt.so", "crypt", { "crypt_gensalt", "crypt_r", "crypt_rn", "crypt_ra" } },
	}, *lib = NULL;
	int rc;

	/* Taken right before dlopen, the worker idle, so the only difference
	 * to the next snapshot is the library (the symbolizer itself mmaps
	 * the ELF files it reads, so older snapshots differ in more than
	 * that). */
	wait_prewarm_idle(s);
	maps = read_file("/proc/self/maps", &len);
	CHECK(maps != NULL, "read maps");
	if (!maps)
		return;
	/* libm unless something (a sanitizer runtime) already loaded it. */
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		if (!strstr(maps, libs[i].probe)) {
			lib = &libs[i];
			break;
		}
	}
	CHECK(lib != NULL, "every candidate library is already mapped");
	if (!lib) {
		free(maps);
		return;
	}
	rc = symbolizer__add_maps(s, SPACE_SELF, maps, len);
	CHECK(rc == 0, "snapshot before dlopen: rc %d", rc);
	free(maps);

	h = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
	CHECK(h != NULL, "dlopen %s: %s", lib->soname, dlerror());
	if (!h)
		return;
	c = (uintptr_t)dlsym(h, lib->fn);
	CHECK(c != 0, "dlsym %s", lib->fn);
	if (!c) {
		dlclose(h);
		return;
	}

	/* (c) not in the first snapshot */
	rc = symbolizer__lookup(s, SPACE_SELF, c, false, &f);
	print_frame("dlopen'd fn, 1 snapshot", rc, &f);
	CHECK(rc == -ENOENT, "rc %d, want -ENOENT", rc);
	CHECK(f.ip == c && !f.function && !f.module && !f.file && !f.line, "frame not empty");

	symbolizer__stats(s, &st0);
	CHECK(add_self_maps(s, SPACE_SELF) == 0, "second snapshot");
	symbolizer__stats(s, &st1);
	/* Only the library is new; every other file of the snapshot is known. */
	CHECK(st1.files == st0.files + 1, "files %" PRIu64 " -> %" PRIu64, st0.files, st1.files);

	rc = symbolizer__lookup(s, SPACE_SELF, c, false, &f);
	print_frame("dlopen'd fn, 2 snapshots", rc, &f);
	CHECK(rc == 0, "rc %d", rc);
	CHECK(f.function && strstr(f.function, lib->fn), "function %s", f.function);
	CHECK(f.module && strstr(f.module, lib->probe), "module %s", f.module);

	/* The earlier answers survive the new snapshot. */
	rc = symbolizer__lookup(s, SPACE_SELF, (uintptr_t)sym_target_fn + 4, false, &f);
	CHECK(rc == 0 && f.function && !strcmp(f.function, "sym_target_fn"), "self after 2nd");

	/* A later snapshot whose file mapping overlaps an earlier one replaces
	 * it there, and only there; cached answers follow. */
	{
		uint64_t ms, me, mo, ls, le, lo;
		char mdev[80], mpath[PATH_MAX], ldev[80], lpath[PATH_MAX], text[3 * PATH_MAX];
		uintptr_t getpid_addr = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
		uint64_t page = c & ~(uint64_t)0xfff;

		CHECK(find_self_mapping(c, &ms, &me, &mo, mdev, sizeof(mdev), mpath,
					sizeof(mpath)) == 0, "%s mapping", lib->soname);
		CHECK(find_self_mapping(getpid_addr, &ls, &le, &lo, ldev, sizeof(ldev), lpath,
					sizeof(lpath)) == 0, "libc mapping");
		/* Another function of the same mapping on another page (not a
		 * sanitizer's interceptor of the same name). */
		for (size_t i = 0; i < 4 && !other; i++) {
			uintptr_t a = (uintptr_t)dlsym(h, lib->others[i]);

			if (a >= ms && a < me && (a >> 12) != (c >> 12)) {
				other = a;
				other_name = lib->others[i];
			}
		}
		CHECK(other != 0, "no second %s function on another page", lib->soname);
		snprintf(text, sizeof(text), "%" PRIx64 "-%" PRIx64 " r-xp %08" PRIx64 " %s %s\n",
			 ms, me, mo, mdev, mpath);
		CHECK(symbolizer__add_maps(s, SPACE_REPLACE, text, strlen(text)) == 0, "replace 1");
		rc = symbolizer__lookup(s, SPACE_REPLACE, c, false, &f);
		CHECK(rc == 0 && f.function && strstr(f.function, lib->fn), "replace: %s",
		      f.function);
		/* libc's text, file offset lo, now at the function's page. */
		snprintf(text, sizeof(text), "%" PRIx64 "-%" PRIx64 " r-xp %08" PRIx64 " %s %s\n",
			 page, page + 0x1000, lo, ldev, lpath);
		CHECK(symbolizer__add_maps(s, SPACE_REPLACE, text, strlen(text)) == 0, "replace 2");
		rc = symbolizer__lookup(s, SPACE_REPLACE, c, false, &f);
		print_frame("its page replaced by libc", rc, &f);
		CHECK(rc == 0 && f.module && strstr(f.module, "libc.so"), "replaced: module %s",
		      f.module);
		CHECK(!f.function || !strstr(f.function, lib->fn), "stale function %s", f.function);
		if (other) {
			rc = symbolizer__lookup(s, SPACE_REPLACE, other, false, &f);
			print_frame("rest of the library kept", rc, &f);
			CHECK(rc == 0 && f.function && strstr(f.function, other_name) &&
				      f.module && strstr(f.module, lib->probe),
			      "kept part: %s in %s", f.function, f.module);
		}
	}
	dlclose(h);
}

static void test_garbage(struct symbolizer *s)
{
	static const char *const texts[] = {
		"",
		"\n\n\n",
		"garbage\n",
		"hello world this is not a maps file",
		"ffffffffffffffffff-1 r-xp 00000000 00:00 0 /bin/true\n", /* 17 digits */
		"2000-1000 r-xp 00000000 00:00 0 /bin/true\n",           /* start > end */
		"1000-1000 r-xp 00000000 00:00 0 /bin/true\n",           /* empty */
		"1000-2000 rwxq 00000000 00:00 0 /bin/true\n",           /* bad perms */
		"1000-2000 r-xp 00000000 00:00 99999999999999999999999 /bin/true\n",
		"1000-2000 r-xp zz 00:00 0 /bin/true\n",
		"1000-2000 r-xp 00000000 00:00 12/bin/true\n",
		"-\n-\n 1000-2000\n",
	};
	char bin[4096];
	char *big;
	struct vp_frame f;
	int rc;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		rc = symbolizer__add_maps(s, 1000 + i, texts[i], strlen(texts[i]));
		CHECK(rc == -EINVAL, "garbage %zu: rc %d", i, rc);
		rc = symbolizer__lookup(s, 1000 + i, 0x1800, false, &f);
		CHECK(rc == -ENOENT, "garbage %zu lookup: rc %d", i, rc);
	}
	/* NUL bytes and random bytes, not NUL-terminated */
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (char)rand();
	rc = symbolizer__add_maps(s, 2000, bin, sizeof(bin));
	CHECK(rc == -EINVAL, "random bytes: rc %d", rc);
	memset(bin, 0, sizeof(bin));
	rc = symbolizer__add_maps(s, 2001, bin, sizeof(bin));
	CHECK(rc == -EINVAL, "NUL bytes: rc %d", rc);
	/* a line longer than any real one */
	big = malloc(100000);
	if (big) {
		memcpy(big, "1000-2000 r-xp 00000000 00:00 0 /", 33);
		memset(big + 33, 'a', 100000 - 33);
		rc = symbolizer__add_maps(s, 2002, big, 100000);
		CHECK(rc == -EINVAL, "long line: rc %d", rc);
		free(big);
	}
	/* a valid line without newline, next to garbage: the valid line counts */
	{
		const char *t = "zzz\n1000-2000 r-xp 00001000 08:01 42 /nonexistent/libfoo.so";

		rc = symbolizer__add_maps(s, 2003, t, strlen(t));
		CHECK(rc == 0, "partial garbage: rc %d", rc);
		rc = symbolizer__lookup(s, 2003, 0x1800, false, &f);
		CHECK(rc == 0 && f.module && !strcmp(f.module, "/nonexistent/libfoo.so") &&
			      !f.function,
		      "missing file: rc %d module %s", rc, f.module);
	}

	CHECK(symbolizer__add_maps(NULL, 1, "x", 1) == -EINVAL, "NULL symbolizer");
	CHECK(symbolizer__add_maps(s, 1, NULL, 5) == -EINVAL, "NULL text");
	CHECK(symbolizer__add_maps(s, 1, NULL, 0) == -EINVAL, "NULL empty text");
	CHECK(symbolizer__lookup(s, 1, 1, false, NULL) == -EINVAL, "NULL out");
	CHECK(symbolizer__lookup(NULL, 1, 1, false, &f) == -EINVAL, "NULL symbolizer lookup");

	/* (d) ips of 0 and ~0, both kinds, and an unknown space */
	for (int ra = 0; ra < 2; ra++) {
		rc = symbolizer__lookup(s, SPACE_SELF, 0, ra, &f);
		CHECK(rc == -ENOENT && f.ip == 0 && !f.module, "ip 0 ra=%d: rc %d", ra, rc);
		rc = symbolizer__lookup(s, SPACE_SELF, ~0ULL, ra, &f);
		CHECK(rc == -ENOENT && f.ip == ~0ULL && !f.module, "ip ~0 ra=%d: rc %d", ra, rc);
	}
	rc = symbolizer__lookup(s, 0xdeadbeef, (uintptr_t)sym_target_fn, false, &f);
	CHECK(rc == -ENOENT, "unknown space: rc %d", rc);
}

/* Files that are there but broken: module name only, no crash. */
static void test_bad_files(struct symbolizer *s)
{
	char dir[] = "/tmp/vp-symtest-XXXXXX";
	char trunc1[64], trunc2[64], trunc3[64], rnd[64], text[8192];
	uint64_t ino1 = 0, ino2 = 0, ino3 = 0, ino4 = 0, ls, le, lo;
	char ldev[80], lpath[PATH_MAX];
	uintptr_t getpid_addr = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	struct vp_frame ref;
	struct stat st;
	int rc;

	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	CHECK(find_self_mapping(getpid_addr, &ls, &le, &lo, ldev, sizeof(ldev), lpath,
				sizeof(lpath)) == 0, "libc mapping");
	CHECK(stat(lpath, &st) == 0, "stat libc");
	snprintf(trunc1, sizeof(trunc1), "%s/libc-64", dir);
	snprintf(trunc2, sizeof(trunc2), "%s/libc-200k", dir);
	snprintf(trunc3, sizeof(trunc3), "%s/libc-half", dir);
	snprintf(rnd, sizeof(rnd), "%s/random", dir);
	CHECK(make_file(trunc1, lpath, 64, &ino1) == 0, "make %s", trunc1);
	CHECK(make_file(trunc2, lpath, 200000, &ino2) == 0, "make %s", trunc2);
	CHECK(make_file(trunc3, lpath, (size_t)st.st_size / 2, &ino3) == 0, "make %s", trunc3);
	CHECK(make_file(rnd, NULL, 0, &ino4) == 0, "make %s", rnd);

	/* Each at its own range; pgoff lo makes ips fall in libc's text. */
	snprintf(text, sizeof(text),
		 "10000000-10200000 r-xp %08" PRIx64 " fe:00 %" PRIu64 " %s\n"
		 "20000000-20200000 r-xp %08" PRIx64 " fe:00 %" PRIu64 " %s\n"
		 "30000000-30200000 r-xp %08" PRIx64 " fe:00 %" PRIu64 " %s\n"
		 "40000000-40200000 r-xp %08" PRIx64 " fe:00 %" PRIu64 " %s\n"
		 "50000000-50200000 r-xp %08" PRIx64 " fe:00 %" PRIu64 " %s\n" /* wrong inode */
		 "60000000-60200000 r-xp 00000000 fe:00 1 /tmp\n"
		 "70000000-70200000 r-xp 00000000 00:05 4 /dev/zero\n"
		 "80000000-80200000 r-xp 00000000 fe:00 5 /usr/lib/libgone.so (deleted)\n"
		 "90000000-90002000 r-xp 00000000 00:00 0                          [vdso]\n"
		 "a0000000-a0200000 rw-p 00000000 00:00 0                          [heap]\n"
		 "b0000000-b0200000 rw-p 00000000 00:00 0 \n",
		 lo, ino1, trunc1, lo, ino2, trunc2, lo, ino3, trunc3, lo, ino4, rnd, lo,
		 (uint64_t)st.st_ino + 1, lpath);
	rc = symbolizer__add_maps(s, SPACE_FILES, text, strlen(text));
	CHECK(rc == 0, "bad files maps: rc %d", rc);
	/* What the real libc has at the offset the fakes use. */
	rc = symbolizer__lookup(s, SPACE_SELF, ls + 0x1234, false, &ref);
	CHECK(rc == 0, "libc reference: rc %d", rc);

	static const struct {
		uint64_t ip;
		int rc;
		const char *module;
	} want[] = {
		{ 0x10001234, 0, "libc-64" },
		{ 0x20001234, 0, "libc-200k" },
		{ 0x30001234, 0, "libc-half" },
		{ 0x40001234, 0, "random" },
		{ 0x50001234, 0, "libc.so.6" },
		{ 0x60001234, 0, "/tmp" },
		{ 0x70001234, 0, "/dev/zero" },
		{ 0x80001234, 0, "(deleted)" },
		{ 0x90001234, 0, "[vdso]" },
		{ 0xa0001234, -ENOENT, NULL },
		{ 0xb0001234, -ENOENT, NULL },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct vp_frame f;
		char what[32];

		rc = symbolizer__lookup(s, SPACE_FILES, want[i].ip, i & 1, &f);
		snprintf(what, sizeof(what), "bad file %zu", i);
		print_frame(what, rc, &f);
		CHECK(rc == want[i].rc, "%zu: rc %d want %d", i, rc, want[i].rc);
		if (want[i].module)
			CHECK(ends_with(f.module, want[i].module), "%zu: module %s", i, f.module);
		else
			CHECK(!f.module, "%zu: module %s", i, f.module);
		/* A truncated libc that still has its program headers and
		 * build-id note gets its symbols from the separate debug file
		 * (libc6-dbg), which is right: they must then be libc's own at
		 * that offset. The others must not invent a function. */
		if (i == 1 || i == 2)
			CHECK(!f.function || (ref.function && !strcmp(f.function, ref.function)),
			      "%zu: function %s, libc has %s", i, f.function, ref.function);
		else
			CHECK(!f.function, "%zu: function %s", i, f.function);
	}
	unlink(trunc1);
	unlink(trunc2);
	unlink(trunc3);
	unlink(rnd);
	rmdir(dir);
}

/* ---- a prefetch during a recording (symbolizer__prefetch_*) -------------- */

#define SPACE_PF 5

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool same_frame(const struct vp_frame *a, const struct vp_frame *b)
{
	return a->ip == b->ip && same_str(a->function, b->function) &&
	       a->fn_offset == b->fn_offset && same_str(a->module, b->module) &&
	       a->mod_offset == b->mod_offset && same_str(a->file, b->file) &&
	       a->line == b->line;
}

/* Distinct executable file mappings of maps text: what a prefetch queues. */
static uint64_t exec_files(const char *text)
{
	char seen[64][PATH_MAX / 8];
	uint64_t n = 0;
	const char *p = text;

	while (p && *p) {
		char perms[8], path[PATH_MAX / 8] = "";
		int k = 0;

		if (sscanf(p, "%*x-%*x %7s %*x %*s %*u %n", perms, &k) == 1 && k > 0 &&
		    p[k] == '/' && strchr(perms, 'x')) {
			snprintf(path, sizeof(path), "%.*s", (int)strcspn(p + k, "\n"), p + k);
			bool dup = false;

			for (uint64_t i = 0; i < n; i++)
				dup |= !strcmp(seen[i], path);
			if (!dup && n < 64)
				snprintf(seen[n++], sizeof(seen[0]), "%s", path);
		}
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	return n;
}

/* A prefetching symbolizer fed `text`, its worker done, donated: the
 * symbolizer the next symbolizer__new returns (checked). */
static struct symbolizer *prefetched(const char *text, uint64_t files)
{
	struct symbolizer *pf = NULL, *s = NULL;

	CHECK(symbolizer__prefetch_new(&pf) == 0, "prefetch_new");
	if (!pf)
		return NULL;
	CHECK(symbolizer__prefetch_maps(pf, text, strlen(text)) == 0, "prefetch_maps");
	wait_prewarm(pf, files);
	CHECK(symbolizer__donate(pf) == NULL, "nothing donated before");
	CHECK(symbolizer__new(&s) == 0 && s == pf, "symbolizer__new takes the donated one");
	return s;
}

/*
 * This process's own maps prefetched (its files opened, indexed, their
 * DWARF read, libc's separate debug file too), then used: every answer
 * equals a fresh symbolizer's (ours, libc at every 256th byte of its code),
 * and the counters of files are those of the maps added, not prefetched.
 */
static void test_prefetch_same(void)
{
	size_t len;
	char *text = read_file("/proc/self/maps", &len);
	uintptr_t getpid_addr = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	uint64_t ls, le, lo;
	char ldev[80], lpath[PATH_MAX];
	struct symbolizer *fresh = NULL, *pf;
	struct vp_symbolizer_stats a, b;
	size_t n = 0, diff = 0, lines = 0;

	CHECK(text != NULL, "read maps");
	if (!text)
		return;
	CHECK(find_self_mapping(getpid_addr, &ls, &le, &lo, ldev, sizeof(ldev), lpath,
				sizeof(lpath)) == 0, "libc mapping");
	pf = prefetched(text, exec_files(text));
	CHECK(symbolizer__new(&fresh) == 0 && fresh != pf, "a fresh one after");
	if (!pf || !fresh)
		goto out;
	CHECK(symbolizer__add_maps(pf, SPACE_PF, text, len) == 0, "add_maps prefetched");
	CHECK(symbolizer__add_maps(fresh, SPACE_PF, text, len) == 0, "add_maps fresh");
	for (uintptr_t ip = ls; ip < le; ip += 256) {
		for (int ra = 0; ra < 2; ra++) {
			struct vp_frame f, g;
			int r1 = symbolizer__lookup(pf, SPACE_PF, ip, ra, &f);
			int r2 = symbolizer__lookup(fresh, SPACE_PF, ip, ra, &g);

			n++;
			lines += g.line > 0;
			if (r1 != r2 || !same_frame(&f, &g)) {
				if (diff++ < 5) {
					print_frame("prefetched", r1, &f);
					print_frame("fresh", r2, &g);
				}
			}
		}
	}
	uintptr_t own[] = { (uintptr_t)sym_target_fn + 4, (uintptr_t)sym_probe_caller + 8 };
	for (size_t i = 0; i < 2; i++) {
		struct vp_frame f, g;
		int r1 = symbolizer__lookup(pf, SPACE_PF, own[i], false, &f);
		int r2 = symbolizer__lookup(fresh, SPACE_PF, own[i], false, &g);

		n++;
		diff += r1 != r2 || !same_frame(&f, &g) || !ends_with(f.file, "test_symbolize.c");
	}
	printf("prefetch: %zu lookups (%zu with a line), %zu differ\n", n, lines, diff);
	CHECK(diff == 0, "%zu of %zu lookups differ after a prefetch", diff, n);
	CHECK(lines > 100, "libc lines: %zu (libc6-dbg installed?)", lines);
	symbolizer__stats(pf, &a);
	symbolizer__stats(fresh, &b);
	CHECK(a.files == b.files && a.files_opened == b.files_opened &&
		      a.files_failed == b.files_failed,
	      "files %" PRIu64 "/%" PRIu64 "/%" PRIu64 " vs %" PRIu64 "/%" PRIu64 "/%" PRIu64,
	      a.files, a.files_opened, a.files_failed, b.files, b.files_opened, b.files_failed);
	CHECK(a.prefetch_used == a.files_opened && a.prefetch_stale == 0,
	      "prefetched files used: %" PRIu64 " of %" PRIu64 " opened, %" PRIu64 " stale",
	      a.prefetch_used, a.files_opened, a.prefetch_stale);
out:
	symbolizer__free(pf);
	symbolizer__free(fresh);
	free(text);
}

/* The worker held inside one file's DWARF read (symbolizer__test_dwarf_hook),
 * that file's lock taken, until let go. */
struct pause {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	const char *path; /* the file to stop in */
	bool in, go;
};

static void pause_hook(const char *path, void *arg)
{
	struct pause *p = arg;

	if (strcmp(path, p->path))
		return;
	pthread_mutex_lock(&p->lock);
	p->in = true;
	pthread_cond_broadcast(&p->cond);
	while (!p->go)
		pthread_cond_wait(&p->cond, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

static void pause_go(struct pause *p)
{
	pthread_mutex_lock(&p->lock);
	p->go = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Until the worker is in the paused file's DWARF read (30 s at most). */
static bool pause_reached(struct pause *p)
{
	struct timespec until;
	bool in;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	pthread_mutex_lock(&p->lock);
	while (!p->in && pthread_cond_timedwait(&p->cond, &p->lock, &until) == 0)
		;
	in = p->in;
	pthread_mutex_unlock(&p->lock);
	return in;
}

static void waited_too_long(int sig)
{
	static const char m[] = "test_symbolize: FAIL: a name lookup waited for the worker "
				"reading libc's DWARF (its lock held)\n";

	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(1);
}

/*
 * Name lookups while the prefetch's worker is inside libc's DWARF read,
 * holding libc's lock (paused there by the test hook, for as long as the
 * test wants): every one of libc's names (every 256th byte of its code)
 * and a file:line of another file are answered without waiting, as a
 * fresh symbolizer answers them, and no lookup waited for any lock
 * (prewarm_wait_ns 0). A lookup that took libc's lock would wait forever:
 * the alarm ends the test then. Let go, libc's lines are the fresh ones.
 */
static void test_prefetch_no_wait(void)
{
	size_t len;
	char *text = read_file("/proc/self/maps", &len);
	uintptr_t getpid_addr = (uintptr_t)dlsym(RTLD_DEFAULT, "getpid");
	uint64_t ls = 0, le = 0, lo;
	char ldev[80], lpath[PATH_MAX] = "";
	struct pause p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, lpath, false,
			   false };
	struct symbolizer *pf = NULL, *s = NULL, *fresh = NULL;
	struct vp_symbolizer_stats st;
	size_t n = 0, diff = 0, named = 0, lines = 0;

	CHECK(text != NULL, "read maps");
	CHECK(find_self_mapping(getpid_addr, &ls, &le, &lo, ldev, sizeof(ldev), lpath,
				sizeof(lpath)) == 0, "libc mapping");
	if (!text || !lpath[0])
		goto out;
	symbolizer__test_dwarf_hook(pause_hook, &p);
	CHECK(symbolizer__prefetch_new(&pf) == 0, "prefetch_new");
	if (!pf)
		goto out;
	CHECK(symbolizer__prefetch_maps(pf, text, len) == 0, "prefetch_maps");
	if (!pause_reached(&p)) {
		CHECK(0, "the worker never read %s's DWARF", lpath);
		goto out;
	}
	CHECK(symbolizer__donate(pf) == NULL, "nothing donated before");
	CHECK(symbolizer__new(&s) == 0 && s == pf, "symbolizer__new takes the donated one");
	pf = NULL;
	CHECK(symbolizer__new(&fresh) == 0, "a fresh one");
	if (!s || !fresh)
		goto out;
	CHECK(symbolizer__add_maps(s, SPACE_PF, text, len) == 0, "add_maps prefetched");
	CHECK(symbolizer__add_maps(fresh, SPACE_PF, text, len) == 0, "add_maps fresh");

	signal(SIGALRM, waited_too_long);
	alarm(60);
	for (uintptr_t ip = ls; ip < le; ip += 256) {
		for (int ra = 0; ra < 2; ra++) {
			struct vp_frame f, g;
			int r1 = symbolizer__lookup_fn(s, SPACE_PF, ip, ra, &f);
			int r2 = symbolizer__lookup_fn(fresh, SPACE_PF, ip, ra, &g);

			n++;
			named += g.function != NULL;
			if ((r1 != r2 || !same_frame(&f, &g)) && diff++ < 5) {
				print_frame("while paused", r1, &f);
				print_frame("fresh", r2, &g);
			}
		}
	}
	struct vp_frame f, g;
	uintptr_t own = (uintptr_t)sym_target_fn + 4;
	int r1 = symbolizer__lookup(s, SPACE_PF, own, false, &f);
	int r2 = symbolizer__lookup(fresh, SPACE_PF, own, false, &g);

	diff += r1 != r2 || !same_frame(&f, &g) || !ends_with(f.file, "test_symbolize.c");
	n++;
	alarm(0);
	symbolizer__stats(s, &st);
	printf("while the worker reads libc's DWARF: %zu lookups (%zu named), %zu differ, "
	       "waited %" PRIu64 " ns\n", n, named, diff, st.prewarm_wait_ns);
	CHECK(diff == 0, "%zu of %zu lookups differ while the worker reads libc's DWARF", diff,
	      n);
	CHECK(named > 1000, "libc names: %zu", named);
	CHECK(st.prewarm_wait_ns == 0, "lookups waited %" PRIu64 " ns for the worker",
	      st.prewarm_wait_ns);
	CHECK(st.prefetch_used >= 2 && st.prefetch_stale == 0,
	      "prefetched files used: %" PRIu64 ", %" PRIu64 " stale", st.prefetch_used,
	      st.prefetch_stale);

	/* let go: libc's lines (they wait for its DWARF, as they must) */
	pause_go(&p);
	for (uintptr_t ip = ls; ip < le; ip += 4096) {
		int a = symbolizer__lookup(s, SPACE_PF, ip, true, &f);
		int b = symbolizer__lookup(fresh, SPACE_PF, ip, true, &g);

		lines += g.line > 0;
		if ((a != b || !same_frame(&f, &g)) && diff++ < 5) {
			print_frame("after", a, &f);
			print_frame("fresh", b, &g);
		}
	}
	CHECK(diff == 0, "%zu lookups with lines differ after the DWARF read", diff);
	CHECK(lines > 10, "libc lines after: %zu", lines);
out:
	pause_go(&p);
	symbolizer__test_dwarf_hook(NULL, NULL);
	symbolizer__free(pf);
	symbolizer__free(s);
	symbolizer__free(fresh);
	free(text);
}

/* The frame of `ip` in `text` (one space) from a fresh symbolizer. */
static int fresh_lookup(const char *text, uint64_t ip, struct vp_frame *out, char *fn,
			char *file, size_t n)
{
	struct symbolizer *s = NULL;
	int rc = symbolizer__new(&s);

	if (!rc)
		rc = symbolizer__add_maps(s, SPACE_PF, text, strlen(text));
	if (!rc)
		rc = symbolizer__lookup(s, SPACE_PF, ip, false, out);
	/* the strings live in s: copies */
	snprintf(fn, n, "%s", out->function ? out->function : "");
	snprintf(file, n, "%s", out->file ? out->file : "");
	out->function = fn[0] ? fn : NULL;
	out->file = file[0] ? file : NULL;
	out->module = NULL;
	symbolizer__free(s);
	return rc;
}

/* A prefetched file's answer against a fresh symbolizer's after `change`
 * (a shell command) altered the file or its debug file's places: the same,
 * and not what the file said when prefetched. */
static void prefetch_changed(const char *what, const char *text, uint64_t ip,
			     const char *change)
{
	struct vp_frame before, after, f;
	char fn1[512], file1[512], fn2[512], file2[512];
	struct symbolizer *pf;
	int rc;

	CHECK(fresh_lookup(text, ip, &before, fn1, file1, sizeof(fn1)) == 0, "%s: before", what);
	pf = prefetched(text, 1);
	CHECK(system(change) == 0, "%s: %s", what, change);
	CHECK(fresh_lookup(text, ip, &after, fn2, file2, sizeof(fn2)) == 0, "%s: after", what);
	print_frame("changed: before", 0, &before);
	print_frame("changed: after", 0, &after);
	before.module = after.module = NULL;
	CHECK(!same_frame(&before, &after), "%s: the change changes nothing", what);
	if (!pf)
		return;
	CHECK(symbolizer__add_maps(pf, SPACE_PF, text, strlen(text)) == 0, "%s: add_maps", what);
	rc = symbolizer__lookup(pf, SPACE_PF, ip, false, &f);
	print_frame("changed: prefetched", rc, &f);
	f.module = NULL;
	CHECK(rc == 0 && same_frame(&f, &after), "%s: the prefetched file answers as before", what);
	struct vp_symbolizer_stats st;

	symbolizer__stats(pf, &st);
	CHECK(st.prefetch_stale == 1 && st.prefetch_used == 0, "%s: opened again (%" PRIu64
	      " stale, %" PRIu64 " used)", what, st.prefetch_stale, st.prefetch_used);
	symbolizer__free(pf);
}

/*
 * A file prefetched, then rewritten in place (same path, same inode) with
 * other content, or given its separate debug file (.gnu_debuglink) only
 * after the prefetch: the answers are those of opening it now.
 */
static void test_prefetch_changed(void)
{
	char dir[] = "/tmp/vp-pftest-XXXXXX";
	char exe[PATH_MAX], a[64], b[64], text[4096], cmd[3 * PATH_MAX];
	uint64_t ms, me, mo, ino = 0;
	char mdev[80], mpath[PATH_MAX], ldev[80], lpath[PATH_MAX];
	uintptr_t ip = (uintptr_t)sym_target_fn + 4;
	uint64_t ls, le, lo;
	struct stat st;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = '\0';
	if (!mkdtemp(dir)) {
		CHECK(0, "mkdtemp: %s", strerror(errno));
		return;
	}
	CHECK(find_self_mapping(ip, &ms, &me, &mo, mdev, sizeof(mdev), mpath, sizeof(mpath)) == 0,
	      "own mapping");
	CHECK(find_self_mapping((uintptr_t)dlsym(RTLD_DEFAULT, "getpid"), &ls, &le, &lo, ldev,
				sizeof(ldev), lpath, sizeof(lpath)) == 0, "libc mapping");
	CHECK(stat(exe, &st) == 0, "stat %s", exe);

	/* (1) rewritten in place: this binary, then libc's bytes */
	snprintf(a, sizeof(a), "%s/a.elf", dir);
	CHECK(make_file(a, exe, (size_t)st.st_size, &ino) == 0, "copy %s", exe);
	snprintf(text, sizeof(text), "%" PRIx64 "-%" PRIx64 " r-xp %08" PRIx64 " fe:00 %" PRIu64
		 " %s\n", ms, me, mo, ino, a);
	snprintf(cmd, sizeof(cmd), "cat '%s' > '%s'", lpath, a); /* same inode */
	prefetch_changed("rewritten", text, ip, cmd);

	/* (2) its debug file put in place after the prefetch */
	snprintf(b, sizeof(b), "%s/b.elf", dir);
	snprintf(cmd, sizeof(cmd),
		 "cd %s && objcopy --only-keep-debug '%s' b.debug && objcopy --strip-debug "
		 "--add-gnu-debuglink=b.debug '%s' b.elf && mv b.debug b.later", dir, exe, exe);
	CHECK(system(cmd) == 0, "%s", cmd);
	CHECK(stat(b, &st) == 0, "stat %s", b);
	snprintf(text, sizeof(text), "%" PRIx64 "-%" PRIx64 " r-xp %08" PRIx64 " fe:00 %" PRIu64
		 " %s\n", ms, me, mo, (uint64_t)st.st_ino, b);
	snprintf(cmd, sizeof(cmd), "mv %s/b.later %s/b.debug", dir, dir);
	prefetch_changed("debug file later", text, ip, cmd);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0, "%s", cmd);
}

int main(void)
{
	struct symbolizer *s = NULL;
	struct vp_symbolizer_stats st;
	char *self_maps;
	size_t self_len;
	int rc, files;

	srand(42);
	rc = symbolizer__new(&s);
	CHECK(rc == 0, "symbolizer__new: %d", rc);
	if (rc)
		return 1;
	self_maps = read_file("/proc/self/maps", &self_len);
	CHECK(self_maps != NULL, "read /proc/self/maps");
	if (!self_maps)
		return 1;
	rc = symbolizer__add_maps(s, SPACE_SELF, self_maps, self_len);
	CHECK(rc == 0, "add_maps self: %d", rc);

	test_lazy_lines(self_maps, self_len);
	test_self(s);
	test_libc(s);
	/* The same snapshot again adds no file and changes no answer. */
	symbolizer__stats(s, &st);
	files = (int)st.files;
	CHECK(symbolizer__add_maps(s, SPACE_SELF, self_maps, self_len) == 0, "same snapshot twice");
	symbolizer__stats(s, &st);
	CHECK((int)st.files == files, "files %d -> %" PRIu64, files, st.files);
	free(self_maps);
	test_self(s);
	test_shared_file(s);
	test_dlopen(s);
	test_garbage(s);
	test_bad_files(s);
	test_prefetch_same();
	test_prefetch_no_wait();
	test_prefetch_changed();

	symbolizer__stats(s, &st);
	printf("stats: lookups %" PRIu64 " cache_hits %" PRIu64 " cache_entries %" PRIu64
	       " files %" PRIu64 " opened %" PRIu64 " failed %" PRIu64 " bad_lines %" PRIu64
	       " file_cache_hits %" PRIu64 " file_cache_entries %" PRIu64 "\n",
	       st.lookups, st.cache_hits, st.cache_entries, st.files, st.files_opened,
	       st.files_failed, st.bad_lines, st.file_cache_hits, st.file_cache_entries);
	symbolizer__free(s);
	symbolizer__free(NULL);

	if (failures) {
		fprintf(stderr, "test_symbolize: %d check(s) failed\n", failures);
		return 1;
	}
	printf("test_symbolize: all checks passed\n");
	return 0;
}
