/* SPDX-License-Identifier: MIT */
/* Text-level JSON helpers. The response embeds the script's result verbatim
 * (0.1 stays 0.1, big integers stay exact); a parse-and-dump round trip
 * through jansson would change both, so the CLI works on the text. */
#include "jsontext.h"

#include <string.h>

static size_t skip_string(const char *s, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (s[i] == '\\')
			i++;
		else if (s[i] == '"')
			return i + 1;
	}
	return len;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
	while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' ||
			   s[i] == '\r'))
		i++;
	return i;
}

static void newline(FILE *out, int depth)
{
	fputc('\n', out);
	for (int d = 0; d < depth; d++)
		fputs("  ", out);
}

void jt_pretty(FILE *out, const char *s, size_t len)
{
	int depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		size_t next;

		switch (c) {
		case '"':
			next = skip_string(s, len, i);
			fwrite(s + i, 1, next - i, out);
			i = next - 1;
			break;
		case '{':
		case '[':
			next = skip_ws(s, len, i + 1);
			if (next < len && (s[next] == '}' || s[next] == ']')) {
				fputc(c, out);
				fputc(s[next], out);
				i = next;
				break;
			}
			fputc(c, out);
			newline(out, ++depth);
			break;
		case '}':
		case ']':
			newline(out, --depth);
			fputc(c, out);
			break;
		case ',':
			fputc(',', out);
			newline(out, depth);
			break;
		case ':':
			fputs(": ", out);
			break;
		case ' ':
		case '\n':
		case '\t':
		case '\r':
			break;
		default:
			fputc(c, out);
			break;
		}
	}
}

size_t jt_utf8_char(const char *s, size_t len, uint32_t *ret_cp)
{
	const unsigned char *u = (const unsigned char *)s;
	uint32_t cp, min;
	size_t n;

	if (u[0] < 0x80) {
		*ret_cp = u[0];
		return 1;
	}
	/* the lead byte gives the length and the smallest value that needs
	 * it (anything below is an overlong form) */
	if (u[0] >= 0xc2 && u[0] <= 0xdf) {
		n = 2;
		cp = u[0] & 0x1f;
		min = 0x80;
	} else if (u[0] >= 0xe0 && u[0] <= 0xef) {
		n = 3;
		cp = u[0] & 0x0f;
		min = 0x800;
	} else if (u[0] >= 0xf0 && u[0] <= 0xf4) {
		n = 4;
		cp = u[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((u[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (u[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*ret_cp = cp;
	return n;
}

void jt_write_string(FILE *out, const char *s, size_t len)
{
	fputc('"', out);
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = jt_utf8_char(s + i, len - i, &cp);

		if (n == 0) {
			fputs("\\ufffd", out);
			i++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(out, "\\%c", (char)cp);
		else if (cp == '\n')
			fputs("\\n", out);
		else if (cp == '\t')
			fputs("\\t", out);
		else if (cp == '\r')
			fputs("\\r", out);
		else if (cp < 0x20)
			fprintf(out, "\\u%04x", (unsigned)cp);
		else
			fwrite(s + i, 1, n, out);
		i += n;
	}
	fputc('"', out);
}
