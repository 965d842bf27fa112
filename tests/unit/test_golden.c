/*
 * test_golden.c: parse + format of every XML file under tests/data/domain/
 * and tests/data/snapshot/ against golden files.
 *
 *   valid/NAME.xml    -> valid/NAME.out.xml (and formatting the output again
 *                        must give the same text)
 *   invalid/NAME.xml  -> invalid/NAME.err: the error code string, a newline,
 *                        the message, a newline
 *
 * VMSNAP_REGENERATE=1 rewrites the golden files. Large inputs (size limits)
 * are generated here rather than committed.
 */
#include <glib.h>
#include <string.h>

#include "conf/domain_conf.h"
#include "conf/snapshot_conf.h"
#include "conf/xml.h"
#include "testutil.h"
#include "util/error.h"

typedef enum { KIND_DOMAIN, KIND_SNAPSHOT } doc_kind;

typedef struct {
    doc_kind kind;
    char *relpath; /* under tests/data, e.g. domain/valid/minimal.xml */
} golden_case;

/* A generated uuid is random: golden files show it as all zeros.
 * (test_domain_conf.c checks the generation itself.) */
static void zero_generated_uuid(vms_domain_def *def)
{
    if (def && def->uuid_generated)
        memset(def->uuid, 0, sizeof(def->uuid));
}

/* Parse and format; NULL with *error on failure. */
static char *parse_format(doc_kind kind, const char *xml, vmsnap_error **error)
{
    if (kind == KIND_DOMAIN) {
        g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, error);
        zero_generated_uuid(def);
        return def ? vms_domain_def_format(def, 0) : NULL;
    }
    g_autoptr(vms_snapshot_def) def = vms_snapshot_def_parse_string(xml, error);
    if (def) {
        zero_generated_uuid(def->domain);
        zero_generated_uuid(def->inactive_domain);
    }
    return def ? vms_snapshot_def_format(def, 0) : NULL;
}

static char *sibling(const char *relpath, const char *suffix)
{
    g_autofree char *stem = g_strndup(relpath, strlen(relpath) - strlen(".xml"));
    return g_strconcat(stem, suffix, NULL);
}

static void test_valid(gconstpointer data)
{
    const golden_case *gc = data;
    g_autofree char *input = vms_test_read_data(gc->relpath);
    vmsnap_error *err = NULL;
    g_autofree char *out = parse_format(gc->kind, input, &err);
    vms_test_assert_no_error(err);
    g_autofree char *golden = sibling(gc->relpath, ".out.xml");
    vms_test_assert_golden(golden, out);

    /* canonical: formatting the formatted text changes nothing */
    g_autofree char *again = parse_format(gc->kind, out, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(again, ==, out);
}

static void test_invalid(gconstpointer data)
{
    const golden_case *gc = data;
    g_autofree char *input = vms_test_read_data(gc->relpath);
    vmsnap_error *err = NULL;
    g_autofree char *out = parse_format(gc->kind, input, &err);
    if (out)
        g_error("%s parsed, but it should have been refused:\n%s", gc->relpath, out);
    g_assert_nonnull(err);
    g_autofree char *actual =
        g_strdup_printf("%s\n%s\n", vmsnap_error_code_to_string(vmsnap_error_get_code(err)),
                        vmsnap_error_get_message(err));
    vmsnap_error_free(err);
    g_autofree char *golden = sibling(gc->relpath, ".err");
    vms_test_assert_golden(golden, actual);
}

static void golden_case_free(gpointer p)
{
    golden_case *gc = p;
    g_free(gc->relpath);
    g_free(gc);
}

static GPtrArray *all_cases;

static gint compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_cases(doc_kind kind, const char *kind_dir, const char *sub)
{
    g_autofree char *reldir = g_build_filename(kind_dir, sub, NULL);
    g_autofree char *dir = g_build_filename(vms_test_data_dir(), reldir, NULL);
    g_autoptr(GError) gerr = NULL;
    GDir *d = g_dir_open(dir, 0, &gerr);
    if (!d)
        g_error("cannot list %s: %s", dir, gerr->message);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)))
        if (g_str_has_suffix(name, ".xml") && !g_str_has_suffix(name, ".out.xml"))
            g_ptr_array_add(names, g_strdup(name));
    g_dir_close(d);
    g_ptr_array_sort(names, compare_names);
    if (names->len == 0)
        g_error("no test cases in %s", dir);
    for (guint i = 0; i < names->len; i++) {
        const char *file = g_ptr_array_index(names, i);
        golden_case *gc = g_new0(golden_case, 1);
        gc->kind = kind;
        gc->relpath = g_build_filename(reldir, file, NULL);
        g_ptr_array_add(all_cases, gc);
        g_autofree char *stem = g_strndup(file, strlen(file) - 4);
        g_autofree char *test_path = g_strdup_printf("/golden/%s/%s/%s", kind_dir, sub, stem);
        g_test_add_data_func(test_path, gc, strcmp(sub, "valid") == 0 ? test_valid : test_invalid);
    }
}

