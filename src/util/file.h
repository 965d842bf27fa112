/*
 * file.h: careful file I/O for state that must survive crashes and must not
 * be redirected by symlinks.
 *
 * The *_at() calls work relative to a directory file descriptor and never
 * follow a symlink in the name they are given (O_NOFOLLOW), so a link planted
 * in a state directory is refused instead of written through. @path arguments
 * are only used in error messages (the full path the user should look at).
 *
 * Atomic writes: the data goes to a new dot-file ".tmp-XXXXXX" in the same
 * directory, created with @mode (set with fchmod, so the umask does not
 * matter), fsync'd, renamed over the target, and the directory fsync'd. A
 * crash leaves either the old or the new file, plus at most one ".tmp-*"
 * file that vms_file_remove_temporaries_at() cleans up.
 */
#ifndef VMS_UTIL_FILE_H
#define VMS_UTIL_FILE_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>
#include <vmsnap/vmsnap.h>

/* Prefix of the temporary files written by vms_file_write_atomic_at(). */
#define VMS_FILE_TMP_PREFIX ".tmp-"

/* Open directory @name under @dirfd (O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC).
 * Returns the fd, or -1 with errno set (ELOOP: @name is a symlink). No error
 * object: callers decide what a missing directory means. */
int vms_file_open_dir_at(int dirfd, const char *name);

/* Set the error for a failed open of @path (errno @errnum), telling a
 * symlink apart from other failures. Uses @code except for symlinks and
 * non-directories, which are VMSNAP_ERR_CORRUPT. */
void vms_file_set_open_error(vmsnap_error **error, vmsnap_error_code code, int errnum, int dirfd,
                             const char *name, const char *path);

/* Make directory @name under @dirfd with exactly @mode (fchmod after
 * mkdirat, so the umask does not matter) unless it exists, and open it.
 * Refuses a symlink. Returns the fd or -1 with the error set. */
int vms_file_make_dir_at(int dirfd, const char *name, const char *path, mode_t mode,
                         vmsnap_error **error);

/* Read regular file @name under @dirfd, refusing symlinks, non-regular files,
 * files larger than @max bytes and files holding a NUL byte. Returns a
 * NUL-terminated copy (its length in *@len if not NULL). An absent file
 * returns NULL with *@absent set to true and no error (if @absent is NULL,
 * absence is an I/O error). */
char *vms_file_read_at(int dirfd, const char *name, const char *path, size_t max, size_t *len,
                       bool *absent, vmsnap_error **error);

/* Write @data atomically to @name under @dirfd (see the top of this file). */
bool vms_file_write_atomic_at(int dirfd, const char *name, const char *path, const void *data,
                              size_t len, mode_t mode, vmsnap_error **error);
/* The same with the temporary file created in @tmp_dirfd, a directory on the
 * same file system (rename is atomic across directories of one file system),
 * so the directory that holds many files never needs a scan for debris. */
bool vms_file_write_atomic_via(int tmp_dirfd, int dirfd, const char *name, const char *path,
                               const void *data, size_t len, mode_t mode, vmsnap_error **error);

/* Path-based forms of the two calls above, for files outside the state
 * directory's fd tree. The directory part of @path is followed normally;
 * the last component never is. */
/* The last @max bytes of the file at @path (all of it if smaller), as a
 * NUL-terminated string; "" when the file does not exist. */
char *vms_file_read_tail(const char *path, size_t max, vmsnap_error **error);
char *vms_file_read_bounded(const char *path, size_t max, size_t *len, vmsnap_error **error);
bool vms_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                           vmsnap_error **error);

/* fsync a directory so renames and unlinks in it are durable. */
bool vms_file_fsync_dir(int dirfd, const char *path, vmsnap_error **error);

/* Unlink non-directory @name under @dirfd (a symlink is removed, never
 * followed). An absent file is success. Does not fsync. */
bool vms_file_unlink_at(int dirfd, const char *name, const char *path, vmsnap_error **error);

/* Remove @name under @dirfd and, if it is a directory, everything in it.
 * Symlinks are removed, never followed. An absent @name is success. */
bool vms_file_remove_tree_at(int dirfd, const char *name, const char *path, vmsnap_error **error);

/* Remove the ".tmp-*" files a killed writer left in the directory @dirfd;
 * fsyncs the directory if anything was removed. */
bool vms_file_remove_temporaries_at(int dirfd, const char *path, vmsnap_error **error);

/* Names of the entries of directory @dirfd (not "." and ".."), unsorted.
 * NULL-terminated; NULL with the error set on failure. */
char **vms_file_list_dir_at(int dirfd, const char *path, vmsnap_error **error);

/* Close @fd if it is >= 0 and set it to -1, keeping errno. */
void vms_file_close(int *fd);

/* For g_auto(vms_fd): an int fd closed when it goes out of scope. */
typedef int vms_fd;
static inline void vms_fd_clear(vms_fd *fd)
{
    vms_file_close(fd);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(vms_fd, vms_fd_clear)

#endif
