/* SPDX-License-Identifier: MIT */
/* pexos-httpd - POST /execute over libpexos (see pexos-httpd(8)). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "httpd.h"

/* A flag, its PEXOS_* variable, and where it goes: a pexos option (lib) or
 * a daemon setting. Flags win over the environment. */
struct setting {
	const char *flag;
	const char *env;
	const char *lib; /* pexos_options_set name, or NULL */
	const char *help;
};

static const struct setting settings[] = {
	{"port", "PORT", NULL, "TCP port (default 8080; $PORT as on Cloud Run)"},
	{"listen", "PEXOS_LISTEN", NULL, "address to listen on (default 0.0.0.0)"},
	{"workers", "PEXOS_WORKERS", NULL, "sandboxes at once (default: CPUs)"},
	{"queue", "PEXOS_QUEUE", NULL, "requests that may wait for a sandbox (default 4 x workers)"},
	{"max-body", "PEXOS_MAX_BODY", NULL, "largest request body, bytes (default 33554432: 16 MiB of input files as base64, the script and stdin)"},
	{"buffer-max", "PEXOS_BUFFER_MAX", NULL, "MiB of request bodies and answers held at once (default 256)"},
	{"conn-limit", "PEXOS_CONN_LIMIT", NULL, "connections at once (default 256)"},
	{"conn-timeout", "PEXOS_CONN_TIMEOUT", NULL, "seconds a connection may idle, and a request body may take (default 30)"},
	{"grace", "PEXOS_GRACE", NULL, "seconds to finish runs on SIGTERM (default 10)"},
	{"token-file", "PEXOS_TOKEN_FILE", NULL, "file holding the bearer token"},
	{"timeout", "PEXOS_TIMEOUT", "timeout", "wall-clock limit, seconds (default 30)"},
	{"cpu", "PEXOS_CPU", "cpu", "CPU-time limit, seconds (default: as --timeout)"},
	{"memory", "PEXOS_MEMORY", "memory_mb", "memory limit, MiB (default 512)"},
	{"pids", "PEXOS_PIDS", "pids", "processes and threads (default 64)"},
	{"tmp", "PEXOS_TMP", "tmp_mb", "size of /tmp, MiB (default 64)"},
	{"output-max", "PEXOS_OUTPUT_MAX", "output_max", "captured bytes of stdout and stderr each (default 1048576)"},
	{"result-max", "PEXOS_RESULT_MAX", "result_max", "bytes of the result (default 8388608)"},
	{"script-max", "PEXOS_SCRIPT_MAX", "script_max", "bytes of the script (default 1048576)"},
	{"stdin-max", "PEXOS_STDIN_MAX", "stdin_max", "bytes of the request's stdin (default 1048576)"},
	{"in-files", "PEXOS_IN_FILES", "in_files", "input files a request may send (default 100)"},
	{"in-files-max", "PEXOS_IN_FILES_MAX", "in_files_max", "decoded bytes of a request's input files in all (default 16777216)"},
	{"out-file-max", "PEXOS_OUT_FILE_MAX", "out_file_max", "bytes of one output file sent back (default 8388608)"},
	{"out-files-max", "PEXOS_OUT_FILES_MAX", "out_files_max", "bytes of all output files of a response (default 16777216)"},
	{"figures", "PEXOS_FIGURES", "figures", "figures sent back (default 20)"},
	{"figure-max", "PEXOS_FIGURE_MAX", "figure_max", "bytes of one figure's PNG (default 4194304)"},
	{"limits", "PEXOS_LIMITS", "limits", "cgroup (default) or rlimit"},
	{"python", "PEXOS_PYTHON", "python", "interpreter (default /usr/bin/python3)"},
	{"pool", "PEXOS_POOL", "pool", "warm sandboxes kept ready (default auto: 2 x workers; 0: none)"},
	{"preload", "PEXOS_PRELOAD", "preload", "modules the warm sandboxes import (default numpy,pandas)"},
	{"lean-pool", "PEXOS_LEAN_POOL", "lean_pool", "auto (default: warm sandboxes that import nothing for scripts that import none of the preload) or off"},
	{"pool-wait", "PEXOS_POOL_WAIT", "pool_wait", "seconds a run waits for a warm sandbox (default 2)"},
	{"uid-base", "PEXOS_UID_BASE", "uid_base", "the ids runs map to: this and the next (default 2000000000, or a pair chosen from the mapped ids)"},
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static void usage(FILE *f)
{
	fputs("Usage: pexos-httpd [OPTIONS]\n\n"
	      "Serves POST /execute, POST /mcp (the Model Context Protocol),\n"
	      "GET /health and GET /metrics over libpexos.\nEvery option can also be set by its environment "
	      "variable.\n\n",
	      f);
	for (size_t i = 0; i < N_SETTINGS; i++)
		fprintf(f, "  --%-13s %-19s %s\n", settings[i].flag,
			settings[i].env, settings[i].help);
	fputs("  -h, --help                          show this help\n"
	      "  -V, --version                       show the version\n"
	      "\nPEXOS_TOKEN sets the bearer token directly. See "
	      "pexos-httpd(8).\n",
	      f);
}

static int to_uint(const char *name, const char *v, unsigned min, unsigned max,
		   unsigned *ret)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || v[0] == '-' || n < min || n > max) {
		fprintf(stderr, "pexos-httpd: %s must be a whole number from %u "
				"to %u, got '%s'\n",
			name, min, max, v);
		return -1;
	}
	*ret = (unsigned)n;
	return 0;
}

