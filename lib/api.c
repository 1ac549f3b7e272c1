/* SPDX-License-Identifier: MIT */
/* api.c - the public entry points of libpexos. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "cgroup.h"
#include "error.h"
#include "fontcache.h"
#include "lockdown.h"
#include "mounts.h"
#include "ns.h"
#include "pexos.h"
#include "plan.h"
#include "pool.h"
#include "request.h"
#include "response.h"
#include "sandbox.h"
#include "scmp.h"
#include "util.h"

extern const char pexos_runner_py[];
extern const char pexos_zygote_py[];
extern const char pexos_init_elf[];
extern const unsigned long pexos_init_elf_len;

#define KIB 1024ULL
#define MIB (1024ULL * 1024ULL)

/* The smallest CPU-time limit: RLIMIT_CPU counts whole seconds. */
#define CPU_MIN_MS 1000

/* Most runs at once a caller may state ("concurrency"). */
#define CONCURRENCY_MAX 65536

const char *pexos_version(void)
{
	return PEXOS_VERSION;
}

void pexos_free(void *p)
{
	free(p);
}

/* The CPUs this process may run on now, at least 1: the default number of
 * runs at once, as the front ends' --workers and -j default to it. */
static uint64_t online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return (uint64_t)n > CONCURRENCY_MAX ? CONCURRENCY_MAX : (uint64_t)n;
}

pexos_options *pexos_options_new(void)
{
	pexos_options *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	snprintf(o->python, sizeof(o->python), "/usr/bin/python3");
	o->wall_ms = 30000;
	o->cpu_ms = 30000;
	o->memory_mb = 512;
	o->pids = 64;
	o->tmp_mb = 64;
	o->output_max = 1 * MIB;
	o->result_max = 8 * MIB;
	o->script_max = 1 * MIB;
	o->stdin_max = 1 * MIB;
	o->in_files = 100;
	o->in_files_max = 16 * MIB;
	o->out_files_max = 16 * MIB;
	o->out_file_max = 8 * MIB;
	o->figures = 20;
	o->figure_max = 4 * MIB;
	o->uid_base = NS_DEFAULT_BASE; /* where mapped: ns_choose_ids */
	snprintf(o->limits, sizeof(o->limits), "auto");
	o->pool = 0;
	o->concurrency = online_cpus();
	o->runs = 0;
	o->pool_wait_ms = 2000;
	snprintf(o->preload, sizeof(o->preload), "numpy,pandas");
	o->lean_pool = true;
	return o;
}

void pexos_options_free(pexos_options *opts)
{
	free(opts);
}

/* name, field, minimum, maximum, unit for messages */
static const struct {
	const char *name;
	size_t offset;
	uint64_t min, max;
	bool seconds;
} numeric_options[] = {
	{"timeout", offsetof(pexos_options, wall_ms), 1, 86400000, true},
	{"cpu", offsetof(pexos_options, cpu_ms), CPU_MIN_MS, 86400000, true},
	{"memory_mb", offsetof(pexos_options, memory_mb), 16, 1048576, false},
	{"pids", offsetof(pexos_options, pids), 4, 65536, false},
	{"tmp_mb", offsetof(pexos_options, tmp_mb), 1, 1048576, false},
	{"output_max", offsetof(pexos_options, output_max), 0, 1024 * MIB, false},
	{"result_max", offsetof(pexos_options, result_max), 16, 1024 * MIB, false},
	{"script_max", offsetof(pexos_options, script_max), 16, 64 * MIB, false},
	{"stdin_max", offsetof(pexos_options, stdin_max), 0, 1024 * MIB, false},
	{"in_files", offsetof(pexos_options, in_files), 0, 10000, false},
	{"in_files_max", offsetof(pexos_options, in_files_max), 0, 1024 * MIB, false},
	{"out_files_max", offsetof(pexos_options, out_files_max), 0, 1024 * MIB, false},
	{"out_file_max", offsetof(pexos_options, out_file_max), 0, 1024 * MIB, false},
	{"figures", offsetof(pexos_options, figures), 0, 1000, false},
	{"figure_max", offsetof(pexos_options, figure_max), 0, 256 * MIB, false},
	{"uid_base", offsetof(pexos_options, uid_base), 1, 4294967293ULL, false},
	{"pool", offsetof(pexos_options, pool), 0, POOL_MAX, false},
	{"pool_wait", offsetof(pexos_options, pool_wait_ms), 0, 600000, true},
	{"concurrency", offsetof(pexos_options, concurrency), 1, CONCURRENCY_MAX, false},
	{"runs", offsetof(pexos_options, runs), 0, UINT32_MAX, false},
};

