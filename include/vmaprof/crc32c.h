/* SPDX-License-Identifier: MIT */
/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * trace segments (record.h: VP_FH_SEGSUM). Header-only, for the shim, the
 * collector and the analyzer alike.
 *
 * Why CRC-32C and why our own: x86_64 computes it in hardware (SSE4.2
 * `crc32`, 8 bytes an instruction, ~8 GB/s here), which matters on the
 * shim's record path; zlib's crc32() is the other polynomial (CRC-32/IEEE,
 * no instruction for it) and linking zlib -- or any library -- into the
 * shim would load it into every traced process. The polynomial also
 * detects more: every burst up to 32 bits and all 1-3 bit errors in a
 * 1 MiB segment. ~40 lines, checked against the standard check value
 * ("123456789" -> 0xE3069283, tests/test_crc32c.c).
 */
#ifndef VMAPROF_CRC32C_H
#define VMAPROF_CRC32C_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t vp_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	static volatile int ready;
	if (!ready) {
		/* the same values whoever computes them: a benign race */
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
			table[i] = c;
		}
		ready = 1;
	}
	const unsigned char *p = (const unsigned char *)buf;
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

#if defined(__x86_64__)
/* glibc 2.33 and later: what its dynamic loader read of the CPU at start
 * (no cpuid instruction of ours); else one cpuid, below */
#if defined(__has_include) && __has_include(<sys/platform/x86.h>)
#include <sys/platform/x86.h>
#define VP_CPU_FROM_GLIBC 1
#else
#include <cpuid.h>
#endif

__attribute__((target("sse4.2"))) static inline uint32_t
vp_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	uint64_t c = ~crc;
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (len--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return ~c32;
}
#endif

/* CRC-32C of buf, continuing from crc (0 to start). */
static inline uint32_t vp_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	/* Asked the first time a checksum is computed, of what glibc's loader
	 * found at the process's start (CPU_FEATURE_ACTIVE); without it, one
	 * __get_cpuid (leaf 1, ECX bit 20). No cpuid instruction where glibc
	 * can say: each one traps to the hypervisor in a VM (the two of
	 * __get_cpuid were ~30 us of every traced process's exit on our test
	 * VM, bench/NOTES.md). Not __builtin_cpu_supports: that links libgcc's
	 * __cpu_indicator_init, a constructor running a dozen cpuid
	 * instructions in every traced process at start. */
	static int hw = -1;
	if (hw < 0) {
#ifdef VP_CPU_FROM_GLIBC
		hw = CPU_FEATURE_ACTIVE(SSE4_2) ? 1 : 0;
#else
		unsigned a, b, c, d;
		hw = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2) ? 1 : 0;
#endif
	}
	if (hw)
		return vp_crc32c_hw(crc, buf, len);
#endif
	return vp_crc32c_sw(crc, buf, len);
}

#endif /* VMAPROF_CRC32C_H */
