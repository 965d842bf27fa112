#!/usr/bin/env python3
"""Integration tests: several vmsnap processes at once (issue 6).

Usage: test_concurrency.py VMSNAP_BINARY GUEST_DIR [TEST_NAME_PATTERN...]

- Eight commands at once on one domain (create, delete, revert, list,
  verify) serialize on the domain's lock: each succeeds, and the tree they
  leave is consistent — every snapshot verifies, every image is clean, no
  file is left that nothing uses.
- Commands on different domains do not wait for each other; a command on a
  locked domain waits, and goes on when the holder dies (the kernel drops a
  dead process's flock).
- Readers never see a half-written file: listings and dumps taken while
  another process rewrites the metadata always parse.
"""

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

from guestlib import DOM, GuestTestCase, check_image
import guestlib
import tap


class ConcurrencyTest(GuestTestCase):

    def spawn(self, *args):
        return subprocess.Popen([guestlib.VMSNAP, "--dir", self.state] + list(args),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env)

    def finish(self, proc):
        out, err = proc.communicate(timeout=guestlib.COMMAND_TIMEOUT)
        return proc.returncode, out.decode(), err.decode()

    def lock_path(self, dom):
        return os.path.join(self.state, "domains", dom, "lock")

    def hold_lock(self, dom):
        """A child process holding @dom's lock, as a long command would."""
        return subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl, sys, time\n"
             "f = open(sys.argv[1], 'r+')\n"
             "fcntl.flock(f, fcntl.LOCK_EX)\n"
             "print('locked', flush=True)\n"
             "time.sleep(600)\n", self.lock_path(dom)],
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def test_eight_commands_at_once_on_one_domain(self):
        self.define()
        for name in ("a", "b", "c"):
            self.ok("snapshot-create-as", DOM, name)
        procs = {
            "create n1": self.spawn("snapshot-create-as", DOM, "n1"),
            "create n2": self.spawn("snapshot-create-as", DOM, "n2"),
            "create n3": self.spawn("snapshot-create-as", DOM, "n3", "--diskspec",
                                    "vda,snapshot=internal"),
            "delete b": self.spawn("snapshot-delete", DOM, "b"),
            "revert a": self.spawn("snapshot-revert", DOM, "a"),
            "list json": self.spawn("snapshot-list", DOM, "--json"),
            "list tree": self.spawn("snapshot-list", DOM, "--tree"),
            "verify": self.spawn("snapshot-verify", DOM),
        }
        results = {what: self.finish(p) for what, p in procs.items()}
        for what, (code, out, err) in results.items():
            self.assertEqual((code, err), (0, ""), f"{what}: {out}")
        json.loads(results["list json"][1])
        self.assertEqual(sorted(self.ok("snapshot-list", DOM, "--name").split()),
                         ["a", "c", "n1", "n2", "n3"])
        verified = self.ok("snapshot-verify", DOM)
        self.assertTrue(verified.endswith("5 snapshots verified, all intact\n"), verified)
        used = self.files_in_use()
        on_disk = {os.path.join(self.disk_dir, f) for f in os.listdir(self.disk_dir)}
        self.assertEqual(on_disk, used, "files nothing uses, or used files missing")
        for path in on_disk:
            self.assertIsNone(check_image(path))

    def test_domains_do_not_wait_for_each_other(self):
        self.define(dom="one")
        self.define(dom="two")
        holder = self.hold_lock("one")
        self.addCleanup(lambda: holder.poll() is None and holder.kill())
        self.assertEqual(holder.stdout.readline(), b"locked\n")
        # "one" is taken: a command on it waits ...
        waiting = self.spawn("snapshot-create-as", "one", "s1")
        # ... while "two" goes on at once.
        self.assertEqual(self.ok("snapshot-create-as", "two", "s1"), "Domain snapshot s1 created\n")
        self.assertEqual(self.ok("snapshot-list", "two", "--name"), "s1\n")
        self.assertIsNone(waiting.poll(), "a command on a locked domain did not wait")
        # The holder dies without unlocking: the kernel drops its lock.
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        self.assertEqual(self.finish(waiting), (0, "Domain snapshot s1 created\n", ""))
        self.assertEqual(self.ok("snapshot-list", "one", "--name"), "s1\n")

    def test_readers_never_see_half_written_files(self):
        self.define()
        self.ok("snapshot-create-as", DOM, "base")
        writer = subprocess.Popen(
            ["sh", "-c",
             'for i in $(seq 1 40); do '
             '"$0" --dir "$1" snapshot-rename guest base renamed && '
             '"$0" --dir "$1" snapshot-desc guest renamed "pass $i" && '
             '"$0" --dir "$1" snapshot-rename guest renamed base || exit 1; done',
             guestlib.VMSNAP, self.state],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env=self.env)
        reads = 0
        while writer.poll() is None:
            code, out, err = self.vmsnap("snapshot-list", DOM, "--json")
            self.assertEqual((code, err), (0, ""))
            names = [s["name"] for s in json.loads(out)]
            self.assertEqual(len(names), 1, out)
            code, out, err = self.vmsnap("snapshot-dumpxml", DOM, names[0])
            # Renamed in between: a clean "no such snapshot", never a torn file.
            if code == 0:
                ET.fromstring(out)
            else:
                self.assertRegex(err, r"^error: domain 'guest' has no snapshot named '\w+'\n$")
            reads += 1
        self.assertEqual(writer.wait(), 0, writer.stderr.read().decode())
        tap.comment(f"{reads} listings and dumps while the metadata was rewritten")
        self.assertGreater(reads, 0)


if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
