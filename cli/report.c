/* SPDX-License-Identifier: MIT */
/* vmaprof report / diff and the summary `record` prints. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyze.h"
#include "cli.h"
#include "diff.h"
#include "dump.h"
#include "reader.h"
#include "tracedir.h"

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

/* DIR/report.json: 0600 like every file of a trace directory (a recording
 * made as root must stay as private as the traced programs' data), and,
 * when root writes it, owned by whoever owns the directory (the sudo user
 * `record` handed it to). */
static FILE *open_dir_report(const char *dir, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	struct stat sb;
	if (fchmod(fd, 0600) < 0 ||
	    (geteuid() == 0 && stat(dir, &sb) == 0 && fchown(fd, sb.st_uid, sb.st_gid) < 0)) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	FILE *f = fdopen(fd, "w");
	if (!f)
		close(fd);
	return f;
}

/* Write DIR's report.json (to `out_path`, or DIR/report.json) and, when
 * `summary` is not NULL, the human summary. 0, or an exit code. */
int vp_write_report(const char *dir, const char *out_path, FILE *summary, int stats)
{
	char why[512], def[4200];
	struct analysis *a = NULL;
	if (analysis__run(dir, &a, why, sizeof(why))) {
		fprintf(stderr, "vmaprof: %s\n", why);
		return 2;
	}
	int in_dir = !out_path;
	if (!out_path) {
		snprintf(def, sizeof(def), "%s/report.json", dir);
		out_path = def;
	}
	int rc = 0;
	struct analyze_stats st;
	analysis__stats(a, &st);
	/* indentation triples the size of a big report: keep those compact */
	size_t flags = (st.records > 200000 ? JSON_COMPACT : JSON_INDENT(1)) | JSON_ENSURE_ASCII;
	int to_stdout = !strcmp(out_path, "-");
	FILE *f = to_stdout ? stdout : in_dir ? open_dir_report(dir, out_path) : fopen(out_path, "w");
	if (!f) {
		fprintf(stderr, "vmaprof: cannot write %s: %s\n", out_path, strerror(errno));
		rc = 2;
	} else {
		static char buf[1 << 20];
		setvbuf(f, buf, _IOFBF, sizeof(buf));
		int werr = analysis__write_report(a, f, flags);
		int e = errno;
		if (to_stdout ? fflush(f) : fclose(f)) {
			werr = -1;
			e = errno;
		}
		if (werr) {
			fprintf(stderr, "vmaprof: cannot write %s: %s\n", out_path, strerror(e));
			rc = 2;
		}
	}
	if (summary) {
		analysis__summary(a, summary);
		if (!rc && strcmp(out_path, "-"))
			fprintf(summary, "report: %s\n", out_path);
	}
	if (stats)
		fprintf(stderr, "vmaprof: analysed %llu records (%llu faults) in %.3f s: %.2f M "
			"records/s, peak RSS %llu MiB\n", (unsigned long long)st.records,
			(unsigned long long)st.faults, st.seconds,
			st.seconds > 0 ? (double)st.records / st.seconds / 1e6 : 0.0,
			(unsigned long long)st.peak_rss_kb / 1024);
	analysis__free(a);
	return rc;
}

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "no-stacks", no_argument, NULL, 'S' },
		{ "stats", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	static const char usage[] =
		"usage: vmaprof report DIR [-o FILE] [--format json|text|records]\n"
		"  json     report.json (default: DIR/report.json; -o - for stdout)\n"
		"  text     the human summary\n"
		"  records  every recorded record, one per line (for debugging)\n"
		"  --stats  print the analyzer's throughput and peak memory\n";
	const char *outp = NULL, *fmt = "json";
	struct dump_opts dopts = { .stacks = 1 };
	int c, stats = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': outp = optarg; break;
		case 'f': fmt = optarg; break;
		case 'S': dopts.stacks = 0; break;
		case 's': stats = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		fputs(usage, stderr);
		return 2;
	}
	const char *dir = argv[optind];
	if (!vp_dir_has_traces(dir)) {
		fprintf(stderr, "vmaprof report: %s holds no vmaprof recording\n", dir);
		return 2;
	}
	if (!strcmp(fmt, "json"))
		return vp_write_report(dir, outp, NULL, stats);
	FILE *out = stdout;
	if (outp && strcmp(outp, "-") && !(out = fopen(outp, "w"))) {
		fprintf(stderr, "vmaprof report: %s: %s\n", outp, strerror(errno));
		return 2;
	}
	int rc = 0;
	if (!strcmp(fmt, "text")) {
		char why[512];
		struct analysis *a = NULL;
		if (analysis__run(dir, &a, why, sizeof(why))) {
			fprintf(stderr, "vmaprof report: %s\n", why);
			rc = 2;
		} else {
			analysis__summary(a, out);
			analysis__free(a);
		}
	} else if (!strcmp(fmt, "records")) {
		int err = dump__dir(dir, out, &dopts);
		if (err) {
			fprintf(stderr, "vmaprof report: %s: %s\n", dir, strerror(-err));
			rc = 2;
		}
	} else {
		fprintf(stderr, "vmaprof report: unknown format '%s'\n%s", fmt, usage);
		rc = 2;
	}
	if (out != stdout && fclose(out)) {
		fprintf(stderr, "vmaprof report: %s: %s\n", outp, strerror(errno));
		rc = 2;
	}
	return rc;
}

int cmd_diff(int argc, char **argv)
{
	return diff__main(argc, argv);
}
