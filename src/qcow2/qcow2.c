/*
 * qcow2.c: opening a qcow2 image — header, feature bits, header extensions,
 * backing file name, snapshot table, refcounts (docs/formats/qcow2.md).
 *
 * The header (all numbers big-endian):
 *
 *   Offset  Size  Field                    Checked here
 *   ------  ----  -----------------------  --------------------------------------------
 *        0     4  magic "QFI\xfb"          else: not a qcow2 image
 *        4     4  version                  2 or 3
 *        8     8  backing_file_offset      name inside the first cluster and the file
 *       16     4  backing_file_size        <= 1023, no NUL byte
 *       20     4  cluster_bits             9..21 (14..21 with extended L2)
 *       24     8  size                     the active L1 table covers it
 *       32     4  crypt_method             0 (encrypted images are refused)
 *       36     4  l1_size                  <= 32 MiB of entries, inside the file
 *       40     8  l1_table_offset          cluster aligned
 *       48     8  refcount_table_offset    cluster aligned, table inside the file
 *       56     4  refcount_table_clusters  <= 8 MiB of table
 *       60     4  nb_snapshots             <= 65536
 *       64     8  snapshots_offset         cluster aligned, table <= 64 MiB, in the file
 *   version 3 only:
 *       72     8  incompatible_features    unknown bits refused by name
 *       80     8  compatible_features      lazy refcounts reported; others ignored
 *       88     8  autoclear_features       bitmaps reported; others ignored
 *       96     4  refcount_order           <= 6 (version 2: 4)
 *      100     4  header_length            >= 104, multiple of 8, inside cluster 0
 *      104     1  compression_type         0 zlib, 1 zstd, only with feature bit 3
 *
 * Header extensions follow the header (at 72 for version 2) up to the end
 * of the first cluster: 4-byte type, 4-byte length, data padded to 8.
 *
 * A snapshot table entry (8-byte aligned, entries back to back):
 *
 *   Offset  Size  Field            Checked here
 *        0     8  l1_table_offset  cluster aligned, table inside the file
 *        8     4  l1_size          <= 32 MiB of entries
 *       12     2  id_str_size
 *       14     2  name_size
 *       16     4  date_sec
 *       20     4  date_nsec
 *       24     8  vm_clock_nsec
 *       32     4  vm_state_size    (replaced by the 64-bit extra field)
 *       36     4  extra_data_size  <= 1024
 *       40     E  extra data       [0,8) vm_state_size, [8,16) disk_size,
 *                                  [16,24) icount (-1: none); unknown: ignored
 *     40+E     I  id string        not NUL-terminated
 *   40+E+I     N  name string      not NUL-terminated; then padding to 8
 */
#include "qcow2/qcow2_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

#define QCOW2_MAGIC 0x514649fbu

#define EXT_END          0x00000000u
#define EXT_BACKING_FMT  0xe2792acau
#define EXT_FEATURE_NAME 0x6803f857u
#define EXT_BITMAPS      0x23852875u
#define EXT_CRYPTO       0x0537be77u
#define EXT_DATA_FILE    0x44415441u

#define FEATURE_ENTRY_LEN 48

void vms_qcow2_corrupt(const vms_qcow2 *img, vmsnap_error **error, const char *fmt, ...)
{
    if (!error || *error)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    vms_error_set(error, VMSNAP_ERR_CORRUPT,
                  "'%s' is not a valid qcow2 image: %s (`qemu-img check` may repair it)", img->name,
                  what);
}

bool vms_qcow2_in_file(const vms_qcow2 *img, uint64_t offset, uint64_t len)
{
    return offset <= img->h.file_size && len <= img->h.file_size - offset;
}

