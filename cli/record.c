/* SPDX-License-Identifier: MIT */
/*
 * vmaprof record: run a command under the shim (and the BPF collector when
 * available), follow its whole process tree, write the trace directory.
 *
 * Order matters: the collector is attached and the root pid registered
 * before the command's first instruction -- the child blocks on a pipe
 * until the parent has done so. The recorder is a child subreaper, so
 * daemonised grandchildren are waited for too; it returns the command's
 * own exit status (128+N for signal N).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"
#include "outfile.h"
#include "config.h"
#include "vmaprof/broker.h"
#include "vmaprof/record.h"
#if VP_HAVE_BPF
#include "collector.h"
#endif

/* Signals while recording (README, "Stopping a recording"):
 * - a terminal's SIGINT/SIGQUIT reach the command through its process
 *   group already; SIGTERM/SIGHUP, and SIGINT/SIGQUIT sent by a process
 *   (kill, timeout), are forwarded to the command -- through a pidfd, so a
 *   pid reused after the command was reaped is never signalled;
 * - a second such signal, or one after the command exited, stops waiting
 *   for the rest of the tree (daemons, detached children): the recording
 *   ends, the report marks what still runs, and record exits 128+signal.
 *   After the first signal, once the command itself is gone, the rest of
 *   the tree gets STOP_GRACE_NS to finish before the same happens. */
#define STOP_GRACE_NS 1000000000ull
static volatile sig_atomic_t stop_sigs, last_sig;
static int root_pidfd = -1;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	int e = errno;
	last_sig = sig;
	stop_sigs++;
	int from_process = si && (si->si_code == SI_USER || si->si_code == SI_QUEUE);
	if (root_pidfd >= 0 && (sig == SIGTERM || sig == SIGHUP || from_process))
		syscall(SYS_pidfd_send_signal, root_pidfd, sig, NULL, 0);
	errno = e;
}

/* 1 if pid descends from us (its parent chain reaches our pid). */
static int in_tree(pid_t pid, pid_t self)
{
	for (int depth = 0; pid > 1 && depth < 256; depth++) {
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return 0;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			return 0;
		buf[n] = 0;
		char *q = strrchr(buf, ')');
		int ppid;
		if (!q || sscanf(q + 1, " %*c %d", &ppid) != 1)
			return 0;
		if (ppid == self)
			return 1;
		pid = ppid;
	}
	return 0;
}

/* The processes of our tree still alive (when we stop waiting for them). */
static json_t *still_running(void)
{
	json_t *a = json_array();
	pid_t self = getpid();
	DIR *d = opendir("/proc");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 1 || pid == self)
			continue;
		if (in_tree((pid_t)pid, self))
			json_array_append_new(a, json_integer(pid));
	}
	if (d)
		closedir(d);
	return a;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The shim: next to the binary in a build tree, else the installed copy. */
static int find_shim(char *out, size_t cap)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			int l = snprintf(out, cap, "%s/preload/%s", exe, VMAPROF_SHIM_NAME);
			if (l > 0 && (size_t)l < cap && access(out, R_OK) == 0)
				return 0;
		}
	}
	snprintf(out, cap, "%s/%s", VMAPROF_PKGLIBDIR, VMAPROF_SHIM_NAME);
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}

static void usage(FILE *f)
{
	fputs("usage: vmaprof record [-o DIR] [--no-bpf] [--no-preload] [--stack-depth N]\n"
	      "                      [--no-stacks] [--no-signal-stacks] [--bpf-stats]\n"
	      "                      [--] COMMAND [ARG...]\n"
	      "  --no-signal-stacks  do not signal the program for the stacks of mappings\n"
	      "               the shim cannot see (malloc's own mmap/brk, ld.so, raw\n"
	      "               syscalls); VMAPROF_SIGNAL=N picks the signal (default\n"
	      "               SIGRTMAX-1)\n"
	      "  --bpf-stats  turn on the kernel's BPF run-time statistics while recording\n"
	      "               and store each program's run count and time in session.json\n"
	      "               (costs some ns per program run; for measuring vmaprof)\n", f);
}

/* Put the shim first in LD_PRELOAD, keeping what the user preloads. */
static int set_preload(const char *shim)
{
	const char *old = getenv("LD_PRELOAD");
	if (!old || !*old)
		return setenv("LD_PRELOAD", shim, 1);
	size_t l = strlen(shim) + strlen(old) + 2;
	char *v = malloc(l);
	if (!v)
		return -1;
	snprintf(v, l, "%s:%s", shim, old);
	int r = setenv("LD_PRELOAD", v, 1);
	free(v);
	return r;
}

