# Setting the host clock: settimeofday, clock_settime, clock_adjtime and
# adjtimex must fail with EPERM from the seccomp filter. clock ids are invalid
# and pointers NULL, so nothing could change even unfiltered (and an unfiltered
# call would say EINVAL/EFAULT, not EPERM).
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

BAD_CLOCK = 9999


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
        "settimeofday(NULL, NULL)": sys_errno(164, None, None),
        "clock_settime(bad clock)": sys_errno(227, BAD_CLOCK, None),
        "clock_adjtime(bad clock)": sys_errno(305, BAD_CLOCK, None),
        "adjtimex(NULL)": sys_errno(159, None),
    }
