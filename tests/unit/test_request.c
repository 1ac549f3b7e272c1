/* SPDX-License-Identifier: MIT */
/* Request validation (SPEC §1): every field, every way to get it wrong;
 * and the rules between options (CPU follows timeout, pool "auto"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "tap.h"

static struct pexos_options opts = {
	.wall_ms = 30000,
	.cpu_ms = 30000,
	.memory_mb = 512,
	.script_max = 1 << 20,
	.stdin_max = 1 << 20,
	.tmp_mb = 64,
	.in_files = 100,
	.in_files_max = 16 << 20,
};

/* Expects the request to be refused with a message containing `needle`. */
static void refused(const char *json, size_t len, const char *needle,
		    int status)
{
	struct run_plan plan;
	struct invalid inv = {0};
	int r = request_parse(&opts, json, len, &plan, &inv);

	if (!tap_ok(r == 1 && strstr(inv.message, needle) &&
			    inv.http_status == status,
		    "refused (%d, '%s'): %.60s", status, needle, json))
		printf("# r=%d status=%d message=%s\n", r, inv.http_status,
		       inv.message);
}

static void refused_s(const char *json, const char *needle)
{
	refused(json, strlen(json), needle, 400);
}

static void accepted(void)
{
	static const char json[] =
		"{\"script\": \"def main(): pass\", \"stdin\": \"a\\u0000b\", "
		"\"timeout\": 2.5, \"memory_mb\": 128, \"stats\": true}";
	struct run_plan plan;
	struct invalid inv = {0};
	int r = request_parse(&opts, json, strlen(json), &plan, &inv);

	tap_ok(r == 0, "a request with every field is accepted");
	if (r != 0)
		return;
	tap_ok(plan.script_len == 16 && memcmp(plan.script, "def main(): pass",
					       16) == 0,
	       "script is taken verbatim");
	tap_ok(plan.stdin_len == 3 && memcmp(plan.stdin_data, "a\0b", 3) == 0,
	       "stdin keeps NUL bytes");
	tap_ok(plan.wall_ms == 2500 && plan.cpu_ms == 2500,
	       "timeout lowers the wall-clock and CPU limits");
	tap_ok(plan.memory_mb == 128 && plan.stats, "memory_mb and stats");
	run_plan_done(&plan);
}

static void defaults(void)
{
	static const char json[] = "{\"script\": \"\"}";
	struct run_plan plan;
	struct invalid inv;
	int r = request_parse(&opts, json, strlen(json), &plan, &inv);

	tap_ok(r == 0 && plan.wall_ms == 30000 && plan.memory_mb == 512 &&
		       !plan.stats && plan.stdin_len == 0,
	       "omitted fields take the server's limits");
	if (r == 0)
		run_plan_done(&plan);
}

/* Files, outputs and figures taken whole: paths, bytes (text and base64),
 * patterns; figures default to true. */
static void files_accepted(void)
{
	static const char json[] =
		"{\"script\": \"\", \"files\": [{\"path\": \"data/in.csv\", "
		"\"content\": \"a,b\\n\"}, {\"path\": \"b.bin\", "
		"\"content_base64\": \"AAEC/w==\"}, {\"path\": \"c\", "
		"\"content_base64\": \"\"}], \"outputs\": [\"*.png\", "
		"\"results/**\"], \"figures\": false}";
	struct run_plan plan;
	struct invalid inv = {0};
	int r = request_parse(&opts, json, strlen(json), &plan, &inv);

	if (!tap_ok(r == 0, "a request with files, outputs, figures"))
		printf("# %s\n", inv.message);
	if (r != 0)
		return;
	tap_ok(plan.n_files == 3 && strcmp(plan.files[0].path, "data/in.csv") == 0 &&
		       plan.files[0].len == 4 &&
		       memcmp(plan.files[0].data, "a,b\n", 4) == 0,
	       "a text file is taken verbatim");
	tap_ok(plan.files[1].len == 4 &&
		       memcmp(plan.files[1].data, "\x00\x01\x02\xff", 4) == 0 &&
		       plan.files[2].len == 0 && plan.files_bytes == 8,
	       "base64 is decoded, an empty file is a file");
	tap_ok(plan.n_outputs == 2 && strcmp(plan.outputs[1], "results/**") == 0,
	       "output patterns are kept");
	tap_ok(!plan.figures, "figures: false");
	run_plan_done(&plan);
	r = request_parse(&opts, "{\"script\": \"\"}", 14, &plan, &inv);
	tap_ok(r == 0 && plan.figures && plan.n_files == 0 && plan.n_outputs == 0,
	       "figures default to true");
	if (r == 0)
		run_plan_done(&plan);
}

