# pexos: {"timeout": 20}
# Fill /tmp (a 64 MiB tmpfs) with 8 MiB files, 1 MiB per write: ENOSPC must
# come at or before 64 MiB in total. Several files, so a per-file size limit
# (RLIMIT_FSIZE, EFBIG) cannot stand in for the tmpfs size. Capped at 256 MiB
# so a missing limit fails the test instead of filling the host; the files
# are removed again.
import errno
import os

MIB = 1 << 20


def main():
    written, err, files = 0, None, []
    chunk = b"\x02" * MIB
    try:
        while err is None and written < 256 * MIB:
            files.append("/tmp/fill%d" % len(files))
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
    return {"errno": err, "within 64 MiB": written <= 64 * MIB, "written": written}
