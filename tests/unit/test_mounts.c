/* SPDX-License-Identifier: MIT */
/*
 * The sandbox's filesystem: the plan mnt_prepare() makes for the default
 * options, then the same plan applied for real by mnt_apply_child() in a
 * child cloned into new user, mount and pid namespaces (as a run's init
 * is), which reports what it sees from inside: its mount table and which
 * paths it can create files in.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "mounts.h"
#include "ns.h"
#include "plan.h"
#include "supervise.h"
#include "tap.h"
#include "util.h"

/* The plan's paths carry the staging prefix: the root is built on /tmp. */
#define STAGE "/tmp"

static const struct mnt_op *find(const struct pexos_context *ctx,
				 enum mnt_kind kind, const char *dst)
{
	char full[PATH_MAX];

	snprintf(full, sizeof(full), STAGE "%s", dst);
	for (size_t i = 0; i < ctx->n_mnt_ops; i++)
		if (ctx->mnt_ops[i].kind == kind &&
		    strcmp(ctx->mnt_ops[i].dst, full) == 0)
			return &ctx->mnt_ops[i];
	return NULL;
}

static size_t index_of(const struct pexos_context *ctx, const struct mnt_op *op)
{
	return op ? (size_t)(op - ctx->mnt_ops) : (size_t)-1;
}

static void check_plan_fs(const struct pexos_context *ctx)
{
	const struct mnt_op *root = &ctx->mnt_ops[0];
	const struct mnt_op *tmp = find(ctx, MNT_TMPFS, "/tmp");
	const struct mnt_op *usr = find(ctx, MNT_BIND_RO, "/usr");
	char want[64];

	snprintf(want, sizeof(want), "size=%" PRIu64 "k,",
		 1024 + 2 * ((ctx->mnt_copy_bytes + 1023) / 1024));
	tap_ok(root->kind == MNT_TMPFS && strcmp(root->dst, STAGE) == 0 &&
		   strncmp(root->data, want, strlen(want)) == 0 &&
		   root->flags == (MS_NOSUID | MS_NODEV),
	       "first: the new root, a tmpfs of 1 MiB and twice the copies "
	       "(%" PRIu64 " bytes), nosuid and nodev (%s)",
	       ctx->mnt_copy_bytes, root->data);
	tap_ok(usr && strcmp(usr->src, "/usr") == 0,
	       "/usr: a read-only bind of the host's /usr");
	snprintf(want, sizeof(want), "size=%" PRIu64 "m,mode=1777",
		 ctx->opts.tmp_mb);
	tap_ok(tmp && strcmp(tmp->data, want) == 0 &&
		   tmp->flags == (MS_NOSUID | MS_NODEV),
	       "/tmp: tmpfs '%s', want '%s', nosuid and nodev",
	       tmp ? tmp->data : "(none)", want);
	tap_ok(find(ctx, MNT_PROC, "/proc") != NULL, "/proc: a fresh proc");
}

/* The run's own /dev/shm (as large as /tmp) and devpts instance. */
static void check_plan_dev_mounts(const struct pexos_context *ctx,
				  const struct mnt_op *ro)
{
	const struct mnt_op *shm = find(ctx, MNT_TMPFS, "/dev/shm");
	const struct mnt_op *pts = find(ctx, MNT_DEVPTS, "/dev/pts");
	const struct mnt_op *ptmx = find(ctx, MNT_SYMLINK, "/dev/ptmx");
	char want[64];

	snprintf(want, sizeof(want), "size=%" PRIu64 "m,mode=1777",
		 ctx->opts.tmp_mb);
	tap_ok(shm && strcmp(shm->data, want) == 0 &&
		   shm->flags == (MS_NOSUID | MS_NODEV) &&
		   index_of(ctx, shm) < index_of(ctx, ro),
	       "/dev/shm: tmpfs '%s', want '%s', nosuid and nodev, mounted "
	       "before /dev goes read-only",
	       shm ? shm->data : "(none)", want);
	tap_ok(pts && strstr(pts->data, "newinstance") &&
		   strstr(pts->data, "ptmxmode=0666") &&
		   (pts->flags & MS_NOSUID) && (pts->flags & MS_NOEXEC) &&
		   index_of(ctx, pts) < index_of(ctx, ro),
	       "/dev/pts: a new devpts instance '%s', nosuid and noexec",
	       pts ? pts->data : "(none)");
	tap_ok(ptmx && strcmp(ptmx->src, "pts/ptmx") == 0,
	       "/dev/ptmx: a symlink to the instance's ptmx");
}

