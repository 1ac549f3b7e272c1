#!/usr/bin/python3
"""JSON conversion rules of lib/runner.py (SPEC §2), run directly without a
sandbox: the runner reads the script on fd 4 and answers on fd 3. TAP."""
import fcntl
import json
import os
import subprocess
import sys

RUNNER = sys.argv[1]
SOURCE = open(RUNNER).read()
n = failed = 0


def run(script, result_max=1 << 20):
    sr, sw = os.pipe()
    rr, rw = os.pipe()
    os.write(sw, script.encode("utf-8", "surrogateescape"))
    os.close(sw)
    # Out of the way of 3 and 4 before the child places them there.
    hi_sr, hi_rw = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (sr, rw))
    os.close(sr)
    os.close(rw)
    sr, rw = hi_sr, hi_rw

    def place_fds():  # in the child: result channel on 3, script on 4
        os.dup2(rw, 3)
        os.dup2(sr, 4)

    p = subprocess.Popen(["/usr/bin/python3", "-I", "-B", "-S", "-c", SOURCE,
                          str(result_max)], close_fds=False,
                         preexec_fn=place_fds, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    os.close(sr)
    os.close(rw)
    data = b""
    while chunk := os.read(rr, 65536):
        data += chunk
    os.close(rr)
    p.wait()
    head, _, body = data.partition(b"\n")
    return json.loads(head), body.decode()


def check(what, script, want_header, want_body=None):
    global n, failed
    n += 1
    try:
        header, body = run(script)
        ok = all(header.get(k) == v for k, v in want_header.items())
        if want_body is not None:
            ok = ok and body == want_body
    except Exception as e:  # noqa: BLE001
        header, body, ok = repr(e), "", False
    print(f"{'ok' if ok else 'not ok'} {n} - {what}")
    if not ok:
        failed += 1
        print(f"# header {header!r}\n# body {body!r}")


OK = {"ok": True}


def refused(msg):
    return {"type": "NotSerializable", "error": msg}


check("plain values, compact text", "def main(): return {'a': [1, 2.5, None, True, 'x']}",
      OK, '{"a":[1,2.5,null,true,"x"]}')
check("non-ASCII stays UTF-8", "def main(): return 'é✓'", OK, '"é✓"')
check("tuples become lists", "def main(): return (1, (2,))", OK, "[1,[2]]")
check("numpy scalars", "import numpy as np\ndef main(): return [np.int8(-3), np.uint64(2**64-1), np.float16(0.5), np.bool_(False)]",
      OK, "[-3,18446744073709551615,0.5,false]")
check("numpy arrays, nested", "import numpy as np\ndef main(): return np.array([[1, 2], [3, 4]], dtype=np.int32)",
      OK, "[[1,2],[3,4]]")
check("bool subclass of int stays bool", "def main(): return [True, 1]", OK, "[true,1]")
check("int subclasses become int", "import enum\nclass E(enum.IntEnum):\n    A = 4\ndef main(): return E.A", OK, "4")
check("set is refused with its path", "def main(): return {'a': {'b': [0, {1}]}}",
      refused('result["a"]["b"][1] is a set, which JSON cannot represent'))
check("frozenset", "def main(): return frozenset()", refused("result is a frozenset, which JSON cannot represent"))
check("bytearray", "def main(): return [bytearray()]", refused("result[0] is a bytearray, which JSON cannot represent"))
check("complex", "def main(): return 1j", refused("result is a complex number, which JSON cannot represent"))
check("-Infinity", "def main(): return {'x': -float('inf')}",
      refused('result["x"] is -inf, which strict JSON cannot represent'))
check("numpy NaN inside an array", "import numpy as np\ndef main(): return np.array([1.0, np.nan])",
      refused("result[1] is nan, which strict JSON cannot represent"))
check("numpy array of objects", "import numpy as np\ndef main(): return np.array(['a'])",
      refused("result is a numpy array of dtype <U1, which JSON cannot represent"))
check("tuple key", "def main(): return {(1, 2): 3}",
      refused("result has a key (1, 2) of type tuple; JSON object keys must be strings"))
check("key with quotes is escaped in the path", "def main(): return {'a\"b': {1}}",
      refused('result["a\\"b"] is a set, which JSON cannot represent'))
check("pandas Index", "import pandas as pd\ndef main(): return pd.Index([1])",
      {"type": "NotSerializable"})
check("lone surrogate", "def main(): return '\\ud800'",
      refused("result contains a string that is not valid Unicode (a lone surrogate)"))
check("deep nesting", "def main():\n    x = []\n    for _ in range(100000):\n        x = [x]\n    return x",
      refused("result is nested too deeply to serialise"))
check("shared (non-cyclic) references are fine", "def main():\n    a = [1]\n    return [a, a]", OK, "[[1],[1]]")
check("result exactly at the limit", "def main(): return 'x' * (1048576 - 2)", OK)
check("result one byte over the limit", "def main(): return 'x' * (1048576 - 1)",
      {"type": "ResultTooLarge", "error": "the result is 1048577 bytes as JSON, over the limit of 1048576 bytes"})
check("KeyboardInterrupt is a ScriptError", "def main(): raise KeyboardInterrupt",
      {"type": "ScriptError", "error": "KeyboardInterrupt"})
check("source with invalid UTF-8", "x = '\udcff'", {"type": "SyntaxError"})
check("exit() works without the site module", "def main(): exit(4)",
      {"type": "ScriptError", "error": "SystemExit: 4"})
check("Debian's packages are importable", "import numpy, pandas\ndef main(): return 1", OK, "1")
check("lone surrogate in an error message", "def main(): raise ValueError('\\udc80')",
      {"type": "ScriptError", "error": "ValueError: ?"})
check("bound method as main", "class A:\n    def m(self): return 5\nmain = A().m", OK, "5")
check("keyword-only parameter is required", "def main(*, k): pass",
      {"type": "InvalidMain", "error": "main() must take no arguments, but it requires 'k'"})
check("callable object as main", "class M:\n    def __call__(self): return 6\nmain = M()", OK, "6")
print(f"1..{n}")
sys.exit(1 if failed else 0)
