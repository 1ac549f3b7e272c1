/* SPDX-License-Identifier: MIT */
#include "mounts.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "mnt_dev.h"
#include "proto.h"
#include "util.h"

/* The new root is assembled on a tmpfs mounted over /tmp in the run's own
 * mount namespace (the host's /tmp is untouched), then pivoted into. */
#define STAGE "/tmp"

static const char passwd_text[] =
	"root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n"
	"sandbox:x:1000:1000:pexos sandbox:/tmp:/usr/sbin/nologin\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
static const char group_text[] = "root:x:0:\nsandbox:x:1000:\n"
				 "nogroup:x:65534:\n";
static const char hosts_text[] = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
				 "127.0.1.1\t" SANDBOX_HOSTNAME "\n";
static const char nsswitch_text[] = "passwd: files\ngroup: files\n"
				    "hosts: files\n";

static struct mnt_op *add(struct pexos_context *ctx, enum mnt_kind kind,
			  const char *src, const char *dst)
{
	struct mnt_op *op;

	if (ctx->n_mnt_ops >= MNT_OPS_MAX)
		return NULL;
	op = &ctx->mnt_ops[ctx->n_mnt_ops++];
	op->kind = kind;
	snprintf(op->src, sizeof(op->src), "%s", src ? src : "");
	snprintf(op->dst, sizeof(op->dst), STAGE "%s", dst);
	return op;
}

/* /bin, /lib, ... are symlinks into /usr on merged-/usr systems (Debian 12)
 * and real directories elsewhere: copy whichever the host has. */
static void add_top_dir(struct pexos_context *ctx, const char *dir)
{
	char target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (lstat(dir, &st) < 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		n = readlink(dir, target, sizeof(target) - 1);
		if (n <= 0)
			return;
		target[n] = '\0';
		add(ctx, MNT_SYMLINK, target, dir);
	} else if (S_ISDIR(st.st_mode)) {
		add(ctx, MNT_BIND_RO, dir, dir);
	}
}

static void add_write(struct pexos_context *ctx, const char *dst,
		      const char *text)
{
	struct mnt_op *op = add(ctx, MNT_WRITE, NULL, dst);
	if (op)
		snprintf(op->data, sizeof(op->data), "%s", text);
}

/* A host file copied into the new root (read-only once assembled) at
 * each set-up, where it was bound: every mount of the root is copied
 * again into each warm slot's mount namespace and torn down with it
 * (seven /etc files were a third of a slot's 22 mounts, 2 to 3 % of the
 * machine's CPU a hello request at c=4). The root's size allows for
 * them: mnt_prepare. */
static void add_copy(struct pexos_context *ctx, const char *src,
		     const char *dst)
{
	struct stat st;

	if (stat(src, &st) == 0 && S_ISREG(st.st_mode) &&
	    add(ctx, MNT_COPY, src, dst))
		ctx->mnt_copy_bytes += (uint64_t)st.st_size;
}

/* Public files of the host's /etc that ordinary library calls read, each
 * copied or bound read-only when present. None holds a secret:
 * /etc/ssl/private, machine-id, shadow and the like are never taken. */
static void add_etc_public(struct pexos_context *ctx)
{
	static const char *const files[] = {
		"/etc/services",	/* socket.getservbyname, getaddrinfo */
		"/etc/protocols",	/* socket.getprotobyname */
		"/etc/mime.types",	/* mimetypes */
		"/etc/ssl/openssl.cnf", /* read by OpenSSL at its start */
		"/etc/matplotlibrc",	/* Debian moves matplotlib's here */
	};
	static const char *const dirs[] = {
		"/etc/ssl/certs", /* the CA store: ssl.create_default_context */
		"/etc/fonts",	  /* fontconfig; the fonts are under /usr */
	};
	struct stat st;

	if (stat("/etc/ssl", &st) == 0 && S_ISDIR(st.st_mode))
		add(ctx, MNT_MKDIR, NULL, "/etc/ssl");
	for (size_t i = 0; i < ELEMENTSOF(files); i++)
		add_copy(ctx, files[i], files[i]);
	for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
		if (stat(dirs[i], &st) == 0 && S_ISDIR(st.st_mode))
			add(ctx, MNT_BIND_RO, dirs[i], dirs[i]);
}

