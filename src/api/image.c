/* image.c: vmsnap_image_inspect(), the public face of the qcow2 inspector. */
#include "api/handles.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qcow2/qcow2.h"
#include "util/error.h"

#define MAX_CHAIN_DEPTH 64

G_DEFINE_AUTOPTR_CLEANUP_FUNC(vmsnap_image_info, vmsnap_image_info_free)

/* QEMU's rule: a relative backing name is relative to the directory of the
 * image naming it (the part of its name up to the last '/'). */
static char *full_backing_name(const char *image, const char *backing)
{
    const char *slash = strrchr(image, '/');
    if (g_path_is_absolute(backing) || !slash)
        return g_strdup(backing);
    return g_strdup_printf("%.*s%s", (int)(slash - image + 1), image, backing);
}

static bool fill_qcow2(vmsnap_image_info *info, int fd, const char *path, vmsnap_error **error)
{
    g_autoptr(vms_qcow2) img = vms_qcow2_open_fd(fd, path, error);
    if (!img)
        return false;
    const vms_qcow2_header *h = vms_qcow2_get_header(img);
    info->format = g_strdup("qcow2");
    info->virtual_size = h->virtual_size;
    info->cluster_size = (unsigned int)h->cluster_size;
    info->compat = g_strdup(h->version == 2 ? "0.10" : "1.1");
    info->compression_type = g_strdup(h->compression_type == 1 ? "zstd" : "zlib");
    info->refcount_bits = 1u << h->refcount_order;
    info->lazy_refcounts = h->lazy_refcounts;
    info->corrupt = h->corrupt;
    info->dirty = h->dirty;
    info->extended_l2 = h->extended_l2;
    info->has_bitmaps = h->has_bitmaps_extension;
    if (h->backing_file) {
        info->backing_file = g_strdup(h->backing_file);
        info->backing_file_full = full_backing_name(path, h->backing_file);
        info->backing_format = g_strdup(h->backing_format);
    }
    info->nsnapshots = vms_qcow2_n_snapshots(img);
    info->snapshots = g_new0(vmsnap_image_snapshot, info->nsnapshots + 1);
    for (size_t i = 0; i < info->nsnapshots; i++) {
        const vms_qcow2_snapshot *s = vms_qcow2_get_snapshot(img, i);
        vmsnap_image_snapshot *o = &info->snapshots[i];
        o->id = g_strdup(s->id);
        o->name = g_strdup(s->name);
        o->vm_state_size = s->vm_state_size;
        o->date_sec = s->date_sec;
        o->date_nsec = s->date_nsec;
        o->vm_clock_nsec = s->vm_clock_nsec;
        o->icount = s->icount;
        o->disk_size = s->disk_size;
    }
    g_autoptr(vms_qcow2_map) map = vms_qcow2_map_new(img, -1, error);
    vms_qcow2_alloc_stats st;
    if (!map || !vms_qcow2_map_stats(map, &st, error))
        return false;
    info->allocated_bytes = st.data_bytes;
    info->zero_bytes = st.zero_bytes;
    info->compressed_bytes = st.compressed_bytes;
    info->data_clusters = st.data_clusters;
    info->zero_clusters = st.zero_clusters;
    info->compressed_clusters = st.compressed_clusters;
    return true;
}

/* One file; @format NULL: probe. @seen: dev/ino pairs above it. */
static vmsnap_image_info *inspect_one(const char *path, const char *format, unsigned int flags,
                                      GArray *seen, vmsnap_error **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot open '%s'", path);
        return NULL;
    }
    g_autoptr(vmsnap_image_info) info = g_new0(vmsnap_image_info, 1);
    info->filename = g_strdup(path);
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    if (!ok) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot stat '%s'", path);
    } else if (!S_ISREG(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "'%s' is not a regular file; vmsnap inspects image files only", path);
        ok = false;
    }
    if (ok) {
        for (guint i = 0; i < seen->len; i += 2) {
            if (g_array_index(seen, guint64, i) == (guint64)st.st_dev &&
                g_array_index(seen, guint64, i + 1) == (guint64)st.st_ino) {
                vms_error_set(error, VMSNAP_ERR_CORRUPT,
                              "the backing chain loops: '%s' is backed by itself", path);
                ok = false;
            }
        }
        guint64 id[2] = {(guint64)st.st_dev, (guint64)st.st_ino};
        g_array_append_vals(seen, id, 2);
        info->file_size = (unsigned long long)st.st_size;
        info->actual_size = (unsigned long long)st.st_blocks * 512;
    }
    if (ok && !format) {
        uint8_t magic[4] = {0};
        ssize_t n = pread(fd, magic, sizeof(magic), 0);
        format = vms_qcow2_probe(magic, n > 0 ? (size_t)n : 0) ? "qcow2" : "raw";
    }
    if (ok && strcmp(format, "qcow2") == 0) {
        ok = fill_qcow2(info, fd, path, error);
    } else if (ok && strcmp(format, "raw") == 0) {
        info->format = g_strdup("raw");
        info->virtual_size = info->file_size;
        uint64_t allocated = 0;
        ok = vms_qcow2_raw_allocated(fd, info->file_size, &allocated, error);
        info->allocated_bytes = allocated;
    } else if (ok) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "'%s' is recorded as format '%s'; vmsnap reads qcow2 and raw images", path,
                      format);
        ok = false;
    }
    close(fd);
    if (!ok)
        return NULL;
    if ((flags & VMSNAP_IMAGE_INSPECT_BACKING_CHAIN) && info->backing_file_full) {
        if (seen->len / 2 >= MAX_CHAIN_DEPTH) {
            vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                          "the backing chain is more than %d files deep", MAX_CHAIN_DEPTH);
            return NULL;
        }
        info->backing =
            inspect_one(info->backing_file_full, info->backing_format, flags, seen, error);
        if (!info->backing) {
            vms_error_prefix(error, "backing file of '%s': ", path);
            return NULL;
        }
    }
    return g_steal_pointer(&info);
}

vmsnap_image_info *vmsnap_image_inspect(const char *path, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, path, "path", error) ||
        !vms_api_check_flags(__func__, flags, VMSNAP_IMAGE_INSPECT_BACKING_CHAIN, error))
        return NULL;
    g_autoptr(GArray) seen = g_array_new(FALSE, FALSE, sizeof(guint64));
    return inspect_one(path, NULL, flags, seen, error);
}

void vmsnap_image_info_free(vmsnap_image_info *info)
{
    while (info) {
        vmsnap_image_info *next = info->backing;
        g_free(info->filename);
        g_free(info->format);
        g_free(info->compat);
        g_free(info->compression_type);
        g_free(info->backing_file);
        g_free(info->backing_file_full);
        g_free(info->backing_format);
        for (size_t i = 0; i < info->nsnapshots; i++) {
            g_free(info->snapshots[i].id);
            g_free(info->snapshots[i].name);
        }
        g_free(info->snapshots);
        g_free(info);
        info = next;
    }
}
