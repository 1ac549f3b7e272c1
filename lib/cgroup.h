/* SPDX-License-Identifier: MIT */
/* cgroup.h - one cgroup per run: memory (swap included), pids, cpu. */
#ifndef PEXOS_CGROUP_H
#define PEXOS_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "pexos.h"

enum cg_mode {
	CG_NONE,   /* --limits=rlimit: no cgroups, rlimits only */
	CG_V1,     /* legacy hierarchies: memory, pids, cpu, cpuacct */
	CG_V2,     /* the unified hierarchy */
};

/* The v1 controllers, by index. cpu and cpuacct are optional. */
enum { CG1_MEMORY, CG1_PIDS, CG1_CPU, CG1_CPUACCT, CG1_N };

/* v2: the leaf below pexos's own cgroup that the processes in it move to,
 * so that the cgroup may give controllers to the runs. */
#define CG_SUPERVISOR_LEAF "pexos-supervisor"

/* Where this process puts its runs' cgroups: below its own cgroup, in a
 * "pexos" directory (the operator's limits on pexos still hold). */
struct cg_root {
	enum cg_mode mode;
	char base[CG1_N][PATH_MAX]; /* v2 uses base[0] only; "" = absent */
	/* v1: base[i] as /proc/PID/cgroup names it to this process (its
	 * cgroup path in the hierarchy, not where that is mounted). */
	char named[CG1_N][PATH_MAX];
	bool swap;                  /* swap accounting files exist */
	bool created[CG1_N]; /* this cg_prepare made base[i] (it was absent) */
	/* v2, what cg_undo needs: the cgroup whose controllers were enabled,
	 * its cgroup.subtree_control before, and whether its processes were
	 * moved to its CG_SUPERVISOR_LEAF. */
	char own[PATH_MAX];
	char own_control[128];
	bool moved;
	/* v2 under a read-only cgroup2 mount (a container's): the private
	 * read-write mount of pexos's own cgroup that the paths above go
	 * through, as /proc/self/fd/N (cgroup_mount.c). */
	bool private_mount;
	int mount_fd;
	/* base[0] as a reader knows it, for --check and errors. */
	char shown[PATH_MAX + 128];
};

/* One run's cgroup (v1: one directory per controller). */
struct cg_run {
	char path[CG1_N][PATH_MAX];
	int n;
};

/* Parent, once per context. `mode` is "auto" or "cgroup" (cgroups required)
 * or "rlimit" (none used). `sysfs` is the cgroup mount root, normally
 * "/sys/fs/cgroup", `self` the content of /proc/self/cgroup and `mountinfo`
 * that of /proc/self/mountinfo (parameters so the unit tests can point them
 * at a fake tree). pexos's own cgroup must lie inside the mounted tree; v2
 * mounted read-only (a container's) is replaced by a private read-write
 * mount of pexos's own cgroup (cgroup_mount.h). Finds the
 * hierarchy, creates the base directories, enables controllers (v2: moving
 * this process out of a cgroup that must stay free of processes) and removes
 * stale run cgroups of processes that died. Fails closed with a message that
 * says how to get a writable cgroup. */
int cg_prepare(struct cg_root *root, const char *mode, const char *sysfs,
	       const char *self, const char *mountinfo, pexos_error *err);

/* cg_prepare for this process: /sys/fs/cgroup, /proc/self/cgroup and
 * /proc/self/mountinfo. */
int cg_prepare_self(struct cg_root *root, const char *mode, pexos_error *err);

/* The cgroup v2 branch of cg_prepare, whatever `sysfs` is (unit tests run
 * it on a fake tree). */
int cg_prepare_v2(struct cg_root *root, const char *sysfs, const char *self,
		  const char *mountinfo, pexos_error *err);

/* Puts back what cg_prepare changed, for a process that only looked
 * (--check): removes the base cgroups it made, and on v2 turns off the
 * controllers it turned on and moves the processes it moved back. Does
 * nothing where another pexos process still has runs. */
void cg_undo(const struct cg_root *root);

/* Closes what cg_prepare keeps open (the private mount). */
void cg_release(struct cg_root *root);

/* A short name of the mode, for stats and --check: "cgroup-v2", ... */
const char *cg_mode_name(enum cg_mode mode);

/* Parent, per run: creates the run's cgroup with its limits. */
int cg_run_create(const struct cg_root *root, uint64_t memory_mb,
		  uint64_t pids, struct cg_run *run, pexos_error *err);

/* The same for the pool's zygote, named zygote-<pid>-<n>. */
int cg_zygote_create(const struct cg_root *root, uint64_t memory_mb,
		     uint64_t pids, struct cg_run *run, pexos_error *err);

