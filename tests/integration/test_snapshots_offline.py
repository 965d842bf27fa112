#!/usr/bin/env python3
"""Integration tests: snapshots of shut-off domains on the real test guest
(snapshot-create-as, snapshot-create from XML or an xl config,
snapshot-revert, snapshot-delete), external and internal, qcow2 and raw.

Usage: test_snapshots_offline.py VMSNAP_BINARY GUEST_DIR [TEST_NAME_PATTERN...]

Each test checks what a user would (docs/adr/0006-snapshot-data.md is the
data model, docs/guest.md the guest):
- the guest's own view: after `snapshot-revert --running` the boot lines
  `disk vdX counter N` show the counter the disks held at the snapshot (the
  last counter the guest printed before the shutdown that preceded it);
- byte-equal disks: when a snapshot is taken, every disk's contents are
  exported to a raw reference copy (outside the disk directory), and a revert
  must give disks that `qemu-img compare` finds equal to it; a delete must
  leave the current state byte-equal to what it was;
- the files: `qemu-img check` clean on every qcow2, every internal tag
  belonging to a snapshot that records it, files created by vmsnap mode
  0600, and no file in the test's disk directory that neither the current
  state nor any snapshot uses (uses: `vmsnap dumpxml`'s disk sources, each
  snapshot's frozen or internal files in its `snapshot-dumpxml`, and their
  `qemu-img info --backing-chain`).

Where a test needs many disk states (the delete tests), it writes the
counter sector itself with qemu-io while the domain is shut off, exactly as
the guest would, instead of booting for each; the guest still boots to
confirm a revert in each of those tests.
"""

import os
import re
import stat
import sys
import time
import xml.etree.ElementTree as ET

from guestlib import (COUNTER, DOM, GuestTestCase, backing_chain, check_image, export_raw,
                      image_format, internal_tags, read_counter, same_contents, write_counter)
import guestlib
import tap  # tests/tap.py, on the path guestlib sets

QCOW2_AND_RAW = (("vda", "qcow2"), ("vdb", "raw"))
TWO_QCOW2 = (("vda", "qcow2"), ("vdb", "qcow2"))


def domain_disks(domain):
    """{target: source file} of a <domain> element's disks."""
    disks = {}
    for disk in domain.iterfind("devices/disk"):
        disks[disk.find("target").get("dev")] = disk.find("source").get("file")
    return disks


