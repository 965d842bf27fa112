/*
 * qcow2_map.c: guest offset -> host cluster through one L1 table and its L2
 * tables (docs/formats/qcow2.md, "Cluster mapping").
 *
 *   L1 entry (8 bytes)       bits 9-55 L2 table offset (cluster aligned, 0:
 *                            unallocated); bit 63 "copied"; other bits reserved
 *   L2 entry (8 bytes, or    bit 62 compressed, bit 63 copied, bits 0-61 the
 *     16 with extended L2)   descriptor:
 *     standard               bit 0 reads as zero (v3, not extended L2), bits
 *                            9-55 host cluster offset (0: unallocated);
 *                            bits 1-8 and 56-61 reserved
 *     compressed             x = 62 - (cluster_bits - 8): bits 0..x-1 host
 *                            byte offset, bits x..61 extra 512-byte sectors
 *     extended L2 bitmap     bits 0-31 subcluster allocated, 32-63 subcluster
 *                            reads as zero (never both)
 *
 * Checked: reserved bits clear, L2 tables cluster aligned and inside the
 * file, data clusters aligned and starting inside the file (bytes past its
 * end read as zeros, as in QEMU), compressed data starting inside the file.
 */
#include "qcow2/qcow2_internal.h"

#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "util/error.h"

#define L2_CACHE_SLOTS   4
#define L1_OFFSET_MASK   0x00fffffffffffe00ull
#define L1_RESERVED_MASK 0x7f000000000001ffull
#define L2_COMPRESSED    (1ull << 62)
#define L2_COPIED        (1ull << 63)
#define L2_ZERO          1ull
#define L2_RESERVED_MASK 0x3f000000000001feull
#define SUBCLUSTERS      32

typedef struct {
    uint64_t offset; /* 0: empty */
    uint64_t used;   /* LRU stamp */
    uint8_t *table;
} l2_slot;

struct vms_qcow2_map {
    vms_qcow2 *img;
    uint64_t *l1;
    uint32_t l1_size;
    uint64_t size;
    uint64_t l2_entries;
    l2_slot cache[L2_CACHE_SLOTS];
    uint64_t clock;
    uint8_t *cluster;      /* the last decompressed cluster */
    uint64_t cluster_host; /* its compressed offset; valid if cluster_valid */
    bool cluster_valid;
    ZSTD_DCtx *zstd;
};

vms_qcow2_map *vms_qcow2_map_new(vms_qcow2 *img, int snapshot, vmsnap_error **error)
{
    uint64_t offset = img->h.l1_offset;
    uint32_t size = img->h.l1_size;
    uint64_t vsize = img->h.virtual_size;
    if (snapshot >= 0) {
        const vms_qcow2_snapshot *s = vms_qcow2_get_snapshot(img, (size_t)snapshot);
        if (!s) {
            vms_error_set(error, VMSNAP_ERR_INTERNAL, "no snapshot %d in '%s'", snapshot,
                          img->name);
            return NULL;
        }
        offset = s->l1_offset;
        size = s->l1_size;
        vsize = s->disk_size;
    }
    g_autoptr(vms_qcow2_map) map = g_new0(vms_qcow2_map, 1);
    map->img = img;
    map->l1_size = size;
    map->size = vsize;
    map->l2_entries = img->h.cluster_size / (img->h.extended_l2 ? 16 : 8);
    /* check_l1() bounded size by QEMU's limit and the file. */
    g_autofree uint8_t *raw = g_malloc((size_t)size * 8 + 1);
    if (size && !vms_qcow2_pread(img, raw, (size_t)size * 8, offset, "L1 table", error))
        return NULL;
    map->l1 = g_new(uint64_t, (size_t)size + 1);
    for (uint32_t i = 0; i < size; i++)
        map->l1[i] = vms_be64(raw + (size_t)i * 8);
    return g_steal_pointer(&map);
}

void vms_qcow2_map_free(vms_qcow2_map *map)
{
    if (!map)
        return;
    for (int i = 0; i < L2_CACHE_SLOTS; i++)
        g_free(map->cache[i].table);
    g_free(map->l1);
    g_free(map->cluster);
    ZSTD_freeDCtx(map->zstd);
    g_free(map);
}

