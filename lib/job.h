/* SPDX-License-Identifier: MIT */
/*
 * job.h - what a run's runner.py reads at PROTO_FD_SCRIPT, cold or warm:
 * the script and, around it, the request's files, output patterns and the
 * caps of what it may send back.
 *
 * Layout (all numbers decimal ASCII, every field ended by a NUL byte; no
 * path or pattern holds a NUL, request.c saw to it):
 *
 *   JOB_MAGIC
 *   script_len  figures  figure_max  out_file_max  out_files_max  entries
 *   n_outputs   pattern * n_outputs
 *   n_files     (path, len) * n_files
 *   the script's bytes, then each file's bytes in order
 *
 * A file without the magic is a bare script (the pool's warm-up): no files,
 * no outputs, no figures. A script holds no NUL, so it cannot start so.
 */
#ifndef PEXOS_JOB_H
#define PEXOS_JOB_H

#include <jansson.h>

#include "plan.h"

#define JOB_MAGIC "\0pexos-job-1\0"
#define JOB_MAGIC_LEN 13

/* A sealed-size memory file (close-on-exec) holding the job of `plan`,
 * positioned at 0. Returns the fd or -errno. */
int job_memfd(const struct pexos_options *o, const struct run_plan *plan);

/* The bytes a run's result channel may carry (sandbox_result_init): the
 * header line, the result and every file and figure `plan` allows. */
size_t job_channel_max(const struct pexos_options *o,
		       const struct run_plan *plan);

/* The file and figure limits in force, as a new JSON object (NULL when out
 * of memory): the options' values, "figures" 0 when `plan` (may be NULL)
 * turned figures off. For pexos_check(), so also /health, and "stats". */
json_t *job_limits(const struct pexos_options *o, const struct run_plan *plan);

#endif
