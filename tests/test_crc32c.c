/* SPDX-License-Identifier: MIT */
/*
 * include/vmaprof/crc32c.h against the standard check value of CRC-32C
 * ("123456789" -> 0xE3069283) and a bitwise reference, hardware and table
 * paths alike, whole and in pieces (the collector checksums a segment
 * record by record).
 */
#include <stdio.h>
#include <stdlib.h>

#include "vmaprof/crc32c.h"

static uint32_t reference(const unsigned char *p, size_t n)
{
	uint32_t c = ~0u;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return ~c;
}

int main(void)
{
	int bad = 0;
#define CHECK(c, ...) do { if (!(c)) { fprintf(stderr, __VA_ARGS__); bad = 1; } } while (0)
	CHECK(vp_crc32c(0, "123456789", 9) == 0xE3069283u, "check value\n");
	CHECK(vp_crc32c_sw(0, "123456789", 9) == 0xE3069283u, "check value (table)\n");
#if defined(__x86_64__)
	if (__builtin_cpu_supports("sse4.2"))
		CHECK(vp_crc32c_hw(0, "123456789", 9) == 0xE3069283u, "check value (sse4.2)\n");
#endif
	unsigned char buf[4099];
	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand();
	for (size_t n = 0; n < sizeof(buf); n += 1 + n / 3) {
		uint32_t want = reference(buf, n);
		CHECK(vp_crc32c(0, buf, n) == want, "length %zu\n", n);
		CHECK(vp_crc32c_sw(0, buf, n) == want, "length %zu (table)\n", n);
		size_t cut = n / 3;
		CHECK(vp_crc32c(vp_crc32c(0, buf, cut), buf + cut, n - cut) == want,
		      "length %zu in two pieces\n", n);
	}
	/* one flipped bit anywhere changes it */
	uint32_t base = vp_crc32c(0, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf) * 8; i += 7) {
		buf[i / 8] ^= (unsigned char)(1u << (i % 8));
		CHECK(vp_crc32c(0, buf, sizeof(buf)) != base, "flip %zu undetected\n", i);
		buf[i / 8] ^= (unsigned char)(1u << (i % 8));
	}
	if (!bad)
		printf("ok crc32c\n");
	return bad;
}
