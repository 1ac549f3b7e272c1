/* SPDX-License-Identifier: MIT */
/* junit.c - a JUnit XML report of a pexos-run batch.
 *
 * The shape CI systems (Jenkins, GitLab, GitHub actions) read: one
 * <testsuite> whose counts come first, one <testcase> per script with a
 * <failure> or <error> and the captured <system-out> / <system-err>.
 * Everything is escaped as character data (no CDATA, so "]]>" in a script's
 * output needs nothing special), and what XML 1.0 cannot carry at all
 * (control characters other than tab, newline and carriage return, U+FFFE,
 * U+FFFF) is dropped: a report that a parser rejects helps nobody. */
#include "junit.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"

struct junit {
	FILE *out;  /* borrowed */
	FILE *body; /* the <testcase> elements, owned */
	unsigned tests, failures, errors;
};

struct junit *junit_new(FILE *out)
{
	struct junit *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->out = out;
	j->body = tmpfile();
	if (!j->body) {
		free(j);
		return NULL;
	}
	return j;
}

void junit_free(struct junit *j)
{
	if (!j)
		return;
	fclose(j->body);
	free(j);
}

static bool xml_char(uint32_t cp)
{
	return cp == '\t' || cp == '\n' || cp == '\r' ||
	       (cp >= 0x20 && cp != 0xfffe && cp != 0xffff);
}

/* The reference that stands for cp, or NULL when cp goes in as it is.
 * Carriage return is always a reference (parsers turn a literal one into a
 * newline); tab and newline are in attributes, where a literal one would be
 * normalised into a space. */
static const char *xml_reference(uint32_t cp, bool attr)
{
	switch (cp) {
	case '&':
		return "&amp;";
	case '<':
		return "&lt;";
	case '>':
		return "&gt;";
	case '"':
		return "&quot;";
	case '\r':
		return "&#13;";
	case '\t':
		return attr ? "&#9;" : NULL;
	case '\n':
		return attr ? "&#10;" : NULL;
	default:
		return NULL;
	}
}

/* Writes s as XML character data or attribute text. Bytes that are not
 * well-formed UTF-8 become U+FFFD; characters XML 1.0 cannot carry are
 * dropped. */
static void xml_escape(FILE *f, const char *s, size_t len, bool attr)
{
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = jt_utf8_char(s + i, len - i, &cp);
		const char *ref;

		if (n == 0) {
			fputs("\xef\xbf\xbd", f);
			i++;
			continue;
		}
		ref = xml_reference(cp, attr);
		if (ref)
			fputs(ref, f);
		else if (xml_char(cp))
			fwrite(s + i, 1, n, f);
		i += n;
	}
}

static void xml_escape_str(FILE *f, const char *s, bool attr)
{
	xml_escape(f, s, strlen(s), attr);
}

/* The response as jansson reads it, for its string members. Integers are
 * read as reals: a result's integer beyond 64 bits would otherwise fail the
 * whole parse, and the report does not show the result. NULL when out of
 * memory. Returns a new reference. */
static json_t *parse_response(const char *resp)
{
	return json_loads(resp, JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL);
}

/* The string member `key` of the response, or NULL when absent, empty or not
 * a string. Returns a borrowed reference. */
static json_t *member_string(json_t *resp, const char *key)
{
	json_t *v = json_object_get(resp, key);

	return json_is_string(v) && json_string_length(v) > 0 ? v : NULL;
}

static void write_string_element(FILE *f, const char *element, json_t *s)
{
	if (!s)
		return;
	fprintf(f, "      <%s>", element);
	xml_escape(f, json_string_value(s), json_string_length(s), false);
	fprintf(f, "</%s>\n", element);
}

/* <system-out>: the captured stdout, then one line per output file the
 * run sent back ("output file: PATH", with where --save-to put it). */
