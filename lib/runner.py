# SPDX-License-Identifier: MIT
# The Python side of pexos, embedded into libpexos and run inside the sandbox
# as `python3 -I -B -S -c <this file> RESULT_MAX`.
#
# File descriptors, set up by the sandbox before exec (numbers: proto.h):
#   0 stdin, 1 stdout, 2 stderr  the script's own
#   FD_RESULT  result channel: one header line of JSON, then (on success)
#              the result as JSON text
#   FD_SCRIPT  the script's source (UTF-8), read once and closed
#
# In a pooled sandbox the zygote (zygote.py) executes this file as a module
# instead, sets _CHANNEL and _RESULT_MAX itself and calls _main(source).
#
# Header: {"ok": true} or {"type": T, "error": MESSAGE[, "traceback": TB]}
# with T one of SyntaxError, MissingMain, InvalidMain, ScriptError,
# NotSerializable, ResultTooLarge. Everything else (timeouts, signals, memory)
# is judged by the library from outside.
import os
import sys

# proto: begin (generated from lib/proto.h by lib/proto_py.py; do not edit)
FD_RESULT = 3
FD_SCRIPT = 4
# proto: end


def _take_fds():
    """Read the script and keep the result channel out of the script's way:
    both are closed on exec so a child process of the script gets neither."""
    with open(FD_SCRIPT, "rb", closefd=True) as f:
        source = f.read()
    os.set_inheritable(FD_RESULT, False)
    return source, open(FD_RESULT, "wb", buffering=0, closefd=True)


_CHANNEL = None
_RESULT_MAX = 0
_RUNNER_FILE = sys._getframe().f_code.co_filename


def _site():
    """What the site module would do that scripts rely on, without its cost
    (about 14 ms a start): Debian's package directories on sys.path, and the
    exit()/quit() builtins. .pth files are not processed."""
    import builtins
    v = f"{sys.version_info[0]}.{sys.version_info[1]}"
    for d in (f"/usr/local/lib/python{v}/dist-packages",
              "/usr/lib/python3/dist-packages",
              f"/usr/lib/python{v}/dist-packages"):
        if d not in sys.path and os.path.isdir(d):
            sys.path.append(d)

    class _Quitter:
        def __init__(self, name):
            self.name = name

        def __repr__(self):
            return f"Use {self.name}() to exit"

        def __call__(self, code=None):
            raise SystemExit(code)

    for name in ("exit", "quit"):
        if not hasattr(builtins, name):
            setattr(builtins, name, _Quitter(name))
    # help(), copyright, credits, license: site's own functions (no paths
    # are added: importing site under -S does not run its main()).
    import site
    site.setcopyright()
    site.sethelper()


import math  # noqa: E402  (built in: no file to load)

try:
    from _json import encode_basestring as _quote  # the C string encoder
except ImportError:  # pragma: no cover - a Python built without _json
    from json.encoder import py_encode_basestring as _quote


class _Refused(Exception):
    """A verdict the runner reaches itself."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _header(obj):
    """A flat dict of str/bool values as JSON text."""
    parts = []
    for k, v in obj.items():
        if isinstance(v, str):  # messages may carry lone surrogates
            v = _quote(v.encode("utf-8", "replace").decode("utf-8"))
        else:
            v = "true" if v else "false"
        parts.append(_quote(k) + ":" + v)
    return "{" + ",".join(parts) + "}"


# The process that runs the script (_main). A process the script forked
# that gets back to the runner (main() returned or raised in the child)
# leaves without a word: the verdict is the first process's alone.
_RUNNER_PID = None


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream
            pass


def _forked():
    return _RUNNER_PID is not None and os.getpid() != _RUNNER_PID


def _leave_forked(status, exc=None):
    """In a forked child of the script that got back to the runner: its
    output flushed, the result channel untouched (the runner's process
    still answers on it), it exits as a Python program would: `status`, 0
    after main() returned; after an exception escaped main(), 1 with the
    traceback on stderr, or the code of a SystemExit."""
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None or isinstance(code, int):
            status = code or 0
        else:
            print(code, file=sys.stderr)
    elif exc is not None:
        try:
            _register_source()
            sys.stderr.write("Traceback (most recent call last):\n" +
                             _user_traceback(exc))
        except Exception:  # noqa: BLE001 - a broken stream or __str__
            pass
    _flush()
    os._exit(status & 0xFF)


def _emit(header, body=b""):
    if _forked():
        _leave_forked(0 if header.get("ok") else 1)
    _flush()
    data = _header(header).encode("utf-8") + b"\n" + body
    view = memoryview(data)
    while view:
        n = _CHANNEL.write(view)
        view = view[n:]
    # The verdict is complete: closing the three streams lets the library
    # answer while this process is still being torn down. One call
    # (close_range): the library wakes once, not once per stream.
    os.closerange(1, 4)
    # Skip interpreter teardown: atexit hooks and non-daemon threads of the
    # script have no say in the verdict, and teardown of numpy/pandas costs
    # milliseconds.
    os._exit(0)


def _user_traceback(exc):
    """The traceback without the runner's own frames, no header line."""
    import traceback
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _RUNNER_FILE:
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    if lines and lines[0].startswith("Traceback (most recent call last)"):
        lines = lines[1:]
    return "".join(lines)


