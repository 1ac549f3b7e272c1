# Host-wide knobs reachable through /proc: opening them for writing must fail
# (nothing is ever written to them). /proc/sys and sysrq-trigger belong to the
# initial user namespace's root, so the sandbox user gets EACCES; a design
# that masks them (EROFS read-only mount, ENOENT hidden) is as good. Lowering
# the script's own oom_score_adj needs CAP_SYS_RESOURCE: EACCES.
import errno
import os


def try_open(path):
    try:
        os.close(os.open(path, os.O_WRONLY))
        return "opened for writing"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def main():
    out = {p: try_open(p) for p in (
        "/proc/sysrq-trigger",
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/modprobe",
        "/proc/sys/vm/drop_caches",
        "/proc/sys/kernel/hostname",
    )}
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
        out["oom_score_adj -1000"] = "written"
    except OSError as e:
        out["oom_score_adj -1000"] = errno.errorcode.get(e.errno, "errno %s" % e.errno)
    return out
