#!/usr/bin/python3
"""pexos inside a user namespace of 65536 ids, as in a user-namespaced
container (Kubernetes `hostUsers: false`, podman `--uidmap 0:100000:65536`).
TAP.

usage: /usr/bin/python3 tests/integration/test_userns.py PEXOS_RUN [PEXOS_HTTPD]

The test makes the container itself: a process joins a cgroup of its own
(v1: one directory per controller pexos uses, below this process's cgroup;
v2: one at the root of the cgroup2 mount) owned by host uid 100000, as a
runtime delegates one, then enters new user, mount and PID namespaces; this
process writes its uid_map and gid_map, "0 100000 65536" each, and its pid 1
mounts a /proc of its own and execs pexos-run. So inside, uid 0 is host uid
100000, and only host uids 100000-165535 exist.

Checked:
- the host's full map keeps the default ids 2000000000 and 2000000001
  (--check, and a run's process as the host sees it);
- inside, --check passes and names the pair pexos chose by its rule
  (pexos(7), ISOLATION): 65530 and 65531, host 165530 and 165531;
- a cold run and a pooled batch work inside; while each runs, every process
  the container holds is seen from the host (/proc/PID/status) as 100000
  (pexos itself), 165530 (a run's setup, the zygote) or 165531 (the
  script), and the script's own process as 165531 for all four uids and
  gids;
- an explicit uid_base that the namespace does not map (2000000000) is
  refused with an error naming uid_base and the mapped ids, by a run and by
  --check; a mapped one (50000) is used as given;
- pexos-httpd's /health shows the chosen ids under "isolation";
- with no_new_privs and only CAP_SETUID and CAP_SETGID, as
  examples/deploy/k8s/deployment.yaml gives pexos, --check and a pooled
  batch work.

Exit: 0 all passed, 1 something failed, 77 skipped (not root, or no cgroup
to delegate) unless PEXOS_MUST_WORK=1.
"""
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
from harness import cgroup_v1_dirs, remove_cgroup_tree  # noqa: E402
from faultlib import descendants  # noqa: E402  (from the host's /proc)

OUTER, COUNT = 100000, 65536
SETUP, SCRIPT = 65530, 65531  # the rule's pair for ids 0-65535
CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWPID = 0x10000000, 0x00020000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18

n = failed = 0


def ok(cond, text, diag=""):
    global n, failed
    n += 1
    print(f"{'ok' if cond else 'not ok'} {n} - {text}", flush=True)
    if not cond:
        failed += 1
        for line in str(diag).splitlines()[:60]:
            print(f"# {line}")
    return cond


# ------------------------------------------------------------ the container

def delegated_cgroups():
    """Fresh cgroup directories owned by OUTER, as a runtime hands a
    user-namespaced container its cgroup; [] when none can be made."""
    dirs = cgroup_v1_dirs(CONTROLLERS)
    tops = []
    if "memory" in dirs and "pids" in dirs:
        for d in dirs.values():
            tops.append(f"{d}/pexos-userns-{os.getpid()}")
            os.mkdir(tops[-1])
    else:
        # v2: at the root of the mount, which may give controllers to it
        # (no "no internal processes" rule there).
        root = "/sys/fs/cgroup"
        try:
            with open(f"{root}/cgroup.subtree_control", "w") as f:
                f.write("+memory +pids")
            tops.append(f"{root}/pexos-userns-{os.getpid()}")
            os.mkdir(tops[-1])
        except OSError:
            return []
    for top in tops:
        for name in [top] + [f"{top}/{f}" for f in os.listdir(top)]:
            os.chown(name, OUTER, OUTER)
    return tops


