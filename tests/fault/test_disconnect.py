#!/usr/bin/python3
"""Fault: clients that disconnect mid-run.

usage: /usr/bin/python3 tests/fault/test_disconnect.py PEXOS_HTTPD

A client sends a run that would take 20 s and closes its socket after 1 s:
the run must be cancelled (its sandbox's processes gone within about a
second, its warm slot freed and refilled), the daemon must log it and count
it in /metrics (outcome "Cancelled", code 499); one that only shuts down
its sending side reads that answer. A request queued behind
busy workers whose client leaves never runs. Bytes a client sends ahead
(a pipelined request) cancel nothing. Nothing leaks."""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as F  # noqa: E402

# How long after the close the run's processes may live on: the watch
# polls every 100 ms, then the kill and the reap.
GONE_WITHIN = 1.5


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12])
    except (OSError, IndexError, ValueError):
        return -1


def spinning(dpid):
    """The descendant of the daemon burning CPU (the loop), or None."""
    pids = F.descendants(dpid)
    t0 = {p: cpu_ticks(p) for p in pids}
    time.sleep(0.4)
    best = max(pids, key=lambda p: cpu_ticks(p) - t0[p], default=None)
    if best is None or cpu_ticks(best) - t0[best] < 10:
        return None
    return best


def read_until(s, marker, timeout=20):
    """What the socket gives until `marker` is in it, EOF or `timeout`;
    closes it."""
    s.settimeout(timeout)
    got = b""
    try:
        while marker not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    finally:
        s.close()
    return got


def cancelled_count(port):
    m = F.metrics(port)
    return (m.get('pexos_requests_total{endpoint="execute",outcome="Cancelled"}', 0),
            m.get('pexos_http_responses_total{code="499"}', 0))


def body(tap, exe):
    d = F.start(exe, "disconnect", "--workers", "2", "--queue", "4")
    tap.check(F.settled(d.port, 60), "the warm pool fills")
    counts = F.Counts(d)
    before = counts.take()
    m0 = cancelled_count(d.port)
    size = F.health(d.port)["pool"]["size"]
    loop = json.dumps({"script": F.LOOP, "timeout": 20})

    # A running warm run whose client goes away.
    s = F.raw_request(d.port, loop)
    pid = F.wait_for(lambda: spinning(counts.pid), 5, 0.1)
    if not tap.check(pid, "the 20 s loop runs in a sandbox below the daemon"):
        return
    time.sleep(max(0, 1.0 - 0.4))
    s.close()
    t0 = time.monotonic()
    gone = F.wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 5, 0.02)
    took = time.monotonic() - t0
    tap.check(gone and took <= GONE_WITHIN,
              f"its sandbox is killed within {GONE_WITHIN} s of the close "
              f"(took {took:.2f} s)")
    tap.check(F.wait_for(lambda: F.health(d.port)["busy"] == 0, 2),
              "its worker is free again")
    tap.check(F.wait_for(lambda: F.health(d.port)["pool"]["ready"] == size, 20, 0.1),
              f"the warm slots come back to {size} ready")
    line = d.wait_line(lambda l: '"POST /execute 499 Cancelled"' in l, 5)
    tap.check(line and '"outcome":"Cancelled"' in line,
              "the daemon logs it: POST /execute 499 Cancelled", F.clip(d.stderr()[-1500:]))
    m1 = cancelled_count(d.port)
    tap.check(m1 == (m0[0] + 1, m0[1] + 1),
              "/metrics counts it: pexos_requests_total{endpoint=\"execute\",outcome=\"Cancelled\"} "
              "and pexos_http_responses_total{code=\"499\"} up by 1",
              f"before {m0}, after {m1}")

    # Two runs hold both workers; a third waits in the queue and its client
    # leaves: it never starts (no third loop spins), and is counted too.
    hits0 = F.health(d.port)["pool"]["hits"]
    held = [F.raw_request(d.port, loop) for _ in range(2)]
    F.wait_for(lambda: F.health(d.port)["busy"] == 2, 5)
    q = F.raw_request(d.port, loop)
    tap.check(F.wait_for(lambda: F.health(d.port)["queue"] == 1, 5),
              "a third run waits in the queue")
    q.close()
    time.sleep(0.3)
    for h in held:
        h.close()
    tap.check(F.wait_for(lambda: F.health(d.port)["busy"] == 0
                         and F.health(d.port)["queue"] == 0, 3),
              "the two running and the queued run end at once")
    m2 = cancelled_count(d.port)
    tap.check(m2 == (m1[0] + 3, m1[1] + 3),
              "all three are counted as Cancelled", f"before {m1}, after {m2}")
    hits = F.health(d.port)["pool"]["hits"]
    tap.check(hits == hits0 + 2, "the queued run never took a sandbox (the "
              f"pool's hits went from {hits0} to {hits}: the two running ones)")

    # A client that only shuts down its sending side still reads the
    # answer: 499 Cancelled.
    s = F.raw_request(d.port, loop)
    time.sleep(1)
    s.shutdown(socket.SHUT_WR)
    t0 = time.monotonic()
    got = read_until(s, b"Cancelled")
    took = time.monotonic() - t0
    tap.check(got.startswith(b"HTTP/1.1 499 ") and b'"type":"Cancelled"' in got
              and took <= GONE_WITHIN,
              f"a client that shuts down its sending side is answered 499 "
              f"Cancelled in {took:.2f} s", F.clip(got))
    m3 = cancelled_count(d.port)
    tap.check(m3 == (m2[0] + 1, m2[1] + 1), "it is counted as Cancelled",
              f"before {m2}, after {m3}")
    tap.check(F.wait_for(lambda: F.health(d.port)["busy"] == 0, 3), "its worker is free")

    # Pipelined bytes (the start of a next request) cancel nothing.
    s = F.raw_request(d.port, json.dumps({"script": F.HELLO}))
    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    got = read_until(s, b'"Hello, World!"')
    tap.check(b"200 OK" in got and b'"Hello, World!"' in got,
              "a client that pipelines bytes after its request still gets "
              "its answer", F.clip(got))

    F.check_no_leak(tap, counts, before, "after the disconnects")
    r = F.execute(d.port, F.HELLO)
    tap.check(F.kind(r) == "ok", "the daemon still answers", r.describe())


if __name__ == "__main__":
    sys.exit(F.main(body))
