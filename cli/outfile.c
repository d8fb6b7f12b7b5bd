/* SPDX-License-Identifier: MIT */
/* Output directory and files written safely (see outfile.h). */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct out_owner out_owner_from_env(void)
{
	struct out_owner o = { 0 };
	const char *u = getenv("SUDO_UID"), *g = getenv("SUDO_GID");
	char *e1 = NULL, *e2 = NULL;
	if (geteuid() != 0 || !u || !g || !*u || !*g)
		return o;
	unsigned long uid = strtoul(u, &e1, 10), gid = strtoul(g, &e2, 10);
	if (*e1 || *e2 || uid == 0 || uid > UINT32_MAX - 1 || gid > UINT32_MAX - 1)
		return o;
	o.set = 1;
	o.uid = (uid_t)uid;
	o.gid = (gid_t)gid;
	return o;
}

static int refuse(char *why, size_t n, int err, const char *dir, const char *what)
{
	snprintf(why, n, "%s: %s", dir, what);
	return err;
}

int outdir_prepare(const char *dir, const struct out_owner *ow, int *dirfd, int *was_created,
		   char *why, size_t why_len)
{
	*dirfd = -1;
	int created = mkdir(dir, 0700) == 0;
	if (was_created)
		*was_created = created;
	if (!created && errno != EEXIST) {
		int e = errno;
		snprintf(why, why_len, "cannot create %s: %s", dir, strerror(e));
		return -e;
	}
	/* O_NOFOLLOW: a symlink planted under the name (by anyone who could
	 * write the parent, e.g. /tmp) is refused, not followed */
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		struct stat ls;
		if (lstat(dir, &ls) == 0 && S_ISLNK(ls.st_mode))
			return refuse(why, why_len, -ELOOP, dir,
				      "is a symbolic link; give the directory itself");
		if (e == ENOTDIR)
			return refuse(why, why_len, -ENOTDIR, dir,
				      "exists and is not a directory");
		snprintf(why, why_len, "%s: %s", dir, strerror(e));
		return -e;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		snprintf(why, why_len, "%s: %s", dir, strerror(e));
		return -e;
	}
	uid_t me = geteuid();
	if (sb.st_uid != me && !(ow->set && sb.st_uid == ow->uid)) {
		close(fd);
		return refuse(why, why_len, -EPERM, dir,
			      "belongs to another user; vmaprof writes only into a directory "
			      "of its own (choose a new -o DIR)");
	}
	if (sb.st_mode & 022) {
		close(fd);
		return refuse(why, why_len, -EPERM, dir,
			      "is writable by other users (a recording holds the traced programs' "
			      "paths and arguments); choose a new -o DIR");
	}
	if (created) {
		if (fchmod(fd, 0700) < 0 || (ow->set && fchown(fd, ow->uid, ow->gid) < 0)) {
			int e = errno;
			close(fd);
			snprintf(why, why_len, "%s: cannot set its owner/mode: %s", dir, strerror(e));
			return -e;
		}
	}
	/* writable for us? a read-only file system or mode says so now, not
	 * after the command ran */
	if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
		int e = errno;
		close(fd);
		snprintf(why, why_len, "%s: not writable: %s", dir, strerror(e));
		return -e;
	}
	*dirfd = fd;
	return 0;
}

int outfile_begin(struct outfile *o, int dirfd, const char *name, const struct out_owner *ow)
{
	memset(o, 0, sizeof(*o));
	o->dirfd = dirfd;
	snprintf(o->name, sizeof(o->name), "%s", name);
	for (int tries = 0; tries < 100; tries++) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		snprintf(o->tmp, sizeof(o->tmp), ".%s.%d.%ld.tmp", name, (int)getpid(),
			 (long)(ts.tv_nsec + tries));
		int fd = openat(dirfd, o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			return -errno;
		if (ow && ow->set && fchown(fd, ow->uid, ow->gid) < 0) {
			int e = errno;
			close(fd);
			unlinkat(dirfd, o->tmp, 0);
			return -e;
		}
		o->f = fdopen(fd, "w");
		if (!o->f) {
			int e = errno;
			close(fd);
			unlinkat(dirfd, o->tmp, 0);
			return -e;
		}
		return 0;
	}
	return -EEXIST;
}

int outfile_commit(struct outfile *o, int failed)
{
	int err = 0;
	if (!o->f)
		return -EBADF;
	if (fflush(o->f) || ferror(o->f))
		err = errno ? -errno : -EIO;
	if (!err && !failed && !o->no_sync && fsync(fileno(o->f)) < 0)
		err = -errno;
	if (fclose(o->f) && !err)
		err = -errno;
	o->f = NULL;
	if (!err && !failed && renameat(o->dirfd, o->tmp, o->dirfd, o->name) < 0)
		err = -errno;
	if (err || failed)
		unlinkat(o->dirfd, o->tmp, 0);
	return failed && !err ? -EIO : err;
}
