/* SPDX-License-Identifier: MIT */
/* mcp_stdio.h - pexos-run --mcp: the Model Context Protocol on stdio. */
#ifndef PEXOS_MCP_STDIO_H
#define PEXOS_MCP_STDIO_H

#include "pexos.h"

/* Serves JSON-RPC messages, one per line, from stdin until EOF, answering
 * on stdout (nothing else is written there). Tool calls run on `jobs`
 * threads at once and are answered as they finish, in any order. `ctx`
 * may be NULL: every run then answers the SandboxError of `ctx_err`
 * (borrowed). Returns the exit status: 0 after EOF once every call in
 * flight is answered, 3 when stdin could not be read or memory ran out. */
int mcp_stdio_main(pexos_context *ctx, const pexos_error *ctx_err,
		   unsigned jobs);

#endif
