/*
 * pidfd.h: process file descriptors (Linux 5.3+), which pin a process so a
 * recycled pid is never mistaken for it. Both calls fail with ENOSYS where
 * the kernel (or valgrind) lacks them; callers fall back to plain pids.
 */
#ifndef VMS_UTIL_PIDFD_H
#define VMS_UTIL_PIDFD_H

#include <sys/types.h>

/* A pollable descriptor that becomes readable when @pid exits, or -1. */
int vms_pidfd_open(pid_t pid);

/* Send @sig to the process behind @pidfd; 0 or -1 with errno. */
int vms_pidfd_send_signal(int pidfd, int sig);

#endif
