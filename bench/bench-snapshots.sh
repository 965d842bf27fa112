#!/usr/bin/env bash
# bench-snapshots.sh: folded into bench/run.sh (scenarios 1-3: full and
# disk-only snapshots of a running guest and reverts, vmsnap side by side
# with virsh and bare QEMU). Kept so older notes still work.
#
#   bench/bench-snapshots.sh [BUILD_DIR] [REPS]
exec "$(dirname "$0")/run.sh" --build "${1:-$(dirname "$0")/../build-bench}" --reps "${2:-5}" \
    --scenario 1 --scenario 2 --scenario 3
