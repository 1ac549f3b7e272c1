/* SPDX-License-Identifier: MIT */
/*
 * pool_int.h - the warm pool's insides, shared by pool*.c only.
 *
 * pool.c         the public face: start, stop, run, finish, release and
 *                acquire (a run takes a ready slot)
 * pool_thread.c  the pool thread's loop: refill, timeouts, who spoke
 * pool_zygote.c  the zygote: start, stop, failure, its log and messages,
 *                retired base sandboxes
 * pool_slot.c    one slot: spawn, spawned, message, dispose, graves, sched
 * pool_state.c   the decisions, free of the kernel: slot transitions,
 *                back-off, the newest-ready choice, when to refill
 * pool_status.c  the pool's state for /health and /metrics
 * pool_profile.c which profile's pool a script goes to, and the share of
 *                the slots each profile keeps
 *
 * PROFILES. The pool is a set (struct pool_set) of one struct pool per
 * profile, each with its own zygote, thread, lock and slot table: "full"
 * (the preload list imported) and, when that list is not empty, "lean"
 * (nothing preloaded: a slot a fraction of the cost). Every slot of either
 * is set up and locked down by the same code (helper.c, lockdown.c); only
 * the zygote's preload list differs. The configured size is the set's
 * total: each pool keeps `target` slots, the targets following recent
 * demand (pool_targets) and summing to the total. The set's own lock
 * guards the demand and is never held with a pool's.
 *
 * THE LOCK RULE. p->lock guards the slot table (every slot's `state`, and a
 * READY slot as a whole), the shared fields of struct pool marked so below
 * (counters, the zygote's state and the error text) and the list of graves.
 * It is held only to read or change those: never across a clone, fork,
 * cgroup write, sleep, poll or blocking read, so that it is always given
 * back within microseconds. A run's acquire() (a timed lock, then a timed
 * wait bounded by pool_wait) and pool_status() therefore never wait for a
 * zygote's start or a slot's set-up.
 *
 * Who owns what, the lock aside:
 *  - The pool thread alone owns the zygote (its descriptors, cgroup, log,
 *    retired sandboxes), the private fields below, and every slot in
 *    SPAWNING or STARTING: it works on them unlocked and takes the lock
 *    only to publish a change of state (pool_slot_next).
 *  - A READY slot belongs to the table. Whoever takes it (a run in
 *    acquire, or the pool thread when it disposes of it) copies it out and
 *    resets the entry, under the lock; the copy is then the taker's alone.
 *  - An EMPTY entry is filled only by the pool thread (reserved as SPAWNING
 *    under the lock, then set up unlocked).
 */
#ifndef PEXOS_POOL_INT_H
#define PEXOS_POOL_INT_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pool.h"

enum slot_state { SLOT_EMPTY, SLOT_SPAWNING, SLOT_STARTING, SLOT_READY };
enum zy_state { ZY_DOWN, ZY_STARTING, ZY_UP };

/* What happens to a slot. */
enum slot_event {
	EV_SPAWN,  /* the pool thread asks the zygote for it */
	EV_FORKED, /* forked, in its cgroup, told to go */
	EV_READY,  /* it says it is locked down and waiting */
	EV_TAKE,   /* a run (or the pool thread, to dispose of it) takes it */
	EV_FAIL,   /* it failed or died before it was taken: disposed */
};

/* Slots killed, whose cgroups are still to be removed. */
struct grave {
	struct grave *next;
	struct cg_run cg;
	int init_pidfd;
};

/* A zygote's base sandbox left running after the zygote died: its init
 * goes on until the runs on the slots it started are over. Those runs are
 * the only reason to keep it (the pool's own slots of that zygote are
 * killed when it is retired), but a slot the zygote forked and never
 * reported (it died in between) would keep it forever: reap_retired ends
 * it once no run holds any slot, or once every run that could hold one of
 * its slots is past its deadline. */
struct retired {
	struct retired *next;
	int pidfd;
	struct cg_run cg;
	uint64_t since; /* retired at, ms */
};

/* Recent demand per profile: counts of runs, decayed exponentially with
 * POOL_DEMAND_TAU_MS (a weighted rate), and again with
 * POOL_DEMAND_FAST_TAU_MS (the mix of the last few runs: pool_targets). */
