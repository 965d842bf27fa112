/* test_qemu_snapshot.c: snapshot operations on a real QEMU over QMP.
 * These tests need qemu-system-x86_64, qemu-img and qemu-io; without them
 * they fail. QEMU runs with stopped CPUs and no guest: data goes through
 * the disk devices with the HMP 'qemu-io' command, and is checked with
 * qemu-io on the files once QEMU has quit. */
#include "qemu/qemu_img.h"
#include "qemu/qemu_process.h"
#include "qemu/qemu_snapshot.h"
#include "qemu/qmp.h"
#include "qemu_vm.h"
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Write or read through the guest's device, as the guest would. */
static void vm_qemu_io(vm *v, const char *device_id, const char *command)
{
    g_autofree char *line = g_strdup_printf("qemu-io -d /machine/peripheral/%s/virtio-backend "
                                            "\"%s\"",
                                            device_id, command);
    vmsnap_error *err = NULL;
    g_autofree char *text = vms_qmp_hmp(v->qmp, line, QMP_MS, &err);
    vms_test_assert_no_error(err);
}

static char *vm_device_file(vm *v, const char *device_id)
{
    vmsnap_error *err = NULL;
    char *file = vms_qemu_device_file(v->qmp, device_id, &err);
    vms_test_assert_no_error(err);
    return file;
}

/* query-block's image chain of the first disk, top first, " <- " between. */
static char *vm_chain(vm *v, guint index)
{
    g_autofree char *blocks = vm_command(v, "query-block", NULL);
    GString *chain = g_string_new(NULL);
    g_autofree char *key = g_strdup_printf("%u.inserted.image", index);
    for (;;) {
        g_autofree char *filename_key = g_strconcat(key, ".filename", NULL);
        g_autofree char *file = vms_qmp_json_get_string(blocks, filename_key);
        if (!file)
            break;
        g_string_append_printf(chain, "%s%s", chain->len ? " <- " : "", file);
        char *next = g_strconcat(key, ".backing-image", NULL);
        g_free(key);
        key = next;
    }
    return g_string_free(chain, false);
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
    return g_strcmp0(*(char *const *)a, *(char *const *)b);
}

/* Every node name, sorted, comma-separated. */
static char *vm_node_names(vm *v)
{
    g_autofree char *nodes = vm_command(v, "query-named-block-nodes", "{\"flat\":true}");
    size_t n = 0;
    g_assert_true(vms_qmp_json_get_length(nodes, NULL, &n));
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < n; i++) {
        g_autofree char *key = g_strdup_printf("%zu.node-name", i);
        g_ptr_array_add(names, vms_qmp_json_get_string(nodes, key));
    }
    g_ptr_array_sort(names, compare_strings);
    g_ptr_array_add(names, NULL);
    return g_strjoinv(",", (char **)names->pdata);
}

static bool strv_has(char **strv, const char *s)
{
    return strv && g_strv_contains((const char *const *)strv, s);
}

static char **snapshot_list(const char *file)
{
    vmsnap_error *err = NULL;
    char **names = vms_qemu_img_snapshot_list(file, &err);
    vms_test_assert_no_error(err);
    return names;
}

/* ---- device lookup ----------------------------------------------------- */

static void test_device_file(void)
{
    g_autoptr(vm) v = vm_new(64);
    g_autofree char *vda = image_path(v->dir, "vda.qcow2");
    g_autofree char *vdb = image_path(v->dir, "vdb.raw");
    make_image(vda, "qcow2", NULL);
    make_image(vdb, "raw", NULL);
    vm_add_disk(v, vda, "qcow2", "vda");
    vm_add_disk(v, vdb, "raw", "vdb");
    vm_start(v);

    g_autofree char *file_a = vm_device_file(v, "vms-dev-vda");
    g_autofree char *file_b = vm_device_file(v, "vms-dev-vdb");
    g_assert_cmpstr(file_a, ==, vda);
    g_assert_cmpstr(file_b, ==, vdb);

    vmsnap_error *err = NULL;
    g_assert_null(vms_qemu_device_file(v->qmp, "vms-dev-vdz", &err));
    assert_error_message(&err, VMSNAP_ERR_QEMU,
                         "QEMU has no disk device 'vms-dev-vdz' (its disk devices: vms-dev-vda, "
                         "vms-dev-vdb); was the domain's QEMU changed outside vmsnap? Restart "
                         "the domain to attach its disks again");
    /* The QOM path's last part is not a device id. */
    g_assert_null(vms_qemu_device_file(v->qmp, "virtio-backend", &err));
    vms_test_assert_error(err, VMSNAP_ERR_QEMU);
    vm_quit(v);
}

