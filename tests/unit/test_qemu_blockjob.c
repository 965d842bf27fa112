/* test_qemu_blockjob.c: block-stream and block-commit jobs on a real QEMU.
 * These tests need qemu-system-x86_64, qemu-img and qemu-io; without them
 * they fail. QEMU runs with stopped CPUs and no guest (except where a test
 * says otherwise); data is written into the files with qemu-io before QEMU
 * starts and checked with qemu-io once it has quit. */
#include "qemu/qemu_blockjob.h"
#include "qemu/qemu_img.h"
#include "qemu/qemu_process.h"
#include "qemu/qmp.h"
#include "qemu_vm.h"
#include "testutil.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *chain_of(vm *v, const char *device_id)
{
    vmsnap_error *err = NULL;
    g_auto(GStrv) chain = vms_qemu_device_chain(v->qmp, device_id, &err);
    vms_test_assert_no_error(err);
    return g_strjoinv(" <- ", chain);
}

/* No job is left in QEMU. */
static void assert_no_jobs(vm *v)
{
    g_autofree char *jobs = vm_command(v, "query-block-jobs", NULL);
    g_assert_cmpstr(jobs, ==, "[]");
}

typedef struct {
    guint calls;
    uint64_t last_done;
    uint64_t last_total;
    char *what;
} progress_seen;

static void record_progress(const char *what, uint64_t done, uint64_t total, void *opaque)
{
    progress_seen *seen = opaque;
    seen->calls++;
    g_assert_cmpuint(done, <=, total);
    seen->last_done = done;
    seen->last_total = total;
    g_free(seen->what);
    seen->what = g_strdup(what);
}

/* base (0x11 at 0) <- mid (0x22 at 64k) <- top (0x33 at 128k) [<- extra]
 * as vda: the files a snapshot chain has. */
static vm *vm_with_chain(char **base, char **mid, char **top, char **extra)
{
    vm *v = vm_new(64);
    *base = image_path(v->dir, "base.qcow2");
    *mid = image_path(v->dir, "mid.qcow2");
    *top = image_path(v->dir, "top.qcow2");
    make_image(*base, "qcow2", NULL);
    make_image(*mid, "qcow2", *base);
    make_image(*top, "qcow2", *mid);
    write_pattern(*base, "qcow2", 0x11, "0 64k");
    write_pattern(*mid, "qcow2", 0x22, "64k 64k");
    write_pattern(*top, "qcow2", 0x33, "128k 64k");
    const char *active = *top;
    if (extra) {
        *extra = image_path(v->dir, "extra.qcow2");
        make_image(*extra, "qcow2", *top);
        write_pattern(*extra, "qcow2", 0x44, "192k 64k");
        active = *extra;
    }
    vm_add_disk(v, active, "qcow2", "vda");
    vm_start(v);
    return v;
}

static void assert_chain_contents(const char *file)
{
    assert_pattern(file, "qcow2", 0x11, "0 64k");
    assert_pattern(file, "qcow2", 0x22, "64k 64k");
    assert_pattern(file, "qcow2", 0x33, "128k 64k");
}

/* ---- block-stream ------------------------------------------------------ */

/* The active layer takes mid's data; mid leaves QEMU's chain. */
static void test_stream_active(void)
{
    g_autofree char *base = NULL, *mid = NULL, *top = NULL;
    g_autoptr(vm) v = vm_with_chain(&base, &mid, &top, NULL);
    progress_seen seen = {0};
    vms_progress progress = {record_progress, &seen};

    vmsnap_error *err = NULL;
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_blockjob_stream(v->qmp, "vms-dev-vda", top, base, "merging vda",
                                           &progress, JOB_MS, &err));
    g_test_message("block-stream of 64 KiB into the active layer: %.1f ms", elapsed_ms(start));
    vms_test_assert_no_error(err);
    g_autofree char *chain = chain_of(v, "vms-dev-vda");
    g_autofree char *expected = g_strdup_printf("%s <- %s", top, base);
    g_assert_cmpstr(chain, ==, expected);
    g_assert_cmpuint(seen.calls, >=, 1);
    g_assert_cmpstr(seen.what, ==, "merging vda");
    g_assert_cmpuint(seen.last_done, ==, seen.last_total);
    assert_no_jobs(v);
    vm_quit(v);
    g_free(seen.what);

    g_autofree char *backing = backing_of(top);
    g_assert_cmpstr(backing, ==, base);
    g_assert_cmpint(g_unlink(mid), ==, 0);
    assert_chain_contents(top);
}

