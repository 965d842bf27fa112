#!/usr/bin/env python3
"""Integration tests: the CLI's progress bar as a user sees it on a terminal.

Usage: test_progress_bar.py VMSNAP_BINARY GUEST_DIR [TEST_NAME_PATTERN...]

A full snapshot of the running test guest saves its memory, and a revert to
it loads it back: both report progress. With standard error on a terminal
(a pty here) vmsnap draws the bar, redrawn in place with a carriage return,
ending at 100% with a newline; with standard error on a pipe it draws
nothing (GuestTestCase.ok() insists on an empty standard error).
"""

import os
import re
import select
import subprocess
import sys

from guestlib import DOM, GuestTestCase
import guestlib
import tap  # tests/tap.py, on the path guestlib sets

# "saving memory  [####################] 100%  12.3 MiB of 12.3 MiB ..."
FINISHED_BAR = r"\r{what}  \[#{{20}}\] 100%  (\d+(?:\.\d)? [KMG]?i?B) of \1"


class ProgressBarTest(GuestTestCase):

    def on_terminal(self, *args):
        """Run vmsnap with stderr on a pty: (exit code, stdout, what the
        terminal showed)."""
        leader, follower = os.openpty()
        env = dict(self.env, TERM="xterm")
        proc = subprocess.Popen([guestlib.VMSNAP, "--dir", self.state] + list(args),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=follower, env=env)
        os.close(follower)
        shown = b""
        while True:
            ready, _, _ = select.select([leader], [], [], guestlib.COMMAND_TIMEOUT)
            self.assertTrue(ready, "vmsnap printed nothing and did not exit in time")
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: every writer closed the pty
                break
            if not chunk:
                break
            shown += chunk
        os.close(leader)
        out = proc.stdout.read().decode()
        proc.stdout.close()
        return proc.wait(guestlib.COMMAND_TIMEOUT), out, shown.decode()

    def test_bar_on_a_terminal_for_save_load_and_verify(self):
        self.define()
        self.boot()
        code, out, shown = self.on_terminal("snapshot-create-as", DOM, "full")
        self.assertEqual((code, out), (0, "Domain snapshot full created\n"), shown)
        self.assertRegex(shown, FINISHED_BAR.format(what="saving memory"))
        self.assertTrue(shown.endswith("\n"), repr(shown))
        # Every line drawn is the bar: no error or warning slipped in.
        for line in re.split(r"[\r\n]+", shown):
            self.assertRegex(line, r"^(saving memory  .*)?$")

        # The revert checks the file first, then loads it: two bars.
        code, out, shown = self.on_terminal("snapshot-revert", DOM, "full")
        self.assertEqual(code, 0, shown)
        self.assertTrue(out.startswith(f"Domain '{DOM}' reverted to snapshot 'full'\n"), out)
        self.assertRegex(shown, FINISHED_BAR.format(what="verifying memory"))
        self.assertRegex(shown, FINISHED_BAR.format(what="loading memory"))

        code, out, shown = self.on_terminal("snapshot-verify", DOM)
        self.assertEqual((code, out), (0, "full: ok\n1 snapshot verified, all intact\n"), shown)
        self.assertRegex(shown, FINISHED_BAR.format(what="verifying memory"))

    def test_no_bar_on_a_pipe(self):
        self.define()
        self.boot()
        # ok() fails on anything written to standard error.
        self.assertEqual(self.ok("snapshot-create-as", DOM, "full"),
                         "Domain snapshot full created\n")
        self.assertTrue(self.ok("snapshot-revert", DOM, "full").startswith(
            f"Domain '{DOM}' reverted to snapshot 'full'\n"))


if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
