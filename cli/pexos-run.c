/* SPDX-License-Identifier: MIT */
/* pexos-run - run Python scripts in the pexos sandbox from the shell. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "files.h"
#include "jsontext.h"
#include "junit.h"
#include "mcp_stdio.h"
#include "pexos.h"

enum { EXIT_SCRIPT = 1, EXIT_USAGE = 2, EXIT_PEXOS = 3 };

/* Largest file read as a script or request; the library applies the real
 * limits and answers with an error that names them. */
#define READ_MAX (256u << 20)

/* Most worker threads of a batch (-j). */
#define JOBS_MAX 1024

struct cli {
	bool result_only;
	bool stats;
	bool check;
	bool mcp; /* --mcp: serve the Model Context Protocol on stdio */
	const char *json_file;
	const char *stdin_file;
	const char *junit_file;
	unsigned jobs; /* 0: the number of online CPUs */
	bool batch;    /* several scripts: --save-to DIR/<script name>/ */
	struct cli_files files; /* --file, --output, --save-to */
	pexos_options *opts;
	/* A batch reads --stdin once for all its scripts: `stdin_preloaded`,
	 * then `stdin_data` (NULL: the file could not be read). */
	bool stdin_preloaded;
	char *stdin_data;
	size_t stdin_len;
};

static void usage(FILE *f)
{
	fputs("Usage: pexos-run [OPTIONS] SCRIPT.py|-\n"
	      "       pexos-run [OPTIONS] SCRIPT.py SCRIPT.py...\n"
	      "       pexos-run [OPTIONS] --json REQUEST.json|-\n"
	      "       pexos-run [OPTIONS] --mcp\n"
	      "       pexos-run --check\n"
	      "\n"
	      "Runs a Python script's main() in a fresh sandbox and prints the\n"
	      "response object: {\"result\": ..., \"stdout\": ...} or\n"
	      "{\"error\": ..., \"type\": ...}.\n"
	      "\n"
	      "With several scripts, runs them concurrently and prints one\n"
	      "response per line (JSON Lines) in the order given, each with\n"
	      "a \"file\" member first; then a summary on stderr.\n"
	      "\n"
	      "  -r, --result          print only the result (failures go to "
	      "stderr);\n"
	      "                        one script only\n"
	      "      --json FILE|-     read a whole request object\n"
	      "      --stdin FILE|-    feed FILE to the script's stdin (to\n"
	      "                        every script of a batch)\n"
	      "      --file PATH[=NAME]  send a file (a directory: its regular\n"
	      "                        files) into the working directory as\n"
	      "                        NAME (default: PATH's last component);\n"
	      "                        repeatable\n"
	      "      --output GLOB     send back the files that match (relative\n"
	      "                        to the working directory); repeatable\n"
	      "      --save-to DIR     write returned files and figures under\n"
	      "                        DIR (a batch: DIR/<script name>/) and\n"
	      "                        print their paths (\"saved_to\")\n"
	      "  -j, --jobs N          run N scripts at a time (default: the\n"
	      "                        number of online CPUs)\n"
	      "      --junit FILE      also write a JUnit XML report to FILE\n"
	      "      --timeout SECONDS wall-clock limit, and CPU unless --cpu\n"
	      "                        (default 30)\n"
	      "      --cpu SECONDS     CPU-time limit of the whole run\n"
	      "                        (default: as --timeout)\n"
	      "      --memory MB       memory limit (default 512)\n"
	      "      --stats           add wall_ms, cpu_ms, max_rss_kb, faults, limits\n"
	      "      --limits MODE     cgroup (default: a cgroup per run,\n"
	      "                        required) or rlimit (per-process\n"
	      "                        rlimits, for hosts without cgroups)\n"
	      "      --python PATH     interpreter in the sandbox "
	      "(default /usr/bin/python3)\n"
	      "      --pool N|auto     keep N warm sandboxes (default auto:\n"
	      "                        0 for one script, the number of jobs\n"
	      "                        for a batch; 0 with --limits rlimit)\n"
	      "      --preload LIST    modules the warm sandboxes import\n"
	      "                        (default numpy,pandas)\n"
	      "      --lean-pool auto|off  warm sandboxes that import nothing\n"
	      "                        for scripts that import none of them\n"
	      "                        (default auto; off: one pool)\n"
	      "      --pool-wait SECONDS  how long a run waits for a warm\n"
	      "                        sandbox before it starts a cold one\n"
	      "                        (default 2)\n"
	      "      --uid-base ID     the ids runs map to: ID and ID+1\n"
	      "                        (default 2000000000, or where that is\n"
	      "                        not mapped a pair chosen from the\n"
	      "                        mapped ids)\n"
	      "      --check           show which isolation features work here\n"
	      "      --mcp             serve the Model Context Protocol on\n"
	      "                        stdin/stdout (tool run_python); runs\n"
	      "                        -j calls at a time until EOF\n"
	      "  -h, --help            show this help\n"
	      "  -V, --version         show the version\n"
	      "\n"
	      "Exit status: 0 success, 1 the script failed, 2 usage or invalid\n"
	      "request, 3 pexos itself failed. With several scripts: 0 if all\n"
	      "succeeded, else the highest status of any script (3 > 2 > 1);\n"
	      "3 also when the output or the report could not be written.\n"
	      "See pexos-run(1).\n",
	      f);
}

