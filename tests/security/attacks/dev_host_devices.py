# Host devices by name: physical memory (/dev/mem, /dev/kmem, /dev/port),
# disks (/dev/sda, /dev/vda, /dev/nvme0n1, /dev/xvda), the kernel log, the
# consoles and terminals, tun, fuse, kvm, loop-control. The minimal /dev has
# none of them: opening any (read-only, nothing is ever read) gives ENOENT.
# (/dev/ptmx exists: it is the run's own devpts instance, dev_pts_private.)
# Making them oneself is refused: mknod of a block device (8:0, sda) or of
# /dev/kmem's char 1:2 in /tmp needs CAP_MKNOD in the initial user
# namespace (EPERM). Controls: a FIFO and a regular file can be made in /tmp,
# so the refusal is about devices, not about /tmp.
import errno
import os
import stat

DEVICES = ["/dev/mem", "/dev/kmem", "/dev/port", "/dev/sda", "/dev/vda", "/dev/nvme0n1",
           "/dev/xvda", "/dev/kmsg", "/dev/console", "/dev/tty", "/dev/tty0", "/dev/tty1",
           "/dev/pts/1", "/dev/net/tun", "/dev/fuse", "/dev/kvm", "/dev/loop-control",
           "/dev/loop0"]


def probe(fn):
    try:
        fn()
        return "succeeded"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def opener(path):
    return lambda: os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY))


def node(path, mode, dev=0):
    def fn():
        os.mknod(path, mode, dev)
        os.unlink(path)
    return fn


def main():
    out = {"open " + d: probe(opener(d)) for d in DEVICES}
    out["mknod block 8:0 (sda)"] = probe(node("/tmp/sda", stat.S_IFBLK | 0o600, os.makedev(8, 0)))
    out["mknod char 1:2 (kmem)"] = probe(node("/tmp/kmem", stat.S_IFCHR | 0o600, os.makedev(1, 2)))
    out["control: mkfifo"] = probe(node("/tmp/fifo", stat.S_IFIFO | 0o600))
    out["control: mknod regular"] = probe(node("/tmp/regular", stat.S_IFREG | 0o600))
    return out
