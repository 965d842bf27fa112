#!/usr/bin/env python3
"""Integration tests: real guests under vmsnap (start, shutdown, destroy,
suspend, resume, domstate, dominfo, list, serial-log).

Usage: test_lifecycle.py VMSNAP_BINARY GUEST_DIR [TEST_NAME_PATTERN...]

GUEST_DIR holds the test guest (vmlinuz, initrd.img) that tests/guest/
builds; docs/guest.md describes what it prints. Every test gets a fresh state
directory (--dir) and fresh disk images, and never leaves a QEMU behind: its
cleanup runs `vmsnap destroy`, then kills whatever QEMU still runs on the
test's files. Output is TAP, one line per test (as tests/cli/test_cli.py).

The guest's serial log is read by polling with a deadline: a test waits for
a line, never for a fixed time. The one exception is checking that a paused
guest prints nothing, where waiting is the assertion itself.
"""

import os
import signal
import stat
import sys
import threading
import time

from guestlib import (BOOT_DEADLINE, COUNTER, DISK, DOM, POWERING_OFF, QUIET_PERIOD, READY,
                      GuestTestCase, SerialLog, pid_alive, processes_using, wait_pid_gone)
import guestlib
import tap  # tests/tap.py, on the path guestlib sets


class LifecycleTest(GuestTestCase):

    def test_boot_reads_blank_disk_and_counts(self):
        self.define()
        index = self.boot()
        lines, _start = self.serial.lines()
        # After the firmware's lines: the disk lines, "ready", then the counter.
        first = min(i for i, _m in self.serial.find(DISK) + self.serial.find(READY))
        self.assertEqual(lines[first:index], ["disk vda counter none", "vmsnap-guest ready"])
        self.assert_counting_from(1, after=index)
        self.assertEqual(self.domstate(), "running")
        self.assertTrue(pid_alive(self.qemu_pid()))
        self.assertRegex(self.ok("dominfo", DOM), r"(?m)^State: +running$")
        self.assertRegex(self.ok("list"), rf"(?m)^ {DOM} +running +0$")
        self.assertIn("\ncounter 2", self.ok("serial-log", DOM).replace("\r", ""))

    def test_start_paused_then_resume(self):
        self.define()
        self.start("--paused")
        self.assertEqual(self.domstate(), "paused")
        self.assertEqual(self.serial.find(COUNTER), [])
        self.assertEqual(self.ok("resume", DOM), f"Domain '{DOM}' resumed\n")
        self.serial.wait_for(COUNTER, deadline=BOOT_DEADLINE)
        self.assert_counting_from(0)
        self.assertEqual(self.domstate(), "running")

    def test_suspend_stops_counter_and_resume_continues(self):
        self.define()
        self.boot()
        self.wait_counter(2)
        self.assertEqual(self.ok("suspend", DOM), f"Domain '{DOM}' suspended\n")
        self.assertEqual(self.domstate(), "paused")
        last = self.serial.counters()[-1][1]
        # The waiting is the assertion: a paused guest prints nothing.
        time.sleep(QUIET_PERIOD)
        self.assertEqual(self.serial.counters()[-1][1], last,
                         f"the counter moved while suspended:\n{self.serial.tail()}")
        self.assertRegex(self.ok("dominfo", DOM), r"(?m)^State: +paused$")
        # Marked while paused: a line the guest was in the middle of when it
        # stopped completes after the mark.
        self.serial.mark()
        self.assertEqual(self.ok("resume", DOM), f"Domain '{DOM}' resumed\n")
        self.assertEqual(self.domstate(), "running")
        # Memory was kept: the counter goes on from where it stopped.
        self.assert_counting_from(last + 1)

    def test_suspend_and_resume_refusals(self):
        self.define()
        self.boot()
        code, out, err = self.vmsnap("resume", DOM)
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(err, r"^error: .*\n$")
        self.assertEqual(self.ok("suspend", DOM), f"Domain '{DOM}' suspended\n")
        code, out, err = self.vmsnap("suspend", DOM)
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(err, r"^error: .*\n$")
        self.assertEqual(self.domstate(), "paused")

    def test_shutdown_powers_off(self):
        self.define()
        self.boot()
        self.wait_counter(2)
        pid = self.qemu_pid()
        code, out, err = self.vmsnap("shutdown", DOM, "--timeout", "60")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, f"Domain '{DOM}' is being shutdown\nDomain '{DOM}' is shut off\n")
        # The guest saw the ACPI power button and stopped counting.
        i, _ = self.serial.wait_for(POWERING_OFF, deadline=1)
        self.assertEqual([c for c in self.serial.counters() if c[0] > i], [])
        self.assert_shut_off(pid)
        self.assertFalse(os.path.exists(self.run_path("qemu.pid")))
        self.assertRegex(self.ok("list", "--all"), rf"(?m)^ {DOM} +shut off +0$")
        self.assertRegex(self.ok("dominfo", DOM), r"(?m)^State: +shut off$")

    def test_disk_counter_survives_shutdown_and_start(self):
        # A qcow2 and a raw disk: the guest writes its counter to both.
        self.define(disks=(("vda", "qcow2"), ("vdb", "raw")))
        self.boot()
        lines, start = self.serial.lines()
        self.assertIn("disk vda counter none", lines[start:])
        self.assertIn("disk vdb counter none", lines[start:])
        self.wait_counter(5)
        self.ok("shutdown", DOM, "--timeout", "60")
        last = self.serial.counters()[-1][1]
        self.assertGreaterEqual(last, 5)
        self.boot()
        # Every value the guest printed was on its disks first.
        found = {m.group(1): m.group(2) for _i, m in self.serial.find(DISK)}
        self.assertEqual(sorted(found), ["vda", "vdb"], self.serial.tail())
        for disk, value in found.items():
            self.assertNotEqual(value, "none", f"{disk} lost the counter")
            self.assertGreaterEqual(int(value), last, f"{disk} holds an older counter")
        # Memory starts afresh at every boot.
        self.assert_counting_from(0)

    def test_destroy_running(self):
        self.define()
        self.boot()
        pid = self.qemu_pid()
        self.assertEqual(self.ok("destroy", DOM), f"Domain '{DOM}' destroyed\n")
        self.assert_shut_off(pid)
        self.assertEqual(self.serial.find(POWERING_OFF), [])
        self.assertEqual(self.vmsnap("destroy", DOM),
                         (1, "", f"error: domain '{DOM}' is not running\n"))

    def test_qemu_killed_behind_our_back(self):
        self.define()
        self.boot()
        pid = self.qemu_pid()
        os.kill(pid, signal.SIGKILL)
        self.assertTrue(wait_pid_gone(pid), f"QEMU (pid {pid}) survived SIGKILL")
        # Each command returns promptly (vmsnap() has a timeout) with a clear state.
        self.assertEqual(self.domstate(), "crashed")
        self.assertRegex(self.ok("dominfo", DOM), r"(?m)^State: +crashed$")
        self.assertRegex(self.ok("list", "--all"), rf"(?m)^ {DOM} +crashed +0$")
        # And the domain starts again.
        self.boot()
        self.assertEqual(self.domstate(), "running")
        self.assertNotEqual(self.qemu_pid(), pid)

    def test_crash_reason_names_the_log(self):
        self.define()
        self.boot()
        pid = self.qemu_pid()
        os.kill(pid, signal.SIGKILL)
        self.assertTrue(wait_pid_gone(pid), f"QEMU (pid {pid}) survived SIGKILL")
        out = self.ok("domstate", DOM, "--reason")
        self.assertTrue(
            out.startswith(f"crashed (QEMU of domain '{DOM}' ended without a shutdown "
                           "(killed or crashed)"), out)
        # destroy clears the leftovers: the domain is then plainly shut off.
        self.assertEqual(self.ok("destroy", DOM), f"Domain '{DOM}' destroyed\n")
        self.assertEqual(self.domstate(), "shut off")
        self.assertFalse(os.path.exists(self.run_path("qemu.pid")))

    def test_hung_qemu_is_an_error_not_a_hang(self):
        self.define()
        self.boot()
        pid = self.qemu_pid()
        # A stopped process keeps its socket open but never answers.
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            code, out, err = self.vmsnap("domstate", DOM)
            took = time.monotonic() - t0
            self.assertEqual((code, out), (1, ""))
            self.assertRegex(
                err, rf"^error: QEMU of domain '{DOM}' \(pid {pid}\) runs but does not answer "
                rf"on its QMP socket \(.*\); 'vmsnap destroy {DOM}' stops it\n$")
            tap.comment(f"domstate on a hung QEMU returned after {took:.1f} s")
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual(self.domstate(), "running")

    def test_serial_file_goes_where_the_domain_says(self):
        console = os.path.join(self.tmp, "console.log")
        self.define(serial=f"<serial type='file'><source path='{console}'/></serial>")
        self.start()
        log = SerialLog(console)
        log.wait_for(COUNTER, deadline=BOOT_DEADLINE)
        self.assertFalse(os.path.exists(self.run_path("serial.log")))
        self.assertRegex(self.ok("serial-log", DOM), r"(?m)^vmsnap-guest ready\r?$")
        self.assertEqual(stat.S_IMODE(os.stat(console).st_mode), 0o600)

    def test_start_twice_is_refused(self):
        self.define()
        self.boot()
        pid = self.qemu_pid()
        self.assertEqual(self.vmsnap("start", DOM),
                         (1, "", f"error: domain '{DOM}' is already running\n"))
        self.assertEqual(self.qemu_pid(), pid)
        self.assertEqual(processes_using(self.tmp), [pid])
        # The guest did not notice.
        last = self.serial.counters()[-1][1]
        self.wait_counter(last + 2)

    def test_start_with_missing_disk(self):
        paths = self.define()
        os.unlink(paths["vda"])
        code, out, err = self.vmsnap("start", DOM)
        self.assertEqual((code, out), (1, ""))
        self.assertRegex(err, r"^error: ")
        self.assertIn(paths["vda"], err)
        self.assertEqual(self.domstate(), "shut off")
        self.assertEqual(processes_using(self.tmp), [])
        self.assertIsNone(self.qemu_pid())


