#!/usr/bin/python3
"""HTTP tests for pexos-httpd, speaking TAP.

usage: /usr/bin/python3 tests/http/test_http.py PEXOS_HTTPD REPO_ROOT

Starts real daemons on 127.0.0.1 (a free port each, --port 0) and drives
them over loopback against SPEC.md sections 3 and 7: every status code of
/execute, malformed HTTP and hostile JSON, body and connection limits,
concurrency and Busy, bearer tokens, SIGTERM, /health, /metrics, the log
line, the curl examples of README.md and pexos-httpd(8), and the refusal to
start where the sandbox cannot work.

Each group of cases whose daemon needs different flags gets a daemon of its
own, started on first use and stopped at the end. Cases run one after the
other: several of them count requests or time them.

Standard library only: run it with Debian's /usr/bin/python3.
Environment:
  PEXOS_MUST_WORK  when 1, a missing binary or a host where the daemon
                   refuses to start is a failure, not a skip
  PEXOS_TEST_CASES a regular expression: run only the cases it matches
Exit: 0 all passed, 1 something failed, 77 skipped.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (STARTED_DAEMONS, Daemon, DaemonFailed,  # noqa: E402,F401
                     NotStrictJSON, Obj, cgroup_v1_dirs, clip, in_thread,
                     remove_cgroup_tree, request, same, short, strict_loads,
                     subset_problems)

HELLO = 'def main():\n    return {"message": "Hello, World!"}\n'
HELLO_RESULT = {"message": "Hello, World!"}
# Guard for one HTTP exchange; no case should come close to it.
HTTP_TIMEOUT = 60
# How long a daemon may take to print its "listening" line (it runs a test
# sandbox importing numpy and pandas first).
START_TIMEOUT = 60

EXE = None
REPO_ROOT = None
WORKDIR = tempfile.mkdtemp(prefix="pexos-test-http-")


# --------------------------------------------------------------- JSON helpers


DAEMON_SPECS = {}
DAEMONS = {}
ALL_DAEMONS = STARTED_DAEMONS  # every daemon started, for the final check


def make_daemon(name, args=(), **kw):
    return Daemon(EXE, name, args, start_timeout=START_TIMEOUT, **kw)


def spec(name, *args, **kw):
    DAEMON_SPECS[name] = (args, kw)


def daemon(name):
    """The running daemon of that spec, started on first use."""
    d = DAEMONS.get(name)
    if d is None or not d.alive():
        args, kw = DAEMON_SPECS[name]
        d = make_daemon(name, args, **kw)
        DAEMONS[name] = d
        d.start()
    return d


def fresh_daemon(name):
    """A daemon of that spec of its own (for cases that end it)."""
    args, kw = DAEMON_SPECS[name]
    return make_daemon(name, args, **kw).start()


TOKEN = "s3cret-" + uuid.uuid4().hex
OTHER_TOKEN = "other-" + uuid.uuid4().hex
TOKEN_FILE = os.path.join(WORKDIR, "token")
with open(TOKEN_FILE, "w") as _f:
    _f.write(TOKEN + "\n")
NO_CGROUP = ["unshare", "-m", "sh", "-c",
             'mount -t tmpfs none /sys/fs/cgroup && exec "$0" "$@"']

# main: the documented defaults, but two workers (for the "a slow run does
# not delay a fast one" case on any machine) and room for 16 at once.
spec("main", "--workers", "2", "--queue", "32")
spec("busy", "--workers", "1", "--queue", "0")
spec("queue1", "--workers", "1", "--queue", "1")
spec("limits", "--max-body", "4096", "--conn-timeout", "2")
# The token file wins over PEXOS_TOKEN.
spec("token-file", "--token-file", TOKEN_FILE, env={"PEXOS_TOKEN": OTHER_TOKEN})
# Everything from the environment, no flags at all.
spec("env", listen_flags=False,
     env={"PORT": "0", "PEXOS_LISTEN": "127.0.0.1", "PEXOS_WORKERS": "1",
          "PEXOS_QUEUE": "3", "PEXOS_TOKEN": TOKEN, "PEXOS_POOL": "auto"})
spec("term", "--workers", "2")
spec("grace", "--workers", "1", "--grace", "1")
spec("listener", "--workers", "1", "--grace", "10")
spec("rlimit", "--limits", "rlimit", wrapper=NO_CGROUP)


# --------------------------------------------------------------------- HTTP


def execute(port, req, headers=None, content_type="application/json", **kw):
    """POST /execute; req is a dict (sent as JSON), a str or bytes."""
    if isinstance(req, (dict, list)):
        req = json.dumps(req)
    if isinstance(req, str):
        req = req.encode("utf-8")
    h = dict(headers or {})
    if content_type is not None:
        h.setdefault("Content-Type", content_type)
    return request(port, "POST", "/execute", body=req, headers=h, **kw)


def run(port, script, **fields):
    return execute(port, {"script": script, **fields})


class Raw:
    """What came back on a raw connection: a parsed first response or none."""

    def __init__(self):
        self.status = None
        self.headers = {}
        self.body = b""
        self.data = b""
        self.closed = False
        self.error = None
        self.elapsed = 0.0

    def describe(self):
        return (f"status {self.status}, closed {self.closed}, error {self.error}, "
                f"after {self.elapsed:.2f} s, bytes {clip(self.data, 300)}")


def raw_exchange(port, parts, timeout=10.0, pause=0.0):
    """Send bytes (one or several parts, `pause` s apart), then read one
    response: until its body is complete, the peer closes, or `timeout`."""
    if isinstance(parts, bytes):
        parts = [parts]
    res = Raw()
    start = time.monotonic()
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        for i, part in enumerate(parts):
            if i and pause:
                time.sleep(pause)
            try:
                s.sendall(part)
            except OSError as e:  # the server answered early and closed
                res.error = f"send: {e}"
                break
        s.settimeout(max(0.1, timeout - (time.monotonic() - start)))
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                res.error = "timed out"
                break
            except OSError as e:
                res.error = f"recv: {e}"
                res.closed = True
                break
            if not chunk:
                res.closed = True
                break
            res.data += chunk
            if _complete(res):
                break
    finally:
        s.close()
    res.elapsed = time.monotonic() - start
    _complete(res)
    return res


def _complete(res):
    head, sep, rest = res.data.partition(b"\r\n\r\n")
    if not sep:
        return False
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return False
    status = int(m.group(1))
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if status == 100:  # 100 Continue: the real answer follows
        return False
    length = int(headers.get("content-length", "0") or 0)
    res.status, res.headers, res.body = status, headers, rest[:length]
    return len(rest) >= length


# ------------------------------------------------------------------ checking


class Skip(Exception):
    pass


class Check:
    """Problems found by one case, plus what to show on failure."""

    def __init__(self):
        self.problems = []
        self.notes = []
        self.todo = None

    def expect(self, cond, message):
        if not cond:
            self.problems.append(message)
        return cond

    def note(self, text):
        self.notes.append(text)

    def skip(self, reason):
        raise Skip(reason)

    def status(self, r, want, what=""):
        """HTTP status check that shows the response when it fails."""
        ok = r.status == want
        if not ok:
            self.problems.append(f"{what}: HTTP {r.status}, want {want}" if what
                                 else f"HTTP {r.status}, want {want}")
            self.note(r.describe())
        return ok

    def body(self, r, what=""):
        """The response body as a JSON object, or {} with a problem."""
        try:
            obj = r.json()
        except (ValueError, UnicodeDecodeError) as e:
            self.problems.append(f"{what} body is not strict JSON: {e}")
            self.note(r.describe())
            return {}
        if not isinstance(obj, dict):
            self.problems.append(f"{what} body is not an object")
            return {}
        return obj

    def failure(self, r, status, type_, names=(), what=""):
        """An error response: this status, type, an error naming each name."""
        label = what or type_
        self.status(r, status, label)
        obj = self.body(r, label)
        if not obj:
            return obj
        if not self.expect(obj.get("type") == type_,
                           f"{label}: type {obj.get('type')!r}, want {type_!r}"):
            self.note(r.describe())
        error = obj.get("error")
        if self.expect(isinstance(error, str) and error,
                       f"{label}: no error message"):
            for name in names:
                self.expect(name.lower() in error.lower(),
                            f"{label}: error {error!r} does not mention {name!r}")
        self.expect(r.headers.get("content-type", "").startswith("application/json"),
                    f"{label}: Content-Type {r.headers.get('content-type')!r}")
        return obj

    def success(self, r, result, what="", stdout=""):
        self.status(r, 200, what or "success")
        obj = self.body(r, what)
        if obj:
            self.expect(obj.get("result") == result,
                        f"{what} result {obj.get('result')!r}, want {result!r}")
            if stdout is not None:
                self.expect(obj.get("stdout") == stdout,
                            f"{what} stdout {obj.get('stdout')!r}, want {stdout!r}")
            self.expect("type" not in obj and "error" not in obj,
                        f"{what} success response has failure fields")
        return obj

    def hello(self, d, what="afterwards a hello-world request"):
        """The daemon is up and serves a normal request."""
        if not self.expect(d.alive(), f"{what}: the daemon is gone "
                           f"(exit {d.proc.returncode})"):
            return
        try:
            r = run(d.port, HELLO, timeout=30)
        except OSError as e:
            self.problems.append(f"{what}: {e}")
            return
        self.success(r, HELLO_RESULT, what)


CASES = []


def case(description):
    def register(fn):
        CASES.append((description, fn))
        return fn

    return register


def health(port):
    return request(port, "GET", "/health", timeout=10).json()


def wait_health(port, pred, timeout=10.0):
    """Polls /health until pred(health) is true; returns it, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = health(port)
        if pred(h):
            return h
        time.sleep(0.05)
    return None


