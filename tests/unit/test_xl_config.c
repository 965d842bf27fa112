/*
 * test_xl_config.c: the xl snapshot proposal's config file.
 *
 * Golden files: tests/data/xl/valid/NAME.cfg parses to the canonical XML in
 * NAME.out.xml, with the warnings in NAME.warnings (no file: no warnings);
 * tests/data/xl/invalid/NAME.cfg fails with NAME.err (the error code string,
 * then the message). VMSNAP_REGENERATE=1 rewrites them. Inputs that are
 * better built than stored (huge, generated) are in the functions below.
 */
#include "testutil.h"
#include "conf/snapshot_conf.h"
#include "conf/xl_config.h"
#include "util/error.h"

#include <glib/gstdio.h>
#include <string.h>

static const char creationtime_warning[] = "creationtime is set by vmsnap when the snapshot is "
                                           "taken; the value in the config is ignored";

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .cfg files of tests/data/xl/@kind, sorted, as "xl/KIND/NAME" without
 * the extension. */
static GPtrArray *list_cases(const char *kind)
{
    g_autofree char *dir_path = g_build_filename(vms_test_data_dir(), "xl", kind, NULL);
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GDir) dir = g_dir_open(dir_path, 0, &gerr);
    if (!dir)
        g_error("cannot list %s: %s", dir_path, gerr->message);
    GPtrArray *cases = g_ptr_array_new_with_free_func(g_free);
    const char *entry;
    while ((entry = g_dir_read_name(dir))) {
        if (!g_str_has_suffix(entry, ".cfg"))
            continue;
        g_autofree char *base = g_strndup(entry, strlen(entry) - strlen(".cfg"));
        g_ptr_array_add(cases, g_strdup_printf("xl/%s/%s", kind, base));
    }
    g_ptr_array_sort(cases, compare_strings);
    return cases;
}

/* The bytes of a data file, NULs and all. */
static char *read_bytes(const char *relpath, size_t *len)
{
    g_autofree char *path = g_build_filename(vms_test_data_dir(), relpath, NULL);
    char *data = NULL;
    gsize size = 0;
    g_autoptr(GError) gerr = NULL;
    if (!g_file_get_contents(path, &data, &size, &gerr))
        g_error("cannot read test data %s: %s", path, gerr->message);
    *len = size;
    return data;
}

static char *join_warnings(GPtrArray *warnings)
{
    GString *out = g_string_new(NULL);
    for (guint i = 0; i < warnings->len; i++)
        g_string_append_printf(out, "%s\n", (const char *)g_ptr_array_index(warnings, i));
    return g_string_free(out, FALSE);
}

/* Parse @text, expecting failure with @code and exactly @message; checks that
 * no warnings leak out of a failed parse. */
static void assert_parse_fails_len(const char *text, size_t len, vmsnap_error_code code,
                                   const char *message)
{
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    vmsnap_error *err = NULL;
    vms_snapshot_def *def = vms_xl_config_parse_bytes(text, len, warnings, &err);
    g_assert_null(def);
    g_assert_nonnull(err);
    g_assert_cmpstr(vmsnap_error_code_to_string(vmsnap_error_get_code(err)), ==,
                    vmsnap_error_code_to_string(code));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, message);
    g_assert_cmpuint(warnings->len, ==, 0);
    vmsnap_error_free(err);
}

static void assert_parse_fails(const char *text, vmsnap_error_code code, const char *message)
{
    assert_parse_fails_len(text, strlen(text), code, message);
}

