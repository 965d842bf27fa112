/* test_qemu_process.c: launching, finding and stopping a real QEMU.
 * These tests need qemu-system-x86_64 and qemu-img; without them they fail. */
#include "qemu/qemu_process.h"
#include "qemu/qmp.h"
#include "qemu_vm.h"
#include "testutil.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static vms_qemu_paths *make_run_dir(const char *parent)
{
    g_autofree char *dir = g_build_filename(parent, "run", NULL);
    g_assert_cmpint(g_mkdir_with_parents(dir, 0700), ==, 0);
    return vms_qemu_paths_new(dir);
}

static void config_base(vms_qemu_config *config)
{
    memset(config, 0, sizeof(*config));
    config->name = g_strdup("test");
    config->memory_mib = 64;
    config->vcpus = 1;
    config->paused = true; /* no disk, no kernel: stopped CPUs need nothing to boot */
}

static void add_disk(vms_qemu_config *config, const char *file, const char *format, bool readonly,
                     const char *target)
{
    config->disks = g_renew(vms_qemu_disk, config->disks, config->ndisks + 1);
    vms_qemu_disk *disk = &config->disks[config->ndisks++];
    disk->file = g_strdup(file);
    disk->format = g_strdup(format);
    disk->readonly = readonly;
    disk->node_name = g_strdup_printf("vms-%s", target);
    disk->device_id = g_strdup_printf("vms-dev-%s", target);
}

/* Any process at all whose arguments name this pid file (ours or not). */
static guint count_processes_naming(const char *pid_file)
{
    guint count = 0;
    GDir *proc = g_dir_open("/proc", 0, NULL);
    g_assert_nonnull(proc);
    const char *entry;
    while ((entry = g_dir_read_name(proc))) {
        if (!g_ascii_isdigit(entry[0]))
            continue;
        g_autofree char *path = g_strdup_printf("/proc/%s/cmdline", entry);
        g_autofree char *data = NULL;
        gsize len = 0;
        if (!g_file_get_contents(path, &data, &len, NULL))
            continue;
        for (gsize off = 0; off < len; off += strlen(data + off) + 1)
            if (strcmp(data + off, pid_file) == 0)
                count++;
    }
    g_dir_close(proc);
    return count;
}

static pid_t launch_ok(const vms_qemu_config *config, const vms_qemu_paths *paths)
{
    require_program("qemu-system-x86_64");
    vmsnap_error *err = NULL;
    pid_t pid = vms_qemu_launch(config, paths, LAUNCH_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpint(pid, >, 1);
    return pid;
}

static void stop_ok(pid_t pid, const vms_qemu_paths *paths)
{
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_terminate(pid, 10000, &err));
    vms_test_assert_no_error(err);
    g_assert_cmpint(vms_qemu_find(paths), ==, 0);
    g_assert_cmpuint(count_processes_naming(paths->pid_file), ==, 0);
}

static void assert_qmp_greets(const vms_qemu_paths *paths)
{
    vmsnap_error *err = NULL;
    int fd = vms_qemu_unix_connect(paths->qmp_socket, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpint(fd, >=, 0);
    char buf[64] = {0};
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    g_assert_cmpint(n, >, 0);
    g_assert_true(g_str_has_prefix(buf, "{\"QMP\": {\"version\""));
}

static void assert_mode_0600(const char *path)
{
    GStatBuf st;
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
}

/* A QEMU launched to receive a VM state daemonizes, answers QMP and waits
 * in 'inmigrate' (the state arrives with migrate-incoming: test_qemu_snapshot). */
static void test_launch_incoming(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autoptr(vms_qemu_paths) paths = make_run_dir(tmp);
    g_auto(vms_qemu_config) config;
    config_base(&config);
    config.incoming = true;
    pid_t pid = launch_ok(&config, paths);
    g_assert_cmpint(vms_qemu_find(paths), ==, pid);
    vmsnap_error *err = NULL;
    g_autoptr(vms_qmp) qmp = vms_qmp_connect(paths->qmp_socket, 5000, &err);
    vms_test_assert_no_error(err);
    g_autofree char *reply = vms_qmp_command(qmp, "query-status", NULL, 5000, &err);
    vms_test_assert_no_error(err);
    g_autofree char *status = vms_qmp_json_get_string(reply, "status");
    g_assert_cmpstr(status, ==, "inmigrate");
    g_clear_pointer(&qmp, vms_qmp_free);
    stop_ok(pid, paths);
}

static void test_launch_find_terminate(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autoptr(vms_qemu_paths) paths = make_run_dir(tmp);
    g_auto(vms_qemu_config) config;
    config_base(&config);

    pid_t pid = launch_ok(&config, paths);
    g_assert_cmpint(vms_qemu_find(paths), ==, pid);
    g_assert_true(g_file_test(paths->pid_file, G_FILE_TEST_EXISTS));
    g_assert_cmpuint(count_processes_naming(paths->pid_file), ==, 1);
    assert_qmp_greets(paths);
    assert_mode_0600(paths->serial_log);
    assert_mode_0600(paths->qemu_log);

    /* A second start for the same run directory is refused. */
    vmsnap_error *err = NULL;
    g_assert_cmpint(vms_qemu_launch(&config, paths, LAUNCH_MS, &err), ==, 0);
    g_autofree char *want =
        g_strdup_printf("QEMU already runs for 'test' (pid %d); stop it first", (int)pid);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, want);
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_STATE);
    g_assert_cmpint(vms_qemu_find(paths), ==, pid);

    /* cleanup leaves a running QEMU's files alone. */
    vms_qemu_cleanup_run_dir(paths);
    g_assert_true(g_file_test(paths->pid_file, G_FILE_TEST_EXISTS));

    stop_ok(pid, paths);
    g_assert_true(vms_qemu_wait_exit(pid, 0));
    /* QEMU says why it went; that is what log_tail shows. */
    g_autofree char *tail = vms_qemu_log_tail(paths, 1);
    g_autofree char *by =
        g_strdup_printf("qemu-system-x86_64: terminating on signal 15 from pid %d", (int)getpid());
    g_assert_nonnull(strstr(tail, by));
    g_assert_null(strchr(tail, '\n'));

    vms_qemu_cleanup_run_dir(paths);
    g_assert_false(g_file_test(paths->pid_file, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(paths->qmp_socket, G_FILE_TEST_EXISTS));
}

