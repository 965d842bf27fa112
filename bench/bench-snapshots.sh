#!/usr/bin/env bash
# bench-snapshots.sh: snapshots of a running 256 MiB test guest, vmsnap side
# by side with libvirt's virsh on the same guest, alternating in one run:
#
#   create   full snapshot (vmsnap internal and external, virsh internal);
#            disk-only snapshot (vmsnap external, virsh external)
#   revert   to a full snapshot from the running guest (vmsnap internal and
#            external, virsh internal); to a disk-only snapshot (vmsnap;
#            virsh 9.0 refuses external snapshots)
#
# Each figure is the wall time of the command as a user runs it (one process,
# output discarded), REPS runs, min / median / max in ms, and the median's
# ratio to virsh's. Both tools return with the guest running.
#
#   bench/bench-snapshots.sh [BUILD_DIR] [REPS]
#
# Needs root (libvirt's system daemon). Installs libvirt from Debian when
# virsh is missing, starts libvirtd and virtlogd if they are not running and
# stops what it started.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath "${1:-$top/build}")
reps=${2:-5}
vmsnap=$build/tools/vmsnap/vmsnap
guest=$build/tests/guest
for f in "$vmsnap" "$guest/vmlinuz" "$guest/initrd.img"; do
    [ -e "$f" ] || { echo "error: $f is missing; build first (meson setup build && ninja -C build)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "error: run as root (libvirt's system daemon runs the anchor)" >&2; exit 1; }

if ! command -v virsh >/dev/null || ! command -v libvirtd >/dev/null; then
    echo "installing libvirt from Debian (the anchor)..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu >/dev/null
fi

work=$(mktemp -d /tmp/vmsnap-bench-XXXXXX)
chmod 755 "$work" # libvirt runs QEMU as libvirt-qemu
started=()
cleanup() {
    virsh destroy lvbench >/dev/null 2>&1 || true
    virsh undefine lvbench --snapshots-metadata >/dev/null 2>&1 || true
    "$vmsnap" --dir "$work/state" destroy bench >/dev/null 2>&1 || true
    for pid in "${started[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
for daemon in virtlogd libvirtd; do
    if ! pgrep -x "$daemon" >/dev/null; then
        "$daemon" -d
        started+=("$(pgrep -nx "$daemon")")
    fi
done
for _ in $(seq 50); do virsh version >/dev/null 2>&1 && break; sleep 0.1; done

# The same domain for both tools: the test guest, one 64 MiB qcow2 disk.
domain_xml() { # NAME DISK SERIAL_XML
    cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    $3
  </devices>
</domain>
EOF
}

# Wait (up to 30 s) until FILE holds a line "counter N": the guest runs.
wait_counting() {
    for _ in $(seq 300); do
        grep -q '^counter [0-9]' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "error: the guest did not start counting in $1" >&2
    exit 1
}

vs() { "$vmsnap" --dir "$work/state" "$@"; }

mkdir -p "$work/vmsnap" "$work/libvirt"
qemu-img create -q -f qcow2 "$work/vmsnap/vda.qcow2" 64M
qemu-img create -q -f qcow2 "$work/libvirt/vda.qcow2" 64M
domain_xml bench "$work/vmsnap/vda.qcow2" "<serial type='pty'/>" >"$work/vmsnap.xml"
domain_xml lvbench "$work/libvirt/vda.qcow2" \
    "<serial type='file'><source path='$work/libvirt/serial.log'/></serial>" >"$work/libvirt.xml"
vs define "$work/vmsnap.xml" >/dev/null
virsh define "$work/libvirt.xml" >/dev/null
vs start bench >/dev/null
virsh start lvbench >/dev/null
wait_counting "$work/state/run/bench/serial.log"
wait_counting "$work/libvirt/serial.log"

declare -A runs
# One timed run of "$@" in ms, appended to runs[KEY]; a failure records the
# command's error instead.
timed() {
    local key=$1 start end out
    shift
    start=$(date +%s%N)
    if out=$("$@" 2>&1 >/dev/null); then
        end=$(date +%s%N)
        runs[$key]+="$(((end - start) / 1000000)) "
    else
        runs[$key]="failed: $(echo "$out" | sed "s/^error: //" | paste -sd ";" | sed "s/;/; /g")"
        return 0
    fi
}

# Internal full snapshots first (each reverted in place: its file is still
# the active layer), then external ones, then disk-only: libvirt refuses
# internal snapshots once a disk has external ones. vmsnap's revert to an
# internal snapshot whose file an external snapshot froze since copies the
# file first (docs/adr/0006): not measured here.
for ((r = 1; r <= reps; r++)); do
    timed "create full internal|vmsnap" vs snapshot-create-as bench "fi$r" --memspec snapshot=internal --diskspec vda,snapshot=internal
    timed "create full internal|virsh" virsh snapshot-create-as lvbench "fi$r"
done
for ((r = 1; r <= reps; r++)); do
    timed "revert full internal|vmsnap" vs snapshot-revert bench "fi$r"
    timed "revert full internal|virsh" virsh snapshot-revert lvbench "fi$r"
done
for ((r = 1; r <= reps; r++)); do
    timed "create full external|vmsnap" vs snapshot-create-as bench "fe$r"
done
for ((r = 1; r <= reps; r++)); do
    timed "revert full external|vmsnap" vs snapshot-revert bench "fe$r"
done
for ((r = 1; r <= reps; r++)); do
    timed "create disk-only external|vmsnap" vs snapshot-create-as bench "de$r" --disk-only
    timed "create disk-only external|virsh" virsh snapshot-create-as lvbench "de$r" --disk-only
done
for ((r = 1; r <= reps; r++)); do
    timed "revert disk-only external|vmsnap" vs snapshot-revert bench "de$r" --running
    timed "revert disk-only external|virsh" virsh snapshot-revert lvbench "de$r" --running
done

# "min / median / max" of a run list, or the failure as it is.
summary() {
    case $1 in failed:*) echo "$1"; return ;; esac
    printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {printf "%d / %d / %d", a[1], a[int((NR+1)/2)], a[NR]}'
}
median() {
    case $1 in failed:* | "" | "—") echo ""; return ;; esac
    printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

echo "# vmsnap snapshots of a running guest, side by side with libvirt"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r); $(qemu-system-x86_64 --version | head -1); $(virsh --version | sed 's/^/libvirt /'); $("$vmsnap" --version)"
echo "guest: the test guest (tests/guest), 256 MiB, 1 vCPU, TCG, one 64 MiB qcow2 disk; $reps runs each, ms (min / median / max)"
echo
printf '| %-27s | %-22s | %-22s | %-9s |\n' scenario vmsnap virsh "ratio"
printf '|%s|%s|%s|%s|\n' ----------------------------- ------------------------ ------------------------ -----------
for scenario in "create full internal" "create full external" "create disk-only external" \
    "revert full internal" "revert full external" "revert disk-only external"; do
    v=${runs["$scenario|vmsnap"]:-}
    l=${runs["$scenario|virsh"]:-"—"}
    vm=$(median "$v")
    lm=$(median "$l")
    ratio="—"
    [ -n "$vm" ] && [ -n "$lm" ] && ratio=$(awk -v a="$vm" -v b="$lm" 'BEGIN {printf "%.3f", a / (b ? b : 1)}')
    lsum=$l
    [ "$l" = "—" ] || lsum=$(summary "$l")
    printf '| %-27s | %-22s | %-22s | %-9s |\n' "$scenario" "$(summary "$v")" "$lsum" "$ratio"
done
