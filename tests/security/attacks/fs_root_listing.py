# What the root filesystem holds: only the interpreter's binds, /etc, /proc,
# /dev and /tmp (plus merged-usr symlinks). Anything else is a host
# directory leaking in. /etc holds only the generated minimal files.
import os

ROOT_ALLOWED = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
# alternatives: Debian's symlink farm into /usr (e.g. awk, pager); no data.
ETC_ALLOWED = {"passwd", "group", "hosts", "hostname", "nsswitch.conf", "ld.so.cache", "localtime",
               "resolv.conf", "alternatives"}


def main():
    root = sorted(os.listdir("/"))
    etc = sorted(os.listdir("/etc"))
    return {
        "unexpected in /": [n for n in root if n not in ROOT_ALLOWED],
        "unexpected in /etc": [n for n in etc if n not in ETC_ALLOWED],
        "root": root,
        "etc": etc,
    }
