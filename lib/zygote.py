# SPDX-License-Identifier: MIT
# The zygote of the warm pool, embedded into libpexos and run inside a base
# sandbox as `python3 -I -B -S -c <this file>`, as the sandbox's setup user
# (uid 0 of its user namespace, capabilities kept, no seccomp filter). It
# never sees request data: it imports the preload list, warms it, freezes
# its heap, then forks one process per pool slot on the library's request.
#
# File descriptors at start:
#   0      empty;  1, 2  a log pipe the library keeps the tail of
#   3      control socket (SOCK_SEQPACKET) to the library
#   4      configuration (JSON), read once and closed
#   9      pexos-init, a sealed memory file
#
# Control messages (one datagram each):
#   library -> zygote  b"S" id   fds: slot socket, stdout, stderr, result,
#                                status (write ends)
#   zygote -> library  b"Y"      warm and ready for slots
#                      b"E" msg  cannot start (then exits)
#                      b"S" id   fds: pidfds of the slot's process and of
#                                the pid 1 of its PID namespace
#                      b"F" id msg   the slot could not be started
# The zygote writes each slot process's wait status (4 bytes) to the slot's
# status pipe when it reaps it.
#
# A slot process, once started, talks to the library on its own socket:
#   library -> slot    b"g"      it is in its cgroup: build the sandbox
#   slot -> library    b"R"      locked down and waiting for a script
#                      b"E" msg  setup failed
#   library -> slot    b"J" cpu_ms (8 bytes)   fds: script, stdin
import array
import ctypes
import gc
import json
import os
import select
import signal
import socket
import struct
import sys

CONFIG = json.loads(os.read(4, 1 << 24).decode())
os.close(4)
CTL = socket.socket(fileno=3)
CTL.set_inheritable(False)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_MOVE, MS_REC, MS_PRIVATE = 8192, 16384, 1 << 18
MNT_DETACH = 2
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 24, 38, 22
PR_SET_DUMPABLE = 4
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
SECCOMP_MODE_FILTER = 2
MADV_POPULATE_WRITE = 23
PAGE = os.sysconf("SC_PAGE_SIZE")
# Private memory a waiting slot may spend on pre-faulted pages.
MAX_WRITE_PAGES = (8 << 20) // PAGE
TOUCH_CHUNK = 64

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                        ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong, ctypes.c_ulong]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.syscall.restype = ctypes.c_long
# fork() holding the GIL: the child is a plain copy of this single-threaded
# interpreter. os.fork's after-fork hooks cost about 6 ms of page faults a
# slot and reseed nothing we do not reseed ourselves.
_fork = ctypes.PyDLL(None).fork
_fork.restype = ctypes.c_int
_fork.argtypes = []


def _recv_fds(sock, bufsize, maxfds, flags=0):
    """socket.recv_fds, with flags (3.11's drops them) and descriptors
    that no exec inherits."""
    fds = array.array("i")
    msg, anc, _flags, _addr = sock.recvmsg(
        bufsize, socket.CMSG_LEN(maxfds * fds.itemsize),
        flags | socket.MSG_CMSG_CLOEXEC)
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[:len(data) - len(data) % fds.itemsize])
    return msg, list(fds)


class SetupError(Exception):
    pass


def _check(ret, what):
    if ret < 0:
        e = ctypes.get_errno()
        raise SetupError(f"{what}: {os.strerror(e)}")
    return ret


def _mount(src, dst, fstype, flags, data):
    _check(_libc.mount(src and src.encode(), dst.encode(),
                       fstype and fstype.encode(), flags,
                       data and data.encode()), f"mount {dst}")


def _prctl(option, a=0, b=0, c=0, d=0):
    return _check(_libc.prctl(option, a, b, c, d), f"prctl {option}")


# ---- start-up: preload, warm, record the pages a run touches -------------

_runner = {"__name__": "_pexos_runner"}
exec(compile(CONFIG["runner"], "<pexos-runner>", "exec"), _runner)
_runner["_RESULT_MAX"] = CONFIG["result_max"]
if sys.flags.no_site:
    _runner["_site"]()

