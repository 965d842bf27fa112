/*
 * qemu_process.c: the QEMU command line, launch, discovery, termination.
 *
 * QEMU runs daemonized (-daemonize). Its working directory at launch is the
 * run directory, so the QMP socket is given as the relative name "qmp.sock":
 * QEMU binds its chardevs before -daemonize moves it to /, and a relative
 * name never hits the 108-byte limit of a UNIX socket address, however deep
 * the state directory is. Everything else is passed as an absolute path.
 *
 * QEMU's stdout and stderr are qemu.log itself (opened for appending), and
 * -D names qemu.log too: with -D, QEMU keeps stderr open after daemonizing,
 * so messages from both before and after daemonizing (a refused disk,
 * "terminating on signal 15") land in the log. QEMU truncates the -D file
 * when it opens it, so qemu.log holds the latest start only.
 */
#include "qemu/qemu_process.h"

#include "util/error.h"
#include "util/pidfd.h"
#include "util/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define QMP_SOCKET_NAME "qmp.sock"
#define DEFAULT_BINARY  "qemu-system-x86_64"
/* How much of qemu.log vms_qemu_log_tail() looks at. */
#define LOG_TAIL_BYTES 65536
/* After SIGKILL, how long the kernel gets to tear the process down. */
#define KILL_WAIT_MS 10000
/* Lines of qemu.log quoted when a start fails. */
#define START_ERROR_LINES 10
/* QEMU node names are < 32 bytes; the file node adds "file-" (9 - 4 for "vms-"). */
#define NODE_NAME_MAX 26

void vms_qemu_config_clear(vms_qemu_config *config)
{
    if (!config)
        return;
    g_free(config->name);
    g_free(config->uuid);
    g_free(config->binary);
    g_free(config->accel);
    g_free(config->machine);
    g_free(config->kernel);
    g_free(config->initrd);
    g_free(config->cmdline);
    for (size_t i = 0; i < config->ndisks; i++) {
        g_free(config->disks[i].file);
        g_free(config->disks[i].format);
        g_free(config->disks[i].node_name);
        g_free(config->disks[i].device_id);
    }
    g_free(config->disks);
    memset(config, 0, sizeof(*config));
}

vms_qemu_paths *vms_qemu_paths_new(const char *run_dir)
{
    g_return_val_if_fail(run_dir && g_path_is_absolute(run_dir), NULL);
    vms_qemu_paths *paths = g_new0(vms_qemu_paths, 1);
    paths->run_dir = g_strdup(run_dir);
    paths->qmp_socket = g_build_filename(run_dir, QMP_SOCKET_NAME, NULL);
    paths->pid_file = g_build_filename(run_dir, "qemu.pid", NULL);
    paths->serial_log = g_build_filename(run_dir, "serial.log", NULL);
    paths->qemu_log = g_build_filename(run_dir, "qemu.log", NULL);
    return paths;
}

void vms_qemu_paths_free(vms_qemu_paths *paths)
{
    if (!paths)
        return;
    g_free(paths->run_dir);
    g_free(paths->qmp_socket);
    g_free(paths->pid_file);
    g_free(paths->serial_log);
    g_free(paths->qemu_log);
    g_free(paths);
}

/* ---- the command line ---- */

char *vms_qemu_file_node_name(const char *node_name)
{
    if (g_str_has_prefix(node_name, "vms-"))
        return g_strconcat("vms-file-", node_name + strlen("vms-"), NULL);
    return g_strconcat("file-", node_name, NULL);
}

/* A value inside a QemuOpts list ("a=b,c=d"): a comma is written twice. */
static char *opts_escape(const char *value)
{
    GString *out = g_string_sized_new(strlen(value) + 8);
    for (const char *p = value; *p; p++) {
        if (*p == ',')
            g_string_append_c(out, ',');
        g_string_append_c(out, *p);
    }
    return g_string_free(out, FALSE);
}

/* QEMU's rule for node names and device ids: a letter, then letters,
 * digits, '-', '.', '_'; node names shorter than 32 bytes. */
