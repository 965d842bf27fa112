#!/usr/bin/env bash
# bench-diff.sh: `vmsnap snapshot-diff` against `qemu-img compare` on a
# large, sparse disk. A domain (never started) gets an 8 GiB qcow2 disk with
# a few MiB written at random offsets; an external snapshot "ext" and an
# internal one "int" are taken with a few more MiB written between and
# after. Timed, median of RUNS (default 5), page cache warm:
#   external  snapshot-diff DOM ext --current   vs  qemu-img compare FROZEN ACTIVE
#   internal  snapshot-diff DOM int --current   (qemu-img compare cannot open an
#             internal snapshot; `qemu-img convert -l` to raw and compare is shown)
# Both must agree (identical or not, first offset). Not run by the tests.
#
#   bench/bench-diff.sh [BUILD_DIR] [SIZE] [WRITTEN_MIB]   (build, 8G, 4)
#   BENCH_DIR=/somewhere RUNS=5 bench/bench-diff.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
size=${2:-8G}
written=${3:-4}
runs=${RUNS:-5}
vmsnap=$build/tools/vmsnap/vmsnap
[ -x "$vmsnap" ] || { echo "error: $vmsnap is missing; build first (ninja -C $build)" >&2; exit 1; }
work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/vmsnap-bench-diff-XXXXXX")
trap 'rm -rf "$work"' EXIT
export VMSNAP_DIR=$work/state

# WRITTEN_MIB of 64 KiB writes at random 64 KiB-aligned offsets of FILE.
scatter() {
    local file=$1 seed=$2 cmds=() n=$((written * 16)) blocks
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
scatter "$disk" 1
cat >"$work/dom.xml" <<XML
<domain type='qemu'><name>bench</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64'>hvm</type><kernel>/nonexistent</kernel></os>
<devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
<source file='$disk'/><target dev='vda' bus='virtio'/></disk></devices></domain>
XML
"$vmsnap" define "$work/dom.xml" >/dev/null
"$vmsnap" snapshot-create-as bench ext --disk-only >/dev/null
active=$("$vmsnap" dumpxml bench | sed -n "s/.*<source file='\([^']*\)'.*/\1/p")
scatter "$active" 2
"$vmsnap" snapshot-create-as bench int --disk-only --diskspec vda,snapshot=internal >/dev/null
scatter "$active" 3

# Agreement first.
ours=$("$vmsnap" snapshot-diff bench ext --json | sed -n '0,/"offset"/s/.*"offset": \([0-9]*\).*/\1/p')
theirs=$(qemu-img compare "$disk" "$active" | sed -n 's/Content mismatch at offset \([0-9]*\)!/\1/p')
[ "$ours" = "$theirs" ] || { echo "error: first differing offset: vmsnap $ours, qemu-img $theirs" >&2; exit 1; }

t_ext=$(timeit "$vmsnap" snapshot-diff bench ext --current)
t_cmp=$(timeit qemu-img compare "$disk" "$active")
t_int=$(timeit "$vmsnap" snapshot-diff bench int --current)
t_conv=$(timeit sh -c "qemu-img convert -l snapshot.name=int -O raw '$active' '$work/int.raw' && qemu-img compare -f raw '$work/int.raw' '$active'; rm -f '$work/int.raw'")
differ=$("$vmsnap" snapshot-diff bench ext | sed -n 's/^total: \([0-9]*\) bytes differ/\1/p')

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(uname -r), $(qemu-img --version | head -1)"
echo "disk: $size virtual, ${written} MiB written before each point; $differ bytes differ (ext..current); median of $runs"
printf '%-48s %8.3f s\n' "snapshot-diff ext --current (external)" "$t_ext"
printf '%-48s %8.3f s\n' "qemu-img compare frozen active" "$t_cmp"
printf '%-48s %8.1fx\n' "ratio qemu-img / vmsnap" "$(echo "$t_cmp / $t_ext" | bc -l)"
printf '%-48s %8.3f s\n' "snapshot-diff int --current (internal)" "$t_int"
printf '%-48s %8.3f s\n' "qemu-img convert -l int to raw + compare" "$t_conv"
printf '%-48s %8.1fx\n' "ratio qemu-img / vmsnap" "$(echo "$t_conv / $t_int" | bc -l)"
