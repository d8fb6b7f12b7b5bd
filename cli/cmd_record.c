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
 *
 * `record -p PID` is attach.c's: cmd_record hands it over. What both do
 * alike (the output directory, the collector's start and figures,
 * session.json, the report) is recording.h's: neither calls the other.
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
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attach.h"
#include "broker_server.h"
#include "outfile.h"
#include "procfs.h"
#include "live.h"
#include "recording.h"
#include "resolve.h"
#include "shimcopy.h"
#include "spawn.h"
#include "config.h"
#include "vmaprof/broker.h"
#include "vmaprof/clock.h"
#include "vmaprof/record.h"
#include "collector.h"

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
		if (procfs_descends((pid_t)pid, self))
			json_array_append_new(a, json_integer(pid));
	}
	if (d)
		closedir(d);
	return a;
}

/* The shim this binary goes with: in a build tree, next to it (DIR/preload/,
 * DIR the directory of /proc/self/exe); installed, where `meson install`
 * put it relative to the binary (DIR/../lib/<arch>/vmaprof: a tree staged
 * with DESTDIR or moved elsewhere finds its own), else the configured
 * absolute path (meson.build). */
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
			l = snprintf(out, cap, "%s/%s/%s", exe, VMAPROF_PKGLIBDIR_FROM_BINDIR,
				     VMAPROF_SHIM_NAME);
			if (VMAPROF_PKGLIBDIR_FROM_BINDIR[0] && l > 0 && (size_t)l < cap &&
			    access(out, R_OK) == 0) {
				char real[PATH_MAX];
				if (realpath(out, real) && strlen(real) < cap)
					strcpy(out, real); /* no ".." in LD_PRELOAD */
				return 0;
			}
		}
	}
	snprintf(out, cap, "%s/%s", VMAPROF_PKGLIBDIR, VMAPROF_SHIM_NAME);
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}

/* Where a root recorder keeps its copies of the shim (shimcopy.h). */
static const char *shim_cache(void)
{
	const char *e = getenv("VMAPROF_SHIM_CACHE");
	return e && *e ? e : VMAPROF_SHIM_CACHE;
}

static void usage(FILE *f)
{
	fputs(vp_record_usage, f);
	fputs(vp_record_attach_usage, f);
}

/* The kernel's fault counters of a process that cannot run now (the root,
 * blocked on the start pipe): what it faulted before tracing began. */
static json_t *fault_counters(pid_t pid)
{
	struct procfs_stat st;
	if (procfs_stat(pid, &st) < 0)
		return NULL;
	return json_pack("{s:i, s:I, s:I}", "pid", (int)pid, "minflt", (json_int_t)st.minflt,
			 "majflt", (json_int_t)st.majflt);
}

/* Wait (bounded) until `pid` sleeps in read(fd): from then on it takes no
 * fault until we write to the pipe. 1 if seen, 0 if not within ~2 s. */
