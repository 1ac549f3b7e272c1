# pexos: {"timeout": 20, "memory_mb": 128}
# A pure-Python memory bomb under memory_mb 128: a list of fresh 4 MiB bytes
# objects (each one touched, so really resident). The cgroup's OOM kill must
# end it, reported as MemoryLimit naming the 128 MiB limit (not a
# ScriptError from a MemoryError, not Killed by SIGKILL). Stops at 2 GiB so
# a missing limit fails the test instead of hurting the host.
def main():
    held = []
    for i in range(512):
        held.append(bytes([i & 0xFF]) * (4 << 20))
    return {"allocated_mb": 4 * len(held)}
