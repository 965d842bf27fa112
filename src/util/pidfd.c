/* pidfd.c: process file descriptors through raw syscalls (glibc 2.36 has no
 * wrappers everywhere we build). */
#include "util/pidfd.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

int vms_pidfd_open(pid_t pid)
{
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int vms_pidfd_send_signal(int pidfd, int sig)
{
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
#else
    (void)pidfd;
    (void)sig;
    errno = ENOSYS;
    return -1;
#endif
}
