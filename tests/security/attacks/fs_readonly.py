# Everything outside /tmp is read-only: creating files or directories under
# /, /usr, /etc and /dev, renaming in /etc and chmod fail with EROFS (a
# read-only mount is checked before permissions and before the source name is
# looked up); opening an existing interpreter file for writing fails on its
# permissions (EACCES: host root's files are not the sandbox user's).
# Control: /tmp is writable, so the refusals are not a broken filesystem.
# Harmless even where the sandbox failed: new names are removed again, the
# rename source does not exist, chmod sets the mode the file already has.
import errno
import os
import stat


def probe(fn):
    try:
        fn()
        return "succeeded"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def create(path):
    def fn():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(path)
    return fn


def mkdir(path):
    def fn():
        os.mkdir(path)
        os.rmdir(path)
    return fn


def main():
    python = os.path.realpath("/usr/bin/python3")
    mode = stat.S_IMODE(os.stat(python).st_mode)
    return {
        "create /pexos-attack": probe(create("/pexos-attack")),
        "mkdir /pexos-attack": probe(mkdir("/pexos-attack")),
        "create /usr/pexos-attack": probe(create("/usr/pexos-attack")),
        "mkdir /usr/lib/pexos-attack": probe(mkdir("/usr/lib/pexos-attack")),
        "create /usr/bin/pexos-attack": probe(create("/usr/bin/pexos-attack")),
        "create /etc/pexos-attack": probe(create("/etc/pexos-attack")),
        "rename in /etc": probe(lambda: os.rename("/etc/pexos-attack-src", "/etc/pexos-attack-dst")),
        "open python3 for writing": probe(lambda: os.close(os.open(python, os.O_WRONLY | os.O_APPEND))),
        "chmod python3 (same mode)": probe(lambda: os.chmod(python, mode)),
        "create /dev/pexos-attack": probe(create("/dev/pexos-attack")),
        "create /tmp/pexos-control": probe(create("/tmp/pexos-control")),
    }
