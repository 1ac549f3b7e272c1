/* SPDX-License-Identifier: MIT */
/*
 * cgroup.c - one cgroup per run, on cgroup v2 or v1.
 *
 * Layout: <own cgroup>/pexos/run-<pid>-<n>, where <own cgroup> is the one
 * this process is in (per controller on v1). Runs are created by the parent
 * before the sandbox's init is released, so every process of the run is
 * charged from its first instruction; they are removed after the run, and
 * those of a process that died are removed by the next cg_prepare.
 */
#include "cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup_mount.h"
#include "confine.h"
#include "error.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

static const char *const v1_names[CG1_N] = {"memory", "pids", "cpu",
					    "cpuacct"};
static atomic_uint run_counter;

const char *cg_mode_name(enum cg_mode mode)
{
	switch (mode) {
	case CG_V1:
		return "cgroup-v1";
	case CG_V2:
		return "cgroup-v2";
	case CG_NONE:
		return "rlimit";
	default:
		return "unknown";
	}
}

/* The base directories of runs' cgroups (each hierarchy's "pexos"), held
 * open (O_PATH) from cg_prepare on, for the life of the process: a run's
 * files are then looked up from there, two names, not from the root
 * through every level of the mount (the lookups of a request's twenty
 * cgroup opens were about 2 % of the machine's CPU at c=4 on v1). A path
 * outside them is opened as it is. Entries are only added (under
 * held_lock) and refreshed in place (dup3), never removed. */
#define HELD_MAX 16
static struct {
	char path[PATH_MAX];
	size_t len;
	int fd;
} held[HELD_MAX];
static atomic_int n_held;
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;

/* (Re)opens `dir` as a held base directory; a failure only costs speed. */
static void hold_dir(const char *dir)
{
	int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int n;

	if (fd < 0)
		return;
	pthread_mutex_lock(&held_lock);
	n = atomic_load_explicit(&n_held, memory_order_relaxed);
	for (int i = 0; i < n; i++)
		if (strcmp(held[i].path, dir) == 0) {
			/* Removed and made again: the new directory. */
			(void)dup3(fd, held[i].fd, O_CLOEXEC);
			goto out;
		}
	if (n < HELD_MAX && strlen(dir) < sizeof(held[n].path)) {
		snprintf(held[n].path, sizeof(held[n].path), "%s", dir);
		held[n].len = strlen(dir);
		held[n].fd = fd;
		fd = -1;
		atomic_store_explicit(&n_held, n + 1, memory_order_release);
	}
out:
	pthread_mutex_unlock(&held_lock);
	if (fd >= 0)
		close(fd);
}

/* `path` as a held directory's descriptor and the name below it (*rel),
 * or AT_FDCWD and the path itself. */
static int held_at(const char *path, const char **rel)
{
	int n = atomic_load_explicit(&n_held, memory_order_acquire);

	for (int i = 0; i < n; i++)
		if (strncmp(path, held[i].path, held[i].len) == 0 &&
		    path[held[i].len] == '/' && path[held[i].len + 1]) {
			*rel = path + held[i].len + 1;
			return held[i].fd;
		}
	*rel = path;
	return AT_FDCWD;
}

/* The *at() calls below, from a held directory when `path` is in one.
 * ENOENT there is tried again by the whole path: the held directory may
 * have been removed and made again behind this process's back. */
enum held_op { HELD_OPEN, HELD_MKDIR, HELD_RMDIR, HELD_EXISTS };

static int held_call(enum held_op op, const char *path, int arg)
{
	const char *rel;
	int at = held_at(path, &rel);

	for (;;) {
		int r;

		switch (op) {
		case HELD_OPEN:
			r = openat(at, rel, arg);
			break;
		case HELD_MKDIR:
			r = mkdirat(at, rel, (mode_t)arg);
			break;
		case HELD_RMDIR:
			r = unlinkat(at, rel, AT_REMOVEDIR);
			break;
		default:
			r = faccessat(at, rel, F_OK, 0);
			break;
		}
		if (r >= 0 || errno != ENOENT || at == AT_FDCWD)
			return r;
		at = AT_FDCWD;
		rel = path;
	}
}

static int cg_open(const char *path, int flags)
{
	return held_call(HELD_OPEN, path, flags);
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX + 64];
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = cg_open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_all(fd, value, strlen(value));
}

/* Reads a small file into buf; returns its length or -errno. */
static ssize_t read_file(const char *dir, const char *file, char *buf,
			 size_t size)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return read_text_fd(cg_open(path, O_RDONLY | O_CLOEXEC), buf, size);
}

/* The value of "key N" in the text of a flat keyed file (memory.events,
 * cpu.stat, memory.oom_control); -1 when key is missing. */
static int64_t keyed_in(const char *buf, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = buf; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, klen) == 0 && p[klen] == ' ')
			return (int64_t)strtoull(p + klen + 1, NULL, 10);
	return -1;
}

