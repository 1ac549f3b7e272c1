/* SPDX-License-Identifier: MIT */
/* metrics.c - counters for GET /metrics (Prometheus text format 0.0.4). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"

static const char *const outcomes[] = {
	"ok",          "InvalidRequest",  "SyntaxError",    "MissingMain",
	"InvalidMain", "ScriptError",     "NotSerializable", "Timeout",
	"MemoryLimit", "ResultTooLarge",  "Killed",          "Busy",
	"SandboxError", "Cancelled",
};
#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

static const double buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				 0.5,   1,    2.5,   5,    10,  30};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

/* 499: the client went away before its answer (a cancelled run, or a
 * connection closed early); nginx's code for it. */
static const int codes[] = {200, 202, 400, 401, 403, 404, 405, 408,
			    413, 415, 422, 499, 500, 501, 503};
#define N_CODES (sizeof(codes) / sizeof(codes[0]))

/* The routes that run scripts, the "endpoint" label of requests. */
static const char *const endpoints[] = {"execute", "mcp"};
#define N_ENDPOINTS (sizeof(endpoints) / sizeof(endpoints[0]))

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t by_outcome[N_ENDPOINTS][N_OUTCOMES];
static uint64_t by_code[N_CODES + 1]; /* last: any other code */
static uint64_t bucket_count[N_BUCKETS];
static uint64_t duration_count;
static double duration_sum;

void metrics_request(const char *endpoint, const char *outcome, int status,
		     double seconds, bool counted)
{
	size_t c, e;

	pthread_mutex_lock(&lock);
	for (c = 0; c < N_CODES && codes[c] != status; c++)
		;
	by_code[c]++;
	for (e = 0; e < N_ENDPOINTS && strcmp(endpoints[e], endpoint); e++)
		;
	if (counted && e < N_ENDPOINTS)
		for (size_t i = 0; i < N_OUTCOMES; i++)
			if (strcmp(outcomes[i], outcome) == 0)
				by_outcome[e][i]++;
	/* the histogram is POST /execute's alone */
	if (counted && e == 0) {
		for (size_t i = 0; i < N_BUCKETS; i++)
			if (seconds <= buckets[i])
				bucket_count[i]++;
		duration_count++;
		duration_sum += seconds;
	}
	pthread_mutex_unlock(&lock);
}

/* The pool's figures (state PEXOS_POOL_OFF: no pool, size 0 only). */
static void render_pool(FILE *f, const pexos_pool_snapshot *p)
{
	const struct {
		const char *name, *type, *help;
		long long v; /* -1: not known, left out */
	} m[] = {
		{"pexos_pool_size", "gauge",
		 "Warm sandboxes the pool keeps (its configured size).", p->size},
		{"pexos_pool_ready", "gauge",
		 "Warm sandboxes waiting for a script now.", p->ready},
		{"pexos_pool_starting", "gauge",
		 "Warm sandboxes being set up now.", p->starting},
		{"pexos_pool_in_use", "gauge",
		 "Warm sandboxes running a script now.", p->in_use},
		{"pexos_pool_hits_total", "counter",
		 "Runs that got a warm sandbox.", (long long)p->hits},
		{"pexos_pool_misses_total", "counter",
		 "Runs that found none in time and started a cold one.",
		 (long long)p->misses},
		{"pexos_pool_slot_failures_total", "counter",
		 "Warm sandboxes that failed to start.",
		 (long long)p->slot_failures},
		{"pexos_pool_zygote_starts_total", "counter",
		 "Starts of the zygote interpreter.", (long long)p->zygote_starts},
		{"pexos_pool_zygote_rss_bytes", "gauge",
		 "Resident memory of the zygote.",
		 p->zygote_rss_kb < 0 ? -1 : p->zygote_rss_kb * 1024},
		{"pexos_pool_slot_private_bytes", "gauge",
		 "Private memory of a waiting sandbox (mean of up to 4).",
		 p->slot_private_kb < 0 ? -1 : p->slot_private_kb * 1024},
	};

	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		if (p->state == PEXOS_POOL_OFF && i > 0)
			break;
		if (m[i].v < 0)
			continue;
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %lld\n", m[i].name,
			m[i].help, m[i].name, m[i].type, m[i].name, m[i].v);
	}
}

