# pexos: {"timeout": 20, "memory_mb": 64}
# Touch memory in 8 MiB steps under a 64 MiB limit: the cgroup's OOM kill
# must end the run as MemoryLimit. The loop stops at 1 GiB so a missing
# limit fails the test instead of hurting the host.
def main():
    held = []
    for _ in range(128):
        held.append(b"\x01" * (8 << 20))
    return {"allocated_mb": 8 * len(held)}
