/*
 * qcow2_chain.c: a disk's point in time through its backing chain, and the
 * comparison of two points (what `snapshot-diff` reports).
 *
 * A guest byte of a point resolves to the first layer, top down, whose map
 * has it (data, compressed or zero); past the chain, or past a layer's size,
 * it reads as zeros. Two points are equal at a byte, without reading data,
 * when both resolve to the same stored cluster of the same file (same
 * device and inode) — qcow2 never changes a cluster that two tables share —
 * or both read as zeros. Everything else is read and compared.
 */
#include "qcow2/qcow2_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

#define MAX_CHAIN_DEPTH 64
#define SECTOR          512u
#define COMPARE_CHUNK   (1024u * 1024)

typedef struct {
    char *path;
    int fd;
    vms_qcow2 *img;     /* NULL for a raw layer */
    vms_qcow2_map *map; /* NULL for a raw layer */
    uint64_t size;
    dev_t dev;
    ino_t ino;
} chain_layer;

struct vms_qcow2_chain {
    GPtrArray *layers; /* of chain_layer, top first */
};

/* Where a guest byte of a point comes from, for @length bytes. */
typedef struct {
    const chain_layer *layer; /* NULL: zeros */
    vms_qcow2_extent ext;     /* of @layer (a raw layer: DATA, host = guest) */
    uint64_t length;
} resolved;

static void layer_free(gpointer p)
{
    chain_layer *l = p;
    vms_qcow2_map_free(l->map);
    vms_qcow2_close(l->img);
    if (l->fd >= 0)
        close(l->fd);
    g_free(l->path);
    g_free(l);
}

void vms_qcow2_chain_free(vms_qcow2_chain *chain)
{
    if (!chain)
        return;
    g_ptr_array_unref(chain->layers);
    g_free(chain);
}

static char *backing_path(const char *image, const char *backing)
{
    if (g_path_is_absolute(backing))
        return g_strdup(backing);
    g_autofree char *dir = g_path_get_dirname(image);
    return g_build_filename(dir, backing, NULL);
}

vms_qcow2_chain *vms_qcow2_chain_open(const char *path, const char *format, const char *tag,
                                      vmsnap_error **error)
{
    g_autoptr(vms_qcow2_chain) chain = g_new0(vms_qcow2_chain, 1);
    chain->layers = g_ptr_array_new_with_free_func(layer_free);
    g_autofree char *next = g_strdup(path);
    g_autofree char *next_format = g_strdup(format);
    while (next) {
        if (chain->layers->len >= MAX_CHAIN_DEPTH) {
            vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                          "the backing chain of '%s' is more than %d files deep", path,
                          MAX_CHAIN_DEPTH);
            return NULL;
        }
        chain_layer *l = g_new0(chain_layer, 1);
        l->fd = -1;
        l->path = g_steal_pointer(&next);
        g_ptr_array_add(chain->layers, l);
        if (g_str_has_prefix(l->path, "json:") || strstr(l->path, "://")) {
            vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                          "backing file '%s' is not a plain file name; vmsnap reads local "
                          "files only",
                          l->path);
            return NULL;
        }
        l->fd = open(l->path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (l->fd < 0 || fstat(l->fd, &st) < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot open '%s'%s", l->path,
                                chain->layers->len > 1 ? " (a backing file)" : "");
            return NULL;
        }
        l->dev = st.st_dev;
        l->ino = st.st_ino;
        for (guint i = 0; i + 1 < chain->layers->len; i++) {
            const chain_layer *seen = g_ptr_array_index(chain->layers, i);
            if (seen->dev == l->dev && seen->ino == l->ino) {
                vms_error_set(error, VMSNAP_ERR_CORRUPT,
                              "the backing chain of '%s' loops: '%s' is its own backing file", path,
                              l->path);
                return NULL;
            }
        }
        g_autofree char *fmt = g_steal_pointer(&next_format);
        if (!fmt) {
            uint8_t magic[4] = {0};
            ssize_t n = pread(l->fd, magic, sizeof(magic), 0);
            fmt = g_strdup(vms_qcow2_probe(magic, n > 0 ? (size_t)n : 0) ? "qcow2" : "raw");
        }
        if (strcmp(fmt, "raw") == 0) {
            if (!S_ISREG(st.st_mode)) {
                vms_error_set(error, VMSNAP_ERR_UNSUPPORTED, "'%s' is not a regular file", l->path);
                return NULL;
            }
            if (tag && chain->layers->len == 1) {
                vms_error_set(error, VMSNAP_ERR_CORRUPT,
                              "'%s' is a raw image; it has no internal snapshot '%s'", l->path,
                              tag);
                return NULL;
            }
            l->size = (uint64_t)st.st_size;
            break;
        }
        if (strcmp(fmt, "qcow2") != 0) {
            vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                          "'%s' is in format '%s'; vmsnap reads qcow2 and raw images", l->path,
                          fmt);
            return NULL;
        }
        l->img = vms_qcow2_open_fd(l->fd, l->path, error);
        if (!l->img)
            return NULL;
        int snap = -1;
        if (tag && chain->layers->len == 1) {
            snap = vms_qcow2_find_snapshot(l->img, tag);
            if (snap < 0) {
                vms_error_set(error, VMSNAP_ERR_CORRUPT,
                              "'%s' has no internal snapshot '%s' (see `qemu-img snapshot -l`)",
                              l->path, tag);
                return NULL;
            }
        }
        l->map = vms_qcow2_map_new(l->img, snap, error);
        if (!l->map)
            return NULL;
        l->size = vms_qcow2_map_size(l->map);
        const vms_qcow2_header *h = vms_qcow2_get_header(l->img);
        if (h->backing_file) {
            next = backing_path(l->path, h->backing_file);
            next_format = g_strdup(h->backing_format);
        }
    }
    return g_steal_pointer(&chain);
}

