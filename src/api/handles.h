/*
 * handles.h: what the public opaque handles hold. Private to src/api/.
 *
 * A handle caches the definition it was made from (domain handles the
 * domain definition, snapshot handles a summary without the embedded
 * domain) so getters never touch the disk; calls that change an object
 * replace the cache of the handle they were made through.
 */
#ifndef VMS_API_HANDLES_H
#define VMS_API_HANDLES_H

#include <glib.h>
#include <vmsnap/vmsnap.h>

#include "conf/domain_conf.h"
#include "conf/snapshot_conf.h"
#include "store/store.h"
#include "util/progress.h"

struct vmsnap_conn {
    gatomicrefcount ref;
    vms_store *store;
    vms_progress progress; /* what long operations report to */
    vmsnap_progress_cb user_progress;
    void *user_progress_opaque;
};

struct vmsnap_domain {
    gatomicrefcount ref;
    vmsnap_conn *conn;
    vms_domain_def *def;
    char uuid[37];
};

struct vmsnap_snapshot {
    gatomicrefcount ref;
    vmsnap_domain *dom;
    vms_snapshot_def *def;
};

/* New handles; they take ownership of @def and a reference to the parent. */
vmsnap_domain *vms_api_domain_new(vmsnap_conn *conn, vms_domain_def *def);
vmsnap_snapshot *vms_api_snapshot_new(vmsnap_domain *dom, vms_snapshot_def *def);

/* Refuse flags outside @allowed, naming the call. */
bool vms_api_check_flags(const char *func, unsigned int flags, unsigned int allowed,
                         vmsnap_error **error);

/* Refuse a NULL argument, naming it. */
bool vms_api_check_arg(const char *func, const void *arg, const char *arg_name,
                       vmsnap_error **error);

#endif
