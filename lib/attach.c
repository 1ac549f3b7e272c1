/* SPDX-License-Identifier: MIT */
#include "attach.h"

#include <string.h>

#include "base64.h"
#include "request.h"
#include "util.h"

/* Bytes of an "omitted" reason the runner may give. */
#define REASON_MAX 256

/* Where the attachments' bytes are read from, in order. */
struct cursor {
	const char *body;
	size_t len, pos;
};

/* A non-negative integer member of `o`, at most max; -1 when absent or
 * anything else. */
static json_int_t count(const json_t *o, const char *key, json_int_t max)
{
	const json_t *v = json_object_get(o, key);
	json_int_t n;

	if (!json_is_integer(v))
		return -1;
	n = json_integer_value(v);
	return n < 0 || n > max ? -1 : n;
}

/* The next n bytes of the cursor as a base64 JSON string, or NULL (also
 * when they are not there). *ret_oom tells the two apart. */
static json_t *take_b64(struct cursor *c, size_t n, bool *ret_oom)
{
	_cleanup_free_ char *s = NULL;
	json_t *j;

	if (n > c->len - c->pos)
		return NULL;
	s = malloc(b64_encoded_len(n) + 1);
	if (!s) {
		*ret_oom = true;
		return NULL;
	}
	b64_encode((const unsigned char *)c->body + c->pos, n, s);
	c->pos += n;
	j = json_stringn_nocheck(s, b64_encoded_len(n));
	if (!j)
		*ret_oom = true;
	return j;
}

static int by_path(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;

	return strcmp(json_string_value(json_object_get(x, "path")),
		      json_string_value(json_object_get(y, "path")));
}

/* One entry of the runner's "files" into a response entry in *ret.
 * Returns 1, 0 (malformed) or -ENOMEM. */
static int take_file(const struct pexos_options *o, const json_t *e,
		     struct cursor *c, uint64_t *total, json_t **ret)
{
	const json_t *p = json_object_get(e, "path");
	const json_t *why = json_object_get(e, "omitted");
	json_int_t size = count(e, "size", INT64_MAX), n = -1;
	_cleanup_json_ json_t *out = NULL;
	json_t *content;
	bool oom = false;

	if (!json_is_object(e) || json_object_size(e) != 3 ||
	    !json_is_string(p) || size < 0 ||
	    json_string_length(p) > PLAN_PATH_MAX ||
	    path_problem(json_string_value(p), json_string_length(p)))
		return 0;
	if (!why) {
		n = count(e, "len", (json_int_t)o->out_file_max);
		if (n != size || (uint64_t)n > o->out_files_max - *total)
			return 0;
	} else if (!json_is_string(why) || json_string_length(why) == 0 ||
		   json_string_length(why) > REASON_MAX) {
		return 0;
	}
	out = json_pack("{s:O, s:I}", "path", p, "size", size);
	if (!out)
		return -ENOMEM;
	content = why ? json_copy((json_t *)why) : take_b64(c, (size_t)n, &oom);
	if (!content)
		return why || oom ? -ENOMEM : 0;
	if (json_object_set_new(out, why ? "omitted" : "content_base64",
				content))
		return -ENOMEM;
	if (!why)
		*total += (uint64_t)n;
	*ret = TAKE_PTR(out);
	return 1;
}

/* The runner's "files" into a->files, sorted by path, no path twice.
 * Returns 1, 0 (malformed) or -ENOMEM. */
static int take_files(const struct pexos_options *o, const json_t *list,
		      struct cursor *c, struct attach *a)
{
	size_t n = json_array_size(list);
	_cleanup_json_ json_t *all = json_array();
	_cleanup_free_ json_t **v = NULL;
	uint64_t total = 0;
	int r;

	if (!json_is_array(list) || n == 0 || n > PLAN_OUT_ENTRIES_MAX)
		return 0;
	v = calloc(n, sizeof(*v));
	if (!v || !all)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		r = take_file(o, json_array_get(list, i), c, &total, &v[i]);
		if (r <= 0)
			return r;
		if (json_array_append_new(all, v[i]))
			return -ENOMEM;
	}
	qsort(v, n, sizeof(*v), by_path);
	a->files = json_array();
	if (!a->files)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && by_path(&v[i - 1], &v[i]) == 0)
			return 0;
		if (json_array_append(a->files, v[i]))
			return -ENOMEM;
	}
	return 1;
}

