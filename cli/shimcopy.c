/* SPDX-License-Identifier: MIT */
/* The shim where every user of the traced tree can load it (shimcopy.h):
 * shim_place uses it in place, or checks the source (open_source), reaches
 * CACHE/shim/<hash> (open_cache_dir) and reuses or writes the copy there. */
#include "shimcopy.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define MAX_SHIM_BYTES (256u << 20)

static int fail(char *why, size_t n, int err, const char *fmt, const char *path,
		const char *what)
{
	snprintf(why, n, fmt, path, what);
	return err;
}

/* A directory (open as fd, reached as `path`) only root can change and
 * everyone can search. `strict`: not even a sticky directory writable by
 * others (one we create entries in). */
static int check_dir(int fd, const char *path, int strict, char *why, size_t wl)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return fail(why, wl, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return fail(why, wl, -ENOTDIR, "%s: %s", path, "is not a directory");
	if (sb.st_uid != 0) {
		char m[64];
		snprintf(m, sizeof(m), "belongs to uid %u, not root", (unsigned)sb.st_uid);
		return fail(why, wl, -EPERM, "%s: %s", path, m);
	}
	if ((sb.st_mode & 022) && (strict || !(sb.st_mode & S_ISVTX)))
		return fail(why, wl, -EPERM, "%s: %s", path,
			    "is writable by group or others (anyone could replace the shim)");
	if (!(sb.st_mode & S_IXOTH)) {
		char m[96];
		snprintf(m, sizeof(m), "is mode %04o: other users cannot reach what is inside",
			 (unsigned)(sb.st_mode & 07777));
		return fail(why, wl, -EACCES, "%s: %s", path, m);
	}
	return 0;
}

/* Open the absolute directory `path` component by component from /, never
 * following a symlink, checking each (check_dir; the last one strictly
 * when `strict_leaf`), creating missing ones 0755 when `create`. The fd, or
 * -errno with `why`. */
static int walk_dirs(const char *path, int create, int strict_leaf, char *why, size_t wl)
{
	if (path[0] != '/')
		return fail(why, wl, -EINVAL, "%s: %s", path, "is not an absolute path");
	char at[PATH_MAX];
	size_t atl = 0;
	at[0] = 0;
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return fail(why, wl, -errno, "%s: %s", "/", strerror(errno));
	const char *p = path;
	int err;
	for (;;) {
		while (*p == '/')
			p++;
		size_t l = strcspn(p, "/");
		const char *rest = p + l;
		while (*rest == '/')
			rest++;
		int last = *rest == 0;
		if ((err = check_dir(fd, atl ? at : "/", strict_leaf && l == 0, why, wl)))
			break;
		if (l == 0)
			return fd; /* `path` was "/" */
		if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.')) {
			err = fail(why, wl, -EINVAL, "%s: %s", path, "has a . or .. component");
			break;
		}
		if (atl + 1 + l >= sizeof(at) || l > NAME_MAX) {
			err = fail(why, wl, -ENAMETOOLONG, "%s: %s", path, strerror(ENAMETOOLONG));
			break;
		}
		at[atl++] = '/';
		memcpy(at + atl, p, l);
		atl += l;
		at[atl] = 0;
		const char *comp = at + atl - l;
		int created = 0;
		int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0755) == 0)
				created = 1;
			else if (errno != EEXIST) {
				err = fail(why, wl, -errno, "cannot create %s: %s", at, strerror(errno));
				break;
			}
			nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (nfd < 0) {
			int e = errno;
			struct stat ls;
			if (fstatat(fd, comp, &ls, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(ls.st_mode))
				err = fail(why, wl, -ELOOP, "%s: %s", at,
					   "is a symbolic link (not followed: give the real path)");
			else
				err = fail(why, wl, -e, "%s: %s", at, strerror(e));
			break;
		}
		close(fd);
		fd = nfd;
		/* ours: the mode asked for, whatever the umask */
		if (created && fchmod(fd, 0755) < 0) {
			err = fail(why, wl, -errno, "%s: %s", at, strerror(errno));
			break;
		}
		p += l;
		if (last) {
			if ((err = check_dir(fd, at, strict_leaf, why, wl)))
				break;
			return fd;
		}
	}
	close(fd);
	return err;
}

