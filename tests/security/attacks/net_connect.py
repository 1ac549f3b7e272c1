# Outbound network from inside the sandbox. The run has its own network
# namespace whose only interface is its own loopback, up, with 127.0.0.1 and
# ::1 and no route anywhere else: IPv4 and IPv6 connect/sendto to the
# outside fail with ENETUNREACH, and the loopback addresses answer from the
# run's own namespace, where nothing listens: ECONNREFUSED (the host's own
# 127.0.0.1 is another namespace: net_host_listeners, net_host_loopback).
# A timeout or a connection would mean packets can leave.
import errno
import socket


def _err(e):
    if isinstance(e, socket.timeout):
        return "timed out"
    return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def tcp(family, addr):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(addr)
        return "connected"
    except OSError as e:
        return _err(e)
    finally:
        s.close()


def udp(family, addr):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(3)
    try:
        s.sendto(b"pexos", addr)
        return "sent"
    except OSError as e:
        return _err(e)
    finally:
        s.close()


def main():
    v4, v6 = socket.AF_INET, socket.AF_INET6
    return {
        "tcp 1.1.1.1:53": tcp(v4, ("1.1.1.1", 53)),
        "udp 1.1.1.1:53": udp(v4, ("1.1.1.1", 53)),
        "tcp 127.0.0.1:53": tcp(v4, ("127.0.0.1", 53)),
        "tcp [2606:4700::1111]:53": tcp(v6, ("2606:4700::1111", 53)),
        "udp [2606:4700::1111]:53": udp(v6, ("2606:4700::1111", 53)),
        "tcp [::1]:53": tcp(v6, ("::1", 53)),
    }
