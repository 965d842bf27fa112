#!/usr/bin/env bash
# make_qcow2_corpus.sh: (re)make the seed corpus of fuzz_qcow2 with qemu-img
# and qemu-io: small valid images of every kind vmsnap reads, and corrupted
# copies. Run from anywhere; writes fuzz/corpus/fuzz_qcow2/seed-*.
# Files found by the fuzzer (crash-*, found-*) are kept.
set -euo pipefail
out=$(cd "$(dirname "$0")" && pwd)/corpus/fuzz_qcow2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
rm -f "$out"/seed-*

img() { qemu-img create -q -f qcow2 -o "$1" "$2" "${3:-256k}"; }
io() { local f=$1; shift; qemu-io -f qcow2 "$@" "$f" >/dev/null; }

img cluster_size=512 v3.qcow2
io v3.qcow2 -c 'write -P 1 0 2k' -c 'write -z 4k 1k' -c 'write -P 2 100k 512'
img compat=0.10,cluster_size=512 v2.qcow2
io v2.qcow2 -c 'write -P 3 0 1k' -c 'write -z 512 512'
img cluster_size=512 snaps.qcow2
io snaps.qcow2 -c 'write -P 4 0 1k'
qemu-img snapshot -c first snaps.qcow2
io snaps.qcow2 -c 'write -P 5 512 1k'
qemu-img snapshot -c 'second snapshot' snaps.qcow2
io snaps.qcow2 -c 'write -z 0 512'
img cluster_size=512 compress-src.qcow2
io compress-src.qcow2 -c 'write -P 6 0 4k'
qemu-img convert -c -O qcow2 -o cluster_size=512 compress-src.qcow2 compressed.qcow2
qemu-img convert -c -O qcow2 -o cluster_size=4096,compression_type=zstd compress-src.qcow2 zstd.qcow2
img cluster_size=512 base.qcow2
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 -o cluster_size=512 backing.qcow2
io backing.qcow2 -c 'write -P 7 1k 1k'
img cluster_size=16384,extended_l2=on extl2.qcow2
io extl2.qcow2 -c 'write -P 8 1k 1k' -c 'write -z 4k 2k'
img cluster_size=512,lazy_refcounts=on,refcount_bits=1 refcount1.qcow2
io refcount1.qcow2 -c 'write -P 9 0 1k'
img cluster_size=512,refcount_bits=64 refcount64.qcow2
io refcount64.qcow2 -c 'write -P 10 0 1k'

for f in v3 v2 snaps compressed zstd backing extl2 refcount1 refcount64; do
    cp "$f.qcow2" "$out/seed-$f.qcow2"
done

# Corrupted copies: python patches big-endian fields at fixed offsets.
python3 - "$out" <<'PY'
import struct, sys
out = sys.argv[1]
def load(name):
    return bytearray(open(name, 'rb').read())
def save(name, data):
    open(f"{out}/seed-bad-{name}.qcow2", 'wb').write(bytes(data))
def patched(src, offset, fmt, value):
    d = load(src)
    struct.pack_into(fmt, d, offset, value)
    return d
v3 = load('v3.qcow2'); snaps = load('snaps.qcow2')
save('truncated-header', v3[:60])
save('truncated-cluster0', v3[:300])
save('truncated-tables', v3[:1536])
save('version-4', patched('v3.qcow2', 4, '>I', 4))
save('cluster-bits-8', patched('v3.qcow2', 20, '>I', 8))
save('cluster-bits-30', patched('v3.qcow2', 20, '>I', 30))
save('l1-size-huge', patched('v3.qcow2', 36, '>I', 0x7fffffff))
save('l1-offset-eof', patched('v3.qcow2', 40, '>Q', 1 << 40))
save('l1-offset-unaligned', patched('v3.qcow2', 40, '>Q', 0x1234))
save('reftable-eof', patched('v3.qcow2', 48, '>Q', 1 << 40))
save('reftable-huge', patched('v3.qcow2', 56, '>I', 0xffffffff))
save('snapshots-many', patched('snaps.qcow2', 60, '>I', 0xffffffff))
save('snapshots-eof', patched('snaps.qcow2', 64, '>Q', 1 << 40))
save('incompat-unknown', patched('v3.qcow2', 72, '>Q', 1 << 9))
save('incompat-corrupt-bit', patched('v3.qcow2', 72, '>Q', 2))
save('incompat-dirty-bit', patched('v3.qcow2', 72, '>Q', 1))
save('refcount-order-7', patched('v3.qcow2', 96, '>I', 7))
save('header-length-odd', patched('v3.qcow2', 100, '>I', 105))
save('crypt', patched('v3.qcow2', 32, '>I', 2))
save('virtual-size-huge', patched('v3.qcow2', 24, '>Q', (1 << 63) - 1))
save('backing-name-long', patched('backing.qcow2', 16, '>I', 5000))
save('backing-offset-eof', patched('backing.qcow2', 8, '>Q', 1 << 40))
# The first snapshot entry: extra data too long, names beyond the file.
so = struct.unpack_from('>Q', snaps, 64)[0]
save('snapshot-extra-huge', patched('snaps.qcow2', so + 36, '>I', 100000))
save('snapshot-name-long', patched('snaps.qcow2', so + 14, '>H', 0xffff))
save('snapshot-l1-eof', patched('snaps.qcow2', so, '>Q', 1 << 40))
# The first L1 entry: an L2 table beyond the file, reserved bits.
l1 = struct.unpack_from('>Q', v3, 40)[0]
save('l1-entry-eof', patched('v3.qcow2', l1, '>Q', (1 << 40) | (1 << 63)))
save('l1-entry-reserved', patched('v3.qcow2', l1, '>Q', struct.unpack_from('>Q', v3, l1)[0] | 1))
l2 = struct.unpack_from('>Q', v3, l1)[0] & 0x00fffffffffffe00
save('l2-entry-eof', patched('v3.qcow2', l2, '>Q', (1 << 50) | (1 << 63)))
save('l2-entry-unaligned', patched('v3.qcow2', l2, '>Q', (l2 + 8) | (1 << 63)))
save('l2-entry-reserved', patched('v3.qcow2', l2, '>Q', struct.unpack_from('>Q', v3, l2)[0] | 2))
c = load('compressed.qcow2')
cl1 = struct.unpack_from('>Q', c, 40)[0]
cl2 = struct.unpack_from('>Q', c, cl1)[0] & 0x00fffffffffffe00
e = struct.unpack_from('>Q', c, cl2)[0]
save('compressed-garbage', patched('compressed.qcow2', (e & ((1 << 55) - 1)), '>Q', 0xdeadbeefdeadbeef))
save('compressed-eof', patched('compressed.qcow2', cl2, '>Q', (1 << 62) | (1 << 50)))
PY
ls -la "$out" | awk '{s+=$5} END {print NR-3 " files, " s " bytes"}'
