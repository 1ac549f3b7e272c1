/* SPDX-License-Identifier: MIT */
#include "scmp.h"

#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "util.h"

/* Refused with EPERM, whatever the arguments. Each line says why. */
static const struct {
	const char *name;
	const char *why;
} denied[] = {
	/* the filesystem view is fixed once the sandbox is built */
	{"mount", "could remount or overlay the sandbox's root"},
	{"umount2", "could uncover what the sandbox's mounts hide"},
	{"pivot_root", "changes the root of the mount namespace"},
	{"chroot", "no legitimate use inside; old escape technique"},
	{"move_mount", "new mount API"},
	{"open_tree", "new mount API: clones mount trees"},
	{"fsopen", "new mount API"},
	{"fsconfig", "new mount API"},
	{"fsmount", "new mount API"},
	{"fspick", "new mount API"},
	{"mount_setattr", "new mount API: could make mounts writable"},
	/* namespaces: new ones re-grant capabilities and kernel surface */
	{"unshare", "creates namespaces (a user namespace re-grants caps)"},
	{"setns", "joins other namespaces"},
	/* looking into or steering other processes */
	{"ptrace", "reads and writes other processes"},
	{"process_vm_readv", "reads another process's memory"},
	{"process_vm_writev", "writes another process's memory"},
	{"kcmp", "probes other processes' kernel objects"},
	{"pidfd_getfd", "steals file descriptors from other processes"},
	/* large kernel attack surface, no use for a script */
	{"bpf", "loads programs into the kernel"},
	{"perf_event_open", "kernel profiling; frequent source of exploits"},
	{"userfaultfd", "stalls kernel page faults: an exploit primitive"},
	{"io_uring_setup", "io_uring: large, frequently exploited surface"},
	{"io_uring_enter", "io_uring"},
	{"io_uring_register", "io_uring"},
	{"keyctl", "kernel keyrings are not namespaced"},
	{"add_key", "kernel keyrings are not namespaced"},
	{"request_key", "kernel keyrings are not namespaced"},
	{"fanotify_init", "watches filesystems"},
	{"name_to_handle_at", "file handles bypass path checks"},
	{"open_by_handle_at", "opens files by handle: the shocker escape"},
	{"lookup_dcookie", "kernel profiling interface"},
	/* whole-system operations */
	{"kexec_load", "replaces the running kernel"},
	{"kexec_file_load", "replaces the running kernel"},
	{"init_module", "loads kernel modules"},
	{"finit_module", "loads kernel modules"},
	{"delete_module", "unloads kernel modules"},
	{"reboot", "restarts the machine"},
	{"swapon", "changes system swap"},
	{"swapoff", "changes system swap"},
	{"syslog", "reads the kernel log (addresses, other tenants)"},
	{"acct", "process accounting for the whole system"},
	{"quotactl", "filesystem quotas"},
	{"quotactl_fd", "filesystem quotas"},
	{"settimeofday", "the clock is not namespaced"},
	{"clock_settime", "the clock is not namespaced"},
	{"clock_adjtime", "the clock is not namespaced"},
	{"adjtimex", "the clock is not namespaced"},
	{"iopl", "raw I/O port access"},
	{"ioperm", "raw I/O port access"},
	{"uselib", "obsolete loader interface"},
	{"ustat", "obsolete; leaks host filesystem information"},
	{"sysfs", "obsolete; leaks host filesystem information"},
	{"_sysctl", "obsolete sysctl interface"},
	{"vhangup", "hangs up terminals"},
	{"migrate_pages", "moves other processes' memory"},
	{"move_pages", "moves other processes' memory"},
	{"nfsservctl", "obsolete NFS server control"},
	{"sethostname", "the name is fixed for the run"},
	{"setdomainname", "the name is fixed for the run"},
};

/* Namespace flags refused in clone(2); clone3 hides its flags in memory the
 * filter cannot read, so clone3 reports ENOSYS and libc falls back to clone. */
static const unsigned long clone_ns_flags[] = {
	CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
	CLONE_NEWUSER, CLONE_NEWPID,   CLONE_NEWNET,
};

/* Socket families a script may use: the network namespace confines these.
 * Others are refused because the kernel does not namespace them all, e.g.
 * AF_VSOCK reaches the hypervisor of a VM from any network namespace. */
