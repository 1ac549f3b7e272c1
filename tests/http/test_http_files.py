#!/usr/bin/python3
"""Files in, files and figures out over HTTP (SPEC §1, §3), speaking TAP.

usage: /usr/bin/python3 tests/http/test_http_files.py PEXOS_HTTPD

Three real daemons on 127.0.0.1: cold (--pool 0), warm (--pool 1), and
cold with a 1 MiB /tmp (input files it cannot hold).
Byte-exact round trips, a chart whose PNG header is decoded, 16 MiB of
input under the default body limit, the 413 past the input limit, planted
symlinks and FIFOs, "figures": false, and /health's file limits.
"""

import base64
import hashlib
import json
import os
import struct
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (Daemon, DaemonFailed, Problems,  # noqa: E402
                     binary_missing, exit_cleaning, registrar, request,
                     run_tap)

EXE = None
WORK = tempfile.mkdtemp(prefix="pexos-test-http-files-")
DAEMONS = {}
CASES = []
MIB = 1 << 20


case = registrar(CASES)


def port(kind):
    d = DAEMONS.get(kind)
    if d is None:
        pool = {"cold": ["--pool", "0"], "tiny": ["--pool", "0", "--tmp", "1"],
                "warm": ["--pool", "1", "--pool-wait", "60"]}[kind]
        d = DAEMONS[kind] = Daemon(EXE, kind, ["--workers", "1", *pool])
        d.start()
    return d.port


def execute(kind, req):
    body = json.dumps(req).encode()
    return request(port(kind), "POST", "/execute", body=body,
                   headers={"Content-Type": "application/json"}, timeout=120)


def png_size(data):
    """(width, height) from a PNG's IHDR, or None."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


BINARY = bytes(range(256)) * 8
CHART = """import matplotlib.pyplot as plt
import pandas as pd

def main():
    df = pd.read_csv('in/sales.csv')
    fig, ax = plt.subplots(figsize=(5, 4), dpi=60)
    df.plot(x='month', y='total', ax=ax)
    plt.show()
    df.to_csv('out/copy.csv', index=False)
    open('out/raw.bin', 'wb').write(open('in/raw.bin', 'rb').read())
    return int(df.total.sum())
"""


def round_trip(c, kind):
    csv = "month,total\n1,10\n2,14\n3,9\n"
    r = execute(kind, {
        "script": "import os\nos.makedirs('out')\n" + CHART,
        "files": [{"path": "in/sales.csv", "content": csv},
                  {"path": "in/raw.bin",
                   "content_base64": base64.b64encode(BINARY).decode()}],
        "outputs": ["out/*"], "stats": True, "timeout": 30})
    if not c.expect(r.status == 200, f"status {r.status}: {r.body[:300]}"):
        return
    resp = r.json()
    c.expect(resp["result"] == 33, f"result {resp['result']}")
    c.expect(resp["stats"]["pooled"] == (kind == "warm"), "pooled")
    files = {f["path"]: base64.b64decode(f["content_base64"])
             for f in resp.get("files", [])}
    c.expect(files == {"out/copy.csv": csv.encode(), "out/raw.bin": BINARY},
             f"files {list(files)}")
    figs = resp.get("figures", [])
    if c.expect(len(figs) == 1, f"{len(figs)} figures"):
        size = png_size(base64.b64decode(figs[0]["content_base64"]))
        c.expect(size == (300, 240) == (figs[0]["width"], figs[0]["height"]),
                 f"PNG header {size}, response {figs[0]['width']}x"
                 f"{figs[0]['height']}, want 300x240")


@case("CSV in, chart and files out, byte-exact, cold")
def _(c):
    round_trip(c, "cold")


@case("CSV in, chart and files out, byte-exact, warm")
def _(c):
    round_trip(c, "warm")


@case("16 MiB of input files fit the default body limit, byte-exact")
def _(c):
    data = os.urandom(16 * MIB - 64)
    r = execute("cold", {
        "script": "import hashlib\n\ndef main():\n    return hashlib.sha256("
                  "open('big.bin', 'rb').read()).hexdigest()\n",
        "files": [{"path": "big.bin",
                   "content_base64": base64.b64encode(data).decode()}]})
    c.expect(r.status == 200 and r.json().get("result") ==
             hashlib.sha256(data).hexdigest(), f"{r.status} {r.body[:300]}")


@case("413 InvalidRequest past the input limit, naming the field")
def _(c):
    r = execute("cold", {"script": "def main():\n    return 1\n",
                         "files": [{"path": "a", "content": "x" * (8 * MIB)},
                                   {"path": "b", "content": "x" * (8 * MIB)},
                                   {"path": "c", "content": "x"}]})
    c.expect(r.status == 413 and r.json().get("type") == "InvalidRequest" and
             "files" in r.json().get("error", ""), f"{r.status} {r.body[:300]}")


@case("400 InvalidRequest: an input path with '..', nothing runs")
def _(c):
    r = execute("warm", {"script": "def main():\n    return 1\n",
                         "files": [{"path": "x/../../y", "content": "x"}]})
    c.expect(r.status == 400 and "has a \"..\" component" in
             r.json().get("error", ""), f"{r.status} {r.body[:300]}")


@case("planted symlinks, /proc/self links and a FIFO: omitted, the run answers")
def _(c):
    for kind in ("cold", "warm"):
        r = execute(kind, {
            "script": "import os\n\ndef main():\n"
                      "    os.symlink('/proc/self/environ', 'a.txt')\n"
                      "    os.symlink('/proc/self/cwd', 'd')\n"
                      "    os.mkfifo('f.txt')\n"
                      "    return 1\n",
            "outputs": ["*.txt", "d/*", "d"], "timeout": 10})
        if not c.expect(r.status == 200, f"{kind}: {r.status} {r.body[:200]}"):
            continue
        got = {f["path"]: f.get("omitted") for f in r.json().get("files", [])}
        c.expect(got == {"a.txt": "a symbolic link (not followed)",
                         "d": "a symbolic link (not followed)",
                         "f.txt": "a FIFO (not opened)"}, f"{kind}: {got}")


RACER = """
import os
while True:
    for make in (lambda: os.symlink('/proc/self/environ', 't'),
                 lambda: os.mkfifo('t'),
                 lambda: open('t', 'w').write('safe')):
        try:
            make()
            os.replace('t', 'race.txt')
        except OSError:
            pass
