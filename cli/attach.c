/* SPDX-License-Identifier: MIT */
/*
 * vmaprof record -p PID[,PID...]: attach the kernel collector to processes
 * that already run, and to everything they fork from then on, until
 * --duration ends, a SIGINT/SIGTERM/SIGHUP/SIGQUIT reaches vmaprof, or the
 * traced processes are all gone. docs/attach.md describes the mode.
 *
 * Attaching, per process (attach_one):
 *  1. its counters (/proc/PID/stat minflt, majflt) are read;
 *  2. every thread is marked traced (task storage is per thread): one pass
 *     over /proc/PID/task marks each thread through its own pidfd
 *     (collector__track_thread); passes repeat until one marks nothing new
 *     (a thread made by a marked thread is marked by sched_process_fork);
 *  3. the counters are read again: equal, the before-trace count is exact;
 *  4. /proc/PID/maps is read (after the marking: a mapping made after it is
 *     in the kernel's syscall records, one made before is in the snapshot;
 *     the snapshot is dated before the marking, so the analyzer applies
 *     the kernel's records of the window on top of it);
 *  5. a trace file of its own, preload.<pid>.<t0>.vpt, gets a VP_REC_PROC
 *     (its exe, argv, ppid) and the snapshot as VP_REC_MAPS records: a
 *     valid trace file by record.h's rules (sequential, sealed, checksummed;
 *     written by the one trace-file writer, vmaprof/tracewriter.h), so the
 *     analyzer makes `initial` entries of it as of a shim's start.
 * Nothing is done to the process itself: no ptrace, no signal, no write to
 * its memory; the collector's signal stacks are off (collector_opts.
 * no_signals). At the end the counters of every traced process still
 * running are read before the programs are detached (session.json
 * counters_at_end), so the report's kernel_counters are deltas over the
 * attach window, and each attached process's file gets a second maps
 * snapshot (names the files mapped in the window: the kernel's syscall
 * records carry no path).
 *
 * What `record COMMAND` does alike (the output directory, the collector's
 * start and figures, session.json, the report) is recording.h's; the
 * collector is collector.h's.
 *
 * The programs and maps live only as long as this process's file
 * descriptors (nothing is pinned): when vmaprof exits or is killed, the
 * kernel detaches and frees them, and the traced processes' task storage
 * goes with the map.
 */
#include "attach.h"
#include "live.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "collector.h"
#include "config.h"
#include "outfile.h"
#include "procfs.h"
#include "recording.h"
#include "vmaprof/clock.h"
#include "vmaprof/record.h"
#include "vmaprof/tracewriter.h"

#define MAX_PIDS 64
#define PF_KTHREAD 0x00200000 /* include/linux/sched.h */
#define MARK_PASSES 1000
/* How often to look for traced processes once every attached one is gone. */
#define GONE_CHECK_NS 200000000ull

static volatile sig_atomic_t att_stop, att_sig;

static void att_on_signal(int sig)
{
	att_stop = 1;
	att_sig = sig;
}

struct target {
	pid_t pid;
	int pidfd;
	uint64_t min0, maj0; /* counters before the marking */
	int exact;           /* ... and unchanged after it */
	int threads;         /* threads marked */
	int gone;            /* exited during the recording */
	char *maps;          /* the snapshot */
	size_t maps_len;
	char *maps_end;      /* a second one at the end (NULL: none) */
	size_t maps_end_len;
	uint64_t maps_end_ns;
	char exe[PATH_MAX];
	ssize_t exe_len;
	char execfn[PATH_MAX]; /* the path it was exec'd by (read_execfn) */
	size_t execfn_len;
	char *cmdline;
	size_t cmdline_len;
	pid_t ppid;
	char comm[64];
};

struct att {
	/* options */
	const char *dir_opt;
	double duration;   /* seconds, 0 = until stopped */
	int bpf_stats;
	int live_opt;      /* --live (live.h) */
	struct live *live;
	size_t ringbuf_bytes; /* 0: the collector's default */
	int ws_set;           /* --write-stacks given */
	uint32_t ws_first, ws_every;
	struct vp_report_opts report;
	struct target t[MAX_PIDS];
	int n;
	/* output */
	struct out_owner owner;
	int dirfd;
	char absdir[PATH_MAX];
	int made_dir;
	/* collector */
	struct collector *col;
	char why[512];
	uint64_t t0, t_attached, t1;
	const char *ended_by;
	json_t *end_counters; /* [{pid, minflt, majflt, exact}] */
	json_t *running;      /* [pid] */
	json_t *bpf_extra;
};

const char vp_record_attach_usage[] =
	"       vmaprof record -p|--pid PID[,PID...] [--duration SECONDS] [-o|--output DIR]\n"
	"                      [--bpf-stats] [--ring-buffer SIZE] [--write-stacks K,N|off] [--html] [--every-vma]\n"
	"                      [--plumbing RULE]... [--live]\n"
	"  -p PID       attach to running processes (and what they fork from then on)\n"
	"               until --duration ends, Ctrl-C (SIGINT/SIGTERM to vmaprof), or\n"
	"               they are all gone; then write the report (docs/attach.md)\n";

