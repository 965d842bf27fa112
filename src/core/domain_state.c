/* domain_state.c: loading one domain's metadata under its lock. */
#include "core/domain_state.h"

#include "core/journal.h"

#include "util/error.h"

static void snapshot_def_destroy(gpointer def)
{
    vms_snapshot_def_free(def);
}

vms_domain_def *vms_domain_state_read_definition(vms_store *store, const char *dom,
                                                 vmsnap_error **error)
{
    g_autofree char *xml = vms_store_read_domain_xml(store, dom, error);
    if (!xml)
        return NULL;
    vmsnap_error *perr = NULL;
    vms_domain_def *def = vms_domain_def_parse_string(xml, &perr);
    if (!def) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "the definition of domain '%s' cannot be read (%s); fix %s/domains/%s/"
                      "domain.xml or define the domain again",
                      dom, vmsnap_error_get_message(perr), vms_store_root(store), dom);
        vmsnap_error_free(perr);
    }
    return def;
}

/* Parse the metadata file of snapshot @name; it must name itself. */
static vms_snapshot_def *parse_snapshot(vms_domain_state *state, const char *name, const char *xml,
                                        vmsnap_error **error)
{
    vmsnap_error *perr = NULL;
    g_autoptr(vms_snapshot_def) def = vms_snapshot_def_parse_string(xml, &perr);
    if (!def) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "the metadata of snapshot '%s' of domain '%s' cannot be read (%s); fix or "
                      "remove %s/domains/%s/snapshots/%s.xml",
                      name, state->name, vmsnap_error_get_message(perr),
                      vms_store_root(state->store), state->name, name);
        vmsnap_error_free(perr);
        return NULL;
    }
    if (g_strcmp0(def->name, name) != 0) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "the metadata file of snapshot '%s' of domain '%s' names the snapshot "
                      "'%s'; fix or remove %s/domains/%s/snapshots/%s.xml",
                      name, state->name, def->name ? def->name : "", vms_store_root(state->store),
                      state->name, name);
        return NULL;
    }
    return g_steal_pointer(&def);
}

vms_snapshot_def *vms_domain_state_read_snapshot(vms_domain_state *state, const char *name,
                                                 vmsnap_error **error)
{
    if (!vms_store_snapshot_exists(state->store, state->name, name)) {
        vms_error_set(error, VMSNAP_ERR_NO_SNAPSHOT, "domain '%s' has no snapshot named '%s'",
                      state->name, name);
        return NULL;
    }
    g_autofree char *xml = vms_store_read_snapshot_xml(state->store, state->name, name, error);
    if (!xml)
        return NULL;
    return parse_snapshot(state, name, xml, error);
}

/* Parse one snapshot file into the tree. */
static bool add_snapshot(const char *snap, const char *xml, gpointer data, vmsnap_error **error)
{
    vms_domain_state *state = data;
    vms_snapshot_def *def = parse_snapshot(state, snap, xml, error);
    return def && vms_tree_add(state->tree, def->name, def->parent, def, error);
}

bool vms_domain_state_load_tree(vms_domain_state *state, vmsnap_error **error)
{
    state->tree = vms_tree_new(snapshot_def_destroy);
    return vms_store_read_all_snapshots(state->store, state->name, add_snapshot, state, error) &&
           vms_tree_link(state->tree, error);
}

/* Whether @dom has a journal (an operation a dead process left). */
static bool has_journal(vms_store *store, const char *dom)
{
    bool absent = false;
    vmsnap_error *err = NULL;
    g_autofree char *text = vms_store_read_journal(store, dom, &absent, &err);
    vmsnap_error_free(err);
    return text != NULL;
}

/* Under the exclusive lock: finish or undo what a journal records, with a
 * state of its own (recovery may run whole operations again). */
static bool recover_locked(vms_store *store, const char *dom, vms_domain_lock *lock,
                           vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = g_new0(vms_domain_state, 1);
    state->store = store;
    state->name = g_strdup(dom);
    state->def = vms_domain_state_read_definition(store, dom, error);
    if (!state->def)
        return false;
    vmsnap_error *cerr = NULL;
    state->current = vms_store_read_current(store, dom, &cerr);
    if (cerr) {
        vms_error_propagate(error, cerr);
        return false;
    }
    if (!vms_domain_state_load_tree(state, error))
        return false;
    (void)lock; /* held by the caller throughout */
    return vms_journal_recover(state, NULL, error);
}