def sleeper(seconds, result=1):
    return f"import time\ndef main():\n    time.sleep({seconds})\n    return {result!r}\n"


# ======================================================= status codes (§3)


@case("200: hello world, Content-Type application/json, Server-Timing")
def _(c):
    d = daemon("main")
    r = run(d.port, HELLO)
    c.success(r, HELLO_RESULT)
    c.expect(r.headers.get("content-type", "").startswith("application/json"),
             f"Content-Type {r.headers.get('content-type')!r}")
    timing = r.headers.get("server-timing")
    if c.expect(timing, "no Server-Timing header"):
        c.expect(re.fullmatch(r"queue;dur=[\d.]+, run;dur=[\d.]+, total;dur=[\d.]+", timing),
                 f"Server-Timing {timing!r} is not 'queue;dur=N, run;dur=N, total;dur=N'")


@case("200: stdin, stats and stdout/stderr capture come through HTTP")
def _(c):
    d = daemon("main")
    script = ("import sys\ndef main():\n    data = sys.stdin.read()\n"
              "    print('out')\n    print('err', file=sys.stderr)\n"
              "    return data.upper()\n")
    r = run(d.port, script, stdin="abc", stats=True)
    obj = c.success(r, "ABC", stdout="out\n")
    if obj:
        c.expect(obj.get("stderr") == "err\n", f"stderr {obj.get('stderr')!r}")
        stats = obj.get("stats")
        c.expect(isinstance(stats, dict) and "wall_ms" in stats,
                 f"stats {stats!r}")


@case("400 InvalidRequest: body not JSON")
def _(c):
    d = daemon("main")
    c.failure(execute(d.port, b"this is {not json"), 400, "InvalidRequest",
              names=["JSON"])
    c.failure(execute(d.port, b""), 400, "InvalidRequest", what="empty body")


@case("400 InvalidRequest: JSON that is not an object ([], 42, \"s\", null)")
def _(c):
    d = daemon("main")
    for body in (b"[]", b"42", b'"script"', b"null"):
        c.failure(execute(d.port, body), 400, "InvalidRequest", names=["object"],
                  what=body.decode())


@case("400 InvalidRequest: unknown field, ill-typed field, out-of-range value")
def _(c):
    d = daemon("main")
    c.failure(execute(d.port, {"script": HELLO, "foo": 1}), 400,
              "InvalidRequest", names=["foo"], what="unknown field")
    c.failure(execute(d.port, {"script": 5}), 400, "InvalidRequest",
              names=["script"], what="script: 5")
    c.failure(execute(d.port, {"stdin": "x"}), 400, "InvalidRequest",
              names=["script"], what="no script")
    c.failure(execute(d.port, {"script": HELLO, "timeout": 3600}), 400,
              "InvalidRequest", names=["timeout"], what="timeout above the server's")
    c.failure(execute(d.port, {"script": HELLO, "memory_mb": "64"}), 400,
              "InvalidRequest", names=["memory_mb"], what="memory_mb a string")


@case("400 SyntaxError with line and column")
def _(c):
    d = daemon("main")
    obj = c.failure(run(d.port, "def main(:\n    return 1\n"), 400, "SyntaxError",
                    names=["line 1"])
    c.expect("stdout" not in obj, "stdout present although nothing ran")


@case("400 MissingMain and InvalidMain")
def _(c):
    d = daemon("main")
    c.failure(run(d.port, "x = 1\n"), 400, "MissingMain", names=["main"])
    c.failure(run(d.port, "main = 3\n"), 400, "InvalidMain", names=["main"],
              what="main = 3")
    c.failure(run(d.port, "def main(x):\n    return x\n"), 400, "InvalidMain",
              names=["main"], what="main(x)")


@case("415: no Content-Type, or another one; application/json; charset=utf-8 is accepted")
def _(c):
    d = daemon("main")
    body = {"script": HELLO}
    c.failure(execute(d.port, body, content_type=None), 415, "InvalidRequest",
              names=["Content-Type"], what="no Content-Type")
    for ct in ("text/plain", "application/x-www-form-urlencoded",
               "application/jsonx", "multipart/form-data; boundary=x"):
        c.failure(execute(d.port, body, content_type=ct), 415, "InvalidRequest",
                  what=ct)
    c.success(execute(d.port, body, content_type="application/json; charset=utf-8"),
              HELLO_RESULT, "application/json; charset=utf-8")


@case("422 ScriptError with the user's traceback")
def _(c):
    d = daemon("main")
    obj = c.failure(run(d.port, "def main():\n    print('before')\n    return 1 / 0\n"),
                    422, "ScriptError", names=["ZeroDivisionError"])
    if obj:
        c.expect(obj.get("stdout") == "before\n", f"stdout {obj.get('stdout')!r}")
        c.expect('File "script.py", line 3, in main' in obj.get("traceback", ""),
                 f"traceback {obj.get('traceback')!r}")


@case("422 NotSerializable names the path")
def _(c):
    d = daemon("main")
    c.failure(run(d.port, "def main():\n    return {'data': [1, 2, {3}]}\n"), 422,
              "NotSerializable", names=['["data"][2]', "set"])


@case("422 Timeout with a small \"timeout\" field, answered at the deadline")
def _(c):
    d = daemon("main")
    r = run(d.port, sleeper(20), timeout=0.5)
    c.failure(r, 422, "Timeout")
    c.expect(r.elapsed < 5, f"answered after {r.elapsed:.1f} s, want about 0.5 s")


@case("422 MemoryLimit: memory_mb 64 and a 200 MB allocation")
def _(c):
    d = daemon("main")
    script = "def main():\n    x = bytearray(200 * 1024 * 1024)\n    return len(x)\n"
    c.failure(run(d.port, script, memory_mb=64), 422, "MemoryLimit", names=["64"])


@case("422 ResultTooLarge: a 9 MiB result")
def _(c):
    d = daemon("main")
    c.failure(run(d.port, "def main():\n    return 'x' * (9 * 1024 * 1024)\n"),
              422, "ResultTooLarge")


@case("422 Killed: os.abort()")
def _(c):
    d = daemon("main")
    c.failure(run(d.port, "import os\ndef main():\n    os.abort()\n"), 422,
              "Killed", names=["SIGABRT"])