static char *read_token(const char *path)
{
	FILE *f = fopen(path, "re");
	char buf[4096];
	size_t n;

	if (!f) {
		fprintf(stderr, "pexos-httpd: cannot read token file '%s': %s\n",
			path, strerror(errno));
		return NULL;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
			 buf[n - 1] == ' '))
		buf[--n] = '\0';
	if (n == 0) {
		fprintf(stderr, "pexos-httpd: token file '%s' is empty\n", path);
		return NULL;
	}
	return strdup(buf);
}

static int apply(struct config *c, const struct setting *s, const char *v)
{
	pexos_error err = {0};
	unsigned u;

	if (s->lib) {
		if (pexos_options_set(c->opts, s->lib, v, &err) < 0) {
			fprintf(stderr, "pexos-httpd: --%s: %s\n", s->flag,
				err.message);
			return -1;
		}
		return 0;
	}
	if (strcmp(s->flag, "listen") == 0)
		c->listen = v;
	else if (strcmp(s->flag, "token-file") == 0)
		return (c->token = read_token(v)) ? 0 : -1;
	else if (strcmp(s->flag, "grace") == 0) {
		char *end;
		c->grace = strtod(v, &end);
		if (*end || end == v || !(c->grace >= 0 && c->grace <= 3600)) {
			fprintf(stderr, "pexos-httpd: grace must be 0 to 3600 "
					"seconds, got '%s'\n", v);
			return -1;
		}
	} else if (strcmp(s->flag, "port") == 0) {
		if (to_uint(s->flag, v, 0, 65535, &c->port) < 0)
			return -1;
	} else if (strcmp(s->flag, "workers") == 0) {
		if (to_uint(s->flag, v, 1, 4096, &c->workers) < 0)
			return -1;
	} else if (strcmp(s->flag, "queue") == 0) {
		if (to_uint(s->flag, v, 0, 65536, &c->queue) < 0)
			return -1;
	} else if (strcmp(s->flag, "max-body") == 0) {
		if (to_uint(s->flag, v, 1024, 1u << 30, &u) < 0)
			return -1;
		c->max_body = u;
	} else if (strcmp(s->flag, "buffer-max") == 0) {
		if (to_uint(s->flag, v, 1, 1u << 20, &u) < 0)
			return -1;
		c->buffer_max = (size_t)u << 20;
	} else if (strcmp(s->flag, "conn-limit") == 0) {
		if (to_uint(s->flag, v, 1, 65536, &c->conn_limit) < 0)
			return -1;
	} else if (strcmp(s->flag, "conn-timeout") == 0) {
		if (to_uint(s->flag, v, 1, 3600, &c->conn_timeout) < 0)
			return -1;
	}
	return 0;
}

