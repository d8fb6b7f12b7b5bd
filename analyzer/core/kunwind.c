/* SPDX-License-Identifier: MIT */
/*
 * Kernel stacks unwound afterwards (kunwind.h), in the replay where the
 * VP_REC_KSTACK's entry is made: the process's module map at that moment
 * is what the timeline knows (its live entries with a file path: a maps
 * snapshot's, `record -p`'s at the attach, the kernel's mmap records' --
 * those with the inode the file must have here) and, for a main executable no
 * entry names (a static binary, mapped by exec in the kernel), its ELF
 * placed by the record's mm->start_code. That map, as /proc/PID/maps text,
 * is handed to libdwfl (dwfl_linux_proc_maps_report) and to the symbolizer
 * (the per-process stack file's space); libdwfl's unwinder
 * (dwfl_attach_state, dwfl_getthread_frames) starts from the record's
 * registers and reads the stack from its copy. A read outside the copy
 * ends the stack (the copy was too short); so does a frame without CFI
 * (libdwfl's x86_64 frame-pointer fallback tried first). A few Dwfls,
 * shared by the processes (struct kslot); a process's map is made again
 * only when the entries it is made from change (map_key).
 */
#include "kunwind.h"
#include "symbolize.h"

#include <elfutils/libdwfl.h>
#include <dirent.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KU_DEPTH 128 /* frames kept */

/* What the unwinder's callbacks read: the record being unwound. */
struct kctx {
	const struct vp_kstack *k;
	int outside; /* a read fell outside the copy */
};

struct kspace {
	struct u64map by_ips; /* write stacks: hash of the frames -> id (dedup) */
	struct vp_buf text; /* its module map, libdwfl's maps text (n 0: none) */
	uint64_t hash;   /* of text */
	uint64_t key;    /* of the entries text was made from (map_key), 0 none */
	int ok;          /* a Dwfl could be made from text */
	uint64_t *mods;  /* mod_hash of each module text reports */
	uint32_t nmods;
	int slot;        /* the slot it was last unwound in, -1 none */
	uint32_t file;   /* the process's stack file in a->files */
	uint32_t next_id;
};

/* What a path names here (stat), asked once per report: the processes of
 * a tree name the same files (a CPython pool's, ~30 each), and asking for
 * each file of each map made (three system calls a file) was two thirds
 * of that pool's unwinding time. */
struct kpath {
	struct kpath *next; /* same hash */
	int err;            /* stat failed */
	int reg;            /* a regular file */
	uint64_t ino;
	char name[];
};

/* What /proc says of a pid, asked once per report: whether its root is
 * another (other_root), whether its map_files could not be opened (gone:
 * it stays gone). */
struct kpid {
	int root; /* 0 not asked yet, 1 ours (or gone), 2 another */
	int gone;
};

/* A Dwfl shared by processes: each process's stacks are unwound in the
 * slot it was first given (a free one, else the one holding most of its
 * modules, slot_for), its map reported there again whenever the slot last
 * held another. libdwfl keeps a module reported again with the same file
 * name and range (dwfl_report_begin, dwfl_report_module), and with it its
 * ELF and what it parsed of its CFI: a process whose map changes (a module
 * loaded) keeps the rest, and a tree of more processes than slots shares
 * the common libraries. (A new Dwfl per change of a process's map read
 * libpython's ELF and CFI again 14 times for a CPython pool's 5
 * processes. One slot for all was tried: the pool's parent and workers
 * report libc as different modules -- their entries come in another
 * order, so its segments make one module or two -- and alternating
 * between them made those again at every switch.) */
struct kslot {
	Dwfl *dwfl;           /* NULL: none yet, or the last report failed */
	struct vp_buf cur;    /* the text its modules were last reported from */
	struct u64map mods;   /* their mod_hash -> 1 */
	int machine, elfclass; /* of its thread state (dwfl_attach_state) */
	/* the ELF the thread state's backend was made from, open as long as
	 * the Dwfl: left to libdwfl, it takes a module's, freed with the
	 * module when a process without that module is reported */
	Elf *st_elf;
	int st_fd;
	uint64_t used;        /* ku->tick when last used */
};

#define KU_SLOTS 4

struct kunwind {
	struct u64map spaces; /* pid key -> struct kspace */
	struct u64map paths;  /* vp_hash_str -> struct kpath chain */
	struct u64map pids;   /* pid + 1 -> struct kpid */
	struct kslot slot[KU_SLOTS];
	uint64_t tick;
	struct kctx ctx;
};

