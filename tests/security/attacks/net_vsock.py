# AF_VSOCK is not network-namespaced: on a VM host (Firecracker, QEMU, cloud
# VMs) a vsock socket reaches the hypervisor side whatever netns the process
# is in, which would break "no network at all". The sandbox must not hand out
# vsock sockets: socket(AF_VSOCK) fails (EPERM from the seccomp filter, or
# EAFNOSUPPORT where the kernel has no vsock). Nothing is connected to.
import errno
import socket


def try_socket(kind):
    try:
        socket.socket(socket.AF_VSOCK, kind).close()
        return "created"
    except OSError as e:
        return errno.errorcode.get(e.errno, "errno %s" % e.errno)


def main():
    return {
        "AF_VSOCK SOCK_STREAM": try_socket(socket.SOCK_STREAM),
        "AF_VSOCK SOCK_DGRAM": try_socket(socket.SOCK_DGRAM),
        "AF_VSOCK SOCK_SEQPACKET": try_socket(socket.SOCK_SEQPACKET),
    }
