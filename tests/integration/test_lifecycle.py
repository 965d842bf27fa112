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
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tap  # noqa: E402  (tests/tap.py)

VMSNAP = None
GUEST_DIR = None

DOM = "guest"
# Under TCG the guest reaches its first counter line in about 2 s; the
# deadlines leave room for a loaded machine without letting a hang pass.
BOOT_DEADLINE = 60.0
LINE_DEADLINE = 20.0
COMMAND_TIMEOUT = 90.0
POLL = 0.05
# A paused guest must print nothing for this long. The guest prints every
# 0.2 s, so a running one would print about 7 lines in that time.
QUIET_PERIOD = 1.5

COUNTER = re.compile(r"^counter (\d+)$")
DISK = re.compile(r"^disk (vd[a-z]) counter (\d+|none)$")
READY = re.compile(r"^vmsnap-guest ready$")
POWERING_OFF = re.compile(r"^powering off$")

DOMAIN_XML = """<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 quiet</cmdline>
  </os>
  <devices>
{disks}    {serial}
  </devices>
</domain>
"""

DISK_XML = """    <disk type='file' device='disk'>
      <driver name='qemu' type='{fmt}'/>
      <source file='{path}'/>
      <target dev='{target}' bus='virtio'/>
    </disk>
"""



def pid_alive(pid):
    """True if @pid runs (a zombie counts as gone: it runs no guest)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            # "pid (comm) S ...": the state follows the last ')'.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_pid_gone(pid, deadline=10.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not pid_alive(pid):
            return True
        time.sleep(POLL)
    return not pid_alive(pid)


def processes_using(path):
    """Pids of processes with @path in their command line (our QEMUs)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and b"qemu" in os.path.basename(argv[0]) and \
                any(path.encode() in a for a in argv):
            pids.append(int(entry))
    return [p for p in pids if pid_alive(p)]


class SerialLog:
    """The complete lines of a domain's serial log, re-read on every poll.

    A test marks a position, then waits for lines after it. If the file no
    longer starts with what was there at the mark (a new start truncated it),
    the search starts at its beginning instead.
    """

    def __init__(self, path):
        self.path = path
        self.prefix = b""
        self.start = 0

    def text(self):
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def lines(self):
        """Every complete line, without '\\r', and the index of the mark."""
        data = self.text()
        start = self.start if data.startswith(self.prefix) else 0
        complete = data[:data.rfind(b"\n") + 1].decode("utf-8", "replace")
        return [line.rstrip("\r") for line in complete.split("\n")[:-1]], start

    def mark(self):
        """Later waits only see lines completed after this call."""
        data = self.text()
        self.prefix = data[:data.rfind(b"\n") + 1]
        self.start = self.prefix.count(b"\n")

    def find(self, pattern):
        """Lines after the mark that match (list of (index, match))."""
        lines, start = self.lines()
        return [(i, m) for i in range(start, len(lines))
                for m in [pattern.match(lines[i])] if m]

    def wait_for(self, pattern, deadline=LINE_DEADLINE, after=None):
        """The first matching line after the mark (and after line @after)."""
        end = time.monotonic() + deadline
        while True:
            for i, m in self.find(pattern):
                if after is None or i > after:
                    return i, m
            if time.monotonic() >= end:
                raise AssertionError(
                    f"no line matching {pattern.pattern!r} in the serial log within "
                    f"{deadline:.0f} s; the log ends with:\n{self.tail()}")
            time.sleep(POLL)

    def counters(self):
        return [(i, int(m.group(1))) for i, m in self.find(COUNTER)]

    def tail(self, n=15):
        lines, _ = self.lines()
        return "\n".join(lines[-n:]) or "(empty)"


class GuestTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vmsnap-it-")
        # Registered first so it runs last, after the QEMU cleanup.
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.addCleanup(self.stop_all_qemu)
        self.state = os.path.join(self.tmp, "state")
        self.env = dict(os.environ)
        self.env.pop("VMSNAP_DIR", None)
        self.env["TMPDIR"] = self.tmp
        self.serial = SerialLog(self.run_path("serial.log"))

    # -- running vmsnap -------------------------------------------------

    def vmsnap(self, *args):
        """Run vmsnap on this test's state dir: (exit code, stdout, stderr)."""
        proc = subprocess.run([VMSNAP, "--dir", self.state] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              env=self.env, timeout=COMMAND_TIMEOUT)
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def ok(self, *args):
        """Run; expect exit 0 and an empty stderr; return stdout."""
        code, out, err = self.vmsnap(*args)
        self.assertEqual((code, err), (0, ""), f"vmsnap {' '.join(args)} printed: {out}")
        return out

    def domstate(self, dom=DOM):
        return self.ok("domstate", dom).rstrip("\n")

    def run_path(self, name, dom=DOM):
        return os.path.join(self.state, "run", dom, name)

    def qemu_pid(self, dom=DOM):
        try:
            with open(self.run_path("qemu.pid", dom)) as f:
                return int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None

    # -- cleanup --------------------------------------------------------

    def stop_all_qemu(self):
        """No QEMU outlives a test: `vmsnap destroy`, then kill by pid."""
        domains = os.path.join(self.state, "domains")
        for dom in sorted(os.listdir(domains)) if os.path.isdir(domains) else []:
            pid = self.qemu_pid(dom)
            if pid and pid_alive(pid):
                try:
                    self.vmsnap("destroy", dom)
                except subprocess.TimeoutExpired:
                    pass
        leftovers = processes_using(self.tmp)
        for pid in leftovers:
            os.kill(pid, signal.SIGKILL)
        for pid in leftovers:
            wait_pid_gone(pid)
        if leftovers:
            raise AssertionError(f"QEMU still ran after `vmsnap destroy`: killed {leftovers}")

    # -- domains and disks ----------------------------------------------

    def make_disk(self, name, fmt, size="16M"):
        path = os.path.join(self.tmp, name)
        subprocess.run(["qemu-img", "create", "-q", "-f", fmt, path, size], check=True,
                       timeout=COMMAND_TIMEOUT)
        return path

    def define(self, disks=(("vda", "qcow2"),), dom=DOM, serial="<serial type='pty'/>"):
        """Define @dom booting the test guest with new blank disks
        (target, format); returns {target: path}."""
        paths = {}
        disk_xml = ""
        for target, fmt in disks:
            paths[target] = self.make_disk(f"{dom}-{target}.{fmt}", fmt)
            disk_xml += DISK_XML.format(fmt=fmt, path=paths[target], target=target)
        xml = DOMAIN_XML.format(name=dom, kernel=os.path.join(GUEST_DIR, "vmlinuz"),
                                initrd=os.path.join(GUEST_DIR, "initrd.img"), disks=disk_xml,
                                serial=serial)
        xml_path = os.path.join(self.tmp, f"{dom}.xml")
        with open(xml_path, "w") as f:
            f.write(xml)
        self.assertEqual(self.ok("define", xml_path),
                         f"Domain '{dom}' defined from {xml_path}\n")
        return paths

    def start(self, *options):
        """Start DOM and return the time the command was run."""
        self.serial.mark()
        t0 = time.monotonic()
        out = self.ok("start", DOM, *options)
        self.assertRegex(out, rf"^Domain '{DOM}' started( \(paused\))?\n$")
        return t0

    def boot(self):
        """Start DOM, wait for its first counter line; returns that line's index."""
        t0 = self.start()
        i, m = self.serial.wait_for(COUNTER, deadline=BOOT_DEADLINE)
        self.assertEqual(m.group(1), "0", "the first counter line after boot")
        tap.comment(f"boot time (start to first counter line): {time.monotonic() - t0:.2f} s")
        return i

    def wait_counter(self, value):
        """Wait for counter @value (or later); returns the last value seen."""
        end = time.monotonic() + LINE_DEADLINE
        while time.monotonic() < end:
            counters = self.serial.counters()
            if counters and counters[-1][1] >= value:
                return counters[-1][1]
            time.sleep(POLL)
        raise AssertionError(f"counter {value} not reached in {LINE_DEADLINE:.0f} s; "
                             f"the log ends with:\n{self.serial.tail()}")

    def assert_counting_from(self, value, after=None, lines=3):
        """The next @lines counter lines (after the mark, and after line
        @after) read value, value+1, ..."""
        last_index = after
        for expected in range(value, value + lines):
            i, m = self.serial.wait_for(COUNTER, after=last_index)
            self.assertEqual(int(m.group(1)), expected,
                             f"counter lines out of step; log ends with:\n{self.serial.tail()}")
            last_index = i

    def assert_shut_off(self, pid):
        self.assertTrue(wait_pid_gone(pid), f"QEMU (pid {pid}) still runs")
        self.assertEqual(self.domstate(), "shut off")


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


def tap_main():
    global VMSNAP, GUEST_DIR
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    VMSNAP = os.path.abspath(sys.argv[1])
    GUEST_DIR = os.path.abspath(sys.argv[2]) if sys.argv[2] else ""
    tests = tap.select(sys.modules[__name__], sys.argv[3:])

    # Missing QEMU or a missing guest fails every test, never skips: the
    # project's setup installs QEMU and builds the guest, so their absence is
    # a broken setup that CI must see (README's rule for tests needing QEMU).
    broken = None
    missing_qemu = [p for p in ("qemu-system-x86_64", "qemu-img") if not shutil.which(p)]
    if missing_qemu:
        broken = f"not found: {', '.join(missing_qemu)} (scripts/install-deps.sh installs them)"
    elif not GUEST_DIR:
        broken = ("the test guest is not built on this system: it needs apt-get and dpkg-deb "
                  "(Debian) and apt's package lists")
    elif not all(os.path.isfile(os.path.join(GUEST_DIR, p)) for p in ("vmlinuz", "initrd.img")):
        broken = (f"the test guest is missing from {GUEST_DIR}: build it with "
                  f"'ninja tests/guest/vmlinuz' in the build directory")

    return tap.run(tests, broken=broken, timed=True)


if __name__ == "__main__":
    tap.main(tap_main)
