/*
 * subprocess.h: running a program and capturing what it says.
 * No shell is ever involved: arguments go to execve as they are.
 *
 * The child gets stdin from /dev/null, no file descriptor of ours but
 * 0/1/2 (everything else is closed at exec), default signal handling and an
 * empty signal mask. stdout and stderr are read concurrently (poll), so a
 * program that fills one pipe while we wait on the other cannot deadlock.
 */
#ifndef VMS_UTIL_SUBPROCESS_H
#define VMS_UTIL_SUBPROCESS_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>
#include <vmsnap/vmsnap.h>

typedef struct {
    int exit_status; /* 0..255, or -1 if killed by a signal */
    int term_signal; /* the signal, if killed */
    char *out;       /* captured stdout (NUL-terminated) */
    char *err;       /* captured stderr (NUL-terminated) */
    bool timed_out;  /* killed after the deadline passed */
} vms_subprocess_result;

void vms_subprocess_result_clear(vms_subprocess_result *result);

/* Each captured stream keeps at most this many bytes; the rest is read and
 * discarded so the program never blocks on a full pipe. */
#define VMS_SUBPROCESS_MAX_CAPTURE ((size_t)16 << 20)

/* Run @argv (argv[0] looked up on PATH when it has no '/'), stdin from
 * /dev/null, capturing stdout and stderr (each bounded to 16 MiB; the rest is
 * discarded). @timeout_ms 0: wait forever; otherwise SIGKILL at the deadline.
 * Returns false only when the program could not be started (VMSNAP_ERR_IO
 * naming it); a non-zero exit is reported in @result. */
bool vms_subprocess_run(const char *const *argv, int timeout_ms, vms_subprocess_result *result,
                        vmsnap_error **error);

/* Options for vms_subprocess_run_with(); start from VMS_SUBPROCESS_OPTIONS_INIT. */
typedef struct {
    int timeout_ms;     /* 0: wait forever */
    const char *cwd;    /* the child's working directory; NULL: ours */
    int stdout_fd;      /* -1: capture into result->out; else the child's stdout (not captured) */
    int stderr_fd;      /* -1: capture into result->err; else the child's stderr (not captured) */
    bool private_umask; /* run with umask 077, so files it creates are private from the start */
} vms_subprocess_options;

#define VMS_SUBPROCESS_OPTIONS_INIT                                                                \
    {                                                                                              \
        .timeout_ms = 0, .stdout_fd = -1, .stderr_fd = -1                                          \
    }

/* vms_subprocess_run() with options. The run ends when the program itself
 * exits (and what it wrote is read): output a background grandchild writes
 * later to an inherited pipe is not waited for. */
bool vms_subprocess_run_with(const char *const *argv, const vms_subprocess_options *options,
                             vms_subprocess_result *result, vmsnap_error **error);

#endif