uint64_t vms_qcow2_chain_size(const vms_qcow2_chain *chain)
{
    const chain_layer *top = g_ptr_array_index(chain->layers, 0);
    return top->size;
}

size_t vms_qcow2_chain_depth(const vms_qcow2_chain *chain)
{
    return chain->layers->len;
}

const char *vms_qcow2_chain_layer_path(const vms_qcow2_chain *chain, size_t i)
{
    if (i >= chain->layers->len)
        return NULL;
    return ((const chain_layer *)g_ptr_array_index(chain->layers, i))->path;
}

vms_qcow2 *vms_qcow2_chain_layer_image(const vms_qcow2_chain *chain, size_t i)
{
    if (i >= chain->layers->len)
        return NULL;
    return ((const chain_layer *)g_ptr_array_index(chain->layers, i))->img;
}

bool vms_qcow2_raw_allocated(int fd, uint64_t size, uint64_t *bytes, vmsnap_error **error)
{
    *bytes = 0;
    for (off_t pos = 0; (uint64_t)pos < size;) {
        off_t data = lseek(fd, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            return true; /* only a hole is left */
        if (data < 0 && errno == EINVAL) {
            *bytes = size; /* no hole support: all data */
            return true;
        }
        if (data < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot find the data of a raw image");
            return false;
        }
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0 || (uint64_t)hole > size)
            hole = (off_t)size;
        *bytes += (uint64_t)(hole - data);
        pos = hole;
    }
    return true;
}

/* Resolve guest @offset (< the point's size) of @chain. */
static bool resolve(vms_qcow2_chain *chain, uint64_t offset, resolved *r, vmsnap_error **error)
{
    uint64_t limit = vms_qcow2_chain_size(chain) - offset;
    memset(r, 0, sizeof(*r));
    for (guint i = 0; i < chain->layers->len; i++) {
        const chain_layer *l = g_ptr_array_index(chain->layers, i);
        if (offset >= l->size)
            break; /* a smaller backing file: zeros */
        if (!l->img) {
            r->layer = l;
            r->ext.kind = VMS_QCOW2_DATA;
            r->ext.offset = offset;
            r->ext.length = l->size - offset;
            r->ext.host_offset = offset;
            r->length = MIN(limit, r->ext.length);
            return true;
        }
        vms_qcow2_extent ext;
        if (!vms_qcow2_map_lookup(l->map, offset, &ext, error))
            return false;
        limit = MIN(limit, ext.length);
        if (ext.kind == VMS_QCOW2_ZERO)
            break;
        if (ext.kind != VMS_QCOW2_UNALLOCATED) {
            r->layer = l;
            r->ext = ext;
            r->length = limit;
            return true;
        }
    }
    r->length = limit;
    return true;
}

static bool read_resolved(const resolved *r, uint64_t offset, size_t len, uint8_t *buf,
                          vmsnap_error **error)
{
    if (!r->layer) {
        memset(buf, 0, len);
        return true;
    }
    if (r->layer->map)
        return vms_qcow2_map_read(r->layer->map, &r->ext, offset, len, buf, error);
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(r->layer->fd, buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot read '%s'", r->layer->path);
            return false;
        }
        if (n == 0)
            break; /* the file shrank: zeros */
        done += (size_t)n;
    }
    memset(buf + done, 0, len - done);
    return true;
}