bool vms_qcow2_pread(vms_qcow2 *img, void *buf, size_t len, uint64_t offset, const char *what,
                     vmsnap_error **error)
{
    if (!vms_qcow2_in_file(img, offset, len)) {
        vms_qcow2_corrupt(img, error,
                          "the %s (%zu bytes at offset %" G_GUINT64_FORMAT
                          ") lies beyond the end of the file (%" G_GUINT64_FORMAT " bytes)",
                          what, len, offset, img->h.file_size);
        return false;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(img->fd, (uint8_t *)buf + done, len - done, (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot read the %s of '%s'", what,
                                img->name);
            return false;
        }
        if (n == 0) {
            vms_qcow2_corrupt(img, error, "the file ended while reading the %s (it shrank?)", what);
            return false;
        }
        done += (size_t)n;
    }
    return true;
}

bool vms_qcow2_probe(const uint8_t *buf, size_t len)
{
    return len >= 4 && vms_be32(buf) == QCOW2_MAGIC;
}

static bool is_aligned(const vms_qcow2 *img, uint64_t offset)
{
    return (offset & (img->h.cluster_size - 1)) == 0;
}

/* A string field: no NUL byte inside; invalid UTF-8 made printable. */
static char *read_string(vms_qcow2 *img, uint64_t offset, size_t len, const char *what,
                         vmsnap_error **error)
{
    g_autofree char *raw = g_malloc(len + 1);
    if (!vms_qcow2_pread(img, raw, len, offset, what, error))
        return NULL;
    raw[len] = '\0';
    if (memchr(raw, '\0', len)) {
        vms_qcow2_corrupt(img, error, "the %s holds a NUL byte", what);
        return NULL;
    }
    if (!g_utf8_validate(raw, (gssize)len, NULL))
        return g_utf8_make_valid(raw, (gssize)len);
    return g_steal_pointer(&raw);
}

static const char *known_feature_name(int kind, unsigned int bit)
{
    static const char *const incompat[] = {"dirty bit", "corrupt bit", "external data file",
                                           "compression type", "extended L2 entries"};
    if (kind == 0 && bit < G_N_ELEMENTS(incompat))
        return incompat[bit];
    if (kind == 1 && bit == 0)
        return "lazy refcounts";
    if (kind == 2 && bit == 0)
        return "bitmaps";
    if (kind == 2 && bit == 1)
        return "raw external data";
    return NULL;
}

char *vms_qcow2_feature_names(const vms_qcow2 *img, int kind, uint64_t bits)
{
    GString *out = g_string_new(NULL);
    for (unsigned int bit = 0; bit < 64; bit++) {
        if (!(bits & (1ull << bit)))
            continue;
        const char *name = NULL;
        for (guint i = 0; img->feature_names && i < img->feature_names->len; i++) {
            const vms_qcow2_feature_name *f =
                &g_array_index(img->feature_names, vms_qcow2_feature_name, i);
            if (f->type == kind && f->bit == bit && f->name[0]) {
                name = f->name;
                break;
            }
        }
        if (!name)
            name = known_feature_name(kind, bit);
        if (out->len)
            g_string_append(out, ", ");
        if (name)
            g_string_append_printf(out, "'%s' (bit %u)", name, bit);
        else
            g_string_append_printf(out, "bit %u", bit);
    }
    return g_string_free(out, FALSE);
}

