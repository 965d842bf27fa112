/*
 * fuzz_qcow2.c: the qcow2 inspector (src/qcow2/), which reads image files
 * anyone may have handed to vmsnap. The input is put in a memfd and opened
 * as an image; when it opens, its feature names, snapshot table, the
 * mapping of the active layer and of the first snapshots (a bounded number
 * of extents each, reading the start of every extent, which decompresses
 * compressed clusters) and some refcounts are read.
 *
 * Every failure must be one error with a message, of a kind a bad image
 * explains (corrupt or unsupported); every extent must be non-empty, inside
 * the disk and of a known kind; the totals must fit in the disk.
 */
#include "fuzz_common.h"

#include <glib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "qcow2/qcow2.h"

#define MAX_EXTENTS   2048
#define MAX_SNAPSHOTS 4

static void check_failure(const char *what, vmsnap_error *err)
{
    fuzz_check_failure(what, err);
    vmsnap_error_code code = vmsnap_error_get_code(err);
    if (code != VMSNAP_ERR_CORRUPT && code != VMSNAP_ERR_UNSUPPORTED)
        fuzz_fail("%s failed with %s: %s", what, vmsnap_error_code_to_string(code),
                  vmsnap_error_get_message(err));
}

static void walk(vms_qcow2 *img, int snapshot)
{
    vmsnap_error *err = NULL;
    vms_qcow2_map *map = vms_qcow2_map_new(img, snapshot, &err);
    if (!map) {
        check_failure("vms_qcow2_map_new", err);
        vmsnap_error_free(err);
        return;
    }
    uint64_t size = vms_qcow2_map_size(map);
    uint8_t buf[4096];
    uint64_t off = 0;
    for (int n = 0; off < size && n < MAX_EXTENTS; n++) {
        vms_qcow2_extent ext;
        if (!vms_qcow2_map_lookup(map, off, &ext, &err)) {
            check_failure("vms_qcow2_map_lookup", err);
            vmsnap_error_free(err);
            vms_qcow2_map_free(map);
            return;
        }
        fuzz_check_success("vms_qcow2_map_lookup", err);
        if (ext.offset != off || ext.length == 0 || ext.length > size - off ||
            ext.kind > VMS_QCOW2_COMPRESSED)
            fuzz_fail("bad extent at %llu: offset %llu length %llu kind %d of a %llu-byte disk",
                      (unsigned long long)off, (unsigned long long)ext.offset,
                      (unsigned long long)ext.length, (int)ext.kind, (unsigned long long)size);
        size_t len = (size_t)MIN(ext.length, (uint64_t)sizeof(buf));
        if (!vms_qcow2_map_read(map, &ext, off, len, buf, &err)) {
            check_failure("vms_qcow2_map_read", err);
            g_clear_pointer(&err, vmsnap_error_free);
        }
        if (ext.kind == VMS_QCOW2_DATA) {
            uint64_t rc = 0;
            if (!vms_qcow2_refcount(img, ext.host_offset, &rc, &err)) {
                check_failure("vms_qcow2_refcount", err);
                g_clear_pointer(&err, vmsnap_error_free);
            }
        }
        off += ext.length;
    }
    vms_qcow2_alloc_stats st;
    if (size <= 64ull * 1024 * 1024) {
        if (vms_qcow2_map_stats(map, &st, &err)) {
            if (st.data_bytes > size || st.zero_bytes > size - st.data_bytes ||
                st.compressed_bytes > st.data_bytes)
                fuzz_fail("totals do not fit the disk");
        } else {
            check_failure("vms_qcow2_map_stats", err);
            vmsnap_error_free(err);
        }
    }
    vms_qcow2_map_free(map);
}

static vms_qcow2_chain *open_chain(const char *path, const char *tag)
{
    vmsnap_error *err = NULL;
    vms_qcow2_chain *chain = vms_qcow2_chain_open(path, "qcow2", tag, &err);
    if (!chain) {
        fuzz_check_failure("vms_qcow2_chain_open", err);
        vmsnap_error_free(err);
    }
    return chain;
}

/* Diff @a and @b; NULL chains are skipped. */
static void diff(vms_qcow2_chain *a, vms_qcow2_chain *b, bool same)
{
    if (!a || !b)
        return;
    vmsnap_error *err = NULL;
    GArray *ranges = g_array_new(FALSE, FALSE, sizeof(vms_qcow2_range));
    vms_qcow2_diff_stats st;
    if (vms_qcow2_chain_diff(a, b, ranges, &st, &err)) {
        uint64_t end = 0;
        for (guint i = 0; i < ranges->len; i++) {
            const vms_qcow2_range *r = &g_array_index(ranges, vms_qcow2_range, i);
            if (r->length == 0 || r->offset % 512 || (i && r->offset <= end) ||
                r->offset + r->length > st.size)
                fuzz_fail("bad diff range %u: %llu +%llu", i, (unsigned long long)r->offset,
                          (unsigned long long)r->length);
            end = r->offset + r->length;
        }
        if (same && ranges->len)
            fuzz_fail("a point differs from itself");
    } else {
        check_failure("vms_qcow2_chain_diff", err);
        vmsnap_error_free(err);
    }
    g_array_unref(ranges);
}

static void compare_points(vms_qcow2 *img, int fd)
{
    const vms_qcow2_header *h = vms_qcow2_get_header(img);
    if (h->backing_file || h->virtual_size > 16u * 1024 * 1024)
        return;
    g_autofree char *path = g_strdup_printf("/proc/self/fd/%d", fd);
    vms_qcow2_chain *active = open_chain(path, NULL);
    vms_qcow2_chain *again = open_chain(path, NULL);
    diff(active, again, true);
    if (vms_qcow2_n_snapshots(img) > 0) {
        const vms_qcow2_snapshot *s = vms_qcow2_get_snapshot(img, 0);
        if (s->disk_size <= 16u * 1024 * 1024) {
            vms_qcow2_chain *snap = open_chain(path, s->name);
            diff(snap, active, false);
            vms_qcow2_chain_free(snap);
        }
    }
    vms_qcow2_chain_free(active);
    vms_qcow2_chain_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0)
        fuzz_fail("cannot create a memfd");
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        if (n <= 0)
            fuzz_fail("cannot fill the memfd");
        done += (size_t)n;
    }
    vmsnap_error *err = NULL;
    vms_qcow2 *img = vms_qcow2_open_fd(fd, "fuzz.qcow2", &err);
    if (!img) {
        check_failure("vms_qcow2_open_fd", err);
        vmsnap_error_free(err);
        close(fd);
        return 0;
    }
    fuzz_check_success("vms_qcow2_open_fd", err);
    for (int kind = 0; kind < 3; kind++)
        g_free(vms_qcow2_feature_names(img, kind, ~0ull));
    size_t n = vms_qcow2_n_snapshots(img);
    for (size_t i = 0; i < n; i++) {
        const vms_qcow2_snapshot *s = vms_qcow2_get_snapshot(img, i);
        if (!s || !s->id || !s->name || !g_utf8_validate(s->name, -1, NULL))
            fuzz_fail("snapshot %zu has no id or name, or a name that is not UTF-8", i);
    }
    walk(img, -1);
    for (size_t i = 0; i < n && i < MAX_SNAPSHOTS; i++)
        walk(img, (int)i);
    compare_points(img, fd);
    vms_qcow2_close(img);
    close(fd);
    return 0;
}
