/* SPDX-License-Identifier: MIT */
/*
 * embed.c - run a Python script in the pexos sandbox from C.
 *
 *   cc -o embed embed.c $(pkg-config --cflags --libs libpexos)
 *   ./embed script.py   (as root; no argument: a hello world)
 *
 * Prints the response object on standard output and the outcome
 * on standard error, and exits as pexos-run does: 0 the script
 * succeeded, 1 it failed, 2 usage error or invalid request,
 * 3 pexos itself failed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pexos.h>

static const char hello[] =
    "def main():\n"
    "    return {\"message\": \"Hello, World!\"}\n";

/* The whole file at `path` in a new buffer (free with free()), its
 * length in *ret_len; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int e;

	if (!f)
		return NULL;
	errno = 0;
	do {
		if (len == cap) {
			size_t bigger = cap ? 2 * cap : 4096;
			char *grown = bigger > cap
					  ? realloc(buf, bigger)
					  : NULL;

			if (!grown) {
				errno = ENOMEM;
				goto fail;
			}
			buf = grown;
			cap = bigger;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f))
		goto fail;
	fclose(f);
	*ret_len = len;
	return buf;
fail:
	e = errno ? errno : EIO;
	free(buf);
	fclose(f);
	errno = e;
	return NULL;
}

/* The request object {"script": "..."} for `script`, with the script
 * as a JSON string; a new buffer (free with free()), its length in
 * *ret_len. Bytes from 0x80 up are copied as they are: the library
 * checks that the script is UTF-8 and answers InvalidRequest if it
 * is not. */
static char *make_request(const char *script, size_t len,
			  size_t *ret_len)
{
	static const char head[] = "{\"script\": \"", tail[] = "\"}";
	char *req, *p;

	if (len > (SIZE_MAX - sizeof(head) - sizeof(tail)) / 6) {
		errno = ENOMEM;
		return NULL;
	}
	req = malloc(sizeof(head) + 6 * len + sizeof(tail));
	if (!req)
		return NULL;
	memcpy(req, head, sizeof(head) - 1);
	p = req + sizeof(head) - 1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)script[i];

		if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
		} else if (c < 0x20) {
			p += sprintf(p, "\\u%04x", c);
		} else {
			*p++ = (char)c;
		}
	}
	memcpy(p, tail, sizeof(tail));
	*ret_len = (size_t)(p - req) + sizeof(tail) - 1;
	return req;
}

/* pexos itself failed: say why on standard error and print the
 * SandboxError response, so that a reader of standard output still
 * gets one response object. Returns exit status 3. */
static int pexos_failed(const char *what, const pexos_error *err)
{
	char *response = pexos_error_response(err);

	fprintf(stderr, "embed: %s (%s): %s\n", what, err->step,
		err->message);
	if (response)
		puts(response);
	pexos_free(response);
	return 3;
}

int main(int argc, char **argv)
{
	pexos_options *opts = NULL;
	pexos_context *ctx = NULL;
	pexos_error err;
	pexos_outcome outcome;
	char *script = NULL, *request = NULL, *response = NULL;
	size_t script_len = strlen(hello), request_len;
	int status = 3;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
		fprintf(stderr, "usage: embed [SCRIPT.py]\n");
		return 2;
	}
	if (argc == 2) {
		script = read_file(argv[1], &script_len);
		if (!script) {
			fprintf(stderr, "embed: %s: %s\n", argv[1],
				strerror(errno));
			return 2;
		}
	}
	request = make_request(script ? script : hello, script_len,
			       &request_len);
	free(script);
	if (!request) {
		perror("embed: request");
		return 3;
	}

	opts = pexos_options_new();
	if (!opts) {
		fprintf(stderr, "embed: out of memory\n");
		goto out;
	}
	/* Server-wide limits; a request may only lower them. */
	if (pexos_options_set(opts, "timeout", "10", &err) < 0 ||
	    pexos_options_set(opts, "memory_mb", "256", &err) < 0) {
		status = pexos_failed("bad option", &err);
		goto out;
	}
	if (pexos_context_new(opts, &ctx, &err) < 0) {
		status = pexos_failed("cannot set up", &err);
		goto out;
	}
	/* A failing script is a response; < 0 is pexos's failure. */
	if (pexos_run_script(ctx, request, request_len, &response,
			     &outcome, &err) < 0) {
		status = pexos_failed("the run failed", &err);
		goto out;
	}
	if (puts(response) == EOF || fflush(stdout) == EOF) {
		perror("embed: standard output");
		goto out;
	}
	fprintf(stderr, "outcome: %s, HTTP %d, exit %d\n",
		outcome.type[0] ? outcome.type : "success",
		outcome.http_status, outcome.exit_code);
	status = outcome.exit_code;
out:
	pexos_free(response);
	pexos_context_free(ctx);
	pexos_options_free(opts);
	free(request);
	return status;
}
