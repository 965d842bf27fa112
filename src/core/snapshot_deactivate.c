/* snapshot_deactivate.c: the 2010 RFC's Deactivate(MERGE | DISCARD, with or
 * without FORCE) on top of data delete and revert (ADR 0006, "Mapping the
 * RFC's deactivate"). This file decides what each mode would lose and
 * refuses, naming it, unless forced; snapshot_delete.c moves the data. */
#include "core/snapshot_data.h"

#include <string.h>

#include "util/error.h"

/* "'c', 'd' and the current state of domain 'vm'", with "snapshot " or
 * "snapshots " before the first snapshot name. */
static char *what_is_lost(GPtrArray *snapshots, bool current_state, const char *dom)
{
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < snapshots->len; i++)
        g_ptr_array_add(items, g_strdup_printf("%s'%s'",
                                               i > 0                ? ""
                                               : snapshots->len > 1 ? "snapshots "
                                                                    : "snapshot ",
                                               (const char *)g_ptr_array_index(snapshots, i)));
    if (current_state)
        g_ptr_array_add(items, g_strdup_printf("the current state of domain '%s'", dom));
    GString *text = g_string_new(NULL);
    for (guint i = 0; i < items->len; i++) {
        const char *sep = i == 0 ? "" : i + 1 == items->len ? " and " : ", ";
        g_string_append_printf(text, "%s%s", sep, (const char *)g_ptr_array_index(items, i));
    }
    return g_string_free(text, false);
}

static bool current_within(const vms_domain_state *state, const char *top, GPtrArray *below)
{
    if (!state->current)
        return false;
    if (strcmp(state->current, top) == 0)
        return true;
    for (guint i = 0; i < below->len; i++)
        if (strcmp(state->current, vms_tree_node_name(g_ptr_array_index(below, i))) == 0)
            return true;
    return false;
}

/* @name and its descendants, leaves first (so each snapshot goes before
 * the one it was built on). */
static GPtrArray *subtree_leaves_first(const vms_tree_node *node, const char *name)
{
    g_autoptr(GPtrArray) below = vms_tree_descendants(node);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = below->len; i > 0; i--)
        g_ptr_array_add(names, g_strdup(vms_tree_node_name(g_ptr_array_index(below, i - 1))));
    g_ptr_array_add(names, g_strdup(name));
    return names;
}

static int merge(vms_store *store, const char *dom, const char *name, bool force,
                 const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state)
        return -1;
    vms_tree_node *node = vms_domain_state_find(state, name, error);
    if (!node)
        return -1;
    /* The disks fold into the parent; a memory state cannot. */
    if (vms_snapshot_def_has_memory(vms_node_def(node)) && !force) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "merging snapshot '%s' would lose its memory state: only disks fold into "
                      "the parent snapshot; add --force to merge it anyway",
                      name);
        return -1;
    }
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_ptr_array_add(names, g_strdup(name));
    return vms_snapshot_data_delete_locked(state, names, progress, error) ? 1 : -1;
}

/* Refuse a discard that would lose more than @name's own point, unless
 * forced; one whose current state has no parent to go back to always. */
static bool check_discard(const vms_domain_state *state, const vms_tree_node *node,
                          const char *name, bool force, bool *current_goes, vmsnap_error **error)
{
    g_autoptr(GPtrArray) below = vms_tree_descendants(node);
    *current_goes = current_within(state, name, below);
    if (*current_goes && !vms_tree_node_parent(node)) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "discarding snapshot '%s' would discard the current state of domain '%s', "
                      "and '%s' has no parent snapshot to go back to; revert to a snapshot "
                      "outside it first, or merge it (snapshot-delete) to keep the current state",
                      name, state->name, name);
        return false;
    }
    if (force || (below->len == 0 && !*current_goes))
        return true;
    g_autoptr(GPtrArray) names = g_ptr_array_new();
    for (guint i = 0; i < below->len; i++)
        g_ptr_array_add(names, (char *)vms_tree_node_name(g_ptr_array_index(below, i)));
    g_autofree char *lost = what_is_lost(names, *current_goes, state->name);
    bool one = below->len + (*current_goes ? 1 : 0) == 1;
    vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                  "discarding snapshot '%s' would also discard %s; add --force to discard %s", name,
                  lost, one ? "it" : "them");
    return false;
}

static int discard(vms_store *store, const char *dom, const char *name, bool force,
                   const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state)
        return -1;
    vms_tree_node *node = vms_domain_state_find(state, name, error);
    bool current_goes = false;
    if (!node || !check_discard(state, node, name, force, &current_goes, error))
        return -1;
    g_autoptr(GPtrArray) names = subtree_leaves_first(node, name);
    /* The domain goes back to the parent first (revert stops a running QEMU
     * and discards the state left), under the same lock and one record. */
    if (current_goes &&
        vms_snapshot_data_revert_then_discard(state, vms_tree_node_name(vms_tree_node_parent(node)),
                                              0, names, progress, error) < 0)
        return -1;
    return vms_snapshot_data_discard_locked(state, names, progress, error) ? (int)names->len : -1;
}

int vms_snapshot_data_deactivate(vms_store *store, const char *dom, const char *name,
                                 vms_deactivate_mode mode, bool force, const vms_progress *progress,
                                 vmsnap_error **error)
{
    switch (mode) {
    case VMS_DEACTIVATE_MERGE:
        return merge(store, dom, name, force, progress, error);
    case VMS_DEACTIVATE_DISCARD:
        return discard(store, dom, name, force, progress, error);
    }
    vms_error_set(error, VMSNAP_ERR_INTERNAL, "unknown deactivate mode %d", (int)mode);
    return -1;
}
