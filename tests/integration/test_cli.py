#!/usr/bin/python3
"""Integration tests for pexos-run, speaking TAP.

usage: /usr/bin/python3 tests/integration/test_cli.py PEXOS_RUN REPO_ROOT

Drives the real binary against the contract in SPEC.md (sections 1, 2, 3, 6):
every examples/*.py against its examples/*.expect.json, then one case per
request-validation rule, failure type and CLI behaviour that needs no cgroup
(MemoryLimit and Busy are covered elsewhere).

Standard library only: run it with Debian's /usr/bin/python3.
Environment:
  PEXOS_RUN_ARGS   extra options put before every pexos-run command line
                   (e.g. "--limits=rlimit" on a host without cgroups)
  PEXOS_MUST_WORK  when 1, a missing pexos-run is a failure, not a skip
Exit: 0 all passed, 1 something failed, 77 skipped (no pexos-run).
"""

import concurrent.futures
import json
import os
import pty
import select
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (NotStrictJSON, Obj, same, short,  # noqa: E402,F401
                     strict_loads, subset_problems, tap_plan, tap_result,
                     binary_missing, run_case)

MIB = 1024 * 1024
HELLO = 'def main():\n    return {"message": "Hello, World!"}\n'
# Guard for one pexos-run invocation; no case should come close to it.
COMMAND_TIMEOUT = 60

PEXOS_RUN = None
REPO_ROOT = None
EXTRA_ARGS = shlex.split(os.environ.get("PEXOS_RUN_ARGS", ""))
WORKDIR = tempfile.mkdtemp(prefix="pexos-test-cli-")


# --------------------------------------------------------------- JSON helpers


# ------------------------------------------------------------ running pexos


class Run:
    """One finished pexos-run invocation."""

    def __init__(self, argv, stdin, rc, out, err, wall):
        self.argv, self.stdin = argv, stdin
        self.rc, self.out, self.err, self.wall = rc, out, err, wall
        self._parsed = None

    def response(self):
        """(object, None) or (None, why stdout is not one compact JSON object)."""
        if self._parsed is None:
            self._parsed = self._parse()
        return self._parsed

    def _parse(self):
        try:
            text = self.out.decode("utf-8")
        except UnicodeDecodeError as e:
            return None, f"stdout is not UTF-8: {e}"
        lines = text.splitlines()
        if len(lines) != 1:
            return None, f"stdout has {len(lines)} lines, want exactly 1"
        try:
            obj = strict_loads(lines[0])
        except ValueError as e:
            return None, f"stdout is not strict JSON: {e}"
        if not isinstance(obj, dict):
            return None, f"stdout is JSON but not an object: {short(obj)}"
        return obj, None

    def describe(self):
        argv = " ".join(shlex.quote(a) for a in self.argv)
        lines = [f"command: {argv}"]
        if self.stdin:
            lines.append(f"stdin: {clip(self.stdin)}")
        lines.append(f"exit: {self.rc}  wall: {self.wall:.2f} s")
        lines.append(f"stdout: {clip(self.out)}")
        if self.err:
            lines.append(f"stderr: {clip(self.err)}")
        return lines


def clip(data, limit=600):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} chars)"
    return repr(text)


def pexos(*args, stdin=b"", env=None):
    argv = [PEXOS_RUN, *EXTRA_ARGS, *args]
    start = time.monotonic()
    try:
        proc = subprocess.run(
            argv,
            input=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=COMMAND_TIMEOUT,
            env=None if env is None else {**os.environ, **env},
        )
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "killed by the harness", e.stdout or b"", e.stderr or b""
    return Run(argv, stdin, rc, out, err, time.monotonic() - start)


def pexos_tty(*args):
    """Run pexos-run with its stdout on a pseudo-terminal."""
    argv = [PEXOS_RUN, *EXTRA_ARGS, *args]
    master, slave = pty.openpty()
    start = time.monotonic()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=subprocess.PIPE
    )
    os.close(slave)
    chunks = []
    deadline = start + COMMAND_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the slave side is closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    err = proc.stderr.read()
    proc.stderr.close()
    out = b"".join(chunks).replace(b"\r\n", b"\n")
    return Run(argv, b"", proc.returncode, out, err, time.monotonic() - start)