static void check_plan_dev(const struct pexos_context *ctx)
{
	static const char *const nodes[] = {"/dev/null", "/dev/zero",
					    "/dev/full", "/dev/random",
					    "/dev/urandom"};
	const struct mnt_op *dev = find(ctx, MNT_TMPFS, "/dev");
	const struct mnt_op *ro = find(ctx, MNT_REMOUNT_RO, "/dev");
	size_t n_dev = 0;

	tap_ok(dev && (dev->flags & MS_NOSUID) && (dev->flags & MS_NOEXEC),
	       "/dev: its own tmpfs, nosuid and noexec");
	for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
		const struct mnt_op *op = find(ctx, MNT_BIND_DEV, nodes[i]);
		tap_ok(op && strcmp(op->src, nodes[i]) == 0 &&
			   index_of(ctx, op) < index_of(ctx, ro),
		       "%s: the host's node, bound before /dev goes read-only",
		       nodes[i]);
	}
	for (size_t i = 0; i < ctx->n_mnt_ops; i++)
		n_dev += ctx->mnt_ops[i].kind == MNT_BIND_DEV;
	tap_ok(n_dev == ELEMENTSOF(nodes), "no other device node (%zu)", n_dev);
	tap_ok(ro && index_of(ctx, ro) > index_of(ctx, dev),
	       "/dev is remounted read-only once filled");
	check_plan_dev_mounts(ctx, ro);
}

static void check_plan_etc(const struct pexos_context *ctx)
{
	static const char *const files[] = {"/etc/passwd", "/etc/group",
					    "/etc/hosts", "/etc/hostname",
					    "/etc/nsswitch.conf"};
	const struct mnt_op *hn = find(ctx, MNT_WRITE, "/etc/hostname");
	const struct mnt_op *pw = find(ctx, MNT_WRITE, "/etc/passwd");

	for (size_t i = 0; i < ELEMENTSOF(files); i++)
		tap_ok(find(ctx, MNT_WRITE, files[i]) != NULL,
		       "%s is generated, not the host's", files[i]);
	tap_ok(hn && strcmp(hn->data, SANDBOX_HOSTNAME "\n") == 0,
	       "/etc/hostname names the sandbox");
	tap_ok(pw && strstr(pw->data, "sandbox:x:1000:1000:") &&
		   !strstr(pw->data, "/bin/sh"),
	       "/etc/passwd: the sandbox user, no login shell");
	tap_ok(find(ctx, MNT_BIND_RO, "/etc") == NULL,
	       "the host's /etc is not bound");
	tap_ok(find(ctx, MNT_COPY, "/etc/ld.so.cache") &&
		       find(ctx, MNT_COPY, "/etc/services"),
	       "/etc/ld.so.cache and /etc/services: copied, not mounted");
}