static int path_stat(struct kunwind *ku, const char *name, int *reg, uint64_t *ino)
{
	uint64_t h = vp_hash_str(name);
	void **slot = u64map__slot(&ku->paths, h);
	if (!slot)
		model__oom();
	struct kpath *c = *slot;
	while (c && strcmp(c->name, name))
		c = c->next;
	if (!c) {
		struct stat st;
		size_t n = strlen(name);
		c = model__alloc(sizeof(*c) + n + 1);
		memcpy(c->name, name, n + 1);
		c->err = stat(name, &st) != 0;
		c->reg = !c->err && S_ISREG(st.st_mode);
		c->ino = c->err ? 0 : (uint64_t)st.st_ino;
		c->next = *slot;
		*slot = c;
	}
	*reg = c->reg;
	*ino = c->ino;
	return c->err ? -1 : 0;
}

static struct kpid *pid_of(struct kunwind *ku, pid_t pid)
{
	void **slot = u64map__slot(&ku->pids, (uint64_t)(uint32_t)pid + 1);
	if (!slot)
		model__oom();
	if (!*slot)
		*slot = model__alloc(sizeof(struct kpid));
	return *slot;
}

static pid_t ku_next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	struct kctx *c = arg;
	if (*thread_argp)
		return 0;
	*thread_argp = arg;
	return (pid_t)c->k->h.tid;
}

static bool ku_get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct kctx *c = arg;
	*thread_argp = arg;
	return (uint32_t)tid == c->k->h.tid;
}

static bool ku_memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct kctx *c = arg;
	const struct vp_kstack *k = c->k;
	if (addr < k->stack_base || addr - k->stack_base > (uint64_t)k->stack_len - 8 ||
	    k->stack_len < 8) {
		c->outside = 1;
		return false;
	}
	memcpy(result, (const char *)(k + 1) + (addr - k->stack_base), sizeof(*result));
	return true;
}

static bool ku_set_regs(Dwfl_Thread *thread, void *arg)
{
	struct kctx *c = arg;
	Dwarf_Word r[VP_KREGS];
	for (int i = 0; i < VP_KREGS; i++)
		r[i] = c->k->regs[i];
	return dwfl_thread_state_registers(thread, 0, VP_KREGS, r);
}

static const Dwfl_Thread_Callbacks ku_callbacks = {
	.next_thread = ku_next_thread,
	.get_thread = ku_get_thread,
	.memory_read = ku_memory_read,
	.set_initial_registers = ku_set_regs,
};

/* No separate debug files: the unwinder asks for one where a module's
 * .eh_frame does not cover a pc (a hand-written entry point, the end of a
 * stack), and libdw then decompresses every debug section of it (libc6-dbg's
 * ld.so: 8 ms for each Dwfl; a tree of 300 /bin/true, 42 sampled write
 * stacks, spent 0.37 s there). Unwinding keeps .eh_frame, a module's own
 * .debug_frame and libdwfl's frame-pointer fallback; names come from the
 * symbolizer, which reads debug files once per file. */
static int ku_no_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			   Dwarf_Addr base, const char *file_name, const char *debuglink_file,
			   GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	return -1;
}

static const Dwfl_Callbacks ku_dwfl_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = ku_no_debuginfo,
};

/* One line as /proc/PID/maps prints it ("%llx-%llx rwxp %08llx 00:00 %llu
 * %s\n"), by hand: the maps of every kernel stack's process are made
 * (and read back, mods_of) line by line, and printf was a tenth of an
 * attach recording's analysis (bench/NOTES.md). */
static void maps_line(struct vp_buf *t, uint64_t lo, uint64_t hi, uint8_t prot, uint64_t off,
		      uint64_t ino, const char *name)
{
	char b[128], *e = b + sizeof(b), *q;
	size_t nl = strlen(name);
	/* the fields back to front, into the end of b */
	q = e;
	*--q = ' ';
	do {
		*--q = (char)('0' + ino % 10);
		ino /= 10;
	} while (ino);
	q -= 7;
	memcpy(q, " 00:00 ", 7);
	q = vp_hex_into(q, off, 8);
	q -= 6;
	q[0] = ' ';
	q[1] = prot & 1 ? 'r' : '-';
	q[2] = prot & 2 ? 'w' : '-';
	q[3] = prot & 4 ? 'x' : '-';
	q[4] = 'p';
	q[5] = ' ';
	q = vp_hex_into(q, hi, 1);
	*--q = '-';
	q = vp_hex_into(q, lo, 1);
	if (vp_buf_room(t, (size_t)(e - q) + nl + 1))
		model__oom();
	memcpy(t->p + t->n, q, (size_t)(e - q));
	t->n += (size_t)(e - q);
	memcpy(t->p + t->n, name, nl);
	t->n += nl;
	t->p[t->n++] = '\n';
	t->p[t->n] = '\0';
}

