/* qemu_vm.c: fixtures for the unit tests that run a real QEMU (see
 * qemu_vm.h). */
#include "qemu_vm.h"

#include "qemu/qemu_img.h"
#include "testutil.h"
#include "util/subprocess.h"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

void require_program(const char *name)
{
    g_autofree char *path = g_find_program_in_path(name);
    if (!path)
        g_error("%s is not on PATH; these tests need QEMU (apt-get install qemu-system-x86 "
                "qemu-utils)",
                name);
}

void require_qemu(void)
{
    require_program("qemu-system-x86_64");
    require_program("qemu-img");
    require_program("qemu-io");
}

/* ---- images ------------------------------------------------------------ */

char *image_path(const char *dir, const char *name)
{
    return g_build_filename(dir, name, NULL);
}

void make_image(const char *path, const char *format, const char *backing)
{
    require_program("qemu-img");
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_img_create(path, format, backing ? 0 : 1 << 20, backing, "qcow2", &err));
    vms_test_assert_no_error(err);
}

/* Run qemu-io on a file (QEMU not running); returns its exit status and
 * keeps its output in *out. */
static int qemu_io(const char *file, const char *format, const char *command, char **out)
{
    const char *argv[] = {"qemu-io", "-f", format, "-c", command, file, NULL};
    vms_subprocess_result res;
    vmsnap_error *err = NULL;
    g_assert_true(vms_subprocess_run(argv, 30000, &res, &err));
    vms_test_assert_no_error(err);
    int status = res.exit_status;
    if (out)
        *out = g_strconcat(res.out, res.err, NULL);
    vms_subprocess_result_clear(&res);
    return status;
}

void write_pattern(const char *file, const char *format, int pattern, const char *where)
{
    g_autofree char *command = g_strdup_printf("write -P 0x%02x %s", pattern, where);
    g_autofree char *out = NULL;
    if (qemu_io(file, format, command, &out) != 0)
        g_error("qemu-io '%s' %s failed: %s", command, file, out);
}

void assert_pattern(const char *file, const char *format, int pattern, const char *where)
{
    g_autofree char *command = g_strdup_printf("read -P 0x%02x %s", pattern, where);
    g_autofree char *out = NULL;
    int status = qemu_io(file, format, command, &out);
    if (status != 0 || strstr(out, "Pattern verification failed"))
        g_error("%s does not read 0x%02x at %s: %s", file, pattern, where, out);
}

void assert_no_pattern(const char *file, const char *format, int pattern, const char *where)
{
    g_autofree char *command = g_strdup_printf("read -P 0x%02x %s", pattern, where);
    g_autofree char *out = NULL;
    qemu_io(file, format, command, &out);
    if (!strstr(out, "Pattern verification failed"))
        g_error("%s still reads 0x%02x at %s", file, pattern, where);
}

char *backing_of(const char *file)
{
    g_autofree char *backing = NULL;
    g_autofree char *format = NULL;
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_img_get_backing(file, &backing, &format, &err));
    vms_test_assert_no_error(err);
    return g_steal_pointer(&backing);
}

/* ---- a QEMU with disks ------------------------------------------------- */

/* The QEMU of the running test: a failing assertion aborts, and the daemon
 * (not our child) must not outlive the test. */
static volatile pid_t running_qemu;

void kill_qemu_on_abort(int sig)
{
    if (running_qemu > 0)
        kill(running_qemu, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

vm *vm_new(uint64_t memory_mib)
{
    require_qemu();
    vm *v = g_new0(vm, 1);
    v->dir = vms_test_make_tmpdir();
    v->config.name = g_strdup("snap");
    v->config.memory_mib = memory_mib;
    v->config.vcpus = 1;
    v->config.paused = true; /* no guest: block operations need none */
    g_autofree char *run = g_build_filename(v->dir, "run", NULL);
    g_assert_cmpint(g_mkdir_with_parents(run, 0700), ==, 0);
    v->paths = vms_qemu_paths_new(run);
    return v;
}

void vm_add_disk(vm *v, const char *file, const char *format, const char *target)
{
    v->config.disks = g_renew(vms_qemu_disk, v->config.disks, v->config.ndisks + 1);
    vms_qemu_disk *disk = &v->config.disks[v->config.ndisks++];
    memset(disk, 0, sizeof(*disk));
    disk->file = g_strdup(file);
    disk->format = g_strdup(format);
    disk->node_name = g_strdup_printf("vms-%s", target);
    disk->device_id = g_strdup_printf("vms-dev-%s", target);
}

void vm_start(vm *v)
{
    vmsnap_error *err = NULL;
    v->pid = vms_qemu_launch(&v->config, v->paths, LAUNCH_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpint(v->pid, >, 0);
    running_qemu = v->pid;
    v->qmp = vms_qmp_connect(v->paths->qmp_socket, QMP_MS, &err);
    vms_test_assert_no_error(err);
}

void vm_quit(vm *v)
{
    if (!v->pid)
        return;
    g_autofree char *reply = vms_qmp_command(v->qmp, "quit", NULL, QMP_MS, NULL);
    g_clear_pointer(&v->qmp, vms_qmp_free);
    g_assert_true(vms_qemu_wait_exit(v->pid, LAUNCH_MS));
    v->pid = 0;
    running_qemu = 0;
}

void vm_free(vm *v)
{
    if (v->pid) {
        g_clear_pointer(&v->qmp, vms_qmp_free);
        vms_qemu_terminate(v->pid, 3000, NULL);
        running_qemu = 0;
    }
    vms_qemu_config_clear(&v->config);
    vms_qemu_paths_free(v->paths);
    g_free(v->dir);
    g_free(v);
}

char *vm_command(vm *v, const char *command, const char *args)
{
    vmsnap_error *err = NULL;
    char *reply = vms_qmp_command(v->qmp, command, args, QMP_MS, &err);
    vms_test_assert_no_error(err);
    return reply;
}

char *vm_status(vm *v)
{
    g_autofree char *reply = vm_command(v, "query-status", NULL);
    return vms_qmp_json_get_string(reply, "status");
}

/* ---- assertions -------------------------------------------------------- */

void assert_error_message(vmsnap_error **err, vmsnap_error_code code, const char *message)
{
    g_assert_nonnull(*err);
    g_assert_cmpstr(vmsnap_error_get_message(*err), ==, message);
    vms_test_assert_error(*err, code);
}

double elapsed_ms(gint64 start)
{
    return (double)(g_get_monotonic_time() - start) / 1000.0;
}
