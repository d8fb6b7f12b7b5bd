// SPDX-License-Identifier: MIT
/*
 * Offline symbolizer (see symbolize.h for the promises).
 *
 * Design:
 *  - A "space" is the caller's address space key. It holds a sorted array of
 *    non-overlapping file mappings merged from its maps snapshots.
 *  - A "dso" is one file, keyed by (path, inode from the maps line). It is
 *    opened lazily, once per symbolizer, as its own single-module Dwfl at the
 *    ELF's link-time addresses. An ip is translated mapping -> file offset ->
 *    PT_LOAD -> link-time address, so every space mapping the file shares it
 *    (a trace of many forked processes reads libc's DWARF once) and no load
 *    bias has to be guessed from where a group of mappings begins.
 *  - Results are cached per (space, ip, return_addr). A cache entry is valid
 *    while its space's generation is unchanged; add_maps bumps the generation
 *    and stale entries are recomputed in place, so the cache never grows for
 *    ips it already holds.
 *  - Below that, what libdwfl says about a file address is cached per
 *    (dso, link-time address): the function, its offset, the source line.
 *    It depends on the file alone, so the hundreds of processes of a build
 *    that run the same cc1 or libc at different (randomised) addresses ask
 *    libdwfl once per distinct address of the file.
 *  - Function names come from an index of each file's symbol table, built
 *    on its first lookup (symindex.h), that answers exactly what
 *    dwfl_module_addrinfo answers: libdwfl (elfutils 0.188) scans the
 *    whole table on every call (cc1's 29k symbols: ~1 ms a lookup).
 *  - Every string handed out comes from one intern pool freed only at the end,
 *    so frames stay valid after cache entries are recomputed.
 *  - The second core: each file mapped executable in a maps snapshot (as
 *    the analysis replays) is handed to a worker thread that opens it,
 *    indexes its symbols and makes libdw read its DWARF (a distribution's
 *    compressed debug file is inflated whole: libc's costs 60+ ms), so that
 *    the lookups that come later find the work done. The open and every
 *    libdwfl call on a file's Dwfl are made under that file's lock (libdwfl
 *    is not thread-safe). Whoever opens and indexes a file (the worker or
 *    the main thread, a few ms) then marks it ready (an atomic store): what
 *    the open and the index set no longer changes, and the main thread
 *    reads it without the lock, so a name lookup never waits behind the
 *    worker reading that file's DWARF (up to ~90 ms, lock held); only a
 *    file:line of that file does (it needs that DWARF). A file the index
 *    cannot answer for (libdwfl must) gets no DWARF read from the worker.
 *    The worker touches nothing else, and the answers do not depend on who
 *    did the work first.
 *
 * We do not use dwfl_linux_proc_maps_report: it reports one module per run of
 * consecutive lines of a file with the bias taken from the run's first line,
 * and with dwfl_report_begin_add a library replaced at the same address by a
 * later snapshot would give overlapping modules. Parsing the text here lets us
 * merge snapshots with an explicit rule and share ELF state across spaces.
 */
#include "symbolize.h"
#include "symindex.h"
#include "traceutil.h"
#include "vmaprof/clock.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

/* helgrind knows no C11 atomics: tell it what the release/acquire of a
 * dso's `ready` orders (no-ops without valgrind's headers) */
#if defined(__has_include) && __has_include(<valgrind/helgrind.h>)
#include <valgrind/helgrind.h>
#else
#define ANNOTATE_HAPPENS_BEFORE(obj) ((void)(obj))
#define ANNOTATE_HAPPENS_AFTER(obj) ((void)(obj))
#endif

/* Every table here is a u64map of chains by hash (traceutil.h:
 * u64map__chain): a lookup compares the whole key along its hash's chain. */

/* A new zeroed node of `size` bytes on hash's chain of m; NULL on ENOMEM. */
static void *node_new(struct u64map *m, size_t size, uint64_t hash)
{
	struct u64map_node *n = calloc(1, size);

	if (!n)
		return NULL;
	n->hash = hash;
	if (u64map__chain_add(m, n)) {
		free(n);
		return NULL;
	}
	return n;
}

static void node_free(struct u64map_node *e)
{
	free(e);
}

struct str_node {
	struct u64map_node h; /* first: nodes are freed through it */
	size_t len;
	char s[];
};

enum dso_state { DSO_NEW, DSO_OK, DSO_FAILED };

/* A file as stat saw it (or its absence): equal twice, it was not
 * replaced, rewritten or touched in between (ctime moves on any change). */
struct fileid {
	bool exists;
	uint64_t dev, ino, size;
	struct timespec mtime, ctime;
};

/* The file, its build-id debug file, the 3 places of its .gnu_debuglink
 * name (find_debuginfo's search). */
#define FILEID_MAX 5

struct load_seg { /* one PT_LOAD: file bytes [offset, offset+filesz) at vaddr */
	uint64_t offset, filesz, vaddr;
};

/* Address range of one compilation unit, for DWARF without .debug_aranges. */
struct cu_range {
	uint64_t start, end; /* DWARF addresses */
	Dwarf_Die *cu;       /* owned by the module's Dwfl */
};

enum cu_table_state { CU_TABLE_UNKNOWN, CU_TABLE_UNNEEDED, CU_TABLE_BUILT };

struct dso {
	struct u64map_node h;
	const char *path; /* interned, verbatim from the maps line */
	const char *open; /* interned: the file opened for it (path, unless
			   * symbolizer__open_as said otherwise) */
	uint64_t ino;     /* from the maps line; 0 = unknown, not checked */
	enum dso_state state;
	Dwfl *dwfl;         /* DSO_OK only */
	Dwfl_Module *mod;   /* DSO_OK only; owned by dwfl */
	uint64_t bias;      /* module address - ELF link-time address */
	struct load_seg *loads;
	size_t nloads;
	enum cu_table_state cu_state;
	struct cu_range *cus; /* sorted by start; CU_TABLE_BUILT only */
	size_t ncus;
	uint64_t cu_bias;     /* module address - DWARF address */
	struct symindex *syms; /* NULL until the first lookup, or when libdwfl
				* must answer itself (syms_state) */
	int syms_state;       /* 0 not built, 1 built, -1 ask libdwfl */
	pthread_mutex_t lock; /* held around the open, the index and every
			       * libdwfl call on dwfl (the prewarm worker's
			       * DWARF read too), and to change any field */
	/* The open and the index are done (dso__prepare): state, syms_state,
	 * syms, loads, bias, early, ids and idpath no longer change (but by
	 * the main thread's dso__reset, under lock) and are read without the
	 * lock (acquire after the release that set it). */
	atomic_bool ready;
	/* What the open saw of the file and of the places its separate
	 * debug file is looked for (prefetched files: symbolizer__prefetch
	 * _maps): a file opened during the recording is kept only if they
	 * are all the same when the analysis first needs it. ids[0] is the
	 * file's, ids[i] that of idpath[i] (malloc'd; NULL: no such place),
	 * the places kept so that the check asks libdwfl nothing. */
	struct fileid ids[FILEID_MAX];
	char *idpath[FILEID_MAX];
	bool early;           /* opened for a prefetch (may be stale) */
	/* the main thread's own: */
	bool counted;         /* in stats.files (named by add_maps) */
	bool queued;          /* handed to the prewarm worker */
	bool seen;            /* state looked at (and counted) under lock */
	bool syms_seen;       /* syms_state looked at under lock */
};

