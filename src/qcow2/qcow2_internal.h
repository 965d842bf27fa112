/*
 * qcow2_internal.h: what the files of src/qcow2/ share. Private to the layer.
 */
#ifndef VMS_QCOW2_QCOW2_INTERNAL_H
#define VMS_QCOW2_QCOW2_INTERNAL_H

#include "qcow2/qcow2.h"

typedef struct {
    uint8_t type; /* 0 incompatible, 1 compatible, 2 autoclear */
    uint8_t bit;
    char name[VMS_QCOW2_MAX_FEATURE_NAME + 1];
} vms_qcow2_feature_name;

struct vms_qcow2 {
    int fd;
    bool own_fd;
    char *name;
    vms_qcow2_header h;
    GArray *snapshots;     /* of vms_qcow2_snapshot */
    GArray *feature_names; /* of vms_qcow2_feature_name */
    uint64_t *reftable;    /* refcount table, host byte order */
    uint64_t reftable_entries;
};

static inline uint16_t vms_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t vms_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t vms_be64(const uint8_t *p)
{
    return (uint64_t)vms_be32(p) << 32 | vms_be32(p + 4);
}

/* pread exactly @len bytes at @offset; bytes past the end of the file are an
 * error naming @what ("truncated"). */
bool vms_qcow2_pread(vms_qcow2 *img, void *buf, size_t len, uint64_t offset, const char *what,
                     vmsnap_error **error);

/* Whether [@offset, @offset + @len) lies inside the file. */
bool vms_qcow2_in_file(const vms_qcow2 *img, uint64_t offset, uint64_t len);

/* Set a VMSNAP_ERR_CORRUPT error about @img. */
void vms_qcow2_corrupt(const vms_qcow2 *img, vmsnap_error **error, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

#endif
