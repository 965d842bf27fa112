/*
 * lock.h: advisory whole-file locks (flock).
 *
 * flock locks belong to the open file description: they are released when
 * the last descriptor for it is closed, including by the kernel when the
 * holder dies, so a killed command never leaves a stale lock behind.
 */
#ifndef VMS_UTIL_LOCK_H
#define VMS_UTIL_LOCK_H

#include <stdbool.h>
#include <vmsnap/vmsnap.h>

/* Lock @fd shared or exclusive. @wait: block until granted (retrying on
 * EINTR); otherwise fail at once with VMSNAP_ERR_BUSY if another process
 * holds a conflicting lock. @path is for the error message. */
bool vms_lock_fd(int fd, bool exclusive, bool wait, const char *path, vmsnap_error **error);

/* Drop the lock on @fd (closing the fd does too). */
void vms_unlock_fd(int fd);

#endif
