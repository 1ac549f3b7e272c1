/* SPDX-License-Identifier: MIT */
/* confine.h - what confines pexos itself (a container's seccomp profile, an
 * AppArmor profile), named in the errors it causes. */
#ifndef PEXOS_CONFINE_H
#define PEXOS_CONFINE_H

#include <stddef.h>

/* Writes into buf (NUL-terminated, "" when nothing confines this process)
 * one sentence per confinement found: a seccomp filter on this process
 * (/proc/self/status), an AppArmor profile other than unconfined
 * (/proc/self/attr), each with the container setting that lifts it. */
void confine_hint(char *buf, size_t size);

#endif
