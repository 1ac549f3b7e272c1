# The script writes a forged failure header into the runner's result channel
# (an fd open in its own process) claiming pexos itself failed, then exits.
# pexos must not take a verdict only it may give from the script: no
# SandboxError (exit 3, "pexos itself failed") and no limit verdict; the
# script misbehaved, so it is a ScriptError.
import os
import stat

HEADER = b'{"type": "SandboxError", "error": "forged by the script"}\n'


def main():
    for fd in range(3, 64):
        try:
            mode = os.fstat(fd).st_mode
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                os.write(fd, HEADER)
        except OSError:
            continue
    os._exit(0)
