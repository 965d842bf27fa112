/* memory_file.c: external memory files of full snapshots (see the header). */
#include "core/memory_file.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memstate/memstate.h"
#include "qemu/qemu_snapshot.h"
#include "util/error.h"
#include "util/file.h"

/* Deadlines once the stream has gone through: QEMU settling after a save,
 * or loading the last of the state it was fed. */
#define SAVE_SETTLE_TIMEOUT_MS (60 * 1000)
#define LOAD_TIMEOUT_MS        (10 * 60 * 1000)

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

/* Read QEMU's stream from @in_fd into @w until QEMU closes its end. */
static bool pump_stream(vms_memstate_writer *w, int in_fd, const vms_memstate_info *info,
                        const vms_progress *progress, const char *path, vmsnap_error **error)
{
    if (vms_memstate_writer_pump(w, in_fd, progress, info->size_hint, error))
        return true;
    vms_error_prefix(error, "cannot write memory file '%s': ", path);
    return false;
}

bool vms_memory_save(vms_qmp *qmp, int fd, const char *path, const vms_snapshot_def *def,
                     const vms_domain_def *domain, bool live, const vms_progress *progress,
                     vms_memory_saved *saved, vmsnap_error **error)
{
    vms_memstate_info info;
    fill_header(&info, def, domain, vms_qmp_qemu_version(qmp));
    g_autoptr(vms_memstate_writer) w = vms_memstate_writer_new(fd, &info, error);
    if (!w) {
        vms_error_prefix(error, "cannot write memory file '%s': ", path);
        return false;
    }
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot make a pipe for QEMU");
        return false;
    }
    vms_migration_kind kind = live ? VMS_MIGRATION_SAVE_LIVE : VMS_MIGRATION_SAVE;
    bool started = vms_qemu_migration_start(qmp, ends[1], kind, error);
    /* QEMU holds its own copy: the pipe ends when QEMU closes it. */
    close(ends[1]);
    if (!started) {
        close(ends[0]);
        return false;
    }
    vmsnap_error *pump_error = NULL;
    bool pumped = pump_stream(w, ends[0], &info, progress, path, &pump_error);
    /* Closing the read end makes a QEMU still writing fail (EPIPE) and end
     * the migration, so the wait below returns. */
    close(ends[0]);
    vms_migration_stats stats;
    vmsnap_error *wait_error = NULL;
    bool completed =
        vms_qemu_migration_wait(qmp, kind, -1, SAVE_SETTLE_TIMEOUT_MS, NULL, &stats, &wait_error);
    if (!pumped) {
        vmsnap_error_free(wait_error);
        vms_error_propagate(error, pump_error);
        return false;
    }
    if (!completed) {
        vms_error_propagate(error, wait_error);
        return false;
    }
    if (!vms_memstate_writer_finish(w, error)) {
        vms_error_prefix(error, "cannot write memory file '%s': ", path);
        return false;
    }
    vms_memstate_writer_checksum(w, saved->checksum);
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

/* Feed a memory-state file into QEMU through a socket (a reader that died
 * gives EPIPE, not SIGPIPE, and the file's checksums are checked on the
 * way). */
static bool load_memstate(vms_qmp *qmp, int fd, bool trusted, const vms_progress *progress,
                          vmsnap_error **error)
{
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot make a socket pair for QEMU");
        return false;
    }
    bool started = vms_qemu_migration_start(qmp, ends[1], VMS_MIGRATION_LOAD, error);
    close(ends[1]);
    if (!started) {
        close(ends[0]);
        return false;
    }
    vmsnap_error *feed_error = NULL;
    bool fed = trusted ? vms_memstate_restore_unchecked_to_fd(fd, ends[0], progress, &feed_error)
                       : vms_memstate_restore_to_fd(fd, ends[0], NULL, progress, &feed_error);
    /* The end of the stream: QEMU finishes, or fails on a short one. */
    close(ends[0]);
    vmsnap_error *wait_error = NULL;
    bool loaded = vms_qemu_migration_wait(qmp, VMS_MIGRATION_LOAD, -1, LOAD_TIMEOUT_MS, NULL, NULL,
                                          &wait_error);
    if (!fed) {
        vmsnap_error_free(wait_error);
        vms_error_propagate(error, feed_error);
        return false;
    }
    vms_error_propagate(error, wait_error);
    return loaded;
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
