/* SPDX-License-Identifier: MIT */
/*
 * What the recorder reads of other processes in /proc: one reader of
 * /proc/PID/stat (whose command name may hold spaces and parentheses: the
 * fields start after the last ')'), the tree test both the broker and the
 * stop logic use, the syscall a process sleeps in.
 */
#ifndef VP_PROCFS_H
#define VP_PROCFS_H

#include <stdint.h>
#include <sys/types.h>

struct procfs_stat {
	char state;
	pid_t ppid;
	uint64_t minflt, majflt;
};

/* 0 or -errno (gone, unreadable, not that shape). */
int procfs_stat(pid_t pid, struct procfs_stat *st);
/* 1 when `pid`'s parent chain reaches `ancestor`. */
int procfs_descends(pid_t pid, pid_t ancestor);
/* 1 when `pid` sleeps in read(fd) (from /proc/PID/syscall). */
int procfs_sleeps_in_read(pid_t pid, int fd);

#endif
