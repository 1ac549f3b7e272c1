# SPDX-License-Identifier: MIT
# The Python side of pexos, embedded into libpexos and run inside the sandbox
# as `python3 -I -B -S -c <this file> RESULT_MAX`.
#
# File descriptors, set up by the sandbox before exec (numbers: proto.h):
#   0 stdin, 1 stdout, 2 stderr  the script's own
#   FD_RESULT  result channel: one header line of JSON, then (on success)
#              the result as JSON text
#   FD_SCRIPT  the job (job.h): the script's source (UTF-8), the request's
#              input files, output patterns and caps; read once and closed
#
# In a pooled sandbox the zygote (zygote.py) executes this file as a module
# instead, sets _CHANNEL and _RESULT_MAX itself and calls _main(source).
#
# Header: {"ok": true} or {"type": T, "error": MESSAGE[, "traceback": TB]}
# with T one of SyntaxError, MissingMain, InvalidMain, ScriptError,
# NotSerializable, ResultTooLarge, InvalidRequest (an input file could not be
# written). Everything else (timeouts, signals, memory) is judged by the
# library from outside. When output files or figures go back (the
# part "files in, files and figures out" below), the header also has "result_len" (bytes of the result that
# follow it), "files" (entries, those with "len" followed by their bytes in
# order after the result), "files_omitted", "figures" (the lengths of the
# PNGs that follow the files) and "figures_omitted"; the library checks all
# of it again (attach.c).
import os
import sys

# proto: begin (generated from lib/proto.h by lib/proto_py.py; do not edit)
FD_RESULT = 3
FD_SCRIPT = 4
SCRIPT_DIR = "/tmp/.pexos"
FONT_CACHE = "/etc/matplotlib"
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


class _Raw(str):
    """JSON text written into the header as it is."""


def _header(obj):
    """A flat dict of str/bool/_Raw values as JSON text."""
    parts = []
    for k, v in obj.items():
        if isinstance(v, _Raw):
            pass
        elif isinstance(v, str):  # messages may carry lone surrogates
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


# The verdicts that carry the files and figures the script left (SPEC §3).
_ATTACHING = {None, "ScriptError", "NotSerializable", "ResultTooLarge"}


def _emit(header, body=b""):
    if _forked():
        _leave_forked(0 if header.get("ok") else 1)
    _flush()
    blobs = []
    if header.get("type") in _ATTACHING:
        blobs = _attach(header, len(body))
    data = b"".join([_header(header).encode("utf-8"), b"\n", body] + blobs)
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
# SCRIPT_DIR (proto.h) is made before the script arrives (_prepare).
SCRIPT_PATH = SCRIPT_DIR + "/script.py"
# matplotlib's font list, built once per host by the library (fontcache.c),
# is copied read-only to FONT_CACHE (proto.h); matplotlib wants it in a
# writable MPLCONFIGDIR.


def _register_source():
    """Tracebacks, warnings and inspect.getsource() show the user's source
    lines under the name tracebacks give it, "script.py"."""
    import linecache
    linecache.cache["script.py"] = (len(_TEXT), None,
                                    _TEXT.splitlines(True), "script.py")


def _prepare():
    """What a run needs before its script arrives: SCRIPT_DIR and the
    writable config home (_home). Once per process. A warm slot's helper
    makes the same while the slot waits (helper.c, slot_prepare), off the
    request's clock, and the zygote marks it done."""
    global _PREPARED
    if _PREPARED:
        return
    _PREPARED = True
    try:
        os.mkdir(SCRIPT_DIR, 0o755)
    except OSError:
        pass  # _place tries again
    _home()


_PREPARED = False