/* A file below the active layer takes its backing file's data: QEMU
 * reopens it writable for the job; the active layer is untouched. */
static void test_stream_intermediate(void)
{
    g_autofree char *base = NULL, *mid = NULL, *top = NULL, *extra = NULL;
    g_autoptr(vm) v = vm_with_chain(&base, &mid, &top, &extra);

    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_blockjob_stream(v->qmp, "vms-dev-vda", top, base, "merging vda", NULL,
                                           JOB_MS, &err));
    vms_test_assert_no_error(err);
    g_autofree char *chain = chain_of(v, "vms-dev-vda");
    g_autofree char *expected = g_strdup_printf("%s <- %s <- %s", extra, top, base);
    g_assert_cmpstr(chain, ==, expected);
    assert_no_jobs(v);
    vm_quit(v);

    g_autofree char *backing = backing_of(top);
    g_assert_cmpstr(backing, ==, base);
    g_assert_cmpint(g_unlink(mid), ==, 0);
    assert_chain_contents(extra);
    assert_pattern(extra, "qcow2", 0x44, "192k 64k");
    assert_chain_contents(top);
}

static void test_stream_whole_chain(void)
{
    g_autofree char *base = NULL, *mid = NULL, *top = NULL;
    g_autoptr(vm) v = vm_with_chain(&base, &mid, &top, NULL);

    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_blockjob_stream(v->qmp, "vms-dev-vda", top, NULL, "merging vda", NULL,
                                           JOB_MS, &err));
    vms_test_assert_no_error(err);
    g_autofree char *chain = chain_of(v, "vms-dev-vda");
    g_assert_cmpstr(chain, ==, top);
    vm_quit(v);
    g_autofree char *backing = backing_of(top);
    g_assert_null(backing);
    g_assert_cmpint(g_unlink(mid), ==, 0);
    g_assert_cmpint(g_unlink(base), ==, 0);
    assert_chain_contents(top);
}

/* Two disks whose chains share base.qcow2: two nodes open it, so the
 * stream names the file and QEMU finds it in vda's own chain; vdb's chain
 * stays as it was. */
static void test_stream_shared_base(void)
{
    g_autoptr(vm) v = vm_new(64);
    g_autofree char *base = image_path(v->dir, "base.qcow2");
    g_autofree char *mid = image_path(v->dir, "mid.qcow2");
    g_autofree char *top = image_path(v->dir, "top.qcow2");
    g_autofree char *other = image_path(v->dir, "other.qcow2");
    make_image(base, "qcow2", NULL);
    make_image(mid, "qcow2", base);
    make_image(top, "qcow2", mid);
    make_image(other, "qcow2", base);
    write_pattern(base, "qcow2", 0x11, "0 64k");
    write_pattern(mid, "qcow2", 0x22, "64k 64k");
    write_pattern(top, "qcow2", 0x33, "128k 64k");
    vm_add_disk(v, top, "qcow2", "vda");
    vm_add_disk(v, other, "qcow2", "vdb");
    vm_start(v);

    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_blockjob_stream(v->qmp, "vms-dev-vda", top, base, "merging vda", NULL,
                                           JOB_MS, &err));
    vms_test_assert_no_error(err);
    g_autofree char *chain_a = chain_of(v, "vms-dev-vda");
    g_autofree char *chain_b = chain_of(v, "vms-dev-vdb");
    g_autofree char *expected_a = g_strdup_printf("%s <- %s", top, base);
    g_autofree char *expected_b = g_strdup_printf("%s <- %s", other, base);
    g_assert_cmpstr(chain_a, ==, expected_a);
    g_assert_cmpstr(chain_b, ==, expected_b);
    assert_no_jobs(v);
    vm_quit(v);
    g_autofree char *backing = backing_of(top);
    g_assert_cmpstr(backing, ==, base);
    g_assert_cmpint(g_unlink(mid), ==, 0);
    assert_chain_contents(top);
}

