/* SPDX-License-Identifier: MIT */
/*
 * The one clock: CLOCK_MONOTONIC in nanoseconds, what every record's
 * time_ns is (the BPF side's bpf_ktime_get_ns reads the same clock), so the
 * shim's, the kernel collector's and the recorder's times compare directly.
 */
#ifndef VMAPROF_CLOCK_H
#define VMAPROF_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t vp_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no system call */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
