#!/usr/bin/python3
"""Fault: the daemon stopped (SIGSTOP) for 5 s, then continued.

usage: /usr/bin/python3 tests/fault/test_sigstop.py PEXOS_HTTPD

Before the stop a run that sleeps 2 s and a loop with a 3 s timeout are in
flight; while the daemon is stopped three more clients connect and send
hello. After SIGCONT every one of them must be answered within a few
seconds, each correctly (the loop's deadline passed during the stop: it is
a Timeout), /health must answer, and nothing may leak."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as F  # noqa: E402

STOP_S = 5  # longer than the loop's 3 s timeout
# After SIGCONT: the daemon's threads run again, the loop is killed at its
# passed deadline, the queued hellos run on two workers.
RESUME_WITHIN = 5.0
SLEEP2 = "import time\n\ndef main():\n    time.sleep(2)\n    return 'slept'\n"


def body(tap, exe):
    d = F.start(exe, "sigstop", "--workers", "2", "--queue", "8")
    tap.check(F.settled(d.port, 60), "the warm pool fills")
    counts = F.Counts(d)
    before = counts.take()
    calls = [F.in_thread(F.try_execute, d.port, SLEEP2),
             F.in_thread(F.try_execute, d.port, F.LOOP, timeout=3)]
    F.wait_for(lambda: F.health(d.port)["busy"] == 2, 5)
    d.signal(signal.SIGSTOP)
    t_stop = time.monotonic()
    try:
        time.sleep(0.5)
        calls += [F.in_thread(F.try_execute, d.port, F.HELLO) for _ in range(3)]
        time.sleep(STOP_S - 0.5)
        waiting = sum(1 for t, _ in calls if t.is_alive())
    finally:
        d.signal(signal.SIGCONT)
    t_cont = time.monotonic()
    tap.check(waiting == 5, f"while stopped, no client is answered ({waiting} of 5 wait)")
    for t, _ in calls:
        t.join(RESUME_WITHIN + 30)
    done = time.monotonic() - t_cont
    got = [box.get("value", (f"error {box.get('error')}", None, 0)) for _, box in calls]
    kinds = [k for k, _, _ in got]
    tap.note(f"stopped {t_cont - t_stop:.1f} s; every answer {done:.2f} s after "
             f"SIGCONT; kinds {kinds}")
    tap.check(done <= RESUME_WITHIN, f"all five are answered within "
              f"{RESUME_WITHIN} s of SIGCONT ({done:.2f} s)")
    tap.check(kinds == ["ok", "Timeout", "ok", "ok", "ok"],
              "each answer is right: the sleep's result, the loop's Timeout "
              "(its deadline passed meanwhile), three hellos",
              *[r.describe() for k, r, _ in got if r is not None and k != "ok"])
    t0 = time.monotonic()
    h = F.health(d.port)
    tap.check(h["status"] == "healthy" and time.monotonic() - t0 < 1,
              "/health answers at once")
    F.check_no_leak(tap, counts, before, "after the stop")


if __name__ == "__main__":
    sys.exit(F.main(body))
