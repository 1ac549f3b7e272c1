# The script tests/compat/run sends to pexos (and runs bare with bare.py):
# the driver puts MODULE, KIND and BUDGET in front of this text. main() runs
# one module's tests in this process and returns counts, not output: the
# tests' own output goes to /dev/null, since inside pexos stdout is capped.
import contextlib
import io
import json
import os
import sys
import tempfile
import time

MAX_IDS = 150  # failing test ids returned; the response stays small
MAX_MSG = 160  # characters of each failure's last line


def last_line(text):
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[:MAX_MSG]


class Quiet:
    """fd 1 and 2 to /dev/null while the tests run (child processes too)."""

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = [os.dup(1), os.dup(2)]
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.close(null)

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, saved in zip((1, 2), self.saved):
            os.dup2(saved, fd)
            os.close(saved)


def run_unittest(out, deadline):
    import unittest
    from test import support

    support.use_resources = []  # as regrtest without -u: no network, cpu...
    support.verbose = 0

    class Result(unittest.TestResult):
        def startTest(self, test):
            if time.monotonic() > deadline:  # the soft bound: stop cleanly
                out["budget_hit"] = True
                self.stop()
            super().startTest(test)

        def addError(self, test, err):  # setUpClass errors start no test
            self.reached[test.id()] = self.testsRun
            super().addError(test, err)

        def addFailure(self, test, err):
            self.reached[test.id()] = self.testsRun
            super().addFailure(test, err)

        def addUnexpectedSuccess(self, test):
            self.reached[test.id()] = self.testsRun
            super().addUnexpectedSuccess(test)

    result = Result()
    result.reached = {}  # failing id -> tests run when it failed
    try:
        suite = unittest.defaultTestLoader.loadTestsFromName("test." + MODULE)
    except BaseException as e:  # an import failure is the module's result
        out["errors"] = 1
        out["failed"] = {"test." + MODULE + " (import)": last_line(repr(e))}
        return
    suite.run(result)
    bad = result.failures + result.errors
    out["run"] = result.testsRun
    out["failures"] = len(result.failures)
    out["errors"] = len(result.errors)
    out["skipped"] = len(result.skipped)
    bad += [(t, "unexpected success") for t in result.unexpectedSuccesses]
    out["failed"] = {t.id(): last_line(tb) for t, tb in bad[:MAX_IDS]}
    out["failed_at"] = {t: result.reached.get(t, 0) for t in out["failed"]}
    out["failed_total"] = len(bad)


def run_pytest(out, deadline):
    import pytest

    class Collect:
        def pytest_runtest_logreport(self, report):
            if report.failed:  # in the test itself, or in setup/teardown
                out["failures" if report.when == "call" else "errors"] += 1
                if len(out["failed"]) < MAX_IDS:
                    out["failed"][report.nodeid] = last_line(report.longreprtext)
                out["failed_total"] += 1
            elif report.skipped:
                out["skipped"] += 1
            elif report.when == "call":
                out["passed"] += 1
            out["run"] = out["passed"] + out["failures"] + out["skipped"]

        def pytest_collectreport(self, report):  # a module that fails to import
            if report.failed:
                out["errors"] += 1
                if len(out["failed"]) < MAX_IDS:
                    out["failed"][report.nodeid + " (collect)"] = last_line(report.longreprtext)
                out["failed_total"] += 1

        def pytest_runtest_logstart(self, nodeid, location):
            if time.monotonic() > deadline:
                out["budget_hit"] = True
                self.session.shouldstop = "compat budget"

        def pytest_sessionstart(self, session):
            self.session = session

    out.update(passed=0, failed_total=0)
    paths = MODULE.split()
    text = io.StringIO()  # pytest's report, for the error line below
    with contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
        code = pytest.main(["-q", "-p", "no:cacheprovider", "-o", "addopts=",
                            *paths], plugins=[Collect()])
    out["pytest_exit"] = int(code)
    if code not in (0, 1, 2):  # 2: stopped at the bound; 3+: pytest failed
        errs = [ln for ln in text.getvalue().splitlines() if ln.startswith("E ")]
        key = f"{MODULE} (pytest exit {int(code)})"
        out["failed"][key] = last_line(errs[-1] if errs else text.getvalue())
        out["errors"] += 1
        out["failed_total"] += 1
    del out["passed"]


def main():
    start = time.monotonic()
    out = {"module": MODULE, "run": 0, "failures": 0, "errors": 0,
           "skipped": 0, "failed": {}, "failed_total": 0, "budget_hit": False}
    os.chdir(tempfile.mkdtemp(prefix="compat-"))  # tests write to the cwd
    with Quiet():
        if KIND == "pytest":
            run_pytest(out, start + BUDGET)
        else:
            run_unittest(out, start + BUDGET)
    out["seconds"] = round(time.monotonic() - start, 1)
    return json.loads(json.dumps(out))  # plain types only
