"""A pexos-httpd under test, seen from the host: start and stop it, wait
for its warm pool, count what it holds (processes, cgroups, mounts, temp
files, fds) and sample its RSS and fd count while it works.

Used by tests/soak/soak.py; made to be imported by other tests that drive a
daemon through trouble and then check that it is whole again:

    sys.path.insert(0, "<repo>/tests/soak")
    import daemon as soakd
    d = soakd.start(exe, workers=2)
    soakd.wait_pool_ready(d)
    before = soakd.stable_count(d.proc.pid)
    with soakd.Sampler(d.proc.pid, port=d.port) as s:
        ...                                   # the load or the fault
    soakd.settle(d)
    after = soakd.stable_count(d.proc.pid)
    problems = soakd.compare(before, after) + s.flat_problems(soakd.FLAT_MARGINS)
    rc, secs = soakd.stop(d)

Standard library only (Debian's /usr/bin/python3). Every count reads
/proc and /sys directly: no ps, no pgrep."""
import errno
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Daemon, DaemonFailed, request, strict_loads  # noqa: E402

# The host uids of every sandbox (uid_base and uid_base + 1, lib/api.c):
# whatever the host holds under them after a run is a leak.
UID_BASE = 2000000000
# Where pexos could leave files on the host: the run's /tmp and /dev/shm
# are tmpfs of its own mount namespace, scripts and stdin are memfds, and
# the only host path the library writes is the font cache (fontcache.c),
# built in a build.XXXXXX directory next to it and renamed into place: a
# build.* left there is a leak (the cache itself may be rebuilt by any
# pexos program of the host, so its times are not compared).
TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run")
FONT_CACHE_PARENT = "/var/cache/pexos"
# Where runner.py puts a run's script, in the run's own /tmp. The host's
# can hold one too (unit/runner runs runner.py without a sandbox): it
# must never hold a script the soak sent (host_script()).
RUN_SCRIPT = "/tmp/.pexos/script.py"


# ------------------------------------------------------------ the daemon


def start(exe, workers=2, args=(), name="soak", start_timeout=120):
    """A pexos-httpd on 127.0.0.1, a free port (--port 0, read from its
    first log line); its stderr is kept line by line with the time each
    came in (d.lines, d.times)."""
    d = Daemon(exe, name, ["--workers", str(workers), *args],
               start_timeout=start_timeout)
    return d.start()


def health(port, timeout=5):
    r = request(port, "GET", "/health", timeout=timeout)
    if r.status != 200:
        raise DaemonFailed(f"/health answered {r.status}: {r.body[:300]!r}")
    return strict_loads(r.body.decode("utf-8"))


def pool_ready(h):
    """True when nothing runs or waits and every warm slot is ready."""
    p = h.get("pool") or {}
    idle = h.get("busy") == 0 and h.get("queue") == 0
    if p.get("state") == "off":
        return idle
    return (idle and p.get("state") == "up" and p.get("starting") == 0
            and p.get("in_use") == 0 and p.get("ready") == p.get("size"))


def wait_pool_ready(d, timeout=120, unreachable=10):
    """Polls GET /health until pool_ready; returns the last health object.
    Raises DaemonFailed after `timeout` s (with the last answer), or after
    `unreachable` s in which no connection got an answer."""
    deadline = time.monotonic() + timeout
    last, since = None, None
    while time.monotonic() < deadline:
        try:
            last = health(d.port)
            since = None
            if pool_ready(last):
                return last
        except (OSError, ValueError, DaemonFailed) as e:
            last = f"{type(e).__name__}: {e}"
            if isinstance(e, OSError):
                since = since or time.monotonic()
                if time.monotonic() - since > unreachable:
                    break
        if not d.alive():
            raise DaemonFailed(f"the daemon exited ({d.proc.returncode})")
        time.sleep(0.25)
    raise DaemonFailed(f"pool not ready: {str(last)[:500]}")


