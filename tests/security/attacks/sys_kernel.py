# Host-wide kernel state: kexec, module loading, file handles, reboot, swap,
# the kernel log, process accounting, quotas, port I/O. Each must fail with
# EPERM from the seccomp filter. Arguments are harmless (reboot gets a bad
# magic number, kexec_load invalid flags, paths do not exist, fds are -1), so
# even a privileged unfiltered call would change nothing.
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

AT_FDCWD = -100
SYSLOG_ACTION_SIZE_BUFFER = 10
NOPE = b"/nonexistent-pexos-attack"
KEXEC_BAD_FLAG = 0x8000  # neither a KEXEC_* flag nor an arch bit: EINVAL


def _arg(a):
    return ctypes.c_long(a) if isinstance(a, int) else a


def sys_errno(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[_arg(a) for a in args])
    if r == -1:
        e = ctypes.get_errno()
        return errno.errorcode.get(e, "errno %d" % e)
    return "succeeded (returned %d)" % r


def main():
    return {
        "kexec_load(bad flags)": sys_errno(246, 0, 0, None, KEXEC_BAD_FLAG),
        "kexec_file_load": sys_errno(320, -1, -1, 0, None, 0),
        "init_module": sys_errno(175, None, 0, b""),
        "finit_module": sys_errno(313, -1, b"", 0),
        "delete_module": sys_errno(176, b"pexos_nonexistent", 0),
        "open_by_handle_at": sys_errno(304, -1, None, 0),
        "name_to_handle_at": sys_errno(303, AT_FDCWD, b"/", None, None, 0),
        "reboot(bad magic)": sys_errno(169, 0, 0, 0, None),
        "swapon": sys_errno(167, NOPE, 0),
        "swapoff": sys_errno(168, NOPE),
        "syslog(SIZE_BUFFER)": sys_errno(103, SYSLOG_ACTION_SIZE_BUFFER, None, 0),
        "acct(nonexistent)": sys_errno(163, NOPE),
        "quotactl": sys_errno(179, 0, None, 0, None),
        "iopl(3)": sys_errno(172, 3),
        "ioperm(0, 0, 0)": sys_errno(173, 0, 0, 0),
    }
