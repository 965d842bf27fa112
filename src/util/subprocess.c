/* subprocess.c: fork + exec with captured output and a deadline. */
#include "util/subprocess.h"

#include "util/error.h"
#include "util/pidfd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

void vms_subprocess_result_clear(vms_subprocess_result *result)
{
    if (!result)
        return;
    g_free(result->out);
    g_free(result->err);
    memset(result, 0, sizeof(*result));
}

bool vms_subprocess_run(const char *const *argv, int timeout_ms, vms_subprocess_result *result,
                        vmsnap_error **error)
{
    vms_subprocess_options options = VMS_SUBPROCESS_OPTIONS_INIT;
    options.timeout_ms = timeout_ms;
    return vms_subprocess_run_with(argv, &options, result, error);
}

/* ---- the child side: only async-signal-safe calls between fork and exec ---- */

G_GNUC_NORETURN static void child_report_and_exit(int report_fd, int errnum)
{
    ssize_t n;
    do
        n = write(report_fd, &errnum, sizeof(errnum));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

/* dup2 that also works when @fd already is @target (dup2 would then keep
 * its close-on-exec flag). */
static int child_move_fd(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target) < 0 ? -1 : 0;
}

/* Mark every descriptor above 2 close-on-exec: the report pipe must stay
 * open until exec succeeds, everything else must not reach the program. */
static void child_close_fds_on_exec(long max_fd)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) == 0)
        return;
#endif
    for (long fd = 3; fd < max_fd; fd++)
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

typedef struct {
    const char *path;
    char *const *argv;
    int devnull, out_fd, err_fd, report_fd;
    const char *cwd;
    bool private_umask;
    long max_fd;
} child_setup;

G_GNUC_NORETURN static void child_exec(const child_setup *s)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Ignored signals stay ignored across exec; a program expects defaults. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);

    if (child_move_fd(s->devnull, 0) < 0 || child_move_fd(s->out_fd, 1) < 0 ||
        child_move_fd(s->err_fd, 2) < 0)
        child_report_and_exit(s->report_fd, errno);
    if (s->cwd && chdir(s->cwd) < 0)
        child_report_and_exit(s->report_fd, errno);
    if (s->private_umask)
        umask(077);
    child_close_fds_on_exec(s->max_fd);
    execv(s->path, s->argv);
    child_report_and_exit(s->report_fd, errno);
}

/* ---- the parent side ---- */

typedef struct {
    int fd; /* -1 once closed */
    GByteArray *data;
} capture;

static void capture_close(capture *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* Read what is available; closes the capture at end of file. */
static void capture_read(capture *c)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            capture_close(c);
            return;
        }
        size_t room = VMS_SUBPROCESS_MAX_CAPTURE - c->data->len;
        g_byte_array_append(c->data, (const guint8 *)buf, (guint)MIN((size_t)n, room));
    }
}

static char *capture_steal(capture *c)
{
    guint8 nul = 0;
    g_byte_array_append(c->data, &nul, 1);
    return (char *)g_byte_array_free(g_steal_pointer(&c->data), FALSE);
}

static int remaining_ms(gint64 deadline)
{
    if (deadline == 0)
        return -1;
    gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0)
        return 0;
    return (int)MIN((left + 999) / 1000, G_MAXINT);
}

static bool child_exited(pid_t pid, int *status)
{
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r < 0 && errno == EINTR)
            continue;
        return r == pid;
    }
}

static void child_reap(pid_t pid, int *status)
{
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
}

/* Read both pipes until the child has exited and its output is drained,
 * or the deadline passes (then SIGKILL). Returns the wait status. */
static int collect(pid_t pid, capture *caps, gint64 deadline, bool *timed_out)
{
    int pidfd = vms_pidfd_open(pid);
    int status = 0;
    bool exited = false;
    while (!exited) {
        struct pollfd pfds[3];
        capture *owners[3];
        nfds_t n = 0;
        for (int i = 0; i < 2; i++) {
            if (caps[i].fd >= 0) {
                pfds[n] = (struct pollfd){.fd = caps[i].fd, .events = POLLIN};
                owners[n++] = &caps[i];
            }
        }
        nfds_t pid_slot = n;
        if (pidfd >= 0)
            pfds[n++] = (struct pollfd){.fd = pidfd, .events = POLLIN};
        int wait_ms = remaining_ms(deadline);
        /* Without a pidfd, look at the child now and then. */
        if (pidfd < 0 && (wait_ms < 0 || wait_ms > 20))
            wait_ms = 20;
        int r = poll(pfds, n, wait_ms);
        if (r < 0 && errno != EINTR)
            break;
        for (nfds_t i = 0; r > 0 && i < pid_slot; i++)
            if (pfds[i].revents)
                capture_read(owners[i]);
        if ((pidfd < 0 || (r > 0 && pfds[pid_slot].revents)) && child_exited(pid, &status)) {
            exited = true;
            break;
        }
        if (deadline && g_get_monotonic_time() >= deadline) {
            kill(pid, SIGKILL);
            *timed_out = true;
            break;
        }
    }
    if (!exited)
        child_reap(pid, &status);
    /* What the child wrote before exiting is in the pipes now. */
    for (int i = 0; i < 2; i++)
        if (caps[i].fd >= 0)
            capture_read(&caps[i]);
    if (pidfd >= 0)
        close(pidfd);
    return status;
}

