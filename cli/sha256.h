/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4), for naming the recorder's copy of the shim by its
 * content (shimcopy.c). Written for that one use: whole buffers, no
 * streaming across calls.
 */
#ifndef VP_SHA256_H
#define VP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define VP_SHA256_LEN 32

void vp_sha256(const void *data, size_t len, uint8_t out[VP_SHA256_LEN]);
/* out: 2 * VP_SHA256_LEN hex digits and a NUL */
void vp_sha256_hex(const void *data, size_t len, char out[2 * VP_SHA256_LEN + 1]);

#endif