/* Reads a whole file ('-' = stdin). Returns a malloc'd buffer or NULL with
 * errno set. */
static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rbe");
	size_t len = 0, cap = 65536;
	char *buf;

	if (!f)
		return NULL;
	buf = malloc(cap + 1);
	while (buf) {
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			char *p = cap >= READ_MAX ? NULL : realloc(buf, cap * 2 + 1);
			if (!p) {
				free(buf);
				buf = NULL;
				errno = cap >= READ_MAX ? EFBIG : ENOMEM;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	if (buf && ferror(f)) {
		free(buf);
		buf = NULL;
		errno = EIO;
	}
	if (f != stdin)
		fclose(f);
	if (buf) {
		buf[len] = '\0';
		*ret_len = len;
	}
	return buf;
}

/* A response made here, before the library saw anything. */
static char *invalid_response(const char *fmt, const char *arg)
{
	char msg[1024];
	json_t *o;
	char *s;

	snprintf(msg, sizeof(msg), fmt, arg);
	o = json_pack("{s:s, s:s}", "error", msg, "type", "InvalidRequest");
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

/* Sets the fields the command line adds to the request. */
static int add_fields(const struct cli *c, json_t *req, char **ret_invalid)
{
	char *why = NULL;
	int r;

	if (c->stats && json_object_set_new(req, "stats", json_true()) < 0)
		return -ENOMEM;
	r = cli_files_add(&c->files, req, &why);
	if (r != 0) {
		if (r > 0)
			*ret_invalid = invalid_response("%s", why ? why : "");
		free(why);
		return r > 0 && !*ret_invalid ? -ENOMEM : r;
	}
	if (c->stdin_file) {
		size_t len = c->stdin_len;
		char *data = c->stdin_data;
		json_t *s;
		if (!c->stdin_preloaded)
			data = read_file(c->stdin_file, &len);
		if (!data) {
			*ret_invalid = invalid_response(
				"cannot read stdin file '%s'", c->stdin_file);
			return 1;
		}
		s = json_stringn(data, len);
		if (!c->stdin_preloaded)
			free(data);
		if (!s) {
			*ret_invalid = invalid_response(
				"stdin file '%s' is not valid UTF-8",
				c->stdin_file);
			return 1;
		}
		json_object_set_new(req, "stdin", s);
	}
	return 0;
}

/* Builds the request text from the command line. Returns 0 with *ret_req,
 * or 1 with *ret_invalid (a ready response), or -errno. */
static int build_request(const struct cli *c, const char *script_path,
			 char **ret_req, size_t *ret_len, char **ret_invalid)
{
	size_t len;
	char *text = read_file(c->json_file ? c->json_file : script_path, &len);
	json_t *req;
	int r;

	if (!text) {
		*ret_invalid = invalid_response(
			c->json_file ? "cannot read request file '%s'"
				     : "cannot read script file '%s'",
			c->json_file ? c->json_file : script_path);
		return 1;
	}
	if (c->json_file && !c->stats && !c->stdin_file && !c->files.n_files &&
	    !c->files.n_outputs) {
		/* Verbatim: the library judges it. */
		*ret_req = text;
		*ret_len = len;
		return 0;
	}
	if (c->json_file) {
		req = json_loadb(text, len, JSON_ALLOW_NUL, NULL);
		if (!json_is_object(req)) {
			json_decref(req);
			*ret_req = text; /* invalid: the library says why */
			*ret_len = len;
			return 0;
		}
	} else {
		json_t *s = json_stringn(text, len);
		if (!s) {
			free(text);
			*ret_invalid = invalid_response(
				"script file '%s' is not valid UTF-8",
				script_path);
			return 1;
		}
		req = json_pack("{s:o}", "script", s);
	}
	free(text);
	if (!req)
		return -ENOMEM;
	r = add_fields(c, req, ret_invalid);
	if (r == 0) {
		*ret_req = json_dumps(req, JSON_COMPACT);
		*ret_len = *ret_req ? strlen(*ret_req) : 0;
		if (!*ret_req)
			r = -ENOMEM;
	}
	json_decref(req);
	return r;
}

/* Prints `text` on `out`, pretty on a terminal. Returns 0 or -EIO. */
static int print_json(FILE *out, const char *text)
{
	if (isatty(fileno(out)))
		jt_pretty(out, text, strlen(text));
	else
		fputs(text, out);
	fputc('\n', out);
	return fflush(out) == 0 ? 0 : -EIO;
}

/* Prints the response (or, with -r, its result; a failure's response then
 * goes to stderr) and returns the exit code. */
static int print_response(const struct cli *c, const char *resp,
			  const pexos_outcome *oc)
{
	pexos_error err = {0};
	char *result = NULL;
	int r;

	if (!c->result_only || oc->type[0] != '\0')
		r = print_json(c->result_only ? stderr : stdout, resp);
	else if (pexos_response_result(resp, &result, &err) < 0) {
		fprintf(stderr, "pexos-run: %s\n", err.message);
		return EXIT_PEXOS;
	} else
		r = print_json(stdout, result);
	pexos_free(result);
	return r < 0 ? EXIT_PEXOS : oc->exit_code;
}

/* --save-to: the response's files and figures written out, their base64
 * replaced by their local paths; exit status 3 when one could not be. */
static void save_files(const struct cli *c, const char *path, char **resp,
		       pexos_outcome *oc)
{
	const char *sub = NULL;
	char *saved = NULL;
	int r;

	if (c->batch)
		sub = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	r = cli_files_save(&c->files, sub, *resp, &saved);
	if (r < 0) {
		pexos_free(*resp);
		*resp = NULL;
		return;
	}
	pexos_free(*resp);
	*resp = saved;
	if (r > 0)
		oc->exit_code = EXIT_PEXOS;
}

/* Runs the script at `path` (or the --json request) and gives its response
 * (free with pexos_free) and verdict; leaves *ret_resp NULL when out of
 * memory. Thread-safe. */
static void make_response(const struct cli *c, pexos_context *ctx,
			  const char *path, char **ret_resp,
			  pexos_outcome *ret_oc)
{
	char *req = NULL, *resp = NULL;
	size_t len = 0;
	pexos_outcome oc = {.http_status = 400, .exit_code = EXIT_USAGE};
	pexos_error err = {0};
	int r;

	r = build_request(c, path, &req, &len, &resp);
	if (r < 0)
		return;
	if (r == 0) {
		r = pexos_run_script(ctx, req, len, &resp, &oc, &err);
		if (r < 0) {
			resp = pexos_error_response(&err);
			pexos_error_outcome(&err, &oc);
		}
	} else {
		snprintf(oc.type, sizeof(oc.type), "InvalidRequest");
	}
	free(req);
	if (resp && c->files.save_to)
		save_files(c, path, &resp, &oc);
	*ret_resp = resp;
	*ret_oc = oc;
}

/* A report of one test case, for --junit with a single script. */
static int write_junit_one(FILE *f, const char *name, double seconds,
			   const char *resp, const pexos_outcome *oc)
{
	struct junit *j = junit_new(f);
	int r = j ? junit_add(j, name, seconds, resp, oc) : -errno;

	if (r == 0)
		r = junit_finish(j, seconds);
	junit_free(j);
	if (r < 0)
		fprintf(stderr,
			"pexos-run: cannot write the JUnit report: %s\n",
			strerror(-r));
	return r;
}

static int run_one(const struct cli *c, pexos_context *ctx, const char *path,
		   FILE *junit)
{
	char *resp = NULL;
	pexos_outcome oc = {0};
	double start = batch_clock();
	int code;

	make_response(c, ctx, path, &resp, &oc);
	if (!resp) {
		fprintf(stderr, "pexos-run: out of memory\n");
		return EXIT_PEXOS;
	}
	code = print_response(c, resp, &oc);
	if (junit &&
	    write_junit_one(junit, path, batch_clock() - start, resp, &oc) < 0)
		code = EXIT_PEXOS;
	pexos_free(resp);
	return code;
}

static int print_check(const pexos_options *opts)
{
	char *report = NULL;
	pexos_error err = {0};
	json_t *root, *f;
	size_t i;
	int r = pexos_check(opts, &report, &err);

	if (r < 0) {
		fprintf(stderr, "pexos-run: check failed: %s\n", err.message);
		return EXIT_PEXOS;
	}
	root = json_loads(report, 0, NULL);
	json_array_foreach(json_object_get(root, "features"), i, f)
	{
		bool ok = json_is_true(json_object_get(f, "ok"));
		bool req = json_is_true(json_object_get(f, "required"));
		printf("%-8s %-18s %s\n", ok ? "ok" : req ? "MISSING" : "absent",
		       json_string_value(json_object_get(f, "name")),
		       json_string_value(json_object_get(f, "detail")));
	}
	f = json_object_get(root, "file_limits");
	printf("limits: %s\nfiles: %" JSON_INTEGER_FORMAT
	       " input files, %" JSON_INTEGER_FORMAT " bytes in all; output "
	       "files %" JSON_INTEGER_FORMAT " bytes each, %" JSON_INTEGER_FORMAT
	       " in all; %" JSON_INTEGER_FORMAT " figures, %" JSON_INTEGER_FORMAT
	       " bytes each\n%s\n",
	       json_string_value(json_object_get(root, "limits")),
	       json_integer_value(json_object_get(f, "in_files")),
	       json_integer_value(json_object_get(f, "in_files_max")),
	       json_integer_value(json_object_get(f, "out_file_max")),
	       json_integer_value(json_object_get(f, "out_files_max")),
	       json_integer_value(json_object_get(f, "figures")),
	       json_integer_value(json_object_get(f, "figure_max")),
	       r == 1 ? "pexos can run scripts on this host"
		      : "pexos refuses to run scripts on this host");
	json_decref(root);
	pexos_free(report);
	return r == 1 ? 0 : EXIT_PEXOS;
}

static int set_option(pexos_options *o, const char *name, const char *value)
{
	pexos_error err = {0};

	if (pexos_options_set(o, name, value, &err) < 0) {
		fprintf(stderr, "pexos-run: %s\n", err.message);
		return -1;
	}
	return 0;
}

enum {
	OPT_JSON = 256,
	OPT_STDIN,
	OPT_TIMEOUT,
	OPT_MEMORY,
	OPT_STATS,
	OPT_PYTHON,
	OPT_CHECK,
	OPT_JUNIT,
	OPT_LIMITS,
	OPT_CPU,
	OPT_POOL,
	OPT_PRELOAD,
	OPT_LEAN_POOL,
	OPT_POOL_WAIT,
	OPT_UID_BASE,
	OPT_FILE,
	OPT_OUTPUT,
	OPT_SAVE_TO,
	OPT_MCP,
};

static int parse_jobs(const char *s, unsigned *ret_jobs)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 ||
	    v > JOBS_MAX) {
		fprintf(stderr,
			"pexos-run: --jobs must be a whole number between 1 "
			"and %d, got '%s'\n",
			JOBS_MAX, s);
		return -1;
	}
	*ret_jobs = (unsigned)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct cli *c)
{
	static const struct option longopts[] = {
		{"result", no_argument, NULL, 'r'},
		{"json", required_argument, NULL, OPT_JSON},
		{"stdin", required_argument, NULL, OPT_STDIN},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"memory", required_argument, NULL, OPT_MEMORY},
		{"stats", no_argument, NULL, OPT_STATS},
		{"python", required_argument, NULL, OPT_PYTHON},
		{"check", no_argument, NULL, OPT_CHECK},
		{"jobs", required_argument, NULL, 'j'},
		{"junit", required_argument, NULL, OPT_JUNIT},
		{"limits", required_argument, NULL, OPT_LIMITS},
		{"cpu", required_argument, NULL, OPT_CPU},
		{"pool", required_argument, NULL, OPT_POOL},
		{"preload", required_argument, NULL, OPT_PRELOAD},
		{"lean-pool", required_argument, NULL, OPT_LEAN_POOL},
		{"pool-wait", required_argument, NULL, OPT_POOL_WAIT},
		{"uid-base", required_argument, NULL, OPT_UID_BASE},
		{"file", required_argument, NULL, OPT_FILE},
		{"output", required_argument, NULL, OPT_OUTPUT},
		{"save-to", required_argument, NULL, OPT_SAVE_TO},
		{"mcp", no_argument, NULL, OPT_MCP},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{0},
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "rj:hV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			c->result_only = true;
			break;
		case OPT_JSON:
			c->json_file = optarg;
			break;
		case OPT_STDIN:
			c->stdin_file = optarg;
			break;
		case OPT_TIMEOUT:
			/* the library makes the CPU limit follow, unless --cpu */
			if (set_option(c->opts, "timeout", optarg) < 0)
				return -1;
			break;
		case OPT_MEMORY:
			if (set_option(c->opts, "memory_mb", optarg) < 0)
				return -1;
			break;
		case OPT_STATS:
			c->stats = true;
			break;
		case OPT_PYTHON:
			if (set_option(c->opts, "python", optarg) < 0)
				return -1;
			break;
		case OPT_CHECK:
			c->check = true;
			break;
		case 'j':
			if (parse_jobs(optarg, &c->jobs) < 0)
				return -1;
			break;
		case OPT_JUNIT:
			c->junit_file = optarg;
			break;
		case OPT_LIMITS:
			if (set_option(c->opts, "limits", optarg) < 0)
				return -1;
			break;
		case OPT_CPU:
			if (set_option(c->opts, "cpu", optarg) < 0)
				return -1;
			break;
		case OPT_POOL:
			if (set_option(c->opts, "pool", optarg) < 0)
				return -1;
			break;
		case OPT_PRELOAD:
			if (set_option(c->opts, "preload", optarg) < 0)
				return -1;
			break;
		case OPT_LEAN_POOL:
			if (set_option(c->opts, "lean_pool", optarg) < 0)
				return -1;
			break;
		case OPT_POOL_WAIT:
			if (set_option(c->opts, "pool_wait", optarg) < 0)
				return -1;
			break;
		case OPT_UID_BASE:
			if (set_option(c->opts, "uid_base", optarg) < 0)
				return -1;
			break;
		case OPT_FILE:
			if (cli_files_push(&c->files.files, &c->files.n_files,
					   optarg) < 0)
				return -1;
			break;
		case OPT_OUTPUT:
			if (cli_files_push(&c->files.outputs,
					   &c->files.n_outputs, optarg) < 0)
				return -1;
			break;
		case OPT_SAVE_TO:
			if (!*optarg) {
				fprintf(stderr, "pexos-run: --save-to needs a "
						"directory\n");
				return -1;
			}
			c->files.save_to = optarg;
			break;
		case OPT_MCP:
			c->mcp = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("pexos-run %s\n", pexos_version());
			exit(0);
		default:
			return -1;
		}
	}
	return 0;
}

