#!/usr/bin/env python3
"""Integration tests: kill vmsnap at every step of every operation, then
check that the next command finds the operation complete or undone, with
nothing lost (issue 6, DESIGN.md's crash-safety invariant).

Usage: test_faults.py VMSNAP_BINARY GUEST_DIR [TEST_NAME_PATTERN...]

Each scenario runs its operation once with VMSNAP_FAULT_TRACE to learn the
fault points it passes, then once per point from a fresh setup with
VMSNAP_FAULT=<point>: the process kills itself there (SIGKILL, as kill -9),
`vmsnap recover` finishes or undoes the operation and says which, and then:
- the snapshot the operation was about exists completely (it verifies) or
  not at all (no file of it is left); every snapshot verifies;
- every image passes `qemu-img check`, and every file in the disks'
  directory is used by the current state or a snapshot;
- the guest's data is intact: the current disks read what they read before
  (or, after a revert, what the snapshot holds), every snapshot reads what
  it read before; a running guest runs and counts on.
And a full file system (a small tmpfs; the tests run as root): a memory
file that does not fit leaves a disk-only snapshot and a guest that runs on
(QEMU's stream is still read to its end), an overlay that does not fit
leaves nothing changed.
"""

import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from guestlib import (DOM, GuestTestCase, check_image, export_raw, qemu_img, same_contents,
                      write_counter)
import guestlib
import tap

QCOW2_AND_RAW = (("vda", "qcow2"), ("vdb", "raw"))


