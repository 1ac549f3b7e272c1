/* SPDX-License-Identifier: MIT */
/* scmp.h - the syscall filter (seccomp.c). */
#ifndef PEXOS_SCMP_H
#define PEXOS_SCMP_H

#include "plan.h"

/* Parent, once per context: builds the filter with libseccomp and keeps the
 * exported BPF program in ctx->bpf. */
int scmp_prepare(struct pexos_context *ctx, pexos_error *err);

/* Child, last step before exec (no_new_privs already set). */
int scmp_apply_child(const struct pexos_context *ctx, pexos_error *err);

#endif
