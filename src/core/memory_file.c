/* memory_file.c: external memory files of full snapshots (see the header). */
#include "core/memory_file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memstate/memstate.h"
#include "qemu/qemu_snapshot.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/file.h"

/* Saving or loading the memory of a big guest takes as long as it takes. */
#define SAVE_TIMEOUT_MS (6 * 3600 * 1000)
#define LOAD_TIMEOUT_MS (10 * 60 * 1000)

char *vms_memory_default_path(vms_store *store, const char *dom, const char *snap,
                              vmsnap_error **error)
{
    g_autofree char *dir = g_build_filename(vms_store_root(store), "domains", dom, "memory", NULL);
    struct stat st;
    if (g_mkdir(dir, 0700) < 0 && errno != EEXIST) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot create '%s'", dir);
        return NULL;
    }
    /* Guest RAM goes in there: never through a symlink someone planted. */
    if (g_lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_IO, "'%s' is not a directory; remove it and try again",
                      dir);
        return NULL;
    }
    g_autofree char *base = g_strdup_printf("%s.vmstate", snap);
    return g_build_filename(dir, base, NULL);
}

int vms_memory_file_create(const char *path, vmsnap_error **error)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "'%s' exists; vmsnap never overwrites a file: choose another file for "
                      "the memory",
                      path);
        return -1;
    }
    if (fd < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot create memory file '%s'", path);
        return -1;
    }
    if (fchmod(fd, 0600) < 0) { /* the umask may have taken bits away, never added */
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot set the mode of '%s'", path);
        close(fd);
        g_unlink(path);
        return -1;
    }
    return fd;
}

/* QEMU's own migration stream, as 0.2 saved it. */
static bool is_bare_stream(int fd)
{
    char magic[4];
    return pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) &&
           memcmp(magic, "QEVM", sizeof(magic)) == 0;
}

int vms_memory_file_open(const vms_snapshot_def *def, vmsnap_error **error)
{
    if (!def->memory_file) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "snapshot '%s' keeps its memory in an external file but does not say "
                      "which",
                      def->name);
        return -1;
    }
    int fd = open(def->memory_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "the memory file '%s' of snapshot '%s' is missing, so the guest cannot "
                      "resume from it; put the file back, or revert to another snapshot",
                      def->memory_file, def->name);
        return -1;
    }
    if (fd < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno,
                            "cannot open the memory file '%s' of snapshot '%s'", def->memory_file,
                            def->name);
        return -1;
    }
    return fd;
}

/* Only a saved VM state is ever removed as one: metadata naming some other
 * file (a redefined snapshot from another machine, an edited file) never
 * costs that file. */
static bool is_vm_state(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool is_memstate = false;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              (vms_memstate_probe(fd, &is_memstate, NULL) && (is_memstate || is_bare_stream(fd)));
    close(fd);
    return ok;
}

bool vms_memory_file_remove(const vms_snapshot_def *def, vmsnap_error **error)
{
    if (def->memory != VMS_SNAP_LOCATION_EXTERNAL || !def->memory_file ||
        !is_vm_state(def->memory_file))
        return true;
    if (g_unlink(def->memory_file) < 0 && errno != ENOENT) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno,
                            "cannot remove the memory file '%s' of snapshot '%s'", def->memory_file,
                            def->name);
        return false;
    }
    return true;
}

/* --- saving ------------------------------------------------------------------ */

static vms_memstate_compression memstate_compression(vms_mem_compression c)
{
    switch (c) {
    case VMS_MEM_COMPRESSION_GZIP:
        return VMS_MEMSTATE_COMPRESS_GZIP;
    case VMS_MEM_COMPRESSION_ZSTD:
        return VMS_MEMSTATE_COMPRESS_ZSTD;
    default:
        return VMS_MEMSTATE_COMPRESS_NONE;
    }
}

static void fill_header(vms_memstate_info *info, const vms_snapshot_def *def,
                        const vms_domain_def *domain, const char *qemu_version)
{
    *info = (vms_memstate_info){0};
    vms_uuid_format(domain->uuid, info->domain_uuid);
    g_strlcpy(info->snapshot_name, def->name, sizeof(info->snapshot_name));
    info->compression = memstate_compression(def->compression);
    info->size_hint = (uint64_t)domain->memory_kib * 1024;
    g_strlcpy(info->qemu_version, qemu_version ? qemu_version : "", sizeof(info->qemu_version));
    info->created = def->has_creation_time ? def->creation_time : 0;
}

/* Read @fd to its end, throwing the bytes away. */
static void drain(int fd)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EINTR))
            return;
    }
}

