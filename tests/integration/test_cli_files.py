#!/usr/bin/python3
"""pexos-run's --file, --output and --save-to (SPEC §6), speaking TAP.

usage: /usr/bin/python3 tests/integration/test_cli_files.py PEXOS_RUN

Real runs, cold and warm (--pool 1): files in byte-exact (text, binary, a
directory, PATH=NAME), files and figures out (saved under --save-to, the
PNG header decoded), -r, a batch with JUnit, and --save-to never writing
outside its directory (a symlink and a FIFO planted in it). The crafted
responses (../x, absolute paths) are tests/unit/test_cli_files.c: no
sandbox can be made to answer them.
"""

import base64
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import (Problems, binary_missing, exit_cleaning,  # noqa: E402
                     registrar, run_tap)

PEXOS_RUN = None
WORK = tempfile.mkdtemp(prefix="pexos-test-cli-files-")
BINARY = bytes(range(256)) * 4 + b"\r\n\x00end"
CASES = []


class Run:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def describe(self):
        return [f"command: {' '.join(self.argv)}", f"exit: {self.rc}",
                f"stdout: {self.out[:600]!r}", f"stderr: {self.err[:600]!r}"]


case = registrar(CASES)


def pexos(c, *args, cwd=None):
    argv = [PEXOS_RUN, *args]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120, cwd=cwd)
    run = Run(argv, p.returncode, p.stdout, p.stderr)
    c.runs.append(run)
    return run


def tree(name):
    """A fresh directory under WORK with the input files of the cases."""
    top = os.path.join(WORK, name)
    os.makedirs(os.path.join(top, "data", "sub"))
    with open(os.path.join(top, "data", "a.csv"), "w") as f:
        f.write("x,y\n1,2\n")
    with open(os.path.join(top, "data", "sub", "b.bin"), "wb") as f:
        f.write(BINARY)
    os.symlink("/etc/passwd", os.path.join(top, "data", "link"))
    with open(os.path.join(top, "note=1.txt"), "w") as f:
        f.write("naïve\n")
    return top


SCRIPT = """import hashlib, os
import matplotlib.pyplot as plt

def main():
    os.makedirs('out/deep', exist_ok=True)
    got = {}
    for root, dirs, files in os.walk('in'):
        for n in files:
            p = os.path.join(root, n)
            got[p] = hashlib.sha256(open(p, 'rb').read()).hexdigest()
    open('out/deep/b.bin', 'wb').write(open('in/sub/b.bin', 'rb').read())
    open('out/note.txt', 'w').write(open('renamed/n.txt').read())
    fig = plt.figure(figsize=(3, 2), dpi=70)
    plt.plot([1, 2, 3])
    plt.show()
    return got
"""


def sha(data):
    return hashlib.sha256(data).hexdigest()


