/*
 * qmp_util.c: helpers shared by the src/qemu/ modules that run QMP commands
 * (see the header).
 */
#include "qemu/qmp_util.h"

#include "qemu/qmp_parse.h"

#include "util/error.h"

#include <string.h>
#include <unistd.h>

vms_qmp_value *vms_qmp_member(vms_qmp_value *obj, const char *key)
{
    vms_qmp_value *value = NULL;
    if (!obj || !json_object_is_type(obj, json_type_object) ||
        !json_object_object_get_ex(obj, key, &value))
        return NULL;
    return value;
}

const char *vms_qmp_member_string(vms_qmp_value *obj, const char *key)
{
    vms_qmp_value *value = vms_qmp_member(obj, key);
    return value && json_object_is_type(value, json_type_string) ? json_object_get_string(value)
                                                                 : NULL;
}

size_t vms_qmp_array_length(vms_qmp_value *value)
{
    return json_object_is_type(value, json_type_array) ? json_object_array_length(value) : 0;
}

vms_qmp_value *vms_qmp_command_json(vms_qmp *qmp, const char *command, const char *args_json,
                                    vmsnap_error **error)
{
    g_autofree char *reply = vms_qmp_command(qmp, command, args_json, VMS_QMP_COMMAND_MS, error);
    if (!reply)
        return NULL;
    /* The reply is text this client already parsed with limits and wrote
     * back compact; parse it again with the same depth (json-c's default,
     * 32, is less than a query-block of a long backing chain nests). */
    struct json_tokener *tok = json_tokener_new_ex(VMS_QMP_MAX_DEPTH + 1);
    vms_qmp_value *value = tok ? json_tokener_parse_ex(tok, reply, -1) : NULL;
    if (tok)
        json_tokener_free(tok);
    if (!value)
        vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU's reply to '%s' is not JSON: %.120s", command,
                      reply);
    return value;
}

void vms_qmp_command_best_effort(vms_qmp *qmp, const char *command, const char *args_json)
{
    g_autofree char *reply = vms_qmp_command(qmp, command, args_json, VMS_QMP_COMMAND_MS, NULL);
}

char *vms_qmp_unique_name(const char *kind)
{
    static gint counter;
    return g_strdup_printf("vms-%s-%d-%d", kind, (int)getpid(), g_atomic_int_add(&counter, 1));
}

char *vms_qmp_qdev_device_id(const char *qdev)
{
    static const char peripheral[] = "/machine/peripheral/";
    if (qdev[0] != '/')
        return g_strdup(qdev);
    if (g_str_has_prefix(qdev, peripheral)) {
        const char *id = qdev + strlen(peripheral);
        const char *end = strchr(id, '/');
        return end ? g_strndup(id, (gsize)(end - id)) : g_strdup(id);
    }
    return g_strdup(strrchr(qdev, '/') + 1);
}

bool vms_qmp_qdev_is(const char *qdev, const char *device_id)
{
    if (!qdev)
        return false;
    g_autofree char *id = vms_qmp_qdev_device_id(qdev);
    return strcmp(id, device_id) == 0;
}

gint64 vms_qmp_deadline_after(int timeout_ms)
{
    return g_get_monotonic_time() + (gint64)timeout_ms * 1000;
}

int vms_qmp_ms_left(gint64 deadline)
{
    gint64 left = (deadline - g_get_monotonic_time() + 999) / 1000;
    return left > 0 ? (int)MIN(left, G_MAXINT) : 0;
}
