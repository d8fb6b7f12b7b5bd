/* SPDX-License-Identifier: MIT */
/*
 * The trace-file broker protocol between `vmaprof record` (cli/broker_server.c)
 * and the shim (preload/broker_client.c).
 *
 * Why: the recorder often runs as root while traced processes drop their
 * privileges (su, setpriv, daemons' setuid). The trace directory is 0700
 * and its files 0600, so after a drop the shim can neither create nor
 * reopen its file. The recorder therefore listens on an abstract unix
 * socket (SOCK_SEQPACKET) named in VMAPROF_BROKER (the shim keeps it across
 * exec like every VMAPROF_* variable); the shim connects for each request,
 * the recorder checks the peer (SO_PEERCRED pid must descend from the
 * recorder: the traced tree), creates or reopens the file itself, and passes
 * the descriptor back with SCM_RIGHTS. No descriptor is kept open between
 * requests: programs that close every fd lose nothing.
 *
 * One request, one reply, one connection. Fixed-size messages.
 */
#ifndef VMAPROF_BROKER_H
#define VMAPROF_BROKER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define VP_BROKER_ENV "VMAPROF_BROKER"  /* abstract socket name, without the NUL */
/* The inode of the recorder's network namespace (abstract sockets are per
 * network namespace): a shim in the same one that finds nobody listening
 * knows the recording is over; one in another namespace cannot reach the
 * broker at all and opens its file by path instead. */
#define VP_BROKER_NETNS_ENV "VMAPROF_BROKER_NETNS"
#define VP_BROKER_MAGIC 0x4b52425650ull  /* "PVBRK" */

enum vp_broker_op {
	/* Create preload.<peer pid>.<ns>.vpt (O_EXCL, 0600); reply: its name + fd.
	 * <peer pid> is SO_PEERCRED's: the peer as the recorder's PID namespace
	 * numbers it, which is not the peer's own pid when the peer is in a
	 * namespace below it (its header says its own pid and namespace). */
	VP_BROKER_OPEN = 1,
	/* Reopen `arg`, a file this very pid was given; reply: fd. */
	VP_BROKER_REOPEN = 2,
	/* The shim cannot record: err (errno) and `arg` (what failed) go into
	 * preload.<peer pid>.failed, which the report turns into a reason. */
	VP_BROKER_FAILED = 3,
};

struct vp_broker_req {
	__u64 magic;
	__u32 op;      /* enum vp_broker_op */
	__s32 err;     /* VP_BROKER_FAILED: errno */
	char arg[240]; /* NUL-terminated */
};
_Static_assert(sizeof(struct vp_broker_req) == 256, "vp_broker_req size");

struct vp_broker_rep {
	__u64 magic;
	__s32 err;      /* 0, or the errno of the refusal/failure */
	__u32 _pad;
	char name[240]; /* VP_BROKER_OPEN: the file's name in the trace directory */
};
_Static_assert(sizeof(struct vp_broker_rep) == 256, "vp_broker_rep size");

#endif /* VMAPROF_BROKER_H */
