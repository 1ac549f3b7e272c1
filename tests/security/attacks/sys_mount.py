# The mount family from inside the sandbox: classic mount/umount2/pivot_root/
# chroot and the new mount API (fsopen, fsmount, fspick, move_mount,
# open_tree(OPEN_TREE_CLONE), mount_setattr) must all fail with EPERM from
# the seccomp filter. Targets do not exist: an unfiltered call with enough
# privilege would fail with ENOENT (so EPERM shows the filter answered), and
# nothing can be mounted over anything even where the sandbox failed.
import ctypes
import errno

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

AT_FDCWD = -100
MNT_DETACH = 2
MS_BIND = 0x1000
OPEN_TREE_CLONE = 1
NOPE = b"/nonexistent-pexos-attack"


def _arg(a):
    return ctypes.c_long(a) if isinstance(a, int) else a


def sys_errno(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[_arg(a) for a in args])
    if r == -1:
        e = ctypes.get_errno()
        return errno.errorcode.get(e, "errno %d" % e)
    if nr in (428, 430, 432, 433):  # returned an fd
        libc.close(ctypes.c_int(r))
    return "succeeded (returned %d)" % r


def main():
    return {
        "mount(tmpfs)": sys_errno(165, b"none", NOPE, b"tmpfs", 0, None),
        "mount(MS_BIND /)": sys_errno(165, b"/", NOPE, None, MS_BIND, None),
        "umount2(MNT_DETACH)": sys_errno(166, NOPE, MNT_DETACH),
        "pivot_root": sys_errno(155, NOPE, NOPE),
        "chroot(nonexistent)": sys_errno(161, NOPE),
        "open_tree(OPEN_TREE_CLONE)": sys_errno(428, AT_FDCWD, b"/tmp", OPEN_TREE_CLONE),
        "move_mount": sys_errno(429, AT_FDCWD, NOPE, AT_FDCWD, NOPE, 0),
        "fsopen(tmpfs)": sys_errno(430, b"tmpfs", 0),
        "fsmount": sys_errno(432, -1, 0, 0),
        "fspick": sys_errno(433, AT_FDCWD, b"/tmp", 0),
        "mount_setattr": sys_errno(442, AT_FDCWD, NOPE, 0, None, 0),
    }
