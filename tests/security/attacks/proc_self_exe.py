# Overwriting the interpreter through /proc/self/exe (the runc CVE-2019-5736
# pattern: a sandboxed process reopens the binary that runs it and writes
# into the host's copy). Opening it for writing must fail: ETXTBSY (it is
# being executed), EACCES (not the sandbox user's file) or EROFS (read-only
# mount) are each a right reason; on this design the permission check comes
# first (EACCES). The same for init's /proc/1/exe (pexos's own binary,
# refused at the link already) and for a child process's exe. Swapping the
# process's exe link (prctl PR_SET_MM_EXE_FILE) needs CAP_SYS_RESOURCE: EPERM.
# Harmless: files are opened O_APPEND and never written, no O_TRUNC.
import ctypes
import errno
import os
import subprocess

PR_SET_MM, PR_SET_MM_EXE_FILE = 35, 13


def probe(fn):
    try:
        fn()
        return "succeeded"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def open_w(path, flags=os.O_WRONLY):
    return lambda: os.close(os.open(path, flags | os.O_APPEND))


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    child = subprocess.Popen(["/usr/bin/python3", "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        out = {
            "O_WRONLY /proc/self/exe": probe(open_w("/proc/self/exe")),
            "O_RDWR /proc/self/exe": probe(open_w("/proc/self/exe", os.O_RDWR)),
            "O_WRONLY /proc/<child>/exe": probe(open_w("/proc/%d/exe" % child.pid)),
            "O_WRONLY /proc/1/exe": probe(open_w("/proc/1/exe")),
        }
    finally:
        child.communicate(b"")
    fd = os.open("/tmp", os.O_RDONLY)
    ctypes.set_errno(0)
    r = libc.prctl(PR_SET_MM, PR_SET_MM_EXE_FILE, ctypes.c_ulong(fd), 0, 0)
    out["prctl(PR_SET_MM_EXE_FILE)"] = "succeeded" if r == 0 else errno.errorcode.get(
        ctypes.get_errno(), "errno %d" % ctypes.get_errno())
    os.close(fd)
    return out
