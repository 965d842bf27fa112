/* test_qemu_cmdline.c: the QEMU argument vector, compared with golden files. */
#include "qemu/qemu_process.h"
#include "testutil.h"

#include <string.h>

/* One argument per line: readable in a diff, and no quoting to get wrong. */
static char *argv_text(char **argv)
{
    GString *out = g_string_new(NULL);
    for (char **a = argv; *a; a++)
        g_string_append_printf(out, "%s\n", *a);
    return g_string_free(out, FALSE);
}

static void config_base(vms_qemu_config *config)
{
    memset(config, 0, sizeof(*config));
    config->name = g_strdup("demo");
    config->uuid = g_strdup("c7a5fdbd-edaf-9455-926a-d65c16db1809");
    config->memory_mib = 256;
    config->vcpus = 2;
}

static void add_disk(vms_qemu_config *config, const char *file, const char *format, bool readonly,
                     const char *target)
{
    config->disks = g_renew(vms_qemu_disk, config->disks, config->ndisks + 1);
    vms_qemu_disk *disk = &config->disks[config->ndisks++];
    disk->file = g_strdup(file);
    disk->format = g_strdup(format);
    disk->readonly = readonly;
    disk->node_name = g_strdup_printf("vms-%s", target);
    disk->device_id = g_strdup_printf("vms-dev-%s", target);
}

static char *build_text(const vms_qemu_config *config, const char *run_dir)
{
    g_autoptr(vms_qemu_paths) paths = vms_qemu_paths_new(run_dir);
    vmsnap_error *err = NULL;
    g_auto(GStrv) argv = vms_qemu_build_argv(config, paths, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(argv);
    return argv_text(argv);
}

static void test_paths(void)
{
    g_autoptr(vms_qemu_paths) paths = vms_qemu_paths_new("/var/lib/vmsnap/run/demo");
    g_assert_cmpstr(paths->run_dir, ==, "/var/lib/vmsnap/run/demo");
    g_assert_cmpstr(paths->qmp_socket, ==, "/var/lib/vmsnap/run/demo/qmp.sock");
    g_assert_cmpstr(paths->pid_file, ==, "/var/lib/vmsnap/run/demo/qemu.pid");
    g_assert_cmpstr(paths->serial_log, ==, "/var/lib/vmsnap/run/demo/serial.log");
    g_assert_cmpstr(paths->qemu_log, ==, "/var/lib/vmsnap/run/demo/qemu.log");
}

/* Two disks (a writable qcow2 and a read-only raw), kernel boot, paused. */
static void test_two_disks_kernel_paused(void)
{
    vms_qemu_config config;
    config_base(&config);
    config.kernel = g_strdup("/srv/guest/vmlinuz");
    config.initrd = g_strdup("/srv/guest/initrd.img");
    config.cmdline = g_strdup("console=ttyS0 quiet, panic=-1");
    config.paused = true;
    add_disk(&config, "/srv/images/root.qcow2", "qcow2", false, "vda");
    add_disk(&config, "/srv/images/data.raw", "raw", true, "vdb");
    g_autofree char *text = build_text(&config, "/var/lib/vmsnap/run/demo");
    vms_test_assert_golden("qemu/argv-two-disks-kernel-paused.txt", text);
    vms_qemu_config_clear(&config);
    g_assert_null(config.disks);
}

/* A QEMU that waits for a saved VM state: paused, -incoming defer last. */
static void test_incoming(void)
{
    vms_qemu_config config;
    config_base(&config);
    config.kernel = g_strdup("/srv/guest/vmlinuz");
    config.paused = true;
    config.incoming = true;
    add_disk(&config, "/srv/images/root.qcow2", "qcow2", false, "vda");
    g_autofree char *text = build_text(&config, "/var/lib/vmsnap/run/demo");
    vms_test_assert_golden("qemu/argv-incoming.txt", text);
    g_assert_true(g_str_has_suffix(text, "-daemonize\n-S\n-incoming\ndefer\n"));
    vms_qemu_config_clear(&config);
}

/* No disks, no kernel, a machine type, kvm, running, a named binary. */
static void test_minimal(void)
{
    vms_qemu_config config;
    config_base(&config);
    config.uuid = (g_free(config.uuid), NULL);
    config.binary = g_strdup("/opt/qemu/bin/qemu-system-x86_64");
    config.machine = g_strdup("pc-q35-7.2");
    config.accel = g_strdup("kvm");
    config.vcpus = 1;
    g_autofree char *text = build_text(&config, "/run/vmsnap/demo");
    vms_test_assert_golden("qemu/argv-minimal.txt", text);
    vms_qemu_config_clear(&config);
}

/* Commas and spaces in paths and names: JSON for -blockdev, doubled commas
 * in QemuOpts values, verbatim for options that take a bare path. */
static void test_awkward_paths(void)
{
    vms_qemu_config config;
    config_base(&config);
    config.name = (g_free(config.name), g_strdup("web,server 1"));
    config.kernel = g_strdup("/srv/my guest,v2/vmlinuz");
    add_disk(&config, "/srv/my images,old/disk \"one\".qcow2", "qcow2", false, "vda");
    g_autofree char *text = build_text(&config, "/tmp/state dir,x/run/web,server 1");
    vms_test_assert_golden("qemu/argv-awkward-paths.txt", text);
    g_assert_nonnull(strstr(text, "-name\nguest=web,,server 1,debug-threads=on\n"));
    g_assert_nonnull(strstr(text, "\"filename\":\"/srv/my images,old/disk \\\"one\\\".qcow2\""));
    g_assert_nonnull(
        strstr(text, "file,id=serial0,path=/tmp/state dir,,x/run/web,,server 1/serial.log\n"));
    g_assert_nonnull(strstr(text, "-pidfile\n/tmp/state dir,x/run/web,server 1/qemu.pid\n"));
    vms_qemu_config_clear(&config);
}

/* A run directory deeper than a UNIX socket address can hold: QEMU gets the
 * relative socket name all the same. */
static void test_long_run_dir(void)
{
    vms_qemu_config config;
    config_base(&config);
    GString *dir = g_string_new("/tmp");
    while (dir->len < 200)
        g_string_append(dir, "/a-rather-long-directory-name");
    g_autofree char *run_dir = g_string_free(dir, FALSE);
    g_autofree char *text = build_text(&config, run_dir);
    g_assert_nonnull(strstr(text, "\nsocket,id=qmp,path=qmp.sock,server=on,wait=off\n"));
    vms_qemu_config_clear(&config);
}

static void assert_refused(vms_qemu_config *config, const char *run_dir, vmsnap_error_code code,
                           const char *message)
{
    g_autoptr(vms_qemu_paths) paths = vms_qemu_paths_new(run_dir);
    vmsnap_error *err = NULL;
    g_auto(GStrv) argv = vms_qemu_build_argv(config, paths, &err);
    g_assert_null(argv);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, message);
    vms_test_assert_error(err, code);
    vms_qemu_config_clear(config);
}