static int configure(int argc, char **argv, struct config *c)
{
	struct option longopts[N_SETTINGS + 3];
	const char *given[N_SETTINGS] = {0};
	pexos_error err = {0};
	char workers[16];
	int opt, idx;

	for (size_t i = 0; i < N_SETTINGS; i++)
		longopts[i] = (struct option){settings[i].flag,
					      required_argument, NULL, 0};
	longopts[N_SETTINGS] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[N_SETTINGS + 1] =
		(struct option){"version", no_argument, NULL, 'V'};
	longopts[N_SETTINGS + 2] = (struct option){0};
	while ((opt = getopt_long(argc, argv, "hV", longopts, &idx)) != -1) {
		if (opt == 0)
			given[idx] = optarg;
		else if (opt == 'h') {
			usage(stdout);
			exit(0);
		} else if (opt == 'V') {
			printf("pexos-httpd %s\n", pexos_version());
			exit(0);
		} else
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, "pexos-httpd: unexpected argument '%s'\n",
			argv[optind]);
		return -1;
	}
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const char *v = given[i] ? given[i] : getenv(settings[i].env);
		if (v && *v && apply(c, &settings[i], v) < 0)
			return -2;
	}
	/* The library sizes the pool from the runs at once (--pool and
	 * PEXOS_POOL, applied above, win). */
	snprintf(workers, sizeof(workers), "%u", c->workers);
	if (pexos_options_set(c->opts, "concurrency", workers, &err) < 0) {
		fprintf(stderr, "pexos-httpd: %s\n", err.message);
		return -2;
	}
	if (!c->token && getenv("PEXOS_TOKEN") && *getenv("PEXOS_TOKEN"))
		c->token = strdup(getenv("PEXOS_TOKEN"));
	if (c->queue == (unsigned)-1)
		c->queue = 4 * c->workers;
	if (c->buffer_max < c->max_body) {
		fprintf(stderr, "pexos-httpd: --buffer-max (%zu MiB) must hold "
				"at least one body of --max-body (%zu bytes)\n",
			c->buffer_max >> 20, c->max_body);
		return -2;
	}
	return 0;
}

/* Refuses to start where the sandbox cannot work, saying what is missing. */
static char *startup_check(const struct config *c)
{
	pexos_error err = {0};
	char *report = NULL;
	int r = pexos_check(c->opts, &report, &err);

	if (r < 0) {
		fprintf(stderr, "pexos-httpd: cannot check the sandbox: %s\n",
			err.message);
		return NULL;
	}
	if (r == 0) {
		fprintf(stderr, "pexos-httpd: refusing to start, the sandbox "
				"cannot work on this host (see pexos-run "
				"--check):\n%s\n",
			report);
		pexos_free(report);
		return NULL;
	}
	return report;
}

/* Has one profile's pool come up (a slot ready, or none to keep) or
 * failed? */
static bool profile_settled(const pexos_pool_snapshot *st)
{
	return st->ready > 0 || st->size == 0 ||
	       (st->state != PEXOS_POOL_UP && st->error[0]) ||
	       st->slot_failures >= 3;
}

static void warn_pool(const char *profile, const char *error)
{
	json_t *why = json_string(error[0] ? error : "still starting");

	fprintf(stderr,
		"{\"severity\":\"WARNING\",\"message\":\"the warm pool "
		"(profile %s) is not ready; its runs start cold sandboxes "
		"until it is\",\"profile\":\"%s\",\"error\":",
		profile, profile);
	json_dumpf(why, stderr, JSON_ENCODE_ANY);
	json_decref(why);
	fputs("}\n", stderr);
}

/* Gives the warm pool time to fill before the first request: an instance
 * is ready when it answers in milliseconds. Waits for every profile's pool
 * (the lean one is often ready long before the full zygote has imported
 * its modules, or failed to); one that cannot start is reported by name
 * and left to the cold path. */
static void wait_for_pool(pexos_context *ctx)
{
	uint64_t deadline = mono_ns() + 60 * 1000000000ull;
	pexos_pool_snapshot st;

	if (pexos_pool_info(ctx, &st) < 0 || st.state == PEXOS_POOL_OFF)
		return;
	for (;;) {
		bool settled = true, late = mono_ns() > deadline;
		const char *name;

		for (unsigned i = 0;
		     pexos_pool_profile_info(ctx, i, &name, &st) == 0; i++)
			if (!profile_settled(&st))
				settled = false;
		if (settled || late) {
			for (unsigned i = 0;
			     pexos_pool_profile_info(ctx, i, &name, &st) == 0;
			     i++)
				if (st.ready == 0 && st.size > 0)
					warn_pool(name, st.error);
			return;
		}
		usleep(20000);
	}
}