uint64_t vms_qcow2_map_size(const vms_qcow2_map *map)
{
    return map->size;
}

static const uint8_t *load_l2(vms_qcow2_map *map, uint64_t offset, vmsnap_error **error)
{
    l2_slot *victim = &map->cache[0];
    for (int i = 0; i < L2_CACHE_SLOTS; i++) {
        l2_slot *s = &map->cache[i];
        if (s->offset == offset && s->table) {
            s->used = ++map->clock;
            return s->table;
        }
        if (s->used < victim->used)
            victim = s;
    }
    if (!victim->table)
        victim->table = g_malloc(map->img->h.cluster_size);
    victim->offset = 0;
    if (!vms_qcow2_pread(map->img, victim->table, map->img->h.cluster_size, offset, "L2 table",
                         error))
        return NULL;
    victim->offset = offset;
    victim->used = ++map->clock;
    return victim->table;
}

/* What guest cluster @index of an L2 table holds from byte @within of the
 * cluster on: kind, host offset of that byte, and how many bytes of the
 * cluster from @within share them. */
static bool decode(vms_qcow2_map *map, const uint8_t *l2, uint64_t index, uint64_t within,
                   uint64_t guest_cluster, vms_qcow2_extent *ext, vmsnap_error **error)
{
    vms_qcow2 *img = map->img;
    uint64_t cs = img->h.cluster_size;
    bool extended = img->h.extended_l2;
    uint64_t e = vms_be64(l2 + index * (extended ? 16 : 8));
    memset(ext, 0, sizeof(*ext));
    ext->length = cs - within;
    ext->cluster_offset = guest_cluster;

    if (e & L2_COMPRESSED) {
        unsigned int x = 62 - (img->h.cluster_bits - 8);
        uint64_t host = e & ((1ull << x) - 1);
        uint64_t sectors = (e & ((1ull << 62) - 1)) >> x;
        if (host >> 56 || host >= img->h.file_size) {
            vms_qcow2_corrupt(img, error,
                              "the compressed cluster at guest offset %" G_GUINT64_FORMAT
                              " points to offset %" G_GUINT64_FORMAT ", beyond the end of the file",
                              guest_cluster, host);
            return false;
        }
        ext->kind = VMS_QCOW2_COMPRESSED;
        ext->host_offset = host;
        ext->compressed_len = (sectors + 1) * 512 - (host & 511);
        return true;
    }
    uint64_t host = e & L1_OFFSET_MASK;
    if (e & L2_RESERVED_MASK) {
        vms_qcow2_corrupt(img, error,
                          "the L2 entry for guest offset %" G_GUINT64_FORMAT
                          " (0x%016" G_GINT64_MODIFIER "x) has reserved bits set",
                          guest_cluster, e);
        return false;
    }
    if (host && ((host & (cs - 1)) || host >= img->h.file_size)) {
        vms_qcow2_corrupt(img, error,
                          "the L2 entry for guest offset %" G_GUINT64_FORMAT
                          " points to offset %" G_GUINT64_FORMAT
                          ", not cluster aligned or beyond the end of the file",
                          guest_cluster, host);
        return false;
    }
    if (!extended) {
        if (e & L2_ZERO)
            ext->kind = VMS_QCOW2_ZERO;
        else if (host)
            ext->kind = VMS_QCOW2_DATA;
        else
            ext->kind = VMS_QCOW2_UNALLOCATED;
        ext->host_offset = ext->kind == VMS_QCOW2_DATA ? host + within : 0;
        return true;
    }
    uint64_t bitmap = vms_be64(l2 + index * 16 + 8);
    uint32_t alloc = (uint32_t)bitmap, zero = (uint32_t)(bitmap >> 32);
    if (alloc & zero) {
        vms_qcow2_corrupt(img, error,
                          "the L2 entry for guest offset %" G_GUINT64_FORMAT
                          " marks subclusters both allocated and zero",
                          guest_cluster);
        return false;
    }
    if (alloc && !host) {
        vms_qcow2_corrupt(img, error,
                          "the L2 entry for guest offset %" G_GUINT64_FORMAT
                          " has allocated subclusters but no host offset",
                          guest_cluster);
        return false;
    }
    uint64_t sc_size = cs / SUBCLUSTERS;
    unsigned int sc = (unsigned int)(within / sc_size);
    int status = (alloc >> sc & 1) ? 2 : (zero >> sc & 1) ? 1 : 0;
    unsigned int end = sc + 1;
    while (end < SUBCLUSTERS && ((alloc >> end & 1) ? 2 : (zero >> end & 1) ? 1 : 0) == status)
        end++;
    ext->kind = status == 2 ? VMS_QCOW2_DATA : status == 1 ? VMS_QCOW2_ZERO : VMS_QCOW2_UNALLOCATED;
    ext->host_offset = status == 2 ? host + within : 0;
    ext->length = end * sc_size - within;
    return true;
}

