/* SPDX-License-Identifier: MIT */
/*
 * A few names looked up in the running kernel's BTF without parsing all of
 * it: what the collector asks before it loads (which hooked calls have a
 * function to put fentry programs on). libbpf's btf__load_vmlinux_btf
 * reads the 5 MB file 4 KiB at a time and indexes all 125,000 types
 * (45-60 ms here), and libbpf does that again when it loads the object;
 * this maps the file where the kernel allows it (6.16+), else reads it in
 * one go, and walks the type section once (bpf/README.md, "How system
 * calls are hooked").
 */
#ifndef VMAPROF_BTFSCAN_H
#define VMAPROF_BTFSCAN_H

#include <stddef.h>

struct btfscan {
	const unsigned char *data;
	size_t size;
	int mapped; /* data is an mmap of the file, else malloc'd */
};

struct btfscan_query {
	const char *name;
	int kind; /* BTF_KIND_* */
	int id;   /* out: the first type of that kind and name, or 0 */
};

/* Open path (the kernel's BTF: /sys/kernel/btf/vmlinux). 0, or -errno. */
int btfscan__open(struct btfscan *b, const char *path);
void btfscan__close(struct btfscan *b);
/* Fill each query's id in one walk (ids as libbpf numbers them: the
 * first type is 1). 0, or -EINVAL when the data is not BTF this walker
 * knows (a kind it cannot size, a section out of bounds): then ask libbpf. */
int btfscan__find(const struct btfscan *b, struct btfscan_query *q, size_t nq);
/* Whether the struct or union of id `id` has a member `member`: 1, 0, or
 * -EINVAL (not a struct, bad data). */
int btfscan__has_member(const struct btfscan *b, int id, const char *member);

#endif
