/* SPDX-License-Identifier: MIT */
/* pexos-run --save-to treats the response as untrusted (cli/files.c):
 * crafted responses whose paths leave DIR (.., absolute, empty or "."
 * components) are refused, symlinks and FIFOs planted in DIR are never
 * followed or opened, and honest entries are written byte-exact. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "tap.h"

static char top[] = "/tmp/pexos-cli-files-XXXXXX";
static char dir[256], outside[256];

static int save(const char *resp, char **ret)
{
	struct cli_files f = {.save_to = dir};

	*ret = NULL;
	return cli_files_save(&f, NULL, resp, ret);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void refused(const char *path, const char *what)
{
	char resp[512], *out;
	int r;

	snprintf(resp, sizeof(resp),
		 "{\"result\":1,\"stdout\":\"\",\"files\":[{\"path\":\"%s\","
		 "\"size\":1,\"content_base64\":\"eA==\"}]}",
		 path);
	r = save(resp, &out);
	tap_ok(r == 1 && out && strstr(out, "\"not_saved\"") &&
		   !strstr(out, "saved_to") && !strstr(out, "eA=="),
	       "refused: %s (%s)", what, path);
	free(out);
}

int main(void)
{
	char path[512], *out = NULL, buf[16] = {0};
	int r, fd;

	if (!mkdtemp(top))
		return 1;
	snprintf(dir, sizeof(dir), "%s/save", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	mkdir(outside, 0755);

	r = save(
	    "{\"result\":0.1,\"stdout\":\"\",\"files\":[{\"path\":\"a/b.bin\","
	    "\"size\":3,\"content_base64\":\"AAH/\"}],\"figures\":[{\"format\":"
	    "\"png\",\"width\":1,\"height\":1,\"content_base64\":\"iVBO\"}]}",
	    &out);
	snprintf(path, sizeof(path), "%s/a/b.bin", dir);
	fd = open(path, O_RDONLY);
	tap_ok(r == 0 && fd >= 0 && read(fd, buf, sizeof(buf)) == 3 &&
		   memcmp(buf, "\x00\x01\xff", 3) == 0,
	       "an honest file is written byte-exact under DIR");
	if (fd >= 0)
		close(fd);
	snprintf(path, sizeof(path), "%s/figure-1.png", dir);
	tap_ok(exists(path) && out && strstr(out, "\"saved_to\":\"") &&
		   strncmp(out, "{\"result\":0.1,", 14) == 0 &&
		   !strstr(out, "content_base64"),
	       "figures saved as figure-N.png; result kept as spelled");
	free(out);

	refused("../x", "a .. component");
	refused("a/../../x", "a .. inside");
	refused("/tmp/abs", "an absolute path");
	refused("a//b", "an empty component");
	refused("./x", "a . component");
	refused("", "an empty path");
	snprintf(path, sizeof(path), "%s/x", top);
	tap_ok(!exists(path) && !exists("/tmp/abs"),
	       "nothing written outside DIR");

	/* A symlink planted in DIR, as a file and as a directory. */
	snprintf(path, sizeof(path), "%s/victim", outside);
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
	snprintf(buf, sizeof(buf), "%s", "");
	{
		char link[512];
		snprintf(link, sizeof(link), "%s/link.txt", dir);
		if (symlink(path, link) < 0)
			return 1;
		snprintf(link, sizeof(link), "%s/linkdir", dir);
		if (symlink(outside, link) < 0)
			return 1;
		snprintf(link, sizeof(link), "%s/fifo", dir);
		if (mkfifo(link, 0644) < 0)
			return 1;
	}
	refused("link.txt", "a symlink to a file outside");
	refused("linkdir/victim", "a symlink to a directory outside");
	refused("fifo", "a FIFO (no block, never written)");
	{
		struct stat st;
		tap_ok(stat(path, &st) == 0 && st.st_size == 0,
		       "the symlinks' target outside DIR is untouched");
		snprintf(path, sizeof(path), "%s/linkdir", dir);
		tap_ok(lstat(path, &st) == 0 && S_ISLNK(st.st_mode),
		       "the planted symlink stays a symlink");
	}
	r = save(
	    "{\"error\":\"x\",\"type\":\"ScriptError\",\"files\":[{\"path\":"
	    "\"ok.txt\",\"size\":1,\"content_base64\":\"@@@@\"}]}",
	    &out);
	tap_ok(r == 1 && out && strstr(out, "not valid base64"),
	       "content that is not base64 is not saved");
	free(out);
	snprintf(path, sizeof(path), "rm -rf '%s'", top);
	if (system(path) != 0)
		return 1;
	return tap_done();
}