/* ---- the block transaction --------------------------------------------- */

static void test_external(void)
{
    g_autoptr(vm) v = vm_new(64);
    g_autofree char *base = image_path(v->dir, "vda.qcow2");
    g_autofree char *ov1 = image_path(v->dir, "vda.s1.qcow2");
    g_autofree char *ov2 = image_path(v->dir, "vda.s2.qcow2");
    make_image(base, "qcow2", NULL);
    write_pattern(base, "qcow2", 0x11, "0 8k");
    make_image(ov1, "qcow2", base);
    vm_add_disk(v, base, "qcow2", "vda");
    vm_start(v);

    vms_live_disk disk = {
        .device_id = "vms-dev-vda", .kind = VMS_LIVE_DISK_EXTERNAL, .overlay = ov1};
    vmsnap_error *err = NULL;
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_snapshot_disks(v->qmp, &disk, 1, &err));
    g_test_message("transaction with one external overlay: %.1f ms", elapsed_ms(start));
    vms_test_assert_no_error(err);
    g_autofree char *file = vm_device_file(v, "vms-dev-vda");
    g_assert_cmpstr(file, ==, ov1);
    g_autofree char *chain = vm_chain(v, 0);
    g_autofree char *expected = g_strdup_printf("%s <- %s", ov1, base);
    g_assert_cmpstr(chain, ==, expected);
    g_autofree char *nodes = vm_node_names(v);
    g_assert_nonnull(strstr(nodes, "vms-ov-vda-1"));

    vm_qemu_io(v, "vms-dev-vda", "write -P 0x55 0 4k");

    /* A second overlay on top of the first: a new node name, a longer chain. */
    make_image(ov2, "qcow2", ov1);
    disk.overlay = ov2;
    g_assert_true(vms_qemu_snapshot_disks(v->qmp, &disk, 1, &err));
    vms_test_assert_no_error(err);
    g_autofree char *chain2 = vm_chain(v, 0);
    g_autofree char *expected2 = g_strdup_printf("%s <- %s <- %s", ov2, ov1, base);
    g_assert_cmpstr(chain2, ==, expected2);
    g_autofree char *nodes2 = vm_node_names(v);
    g_assert_nonnull(strstr(nodes2, "vms-ov-vda-2"));
    vm_qemu_io(v, "vms-dev-vda", "write -P 0x66 4k 4k");
    vm_quit(v);

    g_autofree char *b1 = backing_of(ov1);
    g_autofree char *b2 = backing_of(ov2);
    g_assert_cmpstr(b1, ==, base);
    g_assert_cmpstr(b2, ==, ov1);
    assert_pattern(ov2, "qcow2", 0x55, "0 4k");
    assert_pattern(ov2, "qcow2", 0x66, "4k 4k");
    assert_pattern(ov1, "qcow2", 0x55, "0 4k");
    assert_pattern(ov1, "qcow2", 0x11, "4k 4k");
    assert_pattern(base, "qcow2", 0x11, "0 8k");
    assert_no_pattern(base, "qcow2", 0x55, "0 4k");
}