def _describe(exc):
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__
        text = "<exception str() failed>"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


_TEXT = None

# The script as a file of the run, as `python3 script.py` would have it: a
# real __file__, a directory on sys.path so that a child interpreter (a
# multiprocessing "spawn" child) can import the module `script` again. It
# is hidden in /tmp (the only place of a run a slot can write to), out of
# the way of the script's own files in its working directory.
SCRIPT_DIR = "/tmp/.pexos"
SCRIPT_PATH = SCRIPT_DIR + "/script.py"
# matplotlib's font list, built once per host by the library (fontcache.c)
# and bound read-only; matplotlib wants it in a writable MPLCONFIGDIR.
_FONT_CACHE = "/etc/matplotlib"


def _register_source():
    """Tracebacks, warnings and inspect.getsource() show the user's source
    lines under the name tracebacks give it, "script.py"."""
    import linecache
    linecache.cache["script.py"] = (len(_TEXT), None,
                                    _TEXT.splitlines(True), "script.py")


def _place(source):
    """Writes the script to SCRIPT_PATH, read-only; False if /tmp cannot
    hold it (the run goes on without the file)."""
    try:
        os.makedirs(SCRIPT_DIR, mode=0o755, exist_ok=True)
        os.chmod(SCRIPT_DIR, 0o755)
        try:
            os.unlink(SCRIPT_PATH)
        except FileNotFoundError:
            pass
        fd = os.open(SCRIPT_PATH, os.O_WRONLY | os.O_CREAT | os.O_EXCL |
                     os.O_CLOEXEC, 0o444)
        with open(fd, "wb", closefd=True) as f:
            f.write(source)
        os.chmod(SCRIPT_DIR, 0o555)
    except OSError:
        return False
    return True


def _home():
    """The run's writable config and cache: MPLCONFIGDIR (the library's
    environment) with links to the prebuilt font list, so that the first
    `import matplotlib.pyplot` of a run does not scan the fonts again."""
    conf = os.environ.get("MPLCONFIGDIR")
    try:
        names = os.listdir(_FONT_CACHE)
    except OSError:
        return
    if not conf or not names:
        return
    try:
        os.makedirs(conf, exist_ok=True)
        for name in names:
            os.symlink(f"{_FONT_CACHE}/{name}", f"{conf}/{name}")
    except OSError:
        pass  # matplotlib then builds its own, as without the cache


def _compile(source):
    global _TEXT
    try:
        _TEXT = source.decode("utf-8")
        return compile(_TEXT, "script.py", "exec", dont_inherit=True)
    except SyntaxError as e:
        import traceback
        where = f"line {e.lineno}, column {e.offset}" if e.lineno else "?"
        msg = f"{type(e).__name__}: {e.msg} (script.py, {where})"
        tb = "".join(traceback.format_exception_only(type(e), e))
        _emit({"type": "SyntaxError", "error": msg, "traceback": tb})
    except (ValueError, UnicodeDecodeError) as e:
        _emit({"type": "SyntaxError", "error": f"SyntaxError: {e}"})


