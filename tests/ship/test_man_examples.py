#!/usr/bin/python3
"""The examples of the man pages, run as written. TAP.

usage: /usr/bin/python3 tests/ship/test_man_examples.py BUILD_DIR SOURCE_DIR
           SANITIZE PEXOS_RUN [PEXOS_HTTPD]

pexos-run(1), EXAMPLES: every block runs in bash (-e -o pipefail) with the
  build's pexos-run first on PATH, in a scratch directory that holds a copy
  of examples/ and a tests/ folder of passing scripts (so that `tests/*.py`
  names scripts and report.xml is written there, not into the tree).
pexos-httpd(8), EXAMPLES: the curl and jq blocks run against a pexos-httpd
  started on a free 127.0.0.1 port with --pool 0; only `localhost:8080` is
  rewritten, to that address. The block that starts a daemon runs as
  written, with PORT, PEXOS_LISTEN=127.0.0.1 and PEXOS_POOL=0 in its
  environment, in a mount and PID namespace of its own: there /etc/pexos/
  token exists (an overlay of /etc) and `pidof pexos-httpd` sees only that
  daemon. The token example runs against it, the stop example stops it.
libpexos(3): the SYNOPSIS declares every function and type of pexos.h, each
  function has its entry and each option its row; the program in EXAMPLES
  is examples/embed.c in full; the build commands after it run as written
  against the build tree (a pkg-config file for it in a scratch directory)
  and print what the page says they print.

An example that does not work as written fails with "DOES NOT WORK AS
WRITTEN" in its description, and the block, its exit status and its output
as diagnostics.

SANITIZE is the build's -fsanitize list ("none" without): C programs built
here get the same flags. Standard library only: run it with Debian's
/usr/bin/python3. PEXOS_MUST_WORK=1 turns "needs root" skips into failures.
Exit: 0 all passed, 1 something failed.
"""

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
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402
from harness import short, tap_plan, tap_result  # noqa: E402

BUILD = SOURCE = SANITIZE = PEXOS_RUN = PEXOS_HTTPD = None
WORKDIR = tempfile.mkdtemp(prefix="pexos-test-man-")
MUST_WORK = os.environ.get("PEXOS_MUST_WORK") == "1"
IS_ROOT = os.geteuid() == 0
BLOCK_TIMEOUT = 180
START_TIMEOUT = 90
HELLO_RESPONSE = {"result": {"message": "Hello, World!"}, "stdout": ""}
NOT_AS_WRITTEN = "DOES NOT WORK AS WRITTEN"


class Skip(Exception):
    pass


class Check(harness.Check):
    def skip(self, why):
        raise Skip(why)


# ------------------------------------------------------------ scdoc pages


def scdoc_unescape(text):
    """What a reader of the rendered page sees: in scdoc, a backslash
    makes the next character literal (so `\\\\` shows one backslash)."""
    return re.sub(r"\\(.)", r"\1", text)


def page_sections(name):
    """Of man/NAME.scd: {heading: [code block as a shell sees it, ...]}
    and {heading: the section's text outside code blocks}."""
    with open(os.path.join(SOURCE, "man", name + ".scd"), encoding="utf-8") as f:
        lines = f.read().split("\n")
    blocks, raw = {}, {}
    heading, block = None, None
    for line in lines:
        if block is not None:
            if line.strip() == "```":
                text = scdoc_unescape("\n".join(block)) + "\n"
                blocks.setdefault(heading, []).append(text)
                block = None
            else:
                block.append(line)
        elif line.startswith("# "):
            heading = line[2:].strip()
        elif line.strip() == "```":
            block = []
        elif heading is not None:
            raw[heading] = raw.get(heading, "") + line + "\n"
    return blocks, raw


def first_line(block):
    return block.strip().splitlines()[0][:60]


def clip(data, limit=1500):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    return repr(text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)")


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("PEXOS_") and k != "PEXOS_MUST_WORK") and k != "PORT"}
    env.update(extra)
    return env


def run_block(block, cwd, env, timeout=BLOCK_TIMEOUT):
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=cwd,
                          env=env, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def report_block(c, block, p):
    c.problems.append(f"block: {block!r}")
    c.problems.append(f"exit status {p.returncode}")
    c.problems.append(f"stdout: {clip(p.stdout)}")
    c.problems.append(f"stderr: {clip(p.stderr)}")


