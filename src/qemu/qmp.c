/*
 * qmp.c: the QMP client (see qmp.h and docs/qmp.md).
 *
 * One message per line on the socket. Every wait is a poll() against an
 * absolute deadline, so nothing blocks past the caller's timeout. A peer that
 * closes, sends a malformed or oversized message, or leaves a command half
 * written makes the connection unusable: the first error is kept and every
 * later call reports it again.
 */
#include "qemu/qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "qemu/qmp_parse.h"
#include "util/error.h"

#define CLOSED_MESSAGE "QEMU closed the QMP connection (it may have exited)"
#define RECV_CHUNK     65536

struct vms_qmp {
    int fd;
    char *socket_path;
    char *version;
    GString *in;          /* bytes received and not yet parsed */
    size_t scanned;       /* how much of @in holds no newline */
    GQueue events;        /* vms_qmp_event *, oldest first */
    uint64_t last_id;     /* ids count from 1 on each connection */
    vmsnap_error *broken; /* why the connection is unusable, or NULL */
    char *last_error_class;
};

static void json_object_put_void(struct json_object *obj)
{
    json_object_put(obj);
}
typedef struct json_object vms_json;
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_json, json_object_put_void)

void vms_qmp_event_free(vms_qmp_event *event)
{
    if (!event)
        return;
    g_free(event->name);
    g_free(event->data_json);
    g_free(event);
}

static void event_free_void(gpointer event)
{
    vms_qmp_event_free(event);
}

void vms_qmp_free(vms_qmp *qmp)
{
    if (!qmp)
        return;
    if (qmp->fd >= 0)
        close(qmp->fd);
    g_free(qmp->socket_path);
    g_free(qmp->version);
    g_string_free(qmp->in, TRUE);
    g_queue_clear_full(&qmp->events, event_free_void);
    vmsnap_error_free(qmp->broken);
    g_free(qmp->last_error_class);
    g_free(qmp);
}

const char *vms_qmp_qemu_version(const vms_qmp *qmp)
{
    return qmp->version;
}

const char *vms_qmp_last_error_class(const vms_qmp *qmp)
{
    return qmp->last_error_class;
}

bool vms_qmp_is_usable(const vms_qmp *qmp)
{
    return qmp->broken == NULL;
}

/* --- deadlines --------------------------------------------------------- */

static gint64 deadline_after(int timeout_ms)
{
    return g_get_monotonic_time() + (gint64)MAX(timeout_ms, 0) * 1000;
}

/* Milliseconds left, rounded up so a poll never wakes just before it. */
static int remaining_ms(gint64 deadline)
{
    gint64 left = deadline - g_get_monotonic_time();
    if (left <= 0)
        return 0;
    return (int)MIN((left + 999) / 1000, (gint64)G_MAXINT);
}

/* --- broken connections ------------------------------------------------ */

/* Remember the error just set in *error (or @err) as the reason the
 * connection can no longer be used. */
static void mark_broken(vms_qmp *qmp, const vmsnap_error *err)
{
    if (qmp->broken || !err)
        return;
    qmp->broken = vms_error_new(err->code, err->message);
}

static void set_broken(vms_qmp *qmp, vmsnap_error **error, const char *message)
{
    g_autoptr(vmsnap_error) err = vms_error_new(VMSNAP_ERR_QEMU, message);
    mark_broken(qmp, err);
    vms_error_set(error, err->code, "%s", err->message);
}

static bool check_usable(vms_qmp *qmp, vmsnap_error **error)
{
    if (!qmp->broken)
        return true;
    vms_error_set(error, qmp->broken->code, "%s", qmp->broken->message);
    return false;
}

/* --- reading messages -------------------------------------------------- */

static void set_oversized(vms_qmp *qmp, vmsnap_error **error)
{
    g_autofree char *text =
        g_strdup_printf("QEMU sent a malformed QMP message: a line longer than %d bytes (16 MiB)",
                        VMS_QMP_MAX_MESSAGE);
    set_broken(qmp, error, text);
}

typedef enum { READ_OK, READ_TIMEOUT, READ_FAILED } read_status;

