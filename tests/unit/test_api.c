/*
 * test_api.c: the public API over a real state directory — domains, the
 * snapshot tree, listings and their filters, current, rename, description,
 * edit and metadata-only delete — checked as a caller would see them.
 */
#include "testutil.h"

#include <string.h>

static const char domain_xml[] = "<domain type='qemu'>\n"
                                 "  <name>demo</name>\n"
                                 "  <uuid>6f1c2a5e-6a53-4d2c-9a5e-1d2f3a4b5c6d</uuid>\n"
                                 "  <memory unit='MiB'>256</memory>\n"
                                 "  <vcpu>2</vcpu>\n"
                                 "  <os>\n"
                                 "    <type>hvm</type>\n"
                                 "    <kernel>/srv/guest/vmlinuz</kernel>\n"
                                 "  </os>\n"
                                 "  <devices>\n"
                                 "    <disk type='file' device='disk'>\n"
                                 "      <driver name='qemu' type='qcow2'/>\n"
                                 "      <source file='/srv/guest/disk0.qcow2'/>\n"
                                 "      <target dev='vda' bus='virtio'/>\n"
                                 "    </disk>\n"
                                 "  </devices>\n"
                                 "</domain>\n";

typedef struct {
    char *dir;
    vmsnap_conn *conn;
    vmsnap_domain *dom;
} fixture;

static void fixture_setup(fixture *fx, gconstpointer data)
{
    vmsnap_error *err = NULL;
    fx->dir = vms_test_make_tmpdir();
    fx->conn = vmsnap_conn_open(fx->dir, 0, &err);
    vms_test_assert_no_error(err);
    fx->dom = vmsnap_domain_define_xml(fx->conn, domain_xml, 0, &err);
    vms_test_assert_no_error(err);
}

static void fixture_teardown(fixture *fx, gconstpointer data)
{
    vmsnap_domain_free(fx->dom);
    vmsnap_conn_free(fx->conn);
    g_free(fx->dir);
}

/* <domainsnapshot> for a redefinition. @kind: "internal-full", "external-disk",
 * "shutoff-internal". */
static char *snapshot_xml(const char *name, const char *parent, const char *kind, long long when)
{
    GString *s = g_string_new("<domainsnapshot>\n");
    g_string_append_printf(s, "  <name>%s</name>\n", name);
    const char *state = "running";
    const char *memory = "<memory snapshot='internal'/>";
    const char *disk = "<disk name='vda' snapshot='internal'/>";
    if (strcmp(kind, "external-disk") == 0) {
        state = "disk-snapshot";
        memory = "<memory snapshot='no'/>";
        disk = "<disk name='vda' snapshot='external'><driver type='qcow2'/>"
               "<source file='/srv/guest/overlay.qcow2'/></disk>";
    } else if (strcmp(kind, "shutoff-internal") == 0) {
        state = "shutoff";
        memory = "<memory snapshot='no'/>";
    }
    g_string_append_printf(s, "  <state>%s</state>\n", state);
    if (parent)
        g_string_append_printf(s, "  <parent><name>%s</name></parent>\n", parent);
    g_string_append_printf(s, "  <creationTime>%lld</creationTime>\n", when);
    g_string_append_printf(s, "  %s\n  <disks>%s</disks>\n", memory, disk);
    g_string_append(s, "</domainsnapshot>\n");
    return g_string_free(s, FALSE);
}

static void redefine(fixture *fx, const char *name, const char *parent, const char *kind,
                     unsigned int flags)
{
    static long long clock = 1700000000;
    g_autofree char *xml = snapshot_xml(name, parent, kind, clock++);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *snap =
        vmsnap_snapshot_create_xml(fx->dom, xml, VMSNAP_SNAPSHOT_CREATE_REDEFINE | flags, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_snapshot_get_name(snap), ==, name);
    vmsnap_snapshot_free(snap);
}

/*
 * The tree used by most tests:
 *   base (shutoff-internal)
 *   ├── a (internal-full)
 *   │   ├── a1 (external-disk)
 *   │   └── a2 (internal-full)
 *   └── b (external-disk)
 *       └── b1 (internal-full)
 *   lone (internal-full, a second root)
 */
static void build_tree(fixture *fx)
{
    redefine(fx, "base", NULL, "shutoff-internal", 0);
    redefine(fx, "a", "base", "internal-full", 0);
    redefine(fx, "a1", "a", "external-disk", 0);
    redefine(fx, "a2", "a", "internal-full", 0);
    redefine(fx, "b", "base", "external-disk", 0);
    redefine(fx, "b1", "b", "internal-full", VMSNAP_SNAPSHOT_CREATE_CURRENT);
    redefine(fx, "lone", NULL, "internal-full", 0);
}