static void add_etc(struct pexos_context *ctx)
{
	char target[PATH_MAX];
	ssize_t n;

	add(ctx, MNT_MKDIR, NULL, "/etc");
	add_write(ctx, "/etc/passwd", passwd_text);
	add_write(ctx, "/etc/group", group_text);
	add_write(ctx, "/etc/hosts", hosts_text);
	add_write(ctx, "/etc/hostname", SANDBOX_HOSTNAME "\n");
	add_write(ctx, "/etc/nsswitch.conf", nsswitch_text);
	/* The dynamic linker needs its cache for the multiarch lib dirs. */
	add_copy(ctx, "/etc/ld.so.cache", "/etc/ld.so.cache");
	/* Debian's alternatives (libblas.so.3, liblapack.so.3, ...): a
	 * directory of symlinks into /usr that numpy needs. */
	if (access("/etc/alternatives", X_OK) == 0)
		add(ctx, MNT_BIND_RO, "/etc/alternatives", "/etc/alternatives");
	/* Time zone: a symlink into /usr/share/zoneinfo on Debian. */
	n = readlink("/etc/localtime", target, sizeof(target) - 1);
	if (n > 0) {
		target[n] = '\0';
		add(ctx, MNT_SYMLINK, target, "/etc/localtime");
	}
	add_etc_public(ctx);
}

/* matplotlib's font list, built once per host (fontcache.c): its files,
 * copied into the generated /etc beside Debian's /etc/matplotlibrc; no
 * /var of any kind in the sandbox. */
static void add_font_cache(struct pexos_context *ctx)
{
	/* dst fits in a mnt_op's after STAGE */
	char src[PATH_MAX], dst[PATH_MAX - sizeof(STAGE)];
	struct dirent *e;
	DIR *d;

	if (!ctx->font_cache || !(d = opendir(ctx->font_cache)))
		return;
	add(ctx, MNT_MKDIR, NULL, PROTO_FONT_CACHE);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' &&
		    snprintf(src, sizeof(src), "%s/%s", ctx->font_cache,
			     e->d_name) < (int)sizeof(src) &&
		    snprintf(dst, sizeof(dst), "%s/%s", PROTO_FONT_CACHE,
			     e->d_name) < (int)sizeof(dst))
			add_copy(ctx, src, dst);
	closedir(d);
}

/* The mounts of /dev that are the run's own (mnt_dev.h): /dev/shm, sized
 * like /tmp, and a new devpts instance with /dev/ptmx pointing into it. */
static void add_dev_mounts(struct pexos_context *ctx)
{
	struct mnt_op *op = add(ctx, MNT_TMPFS, NULL, "/dev/shm");

	if (op) {
		op->flags = MNT_SHM_FLAGS;
		snprintf(op->data, sizeof(op->data), MNT_SHM_DATA,
			 (unsigned long long)ctx->opts.tmp_mb);
	}
	op = add(ctx, MNT_DEVPTS, NULL, "/dev/pts");
	if (op) {
		op->flags = MNT_PTS_FLAGS;
		snprintf(op->data, sizeof(op->data), "%s", MNT_PTS_DATA);
	}
	add(ctx, MNT_SYMLINK, "pts/ptmx", "/dev/ptmx");
}

static void add_dev(struct pexos_context *ctx)
{
	static const char *const nodes[] = {"null", "zero", "full", "random",
					    "urandom"};
	static const char *const links[][2] = {
		{"/proc/self/fd", "/dev/fd"},
		{"/proc/self/fd/0", "/dev/stdin"},
		{"/proc/self/fd/1", "/dev/stdout"},
		{"/proc/self/fd/2", "/dev/stderr"},
	};
	struct mnt_op *op = add(ctx, MNT_TMPFS, NULL, "/dev");
	char src[32], dst[32];

	if (op) {
		op->flags = MS_NOSUID | MS_NOEXEC;
		snprintf(op->data, sizeof(op->data), "size=64k,mode=0755");
	}
	for (size_t i = 0; i < ELEMENTSOF(nodes); i++) {
		snprintf(src, sizeof(src), "/dev/%s", nodes[i]);
		add(ctx, MNT_BIND_DEV, src, src);
	}
	for (size_t i = 0; i < ELEMENTSOF(links); i++) {
		snprintf(dst, sizeof(dst), "%s", links[i][1]);
		add(ctx, MNT_SYMLINK, links[i][0], dst);
	}
	add_dev_mounts(ctx);
	/* Read-only from here: the mounts on /dev/shm and /dev/pts keep their
	 * own flags. */
	add(ctx, MNT_REMOUNT_RO, NULL, "/dev");
}

