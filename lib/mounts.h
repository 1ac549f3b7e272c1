/* SPDX-License-Identifier: MIT */
/* mounts.h - the sandbox's root filesystem. */
#ifndef PEXOS_MOUNTS_H
#define PEXOS_MOUNTS_H

#include "plan.h"

/* Parent, once per context: the ordered list of mount operations, from what
 * this host has (merged /usr or not, which lib dirs exist). */
int mnt_prepare(struct pexos_context *ctx, pexos_error *err);

/* Child (the sandbox's init, in its new mount namespace): applies the plan,
 * pivots into the new root and makes it read-only. Async-signal-safe. */
int mnt_apply_child(const struct pexos_context *ctx, pexos_error *err);

#endif
