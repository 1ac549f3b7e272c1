/* SPDX-License-Identifier: MIT */
#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void set_step(pexos_error *err, const char *step)
{
	size_t n = strlen(step);
	if (n >= sizeof(err->step))
		n = sizeof(err->step) - 1;
	memcpy(err->step, step, n);
	err->step[n] = '\0';
}

int pexos_fail(pexos_error *err, int code, const char *step, const char *fmt,
	       ...)
{
	if (code < 0)
		code = -code;
	if (err) {
		va_list ap;
		err->code = code;
		set_step(err, step);
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code ? -code : -EIO;
}

int pexos_fail_errno(pexos_error *err, int code, const char *step,
		     const char *fmt, ...)
{
	if (code < 0)
		code = -code;
	if (err) {
		va_list ap;
		size_t n;
		err->code = code;
		set_step(err, step);
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
		n = strlen(err->message);
		snprintf(err->message + n, sizeof(err->message) - n, ": %s",
			 strerror(code));
	}
	return code ? -code : -EIO;
}

/* strerrordesc_np/strerrorname_np read static tables: no locale, no malloc. */
static size_t append(char *dst, size_t pos, size_t cap, const char *s)
{
	while (s && *s && pos + 1 < cap)
		dst[pos++] = *s++;
	dst[pos] = '\0';
	return pos;
}

int pexos_fail_child(pexos_error *err, int code, const char *step,
		      const char *what, const char *arg)
{
	size_t pos = 0;
	const char *desc = code ? strerrordesc_np(code) : NULL;

	err->code = code;
	err->step[0] = '\0';
	append(err->step, 0, sizeof(err->step), step);
	err->message[0] = '\0';
	pos = append(err->message, pos, sizeof(err->message), what);
	if (arg) {
		pos = append(err->message, pos, sizeof(err->message), " '");
		pos = append(err->message, pos, sizeof(err->message), arg);
		pos = append(err->message, pos, sizeof(err->message), "'");
	}
	if (desc) {
		pos = append(err->message, pos, sizeof(err->message), ": ");
		append(err->message, pos, sizeof(err->message), desc);
	}
	return -1;
}