/* The module map twice: for libdwfl, each line naming the file to open
 * (dwfl); for the symbolizer, the name the frames show (sym), each file
 * whose name is not the way to it told with symbolizer__open_as. */
struct mtext {
	struct vp_buf dwfl, sym;
	/* files already placed: shown name -> the file opened (one per name,
	 * so that libdwfl sees all of a file's segments as one module) */
	struct {
		const char *name;
		char *open;
		uint64_t ino;
	} *f;
	uint32_t nf;
};

static int ends_with_deleted(const char *p)
{
	static const char del[] = " (deleted)";
	size_t n = strlen(p);
	return n >= sizeof(del) - 1 && !strcmp(p + n - (sizeof(del) - 1), del);
}

/* Whether process pid (alive) has another root than ours: a container's
 * (pivot_root) or a chroot's, where the paths its maps show are its own
 * and the same path here may be another file. */
static int other_root(struct kunwind *ku, pid_t pid)
{
	struct kpid *c = pid_of(ku, pid);
	if (!c->root) {
		char path[64];
		struct stat a, b;
		snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
		c->root = !stat(path, &a) && !stat("/", &b) &&
				  (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
			  ? 2
			  : 1;
	}
	return c->root == 2;
}

/* The file live process pid maps over [lo, hi) as `name` (what its
 * /proc/PID/maps says; with by_base, only the base names must agree: an
 * exec's path as given), reached through its /proc/PID/map_files link:
 * a deleted file, one in another mount namespace or root. The target must
 * read as name, so that a pid reused since is not taken for the traced
 * process. out: the link. 0, or -1: not alive, no such mapping. */
static int live_file(struct kunwind *ku, pid_t pid, uint64_t lo, uint64_t hi, const char *name,
		     int by_base, char *out, size_t n)
{
	char dir[64], link[384], tgt[4096];
	struct kpid *c = pid_of(ku, pid);
	if (c->gone)
		return -1;
	snprintf(dir, sizeof(dir), "/proc/%d/map_files", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = -1;
	if (!d) {
		c->gone = 1;
		return -1;
	}
	while (rc && (e = readdir(d))) {
		unsigned long long a, b;
		if (sscanf(e->d_name, "%llx-%llx", &a, &b) != 2 || b <= lo || a >= hi)
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t k = readlink(link, tgt, sizeof(tgt) - 1);
		if (k <= 0)
			continue;
		tgt[k] = 0;
		if (by_base) {
			char want[4096];
			snprintf(want, sizeof(want), "%s", vp_base_name(name));
			if (ends_with_deleted(want))
				want[strlen(want) - 10] = 0;
			if (ends_with_deleted(tgt))
				tgt[k - 10] = 0;
			if (strcmp(vp_base_name(tgt), want))
				continue;
		} else if (strcmp(tgt, name)) {
			continue;
		}
		snprintf(out, n, "%s", link);
		rc = 0;
	}
	closedir(d);
	return rc;
}

/* The file to open for p's mapping [lo, hi) named `name`, placed in m
 * (NULL: none to be had -- gone, or deleted and the process with it). */
static const char *file_for(struct kunwind *ku, struct mtext *m, pid_t pid, uint64_t lo,
			    uint64_t hi, const char *name, int by_base, uint64_t want, uint64_t *ino)
{
	for (uint32_t i = 0; i < m->nf; i++)
		if (!strcmp(m->f[i].name, name)) {
			*ino = m->f[i].ino;
			return m->f[i].open;
		}
	struct stat st;
	char alt[384];
	const char *open = name;
	int reg = 0;
	uint64_t at = 0;
	int here = name[0] == '/' && !ends_with_deleted(name) && !path_stat(ku, name, &reg, &at);
	if (!here || other_root(ku, pid)) {
		if (!live_file(ku, pid, lo, hi, name, by_base, alt, sizeof(alt)))
			open = alt;
		else if (!here)
			return NULL; /* gone: nothing to unwind or symbolize with */
	}
	if (open != name) {
		if (stat(open, &st))
			return NULL;
		reg = S_ISREG(st.st_mode);
		at = (uint64_t)st.st_ino;
	}
	if (!reg)
		return NULL;
	if (want && at != want) {
		/* the collector read another inode (VP_MEM_KPATH): the path
		 * names another file here (a container's, one replaced
		 * since): the mapped one through map_files, or none */
		if (open == alt || live_file(ku, pid, lo, hi, name, by_base, alt, sizeof(alt)) ||
		    stat(alt, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_ino != want)
			return NULL;
		open = alt;
		at = (uint64_t)st.st_ino;
	}
	m->f = model__realloc(m->f, (m->nf + 1) * sizeof(*m->f));
	m->f[m->nf].name = name;
	m->f[m->nf].open = strdup(open);
	m->f[m->nf].ino = at;
	if (!m->f[m->nf].open)
		model__oom();
	*ino = at;
	return m->f[m->nf++].open;
}

static void mtext_line(struct kunwind *ku, struct mtext *m, pid_t pid, uint64_t lo, uint64_t hi,
		       uint8_t prot, uint64_t off, const char *name, uint64_t want)
{
	uint64_t ino;
	const char *open = file_for(ku, m, pid, lo, hi, name, 0, want, &ino);
	if (!open)
		return;
	maps_line(&m->dwfl, lo, hi, prot, off, ino, open);
	maps_line(&m->sym, lo, hi, prot, off, ino, name);
}

/* The main executable's PT_LOAD segments, placed so that its lowest
 * executable segment starts at start_code (binfmt_elf's start_code): the
 * ELF read from `file`, the lines naming `name`. */
static void exe_lines(struct mtext *m, const char *file, const char *name, uint64_t ino,
		      uint64_t start_code)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	elf_version(EV_CURRENT);
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	size_t n = 0;
	GElf_Phdr ph;
	uint64_t xmin = UINT64_MAX;
	if (e && !elf_getphdrnum(e, &n)) {
		for (size_t i = 0; i < n; i++)
			if (gelf_getphdr(e, (int)i, &ph) && ph.p_type == PT_LOAD &&
			    (ph.p_flags & PF_X) && ph.p_vaddr < xmin)
				xmin = ph.p_vaddr;
		for (size_t i = 0; xmin != UINT64_MAX && i < n; i++) {
			if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD || !ph.p_filesz)
				continue;
			uint64_t bias = start_code - xmin;
			uint64_t lo = (bias + ph.p_vaddr) & ~4095ull;
			uint64_t hi = (bias + ph.p_vaddr + ph.p_filesz + 4095) & ~4095ull;
			uint8_t prot = (ph.p_flags & PF_R ? 1 : 0) | (ph.p_flags & PF_W ? 2 : 0) |
				       (ph.p_flags & PF_X ? 4 : 0);
			maps_line(&m->dwfl, lo, hi, prot, ph.p_offset & ~4095ull, ino, file);
			maps_line(&m->sym, lo, hi, prot, ph.p_offset & ~4095ull, ino, name);
		}
	}
	if (e)
		elf_end(e);
	close(fd);
}

/* The entries module_map looks at (map_n of them, map_entry: NULL when
 * entry i is not one of p's file mappings at k's time). */
static uint32_t map_n(const struct proc *p, const struct vp_kstack *k)
{
	return k->h.flags & VP_KSTACK_WRITE ? p->nv : p->nlive;
}

static const struct vma *map_entry(const struct proc *p, const struct vp_kstack *k, uint32_t i)
{
	int at = !!(k->h.flags & VP_KSTACK_WRITE);
	const struct vma *e = at ? &p->v[i] : &p->v[p->live[i]];
	if (at && (e->valid_from > k->h.time_ns || e->destroyed_ns <= k->h.time_ns))
		return NULL;
	if (!e->path || e->path[0] != '/' || e->anonymous)
		return NULL;
	return e;
}

/* What module_map makes p's map from, as a nonzero hash: the entries it
 * takes (their ranges, protections, offsets and interned paths), the
 * executable, its start_code and the pid. Equal keys make equal texts (a
 * live process's files aside: not asked again), so a stack whose key is its
 * process's last one is unwound in the map already made. */
static uint64_t map_key(const struct proc *p, const struct vp_kstack *k)
{
	uint64_t h = 0xcbf29ce484222325ull;
	struct {
		uint64_t start, end, offset, prot;
		uintptr_t path;
	} x;
	uint32_t n = map_n(p, k);
	for (uint32_t i = 0; i < n; i++) {
		const struct vma *e = map_entry(p, k, i);
		if (!e)
			continue;
		memset(&x, 0, sizeof(x));
		x.start = e->start;
		x.end = e->end;
		x.offset = e->offset;
		x.prot = e->prot;
		x.path = (uintptr_t)e->path;
		h = (h ^ vp_hash_bytes(&x, sizeof(x))) * 0x100000001b3ull;
	}
	memset(&x, 0, sizeof(x));
	x.start = k->start_code;
	x.end = k->h.pid;
	x.prot = !!(k->h.flags & VP_KSTACK_WRITE);
	x.path = (uintptr_t)p->exe;
	h = (h ^ vp_hash_bytes(&x, sizeof(x))) * 0x100000001b3ull;
	return h | 1;
}

/* p's module map now (the replay's live entries), or for a write stack
 * (after the replay) at the record's time (m->dwfl.n 0: none known). A
 * path that does not name the mapped file here -- deleted, relative (an
 * exec's path as given), a container's or chroot's -- is reached through
 * the live process's /proc/PID/map_files (record -p: the report is written
 * while it runs); once it is gone, such a file is left out (a container's
 * path that exists here is taken as it is). */
static void module_map(struct kunwind *ku, struct proc *p, const struct vp_kstack *k,
		       struct mtext *m)
{
	int exe_seen = 0;
	uint32_t n = map_n(p, k);
	for (uint32_t i = 0; i < n; i++) {
		const struct vma *e = map_entry(p, k, i);
		if (!e)
			continue;
		if (p->exe && !strcmp(e->path, p->exe))
			exe_seen = 1;
		mtext_line(ku, m, (pid_t)k->h.pid, e->start, e->end, e->prot, e->offset, e->path,
			   e->ino);
	}
	if (!exe_seen && p->exe && k->start_code) {
		uint64_t ino;
		const char *open = file_for(ku, m, (pid_t)k->h.pid, k->start_code,
					    k->start_code + 1, p->exe, 1, 0, &ino);
		/* the frames name it by an absolute path: the link's target
		 * when the exec's path is relative */
		const char *name = p->exe;
		char tgt[4096];
		if (open && name[0] != '/') {
			ssize_t n = readlink(open, tgt, sizeof(tgt) - 1);
			if (n > 0) {
				tgt[n] = 0;
				name = tgt;
			}
		}
		if (open && name[0] == '/')
			exe_lines(m, open, name, ino, k->start_code);
	}
}

static void mtext_free(struct mtext *m)
{
	for (uint32_t i = 0; i < m->nf; i++)
		free(m->f[i].open);
	free(m->f);
	free(m->dwfl.p);
	free(m->sym.p);
}

/* A new stack file for p's kernel stacks: no trace file behind it. */
static uint32_t new_file(struct analysis *a, struct proc *p)
{
	a->files = model__realloc(a->files, (a->nfiles + 1) * sizeof(*a->files));
	struct tfile *f = &a->files[a->nfiles];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "(kernel stacks of %u)", p->pid);
	f->pid = p->pid;
	f->own_stacks = 1;
	f->kstacks = 1;
	return a->nfiles++;
}