#if VP_HAVE_BPF
/* Kernel run-time statistics of each collector program (--bpf-stats). */
static json_t *prog_stats_json(struct collector *col)
{
	struct collector_prog_stat ps[32];
	json_t *a = json_array();
	int n = collector__prog_stats(col, ps, 32);
	for (int i = 0; i < n && i < 32; i++)
		json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "name", ps[i].name,
						   "run_cnt", (json_int_t)ps[i].run_cnt,
						   "run_time_ns", (json_int_t)ps[i].run_ns));
	return a;
}
#endif

/* The kernel's fault counters of a process that cannot run now (the root,
 * blocked on the start pipe): what it faulted before tracing began. */
static json_t *fault_counters(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = 0;
	/* fields after the command name, which may hold spaces and ')' */
	char *q = strrchr(buf, ')');
	unsigned long long minflt, majflt;
	if (!q || sscanf(q + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minflt, &majflt) != 2)
		return NULL;
	return json_pack("{s:i, s:I, s:I}", "pid", (int)pid, "minflt", (json_int_t)minflt,
			 "majflt", (json_int_t)majflt);
}

/* Wait (bounded) until `pid` sleeps in read(fd): from then on it takes no
 * fault until we write to the pipe. 1 if seen, 0 if not within ~2 s. */