struct mapping {
	uint64_t start, end, pgoff;
	struct dso *dso;
	bool exec;
};

struct space {
	struct u64map_node h;
	uint64_t key;
	uint64_t gen;             /* bumped whenever maps change */
	struct mapping *maps;     /* sorted by start, non-overlapping */
	size_t nmaps;
};

/* What the file says about one link-time address (function, offset, line):
 * shared by every space and every ip that maps to it. */
struct fentry {
	struct u64map_node h;
	struct dso *dso;
	uint64_t vaddr;
	const char *function; /* interned, or NULL */
	uint64_t fn_offset;   /* vaddr - symbol start, when function != NULL */
	const char *file;     /* interned, or NULL */
	int line;
	bool lines_done;      /* file and line looked up (resolve_lines) */
};

struct centry {
	struct u64map_node h;
	struct space *space;
	uint64_t ip;
	bool return_addr;
	uint64_t gen; /* valid iff == space->gen */
	int rc;
	struct fentry *fe; /* what frame came from, NULL if from no file address */
	bool has_lines;    /* frame has fe's file and line (or fe is NULL) */
	struct vp_frame frame;
};

/* The worker that reads the DWARF of opened files ahead of need. */
struct prewarm {
	pthread_mutex_t lock;  /* guards everything below */
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;
	bool busy;             /* the worker is on a file (outside lock) */
	bool orphan;           /* freed meanwhile: the worker frees it all */
	struct dso **q;        /* FIFO: q[head..n) wait to be opened and
				* indexed, q[dhead..n) for their DWARF */
	size_t head, dhead, n, cap;
	uint64_t files, ns;    /* files done, time spent in them */
	pid_t tid;             /* the worker's thread id (0 until known) */
	bool background;       /* run at SCHED_IDLE (during a recording) */
};

struct symbolizer {
	struct u64map strings; /* str_node */
	struct u64map dsos;    /* dso */
	struct u64map spaces;  /* space */
	struct u64map cache;   /* centry */
	struct u64map faddrs;  /* fentry */
	struct vp_symbolizer_stats stats;
	struct prewarm pw;
};

/* VMAPROF_DEBUGINFOD=1: libdwfl may ask debuginfod servers (read once). */
static int debuginfod_allowed = -1;

/* The file's build-id equals want (len bytes). */
static bool same_build_id(int fd, const void *want, int len)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *id = NULL;
	ssize_t n = e ? dwelf_elf_gnu_build_id(e, &id) : -1;
	bool ok = n > 0 && n == len && !memcmp(id, want, (size_t)len);

	if (e)
		elf_end(e);
	return ok;
}

/*
 * Separate debug info on this machine only: the build-id directory
 * (/usr/lib/debug/.build-id/xx/...), then the .gnu_debuglink name next to
 * the file, in its .debug/ and under /usr/lib/debug (the places
 * dwfl_standard_find_debuginfo looks), a candidate taken only if its
 * build-id is the module's. dwfl_standard_find_debuginfo itself would, on
 * a miss, load libdebuginfod (and libcurl) and ask the servers of
 * DEBUGINFOD_URLS over the network: only with VMAPROF_DEBUGINFOD=1.
 */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  GElf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const unsigned char *id;
	GElf_Addr id_vaddr;
	char dir[4096], path[4096 + 256];
	const char *slash;
	int fd, len;

	if (debuginfod_allowed > 0)
		return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
						    debuglink_file, debuglink_crc,
						    debuginfo_file_name);
	fd = dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
					  debuglink_file, debuglink_crc, debuginfo_file_name);
	if (fd >= 0)
		return fd;
	len = dwfl_module_build_id(mod, &id, &id_vaddr);
	if (len <= 0 || !debuglink_file || !file_name || strchr(debuglink_file, '/') ||
	    !(slash = strrchr(file_name, '/')) || (size_t)(slash - file_name) >= sizeof(dir))
		return -1;
	memcpy(dir, file_name, (size_t)(slash - file_name));
	dir[slash - file_name] = '\0';
	for (int i = 0; i < 3; i++) {
		static const char *const fmt[] = { "%s/%s", "%s/.debug/%s", "/usr/lib/debug%s/%s" };

		if ((size_t)snprintf(path, sizeof(path), fmt[i], dir, debuglink_file) >=
		    sizeof(path) || !strcmp(path, file_name))
			continue;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (same_build_id(fd, id, len)) {
			*debuginfo_file_name = strdup(path);
			return fd;
		}
		close(fd);
	}
	return -1;
}

/* libdwfl keeps a pointer to the callbacks: static storage. A NULL
 * debuginfo_path means the default ":.debug:/usr/lib/debug". find_elf is
 * never called because every module is reported with its ELF already open. */
static const Dwfl_Callbacks dwfl_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};


/* ------------------------------------------------------------------------ */
/* Strings                                                                   */

