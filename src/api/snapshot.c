/* snapshot.c: the public snapshot calls. */
#include "api/handles.h"

#include "core/domain_lifecycle.h"
#include "core/snapshot_data.h"
#include "core/snapshot_meta.h"
#include "core/snapshot_query.h"
#include "util/error.h"

vmsnap_snapshot *vms_api_snapshot_new(vmsnap_domain *dom, vms_snapshot_def *def)
{
    vmsnap_snapshot *snap = g_new0(vmsnap_snapshot, 1);
    g_atomic_ref_count_init(&snap->ref);
    snap->dom = vmsnap_domain_ref(dom);
    snap->def = def;
    return snap;
}

static vms_store *snap_store(const vmsnap_snapshot *snap)
{
    return snap->dom->conn->store;
}

static const vms_progress *snap_progress(const vmsnap_snapshot *snap)
{
    return &snap->dom->conn->progress;
}

static const char *snap_dom_name(const vmsnap_snapshot *snap)
{
    return snap->dom->def->name;
}

/* Replace a handle's cached summary after a change made through it. */
static void snapshot_refresh(vmsnap_snapshot *snap, vms_snapshot_def *def)
{
    vms_snapshot_def_free(snap->def);
    snap->def = def;
}

/* --- create --------------------------------------------------------------- */

/* Take a new snapshot (not a redefinition). */
static vmsnap_snapshot *snapshot_take(vmsnap_domain *dom, const char *xml, unsigned int flags,
                                      vmsnap_error **error)
{
    if (flags & VMSNAP_SNAPSHOT_CREATE_CURRENT) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "making a snapshot current on creation only applies to a redefinition "
                      "(a new snapshot always becomes current)");
        return NULL;
    }
    vms_snapshot_def *def = vms_snapshot_meta_parse(xml, NULL, error);
    if (!def)
        return NULL;
    if ((flags & VMSNAP_SNAPSHOT_CREATE_DISK_ONLY) && vms_snapshot_def_has_memory(def)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "a disk-only snapshot cannot save memory; remove the <memory> request or "
                      "the disk-only flag");
        vms_snapshot_def_free(def);
        return NULL;
    }
    if (flags & VMSNAP_SNAPSHOT_CREATE_DISK_ONLY)
        def->memory = VMS_SNAP_LOCATION_NO;
    vms_snapshot_def *stored = vms_snapshot_data_create(dom->conn->store, dom->def->name, def,
                                                        flags, &dom->conn->progress, error);
    return stored ? vms_api_snapshot_new(dom, stored) : NULL;
}

vmsnap_snapshot *vmsnap_snapshot_create_xml(vmsnap_domain *dom, const char *xml, unsigned int flags,
                                            vmsnap_error **error)
{
    const unsigned int known = VMSNAP_SNAPSHOT_CREATE_REDEFINE | VMSNAP_SNAPSHOT_CREATE_CURRENT |
                               VMSNAP_SNAPSHOT_CREATE_NO_METADATA | VMSNAP_SNAPSHOT_CREATE_HALT |
                               VMSNAP_SNAPSHOT_CREATE_DISK_ONLY | VMSNAP_SNAPSHOT_CREATE_REUSE_EXT |
                               VMSNAP_SNAPSHOT_CREATE_ATOMIC | VMSNAP_SNAPSHOT_CREATE_LIVE;
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_arg(__func__, xml, "xml", error) ||
        !vms_api_check_flags(__func__, flags, known, error))
        return NULL;
    if (!(flags & VMSNAP_SNAPSHOT_CREATE_REDEFINE))
        return snapshot_take(dom, xml, flags, error);
    if (flags & ~(VMSNAP_SNAPSHOT_CREATE_REDEFINE | VMSNAP_SNAPSHOT_CREATE_CURRENT)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "a redefinition only records metadata; it takes no flag other than "
                      "'current'");
        return NULL;
    }
    vms_snapshot_def *def = vms_snapshot_meta_parse(xml, NULL, error);
    if (!def)
        return NULL;
    vms_snapshot_def *stored = vms_snapshot_meta_redefine(
        dom->conn->store, dom->def->name, def, flags & VMSNAP_SNAPSHOT_CREATE_CURRENT, error);
    return stored ? vms_api_snapshot_new(dom, stored) : NULL;
}

char *vmsnap_snapshot_config_to_xml(const char *text, char ***warnings, unsigned int flags,
                                    vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, text, "text", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return NULL;
    g_autoptr(GPtrArray) found = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(vms_snapshot_def) def = vms_snapshot_meta_parse(text, found, error);
    if (!def)
        return NULL;
    if (warnings) {
        g_ptr_array_add(found, NULL);
        g_ptr_array_set_free_func(found, NULL);
        *warnings = (char **)g_ptr_array_free(g_steal_pointer(&found), FALSE);
    }
    return vms_snapshot_def_format(def, 0);
}

