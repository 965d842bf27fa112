#!/usr/bin/env bash
# bench-diff.sh: `vmsnap snapshot-diff` against `qemu-img compare` on a
# large, sparse disk. A domain (never started) gets a SIZE qcow2 disk with
# BASE_MIB written at random 64 KiB-aligned offsets; then external snapshots
# "ext" and "same" are taken with nothing written between, WRITTEN_MIB are
# written, an internal snapshot "int" is taken and WRITTEN_MIB more written.
# Timed, median of RUNS (default 5), page cache warm:
#   identical  snapshot-diff ext same     vs  qemu-img compare (whole disk, both
#              read through their chains: the case where qemu-img reads all data)
#   changed    snapshot-diff ext --current vs qemu-img compare (which stops at the
#              first mismatch; vmsnap lists every range)
#   internal   snapshot-diff int --current vs qemu-img convert -l + compare (qemu-img
#              compare cannot open an internal snapshot)
# vmsnap and qemu-img must agree (identical or not, first offset). Not run by the tests.
#
#   bench/bench-diff.sh [BUILD_DIR] [SIZE] [BASE_MIB] [WRITTEN_MIB]  (build, 8G, 256, 4)
#   BENCH_DIR=/somewhere RUNS=5 bench/bench-diff.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
size=${2:-8G}
base_mib=${3:-256}
written=${4:-4}
runs=${RUNS:-5}
vmsnap=$build/tools/vmsnap/vmsnap
[ -x "$vmsnap" ] || { echo "error: $vmsnap is missing; build first (ninja -C $build)" >&2; exit 1; }
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vmsnap-bench-diff-XXXXXX")
trap 'rm -rf "$work"' EXIT
export VMSNAP_DIR=$work/state

# MIB MiB of 64 KiB writes at random 64 KiB-aligned offsets of FILE.
scatter() {
    local file=$1 seed=$2 mib=$3 cmds=() n=$(($3 * 16)) blocks
    blocks=$(($(qemu-img info --output=json "$file" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p') / 65536))
    RANDOM=$seed
    for ((i = 0; i < n; i++)); do
        cmds+=(-c "write -P $((RANDOM % 256)) $(((RANDOM * 32768 + RANDOM) % blocks * 65536)) 64k")
    done
    qemu-io -f qcow2 "${cmds[@]}" "$file" >/dev/null
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Seconds of the median of $runs runs of "$@" (output discarded).
timeit() {
    for ((r = 0; r < runs; r++)); do
        local t0 t1
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        t1=$(date +%s.%N)
        echo "$t1 - $t0" | bc -l
    done | median
}

disk=$work/disk.qcow2
qemu-img create -q -f qcow2 "$disk" "$size"
scatter "$disk" 1 "$base_mib"
cat >"$work/dom.xml" <<XML
<domain type='qemu'><name>bench</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type><kernel>/nonexistent</kernel></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='$disk'/><target dev='vda' bus='virtio'/></disk></devices></domain>
XML
active_file() { "$vmsnap" dumpxml bench | sed -n "s/.*<source file='\([^']*\)'.*/\1/p"; }
"$vmsnap" define "$work/dom.xml" >/dev/null
"$vmsnap" snapshot-create-as bench ext --disk-only >/dev/null
same_frozen=$(active_file)
"$vmsnap" snapshot-create-as bench same --disk-only >/dev/null
active=$(active_file)
scatter "$active" 2 "$written"
"$vmsnap" snapshot-create-as bench int --disk-only --diskspec vda,snapshot=internal >/dev/null
scatter "$active" 3 "$written"

first_ours() { "$vmsnap" snapshot-diff bench "$@" --json | sed -n '0,/"offset"/s/.*"offset": \([0-9]*\).*/\1/p'; }
first_theirs() { (qemu-img compare "$@" || true) | sed -n 's/Content mismatch at offset \([0-9]*\)!/\1/p'; }
agree() {
    [ "$1" = "$2" ] || { echo "error: $3: vmsnap says '$1', qemu-img '$2'" >&2; exit 1; }
}
agree "$(first_ours ext same)" "$(first_theirs "$disk" "$same_frozen")" "ext..same first offset"
agree "$(first_ours ext --current)" "$(first_theirs "$disk" "$active")" "ext..current first offset"
qemu-img convert -l snapshot.name=int -O raw "$active" "$work/int.raw"
agree "$(first_ours int --current)" "$(first_theirs -f raw "$work/int.raw" "$active")" "int..current"
rm -f "$work/int.raw"

t_same=$(timeit "$vmsnap" snapshot-diff bench ext same)
t_same_q=$(timeit qemu-img compare "$disk" "$same_frozen")
t_ext=$(timeit "$vmsnap" snapshot-diff bench ext --current)
t_ext_q=$(timeit qemu-img compare "$disk" "$active")
t_int=$(timeit "$vmsnap" snapshot-diff bench int --current)
t_int_q=$(timeit sh -c "qemu-img convert -l snapshot.name=int -O raw '$active' '$work/int.raw' && qemu-img compare -f raw '$work/int.raw' '$active'; rm -f '$work/int.raw'")
differ=$("$vmsnap" snapshot-diff bench ext | sed -n 's/^total: \([0-9]*\) bytes differ/\1/p')

row() { printf '%-10s %10.3f s %10.3f s %8.1fx\n' "$1" "$2" "$3" "$(echo "$3 / $2" | bc -l)"; }
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -r), $(qemu-img --version | head -1)"
echo "disk: $size virtual, $base_mib MiB in the base, $written MiB written twice after; ext..current: $differ bytes differ; median of $runs"
printf '%-10s %12s %12s %9s\n' case vmsnap qemu-img ratio
row identical "$t_same" "$t_same_q"
row changed "$t_ext" "$t_ext_q"
row internal "$t_int" "$t_int_q"
