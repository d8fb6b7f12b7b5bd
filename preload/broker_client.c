/* SPDX-License-Identifier: MIT */
/*
 * The shim's side of the trace-file broker (protocol: vmaprof/broker.h).
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

#include "rawsys.h"
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

int broker__request(uint32_t op, int err, const char *arg, char *name, size_t name_cap)
{
	if (!sock_len)
		return -ENOSYS;
	int e = errno, ret;
	long s = SYS3(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0) {
		ret = -errno;
		errno = e;
		return ret;
	}
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path + 1, sock_name, sock_len);
	socklen_t sl = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sock_len);
	struct vp_broker_req rq;
	struct vp_broker_rep rp;
	memset(&rq, 0, sizeof(rq));
	rq.magic = VP_BROKER_MAGIC;
	rq.op = op;
	rq.err = err;
	if (arg) {
		size_t l = strnlen(arg, sizeof(rq.arg) - 1);
		memcpy(rq.arg, arg, l);
	}
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cm;
	memset(&cm, 0, sizeof(cm));
	struct iovec iov = { &rp, sizeof(rp) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
			     .msg_controllen = sizeof(cm.b) };
	ret = -EPROTO;
	if (SYS3(SYS_connect, s, &sa, sl) < 0) {
		ret = -errno;
		goto out;
	}
	if (SYS6(SYS_sendto, s, &rq, sizeof(rq), MSG_NOSIGNAL, NULL, 0) != (long)sizeof(rq)) {
		ret = -errno;
		goto out;
	}
	long n;
	do
		n = SYS3(SYS_recvmsg, s, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	int fd = -1;
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
		    h->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(h), sizeof(int));
	if (n != (long)sizeof(rp) || rp.magic != VP_BROKER_MAGIC) {
		if (fd >= 0)
			SYS1(SYS_close, fd);
		goto out;
	}
	if (rp.err) {
		if (fd >= 0)
			SYS1(SYS_close, fd);
		ret = -rp.err;
		goto out;
	}
	if (op == VP_BROKER_FAILED) {
		ret = 0;
		goto out;
	}
	if (fd < 0)
		goto out; /* -EPROTO: an answer without a descriptor */
	if (name && name_cap) {
		size_t l = strnlen(rp.name, sizeof(rp.name) - 1);
		if (l >= name_cap)
			l = name_cap - 1;
		memcpy(name, rp.name, l);
		name[l] = 0;
	}
	ret = fd;
out:
	SYS1(SYS_close, s);
	errno = e;
	return ret;
}