/* Width and height of a PNG image from its IHDR chunk, the first one after
 * the signature; false when data[0, n) does not start like a PNG. */
static bool png_size(const unsigned char *d, size_t n, uint32_t *w, uint32_t *h)
{
	static const unsigned char head[] = {0x89, 'P',	 'N', 'G', '\r', '\n',
					     0x1a, '\n', 0,   0,   0,	 13,
					     'I',  'H',	 'D', 'R'};

	if (n < sizeof(head) + 8 || memcmp(d, head, sizeof(head)) != 0)
		return false;
	*w = (uint32_t)d[16] << 24 | (uint32_t)d[17] << 16 |
	     (uint32_t)d[18] << 8 | d[19];
	*h = (uint32_t)d[20] << 24 | (uint32_t)d[21] << 16 |
	     (uint32_t)d[22] << 8 | d[23];
	return *w > 0 && *h > 0;
}

/* The runner's "figures" (lengths of the PNGs that follow) into
 * a->figures. Returns 1, 0 (malformed) or -ENOMEM. */
static int take_figures(const struct pexos_options *o,
			const struct run_plan *plan, const json_t *list,
			struct cursor *c, struct attach *a)
{
	size_t n = json_array_size(list);
	uint32_t w, h;
	bool oom = false;

	if (!json_is_array(list) || n == 0 || !plan->figures || n > o->figures)
		return 0;
	a->figures = json_array();
	if (!a->figures)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *len = json_array_get(list, i);
		json_int_t k =
		    json_is_integer(len) ? json_integer_value(len) : -1;
		const unsigned char *d =
		    (const unsigned char *)c->body + c->pos;
		json_t *png, *fig;

		if (k < 0 || (uint64_t)k > o->figure_max ||
		    (size_t)k > c->len - c->pos ||
		    !png_size(d, (size_t)k, &w, &h))
			return 0;
		png = take_b64(c, (size_t)k, &oom);
		if (!png)
			return -ENOMEM;
		fig = json_pack("{s:s, s:I, s:I, s:o}", "format", "png",
				"width", (json_int_t)w, "height", (json_int_t)h,
				"content_base64", png);
		if (!fig || json_array_append_new(a->figures, fig))
			return -ENOMEM;
	}
	return 1;
}

/* The members the runner may add to its header for attachments. */
static bool only_known(const json_t *h)
{
	static const char *const known[] = {
	    "ok",
	    "type",
	    "error",
	    "traceback",
	    "memory",
	    "files",
	    "files_omitted",
	    "figures",
	    "figures_omitted",
	    "result_len",
	};
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)h, key, v)
	{
		size_t i = 0;

		while (i < ELEMENTSOF(known) && strcmp(key, known[i]) != 0)
			i++;
		if (i == ELEMENTSOF(known))
			return false;
	}
	return true;
}

int attach_take(const struct pexos_options *o, const struct run_plan *plan,
		const json_t *h, const char *body, size_t len,
		size_t *ret_result_len, struct attach *a)
{
	const json_t *files = json_object_get(h, "files");
	const json_t *figures = json_object_get(h, "figures");
	struct cursor c = {.body = body, .len = len};
	json_int_t rlen = count(h, "result_len", (json_int_t)len);
	int r;

	*a = (struct attach){0};
	if (!json_object_get(h, "result_len")) {
		*ret_result_len = len;
		return !files && !figures &&
		       !json_object_get(h, "files_omitted") &&
		       !json_object_get(h, "figures_omitted");
	}
	if (rlen < 0 || !only_known(h))
		return 0;
	c.pos = (size_t)rlen;
	r = files ? take_files(o, files, &c, a) : 1;
	if (r == 1 && files && !plan->n_outputs)
		r = 0;
	if (r == 1 && figures)
		r = take_figures(o, plan, figures, &c, a);
	if (r == 1) {
		a->files_omitted = json_object_get(h, "files_omitted")
				       ? count(h, "files_omitted", INT32_MAX)
				       : 0;
		a->figures_omitted =
		    json_object_get(h, "figures_omitted")
			? count(h, "figures_omitted", INT32_MAX)
			: 0;
		if (a->files_omitted < 0 || a->figures_omitted < 0 ||
		    c.pos != len)
			r = 0;
	}
	if (r != 1) {
		attach_done(a);
		return r;
	}
	*ret_result_len = (size_t)rlen;
	return 1;
}

void attach_done(struct attach *a)
{
	json_decref(a->files);
	json_decref(a->figures);
	*a = (struct attach){0};
}
