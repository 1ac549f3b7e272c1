/* SPDX-License-Identifier: MIT */
/*
 * schema.c - the run_python tool of tools/list, and the check of a call's
 * arguments against its inputSchema.
 *
 * Both schemas are JSON files beside this one (request.schema.json,
 * response.schema.json), embedded at build time: the tool's description,
 * the check of its arguments and the OpenAPI document (openapi/) read the
 * same text, so they cannot drift.
 * The check knows the few JSON Schema keywords the request schema uses
 * (type, properties, required, additionalProperties, items, maxItems,
 * minimum, exclusiveMinimum); a keyword it does not know is ignored, and
 * the library checks every value again anyway.
 */
#define PEXOS_MCP_INTERNAL
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mcp.h"

extern const char pexos_mcp_request_schema[];
extern const char pexos_mcp_response_schema[];

static json_t *load(const char *text)
{
	return json_loads(text, 0, NULL);
}

/* The tool's inputSchema: the request object less what a tool result
 * settles itself (SPEC §10): "figures" (a result always carries them as
 * images) and "stats". */
static json_t *input_schema(void)
{
	json_t *in = load(pexos_mcp_request_schema);
	json_t *props = json_object_get(in, "properties");

	json_object_del(props, "stats");
	json_object_del(props, "figures");
	return in;
}

json_t *mcp_tool_new(void)
{
	json_t *in = input_schema();
	json_t *out = load(pexos_mcp_response_schema);

	if (!in || !out) {
		json_decref(in);
		json_decref(out);
		return NULL;
	}
	return json_pack(
		"{s:s, s:s, s:s, s:o, s:o, s:{s:b, s:b, s:b, s:b}}", "name",
		"run_python", "title", "Run Python in a sandbox", "description",
		"Runs a Python 3 script in a fresh, locked-down Linux sandbox "
		"(no network, limited time and memory) and returns what its "
		"main() returned as JSON, with everything it printed. Define "
		"def main(): and return a JSON-serialisable value. numpy and "
		"pandas are available. Figures left open by matplotlib come "
		"back as images, files matching `outputs` as resources.",
		"inputSchema", in, "outputSchema", out, "annotations",
		"readOnlyHint", 1, "destructiveHint", 0, "idempotentHint", 0,
		"openWorldHint", 0);
}

static bool type_ok(const json_t *v, const char *type)
{
	if (!type)
		return true;
	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "integer") == 0)
		return json_is_integer(v);
	if (strcmp(type, "number") == 0)
		return json_is_number(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	if (strcmp(type, "array") == 0)
		return json_is_array(v);
	if (strcmp(type, "object") == 0)
		return json_is_object(v);
	return true;
}

static int fail(char *why, size_t n, const char *where, const char *what)
{
	snprintf(why, n, "arguments%s %s", where, what);
	return -1;
}

static int check(const json_t *schema, const json_t *v, const char *where,
		 char *why, size_t n);

static int check_object(const json_t *schema, const json_t *v,
			const char *where, char *why, size_t n)
{
	const json_t *props = json_object_get(schema, "properties");
	const json_t *req = json_object_get(schema, "required"), *r, *sub;
	const char *key;
	char at[256];
	size_t i;

	json_array_foreach(req, i, r)
		if (json_is_string(r) &&
		    !json_object_get(v, json_string_value(r))) {
			snprintf(at, sizeof(at), "is missing \"%s\"",
				 json_string_value(r));
			return fail(why, n, where, at);
		}
	json_object_foreach((json_t *)v, key, sub) {
		const json_t *ps = json_object_get(props, key);
		snprintf(at, sizeof(at), "%s[\"%.100s\"]", where, key);
		if (!ps) {
			if (json_is_false(json_object_get(
				    schema, "additionalProperties")))
				return fail(why, n, at, "is not an argument "
							"this tool takes");
			continue;
		}
		if (check(ps, sub, at, why, n) < 0)
			return -1;
	}
	return 0;
}

static int check(const json_t *schema, const json_t *v, const char *where,
		 char *why, size_t n)
{
	const char *type = json_string_value(json_object_get(schema, "type"));
	const json_t *lim;
	char what[64];

	if (!type_ok(v, type)) {
		snprintf(what, sizeof(what), "must be of type %s", type);
		return fail(why, n, where, what);
	}
	if (json_is_number(v) &&
	    (((lim = json_object_get(schema, "minimum")) &&
	      json_number_value(v) < json_number_value(lim)) ||
	     ((lim = json_object_get(schema, "exclusiveMinimum")) &&
	      json_number_value(v) <= json_number_value(lim)))) {
		snprintf(what, sizeof(what), "is out of range");
		return fail(why, n, where, what);
	}
	if (json_is_object(v))
		return check_object(schema, v, where, why, n);
	if (json_is_array(v)) {
		const json_t *items = json_object_get(schema, "items"), *e;
		size_t i;
		char at[256];
		if ((lim = json_object_get(schema, "maxItems")) &&
		    json_array_size(v) > (size_t)json_integer_value(lim))
			return fail(why, n, where, "has too many items");
		json_array_foreach(v, i, e) {
			snprintf(at, sizeof(at), "%.200s[%zu]", where, i);
			if (items && check(items, e, at, why, n) < 0)
				return -1;
		}
	}
	return 0;
}

int mcp_check_arguments(const json_t *args, char *why, size_t why_len)
{
	json_t *schema = input_schema();
	int r;

	if (!schema) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	r = check(schema, args, "", why, why_len);
	json_decref(schema);
	return r;
}