/* The child that writes the memory file. QEMU's stream is always read to
 * its end, whatever happens to the file or to vmsnap: QEMU 7.2 leaves a
 * guest whose background snapshot failed half-way frozen for good (a vCPU
 * waits on write-protected RAM no one releases), so neither a full disk
 * nor a killed vmsnap may make the migration fail. The file gets its
 * trailer only when the parent, having seen QEMU complete, says 'F';
 * anything else (the parent gone included) leaves it unfinished. */
static G_NORETURN void writer_child(int data_fd, int file_fd, int chan_fd,
                                    const vms_memstate_info *info)
{
    setsid(); /* no signal from the terminal of the vmsnap that started it */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGQUIT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    vmsnap_error *err = NULL;
    vms_memstate_writer *w = vms_memstate_writer_new(file_fd, info, &err);
    bool ok = w && vms_memstate_writer_pump(w, data_fd, NULL, info->size_hint, &err);
    drain(data_fd);
    char command = 0;
    ssize_t n;
    do
        n = read(chan_fd, &command, 1);
    while (n < 0 && errno == EINTR);
    char hex[33] = "";
    if (ok && n == 1 && command == 'F')
        ok = vms_memstate_writer_finish(w, &err) && vms_memstate_writer_checksum(w, hex);
    g_autofree char *reply = ok && hex[0]
                                 ? g_strdup_printf("OK %s\n", hex)
                                 : g_strdup_printf("ERR %s\n", err ? vmsnap_error_get_message(err)
                                                                   : "the save did not complete");
    g_strdelimit(reply + 4, "\n", ' ');
    reply[strlen(reply) - 1] = '\n';
    (void)!send(chan_fd, reply, strlen(reply), MSG_NOSIGNAL);
    _exit(0);
}

/* The child's one-line answer: the checksum, or why the file failed. */
static bool read_child_answer(int chan_fd, pid_t pid, char checksum[33], const char *path,
                              vmsnap_error **error)
{
    char line[4096];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(chan_fd, line + got, sizeof(line) - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (got += (size_t)n) == sizeof(line) - 1)
            break;
    }
    line[got] = '\0';
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    g_strchomp(line);
    if (g_str_has_prefix(line, "OK ") && strlen(line + 3) == 32) {
        g_strlcpy(checksum, line + 3, 33);
        return true;
    }
    vms_error_set(error, VMSNAP_ERR_IO, "cannot write memory file '%s': %s", path,
                  g_str_has_prefix(line, "ERR ") ? line + 4 : "its writer process died");
    return false;
}

bool vms_memory_save_begin(vms_qmp *qmp, int fd, const char *path, const vms_snapshot_def *def,
                           const vms_domain_def *domain, bool live, vms_memory_saving *saving,
                           vmsnap_error **error)
{
    *saving = (vms_memory_saving){.pid = -1, .chan = -1, .path = path};
    saving->kind = live ? VMS_MIGRATION_SAVE_LIVE : VMS_MIGRATION_SAVE;
    vms_memstate_info info;
    fill_header(&info, def, domain, vms_qmp_qemu_version(qmp));
    /* data: QEMU's stream to the child; chan: the parent's word ('F' or
     * 'A') to the child and its answer back (a socket: no SIGPIPE). */
    int data[2], chan[2];
    if (pipe2(data, O_CLOEXEC) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot make a pipe for QEMU");
        return false;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot make a socket pair");
        close(data[0]);
        close(data[1]);
        return false;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(data[1]);
        close(chan[0]);
        writer_child(data[0], fd, chan[1], &info);
    }
    close(data[0]);
    close(chan[1]);
    if (pid < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot start the memory file's writer");
        close(data[1]);
        close(chan[0]);
        return false;
    }
    saving->pid = pid;
    saving->chan = chan[0];
    saving->fdname = vms_qemu_migration_prepare(qmp, data[1], saving->kind, error);
    /* QEMU holds its own copy: the pipe ends when QEMU closes it. */
    close(data[1]);
    if (!saving->fdname) {
        vms_memory_save_abort(qmp, saving);
        return false;
    }
    return true;
}

/* Tell the child how it ended ('F': QEMU completed, finish the file; 'A':
 * leave it) and take its answer. */
static bool child_verdict(vms_memory_saving *saving, bool completed, char checksum[33],
                          vmsnap_error **error)
{
    char command = completed ? 'F' : 'A';
    (void)!send(saving->chan, &command, 1, MSG_NOSIGNAL);
    bool written = read_child_answer(saving->chan, saving->pid, checksum, saving->path, error);
    close(saving->chan);
    saving->chan = -1;
    saving->pid = -1;
    g_clear_pointer(&saving->fdname, g_free);
    return written;
}

void vms_memory_save_abort(vms_qmp *qmp, vms_memory_saving *saving)
{
    if (saving->fdname)
        vms_qemu_migration_drop_fd(qmp, saving->fdname); /* the child sees EOF */
    if (saving->pid > 0) {
        char checksum[33];
        child_verdict(saving, false, checksum, NULL);
    }
    g_clear_pointer(&saving->fdname, g_free);
}

