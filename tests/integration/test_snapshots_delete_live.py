#!/usr/bin/env python3
"""Integration tests: deleting snapshots of a RUNNING (or paused) domain,
and the RFC's deactivate (snapshot-deactivate --merge / --discard).

Usage: test_snapshots_delete_live.py VMSNAP_BINARY GUEST_DIR [TEST_NAME_PATTERN...]

Snapshots are taken of the running test guest (snapshot-create-as --disk-only),
then deleted while it runs. After each delete (docs/adr/0006-snapshot-data.md):
- the guest keeps running and counting: its counter lines go on one by one,
  with no disk error line;
- every other snapshot keeps its exact contents: its files, read with
  `qemu-img -U` while QEMU has them open, equal the raw copy exported when it
  was taken (`qemu-img compare`);
- no file is left that neither the current state nor a snapshot uses;
then the guest is shut down: its disks hold the last counter it printed and
otherwise what they held at the start (the current state kept its contents),
`qemu-img check` is clean, and every remaining snapshot reverts to its
contents (the last one booted).
"""

import os
import re
import subprocess
import sys
import time

from guestlib import (COUNTER, DOM, backing_chain, counter_sector, export_raw, qemu_img,
                      read_counter, same_contents)
import guestlib
import tap  # tests/tap.py, on the path guestlib sets
from test_snapshots_offline import QCOW2_AND_RAW, TWO_QCOW2, SnapshotTestCase, domain_disks

DISK_ERROR = re.compile(r"^vmsnap-guest: writing .* failed$")
INTERNAL = ["--diskspec", "vda,snapshot=internal", "--diskspec", "vdb,snapshot=internal"]


def chain_files(path):
    """@path and its backing files, top first."""
    return [f for f, _fmt in backing_chain(path)]


