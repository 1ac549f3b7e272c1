#!/usr/bin/python3
"""pexos sandbox attack suite, a TAP producer.

Usage: run_attacks.py [--pooled|--pooled-lean] PATH/TO/pexos-run [NAME-FILTER...]

With --pooled every run goes to a warm sandbox of the pool (pexos-run
--pool 1 --lean-pool off: the zygote that imported numpy and pandas) and
must say so (stats.pooled, stats.pool "full"): the same attacks, the same
expectations, against the warm path. With --pooled-lean the pool has both
profiles (pexos-run --pool 2): an attack that imports none of numpy,
pandas, matplotlib, scipy or sklearn must run in a warm sandbox of the lean
zygote (stats.pool "lean"), one that does in the full one.

Every test really tries an attack from inside the sandbox and checks that it
failed for the right reason (the exact errno, or the exact failure type).

* attacks/<name>.py: a script with `def main():` that tries one attack (or one
  group of related calls, each reported separately) and returns a dict saying
  what happened. An optional first line `# pexos: {...}` adds request fields
  (e.g. {"timeout": 2}); the default timeout is 10 s.
* attacks/<name>.expect.json: a JSON object that must be a subset of the
  response: dicts are matched recursively, lists and scalars must be equal
  (true is not 1). A dict whose keys all start with "$" is an operator:
  {"$len": N} the string/list has length N, {"$re": "..."} a string that
  re.search matches, {"$in": [...]} one of the values; several operators in
  one dict must all hold.
* The attacks that need something on the host (a listener, a host process, a
  second or concurrent run, an environment variable, a SysV segment, a look
  at the host's cgroups, /tmp or memory while the run goes on) are the
  host_* and net_host_* functions below.
* Order: the attack files that only look (all but res_*) run 4 at a time
  first; then the res_* files and the host tests one by one (they load the
  host or measure it); host_zz_nothing_left always runs last, whatever the
  filter, and checks that the whole suite left no process, cgroup, mount or
  temporary file of pexos on the host.
* Every attack is harmless to the host even where the sandbox failed:
  nothing is created outside /tmp, write attempts use names that do not
  exist or open without writing, only signal 0 is sent, and every bomb is
  capped.

Every run must also give the exit status SPEC §6 pairs with its response and
must answer within its timeout + 10 s. Stdlib only; run by /usr/bin/python3.
Exit status: 0 all ok, 1 some not ok. When pexos-run is missing or
`pexos-run --check` says isolation is unavailable, the plan is `1..0 # SKIP`
with exit 0 (meson's TAP protocol counts any other status as an error),
unless PEXOS_MUST_WORK=1, which makes that a failure.
"""

import ctypes
import json
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ATTACKS = os.path.join(HERE, "attacks")
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_TIMEOUT = 10
GRACE = 10  # seconds a run may take beyond its timeout before it is a failure
HEADER = re.compile(r"#\s*pexos:\s*(\{.*\})\s*$")
EXIT_FOR_TYPE = {"InvalidRequest": 2, "SandboxError": 3}

PEXOS = None
POOLED = False    # --pooled: every run in a warm sandbox, and checked to be
POOL_ARGS = ("--pool", "1", "--pool-wait", "60", "--lean-pool", "off")
LEAN = False      # --pooled-lean: both profiles, each run in the one it calls for
HEAVY = re.compile(r"^[ \t]*(import|from)[ \t]+\(?[ \t]*"
                   r"(numpy|pandas|matplotlib|scipy|sklearn)\b", re.M)


def profile_for(script):
    """The pool profile pexos must pick for a script (--pooled-lean)."""
    return "full" if HEAVY.search(script or "") else "lean"
OUR_PIDS = set()  # every pexos-run this suite started: its run cgroups are run-<pid>-<n>
MARKERS = []      # every marker this suite made
BASELINE = {}     # host state when the suite started (for host_zz_nothing_left)
# Host ids of the sandbox's uid 0 and uid 1000 (pexos's default uid_base);
# main() adds what a run's uid_map says.
PEXOS_UIDS = {2000000000, 2000000001}
SCRIPT_UID = 2000000001  # host uid of the script's uid 1000


# --------------------------------------------------------------- running pexos

class Run:
    """One pexos-run invocation: the parsed response and how it went."""

    def __init__(self, req, resp, rc, stderr, elapsed, problem):
        self.req, self.resp, self.rc = req, resp, rc
        self.stderr, self.elapsed, self.problem = stderr, elapsed, problem

    def result(self):
        return self.resp.get("result") if isinstance(self.resp, dict) else None

    def diag(self):
        lines = ["pexos-run exit %s after %.1f s" % (self.rc, self.elapsed)]
        if self.problem:
            lines.append("run problem: " + self.problem)
        text = json.dumps(self.resp, ensure_ascii=False)
        if len(text) > 3000:
            text = text[:3000] + "... (%d chars)" % len(text)
        lines.append("response: " + text)
        if self.stderr.strip():
            lines.append("pexos-run stderr: " + self.stderr.strip()[-1000:])
        return lines


