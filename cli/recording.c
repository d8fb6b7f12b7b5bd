/* SPDX-License-Identifier: MIT */
/*
 * What `record COMMAND` (cmd_record.c) and `record -p PID` (attach.c)
 * share: recording.h. Neither of them is called from here.
 */
#include "recording.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <dirent.h>
#include <time.h>

#include "cli.h"
#include "collector.h"
#include "procfs.h"
#include "symbolize.h"
#include "vmaprof/clock.h"

const char vp_record_usage[] =
	"usage: vmaprof record [-o|--output DIR] [--no-bpf] [--no-preload] [--stack-depth N]\n"
	"                      [--no-stacks] [--no-signal-stacks] [--bpf-stats]\n"
	"                      [--write-stacks K,N|off] [--ring-buffer SIZE] [--html] [--every-vma] [--plumbing RULE]...\n"
	"                      [--stats] [--] COMMAND [ARG...]\n"
	"  --html       also write DIR/report.html (see `vmaprof report --format html`)\n"
	"  --live       while recording, a view on the terminal redrawn each second:\n"
	"               per process, faults per second (new pages, copies on write,\n"
	"               other), pages copied since its fork, pages allocated; q stops\n"
	"               and writes the report (README, \"Watch it live\")\n"
	"  --stats      on stderr: where the time went, phase by phase (start-up,\n"
	"               the program, stop and drain, the report split as `vmaprof\n"
	"               report --stats` splits it)\n"
	"  --every-vma  one report entry per mapping: do not fold repeated mappings\n"
	"               of one call site into one entry with `instances`\n"
	"  --plumbing RULE  also skip frames matching RULE when naming a call site\n"
	"               (GLOB, function:GLOB or module:GLOB; docs/labels.md)\n"
	"  --no-signal-stacks  do not signal the program for the stacks of mappings\n"
	"               the shim cannot see (malloc's own mmap/brk, ld.so, raw\n"
	"               syscalls); VMAPROF_SIGNAL=N picks the signal (default\n"
	"               SIGRTMAX-1)\n"
	"  --write-stacks K,N  the stacks of the writes that copy pages (copy on\n"
	"               write, shared writes): the first K write faults of each\n"
	"               thread after its start or its process's fork, then 1 in N\n"
	"               at random (default 8,64; 'off': none; counts stay exact)\n"
	"  --ring-buffer SIZE  the kernel collector's ring buffer (bytes, or with a\n"
	"               K/M/G suffix; rounded up to a power of two; default 8M): a\n"
	"               larger one rides out longer stalls of the recorder; what\n"
	"               does not fit is counted as lost in the report\n"
	"  --bpf-stats  turn on the kernel's BPF run-time statistics while recording\n"
	"               and store each program's run count and time in session.json\n"
	"               (costs some ns per program run; for measuring vmaprof)\n";

static int ringbuf_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	if (end == s || errno || *s == '-')
		return -1;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if ((*end == 'b' || *end == 'B') && shift)
		end++;
	if (*end || v > (COLLECTOR_RINGBUF_MAX >> shift))
		return -1;
	v <<= shift;
	if (v < COLLECTOR_RINGBUF_MIN)
		return -1;
	*out = (size_t)v;
	return 0;
}

int recording__parse_ringbuf_size(const char *s, size_t *out)
{
	if (!ringbuf_size(s, out))
		return 0;
	fprintf(stderr, "vmaprof: --ring-buffer must be %uK..%uM (a number with an optional K, "
		"M or G), got '%s'\n", (unsigned)(COLLECTOR_RINGBUF_MIN >> 10),
		(unsigned)(COLLECTOR_RINGBUF_MAX >> 20), s);
	return -1;
}

int recording__parse_write_stacks(const char *s, uint32_t *first, uint32_t *every)
{
	unsigned long long k, n;
	char *end;
	if (!strcmp(s, "off")) {
		*first = *every = 0;
		return 0;
	}
	errno = 0;
	k = strtoull(s, &end, 10);
	if (end != s && *end == ',' && s[0] >= '0' && s[0] <= '9' && end[1] >= '0' &&
	    end[1] <= '9') {
		const char *q = end + 1;
		n = strtoull(q, &end, 10);
		if (!errno && !*end && k <= 1000000 && n <= 1000000) {
			*first = (uint32_t)k;
			*every = (uint32_t)n;
			return 0;
		}
	}
	fprintf(stderr, "vmaprof: --write-stacks wants K,N (the first K write faults of each "
		"thread, then 1 in N; N 0: none after the first K; each at most 1000000) or "
		"'off', got '%s'\n", s);
	return -1;
}

