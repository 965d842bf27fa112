/*
 * snapshot_data.h: taking, reverting and deleting the data of snapshots
 * (docs/adr/0006-snapshot-data.md): qemu-img while the domain is shut off,
 * QMP while it runs. Long steps report to @progress (may be NULL).
 *
 * Each call holds the domain's exclusive lock throughout. All disks change
 * or none do: a failure undoes the steps already taken.
 */
#ifndef VMS_CORE_SNAPSHOT_DATA_H
#define VMS_CORE_SNAPSHOT_DATA_H

#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/snapshot_conf.h"
#include "core/domain_state.h"
#include "core/snapshot_meta.h"
#include "store/store.h"
#include "util/progress.h"

/* Take the snapshot @def describes (takes ownership): fills in the name
 * (creation time in seconds), parent (the current snapshot), state, the
 * domain as it is, each disk's kind (external unless given) and, for a
 * running or paused domain, the memory (full unless disk-only; ADR 0006).
 * @flags: vmsnap_snapshot_create_flags (HALT, LIVE, REUSE_EXT,
 * NO_METADATA act here). Returns a summary of the stored snapshot, which
 * becomes current (with NO_METADATA nothing is stored). */
vms_snapshot_def *vms_snapshot_data_create(vms_store *store, const char *dom, vms_snapshot_def *def,
                                           unsigned int flags, const vms_progress *progress,
                                           vmsnap_error **error);

/* Make snapshot @name's state the domain's. A full snapshot resumes its
 * guest (running or paused as recorded); a disk-only one leaves the domain
 * shut off. @flags (vmsnap_snapshot_revert_flags): REVERT_RUNNING or
 * REVERT_PAUSED choose the run state instead. Returns how many files of the
 * state left behind were discarded, or -1. Journaled (op "revert"). */
int vms_snapshot_data_revert(vms_store *store, const char *dom, const char *name,
                             unsigned int flags, const vms_progress *progress,
                             vmsnap_error **error);
/* The same with @state loaded (exclusive lock, tree) by the caller. */
int vms_snapshot_data_revert_locked(vms_domain_state *state, const char *name, unsigned int flags,
                                    const vms_progress *progress, vmsnap_error **error);
/* The same as the first half of a discard (deactivate): the journal also
 * names @then_discard, so a recovery completes the revert and then the
 * discard; on success the caller runs vms_snapshot_data_discard_locked() at
 * once (its record replaces the revert's). */
int vms_snapshot_data_revert_then_discard(vms_domain_state *state, const char *name,
                                          unsigned int flags, GPtrArray *then_discard,
                                          const vms_progress *progress, vmsnap_error **error);

/* Delete snapshots with their data; returns how many went, or -1. */
int vms_snapshot_data_delete(vms_store *store, const char *dom, const char *name,
                             vms_delete_scope scope, const vms_progress *progress,
                             vmsnap_error **error);

/* With @state loaded (VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS): delete
 * the snapshots named in @names, in that order, merging their data as
 * vms_snapshot_data_delete() does; the domain may run. */
bool vms_snapshot_data_delete_locked(vms_domain_state *state, GPtrArray *names,
                                     const vms_progress *progress, vmsnap_error **error);

/* With @state loaded likewise: remove the snapshots named in @names with
 * their data, merged nowhere (internal tags and memory files deleted, files
 * nothing uses any more removed). The caller makes sure the current state
 * does not depend on them (the file-use rule keeps whatever it uses). */
bool vms_snapshot_data_discard_locked(vms_domain_state *state, GPtrArray *names,
                                      const vms_progress *progress, vmsnap_error **error);

typedef enum {
    VMS_DEACTIVATE_MERGE,   /* fold the snapshot into its parent: a data delete */
    VMS_DEACTIVATE_DISCARD, /* remove it and the state built on it */
} vms_deactivate_mode;

/* The 2010 RFC's Deactivate (ADR 0006, "Mapping the RFC's deactivate").
 * Without @force, refuses naming what would be lost besides the snapshot's
 * own point. Returns how many snapshots went, or -1. */
int vms_snapshot_data_deactivate(vms_store *store, const char *dom, const char *name,
                                 vms_deactivate_mode mode, bool force, const vms_progress *progress,
                                 vmsnap_error **error);

/* Check snapshot @name's data without changing anything (shared lock;
 * the domain may run): its external memory file (vms_memory_file_check()
 * with verify, "verifying memory" progress) and each disk file it holds
 * (qemu-img check, the backing chain, its internal snapshot). Damage is
 * VMSNAP_ERR_CORRUPT listing every problem found. */
bool vms_snapshot_data_verify(vms_store *store, const char *dom, const char *name,
                              const vms_progress *progress, vmsnap_error **error);

#endif