_counter = 0


def write_file(content, suffix=".py"):
    global _counter
    _counter += 1
    path = os.path.join(WORKDIR, f"case{_counter}{suffix}")
    with open(path, "wb") as f:
        f.write(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def run_script(source, *args):
    """pexos-run [args] FILE with FILE holding source."""
    return pexos(*args, write_file(source))


def run_request(request, *args):
    """pexos-run [args] --json - with the request (object, str or bytes) on stdin."""
    if isinstance(request, (dict, list)):
        request = json.dumps(request)
    if isinstance(request, str):
        request = request.encode("utf-8")
    return pexos(*args, "--json", "-", stdin=request)


# ------------------------------------------------------------------ checking


class Check:
    """Problems found by one test case, plus the runs to show on failure."""

    def __init__(self):
        self.problems = []
        self.runs = []

    def expect(self, cond, message):
        if not cond:
            self.problems.append(message)
        return cond

    def response(self, run, rc=None, subset=None, absent=(), wall_below=None):
        """Check exit status, one-object stdout, subset and absent keys."""
        if run not in self.runs:
            self.runs.append(run)
        if rc is not None:
            self.expect(run.rc == rc, f"exit status {run.rc}, want {rc}")
        if wall_below is not None:
            self.expect(
                run.wall < wall_below,
                f"command took {run.wall:.2f} s, want < {wall_below} s",
            )
        resp, why = run.response()
        if resp is None:
            self.problems.append(why)
            return {}
        if subset is not None:
            self.problems += subset_problems(subset, resp)
        for key in absent:
            self.expect(key not in resp, f"response has {key!r}, want it absent")
        return resp

    def failure(self, run, type_, rc=1, names=(), ran=True, subset=None, **kw):
        """A failure response of this type whose error mentions every name."""
        resp = self.response(run, rc=rc, subset={"type": type_, **(subset or {})},
                             **kw)
        if not resp:
            return resp
        error = resp.get("error")
        if self.expect(
            isinstance(error, str) and error, f"error is {short(error)}"
        ):
            for name in names:
                self.expect(name in error, f"error does not mention {name!r}")
        if ran:
            self.expect(
                isinstance(resp.get("stdout"), str),
                "no string 'stdout' field although the script ran",
            )
        else:
            self.expect("stdout" not in resp, "'stdout' present but nothing ran")
        return resp

    def traceback(self, resp, must=(), must_not=("runner", "<string>")):
        tb = resp.get("traceback")
        if not self.expect(isinstance(tb, str), f"traceback is {short(tb)}"):
            return
        for text in must:
            self.expect(text in tb, f"traceback lacks {text!r}")
        for text in must_not:
            self.expect(text not in tb, f"traceback contains {text!r}")


CASES = []


def case(description):
    def register(fn):
        CASES.append((description, fn))
        return fn

    return register


def add_case(description, fn):
    CASES.append((description, fn))


# ------------------------------------------------------------- the examples

# Extra checks beyond the subset match, by example name.
EXAMPLE_TRACEBACKS = {
    "exception": ['File "script.py", line 4, in main'],
}


def example_case(name):
    path = os.path.join(REPO_ROOT, "examples", name + ".py")
    expect_path = os.path.join(REPO_ROOT, "examples", name + ".expect.json")

    def test(c):
        with open(expect_path, encoding="utf-8") as f:
            expected = strict_loads(f.read())
        failed = "type" in expected
        run = pexos(path)
        resp = c.response(run, rc=1 if failed else 0, subset=expected)
        if not resp:
            return
        if failed:
            c.expect(isinstance(resp.get("error"), str), "no error message")
        else:
            c.expect(
                not {"error", "type", "traceback", "stderr"} & resp.keys(),
                f"success response has failure fields: {sorted(resp)}",
            )
        if name in EXAMPLE_TRACEBACKS:
            c.traceback(resp, must=EXAMPLE_TRACEBACKS[name])

    return test


def register_examples():
    folder = os.path.join(REPO_ROOT, "examples")
    for entry in sorted(os.listdir(folder)):
        if not entry.endswith(".py"):
            continue
        name = entry[:-3]
        if not os.path.exists(os.path.join(folder, name + ".expect.json")):
            add_case(f"examples/{entry} has an expect.json", _missing_expect(name))
            continue
        add_case(
            f"examples/{entry} matches {name}.expect.json", example_case(name)
        )


def _missing_expect(name):
    def test(c):
        c.problems.append(f"examples/{name}.expect.json does not exist")

    return test


# --------------------------------------------------------- InvalidRequest

def invalid(c, run, names=()):
    return c.failure(run, "InvalidRequest", rc=2, names=names, ran=False)


@case("--json - with non-JSON input: exit 2, one InvalidRequest object")
def _(c):
    invalid(c, run_request(b"this is {not json"))


@case("--json - with empty input: InvalidRequest")
def _(c):
    invalid(c, run_request(b""))


@case("--json - with [] (not an object): InvalidRequest")
def _(c):
    invalid(c, run_request(b"[]"))


@case("--json - with 42 (not an object): InvalidRequest")
def _(c):
    invalid(c, run_request(b"42"))


@case("--json - unknown field foo: InvalidRequest naming foo")
def _(c):
    invalid(c, run_request({"script": HELLO, "foo": 1}), names=["foo"])


@case("--json - without script: InvalidRequest naming script")
def _(c):
    invalid(c, run_request({"stdin": ""}), names=["script"])


def bad_field_case(field, value, base=None):
    request = {"script": HELLO} if base is None else dict(base)
    request[field] = value

    def test(c):
        invalid(c, run_request(request), names=[field])

    add_case(
        f"--json - {field}={json.dumps(value)}: InvalidRequest naming {field}",
        test,
    )


for _value in (5, None, ["def main(): pass"]):
    bad_field_case("script", _value, base={})
for _value in (-1, 0, "2", 31, True):
    bad_field_case("timeout", _value)
for _value in (1.5, -1, 0, "64", 513):
    bad_field_case("memory_mb", _value)
for _value in ("yes", 1):
    bad_field_case("stats", _value)
bad_field_case("stdin", 5)


@case("--json - script containing NUL: InvalidRequest naming script")
def _(c):
    request = {"script": "def main():\n    return 1\n\u0000"}
    invalid(c, run_request(request), names=["script"])


def padded_script(size):
    head = "def main():\n    return 1\n#"
    return head + "x" * (size - len(head))


@case("--json - script of 1 MiB + 1 byte: InvalidRequest naming script")
def _(c):
    invalid(c, run_request({"script": padded_script(MIB + 1)}), names=["script"])


@case("--json - script of exactly 1 MiB runs")
def _(c):
    run = run_request({"script": padded_script(MIB)})
    c.response(run, rc=0, subset={"result": 1})


@case("FILE larger than 1 MiB: InvalidRequest")
def _(c):
    invalid(c, run_script(padded_script(MIB + 1)))


@case("--json - with invalid UTF-8 bytes: InvalidRequest")
def _(c):
    invalid(c, run_request(b'{"script": "def main():\n    return \'\xff\'"}'))


@case("FILE with invalid UTF-8: InvalidRequest")
def _(c):
    invalid(c, run_script(b"def main():\n    return '\xff\xfe'\n"))


@case("--json - accepts timeout 30 (the limit), 1.5, memory_mb 256, stats false")
def _(c):
    for extra in ({"timeout": 30}, {"timeout": 1.5}, {"memory_mb": 256},
                  {"stats": False}):
        run = run_request({"script": HELLO, **extra})
        c.response(run, rc=0, subset={"result": {"message": "Hello, World!"}},
                   absent=["stats"])


# ------------------------------------------------------------- SyntaxError


@case("SyntaxError on line 2: line and column named, no stdout field")
def _(c):
    run = run_script("print('ran')\ndef main(:\n    return 1\n")
    c.failure(run, "SyntaxError", names=["line 2", "column"], ran=False)


@case("IndentationError on line 2 is reported as SyntaxError")
def _(c):
    run = run_script("def main():\nreturn 1\n")
    c.failure(run, "SyntaxError", names=["line 2"], ran=False)


# --------------------------------------------------- MissingMain, InvalidMain


@case("no main: MissingMain, stdout present")
def _(c):
    c.failure(run_script("x = 1\n"), "MissingMain",
              subset={"stdout": ""})


@case("main = 5: InvalidMain")
def _(c):
    c.failure(run_script("main = 5\n"), "InvalidMain")


@case("def main(x): InvalidMain")
def _(c):
    c.failure(run_script("def main(x):\n    return x\n"), "InvalidMain")


@case("def main(x=1) needs no argument and runs")
def _(c):
    run = run_script("def main(x=1):\n    return x\n")
    c.response(run, rc=0, subset={"result": 1})


# ------------------------------------------------------------- ScriptError


@case("ScriptError: user's line numbers, no runner frames, stdout kept")
def _(c):
    source = (
        "def helper(n):\n"
        "    raise ValueError(f'bad value {n}')\n"
        "\n"
        "\n"
        "def main():\n"
        "    print('partial output')\n"
        "    return helper(7)\n"
    )
    resp = c.failure(
        run_script(source),
        "ScriptError",
        subset={"error": "ValueError: bad value 7", "stdout": "partial output\n"},
    )
    if resp:
        c.traceback(resp, must=['File "script.py", line 7, in main',
                                'File "script.py", line 2, in helper'])


@case("ScriptError raised by the module body: line of the raise")
def _(c):
    source = "x = 1\nraise RuntimeError('at import')\n\ndef main():\n    return 1\n"
    resp = c.failure(run_script(source), "ScriptError",
                     subset={"error": "RuntimeError: at import"})
    if resp:
        c.traceback(resp, must=['File "script.py", line 2'])


@case("sys.exit(3) inside main: ScriptError")
def _(c):
    source = "import sys\n\ndef main():\n    sys.exit(3)\n"
    c.failure(run_script(source), "ScriptError")


# --------------------------------------------------------- NotSerializable


def not_serializable_case(description, body, names=()):
    # Import numpy/pandas only where used: a broken numpy must not hide the rest.
    imports = "".join(
        f"import {mod} as {alias}\n"
        for mod, alias in (("numpy", "np"), ("pandas", "pd"))
        if f"{alias}." in body
    )
    source = imports + "\ndef main():\n" + body

    def test(c):
        c.failure(run_script(source), "NotSerializable", names=names)

    add_case(f"NotSerializable: {description}", test)


not_serializable_case(
    'set at result["data"][2] is named by its path',
    "    return {'data': [1, 2, {3}]}\n",
    names=['result["data"][2]'],
)
not_serializable_case("NaN", "    return float('nan')\n")
not_serializable_case("Infinity in a list", "    return [1.0, float('inf')]\n")
not_serializable_case("NaN inside a numpy array",
                      "    return {'a': np.array([1.0, np.nan])}\n")
not_serializable_case("bytes", "    return b'abc'\n")
not_serializable_case("non-string dict key", "    return {1: 'one'}\n")
not_serializable_case("an arbitrary object", "    return object()\n")
not_serializable_case(
    "pandas DataFrame names to_dict(orient=\"records\")",
    "    return pd.DataFrame({'a': [1, 2]})\n",
    names=['to_dict(orient="records")'],
)
not_serializable_case(
    "pandas Series names .tolist()",
    "    return pd.Series([1, 2])\n",
    names=[".tolist()"],
)


# ------------------------------------------------------- numpy conversions


@case("numpy scalars, arrays, tuples and nesting convert losslessly")
def _(c):
    source = (
        "import numpy as np\n"
        "\n"
        "def main():\n"
        "    return {\n"
        "        'i64': np.int64(7),\n"
        "        'i64max': np.int64(2**63 - 1),\n"
        "        'f32': np.float32(0.5),\n"
        "        'f64': np.float64(0.1),\n"
        "        'bool': np.bool_(True),\n"
        "        'arange': np.arange(3),\n"
        "        'tuple': (1, (2, 'x')),\n"
        "        'nested': {'m': [np.array([[1, 2], [3, 4]])]},\n"
        "        'text': 'h\\u00e9llo \\u2713 \\U0001f600',\n"
        "    }\n"
    )
    expected = {
        "i64": 7,
        "i64max": 2**63 - 1,
        "f32": 0.5,
        "f64": 0.1,
        "bool": True,
        "arange": [0, 1, 2],
        "tuple": [1, [2, "x"]],
        "nested": {"m": [[[1, 2], [3, 4]]]},
        "text": "h\u00e9llo \u2713 \U0001f600",
    }
    c.response(run_script(source), rc=0, subset={"result": expected})


@case("numpy uint64 max converts losslessly")
def _(c):
    source = "import numpy as np\n\ndef main():\n    return np.uint64(2**64 - 1)\n"
    c.response(run_script(source), rc=0, subset={"result": 2**64 - 1})


# ---------------------------------------------------------------- Timeout


@case("while True: pass with --timeout 2: Timeout in < 10 s")
def _(c):
    run = run_script("def main():\n    while True:\n        pass\n",
                     "--timeout", "2")
    c.failure(run, "Timeout", wall_below=10)


@case("time.sleep(60) with --timeout 1: Timeout (wall clock) in < 10 s")
def _(c):
    source = "import time\n\ndef main():\n    time.sleep(60)\n"
    c.failure(run_script(source, "--timeout", "1"), "Timeout", wall_below=10)


@case("request field timeout 1 with a busy loop: Timeout in < 10 s")
def _(c):
    request = {"script": "def main():\n    while True:\n        pass\n",
               "timeout": 1}
    c.failure(run_request(request), "Timeout", wall_below=10)


@case("--cpu 1 before or after --timeout 20: the CPU-time limit of 1 s ends a busy loop")
def _(c):
    busy = "def main():\n    while True:\n        pass\n"
    for args in (("--cpu", "1", "--timeout", "20"),
                 ("--timeout", "20", "--cpu", "1")):
        c.failure(run_script(busy, *args), "Timeout",
                  names=["CPU-time limit of 1 s"], wall_below=10)


@case("--timeout 0.5 (below the CPU limit's 1 s): accepted, Timeout in < 5 s")
def _(c):
    c.failure(run_script("import time\n\ndef main():\n    time.sleep(60)\n",
                         "--timeout", "0.5"),
              "Timeout", names=["wall-clock limit of 0.5 s"], wall_below=5)


@case("a background child left running does not hold the run open")
def _(c):
    source = (
        "import subprocess\n"
        "\n"
        "def main():\n"
        "    subprocess.Popen(['sleep', '100'])\n"
        "    return 'done'\n"
    )
    run = run_script(source, "--timeout", "10")
    c.response(run, rc=0, subset={"result": "done"}, wall_below=8)


# ----------------------------------------------------------------- Killed


@case("os.abort(): Killed naming SIGABRT, stdout kept")
def _(c):
    source = "import os\n\ndef main():\n    print('x', flush=True)\n    os.abort()\n"
    c.failure(run_script(source), "Killed", names=["SIGABRT"],
              subset={"stdout": "x\n"})


@case("SIGKILL sent to itself: Killed")
def _(c):
    source = ("import os, signal\n\ndef main():\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    c.failure(run_script(source), "Killed")


# --------------------------------------------------------- ResultTooLarge


@case("9 MiB result: ResultTooLarge")
def _(c):
    source = "def main():\n    return 'x' * (9 * 1024 * 1024)\n"
    c.failure(run_script(source), "ResultTooLarge")


@case("result just under 8 MiB is returned whole")
def _(c):
    source = "def main():\n    return 'x' * (8 * 1024 * 1024 - 1024)\n"
    run = run_script(source)
    resp = c.response(run, rc=0)
    if resp:
        c.expect(resp.get("result") == "x" * (8 * MIB - 1024),
                 f"result is not the 8 MiB - 1 KiB string: "
                 f"{len(resp.get('result') or '')} chars")


# ------------------------------------------------------ stdout and stderr


@case("2 MiB on stdout: stdout_truncated, exactly 1 MiB kept")
def _(c):
    source = ("import sys\n\ndef main():\n"
              "    sys.stdout.write('a' * (2 * 1024 * 1024))\n    return 1\n")
    resp = c.response(run_script(source), rc=0,
                      subset={"result": 1, "stdout_truncated": True})
    if resp:
        out = resp.get("stdout") or ""
        c.expect(len(out) == MIB, f"stdout has {len(out)} chars, want {MIB}")
        c.expect(out == "a" * len(out), "stdout is not all 'a'")


@case("2 MiB on stderr: stderr_truncated, exactly 1 MiB kept")
def _(c):
    source = ("import sys\n\ndef main():\n"
              "    sys.stderr.write('e' * (2 * 1024 * 1024))\n    return 1\n")
    resp = c.response(run_script(source), rc=0,
                      subset={"result": 1, "stderr_truncated": True},
                      absent=["stdout_truncated"])
    if resp:
        err = resp.get("stderr") or ""
        c.expect(len(err) == MIB, f"stderr has {len(err)} chars, want {MIB}")


@case("print to sys.stderr is captured in the stderr field")
def _(c):
    source = "import sys\n\ndef main():\n    print('warn', file=sys.stderr)\n    return 1\n"
    c.response(run_script(source), rc=0,
               subset={"result": 1, "stderr": "warn\n", "stdout": ""})


@case("stdout is byte-faithful: no strip, 'a\\n\\n' stays")
def _(c):
    source = ("import sys\n\ndef main():\n    print('  a\\n')\n"
              "    sys.stdout.write('tail')\n    return None\n")
    c.response(run_script(source), rc=0,
               subset={"result": None, "stdout": "  a\n\ntail"})


@case("invalid UTF-8 via os.write(1, ...) becomes U+FFFD")
def _(c):
    source = "import os\n\ndef main():\n    os.write(1, b'a\\xffb\\n')\n    return 1\n"
    c.response(run_script(source), rc=0,
               subset={"result": 1, "stdout": "a\ufffdb\n"})


@case("600 KB of two-byte UTF-8 characters on stdout decode intact")
def _(c):
    source = ("import sys\n\ndef main():\n"
              "    sys.stdout.write('\\u00e9' * 300000)\n    return 1\n")
    resp = c.response(run_script(source), rc=0, subset={"result": 1},
                      absent=["stdout_truncated"])
    if resp:
        c.expect(resp.get("stdout") == "\u00e9" * 300000,
                 "stdout differs from 300000 x U+00E9")


@case("output of a child process is captured")
def _(c):
    source = ("import subprocess\n\ndef main():\n"
              "    subprocess.run(['echo', 'from child'], check=True)\n"
              "    return 1\n")
    c.response(run_script(source), rc=0,
               subset={"result": 1, "stdout": "from child\n"})


# ------------------------------------------------------------------ stdin

READ_STDIN = "import sys\n\ndef main():\n    return sys.stdin.read()\n"


@case("--stdin FILE feeds the script's standard input")
def _(c):
    path = write_file("line1\nline2\n", suffix=".txt")
    c.response(run_script(READ_STDIN, "--stdin", path), rc=0,
               subset={"result": "line1\nline2\n"})


@case("request field stdin feeds the script's standard input")
def _(c):
    run = run_request({"script": READ_STDIN, "stdin": "abc\n\u00e9"})
    c.response(run, rc=0, subset={"result": "abc\n\u00e9"})


@case("standard input is empty by default")
def _(c):
    c.response(run_script(READ_STDIN, "--timeout", "5"), rc=0,
               subset={"result": ""})


# ------------------------------------------------------------------ stats

BUSY = ("def main():\n    n = 0\n    for i in range(2000000):\n"
        "        n += i\n    return n\n")


def check_stats(c, run):
    resp = c.response(run, rc=0, subset={"result": sum(range(2000000))})
    stats = resp.get("stats")
    if not c.expect(isinstance(stats, dict), f"stats is {short(stats)}"):
        return
    for key in ("wall_ms", "cpu_ms", "max_rss_kb", "faults"):
        value = stats.get(key)
        c.expect(type(value) is int and value > 0,
                 f"stats.{key} is {short(value)}, want an integer > 0")


@case("--stats adds integer wall_ms, cpu_ms, max_rss_kb, faults > 0")
def _(c):
    check_stats(c, run_script(BUSY, "--stats"))


@case("request field stats: true adds stats")
def _(c):
    check_stats(c, run_request({"script": BUSY, "stats": True}))


# ------------------------------------------------ the cold sandbox's cgroup

@case("a cold run whose script ends before the library looks again after "
      "the exec (PEXOS_TEST_AFTER_EXEC_MS=500) succeeds: its init's cgroup "
      "is checked before it is let go, not after")
def _(c):
    # An exited process shows the roots of the v1 hierarchies in
    # /proc/PID/cgroup: a check after the exec failed such a run with
    # "the sandbox's init is not in its cgroup" on a loaded host.
    run = pexos("--pool", "0", "--stats",
                write_file("def main():\n    return 1\n"),
                env={"PEXOS_TEST_AFTER_EXEC_MS": "500"})
    resp = c.response(run, rc=0, subset={"result": 1})
    if resp:
        c.expect((resp.get("stats") or {}).get("pooled") is False,
                 f"stats {short(resp.get('stats'))}, want a cold run")
        c.expect(run.wall >= 0.5,
                 f"took {run.wall:.2f} s: the hook did not hold it")


# ------------------------------------------------------------ the CLI itself


@case("-r prints only the result JSON")
def _(c):
    for flag in ("-r", "--result"):
        run = pexos(flag, write_file(HELLO))
        c.runs.append(run)
        c.expect(run.rc == 0, f"{flag}: exit status {run.rc}, want 0")
        try:
            got = strict_loads(run.out.decode("utf-8"))
        except ValueError as e:
            c.problems.append(f"{flag}: stdout is not JSON: {e}")
            continue
        c.expect(same(got, {"message": "Hello, World!"}),
                 f"{flag}: stdout is {short(got)}, want the result alone")


@case("-r prints the result's JSON text as the response holds it")
def _(c):
    source = ('def main():\n'
              '    return {"f": 0.1, "big": 10**30, "s": "a,}\\"]", "l": [1e100]}\n')
    run = pexos("-r", write_file(source))
    c.runs.append(run)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    want = b'{"f":0.1,"big":1000000000000000000000000000000,"s":"a,}\\"]","l":[1e+100]}\n'
    c.expect(run.out == want, f"stdout {run.out!r}, want {want!r}")
    full = pexos(write_file(source))
    c.runs.append(full)
    c.expect(full.out.startswith(b'{"result":' + want[:-1] + b","),
             f"the response {full.out[:200]!r} does not hold that text")


@case("-r on a failure: exit 1, nothing on stdout")
def _(c):
    run = pexos("-r", write_file("def main():\n    return 1 / 0\n"))
    c.runs.append(run)
    c.expect(run.rc == 1, f"exit status {run.rc}, want 1")
    c.expect(run.out == b"", "stdout is not empty")
    c.expect(b"ZeroDivisionError" in run.err, "the response is not on stderr")


@case("- reads the script from stdin")
def _(c):
    run = pexos("-", stdin=HELLO.encode())
    c.response(run, rc=0, subset={"result": {"message": "Hello, World!"},
                                  "stdout": ""})


@case("stdout not a terminal: exactly one compact line")
def _(c):
    run = pexos(os.path.join(REPO_ROOT, "examples", "stdout.py"))
    c.response(run, rc=0, subset={"result": {"processed": True, "items": 10}})
    c.expect(run.out.endswith(b"\n"), "the line does not end with a newline")


@case("stdout a terminal: pretty (several lines), same response")
def _(c):
    run = pexos_tty(write_file(HELLO))
    c.runs.append(run)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    text = run.out.decode("utf-8", "replace")
    c.expect(len(text.strip().splitlines()) > 1, "output is a single line")
    try:
        got = strict_loads(text)
    except ValueError as e:
        c.problems.append(f"terminal output is not JSON: {e}")
        return
    c.expect(same(got, {"result": {"message": "Hello, World!"}, "stdout": ""}),
             f"terminal output is {short(got)}")


@case("--version: exit 0, prints a version")
def _(c):
    run = pexos("--version")
    c.runs.append(run)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    c.expect(run.out.strip() != b"", "nothing on stdout")


@case("--help: exit 0, mentions --json")
def _(c):
    run = pexos("--help")
    c.runs.append(run)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    c.expect(b"--json" in run.out + run.err, "help text does not mention --json")


def usage_case(description, *args):
    def test(c):
        run = pexos(*args)
        c.runs.append(run)
        c.expect(run.rc == 2, f"exit status {run.rc}, want 2")
        c.expect(run.out == b"", "stdout is not empty")
        c.expect(b"usage" in run.err.lower(), "no usage on stderr")

    add_case(description, test)


usage_case("an unknown option: exit 2, usage on stderr, nothing on stdout",
           "--no-such-option")
usage_case("no script argument: exit 2, usage on stderr, nothing on stdout")


@case("two files: JSON Lines, each with its file field")
def _(c):
    a, b = (os.path.join(REPO_ROOT, "examples", n) for n in ("hello.py", "stdout.py"))
    run = pexos(a, b)
    c.runs.append(run)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    lines = run.out.decode("utf-8", "replace").splitlines()
    if not c.expect(len(lines) == 2, f"{len(lines)} lines on stdout, want 2"):
        return
    try:
        got = {os.path.basename(str(r.get("file"))): r
               for r in map(strict_loads, lines)}
    except (ValueError, AttributeError) as e:
        c.problems.append(f"a line is not a JSON object: {e}")
        return
    c.expect(set(got) == {"hello.py", "stdout.py"}, f"file fields: {sorted(got)}")
    if "hello.py" in got:
        c.problems += subset_problems(
            {"result": {"message": "Hello, World!"}}, got["hello.py"], "hello.py")


# ------------------------------------------------------- module semantics


@case('if __name__ == "__main__": does not fire; __name__ is "script"')
def _(c):
    source = ("def main():\n    return __name__\n\n"
              "if __name__ == '__main__':\n    print('FIRED')\n")
    c.response(run_script(source), rc=0, subset={"result": "script", "stdout": ""})


@case("main is called exactly once")
def _(c):
    source = ("calls = 0\n\ndef main():\n    global calls\n    calls += 1\n"
              "    print('called')\n    return calls\n")
    c.response(run_script(source), rc=0, subset={"result": 1, "stdout": "called\n"})


# ------------------------------------------------------------------- driver


def main():
    global PEXOS_RUN, REPO_ROOT
    if len(sys.argv) != 3:
        print(f"usage: {sys.argv[0]} PEXOS_RUN REPO_ROOT", file=sys.stderr)
        return 2
    PEXOS_RUN, REPO_ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
    missing = binary_missing(PEXOS_RUN)
    if missing is not None:
        return missing
    register_examples()
    CASES.sort(key=lambda item: not item[0].startswith("examples/"))

    failed = 0
    # Two at a time: the machine has two cores and most cases are start-up bound.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(run_case, Check(), fn) for _, fn in CASES]
        for number, ((description, _), future) in enumerate(
            zip(CASES, futures), start=1
        ):
            c = future.result()
            failed += not tap_result(number, description, c.problems, c.runs)
    return tap_plan(len(CASES), failed)


if __name__ == "__main__":
    try:
        status = main()
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
    sys.exit(status)