/* A batch: every script gets its own response, so -r (the result alone)
 * cannot say which is which; standard input can be read only once. */
static int check_batch(const struct cli *c, char **files, int nargs)
{
	int stdin_uses = c->stdin_file && strcmp(c->stdin_file, "-") == 0;

	if (c->result_only) {
		fprintf(stderr, "pexos-run: -r needs a single script\n");
		return -1;
	}
	for (int i = 0; i < nargs; i++)
		stdin_uses += strcmp(files[i], "-") == 0;
	if (stdin_uses > 1) {
		fprintf(stderr, "pexos-run: standard input ('-') can be read "
				"only once\n");
		return -1;
	}
	return 0;
}

static int check_operands(const struct cli *c, char **files, int nargs)
{
	if (c->mcp) {
		/* the requests come from the client; only limits apply */
		if (nargs == 0 && !c->json_file && !c->stdin_file &&
		    !c->junit_file && !c->check && !c->result_only &&
		    !c->stats)
			return 0;
		fprintf(stderr, "pexos-run: --mcp takes no scripts and no "
				"-r, --json, --stdin, --stats, --junit or "
				"--check\n");
		return -1;
	}
	if (c->junit_file && (c->check || c->json_file)) {
		fprintf(stderr, "pexos-run: --junit needs script files\n");
		return -1;
	}
	if (c->check && nargs == 0 && !c->json_file)
		return 0;
	if (c->json_file && nargs == 0)
		return 0;
	if (!c->check && !c->json_file && nargs == 1)
		return 0;
	if (!c->check && !c->json_file && nargs > 1)
		return check_batch(c, files, nargs);
	if (c->json_file && nargs > 1)
		fprintf(stderr, "pexos-run: --json reads one request; give "
				"script files without --json to run a batch\n");
	else
		fprintf(stderr, "pexos-run: give one script, --json or --check\n");
	return -1;
}

