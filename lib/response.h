/* SPDX-License-Identifier: MIT */
/* response.h - run outcome -> response JSON (SPEC §3). */
#ifndef PEXOS_RESPONSE_H
#define PEXOS_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pexos.h"

struct attach;

/* Captured output of one stream: at most `max` bytes kept. */
struct capture {
	char *data;
	size_t len;
	size_t alloc;
	size_t max;
	bool truncated;
};

/* Appends what fits; the rest is dropped and flagged. -ENOMEM on failure. */
int capture_append(struct capture *c, const char *buf, size_t n);
void capture_done(struct capture *c);

struct run_stats {
	uint64_t wall_ms;
	uint64_t cpu_ms;
	uint64_t max_rss_kb;
	uint64_t faults;     /* page faults during the run */
	const char *limits; /* limit mode in force, e.g. "cgroup-v1" */
	bool pooled;        /* ran in a warm sandbox of the pool */
	const char *profile; /* that sandbox's pool profile, or NULL */
	json_t *file_limits; /* borrowed: job_limits() of the run, or NULL */
};

/* What happened. type NULL means success with `result` (JSON text,
 * borrowed). Strings are borrowed. */
struct verdict {
	const char *type;
	const char *error;
	const char *traceback;
	const char *result;
	size_t result_len;
	bool ran;        /* the script started: stdout/stderr belong in it */
	const struct attach *attach; /* output files and figures, or NULL */
	int http_status; /* 0: the default for `type` */
};

/* Builds the response. out/err/stats may be NULL. On success returns 0 and
 * *ret is a new string (free()); -ENOMEM otherwise. `ret_outcome` may be
 * NULL. */
int response_build(const struct verdict *v, const struct capture *out,
		   const struct capture *err, const struct run_stats *stats,
		   char **ret, pexos_outcome *ret_outcome);

/* HTTP status and CLI exit code of a response type (NULL = success). */
int response_http_status(const char *type);
int response_exit_code(const char *type);

/* Finds the top-level member `key` of the JSON object text s[0, len) (as
 * written, so that numbers keep their spelling). Returns 0 and the value's
 * span [*ret_start, *ret_end), -ENOENT when there is no such member,
 * -EINVAL when s is not a JSON object, or -ENOMEM. */
int response_member_span(const char *s, size_t len, const char *key,
			 size_t *ret_start, size_t *ret_end);

#endif
