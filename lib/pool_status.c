/* SPDX-License-Identifier: MIT */
/*
 * pool_status.c - the warm pool's state, for /health, /metrics and
 * pexos_pool_info(): a copy of the counters taken under the lock (held for
 * as long as the copy takes, pool_int.h). The memory figures are read by
 * the pool thread (a slot's when it becomes ready, the zygote's when it
 * comes up, both again while the pool rests: pool_measure), never by the
 * caller: reading them walks page tables and can wait tens of milliseconds
 * while the zygote forks, too long for a daemon's /health.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jalloc.h"
#include "pool_int.h"
#include "util.h"

/* Resident and private memory of a process (smaps_rollup), in KiB.
 * Returns 0, or -1 (then both are -1). */
int pool_smaps_kb(pid_t pid, long *rss, long *priv)
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

#define MEASURE_EVERY_MS 5000

void pool_measure(struct pool *p, uint64_t now)
{
	struct measured {
		pid_t pid;
		uint32_t id;
		long kb;
	} ready[8];
	size_t n = 0, n_ready = 0;
	pid_t zpid;
	bool rest;
	long rss, zrss, zpriv;

	pthread_mutex_lock(&p->lock);
	rest = p->zstate == ZY_UP && !p->in_use &&
	       now >= p->measured_ms + MEASURE_EVERY_MS;
	for (size_t i = 0; rest && i < p->size; i++) {
		if (p->slots[i].state == SLOT_EMPTY)
			continue;
		if (p->slots[i].state != SLOT_READY)
			rest = false;
		else if (n_ready++, n < ELEMENTSOF(ready))
			ready[n++] = (struct measured){p->slots[i].pid,
							  p->slots[i].id, -1};
	}
	rest = rest && n_ready >= p->target; /* full */
	zpid = p->zpid;
	pthread_mutex_unlock(&p->lock);
	if (!rest)
		return;
	/* Outside the lock: reading smaps walks page tables. */
	pool_smaps_kb(zpid, &zrss, &zpriv);
	for (size_t i = 0; i < n; i++)
		pool_smaps_kb(ready[i].pid, &rss, &ready[i].kb);
	pthread_mutex_lock(&p->lock);
	p->zygote_rss_kb = zrss;
	p->zygote_private_kb = zpriv;
	p->measured_ms = now;
	/* each slot still ready and the same */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < p->size; j++)
			if (p->slots[j].state == SLOT_READY &&
			    p->slots[j].id == ready[i].id && ready[i].kb >= 0)
				p->slots[j].private_kb = ready[i].kb;
	pthread_mutex_unlock(&p->lock);
}

/* One profile's pool: a copy taken under its lock; the memory figures as
 * last measured. `size` is the slots it keeps now (its target). */
static void pool_info_one(struct pool *p, pexos_pool_snapshot *r)
{
	long long priv = 0, n_priv = 0;
	static const pexos_pool_state states[] = {
		[ZY_DOWN] = PEXOS_POOL_DOWN,
		[ZY_STARTING] = PEXOS_POOL_STARTING,
		[ZY_UP] = PEXOS_POOL_UP,
	};

	memset(r, 0, sizeof(*r));
	r->slot_start_ms = -1;
	r->zygote_start_ms = r->zygote_rss_kb = r->zygote_private_kb = -1;
	r->slot_private_kb = r->slot_private_kb_max = -1;
	snprintf(r->preload, sizeof(r->preload), "%s", p->preload);
	pthread_mutex_lock(&p->lock);
	r->size = (unsigned)p->target;
	for (size_t i = 0; i < p->size; i++) {
		const struct pool_slot *s = &p->slots[i];

		if (s->state == SLOT_READY) {
			/* the mean and maximum of up to 4, as measured */
			if (r->ready < 4 && s->private_kb >= 0) {
				priv += s->private_kb;
				n_priv++;
				if (s->private_kb > r->slot_private_kb_max)
					r->slot_private_kb_max = s->private_kb;
			}
			r->ready++;
		} else if (s->state != SLOT_EMPTY) {
			r->starting++;
		}
	}
	if (n_priv)
		r->slot_private_kb = priv / n_priv;
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
	if (p->zstate == ZY_UP) {
		r->zygote_rss_kb = p->zygote_rss_kb;
		r->zygote_private_kb = p->zygote_private_kb;
	}
	pthread_mutex_unlock(&p->lock);
}

int pool_profile_info(struct pool_set *set, unsigned index, const char **name,
		      pexos_pool_snapshot *ret)
{
	if (!set || index >= POOL_PROFILES || !set->pool[index])
		return -ENOENT;
	pool_info_one(set->pool[index], ret);
	if (name)
		*name = pool_profile_names[index];
	return 0;
}

/* Adds b's known figure to a's (-1: not known). */
static void add_known(long long *a, long long b)
{
	if (b >= 0)
		*a = *a >= 0 ? *a + b : b;
}