static void test_refusals(void)
{
    g_autofree char *base = NULL, *mid = NULL, *top = NULL;
    g_autoptr(vm) v = vm_with_chain(&base, &mid, &top, NULL);
    g_autofree char *other = image_path(v->dir, "other.qcow2");

    vmsnap_error *err = NULL;
    g_assert_false(vms_qemu_blockjob_stream(v->qmp, "vms-dev-vda", top, other, "merging vda", NULL,
                                            JOB_MS, &err));
    g_autofree char *msg1 = g_strdup_printf(
        "cannot stream between '%s' and '%s' of disk device 'vms-dev-vda': the lower file is not "
        "in the disk's chain (its chain, top first: %s <- %s <- %s)",
        top, other, top, mid, base);
    assert_error_message(&err, VMSNAP_ERR_INVALID_ARG, msg1);
    g_assert_false(vms_qemu_blockjob_commit(v->qmp, "vms-dev-vda", mid, top, "merging vda", NULL,
                                            JOB_MS, &err));
    g_autofree char *msg2 = g_strdup_printf(
        "cannot commit between '%s' and '%s' of disk device 'vms-dev-vda': the lower file is not "
        "below the upper one (its chain, top first: %s <- %s <- %s)",
        mid, top, top, mid, base);
    assert_error_message(&err, VMSNAP_ERR_INVALID_ARG, msg2);
    g_assert_false(vms_qemu_blockjob_stream(v->qmp, "vms-dev-vdz", top, base, "merging vdz", NULL,
                                            JOB_MS, &err));
    vms_test_assert_error(err, VMSNAP_ERR_QEMU);
    g_autofree char *chain = chain_of(v, "vms-dev-vda");
    g_autofree char *expected = g_strdup_printf("%s <- %s <- %s", top, mid, base);
    g_assert_cmpstr(chain, ==, expected);
    vm_quit(v);
}

/* ---- block-commit ------------------------------------------------------ */

/* The active layer goes down into mid (ready, then completed): the device
 * writes to mid afterwards and top can go. */
static void test_commit_active(void)
{
    g_autofree char *base = NULL, *mid = NULL, *top = NULL;
    g_autoptr(vm) v = vm_with_chain(&base, &mid, &top, NULL);
    progress_seen seen = {0};
    vms_progress progress = {record_progress, &seen};

    vmsnap_error *err = NULL;
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_blockjob_commit(v->qmp, "vms-dev-vda", top, mid, "merging vda",
                                           &progress, JOB_MS, &err));
    g_test_message("active block-commit of 64 KiB: %.1f ms", elapsed_ms(start));
    vms_test_assert_no_error(err);
    g_autofree char *chain = chain_of(v, "vms-dev-vda");
    g_autofree char *expected = g_strdup_printf("%s <- %s", mid, base);
    g_assert_cmpstr(chain, ==, expected);
    g_assert_cmpuint(seen.calls, >=, 1);
    g_free(seen.what);
    assert_no_jobs(v);
    /* The node of the old active layer (from -blockdev, so the monitor's)
     * is closed: mid is a root node now, so a second commit can start. */
    g_autofree char *nodes = vm_command(v, "query-named-block-nodes", "{\"flat\":true}");
    g_assert_null(strstr(nodes, "\"vms-vda\""));
    g_assert_true(vms_qemu_blockjob_commit(v->qmp, "vms-dev-vda", mid, base, "merging vda", NULL,
                                           JOB_MS, &err));
    vms_test_assert_no_error(err);
    g_autofree char *chain2 = chain_of(v, "vms-dev-vda");
    g_assert_cmpstr(chain2, ==, base);
    vm_quit(v);
    g_assert_cmpint(g_unlink(top), ==, 0);
    g_assert_cmpint(g_unlink(mid), ==, 0);
    assert_chain_contents(base);
}

