/* SPDX-License-Identifier: MIT */
/* caps.h - capabilities. */
#ifndef PEXOS_CAPS_H
#define PEXOS_CAPS_H

#include "plan.h"

/* Parent: the highest capability this kernel knows (libcap). */
int caps_prepare(struct pexos_context *ctx, pexos_error *err);

/* The child's side is lockdown.c's. */

#endif