/* Disks at paths with commas, spaces and quotes; a read-only raw disk. */
static void test_launch_with_awkward_disks(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autofree char *dir = g_build_filename(tmp, "my images,v2", NULL);
    g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
    g_autofree char *root = g_build_filename(dir, "root \"a\",b.qcow2", NULL);
    g_autofree char *data = g_build_filename(dir, "data disk.raw", NULL);
    make_image(root, "qcow2", NULL);
    make_image(data, "raw", NULL);
    g_autofree char *state = g_build_filename(tmp, "state, dir", NULL);
    g_autoptr(vms_qemu_paths) paths = make_run_dir(state);
    g_auto(vms_qemu_config) config;
    config_base(&config);
    config.name = (g_free(config.name), g_strdup("web,server 1"));
    add_disk(&config, root, "qcow2", false, "vda");
    add_disk(&config, data, "raw", true, "vdb");

    pid_t pid = launch_ok(&config, paths);
    g_assert_cmpint(vms_qemu_find(paths), ==, pid);
    stop_ok(pid, paths);
}

/* A run directory whose socket path is far beyond sun_path's 108 bytes. */
static void test_launch_long_run_dir(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    GString *deep = g_string_new(tmp);
    while (deep->len < 180)
        g_string_append(deep, "/a-rather-long-directory-name");
    g_autofree char *parent = g_string_free(deep, FALSE);
    g_autoptr(vms_qemu_paths) paths = make_run_dir(parent);
    g_assert_cmpuint(strlen(paths->qmp_socket), >, 108);
    g_auto(vms_qemu_config) config;
    config_base(&config);

    pid_t pid = launch_ok(&config, paths);
    assert_qmp_greets(paths);
    stop_ok(pid, paths);
}

static void test_launch_missing_disk(void)
{
    require_program("qemu-system-x86_64");
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autoptr(vms_qemu_paths) paths = make_run_dir(tmp);
    g_autofree char *missing = g_build_filename(tmp, "missing.qcow2", NULL);
    g_auto(vms_qemu_config) config;
    config_base(&config);
    add_disk(&config, missing, "qcow2", false, "vda");

    vmsnap_error *err = NULL;
    g_assert_cmpint(vms_qemu_launch(&config, paths, LAUNCH_MS, &err), ==, 0);
    const char *msg = vmsnap_error_get_message(err);
    if (!g_str_has_prefix(msg, "QEMU failed to start: "))
        g_error("unexpected error: %s", msg);
    g_autofree char *qemu_says =
        g_strdup_printf("Could not open '%s': No such file or directory", missing);
    if (!strstr(msg, qemu_says))
        g_error("QEMU's reason is not in the error: %s", msg);
    vms_test_assert_error(err, VMSNAP_ERR_QEMU);
    g_assert_cmpint(vms_qemu_find(paths), ==, 0);
    g_assert_cmpuint(count_processes_naming(paths->pid_file), ==, 0);
    g_assert_false(g_file_test(paths->pid_file, G_FILE_TEST_EXISTS));
}

/* A deadline too short for QEMU to come up: an error, and no QEMU left. */
static void test_launch_deadline(void)
{
    require_program("qemu-system-x86_64");
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autoptr(vms_qemu_paths) paths = make_run_dir(tmp);
    g_auto(vms_qemu_config) config;
    config_base(&config);
    vmsnap_error *err = NULL;
    g_assert_cmpint(vms_qemu_launch(&config, paths, 1, &err), ==, 0);
    const char *msg = vmsnap_error_get_message(err);
    if (!g_str_has_prefix(msg, "QEMU did not start in time"))
        g_error("unexpected error: %s", msg);
    vms_test_assert_error(err, VMSNAP_ERR_QEMU);
    g_assert_cmpint(vms_qemu_find(paths), ==, 0);
    g_assert_cmpuint(count_processes_naming(paths->pid_file), ==, 0);
}

