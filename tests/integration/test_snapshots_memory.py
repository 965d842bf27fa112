#!/usr/bin/env python3
"""Integration tests: live full snapshots and memory-state files (ADR 0007)
on the real test guest.

Usage: test_snapshots_memory.py VMSNAP_BINARY GUEST_DIR [TEST_NAME_PATTERN...]

- A running guest's full snapshot with external memory is taken in the
  background: the guest counts on while its memory is written, and a revert
  resumes it at the snapshot's instant with memory and disks agreeing (the
  counter it prints next is one past what each disk held, or the value a
  disk was being given: docs/guest.md).
- Each compression (none, zstd, gzip) round-trips: the file is a vmsnap
  memory-state file, 0600, with that compression in its header, and a
  revert resumes the guest where it was.
- A flipped byte is caught by snapshot-verify and by snapshot-revert, which
  change nothing; --force loads the file anyway.
- A QEMU killed while its memory is saved leaves no snapshot and no stray
  file, and nothing the guest wrote is lost.
"""

import os
import signal
import stat
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from guestlib import DOM, backing_chain, check_image, wait_pid_gone
import guestlib
import tap
from test_snapshots_full import FullSnapshotTestCase

TWO_QCOW2 = (("vda", "qcow2"), ("vdb", "qcow2"))
MAGIC = b"VMSNAPMS"


