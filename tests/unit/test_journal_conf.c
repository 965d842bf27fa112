/* test_journal_conf.c: the journal record's text form (conf/journal_conf.c,
 * docs/formats/journal.md). */
#include "conf/journal_conf.h"
#include "testutil.h"

#include <string.h>

static vms_journal *full_record(void)
{
    vms_journal *j = vms_journal_new("revert");
    g_ptr_array_add(j->names, g_strdup("a"));
    g_ptr_array_add(j->names, g_strdup("b c")); /* spaces are escaped */
    j->flags = 5;
    g_free(j->phase);
    j->phase = g_strdup("started");
    j->was_running = true;
    j->domain_before = g_strdup("<domain type='qemu'>\n  <name>g%1</name>\n</domain>\n");
    j->current_before = g_strdup("base");
    g_ptr_array_add(j->created, g_strdup("/d/disk.after-a.qcow2"));
    g_ptr_array_add(j->tags, g_strdup("/d/disk.qcow2"));
    g_ptr_array_add(j->tags, g_strdup("t1"));
    j->memory_file = g_strdup("/m/a b.vmstate");
    g_ptr_array_add(j->candidates, g_strdup("/d/old.qcow2"));
    return j;
}

static void assert_same(const vms_journal *a, const vms_journal *b)
{
    g_assert_cmpstr(a->op, ==, b->op);
    g_assert_cmpstr(a->phase, ==, b->phase);
    g_assert_cmpuint(a->flags, ==, b->flags);
    g_assert_cmpint(a->was_running, ==, b->was_running);
    g_assert_cmpstr(a->domain_before, ==, b->domain_before);
    g_assert_cmpstr(a->current_before, ==, b->current_before);
    g_assert_cmpstr(a->memory_file, ==, b->memory_file);
    const GPtrArray *lists_a[] = {a->names, a->created, a->tags, a->candidates};
    const GPtrArray *lists_b[] = {b->names, b->created, b->tags, b->candidates};
    for (size_t l = 0; l < G_N_ELEMENTS(lists_a); l++) {
        g_assert_cmpuint(lists_a[l]->len, ==, lists_b[l]->len);
        for (guint i = 0; i < lists_a[l]->len; i++)
            g_assert_cmpstr(g_ptr_array_index(lists_a[l], i), ==, g_ptr_array_index(lists_b[l], i));
    }
}

static void test_round_trip(void)
{
    g_autoptr(vms_journal) j = full_record();
    g_autofree char *text = vms_journal_format(j);
    /* One line per entry, fields escaped: no raw newline inside a field. */
    g_assert_true(g_str_has_prefix(text, "vmsnap-journal 1\nop revert\nname a\nname b%20c\n"));
    g_assert_nonnull(strstr(text, "\ncurrent-before base\n"));
    g_assert_nonnull(strstr(text, "\ntag /d/disk.qcow2 t1\n"));
    g_assert_nonnull(strstr(text, "<name>g%251</name>%0a"));
    vmsnap_error *err = NULL;
    g_autoptr(vms_journal) back = vms_journal_parse(text, &err);
    vms_test_assert_no_error(err);
    assert_same(j, back);
    g_autofree char *again = vms_journal_format(back);
    g_assert_cmpstr(text, ==, again);
}

static void test_minimal(void)
{
    g_autoptr(vms_journal) j = vms_journal_new("create");
    g_autofree char *text = vms_journal_format(j);
    g_assert_cmpstr(text, ==, "vmsnap-journal 1\nop create\nflags 0\nphase begun\nwas-running 0\n");
    vmsnap_error *err = NULL;
    g_autoptr(vms_journal) back = vms_journal_parse(text, &err);
    vms_test_assert_no_error(err);
    assert_same(j, back);
    g_assert_null(back->current_before);
}

static void expect_corrupt(const char *text, const char *message)
{
    vmsnap_error *err = NULL;
    g_autoptr(vms_journal) j = vms_journal_parse(text, &err);
    g_assert_null(j);
    g_assert_nonnull(err);
    g_assert_cmpint(vmsnap_error_get_code(err), ==, VMSNAP_ERR_CORRUPT);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, message);
    vmsnap_error_free(err);
}

static void test_malformed(void)
{
    expect_corrupt("", "not a vmsnap journal of version 1 (the first line is not "
                       "'vmsnap-journal 1')");
    expect_corrupt("vmsnap-journal 2\nop create\n",
                   "not a vmsnap journal of version 1 (the first line is not "
                   "'vmsnap-journal 1')");
    expect_corrupt("vmsnap-journal 1\nphase begun\n", "journal has no 'op' line");
    expect_corrupt("vmsnap-journal 1\nop create\n", "journal has no 'phase' line");
    expect_corrupt("vmsnap-journal 1\nop create\nop revert\n",
                   "journal line 3: the key appears twice");
    expect_corrupt("vmsnap-journal 1\nop create\nflags 1\nflags 2\n",
                   "journal line 4: the key appears twice");
    expect_corrupt("vmsnap-journal 1\nop create\ncreated rel/x\n",
                   "journal line 3: a file must be an absolute path");
    expect_corrupt("vmsnap-journal 1\nop create\nname ../x\n",
                   "journal line 3: not a snapshot name");
    expect_corrupt("vmsnap-journal 1\nop create\ntag /f ..\n",
                   "journal line 3: not an internal snapshot tag");
    expect_corrupt("vmsnap-journal 1\nop create\ncreated /a%zz\n",
                   "journal line 3: a field is not percent-encoded text");
    expect_corrupt("vmsnap-journal 1\nop create\ncreated /a%00b\n",
                   "journal line 3: a field is not percent-encoded text");
    expect_corrupt("vmsnap-journal 1\nop create\nwas-running 2\n",
                   "journal line 3: not a number in range");
    expect_corrupt("vmsnap-journal 1\nop create\ntag /f\n",
                   "journal line 3: wrong number of fields");
    expect_corrupt("vmsnap-journal 1\nop create\nsomething else\n", "journal line 3: unknown key");
    expect_corrupt("vmsnap-journal 1\nop create\n\nphase begun\n",
                   "journal line 3: expected KEY FIELD...");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/journal-conf/round-trip", test_round_trip);
    g_test_add_func("/journal-conf/minimal", test_minimal);
    g_test_add_func("/journal-conf/malformed", test_malformed);
    return g_test_run();
}