class SnapshotTestCase(GuestTestCase):
    """Keeps, per snapshot the test took, the counter its disks hold and a
    raw copy of every disk; knows the tree the test expects."""

    def setUp(self):
        super().setUp()
        self.refs_dir = os.path.join(self.tmp, "refs")
        os.mkdir(self.refs_dir)
        self.counters = {}   # snapshot -> the counter on every disk
        self.refs = {}       # snapshot -> {disk: raw copy}
        self.parents = {}    # snapshot -> expected parent (None: a root)
        self.current = None  # the expected current snapshot
        self.originals = set()
        self.domains = []

    def define_disks(self, disks, dom=DOM):
        paths = self.define(disks=disks, dom=dom)
        self.domains.append(dom)
        self.originals |= set(paths.values())
        return paths

    # -- what vmsnap says ---------------------------------------------------

    def current_disks(self, dom=DOM):
        """{target: active layer} from `vmsnap dumpxml`."""
        return domain_disks(ET.fromstring(self.ok("dumpxml", dom)))

    def snapshot_xml(self, name, dom=DOM):
        return ET.fromstring(self.ok("snapshot-dumpxml", dom, name))

    def snapshot_names(self, dom=DOM):
        return sorted(self.ok("snapshot-list", dom, "--name").split("\n")[:-1])

    def current_snapshot(self):
        code, out, err = self.vmsnap("snapshot-current", DOM, "--name")
        if code != 0:
            self.assertEqual(err, f"error: domain '{DOM}' has no current snapshot\n")
            return None
        return out.rstrip("\n")

    def parent_of(self, name):
        code, out, err = self.vmsnap("snapshot-parent", DOM, name)
        if code != 0:
            self.assertEqual(err, f"error: snapshot '{name}' has no parent\n")
            return None
        return out.rstrip("\n")

    def assert_tree(self):
        """The snapshots, their parents and the current one are what the
        test expects."""
        self.assertEqual(self.snapshot_names(), sorted(self.parents))
        self.assertEqual({s: self.parent_of(s) for s in self.parents}, self.parents)
        self.assertEqual(self.current_snapshot(), self.current)

    # -- changing the disks -------------------------------------------------

    def run_guest(self, at_least):
        """Boot, let the counter reach @at_least, shut down: the disks then
        hold the returned value (the last counter printed)."""
        self.start()
        self.serial.wait_for(COUNTER, deadline=guestlib.BOOT_DEADLINE)
        self.wait_counter(at_least)
        return self.shutdown()

    def write_disks(self, value):
        """Give the shut-off domain's disks counter @value, as the guest
        would write it."""
        for path in self.current_disks().values():
            write_counter(path, value)

    def next_value(self):
        """A counter no snapshot holds yet."""
        return max(self.counters.values(), default=0) + 1

    # -- snapshot commands ----------------------------------------------------

    def remember(self, name, counter):
        """Record the disks as they are now as snapshot @name's contents."""
        active = self.current_disks()
        for disk, path in active.items():
            self.assertEqual(read_counter(path), str(counter),
                             f"{disk} does not hold the counter the guest printed last")
        self.refs[name] = {disk: export_raw(path, os.path.join(self.refs_dir, f"{name}.{disk}"))
                           for disk, path in active.items()}
        self.counters[name] = counter

    def create(self, name, counter, *options):
        """snapshot-create-as DOM NAME OPTIONS; @counter is on the disks."""
        self.remember(name, counter)
        self.assertEqual(self.ok("snapshot-create-as", DOM, name, *options),
                         f"Domain snapshot {name} created\n")
        self.parents[name] = self.current
        self.current = name
        return self.snapshot_xml(name)

    def create_from_file(self, name, counter, text, suffix):
        path = os.path.join(self.tmp, f"{name}.{suffix}")
        with open(path, "w") as f:
            f.write(text)
        self.remember(name, counter)
        self.assertEqual(self.ok("snapshot-create", DOM, path),
                         f"Domain snapshot {name} created from '{path}'\n")
        self.parents[name] = self.current
        self.current = name
        return self.snapshot_xml(name)

    def assert_disks_are(self, name):
        """The shut-off domain's disks read exactly as when @name was taken."""
        for disk, path in self.current_disks().items():
            self.assertTrue(same_contents(path, self.refs[name][disk]),
                            f"{disk} ({path}) differs from its contents at snapshot {name}")
            self.assertEqual(read_counter(path), str(self.counters[name]), disk)

    def assert_reverted(self, out, name):
        """The revert's output: its line, then, if files of the state being
        left went, the line that says so (the count must match the files)."""
        first = f"Domain '{DOM}' reverted to snapshot '{name}'\n"
        self.assertTrue(out.startswith(first), out)
        rest = out[len(first):]
        if rest:
            self.assertRegex(rest, r"^The state the domain was in was not a snapshot and has "
                                   r"been discarded \(\d+ files?\)\n$")

    def revert(self, name, boot=False):
        """snapshot-revert, checked: by the guest's boot lines with @boot
        (then shut down again), else by comparing the disks."""
        if boot:
            self.serial.mark()
        out = self.ok("snapshot-revert", DOM, name, *(["--running"] if boot else []))
        self.assert_reverted(out, name)
        self.current = name
        if boot:
            self.assertEqual(self.domstate(), "running")
            expected = {disk: str(self.counters[name]) for disk in self.refs[name]}
            self.assertEqual(self.wait_disk_lines(), expected,
                             f"the guest's disks after reverting to {name}")
            self.serial.wait_for(COUNTER, deadline=guestlib.BOOT_DEADLINE)
            self.shutdown()
        else:
            self.assertEqual(self.domstate(), "shut off")
            self.assert_disks_are(name)
        self.assertEqual(self.current_snapshot(), name)

    def delete(self, name, *options):
        """snapshot-delete (data too); the current state must not change."""
        before = self.export_current()
        out = self.ok("snapshot-delete", DOM, name, *options)
        self.account_delete(name, options, out)
        self.assert_current_is(before, f"deleting {name}")
        self.assert_tree()
        self.assert_files()

    def export_current(self):
        return {disk: export_raw(path, os.path.join(self.refs_dir, f"current.{disk}"))
                for disk, path in self.current_disks().items()}

    def assert_current_is(self, exported, what):
        for disk, path in self.current_disks().items():
            self.assertTrue(same_contents(path, exported[disk]),
                            f"{what} changed the current state of {disk}")

    def account_delete(self, name, options, out):
        """Check snapshot-delete's message and update the expected tree:
        children move to the parent, a deleted current one's parent
        becomes current (docs/cli.md)."""
        gone = self.descendants(name) if options else []
        if "--children-only" in options:
            self.assertEqual(out, f"Domain snapshot {name} children deleted\n")
        else:
            self.assertEqual(out, f"Domain snapshot {name} deleted\n")
            gone.append(name)
        parent = self.parents[name] if name in gone else name
        if self.current in gone:
            self.current = parent
        for snap in gone:
            del self.parents[snap]
        for snap, p in self.parents.items():
            if p in gone:
                self.parents[snap] = parent

    def descendants(self, name):
        children = [s for s, p in self.parents.items() if p == name]
        return children + [d for c in children for d in self.descendants(c)]

    # -- the files ------------------------------------------------------------

    def assert_files(self):
        """Every file is used, every used file exists and is clean, every
        internal tag belongs to a snapshot (of every domain the test defined)."""
        roots = []
        tags = {}
        for dom in self.domains:
            roots += self.files_used_by(dom, tags)
        self.assert_files_used(roots, tags)

    def files_used_by(self, dom, tags):
        """The active layers of @dom and the frozen or internal files of its
        snapshots; adds {file: [internal snapshot, ...]} to @tags."""
        roots = list(self.current_disks(dom).values())
        for snap in self.snapshot_names(dom):
            xml = self.snapshot_xml(snap, dom)
            as_taken = domain_disks(xml.find("domain"))
            for disk in xml.iterfind("disks/disk"):
                kind = disk.get("snapshot")
                if kind in ("internal", "external"):
                    roots.append(as_taken[disk.get("name")])
                if kind == "internal":
                    tags.setdefault(as_taken[disk.get("name")], []).append(snap)
        return roots

    def assert_files_used(self, roots, tags):
        missing = sorted({f for f in roots if not os.path.exists(f)})
        self.assertEqual(missing, [], "files the current state or a snapshot needs are gone")
        used = set()
        for path in roots:
            for name, _fmt in backing_chain(path):
                used.add(os.path.normpath(os.path.join(os.path.dirname(path), name)))
        present = {os.path.join(self.disk_dir, f) for f in os.listdir(self.disk_dir)}
        self.assertEqual(sorted(present - used), [],
                         f"files nothing uses; the disk directory has {sorted(present)}")
        self.assertEqual(sorted(used - present), [], "used files outside the disk directory")
        problems = [p for p in map(check_image, sorted(present)) if p]
        self.assertEqual(problems, [], "qemu-img check")
        for path in sorted(present):
            if image_format(path) == "qcow2":
                self.assertEqual(internal_tags(path), sorted(tags.get(path, [])),
                                 f"internal snapshots in {path}")
            if path not in self.originals:
                self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600, path)

    def assert_every_snapshot_reverts(self, boot_last=True):
        """Revert to every snapshot (each checked by its disks' contents),
        the last one also by booting the guest."""
        names = self.snapshot_names()
        for n, name in enumerate(names):
            self.revert(name, boot=boot_last and n == len(names) - 1)
            self.assert_files()


