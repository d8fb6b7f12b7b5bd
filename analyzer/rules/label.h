/* SPDX-License-Identifier: MIT */
/*
 * The label of a call stack: the frame a mapping is named after.
 *
 * The innermost frame of a stack that created a mapping is nearly always
 * allocator or runtime plumbing (calloc, zmalloc_usable, operator new, mmap
 * itself), not the code that wanted the memory. The label is the first frame,
 * innermost first, that is not plumbing. What counts as plumbing is a table
 * of fnmatch(3) globs (label.c, documented in docs/labels.md) on the function
 * name or on the basename of the module (mapped file) the frame is in, plus
 * the user's own globs.
 *
 * Demangling (C++ and Rust, legacy and v0) is libiberty's cplus_demangle.
 *
 * Promises: no function aborts or crashes on any input string (garbage,
 * huge, deeply nested mangled names); errors are returned as -errno.
 * Rules are immutable during label__pick, which only reads them: one rule
 * set may be shared by threads once it is built.
 */
#ifndef VMAPROF_LABEL_H
#define VMAPROF_LABEL_H

#include <stddef.h>

#include "frame.h"

/*
 * The demangled name of a C++ (_Z...) or Rust (legacy _ZN...17h<hash>E, v0
 * _R...) symbol, malloc'd (the caller frees it), with parameter types for
 * C++ ("ns::Type::method(int)"), without the hash of a legacy Rust symbol
 * ("std::io::stdio::_print") and without v0 crate disambiguators. GCC clone
 * suffixes stay visible ("f(int) [clone .cold]"). NULL when sym is NULL,
 * not mangled, not valid, or memory ran out: the caller keeps the raw name.
 */
char *label__demangle(const char *sym);

/* Plumbing rules: the built-in table plus the user's additions. */
struct label_rules;

/* *out = the built-in rules. 0, -EINVAL (out NULL) or -ENOMEM. */
int label_rules__new(struct label_rules **out);

/*
 * Add a user rule. spec is
 *   "GLOB"           a function glob, e.g. "ggc_*", "MyPool::*"
 *   "function:GLOB"  the same, said explicitly (for a glob that itself
 *                    begins with "module:" or "function:")
 *   "module:GLOB"    a glob on the module's basename, e.g. "libgc.so*"
 * Function globs are matched against the raw symbol, the raw symbol without
 * a GCC clone suffix (".cold", ".isra.0", ...), and, for mangled symbols,
 * the demangled name with and without the parameter list (so "Pool::get"
 * and "Pool::get(int)" both match the frame "_ZN4Pool3getEi"). Globs are
 * fnmatch(3) with no flags: '*', '?', "[...]", and '\' escapes ("operator
 * new\[\]*").
 * Returns 0; -EINVAL for a bad spec (empty glob, unterminated '[', trailing
 * '\', a control character, a '/' in a module glob, longer than
 * LABEL_SPEC_MAX), with *why (if why is not NULL) set to a static sentence
 * saying what is wrong; -ENOMEM. Nothing is added on error.
 */
#define LABEL_SPEC_MAX 1024
int label_rules__add(struct label_rules *r, const char *spec, const char **why);

/* Frees the rules. Accepts NULL. */
void label_rules__free(struct label_rules *r);

/*
 * Whether frame f is plumbing under rules r: a function rule matches its
 * function (never when function is NULL), or a module rule matches the
 * basename of its module (never when module is NULL). False if r or f is NULL.
 */
int label__is_plumbing(const struct label_rules *r, const struct vp_frame *f);

/*
 * The index of the label frame of frames[0..n), innermost first: the first
 * frame that is not plumbing (an unsymbolized frame outside plumbing modules
 * counts: it is someone's code); when all are plumbing, the outermost frame
 * with a known function, or n - 1 if none has one. -1 if n == 0 or frames
 * or r is NULL.
 */
int label__pick(const struct label_rules *r, const struct vp_frame *frames, size_t n);

/*
 * label__pick with the plumbing test is_plumbing(ctx, frame) in place of
 * label__is_plumbing: a caller that labels many stacks of the same frames
 * passes its own memo of label__is_plumbing (rules stay read-only). -1 if
 * n == 0 or frames or is_plumbing is NULL.
 */
int label__pick_with(const struct vp_frame *frames, size_t n,
		     int (*is_plumbing)(void *ctx, const struct vp_frame *f), void *ctx);

#endif /* VMAPROF_LABEL_H */
