/* SPDX-License-Identifier: MIT */
/*
 * check.c - pexos_check: which isolation features work here, tried for real.
 *
 * Every probe does the thing it reports on (creates the namespace, installs
 * a filter, runs a sandbox) instead of reading configuration that may lie,
 * e.g. a container whose seccomp profile refuses clone3 with new namespaces.
 */
#include <linux/sched.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "error.h"
#include "ns.h"
#include "plan.h"
#include "supervise.h"
#include "util.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

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

static int check_seccomp(json_t *list)
{
	/* PR_GET_SECCOMP fails with EINVAL when the kernel has no seccomp. */
	bool seccomp = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
	bool nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) >= 0;

	if (add_feature(list, "seccomp", seccomp, true,
			seccomp ? "filters can be installed"
				: "the kernel lacks CONFIG_SECCOMP_FILTER") < 0)
		return -ENOMEM;
	return add_feature(list, "no_new_privs", nnp, true,
			   nnp ? "supported" : "the kernel is too old");
}

/* Informational: the limits that need cgroups come with their own check. */
static int check_cgroups(json_t *list)
{
	struct statfs sf;
	const char *detail = "no cgroup filesystem at /sys/fs/cgroup";
	bool v2 = false, v1 = false;

	if (statfs("/sys/fs/cgroup", &sf) == 0 &&
	    (unsigned long)sf.f_type == CGROUP2_SUPER_MAGIC)
		v2 = true;
	else if (access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) ==
		 0)
		v1 = true;
	if (v2)
		detail = "cgroup v2 (unified) at /sys/fs/cgroup";
	else if (v1)
		detail = "cgroup v1 controllers at /sys/fs/cgroup";
	return add_feature(list, "cgroups", v1 || v2, false, detail);
}

/* The whole chain, end to end: one real run of a script that imports the
 * usual modules. */
static int check_sandbox(pexos_context *ctx, json_t *list)
{
	static const char req[] =
		"{\"script\": \"import numpy, pandas\\ndef main():\\n    "
		"return 1\\n\"}";
	pexos_error err = {0};
	pexos_outcome oc;
	_cleanup_free_ char *resp = NULL;
	char detail[600];
	bool ok;
	int r = pexos_run_script(ctx, req, strlen(req), &resp, &oc, &err);

	ok = r == 0 && oc.type[0] == '\0';
	if (r < 0)
		snprintf(detail, sizeof(detail), "a test run failed at step "
			 "'%s': %s", err.step, err.message);
	else if (!ok)
		snprintf(detail, sizeof(detail), "a test run failed: %.500s",
			 resp);
	else
		snprintf(detail, sizeof(detail),
			 "a test run importing numpy and pandas succeeded");
	return add_feature(list, "sandbox", ok, true, detail);
}

int pexos_check(const pexos_context *ctx, char **ret_report, pexos_error *err)
{
	_cleanup_json_ json_t *list = json_array();
	_cleanup_json_ json_t *report = NULL;
	bool all = true;
	size_t i;
	json_t *f;
	char *s;

	if (!ctx || !ret_report)
		return pexos_fail(err, EINVAL, "check", "missing argument");
	if (!list || check_namespaces(list) < 0 || check_seccomp(list) < 0 ||
	    check_cgroups(list) < 0 ||
	    check_sandbox((pexos_context *)ctx, list) < 0)
		return pexos_fail(err, ENOMEM, "check", "out of memory");
	json_array_foreach(list, i, f)
	{
		if (json_is_true(json_object_get(f, "required")) &&
		    !json_is_true(json_object_get(f, "ok")))
			all = false;
	}
	report = json_pack("{s:b, s:s, s:O}", "ok", all, "version",
			   PEXOS_VERSION, "features", list);
	s = report ? json_dumps(report, JSON_COMPACT) : NULL;
	if (!s)
		return pexos_fail(err, ENOMEM, "check", "out of memory");
	*ret_report = s;
	return all ? 1 : 0;
}