class CreateAndRevertTest(SnapshotTestCase):

    def external_overlays(self, xml, name):
        """The overlay files of external snapshot @name, checked against the
        naming rule: beside the original, NAME.S.qcow2."""
        overlays = {}
        for disk in xml.iterfind("disks/disk"):
            self.assertEqual(disk.get("snapshot"), "external")
            path = disk.find("source").get("file")
            target = disk.get("name")
            self.assertEqual(os.path.dirname(path), self.disk_dir)
            self.assertRegex(os.path.basename(path),
                             rf"^{DOM}-{target}(\.qcow2|\.raw)?\.{re.escape(name)}\.qcow2$")
            self.assertEqual(image_format(path), "qcow2")
            overlays[target] = path
        return overlays

    def test_external_qcow2_and_raw(self):
        originals = self.define_disks(QCOW2_AND_RAW)
        before = self.run_guest(3)
        xml = self.create("s1", before, "--disk-only")
        self.assertEqual(xml.findtext("state"), "shutoff")
        self.assertEqual(xml.find("memory").get("snapshot"), "no")
        overlays = self.external_overlays(xml, "s1")
        self.assertEqual(sorted(overlays), ["vda", "vdb"])
        # The domain now writes the overlays; the snapshot keeps the originals.
        self.assertEqual(self.current_disks(), overlays)
        self.assertEqual(domain_disks(xml.find("domain")), originals)
        self.assertEqual([f for f, _ in backing_chain(overlays["vdb"])],
                         [overlays["vdb"], originals["vdb"]])
        self.assertEqual(backing_chain(overlays["vdb"])[1][1], "raw")
        self.assert_files()

        after = self.run_guest(before + 3)
        self.assertGreater(after, before)
        self.revert("s1")
        self.assert_files()
        self.revert("s1", boot=True)
        self.assert_files()
        self.assertEqual(self.snapshot_names(), ["s1"])

    def test_external_is_the_default_and_without_disk_only(self):
        self.define_disks(QCOW2_AND_RAW)
        before = self.run_guest(2)
        xml = self.create("s1", before, "--description", "before the upgrade")
        self.assertEqual(xml.findtext("description"), "before the upgrade")
        self.assertEqual(xml.findtext("state"), "shutoff")
        self.assertEqual(xml.find("memory").get("snapshot"), "no")
        self.external_overlays(xml, "s1")
        self.run_guest(before + 3)
        self.revert("s1", boot=True)
        self.assert_files()

    def test_internal_qcow2(self):
        originals = self.define_disks(TWO_QCOW2)
        before = self.run_guest(3)
        xml = self.create("s1", before, "--disk-only", "--diskspec", "vda,snapshot=internal",
                          "--diskspec", "vdb,snapshot=internal")
        self.assertEqual(xml.findtext("state"), "shutoff")
        self.assertEqual(xml.find("memory").get("snapshot"), "no")
        self.assertEqual({d.get("name"): d.get("snapshot") for d in xml.iterfind("disks/disk")},
                         {"vda": "internal", "vdb": "internal"})
        # No new file: the point in time is inside each qcow2.
        self.assertEqual(self.current_disks(), originals)
        self.assertEqual(sorted(os.listdir(self.disk_dir)),
                         sorted(os.path.basename(p) for p in originals.values()))
        for path in originals.values():
            self.assertEqual(internal_tags(path), ["s1"])
        self.assert_files()
        self.run_guest(before + 3)
        self.revert("s1")
        self.revert("s1", boot=True)
        self.assert_files()

    def test_mixed_internal_and_external(self):
        originals = self.define_disks(QCOW2_AND_RAW)
        before = self.run_guest(3)
        xml = self.create("mix", before, "--diskspec", "vda,snapshot=internal",
                          "--diskspec", "vdb,snapshot=external")
        kinds = {d.get("name"): d.get("snapshot") for d in xml.iterfind("disks/disk")}
        self.assertEqual(kinds, {"vda": "internal", "vdb": "external"})
        current = self.current_disks()
        self.assertEqual(current["vda"], originals["vda"])
        self.assertEqual(internal_tags(originals["vda"]), ["mix"])
        self.assertRegex(os.path.basename(current["vdb"]), rf"^{DOM}-vdb(\.raw)?\.mix\.qcow2$")
        self.assert_files()
        self.run_guest(before + 3)
        self.revert("mix", boot=True)
        self.assert_files()
        self.revert("mix")
        self.assert_files()

    def test_external_file_named_by_diskspec(self):
        self.define_disks(QCOW2_AND_RAW)
        before = self.run_guest(2)
        chosen = os.path.join(self.disk_dir, "chosen-vdb.qcow2")
        xml = self.create("s1", before, "--diskspec", f"vdb,snapshot=external,file={chosen}")
        files = {d.get("name"): d.find("source").get("file") for d in xml.iterfind("disks/disk")}
        self.assertEqual(files["vdb"], chosen)
        self.assertEqual(self.current_disks()["vdb"], chosen)
        self.assert_files()
        self.run_guest(before + 3)
        self.revert("s1", boot=True)
        self.assert_files()

    def test_name_defaults_to_creation_time(self):
        self.define_disks(QCOW2_AND_RAW)
        t0 = int(time.time())
        out = self.ok("snapshot-create-as", DOM, "--disk-only")
        t1 = int(time.time())
        m = re.match(r"^Domain snapshot (\d+) created\n$", out)
        self.assertTrue(m, out)
        name = m.group(1)
        self.assertTrue(t0 <= int(name) <= t1, (t0, name, t1))
        xml = self.snapshot_xml(name)
        self.assertEqual(xml.findtext("creationTime"), name)
        self.assertEqual(self.current_snapshot(), name)
        self.assertRegex(os.path.basename(self.current_disks()["vda"]),
                         rf"^{DOM}-vda\.{name}\.qcow2$")
        self.assert_files()

    def test_overlay_name_taken_gets_a_suffix(self):
        self.define_disks(QCOW2_AND_RAW)
        taken = os.path.join(self.disk_dir, f"{DOM}-vda.s1.qcow2")
        guestlib.qemu_img("create", "-q", "-f", "qcow2", taken, "1M")
        self.originals.add(taken)
        xml = self.create("s1", "none", "--disk-only")
        vda = [d for d in xml.iterfind("disks/disk") if d.get("name") == "vda"][0]
        self.assertEqual(vda.find("source").get("file"),
                         os.path.join(self.disk_dir, f"{DOM}-vda.s1-2.qcow2"))
        # The file that was there is left alone.
        self.assertEqual(backing_chain(taken), [(taken, "qcow2")])
        os.unlink(taken)
        self.originals.discard(taken)
        self.assert_files()

    def test_names_that_need_care_in_file_names(self):
        # Spaces, commas (QEMU's option separator), colons (its protocol
        # prefix), quotes and UTF-8 all end up in overlay file names.
        self.define_disks(QCOW2_AND_RAW)
        names = ("with space", "a,b", "x:y", "q'uote", "ünï")
        for value, name in enumerate(names, 1):
            self.write_disks(value)
            self.create(name, value)
        self.assert_files()
        self.revert("a,b", boot=True)
        self.delete("x:y")
        self.assert_every_snapshot_reverts()

    def test_start_with_snapshot(self):
        # The RFC's command: revert and run in one step.
        self.define_disks(QCOW2_AND_RAW)
        before = self.run_guest(2)
        self.create("s1", before)
        self.run_guest(before + 3)
        self.serial.mark()
        out = self.ok("start-with-snapshot", DOM, "s1")
        self.assertTrue(out.startswith(f"Domain '{DOM}' started from snapshot 's1'\n"), out)
        self.current = "s1"
        self.assertEqual(self.domstate(), "running")
        expected = {disk: str(self.counters["s1"]) for disk in self.refs["s1"]}
        self.assertEqual(self.wait_disk_lines(), expected)
        self.shutdown()
        self.assert_files()

    def test_revert_paused(self):
        self.define_disks(QCOW2_AND_RAW)
        before = self.run_guest(2)
        self.create("s1", before)
        self.run_guest(before + 3)
        self.serial.mark()
        self.assert_reverted(self.ok("snapshot-revert", DOM, "s1", "--paused"), "s1")
        self.assertEqual(self.domstate(), "paused")
        self.assertEqual(self.serial.find(COUNTER), [])
        self.assertEqual(self.ok("resume", DOM), f"Domain '{DOM}' resumed\n")
        self.assertEqual(self.wait_disk_lines(), {"vda": str(before), "vdb": str(before)})
        self.serial.wait_for(COUNTER, deadline=guestlib.BOOT_DEADLINE)
        self.shutdown()
        self.assert_files()

    def test_internal_snapshot_under_an_external_one(self):
        # i1 lives in the file e1 froze: reverting to i1 must leave that
        # file (e1's data) as it is.
        self.define_disks(TWO_QCOW2)
        internal = ["--diskspec", "vda,snapshot=internal", "--diskspec", "vdb,snapshot=internal"]
        self.write_disks(1)
        self.create("i1", 1, *internal)
        self.write_disks(2)
        self.create("e1", 2)
        self.write_disks(3)
        self.revert("i1")
        self.assert_files()
        self.revert("e1")
        self.revert("i1", boot=True)
        self.assert_every_snapshot_reverts()


