# File descriptors the script inherits: a directory fd from outside the
# sandbox is the classic escape (openat(fd, "..") walks the host tree), so
# no open fd may be a directory; and none may name a host path (anything but
# pipes, sockets, anon inodes, memfds, /dev/*, /tmp/* and the interpreter's
# files).
import os
import stat

OK_PREFIXES = ("pipe:", "socket:", "anon_inode:", "/memfd:", "/dev/", "/tmp/", "/usr/", "/proc/")


def main():
    dirs, foreign = [], []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            st = os.fstat(fd)
            target = os.readlink("/proc/self/fd/%d" % fd)
        except OSError:
            continue  # the fd listdir itself used, closed by now
        if stat.S_ISDIR(st.st_mode):
            dirs.append("%d -> %s" % (fd, target))
        elif not target.startswith(OK_PREFIXES):
            foreign.append("%d -> %s" % (fd, target))
    return {"directory fds": dirs, "host path fds": foreign}