/* The ELF machine and class of the first module with an ELF, in the order
 * dwfl_attach_state looks for one to take its thread state's from. */
struct first_elf {
	int machine, elfclass, found;
	const char *file; /* its file (the module's, libdwfl's copy) */
};

static int first_elf_cb(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr base,
			void *arg)
{
	struct first_elf *f = arg;
	const char *sp = strrchr(name, ' ');
	GElf_Ehdr eh;
	Dwarf_Addr bias;
	if (!strncmp(name, "[vdso: ", 7) || (sp && !strcmp(sp, " (deleted)")))
		return DWARF_CB_OK;
	Elf *e = dwfl_module_getelf(mod, &bias);
	if (!e || !gelf_getehdr(e, &eh))
		return DWARF_CB_OK;
	f->machine = eh.e_machine;
	f->elfclass = eh.e_ident[EI_CLASS];
	f->found = 1;
	(void)dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, &f->file, NULL);
	return DWARF_CB_ABORT;
}

static void end_dwfl(struct kslot *ku)
{
	if (ku->dwfl)
		dwfl_end(ku->dwfl);
	ku->dwfl = NULL;
	if (ku->st_elf)
		elf_end(ku->st_elf);
	ku->st_elf = NULL;
	if (ku->st_fd >= 0)
		close(ku->st_fd);
	ku->st_fd = -1;
	u64map__free(&ku->mods);
	memset(&ku->mods, 0, sizeof(ku->mods));
}