/* What the plan takes from the host: only what an interpreter needs. */
static void check_plan_sources(const struct pexos_context *ctx)
{
	static const char *const allowed[] = {"/usr",
					      "/bin",
					      "/sbin",
					      "/lib",
					      "/lib32",
					      "/lib64",
					      "/libx32",
					      "/etc/alternatives",
					      "/etc/ld.so.cache",
					      /* public files ordinary calls
					       * read (mounts.c) */
					      "/etc/services",
					      "/etc/protocols",
					      "/etc/mime.types",
					      "/etc/ssl/openssl.cnf",
					      "/etc/matplotlibrc",
					      "/etc/ssl/certs",
					      "/etc/fonts",
					      "/dev/null",
					      "/dev/zero",
					      "/dev/full",
					      "/dev/random",
					      "/dev/urandom"};
	size_t bad = 0, tmpfs_rw = 0;

	for (size_t i = 0; i < ctx->n_mnt_ops; i++) {
		const struct mnt_op *op = &ctx->mnt_ops[i];
		bool ok = false;
		if (op->kind != MNT_BIND_RO && op->kind != MNT_BIND_DEV &&
		    op->kind != MNT_COPY)
			continue;
		for (size_t k = 0; k < ELEMENTSOF(allowed); k++)
			ok = ok || strcmp(op->src, allowed[k]) == 0;
		if (!ok)
			printf("# the plan binds %s\n", op->src), bad++;
	}
	tap_ok(bad == 0, "the plan binds nothing else of the host");
	/* tmpfs mounts other than the root (made read-only at the end) and
	 * /tmp must be remounted read-only. */
	for (size_t i = 1; i < ctx->n_mnt_ops; i++) {
		const struct mnt_op *op = &ctx->mnt_ops[i];
		if (op->kind == MNT_TMPFS && strcmp(op->dst, STAGE "/tmp") &&
		    strcmp(op->dst, STAGE "/dev/shm") &&
		    !find(ctx, MNT_REMOUNT_RO, op->dst + strlen(STAGE)))
			printf("# %s stays writable\n", op->dst), tmpfs_rw++;
	}
	tap_ok(tmpfs_rw == 0,
	       "no writable tmpfs in the plan but /tmp and /dev/shm");
}

/* ---- the plan applied ------------------------------------------------- */

static void say(int fd, const char *name, int value)
{
	dprintf(fd, "%s %d\n", name, value);
}

static int try_create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

	if (fd < 0)
		return errno;
	close(fd);
	unlink(path);
	return 0;
}

/* The host's /etc files the plan copies (mounts.c, MNT_COPY), each with
 * a checksum of its bytes on the host, taken before the child starts. */
static const char *const copied[] = {"/etc/ld.so.cache", "/etc/services"};
/* A file the plan copies that is gone from the host by the time it is
 * applied: appended to the plan by main(). */
#define VANISHED "/etc/pexos-test-vanished"
static uint32_t copied_sum[ELEMENTSOF(copied)];

/* FNV-1a of a file's bytes, 0 when it cannot be read. */
static uint32_t file_sum(const char *path)
{
	unsigned char buf[4096];
	uint32_t h = 2166136261u;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * 16777619u;
	close(fd);
	return h;
}

/* In the child, after the mounts: one "key value" line per fact, then the
 * mount table. The test process has one thread, so stdio is safe here. */
static void report_inside(int out)
{
	static const char *const paths[] = {"/x",     "/etc/x",	   "/usr/x",
					    "/dev/x", "/bin/x",	   "/proc/x",
					    "/tmp/x", "/dev/shm/x"};
	struct statvfs sv;
	char buf[8192];
	ssize_t n;
	int fd;

	for (size_t i = 0; i < ELEMENTSOF(paths); i++)
		dprintf(out, "create %s %d\n", paths[i], try_create(paths[i]));
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	say(out, "devnull_write",
	    fd >= 0 && write(fd, "x", 1) == 1 ? 0 : errno);
	say(out, "tmp_mb",
	    statvfs("/tmp", &sv) == 0
		? (int)((uint64_t)sv.f_blocks * sv.f_frsize >> 20)
		: -1);
	say(out, "shm_mb",
	    statvfs("/dev/shm", &sv) == 0
		? (int)((uint64_t)sv.f_blocks * sv.f_frsize >> 20)
		: -1);
	say(out, "root_ro", statvfs("/", &sv) == 0 && (sv.f_flag & ST_RDONLY));
	say(out, "proc_self", access("/proc/self/status", R_OK) == 0);
	say(out, "host_home",
	    access("/home", F_OK) == 0 || access("/root", F_OK) == 0 ||
		access("/var", F_OK) == 0);
	for (size_t i = 0; i < ELEMENTSOF(copied); i++)
		dprintf(out, "same %s %d\n", copied[i],
			copied_sum[i] != 0 && file_sum(copied[i]) == copied_sum[i]);
	say(out, "vanished", access(VANISHED, F_OK) == 0 ? 0 : errno);
	fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	dprintf(out, "mountinfo\n");
	while (fd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0)
		write_all(out, buf, (size_t)n);
}

