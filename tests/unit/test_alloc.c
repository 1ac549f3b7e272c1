/* SPDX-License-Identifier: MIT */
/* Allocation failure sweep over request parsing: the n-th allocation made
 * through jansson fails, for every n until parsing needs no more. Each
 * outcome must be a clean -ENOMEM (never a wrong InvalidRequest, a crash or,
 * under ASan, a leak) or the correct answer. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jalloc.h"
#include "request.h"
#include "tap.h"

static long budget = -1; /* allocations left before failing; -1 = no limit */

static void *failing_malloc(size_t n)
{
	if (budget == 0)
		return NULL;
	if (budget > 0)
		budget--;
	return malloc(n);
}

static void sweep(const char *json, int want)
{
	static struct pexos_options opts = {
		.wall_ms = 30000,
		.cpu_ms = 30000,
		.memory_mb = 512,
		.script_max = 1 << 20,
		.stdin_max = 1 << 20,
		.tmp_mb = 64,
		.in_files = 100,
		.in_files_max = 1 << 20,
	};
	int bad = 0, n;

	for (n = 0; n < 10000; n++) {
		struct run_plan plan;
		struct invalid inv;
		int r;

		budget = n;
		r = request_parse(&opts, json, strlen(json), &plan, &inv);
		budget = -1;
		if (r == 0)
			run_plan_done(&plan);
		if (r == want)
			break; /* enough memory: the real answer */
		if (r != -ENOMEM) {
			printf("# failing allocation %d gave %d: %s\n", n, r,
			       r == 1 ? inv.message : "");
			bad++;
		}
	}
	tap_ok(bad == 0 && n < 10000,
	       "%d allocation failures end in -ENOMEM: %.50s", n, json);
}

int main(void)
{
	/* Through the library's own wrapper, as in production. */
	jalloc_install();
	jalloc_backend = failing_malloc;
	sweep("{\"script\": \"def main(): pass\"}", 0);
	sweep("{\"script\": \"x\", \"stdin\": \"abc\", \"timeout\": 1.5, "
	      "\"memory_mb\": 64, \"stats\": true}",
	      0);
	sweep("{\"script\": \"x\", \"files\": [{\"path\": \"a/b\", "
	      "\"content\": \"t\"}, {\"path\": \"c\", \"content_base64\": "
	      "\"AAE=\"}], \"outputs\": [\"*.png\"], \"figures\": false}",
	      0);
	sweep("{\"script\": \"x\", \"files\": [{\"path\": \"../b\", "
	      "\"content\": \"t\"}]}",
	      1);
	sweep("{\"script\": \"x\", \"foo\": [1, 2, {\"a\": \"b\"}]}", 1);
	sweep("{\"script\": \"x\", \"script\": \"y\"}", 1);
	return tap_done();
}
