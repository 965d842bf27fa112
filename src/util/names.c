/* names.c: validation of names that become file names. */
#include "util/names.h"

#include <string.h>

#include "util/error.h"

bool vms_name_validate(const char *what, const char *name, vmsnap_error **error)
{
    if (!name || !*name) {
        vms_error_set(error, VMSNAP_ERR_INVALID_NAME, "%s name is empty", what);
        return false;
    }
    size_t len = strlen(name);
    if (len > VMS_NAME_MAX) {
        vms_error_set(error, VMSNAP_ERR_INVALID_NAME,
                      "%s name is %zu bytes long; the limit is %d bytes", what, len, VMS_NAME_MAX);
        return false;
    }
    if (!g_utf8_validate(name, (gssize)len, NULL)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_NAME, "%s name is not valid UTF-8", what);
        return false;
    }
    if (name[0] == '.') {
        g_autofree char *shown = g_strescape(name, NULL);
        vms_error_set(error, VMSNAP_ERR_INVALID_NAME,
                      "%s name '%s' starts with '.'; names may not start with a dot", what, shown);
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/') {
            g_autofree char *shown = g_strescape(name, NULL);
            vms_error_set(error, VMSNAP_ERR_INVALID_NAME,
                          "%s name '%s' contains '/'; names may not contain slashes", what, shown);
            return false;
        }
        if (c < 0x20 || c == 0x7f) {
            g_autofree char *shown = g_strescape(name, NULL);
            vms_error_set(error, VMSNAP_ERR_INVALID_NAME,
                          "%s name '%s' contains a control character", what, shown);
            return false;
        }
    }
    return true;
}
