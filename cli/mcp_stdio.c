/* SPDX-License-Identifier: MIT */
/*
 * mcp_stdio.c - the stdio transport of the Model Context Protocol for
 * pexos-run --mcp: newline-delimited JSON-RPC on stdin and stdout.
 *
 * The main thread reads messages and answers what needs no run at once
 * (initialize, ping, tools/list, protocol errors); tool calls go to a
 * queue served by `jobs` threads, each answering when its run ends, so
 * answers come in any order with their ids and a ping is answered while
 * runs go on. At EOF the calls in flight are finished and answered first.
 * A notifications/cancelled drops the call it names if it still waits,
 * and ends its run if it runs (its sandbox killed, as when an HTTP client
 * hangs up); either way that call gets no answer, as the protocol asks.
 * Logs, if any, go to stderr: stdout carries protocol messages only.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcp.h"
#include "mcp_stdio.h"

/* Longest message read: a script (1 MiB) and input files (16 MiB, a
 * third more as base64) with room to spare. A longer line is read to its
 * end, dropped and answered with an error. */
#define MESSAGE_MAX (64u << 20)
/* Calls waiting for a thread; past it the reader waits too, which holds
 * back a client that sends faster than runs end. */
#define WAITING_MAX 1024u

struct item {
	struct mcp_call *call;
	struct item *next;
	/* Running: the write end of the pipe whose read end is the run's
	 * cancel descriptor; closed (-1) to cancel it. */
	int cancel_w;
	bool cancelled;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more, room;
	struct item *head, *tail; /* waiting for a thread */
	struct item *running;	  /* being run, linked by next */
	unsigned waiting;
	bool eof;
	pthread_mutex_t out; /* one answer at a time on stdout */
	pexos_context *ctx;
	const pexos_error *ctx_err;
} q = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.more = PTHREAD_COND_INITIALIZER,
	.room = PTHREAD_COND_INITIALIZER,
	.out = PTHREAD_MUTEX_INITIALIZER,
};

/* Writes one answer (taken) as one line; a client gone is not our
 * failure: the answer is dropped. */
static void answer(char *text)
{
	if (!text)
		text = mcp_error_text(MCP_INTERNAL_ERROR, "out of memory");
	if (!text)
		return;
	pthread_mutex_lock(&q.out);
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&q.out);
	free(text);
}

/* Unlinks `it` from the list at *head; true when it was there. */
static bool unlink_item(struct item **head, struct item *it)
{
	for (struct item **p = head; *p; p = &(*p)->next)
		if (*p == it) {
			*p = it->next;
			it->next = NULL;
			return true;
		}
	return false;
}

/* Runs it->call (it is on q.running) and answers it, unless it was
 * cancelled meanwhile. A pipe that cannot be made leaves the run without
 * a cancel descriptor: it runs to its end. */
static void run_item(struct item *it)
{
	char *resp = NULL;
	pexos_error err = {0};
	int fds[2] = {-1, -1};
	bool cancelled;
	int r = -1;

	pthread_mutex_lock(&q.lock);
	if (!it->cancelled && pipe2(fds, O_CLOEXEC) == 0)
		it->cancel_w = fds[1];
	cancelled = it->cancelled;
	pthread_mutex_unlock(&q.lock);
	if (!cancelled && q.ctx)
		r = pexos_run_script_until(q.ctx, it->call->request,
					   it->call->len, fds[0], &resp, NULL,
					   &err);
	pthread_mutex_lock(&q.lock);
	unlink_item(&q.running, it);
	cancelled = it->cancelled;
	if (it->cancel_w >= 0)
		close(it->cancel_w);
	it->cancel_w = -1;
	pthread_mutex_unlock(&q.lock);
	if (fds[0] >= 0)
		close(fds[0]);
	if (!cancelled) {
		if (r < 0)
			resp = pexos_error_response(q.ctx ? &err : q.ctx_err);
		answer(resp ? mcp_call_reply(it->call, resp) : NULL);
	}
	pexos_free(resp);
	mcp_call_free(it->call);
	free(it);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct item *it;

		pthread_mutex_lock(&q.lock);
		while (!q.head && !q.eof)
			pthread_cond_wait(&q.more, &q.lock);
		it = q.head;
		if (!it) { /* EOF and nothing left */
			pthread_mutex_unlock(&q.lock);
			return NULL;
		}
		q.head = it->next;
		if (!q.head)
			q.tail = NULL;
		q.waiting--;
		it->next = q.running;
		q.running = it;
		pthread_cond_signal(&q.room);
		pthread_mutex_unlock(&q.lock);
		run_item(it);
	}
}

/* notifications/cancelled: every call with that id is dropped if it
 * waits, or cancelled if it runs (its thread sends no answer). */
