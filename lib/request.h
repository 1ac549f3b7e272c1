/* SPDX-License-Identifier: MIT */
/* request.h - request JSON -> validated run plan (SPEC §1). */
#ifndef PEXOS_REQUEST_H
#define PEXOS_REQUEST_H

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

#endif
