// SPDX-License-Identifier: MIT
/*
 * collector: loader and ring-buffer drain for collector.bpf.c.
 *
 * The trace file is written sequentially by this process only, through
 * the trace-file writer (vmaprof/tracewriter.h: padding, segment trailers,
 * the sealed header): records are copied from the ring buffer into its
 * large buffer and written out with write(2) when it fills or the ring is
 * drained; each flush rewrites the header's counters and seal (pwrite), so
 * a killed recorder leaves a file whose header describes what reached the
 * disk.
 */
#include "collector.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <vmaprof/clock.h>
#include <vmaprof/record.h>
#include <vmaprof/rawsys.h>
#include <vmaprof/tracewriter.h>
#include "btfscan.h"
#include "collector_shared.h"
#include "collector.skel.h"
#include "collector_compat.skel.h"
#include "collector_min_btf.h"

/* Both objects (collector.bpf.c's two variants) open through the default's
 * skeleton: programs and maps are found by name when it opens, the globals
 * are reached through the skeleton's structs, so those must be alike. */
#define SAME_GLOBAL(sec, f)                                                      \
	_Static_assert(offsetof(struct collector_bpf__##sec, f) ==                \
			       offsetof(struct collector_compat_bpf__##sec, f),   \
		       "the compat variant's " #f " is elsewhere")
SAME_GLOBAL(rodata, self_tgid);
SAME_GLOBAL(rodata, vma_mode);
SAME_GLOBAL(rodata, wake_bytes);
SAME_GLOBAL(rodata, no_signals);
SAME_GLOBAL(rodata, kstack_pages);
SAME_GLOBAL(rodata, kstack_no_shim);
SAME_GLOBAL(rodata, rss_interval_ns);
SAME_GLOBAL(rodata, ncpus);
SAME_GLOBAL(bss, mmstats);
SAME_GLOBAL(bss, rss_samples);
SAME_GLOBAL(bss, kstacks);
SAME_GLOBAL(bss, kstacks_skipped);
SAME_GLOBAL(rodata, ws_first);
SAME_GLOBAL(rodata, ws_every);
SAME_GLOBAL(bss, wstacks);
SAME_GLOBAL(bss, wstacks_skipped);
SAME_GLOBAL(bss, lost);
SAME_GLOBAL(bss, untracked);
SAME_GLOBAL(bss, unhandled);
SAME_GLOBAL(bss, sys_mode);
_Static_assert(sizeof(struct collector_bpf__rodata) == sizeof(struct collector_compat_bpf__rodata) &&
		       sizeof(struct collector_bpf__bss) == sizeof(struct collector_compat_bpf__bss) &&
		       sizeof(struct collector_bpf) == sizeof(struct collector_compat_bpf),
	       "the two variants' skeletons differ");

#define OUT_BUF_SIZE (8u << 20)
/* Flush when this much is buffered even if the ring buffer is still busy. */
#define FLUSH_AT (4u << 20)
/* struct collector.sys_state: raw pair (may still switch), raw pair for
 * good (chosen, or the tracepoints failed), per-syscall tracepoints from
 * the start, raw pair then tracepoints, fentry/fexit on the calls'
 * functions. */
enum { SYS_RAW, SYS_RAW_FAILED, SYS_TP, SYS_SWITCHED, SYS_FENTRY };
/* System calls hooked through their own tracepoints (hooked_calls). */
#define N_HOOKED 21

struct collector {
	struct collector_bpf *skel;
	int compat;           /* the compat variant (pick_variant) */
	char variant_why[256]; /* why that one */
	struct bpf_link *mark_link; /* iter/task mark_tasks, made at first use */
	struct ring_buffer *rb;
	struct bpf_link *flush_link; /* iter/task: pending faults at finish */
	void (*observe)(void *ctx, const struct vp_rec *h); /* collector__observe */
	void *observe_ctx;
	struct bpf_link *sys_links[2 * N_HOOKED]; /* per-syscall tracepoints */
	int sys_pfd[2 * N_HOOKED]; /* a tracepoint link's perf event fd, else -1 */
	int n_sys_links;
	int sys_state;        /* SYS_*: how system calls are hooked */
	uint64_t switch_at;   /* CLOCK_MONOTONIC ns of the switch to SYS_TP, 0 none */
	/* the switch's thread (switch_main): waits for switch_at unless
	 * sw_stop, then attaches and switches */
	pthread_t sw_thread;
	int sw_thread_on;
	int sw_stop;
	pthread_mutex_t sw_lock;
	pthread_cond_t sw_cond;
	char sys_why[256];    /* why raw */
	/* sc_enter/sc_exit, loaded apart from the rest (load_late) */
	struct bpf_object *late;
	struct bpf_program *sc_prog[2]; /* enter, exit; NULL until loaded */
	int btf_fd;           /* the reduced BTF's memfd for them, or -1 */
	int late_err;         /* their load failed: -errno, and why */
	char late_why[256];
	char btf_path[64];
	int fentry;           /* the fentry/fexit programs are loaded */
	unsigned char fentry_has[N_HOOKED]; /* that call's pair is loaded */
	char fentry_why[320]; /* why not fentry, "" while it is */
	char hooks_why[640];  /* what collector__syscall_hooks says */
	int fd;
	int stats_fd;
	int finished;
	int write_err_told;  /* the first write error was reported */
	uint64_t faults;
	uint64_t lost_seen;  /* value of the BPF `lost` counter already reported */
	/* the trace file; tw.lost counts reserve failures the BPF side
	 * reported and malformed ring-buffer samples */
	struct tracewriter tw;
	int proc_sees_pids;  /* /proc here numbers tasks as the records do
			      * (the initial PID namespace): exec_named */
};

static void set_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* libbpf's last warning while loading: kept to explain a refusal. */
static char libbpf_msg[512];
/* The verifier's own reason when it refused a program: the last line of
 * its log that is not a statistic. Its presence says the kernel let us
 * load programs and the verifier said no (not a permission problem, even
 * though the verifier's refusals come back as EACCES). */
static char verifier_msg[256];
/* The program libbpf named in its first complaint while loading. */
static char failed_prog[64];

static void keep_verifier_reason(const char *log)
{
	const char *end = strstr(log, "-- END PROG LOAD LOG --"), *p, *q;

	if (!end)
		end = log + strlen(log);
	/* from the end back: skip the verifier's statistics */
	for (q = end; q > log;) {
		p = q - 1;
		while (p > log && p[-1] != '\n')
			p--;
		size_t l = (size_t)(q - p);
		while (l && (p[l - 1] == '\n' || p[l - 1] == ' '))
			l--;
		if (l && strncmp(p, "processed ", 10) && strncmp(p, "verification time", 17) &&
		    strncmp(p, "stack depth", 11) && strncmp(p, "-- BEGIN", 8) &&
		    strncmp(p, "max_states_per_insn", 19)) {
			snprintf(verifier_msg, sizeof(verifier_msg), "%.*s", (int)l, p);
			return;
		}
		q = p;
	}
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	static char big[1 << 17];
	char line[512];
	const char *log;
	size_t n;

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(big, sizeof(big), fmt, ap);
	if (!failed_prog[0])
		sscanf(big, "libbpf: prog '%63[^']'", failed_prog);
	log = strstr(big, "-- BEGIN PROG LOAD LOG --");
	if (log && !verifier_msg[0])
		keep_verifier_reason(log);
	n = strnlen(big, sizeof(line) - 1);
	memcpy(line, big, n);
	line[n] = 0;
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = 0;
	/* keep the first specific message: later ones are generic wrappers */
	if (n && !libbpf_msg[0])
		snprintf(libbpf_msg, sizeof(libbpf_msg), "%s", line);
	return 0;
}

/* A TASK_EXEC rewritten by exec_named: the path (at most the BPF side's
 * CT_EXEC_PATH_MAX, its NUL included), padding, the file's inode. */
struct exec_named {
	struct vp_task_exec e;
	char path[CT_EXEC_PATH_MAX + 8 + sizeof(struct vp_exec_file)];
};

/* A TASK_EXEC whose path is relative (`./server`, execve's own argument)
 * names its file from the exec'ing process's working directory, which
 * nothing in the recording says; a static binary's stacks are unwound
 * from that file (the analyzer's module map), so it would have none. While
 * the process lives, /proc/PID/exe names the file: the record is written
 * with that path instead, when the tasks' pids are this /proc's (the
 * initial PID namespace) and the relative path, from the process's working
 * directory now, is the file it runs (same device and inode: not after a
 * later exec or chdir). Otherwise h as it came (the report then says it
 * has no module map for such a process). */
static const struct vp_rec *exec_named(struct collector *c, const struct vp_rec *h,
				       struct exec_named *out)
{
	const struct vp_task_exec *e = (const void *)h;
	const char *rel = (const char *)(e + 1);
	char link[64], at[4200], abs[CT_EXEC_PATH_MAX + 1];
	struct stat run, named;
	ssize_t n;

	if (!c->proc_sees_pids || h->size < sizeof(*e) ||
	    e->path_len > h->size - sizeof(*e) || !e->path_len || rel[0] == '/' ||
	    memchr(rel, 0, e->path_len))
		return h;
	snprintf(link, sizeof(link), "/proc/%u/exe", h->pid);
	n = readlink(link, abs, sizeof(abs));
	if (n <= 1 || (size_t)n >= CT_EXEC_PATH_MAX || abs[0] != '/')
		return h;
	abs[n] = 0;
	snprintf(at, sizeof(at), "/proc/%u/cwd/%.*s", h->pid, (int)e->path_len, rel);
	if (stat(link, &run) || stat(at, &named) || run.st_dev != named.st_dev ||
	    run.st_ino != named.st_ino)
		return h;
	memset(out, 0, sizeof(*out));
	out->e = *e;
	out->e.path_len = (uint32_t)n;
	memcpy(out->path, abs, (size_t)n);
	out->e.h.size = VP_ALIGN8((uint32_t)(sizeof(out->e) + (size_t)n + 1));
	if ((e->h.flags & VP_TEXEC_FILE) &&
	    VP_TEXEC_FILE_OFF(e->path_len) + sizeof(struct vp_exec_file) <= h->size) {
		/* the file's inode, after the new path as after the old */
		memcpy((char *)out + VP_TEXEC_FILE_OFF((uint32_t)n),
		       (const char *)e + VP_TEXEC_FILE_OFF(e->path_len), sizeof(struct vp_exec_file));
		out->e.h.size = VP_TEXEC_FILE_OFF((uint32_t)n) + sizeof(struct vp_exec_file);
	} else {
		out->e.h.flags &= (uint16_t)~VP_TEXEC_FILE;
	}
	return &out->e.h;
}

/* One ring-buffer sample holds either one record of any type (the sample
 * may be longer than h.size: TASK_EXEC reserves room for the longest path),
 * or a task's batch of finished VP_REC_FAULTs back to back, each with its
 * own h.size, filling the sample exactly. */
static int on_sample(void *ctx, void *data, size_t size)
{
	struct collector *c = ctx;
	const char *p = data;

	while (size) {
		const struct vp_rec *h = (const void *)p;

		if (size < sizeof(*h) || h->size < sizeof(*h) || h->size > size ||
		    (h->size & 7) || h->size > VP_MAX_RECORD || h->type < VP_REC_MEM ||
		    h->type >= VP_REC_TYPE_MAX) {
			c->tw.lost++; /* the rest of the sample cannot be delimited */
			return 0;
		}
		struct exec_named named;
		const struct vp_rec *w = h->type == VP_REC_TASK_EXEC ? exec_named(c, h, &named) : h;

		tracewriter__emit(&c->tw, w, w->size);
		if (c->observe)
			c->observe(c->observe_ctx, w);
		if (h->type != VP_REC_FAULT)
			return 0;
		c->faults++;
		p += h->size;
		size -= h->size;
	}
	return 0;
}

void collector__observe(struct collector *c, void (*fn)(void *ctx, const struct vp_rec *h),
			void *ctx)
{
	c->observe = fn;
	c->observe_ctx = ctx;
}

/* Report reserve failures as a VP_REC_BPF_LOST record whenever they grew. */
static void check_lost(struct collector *c)
{
	uint64_t now = __atomic_load_n(&c->skel->bss->lost, __ATOMIC_RELAXED);
	struct vp_bpf_lost r;

	if (now <= c->lost_seen)
		return;
	memset(&r, 0, sizeof(r));
	r.h.size = sizeof(r);
	r.h.time_ns = vp_mono_ns();
	r.h.pid = c->tw.hdr.pid;
	r.h.tid = c->tw.hdr.pid;
	r.count = now - c->lost_seen;
	r.h.type = VP_REC_BPF_LOST;
	c->tw.lost += r.count;
	c->lost_seen = now;
	tracewriter__emit(&c->tw, &r, sizeof(r));
}

/* The rss_stat samples' interval (collector_opts.rss_interval_ns, else
 * the environment's VMAPROF_RSS_STAT in ms, fractions allowed; 0 or
 * unset: off). */
static uint64_t rss_interval(const struct collector_opts *o)
{
	const char *env = getenv("VMAPROF_RSS_STAT");
	char *end;
	double ms;

	if (o->rss_interval_ns)
		return o->rss_interval_ns;
	if (!env || !*env)
		return 0;
	ms = strtod(env, &end);
	if (*end || !(ms > 0) || ms > 60000)
		return 0;
	return (uint64_t)(ms * 1e6) ? (uint64_t)(ms * 1e6) : 1;
}

/* Pages copied per kernel stack (collector_opts.kstack_bytes): the page
 * of the stack pointer and enough above it; 0 = off. */
static uint32_t kstack_pages(const struct collector_opts *o)
{
	size_t want = o->kstack_bytes;
	const char *env = getenv("VMAPROF_KERNEL_STACK");

	if (o->no_kstacks)
		return 0;
	if (!want && env && *env) {
		char *end;
		unsigned long long v = strtoull(env, &end, 10);

		if (*end == 'k' || *end == 'K')
			v <<= 10;
		else if (*end == 'm' || *end == 'M')
			v <<= 20;
		if (!v)
			return 0;
		want = v;
	}
	if (!want)
		want = COLLECTOR_KSTACK_DEFAULT;
	if (want > VP_KSTACK_MAX - 4096)
		want = VP_KSTACK_MAX - 4096;
	return (uint32_t)((want + 4095) >> 12) + 1;
}

static size_t ringbuf_size(size_t want)
{
	size_t sz = COLLECTOR_RINGBUF_MIN;

	if (!want)
		want = COLLECTOR_RINGBUF_DEFAULT;
	while (sz < want && sz < COLLECTOR_RINGBUF_MAX)
		sz <<= 1;
	return sz;
}

/*
 * The build kernel's BTF reduced to the types our CO-RE relocations use
 * (bpf/min_btf.py), in a memfd named by *path, when the running kernel is
 * the one it was made from (the same /sys/kernel/notes, with its build-id,
 * and the same size of /sys/kernel/btf/vmlinux): libbpf then matches our
 * types against a few hundred instead of the whole kernel's (~12 ms).
 * -1 when not (libbpf uses the running kernel's BTF, as everywhere else).
 */
static int min_btf_fd(char *path, size_t len)
{
	char notes[4096];
	struct stat st;
	ssize_t n;
	int fd;

	if (!collector_min_btf_len || !collector_btf_notes_len ||
	    collector_btf_notes_len > sizeof(notes) ||
	    stat("/sys/kernel/btf/vmlinux", &st) ||
	    (unsigned long long)st.st_size != collector_btf_vmlinux_size)
		return -1;
	fd = open("/sys/kernel/notes", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, notes, sizeof(notes));
	close(fd);
	if (n != (ssize_t)collector_btf_notes_len ||
	    memcmp(notes, collector_btf_notes, collector_btf_notes_len))
		return -1;
	fd = memfd_create("vmaprof-btf", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (tracewriter__write_all(fd, collector_min_btf, collector_min_btf_len) ||
	    (size_t)snprintf(path, len, "/proc/self/fd/%d", fd) >= len) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Which variant of collector.bpf.c this kernel runs (bpf/README.md,
 * "Kernels"): the default one needs what Linux 5.17 has; the compat one
 * runs from 5.10. Asked of the kernel itself with libbpf's probes (a map
 * created, a one-call program loaded: ~1 ms in all), for the program type
 * of our per-syscall programs. A probe that cannot run (no privilege) says
 * nothing: the default is loaded and its own error reported.
 * VMAPROF_BPF_VARIANT=default|compat forces one (the tests run the compat
 * variant on new kernels too). Returns 1 for compat, with the reason in why.
 */
static int pick_variant(char *why, size_t len)
{
	static const struct {
		int helper; /* enum bpf_func_id, or -1: the task storage map */
		const char *what;
	} need[] = {
		{ -1, "task storage maps (Linux 5.11)" },
		{ BPF_FUNC_task_storage_get, "bpf_task_storage_get in tracing programs (5.11)" },
		{ BPF_FUNC_get_current_task_btf, "bpf_get_current_task_btf (5.11)" },
		{ BPF_FUNC_task_pt_regs, "bpf_task_pt_regs (5.15)" },
		{ BPF_FUNC_find_vma, "bpf_find_vma (5.17)" },
		{ BPF_FUNC_loop, "bpf_loop (5.17)" },
	};
	const char *env = getenv("VMAPROF_BPF_VARIANT");
	size_t o = 0;

	why[0] = 0;
	if (env && !strcmp(env, "compat")) {
		snprintf(why, len, "VMAPROF_BPF_VARIANT=compat");
		return 1;
	}
	if (env && !strcmp(env, "default"))
		return 0;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		int r = need[i].helper < 0
				? libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, NULL)
				: libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT,
							  (enum bpf_func_id)need[i].helper, NULL);
		if (r < 0)
			return 0; /* cannot tell */
		if (r == 0 && o < len)
			o += snprintf(why + o, len - o, "%s%s", o ? ", " : "kernel lacks ",
				      need[i].what);
	}
	return o > 0;
}

/* The default variant's skeleton opened on the object of the chosen one. */
static struct collector_bpf *open_skeleton(int compat, const struct bpf_object_open_opts *opts)
{
	struct collector_bpf *obj = calloc(1, sizeof(*obj));
	int err;

	if (!obj) {
		errno = ENOMEM;
		return NULL;
	}
	err = collector_bpf__create_skeleton(obj);
	if (!err && compat)
		obj->skeleton->data =
			(void *)collector_compat_bpf__elf_bytes(&obj->skeleton->data_sz);
	if (!err)
		err = bpf_object__open_skeleton(obj->skeleton, opts);
	if (err) {
		collector_bpf__destroy(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

static void fentry_programs(struct collector *c);
static void detach_syscalls(struct collector *c);

/* Open the object (CO-RE against btf_path, NULL: the kernel's), set what the
 * run needs, load it into the kernel: 0, -errno from the load, or -EAGAIN
 * when the open failed (said in why). */
static int open_and_load(struct collector *c, const struct collector_opts *o,
			 const char *btf_path, char *why, size_t why_len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	int err;

	libbpf_msg[0] = 0;
	verifier_msg[0] = 0;
	c->skel = open_skeleton(c->compat, &opts);
	if (!c->skel) {
		err = -errno;
		set_why(why, why_len, "cannot open the BPF object: %s",
			libbpf_msg[0] ? libbpf_msg : strerror(-err));
		return -EAGAIN;
	}
	c->skel->rodata->self_tgid = o->self_pid ? o->self_pid : getpid();
	c->skel->rodata->vma_mode = o->vma == COLLECTOR_VMA_EVERY ? CT_VMA_EVERY : CT_VMA_OFF;
	c->skel->rodata->no_signals = o->no_signals;
	c->skel->rodata->kstack_pages = kstack_pages(o);
	c->skel->rodata->kstack_no_shim = o->kstack_no_shim;
	c->skel->rodata->kpath_on = o->kstack_no_shim;
	if (c->skel->rodata->kstack_pages) {
		c->skel->rodata->ws_first = o->ws_set ? o->ws_first : COLLECTOR_WS_FIRST;
		c->skel->rodata->ws_every = o->ws_set ? o->ws_every : COLLECTOR_WS_EVERY;
	}
	c->skel->rodata->wake_bytes = ringbuf_size(o->ringbuf_bytes) / 4;
	c->skel->rodata->rss_interval_ns = rss_interval(o);
	{
		int n = libbpf_num_possible_cpus();

		c->skel->rodata->ncpus = n > 0 ? (uint32_t)n : 1;
	}
	/* the kernel's rss_stat tracepoint runs for every process's RSS
	 * changes: only when asked (its cost, bench/NOTES.md) */
	if (!c->skel->rodata->rss_interval_ns)
		bpf_program__set_autoload(c->skel->progs.rss_stat, false);
	/* run once by collector__finish, not attached with the producers */
	bpf_program__set_autoattach(c->skel->progs.flush_tasks, false);
	/* run by collector__track_thread where needed */
	bpf_program__set_autoattach(c->skel->progs.mark_tasks, false);
	/* the compat variant has no per-syscall programs (raw pair only); the
	 * default one has task storage, which the kernel frees with the task */
	if (!c->compat)
		bpf_program__set_autoload(c->skel->progs.sched_process_free, false);
	/* the per-syscall pair: loaded apart, when it is needed (load_late) */
	bpf_program__set_autoload(c->skel->progs.sc_enter, false);
	bpf_program__set_autoload(c->skel->progs.sc_exit, false);
	bpf_program__set_autoattach(c->skel->progs.ns_tasks, false); /* collector__announce_ns */
	/* the syscall programs: attach_syscalls picks one pair */
	bpf_program__set_autoattach(c->skel->progs.sc_enter, false);
	bpf_program__set_autoattach(c->skel->progs.sc_exit, false);
	bpf_program__set_autoattach(c->skel->progs.sys_enter, false);
	bpf_program__set_autoattach(c->skel->progs.sys_exit, false);
	fentry_programs(c);
	err = bpf_map__set_max_entries(c->skel->maps.rb, ringbuf_size(o->ringbuf_bytes));
	if (err) {
		set_why(why, why_len, "cannot size the ring buffer: %s", strerror(-err));
		return -EAGAIN;
	}
	libbpf_msg[0] = 0;
	verifier_msg[0] = 0;
	failed_prog[0] = 0;
	return collector_bpf__load(c->skel);
}

/*
 * System calls hooked by the per-syscall tracepoints (bpf/README.md, "How
 * system calls are hooked"): the address-space calls (VP_REC_MEM, VMA
 * changes), the ones that populate VMAs (VP_REC_SYSFAULTS with their own
 * number), prctl (the shim's announcement) and execve (its argument pages);
 * last, exit_group's entry only, and only on kernels whose sched_process_exit
 * comes after exit_mm (no group_dead field in its format): the program's
 * title is read there (collector.bpf.c, exit_after_mm).
 * Keep in step with mem_call_of() and populates() in collector.bpf.c.
 */
static const char *const hooked_calls[] = {
	"mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "shmat", "shmdt",
	"mlock", "munlock", "mlockall", "munlockall", "mlock2", "remap_file_pages",
	"pkey_mprotect", "mseal", "ioctl", "prctl", "execve", "execveat", "exit_group",
};
#define HOOK_EXIT_GROUP (N_HOOKED - 1)

/*
 * fentry/fexit on the hooked calls' own functions, __x64_sys_NAME
 * (collector.bpf.c FENTRY_PAIR; bpf/README.md "How system calls are
 * hooked"): where the kernel has BPF trampolines, a system call of any
 * other kind, in any process, runs none of our code and takes no slow
 * path. Asked of the kernel before the object is loaded: its BTF must
 * have __x64_sys_mmap, and it must load an empty fentry program on it
 * (this kernel's 6.18 VM answers EPERM). VMAPROF_SYSCALL_HOOKS=raw or
 * tracepoints (the older arrangements) skips it; =fentry makes its failure
 * the collector's.
 */
static int fentry_wanted(char *why, size_t len)
{
	const char *mode = getenv("VMAPROF_SYSCALL_HOOKS");

	if (mode && *mode && strcmp(mode, "auto") && strcmp(mode, "fentry")) {
		/* raw, tracepoints, or switch: the raw pair then tracepoints */
		set_why(why, len, "VMAPROF_SYSCALL_HOOKS=%s", mode);
		return 0;
	}
	return 1;
}

static int fentry_forced(void)
{
	const char *mode = getenv("VMAPROF_SYSCALL_HOOKS");

	return mode && !strcmp(mode, "fentry");
}

/* Load an empty fentry program on the function of BTF id `id`: 0, or
 * -errno with why set (the verifier's last line when it gave one). */
static int fentry_try_load(int id, const char *fn, char *why, size_t len)
{
	static char log[4096];
	struct bpf_insn insns[2] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_TRACE_FENTRY,
		    .attach_btf_id = id, .log_buf = log, .log_size = sizeof(log));
	int fd, err;

	log[0] = 0;
	fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "vp_fentry_probe", "GPL", insns, 2, &po);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	err = -errno;
	verifier_msg[0] = 0;
	if (log[0])
		keep_verifier_reason(log);
	set_why(why, len, "the kernel refuses an fentry program on %s: %s%s%s", fn,
		strerror(-err), verifier_msg[0] ? ": " : "", verifier_msg);
	verifier_msg[0] = 0;
	return err;
}

/* Which hooked calls' functions this kernel has (c->fentry_has), and
 * whether it runs fentry programs on them (c->fentry; else fentry_why). */
static void fentry_probe(struct collector *c)
{
	struct btfscan bs;
	struct btfscan_query q[N_HOOKED + 1];
	char fn[N_HOOKED][48];
	int err, group_dead, mmap_id;

	c->fentry = 0;
	memset(c->fentry_has, 0, sizeof(c->fentry_has));
	if (!fentry_wanted(c->fentry_why, sizeof(c->fentry_why)))
		return;
	/* one walk of the kernel's BTF (bpf/btfscan.c), not libbpf's whole
	 * parse: libbpf parses it again when it loads the object */
	err = btfscan__open(&bs, "/sys/kernel/btf/vmlinux");
	if (err) {
		set_why(c->fentry_why, sizeof(c->fentry_why), "cannot read the kernel's BTF: %s",
			strerror(-err));
		return;
	}
	for (int i = 0; i < N_HOOKED; i++) {
		snprintf(fn[i], sizeof(fn[i]), "__x64_sys_%s", hooked_calls[i]);
		q[i] = (struct btfscan_query){ fn[i], BTF_KIND_FUNC, 0 };
	}
	q[N_HOOKED] = (struct btfscan_query){ "trace_event_raw_sched_process_exit",
					      BTF_KIND_STRUCT, 0 };
	err = btfscan__find(&bs, q, N_HOOKED + 1);
	/* exit_group's entry only where sched_process_exit comes after
	 * exit_mm (collector.bpf.c exit_after_mm: the same BTF test) */
	group_dead = err ? err : q[N_HOOKED].id > 0 ?
		     btfscan__has_member(&bs, q[N_HOOKED].id, "group_dead") : 0;
	btfscan__close(&bs);
	if (err || group_dead < 0) {
		set_why(c->fentry_why, sizeof(c->fentry_why),
			"the kernel's BTF is not in a form this vmaprof reads");
		return;
	}
	for (int i = 0; i < N_HOOKED; i++)
		c->fentry_has[i] = q[i].id > 0; /* mseal: 6.10 */
	mmap_id = q[0].id;
	if (group_dead)
		c->fentry_has[HOOK_EXIT_GROUP] = 0;
	if (mmap_id <= 0) {
		set_why(c->fentry_why, sizeof(c->fentry_why),
			"the kernel's BTF has no function __x64_sys_mmap");
		return;
	}
	if (fentry_try_load(mmap_id, "__x64_sys_mmap", c->fentry_why, sizeof(c->fentry_why)))
		return;
	c->fentry = 1;
	c->fentry_why[0] = 0;
}

/* Load the fentry/fexit pairs of the calls the kernel has, when fentry is
 * on; none otherwise. attach_fentry attaches them. */
static void fentry_programs(struct collector *c)
{
	char name[64];

	for (int i = 0; i < N_HOOKED; i++) {
		for (int k = 0; k < 2; k++) {
			struct bpf_program *p;

			snprintf(name, sizeof(name), "%s_%s", k ? "fx" : "fe", hooked_calls[i]);
			p = bpf_object__find_program_by_name(c->skel->obj, name);
			if (!p)
				continue; /* exit_group has no fexit */
			bpf_program__set_autoload(p, c->fentry && c->fentry_has[i]);
			bpf_program__set_autoattach(p, false);
		}
	}
}

/* Attach the loaded pairs, sys_mode 2 first. 0, or -errno with fentry_why
 * set and nothing left attached. */
static int attach_fentry(struct collector *c)
{
	char name[64];

	c->skel->bss->sys_mode = 2;
	for (int i = 0; i < N_HOOKED; i++) {
		for (int k = 0; c->fentry_has[i] && k < 2; k++) {
			struct bpf_program *p;
			struct bpf_link *l;

			snprintf(name, sizeof(name), "%s_%s", k ? "fx" : "fe", hooked_calls[i]);
			p = bpf_object__find_program_by_name(c->skel->obj, name);
			if (!p)
				continue;
			libbpf_msg[0] = 0;
			l = bpf_program__attach(p);
			if (!l) {
				int err = -errno;

				set_why(c->fentry_why, sizeof(c->fentry_why),
					"cannot attach %s: %s", bpf_program__section_name(p),
					libbpf_msg[0] ? libbpf_msg : strerror(-err));
				detach_syscalls(c);
				c->skel->bss->sys_mode = 0;
				return err;
			}
			c->sys_pfd[c->n_sys_links] = -1;
			c->sys_links[c->n_sys_links++] = l;
		}
	}
	return 0;
}

/* 1 when the tracefs under `root` says sched_process_exit has group_dead
 * (the kernels where it fires before exit_mm), 0 when not, -1 unreadable. */
static int exit_has_group_dead(const char *root)
{
	char path[256], buf[2048];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/events/sched/sched_process_exit/format", root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strstr(buf, "group_dead") != NULL;
}
_Static_assert(sizeof(hooked_calls) / sizeof(hooked_calls[0]) == N_HOOKED, "N_HOOKED");

/* Read the ids of tracefs events events/syscalls/sys_{enter,exit}_NAME under
 * `root` into ids (enter, exit per call; -1 where absent). */
static void read_tp_ids(const char *root, int *ids)
{
	for (int i = 0; i < 2 * N_HOOKED; i++) {
		char path[256], buf[32];
		ssize_t n;
		int fd;

		ids[i] = -1;
		snprintf(path, sizeof(path), "%s/events/syscalls/sys_%s_%s/id", root,
			 i & 1 ? "exit" : "enter", hooked_calls[i / 2]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			ids[i] = atoi(buf);
		}
	}
	/* exit_group: its entry where the title must be read there, never its
	 * exit (it has none) */
	ids[2 * HOOK_EXIT_GROUP + 1] = -1;
	if (exit_has_group_dead(root) == 1)
		ids[2 * HOOK_EXIT_GROUP] = -1;
}

/* The tracepoint ids of the hooked calls. From a tracefs already mounted,
 * else from one mounted in a private mount namespace of a short-lived child
 * (nobody else's mounts change). 0, or -errno with `why` set. */
static int syscall_tp_ids(int *ids, char *why, size_t why_len)
{
	static const char *const mounted[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };
	int p[2], st;
	pid_t pid;
	ssize_t n;

	for (size_t m = 0; m < 2; m++) {
		read_tp_ids(mounted[m], ids);
		if (ids[0] >= 0)
			return 0;
	}
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(p[0]);
		close(p[1]);
		set_why(why, why_len, "fork: %s", strerror(-err));
		return err;
	}
	if (pid == 0) {
		int cids[2 * N_HOOKED], err = 0;

		if (unshare(CLONE_NEWNS) ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("tracefs", mounted[0], "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
			err = errno;
		if (!err)
			read_tp_ids(mounted[0], cids);
		else
			cids[0] = -err;
		n = write(p[1], cids, err ? sizeof(int) : sizeof(cids));
		_exit(n < 0);
	}
	close(p[1]);
	n = read(p[0], ids, 2 * N_HOOKED * sizeof(int));
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n == sizeof(int) && ids[0] < 0) {
		set_why(why, why_len, "cannot mount tracefs in a private mount namespace: %s",
			strerror(-ids[0]));
		return ids[0];
	}
	if (n != (ssize_t)(2 * N_HOOKED * sizeof(int))) {
		set_why(why, why_len, "cannot read the tracepoint ids");
		return -EIO;
	}
	return 0;
}

/* One perf event on tracepoint `id` carrying `prog`. A tracepoint's BPF
 * programs belong to the event itself, so one event (CPU 0, any task) makes
 * them run on every CPU, as libbpf's own attach does. */
static struct bpf_link *attach_tp_id(struct bpf_program *prog, int id, int *pfd)
{
	struct perf_event_attr a;
	struct bpf_link *l;
	int fd, err;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = id;
	fd = syscall(SYS_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		return NULL;
	l = bpf_program__attach_perf_event(prog, fd);
	if (!l) {
		err = errno;
		close(fd);
		errno = err;
	}
	*pfd = fd;
	return l; /* the link owns fd */
}

static void detach_syscalls(struct collector *c)
{
	for (int i = 0; i < c->n_sys_links; i++)
		bpf_link__destroy(c->sys_links[i]);
	c->n_sys_links = 0;
}

/* Closing a perf event on a tracepoint costs ~40-80 ms here (the kernel
 * waits for an RCU-tasks-trace grace period under the global event_mutex
 * in perf_trace_event_unreg): ~1.7-3 s for the 40 of the per-syscall
 * hooks, serialized, however little work they did. Nobody needs to wait
 * for it: a process of our own (clone with CLONE_VM, so nothing is copied,
 * and no exit signal, so wait_tree's waitpid(-1) never sees it; every
 * signal blocked) holds its copies of the links' and events' fds, closes
 * every other fd at once (a pipe of our caller's stays open in no one),
 * waits until we have destroyed the links (so that the last references
 * are its), closes those and exits. It only makes raw system calls (it
 * shares our memory and the calling thread's TLS: no allocation, no libc
 * state). One closer at a time (`busy`, cleared by the closer as it ends);
 * when it cannot be had the links are destroyed here, as before. */
/* sys_mode: no syscall pair acts (0 raw, 1 tracepoints, 2 fentry) */
#define SYS_MODE_IDLE 3

static struct {
	int busy;
	int go; /* set (and woken) once the recorder has dropped its links */
	int n;
	int fds[4 * N_HOOKED]; /* the links' fds, and the events' */
	char stack[16384] __attribute__((aligned(16)));
} closer;

/* Raw system calls only (vmaprof/rawsys.h: libc's syscall() would write
 * errno into the TLS of the thread that cloned us, a thread still running,
 * or gone), and no local whose address is taken (a stack protector's
 * canary is read from that TLS too). */
static const struct timespec closer_tick = { 0, 100000000 };

static int closer_main(void *arg)
{
	unsigned int lo = 0;

	(void)arg;
	/* what ps shows for it once vmaprof has exited (docs/attach.md) */
	rawsys__ret(SYS_prctl, PR_SET_NAME, (long)"vmaprof-detach", 0, 0, 0, 0);
	for (int i = 0; i < closer.n; i++) {
		if ((unsigned int)closer.fds[i] > lo)
			rawsys__ret(SYS_close_range, lo, closer.fds[i] - 1, 0, 0, 0, 0);
		lo = closer.fds[i] + 1;
	}
	rawsys__ret(SYS_close_range, lo, ~0u, 0, 0, 0, 0);
	/* the last reference must be ours, not the recorder's: wait for it
	 * (at most 10 s, should it die first: its exit then closes them) */
	for (int t = 0; t < 100 && !__atomic_load_n(&closer.go, __ATOMIC_ACQUIRE); t++)
		rawsys__ret(SYS_futex, (long)&closer.go, FUTEX_WAIT, 0, (long)&closer_tick, 0, 0);
	for (int i = 0; i < closer.n; i++)
		rawsys__ret(SYS_close, closer.fds[i], 0, 0, 0, 0, 0);
	__atomic_store_n(&closer.busy, 0, __ATOMIC_RELEASE);
	return 0;
}

static void closer_add(int fd)
{
	int k = closer.n++;

	for (; k > 0 && closer.fds[k - 1] > fd; k--) /* sorted: see closer_main */
		closer.fds[k] = closer.fds[k - 1];
	closer.fds[k] = fd;
}

/* Detach the syscall hooks: the closer closes the links and the events.
 * Not only the events' close is slow: on 6.18 a perf link's release waits
 * for an RCU-tasks-trace grace period too (perf_event_detach_bpf_prog;
 * ~23 ms each, 0.9 s for the 40, when the machine is busy), and unlinking
 * the 41 fentry trampolines took 3.4 s of record -- true's stop in the 6.1
 * guest, against 0.16 s on the raw pair. So the programs stay attached in
 * the closer until it is done, idle: the switch's error path drops
 * tracepoint programs that act only under sys_mode 1, and at the end of
 * the recording collector__finish makes every pair idle first. */
static void drop_syscalls(struct collector *c)
{
	sigset_t all, old;
	int n = c->n_sys_links;

	if (n && __atomic_exchange_n(&closer.busy, 1, __ATOMIC_ACQ_REL))
		n = 0; /* a closer still at work: close them here */
	if (n) {
		closer.n = 0;
		for (int i = 0; i < c->n_sys_links; i++) {
			closer_add(bpf_link__fd(c->sys_links[i]));
			if (c->sys_pfd[i] >= 0 && c->sys_pfd[i] != bpf_link__fd(c->sys_links[i]))
				closer_add(c->sys_pfd[i]);
		}
		closer.go = 0;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		if (clone(closer_main, closer.stack + sizeof(closer.stack), CLONE_VM, NULL) < 0) {
			__atomic_store_n(&closer.busy, 0, __ATOMIC_RELEASE);
			n = 0;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	detach_syscalls(c);
	if (n) {
		__atomic_store_n(&closer.go, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &closer.go, FUTEX_WAKE, 1, NULL, NULL, 0);
	}
}

/*
 * The per-syscall pair (sc_enter, sc_exit) in an object of its own, sharing
 * every map of the loaded one: verifying it is ~13 ms of the ~55 ms the
 * kernel spends verifying the collector (bench/NOTES.md, "the verifier's
 * share of the start"), and it is needed only at the switch (SWITCH_MS
 * after the start, by the switch's thread, on the other CPU while the
 * command runs), never on fentry kernels, never in a command that ends
 * before. 0, or -errno with why set.
 */
static int load_late(struct collector *c, char *why, size_t why_len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts,
		    .object_name = bpf_object__name(c->skel->obj),
		    .btf_custom_path = c->btf_fd >= 0 ? c->btf_path : NULL);
	static const char *const names[2] = { "sc_enter", "sc_exit" };
	struct bpf_object *obj;
	struct bpf_program *p;
	struct bpf_map *m;
	const void *elf;
	size_t sz;
	int err;

	if (c->sc_prog[0])
		return 0;
	if (c->late_err) {
		set_why(why, why_len, "%s", c->late_why);
		return c->late_err;
	}
	if (c->compat) {
		set_why(why, why_len, "the compat variant has no per-syscall programs");
		return -EOPNOTSUPP;
	}
	elf = collector_bpf__elf_bytes(&sz);
	obj = bpf_object__open_mem(elf, sz, &opts);
	if (!obj) {
		err = -errno;
		set_why(why, why_len, "cannot open the per-syscall programs: %s",
			strerror(-err));
		return err;
	}
	bpf_object__for_each_program(p, obj)
		bpf_program__set_autoload(p, !strcmp(bpf_program__name(p), names[0]) ||
					     !strcmp(bpf_program__name(p), names[1]));
	err = 0;
	bpf_object__for_each_map(m, obj) {
		struct bpf_map *a = bpf_object__find_map_by_name(c->skel->obj, bpf_map__name(m));

		if (!a || bpf_map__reuse_fd(m, bpf_map__fd(a))) {
			err = a ? -errno : -ENOENT;
			set_why(why, why_len, "cannot share map %s with the per-syscall "
				"programs: %s", bpf_map__name(m), strerror(-err));
			break;
		}
	}
	if (!err) {
		/* libbpf's messages kept as at the start, not printed over the
		 * command's output (the main thread makes no libbpf calls that
		 * print while the recording runs) */
		libbpf_print_fn_t old = libbpf_set_print(libbpf_print);

		libbpf_msg[0] = 0;
		verifier_msg[0] = 0;
		failed_prog[0] = 0;
		err = bpf_object__load(obj);
		libbpf_set_print(old);
		if (err && verifier_msg[0])
			set_why(why, why_len, "the kernel's verifier refused the per-syscall "
				"programs: %s: %s", libbpf_msg, verifier_msg);
		else if (err)
			set_why(why, why_len, "the kernel refused the per-syscall programs: %s",
				libbpf_msg[0] ? libbpf_msg : strerror(-err));
	}
	if (err) {
		bpf_object__close(obj);
		c->late_err = err;
		snprintf(c->late_why, sizeof(c->late_why), "%s", why);
		return err;
	}
	c->late = obj;
	for (int i = 0; i < 2; i++)
		c->sc_prog[i] = bpf_object__find_program_by_name(obj, names[i]);
	if (c->btf_fd >= 0) {
		close(c->btf_fd);
		c->btf_fd = -1;
	}
	return 0;
}

/* Attach sc_enter/sc_exit to the hooked calls' own tracepoints. 0, or
 * -errno with c->sys_why set (nothing left attached). */
static int attach_tp_hooks(struct collector *c)
{
	int ids[2 * N_HOOKED], err;

	c->sys_why[0] = 0;
	err = load_late(c, c->sys_why, sizeof(c->sys_why));
	if (!err)
		err = syscall_tp_ids(ids, c->sys_why, sizeof(c->sys_why));
	for (int i = 0; !err && i < 2 * N_HOOKED; i++) {
		struct bpf_link *l;
		int pfd = -1;

		if (__atomic_load_n(&c->sw_stop, __ATOMIC_ACQUIRE)) {
			err = -ECANCELED;
			set_why(c->sys_why, sizeof(c->sys_why),
				"the recording ended while the per-syscall tracepoints were attached");
			break;
		}
		if (ids[i] < 0) {
			/* a kernel without this call (mseal before 6.10):
			 * nothing to hook; the exit needs its entry */
			if (!(i & 1) || ids[i - 1] < 0 || i / 2 == HOOK_EXIT_GROUP)
				continue;
			err = -ENOENT;
			set_why(c->sys_why, sizeof(c->sys_why), "no tracepoint sys_exit_%s",
				hooked_calls[i / 2]);
			break;
		}
		l = attach_tp_id(c->sc_prog[i & 1], ids[i], &pfd);
		if (!l) {
			err = -errno;
			set_why(c->sys_why, sizeof(c->sys_why), "cannot attach sys_%s_%s: %s",
				i & 1 ? "exit" : "enter", hooked_calls[i / 2], strerror(-err));
			break;
		}
		c->sys_pfd[c->n_sys_links] = pfd;
		c->sys_links[c->n_sys_links++] = l;
	}
	if (!err && ids[0] < 0) {
		err = -ENOENT;
		set_why(c->sys_why, sizeof(c->sys_why), "no tracepoint sys_enter_mmap");
	}
	if (err) {
		drop_syscalls(c);
		if (!c->sys_why[0])
			set_why(c->sys_why, sizeof(c->sys_why), "%s", strerror(-err));
	}
	return err;
}

/* Per-syscall tracepoints cost the rest of the machine's system calls far
 * less than the raw pair (bench/NOTES.md "Untraced processes"), but their
 * 40 perf events take ~10-20 ms to attach, which the command's start
 * should not wait for, and seconds to close (drop_syscalls: done by a
 * closer process, not waited for). So by default a recording starts on
 * the raw pair and a thread of its own (switch_main) attaches them once
 * the recording has run SWITCH_MS, then switches: a command that ends
 * before never pays for them (their attach's CPU, the machine-wide grace
 * periods of their teardown; 100 ms was too short for record -- true on
 * a loaded machine), a longer one spends SWITCH_MS plus the attach on the
 * raw pair (bench/NOTES.md "Issue 23: the raw phase").
 * VMAPROF_SYSCALL_HOOKS=raw|tracepoints chooses one for the whole run,
 * =switch this switch even where fentry would do (attach_fentry, tried
 * first); VMAPROF_SYSCALL_SWITCH_MS overrides the delay. */
#define SWITCH_MS 500

static void *switch_main(void *arg);

/* Hook system calls at start: see SWITCH_MS. */
static int attach_syscalls(struct collector *c, char *why, size_t why_len)
{
	const char *mode = getenv("VMAPROF_SYSCALL_HOOKS");
	const char *ms = getenv("VMAPROF_SYSCALL_SWITCH_MS");

	c->switch_at = vp_mono_ns() + (uint64_t)(ms && *ms ? atol(ms) : SWITCH_MS) * 1000000;
	if (c->fentry && !attach_fentry(c)) {
		c->switch_at = 0;
		c->sys_state = SYS_FENTRY;
		return 0;
	}
	if (fentry_forced()) {
		set_why(why, why_len, "VMAPROF_SYSCALL_HOOKS=fentry: %s", c->fentry_why);
		return -EOPNOTSUPP;
	}
	if (mode && (!strcmp(mode, "fentry") || !strcmp(mode, "switch")))
		mode = NULL;
	if (c->compat) {
		c->switch_at = 0;
		c->sys_state = SYS_RAW_FAILED;
		set_why(c->sys_why, sizeof(c->sys_why),
			"the compat variant: per-syscall tracepoints need bpf_task_pt_regs "
			"(Linux 5.15) and the rest of the default variant");
	} else if (mode && !strcmp(mode, "tracepoints")) {
		c->switch_at = 0;
		c->skel->bss->sys_mode = 1;
		if (!attach_tp_hooks(c)) {
			c->sys_state = SYS_TP;
			return 0;
		}
		c->skel->bss->sys_mode = 0;
		c->sys_state = SYS_RAW_FAILED;
	} else if (mode && *mode && strcmp(mode, "auto")) {
		c->switch_at = 0;
		c->sys_state = SYS_RAW_FAILED;
		set_why(c->sys_why, sizeof(c->sys_why), "VMAPROF_SYSCALL_HOOKS=%s", mode);
	} else {
		c->sys_state = SYS_RAW;
		set_why(c->sys_why, sizeof(c->sys_why),
			"shorter than %s ms, the switch delay, and the attach",
			ms && *ms ? ms : "500");
	}
	c->skel->links.sys_enter = bpf_program__attach(c->skel->progs.sys_enter);
	if (!c->skel->links.sys_enter)
		goto fail;
	c->skel->links.sys_exit = bpf_program__attach(c->skel->progs.sys_exit);
	if (!c->skel->links.sys_exit)
		goto fail;
	if (c->sys_state == SYS_RAW) {
		pthread_condattr_t ca;
		int err = pthread_condattr_init(&ca);

		if (!err)
			err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (!err)
			err = pthread_cond_init(&c->sw_cond, &ca);
		pthread_condattr_destroy(&ca);
		if (!err) {
			err = pthread_mutex_init(&c->sw_lock, NULL);
			if (err)
				pthread_cond_destroy(&c->sw_cond);
		}
		if (!err) {
			err = pthread_create(&c->sw_thread, NULL, switch_main, c);
			if (err) {
				pthread_cond_destroy(&c->sw_cond);
				pthread_mutex_destroy(&c->sw_lock);
			}
		}
		c->sw_thread_on = !err;
		if (err) {
			c->sys_state = SYS_RAW_FAILED;
			set_why(c->sys_why, sizeof(c->sys_why),
				"cannot start the switch's thread: %s", strerror(err));
		}
	}
	return 0;
fail:
	set_why(why, why_len, "cannot attach the syscall programs: %s",
		libbpf_msg[0] ? libbpf_msg : strerror(errno));
	return -errno;
}

/* From the raw pair to the per-syscall tracepoints: attach the latter
 * (their programs idle while sys_mode is 0), flip sys_mode, detach the raw
 * pair. On failure the raw pair stays and the reason is kept; stopped by
 * the end of the recording, it stays SYS_RAW. */
static void switch_syscalls(struct collector *c)
{
	int err = attach_tp_hooks(c);

	if (err) {
		if (err != -ECANCELED)
			c->sys_state = SYS_RAW_FAILED;
		return;
	}
	__atomic_store_n(&c->skel->bss->sys_mode, 1, __ATOMIC_RELEASE);
	bpf_link__destroy(c->skel->links.sys_enter);
	bpf_link__destroy(c->skel->links.sys_exit);
	c->skel->links.sys_enter = NULL;
	c->skel->links.sys_exit = NULL;
	c->sys_state = SYS_SWITCHED;
}

/* Until CLOCK_MONOTONIC `at` ns, or sw_stop; whether stopped. */
static int switch_wait(struct collector *c, uint64_t at)
{
	struct timespec ts = { (time_t)(at / 1000000000u), (long)(at % 1000000000u) };
	int stop;

	pthread_mutex_lock(&c->sw_lock);
	while (!c->sw_stop &&
	       pthread_cond_timedwait(&c->sw_cond, &c->sw_lock, &ts) != ETIMEDOUT)
		;
	stop = c->sw_stop;
	pthread_mutex_unlock(&c->sw_lock);
	return stop;
}

/* The per-syscall pair is loaded LATE_LEAD_MS before the switch (load_late;
 * ~15 ms here, ten times that under an emulating hypervisor), so that the
 * switch still comes when it is due. */
#define LATE_LEAD_MS 100

/* The switch's thread: waits until switch_at, unless the recording ends
 * first (collector__finish sets sw_stop), then switches. Once started,
 * only it touches the syscall links, sys_state and the late object until
 * joined. */
static void *switch_main(void *arg)
{
	struct collector *c = arg;
	uint64_t lead = (uint64_t)LATE_LEAD_MS * 1000000;
	sigset_t all;

	sigfillset(&all); /* the recorder's signals are the main thread's */
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	if (switch_wait(c, c->switch_at > lead ? c->switch_at - lead : 0))
		return NULL;
	/* a failure is kept and said by the switch (attach_tp_hooks) */
	load_late(c, c->sys_why, sizeof(c->sys_why));
	if (!switch_wait(c, c->switch_at))
		switch_syscalls(c);
	return NULL;
}

/* End the switch's thread: at once while it waits; after the event it is
 * attaching (attach_tp_hooks looks at sw_stop between events). */
static void stop_switch(struct collector *c)
{
	if (!c->sw_thread_on)
		return;
	pthread_mutex_lock(&c->sw_lock);
	__atomic_store_n(&c->sw_stop, 1, __ATOMIC_RELEASE);
	pthread_cond_signal(&c->sw_cond);
	pthread_mutex_unlock(&c->sw_lock);
	pthread_join(c->sw_thread, NULL);
	pthread_cond_destroy(&c->sw_cond);
	pthread_mutex_destroy(&c->sw_lock);
	c->sw_thread_on = 0;
}

/* How system calls are hooked, and why: fentry's reason, or why not
 * fentry then (while raw) why not the per-syscall tracepoints. */
const char *collector__syscall_hooks(const struct collector *c, const char **why)
{
	static const char *const name[] = { [SYS_RAW] = "raw", [SYS_RAW_FAILED] = "raw",
					    [SYS_TP] = "tracepoints",
					    [SYS_SWITCHED] = "raw then tracepoints",
					    [SYS_FENTRY] = "fentry" };
	struct collector *w = (struct collector *)c;
	int raw;

	*why = NULL;
	if (!c)
		return "none";
	raw = c->sys_state == SYS_RAW || c->sys_state == SYS_RAW_FAILED;
	if (c->sys_state == SYS_FENTRY)
		set_why(w->hooks_why, sizeof(w->hooks_why),
			"fentry/fexit on the calls' __x64_sys_* functions: other calls and "
			"processes run none of our code");
	else
		set_why(w->hooks_why, sizeof(w->hooks_why), "no fentry: %s%s%s", c->fentry_why,
			raw ? "; " : "", raw ? c->sys_why : "");
	*why = c->hooks_why;
	return name[c->sys_state];
}

/* Whether this kernel can run either variant (kernel BTF, the BPF ring
 * buffer), and which one it runs (c->compat). 0, or -errno with why set. */
static int check_kernel(struct collector *c, char *why, size_t why_len)
{
	int err, mfd;

	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		err = -errno;
		set_why(why, why_len, "no kernel BTF (/sys/kernel/btf/vmlinux: %s; the kernel "
			"collector needs Linux 5.10 or later built with CONFIG_DEBUG_INFO_BTF)",
			strerror(-err));
		return err;
	}
	/* Older than either variant: no BPF ring buffer (5.8). A map created
	 * here also proves we may load BPF at all; if not (EPERM: no
	 * privilege, a user namespace) the probes below could not tell a
	 * missing feature from a refusal: the default variant's load then
	 * says why. */
	mfd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, 4096, NULL);
	if (mfd >= 0) {
		close(mfd);
		c->compat = pick_variant(c->variant_why, sizeof(c->variant_why));
	} else if (errno == EINVAL) {
		set_why(why, why_len, "this kernel lacks the BPF ring buffer (Linux 5.8): the "
			"kernel collector needs Linux 5.10 or later");
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The kernel refused to load the programs (-errno err): say why. */
static void explain_load_failure(const struct collector *c, int err, char *why, size_t why_len)
{
	const char *msg = libbpf_msg[0] ? libbpf_msg : strerror(-err);

	if (verifier_msg[0])
		set_why(why, why_len, "BPF program refused by the kernel's verifier (%s "
			"variant%s%s): %s: %s", c->compat ? "compat" : "default",
			c->variant_why[0] ? ", " : "", c->variant_why, msg, verifier_msg);
	else if (err == -EPERM || err == -EACCES)
		set_why(why, why_len, "not allowed to load BPF programs (need root, or CAP_BPF and "
			"CAP_PERFMON): %s", msg);
	else
		set_why(why, why_len, "BPF program refused by the kernel: %s", msg);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

/* While it loads tracing programs, libbpf reads the running kernel's whole
 * BTF (/sys/kernel/btf/vmlinux, 5-6 MB) into one buffer and copies it into
 * another: on fresh heap pages, ~2,900 page faults, which cost ~12 us each
 * on a VM whose faults are dear -- a third of the collector's start there
 * (bench/NOTES.md, "the collector's start and its page faults"). The room is
 * made ahead instead, in huge pages where THP allows it and populated in one
 * call, for the heap to hand out to libbpf, and given back after the load
 * (heap_back). A kernel without MADV_POPULATE_WRITE (before 5.14) faults as
 * before, into huge pages where it can. */
static uintptr_t ahead_lo, ahead_hi;

static void heap_ahead(void)
{
	struct stat st;
	size_t bytes;
	uintptr_t a, e;
	void *p;

	if (stat("/sys/kernel/btf/vmlinux", &st) || st.st_size <= 0 || st.st_size > (12 << 20))
		return;
	bytes = 2 * (size_t)st.st_size + (2 << 20);
	/* glibc maps a block this large apart; freeing it raises glibc's own
	 * thresholds (mmap: that block's size, trim: twice it; up to 32 MiB),
	 * so that the next, a little smaller, comes from the heap and stays
	 * there when freed -- and libbpf's two buffers after it. No mallopt:
	 * that would stop the thresholds following the program for good. */
	p = malloc(bytes + (1 << 20));
	__asm__ volatile("" : : "r"(p) : "memory"); /* a pair the compiler keeps */
	free(p);
	p = malloc(bytes);
	if (!p)
		return;
	a = ((uintptr_t)p + 4095) & ~(uintptr_t)4095;
	e = ((uintptr_t)p + bytes) & ~(uintptr_t)4095;
	if (e > a) {
		/* huge pages where the kernel has them for the asking: fewer
		 * pages to populate, fewer entries to map */
		madvise((void *)a, e - a, MADV_HUGEPAGE);
		madvise((void *)a, e - a, MADV_POPULATE_WRITE);
		ahead_lo = a;
		ahead_hi = e;
	}
	free(p);
}

/* What the load left free returned to the kernel; the heap grows into
 * small pages again. */
static void heap_back(void)
{
	if (ahead_hi > ahead_lo)
		madvise((void *)ahead_lo, ahead_hi - ahead_lo, MADV_NOHUGEPAGE);
	ahead_lo = ahead_hi = 0;
	malloc_trim(0);
}

/* Open and load the chosen variant: with the reduced BTF if it is this
 * kernel's (made for the default variant's relocations); if that fails for
 * any reason, once more as before, with the running kernel's whole BTF.
 * 0, or -errno with why set. */
static int load_programs(struct collector *c, const struct collector_opts *o, char *why,
			 size_t why_len)
{
	char btf_path[64];
	int err, mfd = c->compat ? -1 : min_btf_fd(btf_path, sizeof(btf_path));

	fentry_probe(c);
	heap_ahead();
	for (;;) {
		err = open_and_load(c, o, mfd >= 0 ? btf_path : NULL, why, why_len);
		if (!err)
			break;
		if (c->fentry && err != -EAGAIN && !fentry_forced() &&
		    (!strncmp(failed_prog, "fe_", 3) || !strncmp(failed_prog, "fx_", 3))) {
			/* the kernel took the probe but not this program: the
			 * rest without the fentry pairs, saying why */
			set_why(c->fentry_why, sizeof(c->fentry_why), "%s refused: %s%s%s",
				failed_prog, libbpf_msg, verifier_msg[0] ? ": " : "", verifier_msg);
			c->fentry = 0;
		} else if (mfd >= 0) {
			close(mfd);
			mfd = -1;
		} else {
			break;
		}
		collector_bpf__destroy(c->skel);
		c->skel = NULL;
	}
	heap_back();
	if (mfd >= 0 && !err) {
		/* kept for load_late's relocations */
		c->btf_fd = mfd;
		snprintf(c->btf_path, sizeof(c->btf_path), "%s", btf_path);
	} else if (mfd >= 0) {
		close(mfd);
	}
	if (err == -EAGAIN)
		return err; /* open failed: said why */
	if (err)
		explain_load_failure(c, err, why, why_len);
	return err;
}

/* Attach the programs, the task iterator, the run-time stats if asked, and
 * map the ring buffer. 0, or -errno with why set. */
static int attach_programs(struct collector *c, const struct collector_opts *o, char *why,
			   size_t why_len)
{
	int err;

	libbpf_msg[0] = 0;
	err = collector_bpf__attach(c->skel);
	if (err) {
		set_why(why, why_len, "cannot attach the BPF programs: %s",
			libbpf_msg[0] ? libbpf_msg : strerror(-err));
		return err;
	}
	err = attach_syscalls(c, why, why_len);
	if (err)
		return err;
	/* Without the task iterator, faults still pending in task storage when
	 * recording stops could not be collected: refuse now rather than lose
	 * them uncounted later. */
	c->flush_link = bpf_program__attach_iter(c->skel->progs.flush_tasks, NULL);
	if (!c->flush_link) {
		err = -errno;
		set_why(why, why_len, "cannot attach the task iterator: %s",
			libbpf_msg[0] ? libbpf_msg : strerror(-err));
		return err;
	}
	if (o->prog_stats) {
		c->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
		if (c->stats_fd < 0) {
			err = -errno;
			set_why(why, why_len, "cannot enable BPF run-time stats: %s",
				strerror(-err));
			return err;
		}
	}
	c->rb = ring_buffer__new(bpf_map__fd(c->skel->maps.rb), on_sample, c, NULL);
	if (!c->rb) {
		err = -errno;
		set_why(why, why_len, "cannot map the ring buffer: %s", strerror(-err));
		return err;
	}
	return 0;
}

/* The trace file (VP_SRC_BPF), its header written. 0, or -errno with why
 * set. */
static int create_trace(struct collector *c, const char *path, char *why, size_t why_len)
{
	struct stat ns; /* the namespace of hdr.pid (record.h) */
	int err;

	err = tracewriter__init(&c->tw, VP_SRC_BPF, (uint32_t)getpid(),
				VP_FH_SEQUENTIAL | VP_FH_SEGSUM, vp_mono_ns(), OUT_BUF_SIZE);
	if (err) {
		set_why(why, why_len, "out of memory");
		return err;
	}
	c->tw.hdr.pid_ns = stat("/proc/self/ns/pid", &ns) ? 0 : (uint32_t)ns.st_ino;
	c->proc_sees_pids = c->tw.hdr.pid_ns == VP_PID_NS_INIT;
	/* a new file, never through a symlink planted under its name */
	c->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (c->fd < 0) {
		err = -errno;
		set_why(why, why_len, "cannot create %s: %s", path, strerror(-err));
		return err;
	}
	err = tracewriter__begin(&c->tw, c->fd);
	if (err)
		set_why(why, why_len, "cannot write %s: %s", path, strerror(-err));
	return err;
}

int collector__new(const struct collector_opts *o, struct collector **out, char *why,
		   size_t why_len)
{
	libbpf_print_fn_t old_print;
	struct collector *c;
	int err;

	*out = NULL;
	if (!o || !o->trace_path) {
		set_why(why, why_len, "no trace path");
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = -errno;
		set_why(why, why_len, "out of memory");
		return err;
	}
	c->fd = -1;
	c->stats_fd = -1;
	c->btf_fd = -1;
	old_print = libbpf_set_print(libbpf_print);
	err = check_kernel(c, why, why_len);
	if (!err)
		err = load_programs(c, o, why, why_len);
	if (!err)
		err = attach_programs(c, o, why, why_len);
	if (!err)
		err = create_trace(c, o->trace_path, why, why_len);
	libbpf_set_print(old_print);
	if (!err) {
		*out = c;
		return 0;
	}
	c->finished = 1; /* nothing to drain */
	collector__free(c);
	return err;
}

/* min_flt + maj_flt and maj_flt (fields 10 and 12) of a stat file: the
 * process's (/proc/PID/stat) or one thread's (/proc/PID/task/TID/stat);
 * zeros when unreadable. */
static void stat_faults(const char *path, __u64 *flt, __u64 *maj)
{
	char buf[1024], *p;
	unsigned long long minf = 0, majf = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minf, &majf) != 2)
		return;
	*flt = minf + majf;
	*maj = majf;
}

static void proc_faults(pid_t pid, __u64 *flt, __u64 *maj)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	stat_faults(path, flt, maj);
}

const char *collector__variant(const struct collector *c, const char **why)
{
	*why = c && c->variant_why[0] ? c->variant_why : NULL;
	return !c ? "none" : c->compat ? "compat" : "default";
}

/* The compat variant's map is keyed by tid (collector.bpf.c). */
static int track_tid(struct collector *c, pid_t tid, const struct task_state *v, __u64 flags)
{
	__u32 key = (__u32)tid;

	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.tstate), &key, v, flags))
		return -errno;
	return 0;
}

