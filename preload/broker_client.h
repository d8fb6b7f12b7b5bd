/* SPDX-License-Identifier: MIT */
/*
 * broker: ask `vmaprof record` for a trace file (vmaprof/broker.h). Layer 1
 * of preload/ (see shim.c).
 *
 * Promises: raw system calls only (safe in constructors, fork children and
 * under the writer's lock), errno unchanged, no descriptor left open but
 * the one returned (O_CLOEXEC).
 */
#ifndef VP_PRELOAD_BROKER_H
#define VP_PRELOAD_BROKER_H

#include <stddef.h>
#include <stdint.h>

/* The socket name from VMAPROF_BROKER (NULL or empty: no broker). */
void broker__set(const char *name);
/* The recorder's network namespace (VP_BROKER_NETNS_ENV's value, or NULL). */
void broker__set_netns(const char *ino);
/* 1 when a request's result `err` (-errno) says the broker is gone: nobody
 * listens on its name although we share its network namespace -- the
 * recording has ended (or its recorder died). */
int broker__gone(int err);
int broker__available(void);
/* One request (enum vp_broker_op). OPEN/REOPEN: the descriptor (>= 0), and
 * for OPEN the file's name in `name`; FAILED: 0. -errno on failure:
 * -ENOSYS without a broker, -ECONNREFUSED/-ENOENT when it is gone,
 * -EPERM when it refused us. */
int broker__request(uint32_t op, int err, const char *arg, char *name, size_t name_cap);
/* broker__request in two halves, so the caller can work while the broker
 * does: _begin sends the request (the socket, >= 0, or -errno as
 * broker__request says it), _end waits for the answer on that socket and
 * closes it (what broker__request returns; a negative `s` is returned as
 * is). */
int broker__begin(uint32_t op, int err, const char *arg);
int broker__end(int s, uint32_t op, char *name, size_t name_cap);

#endif
