#!/usr/bin/env python3
"""Snapshots of shut-off domains under random sequences of create, revert and
delete (seeded, so a failure replays), checked after every step against a
model of what each snapshot and the current state hold; plus the
regressions they found (a delete that can merge only some disks keeps the
frozen file an internal snapshot needs; deleting an internal snapshot frees
the file a revert kept only for it).
Usage: test_snapshots_random.py VMSNAP GUEST_DIR [PATTERN...]"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import guestlib  # noqa: E402
import tap  # noqa: E402
from guestlib import DOM, internal_tags  # noqa: E402,F401
from test_snapshots_offline import TWO_QCOW2, SnapshotTestCase  # noqa: E402

INTERNAL = ["--diskspec", "vda,snapshot=internal", "--diskspec", "vdb,snapshot=internal"]


class DeleteRegressionTest(SnapshotTestCase):

    def test_internal_snapshot_frees_the_file_kept_for_it(self):
        # e1's overlays are the active layers when i2 is taken; the revert to
        # e1 keeps them only for i2's tags: deleting i2 must remove them.
        self.define_disks(TWO_QCOW2)
        self.write_disks(1)
        self.create("e1", 1)
        self.write_disks(2)
        self.create("i2", 2, *INTERNAL)
        self.revert("e1")
        self.assert_files()
        self.delete("i2")
        self.assert_every_snapshot_reverts()
        self.delete("e1")
        self.assertEqual(self.snapshot_names(), [])

    def test_delete_keeps_the_frozen_file_an_internal_snapshot_needs(self):
        # vda's part of deleting e1 merges, vdb's cannot (i2 is in the file
        # it would merge into): e1's point goes, vdb's frozen file stays
        # under i2's file, and every snapshot keeps its contents.
        self.define_disks(TWO_QCOW2)
        self.write_disks(1)
        self.create("e1", 1)
        self.write_disks(2)
        self.create("i2", 2, "--diskspec", "vda,snapshot=external",
                    "--diskspec", "vdb,snapshot=internal")
        self.write_disks(3)
        self.delete("e1")
        self.assert_every_snapshot_reverts(boot_last=False)


class RandomOperationsTest(SnapshotTestCase):
    """Random sequences of create (each disk internal or external), revert,
    delete (plain, --children, --children-only) and disk writes, checked
    after every step against a model; a refusal must change nothing."""

    def run_seed(self, seed, steps=40):
        rnd = random.Random(seed)
        self.define_disks(TWO_QCOW2)
        value = number = 0
        log = []
        try:
            for _step in range(steps):
                names = sorted(self.parents)
                op = rnd.choice(["create"] * 4 + ["revert"] * 2 + ["delete"] * 2 + ["write"])
                if op == "create" or not names:
                    value += 1
                    number += 1
                    self.write_disks(value)
                    kinds = [rnd.choice(["internal", "external"]) for _ in range(2)]
                    log.append(f"write {value}; create s{number} vda {kinds[0]} vdb {kinds[1]}")
                    self.create(f"s{number}", value, "--diskspec", f"vda,snapshot={kinds[0]}",
                                "--diskspec", f"vdb,snapshot={kinds[1]}")
                elif op == "write":
                    value += 1
                    log.append(f"write {value}")
                    self.write_disks(value)
                elif op == "revert":
                    name = rnd.choice(names)
                    log.append(f"revert {name}")
                    self.revert(name)
                else:
                    name = rnd.choice(names)
                    options = rnd.choice([(), (), (), ("--children",), ("--children-only",)])
                    log.append(f"delete {name} {' '.join(options)}")
                    self.delete_or_refuse(name, options)
                self.assert_files()
            self.assert_every_snapshot_reverts(boot_last=False)
        finally:
            tap.comment("\n".join(log))

    def delete_or_refuse(self, name, options):
        """Delete as SnapshotTestCase.delete() does, or accept a refusal that
        changed nothing."""
        files = sorted(os.listdir(self.disk_dir))
        tags = {f: internal_tags(os.path.join(self.disk_dir, f)) for f in files
                if f.endswith(".qcow2")}
        before = self.current_disks()
        exported = self.export_current()
        code, out, err = self.vmsnap("snapshot-delete", DOM, name, *options)
        if code == 0:
            self.assertEqual(err, "")
            self.account_delete(name, options, out)
            self.assert_current_is(exported, f"deleting {name}")
            self.assert_tree()
            return
        self.assertEqual((code, out), (1, ""))
        self.assertTrue(err.startswith("error: "), err)
        tap.comment(f"refused: {err.strip()}")
        self.assertEqual(sorted(os.listdir(self.disk_dir)), files, "a refused delete changed files")
        self.assertEqual({f: internal_tags(os.path.join(self.disk_dir, f)) for f in files
                          if f.endswith(".qcow2")}, tags)
        self.assertEqual(self.current_disks(), before)
        self.assert_tree()



for _seed in range(1, 7):
    setattr(RandomOperationsTest, f"test_seed_{_seed}",
            lambda self, s=_seed: self.run_seed(s))

if __name__ == "__main__":
    tap.main(lambda: guestlib.main(sys.modules[__name__], __doc__))
