#!/usr/bin/python3
"""Counts the tests of one or more meson build directories and prints one
line 'N passed, N failed, N skipped'.

A TAP test counts each of its subtests: 'ok N' passes, 'not ok N' fails and
'ok N ... # SKIP ...' is skipped. Any other test counts once: meson's OK
passes, SKIP (exit 77) is skipped, anything else fails. A TAP test counts
one more failure when it crashed or bailed out without a 'not ok' of its
own, printed no plan, or printed a plan whose count differs from the
subtests it printed. A TAP test skipped as a whole (exit 77 or a '1..0'
plan) is one skip.

With PEXOS_MUST_WORK=1 (CI) a skip is a failure: it is counted as failed
and named on stderr, like every other failure.

Each failed subtest is named on stderr with its 'not ok' line and the
first lines of its diagnostics (the '#' lines after it), so that the end
of a CI log says what failed without meson's full log.

Exit status: 0 only if nothing failed."""
import json
import os
import re
import sys

OK = re.compile(r"^ok \d+(.*)$", re.M)
NOT_OK = re.compile(r"^not ok \d+.*$", re.M)
# How much of a failed subtest's diagnostics is printed.
DIAG_LINES, DIAG_WIDTH = 12, 300
PLAN = re.compile(r"^1\.\.(\d+)", re.M)
# TAP's SKIP directive: '#', then "skip" in any case, then anything.
SKIP = re.compile(r"#\s*skip", re.I)

must_work = os.environ.get("PEXOS_MUST_WORK") == "1"
passed = failed = skipped = 0


def fail(build, name, why):
    global failed
    failed += 1
    print(f"FAILED: {build}: {name} ({why})", file=sys.stderr)


def diagnostics(out, end):
    """The '#' lines right after position `end` of `out`, clipped."""
    lines = []
    for line in out[end:].lstrip("\n").splitlines():
        if not line.startswith("#") or len(lines) == DIAG_LINES:
            break
        lines.append(line if len(line) <= DIAG_WIDTH
                     else line[:DIAG_WIDTH] + " ...")
    return lines


def skip(build, name, why):
    global skipped
    if must_work:
        fail(build, name, f"skipped under PEXOS_MUST_WORK=1: {why}")
    else:
        skipped += 1


def count_tap(build, name, result, out):
    """Counts one TAP test; returns False if it was not TAP at all."""
    global passed
    oks = [m.group(1) for m in OK.finditer(out)]
    bad_lines = list(NOT_OK.finditer(out))
    bad = len(bad_lines)
    plans = [int(n) for n in PLAN.findall(out)]
    if not oks and not bad and not plans:
        return False
    skips = [rest for rest in oks if SKIP.search(rest)]
    for rest in skips:
        skip(build, name, "subtest" + rest)
    passed += len(oks) - len(skips)
    for m in bad_lines:
        fail(build, name, "a subtest failed")
        for line in [m.group(0), *diagnostics(out, m.end())]:
            print(f"  {line}", file=sys.stderr)
    if len(plans) != 1:
        fail(build, name, f"{len(plans)} plan lines, want 1")
    elif plans[0] != len(oks) + bad:
        fail(build, name, f"plan 1..{plans[0]} but {len(oks) + bad} subtests")
    elif plans[0] == 0:
        skip(build, name, "skipped as a whole")
    elif result not in ("OK", "EXPECTEDFAIL", "SKIP") and bad == 0:
        fail(build, name, f"{result} without a failed subtest")
    return True


for build in sys.argv[1:]:
    try:
        log = open(f"{build}/meson-logs/testlog.json")
    except OSError:
        fail(build, "-", "no test log")
        continue
    for line in log:
        t = json.loads(line)
        name, result = t.get("name"), t.get("result")
        out = t.get("stdout") or ""
        if count_tap(build, name, result, out):
            continue
        if result in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif result == "SKIP":
            skip(build, name, "skipped")
        else:
            fail(build, name, result)
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
