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
 * (libdwfl's x86_64 frame-pointer fallback tried first). One Dwfl per
 * process, kept while its map is unchanged.
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
	uint64_t hash;   /* of the maps text the Dwfl was made from */
	Dwfl *dwfl;      /* NULL: none could be made from it */
	uint32_t file;   /* the process's stack file in a->files */
	uint32_t next_id;
	struct kctx ctx;
};

struct kunwind {
	struct u64map spaces; /* pid key -> struct kspace */
};

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

static void maps_line(struct vp_buf *t, uint64_t lo, uint64_t hi, uint8_t prot, uint64_t off,
		      uint64_t ino, const char *name)
{
	if (vp_buf_printf(t, "%llx-%llx %c%c%cp %08llx 00:00 %llu %s\n", (unsigned long long)lo,
			  (unsigned long long)hi, prot & 1 ? 'r' : '-', prot & 2 ? 'w' : '-',
			  prot & 4 ? 'x' : '-', (unsigned long long)off, (unsigned long long)ino,
			  name))
		model__oom();
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
static int other_root(pid_t pid)
{
	char path[64];
	struct stat a, b;
	snprintf(path, sizeof(path), "/proc/%d/root", (int)pid);
	return !stat(path, &a) && !stat("/", &b) && (a.st_dev != b.st_dev || a.st_ino != b.st_ino);
}

/* The file live process pid maps over [lo, hi) as `name` (what its
 * /proc/PID/maps says; with by_base, only the base names must agree: an
 * exec's path as given), reached through its /proc/PID/map_files link:
 * a deleted file, one in another mount namespace or root. The target must
 * read as name, so that a pid reused since is not taken for the traced
 * process. out: the link. 0, or -1: not alive, no such mapping. */
static int live_file(pid_t pid, uint64_t lo, uint64_t hi, const char *name, int by_base,
		     char *out, size_t n)
{
	char dir[64], link[384], tgt[4096];
	snprintf(dir, sizeof(dir), "/proc/%d/map_files", (int)pid);
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = -1;
	if (!d)
		return -1;
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
static const char *file_for(struct mtext *m, pid_t pid, uint64_t lo, uint64_t hi,
			    const char *name, int by_base, uint64_t want, uint64_t *ino)
{
	for (uint32_t i = 0; i < m->nf; i++)
		if (!strcmp(m->f[i].name, name)) {
			*ino = m->f[i].ino;
			return m->f[i].open;
		}
	struct stat st;
	char alt[384];
	const char *open = name;
	int here = name[0] == '/' && !ends_with_deleted(name) && !stat(name, &st);
	if (!here || other_root(pid)) {
		if (!live_file(pid, lo, hi, name, by_base, alt, sizeof(alt)))
			open = alt;
		else if (!here)
			return NULL; /* gone: nothing to unwind or symbolize with */
	}
	if (stat(open, &st) || !S_ISREG(st.st_mode))
		return NULL;
	if (want && (uint64_t)st.st_ino != want) {
		/* the collector read another inode (VP_MEM_KPATH): the path
		 * names another file here (a container's, one replaced
		 * since): the mapped one through map_files, or none */
		if (open == alt || live_file(pid, lo, hi, name, by_base, alt, sizeof(alt)) ||
		    stat(alt, &st) || !S_ISREG(st.st_mode) || (uint64_t)st.st_ino != want)
			return NULL;
		open = alt;
	}
	m->f = model__realloc(m->f, (m->nf + 1) * sizeof(*m->f));
	m->f[m->nf].name = name;
	m->f[m->nf].open = strdup(open);
	m->f[m->nf].ino = (uint64_t)st.st_ino;
	if (!m->f[m->nf].open)
		model__oom();
	*ino = (uint64_t)st.st_ino;
	return m->f[m->nf++].open;
}

static void mtext_line(struct mtext *m, pid_t pid, uint64_t lo, uint64_t hi, uint8_t prot,
		       uint64_t off, const char *name, uint64_t want)
{
	uint64_t ino;
	const char *open = file_for(m, pid, lo, hi, name, 0, want, &ino);
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

/* p's module map now (the replay's live entries), or for a write stack
 * (after the replay) at the record's time (m->dwfl.n 0: none known). A
 * path that does not name the mapped file here -- deleted, relative (an
 * exec's path as given), a container's or chroot's -- is reached through
 * the live process's /proc/PID/map_files (record -p: the report is written
 * while it runs); once it is gone, such a file is left out (a container's
 * path that exists here is taken as it is). */
static void module_map(struct analysis *a, struct proc *p, const struct vp_kstack *k,
		       struct mtext *m)
{
	int exe_seen = 0;
	int at = !!(k->h.flags & VP_KSTACK_WRITE);
	uint32_t n = at ? p->nv : p->nlive;
	for (uint32_t i = 0; i < n; i++) {
		const struct vma *e = at ? &p->v[i] : &p->v[p->live[i]];
		if (at && (e->valid_from > k->h.time_ns || e->destroyed_ns <= k->h.time_ns))
			continue;
		if (!e->path || e->path[0] != '/' || e->anonymous)
			continue;
		if (p->exe && !strcmp(e->path, p->exe))
			exe_seen = 1;
		mtext_line(m, (pid_t)k->h.pid, e->start, e->end, e->prot, e->offset, e->path, e->ino);
	}
	if (!exe_seen && p->exe && k->start_code) {
		uint64_t ino;
		const char *open = file_for(m, (pid_t)k->h.pid, k->start_code, k->start_code + 1,
					    p->exe, 1, 0, &ino);
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

static struct kspace *space_of(struct kunwind *ku, struct analysis *a, struct proc *p,
			       const struct vp_kstack *k)
{
	struct kspace *s = u64map__get(&ku->spaces, p->pid + 1ull);
	if (!s) {
		s = model__alloc(sizeof(*s));
		s->file = new_file(a, p);
		if (u64map__put(&ku->spaces, p->pid + 1ull, s)) {
			free(s);
			model__oom();
		}
	}
	struct mtext m = { 0 };
	module_map(a, p, k, &m);
	struct vp_buf *t = &m.dwfl;
	uint64_t h = t->n ? vp_hash_bytes(t->p, t->n) : 0;
	if (s->dwfl && h == s->hash) {
		mtext_free(&m);
		return s;
	}
	if (s->dwfl)
		dwfl_end(s->dwfl);
	s->dwfl = NULL;
	s->hash = h;
	if (t->n) {
		for (uint32_t i = 0; i < m.nf; i++)
			if (strcmp(m.f[i].open, m.f[i].name))
				symbolizer__open_as(a->sym, m.f[i].name, m.f[i].ino, m.f[i].open);
		symbolizer__add_maps(a->sym, s->file, m.sym.p, m.sym.n);
		FILE *mf = fmemopen(t->p, t->n, "r");
		Dwfl *d = mf ? dwfl_begin(&ku_dwfl_callbacks) : NULL;
		if (d) {
			dwfl_report_begin(d);
			if (dwfl_linux_proc_maps_report(d, mf) || dwfl_report_end(d, NULL, NULL) ||
			    !dwfl_attach_state(d, NULL, (pid_t)k->h.pid, &ku_callbacks, &s->ctx)) {
				dwfl_end(d);
				d = NULL;
			}
		}
		if (mf)
			fclose(mf);
		s->dwfl = d;
	}
	mtext_free(&m);
	return s;
}

struct frames {
	uint64_t ip[KU_DEPTH];
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
	if (!*kup)
		*kup = model__alloc(sizeof(**kup));
	struct kspace *s = space_of(*kup, a, p, k);
	*file = (int32_t)s->file;
	if (!s->dwfl) {
		*why = VS_K_NOMAP;
		return 0;
	}
	struct frames f = { .n = 0 };
	s->ctx = (struct kctx){ .k = k };
	int rc = dwfl_getthread_frames(s->dwfl, (pid_t)k->h.tid, on_frame, &f);
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
	*why = f.n >= KU_DEPTH		 ? VS_NONE
	       : s->ctx.outside && !whole ? VS_K_CUT
	       : rc && !s->ctx.outside	 ? VS_K_CFI
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
			f.n, rc, rc ? dwfl_errmsg(-1) : "-", s->ctx.outside);
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
		if (s->dwfl)
			dwfl_end(s->dwfl);
		u64map__free(&s->by_ips);
		free(s);
	}
	u64map__free(&ku->spaces);
	free(ku);
}