class LiveDeleteCase(SnapshotTestCase):
    """Snapshots taken while the guest runs; deletes while it runs."""

    def setUp(self):
        super().setUp()
        self.kinds = {}  # snapshot -> {disk: "internal" | "external"}
        self.base_ref = None

    def define_patterned(self, disks):
        """Define the domain with disks whose blocks past the first sector
        hold a pattern, so every layer's contents mean something."""
        paths = self.define_disks(disks)
        for target, path in paths.items():
            fmt = "raw" if path.endswith(".raw") else "qcow2"
            for n, offset in enumerate(("1M", "5M", "9M")):
                subprocess.run(["qemu-io", "-f", fmt, "-c",
                                f"write -q -P {0x40 + n + (8 if target == 'vdb' else 0)} "
                                f"{offset} 64k", path],
                               check=True, capture_output=True)
        return paths

    # -- taking snapshots while running ---------------------------------------

    def take(self, name, *options):
        """snapshot-create-as --disk-only while the guest runs; remembers the
        snapshot's contents from its frozen files (or internal tags)."""
        self.wait_counter((self.last_counter() or 0) + 2)
        self.assertEqual(self.ok("snapshot-create-as", DOM, name, "--disk-only", *options),
                         f"Domain snapshot {name} created\n")
        self.parents[name] = self.current
        self.current = name
        xml = self.snapshot_xml(name)
        as_taken = domain_disks(xml.find("domain"))
        self.kinds[name] = {d.get("name"): d.get("snapshot") for d in xml.iterfind("disks/disk")}
        self.refs[name] = {}
        for disk, kind in self.kinds[name].items():
            dest = os.path.join(self.refs_dir, f"{name}.{disk}")
            self.refs[name][disk] = export_raw(as_taken[disk], dest,
                                                 name if kind == "internal" else None)
        values = {read_counter(ref) for ref in self.refs[name].values()}
        self.assertEqual(len(values), 1, f"disks of {name} disagree: {values}")
        self.counters[name] = int(values.pop())

    def boot_at(self, name):
        """Revert to @name and boot it (the domain must be shut off)."""
        self.serial.mark()
        self.assert_reverted(self.ok("snapshot-revert", DOM, name, "--running"), name)
        self.current = name
        self.serial.wait_for(COUNTER, deadline=guestlib.BOOT_DEADLINE)

    # -- checks -----------------------------------------------------------------

    def snapshot_reads(self, name, disk):
        """A raw copy of what snapshot @name holds of @disk now (-U)."""
        xml = self.snapshot_xml(name)
        source = domain_disks(xml.find("domain"))[disk]
        dest = os.path.join(self.refs_dir, f"now.{name}.{disk}")
        tag = name if self.kinds[name][disk] == "internal" else None
        return export_raw(source, dest, tag)

    def assert_snapshots_intact(self):
        for name in self.parents:
            for disk, ref in self.refs[name].items():
                self.assertTrue(same_contents(self.snapshot_reads(name, disk), ref),
                                f"snapshot {name} ({disk}) changed")

    def assert_no_unused_file(self):
        """Every file in the disk directory is the current state's or a
        snapshot's, directly or as a backing file (read with -U)."""
        roots = list(self.current_disks().values())
        for snap in self.snapshot_names():
            xml = self.snapshot_xml(snap)
            as_taken = domain_disks(xml.find("domain"))
            roots += [as_taken[d.get("name")] for d in xml.iterfind("disks/disk")
                      if d.get("snapshot") in ("internal", "external")]
        used = {f for root in roots for f in chain_files(root)}
        present = {os.path.join(self.disk_dir, f) for f in os.listdir(self.disk_dir)}
        self.assertEqual(sorted(present - used), [], "files nothing uses")
        self.assertEqual(sorted(used - present), [], "files used but gone")

    def assert_still_counting(self, since):
        """The guest runs on: counter lines after line @since go on one by
        one from where they were, and no disk write failed."""
        self.assertEqual(self.domstate(), "running")
        self.wait_counter(self.last_counter() + 3)
        before = [v for i, v in self.serial.counters() if i <= since]
        values = [v for i, v in self.serial.counters() if i > since]
        first = before[-1] + 1 if before else values[0]
        self.assertEqual(values, list(range(first, first + len(values))),
                         "the counter restarted or skipped")
        self.assertEqual(self.serial.find(DISK_ERROR), [], self.serial.tail())

    def live_delete(self, name, *options, command="snapshot-delete", expect=None):
        """Delete @name while the guest runs, and check everything above
        that can be checked while it runs."""
        since = len(self.serial.lines()[0]) - 1
        t0 = time.monotonic()
        out = self.ok(command, DOM, name, *options)
        tap.comment(f"{command} {name} {' '.join(options)} while running: "
                    f"{time.monotonic() - t0:.2f} s")
        if expect is not None:
            self.assertEqual(out, expect)
            self.forget(name, with_children=False)
        else:
            self.account_delete(name, options, out)
        self.assert_still_counting(since)
        self.assert_tree()
        self.assert_snapshots_intact()
        self.assert_no_unused_file()

    def forget(self, name, with_children):
        gone = ([name] + self.descendants(name)) if with_children else [name]
        parent = self.parents[name]
        if self.current in gone:
            self.current = parent
        for snap in gone:
            del self.parents[snap]
        for snap, p in self.parents.items():
            if p in gone:
                self.parents[snap] = parent

    def finish(self, boot=False):
        """Shut down; the current state kept its contents (the last counter
        printed, the patterns); files clean; every snapshot reverts (checked
        by its disks' contents; with @boot the last one also by booting)."""
        last = self.shutdown()
        for disk, path in self.current_disks().items():
            expected = os.path.join(self.refs_dir, f"expected.{disk}")
            any_ref = next(iter(self.refs.values()))[disk]
            qemu_img("convert", "-O", "raw", any_ref, expected)
            with open(expected, "r+b") as f:
                f.write(counter_sector(last))
            self.assertTrue(same_contents(path, expected),
                            f"the current state of {disk} lost data")
        self.assert_files()
        if self.parents:
            self.assert_every_snapshot_reverts(boot_last=boot)

    # -- the tree ---------------------------------------------------------------

    def build_live_tree(self, disks=QCOW2_AND_RAW):
        """a ─┬─ b ─┬─ c ── d
              │     └─ e
              └─ f ── g   (current: g, the guest running on)
        every snapshot taken while the guest ran."""
        self.define_patterned(disks)
        self.boot()
        for name in "abcd":
            self.take(name)
        self.shutdown()
        self.boot_at("b")
        self.take("e")
        self.shutdown()
        self.boot_at("a")
        self.take("f")
        self.take("g")
        self.wait_counter(self.last_counter() + 2)
        self.assert_tree()
        self.assert_no_unused_file()


