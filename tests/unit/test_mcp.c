/* SPDX-License-Identifier: MIT */
/*
 * The Model Context Protocol's messages (mcp/): JSON-RPC errors, the
 * lifecycle, the tool's schemas, the check of arguments, and a response
 * object as a tool result, figures and files included (SPEC §10), from
 * hand-made response objects.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"
#include "tap.h"

/* The answer to `msg` as JSON (new reference), or NULL when the message
 * got no answer or a run. */
static json_t *ask(const char *msg, int *ret_action)
{
	char *text = NULL;
	struct mcp_call *call = NULL;
	json_t *j = NULL;
	int r = mcp_handle(msg, strlen(msg), &text, &call);

	*ret_action = r;
	if (r == MCP_ANSWER || r == MCP_ANSWER_INIT)
		j = json_loads(text, 0, NULL);
	free(text);
	mcp_call_free(call);
	return j;
}

static int error_code(const json_t *answer)
{
	return (int)json_integer_value(
		json_object_get(json_object_get(answer, "error"), "code"));
}

static void expect_error(const char *msg, int code, const char *what)
{
	int r;
	json_t *a = ask(msg, &r);

	tap_ok(r == MCP_ANSWER && error_code(a) == code, "%s: error %d", what,
	       code);
	json_decref(a);
}

static void protocol_errors(void)
{
	int r;
	json_t *a;

	expect_error("{\"jsonrpc\":", MCP_PARSE_ERROR, "truncated JSON");
	a = ask("not json", &r);
	tap_ok(a && json_is_null(json_object_get(a, "id")),
	       "a parse error's id is null");
	json_decref(a);
	expect_error("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
		     MCP_INVALID_REQUEST, "a batch");
	expect_error("42", MCP_INVALID_REQUEST, "a number");
	expect_error("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}",
		     MCP_INVALID_REQUEST, "jsonrpc 1.0");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}",
		     MCP_INVALID_REQUEST, "an object as id");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":7}",
		     MCP_INVALID_REQUEST, "a number as method");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\","
		     "\"params\":[1]}",
		     MCP_INVALID_REQUEST, "params as an array");
	a = ask("{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"resources/list\"}",
		&r);
	tap_ok(error_code(a) == MCP_METHOD_NOT_FOUND &&
		       strcmp(json_string_value(json_object_get(a, "id")) ?: "",
			      "x") == 0,
	       "an unknown method: -32601 with the request's id");
	json_decref(a);
	a = ask("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
		&r);
	tap_ok(r == MCP_NOTHING && !a, "a notification gets no answer");
	a = ask("{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}", &r);
	tap_ok(r == MCP_NOTHING && !a, "a client's response gets no answer");
	expect_error("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
		     "\"params\":{}}",
		     MCP_INVALID_PARAMS, "initialize without protocolVersion");
}

static void lifecycle(void)
{
	int r;
	json_t *a = ask("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
			"\"params\":{\"protocolVersion\":\"2099-01-01\","
			"\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
			"\"version\":\"1\"}}}",
			&r);
	json_t *res = json_object_get(a, "result");

	tap_ok(r == MCP_ANSWER_INIT,
	       "initialize: its answer is marked as initialize's");
	tap_ok(strcmp(json_string_value(json_object_get(res, "protocolVersion")) ?: "",
		      MCP_PROTOCOL_VERSION) == 0,
	       "an unknown version gets " MCP_PROTOCOL_VERSION);
	tap_ok(json_is_object(json_object_get(
		       json_object_get(res, "capabilities"), "tools")),
	       "the tools capability is offered");
	tap_ok(json_is_string(json_object_get(
		       json_object_get(res, "serverInfo"), "version")),
	       "serverInfo has a version");
	json_decref(a);
	a = ask("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", &r);
	tap_ok(r == MCP_ANSWER &&
		       json_object_size(json_object_get(a, "result")) == 0 &&
		       json_integer_value(json_object_get(a, "id")) == 2,
	       "ping: an empty result");
	json_decref(a);
}

static bool has_exactly(const json_t *obj, const char *const *keys, size_t n)
{
	if (json_object_size(obj) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!json_object_get(obj, keys[i]))
			return false;
	return true;
}