def settle(d, idle=3.0, timeout=120):
    """After a load: the pool ready, `idle` s without a request, and the
    pool ready again (a slot retired late is refilled)."""
    wait_pool_ready(d, timeout)
    time.sleep(idle)
    return wait_pool_ready(d, timeout)


def stop(d, grace=10):
    """SIGTERM, then wait for the exit up to grace + 5 s (the daemon's own
    grace, default 10 s, plus its teardown). Returns (exit status or None
    if it had to be killed, seconds it took)."""
    t0 = time.monotonic()
    if not d.alive():
        return d.proc.returncode, 0.0
    d.signal(15)
    rc = d.wait(grace + 5)
    if rc is None:
        d.kill()
    return rc, time.monotonic() - t0


# ------------------------------------------------------------- processes


def _stat(pid):
    """(ppid, comm) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    # comm is in parentheses and may itself hold ") ".
    close = data.rfind(")")
    return int(data[close + 2:].split()[1]), data[data.find("(") + 1:close]


def host_processes():
    """{pid: (ppid, comm)} of every process of the host."""
    procs = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = _stat(int(name))
            if st:
                procs[int(name)] = st
    return procs


def descendants(pid, procs=None):
    """Pids whose ancestry includes `pid` (not `pid` itself)."""
    procs = procs if procs is not None else host_processes()
    children = {}
    for p, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(p)
    out, todo = [], list(children.get(pid, ()))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return sorted(out)


def find_comm(comm):
    """Pids of host processes named `comm` (/proc/PID/comm)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().rstrip("\n") == comm:
                    found.append(int(name))
        except OSError:
            pass
    return found


def _listed(path):
    """How many entries a /proc directory has; None once it is gone."""
    try:
        return len(os.listdir(path))
    except OSError:
        return None


def fd_count(pid):
    return _listed(f"/proc/{pid}/fd")


def fd_list(pid):
    """{fd: target} of a process (what /proc/PID/fd links to)."""
    out = {}
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for n in names:
        try:
            out[int(n)] = os.readlink(f"/proc/{pid}/fd/{n}")
        except OSError:
            pass
    return out


def status_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def thread_count(pid):
    return _listed(f"/proc/{pid}/task")


def mounts(path):
    """Sorted "mount point fstype source" of each line of a mountinfo."""
    out = []
    try:
        with open(path) as f:
            for line in f:
                left, right = line.split(" - ", 1)
                r = right.split()
                out.append(f"{left.split()[4]} {r[0]} {r[1]}")
    except OSError:
        pass
    return sorted(out)


# --------------------------------------------------------------- cgroups


def cgroup_bases(pid):
    """The directories pexos keeps its cgroups in for the daemon `pid`:
    <the daemon's own cgroup>/pexos, per controller on v1 (memory, pids,
    cpu, cpuacct), the unified one on v2 (lib/cgroup.c). Read from the
    daemon's /proc/PID/cgroup and the host's mount table."""
    own = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            # v2: pexos may have moved itself to a leaf of its cgroup to
            # delegate controllers (cgroup.c, move_out_of); the runs are
            # still under <its cgroup>/pexos.
            if not ctrls and path.endswith("/pexos-supervisor"):
                path = path[:-len("/pexos-supervisor")] or "/"
            for c in (ctrls.split(",") if ctrls else [""]):
                own[c] = path
    bases = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields = left.split()
            fstype, _, supers = right.split()[:3]
            root, point = fields[3], fields[4]
            if fstype == "cgroup2":
                names = [""]
            elif fstype == "cgroup":
                names = [c for c in supers.split(",")
                         if c in ("memory", "pids", "cpu", "cpuacct")]
            else:
                continue
            for c in names:
                if c not in own or c in bases:
                    continue
                rel = own[c]
                rroot = root.rstrip("/")
                if not (rel == rroot or rel.startswith(rroot + "/")):
                    continue
                base = os.path.join(point + rel[len(rroot):], "pexos")
                bases[c or "unified"] = os.path.normpath(base)
    # v1 and v2 both mounted (a hybrid host): pexos uses v1 when
    # /sys/fs/cgroup is not itself cgroup2.
    if "memory" in bases:
        bases.pop("unified", None)
    return bases


