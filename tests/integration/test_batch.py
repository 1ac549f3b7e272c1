#!/usr/bin/python3
"""Integration tests for pexos-run's batch mode (several scripts), speaking TAP.

usage: /usr/bin/python3 tests/integration/test_batch.py PEXOS_RUN REPO_ROOT

Drives the real binary against SPEC.md section 6: `pexos-run a.py b.py ...`
prints one response per line (JSON Lines) in command-line order, each with a
"file" member first, a summary on stderr, an exit status that is the highest
of the scripts', and with --junit FILE a JUnit XML report.

Standard library only: run it with Debian's /usr/bin/python3.
Environment:
  PEXOS_RUN_ARGS   extra options put before every pexos-run command line
  PEXOS_MUST_WORK  when 1, a missing pexos-run is a failure, not a skip
Exit: 0 all passed, 1 something failed, 77 skipped (no pexos-run).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (NotStrictJSON, Obj, same, short,  # noqa: E402,F401
                     strict_loads, subset_problems, tap_plan, tap_result,
                     binary_missing, run_case)

HELLO = 'def main():\n    return {"message": "Hello, World!"}\n'
FAILING = 'def main():\n    print("before")\n    return 1 / 0\n'
SYNTAX = "def main(:\n    return 1\n"
# Control characters, a CDATA terminator, markup and a non-character:
# none of it may break the JUnit report.
NASTY = (
    "import sys\n\n"
    "def main():\n"
    "    sys.stdout.write('a\\x00b\\x01c\\x1b[31mred\\x1b[0m ]]> <x> & \"q\" "
    "\\ufffe\\uffff\\r\\n')\n"
    "    sys.stderr.write('err ]]> \\x07\\n')\n"
    "    raise ValueError('bad \\x02 ]]> <value>')\n"
)
SLEEP = "import time\n\ndef main():\n    time.sleep({})\n    return {}\n"
READ_STDIN = "import sys\n\ndef main():\n    return sys.stdin.read()\n"
# Guard for one pexos-run invocation; no case should come close to it.
COMMAND_TIMEOUT = 120

PEXOS_RUN = None
REPO_ROOT = None
EXTRA_ARGS = shlex.split(os.environ.get("PEXOS_RUN_ARGS", ""))
WORKDIR = tempfile.mkdtemp(prefix="pexos-test-batch-")
SUMMARY = re.compile(
    rb"^pexos-run: (\d+) scripts: (\d+) passed, (\d+) failed"
    rb"(?: \(([^)]*)\))? in \d+(?:\.\d+)? s$"
)


# ------------------------------------------------------------------ helpers


def parse_line(line):
    return strict_loads(line)


def short_text(value, limit=300):
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class Run:
    def __init__(self, argv, rc, out, err, wall):
        self.argv, self.rc, self.out, self.err, self.wall = (
            argv, rc, out, err, wall)

    def describe(self):
        argv = " ".join(shlex.quote(os.fsdecode(a)) for a in self.argv)
        return [f"command: {argv}",
                f"exit: {self.rc}  wall: {self.wall:.2f} s",
                f"stdout: {short_text(self.out.decode('utf-8', 'replace'), 1500)!r}",
                f"stderr: {short_text(self.err.decode('utf-8', 'replace'), 600)!r}"]


def pexos(*args, stdin=b""):
    argv = [PEXOS_RUN, *EXTRA_ARGS, *args]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=COMMAND_TIMEOUT)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "killed by the harness", e.stdout or b"", e.stderr or b""
    return Run(argv, rc, out, err, time.monotonic() - start)


_counter = 0


def write_file(content, name=None):
    global _counter
    _counter += 1
    name = name or f"s{_counter}.py"
    path = os.path.join(WORKDIR, name)
    with open(path, "wb") as f:
        f.write(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def four_files():
    """hello, a failing one, a syntax error, a missing file."""
    return [write_file(HELLO), write_file(FAILING), write_file(SYNTAX),
            os.path.join(WORKDIR, "does-not-exist.py")]


class Check:
    def __init__(self):
        self.problems = []
        self.runs = []

    def expect(self, cond, message):
        if not cond:
            self.problems.append(message)
        return cond

    def run(self, *args, **kw):
        run = pexos(*args, **kw)
        self.runs.append(run)
        return run

    def lines(self, run, files):
        """The response lines, checked: one per file, in order, "file" first.
        Returns the parsed objects (or [] after reporting the problem)."""
        try:
            text = run.out.decode("utf-8")
        except UnicodeDecodeError as e:
            self.problems.append(f"stdout is not UTF-8: {e}")
            return []
        if not self.expect(text.endswith("\n"), "stdout does not end in \\n"):
            return []
        lines = text.split("\n")[:-1]
        if not self.expect(len(lines) == len(files),
                           f"{len(lines)} lines on stdout, want {len(files)}"):
            return []
        objs = []
        for n, (line, path) in enumerate(zip(lines, files), start=1):
            try:
                obj = parse_line(line)
            except ValueError as e:
                self.problems.append(f"line {n} is not strict JSON: {e}")
                return []
            if not self.expect(isinstance(obj, dict),
                               f"line {n} is not an object"):
                return []
            self.expect(obj.key_order[:1] == ["file"],
                        f"line {n}: first key is not 'file': {obj.key_order}")
            want = os.fsdecode(path) if isinstance(path, bytes) else path
            self.expect(obj.get("file") == want,
                        f"line {n}: file is {obj.get('file')!r}, want {want!r}")
            self.expect(" " not in line.split('"file":', 1)[0],
                        f"line {n} is not compact")
            objs.append(obj)
        return objs

    def summary(self, run):
        """The summary line's (n, passed, failed, {type: count})."""
        lines = run.err.rstrip(b"\n").split(b"\n")
        m = SUMMARY.match(lines[-1]) if lines else None
        if not self.expect(m is not None,
                           f"last stderr line is not a summary: {lines[-1]!r}"):
            return None
        types = {}
        if m.group(4):
            for part in m.group(4).decode().split(", "):
                name, count = part.rsplit(" ", 1)
                types[name] = int(count)
        return int(m.group(1)), int(m.group(2)), int(m.group(3)), types

    def junit(self, path):
        try:
            return ET.parse(path).getroot()
        except (ET.ParseError, OSError) as e:
            self.problems.append(f"JUnit report does not parse: {e}")
            try:
                with open(path, "rb") as f:
                    self.problems.append(f"report: {f.read()[:2000]!r}")
            except OSError:
                pass
            return None


