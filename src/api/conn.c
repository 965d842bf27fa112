/* conn.c: connections, argument checks and the library version. */
#include "api/handles.h"

#include "util/error.h"
#include "vmsnap-config.h"

bool vms_api_check_flags(const char *func, unsigned int flags, unsigned int allowed,
                         vmsnap_error **error)
{
    if (flags & ~allowed) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "%s: unsupported flags 0x%x", func,
                      flags & ~allowed);
        return false;
    }
    return true;
}

bool vms_api_check_arg(const char *func, const void *arg, const char *arg_name,
                       vmsnap_error **error)
{
    if (!arg) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "%s: %s must not be NULL", func, arg_name);
        return false;
    }
    return true;
}

vmsnap_conn *vmsnap_conn_open(const char *state_dir, unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_flags(__func__, flags, 0, error))
        return NULL;
    g_autofree char *root = state_dir ? g_strdup(state_dir) : vms_store_default_root();
    vms_store *store = vms_store_open(root, error);
    if (!store)
        return NULL;
    vmsnap_conn *conn = g_new0(vmsnap_conn, 1);
    g_atomic_ref_count_init(&conn->ref);
    conn->store = store;
    return conn;
}

const char *vmsnap_conn_get_state_dir(const vmsnap_conn *conn)
{
    return conn ? vms_store_root(conn->store) : NULL;
}

/* Adapts the library's byte counts to the public callback's types. */
static void report_to_caller(const char *what, uint64_t done, uint64_t total, void *opaque)
{
    const vmsnap_conn *conn = opaque;
    conn->user_progress(what, done, total, conn->user_progress_opaque);
}

int vmsnap_conn_set_progress_callback(vmsnap_conn *conn, vmsnap_progress_cb cb, void *opaque,
                                      unsigned int flags, vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, conn, "conn", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    conn->user_progress = cb;
    conn->user_progress_opaque = opaque;
    conn->progress.report = cb ? report_to_caller : NULL;
    conn->progress.opaque = conn;
    return 0;
}

vmsnap_conn *vmsnap_conn_ref(vmsnap_conn *conn)
{
    if (conn)
        g_atomic_ref_count_inc(&conn->ref);
    return conn;
}

void vmsnap_conn_free(vmsnap_conn *conn)
{
    if (!conn || !g_atomic_ref_count_dec(&conn->ref))
        return;
    vms_store_free(conn->store);
    g_free(conn);
}

const char *vmsnap_version(void)
{
    return VMSNAP_VERSION;
}
