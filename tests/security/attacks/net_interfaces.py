# The interfaces the run can see (glibc's if_nameindex is a netlink
# RTM_GETLINK dump): only "lo", up (the run's init or the warm slot brought
# it up before dropping its privileges). Changing it (here: taking it down)
# needs CAP_NET_ADMIN in the netns's owner user namespace, which the script
# does not have: EPERM, and lo stays up.
import errno
import fcntl
import socket
import struct

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def main():
    names = sorted(name for _, name in socket.if_nameindex())
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flags = struct.unpack_from("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0)))[1]
    try:
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags & ~IFF_UP))
        set_down = "succeeded"
    except OSError as e:
        set_down = errno.errorcode.get(e.errno, "errno %s" % e.errno)
    after = struct.unpack_from("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH22x", b"lo", 0)))[1]
    s.close()
    return {"interfaces": names, "lo_up": bool(flags & IFF_UP), "set lo down": set_down,
            "lo_up after": bool(after & IFF_UP)}