int vp_record_wants_attach(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--"))
			return 0;
		if (!strcmp(a, "-p") || !strncmp(a, "-p", 2) || !strcmp(a, "--pid") ||
		    !strncmp(a, "--pid=", 6))
			return 1;
		if (a[0] != '-')
			return 0; /* the command */
		/* options with a separate argument */
		if ((!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--stack-depth") ||
		     !strcmp(a, "--plumbing") || !strcmp(a, "--duration") ||
		     !strcmp(a, "--ring-buffer")) && i + 1 < argc)
			i++;
	}
	return 0;
}

/* "12,34" -> targets. 0 or -1 (said why). */
static int parse_pids(struct att *a, const char *list)
{
	const char *s = list;
	while (*s) {
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (end == s || (*end && *end != ',')) {
			fprintf(stderr, "vmaprof: -p wants process ids separated by commas, got '%s'\n",
				list);
			return -1;
		}
		if (errno || v <= 0 || v > 4194304) {
			/* a number, but no process can have it (pid_max is at most 2^22) */
			fprintf(stderr, "vmaprof: -p %.*s: not a process id (1 to 4194304)\n",
				(int)(end - s), s);
			return -1;
		}
		int dup = 0;
		for (int i = 0; i < a->n; i++)
			dup |= a->t[i].pid == (pid_t)v;
		if (!dup) {
			if (a->n == MAX_PIDS) {
				fprintf(stderr, "vmaprof: at most %d processes with -p\n", MAX_PIDS);
				return -1;
			}
			a->t[a->n].pidfd = -1;
			a->t[a->n++].pid = (pid_t)v;
		}
		s = *end ? end + 1 : end;
	}
	return 0;
}

/* -1 to go on, else the exit code. */
static int parse_args(struct att *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'D' },
		{ "output", required_argument, NULL, 'o' },
		{ "bpf-stats", no_argument, NULL, 'T' },
		{ "ring-buffer", required_argument, NULL, 'R' },
		{ "write-stacks", required_argument, NULL, 'W' },
		{ "every-vma", no_argument, NULL, 'V' },
		{ "plumbing", required_argument, NULL, 'L' },
		{ "html", no_argument, NULL, 'H' },
		{ "live", no_argument, NULL, 'l' },
		{ "no-preload", no_argument, NULL, 'P' },
		{ "no-bpf", no_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+p:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_pids(a, optarg))
				return 2;
			break;
		case 'D': {
			char *end;
			double d = strtod(optarg, &end);
			if (end == optarg || *end || !(d > 0) || d > 1e7) {
				fprintf(stderr, "vmaprof: --duration wants seconds > 0, got '%s'\n",
					optarg);
				return 2;
			}
			a->duration = d;
			break;
		}
		case 'o': a->dir_opt = optarg; break;
		case 'T': a->bpf_stats = 1; break;
		case 'R':
			if (recording__parse_ringbuf_size(optarg, &a->ringbuf_bytes))
				return 2;
			break;
		case 'W':
			if (recording__parse_write_stacks(optarg, &a->ws_first, &a->ws_every))
				return 2;
			a->ws_set = 1;
			break;
		case 'V': a->report.every_vma = 1; break;
		case 'H': a->report.html = 1; break;
		case 'l': a->live_opt = 1; break;
		case 'L':
			if (vp_report_opts_add_plumbing(&a->report, optarg))
				return 2;
			break;
		case 'P': break; /* nothing is preloaded when attaching */
		case 'B':
			fprintf(stderr, "vmaprof: -p needs the kernel collector: --no-bpf cannot go "
				"with it\n");
			return 2;
		case 'h': fputs(vp_record_usage, stdout); fputs(vp_record_attach_usage, stdout); return 0;
		default:
			fprintf(stderr, "vmaprof: record -p takes -o, --duration, --bpf-stats, "
				"--ring-buffer, --html, --every-vma, --plumbing\n");
			fputs(vp_record_attach_usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmaprof: record -p attaches to running processes: no command "
			"(got '%s')\n", argv[optind]);
		return 2;
	}
	if (!a->n) {
		fprintf(stderr, "vmaprof: -p: no process id given\n");
		return 2;
	}
	return -1;
}

/* /proc/PID/stat's state, flags and comm. 0 or -errno. */
static int stat_flags(pid_t pid, char *state, unsigned long *flags, char *comm, size_t cl)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? -e : -ESRCH;
	buf[n] = 0;
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r || r < l)
		return -EINVAL;
	snprintf(comm, cl, "%.*s", (int)(r - l - 1), l + 1);
	/* after ')': state ppid pgrp session tty_nr tpgid flags */
	int pp, pg, se, tt, tp;
	if (sscanf(r + 1, " %c %d %d %d %d %d %lu", state, &pp, &pg, &se, &tt, &tp, flags) != 7)
		return -EINVAL;
	return 0;
}

