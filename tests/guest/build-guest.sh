#!/usr/bin/env bash
# build-guest.sh OUTDIR: build the vmsnap test guest (docs/guest.md).
#
# Writes OUTDIR/vmlinuz, OUTDIR/initrd.img (cpio newc, gzip) and OUTDIR/stamp,
# a hash of every input: this script, tests/guest/init and the exact versions
# of the Debian packages used. When OUTDIR/stamp already holds that hash the
# script does nothing, so running it on every build costs only an apt-cache
# lookup. Packages are fetched with `apt-get download` into OUTDIR/debs/ and
# unpacked with `dpkg -x`: no root needed, and a version already in that cache
# is never downloaded again.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: build-guest.sh OUTDIR" >&2
    exit 2
fi

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)
debs=$out/debs
init=$here/init

# Modules /init loads, in this order (virtio is modular in the cloud kernel).
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
    virtio_blk button evdev)

die() {
    echo "build-guest: $*" >&2
    exit 1
}

for tool in apt-cache apt-get dpkg dpkg-deb gzip sha256sum; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "'$tool' not found: the test guest is built from Debian packages (Debian 12)"
done

# A fresh Debian (e.g. a CI container) has no package lists: fetch them once,
# only when a lookup fails for that reason, and only as root.
update_lists_once() {
    [[ ${lists_updated:-0} -eq 0 ]] || return 1
    lists_updated=1
    if [[ $(id -u) -ne 0 ]]; then
        echo "build-guest: apt has no package lists and this is not root; run 'apt-get update' as root" >&2
        return 1
    fi
    echo "build-guest: apt-get update (no package lists)" >&2
    apt-get update -q >&2
}

# One apt-cache call (each costs about half a second): the candidate records
# of the kernel metapackage and of busybox-static.
records() {
    apt-cache show --no-all-versions linux-image-cloud-amd64 busybox-static 2>/dev/null
}
info=$(records || true)
if ! grep -q '^Package: busybox-static' <<<"$info" && update_lists_once; then
    info=$(records || true)
fi
# field PACKAGE FIELD: a field of PACKAGE's record in $info.
field() {
    awk -v pkg="$1" -v f="$2: " '
        /^Package: / { cur = substr($0, 10) }
        cur == pkg && index($0, f) == 1 { print substr($0, length(f) + 1); exit }
    ' <<<"$info"
}
busybox_version=$(field busybox-static Version)
[[ -n $busybox_version ]] ||
    die "no installable version of Debian package 'busybox-static' (is this Debian 12 with main enabled?)"
# linux-image-cloud-amd64 is a metapackage; it depends on exactly one
# version of the real kernel package, linux-image-<abi>-cloud-amd64.
kernel_dep=$(field linux-image-cloud-amd64 Depends)
if [[ $kernel_dep =~ (linux-image-[0-9][^ ,]*-cloud-amd64)\ \(=\ ([^\)]+)\) ]]; then
    kernel_pkg=${BASH_REMATCH[1]}
    kernel_version=${BASH_REMATCH[2]}
else
    die "cannot tell which kernel linux-image-cloud-amd64 depends on (Depends: '${kernel_dep:-none}')"
fi

stamp=$(
    {
        sha256sum "$0" "$init" | cut -d' ' -f1
        echo "$kernel_pkg=$kernel_version"
        echo "busybox-static=$busybox_version"
    } | sha256sum | cut -d' ' -f1
)
if [[ -f $out/stamp && $(cat "$out/stamp") == "$stamp" && -f $out/vmlinuz && -f $out/initrd.img ]]; then
    # Up to date. Touch the outputs so ninja, which reran us because apt's
    # lists are newer, sees them newer and stops asking.
    touch "$out/vmlinuz" "$out/initrd.img" "$out/stamp"
    exit 0
fi

# As root, apt would download as user _apt, which cannot write into a build
# directory (it warns and falls back to root): ask for root directly.
apt_opts=(-q)
[[ $(id -u) -ne 0 ]] || apt_opts+=(-o APT::Sandbox::User=root)