static char *list_joined(fixture *fx, unsigned int flags)
{
    char **names = NULL;
    vmsnap_error *err = NULL;
    int n = vmsnap_domain_snapshot_list_names(fx->dom, &names, flags, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpint(n, ==, (int)g_strv_length(names));
    char *joined = g_strjoinv(",", names);
    vmsnap_string_list_free(names);
    return joined;
}

static char *children_joined(fixture *fx, const char *of, unsigned int flags)
{
    vmsnap_error *err = NULL;
    vmsnap_snapshot *snap = vmsnap_snapshot_lookup_by_name(fx->dom, of, 0, &err);
    vms_test_assert_no_error(err);
    vmsnap_snapshot **kids = NULL;
    int n = vmsnap_snapshot_list_all_children(snap, &kids, flags, &err);
    vms_test_assert_no_error(err);
    GString *s = g_string_new(NULL);
    for (int i = 0; i < n; i++)
        g_string_append_printf(s, "%s%s", i ? "," : "", vmsnap_snapshot_get_name(kids[i]));
    g_assert_cmpint(vmsnap_snapshot_num_children(snap, flags, &err), ==, n);
    vmsnap_snapshot_list_free(kids);
    vmsnap_snapshot_free(snap);
    return g_string_free(s, FALSE);
}

#define assert_list(fx, flags, expected)                                                           \
    do {                                                                                           \
        g_autofree char *got_ = list_joined(fx, flags);                                            \
        g_assert_cmpstr(got_, ==, expected);                                                       \
    } while (0)

static void assert_error(vmsnap_error **err, vmsnap_error_code code, const char *message)
{
    g_assert_nonnull(*err);
    g_assert_cmpstr(vmsnap_error_code_to_string(vmsnap_error_get_code(*err)), ==,
                    vmsnap_error_code_to_string(code));
    g_assert_cmpstr(vmsnap_error_get_message(*err), ==, message);
    g_clear_pointer(err, vmsnap_error_free);
}

static char *current_name(fixture *fx)
{
    vmsnap_error *err = NULL;
    vmsnap_snapshot *cur = vmsnap_domain_snapshot_current(fx->dom, 0, &err);
    if (!cur) {
        g_assert_cmpint(vmsnap_error_get_code(err), ==, VMSNAP_ERR_NO_CURRENT);
        vmsnap_error_free(err);
        g_assert_cmpint(vmsnap_domain_has_current_snapshot(fx->dom, 0, NULL), ==, 0);
        return NULL;
    }
    g_assert_cmpint(vmsnap_domain_has_current_snapshot(fx->dom, 0, NULL), ==, 1);
    g_assert_cmpint(vmsnap_snapshot_is_current(cur, 0, NULL), ==, 1);
    char *name = g_strdup(vmsnap_snapshot_get_name(cur));
    vmsnap_snapshot_free(cur);
    return name;
}

/* --- domains ------------------------------------------------------------ */

static void test_domain_define_lookup_list(fixture *fx, gconstpointer data)
{
    g_assert_cmpstr(vmsnap_domain_get_name(fx->dom), ==, "demo");
    g_assert_cmpstr(vmsnap_domain_get_uuid_string(fx->dom), ==,
                    "6f1c2a5e-6a53-4d2c-9a5e-1d2f3a4b5c6d");
    g_assert_cmpuint(vmsnap_domain_get_memory_kib(fx->dom), ==, 262144);
    g_assert_cmpuint(vmsnap_domain_get_vcpus(fx->dom), ==, 2);

    vmsnap_error *err = NULL;
    vmsnap_domain *again = vmsnap_domain_lookup_by_name(fx->conn, "demo", &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_domain_get_uuid_string(again), ==,
                    vmsnap_domain_get_uuid_string(fx->dom));
    vmsnap_domain_free(again);

    g_assert_null(vmsnap_domain_lookup_by_name(fx->conn, "nope", &err));
    assert_error(&err, VMSNAP_ERR_NO_DOMAIN, "domain 'nope' does not exist");

    /* A second domain without a uuid gets one; the list is sorted. */
    g_autofree char *other = g_strdup(domain_xml);
    char *p = strstr(other, "<name>demo");
    memcpy(p, "<name>abcd", 10);
    char *u = strstr(other, "  <uuid>");
    memmove(u, strstr(u, "</uuid>\n") + 8, strlen(strstr(u, "</uuid>\n") + 8) + 1);
    vmsnap_domain *abcd = vmsnap_domain_define_xml(fx->conn, other, 0, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpuint(strlen(vmsnap_domain_get_uuid_string(abcd)), ==, 36);
    g_assert_cmpstr(vmsnap_domain_get_uuid_string(abcd), !=,
                    vmsnap_domain_get_uuid_string(fx->dom));

    /* Redefining without a uuid keeps the generated one. */
    g_autofree char *uuid = g_strdup(vmsnap_domain_get_uuid_string(abcd));
    vmsnap_domain_free(abcd);
    abcd = vmsnap_domain_define_xml(fx->conn, other, 0, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_domain_get_uuid_string(abcd), ==, uuid);
    vmsnap_domain_free(abcd);

    vmsnap_domain **doms = NULL;
    g_assert_cmpint(vmsnap_conn_list_all_domains(fx->conn, &doms, 0, &err), ==, 2);
    g_assert_cmpstr(vmsnap_domain_get_name(doms[0]), ==, "abcd");
    g_assert_cmpstr(vmsnap_domain_get_name(doms[1]), ==, "demo");
    g_assert_null(doms[2]);
    vmsnap_domain_list_free(doms);
}

static void test_domain_define_conflicts(fixture *fx, gconstpointer data)
{
    vmsnap_error *err = NULL;
    g_assert_null(
        vmsnap_domain_define_xml(fx->conn, domain_xml, VMSNAP_DOMAIN_DEFINE_NO_OVERWRITE, &err));
    assert_error(&err, VMSNAP_ERR_DOMAIN_EXISTS, "domain 'demo' is already defined");

    /* The same uuid under another name. */
    g_autofree char *clone = g_strdup(domain_xml);
    memcpy(strstr(clone, "<name>demo"), "<name>copy", 10);
    g_assert_null(vmsnap_domain_define_xml(fx->conn, clone, 0, &err));
    assert_error(&err, VMSNAP_ERR_DOMAIN_EXISTS,
                 "domain 'demo' already uses uuid 6f1c2a5e-6a53-4d2c-9a5e-1d2f3a4b5c6d; give "
                 "'copy' another uuid or none");

    /* The same name with another uuid. */
    g_autofree char *changed = g_strdup(domain_xml);
    memcpy(strstr(changed, "6f1c2a5e"), "00000000", 8);
    g_assert_null(vmsnap_domain_define_xml(fx->conn, changed, 0, &err));
    assert_error(&err, VMSNAP_ERR_DOMAIN_EXISTS,
                 "domain 'demo' is already defined with uuid 6f1c2a5e-6a53-4d2c-9a5e-1d2f3a4b5c6d, "
                 "not 00000000-6a53-4d2c-9a5e-1d2f3a4b5c6d; leave <uuid> out or use the existing "
                 "one");

    g_assert_null(vmsnap_domain_define_xml(fx->conn, "<domain>", 0, &err));
    g_assert_cmpint(vmsnap_error_get_code(err), ==, VMSNAP_ERR_XML);
    g_clear_pointer(&err, vmsnap_error_free);

    /* Nothing above changed the stored definition. */
    char *xml = vmsnap_domain_get_xml_desc(fx->dom, 0, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(strstr(xml, "<uuid>6f1c2a5e-6a53-4d2c-9a5e-1d2f3a4b5c6d</uuid>"));
    vmsnap_string_free(xml);
}

static void test_domain_undefine(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    g_assert_cmpint(vmsnap_domain_undefine(fx->dom, 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_OPERATION_DENIED,
                 "domain 'demo' has 7 snapshots; undefine it with --snapshots-metadata to remove "
                 "their metadata too (disk images are kept)");
    g_assert_cmpint(vmsnap_domain_snapshot_count(fx->dom, 0, &err), ==, 7);

    g_assert_cmpint(
        vmsnap_domain_undefine(fx->dom, VMSNAP_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA, &err), ==, 0);
    vms_test_assert_no_error(err);
    g_assert_null(vmsnap_domain_lookup_by_name(fx->conn, "demo", &err));
    assert_error(&err, VMSNAP_ERR_NO_DOMAIN, "domain 'demo' does not exist");
    g_assert_cmpint(vmsnap_conn_list_all_domains(fx->conn, NULL, 0, &err), ==, 0);

    /* Defined again, it starts with no snapshots. */
    vmsnap_domain *dom = vmsnap_domain_define_xml(fx->conn, domain_xml, 0, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpint(vmsnap_domain_snapshot_count(dom, 0, &err), ==, 0);
    vmsnap_domain_free(dom);
}

/* --- listings ------------------------------------------------------------ */

static void test_list_filters(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    assert_list(fx, 0, "a,a1,a2,b,b1,base,lone");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,a,a1,a2,b,b1,lone");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_ROOTS, "base,lone");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_LEAVES, "a1,a2,b1,lone");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_NO_LEAVES, "a,b,base");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_LEAVES | VMSNAP_SNAPSHOT_LIST_NO_LEAVES,
                "a,a1,a2,b,b1,base,lone");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_INACTIVE, "base");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_DISK_ONLY, "a1,b");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_ACTIVE, "a,a2,b1,lone");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_ACTIVE | VMSNAP_SNAPSHOT_LIST_INACTIVE,
                "a,a2,b1,base,lone");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_EXTERNAL, "a1,b");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_INTERNAL, "a,a2,b1,base,lone");
    /* Groups combine with AND. */
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_LEAVES | VMSNAP_SNAPSHOT_LIST_EXTERNAL, "a1");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_ROOTS | VMSNAP_SNAPSHOT_LIST_LEAVES, "lone");

    vmsnap_error *err = NULL;
    g_assert_cmpint(vmsnap_domain_snapshot_count(fx->dom, VMSNAP_SNAPSHOT_LIST_LEAVES, &err), ==,
                    4);
    g_assert_cmpint(vmsnap_domain_snapshot_count(fx->dom, 1u << 30, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "vmsnap_domain_snapshot_count: unsupported flags 0x40000000");
}

