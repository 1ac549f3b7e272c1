#!/usr/bin/python3
"""Integration tests for the warm pool, speaking TAP.

usage: /usr/bin/python3 tests/integration/test_pool.py PEXOS_RUN PEXOS_HTTPD REPO_ROOT

Drives pexos-run (--pool, --preload, --pool-wait, batches) and pexos-httpd
(--pool, /health "pool", /metrics pexos_pool_*) against what the warm pool
promises: every pooled run is as fresh as a cold one (reseeded random and
numpy.random, no module state, files or environment left by an earlier run,
nothing of a concurrent run visible), the limits hold in a warm sandbox, the
pool refills under load, a new slot owns the warm-up's pages when ready, the
pool falls back to cold sandboxes when it is exhausted or broken, survives
the death of its zygote, and reports itself.

Every case that expects a warm sandbox asserts stats.pooled, so a silent
fall-back to cold runs fails it; the cases that expect a cold one assert
pooled false. Each daemon is started on first use on a free 127.0.0.1 port
(--port 0) and stopped (SIGTERM, exit 0) at the end. Cases run one after the
other: several of them count pool hits or time runs.

Standard library only: run it with Debian's /usr/bin/python3.
Environment:
  PEXOS_MUST_WORK  when 1, a missing binary is a failure, not a skip
Exit: 0 all passed, 1 something failed, 77 skipped.
"""

import concurrent.futures
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (STARTED_DAEMONS, Daemon, DaemonFailed,  # noqa: E402
                     binary_missing, clean_env, clip, in_thread, request,
                     same, short, strict_loads, tap_plan)

HELLO = 'def main():\n    return {"message": "Hello, World!"}\n'
HELLO_RESULT = {"message": "Hello, World!"}
# The same through numpy: a script for the full profile's pool.
NUMPY_HELLO = ('import numpy as np\n\ndef main():\n'
               '    return {"message": "Hello, World!", "n": int(np.int64(3))}\n')
NUMPY_RESULT = {"message": "Hello, World!", "n": 3}
# Guard for one pexos-run invocation or HTTP exchange; no case should come
# close to it.
COMMAND_TIMEOUT = 60
HTTP_TIMEOUT = 60
# A daemon waits up to 60 s for its pool before it listens.
START_TIMEOUT = 75
# How long a case waits for the pool to have a ready slot before a run that
# must be pooled: a warm sandbox starts in well under a second.
READY_TIMEOUT = 10
# The prefix of the zygote's command line (NULs between arguments as spaces).
ZYGOTE_CMDLINE = ("/usr/bin/python3 -I -B -S -c # SPDX-License-Identifier: MIT\n"
                  "# The zygote of the warm pool")
DEFAULT_PRELOAD = "numpy,pandas"

PEXOS_RUN = None
PEXOS_HTTPD = None
REPO_ROOT = None
WORKDIR = tempfile.mkdtemp(prefix="pexos-test-pool-")


# ------------------------------------------------------------------ pexos-run


class Run:
    def __init__(self, argv, rc, out, err, wall):
        self.argv, self.rc, self.out, self.err, self.wall = (
            argv, rc, out, err, wall)

    def describe(self):
        argv = " ".join(shlex.quote(os.fsdecode(a)) for a in self.argv)
        return [f"command: {argv}",
                f"exit: {self.rc}  wall: {self.wall:.2f} s",
                f"stdout: {clip(self.out, 2000)}",
                f"stderr: {clip(self.err, 800)}"]


def pexos_run(*args, timeout=COMMAND_TIMEOUT, env=None):
    argv = [PEXOS_RUN, *args]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, env=clean_env(env), cwd=WORKDIR)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "killed by the harness", e.stdout or b"", e.stderr or b""
    return Run(argv, rc, out, err, time.monotonic() - start)


def write_file(name, content):
    path = os.path.join(WORKDIR, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)
    return path


# ------------------------------------------------------------------ daemons

DAEMON_SPECS = {
    # The shared one: default preload, two workers, two warm sandboxes.
    "pool2": ("--workers", "2", "--pool", "2"),
    # More workers than warm sandboxes, and no waiting for one.
    "exhaust": ("--workers", "4", "--pool", "1", "--pool-wait", "0"),
    # (two: one for each profile, the full one's never starts)
    "broken": ("--workers", "1", "--pool", "2",
               "--preload", "no_such_module_pexos"),
    # Its zygote gets killed.
    "zygote": ("--workers", "2", "--pool", "2"),
    # Three runs at once on six warm sandboxes: when does it refill?
    "refill": ("--workers", "3", "--pool", "6"),
    # Both profiles, room for demand to move slots between them.
    "profiles": ("--workers", "2", "--pool", "8"),
    # Its zygote takes SLOW_ZYGOTE_MS longer to start, every time.
    "slow": ("--workers", "2", "--pool", "1", "--pool-wait", "1"),
    # As pool2, its zygotes recording no page sets (pexos(7)'s test hook).
    "nosets": ("--workers", "2", "--pool", "2"),
}
# pexos(7)'s test hook: a zygote's start sleeps that long where the pool's
# lock was once held through it.
SLOW_ZYGOTE_MS = 6000
DAEMON_ENV = {"slow": {"PEXOS_TEST_ZYGOTE_DELAY_MS": str(SLOW_ZYGOTE_MS)},
              "nosets": {"PEXOS_TEST_NO_PAGE_SETS": "1"}}
DAEMONS = {}
ALL_DAEMONS = STARTED_DAEMONS


def daemon(name):
    """The running daemon of that spec, started on first use."""
    d = DAEMONS.get(name)
    if d is None or not d.alive():
        d = Daemon(PEXOS_HTTPD, name, DAEMON_SPECS[name],
                   env=DAEMON_ENV.get(name), start_timeout=START_TIMEOUT)
        DAEMONS[name] = d
        d.start()
    return d


# --------------------------------------------------------------------- HTTP


def execute(port, script, **fields):
    body = json.dumps({"script": script, **fields}).encode("utf-8")
    return request(port, "POST", "/execute", body=body,
                   headers={"Content-Type": "application/json"})


def health(port):
    return request(port, "GET", "/health", timeout=10).json()


def pool_of(port):
    return health(port).get("pool") or {}


def wait_pool(port, pred, timeout):
    """Polls /health until pred(pool) is true; returns the pool object, or
    None (the last one seen is in LAST_POOL)."""
    global LAST_POOL
    deadline = time.monotonic() + timeout
    while True:
        LAST_POOL = pool_of(port)
        if pred(LAST_POOL):
            return LAST_POOL
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


LAST_POOL = None


def metrics(port):
    """/metrics as ({name: value}, {name: type}); labelled series are left out."""
    text = request(port, "GET", "/metrics", timeout=10).body.decode("utf-8")
    values, types = {}, {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)$", line)
        if m:
            types[m.group(1)] = m.group(2)
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*) (\S+)$", line)
        if m:
            values[m.group(1)] = float(m.group(2))
    return values, types


# ------------------------------------------------------------------ processes


def proc_table():
    """{pid: (ppid, cmdline with NULs as spaces)} of every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        table[int(entry)] = (ppid, cmd.rstrip("\0").replace("\0", " "))
    return table


def descendants(pid, table=None):
    table = table or proc_table()
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for p, (pp, _cmd) in table.items():
            if pp == parent:
                out.append(p)
                todo.append(p)
    return out


def zygote_profile(pid):
    """"full" for a zygote that has numpy mapped (the default preload),
    else "lean"."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return "full" if "/numpy/" in f.read() else "lean"
    except OSError:
        return None


def zygotes_of(daemon_pid, profile=None):
    """Pids of the zygotes (of that profile, or all): a child, with the
    zygote's command line, of a pexos-init that is a child of the daemon."""
    table = proc_table()
    inits = [p for p, (pp, cmd) in table.items()
             if pp == daemon_pid and cmd.split(" ", 1)[0] == "pexos-init"]
    return [p for p, (pp, cmd) in table.items()
            if pp in inits and cmd.startswith(ZYGOTE_CMDLINE)
            and (profile is None or zygote_profile(p) == profile)]


def ready_zygote(c, name, n, profile="lean"):
    """The daemon `name` once n slots are ready, and the pid of its one
    zygote of that profile (None after reporting the problem)."""
    d = daemon(name)
    if not c.ready(d, n):
        return d, None
    zygotes = zygotes_of(d.proc.pid, profile)
    if not c.expect(len(zygotes) == 1,
                    f"found {len(zygotes)} {profile} zygotes: {zygotes}"):
        return d, None
    return d, zygotes[0]


# ------------------------------------------------------------------ checking


