/* testutil.c: helpers shared by the unit tests. */
#include "testutil.h"

#include <glib/gstdio.h>
#include <stdlib.h>

const char *vms_test_data_dir(void)
{
    const char *dir = g_getenv("VMSNAP_TEST_DATA");
    return dir ? dir : VMSNAP_TEST_SOURCE_DIR "/tests/data";
}

char *vms_test_read_data(const char *relpath)
{
    g_autofree char *path = g_build_filename(vms_test_data_dir(), relpath, NULL);
    char *text = NULL;
    g_autoptr(GError) gerr = NULL;
    if (!g_file_get_contents(path, &text, NULL, &gerr))
        g_error("cannot read test data %s: %s", path, gerr->message);
    return text;
}

gboolean vms_test_regenerate(void)
{
    return g_strcmp0(g_getenv("VMSNAP_REGENERATE"), "1") == 0;
}

void vms_test_assert_golden(const char *relpath, const char *actual)
{
    g_autofree char *path = g_build_filename(vms_test_data_dir(), relpath, NULL);
    if (vms_test_regenerate()) {
        g_autoptr(GError) gerr = NULL;
        if (!g_file_set_contents(path, actual, -1, &gerr))
            g_error("cannot write golden file %s: %s", path, gerr->message);
        return;
    }
    g_autofree char *expected = NULL;
    g_autoptr(GError) gerr = NULL;
    if (!g_file_get_contents(path, &expected, NULL, &gerr))
        g_error("missing golden file %s (run with VMSNAP_REGENERATE=1 to create it): %s", path,
                gerr->message);
    if (g_strcmp0(expected, actual) != 0)
        g_error("output differs from golden file %s\n--- expected\n%s\n--- actual\n%s", path,
                expected, actual);
}

static GPtrArray *tmpdirs;

static void remove_tree(const char *path)
{
    GDir *dir = g_dir_open(path, 0, NULL);
    if (dir) {
        const char *name;
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            if (g_file_test(child, G_FILE_TEST_IS_DIR) &&
                !g_file_test(child, G_FILE_TEST_IS_SYMLINK))
                remove_tree(child);
            else
                g_unlink(child);
        }
        g_dir_close(dir);
    }
    g_rmdir(path);
}

static void remove_tmpdirs(void)
{
    for (guint i = 0; tmpdirs && i < tmpdirs->len; i++)
        remove_tree(g_ptr_array_index(tmpdirs, i));
    g_clear_pointer(&tmpdirs, g_ptr_array_unref);
}

char *vms_test_make_tmpdir(void)
{
    g_autoptr(GError) gerr = NULL;
    char *dir = g_dir_make_tmp("vmsnap-test-XXXXXX", &gerr);
    if (!dir)
        g_error("cannot make a temporary directory: %s", gerr->message);
    if (!tmpdirs) {
        tmpdirs = g_ptr_array_new_with_free_func(g_free);
        atexit(remove_tmpdirs);
    }
    g_ptr_array_add(tmpdirs, g_strdup(dir));
    return dir;
}