class TreeTest(SnapshotTestCase):

    def test_tree_branching_twice_reverted_across_branches(self):
        """s1 - s2 - s3; s1 - s4 - s5; s2 - s6 - s7: every state from a guest
        run; every revert checked by the guest's boot lines."""
        self.define_disks(QCOW2_AND_RAW)
        for name in ("s1", "s2", "s3"):
            self.create(name, self.run_guest(self.next_value()), "--disk-only")
        self.revert("s1", boot=True)
        self.revert("s1")
        for name in ("s4", "s5"):
            self.create(name, self.run_guest(self.next_value()), "--disk-only")
        self.revert("s2")
        for name in ("s6", "s7"):
            self.create(name, self.run_guest(self.next_value()), "--disk-only")
        self.assertEqual(self.parents, {"s1": None, "s2": "s1", "s3": "s2", "s4": "s1",
                                        "s5": "s4", "s6": "s2", "s7": "s6"})
        self.assert_tree()
        self.assert_files()
        for name in ("s3", "s5", "s1", "s7", "s4", "s2", "s6", "s5", "s3"):
            self.revert(name, boot=True)
            self.assert_tree()
        self.assert_files()

    def test_internal_tree(self):
        """Internal snapshots in one qcow2 branch as well: a - b - c, a - d."""
        self.define_disks(TWO_QCOW2)
        internal = ["--diskspec", "vda,snapshot=internal", "--diskspec", "vdb,snapshot=internal"]
        for name in ("a", "b", "c"):
            self.create(name, self.run_guest(self.next_value()), *internal)
        self.revert("a")
        self.create("d", self.run_guest(self.next_value()), *internal)
        self.assert_tree()
        self.assert_files()
        for name in ("c", "a", "d", "b"):
            self.revert(name, boot=True)
        self.assert_files()