static bool qemu_id_ok(const char *id, size_t max)
{
    if (!id || !g_ascii_isalpha(id[0]) || strlen(id) > max)
        return false;
    for (const char *p = id; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_')
            return false;
    return true;
}

/* Machine types and accelerators are plain words ("pc-q35-7.2", "kvm:tcg"). */
static bool plain_word_ok(const char *word)
{
    if (!word || !*word)
        return false;
    for (const char *p = word; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '.' && *p != '_' && *p != ':')
            return false;
    return true;
}

static bool check_path(const char *what, const char *path, vmsnap_error **error)
{
    if (!path || !g_path_is_absolute(path)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "the %s path '%s' is not absolute; QEMU runs in / once daemonized, so give "
                      "a full path",
                      what, path ? path : "");
        return false;
    }
    return true;
}

static bool check_disk(const vms_qemu_disk *disk, vmsnap_error **error)
{
    g_autofree char *what = g_strdup_printf("disk %s", disk->node_name ? disk->node_name : "");
    if (!qemu_id_ok(disk->node_name, NODE_NAME_MAX) || !qemu_id_ok(disk->device_id, 255)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "disk node name '%s' or device id '%s' is not a QEMU identifier (a letter, "
                      "then letters, digits, '-', '.', '_'; node names up to 26 bytes)",
                      disk->node_name ? disk->node_name : "",
                      disk->device_id ? disk->device_id : "");
        return false;
    }
    if (g_strcmp0(disk->format, "qcow2") != 0 && g_strcmp0(disk->format, "raw") != 0) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "disk %s has format '%s'; vmsnap runs qcow2 and raw images", disk->node_name,
                      disk->format ? disk->format : "");
        return false;
    }
    return check_path(what, disk->file, error);
}

static bool check_config(const vms_qemu_config *config, const vms_qemu_paths *paths,
                         vmsnap_error **error)
{
    if (!config->name || !*config->name) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "the QEMU configuration has no name");
        return false;
    }
    if (config->uuid && !g_uuid_string_is_valid(config->uuid)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "'%s' is not a UUID", config->uuid);
        return false;
    }
    if ((config->accel && !plain_word_ok(config->accel)) ||
        (config->machine && !plain_word_ok(config->machine))) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "machine type '%s' or accelerator '%s' is not a plain word",
                      config->machine ? config->machine : "", config->accel ? config->accel : "");
        return false;
    }
    if (config->memory_mib == 0 || config->vcpus == 0) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "domain '%s' needs memory and at least one vCPU", config->name);
        return false;
    }
    if ((config->kernel && !check_path("kernel", config->kernel, error)) ||
        (config->initrd && !check_path("initrd", config->initrd, error)))
        return false;
    if (!check_path("run directory", paths->run_dir, error))
        return false;
    /* -D expands "%d" to the pid and refuses any other '%'. */
    if (strchr(paths->qemu_log, '%')) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "the run directory '%s' contains '%%', which QEMU's -D option cannot take; "
                      "use a state directory without '%%'",
                      paths->run_dir);
        return false;
    }
    for (size_t i = 0; i < config->ndisks; i++)
        if (!check_disk(&config->disks[i], error))
            return false;
    for (size_t i = 0; i < config->ndisks; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(config->disks[i].node_name, config->disks[j].node_name) == 0 ||
                strcmp(config->disks[i].device_id, config->disks[j].device_id) == 0) {
                vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                              "two disks share the node name '%s' or device id '%s'",
                              config->disks[i].node_name, config->disks[i].device_id);
                return false;
            }
    return true;
}

/* One -blockdev in JSON (no QemuOpts comma escaping to get wrong): the
 * format node named @disk->node_name over a file node, both read-only for a
 * read-only disk; QEMU's image locking stays at its default (on). */
