/* SPDX-License-Identifier: MIT */
/* The result channel is the script's to write: what the runner says about
 * output files and figures is checked again (attach.c). Crafted headers
 * that lie about paths, sizes, counts, offsets or PNGs are refused whole;
 * honest ones become the response's entries, sorted, with the figures'
 * sizes read from the PNG. */
#include <stdio.h>
#include <string.h>

#include "attach.h"
#include "tap.h"

static struct pexos_options opts = {
    .out_file_max = 8,
    .out_files_max = 12,
    .figures = 2,
    .figure_max = 64,
};

static char *outputs[] = {"*"};
static struct run_plan plan = {
    .outputs = outputs, .n_outputs = 1, .figures = true};

/* A PNG signature and IHDR of w x h, padded to 33 bytes. */
static size_t png(unsigned char *d, unsigned w, unsigned h)
{
	static const unsigned char head[] = {0x89, 'P',	 'N', 'G', '\r', '\n',
					     0x1a, '\n', 0,   0,   0,	 13,
					     'I',  'H',	 'D', 'R'};

	memset(d, 0, 33);
	memcpy(d, head, sizeof(head));
	d[18] = (unsigned char)(w >> 8), d[19] = (unsigned char)w;
	d[22] = (unsigned char)(h >> 8), d[23] = (unsigned char)h;
	return 33;
}

static int take(const char *header, const char *body, size_t len,
		struct attach *a, size_t *rlen)
{
	json_t *h = json_loads(header, JSON_ALLOW_NUL, NULL);
	int r;

	if (!h)
		return -99;
	r = attach_take(&opts, &plan, h, body, len, rlen, a);
	json_decref(h);
	return r;
}

static void refused(const char *header, const char *body, size_t len,
		    const char *what)
{
	struct attach a;
	size_t rlen;
	int r = take(header, body, len, &a, &rlen);

	tap_ok(r == 0 && !a.files && !a.figures, "refused: %s", what);
}

static void honest(void)
{
	struct attach a;
	size_t rlen = 0;
	unsigned char body[64];
	int r;

	memcpy(body, "42abcdefg", 9);
	png(body + 9, 300, 200);
	r = take("{\"ok\":true,\"result_len\":2,\"files\":["
		 "{\"path\":\"z/b\",\"size\":3,\"len\":3},"
		 "{\"path\":\"a\",\"size\":4,\"len\":4},"
		 "{\"path\":\"big\",\"size\":99,\"omitted\":\"too big\"}],"
		 "\"figures\":[33],\"figures_omitted\":4}",
		 (const char *)body, 9 + 33, &a, &rlen);
	tap_ok(r == 1 && rlen == 2, "an honest header is taken");
	if (r != 1)
		return;
	tap_ok(json_array_size(a.files) == 3 &&
		   strcmp(json_string_value(json_object_get(
			      json_array_get(a.files, 0), "path")),
			  "a") == 0 &&
		   strcmp(json_string_value(json_object_get(
			      json_array_get(a.files, 0), "content_base64")),
			  "ZGVmZw==") == 0 &&
		   strcmp(json_string_value(json_object_get(
			      json_array_get(a.files, 2), "content_base64")),
			  "YWJj") == 0,
	       "files sorted by path, each with its own bytes");
	tap_ok(json_integer_value(json_object_get(json_array_get(a.figures, 0),
						  "width")) == 300 &&
		   json_integer_value(json_object_get(
		       json_array_get(a.figures, 0), "height")) == 200 &&
		   a.figures_omitted == 4,
	       "a figure's size comes from its PNG header");
	attach_done(&a);
}

int main(void)
{
	unsigned char p[40];
	char body[128];

	honest();
	png(p, 10, 10);
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"../x\","
		"\"size\":1,\"len\":1}]}",
		"x", 1, "a path with ..");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"/etc/x\","
		"\"size\":1,\"len\":1}]}",
		"x", 1, "an absolute path");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a//b\","
		"\"size\":1,\"len\":1}]}",
		"x", 1, "an empty component");
	refused(
	    "{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\\u0000b\","
	    "\"size\":1,\"len\":1}]}",
	    "x", 1, "a NUL in a path");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\","
		"\"size\":1,\"len\":1},{\"path\":\"a\",\"size\":0,\"len\":0}]}",
		"x", 1, "a path twice");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\","
		"\"size\":2,\"len\":1}]}",
		"x", 1, "len differs from size");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\","
		"\"size\":9,\"len\":9}]}",
		"123456789", 9, "a file over the per-file cap");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\","
		"\"size\":8,\"len\":8},{\"path\":\"b\",\"size\":8,\"len\":8}]}",
		"1234567812345678", 16, "files over the total cap");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\","
		"\"size\":5,\"len\":5}]}",
		"123", 3, "bytes that are not there");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\","
		"\"size\":1,\"len\":1}]}",
		"12", 2, "bytes left over");
	refused("{\"ok\":true,\"result_len\":5}", "12", 2,
		"a result longer than the body");
	refused("{\"ok\":true,\"result_len\":-1}", "12", 2,
		"a negative result length");
	refused("{\"ok\":true,\"files\":[]}", "1", 1,
		"files without result_len");
	refused("{\"ok\":true,\"result_len\":0,\"extra\":1}", "", 0,
		"an unknown member");
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\","
		"\"size\":1,\"len\":1,\"mode\":7}]}",
		"x", 1, "an unknown entry member");
	memcpy(body, "xyz", 3);
	refused("{\"ok\":true,\"result_len\":0,\"figures\":[3]}", body, 3,
		"a figure that is not a PNG");
	memcpy(body, p, 33);
	memcpy(body + 33, p, 33);
	memcpy(body + 66, p, 33);
	refused("{\"ok\":true,\"result_len\":0,\"figures\":[33,33,33]}", body,
		99, "more figures than the cap");
	refused("{\"ok\":true,\"result_len\":0,\"figures\":[99]}", body, 99,
		"a figure over its cap");
	plan.figures = false;
	refused("{\"ok\":true,\"result_len\":0,\"figures\":[33]}", body, 33,
		"figures the request turned off");
	plan.figures = true;
	plan.n_outputs = 0;
	refused("{\"ok\":true,\"result_len\":0,\"files\":[{\"path\":\"a\","
		"\"size\":1,\"len\":1}]}",
		"x", 1, "files no pattern asked for");
	return tap_done();
}