static void test_internal_and_external_together(void)
{
    g_autoptr(vm) v = vm_new(64);
    g_autofree char *vda = image_path(v->dir, "vda.qcow2");
    g_autofree char *vdb = image_path(v->dir, "vdb.qcow2");
    g_autofree char *ov = image_path(v->dir, "vda.s1.qcow2");
    g_autofree char *vdc = image_path(v->dir, "vdc.qcow2");
    make_image(vda, "qcow2", NULL);
    make_image(vdb, "qcow2", NULL);
    make_image(vdc, "qcow2", NULL);
    make_image(ov, "qcow2", vda);
    write_pattern(vdb, "qcow2", 0x22, "0 4k");
    vm_add_disk(v, vda, "qcow2", "vda");
    vm_add_disk(v, vdb, "qcow2", "vdb");
    vm_add_disk(v, vdc, "qcow2", "vdc");
    vm_start(v);

    vms_live_disk disks[] = {
        {.device_id = "vms-dev-vda", .kind = VMS_LIVE_DISK_EXTERNAL, .overlay = ov},
        {.device_id = "vms-dev-vdb", .kind = VMS_LIVE_DISK_INTERNAL, .tag = "s1"},
        {.device_id = "vms-dev-vdc", .kind = VMS_LIVE_DISK_SKIP},
    };
    vmsnap_error *err = NULL;
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_snapshot_disks(v->qmp, disks, G_N_ELEMENTS(disks), &err));
    g_test_message("transaction with an overlay and an internal snapshot: %.1f ms",
                   elapsed_ms(start));
    vms_test_assert_no_error(err);
    g_autofree char *file_a = vm_device_file(v, "vms-dev-vda");
    g_autofree char *file_b = vm_device_file(v, "vms-dev-vdb");
    g_autofree char *file_c = vm_device_file(v, "vms-dev-vdc");
    g_assert_cmpstr(file_a, ==, ov);
    g_assert_cmpstr(file_b, ==, vdb);
    g_assert_cmpstr(file_c, ==, vdc);
    /* QEMU lists the new tag while it runs. */
    g_autofree char *info = NULL;
    info = vms_qmp_hmp(v->qmp, "info snapshots", QMP_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(strstr(info, "s1"));

    vm_qemu_io(v, "vms-dev-vdb", "write -P 0x77 0 4k");
    vm_quit(v);

    g_auto(GStrv) tags_b = snapshot_list(vdb);
    g_auto(GStrv) tags_c = snapshot_list(vdc);
    g_assert_true(strv_has(tags_b, "s1"));
    g_assert_false(strv_has(tags_c, "s1"));
    assert_pattern(vdb, "qcow2", 0x77, "0 4k");
    g_assert_true(vms_qemu_img_snapshot_apply(vdb, "s1", &err));
    vms_test_assert_no_error(err);
    assert_pattern(vdb, "qcow2", 0x22, "0 4k");
}

static void test_failing_transaction_changes_nothing(void)
{
    g_autoptr(vm) v = vm_new(64);
    g_autofree char *vda = image_path(v->dir, "vda.qcow2");
    g_autofree char *vdb = image_path(v->dir, "vdb.raw");
    g_autofree char *ov = image_path(v->dir, "vda.s1.qcow2");
    g_autofree char *missing = image_path(v->dir, "missing.qcow2");
    make_image(vda, "qcow2", NULL);
    make_image(vdb, "raw", NULL);
    make_image(ov, "qcow2", vda);
    vm_add_disk(v, vda, "qcow2", "vda");
    vm_add_disk(v, vdb, "raw", "vdb");
    vm_start(v);
    g_autofree char *nodes_before = vm_node_names(v);

    /* The overlay cannot be opened: blockdev-add fails before the transaction. */
    vms_live_disk missing_overlay[] = {
        {.device_id = "vms-dev-vda", .kind = VMS_LIVE_DISK_EXTERNAL, .overlay = missing},
    };
    vmsnap_error *err = NULL;
    g_assert_false(vms_qemu_snapshot_disks(v->qmp, missing_overlay, 1, &err));
    g_autofree char *msg1 = g_strdup_printf(
        "snapshot of the disks not taken (no disk changed): opening overlay '%s' for disk device "
        "'vms-dev-vda': QEMU refused 'blockdev-add': Could not open '%s': No such file or "
        "directory",
        missing, missing);
    assert_error_message(&err, VMSNAP_ERR_QEMU, msg1);

    /* The overlay is added, then the transaction fails on the raw disk:
     * the overlay node goes again and vda keeps its file. */
    vms_live_disk raw_internal[] = {
        {.device_id = "vms-dev-vda", .kind = VMS_LIVE_DISK_EXTERNAL, .overlay = ov},
        {.device_id = "vms-dev-vdb", .kind = VMS_LIVE_DISK_INTERNAL, .tag = "s1"},
    };
    g_assert_false(vms_qemu_snapshot_disks(v->qmp, raw_internal, 2, &err));
    assert_error_message(&err, VMSNAP_ERR_QEMU,
                         "snapshot of the disks not taken (no disk changed): QEMU refused "
                         "'transaction': Block format 'raw' used by device 'vms-vdb' does not "
                         "support internal snapshots");
    g_autofree char *file_a = vm_device_file(v, "vms-dev-vda");
    g_assert_cmpstr(file_a, ==, vda);
    g_autofree char *nodes_after = vm_node_names(v);
    g_assert_cmpstr(nodes_after, ==, nodes_before);

    /* An unknown device, and arguments missing. */
    vms_live_disk unknown[] = {
        {.device_id = "vms-dev-vda", .kind = VMS_LIVE_DISK_EXTERNAL, .overlay = ov},
        {.device_id = "vms-dev-vdq", .kind = VMS_LIVE_DISK_INTERNAL, .tag = "s1"},
    };
    g_assert_false(vms_qemu_snapshot_disks(v->qmp, unknown, 2, &err));
    assert_error_message(&err, VMSNAP_ERR_QEMU,
                         "snapshot of the disks not taken (no disk changed): QEMU has no disk "
                         "device 'vms-dev-vdq' (its disk devices: vms-dev-vda, vms-dev-vdb); was "
                         "the domain's QEMU changed outside vmsnap? Restart the domain to attach "
                         "its disks again");
    g_autofree char *nodes_unknown = vm_node_names(v);
    g_assert_cmpstr(nodes_unknown, ==, nodes_before);
    vms_live_disk no_tag = {.device_id = "vms-dev-vda", .kind = VMS_LIVE_DISK_INTERNAL};
    g_assert_false(vms_qemu_snapshot_disks(v->qmp, &no_tag, 1, &err));
    assert_error_message(&err, VMSNAP_ERR_INVALID_ARG,
                         "the internal snapshot of disk device 'vms-dev-vda' has no tag");

    /* The same overlay works once the raw disk is left out. */
    g_assert_true(vms_qemu_snapshot_disks(v->qmp, raw_internal, 1, &err));
    vms_test_assert_no_error(err);
    g_autofree char *file_after = vm_device_file(v, "vms-dev-vda");
    g_assert_cmpstr(file_after, ==, ov);
    vm_quit(v);
}

