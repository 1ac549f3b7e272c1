/* SPDX-License-Identifier: MIT */
/*
 * fontcache.c - matplotlib's font list, built once per host.
 *
 * The first `import matplotlib.pyplot` of a process without a font list
 * scans every font it can find and writes the list to its config dir: about
 * 70 ms with Debian's few fonts, paid again by every run, since each run's
 * /tmp is new. pexos builds the list once, outside any run, into
 * FONT_CACHE_DIR; the sandbox copies its files into /etc/matplotlib (mounts.c)
 * and runner.py links them into the run's MPLCONFIGDIR. The list is built
 * again when a font directory is newer than it (fonts added or removed) or
 * matplotlib was upgraded.
 *
 * The build runs the interpreter as the unprivileged host uid of the
 * sandbox's setup (uid_base), without a sandbox: it reads only the fonts and
 * matplotlib, which every run sees too. Everything here is best effort: a
 * host without matplotlib, or where the directory cannot be written, runs
 * scripts as before, each building its own list.
 */
#include "fontcache.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define FONT_CACHE_PARENT "/var/cache/pexos"
#define FONT_CACHE_DIR FONT_CACHE_PARENT "/matplotlib"
#define MATPLOTLIB_DIR "/usr/lib/python3/dist-packages/matplotlib"
/* A build that takes longer has hung: it is killed and nothing is copied. */
#define BUILD_TIMEOUT_MS 60000

/* Where fonts come from, and matplotlib itself (an upgrade may change the
 * list's format; its version is in the file name). */
static const char *const sources[] = {
    "/usr/share/fonts",	     "/usr/local/share/fonts", "/etc/fonts",
    "/usr/share/matplotlib", MATPLOTLIB_DIR,
};

static struct timespec newest;

static int note_dir(const char *path, const struct stat *st, int type,
		    struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (type == FTW_D && (st->st_mtim.tv_sec > newest.tv_sec ||
			      (st->st_mtim.tv_sec == newest.tv_sec &&
			       st->st_mtim.tv_nsec > newest.tv_nsec)))
		newest = st->st_mtim;
	return 0;
}

static bool has_list(void)
{
	DIR *d = opendir(FONT_CACHE_DIR);
	struct dirent *e;
	bool found = false;

	while (d && !found && (e = readdir(d)))
		found = strncmp(e->d_name, "fontlist-", 9) == 0;
	if (d)
		closedir(d);
	return found;
}

/* A list is in FONT_CACHE_DIR, newer than every font directory. */
static bool fresh(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct stat st;
	bool ok;

	if (!has_list() || stat(FONT_CACHE_DIR, &st) < 0)
		return false;
	pthread_mutex_lock(&lock); /* nftw's callback takes no argument */
	newest = (struct timespec){0};
	for (size_t i = 0; i < ELEMENTSOF(sources); i++)
		nftw(sources[i], note_dir, 8, FTW_PHYS);
	ok = st.st_mtim.tv_sec > newest.tv_sec ||
	     (st.st_mtim.tv_sec == newest.tv_sec &&
	      st.st_mtim.tv_nsec >= newest.tv_nsec);
	pthread_mutex_unlock(&lock);
	return ok;
}

/* Runs the interpreter in `dir` as `uid`; true if it built a list. */
static bool run_build(const char *python, const char *dir, uid_t uid)
{
	static const char code[] =
	    "import sys\n"
	    "v = '%d.%d' % sys.version_info[:2]\n"
	    "sys.path += ['/usr/local/lib/python' + v + '/dist-packages',\n"
	    "             '/usr/lib/python3/dist-packages']\n"
	    "import matplotlib.font_manager\n";
	char conf[PATH_MAX + 16], home[PATH_MAX + 8];
	char *argv[] = {(char *)python, "-I",	      "-B", "-S",
			"-c",		(char *)code, NULL};
	char *envp[] = {conf, home, "PATH=/usr/bin:/bin", "LANG=C.UTF-8", NULL};
	int status;
	pid_t pid;

	snprintf(conf, sizeof(conf), "MPLCONFIGDIR=%s", dir);
	snprintf(home, sizeof(home), "HOME=%s", dir);
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);

		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 ||
		    dup2(null, 2) < 0 || setgroups(0, NULL) < 0 ||
		    setresgid(uid, uid, uid) < 0 ||
		    setresuid(uid, uid, uid) < 0 || chdir(dir) < 0)
			_exit(127);
		umask(022);
		execve(python, argv, envp);
		_exit(127);
	}
	for (int ms = 0; waitpid(pid, &status, WNOHANG) == 0; ms += 10) {
		if (ms >= BUILD_TIMEOUT_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return false;
		}
		nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	remove(path);
	return 0;
}

/* Removes `dir` and whatever the build left in it (fontconfig's cache of
 * fc-list, which matplotlib runs, lands in $HOME/.cache). */
static void discard(const char *dir)
{
	nftw(dir, remove_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Moves the font lists built in `from` into FONT_CACHE_DIR, owned by root
 * (one rename each: a run never sees half a file). */
static bool install(const char *from)
{
	DIR *d = opendir(from);
	struct dirent *e;
	char src[PATH_MAX + 256], dst[sizeof(FONT_CACHE_DIR) + 256];
	bool any = false;

	if (!d)
		return false;
	if (mkdir(FONT_CACHE_DIR, 0755) < 0 && errno != EEXIST) {
		closedir(d);
		return false;
	}
	while ((e = readdir(d))) {
		if (e->d_type != DT_REG || strncmp(e->d_name, "fontlist-", 9))
			continue;
		snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
		snprintf(dst, sizeof(dst), FONT_CACHE_DIR "/%s", e->d_name);
		if (chown(src, 0, 0) == 0 && chmod(src, 0644) == 0 &&
		    rename(src, dst) == 0)
			any = true;
	}
	closedir(d);
	/* The directory's time says when the list was built (fresh()). */
	if (any)
		utimensat(AT_FDCWD, FONT_CACHE_DIR, NULL, 0);
	return any;
}

const char *fontcache_prepare(const char *python, uid_t uid)
{
	char tmp[] = FONT_CACHE_PARENT "/build.XXXXXX";
	struct stat st;
	bool ok;

	if (stat(MATPLOTLIB_DIR, &st) < 0)
		return NULL; /* no matplotlib: nothing to build or copy */
	if (fresh())
		return FONT_CACHE_DIR;
	if (geteuid() != 0)
		return NULL;
	if (mkdir("/var/cache", 0755) < 0 && errno != EEXIST)
		return NULL;
	if (mkdir(FONT_CACHE_PARENT, 0755) < 0 && errno != EEXIST)
		return NULL;
	if (!mkdtemp(tmp))
		return NULL;
	ok = chown(tmp, uid, uid) == 0 && run_build(python, tmp, uid) &&
	     install(tmp);
	discard(tmp);
	return ok ? FONT_CACHE_DIR : NULL;
}