static char *blockdev_json(const vms_qemu_disk *disk)
{
    g_autofree char *file_node = vms_qemu_file_node_name(disk->node_name);
    json_object *file = json_object_new_object();
    json_object_object_add(file, "driver", json_object_new_string("file"));
    json_object_object_add(file, "filename", json_object_new_string(disk->file));
    json_object_object_add(file, "node-name", json_object_new_string(file_node));
    if (disk->readonly)
        json_object_object_add(file, "read-only", json_object_new_boolean(1));
    json_object *format = json_object_new_object();
    json_object_object_add(format, "driver", json_object_new_string(disk->format));
    json_object_object_add(format, "node-name", json_object_new_string(disk->node_name));
    if (disk->readonly)
        json_object_object_add(format, "read-only", json_object_new_boolean(1));
    json_object_object_add(format, "file", file);
    char *text = g_strdup(json_object_to_json_string_ext(
        format, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(format);
    return text;
}

static void add(GPtrArray *argv, const char *arg)
{
    g_ptr_array_add(argv, g_strdup(arg));
}

static void add_pair(GPtrArray *argv, const char *option, char *value_owned)
{
    g_ptr_array_add(argv, g_strdup(option));
    g_ptr_array_add(argv, value_owned);
}

char **vms_qemu_build_argv(const vms_qemu_config *config, const vms_qemu_paths *paths,
                           vmsnap_error **error)
{
    if (!check_config(config, paths, error))
        return NULL;
    GPtrArray *argv = g_ptr_array_new();
    add(argv, config->binary ? config->binary : DEFAULT_BINARY);

    g_autofree char *name = opts_escape(config->name);
    add_pair(argv, "-name", g_strdup_printf("guest=%s,debug-threads=on", name));
    if (config->uuid)
        add_pair(argv, "-uuid", g_strdup(config->uuid));
    const char *accel = config->accel ? config->accel : "tcg";
    if (config->machine)
        add_pair(argv, "-machine", g_strdup_printf("type=%s,accel=%s", config->machine, accel));
    else
        add_pair(argv, "-machine", g_strdup_printf("accel=%s", accel));
    add_pair(argv, "-m", g_strdup_printf("%" G_GUINT64_FORMAT, config->memory_mib));
    add_pair(argv, "-smp", g_strdup_printf("%u", config->vcpus));
    add(argv, "-nodefaults");
    add(argv, "-no-user-config");
    add_pair(argv, "-display", g_strdup("none"));
    add_pair(argv, "-msg", g_strdup("timestamp=on"));

    /* -kernel, -initrd and -append take their argument verbatim. */
    if (config->kernel)
        add_pair(argv, "-kernel", g_strdup(config->kernel));
    if (config->initrd)
        add_pair(argv, "-initrd", g_strdup(config->initrd));
    if (config->cmdline)
        add_pair(argv, "-append", g_strdup(config->cmdline));

    for (size_t i = 0; i < config->ndisks; i++) {
        const vms_qemu_disk *disk = &config->disks[i];
        add_pair(argv, "-blockdev", blockdev_json(disk));
        add_pair(
            argv, "-device",
            g_strdup_printf("virtio-blk-pci,drive=%s,id=%s", disk->node_name, disk->device_id));
    }

    g_autofree char *serial = opts_escape(paths->serial_log);
    add_pair(argv, "-chardev", g_strdup_printf("file,id=serial0,path=%s", serial));
    add_pair(argv, "-serial", g_strdup("chardev:serial0"));
    add_pair(argv, "-chardev",
             g_strdup("socket,id=qmp,path=" QMP_SOCKET_NAME ",server=on,wait=off"));
    add_pair(argv, "-mon", g_strdup("chardev=qmp,mode=control"));

    /* -pidfile and -D take their argument verbatim. */
    add_pair(argv, "-pidfile", g_strdup(paths->pid_file));
    add_pair(argv, "-D", g_strdup(paths->qemu_log));
    add(argv, "-daemonize");
    if (config->paused)
        add(argv, "-S");
    if (config->incoming)
        add_pair(argv, "-incoming", g_strdup("defer"));
    g_ptr_array_add(argv, NULL);
    return (char **)g_ptr_array_free(argv, FALSE);
}

/* ---- looking at processes we did not start (QEMU daemonizes) ---- */

/* Alive means /proc/PID exists and is not a zombie waiting for a parent
 * (init in a container may be slow to reap a daemon). */
static bool process_alive(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *stat = NULL;
    if (!g_file_get_contents(path, &stat, NULL, NULL))
        return false;
    /* "PID (comm) S ...": comm may hold spaces and parentheses. */
    const char *close_paren = strrchr(stat, ')');
    if (!close_paren || close_paren[1] != ' ')
        return true;
    char state = close_paren[2];
    return state != 'Z' && state != 'X';
}

/* true if one argument of process @pid is exactly @arg. */
static bool cmdline_has_arg(pid_t pid, const char *arg)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *data = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &data, &len, NULL))
        return false;
    for (gsize off = 0; off < len;) {
        const char *item = data + off;
        gsize item_len = strnlen(item, len - off);
        if (item_len == strlen(arg) && memcmp(item, arg, item_len) == 0)
            return true;
        off += item_len + 1;
    }
    return false;
}