@case("500 SandboxError: no process can be started, then the daemon recovers")
def _(c):
    # The daemon in a pids cgroup of its own (cgroup v1) whose pids.max
    # is lowered to what it already runs: its threads live on, the clone
    # of a new sandbox fails. A working sandbox made to fail from outside.
    dirs = cgroup_v1_dirs(("pids",))
    if "pids" not in dirs:
        c.skip("no cgroup v1 pids hierarchy to starve the daemon in")
    cg = f"{dirs['pids']}/pexos-test-starved-{os.getpid()}"
    os.makedirs(cg, exist_ok=True)
    join = f'echo $$ > {cg}/cgroup.procs && exec "$0" "$@"'
    d = make_daemon("starved", ["--workers", "1", "--pool", "0"],
                    wrapper=["sh", "-c", join])
    try:
        d.start()
        c.hello(d, "before: a hello-world run")
        with open(f"{cg}/pids.current") as f:
            current = f.read().strip()
        with open(f"{cg}/pids.max", "w") as f:
            f.write(current)
        c.failure(run(d.port, HELLO), 500, "SandboxError",
                  what=f"pids.max {current}")
        with open(f"{cg}/pids.max", "w") as f:
            f.write("max")
        c.hello(d, "after pids.max is lifted: a hello-world run")
    finally:
        d.stop()
        remove_cgroup_tree(cg)


@case("404: unknown paths, with a JSON error")
def _(c):
    d = daemon("main")
    for path in ("/", "/nope", "/execute/", "/Execute", "/health/x"):
        c.failure(request(d.port, "GET", path), 404, "InvalidRequest", what=path)
    c.failure(request(d.port, "POST", "/run", body=b"{}",
                      headers={"Content-Type": "application/json"}),
              404, "InvalidRequest", what="POST /run")


@case("405: wrong method, with an Allow header")
def _(c):
    d = daemon("main")
    for method, path, allow in (("GET", "/execute", "POST"),
                                ("DELETE", "/execute", "POST"),
                                ("PUT", "/execute", "POST"),
                                ("POST", "/health", "GET"),
                                ("POST", "/metrics", "GET"),
                                ("DELETE", "/health", "GET")):
        body = b"{}" if method in ("POST", "PUT") else None
        r = request(d.port, method, path, body=body,
                    headers={"Content-Type": "application/json"} if body else {})
        c.failure(r, 405, "InvalidRequest", what=f"{method} {path}")
        got = r.headers.get("allow", "")
        c.expect(allow in [m.strip() for m in got.split(",")],
                 f"{method} {path}: Allow {got!r}, want it to list {allow}")


# ================================================== malformed HTTP, hostile


def malformed(c, d, data, what, within=5.0, also=()):
    """A broken request: a 4xx answer (or a status in `also`) or a closed
    connection, promptly; then the daemon still serves."""
    r = raw_exchange(d.port, data, timeout=within + 1)
    answered = r.status is not None and (400 <= r.status < 500 or r.status in also)
    if not c.expect(answered or r.closed,
                    f"{what}: neither a 4xx answer nor a closed connection"):
        c.note(f"{what}: {r.describe()}")
    c.expect(r.elapsed < within, f"{what}: took {r.elapsed:.1f} s")
    c.hello(d, f"after {what}")


@case("malformed HTTP: garbage request line → 4xx or close, daemon stays up")
def _(c):
    d = daemon("main")
    malformed(c, d, b"THIS IS NOT HTTP\r\n\r\n", "a garbage request line")
    malformed(c, d, b"GET\r\n\r\n", "a request line without a path")
    malformed(c, d, b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n", "HTTP/9.9",
              also=(505,))


@case("malformed HTTP: a header line without a colon → 4xx or close")
def _(c):
    d = daemon("main")
    malformed(c, d, b"GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
              "a header without a colon")
    malformed(c, d, b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: "
              b"application/json\r\nBroken header\r\nContent-Length: 2\r\n\r\n{}",
              "a header without a colon on POST /execute")


@case("malformed HTTP: a 70 KiB header line, 5000 headers → 4xx or close")
def _(c):
    d = daemon("main")
    malformed(c, d, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Long: " +
              b"a" * (70 * 1024) + b"\r\n\r\n", "a 70 KiB header line")
    malformed(c, d, b"GET /" + b"a" * (70 * 1024) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
              "a 70 KiB request target")
    malformed(c, d, b"GET /health HTTP/1.1\r\n" +
              b"".join(b"X-%d: y\r\n" % i for i in range(5000)) + b"\r\n",
              "5000 header lines")


@case("malformed HTTP: bad Content-Length values, broken chunked encoding")
def _(c):
    d = daemon("main")
    head = b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    malformed(c, d, head + b"Content-Length: abc\r\n\r\n{}", "Content-Length: abc")
    malformed(c, d, head + b"Content-Length: -1\r\n\r\n{}", "Content-Length: -1")
    malformed(c, d, head + b"Content-Length: 99999999999999999999999\r\n\r\n{}",
              "a Content-Length over 2^64")
    malformed(c, d, head + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
              "a chunk size that is not hex")


def hostile(c, d, body, names, what):
    r = execute(d.port, body)
    c.failure(r, 400, "InvalidRequest", names=names, what=what)
    c.expect(len(r.body) < 4096, f"{what}: a {len(r.body)}-byte answer")


@case("hostile JSON: 100000 '[' and 100000 '{\"a\":' → 400 InvalidRequest")
def _(c):
    d = daemon("main")
    hostile(c, d, b"[" * 100000, ["depth"], "100000 '['")
    hostile(c, d, b'{"a":' * 100000, ["depth"], "100000 '{\"a\":'")
    hostile(c, d, b'{"script": ' + b"[" * 100000 + b"]" * 100000 + b"}",
            ["depth"], "deep nesting inside a field")
    c.hello(d)


@case("hostile JSON: huge numbers → 400 InvalidRequest")
def _(c):
    d = daemon("main")
    script = json.dumps(HELLO).encode()
    hostile(c, d, b'{"script": ' + script + b', "timeout": ' + b"9" * 5000 + b"}",
            ["integer"], "a 5000-digit timeout")
    hostile(c, d, b'{"script": ' + script + b', "timeout": 1e999}', [],
            "timeout 1e999")
    hostile(c, d, b'{"script": ' + script + b', "memory_mb": 1e400}', [],
            "memory_mb 1e400")
    hostile(c, d, b'{"script": ' + script + b', "memory_mb": 18446744073709551617}',
            [], "memory_mb 2^64+1")
    hostile(c, d, b'{"script": ' + script + b', "timeout": -1e-400}', [],
            "timeout -1e-400")
    c.hello(d)


@case("hostile JSON: invalid UTF-8, NUL bytes, lone surrogates, duplicate keys → 400")
def _(c):
    d = daemon("main")
    hostile(c, d, b'{"script": "def main():\\n    return \xff\xfe"}', ["0xff"],
            "invalid UTF-8")
    hostile(c, d, b'{"script": "\xc0\xaf"}', [], "an overlong UTF-8 sequence")
    hostile(c, d, b'{"script": "def main():\\n    return 1\x00"}', [],
            "a raw NUL inside a string")
    hostile(c, d, b'{"script": "def main():\\n    return 1"}\x00', [],
            "a NUL after the object")
    hostile(c, d, b'{"script": "def main():\\n    return 1\\u0000"}',
            ["script", "NUL"], "an escaped NUL in the script")
    hostile(c, d, b'{"script": "\\ud800"}', [], "a lone surrogate")
    hostile(c, d, b'{"script": "a", "script": "b"}', ["duplicate"], "a duplicate key")
    hostile(c, d, b'\xef\xbb\xbf{"script": "def main():\\n    return 1"}', [],
            "a UTF-8 byte order mark")
    c.hello(d)


# ============================================== body size, connection limits