static void test_delete_internal(void)
{
    g_autoptr(vm) v = vm_new(64);
    g_autofree char *vda = image_path(v->dir, "vda.qcow2");
    make_image(vda, "qcow2", NULL);
    vm_add_disk(v, vda, "qcow2", "vda");
    vm_start(v);

    vms_live_disk disks[] = {
        {.device_id = "vms-dev-vda", .kind = VMS_LIVE_DISK_INTERNAL, .tag = "keep"},
    };
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_snapshot_disks(v->qmp, disks, 1, &err));
    disks[0].tag = "gone";
    g_assert_true(vms_qemu_snapshot_disks(v->qmp, disks, 1, &err));
    vms_test_assert_no_error(err);

    g_assert_true(vms_qemu_delete_internal(v->qmp, "vms-dev-vda", "gone", &err));
    vms_test_assert_no_error(err);
    /* Absent (just deleted, or never there): success. */
    g_assert_true(vms_qemu_delete_internal(v->qmp, "vms-dev-vda", "gone", &err));
    g_assert_true(vms_qemu_delete_internal(v->qmp, "vms-dev-vda", "never", &err));
    vms_test_assert_no_error(err);
    g_assert_false(vms_qemu_delete_internal(v->qmp, "vms-dev-vdq", "keep", &err));
    vms_test_assert_error(err, VMSNAP_ERR_QEMU);
    vm_quit(v);

    g_auto(GStrv) tags = snapshot_list(vda);
    g_assert_true(strv_has(tags, "keep"));
    g_assert_false(strv_has(tags, "gone"));
}

/* ---- snapshot-save / snapshot-load ------------------------------------- */