static bool is_our_qemu(pid_t pid, const vms_qemu_paths *paths)
{
    return pid > 1 && process_alive(pid) && cmdline_has_arg(pid, paths->pid_file);
}

static pid_t read_pid_file(const char *path)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, NULL) || len > 32)
        return 0;
    g_strstrip(text);
    guint64 value = 0;
    if (!g_ascii_string_to_unsigned(text, 10, 2, G_MAXINT32, &value, NULL))
        return 0;
    return (pid_t)value;
}

pid_t vms_qemu_find(const vms_qemu_paths *paths)
{
    pid_t pid = read_pid_file(paths->pid_file);
    return is_our_qemu(pid, paths) ? pid : 0;
}

/* Wait for @pid to go away: through a pidfd when the kernel has them
 * (the process is not our child, so waitpid cannot), else by looking at
 * /proc every 10 ms. */
static bool wait_gone(pid_t pid, int pidfd, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + (gint64)MAX(timeout_ms, 0) * 1000;
    for (;;) {
        if (!process_alive(pid))
            return true;
        gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
        if (left_ms <= 0)
            return false;
        if (pidfd >= 0) {
            struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
            int r = poll(&pfd, 1, (int)MIN(left_ms, 1000));
            if (r > 0)
                return true;
        } else {
            g_usleep(10000);
        }
    }
}

bool vms_qemu_wait_exit(pid_t pid, int timeout_ms)
{
    if (pid <= 0)
        return true;
    int pidfd = vms_pidfd_open(pid);
    bool gone = wait_gone(pid, pidfd, timeout_ms);
    if (pidfd >= 0)
        close(pidfd);
    return gone;
}

static int send_signal(pid_t pid, int pidfd, int sig)
{
    /* The pidfd pins the process: a pid recycled since cannot get the signal. */
    if (pidfd >= 0)
        return vms_pidfd_send_signal(pidfd, sig);
    return kill(pid, sig);
}

bool vms_qemu_terminate(pid_t pid, int grace_ms, vmsnap_error **error)
{
    if (pid <= 1) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "no QEMU process to terminate (pid %d)",
                      (int)pid);
        return false;
    }
    int pidfd = vms_pidfd_open(pid);
    if (pidfd < 0 && errno == ESRCH)
        return true;
    bool gone = false;
    if (send_signal(pid, pidfd, SIGTERM) < 0 && errno != ESRCH) {
        vms_error_set_errno(error, VMSNAP_ERR_QEMU, errno,
                            "cannot stop QEMU (pid %d); is it running as another user?", (int)pid);
        goto out;
    }
    gone = wait_gone(pid, pidfd, grace_ms);
    if (!gone) {
        send_signal(pid, pidfd, SIGKILL);
        gone = wait_gone(pid, pidfd, KILL_WAIT_MS);
    }
    if (!gone)
        vms_error_set(error, VMSNAP_ERR_QEMU,
                      "QEMU (pid %d) is still there %d s after SIGKILL; it may be stuck in the "
                      "kernel (look at /proc/%d/stack)",
                      (int)pid, KILL_WAIT_MS / 1000, (int)pid);
out:
    if (pidfd >= 0)
        close(pidfd);
    return gone;
}

/* ---- logs and the run directory ---- */

/* The last @max_lines lines of @text (trailing blank lines dropped). */
static char *last_lines(const char *text, unsigned int max_lines)
{
    g_autofree char *copy = g_strdup(text);
    g_strchomp(copy);
    size_t len = strlen(copy);
    unsigned int seen = 0;
    size_t start = len;
    while (start > 0 && seen < max_lines) {
        start--;
        if (copy[start] == '\n' && ++seen == max_lines) {
            start++;
            break;
        }
    }
    if (max_lines == 0)
        start = len;
    return g_strdup(copy + start);
}