static int wait_blocked_in_read(pid_t pid, int fd)
{
	for (int i = 0; i < 20000; i++) {
		if (procfs_sleeps_in_read(pid, fd))
			return 1;
		if (kill(pid, 0) < 0)
			return 0;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* One recording: what was asked, what runs, what came out. */
struct rec {
	/* options */
	const char *dir_opt;
	int no_bpf, no_preload, bpf_stats, depth, no_sigstacks, live_opt;
	int ws_set;                   /* --write-stacks given */
	uint32_t ws_first, ws_every;
	size_t ringbuf_bytes; /* 0: the collector's default */
	struct vp_report_opts report;
	char **cmd;
	int cmd_argc;
	/* the output directory (outfile.h) */
	struct out_owner owner;
	int dirfd;
	int dir_created;  /* we made it: removed again if the command cannot run */
	char absdir[PATH_MAX];
	/* collectors */
	int preload;
	const char *preload_reason;
	char shim[PATH_MAX];        /* what LD_PRELOAD names */
	char shim_source[PATH_MAX]; /* the shim found (find_shim) */
	const char *shim_copy;      /* NULL, "created", "reused" (shimcopy.h) */
	char shim_copy_error[PATH_MAX + 256];
	struct broker *brk;
	char brk_why[256];
	int bpf;
	char bpf_why[512];
	struct collector *col;
	struct recording_prefetch *prefetch; /* the report's files, meanwhile */
	struct live *live;          /* --live: the terminal view (live.h) */
	int live_quit;              /* ended by its q */
	/* the command */
	pid_t child;
	int go[2];        /* the start pipe: the child waits until registered */
	int execfail[2];  /* close-on-exec: the child's errno if execvp failed */
	struct spawn *spawn; /* its stack and vectors until its exec (spawn.h) */
	int exec_errno;
	uint64_t t0, t1;
	/* --stats: when each phase ended (vp_mono_ns) */
	int stats;
	uint64_t t_enter, t_enter_done, t_shim, t_bpf, t_broker, t_started, t_broker_stopped, t_drained,
		t_session, t_report;
	json_t *before;   /* its counters when tracing began */
	int root_status, root_seen, stopped;
	json_t *running;  /* pids left running when we stopped waiting */
};

/* session.json: written when the command starts (`complete` false) and
 * again when recording ends (`complete` true, the session end marker); a
 * recorder killed in between leaves the first, and reports say the
 * recording is incomplete. Takes bpf_extra and preload_extra. */
static int write_session(const struct rec *r, int complete, json_t *bpf_extra,
			 json_t *preload_extra)
{
	json_t *cmd = json_array();
	for (int i = 0; i < r->cmd_argc; i++)
		json_array_append_new(cmd, json_string(r->cmd[i]));
	int status = r->root_status;
	int ended = complete && r->root_seen;
	json_t *s = json_pack(
		"{s:i, s:{s:s, s:s}, s:o, s:i, s:i, s:o, s:o, s:I, s:I, s:i, s:{s:{s:b, s:s?, s:s?}, s:{s:b, s:s?}}}",
		"session_version", 1, "tool", "name", "vmaprof", "version", VMAPROF_VERSION,
		"command", cmd, "root_pid", (int)r->child, "page_size", (int)sysconf(_SC_PAGESIZE),
		"exit_code", ended && WIFEXITED(status) ? json_integer(WEXITSTATUS(status))
							 : json_null(),
		"exit_signal", ended && WIFSIGNALED(status) ? json_integer(WTERMSIG(status))
							     : json_null(),
		"start_ns", (json_int_t)r->t0, "end_ns", (json_int_t)(complete ? r->t1 : r->t0),
		"stack_depth", r->depth,
		"collectors", "preload", "active", r->preload, "reason", r->preload_reason, "shim",
		r->preload ? r->shim : NULL, "bpf", "active", r->bpf, "reason",
		r->bpf ? NULL : r->bpf_why);
	if (!s) {
		json_decref(bpf_extra);
		json_decref(preload_extra);
		return -ENOMEM;
	}
	if (bpf_extra)
		json_object_update_new(json_object_get(json_object_get(s, "collectors"), "bpf"),
				       bpf_extra);
	if (r->before)
		json_object_set(s, "before_trace", r->before);
	if (preload_extra)
		json_object_update_new(json_object_get(json_object_get(s, "collectors"), "preload"),
				       preload_extra);
	if (r->preload) {
		/* where the shim came from, and the copy every user can load */
		json_t *pre = json_object_get(json_object_get(s, "collectors"), "preload");
		json_object_set_new(pre, "shim_source", json_string(r->shim_source));
		json_object_set_new(pre, "shim_copy", r->shim_copy ? json_string(r->shim_copy)
								    : json_null());
		json_object_set_new(pre, "shim_copy_error", r->shim_copy_error[0]
				    ? json_string(r->shim_copy_error) : json_null());
	}
	return recording__write_session(r->dirfd, &r->owner, s, complete, r->running);
}

/* -1 to go on, else the exit code (help, bad usage). */
static int parse_args(struct rec *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "no-bpf", no_argument, NULL, 'B' },
		{ "no-preload", no_argument, NULL, 'P' },
		{ "stack-depth", required_argument, NULL, 'd' },
		{ "no-stacks", no_argument, NULL, 'S' },
		{ "bpf-stats", no_argument, NULL, 'T' },
		{ "no-signal-stacks", no_argument, NULL, 'G' },
		{ "every-vma", no_argument, NULL, 'V' },
		{ "plumbing", required_argument, NULL, 'L' },
		{ "html", no_argument, NULL, 'H' },
		{ "live", no_argument, NULL, 'l' },
		{ "stats", no_argument, NULL, 's' },
		{ "ring-buffer", required_argument, NULL, 'R' },
		{ "write-stacks", required_argument, NULL, 'W' },
		{ "duration", required_argument, NULL, 'D' }, /* refused: -p's */
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	r->depth = 64;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': r->dir_opt = optarg; break;
		case 'B': r->no_bpf = 1; break;
		case 'P': r->no_preload = 1; break;
		case 'S': r->depth = 0; break;
		case 'T': r->bpf_stats = 1; break;
		case 'G': r->no_sigstacks = 1; break;
		case 'V': r->report.every_vma = 1; break;
		case 'H': r->report.html = 1; break;
		case 'l': r->live_opt = 1; break;
		case 's': r->stats = r->report.stats = 1; break;
		case 'L':
			if (vp_report_opts_add_plumbing(&r->report, optarg))
				return 2;
			break;
		case 'R':
			if (recording__parse_ringbuf_size(optarg, &r->ringbuf_bytes))
				return 2;
			break;
		case 'W':
			if (recording__parse_write_stacks(optarg, &r->ws_first, &r->ws_every))
				return 2;
			r->ws_set = 1;
			break;
		case 'd': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < 0 || v > VP_MAX_STACK_DEPTH) {
				fprintf(stderr, "vmaprof: --stack-depth must be 0..%d, got '%s'\n",
					VP_MAX_STACK_DEPTH, optarg);
				return 2;
			}
			r->depth = (int)v;
			break;
		}
		case 'D':
			fprintf(stderr, "vmaprof: --duration is only valid with -p PID (attaching to "
				"a running process): record COMMAND records until the command's "
				"tree exits\n");
			return 2;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "vmaprof record: no command given\n");
		usage(stderr);
		return 2;
	}
	r->cmd = argv + optind;
	r->cmd_argc = argc - optind;
	return -1;
}