/* collector__new failed with `err` and said why in `why`: when the cause is
 * a user namespace (root there is not root for BPF), say that instead. */
static void explain_bpf_failure(int err, char *why, size_t len)
{
	char map[96];
	if ((err != -EPERM && err != -EACCES) || !procfs_in_user_ns(map, sizeof(map)))
		return;
	/* libbpf's own words (RLIMIT_MEMLOCK, CONFIG_BPF_SYSCALL) and "need
	 * root" mislead here: uid 0 in a user namespace has every capability,
	 * but only over that namespace's own resources */
	snprintf(why, len, "running in a user namespace (%s): loading BPF programs needs "
		 "CAP_BPF and CAP_PERFMON in the initial user namespace, and a user "
		 "namespace's capabilities count only inside it (the kernel answered: %s)",
		 map, strerror(-err));
}

json_t *recording__collector_json(struct collector *col, const struct collector_stats *cst,
				   int prog_stats)
{
	json_t *x = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "records", (json_int_t)cst->records,
			      "faults", (json_int_t)cst->faults, "lost", (json_int_t)cst->lost,
			      "untracked", (json_int_t)cst->untracked, "unhandled_faults",
			      (json_int_t)cst->unhandled, "ring_buffer_bytes",
			      (json_int_t)cst->ringbuf_bytes);
	if (!x)
		return NULL;
	json_object_set_new(x, "kernel_stacks", json_integer((json_int_t)cst->kstacks));
	json_object_set_new(x, "kernel_stack_bytes", json_integer((json_int_t)cst->kstack_bytes));
	json_object_set_new(x, "kernel_stacks_skipped",
			    json_integer((json_int_t)cst->kstacks_skipped));
	json_object_set_new(x, "write_stacks",
			    json_pack("{s:I, s:I, s:I, s:I}", "first", (json_int_t)cst->ws_first,
				      "every", (json_int_t)cst->ws_every, "taken",
				      (json_int_t)cst->wstacks, "skipped",
				      (json_int_t)cst->wstacks_skipped));
	json_object_set_new(x, "mm_readings", json_integer((json_int_t)cst->mmstats));
	json_object_set_new(x, "rss_stat_interval_ns",
			    json_integer((json_int_t)cst->rss_interval_ns));
	json_object_set_new(x, "rss_samples", json_integer((json_int_t)cst->rss_samples));
	if (prog_stats) {
		struct collector_prog_stat ps[32];
		json_t *a = json_array();
		int n = collector__prog_stats(col, ps, 32);
		for (int i = 0; i < n && i < 32; i++)
			json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "name", ps[i].name,
							   "run_cnt", (json_int_t)ps[i].run_cnt,
							   "run_time_ns", (json_int_t)ps[i].run_ns));
		json_object_set_new(x, "programs", a);
	}
	const char *why, *hooks = collector__syscall_hooks(col, &why);
	json_object_set_new(x, "syscall_hooks", json_string(hooks));
	if (why)
		json_object_set_new(x, "syscall_hooks_reason", json_string(why));
	const char *vwhy, *variant = collector__variant(col, &vwhy);
	json_object_set_new(x, "variant", json_string(variant));
	if (vwhy)
		json_object_set_new(x, "variant_reason", json_string(vwhy));
	return x;
}


