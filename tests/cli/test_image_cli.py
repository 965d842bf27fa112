#!/usr/bin/env python3
"""image-info and snapshot-diff against qemu-img, without a guest.

Usage: test_image_cli.py VMSNAP_BINARY [TEST_NAME_PATTERN...]

Images are made at test time with qemu-img and qemu-io (v2 and v3,
internal snapshots, compressed zlib and zstd clusters, zero clusters,
extended L2, backing chains over qcow2 and raw). Checks:
- `vmsnap image-info --json [--backing-chain]` agrees field by field with
  `qemu-img info --output=json [--backing-chain]`, and its allocation with
  `qemu-img map --output=json` (data and zero bytes of the top layer) and
  `qemu-img check --output=json` (compressed clusters);
- corrupted images give one clean error line naming the problem;
- `vmsnap snapshot-diff` on domains defined on such images (shut off;
  snapshots taken with snapshot-create-as, which needs no guest) agrees
  with `qemu-img compare` (identical or not, and the first differing
  offset) and its ranges are exactly the 512-byte sectors where raw
  exports of the two points differ.
"""

import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tap  # noqa: E402  (tests/tap.py)

VMSNAP = None
SECTOR = 512

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>64</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>/nonexistent/vmlinuz</kernel>
  </os>
  <devices>
{disks}  </devices>
</domain>
"""

DISK_XML = """    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{path}'/>
      <target dev='{target}' bus='virtio'/>
    </disk>
