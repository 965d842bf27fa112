/*
 * qcow2.h: a native, read-only qcow2 inspector (docs/formats/qcow2.md).
 *
 * Reads qcow2 version 2 and 3 images through pread() on a file descriptor:
 * the header and its feature bits, header extensions, the backing file
 * name, the internal snapshot table, the L1/L2 cluster mapping (standard,
 * compressed, zero clusters; extended L2 entries with subclusters) of the
 * active layer and of every internal snapshot, and refcounts.
 *
 * Every value read from the file is checked against the file's size and
 * QEMU's documented limits before it is used as an offset or a size; no
 * allocation is larger than the file or those limits allow. Memory stays
 * bounded: an L1 table (at most 32 MiB, as QEMU), a few cached L2 tables,
 * one decompressed cluster. A bad image fails with VMSNAP_ERR_CORRUPT
 * naming the field, a valid image using a feature vmsnap does not read
 * (encryption, an external data file, unknown incompatible features) with
 * VMSNAP_ERR_UNSUPPORTED naming it. Nothing is ever written.
 *
 * QEMU may be writing the image while it is read (a running domain): the
 * results are then a best effort, as for `qemu-img info -U`.
 *
 * This layer uses src/util only.
 */
#ifndef VMS_QCOW2_QCOW2_H
#define VMS_QCOW2_QCOW2_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <vmsnap/vmsnap.h>

/* QEMU's limits (docs/interop/qcow2.txt and its implementation). */
#define VMS_QCOW2_MIN_CLUSTER_BITS   9
#define VMS_QCOW2_MAX_CLUSTER_BITS   21
#define VMS_QCOW2_MAX_L1_BYTES       (32u * 1024 * 1024)
#define VMS_QCOW2_MAX_REFTABLE_BYTES (8u * 1024 * 1024)
#define VMS_QCOW2_MAX_SNAPSHOTS      65536u
#define VMS_QCOW2_MAX_SNAPSHOT_EXTRA 1024u
#define VMS_QCOW2_MAX_SNAPSHOTS_SIZE (64u * 1024 * 1024)
#define VMS_QCOW2_MAX_BACKING_NAME   1023u
#define VMS_QCOW2_MAX_FEATURE_NAME   46u

/* Incompatible feature bits. */
#define VMS_QCOW2_INCOMPAT_DIRTY       (1ull << 0)
#define VMS_QCOW2_INCOMPAT_CORRUPT     (1ull << 1)
#define VMS_QCOW2_INCOMPAT_DATA_FILE   (1ull << 2)
#define VMS_QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define VMS_QCOW2_INCOMPAT_EXTL2       (1ull << 4)
#define VMS_QCOW2_INCOMPAT_KNOWN       0x1full
/* Compatible and autoclear bits. */
#define VMS_QCOW2_COMPAT_LAZY_REFCOUNTS (1ull << 0)
#define VMS_QCOW2_AUTOCLEAR_BITMAPS     (1ull << 0)
#define VMS_QCOW2_AUTOCLEAR_DATA_RAW    (1ull << 1)

typedef struct {
    uint32_t version; /* 2 or 3 */
    uint32_t cluster_bits;
    uint64_t cluster_size;
    uint64_t virtual_size;
    uint32_t crypt_method; /* always 0 in an image that opened */
    uint32_t l1_size;      /* entries of the active L1 table */
    uint64_t l1_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order; /* refcount width is 1 << refcount_order bits */
    uint32_t header_length;
    uint8_t compression_type; /* 0 zlib, 1 zstd */
    bool dirty, corrupt, lazy_refcounts, extended_l2;
    bool has_bitmaps_extension;
    char *backing_file;   /* as stored, NULL if none */
    char *backing_format; /* backing format extension, NULL if absent */
    uint64_t file_size;   /* of the image file when it was opened */
    uint64_t disk_size;   /* bytes the file occupies on its file system */
} vms_qcow2_header;

