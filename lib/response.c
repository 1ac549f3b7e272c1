/* SPDX-License-Identifier: MIT */
#include "response.h"

#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "util.h"

int capture_append(struct capture *c, const char *buf, size_t n)
{
	size_t room = c->max - c->len;

	if (n > room) {
		c->truncated = true;
		n = room;
	}
	if (n == 0)
		return 0;
	if (c->len + n > c->alloc) {
		size_t want = c->alloc ? c->alloc : 4096;
		char *p;
		while (want < c->len + n)
			want *= 2;
		if (want > c->max)
			want = c->max;
		p = realloc(c->data, want);
		if (!p)
			return -ENOMEM;
		c->data = p;
		c->alloc = want;
	}
	memcpy(c->data + c->len, buf, n);
	c->len += n;
	return 0;
}

void capture_done(struct capture *c)
{
	free(c->data);
	*c = (struct capture){0};
}

int response_http_status(const char *type)
{
	static const struct {
		const char *type;
		int status;
	} map[] = {
		{"InvalidRequest", 400}, {"SyntaxError", 400},
		{"MissingMain", 400},    {"InvalidMain", 400},
		{"ScriptError", 422},    {"NotSerializable", 422},
		{"Timeout", 422},        {"MemoryLimit", 422},
		{"ResultTooLarge", 422}, {"Killed", 422},
		{"Busy", 503},           {"SandboxError", 500},
	};

	if (!type)
		return 200;
	for (size_t i = 0; i < ELEMENTSOF(map); i++)
		if (strcmp(map[i].type, type) == 0)
			return map[i].status;
	return 500;
}

int response_exit_code(const char *type)
{
	if (!type)
		return 0;
	if (strcmp(type, "InvalidRequest") == 0)
		return 2;
	if (strcmp(type, "SandboxError") == 0 || strcmp(type, "Busy") == 0)
		return 3;
	return 1;
}

/* A JSON string of `s`, invalid UTF-8 (e.g. from an echoed request)
 * replaced by U+FFFD. NULL only when out of memory. */
static json_t *lossy_string(const char *s)
{
	size_t n = 0;
	_cleanup_free_ char *clean = NULL;

	if (utf8_valid(s, strlen(s)))
		return json_string_nocheck(s);
	clean = utf8_sanitize(s, strlen(s), &n);
	return clean ? json_stringn_nocheck(clean, n) : NULL;
}

/* Adds a captured stream as a string, invalid UTF-8 replaced by U+FFFD. */
static int add_stream(json_t *o, const char *key, const struct capture *c)
{
	size_t n = 0;
	_cleanup_free_ char *s = NULL;

	if (!c || !c->data)
		return json_object_set_new(o, key, json_string("")) ? -ENOMEM : 0;
	s = utf8_sanitize(c->data, c->len, &n);
	if (!s)
		return -ENOMEM;
	return json_object_set_new(o, key, json_stringn_nocheck(s, n)) ? -ENOMEM
									: 0;
}

static int add_outputs(json_t *o, const struct verdict *v,
		       const struct capture *out, const struct capture *err)
{
	if (!v->ran)
		return 0;
	if (add_stream(o, "stdout", out) < 0)
		return -ENOMEM;
	if (err && err->len > 0 && add_stream(o, "stderr", err) < 0)
		return -ENOMEM;
	if (out && out->truncated &&
	    json_object_set_new(o, "stdout_truncated", json_true()))
		return -ENOMEM;
	if (err && err->truncated &&
	    json_object_set_new(o, "stderr_truncated", json_true()))
		return -ENOMEM;
	return 0;
}

/* Output files and figures, only those that are there (SPEC §3). */
static int add_attach(json_t *o, const struct attach *a)
{
	if (!a)
		return 0;
	if ((a->files && json_object_set(o, "files", a->files)) ||
	    (a->files_omitted &&
	     json_object_set_new(o, "files_omitted",
				 json_integer(a->files_omitted))) ||
	    (a->figures && json_object_set(o, "figures", a->figures)) ||
	    (a->figures_omitted &&
	     json_object_set_new(o, "figures_omitted",
				 json_integer(a->figures_omitted))))
		return -ENOMEM;
	return 0;
}

static int add_stats(json_t *o, const struct run_stats *st)
{
	json_t *s;

	if (!st)
		return 0;
	s = json_pack("{s:I, s:I, s:I}", "wall_ms", (json_int_t)st->wall_ms,
		      "cpu_ms", (json_int_t)st->cpu_ms, "max_rss_kb",
		      (json_int_t)st->max_rss_kb);
	if (!s)
		return -ENOMEM;
	if ((st->faults &&
	     json_object_set_new(s, "faults", json_integer((json_int_t)st->faults))) ||
	    (st->limits &&
	     json_object_set_new(s, "limits", json_string(st->limits))) ||
	    json_object_set_new(s, "pooled", json_boolean(st->pooled)) ||
	    (st->profile &&
	     json_object_set_new(s, "pool", json_string(st->profile))) ||
	    (st->file_limits &&
	     json_object_set(s, "file_limits", st->file_limits))) {
		json_decref(s);
		return -ENOMEM;
	}
	return json_object_set_new(o, "stats", s) ? -ENOMEM : 0;
}

