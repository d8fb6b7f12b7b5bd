/* SPDX-License-Identifier: MIT */
/*
 * vmaprof diff: its command line and usage. The options become a struct
 * diff_opts; analyzer/diff/ (diff.h) reads the two reports, compares them
 * and prints the result.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "diff.h"

/* Room for one message on stderr (analyzer/diff/ cuts its own there too). */
#define WHY_MAX 768

void vp_diff_usage(FILE *f)
{
	char classes[160], others[160];
	diff__metric_list(classes, sizeof(classes), DIFF_METRICS_CLASSES);
	diff__metric_list(others, sizeof(others), DIFF_METRICS_FIGURES);
	fprintf(f,
		"usage: vmaprof diff BASE.json NEW.json [--max-increase METRIC=PCT]... [--min-pages N]\n"
		"                    [--min-change PCT] [--format text|json|markdown]\n"
		"  METRIC   %s\n"
		"           %s\n"
		"  BASE, NEW  report.json files, or recording directories (their report.json)\n"
		"  PCT      allowed increase over BASE, like 10%% (bound: new <= base * (1 + PCT/100));\n"
		"           where BASE is 0 any increase exceeds\n"
		"  write_site  the copies (cow_copy) of each write site within each role, as\n"
		"           the reports' write stacks estimate them: a change within the sampling's\n"
		"           error is not checked; a cow_copy bound exceeded names the write sites\n"
		"           that grew most (\"written by:\")\n"
		"  --min-pages N  a change smaller than N pages is noise: not shown, and a\n"
		"           process's is not checked (default %d; faults count as pages,\n"
		"           vma_count counts mappings); the whole-report totals are always checked\n"
		"  --min-change PCT  a change smaller than PCT of its base is not shown either\n"
		"           (default %g%%); bounds are checked whatever it is\n"
		"  --format text (default) | json (for scripts) | markdown (for a CI comment)\n"
		"exit: 0 every bound holds, 1 a bound is exceeded, 2 bad input\n",
		classes, others, DIFF_MIN_PAGES, DIFF_MIN_CHANGE);
}

