#!/usr/bin/env bash
# fuzz-import-testdata.sh: copy the committed golden-test inputs (tests/data)
# into the fuzz corpora as seeds, named data-<kind>-<file>. Re-run after
# adding test data; files over 64 KiB are left out (the corpus stays small and
# the replay suite fast). Existing seeds are replaced, stale ones removed.
set -euo pipefail
cd "$(dirname "$0")/.."

# import KIND TARGET PATTERN...: tracked files under tests/data/KIND.
import() {
    local kind=$1 target=$2 dest=fuzz/corpus/$2 n=0 f
    shift 2
    rm -f "$dest"/data-"$kind"-*
    while IFS= read -r f; do
        (($(stat -c %s "$f") <= 65536)) || continue
        cp "$f" "$dest/data-$kind-$(basename "$(dirname "$f")")-$(basename "$f")"
        n=$((n + 1))
    done < <(git ls-files -- "${@/#/tests/data/$kind/}")
    echo "$target: $n seeds from tests/data/$kind"
}

import domain fuzz_domain_xml '*.xml'
import snapshot fuzz_snapshot_xml '*.xml'
import xl fuzz_xl_config '*.cfg'
import qmp fuzz_qmp_message '*.txt'
