#!/usr/bin/env python3
"""End-to-end tests of the vmsnap command-line tool.

Usage: test_cli.py VMSNAP_BINARY DATA_DIR [TEST_NAME_PATTERN...]

Every test runs the built binary against a fresh temporary state directory
(--dir) and checks what a user sees: exact stdout, exact stderr, exit code,
JSON parsed with json.loads. Output is TAP, one line per test, so meson
counts the tests one by one.

VMSNAP_CLI_WRAPPER, if set, is prepended to every vmsnap invocation
(e.g. "valgrind --error-exitcode=99 --leak-check=full -q").
"""

import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tap  # noqa: E402  (tests/tap.py)

VMSNAP = None
DATA = None

DEMO_UUID = "8f5d2c1e-3b4a-4c6d-9e8f-0a1b2c3d4e5f"

# (file, name, parent, creation time, state, location, memory, description)
TREE = [
    ("1-base", "base", None, 1700000000, "shutoff", "internal", False,
     "Fresh install of the base system"),
    ("2-installed", "installed", "base", 1700000100, "shutoff", "internal", False, None),
    ("3-experiment", "experiment", "base", 1700000200, "shutoff", "internal", False, None),
    ("4-before-upgrade", "before upgrade", "installed", 1700000300, "running", "internal",
     True, "Before the <big> upgrade & reboot"),
    ("5-upgraded", "upgraded", "before upgrade", 1700000400, "running", "internal", True, None),
    ("6-unicode", "ünïcødé ☃", "installed", 1700000500, "disk-snapshot", "external", False,
     None),
    ("7-other-root", "other-root", None, 1700000600, "shutoff", "internal", False, None),
    ("8-quoted", 'it\'s "quoted"', "other-root", 1700000700, "paused", "internal", True, None),
]
# Library order: sorted by name (bytes).
NAMES_SORTED = ["base", "before upgrade", "experiment", "installed", 'it\'s "quoted"',
                "other-root", "upgraded", "ünïcødé ☃"]
CURRENT = "installed"

TREE_TEXT = (
    "base\n"
    "  |\n"
    "  +- experiment\n"
    "  +- installed\n"
    "      |\n"
    "      +- before upgrade\n"
    "      |   |\n"
    "      |   +- upgraded\n"
    "      |     \n"
    "      +- ünïcødé ☃\n"
    "        \n"
    "other-root\n"
    "  |\n"
    "  +- it's \"quoted\"\n"
    "    \n"
)

SNAPSHOT_LIST_USAGE = (
    "usage: vmsnap snapshot-list DOM [--parent | --roots | --tree] "
    "[{--from SNAP | --current} [--descendants]] [--leaves] [--no-leaves] [--inactive] "
    "[--active] [--disk-only] [--internal] [--external] [--topological] [--name | --json]\n"
)


def snapshot_json(name, children=None):
    """The JSON object snapshot-list --json prints for one snapshot of TREE."""
    for _file, n, parent, when, state, location, memory, desc in TREE:
        if n == name:
            obj = {"name": n, "parent": parent, "state": state, "creation_time": when,
                   "description": desc, "current": n == CURRENT, "location": location,
                   "memory": memory}
            obj["children"] = (children if children is not None else
                               sum(1 for t in TREE if t[2] == n))
            return obj
    raise KeyError(name)


class CliTestCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vmsnap-cli-")
        self.state = os.path.join(self.tmp, "state")
        self.env = dict(os.environ)
        self.env.pop("VMSNAP_DIR", None)
        self.env["TZ"] = "UTC"
        self.env["TMPDIR"] = self.tmp

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def data(self, *parts):
        return os.path.join(DATA, *parts)

    def vmsnap(self, *args, stdin=None, env=None, use_dir=True, stdout=None):
        cmd = shlex.split(os.environ.get("VMSNAP_CLI_WRAPPER", "")) + [VMSNAP]
        if use_dir:
            cmd += ["--dir", self.state]
        cmd += list(args)
        proc = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None,
                              stdout=stdout if stdout is not None else subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env or self.env, timeout=60)
        out = proc.stdout.decode("utf-8") if proc.stdout is not None else ""
        return proc.returncode, out, proc.stderr.decode("utf-8")

    def ok(self, *args, **kw):
        """Run; expect success and nothing on stderr; return stdout."""
        code, out, err = self.vmsnap(*args, **kw)
        self.assertEqual((code, err), (0, ""), f"vmsnap {' '.join(args)}: {out}")
        return out

    def fails(self, *args, code=1, **kw):
        """Run; expect exit code @code and nothing on stdout; return stderr."""
        got, out, err = self.vmsnap(*args, **kw)
        self.assertEqual((got, out), (code, ""), f"vmsnap {' '.join(args)}: {err}")
        return err

    def assert_usage_error(self, args, message, usage):
        err = self.fails(*args, code=2)
        self.assertEqual(err, f"error: {message}\n{usage}")

    def define_demo(self):
        return self.ok("define", self.data("demo.xml"))

    def snapshot_file(self, file):
        return self.data("snapshots", file + ".xml")

    def build_tree(self):
        self.define_demo()
        for file, name, *_rest in TREE:
            args = ["snapshot-create", "demo", self.snapshot_file(file), "--redefine"]
            if name == CURRENT:
                args.append("--current")
            out = self.ok(*args)
            self.assertEqual(out, f"Domain snapshot {name} created from "
                                  f"'{self.snapshot_file(file)}'\n")

    def names(self, *args):
        return self.ok("snapshot-list", "demo", "--name", *args).splitlines()

    def write_script(self, name, body):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body)
        os.chmod(path, stat.S_IRWXU)
        return path


