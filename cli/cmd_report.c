/* SPDX-License-Identifier: MIT */
/* vmaprof report and the summary `record` prints: analyse, shape
 * once (analysis__view), then hand the finished analysis to the outputs
 * (outputs.h), each into a file or stdout (a sink). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis_sym.h"
#include "analyze.h"
#include "cli.h"
#include "outfile.h"
#include "outputs.h"
#include "label.h"
#include "reader.h"
#include "tracedir.h"
#include "vmaprof/clock.h"

int vp_dir_has_traces(const char *dir)
{
	struct tracedir td;
	if (tracedir__scan(dir, &td))
		return 0;
	int has = td.n > 0 || td.has_session || td.n_failed > 0;
	tracedir__free(&td);
	return has;
}

void vp_print_record_summary(const char *dir, FILE *out)
{
	struct tracedir td;
	if (tracedir__scan(dir, &td)) {
		fprintf(out, "vmaprof: cannot read %s\n", dir);
		return;
	}
	uint64_t total = 0, lost = 0, damaged = 0;
	size_t images = 0;
	for (size_t i = 0; i < td.n; i++) {
		char path[4096], why[512];
		struct reader *r;
		snprintf(path, sizeof(path), "%s/%s", dir, td.files[i].name);
		if (reader__open(path, &r, why, sizeof(why))) {
			fprintf(out, "vmaprof: %s\n", why);
			continue;
		}
		uint64_t per[VP_CALL_MAX] = { 0 }, forks = 0, execs = 0;
		char exe[64] = "?";
		const struct vp_rec *h;
		while (reader__next(r, &h) > 0) {
			if (h->type == VP_REC_MEM)
				per[((const struct vp_mem *)h)->call]++;
			forks += h->type == VP_REC_FORK;
			execs += h->type == VP_REC_EXEC && !((const struct vp_exec *)h)->err;
			if (h->type == VP_REC_PROC) {
				const struct vp_proc *p = (const void *)h;
				const char *e = vp_proc_exe(p), *slash = memrchr(e, '/', p->exe_len);
				size_t off = slash ? (size_t)(slash - e) + 1 : 0;
				snprintf(exe, sizeof(exe), "%.*s", (int)(p->exe_len - off), e + off);
			}
		}
		const struct vp_file_header *fh = reader__header(r);
		const struct reader_stats *st = reader__stats(r);
		total += st->records;
		lost += fh->lost;
		damaged += st->incomplete + st->bad;
		images += !td.files[i].is_bpf;
		if (!td.files[i].is_bpf)
			fprintf(out, "  pid %-7d %-16s %6" PRIu64 " mmap %6" PRIu64 " munmap %6" PRIu64
				" other %4" PRIu64 " fork %4" PRIu64 " exec%s\n", td.files[i].pid,
				exe, per[VP_CALL_MMAP], per[VP_CALL_MUNMAP],
				per[VP_CALL_MREMAP] + per[VP_CALL_MPROTECT] + per[VP_CALL_MADVISE] +
					per[VP_CALL_BRK] + per[VP_CALL_SBRK],
				forks, execs, fh->lost ? "  (records lost)" : "");
		reader__free(r);
	}
	fprintf(out, "vmaprof: %zu process image(s), %" PRIu64 " records, %" PRIu64
		" lost, %" PRIu64 " damaged -> %s\n", images, total, lost, damaged, dir);
	if (td.n_failed)
		fprintf(out, "vmaprof: the shim could not record %zu process(es): see %s\n",
			td.n_failed, dir);
	tracedir__free(&td);
}

/*
 * Where a report goes. A regular file (DIR/report.json by default, whatever
 * is there under that name) is
 * written to a temporary file beside it (O_EXCL|O_NOFOLLOW, 0600), fsync'd
 * and renamed over the name: never through a planted symlink, never a
 * truncated file under the final name; on failure the temporary file goes
 * and the error is said. "-", and an existing FIFO or device named with -o
 * (/dev/stdout, a pipe the user set up), are written in place.
 */
struct sink {
	FILE *f;
	int in_place, dirfd;
	struct outfile of;
};

