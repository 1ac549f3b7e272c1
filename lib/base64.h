/* SPDX-License-Identifier: MIT */
/* base64.h - RFC 4648 base64, the standard alphabet with padding: the
 * encoding of binary file contents in requests and responses (SPEC §1, §3).
 * Self-contained: pexos-run compiles it too. */
#ifndef PEXOS_BASE64_H
#define PEXOS_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Characters b64_encode writes for `len` bytes, without the NUL. */
size_t b64_encoded_len(size_t len);

/* Encodes src[0, len) into dst, which holds b64_encoded_len(len) + 1
 * bytes; NUL-terminates it. */
void b64_encode(const unsigned char *src, size_t len, char *dst);

/* Decodes s[0, len) into dst, which holds at least len / 4 * 3 bytes.
 * Strict: length a multiple of 4, padding only at the end, no white space,
 * no other characters. Returns true with *ret_len set, false when `s` is
 * not such base64. */
bool b64_decode(const char *s, size_t len, unsigned char *dst,
		size_t *ret_len);

#endif
