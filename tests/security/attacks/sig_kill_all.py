# Signalling and tracing beyond the run's own processes, from inside its PID
# namespace. kill(-1, 0) reaches every process the caller may signal: with
# nothing of its own running it must find none (ESRCH: the host's processes,
# even those of the same host uid, are not in the namespace; init is
# skipped by kill(-1)); with one child of its own it succeeds (control: the
# call works, it just has nothing else to reach). Signalling init (uid 0
# inside) is refused (EPERM), also through a pidfd (pidfd_send_signal), and
# ptrace of init (PTRACE_ATTACH, PTRACE_SEIZE) is refused by seccomp (EPERM).
# Only signal 0 is ever sent: harmless anywhere.
import ctypes
import errno
import os

NR_PTRACE, NR_PIDFD_SEND_SIGNAL, NR_PIDFD_OPEN = 101, 424, 434
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def sys_errno(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a
                                          for a in args])
    if r == -1:
        return errno.errorcode.get(ctypes.get_errno(), "errno %d" % ctypes.get_errno())
    return "succeeded (returned %d)" % r


def kill(pid):
    try:
        os.kill(pid, 0)
        return "succeeded"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def main():
    out = {"kill(-1, 0) alone": kill(-1), "kill(1, 0)": kill(1)}
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        os._exit(0)
    os.close(r)
    out["kill(-1, 0) with a child"] = kill(-1)
    os.close(w)
    os.waitpid(pid, 0)
    out["ptrace(PTRACE_ATTACH, 1)"] = sys_errno(NR_PTRACE, PTRACE_ATTACH, 1, None, None)
    out["ptrace(PTRACE_SEIZE, 1)"] = sys_errno(NR_PTRACE, PTRACE_SEIZE, 1, None, None)
    ctypes.set_errno(0)
    fd = libc.syscall(ctypes.c_long(NR_PIDFD_OPEN), ctypes.c_long(1), ctypes.c_long(0))
    if fd < 0:
        out["pidfd_send_signal(init, 0)"] = "pidfd_open: " + errno.errorcode.get(ctypes.get_errno(), "?")
    else:
        out["pidfd_send_signal(init, 0)"] = sys_errno(NR_PIDFD_SEND_SIGNAL, fd, 0, None, 0)
        os.close(fd)
    return out