static void test_refused(void)
{
    vms_qemu_config config;

    config_base(&config);
    add_disk(&config, "images/root.qcow2", "qcow2", false, "vda");
    assert_refused(&config, "/run/x", VMSNAP_ERR_INVALID_ARG,
                   "the disk vms-vda path 'images/root.qcow2' is not absolute; QEMU runs in / "
                   "once daemonized, so give a full path");

    config_base(&config);
    add_disk(&config, "/images/root.vmdk", "vmdk", false, "vda");
    assert_refused(&config, "/run/x", VMSNAP_ERR_UNSUPPORTED,
                   "disk vms-vda has format 'vmdk'; vmsnap runs qcow2 and raw images");

    config_base(&config);
    add_disk(&config, "/images/a.qcow2", "qcow2", false, "vd,a");
    assert_refused(&config, "/run/x", VMSNAP_ERR_INVALID_ARG,
                   "disk node name 'vms-vd,a' or device id 'vms-dev-vd,a' is not a QEMU "
                   "identifier (a letter, then letters, digits, '-', '.', '_'; node names up to "
                   "26 bytes)");

    config_base(&config);
    add_disk(&config, "/images/a.qcow2", "qcow2", false, "vda");
    add_disk(&config, "/images/b.qcow2", "qcow2", false, "vda");
    assert_refused(&config, "/run/x", VMSNAP_ERR_INVALID_ARG,
                   "two disks share the node name 'vms-vda' or device id 'vms-dev-vda'");

    config_base(&config);
    config.kernel = g_strdup("vmlinuz");
    assert_refused(&config, "/run/x", VMSNAP_ERR_INVALID_ARG,
                   "the kernel path 'vmlinuz' is not absolute; QEMU runs in / once daemonized, "
                   "so give a full path");

    config_base(&config);
    config.machine = g_strdup("pc,accel=kvm");
    assert_refused(&config, "/run/x", VMSNAP_ERR_INVALID_ARG,
                   "machine type 'pc,accel=kvm' or accelerator '' is not a plain word");

    config_base(&config);
    config.uuid = (g_free(config.uuid), g_strdup("not-a-uuid"));
    assert_refused(&config, "/run/x", VMSNAP_ERR_INVALID_ARG, "'not-a-uuid' is not a UUID");

    config_base(&config);
    config.memory_mib = 0;
    assert_refused(&config, "/run/x", VMSNAP_ERR_INVALID_ARG,
                   "domain 'demo' needs memory and at least one vCPU");

    config_base(&config);
    assert_refused(&config, "/run/50%d", VMSNAP_ERR_UNSUPPORTED,
                   "the run directory '/run/50%d' contains '%', which QEMU's -D option cannot "
                   "take; use a state directory without '%'");
}

static void test_file_node_name(void)
{
    g_autofree char *a = vms_qemu_file_node_name("vms-vda");
    g_autofree char *b = vms_qemu_file_node_name("root");
    g_assert_cmpstr(a, ==, "vms-file-vda");
    g_assert_cmpstr(b, ==, "file-root");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-cmdline/paths", test_paths);
    g_test_add_func("/qemu-cmdline/two-disks-kernel-paused", test_two_disks_kernel_paused);
    g_test_add_func("/qemu-cmdline/minimal", test_minimal);
    g_test_add_func("/qemu-cmdline/incoming", test_incoming);
    g_test_add_func("/qemu-cmdline/awkward-paths", test_awkward_paths);
    g_test_add_func("/qemu-cmdline/long-run-dir", test_long_run_dir);
    g_test_add_func("/qemu-cmdline/refused", test_refused);
    g_test_add_func("/qemu-cmdline/file-node-name", test_file_node_name);
    return g_test_run();
}