/* A whole /proc file (text). NULL with errno. */
static char *read_all(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	size_t cap = 65536, n = 0;
	char *b = malloc(cap);
	for (;;) {
		if (!b) {
			close(fd);
			errno = ENOMEM;
			return NULL;
		}
		if (cap - n < 4096) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				b = NULL;
				continue;
			}
			b = nb;
			cap *= 2;
		}
		ssize_t r = read(fd, b + n, cap - n - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			free(b);
			close(fd);
			errno = e;
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = 0;
	*len = n;
	return b;
}

/* Before anything is loaded: each pid names a live user process we may
 * trace. 0 or -1 (said why). */
static int check_target(struct target *t)
{
	char comm[64] = "", state = 0, path[64];
	unsigned long flags = 0;
	if (t->pid == getpid()) {
		fprintf(stderr, "vmaprof: cannot attach to vmaprof itself (pid %d)\n", (int)t->pid);
		return -1;
	}
	if (t->pid == 1) {
		fprintf(stderr, "vmaprof: refusing pid 1 (init): every process the system starts "
			"would be traced; attach to the service's own process instead\n");
		return -1;
	}
	t->pidfd = (int)syscall(SYS_pidfd_open, t->pid, 0);
	if (t->pidfd < 0) {
		int e = errno;
		if (e == ESRCH)
			fprintf(stderr, "vmaprof: no process with pid %d\n", (int)t->pid);
		else if (e == EINVAL || e == ENOENT)
			fprintf(stderr, "vmaprof: %d is not a process id (a thread's id? give "
				"the process's, its Tgid in /proc/%d/status)\n", (int)t->pid,
				(int)t->pid);
		else
			fprintf(stderr, "vmaprof: cannot open pid %d: %s\n", (int)t->pid,
				strerror(e));
		return -1;
	}
	int err = stat_flags(t->pid, &state, &flags, comm, sizeof(comm));
	snprintf(t->comm, sizeof(t->comm), "%s", comm);
	if (err) {
		fprintf(stderr, "vmaprof: no process with pid %d (/proc/%d/stat: %s)\n", (int)t->pid,
			(int)t->pid, strerror(-err));
		return -1;
	}
	if (flags & PF_KTHREAD) {
		fprintf(stderr, "vmaprof: pid %d (%s) is a kernel thread: it has no user memory "
			"to record\n", (int)t->pid, comm);
		return -1;
	}
	if (state == 'Z' || state == 'X') {
		fprintf(stderr, "vmaprof: pid %d (%s) has exited (a zombie its parent has not "
			"reaped yet)\n", (int)t->pid, comm);
		return -1;
	}
	/* the kernel's own test of whether we may look into it
	 * (PTRACE_MODE_READ): the same as for reading its mappings */
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (e == EACCES || e == EPERM)
			fprintf(stderr, "vmaprof: not allowed to trace pid %d (%s): reading %s: %s "
				"(run vmaprof as root)\n", (int)t->pid, comm, path, strerror(e));
		else
			fprintf(stderr, "vmaprof: cannot read %s: %s\n", path, strerror(e));
		return -1;
	}
	close(fd);
	return 0;
}

static int exited(const struct target *t)
{
	struct pollfd p = { .fd = t->pidfd, .events = POLLIN };
	return poll(&p, 1, 0) > 0;
}

/* Mark every thread of t (see the top of this file). 0 or -errno. */
static int mark_threads(struct att *a, struct target *t)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	int quiet = 0;
	for (int pass = 0; pass < MARK_PASSES; pass++) {
		DIR *d = opendir(path);
		if (!d)
			return -errno == -ENOENT ? -ESRCH : -errno;
		int marked = 0, seen = 0, vanished = 0, err = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			char *end;
			long tid = strtol(e->d_name, &end, 10);
			if (*end || tid <= 0)
				continue;
			seen++;
			int r = collector__track_thread(a->col, (pid_t)tid);
			if (r == 0) {
				marked++;
				t->threads++;
			} else if (r == -ESRCH) {
				vanished++;
			} else if (r != -EEXIST) {
				err = r;
				break;
			}
		}
		closedir(d);
		if (err)
			return err;
		if (!seen)
			return -ESRCH;
		/* two passes in a row in which every thread listed was marked
		 * already: all were marked before the pass began. A thread
		 * that vanished meanwhile may have made one we did not list
		 * (a chain of threads each starting the next): pass again. */
		quiet = marked || vanished ? 0 : quiet + 1;
		if (quiet == 2)
			return 0;
	}
	return -EAGAIN;
}

/* The path t was exec'd by, as the shim records it (AT_EXECFN, in the
 * process's own memory): /proc/PID/exe resolves symlinks, and a program
 * run by one is named by its target (redis-server -> redis-check-rdb).
 * Kept only when it names the file /proc/PID/exe is, seen from the
 * process (its root, or its working directory for a relative path): a
 * process title may have written over it, a daemon may have left the
 * directory it was started from. Else none (exe alone names it). */
