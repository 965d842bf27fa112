/* error.c: the error object shared by every layer and the public API. */
#include "util/error.h"

#include <string.h>

vmsnap_error *vms_error_new(vmsnap_error_code code, const char *message)
{
    vmsnap_error *err = g_new0(vmsnap_error, 1);
    err->code = code;
    err->message = g_strdup(message);
    return err;
}

static void error_set_valist(vmsnap_error **error, vmsnap_error_code code, const char *suffix,
                             const char *fmt, va_list ap) G_GNUC_PRINTF(4, 0);

static void error_set_valist(vmsnap_error **error, vmsnap_error_code code, const char *suffix,
                             const char *fmt, va_list ap)
{
    if (!error || *error)
        return;
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    vmsnap_error *err = g_new0(vmsnap_error, 1);
    err->code = code;
    err->message = suffix ? g_strconcat(msg, ": ", suffix, NULL) : g_steal_pointer(&msg);
    *error = err;
}

void vms_error_set(vmsnap_error **error, vmsnap_error_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_set_valist(error, code, NULL, fmt, ap);
    va_end(ap);
}

void vms_error_set_errno(vmsnap_error **error, vmsnap_error_code code, int errnum, const char *fmt,
                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_set_valist(error, code, g_strerror(errnum), fmt, ap);
    va_end(ap);
}

void vms_error_prefix(vmsnap_error **error, const char *fmt, ...)
{
    if (!error || !*error)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *prefix = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *joined = g_strconcat(prefix, (*error)->message, NULL);
    g_free((*error)->message);
    (*error)->message = joined;
}

void vms_error_append(vmsnap_error **error, const char *fmt, ...)
{
    if (!error || !*error)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *suffix = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *joined = g_strconcat((*error)->message, suffix, NULL);
    g_free((*error)->message);
    (*error)->message = joined;
}

void vms_error_propagate(vmsnap_error **dest, vmsnap_error *src)
{
    if (!src)
        return;
    if (dest && !*dest)
        *dest = src;
    else
        vmsnap_error_free(src);
}

vmsnap_error_code vmsnap_error_get_code(const vmsnap_error *error)
{
    return error ? error->code : VMSNAP_ERR_OK;
}

const char *vmsnap_error_get_message(const vmsnap_error *error)
{
    return error ? error->message : "";
}

void vmsnap_error_free(vmsnap_error *error)
{
    if (!error)
        return;
    g_free(error->message);
    g_free(error);
}

const char *vmsnap_error_code_to_string(vmsnap_error_code code)
{
    static const char *const names[] = {
        [VMSNAP_ERR_OK] = "ok",
        [VMSNAP_ERR_INTERNAL] = "internal",
        [VMSNAP_ERR_INVALID_ARG] = "invalid-argument",
        [VMSNAP_ERR_XML] = "xml",
        [VMSNAP_ERR_CONFIG] = "config",
        [VMSNAP_ERR_UNSUPPORTED] = "unsupported",
        [VMSNAP_ERR_INVALID_NAME] = "invalid-name",
        [VMSNAP_ERR_NO_DOMAIN] = "no-domain",
        [VMSNAP_ERR_DOMAIN_EXISTS] = "domain-exists",
        [VMSNAP_ERR_NO_SNAPSHOT] = "no-snapshot",
        [VMSNAP_ERR_SNAPSHOT_EXISTS] = "snapshot-exists",
        [VMSNAP_ERR_NO_PARENT] = "no-parent",
        [VMSNAP_ERR_NO_CURRENT] = "no-current",
        [VMSNAP_ERR_OPERATION_DENIED] = "operation-denied",
        [VMSNAP_ERR_IO] = "io",
        [VMSNAP_ERR_CORRUPT] = "corrupt",
        [VMSNAP_ERR_BUSY] = "busy",
        [VMSNAP_ERR_QEMU] = "qemu",
        [VMSNAP_ERR_QEMU_IMG] = "qemu-img",
        [VMSNAP_ERR_INVALID_STATE] = "invalid-state",
    };
    if ((size_t)code < G_N_ELEMENTS(names) && names[code])
        return names[code];
    return "unknown";
}

void vmsnap_string_free(char *str)
{
    g_free(str);
}

void vmsnap_string_list_free(char **list)
{
    g_strfreev(list);
}