/* Waits for SIGTERM or SIGINT, checking the listening socket every
 * second meanwhile. Returns the signal, or -1 when the socket stopped
 * working: a daemon that can no longer be reached says so and stops
 * (after its runs in flight, exit status 1), so that whatever supervises
 * it starts a new one, rather than living on unreachable. */
static int wait_for_end(const sigset_t *sigs)
{
	const struct timespec second = {.tv_sec = 1};

	for (;;) {
		const char *why;
		int sig = sigtimedwait(sigs, NULL, &second);

		if (sig > 0)
			return sig;
		why = server_check_listener();
		if (why) {
			log_printf("{\"severity\":\"ERROR\",\"message\":\"%s: "
				   "no new connection can reach pexos-httpd; "
				   "finishing the runs in flight, then "
				   "exiting with status 1\"}\n",
				   why);
			return -1;
		}
	}
}

static void shutdown_gracefully(pexos_context *ctx, double grace)
{
	uint64_t deadline = mono_ns() + (uint64_t)(grace * 1e9);

	server_quiesce(); /* no new connections from here on */
	if (!queue_wait_idle(deadline)) {
		log_printf("{\"severity\":\"WARNING\",\"message\":\"grace "
			   "period over: cancelling the runs left\"}\n");
		pexos_context_cancel(ctx);
		queue_wait_idle(mono_ns() + 10 * 1000000000ull);
	}
	server_drain(mono_ns() + 2 * 1000000000ull);
	server_stop();
	queue_stop();
}

int main(int argc, char **argv)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct config c = {
		.listen = "0.0.0.0",
		.port = 8080,
		.workers = cpus > 0 ? (unsigned)cpus : 1,
		.queue = (unsigned)-1,
		/* Room for the largest request the library takes by default:
		 * 16 MiB of input files as base64 (21.4 MiB), a 1 MiB script
		 * and 1 MiB of stdin, each escaped as JSON. */
		.max_body = 32u << 20,
		.buffer_max = (size_t)256 << 20,
		.conn_limit = 256,
		.conn_timeout = 30,
		.grace = 10,
	};
	pexos_context *ctx = NULL;
	pexos_error err = {0};
	char *report;
	sigset_t sigs;
	unsigned port;
	int sig, r;

	c.opts = pexos_options_new();
	/* Before the settings, so that --pool or PEXOS_POOL replaces it. */
	if (!c.opts || pexos_options_set(c.opts, "pool", "auto", &err) < 0) {
		pexos_options_free(c.opts);
		return 1;
	}
	r = configure(argc, argv, &c);
	if (r < 0) {
		if (r == -1)
			usage(stderr);
		pexos_options_free(c.opts);
		free(c.token);
		return 2;
	}
	/* Signals go to this thread only, through sigwait below. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	report = startup_check(&c);
	if (!report)
		return 1;
	if (pexos_context_new(c.opts, &ctx, &err) < 0) {
		fprintf(stderr, "pexos-httpd: %s\n", err.message);
		return 1;
	}
	wait_for_pool(ctx);
	/* From here on no thread that serves writes to stderr (log.c). */
	if (log_start() < 0 || queue_start(ctx, c.workers, c.queue) < 0 ||
	    server_start(&c, ctx, report, &port) < 0) {
		log_stop(mono_ns() + 2000000000ull);
		fprintf(stderr, "pexos-httpd: cannot listen on %s port %u\n",
			c.listen, c.port);
		return 1;
	}
	log_printf("{\"severity\":\"INFO\",\"message\":\"pexos-httpd %s "
		   "listening on %s port %u\",\"port\":%u,\"workers\":%u,"
		   "\"queue\":%u}\n",
		   pexos_version(), c.listen, port, port, c.workers, c.queue);
	sig = wait_for_end(&sigs);
	if (sig > 0)
		log_printf("{\"severity\":\"INFO\",\"message\":\"signal %d: "
			   "finishing the runs in flight (grace %g s)\"}\n",
			   sig, c.grace);
	shutdown_gracefully(ctx, c.grace);
	pexos_context_free(ctx);
	pexos_options_free(c.opts);
	pexos_free(report);
	free(c.token);
	log_printf("{\"severity\":\"INFO\",\"message\":\"stopped\"}\n");
	/* What is left, for 2 s at most: a log nobody reads must not keep
	 * the daemon from exiting. */
	log_stop(mono_ns() + 2000000000ull);
	return sig > 0 ? 0 : 1;
}
