/* test_subprocess.c: running programs, capturing output, deadlines. */
#include "testutil.h"
#include "util/subprocess.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

static void run_ok(const char *const *argv, int timeout_ms, vms_subprocess_result *res)
{
    vmsnap_error *err = NULL;
    g_assert_true(vms_subprocess_run(argv, timeout_ms, res, &err));
    vms_test_assert_no_error(err);
}

static void test_true(void)
{
    const char *argv[] = {"/bin/true", NULL};
    vms_subprocess_result res;
    run_ok(argv, 0, &res);
    g_assert_cmpint(res.exit_status, ==, 0);
    g_assert_cmpint(res.term_signal, ==, 0);
    g_assert_false(res.timed_out);
    g_assert_cmpstr(res.out, ==, "");
    g_assert_cmpstr(res.err, ==, "");
    vms_subprocess_result_clear(&res);
}

static void test_path_lookup(void)
{
    const char *argv[] = {"sh", "-c", "echo found", NULL};
    vms_subprocess_result res;
    run_ok(argv, 0, &res);
    g_assert_cmpstr(res.out, ==, "found\n");
    vms_subprocess_result_clear(&res);
}

static void test_streams_and_exit_code(void)
{
    const char *argv[] = {"/bin/sh", "-c", "printf 'to out'; printf 'to err' >&2; exit 42", NULL};
    vms_subprocess_result res;
    run_ok(argv, 0, &res);
    g_assert_cmpint(res.exit_status, ==, 42);
    g_assert_cmpint(res.term_signal, ==, 0);
    g_assert_cmpstr(res.out, ==, "to out");
    g_assert_cmpstr(res.err, ==, "to err");
    vms_subprocess_result_clear(&res);
}

/* Arguments reach the program as they are: no shell, no splitting. */
static void test_arguments_verbatim(void)
{
    const char *argv[] = {"/bin/sh", "-c", "printf '[%s]' \"$@\"", "sh", "a b", "$HOME", "c,d",
                          "",        NULL};
    vms_subprocess_result res;
    run_ok(argv, 0, &res);
    g_assert_cmpstr(res.out, ==, "[a b][$HOME][c,d][]");
    vms_subprocess_result_clear(&res);
}