class DeleteTest(SnapshotTestCase):
    """Delete every position in the tree

        a ─┬─ b ─┬─ c ── d
           │     └─ e
           └─ f ── g   (current: g, the disks changed since)

    Snapshot X holds counter 1..7 in the order a..g; the current state holds 8.
    After each delete the current state is unchanged, and every remaining
    snapshot reverts to its exact contents."""

    def build_tree(self, disks=QCOW2_AND_RAW, kinds=()):
        self.define_disks(disks)
        options = [a for d, k in kinds for a in ("--diskspec", f"{d},snapshot={k}")] or \
            ["--disk-only"]
        steps = [("a", None), ("b", None), ("c", None), ("d", None), ("e", "b"), ("f", "a"),
                 ("g", None)]
        for value, (name, revert_to) in enumerate(steps, 1):
            if revert_to:
                self.revert(revert_to)
            self.write_disks(value)
            self.create(name, value, *options)
        self.write_disks(8)
        self.assert_tree()
        self.assert_files()

    def delete_and_check(self, name, *options, **tree):
        self.build_tree(**tree)
        self.delete(name, *options)
        self.assert_every_snapshot_reverts()

    def test_leaf_on_another_branch(self):
        self.delete_and_check("d")

    def test_middle_of_a_chain(self):
        self.delete_and_check("c")

    def test_root(self):
        self.delete_and_check("a")

    def test_with_several_children(self):
        self.delete_and_check("b")

    def test_on_the_current_branch(self):
        self.delete_and_check("f")

    def test_the_current_snapshot(self):
        self.delete_and_check("g")

    def test_a_leaf_whose_overlay_a_revert_discarded(self):
        # e was left by the revert to a: its overlay is gone, its frozen file stays.
        self.delete_and_check("e")

    def test_every_snapshot_one_after_another(self):
        self.build_tree()
        for name in ("c", "a", "g", "e", "b", "d", "f"):
            self.delete(name)
        self.assertEqual(self.snapshot_names(), [])
        # With no snapshot left, one file per disk: the current state.
        self.assertEqual(sorted(self.current_disks().values()),
                         sorted(os.path.join(self.disk_dir, f) for f in os.listdir(self.disk_dir)))
        self.assertEqual({d: read_counter(p) for d, p in self.current_disks().items()},
                         {"vda": "8", "vdb": "8"})

    def test_internal_middle_and_root(self):
        kinds = (("vda", "internal"), ("vdb", "internal"))
        self.delete_and_check("b", disks=TWO_QCOW2, kinds=kinds)
        self.delete("a")
        self.assert_every_snapshot_reverts()

    def test_mixed_internal_and_external(self):
        kinds = (("vda", "internal"), ("vdb", "external"))
        self.delete_and_check("b", kinds=kinds)
        self.delete("f")
        self.assert_every_snapshot_reverts()

    def test_external_holding_an_internal_snapshot(self):
        # i2 is inside e1's overlay: merging e1's frozen file into that
        # overlay would change what i2 reads, so only e1's point goes; its
        # frozen file stays as the overlay's backing file until i2 goes.
        self.define_disks(TWO_QCOW2)
        internal = ["--diskspec", "vda,snapshot=internal", "--diskspec", "vdb,snapshot=internal"]
        self.write_disks(1)
        self.create("e1", 1)
        self.write_disks(2)
        self.create("i2", 2, *internal)
        self.write_disks(3)
        files = sorted(os.listdir(self.disk_dir))
        self.delete("e1")
        self.assertEqual(sorted(os.listdir(self.disk_dir)), files, "the frozen files stay")
        self.assert_files()
        self.assert_every_snapshot_reverts(boot_last=False)
        self.delete("i2")
        self.assertEqual(self.snapshot_names(), [])
        self.assert_files()

    def test_children(self):
        self.build_tree()
        self.delete("b", "--children")
        self.assertEqual(sorted(self.parents), ["a", "f", "g"])
        self.assert_every_snapshot_reverts()

    def test_children_only(self):
        self.build_tree()
        self.delete("b", "--children-only")
        self.assertEqual(sorted(self.parents), ["a", "b", "f", "g"])
        self.assert_every_snapshot_reverts()

    def test_children_with_the_current_snapshot_among_them(self):
        self.build_tree()
        self.delete("f", "--children")
        self.assertEqual(self.current_snapshot(), "a")
        self.assert_every_snapshot_reverts()

    def test_children_only_of_the_root(self):
        self.build_tree()
        self.delete("a", "--children-only")
        self.assertEqual(sorted(self.parents), ["a"])
        self.assert_every_snapshot_reverts()