/* Interned copy of str[0..len) (no NUL inside), or NULL on ENOMEM. */
static const char *intern(struct symbolizer *s, const char *str, size_t len)
{
	uint64_t h = vp_hash_bytes(str, len);
	struct str_node *n;

	for (struct u64map_node *e = u64map__chain(&s->strings, h); e; e = e->next) {
		n = (struct str_node *)e;
		if (e->hash == h && n->len == len && !memcmp(n->s, str, len))
			return n->s;
	}
	n = node_new(&s->strings, sizeof(*n) + len + 1, h);
	if (!n)
		return NULL;
	n->len = len;
	memcpy(n->s, str, len);
	n->s[len] = '\0';
	return n->s;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */

static void dso__close(struct dso *d);

static void dso__free(struct u64map_node *e)
{
	struct dso *d = (struct dso *)e;

	dso__close(d);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* The dso for (path, ino), created unopened if new; counted in
 * stats.files when `count` (named by the analysis's maps, not only by a
 * prefetch). NULL on ENOMEM. */
static struct dso *dso__get(struct symbolizer *s, const char *path, size_t len, uint64_t ino,
			    bool count)
{
	uint64_t h = vp_hash_mix(vp_hash_bytes(path, len) ^ ino);
	struct dso *d;
	const char *p;

	for (struct u64map_node *e = u64map__chain(&s->dsos, h); e; e = e->next) {
		d = (struct dso *)e;
		if (e->hash == h && d->ino == ino && strlen(d->path) == len &&
		    !memcmp(d->path, path, len))
			goto found;
	}
	p = intern(s, path, len);
	d = p ? node_new(&s->dsos, sizeof(*d), h) : NULL;
	if (!d)
		return NULL;
	d->path = p;
	d->open = p;
	d->ino = ino;
	d->state = DSO_NEW;
	pthread_mutex_init(&d->lock, NULL);
found:
	if (count && !d->counted) {
		d->counted = true;
		s->stats.files++;
	}
	return d;
}

static bool ends_with(const char *str, const char *suffix)
{
	size_t a = strlen(str), b = strlen(suffix);

	return a >= b && !memcmp(str + a - b, suffix, b);
}

static void fileid_of(const char *path, struct fileid *id)
{
	struct stat st;

	memset(id, 0, sizeof(*id));
	if (stat(path, &st))
		return;
	id->exists = true;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = (uint64_t)st.st_size;
	id->mtime = st.st_mtim;
	id->ctime = st.st_ctim;
}

static bool fileid_same(const struct fileid *a, const struct fileid *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
	       a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec && a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* idpath[] of d (reported, elf its ELF): every place find_debuginfo
 * (libdwfl's build-id search with the default path ":.debug:/usr/lib/debug",
 * then the .gnu_debuglink candidates) looks for its debug file. */
static void dso__idpaths(struct dso *d, Elf *elf)
{
	const unsigned char *id = NULL;
	GElf_Addr id_vaddr;
	GElf_Word crc;
	const char *link = elf ? dwelf_elf_gnu_debuglink(elf, &crc) : NULL;
	const char *slash = strrchr(d->open, '/');
	char path[4096 + 256];
	int len = d->mod ? dwfl_module_build_id(d->mod, &id, &id_vaddr) : 0;

	if (len > 1 && len < 1000) {
		int n = snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%02x/", id[0]);

		for (int i = 1; i < len && n < 2000; i++)
			n += snprintf(path + n, sizeof(path) - (size_t)n, "%02x", id[i]);
		snprintf(path + n, sizeof(path) - (size_t)n, ".debug");
		d->idpath[1] = strdup(path); /* NULL on ENOMEM: then stale */
	}
	if (!link || !slash || strchr(link, '/'))
		return;
	for (int i = 0; i < 3; i++) {
		static const char *const fmt[] = { "%.*s/%s", "%.*s/.debug/%s",
						   "/usr/lib/debug%.*s/%s" };

		if ((size_t)snprintf(path, sizeof(path), fmt[i], (int)(slash - d->open), d->open,
				     link) < sizeof(path))
			d->idpath[2 + i] = strdup(path);
	}
}

/* ids of d's file and of its idpath[] as they are now (never libdwfl:
 * callable while the worker reads d's DWARF). */
static void dso__ids(const struct dso *d, struct fileid *ids)
{
	memset(ids, 0, FILEID_MAX * sizeof(*ids));
	fileid_of(d->open, &ids[0]);
	for (int i = 1; i < FILEID_MAX; i++)
		if (d->idpath[i])
			fileid_of(d->idpath[i], &ids[i]);
}

/* What was read of d is dropped (d's lock held); state and early stay. */
static void dso__close(struct dso *d)
{
	symindex__free(d->syms);
	d->syms = NULL;
	d->syms_state = 0;
	if (d->dwfl)
		dwfl_end(d->dwfl);
	d->dwfl = NULL;
	d->mod = NULL;
	free(d->loads);
	d->loads = NULL;
	d->nloads = 0;
	free(d->cus);
	d->cus = NULL;
	d->ncus = 0;
	d->cu_state = CU_TABLE_UNKNOWN;
	for (int i = 0; i < FILEID_MAX; i++) {
		free(d->idpath[i]);
		d->idpath[i] = NULL;
	}
}

/* Back to unopened (d's lock held, by the main thread). */
static void dso__reset(struct dso *d)
{
	atomic_store_explicit(&d->ready, false, memory_order_relaxed);
	dso__close(d);
	d->early = false;
	d->state = DSO_NEW;
}

/* d, opened for a prefetch, is what opening it now would give: the file
 * and the places of its debug file as they were (d ready, or its lock
 * held). */
static bool dso__unchanged(const struct dso *d)
{
	struct fileid now[FILEID_MAX];

	dso__ids(d, now);
	for (int i = 0; i < FILEID_MAX; i++)
		if (!fileid_same(&now[i], &d->ids[i]))
			return false;
	return true;
}

/*
 * Open d's ELF once. Refused (module name only, never symbols) when the file
 * is gone or "(deleted)" (whatever is at the path now is another file), is
 * not a regular file (a FIFO or device could block or lie), has another
 * inode than the traced one (rebuilt or upgraded since), or is not an
 * executable/shared ELF: wrong symbols are worse than none.
 */
static void dso__open(struct dso *d)
{
	struct stat st;
	GElf_Ehdr ehdr_mem, *ehdr;
	GElf_Addr bias;
	size_t phnum, n = 0;
	Elf *elf;

	if (d->state != DSO_NEW)
		return;
	d->state = DSO_FAILED;

	if (d->early) /* what a failed open saw, too */
		dso__ids(d, d->ids);
	if (d->open[0] != '/' || ends_with(d->open, " (deleted)"))
		goto fail;
	if (stat(d->open, &st) || !S_ISREG(st.st_mode) || (d->ino && st.st_ino != d->ino))
		goto fail;

	d->dwfl = dwfl_begin(&dwfl_callbacks);
	if (!d->dwfl)
		goto fail;
	dwfl_report_begin(d->dwfl);
	/* base 0 + add_p_vaddr: the module sits at its link-time addresses. */
	d->mod = dwfl_report_elf(d->dwfl, d->path, d->open, -1, 0, true);
	if (dwfl_report_end(d->dwfl, NULL, NULL) || !d->mod)
		goto fail;

	elf = dwfl_module_getelf(d->mod, &bias);
	if (!elf)
		goto fail;
	ehdr = gelf_getehdr(elf, &ehdr_mem);
	if (!ehdr || (ehdr->e_type != ET_DYN && ehdr->e_type != ET_EXEC))
		goto fail;
	if (elf_getphdrnum(elf, &phnum) || phnum == 0 || phnum > 0xffff)
		goto fail;
	if (d->early) {
		dso__idpaths(d, elf);
		dso__ids(d, d->ids);
	}
	d->loads = calloc(phnum, sizeof(*d->loads));
	if (!d->loads)
		goto fail;
	for (int i = 0; i < (int)phnum; i++) {
		GElf_Phdr ph_mem, *ph = gelf_getphdr(elf, i, &ph_mem);

		if (!ph)
			goto fail;
		if (ph->p_type != PT_LOAD || ph->p_filesz == 0)
			continue;
		d->loads[n].offset = ph->p_offset;
		d->loads[n].filesz = ph->p_filesz;
		d->loads[n].vaddr = ph->p_vaddr;
		n++;
	}
	if (n == 0)
		goto fail;
	d->nloads = n;
	d->bias = bias;
	d->state = DSO_OK;
	return;

fail:
	dso__close(d);
	if (d->early) /* only the file's own id: no place was looked in */
		memset(&d->ids[1], 0, (FILEID_MAX - 1) * sizeof(d->ids[0]));
}

/* Index d's symbol table once (d's lock held, d open). 0 or -ENOMEM (then
 * left to be tried again). */
static int dso__index(struct dso *d)
{
	int err;

	if (d->syms_state != 0 || d->state != DSO_OK)
		return 0;
	err = symindex__build(d->mod, &d->syms);
	if (err == -ENOMEM)
		return err;
	d->syms_state = err ? -1 : 1;
	return 0;
}

/* Open and index d if not yet (d's lock held), and mark it ready when
 * both are final. 0 or -ENOMEM (then not ready: tried again). */
static int dso__prepare(struct dso *d)
{
	int err;

	if (d->state == DSO_NEW)
		dso__open(d);
	err = dso__index(d);
	if (!err) {
		ANNOTATE_HAPPENS_BEFORE(&d->ready);
		atomic_store_explicit(&d->ready, true, memory_order_release);
	}
	return err;
}

static bool dso__ready(struct dso *d)
{
	bool ready = atomic_load_explicit(&d->ready, memory_order_acquire);

	if (ready)
		ANNOTATE_HAPPENS_AFTER(&d->ready);
	return ready;
}

/* For tests (symbolize.h): called by workers before a DWARF read. */
static pthread_mutex_t test_hook_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*test_dwarf_hook)(const char *path, void *arg);
static void *test_dwarf_arg;

void symbolizer__test_dwarf_hook(void (*fn)(const char *path, void *arg), void *arg)
{
	pthread_mutex_lock(&test_hook_lock);
	test_dwarf_hook = fn;
	test_dwarf_arg = arg;
	pthread_mutex_unlock(&test_hook_lock);
}

static void test_hook__call(const char *path)
{
	void (*fn)(const char *, void *);
	void *arg;

	pthread_mutex_lock(&test_hook_lock);
	fn = test_dwarf_hook;
	arg = test_dwarf_arg;
	pthread_mutex_unlock(&test_hook_lock);
	if (fn)
		fn(path, arg);
}

/* ------------------------------------------------------------------------ */
/* The prewarm worker                                                        */

static void symbolizer__destroy(struct symbolizer *s);

static void *prewarm__main(void *arg)
{
	struct symbolizer *s = arg;
	struct prewarm *pw = &s->pw;

	pthread_mutex_lock(&pw->lock);
	pw->tid = (pid_t)syscall(SYS_gettid);
	if (pw->background) {
		/* a recording runs: only the time the traced programs leave */
		struct sched_param sp = { 0 };

		(void)sched_setscheduler(0, SCHED_IDLE, &sp);
	}
	for (;;) {
		while (pw->dhead == pw->n && !pw->stop)
			pthread_cond_wait(&pw->cond, &pw->lock);
		if (pw->stop)
			break;
		/* names are asked for first (the call sites' labels), lines
		 * later (the outputs): every file's symbols before any DWARF */
		bool names = pw->head < pw->n;
		struct dso *d = names ? pw->q[pw->head++] : pw->q[pw->dhead++];
		pw->busy = true;
		pthread_mutex_unlock(&pw->lock);

		uint64_t t0 = vp_mono_ns();
		Dwarf_Addr bias;
		Dwarf_Aranges *ar;
		size_t nar;

		pthread_mutex_lock(&d->lock);
		if (names)
			(void)dso__prepare(d); /* on ENOMEM the main thread retries */
		/* what the first dwfl_module_getsrc would do: the DWARF and its
		 * address ranges; not for a file whose names libdwfl gives
		 * (under this lock: they would wait for it) */
		if (!names && d->state == DSO_OK && d->syms_state > 0) {
			test_hook__call(d->path);
			Dwarf *dw = dwfl_module_getdwarf(d->mod, &bias);
			if (dw)
				(void)dwarf_getaranges(dw, &ar, &nar);
		}
		pthread_mutex_unlock(&d->lock);

		pthread_mutex_lock(&pw->lock);
		pw->busy = false;
		pw->files += !names;
		pw->ns += vp_mono_ns() - t0;
		if (pw->orphan) {
			pthread_mutex_unlock(&pw->lock);
			symbolizer__destroy(s);
			return NULL;
		}
	}
	pthread_mutex_unlock(&pw->lock);
	return NULL;
}

/* Hand a file to the worker (started on first use), to open, index and
 * read the DWARF of. Nothing is lost when that fails: the main thread
 * does what it needs itself. */
static void prewarm__add(struct symbolizer *s, struct dso *d)
{
	struct prewarm *pw = &s->pw;

	if (d->queued)
		return;
	d->queued = true;
	pthread_mutex_lock(&pw->lock);
	if (!pw->started) {
		if (pthread_create(&pw->thread, NULL, prewarm__main, s)) {
			pthread_mutex_unlock(&pw->lock);
			return;
		}
		pw->started = true;
	}
	if (pw->n == pw->cap) {
		size_t nc = pw->cap ? pw->cap * 2 : 64;
		struct dso **q = realloc(pw->q, nc * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&pw->lock);
			return;
		}
		pw->q = q;
		pw->cap = nc;
	}
	pw->q[pw->n++] = d;
	pthread_cond_signal(&pw->cond);
	pthread_mutex_unlock(&pw->lock);
}

/* Take d's lock, counting the time waited for the worker (in name_wait
 * too for a name's lookup). */
static void dso__lock_for(struct symbolizer *s, struct dso *d, bool name)
{
	if (pthread_mutex_trylock(&d->lock) == 0)
		return;
	uint64_t t0 = vp_mono_ns();
	pthread_mutex_lock(&d->lock);
	uint64_t dt = vp_mono_ns() - t0;
	s->stats.prewarm_wait_ns += dt;
	if (name)
		s->stats.name_wait_ns += dt;
}

static void dso__lock(struct symbolizer *s, struct dso *d)
{
	dso__lock_for(s, d, false);
}

/* Link-time address of file offset off, false if no PT_LOAD holds it. */
static bool dso__vaddr(const struct dso *d, uint64_t off, uint64_t *vaddr)
{
	for (size_t i = 0; i < d->nloads; i++) {
		if (off - d->loads[i].offset < d->loads[i].filesz) { /* unsigned: off >= offset */
			*vaddr = d->loads[i].vaddr + (off - d->loads[i].offset);
			return true;
		}
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* Maps text                                                                 */

static int mapping_cmp(const void *a, const void *b)
{
	const struct mapping *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * New maps of a space: every mapping of `add` (sorted, non-overlapping) plus
 * the parts of `old` that no mapping of `add` covers. *out is sorted and
 * non-overlapping. 0 or -ENOMEM.
 */
static int merge_maps(const struct mapping *old, size_t nold, const struct mapping *add,
		      size_t nadd, struct mapping **out, size_t *nout)
{
	/* Each added mapping splits at most one old piece in two. */
	struct mapping *m = calloc(nold + 2 * nadd + 1, sizeof(*m));
	size_t n = 0, j = 0;

	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < nold; i++) {
		const struct mapping *o = &old[i];
		uint64_t cur = o->start;

		/* old is sorted, so an added mapping ending before o ends
		 * before every later old mapping too. */
		while (j < nadd && add[j].end <= o->start)
			j++;
		for (size_t k = j; k < nadd && add[k].start < o->end && cur < o->end; k++) {
			if (add[k].start > cur) {
				m[n] = *o;
				m[n].start = cur;
				m[n].end = add[k].start;
				m[n].pgoff = o->pgoff + (cur - o->start);
				n++;
			}
			if (add[k].end > cur)
				cur = add[k].end;
		}
		if (cur < o->end) {
			m[n] = *o;
			m[n].start = cur;
			m[n].pgoff = o->pgoff + (cur - o->start);
			n++;
		}
	}
	if (nadd)
		memcpy(m + n, add, nadd * sizeof(*add));
	n += nadd;
	if (n > 1)
		qsort(m, n, sizeof(*m), mapping_cmp);
	*out = m;
	*nout = n;
	return 0;
}

static void space__free(struct u64map_node *e)
{
	struct space *sp = (struct space *)e;

	free(sp->maps);
	free(sp);
}

static struct space *space__find(const struct symbolizer *s, uint64_t key)
{
	uint64_t h = vp_hash_mix(key);

	for (struct u64map_node *e = u64map__chain(&s->spaces, h); e; e = e->next)
		if (e->hash == h && ((struct space *)e)->key == key)
			return (struct space *)e;
	return NULL;
}

/* The space of key, created without mappings on first sight; NULL on ENOMEM. */
static struct space *space__get(struct symbolizer *s, uint64_t key)
{
	struct space *sp = space__find(s, key);

	if (!sp) {
		sp = node_new(&s->spaces, sizeof(*sp), vp_hash_mix(key));
		if (sp)
			sp->key = key;
	}
	return sp;
}

/* The mapping of a maps line, if it can have symbols (a file, or the
 * vDSO): 1 and *m filled, 0 for none, -ENOMEM. */
static int mapping_of_line(struct symbolizer *s, const struct vp_maps_line *ml, struct mapping *m)
{
	bool file = ml->path_len > 0 && ml->path[0] == '/';
	bool vdso = ml->path_len == 6 && !memcmp(ml->path, "[vdso]", 6);

	if (!file && !vdso) /* anonymous, [heap], [stack], [vvar]: no symbols */
		return 0;
	m->dso = dso__get(s, ml->path, ml->path_len, vdso ? 0 : ml->ino, true);
	if (!m->dso)
		return -ENOMEM;
	m->start = ml->start;
	m->end = ml->end;
	m->pgoff = ml->pgoff;
	m->exec = ml->exec;
	return 1;
}

/* The kernel emits sorted, disjoint lines; garbage may not be. Sort the n
 * mappings and keep the first of overlapping ones, so the space invariant
 * holds; returns how many are kept. */
static size_t keep_disjoint(struct symbolizer *s, struct mapping *m, size_t n)
{
	size_t kept = 0;

	if (n)
		qsort(m, n, sizeof(*m), mapping_cmp);
	for (size_t i = 0; i < n; i++) {
		if (kept && m[i].start < m[kept - 1].end) {
			s->stats.bad_lines++;
			continue;
		}
		m[kept++] = m[i];
	}
	return kept;
}

/* The mappings of maps text that can have symbols, sorted and disjoint:
 * *out (malloc'd, NULL for none) and *nout. 0, -EINVAL when no line is
 * valid, -ENOMEM. */
static int parse_maps(struct symbolizer *s, const char *text, size_t len, struct mapping **out,
		      size_t *nout)
{
	struct mapping *add = NULL;
	size_t nadd = 0, cap = 0, valid = 0;
	const char *p = text, *end = text + len;
	int rc;

	*out = NULL;
	*nout = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		struct vp_maps_line ml;

		if (eol == p) { /* empty line */
			p = eol + 1;
			continue;
		}
		rc = vp_maps_line_parse(p, eol, &ml);
		p = nl ? nl + 1 : end;
		if (!rc) {
			s->stats.bad_lines++;
			continue;
		}
		valid++;
		if (nadd == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct mapping *na = realloc(add, nc * sizeof(*na));

			if (!na) {
				free(add);
				return -ENOMEM;
			}
			add = na;
			cap = nc;
		}
		rc = mapping_of_line(s, &ml, &add[nadd]);
		if (rc < 0) {
			free(add);
			return rc;
		}
		nadd += (size_t)rc;
		/* code of a file: open and index it, read its DWARF, on the
		 * other core while the analysis goes on */
		if (rc && add[nadd - 1].exec && ml.path_len && ml.path[0] == '/')
			prewarm__add(s, add[nadd - 1].dso);
	}
	if (valid == 0) {
		free(add);
		return -EINVAL;
	}
	*out = add;
	*nout = keep_disjoint(s, add, nadd);
	return 0;
}

int symbolizer__add_maps(struct symbolizer *s, uint64_t key, const char *text, size_t len)
{
	struct mapping *add, *merged = NULL;
	size_t nadd, nmerged;
	struct space *sp;
	int err;

	if (!s || !text)
		return -EINVAL;
	err = parse_maps(s, text, len, &add, &nadd);
	if (err)
		return err;
	sp = space__get(s, key);
	if (!sp)
		err = -ENOMEM;
	if (!sp || nadd == 0)
		goto cleanup;
	err = merge_maps(sp->maps, sp->nmaps, add, nadd, &merged, &nmerged);
	if (err)
		goto cleanup;
	free(sp->maps);
	sp->maps = merged;
	sp->nmaps = nmerged;
	sp->gen++; /* every cached answer of this space must be recomputed */

cleanup:
	free(add);
	return err;
}

/* ------------------------------------------------------------------------ */
/* Lookup                                                                    */

static int cu_range_cmp(const void *a, const void *b)
{
	const struct cu_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * libdwfl finds the CU of an address through .debug_aranges only (elfutils
 * 0.188), and clang emits none unless -gdwarf-aranges: then every
 * dwfl_module_getsrc fails. Nor does it see gaps between the aranges it
 * has: in a Go program built with cgo only the C units have any, and an
 * address of Go code is taken for the C unit before it (runtime/cgo's
 * gcc_mmap.c). For such modules we build the table ourselves, once, from
 * each CU's DW_AT_ranges / low_pc+high_pc (`always`: even when there are
 * aranges). 0 or -ENOMEM; a module without DWARF simply gets no table.
 */
static int dso__build_cu_table(struct dso *d, int always)
{
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(d->mod, &bias);
	Dwarf_Aranges *ar;
	size_t nar = 0, cap = 0;
	Dwarf_Die *cu = NULL;

	d->cu_state = CU_TABLE_UNNEEDED;
	if (!dw || (!always && dwarf_getaranges(dw, &ar, &nar) == 0 && nar > 0))
		return 0;
	while ((cu = dwfl_module_nextcu(d->mod, cu, &bias)) != NULL) {
		Dwarf_Addr base, start, end;
		ptrdiff_t off = 0;

		while ((off = dwarf_ranges(cu, off, &base, &start, &end)) > 0) {
			if (start >= end)
				continue;
			if (d->ncus == cap) {
				size_t nc = cap ? cap * 2 : 64;
				struct cu_range *n = realloc(d->cus, nc * sizeof(*n));

				if (!n) {
					free(d->cus);
					d->cus = NULL;
					d->ncus = 0;
					d->cu_state = CU_TABLE_UNKNOWN; /* retry later */
					return -ENOMEM;
				}
				d->cus = n;
				cap = nc;
			}
			d->cus[d->ncus++] = (struct cu_range){ start, end, cu };
		}
	}
	if (d->ncus)
		qsort(d->cus, d->ncus, sizeof(*d->cus), cu_range_cmp);
	d->cu_bias = bias;
	d->cu_state = CU_TABLE_BUILT;
	return 0;
}

/* Source line of module address addr through the CU table (*cu: its
 * unit). */
static Dwarf_Line *dso__cu_line(const struct dso *d, uint64_t addr, Dwarf_Die **cu)
{
	uint64_t a = addr - d->cu_bias;
	size_t lo = 0, hi = d->ncus;

	/* Ranges of different CUs do not overlap in sane DWARF; take the last
	 * range starting at or below a and check it covers a. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->cus[mid].start <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || a >= d->cus[lo - 1].end)
		return NULL;
	*cu = d->cus[lo - 1].cu;
	return dwarf_getsrc_die(*cu, a);
}

static const struct mapping *space__mapping(const struct space *sp, uint64_t addr)
{
	size_t lo = 0, hi = sp->nmaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (addr < sp->maps[mid].start)
			hi = mid;
		else if (addr >= sp->maps[mid].end)
			lo = mid + 1;
		else
			return &sp->maps[mid];
	}
	return NULL;
}

static int resolve_file_addr(struct symbolizer *s, struct dso *d, uint64_t vaddr,
			     struct fentry *fe);
static int resolve_lines(struct symbolizer *s, struct fentry *fe);

/*
 * d as the analysis first needs it: opened (or failed) and indexed, a
 * file opened during the recording kept only if it is still what opening
 * it now would give. d's lock is taken only when d is not ready (the
 * worker reads a file's DWARF only once it is ready, so then it is not
 * in it) or to drop a stale file (which may wait for that read: rare).
 * An index that failed for want of memory leaves d not ready, for
 * resolve_file_addr to try again.
 */
static void dso__settle(struct symbolizer *s, struct dso *d)
{
	bool locked = !dso__ready(d);

	if (locked)
		dso__lock_for(s, d, true);
	if (d->early && d->state != DSO_NEW) {
		bool same = dso__unchanged(d);

		s->stats.prefetch_used += same;
		s->stats.prefetch_stale += !same;
		if (!same) {
			if (!locked)
				dso__lock_for(s, d, true);
			locked = true;
			dso__reset(d);
		}
	}
	if (locked) {
		(void)dso__prepare(d);
		pthread_mutex_unlock(&d->lock);
	}
}

static void fentry__fill(const struct fentry *fe, bool return_addr, struct vp_frame *f)
{
	if (fe->function) {
		f->function = fe->function;
		/* the offset of the ip as recorded, not of the ip - 1 looked up */
		f->fn_offset = fe->fn_offset + (return_addr ? 1 : 0);
	}
	if (fe->file) {
		f->file = fe->file;
		f->line = fe->line;
	}
}

/* Fill f for ip (f->ip already set), with file:line if want_lines; *fep =
 * the file address's entry (NULL if none). 0, -ENOENT or -ENOMEM. */
static int resolve_frame(struct symbolizer *s, const struct space *sp, uint64_t ip, bool return_addr,
			 bool want_lines, struct vp_frame *f, struct fentry **fep)
{
	/* A return address points after the call; ip - 1 is inside it. */
	uint64_t addr = return_addr ? ip - 1 : ip;
	const struct mapping *m = space__mapping(sp, addr);
	struct dso *d;
	struct fentry *fe;
	uint64_t vaddr, h;
	int rc;

	if (!m)
		return -ENOENT;
	d = m->dso;
	f->module = d->path;
	f->mod_offset = ip - m->start + m->pgoff;
	/* Code runs only from executable mappings; an "ip" elsewhere is a bad
	 * unwind and naming the nearest symbol would mislead. */
	if (!m->exec)
		return 0;
	if (!d->seen) {
		uint64_t t0 = vp_mono_ns();

		dso__settle(s, d);
		s->stats.open_ns += vp_mono_ns() - t0;
		d->seen = true; /* d->state is final from here */
		if (d->state == DSO_OK)
			s->stats.files_opened++;
		else
			s->stats.files_failed++;
		if (d->state == DSO_OK)
			prewarm__add(s, d);
	}
	if (d->state != DSO_OK || !dso__vaddr(d, addr - m->start + m->pgoff, &vaddr))
		return 0;
	vaddr += d->bias;

	h = vp_hash_mix(d->h.hash ^ vp_hash_mix(vaddr));
	for (struct u64map_node *e = u64map__chain(&s->faddrs, h); e; e = e->next) {
		fe = (struct fentry *)e;
		if (e->hash == h && fe->dso == d && fe->vaddr == vaddr) {
			s->stats.file_cache_hits++;
			if (want_lines && !fe->lines_done && resolve_lines(s, fe))
				return -ENOMEM;
			fentry__fill(fe, return_addr, f);
			*fep = fe;
			return 0;
		}
	}
	fe = calloc(1, sizeof(*fe));
	if (!fe)
		return -ENOMEM;
	fe->h.hash = h;
	fe->dso = d;
	fe->vaddr = vaddr;
	rc = resolve_file_addr(s, d, vaddr, fe);
	if (!rc)
		rc = u64map__chain_add(&s->faddrs, &fe->h);
	if (rc) {
		free(fe);
		return rc;
	}
	s->stats.file_cache_entries++;
	if (want_lines && resolve_lines(s, fe))
		return -ENOMEM;
	fentry__fill(fe, return_addr, f);
	*fep = fe;
	return 0;
}

/* Ask libdwfl about link-time address vaddr of d (opened): fills fe's
 * function and fn_offset from the symbol table. 0 or -ENOMEM. */
static int resolve_file_addr(struct symbolizer *s, struct dso *d, uint64_t vaddr,
			     struct fentry *fe)
{
	GElf_Off off;
	GElf_Sym sym;
	const char *name;

	if (!d->syms_seen) {
		uint64_t t0 = vp_mono_ns();

		if (!dso__ready(d)) { /* the index failed for want of memory */
			dso__lock_for(s, d, true);
			int err = dso__prepare(d);

			pthread_mutex_unlock(&d->lock);
			if (err)
				return err;
		}
		d->syms_seen = true; /* d->syms_state, d->syms are final */
		s->stats.index_ns += vp_mono_ns() - t0;
		s->stats.indexed_files += d->syms_state > 0;
		s->stats.indexed_symbols += symindex__size(d->syms);
	}
	if (d->syms_state > 0) {
		uint64_t o = 0;

		name = symindex__lookup(d->syms, vaddr, &o);
		off = o;
		s->stats.index_lookups++;
	} else {
		int rc = 0;

		dso__lock_for(s, d, true);
		name = dwfl_module_addrinfo(d->mod, vaddr, &off, &sym, NULL, NULL, NULL);
		if (name && name[0]) {
			fe->function = intern(s, name, strlen(name));
			fe->fn_offset = off;
			rc = fe->function ? 0 : -ENOMEM;
		}
		pthread_mutex_unlock(&d->lock);
		return rc;
	}
	if (name && name[0]) {
		fe->function = intern(s, name, strlen(name));
		if (!fe->function)
			return -ENOMEM;
		fe->fn_offset = off;
	}
	return 0;
}

/* Fill fe's file and line from the DWARF line table (the first call for a
 * file makes libdw read its DWARF). 0 or -ENOMEM (then fe is unchanged). */
static int lines_of(struct symbolizer *s, struct fentry *fe);

static int resolve_lines(struct symbolizer *s, struct fentry *fe)
{
	uint64_t t0 = vp_mono_ns();

	dso__lock(s, fe->dso);
	int rc = lines_of(s, fe);

	pthread_mutex_unlock(&fe->dso->lock);
	s->stats.lines_ns += vp_mono_ns() - t0;
	return rc;
}

/* When pc (in unit cu) is code inlined into the function that holds it,
 * the line in that function: the call site of the outermost inlined
 * subroutine. A frame is named by its symbol, the function the code was
 * inlined into, and its file:line must be that function's too (the line
 * table's row is the inlined callee's: `main.rawMap (syscall_linux.go:1211)`
 * for a syscall.Mmap inlined into main.rawMap). */
static void inline_call_site(Dwarf_Die *cu, Dwarf_Addr pc, const char **src, int *lineno)
{
	Dwarf_Die *scopes = NULL;
	int n = dwarf_getscopes(cu, pc, &scopes);
	int outer = -1;

	for (int i = 0; i < n; i++) {
		int tag = dwarf_tag(&scopes[i]);

		if (tag == DW_TAG_inlined_subroutine)
			outer = i;
		else if (tag == DW_TAG_subprogram)
			break;
	}
	if (outer >= 0) {
		Dwarf_Attribute at;
		Dwarf_Word file, line;
		Dwarf_Files *files;
		size_t nfiles;
		const char *f;

		if (dwarf_formudata(dwarf_attr(&scopes[outer], DW_AT_call_file, &at), &file) == 0 &&
		    dwarf_formudata(dwarf_attr(&scopes[outer], DW_AT_call_line, &at), &line) == 0 &&
		    line > 0 && dwarf_getsrcfiles(cu, &files, &nfiles) == 0 && file < nfiles &&
		    (f = dwarf_filesrc(files, file, NULL, NULL)) != NULL && f[0]) {
			*src = f;
			*lineno = line <= INT_MAX ? (int)line : 0;
		}
	}
	free(scopes);
}

static int lines_of(struct symbolizer *s, struct fentry *fe)
{
	struct dso *d = fe->dso;
	uint64_t vaddr = fe->vaddr;
	const char *src = NULL;
	Dwfl_Line *line;
	Dwarf_Die *cu = NULL;
	Dwarf_Addr bias = 0;
	int lineno = 0;

	line = dwfl_module_getsrc(d->mod, vaddr);
	cu = line ? dwfl_linecu(line) : NULL;
	if (cu && !dwfl_module_getdwarf(d->mod, &bias))
		cu = NULL;
	/* stray: the unit libdwfl found the line in does not cover vaddr (a
	 * gap in the aranges it does not see: dso__build_cu_table); a unit that
	 * says nothing of its ranges is taken at its word */
	int stray = cu && dwarf_haspc(cu, vaddr - bias) == 0;
	if (line && !stray) {
		src = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
	} else {
		Dwarf_Line *dl;

		cu = NULL; /* the table's unit, if it has one */
		if ((d->cu_state == CU_TABLE_UNKNOWN || (stray && d->cu_state == CU_TABLE_UNNEEDED)) &&
		    dso__build_cu_table(d, stray))
			return -ENOMEM;
		dl = d->cu_state == CU_TABLE_BUILT ? dso__cu_line(d, vaddr, &cu) : NULL;
		if (dl) {
			src = dwarf_linesrc(dl, NULL, NULL);
			if (dwarf_lineno(dl, &lineno))
				lineno = 0;
			bias = d->cu_bias;
		}
	}
	if (src && cu)
		inline_call_site(cu, vaddr - bias, &src, &lineno);
	if (src && src[0]) {
		fe->file = intern(s, src, strlen(src));
		if (!fe->file)
			return -ENOMEM;
		fe->line = lineno > 0 ? lineno : 0;
	}
	fe->lines_done = true;
	s->stats.lines_resolved++;
	return 0;
}

/* The frame handed out: without file:line unless they are wanted. */
static void frame_out(const struct vp_frame *f, bool want_lines, struct vp_frame *out)
{
	*out = *f;
	if (!want_lines) {
		out->file = NULL;
		out->line = 0;
	}
}

/* The cache entry of (sp, ip, return_addr) under hash h, NULL if none. */
static struct centry *cache__find(const struct symbolizer *s, const struct space *sp, uint64_t h,
				  uint64_t ip, bool return_addr)
{
	for (struct u64map_node *e = u64map__chain(&s->cache, h); e; e = e->next) {
		struct centry *x = (struct centry *)e;

		if (e->hash == h && x->space == sp && x->ip == ip && x->return_addr == return_addr)
			return x;
	}
	return NULL;
}

/* The answer of a valid cache entry; a frame asked for before without its
 * line gets it now when wanted. */
static int cache__answer(struct symbolizer *s, struct centry *c, bool return_addr,
			 bool want_lines, struct vp_frame *out)
{
	uint64_t t0;
	int rc;

	s->stats.cache_hits++;
	if (want_lines && !c->has_lines) {
		if (!c->fe->lines_done) {
			t0 = vp_mono_ns();
			rc = resolve_lines(s, c->fe);
			s->stats.resolve_ns += vp_mono_ns() - t0;
			if (rc)
				return rc;
		}
		fentry__fill(c->fe, return_addr, &c->frame);
		c->has_lines = true;
	}
	frame_out(&c->frame, want_lines, out);
	return c->rc;
}

/* Remember the answer rc, f (fe: its file address's entry) of (sp, ip,
 * return_addr) in c, a stale entry, or a new one (c NULL). An answer
 * that cannot be cached is right all the same. */
static void cache__store(struct symbolizer *s, struct centry *c, struct space *sp, uint64_t h,
			 uint64_t ip, bool return_addr, int rc, struct fentry *fe,
			 const struct vp_frame *f)
{
	if (!c) {
		c = node_new(&s->cache, sizeof(*c), h);
		if (!c)
			return;
		c->space = sp;
		c->ip = ip;
		c->return_addr = return_addr;
		s->stats.cache_entries++;
	}
	c->gen = sp->gen;
	c->rc = rc;
	c->fe = fe;
	c->has_lines = !fe || fe->lines_done;
	c->frame = *f;
}

static int lookup(struct symbolizer *s, uint64_t key, uint64_t ip, bool return_addr,
		  bool want_lines, struct vp_frame *out)
{
	struct space *sp;
	struct centry *c;
	struct fentry *fe = NULL;
	struct vp_frame f = { .ip = ip };
	uint64_t h, t0;
	int rc;

	if (!out)
		return -EINVAL;
	*out = f;
	if (!s)
		return -EINVAL;
	s->stats.lookups++;
	sp = space__find(s, key);
	if (!sp)
		return -ENOENT;

	h = vp_hash_mix(vp_hash_mix(key) ^ ip ^ (return_addr ? 0x8000000000000000ULL : 0));
	c = cache__find(s, sp, h, ip, return_addr);
	if (c && c->gen == sp->gen)
		return cache__answer(s, c, return_addr, want_lines, out);

	t0 = vp_mono_ns();
	rc = resolve_frame(s, sp, ip, return_addr, want_lines, &f, &fe);
	s->stats.resolve_ns += vp_mono_ns() - t0;
	if (rc == -ENOMEM)
		return rc; /* transient: not worth remembering */
	frame_out(&f, want_lines, out);
	cache__store(s, c, sp, h, ip, return_addr, rc, fe, &f);
	return rc;
}

int symbolizer__lookup(struct symbolizer *s, uint64_t key, uint64_t ip, bool return_addr,
		       struct vp_frame *out)
{
	return lookup(s, key, ip, return_addr, true, out);
}

int symbolizer__lookup_fn(struct symbolizer *s, uint64_t key, uint64_t ip, bool return_addr,
			  struct vp_frame *out)
{
	return lookup(s, key, ip, return_addr, false, out);
}

/* ------------------------------------------------------------------------ */
/* Prefetch during a recording                                               */

/* The symbolizer the next symbolizer__new of this process starts from. */
static struct symbolizer *donated;
static pthread_mutex_t donated_lock = PTHREAD_MUTEX_INITIALIZER;

/* The worker back at normal priority: the analysis waits for it now. */
static void symbolizer__foreground(struct symbolizer *s)
{
	struct sched_param sp = { 0 };

	pthread_mutex_lock(&s->pw.lock);
	if (s->pw.background && s->pw.tid)
		(void)sched_setscheduler(s->pw.tid, SCHED_OTHER, &sp);
	s->pw.background = false;
	pthread_mutex_unlock(&s->pw.lock);
}

int symbolizer__prefetch_new(struct symbolizer **out)
{
	int err;

	*out = NULL;
	if (debuginfod_allowed < 0) {
		const char *e = getenv("VMAPROF_DEBUGINFOD");

		debuginfod_allowed = e && !strcmp(e, "1");
	}
	if (debuginfod_allowed) /* a server's answer may change meanwhile */
		return -EOPNOTSUPP;
	err = symbolizer__new(out);
	if (!err)
		(*out)->pw.background = true;
	return err;
}

int symbolizer__prefetch_maps(struct symbolizer *s, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		struct vp_maps_line ml;
		struct dso *d;

		if (eol > p && vp_maps_line_parse(p, eol, &ml) && ml.exec && ml.path_len &&
		    ml.path[0] == '/') {
			d = dso__get(s, ml.path, ml.path_len, ml.ino, false);
			if (!d)
				return -ENOMEM;
			if (!d->queued) {
				d->early = true; /* before the worker can see it */
				prewarm__add(s, d);
			}
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

struct symbolizer *symbolizer__donate(struct symbolizer *s)
{
	struct symbolizer *old;

	pthread_mutex_lock(&donated_lock);
	old = donated;
	donated = s;
	pthread_mutex_unlock(&donated_lock);
	return old;
}

/* ------------------------------------------------------------------------ */

int symbolizer__new(struct symbolizer **out)
{
	struct symbolizer *s;

	if (!out)
		return -EINVAL;
	*out = NULL;
	pthread_mutex_lock(&donated_lock);
	s = donated;
	donated = NULL;
	pthread_mutex_unlock(&donated_lock);
	if (s) {
		symbolizer__foreground(s);
		*out = s;
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (debuginfod_allowed < 0) {
		const char *e = getenv("VMAPROF_DEBUGINFOD");

		debuginfod_allowed = e && !strcmp(e, "1");
	}
	/* libdwfl (libelf) refuses to work until a version is declared. */
	elf_version(EV_CURRENT);
	pthread_mutex_init(&s->pw.lock, NULL);
	pthread_cond_init(&s->pw.cond, NULL);
	*out = s;
	return 0;
}

void symbolizer__stats(const struct symbolizer *s, struct vp_symbolizer_stats *out)
{
	if (!out)
		return;
	if (!s) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = s->stats;
	pthread_mutex_lock((pthread_mutex_t *)&s->pw.lock);
	out->prewarm_files = s->pw.files;
	out->prewarm_queued = s->pw.n;
	out->prewarm_ns = s->pw.ns;
	pthread_mutex_unlock((pthread_mutex_t *)&s->pw.lock);
}

void symbolizer__free(struct symbolizer *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->pw.lock);
	s->pw.stop = true; /* what it has not started is not needed any more */
	pthread_cond_signal(&s->pw.cond);
	if (s->pw.busy) {
		/* in libdw for a file whose DWARF nobody asked for (a summary
		 * without lines): do not wait, it frees everything when done
		 * (or the process ends first) */
		s->pw.orphan = true;
		pthread_detach(s->pw.thread);
		pthread_mutex_unlock(&s->pw.lock);
		return;
	}
	pthread_mutex_unlock(&s->pw.lock);
	if (s->pw.started)
		pthread_join(s->pw.thread, NULL);
	symbolizer__destroy(s);
}

/* Everything of s, the worker gone (or being it). */
static void symbolizer__destroy(struct symbolizer *s)
{
	free(s->pw.q);
	pthread_cond_destroy(&s->pw.cond);
	pthread_mutex_destroy(&s->pw.lock);
	u64map__chain_free(&s->cache, node_free);
	u64map__chain_free(&s->faddrs, node_free);
	u64map__chain_free(&s->spaces, space__free);
	u64map__chain_free(&s->dsos, dso__free);
	u64map__chain_free(&s->strings, node_free);
	free(s);
}

const char *vp_frame_anon(const struct vp_frame *f, char *buf, size_t n)
{
	if (f->module) {
		const char *b = strrchr(f->module, '/');
		snprintf(buf, n, "%s+0x%llx", b ? b + 1 : f->module,
			 (unsigned long long)f->mod_offset);
	} else {
		snprintf(buf, n, "0x%llx", (unsigned long long)f->ip);
	}
	return buf;
}

int symbolizer__open_as(struct symbolizer *s, const char *path, uint64_t ino,
			const char *open_path)
{
	struct dso *d;
	const char *o;

	if (!s || !path || !open_path)
		return -EINVAL;
	d = dso__get(s, path, strlen(path), ino, false);
	o = d ? intern(s, open_path, strlen(open_path)) : NULL;
	if (!o)
		return -ENOMEM;
	if (d->open == o)
		return 0;
	dso__lock_for(s, d, true);
	/* opened already by the name (a maps snapshot's line, a prefetch):
	 * a failed open is tried again the new way; a good one stays */
	if (d->state == DSO_FAILED)
		dso__reset(d);
	if (d->state == DSO_NEW)
		d->open = o;
	pthread_mutex_unlock(&d->lock);
	return 0;
}
