#!/usr/bin/python3
"""Load shedding of pexos-httpd under 200 concurrent clients, speaking TAP.

usage: /usr/bin/python3 tests/http/test_shed.py PEXOS_HTTPD

Each case starts its own daemon on 127.0.0.1 and drives it with real
clients over loopback (pexos-httpd(8), LOAD):
  - 200 clients sending runs for 10 s, each waiting Retry-After when
    refused: every answer is the run's own or 503 Busy with Retry-After,
    a refusal comes at once, never after a timeout, no connection is
    refused or reset, and GET /health and GET /metrics, asked every 50 ms by
    a process of their own, each answer within 100 ms throughout;
  - 200 clients each sending a body of about 0.9 MiB at once to a daemon
    with --buffer-max 32: the daemon's resident memory grows by no more
    than the stated bound (--buffer-max + one answer per worker + 64 KiB
    per connection, plus a margin for the allocator), and the bodies
    beyond it are refused Busy;
  - with one worker, queued requests start in the order they arrived.

Standard library only: run it with Debian's /usr/bin/python3.
Exit: 0 all passed, 1 something failed.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Daemon, clip, request  # noqa: E402

EXE = None
CLIENTS = 200
# A refusal is "fast" when it comes within this of the request's body
# being sent: far below any timeout (the shortest, --conn-timeout, is
# 30 s), with room for 200 client threads sharing one interpreter.
BUSY_FAST_S = 1.0
# What a probe of /health or /metrics may take, the bound.
PROBE_MAX_S = 0.100

SLEEPER = "import time\ndef main():\n    time.sleep(0.3)\n    return 'slept'\n"

# The prober: a process of its own, so that the load's threads do not
# share its interpreter lock. Prints one JSON object at the end.
PROBER = r"""
import http.client, json, sys, time
port, until = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
worst = {"/health": 0.0, "/metrics": 0.0}
n, bad = 0, []
while time.monotonic() < until:
    for path in worst:
        t0 = time.monotonic()
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            c.close()
            if r.status != 200:
                bad.append(f"{path}: HTTP {r.status}")
        except Exception as e:
            bad.append(f"{path}: {type(e).__name__}: {e}")
        took = time.monotonic() - t0
        worst[path] = max(worst[path], took)
        n += 1
    time.sleep(0.05)
print(json.dumps({"worst": worst, "probes": n, "bad": bad[:5]}))
"""


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler:
    """The daemon's resident memory, every 0.1 s, in a thread."""

    def __init__(self, pid):
        self.pid, self.max_kb, self.stop = pid, rss_kb(pid), False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                self.max_kb = max(self.max_kb, rss_kb(self.pid))
            except OSError:
                return
            time.sleep(0.1)

    def done(self):
        self.stop = True
        self.t.join()
        return self.max_kb


def post(port, body, timeout):
    """One POST /execute on a new connection: (status, headers, body,
    seconds from the body sent to the answer)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("POST", "/execute", body=body,
                  headers={"Content-Type": "application/json"})
        sent = time.monotonic()
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data, \
            time.monotonic() - sent
    finally:
        c.close()


def judge(status, headers, data, want_result):
    """None when the answer is the run's own or a proper Busy, else why."""
    try:
        obj = json.loads(data)
    except ValueError:
        return f"HTTP {status}, not JSON: {clip(data)}"
    if status == 503:
        if obj.get("type") != "Busy":
            return f"503 of type {obj.get('type')}: {clip(data)}"
        if headers.get("retry-after") != "1":
            return f"503 Busy without Retry-After: 1 ({headers})"
        return None
    if status != 200 or obj.get("result") != want_result:
        return f"HTTP {status}: {clip(data)}"
    return None


def sanitized(exe):
    """Is `exe` built with AddressSanitizer? (Its allocator keeps freed
    memory in a quarantine and adds redzones and shadow memory: resident
    memory is not the daemon's own figure then.)"""
    with open(exe, "rb") as f:
        return b"__asan_init" in f.read()


