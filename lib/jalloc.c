/* SPDX-License-Identifier: MIT */
#include "jalloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>

void *(*jalloc_backend)(size_t) = malloc;
static _Thread_local bool failed;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *noting_malloc(size_t n)
{
	void *p = jalloc_backend(n);

	if (!p)
		failed = true;
	return p;
}

static void install(void)
{
	json_malloc_t m;
	json_free_t f;

	json_get_alloc_funcs(&m, &f);
	if (m == malloc && f == free)
		json_set_alloc_funcs(noting_malloc, free);
}

void jalloc_install(void)
{
	pthread_once(&once, install);
}

void jalloc_reset(void)
{
	failed = false;
}

bool jalloc_failed(void)
{
	return failed;
}