class XlConfigTest(SnapshotTestCase):
    """An xl config creates the same snapshot as the XML form: created on two
    domains with the same disks (`guest` and `twin`), `snapshot-dumpxml`
    differs only in the domain's name and files and the creation time."""

    def same_snapshot(self, xml_text, xl_text, disks=QCOW2_AND_RAW):
        self.define_disks(disks)
        self.define_disks(disks, dom="twin")
        from_xml = self.run_file(DOM, "s1", xml_text, "xml")
        from_xl = self.run_file("twin", "s1", xl_text, "cfg")
        self.assertEqual(self.normalized(from_xl, "twin"), self.normalized(from_xml, DOM))
        self.assert_files()
        return ET.fromstring(from_xml)

    def run_file(self, dom, name, text, suffix):
        path = os.path.join(self.tmp, f"{dom}.{suffix}")
        with open(path, "w") as f:
            f.write(text.replace("@DIR@", self.disk_dir).replace("@DOM@", dom))
        self.assertEqual(self.ok("snapshot-create", dom, path),
                         f"Domain snapshot {name} created from '{path}'\n")
        return self.ok("snapshot-dumpxml", dom, name)

    def normalized(self, text, dom):
        text = re.sub(r"<creationTime>\d+</creationTime>", "<creationTime/>", text)
        text = re.sub(r"<uuid>[^<]*</uuid>", "<uuid/>", text)
        text = text.replace(f"<name>{dom}</name>", "<name>DOM</name>")
        return text.replace(f"{self.disk_dir}/{dom}-", "@DIR@/DOM-")

    def test_internal(self):
        xml = self.same_snapshot(
            "<domainsnapshot><name>s1</name><disks>"
            "<disk name='vda' snapshot='internal'/><disk name='vdb' snapshot='internal'/>"
            "</disks></domainsnapshot>\n",
            "name=\"s1\"\ntype=\"internal\"\ndisk=['vdev=vda', 'vdev=vdb']\n", disks=TWO_QCOW2)
        self.assertEqual({d.get("name"): d.get("snapshot") for d in xml.iterfind("disks/disk")},
                         {"vda": "internal", "vdb": "internal"})
        self.assertEqual(xml.findtext("state"), "shutoff")

    def test_external(self):
        xml = self.same_snapshot(
            "<domainsnapshot><name>s1</name><memory snapshot='no'/><disks>"
            "<disk name='vda' snapshot='external'><driver type='qcow2'/>"
            "<source file='@DIR@/@DOM@-vda.chosen.qcow2'/></disk>"
            "<disk name='vdb' snapshot='external'/></disks></domainsnapshot>\n",
            "name=\"s1\"\nmemory=\"no\"\n"
            "disk=['vdev=vda,format=qcow2,target=@DIR@/@DOM@-vda.chosen.qcow2', 'vdev=vdb']\n")
        self.assertEqual({d.get("name"): d.get("snapshot") for d in xml.iterfind("disks/disk")},
                         {"vda": "external", "vdb": "external"})

    def test_disk_left_out(self):
        xml = self.same_snapshot(
            "<domainsnapshot><name>s1</name><disks>"
            "<disk name='vda' snapshot='external'/><disk name='vdb' snapshot='no'/>"
            "</disks></domainsnapshot>\n",
            "name=\"s1\"\ndisk=['vdev=vda', 'vdev=vdb,target=null']\n")
        self.assertEqual({d.get("name"): d.get("snapshot") for d in xml.iterfind("disks/disk")},
                         {"vda": "external", "vdb": "no"})

    def test_xl_snapshot_reverts(self):
        self.define_disks(TWO_QCOW2)
        before = self.run_guest(2)
        self.create_from_file("x1", before, "name=\"x1\"\ntype=\"internal\"\n"
                              "disk=['vdev=vda', 'vdev=vdb']\n", "cfg")
        self.run_guest(before + 3)
        self.revert("x1", boot=True)
        self.assert_files()


