/* SPDX-License-Identifier: MIT */
/*
 * Offline symbolizer: instruction pointers recorded in a trace -> function,
 * module, source file and line, long after the traced process is gone.
 *
 * Input per address space is one or more snapshots of /proc/PID/maps text.
 * The ELF files named there are read from this machine's file system (plus
 * separate debug info found on this machine by build-id or .gnu_debuglink,
 * via libdwfl; debuginfod servers only with VMAPROF_DEBUGINFOD=1, see
 * docs/report.md), and
 * each file is opened at most once per symbolizer however many address spaces
 * map it, because ips are translated to file-relative addresses first.
 *
 * Promises:
 *  - Never aborts on bad input (garbage maps text, missing, replaced, special
 *    or truncated files, any ip value): functions return -errno instead.
 *  - Every string handed out is owned by the symbolizer, immutable, and lives
 *    until symbolizer__free(); equal strings are the same pointer.
 *  - Memory grows with distinct (space, ip, return_addr) lookups, distinct
 *    strings and distinct files only; a repeated lookup is one hash probe.
 *  - Each distinct (file, address in the file) is resolved through libdwfl
 *    once per symbolizer, whichever spaces and ips lead to it.
 *  - Not thread-safe: one symbolizer per thread, or external locking.
 */
#ifndef VMAPROF_SYMBOLIZE_H
#define VMAPROF_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h" /* struct vp_frame */

/* Counters for reporting; they only ever grow. */
struct vp_symbolizer_stats {
	uint64_t lookups;      /* symbolizer__lookup calls */
	uint64_t cache_hits;   /* answered from the (space, ip) cache */
	uint64_t cache_entries;
	uint64_t files;        /* distinct (path, inode) seen in maps */
	uint64_t files_opened; /* of those, opened as ELF successfully */
	uint64_t files_failed; /* missing, deleted, replaced (inode differs),
				* not regular, or not a usable ELF */
	uint64_t bad_lines;    /* maps lines that could not be parsed (skipped) */
	/* Below the (space, ip) cache: answers per (file, link-time address),
	 * shared by every space that maps the file. Entries are the addresses
	 * libdwfl was asked about; hits, the misses above it answered without. */
	uint64_t file_cache_hits;
	uint64_t file_cache_entries;
	uint64_t resolve_ns;   /* wall time spent answering (space, ip) cache
				* misses: opening files, libdwfl, the file cache */
	uint64_t index_lookups;  /* file addresses named by a symbol index
				  * (symindex.h) rather than libdwfl's scan */
	uint64_t indexed_files;  /* files whose symbol table was indexed */
	uint64_t indexed_symbols;
	uint64_t index_ns;       /* building those indexes (in resolve_ns) */
	uint64_t lines_ns;       /* looking up file:line (in resolve_ns; the
				  * first of a file reads its DWARF) */
	uint64_t open_ns;        /* opening files (in resolve_ns) */
	/* The worker thread that reads opened files' DWARF ahead of need:
	 * files done and its time (on the other core, not in resolve_ns),
	 * and how long lookups waited for it (in resolve_ns). */
	uint64_t prewarm_files;
	uint64_t prewarm_queued; /* files handed to it: it is idle when
				  * prewarm_files has caught up */
	uint64_t prewarm_ns;
	uint64_t prewarm_wait_ns;
	uint64_t name_wait_ns; /* of prewarm_wait_ns: for a name (the file's
				* open and index), not for file:line */
	/* Files the worker opened during a recording (symbolizer__prefetch
	 * _maps) that the analysis used, and that it opened again because
	 * they had changed since. */
	uint64_t prefetch_used;
	uint64_t prefetch_stale;
	uint64_t lines_resolved; /* file addresses whose file:line was looked up
				  * (symbolizer__lookup_fn leaves it out: a file's
				  * DWARF is read only when a line is wanted) */
};

/* The name of a frame without a symbol, the same in every run:
 * "libfoo.so.1+0x1a2b" (file base name, offset in the file), "0x<ip>"
 * without a module. Returns buf. */
const char *vp_frame_anon(const struct vp_frame *f, char *buf, size_t n);

struct symbolizer;

/* *out = a new, empty symbolizer. 0 or -ENOMEM / -EINVAL. */
int symbolizer__new(struct symbolizer **out);

