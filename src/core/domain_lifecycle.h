/*
 * domain_lifecycle.h: starting and stopping a domain's QEMU and finding
 * out whether it runs. Daemonless: every call works out the state from the
 * run directory (pid file, /proc, QMP) under the domain's lock.
 *
 * Run states: a live QEMU answers query-status (running or paused); no QEMU
 * and no pid file is "shut off" (QEMU removes its pid file when it exits
 * normally, guest power-off included); no QEMU but a pid file left behind is
 * "crashed" (killed or crashed) until the next start or destroy cleans up.
 */
#ifndef VMS_CORE_DOMAIN_LIFECYCLE_H
#define VMS_CORE_DOMAIN_LIFECYCLE_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>
#include <vmsnap/vmsnap.h>

#include "conf/domain_conf.h"
#include "store/store.h"
#include "util/progress.h"

typedef struct {
    vmsnap_domain_state state;
    pid_t pid;    /* the live QEMU, 0 if none */
    char *detail; /* a sentence for CRASHED, else NULL */
} vms_run_status;

void vms_run_status_clear(vms_run_status *status);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(vms_run_status, vms_run_status_clear)

bool vms_domain_get_run_status(vms_store *store, const char *dom, vms_run_status *status,
                               vmsnap_error **error);

/* For callers that already hold the domain's lock. */
bool vms_domain_get_run_status_locked(vms_store *store, const char *dom, vms_run_status *status,
                                      vmsnap_error **error);

/* The run state, for operations that work in any state but crashed (nothing
 * consistent to work on: refused, telling the user to destroy it first). The
 * caller holds the lock. */
bool vms_domain_require_not_crashed(vms_store *store, const char *dom, vmsnap_domain_state *run,
                                    vmsnap_error **error);

bool vms_domain_start(vms_store *store, const char *dom, bool paused, vmsnap_error **error);

/* Start @def's QEMU (booting; paused with @paused); the caller holds the
 * domain's exclusive lock and no QEMU runs. */
bool vms_domain_start_locked(vms_store *store, const char *dom, const vms_domain_def *def,
                             bool paused, vmsnap_error **error);

/* Start @def's QEMU from a saved VM state instead of booting: QEMU starts
 * with -S -incoming defer, is fed the memory file @state_fd (checked with
 * vms_memory_file_check(); its checksums are checked again on the way
 * unless @trusted; "loading memory" goes to @progress), then runs unless
 * @paused. The
 * caller holds the domain's exclusive lock and no QEMU runs. On failure no
 * QEMU is left and the error ends with the end of QEMU's log. */
bool vms_domain_restore_locked(vms_store *store, const char *dom, const vms_domain_def *def,
                               int state_fd, bool trusted, bool paused,
                               const vms_progress *progress, vmsnap_error **error);
bool vms_domain_shutdown(vms_store *store, const char *dom, unsigned int timeout_seconds,
                         vmsnap_error **error);
bool vms_domain_destroy(vms_store *store, const char *dom, vmsnap_error **error);
bool vms_domain_suspend(vms_store *store, const char *dom, vmsnap_error **error);
bool vms_domain_resume(vms_store *store, const char *dom, vmsnap_error **error);
/* Stop the domain's QEMU at once, if one runs (or clear a crashed one's
 * leftovers); the caller holds the domain's exclusive lock. */
bool vms_domain_stop_locked(vms_store *store, const char *dom, vmsnap_error **error);

/* A QMP connection to the domain's running QEMU; the caller holds the lock. */
struct vms_qmp *vms_domain_connect_qmp(vms_store *store, const char *dom, vmsnap_error **error);

/* A QEMU left in 'postmigrate' (paused after its memory was saved, by a
 * vmsnap that did not get to resume it) has inactive disks: block
 * operations fail until 'cont'. Activate them with 'cont' and 'stop' back
 * to back; any other state is left alone. */
bool vms_domain_activate_disks(struct vms_qmp *qmp, vmsnap_error **error);

char *vms_domain_read_serial_log(vms_store *store, const char *dom, vmsnap_error **error);

#endif
