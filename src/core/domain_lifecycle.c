/* domain_lifecycle.c: a domain's QEMU — start, stop, pause, and its state. */
#include "core/domain_lifecycle.h"

#include <string.h>

#include "core/domain_state.h"
#include "core/memory_file.h"
#include "core/qemu_config.h"
#include "qemu/qemu_process.h"
#include "qemu/qemu_snapshot.h"
#include "qemu/qmp.h"
#include "util/error.h"
#include "util/file.h"

/* Deadlines. TCG guests are slow, QMP answers are not. */
#define QMP_TIMEOUT_MS     5000
#define LAUNCH_TIMEOUT_MS  30000
#define TERMINATE_GRACE_MS 3000
#define LOG_TAIL_LINES     5
#define SERIAL_LOG_MAX     (16u * 1024 * 1024)

void vms_run_status_clear(vms_run_status *status)
{
    g_clear_pointer(&status->detail, g_free);
    status->pid = 0;
    status->state = VMSNAP_DOMAIN_STATE_SHUTOFF;
}

static vms_qemu_paths *paths_for(vms_store *store, const char *dom, bool create,
                                 vmsnap_error **error)
{
    g_autofree char *run_dir = vms_store_run_dir(store, dom, create, error);
    return run_dir ? vms_qemu_paths_new(run_dir) : NULL;
}

/* <serial type='file'> names where the guest's serial output goes; for
 * 'pty' (or no <serial>) vmsnap keeps it in the run directory. */
static void use_domain_serial_path(vms_qemu_paths *paths, const vms_domain_def *def)
{
    if (def->serial == VMS_SERIAL_FILE && def->serial_path) {
        g_free(paths->serial_log);
        paths->serial_log = g_strdup(def->serial_path);
    }
}

/* query-status's "status" as a run state. */
static vmsnap_domain_state state_from_qemu_status(const char *status)
{
    if (g_strcmp0(status, "running") == 0)
        return VMSNAP_DOMAIN_STATE_RUNNING;
    if (g_strcmp0(status, "guest-panicked") == 0 || g_strcmp0(status, "internal-error") == 0)
        return VMSNAP_DOMAIN_STATE_CRASHED;
    return VMSNAP_DOMAIN_STATE_PAUSED; /* paused, prelaunch, inmigrate, io-error, ... */
}

static char *qmp_status(vms_qmp *qmp, vmsnap_error **error)
{
    g_autofree char *reply = vms_qmp_command(qmp, "query-status", NULL, QMP_TIMEOUT_MS, error);
    return reply ? vms_qmp_json_get_string(reply, "status") : NULL;
}

static bool probe(vms_store *store, const char *dom, const vms_qemu_paths *paths,
                  vms_run_status *status, vmsnap_error **error)
{
    vms_run_status_clear(status);
    pid_t pid = vms_qemu_find(paths);
    if (pid == 0) {
        if (g_file_test(paths->pid_file, G_FILE_TEST_EXISTS)) {
            g_autofree char *tail = vms_qemu_log_tail(paths, LOG_TAIL_LINES);
            status->state = VMSNAP_DOMAIN_STATE_CRASHED;
            status->detail = g_strdup_printf(
                "QEMU of domain '%s' ended without a shutdown (killed or crashed)%s%s", dom,
                *tail ? "; the end of its log: " : "", tail);
        }
        return true;
    }
    status->pid = pid;
    vmsnap_error *qerr = NULL;
    g_autoptr(vms_qmp) qmp = vms_qmp_connect(paths->qmp_socket, QMP_TIMEOUT_MS, &qerr);
    g_autofree char *qemu_status = qmp ? qmp_status(qmp, &qerr) : NULL;
    if (!qemu_status) {
        vms_error_set(error, VMSNAP_ERR_QEMU,
                      "QEMU of domain '%s' (pid %d) runs but does not answer on its QMP socket "
                      "(%s); 'vmsnap destroy %s' stops it",
                      dom, (int)pid, vmsnap_error_get_message(qerr), dom);
        vmsnap_error_free(qerr);
        return false;
    }
    status->state = state_from_qemu_status(qemu_status);
    if (status->state == VMSNAP_DOMAIN_STATE_CRASHED)
        status->detail = g_strdup_printf("the guest of domain '%s' stopped with QEMU status '%s'",
                                         dom, qemu_status);
    return true;
}