/* Header extensions: from the end of the header to the end of cluster 0. */
static bool read_extensions(vms_qcow2 *img, const uint8_t *cluster0, size_t avail, char **data_file,
                            vmsnap_error **error)
{
    size_t pos = img->h.header_length;
    while (pos < avail) {
        if (avail - pos < 8) {
            vms_qcow2_corrupt(img, error, "a header extension at offset %zu is cut off", pos);
            return false;
        }
        uint32_t type = vms_be32(cluster0 + pos);
        uint32_t len = vms_be32(cluster0 + pos + 4);
        pos += 8;
        if (type == EXT_END)
            return true;
        if (len > avail - pos) {
            vms_qcow2_corrupt(img, error,
                              "header extension 0x%08x claims %u bytes; only %zu are left in "
                              "the first cluster",
                              type, len, avail - pos);
            return false;
        }
        const uint8_t *data = cluster0 + pos;
        switch (type) {
        case EXT_BACKING_FMT:
            if (len > VMS_QCOW2_MAX_BACKING_NAME || memchr(data, '\0', len)) {
                vms_qcow2_corrupt(img, error, "the backing format extension is malformed");
                return false;
            }
            g_free(img->h.backing_format);
            img->h.backing_format = g_utf8_make_valid((const char *)data, len);
            break;
        case EXT_FEATURE_NAME:
            for (size_t i = 0; i + FEATURE_ENTRY_LEN <= len; i += FEATURE_ENTRY_LEN) {
                vms_qcow2_feature_name f = {.type = data[i], .bit = data[i + 1]};
                size_t n = strnlen((const char *)data + i + 2, VMS_QCOW2_MAX_FEATURE_NAME);
                g_autofree char *name = g_utf8_make_valid((const char *)data + i + 2, (gssize)n);
                g_strlcpy(f.name, name, sizeof(f.name));
                g_array_append_val(img->feature_names, f);
            }
            break;
        case EXT_BITMAPS:
            img->h.has_bitmaps_extension = true;
            break;
        case EXT_DATA_FILE:
            g_free(*data_file);
            *data_file = g_utf8_make_valid((const char *)data, strnlen((const char *)data, len));
            break;
        default: /* EXT_CRYPTO (encryption is refused) and unknown ones */
            break;
        }
        pos += ((size_t)len + 7) & ~(size_t)7;
    }
    return true;
}

static bool not_qcow2(const vms_qcow2 *img, vmsnap_error **error)
{
    vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                  "'%s' is not a qcow2 image (no qcow2 magic at its start)", img->name);
    return false;
}

