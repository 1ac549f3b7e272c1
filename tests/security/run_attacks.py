#!/usr/bin/python3
"""pexos sandbox attack suite, a TAP producer.

Usage: run_attacks.py PATH/TO/pexos-run [NAME-FILTER...]

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
  second run, an environment variable, a SysV segment) are the host_* and
  net_host_* functions below.

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
import socket
import subprocess
import sys
import textwrap
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ATTACKS = os.path.join(HERE, "attacks")
REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_TIMEOUT = 10
GRACE = 10  # seconds a run may take beyond its timeout before it is a failure
HEADER = re.compile(r"#\s*pexos:\s*(\{.*\})\s*$")
EXIT_FOR_TYPE = {"InvalidRequest": 2, "SandboxError": 3}

PEXOS = None


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
    """A pexos-run started in the background; finish() waits for it."""

    def __init__(self, req, env=None):
        self.req, self.t0 = req, time.monotonic()
        self.proc = subprocess.Popen([PEXOS, "--json", "-"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def finish(self):
        req, proc = self.req, self.proc
        try:
            out, err = proc.communicate(json.dumps(req).encode(),
                                        timeout=req.get("timeout", DEFAULT_TIMEOUT) + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return Run(req, None, None, "", time.monotonic() - self.t0,
                       "no answer within timeout + 30 s (pexos-run killed)")
        return judge(req, out, err, proc.returncode, time.monotonic() - self.t0)


def run_pexos(req, env=None):
    return Pending(req, env).finish()


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
    if elapsed > timeout + GRACE:
        problems.append("took %.1f s for a %s s timeout" % (elapsed, timeout))
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


def start_marker_process(marker):
    """A harmless host process carrying marker in its command line."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", marker],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(proc):
    proc.kill()
    proc.wait()


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
    return "pexos-sec-" + secrets.token_hex(8)


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
    abstract unix socket) are unreachable from inside: TCP gives ENETUNREACH
    or ECONNREFUSED (EADDRNOTAVAIL for IPv6 with lo down), the abstract socket
    ECONNREFUSED (its namespace belongs to the netns), and nothing ever
    arrives on the host side."""
    listeners, tcp, udp, allowed = [], [], [], {}
    t4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t4.bind(("0.0.0.0", 0))
    t4.listen(8)
    listeners.append(t4)
    port = t4.getsockname()[1]
    for addr in ["127.0.0.1"] + host_local_ipv4():
        label = "tcp %s:%d" % (addr, port)
        tcp.append([label, "inet", addr, port])
        allowed[label] = {"ENETUNREACH", "ECONNREFUSED"}
    try:
        t6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        t6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        t6.bind(("::1", 0))
        t6.listen(8)
        listeners.append(t6)
        label = "tcp [::1]:%d" % t6.getsockname()[1]
        tcp.append([label, "inet6", "::1", t6.getsockname()[1]])
        allowed[label] = {"EADDRNOTAVAIL", "ENETUNREACH", "ECONNREFUSED"}
    except OSError:
        pass  # no IPv6 on this host: nothing to reach
    u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u4.bind(("0.0.0.0", 0))
    listeners.append(u4)
    label = "udp 127.0.0.1:%d" % u4.getsockname()[1]
    udp.append([label, "inet", "127.0.0.1", u4.getsockname()[1]])
    # With lo down (the design) there is no route; with a private lo up the
    # datagram is "sent" into the sandbox's own lo. Either way it must not
    # arrive here, which is checked below.
    allowed[label] = {"ENETUNREACH", "sent"}
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


HOST_TESTS = [host_namespaces_fresh, net_host_listeners, host_background_killed,
              host_tmp_not_persistent, host_paths_not_visible, host_uid_map, host_proc_isolation,
              host_env_not_leaked, host_hostname_isolated, host_ipc_isolated,
              host_fork_bomb_contained]


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
    return test


def all_tests():
    names = sorted(f[:-3] for f in os.listdir(ATTACKS) if f.endswith(".py"))
    tests = []
    for n in names:
        if not os.path.exists(os.path.join(ATTACKS, n + ".expect.json")):
            sys.exit("Bail out! attacks/%s.py has no %s.expect.json" % (n, n))
        tests.append(file_test(n))
    return tests + HOST_TESTS


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
    global PEXOS
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
    tests = [t for t in all_tests() if not filters or any(f in t.__name__ for f in filters)]
    failed, t0 = 0, time.monotonic()
    for n, test in enumerate(tests, 1):
        try:
            diag, run = test()
        except Exception as e:  # a harness bug is a failure, not a crash
            diag, run = ["harness exception: %r" % e], None
        if diag:
            failed += 1
            say("not ok %d - %s" % (n, test.__name__))
            doc = textwrap.wrap(" ".join((test.__doc__ or "").split()), 76)
            for line in doc + diag + (run.diag() if run else []):
                for part in str(line).splitlines():
                    say("#   " + part)
        else:
            say("ok %d - %s" % (n, test.__name__))
    say("1..%d" % len(tests))
    say("# %d passed, %d failed in %.1f s" % (len(tests) - failed, failed, time.monotonic() - t0))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