/* The modules a maps text reports (dwfl_linux_proc_maps_report: a run of
 * lines of one file, inode not 0, is one module), each as a hash of its
 * name and range: into *out (n of them). */
static void mods_of(const struct vp_buf *t, uint64_t **out, uint32_t *n)
{
	const char *p = t->p, *end = t->p + t->n;
	unsigned long long lo = 0, hi = 0, ino = 0, last_ino = 0;
	const char *name = NULL, *last = NULL;
	size_t nl = 0, last_nl = 0;
	uint32_t cap = 0;
	*out = NULL;
	*n = 0;
	for (;;) {
		unsigned long long a = 0, b = 0;
		const char *eol = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		int more = eol != NULL;
		if (more) {
			struct vp_maps_line ml;
			if (!vp_maps_line_parse(p, eol, &ml)) {
				more = 0;
			} else {
				a = ml.start;
				b = ml.end;
				ino = ml.ino;
				name = ml.path;
				nl = ml.path_len;
			}
		}
		if (more && (!ino || !nl || name[0] != '/')) {
			p = eol + 1;
			continue;
		}
		if (last && (!more || ino != last_ino)) {
			uint64_t x[2] = { lo, hi };
			uint64_t h = vp_hash_bytes(x, sizeof(x)) ^ vp_hash_bytes(last, last_nl);
			*out = model__grow(*out, &cap, *n + 1, sizeof(**out));
			(*out)[(*n)++] = h | 1;
			last = NULL;
		}
		if (!more)
			break;
		if (!last) {
			last = name;
			last_nl = nl;
			last_ino = ino;
			lo = a;
		}
		hi = b;
		p = eol + 1;
	}
}

