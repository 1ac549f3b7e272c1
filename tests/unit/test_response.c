/* SPDX-License-Identifier: MIT */
/* Output capping, UTF-8 repair and response building (SPEC §3). */
#include <errno.h>
#include <string.h>

#include "response.h"
#include "tap.h"
#include "util.h"

static void capping(void)
{
	struct capture c = {.max = 10};
	char big[64];

	memset(big, 'a', sizeof(big));
	tap_ok(capture_append(&c, "12345", 5) == 0 && c.len == 5 &&
		       !c.truncated,
	       "below the cap everything is kept");
	tap_ok(capture_append(&c, big, 7) == 0 && c.len == 10 && c.truncated,
	       "at the cap the rest is dropped and flagged");
	tap_ok(capture_append(&c, big, 64) == 0 && c.len == 10,
	       "after the cap nothing more is kept");
	tap_ok(memcmp(c.data, "12345aaaaa", 10) == 0, "kept bytes are exact");
	capture_done(&c);
	c = (struct capture){.max = 0};
	tap_ok(capture_append(&c, "x", 1) == 0 && c.len == 0 && c.truncated,
	       "a zero cap keeps nothing and flags it");
	capture_done(&c);
}

static void utf8(void)
{
	size_t n;
	char *s = utf8_sanitize("a\xff" "b\xe2\x82", 5, &n);

	tap_ok(s && n == 8 && memcmp(s, "a\xef\xbf\xbd" "b\xef\xbf\xbd", 8) == 0,
	       "invalid bytes become U+FFFD");
	free(s);
	s = utf8_sanitize("\xe2\x82\xac\0z", 5, &n);
	tap_ok(s && n == 5 && memcmp(s, "\xe2\x82\xac\0z", 5) == 0,
	       "valid UTF-8 and NUL bytes are kept");
	free(s);
	tap_ok(!utf8_valid("\xed\xa0\x80", 3), "surrogates are not UTF-8");
	tap_ok(!utf8_valid("\xc0\xaf", 2), "overlong forms are not UTF-8");
}

static void build(const struct verdict *v, const struct capture *out,
		  const struct capture *err, const struct run_stats *st,
		  const char *want, int status, int code, const char *what)
{
	char *s = NULL;
	pexos_outcome oc;
	int r = response_build(v, out, err, st, &s, &oc);

	if (!tap_ok(r == 0 && strcmp(s, want) == 0 && oc.http_status == status &&
			    oc.exit_code == code,
		    "%s", what))
		printf("# got %s (status %d, exit %d)\n# want %s\n",
		       s ? s : "(null)", oc.http_status, oc.exit_code, want);
	free(s);
}

static void responses(void)
{
	struct capture out = {.data = "hi\n\n", .len = 4, .max = 10};
	struct capture err = {.data = "e\xff", .len = 2, .max = 2,
			      .truncated = true};
	struct capture none = {.max = 10};
	struct run_stats st = {.wall_ms = 5, .cpu_ms = 3, .max_rss_kb = 100};
	struct verdict ok = {.result = "0.1", .result_len = 3, .ran = true};
	struct verdict big = {.result = "123456789012345678901234567890",
			      .result_len = 30, .ran = true};
	struct verdict fail = {.type = "ScriptError", .error = "E: x",
			       .traceback = "tb\n", .ran = true};
	struct verdict syn = {.type = "SyntaxError", .error = "bad"};
	struct verdict inv = {.type = "InvalidRequest", .error = "too big",
			      .http_status = 413};

	build(&ok, &out, &none, NULL, "{\"result\":0.1,\"stdout\":\"hi\\n\\n\"}",
	      200, 0, "success: result spliced verbatim, stdout not stripped");
	build(&big, &none, &none, NULL,
	      "{\"result\":123456789012345678901234567890,\"stdout\":\"\"}", 200,
	      0, "big integers stay exact");
	build(&ok, &out, &err, &st,
	      "{\"result\":0.1,\"stdout\":\"hi\\n\\n\",\"stderr\":"
	      "\"e\xef\xbf\xbd\",\"stderr_truncated\":true,\"stats\":"
	      "{\"wall_ms\":5,\"cpu_ms\":3,\"max_rss_kb\":100,\"pooled\":false}}",
	      200, 0, "stderr, truncation flag and stats only when they say something");
	build(&fail, &out, &none, NULL,
	      "{\"error\":\"E: x\",\"type\":\"ScriptError\",\"traceback\":"
	      "\"tb\\n\",\"stdout\":\"hi\\n\\n\"}",
	      422, 1, "failure with traceback and stdout");
	build(&syn, &out, &none, NULL,
	      "{\"error\":\"bad\",\"type\":\"SyntaxError\"}", 400, 1,
	      "a script that never ran has no stdout");
	build(&inv, NULL, NULL, NULL,
	      "{\"error\":\"too big\",\"type\":\"InvalidRequest\"}", 413, 2,
	      "InvalidRequest keeps its HTTP status, exit code 2");
	tap_ok(response_http_status("Busy") == 503 &&
		       response_exit_code("SandboxError") == 3 &&
		       response_http_status("MemoryLimit") == 422 &&
		       response_http_status("MissingMain") == 400,
	       "status and exit-code table");
}

