#!/usr/bin/python3
"""Counts the tests of one or more meson build directories and prints one
line 'N passed, N failed'. A TAP test counts each of its subtests; any other
test counts once. A TAP test that crashed or printed no plan counts as one
more failure. Exit status: 0 only if nothing failed."""
import json
import re
import sys

passed = failed = 0
for build in sys.argv[1:]:
    try:
        log = open(f"{build}/meson-logs/testlog.json")
    except OSError:
        print(f"summary: no test log in {build}", file=sys.stderr)
        failed += 1
        continue
    for line in log:
        t = json.loads(line)
        out = t.get("stdout") or ""
        oks = len(re.findall(r"^ok \d+", out, re.M))
        bad = len(re.findall(r"^not ok \d+", out, re.M))
        tap = oks + bad > 0 or re.search(r"^1\.\.\d+", out, re.M)
        ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
        if tap:
            passed += oks
            failed += bad
            if not ok and bad == 0:
                failed += 1  # crashed, bailed out or lost its plan
        elif ok:
            passed += 1
        else:
            failed += 1
        if not ok:
            print(f"FAILED: {build}: {t.get('name')} ({t.get('result')})",
                  file=sys.stderr)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