"""


@case("a file swapped for a symlink or FIFO while it is collected: never read")
def _(c):
    src = ("import os, subprocess, sys\n\ndef main():\n"
           "    open('race.txt', 'w').write('safe')\n"
           f"    subprocess.Popen([sys.executable, '-c', {RACER!r}])\n"
           "    return 1\n")
    for kind in ("cold", "warm"):
        for _ in range(3):
            r = execute(kind, {"script": src, "outputs": ["race.txt"],
                               "timeout": 10})
            if not c.expect(r.status == 200, f"{kind}: {r.status}"):
                break
            for f in r.json().get("files", []):
                data = base64.b64decode(f.get("content_base64", ""))
                c.expect(data in (b"", b"safe"), f"{kind}: read {data[:80]}")


@case("a script that rewrites the runner's collector to name ../x: refused")
def _(c):
    fake = "{\"path\":\"../x\",\"size\":1,\"len\":1}"
    src = ("import sys\n\ndef main():\n"
           "    g = sys._getframe(1).f_globals\n"
           f"    g['_outputs'] = lambda: ([{fake!r}], [b'x'], 0)\n"
           "    return 1\n")
    for kind in ("cold", "warm"):
        r = execute(kind, {"script": src, "outputs": ["*"], "timeout": 10})
        body = r.body.decode()
        c.expect("../x" not in body and r.json().get("type") == "ScriptError",
                 f"{kind}: {r.status} {body[:300]}")


@case("\"figures\": false: no figures; a ScriptError still carries them")
def _(c):
    src = ("import matplotlib.pyplot as plt\n\ndef main():\n"
           "    plt.plot([1, 2])\n    {}\n")
    r = execute("warm", {"script": src.format("return 1"), "figures": False,
                         "timeout": 30})
    c.expect(r.status == 200 and "figures" not in r.json(), f"{r.body[:200]}")
    r = execute("warm", {"script": src.format("1 / 0"), "timeout": 30})
    c.expect(r.status == 422 and len(r.json().get("figures", [])) == 1,
             f"{r.status} {r.body[:200]}")


@case("input files the run's /tmp cannot hold: InvalidRequest, nothing runs")
def _(c):
    # 100 files of 10 KiB are 1,024,000 bytes, under --tmp 1 (1 MiB) as
    # bytes, but 3 pages each on the tmpfs: the 86th cannot be written.
    files = [{"path": f"f{i:03d}", "content": "x" * 10000} for i in range(100)]
    r = execute("tiny", {"script": "print('ran')\ndef main():\n    return 1\n",
                         "files": files})
    resp = r.json()
    c.expect(r.status == 400 and resp.get("type") == "InvalidRequest" and
             "No space left on device" in resp.get("error", "") and
             "stdout" not in resp, f"{r.status} {r.body[:300]}")


@case("/health shows the file and figure limits")
def _(c):
    r = request(port("cold"), "GET", "/health")
    lim = json.loads(r.body).get("isolation", {}).get("file_limits")
    c.expect(lim == {"in_files": 100, "in_files_max": 16 * MIB,
                     "out_file_max": 8 * MIB, "out_files_max": 16 * MIB,
                     "figures": 20, "figure_max": 4 * MIB}, f"{lim}")


def main():
    global EXE
    if len(sys.argv) == 2:
        EXE = os.path.abspath(sys.argv[1])
        try:
            return binary_missing(EXE) or run_tap(CASES, Problems)
        except DaemonFailed as e:
            print(f"not ok 1 - the daemon starts: {e}\n1..1")
            return 1
        finally:
            for d in DAEMONS.values():
                d.stop()
    print(f"usage: {sys.argv[0]} PEXOS_HTTPD", file=sys.stderr)
    return 2


if __name__ == "__main__":
    exit_cleaning(main, WORK)