static char *read_file_tail(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return g_strdup("");
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return g_strdup("");
    }
    off_t start = MAX(st.st_size - LOG_TAIL_BYTES, 0);
    size_t want = st.st_size > start ? (size_t)(st.st_size - start) : 0;
    char *buf = g_malloc(want + 1);
    ssize_t got = pread(fd, buf, want, start);
    close(fd);
    buf[got > 0 ? got : 0] = '\0';
    /* A NUL in the log would cut the message short; show it as '?'. */
    for (ssize_t i = 0; i < got; i++)
        if (buf[i] == '\0')
            buf[i] = '?';
    return buf;
}

char *vms_qemu_log_tail(const vms_qemu_paths *paths, unsigned int max_lines)
{
    g_autofree char *text = read_file_tail(paths->qemu_log);
    return last_lines(text, max_lines);
}

static void unlink_quietly(const char *path)
{
    if (unlink(path) < 0 && errno != ENOENT)
        g_debug("cannot remove %s: %s", path, g_strerror(errno));
}

void vms_qemu_cleanup_run_dir(const vms_qemu_paths *paths)
{
    /* Never pull the socket from under a QEMU that still runs. */
    if (vms_qemu_find(paths))
        return;
    unlink_quietly(paths->pid_file);
    unlink_quietly(paths->qmp_socket);
}

/* ---- connecting to the QMP socket ---- */

int vms_qemu_unix_connect(const char *path, vmsnap_error **error)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int dirfd = -1;
    if (strlen(path) < sizeof(addr.sun_path)) {
        memcpy(addr.sun_path, path, strlen(path) + 1);
    } else {
        /* Too long for sun_path: reach it through our descriptor of its
         * directory, which makes the name short whatever the depth. */
        g_autofree char *dir = g_path_get_dirname(path);
        g_autofree char *base = g_path_get_basename(path);
        dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_QEMU, errno, "cannot open directory '%s'", dir);
            return -1;
        }
        int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dirfd, base);
        if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
            close(dirfd);
            vms_error_set(error, VMSNAP_ERR_QEMU, "socket name '%s' is too long", base);
            return -1;
        }
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int saved = errno;
    if (fd >= 0) {
        int r;
        do
            r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
        while (r < 0 && errno == EINTR);
        saved = errno;
        if (r < 0) {
            close(fd);
            fd = -1;
        }
    }
    if (dirfd >= 0)
        close(dirfd);
    if (fd < 0)
        vms_error_set_errno(error, VMSNAP_ERR_QEMU, saved, "cannot connect to QMP socket '%s'",
                            path);
    return fd;
}

/* ---- launch ---- */

/* Every process whose arguments name our pid file: a QEMU that got as far
 * as forking its daemon, whether or not it wrote the pid file yet. */
static GArray *find_by_pid_file(const vms_qemu_paths *paths)
{
    GArray *pids = g_array_new(FALSE, FALSE, sizeof(pid_t));
    GDir *proc = g_dir_open("/proc", 0, NULL);
    if (!proc)
        return pids;
    const char *entry;
    while ((entry = g_dir_read_name(proc))) {
        guint64 value;
        if (!g_ascii_string_to_unsigned(entry, 10, 2, G_MAXINT32, &value, NULL))
            continue;
        pid_t pid = (pid_t)value;
        if (pid != getpid() && is_our_qemu(pid, paths))
            g_array_append_val(pids, pid);
    }
    g_dir_close(proc);
    return pids;
}

/* After a failed start. Scanned again while something was found: a QEMU
 * killed mid-daemonize may have forked its daemon just after a scan. */
static void kill_leftovers(const vms_qemu_paths *paths)
{
    for (int round = 0; round < 3; round++) {
        g_autoptr(GArray) pids = find_by_pid_file(paths);
        if (pids->len == 0)
            break;
        for (guint i = 0; i < pids->len; i++)
            vms_qemu_terminate(g_array_index(pids, pid_t, i), 0, NULL);
    }
    unlink_quietly(paths->pid_file);
    unlink_quietly(paths->qmp_socket);
}

