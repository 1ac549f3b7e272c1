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
#   library -> zygote  b"H"      fds: the helper (helper.c), sent first
#                      b"S" id   fds: slot socket, stdout, stderr, result,
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
import resource
import socket
import struct
import sys

CONFIG = json.loads(os.read(4, 1 << 24).decode())
os.close(4)
CTL = socket.socket(fileno=3)
CTL.set_inheritable(False)

PAGE = os.sysconf("SC_PAGE_SIZE")
# Private memory a waiting slot may spend on pre-faulted pages.
MAX_WRITE_PAGES = (9 << 20) // PAGE
# fork() holding the GIL, for the probe: a plain copy of this
# single-threaded interpreter (os.fork's after-fork hooks fault in pages).
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
    """A probe child runs the warm-up, then rehearses a slot's run from the
    script's arrival to the runner's exit (_rehearse); the pages it wrote
    (now its own) and the file pages it read are the ones a slot faults in
    before it waits for a script: ([lo, hi) ranges written, pages read)."""
    r, w = os.pipe()
    pid = _fork()
    if pid == 0:
        exit_now = os._exit

        def report(_status=0):
            try:
                written = _scan(_maps(True), PRESENT | EXCLUSIVE)
                read = _scan(_maps(False), PRESENT)
                data = struct.pack(f"<QQ{len(written)}Q{len(read)}Q",
                                   len(written), len(read), *written, *read)
                with open(w, "wb") as f:
                    f.write(data)
            finally:
                exit_now(0)

        try:
            os.close(r)
            _warm_once()
            # The runner ends the rehearsal with os._exit: report first.
            os._exit = report
            _rehearse()
        finally:
            report()
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
    return _ranges(written), list(pages[nw:])


def _rehearse():
    """In the probe child: what a slot does with its script (_slot, _run,
    the runner), on the hello warm-up script handed over the same way, a
    socket message with two memory files. Output and the result channel
    (descriptor 3, the control socket in the zygote) go nowhere."""
    null = os.open("/dev/null", os.O_WRONLY)
    for fd in (1, 2, 3):
        os.dup2(null, fd)
    os.close(null)
    ours, slot_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    script = os.memfd_create("pexos-script", os.MFD_CLOEXEC)
    stdin = os.memfd_create("pexos-stdin", os.MFD_CLOEXEC)
    os.write(script, _WARM[None].encode())
    os.lseek(script, 0, os.SEEK_SET)
    socket.send_fds(ours, [b"J" + struct.pack("<Q", 30000)], [script, stdin])
    os.close(script)
    os.close(stdin)
    msg, fds = _recv_fds(slot_end, 64, 2)
    _run(slot_end, struct.unpack_from("<Q", msg, 1)[0], fds)


def _bind():
    """Calls once the C functions of a run's path that the zygote has not
    called yet: the dynamic linker binds each at its first call, writing
    to pages every slot shares."""
    resource.getrusage(resource.RUSAGE_SELF)
    resource.setrlimit(resource.RLIMIT_CPU,
                       resource.getrlimit(resource.RLIMIT_CPU))
    fd = os.dup(0)
    os.dup2(0, fd)
    os.set_inheritable(fd, False)
    os.close(fd)


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
    _bind()
    gc.collect()
    gc.freeze()
    return _record_pages() if CONFIG["warm_pages"] else ([], [])


# ---- a slot: one process, one run ----------------------------------------
#
# The zygote's loop and each slot's set-up are C (helper.c, loaded from the
# memory file the library sends first): Python code run in the zygote after
# the fork would write to pages every waiting slot shares, one copy-on-write
# fault each.

class _Config(ctypes.Structure):
    _fields_ = [("ctl", ctypes.c_int), ("init_fd", ctypes.c_int),
                ("own_pidns", ctypes.c_int), ("uid", ctypes.c_int),
                ("last_cap", ctypes.c_int), ("idle", ctypes.c_int),
                ("tmp_mb", ctypes.c_long), ("n_rlimits", ctypes.c_int),
                ("rl_resource", ctypes.c_int * 8),
                ("rl_soft", ctypes.c_longlong * 8),
                ("rl_hard", ctypes.c_longlong * 8),
                ("bpf", ctypes.c_void_p), ("bpf_len", ctypes.c_int),
                ("write", ctypes.c_void_p), ("n_write", ctypes.c_size_t)]


