// SPDX-License-Identifier: MIT
/* sysfloor MODE SECONDS: attach empty programs and sleep.
 * MODE: raw (tp_btf sys_enter+sys_exit), rawtest (tp_btf sys_enter with the
 * collector's bpf_storage test), mmaplock (tp_btf mmap_lock_start_locking +
 * mmap_lock_released), pertp (tracepoint syscalls:sys_{enter,exit}_mmap
 * through perf_event_open; ids given as argv[3], argv[4]; exit id 0: enter only).
 * Build: see bench/NOTES.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <bpf/libbpf.h>
#include "sysfloor.skel.h"

static struct bpf_link *attach_tp(struct bpf_program *p, int id)
{
	struct perf_event_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = id;
	a.sample_period = 1;
	a.wakeup_events = 1;
	fd = syscall(SYS_perf_event_open, &a, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) { perror("perf_event_open"); exit(1); }
	return bpf_program__attach_perf_event(p, fd);
}

int main(int argc, char **argv)
{
	struct sysfloor_bpf *s = sysfloor_bpf__open_and_load();
	if (!s || argc < 3) return 2;
	if (!strcmp(argv[1], "raw")) {
		if (!bpf_program__attach(s->progs.raw_enter) || !bpf_program__attach(s->progs.raw_exit)) return 1;
	} else if (!strcmp(argv[1], "rawtest")) {
		if (!bpf_program__attach(s->progs.raw_enter_test)) return 1;
	} else if (!strcmp(argv[1], "mmaplock")) {
		if (!bpf_program__attach(s->progs.ml_start) || !bpf_program__attach(s->progs.ml_released)) return 1;
	} else if (!strcmp(argv[1], "pertp")) {
		if (argc < 5 || !attach_tp(s->progs.tp_enter, atoi(argv[3])) ||
		    (atoi(argv[4]) > 0 && !attach_tp(s->progs.tp_exit, atoi(argv[4]))))
			return 1;
	}
	fprintf(stderr, "attached %s\n", argv[1]);
	sleep(atoi(argv[2]));
	return 0;
}
