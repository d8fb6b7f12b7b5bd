/* SPDX-License-Identifier: MIT */
/*
 * The recorder's side of the trace-file broker (protocol: vmaprof/broker.h).
 *
 * One thread answers one connection at a time: a request is a few system
 * calls (a /proc read per ancestor, an openat, a sendmsg), tens of
 * microseconds, and the shim waits for its answer anyway. A peer that
 * sends nothing is dropped after a second (SO_RCVTIMEO), so no process can
 * stall the others for long.
 *
 * Who is served: a peer whose SO_PEERCRED pid descends from the recorder
 * (the /proc/PID/stat ppid chain reaches us). The recorder starts only the
 * command and is its tree's child subreaper, so that is exactly the traced
 * tree, daemonised grandchildren included. Anyone else is refused and
 * counted (session.json: collectors.preload.broker). Pids are our PID
 * namespace's: SO_PEERCRED and our /proc number a peer in a namespace
 * below ours (a container the traced program made) as we see it, so the
 * check and the file names hold there too; a peer we cannot see at all
 * has pid 0 and is refused.
 *
 * What is created: openat(dirfd, "preload.<pid>.<ns>.vpt",
 * O_CREAT|O_EXCL|O_NOFOLLOW, 0600), owned by `owner` (SUDO_UID/SUDO_GID when
 * root ran us through sudo, like perf.data). A peer may reopen only a file
 * named after its own pid; the name is checked character by character
 * (no '/', no "..") and opened O_NOFOLLOW, so no request reaches outside
 * the trace directory.
 *
 * Made ahead: between requests the thread keeps a few files ready under
 * hidden names (".pool.<n>", empty, which the analyzer does not read); a
 * request renames one to the requester's name.
 * Creating an inode is the dear part of a trace file's start (on ext4
 * 0.25-0.3 ms where many files were deleted recently, against ~25 us for
 * the rename: bench/NOTES.md), and a short process waits for it; made
 * ahead, it is done while the traced program runs. A file system that
 * cannot rename without replacing (RENAME_NOREPLACE) gets the files made
 * on request, as before. broker__stop removes what is left.
 */
#include "broker_server.h"
#include "procfs.h"
#include "vmaprof/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vmaprof/broker.h"

#define MAX_REFUSED 64
#define POOL 8 /* files made ahead */

struct broker {
	int lfd, dirfd;
	pid_t self;
	uid_t uid;
	gid_t gid;
	int chown_files;
	pthread_t thr;
	int running;
	char name[64];
	struct broker_stats st;
	pid_t refused[MAX_REFUSED];
	int pool_fd[POOL];        /* files made ahead */
	uint64_t pool_id[POOL];   /* ...their ".pool.<n>" names */
	unsigned pool_n;
	uint64_t pool_next;       /* the next name's n */
	int pool_off;             /* renames fail here: make files on request */
};

static void pool_name(char *buf, size_t cap, uint64_t id)
{
	snprintf(buf, cap, ".pool.%llu", (unsigned long long)id);
}

/* 1 when `pid` descends from the recorder. */
static int in_tree(const struct broker *b, pid_t pid)
{
	return procfs_descends(pid, b->self);
}