/* Parse the first complete line of the input buffer, if there is one. */
static read_status take_line(vms_qmp *qmp, vms_qmp_msg **msg, vmsnap_error **error)
{
    *msg = NULL;
    const char *nl = memchr(qmp->in->str + qmp->scanned, '\n', qmp->in->len - qmp->scanned);
    if (!nl) {
        qmp->scanned = qmp->in->len;
        if (qmp->in->len > VMS_QMP_MAX_MESSAGE) {
            set_oversized(qmp, error);
            return READ_FAILED;
        }
        return READ_TIMEOUT;
    }
    size_t len = (size_t)(nl - qmp->in->str);
    if (len > VMS_QMP_MAX_MESSAGE) {
        set_oversized(qmp, error);
        return READ_FAILED;
    }
    /* QEMU ends lines with CR LF; the CR is not part of the message. */
    size_t msg_len = len > 0 && qmp->in->str[len - 1] == '\r' ? len - 1 : len;
    vmsnap_error *err = NULL;
    *msg = vms_qmp_msg_parse(qmp->in->str, msg_len, &err);
    g_string_erase(qmp->in, 0, (gssize)len + 1);
    qmp->scanned = 0;
    if (!*msg) {
        mark_broken(qmp, err);
        vms_error_propagate(error, err);
        return READ_FAILED;
    }
    return READ_OK;
}

/* One poll() and recv() into the input buffer. */
static read_status fill(vms_qmp *qmp, gint64 deadline, vmsnap_error **error)
{
    for (;;) {
        struct pollfd pfd = {.fd = qmp->fd, .events = POLLIN};
        int n = poll(&pfd, 1, remaining_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_QEMU, errno, "waiting for QEMU's QMP socket");
            return READ_FAILED;
        }
        if (n == 0)
            return READ_TIMEOUT;
        char buf[RECV_CHUNK];
        ssize_t got = recv(qmp->fd, buf, sizeof(buf), 0);
        if (got > 0) {
            g_string_append_len(qmp->in, buf, got);
            return READ_OK;
        }
        if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        /* QEMU exiting may reset the connection rather than close it. */
        if (got == 0 || errno == ECONNRESET) {
            set_broken(qmp, error, CLOSED_MESSAGE);
            return READ_FAILED;
        }
        vmsnap_error *err = NULL;
        vms_error_set_errno(&err, VMSNAP_ERR_QEMU, errno, "reading from QEMU's QMP socket %s",
                            qmp->socket_path);
        mark_broken(qmp, err);
        vms_error_propagate(error, err);
        return READ_FAILED;
    }
}

/* The next message, waiting until @deadline. */
static read_status read_message(vms_qmp *qmp, gint64 deadline, vms_qmp_msg **msg,
                                vmsnap_error **error)
{
    if (!check_usable(qmp, error))
        return READ_FAILED;
    for (;;) {
        read_status st = take_line(qmp, msg, error);
        if (st != READ_TIMEOUT)
            return st;
        st = fill(qmp, deadline, error);
        if (st != READ_OK)
            return st;
    }
}

static vms_qmp_event *event_from_msg(vms_qmp_msg *msg)
{
    vms_qmp_event *event = g_new0(vms_qmp_event, 1);
    event->name = g_steal_pointer(&msg->event);
    event->data_json = g_steal_pointer(&msg->data_json);
    event->seconds = msg->seconds;
    event->microseconds = msg->microseconds;
    return event;
}

static void unexpected_greeting(vms_qmp *qmp, vmsnap_error **error)
{
    set_broken(qmp, error,
               "QEMU sent a malformed QMP message: a greeting in the middle of the session");
}

/* --- sending ----------------------------------------------------------- */

/* Send @data, the first byte carrying @fd when @fd >= 0. A command cut off
 * part way leaves the stream unusable; one not started does not. */