class FaultTest(GuestTestCase):

    # -- running an operation with a fault ----------------------------------------

    def run_op(self, op, env_extra):
        env = dict(self.env)
        env.update(env_extra)
        proc = subprocess.run([guestlib.VMSNAP, "--dir", self.state] + op,
                              stdin=subprocess.DEVNULL, capture_output=True, env=env,
                              timeout=guestlib.COMMAND_TIMEOUT)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def trace_points(self, setup, op):
        """The fault points @op passes, in order, after @setup."""
        trace = os.path.join(self.tmp, "trace")
        setup()
        code, out, err = self.run_op(op, {"VMSNAP_FAULT_TRACE": trace})
        self.assertEqual((code, err), (0, ""), out)
        with open(trace) as f:
            points = list(dict.fromkeys(line.strip() for line in f if line.strip()))
        self.reset()
        self.assertTrue(points, "the operation passed no fault point")
        return points

    def reset(self):
        """Back to nothing: no QEMU, no state, no disks."""
        self.stop_all_qemu()
        for path in (self.state, self.disk_dir):
            subprocess.run(["rm", "-rf", path], check=True)
        os.mkdir(self.disk_dir)

    def each_fault(self, setup, op, check):
        """For every point @op passes: @setup, kill @op there, recover, @check."""
        points = self.trace_points(setup, op)
        tap.comment(f"{' '.join(op[:1] + op[2:])}: {len(points)} points: {' '.join(points)}")
        for point in points:
            with self.subTest(point=point):
                before = setup()
                code, out, err = self.run_op(op, {"VMSNAP_FAULT": point})
                self.assertEqual(code, -signal.SIGKILL,
                                 f"not killed at {point}: {code} {out} {err}")
                code, out, err = self.vmsnap("recover", DOM)
                self.assertEqual((code, err), (0, ""), f"recover after {point}: {out}")
                self.assertRegex(out, rf"^Domain '{DOM}': the interrupted .* was "
                                      r"(completed|undone)( as a disk-only snapshot "
                                      r"\(its memory was not saved\))?\n$")
                self.assertEqual(self.ok("recover", DOM),
                                 f"Domain '{DOM}' has no interrupted operation\n")
                try:
                    self.assert_consistent()
                    check(point, out, before)
                except AssertionError as e:
                    raise AssertionError(f"after a kill at {point} and `{out.strip()}`: "
                                         f"{e}") from None
            self.reset()

    # -- what must hold after any recovery -------------------------------------------

    def assert_consistent(self):
        names = self.ok("snapshot-list", DOM, "--name").split()
        if names:
            verified = self.ok("snapshot-verify", DOM)
            self.assertTrue(verified.endswith(f"{len(names)} snapshot{'s' if len(names) > 1 else ''}"
                                              " verified, all intact\n"), verified)
        used = self.files_in_use()
        on_disk = {os.path.join(self.disk_dir, f) for f in os.listdir(self.disk_dir)}
        self.assertEqual(on_disk - used, set(), "files nothing uses were left")
        self.assertEqual(used - on_disk, set(), "files in use are missing")
        running = self.domstate() != "shut off"
        for path in on_disk:
            if running:  # shared: QEMU holds its files; leaks are harmless
                code, out = qemu_img("check", "-U", "--output=json", path, ok_codes=(0, 1, 2, 3))
                self.assertIn(code, (0, 3), f"{path}: {out}")
            else:
                self.assertIsNone(check_image(path))
        # Memory files: exactly those of the snapshots (no unfinished one).
        memory_dir = os.path.join(self.state, "domains", DOM, "memory")
        kept = {os.path.join(memory_dir, f) for f in os.listdir(memory_dir)} \
            if os.path.isdir(memory_dir) else set()
        recorded = set()
        for name in names:
            mem = ET.fromstring(self.ok("snapshot-dumpxml", DOM, name)).find("memory")
            if mem is not None and mem.get("file"):
                recorded.add(mem.get("file"))
        self.assertEqual(kept, recorded)

    def current_disks(self):
        return {d.find("target").get("dev"): d.find("source").get("file")
                for d in ET.fromstring(self.ok("dumpxml", DOM)).iterfind("devices/disk")}

    def export_state(self, label):
        """Raw copies of what every disk and every snapshot reads now."""
        out = {}
        ref = os.path.join(self.tmp, "refs")
        os.makedirs(ref, exist_ok=True)
        for disk, path in self.current_disks().items():
            out[("current", disk)] = export_raw(path, os.path.join(ref, f"{label}-cur-{disk}"))
        for name in self.ok("snapshot-list", DOM, "--name").split():
            xml = ET.fromstring(self.ok("snapshot-dumpxml", DOM, name))
            files = {d.find("target").get("dev"): d.find("source").get("file")
                     for d in xml.iterfind("domain/devices/disk")}
            for d in xml.iterfind("disks/disk"):
                kind, disk = d.get("snapshot"), d.get("name")
                if kind in ("internal", "external"):
                    out[(name, disk)] = export_raw(
                        files[disk], os.path.join(ref, f"{label}-{name}-{disk}"),
                        name if kind == "internal" else None)
        return out

    def assert_same(self, before, after, keys):
        for key in keys:
            self.assertTrue(same_contents(before[key], after[key]), f"{key} changed")

    # -- shut-off scenarios ------------------------------------------------------------

    def shut_off_tree(self, internal=False):
        """a -> b -> (current), each with its own counter on every disk;
        returns the exported state."""
        disks = (("vda", "qcow2"),) if internal else QCOW2_AND_RAW
        self.define(disks=disks)
        spec = ["--diskspec", "vda,snapshot=internal"] if internal else []
        for value, name in ((1, "a"), (2, "b")):
            for path in self.current_disks().values():
                write_counter(path, value)
            self.ok("snapshot-create-as", DOM, name, *spec)
        for path in self.current_disks().values():
            write_counter(path, 3)
        return self.export_state("before")

    def check_create(self, internal):
        def check(point, report, before):
            after = self.export_state("after")
            names = self.ok("snapshot-list", DOM, "--name").split()
            if "undone" in report:
                self.assertEqual(names, ["a", "b"])
                self.assertFalse([f for f in os.listdir(self.disk_dir) if ".c." in f])
            else:
                self.assertEqual(names, ["a", "b", "c"])
                self.assertEqual(self.ok("snapshot-current", DOM, "--name"), "c\n")
                for disk in self.current_disks():
                    self.assertTrue(same_contents(before[("current", disk)], after[("c", disk)]))
            self.assert_same(before, after, [k for k in before])
        return check

    def test_create_external_shut_off(self):
        self.each_fault(lambda: self.shut_off_tree(), ["snapshot-create-as", DOM, "c"],
                        self.check_create(False))

    def test_create_internal_shut_off(self):
        self.each_fault(lambda: self.shut_off_tree(internal=True),
                        ["snapshot-create-as", DOM, "c", "--diskspec", "vda,snapshot=internal"],
                        self.check_create(True))

    def check_revert_to(self, target):
        def check(point, report, before):
            self.assertIn("completed", report)
            after = self.export_state("after")
            self.assertEqual(self.ok("snapshot-current", DOM, "--name"), f"{target}\n")
            for disk in self.current_disks():
                self.assertTrue(same_contents(before[(target, disk)], after[("current", disk)]))
            self.assert_same(before, after, [k for k in before if k[0] != "current"])
        return check

    def test_revert_shut_off(self):
        self.each_fault(lambda: self.shut_off_tree(), ["snapshot-revert", DOM, "a"],
                        self.check_revert_to("a"))

    def test_revert_internal_shut_off(self):
        self.each_fault(lambda: self.shut_off_tree(internal=True), ["snapshot-revert", DOM, "a"],
                        self.check_revert_to("a"))

    def check_delete(self, gone):
        def check(point, report, before):
            self.assertIn("completed", report)
            after = self.export_state("after")
            names = self.ok("snapshot-list", DOM, "--name").split()
            self.assertEqual(names, sorted({"a", "b"} - set(gone)))
            self.assert_same(before, after, [k for k in before if k[0] not in gone])
        return check

    def test_delete_middle_shut_off(self):
        self.each_fault(lambda: self.shut_off_tree(), ["snapshot-delete", DOM, "b"],
                        self.check_delete(["b"]))

    def test_delete_root_shut_off(self):
        self.each_fault(lambda: self.shut_off_tree(), ["snapshot-delete", DOM, "a"],
                        self.check_delete(["a"]))

    def test_delete_internal_shut_off(self):
        self.each_fault(lambda: self.shut_off_tree(internal=True), ["snapshot-delete", DOM, "a"],
                        self.check_delete(["a"]))

    def test_discard_shut_off(self):
        # b is current's parent: discarding it (with --force) discards the
        # current state too; the domain goes back to a.
        def check(point, report, before):
            after = self.export_state("after")
            self.assertEqual(self.ok("snapshot-list", DOM, "--name").split(), ["a"])
            self.assertEqual(self.ok("snapshot-current", DOM, "--name"), "a\n")
            for disk in self.current_disks():
                self.assertTrue(same_contents(before[("a", disk)], after[("current", disk)]))
        self.each_fault(lambda: self.shut_off_tree(),
                        ["snapshot-deactivate", DOM, "b", "--discard", "--force"], check)

    # -- a running guest ------------------------------------------------------------------

    def running_guest(self):
        self.define(disks=(("vda", "qcow2"),))
        self.boot()
        self.wait_counter(2)
        return self.export_state("before")

    def assert_guest_counts_on(self):
        """The domain runs and its guest prints new counter lines."""
        self.assertEqual(self.domstate(), "running")
        self.serial.mark()
        i, m = self.serial.wait_for(guestlib.COUNTER)
        self.assertNotEqual(m.group(1), "0", "the guest booted afresh")
        self.serial.wait_for(guestlib.COUNTER, after=i)

    def test_create_full_running(self):
        def check(point, report, before):
            names = self.ok("snapshot-list", DOM, "--name").split()
            if "undone" in report:
                self.assertEqual(names, [])
            else:
                self.assertEqual(names, ["s"])
            self.assert_guest_counts_on()
        self.each_fault(self.running_guest,
                        ["snapshot-create-as", DOM, "s", "--compress", "gzip"], check)

    def test_revert_running_to_full(self):
        def setup():
            self.running_guest()
            self.ok("snapshot-create-as", DOM, "s")
            self.wait_counter(self.last_counter() + 2)
            return {}

        def check(point, report, before):
            self.assertIn("completed", report)
            self.assertEqual(self.ok("snapshot-current", DOM, "--name"), "s\n")
            self.serial.prefix, self.serial.start = b"", 0
            self.assert_guest_counts_on()
        self.each_fault(setup, ["snapshot-revert", DOM, "s"], check)


    def test_delete_running(self):
        def setup():
            self.running_guest()
            for name in ("a", "b"):
                self.wait_counter(self.last_counter() + 1)
                self.ok("snapshot-create-as", DOM, name, "--disk-only")
            return self.export_state("before")

        def check(point, report, before):
            self.assertIn("completed", report)
            self.assertEqual(self.ok("snapshot-list", DOM, "--name").split(), ["b"])
            after = self.export_state("after")
            self.assert_same(before, after, [k for k in before if k[0] == "b"])
            self.assert_guest_counts_on()
        self.each_fault(setup, ["snapshot-delete", DOM, "a"], check)

    # -- a full file system ------------------------------------------------------------

    def small_fs(self, mib):
        """A tmpfs of @mib MiB, unmounted at the end of the test."""
        mnt = os.path.join(self.tmp, f"small-{mib}")
        os.mkdir(mnt)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0700", "tmpfs", mnt],
                       check=True, capture_output=True)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True)
        return mnt

    def test_memory_file_on_a_full_disk(self):
        # The memory does not fit: QEMU's stream is still read to its end
        # (the guest must not freeze), the disks stay taken as a disk-only
        # snapshot, the partial file goes.
        self.define()
        self.boot()
        self.wait_counter(2)
        mem = os.path.join(self.small_fs(8), "s.mem")
        code, out, err = self.vmsnap("snapshot-create-as", DOM, "s", "--memspec", mem)
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, f"error: the disks of snapshot 's' were taken, but not its memory, "
                              f"so it was kept as a disk-only snapshot: cannot write memory file "
                              f"'{mem}': writing the memory file: No space left on device\n")
        self.assertFalse(os.path.exists(mem))
        self.assertIn("<state>disk-snapshot</state>", self.ok("snapshot-dumpxml", DOM, "s"))
        self.assert_guest_counts_on()
        self.assert_consistent()

    def test_overlay_on_a_full_disk(self):
        # No room for the overlay: nothing changes, the guest runs on.
        fs = self.small_fs(2)
        disk = os.path.join(fs, "vda.qcow2")
        qemu_img("create", "-q", "-f", "qcow2", disk, "16M")
        xml = guestlib.DOMAIN_XML.format(
            name=DOM, kernel=os.path.join(guestlib.GUEST_DIR, "vmlinuz"),
            initrd=os.path.join(guestlib.GUEST_DIR, "initrd.img"),
            disks=guestlib.DISK_XML.format(fmt="qcow2", path=disk, target="vda"),
            serial="<serial type='pty'/>")
        path = os.path.join(self.tmp, "full.xml")
        with open(path, "w") as f:
            f.write(xml)
        self.ok("define", path)
        self.boot()
        self.wait_counter(2)  # the guest's sector is allocated: it writes on in place
        st = os.statvfs(fs)
        with open(os.path.join(fs, "filler"), "wb") as f:  # leave 8 KiB free
            f.write(b"\1" * max(st.f_bavail * st.f_frsize - 8192, 0))
        code, out, err = self.vmsnap("snapshot-create-as", DOM, "s", "--disk-only")
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(err, r"^error: .*No space left on device")
        self.assertEqual(self.ok("snapshot-list", DOM, "--name"), "")
        self.assertEqual(sorted(os.listdir(fs)), ["filler", "vda.qcow2"])
        self.assertEqual(self.current_disks(), {"vda": disk})
        self.assert_guest_counts_on()


if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
