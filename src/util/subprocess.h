/*
 * subprocess.h: running a program and capturing what it says.
 * No shell is ever involved: arguments go to execve as they are.
 */
#ifndef VMS_UTIL_SUBPROCESS_H
#define VMS_UTIL_SUBPROCESS_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

typedef struct {
    int exit_status; /* 0..255, or -1 if killed by a signal */
    int term_signal; /* the signal, if killed */
    char *out;       /* captured stdout (NUL-terminated) */
    char *err;       /* captured stderr (NUL-terminated) */
    bool timed_out;  /* killed after the deadline passed */
} vms_subprocess_result;

void vms_subprocess_result_clear(vms_subprocess_result *result);

/* Run @argv (argv[0] looked up on PATH when it has no '/'), stdin from
 * /dev/null, capturing stdout and stderr (each bounded to 16 MiB; the rest is
 * discarded). @timeout_ms 0: wait forever; otherwise SIGKILL at the deadline.
 * Returns false only when the program could not be started (VMSNAP_ERR_IO
 * naming it); a non-zero exit is reported in @result. */
bool vms_subprocess_run(const char *const *argv, int timeout_ms, vms_subprocess_result *result,
                        vmsnap_error **error);

#endif
