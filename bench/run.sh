#!/usr/bin/env bash
# bench/run.sh: vmsnap's benchmarks, side by side with libvirt's virsh, bare
# QEMU and qemu-img, in one command (issue 8; docs/benchmarks.md). Installs
# what it needs (libvirt, gnuplot, QEMU, strace, time), builds vmsnap and the
# test guest into its own build directory, starts libvirtd/virtlogd if they
# are not running (and stops them after), boots the test guest under each
# tool and runs each scenario for vmsnap and its anchors alternately, REPS
# times; then writes the table and plots.
#
#   bench/run.sh                  every scenario, 5 repetitions
#   bench/run.sh --reps N         N repetitions
#   bench/run.sh --scenario N     only scenario N (repeatable); its rows
#                                 replace that scenario's in the results
#   bench/run.sh --smoke          every scenario once, smallest sizes, results
#                                 in a scratch directory: checks the scripts
#   bench/run.sh --plot-only      regenerate the table and plots from the
#                                 results file
#   --no-libvirt                  leave libvirt out (no daemon needed)
#   --no-install                  install nothing (fail if something is missing)
#   --no-build                    use the build directory as it is (the bench
#                                 suite's smoke test: meson built it)
#   --build DIR                   build directory (default: build-bench)
#   --out DIR                     results, plots and table (default: docs/bench;
#                                 with --smoke a scratch directory)
#
# Scenarios:
#   1  full snapshot of a running guest (256 MiB, 1 GiB; most of RAM dirtied):
#      guest pause and total time; vmsnap --live (external memory) vs virsh
#      internal vs virsh external --live vs bare QEMU migrate to a file
#   2  revert to a full and to a disk-only snapshot (256 MiB guest)
#   3  disk-only snapshot of a running guest: pause and total
#   4  delete/merge of an external snapshot with 1 GiB of changed data:
#      vmsnap snapshot-delete (shut off, running) vs virsh snapshot-delete
#      (the same) vs qemu-img commit vs virsh blockcommit --active --pivot
#   5  metadata at 10, 1,000, 10,000 snapshots: create one, list, tree,
#      lookup, delete one
#   6  memory-file throughput: save, verify, restore with none/gzip/zstd vs
#      the disk's raw speed (dd conv=fdatasync)
#
# Needs root (libvirt's system daemon, apt-get). Every figure goes to
# OUT/results.tsv (one line per measurement), the machine to OUT/machine.tsv;
# bench/report.py turns them into OUT/results.md and OUT/*.png and, unless
# --smoke, into docs/benchmarks.md's generated section.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/build-bench
out=""
reps=5
smoke=0
plot_only=0
use_libvirt=1
install=1
do_build=1
scenarios=()
while (($#)); do
    case $1 in
    --reps) reps=$2; shift ;;
    --scenario) scenarios+=("$2"); shift ;;
    --smoke) smoke=1 ;;
    --plot-only) plot_only=1 ;;
    --no-libvirt) use_libvirt=0 ;;
    --no-install) install=0 ;;
    --no-build) do_build=0 ;;
    --build) build=$(realpath -m "$2"); shift ;;
    --out) out=$(realpath -m "$2"); shift ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown option '$1'; see bench/run.sh --help" >&2; exit 2 ;;
    esac
    shift
