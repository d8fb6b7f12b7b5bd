/* SPDX-License-Identifier: MIT */
/*
 * Small helpers the analyzer shares: its one hash table (u64map, with
 * chains for keys larger than 64 bits), the stack records of one file by
 * id, maps snapshots reassembled from their chunks and their lines parsed,
 * UTF-8 and JSON strings of damaged bytes, and opening a recording's files.
 * Pointers handed out point into the (mapped) trace file or into the
 * accumulator, as documented per function.
 */
#ifndef VP_TRACEUTIL_H
#define VP_TRACEUTIL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmaprof/record.h"

/* A map from nonzero 64-bit keys to pointers (open addressing): the
 * analyzer's one hash table. Keys that are hashes of something larger keep
 * their own collision chain in the value (u64map__chain, below). */
struct u64map {
	uint64_t *key; /* 0 = empty slot */
	void **val;
	size_t cap, n;
};
/* 0 or -ENOMEM; key must not be 0. A later put of a key replaces. */
int u64map__put(struct u64map *m, uint64_t key, void *val);
/* NULL when absent. */
void *u64map__get(const struct u64map *m, uint64_t key);
/* Where key's value lives, the key added with value NULL when absent (one
 * probe for a read-modify-write: counters); valid until the next put or
 * slot. NULL: out of memory (the map is unchanged). */
void **u64map__slot(struct u64map *m, uint64_t key);
/* The slot a key is probed from (Fibonacci hashing: the product's top
 * bits, log2(cap) of them; cap a power of two). */
static inline size_t u64map__home(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> (64 - __builtin_ctzll(cap)));
}
/* Where a present key's value lives, NULL when absent: u64map__get's
 * probe, inline, for a counter's hot path (an absent key goes to
 * u64map__slot). */
static inline void **u64map__find(const struct u64map *m, uint64_t key)
{
	if (!m->cap)
		return NULL;
	for (size_t j = u64map__home(key, m->cap); m->key[j]; j = (j + 1) & (m->cap - 1))
		if (m->key[j] == key)
			return &m->val[j];
	return NULL;
}
void u64map__free(struct u64map *m);
/* The file name of a path (after its last '/'); "?" for NULL. */
const char *vp_base_name(const char *path);
/* A nonzero 64-bit hash of a string (FNV-1a), for string keys kept in a
 * u64map with their own equality check. */
uint64_t vp_hash_str(const char *s);
/* Iterate: start with *i = 0; each call stores the next entry and returns
 * true, or returns false at the end. Order is the table's, not insertion. */
bool u64map__next(const struct u64map *m, size_t *i, uint64_t *key, void **val);
/* The same hash of n bytes. */
uint64_t vp_hash_bytes(const void *s, size_t n);

/* Byte strings to dense ids 0, 1, ... in order of first sight, kept by
 * content (the outputs' frame, stack and path tables): a u64map from each
 * string's hash (vp_hash_bytes) to the latest id with that hash, and the
 * ids of equal hashes chained through `prev`. */
struct strtab {
	struct u64map by_hash;
	char **s;       /* by id: a NUL-terminated copy (the table owns it) */
	size_t *len;    /* by id */
	uint32_t *prev; /* by id: id + 1 of the one before with its hash, 0 none */
	uint32_t n, cap;
};
/* The id of s[0..n) into *id; *fresh: it was new (a copy is added).
 * 0 or -ENOMEM (the table is unchanged then). */
int strtab__id(struct strtab *t, const void *s, size_t n, uint32_t *id, bool *fresh);
void strtab__free(struct strtab *t);

/* id -> VP_REC_STACK record of one file. */
struct stack_map {
	struct u64map m;
};
/* 0 or -ENOMEM. A later record with the same id replaces the earlier. */
int stack_map__put(struct stack_map *m, const struct vp_stack *s);
/* Past the highest user-space address on x86-64 (2^56, 5-level paging): a
 * stack's ip at or above it is no code of the program's but an unwinder
 * that lost its way for one frame (libunwind through Go's asmcgocall). */
#define VP_USER_IP_END (1ull << 56)
/* How many of s's frames are at VP_USER_IP_END or above. */
uint32_t stack__bad_ips(const struct vp_stack *s);
/* ips[0, n) without those frames, in place, the rest in order: the new n. */
uint32_t stack__keep_user_ips(__u64 *ips, uint32_t n);
/* NULL when the id is 0 or unknown. */
const struct vp_stack *stack_map__get(const struct stack_map *m, uint32_t id);
void stack_map__free(struct stack_map *m);

/* Keys larger than 64 bits (strings, tuples) on a u64map keyed by their
 * hash: the value of a hash is the chain of the nodes that share it, and a
 * lookup walks the chain comparing whole keys. A node embeds struct
 * u64map_node first (it is freed through it). Only these three functions
 * may touch such a map. */