static int wait_blocked_in_read(pid_t pid, int fd)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)pid);
	for (int i = 0; i < 20000; i++) {
		int f = open(path, O_RDONLY | O_CLOEXEC);
		if (f < 0)
			return 0;
		ssize_t n = read(f, buf, sizeof(buf) - 1);
		close(f);
		if (n <= 0)
			return 0;
		buf[n] = 0;
		long nr;
		unsigned long a0;
		/* "0 0x<fd> ..." = blocked in read(fd); "running" while it runs */
		if (sscanf(buf, "%ld 0x%lx", &nr, &a0) == 2 && nr == 0 && a0 == (unsigned long)fd)
			return 1;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* session.json: written when the command starts (`complete` false) and
 * again when recording ends (`complete` true, the session end marker); a
 * recorder killed in between leaves the first, and reports say the
 * recording is incomplete. */
static int write_session(int dirfd, char **argv, int argc, pid_t root, int status, int complete,
			 json_t *running, uint64_t t0, uint64_t t1, int depth, int preload,
			 const char *preload_reason, int bpf, const char *bpf_reason, const char *shim,
			 json_t *bpf_extra, json_t *before, json_t *preload_extra,
			 const struct out_owner *ow)
{
	json_t *cmd = json_array();
	for (int i = 0; i < argc; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	json_t *s = json_pack(
		"{s:i, s:{s:s, s:s}, s:o, s:i, s:i, s:o, s:o, s:I, s:I, s:i, s:{s:{s:b, s:s?, s:s?}, s:{s:b, s:s?}}}",
		"session_version", 1, "tool", "name", "vmaprof", "version", VMAPROF_VERSION,
		"command", cmd, "root_pid", (int)root, "page_size", (int)sysconf(_SC_PAGESIZE),
		"exit_code", complete && WIFEXITED(status) ? json_integer(WEXITSTATUS(status))
							    : json_null(),
		"exit_signal", complete && WIFSIGNALED(status) ? json_integer(WTERMSIG(status))
								: json_null(),
		"start_ns", (json_int_t)t0, "end_ns", (json_int_t)t1, "stack_depth", depth,
		"collectors", "preload", "active", preload, "reason", preload_reason, "shim", shim,
		"bpf", "active", bpf, "reason", bpf_reason);
	if (!s) {
		json_decref(bpf_extra);
		json_decref(preload_extra);
		return -ENOMEM;
	}
	if (bpf_extra)
		json_object_update_new(json_object_get(json_object_get(s, "collectors"), "bpf"),
				       bpf_extra);
	if (before)
		json_object_set(s, "before_trace", before);
	if (preload_extra)
		json_object_update_new(json_object_get(json_object_get(s, "collectors"), "preload"),
				       preload_extra);
	json_object_set_new(s, "complete", json_boolean(complete));
	if (running)
		json_object_set(s, "running_at_end", running);
	struct outfile o;
	int err = outfile_begin(&o, dirfd, "session.json", ow);
	if (err) {
		json_decref(s);
		return err;
	}
	int failed = json_dumpf(s, o.f, JSON_INDENT(2) | JSON_SORT_KEYS) != 0;
	json_decref(s);
	return outfile_commit(&o, failed);
}

int cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "no-bpf", no_argument, NULL, 'B' },
		{ "no-preload", no_argument, NULL, 'P' },
		{ "stack-depth", required_argument, NULL, 'd' },
		{ "no-stacks", no_argument, NULL, 'S' },
		{ "bpf-stats", no_argument, NULL, 'T' },
		{ "no-signal-stacks", no_argument, NULL, 'G' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *dir_opt = NULL;
	int no_bpf = 0, no_preload = 0, bpf_stats = 0, depth = 64, no_sigstacks = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': dir_opt = optarg; break;
		case 'B': no_bpf = 1; break;
		case 'P': no_preload = 1; break;
		case 'S': depth = 0; break;
		case 'T': bpf_stats = 1; break;
		case 'G': no_sigstacks = 1; break;
		case 'd': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 0 || v > VP_MAX_STACK_DEPTH) {
				fprintf(stderr, "vmaprof: --stack-depth must be 0..%d, got '%s'\n",
					VP_MAX_STACK_DEPTH, optarg);
				return 2;
			}
			depth = (int)v;
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vmaprof record: no command given\n");
		usage(stderr);
		return 2;
	}
	char **cmd = argv + optind;
	int cmd_argc = argc - optind;

	char dir[PATH_MAX];
	if (dir_opt) {
		snprintf(dir, sizeof(dir), "%s", dir_opt);
	} else {
		const char *base = strrchr(cmd[0], '/');
		snprintf(dir, sizeof(dir), "vmaprof.%s.%d", base ? base + 1 : cmd[0], (int)getpid());
	}
	/* The directory is ours (created 0700, or an existing one of ours no
	 * one else can write) and every file in it is created by us, 0600,
	 * never through a symlink: a recording made as root holds what the
	 * traced programs mapped (paths, arguments, stacks). Refused before the
	 * command runs, with exit 2. */
	struct out_owner owner = out_owner_from_env();
	char why[PATH_MAX + 256];
	int dirfd = -1;
	if (outdir_prepare(dir, &owner, &dirfd, why, sizeof(why)) < 0) {
		fprintf(stderr, "vmaprof: %s\n", why);
		return 2;
	}
	if (vp_dir_has_traces(dir) ||
	    faccessat(dirfd, "report.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		fprintf(stderr, "vmaprof: %s already holds a recording or a report; choose another "
			"-o DIR\n", dir);
		close(dirfd);
		return 2;
	}
	char absdir[PATH_MAX];
	if (!realpath(dir, absdir)) {
		fprintf(stderr, "vmaprof: %s: %s\n", dir, strerror(errno));
		close(dirfd);
		return 2;
	}

	char shim[PATH_MAX];
	const char *preload_reason = NULL;
	int preload = !no_preload;
	if (no_preload) {
		preload_reason = "disabled with --no-preload";
	} else if (find_shim(shim, sizeof(shim)) < 0) {
		fprintf(stderr, "vmaprof: shim %s not found next to the binary nor in %s; "
			"recording without it\n", VMAPROF_SHIM_NAME, VMAPROF_PKGLIBDIR);
		preload = 0;
		preload_reason = "shim library not found";
	}

	int bpf = 0;
	char bpf_why[512] = "disabled with --no-bpf";
#if VP_HAVE_BPF
	struct collector *col = NULL;
	if (!no_bpf) {
		char tp[PATH_MAX + 16];
		snprintf(tp, sizeof(tp), "%s/bpf.vpt", absdir);
		struct collector_opts co = { .trace_path = tp, .self_pid = getpid(),
					       .prog_stats = bpf_stats };
		int err = collector__new(&co, &col, bpf_why, sizeof(bpf_why));
		if (err) {
			fprintf(stderr, "vmaprof: kernel fault collector unavailable (%s); "
				"recording calls with the shim only, no page faults\n", bpf_why);
			col = NULL;
		} else {
			bpf = 1;
		}
	}
#else
	if (!no_bpf)
		snprintf(bpf_why, sizeof(bpf_why), "this vmaprof was built without BPF support");
