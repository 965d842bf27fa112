#!/usr/bin/env bash
# count-selftest.sh: scripts/count-tests.py counts test cases as
# docs/testing.md says, on a hand-made meson testlog.
set -euo pipefail

counter="$(cd "$(dirname "$0")/../.." && pwd)/scripts/count-tests.py"
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# One line per test, as meson writes them (only the fields the counter reads).
cat >"$log" <<'JSON'
{"name": "tap-mixed", "result": "FAIL", "stdout": "1..4\nok 1 /a\nnot ok 2 /b\nok 3 /c # SKIP no disk\nok 4 /d\n"}
{"name": "tap-crash-after-pass", "result": "ERROR", "stdout": "1..3\nok 1 /a\nok 2 /b\n"}
{"name": "tap-todo", "result": "OK", "stdout": "not ok 1 /known # TODO later\nok 2 /x\n"}
{"name": "plain-ok", "result": "OK", "stdout": ""}
{"name": "plain-fail", "result": "FAIL", "stdout": "some output\n"}
{"name": "plain-timeout", "result": "TIMEOUT", "stdout": null}
{"name": "plain-skip", "result": "SKIP", "stdout": ""}
JSON

# passed: 2 (mixed) + 2 (crash) + 2 (todo) + 1 (plain-ok) = 7
# failed: 1 (mixed) + 1 (crash) + 1 (plain-fail) + 1 (timeout) = 4
# skipped: 1 (mixed) + 1 (plain-skip) = 2
expected="7 4 2"
actual=$(python3 "$counter" "$log" /nonexistent/missing.json)
if [[ $actual != "$expected" ]]; then
    echo "count-tests.py printed '$actual', expected '$expected'"
    exit 1
fi
echo "count-selftest: ok ($actual)"