static void test_save_load_internal(void)
{
    g_autoptr(vm) v = vm_new(256);
    g_autofree char *vda = image_path(v->dir, "vda.qcow2");
    g_autofree char *vdb = image_path(v->dir, "vdb.qcow2");
    make_image(vda, "qcow2", NULL);
    make_image(vdb, "qcow2", NULL);
    write_pattern(vda, "qcow2", 0x11, "0 4k");
    write_pattern(vdb, "qcow2", 0x22, "0 4k");
    vm_add_disk(v, vda, "qcow2", "vda");
    vm_add_disk(v, vdb, "qcow2", "vdb");
    vm_start(v);

    const char *const devices[] = {"vms-dev-vda", "vms-dev-vdb", NULL};
    vmsnap_error *err = NULL;
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_save_internal(v->qmp, "full", devices, "vms-dev-vda", JOB_MS, &err));
    g_test_message("snapshot-save of a paused 256 MiB guest: %.1f ms", elapsed_ms(start));
    vms_test_assert_no_error(err);
    g_autofree char *status = vm_status(v);
    g_assert_cmpstr(status, ==, "prelaunch"); /* paused before, paused after */

    vm_qemu_io(v, "vms-dev-vda", "write -P 0x55 0 4k");
    vm_qemu_io(v, "vms-dev-vdb", "write -P 0x66 0 4k");

    start = g_get_monotonic_time();
    g_assert_true(vms_qemu_load_internal(v->qmp, "full", devices, "vms-dev-vda", JOB_MS, &err));
    g_test_message("snapshot-load of a paused 256 MiB guest: %.1f ms", elapsed_ms(start));
    vms_test_assert_no_error(err);

    /* Failures carry QEMU's words, and leave no job behind. */
    g_assert_false(vms_qemu_load_internal(v->qmp, "nosuch", devices, "vms-dev-vda", JOB_MS, &err));
    assert_error_message(&err, VMSNAP_ERR_QEMU,
                         "QEMU could not load snapshot 'nosuch': Snapshot 'nosuch' does not "
                         "exist in one or more devices");
    g_autofree char *jobs = vm_command(v, "query-jobs", NULL);
    g_assert_cmpstr(jobs, ==, "[]");
    g_assert_false(vms_qemu_save_internal(v->qmp, "x", devices, "vms-dev-vdq", JOB_MS, &err));
    vms_test_assert_error(err, VMSNAP_ERR_QEMU);
    vm_quit(v);

    assert_pattern(vda, "qcow2", 0x11, "0 4k");
    assert_pattern(vdb, "qcow2", 0x22, "0 4k");
    g_auto(GStrv) tags_a = snapshot_list(vda);
    g_auto(GStrv) tags_b = snapshot_list(vdb);
    g_assert_true(strv_has(tags_a, "full"));
    g_assert_true(strv_has(tags_b, "full"));
}

static void test_save_internal_raw_refused(void)
{
    g_autoptr(vm) v = vm_new(64);
    g_autofree char *vda = image_path(v->dir, "vda.qcow2");
    g_autofree char *vdb = image_path(v->dir, "vdb.raw");
    make_image(vda, "qcow2", NULL);
    make_image(vdb, "raw", NULL);
    vm_add_disk(v, vda, "qcow2", "vda");
    vm_add_disk(v, vdb, "raw", "vdb");
    vm_start(v);

    const char *const devices[] = {"vms-dev-vda", "vms-dev-vdb", NULL};
    vmsnap_error *err = NULL;
    g_assert_false(vms_qemu_save_internal(v->qmp, "full", devices, "vms-dev-vda", JOB_MS, &err));
    assert_error_message(&err, VMSNAP_ERR_QEMU,
                         "QEMU could not save snapshot 'full': Device 'vms-vdb' is writable but "
                         "does not support snapshots");
    g_autofree char *jobs = vm_command(v, "query-jobs", NULL);
    g_assert_cmpstr(jobs, ==, "[]");
    vm_quit(v);
    g_auto(GStrv) tags = snapshot_list(vda);
    g_assert_false(strv_has(tags, "full"));
}

/* ---- the VM state to a file -------------------------------------------- */

