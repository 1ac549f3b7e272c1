/* SPDX-License-Identifier: MIT */
/*
 * framing.c - the message framing rules of RFC 9112 that libmicrohttpd
 * 0.9.75 lets through, checked on the headers before any body is read.
 *
 * Where a front proxy and this daemon could read the end of a body
 * differently, a second request hides in the first one's body (request
 * smuggling). libmicrohttpd takes the first of two Content-Length headers
 * and lets Transfer-Encoding: chunked win over Content-Length without
 * refusing the message, so both are refused here, and the connection is
 * closed after the answer: nothing after the headers is read as another
 * request. What libmicrohttpd refuses itself (a Content-Length that is not
 * a number, a list of them) it answers before this code runs.
 */
#include <microhttpd.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"

struct seen {
	unsigned content_length, transfer_encoding;
	bool chunked_only; /* every Transfer-Encoding is exactly "chunked" */
	bool bad_name, nul;
};

static enum MHD_Result look(void *cls, enum MHD_ValueKind kind,
			    const char *key, size_t key_size,
			    const char *value, size_t value_size)
{
	struct seen *s = cls;

	(void)kind;
	/* RFC 9112 5.1: no whitespace between a field name and its colon */
	if (key_size == 0 || strcspn(key, " \t") != key_size ||
	    strlen(key) != key_size)
		s->bad_name = true;
	/* RFC 9110 5.5: a NUL in a field value is refused */
	if (value && strlen(value) != value_size)
		s->nul = true;
	if (strcasecmp(key, "Content-Length") == 0)
		s->content_length++;
	if (strcasecmp(key, "Transfer-Encoding") == 0) {
		s->transfer_encoding++;
		if (!value || strcasecmp(value, "chunked") != 0)
			s->chunked_only = false;
	}
	return MHD_YES;
}

int framing_check(struct MHD_Connection *c, const char **ret_why)
{
	struct seen s = {.chunked_only = true};

	MHD_get_connection_values_n(c, MHD_HEADER_KIND, look, &s);
	if (s.bad_name || s.nul) {
		*ret_why = s.nul ? "a header value holds a NUL byte"
				 : "whitespace before a header's colon";
		return 400;
	}
	if (s.content_length > 1) {
		*ret_why = "more than one Content-Length header";
		return 400;
	}
	if (s.content_length && s.transfer_encoding) {
		*ret_why = "both Content-Length and Transfer-Encoding";
		return 400;
	}
	if (s.transfer_encoding > 1 || (s.transfer_encoding && !s.chunked_only)) {
		*ret_why = "a Transfer-Encoding other than chunked";
		return 501;
	}
	return 0;
}