/* What the batch's threads share: the context, or why there is none (then
 * every script gets that SandboxError, as a single run would). */
struct batch_ctx {
	const struct cli *c;
	pexos_context *ctx;
	pexos_error ctx_err;
};

static void batch_run_one(void *userdata, const char *file, char **ret_resp,
			  pexos_outcome *ret_oc)
{
	const struct batch_ctx *b = userdata;

	if (!b->ctx) {
		*ret_resp = pexos_error_response(&b->ctx_err);
		pexos_error_outcome(&b->ctx_err, ret_oc);
		return;
	}
	make_response(b->c, b->ctx, file, ret_resp, ret_oc);
}

static unsigned batch_jobs(const struct cli *c)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (c->jobs)
		return c->jobs;
	if (cpus > JOBS_MAX)
		return JOBS_MAX;
	return cpus < 1 ? 1 : (unsigned)cpus;
}

static int run_batch(struct cli *c, pexos_context *ctx,
		     const pexos_error *ctx_err, char **files, int nfiles,
		     FILE *junit)
{
	struct batch_ctx b = {.c = c, .ctx = ctx, .ctx_err = *ctx_err};
	unsigned jobs = batch_jobs(c);
	int code;
	/* Once for all: a second read of a pipe would find it empty. */
	if (c->stdin_file) {
		c->stdin_data = read_file(c->stdin_file, &c->stdin_len);
		c->stdin_preloaded = true;
	}
	code = batch_main((const char *const *)files, (size_t)nfiles, jobs,
			  junit, batch_run_one, &b);
	free(c->stdin_data);
	c->stdin_data = NULL;
	return code;
}

