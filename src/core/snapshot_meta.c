/* snapshot_meta.c: metadata-only changes to a domain's snapshot tree. */
#include "core/snapshot_meta.h"

#include <string.h>

#include "conf/xl_config.h"
#include "conf/xml.h"
#include "core/domain_state.h"
#include "util/error.h"
#include "util/names.h"

vms_snapshot_def *vms_snapshot_meta_parse(const char *text, GPtrArray *warnings,
                                          vmsnap_error **error)
{
    if (vms_xl_config_detect(text))
        return vms_xl_config_parse(text, warnings, error);
    return vms_snapshot_def_parse_string(text, error);
}

static const char *node_parent_name(vms_tree_node *node)
{
    vms_tree_node *parent = vms_tree_node_parent(node);
    return parent ? vms_tree_node_name(parent) : NULL;
}

/* --- redefine --------------------------------------------------------- */

static bool disk_belongs_to(const vms_domain_def *domain, const char *name)
{
    for (size_t i = 0; i < domain->ndisks; i++) {
        const vms_domain_disk *disk = domain->disks[i];
        if (g_strcmp0(disk->target, name) == 0 || g_strcmp0(disk->source, name) == 0)
            return true;
    }
    return false;
}

/* Fill in what a redefinition may leave out and check it fits @state. */
static bool complete_redefinition(vms_domain_state *state, vms_snapshot_def *def,
                                  vmsnap_error **error)
{
    if (!def->name) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "a snapshot being redefined needs a <name>: the name it has where it "
                      "was taken");
        return false;
    }
    if (def->state == VMSNAP_SNAPSHOT_STATE_NONE) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "snapshot '%s' does not say what state the domain was in; a redefined "
                      "snapshot needs <state> (running, paused, shutoff, disk-snapshot, ...) in "
                      "XML, or memory= in an xl config",
                      def->name);
        return false;
    }
    if (!def->has_creation_time) {
        def->creation_time = (long long)(g_get_real_time() / G_USEC_PER_SEC);
        def->has_creation_time = true;
    }
    if (!def->domain) {
        def->domain = vms_domain_def_copy(state->def);
    } else if (def->domain->uuid_generated) {
        memcpy(def->domain->uuid, state->def->uuid, 16);
        def->domain->uuid_generated = false;
    } else if (memcmp(def->domain->uuid, state->def->uuid, 16) != 0) {
        char want[37], got[37];
        vms_uuid_format(state->def->uuid, want);
        vms_uuid_format(def->domain->uuid, got);
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "snapshot '%s' was taken of a domain with uuid %s, but domain '%s' has "
                      "uuid %s",
                      def->name, got, state->name, want);
        return false;
    }
    /* An imported snapshot already exists, so vmsnap cannot pick its files. */
    if (def->memory == VMS_SNAP_LOCATION_EXTERNAL && !def->memory_file) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "snapshot '%s' keeps its memory in an external file but does not say "
                      "which; a redefined snapshot needs <memory snapshot='external' "
                      "file='/absolute/path'/>",
                      def->name);
        return false;
    }
    for (size_t i = 0; i < def->ndisks; i++) {
        const vms_snapshot_disk *disk = def->disks[i];
        if (disk->snapshot == VMS_SNAP_LOCATION_EXTERNAL && !disk->source_file) {
            vms_error_set(error, VMSNAP_ERR_XML,
                          "disk '%s' of snapshot '%s' is external but names no file; a "
                          "redefined snapshot needs <source file='/absolute/path'/> for it",
                          disk->name, def->name);
            return false;
        }
        if (!disk_belongs_to(def->domain, disk->name)) {
            vms_error_set(error, VMSNAP_ERR_XML,
                          "snapshot '%s' lists disk '%s', which its <domain> does not have",
                          def->name, disk->name);
            return false;
        }
    }
    return true;
}