CASES = []


def case(description):
    def register(fn):
        CASES.append((description, fn))
        return fn
    return register


def usage_error(c, run, mention):
    c.expect(run.rc == 2, f"exit status {run.rc}, want 2")
    c.expect(run.out == b"", "stdout is not empty")
    c.expect(b"usage" in run.err.lower(), "no usage on stderr")
    c.expect(mention.encode() in run.err, f"stderr does not mention {mention!r}")


# -------------------------------------------------------------------- cases


@case("4 scripts: JSON Lines in command-line order, each with file first")
def _(c):
    files = four_files()
    run = c.run(*files)
    objs = c.lines(run, files)
    if not objs:
        return
    hello, failing, syntax, missing = objs
    c.expect(hello.get("result") == {"message": "Hello, World!"},
             f"hello: {short(hello)}")
    c.expect("type" not in hello, "hello has a type")
    c.expect(failing.get("type") == "ScriptError", f"failing: {short(failing)}")
    c.expect("ZeroDivisionError" in str(failing.get("error")),
             "failing: error does not name ZeroDivisionError")
    c.expect(failing.get("stdout") == "before\n", "failing: stdout not kept")
    c.expect(syntax.get("type") == "SyntaxError", f"syntax: {short(syntax)}")
    c.expect(missing.get("type") == "InvalidRequest",
             f"missing: {short(missing)}")
    c.expect(files[3] in str(missing.get("error")),
             "missing: error does not name the file")
    c.expect("stdout" not in missing, "missing: has stdout but nothing ran")


