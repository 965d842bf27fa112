/* file.c: crash-safe, symlink-refusing file I/O (see file.h). */
#include "util/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

/* Deeper trees than this are not vmsnap's; refuse rather than recurse on. */
#define REMOVE_TREE_MAX_DEPTH 16

void vms_file_close(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
        *fd = -1;
    }
}

int vms_file_open_dir_at(int dirfd, const char *name)
{
    return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static bool is_symlink_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

void vms_file_set_open_error(vmsnap_error **error, vmsnap_error_code code, int errnum, int dirfd,
                             const char *name, const char *path)
{
    if ((errnum == ELOOP || errnum == ENOTDIR || errnum == EMLINK) && is_symlink_at(dirfd, name)) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' is a symbolic link; vmsnap never follows links inside its state "
                      "directory: remove the link",
                      path);
        return;
    }
    if (errnum == ENOTDIR) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' is not a directory; remove it or move it out of the state directory",
                      path);
        return;
    }
    vms_error_set_errno(error, code, errnum, "cannot open '%s'", path);
}

int vms_file_make_dir_at(int dirfd, const char *name, const char *path, mode_t mode,
                         vmsnap_error **error)
{
    bool created = mkdirat(dirfd, name, mode) == 0;
    if (!created && errno != EEXIST) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot create directory '%s'", path);
        return -1;
    }
    int fd = vms_file_open_dir_at(dirfd, name);
    if (fd < 0) {
        vms_file_set_open_error(error, VMSNAP_ERR_IO, errno, dirfd, name, path);
        return -1;
    }
    /* mkdirat's mode is filtered by the umask; set the one we mean. */
    if (created && fchmod(fd, mode) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot set the mode of '%s'", path);
        vms_file_close(&fd);
        return -1;
    }
    return fd;
}

/* Read all of @fd, at most @max bytes; reading one byte more detects a file
 * that grew after fstat. */
static char *read_fd_bounded(int fd, const char *path, size_t max, size_t *len,
                             vmsnap_error **error)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot read '%s'", path);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' is not a regular file; remove it or move it away", path);
        return NULL;
    }
    if ((guint64)st.st_size > max) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' is %" G_GUINT64_FORMAT " bytes; the limit is %zu bytes (is it really "
                      "vmsnap's file?)",
                      path, (guint64)st.st_size, max);
        return NULL;
    }
    size_t cap = (size_t)st.st_size + 1;
    g_autofree char *buf = g_malloc(cap + 1);
    size_t got = 0;
    for (;;) {
        if (got == cap) {
            if (cap > max)
                break;
            cap = MIN(cap * 2, max + 1);
            buf = g_realloc(buf, cap + 1);
        }
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot read '%s'", path);
            return NULL;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got > max) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' is more than %zu bytes, the limit (is it really vmsnap's file?)", path,
                      max);
        return NULL;
    }
    if (memchr(buf, '\0', got)) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' contains a NUL byte, so it is not a text file vmsnap wrote; remove or "
                      "repair it",
                      path);
        return NULL;
    }
    buf[got] = '\0';
    if (len)
        *len = got;
    return g_steal_pointer(&buf);
}

char *vms_file_read_at(int dirfd, const char *name, const char *path, size_t max, size_t *len,
                       bool *absent, vmsnap_error **error)
{
    if (absent)
        *absent = false;
    /* O_NONBLOCK: a FIFO planted under the name must not hang the open. */
    g_auto(vms_fd) fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT && absent) {
            *absent = true;
            return NULL;
        }
        vms_file_set_open_error(error, VMSNAP_ERR_IO, errno, dirfd, name, path);
        return NULL;
    }
    return read_fd_bounded(fd, path, max, len, error);
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* Create a new ".tmp-XXXXXX" file in @dirfd; its name goes to @tmpname. */
static int create_temporary_at(int dirfd, char tmpname[static 16], mode_t mode)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    for (int attempt = 0; attempt < 100; attempt++) {
        memcpy(tmpname, VMS_FILE_TMP_PREFIX, sizeof(VMS_FILE_TMP_PREFIX) - 1);
        char *p = tmpname + sizeof(VMS_FILE_TMP_PREFIX) - 1;
        for (int i = 0; i < 6; i++)
            *p++ = alphabet[g_random_int_range(0, (gint32)sizeof(alphabet) - 1)];
        *p = '\0';
        int fd = openat(dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

bool vms_file_fsync_dir(int dirfd, const char *path, vmsnap_error **error)
{
    if (fsync(dirfd) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot sync directory '%s'", path);
        return false;
    }
    return true;
}

bool vms_file_write_atomic_at(int dirfd, const char *name, const char *path, const void *data,
                              size_t len, mode_t mode, vmsnap_error **error)
{
    return vms_file_write_atomic_via(dirfd, dirfd, name, path, data, len, mode, error);
}

bool vms_file_write_atomic_via(int tmp_dirfd, int dirfd, const char *name, const char *path,
                               const void *data, size_t len, mode_t mode, vmsnap_error **error)
{
    char tmpname[16];
    g_auto(vms_fd) fd = create_temporary_at(tmp_dirfd, tmpname, mode);
    if (fd < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno,
                            "cannot create a temporary file next to '%s'", path);
        return false;
    }
    const char *failed = NULL;
    if (fchmod(fd, mode) < 0)
        failed = "cannot set the mode of a temporary file for";
    else if (!write_all(fd, data, len))
        failed = "cannot write";
    else if (fsync(fd) < 0)
        failed = "cannot sync";
    else if (close(fd) < 0) {
        fd = -1;
        failed = "cannot write";
    } else {
        fd = -1;
        /* rename replaces a symlink at @name itself; it never writes through it. */
        if (renameat(tmp_dirfd, tmpname, dirfd, name) < 0)
            failed = "cannot rename a temporary file to";
    }
    if (failed) {
        int saved = errno;
        unlinkat(tmp_dirfd, tmpname, 0);
        vms_error_set_errno(error, VMSNAP_ERR_IO, saved, "%s '%s'", failed, path);
        return false;
    }
    return vms_file_fsync_dir(dirfd, path, error);
}

/* Open the directory part of @path (followed normally); *@base gets the
 * last component. */
static int open_parent(const char *path, char **base, vmsnap_error **error)
{
    g_autofree char *dir = g_path_get_dirname(path);
    *base = g_path_get_basename(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot open directory '%s'", dir);
    return fd;
}

char *vms_file_read_bounded(const char *path, size_t max, size_t *len, vmsnap_error **error)
{
    g_autofree char *base = NULL;
    g_auto(vms_fd) dirfd = open_parent(path, &base, error);
    if (dirfd < 0)
        return NULL;
    return vms_file_read_at(dirfd, base, path, max, len, NULL, error);
}

bool vms_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           vmsnap_error **error)
{
    g_autofree char *base = NULL;
    g_auto(vms_fd) dirfd = open_parent(path, &base, error);
    if (dirfd < 0)
        return false;
    return vms_file_write_atomic_at(dirfd, base, path, data, len, mode, error);
}

bool vms_file_unlink_at(int dirfd, const char *name, const char *path, vmsnap_error **error)
{
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot remove '%s'", path);
        return false;
    }
    return true;
}