/* A comma-separated list of module names (dotted), or empty. */
static bool valid_preload(const char *v)
{
	bool start = true;

	for (const char *c = v; *c; c++) {
		bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			     *c == '_';
		bool digit = *c >= '0' && *c <= '9';

		if (start && !alpha)
			return false;
		if (!start && (*c == ',' || *c == '.')) {
			start = true;
			continue;
		}
		if (!alpha && !digit)
			return false;
		start = false;
	}
	return !start || !*v;
}

/* The options whose value is a word or a path. Returns 1 when `name` is
 * not one of them, else 0 or -EINVAL. */
static int set_text(pexos_options *o, const char *name, const char *value,
		    pexos_error *err)
{
	if (strcmp(name, "limits") == 0) {
		if (strcmp(value, "auto") != 0 && strcmp(value, "cgroup") != 0 &&
		    strcmp(value, "rlimit") != 0)
			return pexos_fail(err, EINVAL, "options",
					  "limits must be auto, cgroup or "
					  "rlimit, got '%s'",
					  value);
		snprintf(o->limits, sizeof(o->limits), "%s", value);
		return 0;
	}
	if (strcmp(name, "preload") == 0) {
		if (strlen(value) >= sizeof(o->preload) || !valid_preload(value))
			return pexos_fail(err, EINVAL, "options",
					  "preload must be a comma-separated "
					  "list of module names, got '%s'",
					  value);
		snprintf(o->preload, sizeof(o->preload), "%s", value);
		return 0;
	}
	if (strcmp(name, "lean_pool") == 0) {
		if (strcmp(value, "auto") != 0 && strcmp(value, "off") != 0)
			return pexos_fail(err, EINVAL, "options",
					  "lean_pool must be auto or off, got "
					  "'%s'",
					  value);
		o->lean_pool = strcmp(value, "auto") == 0;
		return 0;
	}
	if (strcmp(name, "python") == 0) {
		if (value[0] != '/' || strlen(value) >= sizeof(o->python))
			return pexos_fail(err, EINVAL, "options",
					  "python must be an absolute path, "
					  "got '%s'",
					  value);
		snprintf(o->python, sizeof(o->python), "%s", value);
		return 0;
	}
	if (strcmp(name, "pool") == 0 && strcmp(value, "auto") == 0) {
		o->pool_auto = true;
		o->pool = 0;
		return 0;
	}
	return 1;
}

/* Sets numeric_options[i] from `value`. Returns 0 or -EINVAL. */
static int set_number(pexos_options *o, size_t i, const char *value,
		      pexos_error *err)
{
	uint64_t v, *field = (uint64_t *)((char *)o + numeric_options[i].offset);
	const char *name = numeric_options[i].name;
	int r;

	if (numeric_options[i].seconds)
		r = parse_seconds_ms(value, numeric_options[i].min,
				     numeric_options[i].max, &v);
	else
		r = parse_u64(value, numeric_options[i].min,
			      numeric_options[i].max, &v);
	if (r < 0 && numeric_options[i].seconds)
		return pexos_fail(err, EINVAL, "options",
				  "%s must be a number of seconds from "
				  "%g to %g, got '%s'",
				  name, (double)numeric_options[i].min / 1000,
				  (double)numeric_options[i].max / 1000, value);
	if (r < 0)
		return pexos_fail(err, EINVAL, "options",
				  "%s must be a whole number from "
				  "%" PRIu64 " to %" PRIu64 "%s, got '%s'",
				  name, numeric_options[i].min,
				  numeric_options[i].max,
				  strcmp(name, "pool") == 0 ? ", or auto" : "",
				  value);
	*field = v;
	/* The rules between options, so that every front end gets the same:
	 * the CPU limit follows the wall-clock one until "cpu" itself is set
	 * (in either order), and a number of warm sandboxes replaces "auto". */
	if (strcmp(name, "cpu") == 0)
		o->cpu_set = true;
	else if (strcmp(name, "timeout") == 0 && !o->cpu_set)
		o->cpu_ms = v < CPU_MIN_MS ? CPU_MIN_MS : v;
	else if (strcmp(name, "pool") == 0)
		o->pool_auto = false;
	else if (strcmp(name, "uid_base") == 0)
		o->uid_base_set = true; /* then it must be mapped */
	return 0;
}

