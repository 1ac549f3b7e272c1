"""What the test harnesses share: strict JSON (RFC 8259: no NaN/Infinity,
no duplicate keys), typed comparison, the subset match of expect.json files,
and TAP output. Imported by tests/integration/*.py and tests/http/*.py."""
import json
import os
import sys


class NotStrictJSON(ValueError):
    pass


class Obj(dict):
    """A JSON object that remembers its key order as written."""
    key_order = ()


def _reject_constant(name):
    raise NotStrictJSON(f"non-RFC-8259 constant {name}")


def _object(pairs):
    obj = Obj(pairs)
    if len(obj) != len(pairs):
        raise NotStrictJSON(f"duplicate key in {[k for k, _ in pairs]}")
    obj.key_order = [k for k, _ in pairs]
    return obj


def strict_loads(text):
    """json.loads that refuses NaN/Infinity and duplicate keys; objects
    keep the order their keys were written in (Obj.key_order)."""
    return json.loads(text, parse_constant=_reject_constant,
                      object_pairs_hook=_object)


def same(a, b):
    """Deep equality that keeps JSON types apart (true != 1, 3 != 3.0)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def short(value, limit=300):
    text = json.dumps(value, ensure_ascii=False)
    if len(text) > limit:
        text = text[:limit] + f"... ({len(text)} chars)"
    return text


def subset_problems(expected, got, path="response"):
    """Recursive dict subset; lists and scalars must be equal (typed)."""
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return [f"{path}: expected an object, got {short(got)}"]
        problems = []
        for key, value in expected.items():
            sub = f"{path}[{json.dumps(key)}]"
            if key not in got:
                problems.append(f"{sub} is missing")
            else:
                problems += subset_problems(value, got[key], sub)
        return problems
    if not same(expected, got):
        return [f"{path}: expected {short(expected)}, got {short(got)}"]
    return []


def tap_result(number, description, problems, runs=()):
    """Prints one TAP line with the diagnostics of a failed case (each run
    describes itself); returns True if the case passed."""
    if problems:
        print(f"not ok {number} - {description}")
        for line in problems:
            print(f"#   {line}")
        for run in runs:
            for line in run.describe():
                print(f"#   {line}")
    else:
        print(f"ok {number} - {description}")
    sys.stdout.flush()
    return not problems


def tap_plan(total, failed):
    """The plan and summary lines; returns the exit status."""
    print(f"1..{total}")
    print(f"# {total - failed} passed, {failed} failed")
    return 1 if failed else 0


def run_case(check, fn):
    """Runs one case on `check`; a harness bug is reported, not raised."""
    try:
        fn(check)
    except Exception as e:  # a harness bug or an unexpected shape
        check.problems.append(f"harness exception: {type(e).__name__}: {e}")
    return check


def binary_missing(path):
    """None if `path` is executable; else the exit status after printing
    the TAP for it: a skip (77), or a failure under PEXOS_MUST_WORK=1."""
    if os.access(path, os.X_OK):
        return None
    if os.environ.get("PEXOS_MUST_WORK") == "1":
        print(f"not ok 1 - {path} exists and is executable\n1..1")
        return 1
    print(f"1..0 # SKIP {path} not found")
    return 77
