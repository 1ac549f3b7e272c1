# POSIX shared memory and semaphores live in /dev/shm, a tmpfs of the run's
# own: it is empty when the run starts (nothing of the host or of another
# run: host_shm_not_shared checks a later run), and
# multiprocessing.shared_memory and multiprocessing.Lock (sem_open) work in
# it; the segment is seen there by name while it exists.
# SysV IPC works but only inside the run's own IPC namespace: a segment, a
# semaphore set and a message queue can be made (control), and
# /proc/sysvipc lists exactly those three and nothing of the host or of
# other runs. Everything made is removed again.
import ctypes
import errno
import multiprocessing
import os
import secrets
from multiprocessing import shared_memory

IPC_CREAT, IPC_EXCL, IPC_RMID = 0o1000, 0o2000, 0


def err(e):
    return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def listed(kind):
    with open("/proc/sysvipc/" + kind) as f:
        return [int(line.split()[0]) for line in f.readlines()[1:] if line.strip()]


def main():
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    try:
        out["list /dev/shm"] = sorted(os.listdir("/dev/shm"))
    except OSError as e:
        out["list /dev/shm"] = err(e)
    name = "pexos-attack-" + secrets.token_hex(4)
    try:
        shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
        out["listed while it exists"] = os.listdir("/dev/shm") == [name]
        shm.close()
        shm.unlink()
        out["SharedMemory(create=True)"] = "created"
    except Exception as e:  # noqa: BLE001 - any failure is reported by type
        out["SharedMemory(create=True)"] = type(e).__name__
    try:
        multiprocessing.Lock()
        out["multiprocessing.Lock()"] = "created"
    except Exception as e:  # noqa: BLE001
        out["multiprocessing.Lock()"] = type(e).__name__
    key = 0x5E000000 | secrets.randbits(24)
    flags = IPC_CREAT | IPC_EXCL | 0o600
    shm_id = libc.shmget(ctypes.c_int(key), ctypes.c_size_t(4096), flags)
    sem_id = libc.semget(ctypes.c_int(key), 1, flags)
    msg_id = libc.msgget(ctypes.c_int(key), flags)
    out["control: SysV made"] = [shm_id >= 0, sem_id >= 0, msg_id >= 0]
    out["/proc/sysvipc lists only mine"] = [listed(k) == [key] for k in ("shm", "sem", "msg")]
    if shm_id >= 0:
        libc.shmctl(shm_id, IPC_RMID, None)
    if sem_id >= 0:
        libc.semctl(sem_id, 0, IPC_RMID)
    if msg_id >= 0:
        libc.msgctl(msg_id, IPC_RMID, None)
    return out