/* pexos_response_result on `resp`: expects `want` (NULL: the error code
 * `code`). */
static void result_of(const char *resp, const char *want, int code,
		      const char *what)
{
	pexos_error err = {0};
	char *got = NULL;
	int r = pexos_response_result(resp, &got, &err);

	if (!tap_ok(want ? r == 0 && got && strcmp(got, want) == 0
			 : r == code && !got && err.code == -code,
		    "%s", what))
		printf("# got %d %s (%s)\n", r, got ? got : "(null)",
		       err.message);
	pexos_free(got);
}

static void results(void)
{
	result_of("{\"result\":0.1,\"stdout\":\"\"}", "0.1", 0,
		  "result: a number keeps its spelling");
	result_of("{\"result\":123456789012345678901234567890,\"stdout\":\"\"}",
		  "123456789012345678901234567890", 0,
		  "result: a big integer keeps its digits");
	result_of("{\"result\":{\"a\":[1,\"x,}]\\\"\",{}],\"b\":null},"
		  "\"stdout\":\"}\"}",
		  "{\"a\":[1,\"x,}]\\\"\",{}],\"b\":null}", 0,
		  "result: nested, with delimiters and escapes in strings");
	result_of("{\"stdout\":\"result\",\"x\":{\"result\":1},"
		  "\"result\":\"last\"}",
		  "\"last\"", 0,
		  "result: found after other members, not inside them");
	result_of("{ \"res\\u0075lt\" : [ 1 , 2 ] }", "[ 1 , 2 ]", 0,
		  "result: an escaped key, whitespace around the value");
	result_of("{\"result\":null,\"stdout\":\"\"}", "null", 0,
		  "result: null is a result");
	result_of("{\"error\":\"E\",\"type\":\"ScriptError\",\"stdout\":\"\"}",
		  NULL, -ENOENT, "a failure response has no result: -ENOENT");
	result_of("{\"result\":1", NULL, -EINVAL, "not JSON: -EINVAL");
	result_of("[{\"result\":1}]", NULL, -EINVAL,
		  "not an object: -EINVAL");
	result_of("{\"result\":1,\"result\":2}", NULL, -EINVAL,
		  "a duplicate key: -EINVAL");
}

static void sandbox_error(void)
{
	pexos_error err = {.code = EPERM, .step = "uid_map",
			   .message = "write /proc/1/uid_map: \"denied\""};
	pexos_outcome oc = {.type = "x"};
	char *s = pexos_error_response(&err);

	if (!tap_ok(s && strcmp(s, "{\"error\":\"pexos could not run the script "
			      "(uid_map): write /proc/1/uid_map: "
			      "\\\"denied\\\"\",\"type\":\"SandboxError\"}") ==
			    0,
	       "SandboxError: error and type only (SPEC 3), step and message"))
		printf("# got %s\n", s ? s : "(null)");
	pexos_free(s);
	pexos_error_outcome(&err, &oc);
	tap_ok(strcmp(oc.type, "SandboxError") == 0 && oc.http_status == 500 &&
		       oc.exit_code == 3,
	       "its outcome: SandboxError, HTTP 500, exit 3");
	pexos_error_outcome(NULL, NULL);
	s = pexos_error_response(NULL);
	tap_ok(s && strstr(s, "\"type\":\"SandboxError\""),
	       "NULL error: still a SandboxError response");
	pexos_free(s);
}

int main(void)
{
	capping();
	utf8();
	responses();
	results();
	sandbox_error();
	return tap_done();
}
