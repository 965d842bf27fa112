#!/usr/bin/env bash
# bench-metadata.sh: folded into bench/run.sh (scenario 5: snapshot metadata
# at 10, 1,000 and 10,000 snapshots, vmsnap side by side with virsh). Kept so
# older notes (docs/adr/0004) still work.
#
#   bench/bench-metadata.sh [BUILD_DIR] [REPS]
exec "$(dirname "$0")/run.sh" --build "${1:-$(dirname "$0")/../build-bench}" --reps "${2:-5}" --scenario 5