static void tools_list(void)
{
	static const char *const in[] = {"script", "stdin",   "files",
					 "outputs", "timeout", "memory_mb"};
	static const char *const out[] = {
		"result", "stdout", "stderr", "stdout_truncated",
		"stderr_truncated", "error", "type", "traceback", "stats",
		"files", "figures", "figures_omitted"};
	int r;
	json_t *a = ask("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}",
			&r);
	json_t *tools = json_object_get(json_object_get(a, "result"), "tools");
	json_t *tool = json_array_get(tools, 0);
	json_t *is = json_object_get(tool, "inputSchema");
	json_t *os = json_object_get(tool, "outputSchema");

	tap_ok(json_array_size(tools) == 1 &&
		       strcmp(json_string_value(json_object_get(tool, "name")),
			      "run_python") == 0,
	       "one tool, run_python");
	tap_ok(has_exactly(json_object_get(is, "properties"), in, 6),
	       "inputSchema: the request fields of SPEC 10");
	json_t *want = json_pack("[s]", "script");
	tap_ok(json_equal(json_object_get(is, "required"), want),
	       "inputSchema: script is required");
	json_decref(want);
	tap_ok(has_exactly(json_object_get(os, "properties"), out, 12),
	       "outputSchema: the response fields of SPEC 3");
	tap_ok(strcmp(json_string_value(json_object_get(os, "type")), "object") == 0 &&
		       strcmp(json_string_value(json_object_get(is, "type")), "object") == 0,
	       "both schemas are of type object");
	json_decref(a);
}

static void arguments(void)
{
	const char *pre = "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\","
			  "\"params\":";
	char msg[512];
	char *text;
	struct mcp_call *call;
	int r;
	static const struct {
		const char *params, *what;
	} bad[] = {
		{"{\"name\":\"shell\",\"arguments\":{\"script\":\"\"}}",
		 "an unknown tool"},
		{"{\"arguments\":{\"script\":\"\"}}", "no tool name"},
		{"{\"name\":\"run_python\"}", "no arguments"},
		{"{\"name\":\"run_python\",\"arguments\":{}}", "no script"},
		{"{\"name\":\"run_python\",\"arguments\":{\"script\":1}}",
		 "a number as script"},
		{"{\"name\":\"run_python\",\"arguments\":{\"script\":\"\","
		 "\"shell\":true}}",
		 "an unknown argument"},
		{"{\"name\":\"run_python\",\"arguments\":{\"script\":\"\","
		 "\"timeout\":0}}",
		 "a timeout of 0"},
		{"{\"name\":\"run_python\",\"arguments\":{\"script\":\"\","
		 "\"memory_mb\":1.5}}",
		 "a fractional memory_mb"},
		{"{\"name\":\"run_python\",\"arguments\":{\"script\":\"\","
		 "\"files\":[{\"path\":\"a\",\"mode\":1}]}}",
		 "an unknown key in a file"},
		{"{\"name\":\"run_python\",\"arguments\":{\"script\":\"\","
		 "\"outputs\":[1]}}",
		 "a number as an output pattern"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(msg, sizeof(msg), "%s%s}", pre, bad[i].params);
		expect_error(msg, MCP_INVALID_PARAMS, bad[i].what);
	}
	snprintf(msg, sizeof(msg), "%s%s}", pre,
		 "{\"name\":\"run_python\",\"arguments\":{\"script\":"
		 "\"def main(): return 1\",\"timeout\":2.5,\"files\":"
		 "[{\"path\":\"a.txt\",\"content\":\"x\"}],\"outputs\":[\"*\"]}}");
	r = mcp_handle(msg, strlen(msg), &text, &call);
	tap_ok(r == MCP_RUN && call &&
		       strcmp(call->request,
			      "{\"script\":\"def main(): return 1\",\"timeout\":"
			      "2.5,\"files\":[{\"path\":\"a.txt\",\"content\":"
			      "\"x\"}],\"outputs\":[\"*\"]}") == 0,
	       "a valid call: its arguments are the request object");
	mcp_call_free(call);
}

/* Base64 of "\x89PNG..." (8 bytes), of "x,y\n1,2\n", of 00 01 ff. */
#define PNG_B64 "iVBORw0KGgo="
#define CSV_B64 "eCx5CjEsMgo="
#define BIN_B64 "AAH/"

static json_t *reply(const char *response)
{
	struct mcp_call call = {.id = json_integer(9)};
	char *text = mcp_call_reply(&call, response);
	json_t *a = text ? json_loads(text, 0, NULL) : NULL;

	free(text);
	json_decref(call.id);
	if (!json_object_get(a, "result")) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static const char *str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key)) ?: "";
}

