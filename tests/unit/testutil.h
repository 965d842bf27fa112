/* testutil.h: helpers shared by the unit tests. */
#ifndef VMS_TESTUTIL_H
#define VMS_TESTUTIL_H

#include <glib.h>
#include <vmsnap/vmsnap.h>

/* tests/data, from $VMSNAP_TEST_DATA or the source tree. Borrowed. */
const char *vms_test_data_dir(void);

/* Read a file under tests/data; aborts the test if it cannot. */
char *vms_test_read_data(const char *relpath);

/* true when golden files should be rewritten ($VMSNAP_REGENERATE=1). */
gboolean vms_test_regenerate(void);

/* Compare @actual with the golden file @relpath (or rewrite it when
 * regenerating). Fails the test with a readable diff-ish message. */
void vms_test_assert_golden(const char *relpath, const char *actual);

/* A fresh temporary directory, removed (recursively) at exit. */
char *vms_test_make_tmpdir(void);

/* Assert an error is set with @code; frees it. */
#define vms_test_assert_error(err, code_)                                                          \
    do {                                                                                           \
        g_assert_nonnull(err);                                                                     \
        if (vmsnap_error_get_code(err) != (code_))                                                 \
            g_error("expected error code %s, got %s: %s", vmsnap_error_code_to_string(code_),      \
                    vmsnap_error_code_to_string(vmsnap_error_get_code(err)),                       \
                    vmsnap_error_get_message(err));                                                \
        g_clear_pointer(&(err), vmsnap_error_free);                                                \
    } while (0)

#define vms_test_assert_no_error(err)                                                              \
    do {                                                                                           \
        if (err)                                                                                   \
            g_error("unexpected error %s: %s",                                                     \
                    vmsnap_error_code_to_string(vmsnap_error_get_code(err)),                       \
                    vmsnap_error_get_message(err));                                                \
    } while (0)

#endif
