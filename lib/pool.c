/* SPDX-License-Identifier: MIT */
/*
 * pool.c - the warm pool, library side: its public face.
 *
 * The pool thread (pool_thread.c) owns the zygote (pool_zygote.c) and every
 * slot that is not taken (pool_slot.c): it starts the zygote, asks it for
 * slots, moves each new slot process into a cgroup of its own, releases it,
 * and waits for it to report that it is locked down. A run takes a ready
 * slot under the lock (acquire, bounded by pool_wait), hands it the script
 * and watches it like a cold run; the slot goes back to the thread to be
 * killed and its cgroup removed. The lock rule is in pool_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "fdpass.h"
#include "job.h"
#include "pool_int.h"
#include "proto.h"
#include "supervise.h"
#include "util.h"

extern const char pexos_zygote_helper[];
extern const unsigned long pexos_zygote_helper_len;

/* May the slots' warm-up run at SCHED_IDLE? Only if we can raise a slot
 * back to SCHED_OTHER when its script arrives. */
static bool can_renice(void)
{
	cap_t caps = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (caps) {
		cap_get_flag(caps, CAP_SYS_NICE, CAP_EFFECTIVE, &v);
		cap_free(caps);
	}
	return v == CAP_SET;
}

static void pool_free(struct pool *p)
{
	close_fds(p->wake, 2);
	if (p->helper_fd >= 0)
		close(p->helper_fd);
	free(p->slots);
	free(p);
}

/* PEXOS_TEST_ZYGOTE_DELAY_MS: pexos(7), a hook for the test suite. */
static uint64_t test_delay_ms(void)
{
	const char *v = secure_getenv("PEXOS_TEST_ZYGOTE_DELAY_MS");
	uint64_t ms = 0;

	if (v && parse_u64(v, 0, 600000, &ms) < 0)
		ms = 0;
	return ms;
}

const char *const pool_profile_names[POOL_PROFILES] = {
	[POOL_FULL] = "full",
	[POOL_LEAN] = "lean",
};

/* One profile's pool: its thread starts its zygote. */
static int pool_start_one(struct pexos_context *ctx, struct pool_set *set,
			  int profile, const char *preload, pexos_error *err)
{
	struct pool *p = calloc(1, sizeof(*p));
	pthread_condattr_t ca;
	int r;

	if (!p)
		return pexos_fail(err, ENOMEM, "pool", "out of memory");
	p->ctx = ctx;
	p->set = set;
	p->profile = profile;
	snprintf(p->preload, sizeof(p->preload), "%s", preload);
	p->size = set->total;
	p->target = set->total;
	p->zctl = p->zlog = p->zpidfd = -1;
	p->zproc.pidfd = p->zproc.status = -1;
	p->wake[0] = p->wake[1] = -1;
	p->idle = can_renice();
	p->test_delay_ms = test_delay_ms();
	p->helper_fd = exec_memfd("pexos-zygote-helper", pexos_zygote_helper,
				  pexos_zygote_helper_len);
	if (p->helper_fd < 0) {
		r = p->helper_fd;
		pool_free(p);
		return pexos_fail_errno(err, -r, "pool",
					"hold the zygote's helper in memory");
	}
	p->slots = calloc(p->size, sizeof(*p->slots));
	if (!p->slots || pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		pool_free(p);
		return pexos_fail(err, ENOMEM, "pool", "out of memory");
	}
	for (size_t i = 0; i < p->size; i++)
		slot_reset(&p->slots[i]);
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->ready, &ca);
	pthread_condattr_destroy(&ca);
	set->pool[profile] = p;
	return 0;
}

static void pool_stop_one(struct pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->ready);
	pthread_mutex_unlock(&p->lock);
	wake_thread(p);
	if (p->thread_started)
		pthread_join(p->thread, NULL);
	p->thread_started = false;
}

/* Sets each pool's target from the demand (after counting a run of
 * `profile` likely to write the page sets `kinds`, or its starving when
 * `starved`); wakes the pools whose target changed. Takes the set's lock,
 * then each pool's, never both. */
static void retarget(struct pool_set *set, int profile, unsigned kinds,
		     bool starved)
{
	size_t target[POOL_PROFILES];
	bool two = set->pool[POOL_LEAN] != NULL;

	pthread_mutex_lock(&set->lock);
	if (profile >= 0 && starved)
		pool_demand_starved(&set->demand, profile);
	else if (profile >= 0)
		pool_demand_note(&set->demand, profile, kinds, now_ms());
	if (two)
		pool_targets(&set->demand, set->total, target);
	pthread_mutex_unlock(&set->lock);
	if (!two)
		return; /* one pool: it keeps them all */
	for (int i = 0; i < POOL_PROFILES; i++) {
		struct pool *p = set->pool[i];
		bool changed;

		pthread_mutex_lock(&p->lock);
		changed = p->target != target[i];
		p->target = target[i];
		pthread_mutex_unlock(&p->lock);
		if (changed)
			wake_thread(p);
	}
}

