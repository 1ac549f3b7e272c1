/* SPDX-License-Identifier: MIT */
/* jsontext.h - work on JSON text without re-encoding its numbers. */
#ifndef PEXOS_JSONTEXT_H
#define PEXOS_JSONTEXT_H

#include <stddef.h>
#include <stdio.h>

/* Index just past the JSON value starting at s[i] (s is valid JSON). */
size_t jt_skip_value(const char *s, size_t len, size_t i);

/* Writes valid JSON text indented by two spaces per level. */
void jt_pretty(FILE *out, const char *s, size_t len);

#endif