static bool make_pipe(int fds[2], vmsnap_error **error)
{
    if (pipe2(fds, O_CLOEXEC) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot create a pipe");
        return false;
    }
    return true;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* The errno the child reported before exec, or 0 once exec succeeded. */
static int read_exec_report(int fd)
{
    int errnum = 0;
    ssize_t n;
    do
        n = read(fd, &errnum, sizeof(errnum));
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(errnum) ? errnum : 0;
}

static char *resolve_program(const char *name, vmsnap_error **error)
{
    if (strchr(name, '/'))
        return g_strdup(name);
    char *path = g_find_program_in_path(name);
    if (!path)
        vms_error_set(error, VMSNAP_ERR_IO,
                      "cannot run '%s': no such program on PATH; install it or fix PATH", name);
    return path;
}

bool vms_subprocess_run_with(const char *const *argv, const vms_subprocess_options *options,
                             vms_subprocess_result *result, vmsnap_error **error)
{
    memset(result, 0, sizeof(*result));
    if (!argv || !argv[0]) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "no program to run");
        return false;
    }
    g_autofree char *path = resolve_program(argv[0], error);
    if (!path)
        return false;

    int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, report[2] = {-1, -1};
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    bool ok = false;
    if (devnull < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot open /dev/null");
        goto out;
    }
    if ((options->stdout_fd < 0 && !make_pipe(out_pipe, error)) ||
        (options->stderr_fd < 0 && !make_pipe(err_pipe, error)) || !make_pipe(report, error))
        goto out;

    child_setup setup = {
        .path = path,
        .argv = (char *const *)argv,
        .devnull = devnull,
        .out_fd = options->stdout_fd >= 0 ? options->stdout_fd : out_pipe[1],
        .err_fd = options->stderr_fd >= 0 ? options->stderr_fd : err_pipe[1],
        .report_fd = report[1],
        .cwd = options->cwd,
        .private_umask = options->private_umask,
        .max_fd = sysconf(_SC_OPEN_MAX) > 0 ? sysconf(_SC_OPEN_MAX) : 65536,
    };
    gint64 deadline =
        options->timeout_ms > 0 ? g_get_monotonic_time() + (gint64)options->timeout_ms * 1000 : 0;

    pid_t pid = fork();
    if (pid < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot start '%s'", argv[0]);
        goto out;
    }
    if (pid == 0)
        child_exec(&setup);

    close_fd(&out_pipe[1]);
    close_fd(&err_pipe[1]);
    close_fd(&report[1]);
    int errnum = read_exec_report(report[0]);
    if (errnum) {
        int status;
        child_reap(pid, &status);
        if (options->cwd && errnum == ENOENT && access(path, X_OK) == 0)
            vms_error_set_errno(error, VMSNAP_ERR_IO, errnum, "cannot run '%s' in directory '%s'",
                                argv[0], options->cwd);
        else
            vms_error_set_errno(error, VMSNAP_ERR_IO, errnum, "cannot run '%s'", path);
        goto out;
    }

    capture caps[2] = {{.fd = out_pipe[0], .data = g_byte_array_new()},
                       {.fd = err_pipe[0], .data = g_byte_array_new()}};
    out_pipe[0] = err_pipe[0] = -1;
    for (int i = 0; i < 2; i++)
        if (caps[i].fd >= 0)
            fcntl(caps[i].fd, F_SETFL, fcntl(caps[i].fd, F_GETFL) | O_NONBLOCK);

    int status = collect(pid, caps, deadline, &result->timed_out);
    for (int i = 0; i < 2; i++)
        capture_close(&caps[i]);
    result->out = capture_steal(&caps[0]);
    result->err = capture_steal(&caps[1]);
    if (WIFSIGNALED(status)) {
        result->exit_status = -1;
        result->term_signal = WTERMSIG(status);
    } else {
        result->exit_status = WEXITSTATUS(status);
    }
    ok = true;

out:
    close_fd(&devnull);
    for (int i = 0; i < 2; i++) {
        close_fd(&out_pipe[i]);
        close_fd(&err_pipe[i]);
        close_fd(&report[i]);
    }
    return ok;
}
