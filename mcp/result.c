/* SPDX-License-Identifier: MIT */
/*
 * result.c - a response object of pexos(7) as a tools/call result
 * (SPEC §10): structuredContent is the response without the figures'
 * base64 (they travel as image blocks), content is a text block for
 * models that read no structured output, then one image block per figure
 * and one resource block per returned file; isError on every failure.
 */
#define PEXOS_MCP_INTERNAL
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base64.h"
#include "mcp.h"

/* The library's decoder (lib/base64.c), strict as the library writes it;
 * NULL when `in` is not such base64 or out of memory. */
static unsigned char *decode(const char *in, size_t *ret_len)
{
	size_t n = strlen(in);
	unsigned char *out = malloc(n / 4 * 3 + 1);

	if (out && !b64_decode(in, n, out, ret_len)) {
		free(out);
		out = NULL;
	}
	return out;
}

/* Text when it is UTF-8 without NUL or other control bytes than
 * whitespace: then the resource carries it as text. */
static bool is_text(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] == 0 || (p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' &&
				  p[i] != '\t'))
			return false;
	json_t *s = json_stringn((const char *)p, n); /* NULL: not UTF-8 */
	bool ok = s != NULL;

	json_decref(s);
	return ok;
}

static const char *mime_type(const char *path, bool text)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{".csv", "text/csv"},     {".json", "application/json"},
		{".txt", "text/plain"},   {".md", "text/markdown"},
		{".html", "text/html"},   {".svg", "image/svg+xml"},
		{".png", "image/png"},    {".jpg", "image/jpeg"},
		{".jpeg", "image/jpeg"},  {".pdf", "application/pdf"},
		{".xml", "application/xml"}, {".tsv", "text/tab-separated-values"},
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return text ? "text/plain" : "application/octet-stream";
}

/* "pexos:/output/PATH" with everything but unreserved bytes and '/'
 * percent-encoded: a name for the file, not a place to fetch it from. */
static char *file_uri(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(path);
	char *u = malloc(strlen("pexos:/output/") + 3 * n + 1), *p;

	if (!u)
		return NULL;
	p = u + sprintf(u, "pexos:/output/");
	for (const unsigned char *s = (const unsigned char *)path; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~/", *s)) {
			*p++ = (char)*s;
		} else {
			*p++ = '%';
			*p++ = hex[*s >> 4];
			*p++ = hex[*s & 15];
		}
	}
	*p = '\0';
	return u;
}

/* ---- the blocks ---------------------------------------------------------- */

static void add_section(FILE *f, const json_t *resp, const char *key,
			const char *title)
{
	const char *v = json_string_value(json_object_get(resp, key));

	if (v && *v)
		fprintf(f, "\n\n%s:\n%s", title, v);
}

/* The text block: what a model that reads no structured output needs. */
static json_t *text_block(const json_t *resp)
{
	const json_t *result = json_object_get(resp, "result"), *a, *e;
	char *buf = NULL, *r;
	size_t len = 0, i;
	FILE *f = open_memstream(&buf, &len);
	json_t *block;

	if (!f)
		return NULL;
	if (result) {
		r = json_dumps(result, JSON_ENCODE_ANY | JSON_COMPACT);
		fprintf(f, "result: %s", r ? r : "?");
		free(r);
	} else {
		fprintf(f, "%s: %s",
			json_string_value(json_object_get(resp, "type")),
			json_string_value(json_object_get(resp, "error")));
	}
	add_section(f, resp, "traceback", "traceback");
	add_section(f, resp, "stdout", "stdout");
	add_section(f, resp, "stderr", "stderr");
	if (json_is_true(json_object_get(resp, "stdout_truncated")))
		fputs("\n\n(stdout was truncated)", f);
	if (json_is_true(json_object_get(resp, "stderr_truncated")))
		fputs("\n\n(stderr was truncated)", f);
	a = json_object_get(resp, "files");
	json_array_foreach(a, i, e)
		if (json_object_get(e, "omitted"))
			fprintf(f, "\n\nfile %s omitted: %s",
				json_string_value(json_object_get(e, "path")),
				json_string_value(json_object_get(e, "omitted")));
	if (json_integer_value(json_object_get(resp, "figures_omitted")) > 0)
		fprintf(f, "\n\n%lld more figure(s) omitted",
			(long long)json_integer_value(
				json_object_get(resp, "figures_omitted")));
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	block = json_pack("{s:s, s:s%}", "type", "text", "text", buf, len);
	free(buf);
	return block;
}

static json_t *image_block(const json_t *fig)
{
	const char *b64 = json_string_value(json_object_get(fig, "content_base64"));

	if (!b64)
		return json_object(); /* skipped by the caller */
	return json_pack("{s:s, s:s, s:s}", "type", "image", "data", b64,
			 "mimeType", "image/png");
}

static json_t *resource_block(const json_t *file)
{
	const char *path = json_string_value(json_object_get(file, "path"));
	const char *b64 = json_string_value(json_object_get(file, "content_base64"));
	unsigned char *bytes;
	size_t n = 0;
	char *uri;
	bool text;
	json_t *block;

	if (!path || !b64)
		return json_object(); /* omitted: said in the text block */
	bytes = decode(b64, &n);
	text = bytes && is_text(bytes, n);
	uri = file_uri(path);
	if (!uri) {
		free(bytes);
		return NULL;
	}
	if (text)
		block = json_pack("{s:s, s:{s:s, s:s, s:s%}}", "type", "resource",
				  "resource", "uri", uri, "mimeType",
				  mime_type(path, true), "text", (char *)bytes, n);
	else
		block = json_pack("{s:s, s:{s:s, s:s, s:s}}", "type", "resource",
				  "resource", "uri", uri, "mimeType",
				  mime_type(path, false), "blob", b64);
	free(uri);
	free(bytes);
	return block;
}

/* Appends one block per element of resp[key] made by `make`; an empty
 * object from it means no block. */
static int add_blocks(json_t *content, const json_t *resp, const char *key,
		      json_t *(*make)(const json_t *))
{
	const json_t *e;
	size_t i;

	json_array_foreach(json_object_get(resp, key), i, e) {
		json_t *b = make(e);
		if (!b)
			return -1;
		if (json_object_size(b) == 0)
			json_decref(b);
		else if (json_array_append_new(content, b))
			return -1;
	}
	return 0;
}

/* The response without the figures' base64. */
static json_t *structured(const json_t *resp)
{
	json_t *s = json_deep_copy(resp), *e;
	size_t i;

	if (!s)
		return NULL;
	json_array_foreach(json_object_get(s, "figures"), i, e)
		json_object_del(e, "content_base64");
	return s;
}

json_t *mcp_result_new(const json_t *resp)
{
	json_t *content = json_array(), *text = text_block(resp), *sc;

	if (!content || !text || json_array_append_new(content, text)) {
		json_decref(content);
		return NULL;
	}
	sc = structured(resp);
	if (!sc || add_blocks(content, resp, "figures", image_block) < 0 ||
	    add_blocks(content, resp, "files", resource_block) < 0) {
		json_decref(sc);
		json_decref(content);
		return NULL;
	}
	return json_pack("{s:o, s:o, s:b}", "content", content,
			 "structuredContent", sc, "isError",
			 json_object_get(resp, "error") != NULL);
}