def png_size(data):
    """(width, height) from a PNG's IHDR, or None."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


def round_trip(c, pool):
    top = tree(f"rt{pool}")
    script = os.path.join(top, "s.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    save = os.path.join(top, "saved")
    run = pexos(c, "--pool", pool, "--pool-wait", "60", "--file", "data=in",
                "--file",
                "note=1.txt=renamed/n.txt", "--output", "out/**",
                "--save-to", save, "--stats", script, cwd=top)
    if not c.expect(run.rc == 0, f"exit {run.rc}, want 0"):
        return
    resp = json.loads(run.out)
    c.expect(resp["result"] == {"in/a.csv": sha(b"x,y\n1,2\n"),
                                "in/sub/b.bin": sha(BINARY)},
             f"the sandbox saw {resp['result']} (a symlink is not sent)")
    c.expect(resp["stats"]["pooled"] == (pool != "0"),
             f"pooled is {resp['stats']['pooled']}")
    files = {f["path"]: f for f in resp.get("files", [])}
    c.expect(sorted(files) == ["out/deep/b.bin", "out/note.txt"],
             f"files {sorted(files)}")
    for path, want in (("out/deep/b.bin", BINARY),
                       ("out/note.txt", "naïve\n".encode())):
        e = files.get(path, {})
        c.expect("content_base64" not in e and
                 e.get("saved_to") == f"{save}/{path}",
                 f"{path}: {e}")
        with open(os.path.join(save, path), "rb") as f:
            c.expect(f.read() == want, f"{path} saved is not byte-exact")
    fig = resp.get("figures", [{}])[0]
    c.expect(fig.get("saved_to") == f"{save}/figure-1.png", f"figure {fig}")
    with open(os.path.join(save, "figure-1.png"), "rb") as f:
        size = png_size(f.read())
    c.expect(size == (210, 140) and (fig.get("width"), fig.get("height"))
             == size, f"PNG header says {size}, response {fig}")


@case("--file/--output/--save-to round trip, cold")
def _(c):
    round_trip(c, "0")


@case("--file/--output/--save-to round trip, warm (--pool 1)")
def _(c):
    round_trip(c, "1")


@case("--output without --save-to: base64 in the response, byte-exact")
def _(c):
    top = tree("b64")
    req = os.path.join(top, "r.json")
    with open(req, "w") as f:
        json.dump({"script": "def main():\n    return 1\n"}, f)
    run = pexos(c, "--file", os.path.join(top, "data", "sub", "b.bin"),
                "--output", "*.bin", "--json", req)
    resp = json.loads(run.out) if run.rc == 0 else {}
    got = resp.get("files", [{}])[0]
    c.expect(got.get("path") == "b.bin" and
             base64.b64decode(got.get("content_base64", "")) == BINARY,
             f"files {str(resp.get('files'))[:200]}")


@case("-r with --save-to prints only the result, the files are saved")
def _(c):
    top = tree("r")
    script = os.path.join(top, "s.py")
    with open(script, "w") as f:
        f.write("def main():\n    open('o.txt', 'w').write('o')\n"
                "    return [1, 0.1]\n")
    run = pexos(c, "-r", "--output", "o.txt", "--save-to", "d", script,
                cwd=top)
    c.expect(run.rc == 0 and run.out == b"[1,0.1]\n", "stdout is the result")
    c.expect(os.path.exists(os.path.join(top, "d", "o.txt")), "o.txt saved")


@case("a batch saves under DIR/<script name>/, JUnit lists the files")
def _(c):
    top = tree("batch")
    names = []
    for n in ("a.py", "b.py"):
        with open(os.path.join(top, n), "w") as f:
            f.write(f"def main():\n    open('out.txt', 'w').write('{n}')\n"
                    f"    return open('in/a.csv').read()\n")
        names.append(os.path.join(top, n))
    junit = os.path.join(top, "j.xml")
    run = pexos(c, "--file", "data=in", "--output", "out.txt", "--save-to",
                "d", "--junit", junit, *names, cwd=top)
    c.expect(run.rc == 0, f"exit {run.rc}")
    for n in ("a.py", "b.py"):
        p = os.path.join(top, "d", n, "out.txt")
        c.expect(os.path.exists(p) and open(p).read() == n, f"{p}")
    lines = [json.loads(x) for x in run.out.splitlines()]
    c.expect(all(x["files"][0].get("saved_to", "").startswith("d/")
                 for x in lines), f"{lines}")
    xml = open(junit).read()
    c.expect(xml.count("output file: out.txt (saved to d/") == 2,
             f"JUnit: {xml[:800]}")


def plain_script(name):
    s = os.path.join(WORK, name)
    with open(s, "w") as f:
        f.write("def main():\n    return 1\n")
    return s


@case("--file that cannot be read: InvalidRequest, exit 2, nothing runs")
def _(c):
    run = pexos(c, "--file", os.path.join(WORK, "missing"),
                plain_script("ok.py"))
    resp = json.loads(run.out or b"{}")
    c.expect(run.rc == 2 and resp.get("type") == "InvalidRequest" and
             "missing" in resp.get("error", ""), "InvalidRequest naming it")


@case("--file NAME with '..': the library's InvalidRequest, exit 2")
def _(c):
    s = plain_script("ok2.py")
    run = pexos(c, "--file", f"{s}=../escape.py", s)
    resp = json.loads(run.out or b"{}")
    c.expect(run.rc == 2 and "has a \"..\" component" in resp.get("error", ""),
             "InvalidRequest naming the path")


@case("--save-to never follows a symlink or opens a FIFO planted in DIR")
def _(c):
    top = tree("planted")
    victim = os.path.join(top, "victim.txt")
    with open(victim, "w") as f:
        f.write("untouched")
    os.makedirs(os.path.join(top, "d"))
    os.symlink(victim, os.path.join(top, "d", "o.txt"))
    os.symlink(os.path.join(top, "data"), os.path.join(top, "d", "sub"))
    os.mkfifo(os.path.join(top, "d", "f.txt"))
    script = os.path.join(top, "s.py")
    with open(script, "w") as f:
        f.write("import os\n\ndef main():\n    os.makedirs('sub')\n"
                "    for p in ('o.txt', 'f.txt', 'sub/a.csv', 'ok.txt'):\n"
                "        open(p, 'w').write('evil')\n    return 1\n")
    run = pexos(c, "--output", "*.txt", "--output", "sub/*", "--save-to",
                "d", script, cwd=top)
    c.expect(run.rc == 3, f"exit {run.rc}, want 3 (not all saved)")
    c.expect(open(victim).read() == "untouched", "the symlink was followed")
    c.expect(open(os.path.join(top, "data", "a.csv")).read() == "x,y\n1,2\n",
             "the symlinked directory was entered")
    c.expect(open(os.path.join(top, "d", "ok.txt")).read() == "evil",
             "the safe file was not saved")
    resp = json.loads(run.out or b"{}")
    not_saved = sorted(e["path"] for e in resp.get("files", [])
                       if "not_saved" in e)
    c.expect(not_saved == ["f.txt", "o.txt", "sub/a.csv"],
             f"not_saved: {not_saved}")


def main():
    global PEXOS_RUN
    if len(sys.argv) == 2:
        PEXOS_RUN = os.path.abspath(sys.argv[1])
        return binary_missing(PEXOS_RUN) or run_tap(CASES, Problems)
    print(f"usage: {sys.argv[0]} PEXOS_RUN", file=sys.stderr)
    return 2


if __name__ == "__main__":
    exit_cleaning(main, WORK)
