/* SPDX-License-Identifier: MIT */
/*
 * fdpass.h - messages with descriptors over unix sockets (SCM_RIGHTS), for
 * the pool's talk with its zygote and slots, and the zygote's helper's with
 * the pool (built into it: libc only).
 */
#ifndef PEXOS_FDPASS_H
#define PEXOS_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

/* Descriptors in one message, at most. */
#define FDPASS_MAX 12

/* Sends `len` bytes and up to FDPASS_MAX descriptors (borrowed) in one
 * message.
 * Returns 0 or -errno. */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds,
		size_t nfds);

/* Receives one message without waiting. Returns its length (0 at EOF) or
 * -errno (-EAGAIN: none yet); *nfds descriptors (close-on-exec, owned by
 * the caller) land in fds, any beyond max_fds are closed. */
ssize_t fdpass_recv(int sock, void *buf, size_t cap, int *fds, size_t max_fds,
		    size_t *nfds);

/* Closes the n descriptors that are >= 0 and sets them to -1. */
void close_fds(int *fds, size_t n);

#endif