class RefusalTest(SnapshotTestCase):

    def test_verify_cross_checks_metadata_and_images(self):
        # snapshot-verify reads the images with vmsnap's own qcow2 reader:
        # an internal snapshot removed behind vmsnap's back, or an overlay
        # no longer backed by its snapshot's file, is damage it names.
        paths = self.define_disks((("vda", "qcow2"),))
        self.ok("snapshot-create-as", DOM, "inside", "--diskspec", "vda,snapshot=internal")
        self.ok("snapshot-create-as", DOM, "outside")
        self.assertEqual(self.ok("snapshot-verify", DOM),
                         "inside: ok\noutside: ok\n2 snapshots verified, all intact\n")
        guestlib.qemu_img("snapshot", "-d", "inside", paths["vda"])
        overlay = self.current_disks()["vda"]
        guestlib.qemu_img("rebase", "-u", "-b", "", overlay)
        code, out, err = self.vmsnap("snapshot-verify", DOM)
        self.assertEqual((code, err), (1, ""))
        vda = paths["vda"]
        self.assertEqual(out, (
            f"inside: DAMAGED\n  snapshot 'inside' is damaged: disk vda: '{vda}' holds no "
            f"internal snapshot 'inside'\n"
            f"outside: DAMAGED\n  snapshot 'outside' is damaged: disk vda: its overlay "
            f"'{overlay}' is backed by no file, not by the snapshot's file '{vda}'\n"
            "2 snapshots verified, 2 damaged\n"))

    def test_metadata_pointing_elsewhere_never_costs_a_file(self):
        # A redefined snapshot naming files that are not the domain's (a
        # qcow2 image elsewhere, a text file as its memory, a symlink next
        # to the disks): deleting it with its data removes none of them.
        paths = self.define_disks((("vda", "qcow2"),))
        outside = os.path.join(self.tmp, "outside")
        os.mkdir(outside)
        decoy_image = os.path.join(outside, "other.qcow2")
        guestlib.qemu_img("create", "-q", "-f", "qcow2", decoy_image, "16M")
        decoy_memory = os.path.join(outside, "notes.txt")
        with open(decoy_memory, "w") as f:
            f.write("not a VM state\n")
        link = os.path.join(self.disk_dir, "link.qcow2")
        os.symlink(decoy_image, link)
        xml = os.path.join(self.tmp, "hostile.xml")
        with open(xml, "w") as f:
            f.write(f"""<domainsnapshot>
  <name>hostile</name>
  <state>running</state>
  <memory snapshot='external' file='{decoy_memory}'/>
  <disks>
    <disk name='vda' snapshot='external'>
      <source file='{link}'/>
    </disk>
  </disks>
  <domain type='qemu'>
    <name>{DOM}</name>
    <memory unit='MiB'>256</memory>
    <os><type arch='x86_64'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <driver name='qemu' type='qcow2'/>
        <source file='{decoy_image}'/>
        <target dev='vda' bus='virtio'/>
      </disk>
    </devices>
  </domain>
</domainsnapshot>
""")
        self.ok("snapshot-create", DOM, xml, "--redefine")
        code, out, err = self.vmsnap("snapshot-delete", DOM, "hostile")
        self.assertEqual(self.snapshot_names(), [] if code == 0 else ["hostile"], (out, err))
        for path in (decoy_image, decoy_memory, link, paths["vda"]):
            self.assertTrue(os.path.lexists(path), f"{path} was removed ({out}{err})")
        self.assertIsNone(check_image(decoy_image))

    def test_running_domain_reverted_to_disk_only(self):
        self.define_disks(QCOW2_AND_RAW)
        self.create("s1", "none", "--disk-only")
        self.boot()
        # Reverting a running domain to a disk-only snapshot stops it (its
        # running state is left behind) and leaves it shut off.
        pid = self.qemu_pid()
        self.assert_reverted(self.ok("snapshot-revert", DOM, "s1"), "s1")
        self.assert_shut_off(pid)
        self.assert_disks_are("s1")
        self.assert_files()

    def test_running_disk_only_snapshot(self):
        # Every disk at one instant while the guest runs: after a revert the
        # guest finds on each disk the same counter, one it had reached when
        # the command ran (printed values are on disk already: docs/guest.md).
        self.define_disks(QCOW2_AND_RAW)
        self.boot()
        self.wait_counter(3)
        before = self.serial.counters()[-1][1]
        out = self.ok("snapshot-create-as", DOM, "live1", "--disk-only")
        self.assertEqual(out, "Domain snapshot live1 created\n")
        after_index = len(self.serial.lines()[0])
        i, m = self.serial.wait_for(guestlib.COUNTER, after=after_index - 1)
        after = int(m.group(1))
        self.assertEqual(self.domstate(), "running")
        self.assertIn("<state>disk-snapshot</state>",
                      self.ok("snapshot-dumpxml", DOM, "live1", "--no-domain"))
        self.wait_counter(after + 3)  # the guest goes on, on the new overlays
        self.shutdown()
        self.serial.mark()
        self.assert_reverted(self.ok("snapshot-revert", DOM, "live1", "--running"), "live1")
        disks = self.wait_disk_lines()
        self.assertEqual(len(set(disks.values())), 1, f"disks disagree: {disks}")
        taken = int(next(iter(disks.values())))
        self.assertTrue(before <= taken <= after, f"{before} <= {taken} <= {after}")
        self.shutdown()
        self.assert_files()

    def test_raw_disk_internal(self):
        originals = self.define_disks(QCOW2_AND_RAW)
        message = (f"error: disk vdb of domain '{DOM}' is raw; raw disks only take external "
                   "snapshots\n")
        for vda in ("internal", "external"):
            self.assertEqual(
                self.vmsnap("snapshot-create-as", DOM, "s1", "--diskspec", f"vda,snapshot={vda}",
                            "--diskspec", "vdb,snapshot=internal"), (1, "", message))
            # All disks or none: vda got neither a tag nor an overlay.
            self.assertEqual(self.snapshot_names(), [])
            self.assertEqual(internal_tags(originals["vda"]), [])
            self.assertEqual(self.current_disks(), originals)
            self.assert_files()
        self.assertEqual(self.vmsnap("snapshot-create-as", DOM, "s1", "--diskspec",
                                     "vdb,snapshot=internal"), (1, "", message))
        self.assertEqual(self.current_disks(), originals)
        self.assert_files()

    def test_unknown_snapshot(self):
        self.define_disks(QCOW2_AND_RAW)
        message = f"error: domain '{DOM}' has no snapshot named 'nope'\n"
        self.assertEqual(self.vmsnap("snapshot-revert", DOM, "nope"), (1, "", message))
        self.assertEqual(self.vmsnap("snapshot-delete", DOM, "nope"), (1, "", message))
        self.assert_files()


if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