@case("413: Content-Length over --max-body is refused before the body is sent")
def _(c):
    d = daemon("limits")
    head = (b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\n\r\n")
    r = raw_exchange(d.port, head, timeout=5)  # no body at all
    if c.expect(r.status == 413, f"HTTP {r.status}, want 413 without a body"):
        obj = strict_loads(r.body.decode())
        c.expect(obj.get("type") == "InvalidRequest", f"body {obj!r}")
    else:
        c.note(r.describe())
    c.expect(r.elapsed < 3, f"took {r.elapsed:.1f} s: not answered on the headers")
    big = json.dumps({"script": HELLO + "#" + "x" * 10000}).encode()
    c.failure(execute(d.port, big), 413, "InvalidRequest", what="a 10 KB body")
    c.hello(d)


@case("413: a chunked body over --max-body without Content-Length")
def _(c):
    d = daemon("limits")
    head = (b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"400\r\n" + b" " * 0x400 + b"\r\n"  # 1 KiB of JSON whitespace
    r = raw_exchange(d.port, [head] + [chunk] * 8 + [b"0\r\n\r\n"], timeout=10)
    if c.expect(r.status == 413, f"HTTP {r.status}, want 413"):
        obj = strict_loads(r.body.decode())
        c.expect(obj.get("type") == "InvalidRequest", f"body {obj!r}")
    else:
        c.note(r.describe())
    c.hello(d)


@case("--max-body is inclusive: exactly 4096 bytes run, 4097 are 413 (plain and chunked)")
def _(c):
    d = daemon("limits")

    def body_of(size):
        base = {"script": HELLO + "#"}
        pad = size - len(json.dumps(base).encode())
        return json.dumps({"script": HELLO + "#" + "x" * pad}).encode()

    exact, over = body_of(4096), body_of(4097)
    c.expect(len(exact) == 4096 and len(over) == 4097, "harness: body sizes")
    c.success(execute(d.port, exact), HELLO_RESULT, "4096 bytes")
    c.failure(execute(d.port, over), 413, "InvalidRequest", what="4097 bytes")
    head = (b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    for body, want in ((exact, 200), (over, 413)):
        chunks = [b"%x\r\n%s\r\n" % (len(body[i:i + 1000]), body[i:i + 1000])
                  for i in range(0, len(body), 1000)]
        r = raw_exchange(d.port, [head, *chunks, b"0\r\n\r\n"])
        if not c.expect(r.status == want,
                        f"chunked {len(body)} bytes: HTTP {r.status}, want {want}"):
            c.note(r.describe())


@case("--conn-timeout: idle and half-sent connections are closed, nothing runs")
def _(c):
    d = daemon("limits")
    r = raw_exchange(d.port, b"", timeout=8)
    c.expect(r.closed and 1 < r.elapsed < 6,
             f"silent connection: closed {r.closed} after {r.elapsed:.1f} s, "
             "want closed after about 2 s")
    r = raw_exchange(d.port, b"POST /execute HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                     b'{"scr', timeout=8)
    c.expect(r.closed and r.elapsed < 6,
             f"half a body: closed {r.closed} after {r.elapsed:.1f} s")
    r = raw_exchange(d.port, b"\x00\x01\x02\xff\r\n\r\n", timeout=8)
    c.expect((r.closed or (r.status or 0) >= 400) and r.elapsed < 6,
             f"binary garbage: {r.describe()}")
    c.hello(d)


# ================================================================ tokens


def auth_cases(c, d, good, bad):
    body = {"script": HELLO}
    r = execute(d.port, body)
    c.failure(r, 401, "InvalidRequest", what="no Authorization header")
    c.expect(r.headers.get("www-authenticate", "").startswith("Bearer"),
             f"WWW-Authenticate {r.headers.get('www-authenticate')!r}")
    for what, value in (("a wrong token", "Bearer " + bad),
                        ("a prefix of the token", "Bearer " + good[:-1]),
                        ("the token plus a byte", "Bearer " + good + "x"),
                        ("Basic auth", "Basic " + good),
                        ("the bare token", good),
                        ("an empty bearer", "Bearer ")):
        r = execute(d.port, body, headers={"Authorization": value})
        c.failure(r, 401, "InvalidRequest", what=what)
        c.expect("www-authenticate" in r.headers, f"{what}: no WWW-Authenticate")
    c.success(execute(d.port, body, headers={"Authorization": "Bearer " + good}),
              HELLO_RESULT, "the right token")
    c.success(execute(d.port, body, headers={"Authorization": "bearer " + good}),
              HELLO_RESULT, "the right token, scheme in lower case")
    # Probes stay open: a load balancer's health check carries no token.
    c.status(request(d.port, "GET", "/health"), 200, "/health without a token")
    c.status(request(d.port, "GET", "/metrics"), 200, "/metrics without a token")


@case("401 with --token-file: no header, wrong token → 401 + WWW-Authenticate; right → 200")
def _(c):
    # PEXOS_TOKEN is set too, to another value: the file wins.
    auth_cases(c, daemon("token-file"), TOKEN, OTHER_TOKEN)


@case("401 with PEXOS_TOKEN (and every setting from the environment)")
def _(c):
    d = daemon("env")
    auth_cases(c, d, TOKEN, OTHER_TOKEN)
    h = health(d.port)
    c.expect(h.get("workers") == 1 and h.get("queue_capacity") == 3,
             f"PEXOS_WORKERS=1 PEXOS_QUEUE=3 but /health says workers "
             f"{h.get('workers')}, queue_capacity {h.get('queue_capacity')}")


# ============================================================ concurrency


@case("16 concurrent requests, each answered with its own result")
def _(c):
    d = daemon("main")
    n = 16
    barrier = threading.Barrier(n)
    results = [None] * n

    def one(i):
        barrier.wait(timeout=30)
        script = ("import os, random\ndef main():\n"
                  f"    return {{'i': {i}, 'r': random.random(), 'pid': os.getpid()}}\n")
        results[i] = run(d.port, script)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=150)
    randoms = set()
    for i, r in enumerate(results):
        if not c.expect(r is not None, f"request {i} got no answer"):
            continue
        c.status(r, 200, f"request {i}")
        res = c.body(r, f"request {i}").get("result")
        if c.expect(isinstance(res, dict) and res.get("i") == i,
                    f"request {i} got result {res!r}"):
            randoms.add(res.get("r"))
    c.expect(len(randoms) == n, f"{len(randoms)} distinct random values, want {n}")


@case("a 5 s script does not delay a hello-world request (--workers 2)")
def _(c):
    d = daemon("main")
    start = time.monotonic()
    t, box = in_thread(run, d.port, sleeper(5, "slept"))
    time.sleep(0.3)
    r = run(d.port, HELLO)
    hello_done = time.monotonic() - start
    c.success(r, HELLO_RESULT, "hello")
    c.expect(r.elapsed < 2, f"hello took {r.elapsed:.2f} s")
    c.expect(t.is_alive(), "the 5 s script was already answered when hello came back")
    t.join(timeout=30)
    slow = box.get("value")
    if c.expect(slow is not None, f"the 5 s script: {box.get('error')}"):
        c.success(slow, "slept", "the 5 s script")
        c.expect(hello_done < 0.7 * (time.monotonic() - start),
                 f"hello back at {hello_done:.2f} s, not well before the 5 s run")


@case("503 Busy with Retry-After: --workers 1 --queue 0, one slow run in flight")
def _(c):
    d = daemon("busy")
    before = metrics(d.port)
    t, box = in_thread(run, d.port, sleeper(3, "slow"))
    if not c.expect(wait_health(d.port, lambda h: h.get("busy") == 1),
                    "the slow run never showed as busy in /health"):
        return
    r = run(d.port, HELLO)
    c.failure(r, 503, "Busy", what="the second request")
    retry = r.headers.get("retry-after", "")
    c.expect(retry.isdigit() and int(retry) >= 1, f"Retry-After {retry!r}")
    c.expect(r.elapsed < 1, f"Busy took {r.elapsed:.2f} s: it must not wait")
    t.join(timeout=30)
    slow = box.get("value")
    if c.expect(slow is not None, f"the slow run: {box.get('error')}"):
        c.success(slow, "slow", "the slow run")
    after = metrics(d.port)
    c.expect(delta(before, after, "pexos_requests_total", endpoint="execute",
                   outcome="Busy") == 1,
             "pexos_requests_total{endpoint=\"execute\",outcome=\"Busy\"} did not move by 1")
    c.hello(d, "after the run, a new request")


@case("a client sending its body 1 byte/s for 4 s holds no slot (--workers 1)")
def _(c):
    d = daemon("busy")
    body = json.dumps({"script": "def main():\n    return 'trickled'\n"}).encode()
    head = (b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    parts = [head] + [body[i:i + 1] for i in range(5)] + [body[5:]]
    t, box = in_thread(raw_exchange, d.port, parts, timeout=30, pause=1.0)
    time.sleep(1.5)
    h = health(d.port)
    c.expect(h.get("busy") == 0, f"/health busy {h.get('busy')} while trickling")
    r = run(d.port, HELLO)
    c.success(r, HELLO_RESULT, "hello while the slow client trickles")
    c.expect(r.elapsed < 2, f"hello took {r.elapsed:.2f} s")
    c.expect(t.is_alive(), "the slow client was done before hello came back")
    t.join(timeout=40)
    res = box.get("value")
    if c.expect(res is not None, f"slow client: {box.get('error')}"):
        if c.expect(res.status == 200, f"slow client: {res.describe()}"):
            c.expect(strict_loads(res.body.decode()).get("result") == "trickled",
                     f"slow client: body {clip(res.body)}")


@case("Busy when the worker and the queue are full (--workers 1 --queue 1)")
def _(c):
    d = daemon("queue1")
    t1, box1 = in_thread(run, d.port, sleeper(3, "first"))
    if not c.expect(wait_health(d.port, lambda h: h.get("busy") == 1),
                    "the first run never showed as busy"):
        return
    t2, box2 = in_thread(run, d.port, "def main():\n    return 'second'\n")
    h = wait_health(d.port, lambda h: h.get("queue") == 1)
    c.expect(h is not None, "the second request never showed as queued")
    m = metrics(d.port)
    c.expect(m.get(("pexos_sandboxes_busy", ())) == 1 and
             m.get(("pexos_queue_length", ())) == 1,
             f"gauges busy {m.get(('pexos_sandboxes_busy', ()))}, "
             f"queue {m.get(('pexos_queue_length', ()))}, want 1 and 1")
    r = run(d.port, HELLO)
    c.failure(r, 503, "Busy", what="the third request")
    c.expect("retry-after" in r.headers, "no Retry-After")
    for t, box, want in ((t1, box1, "first"), (t2, box2, "second")):
        t.join(timeout=30)
        got = box.get("value")
        if c.expect(got is not None, f"{want}: {box.get('error')}"):
            c.success(got, want, f"the {want} request")


# ===================================================== /health, /metrics, log


@case("/health: 200, healthy, isolation features, limits mode, workers, pool")
def _(c):
    d = daemon("main")
    r = request(d.port, "GET", "/health")
    c.status(r, 200)
    h = c.body(r, "/health")
    if not h:
        return
    c.expect(h.get("status") == "healthy", f"status {h.get('status')!r}")
    c.expect(h.get("workers") == 2, f"workers {h.get('workers')!r}, want 2")
    for key in ("busy", "queue", "queue_capacity"):
        c.expect(isinstance(h.get(key), int), f"{key} {h.get(key)!r}")
    pool = h.get("pool")
    c.expect(isinstance(pool, dict) and isinstance(pool.get("size"), int),
             f"pool {pool!r}")
    iso = h.get("isolation")
    if not c.expect(isinstance(iso, dict), f"isolation {iso!r}"):
        return
    c.expect(iso.get("ok") is True, f"isolation.ok {iso.get('ok')!r}")
    c.expect(str(iso.get("limits", "")).startswith("cgroup"),
             f"isolation.limits {iso.get('limits')!r}, want cgroup-v1/v2")
    features = iso.get("features") or []
    names = {f.get("name") for f in features if isinstance(f, dict)}
    for want in ("user namespace", "pid namespace", "network namespace",
                 "seccomp", "cgroups"):
        c.expect(want in names, f"no isolation feature {want!r} in {sorted(names)}")
    for f in features:
        c.expect(isinstance(f, dict) and f.get("ok") is True and
                 isinstance(f.get("detail"), str), f"feature {f!r}")
    r = request(d.port, "HEAD", "/health")
    c.status(r, 200, "HEAD /health")
    c.expect(r.body == b"", "HEAD /health has a body")


PROM_SAMPLE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?")
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_prometheus(text):
    """Prometheus text exposition 0.0.4 → {(name, labels): value}.
    Raises ValueError naming the first bad line."""
    if not text.endswith("\n"):
        raise ValueError("the text does not end with a newline")
    samples, types = {}, {}
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)", line)
            if line.startswith(("# HELP", "# TYPE")) and not m:
                raise ValueError(f"line {n}: bad comment {line!r}")
            if m and m.group(1) == "TYPE":
                if m.group(3) not in ("counter", "gauge", "histogram", "summary",
                                      "untyped"):
                    raise ValueError(f"line {n}: bad type {line!r}")
                types[m.group(2)] = m.group(3)
            continue
        if not line.strip():
            continue
        m = PROM_SAMPLE.fullmatch(line)
        if not m:
            raise ValueError(f"line {n}: not 'name{{labels}} value': {line!r}")
        name, labels_text, value = m.groups()
        labels = []
        pos = 0
        while labels_text and pos < len(labels_text):
            lm = PROM_LABEL.match(labels_text, pos)
            if not lm:
                raise ValueError(f"line {n}: bad labels {labels_text!r}")
            labels.append((lm.group(1), lm.group(2)))
            pos = lm.end()
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"line {n}: bad value {value!r}") from None
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in types and family not in types:
            raise ValueError(f"line {n}: no # TYPE for {name}")
        key = (name, tuple(sorted(labels)))
        if key in samples:
            raise ValueError(f"line {n}: duplicate sample {line!r}")
        samples[key] = number
    return samples


def metrics(port):
    r = request(port, "GET", "/metrics", timeout=10)
    if r.status != 200:
        raise ValueError(f"GET /metrics: {r.describe()}")
    return parse_prometheus(r.body.decode("utf-8"))


def delta(before, after, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


@case("/metrics: parseable exposition; requests by outcome and the histogram move exactly")
def _(c):
    d = daemon("main")
    r = request(d.port, "GET", "/metrics")
    c.status(r, 200)
    c.expect(r.headers.get("content-type", "").startswith("text/plain"),
             f"Content-Type {r.headers.get('content-type')!r}")
    try:
        before = parse_prometheus(r.body.decode("utf-8"))
    except ValueError as e:
        c.problems.append(f"not Prometheus text: {e}")
        return
    for _ in range(3):
        c.status(run(d.port, HELLO), 200, "hello")
    for _ in range(2):
        c.status(run(d.port, "def main():\n    raise ValueError('no')\n"), 422,
                 "ScriptError")
    after = metrics(d.port)
    name = "pexos_requests_total"
    ex = {"endpoint": "execute"}
    c.expect(delta(before, after, name, outcome="ok", **ex) == 3,
             f'{name}{{endpoint="execute",outcome="ok"}} moved by '
             f'{delta(before, after, name, outcome="ok", **ex)}, want 3')
    c.expect(delta(before, after, name, outcome="ScriptError", **ex) == 2,
             f'{name}{{endpoint="execute",outcome="ScriptError"}} moved by '
             f'{delta(before, after, name, outcome="ScriptError", **ex)}, want 2')
    c.expect(delta(before, after, name, outcome="ok", endpoint="mcp") == 0,
             "an /execute request counted as an MCP one")
    hist = "pexos_execute_duration_seconds"
    moved = after.get((hist + "_count", ()), 0) - before.get((hist + "_count", ()), 0)
    c.expect(moved == 5, f"{hist}_count moved by {moved}, want 5")
    c.expect(after.get((hist + "_sum", ()), 0) > before.get((hist + "_sum", ()), 0),
             f"{hist}_sum did not grow")
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in after.items()
                     if k[0] == hist + "_bucket")
    c.expect(buckets and buckets[-1][0] == float("inf") and
             buckets[-1][1] == after.get((hist + "_count", ())),
             "the +Inf bucket is not the count")
    c.expect(all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])),
             f"buckets are not cumulative: {buckets}")
    for gauge in ("pexos_sandboxes_busy", "pexos_pool_size", "pexos_workers"):
        c.expect((gauge, ()) in after, f"no {gauge}")
    c.expect(after.get(("pexos_workers", ())) == 2, "pexos_workers is not 2")


