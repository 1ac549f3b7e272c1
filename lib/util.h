/* SPDX-License-Identifier: MIT */
/* util.h - cleanup attributes, ownership hand-over, checked parsing. */
#ifndef PEXOS_UTIL_H
#define PEXOS_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p) { free(*(void **)p); }
static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void pexos_json_decrefp(json_t **j) { json_decref(*j); }

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_json_ _cleanup_(pexos_json_decrefp)

/* Hand an owned pointer or fd over, leaving the cleanup variable empty. */
#define TAKE_PTR(p)                                                            \
	({                                                                     \
		__typeof__(p) _p = (p);                                        \
		(p) = NULL;                                                    \
		_p;                                                            \
	})
#define TAKE_FD(fd)                                                            \
	({                                                                     \
		int _fd = (fd);                                                \
		(fd) = -1;                                                     \
		_fd;                                                           \
	})

/* dst = a b c (any may be ""), or -ENAMETOOLONG if it does not fit. */
int str_concat(char *dst, size_t size, const char *a, const char *b,
	       const char *c);

/* Checked number parsing: the whole string must be a number in range. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret);
int parse_seconds_ms(const char *s, uint64_t min_ms, uint64_t max_ms,
		     uint64_t *ret_ms);

/* Writes/reads all of a buffer, retrying on EINTR and short counts. */
int write_all(int fd, const void *buf, size_t len);

/* A sealed, executable memory file (close-on-exec) holding `len` bytes:
 * exec'd or loaded from any mount namespace, never changed. Returns the
 * fd or -errno. */
int exec_memfd(const char *name, const void *data, size_t len);
ssize_t read_all(int fd, void *buf, size_t len);
/* Reads a small file (at most size - 1 bytes) into buf as a string;
 * returns its length or -errno. */
ssize_t read_text(const char *path, char *buf, size_t size);
/* The same from `fd`, an open() just made (-1: its errno is returned),
 * which it closes. */
ssize_t read_text_fd(int fd, char *buf, size_t size);

/* Replaces invalid UTF-8 in buf[0..len) by U+FFFD. Returns a new string
 * (length in *ret_len) or NULL when out of memory. */
char *utf8_sanitize(const char *buf, size_t len, size_t *ret_len);

/* True if buf[0..len) is valid UTF-8 (no surrogates, no overlongs). */
bool utf8_valid(const char *buf, size_t len);

#endif
