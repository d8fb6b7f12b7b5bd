/* SPDX-License-Identifier: MIT */
/*
 * libunwind's memory validation pipe: hooks (layer 6 of preload/, see
 * shim.c) of pipe2, read, write and close, calling down into core.
 *
 * When a frame's DWARF info is missing, libunwind 1.6 validates addresses
 * by write(2)-ing them into a pipe it keeps open for the life of the
 * process. A program that closes every descriptor (daemons do) takes those
 * numbers away; libunwind then reads from, writes bytes of memory into and
 * closes whatever file the program opened under the same number (test
 * 'closefds' reproduces it). So libunwind never gets a real pipe: inside a
 * hook, pipe2 hands it two descriptors that cannot exist, and read, write
 * and close of exactly those two are answered here -- write validates the
 * address with process_vm_readv on ourselves, which uses no descriptor.
 * Every other call goes straight to libc. */
#include "unwind_pipe.h"

#include <errno.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core.h"
#include "seccomp.h"

#define EXPORT __attribute__((visibility("default")))
#define UNLIKELY(x) __builtin_expect(!!(x), 0)

#define FAKE_FD_RD (-1000)
#define FAKE_FD_WR (-1001)
#define IS_FAKE(fd) ((fd) == FAKE_FD_RD || (fd) == FAKE_FD_WR)

EXPORT int pipe2(int fds[2], int flags)
{
	if (in_hook) {
		fds[0] = FAKE_FD_RD;
		fds[1] = FAKE_FD_WR;
		return 0;
	}
	return core__real_pipe2(fds, flags);
}

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (UNLIKELY(IS_FAKE(fd))) {
		errno = EAGAIN; /* an empty, healthy pipe */
		return -1;
	}
	return core__real_read(fd, buf, n);
}

/* What write(2) of one byte at buf into a pipe would say. */
static ssize_t fake_write(const void *buf, size_t n)
{
	if (!sc__ok(SC_GETPID) || !sc__ok(SC_PROCESS_VM_READV)) {
		errno = EFAULT; /* a seccomp filter would refuse the check: say invalid */
		return -1;
	}
	char byte;
	struct iovec local = { &byte, 1 }, remote = { (void *)buf, 1 };
	long pid = SYS0(SYS_getpid);
	if (SYS6(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0) == 1)
		return (ssize_t)(n ? 1 : 0);
	errno = EFAULT;
	return -1;
}

EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (UNLIKELY(IS_FAKE(fd)))
		return fake_write(buf, n);
	return core__real_write(fd, buf, n);
}

EXPORT int close(int fd)
{
	if (UNLIKELY(IS_FAKE(fd)))
		return 0;
	return core__real_close(fd);
}

int unwind_pipe__is_fake(int fd)
{
	return IS_FAKE(fd);
}

/* syscall(SYS_read/write/close, fake fd, ...) as libunwind makes them. */
long unwind_pipe__syscall(long nr, int fd, const void *buf, size_t n)
{
	(void)fd;
	if (nr == SYS_write)
		return fake_write(buf, n);
	if (nr == SYS_read) {
		errno = EAGAIN;
		return -1;
	}
	return 0; /* close */
}