def log_entry(c, d, ua, since):
    """The one log line of the request made with User-Agent ua."""
    line = d.wait_line(lambda l: ua in l, timeout=5, since=since)
    if not c.expect(line, f"no log line for the request of {ua}"):
        return {}
    c.expect(sum(ua in l for l in d.snapshot()[since:]) == 1,
             f"more than one log line for {ua}")
    try:
        entry = strict_loads(line)
    except ValueError as e:
        c.problems.append(f"log line is not JSON ({e}): {line!r}")
        return {}
    return entry


@case("one JSON log line per request: severity, httpRequest.*, latency '…s', outcome")
def _(c):
    d = daemon("main")
    since = len(d.snapshot())
    tag = uuid.uuid4().hex[:8]
    cases = (
        ("POST", "/execute", {"script": HELLO}, 200, "INFO", "ok"),
        ("POST", "/execute", {"script": "def main():\n    1 / 0\n"}, 422,
         "WARNING", "ScriptError"),
        ("POST", "/execute", b"nope", 400, "WARNING", "InvalidRequest"),
        ("GET", "/nope", None, 404, "WARNING", None),
        ("GET", "/health", None, 200, "INFO", None),
    )
    for i, (method, path, body, status, severity, outcome) in enumerate(cases):
        ua = f"pexos-test/{tag}-{i}"
        headers = {"User-Agent": ua}
        if body is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(body).encode() if isinstance(body, dict) else body
        r = request(d.port, method, path, body=body, headers=headers)
        c.status(r, status, f"{method} {path}")
        e = log_entry(c, d, ua, since)
        if not e:
            continue
        what = f"log of {method} {path}"
        c.expect(e.get("severity") == severity,
                 f"{what}: severity {e.get('severity')!r}, want {severity}")
        hr = e.get("httpRequest") or {}
        c.expect(hr.get("requestMethod") == method, f"{what}: requestMethod {hr.get('requestMethod')!r}")
        c.expect(hr.get("requestUrl") == path, f"{what}: requestUrl {hr.get('requestUrl')!r}")
        c.expect(hr.get("status") == status, f"{what}: status {hr.get('status')!r}")
        c.expect(hr.get("userAgent") == ua, f"{what}: userAgent {hr.get('userAgent')!r}")
        lat = hr.get("latency")
        c.expect(isinstance(lat, str) and re.fullmatch(r"\d+(\.\d+)?s", lat),
                 f"{what}: latency {lat!r} is not a string like '0.05s'")
        if outcome:
            c.expect(e.get("outcome") == outcome,
                     f"{what}: outcome {e.get('outcome')!r}, want {outcome}")
        c.expect(isinstance(e.get("message"), str), f"{what}: no message")


