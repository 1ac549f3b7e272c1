/* SPDX-License-Identifier: MIT */
/*
 * mcp.c - POST /mcp: the Model Context Protocol's Streamable HTTP
 * transport, answering every request with one application/json body.
 *
 * server.c treats /mcp as it treats /execute (token, Content-Type, body
 * limit, memory budget, worker queue, metrics); the hooks here say what
 * differs: the headers the transport adds, and the body as a JSON-RPC
 * message (mcp/) whose tools/call becomes the run's request object.
 * Every request stands alone: initialize's answer gives the client a
 * session id (Mcp-Session-Id), but the daemon keeps no session, requires
 * none and refuses none. The id only scopes request ids for
 * notifications/cancelled: a cancel sent with a session's id ends that
 * session's call of that request id: a queued one leaves the queue, a
 * running one ends (the library watches a pipe of the call's beside its
 * socket; the cancel closes the pipe), and the call is answered 202 with
 * no JSON-RPC response. Nothing is ever sent from the server unasked, so
 * GET /mcp (a stream for that) is 405.
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "httpd.h"
#include "mcp.h"

/* A browser page must not reach a local daemon through DNS rebinding: an
 * Origin other than a loopback one is refused unless a token is required
 * (a page cannot send the token without a CORS answer we never give). */
static bool origin_ok(const char *origin, bool token)
{
	static const char *const local[] = {"localhost", "127.0.0.1", "[::1]"};
	const char *host;

	if (!origin || token)
		return true;
	host = strstr(origin, "://");
	if (!host)
		return false;
	host += 3;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
		size_t n = strlen(local[i]);
		if (strncasecmp(host, local[i], n) == 0 &&
		    (host[n] == '\0' || host[n] == ':' || host[n] == '/'))
			return true;
	}
	return false;
}

int httpd_mcp_headers(struct MHD_Connection *c, bool token,
		      const char **ret_why)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "MCP-Protocol-Version");

	if (!origin_ok(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						   "Origin"),
		       token)) {
		*ret_why = "requests to /mcp from a web page of another origin "
			   "are refused";
		return 403;
	}
	if (v && !mcp_version_ok(v)) {
		*ret_why = "unsupported MCP-Protocol-Version: pexos speaks "
			   MCP_PROTOCOL_VERSION;
		return 400;
	}
	return 0;
}

/* The calls of sessions, queued or running: a short list (at most the
 * workers and the queue), searched only by a cancel. */
static pthread_mutex_t tracked_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mcp_track *tracked;

int httpd_mcp_session_id(char buf[33])
{
	unsigned char raw[16];

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -errno ?: -EIO;
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(buf + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

void httpd_mcp_track(struct mcp_track *t, int *ret_read)
{
	int fds[2];

	*ret_read = -1;
	t->cancel_w = -1;
	if (!t->session[0] || pipe2(fds, O_CLOEXEC) < 0)
		return;
	*ret_read = fds[0];
	t->cancel_w = fds[1];
	pthread_mutex_lock(&tracked_lock);
	t->next = tracked;
	tracked = t;
	t->linked = true;
	pthread_mutex_unlock(&tracked_lock);
}

void httpd_mcp_untrack(struct mcp_track *t)
{
	pthread_mutex_lock(&tracked_lock);
	if (t->linked)
		for (struct mcp_track **p = &tracked; *p; p = &(*p)->next)
			if (*p == t) {
				*p = t->next;
				break;
			}
	t->linked = false;
	t->next = NULL;
	if (t->cancel_w >= 0)
		close(t->cancel_w);
	t->cancel_w = -1;
	pthread_mutex_unlock(&tracked_lock);
}

/* notifications/cancelled of `session`: each call of it with that id
 * ends as its client's hang-up would end it; its connection stays as it
 * is, for the answer. A call still in the queue leaves it and is answered
 * at once; a running one when its sandbox is gone. */
static void cancel_tracked(const struct mcp_call *which, const char *session)
{
	struct job *ended[64];
	size_t n = 0;

	pthread_mutex_lock(&tracked_lock);
	for (struct mcp_track *t = tracked; t; t = t->next)
		if (!t->cancelled && strcmp(t->session, session) == 0 &&
		    mcp_call_same_id(t->call, which)) {
			t->cancelled = true;
			close(t->cancel_w);
			t->cancel_w = -1;
			/* Taken out under the table's lock: its connection
			 * cannot end meanwhile (untracking comes first). One
			 * left in the queue past the array's end still ends
			 * when a worker takes it (its pipe is closed). */
			if (t->job && n < sizeof(ended) / sizeof(ended[0]) &&
			    queue_unqueue(t->job))
				ended[n++] = t->job;
		}
	pthread_mutex_unlock(&tracked_lock);
	/* Its done() untracks it: not under the lock. */
	for (size_t i = 0; i < n; i++)
		queue_end_cancelled(ended[i]);
}

int httpd_mcp_body(const char *body, size_t len, const char *session,
		   struct mcp_call **ret_call, char **ret_answer,
		   char outcome[32], bool *ret_init)
{
	int r = mcp_handle(body, len, ret_answer, ret_call);

	*ret_init = r == MCP_ANSWER_INIT;
	if (r == MCP_RUN)
		return 0;
	if (r == MCP_CANCEL) {
		if (session && strlen(session) <= MCP_SESSION_MAX)
			cancel_tracked(*ret_call, session);
		mcp_call_free(*ret_call);
		*ret_call = NULL;
		return 202;
	}
	if (r == MCP_NOTHING)
		return 202; /* a notification or a response: Accepted */
	if (r < 0) {
		*ret_answer = NULL;
		return 200;
	}
	if (!strstr(*ret_answer, "\"error\":{\"code\":"))
		return 200;
	snprintf(outcome, 32, "InvalidRequest");
	/* A body that is no JSON-RPC request at all is a bad HTTP request;
	 * an error about a request's content is its answer. */
	return strstr(*ret_answer, "{\"code\":-32700,") ||
			       strstr(*ret_answer, "{\"code\":-32600,")
		       ? 400
		       : 200;
}

/* A run that never started, as a response object: the tool result says
 * so (isError), the protocol exchange itself went well. */
static char *busy_response(const char *why)
{
	char *text = NULL;

	if (asprintf(&text, "{\"error\":\"%s\",\"type\":\"Busy\"}", why) < 0)
		return NULL;
	return text;
}

char *httpd_mcp_reply(const struct mcp_call *call, struct job *j,
		      bool queued, char outcome[32])
{
	char *resp, *answer;
	pexos_outcome oc = {0};

	if (!queued)
		resp = busy_response("all sandboxes and the queue are full; "
				     "retry later");
	else if (j->error == -ECANCELED)
		resp = busy_response("pexos-httpd is shutting down; retry "
				     "later");
	else if (j->error < 0) {
		resp = pexos_error_response(&j->err);
		pexos_error_outcome(&j->err, &oc);
	} else {
		resp = j->response;
		j->response = NULL;
		oc = j->outcome;
	}
	snprintf(outcome, 32, "%s",
		 !queued || j->error == -ECANCELED ? "Busy"
		 : oc.type[0]			   ? oc.type
						   : "ok");
	answer = resp ? mcp_call_reply(call, resp) : NULL;
	pexos_free(resp);
	return answer;
}
