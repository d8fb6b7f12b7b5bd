/* SPDX-License-Identifier: MIT */
/*
 * What the recorder reads of other processes in /proc: one reader of
 * /proc/PID/stat (whose command name may hold spaces and parentheses: the
 * fields start after the last ')'), the tree test both the broker and the
 * stop logic use, the syscall a process sleeps in.
 */
#ifndef VP_PROCFS_H
#define VP_PROCFS_H

#include <stddef.h>
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

/* The nsfs inode of `pid`'s PID namespace (0: itself), what
 * vp_file_header.pid_ns holds; 0 when unknown. */
uint32_t procfs_pid_ns(pid_t pid);

/* `pid` as its own PID namespace numbers it (what its getpid() says: the
 * last NSpid of /proc/PID/status); `pid` itself when there is no such
 * line, 0 when unreadable. */
pid_t procfs_ns_pid(pid_t pid);

/* 1 when this process runs in a user namespace other than the initial
 * one, with `desc` (if not NULL) saying how its uid 0 (or its own uid) maps
 * outside: "uid 0 here is uid 1000 outside"; 0 when in the initial one
 * (or when it cannot tell). */
int procfs_in_user_ns(char *desc, size_t len);

#endif
