/* SPDX-License-Identifier: MIT */
/* Text-level JSON helpers. The response embeds the script's result verbatim
 * (0.1 stays 0.1, big integers stay exact); a parse-and-dump round trip
 * through jansson would change both, so the CLI works on the text. */
#include "jsontext.h"

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

size_t jt_skip_value(const char *s, size_t len, size_t i)
{
	int depth = 0;

	i = skip_ws(s, len, i);
	do {
		if (i >= len)
			return len;
		switch (s[i]) {
		case '"':
			i = skip_string(s, len, i);
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			depth--;
			break;
		default:
			/* a scalar at depth 0 ends at a delimiter */
			if (depth == 0) {
				while (i < len && s[i] != ',' && s[i] != '}' &&
				       s[i] != ']' && s[i] != ' ' &&
				       s[i] != '\n')
					i++;
				return i;
			}
			break;
		}
		i++;
	} while (depth > 0);
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
