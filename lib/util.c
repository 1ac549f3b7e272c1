/* SPDX-License-Identifier: MIT */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int parse_seconds_ms(const char *s, uint64_t min_ms, uint64_t max_ms,
		     uint64_t *ret_ms)
{
	char *end = NULL;
	double v;

	if (!s || !(isdigit((unsigned char)*s) || *s == '.'))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -EINVAL;
	v = ceil(v * 1000.0);
	if (v < (double)min_ms || v > (double)max_ms)
		return -ERANGE;
	*ret_ms = (uint64_t)v;
	return 0;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t read_all(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

ssize_t read_text_fd(int fd, char *buf, size_t size)
{
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read_all(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return n;
	buf[n] = '\0';
	return n;
}

ssize_t read_text(const char *path, char *buf, size_t size)
{
	return read_text_fd(open(path, O_RDONLY | O_CLOEXEC), buf, size);
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0 if invalid; then
 * *skip is the length of the maximal invalid subpart, which becomes one
 * U+FFFD (what Python's "replace" error handler and the Unicode standard's
 * recommended practice do). */
static size_t utf8_seq(const unsigned char *s, size_t len, size_t *skip)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t n;

	*skip = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*skip = i;
			return 0;
		}
		lo = 0x80, hi = 0xbf;
	}
	return n;
}

bool utf8_valid(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0, skip;

	while (i < len) {
		size_t n = utf8_seq(s + i, len - i, &skip);
		if (!n)
			return false;
		i += n;
	}
	return true;
}

char *utf8_sanitize(const char *buf, size_t len, size_t *ret_len)
{
	const unsigned char *s = (const unsigned char *)buf;
	/* Worst case: every byte becomes the 3-byte U+FFFD. */
	char *out = malloc(len * 3 + 1);
	size_t i = 0, o = 0;

	if (!out)
		return NULL;
	while (i < len) {
		size_t skip, n = utf8_seq(s + i, len - i, &skip);
		if (n) {
			memcpy(out + o, s + i, n);
			o += n;
			i += n;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i += skip;
		}
	}
	out[o] = '\0';
	*ret_len = o;
	return out;
}

int str_concat(char *dst, size_t size, const char *a, const char *b,
	       const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);

	if (la + lb + lc >= size)
		return -ENAMETOOLONG;
	memcpy(dst, a, la);
	memcpy(dst + la, b, lb);
	memcpy(dst + la + lb, c, lc + 1);
	return 0;
}

int exec_memfd(const char *name, const void *data, size_t len)
{
	unsigned flags = MFD_CLOEXEC | MFD_ALLOW_SEALING;
	int fd, r;

#ifdef MFD_EXEC
	fd = memfd_create(name, flags | MFD_EXEC);
	if (fd < 0 && errno == EINVAL) /* kernels before 6.3 */
#endif
		fd = memfd_create(name, flags);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0 && fcntl(fd, F_ADD_SEALS,
			    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW |
				    F_SEAL_WRITE) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}