int mnt_prepare(struct pexos_context *ctx, pexos_error *err)
{
	static const char *const top[] = {"/bin",   "/sbin",  "/lib",
					  "/lib32", "/lib64", "/libx32"};
	struct mnt_op *op;
	struct stat st;

	if (stat(STAGE, &st) < 0 || !S_ISDIR(st.st_mode))
		return pexos_fail(err, ENOENT, "mounts",
				  "the directory " STAGE " is missing; pexos "
				  "assembles each sandbox's root on it");
	ctx->mnt_ops = calloc(MNT_OPS_MAX, sizeof(*ctx->mnt_ops));
	if (!ctx->mnt_ops)
		return pexos_fail(err, ENOMEM, "mounts", "out of memory");

	/* The root: a small tmpfs, read-only once assembled. */
	ctx->mnt_copy_bytes = 0;
	op = add(ctx, MNT_TMPFS, NULL, ""); /* first: never NULL */
	op->flags = MS_NOSUID | MS_NODEV;
	add(ctx, MNT_BIND_RO, "/usr", "/usr");
	for (size_t i = 0; i < ELEMENTSOF(top); i++)
		add_top_dir(ctx, top[i]);
	add_etc(ctx);
	add_font_cache(ctx);
	add(ctx, MNT_PROC, NULL, "/proc");
	add_dev(ctx);
	op = add(ctx, MNT_TMPFS, NULL, "/tmp");
	if (op) {
		op->flags = MS_NOSUID | MS_NODEV;
		snprintf(op->data, sizeof(op->data),
			 "size=%" PRIu64 "m,mode=1777", ctx->opts.tmp_mb);
	}
	/* 1 MiB for what is written, and twice the copies' size today: a
	 * file that grows (ld.so.cache after an install) still fits. */
	snprintf(ctx->mnt_ops[0].data, sizeof(ctx->mnt_ops[0].data),
		 "size=%" PRIu64 "k,mode=0755",
		 1024 + 2 * ((ctx->mnt_copy_bytes + 1023) / 1024));
	/* add() drops what does not fit; a full table means it did. */
	if (ctx->n_mnt_ops >= MNT_OPS_MAX)
		return pexos_fail(err, E2BIG, "mounts", "too many mounts");
	return 0;
}

/* ---- child side: syscalls only ---------------------------------------- */

/* Paths in messages are the sandbox's own, without the staging prefix. */
#define CHILD_FAIL(err, what, arg)                                             \
	pexos_fail_child(err, errno, "mount", what, in_sandbox(arg))

static const char *in_sandbox(const char *path)
{
	size_t n = sizeof(STAGE) - 1;

	if (path && strncmp(path, STAGE, n) == 0)
		return path[n] ? path + n : "/";
	return path;
}

/* Flags the kernel locks on a mount made in a less privileged namespace:
 * a remount must repeat them or it fails with EPERM. */
static unsigned long locked_flags(const char *path)
{
	struct statfs sf;
	unsigned long keep = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME |
			     MS_NODIRATIME | MS_RELATIME;

	if (statfs(path, &sf) < 0)
		return 0;
	return (unsigned long)sf.f_flags & keep;
}

static int make_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int r = 0;

	if (fd < 0)
		return -1;
	if (len > 0 && write_all(fd, text, len) < 0)
		r = -1;
	close(fd);
	return r;
}

/* MNT_COPY: the whole of src into a new file dst, by sendfile (no
 * buffer: this runs where only syscalls may). A source gone from the
 * host since the plan was made (a package removed, the font list made
 * again under a new name by an upgraded matplotlib) is left out, as it
 * would have been from a new plan. */
static int copy_file(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, r = -1;

	if (in < 0)
		return errno == ENOENT ? 0 : -1;
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out >= 0) {
		ssize_t n;

		while ((n = sendfile(out, in, NULL, 1 << 20)) > 0)
			;
		r = n == 0 ? 0 : -1;
	}
	if (out >= 0)
		close(out);
	close(in);
	return r;
}

