/* SPDX-License-Identifier: MIT */
/*
 * matplotlib's font list, built once per host (fontcache.c): built by the
 * real interpreter, installed root-owned and read-only for others, not built
 * again while fresh, built again once older than the font directories, and
 * nothing bound when the build fails. The list's directory is never removed
 * here: runs of other tests may be binding it at the same time.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fontcache.h"
#include "tap.h"

#define DIR_ "/var/cache/pexos/matplotlib"
#define PYTHON "/usr/bin/python3"
#define UID 2000000000

/* The first font list in DIR_: its name in `name`, its stat in `st`. */
static bool find_list(char *name, size_t size, struct stat *st)
{
	DIR *d = opendir(DIR_);
	struct dirent *e;
	char path[512];
	bool found = false;

	while (d && !found && (e = readdir(d))) {
		if (strncmp(e->d_name, "fontlist-", 9) != 0)
			continue;
		snprintf(name, size, "%s", e->d_name);
		snprintf(path, sizeof(path), DIR_ "/%s", e->d_name);
		found = stat(path, st) == 0;
	}
	if (d)
		closedir(d);
	return found;
}

/* No build.* directory left next to the list. */
static int leftovers(void)
{
	DIR *d = opendir("/var/cache/pexos");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += strncmp(e->d_name, "build.", 6) == 0;
	if (d)
		closedir(d);
	return n;
}

static long long mtime_ns(void)
{
	struct stat st;

	if (stat(DIR_, &st) < 0)
		return -1;
	return st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

static void make_stale(void)
{
	struct timespec old[2] = {{1, 0}, {1, 0}};

	utimensat(AT_FDCWD, DIR_, old, 0);
}

int main(void)
{
	struct stat st = {0};
	char name[256] = "";
	bool found;
	const char *dir;
	long long t;

	if (access("/usr/lib/python3/dist-packages/matplotlib", F_OK) < 0) {
		if (getenv("PEXOS_MUST_WORK")) {
			tap_ok(false, "python3-matplotlib is installed");
			return tap_done();
		}
		printf("1..0 # SKIP python3-matplotlib is not installed\n");
		return 77;
	}
	dir = fontcache_prepare(PYTHON, UID);
	tap_ok(dir && strcmp(dir, DIR_) == 0, "a font list is ready in %s",
	       dir ? dir : "(none)");
	found = find_list(name, sizeof(name), &st);
	tap_ok(found && st.st_size > 1000,
	       "it holds matplotlib's list (%s, %lld bytes)", name,
	       (long long)st.st_size);
	tap_ok(st.st_uid == 0 && (st.st_mode & 07777) == 0644,
	       "owned by root, mode 0644 (uid %u, mode %o)", st.st_uid,
	       st.st_mode & 07777);
	tap_ok(leftovers() == 0, "no build directory is left");

	t = mtime_ns();
	dir = fontcache_prepare(PYTHON, UID);
	tap_ok(dir && mtime_ns() == t, "fresh: not built again");

	make_stale();
	dir = fontcache_prepare("/nonexistent/python3", UID);
	tap_ok(dir == NULL && leftovers() == 0,
	       "stale, and the build fails: nothing to bind, nothing left");

	make_stale();
	dir = fontcache_prepare(PYTHON, UID);
	tap_ok(dir && mtime_ns() > 1000000000LL * (long long)(time(NULL) - 600),
	       "older than the font directories: built again");
	found = find_list(name, sizeof(name), &st);
	tap_ok(found && st.st_uid == 0,
	       "the new list replaced the old one (%s)", name);
	return tap_done();
}