bool vms_domain_get_run_status_locked(vms_store *store, const char *dom, vms_run_status *status,
                                      vmsnap_error **error)
{
    g_autoptr(vms_qemu_paths) paths = paths_for(store, dom, false, error);
    return paths && probe(store, dom, paths, status, error);
}

bool vms_domain_require_not_crashed(vms_store *store, const char *dom, vmsnap_domain_state *run,
                                    vmsnap_error **error)
{
    g_auto(vms_run_status) status = {0};
    if (!vms_domain_get_run_status_locked(store, dom, &status, error))
        return false;
    if (status.state == VMSNAP_DOMAIN_STATE_CRASHED) {
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' crashed; clean up with 'vmsnap destroy %s' first", dom, dom);
        return false;
    }
    *run = status.state;
    return true;
}

bool vms_domain_get_run_status(vms_store *store, const char *dom, vms_run_status *status,
                               vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = vms_domain_state_load(store, dom, 0, error);
    return state && vms_domain_get_run_status_locked(store, dom, status, error);
}

static bool is_live(vmsnap_domain_state state)
{
    return state == VMSNAP_DOMAIN_STATE_RUNNING || state == VMSNAP_DOMAIN_STATE_PAUSED;
}

/* Lock @dom exclusively and find its state: the common start of every
 * state-changing call. */
static vms_domain_state *lock_and_probe(vms_store *store, const char *dom, vms_qemu_paths **paths,
                                        vms_run_status *status, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE, error);
    if (!state)
        return NULL;
    *paths = paths_for(store, dom, true, error);
    if (!*paths || !probe(store, dom, *paths, status, error))
        return NULL;
    return g_steal_pointer(&state);
}

/* Connect, run one argument-less command, disconnect: the reply or NULL. */
static char *qmp_once(const vms_qemu_paths *paths, const char *command, vmsnap_error **error)
{
    g_autoptr(vms_qmp) qmp = vms_qmp_connect(paths->qmp_socket, QMP_TIMEOUT_MS, error);
    return qmp ? vms_qmp_command(qmp, command, NULL, QMP_TIMEOUT_MS, error) : NULL;
}

static bool refuse_not_running(const char *dom, vmsnap_error **error)
{
    vms_error_set(error, VMSNAP_ERR_INVALID_STATE, "domain '%s' is not running", dom);
    return false;
}

/* Launch QEMU for @def: the part of every start that runs under a lock the
 * caller already holds, with no QEMU running. */
static bool launch(vms_store *store, const char *dom, const vms_domain_def *def, bool paused,
                   bool incoming, vmsnap_error **error)
{
    g_autoptr(vms_qemu_paths) paths = paths_for(store, dom, true, error);
    if (!paths)
        return false;
    vms_qemu_cleanup_run_dir(paths); /* a crashed QEMU's pid file and socket */
    if (!vms_qemu_config_check_disks(def, error))
        return false;
    use_domain_serial_path(paths, def);
    g_auto(vms_qemu_config) config = {0};
    vms_qemu_config_from_domain(def, paused, &config);
    config.incoming = incoming;
    pid_t pid = vms_qemu_launch(&config, paths, LAUNCH_TIMEOUT_MS, error);
    if (pid <= 0) {
        vms_error_prefix(error, "cannot start domain '%s': ", dom);
        return false;
    }
    return true;
}