static int bind(const struct mnt_op *op, unsigned long extra,
		pexos_error *err)
{
	if (mount(op->src, op->dst, NULL, MS_BIND | MS_REC, NULL) < 0)
		return CHILD_FAIL(err, "bind-mount", op->src);
	if (mount(NULL, op->dst, NULL,
		  MS_BIND | MS_REMOUNT | extra | locked_flags(op->dst),
		  NULL) < 0)
		return CHILD_FAIL(err, "remount read-only", op->src);
	return 0;
}

static int apply_op(const struct mnt_op *op, pexos_error *err)
{
	switch (op->kind) {
	case MNT_MKDIR:
		if (mkdir(op->dst, 0755) < 0 && errno != EEXIST)
			return CHILD_FAIL(err, "mkdir", op->dst);
		return 0;
	case MNT_TMPFS:
	case MNT_DEVPTS: {
		const char *fs = op->kind == MNT_TMPFS ? "tmpfs" : "devpts";

		if (mkdir(op->dst, 0755) < 0 && errno != EEXIST)
			return CHILD_FAIL(err, "mkdir", op->dst);
		if (mount(fs, op->dst, fs, op->flags, op->data) < 0)
			return CHILD_FAIL(err, op->kind == MNT_TMPFS
						       ? "mount tmpfs on"
						       : "mount devpts on",
					  op->dst);
		return 0;
	}
	case MNT_BIND_RO:
		if (mkdir(op->dst, 0755) < 0 && errno != EEXIST)
			return CHILD_FAIL(err, "mkdir", op->dst);
		return bind(op, MS_RDONLY | MS_NOSUID | MS_NODEV, err);
	case MNT_COPY:
		if (copy_file(op->src, op->dst) < 0)
			return CHILD_FAIL(err, "copy", op->src);
		return 0;
	case MNT_BIND_DEV:
		if (make_file(op->dst, "", 0) < 0)
			return CHILD_FAIL(err, "create", op->dst);
		return bind(op, MS_NOSUID | MS_NOEXEC, err);
	case MNT_PROC:
		if (mkdir(op->dst, 0555) < 0 && errno != EEXIST)
			return CHILD_FAIL(err, "mkdir", op->dst);
		/* Needs our own PID namespace and, in a container, an
		 * unmasked /proc (see pexos(7)). */
		if (mount("proc", op->dst, "proc",
			  MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return CHILD_FAIL(err, "mount proc on", op->dst);
		return 0;
	case MNT_SYMLINK:
		if (symlink(op->src, op->dst) < 0)
			return CHILD_FAIL(err, "symlink", op->dst);
		return 0;
	case MNT_WRITE:
		if (make_file(op->dst, op->data, strlen(op->data)) < 0)
			return CHILD_FAIL(err, "write", op->dst);
		return 0;
	case MNT_REMOUNT_RO:
		if (mount(NULL, op->dst, NULL,
			  MS_REMOUNT | MS_BIND | MS_RDONLY |
				  locked_flags(op->dst),
			  NULL) < 0)
			return CHILD_FAIL(err, "remount read-only", op->dst);
		return 0;
	default:
		errno = EINVAL;
		return CHILD_FAIL(err, "unknown mount operation", NULL);
	}
}

int mnt_apply_child(const struct pexos_context *ctx, pexos_error *err)
{
	/* Nothing we mount may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return CHILD_FAIL(err, "make / private", NULL);
	for (size_t i = 0; i < ctx->n_mnt_ops; i++)
		if (apply_op(&ctx->mnt_ops[i], err) < 0)
			return -1;
	/* pivot_root(".", ".") stacks the old root under the new one; the
	 * lazy unmount then drops every host mount from this namespace. */
	if (chdir(STAGE) < 0)
		return CHILD_FAIL(err, "chdir", STAGE);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return CHILD_FAIL(err, "pivot_root", STAGE);
	if (umount2(".", MNT_DETACH) < 0)
		return CHILD_FAIL(err, "detach the host's root", NULL);
	if (chdir("/") < 0)
		return CHILD_FAIL(err, "chdir", "/");
	if (mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
		  NULL) < 0)
		return CHILD_FAIL(err, "remount the root read-only", NULL);
	return 0;
}
