/*
 * qmp_util.h: helpers internal to src/qemu/ for the modules that run QMP
 * commands and read their replies as json-c values (qemu_snapshot.c,
 * qemu_blockjob.c). Not for other layers: json-c stays inside src/qemu/
 * (docs/adr/0001); callers outside see qmp.h's text helpers.
 *
 * Values from vms_qmp_command_json() are the caller's (g_autoptr); members
 * read from them are borrowed from their parent.
 */
#ifndef VMS_QEMU_QMP_UTIL_H
#define VMS_QEMU_QMP_UTIL_H

#include <glib.h>
#include <json-c/json.h>
#include <stddef.h>
#include <vmsnap/vmsnap.h>

#include "qemu/qmp.h"

/* The deadline of a command QEMU answers at once. */
#define VMS_QMP_COMMAND_MS 5000

typedef json_object vms_qmp_value;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_qmp_value, json_object_put)

/* ---- reading values ---------------------------------------------------- */

/* Member @key of the object @obj; NULL if @obj is NULL or not an object, or
 * @key is absent. */
vms_qmp_value *vms_qmp_member(vms_qmp_value *obj, const char *key);

/* The string member @key of @obj; NULL if absent or not a string. */
const char *vms_qmp_member_string(vms_qmp_value *obj, const char *key);

/* The number of items of the array @value; 0 if it is not an array. */
size_t vms_qmp_array_length(vms_qmp_value *value);

/* ---- commands ---------------------------------------------------------- */

/* Run @command (deadline VMS_QMP_COMMAND_MS) and parse its return value;
 * never NULL on success. */
vms_qmp_value *vms_qmp_command_json(vms_qmp *qmp, const char *command, const char *args_json,
                                    vmsnap_error **error);

/* Run a command whose outcome does not matter (cleanup on a path that
 * already failed): its error must not replace the first one. */
void vms_qmp_command_best_effort(vms_qmp *qmp, const char *command, const char *args_json);

/* ---- names and deadlines ----------------------------------------------- */

/* "vms-@kind-<pid>-<n>": unique in this process, and the pid keeps two
 * vmsnap processes talking to the same QEMU apart. For jobs and fd names. */
char *vms_qmp_unique_name(const char *kind);

/* The device id in query-block's "qdev": QEMU 7.2 gives the id itself for
 * some devices and a QOM path for others — for virtio-blk-pci
 * "/machine/peripheral/<id>/virtio-backend", where the id is the part after
 * "peripheral", not the last one; other QOM paths end in the id. */
char *vms_qmp_qdev_device_id(const char *qdev);

/* Whether query-block's @qdev (may be NULL) names the device @device_id. */
bool vms_qmp_qdev_is(const char *qdev, const char *device_id);

/* The monotonic time @timeout_ms from now, for vms_qmp_ms_left(). */
gint64 vms_qmp_deadline_after(int timeout_ms);

/* Milliseconds until @deadline, rounded up; 0 once it has passed. */
int vms_qmp_ms_left(gint64 deadline);

#endif
