/* SPDX-License-Identifier: MIT */
/* What the recorder reads of other processes in /proc (procfs.h). */
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* /proc/PID/<what> (pid 0: /proc/self) into buf, NUL-terminated: its length or -errno. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, cap - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	buf[n] = 0;
	return n;
}

int procfs_stat(pid_t pid, struct procfs_stat *st)
{
	char buf[1024];
	ssize_t n = read_proc(pid, "stat", buf, sizeof(buf));
	if (n <= 0)
		return n < 0 ? (int)n : -EINVAL;
	/* fields after the command name, which may hold spaces and ')' */
	char *q = strrchr(buf, ')');
	int ppid;
	unsigned long long minflt, majflt;
	if (!q || sscanf(q + 1, " %c %d %*d %*d %*d %*d %*u %llu %*u %llu", &st->state, &ppid,
			 &minflt, &majflt) != 4)
		return -EINVAL;
	st->ppid = (pid_t)ppid;
	st->minflt = minflt;
	st->majflt = majflt;
	return 0;
}

int procfs_descends(pid_t pid, pid_t ancestor)
{
	for (int depth = 0; pid > 1 && depth < 4096; depth++) {
		struct procfs_stat st;
		if (procfs_stat(pid, &st) < 0)
			return 0;
		if (st.ppid == ancestor)
			return 1;
		if (st.ppid <= 0 || st.ppid == pid)
			return 0;
		pid = st.ppid;
	}
	return 0;
}

int procfs_sleeps_in_read(pid_t pid, int fd)
{
	char buf[256];
	if (read_proc(pid, "syscall", buf, sizeof(buf)) <= 0)
		return 0;
	long nr;
	unsigned long a0;
	/* "0 0x<fd> ..." = blocked in read(fd); "running" while it runs */
	return sscanf(buf, "%ld 0x%lx", &nr, &a0) == 2 && nr == 0 && a0 == (unsigned long)fd;
}

uint32_t procfs_pid_ns(pid_t pid)
{
	char path[64];
	struct stat st;
	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/ns/pid", (int)pid);
	else
		snprintf(path, sizeof(path), "/proc/self/ns/pid");
	return stat(path, &st) ? 0 : (uint32_t)st.st_ino;
}

pid_t procfs_ns_pid(pid_t pid)
{
	char buf[4096];
	if (read_proc(pid, "status", buf, sizeof(buf)) <= 0)
		return 0;
	char *l = strstr(buf, "\nNSpid:");
	if (!l)
		return pid;
	long last = 0;
	for (char *q = l + 8, *end; *q && *q != '\n'; q = end) {
		long v = strtol(q, &end, 10);
		if (end == q)
			break;
		last = v;
	}
	return last > 0 ? (pid_t)last : pid;
}

/* The kernel's fixed inode of the initial user namespace (PROC_USER_INIT_INO). */
#define USER_NS_INIT_INO 0xeffffffdu

int procfs_in_user_ns(char *desc, size_t len)
{
	struct stat st;
	if (stat("/proc/self/ns/user", &st) < 0 || st.st_ino == USER_NS_INIT_INO)
		return 0;
	if (!desc || !len)
		return 1;
	char buf[4096];
	unsigned long inside, outside, count;
	unsigned long me = (unsigned long)getuid();
	snprintf(desc, len, "uid %lu here is not mapped outside", me);
	if (read_proc(0, "uid_map", buf, sizeof(buf)) <= 0)
		return 1;
	for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		if (sscanf(l, "%lu %lu %lu", &inside, &outside, &count) == 3 && me >= inside &&
		    me - inside < count) {
			snprintf(desc, len, "uid %lu here is uid %lu outside", me,
				 outside + (me - inside));
			break;
		}
	}
	return 1;
}
