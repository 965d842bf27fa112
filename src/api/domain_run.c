/* domain_run.c: the public calls for running domains. */
#include "api/handles.h"

#include "core/domain_lifecycle.h"
#include "core/domain_state.h"
#include "util/error.h"

#include <string.h>

const char *vmsnap_domain_state_to_string(vmsnap_domain_state state)
{
    switch (state) {
    case VMSNAP_DOMAIN_STATE_RUNNING:
        return "running";
    case VMSNAP_DOMAIN_STATE_PAUSED:
        return "paused";
    case VMSNAP_DOMAIN_STATE_CRASHED:
        return "crashed";
    case VMSNAP_DOMAIN_STATE_SHUTOFF:
        break;
    }
    return "shut off";
}

int vmsnap_domain_get_state(vmsnap_domain *dom, vmsnap_domain_state *state, char **detail,
                            unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_arg(__func__, state, "state", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    g_auto(vms_run_status) status = {0};
    if (!vms_domain_get_run_status(dom->conn->store, dom->def->name, &status, error))
        return -1;
    *state = status.state;
    if (detail)
        *detail = g_steal_pointer(&status.detail);
    return 0;
}

int vmsnap_domain_start(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, VMSNAP_DOMAIN_START_PAUSED, error))
        return -1;
    bool paused = flags & VMSNAP_DOMAIN_START_PAUSED;
    return vms_domain_start(dom->conn->store, dom->def->name, paused, error) ? 0 : -1;
}

int vmsnap_domain_shutdown(vmsnap_domain *dom, unsigned int timeout_seconds, unsigned int flags,
                           vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    return vms_domain_shutdown(dom->conn->store, dom->def->name, timeout_seconds, error) ? 0 : -1;
}

int vmsnap_domain_destroy(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    return vms_domain_destroy(dom->conn->store, dom->def->name, error) ? 0 : -1;
}

int vmsnap_domain_suspend(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    return vms_domain_suspend(dom->conn->store, dom->def->name, error) ? 0 : -1;
}

int vmsnap_domain_resume(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    return vms_domain_resume(dom->conn->store, dom->def->name, error) ? 0 : -1;
}

int vmsnap_conn_recover_domain(vmsnap_conn *conn, const char *name, unsigned int flags,
                               char **report, vmsnap_error **error)
{
    if (report)
        *report = NULL;
    if (!vms_api_check_arg(__func__, conn, "conn", error) ||
        !vms_api_check_arg(__func__, name, "name", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    g_autofree char *sentence = NULL;
    if (!vms_domain_recover(conn->store, name, &sentence, error))
        return -1;
    int recovered = sentence != NULL;
    if (report && sentence)
        *report = strdup(sentence); /* vmsnap_string_free() or free() */
    return recovered;
}

char *vmsnap_domain_get_serial_log(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, dom, "dom", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return NULL;
    return vms_domain_read_serial_log(dom->conn->store, dom->def->name, error);
}
