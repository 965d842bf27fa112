/* snapshot_delete.c: deleting snapshots with their data, merging frozen
 * files into the files built on them (ADR 0006). */
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

static bool require_shut_off(vms_domain_state *state, vmsnap_error **error)
{
    g_auto(vms_run_status) status = {0};
    if (!vms_domain_get_run_status_locked(state->store, state->name, &status, error))
        return false;
    if (status.state == VMSNAP_DOMAIN_STATE_SHUTOFF)
        return true;
    if (status.state == VMSNAP_DOMAIN_STATE_CRASHED)
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' crashed; clean up with 'vmsnap destroy %s' first", state->name,
                      state->name);
    else
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' is %s; this version deletes snapshots of shut-off domains "
                      "only: shut it down first",
                      state->name,
                      status.state == VMSNAP_DOMAIN_STATE_PAUSED ? "paused" : "running");
    return false;
}

/* --- delete ---------------------------------------------------------------------- */

/* Every file vmsnap knows of for this domain: active layers, frozen files
 * and overlays of every snapshot, as a NULL-free array of paths. */
static GPtrArray *known_files(vms_domain_state *state)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < state->def->ndisks; i++)
        g_ptr_array_add(files, g_strdup(state->def->disks[i]->source));
    g_autoptr(GPtrArray) nodes = vms_tree_topological(state->tree);
    for (guint n = 0; n < nodes->len; n++) {
        const vms_snapshot_def *def = vms_node_def(g_ptr_array_index(nodes, n));
        for (size_t i = 0; def->domain && i < def->domain->ndisks; i++)
            g_ptr_array_add(files, g_strdup(def->domain->disks[i]->source));
        for (size_t i = 0; i < def->ndisks; i++)
            if (def->disks[i]->source_file)
                g_ptr_array_add(files, g_strdup(def->disks[i]->source_file));
    }
    /* Drop duplicates and files that are gone. */
    GPtrArray *unique = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < files->len; i++) {
        char *file = g_ptr_array_index(files, i);
        if (!g_hash_table_contains(seen, file) && vms_path_exists(file)) {
            g_hash_table_add(seen, file);
            g_ptr_array_add(unique, g_strdup(file));
        }
    }
    g_ptr_array_unref(files);
    return unique;
}

/* The known files whose backing file is @frozen: what merging it rewrites. */
static GPtrArray *files_built_on(vms_domain_state *state, const char *frozen, vmsnap_error **error)
{
    g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) files = known_files(state);
    for (guint i = 0; i < files->len; i++) {
        const char *file = g_ptr_array_index(files, i);
        if (strcmp(file, frozen) == 0)
            continue;
        g_autofree char *backing = NULL;
        if (!vms_qemu_img_get_backing(file, &backing, NULL, error))
            return NULL;
        if (g_strcmp0(backing, frozen) == 0)
            g_ptr_array_add(children, g_strdup(file));
    }
    return g_steal_pointer(&children);
}

/* Everything that could stop deleting @node's data, checked for every disk
 * before any file changes, so a refusal changes nothing. */
static bool check_delete(vms_domain_state *state, const vms_tree_node *node, vmsnap_error **error)
{
    const vms_snapshot_def *def = vms_node_def(node);
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++) {
        const vms_domain_disk *disk = def->domain->disks[i];
        vms_snap_location kind = vms_snapshot_stored_kind(def, disk);
        if (kind == VMS_SNAP_LOCATION_INTERNAL && !vms_path_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_IO,
                          "the file '%s' holding snapshot '%s' (disk %s) is missing; delete only "
                          "the snapshot's metadata with --metadata",
                          disk->source, def->name, disk->target);
            return false;
        }
        if (kind != VMS_SNAP_LOCATION_EXTERNAL || !vms_path_exists(disk->source))
            continue;
        /* A rebase rewrites a child's current state only: internal snapshots
         * inside it would then read the new backing file. */
        g_autoptr(GPtrArray) children = files_built_on(state, disk->source, error);
        if (!children)
            return false;
        for (guint c = 0; c < children->len; c++) {
            const char *child = g_ptr_array_index(children, c);
            g_auto(GStrv) tags = vms_qemu_img_snapshot_list(child, error);
            if (!tags)
                return false;
            if (tags[0]) {
                vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                              "deleting snapshot '%s' would merge '%s' into '%s', which holds "
                              "internal snapshot '%s' that the merge would change; delete that "
                              "one first",
                              def->name, disk->source, child, tags[0]);
                return false;
            }
        }
    }
    return true;
}

