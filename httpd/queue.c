/* SPDX-License-Identifier: MIT */
/* queue.c - a fixed set of workers, each running one sandbox at a time, fed
 * by a bounded FIFO. A request takes a place here only once its whole body
 * is in, so slow clients hold no worker. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "httpd.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle; /* on CLOCK_MONOTONIC, set up in queue_start */
static struct job *head, *tail;
static unsigned length, capacity, busy, nworkers;
static bool stopping;
static pthread_t *threads;
static pexos_context *context;

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A job that counted as running is over; under the lock. */
static void job_over(void)
{
	busy--;
	if (!busy && !head)
		pthread_cond_broadcast(&idle);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		struct job *j;

		while (!head && !stopping)
			pthread_cond_wait(&wake, &lock);
		if (!head)
			break;
		j = head;
		head = j->next;
		if (!head)
			tail = NULL;
		length--;
		busy++;
		pthread_mutex_unlock(&lock);

		j->started_ns = mono_ns();
		j->error = pexos_run_script_until_any(
		    context, j->body, j->len,
		    (const int[]){j->cancel_fd, j->cancel_own}, 2, &j->response,
		    &j->outcome, &j->err);
		j->finished_ns = mono_ns();
		j->done(j);

		pthread_mutex_lock(&lock);
		job_over();
	}
	pthread_mutex_unlock(&lock);
	return NULL;
}

int queue_start(pexos_context *ctx, unsigned workers, unsigned cap)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&idle, &attr);
	pthread_condattr_destroy(&attr);
	context = ctx;
	capacity = cap;
	threads = calloc(workers, sizeof(*threads));
	if (!threads)
		return -ENOMEM;
	for (nworkers = 0; nworkers < workers; nworkers++)
		if (pthread_create(&threads[nworkers], NULL, worker, NULL) != 0)
			return -EAGAIN;
	return 0;
}

bool queue_push(struct job *j)
{
	bool ok;

	pthread_mutex_lock(&lock);
	/* Room: an idle worker, or a free place in the queue. */
	ok = !stopping && length < capacity + (nworkers - busy);
	if (ok) {
		j->next = NULL;
		j->queued_ns = mono_ns();
		if (tail)
			tail->next = j;
		else
			head = j;
		tail = j;
		length++;
		pthread_cond_signal(&wake);
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

bool queue_unqueue(struct job *j)
{
	bool found = false;

	pthread_mutex_lock(&lock);
	for (struct job *q = head, *prev = NULL; q; prev = q, q = q->next) {
		if (q != j)
			continue;
		*(prev ? &prev->next : &head) = j->next;
		if (tail == j)
			tail = prev;
		length--;
		busy++; /* until queue_end_cancelled: shutdown waits */
		found = true;
		break;
	}
	pthread_mutex_unlock(&lock);
	return found;
}

void queue_end_cancelled(struct job *j)
{
	j->started_ns = j->finished_ns = mono_ns();
	/* as the library ends a run whose cancel descriptor hung up */
	j->error = -ECANCELED;
	j->err = (pexos_error){.code = ECANCELED, .step = "cancel_fd"};
	snprintf(j->err.message, sizeof(j->err.message),
		 "the run was cancelled before it started");
	j->done(j);
	pthread_mutex_lock(&lock);
	job_over();
	pthread_mutex_unlock(&lock);
}

bool queue_wait_idle(uint64_t deadline_ns)
{
	struct timespec ts = {.tv_sec = (time_t)(deadline_ns / 1000000000u),
			      .tv_nsec = (long)(deadline_ns % 1000000000u)};
	bool done;

	pthread_mutex_lock(&lock);
	while ((busy || head) &&
	       pthread_cond_timedwait(&idle, &lock, &ts) != ETIMEDOUT)
		;
	done = !busy && !head;
	pthread_mutex_unlock(&lock);
	return done;
}

void queue_stop(void)
{
	pthread_mutex_lock(&lock);
	stopping = true;
	pthread_cond_broadcast(&wake);
	pthread_mutex_unlock(&lock);
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	threads = NULL;
}

unsigned queue_busy(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = busy;
	pthread_mutex_unlock(&lock);
	return n;
}

unsigned queue_length(void)
{
	unsigned n;

	pthread_mutex_lock(&lock);
	n = length;
	pthread_mutex_unlock(&lock);
	return n;
}
