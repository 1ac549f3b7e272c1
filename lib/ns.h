/* SPDX-License-Identifier: MIT */
/* ns.h - namespaces and id maps. */
#ifndef PEXOS_NS_H
#define PEXOS_NS_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "plan.h"

/* The namespaces a run is cloned into: user first (it owns the others).
 * The cgroup namespace comes later, from init, once the parent has moved it
 * into the run's cgroup: then that cgroup is the namespace's root. */
#define NS_CLONE_FLAGS                                                         \
	(CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET |           \
	 CLONE_NEWIPC | CLONE_NEWUTS)

/* One line of /proc/PID/uid_map or gid_map: `count` ids from `first` in
 * the namespace, `outer` on in its parent's. */
struct ns_range {
	uint64_t first, outer, count;
};

/* Lines a map may have (the kernel's limit since Linux 4.15). */
#define NS_MAP_LINES 340

/* The default uid_base, used where it is mapped (pexos(7), ISOLATION). */
#define NS_DEFAULT_BASE 2000000000ULL

/* Where a run's two ids came from. */
enum ns_ids_how {
	NS_IDS_DEFAULT, /* NS_DEFAULT_BASE, mapped here */
	NS_IDS_SET,     /* the uid_base option */
	NS_IDS_CHOSEN,  /* picked from the mapped ids (ns_pick_base) */
};

/* The ids runs map their 0 and 1000 to, as uids and as gids: base and
 * base + 1 in pexos's own user namespace; parent_* are the same ids as
 * its parent namespace sees them (the host's, in a container). */
struct ns_ids {
	uint64_t base;
	enum ns_ids_how how;
	uint64_t parent_uid[2], parent_gid[2];
	char mapped[160]; /* the ids mapped as uid and gid, "0-65535, ..." */
};

/* Parses a map's text into at most `max` ranges sorted by `first`.
 * Returns how many, or -EINVAL. */
int ns_parse_map(const char *text, struct ns_range *r, size_t max);

/* The ids mapped in both sorted maps `a` and `b`, as sorted, merged
 * ranges (their `outer` is 0). `out` must hold na + nb. Returns how many. */
size_t ns_intersect(const struct ns_range *a, size_t na,
		    const struct ns_range *b, size_t nb, struct ns_range *out);

/* Are `id` and `id` + 1 both in one of the ranges? */
bool ns_pair_mapped(const struct ns_range *r, size_t n, uint64_t id);

/* The rule for a uid_base not set: in the largest of the ranges `r` (ties:
 * the higher), the highest `id` such that neither `id` nor `id` + 1 is in
 * `avoid`; the next largest range if it has none. Returns 0 and
 * *ret_base, or -ESRCH. */
int ns_pick_base(const struct ns_range *r, size_t n, const uint64_t *avoid,
		 size_t n_avoid, uint64_t *ret_base);

/* Parent: the ids runs will map to, from `o`'s uid_base and this
 * process's /proc/self/uid_map and gid_map: uid_base if set (it must be
 * mapped), else NS_DEFAULT_BASE if mapped, else ns_pick_base's choice. */
int ns_choose_ids(const struct pexos_options *o, struct ns_ids *ret_ids,
		  pexos_error *err);

/* Builds the uid/gid map lines of the context from ctx->opts.uid_base. */
void ns_prepare(struct pexos_context *ctx);

/* Parent, after clone: writes the child's uid and gid maps. */
int ns_setup_parent(const struct pexos_context *ctx, pid_t pid,
		    pexos_error *err);

/* Child: become the mapped root of the new user namespace (setup runs as
 * it), enter a new cgroup namespace and name the UTS namespace. */
int ns_apply_child(pexos_error *err);

#endif
