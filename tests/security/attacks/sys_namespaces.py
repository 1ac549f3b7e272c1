# Namespace creation and entry from inside the sandbox: unshare(CLONE_NEW*),
# setns, raw clone(CLONE_NEW*) must all be refused by seccomp with EPERM;
# clone3 must give ENOSYS (its flags live in memory seccomp cannot inspect, so
# the whole call is refused and libc falls back to clone, which is filtered).
# Arguments are chosen so that an unfiltered call would give a different
# result (success, EBADF, ...) instead of EPERM.
import ctypes
import errno
import os
import signal
import struct
import threading

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

NR_CLONE, NR_UNSHARE, NR_SETNS, NR_CLONE3 = 56, 272, 308, 435

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

FLAGS = {
    "CLONE_NEWUSER": CLONE_NEWUSER,
    "CLONE_NEWNS": CLONE_NEWNS,
    "CLONE_NEWPID": CLONE_NEWPID,
    "CLONE_NEWNET": CLONE_NEWNET,
    "CLONE_NEWUTS": CLONE_NEWUTS,
    "CLONE_NEWIPC": CLONE_NEWIPC,
    "CLONE_NEWCGROUP": CLONE_NEWCGROUP,
    "CLONE_NEWTIME": CLONE_NEWTIME,
}


def _arg(a):
    return ctypes.c_long(a) if isinstance(a, int) else a


def _raw(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[_arg(a) for a in args])
    return r, ctypes.get_errno()


def _name(e):
    return errno.errorcode.get(e, "errno %d" % e)


def sys_errno(nr, *args):
    r, e = _raw(nr, *args)
    return _name(e) if r == -1 else "succeeded (returned %d)" % r


def clone_errno(nr, *args):
    # An unfiltered clone forks: the child must leave at once.
    r, e = _raw(nr, *args)
    if r == 0:
        os._exit(0)
    if r == -1:
        return _name(e)
    os.waitpid(r, 0)
    return "succeeded (child pid %d)" % r


def main():
    out = {}
    # Controls: plain fork and threads still work, so the refusals below are
    # the filter's doing and not a broken clone. (First, because an
    # unfiltered unshare(CLONE_NEWPID) would break later forks.)
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    out["fork()"] = "exit %d" % os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    seen = []
    t = threading.Thread(target=seen.append, args=("ran",))
    t.start()
    t.join()
    out["thread"] = seen
    for name, flag in FLAGS.items():
        out["unshare(%s)" % name] = sys_errno(NR_UNSHARE, flag)
    out["setns(-1, 0)"] = sys_errno(NR_SETNS, -1, 0)
    for name, flag in FLAGS.items():
        if flag == CLONE_NEWTIME:
            continue  # not a clone() flag
        out["clone(%s|SIGCHLD)" % name] = clone_errno(
            NR_CLONE, flag | signal.SIGCHLD, None, None, None, 0)
    # struct clone_args, CLONE_ARGS_SIZE_VER0 (8 x u64): flags, pidfd,
    # child_tid, parent_tid, exit_signal, stack, stack_size, tls.
    args = ctypes.create_string_buffer(
        struct.pack("8Q", CLONE_NEWUSER, 0, 0, 0, signal.SIGCHLD, 0, 0, 0), 64)
    out["clone3(CLONE_NEWUSER)"] = clone_errno(NR_CLONE3, args, 64)
    return out