static void test_children(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    g_autofree char *direct = children_joined(fx, "base", 0);
    g_assert_cmpstr(direct, ==, "a,b");
    g_autofree char *all = children_joined(fx, "base", VMSNAP_SNAPSHOT_LIST_DESCENDANTS);
    g_assert_cmpstr(all, ==, "a,a1,a2,b,b1");
    g_autofree char *topo = children_joined(
        fx, "base", VMSNAP_SNAPSHOT_LIST_DESCENDANTS | VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL);
    g_assert_cmpstr(topo, ==, "a,a1,a2,b,b1");
    g_autofree char *leaves =
        children_joined(fx, "base", VMSNAP_SNAPSHOT_LIST_DESCENDANTS | VMSNAP_SNAPSHOT_LIST_LEAVES);
    g_assert_cmpstr(leaves, ==, "a1,a2,b1");
    g_autofree char *none = children_joined(fx, "lone", VMSNAP_SNAPSHOT_LIST_DESCENDANTS);
    g_assert_cmpstr(none, ==, "");
}

static void test_getters_and_parent(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *a1 = vmsnap_snapshot_lookup_by_name(fx->dom, "a1", 0, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_snapshot_get_parent_name(a1), ==, "a");
    g_assert_cmpint(vmsnap_snapshot_get_state(a1), ==, VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT);
    g_assert_cmpstr(vmsnap_snapshot_state_to_string(vmsnap_snapshot_get_state(a1)), ==,
                    "disk-snapshot");
    g_assert_cmpint(vmsnap_snapshot_get_location(a1), ==, VMSNAP_SNAPSHOT_LOCATION_EXTERNAL);
    g_assert_false(vmsnap_snapshot_has_memory(a1));
    g_assert_cmpint(vmsnap_snapshot_get_creation_time(a1), >=, 1700000000);
    g_assert_true(vmsnap_snapshot_get_domain(a1) == fx->dom);

    vmsnap_snapshot *parent = vmsnap_snapshot_get_parent(a1, 0, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_snapshot_get_name(parent), ==, "a");
    g_assert_true(vmsnap_snapshot_has_memory(parent));
    g_assert_cmpint(vmsnap_snapshot_get_location(parent), ==, VMSNAP_SNAPSHOT_LOCATION_INTERNAL);
    vmsnap_snapshot *grand = vmsnap_snapshot_get_parent(parent, 0, &err);
    g_assert_cmpstr(vmsnap_snapshot_get_name(grand), ==, "base");
    g_assert_null(vmsnap_snapshot_get_parent(grand, 0, &err));
    assert_error(&err, VMSNAP_ERR_NO_PARENT, "snapshot 'base' has no parent");

    g_assert_null(vmsnap_snapshot_lookup_by_name(fx->dom, "zz", 0, &err));
    assert_error(&err, VMSNAP_ERR_NO_SNAPSHOT, "domain 'demo' has no snapshot named 'zz'");
    g_assert_null(vmsnap_snapshot_lookup_by_name(fx->dom, "../demo/domain", 0, &err));
    g_assert_nonnull(err);
    g_clear_pointer(&err, vmsnap_error_free);

    vmsnap_snapshot_free(grand);
    vmsnap_snapshot_free(parent);
    vmsnap_snapshot_free(a1);
}