bool vms_memory_save_end(vms_qmp *qmp, vms_memory_saving *saving, const vms_progress *progress,
                         vms_memory_saved *saved, vmsnap_error **error)
{
    vmsnap_error *qemu_error = NULL;
    bool started = vms_qemu_migration_go(qmp, saving->fdname, saving->kind, &qemu_error);
    vms_fault_point("memory.saving");
    vms_migration_stats stats = {.downtime_ms = -1};
    bool completed = started && vms_qemu_migration_wait(qmp, saving->kind, -1, SAVE_TIMEOUT_MS,
                                                        progress, &stats, &qemu_error);
    vmsnap_error *file_error = NULL;
    bool written = child_verdict(saving, completed, saved->checksum, &file_error);
    if (!completed) {
        vmsnap_error_free(file_error);
        vms_error_propagate(error, qemu_error);
        return false;
    }
    if (!written) {
        vms_error_propagate(error, file_error);
        return false;
    }
    saved->qemu_downtime_ms = stats.downtime_ms;
    return true;
}

/* --- checking and loading -------------------------------------------------------- */

bool vms_memory_file_check(const vms_snapshot_def *def, int fd, const vms_domain_def *domain,
                           bool verify, const vms_progress *progress, vmsnap_error **error)
{
    bool is_memstate = false;
    if (!vms_memstate_probe(fd, &is_memstate, error))
        return false;
    if (!is_memstate) {
        /* A 0.2 file: QEMU's bare stream, no checksum to check. */
        if (!def->checksum_value && is_bare_stream(fd))
            return true;
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "it is not a saved VM state (it starts neither with vmsnap's header nor "
                      "with QEMU's 'QEVM')");
        return false;
    }
    vms_memstate_info info;
    if (!vms_memstate_read_trailer(fd, &info, NULL, error))
        return false;
    char uuid[VMS_MEMSTATE_UUID_STRLEN + 1];
    if (domain) {
        vms_uuid_format(domain->uuid, uuid);
        if (strcmp(info.domain_uuid, uuid) != 0) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "it belongs to another domain (uuid %s, not %s)", info.domain_uuid, uuid);
            return false;
        }
    }
    if (def->checksum_value) {
        char hex[33];
        if (!vms_memstate_file_checksum(fd, hex, error))
            return false;
        if (strcmp(hex, def->checksum_value) != 0) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "it is not the file the snapshot saved (its checksum is %s, the "
                          "snapshot recorded %s)",
                          hex, def->checksum_value);
            return false;
        }
    }
    if (verify && !vms_memstate_verify(fd, progress, error))
        return false;
    return true;
}

/* Feed a memory-state file into QEMU through a pipe grown to 1 MiB (a
 * reader that died gives EPIPE, not SIGPIPE: the writer blocks the signal),
 * the file's checksums checked on the way. */
static bool load_memstate(vms_qmp *qmp, int fd, bool trusted, const vms_progress *progress,
                          vmsnap_error **error)
{
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot make a pipe for QEMU");
        return false;
    }
    int qemu_end = ends[0], feed = ends[1];
    (void)fcntl(feed, F_SETPIPE_SZ, 1024 * 1024); /* fewer round trips; optional */
    bool started = vms_qemu_migration_start(qmp, qemu_end, VMS_MIGRATION_LOAD, error);
    close(qemu_end);
    if (!started) {
        close(feed);
        return false;
    }
    vmsnap_error *feed_error = NULL;
    bool fed = trusted ? vms_memstate_restore_unchecked_to_fd(fd, feed, progress, &feed_error)
                       : vms_memstate_restore_to_fd(fd, feed, NULL, progress, &feed_error);
    close(feed);
    /* A feed that failed is the answer: the caller stops this QEMU (which,
     * fed nothing, may not even notice the end of a pipe). */
    if (!fed) {
        vms_error_propagate(error, feed_error);
        return false;
    }
    return vms_qemu_migration_wait(qmp, VMS_MIGRATION_LOAD, -1, LOAD_TIMEOUT_MS, NULL, NULL, error);
}

bool vms_memory_load(vms_qmp *qmp, int fd, bool trusted, const vms_progress *progress,
                     vmsnap_error **error)
{
    bool is_memstate = false;
    if (!vms_memstate_probe(fd, &is_memstate, error))
        return false;
    if (is_memstate)
        return load_memstate(qmp, fd, trusted, progress, error);
    if (lseek(fd, 0, SEEK_SET) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot read the memory file");
        return false;
    }
    return vms_qemu_load_state_from_fd(qmp, fd, LOAD_TIMEOUT_MS, progress, error);
}
