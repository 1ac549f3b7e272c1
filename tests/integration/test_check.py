#!/usr/bin/python3
"""pexos-run --check leaves the cgroup tree as it found it. TAP.

usage: /usr/bin/python3 tests/integration/test_check.py PEXOS_RUN

The check runs in a fresh cgroup of its own (v1: one directory per
controller pexos uses, below this process's cgroup; v2: one directory at
the root of the cgroup2 mount, which may give controllers to it), next to
a bystander process. The directories below that cgroup, the processes in
each and (v2) the controllers each gives its children are listed before
and after: the check must add no directory, must move no process, neither
the bystander nor anything else, and must turn no controller on. On v2 it
has to move both processes out of the way and turn controllers on to do
its test run (the "no internal processes" rule), so this is what it must
undo. The check must also really have used that cgroup (its "cgroups"
line names it), or this test would measure nothing.

Exit: 0 all passed, 1 something failed, 77 skipped (neither a cgroup v1
memory hierarchy nor a cgroup2 mount with memory and pids) unless
PEXOS_MUST_WORK=1.
"""
import ctypes
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import cgroup_v1_dirs, remove_cgroup_tree  # noqa: E402

CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
n = failed = 0


def ok(cond, text, diag=""):
    global n, failed
    n += 1
    print(f"{'ok' if cond else 'not ok'} {n} - {text}")
    if not cond:
        failed += 1
        for line in str(diag).splitlines():
            print(f"# {line}")
    return cond


def snapshot(tops):
    """Every directory below `tops` with the processes in it (and on v2
    the controllers it gives its children)."""
    seen = {}
    for top in sorted(set(tops)):
        for d, _, _ in os.walk(top):
            try:
                procs = sorted(open(f"{d}/cgroup.procs").read().split())
            except OSError:
                procs = ["?"]
            try:
                procs += ["subtree: " + open(f"{d}/cgroup.subtree_control").read().strip()]
            except OSError:
                pass
            seen[d] = procs
    return seen


def cgroup_v2_top():
    """{"unified": a fresh cgroup at the root of the cgroup2 mount} when that
    root can give it memory and pids, else {}."""
    root = "/sys/fs/cgroup"
    try:
        avail = open(f"{root}/cgroup.controllers").read().split()
        with open(f"{root}/cgroup.subtree_control", "w") as f:
            f.write("+memory +pids")
    except OSError:
        return {}
    return {"unified": root} if {"memory", "pids"} <= set(avail) else {}


def join(pid, tops):
    for top in sorted(set(tops)):
        with open(f"{top}/cgroup.procs", "w") as f:
            f.write(str(pid))


def refuse_seccomp():
    """In the child before exec: a filter that refuses seccomp(2) with
    EPERM, as a container's profile may; no filter can be added then."""
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    ctx = lib.seccomp_init(ctypes.c_uint32(0x7FFF0000))  # SCMP_ACT_ALLOW
    nr = lib.seccomp_syscall_resolve_name(b"seccomp")
    errno_eperm = ctypes.c_uint32(0x00050000 | 1)  # SCMP_ACT_ERRNO(EPERM)
    if (lib.seccomp_rule_add(ctypes.c_void_p(ctx), errno_eperm, nr, 0) != 0
            or lib.seccomp_load(ctypes.c_void_p(ctx)) != 0):
        os._exit(99)


def check_without_seccomp(pexos_run):
    run = subprocess.run([pexos_run, "--limits=rlimit", "--check"],
                         capture_output=True, text=True, timeout=120,
                         preexec_fn=refuse_seccomp)
    line = [l for l in run.stdout.splitlines() if l.split()[1:2] == ["seccomp"]]
    nnp = [l for l in run.stdout.splitlines() if l.split()[1:2] == ["no_new_privs"]]
    ok(run.returncode not in (0, 99) and line and line[0].startswith("MISSING")
       and "seccomp(2)" in line[0] and nnp and nnp[0].startswith("ok"),
       "with seccomp(2) refused, --check says seccomp is MISSING (and "
       "no_new_privs ok) and fails",
       f"rc={run.returncode}\n{run.stdout}{run.stderr}")


def main():
    pexos_run = sys.argv[1]
    dirs = cgroup_v1_dirs(CONTROLLERS) or cgroup_v2_top()
    if "memory" not in dirs and "unified" not in dirs:
        print("1..0 # SKIP neither a cgroup v1 memory hierarchy nor a cgroup2 "
              "root with memory and pids")
        return 1 if os.environ.get("PEXOS_MUST_WORK") == "1" else 77
    tops = [f"{d}/pexos-checktest-{os.getpid()}" for d in dirs.values()]
    for t in set(tops):
        os.makedirs(t, exist_ok=True)
    bystander = subprocess.Popen(["sleep", "300"])
    try:
        join(bystander.pid, tops)
        before = snapshot(tops)
        run = subprocess.run([pexos_run, "--check"], capture_output=True,
                             text=True, timeout=120,
                             preexec_fn=lambda: join(os.getpid(), tops))
        after = snapshot(tops)
        ok(run.returncode == 0 and "pexos can run scripts" in run.stdout,
           "pexos-run --check passes", run.stdout + run.stderr)
        line = [l for l in run.stdout.splitlines() if l.split()[1:2] == ["cgroups"]]
        ok(line and f"pexos-checktest-{os.getpid()}/pexos" in line[0],
           "the check used the test's own cgroup", line)
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        ok(not added and not removed,
           f"no cgroup directory left behind or removed ({len(before)} before)",
           f"added: {added}\nremoved: {removed}")
        moved = {d: (before[d], after[d]) for d in before
                 if d in after and before[d] != after[d]}
        ok(not moved, "no process moved: every cgroup holds the same processes",
           moved)
        own = open(f"/proc/{bystander.pid}/cgroup").read()
        ok(all(f"pexos-checktest-{os.getpid()}" in l for l in own.splitlines()
               if l.split(":")[1] in dirs
               or (l.startswith("0::") and "unified" in dirs)),
           "the bystander is still in the test's cgroup", own)
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait()
        for t in sorted(set(tops)):
            remove_cgroup_tree(t)
    check_without_seccomp(pexos_run)
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
