/* SPDX-License-Identifier: MIT */
#include "request.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "jalloc.h"
#include "util.h"

/* Smallest memory limit a request may ask for: below it the interpreter
 * cannot start, and the answer would be a confusing MemoryLimit. */
#define MEMORY_MB_MIN 16

int request_invalid(struct invalid *inv, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(inv->message, sizeof(inv->message), fmt, ap);
	va_end(ap);
	inv->http_status = status;
	return 1;
}

static const char *json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	default:
		return "a value";
	}
}

/* A string field of at most `max` bytes; NUL allowed only if `allow_nul`. */
static int take_string(const json_t *v, const char *name, uint64_t max,
		       bool allow_nul, char **ret, size_t *ret_len,
		       struct invalid *inv)
{
	size_t len;
	char *copy;

	if (!json_is_string(v))
		return request_invalid(inv, 400,
				       "field '%s' must be a string, got %s",
				       name, json_kind(v));
	len = json_string_length(v);
	if (len > max)
		return request_invalid(
		    inv, 413,
		    "field '%s' is %zu bytes, over the limit of "
		    "%" PRIu64 " bytes",
		    name, len, max);
	if (!allow_nul && memchr(json_string_value(v), '\0', len))
		return request_invalid(inv, 400,
				       "field '%s' contains a NUL byte", name);
	copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, json_string_value(v), len);
	*ret = copy;
	*ret_len = len;
	return 0;
}

static int take_timeout(const json_t *v, const struct pexos_options *o,
			struct run_plan *plan, struct invalid *inv)
{
	double s;

	if (!json_is_number(v))
		return request_invalid(
		    inv, 400,
		    "field 'timeout' must be a number of seconds, "
		    "got %s",
		    json_kind(v));
	s = json_number_value(v);
	if (!isfinite(s) || s <= 0 || s * 1000.0 > (double)o->wall_ms)
		return request_invalid(
		    inv, 400,
		    "field 'timeout' must be > 0 and at most the "
		    "server's limit of %g s, got %g",
		    (double)o->wall_ms / 1000.0, s);
	plan->wall_ms = (uint64_t)ceil(s * 1000.0);
	return 0;
}

static int take_memory(const json_t *v, const struct pexos_options *o,
		       struct run_plan *plan, struct invalid *inv)
{
	json_int_t mb;

	if (!json_is_integer(v))
		return request_invalid(
		    inv, 400,
		    "field 'memory_mb' must be an integer number of "
		    "MiB, got %s",
		    json_kind(v));
	mb = json_integer_value(v);
	if (mb < MEMORY_MB_MIN || (uint64_t)mb > o->memory_mb)
		return request_invalid(
		    inv, 400,
		    "field 'memory_mb' must be between %d and the "
		    "server's limit of %" PRIu64 ", got %" JSON_INTEGER_FORMAT,
		    MEMORY_MB_MIN, o->memory_mb, mb);
	plan->memory_mb = (uint64_t)mb;
	return 0;
}

static int take_bool(const json_t *v, const char *name, bool *ret,
		     struct invalid *inv)
{
	if (!json_is_boolean(v))
		return request_invalid(inv, 400,
				       "field '%s' must be a boolean, got %s",
				       name, json_kind(v));
	*ret = json_is_true(v);
	return 0;
}

static int take_field(const char *key, const json_t *v,
		      const struct pexos_options *o, struct run_plan *plan,
		      struct invalid *inv)
{
	if (strcmp(key, "script") == 0)
		return take_string(v, "script", o->script_max, false,
				   &plan->script, &plan->script_len, inv);
	if (strcmp(key, "stdin") == 0)
		return take_string(v, "stdin", o->stdin_max, true,
				   &plan->stdin_data, &plan->stdin_len, inv);
	if (strcmp(key, "timeout") == 0)
		return take_timeout(v, o, plan, inv);
	if (strcmp(key, "memory_mb") == 0)
		return take_memory(v, o, plan, inv);
	if (strcmp(key, "files") == 0)
		return request_take_files(v, o, plan, inv);
	if (strcmp(key, "outputs") == 0)
		return request_take_outputs(v, plan, inv);
	if (strcmp(key, "figures") == 0)
		return take_bool(v, "figures", &plan->figures, inv);
	if (strcmp(key, "stats") == 0)
		return take_bool(v, "stats", &plan->stats, inv);
	return request_invalid(
	    inv, 400,
	    "unknown field '%.64s' (allowed: script, stdin, timeout, "
	    "memory_mb, stats, files, outputs, figures)",
	    key);
}

int request_parse(const struct pexos_options *o, const char *buf, size_t len,
		  struct run_plan *plan, struct invalid *inv)
{
	_cleanup_json_ json_t *root = NULL;
	json_error_t jerr;
	const char *key;
	json_t *v;
	int r;

	*plan = (struct run_plan){
		.wall_ms = o->wall_ms,
		.cpu_ms = o->cpu_ms,
		.memory_mb = o->memory_mb,
		.figures = true,
	};
	jalloc_install();
	jalloc_reset();
	root = json_loadb(buf, len,
			  JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY,
			  &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_out_of_memory ||
		    jalloc_failed())
			return -ENOMEM;
		return request_invalid(
		    inv, 400,
		    "request is not valid JSON: %s (line %d, column "
		    "%d)",
		    jerr.text, jerr.line, jerr.column);
	}
	if (!json_is_object(root))
		return request_invalid(inv, 400,
				       "request must be a JSON object, got %s",
				       json_kind(root));
	json_object_foreach(root, key, v)
	{
		r = take_field(key, v, o, plan, inv);
		if (r != 0) {
			run_plan_done(plan);
			return r;
		}
	}
	if (!plan->script) {
		run_plan_done(plan);
		return request_invalid(inv, 400, "field 'script' is required");
	}
	/* Input files are written into the run's /tmp, with the script. */
	if (plan->files_bytes + plan->script_len > o->tmp_mb * 1024 * 1024) {
		run_plan_done(plan);
		return request_invalid(inv, 413,
				       "field 'files': %zu bytes do not fit "
				       "in the run's /tmp of %" PRIu64 " MiB",
				       plan->files_bytes, o->tmp_mb);
	}
	/* The CPU limit never exceeds what the wall clock allows anyway. */
	if (plan->cpu_ms > plan->wall_ms)
		plan->cpu_ms = plan->wall_ms;
	return 0;
}

void run_plan_done(struct run_plan *plan)
{
	free(plan->script);
	free(plan->stdin_data);
	plan->script = plan->stdin_data = NULL;
	for (size_t i = 0; i < plan->n_files; i++) {
		free(plan->files[i].path);
		free(plan->files[i].data);
	}
	free(plan->files);
	plan->files = NULL;
	plan->n_files = 0;
	for (size_t i = 0; i < plan->n_outputs; i++)
		free(plan->outputs[i]);
	free(plan->outputs);
	plan->outputs = NULL;
	plan->n_outputs = 0;
}
