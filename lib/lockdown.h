/* SPDX-License-Identifier: MIT */
/*
 * lockdown.h - the one lockdown of a process that will run a script.
 *
 * A run's process on the cold path (sandbox.c, forked by the run's init)
 * and a warm slot's process (zygote/helper.c, forked by the zygote) take
 * away their privilege with the same code, in the same order, from the
 * same plan:
 *
 *   1. bounding and ambient capability sets emptied, while still privileged
 *      in the user namespace (dropping from the bounding set needs
 *      CAP_SETPCAP);
 *   2. supplementary groups cleared, gid, then uid set to the script's;
 *   3. effective, permitted and inheritable sets emptied (setuid to a
 *      non-root uid already clears them; the explicit capset makes sure);
 *   4. resource limits, lowered only;
 *   5. the working directory;
 *   6. no_new_privs, then the seccomp filter, last: after it nothing of
 *      the above could be done any more.
 *
 * The plan is prepared once per context, in the parent, by
 * lockdown_prepare(); it holds no pointer, so the pool hands it to its
 * zygote as bytes (proto.h, struct proto_zygote_config) and the zygote's
 * helper applies exactly what the cold path applies. The per-run limits
 * (CPU time, and address space when no cgroup limits memory) are set by
 * lockdown_limit_cpu() and lockdown_apply()'s arguments, in both paths.
 *
 * The child side (lockdown_apply, lockdown_limit_cpu, the raw credential
 * calls) is async-signal-safe and allocation-free: it runs in a child of a
 * threaded process. This file is also built into the zygote's helper, which
 * links against libc only, so it depends on nothing but libc and error.c.
 */
#ifndef PEXOS_LOCKDOWN_H
#define PEXOS_LOCKDOWN_H

#include <linux/filter.h>
#include <stdint.h>
#include <sys/types.h>

#include "pexos.h"

#define LOCKDOWN_RLIMITS_MAX 8
/* BPF_MAXINSNS: the kernel refuses longer programs. */
#define LOCKDOWN_BPF_MAX 4096

struct lockdown_rlimit {
	int32_t resource;
	uint32_t pad;
	uint64_t soft, hard; /* RLIM_INFINITY allowed */
};

/* Everything a lockdown needs. Plain data, no pointers: copied as bytes. */
struct lockdown_plan {
	int32_t uid, gid;   /* the script's ids in its user namespace */
	int32_t last_cap;   /* highest capability this kernel knows */
	uint32_t n_rlimits;
	struct lockdown_rlimit rlimits[LOCKDOWN_RLIMITS_MAX];
	char cwd[64];       /* the script's working directory */
	uint32_t bpf_len;   /* instructions in bpf */
	uint32_t pad;
	struct sock_filter bpf[LOCKDOWN_BPF_MAX];
};

struct pexos_options;

/* Parent, once per context: the plan for scripts run with `opts`, with the
 * seccomp program `bpf` (bpf_len instructions, exported by seccomp.c).
 * Returns 0 or -errno with `err` filled. */
int lockdown_prepare(const struct pexos_options *opts,
		     const struct sock_filter *bpf, size_t bpf_len,
		     int last_cap, struct lockdown_plan *ret,
		     pexos_error *err);

/* Child: applies `lp` in the order above. `cpu_ms` (0: none yet) limits
 * the CPU time from now on (lockdown_limit_cpu); `as_mb` (0: none) limits
 * the address space, for hosts where no cgroup limits memory. Returns 0,
 * or -1 with `err` naming the step; the process must then not run a
 * script. */
int lockdown_apply(const struct lockdown_plan *lp, uint64_t cpu_ms,
		   uint64_t as_mb, pexos_error *err);

/* Child: the CPU-time limit of a run: `cpu_ms` more than the process has
 * used so far, rounded up to whole seconds (RLIMIT_CPU's unit), SIGXCPU
 * there and SIGKILL a second later. Called by lockdown_apply on the cold
 * path and by a warm slot when its script arrives. Returns 0 or -1. */
int lockdown_limit_cpu(uint64_t cpu_ms, pexos_error *err);

/* Child: sets `n` limits, lowering only. Returns 0 or -1. */
int lockdown_set_rlimits(const struct lockdown_rlimit *v, size_t n,
			 pexos_error *err);

/* Child: steps 1 and 3 alone, for a process that keeps its ids and execs
 * no script (the run's init before it becomes pexos-init). Returns 0 or
 * -1. */
int lockdown_drop_caps(int last_cap, pexos_error *err);

/* Child: step 6 in two halves, for lockdown_apply() and for pexos_check()'s
 * test process, which reports them apart. no_new_privs must be set before
 * the filter (`len` instructions, 1 to LOCKDOWN_BPF_MAX) can be installed
 * without CAP_SYS_ADMIN. Each returns 0 or -1. */
int lockdown_no_new_privs(pexos_error *err);
int lockdown_seccomp(const struct sock_filter *bpf, size_t len,
		     pexos_error *err);

/* Credential changes of the calling thread only. glibc's setresuid() and
 * friends signal every other thread of a process they believe to be
 * threaded (POSIX says all threads share credentials) and wait for their
 * answers; in a child cloned from a threaded caller those threads do not
 * exist, so the wrappers would hang. The raw syscalls change the calling
 * thread, which is the whole child. */
int raw_setgroups0(void);
int raw_setresgid(gid_t g);
int raw_setresuid(uid_t u);

#endif
