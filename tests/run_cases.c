/* SPDX-License-Identifier: MIT */
/*
 * run_cases - the data-driven cases through the library, cold or pooled.
 *
 *   run_cases [--pooled] CASES_DIR
 *
 * Each CASES_DIR/<name>/ holds request.json and expect.json. The response
 * must contain expect.json (objects: a subset, recursively; arrays: as long,
 * each element a subset; everything else: equal). "$http" in expect.json is the
 * expected HTTP status. Cases run on four threads sharing one context:
 * pexos_run_script must be thread-safe.
 *
 * Where Python versions answer differently (Debian 12's 3.11, Debian 13's
 * 3.13: a traceback's carets, a library's spelling), the case also holds
 * expect-python<X.Y>.json, which replaces expect.json when the sandbox's
 * interpreter is X.Y: a run through the same context asks it its version
 * first. Each version's answer is then pinned, not loosened to both.
 *
 * One case set, two variants: by default every run starts a sandbox of its
 * own; with --pooled the context keeps a warm pool (default preload) that
 * is up and full before the first case, and every run must take a warm
 * sandbox. Each request asks for "stats", whose "pooled" must say which
 * variant ran it, and in the pooled variant the pool's "hits" must grow by
 * exactly the number of responses that carry stats (the runs that reached
 * a sandbox).
 */
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pexos.h"

#define THREADS 4
#define POOL_SIZE "2"
/* Far beyond a slot's start: a run that goes cold has found a pool bug. */
#define POOL_WAIT_S "60"
#define POOL_UP_TIMEOUT_S 120

struct one {
	char name[256];
	char *request;
	json_t *expect;
	char *response;
	pexos_outcome oc;
	pexos_error err;
	int r;
};

static struct one *cases;
static size_t n_cases, cap_cases, next_case;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pexos_context *ctx;
static bool pooled;

static bool subset(json_t *want, json_t *got)
{
	const char *k;
	json_t *v;

	if (json_is_object(want)) {
		if (!json_is_object(got))
			return false;
		json_object_foreach(want, k, v)
		{
			if (!subset(v, json_object_get(got, k)))
				return false;
		}
		return true;
	}
	/* Arrays: as long, each element a subset (figures' and files' base64
	 * need not be spelled out). */
	if (json_is_array(want)) {
		if (!json_is_array(got) ||
		    json_array_size(want) != json_array_size(got))
			return false;
		for (size_t i = 0; i < json_array_size(want); i++)
			if (!subset(json_array_get(want, i),
				    json_array_get(got, i)))
				return false;
		return true;
	}
	return got && json_equal(want, got);
}

/* Integers beyond 64 bits (exact in responses) compare as reals. */
static json_t *load_json(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	return j ? j : json_loads(text, JSON_DECODE_INT_AS_REAL, NULL);
}

static json_t *load_json_file(const char *path)
{
	json_t *j = json_load_file(path, 0, NULL);
	return j ? j : json_load_file(path, JSON_DECODE_INT_AS_REAL, NULL);
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct one *c;
		pthread_mutex_lock(&lock);
		c = next_case < n_cases ? &cases[next_case++] : NULL;
		pthread_mutex_unlock(&lock);
		if (!c)
			return NULL;
		c->r = pexos_run_script(ctx, c->request, strlen(c->request),
					&c->response, &c->oc, &c->err);
	}
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct one *)a)->name,
		      ((const struct one *)b)->name);
}

static void bail(const char *fmt, const char *arg)
{
	printf("Bail out! ");
	printf(fmt, arg);
	putchar('\n');
	exit(1);
}

/* The next free slot, growing the array: no case is ever left out. */
static struct one *new_case(void)
{
	if (n_cases == cap_cases) {
		size_t cap = cap_cases ? 2 * cap_cases : 64;
		struct one *c = realloc(cases, cap * sizeof(*c));
		if (!c)
			bail("%s", "out of memory");
		cases = c;
		cap_cases = cap;
	}
	memset(&cases[n_cases], 0, sizeof(cases[0]));
	return &cases[n_cases];
}

/* request.json as sent: with "stats" asked for, so that each response says
 * whether its run was pooled. */
static char *load_request(const char *path)
{
	json_t *req = json_load_file(path, JSON_ALLOW_NUL, NULL);
	char *text;

	if (!req)
		return NULL;
	if (json_is_object(req) && !json_object_get(req, "stats"))
		json_object_set_new(req, "stats", json_true());
	text = json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(req);
	return text;
}

/* expect.json, or expect-python<version>.json if the case has one. */
static json_t *load_expect(const char *dir, struct one *c, const char *version)
{
	char path[4096];
	json_t *j;

	snprintf(path, sizeof(path), "%s/%s/expect-python%s.json", dir, c->name,
		 version);
	if (access(path, F_OK) == 0) {
		j = load_json_file(path);
		if (j)
			printf("# %s: expect-python%s.json (Python %s "
			       "answers)\n",
			       c->name, version, version);
		return j;
	}
	snprintf(path, sizeof(path), "%s/%s/expect.json", dir, c->name);
	return load_json_file(path);
}

static void load(const char *dir, const char *version)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d)
		bail("cannot open %s", dir);
	while ((e = readdir(d))) {
		struct one *c;
		if (e->d_name[0] == '.')
			continue;
		c = new_case();
		snprintf(c->name, sizeof(c->name), "%s", e->d_name);
		snprintf(path, sizeof(path), "%s/%s/request.json", dir,
			 e->d_name);
		c->request = load_request(path);
		c->expect = load_expect(dir, c, version);
		if (!c->request || !c->expect)
			bail("case %s: unreadable JSON", c->name);
		n_cases++;
	}
	closedir(d);
	if (n_cases == 0)
		bail("no case in %s", dir);
	qsort(cases, n_cases, sizeof(cases[0]), by_name);
}

