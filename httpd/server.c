/* SPDX-License-Identifier: MIT */
/*
 * server.c - the libmicrohttpd side of pexos-httpd.
 *
 * The first call of the access handler for a connection sees only the
 * headers: method, path, token, Content-Type and Content-Length are checked
 * there and refused (405, 404, 401, 415, 413) before any body is read. The
 * body then goes into a capped buffer; only once it is complete does the
 * request ask the worker queue for a sandbox (503 Busy when there is no
 * room), and the connection is suspended until a worker resumes it with
 * the response. Per-connection state lives in *con_cls and is freed, after
 * the log line, in the completion callback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "mcp.h"

enum route { R_NONE, R_EXECUTE, R_HEALTH, R_METRICS, R_MCP, R_OPENAPI };
/* Routes that run a script: a body, a queue slot, a run. */
#define RUNS(route) ((route) == R_EXECUTE || (route) == R_MCP)
enum state { S_HEADERS, S_BODY, S_RUNNING, S_ANSWERED };

struct conn {
	enum route route;
	enum state state;
	struct MHD_Connection *mhd;
	char method[16];
	char url[256];
	char *body;
	size_t len, cap;
	bool too_large;
	bool close; /* framing refused: close the connection after the answer */
	bool over_budget;  /* its body did not fit in --buffer-max */
	size_t held;       /* bytes of it counted in `buffered` */
	bool undelivered;  /* answered, but the connection ended before the
			    * answer was all sent (a client that does not
			    * read, timed out) */
	struct job job;
	struct mcp_call *mcp; /* R_MCP: the tools/call being run */
	struct mcp_track track; /* ... findable by its session's cancel */
	char session_id[33];	/* initialize's answer: a new session's id */
	int status;
	char outcome[32];
	size_t response_size;
	uint64_t start_ns, body_ns;
	char remote[64];
	char agent[128];
};

/* openapi/: the OpenAPI document, embedded at build time. */
extern const char pexos_openapi_json[];

static struct MHD_Daemon *daemon_;
static const struct config *cfg;
static pexos_context *ctx;
static const char *check_report;

/* The listening socket as it was made: its number and its inode. The
 * self-check (server_check_listener) compares against them. */
static struct {
	int fd;
	dev_t dev;
	ino_t ino;
} listener = {.fd = -1};
/* Bytes of request bodies and answers held now, against --buffer-max: a
 * body is counted from its Content-Length (or as it arrives), an answer
 * from its making, both until the connection's request is over. A body
 * that does not fit is refused (503 Busy); an answer is never refused, so
 * the overshoot is the answers of the requests already admitted. */
static atomic_size_t buffered;
/* Set once the listening socket is found broken: /health then fails. */
static _Atomic(const char *) listener_error;

/* ---- memory held -------------------------------------------------------- */

/* Counts n more bytes for `s`; false, and nothing counted, when they do not
 * fit (`force`: counted anyway, for answers). */
static bool hold(struct conn *s, size_t n, bool force)
{
	size_t now = atomic_load(&buffered);

	do {
		if (!force && (now + n > cfg->buffer_max || now + n < now))
			return false;
	} while (!atomic_compare_exchange_weak(&buffered, &now, now + n));
	s->held += n;
	return true;
}

static void release(struct conn *s)
{
	atomic_fetch_sub(&buffered, s->held);
	s->held = 0;
}

/* ---- responses ---------------------------------------------------------- */