def start(*args, env=None):
    return Daemon(EXE, "shed", args, env=env, start_timeout=60).start()


def case_storm(problems):
    d = start("--workers", "2", "--queue", "8")
    try:
        body = json.dumps({"script": SLEEPER, "timeout": 10})
        duration = 10.0
        prober = subprocess.Popen(
            ["/usr/bin/python3", "-c", PROBER, str(d.port), str(duration)],
            stdout=subprocess.PIPE, text=True)
        lock = threading.Lock()
        counts = {"ok": 0, "busy": 0}
        busy_times, errors = [], []
        end = time.monotonic() + duration

        def client():
            while time.monotonic() < end:
                try:
                    st, hd, data, took = post(d.port, body, timeout=30)
                except Exception as e:
                    with lock:
                        errors.append(f"{type(e).__name__}: {e}")
                    return
                why = judge(st, hd, data, "slept")
                with lock:
                    if why:
                        errors.append(why)
                    elif st == 503:
                        counts["busy"] += 1
                        busy_times.append(took)
                    else:
                        counts["ok"] += 1
                if st == 503:
                    time.sleep(float(hd.get("retry-after", "1")))

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 60)
        out, _ = prober.communicate(timeout=60)
        probe = json.loads(out)
        busy_times.sort()
        worst_busy = busy_times[-1] if busy_times else None
        p95 = busy_times[int(len(busy_times) * 0.95)] if busy_times else None
        print(f"#   {CLIENTS} clients, {duration:.0f} s: {counts['ok']} runs "
              f"answered, {counts['busy']} Busy (p95 {p95:.3f} s, max "
              f"{worst_busy:.3f} s after the body); /health worst "
              f"{probe['worst']['/health'] * 1000:.1f} ms, /metrics worst "
              f"{probe['worst']['/metrics'] * 1000:.1f} ms over "
              f"{probe['probes']} probes" if busy_times else "#   no Busy")
        if errors:
            problems.append(f"{len(errors)} bad answers, first: {errors[:3]}")
        if counts["busy"] == 0:
            problems.append("no request was refused Busy: the load was too "
                            "light to test shedding")
        if counts["ok"] < 20:
            problems.append(f"only {counts['ok']} runs answered in {duration} s")
        if worst_busy is not None and worst_busy > BUSY_FAST_S:
            problems.append(f"a Busy answer took {worst_busy:.2f} s after its "
                            f"body (bound {BUSY_FAST_S} s)")
        if probe["bad"]:
            problems.append(f"probes failed: {probe['bad']}")
        for path, worst in probe["worst"].items():
            if worst > PROBE_MAX_S:
                problems.append(f"GET {path} took {worst * 1000:.0f} ms "
                                f"(bound {PROBE_MAX_S * 1000:.0f} ms)")
    finally:
        d.stop()