struct u64map_node {
	struct u64map_node *next; /* the next node of the same hash */
	uint64_t hash;
};
/* The first node of hash's chain, NULL for none. */
struct u64map_node *u64map__chain(const struct u64map *m, uint64_t hash);
/* Put n (n->hash set) at the head of its hash's chain. 0 or -ENOMEM. */
int u64map__chain_add(struct u64map *m, struct u64map_node *n);
/* free_node on every node of every chain, then u64map__free. */
void u64map__chain_free(struct u64map *m, void (*free_node)(struct u64map_node *));
/* x with every bit spread over all 64 (splitmix64's finalizer): a hash of
 * keys that differ in their low bits only (addresses). */
uint64_t vp_hash_mix(uint64_t x);

/* Chunks of up to 8 snapshots in flight at once (threads dlopen'ing
 * concurrently interleave them). */
struct maps_acc {
	struct {
		uint32_t seq;
		int used;
		char *buf;
		size_t len;
	} slot[8];
};
/* Feed one chunk. Returns 1 when it completed snapshot m->seq: *text and *len
 * stay valid until the next call; 0 otherwise; -ENOMEM. */
int maps_acc__feed(struct maps_acc *a, const struct vp_maps *m, const char **text, size_t *len);
void maps_acc__free(struct maps_acc *a);

/* Length of the valid UTF-8 sequence at s (shortest form, no surrogates,
 * at most U+10FFFF; at most n bytes), 0 if invalid. A NUL-terminated s may
 * pass n = 4: a sequence stops at the NUL. */
size_t vp_utf8_seq(const unsigned char *s, size_t n);
/* The code point of the valid sequence of len bytes at s. */
uint32_t vp_utf8_cp(const unsigned char *s, size_t len);

/* Write NUL-terminated s as a JSON string (NULL: null) through put:
 * quotes, backslash escapes (\n \t \r \b \f, \u00XX for the other
 * controls and DEL), invalid UTF-8 as '?'. VP_JSON_ASCII: other characters
 * as \uXXXX escapes (what jansson's JSON_ENSURE_ASCII writes), else as
 * UTF-8; VP_JSON_LT: '<' as \u003c too (JSON inside an HTML page). */
enum { VP_JSON_ASCII = 1, VP_JSON_LT = 2 };
void vp_json_escape(const char *s, unsigned flags,
		    void (*put)(void *ctx, const char *p, size_t n), void *ctx);

/* A JSON string of s[0..len) whatever bytes it holds: invalid UTF-8 and
 * NUL bytes become '?', so a damaged trace never breaks the JSON. New
 * reference; never NULL except out of memory. */
#include <jansson.h>
json_t *vp_json_text(const char *s, size_t len);
/* The same for a NUL-terminated string; NULL gives JSON null. */
json_t *vp_json_str(const char *s);
/* Copy s[0..len) into dst (len + 1 bytes) with the same replacement;
 * returns dst, NUL-terminated. */
char *vp_utf8_clean(char *dst, const char *s, size_t len);

/* One line of /proc/PID/maps: "start-end perms offset major:minor inode
 * [path]", the layout of fs/proc/task_mmu.c. The path is everything after
 * the inode and its padding (it may contain spaces), trailing blanks cut.
 * A line longer than VP_MAPS_LINE_MAX (a path is at most PATH_MAX) or of
 * another shape is rejected (false): the one parser of maps text. */
#define VP_MAPS_LINE_MAX (4096 + 256)
struct vp_maps_line {
	uint64_t start, end, pgoff, ino;
	bool read, write, exec, shared;
	const char *path; /* into the text; not NUL-terminated */
	size_t path_len;  /* 0 = anonymous */
};
bool vp_maps_line_parse(const char *p, const char *end, struct vp_maps_line *ml);
/* x in lowercase hex, at least `width` digits (zero-padded), written
 * backwards so that it ends right before `end` (room for 16 digits, or
 * width): where its first digit is. */
char *vp_hex_into(char *end, uint64_t x, int width);

/* Open a file of a trace directory to read: never blocks on a FIFO or a
 * device, never follows a symlink (`follow` 0), refuses anything but a
 * regular file (-EINVAL). fd or -errno. */
int vp_open_regular(const char *path, int follow);


/* A growing NUL-terminated string, built piece by piece (stack keys and
 * site labels, libdwfl's maps text, the live view's screen). Start zeroed;
 * free(b.p) when done. Every call leaves b unchanged when it fails. */
struct vp_buf {
	char *p;
	size_t n, cap;
};
/* Room for n more bytes and the NUL: 0, or -1 (out of memory). */
int vp_buf_room(struct vp_buf *b, size_t n);
/* printf at the end: 0, or -1 (out of memory, or a format error). */
int vp_buf_printf(struct vp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* n bytes of s at the end: 0 or -1. */
int vp_buf_put(struct vp_buf *b, const void *s, size_t n);

#endif