static int sink_open(struct sink *k, const char *path, int named, char *why, size_t why_len)
{
	memset(k, 0, sizeof(*k));
	k->dirfd = -1;
	struct stat sb;
	if (!strcmp(path, "-")) {
		k->f = stdout;
		k->in_place = 1;
		return 0;
	}
	if (named && stat(path, &sb) == 0 && (S_ISCHR(sb.st_mode) || S_ISFIFO(sb.st_mode))) {
		k->f = fopen(path, "w");
		k->in_place = 1;
		if (!k->f) {
			snprintf(why, why_len, "%s: %s", path, strerror(errno));
			return -1;
		}
		return 0;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	const char *name = slash ? slash + 1 : path;
	if (slash == dir)
		dir[1] = 0;
	else if (slash)
		*slash = 0;
	else
		snprintf(dir, sizeof(dir), ".");
	k->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (k->dirfd < 0) {
		snprintf(why, why_len, "%s: %s", dir, strerror(errno));
		return -1;
	}
	/* root writing into a user's recording hands the file to its owner */
	struct stat db;
	struct out_owner ow = { 0 };
	if (geteuid() == 0 && fstat(k->dirfd, &db) == 0 && db.st_uid != 0)
		ow = (struct out_owner){ 1, db.st_uid, db.st_gid };
	int err = outfile_begin(&k->of, k->dirfd, name, &ow);
	if (err) {
		snprintf(why, why_len, "%s: %s", path, strerror(-err));
		close(k->dirfd);
		return -1;
	}
	k->f = k->of.f;
	return 0;
}

/* Finish: 0, or -errno (the file is then not there under its name). */
static int sink_close(struct sink *k, int failed)
{
	int err = 0;
	if (k->in_place) {
		if (fflush(k->f) || ferror(k->f))
			err = errno ? -errno : -EIO;
		if (k->f != stdout && fclose(k->f) && !err)
			err = -errno;
	} else {
		err = outfile_commit(&k->of, failed);
		close(k->dirfd);
	}
	return err ? err : failed ? -EIO : 0;
}

/*
 * --stats: where the time of the whole command went. Each phase is timed
 * from the clock of the one before, from the start of `vmaprof report` to
 * the analysis freed, so the phases add up to the total; symbolization is
 * lazy (stacks are symbolized as the report is written) and is given as its
 * share of the phase it happened in.
 */
struct report_clock {
	uint64_t start;    /* cmd_report entered */
	uint64_t analysed; /* analysis__run returned */
	uint64_t written;  /* the report (or summary) is written and closed */
	uint64_t freed;    /* analysis__free returned */
	uint64_t sym_ns_analysed; /* symbolizer time at `analysed` */
	long long bytes;   /* output size, -1 when not a regular file */
	int kept;          /* the analysis is not freed: the process exits */
	struct analyze_stats st;        /* taken before the analysis is freed */
	struct vp_symbolizer_stats sy;
};

static uint64_t cmd_start_ns; /* set by cmd_report; 0 when record writes */

static long long out_bytes(FILE *f)
{
	struct stat sb;
	if (fflush(f) || fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode))
		return -1;
	return (long long)sb.st_size;
}

/* Take the analysis's counters (before it is freed). */
static void stats_take(struct analysis *a, struct report_clock *c)
{
	analysis__stats(a, &c->st);
	analysis__symbolizer_stats(a, &c->sy);
}

