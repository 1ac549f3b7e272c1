/* SPDX-License-Identifier: MIT */
#include "ns.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "lockdown.h"
#include "util.h"

void ns_prepare(struct pexos_context *ctx)
{
	uint64_t b = ctx->opts.uid_base;

	/* Two ids only: 0 for setup, SANDBOX_UID for the script. Neither is
	 * the host's root; nothing else inside maps to anything outside. */
	snprintf(ctx->uid_map, sizeof(ctx->uid_map), "0 %" PRIu64 " 1\n%d %" PRIu64 " 1\n",
		 b, SANDBOX_UID, b + 1);
	snprintf(ctx->gid_map, sizeof(ctx->gid_map), "0 %" PRIu64 " 1\n%d %" PRIu64 " 1\n",
		 b, SANDBOX_GID, b + 1);
}

static int write_proc(pid_t pid, const char *file, const char *text,
		      pexos_error *err)
{
	char path[64];
	_cleanup_close_ int fd = -1;
	int r;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return pexos_fail_errno(err, errno, "uid_map", "open %s", path);
	r = write_all(fd, text, strlen(text));
	if (r < 0)
		return pexos_fail_errno(err, -r, "uid_map", "write %s", path);
	return 0;
}

int ns_setup_parent(const struct pexos_context *ctx, pid_t pid,
		    pexos_error *err)
{
	int r;

	/* setgroups stays "allow": the child must be able to clear the
	 * supplementary groups it inherited from us. */
	r = write_proc(pid, "uid_map", ctx->uid_map, err);
	if (r < 0)
		return r;
	return write_proc(pid, "gid_map", ctx->gid_map, err);
}

int ns_apply_child(pexos_error *err)
{
	/* Supplementary groups first: they are host groups (root's), which
	 * would otherwise follow every process of the run. */
	if (raw_setgroups0() < 0)
		return pexos_fail_child(err, errno, "setgroups",
					"clear supplementary groups", NULL);
	if (raw_setresgid(0) < 0 || raw_setresuid(0) < 0)
		return pexos_fail_child(err, errno, "setuid",
					"become the sandbox's setup user",
					NULL);
	if (unshare(CLONE_NEWCGROUP) < 0)
		return pexos_fail_child(err, errno, "cgroupns",
					"create the cgroup namespace", NULL);
	if (sethostname(SANDBOX_HOSTNAME, strlen(SANDBOX_HOSTNAME)) < 0 ||
	    setdomainname(SANDBOX_HOSTNAME, strlen(SANDBOX_HOSTNAME)) < 0)
		return pexos_fail_child(err, errno, "uts", "set the hostname",
					NULL);
	return 0;
}