/* "preload.<pid>.<digits>.vpt" with <pid> the peer's own. */
static int own_trace_name(const char *n, pid_t pid)
{
	char pre[32];
	int l = snprintf(pre, sizeof(pre), "preload.%d.", (int)pid);
	if (strncmp(n, pre, (size_t)l) != 0)
		return 0;
	const char *p = n + l;
	if (*p < '0' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return strcmp(p, ".vpt") == 0;
}

static void own_file(struct broker *b, int fd)
{
	if (b->chown_files && fchown(fd, b->uid, b->gid) < 0)
		b->st.errors++;
}

/* Make one file ahead (the thread, between requests). */
static void pool_fill(struct broker *b)
{
	char name[32];
	uint64_t id = b->pool_next++;
	pool_name(name, sizeof(name), id);
	int fd = openat(b->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		b->pool_off = 1; /* it will fail on request too, and say why */
		return;
	}
	own_file(b, fd); /* empty: the shim reserves its blocks itself */
	b->pool_fd[b->pool_n] = fd;
	b->pool_id[b->pool_n++] = id;
}

/* A file made ahead, renamed to `name`: its fd, or -1 (none left, or the
 * rename failed: the pool is then given up). */
static int pool_take(struct broker *b, const char *name)
{
	if (!b->pool_n)
		return -1;
	char old[32];
	int fd = b->pool_fd[--b->pool_n];
	pool_name(old, sizeof(old), b->pool_id[b->pool_n]);
	if (renameat2(b->dirfd, old, b->dirfd, name, RENAME_NOREPLACE) == 0)
		return fd;
	if (errno != EEXIST)
		b->pool_off = 1;
	close(fd);
	unlinkat(b->dirfd, old, 0);
	return -1;
}

/* Remove the files made ahead and not handed out. */
static void pool_drain(struct broker *b)
{
	char name[32];
	for (unsigned i = 0; i < b->pool_n; i++) {
		close(b->pool_fd[i]);
		pool_name(name, sizeof(name), b->pool_id[i]);
		unlinkat(b->dirfd, name, 0);
	}
	b->pool_n = 0;
}

static int do_open(struct broker *b, pid_t pid, char *name, size_t cap)
{
	for (int tries = 0; tries < 8; tries++) {
		snprintf(name, cap, "preload.%d.%llu.vpt", (int)pid,
			 (unsigned long long)vp_mono_ns());
		int fd = pool_take(b, name); /* a pool file is owned already */
		if (fd < 0 && (fd = openat(b->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
					   O_CLOEXEC, 0600)) >= 0)
			own_file(b, fd);
		if (fd >= 0) {
			b->st.files++;
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

static int do_reopen(struct broker *b, pid_t pid, const char *name)
{
	if (!own_trace_name(name, pid))
		return -EPERM;
	int fd = openat(b->dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
		close(fd);
		return -EPERM;
	}
	b->st.reopens++;
	return fd;
}

/* preload.<pid>.failed, holding one line: what failed and why. */
static void do_failed(struct broker *b, pid_t pid, int err, const char *what)
{
	char name[64], line[512];
	snprintf(name, sizeof(name), "preload.%d.failed", (int)pid);
	int fd = openat(b->dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			0600);
	if (fd < 0) {
		b->st.errors++;
		return;
	}
	own_file(b, fd);
	int n = snprintf(line, sizeof(line), "%s: %s\n", what, strerror(err));
	if (n > 0 && write(fd, line, (size_t)n) != n)
		b->st.errors++;
	close(fd);
	b->st.failed++;
}

static void serve(struct broker *b, int c)
{
	struct vp_broker_req rq;
	struct vp_broker_rep rp;
	memset(&rp, 0, sizeof(rp));
	rp.magic = VP_BROKER_MAGIC;
	ssize_t n = recv(c, &rq, sizeof(rq), 0);
	if (n != (ssize_t)sizeof(rq) || rq.magic != VP_BROKER_MAGIC)
		return;
	rq.arg[sizeof(rq.arg) - 1] = 0;
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.pid <= 0 ||
	    !in_tree(b, cr.pid)) {
		b->st.refused++;
		if (b->st.refused <= MAX_REFUSED)
			b->refused[b->st.refused - 1] = cr.pid;
		rp.err = EPERM;
		send(c, &rp, sizeof(rp), MSG_NOSIGNAL);
		return;
	}
	int fd = -1;
	switch (rq.op) {
	case VP_BROKER_OPEN:
		fd = do_open(b, cr.pid, rp.name, sizeof(rp.name));
		break;
	case VP_BROKER_REOPEN:
		fd = do_reopen(b, cr.pid, rq.arg);
		break;
	case VP_BROKER_FAILED:
		do_failed(b, cr.pid, rq.err, rq.arg);
		send(c, &rp, sizeof(rp), MSG_NOSIGNAL);
		return;
	default:
		fd = -EINVAL;
	}
	if (fd < 0) {
		rp.err = -fd;
		b->st.errors++;
		send(c, &rp, sizeof(rp), MSG_NOSIGNAL);
		return;
	}
	struct iovec iov = { &rp, sizeof(rp) };
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof(cm.b) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &fd, sizeof(int));
	if (sendmsg(c, &mh, MSG_NOSIGNAL) < 0)
		b->st.errors++;
	close(fd);
}

static void *loop(void *arg)
{
	struct broker *b = arg;
	for (;;) {
		/* nobody waiting: make a file ahead */
		if (b->pool_n < POOL && !b->pool_off) {
			struct pollfd p = { .fd = b->lfd, .events = POLLIN };
			if (poll(&p, 1, 0) == 0) {
				pool_fill(b);
				continue;
			}
		}
		int c = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* shut down by broker__stop */
		}
		struct timeval tv = { 1, 0 };
		setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		serve(b, c);
		close(c);
	}
	return NULL;
}

int broker__start(int dirfd, const struct out_owner *owner, struct broker **out)
{
	*out = NULL;
	struct broker *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->dirfd = dirfd;
	b->self = getpid();
	if (owner) {
		b->chown_files = owner->set;
		b->uid = owner->uid;
		b->gid = owner->gid;
	}
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t t = vp_mono_ns();
		memcpy(rnd, &t, sizeof(rnd));
	}
	int l = snprintf(b->name, sizeof(b->name), "vmaprof-%d-", (int)b->self);
	for (int i = 0; i < 8; i++)
		l += snprintf(b->name + l, sizeof(b->name) - (size_t)l, "%02x", rnd[i]);
	b->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (b->lfd < 0) {
		int e = errno;
		free(b);
		return -e;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path + 1, b->name, (size_t)l); /* abstract: sun_path[0] == 0 */
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)l);
	int err = 0;
	if (bind(b->lfd, (struct sockaddr *)&sa, sl) < 0 || listen(b->lfd, 128) < 0)
		err = -errno;
	else {
		/* the thread starts with every signal blocked: the recorder's
		 * (SIGTERM/SIGHUP to forward) are the main thread's business */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		err = -pthread_create(&b->thr, NULL, loop, b);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		b->running = !err;
	}
	if (err) {
		close(b->lfd);
		free(b);
		return err;
	}
	*out = b;
	return 0;
}

const char *broker__name(const struct broker *b)
{
	return b->name;
}

void broker__stop(struct broker *b, struct broker_stats *st, pid_t *refused, size_t *nrefused)
{
	if (!b)
		return;
	if (b->running) {
		/* wakes the accept (EINVAL) */
		shutdown(b->lfd, SHUT_RDWR);
		pthread_join(b->thr, NULL);
	}
	pool_drain(b);
	close(b->lfd);
	if (st)
		*st = b->st;
	if (refused && nrefused) {
		size_t n = b->st.refused < MAX_REFUSED ? b->st.refused : MAX_REFUSED;
		if (n > *nrefused)
			n = *nrefused;
		memcpy(refused, b->refused, n * sizeof(*refused));
		*nrefused = n;
	}
	free(b);
}