def cgroup_dirs(pid, bases=None):
    """{controller: sorted names} of the cgroups below each base that
    belong to the daemon `pid` (run-PID-N, zygote-PID-N), and under the
    key "all" the count of every cgroup below the bases (other daemons of
    the host included)."""
    bases = bases if bases is not None else cgroup_bases(pid)
    mine, total = {}, 0
    pat = re.compile(rf"^(run|zygote)-{pid}-\d+$")
    for c, base in bases.items():
        names = []
        for d, subdirs, _ in os.walk(base):
            total += len(subdirs)
            names += [os.path.relpath(os.path.join(d, s), base)
                      for s in subdirs if pat.match(s)]
        mine[c] = sorted(names)
    return mine, total


# ------------------------------------------------------------ temp files


def _entries(top, depth):
    out = {}
    try:
        with os.scandir(top) as it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                out[e.path] = (st.st_uid, st.st_mtime_ns)
                if depth > 1 and e.is_dir(follow_symlinks=False):
                    out.update(_entries(e.path, depth - 1))
    except OSError:
        pass
    return out


def host_script():
    """The bytes of RUN_SCRIPT on the host, or None."""
    try:
        with open(RUN_SCRIPT, "rb") as f:
            return f.read()
    except OSError:
        return None


def temp_files(uid_base=UID_BASE):
    """What pexos could have left on the host: {"sandbox-owned": paths
    owned by a sandbox uid in TEMP_DIRS or the font cache's directory,
    "leftovers": build.* directories of the font cache, "names": every
    entry of TEMP_DIRS (two levels; informational, other users of the host
    write there)}."""
    names = {}
    for top in TEMP_DIRS:
        names.update(_entries(top, 2))
    cache = _entries(FONT_CACHE_PARENT, 3)
    owned = sorted(p for p, (uid, _) in {**names, **cache}.items()
                   if uid_base <= uid <= uid_base + 1)
    leftovers = sorted(p for p in cache
                       if os.path.basename(p).startswith("build."))
    return {"sandbox-owned": owned, "leftovers": leftovers, "names": sorted(names)}


# ------------------------------------------------------------ the census


# Resources that must be equal before and after; the others are shown.
CHECKED = ("daemon descendants", "daemon threads", "daemon fds",
           "descendant fds", "cgroups (daemon's)", "host mounts",
           "daemon mounts", "descendant mounts", "temp files (sandbox-owned)",
           "font cache build dirs")
# Compared as sets: a new entry is a leak; one gone is shown only, since
# the host is shared and pexos never unmounts or removes what it did not
# make (another user of the host did).
AS_SETS = ("host mounts", "daemon mounts")


