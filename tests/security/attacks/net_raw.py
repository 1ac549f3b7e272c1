# Raw and packet sockets need CAP_NET_RAW, which the sandbox does not have:
# each socket() must fail with EPERM. (A raw socket in the run's own netns
# would reach nothing, but getting one would mean a capability leaked.)
import errno
import socket

ETH_P_ALL = 0x0003


def try_socket(*args):
    try:
        socket.socket(*args).close()
        return "created"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def main():
    return {
        "AF_INET SOCK_RAW ICMP": try_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
        "AF_INET SOCK_RAW RAW": try_socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW),
        "AF_INET6 SOCK_RAW ICMPV6": try_socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6),
        "AF_PACKET SOCK_RAW": try_socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)),
        "AF_PACKET SOCK_DGRAM": try_socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL)),
    }
