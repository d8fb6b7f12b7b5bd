/* SPDX-License-Identifier: MIT */
/*
 * Who a process is, as users know it (exe as run, argv of each exec, the
 * name and title it set), and whether the shim traced it and why not
 * (processes[].preload): from the kernel collector's TASK_NAME records, the
 * shim's PROC records, failure markers and the executable itself.
 */
#include "model.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const dis_why[] = {
	[VP_DIS_EXTEND] = "the shim stopped recording: could not grow its trace file (disk full?)",
	[VP_DIS_MAP] = "the shim stopped recording: could not map a new trace segment",
	[VP_DIS_REOPEN] = "the shim stopped recording: could not reopen its trace file",
};

json_t *procinfo__argv_json(const char *s, uint32_t len)
{
	json_t *arr = json_array();
	for (uint32_t i = 0; i < len;) {
		size_t l = strnlen(s + i, len - i);
		json_array_append_new(arr, vp_json_text(s + i, l));
		i += (uint32_t)l + 1;
	}
	return arr;
}

/* An exec given "/dev/fd/N" (fexecve) or "/proc/self/fd/N" names no
 * program: the resolved path says more. */
int procinfo__names_fd(const char *path)
{
	return path && (!strncmp(path, "/dev/fd/", 8) || !strncmp(path, "/proc/", 6));
}

/* Arguments as one line: the non-empty NUL-separated pieces of s[0, len)
 * joined by spaces, trailing spaces dropped (what ps shows). */
static size_t args_line(const char *s, size_t len, char *out, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < cap;) {
		size_t l = strnlen(s + i, len - i);
		if (l) {
			if (o && o + 1 < cap)
				out[o++] = ' ';
			size_t c = l < cap - 1 - o ? l : cap - 1 - o;
			memcpy(out + o, s + i, c);
			o += c;
		}
		i += l + 1;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = 0;
	return o;
}

/* The title a program set over its argv area, as of its exit record; NULL
 * when the area still holds its arguments. */
static const char *title_of(struct analysis *a, const struct vp_task_name *n, json_t *argv)
{
	static char got[VP_NAME_ARGV_MAX + 1], want[VP_NAME_ARGV_MAX + 1];
	const char *s = vp_task_name_argv(n);
	size_t len = n->argv_len, gl, wl = 0;
	if (!len || !argv)
		return NULL; /* nothing to tell a title from the arguments by */
	if (n->h.flags & VP_NAME_ARGV_SPILL)
		len = strnlen(s, len); /* one string, on into the environment area */
	gl = args_line(s, len, got, sizeof(got));
	if (!gl)
		return NULL;
	for (size_t i = 0; argv && i < json_array_size(argv); i++) {
		const char *v = json_string_value(json_array_get(argv, i));
		size_t l = v ? strlen(v) : 0;
		if (!l)
			continue;
		if (wl && wl + 1 < sizeof(want))
			want[wl++] = ' ';
		if (wl + l >= sizeof(want))
			l = sizeof(want) - 1 - wl;
		memcpy(want + wl, v, l);
		wl += l;
	}
	while (wl && want[wl - 1] == ' ')
		wl--;
	if (gl == wl && !memcmp(got, want, gl))
		return NULL;
	return model__intern(a, got, gl);
}

void procinfo__apply_name(struct analysis *a, struct proc *p, const struct vp_task_name *n)
{
	size_t cl = strnlen(n->comm, sizeof(n->comm));
	if (cl)
		p->name = model__intern(a, n->comm, cl);
	if (n->why == VP_NAME_EXEC) {
		if (p->nex)
			p->ex[p->nex - 1].secure = !!(n->h.flags & VP_NAME_SECURE);
		if (!n->argv_len)
			return; /* the area could not be read: the shim may tell */
		json_t *av = procinfo__argv_json(vp_task_name_argv(n), n->argv_len);
		if (p->nex) {
			json_decref(p->ex[p->nex - 1].argv);
			p->ex[p->nex - 1].argv = json_incref(av);
		}
		json_decref(p->argv);
		p->argv = av;
		return;
	}
	/* no argv area at exit: the kernel's exit tracepoint came after
	 * exit_mm (Debian's 5.10, 6.1, 6.12; not 6.18): the title read at exit_group stands */
	if (!n->argv_len)
		return;
	p->title = title_of(a, n, p->argv);
}

