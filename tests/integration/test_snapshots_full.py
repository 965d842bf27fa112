#!/usr/bin/env python3
"""Integration tests: full snapshots (disks and memory) of running and paused
domains on the real test guest, and reverting to them from every state.

Usage: test_snapshots_full.py VMSNAP_BINARY GUEST_DIR [TEST_NAME_PATTERN...]

What is checked is what the guest itself says (docs/guest.md):
- memory: the guest's `counter N` lines live only in its memory. A guest that
  resumes from a full snapshot taken when it had printed N goes on with N+1
  (never `counter 0`, which is a fresh boot). For a paused guest N is the
  last line printed; for a running one it is bounded by the lines printed
  before and after the snapshot command, and every revert to the same
  snapshot — from running, from shut off, in place — must give the same
  N+1;
- disks: the counter in each disk's first sector at the snapshot (read from
  the frozen file or the internal tag with qemu-img) is N or N+1 (a tick
  writes the disks before it prints), and after a revert the guest's disks
  read the snapshot's value until its first tick;
- the files: memory files are 0600 and where the user said; refusals leave
  no snapshot, no overlay, no memory file and a guest that never stopped.

Revert and create times of the 256 MiB guest are printed as TAP comments.
"""

import json
import os
import stat
import sys
import time
import xml.etree.ElementTree as ET

from guestlib import (DOM, QUIET_PERIOD, GuestTestCase, export_raw, internal_tags, qemu_img,
                      wait_pid_gone)
import guestlib
import tap  # tests/tap.py, on the path guestlib sets

QCOW2_AND_RAW = (("vda", "qcow2"), ("vdb", "raw"))
TWO_QCOW2 = (("vda", "qcow2"), ("vdb", "qcow2"))


def read_counter_shared(path, tag=None):
    """The counter in the first sector of @path (or of its internal snapshot
    @tag) while a QEMU may hold the image; None when it holds none."""
    out = os.path.join(os.path.dirname(path), ".sector")
    try:
        with open(export_raw(path, out, tag), "rb") as f:
            sector = f.read(512)
    finally:
        if os.path.exists(out):
            os.unlink(out)
    if sector.startswith(b"VMSNAPCOUNTER "):
        return int(sector.split(b"\n", 1)[0].split(b" ")[1])
    return None