/* ------------------------------------------------------------------ */
/* Generated large inputs                                              */
/* ------------------------------------------------------------------ */

static char *domain_with_description(size_t desc_bytes)
{
    GString *s = g_string_new("<domain type='qemu'>\n  <name>big</name>\n  <description>");
    for (size_t i = 0; i < desc_bytes; i++)
        g_string_append_c(s, (char)('a' + i % 26));
    g_string_append(s, "</description>\n  <memory>1024</memory>\n  <os>\n    <type>hvm</type>\n"
                       "  </os>\n</domain>\n");
    return g_string_free(s, FALSE);
}

/* Over 16 MiB: refused before libxml2 sees a byte. */
static void test_too_large(void)
{
    size_t n = VMS_XML_MAX_BYTES + 1000;
    g_autofree char *xml = domain_with_description(n);
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, &err);
    g_assert_null(def);
    g_autofree char *expected =
        g_strdup_printf("XML document is %zu bytes; vmsnap refuses documents larger than "
                        "16777216 bytes (16 MiB)",
                        strlen(xml));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, expected);
    vms_test_assert_error(err, VMSNAP_ERR_XML);

    g_autofree char *snap = g_strdup_printf("<domainsnapshot><description>%s</description>"
                                            "</domainsnapshot>",
                                            xml);
    g_autoptr(vms_snapshot_def) sdef = vms_snapshot_def_parse_string(snap, &err);
    g_assert_null(sdef);
    g_assert_true(g_str_has_prefix(vmsnap_error_get_message(err), "XML document is "));
    vms_test_assert_error(err, VMSNAP_ERR_XML);
}

/* 15 MB of description fits the document limit but not the 1 MiB limit on
 * one text value: refused by vmsnap itself, the same with every libxml2. */
static void test_huge_description(void)
{
    g_autofree char *xml = domain_with_description(15 * 1000 * 1000);
    g_assert_cmpuint(strlen(xml), <, VMS_XML_MAX_BYTES);
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, &err);
    g_assert_null(def);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "line 3: the text of <description> is 15000000 bytes; vmsnap refuses text "
                    "values larger than 1048576 bytes (1 MiB)");
    vms_test_assert_error(err, VMSNAP_ERR_XML);
}

/* A description of exactly 1 MiB: parses and comes back intact. */
static void test_large_description(void)
{
    size_t n = VMS_XML_MAX_TEXT_BYTES;
    g_autofree char *xml = domain_with_description(n);
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpuint(strlen(def->description), ==, n);
    g_autofree char *out = vms_domain_def_format(def, 0);
    g_autoptr(vms_domain_def) again = vms_domain_def_parse_string(out, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(again->description, ==, def->description);
}

/* A 10 MB document (a <metadata> block libvirt tools might write, with
 * 100,000 entries) under the 16 MiB limit: parsed, kept and formatted back. */
static void test_ten_megabytes(void)
{
    GString *s = g_string_new("<domain type='qemu'>\n  <name>ten</name>\n"
                              "  <uuid>c7a5fdbd-cdaf-9455-926a-d65c16db1809</uuid>\n"
                              "  <metadata>\n    <app:list xmlns:app='urn:example:app'>\n");
    for (int i = 0; s->len < 10 * 1000 * 1000; i++)
        g_string_append_printf(s,
                               "      <app:entry id='%07d' note='padding padding padding "
                               "padding'>value %d</app:entry>\n",
                               i, i);
    g_string_append(s, "    </app:list>\n  </metadata>\n  <memory>1024</memory>\n"
                       "  <os>\n    <type>hvm</type>\n  </os>\n</domain>\n");
    g_autofree char *xml = g_string_free(s, FALSE);
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, &err);
    vms_test_assert_no_error(err);
    g_autofree char *out = vms_domain_def_format(def, 0);
    g_assert_cmpuint(strlen(out), >, 10 * 1000 * 1000);
    g_assert_nonnull(strstr(out, "      <app:entry id='0000000' note='padding padding padding "
                                 "padding'>value 0</app:entry>\n"));
    g_autoptr(vms_domain_def) again = vms_domain_def_parse_string(out, &err);
    vms_test_assert_no_error(err);
    g_autofree char *out2 = vms_domain_def_format(again, 0);
    g_assert_cmpstr(out2, ==, out);
}

