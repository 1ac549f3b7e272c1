# Hard links from /tmp to files outside it: the interpreter (the real file
# behind /usr/bin/python3), /etc/passwd, /dev/null, and /proc/self/exe
# followed (linkat AT_SYMLINK_FOLLOW). /tmp is its own tmpfs, so every link
# crosses a mount and fails with EXDEV (on one filesystem the kernel's
# protected_hardlinks would answer EPERM for files the user does not own);
# a rename from /etc to /tmp is refused the same way (EXDEV, checked before
# the source name is even looked up). Then the originals themselves are not
# writable either: opening them for writing gives EACCES.
# Control: a hard link between two files inside /tmp works.
# Harmless even where the sandbox failed: the rename source does not exist,
# a link that succeeded would be removed again, nothing is ever written.
import errno
import os

TAG = "pexos-attack-hardlink"


def probe(fn):
    try:
        fn()
        return "succeeded"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def link(src, follow=True):
    def fn():
        dst = "/tmp/%s-%d" % (TAG, abs(hash(src)))
        os.link(src, dst, follow_symlinks=follow)
        os.unlink(dst)
    return fn


def open_w(path):
    return lambda: os.close(os.open(path, os.O_WRONLY | os.O_APPEND))


def main():
    python = os.path.realpath("/usr/bin/python3")
    with open("/tmp/%s-src" % TAG, "w") as f:
        f.write("x")
    out = {
        "link python3 (real file)": probe(link(python)),
        "link /etc/passwd": probe(link("/etc/passwd")),
        "link /dev/null": probe(link("/dev/null")),
        "linkat /proc/self/exe AT_SYMLINK_FOLLOW": probe(link("/proc/self/exe")),
        "rename /etc/<nonexistent> to /tmp": probe(
            lambda: os.rename("/etc/%s-nonexistent" % TAG, "/tmp/%s-moved" % TAG)),
        "open python3 for writing": probe(open_w(python)),
        "open /etc/passwd for writing": probe(open_w("/etc/passwd")),
        "control: link inside /tmp": probe(link("/tmp/%s-src" % TAG)),
    }
    os.unlink("/tmp/%s-src" % TAG)
    return out
