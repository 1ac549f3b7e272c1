/* SPDX-License-Identifier: MIT */
/* rlimits.h - per-process resource limits of the script. */
#ifndef PEXOS_RLIMITS_H
#define PEXOS_RLIMITS_H

#include <sys/resource.h>

#include "plan.h"

struct rlimits_plan {
	struct {
		int resource;
		struct rlimit rl;
	} v[10];
	int n;
};

/* Parent: the limits of one run. `memory_by_rlimit`: no cgroup limits the
 * run's memory, so RLIMIT_AS does, per process. */
void rlimits_prepare(const struct pexos_options *opts,
		     const struct run_plan *plan, bool memory_by_rlimit,
		     struct rlimits_plan *ret);

/* Child: sets them (lowering only, so no privilege is needed). */
/* Parent: the limits of the pool's zygote. */
void rlimits_prepare_zygote(const struct pexos_options *opts,
			    struct rlimits_plan *rp);

int rlimits_apply_child(const struct rlimits_plan *rp, pexos_error *err);

#endif