class LiveDeleteTest(LiveDeleteCase):

    def test_the_current_snapshot(self):
        # g's frozen file has one child, the active layer: committed down.
        self.build_live_tree()
        active = self.current_disks()
        self.live_delete("g")
        self.assertNotEqual(self.current_disks(), active)
        self.finish(boot=True)

    def test_on_the_current_branch(self):
        # f's frozen file is below the active layer: streamed up into g's
        # frozen file (an intermediate node of the running chain).
        self.build_live_tree()
        self.live_delete("f")
        self.finish()

    def test_middle_of_a_chain_on_another_branch(self):
        # c's files are not open in QEMU; its backing file is (read-only).
        self.build_live_tree()
        self.live_delete("c")
        self.finish()

    def test_leaf_on_another_branch(self):
        self.build_live_tree()
        self.live_delete("d")
        self.finish()

    def test_with_several_children(self):
        self.build_live_tree()
        self.live_delete("b")
        self.finish()

    def test_root(self):
        # The original images: one child in QEMU's chain (streamed whole),
        # one outside it (rebased onto nothing).
        self.build_live_tree()
        self.live_delete("a")
        self.finish(boot=True)

    def test_every_snapshot_one_after_another(self):
        self.build_live_tree()
        for name in ("c", "g", "a", "e", "b", "d", "f"):
            self.live_delete(name)
        self.assertEqual(self.snapshot_names(), [])
        self.finish()

    def test_children(self):
        self.build_live_tree()
        self.live_delete("a", "--children-only")
        self.assertEqual(sorted(self.parents), ["a"])
        self.finish()

    def test_only_snapshot_commits_into_the_originals(self):
        # The first snapshot's frozen files are the original images (one
        # raw): the overlays commit into them and the domain writes them again.
        originals = self.define_patterned(QCOW2_AND_RAW)
        self.boot()
        self.take("s1")
        self.live_delete("s1")
        self.assertEqual(self.current_disks(), originals)
        self.assertEqual(sorted(os.listdir(self.disk_dir)),
                         sorted(os.path.basename(p) for p in originals.values()))
        self.finish()

    def test_paused(self):
        # g: the active layer committed down; a: streamed into a file below
        # it. The guest stays paused, and counts on once resumed.
        self.build_live_tree()
        self.ok("suspend", DOM)
        for name in ("g", "a"):
            self.assertEqual(self.ok("snapshot-delete", DOM, name),
                             f"Domain snapshot {name} deleted\n")
            self.account_delete(name, (), f"Domain snapshot {name} deleted\n")
            self.assertEqual(self.domstate(), "paused")
            self.assert_tree()
            self.assert_snapshots_intact()
            self.assert_no_unused_file()
        since = len(self.serial.lines()[0]) - 1
        self.ok("resume", DOM)
        self.assert_still_counting(since)
        self.finish()


class LiveInternalTest(LiveDeleteCase):

    def test_internal_in_the_active_layer(self):
        self.define_patterned(TWO_QCOW2)
        self.boot()
        self.take("i1", *INTERNAL)
        self.take("i2", *INTERNAL)
        self.take("i3", *INTERNAL)
        self.live_delete("i2")
        self.live_delete("i1")
        self.finish(boot=True)

    def test_internal_below_the_active_layer_is_refused(self):
        # i1's tags are in the files an external snapshot froze: QEMU has
        # them open read-only and can delete tags of the active layer only.
        originals = self.define_patterned(TWO_QCOW2)
        self.boot()
        self.take("i1", *INTERNAL)
        self.take("e2")
        code, out, err = self.vmsnap("snapshot-delete", DOM, "i1")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"error: snapshot 'i1' keeps disk vda inside '{originals['vda']}', "
                              f"which the running domain '{DOM}' reads as a backing file; QEMU "
                              "can delete internal snapshots of the active layer only: shut the "
                              "domain down first\n")
        self.assert_tree()
        # e2's frozen files hold i1's tags: committing into them keeps them.
        self.live_delete("e2")
        self.assertEqual(self.current_disks(), originals)
        self.live_delete("i1")
        self.finish()

    def test_external_whose_overlay_holds_internal_snapshots(self):
        # i2 is inside e1's overlays: merging e1's frozen files into them
        # would change what i2 reads, so the frozen files stay as plain
        # backing files and only e1's point goes. Deleting e0 afterwards
        # still merges the originals into those kept files.
        originals = self.define_patterned(TWO_QCOW2)
        self.boot()
        self.take("e0")
        kept = self.current_disks()
        self.take("e1")
        self.take("i2", *INTERNAL)
        active = self.current_disks()
        self.live_delete("e1")
        self.assertEqual(self.current_disks(), active)
        for disk, path in active.items():
            self.assertEqual(chain_files(path), [path, kept[disk], originals[disk]])
        self.live_delete("e0")
        for disk, path in active.items():
            self.assertEqual(chain_files(path), [path, kept[disk]])
        self.finish()