static bool family_allowed(int family)
{
	return family == AF_UNIX || family == AF_INET || family == AF_INET6 ||
	       family == AF_NETLINK;
}

static int add_socket_rules(scmp_filter_ctx f, pexos_error *err)
{
	static const int calls[] = {SCMP_SYS(socket), SCMP_SYS(socketpair)};
	int r;

	for (size_t c = 0; c < ELEMENTSOF(calls); c++) {
		for (int fam = 0; fam < AF_MAX; fam++) {
			if (family_allowed(fam))
				continue;
			r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), calls[c],
					     1, SCMP_A0(SCMP_CMP_EQ,
							(scmp_datum_t)fam, 0));
			if (r < 0)
				return pexos_fail_errno(err, -r, "seccomp",
							"add a socket rule");
		}
		/* families newer than this build's AF_MAX */
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), calls[c], 1,
				     SCMP_A0(SCMP_CMP_GE, (scmp_datum_t)AF_MAX, 0));
		if (r < 0)
			return pexos_fail_errno(err, -r, "seccomp",
						"add a socket rule");
	}
	return 0;
}

static int add_rules(scmp_filter_ctx f, pexos_error *err)
{
	int r, nr;

	for (size_t i = 0; i < ELEMENTSOF(denied); i++) {
		nr = seccomp_syscall_resolve_name(denied[i].name);
		if (nr == __NR_SCMP_ERROR || nr < 0)
			continue; /* not a syscall of this architecture */
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r < 0)
			return pexos_fail_errno(err, -r, "seccomp",
						"add a rule for %s",
						denied[i].name);
	}
	for (size_t i = 0; i < ELEMENTSOF(clone_ns_flags); i++) {
		scmp_datum_t fl = clone_ns_flags[i];
		r = seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone),
				     1, SCMP_A0(SCMP_CMP_MASKED_EQ, fl, fl));
		if (r < 0)
			return pexos_fail_errno(err, -r, "seccomp",
						"add a rule for clone");
	}
	r = add_socket_rules(f, err);
	if (r < 0)
		return r;
	r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0)
		return pexos_fail_errno(err, -r, "seccomp",
					"add a rule for clone3");
	return 0;
}

static int export_bpf(scmp_filter_ctx f, struct pexos_context *ctx,
		      pexos_error *err)
{
	_cleanup_close_ int fd = memfd_create("pexos-seccomp", MFD_CLOEXEC);
	off_t size;
	ssize_t n;
	int r;

	if (fd < 0)
		return pexos_fail_errno(err, errno, "seccomp", "memfd_create");
	r = seccomp_export_bpf(f, fd);
	if (r < 0)
		return pexos_fail_errno(err, -r, "seccomp", "export the filter");
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0)
		return pexos_fail(err, EINVAL, "seccomp",
				  "exported filter has a bad size");
	ctx->bpf = malloc((size_t)size);
	if (!ctx->bpf)
		return pexos_fail(err, ENOMEM, "seccomp", "out of memory");
	n = pread(fd, ctx->bpf, (size_t)size, 0);
	if (n != size)
		return pexos_fail_errno(err, n < 0 ? errno : EIO, "seccomp",
					"read the exported filter");
	ctx->bpf_len = (size_t)size / sizeof(struct sock_filter);
	return 0;
}

int scmp_prepare(struct pexos_context *ctx, pexos_error *err)
{
	scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
	int r;

	if (!f)
		return pexos_fail(err, ENOMEM, "seccomp",
				  "cannot initialise libseccomp");
	/* Syscalls of another ABI (x32, i386 via int 0x80) would bypass the
	 * rules, which name x86_64 numbers: kill the process instead. */
	r = seccomp_attr_set(f, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = add_rules(f, err);
	else
		r = pexos_fail_errno(err, -r, "seccomp", "set the bad-arch action");
	/* The rules as a binary tree on the syscall number, not a list: same
	 * rules, same answers. The kernel runs the filter once per syscall
	 * number when it is installed, to learn which are always allowed
	 * (the list took about 110 us a process here, the tree about 40),
	 * and on every call it cannot answer from that. A libseccomp that
	 * refuses the attribute keeps the list: as good, only slower. */
	if (r == 0)
		(void)seccomp_attr_set(f, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r == 0)
		r = export_bpf(f, ctx, err);
	seccomp_release(f);
	return r;
}