/* Tells the library how many runs there will be, and how many at once, for
 * the pool it sizes: a batch gets warm sandboxes, one script none. */
static int set_concurrency(const struct cli *c, int nargs)
{
	char v[32];

	snprintf(v, sizeof(v), "%u", batch_jobs(c));
	if (set_option(c->opts, "concurrency", v) < 0)
		return -1;
	/* --mcp: a server, the number of runs is not known (0) */
	snprintf(v, sizeof(v), "%d", c->mcp ? 0 : nargs > 1 ? nargs : 1);
	return set_option(c->opts, "runs", v);
}

/* A single run without a context: the SandboxError response on stdout
 * (--check: the message on stderr). */
static int context_failed(const struct cli *c, const pexos_error *err,
			  const char *path, FILE *junit)
{
	char *resp = pexos_error_response(err);
	pexos_outcome oc;

	pexos_error_outcome(err, &oc);
	if (c->check || !resp)
		fprintf(stderr, "pexos-run: %s\n", err->message);
	else
		puts(resp);
	if (junit && resp)
		write_junit_one(junit, path, 0, resp, &oc);
	pexos_free(resp);
	return EXIT_PEXOS;
}

int main(int argc, char **argv)
{
	struct cli c = {0};
	pexos_context *ctx = NULL;
	pexos_error err = {0};
	FILE *junit = NULL;
	const char *path;
	int code, nargs;

	c.opts = pexos_options_new();
	/* The library sizes the pool unless --pool does (before it: the
	 * command line wins). */
	if (!c.opts || set_option(c.opts, "pool", "auto") < 0) {
		fprintf(stderr, "pexos-run: out of memory\n");
		pexos_options_free(c.opts);
		return EXIT_PEXOS;
	}
	if (parse_args(argc, argv, &c) < 0 ||
	    check_operands(&c, argv + optind, argc - optind) < 0) {
		usage(stderr);
		pexos_options_free(c.opts);
		return EXIT_USAGE;
	}
	nargs = argc - optind;
	c.batch = nargs > 1;
	path = c.json_file || nargs == 0 ? NULL : argv[optind];
	if (set_concurrency(&c, nargs) < 0) {
		pexos_options_free(c.opts);
		return EXIT_PEXOS;
	}
	/* Opened first, so that a bad path fails before anything runs. */
	if (c.junit_file && !(junit = fopen(c.junit_file, "we"))) {
		fprintf(stderr, "pexos-run: cannot write '%s': %s\n",
			c.junit_file, strerror(errno));
		pexos_options_free(c.opts);
		return EXIT_USAGE;
	}
	if (c.check) {
		code = print_check(c.opts);
		pexos_options_free(c.opts);
		return code;
	}
	if (pexos_context_new(c.opts, &ctx, &err) < 0)
		ctx = NULL;
	if (c.mcp)
		code = mcp_stdio_main(ctx, &err, batch_jobs(&c));
	else if (nargs > 1)
		code = run_batch(&c, ctx, &err, argv + optind, nargs, junit);
	else if (!ctx)
		code = context_failed(&c, &err, path, junit);
	else
		code = run_one(&c, ctx, path, junit);
	if (junit && fclose(junit) != 0) {
		fprintf(stderr, "pexos-run: cannot write '%s': %s\n",
			c.junit_file, strerror(errno));
		code = EXIT_PEXOS;
	}
	pexos_context_free(ctx);
	pexos_options_free(c.opts);
	free(c.files.files);
	free(c.files.outputs);
	return code;
}