/* Check @def's parent. A new snapshot cannot close a cycle, so only the
 * parent's file is looked at; moving an existing one needs the whole tree
 * (loaded on demand), which keeps importing a tree linear in its size. */
static bool check_new_parent(vms_domain_state *state, const vms_snapshot_def *def,
                             vmsnap_error **error)
{
    bool exists = vms_store_snapshot_exists(state->store, state->name, def->name);
    if (!def->parent)
        return true;
    if (!vms_store_snapshot_exists(state->store, state->name, def->parent)) {
        vms_error_set(error, VMSNAP_ERR_NO_SNAPSHOT,
                      "the parent of snapshot '%s', '%s', is not a snapshot of domain '%s'; "
                      "redefine the parent first",
                      def->name, def->parent, state->name);
        return false;
    }
    if (!exists)
        return true;
    if (!state->tree && !vms_domain_state_load_tree(state, error))
        return false;
    vms_tree_node *existing = vms_tree_lookup(state->tree, def->name);
    vms_tree_node *parent = vms_tree_lookup(state->tree, def->parent);
    if (existing && parent && vms_tree_node_is_ancestor(existing, parent)) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "snapshot '%s' cannot move under '%s', which descends from it", def->name,
                      def->parent);
        return false;
    }
    return true;
}

vms_snapshot_def *vms_snapshot_meta_redefine(vms_store *store, const char *dom,
                                             vms_snapshot_def *def, bool make_current,
                                             vmsnap_error **error)
{
    g_autoptr(vms_snapshot_def) owned = def;
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE, error);
    if (!state)
        return NULL;
    if (!complete_redefinition(state, owned, error) || !check_new_parent(state, owned, error))
        return NULL;
    if (!vms_domain_state_save_snapshot(state, owned, error))
        return NULL;
    if (make_current && !vms_domain_state_set_current(state, owned->name, error))
        return NULL;
    return vms_snapshot_def_summary(owned);
}

/* --- current, rename, description -------------------------------------- */

bool vms_snapshot_meta_set_current(vms_store *store, const char *dom, const char *name,
                                   vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE, error);
    if (!state)
        return false;
    if (!vms_store_snapshot_exists(store, dom, name)) {
        vms_error_set(error, VMSNAP_ERR_NO_SNAPSHOT, "domain '%s' has no snapshot named '%s'", dom,
                      name);
        return false;
    }
    return vms_domain_state_set_current(state, name, error);
}

static bool has_internal_data(const vms_snapshot_def *def)
{
    if (def->memory == VMS_SNAP_LOCATION_INTERNAL)
        return true;
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i]->snapshot == VMS_SNAP_LOCATION_INTERNAL)
            return true;
    return false;
}

/* Rename with the tree loaded and the lock held. Write order: the new file,
 * the children's parent pointers, the current record, then the old file
 * goes; a crash in between leaves both names readable, never an orphan. */
static vms_snapshot_def *rename_locked(vms_domain_state *state, vms_tree_node *node,
                                       vms_snapshot_def *def, const char *new_name,
                                       vmsnap_error **error)
{
    const char *old_name = vms_tree_node_name(node);
    if (!vms_name_validate("snapshot", new_name, error))
        return NULL;
    if (vms_tree_lookup(state->tree, new_name)) {
        vms_error_set(error, VMSNAP_ERR_SNAPSHOT_EXISTS,
                      "domain '%s' already has a snapshot named '%s'", state->name, new_name);
        return NULL;
    }
    /* Data inside qcow2 files stays tagged with the old name: record it. */
    if (!def->internal_tag && has_internal_data(def))
        def->internal_tag = g_strdup(def->name);
    g_free(def->name);
    def->name = g_strdup(new_name);
    if (!vms_domain_state_save_snapshot(state, def, error))
        return NULL;
    for (size_t i = 0; i < vms_tree_node_n_children(node); i++) {
        vms_snapshot_def *child = vms_node_def(vms_tree_node_child(node, i));
        g_free(child->parent);
        child->parent = g_strdup(new_name);
        if (!vms_domain_state_save_snapshot(state, child, error))
            return NULL;
    }
    if (g_strcmp0(state->current, old_name) == 0 &&
        !vms_domain_state_set_current(state, new_name, error))
        return NULL;
    g_autofree char *old = g_strdup(old_name);
    if (!vms_store_remove_snapshot(state->store, state->name, old, error))
        return NULL;
    if (!vms_tree_rename(state->tree, node, new_name, error))
        return NULL;
    return vms_snapshot_def_summary(def);
}