/* The directory is ours (created 0700, or an existing one of ours no one
 * else can write) and every file in it is created by us, 0600, never
 * through a symlink: a recording made as root holds what the traced
 * programs mapped (paths, arguments, stacks). Refused before the command
 * runs. 0 or -1 (said why). */
static int prepare_output(struct rec *r)
{
	char dir[PATH_MAX];
	if (r->dir_opt) {
		snprintf(dir, sizeof(dir), "%s", r->dir_opt);
	} else {
		const char *base = strrchr(r->cmd[0], '/');
		snprintf(dir, sizeof(dir), "vmaprof.%s.%d", base ? base + 1 : r->cmd[0],
			 (int)getpid());
	}
	return recording__prepare_dir(dir, &r->owner, &r->dirfd, &r->dir_created, r->absdir);
}

/* As root, the tree may become any user (su, setpriv, a daemon's setuid),
 * who loads the shim at its next exec: LD_PRELOAD names a copy every user
 * can load and only root can replace, unless the shim found already is one
 * (shimcopy.h). Not root: the processes stay ours, the shim where it is. */
static void place_shim(struct rec *r)
{
	snprintf(r->shim_source, sizeof(r->shim_source), "%s", r->shim);
	if (geteuid() != 0)
		return;
	char placed[PATH_MAX];
	enum shim_placement how;
	if (shim_place(r->shim, shim_cache(), placed, sizeof(placed), &how, r->shim_copy_error,
		       sizeof(r->shim_copy_error)) < 0) {
		fprintf(stderr, "vmaprof: cannot place a copy of the shim every user can load (%s): "
			"processes that drop privileges may run without it\n", r->shim_copy_error);
		return;
	}
	snprintf(r->shim, sizeof(r->shim), "%s", placed);
	r->shim_copy = how == SHIM_COPY_NEW ? "created" : how == SHIM_COPY_REUSED ? "reused" : NULL;
}

/* The shim, the kernel collector and the trace-file broker: each that
 * cannot run says why and the recording goes on without it. */
/* VMAPROF_KERNEL_STACK_NO_SHIM=1: kernel stacks where no shim announced
 * itself even with the shim preloaded, in dynamic images too (ld.so's
 * calls before the shim starts); static, setuid and seccomp-filtered
 * images get them without it (collector.h kstack_no_shim). */
static int kstack_no_shim_env(void)
{
	const char *v = getenv("VMAPROF_KERNEL_STACK_NO_SHIM");
	return v && !strcmp(v, "1");
}

