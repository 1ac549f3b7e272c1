# SPDX-License-Identifier: MIT
# The Python side of pexos, embedded into libpexos and run inside the sandbox
# as `python3 -I -B -c <this file> RESULT_MAX`.
#
# File descriptors, set up by the sandbox before exec:
#   0 stdin, 1 stdout, 2 stderr  the script's own
#   3  result channel: one header line of JSON, then (on success) the
#      result as JSON text
#   4  the script's source (UTF-8), read once and closed
#
# Header: {"ok": true} or {"type": T, "error": MESSAGE[, "traceback": TB]}
# with T one of SyntaxError, MissingMain, InvalidMain, ScriptError,
# NotSerializable, ResultTooLarge. Everything else (timeouts, signals, memory)
# is judged by the library from outside.
import os
import sys


def _take_fds():
    """Read the script and keep the result channel out of the script's way:
    both are closed on exec so a child process of the script gets neither."""
    with open(4, "rb", closefd=True) as f:
        source = f.read()
    os.set_inheritable(3, False)
    return source, open(3, "wb", buffering=0, closefd=True)


_SOURCE, _CHANNEL = _take_fds()
_RESULT_MAX = int(sys.argv[1])
_RUNNER_FILE = sys._getframe().f_code.co_filename

import builtins  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402


class _Refused(Exception):
    """A verdict the runner reaches itself."""

    def __init__(self, kind, message):
        super().__init__(message)
        self.kind = kind
        self.message = message


def _emit(header, body=b""):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream
            pass
    data = json.dumps(header).encode("utf-8") + b"\n" + body
    view = memoryview(data)
    while view:
        n = _CHANNEL.write(view)
        view = view[n:]
    # Skip interpreter teardown: atexit hooks and non-daemon threads of the
    # script have no say in the verdict, and teardown of numpy/pandas costs
    # milliseconds.
    os._exit(0)


def _user_traceback(exc):
    """The traceback without the runner's own frames, no header line."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _RUNNER_FILE:
        tb = tb.tb_next
    lines = traceback.format_exception(type(exc), exc, tb)
    if lines and lines[0].startswith("Traceback (most recent call last)"):
        lines = lines[1:]
    return "".join(lines)


def _describe(exc):
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _compile(source):
    try:
        text = source.decode("utf-8")
        code = compile(text, "script.py", "exec", dont_inherit=True)
        # Tracebacks show the user's source lines.
        import linecache
        linecache.cache["script.py"] = (len(text), None,
                                        text.splitlines(True), "script.py")
        return code
    except SyntaxError as e:
        where = f"line {e.lineno}, column {e.offset}" if e.lineno else "?"
        msg = f"{type(e).__name__}: {e.msg} (script.py, {where})"
        tb = "".join(traceback.format_exception_only(type(e), e))
        _emit({"type": "SyntaxError", "error": msg, "traceback": tb})
    except ValueError as e:  # e.g. source with a NUL byte
        _emit({"type": "SyntaxError", "error": f"SyntaxError: {e}"})


def _check_main(module):
    main = module.__dict__.get("main", None)
    if main is None and "main" not in module.__dict__:
        raise _Refused("MissingMain", "the script defines no main() function")
    if not callable(main):
        raise _Refused("InvalidMain", "main is not callable (it is "
                       f"{type(main).__name__!s})")
    try:
        import inspect
        sig = inspect.signature(main)
    except (TypeError, ValueError):
        return main  # a builtin or extension callable: just call it
    required = [p.name for p in sig.parameters.values()
                if p.default is p.empty
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if required:
        raise _Refused("InvalidMain", "main() must take no arguments, but it "
                       "requires " + ", ".join(repr(n) for n in required))
    return main


def _run(code):
    module = types.ModuleType("script")
    module.__file__ = "script.py"
    module.__builtins__ = builtins
    sys.modules["script"] = module
    sys.argv = ["script.py"]
    try:
        exec(code, module.__dict__)
        main = _check_main(module)
        return main()
    except _Refused:
        raise
    except BaseException as e:  # noqa: BLE001 - SystemExit too: main must return
        _emit({"type": "ScriptError", "error": _describe(e),
               "traceback": _user_traceback(e)})


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
    return value


def _numpy_value(path, value, seen):
    """numpy scalars and arrays, converted losslessly; None if not numpy."""
    np = sys.modules.get("numpy")
    if np is None:
        return None
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise _Refused("NotSerializable",
                           f"{path} is a numpy array of dtype {value.dtype},"
                           " which JSON cannot represent")
        return [_convert(f"{path}[{i}]", v, seen)
                for i, v in enumerate(value.tolist())]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return _float(path, value)
    return None


def _convert(path, value, seen):
    """Strict JSON: returns plain Python values or raises _Refused."""
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _float(path, value)
    if isinstance(value, (dict, list, tuple)):
        if id(value) in seen:
            raise _Refused("NotSerializable",
                           f"{path} contains itself (a reference cycle)")
        seen.add(id(value))
        try:
            if isinstance(value, dict):
                out = {}
                for k, v in value.items():
                    if not isinstance(k, str):
                        raise _Refused(
                            "NotSerializable",
                            f"{path} has a key {k!r} of type "
                            f"{_type_name(k)}; JSON object keys must be "
                            "strings")
                    out[str(k)] = _convert(f"{path}[{json.dumps(k)}]", v,
                                           seen)
                return out
            return [_convert(f"{path}[{i}]", v, seen)
                    for i, v in enumerate(value)]
        finally:
            seen.discard(id(value))
    converted = _numpy_value(path, value, seen)
    if converted is not None:
        return converted
    raise _not_serializable(path, value)


def _serialise(result):
    try:
        plain = _convert("result", result, set())
    except RecursionError:
        raise _Refused("NotSerializable",
                       "result is nested too deeply to serialise") from None
    text = json.dumps(plain, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":"))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused("NotSerializable",
                       "result contains a string that is not valid Unicode "
                       "(a lone surrogate)") from None
    if len(data) > _RESULT_MAX:
        raise _Refused("ResultTooLarge",
                       f"the result is {len(data)} bytes as JSON, over the "
                       f"limit of {_RESULT_MAX} bytes")
    return data


def _main():
    code = _compile(_SOURCE)
    try:
        result = _run(code)
        data = _serialise(result)
    except _Refused as r:
        _emit({"type": r.kind, "error": r.message})
    _emit({"ok": True}, data)


_main()