def _required_params(main):
    """Names of the parameters main() cannot be called without. Plain
    functions are read from their code object (inspect costs ~7 ms to
    import); other callables are called as they are."""
    code = getattr(main, "__code__", None)
    if code is None or not hasattr(code, "co_argcount"):
        return []
    npos = code.co_argcount
    if getattr(main, "__self__", None) is not None:
        npos -= 1  # a bound method: self is given
    names = code.co_varnames
    defaults = len(getattr(main, "__defaults__", None) or ())
    first = npos - defaults
    offset = code.co_argcount - npos
    required = [names[offset + i] for i in range(max(first, 0))]
    kwdefaults = getattr(main, "__kwdefaults__", None) or {}
    kwonly = names[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    required += [n for n in kwonly if n not in kwdefaults]
    return required


def _check_main(module):
    if "main" not in module.__dict__:
        raise _Refused("MissingMain", "the script defines no main() function")
    main = module.__dict__["main"]
    if not callable(main):
        raise _Refused("InvalidMain", "main is not callable (it is "
                       f"{type(main).__name__!s})")
    required = _required_params(main)
    if required:
        raise _Refused("InvalidMain", "main() must take no arguments, but it "
                       "requires " + ", ".join(repr(n) for n in required))
    return main


def _run(code, source):
    module = type(sys)("script")
    module.__file__ = "script.py"
    if _place(source):
        module.__file__ = SCRIPT_PATH
        sys.path.insert(0, SCRIPT_DIR)
    sys.modules["script"] = module
    sys.argv = [module.__file__]
    _register_source()
    _home()
    try:
        exec(code, module.__dict__)
        main = _check_main(module)
        return main()
    except _Refused:
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit too: main must return
        if _forked():
            _leave_forked(1, e)
        _register_source()  # again: the script may have cleared linecache
        header = {"type": "ScriptError", "error": _describe(e),
                  "traceback": _user_traceback(e)}
        if isinstance(e, MemoryError):
            header["memory"] = True  # the library knows if a limit did it
        _emit(header)


_PANDAS_HINTS = {
    "DataFrame": 'convert it with .to_dict(orient="records")',
    "Series": "convert it with .tolist()",
    "Index": "convert it with .tolist()",
}


def _type_name(value):
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else \
        f"{t.__module__}.{t.__qualname__}"


def _article(word):
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _not_serializable(path, value):
    t = type(value)
    if t.__module__.startswith("pandas"):
        hint = _PANDAS_HINTS.get(t.__name__, "convert it to lists and dicts")
        return _Refused("NotSerializable",
                        f"{path} is a pandas {t.__name__}: {hint}")
    names = {set: "set", frozenset: "frozenset", bytes: "bytes",
             bytearray: "bytearray", complex: "complex number"}
    name = names.get(t) or _type_name(value)
    return _Refused("NotSerializable",
                    f"{path} is {_article(name)}, which JSON cannot "
                    "represent")


def _float(path, value):
    value = float(value)
    if not math.isfinite(value):
        raise _Refused("NotSerializable",
                       f"{path} is {value!r}, which strict JSON cannot "
                       "represent")
    return float.__repr__(value)  # shortest round-trip, as json does


def _numpy(path, value, out, seen):
    """numpy scalars and arrays, converted losslessly. False if not numpy."""
    np = sys.modules.get("numpy")
    if np is None:
        return False
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise _Refused("NotSerializable",
                           f"{path} is a numpy array of dtype {value.dtype},"
                           " which JSON cannot represent")
        _write(path, value.tolist(), out, seen)
    elif isinstance(value, np.bool_):
        out.append("true" if value else "false")
    elif isinstance(value, np.integer):
        out.append(int.__repr__(int(value)))
    elif isinstance(value, np.floating):
        out.append(_float(path, value))
    else:
        return False
    return True


def _write(path, value, out, seen):
    """Strict JSON text of `value`, appended to `out`, or _Refused."""
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(_float(path, value))
    elif isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            raise _Refused("NotSerializable",
                           f"{path} contains itself (a reference cycle)")
        seen.add(id(value))
        if isinstance(value, dict):
            _write_dict(path, value, out, seen)
        else:
            out.append("[")
            for i, v in enumerate(value):
                if i:
                    out.append(",")
                _write(f"{path}[{i}]", v, out, seen)
            out.append("]")
        seen.discard(id(value))
    elif not _numpy(path, value, out, seen):
        raise _not_serializable(path, value)


def _write_dict(path, value, out, seen):
    out.append("{")
    for i, (k, v) in enumerate(value.items()):
        if not isinstance(k, str):
            raise _Refused("NotSerializable",
                           f"{path} has a key {k!r} of type {_type_name(k)}; "
                           "JSON object keys must be strings")
        key = _quote(k)
        out.append("," + key + ":" if i else key + ":")
        _write(f"{path}[{key}]", v, out, seen)
    out.append("}")


def _serialise(result):
    out = []
    try:
        _write("result", result, out, set())
    except RecursionError:
        raise _Refused("NotSerializable",
                       "result is nested too deeply to serialise") from None
    try:
        data = "".join(out).encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused("NotSerializable",
                       "result contains a string that is not valid Unicode "
                       "(a lone surrogate)") from None
    if len(data) > _RESULT_MAX:
        raise _Refused("ResultTooLarge",
                       f"the result is {len(data)} bytes as JSON, over the "
                       f"limit of {_RESULT_MAX} bytes")
    return data


def _main(source):
    global _RUNNER_PID
    _RUNNER_PID = os.getpid()
    code = _compile(source)
    try:
        result = _run(code, source)
        if _forked():
            _leave_forked(0)
        data = _serialise(result)
    except _Refused as r:
        _emit({"type": r.kind, "error": r.message})
    _emit({"ok": True}, data)


if __name__ == "__main__":
    if sys.flags.no_site:
        _site()
    _SOURCE, _CHANNEL = _take_fds()
    _RESULT_MAX = int(sys.argv[1])
    _main(_SOURCE)
