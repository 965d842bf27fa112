#!/usr/bin/env python3
"""count-tests.py: count test cases in meson testlog JSON files.

Prints "PASSED FAILED SKIPPED" for all given files together. A TAP test
counts each subtest (`ok` / `not ok` line); a TAP test whose process failed
after all its subtests passed (a crash, a sanitizer or valgrind report)
counts one more failure. Any other test counts as one case. A missing file
counts nothing: meson writes none when no test matched.
"""
import json
import re
import sys

TAP_LINE = re.compile(r'^(not )?ok\b(.*)$')
BAD_RESULTS = {'FAIL', 'ERROR', 'TIMEOUT', 'UNEXPECTEDPASS', 'INTERRUPT'}


def count_tap(stdout):
    passed = failed = skipped = 0
    for line in stdout.splitlines():
        m = TAP_LINE.match(line)
        if not m:
            continue
        directive = m.group(2).split('#', 1)[1].strip().upper() if '#' in m.group(2) else ''
        if directive.startswith('SKIP'):
            skipped += 1
        elif directive.startswith('TODO'):
            passed += m.group(1) is not None  # an expected failure
            failed += m.group(1) is None      # a TODO that passes is news
        elif m.group(1):
            failed += 1
        else:
            passed += 1
    return passed, failed, skipped


def count_file(path):
    passed = failed = skipped = 0
    try:
        f = open(path, encoding='utf-8', errors='replace')
    except FileNotFoundError:
        return 0, 0, 0
    with f:
        for line in f:
            if not line.strip():
                continue
            test = json.loads(line)
            result = test.get('result', 'ERROR')
            p, fl, s = count_tap(test.get('stdout') or '')
            if p + fl + s == 0:
                if result in ('OK', 'EXPECTEDFAIL'):
                    p = 1
                elif result == 'SKIP':
                    s = 1
                else:
                    fl = 1
            elif result in BAD_RESULTS and fl == 0:
                fl = 1
            passed, failed, skipped = passed + p, failed + fl, skipped + s
    return passed, failed, skipped


def main():
    totals = [0, 0, 0]
    for path in sys.argv[1:]:
        for i, n in enumerate(count_file(path)):
            totals[i] += n
    print(*totals)


if __name__ == '__main__':
    main()