static enum MHD_Result send_text(struct conn *s, int status, const char *type,
				 const char *text, size_t len, bool copy)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)text,
		copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;
	char timing[128];

	if (!r)
		return MHD_NO;
	if (!copy || len > 1024)
		hold(s, len, true);
	MHD_add_response_header(r, "Content-Type", type);
	if (RUNS(s->route) && s->job.started_ns)
		snprintf(timing, sizeof(timing),
			 "queue;dur=%.3f, run;dur=%.3f, total;dur=%.3f",
			 (double)(s->job.started_ns - s->job.queued_ns) / 1e6,
			 (double)(s->job.finished_ns - s->job.started_ns) / 1e6,
			 (double)(mono_ns() - s->start_ns) / 1e6);
	else
		snprintf(timing, sizeof(timing), "total;dur=%.3f",
			 (double)(mono_ns() - s->start_ns) / 1e6);
	MHD_add_response_header(r, "Server-Timing", timing);
	if (status == 503)
		MHD_add_response_header(r, "Retry-After", "1");
	if (s->close)
		MHD_add_response_header(r, "Connection", "close");
	if (status == 401)
		MHD_add_response_header(r, "WWW-Authenticate",
					"Bearer realm=\"pexos\"");
	if (status == 405)
		MHD_add_response_header(r, "Allow",
					RUNS(s->route) ? "POST"
							      : "GET, HEAD");
	if (s->session_id[0])
		MHD_add_response_header(r, "Mcp-Session-Id", s->session_id);
	ret = MHD_queue_response(s->mhd, (unsigned)status, r);
	MHD_destroy_response(r);
	s->status = status;
	s->response_size = len;
	s->state = S_ANSWERED;
	return ret;
}

/* An error response of pexos's own: {"error": ..., "type": ...}. */
static enum MHD_Result send_error(struct conn *s, int status, const char *type,
				  const char *message)
{
	char buf[768];
	size_t n = 0;

	/* The messages are ours: plain ASCII without quotes or backslashes. */
	n = (size_t)snprintf(buf, sizeof(buf),
			     "{\"error\":\"%s\",\"type\":\"%s\"}", message,
			     type);
	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	snprintf(s->outcome, sizeof(s->outcome), "%s", type);
	return send_text(s, status, "application/json", buf, n, true);
}

static enum MHD_Result send_health(struct conn *s)
{
	const char *broken = atomic_load(&listener_error);
	char *buf = NULL, *pool;
	int n;

	if (broken) {
		n = asprintf(&buf, "{\"status\":\"unhealthy\",\"error\":"
				   "\"%s\",\"type\":\"SandboxError\"}",
			     broken);
		if (n < 0)
			return MHD_NO;
		snprintf(s->outcome, sizeof(s->outcome), "SandboxError");
		return send_text(s, 503, "application/json", buf, (size_t)n,
				 false);
	}
	pool = pexos_pool_status(ctx);
	n = asprintf(&buf,
			 "{\"status\":\"healthy\",\"version\":\"%s\","
			 "\"workers\":%u,\"busy\":%u,\"queue\":%u,"
			 "\"queue_capacity\":%u,\"buffered_bytes\":%zu,"
			 "\"buffer_max_bytes\":%zu,\"pool\":%s,"
			 "\"isolation\":%s}",
			 pexos_version(), cfg->workers, queue_busy(),
			 queue_length(), cfg->queue, atomic_load(&buffered),
			 cfg->buffer_max,
			 pool ? pool : "{\"size\":0,\"state\":\"off\"}",
			 check_report);

	pexos_free(pool);
	if (n < 0)
		return MHD_NO;
	return send_text(s, 200, "application/json", buf, (size_t)n, false);
}

static enum MHD_Result send_metrics(struct conn *s)
{
	pexos_pool_snapshot pool;
	struct pool_profile_figures profiles[4];
	size_t n_profiles = 0;
	char *text;

	char *all = NULL;
	int n;

	pexos_pool_info(ctx, &pool);
	while (n_profiles < sizeof(profiles) / sizeof(profiles[0]) &&
	       pexos_pool_profile_info(ctx, (unsigned)n_profiles,
				       &profiles[n_profiles].name,
				       &profiles[n_profiles].snap) == 0)
		n_profiles++;
	text = metrics_render(&pool, profiles, n_profiles, cfg->workers,
			      queue_busy(), queue_length(), cfg->queue);
	if (!text)
		return MHD_NO;
	n = asprintf(&all,
		     "%s# HELP pexos_listener_up 1 while the listening socket "
		     "works (see GET /health).\n"
		     "# TYPE pexos_listener_up gauge\npexos_listener_up %d\n"
		     "# HELP pexos_buffered_bytes Request bodies and answers "
		     "held in memory now.\n"
		     "# TYPE pexos_buffered_bytes gauge\n"
		     "pexos_buffered_bytes %zu\n"
		     "# HELP pexos_buffer_max_bytes Bodies and answers that "
		     "may be held (--buffer-max).\n"
		     "# TYPE pexos_buffer_max_bytes gauge\n"
		     "pexos_buffer_max_bytes %zu\n"
		     "# HELP pexos_log_lines_dropped_total Log lines dropped "
		     "because stderr was not read fast enough.\n"
		     "# TYPE pexos_log_lines_dropped_total counter\n"
		     "pexos_log_lines_dropped_total %llu\n",
		     text, atomic_load(&listener_error) ? 0 : 1,
		     atomic_load(&buffered), cfg->buffer_max,
		     (unsigned long long)log_dropped());
	free(text);
	if (n < 0)
		return MHD_NO;
	return send_text(s, 200, "text/plain; version=0.0.4", all, (size_t)n,
			 false);
}