def case_memory(problems):
    budget_mib, workers = 32, 2
    asan = sanitized(EXE)
    # Under ASan: no quarantine (freed bodies would stay resident), and
    # half as much again for its redzones and shadow memory.
    env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
           ":quarantine_size_mb=0"} if asan else None
    d = start("--workers", str(workers), "--queue", "8",
              "--buffer-max", str(budget_mib), env=env)
    try:
        # Settle: the pool full, the allocator warm.
        for _ in range(3):
            request(d.port, "GET", "/health")
        time.sleep(2)
        rest = rss_kb(d.proc.pid)
        sampler = Sampler(d.proc.pid)
        stdin = "x" * (900 * 1024)
        body = json.dumps({"script": "def main():\n    return len(input())\n",
                           "stdin": stdin + "\n"}).encode()
        results, lock = [], threading.Lock()
        gate = threading.Barrier(CLIENTS)

        def client():
            gate.wait()
            try:
                st, hd, data, _ = post(d.port, body, timeout=60)
                why = judge(st, hd, data, len(stdin))
                r = (st, why)
            except Exception as e:
                r = (None, f"{type(e).__name__}: {e}")
            with lock:
                results.append(r)

        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        peak = sampler.done()
        grown_mib = (peak - rest) / 1024
        # The stated bound (pexos-httpd(8), LOAD): --buffer-max, one answer
        # per worker (small here), 64 KiB per connection; plus 16 MiB for
        # the allocator's slack and the client-side bursts of TCP buffers.
        bound = budget_mib + workers * 1 + CLIENTS * 64 / 1024 + 16
        if asan:
            bound *= 1.5
        bad = [w for _, w in results if w]
        busy = sum(1 for st, w in results if st == 503 and not w)
        ok = sum(1 for st, w in results if st == 200 and not w)
        print(f"#   {CLIENTS} bodies of 0.9 MiB at once, --buffer-max "
              f"{budget_mib}: {ok} ran, {busy} Busy; resident memory "
              f"{rest / 1024:.1f} -> peak {peak / 1024:.1f} MiB "
              f"(+{grown_mib:.1f}, bound +{bound:.1f}"
              f"{', an ASan build' if asan else ''})")
        if bad:
            problems.append(f"{len(bad)} bad answers, first: {bad[:3]}")
        if len(results) != CLIENTS:
            problems.append(f"{CLIENTS - len(results)} clients got no answer")
        if busy == 0:
            problems.append("no body was refused: the budget was not reached")
        if ok == 0:
            problems.append("no request ran")
        if grown_mib > bound:
            problems.append(f"resident memory grew by {grown_mib:.1f} MiB, "
                            f"over the bound of {bound:.1f} MiB")
    finally:
        d.stop()


def case_fifo(problems):
    d = start("--workers", "1", "--queue", "6")
    try:
        blocker = json.dumps({"script": "import time\ndef main():\n"
                              "    time.sleep(2)\n    return 'blocker'\n"})
        t = threading.Thread(target=post, args=(d.port, blocker, 60))
        t.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if request(d.port, "GET", "/health").json().get("busy") == 1:
                break
            time.sleep(0.02)
        stamped = "import time\ndef main():\n    return time.time()\n"
        starts, threads = {}, []

        def client(i):
            st, hd, data, _ = post(d.port, json.dumps({"script": stamped}), 60)
            starts[i] = json.loads(data).get("result") if st == 200 else None

        for i in range(6):
            th = threading.Thread(target=client, args=(i,))
            th.start()
            threads.append(th)
            time.sleep(0.1)  # each body in well after the one before
        for th in threads + [t]:
            th.join(timeout=60)
        order = sorted(starts, key=lambda i: starts[i] or float("inf"))
        print(f"#   6 queued behind a 2 s run started in the order {order}")
        if any(starts.get(i) is None for i in range(6)):
            problems.append(f"not every queued request ran: {starts}")
        elif order != list(range(6)):
            problems.append(f"queued requests started in the order {order}, "
                            "not the order they arrived")
    finally:
        d.stop()


def main():
    global EXE
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} PEXOS_HTTPD", file=sys.stderr)
        return 2
    EXE = os.path.abspath(sys.argv[1])
    cases = [
        (f"{CLIENTS} clients: Busy at once with Retry-After, nothing refused "
         "or reset, /health and /metrics within 100 ms throughout", case_storm),
        (f"{CLIENTS} large bodies at once: memory within --buffer-max's "
         "stated bound, the rest Busy", case_memory),
        ("queued requests start first in, first out", case_fifo),
    ]
    failed = 0
    for n, (what, fn) in enumerate(cases, 1):
        problems = []
        try:
            fn(problems)
        except Exception as e:
            problems.append(f"{type(e).__name__}: {e}")
        print(f"{'not ok' if problems else 'ok'} {n} - {what}")
        for p in problems:
            print(f"#   {p}")
        failed += bool(problems)
        sys.stdout.flush()
    print(f"1..{len(cases)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
