# Leaves a detached process behind (double fork, new session) that would
# sleep for 10 minutes, named after the token on stdin so that the host can
# look for it (/proc/PID/comm); main returns the name the process reads
# back, so the answer proves the name took. The run's end must take it
# along.
import ctypes
import os
import sys
import time

PR_SET_NAME = 15


def main():
    token = sys.stdin.read().strip()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        if os.fork() == 0:
            ctypes.CDLL(None).prctl(PR_SET_NAME, token.encode(), 0, 0, 0)
            with open("/proc/self/comm", "rb") as f:
                os.write(w, f.read().strip())
            os.close(w)
            time.sleep(600)
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r, "rb") as f:
        return {"left": f.read().decode()}