class KeptFrozenFileTest(LiveDeleteCase):

    def test_kept_frozen_file_goes_with_its_last_child(self):
        # e3's frozen file (e2's overlay) is kept for i4's tags in the file
        # built on it; once i4 goes and that file with it, nothing uses the
        # kept file either: it goes too (regression: it stayed behind).
        self.define_patterned(TWO_QCOW2)
        for value, (name, options) in enumerate(
                [("s1", INTERNAL), ("e2", ()), ("e3", ()), ("i4", INTERNAL)], 1):
            self.write_disks(value)
            self.create(name, value, *options)
            self.kinds[name] = {"vda": "internal" if options else "external",
                                "vdb": "internal" if options else "external"}
        self.write_disks(5)
        self.delete("e3")
        self.revert("s1")
        self.delete("i4")
        self.assertEqual(self.snapshot_names(), ["e2", "s1"])
        self.assert_every_snapshot_reverts(boot_last=False)

class DeactivateTest(LiveDeleteCase):
    """snapshot-deactivate --merge / --discard [--force] on the tree of the
    shut-off domain's DeleteTest (disks written with qemu-io, no boot):

        a ─┬─ b ─┬─ c ── d
           │     └─ e
           └─ f ── g   (current: g, the disks changed since)
    """

    def build_tree(self):
        self.define_patterned(QCOW2_AND_RAW)
        for value, (name, revert_to) in enumerate(
                [("a", None), ("b", None), ("c", None), ("d", None), ("e", "b"), ("f", "a"),
                 ("g", None)], 1):
            if revert_to:
                self.revert(revert_to)
            self.write_disks(value)
            self.create(name, value, "--disk-only")
            self.kinds[name] = {"vda": "external", "vdb": "external"}
        self.write_disks(8)
        self.assert_tree()

    def refused(self, args, message):
        files = sorted(os.listdir(self.disk_dir))
        before = self.export_current()
        self.assertEqual(self.vmsnap("snapshot-deactivate", DOM, *args), (1, "", message), args)
        self.assertEqual(sorted(os.listdir(self.disk_dir)), files)
        self.assert_current_is(before, f"a refused deactivate {args}")
        self.assert_tree()

    def test_merge(self):
        self.build_tree()
        before = self.export_current()
        self.assertEqual(self.ok("snapshot-deactivate", DOM, "b", "--merge"),
                         "Domain snapshot b merged\n")
        self.account_delete("b", (), "Domain snapshot b deleted\n")
        self.assert_current_is(before, "merging b")
        self.assert_tree()
        self.assert_files()
        self.assert_every_snapshot_reverts(boot_last=False)

    def test_discard_refusals_name_what_would_be_lost(self):
        self.build_tree()
        self.refused(("b", "--discard"),
                     "error: discarding snapshot 'b' would also discard snapshots 'c', 'd' and "
                     "'e'; add --force to discard them\n")
        self.refused(("f", "--discard"),
                     "error: discarding snapshot 'f' would also discard snapshot 'g' and the "
                     f"current state of domain '{DOM}'; add --force to discard them\n")
        self.refused(("g", "--discard"),
                     "error: discarding snapshot 'g' would also discard the current state of "
                     f"domain '{DOM}'; add --force to discard it\n")
        self.refused(("a", "--discard", "--force"),
                     f"error: discarding snapshot 'a' would discard the current state of domain "
                     f"'{DOM}', and 'a' has no parent snapshot to go back to; revert to a "
                     "snapshot outside it first, or merge it (snapshot-delete) to keep the "
                     "current state\n")
        self.assertEqual(self.vmsnap("snapshot-deactivate", DOM, "b"),
                         (2, "", "error: say what to do: --merge or --discard\n"
                          + self.usage()))
        self.assertEqual(self.vmsnap("snapshot-deactivate", DOM, "b", "--merge", "--discard")[0],
                         2)
        # A leaf nothing is built on goes without --force.
        self.assertEqual(self.ok("snapshot-deactivate", DOM, "e", "--discard"),
                         "Domain snapshot e discarded\n")
        self.forget("e", with_children=True)
        self.assert_tree()
        self.assert_files()

    def usage(self):
        return self.vmsnap("help", "snapshot-deactivate")[1].split("\n\n")[0] + "\n"

    def test_discard_with_the_current_state(self):
        # f, g and the current state go: the domain is at a afterwards.
        self.build_tree()
        self.assertEqual(self.ok("snapshot-deactivate", DOM, "f", "--discard", "--force"),
                         "Domain snapshot f and 1 descendant discarded\n"
                         f"The current state was discarded too; domain '{DOM}' is at snapshot "
                         "'a' now\n")
        self.forget("f", with_children=True)
        self.current = "a"
        self.assert_tree()
        self.assert_disks_are("a")
        self.assert_files()
        self.assert_every_snapshot_reverts()

    def test_discard_a_subtree_keeps_the_current_state(self):
        self.build_tree()
        before = self.export_current()
        self.assertEqual(self.ok("snapshot-deactivate", DOM, "b", "--discard", "--force"),
                         "Domain snapshot b and 3 descendants discarded\n")
        self.forget("b", with_children=True)
        self.assert_current_is(before, "discarding b")
        self.assert_tree()
        self.assert_files()
        self.assert_every_snapshot_reverts(boot_last=False)