/* The fields of the header, checked one by one. */
static bool read_header(vms_qcow2 *img, vmsnap_error **error)
{
    vms_qcow2_header *h = &img->h;
    uint8_t fixed[112] = {0};
    if (h->file_size < 72) {
        if (h->file_size >= 4) {
            uint8_t magic[4];
            if (!vms_qcow2_pread(img, magic, 4, 0, "magic", error))
                return false;
            if (!vms_qcow2_probe(magic, 4))
                return not_qcow2(img, error);
        }
        vms_qcow2_corrupt(img, error,
                          "the file is %" G_GUINT64_FORMAT " bytes long, too short for a header",
                          h->file_size);
        return false;
    }
    size_t fixed_len = h->file_size < sizeof(fixed) ? (size_t)h->file_size : sizeof(fixed);
    if (!vms_qcow2_pread(img, fixed, fixed_len, 0, "header", error))
        return false;
    if (!vms_qcow2_probe(fixed, 4))
        return not_qcow2(img, error);

    h->version = vms_be32(fixed + 4);
    if (h->version != 2 && h->version != 3) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "'%s' is qcow2 version %u; vmsnap reads versions 2 and 3", img->name,
                      h->version);
        return false;
    }
    uint64_t backing_offset = vms_be64(fixed + 8);
    uint32_t backing_size = vms_be32(fixed + 16);
    h->cluster_bits = vms_be32(fixed + 20);
    h->virtual_size = vms_be64(fixed + 24);
    h->crypt_method = vms_be32(fixed + 32);
    h->l1_size = vms_be32(fixed + 36);
    h->l1_offset = vms_be64(fixed + 40);
    h->refcount_table_offset = vms_be64(fixed + 48);
    h->refcount_table_clusters = vms_be32(fixed + 56);
    h->nb_snapshots = vms_be32(fixed + 60);
    h->snapshots_offset = vms_be64(fixed + 64);

    if (h->cluster_bits < VMS_QCOW2_MIN_CLUSTER_BITS ||
        h->cluster_bits > VMS_QCOW2_MAX_CLUSTER_BITS) {
        vms_qcow2_corrupt(img, error, "cluster_bits is %u; it must be between %d and %d",
                          h->cluster_bits, VMS_QCOW2_MIN_CLUSTER_BITS, VMS_QCOW2_MAX_CLUSTER_BITS);
        return false;
    }
    h->cluster_size = 1ull << h->cluster_bits;

    if (h->version == 2) {
        h->refcount_order = 4;
        h->header_length = 72;
    } else {
        if (h->file_size < 104) {
            vms_qcow2_corrupt(img, error, "the version 3 header is cut off");
            return false;
        }
        h->incompatible_features = vms_be64(fixed + 72);
        h->compatible_features = vms_be64(fixed + 80);
        h->autoclear_features = vms_be64(fixed + 88);
        h->refcount_order = vms_be32(fixed + 96);
        h->header_length = vms_be32(fixed + 100);
        if (h->header_length < 104 || h->header_length % 8 || h->header_length > h->cluster_size) {
            vms_qcow2_corrupt(img, error,
                              "header_length is %u; it must be a multiple of 8 between 104 and "
                              "the cluster size",
                              h->header_length);
            return false;
        }
        if (h->header_length > 104 && fixed_len > 104)
            h->compression_type = fixed[104];
    }
    if (h->refcount_order > 6) {
        vms_qcow2_corrupt(img, error, "refcount_order is %u; at most 6 is allowed",
                          h->refcount_order);
        return false;
    }

    /* Cluster 0 holds the header, its extensions and the backing name. */
    size_t avail = h->file_size < h->cluster_size ? (size_t)h->file_size : h->cluster_size;
    if (avail < h->header_length) {
        vms_qcow2_corrupt(img, error, "the header (%u bytes) is cut off", h->header_length);
        return false;
    }
    g_autofree uint8_t *cluster0 = g_malloc(avail);
    if (!vms_qcow2_pread(img, cluster0, avail, 0, "first cluster", error))
        return false;
    g_autofree char *data_file = NULL;
    if (!read_extensions(img, cluster0, avail, &data_file, error))
        return false;

    /* Features, now that the feature name table can name them. */
    uint64_t unknown = h->incompatible_features & ~VMS_QCOW2_INCOMPAT_KNOWN;
    if (unknown) {
        g_autofree char *names = vms_qcow2_feature_names(img, 0, unknown);
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "'%s' uses incompatible qcow2 features vmsnap does not know: %s; "
                      "use a vmsnap that knows them, or qemu-img",
                      img->name, names);
        return false;
    }
    if (h->crypt_method != 0) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "'%s' is encrypted (crypt_method %u); vmsnap does not read encrypted "
                      "images",
                      img->name, h->crypt_method);
        return false;
    }
    if (h->incompatible_features & VMS_QCOW2_INCOMPAT_DATA_FILE) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "'%s' keeps its data in an external data file%s%s%s; vmsnap does not "
                      "read such images",
                      img->name, data_file ? " ('" : "", data_file ? data_file : "",
                      data_file ? "')" : "");
        return false;
    }
    h->dirty = h->incompatible_features & VMS_QCOW2_INCOMPAT_DIRTY;
    h->corrupt = h->incompatible_features & VMS_QCOW2_INCOMPAT_CORRUPT;
    h->extended_l2 = h->incompatible_features & VMS_QCOW2_INCOMPAT_EXTL2;
    h->lazy_refcounts = h->compatible_features & VMS_QCOW2_COMPAT_LAZY_REFCOUNTS;
    bool has_compression_bit = h->incompatible_features & VMS_QCOW2_INCOMPAT_COMPRESSION;
    if (has_compression_bit != (h->compression_type != 0) || h->compression_type > 1) {
        vms_qcow2_corrupt(img, error,
                          "compression_type is %u with the compression type feature bit %s",
                          h->compression_type, has_compression_bit ? "set" : "clear");
        return false;
    }
    if (h->extended_l2 && h->cluster_bits < 14) {
        vms_qcow2_corrupt(img, error, "extended L2 entries need clusters of 16 KiB or more");
        return false;
    }

    if (backing_offset != 0) {
        if (backing_size == 0 || backing_size > VMS_QCOW2_MAX_BACKING_NAME ||
            backing_offset >= avail || backing_size > avail - backing_offset) {
            vms_qcow2_corrupt(img, error,
                              "the backing file name (%u bytes at offset %" G_GUINT64_FORMAT
                              ") is not inside the first cluster or longer than %u bytes",
                              backing_size, backing_offset, VMS_QCOW2_MAX_BACKING_NAME);
            return false;
        }
        h->backing_file =
            read_string(img, backing_offset, backing_size, "backing file name", error);
        if (!h->backing_file)
            return false;
    }
    return true;
}

