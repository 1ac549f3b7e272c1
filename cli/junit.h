/* SPDX-License-Identifier: MIT */
/* junit.h - a JUnit XML report of a pexos-run batch, for CI systems. */
#ifndef PEXOS_JUNIT_H
#define PEXOS_JUNIT_H

#include <stdio.h>

#include "pexos.h"

struct junit;

/* Starts a report that junit_finish() writes to `out` (borrowed; the caller
 * opens it early so that a bad path fails before any script runs, and closes
 * it). Test cases are kept in an anonymous temporary file meanwhile, since
 * the counts come first in the XML. Returns a new report (free with
 * junit_free) or NULL with errno set. */
struct junit *junit_new(FILE *out);

/* Frees `j`; NULL is allowed. */
void junit_free(struct junit *j);

/* Adds one test case: `name` (the script's path as given, any bytes), its
 * wall time, its response (compact JSON object text) and verdict, all
 * borrowed. A failure with exit code 1 is a <failure>, one with 2 or 3 (an
 * invalid request, pexos's own failure) an <error>. Returns 0 or -errno. */
int junit_add(struct junit *j, const char *name, double seconds,
	      const char *response, const pexos_outcome *oc);

/* Writes the whole report, `seconds` being the batch's wall time, and
 * flushes `out`. Returns 0 or -errno. */
int junit_finish(struct junit *j, double seconds);

#endif