bool vms_domain_start(vms_store *store, const char *dom, bool paused, vmsnap_error **error)
{
    g_autoptr(vms_qemu_paths) paths = NULL;
    g_auto(vms_run_status) status = {0};
    g_autoptr(vms_domain_state) state = lock_and_probe(store, dom, &paths, &status, error);
    if (!state)
        return false;
    if (is_live(status.state)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE, "domain '%s' is already running", dom);
        return false;
    }
    return launch(store, dom, state->def, paused, false, error);
}

bool vms_domain_start_locked(vms_store *store, const char *dom, const vms_domain_def *def,
                             bool paused, vmsnap_error **error)
{
    return launch(store, dom, def, paused, false, error);
}

/* After a failed restore: no QEMU is left, and the error ends with what
 * QEMU logged (a receiving QEMU says why the state was refused only there). */
static void abandon_restore(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_autoptr(vms_qemu_paths) paths = paths_for(store, dom, false, NULL);
    g_autofree char *tail = paths ? vms_qemu_log_tail(paths, LOG_TAIL_LINES) : NULL;
    vms_domain_stop_locked(store, dom, NULL);
    if (tail && *tail && error && *error) {
        g_autofree char *message =
            g_strdup_printf("%s; QEMU's log ends with: %s", vmsnap_error_get_message(*error), tail);
        vmsnap_error_code code = vmsnap_error_get_code(*error);
        g_clear_pointer(error, vmsnap_error_free);
        vms_error_set(error, code, "%s", message);
    }
}

bool vms_domain_restore_locked(vms_store *store, const char *dom, const vms_domain_def *def,
                               int state_fd, bool trusted, bool paused,
                               const vms_progress *progress, vmsnap_error **error)
{
    if (!launch(store, dom, def, true, true, error))
        return false;
    g_autoptr(vms_qmp) qmp = vms_domain_connect_qmp(store, dom, error);
    bool ok = qmp && vms_memory_load(qmp, state_fd, trusted, progress, error);
    if (ok && !paused) {
        g_autofree char *reply = vms_qmp_command(qmp, "cont", NULL, QMP_TIMEOUT_MS, error);
        ok = reply != NULL;
    }
    if (!ok) {
        vms_error_prefix(error, "cannot resume domain '%s' from its saved memory: ", dom);
        /* QEMU answers one QMP client at a time: the stop below needs this
         * connection gone. */
        g_clear_pointer(&qmp, vms_qmp_free);
        abandon_restore(store, dom, error);
    }
    return ok;
}

bool vms_domain_shutdown(vms_store *store, const char *dom, unsigned int timeout_seconds,
                         vmsnap_error **error)
{
    pid_t pid;
    {
        g_autoptr(vms_qemu_paths) paths = NULL;
        g_auto(vms_run_status) status = {0};
        g_autoptr(vms_domain_state) state = lock_and_probe(store, dom, &paths, &status, error);
        if (!state)
            return false;
        if (!is_live(status.state))
            return refuse_not_running(dom, error);
        if (status.state == VMSNAP_DOMAIN_STATE_PAUSED) {
            vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                          "domain '%s' is paused and cannot react to the power button; resume "
                          "it first, or stop it at once with 'vmsnap destroy %s'",
                          dom, dom);
            return false;
        }
        g_autofree char *reply = qmp_once(paths, "system_powerdown", error);
        if (!reply)
            return false;
        pid = status.pid;
    }
    /* Wait without the lock, so other commands (domstate) are not held up
     * by a guest taking its time. */
    if (timeout_seconds == 0)
        return true;
    if (!vms_qemu_wait_exit(pid, (int)MIN(timeout_seconds, 86400u) * 1000)) {
        vms_error_set(error, VMSNAP_ERR_QEMU,
                      "domain '%s' did not shut down within %u seconds (the guest may ignore "
                      "the ACPI power button); it is still running: 'vmsnap destroy %s' stops "
                      "it at once",
                      dom, timeout_seconds, dom);
        return false;
    }
    return true;
}