int collector__track(struct collector *c, pid_t root_pid)
{
	struct task_state v;
	int pidfd, err = 0;

	if (!c || c->finished || root_pid <= 0)
		return -EINVAL;
	if (c->compat) {
		memset(&v, 0, sizeof(v));
		v.traced = 1;
		proc_faults(root_pid, &v.sys_flt0, &v.sys_maj0);
		return track_tid(c, root_pid, &v, BPF_ANY);
	}
	pidfd = syscall(SYS_pidfd_open, root_pid, 0);
	if (pidfd < 0)
		return -errno;
	memset(&v, 0, sizeof(v));
	v.traced = 1;
	/* the root's fault counters now (it is blocked): the balance of
	 * faults made without events starts there (collector.bpf.c) */
	proc_faults(root_pid, &v.sys_flt0, &v.sys_maj0);
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.tstate), &pidfd, &v, BPF_ANY))
		err = -errno;
	close(pidfd);
	return err;
}

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* Linux 6.9: a pidfd of the thread, not the process */
#endif

/* Mark thread `tid` with the initial state v through the task iterator
 * mark_tasks (collector.bpf.c): for kernels where a pidfd cannot name one
 * thread. 0, -ESRCH (no such task now), -EEXIST (it had an entry: kept) or
 * -errno. One pass over the machine's tasks: ~0.1 ms per thousand. */