/* ---- checks done on the headers alone ----------------------------------- */

/* Constant time in the length of the given token. */
static bool token_ok(struct MHD_Connection *c)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "Authorization");
	size_t want = strlen(cfg->token), got;
	unsigned char diff = 0;

	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	got = strlen(h);
	for (size_t i = 0; i < got; i++)
		diff |= (unsigned char)(h[i] ^ cfg->token[i % (want ? want : 1)]);
	return diff == 0 && got == want;
}

static bool json_content_type(struct MHD_Connection *c)
{
	const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    "Content-Type");
	size_t n = strlen("application/json");

	return t && strncasecmp(t, "application/json", n) == 0 &&
	       (t[n] == '\0' || t[n] == ';' || t[n] == ' ');
}

static enum MHD_Result on_headers(struct conn *s, struct MHD_Connection *c,
				  const char *url, const char *method)
{
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	const char *cl, *bad;
	int refuse = framing_check(c, &bad); /* before anything (framing.c) */

	if (refuse) {
		s->close = true;
		return send_error(s, refuse, "InvalidRequest", bad);
	}
	if (strcmp(url, "/execute") == 0)
		s->route = R_EXECUTE;
	else if (strcmp(url, "/mcp") == 0)
		s->route = R_MCP;
	else if (strcmp(url, "/health") == 0)
		s->route = R_HEALTH;
	else if (strcmp(url, "/metrics") == 0)
		s->route = R_METRICS;
	else if (strcmp(url, "/openapi.json") == 0)
		s->route = R_OPENAPI;
	else
		return send_error(s, 404, "InvalidRequest",
				  "no such endpoint: use POST /execute, POST "
				  "/mcp, GET /health, GET /metrics or GET "
				  "/openapi.json");
	if (!RUNS(s->route)) {
		if (!get)
			return send_error(s, 405, "InvalidRequest",
					  "this endpoint answers GET");
		if (s->route == R_OPENAPI) /* the document, built in */
			return send_text(s, 200, "application/json",
					 pexos_openapi_json,
					 strlen(pexos_openapi_json), true);
		return s->route == R_HEALTH ? send_health(s) : send_metrics(s);
	}
	if (strcmp(method, "POST") != 0)
		return send_error(s, 405, "InvalidRequest",
				  s->route == R_MCP ? "/mcp answers POST only: "
				  "pexos sends no messages unasked"
				  : "/execute answers POST");
	if (cfg->token && !token_ok(c))
		return send_error(s, 401, "InvalidRequest",
				  "a valid 'Authorization: Bearer TOKEN' "
				  "header is required");
	if (!json_content_type(c))
		return send_error(s, 415, "InvalidRequest",
				  "the body must be sent with Content-Type: "
				  "application/json");
	if (s->route == R_MCP) { /* ---- MCP hook (mcp.c) ---- */
		const char *why;
		int st = httpd_mcp_headers(c, cfg->token != NULL, &why);
		if (st)
			return send_error(s, st, "InvalidRequest", why);
	}
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	if (cl && strtoull(cl, NULL, 10) > cfg->max_body)
		return send_error(s, 413, "InvalidRequest",
				  "the request body is larger than the "
				  "server's limit");
	/* A body that does not fit is read and dropped, then answered Busy:
	 * answered at once, a client still sending would see its connection
	 * reset before it could read the answer. */
	if (cl && !hold(s, (size_t)strtoull(cl, NULL, 10), false))
		s->over_budget = true;
	s->state = S_BODY;
	return MHD_YES;
}

/* ---- the body, the run -------------------------------------------------- */

