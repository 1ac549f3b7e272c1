/* SPDX-License-Identifier: MIT */
/*
 * log.c - the daemon's log lines, written to stderr by a thread of their own.
 *
 * stderr is whatever the operator gave: a terminal, a file, a pipe to a log
 * collector. A pipe whose reader stops reading fills (64 KiB on Linux) and
 * then blocks every write(2). Written from the connection thread, that was
 * the whole daemon: after a few hundred requests it accepted nothing more,
 * alive and silent. So the threads that serve never write to stderr: they
 * hand complete lines to a bounded buffer and go on, and this thread writes
 * them out, blocking when it must. A line that does not fit is dropped and
 * counted (pexos_log_lines_dropped_total), and once the writer can write
 * again it says how many were lost.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"

/* Bytes of lines waiting for the writer: a few thousand lines. */
#define LOG_CAP (1u << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static char ring[LOG_CAP];
static size_t head, len; /* the waiting bytes: ring[head], len of them */
static atomic_uint_fast64_t dropped; /* also read without the lock */
static uint64_t reported;
static bool started, stopping, finished;
static pthread_t thread;

static void write_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to write: the lines are lost */
		p += w;
		n -= (size_t)w;
	}
}

void log_write(const char *line, size_t n)
{
	size_t tail, first;

	pthread_mutex_lock(&lock);
	if (!started) {
		/* start-up and the very end: the caller's thread may wait */
		pthread_mutex_unlock(&lock);
		write_all(line, n);
		return;
	}
	if (n > LOG_CAP - len) {
		atomic_fetch_add(&dropped, 1);
		pthread_mutex_unlock(&lock);
		return;
	}
	tail = (head + len) % LOG_CAP;
	first = n < LOG_CAP - tail ? n : LOG_CAP - tail;
	memcpy(ring + tail, line, first);
	memcpy(ring, line + first, n - first);
	len += n;
	pthread_cond_signal(&more);
	pthread_mutex_unlock(&lock);
}

void log_printf(const char *fmt, ...)
{
	char *line = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	if (n < 0) {
		log_lose();
		return;
	}
	log_write(line, (size_t)n);
	free(line);
}

void log_lose(void)
{
	atomic_fetch_add(&dropped, 1);
	pthread_cond_signal(&more);
}

uint64_t log_dropped(void)
{
	return atomic_load(&dropped);
}

static void *writer(void *arg)
{
	static char chunk[65536];

	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		size_t n;
		uint64_t lost;

		while (!len && !stopping && atomic_load(&dropped) == reported)
			pthread_cond_wait(&more, &lock);
		if (!len && stopping && atomic_load(&dropped) == reported)
			break;
		n = len < sizeof(chunk) ? len : sizeof(chunk);
		if (n > LOG_CAP - head)
			n = LOG_CAP - head;
		memcpy(chunk, ring + head, n);
		head = (head + n) % LOG_CAP;
		len -= n;
		lost = atomic_load(&dropped) - reported;
		reported += lost;
		pthread_mutex_unlock(&lock);
		write_all(chunk, n);
		if (lost) {
			char note[192];
			int k = snprintf(note, sizeof(note),
					 "{\"severity\":\"WARNING\",\"message\":"
					 "\"%llu log lines dropped: stderr was "
					 "not read fast enough\",\"dropped\":"
					 "%llu}\n",
					 (unsigned long long)lost,
					 (unsigned long long)lost);
			write_all(note, (size_t)k);
		}
		pthread_mutex_lock(&lock);
	}
	finished = true;
	pthread_cond_broadcast(&more);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int log_start(void)
{
	int r;

	pthread_mutex_lock(&lock);
	r = pthread_create(&thread, NULL, writer, NULL);
	started = r == 0;
	pthread_mutex_unlock(&lock);
	return -r;
}

void log_stop(uint64_t deadline_ns)
{
	struct timespec ts;
	bool done;

	pthread_mutex_lock(&lock);
	if (!started) {
		pthread_mutex_unlock(&lock);
		return;
	}
	stopping = true;
	pthread_cond_broadcast(&more);
	/* `more` waits on CLOCK_REALTIME: the deadline is monotonic, so wait
	 * in short steps. */
	while (!finished && mono_ns() < deadline_ns) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&more, &lock, &ts);
	}
	done = finished;
	if (done)
		started = false;
	pthread_mutex_unlock(&lock);
	/* A writer still blocked on stderr is left to the process's exit: a
	 * log nobody reads must not keep the daemon from stopping. */
	if (done)
		pthread_join(thread, NULL);
}