/* Entries needed to cover @size bytes with tables mapping @span bytes each. */
static uint64_t entries_for(uint64_t size, uint64_t span)
{
    return size / span + (size % span != 0);
}

static uint64_t l2_entries(const vms_qcow2 *img)
{
    return img->h.cluster_size / (img->h.extended_l2 ? 16 : 8);
}

static bool check_l1(vms_qcow2 *img, uint64_t offset, uint32_t size, uint64_t covers,
                     const char *which, vmsnap_error **error)
{
    if ((uint64_t)size * 8 > VMS_QCOW2_MAX_L1_BYTES) {
        vms_qcow2_corrupt(img, error, "the %s L1 table has %u entries; at most %u are allowed",
                          which, size, VMS_QCOW2_MAX_L1_BYTES / 8);
        return false;
    }
    uint64_t needed = entries_for(covers, img->h.cluster_size * l2_entries(img));
    if (needed > size) {
        vms_qcow2_corrupt(img, error,
                          "the %s L1 table has %u entries; %" G_GUINT64_FORMAT
                          " are needed for a disk of %" G_GUINT64_FORMAT " bytes",
                          which, size, needed, covers);
        return false;
    }
    if (size == 0)
        return true;
    if (!is_aligned(img, offset) || offset == 0 ||
        !vms_qcow2_in_file(img, offset, (uint64_t)size * 8)) {
        vms_qcow2_corrupt(img, error,
                          "the %s L1 table at offset %" G_GUINT64_FORMAT
                          " is not cluster aligned or not inside the file",
                          which, offset);
        return false;
    }
    return true;
}

static void snapshot_clear(gpointer p)
{
    vms_qcow2_snapshot *s = p;
    g_free(s->id);
    g_free(s->name);
}

