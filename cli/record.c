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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "vmaprof/record.h"
#if VP_HAVE_BPF
#include "collector.h"
#endif

static volatile sig_atomic_t forward_sig;
static pid_t root_pid;

static void on_signal(int sig)
{
	forward_sig = sig;
	if (root_pid > 0)
		kill(root_pid, sig);
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

static int write_session(const char *dir, char **argv, int argc, pid_t root, int status,
			 uint64_t t0, uint64_t t1, int depth, int preload, const char *preload_reason,
			 int bpf, const char *bpf_reason, const char *shim, json_t *bpf_extra)
{
	json_t *cmd = json_array();
	for (int i = 0; i < argc; i++)
		json_array_append_new(cmd, json_string(argv[i]));
	json_t *s = json_pack(
		"{s:i, s:{s:s, s:s}, s:o, s:i, s:i, s:o, s:o, s:I, s:I, s:i, s:{s:{s:b, s:s?, s:s?}, s:{s:b, s:s?}}}",
		"session_version", 1, "tool", "name", "vmaprof", "version", VMAPROF_VERSION,
		"command", cmd, "root_pid", (int)root, "page_size", (int)sysconf(_SC_PAGESIZE),
		"exit_code", WIFEXITED(status) ? json_integer(WEXITSTATUS(status)) : json_null(),
		"exit_signal", WIFSIGNALED(status) ? json_integer(WTERMSIG(status)) : json_null(),
		"start_ns", (json_int_t)t0, "end_ns", (json_int_t)t1, "stack_depth", depth,
		"collectors", "preload", "active", preload, "reason", preload_reason, "shim", shim,
		"bpf", "active", bpf, "reason", bpf_reason);
	if (!s) {
		json_decref(bpf_extra);
		return -ENOMEM;
	}
	if (bpf_extra)
		json_object_update_new(json_object_get(json_object_get(s, "collectors"), "bpf"),
				       bpf_extra);
	char path[PATH_MAX];
	int l = snprintf(path, sizeof(path), "%s/session.json", dir);
	if (l < 0 || (size_t)l >= sizeof(path)) {
		json_decref(s);
		return -ENAMETOOLONG;
	}
	int r = json_dump_file(s, path, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(s);
	return r ? -EIO : 0;
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
			if (*end || v < 0 || v > VP_MAX_STACK_DEPTH) {
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
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "vmaprof: cannot create %s: %s\n", dir, strerror(errno));
		return 2;
	}
	if (vp_dir_has_traces(dir)) {
		fprintf(stderr, "vmaprof: %s already holds a recording; choose another -o DIR\n",
			dir);
		return 2;
	}
	char absdir[PATH_MAX];
	if (!realpath(dir, absdir)) {
		fprintf(stderr, "vmaprof: %s: %s\n", dir, strerror(errno));
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
	root_pid = child;
#if VP_HAVE_BPF
	if (col) {
		int err = collector__track(col, child);
		if (err) {
			snprintf(bpf_why, sizeof(bpf_why), "could not register the command's pid: %s",
				 strerror(-err));
			fprintf(stderr, "vmaprof: %s\n", bpf_why);
			bpf = 0;
		}
	}
#endif
	/* Terminal signals reach the command through its process group; the
	 * recorder must outlive it to finish the trace. Others are forwarded. */
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	if (write(go[1], "g", 1) != 1)
		fprintf(stderr, "vmaprof: cannot start the command: %s\n", strerror(errno));
	close(go[1]);

	int root_status = 0, root_seen = 0;
	for (;;) {
		int st;
#if VP_HAVE_BPF
		pid_t p = waitpid(-1, &st, col ? WNOHANG : 0);
		if (col && p == 0) {
			collector__poll(col, 50);
			continue;
		}
#else
		pid_t p = waitpid(-1, &st, 0);
#endif
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
	uint64_t t1 = mono_ns();
#if VP_HAVE_BPF
	struct collector_stats cst = { 0 };
	json_t *bpf_extra = NULL;
	if (col) {
		collector__finish(col, &cst);
		bpf_extra = json_pack("{s:I, s:I, s:I}", "records", (json_int_t)cst.records,
				      "faults", (json_int_t)cst.faults, "lost",
				      (json_int_t)cst.lost);
		if (bpf_stats && bpf_extra)
			json_object_set_new(bpf_extra, "programs", prog_stats_json(col));
		collector__free(col);
	}
#else
	json_t *bpf_extra = NULL;
#endif
	if (write_session(absdir, cmd, cmd_argc, child, root_status, t0, t1, depth, preload,
			  preload_reason, bpf, bpf ? NULL : bpf_why, preload ? shim : NULL,
			  bpf_extra) < 0)
		fprintf(stderr, "vmaprof: cannot write %s/session.json\n", absdir);

	if (vp_write_report(absdir, NULL, stderr, 0))
		vp_print_record_summary(absdir, stderr);

	if (!root_seen)
		return 2;
	if (WIFSIGNALED(root_status))
		return 128 + WTERMSIG(root_status);
	return WEXITSTATUS(root_status);
}