/* A root-owned regular file everyone may read and nobody else write. */
static int check_file(int fd, const char *path, char *why, size_t wl, struct stat *sb)
{
	if (fstat(fd, sb) < 0)
		return fail(why, wl, -errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(sb->st_mode))
		return fail(why, wl, -EINVAL, "%s: %s", path, "is not a regular file");
	if (sb->st_uid != 0)
		return fail(why, wl, -EPERM, "%s: %s", path, "does not belong to root");
	if (sb->st_mode & 022)
		return fail(why, wl, -EPERM, "%s: %s", path, "is writable by group or others");
	if (!(sb->st_mode & S_IROTH))
		return fail(why, wl, -EACCES, "%s: %s", path, "is not readable by other users");
	return 0;
}

/* dfd/comp (reached as `path`), created 0755 if missing, checked strictly.
 * The fd, or -errno with `why`. */
static int sub_dir(int dfd, const char *comp, const char *path, char *why, size_t wl)
{
	int created = mkdirat(dfd, comp, 0755) == 0;
	if (!created && errno != EEXIST)
		return fail(why, wl, -errno, "cannot create %s: %s", path, strerror(errno));
	int fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		struct stat ls;
		if (fstatat(dfd, comp, &ls, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(ls.st_mode))
			return fail(why, wl, -ELOOP, "%s: %s", path, "is a symbolic link (not followed)");
		return fail(why, wl, -e, "%s: %s", path, strerror(e));
	}
	int err = created && fchmod(fd, 0755) < 0 ? fail(why, wl, -errno, "%s: %s", path,
							 strerror(errno)) : 0;
	if (!err)
		err = check_dir(fd, path, 1, why, wl);
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* The shim where it is, if safe for everyone (see shimcopy.h). */
static int usable_in_place(const char *real, char *why, size_t wl)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", real);
	char *slash = strrchr(dir, '/');
	if (!slash || !slash[1])
		return fail(why, wl, -EINVAL, "%s: %s", real, "not a file path");
	const char *base = real + (slash - dir) + 1;
	if (slash == dir)
		slash[1] = 0; /* "/" */
	else
		*slash = 0;
	int dfd = walk_dirs(dir, 0, 0, why, wl);
	if (dfd < 0)
		return dfd;
	int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int err = fd < 0 ? fail(why, wl, -errno, "%s: %s", real, strerror(errno)) : 0;
	struct stat sb;
	if (!err)
		err = check_file(fd, real, why, wl, &sb);
	if (fd >= 0)
		close(fd);
	close(dfd);
	return err;
}

/* Pieces of the files are read into buffers on the stack: reading the whole
 * shim into the heap costs ~140 first-touch page faults per copy, which
 * was two thirds of this file's time (bench/NOTES.md). */
#define PIECE 16384

static ssize_t pread_full(int fd, uint8_t *b, size_t n, off_t off)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, b + got, n - got, off + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* The SHA-256 of fd's `size` bytes, as hex. 0 or -errno with `why`. */
static int hash_fd(int fd, uint64_t size, const char *path, char hex[2 * VP_SHA256_LEN + 1],
		   char *why, size_t wl)
{
	uint8_t b[PIECE];
	struct vp_sha256 c;
	vp_sha256_init(&c);
	for (uint64_t off = 0; off < size;) {
		size_t want = size - off < PIECE ? (size_t)(size - off) : PIECE;
		ssize_t r = pread_full(fd, b, want, (off_t)off);
		if (r < 0)
			return fail(why, wl, -errno, "%s: %s", path, strerror(errno));
		if ((size_t)r != want)
			return fail(why, wl, -EIO, "%s: %s", path, "changed size while read");
		vp_sha256_update(&c, b, want);
		off += want;
	}
	vp_sha256_final_hex(&c, hex);
	return 0;
}

