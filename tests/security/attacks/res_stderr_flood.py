# pexos: {"timeout": 20}
# 10 MiB on stderr, written by a child process straight to fd 2: captured
# like the script's own output, capped at exactly 1 MiB (1048576 ASCII
# characters) with stderr_truncated set, and the run succeeds.
import subprocess

WRITER = "import os\nfor _ in range(160):\n    os.write(2, b'e' * 65536)\n"


def main():
    rc = subprocess.run(["/usr/bin/python3", "-c", WRITER]).returncode
    return {"child exit": rc}
