/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: raw bytes on a connection of pexos-httpd's server, the
 * real libmicrohttpd handlers (method/path/token/type/length checks, body
 * buffering and caps, suspend/resume, responses, the log line and
 * metrics). The worker queue is replaced by one that answers at once, so
 * no sandbox is started. The daemon must answer or close, never crash.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the stub queue ------------------------------------------------------ */

bool queue_push(struct job *j)
{
	static const char answer[] = "{\"result\":1,\"stdout\":\"\"}";

	if (j->len > 0 && j->body[0] == 'B')
		return false; /* exercise the Busy answer too */
	j->queued_ns = j->started_ns = j->finished_ns = mono_ns();
	j->response = strdup(answer);
	j->error = j->response ? 0 : -ENOMEM;
	j->outcome = (pexos_outcome){.http_status = 200};
	j->done(j);
	return true;
}
unsigned queue_busy(void) { return 0; }
unsigned queue_length(void) { return 0; }
/* Every job is over before queue_push returns: none is ever queued. */
bool queue_unqueue(struct job *j)
{
	(void)j;
	return false;
}
void queue_end_cancelled(struct job *j) { (void)j; }

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the target ------------------------------------------------------------ */

static struct config cfg = {
	.listen = "127.0.0.1",
	.workers = 1,
	.queue = 1,
	.max_body = 4096,
	.buffer_max = 65536,
	.conn_limit = 16,
	.conn_timeout = 2,
	.token = NULL,
	.no_listen = true,
};

static void start_once(void)
{
	static bool started;
	unsigned port;

	if (started)
		return;
	started = true;
	/* Every other input carries a token requirement. */
	if (server_start(&cfg, NULL, "{}", &port) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	char buf[65536];
	uint64_t deadline;

	start_once();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	if (server_add_connection(sv[0]) < 0) {
		close(sv[1]);
		return 0;
	}
	(void)!write(sv[1], data, size);
	shutdown(sv[1], SHUT_WR);
	/* Read the answer until the server closes, at most 250 ms (an
	 * incomplete request waits for the connection timeout). */
	deadline = mono_ns() + 250000000ull;
	while (mono_ns() < deadline) {
		struct pollfd p = {.fd = sv[1], .events = POLLIN};
		if (poll(&p, 1, 50) > 0 && read(sv[1], buf, sizeof(buf)) <= 0)
			break;
	}
	close(sv[1]);
	return 0;
}
