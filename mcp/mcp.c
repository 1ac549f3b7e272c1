/* SPDX-License-Identifier: MIT */
/*
 * mcp.c - JSON-RPC 2.0 messages of the Model Context Protocol: lifecycle
 * (initialize, notifications/initialized, ping), tools/list and
 * tools/call, and the protocol's errors.
 *
 * Stateless on purpose: every request is answered from its own text, so
 * one function serves a stdio stream and independent HTTP requests alike.
 * A client that calls a tool before initialize is served all the same;
 * the protocol asks clients to initialize first, not servers to refuse.
 */
#define PEXOS_MCP_INTERNAL
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcp.h"
#include "pexos.h"

/* Versions a client may name in MCP-Protocol-Version: ours, and the one
 * the transport says to assume when the header is missing. */
int mcp_version_ok(const char *version)
{
	return strcmp(version, MCP_PROTOCOL_VERSION) == 0 ||
	       strcmp(version, "2025-03-26") == 0;
}

static char *dump(json_t *msg)
{
	char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;

	json_decref(msg);
	return text;
}

static char *error_answer(const json_t *id, int code, const char *message)
{
	return dump(json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0",
			      "id", id ? id : json_null(), "error", "code",
			      code, "message", message));
}

char *mcp_error_text(int code, const char *message)
{
	return error_answer(NULL, code, message);
}

char *mcp_call_error(const struct mcp_call *call, int code,
		     const char *message)
{
	return error_answer(call->id, code, message);
}

/* json_pack's "o" takes the reference even when it fails. */
static char *result_answer(const json_t *id, json_t *result)
{
	return dump(json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id,
			      "result", result));
}

static char *initialize(const json_t *id, const json_t *params)
{
	const json_t *v = json_object_get(params, "protocolVersion");

	if (!json_is_string(v))
		return error_answer(id, MCP_INVALID_PARAMS,
				    "initialize needs params.protocolVersion, "
				    "a string");
	/* An unknown version gets the newest we speak; the client decides
	 * whether it can go on. */
	return result_answer(
		id,
		json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}",
			  "protocolVersion", MCP_PROTOCOL_VERSION,
			  "capabilities", "tools", "listChanged", 0,
			  "serverInfo", "name", "pexos", "title",
			  "pexos Python sandbox", "version", pexos_version(),
			  "instructions",
			  "Use run_python to run Python code in a sandbox: "
			  "define main() and return a JSON value; print() "
			  "output comes back too. Each call is a fresh "
			  "sandbox without network."));
}

static char *tools_list(const json_t *id)
{
	json_t *tool = mcp_tool_new();

	if (!tool)
		return NULL;
	return result_answer(id, json_pack("{s:[o]}", "tools", tool));
}

/* tools/call: checks the name and the arguments, and makes the request
 * object of the run from the arguments alone. */
static int tools_call(json_t *id, const json_t *params, char **ret_answer,
		      struct mcp_call **ret_call)
{
	const json_t *name = json_object_get(params, "name");
	const json_t *args = json_object_get(params, "arguments");
	struct mcp_call *call;
	char why[384];

	if (!json_is_object(params) || !json_is_string(name)) {
		*ret_answer = error_answer(id, MCP_INVALID_PARAMS,
					   "tools/call needs params.name");
		return *ret_answer ? MCP_ANSWER : -ENOMEM;
	}
	if (strcmp(json_string_value(name), "run_python") != 0) {
		snprintf(why, sizeof(why), "unknown tool \"%.200s\": pexos "
			 "has one tool, run_python", json_string_value(name));
		*ret_answer = error_answer(id, MCP_INVALID_PARAMS, why);
		return *ret_answer ? MCP_ANSWER : -ENOMEM;
	}
	if (!json_is_object(args) ||
	    mcp_check_arguments(args, why, sizeof(why)) < 0) {
		if (!json_is_object(args))
			snprintf(why, sizeof(why), "params.arguments must be "
				 "an object with at least \"script\"");
		*ret_answer = error_answer(id, MCP_INVALID_PARAMS, why);
		return *ret_answer ? MCP_ANSWER : -ENOMEM;
	}
	call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	call->request = json_dumps(args, JSON_COMPACT);
	if (!call->request) {
		free(call);
		return -ENOMEM;
	}
	call->len = strlen(call->request);
	call->id = json_incref(id);
	*ret_call = call;
	return MCP_RUN;
}

/* notifications/cancelled: the call to stop, named by params.requestId
 * (a string or an integer); anything else is a notification like any
 * other, with nothing to answer. */