class Check:
    """Problems found by one case, plus what to show on failure."""

    def __init__(self):
        self.problems = []
        self.notes = []
        self.runs = []
        self.todo = None

    def expect(self, cond, message):
        if not cond:
            self.problems.append(message)
        return cond

    def note(self, text):
        self.notes.append(text)

    def run(self, *args, **kw):
        run = pexos_run(*args, **kw)
        self.runs.append(run)
        return run

    def lines(self, run, files):
        """The JSON Lines of a batch: one object per file, in order, each with
        "file" first. Returns them, or [] after reporting the problem."""
        text = run.out.decode("utf-8", "replace")
        lines = text.split("\n")
        if not self.expect(text.endswith("\n") and len(lines) - 1 == len(files),
                           f"{len(lines) - 1} lines on stdout, want {len(files)}"):
            return []
        objs = []
        for n, (line, path) in enumerate(zip(lines, files), start=1):
            try:
                obj = strict_loads(line)
            except ValueError as e:
                self.problems.append(f"line {n} is not strict JSON: {e}")
                return []
            if not self.expect(isinstance(obj, dict), f"line {n} is not an object"):
                return []
            self.expect(obj.key_order[:1] == ["file"],
                        f"line {n}: first key is not 'file': {obj.key_order}")
            self.expect(obj.get("file") == path,
                        f"line {n}: file is {obj.get('file')!r}, want {path!r}")
            objs.append(obj)
        return objs

    def single(self, run):
        """The one response object of a single-script run, or {}."""
        try:
            obj = strict_loads(run.out.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            self.problems.append(f"stdout is not one strict JSON object: {e}")
            return {}
        return obj if self.expect(isinstance(obj, dict), "stdout is not an object") else {}

    def pooled(self, obj, want, what):
        """stats.pooled is `want`; shows the response when it is not."""
        stats = obj.get("stats") if isinstance(obj, dict) else None
        got = stats.get("pooled") if isinstance(stats, dict) else "no stats"
        return self.expect(got is want,
                           f"{what}: stats.pooled is {got!r}, want {want!r} "
                           f"({short(obj, 400)})")

    def status(self, r, want, what):
        if not self.expect(r.status == want, f"{what}: HTTP {r.status}, want {want}"):
            self.note(f"{what}: {r.describe()}")
            return False
        return True

    def body(self, r, what):
        try:
            obj = r.json()
        except (ValueError, UnicodeDecodeError) as e:
            self.problems.append(f"{what}: body is not strict JSON: {e}")
            self.note(f"{what}: {r.describe()}")
            return {}
        return obj if self.expect(isinstance(obj, dict), f"{what}: body is not an object") else {}

    def success(self, r, result, what, pooled=None):
        self.status(r, 200, what)
        obj = self.body(r, what)
        if obj:
            self.expect(same(obj.get("result"), result),
                        f"{what}: result {short(obj.get('result'))}, want {short(result)}")
            self.expect("type" not in obj, f"{what}: a success has a type: {short(obj)}")
            if pooled is not None:
                self.pooled(obj, pooled, what)
        return obj

    def failure(self, r, type_, what, pooled=None, mentions=()):
        obj = self.body(r, what)
        if obj:
            if not self.expect(obj.get("type") == type_,
                               f"{what}: type {obj.get('type')!r}, want {type_!r}"):
                self.note(f"{what}: {r.describe()}")
            for text in mentions:
                self.expect(text in str(obj.get("error")),
                            f"{what}: error {obj.get('error')!r} does not mention {text!r}")
            if pooled is not None:
                self.pooled(obj, pooled, what)
        return obj

    def ready(self, d, n=1, timeout=READY_TIMEOUT):
        """Waits until the daemon's pool has n ready slots; a problem if not."""
        p = wait_pool(d.port, lambda p: p.get("ready", 0) >= n, timeout)
        return self.expect(p is not None,
                           f"the pool of {d.name!r} did not have {n} ready slot(s) "
                           f"within {timeout} s: {short(LAST_POOL, 600)}")


CASES = []


def case(description):
    def register(fn):
        CASES.append((description, fn))
        return fn
    return register


# ==================================================== fresh state per run

RANDOMS = """\
import os
import random

import numpy


def main():
    return {"random": random.random(),
            "numpy": float(numpy.random.rand()),
            "getrandbits": random.getrandbits(64),
            "urandom": os.urandom(8).hex()}
"""


LEAN_RANDOMS = """\
import os
import random


def main():
    return {"random": random.random(),
            "getrandbits": random.getrandbits(64),
            "urandom": os.urandom(8).hex()}
"""


def draws_differ(c, name, script, pool, profile, at_least, keys):
    """6 pooled runs of `script` (one at a time, a pool of `pool`), at
    least `at_least` of them on `profile` (forks of one zygote, whose draws
    would repeat without the reseed): each of `keys` of their results
    pairwise different."""
    files = [write_file(f"{name}{i}.py", script) for i in range(1, 7)]
    run = c.run("-j", "1", "--pool", str(pool), "--pool-wait", "10",
                "--stats", *files)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    objs = c.lines(run, files)
    if not objs:
        return
    for n, obj in enumerate(objs, start=1):
        c.pooled(obj, True, f"run {n}")
    on = [(o.get("stats") or {}).get("pool") for o in objs]
    c.expect(on.count(profile) >= at_least,
             f"the runs ran on {on}: want {at_least} on {profile!r} at least")
    results = [o.get("result") for o in objs]
    if not c.expect(all(isinstance(r, dict) for r in results),
                    f"a run did not return its draws: {short(results, 600)}"):
        return
    for key in keys:
        values = [r.get(key) for r in results]
        c.expect(None not in values and len(set(values)) == len(values),
                 f"{key}: the 6 runs drew {values}: not pairwise different")


@case("reseed: 6 pooled runs of one slot each draw different random, "
      "numpy.random, getrandbits and urandom values")
def _(c):
    draws_differ(c, "random", RANDOMS, 1, "full", 6,
                 ("random", "numpy", "getrandbits", "urandom"))


@case("reseed, lean pool: 6 pooled runs of one slot each draw different "
      "random, getrandbits and urandom values")
def _(c):
    # A lean run takes the full slot when no lean one is on its way.
    draws_differ(c, "lean_random", LEAN_RANDOMS, 2, "lean", 4,
                 ("random", "getrandbits", "urandom"))


# What the leak probe looks at: A changes all of it, then reports it with the
# same probe (every entry true); B, a later run, must see none of it.
LEAK_PROBE = """\
import builtins
import json
import os
import random
import sys

import numpy
import pandas


def probe():
    return {
        "json.pexos_leak": hasattr(json, "pexos_leak"),
        "numpy.pexos_leak": hasattr(numpy, "pexos_leak"),
        "numpy.pi changed": numpy.pi != 3.141592653589793,
        "pandas.pexos_leak": hasattr(pandas, "pexos_leak"),
        "builtins.pexos_leak": hasattr(builtins, "pexos_leak"),
        "sys.modules['pexos_leak']": "pexos_leak" in sys.modules,
        "sys.path entry": "/pexos-leak" in sys.path,
        "os.environ['PEXOS_LEAK']": "PEXOS_LEAK" in os.environ,
        "/tmp/leak": os.path.exists("/tmp/leak"),
        "/dev/shm/leak": os.path.exists("/dev/shm/leak"),
        "numpy.random.seed(1)":
            numpy.random.rand() == numpy.random.RandomState(1).rand(),
        "pandas display.max_rows": pandas.get_option("display.max_rows") == 3,
        "random._inst replaced": type(random._inst) is not random.Random,
        "random.seed(1)": random.random() == random.Random(1).random(),
    }
"""

LEAK_A = LEAK_PROBE + """

class Marked(random.Random):
    pass


def main():
    json.pexos_leak = "json"
    numpy.pexos_leak = "numpy"
    numpy.pi = 3.0
    pandas.pexos_leak = "pandas"
    builtins.pexos_leak = "builtins"
    sys.modules["pexos_leak"] = json
    sys.path.append("/pexos-leak")
    os.environ["PEXOS_LEAK"] = "1"
    with open("/tmp/leak", "w") as f:
        f.write("leak")
    with open("/dev/shm/leak", "w") as f:
        f.write("leak")
    numpy.random.seed(1)
    pandas.set_option("display.max_rows", 3)
    random._inst = Marked(1)
    random.seed(1)
    return probe()
"""

LEAK_B = LEAK_PROBE + """

def main():
    return probe()
"""


@case("module state does not leak: a pooled run after one that changed "
      "modules, builtins, sys, environ, /tmp and seeds sees none of it")
def _(c):
    a = write_file("a_mutate.py", LEAK_A)
    b = write_file("b_check.py", LEAK_B)
    run = c.run("-j", "1", "--pool", "1", "--pool-wait", "10", "--stats", a, b)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    objs = c.lines(run, [a, b])  # checks the order: A, then B
    if not objs:
        return
    c.pooled(objs[0], True, "A (mutates)")
    c.pooled(objs[1], True, "B (checks)")
    seen_a, seen_b = objs[0].get("result"), objs[1].get("result")
    if not (c.expect(isinstance(seen_a, dict), f"A failed: {short(objs[0], 800)}")
            and c.expect(isinstance(seen_b, dict), f"B failed: {short(objs[1], 800)}")):
        return
    # A's changes took (else B's "absent" proves nothing); /dev/shm is the
    # run's own and writable.
    not_applied = [k for k, v in seen_a.items() if not v]
    c.expect(not not_applied, f"A could not make these changes: {not_applied}")
    leaked = [k for k, v in seen_b.items() if v]
    c.expect(not leaked, f"B, a later pooled run, sees A's {leaked}")
    c.expect(len(seen_b) == len(seen_a) == 14, f"probe has {len(seen_b)} entries")


# ==================================================== concurrent runs

SCAN = """\
import os
import subprocess
import time


def scan(marks):
    \"\"\"Where the marks show: /proc/PID/cmdline, /proc/PID/environ, /tmp.\"\"\"
    hits, readable = set(), 0
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    for pid in pids:
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            readable += 1
            for m in marks:
                if m.encode() in data:
                    hits.add(f"{name}:{m}")
    for entry in os.listdir("/tmp"):
        for m in marks:
            if m in entry:
                hits.add(f"tmp:{m}")
    return sorted(hits), pids, readable


def hold(file_mark, env_mark, arg_mark):
    \"\"\"Puts the marks where a neighbour could look: a file in /tmp, the
    environment, and the argv of a child `sleep` (which also inherits the
    environment).\"\"\"
    with open(f"/tmp/{file_mark}", "w") as f:
        f.write(file_mark)
    os.environ["PEXOS_MARK"] = env_mark
    return subprocess.Popen(["sleep", f"4.{arg_mark}"])
"""

HOLDER = """

def main():
    marks = [{file!r}[::-1], {env!r}[::-1], {arg!r}[::-1]]
    child = hold(*marks)
    time.sleep(0.2)
    t1 = time.time()
    own, pids, readable = scan(marks)
    time.sleep(2.0)
    alive = child.poll() is None
    t2 = time.time()
    child.kill()
    child.wait()
    return {{"t1": t1, "t2": t2, "child_alive": alive, "own": own,
             "pids": pids, "readable": readable}}
"""

LOOKER = """

def main():
    theirs = [{file!r}[::-1], {env!r}[::-1], {arg!r}[::-1]]
    mine = [{my_file!r}[::-1], {my_env!r}[::-1], {my_arg!r}[::-1]]
    child = hold(*mine)
    time.sleep(0.2)
    found, own, pids, readable = set(), set(), set(), 0
    s1 = time.time()
    while time.time() < s1 + 1.0:
        hits, p, readable = scan(theirs + mine)
        found.update(h for h in hits if h.split(":", 1)[1] in theirs)
        own.update(h for h in hits if h.split(":", 1)[1] in mine)
        pids.update(p)
        time.sleep(0.1)
    s2 = time.time()
    child.kill()
    child.wait()
    return {{"s1": s1, "s2": s2, "found": sorted(found), "own": sorted(own),
             "pids": sorted(pids), "readable": readable,
             "tmp": sorted(os.listdir("/tmp"))}}
"""


def marks():
    tag = uuid.uuid4().hex
    digits = str(uuid.uuid4().int)[:15]
    # Reversed in the script's source: the marks exist only at run time.
    return {"file": f"pexosmark-file-{tag}"[::-1],
            "env": f"pexosmark-env-{tag}"[::-1],
            "arg": digits[::-1]}


@case("two concurrent pooled runs cannot see each other: /proc, "
      "/proc/*/cmdline, /proc/*/environ, /tmp")
def _(c):
    d = daemon("pool2")
    if not c.ready(d, 2):
        return
    theirs, mine = marks(), marks()
    holder = SCAN + HOLDER.format(**theirs)
    looker = SCAN + LOOKER.format(**theirs, my_file=mine["file"], my_env=mine["env"],
                           my_arg=mine["arg"])
    ta, box_a = in_thread(execute, d.port, holder, stats=True, timeout=20)
    time.sleep(0.6)
    tb, box_b = in_thread(execute, d.port, looker, stats=True, timeout=20)
    ta.join(HTTP_TIMEOUT)
    tb.join(HTTP_TIMEOUT)
    for box, what in ((box_a, "A (holds the marks)"), (box_b, "B (looks)")):
        if "value" not in box:
            c.problems.append(f"{what}: {box.get('error', 'no answer')}")
            return
    ra, rb = box_a["value"], box_b["value"]
    c.status(ra, 200, "A")
    c.status(rb, 200, "B")
    oa, ob = c.body(ra, "A"), c.body(rb, "B")
    if not (oa and ob):
        return
    c.pooled(oa, True, "A")
    c.pooled(ob, True, "B")
    a, b = oa.get("result"), ob.get("result")
    if not (c.expect(isinstance(a, dict), f"A failed: {short(oa, 800)}")
            and c.expect(isinstance(b, dict), f"B failed: {short(ob, 800)}")):
        return
    # The scan works: each run finds its own marks in all three places.
    want_own = ["cmdline", "environ", "tmp"]
    c.expect(sorted({h.split(":")[0] for h in a["own"]}) == want_own,
             f"A does not find its own marks with the scan: {a['own']}")
    c.expect(sorted({h.split(":")[0] for h in b["own"]}) == want_own,
             f"B does not find its own marks with the scan: {b['own']}")
    # B looked while A's marks existed.
    c.expect(a["child_alive"], "A's sleep ended early")
    c.expect(a["t1"] <= b["s1"] and b["s2"] <= a["t2"],
             f"B scanned {b['s1']:.2f}..{b['s2']:.2f}, A held its marks "
             f"{a['t1']:.2f}..{a['t2']:.2f}: not concurrent")
    c.expect(b["found"] == [], f"B sees A's marks: {b['found']}")
    c.note(f"A sees pids {a['pids']}, B sees pids {b['pids']}, B's /tmp {b['tmp']}")


# ==================================================== the pool under load


@case("refill under load: 40 requests, 4 at a time, on --workers 2 --pool 2: "
      "all correct, >= 30 pool hits, 2 ready again within 10 s")
def _(c):
    d = daemon("pool2")
    if not c.ready(d, 2):
        return
    before = pool_of(d.port)
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futures = [ex.submit(execute, d.port, HELLO, stats=True) for _ in range(40)]
        responses = []
        for f in futures:
            try:
                responses.append(f.result(timeout=HTTP_TIMEOUT))
            except Exception as e:  # reported below
                c.problems.append(f"a request failed: {type(e).__name__}: {e}")
    pooled = 0
    for n, r in enumerate(responses, start=1):
        obj = c.success(r, HELLO_RESULT, f"request {n}")
        pooled += (obj.get("stats") or {}).get("pooled") is True
    after = pool_of(d.port)
    hits = after.get("hits", 0) - before.get("hits", 0)
    misses = after.get("misses", 0) - before.get("misses", 0)
    c.expect(hits >= 30, f"{hits} pool hits and {misses} misses for 40 requests, "
             "want >= 30 hits")
    c.expect(pooled == hits and hits + misses == 40,
             f"{pooled} responses say pooled, /health counts {hits} hits and "
             f"{misses} misses")
    t0 = time.monotonic()
    p = wait_pool(d.port, lambda p: p.get("ready") == 2, 10)
    c.expect(p is not None, f"not 2 ready slots 10 s after the load: {short(LAST_POOL, 600)}")
    c.note(f"refilled in {time.monotonic() - t0:.2f} s")


def hold(port, seconds):
    """Polls /health for that long; returns the pool objects seen."""
    seen, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(pool_of(port))
        time.sleep(0.05)
    return seen


@case("refill waits while runs hold warm sandboxes and half of what they "
      "can use is ready (--workers 3 --pool 6, lean runs: 5 lean slots, 1 "
      "full): nothing started during 1, then 2 runs; a 3rd, leaving 2 of 5 "
      "lean ready, starts 3 at once; full again after")
def _(c):
    d = daemon("refill")
    if not c.ready(d, 6, timeout=30):
        return
    # Lean runs move the split to the full profile's floor (1 of 6); the
    # first two spend the full slots over it, the pool refills lean ones.
    for n in range(3):
        c.success(execute(d.port, HELLO, stats=True), HELLO_RESULT,
                  f"settling run {n + 1}", pooled=True)

    def settled(p):
        prof = p.get("profiles") or {}
        return (p.get("ready") == 6 and p.get("in_use") == 0 and
                (prof.get("lean") or {}).get("ready") == 5 and
                (prof.get("full") or {}).get("ready") == 1)
    if not c.expect(wait_pool(d.port, settled, 10) is not None,
                    f"the pool did not settle at 5 lean and 1 full ready slots: "
                    f"{short(LAST_POOL, 600)}"):
        return
    started = pool_of(d.port).get("slots_started", 0)
    sleeper = "import time\n\ndef main():\n    time.sleep(%d)\n    return 'slept'\n"
    ex = concurrent.futures.ThreadPoolExecutor(3)
    futures = []
    try:
        for n, ready in ((1, 5), (2, 4)):
            futures.append(ex.submit(execute, d.port, sleeper % (12 - n), stats=True))
            p = wait_pool(d.port, lambda p: p.get("in_use") == n, 10)
            if not c.expect(p is not None, f"/health never showed in_use {n}: "
                            f"{short(LAST_POOL, 600)}"):
                return
            seen = hold(d.port, 1.0)
            new = max(s.get("slots_started", 0) for s in seen) - started
            readies = sorted({s.get("ready") for s in seen})
            c.expect(new == 0 and readies == [ready],
                     f"with {n} run(s) on warm sandboxes: {new} slot(s) started "
                     f"and ready {readies} over 1 s, want 0 and [{ready}]")
        futures.append(ex.submit(execute, d.port, sleeper % 9, stats=True))
        p = wait_pool(d.port, lambda p: p.get("in_use") == 3 and p.get("ready") == 6,
                      8)
        c.expect(p is not None, "with 3 runs on warm sandboxes the pool did not "
                 f"refill to 6 ready within 8 s: {short(LAST_POOL, 600)}")
        if p is not None:
            c.expect(p.get("slots_started", 0) - started == 3,
                     f"{p.get('slots_started', 0) - started} slots started for 3 "
                     "runs, want 3")
            lean = (p.get("profiles") or {}).get("lean") or {}
            c.expect(lean.get("hits", 0) >= 4,
                     f"the lean pool's hits: {lean.get('hits')}, want the 3 runs "
                     "and a settling one (a lean run takes a full slot within the "
                     "full pool's share only when no lean slot is being made)")
    finally:
        ex.shutdown(wait=True)
    for n, f in enumerate(futures, start=1):
        try:
            c.success(f.result(timeout=HTTP_TIMEOUT), "slept", f"run {n}", pooled=True)
        except Exception as e:  # reported as a problem
            c.problems.append(f"run {n} failed: {type(e).__name__}: {e}")
    p = wait_pool(d.port, lambda p: p.get("in_use") == 0 and p.get("ready") == 6, 10)
    c.expect(p is not None, "the pool is not 6 ready, none in use, 10 s after the "
             f"runs: {short(LAST_POOL, 600)}")


@case("a lean run takes no full slot within the full pool's share "
      "(--pool 2: one slot each): with the lean slot busy, a second lean "
      "run waits for a new lean slot, and the full slot stays ready")
def _(c):
    d = daemon("pool2")

    def one_each(p):
        prof = p.get("profiles") or {}
        return ((prof.get("lean") or {}).get("ready") == 1 and
                (prof.get("full") or {}).get("ready") == 1 and
                p.get("in_use") == 0)
    if not c.expect(wait_pool(d.port, one_each, 30) is not None,
                    f"not one ready slot of each profile: {short(LAST_POOL, 600)}"):
        return
    full_hits = pool_of(d.port)["profiles"]["full"].get("hits", 0)
    sleeper = "import time\n\ndef main():\n    time.sleep(3)\n    return 'slept'\n"
    t, box = in_thread(execute, d.port, sleeper, stats=True, timeout=20)
    if not c.expect(wait_pool(d.port, lambda p: p.get("in_use") == 1, 10)
                    is not None, f"the sleeper never held its slot: "
                    f"{short(LAST_POOL, 600)}"):
        t.join(HTTP_TIMEOUT)
        return
    obj = c.success(execute(d.port, HELLO, stats=True), HELLO_RESULT,
                    "the second lean run", pooled=True)
    c.expect((obj or {}).get("stats", {}).get("pool") == "lean",
             f"the second lean run ran on {(obj or {}).get('stats', {}).get('pool')!r}, "
             "want 'lean'")
    t.join(HTTP_TIMEOUT)
    if "value" in box:
        c.success(box["value"], "slept", "the sleeper", pooled=True)
    else:
        c.problems.append(f"the sleeper: {box.get('error', 'no answer')}")
    after = pool_of(d.port)["profiles"]["full"].get("hits", 0)
    c.expect(after == full_hits,
             f"the full pool's hits went from {full_hits} to {after}, want no change")


@case("exhaustion falls back to cold: 4 concurrent runs on --pool 1 "
      "--pool-wait 0: all succeed, some pooled, some cold, misses counted")
def _(c):
    d = daemon("exhaust")
    if not c.ready(d, 1):
        return
    before = pool_of(d.port)
    script = "import time\n\ndef main():\n    time.sleep(1)\n    return 'slept'\n"
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        futures = [ex.submit(execute, d.port, script, stats=True) for _ in range(4)]
        responses = [f.result(timeout=HTTP_TIMEOUT) for f in futures]
    flags = []
    for n, r in enumerate(responses, start=1):
        obj = c.success(r, "slept", f"request {n}")
        flags.append((obj.get("stats") or {}).get("pooled"))
    c.expect(True in flags and False in flags,
             f"stats.pooled of the 4 runs: {flags}, want both true and false")
    after = pool_of(d.port)
    misses = after.get("misses", 0) - before.get("misses", 0)
    hits = after.get("hits", 0) - before.get("hits", 0)
    c.expect(misses >= 1, f"/health misses went up by {misses}, want >= 1")
    c.expect(hits == flags.count(True) and misses == flags.count(False),
             f"/health counts {hits} hits, {misses} misses; the responses "
             f"{flags.count(True)} pooled, {flags.count(False)} cold")


# ==================================================== a broken pool


@case("a preload module that does not exist: the daemon starts anyway, "
      "/health names the problem, runs of the full profile go cold, a script "
      "that imports nothing still runs warm in the lean pool")
def _(c):
    d = daemon("broken")
    c.note(f"the daemon started in {d.start_s:.1f} s")
    # It listens once every profile's pool is up or has failed: the
    # warning is on stderr by then, naming the profile.
    warning = d.wait_line(lambda ln: "no_such_module_pexos" in ln
                          and "WARNING" in ln and '"profile":"full"' in ln,
                          timeout=2)
    pool = pool_of(d.port)
    c.expect(warning, f"no warning naming no_such_module_pexos on stderr: "
             f"{clip(d.stderr(), 800)}")
    c.expect("no_such_module_pexos" in str(pool.get("error")),
             f"/health pool.error does not name the module: {short(pool, 800)}")
    full = (pool.get("profiles") or {}).get("full") or {}
    c.expect(pool.get("state") != "up" and full.get("state") != "up"
             and full.get("ready") == 0,
             f"/health pool claims to work: {short(pool, 800)}")
    c.expect(pool.get("preload") == "no_such_module_pexos",
             f"/health pool.preload {pool.get('preload')!r}")
    r = execute(d.port, NUMPY_HELLO, stats=True)
    c.success(r, NUMPY_RESULT, "a request through numpy", pooled=False)
    if c.ready(d, 1):
        obj = c.success(execute(d.port, HELLO, stats=True), HELLO_RESULT,
                        "a request that imports nothing", pooled=True)
        c.expect((obj or {}).get("stats", {}).get("pool") == "lean",
                 f"stats.pool {short((obj or {}).get('stats'))}, want lean")


@case("pexos-run --pool 1 --preload no_such_module_pexos: a run of the "
      "full profile succeeds cold within 15 s")
def _(c):
    hello = write_file("numpy_hello.py", NUMPY_HELLO)
    run = c.run("--pool", "1", "--preload", "no_such_module_pexos", "--stats",
                hello, timeout=30)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    c.expect(run.wall < 15, f"took {run.wall:.1f} s, want < 15")
    obj = c.single(run)
    if obj:
        c.expect(obj.get("result") == NUMPY_RESULT, f"result {short(obj.get('result'))}")
        c.pooled(obj, False, "the run")


BACKGROUND = """\
import subprocess


def main():
    subprocess.Popen(["sleep", "100"])
    return 2
"""


@case("a run that leaves a background process (holding its stdout and "
      "stderr) is answered at once, warm as cold: stats.wall_ms < 1000 both, "
      "the warm one pooled")
def _(c):
    script = write_file("background.py", BACKGROUND)
    for pool, want in (("1", True), ("0", False)):
        what = "warm" if want else "cold"
        run = c.run("--pool", pool, "--pool-wait", "30", "--stats", script,
                    timeout=60)
        c.expect(run.rc == 0, f"{what}: exit status {run.rc}, want 0")
        obj = c.single(run)
        if not obj:
            continue
        c.expect(obj.get("result") == 2, f"{what}: result {short(obj)}")
        c.pooled(obj, want, what)
        wall = (obj.get("stats") or {}).get("wall_ms", 1e9)
        c.expect(wall < 1000, f"{what}: answered after {wall} ms, want < 1000 "
                 "(the answer waited for the background process)")
        c.note(f"{what}: {wall} ms")


# ==================================================== limits in warm sandboxes


@case("limits hold in pooled runs: memory_mb 64, timeout 1, CPU time, "
      "pids (a fork bomb)")
def _(c):
    d = daemon("pool2")
    cases = [
        ("200 MiB with memory_mb 64",
         "def main():\n    x = b'x' * (200 << 20)\n    return len(x)\n",
         {"memory_mb": 64}, ("MemoryLimit", ["64 MiB"])),
        ("20 MiB with memory_mb 64",
         "def main():\n    x = b'x' * (20 << 20)\n    return len(x)\n",
         {"memory_mb": 64}, 20 << 20),
        ("time.sleep(30) with timeout 1",
         "import time\n\ndef main():\n    time.sleep(30)\n",
         {"timeout": 1}, ("Timeout", ["wall-clock"])),
        ("a fork bomb",
         "import os\n\ndef main():\n    while True:\n        os.fork()\n",
         {"timeout": 20}, ("ScriptError", ["Resource temporarily unavailable"])),
    ]
    for what, script, fields, want in cases:
        if not c.ready(d, 1):
            return
        r = execute(d.port, script, stats=True, **fields)
        if isinstance(want, tuple):
            c.status(r, 422, what)
            c.failure(r, want[0], what, pooled=True, mentions=want[1])
        else:
            c.success(r, want, what, pooled=True)
        if what == "a fork bomb":
            c.expect(r.elapsed < 15, f"{what}: took {r.elapsed:.1f} s")
            # Its processes go with it: what remains under the daemon is the
            # two zygotes' sandboxes and a pexos-init and a slot per warm
            # sandbox.
            deadline = time.monotonic() + 5
            while len(descendants(d.proc.pid)) > 2 * 2 + 2 * 2:
                if time.monotonic() > deadline:
                    c.problems.append(f"{what}: {len(descendants(d.proc.pid))} "
                                      "processes under the daemon 5 s later")
                    break
                time.sleep(0.1)
        elif what.startswith("time.sleep"):
            c.expect(r.elapsed < 5, f"{what}: took {r.elapsed:.1f} s")
    # The CPU-time limit is server-wide in the daemon; pexos-run sets it.
    loop = write_file("loop.py", "def main():\n    while True:\n        pass\n")
    run = c.run("--pool", "1", "--pool-wait", "30", "--cpu", "1",
                "--timeout", "20", "--stats", loop)
    c.expect(run.rc == 1, f"CPU loop: exit status {run.rc}, want 1")
    c.expect(run.wall < 10, f"CPU loop with --cpu 1: took {run.wall:.1f} s")
    obj = c.single(run)
    if obj:
        c.expect(obj.get("type") == "Timeout" and "CPU-time" in str(obj.get("error")),
                 f"CPU loop: {short(obj)}, want a Timeout for the CPU-time limit")
        c.pooled(obj, True, "CPU loop")
    # The daemon is still well after all that.
    c.success(execute(d.port, HELLO), HELLO_RESULT, "hello afterwards")


# ==================================================== the zygote dies

# What the kill case leaves for the recovery case after it.
KILLED = {}


@case("the lean zygote killed (SIGKILL) during a pooled run: that run and "
      "the requests right after it are answered correctly")
def _(c):
    d = daemon("zygote")
    if not c.ready(d, 2):
        return
    before = pool_of(d.port)
    zygotes = zygotes_of(d.proc.pid, "lean")
    if not c.expect(len(zygotes) == 1 and len(zygotes_of(d.proc.pid)) == 2,
                    f"found {len(zygotes)} lean zygotes under the daemon, want "
                    f"1 of 2: {zygotes}"):
        table = proc_table()
        for p in descendants(d.proc.pid, table):
            c.note(f"{p} (parent {table[p][0]}): {table[p][1][:80]!r}")
        return
    # A run in flight on a warm sandbox when the zygote dies.
    sleeper = "import time\n\ndef main():\n    time.sleep(2)\n    return 'slept'\n"
    th, box = in_thread(execute, d.port, sleeper, stats=True)
    wait_pool(d.port, lambda p: p.get("hits", 0) > before.get("hits", 0), 5)
    time.sleep(0.5)
    os.kill(zygotes[0], signal.SIGKILL)
    KILLED.update(daemon=d, zygote=zygotes[0], t0=time.monotonic(), before=before)
    # Right away, and while the pool comes back: each answered correctly.
    flags = []
    for n in range(1, 6):
        obj = c.success(execute(d.port, HELLO, stats=True), HELLO_RESULT,
                        f"hello {n} right after the kill")
        flags.append((obj.get("stats") or {}).get("pooled"))
    th.join(HTTP_TIMEOUT)
    if c.expect("value" in box, f"the run in flight: {box.get('error', 'no answer')}"):
        c.success(box["value"], "slept", "the run in flight during the kill",
                  pooled=True)
    c.note(f"hellos right after the kill pooled: {flags}")


def lean_of(pool):
    return (pool.get("profiles") or {}).get("lean") or {}


@case("after the lean zygote's death its pool comes back: its zygote_starts "
      ">= 2, a ready slot within 15 s, pooled runs again")
def _(c):
    if not c.expect(KILLED, "the previous case did not kill a zygote"):
        return
    d, t0 = KILLED["daemon"], KILLED["t0"]
    c.expect(lean_of(KILLED["before"]).get("zygote_starts") == 1,
             "the lean zygote_starts before the kill: "
             f"{lean_of(KILLED['before']).get('zygote_starts')!r}")
    p = wait_pool(d.port, lambda p: lean_of(p).get("zygote_starts", 0) >= 2
                  and lean_of(p).get("ready", 0) >= 1 and p.get("state") == "up",
                  max(0.0, t0 + 15 - time.monotonic()))
    took = time.monotonic() - t0
    if not c.expect(p is not None, f"15 s after the kill: {short(LAST_POOL, 800)}"):
        return
    c.note(f"back up {took:.1f} s after the kill")
    again = zygotes_of(d.proc.pid, "lean")
    c.expect(len(again) == 1 and again[0] != KILLED["zygote"],
             f"zygotes now {again}, the killed one was {KILLED['zygote']}")
    for n in range(1, 4):
        c.ready(d, 1)
        c.success(execute(d.port, HELLO, stats=True), HELLO_RESULT,
                  f"request {n} once the pool is back", pooled=True)
    left = zygote_leftovers(d)
    c.expect(not left, f"processes outside the new zygote's sandbox remain: {left}")


def zygote_leftovers(d):
    """Processes under the daemon outside the new zygote's sandbox (its
    pexos-init and what is below it): what is left of the killed one."""
    table = proc_table()
    keep = set()
    for z in zygotes_of(d.proc.pid):
        keep.add(table[z][0])
        keep.update(descendants(table[z][0], table))
    return [f"{p} {table[p][1][:40]!r}"
            for p in sorted(set(descendants(d.proc.pid, table)) - keep)]


# ==================================================== a slow zygote holds nobody

# How late a run may answer after pool_wait (a cold hello, a busy machine).
BOUND_MARGIN = 2.5
# How long /health may take while a zygote starts.
HEALTH_MAX = 1.0


@case("pool_wait is a bound: with a zygote 10 s slow to start, pexos-run "
      "--pool 1 --pool-wait 1 waits 1 s, then answers from a cold sandbox "
      f"(within 1 + {BOUND_MARGIN} s)")
def _(c):
    hello = write_file("bound.py", HELLO)
    run = c.run("--pool", "1", "--pool-wait", "1", "--stats", hello,
                env={"PEXOS_TEST_ZYGOTE_DELAY_MS": "10000"})
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    c.expect(1.0 <= run.wall < 1.0 + BOUND_MARGIN,
             f"pexos-run took {run.wall:.2f} s, want 1 s (pool_wait) up to "
             f"{1.0 + BOUND_MARGIN} s")
    try:
        obj = json.loads(run.out)
    except ValueError:
        c.expect(False, "the output is not a JSON object")
        return
    c.expect(same(obj.get("result"), HELLO_RESULT),
             f"result {short(obj.get('result'))}")
    c.pooled(obj, False, "the run while the zygote starts")


@case("while the full zygote is slow to start again (its predecessor "
      f"killed), /health answers within {HEALTH_MAX} s and a run for it falls "
      f"back to a cold sandbox within pool_wait + {BOUND_MARGIN} s")
def _(c):
    d, zygote = ready_zygote(c, "slow", 1, "full")
    if not zygote:
        return
    before = pool_of(d.port).get("zygote_starts")
    os.kill(zygote, signal.SIGKILL)
    t0 = time.monotonic()
    # Its death noticed, a back-off of 1 s, then the slow start: /health
    # all along, and one run once the start is under way.
    slowest, states, ran = 0.0, [], False
    while time.monotonic() < t0 + 4.5:
        r = request(d.port, "GET", "/health", timeout=HTTP_TIMEOUT)
        slowest = max(slowest, r.elapsed)
        pool = (r.json() or {}).get("pool") or {}
        states.append(pool.get("state"))
        if not ran and pool.get("state") == "starting" \
                and pool.get("zygote_starts") == before:
            ran = True
            e = execute(d.port, NUMPY_HELLO, stats=True)
            c.success(e, NUMPY_RESULT, "a run while the zygote starts",
                      pooled=False)
            c.expect(e.elapsed < 1.0 + BOUND_MARGIN,
                     f"that run took {e.elapsed:.2f} s, want < "
                     f"{1.0 + BOUND_MARGIN} s (pool_wait 1 s)")
        time.sleep(0.05)
    c.expect(slowest < HEALTH_MAX,
             f"the slowest /health took {slowest:.2f} s, want < {HEALTH_MAX} s")
    c.expect(ran, "the pool never showed a zygote starting again: states "
             f"{sorted(set(map(str, states)))}")
    c.note(f"states seen: {sorted(set(map(str, states)))}; slowest /health "
           f"{slowest:.3f} s")


# ==================================================== reporting


# Scripts and the profile whose pool must run them.
PROFILE_SCRIPTS = [
    ("imports nothing", HELLO, HELLO_RESULT, "lean"),
    ("imports json and os", "import json, os\n\ndef main():\n"
     "    return json.loads('[1]') + [os.sep]\n", [1, "/"], "lean"),
    ("imports numpy", NUMPY_HELLO, NUMPY_RESULT, "full"),
    ("imports pandas inside main()", "def main():\n    import pandas as pd\n"
     "    return int(pd.Series([1, 2]).sum())\n", 3, "full"),
    ("from matplotlib (it imports numpy)", "from matplotlib import colors\n\n"
     "def main():\n    return colors.to_hex('red')\n", "#ff0000", "full"),
]


def labelled(port, name):
    """/metrics' series `name`{profile="..."} as {profile: value}."""
    text = request(port, "GET", "/metrics", timeout=10).body.decode("utf-8")
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        rf'^{name}{{profile="([a-z]+)"}} (\S+)$', text, re.M)}