static void success_with_figures_and_files(void)
{
	json_t *a = reply(
		"{\"result\":{\"n\":1},\"stdout\":\"hi\\n\",\"figures\":["
		"{\"format\":\"png\",\"width\":640,\"height\":480,"
		"\"content_base64\":\"" PNG_B64 "\"},"
		"{\"format\":\"png\",\"width\":10,\"height\":20,"
		"\"content_base64\":\"" PNG_B64 "\"}],\"figures_omitted\":3,"
		"\"files\":[{\"path\":\"out/a b.csv\",\"size\":8,"
		"\"content_base64\":\"" CSV_B64 "\"},"
		"{\"path\":\"x.bin\",\"size\":3,\"content_base64\":\"" BIN_B64
		"\"},{\"path\":\"big.dat\",\"size\":99999999,\"omitted\":"
		"\"over the 8 MiB per-file limit\"}]}");
	json_t *res = json_object_get(a, "result");
	json_t *content = json_object_get(res, "content");
	json_t *sc = json_object_get(res, "structuredContent");
	json_t *text = json_array_get(content, 0), *b;

	tap_ok(json_is_false(json_object_get(res, "isError")),
	       "success: isError false");
	tap_ok(json_array_size(content) == 5,
	       "content: text, 2 images, 2 resources (the omitted file has "
	       "none), got %zu",
	       json_array_size(content));
	tap_ok(strcmp(str(text, "type"), "text") == 0 &&
		       strncmp(str(text, "text"), "result: {\"n\":1}", 15) == 0 &&
		       strstr(str(text, "text"), "stdout:\nhi\n") &&
		       strstr(str(text, "text"), "big.dat omitted") &&
		       strstr(str(text, "text"), "3 more figure"),
	       "the text block: result, stdout, what was omitted");
	for (size_t i = 1; i <= 2; i++) {
		b = json_array_get(content, i);
		tap_ok(strcmp(str(b, "type"), "image") == 0 &&
			       strcmp(str(b, "mimeType"), "image/png") == 0 &&
			       strcmp(str(b, "data"), PNG_B64) == 0,
		       "figure %zu: an image block with its PNG", i);
	}
	b = json_object_get(json_array_get(content, 3), "resource");
	tap_ok(strcmp(str(json_array_get(content, 3), "type"), "resource") == 0 &&
		       strcmp(str(b, "uri"), "pexos:/output/out/a%20b.csv") == 0 &&
		       strcmp(str(b, "mimeType"), "text/csv") == 0 &&
		       strcmp(str(b, "text"), "x,y\n1,2\n") == 0 &&
		       !json_object_get(b, "blob"),
	       "a text file: a resource with its text");
	b = json_object_get(json_array_get(content, 4), "resource");
	tap_ok(strcmp(str(b, "uri"), "pexos:/output/x.bin") == 0 &&
		       strcmp(str(b, "mimeType"), "application/octet-stream") == 0 &&
		       strcmp(str(b, "blob"), BIN_B64) == 0 &&
		       !json_object_get(b, "text"),
	       "a binary file: a resource with its blob");
	b = json_object_get(sc, "figures");
	tap_ok(json_array_size(b) == 2 &&
		       !json_object_get(json_array_get(b, 0), "content_base64") &&
		       json_integer_value(json_object_get(json_array_get(b, 0),
							  "width")) == 640,
	       "structuredContent: figures without their base64");
	tap_ok(strcmp(str(json_array_get(json_object_get(sc, "files"), 0),
			  "content_base64"),
		      CSV_B64) == 0 &&
		       json_integer_value(json_object_get(sc, "figures_omitted")) == 3,
	       "structuredContent: files as the response has them");
	json_decref(a);
}

