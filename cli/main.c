/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static void usage(FILE *f)
{
	fputs("vmaprof " VMAPROF_VERSION " - where a process's memory goes, per mapping\n"
	      "\n"
	      "usage:\n"
	      "  vmaprof record [-o DIR] [--no-bpf] [--no-preload] [--stack-depth N] [--no-stacks]\n"
	      "                 [--no-signal-stacks] [--bpf-stats] [--] COMMAND [ARG...]\n"
	      "  vmaprof report DIR [-o FILE] [--format json|text]\n"
	      "  vmaprof diff BASE.json NEW.json [--max-increase METRIC=PCT]... [--min-pages N]\n"
	      "  vmaprof --version | --help\n", f);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *c = argv[1];
	if (!strcmp(c, "--version") || !strcmp(c, "-V")) {
		printf("vmaprof %s\n", VMAPROF_VERSION);
		return 0;
	}
	if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(c, "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(c, "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(c, "diff"))
		return cmd_diff(argc - 1, argv + 1);
	fprintf(stderr, "vmaprof: unknown command '%s'\n", c);
	usage(stderr);
	return 2;
}