_WARM = {
    None: """
def main():
    data = {"message": "Hello, World!", "n": [1, 2.5, None, True]}
    print("warm", len(data))
    return data
""",
    "numpy": """
import numpy as np
def main():
    a = np.arange(1000, dtype=float)
    b = np.random.default_rng(1).random(100)
    return {"mean": float(a.mean()), "std": float(a.std()),
            "sum": int(a.astype(int).sum()), "b": b[:3].tolist(),
            "dot": float(a[:100] @ b), "m": np.median(b)}
""",
    "pandas": """
import pandas as pd
def main():
    df = pd.DataFrame({"a": [1, 2, 3, 4], "b": [1.0, 2.5, 3.5, 10.0],
                       "k": ["x", "y", "x", "y"]})
    g = df.groupby("k").agg({"a": "sum", "b": "mean"})
    m = df.merge(g, left_on="k", right_index=True)
    return {"describe": df.describe().to_dict(),
            "groups": g.reset_index().to_dict(orient="records"),
            "sorted": m.sort_values("b_x").head(2).to_dict(orient="list"),
            "total": df["b"].sum()}
""",
}


def _warm_once():
    """Runs the runner's own path (compile, main, serialise) over a few
    common numpy and pandas operations, never the user's code."""
    import io
    keep = sys.stdout
    sys.stdout = io.StringIO()
    try:
        for module, src in _WARM.items():
            if module is not None and module not in sys.modules:
                continue
            g = {"__name__": "script"}
            exec(compile(src, "script.py", "exec"), g)
            _runner["_serialise"](g["main"]())
            _runner["_header"]({"ok": True, "type": "x"})
    finally:
        sys.stdout = keep


def _maps(writable):
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            perms = fields[1]
            name = fields[5] if len(fields) > 5 else ""
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if name in ("[vsyscall]", "[vvar]", "[vdso]", "[vvar_vclock]"):
                continue
            if writable and perms[1] == "w" and perms[3] == "p":
                out.append((lo, hi))
            elif not writable and perms[1] != "w" and name.startswith("/"):
                out.append((lo, hi))
    return out