static int mark_by_iter(struct collector *c, pid_t tid, const struct task_state *v)
{
	int mfd = bpf_map__fd(c->skel->maps.marks), fd, err = 0;
	__u32 key = (__u32)tid;
	struct task_state got;
	char buf[64];
	ssize_t n;

	if (!c->mark_link) {
		c->mark_link = bpf_program__attach_iter(c->skel->progs.mark_tasks, NULL);
		if (!c->mark_link)
			return -errno;
	}
	if (bpf_map_update_elem(mfd, &key, v, BPF_ANY))
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(c->mark_link));
	if (fd < 0)
		err = -errno;
	else {
		while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
			;
		if (n < 0)
			err = -errno;
		close(fd);
	}
	if (!err && bpf_map_lookup_elem(mfd, &key, &got))
		err = -errno;
	bpf_map_delete_elem(mfd, &key);
	if (err)
		return err;
	switch (got._pad0) {
	case CT_MARK_CREATED: return 0;
	case CT_MARK_EXISTED: return -EEXIST;
	case CT_MARK_FAILED: return -ENOMEM;
	default: return -ESRCH;
	}
}

int collector__track_thread(struct collector *c, pid_t tid)
{
	struct task_state v;
	int pidfd = -1, err = 0;

	if (!c || c->finished || tid <= 0)
		return -EINVAL;
	if (!c->compat) {
		pidfd = syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
		/* EINVAL: a kernel before 6.9 (no PIDFD_THREAD): the iterator */
		if (pidfd < 0 && errno != EINVAL)
			return -errno;
	}
	memset(&v, 0, sizeof(v));
	v.traced = 1;
	/* the thread's own counters (task_faults in collector.bpf.c): the
	 * balance of faults made without events starts there. It runs: a
	 * fault between this read and the update below is neither traced nor
	 * in the base, so the balance reports it (as populated, unhooked). */
	{
		char path[80];

		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)tid, (int)tid);
		stat_faults(path, &v.sys_flt0, &v.sys_maj0);
	}
	/* never overwrite a state the programs keep (an open fault, batches) */
	if (pidfd < 0)
		return mark_by_iter(c, tid, &v);
	if (bpf_map_update_elem(bpf_map__fd(c->skel->maps.tstate), &pidfd, &v, BPF_NOEXIST))
		err = errno == ENOENT ? -ESRCH : -errno; /* ENOENT: the thread is gone */
	close(pidfd);
	return err;
}