int pool_start(struct pexos_context *ctx, pexos_error *err)
{
	struct pool_set *set;
	int r = 0;

	if (ctx->opts.pool == 0)
		return 0;
	if (ctx->cg.mode == CG_NONE)
		return pexos_fail(err, ENOTSUP, "pool",
				  "the warm pool needs cgroups (each slot gets "
				  "its own); with --limits=rlimit set the pool "
				  "size to 0");
	set = calloc(1, sizeof(*set));
	if (!set)
		return pexos_fail(err, ENOMEM, "pool", "out of memory");
	set->total = ctx->opts.pool;
	pthread_mutex_init(&set->lock, NULL);
	r = pool_start_one(ctx, set, POOL_FULL, ctx->opts.preload, err);
	if (r == 0 && ctx->opts.preload[0] && ctx->opts.lean_pool)
		r = pool_start_one(ctx, set, POOL_LEAN, "", err);
	if (r == 0)
		retarget(set, -1, 0, false);
	for (int i = 0; r == 0 && i < POOL_PROFILES; i++) {
		struct pool *p = set->pool[i];

		if (!p)
			continue;
		r = pthread_create(&p->thread, NULL, pool_main, p);
		if (r != 0) {
			r = pexos_fail_errno(err, r, "pool",
					     "start the pool's thread");
			break;
		}
		p->thread_started = true;
	}
	ctx->pool = set;
	if (r < 0) {
		pool_stop(ctx);
		return r;
	}
	return 0;
}

void pool_stop(struct pexos_context *ctx)
{
	struct pool_set *set = ctx ? ctx->pool : NULL;

	if (!set)
		return;
	/* Every thread ends before any pool goes: each looks at the
	 * other's counts while it fills. */
	for (int i = 0; i < POOL_PROFILES; i++)
		if (set->pool[i])
			pool_stop_one(set->pool[i]);
	for (int i = 0; i < POOL_PROFILES; i++) {
		struct pool *p = set->pool[i];

		if (!p)
			continue;
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->ready);
		pool_free(p);
	}
	pthread_mutex_destroy(&set->lock);
	free(set);
	ctx->pool = NULL;
}

/* ---- runs ------------------------------------------------------------- */

/* A run waits this long for the lock even with a pool_wait of 0: a holder
 * preempted on a busy host must not send it to the cold path. */
#define LOCK_WAIT_MIN_MS 50

static struct timespec ms_to_ts(uint64_t ms)
{
	return (struct timespec){.tv_sec = (time_t)(ms / 1000),
				 .tv_nsec = (long)(ms % 1000) * 1000000};
}

/* Takes a ready slot, waiting up to pool_wait while the pool is healthy.
 * Both waits are bounded by pool_wait: the lock's (held only briefly, by
 * the rule of pool_int.h, but a run must not depend on it) and the wait
 * for a slot. */
enum acq_mode {
	ACQ_WAIT,   /* a ready slot, waiting up to pool_wait */
	ACQ_NOW,    /* a ready slot, without waiting */
	ACQ_EXCESS, /* a ready slot the pool holds over its target */
};

/* While a run waits for a slot, how often its cancel descriptors are
 * looked at (as a running sandbox's are). */
#define CANCEL_POLL_MS 100

static bool acquire(struct pool *p, struct pool_slot *out, enum acq_mode mode,
		    unsigned need, const struct run_plan *plan)
{
	bool wait = mode == ACQ_WAIT;
	uint64_t now = now_ms(),
		 deadline = now + (wait ? p->ctx->opts.pool_wait_ms : 0);
	struct timespec ts = ms_to_ts(deadline);
	struct timespec lock_ts = ms_to_ts(
		deadline > now + LOCK_WAIT_MIN_MS ? deadline
						  : now + LOCK_WAIT_MIN_MS);

	if (pthread_mutex_clocklock(&p->lock, CLOCK_MONOTONIC, &lock_ts) != 0) {
		if (wait)
			atomic_fetch_add(&p->misses, 1);
		return false;
	}
	for (;;) {
		struct pool_slot *best =
			pool_pick_ready(p->slots, p->size, need);

		if (best && mode == ACQ_EXCESS && pool_count(p) <= p->target)
			best = NULL;
		if (best) {
			*out = *best;
			slot_reset(best);
			p->hits++;
			p->in_use++;
			pthread_mutex_unlock(&p->lock);
			wake_thread(p);
			return true;
		}
		if (p->stop || atomic_load(&p->ctx->cancelled) ||
		    pool_broken(p) || !wait || now_ms() >= deadline) {
			if (wait)
				atomic_fetch_add(&p->misses, 1);
			pthread_mutex_unlock(&p->lock);
			return false;
		}
		/* A client gone while its run waits: no slot, and no miss
		 * (the caller sees the cancel before it starts anything). */
		if (plan && plan_cancelled(plan)) {
			pthread_mutex_unlock(&p->lock);
			return false;
		}
		if (plan && plan->n_cancel_fd) {
			uint64_t soon = now_ms() + CANCEL_POLL_MS;

			ts = ms_to_ts(soon < deadline ? soon : deadline);
		}
		pthread_cond_timedwait(&p->ready, &p->lock, &ts);
	}
}