/* Every invalid path form, and the caps on files (SPEC §1). */
static void files_refused(void)
{
	static const char *const bad_paths[][2] = {
		{"", "is empty"},
		{"/etc/passwd", "is absolute"},
		{"../x", "has a \"..\" component"},
		{"a/../../x", "has a \"..\" component"},
		{"..", "has a \"..\" component"},
		{"./x", "has a \".\" component"},
		{"a/./x", "has a \".\" component"},
		{".", "has a \".\" component"},
		{"a//b", "has an empty component"},
		{"a/", "has an empty component"},
		{"a\\u0000b", "contains a NUL byte"},
	};
	char json[2048];
	char *big;

	for (size_t i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		snprintf(json, sizeof(json),
			 "{\"script\": \"\", \"files\": [{\"path\": \"%s\", "
			 "\"content\": \"x\"}]}",
			 bad_paths[i][0]);
		refused_s(json, bad_paths[i][1]);
		snprintf(json, sizeof(json),
			 "{\"script\": \"\", \"outputs\": [\"%s\"]}",
			 bad_paths[i][0]);
		refused_s(json, bad_paths[i][1]);
	}
	memset(json, 0, sizeof(json));
	strcpy(json, "{\"script\": \"\", \"files\": [{\"path\": \"");
	memset(json + strlen(json), 'a', 256);
	strcat(json, "\", \"content\": \"x\"}]}");
	refused_s(json, "is longer than 255 bytes");
	refused_s("{\"script\": \"\", \"files\": {}}", "field 'files' must be an array");
	refused_s("{\"script\": \"\", \"files\": [\"a\"]}", "files[0] must be an object");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"a\"}]}",
		  "files[0] ('a') must have exactly one of");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"a\", \"content\": \"x\", "
		  "\"content_base64\": \"eA==\"}]}",
		  "must have exactly one of");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"a\", \"content\": 1}]}",
		  "'content' must be a string");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": 1, \"content\": \"x\"}]}",
		  "files[0]: the path must be a string");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"a\", \"content\": \"x\", "
		  "\"mode\": 1}]}",
		  "files[0]: unknown field 'mode'");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"a\", \"content_base64\": \"eA\"}]}",
		  "'content_base64' is not valid base64");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"a\", \"content_base64\": \"e A=\"}]}",
		  "not valid base64");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"a\", \"content_base64\": \"eB==\"}]}",
		  "not valid base64");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"a\", \"content\": \"x\"}, "
		  "{\"path\": \"a\", \"content\": \"y\"}]}",
		  "files[1]: path 'a' duplicates files[0]");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"d\", \"content\": \"x\"}, "
		  "{\"path\": \"d/e\", \"content\": \"y\"}]}",
		  "files[1]: path 'd/e' is inside the file of files[0]");
	refused_s("{\"script\": \"\", \"files\": [{\"path\": \"d/e\", \"content\": \"x\"}, "
		  "{\"path\": \"d\", \"content\": \"y\"}]}",
		  "is a directory of the file of files[0]");
	refused_s("{\"script\": \"\", \"outputs\": \"*.png\"}", "field 'outputs' must be an array");
	refused_s("{\"script\": \"\", \"outputs\": [1]}", "outputs[0]: the pattern must be a string");
	refused_s("{\"script\": \"\", \"figures\": 1}", "field 'figures' must be a boolean");
	/* 101 files */
	big = malloc(101 * 40 + 64);
	strcpy(big, "{\"script\": \"\", \"files\": [");
	for (int i = 0; i < 101; i++)
		sprintf(big + strlen(big), "%s{\"path\": \"f%d\", \"content\": \"\"}",
			i ? ", " : "", i);
	strcat(big, "]}");
	refused(big, strlen(big), "has 101 files, over the limit of 100", 413);
	free(big);
	/* over the total: 16 MiB + 1 of text */
	big = malloc((16 << 20) + 128);
	strcpy(big, "{\"script\": \"\", \"files\": [{\"path\": \"a\", \"content\": \"");
	memset(big + strlen(big), 'x', (16 << 20) + 1);
	strcpy(big + 51 + (16 << 20) + 1, "\"}]}");
	refused(big, strlen(big), "over the limit of 16777216 bytes of input files", 413);
	free(big);
}