static int append(struct conn *s, const char *data, size_t n)
{
	if (s->too_large || s->len + n > cfg->max_body) {
		s->too_large = true; /* read and drop the rest */
		return 0;
	}
	/* More than its Content-Length said (or none was sent): counted as
	 * it comes. */
	if (s->over_budget ||
	    (s->len + n > s->held && !hold(s, s->len + n - s->held, false))) {
		s->over_budget = true; /* read and drop the rest */
		return 0;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 16384;
		char *p;
		while (cap < s->len + n)
			cap *= 2;
		if (cap > cfg->max_body)
			cap = cfg->max_body;
		p = realloc(s->body, cap);
		if (!p)
			return -1;
		s->body = p;
		s->cap = cap;
	}
	memcpy(s->body + s->len, data, n);
	s->len += n;
	return 0;
}

/* Worker thread: the run is over; hand the connection back to MHD. */
/* An MCP call's job is over (or was refused): out of the table of
 * cancellable calls, its pipe closed. */
static void untrack(struct conn *s)
{
	if (!s->track.linked)
		return;
	httpd_mcp_untrack(&s->track);
	close(s->job.cancel_own);
	s->job.cancel_own = -1;
}

static void run_done(struct job *j)
{
	struct conn *s = j->arg;

	untrack(s); /* before the connection may close */
	MHD_resume_connection(s->mhd);
}

/* ---- MCP hook (mcp.c): a tools/call's answer, a JSON-RPC result ---- */
static enum MHD_Result send_mcp_reply(struct conn *s, bool queued)
{
	char *text = httpd_mcp_reply(s->mcp, &s->job, queued, s->outcome);

	if (!text)
		return MHD_NO;
	return send_text(s, 200, "application/json", text, strlen(text),
			 false);
}

static enum MHD_Result on_body_complete(struct conn *s)
{
	const union MHD_ConnectionInfo *fd =
	    MHD_get_connection_info(s->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
	const char *session = MHD_lookup_connection_value(
		s->mhd, MHD_HEADER_KIND, "Mcp-Session-Id");

	if (s->too_large)
		return send_error(s, 413, "InvalidRequest",
				  "the request body is larger than the "
				  "server's limit");
	if (s->over_budget)
		return send_error(s, 503, "Busy",
				  "the server holds as many request bodies as "
				  "it may; retry later");
	s->body_ns = mono_ns();
	if (s->route == R_MCP) { /* ---- MCP hook (mcp.c) ---- */
		char *text = NULL;
		bool init = false;
		int st = httpd_mcp_body(s->body ? s->body : "", s->len, session,
					&s->mcp, &text, s->outcome, &init);
		if (init && httpd_mcp_session_id(s->session_id) < 0)
			s->session_id[0] = '\0';
		if (st == 202)
			return send_text(s, 202, "application/json", "", 0, true);
		if (st)
			return text ? send_text(s, st, "application/json", text,
						strlen(text), false)
				    : MHD_NO;
	}
	/* The socket stays open while the connection is suspended: if the
	 * client goes away, the library ends the run (queued or running). */
	s->job = (struct job){.body = s->mcp ? s->mcp->request
				     : s->body ? s->body : "",
			      .len = s->mcp ? s->mcp->len : s->len,
			      .cancel_fd = fd ? fd->connect_fd : -1,
			      .cancel_own = -1,
			      .done = run_done,
			      .arg = s};
	s->state = S_RUNNING;
	if (s->mcp && session && strlen(session) <= MCP_SESSION_MAX) {
		s->track = (struct mcp_track){.call = s->mcp, .job = &s->job};
		snprintf(s->track.session, sizeof(s->track.session), "%s",
			 session);
		httpd_mcp_track(&s->track, &s->job.cancel_own);
	}
	/* Suspend first: the worker may finish and resume at once. */
	MHD_suspend_connection(s->mhd);
	if (!queue_push(&s->job)) {
		untrack(s);
		MHD_resume_connection(s->mhd);
		s->job.started_ns = 0;
		if (s->mcp) /* a tool result saying Busy (mcp.c) */
			return send_mcp_reply(s, false);
		return send_error(s, 503, "Busy",
				  "all sandboxes and the queue are full; "
				  "retry later");
	}
	return MHD_YES;
}

static enum MHD_Result on_run_finished(struct conn *s)
{
	struct job *j = &s->job;
	char *text;

