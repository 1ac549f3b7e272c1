"""What the fault-injection tests share: a pexos-httpd on 127.0.0.1 (the
Daemon of tests/harness.py), HTTP helpers, the counts that must come back
after a fault (the daemon's descriptors, its descendant processes, pexos's
cgroups, mounts, temporary files) and TAP output.

Each tests/fault/test_*.py injects one fault into a real daemon and checks
that it keeps serving or fails closed with an exact error, that answers
resume once the fault ends, and that nothing leaks.

Standard library only: run with Debian's /usr/bin/python3."""
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (Daemon, DaemonFailed, binary_missing, clip, in_thread,  # noqa: E402,F401
                     remove_cgroup_tree, request)
from soak import daemon as soakd  # noqa: E402

HELLO = 'def main():\n    return {"message": "Hello, World!"}\n'
HELLO_RESULT = {"message": "Hello, World!"}
LOOP = "def main():\n    while True:\n        pass\n"


def memory_bomb(mb):
    """A script that touches `mb` MiB in 16 MiB pieces."""
    return ("def main():\n    a = []\n    for _ in range(%d):\n"
            "        a.append(bytearray(16 << 20))\n    return len(a)\n" % (mb // 16))
HTTP_TIMEOUT = 60
START_TIMEOUT = 60


# ------------------------------------------------------------------ TAP


class Tap:
    """One TAP stream: ok/not ok lines, notes, the plan at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, cond, description, *details):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {description}")
        else:
            self.failed += 1
            print(f"not ok {self.n} - {description}")
            for d in details:
                for line in str(d).splitlines() or [""]:
                    print(f"#   {line}")
        sys.stdout.flush()
        return bool(cond)

    def note(self, text):
        for line in str(text).splitlines():
            print(f"# {line}")
        sys.stdout.flush()

    def done(self):
        print(f"1..{self.n}")
        print(f"# {self.n - self.failed} passed, {self.failed} failed")
        return 1 if self.failed else 0


def main(body):
    """Runs body(tap, exe) with the daemon given as argv[1]; every daemon
    started is killed at the end, whatever happened."""
    exe = sys.argv[1] if len(sys.argv) > 1 else ""
    missing = binary_missing(exe)
    if missing is not None:
        return missing
    tap = Tap()
    try:
        body(tap, exe)
        for d in STARTED:
            stop_cleanly(tap, d)
    except DaemonFailed as e:
        tap.check(False, "the daemon starts", e)
    except Exception as e:  # a harness bug must fail, never pass
        tap.check(False, "the test ran to its end",
                  f"{type(e).__name__}: {e}")
    finally:
        for d in STARTED:
            d.kill()
    return tap.done()


def stop_cleanly(tap, d):
    """SIGTERM: the daemon must stop with status 0; under ASan its leak
    checker runs then, and a leak makes the status non-zero."""
    if not d.alive():
        return
    sanitized = asan(d)
    d.stop()
    rc = d.proc.returncode
    tail = [line for line in d.snapshot()[-400:] if "Sanitizer" in line
            or "ERROR" in line and "severity" not in line]
    tap.check(rc == 0 and not tail, f"{d.name}: stops on SIGTERM with status "
              f"0{' (LeakSanitizer found no leak)' if sanitized else ''}",
              f"status {rc}", *tail[:10])


def asan(d):
    """Is the daemon built with AddressSanitizer (its RSS then holds the
    quarantine of freed memory)?"""
    try:
        with open(f"/proc/{daemon_pid(d)}/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


# ------------------------------------------------------------------ daemon

STARTED = []


def start(exe, name, *args, wrapper=(), env=None):
    d = Daemon(exe, name, args, env=env, wrapper=wrapper,
               start_timeout=START_TIMEOUT)
    STARTED.append(d)
    return d.start()


def daemon_pid(d):
    """The pexos-httpd process itself, also behind a wrapper (unshare, sh):
    the first process named pexos-httpd at or below the one started."""
    for pid in [d.proc.pid, *descendants(d.proc.pid)]:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() == "pexos-httpd":
                    return pid
        except OSError:
            pass
    return d.proc.pid


def execute(port, script, http_timeout=HTTP_TIMEOUT, **fields):
    """POST /execute of `script` with the request's other `fields`."""
    body = json.dumps({"script": script, **fields})
    return request(port, "POST", "/execute", body=body,
                   headers={"Content-Type": "application/json"},
                   timeout=http_timeout)


def kind(r):
    """'ok', the response's type, or what went wrong at the HTTP level."""
    try:
        obj = r.json()
    except ValueError:
        return f"not JSON: {clip(r.body)}"
    if r.status == 200 and obj.get("result") is not None:
        return "ok"
    return obj.get("type", f"HTTP {r.status}")


def try_execute(port, script, http_timeout=HTTP_TIMEOUT, **fields):
    """(kind, response or None, seconds); a connection error is its kind."""
    t0 = time.monotonic()
    try:
        r = execute(port, script, http_timeout, **fields)
        return kind(r), r, time.monotonic() - t0
    except (OSError, ValueError) as e:
        return f"{type(e).__name__}: {e}", None, time.monotonic() - t0


def health(port, timeout=10):
    return request(port, "GET", "/health", timeout=timeout).json()


def metrics(port):
    text = request(port, "GET", "/metrics", timeout=10).body.decode()
    values = {}
    for line in text.splitlines():
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values


def wait_for(pred, timeout, step=0.05):
    """Polls pred() until it is true or `timeout` passed; returns its last
    value (exceptions count as false)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
        except Exception:
            v = None
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def pool_full(port):
    """The pool's state when it is up with every slot ready, else None."""
    h = health(port, timeout=5)
    p = h.get("pool") or {}
    if p.get("state") == "up" and p.get("ready") == p.get("size") \
            and h.get("busy") == 0 and h.get("queue") == 0:
        return p
    return None


def settled(port, timeout=30):
    """Waits until the daemon is idle with a full pool (or no pool)."""
    def idle():
        h = health(port, timeout=5)
        p = h.get("pool") or {}
        if h.get("busy") or h.get("queue"):
            return None
        if p.get("state") == "off" or p.get("size", 0) == 0:
            return h
        return h if p.get("state") == "up" and p.get("ready") == p.get("size") else None
    return wait_for(idle, timeout, 0.1)


# ------------------------------------------------------------------ counts


def proc_table():
    """{pid: (ppid, name)} of every process, from /proc/PID/status."""
    table = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        fields = {}
        try:
            with open(f"/proc/{entry}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("Name", "PPid"):
                        fields[key] = value.strip()
        except OSError:
            continue
        if "PPid" in fields:
            table[int(entry)] = (int(fields["PPid"]), fields.get("Name", ""))
    return table


def descendants(pid, table=None):
    table = table or proc_table()
    children = {}
    for p, (pp, _) in table.items():
        children.setdefault(pp, []).append(p)
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def zygote_pid(dpid):
    """A live zygote of daemon `dpid` (the first found), or None."""
    found = zygote_pids(dpid)
    return found[0] if found else None


def zygote_pids(dpid):
    """The live zygotes of daemon `dpid` (one per pool profile): below the
    daemon, running zygote.py, pid 2 of the one PID namespace below the
    host's (a slot, forked from one, is pid 2 one level further down)."""
    found = []
    for p in descendants(dpid):
        if b"The zygote of the warm pool" not in cmdline(p):
            continue
        try:
            with open(f"/proc/{p}/status") as f:
                st = dict(line.rstrip("\n").split(":\t", 1) for line in f
                          if ":\t" in line)
        except OSError:
            continue
        if st.get("NSpid", "").split()[1:] == ["2"] and \
                not st.get("State", "").startswith("Z"):
            found.append(p)
    return found


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read(4096)
    except OSError:
        return b""


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def own_cgroups(pid):
    """{controller: directory} of the cgroups `pid` is in, below which
    pexos keeps its own (<directory>/pexos): the soak's reading of them,
    v1 (memory, pids, cpu, cpuacct) or v2 ("unified")."""
    return {c: os.path.dirname(b) for c, b in soakd.cgroup_bases(pid).items()}


def pexos_cgroups(dpid, dirs=None):
    """Sorted list of pexos's cgroups of daemon `dpid`: the run-DPID-N and
    zygote-DPID-N directories below <own cgroup>/pexos, per controller."""
    bases = {c: os.path.join(d, "pexos")
             for c, d in (dirs or own_cgroups(dpid)).items()}
    mine, _ = soakd.cgroup_dirs(dpid, bases)
    return sorted(f"{c}:{n}" for c, names in mine.items() for n in names)


def mounts(pid="self"):
    """The mounts of `pid`'s mount namespace that pexos could have left:
    every one when that namespace is the daemon's own (a wrapper made it),
    else (the host's, shared with other programs) those naming pexos. A
    sandbox's mounts live in namespaces of their own."""
    try:
        with open(f"/proc/{pid}/mountinfo") as f:
            lines = f.read().splitlines()
        own = os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    except OSError:
        return -1
    if own:
        return len(lines)
    return sorted(line.split(" ", 4)[4] for line in lines if "pexos" in line)


# Made by test and benchmark tools (tests/*), not by pexos, on a host
# where others may run them meanwhile.
TOOL_PREFIXES = ("pexos-test", "pexos-soak", "pexos-compat", "pexos-bench")


def tmp_files():
    """Temporary files pexos could leave on the host: its font list's
    build directories (/var/cache/pexos/build.*), and anything named
    pexos* in /tmp, /dev/shm and /run but for the test tools' own."""
    names = []
    for d in ("/tmp", "/dev/shm", "/run"):
        try:
            names += [f"{d}/{n}" for n in os.listdir(d) if n.startswith("pexos")
                      and not n.startswith(TOOL_PREFIXES)]
        except OSError:
            pass
    try:
        names += [f"/var/cache/pexos/{n}" for n in os.listdir("/var/cache/pexos")
                  if n.startswith("build.")]
    except OSError:
        pass
    return sorted(names)


class Counts:
    """What must come back after a fault, for one daemon."""

    def __init__(self, d, dpid=None):
        self.d = d
        self.pid = dpid or daemon_pid(d)
        self.dirs = own_cgroups(self.pid)

    def take(self):
        # the least of three: a connection just answered may not be closed
        fds = []
        for _ in range(3):
            fds.append(fd_count(self.pid))
            time.sleep(0.05)
        return {
            "fds": min(fds),
            "processes": len(descendants(self.pid)),
            "cgroups": len(pexos_cgroups(self.pid, self.dirs)),
            "mounts (host)": mounts(),
            "mounts (daemon)": mounts(self.pid),
            "pexos temp files": tmp_files(),
        }

    def back_to(self, before, timeout=20):
        """Waits until no count is above `before` and the lists are the
        same (the pool full and idle first); returns (ok, after). A count
        may be lower: a connection of the client's may still have been
        open when `before` was taken."""
        settled(self.d.port, timeout)
        last = [None]

        def same():
            last[0] = self.take()
            return not over(before, last[0])
        ok = wait_for(same, timeout, 0.2)
        return bool(ok), last[0]


def over(before, after):
    """The counts of `after` above `before`, and the lists that differ."""
    return {k: (before[k], after[k]) for k in before
            if (after[k] > before[k] if isinstance(before[k], int)
                else after[k] != before[k])}


def check_no_leak(tap, counts, before, what, timeout=20):
    ok, after = counts.back_to(before, timeout)
    diff = over(before, after)
    return tap.check(ok, f"{what}: nothing leaked (fds, processes, cgroups, "
                     "mounts, temp files as before)",
                     f"before -> after: {diff}")


def raw_request(port, body, read=True):
    """A POST /execute on a socket of our own; returns the socket."""
    s = socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT)
    data = body.encode() if isinstance(body, str) else body
    s.sendall(b"POST /execute HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(data) + data)
    return s


class Load:
    """Clients sending `script` in a loop until stopped; every answer's
    kind and latency is kept."""

    def __init__(self, port, script, clients=2, timeout=HTTP_TIMEOUT, **fields):
        self.port, self.script, self.fields = port, script, fields
        self.timeout = timeout
        self.results = []
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(clients)]

    def _run(self):
        while not self.stop_flag.is_set():
            k, r, secs = try_execute(self.port, self.script,
                                     self.timeout, **self.fields)
            with self.lock:
                self.results.append((k, secs, r))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(self.timeout + 5)
        return [t for t in self.threads if t.is_alive()]

    def kinds(self):
        with self.lock:
            out = {}
            for k, _, _ in self.results:
                out[k] = out.get(k, 0) + 1
            return out