/* Stop the QEMU @status found (if any) and clear its run files. */
static bool stop_qemu(const vms_qemu_paths *paths, const vms_run_status *status,
                      vmsnap_error **error)
{
    if (status->pid && !vms_qemu_terminate(status->pid, TERMINATE_GRACE_MS, error))
        return false;
    vms_qemu_cleanup_run_dir(paths);
    return true;
}

bool vms_domain_destroy(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_autoptr(vms_qemu_paths) paths = NULL;
    g_auto(vms_run_status) status = {0};
    g_autoptr(vms_domain_state) state = lock_and_probe(store, dom, &paths, &status, error);
    if (!state)
        return false;
    if (status.state == VMSNAP_DOMAIN_STATE_SHUTOFF)
        return refuse_not_running(dom, error);
    return stop_qemu(paths, &status, error);
}

bool vms_domain_stop_locked(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_autoptr(vms_qemu_paths) paths = paths_for(store, dom, true, error);
    g_auto(vms_run_status) status = {0};
    return paths && probe(store, dom, paths, &status, error) && stop_qemu(paths, &status, error);
}

/* Run one QMP command on a live domain whose state must be @required. */
static bool change_cpus(vms_store *store, const char *dom, vmsnap_domain_state required,
                        const char *command, vmsnap_error **error)
{
    g_autoptr(vms_qemu_paths) paths = NULL;
    g_auto(vms_run_status) status = {0};
    g_autoptr(vms_domain_state) state = lock_and_probe(store, dom, &paths, &status, error);
    if (!state)
        return false;
    if (!is_live(status.state))
        return refuse_not_running(dom, error);
    if (status.state != required) {
        if (required == VMSNAP_DOMAIN_STATE_RUNNING)
            vms_error_set(error, VMSNAP_ERR_INVALID_STATE, "domain '%s' is already paused", dom);
        else
            vms_error_set(error, VMSNAP_ERR_INVALID_STATE, "domain '%s' is not paused", dom);
        return false;
    }
    g_autofree char *reply = qmp_once(paths, command, error);
    return reply != NULL;
}

bool vms_domain_suspend(vms_store *store, const char *dom, vmsnap_error **error)
{
    return change_cpus(store, dom, VMSNAP_DOMAIN_STATE_RUNNING, "stop", error);
}

bool vms_domain_resume(vms_store *store, const char *dom, vmsnap_error **error)
{
    return change_cpus(store, dom, VMSNAP_DOMAIN_STATE_PAUSED, "cont", error);
}

bool vms_domain_activate_disks(vms_qmp *qmp, vmsnap_error **error)
{
    g_autofree char *status = qmp_status(qmp, error);
    if (!status)
        return false;
    if (strcmp(status, "postmigrate") != 0)
        return true;
    /* QEMU 7.2 activates its disks again only on 'cont' (docs/qemu.md). */
    g_autofree char *cont = vms_qmp_command(qmp, "cont", NULL, QMP_TIMEOUT_MS, error);
    g_autofree char *stop = cont ? vms_qmp_command(qmp, "stop", NULL, QMP_TIMEOUT_MS, error) : NULL;
    return stop != NULL;
}

vms_qmp *vms_domain_connect_qmp(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_autoptr(vms_qemu_paths) paths = paths_for(store, dom, false, error);
    return paths ? vms_qmp_connect(paths->qmp_socket, QMP_TIMEOUT_MS, error) : NULL;
}

char *vms_domain_read_serial_log(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = vms_domain_state_load(store, dom, 0, error);
    if (!state)
        return NULL;
    g_autoptr(vms_qemu_paths) paths = paths_for(store, dom, false, error);
    if (!paths)
        return NULL;
    use_domain_serial_path(paths, state->def);
    return vms_file_read_tail(paths->serial_log, SERIAL_LOG_MAX, error);
}