static bool send_all(vms_qmp *qmp, const char *command, const char *data, size_t len, int fd,
                     gint64 deadline, int timeout_ms, vmsnap_error **error)
{
    size_t sent = 0;
    while (sent < len) {
        struct pollfd pfd = {.fd = qmp->fd, .events = POLLOUT};
        int n = poll(&pfd, 1, remaining_ms(deadline));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0) {
            g_autofree char *text =
                g_strdup_printf("QEMU did not read '%s' within %d ms", command, timeout_ms);
            if (sent > 0)
                set_broken(qmp, error, text);
            else
                vms_error_set(error, VMSNAP_ERR_QEMU, "%s", text);
            return false;
        }
        ssize_t w;
        if (sent == 0 && fd >= 0) {
            struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
            union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
            } control;
            memset(&control, 0, sizeof(control));
            struct msghdr mh = {.msg_iov = &iov,
                                .msg_iovlen = 1,
                                .msg_control = control.buf,
                                .msg_controllen = sizeof(control.buf)};
            struct cmsghdr *cmsg = CMSG_FIRSTHDR(&mh);
            cmsg->cmsg_level = SOL_SOCKET;
            cmsg->cmsg_type = SCM_RIGHTS;
            cmsg->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
            w = sendmsg(qmp->fd, &mh, MSG_NOSIGNAL);
        } else {
            w = send(qmp->fd, data + sent, len - sent, MSG_NOSIGNAL);
        }
        if (w > 0) {
            sent += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
            continue;
        if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            set_broken(qmp, error, CLOSED_MESSAGE);
            return false;
        }
        vmsnap_error *err = NULL;
        vms_error_set_errno(&err, VMSNAP_ERR_QEMU, errno, "sending '%s' to QEMU", command);
        if (sent > 0)
            mark_broken(qmp, err);
        vms_error_propagate(error, err);
        return false;
    }
    return true;
}

/* The command line QEMU gets: {"execute":..,"arguments":..,"id":N}. */
static char *build_command(const char *command, const char *args_json, uint64_t id,
                           vmsnap_error **error)
{
    g_autoptr(vms_json) msg = json_object_new_object();
    json_object_object_add(msg, "execute", json_object_new_string(command));
    if (args_json) {
        struct json_object *args = NULL;
        if (!vms_qmp_json_parse(args_json, strlen(args_json), false, &args, error)) {
            vms_error_prefix(error, "arguments for QMP command '%s': ", command);
            return NULL;
        }
        if (!json_object_is_type(args, json_type_object)) {
            vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                          "arguments for QMP command '%s' are a JSON %s, not an object", command,
                          json_type_to_name(json_object_get_type(args)));
            json_object_put(args);
            return NULL;
        }
        json_object_object_add(msg, "arguments", args);
    }
    json_object_object_add(msg, "id", json_object_new_uint64(id));
    g_autofree char *text = vms_qmp_json_to_text(msg);
    return g_strconcat(text, "\n", NULL);
}

/* Send @command and wait for the reply with its id; events meanwhile are
 * queued, replies to earlier commands that timed out are dropped. */
static char *execute(vms_qmp *qmp, const char *command, const char *args_json, int fd,
                     gint64 deadline, int timeout_ms, vmsnap_error **error)
{
    g_clear_pointer(&qmp->last_error_class, g_free);
    if (!command || !*command) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "no QMP command given");
        return NULL;
    }
    if (!check_usable(qmp, error))
        return NULL;
    uint64_t id = ++qmp->last_id;
    g_autofree char *line = build_command(command, args_json, id, error);
    if (!line)
        return NULL;
    if (!send_all(qmp, command, line, strlen(line), fd, deadline, timeout_ms, error))
        return NULL;

    g_autofree char *id_text = g_strdup_printf("%" PRIu64, id);
    for (;;) {
        g_autoptr(vms_qmp_msg) msg = NULL;
        read_status st = read_message(qmp, deadline, &msg, error);
        if (st == READ_TIMEOUT) {
            vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU did not answer '%s' within %d ms", command,
                          timeout_ms);
            return NULL;
        }
        if (st == READ_FAILED)
            return NULL;
        switch (msg->kind) {
        case VMS_QMP_MSG_EVENT:
            g_queue_push_tail(&qmp->events, event_from_msg(msg));
            continue;
        case VMS_QMP_MSG_GREETING:
            unexpected_greeting(qmp, error);
            return NULL;
        case VMS_QMP_MSG_RETURN:
            if (g_strcmp0(msg->id_json, id_text) != 0)
                continue; /* a late reply to a command that timed out */
            return g_steal_pointer(&msg->return_json);
        case VMS_QMP_MSG_ERROR:
            /* QEMU answers without an id when it could not read the
             * command at all: that is this command. */
            if (msg->id_json && strcmp(msg->id_json, id_text) != 0)
                continue;
            qmp->last_error_class = g_steal_pointer(&msg->error_class);
            vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU refused '%s': %s", command,
                          msg->error_desc);
            return NULL;
        }
    }
}

