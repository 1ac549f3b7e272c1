/* SPDX-License-Identifier: MIT */
/*
 * jalloc.h - tell an out-of-memory failure of jansson from bad input.
 *
 * jansson reports a failed allocation inside the parser as a syntax error
 * as often as not, which would turn memory pressure into InvalidRequest
 * answers. pexos gives jansson an allocator that notes failures in a
 * thread-local flag, installed once and only if the program kept jansson's
 * default (malloc/free), so a host program's own allocator is never
 * replaced.
 */
#ifndef PEXOS_JALLOC_H
#define PEXOS_JALLOC_H

#include <stdbool.h>
#include <stddef.h>

void jalloc_install(void);

/* Clears this thread's flag. */
void jalloc_reset(void);

/* True if an allocation by jansson failed on this thread since the reset. */
bool jalloc_failed(void);

/* The allocator behind the wrapper: malloc, or a failing one in tests. */
extern void *(*jalloc_backend)(size_t);

#endif