vms_snapshot_def *vms_snapshot_meta_rename(vms_store *store, const char *dom, const char *name,
                                           const char *new_name, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state)
        return NULL;
    vms_tree_node *node = vms_domain_state_find(state, name, error);
    if (!node)
        return NULL;
    if (strcmp(name, new_name) == 0)
        return vms_snapshot_def_summary(vms_node_def(node));
    return rename_locked(state, node, vms_node_def(node), new_name, error);
}

static void set_description(vms_snapshot_def *def, const char *description)
{
    g_free(def->description);
    def->description = (description && *description) ? g_strdup(description) : NULL;
}

vms_snapshot_def *vms_snapshot_meta_set_description(vms_store *store, const char *dom,
                                                    const char *name, const char *description,
                                                    vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE, error);
    if (!state)
        return NULL;
    if (description && !vms_xml_text_check("the description", description, error))
        return NULL;
    g_autoptr(vms_snapshot_def) def = vms_domain_state_read_snapshot(state, name, error);
    if (!def)
        return NULL;
    set_description(def, description);
    if (!vms_domain_state_save_snapshot(state, def, error))
        return NULL;
    return vms_snapshot_def_summary(def);
}

/* --- edit --------------------------------------------------------------- */

/* The element on the first line where two canonical texts differ. */
static char *first_differing_element(const char *a, const char *b)
{
    g_auto(GStrv) la = g_strsplit(a, "\n", -1);
    g_auto(GStrv) lb = g_strsplit(b, "\n", -1);
    for (size_t i = 0; la[i] || lb[i]; i++) {
        const char *line = la[i] ? la[i] : lb[i];
        if (la[i] && lb[i] && strcmp(la[i], lb[i]) == 0)
            continue;
        const char *lt = strchr(line, '<');
        if (!lt)
            return g_strdup("text");
        const char *start = lt + 1 + (lt[1] == '/');
        size_t len = strcspn(start, " />");
        return g_strdup_printf("<%.*s>", (int)len, start);
    }
    return g_strdup("text");
}

vms_snapshot_def *vms_snapshot_meta_update_xml(vms_store *store, const char *dom, const char *name,
                                               const char *xml, bool *changed, vmsnap_error **error)
{
    *changed = false;
    g_autoptr(vms_snapshot_def) edited = vms_snapshot_def_parse_string(xml, error);
    if (!edited)
        return NULL;
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state)
        return NULL;
    vms_tree_node *node = vms_domain_state_find(state, name, error);
    if (!node)
        return NULL;
    vms_snapshot_def *def = vms_node_def(node);

    /* Compare everything but the two editable fields. */
    g_autoptr(vms_snapshot_def) probe = vms_snapshot_def_copy(edited);
    g_free(probe->name);
    probe->name = g_strdup(def->name);
    set_description(probe, def->description);
    g_autofree char *want = vms_snapshot_def_format(def, 0);
    g_autofree char *got = vms_snapshot_def_format(probe, 0);
    if (strcmp(want, got) != 0) {
        g_autofree char *element = first_differing_element(want, got);
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "editing snapshot '%s' changed %s; only <name> and <description> can be "
                      "edited (redefine the snapshot to change anything else)",
                      name, element);
        return NULL;
    }

    if (!edited->name) {
        vms_error_set(error, VMSNAP_ERR_XML, "the edited XML of snapshot '%s' has no <name>", name);
        return NULL;
    }
    if (g_strcmp0(def->description, edited->description) != 0) {
        set_description(def, edited->description);
        if (!vms_domain_state_save_snapshot(state, def, error))
            return NULL;
        *changed = true;
    }
    if (strcmp(def->name, edited->name) != 0) {
        vms_snapshot_def *renamed = rename_locked(state, node, def, edited->name, error);
        if (renamed)
            *changed = true;
        return renamed;
    }
    return vms_snapshot_def_summary(def);
}

