# The kernel keyring is not namespaced: keyctl, add_key and request_key must
# fail with EPERM from the seccomp filter. keyctl(KEYCTL_GET_KEYRING_ID) would
# succeed unfiltered; the others would fail with EFAULT on their NULL args.
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

KEYCTL_GET_KEYRING_ID = 0
KEY_SPEC_SESSION_KEYRING = -3
KEY_SPEC_PROCESS_KEYRING = -2


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
        "keyctl(KEYCTL_GET_KEYRING_ID, session)": sys_errno(
            250, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0),
        "add_key(NULL type)": sys_errno(248, None, None, None, 0, KEY_SPEC_PROCESS_KEYRING),
        "request_key(NULL type)": sys_errno(249, None, None, None, 0),
    }
