// SPDX-License-Identifier: MIT
/* sysfloor MODE SECONDS: attach empty programs and sleep.
 * MODE: raw (tp_btf sys_enter+sys_exit), rawtest (tp_btf sys_enter with the
 * collector's bpf_storage test), mmaplock (tp_btf mmap_lock_start_locking +
 * mmap_lock_released), pertp (tracepoint syscalls:sys_{enter,exit}_mmap
 * through perf_event_open; ids given as argv[3], argv[4]; exit id 0: enter only).
 *
 * sysfloor fault FILE -- CMD [ARG...]: empty programs at the collector's
 * fault tracepoints (page_fault_user, mm_page_alloc), BPF run-time
 * statistics on, CMD run to its end; FILE gets the faults the kernel
 * counted for CMD's tree ("faults N") and each program's "prog NAME
 * RUN_CNT RUN_TIME_NS". Exits with CMD's status. bench/run.py's floor rows.
 *
 * sysfloor record FILE -- CMD, sysfloor record-noclock FILE -- CMD: the
 * floor of any recorder of faults: page_fault_user finds the task's slot
 * in task storage (CMD's tree only) and writes the fault's time (not read
 * with record-noclock), address and ip into it; mm_page_alloc empty. FILE
 * as for fault, the program rec_pfu in place of page_fault_user, and
 * "first_task_faults N": the faults the slot of CMD's first task counted
 * (read before it is reaped), to show the filter found the tree.
 *
 * sysfloor start -- CMD [ARG...]: empty programs at every attach point a
 * default recording attaches at its start, and maps like its ring buffer
 * and task storage, loaded and attached, then CMD run to its end: timed
 * as a whole, the floor of `vmaprof record -- true` (bench/run.py S1).
 *
 * Built by bench/meson.build where the collector is built. */
#include <errno.h>
#include <signal.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
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

/* Run cmd to its end: its wait status in *st, its tree's usage in *ru.
 * 0, or 1 said. */
static int run_cmd(char **cmd, int *st, struct rusage *ru)
{
	pid_t pid = fork();

	if (pid < 0) {
		perror("sysfloor: fork");
		return 1;
	}
	if (!pid) {
		execvp(cmd[0], cmd);
		fprintf(stderr, "sysfloor: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	if (wait4(pid, st, 0, ru) < 0) {
		perror("sysfloor: wait4");
		return 1;
	}
	return 0;
}

/* run_cmd with a slot in rec_tasks for the command's first task, made
 * before its exec; its slot's count in *seen, read before it is reaped. */
static int run_recorded(struct sysfloor_bpf *s, char **cmd, int *st, struct rusage *ru,
			unsigned long long *seen)
{
	struct { unsigned long long time, addr, ip, n; } slot = { 0, 0, 0, 0 };
	int go[2], pidfd;
	siginfo_t si;
	pid_t pid;
	char c = 0;

	if (pipe(go)) {
		perror("sysfloor: pipe");
		return 1;
	}
	pid = fork();
	if (pid < 0) {
		perror("sysfloor: fork");
		return 1;
	}
	if (!pid) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(126);
		execvp(cmd[0], cmd);
		fprintf(stderr, "sysfloor: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 || bpf_map_update_elem(bpf_map__fd(s->maps.rec_tasks), &pidfd, &slot,
					     BPF_NOEXIST)) {
		fprintf(stderr, "sysfloor: the command's task storage: %s\n", strerror(errno));
		kill(pid, SIGKILL);
		return 1;
	}
	if (write(go[1], &c, 1) != 1)
		return 1;
	close(go[1]);
	if (waitid(P_PID, pid, &si, WEXITED | WNOWAIT) < 0 ||
	    bpf_map_lookup_elem(bpf_map__fd(s->maps.rec_tasks), &pidfd, &slot)) {
		fprintf(stderr, "sysfloor: the command's slot: %s\n", strerror(errno));
		return 1;
	}
	*seen = slot.n;
	close(pidfd);
	if (wait4(pid, st, 0, ru) < 0) {
		perror("sysfloor: wait4");
		return 1;
	}
	return 0;
}

