// SPDX-License-Identifier: MIT
/*
 * The reduced BTF (bpf/min_btf.py, used by collector.c on the kernel it was
 * made from) relocates every program exactly as the running kernel's whole
 * BTF does: the object is opened and loaded both ways and each program's
 * final instructions compared (map references aside: two loads, two sets of
 * maps). Exit 77 (skip) on another kernel, where collector.c does not use it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include "collector.skel.h"
#include "collector_min_btf.h"

static int same_kernel(void)
{
	char notes[4096];
	struct stat st;
	ssize_t n;
	int fd;

	if (!collector_min_btf_len || stat("/sys/kernel/btf/vmlinux", &st) ||
	    (unsigned long long)st.st_size != collector_btf_vmlinux_size)
		return 0;
	fd = open("/sys/kernel/notes", O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, notes, sizeof(notes));
	close(fd);
	return n == (ssize_t)collector_btf_notes_len &&
	       !memcmp(notes, collector_btf_notes, collector_btf_notes_len);
}

static struct collector_bpf *load(const char *btf_path)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .btf_custom_path = btf_path);
	struct collector_bpf *s = collector_bpf__open_opts(&opts);
	struct bpf_program *p;

	if (!s)
		return NULL;
	bpf_map__set_max_entries(s->maps.rb, 1 << 16);
	/* the fentry pairs load only where the kernel has trampolines
	 * (collector.c fentry_probe); their relocations are sys_enter's */
	bpf_object__for_each_program(p, s->obj)
		if (!strncmp(bpf_program__section_name(p), "fentry/", 7) ||
		    !strncmp(bpf_program__section_name(p), "fexit/", 6))
			bpf_program__set_autoload(p, false);
	if (collector_bpf__load(s)) {
		collector_bpf__destroy(s);
		return NULL;
	}
	return s;
}

static int is_map_ref(const struct bpf_insn *i)
{
	return i->code == (BPF_LD | BPF_IMM | BPF_DW) &&
	       (i->src_reg == BPF_PSEUDO_MAP_FD || i->src_reg == BPF_PSEUDO_MAP_VALUE ||
		i->src_reg == BPF_PSEUDO_MAP_IDX || i->src_reg == BPF_PSEUDO_MAP_IDX_VALUE);
}

int main(void)
{
	struct collector_bpf *a, *b;
	struct bpf_program *pa, *pb;
	char path[64];
	int fd, progs = 0, bad = 0;

	if (!same_kernel()) {
		printf("SKIP: not the kernel the reduced BTF was made from\n");
		return 77;
	}
	fd = memfd_create("btf", MFD_CLOEXEC);
	if (fd < 0 || write(fd, collector_min_btf, collector_min_btf_len) !=
			      (ssize_t)collector_min_btf_len) {
		perror("memfd");
		return 1;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	a = load(path);
	b = load(NULL);
	if (!a || !b) {
		if (errno == EPERM) {
			printf("SKIP: not allowed to load BPF programs\n");
			return 77;
		}
		printf("FAIL: load with the reduced BTF %s, with the kernel's %s\n",
		       a ? "ok" : "failed", b ? "ok" : "failed");
		return 1;
	}
	pb = bpf_object__next_program(b->obj, NULL);
	bpf_object__for_each_program(pa, a->obj) {
		const struct bpf_insn *ia = bpf_program__insns(pa), *ib;
		size_t n = bpf_program__insn_cnt(pa);

		progs++;
		if (!pb || strcmp(bpf_program__name(pa), bpf_program__name(pb)) ||
		    n != bpf_program__insn_cnt(pb) || !n || !ia) {
			printf("FAIL: program %s differs in name or length\n", bpf_program__name(pa));
			bad++;
			pb = pb ? bpf_object__next_program(b->obj, pb) : NULL;
			continue;
		}
		ib = bpf_program__insns(pb);
		for (size_t i = 0; i < n; i++) {
			struct bpf_insn x = ia[i], y = ib[i];

			if (is_map_ref(&x) && is_map_ref(&y))
				x.imm = y.imm = 0;
			if (memcmp(&x, &y, sizeof(x))) {
				printf("FAIL: %s insn %zu differs\n", bpf_program__name(pa), i);
				bad++;
				break;
			}
		}
		pb = bpf_object__next_program(b->obj, pb);
	}
	printf("%d programs compared, %d differ\n", progs, bad);
	collector_bpf__destroy(a);
	collector_bpf__destroy(b);
	return bad || !progs ? 1 : 0;
}
