# pexos: {"timeout": 20}
# 10 MiB on stdout: the run must still succeed with exactly the first 1 MiB
# kept (ASCII, so 1048576 characters) and stdout_truncated set; the rest is
# drained and dropped, so the writer never blocks into a Timeout.
import sys

CHUNK = "x" * 65536


def main():
    for _ in range(160):
        sys.stdout.write(CHUNK)
    sys.stdout.flush()
    return {"written": 160 * len(CHUNK)}
