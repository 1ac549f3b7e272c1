# /proc/<pid>/root and /proc/<pid>/cwd are the classic way out of a chroot:
# they are followed like mount points, not like paths. In the sandbox every
# process's root must be the sandbox's own root: for each pid in /proc the
# root is either refused (EACCES: init is uid 0 inside, not the script's
# user) or lists exactly what "/" lists. Walking up from it (root/../..,
# cwd/../../..) stays at that root, and host directories (/home, /root,
# /work, the host's /var) do not exist through any of these paths (ENOENT).
# Only reads: harmless anywhere.
import errno
import os


def err(e):
    return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def listing(path, root):
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        return err(e)
    return "sandbox root" if names == root else names


def stat(path):
    try:
        os.stat(path)
        return "exists"
    except OSError as e:
        return err(e)


def main():
    root = sorted(os.listdir("/"))
    pids = sorted(int(d) for d in os.listdir("/proc") if d.isdigit())
    roots = {str(p): listing("/proc/%d/root" % p, root) for p in pids}
    me = os.getpid()
    out = {
        "own pid": me,
        "roots": roots,
        "roots elsewhere": {p: v for p, v in roots.items() if v not in ("sandbox root", "EACCES")},
        "init root": roots.get("1"),
        "own root": roots.get(str(me)),
        "readlink /proc/self/root": os.readlink("/proc/self/root"),
        "/proc/self/root/../..": listing("/proc/self/root/../..", root),
        "/proc/self/cwd/../../..": listing("/proc/self/cwd/../../..", root),
        "/proc/1/cwd": listing("/proc/1/cwd", root),
    }
    for d in ("home", "root", "work", "var", "srv", "mnt"):
        out["stat /proc/self/root/" + d] = stat("/proc/self/root/" + d)
        out["stat /proc/1/root/" + d] = stat("/proc/1/root/" + d)
    return out