static int watch(struct pool_lease *l, const struct run_plan *plan,
		 struct sandbox_result *res, bool streams, pexos_error *err)
{
	struct pool_slot *s = &l->slot;
	struct sandbox_watch sw = {
		.cg = &s->cg,
		.cpu0 = l->cpu0,
		.t0 = l->t0,
		.wait_fd = s->status,
		.kill_fd = s->init_pidfd,
		.out = streams ? &s->out : NULL,
		.err = &s->err,
		.res = &s->res,
		.end_on_eof = streams,
		.exited = !l->pending,
	};
	int r = sandbox_watch(l->pool->ctx, plan, &sw, res, err);

	if (sw.exited && l->pending) {
		struct proto_slot_status st;

		l->pending = false;
		res->have_status = read(s->status, &st, sizeof(st)) ==
				   sizeof(st);
		if (res->have_status) {
			res->status = st.status;
			if (l->faults0 >= 0 && st.faults >= (uint64_t)l->faults0)
				res->faults = st.faults - (uint64_t)l->faults0;
		}
	}
	return r;
}

/* The run's figures: CPU time and the OOM killer's verdict for the judge,
 * the peak memory only for stats (one cgroup file less a run). */
static void fill_stats(struct pool_lease *l, const struct run_plan *plan,
		       struct sandbox_result *res)
{
	const struct pexos_context *ctx = l->pool->ctx;
	uint64_t cpu = cg_run_cpu_ms(&ctx->cg, &l->slot.cg);

	res->wall_ms = now_ms() - l->t0;
	res->cpu_ms = cpu > l->cpu0 ? cpu - l->cpu0 : 0;
	if (plan->stats)
		res->max_rss_kb = cg_run_peak_kb(&ctx->cg, &l->slot.cg);
	res->oom = cg_run_oom(&ctx->cg, &l->slot.cg);
}

/* The page faults a process took so far, minor and major
 * (/proc/PID/stat), or -1. */
static int64_t proc_faults(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long minflt, majflt;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	/* after "pid (comm) ": state ppid pgrp session tty tpgid flags
	 * minflt cminflt majflt */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu",
			 &minflt, &majflt) != 2)
		return -1;
	return (int64_t)(minflt + majflt);
}

/* Hands the script over. Returns 0, or -errno when the slot cannot take
 * it (the run then goes to another slot or the cold path). */
static int hand_off(struct pool_lease *l, const struct run_plan *plan)
{
	struct pexos_context *ctx = l->pool->ctx;
	struct pool_slot *s = &l->slot;
	int fds[2] = {-1, -1}, r;
	char msg[PROTO_MSG_JOB_LEN] = {PROTO_MSG_JOB};
	_Static_assert(PROTO_MSG_JOB_LEN == 1 + 8 + 1, "J cpu_ms kinds");

	/* Its limits are its cgroup's: a slot moved out of it (or whose
	 * cgroup was removed) while it waited is disposed of, never used. */
	r = cg_run_still(&ctx->cg, &s->cg, s->pid, &s->cg_seen);
	if (r < 0)
		return r;
	if (plan->memory_mb != ctx->opts.memory_mb) {
		r = cg_run_set_memory(&ctx->cg, &s->cg, plan->memory_mb);
		if (r < 0)
			return r;
	}
	if (s->cg_idle && cg_run_set_idle(&ctx->cg, &s->cg, false) < 0)
		return -EIO;
	if (l->pool->idle)
		slot_sched(s->pid, false);
	fds[0] = job_memfd(&ctx->opts, plan);
	fds[1] = sandbox_memfd("pexos-stdin", plan->stdin_data, plan->stdin_len);
	if (fds[0] < 0 || fds[1] < 0) {
		r = fds[0] < 0 ? fds[0] : fds[1];
		close_fds(fds, 2);
		return r;
	}
	memcpy(msg + 1, &plan->cpu_ms, 8);
	msg[9] = (char)l->kinds;
	l->t0 = now_ms();
	l->cpu0 = cg_run_cpu_ms(&ctx->cg, &s->cg);
	l->faults0 = plan->stats ? proc_faults(s->pid) : -1; /* stats only */
	r = fdpass_send(s->sock, msg, sizeof(msg), fds, PROTO_JOB_NFD);
	close_fds(fds, 2);
	close_fds(&s->sock, 1);
	return r;
}