static vms_snapshot_def *parse_ok(const char *text, GPtrArray *warnings)
{
    vmsnap_error *err = NULL;
    vms_snapshot_def *def = vms_xl_config_parse(text, warnings, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(def);
    return def;
}

/* ------------------------------------------------------------------ */
/* Golden files                                                        */
/* ------------------------------------------------------------------ */

/* The XML parser reads the canonical XML of a parsed config back into the
 * same definition (external memory without a file included: creation picks
 * the file). */
static void assert_xml_round_trip(const vms_snapshot_def *def, const char *xml)
{
    vmsnap_error *err = NULL;
    g_autoptr(vms_snapshot_def) again = vms_snapshot_def_parse_string(xml, &err);
    vms_test_assert_no_error(err);
    g_autofree char *xml_again = vms_snapshot_def_format(again, 0);
    g_assert_cmpstr(xml_again, ==, xml);
}

static void check_valid_case(const char *base)
{
    g_autofree char *cfg_path = g_strconcat(base, ".cfg", NULL);
    g_autofree char *xml_path = g_strconcat(base, ".out.xml", NULL);
    g_autofree char *warn_path = g_strconcat(base, ".warnings", NULL);
    size_t len = 0;
    g_autofree char *text = read_bytes(cfg_path, &len);

    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    vmsnap_error *err = NULL;
    g_autoptr(vms_snapshot_def) def = vms_xl_config_parse_bytes(text, len, warnings, &err);
    if (!def)
        g_error("%s: %s", cfg_path, vmsnap_error_get_message(err));
    g_autofree char *xml = vms_snapshot_def_format(def, 0);
    vms_test_assert_golden(xml_path, xml);
    assert_xml_round_trip(def, xml);

    g_autofree char *warn_text = join_warnings(warnings);
    g_autofree char *warn_file = g_build_filename(vms_test_data_dir(), warn_path, NULL);
    if (vms_test_regenerate() && !*warn_text)
        g_unlink(warn_file);
    else if (*warn_text || g_file_test(warn_file, G_FILE_TEST_EXISTS))
        vms_test_assert_golden(warn_path, warn_text);
}

static void test_valid_golden(void)
{
    g_autoptr(GPtrArray) cases = list_cases("valid");
    g_assert_cmpuint(cases->len, >=, 25);
    for (guint i = 0; i < cases->len; i++)
        check_valid_case(g_ptr_array_index(cases, i));
}

static void check_invalid_case(const char *base)
{
    g_autofree char *cfg_path = g_strconcat(base, ".cfg", NULL);
    g_autofree char *err_path = g_strconcat(base, ".err", NULL);
    size_t len = 0;
    g_autofree char *text = read_bytes(cfg_path, &len);

    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    vmsnap_error *err = NULL;
    g_autoptr(vms_snapshot_def) def = vms_xl_config_parse_bytes(text, len, warnings, &err);
    if (def)
        g_error("%s parsed, but it should have been refused", cfg_path);
    g_assert_nonnull(err);
    g_assert_cmpuint(warnings->len, ==, 0);
    g_autofree char *actual =
        g_strdup_printf("%s\n%s\n", vmsnap_error_code_to_string(vmsnap_error_get_code(err)),
                        vmsnap_error_get_message(err));
    vmsnap_error_free(err);
    vms_test_assert_golden(err_path, actual);
}

static void test_invalid_golden(void)
{
    g_autoptr(GPtrArray) cases = list_cases("invalid");
    g_assert_cmpuint(cases->len, >=, 70);
    for (guint i = 0; i < cases->len; i++)
        check_invalid_case(g_ptr_array_index(cases, i));
}

/* ------------------------------------------------------------------ */
/* The definition itself, field by field                               */
/* ------------------------------------------------------------------ */

static void test_proposal_example_fields(void)
{
    g_autofree char *text = vms_test_read_data("xl/valid/proposal-example.cfg");
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(vms_snapshot_def) def = parse_ok(text, warnings);
    g_assert_cmpstr(def->name, ==, "snap1");
    g_assert_cmpstr(def->description, ==, "before the upgrade");
    g_assert_false(def->has_creation_time);
    g_assert_cmpint(def->state, ==, VMSNAP_SNAPSHOT_STATE_RUNNING);
    g_assert_cmpint(def->memory, ==, VMS_SNAP_LOCATION_EXTERNAL);
    g_assert_null(def->memory_file);
    g_assert_null(def->parent);
    g_assert_null(def->domain);
    g_assert_cmpuint(def->ndisks, ==, 2);
    g_assert_cmpstr(def->disks[0]->name, ==, "hda");
    g_assert_cmpint(def->disks[0]->snapshot, ==, VMS_SNAP_LOCATION_NO);
    g_assert_cmpint(def->disks[0]->format, ==, VMS_DISK_FORMAT_NONE);
    g_assert_null(def->disks[0]->source_file);
    g_assert_cmpstr(def->disks[1]->name, ==, "hdb");
    g_assert_cmpint(def->disks[1]->snapshot, ==, VMS_SNAP_LOCATION_EXTERNAL);
    g_assert_cmpint(def->disks[1]->format, ==, VMS_DISK_FORMAT_QCOW2);
    g_assert_cmpstr(def->disks[1]->source_file, ==, "/var/lib/xen/snapshots/hdb-snap1.qcow2");
    g_assert_cmpuint(warnings->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(warnings, 0), ==, creationtime_warning);
}

static void test_defaults(void)
{
    g_autoptr(vms_snapshot_def) def = parse_ok("# nothing\n", NULL);
    g_assert_null(def->name);
    g_assert_null(def->description);
    g_assert_cmpint(def->state, ==, VMSNAP_SNAPSHOT_STATE_NONE);
    g_assert_cmpint(def->memory, ==, VMS_SNAP_LOCATION_DEFAULT);
    g_assert_null(def->memory_file);
    g_assert_cmpuint(def->ndisks, ==, 0);
}

typedef struct {
    const char *memory; /* NULL: key absent */
    const char *type;   /* NULL: key absent */
    vms_snap_location want_memory;
    const char *want_memory_file;
    vmsnap_snapshot_state want_state;
    vms_snap_location want_disk; /* for 'vdev=hda' without target */
} memory_case;

/* Every memory x type combination, and what a disk without target becomes. */
static void test_memory_type_matrix(void)
{
    const vms_snap_location D = VMS_SNAP_LOCATION_DEFAULT, NO = VMS_SNAP_LOCATION_NO,
                            IN = VMS_SNAP_LOCATION_INTERNAL, EX = VMS_SNAP_LOCATION_EXTERNAL;
    const vmsnap_snapshot_state NONE = VMSNAP_SNAPSHOT_STATE_NONE,
                                DISK = VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT,
                                RUN = VMSNAP_SNAPSHOT_STATE_RUNNING;
    const memory_case cases[] = {
        {NULL, NULL, D, NULL, NONE, EX},
        {NULL, "internal", D, NULL, NONE, IN},
        {NULL, "external", D, NULL, NONE, EX},
        {"no", NULL, NO, NULL, DISK, EX},
        {"no", "internal", NO, NULL, DISK, IN},
        {"no", "external", NO, NULL, DISK, EX},
        {"yes", NULL, EX, NULL, RUN, EX},
        {"yes", "internal", IN, NULL, RUN, IN},
        {"yes", "external", EX, NULL, RUN, EX},
        {"/m/s.save", NULL, EX, "/m/s.save", RUN, EX},
        {"/m/s.save", "internal", EX, "/m/s.save", RUN, IN},
        {"/m/s.save", "external", EX, "/m/s.save", RUN, EX},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        const memory_case *c = &cases[i];
        g_autoptr(GString) text = g_string_new("disk=['vdev=hda', 'vdev=hdb,target=null', "
                                               "'vdev=hdc,target=/o/hdc.qcow2']\n");
        if (c->memory)
            g_string_append_printf(text, "memory=\"%s\"\n", c->memory);
        if (c->type)
            g_string_append_printf(text, "type=\"%s\"\n", c->type);
        g_test_message("memory=%s type=%s", c->memory ? c->memory : "(absent)",
                       c->type ? c->type : "(absent)");
        g_autoptr(vms_snapshot_def) def = parse_ok(text->str, NULL);
        g_assert_cmpint(def->memory, ==, c->want_memory);
        g_assert_cmpstr(def->memory_file, ==, c->want_memory_file);
        g_assert_cmpint(def->state, ==, c->want_state);
        g_assert_cmpuint(def->ndisks, ==, 3);
        g_assert_cmpint(def->disks[0]->snapshot, ==, c->want_disk);
        g_assert_null(def->disks[0]->source_file);
        /* target=null and target=PATH do not depend on type. */
        g_assert_cmpint(def->disks[1]->snapshot, ==, NO);
        g_assert_cmpint(def->disks[2]->snapshot, ==, EX);
        g_assert_cmpstr(def->disks[2]->source_file, ==, "/o/hdc.qcow2");
    }
}

static void test_string_escapes(void)
{
    g_autoptr(vms_snapshot_def) def = parse_ok("description=\"a\\\"b\\\\c\\nd\\te\\'f'g\"\n", NULL);
    g_assert_cmpstr(def->description, ==, "a\"b\\c\nd\te'f'g");
    g_autoptr(vms_snapshot_def) def2 = parse_ok("description='x\"y\\'z'\n", NULL);
    g_assert_cmpstr(def2->description, ==, "x\"y'z");
}

static void test_disk_format_values(void)
{
    g_autoptr(vms_snapshot_def) def = parse_ok(
        "disk=['vdev=a,format=qcow2', 'vdev=b,format=raw,target=/x/b.raw', 'vdev=c']\n", NULL);
    g_assert_cmpint(def->disks[0]->format, ==, VMS_DISK_FORMAT_QCOW2);
    g_assert_cmpint(def->disks[1]->format, ==, VMS_DISK_FORMAT_RAW);
    g_assert_cmpint(def->disks[2]->format, ==, VMS_DISK_FORMAT_NONE);
}

/* ------------------------------------------------------------------ */
/* Warnings                                                            */
/* ------------------------------------------------------------------ */

static void test_warnings(void)
{
    /* Appended to what the caller already has, never replacing it. */
    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(warnings, g_strdup("earlier"));
    g_autoptr(vms_snapshot_def) def = parse_ok("creationtime=\"yesterday\"\n", warnings);
    g_assert_cmpuint(warnings->len, ==, 2);
    g_assert_cmpstr(g_ptr_array_index(warnings, 0), ==, "earlier");
    g_assert_cmpstr(g_ptr_array_index(warnings, 1), ==, creationtime_warning);
    g_assert_false(def->has_creation_time);

    /* NULL is allowed when the caller does not care. */
    g_autoptr(vms_snapshot_def) def2 = parse_ok("creationtime=1\n", NULL);
    g_assert_nonnull(def2);

    /* No creationtime, no warning. */
    g_autoptr(GPtrArray) none = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(vms_snapshot_def) def3 = parse_ok("name=\"x\"\n", none);
    g_assert_cmpstr(def3->name, ==, "x");
    g_assert_cmpuint(none->len, ==, 0);

    /* A failed parse leaves the caller's warnings as they were. */
    g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func(g_free);
    vmsnap_error *err = NULL;
    g_assert_null(vms_xl_config_parse("creationtime=\"1\"\nfoo=\"x\"\n", kept, &err));
    vms_test_assert_error(err, VMSNAP_ERR_CONFIG);
    g_assert_cmpuint(kept->len, ==, 0);
}

/* ------------------------------------------------------------------ */
/* Hostile inputs                                                      */
/* ------------------------------------------------------------------ */

static void test_huge_name(void)
{
    g_autofree char *name = g_strnfill(10240, 'x');
    g_autofree char *text = g_strdup_printf("# hostile\nname=\"%s\"\n", name);
    assert_parse_fails(text, VMSNAP_ERR_INVALID_NAME,
                       "line 2: snapshot name is 10240 bytes long; the limit is 240 bytes");
    /* The longest allowed name still works. */
    g_autofree char *longest = g_strnfill(240, 'y');
    g_autofree char *ok = g_strdup_printf("name='%s'\n", longest);
    g_autoptr(vms_snapshot_def) def = parse_ok(ok, NULL);
    g_assert_cmpstr(def->name, ==, longest);
}

static void test_size_limit(void)
{
    /* Exactly at the limit: a valid config padded with a comment. */
    const char *head = "name=\"big\"\n#";
    size_t limit = VMS_XL_CONFIG_MAX_BYTES;
    g_autofree char *at_limit = g_malloc(limit + 1);
    memset(at_limit, 'c', limit);
    memcpy(at_limit, head, strlen(head));
    at_limit[limit] = '\0';
    g_autoptr(vms_snapshot_def) def = parse_ok(at_limit, NULL);
    g_assert_cmpstr(def->name, ==, "big");

    /* One byte over, and 10 MB: refused before parsing. */
    g_autofree char *over = g_malloc(limit + 2);
    memcpy(over, at_limit, limit);
    over[limit] = 'c';
    over[limit + 1] = '\0';
    assert_parse_fails(over, VMSNAP_ERR_CONFIG,
                       "the xl config is 1048577 bytes; the limit is 1048576 bytes: a snapshot "
                       "config is a few settings, check that this is the right file");
    g_autofree char *ten_mb = g_strnfill(10 * 1024 * 1024, '#');
    assert_parse_fails(ten_mb, VMSNAP_ERR_CONFIG,
                       "the xl config is 10485760 bytes; the limit is 1048576 bytes: a snapshot "
                       "config is a few settings, check that this is the right file");
}

static void test_many_disks(void)
{
    /* A list as large as the size limit allows parses in linear time and
     * still catches a duplicate at the very end. */
    g_autoptr(GString) text = g_string_new("disk=[\n");
    for (int i = 0; i < 20000; i++)
        g_string_append_printf(text, "'vdev=d%d',\n", i);
    g_string_append(text, "]\n");
    g_autoptr(vms_snapshot_def) def = parse_ok(text->str, NULL);
    g_assert_cmpuint(def->ndisks, ==, 20000);
    g_assert_cmpstr(def->disks[19999]->name, ==, "d19999");

    g_string_truncate(text, text->len - 2);
    g_string_append(text, "'vdev=d7']\n");
    assert_parse_fails(text->str, VMSNAP_ERR_CONFIG,
                       "line 20002: disk 'd7' is already listed on line 9; list each disk once");
}

static void test_long_path(void)
{
    g_autofree char *path = g_strnfill(5000, 'p');
    path[0] = '/';
    g_autofree char *text = g_strdup_printf("memory=\"%s\"\n", path);
    assert_parse_fails(text, VMSNAP_ERR_CONFIG,
                       "line 1: the memory path is 5000 bytes long; the limit is 4095 bytes");
    g_autofree char *disk = g_strdup_printf("\n\ndisk=['vdev=a,target=%s']\n", path);
    assert_parse_fails(disk, VMSNAP_ERR_CONFIG,
                       "line 3: the target path is 5000 bytes long; the limit is 4095 bytes");
}

static void test_long_values_are_cut_in_messages(void)
{
    g_autofree char *value = g_strnfill(10000, 'k');
    g_autofree char *text = g_strdup_printf("%s=\"x\"\n", value);
    g_autofree char *shown = g_strnfill(64, 'k');
    g_autofree char *want =
        g_strdup_printf("line 1: unknown key '%s...'; known keys are name, description, "
                        "creationtime, memory, type, disk",
                        shown);
    assert_parse_fails(text, VMSNAP_ERR_CONFIG, want);

    /* Cutting never splits a UTF-8 character. */
    g_autoptr(GString) type = g_string_new("type=\"");
    for (int i = 0; i < 40; i++)
        g_string_append(type, "é");
    g_string_append(type, "\"\n");
    vmsnap_error *err = NULL;
    g_assert_null(vms_xl_config_parse(type->str, NULL, &err));
    g_assert_true(g_utf8_validate(vmsnap_error_get_message(err), -1, NULL));
    g_assert_true(strstr(vmsnap_error_get_message(err), "éé...'") != NULL);
    vmsnap_error_free(err);
}

static void test_nul_byte(void)
{
    const char text[] = "name=\"a\"\n\ndescription=\"b\0c\"\n";
    assert_parse_fails_len(text, sizeof(text) - 1, VMSNAP_ERR_CONFIG,
                           "line 3: NUL byte; an xl config is text and may not contain NUL bytes");
    /* Through the C-string entry point the text ends at the NUL, as C says. */
    vmsnap_error *err = NULL;
    g_assert_null(vms_xl_config_parse(text, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "line 3: unterminated string; close it with \" before the end of the line "
                    "(strings cannot span lines: write \\n for a newline)");
    vmsnap_error_free(err);
}

/* Random bytes and random mutations of a valid config: never a crash, and
 * either a definition or a config/invalid-name error with a line number. */
static void test_garbage(void)
{
    g_autofree char *valid = vms_test_read_data("xl/valid/proposal-example.cfg");
    size_t valid_len = strlen(valid);
    GRand *rand = g_rand_new_with_seed(20140714);
    for (int round = 0; round < 3000; round++) {
        size_t len;
        g_autofree char *buf = NULL;
        if (round % 2 == 0) {
            len = (size_t)g_rand_int_range(rand, 1, 512);
            buf = g_malloc(len);
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)g_rand_int_range(rand, 0, 256);
        } else {
            len = valid_len;
            buf = g_memdup2(valid, len);
            int flips = g_rand_int_range(rand, 1, 4);
            for (int f = 0; f < flips; f++)
                buf[g_rand_int_range(rand, 0, (gint32)len)] = (char)g_rand_int_range(rand, 0, 256);
        }
        g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
        vmsnap_error *err = NULL;
        g_autoptr(vms_snapshot_def) def = vms_xl_config_parse_bytes(buf, len, warnings, &err);
        if (def) {
            g_assert_null(err);
            continue;
        }
        g_assert_nonnull(err);
        vmsnap_error_code code = vmsnap_error_get_code(err);
        g_assert_true(code == VMSNAP_ERR_CONFIG || code == VMSNAP_ERR_INVALID_NAME);
        g_assert_true(g_str_has_prefix(vmsnap_error_get_message(err), "line "));
        g_assert_true(g_utf8_validate(vmsnap_error_get_message(err), -1, NULL));
        g_assert_cmpuint(warnings->len, ==, 0);
        vmsnap_error_free(err);
    }
    g_rand_free(rand);
}

static void test_null_text(void)
{
    vmsnap_error *err = NULL;
    g_assert_null(vms_xl_config_parse(NULL, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, "no xl config text was given");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    /* A NULL error pointer is allowed. */
    g_assert_null(vms_xl_config_parse("foo=1\n", NULL, NULL));
}

static void test_first_error_wins(void)
{
    vmsnap_error *err = vms_error_new(VMSNAP_ERR_IO, "earlier");
    g_assert_null(vms_xl_config_parse("foo=1\n", NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, "earlier");
    vmsnap_error_free(err);
}

/* ------------------------------------------------------------------ */
/* Detection                                                           */
/* ------------------------------------------------------------------ */

static void test_detect(void)
{
    g_assert_true(vms_xl_config_detect("name=\"x\"\n"));
    g_assert_true(vms_xl_config_detect("# <domainsnapshot> in a comment\n\nname='x'\n"));
    g_assert_true(vms_xl_config_detect(""));
    g_assert_true(vms_xl_config_detect("# only a comment"));
    g_assert_true(vms_xl_config_detect("\xEF\xBB\xBFname='x'"));
    g_assert_false(vms_xl_config_detect("<domainsnapshot/>"));
    g_assert_false(vms_xl_config_detect("  \n\t<?xml version='1.0'?>\n<domainsnapshot/>"));
    g_assert_false(vms_xl_config_detect("# a comment first\n<domainsnapshot/>"));
    g_assert_false(vms_xl_config_detect("\xEF\xBB\xBF<domainsnapshot/>"));
    g_assert_false(vms_xl_config_detect("\r\n<!-- xml comment -->"));
    g_assert_false(vms_xl_config_detect(NULL));

    /* Every golden config detects as xl, every XML golden as XML. */
    g_autoptr(GPtrArray) cases = list_cases("valid");
    for (guint i = 0; i < cases->len; i++) {
        g_autofree char *cfg = g_strconcat(g_ptr_array_index(cases, i), ".cfg", NULL);
        g_autofree char *xml = g_strconcat(g_ptr_array_index(cases, i), ".out.xml", NULL);
        g_autofree char *cfg_text = vms_test_read_data(cfg);
        g_assert_true(vms_xl_config_detect(cfg_text));
        if (!vms_test_regenerate()) {
            g_autofree char *xml_text = vms_test_read_data(xml);
            g_assert_false(vms_xl_config_detect(xml_text));
        }
    }
}

/* ------------------------------------------------------------------ */
/* Equivalence with <domainsnapshot> XML                               */
/* ------------------------------------------------------------------ */

/* The same snapshot written both ways gives the same canonical XML. */
static void test_equivalence_with_xml(void)
{
    g_autoptr(GPtrArray) pairs = list_cases("equivalence");
    g_assert_cmpuint(pairs->len, >=, 3);
    for (guint i = 0; i < pairs->len; i++) {
        const char *base = g_ptr_array_index(pairs, i);
        g_autofree char *cfg_path = g_strconcat(base, ".cfg", NULL);
        g_autofree char *xml_path = g_strconcat(base, ".xml", NULL);
        g_autofree char *cfg = vms_test_read_data(cfg_path);
        g_autofree char *xml = vms_test_read_data(xml_path);

        g_autoptr(vms_snapshot_def) from_cfg = parse_ok(cfg, NULL);
        vmsnap_error *err = NULL;
        g_autoptr(vms_snapshot_def) from_xml = vms_snapshot_def_parse_string(xml, &err);
        vms_test_assert_no_error(err);
        g_assert_nonnull(from_xml);

        g_autofree char *a = vms_snapshot_def_format(from_cfg, 0);
        g_autofree char *b = vms_snapshot_def_format(from_xml, 0);
        g_test_message("%s", base);
        g_assert_cmpstr(a, ==, b);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xl_config/golden/valid", test_valid_golden);
    g_test_add_func("/xl_config/golden/invalid", test_invalid_golden);
    g_test_add_func("/xl_config/proposal-example", test_proposal_example_fields);
    g_test_add_func("/xl_config/defaults", test_defaults);
    g_test_add_func("/xl_config/memory-type-matrix", test_memory_type_matrix);
    g_test_add_func("/xl_config/string-escapes", test_string_escapes);
    g_test_add_func("/xl_config/disk-formats", test_disk_format_values);
    g_test_add_func("/xl_config/warnings", test_warnings);
    g_test_add_func("/xl_config/hostile/huge-name", test_huge_name);
    g_test_add_func("/xl_config/hostile/size-limit", test_size_limit);
    g_test_add_func("/xl_config/hostile/many-disks", test_many_disks);
    g_test_add_func("/xl_config/hostile/long-path", test_long_path);
    g_test_add_func("/xl_config/hostile/long-values-cut", test_long_values_are_cut_in_messages);
    g_test_add_func("/xl_config/hostile/nul-byte", test_nul_byte);
    g_test_add_func("/xl_config/hostile/garbage", test_garbage);
    g_test_add_func("/xl_config/null-text", test_null_text);
    g_test_add_func("/xl_config/first-error-wins", test_first_error_wins);
    g_test_add_func("/xl_config/detect", test_detect);
    g_test_add_func("/xl_config/equivalence-with-xml", test_equivalence_with_xml);
    return g_test_run();
}