# download PACKAGE VERSION: apt-get download into the cache, fetching the
# package lists first if apt has none.
download() {
    echo "build-guest: downloading $1 $2" >&2
    (cd "$debs" && apt-get download "${apt_opts[@]}" "$1=$2" >&2) && return 0
    update_lists_once || die "apt-get download $1=$2 failed"
    (cd "$debs" && apt-get download "${apt_opts[@]}" "$1=$2" >&2) ||
        die "apt-get download $1=$2 failed"
}

# fetch PACKAGE VERSION: path of the .deb in the cache, downloading it if it
# is missing or does not match apt's SHA256 (e.g. a download was interrupted).
fetch() {
    local pkg=$1 version=$2 deb sha
    mkdir -p "$debs"
    # apt-get download names files PKG_VERSION_ARCH.deb with ':' escaped as %3a.
    deb=$debs/${pkg}_${version//:/%3a}_amd64.deb
    sha=$(apt-cache show "$pkg=$version" 2>/dev/null | sed -n 's/^SHA256: //p' | head -n 1)
    [[ -n $sha ]] || die "apt has no record of $pkg $version"
    if [[ ! -f $deb || $(sha256sum <"$deb" | cut -d' ' -f1) != "$sha" ]]; then
        rm -f "$deb"
        download "$pkg" "$version"
    fi
    [[ -f $deb ]] || die "apt-get download $pkg=$version did not produce $deb"
    [[ $(sha256sum <"$deb" | cut -d' ' -f1) == "$sha" ]] ||
        die "$deb does not match apt's SHA256 $sha"
    echo "$deb"
}

kernel_deb=$(fetch "$kernel_pkg" "$kernel_version")
busybox_deb=$(fetch busybox-static "$busybox_version")

work=$(mktemp -d "$out/work.XXXXXX")
trap 'rm -rf "$work"' EXIT

dpkg -x "$kernel_deb" "$work/kernel"
dpkg -x "$busybox_deb" "$work/busybox"
abi=${kernel_pkg#linux-image-}
moddir=$work/kernel/lib/modules/$abi/kernel
busybox=$work/busybox/bin/busybox
[[ -x $busybox ]] || die "$busybox_deb has no bin/busybox"
[[ -f $work/kernel/boot/vmlinuz-$abi ]] || die "$kernel_deb has no boot/vmlinuz-$abi"

root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
install -m 0755 "$init" "$root/init"

# Modules go in flat as NAME.ko; busybox insmod cannot decompress, so any
# .ko.xz / .ko.zst / .ko.gz is decompressed here (Debian 12's 6.1 cloud kernel
# ships plain .ko, but later kernels compress).
for m in "${modules[@]}"; do
    src=$(find "$moddir" \( -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" \
        -o -name "$m.ko.gz" \) | head -n 1)
    [[ -n $src ]] || die "module $m not found in $kernel_deb"
    case "$src" in
    *.ko) cp "$src" "$root/lib/modules/$m.ko" ;;
    *.xz) xz -dc "$src" >"$root/lib/modules/$m.ko" ;;
    *.zst) zstd -qdc "$src" >"$root/lib/modules/$m.ko" ;;
    *.gz) gzip -dc "$src" >"$root/lib/modules/$m.ko" ;;
    esac
done

# No /dev/console node here: the kernel's built-in initramfs already has one
# (and non-root builds could not create it).

# Fixed file order, owner and timestamps (busybox cpio still records inode
# numbers, so the archive is not bit-for-bit reproducible; the stamp is what
# identifies a build).
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . | LC_ALL=C sort | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) |
    gzip -9 -n >"$work/initrd.img"

cp "$work/kernel/boot/vmlinuz-$abi" "$work/vmlinuz"
mv -f "$work/vmlinuz" "$out/vmlinuz"
mv -f "$work/initrd.img" "$out/initrd.img"
echo "$stamp" >"$out/stamp.tmp"
mv -f "$out/stamp.tmp" "$out/stamp"
# Keep only the versions in use in the cache.
find "$debs" -name '*.deb' ! -path "$kernel_deb" ! -path "$busybox_deb" -delete
echo "build-guest: built $out/vmlinuz ($kernel_pkg $kernel_version) and $out/initrd.img" \
    "(busybox-static $busybox_version)" >&2
