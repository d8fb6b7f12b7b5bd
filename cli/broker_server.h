/* SPDX-License-Identifier: MIT */
/*
 * broker: `vmaprof record` hands the shim its trace files (see
 * vmaprof/broker.h for the protocol and why).
 *
 * broker__start binds an abstract unix socket with a random name and
 * answers requests on a thread of its own until broker__stop. Promises:
 * only processes descending from this one are served; files are created
 * 0600 in `dirfd` only (never outside it), owned by `owner` when set.
 */
#ifndef VP_CLI_BROKER_H
#define VP_CLI_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "outfile.h"

struct broker;

struct broker_stats {
	uint64_t files;    /* trace files created */
	uint64_t reopens;  /* segment reopens served */
	uint64_t failed;   /* failure markers the shim asked for */
	uint64_t refused;  /* requests from outside the traced tree */
	uint64_t errors;   /* requests that failed here (openat, chown, send) */
};

/* 0 or -errno. `dirfd` stays the caller's. */
int broker__start(int dirfd, const struct out_owner *owner, struct broker **out);
/* The socket's abstract name (for VMAPROF_BROKER). */
const char *broker__name(const struct broker *b);
/* Stop answering, join the thread, free. `refused` gets up to *nrefused pids
 * that were refused (*nrefused is set to how many). Any argument but b may
 * be NULL. */
void broker__stop(struct broker *b, struct broker_stats *st, pid_t *refused, size_t *nrefused);

#endif