/* The same, read from dir/file; 0 when missing. */
static uint64_t keyed_value(const char *dir, const char *file, const char *key)
{
	char buf[4096];
	int64_t v;

	if (read_file(dir, file, buf, sizeof(buf)) < 0)
		return 0;
	v = keyed_in(buf, key);
	return v < 0 ? 0 : (uint64_t)v;
}

static bool file_exists(const char *dir, const char *file)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return held_call(HELD_EXISTS, path, 0) == 0;
}

/* The cgroup path of `controller` ("" for the v2 line) in /proc/self/cgroup
 * text. Returns false if there is no such line. */
static bool own_path(const char *self, const char *controller, char *out,
		     size_t size)
{
	const char *line = self;

	while (line && *line) {
		const char *c1 = strchr(line, ':'), *c2, *end;
		c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		if (c2 && c2 < end) {
			/* controllers field: comma-separated list */
			const char *f = c1 + 1;
			size_t flen = (size_t)(c2 - f), clen = strlen(controller);
			bool match = clen == 0 ? flen == 0 : false;
			for (const char *t = f; !match && t < c2;) {
				const char *comma = memchr(t, ',', (size_t)(c2 - t));
				size_t tl = (size_t)((comma ? comma : c2) - t);
				match = tl == clen && strncmp(t, controller, clen) == 0;
				t = comma ? comma + 1 : c2;
			}
			if (match) {
				snprintf(out, size, "%.*s", (int)(end - c2 - 1),
					 c2 + 1);
				return true;
			}
		}
		line = *end ? end + 1 : NULL;
	}
	return false;
}

/* Where the hierarchy of `controller` (v1) or the unified one (v2: "") is
 * mounted below `sysfs`, from /proc/self/mountinfo text: its mount point
 * and the cgroup path the mount shows as its root. A container's runtime
 * often mounts only the container's own cgroup there. */
static bool find_mount(const char *mountinfo, const char *controller,
		       const char *sysfs, char *point, size_t psize,
		       char *root, size_t rsize)
{
	const char *line = mountinfo;
	size_t slen = strlen(sysfs);

	while (line && *line) {
		char mroot[PATH_MAX], mpoint[PATH_MAX], fstype[32], super[512];
		const char *dash = strstr(line, " - ");
		const char *end = strchr(line, '\n');

		if (dash && (!end || dash < end) &&
		    sscanf(line, "%*s %*s %*s %4095s %4095s", mroot, mpoint) == 2 &&
		    sscanf(dash + 3, "%31s %*s %511s", fstype, super) == 2 &&
		    strncmp(mpoint, sysfs, slen) == 0 &&
		    (mpoint[slen] == '/' || mpoint[slen] == '\0')) {
			bool match = false;
			if (!*controller)
				match = strcmp(fstype, "cgroup2") == 0 &&
					mpoint[slen] == '\0';
			else if (strcmp(fstype, "cgroup") == 0) {
				char *tok, *save = NULL;
				for (tok = strtok_r(super, ",", &save); tok && !match;
				     tok = strtok_r(NULL, ",", &save))
					match = strcmp(tok, controller) == 0;
			}
			if (match) {
				snprintf(point, psize, "%s", mpoint);
				snprintf(root, rsize, "%s", mroot);
				return true;
			}
		}
		line = end ? end + 1 : NULL;
	}
	return false;
}

/* The directory of cgroup `own` in the tree mounted at `point`, whose root
 * is `root`; -EXDEV if `own` lies outside what that mount shows. */
static int cgroup_dir(const char *point, const char *root, const char *own,
		      char *out, size_t size)
{
	size_t rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);

	if (strncmp(own, root, rlen) != 0 ||
	    (own[rlen] != '/' && own[rlen] != '\0'))
		return -EXDEV;
	own += rlen;
	if (strcmp(own, "/") == 0)
		own = "";
	return str_concat(out, size, point, own, "");
}

