/* test_domain_conf.c: API-level behaviour of the <domain> parser and formatter. */
#include <glib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "conf/xml.h"
#include "testutil.h"
#include "util/error.h"

#define MINIMAL "<domain type='qemu'><name>vm</name><memory>1024</memory><os><type>hvm</type></os>"

static vms_domain_def *parse_ok(const char *xml)
{
    vmsnap_error *err = NULL;
    vms_domain_def *def = vms_domain_def_parse_string(xml, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(def);
    return def;
}

static void assert_refused(const char *xml, vmsnap_error_code code, const char *message)
{
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, &err);
    g_assert_null(def);
    g_assert_nonnull(err);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, message);
    vms_test_assert_error(err, code);
}

static void test_uuid_generated(void)
{
    g_autoptr(vms_domain_def) a = parse_ok(MINIMAL "</domain>");
    g_autoptr(vms_domain_def) b = parse_ok(MINIMAL "</domain>");
    g_assert_true(a->uuid_generated);
    g_assert_true(b->uuid_generated);
    g_assert_true(memcmp(a->uuid, b->uuid, 16) != 0);
    char text[37];
    vms_uuid_format(a->uuid, text);
    g_assert_cmpuint(strlen(text), ==, 36);
    g_assert_true(g_uuid_string_is_valid(text));
    g_assert_cmpint(text[14], ==, '4'); /* random (version 4) uuid */

    /* formatted, the generated uuid is written and kept from then on */
    g_autofree char *out = vms_domain_def_format(a, 0);
    g_autofree char *line = g_strdup_printf("  <uuid>%s</uuid>\n", text);
    g_assert_nonnull(strstr(out, line));
    g_autoptr(vms_domain_def) again = parse_ok(out);
    g_assert_false(again->uuid_generated);
    g_assert_cmpmem(again->uuid, 16, a->uuid, 16);
}

