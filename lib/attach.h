/* SPDX-License-Identifier: MIT */
/*
 * attach.h - the output files and figures a run sends back (SPEC §3),
 * taken from the result channel.
 *
 * The channel is writable by the script, so nothing the runner says about
 * them is believed: every count, size, offset and path is checked again
 * against the plan's caps, paths by the same rules as input paths, figures
 * by their PNG header (whose width and height are read here, not taken
 * from the runner).
 */
#ifndef PEXOS_ATTACH_H
#define PEXOS_ATTACH_H

#include <jansson.h>
#include <stddef.h>

#include "plan.h"

struct attach {
	json_t *files;   /* the response's "files", or NULL */
	json_t *figures; /* the response's "figures", or NULL */
	json_int_t files_omitted;
	json_int_t figures_omitted;
};

/* Reads the attachment members of the runner's header `h` ("result_len",
 * "files", "files_omitted", "figures", "figures_omitted") over the bytes
 * that follow the header, body[0, len). Returns 1 with *a filled (release
 * with attach_done) and *ret_result_len the result's bytes at the start of
 * body; 0 when they are malformed or over a cap (the channel is then not
 * believed at all); -ENOMEM. */
int attach_take(const struct pexos_options *o, const struct run_plan *plan,
		const json_t *h, const char *body, size_t len,
		size_t *ret_result_len, struct attach *a);

void attach_done(struct attach *a);

#endif