/* Merge frozen file @frozen into every file built on it. */
static bool merge_frozen_file(vms_domain_state *state, const char *frozen, vmsnap_error **error)
{
    if (!vms_path_exists(frozen))
        return true; /* merged already */
    g_autofree char *base = NULL;
    g_autofree char *base_format = NULL;
    if (!vms_qemu_img_get_backing(frozen, &base, &base_format, error))
        return false;
    g_autoptr(GPtrArray) children = files_built_on(state, frozen, error);
    if (!children)
        return false;
    for (guint c = 0; c < children->len; c++)
        if (!vms_qemu_img_rebase(g_ptr_array_index(children, c), base, base_format, false, error))
            return false;
    return true;
}

static bool delete_data_one(vms_domain_state *state, const vms_tree_node *node,
                            vmsnap_error **error)
{
    if (!check_delete(state, node, error))
        return false;
    const vms_snapshot_def *def = vms_node_def(node);
    g_autoptr(GPtrArray) touched = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++) {
        const vms_domain_disk *disk = def->domain->disks[i];
        vms_snap_location kind = vms_snapshot_stored_kind(def, disk);
        if (kind == VMS_SNAP_LOCATION_INTERNAL) {
            g_auto(GStrv) tags = vms_qemu_img_snapshot_list(disk->source, error);
            if (!tags)
                return false;
            const char *tag = vms_snapshot_def_internal_tag(def);
            if (g_strv_contains((const char *const *)tags, tag) &&
                !vms_qemu_img_snapshot_delete(disk->source, tag, error))
                return false;
        } else if (kind == VMS_SNAP_LOCATION_EXTERNAL) {
            if (!merge_frozen_file(state, disk->source, error))
                return false;
        } else {
            continue;
        }
        g_ptr_array_add(touched, g_strdup(disk->source));
    }
    /* Files kept only for this snapshot (a frozen file, or a file a revert
     * left behind because it held this snapshot's internal tag) go too. */
    return vms_files_remove_unused(state, touched, node, NULL, error);
}

int vms_snapshot_data_delete(vms_store *store, const char *dom, const char *name,
                             vms_delete_scope scope, const vms_progress *progress,
                             vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state || !require_shut_off(state, error))
        return -1;
    vms_tree_node *top = vms_domain_state_find(state, name, error);
    if (!top)
        return -1;
    /* Leaves first, so every snapshot's data merges into files that stay. */
    g_autoptr(GPtrArray) doomed = g_ptr_array_new_with_free_func(g_free);
    if (scope != VMS_DELETE_ONE) {
        g_autoptr(GPtrArray) below = vms_tree_descendants(top);
        for (guint i = below->len; i > 0; i--)
            g_ptr_array_add(doomed, g_strdup(vms_tree_node_name(g_ptr_array_index(below, i - 1))));
    }
    if (scope != VMS_DELETE_CHILDREN_ONLY)
        g_ptr_array_add(doomed, g_strdup(name));
    for (guint i = 0; i < doomed->len; i++) {
        vms_tree_node *node = vms_tree_lookup(state->tree, g_ptr_array_index(doomed, i));
        if (!delete_data_one(state, node, error) ||
            vms_snapshot_meta_remove_one_locked(state, node, error) < 0)
            return -1;
    }
    return (int)doomed->len;
}