static void cancel(const struct mcp_call *which)
{
	struct item *it, *next, *kept = NULL, *kept_tail = NULL;

	pthread_mutex_lock(&q.lock);
	for (it = q.head; it; it = next) {
		next = it->next;
		it->next = NULL;
		if (mcp_call_same_id(it->call, which)) {
			mcp_call_free(it->call);
			free(it);
			q.waiting--;
			pthread_cond_signal(&q.room);
			continue;
		}
		if (kept_tail)
			kept_tail->next = it;
		else
			kept = it;
		kept_tail = it;
	}
	q.head = kept;
	q.tail = kept_tail;
	for (it = q.running; it; it = it->next)
		if (!it->cancelled && mcp_call_same_id(it->call, which)) {
			it->cancelled = true;
			if (it->cancel_w >= 0)
				close(it->cancel_w);
			it->cancel_w = -1;
		}
	pthread_mutex_unlock(&q.lock);
}

static int push(struct mcp_call *call)
{
	struct item *it = calloc(1, sizeof(*it));

	if (!it)
		return -ENOMEM;
	it->call = call;
	it->cancel_w = -1;
	pthread_mutex_lock(&q.lock);
	while (q.waiting >= WAITING_MAX)
		pthread_cond_wait(&q.room, &q.lock);
	if (q.tail)
		q.tail->next = it;
	else
		q.head = it;
	q.tail = it;
	q.waiting++;
	pthread_cond_signal(&q.more);
	pthread_mutex_unlock(&q.lock);
	return 0;
}

/* Reads one line into *buf (grown as needed, up to MESSAGE_MAX). Returns
 * its length, -1 at EOF with nothing read, or -2 for a line that was too
 * long (read to its end and dropped). */
static long read_line(char **buf, size_t *cap)
{
	size_t len = 0;
	bool too_long = false, any = false;
	int ch;

	while ((ch = getc_unlocked(stdin)) != EOF) {
		any = true;
		if (ch == '\n')
			break;
		if (too_long || len >= MESSAGE_MAX) {
			too_long = true;
			continue;
		}
		if (len + 1 >= *cap) {
			size_t ncap = *cap ? *cap * 2 : 65536;
			char *p = realloc(*buf, ncap);
			if (!p) {
				too_long = true;
				continue;
			}
			*buf = p;
			*cap = ncap;
		}
		(*buf)[len++] = (char)ch;
	}
	if (!any)
		return -1;
	if (too_long)
		return -2;
	if (len > 0 && (*buf)[len - 1] == '\r')
		len--;
	return (long)len;
}

/* One message read: answered now, queued, a cancel carried out, or (a
 * notification) nothing. */
static int handle(const char *line, size_t len)
{
	struct mcp_call *call;
	char *text;
	int r;

	/* blank lines between messages carry nothing */
	if (strspn(line, " \t") == len)
		return 0;
	r = mcp_handle(line, len, &text, &call);
	if (r == MCP_ANSWER || r == MCP_ANSWER_INIT)
		answer(text);
	else if (r == MCP_RUN && push(call) < 0) {
		answer(mcp_call_error(call, MCP_INTERNAL_ERROR,
				      "out of memory"));
		mcp_call_free(call);
	} else if (r == MCP_CANCEL) {
		cancel(call);
		mcp_call_free(call);
	}
	return r < 0 ? r : 0;
}

int mcp_stdio_main(pexos_context *ctx, const pexos_error *ctx_err,
		   unsigned jobs)
{
	pthread_t *threads = calloc(jobs, sizeof(*threads));
	unsigned started = 0;
	char *buf = NULL;
	size_t cap = 0;
	long len;
	int code = 0;

	/* A client that closed our stdout gets nothing more; we go on
	 * until its stdin ends. */
	signal(SIGPIPE, SIG_IGN);
	q.ctx = ctx;
	q.ctx_err = ctx_err;
	for (; threads && started < jobs; started++)
		if (pthread_create(&threads[started], NULL, worker, NULL) != 0)
			break;
	if (started == 0) {
		fprintf(stderr, "pexos-run: cannot start a thread\n");
		free(threads);
		return 3;
	}
	while ((len = read_line(&buf, &cap)) != -1) {
		if (len == -2)
			answer(mcp_error_text(MCP_INVALID_REQUEST,
					      "message longer than 64 MiB: "
					      "dropped"));
		else if (handle(buf, (size_t)len) < 0)
			answer(mcp_error_text(MCP_INTERNAL_ERROR,
					      "out of memory"));
	}
	if (ferror(stdin)) {
		fprintf(stderr, "pexos-run: reading stdin: %s\n",
			strerror(errno));
		code = 3;
	}
	pthread_mutex_lock(&q.lock);
	q.eof = true;
	pthread_cond_broadcast(&q.more);
	pthread_mutex_unlock(&q.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	free(buf);
	return code;
}