@case("profiles: a script importing nothing (or only what is not numpy, "
      "pandas or what imports them) runs warm in the lean pool, one importing "
      "numpy, pandas or matplotlib in the full one; /health and /metrics per "
      "profile; the lean slot is the smaller; demand moves slots to the lean "
      "pool within the size")
def _(c):
    d = daemon("profiles")
    pool = wait_pool(d.port, lambda p: p.get("ready") == 8, 30)
    if not c.expect(pool is not None, "8 warm sandboxes were not ready within "
                    f"30 s: {short(LAST_POOL, 600)}"):
        return
    profiles = pool.get("profiles") or {}
    c.expect(sorted(profiles) == ["full", "lean"], f"profiles {sorted(profiles)}")
    if not c.expect(len(zygotes_of(d.proc.pid, "full")) == 1
                    and len(zygotes_of(d.proc.pid, "lean")) == 1,
                    "want one full and one lean zygote: "
                    f"{[(z, zygote_profile(z)) for z in zygotes_of(d.proc.pid)]}"):
        return
    lean, full = profiles.get("lean", {}), profiles.get("full", {})
    c.expect(lean.get("preload") == "" and full.get("preload") == DEFAULT_PRELOAD,
             f"preload lean {lean.get('preload')!r}, full {full.get('preload')!r}")
    c.expect(lean.get("size", 0) + full.get("size", 0) == 8 == pool.get("size")
             and pool.get("target") == 8,
             f"sizes lean {lean.get('size')}, full {full.get('size')}, pool "
             f"{pool.get('size')}, target {pool.get('target')}")
    lk, fk = lean.get("slot_private_kb_max"), full.get("slot_private_kb_max")
    c.expect(isinstance(lk, int) and isinstance(fk, int) and 0 < lk < fk,
             f"a waiting slot's private memory: lean {lk!r} KiB, full {fk!r} KiB")
    # Lean runs first: the full pool's slots over its new share go to them
    # (made already), then each pool keeps its share.
    for _ in range(8):
        execute(d.port, HELLO)
    p = wait_pool(d.port, lambda p: all(
        v.get("ready") == v.get("size") for v in (p.get("profiles") or {}).values()), 15)
    c.expect(p is not None, f"the profiles did not settle: {short(LAST_POOL, 800)}")
    for what, script, result, want in PROFILE_SCRIPTS:
        c.ready(d, 1)
        before = (pool_of(d.port).get("profiles") or {}).get(want, {})
        obj = c.success(execute(d.port, script, stats=True), result, what,
                        pooled=True)
        got = (obj or {}).get("stats", {}).get("pool")
        c.expect(got == want, f"{what}: stats.pool {got!r}, want {want!r}")
        after = (pool_of(d.port).get("profiles") or {}).get(want, {})
        c.expect(after.get("hits", 0) == before.get("hits", 0) + 1,
                 f"{what}: the {want} pool's hits {before.get('hits')} -> "
                 f"{after.get('hits')}")
    hits = labelled(d.port, "pexos_pool_profile_hits_total")
    sizes = labelled(d.port, "pexos_pool_profile_size")
    c.expect(set(hits) == {"full", "lean"} and hits["lean"] >= 2 and hits["full"] >= 3,
             f"pexos_pool_profile_hits_total {hits}")
    c.expect(sum(sizes.values()) == 8, f"pexos_pool_profile_size {sizes}")
    # Only lean runs for a while (4 s: two time constants of the demand):
    # the lean pool grows, the full one keeps its least (a quarter), the
    # sum stays the size.
    for _ in range(20):
        execute(d.port, HELLO)
        time.sleep(0.2)
    p = wait_pool(d.port, lambda p: lean_of(p).get("size", 0) > 4
                  and lean_of(p).get("ready") == lean_of(p).get("size"), 10)
    if c.expect(p is not None, f"the lean pool did not grow: {short(LAST_POOL, 800)}"):
        c.expect(full_of(p).get("size") == 2 and lean_of(p).get("size") == 6,
                 f"sizes after lean runs: full {full_of(p).get('size')}, lean "
                 f"{lean_of(p).get('size')}, want 2 and 6")
        c.expect(full_of(p).get("ready", 0) + lean_of(p).get("ready", 0) <= 8,
                 f"more than 8 slots ready: {short(p, 600)}")