done
((${#scenarios[@]})) || scenarios=(1 2 3 4 5 6)
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --reps needs a positive number" >&2; exit 2; }

work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/vmsnap-bench-XXXXXX")
chmod 755 "$work" # libvirt runs QEMU as libvirt-qemu
if ((smoke)); then
    reps=1
    [ -n "$out" ] || out=$work/out
fi
[ -n "$out" ] || out=$top/docs/bench
mkdir -p "$out"
results=$out/results.tsv
report() {
    local args=("$out")
    ((smoke)) || [ "$out" != "$top/docs/bench" ] || args+=(--doc "$top/docs/benchmarks.md")
    python3 "$top/bench/report.py" "${args[@]}"
}

source "$top/bench/lib.sh"

if ((plot_only)); then
    report
    status=$?
    rm -rf "$work"
    exit $status
fi

[ "$(id -u)" = 0 ] || ((!use_libvirt)) ||
    bench_die "run as root (libvirt's system daemon runs the anchors), or --no-libvirt"

finish() {
    bench_cleanup
    bench_stop_daemons
    rm -rf "$work"
}
trap finish EXIT
trap 'exit 130' INT TERM

((install)) && bench_install
if ((do_build)); then
    bench_build
else
    vmsnap=$build/tools/vmsnap/vmsnap guest=$build/tests/guest
    for f in "$vmsnap" "$build/bench/build_tree" "$guest/vmlinuz" "$build/src/libvmsnap_internal.a"; do
        [ -e "$f" ] || bench_die "$f is missing; build it (ninja -C $build)"
    done
fi
((use_libvirt)) && bench_libvirt_start

# Results: the scenarios run now replace their old rows.
touch "$results"
for s in "${scenarios[@]}"; do
    awk -F'\t' -v s="$s" '$1 != s' "$results" >"$results.new" && mv "$results.new" "$results"
done
# The machine now; how long each scenario took, kept for those not run now.
{
    bench_machine
    printf 'reps\t%s\n' "$reps"
    printf 'smoke\t%s\n' "$smoke"
    [ -f "$out/machine.tsv" ] && grep '^scenario ' "$out/machine.tsv" |
        grep -v -E "^scenario ($(IFS='|'; echo "${scenarios[*]}")) "
} >"$out/machine.tsv.new"
mv "$out/machine.tsv.new" "$out/machine.tsv"

# strace_qmp LOG COMMAND... (run through `timed`): an strace of vmsnap's
# QMP reads. The STOP/RESUME events QEMU sends it carry QEMU's timestamps,
# the clock the other tools' pauses are read from too. With --seccomp-bpf
# only the traced calls stop; the rest run at full speed.

# virsh_pause DOMAIN_DIR NAME SKIP: the pause in NAME's event log after line
# SKIP, waiting up to 5 s for the RESUME event to be written.
virsh_pause() {
    local events=$1/$2.events deadline=$((SECONDS + 5))
    while ((SECONDS < deadline)); do
        tail -n +"$(($3 + 1))" "$events" | grep -q 'event RESUME' && break
        tail -n +"$(($3 + 1))" "$events" | grep -q 'event STOP' || break
        sleep 0.05
    done
    python3 "$top/bench/qmp.py" pause-virsh "$events" "$3"
}
lines() { wc -l <"$1"; }

# record_pause S CASE SIZE TOOL REP VALUE METHOD: a pause, or n/a.
record_pause() {
    local v=$6
    [ "$v" = - ] && v="n/a: no STOP/RESUME pair seen"
    record "$1" "$2" "$3" "$4" "pause ms" "$5" "$v" "$7"
}

# The <vmsnap:pause> element of a snapshot's XML, if vmsnap records one
# (issue 5): "US DOWNTIME_MS", or nothing.
vmsnap_xml_pause() {
    vs "$1" snapshot-dumpxml "$2" "$3" 2>/dev/null |
        sed -n "s/.*<vmsnap:pause[^>]* us='\([0-9]*\)'[^>]*qemu-downtime-ms='\([0-9]*\)'.*/\1 \2/p;
                s/.*<vmsnap:pause[^>]* us='\([0-9]*\)'[^>]*>.*/\1 -/p" | head -n 1
}

# dirty_for RAM_MIB: how much of the guest's RAM to fill at boot: 3/4, but
# leave the kernel 96 MiB (a 256 MiB guest filled with 192 MiB panics:
# "System is deadlocked on memory").
dirty_for() {
    local d=$(($1 * 3 / 4))
    (($1 - d < 96)) && d=$(($1 - 96))
    ((d > 0)) || d=0
    echo "$d"
}

size_label() { (($1 >= 1024)) && echo "$(($1 / 1024)) GiB" || echo "$1 MiB"; }

# rotate N WORDS...: WORDS rotated left by N: each repetition starts with
# another tool, so none always runs first.
rotate() {
    local n=$1
    shift
    local a=("$@") k=$((n % $#))
    echo "${a[@]:k}" "${a[@]:0:k}"
}

# ---------------------------------------------------------------------------
# Scenario 1: full snapshot of a running guest, pause and total.
scenario1() {
    local sizes=(256 1024) ram
    ((smoke)) && sizes=(128)
    for ram in "${sizes[@]}"; do
        local dirty z d=$work/s1-$ram tools r t ms
        dirty=$(dirty_for "$ram")
        z=$(size_label "$ram")
        bench_note "scenario 1: full snapshot, $z guest, $dirty MiB dirtied, $reps reps"
        boot_vmsnap "$d" g1 "$ram" "$dirty"
        boot_qemu "$d" q1 "$ram" "$dirty"
        tools=(vmsnap qemu)
        if ((use_libvirt)); then
            boot_virsh "$d" li1 "$ram" "$dirty"
            boot_virsh "$d" le1 "$ram" "$dirty"
            tools+=(virsh-internal virsh-external)
        fi
        wait_counting "$d/state/run/g1/serial.log" 300
        wait_counting "$d/q1.serial" 300
        if ((use_libvirt)); then
            wait_counting "$d/li1.serial" 300
            wait_counting "$d/le1.serial" 300
        fi
        for ((r = 1; r <= reps; r++)); do
            for t in $(rotate $((r - 1)) "${tools[@]}"); do
                case $t in
                vmsnap)
                    # vmsnap records the pause from QEMU's own STOP/RESUME
                    # events in the snapshot (<vmsnap:pause>): no strace
                    # needed, nothing slows its QMP client down.
                    if timed ms "$vmsnap" --dir "$d/state" \
                        snapshot-create-as g1 "f$r" --live --memspec "file=$d/g1.mem$r,snapshot=external"; then
                        record 1 "full snapshot" "$z" vmsnap "total ms" "$r" "$ms" "wall time of the command"
                        record 1 "full snapshot" "$z" vmsnap "peak RSS MiB" "$r" "$bench_rss" "/usr/bin/time %M"
                        record 1 "full snapshot" "$z" vmsnap "file MiB" "$r" \
                            "$(($(stat -c %s "$d/g1.mem$r") / 1048576))" "memory file size"
                        local xp
                        xp=$(vmsnap_xml_pause "$d/state" g1 "f$r")
                        if [ -n "$xp" ]; then
                            record_pause 1 "full snapshot" "$z" vmsnap "$r" \
                                "$(awk -v us="${xp% *}" 'BEGIN { printf "%.1f", us / 1000 }')" \
                                "QEMU STOP→RESUME events (<vmsnap:pause us>)"
                            [ "${xp#* }" = - ] || record 1 "full snapshot" "$z" vmsnap \
                                "QEMU downtime ms" "$r" "${xp#* }" "<vmsnap:pause qemu-downtime-ms>"
                        fi
                        vs "$d/state" snapshot-delete g1 "f$r" --metadata >/dev/null
                    else
                        record 1 "full snapshot" "$z" vmsnap "total ms" "$r" "failed: $bench_err" "wall time"
                    fi
                    rm -f "$d/g1.mem$r" "$d/strace.$r"
                    ;;
                qemu)
                    local res
                    if res=$(python3 "$top/bench/qmp.py" migrate "$d/q1.qmp" "$d/q1.mem$r" 2>&1); then
                        set -- $res
                        record 1 "full snapshot" "$z" "qemu migrate" "total ms" "$r" "$1" "migrate exec:cat>FILE, until cont returns"
                        record_pause 1 "full snapshot" "$z" "qemu migrate" "$r" "$2" "QEMU STOP→RESUME events"
                        record 1 "full snapshot" "$z" "qemu migrate" "QEMU downtime ms" "$r" "$3" "query-migrate downtime"
                        record 1 "full snapshot" "$z" "qemu migrate" "file MiB" "$r" \
                            "$(($(stat -c %s "$d/q1.mem$r") / 1048576))" "migration stream size"
                    else
                        record 1 "full snapshot" "$z" "qemu migrate" "total ms" "$r" "failed: $res" "qmp.py migrate"
                    fi
                    rm -f "$d/q1.mem$r"
                    # QEMU's own point-in-time save, what vmsnap drives: the
                    # like-for-like anchor of vmsnap's total time.
                    if res=$(python3 "$top/bench/qmp.py" migrate-bg "$d/q1.qmp" "$d/q1.mem$r" 2>&1); then
                        set -- $res
                        record 1 "full snapshot" "$z" "qemu background-snapshot" "total ms" "$r" "$1" "migrate exec:cat>FILE with background-snapshot"
                        record_pause 1 "full snapshot" "$z" "qemu background-snapshot" "$r" "$2" "QEMU STOP→RESUME events"
                    else
                        record 1 "full snapshot" "$z" "qemu background-snapshot" "total ms" "$r" "failed: $res" "qmp.py migrate-bg"
                    fi
                    rm -f "$d/q1.mem$r"
                    ;;
                virsh-internal)
                    local skip
                    skip=$(lines "$d/li1.events")
                    if timed_record 1 "full snapshot" "$z" "virsh internal" "$r" \
                        virsh snapshot-create-as li1 "f$r"; then
                        record_pause 1 "full snapshot" "$z" "virsh internal" "$r" \
                            "$(virsh_pause "$d" li1 "$skip")" "QEMU STOP→RESUME events"
                        virsh snapshot-delete li1 "f$r" >/dev/null
                    fi
                    ;;
                virsh-external)
                    local skip
                    skip=$(lines "$d/le1.events")
                    if timed_record 1 "full snapshot" "$z" "virsh external --live" "$r" \
                        virsh snapshot-create-as le1 "f$r" --live \
                        --memspec "file=$d/le1.mem$r,snapshot=external" \
                        --diskspec "vda,snapshot=external,file=$d/le1.f$r.qcow2"; then
                        record_pause 1 "full snapshot" "$z" "virsh external --live" "$r" \
                            "$(virsh_pause "$d" le1 "$skip")" "QEMU STOP→RESUME events"
                        record 1 "full snapshot" "$z" "virsh external --live" "file MiB" "$r" \
                            "$(($(stat -c %s "$d/le1.mem$r") / 1048576))" "memory file size"
                        virsh snapshot-delete le1 "f$r" --metadata >/dev/null
                    fi
                    rm -f "$d/le1.mem$r"
                    ;;
                esac
            done
        done
        python3 "$top/bench/qmp.py" quit "$d/q1.qmp"
        bench_cleanup
        rm -rf "$d"
    done
}

# ---------------------------------------------------------------------------
# Scenario 2: revert to a full and to a disk-only snapshot, 256 MiB guest.
scenario2() {
    local ram=256 r t z d=$work/s2
    ((smoke)) && ram=128
    local dirty
    dirty=$(dirty_for "$ram")
    z=$(size_label "$ram")
    bench_note "scenario 2: revert, $z guest, $reps reps"
    # One vmsnap domain for external snapshots, one for internal ones (a
    # revert to an internal snapshot whose file an external one froze since
    # copies the file first: another case).
    boot_vmsnap "$d" g2 "$ram" "$dirty"
    boot_vmsnap "$d" g2i "$ram" "$dirty"
    local tools=(vmsnap-ext vmsnap-int vmsnap-disk)
    if ((use_libvirt)); then
        boot_virsh "$d" li2 "$ram" "$dirty"
        tools+=(virsh-int)
    fi
    wait_counting "$d/state/run/g2/serial.log" 300
    wait_counting "$d/state/run/g2i/serial.log" 300
    ((use_libvirt)) && wait_counting "$d/li2.serial" 300
    vs "$d/state" snapshot-create-as g2 full --memspec "file=$d/g2.mem,snapshot=external" >/dev/null ||
        bench_die "vmsnap snapshot-create-as g2 full failed"
    vs "$d/state" snapshot-create-as g2 disk --disk-only >/dev/null ||
        bench_die "vmsnap snapshot-create-as g2 disk --disk-only failed"
    vs "$d/state" snapshot-create-as g2i full --memspec snapshot=internal \
        --diskspec vda,snapshot=internal >/dev/null || bench_die "vmsnap internal snapshot failed"
    ((use_libvirt)) && { virsh snapshot-create-as li2 full >/dev/null || bench_die "virsh snapshot-create-as li2 failed"; }
    for ((r = 1; r <= reps; r++)); do
        for t in $(rotate $((r - 1)) "${tools[@]}"); do
            case $t in
            vmsnap-ext) timed_record 2 "revert to full (external memory)" "$z" vmsnap "$r" \
                vs "$d/state" snapshot-revert g2 full ;;
            vmsnap-int) timed_record 2 "revert to full (internal)" "$z" vmsnap "$r" \
                vs "$d/state" snapshot-revert g2i full ;;
            vmsnap-disk) timed_record 2 "revert to disk-only, --running" "$z" vmsnap "$r" \
                vs "$d/state" snapshot-revert g2 disk --running ;;
            virsh-int) timed_record 2 "revert to full (internal)" "$z" "virsh internal" "$r" \
                virsh snapshot-revert li2 full ;;
            esac
        done
    done
    if ((use_libvirt)); then
        # libvirt 9.0 reverts no external snapshot: record its answer once.
        virsh snapshot-create-as li2 disk --disk-only >/dev/null
        if timed ms virsh snapshot-revert li2 disk --running; then
            record 2 "revert to disk-only, --running" "$z" "virsh external" "total ms" 1 "$ms" "wall time"
        else
            record 2 "revert to disk-only, --running" "$z" "virsh external" "total ms" 1 "refused: $bench_err" "libvirt's answer"
        fi
    fi
    bench_cleanup
    rm -rf "$d"
}