/* Open the file another way for the module maps lines name (path, ino):
 * open_path (a deleted file or one in another mount namespace, reached
 * through /proc/PID/map_files of the live process: kunwind.c); frames
 * still name path. Only before the module is first opened. */
int symbolizer__open_as(struct symbolizer *s, const char *path, uint64_t ino,
			const char *open_path);

/*
 * Add a maps snapshot (text of len bytes, need not be NUL-terminated) to
 * address space `space`, any caller-chosen key (e.g. pid + exec generation).
 * Snapshots of one space accumulate: a file mapping of a later snapshot
 * replaces whatever earlier file mapping overlapped its range (the later one
 * is the newer truth), earlier mappings elsewhere stay (so stacks recorded
 * before a dlclose still resolve). Anonymous and pseudo mappings other than
 * [vdso] carry no symbols and are ignored. Malformed lines are skipped and
 * counted. Returns 0, -EINVAL if no line parsed (nothing changed), -ENOMEM.
 */
int symbolizer__add_maps(struct symbolizer *s, uint64_t space, const char *maps_text,
			 size_t len);

/*
 * Symbolize `ip` of `space`; `return_addr` is true for frames > 0 (the lookup
 * then uses ip - 1 so the call site, not the next statement, is found; the
 * cache keys on it too). Fills *out (out->ip = ip). Returns 0 when a mapping
 * covers ip (function/file may still be NULL), -ENOENT when none does or the
 * space is unknown (out has ip, the rest NULL/0), -EINVAL on NULL arguments,
 * -ENOMEM.
 */
int symbolizer__lookup(struct symbolizer *s, uint64_t space, uint64_t ip, bool return_addr,
		       struct vp_frame *out);
/* The same without file and line (out->file NULL, out->line 0): the
 * function and module only, which never makes libdw read the file's DWARF
 * (a distribution's compressed debug file: libc's costs ~60 ms to inflate).
 * A later symbolizer__lookup of the same ip adds the line. */
int symbolizer__lookup_fn(struct symbolizer *s, uint64_t space, uint64_t ip, bool return_addr,
			  struct vp_frame *out);

/* Copy of the counters. s may be NULL (all zero). */
void symbolizer__stats(const struct symbolizer *s, struct vp_symbolizer_stats *out);

/*
 * Prefetch while a recording runs (cmd_record): a symbolizer whose worker
 * thread opens, indexes and reads the DWARF of the files that maps text
 * names executable, at SCHED_IDLE (only the time the traced programs
 * leave), so that the report afterwards, in the same process, finds them
 * ready. A file is identified as add_maps identifies it (path and inode
 * of the maps line); one opened by a prefetch is used only if, when the
 * analysis first needs it, the file and every place its separate debug
 * file is looked for are as they were (device, inode, size, mtime,
 * ctime, or absent): otherwise it is opened again. So the answers are
 * those of a symbolizer that never prefetched.
 *
 * symbolizer__prefetch_new: -EOPNOTSUPP with VMAPROF_DEBUGINFOD=1 (a
 * server's answer may change meanwhile), -ENOMEM.
 * symbolizer__prefetch_maps: not thread-safe against other calls on s
 * (one feeding thread); 0 or -ENOMEM.
 * symbolizer__donate: the next symbolizer__new of this process returns s
 * (its files, none of its spaces: nothing is added by a prefetch but
 * opened files) instead of a new one; returns the symbolizer donated
 * before and not taken (NULL if none), for the caller to free. The
 * donated symbolizer's worker is back at normal priority when taken.
 */
int symbolizer__prefetch_new(struct symbolizer **out);
int symbolizer__prefetch_maps(struct symbolizer *s, const char *maps_text, size_t len);
struct symbolizer *symbolizer__donate(struct symbolizer *s);

/*
 * For tests only: fn(path, arg) is called by every symbolizer's worker
 * thread just before it reads a file's DWARF, holding that file's lock
 * (a test pauses it there to show that name lookups do not wait for it).
 * NULL: none (the default).
 */
void symbolizer__test_dwarf_hook(void (*fn)(const char *path, void *arg), void *arg);

/* Frees everything, including every string handed out. Accepts NULL. */
void symbolizer__free(struct symbolizer *s);

#endif /* VMAPROF_SYMBOLIZE_H */