/* A QEMU binary that cannot run at all. */
static void test_launch_missing_binary(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autoptr(vms_qemu_paths) paths = make_run_dir(tmp);
    g_auto(vms_qemu_config) config;
    config_base(&config);
    config.binary = g_strdup("/nonexistent/qemu-system-x86_64");
    vmsnap_error *err = NULL;
    g_assert_cmpint(vms_qemu_launch(&config, paths, LAUNCH_MS, &err), ==, 0);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "QEMU failed to start: cannot run '/nonexistent/qemu-system-x86_64': No such "
                    "file or directory");
    vms_test_assert_error(err, VMSNAP_ERR_IO);
}

static void write_pid_file(const vms_qemu_paths *paths, pid_t pid)
{
    g_autofree char *text = g_strdup_printf("%d\n", (int)pid);
    g_assert_true(g_file_set_contents(paths->pid_file, text, -1, NULL));
}

static void test_find_stale_pid(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autoptr(vms_qemu_paths) paths = make_run_dir(tmp);
    g_assert_cmpint(vms_qemu_find(paths), ==, 0); /* no pid file */

    pid_t child = fork();
    g_assert_cmpint(child, >=, 0);
    if (child == 0)
        _exit(0);
    int status;
    g_assert_cmpint(waitpid(child, &status, 0), ==, child);
    write_pid_file(paths, child); /* a pid that is gone */
    g_assert_cmpint(vms_qemu_find(paths), ==, 0);

    write_pid_file(paths, getpid()); /* alive, but not QEMU for this run dir */
    g_assert_cmpint(vms_qemu_find(paths), ==, 0);

    g_assert_true(g_file_set_contents(paths->pid_file, "12abc\n", -1, NULL));
    g_assert_cmpint(vms_qemu_find(paths), ==, 0);
    g_assert_true(g_file_set_contents(paths->pid_file, "", -1, NULL));
    g_assert_cmpint(vms_qemu_find(paths), ==, 0);

    vms_qemu_cleanup_run_dir(paths);
    g_assert_false(g_file_test(paths->pid_file, G_FILE_TEST_EXISTS));
}

/* A process that ignores SIGTERM is killed once the grace time is over. */
static void test_terminate_escalates(void)
{
    const char *argv[] = {"/bin/sh", "-c", "trap '' TERM; echo ready; exec sleep 1000", NULL};
    GPid pid;
    gint out_fd;
    g_autoptr(GError) gerr = NULL;
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, NULL, &out_fd, NULL, &gerr));
    char buf[6] = {0};
    g_assert_cmpint(read(out_fd, buf, 5), ==, 5); /* the trap is set */
    close(out_fd);
    g_assert_cmpstr(buf, ==, "ready");

    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_terminate(pid, 100, &err));
    vms_test_assert_no_error(err);
    int status;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_assert_true(WIFSIGNALED(status));
    g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);

    /* Gone already: nothing to do, no error. */
    g_assert_true(vms_qemu_terminate(pid, 100, &err));
    vms_test_assert_no_error(err);
    g_assert_true(vms_qemu_wait_exit(pid, 0));
}

static void test_log_tail(void)
{
    g_autofree char *tmp = vms_test_make_tmpdir();
    g_autoptr(vms_qemu_paths) paths = make_run_dir(tmp);
    g_autofree char *none = vms_qemu_log_tail(paths, 3);
    g_assert_cmpstr(none, ==, "");
    g_assert_true(g_file_set_contents(paths->qemu_log, "one\ntwo\nthree\nfour\n\n", -1, NULL));
    g_autofree char *two = vms_qemu_log_tail(paths, 2);
    g_assert_cmpstr(two, ==, "three\nfour");
    g_autofree char *all = vms_qemu_log_tail(paths, 10);
    g_assert_cmpstr(all, ==, "one\ntwo\nthree\nfour");
    g_autofree char *zero = vms_qemu_log_tail(paths, 0);
    g_assert_cmpstr(zero, ==, "");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-process/launch-find-terminate", test_launch_find_terminate);
    g_test_add_func("/qemu-process/launch-incoming", test_launch_incoming);
    g_test_add_func("/qemu-process/launch-with-awkward-disks", test_launch_with_awkward_disks);
    g_test_add_func("/qemu-process/launch-long-run-dir", test_launch_long_run_dir);
    g_test_add_func("/qemu-process/launch-missing-disk", test_launch_missing_disk);
    g_test_add_func("/qemu-process/launch-deadline", test_launch_deadline);
    g_test_add_func("/qemu-process/launch-missing-binary", test_launch_missing_binary);
    g_test_add_func("/qemu-process/find-stale-pid", test_find_stale_pid);
    g_test_add_func("/qemu-process/terminate-escalates", test_terminate_escalates);
    g_test_add_func("/qemu-process/log-tail", test_log_tail);
    return g_test_run();
}
