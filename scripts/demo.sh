#!/usr/bin/env bash
# demo.sh: install what is missing, build, and take a tour of vmsnap: the
# snapshot metadata with the example files in examples/, then the test guest
# booted under QEMU. Every command is printed before it runs. State goes to a fresh temporary directory, removed
# at the end unless --keep is given.
#
#   ./scripts/demo.sh [--keep]
set -euo pipefail

cd "$(dirname "$0")/.."

keep=0
for arg in "$@"; do
    case "$arg" in
    --keep) keep=1 ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "demo.sh: unknown option '$arg'; see ./scripts/demo.sh --help" >&2
        exit 2
        ;;
    esac
done

./scripts/install-deps.sh

if [[ -f build/meson-private/coredata.dat ]]; then
    meson setup --reconfigure build >/dev/null
else
    meson setup build >/dev/null
fi
ninja -C build >/dev/null || {
    echo "demo.sh: the build failed; run 'ninja -C build' to see why" >&2
    exit 1
}

vmsnap_bin=$PWD/build/tools/vmsnap/vmsnap
if [[ ! -x $vmsnap_bin ]]; then
    echo "demo.sh: $vmsnap_bin was not built" >&2
    exit 1
fi

state=$(mktemp -d "${TMPDIR:-/tmp}/vmsnap-demo.XXXXXX")
# Never leave a QEMU behind, whatever happens.
stop_vm() { "$vmsnap_bin" --dir "$state" destroy live >/dev/null 2>&1 || true; }
if ((keep)); then
    trap 'stop_vm; echo; echo "State kept in $state"' EXIT
else
    trap 'stop_vm; rm -rf "$state"' EXIT
fi

bold=$'\e[1m' dim=$'\e[2m' plain=$'\e[0m'
if [[ ! -t 1 ]]; then
    bold='' dim='' plain=''
fi

say() {
    printf '\n%s# %s%s\n' "$dim" "$*" "$plain"
}

# Show the command as a user would type it, then run it.
vmsnap() {
    printf '%s$ vmsnap %s%s\n' "$bold" "$*" "$plain"
    "$vmsnap_bin" --dir "$state" "$@"
}

echo "vmsnap demo: snapshot metadata, then the test guest running under QEMU."
echo "State directory for this demo: $state (every command below gets --dir \"$state\")"

say "Define a domain from libvirt-style XML."
vmsnap define examples/demo-domain.xml
vmsnap list --all

say "Import a snapshot tree exactly as libvirt writes it (the redefine path)."
for f in examples/snapshots/*.xml; do
    if [[ $f == */4-* ]]; then
        vmsnap snapshot-create demo "$f" --redefine --current
    else
        vmsnap snapshot-create demo "$f" --redefine
    fi
done

say "The tree, and each snapshot with its parent."
vmsnap snapshot-list demo --tree
vmsnap snapshot-list demo --parent

say "Leaves only, and the descendants of one snapshot."
vmsnap snapshot-list demo --leaves --name
vmsnap snapshot-list demo --from fresh-install --descendants --name

say "One snapshot in detail."
vmsnap snapshot-info demo before-upgrade
vmsnap snapshot-parent demo before-upgrade

say "Its XML: canonical <domainsnapshot>, shown here without the embedded <domain>."
vmsnap snapshot-dumpxml demo before-upgrade --no-domain

say "The current snapshot (set by --current above)."
vmsnap snapshot-current demo --name

say "An xl-style snapshot config describes a snapshot too (the Xen proposal's format):"
printf '%s$ cat examples/after-upgrade.cfg%s\n' "$bold" "$plain"
cat examples/after-upgrade.cfg
vmsnap snapshot-create demo examples/after-upgrade.cfg --redefine
vmsnap snapshot-dumpxml demo after-upgrade --no-domain

say "Describe, rename and delete (metadata only; the domain's disks are untouched)."
vmsnap snapshot-desc demo after-upgrade "imported from an xl config"
vmsnap snapshot-rename demo after-upgrade upgraded
vmsnap snapshot-list demo --tree
vmsnap snapshot-delete demo upgraded --metadata

say "Every listing speaks JSON for scripts."
vmsnap snapshot-list demo --json

say "Now a real VM: the test guest (Debian's cloud kernel and busybox, built from Debian packages)."
guest=$PWD/build/tests/guest
if [[ ! -f $guest/vmlinuz || ! -f $guest/initrd.img ]]; then
    echo "demo.sh: the test guest was not built ($guest); run 'ninja -C build' to see why" >&2
    exit 1
fi
qemu-img create -q -f qcow2 "$state/live-disk.qcow2" 64M
cat >"$state/live.xml" <<XML
<domain type='qemu'>
  <name>live</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type>hvm</type>
    <kernel>$guest/vmlinuz</kernel>
    <initrd>$guest/initrd.img</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='$state/live-disk.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='pty'/>
  </devices>