static bool proc_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* rmdir, retrying while the last processes are still being released. */
static int remove_dir(const char *path)
{
	for (int i = 0; i < 200; i++) {
		if (held_call(HELD_RMDIR, path, 0) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	return -EBUSY;
}

/* Kills every process listed in dir/cgroup.procs. */
static void kill_procs(const char *dir)
{
	char buf[16384], *p, *end;

	if (write_file(dir, "cgroup.kill", "1") == 0)
		return; /* v2, kernel >= 5.14: the kernel does it */
	if (read_file(dir, "cgroup.procs", buf, sizeof(buf)) <= 0)
		return;
	for (p = buf; *p; p = end) {
		long pid = strtol(p, &end, 10);
		if (end == p)
			break;
		if (pid > 0)
			kill((pid_t)pid, SIGKILL);
		while (*end == '\n')
			end++;
	}
}

/* Removes run-<pid>-* (and zygote-<pid>-*) directories of processes that
 * are gone. */
static void reap_stale(const char *base)
{
	DIR *d = opendir(base);
	struct dirent *e;
	char path[PATH_MAX + 300];

	if (!d)
		return;
	while ((e = readdir(d))) {
		long pid;
		if ((sscanf(e->d_name, "run-%ld-", &pid) != 1 &&
		     sscanf(e->d_name, "zygote-%ld-", &pid) != 1) ||
		    proc_alive((pid_t)pid))
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		kill_procs(path);
		remove_dir(path);
	}
	closedir(d);
}

static int fail_no_cgroup(pexos_error *err, int code, const char *what,
			  const char *path)
{
	return pexos_fail(
		err, code ? code : ENOTSUP, "cgroup",
		"%s%s%s%s (%s): pexos enforces memory, process and CPU limits "
		"with a cgroup per run and refuses to run scripts without one. "
		"Give it a writable cgroup tree that contains its own cgroup (in "
		"a container on cgroup v2: its own cgroup, delegated to its "
		"root, see pexos(7)) or accept weaker per-process limits with "
		"--limits=rlimit",
		what, path ? " '" : "", path ? path : "", path ? "'" : "",
		strerror(code ? code : ENOTSUP));
}

static int prepare_v1(struct cg_root *root, const char *sysfs,
		      const char *self, const char *mountinfo,
		      pexos_error *err)
{
	for (int c = 0; c < CG1_N; c++) {
		char own[PATH_MAX], point[PATH_MAX], mroot[PATH_MAX];
		char dir[PATH_MAX];
		bool required = c == CG1_MEMORY || c == CG1_PIDS;
		int r;

		if (!own_path(self, v1_names[c], own, sizeof(own)) ||
		    !find_mount(mountinfo, v1_names[c], sysfs, point,
				sizeof(point), mroot, sizeof(mroot))) {
			if (required)
				return fail_no_cgroup(
					err, ENOENT,
					"no mounted cgroup v1 controller",
					v1_names[c]);
			continue;
		}
		r = cgroup_dir(point, mroot, own, dir, sizeof(dir));
		if (r == -EXDEV)
			return fail_no_cgroup(err, EXDEV,
					      "pexos's own cgroup is outside "
					      "the tree mounted at",
					      point);
		if (r < 0 ||
		    str_concat(root->base[c], sizeof(root->base[c]), dir,
			       "/pexos", "") < 0 ||
		    str_concat(root->named[c], sizeof(root->named[c]),
			       strcmp(own, "/") == 0 ? "" : own, "/pexos",
			       "") < 0)
			return fail_no_cgroup(err, ENAMETOOLONG,
					      "path too long", own);
		if (mkdir(root->base[c], 0755) == 0)
			root->created[c] = true;
		else if (errno != EEXIST) {
			if (required)
				return fail_no_cgroup(err, errno,
						      "cannot create the cgroup",
						      root->base[c]);
			root->base[c][0] = '\0';
			continue;
		}
		reap_stale(root->base[c]);
		hold_dir(root->base[c]);
	}
	root->swap = file_exists(root->base[CG1_MEMORY],
				 "memory.memsw.limit_in_bytes");
	snprintf(root->shown, sizeof(root->shown), "%s", root->base[0]);
	root->mode = CG_V1;
	return 0;
}

/* Whether the space-separated list `list` holds the word `word`. */
static bool has_word(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = strstr(list, word); p; p = strstr(p + 1, word))
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' ' || p[n] == '\n'))
			return true;
	return false;
}

/* Enables memory, pids and (if offered) cpu for the children of `dir`.
 * -EBUSY: `dir` has processes of its own (v2's "no internal processes"
 * rule; the root cgroup is exempt). */
static int enable_controllers(const char *dir)
{
	char avail[512];
	int r;

	if (read_file(dir, "cgroup.controllers", avail, sizeof(avail)) < 0)
		return -errno;
	if (!has_word(avail, "memory") || !has_word(avail, "pids"))
		return -ENOTSUP;
	r = write_file(dir, "cgroup.subtree_control", "+memory +pids");
	if (r == 0 && has_word(avail, "cpu"))
		(void)write_file(dir, "cgroup.subtree_control", "+cpu");
	return r;
}

/* Moves every process listed in from/cgroup.procs to `to`. Those that
 * exit meanwhile are no error. */
static int move_procs(const char *from, const char *to)
{
	char buf[16384], *p, *end;

	if (read_file(from, "cgroup.procs", buf, sizeof(buf)) < 0)
		return -errno;
	for (p = buf; *p; p = end) {
		long pid = strtol(p, &end, 10);
		char num[32];
		if (end == p)
			break;
		snprintf(num, sizeof(num), "%ld", pid);
		(void)write_file(to, "cgroup.procs", num);
		while (*end == '\n')
			end++;
	}
	return 0;
}

/* cgroup v2's "no internal processes" rule: a cgroup with processes cannot
 * give controllers to children. pexos's own cgroup (a service's, a
 * container's root) holds pexos and often other processes: all of them
 * move to the leaf own/pexos-supervisor, then the controllers are enabled.
 * A process started there later (the next pexos-run of the same service)
 * finds itself in that leaf and uses its parent: see cg_prepare_v2. */
