/* SPDX-License-Identifier: MIT */
/* libFuzzer target: request parsing and validation (SPEC §1), then the
 * response an invalid request gets. Any input must end in a plan or an
 * InvalidRequest, never a crash, a leak or undefined behaviour. */
#include <stdint.h>
#include <stdlib.h>

#include "request.h"
#include "response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct pexos_options opts = {
		.wall_ms = 30000,
		.cpu_ms = 30000,
		.memory_mb = 512,
		.script_max = 4096,
		.stdin_max = 4096,
	};
	struct run_plan plan;
	struct invalid inv;
	int r = request_parse(&opts, (const char *)data, size, &plan, &inv);

	if (r == 0) {
		if (!plan.script || plan.script_len > opts.script_max ||
		    plan.wall_ms > opts.wall_ms || plan.memory_mb > opts.memory_mb)
			abort();
		run_plan_done(&plan);
	} else if (r == 1) {
		struct verdict v = {.type = "InvalidRequest",
				    .error = inv.message,
				    .http_status = inv.http_status};
		char *s = NULL;
		if (response_build(&v, NULL, NULL, NULL, &s, NULL) != 0)
			abort(); /* an invalid request must still get its answer */
		free(s);
	}
	return 0;
}