/* 1: an ELF executable without PT_INTERP (static: ld.so never runs, so
 * nothing is preloaded), 0: dynamic, -1: cannot tell (gone, not ELF, a
 * relative path we cannot resolve now). */
static int elf_is_static(const char *path)
{
	if (!path || path[0] != '/')
		return -1;
	int fd = vp_open_regular(path, 1);
	if (fd < 0)
		return -1;
	Elf64_Ehdr eh;
	int r = -1;
	if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    (eh.e_type == ET_EXEC || eh.e_type == ET_DYN) &&
	    eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum > 0 && eh.e_phnum < 512) {
		r = 1;
		for (unsigned i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
			    (ssize_t)sizeof(ph)) {
				r = -1;
				break;
			}
			if (ph.p_type == PT_INTERP) {
				r = 0;
				break;
			}
		}
	}
	close(fd);
	return r;
}

static const char *failed_marker(const struct analysis *a, uint32_t pid, int *found)
{
	for (uint32_t i = 0; i < a->nfailed; i++)
		if (a->failed_pids[i] == pid) {
			*found = 1;
			return a->failed_why[i];
		}
	*found = 0;
	return NULL;
}

static int broker_refused(const struct analysis *a, uint32_t pid)
{
	json_t *rp = json_object_get(json_object_get(json_object_get(json_object_get(
						 a->session, "collectors"), "preload"), "broker"),
				     "refused_pids");
	for (size_t i = 0; i < json_array_size(rp); i++)
		if (pidns__rec(a, json_integer_value(json_array_get(rp, i)), T_NEVER) == pid)
			return 1;
	return 0;
}

/* The system calls the shim makes for itself, by x86_64 number. */
static const char *shim_syscall_name(int32_t nr)
{
	switch (nr) {
	case 0: return "read";
	case 3: return "close";
	case 5: return "fstat";
	case 9: return "mmap";
	case 11: return "munmap";
	case 14: return "rt_sigprocmask";
	case 28: return "madvise";
	case 39: return "getpid";
	case 41: return "socket";
	case 42: return "connect";
	case 44: return "sendto";
	case 47: return "recvmsg";
	case 77: return "ftruncate";
	case 89: return "readlink";
	case 110: return "getppid";
	case 186: return "gettid";
	case 257: return "openat";
	case 285: return "fallocate";
	case 310: return "process_vm_readv";
	default: return NULL;
	}
}

static const char *seccomp_action_name(uint32_t act)
{
	switch (act & 0xffff0000u) {
	case 0x80000000u: return "kill the program";
	case 0x00000000u: return "kill the thread";
	case 0x00030000u: return "trap (SIGSYS)";
	case 0x00050000u: return "fail";
	case 0x7fc00000u: return "hand to a supervisor";
	case 0x7ff00000u: return "hand to a tracer";
	default: return "refuse";
	}
}

/* Why the shim stopped recording the stream with header h, or NULL. */
static const char *disabled_why(struct analysis *a, const struct vp_file_header *h)
{
	uint32_t d = h->disabled;
	if (d == VP_DIS_SECCOMP) {
		char b[400], num[32];
		const char *name = shim_syscall_name(h->dis_nr);
		if (!name) {
			snprintf(num, sizeof(num), "system call %d", h->dis_nr);
			name = num;
		}
		if (h->dis_nr < 0)
			snprintf(b, sizeof(b), "the shim stopped recording: a seccomp filter it did "
				 "not see installed is in force (its rules unknown), so it made no "
				 "further system call of its own; later calls are counted as lost");
		else
			snprintf(b, sizeof(b), "the shim stopped recording: the program's seccomp "
				 "filter would %s on the shim's own %s (for a new trace segment), so "
				 "it never made it; later calls are counted as lost",
				 seccomp_action_name(h->dis_action), name);
		return model__intern(a, b, strlen(b));
	}
	return d < sizeof(dis_why) / sizeof(*dis_why) ? dis_why[d] : NULL;
}

/* The shim's last exec attempt in process `pid` was made under a seccomp
 * filter (and no failure followed): the new image recorded nothing. */
static int sc_exec(const struct analysis *a, uint32_t pid)
{
	for (uint32_t i = 0; i < a->nsc_exec; i++)
		if (a->sc_exec_pids[i] == pid)
			return 1;
	return 0;
}

#define SC_EXEC_WHY "exec'd under a seccomp filter: the new image's shim could not know " \
		    "what the filter allows, so it made no system call of its own and "    \
		    "recorded nothing"