/* --- reading ------------------------------------------------------------- */

char *vmsnap_snapshot_get_xml_desc(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, VMSNAP_SNAPSHOT_XML_NO_DOMAIN, error))
        return NULL;
    unsigned int format_flags =
        (flags & VMSNAP_SNAPSHOT_XML_NO_DOMAIN) ? VMS_SNAPSHOT_FORMAT_NO_DOMAIN : 0;
    return vms_snapshot_query_xml(snap_store(snap), snap_dom_name(snap), snap->def->name,
                                  format_flags, error);
}

/* Run a listing and hand back handles (and/or the count). */
static int list_snapshots(vmsnap_domain *dom, const char *from, vmsnap_snapshot ***snaps,
                          unsigned int flags, vmsnap_error **error)
{
    g_autoptr(GPtrArray) defs =
        vms_snapshot_query_list(dom->conn->store, dom->def->name, from, flags, error);
    if (!defs)
        return -1;
    int count = (int)defs->len;
    if (snaps) {
        vmsnap_snapshot **list = g_new0(vmsnap_snapshot *, defs->len + 1);
        g_ptr_array_set_free_func(defs, NULL);
        for (guint i = 0; i < defs->len; i++)
            list[i] = vms_api_snapshot_new(dom, g_ptr_array_index(defs, i));
        *snaps = list;
    }
    return count;
}

int vmsnap_domain_snapshot_count(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, VMS_SNAPSHOT_LIST_FLAGS_ALL, error))
        return -1;
    return list_snapshots(dom, NULL, NULL, flags, error);
}

int vmsnap_domain_list_all_snapshots(vmsnap_domain *dom, vmsnap_snapshot ***snaps,
                                     unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, VMS_SNAPSHOT_LIST_FLAGS_ALL, error))
        return -1;
    return list_snapshots(dom, NULL, snaps, flags, error);
}

int vmsnap_domain_snapshot_list_names(vmsnap_domain *dom, char ***names, unsigned int flags,
                                      vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, names, "names", error))
        return -1;
    vmsnap_snapshot **snaps = NULL;
    int count = vmsnap_domain_list_all_snapshots(dom, &snaps, flags, error);
    if (count < 0)
        return -1;
    char **out = g_new0(char *, (size_t)count + 1);
    for (int i = 0; i < count; i++)
        out[i] = g_strdup(snaps[i]->def->name);
    vmsnap_snapshot_list_free(snaps);
    *names = out;
    return count;
}

int vmsnap_snapshot_list_all_children(vmsnap_snapshot *snap, vmsnap_snapshot ***snaps,
                                      unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, VMS_SNAPSHOT_LIST_FLAGS_ALL, error))
        return -1;
    return list_snapshots(snap->dom, snap->def->name, snaps, flags, error);
}

int vmsnap_snapshot_num_children(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    return vmsnap_snapshot_list_all_children(snap, NULL, flags, error);
}