int collector__traced(struct collector *c, pid_t pid)
{
	struct task_state v;
	int pidfd, r;

	if (!c || pid <= 0)
		return -EINVAL;
	if (c->compat) {
		__u32 key = (__u32)pid;

		if (bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.tstate), &key, &v))
			return errno == ENOENT ? 0 : -errno;
		return 1;
	}
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return errno == ESRCH ? 0 : -errno;
	r = bpf_map_lookup_elem(bpf_map__fd(c->skel->maps.tstate), &pidfd, &v) == 0;
	if (!r && errno != ENOENT)
		r = -errno;
	close(pidfd);
	return r;
}

static int after_drain(struct collector *c, int n)
{
	check_lost(c);
	size_t buffered = tracewriter__buffered(&c->tw);

	if (buffered >= FLUSH_AT || (n == 0 && buffered)) {
		int err = tracewriter__flush(&c->tw);

		if (err && !c->write_err_told) {
			c->write_err_told = 1;
			return err;
		}
	}
	return n;
}

int collector__poll_sigmask(struct collector *c, int timeout_ms, const sigset_t *sigmask)
{
	struct epoll_event ev;
	int n;

	if (!c || c->finished)
		return -EINVAL;
	/* The kernel side wakes us only when the ring is filling up (see
	 * wake_bytes); after the timeout, or a signal, drain whatever is
	 * there. epoll_pwait: a signal that sigmask unblocks ends the wait
	 * even when it came before the call (the caller keeps it blocked
	 * outside), so a child's exit is seen at once, never a timeout late. */
	if (epoll_pwait(ring_buffer__epoll_fd(c->rb), &ev, 1, timeout_ms, sigmask) < 0 &&
	    errno != EINTR)
		return -errno;
	n = ring_buffer__consume(c->rb);
	if (n < 0)
		return n;
	return after_drain(c, n);
}

