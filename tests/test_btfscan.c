// SPDX-License-Identifier: MIT
/*
 * bpf/btfscan.c against libbpf on the running kernel's BTF: the ids of the
 * hooked calls' functions (what the collector asks), of every 53rd named
 * FUNC, STRUCT and TYPEDEF, and struct members (present and absent), are
 * libbpf's; damaged data (cut short, a wrong magic, a section past the end)
 * is refused, never read out of bounds. Exit 77 where the kernel has no BTF.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/btf.h>

#include "btfscan.h"

#define VMLINUX "/sys/kernel/btf/vmlinux"

static int fails;

#define CHECK(c, ...)                                                           \
	do {                                                                    \
		if (!(c)) {                                                     \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
			fails++;                                                \
		}                                                               \
	} while (0)

static const char *const calls[] = { "mmap", "munmap", "mremap", "mprotect", "madvise", "brk",
				     "shmat", "shmdt", "mlock", "munlock", "mlockall", "execve",
				     "nonexistent_call" };

static int member_libbpf(const struct btf *btf, int id, const char *member)
{
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_member *m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++)
		if (!strcmp(btf__name_by_offset(btf, m->name_off), member))
			return 1;
	return 0;
}

static void hooked(const struct btfscan *b, const struct btf *btf)
{
	enum { N = sizeof(calls) / sizeof(calls[0]) };
	struct btfscan_query q[N + 1];
	char names[N][64];

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "__x64_sys_%s", calls[i]);
		q[i] = (struct btfscan_query){ names[i], BTF_KIND_FUNC, -1 };
	}
	q[N] = (struct btfscan_query){ "trace_event_raw_sched_process_exit", BTF_KIND_STRUCT, -1 };
	CHECK(btfscan__find(b, q, N + 1) == 0, "btfscan__find failed on the kernel's BTF");
	for (int i = 0; i <= N; i++) {
		int want = btf__find_by_name_kind(btf, q[i].name, q[i].kind);
		CHECK(q[i].id == (want > 0 ? want : 0), "%s: id %d, libbpf %d", q[i].name, q[i].id,
		      want);
	}
	CHECK(q[0].id > 0, "__x64_sys_mmap not found");
	CHECK(q[N - 1].id == 0, "a function that does not exist was found");
	if (q[N].id > 0) {
		CHECK(btfscan__has_member(b, q[N].id, "group_dead") ==
			      member_libbpf(btf, q[N].id, "group_dead"),
		      "group_dead of trace_event_raw_sched_process_exit");
		CHECK(btfscan__has_member(b, q[N].id, "pid") == 1, "pid member");
		CHECK(btfscan__has_member(b, q[N].id, "no_such_member") == 0, "absent member");
	}
	CHECK(btfscan__has_member(b, q[0].id, "x") < 0, "a FUNC is not a struct");
}

/* every 53rd named FUNC, STRUCT and TYPEDEF, one walk per batch of 64 */
static void sample(const struct btfscan *b, const struct btf *btf)
{
	struct btfscan_query q[64];
	int n = 0, seen = 0, checked = 0;
	unsigned cnt = btf__type_cnt(btf);

	for (unsigned id = 1; id <= cnt; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		int k = id < cnt ? btf_kind(t) : -1;
		if (k == BTF_KIND_FUNC || k == BTF_KIND_STRUCT || k == BTF_KIND_TYPEDEF) {
			const char *name = btf__name_by_offset(btf, t->name_off);
			if (name && *name && seen++ % 53 == 0)
				q[n++] = (struct btfscan_query){ name, k, -1 };
		}
		if (n == 64 || (id == cnt && n)) {
			CHECK(btfscan__find(b, q, n) == 0, "btfscan__find failed");
			for (int i = 0; i < n; i++) {
				int want = btf__find_by_name_kind(btf, q[i].name, q[i].kind);
				CHECK(q[i].id == want, "%s (kind %d): id %d, libbpf %d", q[i].name,
				      q[i].kind, q[i].id, want);
			}
			checked += n;
			n = 0;
		}
	}
	printf("%d names compared with libbpf\n", checked);
	CHECK(checked > 100, "too few names compared: %d", checked);
}

static void damaged(const struct btfscan *whole)
{
	struct btfscan_query q = { "__x64_sys_mmap", BTF_KIND_FUNC, -1 };
	unsigned char *copy = malloc(whole->size);
	struct btfscan b;

	memcpy(copy, whole->data, whole->size);
	/* cut short anywhere: the string section ends the file, so every cut
	 * leaves a section past the end, and is refused */
	for (size_t cut = 0; cut < whole->size; cut = cut * 3 + 7) {
		b = (struct btfscan){ copy, cut, 0 };
		int r = btfscan__find(&b, &q, 1);
		CHECK(r == -EINVAL, "cut at %zu: %d, id %d", cut, r, q.id);
	}
	b = (struct btfscan){ copy, whole->size - 1, 0 };
	CHECK(btfscan__find(&b, &q, 1) == -EINVAL, "cut by one byte: read");
	b = (struct btfscan){ copy, whole->size, 0 };
	copy[0] ^= 0xff; /* magic */
	CHECK(btfscan__find(&b, &q, 1) == -EINVAL, "a wrong magic was read");
	copy[0] ^= 0xff;
	struct btf_header h;
	memcpy(&h, copy, sizeof(h));
	h.str_len = (unsigned)whole->size; /* past the end */
	memcpy(copy, &h, sizeof(h));
	CHECK(btfscan__find(&b, &q, 1) == -EINVAL, "a string section past the end was read");
	free(copy);
}

int main(void)
{
	struct btfscan b;
	int err = btfscan__open(&b, VMLINUX);

	if (err == -ENOENT) {
		printf("SKIP: this kernel has no %s (no BTF)\n", VMLINUX);
		return 77;
	}
	CHECK(err == 0, "btfscan__open: %s", strerror(-err));
	if (err)
		return 1;
	struct btf *btf = btf__load_vmlinux_btf();
	CHECK(btf != NULL, "libbpf cannot read the kernel's BTF");
	if (!btf)
		return 1;
	printf("%s: %zu bytes, %s\n", VMLINUX, b.size, b.mapped ? "mapped" : "read");
	hooked(&b, btf);
	sample(&b, btf);
	damaged(&b);
	btf__free(btf);
	btfscan__close(&b);
	CHECK(btfscan__open(&b, "/nonexistent/btf") == -ENOENT, "a missing file");
	if (fails)
		return 1;
	printf("ok\n");
	return 0;
}