/* Parent: moves `pid` (still waiting for its go) into the run's cgroup. */
int cg_run_attach(const struct cg_run *run, pid_t pid, pexos_error *err);

/* cgroup v1: opens the `tasks` file of each directory of the run's cgroup
 * (write-only, close-on-exec) into fds, for a single-threaded process to
 * enter the cgroup itself by writing "0" to each. Such a move takes no
 * machine-wide lock: a pid written to cgroup.procs takes the kernel's
 * cgroup_threadgroup_rwsem for writing, which may wait for an RCU grace
 * period (milliseconds) while every fork and exit on the machine waits
 * for it. The kernel lets the write if the opener was the host's root or
 * had the writer's uid. Returns how many (run->n), or 0 (not v1, or a
 * file that would not open: then cg_run_attach). */
int cg_run_open_tasks(const struct cg_root *root, const struct cg_run *run,
		      int fds[CG1_N]);

/* cgroup v2: the run's directory (O_PATH, close-on-exec), for a child to
 * be cloned into it (sup_clone_into), or -1 (not v2, or it would not
 * open: then cg_run_attach). */
int cg_run_open_dir(const struct cg_root *root, const struct cg_run *run);

/* CPU time used by every process of the run so far, in ms (0 if unknown). */
uint64_t cg_run_cpu_ms(const struct cg_root *root, const struct cg_run *run);

/* True if the kernel's OOM killer acted inside the run's cgroup. */
bool cg_run_oom(const struct cg_root *root, const struct cg_run *run);

/* Changes the run's memory limit (a pooled slot, before its script).
 * Returns 0 or -errno (v1: EBUSY when it already uses more). */
int cg_run_set_memory(const struct cg_root *root, const struct cg_run *run,
		      uint64_t memory_mb);

/* Does every directory of the run's cgroup (one per controller on v1)
 * still exist and hold `pid` (and `also`, unless it is 0)? An operator or
 * another program may have moved a waiting slot's processes out and
 * removed its cgroup; such a slot must not run a script, which would run
 * without its limits. v1 reads /proc/PID/cgroup (cg_text_in): a read of a
 * v1 cgroup.procs builds a pid list in the kernel that the cgroup's
 * removal must then wait for a worker to free. v2 reads each
 * cgroup.procs. Returns 0, or -ESTALE. */
int cg_run_holds(const struct cg_root *root, const struct cg_run *run,
		 pid_t pid, pid_t also);

/* v1: does `text`, a process's /proc/PID/cgroup, put it in every
 * directory of the run's cgroup (by root->named)? */
bool cg_text_in(const struct cg_root *root, const struct cg_run *run,
		const char *text);

/* Where a process of a run was once it was put in the run's cgroup: the
 * text of /proc/PID/cgroup then. */
struct cg_seen {
	char text[2048];
	size_t len; /* 0: not noted (no cgroups, or too long a text) */
};

/* Notes where `pid` is, once it is in its run's cgroup (cg_run_attach,
 * or it entered it itself and cg_run_holds said so). */
void cg_run_note(const struct cg_root *root, pid_t pid, struct cg_seen *seen);

/* cg_run_holds, then cg_run_note of `pid`, from one read of its
 * /proc/PID/cgroup on v1. On -ESTALE nothing is noted. */
int cg_run_holds_noted(const struct cg_root *root, const struct cg_run *run,
		       pid_t pid, pid_t also, struct cg_seen *seen);

/* cg_run_holds, in one read: is `pid` where it was noted? An operator
 * who moved it out, or removed or renamed its cgroup, changed the text.
 * Without a note, cg_run_holds. Returns 0, or -ESTALE. */
int cg_run_still(const struct cg_root *root, const struct cg_run *run,
		 pid_t pid, const struct cg_seen *seen);

/* Marks the run's CPU group idle (it yields the CPU to groups that are
 * not: cpu.idle, Linux >= 5.15; else the least weight) or normal again.
 * Returns 0, or -errno (no CPU controller of its own, or no such file). */
int cg_run_set_idle(const struct cg_root *root, const struct cg_run *run,
		    bool idle);

/* The most memory the run's cgroup was charged, in KiB (0 if unknown). */
uint64_t cg_run_peak_kb(const struct cg_root *root, const struct cg_run *run);

/* The memory the run's cgroup is charged now, in KiB, or -1. */
long cg_run_usage_kb(const struct cg_root *root, const struct cg_run *run);

/* Removes the run's cgroup if its processes are gone, killing any left;
 * with `wait`, as cg_run_destroy. Returns 0 once removed, else -EBUSY. */
int cg_run_try_destroy(const struct cg_root *root, struct cg_run *run,
		       bool wait);

/* Kills whatever is left in the run's cgroup and removes it. */
void cg_run_destroy(const struct cg_root *root, struct cg_run *run);

#endif
