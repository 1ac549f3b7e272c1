#!/usr/bin/python3
"""Fault: fork failing: the daemon in a pids cgroup of its own, at its
limit.

usage: /usr/bin/python3 tests/fault/test_fork_fail.py PEXOS_HTTPD

The running daemon is moved into a new child cgroup of its v1 pids
cgroup (made and removed here; no existing cgroup is changed) whose
pids.max is what it already runs: its threads live on, but it can clone
nothing. Its warm sandboxes are forked by the zygote, in a cgroup of its
own: warm runs go on, and the pool refills. Once the zygotes (full and
lean) are killed, their restart and every cold run need a clone of the
daemon: each run is
answered at once with 500 SandboxError naming the failed clone, /health
says why the pool is down. With pids.max lifted the pool comes back and
runs are warm again; the daemon goes back to its cgroup; nothing leaks."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as F  # noqa: E402

CLONE_ERROR = ("pexos could not run the script (clone): create the "
               "sandbox's namespaces (user, pid, mount, net, ipc, uts): "
               "Resource temporarily unavailable")


def write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


def read(path):
    with open(path) as f:
        return f.read().strip()


def body(tap, exe):
    d = F.start(exe, "fork-fail", "--workers", "2", "--pool-wait", "0")
    tap.check(F.settled(d.port, 60), "the warm pool fills")
    counts = F.Counts(d)
    before = counts.take()
    home = counts.dirs["pids"]
    cg = os.path.join(home, f"pexos-fault-{os.getpid()}")
    os.mkdir(cg)
    try:
        write(os.path.join(cg, "cgroup.procs"), counts.pid)
        write(os.path.join(cg, "pids.max"), read(os.path.join(cg, "pids.current")))
        tap.note(f"the daemon in {cg}, pids.max {read(os.path.join(cg, 'pids.max'))}")
        size = F.health(d.port)["pool"]["size"]
        got = [F.try_execute(d.port, F.HELLO, stats=True) for _ in range(size)]
        warm = [r.json()["stats"]["pooled"] for k, r, _ in got if k == "ok"]
        tap.check(len(warm) == size and all(warm),
                  f"{size} runs in a row are answered from warm sandboxes",
                  *[r.describe() if r else k for k, r, _ in got if k != "ok"])
        tap.check(F.wait_for(lambda: F.pool_full(d.port), 30, 0.1),
                  "the pool refills: the zygote forks them")
        zygotes = F.zygote_pids(counts.pid)
        tap.check(len(zygotes) == 2, f"both zygotes (full, lean) are found: {zygotes}")
        for z in zygotes:
            os.kill(z, signal.SIGKILL)
        down = F.wait_for(lambda: F.health(d.port)["pool"]["state"] != "up"
                          and "clone" in F.health(d.port)["pool"].get("error", ""), 10, 0.1)
        tap.check(down, "the zygote cannot start again: /health says why: "
                  f"{F.health(d.port)['pool'].get('error')!r}")
        got = [F.try_execute(d.port, F.HELLO) for _ in range(3)]
        bad = [f"{k} in {s:.2f} s: {r.describe() if r else ''}" for k, r, s in got
               if not (r and r.status == 500 and r.json().get("error") == CLONE_ERROR
                       and s < 2)]
        tap.check(not bad, f"each run is answered at once with 500 "
                  f"SandboxError '{CLONE_ERROR}'", *bad)
        write(os.path.join(cg, "pids.max"), "max")
        t0 = time.monotonic()
        back = F.wait_for(lambda: F.pool_full(d.port), 30, 0.1)
        tap.check(back, f"pids.max lifted: the pool is full again in "
                  f"{time.monotonic() - t0:.1f} s")
        k, r, _ = F.try_execute(d.port, F.HELLO, stats=True)
        tap.check(k == "ok" and r.json()["stats"]["pooled"], "runs are warm again",
                  r.describe() if r else k)
    finally:
        write(os.path.join(home, "cgroup.procs"), counts.pid)
        F.remove_cgroup_tree(cg)
    tap.check(not os.path.exists(cg), f"the daemon back in {home}, {cg} removed")
    F.check_no_leak(tap, counts, before, "after the fault")


if __name__ == "__main__":
    sys.exit(F.main(body))
