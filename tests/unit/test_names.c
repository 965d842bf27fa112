/* test_names.c: the name rule shared by domains and snapshots. */
#include "testutil.h"
#include "util/names.h"

#include <string.h>

static void test_valid_names(void)
{
    const char *ok[] = {"snap1", "before upgrade", "ünïcødé", "a.b", "a..b", "-x", "1700000000"};
    for (size_t i = 0; i < G_N_ELEMENTS(ok); i++) {
        vmsnap_error *err = NULL;
        g_assert_true(vms_name_validate("snapshot", ok[i], &err));
        g_assert_null(err);
    }
    g_autofree char *longest = g_strnfill(VMS_NAME_MAX, 'x');
    vmsnap_error *err = NULL;
    g_assert_true(vms_name_validate("snapshot", longest, &err));
}

static void check_invalid(const char *name, const char *message)
{
    vmsnap_error *err = NULL;
    g_assert_false(vms_name_validate("snapshot", name, &err));
    g_assert_nonnull(err);
    g_assert_cmpint(vmsnap_error_get_code(err), ==, VMSNAP_ERR_INVALID_NAME);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, message);
    vmsnap_error_free(err);
}

static void test_invalid_names(void)
{
    check_invalid("", "snapshot name is empty");
    check_invalid(".", "snapshot name '.' starts with '.'; names may not start with a dot");
    check_invalid("..", "snapshot name '..' starts with '.'; names may not start with a dot");
    check_invalid("../etc",
                  "snapshot name '../etc' starts with '.'; names may not start with a dot");
    check_invalid("a/b", "snapshot name 'a/b' contains '/'; names may not contain slashes");
    check_invalid("a\nb", "snapshot name 'a\\nb' contains a control character");
    check_invalid("a\x7f", "snapshot name 'a\\177' contains a control character");
    check_invalid("\xff\xfe", "snapshot name is not valid UTF-8");
    g_autofree char *too_long = g_strnfill(VMS_NAME_MAX + 1, 'x');
    check_invalid(too_long, "snapshot name is 241 bytes long; the limit is 240 bytes");
    g_autofree char *huge = g_strnfill(10240, 'x');
    check_invalid(huge, "snapshot name is 10240 bytes long; the limit is 240 bytes");
}

static void test_error_first_wins(void)
{
    vmsnap_error *err = NULL;
    g_assert_false(vms_name_validate("domain", "", &err));
    g_assert_false(vms_name_validate("domain", "a/b", &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, "domain name is empty");
    vmsnap_error_free(err);
    /* A NULL error pointer is allowed. */
    g_assert_false(vms_name_validate("domain", "", NULL));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/names/valid", test_valid_names);
    g_test_add_func("/names/invalid", test_invalid_names);
    g_test_add_func("/names/error-first-wins", test_error_first_wins);
    return g_test_run();
}