#define POOL_DEMAND_TAU_MS 2000.0
#define POOL_DEMAND_FAST_TAU_MS 100.0
/* On that scale, the full runs that make a burst (about two in 100 ms);
 * and how long the lean profile has had no run when it is quiet. */
#define POOL_BURST_RUNS 1.5
#define POOL_QUIET_MS 100
/* What a full slot takes to make, in lean ones: on our VM about 2,450
 * page faults and 14 ms of CPU against 1,000 and 5 ms (tests/bench/pool). */
#define POOL_FULL_COST 3.0
/* The kinds of run (proto.h, PROTO_KIND_*), by bit number, and the full
 * runs their shares are averaged over (an exponential moving average). */
#define POOL_KINDS 4
#define POOL_KINDS_RUNS 16.0
struct pool_demand {
	double weight[POOL_PROFILES];
	double recent[POOL_PROFILES]; /* the same, POOL_DEMAND_FAST_TAU_MS */
	uint64_t last_ms[POOL_PROFILES]; /* each profile's last run */
	double kinds[POOL_KINDS]; /* each kind's share of the full runs */
	uint64_t at_ms; /* last update */
};

struct pool_set {
	struct pool *pool[POOL_PROFILES]; /* POOL_LEAN NULL without preload */
	size_t total;                     /* the configured size */
	pthread_mutex_t lock;             /* demand */
	struct pool_demand demand;
};

struct pool {
	struct pexos_context *ctx;
	struct pool_set *set;
	int profile;        /* POOL_FULL or POOL_LEAN */
	char preload[512];  /* what its zygote imports */
	pthread_mutex_t lock;
	pthread_cond_t ready; /* a slot became ready, or the pool failed */
	pthread_t thread;
	bool thread_started;
	int wake[2];
	size_t size;
	bool idle;     /* slots start at SCHED_IDLE; we can raise them back */
	int helper_fd; /* the zygote's helper.c, a sealed memory file */
	uint64_t test_delay_ms; /* PEXOS_TEST_ZYGOTE_DELAY_MS, see pexos(7) */

	/* ---- shared: under the lock ---- */
	struct pool_slot *slots; /* states; READY slots whole */
	bool stop;
	enum zy_state zstate;
	pid_t zpid;
	unsigned failures;   /* zygote starts failed in a row */
	unsigned fail_streak; /* slots failed in a row */
	char error[512];     /* written by the pool thread only */
	struct grave *graves;
	size_t target; /* slots to keep (pool_targets); size is the most */
	uint64_t hits, spawned, restarts, slot_failures;
	atomic_uint_fast64_t misses; /* also counted when the lock timed out */
	uint64_t start_ms_sum, start_n; /* spawn to ready, for /health */
	uint64_t zstarted_ms, zready_ms;
	uint64_t fill_after; /* refill backs off after slot failures */
	unsigned in_use;     /* slots handed to runs and not yet disposed */
	/* the zygote's memory, measured by the pool thread when it comes up
	 * and while the pool rests (pool_measure): pool_info never walks page
	 * tables on its caller's thread */
	long zygote_rss_kb, zygote_private_kb;
	uint64_t measured_ms;

	/* ---- the pool thread's alone ---- */
	uint32_t next_id;
	struct sandbox_proc zproc;
	int zctl, zlog;
	struct cg_run zcg;
	int zpidfd; /* the zygote itself */
	uint64_t retry_at;
	char log[1024];
	size_t log_len;
	struct retired *retired;
};

/* pool_status.c: resident and private memory of a process, KiB (-1 when
 * unknown); 0 or -1. */
int pool_smaps_kb(pid_t pid, long *rss, long *priv);
/* Measures the zygote's memory again, and every ready slot's, once every
 * few seconds while the pool rests (full, no run on a slot, none being
 * set up): never on the way of a refill. */
void pool_measure(struct pool *p, uint64_t now);

/* Zygote start-up (imports, warm-up) must finish in this. */
#define ZYGOTE_START_MS 60000
#define RETRY_MAX_MS 60000

/* pool_state.c: decisions without the kernel (unit-tested). */

/* The state after `ev` in `state`, or -1 when ev cannot happen there. */
int pool_slot_next(int state, enum slot_event ev);

/* Every `first`, doubled per failure after the first, at most `max`. */
uint64_t pool_backoff_ms(unsigned failures, uint64_t first, uint64_t max);