# ---------------------------------------------------------------------------
# Scenario 3: disk-only snapshot of a running guest.
scenario3() {
    local ram=256 r t z d=$work/s3 ms skip
    ((smoke)) && ram=128
    z=$(size_label "$ram")
    bench_note "scenario 3: disk-only snapshot, $z guest, $reps reps"
    boot_vmsnap "$d" g3 "$ram" 0
    local tools=(vmsnap)
    if ((use_libvirt)); then
        boot_virsh "$d" le3 "$ram" 0
        tools+=(virsh)
    fi
    wait_counting "$d/state/run/g3/serial.log" 300
    ((use_libvirt)) && wait_counting "$d/le3.serial" 300
    for ((r = 1; r <= reps; r++)); do
        for t in $(rotate $((r - 1)) "${tools[@]}"); do
            case $t in
            vmsnap)
                if timed ms strace_qmp "$d/strace" "$vmsnap" --dir "$d/state" snapshot-create-as g3 "d$r" --disk-only; then
                    record 3 "disk-only snapshot" "$z" vmsnap "total ms" "$r" "$ms" "wall time (under strace -e recvfrom)"
                    record_pause 3 "disk-only snapshot" "$z" vmsnap "$r" \
                        "$(python3 "$top/bench/qmp.py" pause-strace "$d/strace")" "QEMU STOP→RESUME events"
                else
                    record 3 "disk-only snapshot" "$z" vmsnap "total ms" "$r" "failed: $bench_err" "wall time"
                fi
                ;;
            virsh)
                skip=$(lines "$d/le3.events")
                timed_record 3 "disk-only snapshot" "$z" "virsh external" "$r" \
                    virsh snapshot-create-as le3 "d$r" --disk-only \
                    --diskspec "vda,snapshot=external,file=$d/le3.d$r.qcow2" &&
                    record_pause 3 "disk-only snapshot" "$z" "virsh external" "$r" \
                        "$(virsh_pause "$d" le3 "$skip")" "QEMU STOP→RESUME events"
                ;;
            esac
        done
    done
    bench_cleanup
    rm -rf "$d"
}