static int enable_moving_out(struct cg_root *root, const char *own)
{
	char leaf[PATH_MAX + 32];
	int r = enable_controllers(own);

	if (r != -EBUSY)
		return r;
	if (str_concat(leaf, sizeof(leaf), own, "/" CG_SUPERVISOR_LEAF, "") <
	    0)
		return -ENAMETOOLONG;
	if (mkdir(leaf, 0755) < 0 && errno != EEXIST)
		return -errno;
	root->moved = true;
	/* A process forked between the move and the write keeps own busy:
	 * a few rounds. */
	for (int i = 0; i < 5 && r == -EBUSY; i++) {
		r = move_procs(own, leaf);
		if (r == 0)
			r = enable_controllers(own);
	}
	return r;
}

/* The leaf an earlier pexos process moved its cgroup's processes to
 * stands for that cgroup: its parent has the controllers and the runs. */
static void strip_supervisor_leaf(char *own, const char *point)
{
	static const char leaf[] = "/" CG_SUPERVISOR_LEAF;
	size_t n = strlen(own), l = sizeof(leaf) - 1;

	if (n >= strlen(point) + l && strcmp(own + n - l, leaf) == 0)
		own[n - l] = '\0';
}

static bool read_only(const char *point)
{
	struct statvfs sv;

	return statvfs(point, &sv) == 0 && (sv.f_flag & ST_RDONLY);
}

/* The cgroup2 mount is read-only, as container engines mount a container's
 * cgroup namespace: pexos's own cgroup, mounted read-write privately,
 * stands in for it (cgroup_mount.c), one mount per process, rooted where
 * the process was when it first made one. */
static int private_view(struct cg_root *root, const char *own_rel, char *own,
			size_t size, pexos_error *err)
{
	char why[128], hint[1024], mount_root[PATH_MAX], point[64];
	int r = cg_private_mount(own_rel, &root->mount_fd, mount_root,
				 sizeof(mount_root), why, sizeof(why));
	const char *below;

	if (r < 0) {
		confine_hint(hint, sizeof(hint));
		return pexos_fail(err, -r, "cgroup",
				  "/sys/fs/cgroup is read-only (as a "
				  "container's is) and pexos could not mount its "
				  "own cgroup (%s) read-write: %s (%s).%s pexos "
				  "needs a cgroup per run (or --limits=rlimit); "
				  "see pexos(7)",
				  own_rel, why, strerror(-r), hint);
	}
	root->private_mount = true;
	snprintf(point, sizeof(point), "/proc/self/fd/%d", root->mount_fd);
	below = own_rel + (strcmp(mount_root, "/") == 0 ? 0 : strlen(mount_root));
	if (strcmp(below, "/") == 0)
		below = "";
	if (str_concat(own, size, point, below, "") < 0)
		return fail_no_cgroup(err, ENAMETOOLONG, "path too long",
				      own_rel);
	strip_supervisor_leaf(own, point);
	snprintf(root->shown, sizeof(root->shown),
		 "%s%spexos (a private read-write mount of pexos's own cgroup: "
		 "the one at /sys/fs/cgroup is read-only)",
		 strcmp(mount_root, "/") == 0 ? "" : mount_root, "/");
	return 0;
}

int cg_prepare_v2(struct cg_root *root, const char *sysfs, const char *self,
		  const char *mountinfo, pexos_error *err)
{
	char own_rel[PATH_MAX], own[PATH_MAX], point[PATH_MAX], mroot[PATH_MAX];
	int r;

	if (!own_path(self, "", own_rel, sizeof(own_rel)))
		return fail_no_cgroup(err, ENOENT, "no cgroup v2 entry in",
				      "/proc/self/cgroup");
	if (!find_mount(mountinfo, "", sysfs, point, sizeof(point), mroot,
			sizeof(mroot)))
		return fail_no_cgroup(err, ENOENT, "no cgroup2 mount at", sysfs);
	r = cgroup_dir(point, mroot, own_rel, own, sizeof(own));
	if (r == -EXDEV)
		return fail_no_cgroup(err, EXDEV,
				      "pexos's own cgroup is outside the tree "
				      "mounted at",
				      point);
	if (r < 0)
		return fail_no_cgroup(err, ENAMETOOLONG, "path too long",
				      own_rel);
	if (read_only(point)) {
		r = private_view(root, own_rel, own, sizeof(own), err);
		if (r < 0)
			return r;
	} else {
		strip_supervisor_leaf(own, point);
		snprintf(root->shown, sizeof(root->shown), "%s/pexos", own);
	}
	snprintf(root->own, sizeof(root->own), "%s", own);
	(void)read_file(own, "cgroup.subtree_control", root->own_control,
			sizeof(root->own_control));
	r = enable_moving_out(root, own);
	if ((r == -EACCES || r == -EPERM) && root->private_mount)
		return pexos_fail(
			err, -r, "cgroup",
			"pexos's own cgroup (%s) is not delegated to it: its "
			"cgroup.subtree_control is not writable (%s). A "
			"user-namespaced container's runtime must hand the "
			"container's cgroup to the container's root (crun does; "
			"runc, by default, does not). pexos needs a cgroup per run "
			"(or --limits=rlimit); see pexos(7)",
			own_rel, strerror(-r));
	if (r < 0)
		return fail_no_cgroup(err, -r,
				      "cannot enable the memory and pids "
				      "controllers in",
				      root->private_mount ? own_rel : own);
	if (str_concat(root->base[0], sizeof(root->base[0]), own, "/pexos",
		       "") < 0)
		return fail_no_cgroup(err, ENAMETOOLONG, "path too long", own);
	if (mkdir(root->base[0], 0755) == 0)
		root->created[0] = true;
	else if (errno != EEXIST)
		return fail_no_cgroup(err, errno, "cannot create the cgroup",
				      root->shown);
	r = enable_controllers(root->base[0]);
	if (r < 0)
		return fail_no_cgroup(err, -r, "cannot enable controllers in",
				      root->shown);
	reap_stale(root->base[0]);
	/* Not a private mount's: its /proc/self/fd/N path names another
	 * directory once that descriptor is closed and its number reused. */
	if (!root->private_mount)
		hold_dir(root->base[0]);
	root->swap = true; /* memory.swap.max is written when it exists */
	root->mode = CG_V2;
	return 0;
}