"""


def run(*args, check=True):
    p = subprocess.run(args, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({p.returncode}): {p.stdout}{p.stderr}")
    return p


class ImageTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vmsnap-image-")
        self.state = os.path.join(self.tmp, "state")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def vmsnap(self, *args):
        p = subprocess.run([VMSNAP, "--dir", self.state, *args], capture_output=True, text=True,
                           cwd=self.tmp)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args):
        code, out, err = self.vmsnap(*args)
        self.assertEqual((code, err), (0, ""), f"vmsnap {' '.join(args)}: {out}")
        return out

    def create(self, name, size="1M", opts="cluster_size=4096", backing=None, fmt="qcow2"):
        args = ["qemu-img", "create", "-q", "-f", fmt]
        if fmt == "qcow2" and opts:
            args += ["-o", opts]
        if backing:
            args += ["-b", backing[0], "-F", backing[1]]
        args.append(self.path(name))
        if size:
            args.append(size)
        run(*args)
        return self.path(name)

    def io(self, name, *commands, fmt="qcow2"):
        args = ["qemu-io", "-f", fmt]
        for c in commands:
            args += ["-c", c]
        run(*args, self.path(name))

    def random_writes(self, rng, name, size, count=8, fmt="qcow2"):
        cmds = []
        for _ in range(count):
            length = rng.randrange(1, 48) * SECTOR
            offset = rng.randrange(0, (size - length) // SECTOR) * SECTOR
            if fmt == "qcow2" and rng.random() < 0.3:
                cmds.append(f"write -z {offset} {length}")
            else:
                cmds.append(f"write -P {rng.randrange(256)} {offset} {length}")
        self.io(name, *cmds, fmt=fmt)


class ImageInfoTest(ImageTestCase):
    """image-info --json against qemu-img info / map / check."""

    SNAPSHOT_KEYS = ("id", "name", "vm-state-size", "date-sec", "date-nsec", "vm-clock-sec",
                     "vm-clock-nsec", "icount")
    TOP_KEYS = ("filename", "format", "virtual-size", "actual-size", "cluster-size",
                "dirty-flag", "backing-filename", "full-backing-filename",
                "backing-filename-format")

    def assert_layer_agrees(self, ours, theirs):
        for key in self.TOP_KEYS:
            self.assertEqual(ours.get(key), theirs.get(key), f"{theirs['filename']}: {key}")
        self.assertEqual(len(ours.get("snapshots", [])), len(theirs.get("snapshots", [])))
        for a, b in zip(ours.get("snapshots", []), theirs.get("snapshots", [])):
            for key in self.SNAPSHOT_KEYS:
                self.assertEqual(a.get(key), b.get(key), f"{theirs['filename']}: snapshot {key}")
        if theirs["format"] == "qcow2":
            mine = dict(ours["format-specific"]["data"])
            mine.pop("bitmaps-extension")  # vmsnap's own
            self.assertEqual(mine, theirs["format-specific"]["data"], theirs["filename"])
            self.assert_allocation_agrees(ours)

    def assert_allocation_agrees(self, ours):
        name = ours["filename"]
        extents = json.loads(run("qemu-img", "map", "-U", "--output=json", name).stdout)
        data = sum(e["length"] for e in extents if e["depth"] == 0 and e["data"])
        zero = sum(e["length"] for e in extents
                   if e["depth"] == 0 and e["present"] and e["zero"] and not e["data"])
        self.assertEqual(ours["allocation"]["data-bytes"], data, f"{name}: data bytes")
        self.assertEqual(ours["allocation"]["zero-bytes"], zero, f"{name}: zero bytes")
        if not ours.get("snapshots"):
            check = json.loads(run("qemu-img", "check", "-U", "--output=json", name,
                                   check=False).stdout)
            self.assertEqual(ours["allocation"]["compressed-clusters"],
                             check.get("compressed-clusters", 0), f"{name}: compressed")

    def assert_agrees(self, name):
        ours = json.loads(self.ok("image-info", name, "--json"))
        theirs = json.loads(run("qemu-img", "info", "-U", "--output=json", name).stdout)
        self.assert_layer_agrees(ours, theirs)
        ours = json.loads(self.ok("image-info", name, "--json", "--backing-chain"))
        theirs = json.loads(run("qemu-img", "info", "-U", "--output=json", "--backing-chain",
                                name).stdout)
        self.assertEqual(len(ours), len(theirs))
        for a, b in zip(ours, theirs):
            self.assert_layer_agrees(a, b)

    def test_v3_with_snapshots_zero_and_lazy_refcounts(self):
        self.create("a.qcow2", "4M", "cluster_size=4096,lazy_refcounts=on")
        self.io("a.qcow2", "write -P 1 0 64k", "write -z 1M 16k")
        run("qemu-img", "snapshot", "-c", "first", self.path("a.qcow2"))
        self.io("a.qcow2", "write -P 2 8k 8k", "write -z 0 4k")
        run("qemu-img", "snapshot", "-c", "snap two", self.path("a.qcow2"))
        self.io("a.qcow2", "write -P 3 2M 100k")
        self.assert_agrees(self.path("a.qcow2"))

    def test_v2(self):
        self.create("v2.qcow2", "2M", "compat=0.10,cluster_size=512")
        self.io("v2.qcow2", "write -P 5 1000 5000", "write -z 8k 4k")
        run("qemu-img", "snapshot", "-c", "old", self.path("v2.qcow2"))
        self.assert_agrees(self.path("v2.qcow2"))

    def test_compressed_zlib_and_zstd(self):
        self.create("src.qcow2", "2M")
        self.io("src.qcow2", "write -P 7 0 200k", "write -P 0 512k 64k")
        for opts, name in (("cluster_size=4096", "cz.qcow2"),
                           ("cluster_size=65536,compression_type=zstd", "cs.qcow2")):
            run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", opts, self.path("src.qcow2"),
                self.path(name))
            self.assert_agrees(self.path(name))

    def test_extended_l2_and_refcount_widths(self):
        self.create("x.qcow2", "4M", "cluster_size=65536,extended_l2=on,refcount_bits=1")
        self.io("x.qcow2", "write -P 7 2k 4k", "write -z 64k 6k", "write -P 8 200k 70k")
        self.assert_agrees(self.path("x.qcow2"))
        self.create("r64.qcow2", "1M", "cluster_size=512,refcount_bits=64")
        self.io("r64.qcow2", "write -P 9 0 3k")
        self.assert_agrees(self.path("r64.qcow2"))

    def test_backing_chain_relative_absolute_and_raw(self):
        self.create("base.raw", "1M", fmt="raw")
        self.io("base.raw", "write -P 1 0 300k", fmt="raw")
        self.create("mid.qcow2", None, backing=("base.raw", "raw"))
        self.io("mid.qcow2", "write -P 2 100k 50k")
        self.create("top.qcow2", "2M", "compat=0.10", backing=(self.path("mid.qcow2"), "qcow2"))
        self.io("top.qcow2", "write -z 0 4k", "write -P 3 1500k 4k")
        self.assert_agrees(self.path("top.qcow2"))
        # A relative name given relative to the working directory.
        code, out, err = self.vmsnap("image-info", "mid.qcow2", "--json")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(json.loads(out)["full-backing-filename"], "base.raw")

    def test_full_snapshot_saved_by_qemu(self):
        """savevm: VM state size and VM clock as qemu-img shows them."""
        self.create("vm.qcow2", "8M")
        self.io("vm.qcow2", "write -P 3 0 1M")
        subprocess.run(["qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display",
                        "none", "-monitor", "stdio", "-accel", "tcg", "-drive",
                        f"file={self.path('vm.qcow2')},if=none,id=d0,format=qcow2"],
                       input="savevm full\nquit\n", capture_output=True, text=True, check=True)
        self.assert_agrees(self.path("vm.qcow2"))
        snap = json.loads(self.ok("image-info", self.path("vm.qcow2"), "--json"))["snapshots"][0]
        self.assertGreater(snap["vm-state-size"], 0)
        self.assertNotIn("icount", snap)

    def test_raw(self):
        self.create("plain.img", "3M", fmt="raw")
        self.io("plain.img", "write -P 1 1M 64k", fmt="raw")
        ours = json.loads(self.ok("image-info", self.path("plain.img"), "--json"))
        theirs = json.loads(run("qemu-img", "info", "--output=json",
                                self.path("plain.img")).stdout)
        for key in ("format", "virtual-size", "actual-size"):
            self.assertEqual(ours[key], theirs[key], key)
        extents = json.loads(run("qemu-img", "map", "--output=json", "-f", "raw",
                                 self.path("plain.img")).stdout)
        self.assertEqual(ours["allocation"]["data-bytes"],
                         sum(e["length"] for e in extents if e["data"]))

    def test_text_output(self):
        self.create("t.qcow2", "1M", "cluster_size=4096")
        self.io("t.qcow2", "write -P 1 0 8k", "write -z 64k 4k")
        out = self.ok("image-info", self.path("t.qcow2"))
        self.assertIn("file format: qcow2\nvirtual size: 1 MiB (1048576 bytes)\n", out)
        self.assertIn("cluster_size: 4096\n", out)
        self.assertIn("    compat: 1.1\n", out)
        self.assertIn("Allocation in this file:\n"
                      "    data: 8192 bytes in 2 clusters (0 compressed: 0 bytes)\n"
                      "    zero: 4096 bytes in 1 clusters\n", out)

    def corrupt_copy(self, name, offset, fmt, value):
        self.create("good.qcow2", "1M", "cluster_size=4096")
        self.io("good.qcow2", "write -P 1 0 8k")
        with open(self.path("good.qcow2"), "rb") as f:
            data = bytearray(f.read())
        struct.pack_into(fmt, data, offset, value)
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def assert_error(self, path, message):
        self.assertEqual(self.vmsnap("image-info", path), (1, "", f"error: {message}\n"))

    def test_corrupt_images_give_clean_errors(self):
        p = self.corrupt_copy("bits.qcow2", 20, ">I", 22)
        self.assert_error(p, f"'{p}' is not a valid qcow2 image: cluster_bits is 22; it must be "
                             "between 9 and 21 (`qemu-img check` may repair it)")
        p = self.corrupt_copy("incompat.qcow2", 72, ">Q", 1 << 12)
        self.assert_error(p, f"'{p}' uses incompatible qcow2 features vmsnap does not know: "
                             "bit 12; use a vmsnap that knows them, or qemu-img")
        p = self.corrupt_copy("l1.qcow2", 36, ">I", 0x7fffffff)
        self.assert_error(p, f"'{p}' is not a valid qcow2 image: the active L1 table has "
                             "2147483647 entries; at most 4194304 are allowed (`qemu-img check` "
                             "may repair it)")
        p = self.corrupt_copy("snap.qcow2", 60, ">I", 1)
        self.assert_error(p, f"'{p}' is not a valid qcow2 image: the snapshot table offset 0 is "
                             "not cluster aligned or not inside the file (`qemu-img check` may "
                             "repair it)")
        with open(self.path("good.qcow2"), "rb") as f:
            head = f.read(4096)
        with open(self.path("cut.qcow2"), "wb") as f:
            f.write(head)
        p = self.path("cut.qcow2")
        self.assertRegex(self.vmsnap("image-info", p)[2],
                         rf"^error: '{p}' is not a valid qcow2 image: the (active L1|refcount) "
                         r"table .* not inside the file .*\n$")
        self.assert_error(self.path("missing.qcow2"),
                          f"cannot open '{self.path('missing.qcow2')}': No such file or directory")
        # The corrupt bit is shown, as qemu-img shows it.
        p = self.corrupt_copy("flagged.qcow2", 72, ">Q", 2)
        self.assertEqual(json.loads(self.ok("image-info", p, "--json"))
                         ["format-specific"]["data"]["corrupt"], True)


class SnapshotDiffTest(ImageTestCase):
    """snapshot-diff against qemu-img compare and raw exports."""

    def define(self, dom, disks):
        xml = DOMAIN_XML.format(name=dom, disks="".join(
            DISK_XML.format(fmt=fmt, path=path, target=target) for target, path, fmt in disks))
        xml_path = self.path(f"{dom}.xml")
        with open(xml_path, "w") as f:
            f.write(xml)
        self.ok("define", xml_path)

    def current_disks(self, dom):
        import xml.etree.ElementTree as ET
        root = ET.fromstring(self.ok("dumpxml", dom))
        return {d.find("target").get("dev"): d.find("source").get("file")
                for d in root.iterfind("devices/disk")}

    def export(self, point, name):
        """A raw copy of a point: (file, tag)."""
        file, tag = point
        out = self.path(f"export-{name}.raw")
        args = ["qemu-img", "convert", "-U", "-O", "raw"]
        if tag:
            args += ["-l", f"snapshot.name={tag}"]
        run(*args, file, out)
        return out

    @staticmethod
    def raw_ranges(a, b):
        with open(a, "rb") as f:
            x = f.read()
        with open(b, "rb") as f:
            y = f.read()
        size = max(len(x), len(y))
        x, y = x.ljust(size, b"\0"), y.ljust(size, b"\0")
        ranges = []
        for s in range(0, size, SECTOR):
            if x[s:s + SECTOR] != y[s:s + SECTOR]:
                end = min(s + SECTOR, size)
                if ranges and ranges[-1][0] + ranges[-1][1] == s:
                    ranges[-1][1] = end - ranges[-1][0]
                else:
                    ranges.append([s, end - s])
        return ranges

    def check_diff(self, dom, a, b=None):
        args = ["snapshot-diff", dom, a] + ([b] if b else ["--current"]) + ["--json"]
        result = json.loads(self.ok(*args))
        self.assertEqual((result["from"], result["to"]), (a, b))
        total = 0
        for disk in result["disks"]:
            self.assertIsNone(disk["skipped"])
            pa = (disk["from"]["file"], disk["from"]["tag"])
            pb = (disk["to"]["file"], disk["to"]["tag"])
            ea = self.export(pa, f"{dom}-{a}-{disk['disk']}")
            eb = self.export(pb, f"{dom}-{b}-{disk['disk']}")
            ranges = [[r["offset"], r["length"]] for r in disk["ranges"]]
            self.assertEqual(ranges, self.raw_ranges(ea, eb), f"{disk['disk']} {a}..{b}")
            self.assertEqual(disk["differing-bytes"], sum(r[1] for r in ranges))
            total += disk["differing-bytes"]
            # qemu-img compare on the points themselves (chains, tags exported).
            ca = ea if pa[1] else pa[0]
            cb = eb if pb[1] else pb[0]
            verdict = run("qemu-img", "compare", "-U", ca, cb, check=False)
            if ranges:
                self.assertEqual((verdict.returncode, verdict.stdout),
                                 (1, f"Content mismatch at offset {ranges[0][0]}!\n"))
            else:
                self.assertEqual((verdict.returncode, verdict.stdout),
                                 (0, "Images are identical.\n"))
        self.assertEqual(result["differing-bytes"], total)
        return result

    def test_internal_and_external_random(self):
        rng = random.Random(20261123)
        size = 4 << 20
        disks = [("vda", self.create("d-vda.qcow2", "4M", "cluster_size=4096"), "qcow2"),
                 ("vdb", self.create("d-vdb.qcow2", "4M", "compat=0.10,cluster_size=512"),
                  "qcow2"),
                 ("vdc", self.create("d-vdc.raw", "4M", fmt="raw"), "raw")]
        self.define("dom", disks)
        snaps = []
        kinds = ["internal", "external", "internal", "external", "external"]
        for i, kind in enumerate(kinds):
            for target, path in self.current_disks("dom").items():
                fmt = "raw" if path.endswith(".raw") else "qcow2"
                self.random_writes(rng, os.path.basename(path), size, fmt=fmt)
            name = f"s{i}"
            specs = []
            for target, path in self.current_disks("dom").items():
                internal_ok = kind == "internal" and not path.endswith(".raw")
                specs += ["--diskspec", f"{target},snapshot={'internal' if internal_ok else 'external'}"]
            self.ok("snapshot-create-as", "dom", name, "--disk-only", *specs)
            snaps.append(name)
        for target, path in self.current_disks("dom").items():
            self.random_writes(rng, os.path.basename(path), size)
        for i in range(len(snaps)):
            self.check_diff("dom", snaps[i])
            if i + 1 < len(snaps):
                self.check_diff("dom", snaps[i], snaps[i + 1])
        self.check_diff("dom", snaps[0], snaps[-1])
        same = self.check_diff("dom", snaps[2], snaps[2])
        self.assertEqual(same["differing-bytes"], 0)

    def test_compressed_base_and_text_output(self):
        self.create("src.qcow2", "2M")
        self.io("src.qcow2", "write -P 4 0 1M")
        run("qemu-img", "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4096",
            self.path("src.qcow2"), self.path("c.qcow2"))
        self.define("cd", [("vda", self.path("c.qcow2"), "qcow2")])
        self.ok("snapshot-create-as", "cd", "one", "--disk-only", "--diskspec",
                "vda,snapshot=internal")
        active = self.current_disks("cd")["vda"]
        self.io(os.path.basename(active), "write -P 5 4096 512", "write -z 8192 4096")
        self.check_diff("cd", "one")
        out = self.ok("snapshot-diff", "cd", "one")
        self.assertEqual(out,
                         "disk vda: 4608 bytes differ in 2 ranges (of 2097152 bytes)\n"
                         f"  from: {active}, internal snapshot 'one'\n"
                         f"  to:   {active}\n"
                         "  4096 +512\n"
                         "  8192 +4096\n"
                         "total: 4608 bytes differ\n")

    def test_errors(self):
        self.define("e", [("vda", self.create("e.qcow2"), "qcow2")])
        self.ok("snapshot-create-as", "e", "one", "--disk-only")
        self.assertEqual(self.vmsnap("snapshot-diff", "e", "nope"),
                         (1, "", "error: domain 'e' has no snapshot named 'nope'\n"))
        code, out, err = self.vmsnap("snapshot-diff", "e", "one", "one", "--current")
        self.assertEqual((code, out), (2, ""))
        self.assertTrue(err.startswith("error: give either SNAP_B or --current, not both\n"))


def tap_main():
    global VMSNAP
    if len(sys.argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    VMSNAP = os.path.abspath(sys.argv[1])
    for tool in ("qemu-img", "qemu-io", "qemu-system-x86_64"):
        if not shutil.which(tool):
            sys.stderr.write(f"{tool} is missing: install qemu-utils and qemu-system-x86\n")
            return 1
    return tap.run(tap.select(sys.modules[__name__], sys.argv[2:]))


if __name__ == "__main__":
    tap.main(tap_main)