	/* An MCP call its session cancelled gets no JSON-RPC answer (the
	 * protocol says so): Accepted, with nothing. */
	if (j->error == -ECANCELED && strcmp(j->err.step, "cancel_fd") == 0 &&
	    s->mcp && s->track.cancelled) {
		snprintf(s->outcome, sizeof(s->outcome), "Cancelled");
		return send_text(s, 202, "application/json", "", 0, true);
	}
	/* The client hung up (or shut its sending side): its run was ended.
	 * An answer for the log and the metrics; a client that only shut
	 * down its side still reads it. */
	if (j->error == -ECANCELED && strcmp(j->err.step, "cancel_fd") == 0)
		return send_error(s, 499, "Cancelled",
				  "the client went away; its run was "
				  "cancelled");
	if (s->mcp)
		return send_mcp_reply(s, true);
	if (j->error == -ECANCELED)
		return send_error(s, 503, "Busy",
				  "pexos-httpd is shutting down; retry later");
	if (j->error < 0) {
		pexos_outcome oc;

		text = pexos_error_response(&j->err);
		pexos_error_outcome(&j->err, &oc);
		snprintf(s->outcome, sizeof(s->outcome), "%s", oc.type);
		if (!text)
			return MHD_NO;
		/* pexos_free and free are the same allocator. */
		return send_text(s, oc.http_status, "application/json", text,
				 strlen(text), false);
	}
	snprintf(s->outcome, sizeof(s->outcome), "%s",
		 j->outcome.type[0] ? j->outcome.type : "ok");
	/* The library's strings are malloc'd: MHD frees them with free(). */
	text = j->response;
	j->response = NULL;
	return send_text(s, j->outcome.http_status, "application/json", text,
			 strlen(text), false);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct conn *s = *con_cls;

	(void)cls;
	(void)version;
	if (!s) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     "User-Agent");
		s = calloc(1, sizeof(*s));
		if (!s)
			return MHD_NO;
		*con_cls = s;
		s->mhd = c;
		s->start_ns = mono_ns();
		snprintf(s->method, sizeof(s->method), "%s", method);
		snprintf(s->url, sizeof(s->url), "%s", url);
		snprintf(s->agent, sizeof(s->agent), "%s", ua ? ua : "");
		if (ci && ci->client_addr) {
			const struct sockaddr *sa = ci->client_addr;
			if (sa->sa_family == AF_INET)
				inet_ntop(AF_INET,
					  &((const struct sockaddr_in *)sa)->sin_addr,
					  s->remote, sizeof(s->remote));
			else if (sa->sa_family == AF_INET6)
				inet_ntop(AF_INET6,
					  &((const struct sockaddr_in6 *)sa)->sin6_addr,
					  s->remote, sizeof(s->remote));
		}
		return on_headers(s, c, url, method);
	}
	switch (s->state) {
	case S_BODY:
		if (*upload_size) {
			if (append(s, upload, *upload_size) < 0)
				return MHD_NO;
			*upload_size = 0;
			/* A client trickling its body (or sending one without
			 * end) holds a connection: the whole body gets
			 * --conn-timeout seconds, then the connection is
			 * closed (libmicrohttpd 0.9.75 sends no answer queued
			 * before the body is in). */
			if (mono_ns() - s->start_ns >
			    (uint64_t)cfg->conn_timeout * 1000000000u)
				return send_error(s, 408, "InvalidRequest",
						  "the request body took longer "
						  "than the server allows");
			return MHD_YES;
		}
		return on_body_complete(s);
	case S_RUNNING:
		return on_run_finished(s);
	case S_ANSWERED:
		*upload_size = 0; /* drop a body sent after an early answer */
		return MHD_YES;
	case S_HEADERS:
	default:
		return MHD_NO;
	}
}

/* ---- the log line, metrics, cleanup ------------------------------------- */

static void json_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
}

/* A log line is put together in memory and handed to log.c whole: the
 * threads that serve never write to stderr themselves. Out of memory, it
 * goes nowhere and counts as dropped. */
struct line {
	FILE *f;
	char *buf;
	size_t len;
};