static void read_execfn(struct target *t)
{
	char path[PATH_MAX + 64];
	size_t n = 0;
	uint64_t at = 0;
	t->execfn_len = 0;
	snprintf(path, sizeof(path), "/proc/%d/auxv", (int)t->pid);
	char *aux = read_all(path, &n);
	for (size_t i = 0; aux && i + 16 <= n; i += 16) {
		uint64_t k, v;
		memcpy(&k, aux + i, 8);
		memcpy(&v, aux + i + 8, 8);
		if (k == AT_NULL)
			break;
		if (k == AT_EXECFN)
			at = v;
	}
	free(aux);
	if (!at)
		return;
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)t->pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size_t len = 0, cap = sizeof(t->execfn) - 1;
	char *nul = NULL;
	while (!nul && len < cap) {
		/* a page at a time: the string ends near the top of the stack */
		uint64_t a = at + len;
		size_t want = 4096 - (size_t)(a & 4095);
		if (want > cap - len)
			want = cap - len;
		ssize_t r = pread(fd, t->execfn + len, want, (off_t)a);
		if (r <= 0)
			break;
		nul = memchr(t->execfn + len, 0, (size_t)r);
		len += (size_t)r;
	}
	close(fd);
	if (!nul || nul == t->execfn)
		return;
	len = (size_t)(nul - t->execfn);
	struct stat a, b;
	snprintf(path, sizeof(path), "/proc/%d/%s%s", (int)t->pid,
		 t->execfn[0] == '/' ? "root" : "cwd/", t->execfn);
	char exe[64];
	snprintf(exe, sizeof(exe), "/proc/%d/exe", (int)t->pid);
	if (stat(path, &a) == 0 && stat(exe, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		t->execfn_len = len;
}

/* Attach to one process (steps 1-4 at the top). 0 or -1 (said why). */
static int attach_one(struct att *a, struct target *t)
{
	struct procfs_stat s0, s1;
	char path[64];
	if (procfs_stat(t->pid, &s0) < 0 || exited(t))
		goto gone;
	int err = mark_threads(a, t);
	if (err == -ESRCH)
		goto gone;
	if (err) {
		fprintf(stderr, "vmaprof: cannot mark the threads of pid %d: %s\n", (int)t->pid,
			err == -EAGAIN ? "they never stopped changing"
					 : strerror(-err));
		return -1;
	}
	if (procfs_stat(t->pid, &s1) < 0)
		goto gone;
	t->min0 = s0.minflt;
	t->maj0 = s0.majflt;
	t->exact = s0.minflt == s1.minflt && s0.majflt == s1.majflt;
	t->ppid = s1.ppid;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
	t->maps = read_all(path, &t->maps_len);
	/* a process whose memory is gone (exit_mm) shows no mappings */
	if (!t->maps || !t->maps_len)
		goto gone;
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)t->pid);
	t->exe_len = readlink(path, t->exe, sizeof(t->exe));
	if (t->exe_len < 0 || t->exe_len >= (ssize_t)sizeof(t->exe))
		t->exe_len = 0;
	read_execfn(t);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)t->pid);
	t->cmdline = read_all(path, &t->cmdline_len);
	if (!t->cmdline)
		t->cmdline_len = 0;
	while (t->cmdline_len && t->cmdline[t->cmdline_len - 1] != 0)
		t->cmdline_len--; /* whole arguments only */
	if (t->cmdline_len > 16384) {
		t->cmdline_len = 16384;
		while (t->cmdline_len && t->cmdline[t->cmdline_len - 1] != 0)
			t->cmdline_len--;
	}
	/* no empty arguments at the end: the NULs a process title is padded
	 * with (redis, nginx, postgres rewrite argv in place) */
	while (t->cmdline_len >= 2 && t->cmdline[t->cmdline_len - 1] == 0 &&
	       t->cmdline[t->cmdline_len - 2] == 0)
		t->cmdline_len--;
	if (exited(t))
		goto gone;
	return 0;
gone:
	fprintf(stderr, "vmaprof: pid %d exited while vmaprof attached to it\n", (int)t->pid);
	return -1;
}

/* ---- the process's own small trace file (vmaprof/tracewriter.h) ---- */

static void fill_h(struct vp_rec *h, uint16_t type, uint32_t size, uint64_t t, pid_t pid)
{
	h->type = type;
	h->flags = 0;
	h->size = size;
	h->time_ns = t;
	h->pid = (uint32_t)pid;
	h->tid = (uint32_t)pid;
}

/* One snapshot as the shim writes it: 8 KiB of text per record, an empty
 * last one. `chunk` has room for one record. */
static void emit_maps(struct tracewriter *w, char *chunk, pid_t pid, const char *text, size_t len,
		      uint64_t t, uint32_t seq, uint32_t why)
{
	for (size_t off = 0, k = 0;; k++) {
		size_t n = len - off < 8192 ? len - off : 8192;
		int last = n == 0;
		struct vp_maps *m = (void *)chunk;
		uint32_t sz = VP_ALIGN8((uint32_t)(sizeof(*m) + n));
		memset(chunk, 0, sz);
		fill_h(&m->h, VP_REC_MAPS, sz, t, pid);
		m->h.flags = last ? VP_MAPS_LAST : 0;
		m->seq = seq;
		m->chunk = (uint32_t)k;
		m->why = why;
		m->len = (uint32_t)n;
		memcpy(m + 1, text + off, n);
		tracewriter__emit(w, m, sz);
		off += n;
		if (last)
			break;
	}
}