/* Whether a run that waits for a slot of `p` gets one soon: one is being
 * made (and the run may wait at all). */
static bool on_its_way(struct pool *p)
{
	bool coming = false;

	if (p->ctx->opts.pool_wait_ms == 0)
		return false;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->size && !coming; i++)
		coming = p->slots[i].state == SLOT_SPAWNING ||
			 p->slots[i].state == SLOT_STARTING;
	coming = coming && !pool_broken(p);
	pthread_mutex_unlock(&p->lock);
	return coming;
}

/* A slot for a run of `profile`: its own pool's, waiting up to pool_wait.
 * A lean run takes a ready full slot (the full zygote has imported more,
 * never less) when the full pool holds more than its share, or when no
 * lean slot is on its way; else it waits for the lean one: a full slot
 * taken within the full pool's share is made again, at about twice a lean
 * slot's CPU (hello at c=4: 230 against 280 requests a second when a
 * fifth of the runs took one). A run about to wait moves the split its
 * way first (pool_demand_starved): the burst it may start gets the room
 * it needs. */
static struct pool *acquire_for(struct pool_set *set, int profile,
				unsigned need, struct pool_slot *out,
				const struct run_plan *plan)
{
	struct pool *own = set->pool[profile], *full = set->pool[POOL_FULL];

	if (profile == POOL_LEAN) {
		/* full slots over the full pool's target (demand moved to
		 * lean runs) are spent first: they are made already */
		if (acquire(full, out, ACQ_EXCESS, need, NULL)) {
			wake_thread(own); /* room for a lean slot again */
			return full;
		}
		if (acquire(own, out, ACQ_NOW, need, NULL))
			return own;
		if (!on_its_way(own) &&
		    acquire(full, out, ACQ_NOW, need, NULL)) {
			wake_thread(own);
			return full;
		}
	} else if (acquire(own, out, ACQ_NOW, need, NULL)) {
		return own;
	}
	if (set->pool[POOL_LEAN])
		retarget(set, profile, 0, true);
	return acquire(own, out, ACQ_WAIT, need, plan) ? own : NULL;
}

int pool_run(struct pool_set *set, const struct run_plan *plan,
	     struct pool_lease *l, struct sandbox_result *res, pexos_error *err)
{
	int profile;
	unsigned kinds;
	int r;

	memset(l, 0, sizeof(*l));
	slot_reset(&l->slot);
	if (!set)
		return 0;
	kinds = pool_kinds_of(plan->script, plan->script_len,
			      set->pool[POOL_FULL]->preload);
	profile = set->pool[POOL_LEAN] ? pool_profile_for(kinds) : POOL_FULL;
	retarget(set, profile, kinds, false);
	for (int tries = 0;; tries++) {
		struct pool *p = acquire_for(set, profile, kinds, &l->slot,
					     plan);

		if (!p)
			return plan_cancelled(plan) ? sandbox_fail_hung_up(err)
						    : 0;
		l->pool = p;
		l->profile = p->profile;
		l->kinds = kinds;
		if (hand_off(l, plan) == 0)
			break;
		slot_dispose(p, &l->slot, true);
		l->pool = NULL;
		if (tries == 2)
			return 0;
	}
	l->pending = true;
	sandbox_result_init(l->pool->ctx, plan, res);
	r = watch(l, plan, res, true, err);
	fill_stats(l, plan, res);
	if (r < 0) {
		sandbox_result_done(res);
		pool_release(l);
		return r;
	}
	return 1;
}

int pool_finish(struct pool_lease *l, const struct run_plan *plan,
		struct sandbox_result *res, pexos_error *err)
{
	int r = 0;

	/* Once the script's process has exited, pool_run's figures are its
	 * last: read again, they cost three cgroup files. */
	if (l->pending) {
		r = watch(l, plan, res, false, err);
		fill_stats(l, plan, res);
	}
	return r;
}

void pool_release(struct pool_lease *l)
{
	if (l->pool)
		slot_dispose(l->pool, &l->slot, true);
	l->pool = NULL;
}
