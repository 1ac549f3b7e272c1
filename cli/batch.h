/* SPDX-License-Identifier: MIT */
/* batch.h - run several scripts at once, answer in JSON Lines. */
#ifndef PEXOS_BATCH_H
#define PEXOS_BATCH_H

#include <stddef.h>
#include <stdio.h>

#include "pexos.h"

/* Runs one file. Fills *ret_response with a new compact JSON object text
 * (freed by the caller with pexos_free) and *ret_outcome, or leaves
 * *ret_response NULL when out of memory. Called from several threads at
 * once. */
typedef void (*batch_run_fn)(void *userdata, const char *file,
			     char **ret_response, pexos_outcome *ret_outcome);

/* Seconds on the monotonic clock. */
double batch_clock(void);

/* Runs files[0, n) through `run` on `jobs` threads and prints one line per
 * file on stdout, in the order given, each as soon as it and all earlier ones
 * are done: the response with a "file" member first. Then a summary on
 * stderr and, when `junit` (borrowed, open for writing) is not NULL, a JUnit
 * report into it. Returns the exit status: 0 when every script succeeded,
 * else the highest per-script one; 3 also when stdout or the report could
 * not be written. */
int batch_main(const char *const *files, size_t n, unsigned jobs, FILE *junit,
	       batch_run_fn run, void *userdata);

#endif