/* Slot ku's Dwfl with the modules of text (pid's): 0, or -1 when a Dwfl
 * made from text alone could not be made or given a thread state (its
 * process then has no stacks, as before the slots). Modules of the map
 * reported before that are in text too, with the same file and range, are
 * kept with what libdwfl read of them; the others are dropped. */
static int report(struct kslot *ku, struct kctx *ctx, const struct vp_buf *text, pid_t pid)
{
	if (ku->dwfl && ku->cur.n == text->n && !memcmp(ku->cur.p, text->p, text->n))
		return 0;
	ku->cur.n = 0;
	if (vp_buf_put(&ku->cur, text->p, text->n))
		model__oom();
	int fresh = !ku->dwfl;
	if (fresh && !(ku->dwfl = dwfl_begin(&ku_dwfl_callbacks)))
		return -1;
	FILE *mf = fmemopen(text->p, text->n, "r");
	dwfl_report_begin(ku->dwfl);
	int bad = !mf || dwfl_linux_proc_maps_report(ku->dwfl, mf) ||
		  dwfl_report_end(ku->dwfl, NULL, NULL);
	if (mf)
		fclose(mf);
	struct first_elf f = { 0 };
	if (!bad)
		(void)dwfl_getmodules(ku->dwfl, first_elf_cb, &f, 0);
	/* the thread state was made with the slot's Dwfl, from the modules
	 * of then: one made for these alone would be another machine's (or
	 * none could be made: no ELF among them) */
	if (!bad && !fresh && (!f.found || f.machine != ku->machine || f.elfclass != ku->elfclass))
		bad = 1;
	if (!bad && fresh) {
		/* what dwfl_attach_state would take (the first module with an
		 * ELF), opened apart: none, it fails as it would */
		ku->st_fd = f.found && f.file ? open(f.file, O_RDONLY | O_CLOEXEC) : -1;
		elf_version(EV_CURRENT);
		ku->st_elf = ku->st_fd >= 0 ? elf_begin(ku->st_fd, ELF_C_READ_MMAP, NULL) : NULL;
		bad = !ku->st_elf ||
		      !dwfl_attach_state(ku->dwfl, ku->st_elf, pid, &ku_callbacks, ctx);
		ku->machine = f.machine;
		ku->elfclass = f.elfclass;
	}
	if (bad) {
		end_dwfl(ku);
		/* tried again in a fresh Dwfl: its thread state from these
		 * modules (another machine's) */
		return fresh ? -1 : report(ku, ctx, text, pid);
	}
	u64map__free(&ku->mods);
	memset(&ku->mods, 0, sizeof(ku->mods));
	uint64_t *m;
	uint32_t n;
	mods_of(text, &m, &n);
	for (uint32_t i = 0; i < n; i++)
		if (u64map__put(&ku->mods, m[i], (void *)1))
			model__oom();
	free(m);
	return 0;
}

