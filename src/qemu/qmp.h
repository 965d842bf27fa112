/*
 * qmp.h: a client for QEMU's machine protocol (QMP) over a UNIX socket.
 *
 * One vms_qmp per connection. Commands are synchronous with a deadline;
 * asynchronous events that arrive meanwhile are queued in order and can be
 * waited for. Replies are untrusted input: every message is parsed with a
 * depth and size limit (qmp_parse.h) and a malformed one is an error, never
 * a crash. JSON (json-c) stays inside src/qemu/: callers see plain C values
 * or JSON text.
 * Ownership: returned strings and vms_qmp_event objects are the caller's.
 */
#ifndef VMS_QEMU_QMP_H
#define VMS_QEMU_QMP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <vmsnap/vmsnap.h>

typedef struct vms_qmp vms_qmp;

typedef struct {
    char *name;      /* "STOP", "JOB_STATUS_CHANGE", ... */
    char *data_json; /* the event's "data" object as compact JSON text, "{}" if absent */
    int64_t seconds; /* QEMU's timestamp */
    int64_t microseconds;
} vms_qmp_event;

void vms_qmp_event_free(vms_qmp_event *event);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_qmp_event, vms_qmp_event_free)

/* Connect to @socket_path (a path may exceed sun_path: it is reached through
 * its directory's descriptor), read the greeting, negotiate capabilities.
 * @timeout_ms bounds the whole exchange. Errors name the socket; a dead or
 * silent QEMU gives VMSNAP_ERR_QEMU (see include/vmsnap/vmsnap.h). */
vms_qmp *vms_qmp_connect(const char *socket_path, int timeout_ms, vmsnap_error **error);
void vms_qmp_free(vms_qmp *qmp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_qmp, vms_qmp_free)

/* QEMU's version from the greeting, e.g. "7.2.22". Borrowed. */
const char *vms_qmp_qemu_version(const vms_qmp *qmp);

/* The QMP error class ("GenericError", "CommandNotFound", "DeviceNotFound")
 * of the last command if QEMU refused it, else NULL. Borrowed; valid until
 * the next command. */
const char *vms_qmp_last_error_class(const vms_qmp *qmp);

/* false once the connection is unusable (QEMU closed it, or sent a
 * malformed message); a deadline passing leaves it usable. */
bool vms_qmp_is_usable(const vms_qmp *qmp);

/* Run @command with @args_json (a JSON object as text, or NULL). On success
 * returns the "return" value as compact JSON text ("{}" for an empty
 * object). A QEMU error reply becomes VMSNAP_ERR_QEMU with QEMU's
 * description, unchanged, in the message: "QEMU refused 'cont': <desc>"; its
 * class is vms_qmp_last_error_class(). A deadline passing is VMSNAP_ERR_QEMU
 * "QEMU did not answer 'cmd' within N ms". docs/qmp.md lists every message. */
char *vms_qmp_command(vms_qmp *qmp, const char *command, const char *args_json, int timeout_ms,
                      vmsnap_error **error);

/* The same, passing @fd with the command (SCM_RIGHTS), for 'getfd' and
 * 'add-fd'. */
char *vms_qmp_command_with_fd(vms_qmp *qmp, const char *command, const char *args_json, int fd,
                              int timeout_ms, vmsnap_error **error);

/* Human monitor passthrough: "human-monitor-command". A reply text that
 * starts with "Error:" becomes VMSNAP_ERR_QEMU. Returns the text. */
char *vms_qmp_hmp(vms_qmp *qmp, const char *command_line, int timeout_ms, vmsnap_error **error);

/* The oldest event named @name (NULL: any) — from the queue if one is
 * there, else the first to arrive within @timeout_ms — removed from the
 * queue; events of other names stay queued in their order, including those
 * arriving while waiting. Returns NULL with VMSNAP_ERR_QEMU on deadline
 * ("QEMU sent no 'STOP' event within N ms") or disconnect. */
vms_qmp_event *vms_qmp_wait_event(vms_qmp *qmp, const char *name, int timeout_ms,
                                  vmsnap_error **error);

/* Take the oldest queued event without waiting; NULL if none. */
vms_qmp_event *vms_qmp_next_event(vms_qmp *qmp);

/* Timeouts are in milliseconds; 0 or less means "do not wait". After QEMU
 * closes the socket or sends a malformed message the connection is unusable:
 * every later call fails with that first error. A reply that arrives after
 * its command timed out is recognised by its id and dropped. */

/* Helpers for reading returned JSON text without json-c in the caller.
 * Keys are dotted paths; a part made of digits indexes an array
 * ("0.inserted.node-name" in query-block's return); NULL or "" is the whole
 * value. Invalid JSON reads as absent. */
/* The string member @key of the JSON object @json (dotted paths allowed:
 * "status", "qemu.major"); NULL if absent or not a string/number. */
char *vms_qmp_json_get_string(const char *json, const char *key);
bool vms_qmp_json_get_int(const char *json, const char *key, int64_t *value);
bool vms_qmp_json_get_bool(const char *json, const char *key, bool *value);

/* The member at @key as compact JSON text (any type); NULL if absent. */
char *vms_qmp_json_get_json(const char *json, const char *key);
/* The length of the array at @key; false if absent or not an array. */
bool vms_qmp_json_get_length(const char *json, const char *key, size_t *length);

/* Quote @text as a JSON string literal (for building args_json). */
char *vms_qmp_json_quote(const char *text);

#endif
