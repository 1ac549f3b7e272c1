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
	} v[8];
	int n;
};

/* Parent: the limits of one run. */
void rlimits_prepare(const struct pexos_options *opts,
		     const struct run_plan *plan, struct rlimits_plan *ret);

/* Child: sets them (lowering only, so no privilege is needed). */
int rlimits_apply_child(const struct rlimits_plan *rp, pexos_error *err);

#endif
