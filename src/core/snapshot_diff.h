/*
 * snapshot_diff.h: which guest bytes of each disk differ between two
 * snapshots, or a snapshot and the current state (`snapshot-diff`).
 *
 * Each point of a disk is an image and, for an internal snapshot, its tag
 * (docs/adr/0006): an internal snapshot is the tag in the file its recorded
 * domain names, an external one the frozen file its recorded domain names,
 * the current state the active layer in domain.xml — each read through its
 * backing chain by the qcow2 inspector (src/qcow2/). Reads only; the domain's
 * shared lock is held while the metadata is read and the images compared.
 */
#ifndef VMS_CORE_SNAPSHOT_DIFF_H
#define VMS_CORE_SNAPSHOT_DIFF_H

#include <glib.h>
#include <vmsnap/vmsnap.h>

#include "qcow2/qcow2.h"
#include "store/store.h"

typedef struct {
    char *disk; /* target */
    char *from_file, *from_tag;
    char *to_file, *to_tag;
    char *skipped; /* NULL if compared */
    vms_qcow2_diff_stats stats;
    GArray *ranges; /* of vms_qcow2_range */
} vms_disk_diff;

void vms_disk_diff_free(vms_disk_diff *d);

/* Compare snapshot @from of @dom with snapshot @to, or with the current
 * state when @to is NULL. Returns vms_disk_diff entries (owned), in the
 * order of the disks of @from's recorded domain. */
GPtrArray *vms_snapshot_diff(vms_store *store, const char *dom, const char *from, const char *to,
                             vmsnap_error **error);

#endif