@case("/metrics: pexos_pool_* with sane values; the hits counter counts a "
      "pooled run")
def _(c):
    d = daemon("pool2")
    if not c.ready(d, 2):
        return
    values, types = metrics(d.port)
    names = ["pexos_pool_size", "pexos_pool_ready", "pexos_pool_hits_total",
             "pexos_pool_misses_total", "pexos_pool_zygote_rss_bytes",
             "pexos_pool_slot_private_bytes"]
    missing = [n for n in names if n not in values]
    if not c.expect(not missing, f"/metrics lacks {missing}"):
        return
    c.expect(values["pexos_pool_size"] == 2,
             f"pexos_pool_size {values['pexos_pool_size']}, want 2 (--pool 2)")
    c.expect(0 <= values["pexos_pool_ready"] <= 2,
             f"pexos_pool_ready {values['pexos_pool_ready']}")
    c.expect(values["pexos_pool_zygote_rss_bytes"] > 1 << 20,
             f"pexos_pool_zygote_rss_bytes {values['pexos_pool_zygote_rss_bytes']}")
    c.expect(0 < values["pexos_pool_slot_private_bytes"]
             < values["pexos_pool_zygote_rss_bytes"],
             f"pexos_pool_slot_private_bytes {values['pexos_pool_slot_private_bytes']}")
    for n in names:
        want = "counter" if n.endswith("_total") else "gauge"
        c.expect(types.get(n) == want, f"{n} has TYPE {types.get(n)!r}, want {want}")
    c.success(execute(d.port, HELLO, stats=True), HELLO_RESULT, "a request",
              pooled=True)
    after, _ = metrics(d.port)
    c.expect(after.get("pexos_pool_hits_total") == values["pexos_pool_hits_total"] + 1,
             f"pexos_pool_hits_total {values['pexos_pool_hits_total']} -> "
             f"{after.get('pexos_pool_hits_total')} for one pooled run")
    c.expect(after.get("pexos_pool_misses_total") == values["pexos_pool_misses_total"],
             f"pexos_pool_misses_total {values['pexos_pool_misses_total']} -> "
             f"{after.get('pexos_pool_misses_total')} for a pooled run")


