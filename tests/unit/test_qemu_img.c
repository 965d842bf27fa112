/* test_qemu_img.c: the qemu-img runner against the real qemu-img (and
 * qemu-io to write and read guest data). Without them these tests fail. */
#include "qemu/qemu_img.h"
#include "qemu/qemu_process.h"
#include "testutil.h"
#include "util/subprocess.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static void require_program(const char *name)
{
    g_autofree char *path = g_find_program_in_path(name);
    if (!path)
        g_error("%s is not on PATH; these tests need qemu-utils", name);
}

/* qemu-io -c COMMAND FILE; returns its exit status. */
static int qemu_io(const char *file, const char *command)
{
    require_program("qemu-io");
    const char *argv[] = {"qemu-io", "-f", "qcow2", "-c", command, file, NULL};
    vms_subprocess_result res;
    vmsnap_error *err = NULL;
    g_assert_true(vms_subprocess_run(argv, 30000, &res, &err));
    vms_test_assert_no_error(err);
    int status = res.exit_status;
    vms_subprocess_result_clear(&res);
    return status;
}

static void write_pattern(const char *file, int pattern)
{
    g_autofree char *cmd = g_strdup_printf("write -P 0x%02x 0 64k", pattern);
    g_assert_cmpint(qemu_io(file, cmd), ==, 0);
}

static bool has_pattern(const char *file, int pattern)
{
    g_autofree char *cmd = g_strdup_printf("read -P 0x%02x 0 64k", pattern);
    return qemu_io(file, cmd) == 0;
}

static char *new_image(const char *dir, const char *name, const char *backing)
{
    require_program("qemu-img");
    char *path = g_build_filename(dir, name, NULL);
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_img_create(path, "qcow2", backing ? 0 : MIB, backing,
                                      backing ? "qcow2" : NULL, &err));
    vms_test_assert_no_error(err);
    return path;
}

static void assert_mode(const char *path, unsigned int mode)
{
    GStatBuf st;
    g_assert_cmpint(g_stat(path, &st), ==, 0);
    g_assert_cmpuint(st.st_mode & 0777, ==, mode);
}

static void test_create_private_with_backing(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    mode_t old = umask(022); /* what a user typically has: files 0644 */
    g_autofree char *base = new_image(dir, "base.qcow2", NULL);
    g_autofree char *overlay = new_image(dir, "overlay.qcow2", base);
    umask(old);
    assert_mode(base, 0600);
    assert_mode(overlay, 0600);

    vmsnap_error *err = NULL;
    g_autofree char *json = vms_qemu_img_info_json(overlay, true, &err);
    vms_test_assert_no_error(err);
    g_autofree char *want_backing = g_strdup_printf("\"backing-filename\": \"%s\"", base);
    g_autofree char *want_format = g_strdup("\"backing-filename-format\": \"qcow2\"");
    g_assert_nonnull(strstr(json, want_backing));
    g_assert_nonnull(strstr(json, want_format));
    /* --backing-chain: an array holding the overlay, then the base. */
    g_assert_true(g_str_has_prefix(json, "["));
    g_autofree char *base_entry = g_strdup_printf("\"filename\": \"%s\"", base);
    g_autofree char *overlay_entry = g_strdup_printf("\"filename\": \"%s\"", overlay);
    g_assert_nonnull(strstr(json, overlay_entry));
    g_assert_true(strstr(json, overlay_entry) < strstr(json, base_entry));
    g_assert_nonnull(strstr(json, "\"virtual-size\": 1048576"));

    g_autofree char *bottom = vms_qemu_img_chain_base(overlay, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(bottom, ==, base);
    g_autofree char *itself = vms_qemu_img_chain_base(base, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(itself, ==, base);

    g_autofree char *single = vms_qemu_img_info_json(base, false, &err);
    vms_test_assert_no_error(err);
    g_assert_true(g_str_has_prefix(single, "{"));
    g_assert_null(strstr(single, "backing-filename"));
}

static void test_create_refused(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *base = new_image(dir, "base.qcow2", NULL);
    vmsnap_error *err = NULL;

    g_assert_false(vms_qemu_img_create(base, "qcow2", MIB, NULL, NULL, &err));
    g_autofree char *exists = g_strdup_printf("image '%s' already exists; vmsnap does not "
                                              "overwrite images (remove it or choose another "
                                              "path)",
                                              base);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, exists);
    vms_test_assert_error(err, VMSNAP_ERR_OPERATION_DENIED);

    g_assert_false(vms_qemu_img_create("disk.qcow2", "qcow2", MIB, NULL, NULL, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "image path 'disk.qcow2' is not absolute; give the full path");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);

    g_autofree char *overlay = g_build_filename(dir, "overlay.qcow2", NULL);
    g_assert_false(vms_qemu_img_create(overlay, "qcow2", 0, base, NULL, &err));
    g_autofree char *no_f = g_strdup_printf(
        "no format given for backing file '%s' of '%s' (qemu-img needs -F)", base, overlay);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, no_f);
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);

    /* qemu-img's own refusal keeps its words. */
    g_autofree char *missing = g_build_filename(dir, "missing.qcow2", NULL);
    g_assert_false(vms_qemu_img_create(overlay, "qcow2", 0, missing, "qcow2", &err));
    g_autofree char *want = g_strdup_printf(
        "qemu-img create failed: qemu-img: %s: Could not open '%s': No such file or directory",
        overlay, missing);
    if (!g_str_has_prefix(vmsnap_error_get_message(err), want))
        g_error("unexpected: %s", vmsnap_error_get_message(err));
    vms_test_assert_error(err, VMSNAP_ERR_QEMU_IMG);
}

