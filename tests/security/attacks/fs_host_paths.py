# Host files that must not exist inside the sandbox: the root filesystem is
# a fresh tmpfs holding only read-only binds of what Python needs and a
# generated minimal /etc, so secrets and home directories are simply absent
# (ENOENT), not merely unreadable.
import errno
import os


def probe(fn, path):
    try:
        fn(path)
        return "accessible"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def read(path):
    with open(path, "rb") as f:
        f.read(1)


def main():
    return {
        "read /etc/shadow": probe(read, "/etc/shadow"),
        "read /etc/gshadow": probe(read, "/etc/gshadow"),
        "read /etc/sudoers": probe(read, "/etc/sudoers"),
        "read /etc/ssh": probe(os.listdir, "/etc/ssh"),
        "list /root": probe(os.listdir, "/root"),
        "list /home": probe(os.listdir, "/home"),
        "list /var": probe(os.listdir, "/var"),
        "list /run": probe(os.listdir, "/run"),
        "list /sys": probe(os.listdir, "/sys"),
        "list /boot": probe(os.listdir, "/boot"),
        "stat /var/run/docker.sock": probe(os.stat, "/var/run/docker.sock"),
    }
