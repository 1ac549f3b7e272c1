/* SPDX-License-Identifier: MIT */
/* error.h - pexos_error and one-line fail helpers. */
#ifndef PEXOS_ERROR_H
#define PEXOS_ERROR_H

#include <errno.h>

#include "pexos.h"

/* Fills `err` (may be NULL) and returns -code (or -EIO when code is 0).
 * Format the message as a sentence fragment naming what failed. */
__attribute__((format(printf, 4, 5))) int
pexos_fail(pexos_error *err, int code, const char *step, const char *fmt, ...);

/* Like pexos_fail, with ": <strerror(code)>" appended. */
__attribute__((format(printf, 4, 5))) int
pexos_fail_errno(pexos_error *err, int code, const char *step, const char *fmt,
		 ...);

/* Async-signal-safe variant for the sandbox child: no formatting beyond
 * concatenating `what`, `arg` (may be NULL) and the errno text.
 * Returns -1. */
int pexos_fail_child(pexos_error *err, int code, const char *step,
		      const char *what, const char *arg);

#endif
