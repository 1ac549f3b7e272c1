#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The error paths of pexos's MCP server, with raw JSON-RPC bytes: on the
stdio transport of pexos-run --mcp and on pexos-httpd's POST /mcp.

    test_raw.py PEXOS_RUN PEXOS_HTTPD

Prints TAP."""
import json
import os
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Daemon, case_list, in_thread, request, run_tap  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from faultlib import descendants, wait_for  # noqa: E402  (from the host's /proc)

PEXOS_RUN, PEXOS_HTTPD = sys.argv[1:3]
HELLO = 'def main():\n    return {"message": "Hello, World!"}\n'
CASES, case = case_list()


def rpc(id_, method, params=None):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m).encode()


class Stdio:
    """pexos-run --mcp, fed raw lines; every line it prints is kept."""

    def __init__(self, *args, jobs=2):
        self.p = subprocess.Popen([PEXOS_RUN, "--mcp", "-j", str(jobs), "--pool", "0", *args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.buf = b""
        self.lines = []

    def send(self, data):
        self.p.stdin.write(data + b"\n")
        self.p.stdin.flush()

    def read(self, timeout=20):
        """The next line, parsed; None on timeout or EOF."""
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                return None
            chunk = os.read(self.p.stdout.fileno(), 1 << 20)
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        self.lines.append(line)
        return json.loads(line)

    def close(self, timeout=30):
        self.p.stdin.close()
        rest = self.p.stdout.read()
        self.lines += [x for x in (self.buf + rest).split(b"\n") if x]
        try:
            code = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            code = None
        return code, self.p.stderr.read()


def err_code(m):
    return (m or {}).get("error", {}).get("code")


SCRIPT_UID = 2000000001  # host uid of a run's uid 1000 (pexos's default uid_base)


def script_procs(root):
    """Pids of root's descendants that run as a script's host uid."""
    found = []
    for pid in descendants(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                uid = next(int(x.split()[1]) for x in f if x.startswith("Uid:"))
        except (OSError, StopIteration, ValueError):
            continue
        if uid == SCRIPT_UID:
            found.append(pid)
    return found


@case("stdio: every malformed message gets the JSON-RPC error the protocol names, and the server goes on")
def _(c):
    s = Stdio()
    table = [
        (b"{not json", -32700, None, "not JSON"),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","id":2}', -32700, None, "a duplicate key"),
        (b'{"jsonrpc":"2.0","id":1,"method":"p\xffing"}', -32700, None, "invalid UTF-8"),
        (b"[" + rpc(3, "ping") + b"]", -32600, None, "a batch"),
        (b"42", -32600, None, "a number"),
        (b'{"jsonrpc":"2.0","id":4}', -32600, 4, "no method"),
        (b'{"jsonrpc":"1.0","id":5,"method":"ping"}', -32600, 5, "jsonrpc 1.0"),
        (b'{"jsonrpc":"2.0","id":[6],"method":"ping"}', -32600, None, "an array as id"),
        (rpc(7, "prompts/list"), -32601, 7, "an unknown method"),
        (rpc(8, "tools/call", {"name": "bash", "arguments": {"script": HELLO}}), -32602, 8,
         "an unknown tool"),
        (rpc(9, "tools/call", {"name": "run_python", "arguments": {"script": HELLO, "x": 1}}),
         -32602, 9, "an unknown argument"),
        (rpc(10, "tools/call", {"name": "run_python", "arguments": "print(1)"}), -32602, 10,
         "arguments as a string"),
        (rpc(11, "tools/call", {"name": "run_python", "arguments": {"script": HELLO, "timeout": -1}}),
         -32602, 11, "a negative timeout"),
    ]
    for data, code, id_, what in table:
        s.send(data)
        m = s.read()
        c.expect(err_code(m) == code and m.get("id") == id_ and m.get("jsonrpc") == "2.0",
                 f"{what}: want error {code} with id {id_}, got {m}")
    s.send(rpc(12, "ping"))
    c.expect((s.read() or {}).get("id") == 12, "no ping answer after the errors")
    code, err = s.close()
    c.expect(code == 0, f"exit {code} at EOF; stderr {err[-300:]!r}")


@case("stdio: notifications, a client's responses and blank lines get no answer")
def _(c):
    s = Stdio()
    s.send(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    s.send(b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}')
    s.send(b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":{"a":1}}}')
    s.send(b'{"jsonrpc":"2.0","method":"notifications/cancelled"}')
    s.send(b'{"jsonrpc":"2.0","id":99,"result":{}}')
    s.send(b"")
    s.send(b"   ")
    s.send(rpc("after", "ping"))
    m = s.read()
    c.expect(m and m.get("id") == "after" and m.get("result") == {},
             f"the first answer is not the ping's: {m}")
    code, _ = s.close()
    c.expect(code == 0 and len(s.lines) == 1, f"exit {code}, lines {s.lines}")


@case("stdio: a line over 64 MiB is read to its end, refused, and the next message is served")
def _(c):
    s = Stdio()
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + b"a" * (65 << 20) + b'"}}'
    s.send(big)
    m = s.read(timeout=60)
    c.expect(err_code(m) == -32600 and m.get("id") is None and "64 MiB" in m["error"]["message"],
             f"the huge line: {str(m)[:300]}")
    s.send(rpc(2, "tools/call", {"name": "run_python", "arguments": {"script": HELLO}}))
    m = s.read(timeout=60)
    c.expect(m and m.get("id") == 2 and
             m["result"]["structuredContent"]["result"] == {"message": "Hello, World!"},
             f"hello after it: {str(m)[:300]}")
    s.close()


@case("stdio: at EOF the calls in flight are answered before exit 0; stdout has protocol lines only")
def _(c):
    s = Stdio()
    slow = "import time\ndef main():\n    print('noise on stdout')\n    time.sleep(1)\n    return 'late'\n"
    for i in range(3):
        s.send(rpc(i, "tools/call", {"name": "run_python", "arguments": {"script": slow}}))
    t0 = time.monotonic()
    code, err = s.close(timeout=60)
    answers = [json.loads(x) for x in s.lines]
    c.expect(code == 0, f"exit {code}; stderr {err[-300:]!r}")
    c.expect(sorted(a.get("id") for a in answers) == [0, 1, 2] and
             all(a["result"]["structuredContent"]["result"] == "late" for a in answers),
             f"answers {s.lines}")
    c.expect(all(a.get("jsonrpc") == "2.0" for a in answers), "a line that is not JSON-RPC")
    c.expect(time.monotonic() - t0 >= 1, "EOF did not wait for the runs")


@case("stdio: notifications/cancelled ends the run it names (its sandbox killed, no answer), "
      "drops a waiting call, and the next call runs at once")
def _(c):
    # One thread (-j 1) and a run that would last 30 s (--timeout 40): the
    # call after it is answered promptly only if the cancel ended that run.
    s = Stdio("--timeout", "40", jobs=1)
    slow = "import time\ndef main():\n    time.sleep(30)\n    return 'finished'\n"
    call = lambda i, script: rpc(i, "tools/call", {"name": "run_python",
                                                   "arguments": {"script": script}})
    s.send(call("slow", slow))
    started = wait_for(lambda: script_procs(s.p.pid), 30)
    c.expect(started, "the slow call's script never ran on the host as uid "
             f"{SCRIPT_UID}")
    s.send(call("queued", HELLO))  # waits: the only thread is busy
    s.send(b'{"jsonrpc":"2.0","method":"notifications/cancelled",'
           b'"params":{"requestId":"queued","reason":"changed my mind"}}')
    t0 = time.monotonic()
    s.send(b'{"jsonrpc":"2.0","method":"notifications/cancelled",'
           b'"params":{"requestId":"slow","reason":"too slow"}}')
    gone = wait_for(lambda: not script_procs(s.p.pid), 5)
    took = time.monotonic() - t0
    c.expect(started and gone, f"the slow run's script still runs {took:.1f} s after the "
             f"cancel: {script_procs(s.p.pid)}")
    s.send(rpc("ping", "ping"))
    s.send(call("after", HELLO))
    got = [s.read(timeout=10), s.read(timeout=10)]
    c.expect([(m or {}).get("id") for m in got] == ["ping", "after"] and
             got[1]["result"]["structuredContent"]["result"] == {"message": "Hello, World!"},
             f"want the ping's then the next call's answer, got {got}")
    c.expect(time.monotonic() - t0 < 10, "the next call waited for the cancelled run")
    code, err = s.close(timeout=30)
    ids = [json.loads(x).get("id") for x in s.lines]
    c.expect("slow" not in ids and "queued" not in ids,
             f"a cancelled call was answered: {s.lines}")
    c.expect(code == 0, f"exit {code}; stderr {err[-300:]!r}")


@case("stdio: --mcp refuses scripts and single-run options (exit 2)")
def _(c):
    for extra in (["a.py"], ["-r"], ["--json", "-"], ["--junit", "/dev/null"]):
        p = subprocess.run([PEXOS_RUN, "--mcp", *extra], input=b"", capture_output=True, timeout=30)
        c.expect(p.returncode == 2 and p.stdout == b"",
                 f"--mcp {' '.join(extra)}: exit {p.returncode}, stdout {p.stdout[:100]!r}")


def post(d, body, headers=None):
    h = {"Content-Type": "application/json", "Authorization": "Bearer raw-token"}
    h.update(headers or {})
    return request(d.port, "POST", "/mcp", body=body, headers=h)


@case("http: /mcp's error paths: the protocol's errors, and the daemon's own refusals")
def _(c):
    d = Daemon(PEXOS_HTTPD, "raw", args=["--workers", "1", "--pool", "0"],
               env={"PEXOS_TOKEN": "raw-token"})
    d.start()
    try:
        for body, status, code, what in [
            (b"{not json", 400, -32700, "not JSON"),
            (b"[" + rpc(1, "ping") + b"]", 400, -32600, "a batch"),
            (b'{"jsonrpc":"2.0","id":1}', 400, -32600, "no method"),
            (rpc(2, "resources/read"), 200, -32601, "an unknown method"),
            (rpc(3, "tools/call", {"name": "run_python", "arguments": {}}), 200, -32602, "no script"),
        ]:
            r = post(d, body)
            j = r.json() if r.body else {}
            c.expect(r.status == status and err_code(j) == code and
                     r.headers.get("content-type", "").startswith("application/json"),
                     f"{what}: want {status} and {code}; {r.describe()}")
        r = post(d, rpc(4, "ping"), {"Authorization": "Bearer wrong"})
        c.expect(r.status == 401 and "www-authenticate" in r.headers, f"wrong token: {r.describe()}")
        r = post(d, rpc(5, "ping"), {"Content-Type": "text/plain"})
        c.expect(r.status == 415, f"text/plain: {r.describe()}")
        r = request(d.port, "DELETE", "/mcp", headers={"Authorization": "Bearer raw-token"})
        c.expect(r.status == 405 and r.headers.get("allow") == "POST", f"DELETE: {r.describe()}")
        r = post(d, rpc(6, "ping"), {"MCP-Protocol-Version": "2024-01-01"})
        c.expect(r.status == 400, f"an unknown MCP-Protocol-Version: {r.describe()}")
        r = post(d, rpc(7, "ping"), {"MCP-Protocol-Version": "2025-06-18",
                                     "Mcp-Session-Id": "made-up"})
        c.expect(r.status == 200 and r.json().get("result") == {},
                 f"ping with our version and a session id we never issued: {r.describe()}")
        r = post(d, rpc(8, "tools/call", {"name": "run_python", "arguments": {"script": HELLO}}))
        c.expect(r.status == 200 and r.json()["result"]["isError"] is False and
                 "queue;dur=" in r.headers.get("server-timing", ""),
                 f"a tool call: {r.describe()}")
        m = request(d.port, "GET", "/metrics").body.decode()
        c.expect('pexos_requests_total{endpoint="mcp",outcome="ok"} 1' in m,
                 "the tool call is not counted under endpoint=\"mcp\"")
        c.expect('pexos_requests_total{endpoint="execute",outcome="ok"} 0' in m,
                 "an MCP call counted as /execute")
        c.expect('pexos_requests_total{endpoint="mcp",outcome="InvalidRequest"}' in m,
                 "protocol errors not counted")
    finally:
        d.stop()


@case("http: initialize gives a session id; a notifications/cancelled of that session ends "
      "its call (running or queued) with 202 and no JSON-RPC answer; another session's does not")
def _(c):
    # One worker and runs that would last 30 s (--timeout 40): the calls
    # end in seconds only if the cancels end them.
    d = Daemon(PEXOS_HTTPD, "cancel", args=["--workers", "1", "--pool", "0", "--timeout", "40"],
               env={"PEXOS_TOKEN": "raw-token"})
    d.start()
    try:
        init = rpc(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                     "clientInfo": {"name": "raw", "version": "1"}})
        r1, r2 = post(d, init), post(d, init)
        sid = r1.headers.get("mcp-session-id", "")
        c.expect(r1.status == 200 and len(sid) == 32 and all(ch in "0123456789abcdef" for ch in sid),
                 f"initialize: want a session id of 32 hex digits; {r1.describe()}")
        c.expect(r2.headers.get("mcp-session-id") not in ("", None, sid),
                 f"a second initialize got the same session id {sid}")
        r = post(d, rpc(1, "ping"), {"Mcp-Session-Id": sid})
        c.expect(r.status == 200 and "mcp-session-id" not in r.headers,
                 f"ping: a session id only comes with initialize's answer; {r.describe()}")
        slow = "import time\ndef main():\n    time.sleep(30)\n    return 'finished'\n"
        tool = lambda i: rpc(i, "tools/call", {"name": "run_python", "arguments": {"script": slow}})
        cancel = lambda i, sess: post(d, json.dumps({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": i, "reason": "test"}}).encode(),
            {"Mcp-Session-Id": sess} if sess else {})
        t1, box1 = in_thread(post, d, tool("a"), {"Mcp-Session-Id": sid})
        running = wait_for(lambda: script_procs(d.proc.pid), 30)
        c.expect(running, "call a's script never ran")
        queue = lambda: json.loads(request(d.port, "GET", "/health").body)["queue"]
        t2, box2 = in_thread(post, d, tool("b"), {"Mcp-Session-Id": sid})
        c.expect(wait_for(lambda: queue() == 1, 10), "call b did not wait in the queue")
        t3, box3 = in_thread(post, d, tool("b2"), {"Mcp-Session-Id": sid})
        c.expect(wait_for(lambda: queue() == 2, 10), "call b2 did not wait in the queue")
        for sess, what in ((r2.headers.get("mcp-session-id"), "another session's"), (None, "a sessionless")):
            r = cancel("a", sess)
            c.expect(r.status == 202 and r.body == b"", f"{what} cancel: {r.describe()}")
        time.sleep(0.5)
        c.expect(t1.is_alive() and script_procs(d.proc.pid),
                 "another session's (or a sessionless) cancel ended call a")
        # b2 (the queue's last) then b (its first), cancelled while
        # queued, leave the queue and are answered at once, while a still
        # holds the only worker.
        for name, th, left in (("b2", t3, 1), ("b", t2, 0)):
            r = cancel(name, sid)
            c.expect(r.status == 202, f"cancel {name}: {r.describe()}")
            th.join(5)
            c.expect(not th.is_alive() and t1.is_alive(),
                     f"queued call {name}, cancelled, was not answered while call a ran")
            c.expect(queue() == left,
                     f"queued call {name}, cancelled, still holds its place in the queue")
        rb2 = box3.get("value")
        c.expect(rb2 is not None and rb2.status == 202 and rb2.body == b"",
                 f"queued call b2, cancelled: want 202 with nothing; {rb2.describe() if rb2 else box3}")
        t0 = time.monotonic()
        r = cancel("a", sid)
        gone = wait_for(lambda: not script_procs(d.proc.pid), 5)
        t1.join(10)
        t2.join(10)
        took = time.monotonic() - t0
        ra, rb = box1.get("value"), box2.get("value")
        c.expect(ra is not None and ra.status == 202 and ra.body == b"",
                 f"running call a, cancelled: want 202 with nothing; {ra.describe() if ra else box1}")
        c.expect(rb is not None and rb.status == 202 and rb.body == b"",
                 f"queued call b, cancelled: want 202 with nothing; {rb.describe() if rb else box2}")
        c.expect(gone and took < 5, f"calls a and b took {took:.1f} s to end after a's cancel "
                 f"(scripts left: {script_procs(d.proc.pid)})")
        r = post(d, rpc("c", "tools/call", {"name": "run_python", "arguments": {"script": HELLO}}),
                 {"Mcp-Session-Id": sid})
        c.expect(r.status == 200 and r.json()["result"]["structuredContent"]["result"] ==
                 {"message": "Hello, World!"} and r.elapsed < 10,
                 f"the next call: {r.describe()}")
        m = request(d.port, "GET", "/metrics").body.decode()
        c.expect('pexos_requests_total{endpoint="mcp",outcome="Cancelled"} 3' in m,
                 "the three cancelled calls are not counted as Cancelled")
        # Under ASan, LeakSanitizer judges the daemon at exit: a cancel's
        # pipe or call left behind makes the status non-zero.
        d.stop()
        bad = [x for x in d.snapshot() if "Sanitizer" in x or "runtime error:" in x]
        c.expect(d.proc.returncode == 0 and not bad,
                 f"the daemon's exit on SIGTERM: status {d.proc.returncode}, {bad[:5]}")
    finally:
        d.stop()


@case("http: without a token, a page of another origin is refused (DNS rebinding), a local one served")
def _(c):
    d = Daemon(PEXOS_HTTPD, "origin", args=["--workers", "1", "--pool", "0"])
    d.start()
    try:
        h = {"Content-Type": "application/json"}
        r = request(d.port, "POST", "/mcp", body=rpc(1, "ping"),
                    headers={**h, "Origin": "http://attacker.example"})
        c.expect(r.status == 403, f"a foreign Origin: {r.describe()}")
        r = request(d.port, "POST", "/mcp", body=rpc(1, "ping"),
                    headers={**h, "Origin": f"http://localhost:{d.port}"})
        c.expect(r.status == 200, f"a local Origin: {r.describe()}")
        r = request(d.port, "POST", "/mcp", body=rpc(1, "ping"), headers=h)
        c.expect(r.status == 200, f"no Origin: {r.describe()}")
    finally:
        d.stop()


if __name__ == "__main__":
    sys.exit(run_tap(CASES))
