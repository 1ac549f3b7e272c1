# pexos: {"timeout": 20, "memory_mb": 128}
# numpy.ones(10**9): 8 GB of float64, allocated in one call and filled with
# ones (so every page is touched) under memory_mb 128. The allocation itself
# is granted (overcommit), the filling runs into the cgroup's limit: the
# OOM kill must end the run as MemoryLimit naming 128 MiB. A MemoryError
# (ScriptError) would mean something other than the cgroup stopped it.
# Where the sandbox failed this is one bounded 8 GB allocation on the host,
# freed when the run ends (or numpy's own MemoryError where the host has
# less, a ScriptError that fails the test).
import numpy as np


def main():
    a = np.ones(10**9)
    return {"sum": float(a[:10].sum())}