static _Noreturn void child(const struct pexos_context *ctx, int go, int out)
{
	pexos_error err = {0};
	char c;

	if (read(go, &c, 1) != 1)
		_exit(1);
	if (ns_apply_child(&err) < 0 || mnt_apply_child(ctx, &err) < 0) {
		dprintf(out, "error %s: %s\n", err.step, err.message);
		_exit(1);
	}
	report_inside(out);
	_exit(0);
}

/* Clones a child as a run's init is cloned, gives it the run's id maps,
 * lets it apply the plan and collects its report. */
static size_t run_applied(const struct pexos_context *ctx, char *buf,
			  size_t size)
{
	int go[2], out[2], pidfd = -1;
	size_t len = 0;
	pexos_error err = {0};
	pid_t pid;
	ssize_t n;

	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return 0;
	fflush(stdout);
	pid = sup_clone(NS_CLONE_FLAGS, &pidfd);
	if (pid == 0)
		child(ctx, go[0], out[1]);
	close(out[1]);
	close(go[0]);
	if (pid < 0 || ns_setup_parent(ctx, pid, &err) < 0) {
		printf("# clone or id maps: %s\n",
		       pid < 0 ? strerror(-pid) : err.message);
		return 0;
	}
	write_all(go[1], "g", 1);
	while (len + 1 < size &&
	       (n = read(out[0], buf + len, size - len - 1)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	sup_reap(pidfd, NULL);
	close(pidfd);
	close(go[1]);
	close(out[0]);
	return len;
}

static int value(const char *report, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\n%s ", key);
	p = strstr(report, pat);
	return p ? atoi(p + strlen(pat)) : -999;
}

/* Mount options are field 6 of mountinfo: "ro" or "rw,...". */
static void check_mountinfo(const char *mi)
{
	static const char *const rw_ok[] = {
	    "/tmp",	    "/proc",	 "/dev/null",
	    "/dev/zero",    "/dev/full", "/dev/random",
	    "/dev/urandom", "/dev/shm",	 "/dev/pts"};
	size_t mounts = 0, rw_bad = 0;
	char line[1024];

	while (mi && sscanf(mi, "%1023[^\n]", line) == 1) {
		char point[512], opts[256];
		bool ok = false;
		if (sscanf(line, "%*s %*s %*s %*s %511s %255s", point, opts) ==
		    2) {
			mounts++;
			for (size_t i = 0; i < ELEMENTSOF(rw_ok); i++)
				ok = ok || strcmp(point, rw_ok[i]) == 0;
			if (strncmp(opts, "ro", 2) != 0 && !ok) {
				printf("# writable inside: %s\n", line);
				rw_bad++;
			}
		}
		mi = strchr(mi, '\n');
		mi = mi ? mi + 1 : NULL;
	}
	tap_ok(mounts >= 10, "inside: %zu mounts", mounts);
	tap_ok(rw_bad == 0,
	       "inside: every mount read-only but /tmp, /proc, the device "
	       "nodes, /dev/shm and /dev/pts");
}

static void check_applied(const struct pexos_context *ctx)
{
	static char report[65536] = "\n";
	static const char *const ro[] = {"/x", "/etc/x", "/usr/x", "/dev/x",
					 "/bin/x"};
	char key[64];
	int e;

	if (!tap_ok(run_applied(ctx, report + 1, sizeof(report) - 1) > 0 &&
			!strstr(report, "\nerror "),
		    "the plan applies in new namespaces%.300s",
		    strstr(report, "\nerror ") ? strstr(report, "\nerror ")
					       : ""))
		return;
	for (size_t i = 0; i < ELEMENTSOF(ro); i++) {
		snprintf(key, sizeof(key), "create %s", ro[i]);
		e = value(report, key);
		tap_ok(e == EROFS, "inside: %s cannot be created: %s", ro[i],
		       e >= 0 ? strerror(e) : "(no answer)");
	}
	e = value(report, "create /proc/x");
	tap_ok(e > 0, "inside: /proc/x cannot be created: %s",
	       e > 0 ? strerror(e) : "created");
	e = value(report, "create /tmp/x");
	tap_ok(e == 0, "inside: /tmp is writable (%s)", e ? strerror(e) : "ok");
	e = value(report, "create /dev/shm/x");
	tap_ok(e == 0, "inside: /dev/shm is writable (%s)",
	       e ? strerror(e) : "ok");
	tap_ok(value(report, "shm_mb") == (int)ctx->opts.tmp_mb,
	       "inside: /dev/shm holds %d MiB, want %d (as /tmp)",
	       value(report, "shm_mb"), (int)ctx->opts.tmp_mb);
	tap_ok(value(report, "devnull_write") == 0, "inside: /dev/null works");
	tap_ok(value(report, "tmp_mb") == (int)ctx->opts.tmp_mb,
	       "inside: /tmp holds %d MiB, want %d", value(report, "tmp_mb"),
	       (int)ctx->opts.tmp_mb);
	tap_ok(value(report, "root_ro") == 1, "inside: / is read-only");
	tap_ok(value(report, "proc_self") == 1, "inside: /proc is mounted");
	tap_ok(value(report, "host_home") == 0,
	       "inside: no /home, /root or /var of the host");
	for (size_t i = 0; i < ELEMENTSOF(copied); i++) {
		char point[64];

		snprintf(key, sizeof(key), "same %s", copied[i]);
		snprintf(point, sizeof(point), " %s ", copied[i]);
		tap_ok(value(report, key) == 1 &&
			       !strstr(strstr(report, "\nmountinfo\n")
					       ? strstr(report, "\nmountinfo\n")
					       : "",
				       point),
		       "inside: %s holds the host's bytes, and is no mount",
		       copied[i]);
	}
	tap_ok(value(report, "vanished") == ENOENT,
	       "inside: a copied file gone from the host is left out (%d)",
	       value(report, "vanished"));
	check_mountinfo(strstr(report, "\nmountinfo\n")
			    ? strstr(report, "\nmountinfo\n") + 11
			    : NULL);
}

int main(void)
{
	pexos_options *o = pexos_options_new();
	struct pexos_context *ctx = calloc(1, sizeof(*ctx));
	pexos_error err = {0};

	if (!o || !ctx)
		return 1;
	/* Not the default 64, so that a fixed size would show. */
	if (pexos_options_set(o, "tmp_mb", "24", &err) < 0)
		return 1;
	ctx->opts = *o;
	ns_prepare(ctx);
	for (size_t i = 0; i < ELEMENTSOF(copied); i++)
		copied_sum[i] = file_sum(copied[i]);
	if (!tap_ok(mnt_prepare(ctx, &err) == 0, "the plan is made %s",
		    err.message))
		return tap_done();
	check_plan_fs(ctx);
	check_plan_dev(ctx);
	check_plan_etc(ctx);
	check_plan_sources(ctx);
	if (ctx->n_mnt_ops < MNT_OPS_MAX) {
		struct mnt_op *op = &ctx->mnt_ops[ctx->n_mnt_ops++];

		op->kind = MNT_COPY;
		snprintf(op->src, sizeof(op->src), "/nonexistent" VANISHED);
		snprintf(op->dst, sizeof(op->dst), STAGE VANISHED);
	}
	check_applied(ctx);
	free(ctx->mnt_ops);
	free(ctx);
	pexos_options_free(o);
	return tap_done();
}