/* The slot to unwind s's stacks in: one whose modules are s's already;
 * else the one it was last unwound in, or a free one, or the one with the
 * most of s's modules (the least recently used of those). */
static struct kslot *slot_for(struct kunwind *ku, struct kspace *s)
{
	int best = -1;
	uint32_t best_n = 0;
	ku->tick++;
	for (int i = 0; i < KU_SLOTS; i++) {
		struct kslot *l = &ku->slot[i];
		if (l->dwfl && l->cur.n == s->text.n && !memcmp(l->cur.p, s->text.p, s->text.n)) {
			s->slot = i;
			goto found;
		}
	}
	if (s->slot >= 0)
		goto found;
	for (int i = 0; i < KU_SLOTS; i++) {
		struct kslot *l = &ku->slot[i];
		uint32_t n = 0;
		for (uint32_t j = 0; l->dwfl && j < s->nmods; j++)
			n += u64map__get(&l->mods, s->mods[j]) != NULL;
		if (best < 0 || n > best_n || (n == best_n && l->used < ku->slot[best].used)) {
			best = i;
			best_n = n;
		}
	}
	for (int i = 0; i < KU_SLOTS; i++)
		if (!ku->slot[i].dwfl) {
			best = i;
			break;
		}
	s->slot = best;
found:
	ku->slot[s->slot].used = ku->tick;
	return &ku->slot[s->slot];
}

static struct kspace *space_of(struct kunwind *ku, struct analysis *a, struct proc *p,
			       const struct vp_kstack *k)
{
	struct kspace *s = u64map__get(&ku->spaces, p->pid + 1ull);
	if (!s) {
		s = model__alloc(sizeof(*s));
		s->file = new_file(a, p);
		s->slot = -1;
		if (u64map__put(&ku->spaces, p->pid + 1ull, s)) {
			free(s);
			model__oom();
		}
	}
	uint64_t key = map_key(p, k);
	if (key == s->key)
		return s;
	struct mtext m = { 0 };
	module_map(ku, p, k, &m);
	struct vp_buf *t = &m.dwfl;
	uint64_t h = t->n ? vp_hash_bytes(t->p, t->n) : 0;
	if (!s->ok || h != s->hash) {
		free(s->text.p);
		s->text = *t;
		*t = (struct vp_buf){ 0 };
		s->hash = h;
		s->ok = 0;
		if (s->text.n) {
			for (uint32_t i = 0; i < m.nf; i++)
				if (strcmp(m.f[i].open, m.f[i].name))
					symbolizer__open_as(a->sym, m.f[i].name, m.f[i].ino,
							    m.f[i].open);
			symbolizer__add_maps(a->sym, s->file, m.sym.p, m.sym.n);
			free(s->mods);
			mods_of(&s->text, &s->mods, &s->nmods);
			s->ok = !report(slot_for(ku, s), &ku->ctx, &s->text, (pid_t)k->h.pid);
		}
	}
	/* kept for the next stack: a map reported, or no file to make one of
	 * (one that could not be reported is made and tried again) */
	s->key = s->ok || !s->text.n ? key : 0;
	mtext_free(&m);
	return s;
}

struct frames {
	__u64 ip[KU_DEPTH]; /* as vp_stack.ips */
	uint32_t n;
};

static int on_frame(Dwfl_Frame *fr, void *arg)
{
	struct frames *f = arg;
	Dwarf_Addr pc;
	bool act;
	if (!dwfl_frame_pc(fr, &pc, &act))
		return -1;
	f->ip[f->n++] = pc;
	return f->n < KU_DEPTH ? DWARF_CB_OK : DWARF_CB_ABORT;
}

/* Unwinds k: the stack's id in *file (0: none, *why says why; else *why
 * says why it stops early, or VS_NONE). Write stacks: one id per distinct
 * stack. */
