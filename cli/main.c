/* SPDX-License-Identifier: MIT */
/* vmaprof's entry point: argv[1] picks the subcommand (cmd_record.c,
 * cmd_report.c, cmd_diff.c; cli.h), which parses the rest. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "cli.h"
#include "config.h"

/* Every subcommand's own usage, so this lists every option they take. */
static void usage(FILE *f)
{
	fputs("vmaprof " VMAPROF_VERSION " - where a process's memory goes, per mapping\n\n", f);
	fputs(vp_record_usage, f);
	fputs(vp_record_attach_usage, f);
	fputc('\n', f);
	fputs(vp_report_usage, f);
	fputc('\n', f);
	vp_diff_usage(f);
	fputs("\nvmaprof --version | --help\n", f);
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
		return cmd_record(argc - 1, argv + 1); /* SIGPIPE: see cmd_record.c's finish */
	/* Output piped into `head`: a closed pipe ends the output, not the
	 * process (EPIPE is then no error: the reader had what it wanted). */
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(c, "report"))
		return cmd_report(argc - 1, argv + 1);
	if (!strcmp(c, "diff"))
		return cmd_diff(argc - 1, argv + 1);
	fprintf(stderr, "vmaprof: unknown command '%s'\n", c);
	usage(stderr);
	return 2;
}
