/*
 * test_qmp.c: the QMP client against a fake QEMU that replays exchanges
 * recorded from QEMU 7.2 (tests/data/qmp/, one .txt file per session, format in docs/qmp.md), the
 * message parser on hostile input, and one session with a real QEMU.
 */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu/qmp.h"
#include "qemu/qmp_parse.h"

#define TIMEOUT_MS 5000
#define CLOSED     "QEMU closed the QMP connection (it may have exited)"

/* --- the fake QEMU ----------------------------------------------------- */

/* A thread serving one connection on a UNIX socket by a script:
 *   "< TEXT"          send TEXT and CR LF
 *   "> TEXT"          expect exactly the line TEXT from the client, no fd
 *   ">fd TEXT"        expect TEXT with a descriptor (SCM_RIGHTS)
 *   "! close"         close the connection
 *   "! partial TEXT"  send TEXT without a line end
 *   "# ..." and blank lines are comments.
 * After the script it reads until the client closes (so a script ending
 * early is a silent QEMU) and complains about anything the client sends. */
typedef struct {
    char *sock_path;
    int listen_fd;
    char **lines;
    GThread *thread;
    GString *failure; /* what went wrong, or empty */
    GArray *fds;      /* descriptors received with ">fd" lines */
} fake_qemu;

/* The sockaddr for @path, through the directory's descriptor when @path is
 * longer than sun_path (the client does the same). */
static int sockaddr_for(const char *path, struct sockaddr_un *addr, int *dirfd)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    *dirfd = -1;
    if (strlen(path) < sizeof(addr->sun_path)) {
        strcpy(addr->sun_path, path);
        return 0;
    }
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *base = g_path_get_basename(path);
    *dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    g_assert_cmpint(*dirfd, >=, 0);
    g_autofree char *via = g_strdup_printf("/proc/self/fd/%d/%s", *dirfd, base);
    g_assert_cmpuint(strlen(via), <, sizeof(addr->sun_path));
    strcpy(addr->sun_path, via);
    return 0;
}

static void fake_fail(fake_qemu *fake, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void fake_fail(fake_qemu *fake, const char *fmt, ...)
{
    if (fake->failure->len)
        return;
    va_list ap;
    va_start(ap, fmt);
    g_string_append_vprintf(fake->failure, fmt, ap);
    va_end(ap);
}

typedef struct {
    int fd;
    GString *buf;
    GArray *pending_fds; /* received and not yet given to a line */
} fake_reader;

/* The next line from the client (without "\n"), NULL at EOF. */
static char *fake_read_line(fake_reader *r)
{
    for (;;) {
        char *nl = memchr(r->buf->str, '\n', r->buf->len);
        if (nl) {
            char *line = g_strndup(r->buf->str, (gsize)(nl - r->buf->str));
            g_string_erase(r->buf, 0, nl - r->buf->str + 1);
            return line;
        }
        char data[65536];
        union {
            char buf[CMSG_SPACE(4 * sizeof(int))];
            struct cmsghdr align;
        } control;
        struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
        struct msghdr mh = {.msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = control.buf,
                            .msg_controllen = sizeof(control.buf)};
        ssize_t n = recvmsg(r->fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); n >= 0 && c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                g_array_append_val(r->pending_fds, fd);
            }
        }
        if (n <= 0)
            return NULL;
        g_string_append_len(r->buf, data, n);
    }
}

static bool fake_send(fake_qemu *fake, int fd, const char *text, size_t len, guint lineno)
{
    size_t sent = 0;
    while (sent < len) {
        ssize_t w = send(fd, text + sent, len - sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fake_fail(fake, "script line %u: the client closed the connection while we sent",
                      lineno);
            return false;
        }
        sent += (size_t)w;
    }
    return true;
}

static void fake_expect(fake_qemu *fake, fake_reader *r, const char *expected, bool with_fd,
                        guint lineno)
{
    g_autofree char *got = fake_read_line(r);
    if (!got) {
        fake_fail(fake, "script line %u: the client closed the connection; expected: %s", lineno,
                  expected);
        return;
    }
    if (strcmp(got, expected) != 0)
        fake_fail(fake, "script line %u: expected the client to send\n  %s\nbut it sent\n  %s",
                  lineno, expected, got);
    if (with_fd && r->pending_fds->len == 0)
        fake_fail(fake, "script line %u: no descriptor came with %s", lineno, got);
    if (!with_fd && r->pending_fds->len > 0)
        fake_fail(fake, "script line %u: a descriptor came with %s", lineno, got);
    g_array_append_vals(fake->fds, r->pending_fds->data, r->pending_fds->len);
    g_array_set_size(r->pending_fds, 0);
}

/* Runs the script; returns true when the connection is still open. */
static bool fake_run_script(fake_qemu *fake, fake_reader *r)
{
    for (guint i = 0; fake->lines[i]; i++) {
        const char *line = fake->lines[i];
        guint lineno = i + 1;
        if (fake->failure->len)
            return true;
        if (!*line || line[0] == '#')
            continue;
        if (g_str_has_prefix(line, "< ")) {
            g_autofree char *text = g_strconcat(line + 2, "\r\n", NULL);
            if (!fake_send(fake, r->fd, text, strlen(text), lineno))
                return true;
        } else if (g_str_has_prefix(line, "> ")) {
            fake_expect(fake, r, line + 2, false, lineno);
        } else if (g_str_has_prefix(line, ">fd ")) {
            fake_expect(fake, r, line + 4, true, lineno);
        } else if (g_str_has_prefix(line, "! partial ")) {
            if (!fake_send(fake, r->fd, line + 10, strlen(line + 10), lineno))
                return true;
        } else if (strcmp(line, "! close") == 0) {
            return false;
        } else {
            fake_fail(fake, "script line %u is not understood: %s", lineno, line);
        }
    }
    return true;
}

static gpointer fake_thread(gpointer data)
{
    fake_qemu *fake = data;
    struct pollfd pfd = {.fd = fake->listen_fd, .events = POLLIN};
    if (poll(&pfd, 1, 10000) != 1) {
        fake_fail(fake, "no client connected within 10 s");
        return NULL;
    }
    fake_reader r = {.fd = accept4(fake->listen_fd, NULL, NULL, SOCK_CLOEXEC),
                     .buf = g_string_new(NULL),
                     .pending_fds = g_array_new(FALSE, FALSE, sizeof(int))};
    g_assert_cmpint(r.fd, >=, 0);
    if (fake_run_script(fake, &r)) {
        /* Silent from here on: wait for the client to go. */
        char *extra;
        while ((extra = fake_read_line(&r))) {
            fake_fail(fake, "the client sent more than the script: %s", extra);
            g_free(extra);
        }
    }
    for (guint i = 0; i < r.pending_fds->len; i++)
        close(g_array_index(r.pending_fds, int, i));
    g_array_free(r.pending_fds, TRUE);
    g_string_free(r.buf, TRUE);
    close(r.fd);
    return NULL;
}

