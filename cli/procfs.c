/* SPDX-License-Identifier: MIT */
#include "procfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* /proc/PID/<what> into buf, NUL-terminated: its length or -errno. */
static ssize_t read_proc(pid_t pid, const char *what, char *buf, size_t cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
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