class MemorySnapshotTestCase(FullSnapshotTestCase):

    def memory_file(self, name):
        return self.snapshot_xml(name).find("memory").get("file")

    def flip_byte(self, path, offset):
        with open(path, "r+b") as f:
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0x55]))

    def files_in(self, directory):
        return sorted(os.listdir(directory)) if os.path.isdir(directory) else []

    # -- live snapshots --------------------------------------------------------

    def test_live_snapshot_while_the_guest_writes(self):
        # gzip makes the save take several of the guest's ticks, so memory
        # saved late (at the end of the save, not at the pause) would show
        # as a memory counter ahead of the disks.
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(3)
        before, after = self.create("s1", "--memspec", "snapshot=external", "--compress", "gzip")
        xml = self.snapshot_xml("s1")
        pause = xml.find("{https://vmsnap.dev/xmlns/snapshot/1}pause")
        self.assertIsNotNone(pause, "the snapshot records no pause")
        self.assertGreater(int(pause.get("us")), 0)
        tap.comment(f"guest pause {int(pause.get('us')) / 1000:.1f} ms, QEMU's downtime "
                    f"{pause.get('qemu-downtime-ms')} ms")
        # The guest ran on and keeps writing its disks (the new overlays).
        self.wait_counter(after + 3)
        self.revert("s1")
        resumed = self.resumed_counter()
        self.assertTrue(before + 1 <= resumed <= after + 1, (before, resumed, after))
        self.assert_disks_match("s1", resumed)
        # From shut off: the same instant again.
        self.ok("destroy", DOM)
        self.revert("s1")
        self.assertEqual(self.resumed_counter(), resumed)

    def test_live_is_the_default_and_paused_guests_stay_paused(self):
        self.define()
        self.boot()
        self.wait_counter(2)
        self.create("live", "--memspec", "snapshot=external")
        self.assertIsNotNone(self.snapshot_xml("live").find(
            "{https://vmsnap.dev/xmlns/snapshot/1}pause"))
        self.ok("suspend", DOM)
        last = self.last_counter()
        self.create("paused", "--memspec", "snapshot=external", "--compress", "zstd")
        self.assertEqual(self.domstate(), "paused")
        self.assert_quiet()
        # A paused guest was not paused by the snapshot: no pause recorded.
        self.assertIsNone(self.snapshot_xml("paused").find(
            "{https://vmsnap.dev/xmlns/snapshot/1}pause"))
        self.ok("resume", DOM)
        self.wait_counter(last + 3)
        self.revert("paused", "--running")
        self.assertEqual(self.resumed_counter(), last + 1)
        self.assert_disks_match("paused", last + 1)

    # -- the memory-state files --------------------------------------------------

    def test_each_compression_round_trips(self):
        self.define()
        self.boot()
        self.wait_counter(2)
        sizes = {}
        for alg in ("none", "zstd", "gzip"):
            self.ok("suspend", DOM)
            last = self.last_counter()
            self.create(alg, "--memspec", "snapshot=external", "--compress", alg)
            self.ok("resume", DOM)
            path = self.memory_file(alg)
            st = os.stat(path)
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
            with open(path, "rb") as f:
                header = f.read(64)
            self.assertEqual(header[:len(MAGIC)], MAGIC)
            # The header's compression byte (docs/formats/memstate.md).
            self.assertEqual(header[32], {"none": 0, "gzip": 1, "zstd": 2}[alg])
            sizes[alg] = st.st_size
            xml = self.snapshot_xml(alg)
            self.assertEqual(xml.findtext("compression"), "raw" if alg == "none" else alg)
            checksum = xml.find("{https://vmsnap.dev/xmlns/snapshot/1}checksum")
            self.assertEqual(checksum.get("type"), "xxh3-128")
            self.assertRegex(checksum.text, r"^[0-9a-f]{32}$")
            self.wait_counter(last + 2)
            self.revert(alg, "--running")
            self.assertEqual(self.resumed_counter(), last + 1, alg)
            self.wait_counter(last + 3)
        tap.comment("memory file sizes: " +
                    ", ".join(f"{a} {s / 2**20:.1f} MiB" for a, s in sizes.items()))
        # How much smaller depends on the CPU left over: compression goes to
        # its fast level while QEMU would wait for it (ADR 0007); zstd's
        # fast level still compresses.
        self.assertLess(sizes["zstd"], sizes["none"])
        self.assertEqual(self.ok("snapshot-verify", DOM),
                         "none: ok\nzstd: ok\ngzip: ok\n3 snapshots verified, all intact\n")

    def test_flipped_byte_is_caught_by_verify_and_revert(self):
        self.define()
        self.boot()
        self.wait_counter(2)
        self.ok("suspend", DOM)
        last = self.last_counter()
        self.create("s1", "--memspec", "snapshot=external", "--compress", "none")
        self.ok("resume", DOM)
        path = self.memory_file("s1")
        good = self.snapshot_xml("s1").find("{https://vmsnap.dev/xmlns/snapshot/1}checksum").text
        self.flip_byte(path, os.path.getsize(path) // 2)
        code, out, err = self.vmsnap("snapshot-verify", DOM)
        self.assertEqual((code, err), (1, ""))
        self.assertRegex(out, rf"^s1: DAMAGED\n  snapshot 's1' is damaged: memory file '{path}': "
                              r"memory file is damaged: the checksum of its stored data does "
                              rf"not match \(xxh3-128 [0-9a-f]{{32}}, trailer says {good}\); "
                              r"delete this snapshot or restore the file from a backup\n"
                              r"1 snapshot verified, 1 damaged\n$")
        # The revert refuses before anything changes: same QEMU, still counting.
        pid = self.qemu_pid()
        code, out, err = self.vmsnap("snapshot-revert", DOM, "s1")
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(err, rf"^error: the memory file '{path}' of snapshot 's1' cannot be "
                              r"used: memory file is damaged: the checksum of its stored data "
                              r"does not match .*; nothing was changed \('--force' loads it "
                              r"anyway\)\n$")
        self.assertEqual(self.qemu_pid(), pid)
        now = self.last_counter()
        self.wait_counter(now + 2)
        # --force trusts the file: one byte of guest RAM differs, the guest
        # resumes all the same.
        self.revert("s1", "--force", "--running")
        self.assertEqual(self.resumed_counter(), last + 1)

    def test_wrong_file_is_refused(self):
        # Another snapshot's memory file put in place of this one's: its own
        # checksums pass, the one the snapshot recorded does not.
        self.define()
        self.boot()
        self.wait_counter(2)
        self.create("s1", "--memspec", "snapshot=external")
        self.create("s2", "--memspec", "snapshot=external")
        s1, s2 = self.memory_file("s1"), self.memory_file("s2")
        recorded = self.snapshot_xml("s1").find(
            "{https://vmsnap.dev/xmlns/snapshot/1}checksum").text
        other = self.snapshot_xml("s2").find(
            "{https://vmsnap.dev/xmlns/snapshot/1}checksum").text
        os.replace(s2, s1)
        code, out, err = self.vmsnap("snapshot-revert", DOM, "s1")
        self.assertEqual((code, out, err), (
            1, "", f"error: the memory file '{s1}' of snapshot 's1' cannot be used: it is not "
                   f"the file the snapshot saved (its checksum is {other}, the snapshot "
                   f"recorded {recorded}); nothing was changed ('--force' loads it anyway)\n"))
        self.assertEqual(self.domstate(), "running")
        code, out, _ = self.vmsnap("snapshot-verify", DOM)
        self.assertEqual(code, 1)
        self.assertEqual(out.splitlines()[-1], "2 snapshots verified, 2 damaged")
        self.assertIn(f"s2: DAMAGED\n  snapshot 's2' is damaged: the memory file '{s2}' of "
                      "snapshot 's2' is missing", out)

    def test_memory_file_of_another_domain_is_refused(self):
        # Another domain's memory file put in place of this one's: its header
        # names the other domain, so the revert refuses before anything stops.
        self.define(dom="other")
        self.define()
        for dom in ("other", DOM):
            self.ok("start", dom)
        self.wait_counter(1)
        self.ok("snapshot-create-as", "other", "o1", "--memspec", "snapshot=external")
        self.create("s1", "--memspec", "snapshot=external")
        mine = self.memory_file("s1")
        theirs = ET.fromstring(self.ok("snapshot-dumpxml", "other", "o1")).find("memory").get(
            "file")
        uuid_of = {d: ET.fromstring(self.ok("dumpxml", d)).findtext("uuid") for d in (DOM, "other")}
        os.replace(theirs, mine)
        pid = self.qemu_pid()
        code, out, err = self.vmsnap("snapshot-revert", DOM, "s1")
        self.assertEqual((code, out, err), (
            1, "", f"error: the memory file '{mine}' of snapshot 's1' cannot be used: it belongs "
                   f"to another domain (uuid {uuid_of['other']}, not {uuid_of[DOM]}); nothing "
                   f"was changed ('--force' loads it anyway)\n"))
        self.assertEqual(self.qemu_pid(), pid)

    def test_verify_checks_disk_files(self):
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(2)
        self.create("full", "--memspec", "snapshot=external")
        self.ok("snapshot-create-as", DOM, "disks", "--disk-only")
        self.assertEqual(self.ok("snapshot-verify", DOM, "disks"),
                         "disks: ok\n1 snapshot verified, all intact\n")
        # The frozen file of vdb at "full": its qcow2 header made invalid.
        xml = self.snapshot_xml("full")
        vdb = [d.find("source").get("file") for d in xml.iterfind("domain/devices/disk")
               if d.find("target").get("dev") == "vdb"][0]
        with open(vdb, "r+b") as f:
            f.write(b"JUNK")
        code, out, err = self.vmsnap("snapshot-verify", DOM, "full")
        self.assertEqual((code, err), (1, ""))
        self.assertRegex(out, r"^full: DAMAGED\n  snapshot 'full' is damaged: disk vdb: ")
        self.assertTrue(out.endswith("1 snapshot verified, 1 damaged\n"), out)

    def test_long_chain_while_running(self):
        # QEMU's query-block nests one level per backing file: a chain of
        # 40 overlays is deeper than json-c's default limit (32), which
        # once made every QMP call on such a domain fail.
        self.define()
        self.boot()
        self.wait_counter(1)
        for i in range(40):
            self.ok("snapshot-create-as", DOM, f"d{i}", "--disk-only")
        self.create("full", "--memspec", "snapshot=external")
        self.ok("snapshot-delete", DOM, "d20")
        self.assertTrue(self.ok("snapshot-verify", DOM).endswith(
            "40 snapshots verified, all intact\n"))
        last = self.last_counter()
        self.revert("full")
        self.assertGreater(self.resumed_counter(), 0)
        self.wait_counter(last)

    # -- failures ----------------------------------------------------------------

    def test_qemu_killed_mid_save_leaves_nothing(self):
        paths = self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(3)
        memory_dir = os.path.join(self.state, "domains", DOM, "memory")
        pid = self.qemu_pid()
        proc = subprocess.Popen(
            [guestlib.VMSNAP, "--dir", self.state, "snapshot-create-as", DOM, "s1", "--memspec",
             "snapshot=external", "--compress", "gzip"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env)
        # Kill QEMU once the memory file has some of the stream in it.
        mem = os.path.join(memory_dir, "s1.vmstate")
        end = time.monotonic() + guestlib.LINE_DEADLINE
        while not (os.path.exists(mem) and os.path.getsize(mem) > 2**20):
            self.assertIsNone(proc.poll(), "the snapshot finished before QEMU could be killed")
            self.assertLess(time.monotonic(), end, "the memory file did not grow")
            time.sleep(0.005)
        last = self.last_counter()
        os.kill(pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=guestlib.COMMAND_TIMEOUT)
        self.assertEqual((proc.returncode, out.decode()), (1, ""))
        self.assertRegex(err.decode(), r"^error: QEMU stopped while the memory of snapshot 's1' "
                                       r"was being saved, so no snapshot was taken \(the guest's "
                                       r"disk writes since are kept\): ")
        self.assertTrue(wait_pid_gone(pid))
        # No snapshot, no memory file, no overlay; the definition is as before.
        self.assertEqual(self.ok("snapshot-list", DOM, "--name"), "")
        self.assertEqual(self.files_in(memory_dir), [])
        self.assertEqual(self.files_in(self.disk_dir), sorted(os.path.basename(p)
                                                             for p in paths.values()))
        self.assertEqual(self.current_disks(), paths)
        for path in paths.values():
            self.assertIsNone(check_image(path))
            self.assertEqual(backing_chain(path), [(path, "qcow2")])
        # Nothing the guest wrote is lost: it boots reading at least the last
        # counter it printed before QEMU died.
        self.ok("destroy", DOM)
        self.start()
        for disk, value in self.wait_disk_lines().items():
            self.assertGreaterEqual(int(value), last, disk)


if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
