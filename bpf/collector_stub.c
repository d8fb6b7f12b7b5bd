/* SPDX-License-Identifier: MIT */
/*
 * The collector API (collector.h) in a vmaprof built without BPF (meson
 * -Dbpf=disabled, or no clang/bpftool/libbpf at build time): every call says
 * it cannot, with the reason, so callers need no #if.
 */
#include "collector.h"

#include <errno.h>
#include <stdio.h>

int collector__new(const struct collector_opts *o, struct collector **out, char *why,
		   size_t why_len)
{
	(void)o;
	*out = NULL;
	if (why && why_len)
		snprintf(why, why_len, "this vmaprof was built without BPF support");
	return -ENOTSUP;
}

int collector__track(struct collector *c, pid_t root_pid)
{
	(void)c;
	(void)root_pid;
	return -ENOTSUP;
}

int collector__track_thread(struct collector *c, pid_t tid)
{
	(void)c;
	(void)tid;
	return -ENOTSUP;
}

int collector__announce_ns(struct collector *c)
{
	(void)c;
	return -ENOTSUP;
}

int collector__traced(struct collector *c, pid_t pid)
{
	(void)c;
	(void)pid;
	return -ENOTSUP;
}

void collector__observe(struct collector *c, void (*fn)(void *ctx, const struct vp_rec *h),
			void *ctx)
{
	(void)c;
	(void)fn;
	(void)ctx;
}

int collector__poll(struct collector *c, int timeout_ms)
{
	(void)c;
	(void)timeout_ms;
	return -ENOTSUP;
}

int collector__poll_sigmask(struct collector *c, int timeout_ms, const sigset_t *sigmask)
{
	(void)c;
	(void)timeout_ms;
	(void)sigmask;
	return -ENOTSUP;
}

int collector__finish(struct collector *c, struct collector_stats *st)
{
	(void)c;
	if (st)
		*st = (struct collector_stats){ 0 };
	return -ENOTSUP;
}

void collector__free(struct collector *c)
{
	(void)c;
}

int collector__prog_stats(struct collector *c, struct collector_prog_stat *out, int max)
{
	(void)c;
	(void)out;
	(void)max;
	return -ENOTSUP;
}

const char *collector__variant(const struct collector *c, const char **why)
{
	(void)c;
	*why = NULL;
	return "none";
}

const char *collector__syscall_hooks(const struct collector *c, const char **why)
{
	(void)c;
	*why = NULL;
	return "none";
}