class Pending:
    """A pexos-run started in the background: the request is sent and the
    answer read by a thread at once (so the harness can look at the host
    while the run goes on); finish() waits for it. script_for_pid, if given,
    makes the script once pexos-run's host pid is known (to name it inside)."""

    def __init__(self, req, env=None, script_for_pid=None, args=()):
        self.req, self.t0 = req, time.monotonic()
        if POOLED:
            args = (*POOL_ARGS, *args)
            req.setdefault("stats", True)
        self.proc = subprocess.Popen([PEXOS, *args, "--json", "-"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        OUR_PIDS.add(self.proc.pid)
        if script_for_pid is not None:
            req["script"] = script_for_pid(self.proc.pid)
        self.answer, self.t_end = None, None
        self.thread = threading.Thread(target=self._talk, daemon=True)
        self.thread.start()

    def _talk(self):
        try:
            self.answer = self.proc.communicate(
                json.dumps(self.req).encode(), timeout=self.req.get("timeout", DEFAULT_TIMEOUT) + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        self.t_end = time.monotonic()

    def done(self):
        return not self.thread.is_alive()

    def finish(self):
        self.thread.join()
        if self.answer is None:
            return Run(self.req, None, None, "", self.t_end - self.t0,
                       "no answer within timeout + 30 s (pexos-run killed)")
        out, err = self.answer
        return judge(self.req, out, err, self.proc.returncode, self.t_end - self.t0)


def run_pexos(req, env=None, args=()):
    return Pending(req, env, args=args).finish()


def judge(req, out, err, returncode, elapsed):
    timeout = req.get("timeout", DEFAULT_TIMEOUT)
    out = out.decode("utf-8", "replace")
    err = err.decode("utf-8", "replace")
    problems = []
    try:
        resp = json.loads(out)
        if not isinstance(resp, dict):
            problems.append("response is not a JSON object")
    except ValueError as e:
        resp = None
        problems.append("stdout is not one JSON object (%s): %r" % (e, out[:500]))
    if "\n" in out.rstrip("\n"):
        problems.append("stdout is not exactly one line")
    if isinstance(resp, dict):
        rtype = resp.get("type")
        want = 0 if rtype is None else EXIT_FOR_TYPE.get(rtype, 1)
        if returncode != want:
            problems.append("exit status %d, SPEC §6 says %d for type %s"
                            % (returncode, want, rtype))
    if elapsed > timeout + GRACE + (15 if POOLED else 0):
        problems.append("took %.1f s for a %s s timeout" % (elapsed, timeout))
    stats = resp.get("stats") if isinstance(resp, dict) else None
    if POOLED and isinstance(stats, dict) and stats.get("pooled") is not True:
        problems.append("ran in a cold sandbox, not a warm one of the pool")
    elif POOLED and isinstance(stats, dict):
        want = profile_for(req.get("script")) if LEAN else "full"
        if stats.get("pool") != want:
            problems.append("ran in a warm sandbox of the %r pool, want %r"
                            % (stats.get("pool"), want))
    return Run(req, resp, returncode, err, elapsed, "; ".join(problems))


def request_for(script):
    req = {"script": script, "timeout": DEFAULT_TIMEOUT}
    first = script.split("\n", 1)[0]
    m = HEADER.match(first)
    if m:
        req.update(json.loads(m.group(1)))
    return req


# ------------------------------------------------------------------ matching

def _is_op(exp):
    return isinstance(exp, dict) and exp and all(k.startswith("$") for k in exp)


def mismatches(exp, got, path="response"):
    """List of human-readable differences between expected subset and got."""
    if _is_op(exp):
        out = []
        for op, arg in exp.items():
            if op == "$len":
                ok = isinstance(got, (str, list)) and len(got) == arg
                what = "length %s" % (len(got) if isinstance(got, (str, list)) else "n/a")
            elif op == "$re":
                ok = isinstance(got, str) and re.search(arg, got) is not None
                what = "no match"
            elif op == "$in":
                ok = any(_same(a, got) for a in arg)
                what = "not one of them"
            else:
                ok, what = False, "unknown operator"
            if not ok:
                out.append("%s: expected %s %s, got %s (%s)"
                           % (path, op, json.dumps(arg), _short(got), what))
        return out
    if isinstance(exp, dict):
        if not isinstance(got, dict):
            return ["%s: expected an object, got %s" % (path, _short(got))]
        out = []
        for k, v in exp.items():
            sub = "%s[%s]" % (path, json.dumps(k))
            if k not in got:
                out.append("%s: missing" % sub)
            else:
                out.extend(mismatches(v, got[k], sub))
        return out
    if not _same(exp, got):
        return ["%s: expected %s, got %s" % (path, json.dumps(exp), _short(got))]
    return []


def _same(a, b):
    return type(a) is type(b) and a == b or (
        isinstance(a, (int, float)) and isinstance(b, (int, float))
        and not isinstance(a, bool) and not isinstance(b, bool) and a == b)


def _short(v):
    text = json.dumps(v, ensure_ascii=False)
    return text if len(text) <= 200 else text[:200] + "... (%d chars)" % len(text)


# ------------------------------------------------------------ host helpers

def host_procs_with(marker):
    """Host processes whose command line contains marker (harness excluded)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd:
            found.append("%s: %s" % (d, cmd.replace(b"\0", b" ").decode("utf-8", "replace")))
    return found


def start_marker_process(marker, uid=None):
    """A harmless host process carrying marker in its command line (as host
    uid `uid` if given, with no supplementary groups)."""
    ids = {} if uid is None else {"user": uid, "group": uid, "extra_groups": [], "cwd": "/"}
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, **ids)


def stop(proc):
    proc.kill()
    proc.wait()


def proc_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def proc_read(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            return f.read()
    except OSError:
        return None


def proc_uids(pid):
    """Real, effective, saved, fs uid of a host process (None if gone)."""
    status = proc_read(pid, "status")
    for line in (status or b"").decode("utf-8", "replace").splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    return None


def proc_cmdline(pid):
    return (proc_read(pid, "cmdline") or b"").replace(b"\0", b" ").decode("utf-8", "replace")


RUN_CGROUP = re.compile(r"^(.*)/pexos/run-(\d+)-\d+$")
OWN_CGROUPS = {}  # hierarchy id -> this harness's cgroup there (pexos-run inherits it)


def run_cgroup_of(pid):
    """The pexos-run pid whose run cgroup a host process is in, counting only
    run cgroups made under this harness's own cgroups (so those of pexos-runs
    this suite may have started; not those of other users of the host or of
    pexos-runs in containers, whose pid numbers mean something else)."""
    if not OWN_CGROUPS:
        for line in (proc_read(os.getpid(), "cgroup") or b"").decode().splitlines():
            hid, _, path = line.split(":", 2)
            # cgroup v2: pexos-run may have moved this harness into the
            # leaf pexos-supervisor of its cgroup; runs go below that cgroup.
            path = path.rstrip("/")
            if hid == "0" and path.endswith("/pexos-supervisor"):
                path = path[:-len("/pexos-supervisor")]
            OWN_CGROUPS[hid] = path
    owner = None
    for line in (proc_read(pid, "cgroup") or b"").decode("utf-8", "replace").splitlines():
        hid, _, path = line.split(":", 2)
        m = RUN_CGROUP.match(path)
        if m:
            if m.group(1) != OWN_CGROUPS.get(hid):
                return None
            owner = int(m.group(2))
    return owner


def run_procs(pexos_pid):
    """Host processes (pid: cmdline) in a run cgroup of that pexos-run."""
    return ["%d: %s" % (p, proc_cmdline(p)[:120]) for p in proc_pids()
            if run_cgroup_of(p) == pexos_pid]


def run_cgroup_dirs():
    """Every run-* directory under a pexos/ directory of every mounted cgroup
    hierarchy (v1 controllers and the v2 tree), at any depth up to 8."""
    found = []
    for top in sorted(os.listdir("/sys/fs/cgroup")):
        base = os.path.join("/sys/fs/cgroup", top)
        if os.path.islink(base) or not os.path.isdir(base):
            continue
        for dirpath, dirnames, _ in os.walk(base):
            if os.path.basename(dirpath) == "pexos":
                found += [os.path.join(dirpath, d) for d in dirnames if d.startswith("run-")]
                dirnames[:] = [d for d in dirnames if not d.startswith("run-")]
            if dirpath.count("/") - base.count("/") >= 8:
                dirnames[:] = []
    return sorted(found)


def own_run_dir(d):
    """Whether a run cgroup directory sits under this harness's own cgroup
    in its hierarchy (/sys/fs/cgroup/<hierarchy><own path>/pexos/run-*)."""
    run_cgroup_of(os.getpid())  # fills OWN_CGROUPS
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # cgroup v2 mounted right there
        rest = d[len("/sys/fs/cgroup"):]
    else:  # v1 (or hybrid): /sys/fs/cgroup/<hierarchy>/...
        rest = "/" + d[len("/sys/fs/cgroup/"):].split("/", 1)[-1]  # /<path>/pexos/run-*
    return "/pexos/" in rest and rest.rsplit("/pexos/", 1)[0] in OWN_CGROUPS.values()


def run_dirs_of(pexos_pid):
    return [d for d in run_cgroup_dirs()
            if re.match(r"run-%d-\d+$" % pexos_pid, os.path.basename(d)) and own_run_dir(d)]


def read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def mount_points():
    points = set()
    for line in (read_text("/proc/self/mountinfo") or "").splitlines():
        fields = line.split()
        if len(fields) > 4:
            points.add(fields[4])
    return points


TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run")


def temp_entries():
    names = set()
    for d in TEMP_DIRS:
        try:
            names.update(os.path.join(d, n) for n in os.listdir(d))
        except OSError:
            pass
    return names


def mem_available():
    for line in (read_text("/proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return None


def wait_for_run_file(pend, path, limit=10.0):
    """Wait until a process of the run sees `path` (looked at from the host
    through /proc/<pid>/root, which host root may follow into the sandbox).
    True when it appeared, False when the run ended or `limit` s passed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and not pend.done():
        for pid in proc_pids():
            if run_cgroup_of(pid) == pend.proc.pid and os.path.exists(
                    "/proc/%d/root%s" % (pid, path)):
                return True
        time.sleep(0.02)
    return False


def signal_run(pend, sig):
    """Send `sig` to the run's python3 processes (not to its init), from the
    host. (A file made through /proc/<pid>/root cannot tell it: the host's
    root has no uid in the run's tmpfs.) True when one got it."""
    sent = False
    for pid in proc_pids():
        if (run_cgroup_of(pid) == pend.proc.pid
                and (proc_read(pid, "comm") or b"").strip() == b"python3"):
            try:
                os.kill(pid, sig)
                sent = True
            except OSError:
                pass
    return sent


def wait_all(pendings, every=0.05, probe=None):
    """Wait for the runs; call probe() every `every` s meanwhile. Returns
    the probe's answers."""
    seen = []
    while not all(p.done() for p in pendings):
        if probe is not None:
            seen.append(probe())
        time.sleep(every)
    return seen


def learn_sandbox_ids():
    """Host ids a run's uid_map gives the sandbox (added to PEXOS_UIDS) and
    the one its uid 1000, the script's, maps to (SCRIPT_UID)."""
    global SCRIPT_UID
    run = run_pexos({"script": UIDMAP_SCRIPT})
    maps = (run.result() or {}).get("maps") or {}
    for rows in maps.values():
        PEXOS_UIDS.update(outside + i for _, outside, count in rows for i in range(min(count, 4)))
    for inside, outside, count in maps.get("uid_map", []):
        if inside <= 1000 < inside + count:
            SCRIPT_UID = outside + 1000 - inside


def host_local_ipv4():
    """Non-loopback IPv4 addresses of this host (from /proc/net/fib_trie)."""
    addrs, prev = set(), None
    try:
        with open("/proc/net/fib_trie") as f:
            for line in f:
                if "/32 host LOCAL" in line and prev:
                    addrs.add(prev)
                m = re.search(r"[|+]-- (\d+\.\d+\.\d+\.\d+)", line)
                prev = m.group(1) if m else prev
    except OSError:
        pass
    return sorted(a for a in addrs if not a.startswith("127."))


def marker():
    name = "pexos-sec-" + secrets.token_hex(8)
    MARKERS.append(name)
    return name


# ------------------------------------------------------- host-side attacks

NET_SCRIPT = r'''
import errno
import socket

TCP = %r
UDP = %r
UNIX = %r
FAM = {"inet": socket.AF_INET, "inet6": socket.AF_INET6}


def err(e):
    if isinstance(e, socket.timeout):
        return "timed out"
    return errno.errorcode.get(e.errno, "errno %%s" %% e.errno)


def main():
    out = {}
    for label, fam, host, port in TCP:
        s = socket.socket(FAM[fam], socket.SOCK_STREAM)
        s.settimeout(3)
        try:
            s.connect((host, port))
            out[label] = "connected"
        except OSError as e:
            out[label] = err(e)
        s.close()
    for label, fam, host, port in UDP:
        s = socket.socket(FAM[fam], socket.SOCK_DGRAM)
        try:
            s.sendto(b"pexos-attack", (host, port))
            out[label] = "sent"
        except OSError as e:
            out[label] = err(e)
        s.close()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect("\0" + UNIX)
        out["abstract unix"] = "connected"
    except OSError as e:
        out["abstract unix"] = err(e)
    s.close()
    return out
'''


def net_host_listeners():
    """Host listeners (TCP v4 on all addresses, TCP v6 on ::1, UDP v4, an
    abstract unix socket) are unreachable from inside: TCP to the host's
    own addresses gives ENETUNREACH (no route out of the run's namespace),
    to 127.0.0.1 and ::1 ECONNREFUSED (the run's own loopback, where nothing
    listens), the abstract socket ECONNREFUSED (its namespace belongs to the
    netns), and nothing ever arrives on the host side."""
    listeners, tcp, udp, allowed = [], [], [], {}
    t4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t4.bind(("0.0.0.0", 0))
    t4.listen(8)
    listeners.append(t4)
    port = t4.getsockname()[1]
    for addr in ["127.0.0.1"] + host_local_ipv4():
        label = "tcp %s:%d" % (addr, port)
        tcp.append([label, "inet", addr, port])
        allowed[label] = {"ECONNREFUSED"} if addr == "127.0.0.1" else {"ENETUNREACH"}
    try:
        t6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        t6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        t6.bind(("::1", 0))
        t6.listen(8)
        listeners.append(t6)
        label = "tcp [::1]:%d" % t6.getsockname()[1]
        tcp.append([label, "inet6", "::1", t6.getsockname()[1]])
        allowed[label] = {"ECONNREFUSED"}
    except OSError:
        pass  # no IPv6 on this host: nothing to reach
    u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u4.bind(("0.0.0.0", 0))
    listeners.append(u4)
    label = "udp 127.0.0.1:%d" % u4.getsockname()[1]
    udp.append([label, "inet", "127.0.0.1", u4.getsockname()[1]])
    # Sent into the run's own loopback: it must not arrive here, which is
    # checked below.
    allowed[label] = {"sent"}
    name = marker()
    ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ux.bind("\0" + name)
    ux.listen(8)
    listeners.append(ux)
    allowed["abstract unix"] = {"ECONNREFUSED"}
    try:
        run = run_pexos({"script": NET_SCRIPT % (tcp, udp, name), "timeout": 20})
        ready, _, _ = select.select(listeners, [], [], 0.5)
    finally:
        for s in listeners:
            s.close()
    diag, res = [], run.result()
    if run.problem:
        diag.append(run.problem)
    if not isinstance(res, dict):
        diag.append("no result")
    else:
        for label, ok in allowed.items():
            if res.get(label) not in ok:
                diag.append("%s: got %r, expected one of %s" % (label, res.get(label), sorted(ok)))
    if ready:
        diag.append("HOLE: a host listener received a connection/datagram: %s"
                    % [s.getsockname() for s in ready])
    return diag, run


BG_SCRIPT = r'''
import os
import subprocess
import time

MARKER = %r
LOOP = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
    "while True:\n"
    "    open('/tmp/' + sys.argv[1], 'w').write('alive')\n"
    "    time.sleep(0.1)\n"
)


def spawn(tag):
    return ["/usr/bin/python3", "-c", LOOP, MARKER + "-" + tag]


def main():
    null = subprocess.DEVNULL
    p = subprocess.Popen(spawn("popen"), start_new_session=True,
                         stdin=null, stdout=null, stderr=null)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # classic daemon: fork, setsid, fork, exec
        try:
            os.setsid()
            pid2 = os.fork()
            if pid2 == 0:
                os.dup2(os.open("/dev/null", os.O_RDWR), 0)
                os.execv("/usr/bin/python3", spawn("daemon"))
            os.write(w, str(pid2).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    daemon = int(os.read(r, 32) or b"0")
    started = {}
    deadline = time.time() + 10
    while time.time() < deadline:
        started = {t: os.path.exists("/tmp/%%s-%%s" %% (MARKER, t)) for t in ("popen", "daemon")}
        if all(started.values()):
            break
        time.sleep(0.05)
    return {"pids": {"popen": p.pid, "daemon": daemon}, "started": started}
'''


def host_background_killed():
    """Background processes a script leaves behind (a Popen in its own session
    ignoring SIGTERM/SIGHUP, a double-forked setsid daemon) are gone at most
    1 s after the run's answer. Checked on the host by a marker in their
    command line; the scan itself is checked on a host marker process first."""
    diag = []
    control = marker() + "-control"
    proc = start_marker_process(control)
    try:
        time.sleep(0.2)
        if not host_procs_with(control):
            return ["harness: the /proc scan cannot see a host marker process"], None
    finally:
        stop(proc)
    name = marker()
    run = run_pexos({"script": BG_SCRIPT % name, "timeout": 20})
    if run.problem:
        diag.append(run.problem)
    res = run.result()
    if not isinstance(res, dict) or res.get("started") != {"popen": True, "daemon": True}:
        diag.append("the background processes did not start (test could not attack)")
    time.sleep(1.0)
    left = host_procs_with(name)
    if left:
        diag.append("HOLE: processes of the run survive 1 s after it: %s" % left)
        for line in left:  # not ours to keep running, but we made them
            try:
                os.kill(int(line.split(":")[0]), 9)
            except OSError:
                pass
    return diag, run


def host_tmp_not_persistent():
    """A file written to /tmp in one run is absent in the next run, and never
    reached the host's /tmp."""
    name = marker()
    path = "/tmp/" + name
    write = ("import os\n\ndef main():\n    with open(%r, 'w') as f:\n        f.write('x')\n"
             "    return {'exists': os.path.exists(%r)}\n" % (path, path))
    look = ("import os\n\ndef main():\n    return {'exists': os.path.exists(%r), "
            "'tmp': sorted(os.listdir('/tmp'))}\n" % path)
    diag = []
    first = run_pexos({"script": write})
    second = run_pexos({"script": look})
    for run in (first, second):
        if run.problem:
            diag.append(run.problem)
    if (first.result() or {}).get("exists") is not True:
        diag.append("first run could not write its file (test could not attack)")
        diag.extend(first.diag())
    if not isinstance(second.result(), dict):
        diag.append("second run gave no result")
        diag.extend(second.diag())
    elif second.result().get("exists") is not False:
        diag.append("HOLE: the second run sees the first run's /tmp file")
    if os.path.exists(path):
        diag.append("HOLE: the run's /tmp file appeared on the host at %s" % path)
        os.unlink(path)
    return diag, second


def host_paths_not_visible():
    """The repository, this suite, the pexos-run binary's directory, /work and a
    fresh host file in the host's /tmp do not exist inside (ENOENT)."""
    name = marker()
    host_file = "/tmp/" + name
    with open(host_file, "w") as f:
        f.write("host secret\n")
    paths = sorted({REPO, HERE, os.path.dirname(os.path.abspath(PEXOS)), "/work",
                    "/work/shared", host_file})
    script = ("import errno, os\n\ndef main():\n    out = {}\n    for p in %r:\n"
              "        try:\n            os.stat(p)\n            out[p] = 'exists'\n"
              "        except OSError as e:\n            out[p] = errno.errorcode[e.errno]\n"
              "    return out\n" % paths)
    try:
        run = run_pexos({"script": script})
    finally:
        os.unlink(host_file)
    diag = [run.problem] if run.problem else []
    diag.extend(mismatches({"result": {p: "ENOENT" for p in paths}}, run.resp))
    return diag, run


UIDMAP_SCRIPT = r'''
import os


def main():
    maps = {}
    for name in ("uid_map", "gid_map"):
        with open("/proc/self/" + name) as f:
            maps[name] = [[int(x) for x in line.split()] for line in f if line.strip()]
    return {"maps": maps, "uid": os.getuid(), "gid": os.getgid()}
'''


def host_uid_map():
    """The sandbox's user namespace does not map host root: no uid_map or
    gid_map range (inside, outside, count) covers host id 0, and at least one
    mapping exists (a missing user namespace shows the identity map
    0 0 4294967295, which covers 0)."""
    run = run_pexos({"script": UIDMAP_SCRIPT})
    diag = [run.problem] if run.problem else []
    res = run.result()
    if not isinstance(res, dict):
        return diag + ["no result"], run
    for name, rows in res.get("maps", {}).items():
        if not rows:
            diag.append("%s is empty" % name)
        for inside, outside, count in rows:
            if outside <= 0 < outside + count:
                diag.append("HOLE: %s maps host id 0 (line %d %d %d)" % (name, inside, outside, count))
    return diag, run


PROC_SCRIPT = r'''
import errno
import os

MARKER = %r + %r
HOST_PID = %d


def main():
    pids = sorted(int(d) for d in os.listdir("/proc") if d.isdigit())
    seen = False
    for pid in pids:
        try:
            with open("/proc/%%d/cmdline" %% pid, "rb") as f:
                seen = seen or MARKER.encode() in f.read()
        except OSError:
            pass
    try:
        os.kill(HOST_PID, 0)
        kill = "delivered"
    except OSError as e:
        kill = errno.errorcode.get(e.errno, str(e.errno))
    return {"pids": pids, "host marker seen": seen, "kill(host pid, 0)": kill}
'''


def host_proc_isolation():
    """/proc inside lists only the run's own few processes (all pids <= 10);
    a host process with a marker in its command line is not among them, and
    signalling its host pid (signal 0, harmless) gives ESRCH."""
    name = marker()
    proc = start_marker_process(name)
    try:
        half = len(name) // 2
        run = run_pexos({"script": PROC_SCRIPT % (name[:half], name[half:], proc.pid)})
    finally:
        stop(proc)
    diag = [run.problem] if run.problem else []
    res = run.result()
    if not isinstance(res, dict):
        return diag + ["no result"], run
    pids = res.get("pids") or []
    if not pids or len(pids) > 10 or max(pids) > 10:
        diag.append("HOLE?: /proc lists pids %s (expected only the run's few, all <= 10)" % pids[:50])
    if res.get("host marker seen") is not False:
        diag.append("HOLE: a host process is visible in /proc")
    if res.get("kill(host pid, 0)") != "ESRCH":
        diag.append("kill(host pid %d, 0) gave %r, expected ESRCH"
                    % (proc.pid, res.get("kill(host pid, 0)")))
    return diag, run


ENV_SCRIPT = r'''
import os

MARKER = %r + %r


def main():
    leaks = [k for k, v in os.environ.items() if MARKER in k or MARKER in v]
    readable = 0
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%%s/environ" %% d, "rb") as f:
                    data = f.read()
                readable += 1
            except OSError:
                continue
            if MARKER.encode() in data:
                leaks.append("/proc/%%s/environ" %% d)
    return {"leaks": leaks, "environ files read": readable, "keys": sorted(os.environ)}
'''


def host_env_not_leaked():
    """Secrets in pexos-run's environment do not reach the script: neither its
    os.environ nor any /proc/*/environ it can read (the sandbox's init too)."""
    name = marker()
    env = dict(os.environ, PEXOS_SEC_SECRET=name, AWS_SECRET_ACCESS_KEY=name,
               DATABASE_URL="postgres://u:%s@db/x" % name)
    half = len(name) // 2
    run = run_pexos({"script": ENV_SCRIPT % (name[:half], name[half:])}, env=env)
    diag = [run.problem] if run.problem else []
    res = run.result()
    if not isinstance(res, dict):
        return diag + ["no result"], run
    if res.get("leaks") != []:
        diag.append("HOLE: host environment leaked into %s" % res.get("leaks"))
    if not res.get("environ files read"):
        diag.append("could not read even its own /proc/self/environ (test could not look)")
    return diag, run


NS_KINDS = ("user", "pid", "mnt", "net", "ipc", "uts", "cgroup")
NS_SCRIPT = r'''
import os


def main():
    return {kind: os.readlink("/proc/self/ns/" + kind) for kind in %r}
'''


def host_namespaces_fresh():
    """The script runs in its own user, PID, mount, network, IPC, UTS and
    cgroup namespaces: each /proc/self/ns link differs from the host's (the
    harness's own, i.e. the namespaces pexos-run is started in)."""
    run = run_pexos({"script": NS_SCRIPT % (NS_KINDS,)})
    diag = [run.problem] if run.problem else []
    res = run.result()
    if not isinstance(res, dict):
        return diag + ["no result"], run
    for kind in NS_KINDS:
        mine = os.readlink("/proc/self/ns/" + kind)
        if res.get(kind) is None:
            diag.append("%s namespace not reported" % kind)
        elif res.get(kind) == mine:
            diag.append("HOLE: the script shares the host's %s namespace (%s)" % (kind, mine))
    return diag, run


HOSTNAME_SCRIPT = r'''
import ctypes
import errno
import socket


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    name = socket.gethostname().encode()  # the same name: harmless if it worked
    r = libc.sethostname(name, len(name))
    return {"hostname": socket.gethostname(),
            "sethostname": "succeeded" if r == 0 else errno.errorcode[ctypes.get_errno()]}
'''


def host_hostname_isolated():
    """The run has its own UTS namespace: it does not see the host's hostname
    and cannot set its own (EPERM, no CAP_SYS_ADMIN; it tries to set the name
    it already has, so nothing changes even where the sandbox failed)."""
    before = socket.gethostname()
    run = run_pexos({"script": HOSTNAME_SCRIPT})
    diag = [run.problem] if run.problem else []
    res = run.result()
    if not isinstance(res, dict):
        return diag + ["no result"], run
    if res.get("hostname") == before:
        diag.append("the sandbox sees the host's hostname %r" % before)
    if res.get("sethostname") != "EPERM":
        diag.append("sethostname gave %r, expected EPERM" % res.get("sethostname"))
    return diag, run


IPC_SCRIPT = r'''
import ctypes
import errno

KEY = %d


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    r = libc.shmget(ctypes.c_int(KEY), ctypes.c_size_t(0), 0)
    got = "found (id %%d)" %% r if r >= 0 else errno.errorcode[ctypes.get_errno()]
    with open("/proc/sysvipc/shm") as f:
        keys = [int(line.split()[0]) for line in f.readlines()[1:] if line.strip()]
    return {"shmget(host key)": got, "host key listed": KEY in keys}
'''


def host_ipc_isolated():
    """The run has its own IPC namespace: a SysV shared memory segment made on
    the host is not found inside (ENOENT) nor listed in /proc/sysvipc/shm."""
    libc = ctypes.CDLL(None, use_errno=True)
    key = 0x5E000000 | secrets.randbits(24)
    shmid = libc.shmget(ctypes.c_int(key), ctypes.c_size_t(4096), 0o1000 | 0o600)
    if shmid < 0:
        return ["harness: cannot create a host SysV segment (errno %d)" % ctypes.get_errno()], None
    try:
        run = run_pexos({"script": IPC_SCRIPT % key})
    finally:
        libc.shmctl(shmid, 0, None)  # IPC_RMID
    diag = [run.problem] if run.problem else []
    diag.extend(mismatches({"result": {"shmget(host key)": "ENOENT", "host key listed": False}},
                           run.resp))
    return diag, run


HOG_SCRIPT = r'''
import errno
import os
import time


def main():
    count, err = 0, None
    for _ in range(256):
        try:
            pid = os.fork()
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e.errno))
            break
        if pid == 0:
            time.sleep(5)
            os._exit(0)
        count += 1
    time.sleep(4)
    return {"errno": err, "forked": count}
'''

NEIGHBOUR_SCRIPT = r'''
import errno
import os


def main():
    done, err = 0, None
    for _ in range(8):
        try:
            pid = os.fork()
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e.errno))
            break
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        done += 1
    return {"forked": done, "errno": err}
'''


def host_fork_bomb_contained():
    """A fork bomb is contained to its own run: while one run holds every
    process its limit allows (fork fails with EAGAIN there), a concurrent run
    can still fork (SPEC §5: fork bombs end in the matching error while the
    host and other runs go on; in rlimit mode that takes a per-run uid)."""
    hog = Pending({"script": HOG_SCRIPT, "timeout": 20})
    time.sleep(2.0)  # the hog has reached its limit by now and sleeps 4 s
    neighbour = run_pexos({"script": NEIGHBOUR_SCRIPT})
    hogged = hog.finish()
    diag = [r.problem for r in (hogged, neighbour) if r.problem]
    if (hogged.result() or {}).get("errno") != "EAGAIN":
        diag.append("the hog run never hit its process limit (test could not attack)")
        diag.extend(hogged.diag())
    if neighbour.result() != {"forked": 8, "errno": None}:
        diag.append("HOLE: a concurrent run could not fork while another run "
                    "exhausted its process limit (shared uid/limit?)")
    return diag, neighbour


SIGNAL_SCRIPT = r'''
import ctypes
import errno
import os

TARGETS = %r
NR_PTRACE, NR_PROCESS_VM_READV, NR_PIDFD_OPEN = 101, 310, 434
PTRACE_ATTACH = 16

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def name(e):
    return errno.errorcode.get(e, "errno %%d" %% e)


def sys_errno(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a
                                          for a in args])
    if r == -1:
        return name(ctypes.get_errno())
    if nr == NR_PIDFD_OPEN:
        os.close(r)
    return "succeeded"


def kill(pid):
    try:
        os.kill(pid, 0)
        return "succeeded"
    except OSError as e:
        return name(e.errno)


def main():
    out = {"kill(-1, 0)": kill(-1)}
    for label, pid in TARGETS.items():
        out[label] = {
            "kill(pid, 0)": kill(pid),
            "kill(-pid, 0)": kill(-pid),
            "pidfd_open": sys_errno(NR_PIDFD_OPEN, pid, 0),
            "ptrace(PTRACE_ATTACH)": sys_errno(NR_PTRACE, PTRACE_ATTACH, pid, None, None),
            "process_vm_readv": sys_errno(NR_PROCESS_VM_READV, pid, None, 0, None, 0, 0),
        }
    return out
'''


def host_signal_ptrace_outside():
    """Host processes by their host pid: this harness, the pexos-run running
    the script, and a host process running as the very host uid the
    script's uid 1000 maps to (the one a missing PID namespace would let it
    signal). Inside, kill(pid, 0), kill(-pid, 0) and pidfd_open find none of
    them (ESRCH) and kill(-1, 0) finds nothing at all (ESRCH); ptrace
    PTRACE_ATTACH and process_vm_readv are refused by seccomp (EPERM).
    Only signal 0 is sent and nothing is attached: harmless anywhere."""
    name = marker()
    same_uid = start_marker_process(name, uid=SCRIPT_UID)
    try:
        time.sleep(0.1)
        targets = {"harness": os.getpid(), "same host uid": same_uid.pid}

        def script(pexos_pid):
            targets["pexos-run"] = pexos_pid
            return SIGNAL_SCRIPT % (targets,)
        run = Pending({"script": None, "timeout": 10}, script_for_pid=script).finish()
        uids = proc_uids(same_uid.pid)
    finally:
        stop(same_uid)
    diag = [run.problem] if run.problem else []
    if min(targets.values()) <= 64:
        diag.append("a target's host pid is <= 64 and may exist inside too: %s (rerun)" % targets)
    if not uids or uids[0] != SCRIPT_UID:
        diag.append("harness: the same-uid host process runs as %s, not %d" % (uids, SCRIPT_UID))
    want = {"kill(pid, 0)": "ESRCH", "kill(-pid, 0)": "ESRCH", "pidfd_open": "ESRCH",
            "ptrace(PTRACE_ATTACH)": "EPERM", "process_vm_readv": "EPERM"}
    expect = {"result": dict({label: want for label in targets}, **{"kill(-1, 0)": "ESRCH"})}
    diag.extend(mismatches(expect, run.resp))
    return diag, run


CLEAN_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8",
             "USER": "sandbox", "LOGNAME": "sandbox", "OPENBLAS_NUM_THREADS": "1",
             "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1",
             "MPLBACKEND": "Agg", "MPLCONFIGDIR": "/tmp/.cache/matplotlib"}

ENV_SECRET_SCRIPT = r'''
import errno
import os

MARKER = %r + %r


def main():
    files = {}
    for d in sorted(os.listdir("/proc")):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%%s/environ" %% d, "rb") as f:
                files[d] = "HAS THE SECRET" if MARKER.encode() in f.read() else "clean"
        except OSError as e:
            files[d] = errno.errorcode.get(e.errno, str(e.errno))
    return {
        "environ": dict(os.environ),
        "secret in os.environ": sorted(k for k, v in os.environ.items()
                                       if MARKER in k or MARKER in v),
        "PEXOS_SECRET set": "PEXOS_SECRET" in os.environ,
        "/proc/self/environ": files.get(str(os.getpid())),
        "/proc/1/environ": files.get("1"),
        "/proc/*/environ": files,
    }
'''


def host_env_secret_absent():
    """PEXOS_SECRET (and a PYTHONPATH and an API token) set on the pexos-run
    process do not reach the script: os.environ is exactly the sandbox's
    clean set (PATH, HOME, TMPDIR, LANG, USER, LOGNAME, the BLAS thread
    counts, with their fixed values), no /proc/<pid>/environ the script can
    read holds the secret, and init's (/proc/1/environ) is either unreadable
    for the script (EACCES) or clean."""
    name = marker()
    env = dict(os.environ, PEXOS_SECRET=name, PYTHONPATH="/tmp/" + name, API_TOKEN=name)
    half = len(name) // 2
    run = run_pexos({"script": ENV_SECRET_SCRIPT % (name[:half], name[half:])}, env=env)
    diag = [run.problem] if run.problem else []
    res = run.result()
    if not isinstance(res, dict):
        return diag + ["no result"], run
    if res.get("environ") != CLEAN_ENV:
        diag.append("os.environ is %s, expected exactly %s" % (res.get("environ"), CLEAN_ENV))
    if res.get("secret in os.environ") != [] or res.get("PEXOS_SECRET set") is not False:
        diag.append("HOLE: the secret is in the script's os.environ")
    leaked = sorted(p for p, v in (res.get("/proc/*/environ") or {}).items() if v == "HAS THE SECRET")
    if leaked:
        diag.append("HOLE: the secret is readable in /proc/%s/environ" % ",".join(leaked))
    if res.get("/proc/self/environ") != "clean":
        diag.append("could not read its own /proc/self/environ (test could not look): %r"
                    % res.get("/proc/self/environ"))
    if res.get("/proc/1/environ") not in ("EACCES", "clean"):
        diag.append("/proc/1/environ gave %r, expected EACCES or clean" % res.get("/proc/1/environ"))
    return diag, run


HOLD_SCRIPT = r'''
import time


def main():
    time.sleep(%r)
    return {"held": True}
'''


def host_env_not_in_sandbox_init():
    """Defence in depth for the secret above: no process of the run (looked
    at from the host, by its run cgroup, while the script sleeps) holds
    PEXOS_SECRET in its environment or command line, init included. The
    script cannot read init's environ (EACCES), but anything that gets
    uid 0 inside the sandbox (init's uid) could; a sandbox init made by
    fork() without exec keeps pexos-run's whole memory, environment
    included, which is what this catches."""
    name = marker()
    env = dict(os.environ, PEXOS_SECRET=name)
    pend = Pending({"script": HOLD_SCRIPT % 1.5, "timeout": 10}, env=env)
    holders, looked = set(), set()
    # As long as pexos-run lives (Pending bounds it): a pooled pexos-run
    # starts its pool first, seconds under emulation.
    while not pend.done():
        for pid in proc_pids():
            if run_cgroup_of(pid) != pend.proc.pid:
                continue
            looked.add(pid)
            for part in ("environ", "cmdline"):
                if name.encode() in (proc_read(pid, part) or b""):
                    holders.add("host pid %d (uid %s, %s) /proc/%d/%s"
                                % (pid, (proc_uids(pid) or ["?"])[0],
                                   proc_cmdline(pid)[:60], pid, part))
        time.sleep(0.2)
    run = pend.finish()
    diag = [run.problem] if run.problem else []
    if not looked:
        diag.append("found no process of the run on the host (test could not look)")
    if holders:
        diag.append("HOLE (defence in depth): processes inside the sandbox hold pexos-run's "
                    "secret environment: %s" % sorted(holders))
    return diag, run


LEAK_SCRIPT = r'''
import os
import sys

NEEDLES = [a + b for a, b in %r]


def main():
    hits, looked = set(), 0

    def look(where, data):
        nonlocal looked
        looked += 1
        if isinstance(data, bytes):
            data = data.replace(b"\0", b" ").decode("utf-8", "replace")
        for n in NEEDLES:
            if n in data:
                hits.add("%%s contains %%s" %% (where, n))

    for pid in sorted(d for d in os.listdir("/proc") if d.isdigit()):
        for part in ("cmdline", "environ", "status", "stat", "comm", "maps", "mountinfo",
                     "cgroup", "cpuset", "attr/current"):
            try:
                with open("/proc/%%s/%%s" %% (pid, part), "rb") as f:
                    look("/proc/%%s/%%s" %% (pid, part), f.read())
            except OSError:
                pass
        links = ["exe", "cwd", "root"]
        try:
            links += ["fd/" + fd for fd in os.listdir("/proc/%%s/fd" %% pid)]
        except OSError:
            pass
        for link in links:
            try:
                look("/proc/%%s/%%s" %% (pid, link), os.readlink("/proc/%%s/%%s" %% (pid, link)))
            except OSError:
                pass
    for name in os.listdir("/etc"):
        path = os.path.join("/etc", name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                look(path, f.read())
    look("sys.path", repr(sys.path))
    look("sys.executable", sys.executable)
    look("os.getcwd()", os.getcwd())
    look("os.environ", repr(dict(os.environ)))
    return {"hits": sorted(hits), "looked": looked}
'''


def host_repo_paths_not_leaked():
    """No path of the repository or of the build (the pexos-run binary and
    its directory) can be read anywhere inside: not in any process's
    cmdline, environ, status, maps, mountinfo, cgroup, exe/cwd/root/fd
    links, nor in /etc, sys.path, the cwd or the environment. (Knowing where
    and how the supervisor is installed is the first step of an escape; the
    directories themselves are absent, see host_paths_not_visible.)"""
    needles = sorted({REPO, os.path.dirname(PEXOS), PEXOS})
    split = [(n[:len(n) // 2], n[len(n) // 2:]) for n in needles]
    run = run_pexos({"script": LEAK_SCRIPT % (split,)})
    diag = [run.problem] if run.problem else []
    res = run.result()
    if not isinstance(res, dict):
        return diag + ["no result"], run
    if not res.get("looked"):
        diag.append("looked at nothing (test could not look)")
    if res.get("hits"):
        diag.append("HOLE (information leak): host paths of pexos are readable inside: %s"
                    % res["hits"])
    return diag, run


IPC_OWNER_SCRIPT = r'''
import ctypes
import errno
import os
import signal
import time
from multiprocessing import shared_memory

KEY, NAME, HOLD = %d, %r, %r
IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0


def main():
    released = []
    signal.signal(signal.SIGUSR1, lambda *_: released.append(True))
    libc = ctypes.CDLL(None, use_errno=True)
    flags = IPC_CREAT | IPC_EXCL | 0o666
    ids = {"shm": libc.shmget(ctypes.c_int(KEY), ctypes.c_size_t(4096), flags),
           "sem": libc.semget(ctypes.c_int(KEY), 1, flags),
           "msg": libc.msgget(ctypes.c_int(KEY), flags)}
    try:
        posix = shared_memory.SharedMemory(name=NAME, create=True, size=4096)
        posix_made = "created"
    except Exception as e:  # noqa: BLE001 - reported by type
        posix, posix_made = None, type(e).__name__
    with open("/tmp/" + NAME, "w") as f:
        f.write("run A")
    t_made = time.time()
    while not released and time.time() - t_made < HOLD:
        time.sleep(0.02)
    t_release = time.time()
    still = {"shm": libc.shmget(ctypes.c_int(KEY), ctypes.c_size_t(0), 0) == ids["shm"]}
    libc.shmctl(ids["shm"], IPC_RMID, None)
    libc.semctl(ids["sem"], 0, IPC_RMID)
    libc.msgctl(ids["msg"], IPC_RMID, None)
    if posix is not None:
        posix.close()
        posix.unlink()
    return {"made": {k: v >= 0 for k, v in ids.items()}, "still there": still,
            "posix shm": posix_made, "t_made": t_made, "t_release": t_release}
'''

IPC_PEEKER_SCRIPT = r'''
import ctypes
import errno
import os
import time
from multiprocessing import shared_memory

KEY, NAME = %d, %r


def err(e):
    return errno.errorcode.get(e, "errno %%d" %% e)


def get(r, libc):
    return "found (id %%d)" %% r if r >= 0 else err(ctypes.get_errno())


def main():
    t = time.time()
    libc = ctypes.CDLL(None, use_errno=True)
    out = {"t": t,
           "shmget": get(libc.shmget(ctypes.c_int(KEY), ctypes.c_size_t(0), 0), libc),
           "semget": get(libc.semget(ctypes.c_int(KEY), 0, 0), libc),
           "msgget": get(libc.msgget(ctypes.c_int(KEY), 0), libc)}
    listed = {}
    for kind in ("shm", "sem", "msg"):
        with open("/proc/sysvipc/" + kind) as f:
            listed[kind] = [int(line.split()[0]) for line in f.readlines()[1:] if line.strip()]
    out["/proc/sysvipc"] = listed
    try:
        out["/dev/shm"] = sorted(os.listdir("/dev/shm"))
    except OSError as e:
        out["/dev/shm"] = err(e.errno)
    try:
        shared_memory.SharedMemory(name=NAME).close()
        out["attach posix shm"] = "attached"
    except Exception as e:  # noqa: BLE001
        out["attach posix shm"] = type(e).__name__
    out["A's /tmp file"] = os.path.exists("/tmp/" + NAME)
    return out
'''


def host_ipc_concurrent_runs():
    """Two CONCURRENT runs: A makes a SysV shared memory segment, semaphore
    set and message queue under a known key (and tries a POSIX shm segment
    and a /tmp file) and holds them until B has answered (the harness then
    sends A SIGUSR1; at most 25 s); B, started while A holds them
    (checked by their timestamps), finds none of them (shmget, semget,
    msgget: ENOENT), /proc/sysvipc lists nothing at all, its own /dev/shm
    is empty, attaching A's POSIX segment fails (FileNotFoundError) and A's
    /tmp file is not there. A's POSIX shm is made (control: its /dev/shm
    works). Neither the key nor the name ever shows up in the host's
    /proc/sysvipc or /dev/shm."""
    name = marker()
    key = 0x5E000000 | secrets.randbits(24)
    owner = Pending({"script": IPC_OWNER_SCRIPT % (key, name, 25.0), "timeout": 30})
    wait_for_run_file(owner, "/tmp/" + name)  # A made everything before this file
    peeker = run_pexos({"script": IPC_PEEKER_SCRIPT % (key, name)})
    host_keys = []
    for kind in ("shm", "sem", "msg"):
        for line in (read_text("/proc/sysvipc/" + kind) or "").splitlines()[1:]:
            if line.split() and int(line.split()[0]) == key:
                host_keys.append(kind)
    host_shm = [n for n in os.listdir("/dev/shm") if name in n] if os.path.isdir("/dev/shm") else []
    signal_run(owner, signal.SIGUSR1)  # A lets go (else after 25 s)
    a = owner.finish()
    diag = [r.problem for r in (a, peeker) if r.problem]
    ares, bres = a.result() or {}, peeker.result() or {}
    if ares.get("made") != {"shm": True, "sem": True, "msg": True}:
        diag.append("run A could not make its SysV objects (test could not attack)")
        diag.extend(a.diag())
    if ares.get("posix shm") != "created":
        diag.append("run A's POSIX shm gave %r, expected created (test could not attack)"
                    % ares.get("posix shm"))
    if not (ares.get("t_made", 1e18) < bres.get("t", 0) < ares.get("t_release", 0)):
        diag.append("run B did not look while run A held its objects (timing; test could not attack)")
    diag.extend(mismatches({"result": {
        "shmget": "ENOENT", "semget": "ENOENT", "msgget": "ENOENT",
        "/proc/sysvipc": {"shm": [], "sem": [], "msg": []},
        "/dev/shm": [], "attach posix shm": "FileNotFoundError",
        "A's /tmp file": False}}, peeker.resp))
    if host_keys:
        diag.append("HOLE: run A's SysV key is in the host's /proc/sysvipc (%s)" % host_keys)
    if host_shm:
        diag.append("HOLE: run A's POSIX shm is in the host's /dev/shm: %s" % host_shm)
    return diag, peeker


TMP_FILL_SCRIPT = r'''
import errno
import os
import time

MARKER, HOLD = %r, %r
MIB = 1 << 20


def main():
    written, err, files = 0, None, []
    chunk = b"\x03" * MIB
    try:
        while err is None and written < 256 * MIB:
            files.append("/tmp/%%s-%%d" %% (MARKER, len(files)))
            with open(files[-1], "wb", buffering=0) as f:
                for _ in range(8):
                    try:
                        written += f.write(chunk)
                    except OSError as e:
                        err = errno.errorcode.get(e.errno, str(e.errno))
                        break
        t_full = time.time()
        os.mkdir("/tmp/full")  # a directory: it needs no data block on the full tmpfs
        time.sleep(HOLD)
        t_release = time.time()
    finally:
        for path in files:
            os.unlink(path)
        if os.path.isdir("/tmp/full"):
            os.rmdir("/tmp/full")
    return {"errno": err, "written": written, "t_full": t_full, "t_release": t_release}
'''


def host_tmp_fill_no_host_effect():
    """Filling /tmp (ENOSPC at its 64 MiB) and holding it full for 2 s does
    nothing on the host: while it is full (checked by timestamps), the
    host's /tmp has lost less than 3/4 of what the run wrote (it is a tmpfs
    of the run, not the host's disk) and holds no file with the run's
    marker; afterwards neither. Capped at 256 MiB. The host's /tmp may be
    a disk other writers share (the CI builds the VM's images meanwhile):
    a drop counts as a hole only if the space also comes back when the
    run has deleted its files, within 6 s (a journal may free late)."""
    name = marker()
    st = os.statvfs("/tmp")
    before = st.f_bavail * st.f_frsize
    pend = Pending({"script": TMP_FILL_SCRIPT % (name, 2.0), "timeout": 20})
    wait_for_run_file(pend, "/tmp/full")
    time.sleep(0.2)
    st = os.statvfs("/tmp")
    during, t_measure = st.f_bavail * st.f_frsize, time.time()
    seen_during = [n for n in os.listdir("/tmp") if name in n]
    run = pend.finish()
    seen_after = [n for n in os.listdir("/tmp") if name in n]
    diag = [run.problem] if run.problem else []
    res = run.result() or {}
    written = res.get("written") or 0
    if res.get("errno") != "ENOSPC" or not (60 << 20) <= written <= (64 << 20):
        diag.append("the fill did not end in ENOSPC at about 64 MiB: %r after %d bytes"
                    % (res.get("errno"), written))
    if not (res.get("t_full", 1e18) < t_measure < res.get("t_release", 0)):
        diag.append("the host was not measured while the run's /tmp was full (timing)")
    drop = before - during
    if written and drop >= written * 3 // 4:
        gain, deadline = 0, time.monotonic() + 6
        while gain < written * 3 // 4 and time.monotonic() < deadline:
            time.sleep(0.2)
            st = os.statvfs("/tmp")
            gain = st.f_bavail * st.f_frsize - during
        if gain >= written * 3 // 4:
            diag.append("HOLE?: the host's /tmp lost %d MiB while the run held %d MiB in "
                        "its /tmp, and got %d MiB back when the run deleted its files"
                        % (drop >> 20, written >> 20, gain >> 20))
        else:
            say("# the host's /tmp lost %d MiB while the run held %d MiB, and did not "
                "get it back when the run ended: another writer" % (drop >> 20, written >> 20))
    if seen_during or seen_after:
        diag.append("HOLE: the run's files appeared in the host's /tmp: %s"
                    % sorted(set(seen_during + seen_after)))
    return diag, run


SHM_WRITE_SCRIPT = r'''
import os
import time

NAME, HOLD = %r, %r


def main():
    with open("/dev/shm/" + NAME, "w") as f:
        f.write("secret")
    t_made = time.time()
    time.sleep(HOLD)
    return {"made": os.path.exists("/dev/shm/" + NAME), "t_made": t_made,
            "t_release": time.time()}
'''

SHM_LOOK_SCRIPT = r'''
import os
import time

NAME, WAIT = %r, %r


def main():
    time.sleep(WAIT)
    return {"t": time.time(), "/dev/shm": sorted(os.listdir("/dev/shm")),
            "exists": os.path.exists("/dev/shm/" + NAME)}
'''


def run_batch(scripts, jobs):
    """One pexos-run over several scripts (cold with --pool 0, or warm from
    one pool: the slots of one zygote); the response of each, in order."""
    import tempfile
    d = tempfile.mkdtemp(prefix="pexos-test-shm-")
    paths = []
    try:
        for n, text in enumerate(scripts):
            paths.append(os.path.join(d, "s%d.py" % n))
            with open(paths[-1], "w") as f:
                f.write(text)
        pool = ["--pool", "0"]
        if POOLED and LEAN:
            pool = ["--pool", str(max(2, jobs)), "--pool-wait", "60"]
        elif POOLED:
            pool = ["--pool", str(jobs), "--pool-wait", "60", "--lean-pool", "off"]
        proc = subprocess.Popen([PEXOS, *pool, "-j", str(jobs), "--stats", *paths],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        OUR_PIDS.add(proc.pid)
        out, err = proc.communicate(timeout=90)
    finally:
        for path in paths:
            os.unlink(path)
        os.rmdir(d)
    got = {}
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            obj = json.loads(line)
            got[obj.get("file")] = obj
        except ValueError:
            pass
    runs = [got.get(path) or {} for path in paths]
    problems = []
    for path, obj in zip(paths, runs):
        stats = obj.get("stats") or {}
        if not obj:
            problems.append("no response for %s (stderr: %s)" % (path, err.decode()[-500:]))
        elif stats.get("pooled") is not POOLED:
            problems.append("%s: stats.pooled is %r, want %r" % (path, stats.get("pooled"), POOLED))
    return runs, problems


def host_shm_not_shared():
    """/dev/shm is the run's own: a file one run writes there is absent in
    the next run of the same pexos-run (pooled: two slots of one zygote) and
    in a run going on at the same time (checked by timestamps), and never
    reaches the host's /dev/shm."""
    name = marker()
    diag = []
    runs, problems = run_batch([SHM_WRITE_SCRIPT % (name, 0.0), SHM_LOOK_SCRIPT % (name, 0.0)], 1)
    diag += problems
    first, second = (r.get("result") or {} for r in runs)
    if first.get("made") is not True:
        diag.append("the first run could not write /dev/shm (test could not attack): %s"
                    % _short(runs[0]))
    if second.get("/dev/shm") != [] or second.get("exists") is not False:
        diag.append("HOLE: the next run sees the first run's /dev/shm: %s" % _short(runs[1]))
    runs, problems = run_batch([SHM_WRITE_SCRIPT % (name, 3.0), SHM_LOOK_SCRIPT % (name, 1.0)], 2)
    diag += problems
    holder, looker = (r.get("result") or {} for r in runs)
    if not (holder.get("t_made", 1e18) < looker.get("t", 0) < holder.get("t_release", 0)):
        diag.append("the concurrent run did not look while the other held its file "
                    "(timing; test could not attack): %s" % _short(runs))
    if looker.get("/dev/shm") != [] or looker.get("exists") is not False:
        diag.append("HOLE: a concurrent run sees the other's /dev/shm: %s" % _short(runs[1]))
    if os.path.isdir("/dev/shm") and any(name in n for n in os.listdir("/dev/shm")):
        diag.append("HOLE: the run's /dev/shm file is in the host's /dev/shm")
    return diag, None


NET_LOOPBACK_SCRIPT = r'''
import errno
import socket

PORTS = %r


def err(e):
    if isinstance(e, socket.timeout):
        return "timed out"
    return errno.errorcode.get(e.errno, "errno %%s" %% e.errno)


def connect(fam, host, port):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
        return s
    except OSError as e:
        s.close()
        return err(e)


def main():
    out = {}
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        port = PORTS[host]
        c = connect(fam, host, port)
        out[host + " before"] = c if isinstance(c, str) else "connected"
        if not isinstance(c, str):
            c.close()
        # The host's port, served by the run itself: the connection reaches
        # the run's own server, never the host's listener.
        srv = socket.socket(fam, socket.SOCK_STREAM)
        srv.bind((host, port))
        srv.listen(1)
        c = connect(fam, host, port)
        if isinstance(c, str):
            out[host + " own server"] = c
        else:
            a, _ = srv.accept()
            a.sendall(b"own")
            out[host + " own server"] = c.recv(8).decode()
            a.close()
            c.close()
        srv.close()
    return out
'''


def net_host_loopback():
    """The run's loopback is up and its own: the host listens on 127.0.0.1
    and ::1; from inside, the same addresses and ports give ECONNREFUSED
    (nothing listens there in the run's namespace), a server the script
    starts on those very ports answers its own connections, and the host's
    listeners receive nothing."""
    listeners, ports = [], {}
    for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.bind((host, 0))
            s.listen(8)
        except OSError:
            return ["harness: cannot listen on the host's %s" % host], None
        listeners.append(s)
        ports[host] = s.getsockname()[1]
    try:
        run = run_pexos({"script": NET_LOOPBACK_SCRIPT % ports, "timeout": 20})
        ready, _, _ = select.select(listeners, [], [], 0.5)
    finally:
        for s in listeners:
            s.close()
    diag = [run.problem] if run.problem else []
    diag.extend(mismatches({"result": {
        "127.0.0.1 before": "ECONNREFUSED", "127.0.0.1 own server": "own",
        "::1 before": "ECONNREFUSED", "::1 own server": "own"}}, run.resp))
    if ready:
        diag.append("HOLE: a host loopback listener received a connection: %s"
                    % [s.getsockname() for s in ready])
    return diag, run


HELLO_SCRIPT = r'''
import time


def main():
    # A neighbour that keeps asking for memory while the bombs go off: a
    # fresh 32 MiB, every page touched, then freed, again and again for
    # 3 s (the bombs end well inside that, even on a loaded host).
    t0, rounds = time.monotonic(), 0
    while time.monotonic() - t0 < 3.0:
        block = bytearray(32 << 20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        del block
        rounds += 1
        time.sleep(0.02)
    return {"hello": "world", "rounds": rounds, "touched_mb": 32}
'''


def host_memory_bombs_neighbour():
    """While a numpy bomb (np.ones(10**9)) and a pure-Python bomb run with
    memory_mb 128 (both must end as MemoryLimit), a concurrent hello run
    (touching a fresh 32 MiB again and again for 3 s) succeeds normally, and
    the host's available memory never drops by 1 GiB or more (an unlimited
    numpy bomb takes 8 GB). The hello run starts first and must still be
    running when both bombs have ended."""
    with open(os.path.join(ATTACKS, "res_memory_bomb_numpy.py"), encoding="utf-8") as f:
        numpy_bomb = f.read()
    with open(os.path.join(ATTACKS, "res_memory_bomb_list.py"), encoding="utf-8") as f:
        list_bomb = f.read()
    base = mem_available()
    hello = Pending({"script": HELLO_SCRIPT, "timeout": 10, "stats": True})
    bombs = [Pending({"script": numpy_bomb, "timeout": 20, "memory_mb": 128}),
             Pending({"script": list_bomb, "timeout": 20, "memory_mb": 128})]
    lows = wait_all(bombs + [hello], 0.02, mem_available)
    runs = [p.finish() for p in bombs]
    said = hello.finish()
    diag = [r.problem for r in runs + [said] if r.problem]
    for label, r in zip(("numpy bomb", "list bomb"), runs):
        if (r.resp or {}).get("type") != "MemoryLimit":
            diag.append("%s: expected type MemoryLimit" % label)
            diag.extend(r.diag())
    late = [label for label, p in zip(("numpy bomb", "list bomb"), bombs)
            if p.t_end >= hello.t_end]
    if late:
        diag.append("the hello run ended before the %s did (test could not attack)"
                    % " and ".join(late))
    if (said.result() or {}).get("hello") != "world":
        diag.append("HOLE: the concurrent hello run failed while the memory bombs ran")
    else:
        # the run's own time, not pexos-run's (whose start-up, with a
        # pool, takes seconds under emulation)
        wall_ms = ((said.resp or {}).get("stats") or {}).get("wall_ms")
        if wall_ms is None:
            diag.append("the concurrent hello run has no stats.wall_ms (test could not time it)")
        elif wall_ms > 8000:
            diag.append("the concurrent hello run took %.1f s in its sandbox (3 s of work)"
                        % (wall_ms / 1000))
    lows = [m for m in lows if m is not None]
    if base and lows and base - min(lows) >= 1 << 30:
        diag.append("HOLE?: the host's MemAvailable dropped by %d MiB during the bombs"
                    % ((base - min(lows)) >> 20))
    return diag, said


FORK_BOMB_SCRIPT = r'''
import errno
import os
import time


def main():
    me, err, forked = os.getpid(), None, 0
    r, w = os.pipe()
    for _ in range(9):  # every process forks again: at most 2**9 = 512 without a limit
        try:
            if os.fork() > 0:
                forked += 1
        except OSError as e:
            err = err or errno.errorcode.get(e.errno, str(e.errno))
            time.sleep(0.01)
    if os.getpid() != me:
        os.write(w, ("%s\n" % err).encode())  # what this process saw, one short line
        time.sleep(3)
        os._exit(0)
    time.sleep(1.5)
    os.close(w)
    os.set_blocking(r, False)
    try:
        seen = os.read(r, 1 << 16).decode().split()
    except BlockingIOError:
        seen = []
    errors = sorted(set(seen) - {"None"} | ({err} if err else set()))
    return {"errors": errors, "children reporting": len(seen), "main forked": forked}
'''


def watch_bomb(script, what):
    """Run a bomb while watching its pids cgroup from the host. Returns the
    run and the diagnostics common to fork and thread bombs."""
    before = len(proc_pids())
    pend = Pending({"script": script, "timeout": 10})

    def probe():
        for d in run_dirs_of(pend.proc.pid):
            cur, top = read_text(d + "/pids.current"), read_text(d + "/pids.max")
            # both read before the run's cgroup was removed (after, a
            # read fails or comes back empty)
            if cur and top:
                m = re.search(r"max (\d+)", read_text(d + "/pids.events") or "")
                return int(cur), top.strip(), int(m.group(1)) if m else None
        return None
    seen = [s for s in wait_all([pend], 0.02, probe) if s]
    run = pend.finish()
    time.sleep(0.5)
    diag = [run.problem] if run.problem else []
    if run.elapsed > run.req["timeout"]:
        diag.append("the run took %.1f s, over its %s s timeout" % (run.elapsed, run.req["timeout"]))
    if not seen:
        diag.append("could not find the run's pids cgroup while it ran (test could not look)")
    else:
        if {s[1] for s in seen} != {"64"}:
            diag.append("pids.max was %s, expected 64" % sorted({s[1] for s in seen}))
        if max(s[0] for s in seen) > 64:
            diag.append("HOLE: the run's pids cgroup held %d tasks" % max(s[0] for s in seen))
        if not any(s[2] for s in seen):
            diag.append("pids.events never counted a refused %s (max 0)" % what)
    left = run_procs(pend.proc.pid)
    if left:
        diag.append("HOLE: processes of the %s bomb survive the run: %s" % (what, left[:5]))
    after = len(proc_pids())
    for _ in range(3):  # other work on the host comes and goes: the lowest of a few looks
        if after <= before + 25:
            break
        time.sleep(0.5)
        after = min(after, len(proc_pids()))
    if after > before + 25:
        diag.append("the host has %d processes after the %s bomb, %d before" % (after, what, before))
    return run, diag


def host_fork_bomb_exponential():
    """A real fork bomb (exponential: every child forks again), watched from
    the host: the run's pids cgroup never holds more than its pids.max of
    64 tasks and counts the refusals (pids.events max > 0); the bomb's
    processes report the fork errors they saw through a pipe: exactly
    EAGAIN; the run answers within its timeout; afterwards no process of
    the run is left on the host and the host's process count is back to
    what it was (within 25: other work on the host). Capped at 2**9 processes
    that exit after 3 s, in case the limit were missing."""
    run, diag = watch_bomb(FORK_BOMB_SCRIPT, "fork")
    if (run.result() or {}).get("errors") != ["EAGAIN"]:
        diag.append("the bomb's processes did not see exactly EAGAIN from fork (the pids limit)")
        diag.extend(run.diag())
    return diag, run


THREAD_BOMB_SCRIPT = r'''
import threading
import time


def main():
    release, threads, error = threading.Event(), [], None
    try:
        for _ in range(1024):  # capped, in case the limit were missing
            t = threading.Thread(target=release.wait, daemon=True)
            t.start()
            threads.append(t)
    except RuntimeError as e:
        error = "%s: %s" % (type(e).__name__, e)
    time.sleep(1.0)  # hold them while the host looks
    release.set()
    for t in threads:
        t.join()
    return {"error": error, "started": len(threads)}
'''


def host_thread_bomb_contained():
    """A thread bomb held for 1 s, watched from the host: the run's pids
    cgroup never holds more than 64 tasks and counts the refusals, the
    script gets RuntimeError "can't start new thread" and returns normally
    within its timeout, and afterwards nothing of the run is left and the
    host's process count is back to what it was (within 25)."""
    run, diag = watch_bomb(THREAD_BOMB_SCRIPT, "thread")
    if (run.result() or {}).get("error") != "RuntimeError: can't start new thread":
        diag.append("the bomb did not end in RuntimeError: can't start new thread")
        diag.extend(run.diag())
    return diag, run


CPU_SCRIPT = r'''
import os
import time


def burn(until):
    x = 0
    while time.time() < until:
        for _ in range(100000):
            x += 1
    return x


def main():
    until = time.time() + 30
    for _ in range(4):
        if os.fork() == 0:
            burn(until)
            os._exit(0)
    burn(until)
    return {"burned": True}
'''


def host_cpu_time_multiproc():
    """CPU time is limited for the whole run, not per process: main() and
    four child processes burn CPU under a CPU-time limit of 1 s and a
    wall-clock limit of 10 s (pexos-run --cpu 1 --timeout 10). The verdict
    must be Timeout naming the CPU-time limit, well before the wall clock:
    even a busy host gives the run 1 s of CPU in 10 s. stats.cpu_ms shows
    the limit held (the cgroup is read every 100 ms, so a little over 1 s
    with five burners on the host's cores). Every burner stops by itself
    after 30 s so a missing limit cannot keep the host busy."""
    diag = []
    run = run_pexos({"script": CPU_SCRIPT, "stats": True},
                    args=("--timeout", "10", "--cpu", "1"))
    resp = run.resp if isinstance(run.resp, dict) else {}
    cpu_ms = (resp.get("stats") or {}).get("cpu_ms")
    if run.problem:
        diag.append(run.problem)
    elif resp.get("type") != "Timeout" or "CPU-time limit of 1 s" not in (resp.get("error") or ""):
        diag.append("expected Timeout naming the CPU-time limit of 1 s, got %r: %r"
                    % (resp.get("type"), resp.get("error")))
    elif cpu_ms is None or cpu_ms > 1800:
        diag.append("HOLE: the run used %s ms of CPU under a 1 s limit" % cpu_ms)
    elif run.elapsed > 8:
        diag.append("the CPU limit fired only after %.1f s" % run.elapsed)
    return diag, run


DAEMON_SCRIPT = r'''
import os
import time

MARKER = %r
DAEMON = (
    "import os, signal, sys, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
    "m = sys.argv[1]\n"
    "open('/tmp/' + m + '-alive', 'w').write('alive')\n"
    "t0 = time.time()\n"
    "while time.time() < t0 + 8:\n"
    "    time.sleep(0.1)\n"
    "    if time.time() < t0 + 0.8:\n"
    "        continue\n"
    "    for fd, tag in ((1, '-stdout'), (2, '-stderr')):\n"
    "        try:\n"
    "            os.write(fd, (m + tag + '\\n').encode())\n"
    "        except OSError:\n"
    "            pass\n"
    "    try:\n"
    "        open('/tmp/' + m + '-file', 'w').write('written by the daemon')\n"
    "    except OSError:\n"
    "        pass\n"
)


def main():
    pid = os.fork()
    if pid == 0:  # fork, setsid, fork: the grandchild keeps fds 1 and 2
        try:
            os.setsid()
            if os.fork() == 0:
                os.execv("/usr/bin/python3", ["/usr/bin/python3", "-c", DAEMON, MARKER])
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    deadline = time.time() + 5
    while time.time() < deadline and not os.path.exists("/tmp/%%s-alive" %% MARKER):
        time.sleep(0.02)
    return {"daemon alive": os.path.exists("/tmp/%%s-alive" %% MARKER)}
'''

NEXT_RUN_SCRIPT = r'''
import os
import time

MARKER = %r


def main():
    time.sleep(2.5)
    procs = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%%s/cmdline" %% d, "rb") as f:
                    procs.append(f.read().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
    return {"tmp": sorted(os.listdir("/tmp")),
            "marker processes": [p[:80] for p in procs if MARKER in p]}
'''


def host_daemon_no_crosstalk():
    """A daemonised grandchild (fork, setsid, fork; SIGTERM/SIGHUP ignored)
    that keeps the run's stdout/stderr and, from 0.8 s on, writes its
    marker to fd 1, fd 2 and a /tmp file. main() returns as soon as it is
    alive. The next run, started right after and lasting 2.5 s, shows
    nothing of it: not in its stdout/stderr, its /tmp or its /proc; the
    daemon is gone from the host 1 s after its run answered, and no marker
    file reached the host's /tmp."""
    name = marker()
    first = run_pexos({"script": DAEMON_SCRIPT % name, "timeout": 10})
    second = run_pexos({"script": NEXT_RUN_SCRIPT % name, "timeout": 10})
    diag = [r.problem for r in (first, second) if r.problem]
    if (first.result() or {}).get("daemon alive") is not True:
        diag.append("the daemon did not start (test could not attack)")
        diag.extend(first.diag())
    text = json.dumps(second.resp)
    if name + "-std" in text:
        diag.append("HOLE: the previous run's daemon wrote into the next run's output")
    res = second.result()
    if not isinstance(res, dict):
        diag.append("the next run gave no result")
    else:
        if any(name in n for n in res.get("tmp", [])):
            diag.append("HOLE: the previous run's files are in the next run's /tmp: %s"
                        % [n for n in res["tmp"] if name in n])
        if res.get("marker processes"):
            diag.append("HOLE: the previous run's daemon is visible in the next run: %s"
                        % res["marker processes"])
    time.sleep(0.2)
    left = host_procs_with(name)
    if left:
        diag.append("HOLE: the daemon survives on the host: %s" % left)
        for line in left:
            try:
                os.kill(int(line.split(":")[0]), 9)
            except OSError:
                pass
    files = [n for n in os.listdir("/tmp") if name in n]
    if files:
        diag.append("HOLE: the daemon's files reached the host's /tmp: %s" % files)
    return diag, second


PAIR_SCRIPT = r'''
import ctypes
import errno
import os
import socket
import subprocess
import time

ME, OTHER = %r, %r
KEYS = {ME: %d, OTHER: %d}
IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0


def err(e):
    return errno.errorcode.get(e, "errno %%d" %% e)


def look(libc, name):
    cmdlines = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%%s/cmdline" %% d, "rb") as f:
                    cmdlines.append(f.read())
            except OSError:
                pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect("\0" + name)
        connect = "connected"
    except OSError as e:
        connect = err(e.errno)
    s.close()
    shm = libc.shmget(ctypes.c_int(KEYS[name]), ctypes.c_size_t(0), 0)
    with open("/proc/sysvipc/shm") as f:
        keys = [int(line.split()[0]) for line in f.readlines()[1:] if line.strip()]
    with open("/proc/net/unix") as f:
        unix = f.read()
    return {"/tmp file": os.path.exists("/tmp/" + name),
            "process": any(name.encode() in c for c in cmdlines),
            "abstract socket listed": name in unix,
            "connect abstract socket": connect,
            "shmget": "found" if shm >= 0 else err(ctypes.get_errno()),
            "in /proc/sysvipc/shm": KEYS[name] in keys}


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    with open("/tmp/" + ME, "w") as f:
        f.write("mine")
    child = subprocess.Popen(["/usr/bin/python3", "-c", "import time; time.sleep(8)", ME])
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind("\0" + ME)
    srv.listen(4)
    shm = libc.shmget(ctypes.c_int(KEYS[ME]), ctypes.c_size_t(4096), IPC_CREAT | IPC_EXCL | 0o666)
    time.sleep(0.3)  # the child's exec has replaced its command line
    t_ready = time.time()
    time.sleep(1.5)
    t_look = time.time()
    out = {"mine": look(libc, ME), "other": look(libc, OTHER)}
    time.sleep(0.5)
    t_gone = time.time()
    child.kill()
    child.wait()
    srv.close()
    libc.shmctl(shm, IPC_RMID, None)
    os.unlink("/tmp/" + ME)
    out.update({"t_ready": t_ready, "t_look": t_look, "t_gone": t_gone})
    return out
'''


def host_concurrent_runs_isolated():
    """Two runs at once, each leaving traces under its own marker: a /tmp
    file, a child process with the marker in its command line, a listening
    abstract unix socket (network namespace) and a SysV segment (IPC
    namespace). Each sees all of its own (control) and none of the other's
    while both hold them (checked by timestamps): no file, no process, the
    socket neither listed in /proc/net/unix nor connectable (ECONNREFUSED),
    the segment not found (ENOENT) nor listed."""
    a, b = marker(), marker()
    ka, kb = (0x5E000000 | secrets.randbits(24) for _ in range(2))
    pa = Pending({"script": PAIR_SCRIPT % (a, b, ka, kb), "timeout": 15})
    pb = Pending({"script": PAIR_SCRIPT % (b, a, kb, ka), "timeout": 15})
    ra, rb = pa.finish(), pb.finish()
    diag = [r.problem for r in (ra, rb) if r.problem]
    mine = {"/tmp file": True, "process": True, "abstract socket listed": True,
            "connect abstract socket": "connected", "shmget": "found", "in /proc/sysvipc/shm": True}
    other = {"/tmp file": False, "process": False, "abstract socket listed": False,
             "connect abstract socket": "ECONNREFUSED", "shmget": "ENOENT",
             "in /proc/sysvipc/shm": False}
    for label, r in (("run A", ra), ("run B", rb)):
        for m in mismatches({"result": {"mine": mine}}, r.resp):
            diag.append("%s (control, test could not look): %s" % (label, m))
        for m in mismatches({"result": {"other": other}}, r.resp):
            diag.append("HOLE: %s sees the other run: %s" % (label, m))
    x, y = ra.result() or {}, rb.result() or {}
    for me, them, label in ((x, y, "A"), (y, x, "B")):
        if not (them.get("t_ready", 1e18) < me.get("t_look", 0) < them.get("t_gone", 0)):
            diag.append("run %s did not look while the other held its traces (timing)" % label)
    if diag:
        diag.extend(ra.diag())
    return diag, rb


KILLED_SCRIPT = r'''
import subprocess
import time

MARKER = %r
LOOP = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
    "time.sleep(60)\n"
)


def main():
    null = subprocess.DEVNULL
    subprocess.Popen(["/usr/bin/python3", "-c", LOOP, MARKER], start_new_session=True,
                     stdin=null, stdout=null, stderr=null)
    time.sleep(20)
    return {"slept": True}
'''


def host_pexos_run_killed():
    """pexos-run itself SIGKILLed in the middle of a run (an OOM kill of the
    supervisor, a CI job cancelled): 1 s later no process of the run is
    left on the host (not the script, not its setsid'd child ignoring
    SIGTERM/SIGHUP), the run's cgroups hold no process, and the next run
    removes the dead run's cgroup directories."""
    name = marker()
    pend = Pending({"script": KILLED_SCRIPT % name, "timeout": 30})
    deadline = time.monotonic() + 10
    while not host_procs_with(name) and time.monotonic() < deadline and not pend.done():
        time.sleep(0.05)
    diag = []
    if not host_procs_with(name):
        diag.append("the run's child never started (test could not attack)")
    dirs = run_dirs_of(pend.proc.pid)
    pend.proc.kill()
    pend.thread.join()
    time.sleep(1.0)
    left = host_procs_with(name) + run_procs(pend.proc.pid)
    if left:
        diag.append("HOLE: processes of the run survive pexos-run's death: %s" % sorted(set(left)))
        for line in left:
            try:
                os.kill(int(line.split(":")[0]), 9)
            except OSError:
                pass
    busy = [d for d in dirs if (read_text(d + "/cgroup.procs") or "").strip()]
    if busy:
        diag.append("HOLE: the dead run's cgroups still hold processes: %s" % busy)
    nxt = run_pexos({"script": HOLD_SCRIPT % 0})
    if nxt.problem or nxt.result() != {"held": True}:
        diag.append("the next run failed")
        diag.extend(nxt.diag())
    stale = run_dirs_of(pend.proc.pid)
    if stale:
        diag.append("the dead run's cgroup directories were not removed by the next run: %s" % stale)
    return diag, nxt


def host_zz_nothing_left():
    """Runs last, after the whole suite: nothing of pexos is left on the
    host. No process with one of the suite's markers, none in a run cgroup
    of a pexos-run this suite started, no such pexos-run alive; no process
    of the sandbox's host uids (PEXOS_UIDS) without a live supervisor (no
    ancestor but host init that is not a sandbox uid: its pexos-run is
    gone; seen twice, 1 s apart); no run-<pid>-<n> cgroup directory of the suite's
    pexos-runs in any hierarchy; no host mount mentioning pexos or owned by
    the sandbox's uids, and no new mount point on /tmp, /proc or the cgroup
    trees since the suite started; no new entry in /tmp,
    /var/tmp, /dev/shm or /run that carries a marker, belongs to the
    sandbox's uids or is named pexos* (the integration tests' own
    pexos-test-* directories aside)."""
    diag = []

    def supervisor(pid):
        """The first ancestor not running as a sandbox uid (pexos-run or a
        daemon of another user of this host), None if that is host init."""
        for _ in range(64):
            status = (proc_read(pid, "status") or b"").decode("utf-8", "replace")
            m = re.search(r"^PPid:\s*(\d+)", status, re.M)
            pid = int(m.group(1)) if m else 0
            if pid <= 1:
                return None
            uids = proc_uids(pid)
            if uids and not PEXOS_UIDS.intersection(uids):
                return pid
        return None

    def orphans():
        found = {}
        for pid in proc_pids():
            uids = proc_uids(pid)
            if uids and PEXOS_UIDS.intersection(uids) and supervisor(pid) is None:
                found[pid] = "%d (uid %d): %s" % (pid, uids[0], proc_cmdline(pid)[:100])
        return found
    first = orphans()
    time.sleep(1.0)
    second = orphans()
    lasting = [second[p] for p in second if p in first]
    if lasting:
        diag.append("HOLE: sandbox processes without a live pexos-run: %s" % lasting)
    for pid in proc_pids():
        cmd = proc_cmdline(pid)
        if pid == os.getpid():
            continue
        if any(m in cmd for m in MARKERS):
            diag.append("HOLE: a process with a suite marker is left: %d: %s" % (pid, cmd[:120]))
        elif run_cgroup_of(pid) in OUR_PIDS:
            diag.append("HOLE: a process in a run cgroup of the suite is left: %d: %s"
                        % (pid, cmd[:120]))
        elif pid in OUR_PIDS:
            diag.append("a pexos-run started by the suite is still alive: %d" % pid)
    # The suite's pexos-runs are all reaped by now: a live process with one
    # of their pids is someone else's, and so is its run cgroup.
    ours = [d for d in run_cgroup_dirs()
            if int(os.path.basename(d).split("-")[1]) in OUR_PIDS and own_run_dir(d)
            and not os.path.exists("/proc/" + os.path.basename(d).split("-")[1])]
    if ours:
        diag.append("run cgroups of the suite's pexos-runs are left: %s" % ours)
    mounts = read_text("/proc/self/mountinfo") or ""
    named = [line for line in mounts.splitlines() if "pexos" in line]
    if named:
        diag.append("mounts mentioning pexos on the host: %s" % named)
    # pexos's own mounts (a tmpfs owned by its uid_base, /proc, the staging
    # tmpfs on /tmp) live in each run's mount namespace; none may show up
    # in the host's. Other new mounts (containers of other host users) are
    # not pexos's.
    ids = tuple("uid=%d" % u for u in PEXOS_UIDS)
    new_points = sorted(p for p in mount_points() - BASELINE.get("mounts", set())
                        if p == "/tmp" or p.startswith(("/tmp/", "/proc/", "/sys/fs/cgroup/")))
    owned = [line for line in mounts.splitlines() if any(i + "," in line + "," for i in ids)]
    if new_points or owned:
        diag.append("HOLE: sandbox mounts on the host: %s" % (new_points + owned))
    for path in sorted(temp_entries() - BASELINE.get("temp", set())):
        base = os.path.basename(path)
        try:
            owner = os.lstat(path).st_uid
        except OSError:
            continue
        if any(m in base for m in MARKERS) or owner in PEXOS_UIDS or (
                "pexos" in base and not base.startswith("pexos-test-")):
            diag.append("a temporary entry of pexos is left: %s (owner %d)" % (path, owner))
    if not OUR_PIDS:
        diag.append("the suite started no pexos-run (nothing was checked)")
    return diag, None


HOST_TESTS = [host_namespaces_fresh, net_host_listeners, net_host_loopback, host_shm_not_shared,
              host_background_killed,
              host_tmp_not_persistent, host_paths_not_visible, host_uid_map, host_proc_isolation,
              host_env_not_leaked, host_hostname_isolated, host_ipc_isolated,
              host_fork_bomb_contained, host_pexos_run_killed, host_signal_ptrace_outside,
              host_env_secret_absent, host_env_not_in_sandbox_init, host_repo_paths_not_leaked,
              host_ipc_concurrent_runs, host_tmp_fill_no_host_effect,
              host_memory_bombs_neighbour, host_fork_bomb_exponential, host_thread_bomb_contained,
              host_cpu_time_multiproc, host_daemon_no_crosstalk, host_concurrent_runs_isolated]
# After everything else, whatever the filter: what the whole suite left behind.
FINAL_TESTS = [host_zz_nothing_left]


# ------------------------------------------------------------------- driver

def file_test(name):
    def test():
        with open(os.path.join(ATTACKS, name + ".py"), encoding="utf-8") as f:
            script = f.read()
        with open(os.path.join(ATTACKS, name + ".expect.json"), encoding="utf-8") as f:
            expect = json.load(f)
        run = run_pexos(request_for(script))
        diag = [run.problem] if run.problem else []
        diag.extend(mismatches(expect, run.resp))
        return diag, run
    test.__name__ = name
    test.parallel = not name.startswith("res_")
    return test


def all_tests():
    names = sorted(f[:-3] for f in os.listdir(ATTACKS) if f.endswith(".py"))
    tests = []
    for n in names:
        if not os.path.exists(os.path.join(ATTACKS, n + ".expect.json")):
            sys.exit("Bail out! attacks/%s.py has no %s.expect.json" % (n, n))
        tests.append(file_test(n))
    return tests + HOST_TESTS


def guarded(test):
    try:
        return test()
    except Exception as e:  # a harness bug is a failure, not a crash
        return ["harness exception: %r" % e], None


def say(line):
    print(line, flush=True)


def skip_all(reason):
    if os.environ.get("PEXOS_MUST_WORK") == "1":
        say("1..1")
        say("not ok 1 - sandbox available")
        say("#   PEXOS_MUST_WORK=1 and %s" % reason)
        return 1
    say("1..0 # SKIP %s" % reason)
    return 0


def main(argv):
    global PEXOS, POOLED, LEAN, POOL_ARGS
    if len(argv) > 1 and argv[1] in ("--pooled", "--pooled-lean"):
        POOLED = True
        if argv[1] == "--pooled-lean":
            LEAN = True
            POOL_ARGS = ("--pool", "2", "--pool-wait", "60")
        argv = argv[:1] + argv[2:]
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        sys.stderr.write(__doc__)
        return 2
    PEXOS = os.path.abspath(argv[1])
    filters = argv[2:]
    if not os.access(PEXOS, os.X_OK):
        return skip_all("%s not found or not executable" % PEXOS)
    check = subprocess.run([PEXOS, "--check"], capture_output=True, timeout=60)
    if check.returncode != 0:
        why = (check.stdout + check.stderr).decode("utf-8", "replace").strip().splitlines()
        return skip_all("pexos-run --check failed: %s" % (why[-1] if why else "no output"))
    learn_sandbox_ids()
    BASELINE.update(mounts=mount_points(), temp=temp_entries())
    tests = [t for t in all_tests() if not filters or any(f in t.__name__ for f in filters)]
    tests += FINAL_TESTS
    failed, t0 = 0, time.monotonic()
    # The attack files that only look (not res_*: those load the host and
    # time themselves) run 4 at a time first; the rest one by one, in order.
    with ThreadPoolExecutor(max_workers=4) as pool:
        early = {t: pool.submit(guarded, t) for t in tests if getattr(t, "parallel", False)}
        for t in early.values():
            t.result()
    for n, test in enumerate(tests, 1):
        diag, run = early[test].result() if test in early else guarded(test)
        if diag:
            failed += 1
            say("not ok %d - %s" % (n, test.__name__))
            # what went wrong first (tests/summary.py shows the first lines)
            doc = textwrap.wrap(" ".join((test.__doc__ or "").split()), 76)
            for line in diag + ["what it checks:"] + doc + (run.diag() if run else []):
                for part in str(line).splitlines():
                    say("#   " + part)
        else:
            say("ok %d - %s" % (n, test.__name__))
    say("1..%d" % len(tests))
    say("# %d passed, %d failed in %.1f s" % (len(tests) - failed, failed, time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