int pexos_options_set(pexos_options *o, const char *name, const char *value,
		      pexos_error *err)
{
	int r;

	if (!o || !name || !value)
		return pexos_fail(err, EINVAL, "options", "missing argument");
	r = set_text(o, name, value, err);
	if (r <= 0)
		return r;
	for (size_t i = 0; i < ELEMENTSOF(numeric_options); i++)
		if (strcmp(name, numeric_options[i].name) == 0)
			return set_number(o, i, value, err);
	return pexos_fail(err, EINVAL, "options", "unknown option '%s'", name);
}

uint64_t options_pool_size(const struct pexos_options *o, bool cgroups)
{
	uint64_t n;

	if (!o->pool_auto)
		return o->pool;
	if (!cgroups)
		return 0;
	/* One run: a cold sandbox is ready sooner than the zygote. */
	if (o->runs == 1)
		return 0;
	/* A known number of runs: one warm sandbox per run at once. A
	 * server: twice that, so that while some run, as many are refilled
	 * and a burst still finds warm ones. */
	if (o->runs > 1)
		n = o->concurrency < o->runs ? o->concurrency : o->runs;
	else
		n = 2 * o->concurrency;
	return n > POOL_MAX ? POOL_MAX : n;
}

/* The interpreter's command line: isolated mode (no environment, no user
 * site, no script directory on sys.path), no bytecode writes. */
static void build_command(pexos_context *ctx)
{
	static char *const envp[] = {
		"PATH=/usr/bin:/bin",
		"HOME=/tmp",
		"TMPDIR=/tmp",
		"LANG=C.UTF-8",
		"USER=sandbox",
		"LOGNAME=sandbox",
		/* One compute thread per library: runs share the host's
		 * cores, and every thread counts against the pids limit. */
		"OPENBLAS_NUM_THREADS=1",
		"OMP_NUM_THREADS=1",
		"MKL_NUM_THREADS=1",
		"NUMEXPR_NUM_THREADS=1",
		/* matplotlib draws to files only (no display), and keeps its
		 * config and font list in the run's /tmp (runner.py links the
		 * prebuilt list there: fontcache.c). */
		"MPLBACKEND=Agg",
		"MPLCONFIGDIR=/tmp/.cache/matplotlib",
		NULL,
	};
	size_t i = 0;

	snprintf(ctx->result_max_arg, sizeof(ctx->result_max_arg),
		 "%" PRIu64, ctx->opts.result_max);
	ctx->argv[i++] = ctx->opts.python;
	ctx->argv[i++] = "-I";
	ctx->argv[i++] = "-B";
	/* No site module: runner.py does the part scripts need, 14 ms sooner. */
	ctx->argv[i++] = "-S";
	ctx->argv[i++] = "-c";
	ctx->argv[i++] = (char *)pexos_runner_py;
	ctx->argv[i++] = ctx->result_max_arg;
	ctx->argv[i] = NULL;
	for (i = 0; envp[i]; i++)
		ctx->envp[i] = envp[i];
	ctx->envp[i] = NULL;
	i = 0;
	ctx->zygote_argv[i++] = ctx->opts.python;
	ctx->zygote_argv[i++] = "-I";
	ctx->zygote_argv[i++] = "-B";
	ctx->zygote_argv[i++] = "-S";
	ctx->zygote_argv[i++] = "-c";
	ctx->zygote_argv[i++] = (char *)pexos_zygote_py;
	ctx->zygote_argv[i] = NULL;
}

/* pexos-init in a sealed, executable memory file: runs exec it from any
 * mount namespace, and no run can change it. */
static int prepare_init(pexos_context *ctx, pexos_error *err)
{
	int fd = exec_memfd("pexos-init", pexos_init_elf, pexos_init_elf_len);

	if (fd < 0)
		return pexos_fail_errno(err, -fd, "init",
					"hold pexos-init in a sealed memory file");
	ctx->init_fd = fd;
	return 0;
}

/* One plan for every script's process, cold or warm. */
static int prepare_lockdown(pexos_context *ctx, pexos_error *err)
{
	ctx->lockdown = malloc(sizeof(*ctx->lockdown));
	if (!ctx->lockdown)
		return pexos_fail(err, ENOMEM, "context", "out of memory");
	return lockdown_prepare(&ctx->opts, ctx->bpf, ctx->bpf_len,
				ctx->last_cap, ctx->lockdown, err);
}

