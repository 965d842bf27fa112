/*
 * snapshot_query.h: read-only questions about a domain's snapshot tree —
 * filtered listings (libvirt's list-flag groups), lookups, parents and the
 * current snapshot. Each call takes the domain's shared lock once, so every
 * answer is one consistent view.
 *
 * Listings return a GPtrArray of vms_snapshot_def summaries (no embedded
 * domain) that the caller owns (the array frees its elements).
 */
#ifndef VMS_CORE_SNAPSHOT_QUERY_H
#define VMS_CORE_SNAPSHOT_QUERY_H

#include <glib.h>
#include <vmsnap/vmsnap.h>

#include "conf/snapshot_conf.h"
#include "store/store.h"

/* The list flags a domain listing accepts. */
#define VMS_SNAPSHOT_LIST_FLAGS_ALL                                                                \
    (VMSNAP_SNAPSHOT_LIST_ROOTS | VMSNAP_SNAPSHOT_LIST_LEAVES | VMSNAP_SNAPSHOT_LIST_NO_LEAVES |   \
     VMSNAP_SNAPSHOT_LIST_INACTIVE | VMSNAP_SNAPSHOT_LIST_ACTIVE |                                 \
     VMSNAP_SNAPSHOT_LIST_DISK_ONLY | VMSNAP_SNAPSHOT_LIST_INTERNAL |                              \
     VMSNAP_SNAPSHOT_LIST_EXTERNAL | VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL)

/* Snapshots of @dom passing @flags' filters. With @from set, the children of
 * @from (or with DESCENDANTS all its descendants) instead of the whole tree. */
GPtrArray *vms_snapshot_query_list(vms_store *store, const char *dom, const char *from,
                                   unsigned int flags, vmsnap_error **error);

/* One snapshot (summary). */
vms_snapshot_def *vms_snapshot_query_get(vms_store *store, const char *dom, const char *name,
                                         vmsnap_error **error);

/* The full canonical XML of one snapshot. */
char *vms_snapshot_query_xml(vms_store *store, const char *dom, const char *name,
                             unsigned int format_flags, vmsnap_error **error);

/* The parent of @name (summary); VMSNAP_ERR_NO_PARENT for a root. */
vms_snapshot_def *vms_snapshot_query_parent(vms_store *store, const char *dom, const char *name,
                                            vmsnap_error **error);

/* The current snapshot's name: NULL with no error when there is none. */
char *vms_snapshot_query_current_name(vms_store *store, const char *dom, vmsnap_error **error);

#endif