@case("Server-Timing on every response: queue, run and total on /execute runs, total elsewhere")
def _(c):
    d = daemon("main")
    for script, status in ((HELLO, 200), ("def main(:\n", 400),
                           ("def main():\n    raise KeyError(1)\n", 422)):
        r = run(d.port, script)
        c.status(r, status)
        timing = r.headers.get("server-timing", "")
        m = re.fullmatch(r"queue;dur=([\d.]+), run;dur=([\d.]+), total;dur=([\d.]+)", timing)
        if c.expect(m, f"HTTP {status}: Server-Timing {timing!r}"):
            c.expect(float(m.group(2)) <= float(m.group(3)) <= r.elapsed * 1000 + 1,
                     f"HTTP {status}: run;dur {m.group(2)} ms <= total;dur {m.group(3)} "
                     f"ms <= the exchange ({r.elapsed * 1000:.0f} ms)")
    for path in ("/health", "/metrics"):
        r = request(d.port, "GET", path)
        c.expect(re.fullmatch(r"total;dur=[\d.]+", r.headers.get("server-timing", "")),
                 f"{path}: Server-Timing {r.headers.get('server-timing')!r}")


@case("every line on stderr is a JSON object (structured logging)")
def _(c):
    # The malformed-HTTP cases ran on these daemons before this one, so
    # libmicrohttpd's own messages are among the lines.
    for name in ("main", "limits"):
        d = daemon(name)
        for line in d.snapshot():
            try:
                ok = isinstance(json.loads(line), dict)
            except ValueError:
                ok = False
            if not c.expect(ok, f"{name}: not a JSON object: {line[:200]!r}"):
                break


# ================================================================ SIGTERM


def finished_then_exit(c, d, t, box, want_rc):
    """The run in flight (thread t, returning "finished") is answered, then
    the daemon exits with want_rc. Returns its exit status."""
    t.join(timeout=30)
    r = box.get("value")
    if c.expect(r is not None, f"the run in flight: {box.get('error')}"):
        c.success(r, "finished", "the run in flight")
    rc = d.wait(20)
    c.expect(rc == want_rc, f"exit status {rc}, want {want_rc}")
    return rc


@case("SIGTERM: the run in flight is answered 200, new connections are refused, exit 0")
def _(c):
    d = fresh_daemon("term")
    try:
        t, box = in_thread(run, d.port, sleeper(2.5, "finished"))
        if not c.expect(wait_health(d.port, lambda h: h.get("busy") == 1),
                        "the run never showed as busy"):
            return
        sent = time.monotonic()
        d.signal(signal.SIGTERM)
        refused = None
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", d.port), timeout=1).close()
            except (ConnectionRefusedError, ConnectionResetError):
                # Reset: the connection reached the backlog just as the
                # daemon closed its listening socket, and was never taken.
                refused = time.monotonic() - sent
                break
            time.sleep(0.05)
        c.expect(refused is not None,
                 "new connections were still accepted 2 s after SIGTERM")
        rc = finished_then_exit(c, d, t, box, 0)
        c.expect("stopped" in d.stderr(), "no 'stopped' line on stderr")
        if rc is None:
            c.note(d.stderr()[-1500:])
    finally:
        d.kill()


@case("SIGTERM with --grace 1: a long run is cancelled (503 Busy) and the daemon exits 0")
def _(c):
    d = fresh_daemon("grace")
    try:
        t, box = in_thread(run, d.port, sleeper(30))
        if not c.expect(wait_health(d.port, lambda h: h.get("busy") == 1),
                        "the run never showed as busy"):
            return
        sent = time.monotonic()
        d.signal(signal.SIGTERM)
        t.join(timeout=30)
        r = box.get("value")
        if c.expect(r is not None, f"the cancelled run: {box.get('error')}"):
            c.failure(r, 503, "Busy", what="the cancelled run")
            c.expect("retry-after" in r.headers, "no Retry-After")
        rc = d.wait(20)
        took = time.monotonic() - sent
        c.expect(rc == 0, f"exit status {rc}, want 0")
        c.expect(took < 8, f"exit {took:.1f} s after SIGTERM with --grace 1")
    finally:
        d.kill()


# ===================================================== the listening socket


def listening_fd(pid, port):
    """The daemon's descriptor number of its socket listening on `port`,
    from /proc/net/tcp (state 0A) and /proc/PID/fd."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                inode = fields[9]
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") == f"socket:[{inode}]":
                return int(name)
        except OSError:
            pass
    return None


def shut_down_socket_of(pid, fd):
    """shutdown(2) of another process's socket, through a copy taken with
    pidfd_getfd(2): the socket stops listening, the daemon's descriptor
    stays open, as a stray shutdown or close elsewhere in the process
    would leave it."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd, x86_64
        if copy < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
    finally:
        os.close(pidfd)
    s = socket.socket(fileno=copy)
    try:
        s.shutdown(socket.SHUT_RDWR)
    finally:
        s.close()


