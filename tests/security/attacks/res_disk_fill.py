# pexos: {"timeout": 20}
# Fill /tmp, then /dev/shm (64 MiB tmpfs each: /dev/shm is as large as
# /tmp) with 8 MiB files, 1 MiB per write: under the default 512 MiB memory
# limit the tmpfs size stops each, ENOSPC at or before 64 MiB in total (and
# not long before: at least 56 MiB, so the size is the one pexos(7) states).
# Several files, so a per-file size limit (RLIMIT_FSIZE, EFBIG) cannot
# stand in for the tmpfs size. Capped at 256 MiB so a missing limit fails
# the test instead of filling the host; the files are removed again before
# the next directory. res_shm_fill_memory: /dev/shm under a lower memory
# limit.
import errno
import os

MIB = 1 << 20


def fill(directory):
    written, err, files = 0, None, []
    chunk = b"\x02" * MIB
    try:
        while err is None and written < 256 * MIB:
            files.append("%s/fill%d" % (directory, len(files)))
            with open(files[-1], "wb", buffering=0) as f:
                for _ in range(8):
                    try:
                        written += f.write(chunk)
                    except OSError as e:
                        err = errno.errorcode.get(e.errno, "errno %s" % e.errno)
                        break
    finally:
        for path in files:
            os.unlink(path)
    return {"errno": err, "within 64 MiB": written <= 64 * MIB,
            "at least 56 MiB": written >= 56 * MIB, "written": written}


def main():
    return {directory: fill(directory) for directory in ("/tmp", "/dev/shm")}