static int fail(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(char *why, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, WHY_MAX, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Plain decimal only: "10", "10%", "2.5%"; no signs, exponents, hex, inf. */
static int parse_pct(const char *s, double *out)
{
	size_t digits = 0, dots = 0, i = 0;
	char *end;
	for (; s[i] && s[i] != '%'; i++) {
		if (s[i] == '.')
			dots++;
		else if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else
			return -EINVAL;
	}
	if (!digits || dots > 1 || (s[i] == '%' && s[i + 1]))
		return -EINVAL;
	errno = 0;
	*out = strtod(s, &end);
	if (errno || !isfinite(*out))
		return -EINVAL;
	return 0;
}

static int parse_bound(const char *arg, struct diff_bound *bd, char *why)
{
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	int m = diff__metric_by_name(arg, len);
	if (m < 0) {
		char all[256];
		diff__metric_list(all, sizeof(all), DIFF_METRICS_ALL);
		return fail(why, "--max-increase %s: unknown metric '%.*s' (one of: %s)", arg,
			    (int)len, arg, all);
	}
	if (!eq || parse_pct(eq + 1, &bd->pct))
		return fail(why, "--max-increase %s: expected METRIC=PCT with PCT like 10%% "
			    "or 2.5%%", arg);
	bd->metric = m;
	return 0;
}

static int parse_count(const char *s, uint64_t *out)
{
	char *end;
	if (!*s)
		return -EINVAL;
	for (const char *c = s; *c; c++)
		if (*c < '0' || *c > '9')
			return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno ? -EINVAL : 0;
}

static int parse_format(const char *s, enum diff_format *out, char *why)
{
	if (!strcmp(s, "text"))
		*out = DIFF_TEXT;
	else if (!strcmp(s, "json"))
		*out = DIFF_JSON;
	else if (!strcmp(s, "markdown"))
		*out = DIFF_MARKDOWN;
	else
		return fail(why, "--format %s: unknown format (one of: text json markdown)", s);
	return 0;
}

/* argv -> o (bounds: room for one per argument), the reports at
 * argv[optind] and argv[optind + 1]. 0; 1 when --help was printed;
 * -EINVAL with why said. */
static int diff_args(int argc, char **argv, struct diff_opts *o, struct diff_bound *bounds,
		     char *why)
{
	static const struct option opts[] = {
		{ "max-increase", required_argument, NULL, 'm' },
		{ "min-pages", required_argument, NULL, 'p' },
		{ "min-change", required_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, err;
	optind = 1;
	opterr = 0; /* the message below names the option itself */
	/* leading ':' tells a missing value (':') from an unknown option ('?') */
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if ((err = parse_bound(optarg, &bounds[o->n_bounds], why)))
				return err;
			o->n_bounds++;
			break;
		case 'p':
			if (parse_count(optarg, &o->min_pages))
				return fail(why, "--min-pages %s: expected a number of pages", optarg);
			break;
		case 'c':
			if (parse_pct(optarg, &o->min_change))
				return fail(why, "--min-change %s: expected a percentage like 10%% or "
					    "2.5%%", optarg);
			break;
		case 'f':
			if ((err = parse_format(optarg, &o->format, why)))
				return err;
			break;
		case 'h':
			vp_diff_usage(stdout);
			return 1;
		case ':':
			return fail(why, "option '%s' needs a value (see vmaprof diff --help)",
				    argv[optind - 1] ? argv[optind - 1] : "?");
		default:
			return fail(why, "unknown option '%s' (see vmaprof diff --help)",
				    argv[optind - 1] ? argv[optind - 1] : "?");
		}
	}
	if (argc - optind != 2)
		return fail(why, "expected two reports, BASE.json and NEW.json, got %d argument%s "
			    "(see vmaprof diff --help)", argc - optind, argc - optind == 1 ? "" : "s");
	return 0;
}

/* A report named on the command line: a recording's directory stands for
 * the report.json in it (what `vmaprof record` wrote). 0, or -EINVAL with
 * why set. */
static int report_path(const char *arg, char out[PATH_MAX], char *why)
{
	struct stat st;
	if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(out, PATH_MAX, "%s", arg); /* the loader says what is wrong */
		return 0;
	}
	if (snprintf(out, PATH_MAX, "%s%sreport.json", arg,
		     arg[0] && arg[strlen(arg) - 1] == '/' ? "" : "/") >= PATH_MAX)
		return fail(why, "%s: path too long", arg);
	if (stat(out, &st) < 0)
		return fail(why, "%s is a directory without a report.json (%s): pass a "
			    "recording's directory or its report.json (`vmaprof report DIR` "
			    "writes one)", arg, strerror(errno));
	return 0;
}

/* argv[0] is "diff". The exit status: 0 every bound holds, 1 a bound is
 * exceeded, 2 bad input or usage. */
int cmd_diff(int argc, char **argv)
{
	struct diff_opts o = { .min_pages = DIFF_MIN_PAGES, .min_change = DIFF_MIN_CHANGE,
				.format = DIFF_TEXT };
	struct diff_bound *bounds = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*bounds));
	char why[WHY_MAX] = "";
	int rc = 2, saved_opterr = opterr;
	if (!bounds) {
		fputs("vmaprof diff: out of memory\n", stderr);
		return 2;
	}
	o.bounds = bounds;
	int err = diff_args(argc, argv, &o, bounds, why);
	char base[PATH_MAX], new[PATH_MAX];
	if (err > 0)
		rc = 0;
	else if (!err && !report_path(argv[optind], base, why) &&
		 !report_path(argv[optind + 1], new, why))
		rc = diff__run(&o, base, new, why, sizeof(why));
	if (why[0])
		fprintf(stderr, "vmaprof diff: %s\n", why);
	free(bounds);
	opterr = saved_opterr;
	return rc;
}