def count(pid, uid_base=UID_BASE):
    """One census of what the daemon `pid` holds, in the host's view and
    its own: {"counts": {name: number}, "details": {name: list}}."""
    procs = host_processes()
    desc = descendants(pid, procs)
    desc_fds = {p: fd_count(p) for p in desc}
    mine, all_cg = cgroup_dirs(pid)
    temp = temp_files(uid_base)
    host_m, daemon_m = mounts("/proc/self/mountinfo"), mounts(f"/proc/{pid}/mountinfo")
    counts = {
        "daemon descendants": len(desc),
        "host processes (all)": len(procs),
        "daemon threads": thread_count(pid),
        "daemon fds": fd_count(pid),
        "descendant fds": sum(n or 0 for n in desc_fds.values()),
        "cgroups (daemon's)": sum(len(v) for v in mine.values()),
        "cgroups (all pexos)": all_cg,
        "host mounts": len(host_m),
        "daemon mounts": len(daemon_m),
        # Each warm slot and the zygote have mount namespaces of their own:
        # the sum of their mount tables must come back too.
        "descendant mounts": sum(len(mounts(f"/proc/{p}/mountinfo")) for p in desc),
        "temp files (sandbox-owned)": len(temp["sandbox-owned"]),
        "font cache build dirs": len(temp["leftovers"]),
        "daemon RSS KiB": status_kb(pid),
    }
    details = {
        "daemon descendants": [f"{p} {procs[p][1]} (ppid {procs[p][0]}, "
                               f"{desc_fds[p]} fds)" for p in desc if p in procs],
        "daemon fds": [f"{n} -> {t}" for n, t in sorted(fd_list(pid).items())],
        "cgroups (daemon's)": [f"{c}: {n}" for c, names in sorted(mine.items())
                               for n in names],
        "temp files (sandbox-owned)": temp["sandbox-owned"],
        "font cache build dirs": temp["leftovers"],
        "temp names": temp["names"],
        "host mounts": host_m,
        "daemon mounts": daemon_m,
    }
    return {"counts": counts, "details": details, "time": time.time()}


def stable_count(pid, tries=10, pause=0.5, uid_base=UID_BASE):
    """count(), repeated `pause` s apart until two in a row agree on every
    checked resource (a connection just answered, such as the last
    /health poll, is still closing for a moment); the last one taken."""
    prev = count(pid, uid_base)
    for _ in range(tries):
        time.sleep(pause)
        cur = count(pid, uid_base)
        if all(cur["counts"][k] == prev["counts"][k] for k in CHECKED):
            return cur
        prev = cur
    return prev


def compare(before, after, checked=CHECKED):
    """Problems (strings) where a checked count or its detail differs."""
    problems = []
    for name in checked:
        b, a = before["counts"].get(name), after["counts"].get(name)
        if name in AS_SETS:
            new = sorted(set(after["details"][name]) - set(before["details"][name]))
            if new:
                problems.append(f"{name}: {len(new)} new: {new[:5]}")
        elif b != a:
            problems.append(f"{name}: {b} before, {a} after")
        elif name in ("font cache build dirs", "temp files (sandbox-owned)"):
            # The same number of different files is still a change.
            db, da = before["details"][name], after["details"][name]
            if db != da:
                problems.append(f"{name}: changed: {sorted(set(da) - set(db))[:5]}")
    return problems


def new_temp_names(before, after):
    """Entries of TEMP_DIRS that appeared during the run (informational:
    the host is shared)."""
    return sorted(set(after["details"]["temp names"]) -
                  set(before["details"]["temp names"]))


def leak_table(before, after, checked=CHECKED):
    rows = [f"{'resource':30} {'before':>9} {'after':>9}  "]
    for name, b in before["counts"].items():
        a = after["counts"].get(name)
        if name in AS_SETS:
            new = set(after["details"][name]) - set(before["details"][name])
            mark = "CHANGED" if new else "ok" if a == b else "ok (fewer: another user of the host)"
        else:
            mark = "" if name not in checked else "ok" if a == b else "CHANGED"
        rows.append(f"{name:30} {b!s:>9} {a!s:>9}  {mark or 'info'}")
    return "\n".join(rows)


# --------------------------------------------------------------- sampler


# How far the last quarter's peak may rise above the first quarter's.
# Measured on the 2-core Debian 12 VM of README "Soak", --workers 2: with
# 16 clients the daemon's fd count moves between 43 (idle, warm pool of 4)
# and 72 (connections, and each run's pipes and pidfds); the peaks of the
# first and last quarters were 72 and 65 over 10 minutes, 65 and 63 over
# one, 59 and 55 at 4 clients. The listener loss of issue 18 took the
# count from 15 to 45. RSS (normal build) rises from 6 to about 11.5 MiB
# in the first seconds (glibc's arenas of the threads) and then stays:
# quarters' peaks 11.80 -> 11.86 MiB over 10 minutes; in runs of 20-60 s,
# whose first quarter is still warming up, up to +3 MiB (fds +6). 8 MiB
# leaves room for that; in the 10-minute run about 2500 requests fall
# between the first and the last quarter, so a leak of 4 KiB a request
# would show.
FLAT_MARGINS = {"fds": 12, "rss_kb": 8 * 1024}