class LiveDeactivateTest(LiveDeleteCase):

    def test_discard_while_running(self):
        # A subtree beside the running state goes while the guest runs on;
        # then the current state itself: the domain reverts to the parent.
        self.build_live_tree()
        since = len(self.serial.lines()[0]) - 1
        self.assertEqual(self.ok("snapshot-deactivate", DOM, "b", "--discard", "--force"),
                         "Domain snapshot b and 3 descendants discarded\n")
        self.forget("b", with_children=True)
        self.assert_still_counting(since)
        self.assert_tree()
        self.assert_snapshots_intact()
        self.assert_no_unused_file()
        pid = self.qemu_pid()
        self.assertEqual(self.ok("snapshot-deactivate", DOM, "g", "--discard", "--force"),
                         "Domain snapshot g discarded\n"
                         f"The current state was discarded too; domain '{DOM}' is at snapshot "
                         "'f' now\n")
        self.forget("g", with_children=True)
        self.current = "f"
        self.assert_shut_off(pid)
        self.assert_tree()
        self.assert_disks_are("f")
        self.assert_files()
        self.assert_every_snapshot_reverts()

    def test_merge_of_a_full_snapshot_needs_force(self):
        self.define_patterned(QCOW2_AND_RAW)
        self.boot()
        self.take("d1")
        self.wait_counter(self.last_counter() + 2)
        self.assertEqual(self.ok("snapshot-create-as", DOM, "full"),
                         "Domain snapshot full created\n")
        self.parents["full"] = self.current
        self.current = "full"
        xml = self.snapshot_xml("full")
        memory = xml.find("memory").get("file")
        self.assertTrue(os.path.exists(memory), memory)
        self.assertEqual(self.vmsnap("snapshot-deactivate", DOM, "full", "--merge"),
                         (1, "", "error: merging snapshot 'full' would lose its memory state: "
                          "only disks fold into the parent snapshot; add --force to merge it "
                          "anyway\n"))
        self.assert_tree()
        since = len(self.serial.lines()[0]) - 1
        self.assertEqual(self.ok("snapshot-deactivate", DOM, "full", "--merge", "--force"),
                         "Domain snapshot full merged\n")
        self.forget("full", with_children=False)
        self.assertFalse(os.path.exists(memory), "the memory file stayed")
        self.assert_still_counting(since)
        self.assert_tree()
        self.assert_snapshots_intact()
        self.assert_no_unused_file()
        self.finish()

if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
