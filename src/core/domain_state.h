/*
 * domain_state.h: one domain's metadata, loaded from the store under the
 * domain's lock — its definition, the snapshot tree and the current
 * snapshot — and the helpers every metadata operation shares.
 *
 * Ownership: a vms_domain_state owns its lock, definition, tree (whose
 * payloads are vms_snapshot_def *) and current name; vms_domain_state_free()
 * releases the lock last.
 */
#ifndef VMS_CORE_DOMAIN_STATE_H
#define VMS_CORE_DOMAIN_STATE_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/domain_conf.h"
#include "conf/snapshot_conf.h"
#include "store/store.h"
#include "store/tree.h"

typedef struct {
    vms_store *store; /* borrowed */
    vms_domain_lock *lock;
    char *name;
    vms_domain_def *def;
    vms_tree *tree; /* NULL unless loaded with VMS_LOAD_SNAPSHOTS */
    char *current;  /* NULL when there is no current snapshot */
} vms_domain_state;

typedef enum {
    VMS_LOAD_EXCLUSIVE = 1u << 0, /* take the lock for writing */
    VMS_LOAD_SNAPSHOTS = 1u << 1, /* read every snapshot into the tree */
} vms_load_flags;

/* Lock @dom and read its metadata. VMSNAP_ERR_NO_DOMAIN if it is not defined;
 * VMSNAP_ERR_CORRUPT (naming the file) if a metadata file cannot be read.
 * An operation a dead process left in the journal is completed or undone
 * first (core/journal.h; a reader takes the exclusive lock for that). */
vms_domain_state *vms_domain_state_load(vms_store *store, const char *dom, unsigned int flags,
                                        vmsnap_error **error);
/* The same without looking at the journal (for `vmsnap recover`); _locked:
 * with @lock already taken (the state owns it from then on, even on
 * failure). */
vms_domain_state *vms_domain_state_load_raw(vms_store *store, const char *dom, unsigned int flags,
                                            vmsnap_error **error);
vms_domain_state *vms_domain_state_load_raw_locked(vms_store *store, const char *dom,
                                                   unsigned int flags, vms_domain_lock *lock,
                                                   vmsnap_error **error);
/* `vmsnap recover DOM`: complete or undo the operation the journal records.
 * *@report: what was done, NULL when there was nothing to do. */
bool vms_domain_recover(vms_store *store, const char *dom, char **report, vmsnap_error **error);
void vms_domain_state_free(vms_domain_state *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_domain_state, vms_domain_state_free)

/* Read and parse domain.xml; the caller holds the domain's lock.
 * VMSNAP_ERR_CORRUPT (naming the file) if it cannot be parsed. */
vms_domain_def *vms_domain_state_read_definition(vms_store *store, const char *dom,
                                                 vmsnap_error **error);

/* Read every snapshot into @state->tree (for a state loaded without
 * VMS_LOAD_SNAPSHOTS). */
bool vms_domain_state_load_tree(vms_domain_state *state, vmsnap_error **error);

/* The snapshot named @name, or NULL with VMSNAP_ERR_NO_SNAPSHOT. */
vms_tree_node *vms_domain_state_find(vms_domain_state *state, const char *name,
                                     vmsnap_error **error);

static inline vms_snapshot_def *vms_node_def(const vms_tree_node *node)
{
    return (vms_snapshot_def *)vms_tree_node_payload(node);
}

/* Read one snapshot's full definition from its file (the tree is not
 * needed). VMSNAP_ERR_NO_SNAPSHOT, or VMSNAP_ERR_CORRUPT naming the file. */
vms_snapshot_def *vms_domain_state_read_snapshot(vms_domain_state *state, const char *name,
                                                 vmsnap_error **error);

/* Write @def's canonical XML as its metadata file. */
bool vms_domain_state_save_snapshot(vms_domain_state *state, const vms_snapshot_def *def,
                                    vmsnap_error **error);

/* Record @name (NULL: none) as current, on disk and in @state. */
bool vms_domain_state_set_current(vms_domain_state *state, const char *name, vmsnap_error **error);

/* A copy of @def without its embedded <domain>: what handles keep. */
vms_snapshot_def *vms_snapshot_def_summary(const vms_snapshot_def *def);

#endif
