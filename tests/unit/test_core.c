/*
 * test_core.c: core's translation of a domain definition for the QEMU
 * process layer, and its checks before a start.
 */
#include "testutil.h"

#include <glib/gstdio.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "core/qemu_config.h"

static vms_domain_def *parse_domain(const char *disk0, const char *kernel)
{
    g_autofree char *xml = g_strdup_printf(
        "<domain type='qemu'>\n"
        "  <name>vm1</name>\n"
        "  <uuid>11111111-2222-3333-4444-555555555555</uuid>\n"
        "  <memory unit='KiB'>262145</memory>\n"
        "  <vcpu>2</vcpu>\n"
        "  <os><type "
        "machine='pc'>hvm</type><kernel>%s</kernel><cmdline>console=ttyS0</cmdline></os>\n"
        "  <devices>\n"
        "    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='%s'/><target dev='vda'/></disk>\n"
        "    <disk type='file' device='disk'><driver name='qemu' type='raw'/>"
        "<source file='/dev/null'/><target dev='vdb'/><readonly/></disk>\n"
        "  </devices>\n"
        "</domain>\n",
        kernel, disk0);
    vmsnap_error *err = NULL;
    vms_domain_def *def = vms_domain_def_parse_string(xml, &err);
    vms_test_assert_no_error(err);
    return def;
}

static void test_config_from_domain(void)
{
    g_autoptr(vms_domain_def) def = parse_domain("/srv/a,b c.qcow2", "/srv/vmlinuz");
    g_auto(vms_qemu_config) config = {0};
    vms_qemu_config_from_domain(def, true, &config);
    g_assert_cmpstr(config.name, ==, "vm1");
    g_assert_cmpstr(config.uuid, ==, "11111111-2222-3333-4444-555555555555");
    g_assert_cmpstr(config.accel, ==, "tcg");
    g_assert_cmpstr(config.machine, ==, "pc");
    g_assert_null(config.binary);
    g_assert_cmpuint(config.memory_mib, ==, 257); /* 262145 KiB rounds up */
    g_assert_cmpuint(config.vcpus, ==, 2);
    g_assert_cmpstr(config.kernel, ==, "/srv/vmlinuz");
    g_assert_null(config.initrd);
    g_assert_cmpstr(config.cmdline, ==, "console=ttyS0");
    g_assert_true(config.paused);
    g_assert_cmpuint(config.ndisks, ==, 2);
    g_assert_cmpstr(config.disks[0].file, ==, "/srv/a,b c.qcow2");
    g_assert_cmpstr(config.disks[0].format, ==, "qcow2");
    g_assert_false(config.disks[0].readonly);
    g_assert_cmpstr(config.disks[0].node_name, ==, "vms-vda");
    g_assert_cmpstr(config.disks[0].device_id, ==, "vms-dev-vda");
    g_assert_cmpstr(config.disks[1].format, ==, "raw");
    g_assert_true(config.disks[1].readonly);
    g_assert_cmpstr(config.disks[1].node_name, ==, "vms-vdb");
}

static void test_check_disks(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *disk = g_build_filename(dir, "disk.qcow2", NULL);
    g_autofree char *kernel = g_build_filename(dir, "vmlinuz", NULL);
    g_assert_true(g_file_set_contents(disk, "x", 1, NULL));
    g_assert_true(g_file_set_contents(kernel, "x", 1, NULL));

    g_autoptr(vms_domain_def) ok = parse_domain(disk, kernel);
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_config_check_disks(ok, &err));
    vms_test_assert_no_error(err);

    g_autofree char *missing = g_build_filename(dir, "gone.qcow2", NULL);
    g_autoptr(vms_domain_def) bad = parse_domain(missing, kernel);
    g_assert_false(vms_qemu_config_check_disks(bad, &err));
    g_autofree char *want = g_strdup_printf(
        "disk vda of domain 'vm1' cannot be used: '%s': No such file or directory", missing);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, want);
    g_assert_cmpint(vmsnap_error_get_code(err), ==, VMSNAP_ERR_IO);
    g_clear_pointer(&err, vmsnap_error_free);

    g_autofree char *no_kernel = g_build_filename(dir, "nokernel", NULL);
    g_autoptr(vms_domain_def) nok = parse_domain(disk, no_kernel);
    g_assert_false(vms_qemu_config_check_disks(nok, &err));
    g_autofree char *want2 = g_strdup_printf(
        "the kernel of domain 'vm1' cannot be read: '%s': No such file or directory", no_kernel);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, want2);
    vmsnap_error_free(err);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/core/qemu-config/from-domain", test_config_from_domain);
    g_test_add_func("/core/qemu-config/check-disks", test_check_disks);
    return g_test_run();
}