vmsnap_snapshot *vmsnap_snapshot_lookup_by_name(vmsnap_domain *dom, const char *name,
                                                unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_arg(__func__, name, "name", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return NULL;
    vms_snapshot_def *def = vms_snapshot_query_get(dom->conn->store, dom->def->name, name, error);
    return def ? vms_api_snapshot_new(dom, def) : NULL;
}

vmsnap_snapshot *vmsnap_snapshot_get_parent(vmsnap_snapshot *snap, unsigned int flags,
                                            vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return NULL;
    vms_snapshot_def *def =
        vms_snapshot_query_parent(snap_store(snap), snap_dom_name(snap), snap->def->name, error);
    return def ? vms_api_snapshot_new(snap->dom, def) : NULL;
}

vmsnap_snapshot *vmsnap_domain_snapshot_current(vmsnap_domain *dom, unsigned int flags,
                                                vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return NULL;
    /* The name and the snapshot are read under two locks: a rename or
     * delete in between (another process) means "read both again". */
    for (int attempt = 0;; attempt++) {
        vmsnap_error *cerr = NULL;
        g_autofree char *name =
            vms_snapshot_query_current_name(dom->conn->store, dom->def->name, &cerr);
        if (cerr) {
            vms_error_propagate(error, cerr);
            return NULL;
        }
        if (!name) {
            vms_error_set(error, VMSNAP_ERR_NO_CURRENT, "domain '%s' has no current snapshot",
                          dom->def->name);
            return NULL;
        }
        vmsnap_error *lerr = NULL;
        vmsnap_snapshot *snap = vmsnap_snapshot_lookup_by_name(dom, name, 0, &lerr);
        if (snap || attempt == 10 || vmsnap_error_get_code(lerr) != VMSNAP_ERR_NO_SNAPSHOT) {
            vms_error_propagate(error, lerr);
            return snap;
        }
        vmsnap_error_free(lerr);
    }
}

int vmsnap_domain_has_current_snapshot(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    vmsnap_error *cerr = NULL;
    g_autofree char *name =
        vms_snapshot_query_current_name(dom->conn->store, dom->def->name, &cerr);
    if (cerr) {
        vms_error_propagate(error, cerr);
        return -1;
    }
    return name ? 1 : 0;
}

int vmsnap_snapshot_is_current(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    vmsnap_error *cerr = NULL;
    g_autofree char *name =
        vms_snapshot_query_current_name(snap_store(snap), snap_dom_name(snap), &cerr);
    if (cerr) {
        vms_error_propagate(error, cerr);
        return -1;
    }
    return g_strcmp0(name, snap->def->name) == 0 ? 1 : 0;
}

/* --- changing metadata ----------------------------------------------------- */

int vmsnap_snapshot_set_current(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    return vms_snapshot_meta_set_current(snap_store(snap), snap_dom_name(snap), snap->def->name,
                                         error)
               ? 0
               : -1;
}

int vmsnap_snapshot_rename(vmsnap_snapshot *snap, const char *new_name, unsigned int flags,
                           vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_arg(__func__, new_name, "new_name", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    vms_snapshot_def *def = vms_snapshot_meta_rename(snap_store(snap), snap_dom_name(snap),
                                                     snap->def->name, new_name, error);
    if (!def)
        return -1;
    snapshot_refresh(snap, def);
    return 0;
}

int vmsnap_snapshot_set_description(vmsnap_snapshot *snap, const char *description,
                                    unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    vms_snapshot_def *def = vms_snapshot_meta_set_description(snap_store(snap), snap_dom_name(snap),
                                                              snap->def->name, description, error);
    if (!def)
        return -1;
    snapshot_refresh(snap, def);
    return 0;
}

int vmsnap_snapshot_update_xml(vmsnap_snapshot *snap, const char *xml, unsigned int flags,
                               vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_arg(__func__, xml, "xml", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    bool changed = false;
    vms_snapshot_def *def = vms_snapshot_meta_update_xml(snap_store(snap), snap_dom_name(snap),
                                                         snap->def->name, xml, &changed, error);
    if (!def)
        return -1;
    snapshot_refresh(snap, def);
    return changed ? 1 : 0;
}

int vmsnap_snapshot_delete(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    const unsigned int known = VMSNAP_SNAPSHOT_DELETE_CHILDREN |
                               VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY |
                               VMSNAP_SNAPSHOT_DELETE_CHILDREN_ONLY;
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, known, error))
        return -1;
    if ((flags & VMSNAP_SNAPSHOT_DELETE_CHILDREN) &&
        (flags & VMSNAP_SNAPSHOT_DELETE_CHILDREN_ONLY)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "deleting a snapshot with its children and deleting only its children "
                      "exclude each other");
        return -1;
    }
    vms_delete_scope scope = VMS_DELETE_ONE;
    if (flags & VMSNAP_SNAPSHOT_DELETE_CHILDREN)
        scope = VMS_DELETE_WITH_CHILDREN;
    else if (flags & VMSNAP_SNAPSHOT_DELETE_CHILDREN_ONLY)
        scope = VMS_DELETE_CHILDREN_ONLY;
    int removed =
        (flags & VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY)
            ? vms_snapshot_meta_delete(snap_store(snap), snap_dom_name(snap), snap->def->name,
                                       scope, error)
            : vms_snapshot_data_delete(snap_store(snap), snap_dom_name(snap), snap->def->name,
                                       scope, snap_progress(snap), error);
    return removed < 0 ? -1 : 0;
}

int vmsnap_snapshot_deactivate(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    const unsigned int modes =
        VMSNAP_SNAPSHOT_DEACTIVATE_MERGE | VMSNAP_SNAPSHOT_DEACTIVATE_DISCARD;
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, modes | VMSNAP_SNAPSHOT_DEACTIVATE_FORCE, error))
        return -1;
    if ((flags & modes) == 0 || (flags & modes) == modes) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "deactivating a snapshot needs exactly one of merge and discard");
        return -1;
    }
    vms_deactivate_mode mode =
        (flags & VMSNAP_SNAPSHOT_DEACTIVATE_MERGE) ? VMS_DEACTIVATE_MERGE : VMS_DEACTIVATE_DISCARD;
    return vms_snapshot_data_deactivate(snap_store(snap), snap_dom_name(snap), snap->def->name,
                                        mode, flags & VMSNAP_SNAPSHOT_DEACTIVATE_FORCE,
                                        snap_progress(snap), error);
}