static FILE *nowhere; /* /dev/null, opened at start */

static FILE *line_start(struct line *l)
{
	l->buf = NULL;
	l->len = 0;
	l->f = open_memstream(&l->buf, &l->len);
	return l->f ? l->f : nowhere;
}

static void line_end(struct line *l)
{
	if (l->f == NULL || l->f == nowhere) {
		log_lose();
		return;
	}
	if (fclose(l->f) == 0)
		log_write(l->buf, l->len);
	else
		log_lose();
	free(l->buf);
}

static void log_request(const struct conn *s, double seconds)
{
	const char *severity = s->status >= 500 && s->status != 503 ? "ERROR"
			       : s->status >= 400 ? "WARNING"
						  : "INFO";
	struct line l;
	FILE *f = line_start(&l);

	fprintf(f, "{\"severity\":\"%s\",\"message\":\"", severity);
	json_escape(f, s->method);
	fputc(' ', f);
	json_escape(f, s->url);
	fprintf(f, " %d %s\",\"httpRequest\":{\"requestMethod\":\"",
		s->status, s->outcome[0] ? s->outcome : "-");
	json_escape(f, s->method);
	fputs("\",\"requestUrl\":\"", f);
	json_escape(f, s->url);
	fprintf(f,
		"\",\"status\":%d,\"latency\":\"%.6fs\",\"requestSize\":\"%zu\","
		"\"responseSize\":\"%zu\",\"remoteIp\":\"",
		s->status, seconds, s->len, s->response_size);
	json_escape(f, s->remote);
	fputs("\",\"userAgent\":\"", f);
	json_escape(f, s->agent);
	fprintf(f, "\",\"protocol\":\"HTTP/1.1\"},\"outcome\":\"%s\"",
		s->outcome[0] ? s->outcome : "-");
	if (RUNS(s->route) && s->job.started_ns)
		fprintf(f, ",\"queue_ms\":%.3f,\"run_ms\":%.3f",
			(double)(s->job.started_ns - s->job.queued_ns) / 1e6,
			(double)(s->job.finished_ns - s->job.started_ns) / 1e6);
	if (s->undelivered)
		fputs(",\"delivered\":false", f);
	fputs("}\n", f);
	line_end(&l);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode why)
{
	struct conn *s = *con_cls;
	double seconds;

	(void)cls;
	(void)c;
	if (!s)
		return;
	seconds = (double)(mono_ns() - s->start_ns) / 1e9;
	if (s->state != S_ANSWERED) /* client gone, or a timeout */
		s->status = why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? 408
									 : 499;
	else
		s->undelivered = why != MHD_REQUEST_TERMINATED_COMPLETED_OK;
	/* Resumed after its run was cancelled, MHD may see the hang-up
	 * before it asks us for the answer. */
	if (s->state == S_RUNNING && s->job.error == -ECANCELED &&
	    strcmp(s->job.err.step, "cancel_fd") == 0)
		snprintf(s->outcome, sizeof(s->outcome), "Cancelled");
	log_request(s, seconds);
	metrics_request(s->route == R_MCP ? "mcp" : "execute", s->outcome,
			s->status,
			s->body_ns ? (double)(mono_ns() - s->body_ns) / 1e9
				   : seconds,
			RUNS(s->route) && s->outcome[0]);
	release(s);
	mcp_call_free(s->mcp);
	free(s->body);
	free(s);
	*con_cls = NULL;
}

/* ---- the daemon ----------------------------------------------------------- */

/* At most this many of libmicrohttpd's messages a second. Out of
 * descriptors, it retries accept(2) in a busy loop and says so each time:
 * hundreds of thousands of lines a second. */
#define MHD_LOG_PER_S 10

/* Should a message be logged now? Else it is counted; the count is
 * logged with the first message of the next second. */
static bool mhd_log_allowed(unsigned long *ret_dropped)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static uint64_t second;
	static unsigned n;
	static unsigned long dropped;
	uint64_t now = mono_ns() / 1000000000u;
	bool ok;

	pthread_mutex_lock(&lock);
	if (now != second) {
		second = now;
		n = 0;
	}
	ok = n++ < MHD_LOG_PER_S;
	*ret_dropped = ok ? dropped : 0;
	if (ok)
		dropped = 0;
	else
		dropped++;
	pthread_mutex_unlock(&lock);
	return ok;
}