def cpu_group(pid):
    """The directory of the CPU controller's cgroup a process is in (v1: the
    hierarchy with "cpu"; else v2), or None."""
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f]
        with open("/proc/self/mountinfo") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return None
    for hid, ctrls, path in lines:
        for m in mounts:
            fstype = m[m.index("-") + 1]
            opts = m[m.index("-") + 3].split(",")
            if hid != "0" and fstype == "cgroup" and "cpu" in ctrls.split(",") \
                    and "cpu" in opts:
                return m[4] + path
    for hid, ctrls, path in lines:
        for m in mounts:
            if hid == "0" and m[m.index("-") + 1] == "cgroup2":
                return m[4] + path
    return None


def cpu_idle(pid):
    """"1" or "0": cpu.idle of the process's CPU group; else its weight
    (cpu.shares, cpu.weight) as "w=N"; None if there is none."""
    d = cpu_group(pid)
    for name, fmt in (("cpu.idle", "{}"), ("cpu.shares", "w={}"),
                      ("cpu.weight", "w={}")):
        try:
            with open(os.path.join(d or "/nonexistent", name)) as f:
                return fmt.format(f.read().strip())
        except OSError:
            continue
    return None


def sched_of(pid):
    """(policy name, the nice value its kernel priority stands for) of a
    host process. The priority, not getpriority(): Linux reports nice 0 for
    a SCHED_IDLE task set up with sched_setattr(nice 19)."""
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_IDLE: "SCHED_IDLE",
             os.SCHED_BATCH: "SCHED_BATCH"}
    try:
        policy = os.sched_getscheduler(pid)
        with open(f"/proc/{pid}/stat") as f:
            prio = int(f.read().rsplit(")", 1)[1].split()[15])
        return names.get(policy, str(policy)), prio - 20
    except (OSError, ValueError, IndexError) as e:
        return f"gone ({e})", None