void cg_undo(const struct cg_root *root)
{
	static const char *const ctl[] = {"memory", "pids", "cpu"};
	char leaf[PATH_MAX + 32];

	for (int c = 0; c < CG1_N; c++)
		if (root->created[c] && root->base[c][0] &&
		    rmdir(root->base[c]) < 0 && errno != ENOENT)
			return; /* another pexos process uses it */
	if (root->mode != CG_V2 || !root->own[0])
		return;
	for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++) {
		char off[16];
		if (has_word(root->own_control, ctl[i]))
			continue;
		snprintf(off, sizeof(off), "-%s", ctl[i]);
		/* EBUSY: another child of own uses it; ENOENT: never on */
		(void)write_file(root->own, "cgroup.subtree_control", off);
	}
	if (!root->moved || str_concat(leaf, sizeof(leaf), root->own,
				       "/" CG_SUPERVISOR_LEAF, "") < 0)
		return;
	if (move_procs(leaf, root->own) == 0)
		(void)rmdir(leaf);
}

void cg_release(struct cg_root *root)
{
	if (root->private_mount && root->mount_fd >= 0)
		close(root->mount_fd);
	root->private_mount = false;
	root->mount_fd = -1;
}

int cg_prepare(struct cg_root *root, const char *mode, const char *sysfs,
	       const char *self, const char *mountinfo, pexos_error *err)
{
	char probe[PATH_MAX];
	struct statfs sf;

	memset(root, 0, sizeof(*root));
	root->mount_fd = -1;
	if (strcmp(mode, "rlimit") == 0) {
		root->mode = CG_NONE;
		return 0;
	}
	if (strcmp(mode, "auto") != 0 && strcmp(mode, "cgroup") != 0)
		return pexos_fail(err, EINVAL, "options",
				  "limits must be auto, cgroup or rlimit, got "
				  "'%s'",
				  mode);
	if (statfs(sysfs, &sf) == 0 &&
	    (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC)
		return cg_prepare_v2(root, sysfs, self, mountinfo, err);
	snprintf(probe, sizeof(probe), "%s/memory", sysfs);
	if (access(probe, F_OK) == 0)
		return prepare_v1(root, sysfs, self, mountinfo, err);
	return fail_no_cgroup(err, ENOENT, "no cgroup filesystem at", sysfs);
}

static int create_dir(struct cg_run *run, const char *base, const char *name,
		      pexos_error *err)
{
	char *p = run->path[run->n];

	snprintf(p, PATH_MAX, "%s/%s", base, name);
	/* EEXIST: left by a dead process whose pid ours recycled; its limits
	 * are written anew below. */
	if (held_call(HELD_MKDIR, p, 0755) < 0 && errno != EEXIST)
		return pexos_fail_errno(err, errno, "cgroup",
					"create the run's cgroup '%s'", p);
	run->n++;
	return 0;
}

static int set(const char *dir, const char *file, const char *value,
	       pexos_error *err)
{
	int r = write_file(dir, file, value);

	if (r < 0)
		return pexos_fail_errno(err, -r, "cgroup", "set %s/%s to %s",
					dir, file, value);
	return 0;
}

static int limits_v2(const struct cg_run *run, const char *mem,
		     const char *pids, pexos_error *err)
{
	const char *d = run->path[0];
	int r = set(d, "memory.max", mem, err);

	/* Swap included: none at all beyond the memory limit. */
	if (r == 0 && file_exists(d, "memory.swap.max"))
		r = set(d, "memory.swap.max", "0", err);
	/* One process OOM-killed takes the whole run with it. */
	if (r == 0 && file_exists(d, "memory.oom.group"))
		r = set(d, "memory.oom.group", "1", err);
	if (r == 0)
		r = set(d, "pids.max", pids, err);
	return r;
}

static int limits_v1(const struct cg_root *root, const struct cg_run *run,
		     const char *mem, const char *pids, pexos_error *err)
{
	int r = set(run->path[CG1_MEMORY], "memory.limit_in_bytes", mem, err);

	/* memsw (memory + swap) must not be below the memory limit: set
	 * after it. */
	if (r == 0 && root->swap)
		r = set(run->path[CG1_MEMORY], "memory.memsw.limit_in_bytes",
			mem, err);
	if (r == 0)
		r = set(run->path[CG1_PIDS], "pids.max", pids, err);
	return r;
}

static int create_named(const struct cg_root *root, const char *prefix,
			uint64_t memory_mb, uint64_t pids, struct cg_run *run,
			pexos_error *err)
{
	char name[64], mem[32], npids[32];
	int r = 0;

	memset(run, 0, sizeof(*run));
	if (root->mode == CG_NONE)
		return 0;
	snprintf(name, sizeof(name), "%s-%d-%u", prefix, (int)getpid(),
		 atomic_fetch_add(&run_counter, 1));
	snprintf(mem, sizeof(mem), "%" PRIu64, memory_mb << 20);
	snprintf(npids, sizeof(npids), "%" PRIu64, pids);
	for (int c = 0; c < CG1_N && r == 0; c++) {
		if (root->base[c][0])
			r = create_dir(run, root->base[c], name, err);
		if (root->mode == CG_V2)
			break;
	}
	if (r == 0 && root->mode == CG_V2)
		r = limits_v2(run, mem, npids, err);
	else if (r == 0)
		r = limits_v1(root, run, mem, npids, err);
	if (r < 0)
		cg_run_destroy(root, run);
	return r;
}

int cg_run_create(const struct cg_root *root, uint64_t memory_mb,
		  uint64_t pids, struct cg_run *run, pexos_error *err)
{
	return create_named(root, "run", memory_mb, pids, run, err);
}

int cg_zygote_create(const struct cg_root *root, uint64_t memory_mb,
		     uint64_t pids, struct cg_run *run, pexos_error *err)
{
	return create_named(root, "zygote", memory_mb, pids, run, err);
}

int cg_run_attach(const struct cg_run *run, pid_t pid, pexos_error *err)
{
	char num[32];

	snprintf(num, sizeof(num), "%d", (int)pid);
	for (int i = 0; i < run->n; i++)
		if (set(run->path[i], "cgroup.procs", num, err) < 0)
			return -EIO;
	return 0;
}

int cg_run_open_tasks(const struct cg_root *root, const struct cg_run *run,
		      int fds[CG1_N])
{
	char path[PATH_MAX + 16];
	int n = 0;

	if (root->mode != CG_V1 || run->n <= 0 || run->n > CG1_N)
		return 0;
	for (; n < run->n; n++) {
		if (str_concat(path, sizeof(path), run->path[n], "/tasks", "") <
		    0)
			break;
		fds[n] = cg_open(path, O_WRONLY | O_CLOEXEC);
		if (fds[n] < 0)
			break;
	}
	if (n == run->n)
		return n;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	return 0;
}

int cg_run_open_dir(const struct cg_root *root, const struct cg_run *run)
{
	if (root->mode != CG_V2 || run->n != 1)
		return -1;
	return cg_open(run->path[0], O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* v1 keeps each controller in its own directory of the run. */
static const char *v1_dir(const struct cg_root *root, const struct cg_run *run,
			  int controller)
{
	int idx = 0;

	if (!root->base[controller][0])
		return NULL;
	for (int c = 0; c < controller; c++)
		if (root->base[c][0])
			idx++;
	return idx < run->n ? run->path[idx] : NULL;
}

uint64_t cg_run_cpu_ms(const struct cg_root *root, const struct cg_run *run)
{
	char buf[64];
	const char *d;

	if (root->mode == CG_V2)
		return keyed_value(run->path[0], "cpu.stat", "usage_usec") /
		       1000;
	d = root->mode == CG_V1 ? v1_dir(root, run, CG1_CPUACCT) : NULL;
	if (d && read_file(d, "cpuacct.usage", buf, sizeof(buf)) > 0)
		return strtoull(buf, NULL, 10) / 1000000;
	return 0;
}

/* Each file is read once: this runs twice per pooled run (pool.c,
 * fill_stats), on the way of the response. */
bool cg_run_oom(const struct cg_root *root, const struct cg_run *run)
{
	char buf[4096];
	const char *d;

	if (root->mode == CG_V2)
		return read_file(run->path[0], "memory.events", buf,
				 sizeof(buf)) > 0 &&
		       (keyed_in(buf, "oom_kill") > 0 ||
			keyed_in(buf, "oom_group_kill") > 0);
	d = root->mode == CG_V1 ? v1_dir(root, run, CG1_MEMORY) : NULL;
	if (!d)
		return false;
	if (read_file(d, "memory.oom_control", buf, sizeof(buf)) > 0 &&
	    keyed_in(buf, "oom_kill") >= 0)
		return keyed_in(buf, "oom_kill") > 0;
	/* Kernels before 4.13 count no OOM kills: the limit was hit. */
	return read_file(d, "memory.failcnt", buf, sizeof(buf)) > 0 &&
	       strtoull(buf, NULL, 10) > 0;
}

int cg_run_set_memory(const struct cg_root *root, const struct cg_run *run,
		      uint64_t memory_mb)
{
	char mem[32];
	const char *d;
	int r;

	snprintf(mem, sizeof(mem), "%" PRIu64, memory_mb << 20);
	if (root->mode == CG_V2)
		return write_file(run->path[0], "memory.max", mem);
	d = root->mode == CG_V1 ? v1_dir(root, run, CG1_MEMORY) : NULL;
	if (!d)
		return 0;
	/* memsw may never be below the memory limit: which goes first
	 * depends on the direction. Raising memsw fails when it is lower. */
	if (!root->swap)
		return write_file(d, "memory.limit_in_bytes", mem);
	r = write_file(d, "memory.memsw.limit_in_bytes", mem);
	if (r == 0)
		return write_file(d, "memory.limit_in_bytes", mem);
	r = write_file(d, "memory.limit_in_bytes", mem);
	if (r == 0)
		r = write_file(d, "memory.memsw.limit_in_bytes", mem);
	return r;
}

/* v2: are `pid` and `also` (unless it is 0) listed in dir/cgroup.procs? */
static bool lists_pids(const char *dir, pid_t pid, pid_t also)
{
	char buf[16384], *p, *end;
	bool seen = false, seen_also = also == 0;

	if (read_file(dir, "cgroup.procs", buf, sizeof(buf)) <= 0)
		return false;
	for (p = buf; *p && !(seen && seen_also); p = end) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		seen = seen || v == (long)pid;
		seen_also = seen_also || v == (long)also;
		while (*end == '\n')
			end++;
	}
	return seen && seen_also;
}

bool cg_text_in(const struct cg_root *root, const struct cg_run *run,
		const char *text)
{
	int in = 0;

	for (int c = 0; c < CG1_N; c++) {
		const char *d = v1_dir(root, run, c), *name;
		char want[PATH_MAX], got[PATH_MAX];

		if (!root->base[c][0])
			continue;
		name = d ? strrchr(d, '/') : NULL;
		if (!name || !root->named[c][0] ||
		    str_concat(want, sizeof(want), root->named[c], name, "") <
			    0 ||
		    !own_path(text, v1_names[c], got, sizeof(got)) ||
		    strcmp(got, want) != 0)
			return false;
		in++;
	}
	return in > 0 && in == run->n;
}

/* /proc/PID/cgroup into buf (see read_text). */
static ssize_t read_proc_cgroup(pid_t pid, char *buf, size_t size)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	return read_text(path, buf, size);
}

/* v1: is `pid` in every directory of the run's cgroup? */
static bool v1_holds(const struct cg_root *root, const struct cg_run *run,
		     pid_t pid)
{
	char text[sizeof(((struct cg_seen *)0)->text)];
	ssize_t n = read_proc_cgroup(pid, text, sizeof(text));

	return n > 0 && (size_t)n < sizeof(text) - 1 &&
	       cg_text_in(root, run, text);
}

int cg_run_holds(const struct cg_root *root, const struct cg_run *run,
		 pid_t pid, pid_t also)
{
	if (root->mode == CG_NONE)
		return 0;
	if (run->n == 0)
		return -ESTALE;
	if (root->mode == CG_V1)
		return v1_holds(root, run, pid) &&
				       (also == 0 || v1_holds(root, run, also))
			       ? 0
			       : -ESTALE;
	for (int i = 0; i < run->n; i++)
		if (!run->path[i][0] || !lists_pids(run->path[i], pid, also))
			return -ESTALE;
	return 0;
}

void cg_run_note(const struct cg_root *root, pid_t pid, struct cg_seen *seen)
{
	ssize_t n;

	seen->len = 0;
	if (root->mode == CG_NONE)
		return;
	n = read_proc_cgroup(pid, seen->text, sizeof(seen->text));
	if (n > 0 && (size_t)n < sizeof(seen->text) - 1)
		seen->len = (size_t)n;
}

int cg_run_holds_noted(const struct cg_root *root, const struct cg_run *run,
		       pid_t pid, pid_t also, struct cg_seen *seen)
{
	int r;

	if (root->mode != CG_V1) {
		r = cg_run_holds(root, run, pid, also);
		if (r == 0)
			cg_run_note(root, pid, seen);
		return r;
	}
	cg_run_note(root, pid, seen);
	if (run->n == 0 || !seen->len ||
	    !cg_text_in(root, run, seen->text) ||
	    (also != 0 && !v1_holds(root, run, also))) {
		seen->len = 0;
		return -ESTALE;
	}
	return 0;
}

int cg_run_still(const struct cg_root *root, const struct cg_run *run,
		 pid_t pid, const struct cg_seen *seen)
{
	char now[sizeof(seen->text)];
	ssize_t n;

	if (root->mode == CG_NONE)
		return 0;
	if (!seen->len)
		return cg_run_holds(root, run, pid, 0);
	n = read_proc_cgroup(pid, now, sizeof(now));
	if (n < 0 || (size_t)n != seen->len ||
	    memcmp(now, seen->text, seen->len) != 0)
		return -ESTALE;
	return 0;
}

int cg_run_set_idle(const struct cg_root *root, const struct cg_run *run,
		    bool idle)
{
	const char *d = NULL;
	int r;

	if (root->mode == CG_V2)
		d = run->n ? run->path[0] : NULL;
	else if (root->mode == CG_V1)
		d = v1_dir(root, run, CG1_CPU);
	if (!d)
		return -ENOENT;
	r = write_file(d, "cpu.idle", idle ? "1" : "0");
	if (r != -ENOENT)
		return r;
	if (root->mode == CG_V2)
		return write_file(d, "cpu.weight", idle ? "1" : "100");
	return write_file(d, "cpu.shares", idle ? "2" : "1024");
}

/* A byte count of the run's memory controller (`v2` or `v1`, by the
 * hierarchy's version), in KiB, or -1. */
static long memory_kb(const struct cg_root *root, const struct cg_run *run,
		      const char *v2, const char *v1)
{
	char buf[64];
	const char *d = NULL;
	const char *file = NULL;

	if (root->mode == CG_V2)
		d = run->n ? run->path[0] : NULL, file = v2;
	else if (root->mode == CG_V1)
		d = v1_dir(root, run, CG1_MEMORY), file = v1;
	if (d && read_file(d, file, buf, sizeof(buf)) > 0)
		return (long)(strtoull(buf, NULL, 10) / 1024);
	return -1;
}

long cg_run_usage_kb(const struct cg_root *root, const struct cg_run *run)
{
	return memory_kb(root, run, "memory.current", "memory.usage_in_bytes");
}

uint64_t cg_run_peak_kb(const struct cg_root *root, const struct cg_run *run)
{
	long kb = memory_kb(root, run, "memory.peak",
			    "memory.max_usage_in_bytes");

	return kb < 0 ? 0 : (uint64_t)kb;
}

int cg_run_try_destroy(const struct cg_root *root, struct cg_run *run,
		       bool wait)
{
	int left = 0;

	if (wait) {
		cg_run_destroy(root, run);
		return 0;
	}
	for (int i = 0; i < run->n; i++) {
		if (!run->path[i][0])
			continue;
		if (held_call(HELD_RMDIR, run->path[i], 0) == 0 ||
		    errno == ENOENT) {
			run->path[i][0] = '\0';
			continue;
		}
		kill_procs(run->path[i]);
		left++;
	}
	if (left == 0)
		run->n = 0;
	return left ? -EBUSY : 0;
}

void cg_run_destroy(const struct cg_root *root, struct cg_run *run)
{
	(void)root;
	for (int i = 0; i < run->n; i++) {
		if (!run->path[i][0])
			continue;
		kill_procs(run->path[i]);
		remove_dir(run->path[i]);
	}
	run->n = 0;
}

/* A whole /proc file, NUL-terminated; NULL on failure. */
static char *slurp(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0, cap = 16384;
	char *buf = fd < 0 ? NULL : malloc(cap);

	while (buf) {
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0) {
				free(buf);
				return NULL;
			}
			break;
		}
		len += (size_t)n;
		if (len + 1 == cap) {
			char *p = realloc(buf, cap * 2);
			if (!p) {
				free(buf);
				return NULL;
			}
			buf = p;
			cap *= 2;
		}
	}
	if (buf)
		buf[len] = '\0';
	return buf;
}

int cg_prepare_self(struct cg_root *root, const char *mode, pexos_error *err)
{
	_cleanup_free_ char *self = NULL, *mountinfo = NULL;

	if (strcmp(mode, "rlimit") == 0)
		return cg_prepare(root, mode, "/sys/fs/cgroup", "", "", err);
	self = slurp("/proc/self/cgroup");
	mountinfo = slurp("/proc/self/mountinfo");
	if (!self || !mountinfo)
		return pexos_fail_errno(err, errno ? errno : EIO, "cgroup",
					"read /proc/self/cgroup and "
					"/proc/self/mountinfo");
	return cg_prepare(root, mode, "/sys/fs/cgroup", self, mountinfo, err);
}
