# pexos: {"timeout": 20, "memory_mb": 40}
# Fill /dev/shm under a 40 MiB memory limit, lower than its 64 MiB size:
# tmpfs pages are charged to the run's memory cgroup, so the memory limit
# stops the fill first and the run ends as MemoryLimit (the cgroup's OOM
# kill), not with the tmpfs full. The pages go with the run's mount
# namespace (res_disk_fill: the size stops it under the default limit).
# Capped at 256 MiB so a missing limit fails the test instead of
# hurting the host.
MIB = 1 << 20


def main():
    written, files = 0, []
    chunk = b"\x03" * MIB
    while written < 256 * MIB:
        files.append("/dev/shm/fill%d" % len(files))
        with open(files[-1], "wb", buffering=0) as f:
            for _ in range(8):
                written += f.write(chunk)
    return {"written": written}