bool vms_qcow2_chain_read(vms_qcow2_chain *chain, uint64_t offset, size_t len, uint8_t *buf,
                          vmsnap_error **error)
{
    uint64_t size = vms_qcow2_chain_size(chain);
    while (len > 0) {
        if (offset >= size) {
            memset(buf, 0, len);
            return true;
        }
        resolved r;
        if (!resolve(chain, offset, &r, error))
            return false;
        size_t n = (size_t)MIN((uint64_t)len, r.length);
        if (!read_resolved(&r, offset, n, buf, error))
            return false;
        offset += n;
        buf += n;
        len -= n;
    }
    return true;
}

/* Both points read the same bytes here, known from metadata alone. */
static bool same_source(const resolved *a, const resolved *b, uint64_t offset)
{
    if (!a->layer || !b->layer)
        return !a->layer && !b->layer;
    if (a->layer->dev != b->layer->dev || a->layer->ino != b->layer->ino ||
        a->ext.kind != b->ext.kind)
        return false;
    if (a->ext.kind == VMS_QCOW2_COMPRESSED)
        return a->ext.host_offset == b->ext.host_offset &&
               offset - a->ext.cluster_offset == offset - b->ext.cluster_offset;
    return a->ext.host_offset + (offset - a->ext.offset) ==
           b->ext.host_offset + (offset - b->ext.offset);
}

static void add_range(GArray *ranges, uint64_t offset, uint64_t length)
{
    if (ranges->len) {
        vms_qcow2_range *last = &g_array_index(ranges, vms_qcow2_range, ranges->len - 1);
        if (last->offset + last->length >= offset) {
            uint64_t end = MAX(last->offset + last->length, offset + length);
            last->length = end - last->offset;
            return;
        }
    }
    vms_qcow2_range r = {offset, length};
    g_array_append_val(ranges, r);
}

/* Mark every sector of [@offset, @offset + @len) where @x and @y differ. */
static void compare_buffers(GArray *ranges, uint64_t size, uint64_t offset, const uint8_t *x,
                            const uint8_t *y, size_t len)
{
    size_t pos = 0;
    while (pos < len) {
        uint64_t abs = offset + pos;
        uint64_t sector = abs - abs % SECTOR;
        size_t n = (size_t)MIN((uint64_t)(len - pos), sector + SECTOR - abs);
        if (memcmp(x + pos, y + pos, n) != 0)
            add_range(ranges, sector, MIN(sector + SECTOR, size) - sector);
        pos += n;
    }
}

bool vms_qcow2_chain_diff(vms_qcow2_chain *a, vms_qcow2_chain *b, GArray *ranges,
                          vms_qcow2_diff_stats *stats, vmsnap_error **error)
{
    uint64_t size_a = vms_qcow2_chain_size(a), size_b = vms_qcow2_chain_size(b);
    memset(stats, 0, sizeof(*stats));
    stats->size = MAX(size_a, size_b);
    guint first = ranges->len;
    g_autofree uint8_t *buf_a = NULL, *buf_b = NULL;
    for (uint64_t off = 0; off < stats->size;) {
        resolved ra = {0}, rb = {0};
        ra.length = rb.length = stats->size - off;
        if (off < size_a && !resolve(a, off, &ra, error))
            return false;
        if (off < size_b && !resolve(b, off, &rb, error))
            return false;
        uint64_t n = MIN(ra.length, rb.length);
        if (same_source(&ra, &rb, off)) {
            stats->shared_bytes += n;
            off += n;
            continue;
        }
        if (!buf_a) {
            buf_a = g_malloc(COMPARE_CHUNK);
            buf_b = g_malloc(COMPARE_CHUNK);
        }
        for (uint64_t done = 0; done < n;) {
            size_t chunk = (size_t)MIN((uint64_t)COMPARE_CHUNK, n - done);
            if (!read_resolved(&ra, off + done, chunk, buf_a, error) ||
                !read_resolved(&rb, off + done, chunk, buf_b, error))
                return false;
            compare_buffers(ranges, stats->size, off + done, buf_a, buf_b, chunk);
            done += chunk;
        }
        stats->compared_bytes += n;
        off += n;
    }
    for (guint i = first; i < ranges->len; i++)
        stats->differing_bytes += g_array_index(ranges, vms_qcow2_range, i).length;
    return true;
}
