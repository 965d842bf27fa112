#!/usr/bin/env bash
# install-deps.sh: install the Debian 12 packages vmsnap needs to build, test
# and fuzz, but only those that are missing. Safe to run again and again: when
# everything is present it makes no network access and needs no root.
set -euo pipefail

# Build, libraries, test tools, fuzzing (clang + its sanitizer/libFuzzer
# runtimes), and QEMU for the issues that run real guests.
packages=(
    build-essential gcc meson ninja-build pkg-config git python3
    libglib2.0-dev libxml2-dev libjson-c-dev zlib1g-dev libzstd-dev libxxhash-dev
    clang libclang-rt-dev clang-format valgrind
    qemu-system-x86 qemu-utils
    strace time
)

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-deps: dpkg-query not found; this script supports Debian 12 only." >&2
    echo "install-deps: install by hand: ${packages[*]}" >&2
    exit 1
fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    [[ "$status" == ii* ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: missing: ${missing[*]}"

# Root installs directly; others may use sudo only if it needs no password
# (this script must never stop to ask, e.g. in CI with no stdin).
if [[ $(id -u) -eq 0 ]]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "install-deps: not root and no password-less sudo; as root, run:" >&2
    echo "    apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
