/* SPDX-License-Identifier: MIT */
/*
 * mcp.h - the Model Context Protocol side of pexos (pexos(7), SPEC §10),
 * shared by pexos-run --mcp (stdio) and pexos-httpd (POST /mcp).
 *
 * Transport-free: a front end hands in one JSON-RPC message as text and
 * gets back either an answer to send, nothing (a notification), or a run
 * to make. The run itself is the front end's business (its own threads or
 * queue, its own limits); once pexos_run_script() has answered, the
 * response object goes through mcp_call_reply() to become the tool result.
 */
#ifndef PEXOS_MCP_H
#define PEXOS_MCP_H

#include <stddef.h>

/* The protocol version pexos speaks (the newest, and the only one it
 * answers with). */
#define MCP_PROTOCOL_VERSION "2025-06-18"

/* JSON-RPC 2.0 error codes. */
enum {
	MCP_PARSE_ERROR = -32700,
	MCP_INVALID_REQUEST = -32600,
	MCP_METHOD_NOT_FOUND = -32601,
	MCP_INVALID_PARAMS = -32602,
	MCP_INTERNAL_ERROR = -32603,
};

enum mcp_action {
	MCP_ANSWER,  /* send *ret_answer */
	MCP_ANSWER_INIT, /* the same, a successful initialize's: where the
			  * HTTP transport gives the client its session id */
	MCP_NOTHING, /* a notification or a client's response: send nothing */
	MCP_RUN,     /* run (*ret_call)->request, then mcp_call_reply() */
	MCP_CANCEL,  /* notifications/cancelled: stop the call whose id is
		      * (*ret_call)->id (request NULL) and send nothing for
		      * it; an id no call has is ignored */
};

/* A tools/call of run_python, to be run. */
struct mcp_call {
	void *id;      /* the request's id (a json_t, owned) */
	char *request; /* the request object of pexos(7), as JSON text */
	size_t len;
};

/* Handles one JSON-RPC message of `len` bytes (borrowed). On success
 * returns the action and fills the matching out-parameter: *ret_answer a
 * new string (free), or *ret_call a new call (mcp_call_free). Protocol
 * errors are answers. Returns -ENOMEM only. */
int mcp_handle(const char *msg, size_t len, char **ret_answer,
	       struct mcp_call **ret_call);

/* The answer to `call` (borrowed) from the response object text
 * `response` (borrowed) that pexos_run_script() gave for it: a tools/call
 * result (SPEC §10). New string (free), or NULL when out of memory. */
char *mcp_call_reply(const struct mcp_call *call, const char *response);

/* The JSON-RPC error answer to `call` (borrowed): for a run that could not
 * be made at all (the server is busy or stopping). New string, or NULL. */
char *mcp_call_error(const struct mcp_call *call, int code,
		     const char *message);

/* The JSON-RPC error answer with a null id, for what a transport refuses
 * before mcp_handle (a body too large, ...). New string, or NULL. */
char *mcp_error_text(int code, const char *message);

void mcp_call_free(struct mcp_call *call);

/* True when a and b (borrowed) carry the same request id. */
int mcp_call_same_id(const struct mcp_call *a, const struct mcp_call *b);

/* True when `version`, sent by a client as MCP-Protocol-Version, is one
 * pexos accepts on a request after initialize. */
int mcp_version_ok(const char *version);

/* ---- internal to mcp/ ---------------------------------------------------- */
#ifdef PEXOS_MCP_INTERNAL
#include <jansson.h>

/* schema.c: the tool of tools/list (new reference), and the check of a
 * tools/call's arguments against its inputSchema: 0, or -1 with `why`
 * filled (a sentence naming the field). */
json_t *mcp_tool_new(void);
int mcp_check_arguments(const json_t *args, char *why, size_t why_len);

/* result.c: the tools/call result for a response object (borrowed). New
 * reference or NULL. */
json_t *mcp_result_new(const json_t *response);
#endif

#endif
