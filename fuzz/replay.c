/*
 * replay.c: run a fuzz target over files without libFuzzer, so the committed
 * corpus is a regression suite in every build (suite 'fuzz-replay').
 *
 * Usage: <target>_replay PATH...   (each PATH a file or a corpus directory)
 * Output is TAP, one test per input; the input's name is printed before it
 * runs, so a crash names the file that caused it.
 */
#include "fuzz_common.h"

#include <glib.h>

static unsigned int count;

static void replay_file(const char *path)
{
    g_autofree char *data = NULL;
    gsize len = 0;
    g_autoptr(GError) gerr = NULL;
    printf("# input: %s\n", path);
    fflush(stdout);
    if (!g_file_get_contents(path, &data, &len, &gerr)) {
        printf("not ok %u - %s: %s\n", ++count, path, gerr->message);
        return;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    printf("ok %u - %s\n", ++count, path);
    fflush(stdout);
}

static gint compare_paths(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Files of a directory in name order, so runs are reproducible. */
static void replay_dir(const char *dir)
{
    g_autoptr(GError) gerr = NULL;
    g_autoptr(GDir) d = g_dir_open(dir, 0, &gerr);
    if (!d) {
        printf("not ok %u - %s: %s\n", ++count, dir, gerr->message);
        return;
    }
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)))
        g_ptr_array_add(names, g_build_filename(dir, name, NULL));
    g_ptr_array_sort(names, compare_paths);
    for (guint i = 0; i < names->len; i++) {
        const char *path = g_ptr_array_index(names, i);
        if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
            replay_file(path);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE-OR-CORPUS-DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (g_file_test(argv[i], G_FILE_TEST_IS_DIR))
            replay_dir(argv[i]);
        else
            replay_file(argv[i]);
    }
    if (count == 0) {
        printf("1..0 # SKIP no inputs found in the given paths\n");
        fprintf(stderr, "no inputs found: the corpus directory is empty\n");
        return 1;
    }
    printf("1..%u\n", count);
    return 0;
}