static int cancelled(const json_t *params, struct mcp_call **ret_call)
{
	json_t *id = json_object_get(params, "requestId");
	struct mcp_call *call;

	if (!json_is_string(id) && !json_is_integer(id))
		return MCP_NOTHING;
	call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	call->id = json_incref(id);
	*ret_call = call;
	return MCP_CANCEL;
}

/* A message of the right shape: {"jsonrpc": "2.0", "method": ..., ...}
 * (a request with an id, or a notification), or a client's response. */
static int dispatch(json_t *msg, char **ret_answer, struct mcp_call **ret_call)
{
	json_t *id = json_object_get(msg, "id");
	const json_t *params = json_object_get(msg, "params");
	const char *method = json_string_value(json_object_get(msg, "method"));
	char why[256];

	if (!json_object_get(msg, "method") &&
	    (json_object_get(msg, "result") || json_object_get(msg, "error")))
		return MCP_NOTHING; /* an answer to nothing we asked */
	if (!method || (id && !json_is_string(id) && !json_is_integer(id)) ||
	    (params && !json_is_object(params)))
		*ret_answer = error_answer(json_is_string(id) ||
						   json_is_integer(id) ? id : NULL,
					   MCP_INVALID_REQUEST,
					   "not a JSON-RPC 2.0 request: method "
					   "must be a string, id a string or "
					   "an integer, params an object");
	else if (!id && strcmp(method, "notifications/cancelled") == 0)
		return cancelled(params, ret_call);
	else if (!id)
		return MCP_NOTHING; /* notifications: nothing to answer */
	else if (strcmp(method, "initialize") == 0) {
		*ret_answer = initialize(id, params);
		if (*ret_answer && json_is_string(json_object_get(
					   params, "protocolVersion")))
			return MCP_ANSWER_INIT;
	} else if (strcmp(method, "ping") == 0)
		*ret_answer = result_answer(id, json_object());
	else if (strcmp(method, "tools/list") == 0)
		*ret_answer = tools_list(id);
	else if (strcmp(method, "tools/call") == 0)
		return tools_call(id, params, ret_answer, ret_call);
	else {
		snprintf(why, sizeof(why), "method not found: %.200s", method);
		*ret_answer = error_answer(id, MCP_METHOD_NOT_FOUND, why);
	}
	return *ret_answer ? MCP_ANSWER : -ENOMEM;
}

int mcp_handle(const char *msg, size_t len, char **ret_answer,
	       struct mcp_call **ret_call)
{
	json_error_t jerr;
	json_t *m = json_loadb(msg, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
			     &jerr);
	const char *why = NULL;
	int r;

	*ret_answer = NULL;
	*ret_call = NULL;
	if (!m) {
		char text[300];
		snprintf(text, sizeof(text), "parse error: %s", jerr.text);
		*ret_answer = error_answer(NULL, MCP_PARSE_ERROR, text);
		return *ret_answer ? MCP_ANSWER : -ENOMEM;
	}
	if (json_is_array(m))
		why = "batches are not part of protocol version "
		      MCP_PROTOCOL_VERSION ": send one message at a time";
	else if (!json_is_object(m))
		why = "a JSON-RPC message is an object";
	else if (!json_is_string(json_object_get(m, "jsonrpc")) ||
		 strcmp(json_string_value(json_object_get(m, "jsonrpc")),
			"2.0") != 0)
		why = "\"jsonrpc\" must be \"2.0\"";
	if (why) {
		json_t *id = json_object_get(m, "id");
		*ret_answer = error_answer(
			json_is_string(id) || json_is_integer(id) ? id : NULL,
			MCP_INVALID_REQUEST, why);
		json_decref(m);
		return *ret_answer ? MCP_ANSWER : -ENOMEM;
	}
	r = dispatch(m, ret_answer, ret_call);
	json_decref(m);
	return r;
}

char *mcp_call_reply(const struct mcp_call *call, const char *response)
{
	json_t *resp = json_loads(response, 0, NULL), *result;

	if (!json_is_object(resp)) {
		json_decref(resp);
		return error_answer(call->id, MCP_INTERNAL_ERROR,
				    "pexos gave a response that is not a JSON "
				    "object");
	}
	result = mcp_result_new(resp);
	json_decref(resp);
	if (!result)
		return NULL;
	return result_answer(call->id, result);
}

int mcp_call_same_id(const struct mcp_call *a, const struct mcp_call *b)
{
	return json_equal(a->id, b->id);
}

void mcp_call_free(struct mcp_call *call)
{
	if (!call)
		return;
	json_decref(call->id);
	free(call->request);
	free(call);
}