/* Success responses splice the runner's result text in verbatim: re-encoding
 * it would change number spellings (0.1 -> 0.10000000000000001) and lose
 * integers beyond 64 bits. The caller has checked that it is valid JSON. */
static char *splice_result(const char *rest, const char *result, size_t len)
{
	size_t rest_len = strlen(rest);
	char *s = malloc(len + rest_len + 16);
	size_t p = 0;

	if (!s)
		return NULL;
	memcpy(s, "{\"result\":", 10);
	p = 10;
	memcpy(s + p, result, len);
	p += len;
	if (rest_len > 2) {
		s[p++] = ',';
		memcpy(s + p, rest + 1, rest_len - 1);
		p += rest_len - 1;
	} else {
		s[p++] = '}';
	}
	s[p] = '\0';
	return s;
}

int response_build(const struct verdict *v, const struct capture *out,
		   const struct capture *err, const struct run_stats *stats,
		   char **ret, pexos_outcome *ret_outcome)
{
	_cleanup_json_ json_t *o = json_object();
	_cleanup_free_ char *rest = NULL;
	char *s;

	if (!o)
		return -ENOMEM;
	if (v->type) {
		if (json_object_set_new(o, "error", lossy_string(v->error)) ||
		    json_object_set_new(o, "type", json_string(v->type)))
			return -ENOMEM;
		if (v->traceback && *v->traceback &&
		    json_object_set_new(o, "traceback",
					lossy_string(v->traceback)))
			return -ENOMEM;
	}
	if (add_outputs(o, v, out, err) < 0 || add_attach(o, v->attach) < 0 ||
	    add_stats(o, stats) < 0)
		return -ENOMEM;
	rest = json_dumps(o, JSON_COMPACT);
	if (!rest)
		return -ENOMEM;
	if (v->type)
		s = TAKE_PTR(rest);
	else
		s = splice_result(rest, v->result, v->result_len);
	if (!s)
		return -ENOMEM;
	if (ret_outcome) {
		memset(ret_outcome, 0, sizeof(*ret_outcome));
		if (v->type)
			snprintf(ret_outcome->type, sizeof(ret_outcome->type),
				 "%s", v->type);
		ret_outcome->http_status = v->http_status
						   ? v->http_status
						   : response_http_status(v->type);
		ret_outcome->exit_code = response_exit_code(v->type);
	}
	*ret = s;
	return 0;
}

/* Whether the key written as s[start, end) (quotes included) is `key`
 * once unescaped: "res\u0075lt" is "result". */
static bool key_is(const char *s, size_t start, size_t end, const char *key)
{
	_cleanup_json_ json_t *k = NULL;
	size_t n = strlen(key);

	if (end - start == n + 2 && memcmp(s + start + 1, key, n) == 0)
		return true;
	k = json_loadb(s + start, end - start, JSON_DECODE_ANY | JSON_ALLOW_NUL,
		       NULL);
	return k && json_string_length(k) == n &&
	       memcmp(json_string_value(k), key, n) == 0;
}

static bool json_space(char c)
{
	return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

/* Walks the text of a valid JSON object once, character by character,
 * tracking strings and depth: at depth 1 a string is a key until its ':',
 * and a member's value runs from that ':' to the next ',' or the closing
 * '}' at depth 1. Returns 0 with the trimmed span of `key`'s value, or
 * -ENOENT. */
static int find_member(const char *s, size_t len, const char *key,
		       size_t *ret_start, size_t *ret_end)
{
	size_t depth = 0, kstart = 0, kend = 0, vstart = 0;
	bool in_string = false, in_value = false;

	for (size_t i = 0; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\') {
				i++;
			} else if (s[i] == '"') {
				in_string = false;
				if (depth == 1 && !in_value)
					kend = i + 1;
			}
		} else if (s[i] == '"') {
			in_string = true;
			if (depth == 1 && !in_value)
				kstart = i;
		} else if (s[i] == ':' && depth == 1) {
			in_value = true;
			vstart = i + 1;
		} else if ((s[i] == ',' || s[i] == '}') && depth == 1 &&
			   in_value) {
			size_t vend = i;

			if (key_is(s, kstart, kend, key)) {
				while (json_space(s[vstart]))
					vstart++;
				while (vend > vstart && json_space(s[vend - 1]))
					vend--;
				*ret_start = vstart;
				*ret_end = vend;
				return 0;
			}
			in_value = false;
			if (s[i] == '}')
				depth--;
		} else if (s[i] == '{' || s[i] == '[') {
			depth++;
		} else if (s[i] == '}' || s[i] == ']') {
			depth--;
		}
	}
	return -ENOENT;
}

int response_member_span(const char *s, size_t len, const char *key,
			 size_t *ret_start, size_t *ret_end)
{
	_cleanup_json_ json_t *o = NULL;
	json_error_t jerr;

	/* Big integers are read as reals: the span, not the value, is
	 * wanted, and run.c checks the runner's result the same way. */
	o = json_loadb(s, len,
		       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL |
			       JSON_DECODE_INT_AS_REAL,
		       &jerr);
	if (!o)
		return json_error_code(&jerr) == json_error_out_of_memory
			       ? -ENOMEM
			       : -EINVAL;
	if (!json_is_object(o))
		return -EINVAL;
	if (!json_object_get(o, key))
		return -ENOENT;
	return find_member(s, len, key, ret_start, ret_end);
}