def _scan(maps, bits):
    """Pages of `maps` whose pagemap entry has every bit of `bits`."""
    pages = []
    with open("/proc/self/pagemap", "rb") as pm:
        for lo, hi in maps:
            pm.seek(lo // PAGE * 8)
            data = pm.read((hi - lo) // PAGE * 8)
            for i, (v,) in enumerate(struct.iter_unpack("Q", data)):
                if v & bits == bits:
                    pages.append(lo + i * PAGE)
    return pages


PRESENT, EXCLUSIVE = 1 << 63, 1 << 56


def _record_pages():
    """A probe child runs the warm-up; the pages it wrote (now its own) and
    read are the ones a slot faults in before it waits for a script."""
    r, w = os.pipe()
    pid = _fork()
    if pid == 0:
        try:
            os.close(r)
            _warm_once()
            written = _scan(_maps(True), PRESENT | EXCLUSIVE)
            read = _scan(_maps(False), PRESENT)
            data = struct.pack(f"<QQ{len(written)}Q{len(read)}Q",
                               len(written), len(read), *written, *read)
            with open(w, "wb") as f:
                f.write(data)
        finally:
            os._exit(0)
    os.close(w)
    with open(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if len(data) < 16:
        return [], []
    nw, nr = struct.unpack_from("<QQ", data)
    pages = struct.unpack_from(f"<{nw + nr}Q", data, 16)
    ours = set(_scan(_maps(True), PRESENT))
    written = [p for p in pages[:nw] if p in ours][:MAX_WRITE_PAGES]
    return _ranges(written), written + list(pages[nw:])


def _ranges(pages):
    out = []
    for p in pages:
        if out and out[-1][1] == p:
            out[-1][1] = p + PAGE
        else:
            out.append([p, p + PAGE])
    return out


def _start():
    try:
        for name in CONFIG["preload"]:
            __import__(name)
        _warm_once()
    except BaseException as e:  # noqa: BLE001 - any failure is reported
        msg = f"preloading {CONFIG['preload']} failed: {type(e).__name__}: {e}"
        CTL.send(b"E" + msg.encode("utf-8", "replace")[:4000])
        os._exit(1)
    gc.collect()
    gc.freeze()
    return _record_pages() if CONFIG["warm_pages"] else ([], [])


WRITE_RANGES, TOUCH_PAGES = _start()
gc.collect()
gc.freeze()


# ---- a slot: one process, one run ----------------------------------------

def _write(path, text):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _setup_fs():
    """Own mount namespace: a fresh /tmp and a /proc of the slot's own PID
    namespace, replacing the zygote's."""
    _check(_libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
    _mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    _check(_libc.umount2(b"/tmp", MNT_DETACH), "detach /tmp")
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV,
           f"size={CONFIG['tmp_mb']}m,mode=1777")
    os.mkdir("/tmp/.proc", 0o555)
    _mount("proc", "/tmp/.proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           None)
    _check(_libc.umount2(b"/proc", MNT_DETACH), "detach /proc")
    _mount("/tmp/.proc", "/proc", None, MS_MOVE, None)
    os.rmdir("/tmp/.proc")


def _lock_down():
    """The cold path's order: ids, a user namespace of the slot's own, the
    other namespaces, capabilities, rlimits, no_new_privs, seccomp."""
    import resource
    # Counted per user namespace: as high as allowed at this level, where
    # every slot's uid is the same; the run's own limit below.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NPROC)
    resource.setrlimit(resource.RLIMIT_NPROC, (hard, hard))
    os.setgroups([])
    uid = CONFIG["uid"]
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    # A change of ids makes a process undumpable, and its /proc/self files
    # root's: as after the cold path's execve, it is dumpable again.
    _prctl(PR_SET_DUMPABLE, 1)
    _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC |
                         CLONE_NEWUTS | CLONE_NEWCGROUP),
           "unshare the slot's namespaces")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{uid} {uid} 1\n")
    for cap in range(CONFIG["last_cap"] + 1):
        _prctl(PR_CAPBSET_DROP, cap)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    hdr = struct.pack("<Ii", 0x20080522, 0)
    data = bytes(24)
    _check(_libc.syscall(CONFIG["nr_capset"], hdr, data), "capset")
    for name, soft, hard in CONFIG["rlimits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    os.chdir("/tmp")
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    bpf = bytes.fromhex(CONFIG["bpf"])
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = struct.pack("<HxxxxxxQ", len(bpf) // 8, ctypes.addressof(buf))
    _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER,
           ctypes.cast(ctypes.c_char_p(prog), ctypes.c_void_p).value)


def _reseed():
    import random
    random.seed()
    np = sys.modules.get("numpy")
    if np is not None:
        np.random.seed()


def _warm_pages(sock):
    """Fault in what a run is likely to touch, a chunk at a time, until a
    script arrives: the copy-on-write faults are paid here, not on the
    request's clock."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    rd = ctypes.c_ubyte.from_address
    for i in range(0, len(WRITE_RANGES), TOUCH_CHUNK):
        if poller.poll(0):
            return
        for lo, hi in WRITE_RANGES[i:i + TOUCH_CHUNK]:
            _libc.madvise(lo, hi - lo, MADV_POPULATE_WRITE)
    for i in range(0, len(TOUCH_PAGES), TOUCH_CHUNK * 4):
        if poller.poll(0):
            return
        for p in TOUCH_PAGES[i:i + TOUCH_CHUNK * 4]:
            rd(p).value


def _slot(fds):
    sock_fd, out, err, res, status = fds
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.close(status)
    high = [os.dup(fd) for fd in (out, err, res, sock_fd)]
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    for i, fd in enumerate(high):
        os.dup2(fd, i + 1)
    os.closerange(5, 1 << 20)
    sock = socket.socket(fileno=4)
    if sock.recv(16) != b"g":
        os._exit(0)
    try:
        if CONFIG["idle"]:
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        _setup_fs()
        _lock_down()
        _reseed()
    except BaseException as e:  # noqa: BLE001 - reported, then gone
        sock.send(b"E" + f"{type(e).__name__}: {e}".encode(
            "utf-8", "replace")[:4000])
        os._exit(1)
    sock.send(b"R")
    gc.collect()
    _warm_pages(sock)
    msg, fds = _recv_fds(sock, 64, 2)
    if len(msg) != 9 or msg[:1] != b"J" or len(fds) != 2:
        os._exit(0)
    _run(sock, struct.unpack_from("<Q", msg, 1)[0], fds)


def _run(sock, cpu_ms, fds):
    import resource
    script, stdin = fds
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    soft = int(spent + (cpu_ms + 999) // 1000 + 1)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 1))
    os.dup2(stdin, 0)
    os.close(stdin)
    with open(script, "rb", closefd=True) as f:
        source = f.read()
    sock.close()
    os.set_inheritable(3, False)
    _runner["_CHANNEL"] = open(3, "wb", buffering=0, closefd=True)
    _runner["_RESULT_MAX"] = CONFIG["result_max"]
    sys.argv = ["script.py"]
    _runner["_main"](source)
    os._exit(0)


# ---- the zygote's loop ---------------------------------------------------

# unshare(CLONE_NEWPID) only sets the namespace of the next children, and
# only once: after each slot the zygote points it back at its own.
OWN_PIDNS = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)


def _spawn(slot_id, fds):
    if len(fds) != 5:
        for fd in fds:
            os.close(fd)
        return
    status = fds[4]
    init = -1
    try:
        _check(_libc.unshare(CLONE_NEWPID), "unshare the PID namespace")
        init = os.posix_spawn(f"/proc/self/fd/{CONFIG['init_fd']}",
                              ["pexos-init", "0"], {},
                              file_actions=[(os.POSIX_SPAWN_CLOSE, 0),
                                            (os.POSIX_SPAWN_CLOSE, 1),
                                            (os.POSIX_SPAWN_CLOSE, 2)])
        sys.stdout.flush()
        sys.stderr.flush()
        pid = _fork()
        if pid == 0:
            try:
                _slot(fds)
            finally:
                os._exit(127)
        _check(pid, "fork the slot's process")
    except (OSError, SetupError) as e:
        if init > 0:
            os.kill(init, signal.SIGKILL)
        _libc.setns(OWN_PIDNS, CLONE_NEWPID)
        for fd in fds:
            os.close(fd)
        CTL.send(b"F" + struct.pack("<I", slot_id) +
                 str(e).encode("utf-8", "replace")[:4000])
        return
    _check(_libc.setns(OWN_PIDNS, CLONE_NEWPID), "return to the zygote's "
           "PID namespace")
    for fd in fds[:4]:
        os.close(fd)
    STATUS[pid] = status
    pidfds = [os.pidfd_open(pid), os.pidfd_open(init)]
    try:
        socket.send_fds(CTL, [b"S" + struct.pack("<I", slot_id)], pidfds)
    finally:
        for fd in pidfds:
            os.close(fd)


def _reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        fd = STATUS.pop(pid, None)
        if fd is not None:
            try:
                os.write(fd, struct.pack("<i", status))
            except OSError:
                pass
            os.close(fd)


STATUS = {}


def _loop():
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    poller = select.poll()
    poller.register(CTL, select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    CTL.send(b"Y")
    while True:
        for fd, _ev in poller.poll():
            if fd == wake_r:
                try:
                    os.read(wake_r, 4096)
                except BlockingIOError:
                    pass
                continue
            try:
                msg, fds = _recv_fds(CTL, 64, 8, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            if not msg:
                os._exit(0)  # the library is gone
            if msg[:1] == b"S" and len(msg) == 5:
                _spawn(struct.unpack_from("<I", msg, 1)[0], fds)
            else:
                for fd in fds:
                    os.close(fd)
        _reap()


_loop()