def expect_sched(c, pid, what, idle):
    """A slot process's CPU group is idle (or not), and its policy and
    priority are the waiting ones (or a run's)."""
    group = ("1", "w=2", "w=1") if idle else ("0", "w=1024", "w=100")
    policy = ("SCHED_IDLE", 19) if idle else ("SCHED_OTHER", 0)
    c.expect(cpu_idle(pid) in group,
             f"{what} {pid}: CPU group {cpu_group(pid)} is {cpu_idle(pid)!r}, "
             f"want {'idle' if idle else 'not idle'}")
    c.expect(sched_of(pid) == policy,
             f"{what} {pid}: {sched_of(pid)}, want {policy[0]} at the "
             f"priority of nice {policy[1]}")


@case("priority: the zygote and the waiting slots run on CPU time no run "
      "wants (their CPU groups idle; slots at SCHED_IDLE, nice 19); a run's "
      "sandbox is back to normal (SCHED_OTHER, nice 0, default time slice, "
      "group not idle)")
def _(c):
    d, zygote = ready_zygote(c, "pool2", 2)
    if not zygote:
        return
    zygotes = zygotes_of(d.proc.pid)
    c.expect(len(zygotes) == 2, f"{len(zygotes)} zygotes, want 2 (full, lean)")
    for z in zygotes:
        c.expect(cpu_idle(z) in ("1", "w=2", "w=1"),
                 f"the {zygote_profile(z)} zygote's CPU group ({cpu_group(z)}): "
                 f"{cpu_idle(z)!r}, want idle")
    table = proc_table()
    slots = [p for z in zygotes for p in descendants(z, table)
             if table[p][1].startswith(ZYGOTE_CMDLINE)]
    if not c.expect(len(slots) >= 2, f"{len(slots)} slot processes under the "
                    f"zygotes, want 2: {slots}"):
        return
    for pid in slots:
        expect_sched(c, pid, "waiting slot", idle=True)
    mark = uuid.uuid4().hex
    script = ("import os, time\n\ndef main():\n"
              f"    f = open('/tmp/{mark}', 'w')\n"
              "    time.sleep(2)\n"
              "    return [os.sched_getscheduler(0) == os.SCHED_OTHER,\n"
              "            os.getpriority(os.PRIO_PROCESS, 0)]\n")
    th, box = in_thread(execute, d.port, script, stats=True)
    running, deadline = None, time.monotonic() + 10
    while running is None and time.monotonic() < deadline and th.is_alive():
        for pid in slots:
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
                if any(os.readlink(f"/proc/{pid}/fd/{fd}").endswith(mark)
                       for fd in fds):
                    running = pid
            except OSError:
                continue
        time.sleep(0.02)
    if c.expect(running is not None, "no slot process was seen running the "
                "script (holding /tmp/<mark> open)"):
        expect_sched(c, running, "the run's slot", idle=False)
        try:
            with open(f"/proc/{running}/sched") as f:
                sl = [line.split(":")[1].strip() for line in f
                      if line.startswith("se.slice ")]
        except OSError:
            sl = []
        c.expect(sl != ["100000"], f"the run's slot {running} kept the "
                 "waiting slots' 0.1 ms time slice")
    th.join(HTTP_TIMEOUT)
    if c.expect("value" in box, f"the run: {box.get('error', 'no answer')}"):
        c.success(box["value"], [True, 0], "the run (SCHED_OTHER?, nice)",
                  pooled=True)