char **vms_file_list_dir_at(int dirfd, const char *path, vmsnap_error **error)
{
    /* fdopendir takes over the fd; give it a private one. */
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
    if (!dir) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot list directory '%s'", path);
        vms_file_close(&fd);
        return NULL;
    }
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    struct dirent *ent;
    errno = 0;
    while ((ent = readdir(dir))) {
        if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0)
            g_ptr_array_add(names, g_strdup(ent->d_name));
        errno = 0;
    }
    int saved = errno;
    closedir(dir);
    if (saved) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, saved, "cannot list directory '%s'", path);
        return NULL;
    }
    g_ptr_array_add(names, NULL);
    g_ptr_array_set_free_func(names, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}

static bool remove_tree_at(int dirfd, const char *name, const char *path, int depth,
                           vmsnap_error **error)
{
    if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
        return true;
    if (errno != EISDIR && errno != EPERM) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot remove '%s'", path);
        return false;
    }
    if (depth >= REMOVE_TREE_MAX_DEPTH) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' is nested too deeply to be vmsnap's; remove it by hand", path);
        return false;
    }
    g_auto(vms_fd) fd = vms_file_open_dir_at(dirfd, name);
    if (fd < 0) {
        vms_file_set_open_error(error, VMSNAP_ERR_IO, errno, dirfd, name, path);
        return false;
    }
    g_auto(GStrv) entries = vms_file_list_dir_at(fd, path, error);
    if (!entries)
        return false;
    for (char **e = entries; *e; e++) {
        g_autofree char *child = g_build_filename(path, *e, NULL);
        if (!remove_tree_at(fd, *e, child, depth + 1, error))
            return false;
    }
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot remove directory '%s'", path);
        return false;
    }
    return true;
}

bool vms_file_remove_tree_at(int dirfd, const char *name, const char *path, vmsnap_error **error)
{
    return remove_tree_at(dirfd, name, path, 0, error);
}

bool vms_file_remove_temporaries_at(int dirfd, const char *path, vmsnap_error **error)
{
    g_auto(GStrv) entries = vms_file_list_dir_at(dirfd, path, error);
    if (!entries)
        return false;
    bool removed = false;
    for (char **e = entries; *e; e++) {
        if (!g_str_has_prefix(*e, VMS_FILE_TMP_PREFIX))
            continue;
        g_autofree char *child = g_build_filename(path, *e, NULL);
        if (!vms_file_unlink_at(dirfd, *e, child, error))
            return false;
        removed = true;
    }
    return !removed || vms_file_fsync_dir(dirfd, path, error);
}

char *vms_file_read_tail(const char *path, size_t max, vmsnap_error **error)
{
    g_auto(vms_fd) fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return g_strdup("");
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot open '%s'", path);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_IO, "'%s' is not a regular file", path);
        return NULL;
    }
    off_t start = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
    size_t want = (size_t)(st.st_size - start);
    char *buf = g_malloc(want + 1);
    size_t got = 0;
    while (got < want) {
        ssize_t n = pread(fd, buf + got, want - got, start + (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot read '%s'", path);
            g_free(buf);
            return NULL;
        }
        if (n == 0)
            break; /* the file shrank meanwhile */
        got += (size_t)n;
    }
    buf[got] = '\0';
    return buf;
}
