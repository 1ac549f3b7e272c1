/* SPDX-License-Identifier: MIT */
/*
 * pool_status.c - the warm pool's state, for /health, /metrics and
 * pexos_pool_info(): a copy of the counters taken under the lock (held for
 * as long as the copy takes, pool_int.h), memory figures read outside it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jalloc.h"
#include "pool_int.h"
#include "util.h"

/* Resident and private memory of a process (smaps_rollup), in KiB.
 * Returns 0, or -1 (then both are -1). */
static int smaps_kb(pid_t pid, long *rss, long *priv)
{
	char path[64], buf[4096], *l;

	*rss = *priv = -1;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	l = strstr(buf, "\nRss:");
	*rss = l ? strtol(l + 5, NULL, 10) : -1;
	*priv = 0;
	for (l = buf; (l = strstr(l, "\nPrivate_")); l++) {
		char *v = strchr(l, ':');
		if (v)
			*priv += strtol(v + 1, NULL, 10);
	}
	return 0;
}

/* Copies the shared figures; up to 4 ready slots' pids into sample. */
static size_t copy_locked(struct pool *p, pexos_pool_snapshot *r,
			  pid_t sample[4], pid_t *zpid)
{
	static const pexos_pool_state states[] = {
		[ZY_DOWN] = PEXOS_POOL_DOWN,
		[ZY_STARTING] = PEXOS_POOL_STARTING,
		[ZY_UP] = PEXOS_POOL_UP,
	};
	size_t n = 0;

	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->size; i++) {
		if (p->slots[i].state == SLOT_READY) {
			if (r->ready < 4)
				sample[n++] = p->slots[i].pid;
			r->ready++;
		} else if (p->slots[i].state != SLOT_EMPTY) {
			r->starting++;
		}
	}
	r->state = states[p->zstate];
	r->in_use = p->in_use;
	r->hits = p->hits;
	r->misses = atomic_load(&p->misses);
	r->slots_started = p->spawned;
	r->slot_failures = p->slot_failures;
	r->zygote_starts = p->restarts;
	if (p->start_n)
		r->slot_start_ms = (double)p->start_ms_sum / (double)p->start_n;
	if (p->zready_ms && p->zstate == ZY_UP)
		r->zygote_start_ms = (long long)(p->zready_ms - p->zstarted_ms);
	snprintf(r->error, sizeof(r->error), "%s", p->error);
	*zpid = p->zpid;
	pthread_mutex_unlock(&p->lock);
	return n;
}

void pool_info(struct pool *p, pexos_pool_snapshot *r)
{
	long rss, kb, priv = 0, n_priv = 0;
	pid_t sample[4], zpid;
	size_t n;

	memset(r, 0, sizeof(*r));
	r->slot_start_ms = -1;
	r->zygote_start_ms = r->zygote_rss_kb = r->zygote_private_kb = -1;
	r->slot_private_kb = r->slot_private_kb_max = -1;
	if (!p)
		return; /* PEXOS_POOL_OFF */
	r->size = (unsigned)p->size;
	snprintf(r->preload, sizeof(r->preload), "%s", p->ctx->opts.preload);
	n = copy_locked(p, r, sample, &zpid);
	/* Outside the lock: reading smaps walks page tables. */
	if (zpid > 0 && smaps_kb(zpid, &rss, &kb) == 0) {
		r->zygote_rss_kb = rss;
		r->zygote_private_kb = kb;
	}
	for (size_t i = 0; i < n; i++) {
		if (smaps_kb(sample[i], &rss, &kb) == 0) {
			priv += kb;
			n_priv++;
			if (kb > r->slot_private_kb_max)
				r->slot_private_kb_max = kb;
		}
	}
	if (n_priv)
		r->slot_private_kb = priv / n_priv;
}

/* Sets key to the integer v unless it is unknown (-1). */
static void set_known(json_t *o, const char *key, long long v)
{
	if (v >= 0)
		json_object_set_new(o, key, json_integer((json_int_t)v));
}

char *pool_status_json(struct pool *p)
{
	static const char *const names[] = {"off", "down", "starting", "up"};
	pexos_pool_snapshot r;
	json_t *o;
	char *s;

	if (!p)
		return NULL;
	pool_info(p, &r);
	o = json_pack("{sIsIsIsIss}", "size", (json_int_t)r.size, "ready",
		      (json_int_t)r.ready, "starting", (json_int_t)r.starting,
		      "in_use", (json_int_t)r.in_use, "state", names[r.state]);
	if (!o)
		return NULL;
	set_known(o, "hits", (long long)r.hits);
	set_known(o, "misses", (long long)r.misses);
	set_known(o, "slots_started", (long long)r.slots_started);
	set_known(o, "slot_failures", (long long)r.slot_failures);
	set_known(o, "zygote_starts", (long long)r.zygote_starts);
	json_object_set_new(o, "preload", json_string(r.preload));
	if (r.slot_start_ms >= 0)
		json_object_set_new(o, "slot_start_ms",
				    json_real(r.slot_start_ms));
	set_known(o, "zygote_start_ms", r.zygote_start_ms);
	if (r.error[0])
		json_object_set_new(o, "error", json_string(r.error));
	set_known(o, "zygote_rss_kb", r.zygote_rss_kb);
	set_known(o, "zygote_private_kb", r.zygote_private_kb);
	set_known(o, "slot_private_kb", r.slot_private_kb);
	set_known(o, "slot_private_kb_max", r.slot_private_kb_max);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
