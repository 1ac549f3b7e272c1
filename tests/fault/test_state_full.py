#!/usr/bin/python3
"""Fault: the host's state directories full.

usage: /usr/bin/python3 tests/fault/test_state_full.py PEXOS_HTTPD

On the host pexos writes files in one directory only: /var/cache/pexos,
where it builds matplotlib's font list once (lib/fontcache.c); a run's
/tmp and /dev/shm are its own, its script and stdin memory files,
its cgroups in cgroupfs. The daemon runs here in a private mount
namespace (unshare -m --propagation private) where a small tmpfs, filled
to its last byte and inode, is mounted over /var/cache/pexos, and over
/tmp, /dev/shm and /run too, in case anything else wrote there: the real
host's disk is never touched.

It must start and serve: hello, numpy, a script that writes 8 MiB to its
own /tmp, and matplotlib, which then has no prebuilt font list (best
effort) and builds its own in the run. Once the fill is removed it goes
on serving; when it stops, no mount and nothing in the real
/var/cache/pexos is left."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultlib as F  # noqa: E402

FULL = ("/var/cache/pexos", "/tmp", "/dev/shm", "/run")
# Mount a small tmpfs over each directory (made if absent) and fill it:
# bytes with one file, inodes with empty ones, until ENOSPC.
# The build tree ($PEXOS_FAULT_TREE: the daemon and its library) may lie
# under one of them (a clone in /tmp): it is bound on /mnt first, in this
# namespace only, and bound back at its path inside the new tmpfs before
# that is filled.
FILL = r"""
set -e
tree=$PEXOS_FAULT_TREE
mount --bind "$tree" /mnt
for d in %s; do
    mkdir -p "$d"
    mount -t tmpfs -o size=256k,nr_inodes=32,mode=0755 pexos-fault-full "$d"
    case "$tree/" in "$d"/*)
        mkdir -p "$tree"
        mount --bind /mnt "$tree" ;;
    esac
    dd if=/dev/zero of="$d/fill" bs=4k 2>/dev/null || true
    i=0; while touch "$d/inode$i" 2>/dev/null; do i=$((i+1)); done
done
exec "$0" "$@"
""" % " ".join(FULL)
NUMPY = "import numpy as np\n\ndef main():\n    return int(np.arange(10).sum())\n"
TMP = ("def main():\n    with open('/tmp/big', 'wb') as f:\n"
       "        f.write(b'x' * (8 << 20))\n    import os\n"
       "    return os.path.getsize('/tmp/big')\n")
PLOT = ("import io\nimport matplotlib.pyplot as plt\n\ndef main():\n"
        "    plt.plot([1, 2, 3])\n    b = io.BytesIO()\n"
        "    plt.savefig(b, format='png')\n    return b.getvalue()[:4].hex()\n")


def statvfs_full(pid, d):
    st = os.statvfs(f"/proc/{pid}/root{d}")
    return st.f_bavail == 0 and st.f_favail == 0


def body(tap, exe):
    host_mounts = F.mounts()
    host_cache = sorted(os.listdir("/var/cache/pexos")) \
        if os.path.isdir("/var/cache/pexos") else None
    tree = os.path.dirname(os.path.dirname(os.path.abspath(exe)))
    d = F.start(exe, "state-full", "--workers", "2",
                env={"PEXOS_FAULT_TREE": tree},
                wrapper=["unshare", "-m", "--propagation", "private",
                         "sh", "-c", FILL])
    tap.check(True, "the daemon starts with its state directories full")
    counts = F.Counts(d)
    full = [x for x in FULL if statvfs_full(counts.pid, x)]
    tap.check(full == list(FULL), f"in its mount namespace {', '.join(FULL)} "
              "have no free block and no free inode", f"full: {full}")
    tap.check(F.mounts() == host_mounts, "the host's mounts are untouched")
    F.settled(d.port, 60)
    before = counts.take()
    for what, script, want in (("hello", F.HELLO, F.HELLO_RESULT),
                               ("numpy", NUMPY, 45),
                               ("8 MiB in the run's own /tmp", TMP, 8 << 20),
                               ("matplotlib.pyplot", PLOT, "89504e47")):
        k, r, secs = F.try_execute(d.port, script)
        tap.check(k == "ok" and r.json()["result"] == want,
                  f"{what}: answered right in {secs:.2f} s", r.describe() if r else k)
    for x in FULL:
        os.remove(f"/proc/{counts.pid}/root{x}/fill")
    k, r, _ = F.try_execute(d.port, F.HELLO)
    tap.check(k == "ok", "with room again it goes on serving", r.describe() if r else k)
    F.check_no_leak(tap, counts, before, "in the full directories")
    F.stop_cleanly(tap, d)
    tap.check(F.mounts() == host_mounts, "stopped: the host's mounts are as before")
    now = sorted(os.listdir("/var/cache/pexos")) \
        if os.path.isdir("/var/cache/pexos") else None
    tap.check(now == host_cache, "the real /var/cache/pexos is as before",
              f"{host_cache} -> {now}")


if __name__ == "__main__":
    sys.exit(F.main(body))