char *vms_qmp_command(vms_qmp *qmp, const char *command, const char *args_json, int timeout_ms,
                      vmsnap_error **error)
{
    return execute(qmp, command, args_json, -1, deadline_after(timeout_ms), timeout_ms, error);
}

char *vms_qmp_command_with_fd(vms_qmp *qmp, const char *command, const char *args_json, int fd,
                              int timeout_ms, vmsnap_error **error)
{
    if (fd < 0) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "no file descriptor to pass with '%s'",
                      command ? command : "(null)");
        return NULL;
    }
    return execute(qmp, command, args_json, fd, deadline_after(timeout_ms), timeout_ms, error);
}

/* HMP output uses CR LF line ends; callers get plain LF. */
static char *normalize_newlines(const char *text)
{
    GString *out = g_string_sized_new(strlen(text));
    for (const char *p = text; *p; p++)
        if (!(p[0] == '\r' && p[1] == '\n'))
            g_string_append_c(out, *p);
    return g_string_free(out, FALSE);
}

char *vms_qmp_hmp(vms_qmp *qmp, const char *command_line, int timeout_ms, vmsnap_error **error)
{
    if (!command_line) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "no HMP command line given");
        return NULL;
    }
    g_autofree char *quoted = vms_qmp_json_quote(command_line);
    g_autofree char *args = g_strdup_printf("{\"command-line\":%s}", quoted);
    g_autofree char *ret = vms_qmp_command(qmp, "human-monitor-command", args, timeout_ms, error);
    if (!ret)
        return NULL;
    g_autoptr(vms_json) value = NULL;
    if (!vms_qmp_json_parse(ret, strlen(ret), true, &value, error))
        return NULL;
    if (!json_object_is_type(value, json_type_string)) {
        vms_error_set(error, VMSNAP_ERR_QEMU,
                      "QEMU sent a malformed QMP message: 'human-monitor-command' returned a "
                      "%s, not a string",
                      json_type_to_name(json_object_get_type(value)));
        return NULL;
    }
    char *text = normalize_newlines(json_object_get_string(value));
    /* HMP reports failure as successful output starting with "Error:". */
    if (g_str_has_prefix(text, "Error:")) {
        g_autofree char *desc = g_strstrip(g_strdup(text + strlen("Error:")));
        vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU refused '%s': %s", command_line, desc);
        g_free(text);
        return NULL;
    }
    return text;
}

/* --- events ------------------------------------------------------------ */

static vms_qmp_event *take_queued(vms_qmp *qmp, const char *name)
{
    for (GList *l = qmp->events.head; l; l = l->next) {
        vms_qmp_event *event = l->data;
        if (!name || strcmp(event->name, name) == 0) {
            g_queue_delete_link(&qmp->events, l);
            return event;
        }
    }
    return NULL;
}

vms_qmp_event *vms_qmp_wait_event(vms_qmp *qmp, const char *name, int timeout_ms,
                                  vmsnap_error **error)
{
    vms_qmp_event *queued = take_queued(qmp, name);
    if (queued)
        return queued;
    gint64 deadline = deadline_after(timeout_ms);
    for (;;) {
        g_autoptr(vms_qmp_msg) msg = NULL;
        read_status st = read_message(qmp, deadline, &msg, error);
        if (st == READ_TIMEOUT) {
            if (name)
                vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU sent no '%s' event within %d ms", name,
                              timeout_ms);
            else
                vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU sent no event within %d ms",
                              timeout_ms);
            return NULL;
        }
        if (st == READ_FAILED)
            return NULL;
        if (msg->kind == VMS_QMP_MSG_GREETING) {
            unexpected_greeting(qmp, error);
            return NULL;
        }
        if (msg->kind != VMS_QMP_MSG_EVENT)
            continue; /* a late reply to a command that timed out */
        if (!name || strcmp(msg->event, name) == 0)
            return event_from_msg(msg);
        g_queue_push_tail(&qmp->events, event_from_msg(msg));
    }
}

/* Queue the events already sent, without waiting. Errors are kept in
 * qmp->broken for the next call that can report them. */