/* VP_REC_PROC: who t is (exe, argv, ppid) as of t0. 0 or -ENOMEM. */
static int emit_proc(struct tracewriter *w, const struct target *t, uint64_t t0)
{
	uint32_t psz = VP_ALIGN8((uint32_t)(sizeof(struct vp_proc) + (size_t)t->exe_len +
					    t->cmdline_len + t->execfn_len));
	struct vp_proc *pr = calloc(1, psz);
	if (!pr)
		return -ENOMEM;
	fill_h(&pr->h, VP_REC_PROC, psz, t0, t->pid);
	pr->ppid = (uint32_t)t->ppid;
	for (size_t i = 0; i < t->cmdline_len; i++)
		pr->argc += t->cmdline[i] == 0;
	pr->exe_len = (uint32_t)t->exe_len;
	pr->argv_len = (uint32_t)t->cmdline_len;
	memcpy(pr + 1, t->exe, (size_t)t->exe_len);
	if (t->cmdline_len)
		memcpy((char *)(pr + 1) + t->exe_len, t->cmdline, t->cmdline_len);
	pr->execfn_len = (uint32_t)t->execfn_len;
	memcpy((char *)(pr + 1) + t->exe_len + t->cmdline_len, t->execfn, t->execfn_len);
	tracewriter__emit(w, pr, psz);
	free(pr);
	return 0;
}

/* The records of t's file, in w: VP_REC_PROC at t0 (before the marking),
 * the maps snapshot (read after the marking) as VP_REC_MAPS (why
 * VP_MAPS_START) at t0 + 1: every kernel record of the window comes after
 * both; and the snapshot at the end if there is one. 0 or -ENOMEM. */
static int emit_records(struct tracewriter *w, const struct target *t, uint64_t t0)
{
	char *chunk = malloc(sizeof(struct vp_maps) + 8192 + 8);
	if (!chunk || emit_proc(w, t, t0)) {
		free(chunk);
		return -ENOMEM;
	}
	/* dated just after the PROC, before the marking: what the kernel
	 * records after the marking applies on top of it, and a child forked
	 * meanwhile inherits these entries */
	emit_maps(w, chunk, t->pid, t->maps, t->maps_len, t0 + 1, 0, VP_MAPS_START);
	/* at the end: names the files mapped in the window (the kernel's
	 * records carry no path); as a later snapshot (VP_MAPS_DLOPEN) it
	 * only fills gaps and names entries without a path, from then on */
	if (t->maps_end)
		emit_maps(w, chunk, t->pid, t->maps_end, t->maps_end_len, t->maps_end_ns, 1,
			  VP_MAPS_DLOPEN);
	free(chunk);
	return w->err;
}

/* preload.<pid>.<t0>.vpt, sequential and sealed, its pids ours
 * (record.h): a whole file or none under its name, written beside it (a
 * name the analyzer never reads), then renamed over it. */
