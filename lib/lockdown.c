/* SPDX-License-Identifier: MIT */
/* lockdown.c - the one lockdown of a script's process: see lockdown.h. */
#include "lockdown.h"

#include <linux/capability.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "plan.h"

_Static_assert(sizeof(struct sock_filter) == 8, "BPF instructions are 8 bytes");
_Static_assert(sizeof(struct lockdown_rlimit) == 24,
	       "the plan's layout is the same in the library and the helper");

static void add(struct lockdown_plan *lp, int resource, uint64_t soft,
		uint64_t hard)
{
	lp->rlimits[lp->n_rlimits++] = (struct lockdown_rlimit){
		.resource = resource, .soft = soft, .hard = hard};
}

int lockdown_prepare(const struct pexos_options *o,
		     const struct sock_filter *bpf, size_t bpf_len,
		     int last_cap, struct lockdown_plan *ret, pexos_error *err)
{
	if (bpf_len == 0 || bpf_len > LOCKDOWN_BPF_MAX)
		return pexos_fail(err, E2BIG, "seccomp",
				  "the filter has %zu instructions (1 to %d "
				  "allowed)",
				  bpf_len, LOCKDOWN_BPF_MAX);
	memset(ret, 0, sizeof(*ret));
	ret->uid = SANDBOX_UID;
	ret->gid = SANDBOX_GID;
	ret->last_cap = last_cap;
	/* No core dumps: they would land in /tmp and cost time. */
	add(ret, RLIMIT_CORE, 0, 0);
	/* A single file can never outgrow /tmp; Python ignores SIGXFSZ, so
	 * the write fails with EFBIG instead of killing the script. */
	add(ret, RLIMIT_FSIZE, o->tmp_mb << 20, o->tmp_mb << 20);
	add(ret, RLIMIT_NOFILE, 1024, 1024);
	/* Counted per user namespace and uid, so per run: a fork or thread
	 * bomb stops at the pids limit even before cgroups. */
	add(ret, RLIMIT_NPROC, o->pids, o->pids);
	/* POSIX message queues live in the run's IPC namespace; none needed. */
	add(ret, RLIMIT_MSGQUEUE, 0, 0);
	snprintf(ret->cwd, sizeof(ret->cwd), "/tmp");
	memcpy(ret->bpf, bpf, bpf_len * sizeof(*bpf));
	ret->bpf_len = (uint32_t)bpf_len;
	return 0;
}

/* Step 1: while still privileged in the user namespace, so that no later
 * exec can regain a capability. EINVAL: a number this kernel lacks. */
static int drop_bounding(int last_cap, pexos_error *err)
{
	for (int c = 0; c <= last_cap; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return pexos_fail_child(err, errno, "caps",
						"drop a bounding capability",
						NULL);
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return pexos_fail_child(err, errno, "caps",
					"clear the ambient capabilities", NULL);
	return 0;
}

/* Step 2. A warm slot has cleared its groups before it made its own user
 * namespace, where setgroups(2) is then denied: no groups, nothing to do. */
static int set_ids(const struct lockdown_plan *lp, pexos_error *err)
{
	if (getgroups(0, NULL) != 0 && raw_setgroups0() < 0)
		return pexos_fail_child(err, errno, "setuid",
					"clear the supplementary groups", NULL);
	if (raw_setresgid((gid_t)lp->gid) < 0 ||
	    raw_setresuid((uid_t)lp->uid) < 0)
		return pexos_fail_child(err, errno, "setuid",
					"switch to the sandbox user", NULL);
	return 0;
}

/* Step 3, with the raw call: libcap's cap_set_proc allocates. */
static int clear_caps(pexos_error *err)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
		.pid = 0,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) < 0)
		return pexos_fail_child(err, errno, "caps",
					"clear the capability sets", NULL);
	return 0;
}