/* A number from the pool's status, or -1 without a pool. */
static long long pool_number(const char *key, char *state, size_t state_size)
{
	char *text = pexos_pool_status(ctx);
	json_t *st = text ? json_loads(text, 0, NULL) : NULL;
	json_t *v = json_object_get(st, key);
	const char *s = json_string_value(json_object_get(st, "state"));
	long long n = json_is_integer(v) ? json_integer_value(v) : -1;

	if (state)
		snprintf(state, state_size, "%s", s ? s : "(none)");
	json_decref(st);
	pexos_free(text);
	return n;
}

/* Waits until the pool is up with every slot ready, so that no case can
 * go cold because the pool was still starting. */
static bool wait_pool_full(void)
{
	struct timespec tick = {.tv_nsec = 100 * 1000 * 1000};
	char state[32] = "";
	long long size = pool_number("size", NULL, 0);

	for (int i = 0; i < POOL_UP_TIMEOUT_S * 10; i++) {
		long long ready = pool_number("ready", state, sizeof(state));
		if (strcmp(state, "up") == 0 && size > 0 && ready == size)
			return true;
		nanosleep(&tick, NULL);
	}
	printf("# pool state '%s' after %d s\n", state, POOL_UP_TIMEOUT_S);
	return false;
}

static void make_context(void)
{
	pexos_options *o = pexos_options_new();
	pexos_error err = {0};

	if (!o)
		bail("%s", "out of memory");
	if (pooled &&
	    (pexos_options_set(o, "pool", POOL_SIZE, &err) < 0 ||
	     pexos_options_set(o, "pool_wait", POOL_WAIT_S, &err) < 0))
		bail("%s", err.message);
	if (pexos_context_new(o, &ctx, &err) < 0)
		bail("%s", err.message);
	pexos_options_free(o);
	if (pooled && !wait_pool_full())
		bail("%s", "the pool did not fill");
}

/* The sandbox interpreter's version, "3.11", asked through the context
 * the cases run in (in the pooled variant, a warm sandbox answers). */
static void python_version(char *out, size_t size)
{
	static const char req[] =
	    "{\"script\": \"import sys\\ndef main():\\n"
	    "    return '%d.%d' % sys.version_info[:2]\"}";
	char *response = NULL;
	pexos_outcome oc;
	pexos_error err = {0};
	json_t *got = NULL;
	const char *v;

	if (pexos_run_script(ctx, req, strlen(req), &response, &oc, &err) == 0)
		got = json_loads(response, 0, NULL);
	v = json_string_value(json_object_get(got, "result"));
	if (!v)
		bail("cannot ask the sandbox's Python its version: %s",
		     response ? response : err.message);
	snprintf(out, size, "%s", v);
	printf("# the sandbox's Python is %s\n", out);
	json_decref(got);
	pexos_free(response);
}

/* Checks one response; returns whether its run reached a sandbox (it has
 * stats). */
static bool check_case(size_t i, int *failed)
{
	struct one *c = &cases[i];
	json_t *got = c->r == 0 ? load_json(c->response) : NULL;
	json_t *http = json_object_get(c->expect, "$http");
	json_t *stats = json_object_get(got, "stats");
	bool ok = got != NULL, ran = json_is_object(stats);

	if (http) {
		ok = ok && json_number_value(http) == c->oc.http_status;
		json_object_del(c->expect, "$http");
	}
	ok = ok && subset(c->expect, got);
	/* The variant must be the one asked for, run by run. */
	if (ran && json_is_true(json_object_get(stats, "pooled")) != pooled)
		ok = false;
	printf("%s %zu - %s%s\n", ok ? "ok" : "not ok", i + 1, c->name,
	       pooled ? " (pooled)" : "");
	if (!ok) {
		char *want = json_dumps(c->expect, JSON_COMPACT);
		printf(
		    "# want %s (stats.pooled %s)\n# got  %.2000s (http %d)\n",
		    want, pooled ? "true" : "false",
		    c->r == 0 ? c->response : c->err.message,
		    c->oc.http_status);
		free(want);
		(*failed)++;
	}
	json_decref(got);
	json_decref(c->expect);
	free(c->request);
	pexos_free(c->response);
	return ran;
}

int main(int argc, char **argv)
{
	pthread_t th[THREADS];
	long long hits0 = -1, hits1;
	size_t ran = 0, n;
	int failed = 0;
	char version[16];

	pooled = argc == 3 && strcmp(argv[1], "--pooled") == 0;
	if (argc != 2 + pooled) {
		fprintf(stderr, "usage: run_cases [--pooled] CASES_DIR\n");
		return 2;
	}
	make_context();
	python_version(version, sizeof(version));
	load(argv[argc - 1], version);
	if (pooled)
		hits0 = pool_number("hits", NULL, 0);
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n_cases; i++)
		ran += check_case(i, &failed);
	n = n_cases;
	if (pooled) {
		hits1 = pool_number("hits", NULL, 0);
		n++;
		if (hits0 < 0 || hits1 - hits0 != (long long)ran)
			failed++;
		printf("%s %zu - pooled: the pool's hits grew by %zu, the "
		       "runs that reached a sandbox (%lld -> %lld)\n",
		       hits0 >= 0 && hits1 - hits0 == (long long)ran ? "ok"
								     : "not ok",
		       n, ran, hits0, hits1);
	}
	printf("1..%zu\n", n);
	pexos_context_free(ctx);
	free(cases);
	return failed ? 1 : 0;
}