static void test_missing_and_relative(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *missing = g_build_filename(dir, "nope.qcow2", NULL);
    vmsnap_error *err = NULL;

    g_assert_null(vms_qemu_img_info_json(missing, false, &err));
    g_autofree char *want =
        g_strdup_printf("cannot use image '%s': No such file or directory", missing);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, want);
    vms_test_assert_error(err, VMSNAP_ERR_IO);

    g_assert_false(vms_qemu_img_snapshot_create("../x.qcow2", "s1", &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "image path '../x.qcow2' is not absolute; give the full path");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);

    g_assert_false(vms_qemu_img_check(missing, false, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, want);
    vms_test_assert_error(err, VMSNAP_ERR_IO);

    g_assert_false(vms_qemu_img_commit(missing, &err));
    vms_test_assert_error(err, VMSNAP_ERR_IO);
}

static void assert_names(char **names, const char *const *expected)
{
    g_assert_nonnull(names);
    g_assert_cmpuint(g_strv_length(names), ==, g_strv_length((char **)expected));
    for (guint i = 0; expected[i]; i++)
        g_assert_cmpstr(names[i], ==, expected[i]);
}

static void test_internal_snapshots(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *disk = new_image(dir, "disk.qcow2", NULL);
    vmsnap_error *err = NULL;

    g_auto(GStrv) none = vms_qemu_img_snapshot_list(disk, &err);
    vms_test_assert_no_error(err);
    assert_names(none, (const char *const[]){NULL});

    write_pattern(disk, 0x55);
    g_assert_true(vms_qemu_img_snapshot_create(disk, "before upgrade", &err));
    vms_test_assert_no_error(err);
    write_pattern(disk, 0xaa);
    g_assert_true(vms_qemu_img_snapshot_create(disk, "after", &err));
    vms_test_assert_no_error(err);
    g_auto(GStrv) two = vms_qemu_img_snapshot_list(disk, &err);
    vms_test_assert_no_error(err);
    assert_names(two, (const char *const[]){"before upgrade", "after", NULL});

    g_assert_true(vms_qemu_img_snapshot_apply(disk, "before upgrade", &err));
    vms_test_assert_no_error(err);
    g_assert_true(has_pattern(disk, 0x55));
    g_assert_false(has_pattern(disk, 0xaa));

    g_assert_true(vms_qemu_img_snapshot_delete(disk, "before upgrade", &err));
    vms_test_assert_no_error(err);
    g_auto(GStrv) one = vms_qemu_img_snapshot_list(disk, &err);
    vms_test_assert_no_error(err);
    assert_names(one, (const char *const[]){"after", NULL});
    g_assert_true(has_pattern(disk, 0x55)); /* deleting does not touch the current state */

    g_assert_false(vms_qemu_img_snapshot_apply(disk, "before upgrade", &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "qemu-img snapshot failed: qemu-img: Could not apply snapshot 'before "
                    "upgrade': Failed to load snapshot: No such file or directory");
    vms_test_assert_error(err, VMSNAP_ERR_QEMU_IMG);

    g_assert_false(vms_qemu_img_snapshot_create(disk, "", &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, "an internal snapshot needs a name");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
}

/* qemu-img compare: exit status 0 when the guest sees the same data. */
static int compare(const char *a, const char *b)
{
    const char *argv[] = {"qemu-img", "compare", "-q", a, b, NULL};
    vms_subprocess_result res;
    vmsnap_error *err = NULL;
    g_assert_true(vms_subprocess_run(argv, 30000, &res, &err));
    vms_test_assert_no_error(err);
    int status = res.exit_status;
    vms_subprocess_result_clear(&res);
    return status;
}

static void test_commit(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *base = new_image(dir, "base.qcow2", NULL);
    write_pattern(base, 0x11);
    g_autofree char *overlay = new_image(dir, "overlay.qcow2", base);
    write_pattern(overlay, 0x55);
    g_assert_true(has_pattern(base, 0x11));
    g_assert_cmpint(compare(base, overlay), ==, 1); /* they differ */

    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_img_commit(overlay, &err));
    vms_test_assert_no_error(err);
    g_assert_true(has_pattern(base, 0x55));
    g_assert_cmpint(compare(base, overlay), ==, 0);
}

static void test_rebase(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *base = new_image(dir, "base.qcow2", NULL);
    write_pattern(base, 0x11);
    g_autofree char *mid = new_image(dir, "mid.qcow2", base);
    write_pattern(mid, 0x22);
    g_autofree char *top = new_image(dir, "top.qcow2", mid);
    vmsnap_error *err = NULL;

    /* Safe rebase onto base: top keeps seeing mid's data. */
    g_assert_true(vms_qemu_img_rebase(top, base, "qcow2", false, &err));
    vms_test_assert_no_error(err);
    g_assert_true(has_pattern(top, 0x22));
    g_autofree char *info = vms_qemu_img_info_json(top, false, &err);
    vms_test_assert_no_error(err);
    g_autofree char *want = g_strdup_printf("\"backing-filename\": \"%s\"", base);
    g_assert_nonnull(strstr(info, want));

    /* Unsafe rebase only rewrites the pointer: top now shows base's data. */
    g_autofree char *top2 = new_image(dir, "top2.qcow2", mid);
    g_assert_true(vms_qemu_img_rebase(top2, base, "qcow2", true, &err));
    vms_test_assert_no_error(err);
    g_assert_true(has_pattern(top2, 0x11));

    /* No backing file at all: the data is copied in. */
    g_assert_true(vms_qemu_img_rebase(top, NULL, NULL, false, &err));
    vms_test_assert_no_error(err);
    g_autofree char *flat = vms_qemu_img_info_json(top, false, &err);
    vms_test_assert_no_error(err);
    g_assert_null(strstr(flat, "backing-filename"));
    g_assert_true(has_pattern(top, 0x22));
}

static void overwrite(const char *file, off_t offset, const char *bytes, size_t len)
{
    int fd = open(file, O_WRONLY);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, bytes, len, offset), ==, (ssize_t)len);
    close(fd);
}