/* The ready slot that became ready last among those that have made the
 * page sets `need` their own, else among all; NULL when none is ready.
 * Under the lock. */
struct pool_slot *pool_pick_ready(struct pool_slot *slots, size_t n,
				  unsigned need);

/* Should the pool thread refill now? Not while runs hold slots and at
 * least half the pool is ready, nor before fill_after. */
bool pool_fill_due(size_t size, size_t ready, unsigned in_use, uint64_t now,
		   uint64_t fill_after);

/* Counts a slot's failure and sets when the refill may go on: 50 ms after
 * the first of a streak, doubling up to 5 s. Under the lock. */
void pool_note_slot_failure(struct pool *p, uint64_t now);

/* Should a run stop waiting for a slot and go cold? A pool whose zygote
 * failed, or whose slots keep failing, answers at once. Under the lock. */
bool pool_broken(const struct pool *p);

/* pool_profile.c: POOL_FULL when one of the script's import statements
 * names a module of the comma-separated `preload` list or one known to
 * import numpy or pandas, else POOL_LEAN. */
int pool_profile_of(const char *script, size_t len, const char *preload);

/* The same from the script's page sets (pool_kinds_of). */
int pool_profile_for(unsigned kinds);

/* pool_profile.c: the page sets (proto.h, PROTO_KIND_*) a run of the
 * script is likely to write, from the same look at its imports:
 * PROTO_KIND_BASE always, PROTO_KIND_NUMPY for a module of `preload` or
 * one known to import numpy, PROTO_KIND_PANDAS and PROTO_KIND_PYPLOT for
 * those known to import pandas or matplotlib. */
unsigned pool_kinds_of(const char *script, size_t len, const char *preload);

/* Counts a run of `profile` (likely to write the page sets `kinds`) at
 * `now` (ms) into the decayed weights. */
void pool_demand_note(struct pool_demand *d, int profile, unsigned kinds,
		      uint64_t now);

/* The page sets a new full slot makes its own: those of at least an
 * eighth of the recent full runs (a moving average over about
 * POOL_KINDS_RUNS of them), PROTO_KIND_BASE always; every set when full
 * runs have been rare lately (a rested pool: its first runs, of any
 * kind, find their pages ready). */
unsigned pool_kinds_wanted(const struct pool_demand *d, uint64_t now);

/* A run of `profile` found no ready slot of its own: its costed weight is
 * raised to the others' together, on both time scales (a share of half
 * the pool at least). */
void pool_demand_starved(struct pool_demand *d, int profile);

/* Splits `total` slots between the profiles by demand, the full profile
 * keeping at least a quarter, the lean one an eighth (at least one each
 * when total >= 2). In a burst of full runs with the lean profile quiet
 * (POOL_BURST_RUNS, POOL_QUIET_MS) the full profile's share is the
 * larger of the two time scales'. */
void pool_targets(const struct pool_demand *d, size_t total,
		  size_t target[POOL_PROFILES]);

/* Slots of `p` not EMPTY (ready or being set up). Under p->lock. */
size_t pool_count(const struct pool *p);

/* pool_slot.c */
void slot_reset(struct pool_slot *s);
void slot_sched(pid_t pid, bool idle);
pid_t pidfd_pid(int pidfd);
int slot_spawn(struct pool *p, struct pool_slot *s);
void slot_spawned(struct pool *p, struct pool_slot *s, int fds[2]);
void slot_failed(struct pool *p);
void slot_message(struct pool *p, struct pool_slot *s, uint32_t id);
void slot_dispose(struct pool *p, struct pool_slot *s, bool run);
void slot_dispose_entry(struct pool *p, struct pool_slot *s);
unsigned pool_slot_kinds(struct pool *p);
void slot_upgrade(struct pool *p);
bool bury(struct pool *p, bool wait);

/* pool_zygote.c */
void zygote_start(struct pool *p);
void zygote_stop(struct pool *p);
void zygote_failed(struct pool *p, const char *why);
void zygote_message(struct pool *p);
void zygote_log(struct pool *p);
void reap_retired(struct pool *p, bool all);

/* pool_thread.c */
void *pool_main(void *arg);
void wake_thread(struct pool *p);
bool pool_stopping(struct pool *p);

/* Replaces (set) or extends (add) the pool's error text, under the lock.
 * Pool thread only; never called with the lock held. */
void set_error(struct pool *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void add_error(struct pool *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