typedef struct {
    char *id;
    char *name;
    uint64_t l1_offset;
    uint32_t l1_size;
    uint32_t date_sec;
    uint32_t date_nsec;
    uint64_t vm_clock_nsec;
    uint64_t vm_state_size;
    uint64_t disk_size; /* the virtual size when taken (the image's if not stored) */
    int64_t icount;     /* -1 when not recorded */
    uint32_t extra_data_size;
} vms_qcow2_snapshot;

typedef struct vms_qcow2 vms_qcow2;

/* Whether @buf (the first @len bytes of a file) starts with qcow2's magic. */
bool vms_qcow2_probe(const uint8_t *buf, size_t len);

/* Open @path read-only (no locks taken) and read its metadata. A file that
 * is not qcow2 at all is VMSNAP_ERR_UNSUPPORTED ("not a qcow2 image"). */
vms_qcow2 *vms_qcow2_open(const char *path, vmsnap_error **error);
/* The same on an open descriptor, which stays the caller's and must stay
 * open while the image is used; @name is for messages. */
vms_qcow2 *vms_qcow2_open_fd(int fd, const char *name, vmsnap_error **error);
void vms_qcow2_close(vms_qcow2 *img);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_qcow2, vms_qcow2_close)

const vms_qcow2_header *vms_qcow2_get_header(const vms_qcow2 *img);
const char *vms_qcow2_get_name(const vms_qcow2 *img);
int vms_qcow2_get_fd(const vms_qcow2 *img);

size_t vms_qcow2_n_snapshots(const vms_qcow2 *img);
const vms_qcow2_snapshot *vms_qcow2_get_snapshot(const vms_qcow2 *img, size_t i);
/* The snapshot whose name is @name; -1 if none. */
int vms_qcow2_find_snapshot(const vms_qcow2 *img, const char *name);

/* The names of the features set in @bits of @kind (0 incompatible, 1
 * compatible, 2 autoclear), from the image's feature name table or the
 * known names, "bit N" otherwise; comma separated; "" if none. */
char *vms_qcow2_feature_names(const vms_qcow2 *img, int kind, uint64_t bits);

/* The refcount of the host cluster holding @host_offset (0 if no refcount
 * block covers it). */
bool vms_qcow2_refcount(vms_qcow2 *img, uint64_t host_offset, uint64_t *refcount,
                        vmsnap_error **error);

/* --- mapping ------------------------------------------------------------ */

typedef enum {
    VMS_QCOW2_UNALLOCATED = 0, /* not in this layer: the backing file, else zeros */
    VMS_QCOW2_ZERO,            /* reads as zeros in this layer */
    VMS_QCOW2_DATA,            /* at host_offset in this file */
    VMS_QCOW2_COMPRESSED,      /* one compressed cluster at host_offset */
} vms_qcow2_kind;

/* A run of guest bytes of one kind. DATA runs are contiguous on the host.
 * COMPRESSED runs are one guest cluster (or a part of one): host_offset is
 * where its compressed bytes start, compressed_len how many bytes they may
 * span, cluster_offset the guest offset of the cluster. */
typedef struct {
    uint64_t offset;
    uint64_t length;
    vms_qcow2_kind kind;
    uint64_t host_offset;
    uint64_t compressed_len;
    uint64_t cluster_offset;
} vms_qcow2_extent;

/* One L1 table (the active one, or an internal snapshot's) with a small
 * cache of L2 tables. Guest offsets at or beyond the layer's size are
 * UNALLOCATED. */
typedef struct vms_qcow2_map vms_qcow2_map;

/* @snapshot: an index from vms_qcow2_get_snapshot(), or -1 for the active
 * layer. */
vms_qcow2_map *vms_qcow2_map_new(vms_qcow2 *img, int snapshot, vmsnap_error **error);
void vms_qcow2_map_free(vms_qcow2_map *map);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_qcow2_map, vms_qcow2_map_free)

/* The virtual size of the layer (the snapshot's disk size, or the image's). */
uint64_t vms_qcow2_map_size(const vms_qcow2_map *map);

/* The extent starting at @offset (< the layer's size), as long as possible
 * within one L2 table. */
bool vms_qcow2_map_lookup(vms_qcow2_map *map, uint64_t offset, vms_qcow2_extent *ext,
                          vmsnap_error **error);