# ---------------------------------------------------------------------------
# Scenario 4: delete/merge of an external snapshot holding MIB of changes.
# Each run: a base disk with MIB written (pattern 0x11), an overlay with MIB
# rewritten (0x5a) over it: whichever way a tool merges, MIB move.
scenario4() {
    local mib=1024 r t z d=$work/s4 ms
    ((smoke)) && mib=64
    z="$(size_label "$mib") changed"
    bench_note "scenario 4: merge $z, $reps reps"
    mkdir -p "$d"
    mkdir -p -m 700 "$d/state"
    local tools=(vmsnap-off vmsnap-run qemu-img)
    ((use_libvirt)) && tools+=(virsh virsh-delete-off virsh-delete-run)
    # fill FILE PATTERN: MIB of PATTERN at offset 0.
    fill() { qemu-io -f qcow2 -c "write -P $2 0 ${mib}M" "$1" >/dev/null || bench_die "qemu-io write $1 failed"; }
    # vmsnap_chain NAME: domain NAME (shut off) on base + snapshot s + 1 GiB
    # written into the overlay.
    vmsnap_chain() {
        vs "$d/state" destroy "$1" >/dev/null 2>&1
        vs "$d/state" undefine "$1" --snapshots-metadata >/dev/null 2>&1
        rm -f "$d/$1".*
        qemu-img create -q -f qcow2 "$d/$1.qcow2" 2G
        fill "$d/$1.qcow2" 0x11
        domain_xml "$1" 256 0 "$d/$1.qcow2" "<serial type='pty'/>" >"$d/$1.xml"
        vs "$d/state" define "$d/$1.xml" >/dev/null
        vs "$d/state" snapshot-create-as "$1" s --disk-only >/dev/null || bench_die "vmsnap snapshot of $1 failed"
        local overlay
        overlay=$(vs "$d/state" dumpxml "$1" | sed -n "s/.*<source file='\([^']*\)'.*/\1/p" | head -n 1)
        fill "$overlay" 0x5a
    }
    # virsh_chain NAME: the same as vmsnap_chain under libvirt (its snapshot
    # made by virsh, shut off).
    virsh_chain() {
        virsh destroy "$1" >/dev/null 2>&1
        virsh undefine "$1" --snapshots-metadata >/dev/null 2>&1
        rm -f "$d/$1".*
        qemu-img create -q -f qcow2 "$d/$1.qcow2" 2G
        fill "$d/$1.qcow2" 0x11
        domain_xml "$1" 256 0 "$d/$1.qcow2" \
            "<serial type='file'><source path='$d/$1.serial'/></serial>" >"$d/$1.xml"
        virsh define "$d/$1.xml" >/dev/null
        bench_virsh_domains+=("$1")
        virsh snapshot-create-as "$1" s --disk-only \
            --diskspec "vda,snapshot=external,file=$d/$1.s.qcow2" >/dev/null ||
            bench_die "virsh snapshot of $1 failed"
        fill "$d/$1.s.qcow2" 0x5a
    }
    plain_chain() { # NAME: base + overlay made with qemu-img
        rm -f "$d/$1".*
        qemu-img create -q -f qcow2 "$d/$1.base.qcow2" 2G
        fill "$d/$1.base.qcow2" 0x11
        qemu-img create -q -f qcow2 -b "$d/$1.base.qcow2" -F qcow2 "$d/$1.qcow2"
        fill "$d/$1.qcow2" 0x5a
    }
    for ((r = 1; r <= reps; r++)); do
        for t in $(rotate $((r - 1)) "${tools[@]}"); do
            case $t in
            vmsnap-off)
                vmsnap_chain m4
                timed_record 4 "merge, shut off" "$z" "vmsnap snapshot-delete" "$r" \
                    vs "$d/state" snapshot-delete m4 s
                ;;
            vmsnap-run)
                vmsnap_chain m4r
                vs "$d/state" start m4r >/dev/null || bench_die "vmsnap start m4r failed"
                bench_vmsnap_domains+=("$d/state|m4r")
                wait_counting "$d/state/run/m4r/serial.log" 300
                timed_record 4 "merge, running" "$z" "vmsnap snapshot-delete" "$r" \
                    vs "$d/state" snapshot-delete m4r s
                vs "$d/state" destroy m4r >/dev/null
                ;;
            qemu-img)
                plain_chain q4
                timed_record 4 "merge, shut off" "$z" "qemu-img commit" "$r" qemu-img commit -q "$d/q4.qcow2"
                ;;
            virsh)
                plain_chain l4
                chmod 644 "$d"/l4.*
                virsh destroy l4 >/dev/null 2>&1
                virsh undefine l4 >/dev/null 2>&1
                domain_xml l4 256 0 "$d/l4.qcow2" \
                    "<serial type='file'><source path='$d/l4.serial'/></serial>" >"$d/l4.xml"
                virsh define "$d/l4.xml" >/dev/null
                bench_virsh_domains+=(l4)
                virsh start l4 >/dev/null || bench_die "virsh start l4 failed"
                wait_counting "$d/l4.serial" 300
                timed_record 4 "merge, running" "$z" "virsh blockcommit --active --pivot" "$r" \
                    virsh blockcommit l4 vda --active --pivot --wait
                virsh destroy l4 >/dev/null 2>&1
                rm -f "$d/l4.serial"
                ;;
            virsh-delete-off)
                virsh_chain l4o
                timed_record 4 "merge, shut off" "$z" "virsh snapshot-delete" "$r" virsh snapshot-delete l4o s
                ;;
            virsh-delete-run)
                virsh_chain l4r
                virsh start l4r >/dev/null || bench_die "virsh start l4r failed"
                wait_counting "$d/l4r.serial" 300
                timed_record 4 "merge, running" "$z" "virsh snapshot-delete" "$r" virsh snapshot-delete l4r s
                virsh destroy l4r >/dev/null 2>&1
                ;;
            esac
        done
    done
    bench_cleanup
    rm -rf "$d"
}