static bool read_snapshots(vms_qcow2 *img, vmsnap_error **error)
{
    vms_qcow2_header *h = &img->h;
    if (h->nb_snapshots == 0)
        return true;
    if (h->nb_snapshots > VMS_QCOW2_MAX_SNAPSHOTS) {
        vms_qcow2_corrupt(img, error, "nb_snapshots is %u; at most %u are allowed", h->nb_snapshots,
                          VMS_QCOW2_MAX_SNAPSHOTS);
        return false;
    }
    if (!is_aligned(img, h->snapshots_offset) || h->snapshots_offset == 0 ||
        h->snapshots_offset >= h->file_size) {
        vms_qcow2_corrupt(img, error,
                          "the snapshot table offset %" G_GUINT64_FORMAT
                          " is not cluster aligned or not inside the file",
                          h->snapshots_offset);
        return false;
    }
    uint64_t pos = h->snapshots_offset;
    for (uint32_t i = 0; i < h->nb_snapshots; i++) {
        uint8_t fixed[40];
        g_autofree char *what = g_strdup_printf("snapshot table entry %u", i);
        if (pos - h->snapshots_offset > VMS_QCOW2_MAX_SNAPSHOTS_SIZE - sizeof(fixed)) {
            vms_qcow2_corrupt(img, error, "the snapshot table is larger than %u bytes",
                              VMS_QCOW2_MAX_SNAPSHOTS_SIZE);
            return false;
        }
        if (!vms_qcow2_pread(img, fixed, sizeof(fixed), pos, what, error))
            return false;
        vms_qcow2_snapshot s = {
            .l1_offset = vms_be64(fixed),
            .l1_size = vms_be32(fixed + 8),
            .date_sec = vms_be32(fixed + 16),
            .date_nsec = vms_be32(fixed + 20),
            .vm_clock_nsec = vms_be64(fixed + 24),
            .vm_state_size = vms_be32(fixed + 32),
            .extra_data_size = vms_be32(fixed + 36),
            .disk_size = h->virtual_size,
            .icount = -1,
        };
        uint16_t id_len = vms_be16(fixed + 12);
        uint16_t name_len = vms_be16(fixed + 14);
        if (s.extra_data_size > VMS_QCOW2_MAX_SNAPSHOT_EXTRA) {
            vms_qcow2_corrupt(img, error, "%s has %u bytes of extra data; at most %u are allowed",
                              what, s.extra_data_size, VMS_QCOW2_MAX_SNAPSHOT_EXTRA);
            return false;
        }
        uint8_t extra[24] = {0};
        size_t extra_read = MIN(s.extra_data_size, sizeof(extra));
        if (extra_read && !vms_qcow2_pread(img, extra, extra_read, pos + 40, what, error))
            return false;
        if (s.extra_data_size >= 8)
            s.vm_state_size = vms_be64(extra);
        if (s.extra_data_size >= 16)
            s.disk_size = vms_be64(extra + 8);
        if (s.extra_data_size >= 24)
            s.icount = (int64_t)vms_be64(extra + 16);
        uint64_t strings = pos + 40 + s.extra_data_size;
        vms_qcow2_snapshot *slot = NULL;
        g_array_append_val(img->snapshots, s);
        slot = &g_array_index(img->snapshots, vms_qcow2_snapshot, img->snapshots->len - 1);
        slot->id = read_string(img, strings, id_len, "snapshot id", error);
        if (!slot->id)
            return false;
        slot->name = read_string(img, strings + id_len, name_len, "snapshot name", error);
        if (!slot->name)
            return false;
        g_autofree char *which = g_strdup_printf("snapshot '%s'", slot->name);
        if (!check_l1(img, s.l1_offset, s.l1_size, 0, which, error))
            return false;
        pos = strings + id_len + name_len;
        pos = (pos + 7) & ~(uint64_t)7;
    }
    return true;
}

static bool read_reftable(vms_qcow2 *img, vmsnap_error **error)
{
    vms_qcow2_header *h = &img->h;
    uint64_t bytes = (uint64_t)h->refcount_table_clusters * h->cluster_size;
    if (bytes > VMS_QCOW2_MAX_REFTABLE_BYTES) {
        vms_qcow2_corrupt(img, error,
                          "the refcount table has %u clusters; at most %u bytes are "
                          "allowed",
                          h->refcount_table_clusters, VMS_QCOW2_MAX_REFTABLE_BYTES);
        return false;
    }
    if (bytes == 0 || !is_aligned(img, h->refcount_table_offset) || h->refcount_table_offset == 0 ||
        !vms_qcow2_in_file(img, h->refcount_table_offset, bytes)) {
        vms_qcow2_corrupt(img, error,
                          "the refcount table (%u clusters at offset %" G_GUINT64_FORMAT
                          ") is empty, not cluster aligned or not inside the file",
                          h->refcount_table_clusters, h->refcount_table_offset);
        return false;
    }
    g_autofree uint8_t *raw = g_malloc(bytes);
    if (!vms_qcow2_pread(img, raw, bytes, h->refcount_table_offset, "refcount table", error))
        return false;
    img->reftable_entries = bytes / 8;
    img->reftable = g_new(uint64_t, img->reftable_entries);
    for (uint64_t i = 0; i < img->reftable_entries; i++)
        img->reftable[i] = vms_be64(raw + i * 8);
    return true;
}

