/* SPDX-License-Identifier: MIT */
/*
 * probe - tries each syscall the sandbox refuses and prints what it got.
 *
 * One line per attempt, "NAME ERRNO" (0: the call succeeded), so a test can
 * tell a call the filter refused (EPERM; ENOSYS for clone3) from one that
 * failed for any other reason. Every call gets arguments the kernel rejects
 * before it acts (bad flags, a bad pointer, an fd of -1), so running the
 * probe without a filter, even as root, changes nothing: that run is the
 * test's control. Plain libc only; built static so it runs anywhere.
 *
 * Run it in a new session: vhangup() has no argument to make harmless, and
 * without a controlling terminal it does nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* A pointer the kernel cannot read: EFAULT wherever one is followed. */
#define BAD ((long)-1)
/* Flags no call accepts. */
#define BADF ((long)-1)

struct attempt {
	const char *name;
	long nr;
	long a[6];
};

/* The table of lib/seccomp.c, each with arguments that make the kernel
 * fail it early without the filter. */
static const struct attempt calls[] = {
    {"mount", SYS_mount, {BAD, BAD, BAD, BADF, BAD}},
    {"umount2", SYS_umount2, {BAD, BADF}},
    {"pivot_root", SYS_pivot_root, {BAD, BAD}},
    {"chroot", SYS_chroot, {BAD}},
    {"move_mount", SYS_move_mount, {-1, BAD, -1, BAD, BADF}},
    {"open_tree", SYS_open_tree, {-1, BAD, BADF}},
    {"fsopen", SYS_fsopen, {BAD, BADF}},
    {"fsconfig", SYS_fsconfig, {-1, BADF, BAD, BAD, -1}},
    {"fsmount", SYS_fsmount, {-1, BADF, BADF}},
    {"fspick", SYS_fspick, {-1, BAD, BADF}},
    {"mount_setattr", SYS_mount_setattr, {-1, BAD, BADF, BAD, 0}},
    {"unshare", SYS_unshare, {BADF}},
    {"setns", SYS_setns, {-1, 0}},
    {"ptrace", SYS_ptrace, {-1, 0, 0, 0}},
    {"process_vm_readv", SYS_process_vm_readv, {0, BAD, 1, BAD, 1, BADF}},
    {"process_vm_writev", SYS_process_vm_writev, {0, BAD, 1, BAD, 1, BADF}},
    {"kcmp", SYS_kcmp, {0, 0, -1, 0, 0}},
    {"pidfd_getfd", SYS_pidfd_getfd, {-1, -1, BADF}},
    {"bpf", SYS_bpf, {-1, BAD, 0}},
    {"perf_event_open", SYS_perf_event_open, {BAD, -1, -1, -1, BADF}},
    {"userfaultfd", SYS_userfaultfd, {BADF}},
    {"io_uring_setup", SYS_io_uring_setup, {0, BAD}},
    {"io_uring_enter", SYS_io_uring_enter, {-1, 0, 0, BADF, 0, 0}},
    {"io_uring_register", SYS_io_uring_register, {-1, -1, 0, 0}},
    {"keyctl", SYS_keyctl, {-1, 0, 0, 0, 0}},
    {"add_key", SYS_add_key, {BAD, BAD, BAD, 0, 0}},
    {"request_key", SYS_request_key, {BAD, BAD, BAD, 0}},
    {"fanotify_init", SYS_fanotify_init, {BADF, BADF}},
    {"name_to_handle_at", SYS_name_to_handle_at, {-1, BAD, BAD, BAD, BADF}},
    {"open_by_handle_at", SYS_open_by_handle_at, {-1, BAD, BADF}},
    {"lookup_dcookie", SYS_lookup_dcookie, {0, BAD, 0}},
    {"kexec_load", SYS_kexec_load, {0, 0, BAD, BADF}},
    {"kexec_file_load", SYS_kexec_file_load, {-1, -1, 0, BAD, BADF}},
    {"init_module", SYS_init_module, {BAD, 0, BAD}},
    {"finit_module", SYS_finit_module, {-1, BAD, BADF}},
    {"delete_module", SYS_delete_module, {BAD, BADF}},
    /* no magic numbers: refused before anything happens */
    {"reboot", SYS_reboot, {0, 0, 0, 0}},
    {"swapon", SYS_swapon, {BAD, BADF}},
    {"swapoff", SYS_swapoff, {BAD}},
    {"syslog", SYS_syslog, {-1, BAD, 0}},
    /* acct(NULL) would switch accounting off: a bad pointer instead */
    {"acct", SYS_acct, {BAD}},
    {"quotactl", SYS_quotactl, {-1, BAD, 0, BAD}},
    {"quotactl_fd", SYS_quotactl_fd, {-1, -1, 0, BAD}},
    {"settimeofday", SYS_settimeofday, {BAD, BAD}},
    {"clock_settime", SYS_clock_settime, {-1, BAD}},
    {"clock_adjtime", SYS_clock_adjtime, {-1, BAD}},
    {"adjtimex", SYS_adjtimex, {BAD}},
    {"iopl", SYS_iopl, {-1}},
    {"ioperm", SYS_ioperm, {0, 0, 0}},
    {"uselib", SYS_uselib, {BAD}},
    {"ustat", SYS_ustat, {0, BAD}},
    {"sysfs", SYS_sysfs, {-1, 0, 0}},
    {"_sysctl", SYS__sysctl, {BAD}},
    {"vhangup", SYS_vhangup, {0}},
    {"migrate_pages", SYS_migrate_pages, {-1, 0, BAD, BAD}},
    {"move_pages", SYS_move_pages, {-1, 1, BAD, BAD, BAD, BADF}},
    {"nfsservctl", SYS_nfsservctl, {-1, BAD, BAD}},
    /* a length beyond the kernel's 64 bytes: EINVAL before any copy */
    {"sethostname", SYS_sethostname, {BAD, BAD}},
    {"setdomainname", SYS_setdomainname, {BAD, BAD}},
};