static void write_system_out(FILE *f, json_t *resp, json_t *out)
{
	json_t *files = json_object_get(resp, "files"), *e;
	size_t i;

	if (!out && json_array_size(files) == 0)
		return;
	fputs("      <system-out>", f);
	if (out)
		xml_escape(f, json_string_value(out), json_string_length(out),
			   false);
	json_array_foreach(files, i, e)
	{
		json_t *p = member_string(e, "path");
		json_t *saved = member_string(e, "saved_to");

		if (!p)
			continue;
		fputs(i == 0 && out && json_string_length(out) &&
			      json_string_value(
				  out)[json_string_length(out) - 1] != '\n'
			  ? "\noutput file: "
			  : "output file: ",
		      f);
		xml_escape(f, json_string_value(p), json_string_length(p),
			   false);
		if (saved) {
			fputs(" (saved to ", f);
			xml_escape(f, json_string_value(saved),
				   json_string_length(saved), false);
			fputc(')', f);
		}
		fputc('\n', f);
	}
	fputs("</system-out>\n", f);
}

/* <failure> or <error>: the message in the attribute, the message and the
 * traceback as text. */
static void write_verdict(FILE *f, json_t *resp, const pexos_outcome *oc)
{
	const char *element = oc->exit_code == 1 ? "failure" : "error";
	json_t *error = member_string(resp, "error");
	json_t *tb = member_string(resp, "traceback");
	const char *msg = error ? json_string_value(error) : oc->type;
	size_t msg_len = error ? json_string_length(error) : strlen(oc->type);

	fprintf(f, "      <%s type=\"", element);
	xml_escape_str(f, oc->type, true);
	fputs("\" message=\"", f);
	xml_escape(f, msg, msg_len, true);
	fputs("\">", f);
	xml_escape(f, msg, msg_len, false);
	if (tb) {
		fputs("\n\n", f);
		xml_escape(f, json_string_value(tb), json_string_length(tb),
			   false);
	}
	fprintf(f, "</%s>\n", element);
}

int junit_add(struct junit *j, const char *name, double seconds,
	      const char *response, const pexos_outcome *oc)
{
	FILE *f = j->body;
	json_t *resp = parse_response(response);
	json_t *out = member_string(resp, "stdout");
	json_t *err = member_string(resp, "stderr");
	bool failed = oc->type[0] != '\0';

	j->tests++;
	if (failed && oc->exit_code == 1)
		j->failures++;
	else if (failed)
		j->errors++;
	fputs("    <testcase name=\"", f);
	xml_escape_str(f, name, true);
	fprintf(f, "\" classname=\"pexos-run\" time=\"%.3f\"", seconds);
	if (!failed && !out && !err && !json_object_get(resp, "files")) {
		fputs("/>\n", f);
	} else {
		fputs(">\n", f);
		if (failed)
			write_verdict(f, resp, oc);
		write_system_out(f, resp, out);
		write_string_element(f, "system-err", err);
		fputs("    </testcase>\n", f);
	}
	json_decref(resp);
	return ferror(f) ? -EIO : 0;
}

int junit_finish(struct junit *j, double seconds)
{
	char buf[65536];
	size_t n;

	fprintf(j->out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<testsuites tests=\"%u\" failures=\"%u\" errors=\"%u\" "
		"time=\"%.3f\">\n"
		"  <testsuite name=\"pexos-run\" tests=\"%u\" failures=\"%u\" "
		"errors=\"%u\" skipped=\"0\" time=\"%.3f\">\n",
		j->tests, j->failures, j->errors, seconds, j->tests,
		j->failures, j->errors, seconds);
	if (fflush(j->body) != 0 || fseek(j->body, 0, SEEK_SET) != 0)
		return -errno;
	while ((n = fread(buf, 1, sizeof(buf), j->body)) > 0)
		fwrite(buf, 1, n, j->out);
	if (ferror(j->body))
		return -EIO;
	fputs("  </testsuite>\n</testsuites>\n", j->out);
	if (fflush(j->out) != 0 || ferror(j->out))
		return -EIO;
	return 0;
}
