# Kernel memory and kernel addresses through /proc (what a kernel exploit
# needs first, to defeat KASLR). /proc/kcore (the kernel's memory as an ELF
# core) must not be openable: ENOENT where the kernel has none (this host),
# EACCES/EPERM otherwise. /proc/kallsyms, /proc/iomem and /proc/ioports may
# be readable but must show every address as zero (no CAP_SYSLOG /
# CAP_SYS_ADMIN in the initial namespace); /proc/self/pagemap must not give
# physical frame numbers (PFN 0 for a present page, the rowhammer leak).
# The kernel log (/proc/kmsg), kernel stacks (/proc/self/stack), slab and
# vmalloc layout (/proc/slabinfo, /proc/vmallocinfo) and page flags
# (/proc/kpageflags) are root-only: EACCES. Only reads: harmless.
import ctypes
import errno
import mmap
import re
import struct


def err(e):
    return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def read_open(path):
    try:
        with open(path, "rb") as f:
            f.read(1)
        return "readable"
    except OSError as e:
        return err(e)


def nonzero_addresses(path, pattern):
    """Lines whose address fields are not all zero; 'unreadable: E' if refused."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        return "unreadable: " + err(e)
    lines = [line for line in text.splitlines() if re.match(pattern, line)]
    if not lines:
        return "no address lines"
    bad = [line for line in lines if re.search(r"[1-9a-fA-F]", re.match(pattern, line).group(1))]
    return len(bad)


def pagemap_pfn():
    m = mmap.mmap(-1, 4096)
    m[0] = 1  # present
    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
    try:
        with open("/proc/self/pagemap", "rb") as f:
            f.seek(addr // 4096 * 8)
            entry = struct.unpack("Q", f.read(8))[0]
    except OSError as e:
        return "unreadable: " + err(e)
    if not entry >> 63:
        return "page not present (test could not look)"
    return entry & ((1 << 55) - 1)


def main():
    return {
        "open /proc/kcore": read_open("/proc/kcore"),
        "kallsyms lines with an address": nonzero_addresses("/proc/kallsyms", r"^([0-9a-fA-F]+) "),
        "iomem lines with an address": nonzero_addresses("/proc/iomem", r"^\s*([0-9a-fA-F]+-[0-9a-fA-F]+) :"),
        "ioports lines with an address": nonzero_addresses("/proc/ioports", r"^\s*([0-9a-fA-F]+-[0-9a-fA-F]+) :"),
        "pagemap PFN of a present page": pagemap_pfn(),
        "read /proc/kmsg": read_open("/proc/kmsg"),
        "read /proc/self/stack": read_open("/proc/self/stack"),
        "read /proc/slabinfo": read_open("/proc/slabinfo"),
        "read /proc/vmallocinfo": read_open("/proc/vmallocinfo"),
        "read /proc/kpageflags": read_open("/proc/kpageflags"),
    }
