/* SPDX-License-Identifier: MIT */
/*
 * One symbolized frame: what the symbolizer (core/symbolize.h) gives for an
 * instruction pointer, and what the rules (label.h) and diff read to name a
 * call site. Strings belong to whoever made the frame.
 */
#ifndef VMAPROF_FRAME_H
#define VMAPROF_FRAME_H

#include <stdint.h>

struct vp_frame {
	uint64_t ip;          /* as recorded */
	const char *function; /* NULL if unknown; not demangled */
	uint64_t fn_offset;   /* ip - symbol start, when function != NULL */
	const char *module;   /* path of the mapped file as in the maps text
			       * ("... (deleted)", "[vdso]" kept verbatim), NULL if none */
	uint64_t mod_offset;  /* the ip's offset in that file (module != NULL):
			       * the same in every process and run (no ASLR) */
	const char *file;     /* source file, NULL if no debug info */
	int line;             /* 0 if unknown */
};

#endif