static void start_collectors(struct rec *r)
{
	r->preload = !r->no_preload;
	if (r->no_preload) {
		r->preload_reason = "disabled with --no-preload";
	} else if (find_shim(r->shim, sizeof(r->shim)) < 0) {
		fprintf(stderr, "vmaprof: shim %s not found next to the binary nor in %s; "
			"recording without it\n", VMAPROF_SHIM_NAME, VMAPROF_PKGLIBDIR);
		r->preload = 0;
		r->preload_reason = "shim library not found";
	} else {
		place_shim(r);
	}
	r->t_shim = vp_mono_ns();
	snprintf(r->bpf_why, sizeof(r->bpf_why), "disabled with --no-bpf");
	if (!r->no_bpf) {
		struct collector_opts co = { .self_pid = getpid(), .prog_stats = r->bpf_stats,
					     .ringbuf_bytes = r->ringbuf_bytes,
					     .no_kstacks = r->depth == 0,
					     .kstack_no_shim = !r->preload || kstack_no_shim_env(),
					     .ws_set = r->ws_set, .ws_first = r->ws_first,
					     .ws_every = r->ws_every };
		if (recording__start_collector(r->absdir, &co, &r->col, r->bpf_why,
					       sizeof(r->bpf_why))) {
			fprintf(stderr, "vmaprof: kernel fault collector unavailable (%s); "
				"recording calls with the shim only, no page faults\n", r->bpf_why);
		} else {
			r->bpf = 1;
		}
	}
	r->t_bpf = vp_mono_ns();
	/* processes that drop their privileges can no longer open files in
	 * the 0700 directory: the broker creates them for them */
	if (r->preload) {
		int err = broker__start(r->dirfd, &r->owner, &r->brk);
		if (err) {
			snprintf(r->brk_why, sizeof(r->brk_why), "%s", strerror(-err));
			fprintf(stderr, "vmaprof: trace-file broker unavailable (%s): processes "
				"that drop privileges will not be traced by the shim\n", r->brk_why);
		}
	}
	r->t_broker = vp_mono_ns();
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		fprintf(stderr, "vmaprof: cannot become subreaper (%s): orphaned "
			"grandchildren will not be waited for\n", strerror(errno));
}

/* Start the command's process (spawn.h): it waits on the start pipe, then
 * execs the command with the shim's environment. 0, or -1 said. */
