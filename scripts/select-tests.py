#!/usr/bin/env python3
"""select-tests.py: which of a build dir's tests can run.

Usage: select-tests.py BUILD_DIR [--suite S]... [--no-suite S]...

Prints one line per selected test: "run NAME" when its program exists,
"missing NAME" when it was not built (meson test refuses to run anything
then, so scripts/test.sh runs the built ones and counts the rest as failed).
"""
import argparse
import json
import os
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('builddir')
    ap.add_argument('--suite', action='append', default=[])
    ap.add_argument('--no-suite', action='append', default=[])
    args = ap.parse_args()
    out = subprocess.run(['meson', 'introspect', '--tests', args.builddir],
                         check=True, capture_output=True, text=True).stdout
    seen = set()
    for test in json.loads(out):
        suites = {s.split(':')[-1] for s in test['suite']}
        if args.suite and not suites & set(args.suite):
            continue
        if suites & set(args.no_suite):
            continue
        if test['name'] in seen:
            continue
        seen.add(test['name'])
        prog = test['cmd'][0] if test['cmd'] else ''
        state = 'run' if os.path.exists(prog) else 'missing'
        print(state, test['name'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
