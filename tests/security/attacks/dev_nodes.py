# /dev holds only null zero full random urandom (+ fd/std* symlinks), the
# run's own /dev/shm (a tmpfs) and /dev/pts (a devpts instance, /dev/ptmx a
# symlink into it): no kmsg, mem, port, disks, tty, fuse, kvm, net/tun,
# vsock, etc. Creating a device node (here /dev/mem's 1:1 in /tmp) needs
# CAP_MKNOD in the initial user namespace: EPERM. Control: the five allowed
# devices are usable.
import errno
import os
import stat

ALLOWED = {"null", "zero", "full", "random", "urandom", "fd", "stdin", "stdout", "stderr",
           "shm", "pts", "ptmx"}


def mounted():
    """Filesystem type of each mount under /dev, from mountinfo."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point, fstype = fields[4], fields[fields.index("-") + 1]
            if point.startswith("/dev/"):
                out[point] = fstype
    return out


def main():
    names = sorted(os.listdir("/dev"))
    chars = sorted(n for n in names if stat.S_ISCHR(os.lstat("/dev/" + n).st_mode))
    try:
        os.mknod("/tmp/mem", stat.S_IFCHR | 0o600, os.makedev(1, 1))
        os.unlink("/tmp/mem")
        mknod = "succeeded"
    except OSError as e:
        mknod = errno.errorcode.get(e.errno, "errno %s" % e.errno)
    with open("/dev/urandom", "rb") as f:
        rnd = len(f.read(16))
    with open("/dev/zero", "rb") as f:
        zero = f.read(4) == b"\0\0\0\0"
    with open("/dev/null", "wb") as f:
        f.write(b"x")
    try:
        with open("/dev/full", "wb", buffering=0) as f:
            f.write(b"x")
        full = "succeeded"
    except OSError as e:
        full = errno.errorcode.get(e.errno, "errno %s" % e.errno)
    mounts = mounted()
    return {
        "unexpected": [n for n in names if n not in ALLOWED],
        "char devices": chars,
        "ptmx": os.readlink("/dev/ptmx"),
        "shm, pts": [mounts.get("/dev/shm"), mounts.get("/dev/pts")],
        "mknod char 1:1": mknod,
        "urandom bytes": rnd,
        "zero": zero,
        "write /dev/full": full,
    }
