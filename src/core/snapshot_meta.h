/*
 * snapshot_meta.h: changes to snapshot metadata that touch no disk or
 * memory data: redefine (import), current, rename, description, edit, and
 * metadata-only delete. Each call holds the domain's exclusive lock
 * throughout and orders its writes so that a crash between any two of them
 * leaves a readable, consistent tree (docs/adr/0003-metadata-write-order.md).
 */
#ifndef VMS_CORE_SNAPSHOT_META_H
#define VMS_CORE_SNAPSHOT_META_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/snapshot_conf.h"
#include "core/domain_state.h"
#include "store/store.h"

/* Parse @text as <domainsnapshot> XML or an xl config (told apart by
 * content). @warnings may be NULL. */
vms_snapshot_def *vms_snapshot_meta_parse(const char *text, GPtrArray *warnings,
                                          vmsnap_error **error);

/* Import @def as an existing snapshot of @dom (takes ownership). Creates a
 * new snapshot or replaces one of the same name. Returns a summary of what
 * was stored. */
vms_snapshot_def *vms_snapshot_meta_redefine(vms_store *store, const char *dom,
                                             vms_snapshot_def *def, bool make_current,
                                             vmsnap_error **error);

bool vms_snapshot_meta_set_current(vms_store *store, const char *dom, const char *name,
                                   vmsnap_error **error);

/* Returns the renamed snapshot's summary. */
vms_snapshot_def *vms_snapshot_meta_rename(vms_store *store, const char *dom, const char *name,
                                           const char *new_name, vmsnap_error **error);

/* @description NULL or "" removes it. Returns the new summary. */
vms_snapshot_def *vms_snapshot_meta_set_description(vms_store *store, const char *dom,
                                                    const char *name, const char *description,
                                                    vmsnap_error **error);

/* Apply an edited copy of the snapshot's XML: only name and description may
 * change. *@changed tells whether anything did. Returns the new summary. */
vms_snapshot_def *vms_snapshot_meta_update_xml(vms_store *store, const char *dom, const char *name,
                                               const char *xml, bool *changed,
                                               vmsnap_error **error);

typedef enum {
    VMS_DELETE_ONE,           /* the snapshot; children move to its parent */
    VMS_DELETE_WITH_CHILDREN, /* the snapshot and all descendants */
    VMS_DELETE_CHILDREN_ONLY, /* all descendants, not the snapshot */
} vms_delete_scope;

/* Remove metadata only. Returns the number of snapshots removed. */
int vms_snapshot_meta_delete(vms_store *store, const char *dom, const char *name,
                             vms_delete_scope scope, vmsnap_error **error);

/* Remove one snapshot's metadata with the tree loaded and the lock held:
 * its children move to its parent, a current record moves to the parent.
 * Returns 1, or -1. */
int vms_snapshot_meta_remove_one_locked(vms_domain_state *state, vms_tree_node *node,
                                        vmsnap_error **error);

#endif
