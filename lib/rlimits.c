/* SPDX-License-Identifier: MIT */
#include "rlimits.h"

#include "error.h"

static void set(struct rlimits_plan *rp, int res, rlim_t soft, rlim_t hard)
{
	rp->v[rp->n].resource = res;
	rp->v[rp->n].rl.rlim_cur = soft;
	rp->v[rp->n].rl.rlim_max = hard;
	rp->n++;
}

void rlimits_prepare(const struct pexos_options *o, const struct run_plan *plan,
		     bool memory_by_rlimit, struct rlimits_plan *rp)
{
	rlim_t cpu_s = (rlim_t)((plan->cpu_ms + 999) / 1000);

	rp->n = 0;
	/* No core dumps: they would land in /tmp and cost time. */
	set(rp, RLIMIT_CORE, 0, 0);
	/* CPU: SIGXCPU at the limit, SIGKILL a second later if ignored. */
	set(rp, RLIMIT_CPU, cpu_s, cpu_s + 1);
	/* A single file can never outgrow /tmp; Python ignores SIGXFSZ, so
	 * the write fails with EFBIG instead of killing the script. */
	set(rp, RLIMIT_FSIZE, (rlim_t)o->tmp_mb << 20, (rlim_t)o->tmp_mb << 20);
	set(rp, RLIMIT_NOFILE, 1024, 1024);
	/* Counted per user namespace, so per run: a fork or thread bomb
	 * stops at the pids limit even before cgroups. */
	set(rp, RLIMIT_NPROC, (rlim_t)o->pids, (rlim_t)o->pids);
	set(rp, RLIMIT_MSGQUEUE, 0, 0);
	if (memory_by_rlimit)
		set(rp, RLIMIT_AS, (rlim_t)plan->memory_mb << 20,
		    (rlim_t)plan->memory_mb << 20);
}

void rlimits_prepare_zygote(const struct pexos_options *o,
			    struct rlimits_plan *rp)
{
	(void)o;
	/* The zygote runs as long as the pool and holds a descriptor per live
	 * slot; CPU time and processes are its slots' own business (each
	 * sets its run's limits). */
	rp->n = 0;
	set(rp, RLIMIT_CORE, 0, 0);
	set(rp, RLIMIT_NOFILE, 4096, 4096);
	set(rp, RLIMIT_MSGQUEUE, 0, 0);
}

int rlimits_apply_child(const struct rlimits_plan *rp, pexos_error *err)
{
	for (int i = 0; i < rp->n; i++) {
		struct rlimit cur, rl = rp->v[i].rl;
		/* Only lowering is possible: clamp to what we were given. */
		if (getrlimit(rp->v[i].resource, &cur) == 0 &&
		    cur.rlim_max != RLIM_INFINITY) {
			if (rl.rlim_max > cur.rlim_max)
				rl.rlim_max = cur.rlim_max;
			if (rl.rlim_cur > rl.rlim_max)
				rl.rlim_cur = rl.rlim_max;
		}
		if (setrlimit(rp->v[i].resource, &rl) < 0)
			return pexos_fail_child(err, errno, "rlimit",
						"set a resource limit", NULL);
	}
	return 0;
}