def _helper_config():
    c = _Config()
    c.ctl = CTL.fileno()
    c.init_fd = CONFIG["init_fd"]
    c.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    c.uid = CONFIG["uid"]
    c.last_cap = CONFIG["last_cap"]
    c.idle = 1 if CONFIG["idle"] else 0
    c.tmp_mb = CONFIG["tmp_mb"]
    limits = CONFIG["rlimits"][:8]
    c.n_rlimits = len(limits)
    for i, (name, soft, hard) in enumerate(limits):
        c.rl_resource[i] = getattr(resource, name)
        c.rl_soft[i], c.rl_hard[i] = soft, hard
    bpf = bytes.fromhex(CONFIG["bpf"])
    keep = ctypes.create_string_buffer(bpf, len(bpf) or 1)
    c.bpf = ctypes.addressof(keep)
    c.bpf_len = len(bpf) // 8
    if _WARM_ARGS is not None:
        c.write = ctypes.addressof(_WARM_ARGS[0])
        c.n_write = _WARM_ARGS[1].value
    return c, keep


def _u64(values):
    return (ctypes.c_uint64 * max(len(values), 1))(*values)


def _warm_args():
    """pexos_slot_warm()'s arguments but the socket, as C arrays."""
    if not WRITE_RANGES and not READ_PAGES:
        return None
    flat = [x for r in WRITE_RANGES for x in r]
    return (_u64(flat), ctypes.c_size_t(len(WRITE_RANGES)),
            _u64(READ_PAGES), ctypes.c_size_t(len(READ_PAGES)))


_helper_warm = None
_WARM_ARGS = None


def _reseed():
    """random, and numpy's global RandomState: a whole MT19937 state from
    the kernel (cheaper than np.random.seed(), which hashes the same)."""
    import random
    random.seed()
    np = sys.modules.get("numpy")
    if np is not None:
        key = np.frombuffer(os.urandom(624 * 4), dtype=np.uint32)
        np.random.set_state(("MT19937", key, 624))


def _warm_pages(sock):
    """Map for user space what a run is likely to touch, until a script
    arrives: the cost is paid here, not on the request's clock (helper.c;
    the pages a run is likely to write are the slot's own already)."""
    if _WARM_ARGS is not None:
        _helper_warm(*_WARM_ARGS, sock.fileno())


def _slot():
    """In a new slot's process, locked down by the helper: reseed, say
    ready, warm up while waiting, run the one script it is handed."""
    sock = socket.socket(fileno=4)
    try:
        _reseed()
    except BaseException as e:  # noqa: BLE001 - reported, then gone
        sock.send(b"E" + f"{type(e).__name__}: {e}".encode(
            "utf-8", "replace")[:4000])
        os._exit(1)
    sock.send(b"R")
    _warm_pages(sock)
    msg, fds = _recv_fds(sock, 64, 2)
    if len(msg) != 9 or msg[:1] != b"J" or len(fds) != 2:
        os._exit(0)
    _run(sock, struct.unpack_from("<Q", msg, 1)[0], fds)


def _run(sock, cpu_ms, fds):
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


# ---- start-up, then the zygote's loop -------------------------------------

WRITE_RANGES, READ_PAGES = _start()
gc.collect()
gc.freeze()


def _serve():
    msg, fds = _recv_fds(CTL, 16, 1)
    if msg != b"H" or len(fds) != 1:
        CTL.send(b"Eno helper from the library")
        os._exit(1)
    helper = ctypes.PyDLL(f"/proc/self/fd/{fds[0]}")
    serve = helper.pexos_zygote_serve
    serve.restype = ctypes.c_int
    serve.argtypes = [ctypes.POINTER(_Config)]
    global _helper_warm, _WARM_ARGS
    _helper_warm = helper.pexos_slot_warm
    _helper_warm.restype = ctypes.c_int
    u64p = ctypes.POINTER(ctypes.c_uint64)
    _helper_warm.argtypes = [u64p, ctypes.c_size_t, u64p, ctypes.c_size_t,
                             ctypes.c_int]
    _WARM_ARGS = _warm_args()
    config, keep = _helper_config()
    sys.stdout.flush()
    sys.stderr.flush()
    CTL.send(b"Y")
    if serve(ctypes.byref(config)) == 0:
        del keep
        _slot()
    os._exit(0)


_serve()