int collector__poll(struct collector *c, int timeout_ms)
{
	return collector__poll_sigmask(c, timeout_ms, NULL);
}

/* Run flush_tasks over every task: each task's pending faults go to the
 * ring buffer (a failed output is counted in `lost` there). */
static int flush_pending(struct collector *c)
{
	char buf[64];
	int fd, err = 0;
	ssize_t n;

	if (!c->flush_link)
		return 0;
	fd = bpf_iter_create(bpf_link__fd(c->flush_link));
	if (fd < 0)
		return -errno;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
	}
	close(fd);
	return err;
}

static int drain_all(struct collector *c)
{
	int n;

	do {
		n = ring_buffer__consume(c->rb);
		check_lost(c);
	} while (n > 0);
	return n < 0 ? n : 0;
}

int collector__finish(struct collector *c, struct collector_stats *st)
{
	int n, err = 0;

	if (!c || c->finished)
		return -EINVAL;
	/* Stop the producers first, then wait for a grace period: a program
	 * started before the detach may still be running on another CPU, and
	 * the tracepoints run them inside RCU read-side sections. After that
	 * records can only be in the ring or pending in task storage. */
	stop_switch(c);
	collector_bpf__detach(c->skel);
	__atomic_store_n(&c->skel->bss->sys_mode, SYS_MODE_IDLE, __ATOMIC_RELEASE);
	drop_syscalls(c);
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) < 0)
		usleep(50000); /* nohz_full or no membarrier: a program runs for µs */
	err = drain_all(c);
	n = flush_pending(c);
	if (n && !err)
		err = n;
	n = drain_all(c);
	if (n && !err)
		err = n;
	{
		int ferr = tracewriter__flush(&c->tw); /* also the header's counters and seal */

		if (ferr && !err)
			err = ferr;
	}
	if (close(c->fd) && !err)
		err = -errno;
	c->fd = -1;
	c->finished = 1;
	if (st) {
		st->records = c->tw.hdr.records;
		st->lost = c->tw.hdr.lost;
		st->faults = c->faults;
		st->untracked = c->skel->bss->untracked;
		st->unhandled = c->skel->bss->unhandled;
		st->kstacks = c->skel->bss->kstacks;
		st->kstacks_skipped = c->skel->bss->kstacks_skipped;
		st->wstacks = c->skel->bss->wstacks;
		st->wstacks_skipped = c->skel->bss->wstacks_skipped;
		st->ws_first = c->skel->rodata->ws_first;
		st->ws_every = c->skel->rodata->ws_every;
		st->mmstats = c->skel->bss->mmstats;
		st->rss_samples = c->skel->bss->rss_samples;
		st->rss_interval_ns = c->skel->rodata->rss_interval_ns;
		st->kstack_bytes = c->skel->rodata->kstack_pages ?
				   ((uint64_t)c->skel->rodata->kstack_pages - 1) << 12 : 0;
		st->ringbuf_bytes = bpf_map__max_entries(c->skel->maps.rb);
	}
	return err;
}