def json_values(c, out):
    """The JSON values stdout holds (compact lines or pretty-printed);
    a failure response among them is a problem."""
    text = out.decode("utf-8", "replace")
    decoder, values, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            break
        try:
            v, i = decoder.raw_decode(text, i)
        except ValueError as e:
            c.problems.append(f"stdout is not JSON ({e}): {text[i:i + 300]!r}")
            break
        if isinstance(v, dict) and "type" in v and "error" in v:
            c.problems.append(f"a failure response: {short(v)}")
        values.append(v)
    return values


def needs_root(c):
    if not IS_ROOT and not MUST_WORK:
        c.skip("needs root (pexos runs as root)")


def scratch(name):
    """A scratch working directory with a copy of examples/ and a tests/
    folder of scripts that succeed."""
    d = os.path.join(WORKDIR, name)
    shutil.copytree(os.path.join(SOURCE, "examples"), os.path.join(d, "examples"),
                    ignore=shutil.ignore_patterns("deploy", "ci"))
    os.makedirs(os.path.join(d, "tests"))
    for s in ("hello.py", "stdout.py", "numpy_pandas.py"):
        shutil.copy(os.path.join(SOURCE, "examples", s), os.path.join(d, "tests", s))
    return d


def curl_home():
    """A curlrc that makes an HTTP error status a failing exit status."""
    home = os.path.join(WORKDIR, "curl")
    if not os.path.isdir(home):
        os.makedirs(home)
        help_all = subprocess.run(["curl", "--help", "all"], capture_output=True).stdout
        option = "fail-with-body" if b"--fail-with-body" in help_all else "fail"
        with open(os.path.join(home, ".curlrc"), "w") as f:
            f.write(f"{option}\nmax-time = 60\n")
    return home


# Checks of what an example prints, chosen by what the block contains.
def check_output(c, block, p):
    values = json_values(c, p.stdout)
    last = values[-1] if values else None
    if "Hello, World!" in block:
        c.expect(values == [HELLO_RESPONSE], f"want the hello response, got {clip(p.stdout)}")
    if "6 * 7" in block:
        got = last.get("result") if isinstance(last, dict) and "result" in last else last
        c.expect(got == 42, f"want 42, got {clip(p.stdout)}")
    if "numpy_pandas.py" in block:
        got = last.get("mean") if isinstance(last, dict) else last
        c.expect(got == 3, f"want the mean 3, got {clip(p.stdout)}")
    if "/health" in block:
        c.expect(isinstance(last, dict) and last.get("status") == "healthy",
                 f"want status healthy, got {clip(p.stdout)}")


# --------------------------------------------------------- pexos-run(1)


def pexos_run_case(block):
    def test(c):
        needs_root(c)
        cwd = scratch(f"run-{uuid.uuid4().hex[:8]}")
        path = os.path.dirname(PEXOS_RUN) + os.pathsep + os.environ.get("PATH", "")
        p = run_block(block, cwd, clean_env(PATH=path))
        if p.returncode != 0 or not p.stdout.strip():
            c.problems.append(NOT_AS_WRITTEN)
            report_block(c, block, p)
            return
        if "--junit" not in block:
            check_output(c, block, p)
            return
        # A batch: one response per script, and the JUnit report.
        values = json_values(c, p.stdout)
        c.expect(len(values) == 3, f"want 3 responses (tests/*.py), got {len(values)}")
        report = os.path.join(cwd, re.search(r"--junit\s+(\S+)", block).group(1))
        try:
            root = ET.parse(report).getroot()
        except (OSError, ET.ParseError) as e:
            c.problems.append(f"the JUnit report: {e}")
            return
        cases = root.findall(".//testcase")
        bad = root.findall(".//failure") + root.findall(".//error")
        c.expect(len(cases) == 3 and not bad,
                 f"the JUnit report has {len(cases)} test cases and {len(bad)} failures")

    return test