/* Only lowering is possible without privilege: clamp to what we have. */
static int set_rlimit(int resource, struct rlimit rl, pexos_error *err)
{
	struct rlimit cur;

	if (getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
		if (rl.rlim_max > cur.rlim_max)
			rl.rlim_max = cur.rlim_max;
		if (rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
	}
	if (setrlimit(resource, &rl) < 0)
		return pexos_fail_child(err, errno, "rlimit",
					"set a resource limit", NULL);
	return 0;
}

int lockdown_set_rlimits(const struct lockdown_rlimit *v, size_t n,
			 pexos_error *err)
{
	for (size_t i = 0; i < n; i++) {
		struct rlimit rl = {(rlim_t)v[i].soft, (rlim_t)v[i].hard};

		if (set_rlimit(v[i].resource, rl, err) < 0)
			return -1;
	}
	return 0;
}

int lockdown_drop_caps(int last_cap, pexos_error *err)
{
	if (drop_bounding(last_cap, err) < 0)
		return -1;
	return clear_caps(err);
}

int lockdown_limit_cpu(uint64_t cpu_ms, pexos_error *err)
{
	struct rusage ru;
	uint64_t used_ms;
	rlim_t s;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return pexos_fail_child(err, errno, "rlimit",
					"read the CPU time used", NULL);
	/* What the process has used, plus the run's limit, rounded up to
	 * the second: a fresh process (the cold path) gets the limit itself. */
	used_ms = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
		  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
	s = (rlim_t)((used_ms + cpu_ms + 999) / 1000);
	/* SIGXCPU at the limit, SIGKILL a second later if it is ignored. */
	return set_rlimit(RLIMIT_CPU, (struct rlimit){s, s + 1}, err);
}

int lockdown_apply(const struct lockdown_plan *lp, uint64_t cpu_ms,
		   uint64_t as_mb, pexos_error *err)
{
	/* A plan that would install no filter is refused, never applied. */
	if (lp->bpf_len == 0 || lp->bpf_len > LOCKDOWN_BPF_MAX ||
	    lp->n_rlimits > LOCKDOWN_RLIMITS_MAX)
		return pexos_fail_child(err, EINVAL, "lockdown",
					"refuse a malformed lockdown plan", NULL);
	if (drop_bounding(lp->last_cap, err) < 0 || set_ids(lp, err) < 0 ||
	    clear_caps(err) < 0)
		return -1;
	if (lockdown_set_rlimits(lp->rlimits, lp->n_rlimits, err) < 0)
		return -1;
	if (cpu_ms && lockdown_limit_cpu(cpu_ms, err) < 0)
		return -1;
	if (as_mb && set_rlimit(RLIMIT_AS,
				(struct rlimit){(rlim_t)as_mb << 20,
						(rlim_t)as_mb << 20},
				err) < 0)
		return -1;
	if (chdir(lp->cwd) < 0)
		return pexos_fail_child(err, errno, "setup",
					"enter the working directory", lp->cwd);
	/* Step 6: no_new_privs first (the filter needs it without
	 * CAP_SYS_ADMIN), the filter last. */
	if (lockdown_no_new_privs(err) < 0)
		return -1;
	return lockdown_seccomp(lp->bpf, lp->bpf_len, err);
}

int lockdown_no_new_privs(pexos_error *err)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return pexos_fail_child(err, errno, "no_new_privs",
					"set no_new_privs", NULL);
	return 0;
}

int lockdown_seccomp(const struct sock_filter *bpf, size_t len,
		     pexos_error *err)
{
	struct sock_fprog prog = {.len = (unsigned short)len,
				  .filter = (struct sock_filter *)bpf};

	if (len == 0 || len > LOCKDOWN_BPF_MAX)
		return pexos_fail_child(err, EINVAL, "seccomp",
					"refuse an empty or oversized filter",
					NULL);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return pexos_fail_child(err, errno, "seccomp",
					"install the seccomp filter", NULL);
	return 0;
}

int raw_setgroups0(void)
{
	return (int)syscall(SYS_setgroups, 0, NULL);
}

int raw_setresgid(gid_t g)
{
	return (int)syscall(SYS_setresgid, g, g, g);
}

int raw_setresuid(uid_t u)
{
	return (int)syscall(SYS_setresuid, u, u, u);
}