int collector__prog_stats(struct collector *c, struct collector_prog_stat *out, int max)
{
	struct bpf_object *objs[2] = { c ? c->skel->obj : NULL, c ? c->late : NULL };
	struct bpf_program *prog;
	int n = 0;

	if (!c)
		return -EINVAL;
	/* the late object's (load_late) too, once the switch's thread is done */
	for (int o = 0; o < 2 && objs[o]; o++) {
		bpf_object__for_each_program(prog, objs[o]) {
			struct bpf_prog_info info;
			__u32 len = sizeof(info);

			if (bpf_program__fd(prog) < 0)
				continue; /* not loaded (autoload off) */
			if (n < max) {
				memset(&info, 0, sizeof(info));
				if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len))
					return -errno;
				snprintf(out[n].name, sizeof(out[n].name), "%s",
					 bpf_program__name(prog));
				out[n].run_ns = info.run_time_ns;
				out[n].run_cnt = info.run_cnt;
			}
			n++;
		}
	}
	return n;
}

void collector__free(struct collector *c)
{
	if (!c)
		return;
	if (!c->finished)
		collector__finish(c, NULL);
	ring_buffer__free(c->rb);
	detach_syscalls(c);
	bpf_link__destroy(c->flush_link);
	bpf_link__destroy(c->mark_link);
	bpf_object__close(c->late);
	collector_bpf__destroy(c->skel);
	if (c->btf_fd >= 0)
		close(c->btf_fd);
	if (c->fd >= 0)
		close(c->fd);
	if (c->stats_fd >= 0)
		close(c->stats_fd);
	tracewriter__free(&c->tw);
	free(c);
}

/* `record -p`: ns_tasks over every task, once (collector.h). */
int collector__announce_ns(struct collector *c)
{
	struct bpf_link *link;
	char buf[64];
	int fd, err = 0;
	ssize_t n;

	if (!c || c->finished)
		return -EINVAL;
	link = bpf_program__attach_iter(c->skel->progs.ns_tasks, NULL);
	if (!link)
		return -errno;
	fd = bpf_iter_create(bpf_link__fd(link));
	if (fd < 0)
		err = -errno;
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	bpf_link__destroy(link);
	return err;
}
