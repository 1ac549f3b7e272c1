/* SPDX-License-Identifier: MIT */
/* ns.h - namespaces and id maps. */
#ifndef PEXOS_NS_H
#define PEXOS_NS_H

#include <sched.h>
#include <sys/types.h>

#include "plan.h"

/* The namespaces a run is cloned into: user first (it owns the others).
 * The cgroup namespace comes later, from init, once the parent has moved it
 * into the run's cgroup: then that cgroup is the namespace's root. */
#define NS_CLONE_FLAGS                                                         \
	(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |           \
	 CLONE_NEWIPC | CLONE_NEWUTS)

/* Builds the uid/gid map lines of the context. */
void ns_prepare(struct pexos_context *ctx);

/* Parent, after clone: writes the child's uid and gid maps. */
int ns_setup_parent(const struct pexos_context *ctx, pid_t pid,
		    pexos_error *err);

/* Child: become the mapped root of the new user namespace (setup runs as
 * it), enter a new cgroup namespace and name the UTS namespace. */
int ns_apply_child(pexos_error *err);

#endif
