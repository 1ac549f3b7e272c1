/* SPDX-License-Identifier: MIT */
/* httpd.h - pexos-httpd: a thin HTTP front end over libpexos. */
#ifndef PEXOS_HTTPD_H
#define PEXOS_HTTPD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pexos.h"

struct config {
	const char *listen;    /* address to bind, "0.0.0.0" by default */
	unsigned port;         /* 8080 by default; 0 = any free port */
	unsigned workers;      /* sandboxes at once */
	unsigned queue;        /* requests waiting for a worker */
	size_t max_body;       /* bytes */
	size_t buffer_max;     /* bytes of bodies and answers held at once */
	unsigned conn_limit;   /* connections at once */
	unsigned conn_timeout; /* idle seconds before a connection is closed */
	double grace;          /* seconds to finish runs on SIGTERM */
	char *token;           /* bearer token, or NULL */
	bool no_listen;        /* connections only via server_add_connection */
	pexos_options *opts;
};

/* ---- queue.c: the bounded worker pool -------------------------------- */

struct job;
typedef void (*job_done_fn)(struct job *job);

struct job {
	const char *body;
	size_t len;
	int cancel_fd;        /* the client's socket: the run ends if it hangs up */
	int cancel_own;       /* or -1: a pipe's read end; the run ends when
			       * its write end is closed (an MCP cancel) */
	char *response;       /* out: new, pexos_free */
	pexos_outcome outcome;
	int error;            /* out: 0, or the negative errno of the run */
	pexos_error err;
	uint64_t queued_ns, started_ns, finished_ns;
	job_done_fn done;     /* called on the worker thread */
	void *arg;
	struct job *next;
};

int queue_start(pexos_context *ctx, unsigned workers, unsigned capacity);
/* false when every worker is busy and the queue is full */
bool queue_push(struct job *job);
/* Waits until no job is queued or running, or until `deadline_ns`. */
bool queue_wait_idle(uint64_t deadline_ns);
/* Takes `job` out of the queue if no worker has taken it yet (true), to
 * be ended by queue_end_cancelled(); meanwhile it counts as running. */
bool queue_unqueue(struct job *job);
/* Ends a job queue_unqueue() took as a cancelled run ends (-ECANCELED,
 * step "cancel_fd"), without a sandbox: its done() is called here. */
void queue_end_cancelled(struct job *job);
void queue_stop(void);
unsigned queue_busy(void);
unsigned queue_length(void);

/* ---- metrics.c -------------------------------------------------------- */

/* One request over: `endpoint` "execute" or "mcp" (others only count by
 * status); `counted`: its outcome counts (it ran, or was refused). */
void metrics_request(const char *endpoint, const char *outcome, int status,
		     double seconds, bool counted);
/* Prometheus text exposition; new string (free). `pool` is borrowed. */
/* A pool profile's figures, for metrics_render. */
struct pool_profile_figures {
	const char *name;
	pexos_pool_snapshot snap;
};

char *metrics_render(const pexos_pool_snapshot *pool,
		     const struct pool_profile_figures *profiles,
		     size_t n_profiles, unsigned workers, unsigned busy,
		     unsigned queued, unsigned queue_capacity);

/* ---- log.c: lines to stderr, never blocking the threads that serve ----- */

/* From here on, lines go through the writer thread. 0 or -errno. */
int log_start(void);
/* One complete line (with its newline); dropped and counted when the
 * buffer is full. Before log_start, written at once. */
void log_write(const char *line, size_t n);
void log_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Counts a line lost before it was made (out of memory). */
void log_lose(void);
/* Lines dropped so far. */
uint64_t log_dropped(void);
/* Writes what is waiting, until `deadline_ns` at most (a stderr nobody
 * reads is left behind). */
void log_stop(uint64_t deadline_ns);

/* ---- mcp.c: POST /mcp (the Model Context Protocol) --------------------- */

struct MHD_Connection;
struct mcp_call;

/* The longest Mcp-Session-Id taken as a session's (ours are 32 bytes);
 * a longer one is ignored. */
#define MCP_SESSION_MAX 128

/* A tools/call of a session, while its job is queued or runs: what a
 * notifications/cancelled of that session finds it by. */
struct mcp_track {
	struct mcp_track *next;
	const struct mcp_call *call; /* borrowed */
	struct job *job;             /* borrowed: its job, while tracked */
	char session[MCP_SESSION_MAX + 1];
	int cancel_w;	/* the write end of its job's cancel_own pipe */
	bool linked;	/* in the table */
	bool cancelled; /* a notifications/cancelled named it */
};

/* The transport's own header checks, after server.c's: 0, or the HTTP
 * status to refuse with and *ret_why (static). `token`: one is required. */
int httpd_mcp_headers(struct MHD_Connection *c, bool token,
		      const char **ret_why);
/* The body as one JSON-RPC message: 0 with *ret_call (mcp_call_free) to
 * run, or the HTTP status to answer with now: 200 with *ret_answer (new
 * string; NULL when out of memory), 202 with nothing. `outcome` gets
 * "InvalidRequest" for a protocol error. `session`: the request's
 * Mcp-Session-Id or NULL; a notifications/cancelled of that session ends
 * the call it names (httpd_mcp_track). *ret_init is set for a successful
 * initialize: its answer gives the client a new session id
 * (httpd_mcp_session_id). */
int httpd_mcp_body(const char *body, size_t len, const char *session,
		   struct mcp_call **ret_call, char **ret_answer,
		   char outcome[32], bool *ret_init);
/* A new session id into buf: 32 lowercase hex digits (128 random bits).
 * 0, or -errno when the kernel gives no random bytes. */
int httpd_mcp_session_id(char buf[33]);
/* Enters `t` (call and session filled in) in the table of calls a cancel
 * can find, with a new pipe: its read end (the job's cancel_own) into
 * *ret_read. Not entered (*ret_read -1): no session, or no pipe. */
void httpd_mcp_track(struct mcp_track *t, int *ret_read);
/* Takes `t` out of the table and closes the pipe's write end;
 * t->cancelled then says whether a notifications/cancelled named it. */
void httpd_mcp_untrack(struct mcp_track *t);
/* The answer to `call` once its job is over (`queued` false: the queue
 * refused it); takes j->response. `outcome` gets the run's, for metrics.
 * New string, or NULL when out of memory. */
char *httpd_mcp_reply(const struct mcp_call *call, struct job *j,
		      bool queued, char outcome[32]);

/* ---- framing.c: RFC 9112's framing rules, on the headers -------------- */

/* 0, or the status to refuse the request with (400, 501; the connection is
 * then closed) and *ret_why (static). */
int framing_check(struct MHD_Connection *c, const char **ret_why);

/* ---- server.c --------------------------------------------------------- */

int server_start(const struct config *cfg, pexos_context *ctx,
		 const char *check_report, unsigned *ret_port);
/* Hands an already connected socket to the server (fuzzing, tests). */
int server_add_connection(int fd);
/* Stops accepting new connections; in-flight ones go on. */
void server_quiesce(void);
/* Checks the listening socket (every second, from the main thread).
 * NULL while it works; else why not, for good: /health then fails. */
const char *server_check_listener(void);
/* Waits (until `deadline_ns`) for open connections to be answered. */
void server_drain(uint64_t deadline_ns);
void server_stop(void);

uint64_t mono_ns(void);

#endif
