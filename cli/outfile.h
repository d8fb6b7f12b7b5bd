/* SPDX-License-Identifier: MIT */
/*
 * Files vmaprof writes, written safely when it runs as root.
 *
 * Promises:
 * - outdir_prepare() gives a directory fd that is ours: created by us
 *   (mkdir 0700), or an existing directory that is not a symlink, is owned
 *   by us (or by the user we hand the recording to) and is writable by
 *   nobody else. Anything else is refused with a one-line reason, before
 *   the command runs: a planted symlink, another user's directory, /tmp,
 *   a regular file, a directory we cannot write.
 * - outfile_begin()/outfile_commit() never write through a symlink
 *   and never leave a half-written file under the final name: they write a
 *   temporary file in the same directory (O_EXCL|O_NOFOLLOW, 0600), fsync
 *   it, rename it over the final name; on any failure the temporary file
 *   is removed and the error returned.
 */
#ifndef VP_OUTFILE_H
#define VP_OUTFILE_H

#include <stdio.h>
#include <sys/types.h>

struct out_owner {
	int set;   /* hand files to uid/gid (the user behind sudo) */
	uid_t uid;
	gid_t gid;
};

/* The user behind sudo when root runs us through it (like perf.data). */
struct out_owner out_owner_from_env(void);

/* Create or check `dir` (see above). 0 and *dirfd, or -errno with `why`.
 * *was_created (if not NULL): 1 when this call made the directory. */
int outdir_prepare(const char *dir, const struct out_owner *ow, int *dirfd, int *was_created,
		   char *why, size_t why_len);

/* A temporary file in dirfd for `name`: *tmp gets its name. */
struct outfile {
	int dirfd;
	char name[256];
	char tmp[300];
	FILE *f;
	int no_sync; /* set after outfile_begin: rename without fsync (a file
		      * only a crash of the recorder, not of the machine, must
		      * find: record's start marker) */
};
/* 0 or -errno. Files are 0600, owned per `ow`. */
int outfile_begin(struct outfile *o, int dirfd, const char *name, const struct out_owner *ow);
/* Flush, fsync (unless no_sync), rename over the final name. `failed`: the caller's own
 * writing failed (errno in *err): just clean up. 0 or -errno. */
int outfile_commit(struct outfile *o, int failed);

#endif
