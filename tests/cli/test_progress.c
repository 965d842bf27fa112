/* test_progress.c: the CLI's progress bar line: bar, percentage, sizes,
 * rate and ETA, and truncation to the terminal's width. */
#include "progress.h"

#include <glib.h>

static void assert_line(const char *what, unsigned long long done, unsigned long long total,
                        double seconds, unsigned int width, const char *expected)
{
    g_autofree char *line = cli_progress_format(what, done, total, seconds, width);
    g_assert_cmpstr(line, ==, expected);
}

#define MiB (1024ull * 1024)

static void test_known_total(void)
{
    assert_line("saving memory", 0, 256 * MiB, 0.0, 200,
                "saving memory  [....................]   0%  0 B of 256.0 MiB");
    assert_line("saving memory", 64 * MiB, 256 * MiB, 0.5, 200,
                "saving memory  [#####...............]  25%  64.0 MiB of 256.0 MiB  "
                "128.0 MiB/s  ETA 0:02");
    assert_line("merging vda", 3 * 1024 * MiB, 3 * 1024 * MiB, 12.0, 200,
                "merging vda  [####################] 100%  3.0 GiB of 3.0 GiB  256.0 MiB/s");
}

static void test_eta_minutes(void)
{
    /* 1 MiB/s with 150 MiB left: 2:30. */
    assert_line("copying", 10 * MiB, 160 * MiB, 10.0, 200,
                "copying  [#...................]   6%  10.0 MiB of 160.0 MiB  1.0 MiB/s  ETA 2:30");
}

static void test_unknown_total(void)
{
    assert_line("saving memory", 1536, 0, 0.1, 200, "saving memory  1.5 KiB");
    assert_line("saving memory", 2 * MiB, 0, 1.0, 200, "saving memory  2.0 MiB  2.0 MiB/s");
}

static void test_overshoot_and_width(void)
{
    /* QEMU may report more than it announced: never past 100%. */
    assert_line("x", 300, 200, 0.0, 200, "x  [####################] 100%  200 B of 200 B");
    g_autofree char *line = cli_progress_format("saving memory", 1, 2, 0.0, 20);
    g_assert_cmpuint(strlen(line), ==, 19);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/progress/known-total", test_known_total);
    g_test_add_func("/progress/eta-minutes", test_eta_minutes);
    g_test_add_func("/progress/unknown-total", test_unknown_total);
    g_test_add_func("/progress/overshoot-and-width", test_overshoot_and_width);
    return g_test_run();
}
