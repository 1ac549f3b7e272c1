# Pseudo-terminals: /dev/pts is a devpts instance of the run's own
# (newinstance), /dev/ptmx a symlink to its ptmx. It starts empty (only
# ptmx: no terminal of the host or of another run is there to open or to
# inject input into), the first pty made is number 0 (a fresh instance),
# its slave belongs to the script's uid, and it works both ways, with a
# line discipline (the slave echoes what it read, lines end in CR LF). The mount
# options say newinstance's ptmxmode; the devpts of the host, whose first
# terminals are its own, is not reachable (/dev/pts/1 before we make it).
import os
import pty
import select
import stat
import time


def main():
    before = sorted(os.listdir("/dev/pts"))
    host_pts1 = os.path.exists("/dev/pts/1")
    master, slave = pty.openpty()
    name = os.ttyname(slave)
    st = os.stat(name)
    os.write(master, b"ping\n")
    got = os.read(slave, 16)
    os.write(slave, b"pong")
    back, deadline = b"", time.monotonic() + 5
    while not back.endswith(b"pong") and time.monotonic() < deadline:
        if select.select([master], [], [], 0.1)[0]:
            back += os.read(master, 64)  # the echo and pong may come apart
    opts = ""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == "/dev/pts":
                opts = fields[-1]
    os.close(master)
    os.close(slave)
    return {
        "before": before,
        "/dev/pts/1 before": host_pts1,
        "ttyname": name,
        "slave is a char device": stat.S_ISCHR(st.st_mode),
        "slave uid": st.st_uid,
        "slave to master": got.decode(),
        "master to slave": back.decode(),
        "ptmxmode=666": "ptmxmode=666" in opts,
    }