static int write_proc_file(struct att *a, const struct target *t)
{
	struct tracewriter w;
	if (tracewriter__init(&w, VP_SRC_PRELOAD, (uint32_t)t->pid,
			      VP_FH_SEQUENTIAL | VP_FH_SEGSUM, a->t0, 0))
		return -ENOMEM;
	w.hdr.pid_ns = procfs_pid_ns(0);
	w.trailer_tid = (uint32_t)t->pid;
	int err = emit_records(&w, t, a->t0);
	if (err) {
		tracewriter__free(&w);
		return err;
	}
	char name[96], tmp[112];
	snprintf(name, sizeof(name), "preload.%d.%llu.vpt", (int)t->pid,
		 (unsigned long long)a->t0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", name);
	unlinkat(a->dirfd, tmp, 0);
	int fd = openat(a->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0) {
		tracewriter__free(&w);
		return -errno;
	}
	err = tracewriter__begin(&w, fd);
	if (!err)
		err = tracewriter__flush(&w);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (!err && a->owner.set && fchown(fd, a->owner.uid, a->owner.gid) < 0)
		err = -errno;
	close(fd);
	tracewriter__free(&w);
	if (!err && renameat(a->dirfd, tmp, a->dirfd, name) < 0)
		err = -errno;
	if (err)
		unlinkat(a->dirfd, tmp, 0);
	return err;
}

/* ---- session.json ---- */

static json_t *counters(pid_t pid, uint64_t min, uint64_t maj, int exact)
{
	return json_pack("{s:i, s:I, s:I, s:b}", "pid", (int)pid, "minflt", (json_int_t)min,
			 "majflt", (json_int_t)maj, "exact", exact);
}

static int write_session(struct att *a, int complete)
{
	const struct target *r = &a->t[0];
	json_t *cmd = json_array();
	for (size_t i = 0; i < r->cmdline_len; i += strlen(r->cmdline + i) + 1)
		json_array_append_new(cmd, json_string(r->cmdline + i));
	if (!json_array_size(cmd))
		json_array_append_new(cmd, json_stringn(r->exe, (size_t)r->exe_len));
	json_t *pids = json_array(), *procs = json_array();
	for (int i = 0; i < a->n; i++) {
		json_array_append_new(pids, json_integer(a->t[i].pid));
		json_t *c = counters(a->t[i].pid, a->t[i].min0, a->t[i].maj0, a->t[i].exact);
		json_object_set_new(c, "threads", json_integer(a->t[i].threads));
		json_object_set_new(c, "comm", json_string(a->t[i].comm));
		json_array_append_new(procs, c);
	}
	json_t *s = json_pack(
		"{s:i, s:{s:s, s:s}, s:o, s:i, s:i, s:n, s:n, s:I, s:I, s:i, "
		"s:{s:{s:b, s:s}, s:{s:b, s:n}}}",
		"session_version", 1, "tool", "name", "vmaprof", "version", VMAPROF_VERSION,
		"command", cmd, "root_pid", (int)r->pid, "page_size", (int)sysconf(_SC_PAGESIZE),
		"exit_code", "exit_signal", "start_ns", (json_int_t)a->t0, "end_ns",
		(json_int_t)(complete ? a->t1 : a->t0), "stack_depth", 0, "collectors", "preload",
		"active", 0, "reason", "attached to a running process", "bpf", "active", 1,
		"reason");
	if (!s) {
		json_decref(pids);
		json_decref(procs);
		return -ENOMEM;
	}
	json_t *at = json_pack("{s:o, s:I, s:o, s:o}", "pids", pids, "attached_ns",
			       (json_int_t)a->t_attached, "duration_s",
			       a->duration > 0 ? json_real(a->duration) : json_null(), "processes",
			       procs);
	if (complete)
		json_object_set_new(at, "ended_by", json_string(a->ended_by));
	json_object_set_new(s, "attach", at);
	if (complete && a->end_counters)
		json_object_set(at, "counters_at_end", a->end_counters);
	if (complete && a->bpf_extra)
		json_object_update(json_object_get(json_object_get(s, "collectors"), "bpf"),
				   a->bpf_extra);
	return recording__write_session(a->dirfd, &a->owner, s, complete,
					complete ? a->running : NULL);
}

/* ---- the recording ---- */

/* Every process the collector marks as traced (a thread-group leader with
 * task storage), alive (not a zombie): [pid]. */
static json_t *traced_alive(struct att *a)
{
	json_t *l = json_array();
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 1)
			continue;
		if (collector__traced(a->col, (pid_t)pid) != 1)
			continue;
		struct procfs_stat st;
		if (procfs_stat((pid_t)pid, &st) < 0 || st.state == 'Z' || st.state == 'X')
			continue;
		json_array_append_new(l, json_integer(pid));
	}
	if (d)
		closedir(d);
	return l;
}

static void wait_window(struct att *a)
{
	uint64_t deadline = a->duration > 0 ? a->t_attached + (uint64_t)(a->duration * 1e9)
					    : UINT64_MAX;
	uint64_t next_check = 0;
	for (;;) {
		if (att_stop) {
			a->ended_by = "signal";
			return;
		}
		uint64_t now = vp_mono_ns();
		if (now >= deadline) {
			a->ended_by = "duration";
			return;
		}
		int all_gone = 1;
		for (int i = 0; i < a->n; i++) {
			if (!a->t[i].gone && exited(&a->t[i]))
				a->t[i].gone = 1;
			all_gone &= a->t[i].gone;
		}
		if (all_gone && now >= next_check) {
			json_t *l = traced_alive(a);
			size_t n = json_array_size(l);
			json_decref(l);
			if (!n) {
				a->ended_by = "exit";
				return;
			}
			next_check = now + GONE_CHECK_NS;
		}
		uint64_t left_ms = (deadline - now) / 1000000 + 1;
		int r = collector__poll(a->col, left_ms < 50 ? (int)left_ms : 50);
		if (a->live && live__tick(a->live)) {
			a->ended_by = "q";
			return;
		}
		if (r < 0 && r != -EINTR) {
			fprintf(stderr, "vmaprof: writing %s/bpf.vpt: %s (the records that could not "
				"be written are counted as lost)\n", a->absdir, strerror(-r));
		}
	}
}