/* mid goes down into base; top gets base as its backing file. */
static void test_commit_intermediate(void)
{
    g_autofree char *base = NULL, *mid = NULL, *top = NULL;
    g_autoptr(vm) v = vm_with_chain(&base, &mid, &top, NULL);

    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_blockjob_commit(v->qmp, "vms-dev-vda", mid, base, "merging vda", NULL,
                                           JOB_MS, &err));
    vms_test_assert_no_error(err);
    g_autofree char *chain = chain_of(v, "vms-dev-vda");
    g_autofree char *expected = g_strdup_printf("%s <- %s", top, base);
    g_assert_cmpstr(chain, ==, expected);
    assert_no_jobs(v);
    vm_quit(v);
    g_autofree char *backing = backing_of(top);
    g_assert_cmpstr(backing, ==, base);
    g_assert_cmpint(g_unlink(mid), ==, 0);
    assert_chain_contents(top);
    assert_pattern(base, "qcow2", 0x22, "64k 64k");
}

/* 8 MiB to stream with the guest's CPUs running: progress is reported
 * with a total, the guest keeps running, the open-files set follows. */
static void test_progress_running_guest(void)
{
    g_autoptr(vm) v = vm_new(128);
    v->config.paused = false;
    g_autofree char *base = image_path(v->dir, "base.qcow2");
    g_autofree char *mid = image_path(v->dir, "mid.qcow2");
    g_autofree char *top = image_path(v->dir, "top.qcow2");
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_img_create(base, "qcow2", 16 << 20, NULL, NULL, &err));
    make_image(mid, "qcow2", base);
    make_image(top, "qcow2", mid);
    write_pattern(mid, "qcow2", 0x22, "0 8M");
    vm_add_disk(v, top, "qcow2", "vda");
    vm_start(v);

    g_autoptr(GHashTable) before = vms_qemu_open_files(v->qmp, &err);
    vms_test_assert_no_error(err);
    g_assert_true(g_hash_table_contains(before, mid));
    progress_seen seen = {0};
    vms_progress progress = {record_progress, &seen};
    gint64 start = g_get_monotonic_time();
    g_assert_true(vms_qemu_blockjob_stream(v->qmp, "vms-dev-vda", top, base, "merging vda",
                                           &progress, JOB_MS, &err));
    g_test_message("block-stream of 8 MiB, guest running: %.1f ms, %u progress reports",
                   elapsed_ms(start), seen.calls);
    vms_test_assert_no_error(err);
    g_assert_cmpuint(seen.last_total, >=, 8u << 20);
    g_assert_cmpuint(seen.last_done, ==, seen.last_total);
    g_free(seen.what);
    g_autofree char *status = vm_status(v);
    g_assert_cmpstr(status, ==, "running");
    g_autoptr(GHashTable) after = vms_qemu_open_files(v->qmp, &err);
    vms_test_assert_no_error(err);
    g_assert_false(g_hash_table_contains(after, mid));
    g_assert_true(g_hash_table_contains(after, top));
    vm_quit(v);
    assert_pattern(top, "qcow2", 0x22, "0 8M");
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    signal(SIGABRT, kill_qemu_on_abort);
    g_test_add_func("/qemu-blockjob/stream-active", test_stream_active);
    g_test_add_func("/qemu-blockjob/stream-intermediate", test_stream_intermediate);
    g_test_add_func("/qemu-blockjob/stream-whole-chain", test_stream_whole_chain);
    g_test_add_func("/qemu-blockjob/stream-shared-base", test_stream_shared_base);
    g_test_add_func("/qemu-blockjob/refusals", test_refusals);
    g_test_add_func("/qemu-blockjob/commit-active", test_commit_active);
    g_test_add_func("/qemu-blockjob/commit-intermediate", test_commit_intermediate);
    g_test_add_func("/qemu-blockjob/progress-running-guest", test_progress_running_guest);
    return g_test_run();
}