static void report(const char *name, long r)
{
	printf("%s %d\n", name, r < 0 ? errno : 0);
}

/* clone with one namespace flag, plus CLONE_THREAD without CLONE_SIGHAND:
 * the kernel refuses that pair (EINVAL) before it creates anything. */
static void try_clone(const char *name, long flag)
{
	long r = syscall(SYS_clone, flag | CLONE_THREAD, 0, 0, 0, 0);

	if (r == 0)
		_exit(0); /* not reached: the pair is invalid */
	if (r > 0)
		waitpid((pid_t)r, NULL, __WALL);
	report(name, r);
}

static void try_socket(const char *name, int family, int type)
{
	int fd = socket(family, type | SOCK_CLOEXEC, 0);

	report(name, fd);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const long *a = calls[i].a;
		report(calls[i].name, syscall(calls[i].nr, a[0], a[1], a[2],
					      a[3], a[4], a[5]));
	}
	try_clone("clone:CLONE_NEWNS", CLONE_NEWNS);
	try_clone("clone:CLONE_NEWCGROUP", CLONE_NEWCGROUP);
	try_clone("clone:CLONE_NEWUTS", CLONE_NEWUTS);
	try_clone("clone:CLONE_NEWIPC", CLONE_NEWIPC);
	try_clone("clone:CLONE_NEWUSER", CLONE_NEWUSER);
	try_clone("clone:CLONE_NEWPID", CLONE_NEWPID);
	try_clone("clone:CLONE_NEWNET", CLONE_NEWNET);
	/* clone3's flags live in memory the filter cannot read */
	report("clone3", syscall(SYS_clone3, 0, 0));
	try_socket("socket:AF_VSOCK", AF_VSOCK, SOCK_STREAM);
	try_socket("socket:AF_PACKET", AF_PACKET, SOCK_DGRAM);
	try_socket("socket:AF_MAX", AF_MAX, SOCK_DGRAM);
	try_socket("socket:AF_MAX+9", AF_MAX + 9, SOCK_DGRAM);
	try_socket("socket:AF_UNIX", AF_UNIX, SOCK_STREAM);
	try_socket("socket:AF_INET", AF_INET, SOCK_DGRAM);
	try_socket("socket:AF_INET6", AF_INET6, SOCK_DGRAM);
	return fflush(stdout) == 0 ? 0 : 1;
}