static void print_stats(const struct report_clock *c, const char *what)
{
	const struct analyze_stats st = c->st;
	const struct vp_symbolizer_stats sy = c->sy;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double total = (double)(c->freed - c->start) / 1e9;
	double an = (double)(c->analysed - c->start) / 1e9;
	double wr = (double)(c->written - c->analysed) / 1e9;
	double fr = (double)(c->freed - c->written) / 1e9;
	double sym_an = (double)c->sym_ns_analysed / 1e9;
	double sym_wr = (double)(sy.resolve_ns - c->sym_ns_analysed) / 1e9;
	uint64_t misses = sy.lookups - sy.cache_hits;
	fprintf(stderr, "vmaprof: report of %llu records (%llu faults) in %.3f s (the whole "
		"command), user %.3f s, sys %.3f s, peak RSS %llu MiB\n",
		(unsigned long long)st.records, (unsigned long long)st.faults, total,
		(double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
		(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
		(unsigned long long)ru.ru_maxrss / 1024);
	fprintf(stderr, "vmaprof:   read + analyse  %7.3f s  (%.2f M records/s; "
		"of which symbolizing %.3f s)\n", an, an > 0 ? (double)st.records / an / 1e6 : 0.0,
		sym_an);
	fprintf(stderr, "vmaprof:   write %-9s %7.3f s  (", what, wr);
	if (c->bytes >= 0)
		fprintf(stderr, "%lld bytes; ", c->bytes);
	fprintf(stderr, "of which symbolizing %.3f s", sym_wr);
	if (st.write_threads > 1)
		fprintf(stderr, "; the processes on %d threads", st.write_threads);
	fprintf(stderr, ")\n");
	fprintf(stderr, "vmaprof:   free            %7.3f s%s\n", fr,
		c->kept ? "  (left to the exit)" : "");
	fprintf(stderr, "vmaprof:   symbolizer: %.3f s, %llu lookups, %llu answered by the "
		"(space, ip) cache, %llu resolved: %llu by the per-file cache, %llu new file "
		"addresses; %llu files, %llu opened, %llu not usable\n",
		(double)sy.resolve_ns / 1e9, (unsigned long long)sy.lookups,
		(unsigned long long)sy.cache_hits, (unsigned long long)misses,
		(unsigned long long)sy.file_cache_hits,
		(unsigned long long)sy.file_cache_entries, (unsigned long long)sy.files,
		(unsigned long long)sy.files_opened, (unsigned long long)sy.files_failed);
	fprintf(stderr, "vmaprof:   symbolizer's time: opening files %.3f s, indexing %llu symbol "
		"tables (%llu symbols) %.3f s, %llu names from them, %llu from libdwfl; "
		"file:line of %llu addresses %.3f s\n", (double)sy.open_ns / 1e9,
		(unsigned long long)sy.indexed_files, (unsigned long long)sy.indexed_symbols,
		(double)sy.index_ns / 1e9, (unsigned long long)sy.index_lookups,
		(unsigned long long)(sy.file_cache_entries - sy.index_lookups),
		(unsigned long long)sy.lines_resolved, (double)sy.lines_ns / 1e9);
	fprintf(stderr, "vmaprof:   on the other core: %llu files opened, indexed and their "
		"DWARF read ahead in %.3f s; lookups waited for it %.3f s (for names %.3f s)\n",
		(unsigned long long)sy.prewarm_files, (double)sy.prewarm_ns / 1e9,
		(double)sy.prewarm_wait_ns / 1e9, (double)sy.name_wait_ns / 1e9);
	if (sy.prefetch_used || sy.prefetch_stale)
		fprintf(stderr, "vmaprof:   of which during the recording: %llu files used, %llu "
			"opened again (changed since)\n", (unsigned long long)sy.prefetch_used,
			(unsigned long long)sy.prefetch_stale);
}

int vp_report_opts_add_plumbing(struct vp_report_opts *o, const char *spec)
{
	/* checked now, so that record refuses a bad rule before running anything */
	struct label_rules *r;
	const char *why = NULL;
	int err = label_rules__new(&r);
	if (!err)
		err = label_rules__add(r, spec, &why);
	label_rules__free(r);
	if (err) {
		fprintf(stderr, "vmaprof: --plumbing '%s': %s\n", spec, why ? why : strerror(-err));
		return err;
	}
	const char **p = realloc(o->plumbing, (o->nplumbing + 1) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	p[o->nplumbing++] = spec;
	o->plumbing = p;
	return 0;
}

/* The analysis is left to the exit (cli.h, `exiting`). */
static int left_to_exit(const struct vp_report_opts *o)
{
	return o->exiting && !getenv("VMAPROF_FREE_AT_EXIT");
}

static int vp_analyze(const char *dir, const struct vp_report_opts *o, struct analysis **out)
{
	char why[4400];
	struct analysis *a = NULL;
	if (left_to_exit(o)) {
		/* nothing is given back to the kernel before the exit: glibc
		 * trimmed the heap's top after frees and unmapped blocks over
		 * its threshold (up to 32 MiB: the analysis's growing arrays
		 * and tables), and each was faulted in again, zeroed, when the
		 * heap grew back: at 100 M faults 2,000 more page faults (huge
		 * ones), 0.6 s of sys time */
		mallopt(M_TRIM_THRESHOLD, 1 << 30);
		mallopt(M_MMAP_THRESHOLD, 32 << 20);
	}
	if (analysis__run(dir, &a, why, sizeof(why))) {
		fprintf(stderr, "vmaprof: %s\n", why);
		return 2;
	}
	struct analysis_view v = { .every_vma = o->every_vma, .plumbing = o->plumbing,
				   .nplumbing = o->nplumbing };
	if (analysis__view(a, &v, why, sizeof(why))) {
		fprintf(stderr, "vmaprof: %s\n", why);
		analysis__free(a);
		return 2;
	}
	*out = a;
	return 0;
}

/* The clock after the analysis (and its shaping into sites). */
static void clock_analysed(struct analysis *a, struct report_clock *c, int stats)
{
	c->analysed = vp_mono_ns();
	if (stats) {
		struct vp_symbolizer_stats sy;
		analysis__symbolizer_stats(a, &sy);
		c->sym_ns_analysed = sy.resolve_ns;
	}
}

/*
 * The analysis of `vmaprof report`, kept to the end of the process: at 10,000
 * processes freeing it (a million blocks) took 0.2-0.5 s of a command that
 * ends right after. Kept here, it is still reachable at exit (a leak
 * checker's "still reachable", not "lost"); VMAPROF_FREE_AT_EXIT=1 frees it
 * as before, for a valgrind or ASan run that checks analysis__free.
 */
static struct analysis *volatile kept_for_exit;

/* The output is written: free the analysis (unless the process ends now:
 * `exiting`) and, with --stats, say where the time went (`what` was
 * written). */
static void clock_done(struct analysis *a, struct report_clock *c, int stats, int exiting,
		       const char *what)
{
	c->written = vp_mono_ns();
	if (stats)
		stats_take(a, c);
	c->kept = exiting;
	if (exiting)
		kept_for_exit = a;
	else
		analysis__free(a);
	c->freed = vp_mono_ns();
	if (stats)
		print_stats(c, what);
}

/* Write a in format fmt to the file `path` (named: given with -o; bytes:
 * its size, with --stats). 0, or 2 after saying why; the reader of stdout
 * going away ("-" into `| head`) is not an error. */
static int write_file(struct analysis *a, enum output_format fmt, const char *path, int named,
		      size_t json_flags, long long *bytes)
{
	char why[4400];
	struct sink k;
	if (sink_open(&k, path, named, why, sizeof(why))) {
		fprintf(stderr, "vmaprof: cannot write %s\n", why);
		return 2;
	}
	static char buf[1 << 20];
	setvbuf(k.f, buf, _IOFBF, sizeof(buf));
	int err = output__write(a, fmt, k.f, json_flags);
	if (bytes && !err)
		*bytes = out_bytes(k.f);
	int cerr = sink_close(&k, err != 0);
	if (!err)
		err = cerr;
	if (!err || (err == -EPIPE && !strcmp(path, "-")))
		return 0;
	fprintf(stderr, "vmaprof: cannot write %s: %s\n", path, strerror(-err));
	return 2;
}

/* Write DIR's report.json (to `out_path`, or DIR/report.json), with
 * record --html the page too, and, when `summary` is not NULL, the human
 * summary: all from one analysis. 0, or an exit code. */
int vp_write_report(const char *dir, const char *out_path, FILE *summary,
		    const struct vp_report_opts *o)
{
	char def[4200];
	struct analysis *a = NULL;
	struct report_clock clk = { .start = cmd_start_ns ? cmd_start_ns : vp_mono_ns(),
				    .bytes = -1 };
	if (vp_analyze(dir, o, &a))
		return 2;
	clock_analysed(a, &clk, o->stats);
	int named = out_path != NULL;
	if (!out_path) {
		snprintf(def, sizeof(def), "%s/report.json", dir);
		out_path = def;
	}
	struct analyze_stats st;
	analysis__stats(a, &st);
	/* indentation triples the size of a big report: keep those compact */
	size_t flags = (st.records > 200000 ? JSON_COMPACT : JSON_INDENT(1)) | JSON_ENSURE_ASCII;
	int rc = write_file(a, OUT_JSON, out_path, named, flags, o->stats ? &clk.bytes : NULL);
	if (o->html && !rc) {
		char hp[4300];
		snprintf(hp, sizeof(hp), "%s/report.html", dir);
		rc = write_file(a, OUT_HTML, hp, 0, 0, NULL);
	}
	if (summary) {
		int serr = output__write(a, OUT_TEXT, summary, 0);
		if (serr)
			fprintf(stderr, "vmaprof: cannot write the summary: %s\n", strerror(-serr));
		if (!rc && strcmp(out_path, "-"))
			fprintf(summary, "report: %s\n", out_path);
	}
	clock_done(a, &clk, o->stats, left_to_exit(o), "report");
	return rc;
}

/* Analyse DIR and write format fmt (not json) to out. 0, or 2 after
 * saying why; a failed write is left for the close of out to say. */
static int write_format(const char *dir, enum output_format fmt, const char *name, FILE *out,
			const struct vp_report_opts *ro)
{
	struct analysis *a = NULL;
	struct report_clock clk = { .start = cmd_start_ns, .bytes = -1 };
	if (vp_analyze(dir, ro, &a))
		return 2;
	clock_analysed(a, &clk, ro->stats);
	int rc = 0, err = output__write(a, fmt, out, 0);
	if (err && !ferror(out)) {
		fprintf(stderr, "vmaprof report: %s\n", strerror(-err));
		rc = 2;
	}
	if (ro->stats)
		clk.bytes = out_bytes(out);
	clock_done(a, &clk, ro->stats, left_to_exit(ro), name);
	return rc;
}

const char vp_report_usage[] =
	"usage: vmaprof report DIR [-o|--output FILE] [--format FMT] [--stats]\n"
	"                      [--every-vma] [--plumbing RULE]... [--no-stacks]\n"
	"  --format json     report.json (default: DIR/report.json; -o - for stdout)\n"
	"  --format text     the human summary\n"
	"  --format html     one self-contained page: fork tree, address-space timelines,\n"
	"                    a flame graph of faults by call stack, the call sites\n"
	"  --format pprof    gzipped profile.proto (go tool pprof, Pyroscope, Parca, ...)\n"
	"  --format perfetto Chrome JSON trace (ui.perfetto.dev, chrome://tracing)\n"
	"  --format folded   folded stacks (flamegraph.pl, inferno, speedscope)\n"
	"  --format folded-writes  folded stacks of the writes that copied pages\n"
	"                    (write stacks; docs/report.md \"Write sites\")\n"
	"  --format records  every recorded record, one per line (for debugging)\n"
	"  --stats           on stderr: the whole command's time, split into reading and\n"
	"                    analysing, writing, freeing, the symbolizer's share and its\n"
	"                    cache counts; peak memory (json and text formats)\n"
	"  --every-vma       one entry per mapping: do not fold repeated mappings of a site\n"
	"  --plumbing RULE   also skip frames matching RULE when naming a call site:\n"
	"                    GLOB or function:GLOB (a function), module:GLOB (a file's\n"
	"                    base name); see docs/labels.md\n"
	"  --no-stacks       records: without the symbolized stacks\n";

/* What `vmaprof report` was asked. */
struct report_args {
	const char *dir, *out, *fmt;
	int stacks;                /* records: with the symbolized stacks */
	struct vp_report_opts ro;
};

/* argv into r: -1 to go on, else the exit code. */
static int report_args(int argc, char **argv, struct report_args *r)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "no-stacks", no_argument, NULL, 'S' },
		{ "stats", no_argument, NULL, 's' },
		{ "every-vma", no_argument, NULL, 'V' },
		{ "plumbing", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': r->out = optarg; break;
		case 'f': r->fmt = optarg; break;
		case 'S': r->stacks = 0; break;
		case 's': r->ro.stats = 1; break;
		case 'V': r->ro.every_vma = 1; break;
		case 'L':
			if (vp_report_opts_add_plumbing(&r->ro, optarg))
				return 2;
			break;
		case 'h': fputs(vp_report_usage, stdout); return 0;
		default: fputs(vp_report_usage, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(vp_report_usage, stderr);
		return 2;
	}
	r->dir = argv[optind];
	return -1;
}

/* Whether dir holds a recording; if not, say why. */
static int report_dir_ok(const char *dir)
{
	if (vp_dir_has_traces(dir))
		return 1;
	struct stat sb;
	if (stat(dir, &sb))
		fprintf(stderr, "vmaprof report: %s: %s\n", dir, strerror(errno));
	else if (!S_ISDIR(sb.st_mode))
		fprintf(stderr, "vmaprof report: %s is not a directory: give the recording's "
			"directory (the one `vmaprof record -o` wrote)\n", dir);
	else
		fprintf(stderr, "vmaprof report: %s holds no vmaprof recording\n", dir);
	return 0;
}

/*
 * A large recording is analysed with glibc's heap in transparent huge pages
 * (the tunable glibc.malloc.hugetlb=1, which glibc reads only at start: so
 * the command runs itself again with it). The analysis's half a GiB of
 * tables is first touched a page at a time: at 10,000 processes and 100 M
 * faults, 140,000 page faults (8 us each in this VM: 14% of the command)
 * and the TLB misses of 4 KiB pages; with 2 MiB pages 4,000 faults and
 * 20-30% less CPU time (bench/NOTES.md, issue 22 scale3). Only when the
 * kernel gives huge pages on request (enabled = madvise; with "always" the
 * heap has them anyway), only for a recording whose bpf.vpt is large (a
 * small report does not pay the exec), and never twice: the tunable in the
 * environment is the mark. An exec that fails changes nothing.
 */
#define THP_MIN_TRACE_BYTES (256ll << 20)

static int thp_wanted(const char *dir)
{
	const char *t = getenv("GLIBC_TUNABLES");
	if (t && strstr(t, "glibc.malloc.hugetlb"))
		return 0;
	char p[4200], mode[128];
	struct stat sb;
	snprintf(p, sizeof(p), "%s/bpf.vpt", dir);
	if (stat(p, &sb) || sb.st_size < THP_MIN_TRACE_BYTES)
		return 0;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	if (!f)
		return 0;
	int ok = fgets(mode, sizeof(mode), f) && strstr(mode, "[madvise]");
	fclose(f);
	return ok;
}

static void thp_reexec(int argc, char **argv, const char *dir)
{
	if (!thp_wanted(dir))
		return;
	const char *t = getenv("GLIBC_TUNABLES");
	char tun[4096];
	int n = snprintf(tun, sizeof(tun), "%s%sglibc.malloc.hugetlb=1", t ? t : "",
			 t && *t ? ":" : "");
	if (n < 0 || (size_t)n >= sizeof(tun))
		return;
	char **av = calloc((size_t)argc + 2, sizeof(*av));
	if (!av)
		return;
	av[0] = "vmaprof";
	for (int i = 0; i < argc; i++)
		av[i + 1] = argv[i];
	/* the path, not /proc/self/exe itself: under valgrind that is the
	 * tool, and readlink gives the program valgrind runs */
	char self[4096];
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *old = t ? strdup(t) : NULL;
	if (sl > 0 && (!t || old) && !setenv("GLIBC_TUNABLES", tun, 1)) {
		self[sl] = 0;
		execv(self, av);
		/* not run again: on as we are, the environment as it was */
		if (old)
			setenv("GLIBC_TUNABLES", old, 1);
		else
			unsetenv("GLIBC_TUNABLES");
	}
	free(old);
	free(av);
}

int cmd_report(int argc, char **argv)
{
	struct report_args r = { .fmt = "json", .stacks = 1 };
	cmd_start_ns = vp_mono_ns();
	int rc = report_args(argc, argv, &r);
	if (rc >= 0)
		return rc;
	if (!report_dir_ok(r.dir))
		return 2;
	r.ro.exiting = 1; /* the process ends after the report (cli.h) */
	if (strcmp(r.fmt, "records"))
		thp_reexec(argc, argv, r.dir);
	if (!strcmp(r.fmt, "json"))
		return vp_write_report(r.dir, r.out, NULL, &r.ro);
	char why[4400];
	struct sink k;
	if (sink_open(&k, r.out ? r.out : "-", 1, why, sizeof(why))) {
		fprintf(stderr, "vmaprof report: %s\n", why);
		return 2;
	}
	int fmt = output__format(r.fmt);
	rc = 0;
	if (fmt == OUT_RECORDS) {
		int err = output__records(r.dir, k.f, r.stacks);
		if (err) {
			fprintf(stderr, "vmaprof report: %s: %s\n", r.dir, strerror(-err));
			rc = 2;
		}
	} else if (fmt >= 0) {
		rc = write_format(r.dir, fmt, r.fmt, k.f, &r.ro);
	} else {
		fprintf(stderr, "vmaprof report: unknown format '%s'\n%s", r.fmt, vp_report_usage);
		rc = 2;
	}
	/* a full disk or a closed pipe is an error, not a silent 0 */
	int cerr = sink_close(&k, rc != 0);
	if (cerr == -EPIPE && !r.out)
		cerr = 0; /* the reader of stdout closed it (`| head`): not an error */
	if (cerr && !rc) {
		fprintf(stderr, "vmaprof report: cannot write %s: %s\n", r.out ? r.out : "stdout",
			strerror(-cerr));
		rc = 2;
	}
	return rc;
}