static void test_check(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *good = new_image(dir, "good.qcow2", NULL);
    write_pattern(good, 0x55);
    vmsnap_error *err = NULL;
    g_assert_true(vms_qemu_img_check(good, false, &err));
    vms_test_assert_no_error(err);

    /* Header magic overwritten. */
    g_autofree char *bad_magic = new_image(dir, "magic.qcow2", NULL);
    overwrite(bad_magic, 0, "XXXX", 4);
    g_assert_false(vms_qemu_img_check(bad_magic, false, &err));
    g_autofree char *want = g_strdup_printf(
        "image '%s' is corrupt: qemu-img: Could not open '%s': Image is not in qcow2 format",
        bad_magic, bad_magic);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, want);
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);

    /* Truncated inside the header. */
    g_autofree char *cut = new_image(dir, "cut.qcow2", NULL);
    g_assert_cmpint(truncate(cut, 100), ==, 0);
    g_assert_false(vms_qemu_img_check(cut, false, &err));
    g_autofree char *want_cut = g_strdup_printf(
        "image '%s' is corrupt: qemu-img: Could not open '%s': qcow2 header too short", cut, cut);
    g_assert_cmpstr(vmsnap_error_get_message(err), ==, want_cut);
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);

    /* Opens fine, but the L1 table points past the end of the file: check
     * itself finds the corruption (exit status 2). The L1 table offset is
     * the big-endian 64-bit header field at byte 40. */
    g_autofree char *l1 = new_image(dir, "l1.qcow2", NULL);
    write_pattern(l1, 0x55);
    g_autofree char *header = NULL;
    gsize len = 0;
    g_assert_true(g_file_get_contents(l1, &header, &len, NULL));
    guint64 l1_offset = GUINT64_FROM_BE(*(const guint64 *)(header + 40));
    guint64 entry = GUINT64_TO_BE(((guint64)1 << 63) | (guint64)0x100000);
    overwrite(l1, (off_t)l1_offset, (const char *)&entry, sizeof(entry));
    g_assert_false(vms_qemu_img_check(l1, false, &err));
    const char *msg = vmsnap_error_get_message(err);
    g_autofree char *prefix = g_strdup_printf("image '%s' is corrupt: ", l1);
    g_assert_true(g_str_has_prefix(msg, prefix));
    g_assert_nonnull(strstr(msg, "errors were found on the image"));
    vms_test_assert_error(err, VMSNAP_ERR_CORRUPT);
}