static void drain_available(vms_qmp *qmp)
{
    for (int round = 0; round < 2 && !qmp->broken; round++) {
        vms_qmp_msg *msg = NULL;
        while (take_line(qmp, &msg, NULL) == READ_OK) {
            if (msg->kind == VMS_QMP_MSG_EVENT)
                g_queue_push_tail(&qmp->events, event_from_msg(msg));
            vms_qmp_msg_free(msg);
        }
        /* One read only: a peer that never stops sending cannot keep us. */
        if (round == 0 && !qmp->broken && fill(qmp, g_get_monotonic_time(), NULL) != READ_OK)
            break;
    }
}

vms_qmp_event *vms_qmp_next_event(vms_qmp *qmp)
{
    if (g_queue_is_empty(&qmp->events))
        drain_available(qmp);
    return g_queue_pop_head(&qmp->events);
}

/* --- connecting -------------------------------------------------------- */

static bool fill_sockaddr(struct sockaddr_un *addr, const char *path)
{
    if (strlen(path) >= sizeof(addr->sun_path))
        return false;
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    strcpy(addr->sun_path, path);
    return true;
}

static void set_connect_error(vmsnap_error **error, const char *path, int errnum)
{
    if (errnum == ENOENT || errnum == ECONNREFUSED)
        vms_error_set(error, VMSNAP_ERR_QEMU,
                      "cannot connect to QEMU's QMP socket %s: %s (QEMU is not running, or not "
                      "listening there)",
                      path, g_strerror(errnum));
    else
        vms_error_set_errno(error, VMSNAP_ERR_QEMU, errnum,
                            "cannot connect to QEMU's QMP socket %s", path);
}

/* connect(), retried while the listener's backlog is full (EAGAIN). */
static bool connect_retrying(int fd, const struct sockaddr_un *addr, const char *path,
                             gint64 deadline, vmsnap_error **error)
{
    for (;;) {
        if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0)
            return true;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            set_connect_error(error, path, errno);
            return false;
        }
        if (remaining_ms(deadline) == 0) {
            vms_error_set(error, VMSNAP_ERR_QEMU,
                          "QEMU's QMP socket %s accepts no connection (its queue is full)", path);
            return false;
        }
        poll(NULL, 0, MIN(10, remaining_ms(deadline)));
    }
}

/* A socket connected to @path. Paths longer than sun_path are reached as
 * /proc/self/fd/N/<name>, N being a descriptor of the directory. */
static int connect_unix(const char *path, gint64 deadline, vmsnap_error **error)
{
    struct sockaddr_un addr;
    int dirfd = -1;
    if (!fill_sockaddr(&addr, path)) {
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *base = g_path_get_basename(path);
        dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
            set_connect_error(error, path, errno);
            return -1;
        }
        g_autofree char *via = g_strdup_printf("/proc/self/fd/%d/%s", dirfd, base);
        if (!fill_sockaddr(&addr, via)) {
            close(dirfd);
            vms_error_set(error, VMSNAP_ERR_QEMU,
                          "cannot connect to QEMU's QMP socket %s: its file name is longer than "
                          "%zu bytes; use a shorter name",
                          path, sizeof(addr.sun_path) - sizeof("/proc/self/fd/NNNN/"));
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_QEMU, errno, "cannot create a socket for QMP");
    } else if (!connect_retrying(fd, &addr, path, deadline, error)) {
        close(fd);
        fd = -1;
    }
    if (dirfd >= 0)
        close(dirfd);
    return fd;
}

static bool read_greeting(vms_qmp *qmp, gint64 deadline, int timeout_ms, vmsnap_error **error)
{
    g_autoptr(vms_qmp_msg) msg = NULL;
    read_status st = read_message(qmp, deadline, &msg, error);
    if (st == READ_TIMEOUT) {
        vms_error_set(error, VMSNAP_ERR_QEMU,
                      "QEMU sent no QMP greeting within %d ms (QEMU may be hung, or another "
                      "client is connected to this monitor)",
                      timeout_ms);
        return false;
    }
    if (st == READ_FAILED)
        return false;
    if (msg->kind != VMS_QMP_MSG_GREETING) {
        vms_error_set(error, VMSNAP_ERR_QEMU,
                      "QEMU sent a malformed QMP message: expected the greeting, got %s %s",
                      msg->kind == VMS_QMP_MSG_ERROR ? "an" : "a",
                      vms_qmp_msg_kind_name(msg->kind));
        return false;
    }
    qmp->version = g_steal_pointer(&msg->version);
    return true;
}

