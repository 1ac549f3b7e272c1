/* SPDX-License-Identifier: MIT */
/*
 * pool_thread.c - the pool thread's loop: it (re)starts the zygote, keeps
 * every empty slot asked for, and waits for the zygote's and the slots'
 * messages. It holds the lock only to read or publish shared state
 * (pool_int.h): polling, spawning and disposal run unlocked.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pool_int.h"
#include "supervise.h"

void wake_thread(struct pool *p)
{
	(void)!write(p->wake[1], "w", 1);
}

bool pool_stopping(struct pool *p)
{
	bool stop;

	pthread_mutex_lock(&p->lock);
	stop = p->stop;
	pthread_mutex_unlock(&p->lock);
	return stop;
}

void set_error(struct pool *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pthread_mutex_lock(&p->lock);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	pthread_mutex_unlock(&p->lock);
	va_end(ap);
}

void add_error(struct pool *p, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	pthread_mutex_lock(&p->lock);
	n = strnlen(p->error, sizeof(p->error));
	vsnprintf(p->error + n, sizeof(p->error) - n, fmt, ap);
	pthread_mutex_unlock(&p->lock);
	va_end(ap);
}

/* What fill() needs of a pool: its slots (ready or being set up), the
 * ready ones, its runs, its target. */
struct fill_view {
	size_t count, ready, target;
	unsigned in_use;
};

static struct fill_view view(struct pool *p)
{
	struct fill_view v = {0};

	if (!p)
		return v;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->size; i++) {
		v.count += p->slots[i].state != SLOT_EMPTY;
		v.ready += p->slots[i].state == SLOT_READY;
	}
	v.target = p->target;
	v.in_use = p->in_use;
	pthread_mutex_unlock(&p->lock);
	return v;
}

static struct pool *other(struct pool *p)
{
	return p->set->pool[p->profile == POOL_FULL ? POOL_LEAN : POOL_FULL];
}

/* Ready slots over the target go, the oldest first, when the other
 * profile waits for room (the set keeps no more than its total). */
static void shrink(struct pool *p, size_t excess)
{
	while (excess--) {
		struct pool_slot *oldest = NULL, copy;

		pthread_mutex_lock(&p->lock);
		for (size_t i = 0; i < p->size; i++)
			if (p->slots[i].state == SLOT_READY &&
			    (!oldest || p->slots[i].t_ready < oldest->t_ready))
				oldest = &p->slots[i];
		if (oldest) {
			copy = *oldest;
			slot_reset(oldest);
		}
		pthread_mutex_unlock(&p->lock);
		if (!oldest)
			return;
		slot_dispose(p, &copy, false);
	}
}

/* Asks the zygote for a slot in empty places up to the pool's target and
 * the set's total, when the refill is due (pool_fill_due: not while runs
 * of either profile hold slots and half of what this pool's runs can use
 * is ready: for the lean pool, its own and the full slots over the full
 * pool's target). Each empty entry is reserved under the lock (each
 * pool's and the other's in turn, never both), then set up without it. */
static void fill(struct pool *p)
{
	struct fill_view me = view(p), o = view(other(p));
	size_t count = me.count, spare;
	bool lean = p->profile == POOL_LEAN, due;

	if (lean && me.count > me.target && o.count < o.target) {
		/* The full profile waits for room: lean slots over the
		 * target go. (Full slots over theirs are spent by lean runs
		 * first: pool.c, acquire_for.) */
		shrink(p, me.count - me.target);
		wake_thread(other(p));
		return;
	}
	/* what this pool's runs can use: for lean runs, the full slots over
	 * the full pool's target too (pool.c, acquire_for) */
	spare = lean && o.count > o.target ? o.count - o.target : 0;
	pthread_mutex_lock(&p->lock);
	due = pool_fill_due(me.target + spare,
			    me.ready + (o.ready < spare ? o.ready : spare),
			    me.in_use + o.in_use, now_ms(), p->fill_after);
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; due && i < p->size && count < me.target &&
			   count + o.count < p->set->total;
	     i++) {
		struct pool_slot *s = &p->slots[i];
		bool reserved;

		pthread_mutex_lock(&p->lock);
		reserved = pool_slot_next(s->state, EV_SPAWN) == SLOT_SPAWNING;
		if (reserved)
			s->state = SLOT_SPAWNING;
		pthread_mutex_unlock(&p->lock);
		if (reserved && slot_spawn(p, s) < 0)
			break;
		count += reserved;
	}
}

