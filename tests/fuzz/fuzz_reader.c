/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness over the trace reader: any bytes as a trace file.
 * Every record the reader returns is walked in full, variable parts
 * included, so a bounds mistake is an ASan report, not a silent read. The
 * same file read as a stream (reader__open_stream: pread into a segment's
 * buffer, the next segment on another thread) returns the same records,
 * byte for byte, and the same counts, or the harness aborts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "reader.h"

static volatile uint64_t sink;

static void touch(const char *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sink += (unsigned char)p[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("vpfuzz", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64], why[256];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct reader *r, *rs = NULL;
	if (reader__open(path, &r, why, sizeof(why)) == 0) {
		if (reader__open_stream(path, &rs, why, sizeof(why)))
			abort(); /* opened mapped: the stream must open too */
		const struct vp_rec *h, *hs;
		while (reader__next(r, &h) > 0) {
			if (reader__next(rs, &hs) <= 0 || hs->size != h->size ||
			    memcmp(hs, h, h->size))
				abort();
			touch((const char *)h, h->size);
			switch (h->type) {
			case VP_REC_PROC: {
				const struct vp_proc *p = (const void *)h;
				touch(vp_proc_exe(p), p->exe_len);
				touch(vp_proc_argv(p), p->argv_len);
				break;
			}
			case VP_REC_MEM: {
				const struct vp_mem *m = (const void *)h;
				touch(vp_mem_path(m), m->path_len);
				break;
			}
			case VP_REC_EXEC: {
				const struct vp_exec *e = (const void *)h;
				touch(vp_exec_path(e), e->path_len);
				touch(vp_exec_argv(e), e->argv_len);
				break;
			}
			case VP_REC_MAPS: {
				const struct vp_maps *m = (const void *)h;
				touch(vp_maps_text(m), m->len);
				break;
			}
			case VP_REC_STACK: {
				const struct vp_stack *s = (const void *)h;
				touch((const char *)s->ips, (uint64_t)s->depth * 8);
				break;
			}
			}
		}
		if (reader__next(rs, &hs) != 0 ||
		    memcmp(reader__stats(rs), reader__stats(r), sizeof(struct reader_stats)))
			abort();
		sink += reader__stats(r)->bad;
		reader__free(r);
		reader__free(rs);
	}
	close(fd);
	return 0;
}