bool vms_qcow2_map_lookup(vms_qcow2_map *map, uint64_t offset, vms_qcow2_extent *ext,
                          vmsnap_error **error)
{
    vms_qcow2 *img = map->img;
    uint64_t cs = img->h.cluster_size;
    uint64_t span = cs * map->l2_entries;
    uint64_t l1_index = offset / span;
    uint64_t span_end = (l1_index + 1) * span;
    uint64_t end = MIN(span_end, map->size);
    memset(ext, 0, sizeof(*ext));
    ext->offset = offset;
    if (offset >= map->size) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL,
                      "guest offset %" G_GUINT64_FORMAT " is beyond the disk of '%s'", offset,
                      img->name);
        return false;
    }
    ext->length = end - offset;
    if (l1_index >= map->l1_size) {
        /* A snapshot's L1 may be shorter than its disk: the rest is unallocated. */
        ext->length = map->size - offset;
        return true;
    }
    uint64_t l1e = map->l1[l1_index];
    if (l1e & L1_RESERVED_MASK) {
        vms_qcow2_corrupt(img, error,
                          "L1 entry %" G_GUINT64_FORMAT " (0x%016" G_GINT64_MODIFIER
                          "x) has reserved bits set",
                          l1_index, l1e);
        return false;
    }
    uint64_t l2_offset = l1e & L1_OFFSET_MASK;
    if (l2_offset == 0)
        return true;
    if ((l2_offset & (cs - 1)) || !vms_qcow2_in_file(img, l2_offset, cs)) {
        vms_qcow2_corrupt(img, error,
                          "L1 entry %" G_GUINT64_FORMAT
                          " points to an L2 table at offset %" G_GUINT64_FORMAT
                          ", not cluster aligned or not inside the file",
                          l1_index, l2_offset);
        return false;
    }
    const uint8_t *l2 = load_l2(map, l2_offset, error);
    if (!l2)
        return false;
    uint64_t index = (offset % span) / cs;
    uint64_t cluster = offset - offset % cs;
    vms_qcow2_extent run;
    if (!decode(map, l2, index, offset - cluster, cluster, &run, error))
        return false;
    run.offset = offset;
    /* Extend over following clusters of the same kind (data: contiguous). */
    while (run.kind != VMS_QCOW2_COMPRESSED && run.offset + run.length == cluster + cs &&
           cluster + cs < end) {
        cluster += cs;
        index++;
        vms_qcow2_extent next;
        if (!decode(map, l2, index, 0, cluster, &next, error))
            return false;
        if (next.kind != run.kind ||
            (run.kind == VMS_QCOW2_DATA && next.host_offset != run.host_offset + run.length))
            break;
        run.length += next.length;
    }
    if (run.offset + run.length > map->size)
        run.length = map->size - run.offset;
    *ext = run;
    return true;
}