static void test_save_state_to_fd(void)
{
    g_autoptr(vm) v = vm_new(256);
    g_autofree char *vda = image_path(v->dir, "vda.qcow2");
    make_image(vda, "qcow2", NULL);
    vm_add_disk(v, vda, "qcow2", "vda");
    vm_start(v);
    g_autofree char *state = image_path(v->dir, "state.vmstate");
    vmsnap_error *err = NULL;

    /* A descriptor QEMU cannot write: the migration fails with its reason
     * and the guest stays as it was. */
    int ro = open("/dev/null", O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(ro, >=, 0);
    g_assert_false(vms_qemu_save_state_to_fd(v->qmp, ro, JOB_MS, NULL, &err));
    assert_error_message(&err, VMSNAP_ERR_QEMU,
                         "saving the VM state failed: Unable to write to file: Bad file "
                         "descriptor");
    close(ro);
    g_autofree char *status_failed = vm_status(v);
    g_assert_cmpstr(status_failed, ==, "prelaunch");

    int fd = open(state, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_save_state_to_fd(v->qmp, fd, JOB_MS, NULL, &err));
    g_test_message("state of a paused 256 MiB guest to a file: %.1f ms", elapsed_ms(start));
    vms_test_assert_no_error(err);
    g_assert_cmpint(close(fd), ==, 0);

    /* QEMU's migration stream starts with "QEVM", version 3. */
    g_autofree char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(state, &data, &len, NULL));
    g_assert_cmpuint(len, >, 8);
    g_assert_cmpmem(data, 8, "QEVM\0\0\0\3", 8);
    /* The guest stays stopped, its disks inactive until 'cont'; QEMU 7.2
     * refuses a second save until then. */
    g_autofree char *status = vm_status(v);
    g_assert_cmpstr(status, ==, "postmigrate");
    int again = open(state, O_WRONLY | O_CLOEXEC);
    g_assert_cmpint(again, >=, 0);
    g_assert_false(vms_qemu_save_state_to_fd(v->qmp, again, JOB_MS, NULL, &err));
    assert_error_message(&err, VMSNAP_ERR_QEMU,
                         "QEMU refused 'migrate': Can't migrate the vm that was paused due to "
                         "previous migration");
    close(again);
    vm_quit(v);
}

/* What a progress callback heard. */
typedef struct {
    unsigned int calls;
    uint64_t done, total;
    char *what;
} heard;

static void record_progress(const char *what, uint64_t done, uint64_t total, void *opaque)
{
    heard *h = opaque;
    g_assert_cmpuint(done, <=, total);
    if (h->calls++ > 0)
        g_assert_cmpuint(done, >=, h->done); /* never backwards */
    h->done = done;
    h->total = total;
    g_free(h->what);
    h->what = g_strdup(what);
}

/* The guest's first MiB of RAM, as QEMU's pmemsave writes it. */
static char *vm_low_memory(vm *v, const char *name)
{
    g_autofree char *file = image_path(v->dir, name);
    g_autofree char *qfile = vms_qmp_json_quote(file);
    g_autofree char *args = g_strdup_printf("{\"val\":0,\"size\":1048576,\"filename\":%s}", qfile);
    g_autofree char *reply = vm_command(v, "pmemsave", args);
    char *data = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(file, &data, &len, NULL));
    g_assert_cmpuint(len, ==, 1048576);
    return data;
}

/* Poll (deadline 10 s) until the firmware has written the real-mode
 * interrupt table at address 0, so the RAM compared below is the guest's
 * own work, not zeros. */
static void wait_firmware_wrote_ram(vm *v)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    for (;;) {
        g_autofree char *low = vm_low_memory(v, "probe.mem");
        for (size_t i = 0; i < 1024; i++)
            if (low[i] != 0)
                return;
        if (g_get_monotonic_time() > deadline)
            g_error("the firmware wrote nothing to the first KiB of RAM within 10 s");
        g_usleep(10 * 1000);
    }
}

/* A state saved from one QEMU loads into a new one started with -incoming
 * defer: the RAM reads the same, the guest waits paused, 'cont' runs it,
 * and both directions report their progress. */
