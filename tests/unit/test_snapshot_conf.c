/* test_snapshot_conf.c: API-level behaviour of the <domainsnapshot> parser and formatter. */
#include <glib.h>
#include <string.h>

#include "conf/snapshot_conf.h"
#include "testutil.h"
#include "util/error.h"

static vms_snapshot_def *parse_ok(const char *xml)
{
    vmsnap_error *err = NULL;
    vms_snapshot_def *def = vms_snapshot_def_parse_string(xml, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(def);
    return def;
}

static vmsnap_snapshot_location location_of(const char *memory, const char *disks)
{
    g_autofree char *xml =
        g_strdup_printf("<domainsnapshot>%s<disks>%s</disks></domainsnapshot>", memory, disks);
    g_autoptr(vms_snapshot_def) def = parse_ok(xml);
    return vms_snapshot_def_location(def);
}

static void test_location(void)
{
    g_assert_cmpint(location_of("", ""), ==, VMSNAP_SNAPSHOT_LOCATION_NONE);
    g_assert_cmpint(location_of("<memory snapshot='no'/>", "<disk name='vda' snapshot='no'/>"), ==,
                    VMSNAP_SNAPSHOT_LOCATION_NONE);
    g_assert_cmpint(location_of("", "<disk name='vda'/>"), ==, VMSNAP_SNAPSHOT_LOCATION_NONE);
    g_assert_cmpint(location_of("<memory snapshot='internal'/>", ""), ==,
                    VMSNAP_SNAPSHOT_LOCATION_INTERNAL);
    g_assert_cmpint(location_of("<memory snapshot='internal'/>",
                                "<disk name='vda' snapshot='internal'/>"
                                "<disk name='vdb' snapshot='no'/>"),
                    ==, VMSNAP_SNAPSHOT_LOCATION_INTERNAL);
    g_assert_cmpint(location_of("<memory snapshot='external' file='/m'/>", ""), ==,
                    VMSNAP_SNAPSHOT_LOCATION_EXTERNAL);
    g_assert_cmpint(
        location_of("<memory snapshot='no'/>", "<disk name='vda' snapshot='external'/>"), ==,
        VMSNAP_SNAPSHOT_LOCATION_EXTERNAL);
    g_assert_cmpint(location_of("", "<disk name='vda' snapshot='manual'/>"), ==,
                    VMSNAP_SNAPSHOT_LOCATION_EXTERNAL);
    g_assert_cmpint(
        location_of("<memory snapshot='internal'/>", "<disk name='vda' snapshot='manual'/>"), ==,
        VMSNAP_SNAPSHOT_LOCATION_MIXED);
    g_assert_cmpint(location_of("<memory snapshot='external' file='/m'/>",
                                "<disk name='vda' snapshot='internal'/>"),
                    ==, VMSNAP_SNAPSHOT_LOCATION_MIXED);
    g_assert_cmpint(vms_snapshot_def_location(NULL), ==, VMSNAP_SNAPSHOT_LOCATION_NONE);
}

static bool has_memory(const char *memory)
{
    g_autofree char *xml = g_strdup_printf("<domainsnapshot>%s</domainsnapshot>", memory);
    g_autoptr(vms_snapshot_def) def = parse_ok(xml);
    return vms_snapshot_def_has_memory(def);
}

static void test_has_memory(void)
{
    g_assert_false(has_memory(""));
    g_assert_false(has_memory("<memory snapshot='no'/>"));
    g_assert_true(has_memory("<memory snapshot='internal'/>"));
    g_assert_true(has_memory("<memory snapshot='external' file='/m'/>"));
    g_assert_true(has_memory("<memory file='/m'/>")); /* a file implies external */
    g_assert_false(vms_snapshot_def_has_memory(NULL));
}

#define FULL                                                                                       \
    "<domainsnapshot>"                                                                             \
    "<name>s1</name><description>d</description><state>running</state>"                            \
    "<parent><name>s0</name></parent><creationTime>1700000000</creationTime>"                      \
    "<memory snapshot='external' file='/m/s1.vmstate'/><compression>gzip</compression>"            \
    "<vmsnap:checksum xmlns:vmsnap='https://vmsnap.dev/xmlns/snapshot/1' "                         \
    "type='xxh3-128'>00112233445566778899AABBCCDDEEFF</vmsnap:checksum>"                           \
    "<disks><disk name='vda' snapshot='external'><driver type='qcow2'/>"                           \
    "<source file='/i/vda.s1'/></disk><disk name='vdb' snapshot='no'/></disks>"                    \
    "<domain type='kvm'><name>vm</name><memory>1024</memory><os><type>hvm</type></os></domain>"    \
    "<inactiveDomain type='kvm'><name>vm</name><memory>2048</memory><os><type>hvm</type></os>"     \
    "</inactiveDomain>"                                                                            \
    "<cookie><cpu mode='custom'/></cookie><active>1</active>"                                      \
    "</domainsnapshot>"

static void test_fields(void)
{
    g_autoptr(vms_snapshot_def) def = parse_ok(FULL);
    g_assert_cmpstr(def->name, ==, "s1");
    g_assert_cmpstr(def->description, ==, "d");
    g_assert_cmpint(def->state, ==, VMSNAP_SNAPSHOT_STATE_RUNNING);
    g_assert_cmpstr(def->parent, ==, "s0");
    g_assert_true(def->has_creation_time);
    g_assert_cmpint(def->creation_time, ==, 1700000000);
    g_assert_cmpint(def->memory, ==, VMS_SNAP_LOCATION_EXTERNAL);
    g_assert_cmpstr(def->memory_file, ==, "/m/s1.vmstate");
    g_assert_cmpint(def->compression, ==, VMS_MEM_COMPRESSION_GZIP);
    g_assert_cmpstr(def->checksum_type, ==, "xxh3-128");
    g_assert_cmpstr(def->checksum_value, ==, "00112233445566778899aabbccddeeff");
    g_assert_cmpuint(def->ndisks, ==, 2);
    g_assert_cmpstr(def->disks[0]->name, ==, "vda");
    g_assert_cmpint(def->disks[0]->snapshot, ==, VMS_SNAP_LOCATION_EXTERNAL);
    g_assert_cmpint(def->disks[0]->format, ==, VMS_DISK_FORMAT_QCOW2);
    g_assert_cmpstr(def->disks[0]->source_file, ==, "/i/vda.s1");
    g_assert_cmpint(def->disks[1]->snapshot, ==, VMS_SNAP_LOCATION_NO);
    g_assert_null(def->disks[1]->source_file);
    g_assert_cmpuint(def->domain->memory_kib, ==, 1024);
    g_assert_cmpuint(def->inactive_domain->memory_kib, ==, 2048);
    g_assert_cmpstr(def->cookie_xml, ==, "<cookie>\n  <cpu mode='custom'/>\n</cookie>\n");
    g_assert_true(def->has_active);
    g_assert_true(def->active);
    g_assert_cmpint(vms_snapshot_def_location(def), ==, VMSNAP_SNAPSHOT_LOCATION_EXTERNAL);

    g_autoptr(vms_snapshot_def) bare = parse_ok("<domainsnapshot/>");
    g_assert_null(bare->name); /* a name is optional: creation picks one */
    g_assert_null(bare->parent);
    g_assert_null(bare->domain);
    g_assert_false(bare->has_creation_time);
    g_assert_false(bare->has_active);
    g_assert_cmpint(bare->state, ==, VMSNAP_SNAPSHOT_STATE_NONE);
    g_assert_cmpint(bare->memory, ==, VMS_SNAP_LOCATION_DEFAULT);
    g_assert_cmpuint(bare->ndisks, ==, 0);
    g_assert_nonnull(bare->disks);
}

static void test_copy(void)
{
    g_autoptr(vms_snapshot_def) def = parse_ok(FULL);
    g_autoptr(vms_snapshot_def) copy = vms_snapshot_def_copy(def);
    g_assert_true(copy->domain != def->domain);
    g_assert_true(copy->inactive_domain != def->inactive_domain);
    g_assert_true(copy->disks[0] != def->disks[0]);
    g_autofree char *a = vms_snapshot_def_format(def, 0);
    g_autofree char *b = vms_snapshot_def_format(copy, 0);
    g_assert_cmpstr(a, ==, b);
    g_free(copy->disks[0]->name);
    copy->disks[0]->name = g_strdup("vdz");
    g_assert_cmpstr(def->disks[0]->name, ==, "vda");
    g_assert_null(vms_snapshot_def_copy(NULL));
}

static void test_format_no_domain(void)
{
    g_autoptr(vms_snapshot_def) def = parse_ok(FULL);
    g_autofree char *out = vms_snapshot_def_format(def, VMS_SNAPSHOT_FORMAT_NO_DOMAIN);
    g_assert_cmpstr(out, ==,
                    "<domainsnapshot>\n"
                    "  <name>s1</name>\n"
                    "  <description>d</description>\n"
                    "  <state>running</state>\n"
                    "  <parent>\n"
                    "    <name>s0</name>\n"
                    "  </parent>\n"
                    "  <creationTime>1700000000</creationTime>\n"
                    "  <memory snapshot='external' file='/m/s1.vmstate'/>\n"
                    "  <compression>gzip</compression>\n"
                    "  <vmsnap:checksum xmlns:vmsnap='https://vmsnap.dev/xmlns/snapshot/1' "
                    "type='xxh3-128'>00112233445566778899aabbccddeeff</vmsnap:checksum>\n"
                    "  <disks>\n"
                    "    <disk name='vda' snapshot='external' type='file'>\n"
                    "      <driver type='qcow2'/>\n"
                    "      <source file='/i/vda.s1'/>\n"
                    "    </disk>\n"
                    "    <disk name='vdb' snapshot='no'/>\n"
                    "  </disks>\n"
                    "  <cookie>\n"
                    "    <cpu mode='custom'/>\n"
                    "  </cookie>\n"
                    "  <active>1</active>\n"
                    "</domainsnapshot>\n");
    g_autofree char *with = vms_snapshot_def_format(def, 0);
    g_assert_nonnull(strstr(with, "\n  <domain type='kvm'>\n    <name>vm</name>\n"));
    g_assert_nonnull(strstr(with, "\n  <inactiveDomain type='kvm'>\n    <name>vm</name>\n"));
    g_assert_nonnull(strstr(with, "\n  </inactiveDomain>\n  <cookie>\n"));
}

static void test_enum_strings(void)
{
    static const char *const states[] = {"running", "blocked", "paused",      "shutdown",
                                         "shutoff", "crashed", "pmsuspended", "disk-snapshot"};
    for (size_t i = 0; i < G_N_ELEMENTS(states); i++) {
        int s = vms_snap_state_from_string(states[i]);
        g_assert_cmpint(s, ==, (int)i + 1);
        g_assert_cmpstr(vms_snap_state_to_string((vmsnap_snapshot_state)s), ==, states[i]);
    }
    g_assert_cmpint(vms_snap_state_from_string("none"), ==, -1);
    g_assert_cmpint(vms_snap_state_from_string(NULL), ==, -1);
    g_assert_cmpstr(vms_snap_state_to_string(VMSNAP_SNAPSHOT_STATE_NONE), ==, "none");

    g_assert_cmpint(vms_snap_location_from_string("no"), ==, VMS_SNAP_LOCATION_NO);
    g_assert_cmpint(vms_snap_location_from_string("internal"), ==, VMS_SNAP_LOCATION_INTERNAL);
    g_assert_cmpint(vms_snap_location_from_string("external"), ==, VMS_SNAP_LOCATION_EXTERNAL);
    g_assert_cmpint(vms_snap_location_from_string("manual"), ==, VMS_SNAP_LOCATION_MANUAL);
    g_assert_cmpint(vms_snap_location_from_string("yes"), ==, -1);
    g_assert_null(vms_snap_location_to_string(VMS_SNAP_LOCATION_DEFAULT));
    g_assert_cmpstr(vms_snap_location_to_string(VMS_SNAP_LOCATION_MANUAL), ==, "manual");

    g_assert_cmpint(vms_mem_compression_from_string("gzip"), ==, VMS_MEM_COMPRESSION_GZIP);
    g_assert_cmpint(vms_mem_compression_from_string("zstd"), ==, VMS_MEM_COMPRESSION_ZSTD);
    g_assert_cmpint(vms_mem_compression_from_string("raw"), ==, VMS_MEM_COMPRESSION_RAW);
    g_assert_cmpint(vms_mem_compression_from_string("xz"), ==, -1);
    g_assert_null(vms_mem_compression_to_string(VMS_MEM_COMPRESSION_NONE));
    g_assert_cmpstr(vms_mem_compression_to_string(VMS_MEM_COMPRESSION_ZSTD), ==, "zstd");
}

/* A def built in code (as the xl-config parser does) formats to XML that
 * parses back to the same text. */
static void test_built_def_round_trips(void)
{
    g_autoptr(vms_snapshot_def) def = g_new0(vms_snapshot_def, 1);
    def->name = g_strdup("from <code> & 'quotes'");
    def->memory = VMS_SNAP_LOCATION_EXTERNAL;
    def->memory_file = g_strdup("/abs/mem file.vmstate");
    def->ndisks = 1;
    def->disks = g_new0(vms_snapshot_disk *, 2);
    def->disks[0] = g_new0(vms_snapshot_disk, 1);
    def->disks[0]->name = g_strdup("hda");
    def->disks[0]->snapshot = VMS_SNAP_LOCATION_EXTERNAL;
    def->disks[0]->format = VMS_DISK_FORMAT_QCOW2;
    def->disks[0]->source_file = g_strdup("/abs/hda.qcow2");
    g_autofree char *out = vms_snapshot_def_format(def, 0);
    g_autoptr(vms_snapshot_def) again = parse_ok(out);
    g_assert_cmpstr(again->name, ==, def->name);
    g_autofree char *out2 = vms_snapshot_def_format(again, 0);
    g_assert_cmpstr(out2, ==, out);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/snapshot_conf/location", test_location);
    g_test_add_func("/snapshot_conf/has-memory", test_has_memory);
    g_test_add_func("/snapshot_conf/fields", test_fields);
    g_test_add_func("/snapshot_conf/copy", test_copy);
    g_test_add_func("/snapshot_conf/format-no-domain", test_format_no_domain);
    g_test_add_func("/snapshot_conf/enum-strings", test_enum_strings);
    g_test_add_func("/snapshot_conf/built-def-round-trips", test_built_def_round_trips);
    return g_test_run();
}