int pexos_context_new(const pexos_options *opts, pexos_context **ret_ctx,
		      pexos_error *err)
{
	pexos_context *ctx;
	struct ns_ids ids;
	int r;

	if (!opts || !ret_ctx)
		return pexos_fail(err, EINVAL, "context", "missing argument");
	if (access(opts->python, X_OK) < 0)
		return pexos_fail_errno(err, errno, "context",
					"the interpreter '%s' is not executable "
					"(install Debian's python3, "
					"python3-numpy and python3-pandas)",
					opts->python);
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return pexos_fail(err, ENOMEM, "context", "out of memory");
	ctx->opts = *opts;
	ctx->init_fd = -1;
	/* The ids runs map to, fitted to this user namespace, before
	 * anything uses them (the map lines, the font list's build). */
	r = ns_choose_ids(opts, &ids, err);
	if (r < 0) {
		free(ctx);
		return r;
	}
	ctx->opts.uid_base = ids.base;
	ns_prepare(ctx);
	build_command(ctx);
	r = cg_prepare_self(&ctx->cg, ctx->opts.limits, err);
	if (r == 0) {
		ctx->opts.pool = options_pool_size(&ctx->opts,
						   ctx->cg.mode != CG_NONE);
		ctx->opts.pool_auto = false;
		r = prepare_init(ctx, err);
	}
	if (r == 0)
		r = caps_prepare(ctx, err);
	if (r == 0) /* before the mount plan, which copies it */
		ctx->font_cache = fontcache_prepare(
			ctx->opts.python, (uid_t)ctx->opts.uid_base);
	if (r == 0)
		r = mnt_prepare(ctx, err);
	if (r == 0)
		r = scmp_prepare(ctx, err);
	if (r == 0)
		r = prepare_lockdown(ctx, err);
	if (r == 0)
		r = pool_start(ctx, err);
	if (r < 0) {
		pexos_context_free(ctx);
		return r;
	}
	*ret_ctx = ctx;
	return 0;
}

void pexos_context_cancel(pexos_context *ctx)
{
	if (ctx)
		atomic_store(&ctx->cancelled, true);
}

void pexos_context_free(pexos_context *ctx)
{
	if (!ctx)
		return;
	pool_stop(ctx);
	cg_release(&ctx->cg);
	if (ctx->init_fd >= 0)
		close(ctx->init_fd);
	free(ctx->mnt_ops);
	free(ctx->bpf);
	free(ctx->lockdown);
	free(ctx);
}

char *pexos_pool_status(pexos_context *ctx)
{
	if (!ctx || !ctx->pool)
		return NULL;
	return pool_status_json(ctx->pool);
}

int pexos_pool_info(pexos_context *ctx, pexos_pool_snapshot *ret)
{
	if (!ctx || !ret)
		return -EINVAL;
	pool_info(ctx->pool, ret);
	return 0;
}

int pexos_pool_profile_info(pexos_context *ctx, unsigned index,
			    const char **ret_name, pexos_pool_snapshot *ret)
{
	if (!ctx || !ret)
		return -EINVAL;
	return pool_profile_info(ctx->pool, index, ret_name, ret);
}

char *pexos_error_response(const pexos_error *err)
{
	char msg[sizeof(err->message) + sizeof(err->step) + 64];
	struct verdict v = {.type = "SandboxError", .error = msg};
	char *s = NULL;

	if (err)
		snprintf(msg, sizeof(msg),
			 "pexos could not run the script (%s): %s",
			 err->step[0] ? err->step : "internal", err->message);
	else
		snprintf(msg, sizeof(msg), "pexos could not run the script");
	if (response_build(&v, NULL, NULL, NULL, &s, NULL) < 0)
		return NULL;
	return s;
}

void pexos_error_outcome(const pexos_error *err, pexos_outcome *ret_outcome)
{
	(void)err; /* every failure of pexos is a SandboxError */
	if (!ret_outcome)
		return;
	*ret_outcome = (pexos_outcome){
		.type = "SandboxError",
		.http_status = response_http_status("SandboxError"),
		.exit_code = response_exit_code("SandboxError"),
	};
}

int pexos_response_result(const char *response, char **ret_result,
			  pexos_error *err)
{
	size_t start, end;
	char *s;
	int r;

	if (!response || !ret_result)
		return pexos_fail(err, EINVAL, "response", "missing argument");
	r = response_member_span(response, strlen(response), "result", &start,
				 &end);
	if (r == -ENOENT)
		return pexos_fail(err, ENOENT, "response",
				  "the response has no result: the run failed");
	if (r == -EINVAL)
		return pexos_fail(err, EINVAL, "response",
				  "not a response object");
	if (r < 0 || !(s = strndup(response + start, end - start)))
		return pexos_fail(err, ENOMEM, "response", "out of memory");
	*ret_result = s;
	return 0;
}
