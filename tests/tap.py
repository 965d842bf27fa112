"""tap.py: run unittest test cases and report them as TAP, one line per test,
so meson counts every case (protocol: 'tap'). Shared by tests/cli and
tests/integration; standard library only."""

import sys
import time
import traceback
import unittest


def comment(text):
    """Print @text as TAP comment lines."""
    for line in str(text).splitlines():
        print(f"# {line}", flush=True)


def iter_tests(suite):
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from iter_tests(item)
        else:
            yield item


def select(module, patterns):
    """The module's test cases, those whose name contains one of @patterns
    when any are given."""
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [f"*{p}*" for p in patterns]
    return list(iter_tests(loader.loadTestsFromModule(module)))


def run(tests, broken=None, timed=False):
    """Run @tests, printing the plan and one result line each. With @broken
    (a reason), every test fails with it instead of running. Returns the
    exit status: 1 if any test failed."""
    print(f"1..{len(tests)}", flush=True)
    failed = 0
    for number, test in enumerate(tests, 1):
        name = test.id().split(".", 1)[1]
        if broken:
            failed += 1
            print(f"not ok {number} - {name}", flush=True)
            comment(broken)
            continue
        t0 = time.monotonic()
        result = unittest.TestResult()
        test.run(result)
        took = f" ({time.monotonic() - t0:.1f} s)" if timed else ""
        problems = result.failures + result.errors
        if problems:
            failed += 1
            print(f"not ok {number} - {name}{took}")
            for _test, text in problems:
                comment(text)
        elif result.skipped:
            print(f"ok {number} - {name} # SKIP {result.skipped[0][1]}")
        else:
            print(f"ok {number} - {name}{took}")
        sys.stdout.flush()
    return 1 if failed else 0


def main(entry):
    """Exit with entry()'s status; a crash of the harness itself exits 99
    so it can never look like a pass."""
    try:
        sys.exit(entry())
    except Exception:
        traceback.print_exc()
        sys.exit(99)