class GlobalOptionsTest(CliTestCase):
    def test_version(self):
        self.assertEqual(self.ok("--version", use_dir=False), "vmsnap 0.3.0\n")

    def test_help_lists_every_command(self):
        out = self.ok("--help", use_dir=False)
        self.assertTrue(out.startswith("usage: vmsnap [--dir DIR] COMMAND [ARGS...]\n"))
        for cmd in ["define", "undefine", "list", "dumpxml", "dominfo", "snapshot-create",
                    "snapshot-list", "snapshot-dumpxml", "snapshot-info", "snapshot-parent",
                    "snapshot-current", "snapshot-rename", "snapshot-desc", "snapshot-edit",
                    "snapshot-delete", "snapshot-deactivate"]:
            self.assertIn(f"\n  {cmd} ", out)
        self.assertEqual(self.ok("help", use_dir=False), out)

    def test_help_for_one_command(self):
        out = self.ok("help", "snapshot-list", use_dir=False)
        self.assertEqual(out.splitlines()[0], SNAPSHOT_LIST_USAGE.rstrip("\n"))
        self.assertIn("\n  --descendants ", out)
        self.assertEqual(self.ok("snapshot-list", "--help", use_dir=False), out)

    def test_help_unknown_command(self):
        self.assert_usage_error(["help", "bogus"],
                                "unknown command 'bogus'; run 'vmsnap help' for the list",
                                "usage: vmsnap help [COMMAND]\n")

    def test_no_command(self):
        err = self.fails(code=2, use_dir=False)
        self.assertEqual(err, "error: no command given\nusage: vmsnap [--dir DIR] COMMAND "
                              "[ARGS...]; run 'vmsnap help' for the commands\n")

    def test_unknown_command(self):
        err = self.fails("bogus", code=2)
        self.assertEqual(err, "error: unknown command 'bogus'; run 'vmsnap help' for the list\n")

    def test_unknown_global_option(self):
        err = self.fails("--bogus", "list", code=2, use_dir=False)
        self.assertEqual(err, "error: unknown global option '--bogus'; run 'vmsnap --help'\n")

    def test_dir_needs_value(self):
        err = self.fails("--dir", code=2, use_dir=False)
        self.assertEqual(err, "error: option --dir needs a value (DIR)\n")

    def test_state_dir_from_environment_and_dir_equals(self):
        env = dict(self.env, VMSNAP_DIR=self.state)
        self.ok("define", self.data("demo.xml"), env=env, use_dir=False)
        self.assertEqual(self.ok(f"--dir={self.state}", "list", "--all", "--name",
                                 use_dir=False), "demo\n")
        # --dir wins over VMSNAP_DIR.
        other = os.path.join(self.tmp, "other")
        self.assertEqual(self.ok("--dir", other, "list", "--all", "--name", env=env,
                                 use_dir=False), "")

    def test_unknown_option_of_a_command(self):
        self.assert_usage_error(["list", "--bogus"], "unknown option --bogus",
                                "usage: vmsnap list [--all] [--name] [--json]\n")

    def test_single_dash_option_is_refused(self):
        self.assert_usage_error(["list", "-a"], "unknown option -a (options are spelled --name)",
                                "usage: vmsnap list [--all] [--name] [--json]\n")

    def test_missing_and_extra_arguments(self):
        self.assert_usage_error(["dumpxml"], "missing argument DOM", "usage: vmsnap dumpxml DOM\n")
        self.assert_usage_error(["dumpxml", "a", "b"], "unexpected argument 'b'",
                                "usage: vmsnap dumpxml DOM\n")

    def test_option_given_twice(self):
        self.assert_usage_error(["list", "--all", "--all"], "option --all was given more than once",
                                "usage: vmsnap list [--all] [--name] [--json]\n")

    def test_bool_option_with_value(self):
        self.assert_usage_error(["list", "--all=yes"], "option --all takes no value",
                                "usage: vmsnap list [--all] [--name] [--json]\n")

    def test_named_positional_and_double_dash(self):
        self.build_tree()
        self.assertEqual(self.ok("snapshot-parent", "--domain", "demo", "--snapshotname=upgraded"),
                         "before upgrade\n")
        self.assertEqual(self.ok("snapshot-parent", "demo", "--", "upgraded"), "before upgrade\n")

    def test_unwritable_output_fails(self):
        self.define_demo()
        with open("/dev/full", "w") as full:
            code, _out, err = self.vmsnap("dumpxml", "demo", stdout=full)
        self.assertEqual((code, err),
                         (1, "error: cannot write the output: No space left on device\n"))