vms_qmp *vms_qmp_connect(const char *socket_path, int timeout_ms, vmsnap_error **error)
{
    if (!socket_path || !*socket_path) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "no QMP socket path given");
        return NULL;
    }
    gint64 deadline = deadline_after(timeout_ms);
    int fd = connect_unix(socket_path, deadline, error);
    if (fd < 0)
        return NULL;
    g_autoptr(vms_qmp) qmp = g_new0(vms_qmp, 1);
    qmp->fd = fd;
    qmp->socket_path = g_strdup(socket_path);
    qmp->in = g_string_new(NULL);
    g_queue_init(&qmp->events);

    vmsnap_error *err = NULL;
    g_autofree char *ret = NULL;
    if (read_greeting(qmp, deadline, timeout_ms, &err))
        ret = execute(qmp, "qmp_capabilities", NULL, -1, deadline, timeout_ms, &err);
    if (!ret) {
        vms_error_prefix(&err, "connecting to QEMU's QMP socket %s: ", socket_path);
        vms_error_propagate(error, err);
        return NULL;
    }
    return g_steal_pointer(&qmp);
}

/* --- JSON helpers ------------------------------------------------------ */

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!g_ascii_isdigit(*s))
            return false;
    return true;
}

/* The value at dotted path @key ("a.b", "0.name" for arrays) in @root;
 * NULL or "" is @root itself. Borrowed from @root. */
static struct json_object *lookup(struct json_object *root, const char *key)
{
    if (!key || !*key)
        return root;
    g_auto(GStrv) parts = g_strsplit(key, ".", -1);
    struct json_object *cur = root;
    for (size_t i = 0; parts[i] && cur; i++) {
        struct json_object *next = NULL;
        if (json_object_is_type(cur, json_type_object)) {
            json_object_object_get_ex(cur, parts[i], &next);
        } else if (json_object_is_type(cur, json_type_array) && all_digits(parts[i])) {
            guint64 idx = g_ascii_strtoull(parts[i], NULL, 10);
            if (idx < json_object_array_length(cur))
                next = json_object_array_get_idx(cur, (size_t)idx);
        }
        cur = next;
    }
    return cur;
}

/* Parse @json (text vmsnap got from this client) quietly. */
static struct json_object *parse_quiet(const char *json)
{
    if (!json)
        return NULL;
    struct json_object *value = NULL;
    vms_qmp_json_parse(json, strlen(json), false, &value, NULL);
    return value;
}

char *vms_qmp_json_get_string(const char *json, const char *key)
{
    g_autoptr(vms_json) root = parse_quiet(json);
    struct json_object *value = root ? lookup(root, key) : NULL;
    if (!value)
        return NULL;
    switch (json_object_get_type(value)) {
    case json_type_string:
        return g_strdup(json_object_get_string(value));
    case json_type_int:
    case json_type_double:
        return vms_qmp_json_to_text(value);
    default:
        return NULL;
    }
}

bool vms_qmp_json_get_int(const char *json, const char *key, int64_t *value)
{
    g_autoptr(vms_json) root = parse_quiet(json);
    struct json_object *found = root ? lookup(root, key) : NULL;
    if (!found || !json_object_is_type(found, json_type_int))
        return false;
    *value = json_object_get_int64(found);
    return true;
}

bool vms_qmp_json_get_bool(const char *json, const char *key, bool *value)
{
    g_autoptr(vms_json) root = parse_quiet(json);
    struct json_object *found = root ? lookup(root, key) : NULL;
    if (!found || !json_object_is_type(found, json_type_boolean))
        return false;
    *value = json_object_get_boolean(found);
    return true;
}

char *vms_qmp_json_get_json(const char *json, const char *key)
{
    g_autoptr(vms_json) root = parse_quiet(json);
    struct json_object *found = root ? lookup(root, key) : NULL;
    return found ? vms_qmp_json_to_text(found) : NULL;
}

bool vms_qmp_json_get_length(const char *json, const char *key, size_t *length)
{
    g_autoptr(vms_json) root = parse_quiet(json);
    struct json_object *found = root ? lookup(root, key) : NULL;
    if (!found || !json_object_is_type(found, json_type_array))
        return false;
    *length = json_object_array_length(found);
    return true;
}

char *vms_qmp_json_quote(const char *text)
{
    g_autoptr(vms_json) str = json_object_new_string(text ? text : "");
    return vms_qmp_json_to_text(str);
}