#endif

	/* The trace-file broker: processes that drop their privileges can no
	 * longer open files in the 0700 directory; we create them for them. */
	struct broker *brk = NULL;
	char brk_why[256] = "";
	if (preload) {
		int err = broker__start(dirfd, &owner, &brk);
		if (err) {
			snprintf(brk_why, sizeof(brk_why), "%s", strerror(-err));
			fprintf(stderr, "vmaprof: trace-file broker unavailable (%s): processes "
				"that drop privileges will not be traced by the shim\n", brk_why);
		}
	}

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fprintf(stderr, "vmaprof: cannot become subreaper (%s): orphaned "
			"grandchildren will not be waited for\n", strerror(errno));

	int go[2];
	if (pipe2(go, O_CLOEXEC) < 0) {
		fprintf(stderr, "vmaprof: pipe: %s\n", strerror(errno));
		return 2;
	}
	fflush(NULL);
	uint64_t t0 = mono_ns();
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "vmaprof: fork: %s\n", strerror(errno));
		return 2;
	}
	if (child == 0) {
		close(go[1]);
		char b;
		/* wait until the parent has registered us with the collector */
		while (read(go[0], &b, 1) < 0 && errno == EINTR)
			;
		close(go[0]);
		if (preload) {
			char d[16], sig[16];
			snprintf(d, sizeof(d), "%d", depth);
			/* the shim's signal: the user's VMAPROF_SIGNAL, else SIGRTMAX-1;
			 * 0 (no handler installed) when off or nobody would send it */
			int sig_off = no_sigstacks || !bpf;
			snprintf(sig, sizeof(sig), "%d", sig_off ? 0 : SIGRTMAX - 1);
			if (set_preload(shim) || setenv("VMAPROF_DIR", absdir, 1) ||
			    setenv("VMAPROF_SHIM", shim, 1) || setenv("VMAPROF_STACK_DEPTH", d, 1) ||
			    (brk && setenv(VP_BROKER_ENV, broker__name(brk), 1)) ||
			    setenv("VMAPROF_SIGNAL", sig, sig_off)) {
				fprintf(stderr, "vmaprof: setenv: %s\n", strerror(errno));
				_exit(127);
			}
		}
		execvp(cmd[0], cmd);
		int e = errno;
		fprintf(stderr, "vmaprof: cannot run '%s': %s\n", cmd[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	close(go[0]);
	json_t *before = NULL;
#if VP_HAVE_BPF
	if (col) {
		/* Track it only once it sleeps on the pipe, then read its counters:
		 * every fault is either before (in those counters) or traced. */
		int still = wait_blocked_in_read(child, go[0]);
		int err = collector__track(col, child);
		if (err) {
			snprintf(bpf_why, sizeof(bpf_why), "could not register the command's pid: %s",
				 strerror(-err));
			fprintf(stderr, "vmaprof: %s\n", bpf_why);
			bpf = 0;
		} else {
			/* the child waits on the pipe: its counters stand still
			 * until we let it go, and every later fault is traced */
			before = fault_counters(child);
			if (before && !still)
				json_object_set_new(before, "exact", json_false());
		}
	}
#endif
	/* the recorder outlives the command to finish the trace: see on_signal */
	root_pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	/* the start marker: a recorder killed from here on leaves a session
	 * that says the recording is incomplete */
	if (write_session(dirfd, cmd, cmd_argc, child, 0, 0, NULL, t0, t0, depth, preload,
			  preload_reason, bpf, bpf ? NULL : bpf_why, preload ? shim : NULL, NULL,
			  before, NULL, &owner) < 0)
		fprintf(stderr, "vmaprof: cannot write %s/session.json: %s\n", absdir,
			strerror(errno));
	if (write(go[1], "g", 1) != 1)
		fprintf(stderr, "vmaprof: cannot start the command: %s\n", strerror(errno));
	close(go[1]);

	int root_status = 0, root_seen = 0, stopped = 0;
	uint64_t grace_end = 0;
	for (;;) {
		int st;
		if (stop_sigs >= 2 || (stop_sigs && root_seen && !grace_end)) {
			if (stop_sigs >= 2 || !root_seen) {
				stopped = 1;
				break;
			}
			grace_end = mono_ns() + STOP_GRACE_NS;
		}
		if (grace_end && mono_ns() >= grace_end) {
			stopped = 1;
			break;
		}
#if VP_HAVE_BPF
		int poll_now = col || grace_end;
#else
		int poll_now = grace_end != 0;
#endif
		/* blocking waits are interrupted by our signals (no SA_RESTART) */
		pid_t p = waitpid(-1, &st, poll_now ? WNOHANG : 0);
		if (poll_now && p == 0) {
#if VP_HAVE_BPF
			if (col)
				collector__poll(col, 50);
			else
#endif
			{
				struct timespec ts = { 0, 50000000 };
				nanosleep(&ts, NULL);
			}
			continue;
		}
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: the whole tree is gone */
		}
		if (p == child && (WIFEXITED(st) || WIFSIGNALED(st))) {
			root_status = st;
			root_seen = 1;
		}
	}
	json_t *running = NULL;
	if (stopped) {
		running = still_running();
		fprintf(stderr, "vmaprof: stopped waiting (signal %d): %zu process(es) of the tree "
			"still running, left running and marked so in the report\n", (int)last_sig,
			json_array_size(running));
	}
	uint64_t t1 = mono_ns();
	json_t *preload_extra = NULL;
	if (preload) {
		struct broker_stats bs = { 0 };
		pid_t refused[64];
		size_t nref = 64;
		if (brk)
			broker__stop(brk, &bs, refused, &nref);
		else
			nref = 0;
		json_t *rj = json_array();
		for (size_t i = 0; i < nref; i++)
			json_array_append_new(rj, json_integer(refused[i]));
		preload_extra = json_pack("{s:{s:b, s:s?, s:I, s:I, s:I, s:I, s:I, s:o}}", "broker",
					  "active", brk != NULL, "reason", brk ? NULL : brk_why,
					  "files", (json_int_t)bs.files, "reopens",
					  (json_int_t)bs.reopens, "failed", (json_int_t)bs.failed,
					  "refused", (json_int_t)bs.refused, "errors",
					  (json_int_t)bs.errors, "refused_pids", rj);
	}
#if VP_HAVE_BPF
	struct collector_stats cst = { 0 };
	json_t *bpf_extra = NULL;
	if (col) {
		collector__finish(col, &cst);
		bpf_extra = json_pack("{s:I, s:I, s:I, s:I, s:I}", "records",
				      (json_int_t)cst.records, "faults", (json_int_t)cst.faults,
				      "lost", (json_int_t)cst.lost, "untracked",
				      (json_int_t)cst.untracked, "unhandled_faults",
				      (json_int_t)cst.unhandled);
		if (bpf_stats && bpf_extra)
			json_object_set_new(bpf_extra, "programs", prog_stats_json(col));
		collector__free(col);
		char bp[PATH_MAX + 16];
		snprintf(bp, sizeof(bp), "%s/bpf.vpt", absdir);
		if (owner.set && chown(bp, owner.uid, owner.gid) < 0)
			fprintf(stderr, "vmaprof: cannot hand %s to uid %u: %s\n", bp,
				(unsigned)owner.uid, strerror(errno));
	}
#else
	json_t *bpf_extra = NULL;
#endif
	int serr = write_session(dirfd, cmd, cmd_argc, child, root_status, root_seen, running, t0,
				 t1, depth, preload, preload_reason, bpf, bpf ? NULL : bpf_why,
				 preload ? shim : NULL, bpf_extra, before, preload_extra, &owner);
	if (serr < 0)
		fprintf(stderr, "vmaprof: ERROR: cannot write %s/session.json: %s (the report "
			"will say the recording is incomplete)\n", absdir, strerror(-serr));
	json_decref(before);
	json_decref(running);

	/* The report cannot change the command's exit status (CI wraps
	 * commands in record); its failure is an ERROR line on stderr. */
	if (vp_write_report(absdir, NULL, stderr, 0)) {
		fprintf(stderr, "vmaprof: ERROR: no report.json was written (the traces in %s "
			"stay; `vmaprof report %s` retries)\n", absdir, absdir);
		vp_print_record_summary(absdir, stderr);
	}
	if (dirfd >= 0)
		close(dirfd);
	if (root_pidfd >= 0)
		close(root_pidfd);

	if (stopped)
		return 128 + last_sig;
	if (!root_seen)
		return 2;
	if (WIFSIGNALED(root_status))
		return 128 + WTERMSIG(root_status);
	return WEXITSTATUS(root_status);
}
