/* SPDX-License-Identifier: MIT */
/*
 * run_cases - the data-driven cases through the library.
 *
 * Each tests/cases/<name>/ holds request.json and expect.json. The response
 * must contain expect.json (objects: a subset, recursively; everything else:
 * equal). "$http" in expect.json is the expected HTTP status. Cases run on
 * four threads sharing one context: pexos_run_script must be thread-safe.
 */
#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pexos.h"

#define MAX_CASES 256
#define THREADS 4

struct one {
	char name[256];
	char *request;
	json_t *expect;
	char *response;
	pexos_outcome oc;
	pexos_error err;
	int r;
};

static struct one cases[MAX_CASES];
static size_t n_cases, next_case;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pexos_context *ctx;

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

static void load(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];

	if (!d) {
		printf("Bail out! cannot open %s\n", dir);
		exit(1);
	}
	while ((e = readdir(d)) && n_cases < MAX_CASES) {
		struct one *c = &cases[n_cases];
		json_t *req;
		if (e->d_name[0] == '.')
			continue;
		snprintf(c->name, sizeof(c->name), "%s", e->d_name);
		snprintf(path, sizeof(path), "%s/%s/request.json", dir, e->d_name);
		req = json_load_file(path, JSON_ALLOW_NUL, NULL);
		c->request = req ? json_dumps(req, JSON_COMPACT | JSON_ENCODE_ANY)
				 : NULL;
		json_decref(req);
		snprintf(path, sizeof(path), "%s/%s/expect.json", dir, e->d_name);
		c->expect = load_json_file(path);
		if (!c->request || !c->expect) {
			printf("Bail out! case %s: unreadable JSON\n", c->name);
			exit(1);
		}
		n_cases++;
	}
	closedir(d);
	qsort(cases, n_cases, sizeof(cases[0]), by_name);
}

int main(int argc, char **argv)
{
	pexos_options *o = pexos_options_new();
	pexos_error err = {0};
	pthread_t th[THREADS];
	int failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: run_cases CASES_DIR\n");
		return 2;
	}
	load(argv[1]);
	if (pexos_context_new(o, &ctx, &err) < 0) {
		printf("Bail out! %s\n", err.message);
		return 1;
	}
	for (int i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, NULL);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n_cases; i++) {
		struct one *c = &cases[i];
		json_t *got = c->r == 0 ? load_json(c->response) : NULL;
		json_t *http = json_object_get(c->expect, "$http");
		bool ok = got != NULL;

		if (http) {
			ok = ok && json_number_value(http) == c->oc.http_status;
			json_object_del(c->expect, "$http");
		}
		ok = ok && subset(c->expect, got);
		printf("%s %zu - %s\n", ok ? "ok" : "not ok", i + 1, c->name);
		if (!ok) {
			char *want = json_dumps(c->expect, JSON_COMPACT);
			printf("# want %s\n# got  %.2000s (http %d)\n", want,
			       c->r == 0 ? c->response : c->err.message,
			       c->oc.http_status);
			free(want);
			failed++;
		}
		json_decref(got);
		json_decref(c->expect);
		free(c->request);
		pexos_free(c->response);
	}
	printf("1..%zu\n", n_cases);
	pexos_context_free(ctx);
	pexos_options_free(o);
	return failed ? 1 : 0;
}