class DomainTest(CliTestCase):
    def test_define(self):
        self.assertEqual(self.define_demo(),
                         f"Domain 'demo' defined from {self.data('demo.xml')}\n")

    def test_define_from_stdin_with_wide_name(self):
        with open(self.data("other.xml")) as f:
            xml = f.read()
        self.assertEqual(self.ok("define", "-", stdin=xml), "Domain '日本 vm' defined from -\n")

    def test_define_missing_file(self):
        path = self.data("no-such-file.xml")
        self.assertEqual(self.fails("define", path),
                         f"error: cannot open '{path}': No such file or directory\n")

    def test_define_malformed_xml(self):
        err = self.fails("define", self.data("malformed-domain.xml"))
        self.assertEqual(err, "error: XML is not well formed: line 3: Premature end of data in "
                              "tag domain line 1\n")
        self.assertEqual(self.ok("list", "--all", "--name"), "")

    def test_define_unsupported_element_is_named(self):
        err = self.fails("define", self.data("unsupported-domain.xml"))
        self.assertEqual(err, "error: line 7: unsupported element <graphics> in <devices>; vmsnap "
                              "supports <emulator>, <disk> and one <serial>, and keeps "
                              "<controller>, <console>, <input> and <memballoon> as they are\n")

    def test_list_without_all_shows_running_domains_only(self):
        self.define_demo()
        self.assertEqual(self.ok("list"), " Name   State   Snapshots\n"
                                          "---------------------------\n")
        self.assertEqual(self.ok("list", "--name"), "")
        self.assertEqual(json.loads(self.ok("list", "--json")), [])

    def test_list_all_table_aligns_wide_characters(self):
        self.build_tree()
        self.ok("define", self.data("other.xml"))
        self.assertEqual(self.ok("list", "--all"),
                         " Name      State      Snapshots\n"
                         "---------------------------------\n"
                         " demo      shut off   8\n"
                         " 日本 vm   shut off   0\n")

    def test_list_all_names_and_json(self):
        self.build_tree()
        self.ok("define", self.data("other.xml"))
        self.assertEqual(self.ok("list", "--all", "--name"), "demo\n日本 vm\n")
        doms = json.loads(self.ok("list", "--all", "--json"))
        self.assertEqual(doms[0], {"name": "demo", "uuid": DEMO_UUID, "state": "shut off",
                                   "snapshots": 8})
        self.assertEqual(doms[1]["name"], "日本 vm")
        self.assertRegex(doms[1]["uuid"], r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")
        self.assertEqual(len(doms), 2)

    def test_list_name_and_json_exclusive(self):
        self.assert_usage_error(["list", "--name", "--json"],
                                "options --name and --json are mutually exclusive",
                                "usage: vmsnap list [--all] [--name] [--json]\n")

    def test_dumpxml_round_trips(self):
        self.define_demo()
        xml = self.ok("dumpxml", "demo")
        self.assertTrue(xml.startswith("<domain"))
        self.assertIn("<name>demo</name>", xml)
        self.assertIn(f"<uuid>{DEMO_UUID}</uuid>", xml)
        self.assertTrue(xml.endswith("</domain>\n"))
        self.assertEqual(self.ok("define", "-", stdin=xml), "Domain 'demo' defined from -\n")
        self.assertEqual(self.ok("dumpxml", "demo"), xml)

    def test_unknown_domain(self):
        for args in (["dumpxml", "nope"], ["dominfo", "nope"], ["undefine", "nope"],
                     ["snapshot-list", "nope"], ["snapshot-list", "nope", "--json"],
                     ["snapshot-info", "nope", "x"], ["snapshot-current", "nope"]):
            self.assertEqual(self.fails(*args), "error: domain 'nope' does not exist\n",
                             args)

    def test_dominfo(self):
        self.build_tree()
        self.assertEqual(self.ok("dominfo", "demo"),
                         "Name:             demo\n"
                         f"UUID:             {DEMO_UUID}\n"
                         "Max memory:       524288 KiB\n"
                         "CPU(s):           2\n"
                         "State:            shut off\n"
                         "Snapshots:        8\n"
                         "Current snapshot: installed\n")

    def test_dominfo_without_snapshots(self):
        self.define_demo()
        out = self.ok("dominfo", "demo")
        self.assertTrue(out.endswith("Snapshots:        0\nCurrent snapshot: -\n"), out)
        self.assertEqual(json.loads(self.ok("dominfo", "demo", "--json")),
                         {"name": "demo", "uuid": DEMO_UUID, "max_memory_kib": 524288,
                          "vcpus": 2, "state": "shut off", "snapshots": 0,
                          "current_snapshot": None})

    def test_dominfo_json(self):
        self.build_tree()
        self.assertEqual(json.loads(self.ok("dominfo", "demo", "--json")),
                         {"name": "demo", "uuid": DEMO_UUID, "max_memory_kib": 524288,
                          "vcpus": 2, "state": "shut off", "snapshots": 8,
                          "current_snapshot": "installed"})

    def test_undefine(self):
        self.define_demo()
        self.assertEqual(self.ok("undefine", "demo"), "Domain 'demo' has been undefined\n")
        self.assertEqual(self.ok("list", "--all", "--name"), "")

    def test_undefine_with_snapshots_is_refused(self):
        self.build_tree()
        err = self.fails("undefine", "demo")
        self.assertEqual(err, "error: domain 'demo' has 8 snapshots; undefine it with "
                              "--snapshots-metadata to remove their metadata too (disk images "
                              "are kept)\n")
        self.assertEqual(self.ok("list", "--all", "--name"), "demo\n")
        self.assertEqual(self.ok("undefine", "demo", "--snapshots-metadata"),
                         "Domain 'demo' has been undefined\n")
        self.assertEqual(self.ok("list", "--all", "--name"), "")


class SnapshotCreateTest(CliTestCase):
    def test_redefine_tree(self):
        self.build_tree()
        self.assertEqual(self.names(), NAMES_SORTED)

    def test_create_from_stdin(self):
        self.define_demo()
        with open(self.snapshot_file("1-base")) as f:
            xml = f.read()
        self.assertEqual(self.ok("snapshot-create", "demo", "-", "--redefine", stdin=xml),
                         "Domain snapshot base created from '-'\n")

    def test_create_from_xl_config_prints_warning(self):
        self.define_demo()
        path = self.data("snapshots", "xl-config.cfg")
        code, out, err = self.vmsnap("snapshot-create", "demo", path, "--redefine",
                                     "--validate")
        self.assertEqual((code, out, err), (
            0, f"Domain snapshot from-xl created from '{path}'\n",
            "warning: creationtime is set by vmsnap when the snapshot is taken; the value in "
            "the config is ignored\n"))
        self.assertEqual(self.ok("snapshot-desc", "demo", "from-xl"), "made from an xl config\n")

    def test_create_without_redefine_takes_the_snapshot(self):
        # Not a redefinition: the snapshot is taken, so the disk must exist
        # (tests/integration takes real ones).
        self.define_demo()
        err = self.fails("snapshot-create", "demo", self.snapshot_file("1-base"))
        self.assertEqual(err, "error: cannot use image '/var/lib/vmsnap-test/demo.qcow2': No such "
                              "file or directory\n")
        self.assertEqual(self.names(), [])

    def test_create_malformed_xml(self):
        self.define_demo()
        err = self.fails("snapshot-create", "demo", self.snapshot_file("malformed"), "--redefine")
        self.assertEqual(err, "error: XML is not well formed: line 3: Premature end of data in "
                              "tag name line 2\n")
        self.assertEqual(self.names(), [])

    def test_create_missing_file(self):
        self.define_demo()
        path = self.data("snapshots", "missing.xml")
        self.assertEqual(self.fails("snapshot-create", "demo", path, "--redefine"),
                         f"error: cannot open '{path}': No such file or directory\n")

    def test_create_unknown_parent(self):
        self.define_demo()
        err = self.fails("snapshot-create", "demo", self.snapshot_file("2-installed"),
                         "--redefine")
        self.assertEqual(err, "error: the parent of snapshot 'installed', 'base', is not a "
                              "snapshot of domain 'demo'; redefine the parent first\n")

    def test_create_needs_file(self):
        self.assert_usage_error(["snapshot-create", "demo"], "missing argument FILE",
                                "usage: vmsnap snapshot-create DOM FILE [--redefine [--current]] "
                                "[--validate] [--disk-only] [--no-metadata] [--halt] "
                                "[--reuse-external] [--atomic] [--live]\n")

    def test_create_as_print_xml(self):
        # What the options describe, escaped, without taking anything; a
        # relative file= is made absolute against the working directory.
        self.define_demo()
        out = self.ok("snapshot-create-as", "demo", "a<b", "--description", "x & 'y'",
                      "--memspec", "file=mem,,1.state,snapshot=external",
                      "--diskspec", "vda,snapshot=external,file=/img/o.qcow2",
                      "--compress", "raw", "--print-xml")
        cwd = os.getcwd()
        self.assertEqual(out, (
            "<domainsnapshot>\n"
            "  <name>a&lt;b</name>\n"
            "  <description>x &amp; &apos;y&apos;</description>\n"
            f"  <memory snapshot='external' file='{cwd}/mem,1.state'/>\n"
            "  <compression>raw</compression>\n"
            "  <disks>\n"
            "    <disk name='vda' snapshot='external'>\n"
            "      <source file='/img/o.qcow2'/>\n"
            "    </disk>\n"
            "  </disks>\n"
            "</domainsnapshot>\n"))
        self.assertEqual(self.names(), [])

    def test_create_as_compression_names(self):
        self.define_demo()
        err = self.fails("snapshot-create-as", "demo", "s", "--compress", "zip")
        # The XML was built from options: no line number to point at.
        self.assertEqual(err, "error: unsupported compression 'zip' in <compression>; "
                              "use gzip, zstd or raw\n")
        err = self.fails("snapshot-create-as", "demo", "s", "--diskspec", "vda,snapshot=sideways")
        self.assertEqual(err, "error: unsupported snapshot mode 'sideways' in <disk>; use "
                              "snapshot='no', 'internal', 'external' or 'manual'\n")
        self.assertEqual(self.names(), [])

    def test_create_as_compress_alone_asks_for_a_memory_file(self):
        # Only a memory file is compressed; "none" is the RFC's "raw".
        self.define_demo()
        out = self.ok("snapshot-create-as", "demo", "s", "--compress", "none", "--print-xml")
        self.assertEqual(out, "<domainsnapshot>\n  <name>s</name>\n"
                              "  <memory snapshot='external'/>\n"
                              "  <compression>raw</compression>\n</domainsnapshot>\n")
        self.assert_usage_error(
            ["snapshot-create-as", "demo", "s", "--disk-only", "--compress", "zstd"],
            "--compress applies to a memory file; a --disk-only snapshot has none",
            "usage: vmsnap snapshot-create-as DOM [NAME] [--description TEXT] [--disk-only] "
            "[--diskspec SPEC]... [--memspec SPEC] [--halt] [--live] [--reuse-external] "
            "[--no-metadata] [--atomic] [--compress ALG] [--print-xml]\n")
        # A shut-off domain has no memory to compress.
        err = self.fails("snapshot-create-as", "demo", "s", "--compress", "zstd")
        self.assertEqual(err, "error: domain 'demo' is shut off: it has no memory to save; take "
                              "a disk-only snapshot\n")
        self.assertEqual(self.names(), [])

    def test_revert_keep_as_needs_a_snapshot_to_revert_to(self):
        # The lookup comes first: a wrong SNAP takes no snapshot.
        self.define_demo()
        err = self.fails("snapshot-revert", "demo", "nope", "--keep-as", "left", "--force")
        self.assertEqual(err, "error: domain 'demo' has no snapshot named 'nope'\n")
        self.assertEqual(self.names(), [])

    def test_redefine_current(self):
        self.build_tree()
        self.assertEqual(self.ok("snapshot-current", "demo", "--name"), "installed\n")


class SnapshotListTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.build_tree()

    def test_table(self):
        self.assertEqual(self.ok("snapshot-list", "demo"),
                         " Name             Creation Time               State\n"
                         "-------------------------------------------------------------\n"
                         " base             2023-11-14 22:13:20 +0000   shutoff\n"
                         " before upgrade   2023-11-14 22:18:20 +0000   running\n"
                         " experiment       2023-11-14 22:16:40 +0000   shutoff\n"
                         " installed        2023-11-14 22:15:00 +0000   shutoff\n"
                         " it's \"quoted\"    2023-11-14 22:25:00 +0000   paused\n"
                         " other-root       2023-11-14 22:23:20 +0000   shutoff\n"
                         " upgraded         2023-11-14 22:20:00 +0000   running\n"
                         " ünïcødé ☃        2023-11-14 22:21:40 +0000   disk-snapshot\n")

    def test_table_honours_tz(self):
        env = dict(self.env, TZ="Europe/Berlin")
        out = self.ok("snapshot-list", "demo", "--roots", env=env)
        self.assertIn(" base         2023-11-14 23:13:20 +0100   shutoff\n", out)

    def test_table_with_parent(self):
        self.assertEqual(self.ok("snapshot-list", "demo", "--parent", "--from", "installed",
                                 "--descendants"),
                         " Name             Creation Time               State           Parent\n"
                         "------------------------------------------------------------------"
                         "------------\n"
                         " before upgrade   2023-11-14 22:18:20 +0000   running         installed\n"
                         " upgraded         2023-11-14 22:20:00 +0000   running         "
                         "before upgrade\n"
                         " ünïcødé ☃        2023-11-14 22:21:40 +0000   disk-snapshot   installed\n")

    def test_parent_column_of_roots_is_empty(self):
        out = self.ok("snapshot-list", "demo", "--parent", "--leaves", "--inactive")
        self.assertEqual(out.splitlines()[2],
                         " experiment   2023-11-14 22:16:40 +0000   shutoff   base")
        self.assertEqual(self.ok("snapshot-list", "demo", "--parent", "--no-leaves",
                                 "--inactive").splitlines()[2],
                         " base         2023-11-14 22:13:20 +0000   shutoff   ")

    def test_names(self):
        self.assertEqual(self.ok("snapshot-list", "demo", "--name"),
                         "".join(n + "\n" for n in NAMES_SORTED))

    def test_filters(self):
        cases = {
            ("--roots",): ["base", "other-root"],
            ("--leaves",): ["experiment", 'it\'s "quoted"', "upgraded", "ünïcødé ☃"],
            ("--no-leaves",): ["base", "before upgrade", "installed", "other-root"],
            ("--leaves", "--no-leaves"): NAMES_SORTED,
            ("--inactive",): ["base", "experiment", "installed", "other-root"],
            ("--active",): ["before upgrade", 'it\'s "quoted"', "upgraded"],
            ("--disk-only",): ["ünïcødé ☃"],
            ("--active", "--disk-only"): ["before upgrade", 'it\'s "quoted"', "upgraded",
                                          "ünïcødé ☃"],
            ("--internal",): [n for n in NAMES_SORTED if n != "ünïcødé ☃"],
            ("--external",): ["ünïcødé ☃"],
            ("--internal", "--external"): NAMES_SORTED,
            ("--leaves", "--internal"): ["experiment", 'it\'s "quoted"', "upgraded"],
            ("--roots", "--leaves"): [],
            ("--roots", "--no-leaves", "--inactive"): ["base", "other-root"],
            ("--from", "installed"): ["before upgrade", "ünïcødé ☃"],
            ("--from", "installed", "--descendants"): ["before upgrade", "upgraded",
                                                       "ünïcødé ☃"],
            ("--from", "base", "--descendants", "--leaves"): ["experiment", "upgraded",
                                                              "ünïcødé ☃"],
            ("--from", "base", "--descendants", "--external"): ["ünïcødé ☃"],
            ("--from", "upgraded"): [],
            ("--current",): ["before upgrade", "ünïcødé ☃"],
            ("--current", "--descendants"): ["before upgrade", "upgraded", "ünïcødé ☃"],
            ("--from", 'it\'s "quoted"', "--descendants"): [],
        }
        for args, expected in cases.items():
            with self.subTest(args=args):
                self.assertEqual(self.names(*args), expected)

    def test_topological(self):
        names = self.names("--topological")
        self.assertEqual(sorted(names), sorted(NAMES_SORTED))
        for _file, name, parent, *_rest in TREE:
            if parent:
                self.assertLess(names.index(parent), names.index(name), name)
        sub = self.names("--topological", "--from", "installed", "--descendants")
        self.assertEqual(sorted(sub), ["before upgrade", "upgraded", "ünïcødé ☃"])
        self.assertLess(sub.index("before upgrade"), sub.index("upgraded"))

    def test_tree(self):
        self.assertEqual(self.ok("snapshot-list", "demo", "--tree"), TREE_TEXT)

    def test_tree_from(self):
        expected = ("installed\n"
                    "  |\n"
                    "  +- before upgrade\n"
                    "  |   |\n"
                    "  |   +- upgraded\n"
                    "  |     \n"
                    "  +- ünïcødé ☃\n"
                    "    \n")
        self.assertEqual(self.ok("snapshot-list", "demo", "--tree", "--from", "installed"),
                         expected)
        self.assertEqual(self.ok("snapshot-list", "demo", "--tree", "--current"), expected)
        # --descendants is implied with --tree, and accepted.
        self.assertEqual(self.ok("snapshot-list", "demo", "--tree", "--from", "installed",
                                 "--descendants"), expected)

    def test_tree_of_a_leaf(self):
        self.assertEqual(self.ok("snapshot-list", "demo", "--tree", "--from", "upgraded"),
                         "upgraded\n\n")

    def test_tree_after_reparenting(self):
        self.ok("snapshot-delete", "demo", "installed", "--metadata")
        self.assertEqual(self.ok("snapshot-list", "demo", "--tree"),
                         "base\n"
                         "  |\n"
                         "  +- before upgrade\n"
                         "  |   |\n"
                         "  |   +- upgraded\n"
                         "  |     \n"
                         "  +- experiment\n"
                         "  +- ünïcødé ☃\n"
                         "    \n"
                         "other-root\n"
                         "  |\n"
                         "  +- it's \"quoted\"\n"
                         "    \n")

    def test_json(self):
        got = json.loads(self.ok("snapshot-list", "demo", "--json"))
        self.assertEqual(got, [snapshot_json(n) for n in NAMES_SORTED])

    def test_json_filtered_keeps_full_child_counts(self):
        got = json.loads(self.ok("snapshot-list", "demo", "--json", "--no-leaves",
                                 "--inactive"))
        self.assertEqual(got, [snapshot_json("base"), snapshot_json("installed"),
                               snapshot_json("other-root")])
        self.assertEqual([o["children"] for o in got], [2, 2, 1])

    def test_json_escapes_names_and_descriptions(self):
        out = self.ok("snapshot-list", "demo", "--json", "--active")
        self.assertIn('"name": "it\'s \\"quoted\\""', out)
        self.assertIn('"description": "Before the <big> upgrade & reboot"', out)
        self.ok("snapshot-desc", "demo", "base", 'tab\there "q" back\\slash\nline')
        got = json.loads(self.ok("snapshot-list", "demo", "--json", "--roots"))
        self.assertEqual(got[0]["description"], 'tab\there "q" back\\slash\nline')

    def test_tree_json(self):
        def node(name):
            kids = [node(n) for n in NAMES_SORTED
                    if next(t for t in TREE if t[1] == n)[2] == name]
            return snapshot_json(name, children=kids)

        got = json.loads(self.ok("snapshot-list", "demo", "--tree", "--json"))
        self.assertEqual(got, [node("base"), node("other-root")])
        got = json.loads(self.ok("snapshot-list", "demo", "--tree", "--json", "--from",
                                 "installed"))
        self.assertEqual(got, [node("installed")])

    def test_empty_domain(self):
        self.ok("define", self.data("other.xml"))
        self.assertEqual(self.ok("snapshot-list", "日本 vm"),
                         " Name   Creation Time   State\n"
                         "-------------------------------\n")
        self.assertEqual(self.ok("snapshot-list", "日本 vm", "--tree"), "")
        self.assertEqual(self.ok("snapshot-list", "日本 vm", "--name"), "")
        self.assertEqual(self.ok("snapshot-list", "日本 vm", "--json"), "[]\n")
        self.assertEqual(self.ok("snapshot-list", "日本 vm", "--tree", "--json"), "[]\n")
        self.assertEqual(self.fails("snapshot-list", "日本 vm", "--current"),
                         "error: domain '日本 vm' has no current snapshot\n")

    def test_unknown_from_snapshot(self):
        self.assertEqual(self.fails("snapshot-list", "demo", "--from", "nope"),
                         "error: domain 'demo' has no snapshot named 'nope'\n")
        self.assertEqual(self.fails("snapshot-list", "demo", "--tree", "--json", "--from",
                                    "nope"),
                         "error: domain 'demo' has no snapshot named 'nope'\n")

    def test_bad_combinations(self):
        pairs = [("--tree", "--name"), ("--tree", "--parent"), ("--tree", "--roots"),
                 ("--tree", "--topological"), ("--parent", "--roots"), ("--name", "--json")]
        for a, b in pairs:
            with self.subTest(a=a, b=b):
                self.assert_usage_error(["snapshot-list", "demo", a, b],
                                        f"options {a} and {b} are mutually exclusive",
                                        SNAPSHOT_LIST_USAGE)
        for flt in ["--leaves", "--no-leaves", "--inactive", "--active", "--disk-only",
                    "--internal", "--external"]:
            with self.subTest(filter=flt):
                self.assert_usage_error(["snapshot-list", "demo", "--tree", flt],
                                        f"options --tree and {flt} are mutually exclusive",
                                        SNAPSHOT_LIST_USAGE)
        self.assert_usage_error(["snapshot-list", "demo", "--roots", "--from", "base"],
                                "options --roots and --from are mutually exclusive",
                                SNAPSHOT_LIST_USAGE)
        self.assert_usage_error(["snapshot-list", "demo", "--roots", "--current"],
                                "options --roots and --current are mutually exclusive",
                                SNAPSHOT_LIST_USAGE)
        self.assert_usage_error(["snapshot-list", "demo", "--from", "base", "--current"],
                                "options --from and --current are mutually exclusive",
                                SNAPSHOT_LIST_USAGE)
        self.assert_usage_error(["snapshot-list", "demo", "--descendants"],
                                "option --descendants needs --from or --current",
                                SNAPSHOT_LIST_USAGE)
        self.assert_usage_error(["snapshot-list", "demo", "--from"],
                                "option --from needs a value (SNAP)", SNAPSHOT_LIST_USAGE)


class SnapshotCommandsTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.build_tree()

    def test_dumpxml(self):
        xml = self.ok("snapshot-dumpxml", "demo", "before upgrade")
        self.assertTrue(xml.startswith("<domainsnapshot"), xml)
        self.assertIn("<name>before upgrade</name>", xml)
        self.assertIn("<description>Before the &lt;big&gt; upgrade &amp; reboot</description>",
                      xml)
        self.assertIn("<creationTime>1700000300</creationTime>", xml)
        self.assertIn("<domain", xml)
        self.assertTrue(xml.endswith("</domainsnapshot>\n"))
        bare = self.ok("snapshot-dumpxml", "demo", "before upgrade", "--no-domain")
        self.assertIn("<name>before upgrade</name>", bare)
        self.assertNotIn("<domain ", bare)
        self.assertNotIn("<domain>", bare)

    def test_dumpxml_redefines_identically(self):
        xml = self.ok("snapshot-dumpxml", "demo", 'it\'s "quoted"')
        self.assertEqual(self.ok("snapshot-create", "demo", "-", "--redefine", stdin=xml),
                         'Domain snapshot it\'s "quoted" created from \'-\'\n')
        self.assertEqual(self.ok("snapshot-dumpxml", "demo", 'it\'s "quoted"'), xml)

    def test_unknown_snapshot(self):
        for args in (["snapshot-dumpxml", "demo", "nope"], ["snapshot-info", "demo", "nope"],
                     ["snapshot-parent", "demo", "nope"], ["snapshot-current", "demo", "nope"],
                     ["snapshot-rename", "demo", "nope", "x"], ["snapshot-desc", "demo", "nope"],
                     ["snapshot-edit", "demo", "nope"],
                     ["snapshot-delete", "demo", "nope", "--metadata"]):
            with self.subTest(args=args):
                self.assertEqual(self.fails(*args),
                                 "error: domain 'demo' has no snapshot named 'nope'\n")

    def test_info(self):
        self.assertEqual(self.ok("snapshot-info", "demo", "before upgrade"),
                         "Name:           before upgrade\n"
                         "Domain:         demo\n"
                         "Current:        no\n"
                         "State:          running\n"
                         "Location:       internal\n"
                         "Parent:         installed\n"
                         "Children:       1\n"
                         "Descendants:    1\n"
                         "Metadata:       yes\n")

    def test_info_current_root_and_external(self):
        out = self.ok("snapshot-info", "demo", "--current")
        self.assertIn("Name:           installed\n", out)
        self.assertIn("Current:        yes\n", out)
        self.assertIn("Children:       2\nDescendants:    3\n", out)
        self.assertIn("Parent:         -\n", self.ok("snapshot-info", "demo", "base"))
        out = self.ok("snapshot-info", "demo", "ünïcødé ☃")
        self.assertIn("State:          disk-snapshot\nLocation:       external\n", out)

    def test_info_json(self):
        self.assertEqual(json.loads(self.ok("snapshot-info", "demo", "installed", "--json")),
                         {"name": "installed", "domain": "demo", "current": True,
                          "state": "shutoff", "location": "internal", "parent": "base",
                          "children": 2, "descendants": 3, "metadata": True,
                          "creation_time": 1700000100, "description": None, "memory": False})

    def test_info_needs_exactly_one_snapshot(self):
        usage = "usage: vmsnap snapshot-info DOM {SNAP | --current} [--json]\n"
        self.assert_usage_error(["snapshot-info", "demo"],
                                "a snapshot name or --current is required", usage)
        self.assert_usage_error(["snapshot-info", "demo", "base", "--current"],
                                "SNAP and --current are mutually exclusive", usage)

    def test_parent(self):
        self.assertEqual(self.ok("snapshot-parent", "demo", "upgraded"), "before upgrade\n")
        self.assertEqual(self.ok("snapshot-parent", "demo", 'it\'s "quoted"'), "other-root\n")
        self.assertEqual(self.ok("snapshot-parent", "demo", "--current"), "base\n")
        self.assertEqual(self.fails("snapshot-parent", "demo", "base"),
                         "error: snapshot 'base' has no parent\n")

    def test_current(self):
        self.assertEqual(self.ok("snapshot-current", "demo", "--name"), "installed\n")
        xml = self.ok("snapshot-current", "demo")
        self.assertEqual(xml, self.ok("snapshot-dumpxml", "demo", "installed"))
        self.assertEqual(self.ok("snapshot-current", "demo", "ünïcødé ☃"),
                         "Snapshot ünïcødé ☃ set as current\n")
        self.assertEqual(self.ok("snapshot-current", "demo", "--name"), "ünïcødé ☃\n")
        # Setting the current snapshot changes no tree.
        self.assertEqual(self.ok("snapshot-list", "demo", "--tree"), TREE_TEXT)

    def test_current_name_and_snap_exclusive(self):
        self.assert_usage_error(["snapshot-current", "demo", "--name", "base"],
                                "SNAP and --name are mutually exclusive",
                                "usage: vmsnap snapshot-current DOM [--name | SNAP]\n")

    def test_no_current(self):
        self.ok("define", self.data("other.xml"))
        self.assertEqual(self.fails("snapshot-current", "日本 vm"),
                         "error: domain '日本 vm' has no current snapshot\n")
        self.assertEqual(self.fails("snapshot-current", "日本 vm", "--name"),
                         "error: domain '日本 vm' has no current snapshot\n")

    def test_rename(self):
        self.assertEqual(self.ok("snapshot-rename", "demo", "before upgrade", "pre-upgrade ✓"),
                         "Domain snapshot before upgrade renamed to pre-upgrade ✓\n")
        self.assertEqual(self.ok("snapshot-parent", "demo", "upgraded"), "pre-upgrade ✓\n")
        self.assertNotIn("before upgrade", self.names())
        self.ok("snapshot-rename", "demo", "installed", "setup")
        self.assertEqual(self.ok("snapshot-current", "demo", "--name"), "setup\n")

    def test_rename_refused(self):
        err = self.fails("snapshot-rename", "demo", "base", "installed")
        self.assertEqual(err, "error: domain 'demo' already has a snapshot named 'installed'\n")
        self.assertEqual(self.fails("snapshot-rename", "demo", "base", "a/b"),
                         "error: snapshot name 'a/b' contains '/'; names may not contain "
                         "slashes\n")
        self.assertEqual(self.names(), NAMES_SORTED)

    def test_desc(self):
        self.assertEqual(self.ok("snapshot-desc", "demo", "base"),
                         "Fresh install of the base system\n")
        self.assertEqual(self.ok("snapshot-desc", "demo", "before upgrade"),
                         "Before the <big> upgrade & reboot\n")
        self.assertEqual(self.ok("snapshot-desc", "demo", "experiment"), "")
        self.assertEqual(self.ok("snapshot-desc", "demo", "experiment", "Tried ‘things’ & <x>"),
                         "Description of snapshot experiment updated\n")
        self.assertEqual(self.ok("snapshot-desc", "demo", "experiment"),
                         "Tried ‘things’ & <x>\n")
        self.assertEqual(self.ok("snapshot-desc", "demo", "experiment", "--remove"),
                         "Description of snapshot experiment removed\n")
        self.assertEqual(self.ok("snapshot-desc", "demo", "experiment"), "")

    def test_desc_text_and_remove_exclusive(self):
        self.assert_usage_error(["snapshot-desc", "demo", "base", "x", "--remove"],
                                "TEXT and --remove are mutually exclusive",
                                "usage: vmsnap snapshot-desc DOM SNAP [TEXT | --remove]\n")

    def test_delete_data_of_missing_file_is_refused(self):
        # Without --metadata the data goes too; here it never existed.
        err = self.fails("snapshot-delete", "demo", "upgraded")
        self.assertEqual(err, "error: the file '/var/lib/vmsnap-test/demo.qcow2' holding snapshot "
                              "'upgraded' (disk vda) is missing; delete only the snapshot's "
                              "metadata with --metadata\n")
        self.assertEqual(self.names(), NAMES_SORTED)

    def test_delete_metadata(self):
        self.assertEqual(self.ok("snapshot-delete", "demo", "upgraded", "--metadata"),
                         "Domain snapshot upgraded deleted\n")
        self.assertEqual(self.names(), [n for n in NAMES_SORTED if n != "upgraded"])

    def test_delete_current_moves_current_to_parent(self):
        self.assertEqual(self.ok("snapshot-delete", "demo", "--current", "--metadata"),
                         "Domain snapshot installed deleted\n")
        self.assertEqual(self.ok("snapshot-current", "demo", "--name"), "base\n")
        self.assertEqual(self.ok("snapshot-parent", "demo", "before upgrade"), "base\n")

    def test_delete_children(self):
        self.assertEqual(self.ok("snapshot-delete", "demo", "installed", "--children",
                                 "--metadata"),
                         "Domain snapshot installed deleted\n")
        self.assertEqual(self.names(), ["base", "experiment", 'it\'s "quoted"', "other-root"])

    def test_delete_children_only(self):
        self.assertEqual(self.ok("snapshot-delete", "demo", "installed", "--children-only",
                                 "--metadata"),
                         "Domain snapshot installed children deleted\n")
        self.assertEqual(self.names(), ["base", "experiment", "installed", 'it\'s "quoted"',
                                        "other-root"])

    def test_delete_children_and_children_only_exclusive(self):
        self.assert_usage_error(
            ["snapshot-delete", "demo", "installed", "--children", "--children-only"],
            "options --children and --children-only are mutually exclusive",
            "usage: vmsnap snapshot-delete DOM {SNAP | --current} [--children | --children-only] "
            "[--metadata]\n")

    def test_undefine_then_snapshots_are_gone(self):
        self.ok("undefine", "demo", "--snapshots-metadata")
        self.define_demo()
        self.assertEqual(self.names(), [])


class SnapshotDeactivateTest(CliTestCase):
    """snapshot-deactivate's refusals, checked on TREE (metadata only: its
    disk files do not exist, so nothing here may reach the data)."""

    USAGE = ("usage: vmsnap snapshot-deactivate DOM {SNAP | --current} {--merge | --discard} "
             "[--force]\n")

    def setUp(self):
        super().setUp()
        self.build_tree()

    def test_discard_names_the_snapshots_and_current_state_it_would_lose(self):
        err = self.fails("snapshot-deactivate", "demo", "installed", "--discard")
        self.assertEqual(err, "error: discarding snapshot 'installed' would also discard "
                              "snapshots 'before upgrade', 'upgraded', 'ünïcødé ☃' and the "
                              "current state of domain 'demo'; add --force to discard them\n")
        err = self.fails("snapshot-deactivate", "demo", "other-root", "--discard")
        self.assertEqual(err, "error: discarding snapshot 'other-root' would also discard "
                              "snapshot 'it's \"quoted\"'; add --force to discard it\n")
        self.assertEqual(self.names(), NAMES_SORTED)

    def test_discard_of_the_root_of_the_current_state_is_refused_even_forced(self):
        err = self.fails("snapshot-deactivate", "demo", "base", "--discard", "--force")
        self.assertEqual(err, "error: discarding snapshot 'base' would discard the current "
                              "state of domain 'demo', and 'base' has no parent snapshot to go "
                              "back to; revert to a snapshot outside it first, or merge it "
                              "(snapshot-delete) to keep the current state\n")
        self.assertEqual(self.names(), NAMES_SORTED)

    def test_merge_of_a_snapshot_with_memory_needs_force(self):
        err = self.fails("snapshot-deactivate", "demo", "upgraded", "--merge")
        self.assertEqual(err, "error: merging snapshot 'upgraded' would lose its memory state: "
                              "only disks fold into the parent snapshot; add --force to merge "
                              "it anyway\n")
        # Forced, it is a data delete: here the data's file is missing.
        err = self.fails("snapshot-deactivate", "demo", "upgraded", "--merge", "--force")
        self.assertEqual(err, "error: the file '/var/lib/vmsnap-test/demo.qcow2' holding snapshot "
                              "'upgraded' (disk vda) is missing; delete only the snapshot's "
                              "metadata with --metadata\n")
        self.assertEqual(self.names(), NAMES_SORTED)

    def test_one_mode_exactly(self):
        self.assert_usage_error(["snapshot-deactivate", "demo", "installed"],
                                "say what to do: --merge or --discard", self.USAGE)
        self.assert_usage_error(["snapshot-deactivate", "demo", "installed", "--merge",
                                 "--discard"],
                                "options --merge and --discard are mutually exclusive",
                                self.USAGE)
        err = self.fails("snapshot-deactivate", "demo", "nope", "--merge")
        self.assertEqual(err, "error: domain 'demo' has no snapshot named 'nope'\n")


class SnapshotEditTest(CliTestCase):
    def setUp(self):
        super().setUp()
        self.build_tree()

    def edit(self, editor, *args, visual=None):
        env = dict(self.env, EDITOR=editor)
        env.pop("VISUAL", None)
        if visual:
            env["VISUAL"] = visual
        return self.vmsnap("snapshot-edit", "demo", *args, env=env)

    def sed_editor(self, expr):
        return self.write_script("editor.sh", f"exec sed -i -e {shlex.quote(expr)} \"$1\"\n")

    def leftover_files(self):
        return [f for f in os.listdir(self.tmp) if f.startswith("vmsnap-snapshot-")]

    def test_unchanged(self):
        self.assertEqual(self.edit("true", "base"),
                         (0, "Snapshot base XML configuration not changed.\n", ""))
        self.assertEqual(self.leftover_files(), [])

    def test_change_description(self):
        editor = self.sed_editor("s|<description>.*</description>|"
                                 "<description>Edited \\&amp; better</description>|")
        self.assertEqual(self.edit(editor, "base"), (0, "Snapshot base edited.\n", ""))
        self.assertEqual(self.ok("snapshot-desc", "demo", "base"), "Edited & better\n")
        self.assertEqual(self.leftover_files(), [])

    def test_rename_through_name(self):
        editor = self.sed_editor("s|<name>installed</name>|<name>setup</name>|")
        self.assertEqual(self.edit(editor, "--current"),
                         (0, "Snapshot installed edited and renamed to setup.\n", ""))
        self.assertEqual(self.ok("snapshot-parent", "demo", "before upgrade"), "setup\n")

    def test_visual_wins_over_editor(self):
        editor = self.sed_editor("s|<description>.*</description>|"
                                 "<description>by visual</description>|")
        self.assertEqual(self.edit("false", "base", visual=editor),
                         (0, "Snapshot base edited.\n", ""))

    def test_other_changes_are_refused(self):
        editor = self.sed_editor("s|<state>shutoff</state>|<state>running</state>|")
        code, out, err = self.edit(editor, "base")
        self.assertEqual((code, out), (1, ""))
        lines = err.splitlines()
        self.assertEqual(len(lines), 2, err)
        self.assertRegex(lines[0], r"^error: .*state")
        self.assertRegex(lines[1], r"^note: your edited XML is kept in .*/vmsnap-snapshot-.*\.xml$")
        kept = lines[1].split(" kept in ", 1)[1]
        with open(kept) as f:
            self.assertIn("<state>running</state>", f.read())
        self.assertIn("State:          shutoff\n", self.ok("snapshot-info", "demo", "base"))

    def test_failing_editor_changes_nothing(self):
        self.assertEqual(self.edit("false", "base"),
                         (1, "", "error: the editor 'false' failed (Child process exited with "
                                 "code 1); the snapshot was not changed\n"))
        self.assertEqual(self.leftover_files(), [])


def tap_main():
    global VMSNAP, DATA
    if len(sys.argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    VMSNAP, DATA = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    return tap.run(tap.select(sys.modules[__name__], sys.argv[3:]))


if __name__ == "__main__":
    tap.main(tap_main)