static void sizes(void)
{
	size_t n = (1 << 20) + 1;
	char *big = malloc(n + 32);
	int len;

	len = sprintf(big, "{\"script\": \"");
	memset(big + len, 'x', n);
	len += (int)n;
	len += sprintf(big + len, "\"}");
	refused(big, (size_t)len, "field 'script' is 1048577 bytes", 413);
	len = sprintf(big, "{\"script\": \"\", \"stdin\": \"");
	memset(big + len, 'x', n);
	len += (int)n;
	len += sprintf(big + len, "\"}");
	refused(big, (size_t)len, "field 'stdin' is 1048577 bytes", 413);
	free(big);
}

/* Sets `name` to `value` on `o`; true when the library accepted it. */
static bool set(pexos_options *o, const char *name, const char *value)
{
	pexos_error err = {0};

	return pexos_options_set(o, name, value, &err) == 0;
}

/* The CPU limit follows the wall-clock one until "cpu" is set itself. */
static void cpu_follows_timeout(void)
{
	pexos_options *o = pexos_options_new();

	tap_ok(o && o->wall_ms == 30000 && o->cpu_ms == 30000 && !o->cpu_set,
	       "defaults: timeout 30 s, cpu 30 s");
	tap_ok(set(o, "timeout", "10") && o->wall_ms == 10000 &&
		       o->cpu_ms == 10000,
	       "timeout 10 sets the CPU limit to 10 s too");
	tap_ok(set(o, "timeout", "0.5") && o->wall_ms == 500 &&
		       o->cpu_ms == 1000,
	       "timeout 0.5: the CPU limit is its smallest value, 1 s");
	tap_ok(!set(o, "cpu", "0.5") && !o->cpu_set && set(o, "timeout", "7") &&
		       o->cpu_ms == 7000,
	       "a refused cpu value does not stop the CPU limit following");
	tap_ok(set(o, "cpu", "3") && o->cpu_ms == 3000,
	       "cpu after timeout wins");
	tap_ok(set(o, "timeout", "20") && o->wall_ms == 20000 &&
		       o->cpu_ms == 3000,
	       "timeout after cpu leaves the CPU limit alone");
	pexos_options_free(o);
	o = pexos_options_new();
	tap_ok(o && set(o, "cpu", "30") && set(o, "timeout", "60") &&
		       o->cpu_ms == 30000 && o->wall_ms == 60000,
	       "cpu equal to the default still counts as set");
	pexos_options_free(o);
}