/* 1 if a and b hold the same `size` bytes (and no more). */
static int same_bytes(int a, int b, uint64_t size)
{
	uint8_t x[PIECE], y[PIECE];
	for (uint64_t off = 0; off < size;) {
		size_t want = size - off < PIECE ? (size_t)(size - off) : PIECE;
		if (pread_full(a, x, want, (off_t)off) != (ssize_t)want ||
		    pread_full(b, y, want, (off_t)off) != (ssize_t)want || memcmp(x, y, want))
			return 0;
		off += want;
	}
	return pread_full(a, x, 1, (off_t)size) == 0 && pread_full(b, y, 1, (off_t)size) == 0;
}

/* 1 if hfd/name is a copy we may use: root's, safe mode, src's bytes. */
static int copy_matches(int hfd, const char *name, int src, uint64_t size)
{
	int fd = openat(hfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char why[64];
	struct stat sb;
	int ok = check_file(fd, name, why, sizeof(why), &sb) == 0 &&
		 (uint64_t)sb.st_size == size && same_bytes(fd, src, size);
	close(fd);
	return ok;
}

/* src's bytes into a fresh name in hfd, fsync'd, renamed over `name`;
 * hashed again on the way: a shim rebuilt meanwhile is not stored under
 * the old bytes' name. */
static int write_copy(int hfd, const char *name, int src, uint64_t size, const char *hex,
		      const char *dpath, char *why, size_t wl)
{
	char tmp[NAME_MAX + 1];
	int fd = -1;
	for (int tries = 0; tries < 16 && fd < 0; tries++) {
		uint64_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
			rnd = (uint64_t)getpid() * 2654435761u + (uint64_t)tries;
		snprintf(tmp, sizeof(tmp), ".%s.%016llx.tmp", name, (unsigned long long)rnd);
		fd = openat(hfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd < 0)
		return fail(why, wl, -errno, "cannot create a file in %s: %s", dpath, strerror(errno));
	int err = 0;
	const char *what = NULL;
	if (fchmod(fd, 0644) < 0)
		err = -errno;
	uint8_t b[PIECE];
	struct vp_sha256 c;
	vp_sha256_init(&c);
	for (uint64_t off = 0; !err && off < size;) {
		size_t want = size - off < PIECE ? (size_t)(size - off) : PIECE;
		ssize_t r = pread_full(src, b, want, (off_t)off);
		if (r != (ssize_t)want) {
			err = r < 0 ? -errno : -EIO;
			what = "the shim changed while copied";
			break;
		}
		vp_sha256_update(&c, b, want);
		for (size_t done = 0; !err && done < want;) {
			ssize_t w = write(fd, b + done, want - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				err = w < 0 ? -errno : -EIO;
			else
				done += (size_t)w;
		}
		off += want;
	}
	char again[2 * VP_SHA256_LEN + 1];
	vp_sha256_final_hex(&c, again);
	if (!err && strcmp(again, hex)) {
		err = -EAGAIN;
		what = "the shim changed while copied";
	}
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && renameat(hfd, tmp, hfd, name) < 0)
		err = -errno;
	if (err) {
		unlinkat(hfd, tmp, 0);
		return fail(why, wl, err, "cannot write the shim's copy in %s: %s", dpath,
			    what ? what : strerror(-err));
	}
	fsync(hfd);
	return 0;
}

/* The shim at `real` opened (*sfd) and checked to be a regular file of a
 * shim's size (*size), its SHA-256 in hex. 0, or -errno with `why` and
 * nothing left open. */
static int open_source(const char *real, int *sfd, uint64_t *size, char *hex, char *why,
		       size_t wl)
{
	*sfd = open(real, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (*sfd < 0)
		return fail(why, wl, -errno, "%s: %s", real, strerror(errno));
	struct stat sb;
	int err = 0;
	*size = 0;
	if (fstat(*sfd, &sb) < 0)
		err = fail(why, wl, -errno, "%s: %s", real, strerror(errno));
	else if (!S_ISREG(sb.st_mode) || sb.st_size <= 0 || (uint64_t)sb.st_size > MAX_SHIM_BYTES)
		err = fail(why, wl, -EINVAL, "%s: %s", real, "not a regular file of a shim's size");
	else
		*size = (uint64_t)sb.st_size;
	if (!err)
		err = hash_fd(*sfd, *size, real, hex, why, wl);
	if (err) {
		close(*sfd);
		*sfd = -1;
	}
	return err;
}

/* CACHE/shim/<hex>, CACHE and what is under it strictly ours (created as
 * needed), reached as dpath (PATH_MAX bytes). Its fd, or -errno with `why`. */
static int open_cache_dir(const char *cache, const char *hex, char *dpath, char *why, size_t wl)
{
	char cpath[PATH_MAX];
	int cfd = -1, sdfd = -1, hfd = -1, err = 0;
	size_t cl = strlen(cache);
	while (cl > 1 && cache[cl - 1] == '/')
		cl--;
	int dl = snprintf(dpath, PATH_MAX, "%.*s/shim/%s", (int)cl, cache, hex);
	if (cl >= sizeof(cpath) || dl < 0 || (size_t)dl >= PATH_MAX)
		return fail(why, wl, -ENAMETOOLONG, "%s: %s", cache, strerror(ENAMETOOLONG));
	memcpy(cpath, cache, cl);
	cpath[cl] = 0;
	cfd = walk_dirs(cpath, 1, 1, why, wl);
	if (cfd < 0)
		return cfd;
	struct statvfs vfs;
	if (fstatvfs(cfd, &vfs) == 0 && (vfs.f_flag & ST_NOEXEC)) {
		err = fail(why, wl, -EPERM, "%s: %s", cpath,
			   "is on a noexec mount (the dynamic loader could not map the shim there)");
		goto out;
	}
	char spath[PATH_MAX + 8];
	snprintf(spath, sizeof(spath), "%s/shim", cpath);
	if ((sdfd = sub_dir(cfd, "shim", spath, why, wl)) < 0 ||
	    (hfd = sub_dir(sdfd, hex, dpath, why, wl)) < 0)
		err = sdfd < 0 ? sdfd : hfd;
out:
	close(cfd);
	if (sdfd >= 0)
		close(sdfd);
	return err ? err : hfd;
}

int shim_place(const char *src, const char *cache, char *out, size_t out_len,
	       enum shim_placement *how, char *why, size_t wl)
{
	char real[PATH_MAX];
	if (!realpath(src, real))
		return fail(why, wl, -errno, "%s: %s", src, strerror(errno));
	char inplace_why[PATH_MAX + 128];
	if (usable_in_place(real, inplace_why, sizeof(inplace_why)) == 0) {
		if ((size_t)snprintf(out, out_len, "%s", real) >= out_len)
			return fail(why, wl, -ENAMETOOLONG, "%s: %s", real, strerror(ENAMETOOLONG));
		*how = SHIM_IN_PLACE;
		return 0;
	}
	const char *name = strrchr(real, '/') + 1;
	char hex[2 * VP_SHA256_LEN + 1], dpath[PATH_MAX];
	uint64_t size = 0;
	int sfd, err = open_source(real, &sfd, &size, hex, why, wl);
	if (err)
		return err;
	int hfd = open_cache_dir(cache, hex, dpath, why, wl);
	if (hfd < 0) {
		err = hfd;
	} else if (copy_matches(hfd, name, sfd, size)) {
		*how = SHIM_COPY_REUSED;
	} else if (!(err = write_copy(hfd, name, sfd, size, hex, dpath, why, wl))) {
		*how = SHIM_COPY_NEW;
	}
	if (!err && (size_t)snprintf(out, out_len, "%s/%s", dpath, name) >= out_len)
		err = fail(why, wl, -ENAMETOOLONG, "%s: %s", dpath, strerror(ENAMETOOLONG));
	close(sfd);
	if (hfd >= 0)
		close(hfd);
	return err;
}