/* Read @len bytes at guest @offset of @ext (which must cover them) into @buf:
 * data from the file (zeros past its end), compressed clusters
 * decompressed, zeros for ZERO and UNALLOCATED. */
bool vms_qcow2_map_read(vms_qcow2_map *map, const vms_qcow2_extent *ext, uint64_t offset,
                        size_t len, uint8_t *buf, vmsnap_error **error);

/* Totals of a layer's mapping: what `image-info` reports. */
typedef struct {
    uint64_t data_bytes;       /* guest bytes stored in this file (incl. compressed) */
    uint64_t zero_bytes;       /* guest bytes marked zero in this layer */
    uint64_t compressed_bytes; /* guest bytes in compressed clusters */
    uint64_t data_clusters;    /* guest clusters holding data (not compressed) */
    uint64_t zero_clusters;    /* zero runs, in whole clusters */
    uint64_t compressed_clusters;
} vms_qcow2_alloc_stats;

bool vms_qcow2_map_stats(vms_qcow2_map *map, vms_qcow2_alloc_stats *stats, vmsnap_error **error);

/* Bytes of the regular file @fd that hold data (SEEK_DATA/SEEK_HOLE; all of
 * them where the file system cannot tell): a raw image's allocation. */
bool vms_qcow2_raw_allocated(int fd, uint64_t size, uint64_t *bytes, vmsnap_error **error);

/* --- chains and comparison ------------------------------------------------ */

/* A point in time of a disk: an image (the active layer or one internal
 * snapshot of it) and the backing files under it, opened down to the
 * bottom. A raw image is a layer whose every byte is data. */
typedef struct vms_qcow2_chain vms_qcow2_chain;

/* Open @path (format "qcow2", "raw", or NULL to probe) at internal snapshot
 * @tag (NULL: the active layer) and its backing chain, at most 64 deep,
 * refusing loops. Backing names are relative to the directory of the file
 * naming them. */
vms_qcow2_chain *vms_qcow2_chain_open(const char *path, const char *format, const char *tag,
                                      vmsnap_error **error);
void vms_qcow2_chain_free(vms_qcow2_chain *chain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_qcow2_chain, vms_qcow2_chain_free)

uint64_t vms_qcow2_chain_size(const vms_qcow2_chain *chain);
size_t vms_qcow2_chain_depth(const vms_qcow2_chain *chain);
/* Layer @i (0 is the top): its path, and its image (NULL for raw). */
const char *vms_qcow2_chain_layer_path(const vms_qcow2_chain *chain, size_t i);
vms_qcow2 *vms_qcow2_chain_layer_image(const vms_qcow2_chain *chain, size_t i);

/* Read guest bytes of the point through the chain (zeros past its size). */
bool vms_qcow2_chain_read(vms_qcow2_chain *chain, uint64_t offset, size_t len, uint8_t *buf,
                          vmsnap_error **error);

typedef struct {
    uint64_t offset;
    uint64_t length;
} vms_qcow2_range;

typedef struct {
    uint64_t size;            /* the larger of the two sizes: what was compared */
    uint64_t shared_bytes;    /* equal because both map to the same stored bytes or zeros */
    uint64_t compared_bytes;  /* read from both points and compared */
    uint64_t differing_bytes; /* total length of the ranges */
} vms_qcow2_diff_stats;

/* The guest byte ranges whose contents differ between @a and @b, in 512-byte
 * sectors (a range covers every sector holding at least one differing byte,
 * so its first offset is the one `qemu-img compare` reports), sorted and
 * merged, appended to @ranges (of vms_qcow2_range). Bytes past the end of
 * the smaller point read as zeros (as `qemu-img compare` without -s).
 * Metadata decides without reading data where both points map to the same
 * stored cluster or both read zeros; everything else is read and compared. */
bool vms_qcow2_chain_diff(vms_qcow2_chain *a, vms_qcow2_chain *b, GArray *ranges,
                          vms_qcow2_diff_stats *stats, vmsnap_error **error);

#endif
