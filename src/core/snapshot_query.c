/* snapshot_query.c: filtered listings and lookups over the snapshot tree. */
#include "core/snapshot_query.h"

#include "core/domain_state.h"
#include "util/error.h"

#include <string.h>

/* libvirt counts a snapshot as external when any part of it lives outside
 * the disk images; everything else (including "nothing at all") is internal. */
static bool def_is_external(const vms_snapshot_def *def)
{
    vmsnap_snapshot_location loc = vms_snapshot_def_location(def);
    return loc == VMSNAP_SNAPSHOT_LOCATION_EXTERNAL || loc == VMSNAP_SNAPSHOT_LOCATION_MIXED;
}

static bool passes_filters(const vms_tree_node *node, unsigned int flags)
{
    const vms_snapshot_def *def = vms_node_def(node);

    unsigned int leaf_group =
        flags & (VMSNAP_SNAPSHOT_LIST_LEAVES | VMSNAP_SNAPSHOT_LIST_NO_LEAVES);
    if (leaf_group &&
        leaf_group != (VMSNAP_SNAPSHOT_LIST_LEAVES | VMSNAP_SNAPSHOT_LIST_NO_LEAVES)) {
        bool leaf = vms_tree_node_n_children(node) == 0;
        if (leaf != ((flags & VMSNAP_SNAPSHOT_LIST_LEAVES) != 0))
            return false;
    }

    unsigned int state_group =
        flags & (VMSNAP_SNAPSHOT_LIST_INACTIVE | VMSNAP_SNAPSHOT_LIST_ACTIVE |
                 VMSNAP_SNAPSHOT_LIST_DISK_ONLY);
    if (state_group) {
        bool match = false;
        if (def->state == VMSNAP_SNAPSHOT_STATE_SHUTOFF)
            match = flags & VMSNAP_SNAPSHOT_LIST_INACTIVE;
        else if (def->state == VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT)
            match = flags & VMSNAP_SNAPSHOT_LIST_DISK_ONLY;
        else
            match = flags & VMSNAP_SNAPSHOT_LIST_ACTIVE;
        if (!match)
            return false;
    }

    unsigned int loc_group =
        flags & (VMSNAP_SNAPSHOT_LIST_INTERNAL | VMSNAP_SNAPSHOT_LIST_EXTERNAL);
    if (loc_group) {
        bool external = def_is_external(def);
        unsigned int want =
            external ? VMSNAP_SNAPSHOT_LIST_EXTERNAL : VMSNAP_SNAPSHOT_LIST_INTERNAL;
        if (!(flags & want))
            return false;
    }
    return true;
}

static gint compare_by_name(gconstpointer a, gconstpointer b)
{
    const vms_tree_node *na = *(vms_tree_node *const *)a;
    const vms_tree_node *nb = *(vms_tree_node *const *)b;
    return strcmp(vms_tree_node_name(na), vms_tree_node_name(nb));
}

/* The nodes a listing considers, before filters, in output order. */
static GPtrArray *candidate_nodes(vms_domain_state *state, vms_tree_node *from, unsigned int flags)
{
    bool topological = flags & VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL;
    GPtrArray *nodes;
    if (from) {
        if (flags & VMSNAP_SNAPSHOT_LIST_DESCENDANTS) {
            nodes = vms_tree_descendants(from);
        } else {
            size_t n = vms_tree_node_n_children(from);
            nodes = g_ptr_array_sized_new((guint)n);
            for (size_t i = 0; i < n; i++)
                g_ptr_array_add(nodes, vms_tree_node_child(from, i));
            return nodes; /* children are kept sorted by name */
        }
    } else if (flags & VMSNAP_SNAPSHOT_LIST_ROOTS) {
        GPtrArray *roots = vms_tree_roots(state->tree);
        nodes = g_ptr_array_sized_new(roots->len);
        for (guint i = 0; i < roots->len; i++)
            g_ptr_array_add(nodes, g_ptr_array_index(roots, i));
        return nodes;
    } else {
        nodes = vms_tree_topological(state->tree);
    }
    if (!topological)
        g_ptr_array_sort(nodes, compare_by_name);
    return nodes;
}

GPtrArray *vms_snapshot_query_list(vms_store *store, const char *dom, const char *from,
                                   unsigned int flags, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_SNAPSHOTS, error);
    if (!state)
        return NULL;
    vms_tree_node *from_node = NULL;
    if (from && !(from_node = vms_domain_state_find(state, from, error)))
        return NULL;

    g_autoptr(GPtrArray) nodes = candidate_nodes(state, from_node, flags);
    GPtrArray *result = g_ptr_array_new_full(nodes->len, (GDestroyNotify)vms_snapshot_def_free);
    for (guint i = 0; i < nodes->len; i++) {
        vms_tree_node *node = g_ptr_array_index(nodes, i);
        if (passes_filters(node, flags))
            g_ptr_array_add(result, vms_snapshot_def_summary(vms_node_def(node)));
    }
    return result;
}

static vms_snapshot_def *read_summary(vms_domain_state *state, const char *name,
                                      vmsnap_error **error)
{
    vms_snapshot_def *def = vms_domain_state_read_snapshot(state, name, error);
    if (def)
        g_clear_pointer(&def->domain, vms_domain_def_free);
    return def;
}

vms_snapshot_def *vms_snapshot_query_get(vms_store *store, const char *dom, const char *name,
                                         vmsnap_error **error)
{
    /* A lookup reads one file, not the tree: O(1) in the number of snapshots. */
    g_autoptr(vms_domain_state) state = vms_domain_state_load(store, dom, 0, error);
    if (!state)
        return NULL;
    return read_summary(state, name, error);
}

char *vms_snapshot_query_xml(vms_store *store, const char *dom, const char *name,
                             unsigned int format_flags, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = vms_domain_state_load(store, dom, 0, error);
    if (!state)
        return NULL;
    g_autoptr(vms_snapshot_def) def = vms_domain_state_read_snapshot(state, name, error);
    if (!def)
        return NULL;
    return vms_snapshot_def_format(def, format_flags);
}

vms_snapshot_def *vms_snapshot_query_parent(vms_store *store, const char *dom, const char *name,
                                            vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = vms_domain_state_load(store, dom, 0, error);
    if (!state)
        return NULL;
    g_autoptr(vms_snapshot_def) def = read_summary(state, name, error);
    if (!def)
        return NULL;
    if (!def->parent) {
        vms_error_set(error, VMSNAP_ERR_NO_PARENT, "snapshot '%s' has no parent", name);
        return NULL;
    }
    return read_summary(state, def->parent, error);
}

char *vms_snapshot_query_current_name(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = vms_domain_state_load(store, dom, 0, error);
    if (!state)
        return NULL;
    if (state->current && !vms_store_snapshot_exists(store, dom, state->current))
        return NULL; /* a stale record: see vms_domain_state_load() */
    return g_steal_pointer(&state->current);
}
