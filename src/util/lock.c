/* lock.c: flock wrappers (see lock.h). */
#include "util/lock.h"

#include <errno.h>
#include <sys/file.h>

#include "util/error.h"

bool vms_lock_fd(int fd, bool exclusive, bool wait, const char *path, vmsnap_error **error)
{
    int op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);
    int rc;
    do
        rc = flock(fd, op);
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        return true;
    if (errno == EWOULDBLOCK)
        vms_error_set(error, VMSNAP_ERR_BUSY,
                      "'%s' is locked by another vmsnap command; wait for it to finish", path);
    else
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot lock '%s'", path);
    return false;
}

void vms_unlock_fd(int fd)
{
    flock(fd, LOCK_UN);
}