/* "pool" "auto" and the numbers it resolves to. */
static void pool_auto(void)
{
	pexos_options *o = pexos_options_new();
	pexos_error err = {0};

	tap_ok(o && o->pool == 0 && !o->pool_auto && o->runs == 0 &&
		       o->concurrency >= 1 && options_pool_size(o, true) == 0,
	       "the library's default: no pool");
	tap_ok(set(o, "pool", "auto") && o->pool_auto, "pool accepts auto");
	tap_ok(set(o, "concurrency", "4") && options_pool_size(o, true) == 8,
	       "auto, runs not known (a server): 2 x concurrency");
	tap_ok(options_pool_size(o, false) == 0,
	       "auto without cgroups (limits rlimit): no pool");
	tap_ok(set(o, "concurrency", "600") && options_pool_size(o, true) == 1024,
	       "auto is at most 1024");
	tap_ok(set(o, "concurrency", "4") && set(o, "runs", "1") &&
		       options_pool_size(o, true) == 0,
	       "auto, one run: no pool");
	tap_ok(set(o, "runs", "10") && options_pool_size(o, true) == 4,
	       "auto, 10 runs 4 at once: 4");
	tap_ok(set(o, "runs", "3") && options_pool_size(o, true) == 3,
	       "auto, 3 runs 4 at once: 3");
	tap_ok(set(o, "runs", "0") && options_pool_size(o, true) == 8,
	       "runs 0 is not known again");
	tap_ok(pexos_options_set(o, "pool", "many", &err) == -EINVAL &&
		       strstr(err.message, "or auto") && o->pool_auto,
	       "a bad pool value is refused, names auto, leaves auto");
	tap_ok(set(o, "pool", "3") && !o->pool_auto &&
		       options_pool_size(o, true) == 3 &&
		       options_pool_size(o, false) == 3,
	       "a number replaces auto and stays (rlimit refuses it later)");
	tap_ok(set(o, "pool", "auto") && options_pool_size(o, true) == 8,
	       "auto replaces a number");
	tap_ok(!set(o, "concurrency", "0") && !set(o, "concurrency", "65537") &&
		       !set(o, "runs", "-1") && !set(o, "pool", "1025"),
	       "concurrency 1 to 65536, runs >= 0, pool <= 1024");
	pexos_options_free(o);
}

int main(void)
{
	cpu_follows_timeout();
	pool_auto();
	accepted();
	defaults();
	refused_s("", "not valid JSON");
	refused_s("{\"script\": ", "not valid JSON");
	refused_s("[]", "must be a JSON object, got an array");
	refused_s("\"def main(): pass\"", "must be a JSON object, got a string");
	refused_s("{}", "field 'script' is required");
	refused_s("{\"stdin\": \"x\"}", "field 'script' is required");
	refused_s("{\"script\": 1}", "field 'script' must be a string, got an integer");
	refused_s("{\"script\": null}", "field 'script' must be a string, got null");
	refused_s("{\"script\": \"a\\u0000b\"}", "field 'script' contains a NUL byte");
	refused("{\"script\": \"\xff\"}", 15, "not valid JSON", 400);
	refused_s("{\"script\": \"\\ud800\"}", "not valid JSON");
	refused_s("{\"script\": \"\", \"script\": \"\"}", "duplicate");
	refused_s("{\"script\": \"\", \"foo\": 1}", "unknown field 'foo'");
	refused_s("{\"foo\": 1, \"script\": \"\"}", "unknown field 'foo'");
	refused_s("{\"script\": \"\", \"stdin\": 5}", "field 'stdin' must be a string");
	refused_s("{\"script\": \"\", \"timeout\": \"5\"}", "field 'timeout' must be a number");
	refused_s("{\"script\": \"\", \"timeout\": true}", "field 'timeout' must be a number");
	refused_s("{\"script\": \"\", \"timeout\": 0}", "field 'timeout' must be > 0");
	refused_s("{\"script\": \"\", \"timeout\": -1}", "field 'timeout' must be > 0");
	refused_s("{\"script\": \"\", \"timeout\": 31}", "server's limit of 30 s");
	refused_s("{\"script\": \"\", \"timeout\": 1e400}", "not valid JSON");
	refused_s("{\"script\": \"\", \"memory_mb\": 64.5}", "field 'memory_mb' must be an integer");
	refused_s("{\"script\": \"\", \"memory_mb\": \"64\"}", "field 'memory_mb' must be an integer");
	refused_s("{\"script\": \"\", \"memory_mb\": 0}", "field 'memory_mb' must be between 16");
	refused_s("{\"script\": \"\", \"memory_mb\": 513}", "server's limit of 512");
	refused_s("{\"script\": \"\", \"memory_mb\": -5}", "field 'memory_mb' must be between");
	refused_s("{\"script\": \"\", \"stats\": 1}", "field 'stats' must be a boolean");
	refused_s("{\"script\": \"\", \"stats\": \"true\"}", "field 'stats' must be a boolean");
	sizes();
	files_accepted();
	files_refused();
	return tap_done();
}