static int spawn_command(struct rec *r)
{
	char d[16], sig[16], netns[24] = "0";
	char *preload = NULL;
	struct spawn_var vars[7];
	int n = 0;

	if (r->preload) {
		/* the shim first in LD_PRELOAD, keeping what the user preloads */
		const char *old = getenv("LD_PRELOAD");
		size_t l = strlen(r->shim) + (old ? strlen(old) : 0) + 2;
		if (!(preload = malloc(l))) {
			fprintf(stderr, "vmaprof: out of memory\n");
			return -1;
		}
		snprintf(preload, l, old && *old ? "%s:%s" : "%s", r->shim, old);
		snprintf(d, sizeof(d), "%d", r->depth);
		/* the shim's signal: the user's VMAPROF_SIGNAL, else SIGRTMAX-1;
		 * 0 (no handler installed) when off or nobody would send it */
		int sig_off = r->no_sigstacks || !r->bpf;
		snprintf(sig, sizeof(sig), "%d", sig_off ? 0 : SIGRTMAX - 1);
		struct stat ns;
		if (!stat("/proc/self/ns/net", &ns))
			snprintf(netns, sizeof(netns), "%llu", (unsigned long long)ns.st_ino);
		vars[n++] = (struct spawn_var){ "LD_PRELOAD", preload, 1 };
		vars[n++] = (struct spawn_var){ "VMAPROF_DIR", r->absdir, 1 };
		vars[n++] = (struct spawn_var){ "VMAPROF_SHIM", r->shim, 1 };
		vars[n++] = (struct spawn_var){ "VMAPROF_STACK_DEPTH", d, 1 };
		if (r->brk) {
			vars[n++] = (struct spawn_var){ VP_BROKER_ENV, broker__name(r->brk), 1 };
			vars[n++] = (struct spawn_var){ VP_BROKER_NETNS_ENV, netns, 1 };
		}
		vars[n++] = (struct spawn_var){ "VMAPROF_SIGNAL", sig, sig_off };
	}
	r->spawn = spawn__start(r->cmd, environ, vars, n, r->go[0], r->execfail[1], r->go[1],
				r->execfail[0], &r->child);
	free(preload);
	if (!r->spawn) {
		fprintf(stderr, "vmaprof: cannot start the command: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Start the command, register it with the collector while it waits on the
 * start pipe, write the start marker, let it go. 0 or -1. */
static int start_command(struct rec *r)
{
	if (pipe2(r->go, O_CLOEXEC) < 0 || pipe2(r->execfail, O_CLOEXEC) < 0) {
		fprintf(stderr, "vmaprof: pipe: %s\n", strerror(errno));
		return -1;
	}
	fflush(NULL);
	r->t0 = vp_mono_ns();
	if (spawn_command(r) < 0)
		return -1;
	close(r->go[0]);
	close(r->execfail[1]);
	if (r->col) {
		/* Track it only once it sleeps on the pipe, then read its
		 * counters: every fault is either before (in those counters,
		 * which stand still until we let it go) or traced. */
		int still = wait_blocked_in_read(r->child, r->go[0]);
		int err = collector__track(r->col, r->child);
		if (err) {
			snprintf(r->bpf_why, sizeof(r->bpf_why),
				 "could not register the command's pid: %s", strerror(-err));
			fprintf(stderr, "vmaprof: %s\n", r->bpf_why);
			r->bpf = 0;
		} else {
			r->before = fault_counters(r->child);
			if (r->before && !still)
				json_object_set_new(r->before, "exact", json_false());
		}
	}
	/* the recorder outlives the command to finish the trace: see on_signal */
	root_pidfd = (int)syscall(SYS_pidfd_open, r->child, 0);
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	/* the start marker: a recorder killed from here on leaves a session
	 * that says the recording is incomplete */
	int err = write_session(r, 0, NULL, NULL);
	if (err < 0)
		fprintf(stderr, "vmaprof: cannot write %s/session.json: %s\n", r->absdir,
			strerror(-err));
	if (write(r->go[1], "g", 1) != 1)
		fprintf(stderr, "vmaprof: cannot start the command: %s\n", strerror(errno));
	close(r->go[1]);
	/* end of file: the exec happened (or the child died before it); an
	 * errno: execvp failed after resolve_command let it through */
	int e = 0;
	ssize_t n;
	while ((n = read(r->execfail[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(r->execfail[0]);
	if (n == sizeof(e) && e)
		r->exec_errno = e;
	else {
		/* exec'd (or dead): it no longer runs on our memory */
		spawn__free(r->spawn);
		r->spawn = NULL;
	}
	return 0;
}

/* The command could not be run after all: no recording of it. The child
 * is reaped, the collectors stopped, what we wrote removed, and the
 * directory too if we made it. */
static void abandon(struct rec *r)
{
	int st;
	while (r->child > 0 && waitpid(r->child, &st, 0) < 0 && errno == EINTR)
		;
	spawn__free(r->spawn); /* the child is gone: its stack is ours again */
	r->spawn = NULL;
	if (r->brk)
		broker__stop(r->brk, NULL, NULL, NULL);
	r->brk = NULL;
	collector__free(r->col);
	r->col = NULL;
	static const char *const ours[] = { "bpf.vpt", "session.json" };
	for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
		unlinkat(r->dirfd, ours[i], 0);
	if (r->dir_created && rmdir(r->absdir) < 0 && errno != ENOENT)
		fprintf(stderr, "vmaprof: cannot remove %s: %s\n", r->absdir, strerror(errno));
}

static void on_sigchld(int sig)
{
	(void)sig; /* only to end a wait (see wait_tree) */
}

/* Until the whole tree is gone, or signals say stop (on_signal).
 * SIGCHLD stays blocked except inside the timed waits, which unblock it
 * atomically (epoll_pwait, ppoll): a child that ends just before a wait
 * ends that wait at once, not 50 ms later (bench/NOTES.md, start-up). */
static void wait_tree(struct rec *r)
{
	uint64_t grace_end = 0;
	sigset_t chld, orig, waitmask;
	struct sigaction sa = { .sa_handler = on_sigchld, .sa_flags = SA_NOCLDSTOP }, old_sa;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &orig);
	waitmask = orig;
	sigdelset(&waitmask, SIGCHLD);
	sigaction(SIGCHLD, &sa, &old_sa);
	for (;;) {
		int st;
		if (stop_sigs >= 2 || (stop_sigs && r->root_seen && !grace_end)) {
			if (stop_sigs >= 2 || !r->root_seen) {
				r->stopped = 1;
				break;
			}
			grace_end = vp_mono_ns() + STOP_GRACE_NS;
		}
		if (grace_end && vp_mono_ns() >= grace_end) {
			r->stopped = 1;
			break;
		}
		/* blocking waits are interrupted by our signals (no SA_RESTART) */
		int poll_now = r->col || grace_end;
		pid_t p = waitpid(-1, &st, poll_now ? WNOHANG : 0);
		if (poll_now && p == 0) {
			if (r->col) {
				collector__poll_sigmask(r->col, 50, &waitmask);
				if (r->live && live__tick(r->live)) {
					r->stopped = r->live_quit = 1;
					break;
				}
			} else {
				struct timespec ts = { 0, 50000000 };
				ppoll(NULL, 0, &ts, &waitmask);
			}
			continue;
		}
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: the whole tree is gone */
		}
		if (p == r->child && (WIFEXITED(st) || WIFSIGNALED(st))) {
			r->root_status = st;
			r->root_seen = 1;
		}
	}
	sigaction(SIGCHLD, &old_sa, NULL);
	sigprocmask(SIG_SETMASK, &orig, NULL);
	if (r->live) {
		collector__observe(r->col, NULL, NULL); /* finish drains more */
		live__free(r->live);
		r->live = NULL;
	}
	if (r->stopped) {
		char by[32];
		snprintf(by, sizeof(by), r->live_quit ? "q" : "signal %d", (int)last_sig);
		r->running = still_running();
		fprintf(stderr, "vmaprof: stopped waiting (%s): %zu process(es) of the tree "
			"still running, left running and marked so in the report\n", by,
			json_array_size(r->running));
	}
	r->t1 = vp_mono_ns();
}

static json_t *stop_broker(struct rec *r)
{
	if (!r->preload)
		return NULL;
	struct broker_stats bs = { 0 };
	pid_t refused[64];
	size_t nref = 64;
	if (r->brk)
		broker__stop(r->brk, &bs, refused, &nref);
	else
		nref = 0;
	r->brk = NULL;
	json_t *rj = json_array();
	for (size_t i = 0; i < nref; i++)
		json_array_append_new(rj, json_integer(refused[i]));
	return json_pack("{s:{s:b, s:s?, s:I, s:I, s:I, s:I, s:I, s:o}}", "broker", "active",
			 r->brk_why[0] == 0, "reason", r->brk_why[0] ? r->brk_why : NULL, "files",
			 (json_int_t)bs.files, "reopens", (json_int_t)bs.reopens, "failed",
			 (json_int_t)bs.failed, "refused", (json_int_t)bs.refused, "errors",
			 (json_int_t)bs.errors, "refused_pids", rj);
}

static json_t *stop_collector(struct rec *r)
{
	if (!r->col)
		return NULL;
	struct collector_stats cst = { 0 };
	collector__finish(r->col, &cst);
	json_t *x = recording__collector_json(r->col, &cst, r->bpf_stats);
	collector__free(r->col);
	r->col = NULL;
	recording__hand_over(r->dirfd, &r->owner, r->absdir, "bpf.vpt");
	return x;
}

/* The end marker and the report. The report cannot change the command's
 * exit status (CI wraps commands in record): its failure is an ERROR line. */
static void finish(struct rec *r)
{
	/* the command has run (a disposition set now is not inherited by it):
	 * a summary piped into `head` must not kill us before the exit status */
	signal(SIGPIPE, SIG_IGN);
	recording__prefetch_stop(r->prefetch, r->stats ? stderr : NULL);
	r->prefetch = NULL;
	json_t *preload_extra = stop_broker(r);
	r->t_broker_stopped = vp_mono_ns();
	json_t *bpf_extra = stop_collector(r);
	r->t_drained = vp_mono_ns();
	int err = write_session(r, 1, bpf_extra, preload_extra);
	r->t_session = vp_mono_ns();
	r->report.exiting = 1; /* the process ends after the report (cli.h) */
	recording__report(r->absdir, err, &r->report);
	r->t_report = vp_mono_ns();
}

/* --stats: where the record command's time went, phase by phase (the
 * report step's own split is printed above it by vp_write_report). */
static void print_phases(const struct rec *r)
{
#define S(a, b) ((double)((b) - (a)) / 1e9)
	fprintf(stderr, "vmaprof: record in %.3f s (the whole command):\n",
		S(r->t_enter, r->t_report));
	fprintf(stderr, "vmaprof:   start-up        %7.3f s  (checks and output directory "
		"%.3f s, shim copy %.3f s, kernel collector %.3f s, broker %.3f s, command "
		"started and exec'd %.3f s)\n", S(r->t_enter, r->t_started),
		S(r->t_enter, r->t_enter_done), S(r->t_enter_done, r->t_shim),
		S(r->t_shim, r->t_bpf), S(r->t_bpf, r->t_broker), S(r->t_broker, r->t_started));
	fprintf(stderr, "vmaprof:   the program     %7.3f s  (until the whole tree is gone)\n",
		S(r->t_started, r->t1));
	fprintf(stderr, "vmaprof:   stop            %7.3f s  (broker %.3f s, draining the "
		"kernel collector %.3f s, session.json %.3f s)\n", S(r->t1, r->t_session),
		S(r->t1, r->t_broker_stopped), S(r->t_broker_stopped, r->t_drained),
		S(r->t_drained, r->t_session));
	fprintf(stderr, "vmaprof:   report          %7.3f s  (analysis, report.json, summary: "
		"split above)\n", S(r->t_session, r->t_report));
#undef S
}

static void rec_free(struct rec *r)
{
	free(r->report.plumbing);
	if (r->brk)
		broker__stop(r->brk, NULL, NULL, NULL);
	collector__free(r->col);
	json_decref(r->before);
	json_decref(r->running);
	if (r->dirfd >= 0)
		close(r->dirfd);
	if (root_pidfd >= 0)
		close(root_pidfd);
	root_pidfd = -1;
}

/* --live: the view on the terminal, fed by the kernel collector. */
static int live_start(struct rec *r)
{
	char why[256], what[96];
	if (!r->col) {
		fprintf(stderr, "vmaprof: --live shows the kernel collector's figures, and it is "
			"not running: %s\n", r->bpf_why[0] ? r->bpf_why : "--no-bpf");
		return -1;
	}
	snprintf(what, sizeof(what), "%s", r->cmd[0]);
	for (int i = 1; i < r->cmd_argc && strlen(what) < sizeof(what) - 2; i++)
		snprintf(what + strlen(what), sizeof(what) - strlen(what), " %s", r->cmd[i]);
	r->live = live__new(what, why, sizeof(why));
	if (!r->live) {
		fprintf(stderr, "vmaprof: %s\n", why);
		return -1;
	}
	collector__observe(r->col, live__record, r->live);
	return 0;
}

int cmd_record(int argc, char **argv)
{
	struct rec r = { .dirfd = -1, .execfail = { -1, -1 }, .t_enter = vp_mono_ns() };
	if (vp_record_wants_attach(argc, argv)) /* -p PID: cli/attach.c */
		return vp_record_attach(argc, argv);
	int rc = parse_args(&r, argc, argv);
	if (rc >= 0)
		return rc;
	/* a command that cannot run leaves nothing behind: decided first */
	char why[PATH_MAX + 128];
	rc = resolve_command(r.cmd[0], why, sizeof(why));
	if (rc) {
		fprintf(stderr, "vmaprof: %s\n", why);
		rec_free(&r);
		return rc;
	}
	if (prepare_output(&r) < 0) {
		rec_free(&r);
		return 2;
	}
	r.t_enter_done = vp_mono_ns();
	start_collectors(&r);
	if (r.live_opt && live_start(&r) < 0) {
		abandon(&r);
		rec_free(&r);
		return 2;
	}
	if (start_command(&r) < 0) {
		rec_free(&r);
		return 2;
	}
	if (r.exec_errno) {
		rc = resolve_exec_error(r.cmd[0], r.exec_errno, why, sizeof(why));
		fprintf(stderr, "vmaprof: %s\n", why);
		abandon(&r);
		rec_free(&r);
		return rc;
	}
	r.t_started = vp_mono_ns();
	/* VMAPROF_PREFETCH=0: none (to measure what it saves) */
	const char *pf = getenv("VMAPROF_PREFETCH");
	if (!pf || strcmp(pf, "0"))
		r.prefetch = recording__prefetch_start();
	wait_tree(&r);
	finish(&r);
	if (r.stats)
		print_phases(&r);
	if (r.stopped)
		rc = r.live_quit ? 0 : 128 + last_sig;
	else if (!r.root_seen)
		rc = 2;
	else if (WIFSIGNALED(r.root_status))
		rc = 128 + WTERMSIG(r.root_status);
	else
		rc = WEXITSTATUS(r.root_status);
	rec_free(&r);
	return rc;
}
