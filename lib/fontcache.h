/* SPDX-License-Identifier: MIT */
/* fontcache.h - matplotlib's font list, built once per host (fontcache.c). */
#ifndef PEXOS_FONTCACHE_H
#define PEXOS_FONTCACHE_H

#include <sys/types.h>

/* The host directory holding a fresh font list, building it first with
 * `python` run as host uid `uid` when needed; NULL when there is none
 * (no matplotlib, not root, the build failed). A static string. Runs a
 * process: call it while a context is made, not per run. */
const char *fontcache_prepare(const char *python, uid_t uid);

#endif