@case("a listening socket that stops working is noticed: ERROR logged, "
      "the run in flight answered, exit 1")
def _(c):
    d = fresh_daemon("listener")
    try:
        ok = metrics(d.port)
        c.expect(ok.get(("pexos_listener_up", ())) == 1,
                 f"pexos_listener_up before: {ok.get(('pexos_listener_up', ()))}")
        fd = listening_fd(d.proc.pid, d.port)
        if not c.expect(fd is not None, "the daemon's listening socket not found"):
            return
        t, box = in_thread(run, d.port, sleeper(3, "finished"))
        if not c.expect(wait_health(d.port, lambda h: h.get("busy") == 1),
                        "the run never showed as busy"):
            return
        since = len(d.snapshot())
        shut_down_socket_of(d.proc.pid, fd)
        refused = False
        try:
            socket.create_connection(("127.0.0.1", d.port), timeout=2).close()
        except (ConnectionRefusedError, ConnectionResetError):
            refused = True
        c.expect(refused, "the socket still took connections after shutdown(2)")
        line = d.wait_line(lambda x: '"ERROR"' in x and "listening socket" in x,
                           timeout=5, since=since)
        c.expect(line is not None and "no longer listens" in line,
                 f"no ERROR line naming the listening socket within 5 s: {line}")
        finished_then_exit(c, d, t, box, 1)
    finally:
        d.kill()
        # its exit status 1 is this case's to check, not the final one's
        if d in ALL_DAEMONS:
            ALL_DAEMONS.remove(d)


# ====================================================== a log nobody reads