/* The set as one pool: counts summed; the state the least ready of the
 * profiles' (a pool is up when every zygote is); the memory figures of
 * the zygotes summed, a waiting slot's the mean and maximum over both;
 * the preload list and the error the full profile's (or the first error
 * found). */
void pool_info(struct pool_set *set, pexos_pool_snapshot *r)
{
	pexos_pool_snapshot one;
	double start_sum = 0, start_n = 0;
	long long priv_n = 0, priv_sum = 0;

	memset(r, 0, sizeof(*r));
	r->slot_start_ms = -1;
	r->zygote_start_ms = r->zygote_rss_kb = r->zygote_private_kb = -1;
	r->slot_private_kb = r->slot_private_kb_max = -1;
	if (!set)
		return; /* PEXOS_POOL_OFF */
	r->state = PEXOS_POOL_UP;
	for (unsigned i = 0; i < POOL_PROFILES; i++) {
		if (pool_profile_info(set, i, NULL, &one) < 0)
			continue;
		if (one.state < r->state)
			r->state = one.state;
		r->ready += one.ready;
		r->starting += one.starting;
		r->in_use += one.in_use;
		r->hits += one.hits;
		r->misses += one.misses;
		r->slots_started += one.slots_started;
		r->slot_failures += one.slot_failures;
		r->zygote_starts += one.zygote_starts;
		if (one.slot_start_ms >= 0) {
			start_sum += one.slot_start_ms * (double)one.slots_started;
			start_n += (double)one.slots_started;
		}
		if (one.zygote_start_ms > r->zygote_start_ms)
			r->zygote_start_ms = one.zygote_start_ms;
		add_known(&r->zygote_rss_kb, one.zygote_rss_kb);
		add_known(&r->zygote_private_kb, one.zygote_private_kb);
		if (one.slot_private_kb >= 0) {
			priv_sum += one.slot_private_kb;
			priv_n++;
		}
		if (one.slot_private_kb_max > r->slot_private_kb_max)
			r->slot_private_kb_max = one.slot_private_kb_max;
		if (i == POOL_FULL)
			snprintf(r->preload, sizeof(r->preload), "%s", one.preload);
		if (!r->error[0] && one.error[0])
			snprintf(r->error, sizeof(r->error), "%s", one.error);
	}
	r->size = (unsigned)set->total;
	if (start_n > 0)
		r->slot_start_ms = start_sum / start_n;
	if (priv_n)
		r->slot_private_kb = priv_sum / priv_n;
}

/* Sets key to the integer v unless it is unknown (-1). */
static void set_known(json_t *o, const char *key, long long v)
{
	if (v >= 0)
		json_object_set_new(o, key, json_integer((json_int_t)v));
}

/* A snapshot's figures as JSON, the known ones. */
static json_t *snapshot_json(const pexos_pool_snapshot *r)
{
	static const char *const names[] = {"off", "down", "starting", "up"};
	json_t *o = json_pack("{sIsIsIsIss}", "size", (json_int_t)r->size,
			      "ready", (json_int_t)r->ready, "starting",
			      (json_int_t)r->starting, "in_use",
			      (json_int_t)r->in_use, "state", names[r->state]);

	if (!o)
		return NULL;
	set_known(o, "hits", (long long)r->hits);
	set_known(o, "misses", (long long)r->misses);
	set_known(o, "slots_started", (long long)r->slots_started);
	set_known(o, "slot_failures", (long long)r->slot_failures);
	set_known(o, "zygote_starts", (long long)r->zygote_starts);
	json_object_set_new(o, "preload", json_string(r->preload));
	if (r->slot_start_ms >= 0)
		json_object_set_new(o, "slot_start_ms",
				    json_real(r->slot_start_ms));
	set_known(o, "zygote_start_ms", r->zygote_start_ms);
	if (r->error[0])
		json_object_set_new(o, "error", json_string(r->error));
	set_known(o, "zygote_rss_kb", r->zygote_rss_kb);
	set_known(o, "zygote_private_kb", r->zygote_private_kb);
	set_known(o, "slot_private_kb", r->slot_private_kb);
	set_known(o, "slot_private_kb_max", r->slot_private_kb_max);
	return o;
}

/* The set as one pool (pool_info), with "target": the slots its profiles
 * keep now, and "profiles": each profile's pool by name ("size" there is
 * its target). */
char *pool_status_json(struct pool_set *set)
{
	pexos_pool_snapshot r;
	json_t *o, *profiles;
	const char *name;
	char *s;
	long long target = 0;

	if (!set)
		return NULL;
	pool_info(set, &r);
	o = snapshot_json(&r);
	profiles = json_object();
	if (!o || !profiles) {
		json_decref(o);
		json_decref(profiles);
		return NULL;
	}
	for (unsigned i = 0; i < POOL_PROFILES; i++) {
		if (pool_profile_info(set, i, &name, &r) < 0)
			continue;
		target += r.size;
		json_object_set_new(profiles, name, snapshot_json(&r));
	}
	set_known(o, "target", target);
	json_object_set_new(o, "profiles", profiles);
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}
