/* SPDX-License-Identifier: MIT */
/*
 * A slot's page copies (populate.c): in a child forked from a process that
 * wrote its memory, the ranges given become the child's own pages (the
 * kernel's page map marks them exclusive) and nothing else does, over more
 * ranges than one call takes, with a range the kernel refuses (unmapped)
 * in the middle and first; vectored (where the kernel takes it), one call
 * a range, and vectored forced on (a kernel that refuses it falls back).
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "populate.h"
#include "tap.h"

#define PAGES 4096
#define RANGES 1100 /* over one call's 1024 */
#define HOLE 500    /* this range's page is unmapped */

static long page;
static char *mem;
static struct iovec iov[RANGES];

/* Range i: page 3i, two pages for every fifth; page 3i + 2 is in none. */
static void make_ranges(void)
{
	for (int i = 0; i < RANGES; i++)
		iov[i] = (struct iovec){.iov_base = mem + (size_t)3 * i * page,
					.iov_len = (size_t)(i % 5 ? 1 : 2) * page};
}

/* 1: present and mapped by this process alone; 0: present and shared;
 * -1: not present or unreadable. */
static int exclusive(int pm, const char *at)
{
	uint64_t v;
	off_t off = (off_t)((uintptr_t)at / (uintptr_t)page) * 8;

	if (pread(pm, &v, sizeof(v), off) != sizeof(v) || !(v >> 63 & 1))
		return -1;
	return (int)(v >> 56 & 1);
}

/* In the child: populate iov[from..), then check every page. Exit status
 * 0, or 1 + the first failing check (for the parent's message). */
static int child_check(size_t from, bool vectored)
{
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (pm < 0)
		return 1;
	populate_write(iov + from, RANGES - from, vectored);
	for (size_t i = from; i < RANGES; i++) {
		const char *at = iov[i].iov_base;

		if (i == HOLE)
			continue;
		for (size_t p = 0; p < iov[i].iov_len / (size_t)page; p++)
			if (exclusive(pm, at + p * (size_t)page) != 1)
				return 2; /* a range's page not the child's own */
		if (exclusive(pm, at + 2 * (size_t)page) != 0)
			return 3; /* a page of no range copied */
	}
	for (size_t i = 0; i < from; i++)
		if (i != HOLE &&
		    exclusive(pm, (const char *)iov[i].iov_base) != 0)
			return 4; /* a range before `from` copied */
	return 0;
}

static int run(size_t from, bool vectored)
{
	int status;
	pid_t pid = fork();

	if (pid == 0)
		_exit(child_check(from, vectored));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static const char *why(int r)
{
	switch (r) {
	case 0:
		return "";
	case 2:
		return " (a page of a range was not the child's own)";
	case 3:
		return " (a page of no range was copied)";
	case 4:
		return " (a range before the first given was copied)";
	default:
		return " (the check itself failed)";
	}
}

int main(void)
{
	bool vec;
	int r;

	page = sysconf(_SC_PAGESIZE);
	mem = mmap(NULL, (size_t)PAGES * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!tap_ok(mem != MAP_FAILED, "map %d pages", PAGES))
		return tap_done();
	memset(mem, 1, (size_t)PAGES * page);
	make_ranges();
	tap_ok(munmap(iov[HOLE].iov_base, iov[HOLE].iov_len) == 0,
	       "unmap range %d's page", HOLE);
	vec = populate_vectored();
	printf("# this kernel %s MADV_POPULATE_WRITE from process_madvise "
	       "for the calling process\n", vec ? "takes" : "refuses");

	r = run(0, vec);
	tap_ok(r == 0, "%d ranges, one unmapped, %s: exactly their pages "
	       "copied%s", RANGES, vec ? "vectored" : "one call each", why(r));
	r = run(0, false);
	tap_ok(r == 0, "%d ranges, one unmapped, one call each: exactly "
	       "their pages copied%s", RANGES, why(r));
	r = run(0, true);
	tap_ok(r == 0, "%d ranges, one unmapped, vectored forced on: exactly "
	       "their pages copied%s", RANGES, why(r));
	r = run(HOLE, true);
	tap_ok(r == 0, "the unmapped range first, vectored forced on: the "
	       "rest copied, nothing before%s", why(r));
	r = run(HOLE + 1, vec);
	tap_ok(r == 0, "from just after the unmapped range: the rest copied, "
	       "nothing before%s", why(r));
	return tap_done();
}