# ---------------------------------------------------------------------------
# Scenario 5: metadata at scale. vmsnap's tree is imported through the API
# (bench/build_tree, timed as "import all"); libvirt's tree is the same
# snapshots written as libvirt stores them, loaded by restarting the
# libvirtd this script started (one `virsh snapshot-create --redefine`
# each would be the same data, one round trip at a time). Each then times
# what a user runs: redefine one more snapshot, list, list --tree, dumpxml
# and info of one snapshot in the middle, delete one (--metadata).
scenario5() {
    local counts=(10 1000 10000) n r t ms
    ((smoke)) && counts=(10)
    local libvirt_ok=0
    if ((use_libvirt)); then
        if ((${#bench_started_daemons[@]} == 2)); then
            libvirt_ok=1
        else
            bench_note "scenario 5: libvirtd was already running; libvirt's tree needs a restart of a daemon this script started: libvirt left out"
        fi
    fi
    for n in "${counts[@]}"; do
        local d=$work/s5-$n z="$n snapshots" mid tools=(vmsnap)
        bench_note "scenario 5: $n snapshots, $reps reps"
        mkdir -p "$d"
        mkdir -p -m 700 "$d/state"
        qemu-img create -q -f qcow2 "$d/m5.qcow2" 64M
        chmod 755 "$d"
        domain_xml m5 256 0 "$d/m5.qcow2" "<serial type='pty'/>" >"$d/m5.xml"
        local import
        import=$("$build/bench/build_tree" "$d/state" "$d/m5.xml" "$n") || bench_die "build_tree failed"
        record 5 "import all (API)" "$z" vmsnap "total ms" 1 \
            "$(awk -v s="$import" 'BEGIN { printf "%.1f", s * 1000 }')" "bench/build_tree: vmsnap_snapshot_create_xml REDEFINE"
        if ((libvirt_ok)); then
            virsh define "$d/m5.xml" >/dev/null
            bench_virsh_domains+=(m5)
            python3 "$top/bench/libvirt_tree.py" m5 "$n" || bench_die "writing libvirt's tree failed"
            bench_libvirt_restart
            tools+=(virsh)
        fi
        mid=$(printf 'snap%06d' $((n / 2)))
        # One more snapshot to redefine: a child of the middle one (libvirt
        # wants the domain inside; vmsnap adds its own).
        local extra_xml
        for ((r = 1; r <= reps; r++)); do
            for t in $(rotate $((r - 1)) "${tools[@]}"); do
                local tool=$t cli=(vs "$d/state") dom=m5 del
                [ "$t" = virsh ] && tool=virsh cli=(virsh)
                del=$(printf 'snap%06d' $(((n / 2 + r) % n))) # never the middle one
                extra_xml=$d/extra-$t.xml
                printf "<domainsnapshot><name>extra%d</name><state>shutoff</state><parent><name>%s</name></parent><creationTime>%d</creationTime><memory snapshot='no'/><disks><disk name='vda' snapshot='internal'/></disks>%s</domainsnapshot>\n" \
                    "$r" "$mid" $((1800000000 + r)) "$([ "$t" = virsh ] && virsh dumpxml m5)" >"$extra_xml"
                timed_record 5 "create one (redefine)" "$z" "$tool" "$r" "${cli[@]}" snapshot-create "$dom" "$extra_xml" --redefine
                timed_record 5 "list" "$z" "$tool" "$r" "${cli[@]}" snapshot-list "$dom"
                timed_record 5 "list --tree" "$z" "$tool" "$r" "${cli[@]}" snapshot-list "$dom" --tree
                timed_record 5 "lookup: dumpxml" "$z" "$tool" "$r" "${cli[@]}" snapshot-dumpxml "$dom" "$mid"
                timed_record 5 "lookup: info" "$z" "$tool" "$r" "${cli[@]}" snapshot-info "$dom" "$mid"
                timed_record 5 "delete one (--metadata)" "$z" "$tool" "$r" "${cli[@]}" snapshot-delete "$dom" "$del" --metadata
            done
        done
        bench_cleanup
        rm -rf "$d"
    done
}

# ---------------------------------------------------------------------------
# Scenario 6: memory-file throughput.
scenario6() {
    local mib=1024 r
    ((smoke)) && mib=64
    if "$vmsnap" help snapshot-verify >/dev/null 2>&1; then
        ((smoke)) && mib=128 # the smallest guest that boots with some RAM dirtied
        scenario6_cli "$mib"
        return
    fi
    bench_note "scenario 6: vmsnap has no snapshot-verify yet: library level (bench/bench-memstate.sh), $mib MiB, $reps reps"
    local z="$(size_label "$mib") memory-like data" line
    for ((r = 1; r <= reps; r++)); do
        BENCH_DIR=$work BENCH_FORMATS="none:0 gzip:0 zstd:0" \
            "$top/bench/bench-memstate.sh" "$build" "$mib" >"$work/memstate.out" 2>&1 ||
            { record 6 "save" "$z" "vmsnap none" "MB/s" "$r" "failed: $(tail -n 1 "$work/memstate.out")" "bench-memstate.sh"; continue; }
        local m="library (bench-memstate.sh), from a pipe"
        while read -r line; do
            [ -n "$line" ] || continue
            set -- $line
            case $1 in
            dd) record 6 "save" "$z" "dd conv=fdatasync" "MB/s" "$r" "$2" "the disk, raw: dd of the same bytes" ;;
            none | gzip* | zstd*)
                local tool="vmsnap ${1%%-*}"
                record 6 "save" "$z" "$tool" "MB/s" "$r" "$2" "$m"
                record 6 "file size" "$z" "$tool" "MiB" "$r" "$3" "$m"
                record 6 "verify" "$z" "$tool" "MB/s" "$r" "$5" "$m (cached file)"
                record 6 "restore" "$z" "$tool" "MB/s" "$r" "$6" "$m"
                record 6 "peak RSS" "$z" "$tool" "MiB" "$r" "$7" "$m, getrusage"
                ;;
            esac
        done <"$work/memstate.out"
    done
}

# Through the CLI, once vmsnap has snapshot-verify and --compress (issue 5):
# a guest with 3/4 of MIB dirtied, saved with each compression, verified and
# reverted to.
scenario6_cli() {
    local ram=$1 r alg ms d=$work/s6
    local dirty z="$(size_label "$1") guest"
    dirty=$(dirty_for "$ram")
    bench_note "scenario 6: memory files through the CLI, $z, $reps reps"
    boot_vmsnap "$d" g6 "$ram" "$dirty"
    wait_counting "$d/state/run/g6/serial.log" 300
    local bytes=$((ram * 1048576)) m="CLI, MB/s of guest RAM"
    mbs() { awk -v b="$bytes" -v ms="$1" 'BEGIN { printf "%.0f", b / (ms / 1000) / 1e6 }'; }
    for ((r = 1; r <= reps; r++)); do
        for alg in none gzip zstd; do
            local f=$d/g6.$alg.$r
            if timed ms vs "$d/state" snapshot-create-as g6 "$alg$r" --compress "$alg" \
                --memspec "file=$f,snapshot=external"; then
                record 6 "save" "$z" "vmsnap $alg" "MB/s" "$r" "$(mbs "$ms")" "$m (snapshot-create-as)"
                record 6 "peak RSS, save" "$z" "vmsnap $alg" "MiB" "$r" "$bench_rss" "/usr/bin/time %M"
                record 6 "file size" "$z" "vmsnap $alg" "MiB" "$r" "$(($(stat -c %s "$f") / 1048576))" "memory file"
            else
                record 6 "save" "$z" "vmsnap $alg" "MB/s" "$r" "failed: $bench_err" "$m"
                continue
            fi
            if timed ms vs "$d/state" snapshot-verify g6 "$alg$r"; then
                record 6 "verify" "$z" "vmsnap $alg" "MB/s" "$r" "$(mbs "$ms")" "$m (snapshot-verify, cached file)"
                record 6 "peak RSS, verify" "$z" "vmsnap $alg" "MiB" "$r" "$bench_rss" "/usr/bin/time %M"
            else
                record 6 "verify" "$z" "vmsnap $alg" "MB/s" "$r" "failed: $bench_err" "$m"
            fi
            if timed ms vs "$d/state" snapshot-revert g6 "$alg$r"; then
                record 6 "restore" "$z" "vmsnap $alg" "MB/s" "$r" "$(mbs "$ms")" "$m (snapshot-revert)"
                record 6 "peak RSS, restore" "$z" "vmsnap $alg" "MiB" "$r" "$bench_rss" "/usr/bin/time %M"
            else
                record 6 "restore" "$z" "vmsnap $alg" "MB/s" "$r" "failed: $bench_err" "$m"
            fi
        done
        # The disk's raw speed for the same byte count.
        local start end
        start=$(date +%s%N)
        dd if=/dev/zero of="$d/raw" bs=1M count="$ram" conv=fdatasync status=none
        end=$(date +%s%N)
        rm -f "$d/raw"
        record 6 "save" "$z" "dd conv=fdatasync" "MB/s" "$r" "$(mbs "$(((end - start) / 1000000))")" "the disk, raw"
    done
    bench_cleanup
    rm -rf "$d"
}

for s in "${scenarios[@]}"; do
    case $s in
    [1-6])
        start=$SECONDS
        "scenario$s"
        bench_note "scenario $s took $((SECONDS - start)) s"
        printf 'scenario %s seconds\t%s\n' "$s" $((SECONDS - start)) >>"$out/machine.tsv"
        ;;
    *) bench_die "no scenario '$s' (1 to 6)" ;;
    esac
done
report || exit 1
# A smoke run checks that every scenario still runs: any failure fails it
# (a refusal is the anchor's answer, not a failure).
if ((smoke)); then
    status=0
    for s in "${scenarios[@]}"; do
        grep -q "^$s"$'\t' "$results" || { echo "bench: smoke: scenario $s recorded nothing" >&2; status=1; }
    done
    if grep -P '\tfailed: ' "$results" >&2; then
        echo "bench: smoke: the lines above failed" >&2
        status=1
    fi
    ((status == 0)) && echo "bench: smoke: every scenario ran (one repetition, smallest sizes: not figures to quote)"
    exit $status
fi