</domain>
XML
vmsnap define "$state/live.xml"
vmsnap start live
vmsnap list

# Poll the guest's serial output until it prints a counter line (30 s at most).
wait_for_counter() {
    local deadline=$((SECONDS + 30))
    until "$vmsnap_bin" --dir "$state" serial-log live | grep -q '^counter '; do
        if ((SECONDS >= deadline)); then
            echo "demo.sh: the guest printed no counter within 30 s" >&2
            exit 1
        fi
        sleep 0.2
    done
}
wait_for_counter
say "The guest counts in memory and on its disk, and prints each value to its serial port."
printf '%s$ vmsnap serial-log live | tail -n 4%s\n' "$bold" "$plain"
"$vmsnap_bin" --dir "$state" serial-log live | tail -n 4

say "Pause and resume it; vmsnap finds the state from QEMU itself (no daemon)."
vmsnap suspend live
vmsnap domstate live
vmsnap resume live
vmsnap domstate live

# Poll (with a deadline) until the guest has printed at least $1 counter lines.
wait_for_lines() {
    local deadline=$((SECONDS + 30))
    until (($("$vmsnap_bin" --dir "$state" serial-log live | grep -c '^counter ') >= $1)); do
        ((SECONDS < deadline)) || { echo "demo.sh: the guest stopped counting" >&2; exit 1; }
        sleep 0.2
    done
}
wait_for_lines 6
say "Take a disk-only snapshot while it runs: all disks at one instant, the guest keeps going."
printf '%s$ vmsnap serial-log live | tail -n 1%s\n' "$bold" "$plain"
"$vmsnap_bin" --dir "$state" serial-log live | tail -n 1
vmsnap snapshot-create-as live counted --disk-only --description "taken while counting"
taken=$("$vmsnap_bin" --dir "$state" serial-log live | grep -c '^counter ')
wait_for_lines $((taken + 10)) # let it count on, so the revert has something to undo
printf '%s$ vmsnap serial-log live | tail -n 1%s\n' "$bold" "$plain"
"$vmsnap_bin" --dir "$state" serial-log live | tail -n 1

say "Shut it down through the ACPI power button."
vmsnap shutdown live
vmsnap domstate live

say "Revert to the snapshot and boot: the guest finds on its disk the counter of that instant."
vmsnap snapshot-revert live counted --running
wait_for_counter
printf '%s$ vmsnap serial-log live | grep "^disk"%s\n' "$bold" "$plain"
"$vmsnap_bin" --dir "$state" serial-log live | grep '^disk'

# The last counter value the guest printed.
last_counter() {
    "$vmsnap_bin" --dir "$state" serial-log live | grep '^counter ' | tail -n 1 | cut -d' ' -f2 | tr -d '\r'
}
# Poll (with a deadline) until the guest's counter reaches $1.
wait_for_value() {
    local deadline=$((SECONDS + 30))
    until [ "$(last_counter)" -ge "$1" ] 2>/dev/null; do
        ((SECONDS < deadline)) || { echo "demo.sh: the guest stopped counting" >&2; exit 1; }
        sleep 0.2
    done
}
wait_for_value 3
say "A full snapshot keeps the memory too (the default while it runs): the guest pauses for milliseconds while its memory is saved in the background, compressed with zstd here."
vmsnap snapshot-create-as live checkpoint --description "memory and disks" --compress zstd
at=$(last_counter)
echo "(the guest had counted to $at)"
printf '%s$ vmsnap snapshot-dumpxml live checkpoint | grep vmsnap:%s\n' "$bold" "$plain"
"$vmsnap_bin" --dir "$state" snapshot-dumpxml live checkpoint | grep 'vmsnap:'
say "snapshot-verify re-reads the memory file's checksum and runs qemu-img check on the disks."
vmsnap snapshot-verify live
wait_for_value $((at + 10))
say "It counts on; revert: it resumes at the instant of the snapshot, no boot, memory and disks."
printf '%s$ vmsnap serial-log live | tail -n 1%s\n' "$bold" "$plain"
"$vmsnap_bin" --dir "$state" serial-log live | tail -n 1
vmsnap snapshot-revert live checkpoint
wait_for_lines 3
printf '%s$ vmsnap serial-log live | grep "^counter" | head -n 3%s\n' "$bold" "$plain"
"$vmsnap_bin" --dir "$state" serial-log live | grep '^counter' | head -n 3
vmsnap snapshot-list live --tree
vmsnap destroy live

say "Where the state lives (DESIGN.md: one XML file per snapshot, 'current' holds a name)."
printf '%s$ find %s -type f%s\n' "$bold" "$state" "$plain"
(cd "$state" && find . -type f | sed 's|^\./||' | sort)

echo
echo "Demo finished."
