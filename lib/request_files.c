/* SPDX-License-Identifier: MIT */
/*
 * request_files.c - the file fields of a request (SPEC §1): "files" (input
 * files), "outputs" (glob patterns of files to send back), "figures".
 *
 * Paths are checked here, once, in the library: the runner that writes them
 * inside the sandbox may assume a relative path without "..", "." or empty
 * components; it still opens every component without following symlinks.
 */
#include "request.h"

#include <stdio.h>
#include <string.h>

#include "base64.h"
#include "util.h"

const char *path_problem(const char *p, size_t len)
{
	size_t start = 0;

	if (len == 0)
		return "is empty";
	if (memchr(p, '\0', len))
		return "contains a NUL byte";
	if (p[0] == '/')
		return "is absolute (it must be relative to the working "
		       "directory)";
	for (size_t i = 0; i <= len; i++) {
		size_t n;

		if (i < len && p[i] != '/')
			continue;
		n = i - start;
		if (n == 0)
			return "has an empty component (\"//\" or a trailing "
			       "\"/\")";
		if (n == 1 && p[start] == '.')
			return "has a \".\" component";
		if (n == 2 && p[start] == '.' && p[start + 1] == '.')
			return "has a \"..\" component";
		start = i + 1;
	}
	return NULL;
}

/* A path (input file) or pattern (output) of field[i], checked and copied
 * into *ret. Returns 0, 1 (invalid) or -ENOMEM. */
static int take_path(const json_t *p, const char *field, const char *what,
		     size_t i, char **ret, struct invalid *inv)
{
	bool pattern = strcmp(what, "pattern") == 0;
	const char *why;

	if (!json_is_string(p))
		return request_invalid(inv, 400,
				       "%s[%zu]: the %s must be a string",
				       field, i, what);
	if (json_string_length(p) >
	    (pattern ? PLAN_OUTPUT_LEN_MAX : PLAN_NAME_MAX))
		why = pattern ? "is longer than 1024 bytes"
			      : "is longer than 255 bytes";
	else
		why = path_problem(json_string_value(p), json_string_length(p));
	if (why)
		return request_invalid(inv, 400, "%s[%zu]: %s '%.255s' %s",
				       field, i, what, json_string_value(p),
				       why);
	*ret = strdup(json_string_value(p));
	return *ret ? 0 : -ENOMEM;
}

/* Whether input file path a names a directory of path b ("d" and "d/x"). */
static bool is_dir_of(const char *a, const char *b)
{
	size_t n = strlen(a);

	return strncmp(a, b, n) == 0 && b[n] == '/';
}

/* Decodes one entry's content into f. Returns 0, 1 (invalid) or -ENOMEM. */
static int take_content(const json_t *e, size_t i, const char *path,
			struct plan_file *f, struct invalid *inv)
{
	const json_t *text = json_object_get(e, "content");
	const json_t *b64 = json_object_get(e, "content_base64");
	const json_t *v = text ? text : b64;
	size_t len;

	if (!text == !b64)
		return request_invalid(
		    inv, 400,
		    "files[%zu] ('%.255s') must have exactly "
		    "one of 'content' and 'content_base64'",
		    i, path);
	if (!json_is_string(v))
		return request_invalid(inv, 400,
				       "files[%zu] ('%.255s'): '%s' must be a "
				       "string",
				       i, path,
				       text ? "content" : "content_base64");
	len = json_string_length(v);
	f->data = malloc(len ? len : 1);
	if (!f->data)
		return -ENOMEM;
	if (text) {
		memcpy(f->data, json_string_value(v), len);
		f->len = len;
		return 0;
	}
	if (!b64_decode(json_string_value(v), len, (unsigned char *)f->data,
			&f->len))
		return request_invalid(
		    inv, 400,
		    "files[%zu] ('%.255s'): 'content_base64' "
		    "is not valid base64 (RFC 4648, padded, "
		    "no line breaks)",
		    i, path);
	return 0;
}

