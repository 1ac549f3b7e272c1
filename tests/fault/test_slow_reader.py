#!/usr/bin/python3
"""Fault: clients that never read their answer.

usage: /usr/bin/python3 tests/fault/test_slow_reader.py PEXOS_HTTPD

Four clients, each with a small receive buffer, send a request whose
answer is 4 MiB and never read it. Meanwhile other clients must be served
at once; the workers must be free as soon as the runs are over (the answer
waits in the connection, not in a sandbox); after --conn-timeout (6 s) the
daemon must close those connections although nobody read them; its memory
must come back; nothing may leak."""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as F  # noqa: E402

CONN_TIMEOUT = 6
# Other requests meanwhile: well under --conn-timeout, so that one held up
# behind the stalled connections would show (a cold start on a busy
# 2-core machine, while the pool refills, takes up to 2.5 s).
OTHER_MAX_S = 3.5
BIG = "def main():\n    return 'x' * (4 << 20)\n"
CLIENTS = 4
# Memory the daemon may keep after the answers are gone: glibc keeps some
# of what the worker threads' arenas were given back (measured: 2 to 17
# MiB). Two rounds whose answers stayed would hold over 32 MiB.
RSS_SLACK_KB = 24 * 1024


def stalled_client(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    body = F.json.dumps({"script": BIG}).encode()
    s.sendall(b"POST /execute HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    return s


def established(port):
    """The daemon's connections on `port` still open on its side
    (ESTABLISHED in /proc/net/tcp, local port `port`)."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, st = line.split()[1], line.split()[3]
            if int(local.split(":")[1], 16) == port and st == "01":
                n += 1
    return n


def stall_round(tap, d, counts, before, n):
    """One round of stalled clients; returns the daemon's RSS with the
    answers held."""
    socks = [stalled_client(d.port) for _ in range(CLIENTS)]
    t0 = time.monotonic()
    idle = F.wait_for(lambda: F.health(d.port)["busy"] == 0
                      and F.health(d.port)["queue"] == 0, 20, 0.05)
    t_done = time.monotonic()
    held = established(d.port)
    tap.check(idle and held == CLIENTS, f"round {n}: the four big runs are "
              f"over and their workers free in {t_done - t0:.1f} s; their "
              f"answers wait in {held} open connections")
    rss_held = F.rss_kb(counts.pid)
    slow = []
    for i in range(5):
        k, r, secs = F.try_execute(d.port, F.HELLO)
        if k != "ok" or secs > OTHER_MAX_S:
            slow.append(f"{k} in {secs:.2f} s")
    tap.check(not slow, f"round {n}: five other requests meanwhile are "
              "answered at once", *slow)
    closed = F.wait_for(lambda: established(d.port) == 0, CONN_TIMEOUT + 10, 0.1)
    took = time.monotonic() - t_done
    tap.check(closed and took <= CONN_TIMEOUT + 3,
              f"round {n}: the daemon closes the unread connections after "
              f"--conn-timeout ({took:.1f} s after the last run ended, "
              f"timeout {CONN_TIMEOUT} s)")
    logged = F.wait_for(lambda: sum('"delivered":false' in x
                                    for x in d.snapshot()) >= CLIENTS * n,
                        5, 0.1)
    tap.check(logged, f"round {n}: each unread answer is logged with "
              '"delivered":false')
    got = 0
    for s in socks:
        s.settimeout(5)
        try:
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
        except OSError:
            pass
        s.close()
    tap.check(got < CLIENTS * (4 << 20), f"round {n}: the stalled clients "
              f"never got their whole answers ({got} bytes)")
    return rss_held


def body(tap, exe):
    # --pool-wait 0: a run finds the pool emptied by the big ones and goes
    # cold at once, instead of waiting for a refill.
    d = F.start(exe, "slow-reader", "--workers", "2", "--queue", "8",
                "--pool-wait", "0", "--conn-timeout", str(CONN_TIMEOUT))
    tap.check(F.settled(d.port, 60), "the warm pool fills")
    counts = F.Counts(d)
    F.execute(d.port, BIG)  # the allocator's first big answer, before measuring
    F.settled(d.port, 30)
    before = counts.take()
    rss = [F.rss_kb(counts.pid)]
    for n in (1, 2):
        held = stall_round(tap, d, counts, before, n)
        F.settled(d.port, 30)
        rss.append(F.rss_kb(counts.pid))
        tap.note(f"round {n}: daemon RSS {held} kB with the answers held, "
                 f"{rss[-1]} kB after")
    # The allocator keeps some of what it was given back (arenas of the
    # worker threads); a leak would grow with every round. Under ASan the
    # RSS holds its quarantine of freed memory: LeakSanitizer's verdict
    # when the daemon stops (faultlib.stop_cleanly) stands for it.
    if F.asan(d):
        tap.check(True, f"its memory: RSS {rss[0]} kB before, {rss[1]} kB, "
                  f"{rss[2]} kB after the rounds (ASan quarantine; "
                  "LeakSanitizer checks at exit)")
    else:
        tap.check(max(rss[1:]) <= rss[0] + RSS_SLACK_KB,
                  f"its memory comes back: RSS {rss[0]} kB before, {rss[1]} kB "
                  f"after one round, {rss[2]} kB after two (the answers of "
                  f"one round held {CLIENTS * 4} MiB and more)")
    F.check_no_leak(tap, counts, before, "after the stalled clients")
    k, r, _ = F.try_execute(d.port, BIG)
    tap.check(k == "ok" and len(r.body) > 4 << 20,
              "a client that reads gets the 4 MiB answer", r.describe() if r else k)


if __name__ == "__main__":
    sys.exit(F.main(body))