def _place(source):
    """Writes the script to SCRIPT_PATH, read-only; False if /tmp cannot
    hold it (the run goes on without the file). An input file of the same
    name gives way, as on the cold path."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        try:
            fd = os.open(SCRIPT_PATH, flags, 0o444)
        except OSError:
            os.makedirs(SCRIPT_DIR, mode=0o755, exist_ok=True)
            os.chmod(SCRIPT_DIR, 0o755)
            try:
                os.unlink(SCRIPT_PATH)
            except FileNotFoundError:
                pass
            fd = os.open(SCRIPT_PATH, flags, 0o444)
        try:
            view = memoryview(source)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
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
        names = os.listdir(FONT_CACHE)
    except OSError:
        return
    if not conf or not names:
        return
    try:
        os.makedirs(conf, exist_ok=True)
        for name in names:
            os.symlink(f"{FONT_CACHE}/{name}", f"{conf}/{name}")
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


def _run(code, source, files):
    _write_inputs(files)
    _quiet_show()
    _prepare()
    module = type(sys)("script")
    module.__file__ = "script.py"
    if _place(source):
        module.__file__ = SCRIPT_PATH
        sys.path.insert(0, SCRIPT_DIR)
    sys.modules["script"] = module
    sys.argv = [module.__file__]
    _register_source()
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

# ---- files in, files and figures out --------------------------------------
#
# Everything here runs as the sandbox's user inside the run, in its working
# directory: input files are created by the same user the script runs as,
# before it starts, and output files are opened one component at a time
# relative to the working directory with O_NOFOLLOW, so a symlink the script
# planted is never followed and a FIFO or device is never opened (an entry
# that turns into one between the listing and the open is caught by fstat).

_JOB_MAGIC = b"\0pexos-job-1\0"
# What the job allows: without a job (the pool's warm-up) nothing goes back.
_JOB = {"figures": 0, "figure_max": 0, "out_file_max": 0, "out_files_max": 0,
        "entries": 0, "outputs": ()}
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Names a pattern walk looks at, at most: the walk's own bound (a script
# can make millions of empty files in /tmp).
_WALK_MAX = 100000


def _job(data):
    """The script's source out of the job (job.h); its caps and output
    patterns into _JOB; the input files as (path, memoryview) pairs."""
    if not data.startswith(_JOB_MAGIC):
        return data, ()
    pos = len(_JOB_MAGIC)

    def field():
        nonlocal pos
        end = data.index(b"\0", pos)
        value, pos = data[pos:end], end + 1
        return value

    n_script, *caps = (int(field()) for _ in range(6))
    _JOB.update(zip(("figures", "figure_max", "out_file_max",
                     "out_files_max", "entries"), caps))
    _JOB["outputs"] = [field().decode() for _ in range(int(field()))]
    specs = [(field().decode(), int(field())) for _ in range(int(field()))]
    view = memoryview(data)
    source = bytes(view[pos:pos + n_script])
    pos += n_script
    files = []
    for path, n in specs:
        files.append((path, view[pos:pos + n]))
        pos += n
    return source, files


def _opendirs(names):
    """A descriptor of the directory names[...] under the working
    directory, each component opened without following a symlink."""
    fd = os.open(".", _O_DIR)
    try:
        for name in names:
            sub = os.open(name, _O_DIR, dir_fd=fd)
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


def _write_input(path, data):
    *dirs, name = path.split("/")
    fd = os.open(".", _O_DIR)
    try:
        for d in dirs:
            try:
                os.mkdir(d, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            sub = os.open(d, _O_DIR, dir_fd=fd)
            os.close(fd)
            fd = sub
        flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                 os.O_CLOEXEC)
        try:
            out = os.open(name, flags, 0o644, dir_fd=fd)
        except FileExistsError:
            # one of _home's links to the font list, made before the
            # inputs on the warm path: the input file takes its place
            if not _font_link(name, fd):
                raise
            os.unlink(name, dir_fd=fd)
            out = os.open(name, flags, 0o644, dir_fd=fd)
    finally:
        os.close(fd)
    with open(out, "wb", closefd=True) as f:
        f.write(data)


def _font_link(name, dir_fd):
    try:
        return os.readlink(name, dir_fd=dir_fd).startswith(FONT_CACHE + "/")
    except OSError:
        return False


def _write_inputs(files):
    for path, data in files:
        try:
            _write_input(path, data)
        except OSError as e:
            why = e.strerror or str(e)
            if e.errno == 28:  # ENOSPC
                why += " (input files count against the run's /tmp)"
            _emit({"type": "InvalidRequest",
                   "error": f"the input file {path!r} could not be "
                            f"written: {why}"})


def _quiet_show():
    """plt.show() with the Agg backend does nothing but warn that it cannot
    show: the figures go back in the response instead. Once per process: a
    warm slot has the zygote's filter already, and a second call would
    write to the pages of the warnings and re machinery in every slot
    (about 28 a lean slot has to copy)."""
    global _QUIET
    if _QUIET:
        return
    _QUIET = True
    import warnings
    warnings.filterwarnings(
        "ignore", category=UserWarning,
        message="(FigureCanvasAgg is non-interactive|Matplotlib is "
                "currently using agg)")


_QUIET = False


def _kind(entry):
    """What a non-regular entry is, in words, from lstat (never opened)."""
    import stat
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return 0, "gone before it could be read"
    mode = st.st_mode
    for test, words in ((stat.S_ISLNK, "a symbolic link (not followed)"),
                        (stat.S_ISDIR, "a directory"),
                        (stat.S_ISFIFO, "a FIFO (not opened)"),
                        (stat.S_ISSOCK, "a socket (not opened)"),
                        (stat.S_ISCHR, "a device (not opened)"),
                        (stat.S_ISBLK, "a device (not opened)")):
        if test(mode):
            return st.st_size, words
    return st.st_size, None


def _glob(fd, prefix, comps, found):
    """Matches comps (a pattern's components) under the directory fd.
    `*`, `?` and `[...]` stay within a component and match a leading "."
    only when the pattern's component starts with one; `**` is any number
    of directories. Directories are entered without following symlinks."""
    from fnmatch import fnmatchcase
    if len(found) >= _WALK_MAX or prefix.count("/") >= 64:
        return
    c, rest = comps[0], comps[1:]
    try:
        entries = list(os.scandir(fd))
    except OSError:
        return
    if c == "**" and rest:
        _glob(fd, prefix, rest, found)
    for e in entries:
        name = e.name
        # The library's PLAN_PATH_MAX counts bytes of UTF-8 (a name that
        # is not UTF-8 is sent with "?" for each byte it cannot decode).
        if len((prefix + name).encode("utf-8", "replace")) > 4000:
            continue
        if c == "**":
            hit = not name.startswith(".")
        else:
            hit = (name == c if not any(ch in c for ch in "*?[") else
                   fnmatchcase(name, c) and
                   (c.startswith(".") or not name.startswith(".")))
        if not hit:
            continue
        is_dir = e.is_dir(follow_symlinks=False)
        if is_dir and (rest or c == "**"):
            try:
                sub = os.open(name, _O_DIR, dir_fd=fd)
            except OSError:
                continue
            try:
                _glob(sub, prefix + name + "/", comps if c == "**" else rest,
                      found)
            finally:
                os.close(sub)
        elif not rest:
            found[prefix + name] = _kind(e)  # while fd is open
        if len(found) >= _WALK_MAX:
            return


def _size_words(n):
    return f"{n >> 20} MiB" if n and not n & 0xFFFFF else f"{n} bytes"


def _read_output(path, size, budget):
    """The bytes of the regular file at path, or (size, reason) when it is
    not one or over a cap."""
    import stat
    *dirs, name = path.split("/")
    try:
        fd = _opendirs(dirs)
        try:
            f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK |
                        os.O_NOCTTY | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
    except OSError as e:
        return size, f"could not be opened: {e.strerror}"
    with open(f, "rb", buffering=0, closefd=True) as fh:
        st = os.fstat(f)
        if not stat.S_ISREG(st.st_mode):
            return st.st_size, "not a regular file (not read)"
        if st.st_size > _JOB["out_file_max"]:
            return st.st_size, ("over the " + _size_words(
                _JOB["out_file_max"]) + " per-file limit")
        if st.st_size > budget:
            return st.st_size, ("over the " + _size_words(
                _JOB["out_files_max"]) + " limit of all output files")
        # What is there now, at most the size fstat gave: a file the
        # script's processes still write to is cut there.
        return fh.read(st.st_size)


def _entry(path, size, extra):
    return "{" + ",".join(('"path":' + _quote(path), f'"size":{size}',
                           extra)) + "}"


def _outputs():
    """(entries as JSON texts, their bytes, matches past the entry cap)."""
    found = {}
    root = os.open(".", _O_DIR)
    try:
        for pattern in _JOB["outputs"]:
            _glob(root, "", pattern.split("/"), found)
    finally:
        os.close(root)
    paths = sorted(found)
    omitted = max(len(paths) - _JOB["entries"], 0)
    entries, blobs, budget = [], [], _JOB["out_files_max"]
    for path in paths[:_JOB["entries"]]:
        size, why = found[path]
        try:
            path.encode("utf-8")
        except UnicodeEncodeError:
            path = path.encode("utf-8", "replace").decode("utf-8")
            why = why or "its name is not valid UTF-8 (not read)"
        if why is None:
            got = _read_output(path, size, budget)
            if isinstance(got, bytes):
                budget -= len(got)
                blobs.append(got)
                entries.append(_entry(path, len(got), f'"len":{len(got)}'))
                continue
            size, why = got
        entries.append(_entry(path, size, '"omitted":' + _quote(why)))
    return entries, blobs, omitted


def _figures():
    """The open figures of matplotlib.pyplot as PNG, in figure-number
    order, at their own size and dpi: (PNGs, figures past the caps or that
    failed to render)."""
    plt = sys.modules.get("matplotlib.pyplot")
    if not _JOB["figures"] or plt is None:
        return [], 0
    import io
    pngs, omitted = [], 0
    for num in sorted(plt.get_fignums()):
        if len(pngs) >= _JOB["figures"]:
            omitted += 1
            continue
        try:
            buf = io.BytesIO()
            plt.figure(num).savefig(buf, format="png", dpi="figure")
            png = buf.getvalue()
        except Exception:  # noqa: BLE001 - the script's figure, its fault
            omitted += 1
            continue
        if len(png) > _JOB["figure_max"]:
            omitted += 1
            continue
        pngs.append(png)
    return pngs, omitted


def _attach(header, result_len):
    """Adds the output files and figures to `header`; returns their bytes
    in the order the header lists them. Never raises: what cannot be
    collected is left out (the library checks what comes anyway)."""
    blobs = []
    try:
        if _JOB["outputs"]:
            entries, files, omitted = _outputs()
            if entries:
                header["files"] = _Raw("[" + ",".join(entries) + "]")
            if omitted:
                header["files_omitted"] = _Raw(str(omitted))
            blobs += files
        pngs, omitted = _figures()
        if pngs:
            header["figures"] = _Raw("[" + ",".join(
                str(len(p)) for p in pngs) + "]")
        if omitted:
            header["figures_omitted"] = _Raw(str(omitted))
        blobs += pngs
    except BaseException:  # noqa: BLE001 - a verdict is still owed
        for k in ("files", "files_omitted", "figures", "figures_omitted"):
            header.pop(k, None)
        return []
    if any(k in header for k in ("files", "files_omitted", "figures",
                                 "figures_omitted")):
        header["result_len"] = _Raw(str(result_len))
    return blobs


def _main(job):
    global _RUNNER_PID
    _RUNNER_PID = os.getpid()
    source, files = _job(job)
    del job
    code = _compile(source)
    try:
        result = _run(code, source, files)
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
