/* SPDX-License-Identifier: MIT */
/* batch.c - run several scripts at once, answer in JSON Lines.
 *
 * Worker threads take the next file from a shared index and run it on the
 * caller's (thread-safe) context; the main thread prints the results in
 * command-line order, waiting on a condition variable for the next one, so
 * output is deterministic whatever -j is and a long first script holds back
 * only the printing, never the running. */
#include "batch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsontext.h"
#include "junit.h"

enum { EXIT_PEXOS = 3 };

struct item {
	const char *file;
	char *response; /* owned unless it is the batch's oom_response */
	pexos_outcome oc;
	double seconds;
	bool done;
};

struct batch {
	struct item *items;
	size_t n, next; /* next: the first file no worker took yet */
	pthread_mutex_t lock;
	pthread_cond_t done;
	batch_run_fn run;
	void *userdata;
	/* Stands in for a response that could not be made: made before the
	 * runs, while there is memory for it. */
	char *oom_response;
	pexos_outcome oom_outcome;
};

double batch_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	struct batch *b = arg;

	for (;;) {
		char *resp = NULL;
		pexos_outcome oc = {0};
		struct item *it;
		double start;

		pthread_mutex_lock(&b->lock);
		it = b->next < b->n ? &b->items[b->next++] : NULL;
		pthread_mutex_unlock(&b->lock);
		if (!it)
			return NULL;
		start = batch_clock();
		b->run(b->userdata, it->file, &resp, &oc);
		if (!resp) {
			resp = b->oom_response;
			oc = b->oom_outcome;
		}
		pthread_mutex_lock(&b->lock);
		it->response = resp;
		it->oc = oc;
		it->seconds = batch_clock() - start;
		it->done = true;
		pthread_cond_broadcast(&b->done);
		pthread_mutex_unlock(&b->lock);
	}
}

/* {"file":"a.py", + the response without its opening brace. */
static int print_line(const struct item *it)
{
	const char *rest = it->response + 1;

	fputs("{\"file\":", stdout);
	jt_write_string(stdout, it->file, strlen(it->file));
	if (*rest != '}')
		fputc(',', stdout);
	fputs(rest, stdout);
	fputc('\n', stdout);
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/* The count of failures of the alphabetically first type after `prev`
 * (NULL: the first type of all) in *ret_type, or 0 when there is none. */
static size_t next_type(const struct item *items, size_t n, const char *prev,
			const char **ret_type)
{
	const char *type = NULL;
	size_t count = 0;

	for (size_t i = 0; i < n; i++) {
		const char *t = items[i].oc.type;
		int cmp;

		if (t[0] == '\0' || (prev && strcmp(t, prev) <= 0))
			continue;
		cmp = type ? strcmp(t, type) : -1;
		if (cmp < 0) {
			type = t;
			count = 1;
		} else if (cmp == 0) {
			count++;
		}
	}
	*ret_type = type;
	return count;
}

/* pexos-run: 5 scripts: 3 passed, 2 failed (ScriptError 1, Timeout 1) in
 * 1.23 s -- failure types in alphabetical order. */
static void print_summary(const struct item *items, size_t n, double seconds)
{
	const char *type = NULL;
	const char *sep = " (";
	size_t failed = 0, count;

	for (size_t i = 0; i < n; i++)
		failed += items[i].oc.type[0] != '\0';
	fprintf(stderr, "pexos-run: %zu scripts: %zu passed, %zu failed", n,
		n - failed, failed);
	while ((count = next_type(items, n, type, &type)) > 0) {
		fprintf(stderr, "%s%s %zu", sep, type, count);
		sep = ", ";
	}
	if (failed > 0)
		fputc(')', stderr);
	fprintf(stderr, " in %.2f s\n", seconds);
}

/* Starts up to `jobs` workers; returns how many started. With none, the
 * caller's thread does all the work (and the printing after it). */
static size_t start_workers(struct batch *b, pthread_t *threads, size_t jobs)
{
	size_t started = 0;

	while (started < jobs &&
	       pthread_create(&threads[started], NULL, worker, b) == 0)
		started++;
	if (started == 0)
		worker(b);
	return started;
}

/* Prints the results in order as they complete and feeds the report.
 * Returns the exit status. */
static int collect(struct batch *b, struct junit *report)
{
	int code = 0;
	bool out_failed = false, report_failed = false;

	for (size_t i = 0; i < b->n; i++) {
		struct item *it = &b->items[i];

		pthread_mutex_lock(&b->lock);
		while (!it->done)
			pthread_cond_wait(&b->done, &b->lock);
		pthread_mutex_unlock(&b->lock);
		if (print_line(it) < 0)
			out_failed = true;
		if (report && junit_add(report, it->file, it->seconds,
					it->response, &it->oc) < 0)
			report_failed = true;
		if (it->oc.exit_code > code)
			code = it->oc.exit_code;
		if (it->response != b->oom_response)
			pexos_free(it->response);
		it->response = NULL;
	}
	if (out_failed)
		fprintf(stderr, "pexos-run: cannot write to standard output\n");
	if (report_failed)
		fprintf(stderr, "pexos-run: cannot write the JUnit report\n");
	return out_failed || report_failed ? EXIT_PEXOS : code;
}

int batch_main(const char *const *files, size_t n, unsigned jobs, FILE *junit,
	       batch_run_fn run, void *userdata)
{
	static const pexos_error oom = {.code = ENOMEM,
					.step = "pexos-run",
					.message = "out of memory"};
	struct batch b = {.n = n, .run = run, .userdata = userdata};
	struct junit *report = NULL;
	pthread_t *threads;
	size_t started;
	double start = batch_clock(), seconds;
	int code;

	if (jobs > n)
		jobs = (unsigned)n;
	b.items = calloc(n, sizeof(*b.items));
	threads = calloc(jobs, sizeof(*threads));
	if (junit)
		report = junit_new(junit);
	b.oom_response = pexos_error_response(&oom);
	pexos_error_outcome(&oom, &b.oom_outcome);
	if (!b.items || !threads || (junit && !report) || !b.oom_response) {
		fprintf(stderr, "pexos-run: %s\n", strerror(errno));
		free(b.items);
		free(threads);
		junit_free(report);
		pexos_free(b.oom_response);
		return EXIT_PEXOS;
	}
	for (size_t i = 0; i < n; i++)
		b.items[i].file = files[i];
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.done, NULL);

	started = start_workers(&b, threads, jobs);
	code = collect(&b, report);
	for (size_t i = 0; i < started; i++)
		pthread_join(threads[i], NULL);

	seconds = batch_clock() - start;
	print_summary(b.items, n, seconds);
	if (report && junit_finish(report, seconds) < 0) {
		fprintf(stderr, "pexos-run: cannot write the JUnit report\n");
		code = EXIT_PEXOS;
	}
	junit_free(report);
	pthread_cond_destroy(&b.done);
	pthread_mutex_destroy(&b.lock);
	free(threads);
	free(b.items);
	pexos_free(b.oom_response);
	return code;
}