class FullSnapshotTestCase(GuestTestCase):

    # -- the guest's counters -------------------------------------------------

    def resumed_counter(self, lines=3):
        """After a revert (the serial log marked before it): the value the
        restored guest printed first. The log may still show lines of the
        guest before the revert (a revert in place keeps QEMU and its log):
        the restored guest's lines are those after the last jump. Checks
        that it counts on from there, one by one, without booting."""
        end = time.monotonic() + guestlib.LINE_DEADLINE
        while True:
            values = [v for _i, v in self.serial.counters()]
            start = max([i for i in range(1, len(values)) if values[i] != values[i - 1] + 1],
                        default=0)
            if len(values) - start >= lines:
                break
            if time.monotonic() >= end:
                raise AssertionError(f"the guest did not count {lines} lines after the revert:"
                                     f"\n{self.serial.tail()}")
            time.sleep(guestlib.POLL)
        resumed = values[start:]
        self.assertEqual(resumed[:lines], list(range(resumed[0], resumed[0] + lines)))
        self.assertNotEqual(resumed[0], 0, "the guest booted instead of resuming")
        return resumed[0]

    def wait_new_line(self):
        """Wait until the guest prints its next counter line; returns it."""
        last = self.last_counter()
        return self.wait_counter(last + 1)

    def assert_quiet(self):
        """A paused guest prints nothing."""
        before = self.serial.counters()
        time.sleep(QUIET_PERIOD)
        self.assertEqual(self.serial.counters(), before,
                         f"the guest printed while paused:\n{self.serial.tail()}")

    # -- snapshots ------------------------------------------------------------

    def create(self, name, *options):
        """snapshot-create-as on the running guest; returns (the last
        counter printed before, the last printed after the command, its
        time)."""
        before = self.last_counter()
        t0 = time.monotonic()
        self.assertEqual(self.ok("snapshot-create-as", DOM, name, *options),
                         f"Domain snapshot {name} created\n")
        took = time.monotonic() - t0
        after = self.last_counter()
        tap.comment(f"snapshot-create-as {name} {' '.join(options)}: {took * 1000:.0f} ms")
        return before, after

    def snapshot_xml(self, name):
        return ET.fromstring(self.ok("snapshot-dumpxml", DOM, name))

    def revert(self, name, *options, expect_state="running"):
        """snapshot-revert, timed; checks the run state after it."""
        state_before = self.domstate()
        pid = self.qemu_pid() if state_before != "shut off" else None
        self.serial.mark()
        t0 = time.monotonic()
        out = self.ok("snapshot-revert", DOM, name, *options)
        took = time.monotonic() - t0
        if self.qemu_pid() != pid:
            # A new QEMU wrote a new log, which may well begin with the same
            # lines as the old one (the guest resumed where it was): read it
            # from its start.
            self.serial.prefix = b""
            self.serial.start = 0
        self.assertTrue(out.startswith(f"Domain '{DOM}' reverted to snapshot '{name}'\n"), out)
        self.assertEqual(self.domstate(), expect_state)
        tap.comment(f"snapshot-revert {name} {' '.join(options)} from {state_before}: "
                    f"{took * 1000:.0f} ms")
        return took

    def disk_counters_at(self, name):
        """{disk: counter} each disk held at snapshot @name, read from its
        frozen file (external) or its internal tag."""
        xml = self.snapshot_xml(name)
        as_taken = {d.find("target").get("dev"): d.find("source").get("file")
                    for d in xml.iterfind("domain/devices/disk")}
        counters = {}
        for disk in xml.iterfind("disks/disk"):
            kind = disk.get("snapshot")
            target = disk.get("name")
            if kind == "external":
                counters[target] = read_counter_shared(as_taken[target])
            elif kind == "internal":
                counters[target] = read_counter_shared(as_taken[target], name)
        return counters

    def assert_disks_match(self, name, resumed):
        """The disks at the snapshot agree with the memory: each holds the
        last value printed or the one being written (docs/guest.md)."""
        for disk, value in self.disk_counters_at(name).items():
            self.assertIn(value, (resumed - 1, resumed),
                          f"{disk} at snapshot {name} holds {value}, the guest resumed "
                          f"at {resumed}")

    def current_disks(self):
        xml = ET.fromstring(self.ok("dumpxml", DOM))
        return {d.find("target").get("dev"): d.find("source").get("file")
                for d in xml.iterfind("devices/disk")}

    def running_full_cycle(self, name, disks, *options):
        """Take a full snapshot of the running guest, let it go on, revert
        to it from running and from shut off: the guest resumes at the same
        counter both times. Returns (snapshot XML, resumed counter)."""
        self.define(disks=disks)
        self.boot()
        self.wait_counter(3)
        before, after = self.create(name, *options)
        self.assertEqual(self.domstate(), "running")
        # The guest went on from where it was: no boot, no gap.
        self.wait_counter(after + 3)
        xml = self.snapshot_xml(name)
        self.assertEqual(xml.findtext("state"), "running")

        pid = self.qemu_pid()
        self.revert(name)
        resumed = self.resumed_counter()
        self.assertTrue(before + 1 <= resumed <= after + 1,
                        f"resumed at {resumed}; the snapshot was taken after {before} and "
                        f"before {after + 1} were printed")
        self.assert_disks_match(name, resumed)
        in_place = self.qemu_pid() == pid

        self.ok("destroy", DOM)
        self.revert(name)
        self.assertEqual(self.resumed_counter(), resumed, "the second revert resumed elsewhere")
        return xml, resumed, in_place


