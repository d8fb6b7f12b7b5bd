/* SPDX-License-Identifier: MIT */
/*
 * The C tests' one check: CHECK(cond, fmt, ...) prints the failed condition
 * with file, line and a message, and counts it; a test's main returns
 * `failures != 0`.
 */
#ifndef VP_TESTS_CHECK_H
#define VP_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			fprintf(stderr, "FAIL %s:%d: (%s) ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			failures++;                                             \
		}                                                               \
	} while (0)

#endif
