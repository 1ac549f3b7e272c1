# Tracing, cross-process memory access and kernel attack surface reachable
# without privileges: ptrace, process_vm_readv/writev, perf_event_open, bpf,
# userfaultfd, io_uring_*. Each must fail with EPERM from the seccomp filter.
# Arguments are harmless, and chosen so an unfiltered call would succeed or
# fail with something other than EPERM (ESRCH, EFAULT, EINVAL, EBADF).
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

PTRACE_TRACEME, PTRACE_ATTACH = 0, 16
UFFD_USER_MODE_ONLY = 1
O_CLOEXEC = 0o2000000
FD_RETURNING = {298, 321, 323, 425}


def _arg(a):
    return ctypes.c_long(a) if isinstance(a, int) else a


def sys_errno(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[_arg(a) for a in args])
    if r == -1:
        e = ctypes.get_errno()
        return errno.errorcode.get(e, "errno %d" % e)
    if nr in FD_RETURNING:
        libc.close(ctypes.c_int(r))
    return "succeeded (returned %d)" % r


def main():
    me = os.getpid()
    return {
        "ptrace(PTRACE_TRACEME)": sys_errno(101, PTRACE_TRACEME, 0, None, None),
        "ptrace(PTRACE_ATTACH, no such pid)": sys_errno(101, PTRACE_ATTACH, 999999, None, None),
        "process_vm_readv(self)": sys_errno(310, me, None, 0, None, 0, 0),
        "process_vm_writev(self)": sys_errno(311, me, None, 0, None, 0, 0),
        "perf_event_open(NULL attr)": sys_errno(298, None, 0, -1, -1, 0),
        "bpf(bad cmd)": sys_errno(321, 9999, None, 0),
        "userfaultfd(UFFD_USER_MODE_ONLY)": sys_errno(323, UFFD_USER_MODE_ONLY | O_CLOEXEC),
        "io_uring_setup": sys_errno(425, 1, None),
        "io_uring_enter": sys_errno(426, -1, 0, 0, 0, None, 0),
        "io_uring_register": sys_errno(427, -1, 0, None, 0),
    }
