"""guestlib.py: what the integration tests share — the test guest's domain
XML, reading its serial log with deadlines, a TestCase base class that gives
each test a fresh state directory and disks and never leaves a QEMU behind,
qemu-img helpers for checking images, and the TAP entry point.

docs/guest.md describes what the guest prints. Standard library only.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tap  # noqa: E402  (tests/tap.py)

# Set by main() from the command line.
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
        # The disks alone, so a test can list every image file it has.
        self.disk_dir = os.path.join(self.tmp, "disks")
        os.mkdir(self.disk_dir)
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
        path = os.path.join(self.disk_dir, name)
        qemu_img("create", "-q", "-f", fmt, path, size)
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

    def last_counter(self):
        """The last counter value the guest printed; None before the first."""
        counters = self.serial.counters()
        return counters[-1][1] if counters else None

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

    def wait_disk_lines(self):
        """After a start (the mark): the disk counters the guest read at
        boot, {"vda": "N" or "none", ...}, once it says it is ready."""
        ready, _ = self.serial.wait_for(READY, deadline=BOOT_DEADLINE)
        return {m.group(1): m.group(2) for i, m in self.serial.find(DISK) if i < ready}

    def files_in_use(self, dom=DOM):
        """Every image the current state or a snapshot of @dom needs: the
        current disks and each snapshot's files, with their backing chains."""
        roots = [d.find("source").get("file")
                 for d in ET.fromstring(self.ok("dumpxml", dom)).iterfind("devices/disk")]
        for name in self.ok("snapshot-list", dom, "--name").split():
            xml = ET.fromstring(self.ok("snapshot-dumpxml", dom, name))
            roots += [d.find("source").get("file")
                      for d in xml.iterfind("domain/devices/disk")]
        used = set()
        for root in roots:
            used |= {f for f, _fmt in backing_chain(root)}
        return used

    def assert_shut_off(self, pid):
        self.assertTrue(wait_pid_gone(pid), f"QEMU (pid {pid}) still runs")
        self.assertEqual(self.domstate(), "shut off")

    def shutdown(self):
        """Power DOM off with the ACPI button; returns the last counter the
        guest printed (the value its disks hold: docs/guest.md)."""
        pid = self.qemu_pid()
        self.assertEqual(self.ok("shutdown", DOM, "--timeout", "60"),
                         f"Domain '{DOM}' is being shutdown\nDomain '{DOM}' is shut off\n")
        self.assert_shut_off(pid)
        counters = self.serial.counters()
        self.assertTrue(counters, f"no counter line before shutdown:\n{self.serial.tail()}")
        return counters[-1][1]


# -- images ---------------------------------------------------------------

def qemu_img(*args, ok_codes=(0,)):
    """Run qemu-img; returns (exit code, stdout). Any exit code outside
    @ok_codes is an AssertionError carrying qemu-img's messages."""
    proc = subprocess.run(["qemu-img"] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=COMMAND_TIMEOUT)
    if proc.returncode not in ok_codes:
        raise AssertionError(f"qemu-img {' '.join(args)} exited {proc.returncode}: "
                             f"{proc.stdout.decode()}{proc.stderr.decode()}")
    return proc.returncode, proc.stdout.decode()


# Reading images always shares them (-U): a running QEMU may hold them, and
# reading never changes them.

def backing_chain(path):
    """[(file, format), ...] from @path down to its last backing file."""
    _code, out = qemu_img("info", "-U", "--output=json", "--backing-chain", path)
    return [(entry["filename"], entry["format"]) for entry in json.loads(out)]


def image_format(path):
    return backing_chain(path)[0][1]


def internal_tags(path):
    """Names of the internal snapshots in qcow2 @path."""
    _code, out = qemu_img("info", "-U", "--output=json", path)
    return sorted(s["name"] for s in json.loads(out).get("snapshots", []))