bool vms_qcow2_refcount(vms_qcow2 *img, uint64_t host_offset, uint64_t *refcount,
                        vmsnap_error **error)
{
    unsigned int width = 1u << img->h.refcount_order;
    uint64_t per_block = img->h.cluster_size * 8 / width;
    uint64_t cluster = host_offset >> img->h.cluster_bits;
    uint64_t index = cluster / per_block;
    *refcount = 0;
    if (index >= img->reftable_entries)
        return true;
    uint64_t block = img->reftable[index] & ~0x1ffull;
    if (block == 0)
        return true;
    if (!is_aligned(img, block) || (img->reftable[index] & 0x1ff)) {
        vms_qcow2_corrupt(img, error,
                          "refcount table entry %" G_GUINT64_FORMAT " (0x%" G_GINT64_MODIFIER
                          "x) is not a cluster aligned offset",
                          index, img->reftable[index]);
        return false;
    }
    uint64_t bit = (cluster % per_block) * width;
    uint8_t buf[8];
    size_t bytes = width >= 8 ? width / 8 : 1;
    if (!vms_qcow2_pread(img, buf, bytes, block + bit / 8, "refcount block", error))
        return false;
    if (width < 8) {
        *refcount = (buf[0] >> (bit % 8)) & ((1u << width) - 1);
    } else {
        uint64_t v = 0;
        for (size_t i = 0; i < bytes; i++)
            v = v << 8 | buf[i];
        *refcount = v;
    }
    return true;
}

vms_qcow2 *vms_qcow2_open_fd(int fd, const char *name, vmsnap_error **error)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot stat '%s'", name);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "'%s' is not a regular file; vmsnap inspects image files only", name);
        return NULL;
    }
    g_autoptr(vms_qcow2) img = g_new0(vms_qcow2, 1);
    img->fd = fd;
    img->name = g_strdup(name);
    img->h.file_size = (uint64_t)st.st_size;
    img->h.disk_size = (uint64_t)st.st_blocks * 512;
    img->snapshots = g_array_new(FALSE, TRUE, sizeof(vms_qcow2_snapshot));
    g_array_set_clear_func(img->snapshots, snapshot_clear);
    img->feature_names = g_array_new(FALSE, TRUE, sizeof(vms_qcow2_feature_name));
    if (!read_header(img, error) ||
        !check_l1(img, img->h.l1_offset, img->h.l1_size, img->h.virtual_size, "active", error) ||
        !read_reftable(img, error) || !read_snapshots(img, error))
        return NULL;
    return g_steal_pointer(&img);
}

vms_qcow2 *vms_qcow2_open(const char *path, vmsnap_error **error)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot open '%s'", path);
        return NULL;
    }
    vms_qcow2 *img = vms_qcow2_open_fd(fd, path, error);
    if (!img) {
        close(fd);
        return NULL;
    }
    img->own_fd = true;
    return img;
}

void vms_qcow2_close(vms_qcow2 *img)
{
    if (!img)
        return;
    if (img->own_fd)
        close(img->fd);
    g_free(img->name);
    g_free(img->h.backing_file);
    g_free(img->h.backing_format);
    if (img->snapshots)
        g_array_unref(img->snapshots);
    if (img->feature_names)
        g_array_unref(img->feature_names);
    g_free(img->reftable);
    g_free(img);
}

const vms_qcow2_header *vms_qcow2_get_header(const vms_qcow2 *img)
{
    return &img->h;
}

const char *vms_qcow2_get_name(const vms_qcow2 *img)
{
    return img->name;
}

int vms_qcow2_get_fd(const vms_qcow2 *img)
{
    return img->fd;
}

size_t vms_qcow2_n_snapshots(const vms_qcow2 *img)
{
    return img->snapshots->len;
}

const vms_qcow2_snapshot *vms_qcow2_get_snapshot(const vms_qcow2 *img, size_t i)
{
    if (i >= img->snapshots->len)
        return NULL;
    return &g_array_index(img->snapshots, vms_qcow2_snapshot, i);
}

int vms_qcow2_find_snapshot(const vms_qcow2 *img, const char *name)
{
    for (guint i = 0; i < img->snapshots->len; i++) {
        if (strcmp(g_array_index(img->snapshots, vms_qcow2_snapshot, i).name, name) == 0)
            return (int)i;
    }
    return -1;
}
