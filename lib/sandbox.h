/* SPDX-License-Identifier: MIT */
/* sandbox.h - one run in a fresh sandbox (the cold path). */
#ifndef PEXOS_SANDBOX_H
#define PEXOS_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "plan.h"
#include "response.h"

/* What the sandbox saw. Judging it (success, Timeout, Killed, ...) is the
 * caller's business. */
struct sandbox_result {
	struct capture out; /* the script's fd 1 */
	struct capture err; /* the script's fd 2 */
	struct capture res; /* the runner's result channel */
	bool timed_out;     /* killed by us at the wall-clock deadline */
	bool cpu_over;      /* killed by us: the run's CPU time ran out */
	bool oom;           /* the OOM killer acted in the run's cgroup */
	bool have_status;   /* init reported the script's wait status */
	int status;         /* that wait status */
	uint64_t wall_ms;
	uint64_t cpu_ms;
	uint64_t max_rss_kb;
	uint64_t faults; /* page faults of the run's processes (cgroup) */
};

/* Runs `plan` in a new sandbox. Returns 0 with *res filled (release with
 * sandbox_result_done) whatever the script did, or -errno when the sandbox
 * itself failed (err says which step and why). */
int sandbox_run(const struct pexos_context *ctx, const struct run_plan *plan,
		struct sandbox_result *res, pexos_error *err);

/* Empties *res and sets its capture limits from the context and the plan. */
void sandbox_result_init(const struct pexos_context *ctx,
			 const struct run_plan *plan,
			 struct sandbox_result *res);

void sandbox_result_done(struct sandbox_result *res);

/* How a run is watched, cold or warm: sandbox_watch(). */
struct sandbox_watch {
	const struct cg_run *cg; /* the run's cgroup */
	uint64_t cpu0;           /* its CPU time before the run, ms */
	uint64_t t0;             /* the run's start: the deadline counts from it */
	int wait_fd;  /* cold: the init's pidfd; warm: the status pipe */
	int kill_fd;  /* what to SIGKILL; -1: wait_fd */
	/* the read ends of the streams, set to -1 at EOF; NULL: the streams
	 * are complete, only wait_fd is watched */
	int *out, *err, *res;
	bool end_on_eof; /* warm: the answer is in once the streams end */
	bool exited;     /* in and out: wait_fd became ready */
};

/* Collects a run's streams into *res until it ends, killing it at the
 * deadline, when its CPU time (from its cgroup, above cpu0) reaches the
 * plan's limit, when the context is cancelled or when the plan's cancel
 * descriptor hangs up (checked every 100 ms). Sets res->timed_out and
 * res->cpu_over. Returns 0, or -errno (ECANCELED on cancel: step "cancel"
 * for the context, "cancel_fd" for the descriptor). */
int sandbox_watch(const struct pexos_context *ctx, const struct run_plan *plan,
		  struct sandbox_watch *sw, struct sandbox_result *res,
		  pexos_error *err);

/* Fills err for a run whose cancel descriptor hung up; returns
 * -ECANCELED. */
int sandbox_fail_hung_up(pexos_error *err);

/* The pool's zygote: a base sandbox like a run's, whose process keeps the
 * setup user's capabilities and runs zygote.py with these descriptors. */
enum { ZY_STDIN, ZY_LOG, ZY_CTL, ZY_CONFIG, ZY_NFD };

struct sandbox_proc {
	int pidfd;  /* the sandbox's init, our child */
	int status; /* init writes the zygote's wait status here */
};

/* Starts it in `cg`. The descriptors in `fds` are the zygote's ends and are
 * closed (set to -1) once it is cloned. Returns 0 or -errno. */
int sandbox_start_zygote(const struct pexos_context *ctx,
			 const struct cg_run *cg, int fds[ZY_NFD],
			 struct sandbox_proc *p, pexos_error *err);

/* A memory file (close-on-exec) holding `len` bytes, positioned at 0, for
 * a run's script or stdin. Returns the fd or -errno. */
int sandbox_memfd(const char *name, const char *data, size_t len);

#endif
