/* SPDX-License-Identifier: MIT */
/*
 * check.c - pexos_check: which isolation features work here, tried for real.
 *
 * Every probe does the thing it reports on (creates the namespace, installs
 * a filter, runs a sandbox) instead of reading configuration that may lie,
 * e.g. a container whose seccomp profile refuses clone3 with new namespaces.
 */
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "error.h"
#include "job.h"
#include "lockdown.h"
#include "ns.h"
#include "plan.h"
#include "scmp.h"
#include "supervise.h"
#include "util.h"

static int add_feature(json_t *list, const char *name, bool ok, bool required,
		       const char *detail)
{
	json_t *f = json_pack("{s:s, s:b, s:b, s:s}", "name", name, "ok", ok,
			      "required", required, "detail", detail);

	if (!f || json_array_append_new(list, f) < 0)
		return -ENOMEM;
	return 0;
}

/* Creates a child in a new user namespace plus `extra`; it exits at once. */
static int try_clone(unsigned long flags)
{
	int pidfd = -1;
	pid_t pid = sup_clone(flags, &pidfd);

	if (pid == 0)
		_exit(0);
	if (pid < 0)
		return pid;
	sup_reap(pidfd, NULL);
	close(pidfd);
	return 0;
}

static int check_namespaces(json_t *list)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} ns[] = {
		{"user namespace", 0},
		{"pid namespace", CLONE_NEWPID},
		{"mount namespace", CLONE_NEWNS},
		{"network namespace", CLONE_NEWNET},
		{"ipc namespace", CLONE_NEWIPC},
		{"uts namespace", CLONE_NEWUTS},
		{"cgroup namespace", CLONE_NEWCGROUP},
	};
	char detail[256];

	for (size_t i = 0; i < ELEMENTSOF(ns); i++) {
		int r = try_clone(CLONE_NEWUSER | ns[i].flag);
		if (r == 0)
			snprintf(detail, sizeof(detail), "can be created");
		else
			snprintf(detail, sizeof(detail),
				 "cannot be created (%s); on the host check "
				 "sysctl user.max_user_namespaces > 0, in a "
				 "container allow unshare/clone (see pexos(7))",
				 strerror(-r));
		if (add_feature(list, ns[i].name, r == 0, true, detail) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* The ids runs map to (ns_choose_ids), and why those: a feature, and
 * *ret_ids for the report, NULL when none fit. */
static int check_ids(const pexos_options *opts, json_t *list,
		     json_t **ret_ids)
{
	static const char *const how[] = {
		[NS_IDS_DEFAULT] = "default",
		[NS_IDS_SET] = "uid_base",
		[NS_IDS_CHOSEN] = "chosen",
	};
	static const char *const why[] = {
		[NS_IDS_DEFAULT] = "the default",
		[NS_IDS_SET] = "set by uid_base",
		[NS_IDS_CHOSEN] = "chosen: the default is not mapped here",
	};
	struct ns_ids ids;
	pexos_error err = {0};
	char detail[700];
	size_t n = 0;
	int r = ns_choose_ids(opts, &ids, &err);

	*ret_ids = NULL;
	if (r < 0)
		snprintf(detail, sizeof(detail), "%s", err.message);
	else
		n = (size_t)snprintf(detail, sizeof(detail),
				     "runs map their 0 and 1000 to uids and "
				     "gids %" PRIu64 " and %" PRIu64
				     " (%s; mapped here: %s)",
				     ids.base, ids.base + 1, why[ids.how],
				     ids.mapped);
	/* Only where the parent sees other ids (in a container's user
	 * namespace): the ids the host shows for a run's processes. */
	if (r == 0 && n < sizeof(detail) &&
	    (ids.parent_uid[0] != ids.base || ids.parent_gid[0] != ids.base))
		snprintf(detail + n, sizeof(detail) - n,
			 "; the parent user namespace sees uids %" PRIu64
			 ", %" PRIu64 " and gids %" PRIu64 ", %" PRIu64,
			 ids.parent_uid[0], ids.parent_uid[1],
			 ids.parent_gid[0], ids.parent_gid[1]);
	if (r == 0) {
		*ret_ids = json_pack(
			"{s:I, s:I, s:s, s:s, s:[I,I], s:[I,I]}",
			"setup", (json_int_t)ids.base,
			"script", (json_int_t)ids.base + 1,
			"how", how[ids.how], "mapped", ids.mapped,
			"parent_uids", (json_int_t)ids.parent_uid[0],
			(json_int_t)ids.parent_uid[1],
			"parent_gids", (json_int_t)ids.parent_gid[0],
			(json_int_t)ids.parent_gid[1]);
		if (!*ret_ids)
			return -ENOMEM;
	}
	return add_feature(list, "id map", r == 0, true, detail);
}

/* In a child: no_new_privs, then pexos's own filter (step 3 fails at
 * once if it could not be built), then two calls the filter refuses with
 * arguments the kernel would refuse otherwise (EINVAL): only the filter
 * makes unshare fail with EPERM and clone3 with ENOSYS. Syscalls only.
 * Writes {step, errno} to `out`: step 0 means it all held. */
static _Noreturn void seccomp_child(const struct pexos_context *ctx,
				    int build_errno, int out)
{
	pexos_error err;
	int res[2] = {0, 0};

	if (lockdown_no_new_privs(&err) < 0)
		res[0] = 1, res[1] = err.code;
	else if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		res[0] = 2, res[1] = EINVAL;
	else if (build_errno)
		res[0] = 3, res[1] = build_errno;
	else if (lockdown_seccomp(ctx->bpf, ctx->bpf_len, &err) < 0)
		res[0] = 4, res[1] = err.code;
	else if (syscall(SYS_unshare, -1L) != -1 || errno != EPERM)
		res[0] = 5, res[1] = errno;
	else if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		res[0] = 6, res[1] = errno;
	(void)!write(out, res, sizeof(res));
	_exit(0);
}

/* Runs seccomp_child; res gets its {step, errno}, or {-1, errno} when the
 * child could not run. `build` receives the filter's build failure. */
static void try_seccomp(int res[2], pexos_error *build)
{
	struct pexos_context ctx = {0};
	_cleanup_close_ int rd = -1, wr = -1;
	int p[2], pidfd = -1, built = scmp_prepare(&ctx, build);
	pid_t pid;

	res[0] = -1;
	res[1] = EIO;
	if (pipe2(p, O_CLOEXEC) < 0) {
		res[1] = errno;
		free(ctx.bpf);
		return;
	}
	rd = p[0], wr = p[1];
	pid = sup_clone(0, &pidfd);
	if (pid == 0)
		seccomp_child(&ctx, built < 0 ? -built : 0, wr);
	close(TAKE_FD(wr));
	if (pid < 0)
		res[1] = -pid;
	else if (read(rd, res, 2 * sizeof(int)) != 2 * sizeof(int))
		res[0] = -1, res[1] = EPROTO;
	if (pid > 0) {
		sup_reap(pidfd, NULL);
		close(pidfd);
	}
	free(ctx.bpf);
}

static int check_seccomp(json_t *list)
{
	static const char *const steps[] = {
		"set no_new_privs", "read no_new_privs back",
		"get the filter (libseccomp could not build it)",
		"install the filter",
		"see unshare refused with EPERM",
		"see clone3 refused with ENOSYS"};
	pexos_error build = {0};
	bool nnp;
	char detail[700];
	int res[2];

	try_seccomp(res, &build);
	nnp = res[0] == 0 || res[0] > 2;
	if (res[0] == 0)
		snprintf(detail, sizeof(detail),
			 "a filter was installed in a test process and "
			 "refused what it should");
	else if (res[0] < 0)
		snprintf(detail, sizeof(detail),
			 "could not start a test process (%s)",
			 strerror(res[1]));
	else
		snprintf(detail, sizeof(detail),
			 "a test process could not %s (%s%s%.400s): the "
			 "kernel needs CONFIG_SECCOMP_FILTER, and a container "
			 "must allow seccomp(2) and prctl(2)",
			 steps[res[0] - 1], strerror(res[1]),
			 res[0] == 3 ? "; " : "",
			 res[0] == 3 ? build.message : "");
	if (add_feature(list, "seccomp", res[0] == 0, true, detail) < 0)
		return -ENOMEM;
	return add_feature(list, "no_new_privs", nnp, true,
			   nnp ? "set in a test process" : detail);
}

/* Whether the limits mode asked for can be had: a cgroup per run, or the
 * operator's explicit rlimit opt-in. */
static int check_cgroups(const pexos_options *opts, json_t *list,
			 struct cg_root *root, const char **ret_mode)
{
	char detail[PATH_MAX + 1024];
	pexos_error err = {0};
	bool ok = cg_prepare_self(root, opts->limits, &err) == 0;

	if (!ok) {
		cg_release(root);
		memset(root, 0, sizeof(*root)); /* nothing to undo */
		root->mount_fd = -1;
	}
	*ret_mode = ok ? cg_mode_name(root->mode) : "none";
	if (!ok)
		snprintf(detail, sizeof(detail), "%s", err.message);
	else if (root->mode == CG_NONE)
		snprintf(detail, sizeof(detail),
			 "not used: limits=rlimit (memory by RLIMIT_AS, CPU by "
			 "RLIMIT_CPU, processes by RLIMIT_NPROC)");
	else
		snprintf(detail, sizeof(detail),
			 "%s: memory%s, pids%s and CPU time per run, under %s",
			 cg_mode_name(root->mode), root->swap ? " (swap included)" : "",
			 root->mode == CG_V1 && !root->base[CG1_CPUACCT][0]
				 ? " (no cpuacct: CPU by RLIMIT_CPU)"
				 : "",
			 root->shown);
	return add_feature(list, "cgroups", ok, true, detail);
}

/* The whole chain, end to end: one real run of a script that imports the
 * usual modules. */
static int check_sandbox(const pexos_options *opts, json_t *list)
{
	static const char req[] =
		"{\"script\": \"import numpy, pandas\\ndef main():\\n    "
		"return 1\\n\"}";
	pexos_context *ctx = NULL;
	pexos_error err = {0};
	pexos_outcome oc;
	_cleanup_free_ char *resp = NULL;
	char detail[700];
	bool ok = false;
	int r = pexos_context_new(opts, &ctx, &err);

	if (r == 0)
		r = pexos_run_script(ctx, req, strlen(req), &resp, &oc, &err);
	pexos_context_free(ctx);
	if (r < 0)
		snprintf(detail, sizeof(detail), "a test run failed at step "
			 "'%s': %s", err.step, err.message);
	else if (oc.type[0] != '\0')
		snprintf(detail, sizeof(detail), "a test run failed: %.600s",
			 resp);
	else
		ok = true, snprintf(detail, sizeof(detail),
				    "a test run importing numpy and pandas "
				    "succeeded");
	return add_feature(list, "sandbox", ok, true, detail);
}

int pexos_check(const pexos_options *opts, char **ret_report, pexos_error *err)
{
	_cleanup_json_ json_t *list = json_array();
	_cleanup_json_ json_t *report = NULL, *ids = NULL;
	const char *mode = "none";
	struct cg_root root;
	bool all = true;
	int r;
	size_t i;
	json_t *f;
	char *s;

	if (!opts || !ret_report)
		return pexos_fail(err, EINVAL, "check", "missing argument");
	if (!list || check_namespaces(list) < 0 ||
	    check_ids(opts, list, &ids) < 0 || check_seccomp(list) < 0)
		return pexos_fail(err, ENOMEM, "check", "out of memory");
	r = check_cgroups(opts, list, &root, &mode);
	if (r == 0)
		r = check_sandbox(opts, list);
	/* A check leaves the host as it found it (cg_undo). */
	cg_undo(&root);
	cg_release(&root);
	if (r < 0)
		return pexos_fail(err, ENOMEM, "check", "out of memory");
	json_array_foreach(list, i, f)
	{
		if (json_is_true(json_object_get(f, "required")) &&
		    !json_is_true(json_object_get(f, "ok")))
			all = false;
	}
	report = json_pack("{s:b, s:s, s:s, s:O, s:O*, s:o*}", "ok", all,
			   "version", PEXOS_VERSION, "limits", mode, "features",
			   list, "ids", ids, "file_limits",
			   job_limits(opts, NULL));
	s = report ? json_dumps(report, JSON_COMPACT) : NULL;
	if (!s)
		return pexos_fail(err, ENOMEM, "check", "out of memory");
	*ret_report = s;
	return all ? 1 : 0;
}