/* Validates files[i] into plan->files[i]. */
static int take_file(const json_t *e, size_t i, const struct pexos_options *o,
		     struct run_plan *plan, struct invalid *inv)
{
	struct plan_file *f = &plan->files[i];
	const json_t *p = json_object_get(e, "path");
	const char *key;
	json_t *v;
	int r;

	if (!json_is_object(e))
		return request_invalid(
		    inv, 400,
		    "files[%zu] must be an object with 'path' "
		    "and 'content' or 'content_base64'",
		    i);
	json_object_foreach((json_t *)e, key, v) if (
	    strcmp(key, "path") != 0 && strcmp(key, "content") != 0 &&
	    strcmp(key, "content_base64") !=
		0) return request_invalid(inv, 400,
					  "files[%zu]: unknown field '%.64s' "
					  "(allowed: path, content, "
					  "content_base64)",
					  i, key);
	r = take_path(p, "files", "path", i, &f->path, inv);
	if (r != 0)
		return r;
	r = take_content(e, i, f->path, f, inv);
	if (r != 0)
		return r;
	plan->files_bytes += f->len;
	if (plan->files_bytes > o->in_files_max)
		return request_invalid(inv, 413,
				       "files: over the limit of %" PRIu64
				       " bytes of input files in all (at "
				       "files[%zu], '%.255s')",
				       o->in_files_max, i, f->path);
	for (size_t k = 0; k < i; k++) {
		const char *q = plan->files[k].path;

		if (strcmp(q, f->path) == 0 || is_dir_of(q, f->path) ||
		    is_dir_of(f->path, q))
			return request_invalid(
			    inv, 400,
			    "files[%zu]: path '%.255s' %s files[%zu] "
			    "('%.255s')",
			    i, f->path,
			    strcmp(q, f->path) == 0 ? "duplicates"
			    : is_dir_of(q, f->path)
				? "is inside the file of"
				: "is a directory of the file of",
			    k, q);
	}
	return 0;
}

/* The array field `name` of at most `max` elements, allocating `*ret` of
 * that many elements of `size` bytes (NULL when empty). Returns 0 with
 * *ret_n set, 1 (invalid) or -ENOMEM. */
static int take_array(const json_t *v, const char *name, const char *of,
		      uint64_t max, size_t size, void **ret, size_t *ret_n,
		      struct invalid *inv)
{
	size_t n;

	if (!json_is_array(v))
		return request_invalid(
		    inv, 400, "field '%s' must be an array of %s", name, of);
	n = json_array_size(v);
	if (n > max)
		return request_invalid(inv, 413,
				       "field '%s' has %zu %s, over the limit "
				       "of %" PRIu64,
				       name, n, of, max);
	if (n > 0) {
		*ret = calloc(n, size);
		if (!*ret)
			return -ENOMEM;
	}
	*ret_n = n;
	return 0;
}

int request_take_files(const json_t *v, const struct pexos_options *o,
		       struct run_plan *plan, struct invalid *inv)
{
	int r =
	    take_array(v, "files", "files", o->in_files, sizeof(*plan->files),
		       (void **)&plan->files, &plan->n_files, inv);

	for (size_t i = 0; r == 0 && i < plan->n_files; i++)
		r = take_file(json_array_get(v, i), i, o, plan, inv);
	return r;
}

int request_take_outputs(const json_t *v, struct run_plan *plan,
			 struct invalid *inv)
{
	int r = take_array(v, "outputs", "patterns", PLAN_OUTPUTS_MAX,
			   sizeof(*plan->outputs), (void **)&plan->outputs,
			   &plan->n_outputs, inv);

	for (size_t i = 0; r == 0 && i < plan->n_outputs; i++)
		r = take_path(json_array_get(v, i), "outputs", "pattern", i,
			      &plan->outputs[i], inv);
	return r;
}