/* Counters of every traced process still running, then detach. */
static void detach(struct att *a)
{
	a->running = traced_alive(a);
	size_t n = json_array_size(a->running);
	struct procfs_stat *s0 = calloc(n ? n : 1, sizeof(*s0));
	int *ok = calloc(n ? n : 1, sizeof(int));
	for (size_t i = 0; s0 && ok && i < n; i++)
		ok[i] = procfs_stat((pid_t)json_integer_value(json_array_get(a->running, i)),
				    &s0[i]) == 0;
	for (int i = 0; i < a->n; i++) {
		struct target *t = &a->t[i];
		char path[64];
		if (t->gone || exited(t))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/maps", (int)t->pid);
		t->maps_end_ns = vp_mono_ns();
		t->maps_end = read_all(path, &t->maps_end_len);
	}
	/* the window ends here, where the counters were read: not after the
	 * detach, which can take seconds (closing per-syscall tracepoints) */
	a->t1 = vp_mono_ns();
	struct collector_stats cst = { 0 };
	int err = collector__finish(a->col, &cst);
	if (err)
		fprintf(stderr, "vmaprof: finishing %s/bpf.vpt: %s\n", a->absdir, strerror(-err));
	a->end_counters = json_array();
	for (size_t i = 0; s0 && ok && i < n; i++) {
		pid_t pid = (pid_t)json_integer_value(json_array_get(a->running, i));
		struct procfs_stat s1;
		if (!ok[i])
			continue;
		int same = procfs_stat(pid, &s1) == 0 && s1.minflt == s0[i].minflt &&
			   s1.majflt == s0[i].majflt;
		json_array_append_new(a->end_counters,
				      counters(pid, s0[i].minflt, s0[i].majflt, same));
	}
	free(s0);
	free(ok);
	a->bpf_extra = recording__collector_json(a->col, &cst, a->bpf_stats);
	collector__free(a->col);
	a->col = NULL;
	for (int i = 0; i < a->n; i++) {
		struct target *t = &a->t[i];
		if (!t->maps_end || !t->maps_end_len)
			continue;
		err = write_proc_file(a, t);
		if (err)
			fprintf(stderr, "vmaprof: cannot add the maps of pid %d at the end to %s: %s "
				"(files it mapped meanwhile stay without a path)\n", (int)t->pid,
				a->absdir, strerror(-err));
	}
	recording__hand_over(a->dirfd, &a->owner, a->absdir, "bpf.vpt");
}

/* After a failed attach: the files we made go (and the directory, if we
 * made it and nothing else is in it). */
static void undo_output(struct att *a)
{
	DIR *d = a->dirfd >= 0 ? fdopendir(dup(a->dirfd)) : NULL;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (!strcmp(e->d_name, "bpf.vpt") || !strcmp(e->d_name, "session.json") ||
		    !strncmp(e->d_name, "preload.", 8))
			unlinkat(a->dirfd, e->d_name, 0);
	}
	if (d)
		closedir(d);
	if (a->made_dir)
		rmdir(a->absdir);
}

static void att_free(struct att *a)
{
	collector__free(a->col);
	for (int i = 0; i < a->n; i++) {
		if (a->t[i].pidfd >= 0)
			close(a->t[i].pidfd);
		free(a->t[i].maps);
		free(a->t[i].maps_end);
		free(a->t[i].cmdline);
	}
	free(a->report.plumbing);
	json_decref(a->end_counters);
	json_decref(a->running);
	json_decref(a->bpf_extra);
	if (a->dirfd >= 0)
		close(a->dirfd);
}

/* The output directory and the collector: without it there is nothing to
 * record. 0 or -1 (said why; nothing of ours left behind). */
static int start_recording(struct att *a)
{
	char dir[PATH_MAX];
	if (a->dir_opt)
		snprintf(dir, sizeof(dir), "%s", a->dir_opt);
	else
		snprintf(dir, sizeof(dir), "vmaprof.pid%d.%d", (int)a->t[0].pid, (int)getpid());
	if (recording__prepare_dir(dir, &a->owner, &a->dirfd, &a->made_dir, a->absdir) < 0)
		return -1;
	struct collector_opts co = { .self_pid = getpid(), .prog_stats = a->bpf_stats,
				     .no_signals = true, .ringbuf_bytes = a->ringbuf_bytes,
				     .kstack_no_shim = true, .ws_set = a->ws_set,
				     .ws_first = a->ws_first, .ws_every = a->ws_every };
	if (recording__start_collector(a->absdir, &co, &a->col, a->why, sizeof(a->why))) {
		fprintf(stderr, "vmaprof: cannot attach: the kernel collector is unavailable "
			"(%s)\n", a->why);
		undo_output(a);
		return -1;
	}
	return 0;
}

/* Attach to every target and write their files (the top of this file).
 * 0, or -1 (said why) with the collector gone and the output undone. */