static void test_uuid_forms(void)
{
    unsigned char u[16], v[16];
    g_assert_true(vms_uuid_parse("c7a5fdbd-cdaf-9455-926a-d65c16db1809", u));
    g_assert_true(vms_uuid_parse("C7A5FDBDCDAF9455926AD65C16DB1809", v));
    g_assert_cmpmem(u, 16, v, 16);
    char text[37];
    vms_uuid_format(v, text);
    g_assert_cmpstr(text, ==, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
    g_assert_false(vms_uuid_parse("c7a5fdbd-cdaf-9455-926a-d65c16db180", u));
    g_assert_false(vms_uuid_parse("c7a5fdbd:cdaf-9455-926a-d65c16db1809", u));
    g_assert_false(vms_uuid_parse("g7a5fdbdcdaf9455926ad65c16db1809", u));
    g_assert_false(vms_uuid_parse("", u));
    g_assert_false(vms_uuid_parse(NULL, u));

    g_autoptr(vms_domain_def) def =
        parse_ok(MINIMAL "<uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid></domain>");
    g_assert_false(def->uuid_generated);
    g_assert_cmpmem(def->uuid, 16, u, 16);
}

static unsigned long long memory_kib(const char *value, const char *unit)
{
    g_autofree char *xml = g_strdup_printf("<domain type='qemu'><name>vm</name>"
                                           "<memory unit='%s'>%s</memory>"
                                           "<os><type>hvm</type></os></domain>",
                                           unit, value);
    g_autoptr(vms_domain_def) def = parse_ok(xml);
    return def->memory_kib;
}

static void test_memory_units(void)
{
    g_assert_cmpuint(memory_kib("2048", "b"), ==, 2);
    g_assert_cmpuint(memory_kib("2049", "bytes"), ==, 3); /* a partial KiB rounds up */
    g_assert_cmpuint(memory_kib("1024", "KB"), ==, 1000);
    g_assert_cmpuint(memory_kib("7", "k"), ==, 7);
    g_assert_cmpuint(memory_kib("7", "KiB"), ==, 7);
    g_assert_cmpuint(memory_kib("1", "MB"), ==, 977);
    g_assert_cmpuint(memory_kib("3", "M"), ==, 3072);
    g_assert_cmpuint(memory_kib("3", "MiB"), ==, 3072);
    g_assert_cmpuint(memory_kib("1", "GB"), ==, 976563);
    g_assert_cmpuint(memory_kib("2", "G"), ==, 2097152);
    g_assert_cmpuint(memory_kib("2", "GiB"), ==, 2097152);
    g_assert_cmpuint(memory_kib("1", "TB"), ==, 976562500);
    g_assert_cmpuint(memory_kib("1", "T"), ==, 1073741824);
    g_assert_cmpuint(memory_kib("1", "TiB"), ==, 1073741824);
    g_assert_cmpuint(memory_kib("4", "mib"), ==, 4096); /* units ignore case, as libvirt's */
    g_assert_cmpuint(memory_kib(" 5 ", "KiB"), ==, 5);

    g_autoptr(vms_domain_def) def = parse_ok(MINIMAL "</domain>");
    g_assert_cmpuint(def->memory_kib, ==, 1024); /* no unit: KiB */
    g_assert_cmpuint(def->current_memory_kib, ==, 0);
    g_assert_cmpuint(def->vcpus, ==, 1);
    g_autofree char *out = vms_domain_def_format(def, 0);
    g_assert_nonnull(strstr(out, "  <memory unit='KiB'>1024</memory>\n"
                                 "  <currentMemory unit='KiB'>1024</currentMemory>\n"
                                 "  <vcpu placement='static'>1</vcpu>\n"));
}

static void test_format_indent(void)
{
    g_autoptr(vms_domain_def) def =
        parse_ok(MINIMAL "<uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>"
                         "<description>two\nlines</description><clock offset='utc'/></domain>");
    g_autofree char *out = vms_domain_def_format(def, 2);
    g_assert_cmpstr(out, ==,
                    "    <domain type='qemu'>\n"
                    "      <name>vm</name>\n"
                    "      <uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>\n"
                    "      <description>two\n"
                    "lines</description>\n"
                    "      <memory unit='KiB'>1024</memory>\n"
                    "      <currentMemory unit='KiB'>1024</currentMemory>\n"
                    "      <vcpu placement='static'>1</vcpu>\n"
                    "      <os>\n"
                    "        <type>hvm</type>\n"
                    "      </os>\n"
                    "      <clock offset='utc'/>\n"
                    "      <devices/>\n"
                    "    </domain>\n");
}

static void test_find_disk_and_copy(void)
{
    g_autoptr(vms_domain_def) def =
        parse_ok(MINIMAL "<devices>"
                         "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
                         "<source file='/img/a.qcow2'/><target dev='vda' bus='virtio'/>"
                         "<alias name='virtio-disk0'/></disk>"
                         "<disk><driver type='raw'/><source file='/img/b.raw'/><target dev='vdb'/>"
                         "<readonly/></disk>"
                         "<serial type='file'><source path='/log/serial.log'/></serial>"
                         "</devices></domain>");
    g_assert_cmpuint(def->ndisks, ==, 2);
    vms_domain_disk *vdb = vms_domain_def_find_disk(def, "vdb");
    g_assert_nonnull(vdb);
    g_assert_cmpstr(vdb->source, ==, "/img/b.raw");
    g_assert_cmpint(vdb->format, ==, VMS_DISK_FORMAT_RAW);
    g_assert_true(vdb->readonly);
    g_assert_null(vdb->bus);
    vms_domain_disk *vda = vms_domain_def_find_disk(def, "vda");
    g_assert_cmpint(vda->format, ==, VMS_DISK_FORMAT_QCOW2);
    g_assert_cmpstr(vda->bus, ==, "virtio");
    g_assert_cmpstr(vda->extra_xml, ==, "<alias name='virtio-disk0'/>\n");
    g_assert_null(vms_domain_def_find_disk(def, "vdc"));
    g_assert_null(vms_domain_def_find_disk(def, NULL));
    g_assert_cmpint(def->serial, ==, VMS_SERIAL_FILE);
    g_assert_cmpstr(def->serial_path, ==, "/log/serial.log");

    g_autoptr(vms_domain_def) copy = vms_domain_def_copy(def);
    g_assert_true(copy->disks != def->disks);
    g_assert_true(copy->disks[0] != def->disks[0]);
    g_assert_true(copy->disks[0]->source != def->disks[0]->source);
    g_autofree char *a = vms_domain_def_format(def, 0);
    g_autofree char *b = vms_domain_def_format(copy, 0);
    g_assert_cmpstr(a, ==, b);
    /* changing the copy leaves the original alone */
    g_free(copy->disks[0]->source);
    copy->disks[0]->source = g_strdup("/img/other.qcow2");
    g_assert_cmpstr(def->disks[0]->source, ==, "/img/a.qcow2");
    g_assert_null(vms_domain_def_copy(NULL));
}

static void test_disk_format_strings(void)
{
    g_assert_cmpstr(vms_disk_format_to_string(VMS_DISK_FORMAT_QCOW2), ==, "qcow2");
    g_assert_cmpstr(vms_disk_format_to_string(VMS_DISK_FORMAT_RAW), ==, "raw");
    g_assert_null(vms_disk_format_to_string(VMS_DISK_FORMAT_NONE));
    g_assert_cmpint(vms_disk_format_from_string("qcow2"), ==, VMS_DISK_FORMAT_QCOW2);
    g_assert_cmpint(vms_disk_format_from_string("raw"), ==, VMS_DISK_FORMAT_RAW);
    g_assert_cmpint(vms_disk_format_from_string("QCOW2"), ==, -1);
    g_assert_cmpint(vms_disk_format_from_string(NULL), ==, -1);
}

/* Values set through the API (not parsed) may hold anything: the output
 * must still be well-formed XML that parses back. */
static void test_format_escapes_api_values(void)
{
    g_autoptr(vms_domain_def) def = parse_ok(MINIMAL "</domain>");
    g_free(def->description);
    def->description = g_strdup("bell\a & <tag> \xff end");
    g_free(def->cmdline);
    def->cmdline = g_strdup("a='1' b=\"2\"\tc\nd");
    g_autofree char *out = vms_domain_def_format(def, 0);
    g_assert_nonnull(strstr(out, "<description>bell\xef\xbf\xbd &amp; &lt;tag&gt; "
                                 "\xef\xbf\xbd end</description>"));
    g_autoptr(vms_domain_def) again = parse_ok(out);
    g_assert_cmpstr(again->cmdline, ==, "a='1' b=\"2\"\tc\nd");

    vmsnap_error *err = NULL;
    g_assert_true(vms_xml_text_check("description", "fine \xe2\x98\x83\n\ttext", &err));
    g_assert_false(vms_xml_text_check("description", "bell\a", &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "description contains a control character that XML cannot hold; remove it");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    g_assert_false(vms_xml_text_check("description", "\xff", &err));
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
}

static void test_refusals(void)
{
    assert_refused(NULL, VMSNAP_ERR_INVALID_ARG, "no XML document was given");
    assert_refused(MINIMAL "<devices><interface type='network'/></devices></domain>",
                   VMSNAP_ERR_UNSUPPORTED,
                   "line 1: unsupported element <interface> in <devices>; vmsnap supports "
                   "<emulator>, <disk> and one <serial>, and keeps <controller>, <console>, "
                   "<input> and <memballoon> as they are");
    assert_refused("<domain type='qemu'><name>../etc</name><memory>1</memory>"
                   "<os><type>hvm</type></os></domain>",
                   VMSNAP_ERR_INVALID_NAME,
                   "domain name '../etc' starts with '.'; names may not start with a dot");
    /* the first error wins: the name comes before the unsupported element */
    assert_refused("<domain type='qemu'><name>a/b</name><graphics/></domain>",
                   VMSNAP_ERR_INVALID_NAME,
                   "domain name 'a/b' contains '/'; names may not contain slashes");
    /* an error already set is not overwritten */
    vmsnap_error *err = vms_error_new(VMSNAP_ERR_IO, "earlier");
    g_assert_null(vms_domain_def_parse_string("<bad", &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, "earlier");
    vmsnap_error_free(err);
    /* a NULL error pointer is allowed */
    g_assert_null(vms_domain_def_parse_string("<bad", NULL));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/domain_conf/uuid/generated", test_uuid_generated);
    g_test_add_func("/domain_conf/uuid/forms", test_uuid_forms);
    g_test_add_func("/domain_conf/memory-units", test_memory_units);
    g_test_add_func("/domain_conf/format-indent", test_format_indent);
    g_test_add_func("/domain_conf/find-disk-and-copy", test_find_disk_and_copy);
    g_test_add_func("/domain_conf/disk-format-strings", test_disk_format_strings);
    g_test_add_func("/domain_conf/format-escapes-api-values", test_format_escapes_api_values);
    g_test_add_func("/domain_conf/refusals", test_refusals);
    return g_test_run();
}
