# pexos: {"timeout": 20}
# Fork sleeping children until fork fails: the pids limit (64 per run) must
# stop it with EAGAIN well before 64 forks; the run itself completes and its
# children are killed when it ends. Capped at 256 forks so a missing limit
# fails the test instead of hurting the host.
import errno
import os
import time


def main():
    count, err = 0, None
    for _ in range(256):
        try:
            pid = os.fork()
        except OSError as e:
            err = errno.errorcode.get(e.errno, "errno %s" % e.errno)
            break
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        count += 1
    return {"errno": err, "under 64": count < 64, "forked": count}