static void check_timeouts(struct pool *p, uint64_t now)
{
	if (p->zstate == ZY_STARTING && now > p->zstarted_ms + ZYGOTE_START_MS)
		zygote_failed(p, "the zygote took too long to start");
}

/* Adds the sockets of the slots that may speak (STARTING, READY) to pfd
 * from n on, noting which entry and which slot each is. Returns the new n. */
static size_t watch_slots(struct pool *p, struct pollfd *pfd,
			  struct pool_slot **who, uint32_t *ids, size_t n)
{
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->size; i++) {
		struct pool_slot *s = &p->slots[i];

		if (s->state == SLOT_STARTING || s->state == SLOT_READY) {
			who[n] = s;
			ids[n] = s->id;
			pfd[n++] = (struct pollfd){.fd = s->sock, .events = POLLIN};
		}
	}
	pthread_mutex_unlock(&p->lock);
	return n;
}

static int poll_timeout(struct pool *p, uint64_t now)
{
	int timeout;
	bool graves;

	if (p->zstate != ZY_DOWN)
		timeout = 1000;
	else
		timeout = (int)(p->retry_at > now ? p->retry_at - now : 0);
	pthread_mutex_lock(&p->lock);
	graves = p->graves != NULL;
	pthread_mutex_unlock(&p->lock);
	if (graves)
		timeout = timeout < 0 || timeout > 5 ? 5 : timeout;
	if (p->retired)
		timeout = timeout < 0 || timeout > 100 ? 100 : timeout;
	if (p->fill_after > now && p->zstate == ZY_UP &&
	    (uint64_t)timeout > p->fill_after - now)
		timeout = (int)(p->fill_after - now);
	return timeout;
}

void *pool_main(void *arg)
{
	struct pool *p = arg;
	struct pollfd *pfd = calloc(p->size + 8, sizeof(*pfd));
	struct pool_slot **who = calloc(p->size + 8, sizeof(*who));
	uint32_t *ids = calloc(p->size + 8, sizeof(*ids));
	struct sched_param batch = {0};

	/* Its work (setting slots up, removing cgroups) is for later runs:
	 * a run that takes or gives back a slot wakes it, and it must not
	 * take that run's CPU before the run has answered (SCHED_BATCH: a
	 * wake-up never preempts). Its share of the CPU stays the same. */
	(void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &batch);

	while (pfd && who && ids && !pool_stopping(p)) {
		uint64_t now = now_ms();
		size_t n = 0, zctl_i = 0, zlog_i = 0, zst_i = 0;

		if (p->zstate == ZY_DOWN && now >= p->retry_at)
			zygote_start(p);
		if (p->zstate == ZY_UP) {
			fill(p);
			slot_upgrade(p);
		}
		check_timeouts(p, now);
		pfd[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
		if (p->zstate != ZY_DOWN) {
			zctl_i = n;
			pfd[n++] = (struct pollfd){.fd = p->zctl, .events = POLLIN};
			zlog_i = n;
			pfd[n++] = (struct pollfd){.fd = p->zlog, .events = POLLIN};
			zst_i = n;
			pfd[n++] = (struct pollfd){.fd = p->zproc.status,
						   .events = POLLIN};
		}
		n = watch_slots(p, pfd, who, ids, n);
		poll(pfd, n, poll_timeout(p, now_ms()));
		if (pfd[0].revents) {
			char buf[64];
			while (read(p->wake[0], buf, sizeof(buf)) > 0)
				;
		}
		if (p->zstate != ZY_DOWN && pfd[zlog_i].revents)
			zygote_log(p);
		if (p->zstate != ZY_DOWN && pfd[zctl_i].revents)
			zygote_message(p);
		if (p->zstate != ZY_DOWN && pfd[zst_i].revents) {
			/* Its error message, read just above when both came
			 * in one poll, says more than its death. */
			zygote_log(p);
			zygote_failed(p, strstr(p->error, "could not start")
					     ? NULL
					     : "the zygote died");
		}
		/* still the same slot (slot_message checks), and it spoke or
		 * hung up */
		for (size_t i = zst_i + 1; i < n; i++)
			if (pfd[i].revents)
				slot_message(p, who[i], ids[i]);
		bury(p, false);
		reap_retired(p, false);
		pool_measure(p, now_ms());
	}
	if (p->zstate != ZY_DOWN)
		zygote_stop(p);
	reap_retired(p, true);
	while (bury(p, true))
		;
	free(pfd);
	free(who);
	free(ids);
	return NULL;
}
