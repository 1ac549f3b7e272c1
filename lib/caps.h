/* SPDX-License-Identifier: MIT */
/* caps.h - capabilities. */
#ifndef PEXOS_CAPS_H
#define PEXOS_CAPS_H

#include "plan.h"

/* Parent: the highest capability this kernel knows (libcap). */
int caps_prepare(struct pexos_context *ctx, pexos_error *err);

/* Child, while still privileged in its user namespace: empties the bounding
 * and ambient sets so no later exec can regain a capability. */
int caps_drop_bounding_child(int last_cap, pexos_error *err);

/* Child: empties the effective, permitted and inheritable sets. */
int caps_clear_child(pexos_error *err);

#endif
