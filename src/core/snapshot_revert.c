/* snapshot_revert.c: making a snapshot's state the domain's (ADR 0006). */
#include "core/snapshot_data.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/domain_lifecycle.h"
#include "core/domain_state.h"
#include "core/snapshot_files.h"
#include "qemu/qemu_img.h"
#include "qemu/qemu_snapshot.h"
#include "qemu/qmp.h"
#include "util/error.h"
#include "util/names.h"

/* --- revert -------------------------------------------------------------------- */

/* Point @disk (of the domain being restored) at the state @snap keeps of
 * it; internal tags to apply are queued on @apply as (file, tag) pairs. */
static bool revert_disk(vms_domain_state *state, const vms_snapshot_def *snap,
                        vms_domain_disk *disk, GPtrArray *apply, vms_undo_log *undo,
                        vmsnap_error **error)
{
    const vms_domain_disk *current = vms_domain_def_find_disk(state->def, disk->target);
    switch (vms_snapshot_stored_kind(snap, disk)) {
    case VMS_SNAP_LOCATION_EXTERNAL: {
        if (!vms_path_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "the frozen file '%s' of snapshot '%s' (disk %s) is missing",
                          disk->source, snap->name, disk->target);
            return false;
        }
        g_autofree char *tag = g_strdup_printf("after-%s", snap->name);
        g_autofree char *overlay = vms_overlay_free_path(disk->source, tag, error);
        if (!overlay || !vms_undo_make_overlay(undo, overlay, disk->source, disk->format, error))
            return false;
        g_free(disk->source);
        disk->source = g_steal_pointer(&overlay);
        disk->format = VMS_DISK_FORMAT_QCOW2;
        return true;
    }
    case VMS_SNAP_LOCATION_INTERNAL: {
        if (current && g_strcmp0(current->source, disk->source) == 0) {
            /* The tag's file is the active layer: apply it in place. */
            g_ptr_array_add(apply, g_strdup(disk->source));
            g_ptr_array_add(apply, g_strdup(vms_snapshot_def_internal_tag(snap)));
            return true;
        }
        /* The file is frozen under another snapshot (or left behind): copy
         * the tagged state into a new file on the same backing file, so the
         * frozen file never changes. */
        if (!vms_path_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "the file '%s' holding snapshot '%s' (disk %s) is missing", disk->source,
                          snap->name, disk->target);
            return false;
        }
        g_autofree char *backing = NULL;
        g_autofree char *backing_format = NULL;
        if (!vms_qemu_img_get_backing(disk->source, &backing, &backing_format, error))
            return false;
        g_autofree char *tag = g_strdup_printf("after-%s", snap->name);
        g_autofree char *copy = vms_overlay_free_path(disk->source, tag, error);
        if (!copy ||
            !vms_qemu_img_convert_snapshot(disk->source, vms_snapshot_def_internal_tag(snap), copy,
                                           backing, backing_format, error))
            return false;
        g_ptr_array_add(undo->files, g_strdup(copy));
        g_free(disk->source);
        disk->source = g_steal_pointer(&copy);
        disk->format = VMS_DISK_FORMAT_QCOW2;
        return true;
    }
    default:
        /* Not captured by the snapshot: the disk keeps its current state. */
        if (current) {
            g_free(disk->source);
            disk->source = g_strdup(current->source);
            disk->format = current->format;
        }
        return true;
    }
}

int vms_snapshot_data_revert(vms_store *store, const char *dom, const char *name,
                             const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!state || !vms_domain_require_not_crashed(state->store, state->name, &run, error))
        return -1;
    vms_tree_node *node = vms_domain_state_find(state, name, error);
    if (!node)
        return -1;
    const vms_snapshot_def *snap = vms_node_def(node);
    if (!snap->domain) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "snapshot '%s' records no domain definition, so there is nothing to "
                      "revert to",
                      name);
        return -1;
    }

    if (vms_snapshot_def_has_memory(snap)) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "snapshot '%s' holds the domain's memory; reverting to full snapshots is "
                      "not supported yet",
                      name);
        return -1;
    }
    /* The running state is left behind like any other: QEMU stops first
     * (the snapshot holds no memory to resume from). */
    if (run != VMSNAP_DOMAIN_STATE_SHUTOFF && !vms_domain_stop_locked(store, dom, error))
        return -1;

    g_auto(vms_undo_log) undo = {0};
    vms_undo_log_init(&undo);
    g_autoptr(vms_domain_def) restored = vms_domain_def_copy(snap->domain);
    g_autoptr(GPtrArray) apply = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < restored->ndisks; i++)
        if (!revert_disk(state, snap, restored->disks[i], apply, &undo, error))
            return -1;
    /* Internal tags last: they cannot be taken back, overlays can. */
    for (guint i = 0; i + 1 < apply->len; i += 2)
        if (!vms_qemu_img_snapshot_apply(g_ptr_array_index(apply, i),
                                         g_ptr_array_index(apply, i + 1), error))
            return -1;

    g_autofree char *domain_xml = vms_domain_def_format(restored, 0);
    if (!vms_store_write_domain_xml(store, dom, domain_xml, error))
        return -1;
    vms_undo_log_commit(&undo);
    if (!vms_domain_state_set_current(state, name, error))
        return -1;

    /* The state left behind goes unless a snapshot still needs its files. */
    g_autoptr(GPtrArray) left = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < state->def->ndisks; i++)
        g_ptr_array_add(left, g_strdup(state->def->disks[i]->source));
    vms_domain_def_free(state->def);
    state->def = g_steal_pointer(&restored);
    unsigned int discarded = 0;
    if (!vms_files_remove_unused(state, left, NULL, &discarded, error))
        return -1;
    return (int)discarded;
}