def port_open(port, timeout=1.0):
    """None if a TCP connect to 127.0.0.1:port works, else the errno name
    (ECONNREFUSED when nothing listens)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        return None
    except socket.timeout:
        return "connect timeout"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()


class Sampler:
    """Every `interval` s: the daemon's RSS (VmRSS, KiB), fd count, thread
    count, descendant count and whether its port still accepts a TCP
    connection. A thread of its own; use as a context manager or call
    start() and stop()."""

    def __init__(self, pid, port=None, interval=1.0, t0=None):
        """Sample times ("t") are seconds from t0 (time.monotonic(); by
        default when start() is called)."""
        self.pid, self.port, self.interval = pid, port, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = t0

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        if self.t0 is None:
            self.t0 = time.monotonic()
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()

    def sample(self):
        return {
            "t": round(time.monotonic() - self.t0, 3),
            "rss_kb": status_kb(self.pid),
            "fds": fd_count(self.pid),
            "threads": thread_count(self.pid),
            "descendants": len(descendants(self.pid)),
            "listen": port_open(self.port) if self.port else None,
        }

    def _run(self):
        while True:
            self.samples.append(self.sample())
            if self._stop.wait(self.interval):
                break

    def series(self, key):
        return [s[key] for s in self.samples if s[key] is not None]

    def summary(self, key):
        v = self.series(key)
        if not v:
            return None
        return {"min": min(v), "first": v[0], "last": v[-1], "max": max(v)}

    def quarter_max(self, key):
        """(max over the first quarter of the run, max over the last)."""
        s = [x for x in self.samples if x[key] is not None]
        if len(s) < 4:
            return None
        end = s[-1]["t"]
        first = [x[key] for x in s if x["t"] <= end / 4]
        last = [x[key] for x in s if x["t"] >= end * 3 / 4]
        return max(first), max(last)

    def flat_problems(self, margins):
        """Problems where the last quarter's max exceeds the first
        quarter's max by more than margins[key] (e.g. {"fds": 8})."""
        problems = []
        for key, margin in margins.items():
            q = self.quarter_max(key)
            if q and q[1] - q[0] > margin:
                problems.append(f"{key} grew: max {q[0]} in the first quarter, "
                                f"{q[1]} in the last (allowed +{margin})")
        return problems

    def refused(self):
        """(seconds of the first failed connect, how many failed) or None."""
        bad = [s for s in self.samples if s["listen"]]
        return (bad[0]["t"], len(bad), bad[0]["listen"]) if bad else None


def save_evidence(directory, d, samples, extra=None, t0=None):
    """Writes the daemon's stderr (httpd.log; httpd.timed.log with each
    line's arrival in seconds from `t0`), the
    samples (samples.json) and `extra` (report.json) into `directory`;
    returns it."""
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "httpd.log"), "w") as f:
        f.write(d.stderr() + "\n")
    base = t0 if t0 is not None else (d.times[0] if d.times else 0)
    with open(os.path.join(directory, "httpd.timed.log"), "w") as f:
        for t, line in d.lines_between(float("-inf"), float("inf")):
            f.write(f"{t - base:9.3f} {line}\n")
    with open(os.path.join(directory, "samples.json"), "w") as f:
        json.dump(samples, f)
    if extra is not None:
        with open(os.path.join(directory, "report.json"), "w") as f:
            json.dump(extra, f, indent=1, default=str)
    return directory
