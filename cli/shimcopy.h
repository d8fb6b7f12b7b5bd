/* SPDX-License-Identifier: MIT */
/*
 * A shim every process of the traced tree can load, whoever it becomes.
 *
 * A process that drops privileges (su, setpriv, a daemon's setuid) loads
 * LD_PRELOAD's shim as its new user at its next exec. A shim inside a 0700
 * directory (a build in /root, in a home) is then out of its reach, and
 * ld.so ignores it: that process and everything it runs have no stacks.
 *
 * Promises (recorder running as root; otherwise nothing here is used):
 * - shim_place() returns a path every user can open, that only root can
 *   replace: the shim where it is, if every directory from / down to it
 *   belongs to root, is searchable by all and writable by nobody else (a
 *   sticky directory such as /tmp counts as not writable: its root-owned
 *   entries cannot be replaced), and the file itself is root's, readable
 *   by all and writable by nobody else (an installed copy);
 * - else a copy in CACHE/shim/<sha-256 of its bytes>/libvmaprof-preload.so,
 *   where every existing directory of CACHE passes the same checks and
 *   each one created is root's, 0755; CACHE and the shim/<hash>
 *   directories must not be writable by anyone else (not even sticky);
 *   the file name stays the shim's, so reports name the module as before;
 * - a copy already there is used only if it is a regular root-owned file
 *   (0644-like), not a symlink, byte for byte the shim: it is reused across
 *   recordings; anything else is replaced. A copy is written to a fresh
 *   name (O_CREAT|O_EXCL|O_NOFOLLOW, 0644), fsync'd and renamed over the
 *   final name, so a concurrent recorder or a crash never exposes a partial
 *   file; components are opened one by one with O_NOFOLLOW from /, so a
 *   symlink anywhere is refused, never followed;
 * - a CACHE on a noexec mount is refused (ld.so could not map the copy);
 * - on any refusal the caller gets the reason, and the shim where it is.
 */
#ifndef VP_SHIMCOPY_H
#define VP_SHIMCOPY_H

#include <stddef.h>

enum shim_placement {
	SHIM_IN_PLACE,    /* safe for every user where it is */
	SHIM_COPY_NEW,    /* copied into the cache now */
	SHIM_COPY_REUSED, /* the cache had it */
};

/* `src`: the shim found; `cache`: an absolute directory. 0 with `out` (and
 * *how), or -errno with `why` (the caller keeps `src`). */
int shim_place(const char *src, const char *cache, char *out, size_t out_len,
	       enum shim_placement *how, char *why, size_t why_len);

#endif