static void test_missing_program(void)
{
    const char *argv[] = {"vmsnap-no-such-program", NULL};
    vms_subprocess_result res;
    vmsnap_error *err = NULL;
    g_assert_false(vms_subprocess_run(argv, 0, &res, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "cannot run 'vmsnap-no-such-program': no such program on PATH; install it or "
                    "fix PATH");
    vms_test_assert_error(err, VMSNAP_ERR_IO);

    const char *abs_argv[] = {"/nonexistent/prog", NULL};
    g_assert_false(vms_subprocess_run(abs_argv, 0, &res, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "cannot run '/nonexistent/prog': No such file or directory");
    vms_test_assert_error(err, VMSNAP_ERR_IO);
}

static void test_not_executable(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *file = g_build_filename(dir, "plain", NULL);
    g_assert_true(g_file_set_contents(file, "#!/bin/sh\n", -1, NULL));
    const char *argv[] = {file, NULL};
    vms_subprocess_result res;
    vmsnap_error *err = NULL;
    g_assert_false(vms_subprocess_run(argv, 0, &res, &err));
    g_autofree char *want = g_strdup_printf("cannot run '%s': Permission denied", file);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, want);
    vms_test_assert_error(err, VMSNAP_ERR_IO);
}

/* 4 MiB on each stream, interleaved: far more than a pipe buffer, so
 * reading one stream only would deadlock. */
static void test_big_output_both_streams(void)
{
    const char *argv[] = {"/bin/sh", "-c",
                          "i=0; while [ $i -lt 64 ]; do head -c 65536 /dev/zero; "
                          "head -c 65536 /dev/zero >&2; i=$((i+1)); done",
                          NULL};
    vms_subprocess_result res;
    run_ok(argv, 60000, &res);
    g_assert_cmpint(res.exit_status, ==, 0);
    g_assert_false(res.timed_out);
    /* NUL bytes from /dev/zero: the strings are empty but the program ran to
     * its end; count with a second, text-only run. */
    vms_subprocess_result_clear(&res);

    const char *text_argv[] = {"/bin/sh", "-c",
                               "i=0; while [ $i -lt 64 ]; do head -c 65536 /dev/zero | tr '\\0' o; "
                               "head -c 65536 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done",
                               NULL};
    run_ok(text_argv, 60000, &res);
    g_assert_cmpint(res.exit_status, ==, 0);
    g_assert_cmpuint(strlen(res.out), ==, 64 * 65536);
    g_assert_cmpuint(strlen(res.err), ==, 64 * 65536);
    g_assert_cmpint(res.out[12345], ==, 'o');
    g_assert_cmpint(res.err[4 * 65536 - 1], ==, 'e');
    vms_subprocess_result_clear(&res);
}

/* More than the capture bound: kept up to the bound, the program not blocked. */
static void test_output_bounded(void)
{
    const char *argv[] = {"/bin/sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' x; echo done >&2",
                          NULL};
    vms_subprocess_result res;
    run_ok(argv, 60000, &res);
    g_assert_cmpint(res.exit_status, ==, 0);
    g_assert_cmpuint(strlen(res.out), ==, VMS_SUBPROCESS_MAX_CAPTURE);
    g_assert_cmpstr(res.err, ==, "done\n");
    vms_subprocess_result_clear(&res);
}

static void test_deadline(void)
{
    const char *argv[] = {"sleep", "10", NULL};
    vms_subprocess_result res;
    gint64 start = g_get_monotonic_time();
    run_ok(argv, 200, &res);
    gint64 elapsed_ms = (g_get_monotonic_time() - start) / 1000;
    g_assert_true(res.timed_out);
    g_assert_cmpint(res.exit_status, ==, -1);
    g_assert_cmpint(res.term_signal, ==, SIGKILL);
    g_assert_cmpint(elapsed_ms, >=, 200);
    g_assert_cmpint(elapsed_ms, <, 5000);
    vms_subprocess_result_clear(&res);
}

/* A background grandchild holding the pipes does not keep us waiting. */
static void test_grandchild_keeps_pipe(void)
{
    const char *argv[] = {"/bin/sh", "-c", "sleep 10 & echo parent-done", NULL};
    vms_subprocess_result res;
    gint64 start = g_get_monotonic_time();
    run_ok(argv, 8000, &res);
    g_assert_false(res.timed_out);
    g_assert_cmpint(res.exit_status, ==, 0);
    g_assert_cmpstr(res.out, ==, "parent-done\n");
    g_assert_cmpint((g_get_monotonic_time() - start) / 1000, <, 5000);
    vms_subprocess_result_clear(&res);
}

static void test_killed_by_signal(void)
{
    const char *argv[] = {"/bin/sh", "-c", "echo before; kill -TERM $$; echo after", NULL};
    vms_subprocess_result res;
    run_ok(argv, 0, &res);
    g_assert_cmpint(res.exit_status, ==, -1);
    g_assert_cmpint(res.term_signal, ==, SIGTERM);
    g_assert_false(res.timed_out);
    g_assert_cmpstr(res.out, ==, "before\n");
    vms_subprocess_result_clear(&res);
}

static void test_stdin_is_dev_null(void)
{
    const char *argv[] = {"/bin/sh", "-c", "cat; echo rc=$?", NULL};
    vms_subprocess_result res;
    run_ok(argv, 5000, &res);
    g_assert_false(res.timed_out);
    g_assert_cmpstr(res.out, ==, "rc=0\n");
    vms_subprocess_result_clear(&res);
}

/* A descriptor we hold open (not even close-on-exec) never reaches the child. */
static void test_fds_closed(void)
{
    int fd = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
    g_assert_cmpint(fd, >=, 3);
    g_autofree char *script = g_strdup_printf("if [ -e /proc/self/fd/%d ]; then echo leaked; "
                                              "else echo closed; fi; ls /proc/self/fd | wc -l",
                                              fd);
    const char *argv[] = {"/bin/sh", "-c", script, NULL};
    vms_subprocess_result res;
    run_ok(argv, 5000, &res);
    close(fd);
    /* 0, 1, 2 and the directory ls itself reads. */
    g_assert_cmpstr(res.out, ==, "closed\n4\n");
    vms_subprocess_result_clear(&res);
}

static void test_cwd_umask_and_fds(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *log = g_build_filename(dir, "log", NULL);
    int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    g_assert_cmpint(log_fd, >=, 0);
    vms_subprocess_options opts = VMS_SUBPROCESS_OPTIONS_INIT;
    opts.cwd = dir;
    opts.private_umask = true;
    opts.stderr_fd = log_fd;
    opts.stdout_fd = log_fd;
    const char *argv[] = {"/bin/sh", "-c", "pwd; touch made; echo oops >&2", NULL};
    vms_subprocess_result res;
    vmsnap_error *err = NULL;
    g_assert_true(vms_subprocess_run_with(argv, &opts, &res, &err));
    vms_test_assert_no_error(err);
    close(log_fd);
    g_assert_cmpint(res.exit_status, ==, 0);
    g_assert_cmpstr(res.out, ==, "");
    g_assert_cmpstr(res.err, ==, "");
    g_autofree char *text = NULL;
    g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
    g_autofree char *want = g_strdup_printf("%s\noops\n", dir);
    g_assert_cmpstr(text, ==, want);
    g_autofree char *made = g_build_filename(dir, "made", NULL);
    GStatBuf st;
    g_assert_cmpint(g_stat(made, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    vms_subprocess_result_clear(&res);

    opts.cwd = "/nonexistent-dir";
    g_assert_false(vms_subprocess_run_with(argv, &opts, &res, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "cannot run '/bin/sh' in directory '/nonexistent-dir': No such file or "
                    "directory");
    vms_test_assert_error(err, VMSNAP_ERR_IO);
}

/* Not "/subprocess/...": GLib skips test paths with that component unless
 * named with -p (it reserves them for g_test_trap_subprocess). */
int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/run/true", test_true);
    g_test_add_func("/run/path-lookup", test_path_lookup);
    g_test_add_func("/run/streams-and-exit-code", test_streams_and_exit_code);
    g_test_add_func("/run/arguments-verbatim", test_arguments_verbatim);
    g_test_add_func("/run/missing-program", test_missing_program);
    g_test_add_func("/run/not-executable", test_not_executable);
    g_test_add_func("/run/big-output-both-streams", test_big_output_both_streams);
    g_test_add_func("/run/output-bounded", test_output_bounded);
    g_test_add_func("/run/deadline", test_deadline);
    g_test_add_func("/run/grandchild-keeps-pipe", test_grandchild_keeps_pipe);
    g_test_add_func("/run/killed-by-signal", test_killed_by_signal);
    g_test_add_func("/run/stdin-is-dev-null", test_stdin_is_dev_null);
    g_test_add_func("/run/fds-closed", test_fds_closed);
    g_test_add_func("/run/cwd-umask-and-fds", test_cwd_umask_and_fds);
    return g_test_run();
}