@case("memory: with the default preload a waiting slot's private memory is "
      "<= 10 MiB, the zygote's RSS > 0")
def _(c):
    d = daemon("pool2")
    if not c.ready(d, 2):
        return
    pool = pool_of(d.port)
    c.note(f"pool: {short(pool, 800)}")
    c.expect(pool.get("preload") == DEFAULT_PRELOAD,
             f"preload {pool.get('preload')!r}, want {DEFAULT_PRELOAD!r}")
    kb_max, kb = pool.get("slot_private_kb_max"), pool.get("slot_private_kb")
    rss = pool.get("zygote_rss_kb")
    c.expect(isinstance(kb_max, int) and 0 < kb_max <= 10240,
             f"slot_private_kb_max {kb_max!r}, want 1..10240")
    c.expect(isinstance(kb, int) and 0 < kb <= (kb_max or 0),
             f"slot_private_kb {kb!r}, slot_private_kb_max {kb_max!r}")
    c.expect(isinstance(rss, int) and rss > 0, f"zygote_rss_kb {rss!r}")
    # The preload is shared, not copied: numpy and pandas alone are tens of MiB.
    c.expect(isinstance(rss, int) and isinstance(kb_max, int) and rss > 2 * kb_max,
             f"zygote_rss_kb {rss!r} is not well above slot_private_kb_max {kb_max!r}")


def full_of(pool):
    return (pool.get("profiles") or {}).get("full") or {}


# How much more a new full slot holds when first seen ready with the
# runner's and numpy's page sets than one of a daemon whose zygotes record
# none: 792 and 1280 KiB more on the host (2072 against 1280, 2304 against
# 1024), 1068 in the Debian 13 VM (1856 against 788); 0 with the slot's
# slot_own_pages call left out (1024 against 1024, twice). A cgroup's
# charge moves in steps of up to 64 pages, 256 KiB: the kernel charges a
# batch ahead to a CPU's cache, and the usage it reports includes what is
# left of it there. So the same slot reads up to 256 KiB a CPU apart, and
# a bound on the charge alone (2048 KiB) failed now and then on a loaded
# host, and on Debian 13, whose Python writes fewer pages, every time.
WARM_MORE_KB = 384


def first_ready_kb(c, d, what):
    """Two concurrent numpy runs on daemon `d` (a pool of 2), then the
    private memory (KiB) of the first new full slot, sampled as soon as
    /health shows it ready: it must not be doing that work while it waits,
    where a run could get it first (at idle priority it would take several
    ms). None, noted, if there is none."""
    if not c.ready(d, 2):
        return None
    started = full_of(pool_of(d.port)).get("slots_started", 0)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        runs = [ex.submit(execute, d.port, NUMPY_HELLO, stats=True) for _ in range(2)]
        for n, f in enumerate(runs, start=1):
            obj = c.success(f.result(timeout=HTTP_TIMEOUT), NUMPY_RESULT,
                            f"{what}: run {n}", pooled=True)
            # counted from the hand-over: far fewer than an interpreter's
            # start (about 1900 for a cold hello)
            faults = (obj or {}).get("stats", {}).get("faults")
            c.expect(type(faults) is int and 0 < faults < 1000,
                     f"{what}: run {n}: stats.faults {faults!r}, want 1..999")
    deadline, first = time.monotonic() + 20, None
    while first is None and time.monotonic() < deadline:
        p = full_of(pool_of(d.port))
        if p.get("slots_started", 0) > started and p.get("ready", 0) >= 1:
            first = p
    if not c.expect(first is not None, f"{what}: no new slot ready 20 s after "
                    f"2 runs: {short(LAST_POOL, 600)}"):
        return None
    kb = first.get("slot_private_kb")
    c.note(f"{what}: first seen ready, slot_private_kb {kb!r}")
    if not c.expect(isinstance(kb, int) and kb > 0,
                    f"{what}: slot_private_kb {kb!r}, want a number"):
        return None
    return kb


