# SPDX-License-Identifier: MIT
# The zygote of the warm pool, embedded into libpexos and run inside a base
# sandbox as `python3 -I -B -S -c <this file>`, as the sandbox's setup user
# (uid 0 of its user namespace, capabilities kept, no seccomp filter). It
# never sees request data: it imports the preload list, warms it, freezes
# its heap, then forks one process per pool slot on the library's request.
#
# File descriptors at start (numbers and messages: proto.h):
#   0            empty;  1, 2  a log pipe the library keeps the tail of
#   ZY_FD_CTL    control socket (SOCK_SEQPACKET) to the library
#   ZY_FD_CONFIG configuration, read once and closed: JSON for this file, a
#                NUL byte, then the helper's binary configuration (with the
#                lockdown plan every script's process applies), passed on
#                unread
#   ZY_FD_INIT   pexos-init, a sealed memory file (used by the helper)
#
# The library's first message is the helper (helper.c); it applies each
# slot's lockdown and the run's CPU limit with the library's own code.
import array
import ctypes
import gc
import json
import os
import socket
import struct
import sys

# proto: begin (generated from lib/proto.h by lib/proto_py.py; do not edit)
FD_STDOUT = 1
FD_STDERR = 2
FD_RESULT = 3
ZY_FD_CTL = 3
ZY_FD_CONFIG = 4
ZY_FD_INIT = 9
MSG_HELPER = b"H"
MSG_UP = b"Y"
MSG_ERROR = b"E"
SLOT_FD_SOCK = 4
MSG_JOB = b"J"
KIND_BASE = 1
KIND_NUMPY = 2
KIND_PANDAS = 4
KIND_PYPLOT = 8
# proto: end


def _read_config():
    chunks = []
    while chunk := os.read(ZY_FD_CONFIG, 1 << 20):
        chunks.append(chunk)
    os.close(ZY_FD_CONFIG)
    text, _nul, helper = b"".join(chunks).partition(b"\0")
    return json.loads(text.decode()), helper


CONFIG, _HELPER_CONFIG = _read_config()
CTL = socket.socket(fileno=ZY_FD_CTL)
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


def _load_helper():
    """The helper the library sends first, as a shared object."""
    msg, fds = _recv_fds(CTL, 16, 1)
    if msg != MSG_HELPER or len(fds) != 1:
        CTL.send(MSG_ERROR + b"no helper from the library")
        os._exit(1)
    helper = ctypes.PyDLL(f"/proc/self/fd/{fds[0]}")
    helper.pexos_probe_report.restype = ctypes.c_int
    helper.pexos_probe_report.argtypes = [ctypes.c_int]
    helper.pexos_slot_wait.restype = ctypes.c_int
    helper.pexos_slot_wait.argtypes = [ctypes.c_int]
    return helper


_HELPER = _load_helper()


# ---- start-up: preload, warm, record the pages a run touches -------------

_runner = {"__name__": "_pexos_runner"}
exec(compile(CONFIG["runner"], "<pexos-runner>", "exec"), _runner)
_runner["_RESULT_MAX"] = CONFIG["result_max"]
# What the runner's _prepare() makes, a slot's helper makes before it
# waits (pexos_slot_wait), the probes' too.
_runner["_PREPARED"] = True
sys.argv = ["script.py"]  # as the runner's _main sets it again
if sys.flags.no_site:
    _runner["_site"]()
_runner["_home"]()  # matplotlib's prebuilt font list, if it is preloaded

# The warm-up scripts, by the module whose use they exercise (None: the
# runner's own path), and the page set (proto.h, KIND_*) a probe run of
# each gives.
_KIND = {None: KIND_BASE, "numpy": KIND_NUMPY, "pandas": KIND_PANDAS,
         "matplotlib.pyplot": KIND_PYPLOT}
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
    c = np.array([2, 4, 4, 5], dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std()),
            "sum": int(a.astype(int).sum()), "b": b[:3].tolist(),
            "dot": float(a[:100] @ b), "m": np.median(b),
            "n": int(c.size), "np": [np.mean(c), np.std(c), np.sum(c),
                                     np.max(c), np.min(c)]}
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
    "matplotlib.pyplot": """
import io
import matplotlib.pyplot as plt
def main():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [3, 1, 2], label="a")
    ax.bar([1, 2], [2, 1])
    ax.set_title("warm")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return len(buf.getvalue())
""",
}