static fake_qemu *fake_start_at(const char *sock_path, const char *script)
{
    fake_qemu *fake = g_new0(fake_qemu, 1);
    fake->sock_path = g_strdup(sock_path);
    fake->lines = g_strsplit(script, "\n", -1);
    fake->failure = g_string_new(NULL);
    fake->fds = g_array_new(FALSE, FALSE, sizeof(int));
    fake->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(fake->listen_fd, >=, 0);
    struct sockaddr_un addr;
    int dirfd;
    sockaddr_for(sock_path, &addr, &dirfd);
    g_assert_cmpint(bind(fake->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    g_assert_cmpint(listen(fake->listen_fd, 1), ==, 0);
    if (dirfd >= 0)
        close(dirfd);
    fake->thread = g_thread_new("fake-qemu", fake_thread, fake);
    return fake;
}

static fake_qemu *fake_start(const char *script)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
    return fake_start_at(path, script);
}

static fake_qemu *fake_start_file(const char *name)
{
    g_autofree char *rel = g_build_filename("qmp", name, NULL);
    g_autofree char *script = vms_test_read_data(rel);
    return fake_start(script);
}

/* Wait for the thread (the client must have closed by now) and return what
 * went wrong on the server side, "" when nothing did. */
static char *fake_finish(fake_qemu *fake, GArray **fds)
{
    g_thread_join(fake->thread);
    close(fake->listen_fd);
    g_unlink(fake->sock_path);
    char *failure = g_string_free(fake->failure, FALSE);
    if (fds)
        *fds = fake->fds;
    else {
        for (guint i = 0; i < fake->fds->len; i++)
            close(g_array_index(fake->fds, int, i));
        g_array_free(fake->fds, TRUE);
    }
    g_strfreev(fake->lines);
    g_free(fake->sock_path);
    g_free(fake);
    return failure;
}

static void fake_assert_done(fake_qemu *fake)
{
    g_autofree char *failure = fake_finish(fake, NULL);
    g_assert_cmpstr(failure, ==, "");
}

#define GREETING                                                                                   \
    "< {\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "           \
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\n"
#define CAPABILITIES                                                                               \
    "> {\"execute\":\"qmp_capabilities\",\"id\":1}\n"                                              \
    "< {\"return\": {}, \"id\": 1}\n"
#define QUERY_STATUS(id) "> {\"execute\":\"query-status\",\"id\":" #id "}\n"

static vms_qmp *connect_ok(fake_qemu *fake)
{
    vmsnap_error *err = NULL;
    vms_qmp *qmp = vms_qmp_connect(fake->sock_path, TIMEOUT_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(qmp);
    return qmp;
}

/* Assert @err is VMSNAP_ERR_QEMU with exactly @message; frees and clears it. */
static void assert_qemu_error(vmsnap_error **err, const char *message)
{
    g_assert_nonnull(*err);
    g_assert_cmpstr(vmsnap_error_get_message(*err), ==, message);
    g_assert_cmpint(vmsnap_error_get_code(*err), ==, VMSNAP_ERR_QEMU);
    g_clear_pointer(err, vmsnap_error_free);
}

static void assert_event(vms_qmp_event *event, const char *name, const char *data_json)
{
    g_assert_nonnull(event);
    g_assert_cmpstr(event->name, ==, name);
    g_assert_cmpstr(event->data_json, ==, data_json);
    vms_qmp_event_free(event);
}

static char *command_ok(vms_qmp *qmp, const char *command, const char *args)
{
    vmsnap_error *err = NULL;
    char *ret = vms_qmp_command(qmp, command, args, TIMEOUT_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_nonnull(ret);
    return ret;
}

/* --- replays of recorded sessions -------------------------------------- */

static void test_session(void)
{
    fake_qemu *fake = fake_start_file("session.txt");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    g_assert_cmpstr(vms_qmp_qemu_version(qmp), ==, "7.2.22");

    g_autofree char *status = command_ok(qmp, "query-status", NULL);
    g_assert_cmpstr(status, ==,
                    "{\"status\":\"prelaunch\",\"singlestep\":false,\"running\":false}");
    g_autofree char *state = vms_qmp_json_get_string(status, "status");
    g_assert_cmpstr(state, ==, "prelaunch");

    g_autofree char *cont = command_ok(qmp, "cont", NULL);
    g_assert_cmpstr(cont, ==, "{}");
    g_autofree char *running = command_ok(qmp, "query-status", NULL);
    g_assert_cmpstr(running, ==, "{\"status\":\"running\",\"singlestep\":false,\"running\":true}");
    g_autofree char *stop = command_ok(qmp, "stop", NULL);
    g_assert_cmpstr(stop, ==, "{}");
    g_autofree char *paused = command_ok(qmp, "query-status", NULL);
    g_autofree char *paused_state = vms_qmp_json_get_string(paused, "status");
    g_assert_cmpstr(paused_state, ==, "paused");

    /* RESUME then STOP came before their replies and wait in order; asking
     * for STOP leaves RESUME queued. */
    vmsnap_error *err = NULL;
    vms_qmp_event *event = vms_qmp_wait_event(qmp, "STOP", TIMEOUT_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpint(event->seconds, ==, 1795402550);
    g_assert_cmpint(event->microseconds, ==, 511241);
    assert_event(event, "STOP", "{}");
    assert_event(vms_qmp_next_event(qmp), "RESUME", "{}");
    g_assert_null(vms_qmp_next_event(qmp));

    g_autofree char *quit = command_ok(qmp, "quit", NULL);
    g_assert_cmpstr(quit, ==, "{}");
    assert_event(vms_qmp_wait_event(qmp, NULL, TIMEOUT_MS, &err), "SHUTDOWN",
                 "{\"guest\":false,\"reason\":\"host-qmp-quit\"}");
    vms_test_assert_no_error(err);

    /* Then QEMU closed the socket: every later call says so. */
    g_assert_null(vms_qmp_wait_event(qmp, "STOP", TIMEOUT_MS, &err));
    assert_qemu_error(&err, CLOSED);
    g_assert_null(vms_qmp_command(qmp, "query-status", NULL, TIMEOUT_MS, &err));
    assert_qemu_error(&err, CLOSED);
    g_assert_null(vms_qmp_next_event(qmp));
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

/* wait_event(NULL) hands out every event in arrival order. */
static void test_events_in_order(void)
{
    fake_qemu *fake = fake_start_file("session.txt");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    const char *commands[] = {"query-status", "cont",         "query-status",
                              "stop",         "query-status", "quit"};
    for (size_t i = 0; i < G_N_ELEMENTS(commands); i++)
        g_free(command_ok(qmp, commands[i], NULL));
    vmsnap_error *err = NULL;
    assert_event(vms_qmp_wait_event(qmp, NULL, TIMEOUT_MS, &err), "RESUME", "{}");
    assert_event(vms_qmp_wait_event(qmp, NULL, TIMEOUT_MS, &err), "STOP", "{}");
    assert_event(vms_qmp_next_event(qmp), "SHUTDOWN",
                 "{\"guest\":false,\"reason\":\"host-qmp-quit\"}");
    vms_test_assert_no_error(err);
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

/* Waiting for a named event queues the others that arrive meanwhile. */
static void test_wait_event_keeps_others(void)
{
    fake_qemu *fake = fake_start(
        GREETING CAPABILITIES
        "< {\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": "
        "\"JOB_STATUS_CHANGE\", "
        "\"data\": {\"status\": \"created\", \"id\": \"j\"}}\n"
        "< {\"timestamp\": {\"seconds\": 1, \"microseconds\": 3}, \"event\": "
        "\"JOB_STATUS_CHANGE\", "
        "\"data\": {\"status\": \"running\", \"id\": \"j\"}}\n"
        "< {\"timestamp\": {\"seconds\": 1, \"microseconds\": 4}, \"event\": \"BLOCK_JOB_READY\", "
        "\"data\": {\"device\": \"j\"}}\n"
        "< {\"timestamp\": {\"seconds\": 1, \"microseconds\": 5}, \"event\": "
        "\"JOB_STATUS_CHANGE\", "
        "\"data\": {\"status\": \"ready\", \"id\": \"j\"}}\n");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    vmsnap_error *err = NULL;
    assert_event(vms_qmp_wait_event(qmp, "BLOCK_JOB_READY", TIMEOUT_MS, &err), "BLOCK_JOB_READY",
                 "{\"device\":\"j\"}");
    assert_event(vms_qmp_wait_event(qmp, "JOB_STATUS_CHANGE", TIMEOUT_MS, &err),
                 "JOB_STATUS_CHANGE", "{\"status\":\"created\",\"id\":\"j\"}");
    assert_event(vms_qmp_wait_event(qmp, "JOB_STATUS_CHANGE", TIMEOUT_MS, &err),
                 "JOB_STATUS_CHANGE", "{\"status\":\"running\",\"id\":\"j\"}");
    assert_event(vms_qmp_wait_event(qmp, "JOB_STATUS_CHANGE", TIMEOUT_MS, &err),
                 "JOB_STATUS_CHANGE", "{\"status\":\"ready\",\"id\":\"j\"}");
    vms_test_assert_no_error(err);
    g_assert_null(vms_qmp_next_event(qmp));

    /* Nothing more comes: a deadline, and the connection stays usable. */
    gint64 start = g_get_monotonic_time();
    g_assert_null(vms_qmp_wait_event(qmp, "STOP", 150, &err));
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 150 * 1000);
    assert_qemu_error(&err, "QEMU sent no 'STOP' event within 150 ms");
    g_assert_null(vms_qmp_wait_event(qmp, NULL, 0, &err));
    assert_qemu_error(&err, "QEMU sent no event within 0 ms");
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

static void test_query_block(void)
{
    fake_qemu *fake = fake_start_file("query-block.txt");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    g_autofree char *block = command_ok(qmp, "query-block", NULL);
    size_t n = 0;
    g_assert_true(vms_qmp_json_get_length(block, NULL, &n));
    g_assert_cmpuint(n, ==, 1);
    g_autofree char *node = vms_qmp_json_get_string(block, "0.inserted.node-name");
    g_assert_cmpstr(node, ==, "disk0");
    g_autofree char *format = vms_qmp_json_get_string(block, "0.inserted.image.format");
    g_assert_cmpstr(format, ==, "qcow2");
    int64_t size = 0;
    g_assert_true(vms_qmp_json_get_int(block, "0.inserted.image.virtual-size", &size));
    g_assert_cmpint(size, ==, 64 * 1024 * 1024);
    bool ro = true;
    g_assert_true(vms_qmp_json_get_bool(block, "0.inserted.ro", &ro));
    g_assert_false(ro);
    g_autofree char *cache = vms_qmp_json_get_json(block, "0.inserted.cache");
    g_assert_cmpstr(cache, ==, "{\"no-flush\":false,\"direct\":false,\"writeback\":true}");
    g_assert_null(vms_qmp_json_get_string(block, "1.inserted.node-name"));
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

static void test_error_replies(void)
{
    fake_qemu *fake = fake_start_file("errors.txt");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_command(qmp, "no-such-command", NULL, TIMEOUT_MS, &err));
    assert_qemu_error(&err, "QEMU refused 'no-such-command': The command no-such-command has not "
                            "been found");
    g_assert_cmpstr(vms_qmp_last_error_class(qmp), ==, "CommandNotFound");

    g_assert_null(vms_qmp_command(qmp, "query-status", "{\"verbose\": true}", TIMEOUT_MS, &err));
    assert_qemu_error(&err, "QEMU refused 'query-status': Parameter 'verbose' is unexpected");
    g_assert_cmpstr(vms_qmp_last_error_class(qmp), ==, "GenericError");

    g_autofree char *text = vms_qmp_hmp(qmp, "info status", TIMEOUT_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(text, ==, "VM status: paused (prelaunch)\n");
    g_assert_null(vms_qmp_last_error_class(qmp));

    g_assert_null(vms_qmp_hmp(qmp, "device_del nosuch", TIMEOUT_MS, &err));
    assert_qemu_error(&err, "QEMU refused 'device_del nosuch': Device 'nosuch' not found");
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

static void test_getfd(void)
{
    fake_qemu *fake = fake_start_file("getfd.txt");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "migration.stream", NULL);
    int file = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    g_assert_cmpint(file, >=, 0);

    vmsnap_error *err = NULL;
    g_autofree char *ret =
        vms_qmp_command_with_fd(qmp, "getfd", "{\"fdname\":\"migration\"}", file, TIMEOUT_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(ret, ==, "{}");
    g_assert_null(vms_qmp_command(qmp, "getfd", "{\"fdname\":\"nothing\"}", TIMEOUT_MS, &err));
    assert_qemu_error(&err, "QEMU refused 'getfd': No file descriptor supplied via SCM_RIGHTS");
    g_free(command_ok(qmp, "closefd", "{\"fdname\":\"migration\"}"));
    g_clear_pointer(&qmp, vms_qmp_free);

    GArray *fds = NULL;
    g_autofree char *failure = fake_finish(fake, &fds);
    g_assert_cmpstr(failure, ==, "");
    g_assert_cmpuint(fds->len, ==, 1);
    int received = g_array_index(fds, int, 0);
    struct stat mine, theirs;
    g_assert_cmpint(fstat(file, &mine), ==, 0);
    g_assert_cmpint(fstat(received, &theirs), ==, 0);
    g_assert_cmpuint(mine.st_dev, ==, theirs.st_dev);
    g_assert_cmpuint(mine.st_ino, ==, theirs.st_ino);
    g_assert_cmpint(received, !=, file);
    close(received);
    close(file);
    g_array_free(fds, TRUE);

    /* A negative descriptor is a caller's mistake, caught before sending. */
    g_assert_null(vms_qmp_command_with_fd(NULL, "getfd", NULL, -1, TIMEOUT_MS, &err));
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
}

/* --- deadlines, closes and hostile peers -------------------------------- */

static void test_silent_greeting(void)
{
    fake_qemu *fake = fake_start("# accepts, then says nothing\n");
    vmsnap_error *err = NULL;
    gint64 start = g_get_monotonic_time();
    g_assert_null(vms_qmp_connect(fake->sock_path, 150, &err));
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 150 * 1000);
    g_autofree char *expected = g_strdup_printf(
        "connecting to QEMU's QMP socket %s: QEMU sent no QMP greeting within 150 ms (QEMU may be "
        "hung, or another client is connected to this monitor)",
        fake->sock_path);
    assert_qemu_error(&err, expected);
    fake_assert_done(fake);
}

static void test_silent_capabilities(void)
{
    fake_qemu *fake = fake_start(GREETING "> {\"execute\":\"qmp_capabilities\",\"id\":1}\n");
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_connect(fake->sock_path, 150, &err));
    g_autofree char *expected = g_strdup_printf("connecting to QEMU's QMP socket %s: QEMU did not "
                                                "answer 'qmp_capabilities' within 150 ms",
                                                fake->sock_path);
    assert_qemu_error(&err, expected);
    fake_assert_done(fake);
}

/* A reply that comes after its command timed out is recognised by its id
 * and dropped; the next command gets its own reply. */
static void test_silent_then_late_reply(void)
{
    fake_qemu *fake = fake_start(GREETING CAPABILITIES QUERY_STATUS(2) QUERY_STATUS(
        3) "< {\"return\": {\"status\": \"prelaunch\", \"singlestep\": false, \"running\": false}, "
           "\"id\": 2}\n"
           "< {\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
           "\"id\": 3}\n");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    vmsnap_error *err = NULL;
    gint64 start = g_get_monotonic_time();
    g_assert_null(vms_qmp_command(qmp, "query-status", NULL, 150, &err));
    g_assert_cmpint(g_get_monotonic_time() - start, >=, 150 * 1000);
    assert_qemu_error(&err, "QEMU did not answer 'query-status' within 150 ms");

    g_autofree char *status = command_ok(qmp, "query-status", NULL);
    g_autofree char *state = vms_qmp_json_get_string(status, "status");
    g_assert_cmpstr(state, ==, "running");
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

static void test_closed_before_greeting(void)
{
    fake_qemu *fake = fake_start("! close\n");
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_connect(fake->sock_path, TIMEOUT_MS, &err));
    g_autofree char *expected =
        g_strdup_printf("connecting to QEMU's QMP socket %s: " CLOSED, fake->sock_path);
    assert_qemu_error(&err, expected);
    fake_assert_done(fake);
}

static void test_closed_mid_reply(void)
{
    fake_qemu *fake = fake_start(
        GREETING CAPABILITIES QUERY_STATUS(2) "! partial {\"return\": {\"status\": \"runn\n"
                                              "! close\n");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_command(qmp, "query-status", NULL, TIMEOUT_MS, &err));
    assert_qemu_error(&err, CLOSED);
    g_assert_null(vms_qmp_hmp(qmp, "info status", TIMEOUT_MS, &err));
    assert_qemu_error(&err, CLOSED);
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

static void test_missing_socket(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *path = g_build_filename(dir, "qmp.sock", NULL);
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_connect(path, TIMEOUT_MS, &err));
    g_autofree char *expected =
        g_strdup_printf("cannot connect to QEMU's QMP socket %s: No such file or directory "
                        "(QEMU is not running, or not listening there)",
                        path);
    assert_qemu_error(&err, expected);

    /* A socket file nobody listens on any more (QEMU was killed). */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr;
    int dirfd;
    sockaddr_for(path, &addr, &dirfd);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    close(fd);
    g_assert_null(vms_qmp_connect(path, TIMEOUT_MS, &err));
    g_autofree char *refused =
        g_strdup_printf("cannot connect to QEMU's QMP socket %s: Connection refused "
                        "(QEMU is not running, or not listening there)",
                        path);
    assert_qemu_error(&err, refused);
}

/* The reply to query-status replaced by @reply_line: the command fails with
 * @message and so does every later call. */
static void check_bad_reply(const char *reply_line, const char *message)
{
    g_autofree char *script =
        g_strconcat(GREETING CAPABILITIES QUERY_STATUS(2) "< ", reply_line, "\n", NULL);
    fake_qemu *fake = fake_start(script);
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_command(qmp, "query-status", NULL, TIMEOUT_MS, &err));
    assert_qemu_error(&err, message);
    g_assert_null(vms_qmp_command(qmp, "query-status", NULL, TIMEOUT_MS, &err));
    assert_qemu_error(&err, message);
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

static void test_malformed_replies(void)
{
    check_bad_reply("{\"return\": {}, \"id\": 2",
                    "QEMU sent a malformed QMP message: the JSON value is incomplete: "
                    "{\"return\": {}, \"id\": 2");
    check_bad_reply("{\"return\": {}} {}",
                    "QEMU sent a malformed QMP message: invalid JSON at byte "
                    "15 (unexpected character): {\"return\": {}} {}");
    check_bad_reply("{\"return\": {}, \"error\": {\"class\": \"C\", \"desc\": \"D\"}, \"id\": 2}",
                    "QEMU sent a malformed QMP message: an object with both 'return' and 'error': "
                    "{\"return\": {}, \"error\": {\"class\": \"C\", \"desc\": \"D\"}, \"id\": "
                    "2}");
    check_bad_reply("{\"error\": {\"class\": \"GenericError\"}, \"id\": 2}",
                    "QEMU sent a malformed QMP message: 'error' has no member 'desc': {\"error\": "
                    "{\"class\": \"GenericError\"}, \"id\": 2}");
    check_bad_reply("[\"return\"]", "QEMU sent a malformed QMP message: a JSON array, not an "
                                    "object: [\"return\"]");
    check_bad_reply("{\"event\": \"STOP\"}", "QEMU sent a malformed QMP message: the event has no "
                                             "member 'timestamp': {\"event\": \"STOP\"}");
    check_bad_reply("{\"return\": \"\xff\"}",
                    "QEMU sent a malformed QMP message: invalid JSON at byte 12 (invalid utf-8 "
                    "string): {\"return\": \"\\xff\"}");
    check_bad_reply(&GREETING[2], "QEMU sent a malformed QMP message: a greeting in the middle of "
                                  "the session");
}

/* 64 levels of nesting are QEMU's own limit and pass; 65 do not. */
static void test_deep_nesting(void)
{
    GString *ok = g_string_new("{\"return\": ");
    for (int i = 0; i < VMS_QMP_MAX_DEPTH - 1; i++)
        g_string_append_c(ok, '[');
    for (int i = 0; i < VMS_QMP_MAX_DEPTH - 1; i++)
        g_string_append_c(ok, ']');
    g_string_append(ok, ", \"id\": 2}");
    g_autofree char *script = g_strconcat(GREETING CAPABILITIES QUERY_STATUS(2) "< ", ok->str,
                                          "\n" QUERY_STATUS(3) "< {\"return\": [[", NULL);
    g_string_free(ok, TRUE);
    GString *deep = g_string_new(script);
    for (int i = 0; i < 1000; i++)
        g_string_append_c(deep, '[');
    fake_qemu *fake = fake_start(deep->str);
    g_string_free(deep, TRUE);

    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    g_autofree char *nested = command_ok(qmp, "query-status", NULL);
    g_assert_cmpuint(strlen(nested), ==, 2 * (VMS_QMP_MAX_DEPTH - 1));
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_command(qmp, "query-status", NULL, TIMEOUT_MS, &err));
    /* The error quotes the first 120 bytes. */
    g_autofree char *brackets = g_strnfill(120 - strlen("{\"return\": "), '[');
    g_autofree char *expected = g_strconcat(
        "QEMU sent a malformed QMP message: JSON nested deeper than 64 levels: {\"return\": ",
        brackets, "...", NULL);
    assert_qemu_error(&err, expected);
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

/* A reply line of exactly 16 MiB is read; one byte more is refused without
 * reading on for ever. */
static void test_oversized_line(void)
{
    const char *head = "{\"return\": \"";
    const char *tail = "\", \"id\": 2}";
    size_t fill = VMS_QMP_MAX_MESSAGE - strlen(head) - strlen(tail);
    GString *script = g_string_new(GREETING CAPABILITIES QUERY_STATUS(2) "< ");
    g_string_append(script, head);
    for (size_t i = 0; i < fill; i++)
        g_string_append_c(script, 'x');
    /* The line on the wire ends "\r\n": the CR counts, so cut one byte. */
    g_string_truncate(script, script->len - 1);
    g_string_append(script, tail);
    g_string_append(script, "\n" QUERY_STATUS(3) "< ");
    g_string_append(script, head);
    for (size_t i = 0; i < fill + 4096; i++)
        g_string_append_c(script, 'y');
    g_string_append(script, "\n");
    fake_qemu *fake = fake_start(script->str);
    g_string_free(script, TRUE);

    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    g_autofree char *big = command_ok(qmp, "query-status", NULL);
    g_assert_cmpuint(strlen(big), ==, fill + 1);
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_command(qmp, "query-status", NULL, TIMEOUT_MS, &err));
    assert_qemu_error(
        &err, "QEMU sent a malformed QMP message: a line longer than 16777216 bytes (16 MiB)");
    g_clear_pointer(&qmp, vms_qmp_free);
    g_autofree char *failure = fake_finish(fake, NULL);
    /* The client stops reading, so the fake may not get to write it all. */
    g_assert_true(g_str_equal(failure, "") ||
                  g_str_has_suffix(failure, "the client closed the connection while we sent"));
}

/* A socket path longer than sun_path (108 bytes) is reached through its
 * directory's descriptor. */
static void test_long_socket_path(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *deep =
        g_build_filename(dir, "a-directory-name-long-enough-to-matter",
                         "and-another-one-to-pass-sun-path", "and-a-third-to-be-quite-sure", NULL);
    g_assert_cmpint(g_mkdir_with_parents(deep, 0700), ==, 0);
    g_autofree char *path = g_build_filename(deep, "qmp.sock", NULL);
    g_assert_cmpuint(strlen(path), >, sizeof(((struct sockaddr_un *)NULL)->sun_path));

    fake_qemu *fake =
        fake_start_at(path, GREETING CAPABILITIES QUERY_STATUS(
                                2) "< {\"return\": {\"status\": \"paused\"}, \"id\": 2}\n");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    g_autofree char *status = command_ok(qmp, "query-status", NULL);
    g_assert_cmpstr(status, ==, "{\"status\":\"paused\"}");
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);

    /* Only the file name itself must fit. */
    g_autofree char *name = g_strnfill(100, 'n');
    g_autofree char *too_long = g_build_filename(deep, name, NULL);
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_connect(too_long, TIMEOUT_MS, &err));
    g_autofree char *expected =
        g_strdup_printf("cannot connect to QEMU's QMP socket %s: its file name is longer than 88 "
                        "bytes; use a shorter name",
                        too_long);
    assert_qemu_error(&err, expected);
}

static void test_bad_arguments(void)
{
    fake_qemu *fake = fake_start(GREETING CAPABILITIES);
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_command(qmp, "cont", "[1]", TIMEOUT_MS, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "arguments for QMP command 'cont' are a JSON array, not an object");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    g_assert_null(vms_qmp_command(qmp, "cont", "{\"a\":", TIMEOUT_MS, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "arguments for QMP command 'cont': invalid JSON (the JSON value is "
                    "incomplete): {\"a\":");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    g_assert_null(vms_qmp_command(qmp, "cont", "null", TIMEOUT_MS, &err));
    g_assert_cmpstr(vmsnap_error_get_message(err), ==,
                    "arguments for QMP command 'cont' are a JSON null, not an object");
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    g_assert_null(vms_qmp_command(qmp, "", NULL, TIMEOUT_MS, &err));
    vms_test_assert_error(err, VMSNAP_ERR_INVALID_ARG);
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

/* Arguments reach QEMU as compact JSON, in the caller's member order. */
static void test_arguments_on_the_wire(void)
{
    fake_qemu *fake = fake_start(
        GREETING CAPABILITIES
        "> {\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"savevm "
        "\\\"a/b\\\"\\n\"},\"id\":2}\n"
        "< {\"return\": \"\", \"id\": 2}\n"
        "> {\"execute\":\"migrate\",\"arguments\":{\"uri\":\"fd:m\",\"detach\":true},\"id\":3}\n"
        "< {\"return\": {}, \"id\": 3}\n"
        "> {\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"info "
        "status\"},\"id\":4}\n"
        "< {\"return\": null, \"id\": 4}\n");
    g_autoptr(vms_qmp) qmp = connect_ok(fake);
    vmsnap_error *err = NULL;
    g_autofree char *out = vms_qmp_hmp(qmp, "savevm \"a/b\"\n", TIMEOUT_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(out, ==, "");
    g_free(command_ok(qmp, "migrate", "{ \"uri\" : \"fd:m\", \"detach\": true }"));
    g_assert_null(vms_qmp_hmp(qmp, "info status", TIMEOUT_MS, &err));
    assert_qemu_error(&err, "QEMU sent a malformed QMP message: 'human-monitor-command' returned "
                            "a null, not a string");
    g_clear_pointer(&qmp, vms_qmp_free);
    fake_assert_done(fake);
}

/* --- the parser and the JSON helpers ------------------------------------ */

/* Every line QEMU sent in the recordings parses, and formats to text that
 * parses to the same struct (golden file). */
static void test_parse_recordings(void)
{
    const char *files[] = {"errors.txt", "getfd.txt", "query-block.txt", "session.txt"};
    GString *out = g_string_new(NULL);
    for (size_t f = 0; f < G_N_ELEMENTS(files); f++) {
        g_autofree char *rel = g_build_filename("qmp", files[f], NULL);
        g_autofree char *text = vms_test_read_data(rel);
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        for (size_t i = 0; lines[i]; i++) {
            if (!g_str_has_prefix(lines[i], "< "))
                continue;
            vmsnap_error *err = NULL;
            g_autoptr(vms_qmp_msg) msg =
                vms_qmp_msg_parse(lines[i] + 2, strlen(lines[i] + 2), &err);
            vms_test_assert_no_error(err);
            g_autofree char *formatted = vms_qmp_msg_format(msg);
            g_autoptr(vms_qmp_msg) again = vms_qmp_msg_parse(formatted, strlen(formatted), &err);
            vms_test_assert_no_error(err);
            g_autofree char *twice = vms_qmp_msg_format(again);
            g_assert_cmpstr(formatted, ==, twice);
            g_string_append_printf(out, "%s:%zu %s %s\n", files[f], i + 1,
                                   vms_qmp_msg_kind_name(msg->kind), formatted);
        }
    }
    vms_test_assert_golden("qmp/parsed.golden", out->str);
    g_string_free(out, TRUE);
}

static void check_parse_error(const char *text, size_t len, const char *message)
{
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_msg_parse(text, len, &err));
    g_autofree char *expected = g_strconcat("QEMU sent a malformed QMP message: ", message, NULL);
    assert_qemu_error(&err, expected);
}

#define CHECK_PARSE_ERROR(literal, message) check_parse_error(literal, sizeof(literal) - 1, message)

static void test_parse_hostile(void)
{
    CHECK_PARSE_ERROR("", "an empty message: ");
    CHECK_PARSE_ERROR(" \r\n", "an empty message:  \\x0d\\x0a");
    CHECK_PARSE_ERROR("{\"return\":\0{}}", "a NUL byte at offset 10: {\"return\":\\x00{}}");
    CHECK_PARSE_ERROR("{\"return\": NaN}",
                      "NaN or Infinity, which JSON does not have: {\"return\": NaN}");
    CHECK_PARSE_ERROR("{\"return\": [{\"a\": -Infinity}]}",
                      "NaN or Infinity, which JSON does not have: {\"return\": [{\"a\": "
                      "-Infinity}]}");
    CHECK_PARSE_ERROR("{\"return\": nan}",
                      "invalid JSON at byte 12 (null expected): {\"return\": nan}");
    CHECK_PARSE_ERROR("{\"return\": 1 \"id\": 2}",
                      "invalid JSON at byte 13 (object value separator ',' expected): "
                      "{\"return\": 1 \"id\": 2}");
    CHECK_PARSE_ERROR("{\"return\": 1,}",
                      "invalid JSON at byte 13 (unexpected character): {\"return\": 1,}");
    CHECK_PARSE_ERROR("42", "a JSON int, not an object: 42");
    /* json-c reads null as no object at all (found by fuzz_qmp_message). */
    CHECK_PARSE_ERROR(" null", "a JSON null, not an object:  null");
    CHECK_PARSE_ERROR("{}", "an object with none of 'QMP', 'return', 'error' or 'event': {}");
    CHECK_PARSE_ERROR("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2}}, "
                      "\"capabilities\": []}}",
                      "'QMP.version.qemu' has no member 'micro': {\"QMP\": {\"version\": "
                      "{\"qemu\": {\"major\": 7, \"minor\": 2}}, \"capabilities\": []}}");
    CHECK_PARSE_ERROR("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": "
                      "\"1\"}}, \"capabilities\": []}}",
                      "'QMP.version.qemu' member 'micro' is a string, not a int: {\"QMP\": "
                      "{\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": \"1\"}}, "
                      "\"capabilities\": []}}");
    CHECK_PARSE_ERROR("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": "
                      "1}}, \"capabilities\": [1]}}",
                      "'QMP.capabilities' holds a int, not a string: {\"QMP\": {\"version\": "
                      "{\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": 1}}, \"capabilities\": "
                      "[1]}}");
    CHECK_PARSE_ERROR("{\"error\": \"x\"}", "'error' is a string, not an object: {\"error\": "
                                            "\"x\"}");
    CHECK_PARSE_ERROR("{\"error\": {\"class\": \"C\", \"desc\": \"a\\u0000b\"}}",
                      "'error' member 'desc' contains a NUL character: {\"error\": {\"class\": "
                      "\"C\", \"desc\": \"a\\u0000b\"}}");
    CHECK_PARSE_ERROR("{\"event\": \"\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}",
                      "an event with an empty name: {\"event\": \"\", \"timestamp\": {\"seconds\": "
                      "1, \"microseconds\": 2}}");
    CHECK_PARSE_ERROR("{\"event\": \"X\", \"data\": [], \"timestamp\": {\"seconds\": 1, "
                      "\"microseconds\": 2}}",
                      "the event member 'data' is a array, not a object: {\"event\": \"X\", "
                      "\"data\": [], \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}");

    g_autofree char *huge = g_strnfill(VMS_QMP_MAX_MESSAGE + 1, ' ');
    vmsnap_error *err = NULL;
    g_assert_null(vms_qmp_msg_parse(huge, VMS_QMP_MAX_MESSAGE + 1, &err));
    g_assert_true(g_str_has_prefix(vmsnap_error_get_message(err),
                                   "QEMU sent a malformed QMP message: 16777217 bytes; the limit "
                                   "is 16777216 bytes (16 MiB): "));
    vms_test_assert_error(err, VMSNAP_ERR_QEMU);
}

static void test_parse_shapes(void)
{
    vmsnap_error *err = NULL;
    const char *event = "{\"event\": \"BLOCK_JOB_COMPLETED\", \"data\": {\"device\": \"j\", "
                        "\"len\": 10, \"offset\": 10}, \"timestamp\": {\"seconds\": 5, "
                        "\"microseconds\": 6}}\r\n";
    g_autoptr(vms_qmp_msg) msg = vms_qmp_msg_parse(event, strlen(event), &err);
    vms_test_assert_no_error(err);
    g_assert_cmpint(msg->kind, ==, VMS_QMP_MSG_EVENT);
    g_assert_cmpstr(msg->event, ==, "BLOCK_JOB_COMPLETED");
    g_assert_cmpstr(msg->data_json, ==, "{\"device\":\"j\",\"len\":10,\"offset\":10}");
    g_assert_cmpint(msg->seconds, ==, 5);
    g_assert_cmpint(msg->microseconds, ==, 6);
    g_assert_null(msg->id_json);

    /* Members QEMU may add later are ignored; ids may be any JSON. */
    const char *error = "{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"no \\\"x\\\"\", "
                        "\"new\": 1}, \"id\": \"s-1\", \"extra\": [1]}";
    g_autoptr(vms_qmp_msg) err_msg = vms_qmp_msg_parse(error, strlen(error), &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(err_msg->error_class, ==, "DeviceNotFound");
    g_assert_cmpstr(err_msg->error_desc, ==, "no \"x\"");
    g_assert_cmpstr(err_msg->id_json, ==, "\"s-1\"");
    g_autofree char *formatted = vms_qmp_msg_format(err_msg);
    g_assert_cmpstr(formatted, ==,
                    "{\"error\":{\"class\":\"DeviceNotFound\",\"desc\":\"no \\\"x\\\"\"},\"id\":"
                    "\"s-1\"}");
}

static void test_json_helpers(void)
{
    const char *json = "{\"status\": \"running\", \"n\": -5, \"f\": 1.5, \"ok\": true, "
                       "\"qemu\": {\"major\": 7}, \"list\": [{\"a\": \"x\"}, {\"a\": \"y\"}]}";
    g_autofree char *status = vms_qmp_json_get_string(json, "status");
    g_assert_cmpstr(status, ==, "running");
    g_autofree char *major = vms_qmp_json_get_string(json, "qemu.major");
    g_assert_cmpstr(major, ==, "7");
    g_autofree char *f = vms_qmp_json_get_string(json, "f");
    g_assert_cmpstr(f, ==, "1.5");
    g_autofree char *second = vms_qmp_json_get_string(json, "list.1.a");
    g_assert_cmpstr(second, ==, "y");
    g_assert_null(vms_qmp_json_get_string(json, "ok"));
    g_assert_null(vms_qmp_json_get_string(json, "qemu"));
    g_assert_null(vms_qmp_json_get_string(json, "missing.deeper"));
    g_assert_null(vms_qmp_json_get_string(json, "list.2.a"));
    g_assert_null(vms_qmp_json_get_string(json, "list.x"));
    g_assert_null(vms_qmp_json_get_string("not json", "status"));
    g_assert_null(vms_qmp_json_get_string(NULL, "status"));

    int64_t n = 0;
    g_assert_true(vms_qmp_json_get_int(json, "n", &n));
    g_assert_cmpint(n, ==, -5);
    g_assert_true(vms_qmp_json_get_int(json, "qemu.major", &n));
    g_assert_cmpint(n, ==, 7);
    g_assert_false(vms_qmp_json_get_int(json, "f", &n));
    g_assert_false(vms_qmp_json_get_int(json, "status", &n));
    bool b = false;
    g_assert_true(vms_qmp_json_get_bool(json, "ok", &b));
    g_assert_true(b);
    g_assert_false(vms_qmp_json_get_bool(json, "n", &b));
    size_t len = 0;
    g_assert_true(vms_qmp_json_get_length(json, "list", &len));
    g_assert_cmpuint(len, ==, 2);
    g_assert_false(vms_qmp_json_get_length(json, "qemu", &len));
    g_autofree char *list = vms_qmp_json_get_json(json, "list.0");
    g_assert_cmpstr(list, ==, "{\"a\":\"x\"}");
    g_autofree char *whole = vms_qmp_json_get_json("[ 1, 2 ]", NULL);
    g_assert_cmpstr(whole, ==, "[1,2]");

    g_autofree char *quoted = vms_qmp_json_quote("a\"b\\c\n/d\x01é");
    g_assert_cmpstr(quoted, ==, "\"a\\\"b\\\\c\\n/d\\u0001é\"");
}

/* --- a real QEMU -------------------------------------------------------- */

static void die_with_parent(gpointer data)
{
    /* A failed assertion aborts the test: QEMU must not outlive it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static GPid spawn_qemu(const char *sock)
{
    g_autofree char *qmp_arg = g_strdup_printf("unix:%s,server=on,wait=off", sock);
    const char *argv[] = {"qemu-system-x86_64",
                          "-accel",
                          "tcg",
                          "-nodefaults",
                          "-display",
                          "none",
                          "-S",
                          "-qmp",
                          qmp_arg,
                          NULL};
    GPid pid = 0;
    g_autoptr(GError) gerr = NULL;
    if (!g_spawn_async(NULL, (char **)argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                       die_with_parent, NULL, &pid, &gerr))
        g_error("cannot start qemu-system-x86_64 (this test needs it installed): %s",
                gerr->message);
    return pid;
}

/* Connect as soon as QEMU listens, within 10 s. */
static vms_qmp *connect_when_listening(const char *sock, GPid pid)
{
    gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    for (;;) {
        vmsnap_error *err = NULL;
        vms_qmp *qmp = vms_qmp_connect(sock, TIMEOUT_MS, &err);
        if (qmp)
            return qmp;
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            g_error("QEMU exited (status %d) before its QMP socket answered: %s", status,
                    vmsnap_error_get_message(err));
        if (g_get_monotonic_time() > deadline)
            g_error("QEMU's QMP socket did not answer within 10 s: %s",
                    vmsnap_error_get_message(err));
        g_assert_true(g_str_has_prefix(vmsnap_error_get_message(err), "cannot connect"));
        vmsnap_error_free(err);
        poll(NULL, 0, 5); /* QEMU is still starting: retry shortly */
    }
}

static char *status_of(vms_qmp *qmp)
{
    g_autofree char *ret = command_ok(qmp, "query-status", NULL);
    return vms_qmp_json_get_string(ret, "status");
}

static int compare_gint64(gconstpointer a, gconstpointer b)
{
    gint64 x = *(const gint64 *)a, y = *(const gint64 *)b;
    return x < y ? -1 : x > y;
}

static void report_round_trip(vms_qmp *qmp)
{
    gint64 times[100];
    for (size_t i = 0; i < G_N_ELEMENTS(times); i++) {
        gint64 start = g_get_monotonic_time();
        g_free(command_ok(qmp, "query-status", NULL));
        times[i] = g_get_monotonic_time() - start;
    }
    qsort(times, G_N_ELEMENTS(times), sizeof(times[0]), compare_gint64);
    g_test_message("QMP round trip (query-status, QEMU %s, median of 100): %" G_GINT64_FORMAT
                   " us (min %" G_GINT64_FORMAT " us, max %" G_GINT64_FORMAT " us)",
                   vms_qmp_qemu_version(qmp), (times[49] + times[50]) / 2, times[0], times[99]);
}

static void test_real_qemu(void)
{
    g_autofree char *dir = vms_test_make_tmpdir();
    g_autofree char *sock = g_build_filename(dir, "qmp.sock", NULL);
    GPid pid = spawn_qemu(sock);
    g_autoptr(vms_qmp) qmp = connect_when_listening(sock, pid);
    g_assert_true(
        g_regex_match_simple("^[0-9]+\\.[0-9]+\\.[0-9]+$", vms_qmp_qemu_version(qmp), 0, 0));

    g_autofree char *prelaunch = status_of(qmp);
    g_assert_cmpstr(prelaunch, ==, "prelaunch");
    vmsnap_error *err = NULL;
    g_free(command_ok(qmp, "cont", NULL));
    assert_event(vms_qmp_wait_event(qmp, "RESUME", TIMEOUT_MS, &err), "RESUME", "{}");
    vms_test_assert_no_error(err);
    g_autofree char *running = status_of(qmp);
    g_assert_cmpstr(running, ==, "running");
    g_free(command_ok(qmp, "stop", NULL));
    assert_event(vms_qmp_wait_event(qmp, "STOP", TIMEOUT_MS, &err), "STOP", "{}");
    vms_test_assert_no_error(err);
    g_autofree char *paused = status_of(qmp);
    g_assert_cmpstr(paused, ==, "paused");

    g_autofree char *hmp = vms_qmp_hmp(qmp, "info status", TIMEOUT_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(hmp, ==, "VM status: paused\n");
    g_assert_null(vms_qmp_command(qmp, "no-such-command", NULL, TIMEOUT_MS, &err));
    assert_qemu_error(&err, "QEMU refused 'no-such-command': The command no-such-command has not "
                            "been found");

    /* QEMU takes the descriptor from the message that carries getfd. */
    int pipe_fds[2];
    g_assert_cmpint(pipe(pipe_fds), ==, 0);
    g_autofree char *got = vms_qmp_command_with_fd(qmp, "getfd", "{\"fdname\":\"vms-test\"}",
                                                   pipe_fds[1], TIMEOUT_MS, &err);
    vms_test_assert_no_error(err);
    g_assert_cmpstr(got, ==, "{}");
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    g_free(command_ok(qmp, "closefd", "{\"fdname\":\"vms-test\"}"));
    g_assert_null(vms_qmp_command(qmp, "closefd", "{\"fdname\":\"vms-test\"}", TIMEOUT_MS, &err));
    assert_qemu_error(&err, "QEMU refused 'closefd': File descriptor named 'vms-test' not found");

    report_round_trip(qmp);

    g_free(command_ok(qmp, "quit", NULL));
    assert_event(vms_qmp_wait_event(qmp, "SHUTDOWN", TIMEOUT_MS, &err), "SHUTDOWN",
                 "{\"guest\":false,\"reason\":\"host-qmp-quit\"}");
    g_assert_null(vms_qmp_wait_event(qmp, "NEVER", TIMEOUT_MS, &err));
    assert_qemu_error(&err, CLOSED);

    kill(pid, SIGKILL); /* in case quit did not end it */
    int status;
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_spawn_close_pid(pid);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/qmp/replay/session", test_session);
    g_test_add_func("/qmp/replay/events-in-order", test_events_in_order);
    g_test_add_func("/qmp/replay/wait-event-keeps-others", test_wait_event_keeps_others);
    g_test_add_func("/qmp/replay/query-block", test_query_block);
    g_test_add_func("/qmp/replay/error-replies", test_error_replies);
    g_test_add_func("/qmp/replay/getfd", test_getfd);
    g_test_add_func("/qmp/peer/silent-greeting", test_silent_greeting);
    g_test_add_func("/qmp/peer/silent-capabilities", test_silent_capabilities);
    g_test_add_func("/qmp/peer/silent-then-late-reply", test_silent_then_late_reply);
    g_test_add_func("/qmp/peer/closed-before-greeting", test_closed_before_greeting);
    g_test_add_func("/qmp/peer/closed-mid-reply", test_closed_mid_reply);
    g_test_add_func("/qmp/peer/missing-socket", test_missing_socket);
    g_test_add_func("/qmp/peer/malformed-replies", test_malformed_replies);
    g_test_add_func("/qmp/peer/deep-nesting", test_deep_nesting);
    g_test_add_func("/qmp/peer/oversized-line", test_oversized_line);
    g_test_add_func("/qmp/peer/long-socket-path", test_long_socket_path);
    g_test_add_func("/qmp/client/bad-arguments", test_bad_arguments);
    g_test_add_func("/qmp/client/arguments-on-the-wire", test_arguments_on_the_wire);
    g_test_add_func("/qmp/parse/recordings", test_parse_recordings);
    g_test_add_func("/qmp/parse/hostile", test_parse_hostile);
    g_test_add_func("/qmp/parse/shapes", test_parse_shapes);
    g_test_add_func("/qmp/json-helpers", test_json_helpers);
    g_test_add_func("/qmp/real-qemu", test_real_qemu);
    return g_test_run();
}
