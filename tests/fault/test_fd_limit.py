#!/usr/bin/python3
"""Fault: the daemon's descriptor limit lowered, then raised again.

usage: /usr/bin/python3 tests/fault/test_fd_limit.py PEXOS_HTTPD

With prlimit(1) on the running daemon (--pool 0: every run makes its
pipes and memory files, so the failures are where they are expected):

  1. RLIMIT_NOFILE a few above what it holds: a connection is accepted,
     but the run's pipes cannot be made: each request is answered at once
     with 500 SandboxError "pexos could not run the script (pipes): create
     pipes: Too many open files"; /health answers.
  2. below what it holds: accept(2) fails; the clients wait (nothing can
     answer them without a descriptor), the log says why, at most 10
     lines a second.
  3. raised again: the waiting clients are answered, new runs succeed,
     nothing leaked.

Only the soft limit is changed: raising a hard limit back needs
CAP_SYS_RESOURCE, and the soft one is what the kernel enforces."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as F  # noqa: E402

PIPES_ERROR = ("pexos could not run the script (pipes): create pipes: "
               "Too many open files")
ACCEPT_ERROR = "libmicrohttpd: Error accepting connection: Too many open files"


def nofile(pid):
    out = subprocess.run(["prlimit", "--nofile", "--raw", "--noheadings",
                          "--output=SOFT,HARD", f"--pid={pid}"],
                         capture_output=True, text=True, check=True).stdout
    return [int(x) for x in out.split()]


def set_soft(pid, soft, hard):
    subprocess.run(["prlimit", f"--nofile={soft}:{hard}", f"--pid={pid}"],
                   check=True)


def body(tap, exe):
    d = F.start(exe, "fd-limit", "--workers", "2", "--pool", "0")
    counts = F.Counts(d)
    F.execute(d.port, F.HELLO)
    F.settled(d.port, 30)
    before = counts.take()
    soft, hard = nofile(counts.pid)
    try:
        set_soft(counts.pid, before["fds"] + 4, hard)
        got = [F.try_execute(d.port, F.HELLO) for _ in range(3)]
        bad = [f"{k} in {s:.2f} s: {r.describe() if r else ''}"
               for k, r, s in got
               if not (r and r.status == 500 and k == "SandboxError"
                       and r.json().get("error") == PIPES_ERROR and s < 2)]
        tap.check(not bad, f"a limit of {before['fds'] + 4} (holding "
                  f"{before['fds']}): each run is answered at once with 500 "
                  f"SandboxError '{PIPES_ERROR}'", *bad)
        tap.check(F.health(d.port)["status"] == "healthy", "/health answers")

        since = len(d.snapshot())
        t_low = time.monotonic()
        set_soft(counts.pid, before["fds"] - 2, hard)
        waiting = [F.in_thread(F.try_execute, d.port, F.HELLO) for _ in range(2)]
        time.sleep(3)
        tap.check(all(t.is_alive() for t, _ in waiting),
                  f"a limit of {before['fds'] - 2}: new clients wait, "
                  "nobody can accept them")
        lines = d.snapshot()[since:]
        accept = [l for l in lines if ACCEPT_ERROR in l]
        tap.check(accept, f"the log says '{ACCEPT_ERROR}'", *lines[-5:])
        # 10 a clock second: the span touches at most int(span) + 2 of them.
        # Only libmicrohttpd's lines are limited: the log line of the last
        # request before (/health) may be read after 'since'.
        span = time.monotonic() - t_low
        mhd = [l for l in lines if '"libmicrohttpd: ' in l]
        tap.check(len(mhd) <= 10 * (int(span) + 2), f"at most 10 "
                  f"libmicrohttpd log lines a second ({len(mhd)} in "
                  f"{span:.1f} s)",
                  *[l for l in lines if l not in mhd][:3], *mhd[-3:])
        tap.check(any('"suppressed":' in l for l in accept),
                  "the lines left out are counted (\"suppressed\")", *lines[-3:])
    finally:
        set_soft(counts.pid, soft, hard)
    t0 = time.monotonic()
    for t, _ in waiting:
        t.join(30)
    took = time.monotonic() - t0
    kinds = [box.get("value", ("error",))[0] for _, box in waiting]
    tap.check(kinds == ["ok", "ok"] and took < 3, f"the limit raised, the "
              f"waiting clients are answered within {took:.2f} s: {kinds}")
    k, r, _ = F.try_execute(d.port, F.HELLO)
    tap.check(k == "ok", "new runs succeed", r.describe() if r else k)
    F.check_no_leak(tap, counts, before, "after the fault")


if __name__ == "__main__":
    sys.exit(F.main(body))