static void test_xml_desc(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *a = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    g_autofree char *full = vmsnap_snapshot_get_xml_desc(a, 0, &err);
    vms_test_assert_no_error(err);
    /* The domain definition was filled in from the domain at redefine time. */
    g_assert_nonnull(strstr(full, "<name>demo</name>"));
    g_assert_nonnull(strstr(full, "<parent>\n    <name>base</name>\n  </parent>\n"));
    g_autofree char *bare = vmsnap_snapshot_get_xml_desc(a, VMSNAP_SNAPSHOT_XML_NO_DOMAIN, &err);
    g_assert_null(strstr(bare, "\n  <domain"));
    g_assert_nonnull(strstr(bare, "<name>a</name>"));
    /* Canonical: the output redefines to the same output. */
    vmsnap_snapshot *again =
        vmsnap_snapshot_create_xml(fx->dom, full, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err);
    vms_test_assert_no_error(err);
    g_autofree char *full2 = vmsnap_snapshot_get_xml_desc(again, 0, &err);
    g_assert_cmpstr(full, ==, full2);
    vmsnap_snapshot_free(again);
    vmsnap_snapshot_free(a);
}

/* --- redefine rules ------------------------------------------------------ */

static void test_redefine_errors(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    g_autofree char *orphan = snapshot_xml("x", "missing", "internal-full", 1);
    g_assert_null(
        vmsnap_snapshot_create_xml(fx->dom, orphan, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err));
    assert_error(&err, VMSNAP_ERR_NO_SNAPSHOT,
                 "the parent of snapshot 'x', 'missing', is not a snapshot of domain 'demo'; "
                 "redefine the parent first");

    g_autofree char *cycle = snapshot_xml("a", "a1", "internal-full", 1);
    g_assert_null(
        vmsnap_snapshot_create_xml(fx->dom, cycle, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err));
    assert_error(&err, VMSNAP_ERR_XML,
                 "snapshot 'a' cannot move under 'a1', which descends from it");

    g_autofree char *self = snapshot_xml("a", "a", "internal-full", 1);
    g_assert_null(vmsnap_snapshot_create_xml(fx->dom, self, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err));
    assert_error(&err, VMSNAP_ERR_XML, "line 4: snapshot 'a' names itself as its parent");

    const char *nameless = "<domainsnapshot><state>running</state></domainsnapshot>";
    g_assert_null(
        vmsnap_snapshot_create_xml(fx->dom, nameless, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err));
    assert_error(&err, VMSNAP_ERR_XML,
                 "a snapshot being redefined needs a <name>: the name it has where it was taken");

    const char *stateless = "<domainsnapshot><name>s</name></domainsnapshot>";
    g_assert_null(
        vmsnap_snapshot_create_xml(fx->dom, stateless, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err));
    assert_error(&err, VMSNAP_ERR_XML,
                 "snapshot 's' does not say what state the domain was in; a redefined snapshot "
                 "needs <state> (running, paused, shutoff, disk-snapshot, ...) in XML, or memory= "
                 "in an xl config");

    const char *wrong_disk = "<domainsnapshot><name>s</name><state>shutoff</state>"
                             "<disks><disk name='vdz' snapshot='internal'/></disks>"
                             "</domainsnapshot>";
    g_assert_null(
        vmsnap_snapshot_create_xml(fx->dom, wrong_disk, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err));
    assert_error(&err, VMSNAP_ERR_XML,
                 "snapshot 's' lists disk 'vdz', which its <domain> does not have");

    const char *memory_nowhere = "<domainsnapshot><name>s</name><state>running</state>"
                                 "<memory snapshot='external'/></domainsnapshot>";
    g_assert_null(
        vmsnap_snapshot_create_xml(fx->dom, memory_nowhere, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err));
    assert_error(&err, VMSNAP_ERR_XML,
                 "snapshot 's' keeps its memory in an external file but does not say which; a "
                 "redefined snapshot needs <memory snapshot='external' file='/absolute/path'/>");

    const char *disk_nowhere = "<domainsnapshot><name>s</name><state>disk-snapshot</state>"
                               "<disks><disk name='vda' snapshot='external'/></disks>"
                               "</domainsnapshot>";
    g_assert_null(
        vmsnap_snapshot_create_xml(fx->dom, disk_nowhere, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err));
    assert_error(&err, VMSNAP_ERR_XML,
                 "disk 'vda' of snapshot 's' is external but names no file; a redefined snapshot "
                 "needs <source file='/absolute/path'/> for it");

    g_autofree char *plain = snapshot_xml("new", NULL, "internal-full", 1);
    /* Not a redefinition: the snapshot is taken, and a shut-off domain has no
     * memory to save. */
    g_assert_null(vmsnap_snapshot_create_xml(fx->dom, plain, 0, &err));
    assert_error(&err, VMSNAP_ERR_INVALID_STATE,
                 "domain 'demo' is shut off: it has no memory to save; take a disk-only "
                 "snapshot");

    /* None of the refusals changed the tree. */
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,a,a1,a2,b,b1,lone");
    g_autofree char *cur = current_name(fx);
    g_assert_cmpstr(cur, ==, "b1");
}