static void test_state_round_trip(void)
{
    g_autoptr(vm) a = vm_new(256);
    a->config.paused = false; /* the firmware runs and fills some RAM */
    g_autofree char *vda = image_path(a->dir, "vda.qcow2");
    make_image(vda, "qcow2", NULL);
    vm_add_disk(a, vda, "qcow2", "vda");
    vm_start(a);
    wait_firmware_wrote_ram(a);
    g_autofree char *stopped = vm_command(a, "stop", NULL);
    g_autofree char *before = vm_low_memory(a, "before.mem");
    g_autofree char *state = image_path(a->dir, "state.vmstate");
    int fd = open(state, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    heard saved = {0};
    vms_progress progress = {.report = record_progress, .opaque = &saved};
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_save_state_to_fd(a->qmp, fd, JOB_MS, &progress, &err));
    vms_test_assert_no_error(err);
    close(fd);
    g_assert_cmpstr(saved.what, ==, "saving memory");
    g_assert_cmpuint(saved.calls, >=, 1);
    g_assert_cmpuint(saved.done, ==, saved.total);
    g_assert_cmpuint(saved.total, >=, 256u << 20); /* RAM plus ROMs and the like */
    vm_quit(a);

    g_autoptr(vm) b = vm_new(256);
    b->config.incoming = true;
    vm_add_disk(b, vda, "qcow2", "vda");
    vm_start(b);
    g_autofree char *waiting = vm_status(b);
    g_assert_cmpstr(waiting, ==, "inmigrate");
    fd = open(state, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    heard loaded = {0};
    progress.opaque = &loaded;
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_load_state_from_fd(b->qmp, fd, JOB_MS, &progress, &err));
    g_test_message("state of a 256 MiB guest loaded from a file: %.1f ms", elapsed_ms(start));
    vms_test_assert_no_error(err);
    close(fd);
    struct stat st;
    g_assert_cmpint(stat(state, &st), ==, 0);
    g_assert_cmpstr(loaded.what, ==, "loading memory");
    g_assert_cmpuint(loaded.done, ==, (uint64_t)st.st_size);
    g_assert_cmpuint(loaded.total, ==, (uint64_t)st.st_size);
    g_autofree char *status = vm_status(b);
    g_assert_cmpstr(status, ==, "paused");
    g_autofree char *after = vm_low_memory(b, "after.mem");
    g_assert_cmpmem(before, 1048576, after, 1048576);
    g_autofree char *cont = vm_command(b, "cont", NULL);
    g_autofree char *running = vm_status(b);
    g_assert_cmpstr(running, ==, "running");
    vm_quit(b);
    g_free(saved.what);
    g_free(loaded.what);
}

/* Copy everything readable from @in_fd to @out_fd until EOF. */
static void copy_to_eof(int in_fd, int out_fd)
{
    char buf[65536];
    ssize_t n;
    while ((n = read(in_fd, buf, sizeof(buf))) > 0)
        g_assert_cmpint(write(out_fd, buf, (size_t)n), ==, n);
    g_assert_cmpint(n, ==, 0);
}

/* A background save through a pipe: QEMU runs the guest again by itself
 * right after it starts (RESUME), the pipe ends when QEMU is done, the
 * stream holds the memory as it was when the guest was stopped, and QEMU
 * reports its downtime. */
static void test_background_save_through_pipe(void)
{
    g_autoptr(vm) a = vm_new(256);
    a->config.paused = false;
    vm_start(a);
    wait_firmware_wrote_ram(a);
    g_autofree char *stopped = vm_command(a, "stop", NULL);
    g_autofree char *before = vm_low_memory(a, "before.mem");
    int ends[2];
    g_assert_cmpint(pipe2(ends, O_CLOEXEC), ==, 0);
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_migration_start(a->qmp, ends[1], VMS_MIGRATION_SAVE_LIVE, &err));
    vms_test_assert_no_error(err);
    close(ends[1]);
    g_autofree char *state = image_path(a->dir, "state.vmstate");
    int fd = open(state, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    copy_to_eof(ends[0], fd);
    close(ends[0]);
    close(fd);
    vms_migration_stats stats;
    g_assert_true(
        vms_qemu_migration_wait(a->qmp, VMS_MIGRATION_SAVE_LIVE, -1, JOB_MS, NULL, &stats, &err));
    vms_test_assert_no_error(err);
    g_assert_cmpint(stats.downtime_ms, >=, 0);
    g_assert_cmpint(stats.total_ms, >=, stats.downtime_ms);
    g_assert_cmpuint(stats.ram_total, >=, 256u << 20);
    g_test_message("background save of a 256 MiB guest: QEMU's total %" G_GINT64_FORMAT
                   " ms, downtime %" G_GINT64_FORMAT " ms",
                   stats.total_ms, stats.downtime_ms);
    g_autoptr(vms_qmp_event) resumed = vms_qmp_wait_event(a->qmp, "RESUME", JOB_MS, &err);
    vms_test_assert_no_error(err);
    g_autofree char *status = vm_status(a);
    g_assert_cmpstr(status, ==, "running");
    vm_quit(a);

    g_autoptr(vm) b = vm_new(256);
    b->config.incoming = true;
    vm_start(b);
    fd = open(state, O_RDONLY | O_CLOEXEC);
    g_assert_cmpint(fd, >=, 0);
    g_assert_true(vms_qemu_load_state_from_fd(b->qmp, fd, JOB_MS, NULL, &err));
    vms_test_assert_no_error(err);
    close(fd);
    g_autofree char *after = vm_low_memory(b, "after.mem");
    g_assert_cmpmem(before, 1048576, after, 1048576);
    vm_quit(b);
}

