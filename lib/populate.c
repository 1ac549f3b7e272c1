/* SPDX-License-Identifier: MIT */
/* populate.c - a slot makes the pages a run is likely to write its own
 * before it is ready (zygote/helper.c, slot_own_pages): one system call for
 * many ranges where the kernel allows it. Per range, a madvise(2) call
 * costs about 0.25 us besides its copies here; a lean slot makes about 170
 * ranges its own, a full one 540 (numpy's set) to 1,360 (pandas's). Built
 * into the zygote's helper: no allocation, no state of its own (a slot's
 * write to a static would copy a page every waiting slot shares). */
#include "populate.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
/* The calling thread, instead of a pidfd (PIDFD_SELF_THREAD, linux/fcntl.h
 * of newer kernels; older ones refuse it as a bad descriptor). */
#define SELF_PIDFD (-10000)
/* The most ranges one call takes (UIO_MAXIOV). */
#define VEC_MAX 1024

static ssize_t vector_call(const struct iovec *iov, size_t n)
{
	return syscall(SYS_process_madvise, SELF_PIDFD, iov, n,
		       MADV_POPULATE_WRITE, 0u);
}

bool populate_vectored(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *m = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iovec iov = {.iov_base = m, .iov_len = (size_t)page};
	bool ok;

	if (m == MAP_FAILED)
		return false;
	ok = vector_call(&iov, 1) == (ssize_t)page;
	munmap(m, (size_t)page);
	return ok;
}

static void one(const struct iovec *iov, size_t skip)
{
	if (skip < iov->iov_len)
		(void)madvise((char *)iov->iov_base + skip, iov->iov_len - skip,
			      MADV_POPULATE_WRITE);
}

void populate_write(const struct iovec *iov, size_t n, bool vectored)
{
	size_t i = 0;

	while (i < n) {
		size_t k = n - i < VEC_MAX ? n - i : VEC_MAX;
		ssize_t r = vectored ? vector_call(iov + i, k) : -1;
		size_t done;

		if (r < 0) {
			/* refused before its first range was done (that range,
			 * or the call): that range on its own, then on */
			one(&iov[i++], 0);
			continue;
		}
		/* the kernel stops at the first range it cannot do and
		 * returns the bytes done before it */
		done = (size_t)r;
		while (k && done >= iov[i].iov_len) {
			done -= iov[i++].iov_len;
			k--;
		}
		if (k)
			one(&iov[i++], done);
	}
}