class RunningTest(FullSnapshotTestCase):

    def test_full_external_is_the_default(self):
        # A running domain's snapshot holds its memory unless --disk-only;
        # disks external by default (a raw one too), so the memory is too.
        xml, resumed, in_place = self.running_full_cycle("s1", QCOW2_AND_RAW)
        memory = xml.find("memory")
        self.assertEqual(memory.get("snapshot"), "external")
        path = memory.get("file")
        self.assertEqual(path, os.path.join(self.state, "domains", DOM, "memory", "s1.vmstate"))
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"VMSNAPMS")  # docs/formats/memstate.md
        self.assertEqual([d.get("snapshot") for d in xml.iterfind("disks/disk")],
                         ["external", "external"])
        self.assertFalse(in_place, "an external revert restarts QEMU")

    def test_full_internal(self):
        # --memspec snapshot=internal makes internal the disks' default: the
        # VM state goes into vda's qcow2, both disks get the tag.
        xml, resumed, in_place = self.running_full_cycle("s1", TWO_QCOW2,
                                                         "--memspec", "snapshot=internal")
        self.assertEqual(xml.find("memory").get("snapshot"), "internal")
        self.assertIsNone(xml.find("memory").get("file"))
        self.assertEqual([d.get("snapshot") for d in xml.iterfind("disks/disk")],
                         ["internal", "internal"])
        self.assertTrue(in_place, "QEMU ran the snapshot's configuration: snapshot-load in place")
        for path in self.current_disks().values():
            self.assertEqual(internal_tags(path), ["s1"])
        self.assertFalse(os.path.exists(os.path.join(self.state, "domains", DOM, "memory",
                                                     "s1.vmstate")))

    def test_revert_keeping_the_state_left(self):
        # --keep-as snapshots the running state first (memory too), so the
        # revert discards nothing and the user can come back to it.
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(3)
        before, after = self.create("a")
        self.wait_counter(after + 5)
        self.serial.mark()
        out = self.ok("snapshot-revert", DOM, "a", "--keep-as", "left", "--force")
        self.assertEqual(out, f"Domain snapshot left created\nDomain '{DOM}' reverted to "
                         "snapshot 'a'\n")
        self.serial.prefix = b""
        self.serial.start = 0
        at_a = self.resumed_counter()
        self.assertTrue(before + 1 <= at_a <= after + 1, at_a)
        self.assertEqual(self.ok("snapshot-parent", DOM, "left"), "a\n")
        self.assertEqual(self.snapshot_xml("left").findtext("description"),
                         "the state left when reverting to a")
        self.revert("left")
        self.assertGreater(self.resumed_counter(), after + 5, "the kept state came back")

    def test_all_disks_internal_makes_memory_internal(self):
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.create("s1", "--diskspec", "vda,snapshot=internal", "--diskspec",
                    "vdb,snapshot=internal")
        self.assertEqual(self.snapshot_xml("s1").find("memory").get("snapshot"), "internal")

    def test_external_memory_with_internal_disk(self):
        # Memory in a file, one disk internal and one external: allowed.
        self.running_full_cycle("s1", TWO_QCOW2, "--diskspec", "vda,snapshot=internal")

    def test_memspec_file_and_paused_revert(self):
        mem = os.path.join(self.tmp, "saved", "guest.mem")
        os.mkdir(os.path.dirname(mem))
        self.define()
        self.boot()
        self.wait_counter(2)
        before, after = self.create("s1", "--memspec", f"file={mem}")
        xml = self.snapshot_xml("s1")
        self.assertEqual(xml.find("memory").attrib, {"snapshot": "external", "file": mem})
        self.assertEqual(stat.S_IMODE(os.stat(mem).st_mode), 0o600)
        # --paused: the guest comes back but does not run until resumed.
        self.revert("s1", "--paused", expect_state="paused")
        self.assert_quiet()
        self.ok("resume", DOM)
        resumed = self.resumed_counter()
        self.assertTrue(before + 1 <= resumed <= after + 1)

    def test_revert_running_guest_to_disk_only_internal(self):
        self.disk_only_cycle("internal")

    def test_revert_running_guest_to_disk_only_external(self):
        self.disk_only_cycle("external")

    def disk_only_cycle(self, kind):
        # Running disk-only: reverting boots (no memory), from running and
        # from shut off, and the guest finds the same counter on its disks.
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(3)
        before, after = self.create("d1", "--disk-only", "--diskspec", f"vda,snapshot={kind}",
                                    "--diskspec", f"vdb,snapshot={kind}")
        self.assertEqual(self.snapshot_xml("d1").findtext("state"), "disk-snapshot")
        self.wait_counter(after + 2)
        seen = []
        for _ in range(2):
            self.revert("d1", "--running")
            disks = self.wait_disk_lines()
            self.assertEqual(len(set(disks.values())), 1, disks)
            seen.append(int(disks["vda"]))
            self.ok("destroy", DOM)
        self.assertEqual(seen[0], seen[1])
        self.assertTrue(before <= seen[0] <= after + 1, (before, seen, after))

    def test_internal_full_after_an_external_one(self):
        # s1 internal, then s2 external on top: s1's file is frozen under
        # s2's overlay. Reverting to s1 loads it from a copy; the frozen file
        # keeps its tag and s2 still resumes.
        self.define(disks=TWO_QCOW2)
        originals = self.current_disks()
        self.boot()
        self.wait_counter(2)
        b1, a1 = self.create("s1", "--memspec", "snapshot=internal")
        self.wait_counter(a1 + 2)
        b2, a2 = self.create("s2")
        self.wait_counter(a2 + 2)
        self.revert("s1")
        r1 = self.resumed_counter()
        self.assertTrue(b1 + 1 <= r1 <= a1 + 1, (b1, r1, a1))
        for path in originals.values():
            self.assertEqual(internal_tags(path), ["s1"])
        for path in self.current_disks().values():
            self.assertNotIn(path, originals.values())
            self.assertEqual(internal_tags(path), [])
        self.revert("s2")
        r2 = self.resumed_counter()
        self.assertTrue(b2 + 1 <= r2 <= a2 + 1, (b2, r2, a2))
        self.ok("destroy", DOM)
        self.revert("s1")
        self.assertEqual(self.resumed_counter(), r1)

    def test_configuration_comes_back(self):
        # The domain is redefined with more memory after an internal full
        # snapshot: reverting cannot load in place (QEMU's configuration is
        # not the snapshot's), so QEMU restarts with the snapshot's domain.
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(2)
        before, after = self.create("s1", "--memspec", "snapshot=internal")
        bigger = self.ok("dumpxml", DOM).replace("<memory unit='KiB'>262144</memory>",
                                                 "<memory unit='KiB'>327680</memory>")
        self.assertIn("327680", bigger)
        path = os.path.join(self.tmp, "bigger.xml")
        with open(path, "w") as f:
            f.write(bigger)
        self.ok("define", path)
        pid = self.qemu_pid()
        self.revert("s1")
        self.assertNotEqual(self.qemu_pid(), pid, "QEMU was not restarted")
        resumed = self.resumed_counter()
        self.assertTrue(before + 1 <= resumed <= after + 1, (before, resumed, after))
        self.assertIn("<memory unit='KiB'>262144</memory>", self.ok("dumpxml", DOM))
        with open(f"/proc/{self.qemu_pid()}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        self.assertEqual(argv[argv.index(b"-m") + 1], b"256")

    def test_halt(self):
        self.define()
        self.boot()
        self.wait_counter(2)
        pid = self.qemu_pid()
        before, after = self.create("s1", "--halt")
        self.assertTrue(wait_pid_gone(pid), "QEMU still runs after --halt")
        self.assertEqual(self.domstate(), "shut off")
        self.assertEqual(self.snapshot_xml("s1").findtext("state"), "running")
        # The RFC's start-with-snapshot resumes it.
        self.serial.prefix, self.serial.start = b"", 0
        # (The overlay the halted domain was left on is not a snapshot: it
        # goes, and the command says so.)
        self.assertEqual(self.ok("start-with-snapshot", DOM, "s1"),
                         f"Domain '{DOM}' started from snapshot 's1'\nThe state the domain was "
                         "in was not a snapshot and has been discarded (1 file)\n")
        self.assertEqual(self.domstate(), "running")
        resumed = self.resumed_counter()
        self.assertTrue(before + 1 <= resumed <= after + 1)

    def test_live_is_accepted(self):
        # --live asks for what a running guest's external memory gets anyway:
        # the background save (ADR 0007), its pause recorded.
        self.define()
        self.boot()
        self.wait_counter(2)
        self.create("s1", "--live")
        xml = self.snapshot_xml("s1")
        self.assertEqual(xml.find("memory").get("snapshot"), "external")
        self.assertIsNotNone(xml.find("{https://vmsnap.dev/xmlns/snapshot/1}pause"))
        self.assertEqual(self.domstate(), "running")

    def test_no_metadata(self):
        self.define()
        originals = self.current_disks()
        self.boot()
        self.wait_counter(2)
        mem = os.path.join(self.tmp, "nometa.mem")
        self.create("s1", "--no-metadata", "--memspec", mem)
        self.assertEqual(self.ok("snapshot-list", DOM, "--name"), "")
        self.assertTrue(os.path.exists(mem))
        # The domain follows its new overlay all the same.
        vda = self.current_disks()["vda"]
        self.assertNotEqual(vda, originals["vda"])
        _code, info = qemu_img("info", "-U", "--output=json", vda)
        self.assertEqual(json.loads(info)["full-backing-filename"], originals["vda"])
        self.assertEqual(self.domstate(), "running")

    def test_reuse_external(self):
        self.define()
        vda = self.current_disks()["vda"]
        mine = os.path.join(self.disk_dir, "mine.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", "-b", vda, "-F", "qcow2", mine)
        wrong = os.path.join(self.disk_dir, "wrong.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", wrong, "16M")
        self.boot()
        self.wait_counter(2)
        self.assertEqual(
            self.vmsnap("snapshot-create-as", DOM, "s1", "--reuse-external",
                        "--diskspec", f"vda,file={wrong}"),
            (1, "", f"error: --reuse-external: '{wrong}' is backed by no file, not by the "
                    f"current file of disk vda, '{vda}'; create the overlay on that file\n"))
        self.assertEqual(self.vmsnap("snapshot-create-as", DOM, "s1", "--diskspec",
                                     f"vda,file={mine}"),
                         (1, "", f"error: '{mine}' exists; vmsnap never overwrites a file: "
                                 "choose another file name\n"))
        before, after = self.create("s1", "--reuse-external", "--diskspec", f"vda,file={mine}")
        self.assertEqual(self.current_disks()["vda"], mine)
        self.revert("s1")
        resumed = self.resumed_counter()
        self.assertTrue(before + 1 <= resumed <= after + 1)


class TreeTest(FullSnapshotTestCase):

    def test_tree_mixing_full_and_disk_only(self):
        # Six snapshots, full (internal and external) and disk-only, on
        # three branches; reverted back and forth across them, each comes
        # back the same every time: a full one at the same memory counter,
        # a disk-only one with the same counter on its disks.
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(2)
        windows = {}

        def take(name, *options):
            windows[name] = self.create(name, *options)
            self.wait_counter(windows[name][1] + 2)

        seen = {}

        def back_to(name):
            before, after = windows[name]
            if name.startswith("d"):
                self.revert(name, "--running")
                disks = self.wait_disk_lines()
                self.assertEqual(len(set(disks.values())), 1, disks)
                value = int(disks["vda"])
                self.assertTrue(before <= value <= after + 1, (name, before, value, after))
                self.serial.wait_for(guestlib.COUNTER, deadline=guestlib.BOOT_DEADLINE)
            else:
                self.revert(name)
                value = self.resumed_counter(lines=2)
                self.assertTrue(before + 1 <= value <= after + 1, (name, before, value, after))
            self.assertEqual(seen.setdefault(name, value), value, f"{name} came back elsewhere")

        take("f1")                                            # full, external
        take("d2", "--disk-only")
        back_to("f1")                                         # branch 1 off f1
        take("f3", "--memspec", "snapshot=internal")          # full, internal
        take("d4", "--disk-only", "--diskspec", "vda,snapshot=internal",
             "--diskspec", "vdb,snapshot=internal")
        back_to("d2")                                         # branch 2 off d2
        take("f5")
        take("f6", "--memspec", "snapshot=internal")
        self.assertEqual(self.ok("snapshot-parent", DOM, "f3"), "f1\n")
        self.assertEqual(self.ok("snapshot-parent", DOM, "f5"), "d2\n")
        for name in ("f3", "f6", "d4", "f1", "f5", "d2", "f6", "f3"):
            back_to(name)
        self.ok("destroy", DOM)
        back_to("f3")


class FromFileTest(FullSnapshotTestCase):
    """snapshot-create DOM FILE: xl configs and XML take the same full
    snapshots as the options."""

    def create_from(self, name, text, suffix):
        path = os.path.join(self.tmp, f"{name}.{suffix}")
        with open(path, "w") as f:
            f.write(text)
        before = self.last_counter()
        self.assertEqual(self.ok("snapshot-create", DOM, path),
                         f"Domain snapshot {name} created from '{path}'\n")
        return before, self.last_counter()

    def assert_resumes(self, name, before, after):
        self.revert(name)
        resumed = self.resumed_counter()
        self.assertTrue(before + 1 <= resumed <= after + 1, (before, resumed, after))

    def test_xl_internal_and_external(self):
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(2)
        b1, a1 = self.create_from("xi", 'name="xi"\nmemory="yes"\ntype="internal"\n', "cfg")
        mem = os.path.join(self.tmp, "xe.vmstate")
        b2, a2 = self.create_from("xe", f'name="xe"\nmemory="{mem}"\ntype="external"\n', "cfg")
        xi, xe = self.snapshot_xml("xi"), self.snapshot_xml("xe")
        self.assertEqual(xi.find("memory").attrib, {"snapshot": "internal"})
        self.assertEqual([d.get("snapshot") for d in xi.iterfind("disks/disk")],
                         ["internal", "internal"])
        self.assertEqual(xe.find("memory").attrib, {"snapshot": "external", "file": mem})
        self.assertEqual(stat.S_IMODE(os.stat(mem).st_mode), 0o600)
        self.assert_resumes("xi", b1, a1)
        self.assert_resumes("xe", b2, a2)

    def test_xml_full_and_disk_only(self):
        self.define()
        self.boot()
        self.wait_counter(2)
        b1, a1 = self.create_from("x1", "<domainsnapshot><name>x1</name>"
                                  "<memory snapshot='external'/></domainsnapshot>", "xml")
        self.create_from("x2", "<domainsnapshot><name>x2</name><memory snapshot='no'/>"
                         "</domainsnapshot>", "xml")
        self.assertEqual(self.snapshot_xml("x1").findtext("state"), "running")
        self.assertEqual(self.snapshot_xml("x2").findtext("state"), "disk-snapshot")
        self.assert_resumes("x1", b1, a1)


class PausedTest(FullSnapshotTestCase):

    def paused_cycle(self, disks, *options):
        """Suspend right after a line, take a full snapshot: the guest stays
        paused. Revert from running (the snapshot's recorded state: paused)
        and from shut off with --running: it resumes at exactly the next
        line."""
        self.define(disks=disks)
        self.boot()
        self.wait_counter(2)
        self.wait_new_line()
        self.ok("suspend", DOM)
        text = self.serial.text()
        self.assertTrue(text.endswith(b"\n"), "paused in the middle of a line; try again")
        last = self.last_counter()
        self.create("p1", *options)
        self.assertEqual(self.domstate(), "paused")
        self.assertEqual(self.snapshot_xml("p1").findtext("state"), "paused")
        self.assert_quiet()
        self.serial.mark()
        self.ok("resume", DOM)
        self.assertEqual(self.resumed_counter(), last + 1, "the guest after the snapshot")
        self.wait_counter(last + 4)

        self.revert("p1", expect_state="paused")
        self.assert_quiet()
        self.ok("resume", DOM)
        self.assertEqual(self.resumed_counter(), last + 1)
        self.assert_disks_match("p1", last + 1)
        self.ok("destroy", DOM)
        self.revert("p1", "--running")
        self.assertEqual(self.resumed_counter(), last + 1)
        return self.snapshot_xml("p1")

    def test_paused_full_external(self):
        xml = self.paused_cycle(QCOW2_AND_RAW)
        self.assertEqual(xml.find("memory").get("snapshot"), "external")

    def test_paused_full_internal(self):
        xml = self.paused_cycle(TWO_QCOW2, "--memspec", "snapshot=internal")
        self.assertEqual(xml.find("memory").get("snapshot"), "internal")

    def test_two_full_snapshots_while_paused(self):
        # QEMU keeps its disks inactive after saving memory; the next
        # snapshot of the still paused guest must work all the same.
        self.define(disks=TWO_QCOW2)
        self.boot()
        self.wait_counter(2)
        self.wait_new_line()
        self.ok("suspend", DOM)
        last = self.last_counter()
        self.create("p1")
        self.create("p2")
        self.create("p3", "--memspec", "snapshot=internal", "--diskspec", "vda,snapshot=internal",
                    "--diskspec", "vdb,snapshot=internal")
        self.create("p4", "--disk-only")
        self.assertEqual(self.domstate(), "paused")
        for name in ("p1", "p3"):
            self.revert(name, "--running")
            self.assertEqual(self.resumed_counter(), last + 1, name)


class RefusalTest(FullSnapshotTestCase):

    def assert_untouched(self, disks, pid):
        """Nothing changed: no snapshot, the same disks, no memory file, and
        the guest went on counting."""
        self.assertEqual(self.ok("snapshot-list", DOM, "--name"), "")
        self.assertEqual(self.current_disks(), disks)
        self.assertEqual(sorted(os.listdir(self.disk_dir)),
                         sorted(os.path.basename(p) for p in disks.values()))
        memory_dir = os.path.join(self.state, "domains", DOM, "memory")
        self.assertEqual(os.listdir(memory_dir) if os.path.isdir(memory_dir) else [], [])
        self.assertEqual(self.qemu_pid(), pid)
        self.wait_new_line()
        self.assertEqual(self.domstate(), "running")

    def test_create_refusals(self):
        self.define(disks=QCOW2_AND_RAW)
        disks = self.current_disks()
        self.boot()
        self.wait_counter(1)
        pid = self.qemu_pid()
        existing = os.path.join(self.tmp, "exists.mem")
        with open(existing, "w") as f:
            f.write("keep me")
        cases = [
            (("--memspec", "snapshot=internal"),
             f"disk vdb of domain '{DOM}' is raw; raw disks only take external snapshots"),
            (("--memspec", "snapshot=internal", "--diskspec", "vdb,snapshot=external"),
             "snapshot 's1': internal memory is saved inside the disks' qcow2 files, so every "
             "disk must be internal, but disk vdb is external; make the memory external "
             "(--memspec snapshot=external) or the disk internal (--diskspec "
             "vdb,snapshot=internal)"),
            (("--memspec", "snapshot=internal", "--diskspec", "vda,snapshot=no",
              "--diskspec", "vdb,snapshot=no"),
             "snapshot 's1': internal memory is saved inside a qcow2 disk, and no disk is part "
             "of the snapshot; include a qcow2 disk or make the memory external"),
            (("--memspec", existing),
             f"'{existing}' exists; vmsnap never overwrites a file: choose another file for "
             "the memory"),
            (("--memspec", os.path.join(self.tmp, "no-such-dir", "m")),
             f"cannot create memory file '{os.path.join(self.tmp, 'no-such-dir', 'm')}': No "
             "such file or directory"),
            (("--disk-only", "--live"),
             "--live applies to full snapshots (with memory); leave it out of a disk-only one"),
            (("--no-metadata",),
             "a snapshot without metadata keeps no record of where its memory went; name the "
             "memory file (--memspec file=PATH) or take a disk-only snapshot"),
        ]
        for options, message in cases:
            self.assertEqual(self.vmsnap("snapshot-create-as", DOM, "s1", *options),
                             (1, "", f"error: {message}\n"), options)
            self.assert_untouched(disks, pid)
        with open(existing) as f:
            self.assertEqual(f.read(), "keep me")
        os.unlink(existing)

    def test_missing_memory_file(self):
        self.define()
        self.boot()
        self.wait_counter(1)
        self.create("s1")
        path = self.snapshot_xml("s1").find("memory").get("file")
        os.unlink(path)
        pid = self.qemu_pid()
        disks = self.current_disks()
        self.assertEqual(self.vmsnap("snapshot-revert", DOM, "s1"),
                         (1, "", f"error: the memory file '{path}' of snapshot 's1' is missing, "
                                 "so the guest cannot resume from it; put the file back, or "
                                 "revert to another snapshot\n"))
        # Refused before anything stopped or changed.
        self.assertEqual(self.qemu_pid(), pid)
        self.assertEqual(self.current_disks(), disks)
        self.wait_new_line()

    def test_damaged_memory_file(self):
        self.define()
        self.boot()
        self.wait_counter(1)
        self.create("s1")
        path = self.snapshot_xml("s1").find("memory").get("file")
        disks = self.current_disks()
        files = sorted(os.listdir(self.disk_dir))
        pid = self.qemu_pid()
        # Not a VM state at all: refused before the guest is touched.
        with open(path, "r+b") as f:
            f.write(b"XXXX")
        self.assertEqual(self.vmsnap("snapshot-revert", DOM, "s1"),
                         (1, "", f"error: the memory file '{path}' of snapshot 's1' cannot be "
                                 "used: it is not a saved VM state (it starts neither with "
                                 "vmsnap's header nor with QEMU's 'QEVM'); nothing was changed "
                                 "('--force' loads it anyway)\n"))
        self.assertEqual(self.qemu_pid(), pid)
        # A cut file: refused too, before anything changed.
        with open(path, "r+b") as f:
            f.write(b"VMSN")
            f.truncate(4096)
        code, out, err = self.vmsnap("snapshot-revert", DOM, "s1")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"error: the memory file '{path}' of snapshot 's1' cannot be used: "
                              "memory file is truncated or unfinished: it has no trailer "
                              "(\"VMSNAPTR\") at its end, so the save did not complete; delete "
                              "this snapshot and take it again; nothing was changed ('--force' "
                              "loads it anyway)\n")
        self.assertEqual(self.qemu_pid(), pid)
        # Forced, it gets as far as the QEMU started for it: the domain ends
        # shut off on the state it left (its files and definition).
        code, out, err = self.vmsnap("snapshot-revert", DOM, "s1", "--force")
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(err, r"^error: cannot resume domain 'guest' from its saved memory: "
                              r"memory file is truncated or unfinished: ")
        self.assertTrue(wait_pid_gone(pid))
        self.assertEqual(self.domstate(), "shut off")
        self.assertEqual(self.current_disks(), disks)
        self.assertEqual(sorted(os.listdir(self.disk_dir)), files)

    def test_shut_off_domain_has_no_memory(self):
        self.define()
        self.assertEqual(self.vmsnap("snapshot-create-as", DOM, "s1", "--memspec",
                                     "snapshot=external"),
                         (1, "", f"error: domain '{DOM}' is shut off: it has no memory to save; "
                                 "take a disk-only snapshot\n"))
        self.assertEqual(self.vmsnap("snapshot-create-as", DOM, "s1", "--live"),
                         (1, "", f"error: domain '{DOM}' is shut off: --live applies to saving "
                                 "a running guest's memory\n"))


if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