int vmsnap_snapshot_revert(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    const unsigned int run = VMSNAP_SNAPSHOT_REVERT_RUNNING | VMSNAP_SNAPSHOT_REVERT_PAUSED;
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, run | VMSNAP_SNAPSHOT_REVERT_FORCE, error))
        return -1;
    if ((flags & run) == run) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "reverting to a running and to a paused domain exclude each other");
        return -1;
    }
    /* The revert starts the domain itself, under the domain's lock. */
    return vms_snapshot_data_revert(snap_store(snap), snap_dom_name(snap), snap->def->name, flags,
                                    snap_progress(snap), error);
}

int vmsnap_snapshot_verify(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    return vms_snapshot_data_verify(snap_store(snap), snap_dom_name(snap), snap->def->name,
                                    snap_progress(snap), error)
               ? 0
               : -1;
}

int vmsnap_snapshot_start(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, snap, "snap", error) ||
        !vms_api_check_flags(__func__, flags, VMSNAP_SNAPSHOT_START_PAUSED, error))
        return -1;
    unsigned int revert = (flags & VMSNAP_SNAPSHOT_START_PAUSED) ? VMSNAP_SNAPSHOT_REVERT_PAUSED
                                                                 : VMSNAP_SNAPSHOT_REVERT_RUNNING;
    return vmsnap_snapshot_revert(snap, revert, error);
}

/* --- getters --------------------------------------------------------------- */

const char *vmsnap_snapshot_get_name(const vmsnap_snapshot *snap)
{
    return snap ? snap->def->name : NULL;
}

vmsnap_domain *vmsnap_snapshot_get_domain(const vmsnap_snapshot *snap)
{
    return snap ? snap->dom : NULL;
}

const char *vmsnap_snapshot_get_description(const vmsnap_snapshot *snap)
{
    return snap ? snap->def->description : NULL;
}

const char *vmsnap_snapshot_get_parent_name(const vmsnap_snapshot *snap)
{
    return snap ? snap->def->parent : NULL;
}

vmsnap_snapshot_state vmsnap_snapshot_get_state(const vmsnap_snapshot *snap)
{
    return snap ? snap->def->state : VMSNAP_SNAPSHOT_STATE_NONE;
}

long long vmsnap_snapshot_get_creation_time(const vmsnap_snapshot *snap)
{
    return snap ? snap->def->creation_time : 0;
}

vmsnap_snapshot_location vmsnap_snapshot_get_location(const vmsnap_snapshot *snap)
{
    return snap ? vms_snapshot_def_location(snap->def) : VMSNAP_SNAPSHOT_LOCATION_NONE;
}

bool vmsnap_snapshot_has_memory(const vmsnap_snapshot *snap)
{
    return snap && vms_snapshot_def_has_memory(snap->def);
}

const char *vmsnap_snapshot_state_to_string(vmsnap_snapshot_state state)
{
    return vms_snap_state_to_string(state);
}

const char *vmsnap_snapshot_location_to_string(vmsnap_snapshot_location location)
{
    switch (location) {
    case VMSNAP_SNAPSHOT_LOCATION_INTERNAL:
        return "internal";
    case VMSNAP_SNAPSHOT_LOCATION_EXTERNAL:
        return "external";
    case VMSNAP_SNAPSHOT_LOCATION_MIXED:
        return "mixed";
    case VMSNAP_SNAPSHOT_LOCATION_NONE:
        break;
    }
    return "none";
}

vmsnap_snapshot *vmsnap_snapshot_ref(vmsnap_snapshot *snap)
{
    if (snap)
        g_atomic_ref_count_inc(&snap->ref);
    return snap;
}

void vmsnap_snapshot_free(vmsnap_snapshot *snap)
{
    if (!snap || !g_atomic_ref_count_dec(&snap->ref))
        return;
    vms_snapshot_def_free(snap->def);
    vmsnap_domain_free(snap->dom);
    g_free(snap);
}

void vmsnap_snapshot_list_free(vmsnap_snapshot **snaps)
{
    if (!snaps)
        return;
    for (vmsnap_snapshot **s = snaps; *s; s++)
        vmsnap_snapshot_free(*s);
    g_free(snaps);
}
