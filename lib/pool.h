/* SPDX-License-Identifier: MIT */
/*
 * pool.h - the warm pool: sandboxes that wait, interpreter warm, for one
 * script each.
 *
 * A zygote (zygote.py) runs in a base sandbox, imports the preload list and
 * forks a process per slot. A background thread keeps `pool` slots ready:
 * each slot is a fresh PID, mount, network, IPC, UTS, cgroup and user
 * namespace with its own cgroup and /tmp, locked down (ids, capabilities,
 * no_new_privs, seccomp) before it is handed a script. A run takes a ready
 * slot, or waits for one up to `pool_wait`, or falls back to the cold path.
 */
#ifndef PEXOS_POOL_H
#define PEXOS_POOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "plan.h"
#include "sandbox.h"

struct pool;
struct pool_set;

/* The warm pool's profiles: which zygote a slot comes from. */
enum pool_profile { POOL_FULL, POOL_LEAN, POOL_PROFILES };
extern const char *const pool_profile_names[POOL_PROFILES];

/* One slot, owned by the pool or, once taken, by one run. */
struct pool_slot {
	int state;
	uint32_t id;
	int sock;          /* our end of the slot's socket */
	int out, err, res; /* read ends of its stdout, stderr, result */
	int status;        /* read end: its wait status, from the zygote */
	int pidfd;         /* its process */
	int init_pidfd;    /* pid 1 of its PID namespace: killing it ends all */
	pid_t pid;         /* its process, as we see it */
	pid_t init;        /* pid 1 of its PID namespace, as we see it */
	uint64_t t_spawn;  /* when the zygote was asked for it, ms */
	uint64_t t_ready;  /* when it said it was ready, ms */
	bool cg_idle;      /* its CPU group is idle until it is handed a run */
	bool self_attach;  /* its processes enter its cgroup themselves */
	unsigned kinds;    /* the page sets it has made its own (proto.h) */
	long private_kb;   /* its private memory when measured, or -1 */
	struct cg_run cg;
	struct cg_seen cg_seen; /* where its process was put (cg_run_note) */
};

/* A run on a taken slot. */
struct pool_lease {
	struct pool *pool;
	struct pool_slot slot;
	int profile; /* the pool the slot came from */
	unsigned kinds; /* the page sets its script is likely to write */
	uint64_t t0, cpu0;
	int64_t faults0; /* its process's page faults before the run, or -1 */
	bool pending; /* the process's wait status has not arrived yet */
};

/* Starts the pool of ctx->opts.pool slots (a no-op for 0). */
int pool_start(struct pexos_context *ctx, pexos_error *err);

/* Stops it: no run may be in progress. */
void pool_stop(struct pexos_context *ctx);

/* Runs `plan` on a ready slot of the profile its imports call for (a lean
 * run takes a full slot when no lean one is ready; pool_profile_of). Returns 1 with *res filled once the run's
 * streams are complete (its wait status may still be pending: see
 * pool_finish), 0 when no slot could be had (use the cold path), or -errno.
 * After 1, release the lease with pool_release. */
int pool_run(struct pool_set *set, const struct run_plan *plan,
	     struct pool_lease *l,
	     struct sandbox_result *res, pexos_error *err);

/* Waits for the wait status of the lease's process (under the run's
 * deadline) and completes *res. Returns 0 or -errno. */
int pool_finish(struct pool_lease *l, const struct run_plan *plan,
		struct sandbox_result *res, pexos_error *err);

/* Gives the slot back for disposal: its namespaces and cgroup go. */
void pool_release(struct pool_lease *l);

/* Fills *ret with the pool's state (PEXOS_POOL_OFF for NULL). Never waits
 * for the pool's work. */
void pool_info(struct pool_set *set, pexos_pool_snapshot *ret);

/* The same for one profile's pool (`size`: the slots it keeps now, by
 * demand). Returns 0, or -ENOENT when there is no such profile. */
int pool_profile_info(struct pool_set *set, unsigned index, const char **name,
		      pexos_pool_snapshot *ret);

/* The pool's state as a JSON object (malloc'd), built from pool_info, or
 * NULL without a pool. */
char *pool_status_json(struct pool_set *set);

#endif