/* libmicrohttpd's own messages (malformed requests, ...), as log lines of
 * the same JSON shape as ours. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;
	unsigned long dropped;
	struct line l;
	FILE *f;

	(void)cls;
	if (!mhd_log_allowed(&dropped))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	f = line_start(&l);
	fputs("{\"severity\":\"WARNING\",\"message\":\"libmicrohttpd: ", f);
	json_escape(f, msg);
	if (dropped)
		fprintf(f, "\",\"suppressed\":%lu}\n", dropped);
	else
		fputs("\"}\n", f);
	line_end(&l);
}

static int parse_addr(const char *addr, unsigned port,
		      struct sockaddr_storage *ss)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return AF_INET6;
	}
	return -1;
}

int server_start(const struct config *config, pexos_context *context,
		 const char *report, unsigned *ret_port)
{
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD |
			 MHD_USE_EPOLL_LINUX_ONLY | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	int family;

	cfg = config;
	ctx = context;
	check_report = report;
	nowhere = fopen("/dev/null", "we");
	if (!nowhere)
		return -errno;
	family = parse_addr(cfg->listen, cfg->port, &ss);
	if (family < 0)
		return -EINVAL;
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	if (cfg->no_listen) {
		/* its warnings about TCP options on a socketpair are noise */
		flags = (flags & ~(unsigned)MHD_USE_ERROR_LOG) |
			MHD_USE_NO_LISTEN_SOCKET;
		daemon_ = MHD_start_daemon(
			flags, 0, NULL, NULL, on_request, NULL,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			MHD_OPTION_CONNECTION_LIMIT, cfg->conn_limit,
			MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout,
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
			MHD_OPTION_END);
		*ret_port = 0;
		return daemon_ ? 0 : -EINVAL;
	}
	daemon_ = MHD_start_daemon(
		flags, (uint16_t)cfg->port, NULL, NULL, on_request, NULL,
		/* first, so that it catches messages about the others */
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
		MHD_OPTION_CONNECTION_LIMIT, cfg->conn_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 128u, MHD_OPTION_END);
	if (!daemon_)
		return -EADDRNOTAVAIL;
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
	*ret_port = info ? info->port : cfg->port;
	info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_LISTEN_FD);
	if (info) {
		struct stat st;

		if (fstat(info->listen_fd, &st) == 0) {
			listener.fd = info->listen_fd;
			listener.dev = st.st_dev;
			listener.ino = st.st_ino;
		}
	}
	return 0;
}

/* Is the listening socket still the one made at start, and listening?
 * A descriptor closed by mistake (a double close elsewhere), replaced by
 * another file under the same number, or a socket shut down all leave a
 * daemon that is alive but refuses every connection. The first failure
 * is kept: /health answers 503 from then on. */
const char *server_check_listener(void)
{
	const char *why = atomic_load(&listener_error);
	int listening = 0;
	socklen_t len = sizeof(listening);
	struct stat st;

	if (why || listener.fd < 0)
		return why;
	if (fstat(listener.fd, &st) < 0)
		why = "the listening socket was closed";
	else if (st.st_dev != listener.dev || st.st_ino != listener.ino)
		why = "the listening socket's descriptor now holds another file";
	else if (getsockopt(listener.fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
			    &len) < 0 ||
		 !listening)
		why = "the listening socket no longer listens";
	if (why)
		atomic_store(&listener_error, why);
	return why;
}

int server_add_connection(int fd)
{
	struct sockaddr_in peer = {.sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	return MHD_add_connection(daemon_, fd, (struct sockaddr *)&peer,
				  sizeof(peer)) == MHD_YES
		       ? 0
		       : -EIO;
}

void server_quiesce(void)
{
	MHD_socket fd = MHD_quiesce_daemon(daemon_);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void server_drain(uint64_t deadline_ns)
{
	while (mono_ns() < deadline_ns) {
		const union MHD_DaemonInfo *info = MHD_get_daemon_info(
			daemon_, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!info || info->num_connections == 0)
			return;
		usleep(20000);
	}
}

void server_stop(void)
{
	MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}