static int open_private(const char *path, int flags, vmsnap_error **error)
{
    int fd = open(path, flags | O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot create '%s'", path);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* qemu.log starts empty: QEMU truncates the -D file when it opens it
 * anyway, and an error from this start must not be mixed with old lines. */
static int open_log(const vms_qemu_paths *paths, vmsnap_error **error)
{
    return open_private(paths->qemu_log, O_APPEND | O_TRUNC, error);
}

/* serial.log starts empty and private to us (QEMU would create it 0640). */
static bool create_serial_log(const vms_qemu_paths *paths, vmsnap_error **error)
{
    int fd = open_private(paths->serial_log, O_TRUNC, error);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

static int ms_left(gint64 deadline)
{
    gint64 left = (deadline - g_get_monotonic_time()) / 1000;
    return left > 0 ? (int)MIN(left, G_MAXINT) : 0;
}

/* The QMP socket accepts a connection (nothing is said on it). */
static bool wait_qmp_socket(const vms_qemu_paths *paths, pid_t pid, gint64 deadline)
{
    for (;;) {
        int fd = vms_qemu_unix_connect(paths->qmp_socket, NULL);
        if (fd >= 0) {
            close(fd);
            return true;
        }
        if (!process_alive(pid) || ms_left(deadline) == 0)
            return false;
        g_usleep(10000);
    }
}

static void set_start_error(vmsnap_error **error, const char *what, const vms_qemu_paths *paths)
{
    g_autofree char *tail = vms_qemu_log_tail(paths, START_ERROR_LINES);
    if (*tail)
        vms_error_set(error, VMSNAP_ERR_QEMU, "%s: %s", what, tail);
    else
        vms_error_set(error, VMSNAP_ERR_QEMU, "%s (nothing in %s)", what, paths->qemu_log);
}

pid_t vms_qemu_launch(const vms_qemu_config *config, const vms_qemu_paths *paths, int timeout_ms,
                      vmsnap_error **error)
{
    g_auto(GStrv) argv = vms_qemu_build_argv(config, paths, error);
    if (!argv)
        return 0;
    pid_t running = vms_qemu_find(paths);
    if (running) {
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "QEMU already runs for '%s' (pid %d); stop it first", config->name,
                      (int)running);
        return 0;
    }
    gint64 deadline = g_get_monotonic_time() + (gint64)MAX(timeout_ms, 1) * 1000;
    /* A pid file or socket left by a QEMU that died must not look fresh. */
    unlink_quietly(paths->pid_file);
    unlink_quietly(paths->qmp_socket);
    if (!create_serial_log(paths, error))
        return 0;
    int log_fd = open_log(paths, error);
    if (log_fd < 0)
        return 0;

    vms_subprocess_options options = VMS_SUBPROCESS_OPTIONS_INIT;
    options.timeout_ms = MAX(ms_left(deadline), 1);
    options.cwd = paths->run_dir; /* where the relative "qmp.sock" is bound */
    options.stdout_fd = log_fd;
    options.stderr_fd = log_fd;
    vms_subprocess_result result;
    bool ran = vms_subprocess_run_with((const char *const *)argv, &options, &result, error);
    close(log_fd);
    if (!ran) {
        vms_error_prefix(error, "QEMU failed to start: ");
        return 0;
    }
    bool timed_out = result.timed_out;
    int status = result.exit_status;
    vms_subprocess_result_clear(&result);

    pid_t pid = 0;
    if (timed_out) {
        set_start_error(error, "QEMU did not start in time", paths);
    } else if (status != 0) {
        set_start_error(error, "QEMU failed to start", paths);
    } else if (!(pid = vms_qemu_find(paths))) {
        set_start_error(error, "QEMU exited right after starting", paths);
    } else if (!wait_qmp_socket(paths, pid, deadline)) {
        set_start_error(error,
                        process_alive(pid) ? "QEMU's QMP socket did not accept connections in time"
                                           : "QEMU exited right after starting",
                        paths);
        pid = 0;
    }
    if (!pid)
        kill_leftovers(paths);
    return pid;
}
