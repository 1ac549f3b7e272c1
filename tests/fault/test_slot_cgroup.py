#!/usr/bin/python3
"""Fault: a waiting warm slot's cgroup removed under it.

usage: /usr/bin/python3 tests/fault/test_slot_cgroup.py PEXOS_HTTPD

As an operator or a buggy agent could: every ready slot's processes are
moved out to the parent cgroup (<own cgroup>/pexos) and the slot's cgroup
directories are removed, first those of the memory and pids controllers
only (the CPU ones stay), then all of them. The next runs must still be
limited: a memory bomb of either profile (the pool's two slots are one
lean, one full; a lean run waits for the lean slot being made rather than
take the full one) gets MemoryLimit, never a result. The tampered slots must be
killed, not used, and the pool refilled; nothing leaks. First, before
any of it: each ready slot's two processes are in every directory of its
cgroup (on v1 they move themselves there)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as F  # noqa: E402

MEMORY_MB = 128
BOMB = F.memory_bomb(512)
# the same through the full profile's pool
NUMPY_BOMB = "import numpy\n\n" + BOMB


def procs(d):
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def ready_slots(counts):
    """run-DPID-N names whose memory cgroup holds processes: the slots
    (the pool is full and idle, so every one is ready)."""
    base = os.path.join(counts.dirs["memory"], "pexos")
    return sorted(n.split(":", 1)[1] for n in F.pexos_cgroups(counts.pid, counts.dirs)
                  if n.startswith("memory:run-")
                  and procs(os.path.join(base, n.split(":", 1)[1])))


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def entered(tap, counts):
    """Each ready slot's two processes, its pid 1 (pexos-init, run from a
    memory file) and its Python process, sit in every directory of its
    cgroup, and nothing else does: on v1 they enter it themselves, by the
    tasks files the library opened for them."""
    slots = ready_slots(counts)
    seen, wrong = 0, []
    for name in slots:
        for c, root in sorted(counts.dirs.items()):
            members = sorted(comm(p) for p in procs(os.path.join(root, "pexos", name)))
            seen += 1
            if (len(members) != 2 or not members[0].startswith("memfd:pexos-ini")
                    or members[1] != "python3"):
                wrong.append((name, c, members))
    tap.check(slots and seen == len(slots) * len(counts.dirs) and not wrong,
              f"each ready slot's pid 1 and Python process are in every one of "
              f"its {len(counts.dirs)} cgroup directories, alone "
              f"({len(slots)} slots)", wrong or slots)


def tamper(counts, name, controllers):
    """Moves the slot's processes to the parent and removes its cgroup,
    for `controllers`. Returns the pids moved."""
    moved = set()
    for c in controllers:
        if c not in counts.dirs:
            continue
        parent = os.path.join(counts.dirs[c], "pexos")
        d = os.path.join(parent, name)
        for pid in procs(d):
            with open(os.path.join(parent, "cgroup.procs"), "w") as f:
                f.write(str(pid))
            moved.add(pid)
        F.remove_cgroup_tree(d)
    return moved


def round_(tap, d, counts, controllers, what):
    F.settled(d.port, 30)
    slots = ready_slots(counts)
    if not tap.check(len(slots) == 2, f"{what}: two ready slots found", slots):
        return
    moved = set()
    for name in slots:
        moved |= tamper(counts, name, controllers)
    base = os.path.join(counts.dirs["memory"], "pexos")
    tap.check(moved and set(procs(base)) >= moved and not any(
        os.path.isdir(os.path.join(base, n)) for n in slots),
        f"{what}: their processes ({len(moved)}) now sit in the parent "
        "cgroup, their memory cgroups are gone")
    for profile, bomb in (("lean", BOMB), ("full", NUMPY_BOMB)):
        k, r, secs = F.try_execute(d.port, bomb, stats=True)
        tap.check(k == "MemoryLimit",
                  f"{what}: a {512} MiB memory bomb ({profile} profile) still "
                  f"gets MemoryLimit (limit {MEMORY_MB} MiB) in {secs:.1f} s",
                  r.describe() if r else k)
    k, r, _ = F.try_execute(d.port, F.HELLO)
    tap.check(k == "ok", f"{what}: hello still answers", r.describe() if r else k)
    gone = F.wait_for(lambda: not (set(procs(base)) & moved), 10, 0.1)
    tap.check(gone, f"{what}: the tampered slots' processes are killed",
              f"left in {base}: {procs(base)}")


def body(tap, exe):
    d = F.start(exe, "slot-cgroup", "--workers", "1", "--pool", "2",
                "--memory", str(MEMORY_MB))
    tap.check(F.settled(d.port, 60), "the warm pool fills")
    counts = F.Counts(d)
    if not tap.check("memory" in counts.dirs and "pids" in counts.dirs,
                     "the daemon's v1 memory and pids cgroups are found",
                     counts.dirs):
        return
    F.settled(d.port, 30)
    entered(tap, counts)
    before = counts.take()
    round_(tap, d, counts, ("memory", "pids"), "memory and pids cgroups removed")
    round_(tap, d, counts, ("memory", "pids", "cpu", "cpuacct"),
           "every cgroup of the slots removed")
    F.check_no_leak(tap, counts, before, "after both rounds")


if __name__ == "__main__":
    sys.exit(F.main(body))
