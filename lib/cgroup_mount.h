/* SPDX-License-Identifier: MIT */
/* cgroup_mount.h - this process's own cgroup, mounted read-write privately,
 * for a container whose cgroup2 mount is read-only. */
#ifndef PEXOS_CGROUP_MOUNT_H
#define PEXOS_CGROUP_MOUNT_H

#include <stddef.h>

/* A detached cgroup2 mount whose root is the cgroup this process was in
 * when it first asked (`own_rel`, its cgroup now, as /proc/self/cgroup
 * names it, must lie at or below that root, else a new mount is made),
 * made by a child in user, mount and cgroup namespaces of its own. Returns
 * 0 with *ret_fd (a close-on-exec copy: the tree is at /proc/self/fd/N)
 * and the root's cgroup path in `root`, or -errno with the step that
 * failed in `why`. */
int cg_private_mount(const char *own_rel, int *ret_fd, char *root,
		     size_t root_size, char *why, size_t why_size);

#endif
