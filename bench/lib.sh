# shellcheck shell=bash
# bench/lib.sh: helpers shared by the benchmark scripts (sourced, not run):
# installing what a run needs, building vmsnap and the test guest, starting
# libvirt's daemons, booting the test guest under vmsnap, libvirt and bare
# QEMU, and timing commands into the results file.
#
# The caller sets: top (the source tree), build (the build directory),
# work (a scratch directory), results (the TSV file every figure goes to).

bench_die() {
    echo "bench: error: $*" >&2
    exit 1
}

bench_note() {
    echo "bench: $*" >&2
}

# Debian packages a full run needs, installed only when a command is missing.
bench_install() {
    local want=() pkg cmd
    for pair in virsh:libvirt-clients libvirtd:libvirt-daemon-system \
        qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils gnuplot:gnuplot-nox \
        strace:strace meson:meson ninja:ninja-build; do
        cmd=${pair%%:*} pkg=${pair#*:}
        command -v "$cmd" >/dev/null 2>&1 || want+=("$pkg")
    done
    [ -x /usr/bin/time ] || want+=(time)
    [ -e /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so ] ||
        want+=(libvirt-daemon-driver-qemu)
    ((${#want[@]} == 0)) && return 0
    bench_note "installing ${want[*]} from Debian"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${want[@]}" \
        >"$work/apt.log" 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
                "${want[@]}" >"$work/apt.log" 2>&1; } ||
        bench_die "apt-get install ${want[*]} failed (log: $work/apt.log)"
}

# Configure (once) and build vmsnap, build_tree and the test guest.
bench_build() {
    if [ ! -f "$build/build.ninja" ]; then
        bench_note "meson setup $build (release build, -Dwerror=true)"
        meson setup "$build" "$top" --buildtype=release -Dwerror=true >"$work/meson.log" 2>&1 ||
            bench_die "meson setup failed (log: $work/meson.log)"
    fi
    ninja -C "$build" tools/vmsnap/vmsnap bench/build_tree src/libvmsnap_internal.a \
        tests/guest/vmlinuz >"$work/ninja.log" 2>&1 ||
        bench_die "building failed (log: $work/ninja.log)"
    vmsnap=$build/tools/vmsnap/vmsnap
    guest=$build/tests/guest
}

# Start virtlogd and libvirtd unless they run; bench_stop_daemons stops
# only the ones started here.
bench_started_daemons=()
bench_libvirt_start() {
    local daemon
    for daemon in virtlogd libvirtd; do
        bench_running "$daemon" && continue
        bench_start_daemon "$daemon"
        bench_started_daemons+=("$(pgrep -nx "$daemon")")
    done
    bench_libvirt_wait
}
# bench_running NAME: a live (not zombie) process NAME exists.
bench_running() {
    local pid
    for pid in $(pgrep -x "$1"); do
        [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] || return 0
    done
    return 1
}
bench_start_daemon() {
    if [ "$1" = libvirtd ] && [ -e /dev/kvm ]; then
        # Where /dev/kvm exists but only root may open it (this project's
        # machines: TCG only), libvirt 9.0 probes QEMU as root and finds KVM,
        # then checks /dev/kvm as the libvirt-qemu user and does not: its
        # capability cache is always stale ("KVM was enabled when probing
        # ... but it is not available now") and it re-probes QEMU, 4-5 s, on
        # every domain XML it parses: each snapshot redefine, revert, start.
        # Our libvirtd runs QEMU as root, as vmsnap does here (a qemu.conf
        # bound over the system's in its own mount namespace); the guests
        # are TCG either way.
        { cat /etc/libvirt/qemu.conf 2>/dev/null; printf 'user = "root"\ngroup = "root"\n'; } \
            >"$work/qemu.conf"
        unshare --mount --propagation private sh -c \
            "mount --bind '$work/qemu.conf' /etc/libvirt/qemu.conf && exec libvirtd -d"
    else
        "$1" -d
    fi
}
bench_libvirt_wait() {
    for _ in $(seq 600); do virsh version >/dev/null 2>&1 && return 0; sleep 0.1; done
    bench_die "libvirtd did not answer within 60 s"
}
# Restart the libvirtd started here (it loads snapshot metadata at start).
bench_libvirt_restart() {
    local i pid
    for i in "${!bench_started_daemons[@]}"; do
        pid=${bench_started_daemons[$i]}
        [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = libvirtd ] || continue
        kill "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
        bench_start_daemon libvirtd
        bench_started_daemons[i]=$(pgrep -nx libvirtd)
    done
    bench_libvirt_wait
}

# Everything to undo at exit: domains, QEMUs, event listeners, daemons.
bench_vmsnap_domains=()
bench_virsh_domains=()
bench_pids=()
bench_cleanup() {
    local d pid
    for d in "${bench_virsh_domains[@]}"; do
        virsh destroy "$d" >/dev/null 2>&1
        virsh undefine "$d" --snapshots-metadata >/dev/null 2>&1
    done
    for d in "${bench_vmsnap_domains[@]}"; do
        "$vmsnap" --dir "${d%%|*}" destroy "${d#*|}" >/dev/null 2>&1
    done
    for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null; done
    bench_vmsnap_domains=() bench_virsh_domains=() bench_pids=()
}
bench_stop_daemons() {
    local pid
    for pid in "${bench_started_daemons[@]}"; do kill "$pid" 2>/dev/null; done
    bench_started_daemons=()
}

# domain_xml NAME RAM_MIB DIRTY_MIB DISK SERIAL_XML: the test guest, one
# qcow2 disk; DIRTY_MIB > 0 fills that much RAM at boot (docs/guest.md).
domain_xml() {
    local dirty=""
    (($3 > 0)) && dirty=" vmsnap.dirty=$3"
    cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <memory unit='MiB'>$2</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet$dirty</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$4'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    $5
  </devices>
</domain>
EOF
}

# wait_counting LOG [SECONDS]: until the guest's serial log has "counter N".
wait_counting() {
    local deadline=$((SECONDS + ${2:-120}))
    while ((SECONDS < deadline)); do
        grep -aq '^counter [0-9]' "$1" 2>/dev/null && return 0
        grep -aq 'Kernel panic' "$1" 2>/dev/null && bench_die "the guest panicked (serial log: $1)"
        sleep 0.1
    done
    bench_die "the guest did not start counting within ${2:-120} s (serial log: $1)"
}

# vs DIR ARGS...: vmsnap on state directory DIR.
vs() {
    local dir=$1
    shift
    "$vmsnap" --dir "$dir" "$@"
}

# boot_vmsnap DIR NAME RAM DIRTY: define and start the test guest under
# vmsnap with state directory DIR/state (private, as vmsnap requires); its
# disk is DIR/NAME.qcow2 (2 GiB virtual), its serial log
# DIR/state/run/NAME/serial.log.
boot_vmsnap() {
    local dir=$1 name=$2
    mkdir -p "$dir"
    mkdir -p -m 700 "$dir/state"
    qemu-img create -q -f qcow2 "$dir/$name.qcow2" 2G
    domain_xml "$name" "$3" "$4" "$dir/$name.qcow2" "<serial type='pty'/>" >"$dir/$name.xml"
    vs "$dir/state" define "$dir/$name.xml" >/dev/null
    vs "$dir/state" start "$name" >/dev/null || bench_die "vmsnap start $name failed"
    bench_vmsnap_domains+=("$dir/state|$name")
}

# boot_virsh DIR NAME RAM DIRTY: the same under libvirt, serial into
# DIR/NAME.serial, and every QMP event into DIR/NAME.events with QEMU's
# timestamps (virsh qemu-monitor-event --timestamp).
boot_virsh() {
    local dir=$1 name=$2
    mkdir -p "$dir"
    chmod 755 "$dir" # libvirt runs QEMU as libvirt-qemu
    qemu-img create -q -f qcow2 "$dir/$name.qcow2" 2G
    domain_xml "$name" "$3" "$4" "$dir/$name.qcow2" \
        "<serial type='file'><source path='$dir/$name.serial'/></serial>" >"$dir/$name.xml"
    virsh destroy "$name" >/dev/null 2>&1
    virsh undefine "$name" --snapshots-metadata >/dev/null 2>&1
    virsh define "$dir/$name.xml" >/dev/null
    bench_virsh_domains+=("$name")
    virsh start "$name" >/dev/null || bench_die "virsh start $name failed"
    virsh qemu-monitor-event "$name" --loop --timestamp >"$dir/$name.events" 2>&1 &
    bench_pids+=($!)
}

# boot_qemu DIR NAME RAM DIRTY: a bare QEMU as a user would start it, QMP
# on DIR/NAME.qmp, serial into DIR/NAME.serial.
boot_qemu() {
    local dir=$1 name=$2 dirty=""
    mkdir -p "$dir"
    qemu-img create -q -f qcow2 "$dir/$name.qcow2" 2G
    (($4 > 0)) && dirty=" vmsnap.dirty=$4"
    qemu-system-x86_64 -accel tcg -m "$3" -display none -nodefaults \
        -serial "file:$dir/$name.serial" -kernel "$guest/vmlinuz" -initrd "$guest/initrd.img" \
        -append "console=ttyS0 quiet$dirty" \
        -drive "file=$dir/$name.qcow2,if=virtio,format=qcow2" \
        -qmp "unix:$dir/$name.qmp,server=on,wait=off" >"$dir/$name.log" 2>&1 &
    bench_pids+=($!)
}

# record SCENARIO CASE SIZE TOOL METRIC REP VALUE METHOD: one figure.
record() {
    local IFS=$'\t'
    printf '%s\n' "$*" | tr -d '\r' >>"$results"
}

# timed VAR COMMAND...: run COMMAND, output discarded; VAR gets its wall time
# in ms (one decimal), bench_rss its peak RSS in MiB, bench_err the first
# error line (empty on success). Returns COMMAND's status.
bench_rss=0
bench_err=""
timed() {
    local -n out=$1
    shift
    local start end status
    # Shell functions cannot be exec'd: spell out the two used here.
    case $1 in
    vs) set -- "$vmsnap" --dir "${@:2}" ;;
    strace_qmp) set -- strace -f --seccomp-bpf -e trace=recvfrom,recvmsg -s 65536 -o "$2" "${@:3}" ;;
    esac
    start=$(date +%s%N)
    /usr/bin/time -f %M -o "$work/time.out" "$@" >/dev/null 2>"$work/cmd.err"
    status=$?
    end=$(date +%s%N)
    out=$(awk -v n=$((end - start)) 'BEGIN { printf "%.1f", n / 1e6 }')
    bench_rss=$(awk 'END { printf "%.1f", $1 / 1024 }' "$work/time.out")
    bench_err=""
    if ((status != 0)); then
        bench_err=$(grep -v '^Command exited' "$work/cmd.err" | sed 's/^error: //' | head -n 2 | paste -sd ' ')
        [ -n "$bench_err" ] || bench_err="exit status $status"
    fi
    return $status
}

# timed_record SCENARIO CASE SIZE TOOL REP COMMAND...: time COMMAND and record
# its wall time (or its failure).
timed_record() {
    local s=$1 c=$2 z=$3 t=$4 r=$5 ms
    shift 5
    if timed ms "$@"; then
        record "$s" "$c" "$z" "$t" "total ms" "$r" "$ms" "wall time of the command"
        return 0
    fi
    record "$s" "$c" "$z" "$t" "total ms" "$r" "failed: $bench_err" "wall time of the command"
    return 1
}

# The machine, for the report.
bench_machine() {
    local cpu accel="TCG (no KVM)"
    cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
    [ -w /dev/kvm ] && accel="TCG (the scripts always use TCG; KVM present)"
    printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
    printf 'cpu\t%s, %s cores, %s\n' "$cpu" "$(nproc)" \
        "$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)"
    printf 'kernel\t%s\n' "$(uname -sr)"
    printf 'disk\t%s at %s\n' "$(df -T "$work" | awk 'NR==2 {print $2}')" "$(dirname "$work")"
    printf 'qemu\t%s\n' "$(qemu-system-x86_64 --version | head -n 1)"
    printf 'libvirt\t%s\n' "$(virsh --version 2>/dev/null || echo 'not installed')"
    printf 'vmsnap\t%s (%s build)\n' "$("$vmsnap" --version)" \
        "$(meson introspect --buildoptions "$build" 2>/dev/null |
            python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="buildtype"))' 2>/dev/null || echo '?')"
    printf 'accel\t%s\n' "$accel"
    printf 'load\t%s (1/5/15 min load average at the start)\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
}