/* libxml2's depth limit stays on: 100,000 nested elements inside a kept
 * element are refused by the parser, not walked recursively by vmsnap. */
static void test_deep_nesting(void)
{
    GString *s = g_string_new("<domain type='qemu'><name>deep</name><metadata>");
    for (int i = 0; i < 100000; i++)
        g_string_append(s, "<a>");
    for (int i = 0; i < 100000; i++)
        g_string_append(s, "</a>");
    g_string_append(s, "</metadata><memory>1</memory><os><type>hvm</type></os></domain>");
    g_autofree char *xml = g_string_free(s, FALSE);
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, &err);
    g_assert_null(def);
    g_assert_true(
        g_str_has_prefix(vmsnap_error_get_message(err), "XML is not well formed: line 1: "));
    vms_test_assert_error(err, VMSNAP_ERR_XML);
}

/* Past line 65535 the line number in messages is still right. */
static void test_big_line_numbers(void)
{
    GString *s = g_string_new("<domain type='qemu'>\n");
    for (int i = 0; i < 70000; i++)
        g_string_append(s, "<!-- padding -->\n");
    g_string_append(s, "<graphics/>\n</domain>\n");
    g_autofree char *xml = g_string_free(s, FALSE);
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, &err);
    g_assert_null(def);
    g_assert_true(g_str_has_prefix(vmsnap_error_get_message(err),
                                   "line 70002: unsupported element <graphics> in <domain>;"));
    vms_test_assert_error(err, VMSNAP_ERR_UNSUPPORTED);
}

/* The library never prints: libxml2's messages all end up in the error. */
static void test_silent(void)
{
    if (g_test_subprocess()) {
        static const char *const bad[] = {
            "<domain",
            "<domain type='qemu'><name>\xff</name></domain>",
            "<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]><domain>&e;</domain>",
            "<domain type='qemu'>&undefined;</domain>",
            "<?xml version='1.0' encoding='bogus'?><domain/>",
            "<domain type='qemu' type='kvm'/>",
            "<domainsnapshot><x:y/></domainsnapshot>",
            "<domain xmlns:a='not a uri'/>",
        };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
            vmsnap_error *err = NULL;
            g_assert_null(vms_domain_def_parse_string(bad[i], &err));
            g_clear_pointer(&err, vmsnap_error_free);
            g_assert_null(vms_snapshot_def_parse_string(bad[i], &err));
            g_clear_pointer(&err, vmsnap_error_free);
        }
        return;
    }
    g_test_trap_subprocess(NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
    g_test_trap_assert_passed();
    g_test_trap_assert_stdout("");
    g_test_trap_assert_stderr("");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    all_cases = g_ptr_array_new_with_free_func(golden_case_free);
    add_cases(KIND_DOMAIN, "domain", "valid");
    add_cases(KIND_DOMAIN, "domain", "invalid");
    add_cases(KIND_SNAPSHOT, "snapshot", "valid");
    add_cases(KIND_SNAPSHOT, "snapshot", "invalid");
    g_test_add_func("/golden/generated/too-large", test_too_large);
    g_test_add_func("/golden/generated/huge-description", test_huge_description);
    g_test_add_func("/golden/generated/large-description", test_large_description);
    g_test_add_func("/golden/generated/ten-megabytes", test_ten_megabytes);
    g_test_add_func("/golden/generated/deep-nesting", test_deep_nesting);
    g_test_add_func("/golden/generated/big-line-numbers", test_big_line_numbers);
    g_test_add_func("/golden/generated/silent", test_silent);
    int rc = g_test_run();
    g_ptr_array_unref(all_cases);
    return rc;
}
