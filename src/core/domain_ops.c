/* domain_ops.c: defining, reading, listing and undefining domains. */
#include "core/domain_ops.h"

#include <string.h>

#include "core/domain_lifecycle.h"
#include "core/domain_state.h"
#include "util/error.h"

/* The name of another domain that uses @uuid, or NULL. */
static char *domain_with_uuid(vms_store *store, const unsigned char uuid[16], const char *except,
                              vmsnap_error **error)
{
    g_auto(GStrv) names = vms_store_list_domains(store, error);
    if (!names)
        return NULL;
    for (char **n = names; *n; n++) {
        if (strcmp(*n, except) == 0)
            continue;
        /* No lock on the other domain: taking it while holding ours could
         * deadlock with a define running the other way round, and files are
         * only ever replaced whole, so an unlocked read is never torn. */
        g_autoptr(vms_domain_def) other = vms_domain_state_read_definition(store, *n, NULL);
        if (other && memcmp(other->uuid, uuid, 16) == 0)
            return g_strdup(*n);
    }
    return NULL;
}

vms_domain_def *vms_domain_define(vms_store *store, const char *xml, bool no_overwrite,
                                  vmsnap_error **error)
{
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, error);
    if (!def)
        return NULL;

    g_autoptr(vms_domain_lock) lock = vms_store_lock_domain(store, def->name, true, true, error);
    if (!lock)
        return NULL;

    if (vms_store_domain_exists(store, def->name)) {
        if (no_overwrite) {
            vms_error_set(error, VMSNAP_ERR_DOMAIN_EXISTS, "domain '%s' is already defined",
                          def->name);
            return NULL;
        }
        g_autoptr(vms_domain_def) old = vms_domain_state_read_definition(store, def->name, error);
        if (!old)
            return NULL;
        if (def->uuid_generated) {
            memcpy(def->uuid, old->uuid, 16);
        } else if (memcmp(def->uuid, old->uuid, 16) != 0) {
            char want[37], got[37];
            vms_uuid_format(old->uuid, want);
            vms_uuid_format(def->uuid, got);
            vms_error_set(error, VMSNAP_ERR_DOMAIN_EXISTS,
                          "domain '%s' is already defined with uuid %s, not %s; leave <uuid> out "
                          "or use the existing one",
                          def->name, want, got);
            return NULL;
        }
    }

    vmsnap_error *lerr = NULL;
    g_autofree char *clash = domain_with_uuid(store, def->uuid, def->name, &lerr);
    if (lerr) {
        vms_error_propagate(error, lerr);
        return NULL;
    }
    if (clash) {
        char uuid[37];
        vms_uuid_format(def->uuid, uuid);
        vms_error_set(error, VMSNAP_ERR_DOMAIN_EXISTS,
                      "domain '%s' already uses uuid %s; give '%s' another uuid or none", clash,
                      uuid, def->name);
        return NULL;
    }

    g_autofree char *canonical = vms_domain_def_format(def, 0);
    if (!vms_store_write_domain_xml(store, def->name, canonical, error))
        return NULL;
    return g_steal_pointer(&def);
}

vms_domain_def *vms_domain_get(vms_store *store, const char *name, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = vms_domain_state_load(store, name, 0, error);
    if (!state)
        return NULL;
    return g_steal_pointer(&state->def);
}

char **vms_domain_list_names(vms_store *store, vmsnap_error **error)
{
    return vms_store_list_domains(store, error);
}

bool vms_domain_undefine(vms_store *store, const char *name, bool with_snapshots,
                         vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, name, VMS_LOAD_EXCLUSIVE, error);
    if (!state)
        return false;
    g_auto(vms_run_status) status = {0};
    if (!vms_domain_get_run_status_locked(store, name, &status, error))
        return false;
    if (status.state == VMSNAP_DOMAIN_STATE_RUNNING || status.state == VMSNAP_DOMAIN_STATE_PAUSED) {
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' is running; shut it down or destroy it before undefining it",
                      name);
        return false;
    }
    g_auto(GStrv) snaps = vms_store_list_snapshots(store, name, error);
    if (!snaps)
        return false;
    guint count = g_strv_length(snaps);
    if (count > 0 && !with_snapshots) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "domain '%s' has %u snapshot%s; undefine it with --snapshots-metadata to "
                      "remove their metadata too (disk images are kept)",
                      name, count, count == 1 ? "" : "s");
        return false;
    }
    return vms_store_remove_run_dir(store, name, error) &&
           vms_store_remove_domain(store, name, error);
}