/* --- delete ------------------------------------------------------------- */

/* Remove nodes' files last-first: @nodes is in pre-order, so each snapshot
 * goes before its parent and no file ever names a parent that is gone. */
static bool remove_files_reverse(vms_domain_state *state, GPtrArray *nodes, vmsnap_error **error)
{
    for (guint i = nodes->len; i > 0; i--) {
        vms_tree_node *node = g_ptr_array_index(nodes, i - 1);
        if (!vms_store_remove_snapshot(state->store, state->name, vms_tree_node_name(node), error))
            return false;
    }
    return true;
}

static bool current_within(vms_domain_state *state, vms_tree_node *top)
{
    vms_tree_node *current = state->current ? vms_tree_lookup(state->tree, state->current) : NULL;
    return current && vms_tree_node_is_ancestor(top, current);
}

int vms_snapshot_meta_remove_one_locked(vms_domain_state *state, vms_tree_node *node,
                                        vmsnap_error **error)
{
    const char *parent = node_parent_name(node);
    for (size_t i = 0; i < vms_tree_node_n_children(node); i++) {
        vms_snapshot_def *child = vms_node_def(vms_tree_node_child(node, i));
        g_free(child->parent);
        child->parent = g_strdup(parent);
        if (!vms_domain_state_save_snapshot(state, child, error))
            return -1;
    }
    if (g_strcmp0(state->current, vms_tree_node_name(node)) == 0 &&
        !vms_domain_state_set_current(state, parent, error))
        return -1;
    if (!vms_store_remove_snapshot(state->store, state->name, vms_tree_node_name(node), error))
        return -1;
    vms_tree_remove(state->tree, node);
    return 1;
}

static int delete_subtree(vms_domain_state *state, vms_tree_node *node, bool keep_top,
                          vmsnap_error **error)
{
    g_autoptr(GPtrArray) doomed = vms_tree_descendants(node);
    if (!keep_top)
        g_ptr_array_insert(doomed, 0, node);
    /* The current snapshot, if it is going, moves to the nearest survivor. */
    const char *survivor = keep_top ? vms_tree_node_name(node) : node_parent_name(node);
    if (current_within(state, node) && g_strcmp0(state->current, survivor) != 0 &&
        !vms_domain_state_set_current(state, survivor, error))
        return -1;
    if (!remove_files_reverse(state, doomed, error))
        return -1;
    int count = (int)doomed->len;
    if (keep_top) {
        while (vms_tree_node_n_children(node) > 0)
            vms_tree_remove_subtree(state->tree, vms_tree_node_child(node, 0));
    } else {
        vms_tree_remove_subtree(state->tree, node);
    }
    return count;
}

int vms_snapshot_meta_delete(vms_store *store, const char *dom, const char *name,
                             vms_delete_scope scope, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state)
        return -1;
    vms_tree_node *node = vms_domain_state_find(state, name, error);
    if (!node)
        return -1;
    switch (scope) {
    case VMS_DELETE_ONE:
        return vms_snapshot_meta_remove_one_locked(state, node, error);
    case VMS_DELETE_WITH_CHILDREN:
        return delete_subtree(state, node, false, error);
    case VMS_DELETE_CHILDREN_ONLY:
        return delete_subtree(state, node, true, error);
    }
    vms_error_set(error, VMSNAP_ERR_INTERNAL, "unknown delete scope %d", (int)scope);
    return -1;
}