bool vms_domain_recover(vms_store *store, const char *dom, char **report, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load_raw(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    return state && vms_journal_recover(state, report, error);
}

vms_domain_state *vms_domain_state_load(vms_store *store, const char *dom, unsigned int flags,
                                        vmsnap_error **error)
{
    for (int attempt = 0;; attempt++) {
        g_autoptr(vms_domain_lock) lock =
            vms_store_lock_domain(store, dom, (flags & VMS_LOAD_EXCLUSIVE) != 0, false, error);
        if (!lock)
            return NULL;
        if (!has_journal(store, dom))
            return vms_domain_state_load_raw_locked(store, dom, flags, g_steal_pointer(&lock),
                                                    error);
        if (flags & VMS_LOAD_EXCLUSIVE) {
            if (!recover_locked(store, dom, lock, error))
                return NULL;
            return vms_domain_state_load_raw_locked(store, dom, flags, g_steal_pointer(&lock),
                                                    error);
        }
        /* A reader found an operation to finish: it takes the exclusive
         * lock for that, then reads again. */
        g_clear_pointer(&lock, vms_domain_lock_release);
        if (attempt > 0) {
            vms_error_set(error, VMSNAP_ERR_BUSY,
                          "domain '%s' has an interrupted operation that was not completed; "
                          "run 'vmsnap recover %s'",
                          dom, dom);
            return NULL;
        }
        g_autoptr(vms_domain_state) writer =
            vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE, error);
        if (!writer)
            return NULL;
    }
}

vms_domain_state *vms_domain_state_load_raw(vms_store *store, const char *dom, unsigned int flags,
                                            vmsnap_error **error)
{
    vms_domain_lock *lock =
        vms_store_lock_domain(store, dom, (flags & VMS_LOAD_EXCLUSIVE) != 0, false, error);
    return lock ? vms_domain_state_load_raw_locked(store, dom, flags, lock, error) : NULL;
}

vms_domain_state *vms_domain_state_load_raw_locked(vms_store *store, const char *dom,
                                                   unsigned int flags, vms_domain_lock *lock,
                                                   vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = g_new0(vms_domain_state, 1);
    state->store = store;
    state->name = g_strdup(dom);
    state->lock = lock;

    state->def = vms_domain_state_read_definition(store, dom, error);
    if (!state->def)
        return NULL;

    vmsnap_error *cerr = NULL;
    state->current = vms_store_read_current(store, dom, &cerr);
    if (cerr) {
        vms_error_propagate(error, cerr);
        return NULL;
    }

    if ((flags & VMS_LOAD_SNAPSHOTS) && !vms_domain_state_load_tree(state, error))
        return NULL;

    /* A current record naming a snapshot that is gone (a crash between two
     * steps of a delete) means "no current snapshot". */
    if (state->current && state->tree && !vms_tree_lookup(state->tree, state->current))
        g_clear_pointer(&state->current, g_free);
    return g_steal_pointer(&state);
}

void vms_domain_state_free(vms_domain_state *state)
{
    if (!state)
        return;
    g_clear_pointer(&state->tree, vms_tree_free);
    g_clear_pointer(&state->def, vms_domain_def_free);
    g_free(state->current);
    g_free(state->name);
    g_clear_pointer(&state->lock, vms_domain_lock_release);
    g_free(state);
}

vms_tree_node *vms_domain_state_find(vms_domain_state *state, const char *name,
                                     vmsnap_error **error)
{
    vms_tree_node *node = name ? vms_tree_lookup(state->tree, name) : NULL;
    if (!node)
        vms_error_set(error, VMSNAP_ERR_NO_SNAPSHOT, "domain '%s' has no snapshot named '%s'",
                      state->name, name ? name : "");
    return node;
}

bool vms_domain_state_save_snapshot(vms_domain_state *state, const vms_snapshot_def *def,
                                    vmsnap_error **error)
{
    g_autofree char *xml = vms_snapshot_def_format(def, 0);
    return vms_store_write_snapshot_xml(state->store, state->name, def->name, xml, error);
}

bool vms_domain_state_set_current(vms_domain_state *state, const char *name, vmsnap_error **error)
{
    if (!vms_store_write_current(state->store, state->name, name, error))
        return false;
    g_free(state->current);
    state->current = g_strdup(name);
    return true;
}

vms_snapshot_def *vms_snapshot_def_summary(const vms_snapshot_def *def)
{
    vms_snapshot_def *copy = vms_snapshot_def_copy(def);
    g_clear_pointer(&copy->domain, vms_domain_def_free);
    return copy;
}
