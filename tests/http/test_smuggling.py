#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Request smuggling and RFC 9112 framing, sent raw over a socket to
pexos-httpd. TAP.

    test_smuggling.py PEXOS_HTTPD

Each case sends one request whose body (or what follows its headers)
holds a second request, GET /smuggled, and asserts the exact status of
the first answer, that exactly one answer came, and that the daemon never
answered a request for /smuggled (its 404 counter did not move)."""
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import Daemon, case_list, request, run_tap  # noqa: E402

EXE = sys.argv[1]
CASES, case = case_list()
BODY = b'{"script":"def main():\\n    return 1"}'
HEAD = b"POST /execute HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
DAEMON = None


def chunk(data):
    return b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)


def send(data, timeout=10):
    """The bytes that came back until the daemon closed or went quiet, and
    whether it closed."""
    s = socket.create_connection(("127.0.0.1", DAEMON.port), timeout=timeout)
    out, closed = b"", False
    try:
        s.sendall(data)
        s.settimeout(3)
        while True:
            got = s.recv(65536)
            if not got:
                closed = True
                break
            out += got
    except ConnectionResetError:
        closed = True
    except OSError:
        pass
    finally:
        s.close()
    return out, closed


def not_found_count():
    text = request(DAEMON.port, "GET", "/metrics").body.decode()
    m = re.search(r'^pexos_http_responses_total\{code="404"\} (\d+)$', text, re.M)
    return int(m.group(1)) if m else -1


def mhd_version():
    """The libmicrohttpd the daemon runs with (the system's), as (major,
    minor)."""
    import ctypes
    lib = ctypes.CDLL("libmicrohttpd.so.12")
    lib.MHD_get_version.restype = ctypes.c_char_p
    return tuple(int(x) for x in lib.MHD_get_version().decode().split(".")[:2])


# libmicrohttpd 1.0 (Debian 13) refuses some of these itself, before the
# daemon's code runs: 400 with its own HTML body, the connection closed.
MHD_1 = mhd_version() >= (1, 0)


def framing(description, data, status, own=True, mhd_1=None):
    """own: the answer is the daemon's (JSON, one status line); else
    libmicrohttpd answers before the daemon's code runs. mhd_1: the status
    libmicrohttpd 1.0 answers itself with, where it does."""
    if MHD_1 and mhd_1 is not None:
        status, own = mhd_1, False
        description += f" (libmicrohttpd 1.0: {mhd_1}, its own answer)"

    @case(description)
    def _(c):
        before = not_found_count()
        out, closed = send(data)
        lines = re.findall(rb"^HTTP/1\.1 (\d{3})", out, re.M)
        c.expect(lines and int(lines[0]) == status,
                 f"status {lines[:1]}, want {status}: {out[:300]!r}")
        if own and status != 200:
            c.expect(closed, "the connection was left open after a framing error")
        if own:
            c.expect(len(lines) == 1, f"{len(lines)} status lines: {out[:400]!r}")
            c.expect(status == 200 or b'"type":"InvalidRequest"' in out,
                     f"not the daemon's JSON error: {out[-200:]!r}")
        c.expect(not_found_count() == before,
                 "the request hidden in the body was answered (404 counter moved)")


framing("CL.CL: two Content-Length headers -> 400, connection closed",
        HEAD + b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(BODY), len(BODY) + len(SMUGGLED))
        + BODY + SMUGGLED, 400)
framing("CL.TE: Content-Length then Transfer-Encoding: chunked -> 400",
        HEAD + b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % (len(chunk(BODY)) + len(SMUGGLED))
        + chunk(BODY) + SMUGGLED, 400)
framing("TE.CL: Transfer-Encoding: chunked then Content-Length -> 400",
        HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n" + chunk(BODY) + SMUGGLED, 400)
framing("TE.TE: chunked twice, one of them obfuscated (identity) -> 501",
        HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n" + chunk(BODY) + SMUGGLED, 501)
framing("TE.TE: 'Transfer-Encoding : chunked' (space before the colon) -> 400",
        HEAD + b"Transfer-Encoding : chunked\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY + SMUGGLED, 400, mhd_1=400)
framing("TE: xchunked -> 501",
        HEAD + b"Transfer-Encoding: xchunked\r\n\r\n" + chunk(BODY) + SMUGGLED, 501, mhd_1=400)
framing("TE: gzip -> 501",
        HEAD + b"Transfer-Encoding: gzip\r\n\r\n" + BODY + SMUGGLED, 501, mhd_1=400)
framing("TE: 'chunked, identity' in one header -> 501",
        HEAD + b"Transfer-Encoding: chunked, identity\r\n\r\n" + chunk(BODY) + SMUGGLED, 501, mhd_1=400)
framing("Content-Length as a list '38, 38' -> 400 (libmicrohttpd answers itself)",
        HEAD + b"Content-Length: %d, %d\r\n\r\n" % (len(BODY), len(BODY)) + BODY + SMUGGLED, 400, own=False)
framing("Content-Length not a number -> 400 (libmicrohttpd answers itself)",
        HEAD + b"Content-Length: abc\r\n\r\n" + BODY + SMUGGLED, 400, own=False)
framing("bare LF line ends: read as line ends (RFC 9112 2.2 allows it) -> 200, one answer",
        HEAD.replace(b"\r\n", b"\n") + b"Content-Length: %d\n\n" % len(BODY) + BODY, 200)
framing("obsolete line folding: joined by libmicrohttpd (RFC 9112 5.2 allows it) -> 200, one answer",
        HEAD + b"X-A: a\r\n b\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY) + BODY, 200)
framing("a NUL in a header value: cut there by libmicrohttpd 0.9.75 before the daemon sees it -> 200, one answer",
        HEAD + b"X-A: a\x00b\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(BODY) + BODY, 200, mhd_1=400)


def main():
    global DAEMON
    DAEMON = Daemon(EXE, "smuggling", args=["--workers", "1", "--pool", "0"])
    DAEMON.start()
    try:
        return run_tap(CASES)
    finally:
        DAEMON.stop()


if __name__ == "__main__":
    sys.exit(main())