@case("warm-up: a new slot of the full pool has made the pages a run writes "
      "its own before it says ready (the runner's and numpy's sets after "
      f"numpy runs: >= {WARM_MORE_KB} KiB more private memory at once than "
      "a slot of a daemon whose zygotes record no page sets)")
def _(c):
    without = first_ready_kb(c, daemon("nosets"), "no page sets")
    if without is None:
        return
    with_sets = first_ready_kb(c, daemon("pool2"), "page sets")
    if with_sets is None:
        return
    c.expect(with_sets >= without + WARM_MORE_KB,
             f"a new slot holds {with_sets} KiB when first seen ready, one "
             f"without page sets {without}: want {WARM_MORE_KB} KiB more at "
             "least; it had not made the warm-up's pages its own")


PANDAS_DESCRIBE = ('import pandas as pd\n\ndef main():\n'
                   '    df = pd.DataFrame({"a": [1, 2, 3, 4]})\n'
                   '    return df.describe()["a"].to_dict()\n')
PANDAS_RESULT = {"count": 4.0, "mean": 2.5, "std": 1.2909944487358056,
                 "min": 1.0, "25%": 1.75, "50%": 2.5, "75%": 3.25, "max": 4.0}


@case("page sets follow demand: a full slot made after numpy runs makes "
      "the runner's and numpy's pages its own, one made after pandas runs "
      "pandas's too (its memory charge at least 1 MiB larger); pandas runs "
      "on slots made for numpy succeed")
def _(c):
    d = daemon("pool2")
    if not c.ready(d, 2):
        return

    def new_slot(what, script, result):
        started = full_of(pool_of(d.port)).get("slots_started", 0)
        for n in range(12):
            c.success(execute(d.port, script), result, f"{what} run {n + 1}")
        # the slot made for the last run, once ready
        p = wait_pool(d.port, lambda p: full_of(p).get("slots_started", 0)
                      >= started + 12 and full_of(p).get("ready", 0) >= 1,
                      READY_TIMEOUT)
        kb = full_of(p or {}).get("slot_private_kb")
        c.note(f"after {what} runs: a new full slot's memory {kb!r} KiB")
        return kb

    numpy_kb = new_slot("numpy", NUMPY_HELLO, NUMPY_RESULT)
    pandas_kb = new_slot("pandas", PANDAS_DESCRIBE, PANDAS_RESULT)
    c.expect(isinstance(numpy_kb, int) and isinstance(pandas_kb, int) and
             pandas_kb >= numpy_kb + 1024,
             f"a slot made for pandas runs holds {pandas_kb!r} KiB, one made "
             f"for numpy runs {numpy_kb!r}: want at least 1024 more")


@case("batch: -j 2 over 3 scripts (one failing) uses the pool; JSON Lines "
      "with file, a JUnit report with the failure")
def _(c):
    a = write_file("batch_a.py", HELLO)
    b = write_file("batch_b.py",
                   "def main():\n    print('before')\n    return 1 / 0\n")
    cc = write_file("batch_c.py", RANDOMS)
    report = os.path.join(WORKDIR, "report.xml")
    # No --pool: a batch gets min(jobs, scripts) warm sandboxes by itself.
    run = c.run("-j", "2", "--pool-wait", "10", "--stats", "--junit", report, a, b, cc)
    c.expect(run.rc == 1, f"exit status {run.rc}, want 1")
    objs = c.lines(run, [a, b, cc])
    if objs:
        for obj, name in zip(objs, ("a", "b", "c")):
            c.pooled(obj, True, f"script {name}")
        c.expect(objs[0].get("result") == HELLO_RESULT, f"a: {short(objs[0])}")
        c.expect(objs[1].get("type") == "ScriptError", f"b: {short(objs[1])}")
        c.expect(isinstance(objs[2].get("result"), dict), f"c: {short(objs[2])}")
    try:
        root = ET.parse(report).getroot()
    except (ET.ParseError, OSError) as e:
        c.problems.append(f"the JUnit report does not parse: {e}")
        return
    cases = list(root.iter("testcase"))
    if not c.expect([t.get("name") for t in cases] == [a, b, cc],
                    f"testcases {[t.get('name') for t in cases]}"):
        return
    fail = cases[1].find("failure")
    if c.expect(fail is not None, "the failing script has no <failure>"):
        c.expect(fail.get("type") == "ScriptError", f"failure type {fail.get('type')!r}")
        c.expect("ZeroDivisionError" in (fail.get("message") or ""),
                 f"failure message {fail.get('message')!r}")
    c.expect(cases[1].findtext("system-out") == "before\n",
             f"system-out {cases[1].findtext('system-out')!r}")
    c.expect(cases[0].find("failure") is None and cases[2].find("failure") is None,
             "a passing script has a <failure>")


def check_all_stopped(c):
    """Last: SIGTERM every daemon; each exits 0 and leaves no process behind
    (pexos-init, zygote, slots)."""
    left = {}
    for d in ALL_DAEMONS:
        if d.alive():
            left[d.name] = descendants(d.proc.pid)
            d.proc.send_signal(signal.SIGTERM)
    for d in ALL_DAEMONS:
        rc = d.wait(20)
        if rc is None:
            d.kill()
        if d.port is not None:
            c.expect(rc == 0, f"daemon {d.name!r}: exit status {rc}, want 0")
        for line in d.snapshot():
            if "Sanitizer" in line or "runtime error:" in line:
                c.problems.append(f"daemon {d.name!r}: {line[:300]}")
                break
    deadline = time.monotonic() + 5
    while True:
        table = proc_table()
        alive = {n: [p for p in pids if p in table] for n, pids in left.items()}
        alive = {n: p for n, p in alive.items() if p}
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for name, pids in alive.items():
        c.problems.append(f"daemon {name!r} left processes behind: "
                          + ", ".join(f"{p} {table[p][1][:60]!r}" for p in pids))
    c.expect(ALL_DAEMONS, "no daemon was started")


# ------------------------------------------------------------------- driver


def run_case(fn):
    c = Check()
    try:
        fn(c)
    except DaemonFailed as e:
        c.problems.append(str(e))
    except Exception as e:  # a harness bug or an unexpected shape: report it
        c.problems.append(f"exception: {type(e).__name__}: {e}")
    return c


def main():
    global PEXOS_RUN, PEXOS_HTTPD, REPO_ROOT
    if len(sys.argv) != 4:
        print(f"usage: {sys.argv[0]} PEXOS_RUN PEXOS_HTTPD REPO_ROOT", file=sys.stderr)
        return 2
    PEXOS_RUN, PEXOS_HTTPD = (os.path.abspath(a) for a in sys.argv[1:3])
    REPO_ROOT = os.path.abspath(sys.argv[3])
    for exe in (PEXOS_RUN, PEXOS_HTTPD):
        missing = binary_missing(exe)
        if missing is not None:
            return missing
    CASES.append(("every daemon exits 0 on SIGTERM and leaves no pool "
                  "process behind", check_all_stopped))
    failed = todo = 0
    started = time.monotonic()
    try:
        for number, (description, fn) in enumerate(CASES, start=1):
            t0 = time.monotonic()
            c = run_case(fn)
            took = time.monotonic() - t0
            if c.todo:
                todo += 1
                state = "not ok" if c.problems else "ok"
                print(f"{state} {number} - {description} # TODO {c.todo}")
            else:
                failed += bool(c.problems)
                print(f"{'not ok' if c.problems else 'ok'} {number} - {description}")
            if c.problems:
                for line in c.problems + c.notes:
                    print(f"#   {line}")
                for run in c.runs:
                    for line in run.describe():
                        print(f"#   {line}")
            print(f"#   ({took:.1f} s)")
            sys.stdout.flush()
    finally:
        for d in DAEMONS.values():
            d.stop()
    status = tap_plan(len(CASES), failed)
    print(f"# {todo} of them TODO (a known pexos bug); "
          f"in {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    try:
        status = main()
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
    sys.exit(status)