/* An image a running QEMU holds: qemu-img's lock refusal is what the user
 * sees, and the image is left alone. */
static void test_locked_by_running_qemu(void)
{
    require_program("qemu-system-x86_64");
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *disk = new_image(dir, "disk.qcow2", NULL);
    g_autofree char *run_dir = g_build_filename(dir, "run", NULL);
    g_assert_cmpint(g_mkdir(run_dir, 0700), ==, 0);
    g_autoptr(vms_qemu_paths) paths = vms_qemu_paths_new(run_dir);
    g_auto(vms_qemu_config) config = {
        .name = g_strdup("locked"), .memory_mib = 64, .vcpus = 1, .paused = true, .ndisks = 1};
    config.disks = g_new0(vms_qemu_disk, 1);
    config.disks[0] = (vms_qemu_disk){.file = g_strdup(disk),
                                      .format = g_strdup("qcow2"),
                                      .node_name = g_strdup("vms-vda"),
                                      .device_id = g_strdup("vms-dev-vda")};
    vmsnap_error *err = NULL;
    pid_t pid = vms_qemu_launch(&config, paths, 30000, &err);
    vms_test_assert_no_error(err);

    bool created = vms_qemu_img_snapshot_create(disk, "s1", &err);
    g_autofree char *message = g_strdup(vmsnap_error_get_message(err));
    vmsnap_error_code code = vmsnap_error_get_code(err);
    g_clear_pointer(&err, vmsnap_error_free);
    g_autofree char *info_json = vms_qemu_img_info_json(disk, false, &err);
    vms_test_assert_no_error(err);

    g_assert_true(vms_qemu_terminate(pid, 10000, &err));
    vms_test_assert_no_error(err);

    g_assert_false(created);
    g_assert_cmpint(code, ==, VMSNAP_ERR_BUSY);
    g_autofree char *want = g_strdup_printf(
        "qemu-img snapshot failed: qemu-img: Could not open '%s': Failed to get \"write\" lock\n"
        "Is another process using the image [%s]? (a running QEMU has the image open; shut the "
        "domain off first)",
        disk, disk);
    g_assert_cmpstr(message, ==, want);
    /* Reading the header is allowed (-U): vmsnap reads chains of running domains. */
    g_assert_nonnull(info_json);
    g_autofree char *backing = NULL;
    g_assert_true(vms_qemu_img_get_backing(disk, &backing, NULL, &err));
    g_assert_null(backing);

    /* Once QEMU is gone the same call works. */
    g_assert_true(vms_qemu_img_snapshot_create(disk, "s1", &err));
    vms_test_assert_no_error(err);
}

static void test_run_generic(void)
{
    require_program("qemu-img");
    vmsnap_error *err = NULL;
    const char *version[] = {"--version", NULL};
    g_autofree char *out = vms_qemu_img_run(version, 30000, &err);
    vms_test_assert_no_error(err);
    g_assert_true(g_str_has_prefix(out, "qemu-img version "));

    const char *bad[] = {"frobnicate", NULL};
    g_assert_null(vms_qemu_img_run(bad, 30000, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "qemu-img frobnicate failed: qemu-img: Command not found: frobnicate\n"
                    "Try 'qemu-img --help' for more information");
    vms_test_assert_error(err, VMSNAP_ERR_QEMU_IMG);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qemu-img/create-private-with-backing", test_create_private_with_backing);
    g_test_add_func("/qemu-img/create-refused", test_create_refused);
    g_test_add_func("/qemu-img/missing-and-relative", test_missing_and_relative);
    g_test_add_func("/qemu-img/internal-snapshots", test_internal_snapshots);
    g_test_add_func("/qemu-img/commit", test_commit);
    g_test_add_func("/qemu-img/rebase", test_rebase);
    g_test_add_func("/qemu-img/check", test_check);
    g_test_add_func("/qemu-img/locked-by-running-qemu", test_locked_by_running_qemu);
    g_test_add_func("/qemu-img/run-generic", test_run_generic);
    return g_test_run();
}