static bool decompress(vms_qcow2_map *map, const vms_qcow2_extent *ext, vmsnap_error **error)
{
    vms_qcow2 *img = map->img;
    size_t cs = (size_t)img->h.cluster_size;
    uint64_t len = MIN(ext->compressed_len, img->h.file_size - ext->host_offset);
    g_autofree uint8_t *in = g_malloc(len ? len : 1);
    if (!vms_qcow2_pread(img, in, (size_t)len, ext->host_offset, "compressed cluster", error))
        return false;
    if (!map->cluster)
        map->cluster = g_malloc(cs);
    map->cluster_valid = false;
    size_t produced = 0;
    if (img->h.compression_type == 0) {
        z_stream z = {0};
        if (inflateInit2(&z, -12) != Z_OK) {
            vms_error_set(error, VMSNAP_ERR_INTERNAL, "cannot set up zlib");
            return false;
        }
        z.next_in = in;
        z.avail_in = (uInt)len;
        z.next_out = map->cluster;
        z.avail_out = (uInt)cs;
        int rc = inflate(&z, Z_FINISH);
        produced = cs - z.avail_out;
        inflateEnd(&z);
        if (rc != Z_STREAM_END && rc != Z_BUF_ERROR && rc != Z_OK)
            produced = 0;
    } else {
        if (!map->zstd)
            map->zstd = ZSTD_createDCtx();
        ZSTD_DCtx_reset(map->zstd, ZSTD_reset_session_only);
        ZSTD_inBuffer zin = {in, (size_t)len, 0};
        ZSTD_outBuffer zout = {map->cluster, cs, 0};
        while (zout.pos < cs && zin.pos < zin.size) {
            size_t rc = ZSTD_decompressStream(map->zstd, &zout, &zin);
            if (ZSTD_isError(rc) || rc == 0)
                break;
        }
        produced = zout.pos;
    }
    if (produced != cs) {
        vms_qcow2_corrupt(img, error,
                          "the compressed cluster at guest offset %" G_GUINT64_FORMAT
                          " (host offset %" G_GUINT64_FORMAT ") does not decompress to %zu bytes",
                          ext->cluster_offset, ext->host_offset, cs);
        return false;
    }
    map->cluster_host = ext->host_offset;
    map->cluster_valid = true;
    return true;
}

bool vms_qcow2_map_read(vms_qcow2_map *map, const vms_qcow2_extent *ext, uint64_t offset,
                        size_t len, uint8_t *buf, vmsnap_error **error)
{
    vms_qcow2 *img = map->img;
    if (offset < ext->offset || len > ext->length || offset - ext->offset > ext->length - len) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "read outside its extent in '%s'", img->name);
        return false;
    }
    switch (ext->kind) {
    case VMS_QCOW2_UNALLOCATED:
    case VMS_QCOW2_ZERO:
        memset(buf, 0, len);
        return true;
    case VMS_QCOW2_COMPRESSED:
        if ((!map->cluster_valid || map->cluster_host != ext->host_offset) &&
            !decompress(map, ext, error))
            return false;
        memcpy(buf, map->cluster + (offset - ext->cluster_offset), len);
        return true;
    case VMS_QCOW2_DATA: {
        uint64_t host = ext->host_offset + (offset - ext->offset);
        size_t in_file = 0;
        if (host < img->h.file_size)
            in_file = (size_t)MIN((uint64_t)len, img->h.file_size - host);
        if (in_file && !vms_qcow2_pread(img, buf, in_file, host, "data cluster", error))
            return false;
        memset(buf + in_file, 0, len - in_file);
        return true;
    }
    }
    return false;
}

bool vms_qcow2_map_stats(vms_qcow2_map *map, vms_qcow2_alloc_stats *stats, vmsnap_error **error)
{
    memset(stats, 0, sizeof(*stats));
    uint64_t cs = map->img->h.cluster_size;
    uint64_t counted = UINT64_MAX; /* the last cluster counted as data (subclusters) */
    for (uint64_t off = 0; off < map->size;) {
        vms_qcow2_extent ext;
        if (!vms_qcow2_map_lookup(map, off, &ext, error))
            return false;
        switch (ext.kind) {
        case VMS_QCOW2_DATA: {
            uint64_t first = off / cs, last = (off + ext.length - 1) / cs;
            stats->data_bytes += ext.length;
            stats->data_clusters += last - first + 1 - (first == counted);
            counted = last;
            break;
        }
        case VMS_QCOW2_COMPRESSED:
            stats->data_bytes += ext.length;
            stats->compressed_bytes += ext.length;
            stats->compressed_clusters++;
            break;
        case VMS_QCOW2_ZERO:
            stats->zero_bytes += ext.length;
            stats->zero_clusters += ext.length / cs;
            break;
        case VMS_QCOW2_UNALLOCATED:
            break;
        }
        off += ext.length;
    }
    return true;
}