def _warm_once():
    """Runs the runner's own path (compile, main, serialise) over a few
    common numpy, pandas and (when preloaded) matplotlib operations, never
    the user's code."""
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


def _writable():
    """[lo, hi) of this process's private writable mappings (as the
    helper's pexos_probe_report takes them)."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            perms = fields[1]
            name = fields[5] if len(fields) > 5 else ""
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if name in ("[vsyscall]", "[vvar]", "[vdso]", "[vvar_vclock]"):
                continue
            if perms[1] == "w" and perms[3] == "p":
                out.append((lo, hi))
    return out


def _present(maps):
    """Pages of `maps` that are in memory."""
    pages = []
    with open("/proc/self/pagemap", "rb") as pm:
        for lo, hi in maps:
            pm.seek(lo // PAGE * 8)
            data = pm.read((hi - lo) // PAGE * 8)
            for i, (v,) in enumerate(struct.iter_unpack("Q", data)):
                if v & PRESENT:
                    pages.append(lo + i * PAGE)
    return pages


PRESENT = 1 << 63


def _hand(src):
    """In the zygote, before its probes fork: what a slot is handed for
    a run of `src`, a job message with two memory files (script, stdin)
    queued on a socket pair. Returns (the library's end, the slot's end),
    descriptors. Made here, not in the probe, so that the probe writes
    only what a slot writes."""
    ours, slot = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    script = os.memfd_create("pexos-script", os.MFD_CLOEXEC)
    stdin = os.memfd_create("pexos-stdin", os.MFD_CLOEXEC)
    os.write(script, src.encode())
    os.lseek(script, 0, os.SEEK_SET)
    socket.send_fds(ours, [MSG_JOB + struct.pack("<QB", 30000, 0)],
                    [script, stdin])
    os.close(script)
    os.close(stdin)
    return ours.detach(), slot.detach()


def _probe(null, slot, report_fd):
    """Forks a probe child that rehearses a slot's run of what `slot` holds
    (_hand), from the reseed to the runner's exit (_rehearse); it reports
    the pages it wrote (now its own) and the file pages it read (the
    helper's pexos_probe_report) into `report_fd`. Returns its pid."""
    exit_now = os._exit

    def report(_status=0):
        try:
            _HELPER.pexos_probe_report(report_fd)
        finally:
            exit_now(0)

    pid = _fork()
    if pid == 0:
        try:
            # The runner ends the rehearsal with os._exit: report first.
            os._exit = report
            _rehearse(null, slot)
        finally:
            report()
    return pid


def _record_pages():
    """The pages a slot makes its own before it waits, and those it maps
    while it waits, by kind of run: a probe per warm-up script whose
    module is imported, all at once, forked from the state the slots are
    forked from (_serve calls this last, and allocates next to nothing
    after it: a slot's allocations then land where its probe's did; a
    hello run on a lean slot took 27 faults when the probes ran before the
    zygote's own last allocations, 14 now). A page this process writes
    while a probe runs is the probe's alone from then on, as if the probe
    had written it: it only forks and waits here, and a forked child
    merges the reports once every probe has ended (_merge). Returns the
    memory file that child wrote, for the helper
    (pexos_zygote_configure)."""
    runs = [(_KIND[m], src) for m, src in _WARM.items()
            if m is None or m in sys.modules]
    null = os.open("/dev/null", os.O_WRONLY | os.O_CLOEXEC)
    handed = [_hand(src) for _kind, src in runs]
    reports = [os.memfd_create("pexos-probe", os.MFD_CLOEXEC) for _ in runs]
    out = os.memfd_create("pexos-pages", os.MFD_CLOEXEC)
    pids = [_probe(null, slot, fd) for (_ours, slot), fd in
            zip(handed, reports)]
    for pid in pids:
        os.waitpid(pid, 0)
    pid = _fork()
    if pid == 0:
        status = 1
        try:
            _merge(runs, reports, out)
            status = 0
        except BaseException:  # noqa: BLE001 - into the zygote's log
            import traceback
            traceback.print_exc()
        finally:
            os._exit(status)
    if os.waitpid(pid, 0)[1] != 0:
        CTL.send(MSG_ERROR + b"the probes' page sets could not be merged "
                 b"(see the zygote's log)")
        os._exit(1)
    os.close(null)
    for fd in reports:
        os.close(fd)
    for ours, slot in handed:
        os.close(ours)
        os.close(slot)
    return out


def _merge(runs, reports, out):
    """In a child: the probes' reports merged into the page sets, written
    to `out` as pexos_zygote_configure() reads them: the counts of write
    ranges and read pages, then [lo, hi, kinds] ranges written and [page,
    kinds] pairs read, as little-endian 64-bit words; a page's kinds are
    the probes that touched it. Only pages the zygote holds count (`ours`,
    read first, before this child's own allocations)."""
    ours = set(_present(_writable()))
    written, read = {}, {}
    for (kind, _src), fd in zip(runs, reports):
        os.lseek(fd, 0, os.SEEK_SET)
        with open(fd, "rb", closefd=False) as f:
            data = f.read()
        if len(data) < 16:
            continue
        nw, nr = struct.unpack_from("<QQ", data)
        if len(data) != 16 + 8 * (nw + nr):
            continue
        pages = struct.unpack_from(f"<{nw + nr}Q", data, 16)
        for p in pages[:nw]:
            written[p] = written.get(p, 0) | kind
        for p in pages[nw:]:
            read[p] = read.get(p, 0) | kind
    # the runner's own path first, then by kind, up to the cap
    keep = sorted((p for p in written if p in ours),
                  key=lambda p: ((written[p] & -written[p]), p))
    keep = sorted(keep[:MAX_WRITE_PAGES])
    ranges = _ranges([(p, written[p]) for p in keep])
    words = array.array("Q", [len(ranges), len(read)])
    for r in ranges:
        words.extend(r)
    for p in sorted(read):
        words.extend((p, read[p]))
    data = memoryview(words.tobytes())
    while data:
        data = data[os.write(out, data):]


def _rehearse(null, slot):
    """In the probe child: what a slot does from its set-up on (_slot: the
    reseed, the helper's wait, which takes the job queued on `slot`; then
    _run and the runner). Output and the result channel (descriptor 3,
    the control socket in the zygote) go to `null`. (Without the set-up,
    the pages it writes were left to copy-on-write faults in every slot,
    each dearer than a page made the slot's own at once: hello at c=4
    took 315 faults a request, now 140.)"""
    for fd in (FD_STDOUT, FD_STDERR, FD_RESULT):
        os.dup2(null, fd)
    _reseed()
    script = _HELPER.pexos_slot_wait(slot)
    if script < 0:
        os._exit(1)
    _run(script)


def _bind():
    """Calls once the C functions of a run's path that the zygote has not
    called yet: the dynamic linker binds each at its first call, writing
    to pages every slot shares. (The helper is bound at load.)"""
    fd = os.dup(0)
    os.dup2(0, fd)
    os.set_inheritable(fd, False)
    os.close(fd)


def _ranges(pages):
    """[lo, hi, kinds] ranges of sorted (page, kinds) pairs."""
    out = []
    for p, kinds in pages:
        if out and out[-1][1] == p and out[-1][2] == kinds:
            out[-1][1] = p + PAGE
        else:
            out.append([p, p + PAGE, kinds])
    return out


# Modules of the runner's own path that it imports when first needed (the
# cold path pays for them only when it does): every run registers its
# source with linecache (which imports tokenize, a few milliseconds), a
# failing one formats its traceback, and every slot reseeds random
# (_reseed). Imported once here, not in each slot. (The lean zygote once
# left random to its slots, each reading random.py and bisect.py: hello
# at c=4 took 5.3 to 5.5 ms of the machine's CPU a request, 4.3 to 4.7
# with random here.)
_RUNNER_IMPORTS = ("linecache", "random", "traceback", "warnings")


def _start():
    try:
        for name in _RUNNER_IMPORTS + tuple(CONFIG["preload"]):
            __import__(name)
        _runner["_quiet_show"]()  # once here: the slots inherit the filter
        _warm_once()
    except BaseException as e:  # noqa: BLE001 - any failure is reported
        msg = f"preloading {CONFIG['preload']} failed: {type(e).__name__}: {e}"
        CTL.send(MSG_ERROR + msg.encode("utf-8", "replace")[:4000])
        os._exit(1)
    _bind()


# ---- a slot: one process, one run ----------------------------------------
#
# The zygote's loop and each slot's set-up are C (helper.c, loaded from the
# memory file the library sends first): Python code run in the zygote after
# the fork would write to pages every waiting slot shares, one copy-on-write
# fault each.

def _reseed():
    """random's instance (the one random.seed() seeds) and numpy's global
    RandomState: a whole MT19937 state from the kernel each. random's by
    its C method, as random.seed() ends: the Python around it (version
    checks, super()) made about 10 more pages every lean slot's own.
    numpy's: cheaper than np.random.seed(), which hashes the same."""
    _RANDOM_SEED(_RANDOM, None)
    if _RANDOM.gauss_next is not None:  # read first: a write copies a page
        _RANDOM.gauss_next = None
    np = sys.modules.get("numpy")
    if np is not None:
        key = np.frombuffer(os.urandom(624 * 4), dtype=np.uint32)
        np.random.set_state(("MT19937", key, 624))


def _slot():
    """In a new slot's process, locked down by the helper: reseed, then
    the helper's wait (pexos_slot_wait: what every run needs, ready, the
    warm-up, the job), run the one script it is handed."""
    try:
        _reseed()
    except BaseException as e:  # noqa: BLE001 - reported, then gone
        os.write(SLOT_FD_SOCK, MSG_ERROR + f"{type(e).__name__}: {e}".encode(
            "utf-8", "replace")[:4000])
        os._exit(1)
    script = _HELPER.pexos_slot_wait(SLOT_FD_SOCK)
    if script < 0:
        os._exit(0)
    _run(script)


def _run(script):
    """The script's run, once the helper has taken the job
    (pexos_slot_wait): its page sets, CPU limit and stdin are in place."""
    parts, n = [], os.fstat(script).st_size + 1
    while part := os.read(script, n):
        parts.append(part)
    os.close(script)
    source = b"".join(parts)
    _runner["_CHANNEL"] = open(FD_RESULT, "wb", buffering=0, closefd=True)
    _runner["_main"](source)
    os._exit(0)


# ---- start-up, then the zygote's loop -------------------------------------

_start()
import _random  # noqa: E402 - random's C part, imported with random by _start
import random  # noqa: E402

_RANDOM = random.seed.__self__
_RANDOM_SEED = _random.Random.seed
gc.collect()
gc.freeze()


def _serve():
    helper = _HELPER
    configure = helper.pexos_zygote_configure
    configure.restype = ctypes.c_int
    configure.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    serve = helper.pexos_zygote_serve
    serve.restype = ctypes.c_int
    serve.argtypes = []
    pages = _record_pages() if CONFIG["warm_pages"] else -1
    r = configure(_HELPER_CONFIG, len(_HELPER_CONFIG), pages)
    if r == -2:
        CTL.send(MSG_ERROR + b"cannot detach the zygote's /tmp, /dev/shm "
                 b"and /dev/pts")
        os._exit(1)
    if r != 0:
        CTL.send(MSG_ERROR + b"the library's configuration does not fit "
                 b"the helper it sent")
        os._exit(1)
    sys.stdout.flush()
    sys.stderr.flush()
    CTL.send(MSG_UP)
    if serve() == 0:
        _slot()
    os._exit(0)


_serve()