static uint32_t unwind(struct kunwind **kup, struct analysis *a, struct proc *p,
		       const struct vp_kstack *k, int32_t *file, uint8_t *why)
{
	if (!*kup) {
		*kup = model__alloc(sizeof(**kup));
		for (int i = 0; i < KU_SLOTS; i++)
			(*kup)->slot[i].st_fd = -1;
	}
	struct kunwind *ku = *kup;
	struct kspace *s = space_of(ku, a, p, k);
	*file = (int32_t)s->file;
	struct kslot *l = s->ok ? slot_for(ku, s) : NULL;
	if (!l || report(l, &ku->ctx, &s->text, (pid_t)k->h.pid)) {
		*why = VS_K_NOMAP;
		return 0;
	}
	struct frames f = { .n = 0 };
	ku->ctx = (struct kctx){ .k = k };
	int rc = dwfl_getthread_frames(l->dwfl, (pid_t)k->h.tid, on_frame, &f);
	/* a frame no user code can be at (through Go's asmcgocall: its return
	 * slot is not a return address) is left out, the frames found past it
	 * kept */
	f.n = stack__keep_user_ips(f.ip, f.n);
	if (!f.n) {
		*why = VS_K_FAIL;
		return 0;
	}
	/* stopped early: the copy ended (libdwfl may end such a stack as if
	 * complete, so a read outside the copy says it), or a frame without
	 * unwind info (its frame-pointer fallback failed too); a copy that
	 * ends where the stack does -- the main thread's environment, an
	 * unreadable page -- is whole whatever is read past it */
	int whole = k->h.flags & (VP_KSTACK_TOP | VP_KSTACK_CUT);
	*why = f.n >= KU_DEPTH		  ? VS_NONE
	       : ku->ctx.outside && !whole ? VS_K_CUT
	       : rc && !ku->ctx.outside	  ? VS_K_CFI
					  : VS_NONE;
	uint64_t h = 0;
	if (k->h.flags & VP_KSTACK_WRITE) {
		h = vp_hash_bytes(f.ip, f.n * sizeof(f.ip[0])) | 1;
		uintptr_t id = (uintptr_t)u64map__get(&s->by_ips, h);
		if (id)
			return (uint32_t)id;
	}
	struct vp_stack *st = model__alloc(sizeof(*st) + f.n * sizeof(st->ips[0]));
	st->h.type = VP_REC_STACK;
	st->h.size = (uint32_t)(sizeof(*st) + f.n * sizeof(st->ips[0]));
	st->h.pid = k->h.pid;
	st->h.tid = k->h.tid;
	st->h.time_ns = k->h.time_ns;
	st->id = ++s->next_id;
	st->depth = f.n;
	memcpy(st->ips, f.ip, f.n * sizeof(f.ip[0]));
	if (stack_map__put(&a->files[s->file].stacks, st)) {
		free(st);
		model__oom();
	}
	if (h && u64map__put(&s->by_ips, h, (void *)(uintptr_t)st->id))
		model__oom();
	if (getenv("VMAPROF_DEBUG_KUNWIND"))
		fprintf(stderr, "kunwind: tid %u: %u frames, rc %d (%s), outside %d\n", k->h.tid,
			f.n, rc, rc ? dwfl_errmsg(-1) : "-", ku->ctx.outside);
	return st->id;
}

uint32_t kunwind__write(struct kunwind **kup, struct analysis *a, struct proc *p,
			const struct vp_kstack *k, int32_t *file, uint8_t *why)
{
	return unwind(kup, a, p, k, file, why);
}

void kunwind__take(struct kunwind **kup, struct analysis *a, struct proc *p, struct vma *v,
		   const struct vp_kstack *k)
{
	int32_t file;
	uint8_t why;
	uint32_t id = unwind(kup, a, p, k, &file, &why);
	v->stack_why = why;
	if (!id)
		return;
	v->stack_file = file;
	v->stack_id = id;
}

void kunwind__free(struct kunwind *ku)
{
	if (!ku)
		return;
	uint64_t key;
	void *n;
	for (size_t i = 0; u64map__next(&ku->spaces, &i, &key, &n);) {
		struct kspace *s = n;
		free(s->text.p);
		free(s->mods);
		u64map__free(&s->by_ips);
		free(s);
	}
	u64map__free(&ku->spaces);
	for (size_t i = 0; u64map__next(&ku->paths, &i, &key, &n);)
		for (struct kpath *c = n, *next; c; c = next) {
			next = c->next;
			free(c);
		}
	u64map__free(&ku->paths);
	for (size_t i = 0; u64map__next(&ku->pids, &i, &key, &n);)
		free(n);
	u64map__free(&ku->pids);
	for (int i = 0; i < KU_SLOTS; i++) {
		end_dwfl(&ku->slot[i]);
		free(ku->slot[i].cur.p);
	}
	free(ku);
}