@case("-j 1, -j 4 and --jobs 2 print the same lines")
def _(c):
    files = four_files() + [write_file(HELLO) for _ in range(4)]
    outs = []
    for args in (("-j", "1"), ("-j", "4"), ("--jobs", "2"), ("-j4",)):
        run = c.run(*args, *files)
        c.lines(run, files)
        outs.append(run.out)
    c.expect(len(set(outs)) == 1, "the outputs differ")


@case("summary on stderr: counts and failure types in alphabetical order")
def _(c):
    run = c.run(*four_files())
    got = c.summary(run)
    want = (4, 1, 3, {"InvalidRequest": 1, "ScriptError": 1, "SyntaxError": 1})
    if got:
        c.expect(got == want, f"summary says {got}, want {want}")
        c.expect(list(got[3]) == sorted(got[3]), "types not in order")


@case("summary when all pass: no failure list")
def _(c):
    run = c.run(write_file(HELLO), write_file(HELLO), write_file(HELLO))
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    got = c.summary(run)
    if got:
        c.expect(got == (3, 3, 0, {}), f"summary says {got}")


@case("exit status: 0 all pass, 1 a script failed, 2 beats 1, 3 beats 2")
def _(c):
    hello, failing, _, missing = four_files()
    for args, want in (
        ((hello, hello), 0),
        ((hello, failing), 1),
        ((failing, hello, failing), 1),
        ((missing, hello), 2),
        ((hello, failing, missing), 2),
        ((missing, failing), 2),
        # A context that cannot be made fails every script (SandboxError),
        # the missing file included, as a single run would.
        (("--python", "/nonexistent/python3", hello, missing), 3),
    ):
        run = c.run(*args)
        c.expect(run.rc == want,
                 f"{[os.path.basename(a) for a in args]}: exit status "
                 f"{run.rc}, want {want}")
    objs = c.lines(run, [hello, missing])
    c.expect(all(o.get("type") == "SandboxError" for o in objs),
             "without a context the lines are not SandboxError")


@case("a slow first script holds back the printing, not the running")
def _(c):
    files = [write_file(SLEEP.format(2, 1)), write_file(SLEEP.format(2, 2)),
             write_file(SLEEP.format(0, 3))]
    run = c.run("-j", "3", "--timeout", "20", *files)
    objs = c.lines(run, files)
    c.expect([o.get("result") for o in objs] == [1, 2, 3],
             f"results {[o.get('result') for o in objs]}, want [1, 2, 3]")
    c.expect(run.wall < 3.8, f"-j 3 took {run.wall:.2f} s: not concurrent")
    serial = c.run("-j", "1", "--timeout", "20", *files[:2])
    c.expect(serial.wall >= 4, f"-j 1 took {serial.wall:.2f} s, want >= 4")


