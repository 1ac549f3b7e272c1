# pexos: {"timeout": 20}
# The runner's result channel is an fd open in the script's own process. A
# script can bypass the runner and write a "success" header followed by a
# 20 MiB result straight into it: pexos must still enforce the 8 MiB result
# limit on its side (ResultTooLarge), neither buffer it all nor hang.
import os
import stat

BODY = b'{"ok": true}\n"' + b"a" * (20 << 20) + b'"'


def main():
    for fd in range(3, 64):
        try:
            if not stat.S_ISFIFO(os.fstat(fd).st_mode) and not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            view = memoryview(BODY)
            while view:
                view = view[os.write(fd, view):]
        except OSError:
            continue
    os._exit(0)
