/* SPDX-License-Identifier: MIT */
/*
 * The shim's side of the trace-file broker (protocol: vmaprof/broker.h).
 * Layer 1 of preload/ (see shim.c): no other file of the shim (vmaprof/rawsys.h is shared).
 *
 * Raw system calls only: this runs in constructors, in fork children
 * inside pthread_atfork handlers and under the writer's segment lock, where
 * neither malloc nor our own interposers may be entered. The connection is
 * opened and closed per request, so nothing of ours stays in the fd table.
 */
#include "broker_client.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include "vmaprof/rawsys.h"
#include "vmaprof/broker.h"

static char sock_name[108];
static size_t sock_len;

void broker__set(const char *name)
{
	size_t l = name ? strlen(name) : 0;
	if (!l || l >= sizeof(sock_name) - 1) {
		sock_len = 0;
		return;
	}
	memcpy(sock_name, name, l);
	sock_len = l;
}

int broker__available(void)
{
	return sock_len != 0;
}

static char netns_link[40]; /* "net:[<inode>]", as /proc/self/ns/net reads */

void broker__set_netns(const char *ino)
{
	netns_link[0] = 0;
	if (!ino || !*ino || strspn(ino, "0123456789") != strlen(ino) || strlen(ino) > 20 ||
	    !strcmp(ino, "0"))
		return;
	memcpy(netns_link, "net:[", 5);
	size_t l = strlen(ino);
	memcpy(netns_link + 5, ino, l);
	netns_link[5 + l] = ']';
	netns_link[6 + l] = 0;
}

int broker__gone(int err)
{
	if (!sock_len || !netns_link[0] || err != -ECONNREFUSED)
		return 0;
	char b[sizeof(netns_link)];
	long n = SYS3(SYS_readlink, "/proc/self/ns/net", b, sizeof(b) - 1);
	return n > 0 && (size_t)n == strlen(netns_link) && !memcmp(b, netns_link, (size_t)n);
}

/* The request as the broker reads it. */
static void make_request(struct vp_broker_req *rq, uint32_t op, int err, const char *arg)
{
	memset(rq, 0, sizeof(*rq));
	rq->magic = VP_BROKER_MAGIC;
	rq->op = op;
	rq->err = err;
	if (arg) {
		size_t l = strnlen(arg, sizeof(rq->arg) - 1);
		memcpy(rq->arg, arg, l);
	}
}

/* Connect socket s to the broker and send rq. 0, or -errno. */
static long send_request(long s, const struct vp_broker_req *rq)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, sock_name, sock_len);
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sock_len);
	if (SYS3(SYS_connect, s, &sa, sl) < 0 ||
	    SYS6(SYS_sendto, s, rq, sizeof(*rq), MSG_NOSIGNAL, NULL, 0) != (long)sizeof(*rq))
		return -errno;
	return 0;
}

/* Receive the reply to a request sent on s into rp, the descriptor passed
 * with it into *fd (-1: none). 1 when a reply came (*n: its length); else
 * 0 and *n is -errno. */
static int receive_reply(long s, struct vp_broker_rep *rp, int *fd, long *n)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct iovec iov = { rp, sizeof(*rp) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof(cm.b) };
	*fd = -1;
	do
		*n = SYS3(SYS_recvmsg, s, &mh, MSG_CMSG_CLOEXEC);
	while (*n < 0 && errno == EINTR);
	if (*n < 0) {
		*n = -errno;
		return 0;
	}
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
		    h->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(h), sizeof(int));
	return 1;
}

/* What the broker's reply (n bytes, descriptor fd) to `op` says: the
 * descriptor (its file's name into `name`), 0 for FAILED, or -errno (a
 * descriptor that came with a refusal or a garbled reply is closed). */
static int answer(uint32_t op, const struct vp_broker_rep *rp, long n, int fd, char *name,
		  size_t name_cap)
{
	if (n != (long)sizeof(*rp) || rp->magic != VP_BROKER_MAGIC) {
		if (fd >= 0)
			SYS1(SYS_close, fd);
		return -EPROTO;
	}
	if (rp->err) {
		if (fd >= 0)
			SYS1(SYS_close, fd);
		return -rp->err;
	}
	if (op == VP_BROKER_FAILED)
		return 0;
	if (fd < 0)
		return -EPROTO; /* an answer without a descriptor */
	if (name && name_cap) {
		size_t l = strnlen(rp->name, sizeof(rp->name) - 1);
		if (l >= name_cap)
			l = name_cap - 1;
		memcpy(name, rp->name, l);
		name[l] = 0;
	}
	return fd;
}

int broker__begin(uint32_t op, int err, const char *arg)
{
	if (!sock_len)
		return -ENOSYS;
	int e = errno;
	long s = SYS3(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0) {
		int ret = -errno;
		errno = e;
		return ret;
	}
	struct vp_broker_req rq;
	make_request(&rq, op, err, arg);
	long r = send_request(s, &rq);
	if (r < 0)
		SYS1(SYS_close, s);
	errno = e;
	return r < 0 ? (int)r : (int)s;
}

int broker__end(int s, uint32_t op, char *name, size_t name_cap)
{
	if (s < 0)
		return s;
	int e = errno, fd, ret;
	struct vp_broker_rep rp;
	long n;
	if (receive_reply(s, &rp, &fd, &n))
		ret = answer(op, &rp, n, fd, name, name_cap);
	else
		ret = (int)n;
	SYS1(SYS_close, s);
	errno = e;
	return ret;
}

int broker__request(uint32_t op, int err, const char *arg, char *name, size_t name_cap)
{
	return broker__end(broker__begin(op, err, arg), op, name, name_cap);
}