def pipeline_case(c):
    """examples/pipeline.sh prints what its comments say."""
    needs_root(c)
    cwd = scratch("pipeline")
    path = os.path.dirname(PEXOS_RUN) + os.pathsep + os.environ.get("PATH", "")
    p = subprocess.run(["bash", os.path.join(cwd, "examples", "pipeline.sh")], cwd=WORKDIR,
                       env=clean_env(PATH=path), capture_output=True,
                       timeout=BLOCK_TIMEOUT, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        c.problems.append(NOT_AS_WRITTEN)
        c.problems.append(f"exit status {p.returncode}; stdout {clip(p.stdout)}; "
                          f"stderr {clip(p.stderr)}")
        return
    try:
        values = [json.loads(line) for line in p.stdout.decode().splitlines()]
    except ValueError as e:
        c.problems.append(f"stdout is not JSON lines ({e}): {clip(p.stdout)}")
        return
    failing = set()
    for name in os.listdir(os.path.join(SOURCE, "examples")):
        if name.endswith(".expect.json"):
            with open(os.path.join(SOURCE, "examples", name), encoding="utf-8") as f:
                expect = json.load(f)
            if "type" in expect:
                failing.add((f"./{name[:-len('.expect.json')]}.py", expect["type"]))
    want_end = [{"result": {"processed": True, "items": 10}, "lines": 2, "pooled": False}, 12]
    got_failures = {(v.get("file"), v.get("type")) for v in values[2:-2]
                    if isinstance(v, dict)}
    c.expect(len(values) == 4 + len(failing), f"{len(values)} lines: {clip(p.stdout)}")
    c.expect(values[:2] == [3, 2], f"first two lines {values[:2]}, want 3 and 2")
    c.expect(got_failures == failing, f"failures {sorted(got_failures)}, want {sorted(failing)}")
    c.expect(values[-2:] == want_end, f"last two lines {values[-2:]}, want {want_end}")


# -------------------------------------------------------- pexos-httpd(8)


class Daemon:
    """The test's own pexos-httpd (no token, --pool 0) on 127.0.0.1."""

    def __init__(self):
        self.proc = None
        self.port = None
        self.lines = []
        self.error = None

    def start(self):
        argv = [PEXOS_HTTPD, "--listen", "127.0.0.1", "--port", "0", "--pool", "0"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=clean_env())
        found = threading.Event()

        def read():
            for raw in self.proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(line)
                m = re.search(r'"port":(\d+)', line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        found.wait(START_TIMEOUT)
        if self.port is None:
            self.error = f"pexos-httpd did not start: {clip(chr(10).join(self.lines))}"
            self.stop()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None


DAEMON = Daemon()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def point_at(block, port):
    return block.replace("localhost:8080", f"127.0.0.1:{port}")


def httpd_curl_case(block):
    def test(c):
        needs_root(c)
        if not c.expect("localhost:8080" in block,
                        f"{NOT_AS_WRITTEN}: no localhost:8080 to point at a test daemon"):
            return
        if DAEMON.proc is None:
            DAEMON.start()
        if DAEMON.error:
            c.problems.append(DAEMON.error)
            return
        cwd = scratch(f"curl-{uuid.uuid4().hex[:8]}")
        shell = point_at(block, DAEMON.port)
        p = run_block(shell, cwd, clean_env(CURL_HOME=curl_home()))
        if p.returncode != 0 or not p.stdout.strip():
            c.problems.append(NOT_AS_WRITTEN)
            report_block(c, shell, p)
            return
        if "/metrics" in block:
            lines = p.stdout.decode().splitlines()
            c.expect(all(line.startswith("pexos_requests_total") for line in lines),
                     f"metrics: {clip(p.stdout)}")
        else:
            check_output(c, block, p)

    return test


# The example daemon's life, in a mount and PID namespace of its own.
NAMESPACE_SCRIPT = r"""
set -u
mkdir -p "$T/upper" "$T/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/upper,workdir=$T/work" /etc ||
	{ echo "cannot overlay /etc" >"$T/setup.err"; exit 0; }
mkdir -p /etc/pexos
printf '%s\n' "$TOKEN" >/etc/pexos/token
bash -e -o pipefail -c "$START_BLOCK" 2>"$T/daemon.log" &
daemon=$!
for _ in $(seq $((START_TIMEOUT * 10))); do
	grep -q '"port"' "$T/daemon.log" && break
	kill -0 $daemon 2>/dev/null || break
	sleep 0.1
done
# Not an example: without the token the daemon answers 401.
curl -q -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
	-d '{"script": "def main():\n    return 1"}' "127.0.0.1:$PORT/execute" \
	>"$T/notoken.out" 2>/dev/null || true
(cd "$CWD" && CURL_HOME=$CURL_HOME PEXOS_TOKEN=$TOKEN \
	bash -e -o pipefail -c "$TOKEN_BLOCK" >"$T/token.out" 2>"$T/token.err")
echo $? >"$T/token.rc"
bash -e -o pipefail -c "$STOP_BLOCK" >"$T/stop.out" 2>"$T/stop.err"
echo $? >"$T/stop.rc"
for _ in $(seq 300); do kill -0 $daemon 2>/dev/null || break; sleep 0.1; done
if kill -0 $daemon 2>/dev/null; then
	echo "still running 30 s after the stop example" >"$T/daemon.rc"
	kill -KILL $daemon
else
	wait $daemon
	echo $? >"$T/daemon.rc"
fi
"""


def read(path, default=""):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return default


class ExampleDaemon:
    """Runs the start, token and stop examples once; the three cases
    read its results."""

    def __init__(self, start, token, stop):
        self.start, self.token, self.stop = start, token, stop
        self.done = False
        self.t = self.error = None

    def run(self):
        if self.done:
            return
        self.done = True
        self.t = os.path.join(WORKDIR, "example-daemon")
        os.makedirs(self.t)
        self.port = free_port()
        path = os.path.dirname(PEXOS_HTTPD) + os.pathsep + os.environ.get("PATH", "")
        env = clean_env(
            T=self.t, TOKEN="tok-" + uuid.uuid4().hex, PATH=path, CWD=scratch("daemon"),
            START_BLOCK=self.start, TOKEN_BLOCK=point_at(self.token, self.port),
            STOP_BLOCK=self.stop, CURL_HOME=curl_home(), START_TIMEOUT=str(START_TIMEOUT),
            PORT=str(self.port), PEXOS_LISTEN="127.0.0.1", PEXOS_POOL="0")
        try:
            p = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--mount-proc",
                                "bash", "-c", NAMESPACE_SCRIPT], env=env,
                               capture_output=True, timeout=START_TIMEOUT + 2 * BLOCK_TIMEOUT,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self.error = "the namespace script timed out"
            return
        if p.returncode != 0:
            self.error = f"unshare failed: exit {p.returncode}, {clip(p.stderr)}"
        elif read(os.path.join(self.t, "setup.err")):
            self.error = read(os.path.join(self.t, "setup.err")).strip()

    def file(self, name):
        return read(os.path.join(self.t, name))


def example_daemon_case(ed, part):
    def test(c):
        needs_root(c)
        ed.run()
        if ed.error:
            if not MUST_WORK and ("overlay" in ed.error or "unshare" in ed.error):
                c.skip(ed.error)
            c.problems.append(ed.error)
            return
        log = ed.file("daemon.log")
        if part == "start":
            listening = [line for line in log.splitlines() if '"port"' in line]
            if not c.expect(listening, f"{NOT_AS_WRITTEN}: no listening line; log: {clip(log)}"):
                return
            m = re.search(r'"workers":(\d+)', listening[0])
            want = re.search(r"--workers\s+(\d+)", ed.start)
            c.expect(f'"port":{ed.port}' in listening[0], f"not on PORT: {listening[0]}")
            if want:
                c.expect(m and m.group(1) == want.group(1), f"workers: {listening[0]}")
            c.expect(ed.file("notoken.out").strip() == "401",
                     f"without the token: {ed.file('notoken.out')!r}, want 401")
        elif part == "token":
            rc = ed.file("token.rc").strip()
            out = ed.file("token.out")
            if rc != "0" or not out.strip():
                c.problems.append(NOT_AS_WRITTEN)
                c.problems.append(f"block: {point_at(ed.token, ed.port)!r}")
                c.problems.append(f"exit status {rc}; stdout {clip(out)}; "
                                  f"stderr {clip(ed.file('token.err'))}")
                return
            p = subprocess.CompletedProcess([], 0, out.encode(), b"")
            check_output(c, ed.token, p)
        else:
            rc = ed.file("stop.rc").strip()
            c.expect(rc == "0", f"{NOT_AS_WRITTEN}: exit status {rc}; "
                     f"stderr {clip(ed.file('stop.err'))}")
            drc = ed.file("daemon.rc").strip()
            c.expect(drc == "0", f"the daemon's exit status: {drc!r}, want 0; "
                     f"log tail {clip(log[-1500:])}")

    return test


# ------------------------------------------------------------ libpexos(3)


def c_declarations(text):
    """Normalised declarations: whitespace collapsed around punctuation."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    decls = set()
    for d in re.split(r";", text):
        d = re.sub(r"\s+", " ", d).strip()
        d = re.sub(r"\s*([(){}\[\],*])\s*", r"\1", d)
        if d:
            decls.add(d)
    return decls


def header_api():
    with open(os.path.join(SOURCE, "lib", "include", "pexos.h"), encoding="utf-8") as f:
        text = f.read()
    options = re.findall(r'^ \*\s+"(\w+)"\s', text, re.M)
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"^\s*#.*$", " ", text, flags=re.M)
    funcs = re.findall(r"PEXOS_EXPORT\s+([^;]*?)\s*;", text, re.S)
    types = re.findall(r"(typedef\s+struct\s+\w+\s*(?:\{[^}]*\})?\s*\w+\s*;)", text, re.S)
    names = [re.search(r"(\w+)\s*\(", f).group(1) for f in funcs]
    return funcs, types, names, options


def synopsis_case(c):
    blocks, raw = page_sections("libpexos.3")
    syn = "".join(blocks.get("SYNOPSIS", []))
    c.expect("#include <pexos.h>" in syn, "the SYNOPSIS does not include <pexos.h>")
    have = c_declarations(syn)
    funcs, types, names, options = header_api()
    for decl in funcs + types:
        want = c_declarations(decl)
        c.expect(want <= have, f"the SYNOPSIS lacks, or differs from pexos.h in: "
                 f"{' '.join(decl.split())}")
    functions = raw.get("FUNCTIONS", "")
    for name in names:
        c.expect(re.search(rf"^\*{name}\*\(", functions, re.M),
                 f"FUNCTIONS has no entry for {name}()")
    table = raw.get("OPTIONS", "")
    c.expect(len(options) >= 15, f"found only {len(options)} options in pexos.h")
    for opt in options:
        c.expect(f"|  *{opt}*" in table, f"the OPTIONS table has no row for {opt!r}")
    for section in ("RETURN VALUE", "ERRORS", "THREAD SAFETY", "EXAMPLES"):
        c.expect(section in raw, f"no {section} section")


def example_program():
    blocks, _ = page_sections("libpexos.3")
    examples = blocks.get("EXAMPLES", [])
    program = next((b for b in examples if "int main(" in b), None)
    return program, examples


def embed_shown_case(c):
    program, _ = example_program()
    if not c.expect(program, "EXAMPLES has no C program"):
        return
    with open(os.path.join(SOURCE, "examples", "embed.c"), encoding="utf-8") as f:
        embed = f.read()
    if program.rstrip("\n") != embed.rstrip("\n"):
        a, b = program.splitlines(), embed.splitlines()
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        c.problems.append(f"the page's program differs from examples/embed.c at line "
                          f"{i + 1}: page {a[i] if i < len(a) else '<end>'!r}, file "
                          f"{b[i] if i < len(b) else '<end>'!r}")


def build_tree_pkgconfig(d):
    """libpexos.pc for the build tree: the source's include/, the build's
    library."""
    os.makedirs(d)
    with open(os.path.join(d, "libpexos.pc"), "w") as f:
        f.write(f"Name: libpexos\nDescription: libpexos, build tree\nVersion: 0\n"
                f"Cflags: -I{SOURCE}/lib/include\nLibs: -L{BUILD}/lib -lpexos\n")


def cc_shim(d):
    """A `cc` that adds the build's -fsanitize flags (none: the real cc)."""
    os.makedirs(d)
    extra = f"-fsanitize={SANITIZE}" if SANITIZE not in ("", "none") else ""
    with open(os.path.join(d, "cc"), "w") as f:
        f.write(f'#!/bin/sh\nexec /usr/bin/cc {extra} "$@"\n')
    os.chmod(os.path.join(d, "cc"), 0o755)


def embed_build_case(c):
    needs_root(c)
    program, examples = example_program()
    cmds = [(i, b) for i, b in enumerate(examples) if re.search(r"^cc ", b, re.M)]
    if not c.expect(program and cmds, "EXAMPLES has no program or no cc command"):
        return
    i, block = cmds[0]
    printed = examples[i + 1] if i + 1 < len(examples) else ""
    d = os.path.join(WORKDIR, "libpexos-example")
    os.makedirs(os.path.join(d, "examples"))
    with open(os.path.join(d, "examples", "embed.c"), "w") as f:
        f.write(program)
    shutil.copy(os.path.join(SOURCE, "examples", "hello.py"), os.path.join(d, "examples"))
    build_tree_pkgconfig(os.path.join(WORKDIR, "pkgconfig"))
    cc_shim(os.path.join(WORKDIR, "bin"))
    env = clean_env(PKG_CONFIG_PATH=os.path.join(WORKDIR, "pkgconfig"),
                    LD_LIBRARY_PATH=os.path.join(BUILD, "lib"),
                    PATH=os.path.join(WORKDIR, "bin") + os.pathsep + os.environ["PATH"])
    for var in ("CPATH", "C_INCLUDE_PATH", "LIBRARY_PATH"):
        env.pop(var, None)
    p = run_block(block, d, env)
    if p.returncode != 0:
        c.problems.append(NOT_AS_WRITTEN)
        report_block(c, block, p)
        return
    got = (p.stdout + p.stderr).decode("utf-8", "replace").splitlines()
    want = printed.strip().splitlines()
    c.expect(got == want, f"the page says it prints {want!r}, it printed {got!r}")


# ------------------------------------------------------------------ main


def register():
    cases = []
    for tool in ("jq", "curl", "unshare", "cc", "pkg-config"):
        if not shutil.which(tool):
            cases.append((f"the examples need {tool}",
                          lambda c, t=tool: c.problems.append(f"{t} is not installed")))
    blocks, _ = page_sections("pexos-run.1")
    run_blocks = blocks.get("EXAMPLES", [])
    if not run_blocks:
        cases.append(("pexos-run(1) has EXAMPLES", lambda c: c.problems.append("none")))
    for i, b in enumerate(run_blocks, 1):
        cases.append((f"pexos-run(1) example {i} runs as written: {first_line(b)}",
                      pexos_run_case(b)))

    blocks, _ = page_sections("pexos-httpd.8")
    httpd_blocks = blocks.get("EXAMPLES", [])
    if not PEXOS_HTTPD:
        cases.append(("pexos-httpd(8) examples # SKIP this build has no pexos-httpd", None))
        httpd_blocks = []
    elif not httpd_blocks:
        cases.append(("pexos-httpd(8) has EXAMPLES", lambda c: c.problems.append("none")))
    start = [b for b in httpd_blocks if b.lstrip().startswith("pexos-httpd")]
    stop = [b for b in httpd_blocks if "pidof pexos-httpd" in b]
    token = [b for b in httpd_blocks if "PEXOS_TOKEN" in b and b not in start]
    if start and stop and token:
        ed = ExampleDaemon(start[0], token[0], stop[0])
        for b, part in ((start[0], "start"), (token[0], "token"), (stop[0], "stop")):
            n = httpd_blocks.index(b) + 1
            cases.append((f"pexos-httpd(8) example {n} runs as written: {first_line(b)}",
                          example_daemon_case(ed, part)))
    elif httpd_blocks:
        cases.append(("pexos-httpd(8) has a start, a token and a stop example",
                      lambda c: c.problems.append("not all three were found")))
    for i, b in enumerate(httpd_blocks, 1):
        if b in start + stop + token:
            continue
        cases.append((f"pexos-httpd(8) example {i} runs (host:port substituted): "
                      f"{first_line(b)}", httpd_curl_case(b)))

    cases.append(("examples/pipeline.sh runs and prints what its comments say",
                  pipeline_case))
    cases.append(("libpexos(3) SYNOPSIS, FUNCTIONS and OPTIONS cover all of pexos.h",
                  synopsis_case))
    cases.append(("libpexos(3) shows examples/embed.c in full", embed_shown_case))
    cases.append(("libpexos(3) example builds against the build tree, runs as written "
                  "and prints what the page says", embed_build_case))
    return cases


def main():
    global BUILD, SOURCE, SANITIZE, PEXOS_RUN, PEXOS_HTTPD
    if len(sys.argv) < 5:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    BUILD, SOURCE = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    SANITIZE, PEXOS_RUN = sys.argv[3], os.path.abspath(sys.argv[4])
    PEXOS_HTTPD = os.path.abspath(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[5] else None
    failed = 0
    cases = register()
    try:
        for n, (description, fn) in enumerate(cases, 1):
            if fn is None:
                print(f"ok {n} - {description}")
                continue
            c = Check()
            try:
                fn(c)
            except Skip as s:
                print(f"ok {n} - {description} # SKIP {s}")
                continue
            except Exception as e:  # a harness bug or an unexpected shape
                c.problems.append(f"harness exception: {type(e).__name__}: {e}")
            if NOT_AS_WRITTEN in " ".join(c.problems) and NOT_AS_WRITTEN not in description:
                description = f"{description} -- {NOT_AS_WRITTEN}"
            if not tap_result(n, description, c.problems):
                failed += 1
    finally:
        rc = DAEMON.stop()
        shutil.rmtree(WORKDIR, ignore_errors=True)
    total = len(cases)
    if rc not in (None, 0):
        total += 1
        failed += 1
        print(f"not ok {total} - the test's pexos-httpd exited {rc} on SIGTERM, want 0")
    return tap_plan(total, failed)


if __name__ == "__main__":
    sys.exit(main())
