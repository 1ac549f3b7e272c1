# /proc/sys knobs beyond proc_writes: host-wide ones (pid_max,
# randomize_va_space, overcommit, file-max, user namespaces, core_uses_pid)
# belong to the initial namespace's root, and those of the run's own
# namespaces (net: ip_forward, somaxconn; ipc: shmmax, msgmax; uts:
# domainname) to root of the sandbox's user namespace; the script is neither,
# so opening any for writing gives EACCES. ns_last_pid is mode 0666 (the
# checkpoint/restore interface) so it opens, but writing needs
# CAP_SYS_ADMIN/CAP_CHECKPOINT_RESTORE over the pid namespace: EPERM. It is
# written its own current value, so nothing changes even where that worked;
# the other files are never written.
import errno
import os

KNOBS = [
    "/proc/sys/kernel/pid_max",
    "/proc/sys/kernel/randomize_va_space",
    "/proc/sys/kernel/core_uses_pid",
    "/proc/sys/vm/overcommit_memory",
    "/proc/sys/fs/file-max",
    "/proc/sys/user/max_user_namespaces",
    "/proc/sys/net/ipv4/ip_forward",
    "/proc/sys/net/core/somaxconn",
    "/proc/sys/kernel/shmmax",
    "/proc/sys/kernel/msgmax",
    "/proc/sys/kernel/domainname",
]


def err(e):
    return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def open_w(path):
    try:
        os.close(os.open(path, os.O_WRONLY))
        return "opened for writing"
    except OSError as e:
        return err(e)


def write_same(path):
    with open(path) as f:
        value = f.read().strip()
    try:
        fd = os.open(path, os.O_WRONLY)
    except OSError as e:
        return "open: " + err(e)
    try:
        os.write(fd, value.encode())
        return "written"
    except OSError as e:
        return err(e)
    finally:
        os.close(fd)


def main():
    out = {p: open_w(p) for p in KNOBS}
    out["write ns_last_pid (same value)"] = write_same("/proc/sys/kernel/ns_last_pid")
    return out
