/* SPDX-License-Identifier: MIT */
/* cgroup_mount.h - this process's own cgroup, mounted read-write privately,
 * for a container whose cgroup2 mount is read-only. */
#ifndef PEXOS_CGROUP_MOUNT_H
#define PEXOS_CGROUP_MOUNT_H

#include <stddef.h>

/* A detached cgroup2 mount whose root is the cgroup this process is in, made
 * by a child in user, mount and cgroup namespaces of its own. Returns 0 with
 * *ret_fd (close-on-exec; the tree is at /proc/self/fd/N), or -errno with
 * the step that failed in `why`. */
int cg_private_mount(int *ret_fd, char *why, size_t why_size);

#endif
