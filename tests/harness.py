"""What the test harnesses share: strict JSON (RFC 8259: no NaN/Infinity,
no duplicate keys), typed comparison, the subset match of expect.json files,
TAP output, and pexos-httpd daemons with the HTTP requests sent to them.
Imported by tests/integration/*.py and tests/http/*.py."""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time


class NotStrictJSON(ValueError):
    pass


class Obj(dict):
    """A JSON object that remembers its key order as written."""
    key_order = ()


def _reject_constant(name):
    raise NotStrictJSON(f"non-RFC-8259 constant {name}")


def _object(pairs):
    obj = Obj(pairs)
    if len(obj) != len(pairs):
        raise NotStrictJSON(f"duplicate key in {[k for k, _ in pairs]}")
    obj.key_order = [k for k, _ in pairs]
    return obj


def strict_loads(text):
    """json.loads that refuses NaN/Infinity and duplicate keys; objects
    keep the order their keys were written in (Obj.key_order)."""
    return json.loads(text, parse_constant=_reject_constant,
                      object_pairs_hook=_object)


def same(a, b):
    """Deep equality that keeps JSON types apart (true != 1, 3 != 3.0)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def short(value, limit=300):
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} chars)"
    return text


def subset_problems(expected, got, path="response"):
    """Recursive dict subset; lists and scalars must be equal (typed)."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {short(got)}"]
        problems = []
        for key, value in expected.items():
            sub = f"{path}[{json.dumps(key)}]"
            if key not in got:
                problems.append(f"{sub} is missing")
            else:
                problems += subset_problems(value, got[key], sub)
        return problems
    if not same(expected, got):
        return [f"{path}: expected {short(expected)}, got {short(got)}"]
    return []


def tap_result(number, description, problems, runs=()):
    """Prints one TAP line with the diagnostics of a failed case (each run
    describes itself); returns True if the case passed."""
    if problems:
        print(f"not ok {number} - {description}")
        for line in problems:
            print(f"#   {line}")
        for run in runs:
            for line in run.describe():
                print(f"#   {line}")
    else:
        print(f"ok {number} - {description}")
    sys.stdout.flush()
    return not problems


def tap_plan(total, failed):
    """The plan and summary lines; returns the exit status."""
    print(f"1..{total}")
    print(f"# {total - failed} passed, {failed} failed")
    return 1 if failed else 0


def run_case(check, fn):
    """Runs one case on `check`; a harness bug is reported, not raised."""
    try:
        fn(check)
    except Exception as e:  # a harness bug or an unexpected shape
        check.problems.append(f"harness exception: {type(e).__name__}: {e}")
    return check


class Check:
    """The problems one case found: expect() notes one when cond is false."""

    def __init__(self):
        self.problems = []

    def expect(self, cond, problem):
        if not cond:
            self.problems.append(problem)
        return bool(cond)


def case_list():
    """A list of (description, fn) and the decorator that fills it."""
    cases = []

    def case(description):
        return lambda fn: cases.append((description, fn)) or fn

    return cases, case


def binary_missing(path):
    """None if `path` is executable; else the exit status after printing
    the TAP for it: a skip (77), or a failure under PEXOS_MUST_WORK=1."""
    if os.access(path, os.X_OK):
        return None
    if os.environ.get("PEXOS_MUST_WORK") == "1":
        print(f"not ok 1 - {path} exists and is executable\n1..1")
        return 1
    print(f"1..0 # SKIP {path} not found")
    return 77


def cgroup_v1_dirs(controllers):
    """{controller: directory of this process's cgroup} for those of
    `controllers` mounted as cgroup v1 hierarchies."""
    own = {}
    for line in open("/proc/self/cgroup"):
        _, ctrls, path = line.rstrip("\n").split(":", 2)
        for c in ctrls.split(","):
            own[c] = path
    dirs = {}
    for line in open("/proc/self/mountinfo"):
        left, right = line.split(" - ", 1)
        f = left.split()
        fstype, _, supers = right.split()[:3]
        if fstype != "cgroup":
            continue
        root, point = f[3], f[4]
        for c in supers.split(","):
            if c in controllers and c in own and c not in dirs:
                rel = own[c][len(root.rstrip("/")):]
                dirs[c] = os.path.realpath(point + rel)
    return dirs


def remove_cgroup_tree(top):
    """rmdir every cgroup below `top`, then `top`, deepest first, retrying
    while the processes killed in them are released."""
    for d, _, _ in sorted(os.walk(top, topdown=False), key=lambda w: -len(w[0])):
        for _ in range(100):
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.02)


def clip(data, limit=500):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} chars)"
    return repr(text)


# ------------------------------------------------- pexos-httpd and HTTP