static int fault_floor(struct sysfloor_bpf *s, const char *out, char **cmd, int rec)
{
	struct bpf_program *progs[] = { rec ? s->progs.rec_pfu : s->progs.page_fault_user,
					s->progs.mm_page_alloc, s->progs.rec_fork };
	size_t nprogs = rec ? 3 : 2;
	unsigned long long seen = 0;
	struct rusage ru;
	FILE *f;
	int st;

	for (size_t i = 0; i < nprogs; i++)
		if (!bpf_program__attach(progs[i])) {
			fprintf(stderr, "sysfloor: attaching %s: %s\n", bpf_program__name(progs[i]),
				strerror(errno));
			return 1;
		}
	if (bpf_enable_stats(BPF_STATS_RUN_TIME) < 0) {
		fprintf(stderr, "sysfloor: BPF run-time statistics: %s\n", strerror(errno));
		return 1;
	}
	if (rec ? run_recorded(s, cmd, &st, &ru, &seen) : run_cmd(cmd, &st, &ru))
		return 1;
	f = fopen(out, "w");
	if (!f) {
		fprintf(stderr, "sysfloor: %s: %s\n", out, strerror(errno));
		return 1;
	}
	fprintf(f, "faults %ld\n", ru.ru_minflt + ru.ru_majflt);
	if (rec)
		fprintf(f, "first_task_faults %llu\n", seen);
	for (size_t i = 0; i < nprogs; i++) {
		struct bpf_prog_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(bpf_program__fd(progs[i]), &info, &len)) {
			fprintf(stderr, "sysfloor: program info: %s\n", strerror(errno));
			return 1;
		}
		fprintf(f, "prog %s %llu %llu\n", bpf_program__name(progs[i]),
			(unsigned long long)info.run_cnt, (unsigned long long)info.run_time_ns);
	}
	if (fclose(f))
		return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The room libbpf's copy of the kernel's BTF takes, made ahead in huge
 * pages and populated in one call, as the collector does (its heap_ahead):
 * fresh pages cost ~12 us each to fault in on some VMs, and the floor is
 * meant to be the least a tool loading these programs pays. */
static void heap_room(void)
{
	struct stat st;
	size_t n;
	char *p;

	if (stat("/sys/kernel/btf/vmlinux", &st) || st.st_size <= 0)
		return;
	n = 2 * (size_t)st.st_size + (3 << 20);
	mallopt(M_MMAP_THRESHOLD, (int)n + (1 << 20));
	mallopt(M_TRIM_THRESHOLD, (int)n * 2);
	p = malloc(n);
	if (!p)
		return;
	madvise((void *)(((uintptr_t)p + 4095) & ~(uintptr_t)4095), n - 4096, MADV_HUGEPAGE);
	madvise((void *)(((uintptr_t)p + 4095) & ~(uintptr_t)4095), n - 4096,
		23 /* MADV_POPULATE_WRITE, Linux 5.14 */);
	free(p);
}

int main(int argc, char **argv)
{
	struct sysfloor_bpf *s;

	int rec = argc > 1 && !strncmp(argv[1], "record", 6);

	if (argc > 1 && !strcmp(argv[1], "start"))
		heap_room();
	s = sysfloor_bpf__open();
	if (!s || argc < 3)
		return 2;
	s->rodata->rec_clock = !(rec && !strcmp(argv[1], "record-noclock"));
	/* only what the mode attaches is loaded: an attach point this kernel
	 * lacks fails no other mode */
	for (struct bpf_program *p = bpf_object__next_program(s->obj, NULL); p;
	     p = bpf_object__next_program(s->obj, p)) {
		const char *n = bpf_program__name(p);
		int start = !strncmp(n, "st_", 3) || !strcmp(n, "raw_enter") ||
			    !strcmp(n, "raw_exit") || !strcmp(n, "page_fault_user") ||
			    !strcmp(n, "mm_page_alloc");
		int want = rec	? !strncmp(n, "rec_", 4) || !strcmp(n, "mm_page_alloc")
			   : !strcmp(argv[1], "fault")
				   ? !strcmp(n, "page_fault_user") || !strcmp(n, "mm_page_alloc")
			   : !strcmp(argv[1], "start")
				   ? start
				   : strcmp(n, "page_fault_user") && strcmp(n, "mm_page_alloc") &&
					     strncmp(n, "st_", 3) && strncmp(n, "rec_", 4);
		bpf_program__set_autoload(p, want);
	}
	if (sysfloor_bpf__load(s)) {
		fprintf(stderr, "sysfloor: loading the programs failed\n");
		return 1;
	}
	if (!strcmp(argv[1], "fault") || rec) {
		if (argc < 5 || strcmp(argv[3], "--"))
			return 2;
		return fault_floor(s, argv[2], argv + 4, rec);
	}
	if (!strcmp(argv[1], "start")) {
		struct rusage ru;
		int st;

		if (strcmp(argv[2], "--") || argc < 4)
			return 2;
		/* every loaded program, the task iterator too (libbpf attaches
		 * iter/ sections), as the collector's start attaches them */
		if (sysfloor_bpf__attach(s) || run_cmd(argv + 3, &st, &ru))
			return 1;
		return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
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