/* Each profile's pool, labelled by profile. */
static void render_profiles(FILE *f, const struct pool_profile_figures *pr,
			    size_t n)
{
	static const struct {
		const char *name, *type, *help;
	} m[] = {
		{"pexos_pool_profile_size", "gauge",
		 "Warm sandboxes the profile's pool keeps now (its share of the "
		 "pool by recent demand)."},
		{"pexos_pool_profile_ready", "gauge",
		 "Warm sandboxes of the profile waiting for a script now."},
		{"pexos_pool_profile_hits_total", "counter",
		 "Runs that got a warm sandbox of the profile."},
		{"pexos_pool_profile_misses_total", "counter",
		 "Runs of the profile that found none in time and started a "
		 "cold one."},
		{"pexos_pool_profile_slot_private_bytes", "gauge",
		 "Private memory of a waiting sandbox of the profile (mean of "
		 "up to 4)."},
	};

	if (n == 0)
		return;
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", m[i].name, m[i].help,
			m[i].name, m[i].type);
		for (size_t k = 0; k < n; k++) {
			const pexos_pool_snapshot *p = &pr[k].snap;
			long long v[] = {p->size, p->ready, (long long)p->hits,
					 (long long)p->misses,
					 p->slot_private_kb < 0
						 ? -1
						 : p->slot_private_kb * 1024};

			if (v[i] >= 0)
				fprintf(f, "%s{profile=\"%s\"} %lld\n", m[i].name,
					pr[k].name, v[i]);
		}
	}
}

char *metrics_render(const pexos_pool_snapshot *pool,
		     const struct pool_profile_figures *profiles,
		     size_t n_profiles, unsigned workers, unsigned busy,
		     unsigned queued, unsigned queue_capacity)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	if (!f)
		return NULL;
	pthread_mutex_lock(&lock);
	fputs("# HELP pexos_requests_total Requests answered, by endpoint "
	      "(\"execute\": POST /execute; \"mcp\": POST /mcp, its tool "
	      "calls and protocol errors) and outcome (\"ok\", the response "
	      "type, or \"Cancelled\": the client went away and its run was "
	      "ended).\n"
	      "# TYPE pexos_requests_total counter\n",
	      f);
	for (size_t e = 0; e < N_ENDPOINTS; e++)
		for (size_t i = 0; i < N_OUTCOMES; i++)
			fprintf(f,
				"pexos_requests_total{endpoint=\"%s\","
				"outcome=\"%s\"} %llu\n",
				endpoints[e], outcomes[i],
				(unsigned long long)by_outcome[e][i]);
	fputs("# HELP pexos_http_responses_total HTTP responses, by status "
	      "code.\n# TYPE pexos_http_responses_total counter\n",
	      f);
	for (size_t i = 0; i < N_CODES; i++)
		fprintf(f, "pexos_http_responses_total{code=\"%d\"} %llu\n",
			codes[i], (unsigned long long)by_code[i]);
	fprintf(f, "pexos_http_responses_total{code=\"other\"} %llu\n",
		(unsigned long long)by_code[N_CODES]);
	fputs("# HELP pexos_execute_duration_seconds Time from the end of "
	      "the request body to the response, POST /execute.\n"
	      "# TYPE pexos_execute_duration_seconds histogram\n",
	      f);
	for (size_t i = 0; i < N_BUCKETS; i++)
		fprintf(f,
			"pexos_execute_duration_seconds_bucket{le=\"%g\"} %llu\n",
			buckets[i], (unsigned long long)bucket_count[i]);
	fprintf(f,
		"pexos_execute_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		"pexos_execute_duration_seconds_sum %.6f\n"
		"pexos_execute_duration_seconds_count %llu\n",
		(unsigned long long)duration_count, duration_sum,
		(unsigned long long)duration_count);
	pthread_mutex_unlock(&lock);
	fprintf(f,
		"# HELP pexos_sandboxes_busy Sandboxes running a script now.\n"
		"# TYPE pexos_sandboxes_busy gauge\npexos_sandboxes_busy %u\n"
		"# HELP pexos_workers Sandboxes that may run at once.\n"
		"# TYPE pexos_workers gauge\npexos_workers %u\n"
		"# HELP pexos_queue_length Requests waiting for a sandbox.\n"
		"# TYPE pexos_queue_length gauge\npexos_queue_length %u\n"
		"# HELP pexos_queue_capacity Requests that may wait.\n"
		"# TYPE pexos_queue_capacity gauge\npexos_queue_capacity %u\n",
		busy, workers, queued, queue_capacity);
	render_pool(f, pool);
	render_profiles(f, profiles, n_profiles);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