def _check(r, what):
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def container_main(argv):
    """--container UNSHARED GO TOPS ARGV...: run ARGV as root of a new user
    namespace whose maps the parent writes: a byte on fd UNSHARED says it
    may, one from fd GO that it did."""
    unshared, go = int(argv[0]), int(argv[1])
    tops, argv = argv[2].split(","), argv[3:]
    libc = ctypes.CDLL(None, use_errno=True)
    for top in tops:
        with open(f"{top}/cgroup.procs", "w") as f:
            f.write(str(os.getpid()))
    _check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID), "unshare")
    os.write(unshared, b"u")
    os.close(unshared)
    if os.read(go, 1) != b"g":
        os._exit(125)
    os.close(go)
    os.setgroups([])
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    init = os.fork()
    if init == 0:
        # pid 1 of the container: its own /proc, as a runtime mounts it.
        _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None),
               "make / private")
        _check(libc.mount(b"proc", b"/proc", b"proc",
                          MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount proc")
        os.execv(argv[0], argv)
    # A stop asked of the container goes to its pid 1, as a runtime's does.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, _: os.kill(init, s))
    _, status = os.waitpid(init, 0)
    os._exit(os.waitstatus_to_exitcode(status))


class Container:
    """ARGV run in the container; .proc is the launcher on the host."""

    def __init__(self, tops, argv, stdin=None):
        u_r, u_w = os.pipe()
        g_r, g_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--container",
             str(u_w), str(g_r), ",".join(tops)] + argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            pass_fds=(u_w, g_r))
        os.close(u_w)
        os.close(g_r)
        self.stdin = stdin
        unshared = os.read(u_r, 1) == b"u"
        os.close(u_r)
        if unshared:
            for f in ("uid_map", "gid_map"):
                with open(f"/proc/{self.proc.pid}/{f}", "w") as m:
                    m.write(f"0 {OUTER} {COUNT}\n")
            os.write(g_w, b"g")
        os.close(g_w)

    def wait(self, timeout=120):
        try:
            out, err = self.proc.communicate(self.stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            for pid in descendants(self.proc.pid) + [self.proc.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            out, err = self.proc.communicate()
            err += f"\n(killed after {timeout} s)"
        return self.proc.returncode, out, err


def in_container(tops, argv, stdin=None, timeout=120):
    return Container(tops, argv, stdin).wait(timeout)


# ------------------------------------------------------- seen from the host

def status_ids(pid):
    """{"Uid": [r, e, s, fs], "Gid": [...]} of /proc/PID/status, or None."""
    try:
        ids = {}
        for line in open(f"/proc/{pid}/status"):
            key, _, rest = line.partition(":")
            if key in ("Uid", "Gid"):
                ids[key] = [int(x) for x in rest.split()]
        return ids
    except (OSError, ValueError):
        return None


def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


def watch(container, want_uid, seconds=30):
    """Polls the container's processes from the host until one has uid
    `want_uid` (or it ends). Returns (every (pid, ids, cmdline) seen, the
    ids of the first with want_uid or None)."""
    seen, hit, deadline = {}, None, time.monotonic() + seconds
    while time.monotonic() < deadline and container.proc.poll() is None:
        for pid in descendants(container.proc.pid):
            ids = status_ids(pid)
            if ids:
                seen[pid] = (ids, cmdline(pid))
                if hit is None and ids["Uid"][0] == want_uid:
                    hit = ids
        if hit is not None:
            break
        time.sleep(0.02)
    return seen, hit


def ids_problems(seen, allowed):
    """The processes whose host uids or gids are not all in `allowed`."""
    return [f"{pid}: {ids} {cmd}" for pid, (ids, cmd) in sorted(seen.items())
            if not set(ids["Uid"] + ids["Gid"]) <= allowed]


# ------------------------------------------------------------------ tests

SLEEPER = ("import os, time\n"
           "def main():\n"
           "    time.sleep(3)\n"
           "    return [os.getuid(), os.getgid()]\n")


def check_line(out, name):
    return next((l for l in out.splitlines() if l.split()[1:3] == name.split()), "")


def test_host(pexos_run, tmp):
    """(c) the host's full map: the default is unchanged."""
    run = subprocess.run([pexos_run, "--check"], capture_output=True, text=True,
                         timeout=120)
    line = check_line(run.stdout, "id map")
    ok(run.returncode == 0 and line.startswith("ok") and
       "uids and gids 2000000000 and 2000000001 (the default" in line,
       "on the host's full map, --check shows the default 2000000000 and "
       "2000000001", run.stdout + run.stderr)
    script = f"{tmp}/sleeper.py"
    proc = subprocess.Popen([pexos_run, script], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen, hit = watch(Holder(proc), 2000000001)
    out, err = proc.communicate(timeout=60)
    ok(hit is not None and set(hit["Uid"] + hit["Gid"]) == {2000000001}
       and json.loads(out or "{}").get("result") == [1000, 1000],
       "on the host, a run's script is host uid and gid 2000000001",
       f"hit={hit}\nout={out}\nerr={err}\n" + "\n".join(
           f"{p}: {v}" for p, v in seen.items()))


class Holder:
    """A Popen where watch() wants a Container."""

    def __init__(self, proc):
        self.proc = proc


def test_map(tops):
    rc, out, err = in_container(tops, ["/bin/cat", "/proc/self/uid_map",
                                       "/proc/self/gid_map"])
    ok(rc == 0 and [l.split() for l in out.splitlines()] ==
       [["0", str(OUTER), str(COUNT)]] * 2,
       "the container's user namespace maps exactly 65536 ids, 0 to host "
       "100000", f"rc={rc}\n{out}{err}")


def test_check(tops, pexos_run):
    rc, out, err = in_container(tops, [pexos_run, "--check"])
    line = check_line(out, "id map")
    ok(rc == 0 and "pexos can run scripts on this host" in out,
       "inside, pexos-run --check passes", f"rc={rc}\n{out}{err}")
    ok(line.startswith("ok") and
       f"uids and gids {SETUP} and {SCRIPT} (chosen" in line and
       "mapped here: 0-65535" in line and
       f"sees uids {OUTER + SETUP}, {OUTER + SCRIPT} and gids "
       f"{OUTER + SETUP}, {OUTER + SCRIPT}" in line,
       f"--check names the chosen ids {SETUP}, {SCRIPT} and the host's "
       f"{OUTER + SETUP}, {OUTER + SCRIPT}", line or out)


def test_cold(tops, pexos_run, tmp):
    c = Container(tops, [pexos_run, "--stats", f"{tmp}/sleeper.py"])
    seen, hit = watch(c, OUTER + SCRIPT)
    rc, out, err = c.wait()
    resp = json.loads(out) if out.startswith("{") else {}
    ok(rc == 0 and resp.get("result") == [1000, 1000]
       and resp["stats"]["pooled"] is False,
       "inside, a cold run works: the script is uid and gid 1000",
       f"rc={rc}\n{out}{err}")
    ok(hit is not None and set(hit["Uid"] + hit["Gid"]) == {OUTER + SCRIPT},
       f"the host sees the cold run's script as uid and gid {OUTER + SCRIPT} "
       "(real, effective, saved, fs)", f"hit={hit}\nseen={seen}")
    bad = ids_problems(seen, {OUTER, OUTER + SETUP, OUTER + SCRIPT})
    ok(seen and not bad, f"every process of the container is host id "
       f"{OUTER}, {OUTER + SETUP} or {OUTER + SCRIPT} ({len(seen)} seen)",
       "\n".join(bad))


def test_pooled(tops, pexos_run, tmp):
    c = Container(tops, [pexos_run, "--pool", "2", "--pool-wait", "60",
                         "--stats", f"{tmp}/sleeper.py", f"{tmp}/quick.py"])
    seen, hit = watch(c, OUTER + SCRIPT, seconds=90)
    # the zygote too: it runs as the setup id
    zygote = [p for p, (ids, cmd) in seen.items()
              if ids["Uid"][0] == OUTER + SETUP]
    rc, out, err = c.wait()
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    ok(rc == 0 and len(lines) == 2 and
       all(r.get("result") == [1000, 1000] and r["stats"]["pooled"] is True
           for r in lines),
       "inside, a pooled batch works: both runs pooled, as uid and gid 1000",
       f"rc={rc}\n{out}{err}")
    ok(hit is not None and set(hit["Uid"] + hit["Gid"]) == {OUTER + SCRIPT},
       f"the host sees the pooled run's script as uid and gid {OUTER + SCRIPT}",
       f"hit={hit}\nseen={seen}")
    ok(zygote, f"the host sees the zygote as uid {OUTER + SETUP}",
       "\n".join(f"{p}: {v}" for p, v in seen.items()))
    bad = ids_problems(seen, {OUTER, OUTER + SETUP, OUTER + SCRIPT})
    ok(seen and not bad, f"every process of the container is host id "
       f"{OUTER}, {OUTER + SETUP} or {OUTER + SCRIPT} ({len(seen)} seen)",
       "\n".join(bad))


def test_explicit(tops, pexos_run, tmp):
    """(b) a set uid_base the namespace does not map: a clear refusal."""
    rc, out, err = in_container(tops, [pexos_run, "--uid-base", "2000000000",
                                       f"{tmp}/quick.py"])
    resp = json.loads(out) if out.startswith("{") else {}
    msg = resp.get("error", "")
    ok(rc == 3 and resp.get("type") == "SandboxError" and "uid_base" in msg
       and "2000000000 and 2000000001 are not both mapped" in msg
       and "0-65535" in msg,
       "inside, --uid-base 2000000000 is refused naming uid_base and the "
       "mapped ids 0-65535", f"rc={rc}\n{out}{err}")
    rc, out, err = in_container(tops, [pexos_run, "--uid-base", "2000000000",
                                       "--check"])
    line = check_line(out, "id map")
    ok(rc != 0 and line.startswith("MISSING") and "uid_base" in line and
       "0-65535" in line, "--check with it: id map MISSING, naming uid_base",
       f"rc={rc}\n{out}{err}")
    c = Container(tops, [pexos_run, "--uid-base", "50000",
                         f"{tmp}/sleeper.py"])
    seen, hit = watch(c, OUTER + 50001)
    rc, out, err = c.wait()
    ok(rc == 0 and hit is not None and
       set(hit["Uid"] + hit["Gid"]) == {OUTER + 50001},
       f"--uid-base 50000, mapped: the script is host id {OUTER + 50001}",
       f"rc={rc}\n{out}{err}\nhit={hit}")


# As examples/deploy/k8s/deployment.yaml asks: allowPrivilegeEscalation
# false (no_new_privs), capabilities SETUID and SETGID only.
AS_MANIFEST = ["/usr/bin/setpriv", "--no-new-privs", "--inh-caps=-all",
               "--bounding-set=-all,+setuid,+setgid", "--"]


def status_field(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def test_manifest_caps(tops, pexos_run, tmp):
    c = Container(tops, AS_MANIFEST + [
        pexos_run, "--pool", "2", "--pool-wait", "60", "--stats",
        f"{tmp}/sleeper.py", f"{tmp}/quick.py"])
    seen, hit = watch(c, OUTER + SCRIPT, seconds=90)
    pexos = [p for p, (ids, cmd) in seen.items()
             if cmd.startswith(pexos_run + " ")]
    caps = [(status_field(p, "CapEff"), status_field(p, "CapBnd"),
             status_field(p, "NoNewPrivs")) for p in pexos]
    rc, out, err = c.wait()
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    ok(rc == 0 and len(lines) == 2 and hit is not None and
       all(r.get("result") == [1000, 1000] and r["stats"]["pooled"] is True
           for r in lines),
       "with no_new_privs and only CAP_SETUID and CAP_SETGID (the manifest's "
       "settings), a pooled batch works inside", f"rc={rc}\n{out}{err}")
    ok(caps and caps[0] == ("00000000000000c0", "00000000000000c0", "1"),
       "pexos-run had just those two capabilities and no_new_privs",
       f"{caps}\n{seen}")
    rc, out, err = in_container(tops, AS_MANIFEST + [pexos_run, "--check"])
    ok(rc == 0 and "pexos can run scripts on this host" in out,
       "--check passes with them", f"rc={rc}\n{out}{err}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health(tops, pexos_httpd):
    port = free_port()
    c = Container(tops, [pexos_httpd, "--listen", "127.0.0.1", "--port",
                         str(port), "--workers", "1", "--pool", "0"])
    health, deadline = None, time.monotonic() + 60
    while health is None and time.monotonic() < deadline and c.proc.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health",
                                        timeout=5) as r:
                health = json.load(r)
        except OSError:
            time.sleep(0.2)
    c.proc.terminate()
    rc, out, err = c.wait(60)
    ids = (health or {}).get("isolation", {}).get("ids", {})
    ok(ids.get("setup") == SETUP and ids.get("script") == SCRIPT and
       ids.get("how") == "chosen" and
       ids.get("parent_uids") == [OUTER + SETUP, OUTER + SCRIPT] and
       ids.get("parent_gids") == [OUTER + SETUP, OUTER + SCRIPT],
       "inside, pexos-httpd's /health shows the chosen ids",
       f"health={json.dumps(health)[:1500]}\nrc={rc}\n{err[-1500:]}")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--container":
        container_main(sys.argv[2:])
    pexos_run = os.path.abspath(sys.argv[1])
    pexos_httpd = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
    must = os.environ.get("PEXOS_MUST_WORK") == "1"
    if os.geteuid() != 0:
        print("1..0 # SKIP needs root (it writes a user namespace's maps)")
        return 1 if must else 77
    tops = delegated_cgroups()
    if not tops:
        print("1..0 # SKIP no cgroup v1 memory and pids, nor a cgroup2 root "
              "that gives memory and pids")
        return 1 if must else 77
    # Files the container's root (host uid 100000) can read.
    tmp = f"/tmp/pexos-userns-{os.getpid()}"
    os.mkdir(tmp)
    os.chmod(tmp, 0o755)
    with open(f"{tmp}/sleeper.py", "w") as f:
        f.write(SLEEPER)
    with open(f"{tmp}/quick.py", "w") as f:
        f.write("import os\ndef main():\n    return [os.getuid(), os.getgid()]\n")
    try:
        test_host(pexos_run, tmp)
        test_map(tops)
        test_check(tops, pexos_run)
        test_cold(tops, pexos_run, tmp)
        test_pooled(tops, pexos_run, tmp)
        test_explicit(tops, pexos_run, tmp)
        test_manifest_caps(tops, pexos_run, tmp)
        if pexos_httpd:
            test_health(tops, pexos_httpd)
    finally:
        for top in tops:
            remove_cgroup_tree(top)
        for f in os.listdir(tmp):
            os.unlink(f"{tmp}/{f}")
        os.rmdir(tmp)
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