def check_image(path):
    """qemu-img check finds no error and no leak in @path (a qcow2; raw
    images have nothing to check). Returns qemu-img's report on failure,
    None when clean."""
    if image_format(path) != "qcow2":
        return None
    code, out = qemu_img("check", "--output=json", path, ok_codes=(0, 1, 2, 3))
    report = json.loads(out) if out.strip() else {}
    if code != 0 or report.get("leaks", 0) or report.get("corruptions", 0):
        return f"{path}: exit {code}, {out.strip()}"
    return None


def same_contents(a, b):
    """True if images @a and @b (any formats) read the same bytes."""
    code, _out = qemu_img("compare", a, b, ok_codes=(0, 1))
    return code == 0


def export_raw(path, dest, tag=None):
    """A raw copy of what @path (or its internal snapshot @tag) reads now,
    its whole backing chain."""
    with_tag = ["-l", f"snapshot.name={tag}"] if tag else []
    qemu_img("convert", "-U", *with_tag, "-O", "raw", path, dest)
    return dest


def counter_sector(value):
    """The first sector as the guest writes it (docs/guest.md)."""
    return f"VMSNAPCOUNTER {value}\n".encode().ljust(512, b"\0")


def read_counter(path):
    """The counter in @path's first sector as the guest would read it at
    boot: "N", or "none" when the sector holds no counter."""
    proc = subprocess.run(["qemu-io", "-r", "-f", image_format(path), "-c", "read -v 0 512", path],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=COMMAND_TIMEOUT,
                          check=True)
    data = bytearray()
    for line in proc.stdout.decode().splitlines():
        # "00000000:  56 4d 53 ...  VMS..." : offset, 16 hex bytes, text.
        m = re.match(r"^[0-9a-f]{8}:\s+((?:[0-9a-f]{2} ){1,16})", line)
        if m:
            data += bytes.fromhex(m.group(1))
    m = re.match(rb"^VMSNAPCOUNTER (\d+)\n", bytes(data[:512]))
    return m.group(1).decode() if m else "none"


def write_counter(path, value):
    """Write counter @value to @path's first sector as the guest does, for a
    shut-off domain (no boot needed to give a disk a new state)."""
    with tempfile.NamedTemporaryFile(prefix="sector-") as sector:
        sector.write(counter_sector(value))
        sector.flush()
        subprocess.run(["qemu-io", "-f", image_format(path), "-c",
                        f"write -q -s {sector.name} 0 512", path],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=COMMAND_TIMEOUT,
                       check=True)


# -- entry point ------------------------------------------------------------

def main(module, usage):
    """TAP entry point of an integration test file: argv is VMSNAP_BINARY
    GUEST_DIR [TEST_NAME_PATTERN...]."""
    global VMSNAP, GUEST_DIR
    if len(sys.argv) < 3:
        sys.stderr.write(usage)
        return 2
    VMSNAP = os.path.abspath(sys.argv[1])
    GUEST_DIR = os.path.abspath(sys.argv[2]) if sys.argv[2] else ""
    tests = tap.select(module, sys.argv[3:])

    # Missing QEMU or a missing guest fails every test, never skips: the
    # project's setup installs QEMU and builds the guest, so their absence is
    # a broken setup that CI must see (README's rule for tests needing QEMU).
    broken = None
    missing_qemu = [p for p in ("qemu-system-x86_64", "qemu-img", "qemu-io")
                    if not shutil.which(p)]
    if missing_qemu:
        broken = f"not found: {', '.join(missing_qemu)} (scripts/install-deps.sh installs them)"
    elif not GUEST_DIR:
        broken = ("the test guest is not built on this system: it needs apt-get and dpkg-deb "
                  "(Debian) and apt's package lists")
    elif not all(os.path.isfile(os.path.join(GUEST_DIR, p)) for p in ("vmlinuz", "initrd.img")):
        broken = (f"the test guest is missing from {GUEST_DIR}: build it with "
                  f"'ninja tests/guest/vmlinuz' in the build directory")

    return tap.run(tests, broken=broken, timed=True)


