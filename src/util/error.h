/*
 * error.h: building vmsnap_error objects inside the library.
 *
 * Every layer reports failure through a `vmsnap_error **error` argument,
 * following the public convention: set only on failure, never overwrite an
 * error already set (the first cause is the one the user needs).
 */
#ifndef VMS_UTIL_ERROR_H
#define VMS_UTIL_ERROR_H

#include <glib.h>
#include <vmsnap/vmsnap.h>

struct vmsnap_error {
    vmsnap_error_code code;
    char *message;
};

/* Store a new error in *error unless error is NULL or *error is already set. */
void vms_error_set(vmsnap_error **error, vmsnap_error_code code, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

/* Like vms_error_set() with ": strerror(errnum)" appended. */
void vms_error_set_errno(vmsnap_error **error, vmsnap_error_code code, int errnum, const char *fmt,
                         ...) G_GNUC_PRINTF(4, 5);

/* Prepend context ("reading snapshot 'x': ") to an error already set. */
void vms_error_prefix(vmsnap_error **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Append a sentence ("; nothing was changed") to an error already set. */
void vms_error_append(vmsnap_error **error, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Move @src into *dest (or free it if *dest is taken or dest is NULL). */
void vms_error_propagate(vmsnap_error **dest, vmsnap_error *src);

vmsnap_error *vms_error_new(vmsnap_error_code code, const char *message);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(vmsnap_error, vmsnap_error_free)

#endif
