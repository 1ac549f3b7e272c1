/* SPDX-License-Identifier: MIT */
/* request.h - request JSON -> validated run plan (SPEC §1). */
#ifndef PEXOS_REQUEST_H
#define PEXOS_REQUEST_H

#include <jansson.h>

#include "plan.h"

/* Why a request was refused: a message naming the field, and the HTTP
 * status (400, or 413 when something is too large). */
struct invalid {
	char message[480];
	int http_status;
};

/* Parses and validates `len` bytes of request JSON against the limits in
 * `opts`. Returns 0 with *plan filled (release with run_plan_done), 1 with
 * *inv filled when the request is invalid (nothing to run), or -ENOMEM. */
int request_parse(const struct pexos_options *opts, const char *buf, size_t len,
		  struct run_plan *plan, struct invalid *inv);

/* Fills *inv; returns 1 (invalid). */
__attribute__((format(printf, 3, 4))) int
request_invalid(struct invalid *inv, int status, const char *fmt, ...);

/* What is wrong with the path or output pattern p[0, len), in words:
 * NULL when it is relative, without NUL and without empty, "." or ".."
 * components (SPEC §1). Lengths are the caller's to check. */
const char *path_problem(const char *p, size_t len);

/* The fields "files" and "outputs" (request_files.c). Return 0, 1 with
 * *inv filled, or -ENOMEM; what they took is released by run_plan_done. */
int request_take_files(const json_t *v, const struct pexos_options *o,
		       struct run_plan *plan, struct invalid *inv);
int request_take_outputs(const json_t *v, struct run_plan *plan,
			 struct invalid *inv);

#endif
