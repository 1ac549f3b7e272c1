/* SPDX-License-Identifier: MIT */
/* net.h - the run's own network namespace: its loopback. */
#ifndef PEXOS_NET_H
#define PEXOS_NET_H

#include "pexos.h"

/* Child: brings "lo" up in the caller's network namespace, which gives it
 * 127.0.0.1 and ::1 (the kernel adds both when a loopback goes up). Needs
 * CAP_NET_ADMIN in the user namespace that owns the network namespace: the
 * run's init on the cold path, a warm slot right after its unshare. A
 * fresh namespace has no other interface and no route out, so the loopback
 * reaches only the run's own sockets. Async-signal-safe, no allocation;
 * also built into the zygote's helper. Returns 0, or -1 with `err`
 * filled. */
int net_lo_up(pexos_error *err);

#endif