/* Why the image at `path` (secure: AT_SECURE) of process p has no shim
 * trace: the most specific reason known. */
static const char *untraced_why(struct analysis *a, const struct proc *p, const char *path,
				int secure)
{
	int found;
	const char *m = failed_marker(a, p->pid, &found);
	if (found) {
		char b[600];
		snprintf(b, sizeof(b), "the shim could not record: %s",
			 m ? m : "cannot create the trace file");
		return model__intern(a, b, strlen(b));
	}
	if (sc_exec(a, p->pid))
		return SC_EXEC_WHY;
	for (uint32_t i = 0; i < a->nsc_fork; i++)
		if (a->sc_fork_pids[i] == p->pid)
			return "started under a seccomp filter that would refuse the shim's own "
			       "system calls (or whose rules it could not know): the shim made none "
			       "and recorded nothing";
	/* a stream of this pid that stopped before its first record */
	for (uint32_t i = 0; i < a->nfiles; i++) {
		const struct tfile *f = &a->files[i];
		const char *w = f->is_bpf || !f->r || f->pid != p->pid || f->records
					? NULL : disabled_why(a, reader__header(f->r));
		if (w)
			return w;
	}
	if (secure)
		return "setuid/setgid program (secure exec: the dynamic loader ignored LD_PRELOAD)";
	if (elf_is_static(path) == 1)
		return "static binary (no dynamic loader)";
	if (broker_refused(a, p->pid))
		return "the recorder refused the shim's request (not in the traced tree)";
	return "no trace from the shim";
}

/* processes[].preload: active when every image the process ran has a shim
 * stream (images a process only passes through -- a vfork or posix_spawn
 * child before its exec -- are not asked for one); the reason is that of
 * the first image without, or why a stream stopped early. */
void procinfo__preload_status(struct analysis *a)
{
	for (uint32_t i = 0; i < a->nprocs; i++) {
		struct proc *p = a->procs[i];
		p->preload_active = 1;
		p->preload_reason = NULL;
		if (!a->preload_active) {
			p->preload_active = 0;
			p->preload_reason = a->attached && p->forked ? "forked from an attached process"
					    : a->preload_reason ? a->preload_reason
								: "the shim was not used";
		} else if (!p->nex && !p->pre_exec_traced) {
			p->preload_active = 0;
			p->preload_reason = untraced_why(a, p, p->exe, p->pre_exec_secure);
		} else {
			for (uint32_t k = 0; k < p->nex; k++)
				if (!p->ex[k].traced) {
					p->preload_active = 0;
					p->preload_reason =
						untraced_why(a, p, p->ex[k].path, p->ex[k].secure);
					break;
				}
		}
		/* without the kernel collector the exec itself is known only
		 * from the shim's attempt record */
		if (p->preload_active && !p->nex && sc_exec(a, p->pid)) {
			p->preload_active = 0;
			p->preload_reason = SC_EXEC_WHY;
		}
		for (uint32_t k = 0; p->preload_active && k < p->nimg; k++) {
			const struct tfile *f = &a->files[p->img[k].file];
			const char *w = disabled_why(a, reader__header(f->r));
			if (w)
				p->preload_reason = w;
		}
		a->preload_without += !p->preload_active;
	}
}

/* The shim's failure markers, with the line the broker wrote into each. */
void procinfo__load_markers(struct analysis *a, const struct tracedir *td)
{
	a->failed_pids = calloc(td->n_failed + 1, sizeof(*a->failed_pids));
	a->failed_why = calloc(td->n_failed + 1, sizeof(*a->failed_why));
	if (!a->failed_pids || !a->failed_why)
		model__oom();
	for (size_t i = 0; i < td->n_failed; i++) {
		char path[4200], buf[512];
		snprintf(path, sizeof(path), "%s/preload.%d.failed", a->dir, (int)td->failed[i]);
		/* named after the recorder's pid of the shim (the broker wrote it),
		 * or its own (written by the shim itself, in the same namespace
		 * unless no broker was reachable) */
		a->failed_pids[a->nfailed] = pidns__rec(a, td->failed[i], T_NEVER);
		a->failed_why[a->nfailed] = NULL;
		int fd = vp_open_regular(path, 0);
		ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			buf[n] = 0;
			size_t l = strcspn(buf, "\n");
			if (l)
				a->failed_why[a->nfailed] = model__intern(a, buf, l);
		}
		a->nfailed++;
	}
}
