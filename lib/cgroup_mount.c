/* SPDX-License-Identifier: MIT */
/*
 * cgroup_mount.c - a writable view of this process's own cgroup when the
 * container's cgroup2 mount is read-only.
 *
 * Container engines give a container a cgroup namespace of its own and
 * mount it read-only (Docker always, Kubernetes unless privileged).
 * Read-only is a property of that one mount, not of the cgroups: the
 * kernel lets any process mount cgroup2 afresh inside a user namespace
 * that owns its cgroup namespace, and a new cgroup namespace's root is the
 * cgroup its creator is in. A short-lived child does exactly that, with
 * the new mount API (a detached mount, no mount point), and hands the
 * mount back over a socket; pexos reaches it as /proc/self/fd/N.
 *
 * Nothing is gained beyond the tree the container already has: writes
 * through that mount are checked as through any other, by each file's owner
 * and mode against pexos's own credentials (the container's root owns its
 * cgroup; a user-namespaced container's runtime chowns it, or nothing is
 * writable), and moving a process is checked against pexos's own cgroup
 * namespace. With nsdelegate (systemd's default) the limits of the
 * container's cgroup itself stay out of reach. The child's user namespace
 * maps no id at all (it needs none: the creator of a user namespace holds
 * every capability in it, and mounting checks only that; mapping the
 * container's root would take CAP_SETFCAP, which a pod may not have), and
 * it is gone before the mount is used.
 */
#include "cgroup_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdpass.h"
#include "supervise.h"
#include "util.h"

#ifndef FSOPEN_CLOEXEC
#define FSOPEN_CLOEXEC 0x00000001
#endif
#ifndef FSMOUNT_CLOEXEC
#define FSMOUNT_CLOEXEC 0x00000001
#endif
#ifndef FSCONFIG_CMD_CREATE
#define FSCONFIG_CMD_CREATE 6
#endif

/* What the child sends back on failure: the step and its errno. */
struct mount_failure {
	int step, error;
};

/* Child only: async-signal-safe calls (the parent may have threads). */
static _Noreturn void child_fail(int sock, int step)
{
	struct mount_failure f = {step, errno};

	(void)fdpass_send(sock, &f, sizeof(f), NULL, 0);
	_exit(1);
}

/* Child, born in its own user, mount and cgroup namespaces: mounts cgroup2
 * (its cgroup namespace's view) and sends the mount back, or the step that
 * failed. */
static _Noreturn void mount_child(int sock)
{
	int fs, mnt;
	char byte = 0;

	fs = (int)syscall(SYS_fsopen, "cgroup2", FSOPEN_CLOEXEC);
	if (fs < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		child_fail(sock, 2);
	mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (mnt < 0)
		child_fail(sock, 2);
	_exit(fdpass_send(sock, &byte, 1, &mnt, 1) < 0 ? 1 : 0);
}

static const char *step_name(int step)
{
	switch (step) {
	case 2:
		return "mount cgroup2 in a new cgroup namespace";
	default:
		return "pass the mount back";
	}
}

static int new_mount(int *ret_fd, char *why, size_t why_size)
{
	struct mount_failure f = {0, EIO};
	int sv[2], fd = -1, pidfd = -1;
	size_t nfds = 0;
	ssize_t n;
	pid_t pid;

	*ret_fd = -1;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = sup_clone(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP, &pidfd);
	if (pid == 0) {
		close(sv[0]);
		mount_child(sv[1]);
	}
	close(sv[1]);
	if (pid < 0) {
		snprintf(why, why_size, "could not create a user namespace");
		close(sv[0]);
		return (int)pid;
	}
	(void)sup_reap(pidfd, NULL);
	close(pidfd);
	n = fdpass_recv(sv[0], &f, sizeof(f), &fd, 1, &nfds);
	close(sv[0]);
	if (n == 1 && nfds == 1) {
		*ret_fd = fd;
		return 0;
	}
	if (fd >= 0)
		close(fd);
	snprintf(why, why_size, "could not %s", step_name(f.step));
	return f.error > 0 ? -f.error : -EIO;
}

/* One mount per process, made by its first context at the cgroup it was
 * in then (its container's, before pexos moved itself into the supervisor
 * leaf below it): later contexts reach the same tree through a copy of
 * the descriptor. */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static int shared_fd = -1;
static char shared_root[PATH_MAX];

/* Whether cgroup path `path` is `root` or below it. */
static bool below(const char *path, const char *root)
{
	size_t n = strlen(root);

	if (strcmp(root, "/") == 0)
		return path[0] == '/';
	return strncmp(path, root, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

int cg_private_mount(const char *own_rel, int *ret_fd, char *root,
		     size_t root_size, char *why, size_t why_size)
{
	int fd, r = 0;

	pthread_mutex_lock(&shared_lock);
	if (shared_fd < 0 || !below(own_rel, shared_root)) {
		r = new_mount(&fd, why, why_size);
		if (r == 0) {
			if (shared_fd >= 0)
				close(shared_fd);
			shared_fd = fd;
			snprintf(shared_root, sizeof(shared_root), "%s", own_rel);
		}
	}
	if (r == 0) {
		*ret_fd = fcntl(shared_fd, F_DUPFD_CLOEXEC, 0);
		if (*ret_fd < 0)
			r = -errno;
		snprintf(why, why_size, "could not copy the mount's descriptor");
		snprintf(root, root_size, "%s", shared_root);
	}
	pthread_mutex_unlock(&shared_lock);
	return r;
}
