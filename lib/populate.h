/* SPDX-License-Identifier: MIT */
#ifndef PEXOS_POPULATE_H
#define PEXOS_POPULATE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

/* Whether this kernel takes MADV_POPULATE_WRITE from process_madvise(2)
 * for the calling process (PIDFD_SELF): many ranges in one call. Linux 6.18
 * here does; Debian 13's 6.12 does not. Probed on a page of its own. */
bool populate_vectored(void);

/* Makes the n ranges of iov (page-aligned) this process's own, each page
 * written as a copy-on-write fault would (MADV_POPULATE_WRITE): with
 * `vectored` (populate_vectored()), up to 1024 ranges a call; else, or for
 * a range the kernel refused or cut short, one madvise(2) each. A range
 * that cannot be populated (no longer mapped as it was) is left alone, and
 * the others are not. */
void populate_write(const struct iovec *iov, size_t n, bool vectored);

#endif