class ConcurrencyTest(GuestTestCase):

    def run_parallel(self, commands):
        """Start every command at once; returns their (code, stdout, stderr)."""
        barrier = threading.Barrier(len(commands))
        results = [None] * len(commands)

        def run(n, args):
            barrier.wait()
            results[n] = self.vmsnap(*args)

        threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(commands)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    def test_commands_at_once_on_one_domain(self):
        self.define()
        self.boot()
        readers = [("domstate", DOM), ("snapshot-list", DOM, "--name"), ("dominfo", DOM)]
        for _round in range(3):
            for change, done, state in (("suspend", "suspended", "paused"),
                                        ("resume", "resumed", "running")):
                results = self.run_parallel([(change, DOM)] + readers)
                for args, (code, out, err) in zip([(change, DOM)] + readers, results):
                    self.assertEqual((code, err), (0, ""), f"vmsnap {' '.join(args)}: {out}")
                self.assertEqual(results[0][1], f"Domain '{DOM}' {done}\n")
                # A reader saw the state before or after the change, nothing else.
                self.assertIn(results[1][1], ("running\n", "paused\n"))
                self.assertEqual(results[2][1], "")
                self.assertRegex(results[3][1], r"(?m)^State: +(running|paused)$")
                self.assertEqual(self.domstate(), state)
        # The guest is intact: still counting, one QEMU, the state dir clean.
        self.serial.mark()
        i, m = self.serial.wait_for(COUNTER)
        self.assert_counting_from(int(m.group(1)) + 1, after=i)
        self.assertEqual(processes_using(self.tmp), [self.qemu_pid()])
        self.assertEqual(self.ok("snapshot-list", DOM, "--name"), "")

    def test_two_starts_at_once(self):
        self.define()
        results = self.run_parallel([("start", DOM), ("start", DOM)])
        codes = sorted(r[0] for r in results)
        self.assertEqual(codes, [0, 1], results)
        winner = [r for r in results if r[0] == 0][0]
        loser = [r for r in results if r[0] == 1][0]
        self.assertEqual(winner, (0, f"Domain '{DOM}' started\n", ""))
        self.assertEqual(loser, (1, "", f"error: domain '{DOM}' is already running\n"))
        self.serial.wait_for(COUNTER, deadline=BOOT_DEADLINE)
        self.assertEqual(processes_using(self.tmp), [self.qemu_pid()])


if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