def unread_daemon():
    """pexos-httpd whose stderr is a pipe this test reads only its first
    line from (the port): a log collector that stopped reading."""
    p = subprocess.Popen([EXE, "--listen", "127.0.0.1", "--port", "0",
                          "--workers", "2"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = p.stderr.readline().decode()
    m = re.search(r'"port":(\d+)', line)
    if not m:
        p.kill()
        raise DaemonFailed(f"no port in {line!r}")
    return p, int(m.group(1))


# A path and a User-Agent as long as the log line keeps them (255 and
# 127 bytes; the path twice): a line of about 1 KB.
MISSING = "/missing-" + "x" * 246
LONG_AGENT = "pexos-test-" + "y" * 116


def misses(port, n):
    """n GET MISSING on one keep-alive connection (each logs a line of
    about 1 KB); how many were answered 404."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    got = 0
    try:
        for _ in range(n):
            conn.request("GET", MISSING, headers={"User-Agent": LONG_AGENT})
            r = conn.getresponse()
            r.read()
            got += r.status == 404
    finally:
        conn.close()
    return got


@case("a log nobody reads stops nothing: runs and 2500 requests answered, "
      "the lines dropped counted and reported once read, exit 0")
def _(c):
    p, port = unread_daemon()
    try:
        body = json.dumps({"script": HELLO})
        # A log line is about 1 KB here: the pipe (64 KiB) holds some 60,
        # the daemon's buffer (1 MiB) some 1050 more; 2500 overflow both.
        got = misses(port, 2500)
        c.expect(got == 2500, f"{got} of 2500 GET {MISSING[:12]}... answered 404")
        answered = sum(execute(port, body, timeout=10).status == 200
                       for _ in range(20))
        c.expect(answered == 20, f"{answered} of 20 runs answered")
        dropped = metrics(port).get(("pexos_log_lines_dropped_total", ()), 0)
        c.expect(dropped > 0, "no log line counted as dropped after 2520 "
                 "requests with the log unread (the test did not fill it)")
        got = []
        reader = threading.Thread(
            target=lambda: got.extend(p.stderr.read().decode().splitlines()),
            daemon=True)
        reader.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                "log lines dropped" in x for x in list(got)):
            time.sleep(0.1)
            if not any("log lines dropped" in x for x in list(got)):
                # the writer reports once it can write again
                request(port, "GET", "/health")
        p.send_signal(signal.SIGTERM)
        rc = p.wait(30)
        reader.join(10)
        note = [x for x in got if "log lines dropped" in x]
        c.expect(bool(note), "no WARNING saying how many lines were dropped")
        c.expect(rc == 0, f"exit status {rc}, want 0")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


@case("SIGTERM with the log unread and full: exit 0 within grace + 2 s")
def _(c):
    p, port = unread_daemon()
    try:
        body = json.dumps({"script": HELLO})
        misses(port, 2500)
        execute(port, body, timeout=10)
        sent = time.monotonic()
        p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - sent
        c.expect(rc == 0, f"exit status {rc} {took:.1f} s after SIGTERM, "
                 "want 0 (a full, unread stderr must not hold it)")
        c.expect(took < 5, f"exit {took:.1f} s after SIGTERM, want < 5")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# ============================================================ fail closed


def can_hide_cgroups():
    try:
        p = subprocess.run(NO_CGROUP + ["true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return p.returncode == 0


@case("no cgroup filesystem: refuses to start, names cgroups, exits non-zero")
def _(c):
    if not can_hide_cgroups():
        c.skip("cannot unshare a mount namespace here (needs root)")
    argv = NO_CGROUP + [EXE, "--listen", "127.0.0.1", "--port", "0"]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=60,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        c.problems.append("still running after 60 s: it started anyway")
        return
    err = p.stderr.decode("utf-8", "replace")
    c.expect(p.returncode != 0, f"exit status {p.returncode}, want non-zero")
    c.expect("cgroup" in err, "stderr does not name cgroups")
    c.expect("--limits=rlimit" in err, "stderr does not name the opt-in --limits=rlimit")
    c.expect('"port"' not in err and "listening" not in err, "it printed a listening line")
    if c.problems:
        c.note(f"stderr: {clip(err, 1500)}")


@case("no cgroup filesystem with --limits rlimit: starts, /health says rlimit, runs")
def _(c):
    if not can_hide_cgroups():
        c.skip("cannot unshare a mount namespace here (needs root)")
    d = daemon("rlimit")
    h = health(d.port)
    c.expect(h.get("isolation", {}).get("limits") == "rlimit",
             f"isolation.limits {h.get('isolation', {}).get('limits')!r}")
    c.hello(d, "a hello-world run")


@case("pool auto: 2 x workers (--workers 2: 4; PEXOS_WORKERS=1 PEXOS_POOL=auto: 2); rlimit: none")
def _(c):
    for name, want in (("main", 4), ("env", 2)):
        pool = health(daemon(name).port).get("pool") or {}
        c.expect(pool.get("size") == want,
                 f"{name}: pool {pool!r}, want size {want}")
    if not can_hide_cgroups():
        if c.problems:
            return
        c.skip("cannot unshare a mount namespace here (needs root)")
    pool = health(daemon("rlimit").port).get("pool")
    c.expect(pool == {"size": 0, "state": "off"},
             f"rlimit: pool {pool!r}, want none")


# ======================================================== documentation


def doc_blocks(path, heading, level, fence):
    """The code blocks opened by `fence` in the section `heading` (a
    heading of `level` '#'s) of a Markdown or scdoc file; None without it."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, block, inside, in_fence = [], None, False, False
    for line in lines:
        if line.startswith("```"):
            if block is not None:
                blocks.append("\n".join(block) + "\n")
                block = None
            elif inside and line.rstrip() == fence:
                block = []
            in_fence = not in_fence
            continue
        if block is not None:
            block.append(line)
        elif not in_fence and re.match(r"#{1,%d} " % level, line):
            if inside:
                break
            inside = line.rstrip() == heading
    if not inside and not blocks:
        return None
    return [b for b in blocks if b.strip()]


def curl_home():
    """A curlrc that makes every HTTP error status a failing exit status."""
    home = os.path.join(WORKDIR, "curl")
    os.makedirs(home, exist_ok=True)
    help_all = subprocess.run(["curl", "--help", "all"], capture_output=True).stdout
    option = "fail-with-body" if b"--fail-with-body" in help_all else "fail"
    with open(os.path.join(home, ".curlrc"), "w") as f:
        f.write(f"{option}\nmax-time = 60\n")
    return home


def run_doc_block(c, block, port_of):
    """Runs one shell block as written; the daemon depends on whether it
    uses the token."""
    token = "Authorization" in block or "PEXOS_TOKEN" in block
    d = daemon("env" if token else "main")
    env = dict(os.environ, PORT=str(d.port), CURL_HOME=curl_home())
    env.pop("PEXOS_TOKEN", None)
    if token:
        env["PEXOS_TOKEN"] = TOKEN
    block = port_of(block, d.port)
    p = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=REPO_ROOT,
                       env=env, capture_output=True, timeout=90)
    if not c.expect(p.returncode == 0, f"exit status {p.returncode}, want 0"):
        c.note(f"block: {block!r}")
        c.note(f"stdout: {clip(p.stdout)}")
        c.note(f"stderr: {clip(p.stderr)}")
    c.expect(p.stdout.strip(), "the example printed nothing")


def man_block(text, port):
    """A code block of an scdoc page as a shell sees it: scdoc writes '\\'
    for a backslash; the page's examples use port 8080."""
    return text.replace("\\\\", "\\").replace("localhost:8080", f"localhost:{port}")


def register_doc_examples():
    for tool in ("curl", "jq"):
        if not shutil.which(tool):
            CASES.append((f"documentation examples need {tool}",
                          lambda c, t=tool: c.problems.append(f"{t} is not installed")))
            return
    readme = os.path.join(REPO_ROOT, "README.md")
    blocks = doc_blocks(readme, "## pexos-httpd", 2, "```sh")
    if not blocks:
        CASES.append(("README.md has a '## pexos-httpd' section with ```sh examples",
                      lambda c: c.problems.append("no such section or no examples")))
    for i, block in enumerate(blocks or [], 1):
        first = block.strip().splitlines()[0]
        CASES.append((f"README pexos-httpd example {i} runs as written: {first[:60]}",
                      lambda c, b=block: run_doc_block(c, b, lambda s, p: s)))
    page = os.path.join(REPO_ROOT, "man", "pexos-httpd.8.scd")
    if not os.path.exists(page):
        CASES.append(("man/pexos-httpd.8.scd exists",
                      lambda c: c.problems.append("it does not")))
        return
    blocks = doc_blocks(page, "# EXAMPLES", 1, "```")
    blocks = [b for b in blocks or [] if b.lstrip().startswith(("curl", "jq"))]
    for i, block in enumerate(blocks, 1):
        first = man_block(block, 8080).strip().splitlines()[0]
        CASES.append((f"pexos-httpd(8) example {i} runs (port substituted): {first[:50]}",
                      lambda c, b=block: run_doc_block(c, b, man_block)))


@case("--help lists every flag with its PEXOS_* variable; pexos-httpd(8) documents each")
def _(c):
    p = subprocess.run([EXE, "--help"], capture_output=True, timeout=10)
    c.expect(p.returncode == 0, f"--help exit status {p.returncode}")
    flags = re.findall(r"^\s+--([a-z-]+)\s+([A-Z_]+)\s", p.stdout.decode(), re.M)
    c.expect(len(flags) >= 10, f"only {len(flags)} flags found in --help")
    page = os.path.join(REPO_ROOT, "man", "pexos-httpd.8.scd")
    if not c.expect(os.path.exists(page), "man/pexos-httpd.8.scd does not exist"):
        return
    with open(page, encoding="utf-8") as f:
        text = f.read()
    for flag, env in flags:
        c.expect(f"*--{flag}*" in text, f"pexos-httpd(8) does not document --{flag}")
        c.expect(env in text, f"pexos-httpd(8) does not name {env}")
    c.expect("PEXOS_TOKEN" in text, "pexos-httpd(8) does not name PEXOS_TOKEN")


@case("a wrong option value: exit 2 and a message naming the option")
def _(c):
    for args in (["--workers", "nope"], ["--workers", "0"], ["--port", "70000"],
                 ["--grace", "-1"], ["--memory", "lots"],
                 ["--token-file", os.path.join(WORKDIR, "missing")]):
        p = subprocess.run([EXE, *args], capture_output=True, timeout=10)
        err = p.stderr.decode("utf-8", "replace")
        c.expect(p.returncode == 2 and args[0].lstrip("-").split("-")[0] in err,
                 f"{' '.join(args)}: exit {p.returncode}, stderr {clip(err, 300)}")


def check_all_stopped(c):
    """Last: stop the shared daemons, then look at every daemon's exit and
    stderr (an ASan/UBSan build reports there)."""
    for d in DAEMONS.values():
        if d.alive():
            d.signal(signal.SIGTERM)
    for d in ALL_DAEMONS:
        rc = d.wait(20)
        if rc is None:
            d.kill()
        # the failed start-up of a case already reported is not counted
        if d.port is not None:
            c.expect(rc == 0, f"daemon {d.name!r}: exit status {rc}, want 0")
        for line in d.snapshot():
            if "Sanitizer" in line or "runtime error:" in line:
                c.problems.append(f"daemon {d.name!r}: {line[:300]}")
                break


# ------------------------------------------------------------------- driver


def run_case(fn):
    c = Check()
    try:
        fn(c)
    except Skip as e:
        return c, str(e)
    except DaemonFailed as e:
        c.problems.append(str(e))
    except Exception as e:  # a harness bug or an unexpected shape: report it
        c.problems.append(f"exception: {type(e).__name__}: {e}")
    return c, None


def main():
    global EXE, REPO_ROOT
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} PEXOS_HTTPD REPO_ROOT", file=sys.stderr)
        return 2
    EXE, REPO_ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if os.environ.get("PEXOS_RESPONSE_LOG"):  # this run's responses only
        open(os.environ["PEXOS_RESPONSE_LOG"], "w").close()
    must_work = os.environ.get("PEXOS_MUST_WORK") == "1"
    if not os.access(EXE, os.X_OK):
        if must_work:
            print(f"not ok 1 - {EXE} exists and is executable\n1..1")
            return 1
        print(f"1..0 # SKIP {EXE} not found")
        return 77
    try:
        daemon("main")
    except DaemonFailed as e:
        if "refusing to start" in str(e) and not must_work:
            print("1..0 # SKIP the sandbox cannot work on this host")
            print("# " + str(e)[:1000])
            return 77
    register_doc_examples()
    # PEXOS_TEST_CASES=REGEX runs only the cases it matches (when working
    # on one); the suite always runs them all.
    only = os.environ.get("PEXOS_TEST_CASES")
    if only:
        CASES[:] = [x for x in CASES if re.search(only, x[0])]
    CASES.append(("every daemon exits 0 on SIGTERM, none printed a sanitizer "
                  "report", check_all_stopped))

    failed = skipped_n = 0
    started = time.monotonic()
    try:
        for number, (description, fn) in enumerate(CASES, start=1):
            t0 = time.monotonic()
            c, skipped = run_case(fn)
            took = time.monotonic() - t0
            if skipped is not None:
                skipped_n += 1
                print(f"ok {number} - {description} # SKIP {skipped}")
            elif c.todo:
                state = "not ok" if c.problems else "ok"
                print(f"{state} {number} - {description} # TODO {c.todo}")
                for line in c.problems[:5]:
                    print(f"#   {line}")
            elif c.problems:
                failed += 1
                print(f"not ok {number} - {description}")
                for line in c.problems + c.notes:
                    print(f"#   {line}")
            else:
                print(f"ok {number} - {description}")
            if took > 8:
                print(f"#   ({took:.1f} s)")
            sys.stdout.flush()
    finally:
        for d in DAEMONS.values():
            d.stop()
    print(f"1..{len(CASES)}")
    print(f"# {len(CASES) - failed - skipped_n} passed, {skipped_n} skipped, {failed} failed "
          f"in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        status = main()
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
    sys.exit(status)