@case("a line is printed as soon as it and all earlier ones are done")
def _(c):
    files = [write_file(HELLO), write_file(SLEEP.format(5, 1))]
    argv = [PEXOS_RUN, *EXTRA_ARGS, "-j", "2", "--timeout", "20", *files]
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        first = proc.stdout.readline()
        first_at = time.monotonic() - start
        rest = proc.stdout.read()
        proc.wait(timeout=COMMAND_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    c.expect(first.startswith(b'{"file":'), f"first line {first[:100]!r}")
    c.expect(first_at < 3.5, f"first line came after {first_at:.2f} s, "
             "want it long before the 5 s script ends")
    c.expect(rest.count(b"\n") == 1, f"rest of stdout: {rest[:200]!r}")


@case("--junit: counts, failure and error types, messages, system-out")
def _(c):
    files = four_files()
    report = os.path.join(WORKDIR, "report.xml")
    run = c.run("--junit", report, *files)
    objs = c.lines(run, files)
    root = c.junit(report)
    if root is None or not objs:
        return
    c.expect(root.tag == "testsuites", f"root is <{root.tag}>")
    suites = root.findall("testsuite")
    if not c.expect(len(suites) == 1, f"{len(suites)} testsuites, want 1"):
        return
    suite = suites[0]
    for key, want in (("name", "pexos-run"), ("tests", "4"),
                      ("failures", "2"), ("errors", "1")):
        c.expect(suite.get(key) == want,
                 f"testsuite {key}={suite.get(key)!r}, want {want!r}")
    try:
        c.expect(float(suite.get("time")) >= 0, "negative suite time")
    except (TypeError, ValueError):
        c.problems.append(f"testsuite time={suite.get('time')!r}")
    cases = suite.findall("testcase")
    c.expect([t.get("name") for t in cases] == files,
             f"testcase names {[t.get('name') for t in cases]}")
    if len(cases) != 4:
        return
    for t in cases:
        c.expect(t.get("classname") == "pexos-run",
                 f"classname {t.get('classname')!r}")
        try:
            float(t.get("time"))
        except (TypeError, ValueError):
            c.problems.append(f"testcase time={t.get('time')!r}")
    hello, failing, syntax, missing = cases
    c.expect(list(hello) == [], "the passing case has children")

    fail = failing.find("failure")
    if c.expect(fail is not None, "the failing case has no <failure>"):
        c.expect(fail.get("type") == "ScriptError", f"type {fail.get('type')!r}")
        c.expect(fail.get("message") == objs[1]["error"],
                 f"message {fail.get('message')!r}, want {objs[1]['error']!r}")
        c.expect("line 3, in main" in (fail.text or ""),
                 "failure text lacks the traceback")
    out = failing.find("system-out")
    c.expect(out is not None and out.text == "before\n",
             f"system-out is {None if out is None else out.text!r}")

    syn = syntax.find("failure")
    c.expect(syn is not None and syn.get("type") == "SyntaxError",
             "the syntax error is not a <failure type=SyntaxError>")
    err = missing.find("error")
    if c.expect(err is not None, "the missing file has no <error>"):
        c.expect(err.get("type") == "InvalidRequest",
                 f"type {err.get('type')!r}")
        c.expect(files[3] in (err.get("message") or ""),
                 "error message does not name the file")
    c.expect(missing.find("failure") is None, "the missing file is a failure")


@case("--junit: control characters and ]]> in output still give valid XML")
def _(c):
    files = [write_file(NASTY), write_file(HELLO)]
    report = os.path.join(WORKDIR, "nasty.xml")
    run = c.run("--junit", report, *files)
    c.expect(run.rc == 1, f"exit status {run.rc}, want 1")
    root = c.junit(report)
    if root is None:
        return
    t = root.find("testsuite/testcase")
    if not c.expect(t is not None, "no testcase"):
        return
    out = t.findtext("system-out") or ""
    c.expect("]]>" in out and '<x> & "q"' in out,
             f"system-out lost text: {out!r}")
    c.expect("red" in out and "\r\n" in out, f"system-out: {out!r}")
    c.expect(not any(ch in out for ch in "\x00\x01\x1b\ufffe\uffff"),
             f"illegal characters kept: {out!r}")
    c.expect("err ]]> " in (t.findtext("system-err") or ""),
             f"system-err: {t.findtext('system-err')!r}")
    fail = t.find("failure")
    if c.expect(fail is not None, "no <failure>"):
        c.expect("]]> <value>" in (fail.get("message") or ""),
                 f"message {fail.get('message')!r}")


@case("a file name that is not UTF-8: U+FFFD in the file field and report")
def _(c):
    path = os.fsencode(WORKDIR) + b"/caf\xe9.py"
    with open(path, "wb") as f:
        f.write(HELLO.encode())
    report = os.path.join(WORKDIR, "latin1.xml")
    other = write_file(HELLO)
    run = c.run("--junit", report, path, other)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    objs = c.lines(run, [os.path.join(WORKDIR, "caf\ufffd.py"), other])
    if objs:
        c.expect(objs[0].get("result") == {"message": "Hello, World!"},
                 f"line 1: {short(objs[0])}")
    root = c.junit(report)
    if root is not None:
        names = [t.get("name") for t in root.iter("testcase")]
        c.expect(names[:1] == [os.path.join(WORKDIR, "caf\ufffd.py")],
                 f"names {names}")


@case("--junit with a single script: one testcase, stdout unchanged")
def _(c):
    path = write_file(HELLO)
    report = os.path.join(WORKDIR, "one.xml")
    run = c.run("--junit", report, path)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    c.expect(run.out == b'{"result":{"message":"Hello, World!"},"stdout":""}\n',
             f"stdout {run.out!r}")
    root = c.junit(report)
    if root is not None:
        c.expect([t.get("name") for t in root.iter("testcase")] == [path],
                 "not one testcase named after the script")


@case("--junit: a result beyond 64 bits does not cost the captured output")
def _(c):
    files = [write_file("def main():\n    print('out')\n    return 10**30\n"),
             write_file("def main():\n    print('x')\n    return [1e308, 2**64]\n")]
    report = os.path.join(WORKDIR, "big.xml")
    run = c.run("--junit", report, *files)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    root = c.junit(report)
    if root is not None:
        outs = [t.findtext("system-out") for t in root.iter("testcase")]
        c.expect(outs == ["out\n", "x\n"], f"system-out {outs!r}")


@case("--junit into a directory that does not exist: exit 2, nothing runs")
def _(c):
    run = c.run("--junit", os.path.join(WORKDIR, "no", "r.xml"),
                write_file(HELLO), write_file(HELLO))
    c.expect(run.rc == 2, f"exit status {run.rc}, want 2")
    c.expect(run.out == b"", "stdout is not empty")


@case("-r with two files: usage error, exit 2")
def _(c):
    usage_error(c, c.run("-r", write_file(HELLO), write_file(HELLO)), "-r")
    usage_error(c, c.run("--result", write_file(HELLO), write_file(HELLO)),
                "-r")


@case("--json with two files: usage error, exit 2")
def _(c):
    req = write_file(json.dumps({"script": HELLO}), "req.json")
    usage_error(c, c.run("--json", req, write_file(HELLO), write_file(HELLO)),
                "--json")


@case("-j 0, -j x: usage error, exit 2")
def _(c):
    for value in ("0", "x", "-1", ""):
        usage_error(c, c.run("-j", value, write_file(HELLO), write_file(HELLO)),
                    "--jobs")


@case("- twice: usage error (standard input is read once)")
def _(c):
    usage_error(c, c.run("-", "-"), "standard input")
    usage_error(c, c.run("--stdin", "-", "-", write_file(HELLO)),
                "standard input")


@case("--stdin FILE and --stdin - feed every script of the batch")
def _(c):
    data = "line1\n\u00e9\n"
    files = [write_file(READ_STDIN) for _ in range(3)]
    stdin_file = write_file(data, "input.txt")
    for args, stdin in ((("--stdin", stdin_file), b""),
                        (("--stdin", "-"), data.encode())):
        run = c.run(*args, *files, stdin=stdin)
        c.expect(run.rc == 0, f"{args}: exit status {run.rc}, want 0")
        objs = c.lines(run, files)
        c.expect([o.get("result") for o in objs] == [data] * 3,
                 f"{args}: results {[o.get('result') for o in objs]}")


@case("--stdin of a missing file: InvalidRequest for every script")
def _(c):
    files = [write_file(READ_STDIN), write_file(READ_STDIN)]
    run = c.run("--stdin", os.path.join(WORKDIR, "nope.txt"), *files)
    c.expect(run.rc == 2, f"exit status {run.rc}, want 2")
    objs = c.lines(run, files)
    c.expect([o.get("type") for o in objs] == ["InvalidRequest"] * 2,
             f"types {[o.get('type') for o in objs]}")


@case("- as one script of a batch reads it from stdin")
def _(c):
    other = write_file(HELLO)
    run = c.run(other, "-", stdin=b"def main():\n    return 7\n")
    objs = c.lines(run, [other, "-"])
    if objs:
        c.expect(objs[1].get("result") == 7, f"line 2: {short(objs[1])}")


@case("--stats applies to every script")
def _(c):
    files = [write_file(HELLO), write_file(HELLO)]
    objs = c.lines(c.run("--stats", *files), files)
    c.expect(all(isinstance(o.get("stats"), dict) for o in objs),
             "a line lacks stats")


def pooled_flags(c, run, files):
    """Each line's stats.pooled, or [] after reporting a problem."""
    objs = c.lines(run, files)
    flags = [(o.get("stats") or {}).get("pooled") for o in objs]
    c.expect(all(isinstance(f, bool) for f in flags),
             f"stats.pooled missing: {flags}")
    return flags


# PEXOS_RUN_ARGS may put every run under --limits rlimit: then no pool.
EXTRA_RLIMIT = any("rlimit" in a for a in EXTRA_ARGS)


@case("pool auto (the default): a batch runs on warm sandboxes, one script on a cold one")
def _(c):
    files = [write_file(HELLO), write_file(HELLO), write_file(HELLO)]
    # A long wait for a warm sandbox: pooled, however slow the host is.
    for args in ((), ("--pool", "auto")):
        run = c.run("--stats", "--pool-wait", "60", "-j", "2", *args, *files)
        c.expect(run.rc == 0, f"{args}: exit status {run.rc}, want 0")
        flags = pooled_flags(c, run, files)
        c.expect(flags == [not EXTRA_RLIMIT] * 3,
                 f"{args}: stats.pooled {flags}")
    run = c.run("--stats", "--pool-wait", "60", files[0])
    resp = strict_loads(run.out.decode("utf-8", "replace") or "null")
    c.expect(run.rc == 0 and isinstance(resp, dict) and
             resp.get("stats", {}).get("pooled") is False,
             f"one script: {run.out[:300]!r}, want stats.pooled false")
    c.expect(run.wall < 30, f"one script took {run.wall:.1f} s: it waited "
             "for a pool")
    run = c.run("--stats", "--pool", "0", *files[:2])
    c.expect(pooled_flags(c, run, files[:2]) == [False, False],
             "--pool 0: a batch ran on warm sandboxes")


@case("--limits rlimit: a batch runs without a pool; --pool 2 with it is a SandboxError")
def _(c):
    files = [write_file(HELLO), write_file(HELLO)]
    run = c.run("--limits", "rlimit", "--stats", *files)
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    objs = c.lines(run, files)
    for o in objs:
        st = o.get("stats") or {}
        c.expect(st.get("limits") == "rlimit" and st.get("pooled") is False,
                 f"stats {st}, want limits rlimit, not pooled")
    run = c.run("--limits", "rlimit", "--pool", "2", *files)
    c.expect(run.rc == 3, f"exit status {run.rc}, want 3")
    for o in c.lines(run, files):
        c.expect(o.get("type") == "SandboxError" and
                 "pool" in str(o.get("error")),
                 f"line {short_text(o)}, want a SandboxError naming the pool")


@case("--pool many: usage error naming auto, exit 2")
def _(c):
    usage_error(c, c.run("--pool", "many", write_file(HELLO), write_file(HELLO)),
                "auto")


@case("one file keeps the single-run output: no file field, no summary")
def _(c):
    run = c.run(write_file(HELLO))
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    c.expect(run.out == b'{"result":{"message":"Hello, World!"},"stdout":""}\n',
             f"stdout {run.out!r}")
    c.expect(run.err == b"", f"stderr {run.err!r}")


@case("--help documents batch mode and its exit status")
def _(c):
    run = c.run("--help")
    c.expect(run.rc == 0, f"exit status {run.rc}, want 0")
    for text in (b"--jobs", b"--junit", b"highest"):
        c.expect(text in run.out, f"help does not mention {text!r}")


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
    failed = 0
    # One at a time: several cases measure wall time.
    for number, (description, fn) in enumerate(CASES, start=1):
        c = run_case(Check(), fn)
        failed += not tap_result(number, description, c.problems, c.runs)
    return tap_plan(len(CASES), failed)


if __name__ == "__main__":
    try:
        status = main()
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
    sys.exit(status)
