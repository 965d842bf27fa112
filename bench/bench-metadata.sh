#!/usr/bin/env bash
# bench-metadata.sh: snapshot metadata at scale. Builds domains with 10,
# 1,000 and 10,000 snapshots through the public API, then times what a user
# runs: snapshot-list (--tree, --json, table), snapshot-info, snapshot-current,
# snapshot-parent. Each command runs REPS times; min/median/max are reported.
#
#   bench/bench-metadata.sh [BUILD_DIR] [REPS]
#
# Anchors (libvirt's virsh on the same tree) arrive with the benchmark issue.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
reps=${2:-5}
vmsnap=$build/tools/vmsnap/vmsnap
build_tree=$build/bench/build_tree
for f in "$vmsnap" "$build_tree"; do
    [ -x "$f" ] || { echo "error: $f is missing; build first (meson setup build && ninja -C build)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/vmsnap-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

# One timed run in milliseconds, output discarded.
time_ms() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}

# min/median/max of REPS runs.
stats() {
    local -a runs=()
    for ((r = 0; r < reps; r++)); do runs+=("$(time_ms "$@")"); done
    printf '%s\n' "${runs[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%d / %d / %d", a[1], a[int((NR+1)/2)], a[NR]}'
}

echo "# vmsnap metadata benchmark"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(df -hT "$work" | awk 'NR==2 {print $2}') at $work"
echo "$("$vmsnap" --version 2>/dev/null || echo "vmsnap ?"), $reps runs each, times in ms (min / median / max)"
echo
printf '| %-10s | %-12s | %-22s | %-22s | %-22s | %-22s | %-22s |\n' snapshots "import (s)" "list --tree" "list --json" "list (table)" "snapshot-info" "snapshot-current"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ------------ -------------- ------------------------ ------------------------ ------------------------ ------------------------ ------------------------
for n in 10 1000 10000; do
    dir=$work/n$n
    import=$("$build_tree" "$dir" "$top/bench/data/domain.xml" "$n")
    mid=$(printf 'snap%06d' $((n / 2)))
    tree=$(stats "$vmsnap" --dir "$dir" snapshot-list bench --tree)
    json=$(stats "$vmsnap" --dir "$dir" snapshot-list bench --json)
    table=$(stats "$vmsnap" --dir "$dir" snapshot-list bench)
    info=$(stats "$vmsnap" --dir "$dir" snapshot-info bench "$mid")
    current=$(stats "$vmsnap" --dir "$dir" snapshot-current bench --name)
    printf '| %-10s | %-12s | %-22s | %-22s | %-22s | %-22s | %-22s |\n' "$n" "$import" "$tree" "$json" "$table" "$info" "$current"
done
