/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4), for naming the recorder's copy of the shim by its
 * content (shimcopy.c): a file is hashed as it is read, piece by piece.
 */
#ifndef VP_SHA256_H
#define VP_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define VP_SHA256_LEN 32

struct vp_sha256 {
	uint32_t h[8];
	uint64_t len;      /* bytes so far */
	uint8_t part[64];  /* the last block's bytes so far: len % 64 */
};

void vp_sha256_init(struct vp_sha256 *c);
void vp_sha256_update(struct vp_sha256 *c, const void *data, size_t n);
void vp_sha256_final(struct vp_sha256 *c, uint8_t out[VP_SHA256_LEN]);
/* the digest as 2 * VP_SHA256_LEN lowercase hex digits and a NUL */
void vp_sha256_final_hex(struct vp_sha256 *c, char out[2 * VP_SHA256_LEN + 1]);

#endif