static void failure(void)
{
	json_t *a = reply(
		"{\"error\":\"ValueError: no\",\"type\":\"ScriptError\","
		"\"traceback\":\"  File \\\"script.py\\\", line 3\\n\","
		"\"stdout\":\"so far\",\"stderr\":\"warn\",\"figures\":[{"
		"\"format\":\"png\",\"width\":1,\"height\":1,\"content_base64\":\""
		PNG_B64 "\"}]}");
	json_t *res = json_object_get(a, "result");
	json_t *content = json_object_get(res, "content");
	const char *t = str(json_array_get(content, 0), "text");

	tap_ok(json_is_true(json_object_get(res, "isError")),
	       "a failure: isError true");
	tap_ok(strncmp(t, "ScriptError: ValueError: no", 27) == 0 &&
		       strstr(t, "traceback:\n  File") &&
		       strstr(t, "stdout:\nso far") && strstr(t, "stderr:\nwarn"),
	       "the text block: type, error, traceback, output");
	tap_ok(json_array_size(content) == 2 &&
		       strcmp(str(json_array_get(content, 1), "type"), "image") == 0,
	       "a failure's figure is an image block too");
	tap_ok(strcmp(str(json_object_get(res, "structuredContent"), "type"),
		      "ScriptError") == 0,
	       "structuredContent is the response");
	json_decref(a);
	a = reply("[1]");
	tap_ok(!a, "a response that is not an object: no result");
}

/* notifications/cancelled names a call by its id; one that names none is
 * a notification like any other. */
static void cancellation(void)
{
	static const char *const pre =
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"";
	static const struct {
		const char *rest, *what;
	} ignored[] = {
		{"}", "no params"},
		{",\"params\":{}}", "no requestId"},
		{",\"params\":{\"requestId\":[1]}}", "an array as requestId"},
		{",\"params\":{\"requestId\":1.5}}", "a real as requestId"},
		{",\"params\":{\"requestId\":null}}", "null as requestId"},
	};
	const char *call_msg = "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":"
			       "\"tools/call\",\"params\":{\"name\":"
			       "\"run_python\",\"arguments\":{\"script\":"
			       "\"x\"}}}";
	struct mcp_call *call = NULL, *cancel = NULL;
	char msg[512], *text = NULL;
	int r;

	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		snprintf(msg, sizeof(msg), "%s%s", pre, ignored[i].rest);
		r = mcp_handle(msg, strlen(msg), &text, &cancel);
		tap_ok(r == MCP_NOTHING && !text && !cancel,
		       "notifications/cancelled with %s: nothing to do",
		       ignored[i].what);
		mcp_call_free(cancel);
		cancel = NULL;
	}
	r = mcp_handle(call_msg, strlen(call_msg), &text, &call);
	tap_ok(r == MCP_RUN && call, "a call with id 7");
	snprintf(msg, sizeof(msg), "%s%s", pre,
		 ",\"params\":{\"requestId\":7,\"reason\":\"user\"}}");
	r = mcp_handle(msg, strlen(msg), &text, &cancel);
	tap_ok(r == MCP_CANCEL && !text && cancel && !cancel->request &&
		       call && mcp_call_same_id(cancel, call),
	       "notifications/cancelled for 7: a cancel naming that call");
	mcp_call_free(cancel);
	cancel = NULL;
	snprintf(msg, sizeof(msg), "%s%s", pre,
		 ",\"params\":{\"requestId\":\"7\"}}");
	r = mcp_handle(msg, strlen(msg), &text, &cancel);
	tap_ok(r == MCP_CANCEL && cancel && call &&
		       !mcp_call_same_id(cancel, call),
	       "the string \"7\" names another call than the number 7");
	mcp_call_free(cancel);
	mcp_call_free(call);
}

int main(void)
{
	protocol_errors();
	cancellation();
	lifecycle();
	tools_list();
	arguments();
	success_with_figures_and_files();
	failure();
	return tap_done();
}