def clean_env(extra=None):
    """This environment without the PEXOS_* settings (and PORT) that would
    change what a pexos program does; `extra` added."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PEXOS_") and k != "PEXOS_MUST_WORK")
           and k != "PORT"}
    env.update(extra or {})
    return env


class DaemonFailed(Exception):
    pass


STARTED_DAEMONS = []  # every daemon started, for a harness's final check


class Daemon:
    """One pexos-httpd process (`exe`) on a free 127.0.0.1 port, unless
    listen_flags is false; its stderr is collected line by line."""

    def __init__(self, exe, name, args=(), env=None, wrapper=(),
                 listen_flags=True, start_timeout=60):
        self.exe = exe
        self.start_timeout = start_timeout
        self.start_s = None
        self.name = name
        self.args = list(args)
        self.env = env or {}
        self.wrapper = list(wrapper)
        self.listen_flags = listen_flags
        self.proc = None
        self.port = None
        self.lines = []
        self.times = []  # time.monotonic() each line came in
        self.cond = threading.Condition()
        self.reader = None

    def argv(self):
        flags = ["--listen", "127.0.0.1", "--port", "0"] if self.listen_flags else []
        return [*self.wrapper, self.exe, *flags, *self.args]

    def start(self):
        t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=clean_env(self.env),  # a stray setting must not change it
        )
        STARTED_DAEMONS.append(self)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + self.start_timeout
        with self.cond:
            while self.port is None:
                if self.proc.poll() is not None and not self.reader.is_alive():
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.2))
        if self.port is None:
            self.kill()
            raise DaemonFailed(
                f"daemon {self.name!r} ({' '.join(self.args)}) did not start: "
                f"exit {self.proc.returncode}, stderr {clip(self.stderr(), 1500)}"
            )
        self.start_s = time.monotonic() - t0
        return self

    def _read(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.times.append(time.monotonic())
                if self.port is None:
                    m = re.search(r'"port":(\d+)', line)
                    if m:
                        self.port = int(m.group(1))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def stderr(self):
        with self.cond:
            return "\n".join(self.lines)

    def lines_between(self, t_from, t_to):
        """(time, line) of the stderr lines that came in between two
        time.monotonic() values (the log has no time of its own)."""
        with self.cond:
            return [(t, x) for t, x in zip(self.times, self.lines)
                    if t_from <= t <= t_to]

    def snapshot(self):
        with self.cond:
            return list(self.lines)

    def wait_line(self, pred, timeout=5.0, since=0):
        """The first stderr line (from index `since`) for which pred is true."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[since:]:
                    if pred(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.2))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=5)
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(20) is None:
                self.kill()


class Response:
    def __init__(self, status, reason, headers, body, elapsed):
        self.status, self.reason = status, reason
        self.header_list = headers
        self.headers = {k.lower(): v for k, v in headers}
        self.body, self.elapsed = body, elapsed
        self._json = None

    def json(self):
        if self._json is None:
            self._json = strict_loads(self.body.decode("utf-8"))
        return self._json

    def describe(self):
        heads = ", ".join(f"{k}: {v}" for k, v in self.header_list)
        return (f"HTTP {self.status} {self.reason} after {self.elapsed:.2f} s; "
                f"headers {heads}; body {clip(self.body)}")


def record(method, path, r):
    """Appends a response to $PEXOS_RESPONSE_LOG (JSON Lines), when set:
    the OpenAPI test checks every one against the document."""
    log = os.environ.get("PEXOS_RESPONSE_LOG")
    if not log:
        return
    line = json.dumps({"method": method, "path": path, "status": r.status,
                       "content_type": r.headers.get("content-type", ""),
                       "body": r.body.decode("utf-8", "replace")})
    with open(log, "a") as f:
        f.write(line + "\n")


def request(port, method, path, body=None, headers=None, timeout=60):
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        resp = Response(r.status, r.reason, r.getheaders(), data,
                        time.monotonic() - start)
        record(method, path, resp)
        return resp
    finally:
        conn.close()


def in_thread(fn, *args, **kw):
    """Run fn in a thread; returns (thread, box) where box gets 'value' or 'error'."""
    box = {}

    def target():
        try:
            box["value"] = fn(*args, **kw)
        except Exception as e:  # reported by the case that joins
            box["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    return t, box


def run_tap(cases, make_check=Check):
    """Runs (description, fn) cases one after the other on fresh checks
    (objects with .problems and, if they keep them, .runs; a Check by
    default) and prints the TAP; returns the exit status."""
    failed = 0
    for number, (description, fn) in enumerate(cases, start=1):
        c = run_case(make_check(), fn)
        failed += not tap_result(number, description, c.problems,
                                 getattr(c, "runs", ()))
    return tap_plan(len(cases), failed)


def exit_cleaning(main, workdir):
    """sys.exit(main()), removing workdir whatever happens."""
    try:
        status = main()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.exit(status)


class Problems:
    """The problems one case found, and the runs to describe on failure."""

    def __init__(self):
        self.problems, self.runs = [], []

    def expect(self, cond, message):
        if not cond:
            self.problems.append(message)
        return cond


def registrar(cases):
    """A @case(description) decorator that appends to `cases`."""
    def case(description):
        def register(fn):
            cases.append((description, fn))
            return fn
        return register
    return case