int recording__prepare_dir(const char *dir, struct out_owner *owner, int *dirfd, int *created,
			   char *absdir)
{
	char why[PATH_MAX + 256];
	*owner = out_owner_from_env();
	if (outdir_prepare(dir, owner, dirfd, created, why, sizeof(why)) < 0) {
		fprintf(stderr, "vmaprof: %s\n", why);
		return -1;
	}
	if (vp_dir_has_traces(dir) ||
	    faccessat(*dirfd, "report.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		fprintf(stderr, "vmaprof: %s already holds a recording or a report; choose another "
			"-o DIR\n", dir);
		*created = 0;
		return -1;
	}
	if (!realpath(dir, absdir)) {
		fprintf(stderr, "vmaprof: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

int recording__start_collector(const char *absdir, struct collector_opts *co,
			       struct collector **out, char *why, size_t why_len)
{
	char tp[PATH_MAX + 16];
	snprintf(tp, sizeof(tp), "%s/bpf.vpt", absdir);
	co->trace_path = tp;
	int err = collector__new(co, out, why, why_len);
	co->trace_path = NULL; /* tp is gone */
	if (err) {
		*out = NULL;
		explain_bpf_failure(err, why, why_len);
	}
	return err;
}

void recording__hand_over(int dirfd, const struct out_owner *owner, const char *absdir,
			  const char *name)
{
	if (owner->set && fchownat(dirfd, name, owner->uid, owner->gid, AT_SYMLINK_NOFOLLOW) < 0)
		fprintf(stderr, "vmaprof: cannot hand %s/%s to uid %u: %s\n", absdir, name,
			(unsigned)owner->uid, strerror(errno));
}

int recording__write_session(int dirfd, const struct out_owner *owner, json_t *s, int complete,
			     json_t *running)
{
	json_object_set_new(s, "complete", json_boolean(complete));
	/* the namespace session.json's pids are numbered in (record.h,
	 * vp_file_header.pid_ns) */
	json_object_set_new(s, "pid_ns", json_integer(procfs_pid_ns(0)));
	/* where a command's relative exec path (`./server`) is looked for
	 * once the process is gone (record.h, VP_TEXEC_FILE) */
	{
		char cwd[PATH_MAX];
		if (getcwd(cwd, sizeof(cwd)))
			json_object_set_new(s, "cwd", json_string(cwd));
	}
	/* the limit a process's mappings run into (the report flags a
	 * process whose map_count comes near it) */
	{
		FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
		long long v;
		if (f && fscanf(f, "%lld", &v) == 1 && v > 0)
			json_object_set_new(s, "vm_max_map_count", json_integer(v));
		if (f)
			fclose(f);
	}
	if (running)
		json_object_set(s, "running_at_end", running);
	struct outfile o;
	int err = outfile_begin(&o, dirfd, "session.json", owner);
	if (err) {
		json_decref(s);
		return err;
	}
	/* the start marker is for a recorder killed meanwhile (its writes
	 * stay in the page cache): an fsync would only delay the command's
	 * start (7-80 ms on this machine's disk); the end marker is synced */
	o.no_sync = !complete;
	int failed = json_dumpf(s, o.f, JSON_INDENT(2) | JSON_SORT_KEYS) != 0;
	json_decref(s);
	return outfile_commit(&o, failed);
}

#define PREFETCH_MS 20
/* A scan that read no maps (nothing new in the tree) doubles the wait
 * before the next, up to this: a long recording of a settled server
 * (hundreds of threads whose task lists are walked) costs a scan a
 * second, not fifty; a scan that found something new goes back to
 * PREFETCH_MS. */
#define PREFETCH_MAX_MS 1000
/* A process's maps are read when it is first seen and when it has
 * exec'd, then again on the next scans (ld.so maps the libraries after
 * the exec) up to this many times in all: a tree of many long-lived
 * processes is not read over and over (what they dlopen later is left to
 * the report). */
#define PREFETCH_READS 4
/* threads of one process whose children are looked for */
#define PREFETCH_THREADS 64
/* A settled process (its maps read PREFETCH_READS times, the same image)
 * is looked at (a stat of /proc/PID/exe: has it exec'd?) on the next
 * scan, then after skipping 1, 2, 4, ... scans, at most this many: a
 * settled tree costs no stat on most scans, and an exec after it settled
 * (a shell's last command) is still seen, within this many scans. */
#define PREFETCH_SKIP_MAX 32

struct seen_proc {
	pid_t pid;
	dev_t dev; /* its executable's (/proc/PID/exe) */
	ino_t ino;
	int reads;
	unsigned skip; /* scans left before its exe is looked at again */
	unsigned wait; /* the last skip (settled processes) */
};

struct recording_prefetch {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* with stop: end the wait now */
	int stop;
	struct symbolizer *sym;
	int news;            /* a scan saw a process (or image) not seen before */
	dev_t self_dev;      /* vmaprof's own executable: a child not yet */
	ino_t self_ino;      /* exec'd is vmaprof, its files not the command's */
	char *buf;
	size_t cap;
	pid_t *pids;         /* the walk's work list */
	size_t npids, pids_cap;
	/* the processes whose maps were read: the last scan's (sorted by
	 * pid) and this one's */
	struct seen_proc *seen, *next;
	size_t nseen, nnext, seen_cap;
	/* for --stats: scans, processes walked (each was stat'ed before
	 * settled ones were skipped), stats of /proc/PID/exe, maps read */
	uint64_t scans, walked, exe_stats, maps_reads;
	uint64_t cpu_ns; /* the scout thread's CPU time, when it ended */
};

/* All of file path into p->buf (grown as needed): its length, or -1. */
static ssize_t slurp(struct recording_prefetch *p, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	if (fd < 0)
		return -1;
	for (;;) {
		if (n == p->cap) {
			size_t nc = p->cap ? p->cap * 2 : 64 * 1024;
			char *nb = nc <= (64u << 20) ? realloc(p->buf, nc) : NULL;
			if (!nb) {
				close(fd);
				return -1;
			}
			p->buf = nb;
			p->cap = nc;
		}
		ssize_t r = read(fd, p->buf + n, p->cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			close(fd);
			return r < 0 ? -1 : (ssize_t)n;
		}
		n += (size_t)r;
	}
}

static void push_pid(struct recording_prefetch *p, long pid)
{
	if (p->npids == p->pids_cap) {
		size_t nc = p->pids_cap ? p->pids_cap * 2 : 64;
		pid_t *np = nc < (1u << 22) ? realloc(p->pids, nc * sizeof(*np)) : NULL;
		if (!np)
			return;
		p->pids = np;
		p->pids_cap = nc;
	}
	p->pids[p->npids++] = (pid_t)pid;
}

/* The children of every thread of pid onto the work list. */
static void push_children(struct recording_prefetch *p, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	struct dirent *e;
	int threads = 0;
	while (d && (e = readdir(d)) && threads < PREFETCH_THREADS) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		threads++;
		char cp[320];
		snprintf(cp, sizeof(cp), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		ssize_t n = slurp(p, cp);
		for (char *q = p->buf, *end = p->buf + (n > 0 ? n : 0); q < end;) {
			char *next;
			long c = strtol(q, &next, 10);
			if (next == q)
				break;
			if (c > 0)
				push_pid(p, c);
			q = next;
			while (q < end && *q == ' ')
				q++;
		}
	}
	if (d)
		closedir(d);
}

static int seen_cmp(const void *a, const void *b)
{
	const struct seen_proc *x = a, *y = b;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* A new entry of the next scan's table (NULL: no memory, then nothing is
 * noted); *old, in the last scan's, follows it if that moves. */
static struct seen_proc *seen_add(struct recording_prefetch *p, struct seen_proc **old)
{
	if (p->nnext == p->seen_cap) {
		/* both tables alike: they swap after the scan */
		size_t nc = p->seen_cap ? p->seen_cap * 2 : 64;
		struct seen_proc *a = realloc(p->seen, nc * sizeof(*a));
		if (a) {
			if (*old)
				*old = a + (*old - p->seen);
			p->seen = a;
		}
		struct seen_proc *b = a ? realloc(p->next, nc * sizeof(*b)) : NULL;
		if (!b)
			return NULL;
		p->next = b;
		p->seen_cap = nc;
	}
	return &p->next[p->nnext++];
}

/* Whether pid's maps are worth reading now; notes it for the next scan. */
static int want_maps(struct recording_prefetch *p, pid_t pid)
{
	struct seen_proc key = { .pid = pid }, *old = NULL, *n;
	if (p->nseen)
		old = bsearch(&key, p->seen, p->nseen, sizeof(key), seen_cmp);
	if (old && old->skip) { /* settled, not to be looked at yet */
		if ((n = seen_add(p, &old))) {
			*n = *old;
			n->skip--;
		}
		return 0;
	}
	char path[64];
	struct stat st;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	p->exe_stats++;
	if (stat(path, &st)) /* gone, a zombie, or not ours to read */
		return 0;
	if (st.st_dev == p->self_dev && st.st_ino == p->self_ino)
		return 0; /* forked, not exec'd yet: read after its exec */
	int same = old && old->dev == st.st_dev && old->ino == st.st_ino;
	if (!same)
		p->news = 1;
	if (!(n = seen_add(p, &old)))
		return 0; /* no memory: not read, nothing lost */
	*n = (struct seen_proc){ pid, st.st_dev, st.st_ino, same ? old->reads : 0, 0, 0 };
	/* read from the second scan that sees it (this image) on: a process
	 * gone within PREFETCH_MS (a /bin/true) is left to the report, whose
	 * lookups would otherwise wait behind the DWARF read of its files */
	if (!same)
		return 0;
	if (n->reads >= PREFETCH_READS) { /* settled: look again later */
		n->wait = old->wait ? old->wait * 2 : 1;
		if (n->wait > PREFETCH_SKIP_MAX)
			n->wait = PREFETCH_SKIP_MAX;
		n->skip = n->wait;
		return 0;
	}
	n->reads++;
	return 1;
}

/* One look at the tree: the maps of every descendant to the symbolizer. */
/* One walk of the tree: 1 when it saw a process or image not seen before
 * or read the maps of one (the tree is changing), else 0. */
static int scan(struct recording_prefetch *p)
{
	int read_any = 0;
	p->scans++;
	p->news = 0;
	p->npids = 0;
	push_children(p, getpid());
	p->nnext = 0;
	for (size_t i = 0; i < p->npids; i++) {
		pid_t pid = p->pids[i];
		char path[64];
		p->walked++;
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
		if (want_maps(p, pid)) {
			ssize_t n = slurp(p, path);
			read_any = 1;
			p->maps_reads++;
			if (n > 0 && symbolizer__prefetch_maps(p->sym, p->buf, (size_t)n))
				return read_any;
		}
		push_children(p, pid);
	}
	if (p->nnext > 1)
		qsort(p->next, p->nnext, sizeof(*p->next), seen_cmp);
	struct seen_proc *t = p->seen;
	p->seen = p->next;
	p->next = t;
	p->nseen = p->nnext;
	return read_any || p->news;
}

static void *prefetch_main(void *arg)
{
	struct recording_prefetch *p = arg;
	uint64_t wait_ms = PREFETCH_MS;
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		pthread_mutex_unlock(&p->lock);
		if (scan(p))
			wait_ms = PREFETCH_MS;
		else if ((wait_ms *= 2) > PREFETCH_MAX_MS)
			wait_ms = PREFETCH_MAX_MS;
		uint64_t until = vp_mono_ns() + wait_ms * 1000000ull;
		struct timespec ts = { (time_t)(until / 1000000000ull),
				       (long)(until % 1000000000ull) };
		pthread_mutex_lock(&p->lock);
		while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&p->lock);
	struct timespec cpu;
	if (!clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu))
		p->cpu_ns = (uint64_t)cpu.tv_sec * 1000000000ull + (uint64_t)cpu.tv_nsec;
	return NULL;
}

struct recording_prefetch *recording__prefetch_start(void)
{
	struct recording_prefetch *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;
	if (!p)
		return NULL;
	if (symbolizer__prefetch_new(&p->sym)) {
		free(p);
		return NULL;
	}
	struct stat self;
	if (!stat("/proc/self/exe", &self)) {
		p->self_dev = self.st_dev;
		p->self_ino = self.st_ino;
	}
	pthread_mutex_init(&p->lock, NULL);
	/* vp_mono_ns is CLOCK_MONOTONIC: the wait's deadline too */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* every signal blocked in it and in the symbolizer's worker it
	 * starts (which inherits the mask): SIGCHLD and the stop signals go
	 * to the thread that waits for them (cmd_record.c, wait_tree) */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int err = pthread_create(&p->thread, NULL, prefetch_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		symbolizer__free(p->sym);
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		free(p);
		return NULL;
	}
	return p;
}

void recording__prefetch_stop(struct recording_prefetch *p, FILE *stats)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	if (stats)
		fprintf(stats, "vmaprof: prefetch scout: %" PRIu64 " scans, %" PRIu64 " processes "
			"walked, %" PRIu64 " stats of /proc/PID/exe, %" PRIu64 " maps read, CPU "
			"%.3f s (its thread)\n", p->scans, p->walked, p->exe_stats, p->maps_reads,
			(double)p->cpu_ns / 1e9);
	symbolizer__free(symbolizer__donate(p->sym));
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->buf);
	free(p->pids);
	free(p->seen);
	free(p->next);
	free(p);
}

int recording__report(const char *absdir, int session_err, const struct vp_report_opts *o)
{
	if (session_err < 0)
		fprintf(stderr, "vmaprof: ERROR: cannot write %s/session.json: %s (the report "
			"will say the recording is incomplete)\n", absdir, strerror(-session_err));
	int failed = vp_write_report(absdir, NULL, stderr, o);
	/* a prefetch the report did not take (recording__prefetch_stop) */
	symbolizer__free(symbolizer__donate(NULL));
	if (failed) {
		fprintf(stderr, "vmaprof: ERROR: no report.json was written (the traces in %s "
			"stay; `vmaprof report %s` retries)\n", absdir, absdir);
		vp_print_record_summary(absdir, stderr);
		return 1;
	}
	return 0;
}
