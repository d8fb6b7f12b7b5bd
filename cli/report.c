/* SPDX-License-Identifier: MIT */
/* vmaprof report / diff and the summary `record` prints. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
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

int cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "no-stacks", no_argument, NULL, 'S' },
		{ 0 },
	};
	const char *outp = NULL, *fmt = "text";
	struct dump_opts dopts = { .stacks = 1 };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "o:f:", opts, NULL)) != -1) {
		switch (c) {
		case 'o': outp = optarg; break;
		case 'f': fmt = optarg; break;
		case 'S': dopts.stacks = 0; break;
		default:
			fputs("usage: vmaprof report DIR [-o FILE] [--format json|text]\n", stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fputs("usage: vmaprof report DIR [-o FILE] [--format json|text]\n", stderr);
		return 2;
	}
	const char *dir = argv[optind];
	if (strcmp(fmt, "text") != 0) {
		fprintf(stderr, "vmaprof report: format '%s' is not available yet in this "
			"version; use --format text\n", fmt);
		return 2;
	}
	if (!vp_dir_has_traces(dir)) {
		fprintf(stderr, "vmaprof report: %s holds no vmaprof recording\n", dir);
		return 2;
	}
	FILE *out = stdout;
	if (outp && !(out = fopen(outp, "w"))) {
		fprintf(stderr, "vmaprof report: %s: %s\n", outp, strerror(errno));
		return 2;
	}
	int err = dump__dir(dir, out, &dopts);
	if (out != stdout && fclose(out)) {
		fprintf(stderr, "vmaprof report: %s: %s\n", outp, strerror(errno));
		return 2;
	}
	if (err) {
		fprintf(stderr, "vmaprof report: %s: %s\n", dir, strerror(-err));
		return 2;
	}
	return 0;
}

int cmd_diff(int argc, char **argv)
{
	fputs("vmaprof diff: not available yet in this version (it needs report.json)\n", stderr);
	return 2;
}