static void test_redefine_moves_and_xl(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    /* Redefining an existing snapshot may move it elsewhere in the tree. */
    redefine(fx, "b", "lone", "external-disk", 0);
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,a,a1,a2,lone,b,b1");

    /* An xl config is accepted wherever XML is. */
    const char *xl = "name=\"from-xl\"\n"
                     "description=\"via the xl proposal\"\n"
                     "memory=\"no\"\n"
                     "type=\"internal\"\n"
                     "disk=['vdev=vda']\n";
    vmsnap_error *err = NULL;
    char **warnings = NULL;
    g_autofree char *xml = vmsnap_snapshot_config_to_xml(xl, &warnings, 0, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpuint(g_strv_length(warnings), ==, 0);
    vmsnap_string_list_free(warnings);
    g_assert_nonnull(strstr(xml, "<name>from-xl</name>"));
    g_assert_nonnull(strstr(xml, "<state>disk-snapshot</state>"));

    vmsnap_snapshot *snap =
        vmsnap_snapshot_create_xml(fx->dom, xl, VMSNAP_SNAPSHOT_CREATE_REDEFINE, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_snapshot_get_description(snap), ==, "via the xl proposal");
    g_assert_null(vmsnap_snapshot_get_parent_name(snap));
    vmsnap_snapshot_free(snap);

    const char *with_time = "name=\"t\"\ncreationtime=\"12345\"\nmemory=\"no\"\n";
    g_autofree char *xml2 = vmsnap_snapshot_config_to_xml(with_time, &warnings, 0, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(strstr(xml2, "<name>t</name>"));
    g_assert_cmpuint(g_strv_length(warnings), ==, 1);
    g_assert_cmpstr(warnings[0], ==,
                    "creationtime is set by vmsnap when the snapshot is taken; the value in the "
                    "config is ignored");
    vmsnap_string_list_free(warnings);
}

/* --- current, rename, description, edit ---------------------------------- */

static void test_current(fixture *fx, gconstpointer data)
{
    g_assert_null(current_name(fx));
    build_tree(fx);
    g_autofree char *c1 = current_name(fx);
    g_assert_cmpstr(c1, ==, "b1");

    vmsnap_error *err = NULL;
    vmsnap_snapshot *a = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    g_assert_cmpint(vmsnap_snapshot_is_current(a, 0, &err), ==, 0);
    g_assert_cmpint(vmsnap_snapshot_set_current(a, 0, &err), ==, 0);
    vms_test_assert_no_error(err);
    g_assert_cmpint(vmsnap_snapshot_is_current(a, 0, &err), ==, 1);
    g_autofree char *c2 = current_name(fx);
    g_assert_cmpstr(c2, ==, "a");
    vmsnap_snapshot_free(a);

    /* Redefine with CURRENT moves it. */
    redefine(fx, "c", "a2", "internal-full", VMSNAP_SNAPSHOT_CREATE_CURRENT);
    g_autofree char *c3 = current_name(fx);
    g_assert_cmpstr(c3, ==, "c");
}

static void test_rename(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *b = vmsnap_snapshot_lookup_by_name(fx->dom, "b", 0, &err);
    vmsnap_snapshot_set_current(b, 0, &err);
    g_assert_cmpint(vmsnap_snapshot_rename(b, "before upgrade", 0, &err), ==, 0);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_snapshot_get_name(b), ==, "before upgrade");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,a,a1,a2,before upgrade,b1,lone");
    g_autofree char *cur = current_name(fx);
    g_assert_cmpstr(cur, ==, "before upgrade");
    vmsnap_snapshot *b1 = vmsnap_snapshot_lookup_by_name(fx->dom, "b1", 0, &err);
    g_assert_cmpstr(vmsnap_snapshot_get_parent_name(b1), ==, "before upgrade");
    vmsnap_snapshot_free(b1);

    g_assert_cmpint(vmsnap_snapshot_rename(b, "a", 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_SNAPSHOT_EXISTS,
                 "domain 'demo' already has a snapshot named 'a'");
    g_assert_cmpint(vmsnap_snapshot_rename(b, "x/y", 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_NAME,
                 "snapshot name 'x/y' contains '/'; names may not contain slashes");
    assert_list(fx, 0, "a,a1,a2,b1,base,before upgrade,lone");
    vmsnap_snapshot_free(b);
}

static void test_description(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *a = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    g_assert_null(vmsnap_snapshot_get_description(a));
    g_assert_cmpint(vmsnap_snapshot_set_description(a, "kernel 6.1 & <tools>", 0, &err), ==, 0);
    g_assert_cmpstr(vmsnap_snapshot_get_description(a), ==, "kernel 6.1 & <tools>");
    vmsnap_snapshot *fresh = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    g_assert_cmpstr(vmsnap_snapshot_get_description(fresh), ==, "kernel 6.1 & <tools>");
    vmsnap_snapshot_free(fresh);
    g_assert_cmpint(vmsnap_snapshot_set_description(a, "bell\a", 0, &err), ==, -1);
    g_assert_cmpint(vmsnap_error_get_code(err), ==, VMSNAP_ERR_INVALID_ARG);
    g_clear_pointer(&err, vmsnap_error_free);
    g_assert_cmpint(vmsnap_snapshot_set_description(a, NULL, 0, &err), ==, 0);
    fresh = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    g_assert_null(vmsnap_snapshot_get_description(fresh));
    vmsnap_snapshot_free(fresh);
    vmsnap_snapshot_free(a);
}

static char *replace_once(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    g_assert_nonnull(at);
    return g_strdup_printf("%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
}

static void test_update_xml(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *a = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    g_autofree char *xml = vmsnap_snapshot_get_xml_desc(a, 0, &err);

    g_assert_cmpint(vmsnap_snapshot_update_xml(a, xml, 0, &err), ==, 0);
    vms_test_assert_no_error(err);

    g_autofree char *described = replace_once(
        xml, "<name>a</name>\n", "<name>a</name>\n  <description>edited</description>\n");
    g_assert_cmpint(vmsnap_snapshot_update_xml(a, described, 0, &err), ==, 1);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_snapshot_get_description(a), ==, "edited");

    g_autofree char *renamed = replace_once(described, "<name>a</name>", "<name>alpha</name>");
    g_assert_cmpint(vmsnap_snapshot_update_xml(a, renamed, 0, &err), ==, 1);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(vmsnap_snapshot_get_name(a), ==, "alpha");
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,alpha,a1,a2,b,b1,lone");

    g_autofree char *restate =
        replace_once(renamed, "<state>running</state>", "<state>paused</state>");
    g_assert_cmpint(vmsnap_snapshot_update_xml(a, restate, 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_UNSUPPORTED,
                 "editing snapshot 'alpha' changed <state>; only <name> and <description> can be "
                 "edited (redefine the snapshot to change anything else)");
    vmsnap_snapshot *fresh = vmsnap_snapshot_lookup_by_name(fx->dom, "alpha", 0, &err);
    g_assert_cmpint(vmsnap_snapshot_get_state(fresh), ==, VMSNAP_SNAPSHOT_STATE_RUNNING);
    vmsnap_snapshot_free(fresh);
    vmsnap_snapshot_free(a);
}

/* --- delete -------------------------------------------------------------- */

static void delete_snapshot(fixture *fx, const char *name, unsigned int flags)
{
    vmsnap_error *err = NULL;
    vmsnap_snapshot *snap = vmsnap_snapshot_lookup_by_name(fx->dom, name, 0, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpint(vmsnap_snapshot_delete(snap, flags, &err), ==, 0);
    vms_test_assert_no_error(err);
    vmsnap_snapshot_free(snap);
}

static void test_delete_one_reparents(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *a = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    vmsnap_snapshot_set_current(a, 0, &err);
    vmsnap_snapshot_free(a);

    delete_snapshot(fx, "a", VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY);
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,a1,a2,b,b1,lone");
    g_autofree char *kids = children_joined(fx, "base", 0);
    g_assert_cmpstr(kids, ==, "a1,a2,b");
    g_autofree char *cur = current_name(fx);
    g_assert_cmpstr(cur, ==, "base");

    /* Deleting a root makes its children roots; the current moves to none. */
    delete_snapshot(fx, "base", VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY);
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_ROOTS, "a1,a2,b,lone");
    g_assert_null(current_name(fx));
}

/* Argument checks of the calls that move data: they refuse before touching
 * anything (the tree is unchanged). */
static void test_data_call_arguments(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *a = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    g_assert_nonnull(a);
    g_assert_cmpint(vmsnap_snapshot_deactivate(a, 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "deactivating a snapshot needs exactly one of merge and discard");
    g_assert_cmpint(
        vmsnap_snapshot_deactivate(
            a, VMSNAP_SNAPSHOT_DEACTIVATE_MERGE | VMSNAP_SNAPSHOT_DEACTIVATE_DISCARD, &err),
        ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "deactivating a snapshot needs exactly one of merge and discard");
    g_assert_cmpint(vmsnap_snapshot_deactivate(a, VMSNAP_SNAPSHOT_DEACTIVATE_FORCE, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "deactivating a snapshot needs exactly one of merge and discard");
    g_assert_cmpint(vmsnap_snapshot_deactivate(a, 1u << 8, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "vmsnap_snapshot_deactivate: unsupported flags 0x100");
    g_assert_cmpint(vmsnap_snapshot_revert(
                        a, VMSNAP_SNAPSHOT_REVERT_RUNNING | VMSNAP_SNAPSHOT_REVERT_PAUSED, &err),
                    ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "reverting to a running and to a paused domain exclude each other");
    g_assert_cmpint(vmsnap_snapshot_start(a, VMSNAP_SNAPSHOT_REVERT_PAUSED, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG, "vmsnap_snapshot_start: unsupported flags 0x2");
    vmsnap_snapshot_free(a);
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,a,a1,a2,b,b1,lone");
}

static void test_delete_children(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    delete_snapshot(fx, "b",
                    VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY | VMSNAP_SNAPSHOT_DELETE_CHILDREN);
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,a,a1,a2,lone");
    g_autofree char *cur = current_name(fx); /* b1 was current; b's parent takes over */
    g_assert_cmpstr(cur, ==, "base");
}

static void test_delete_children_only(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    delete_snapshot(fx, "base",
                    VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY | VMSNAP_SNAPSHOT_DELETE_CHILDREN_ONLY);
    assert_list(fx, VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL, "base,lone");
    g_autofree char *cur = current_name(fx);
    g_assert_cmpstr(cur, ==, "base");
}

static void test_delete_refusals(fixture *fx, gconstpointer data)
{
    build_tree(fx);
    vmsnap_error *err = NULL;
    vmsnap_snapshot *a = vmsnap_snapshot_lookup_by_name(fx->dom, "a", 0, &err);
    g_assert_cmpint(vmsnap_snapshot_delete(a, 0, &err), ==, -1);
    /* Its data is gone (the fixture's disk files never existed). */
    assert_error(&err, VMSNAP_ERR_IO,
                 "the file '/srv/guest/disk0.qcow2' holding snapshot 'a' (disk vda) is missing; "
                 "delete only the snapshot's metadata with --metadata");
    g_assert_cmpint(vmsnap_snapshot_delete(a,
                                           VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY |
                                               VMSNAP_SNAPSHOT_DELETE_CHILDREN |
                                               VMSNAP_SNAPSHOT_DELETE_CHILDREN_ONLY,
                                           &err),
                    ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "deleting a snapshot with its children and deleting only its children exclude "
                 "each other");
    assert_list(fx, 0, "a,a1,a2,b,b1,base,lone");

    /* A stale handle: the snapshot is gone. */
    delete_snapshot(fx, "a", VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY);
    g_assert_cmpint(vmsnap_snapshot_delete(a, VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_NO_SNAPSHOT, "domain 'demo' has no snapshot named 'a'");
    vmsnap_snapshot_free(a);
}

static void ignore_progress(const char *what, unsigned long long done, unsigned long long total,
                            void *opaque)
{
    (void)what, (void)done, (void)total, (void)opaque;
}

/* Setting and clearing the callback; unknown flags are refused. Reports
 * themselves come from real QEMU work (tests/integration). */
static void test_progress_callback(fixture *f, gconstpointer data)
{
    (void)data;
    vmsnap_error *err = NULL;
    g_assert_cmpint(vmsnap_conn_set_progress_callback(f->conn, ignore_progress, f, 0, &err), ==, 0);
    g_assert_null(err);
    g_assert_cmpint(vmsnap_conn_set_progress_callback(f->conn, NULL, NULL, 0, &err), ==, 0);
    g_assert_cmpint(vmsnap_conn_set_progress_callback(f->conn, ignore_progress, NULL, 4, &err), ==,
                    -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "vmsnap_conn_set_progress_callback: unsupported flags 0x4");
}

static void test_null_arguments(void)
{
    vmsnap_error *err = NULL;
    g_assert_null(vmsnap_domain_lookup_by_name(NULL, "x", &err));
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "vmsnap_domain_lookup_by_name: conn must not be NULL");
    g_assert_cmpint(vmsnap_snapshot_delete(NULL, 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG, "vmsnap_snapshot_delete: snap must not be NULL");
    g_assert_cmpint(vmsnap_snapshot_start(NULL, 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG, "vmsnap_snapshot_start: snap must not be NULL");
    g_assert_cmpint(vmsnap_conn_set_progress_callback(NULL, NULL, NULL, 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG,
                 "vmsnap_conn_set_progress_callback: conn must not be NULL");
    /* 0.3: images and diffs. */
    g_assert_null(vmsnap_image_inspect(NULL, 0, &err));
    assert_error(&err, VMSNAP_ERR_INVALID_ARG, "vmsnap_image_inspect: path must not be NULL");
    g_assert_null(vmsnap_image_inspect("/dev/null", 2, &err));
    assert_error(&err, VMSNAP_ERR_INVALID_ARG, "vmsnap_image_inspect: unsupported flags 0x2");
    g_assert_null(vmsnap_image_inspect("/dev/null", 0, &err));
    assert_error(&err, VMSNAP_ERR_UNSUPPORTED,
                 "'/dev/null' is not a regular file; vmsnap inspects image files only");
    vmsnap_snapshot_diff_result *diff = NULL;
    g_assert_cmpint(vmsnap_snapshot_diff(NULL, NULL, &diff, 0, &err), ==, -1);
    assert_error(&err, VMSNAP_ERR_INVALID_ARG, "vmsnap_snapshot_diff: from must not be NULL");
    g_assert_null(diff);
    vmsnap_image_info_free(NULL);
    vmsnap_snapshot_diff_result_free(NULL);
    /* A NULL error pointer is allowed everywhere. */
    g_assert_null(vmsnap_domain_lookup_by_name(NULL, "x", NULL));
    g_assert_cmpstr(vmsnap_version(), ==, VMSNAP_TEST_VERSION);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add("/api/" path, fixture, NULL, fixture_setup, fn, fixture_teardown)
    ADD("domain/define-lookup-list", test_domain_define_lookup_list);
    ADD("conn/progress-callback", test_progress_callback);
    ADD("domain/define-conflicts", test_domain_define_conflicts);
    ADD("domain/undefine", test_domain_undefine);
    ADD("snapshot/list-filters", test_list_filters);
    ADD("snapshot/children", test_children);
    ADD("snapshot/getters-parent", test_getters_and_parent);
    ADD("snapshot/xml-desc", test_xml_desc);
    ADD("snapshot/redefine-errors", test_redefine_errors);
    ADD("snapshot/redefine-moves-and-xl", test_redefine_moves_and_xl);
    ADD("snapshot/current", test_current);
    ADD("snapshot/rename", test_rename);
    ADD("snapshot/description", test_description);
    ADD("snapshot/update-xml", test_update_xml);
    ADD("snapshot/delete-one", test_delete_one_reparents);
    ADD("snapshot/data-call-arguments", test_data_call_arguments);
    ADD("snapshot/delete-children", test_delete_children);
    ADD("snapshot/delete-children-only", test_delete_children_only);
    ADD("snapshot/delete-refusals", test_delete_refusals);
#undef ADD
    g_test_add_func("/api/null-arguments", test_null_arguments);
    return g_test_run();
}