/* A stream cut short fails the load with QEMU's reason. */
static void test_load_truncated_state(void)
{
    g_autoptr(vm) a = vm_new(64);
    vm_start(a);
    g_autofree char *state = image_path(a->dir, "state.vmstate");
    int fd = open(state, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    g_assert_cmpint(fd, >=, 0);
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_save_state_to_fd(a->qmp, fd, JOB_MS, NULL, &err));
    vms_test_assert_no_error(err);
    close(fd);
    vm_quit(a);
    g_assert_cmpint(truncate(state, 4096), ==, 0);

    g_autoptr(vm) b = vm_new(64);
    b->config.incoming = true;
    vm_start(b);
    fd = open(state, O_RDONLY | O_CLOEXEC);
    g_assert_false(vms_qemu_load_state_from_fd(b->qmp, fd, JOB_MS, NULL, &err));
    close(fd);
    g_assert_nonnull(err);
    g_assert_cmpint(vmsnap_error_get_code(err), ==, VMSNAP_ERR_QEMU);
    g_test_message("truncated state: %s", vmsnap_error_get_message(err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "loading the VM state failed (migration status 'failed')");
    vmsnap_error_free(err);
}

/* With the CPUs running (the guest sits in the firmware: no boot disk),
 * the transaction and snapshot-save leave it running. */
static void test_running_guest(void)
{
    g_autoptr(vm) v = vm_new(256);
    v->config.paused = false;
    g_autofree char *vda = image_path(v->dir, "vda.qcow2");
    g_autofree char *ov = image_path(v->dir, "vda.s1.qcow2");
    make_image(vda, "qcow2", NULL);
    make_image(ov, "qcow2", vda);
    vm_add_disk(v, vda, "qcow2", "vda");
    vm_start(v);

    vms_live_disk disk = {
        .device_id = "vms-dev-vda", .kind = VMS_LIVE_DISK_EXTERNAL, .overlay = ov};
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_snapshot_disks(v->qmp, &disk, 1, &err));
    vms_test_assert_no_error(err);
    g_autofree char *status = vm_status(v);
    g_assert_cmpstr(status, ==, "running");

    const char *const devices[] = {"vms-dev-vda", NULL};
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_save_internal(v->qmp, "full", devices, "vms-dev-vda", JOB_MS, &err));
    g_test_message("snapshot-save of a running 256 MiB guest: %.1f ms", elapsed_ms(start));
    vms_test_assert_no_error(err);
    g_autofree char *status_after = vm_status(v);
    g_assert_cmpstr(status_after, ==, "running");
    vm_quit(v);
    g_auto(GStrv) tags = snapshot_list(ov);
    g_assert_true(strv_has(tags, "full"));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, kill_qemu_on_abort);
    g_test_add_func("/qemu-snapshot/device-file", test_device_file);
    g_test_add_func("/qemu-snapshot/external", test_external);
    g_test_add_func("/qemu-snapshot/internal-and-external-together",
                    test_internal_and_external_together);
    g_test_add_func("/qemu-snapshot/failing-transaction-changes-nothing",
                    test_failing_transaction_changes_nothing);
    g_test_add_func("/qemu-snapshot/delete-internal", test_delete_internal);
    g_test_add_func("/qemu-snapshot/save-load-internal", test_save_load_internal);
    g_test_add_func("/qemu-snapshot/save-internal-raw-refused", test_save_internal_raw_refused);
    g_test_add_func("/qemu-snapshot/save-state-to-fd", test_save_state_to_fd);
    g_test_add_func("/qemu-snapshot/state-round-trip", test_state_round_trip);
    g_test_add_func("/qemu-snapshot/load-truncated-state", test_load_truncated_state);
    g_test_add_func("/qemu-snapshot/background-save-through-pipe",
                    test_background_save_through_pipe);
    g_test_add_func("/qemu-snapshot/running-guest", test_running_guest);
    return g_test_run();
}
