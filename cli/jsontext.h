/* SPDX-License-Identifier: MIT */
/* jsontext.h - work on JSON text without re-encoding its numbers. */
#ifndef PEXOS_JSONTEXT_H
#define PEXOS_JSONTEXT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Writes valid JSON text indented by two spaces per level. */
void jt_pretty(FILE *out, const char *s, size_t len);

/* Length of the well-formed UTF-8 sequence at s (1 to 4) with its code point
 * in *ret_cp, or 0 when s does not start one (stray or truncated bytes,
 * overlong forms, surrogates, values above U+10FFFF). len must be > 0. */
size_t jt_utf8_char(const char *s, size_t len, uint32_t *ret_cp);

/* Writes s (len bytes, any encoding) as a JSON string literal, each byte
 * that is not part of well-formed UTF-8 replaced by U+FFFD. */
void jt_write_string(FILE *out, const char *s, size_t len);

#endif
