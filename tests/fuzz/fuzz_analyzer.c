/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness over the whole analyzer: any bytes as a trace
 * directory, analysed and written out as report.json, the summary and
 * every export (pprof, perfetto, folded, HTML), in-process (what `vmaprof report DIR` does).
 *
 * Input layout (so that one input can be a whole recording): parts
 * separated by the 8 bytes "\nVPFUZZ\n". Part 0 is preload.100.1.vpt,
 * part 1 bpf.vpt, part 2 session.json, parts 3.. more shim files
 * (preload.<101+i>.<i>.vpt). An input without a separator is one shim
 * trace file. gen_seeds() in run_fuzz.py builds seeds from tests/golden.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analyze.h"
#include "outputs.h"

#define SEP "\nVPFUZZ\n"
#define SEP_LEN 8

static char dir[64];

static void clear_dir(void)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[512];
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
}

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return;
	if (n)
		fwrite(p, 1, n, f);
	fclose(f);
}

static const uint8_t *find_sep(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + SEP_LEN <= n; i++)
		if (p[i] == '\n' && !memcmp(p + i, SEP, SEP_LEN))
			return p + i;
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/vpfuzz-analyzer.XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	clear_dir();
	const uint8_t *p = data, *end = data + size;
	for (int part = 0; part < 16; part++) {
		const uint8_t *s = find_sep(p, (size_t)(end - p));
		size_t n = s ? (size_t)(s - p) : (size_t)(end - p);
		char name[64];
		if (part == 0)
			snprintf(name, sizeof(name), "preload.100.1.vpt");
		else if (part == 1)
			snprintf(name, sizeof(name), "bpf.vpt");
		else if (part == 2)
			snprintf(name, sizeof(name), "session.json");
		else
			snprintf(name, sizeof(name), "preload.%d.%d.vpt", 98 + part, part);
		put(name, p, n);
		if (!s)
			break;
		p = s + SEP_LEN;
	}
	struct analysis *a;
	char why[512];
	if (analysis__run(dir, &a, why, sizeof(why)) == 0) {
		struct analysis_view v = { 0 };
		FILE *out = analysis__view(a, &v, why, sizeof(why)) ? NULL : fopen("/dev/null", "w");
		if (out) {
			for (int fmt = OUT_JSON; fmt <= OUT_FOLDED; fmt++)
				output__write(a, fmt, out, 0);
			fclose(out);
		}
		analysis__free(a);
	}
	return 0;
}