static int attach_all(struct att *a)
{
	/* from here on a stop request ends the recording (the attach itself
	 * is short and finishes first) */
	struct sigaction sa = { .sa_handler = att_on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	a->t0 = vp_mono_ns();
	for (int i = 0; i < a->n; i++)
		if (attach_one(a, &a->t[i]) < 0)
			goto fail;
	a->t_attached = vp_mono_ns();
	/* processes in a container: how their own namespace numbers them (the
	 * report names them so, with our pid beside it) */
	int nerr = collector__announce_ns(a->col);
	if (nerr)
		fprintf(stderr, "vmaprof: cannot read the PID namespaces of the attached processes "
			"(%s): the report names them by their pids here\n", strerror(-nerr));
	for (int i = 0; i < a->n; i++) {
		int err = write_proc_file(a, &a->t[i]);
		if (err) {
			fprintf(stderr, "vmaprof: cannot write the maps of pid %d in %s: %s\n",
				(int)a->t[i].pid, a->absdir, strerror(-err));
			goto fail;
		}
	}
	return 0;
fail:
	collector__free(a->col);
	a->col = NULL;
	undo_output(a);
	return -1;
}

/* A process given with -p that has children already: they are not traced
 * (only what it forks from the attach on is), which one line says, with
 * how to include them (docs/attach.md). */
static void note_children(const struct att *a)
{
	enum { LIST = 8 };
	pid_t kids[MAX_PIDS][LIST];
	int nkids[MAX_PIDS] = { 0 };
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		struct procfs_stat st;
		if (*end || pid <= 1 || procfs_stat((pid_t)pid, &st) < 0 || st.state == 'Z' ||
		    st.state == 'X')
			continue;
		int given = 0, parent = -1;
		for (int i = 0; i < a->n; i++) {
			given |= a->t[i].pid == (pid_t)pid;
			if (a->t[i].pid == st.ppid)
				parent = i;
		}
		if (given || parent < 0)
			continue;
		if (nkids[parent] < LIST)
			kids[parent][nkids[parent]] = (pid_t)pid;
		nkids[parent]++;
	}
	if (d)
		closedir(d);
	for (int i = 0; i < a->n; i++) {
		if (!nkids[i])
			continue;
		fprintf(stderr, "vmaprof: note: pid %d (%s) has %d child process(es) running, "
			"not recorded (only what it forks from now on is); to include them: ",
			(int)a->t[i].pid, a->t[i].comm, nkids[i]);
		if (nkids[i] <= LIST) {
			fprintf(stderr, "-p %d", (int)a->t[i].pid);
			for (int k = 0; k < nkids[i]; k++)
				fprintf(stderr, ",%d", (int)kids[i][k]);
			fprintf(stderr, " or ");
		}
		fprintf(stderr, "-p $(pgrep -d, %s)\n", a->t[i].comm);
	}
}

static void say_attached(const struct att *a)
{
	fprintf(stderr, "vmaprof: attached to %d process(es)", a->n);
	for (int i = 0; i < a->n; i++) {
		pid_t own = procfs_ns_pid(a->t[i].pid);
		fprintf(stderr, "%s%d (", i ? ", " : ": pid ", (int)a->t[i].pid);
		if (own > 0 && own != a->t[i].pid)
			fprintf(stderr, "pid %d in its PID namespace, ", (int)own);
		fprintf(stderr, "%d thread(s))", a->t[i].threads);
	}
	if (a->duration > 0)
		fprintf(stderr, "; recording for %g s (Ctrl-C stops earlier)\n", a->duration);
	else
		fprintf(stderr, "; recording until Ctrl-C or they exit\n");
}

/* The start marker, the window, the detach, the end marker and the
 * report: 0, or 1 when no report.json was written. */
static int record_window(struct att *a)
{
	int err = write_session(a, 0);
	if (err < 0)
		fprintf(stderr, "vmaprof: cannot write %s/session.json: %s\n", a->absdir,
			strerror(-err));
	say_attached(a);
	note_children(a);
	if (a->live) {
		for (int i = 0; i < a->n; i++) /* comm: check_target's */
			live__seed(a->live, (uint32_t)a->t[i].pid, a->t[i].comm);
		collector__observe(a->col, live__record, a->live);
	}
	wait_window(a);
	if (a->live) {
		collector__observe(a->col, NULL, NULL);
		live__free(a->live);
		a->live = NULL;
	}
	signal(SIGPIPE, SIG_IGN);
	detach(a);
	fprintf(stderr, "vmaprof: detached (%s) after %.1f s; %zu traced process(es) left "
		"running\n", a->ended_by, (double)(a->t1 - a->t_attached) / 1e9,
		json_array_size(a->running));
	a->report.exiting = 1;
	return recording__report(a->absdir, write_session(a, 1), &a->report);
}

int vp_record_attach(int argc, char **argv)
{
	static struct att a; /* large (maps paths): not on the stack */
	memset(&a, 0, sizeof(a));
	a.dirfd = -1;
	int rc = parse_args(&a, argc, argv);
	if (rc >= 0) {
		att_free(&a);
		return rc;
	}
	rc = 2;
	for (int i = 0; i < a.n; i++)
		if (check_target(&a.t[i]) < 0)
			goto out;
	if (a.live_opt) { /* before anything is attached: no terminal, no recording */
		char why[256], what[96];
		snprintf(what, sizeof(what), "pid %d%s", (int)a.t[0].pid, a.n > 1 ? " ..." : "");
		if (!(a.live = live__new(what, why, sizeof(why)))) {
			fprintf(stderr, "vmaprof: %s\n", why);
			goto out;
		}
	}
	if (start_recording(&a) < 0 || attach_all(&a) < 0)
		goto out;
	rc = record_window(&a);
out:
	live__free(a.live); /* on a failure before the window */
	att_free(&a);
	return rc;
}
