/* SPDX-License-Identifier: MIT */
/* scmp.h - the syscall filter (seccomp.c). */
#ifndef PEXOS_SCMP_H
#define PEXOS_SCMP_H

#include "plan.h"

/* Parent, once per context: builds the filter with libseccomp and keeps the
 * exported BPF program in ctx->bpf. */
int scmp_prepare(struct pexos_context *ctx, pexos_error *err);

/* The child installs it as the last step of its lockdown (lockdown.c). */

#endif
