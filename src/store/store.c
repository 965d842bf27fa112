/* store.c: the state directory (see store.h and docs/store.md). */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"
#include "util/file.h"
#include "util/lock.h"
#include "util/names.h"

#define DIR_MODE  0700
#define FILE_MODE 0600

#define DOMAINS_DIR   "domains"
#define RUN_DIR       "run"
#define SNAPSHOTS_DIR "snapshots"
#define MEMORY_DIR    "memory"
#define DOMAIN_XML    "domain.xml"
#define CURRENT_FILE  "current"
#define LOCK_FILE     "lock"
#define JOURNAL_FILE  "journal"
#define SNAP_SUFFIX   ".xml"

/* Retrying a lock is only needed when the domain is undefined (and maybe
 * redefined) while we wait; bound it so a bug cannot spin forever. */
#define LOCK_MAX_ATTEMPTS 1000

struct vms_store {
    char *root;
    int root_fd;
    int domains_fd;
    int run_fd;
};

struct vms_domain_lock {
    int fd;
};

/* --- root --------------------------------------------------------------- */

char *vms_store_default_root(void)
{
    const char *env = g_getenv("VMSNAP_DIR");
    if (env && *env)
        return g_strdup(env);
    if (geteuid() == 0)
        return g_strdup("/var/lib/vmsnap");
    return g_build_filename(g_get_user_data_dir(), "vmsnap", NULL);
}

/* The root may hold guest memory: only its owner may reach into it. An
 * existing root with looser permissions is refused, not tightened, because
 * it may be a directory the user also uses for something else. */
static bool check_root_permissions(int fd, const char *root, vmsnap_error **error)
{
    struct stat st;
    if (fstat(fd, &st) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot inspect state directory '%s'",
                            root);
        return false;
    }
    if (st.st_uid != geteuid()) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "state directory '%s' belongs to uid %u, not to this user (uid %u); use a "
                      "directory of your own",
                      root, (unsigned)st.st_uid, (unsigned)geteuid());
        return false;
    }
    if (st.st_mode & 077) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "state directory '%s' has mode %04o, but it may hold guest memory and must "
                      "be private: run 'chmod 700 %s' or use another directory",
                      root, (unsigned)(st.st_mode & 07777), root);
        return false;
    }
    return true;
}

static int open_root(const char *root, vmsnap_error **error)
{
    struct stat st;
    bool exists = lstat(root, &st) == 0;
    if (exists && S_ISLNK(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "state directory '%s' is a symbolic link; give the directory it points to",
                      root);
        return -1;
    }
    if (exists && !S_ISDIR(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "state directory '%s' exists but is not a directory; choose another path",
                      root);
        return -1;
    }
    g_autofree char *parent = g_path_get_dirname(root);
    if (g_mkdir_with_parents(parent, DIR_MODE) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot create directory '%s'", parent);
        return -1;
    }
    g_auto(vms_fd) parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (parent_fd < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot open directory '%s'", parent);
        return -1;
    }
    g_autofree char *base = g_path_get_basename(root);
    int fd = vms_file_make_dir_at(parent_fd, base, root, DIR_MODE, error);
    if (fd < 0)
        return -1;
    if (!check_root_permissions(fd, root, error)) {
        vms_file_close(&fd);
        return -1;
    }
    return fd;
}

vms_store *vms_store_open(const char *root, vmsnap_error **error)
{
    if (!root || !*root) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "no state directory given");
        return NULL;
    }
    g_autofree char *abs = g_canonicalize_filename(root, NULL);
    g_auto(vms_fd) root_fd = open_root(abs, error);
    if (root_fd < 0)
        return NULL;
    g_autofree char *domains_path = g_build_filename(abs, DOMAINS_DIR, NULL);
    g_auto(vms_fd) domains_fd =
        vms_file_make_dir_at(root_fd, DOMAINS_DIR, domains_path, DIR_MODE, error);
    if (domains_fd < 0)
        return NULL;
    g_autofree char *run_path = g_build_filename(abs, RUN_DIR, NULL);
    g_auto(vms_fd) run_fd = vms_file_make_dir_at(root_fd, RUN_DIR, run_path, DIR_MODE, error);
    if (run_fd < 0)
        return NULL;

    vms_store *store = g_new0(vms_store, 1);
    store->root = g_steal_pointer(&abs);
    store->root_fd = g_steal_fd(&root_fd);
    store->domains_fd = g_steal_fd(&domains_fd);
    store->run_fd = g_steal_fd(&run_fd);
    return store;
}

void vms_store_free(vms_store *store)
{
    if (!store)
        return;
    vms_file_close(&store->root_fd);
    vms_file_close(&store->domains_fd);
    vms_file_close(&store->run_fd);
    g_free(store->root);
    g_free(store);
}

const char *vms_store_root(const vms_store *store)
{
    return store->root;
}

char *vms_store_run_dir(vms_store *store, const char *dom, bool create, vmsnap_error **error)
{
    if (!vms_name_validate("domain", dom, error))
        return NULL;
    char *path = g_build_filename(store->root, RUN_DIR, dom, NULL);
    if (create) {
        g_auto(vms_fd) fd = vms_file_make_dir_at(store->run_fd, dom, path, DIR_MODE, error);
        if (fd < 0)
            g_clear_pointer(&path, g_free);
    }
    return path;
}

bool vms_store_remove_run_dir(vms_store *store, const char *dom, vmsnap_error **error)
{
    if (!vms_name_validate("domain", dom, error))
        return false;
    g_autofree char *path = g_build_filename(store->root, RUN_DIR, dom, NULL);
    return vms_file_remove_tree_at(store->run_fd, dom, path, error);
}

/* --- paths and directories ---------------------------------------------- */

static char *domain_path(const vms_store *store, const char *dom, const char *file)
{
    return g_build_filename(store->root, DOMAINS_DIR, dom, file, NULL);
}

static char *snapshot_file_name(const char *snap)
{
    return g_strconcat(snap, SNAP_SUFFIX, NULL);
}

static char *snapshot_path(const vms_store *store, const char *dom, const char *snap)
{
    g_autofree char *file = snapshot_file_name(snap);
    return g_build_filename(store->root, DOMAINS_DIR, dom, SNAPSHOTS_DIR, file, NULL);
}

/* Open domains/<dom>/ without following a symlink. -1 with the error set;
 * a missing directory is VMSNAP_ERR_NO_DOMAIN. */
static int open_domain_dir(vms_store *store, const char *dom, vmsnap_error **error)
{
    if (!vms_name_validate("domain", dom, error))
        return -1;
    int fd = vms_file_open_dir_at(store->domains_fd, dom);
    if (fd >= 0)
        return fd;
    if (errno == ENOENT) {
        vms_error_set(error, VMSNAP_ERR_NO_DOMAIN, "domain '%s' does not exist", dom);
        return -1;
    }
    g_autofree char *path = domain_path(store, dom, NULL);
    vms_file_set_open_error(error, VMSNAP_ERR_IO, errno, store->domains_fd, dom, path);
    return -1;
}

/* Open domains/<dom>/snapshots/, making it if @create. A missing directory
 * without @create returns -1 with *@absent set and no error. */
static int open_snapshots_dir(vms_store *store, const char *dom, int dom_fd, bool create,
                              bool *absent, vmsnap_error **error)
{
    *absent = false;
    g_autofree char *path = domain_path(store, dom, SNAPSHOTS_DIR);
    if (create)
        return vms_file_make_dir_at(dom_fd, SNAPSHOTS_DIR, path, DIR_MODE, error);
    int fd = vms_file_open_dir_at(dom_fd, SNAPSHOTS_DIR);
    if (fd < 0 && errno == ENOENT)
        *absent = true;
    else if (fd < 0)
        vms_file_set_open_error(error, VMSNAP_ERR_IO, errno, dom_fd, SNAPSHOTS_DIR, path);
    return fd;
}

static bool file_exists_at(int dirfd, const char *name)
{
    struct stat st;
    return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

/* --- locking ------------------------------------------------------------ */

/* Open (creating) domains/<dom>/lock with mode 0600. */
static int open_lock_file(int dom_fd, const char *path, vmsnap_error **error)
{
    int fd = openat(dom_fd, LOCK_FILE, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, FILE_MODE);
    if (fd < 0) {
        vms_file_set_open_error(error, VMSNAP_ERR_IO, errno, dom_fd, LOCK_FILE, path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' is not a regular file; remove it so vmsnap can lock the domain", path);
        vms_file_close(&fd);
        return -1;
    }
    /* O_CREAT's mode is filtered by the umask. */
    if ((st.st_mode & 07777) != FILE_MODE && fchmod(fd, FILE_MODE) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot set the mode of '%s'", path);
        vms_file_close(&fd);
        return -1;
    }
    return fd;
}

/* After the lock is granted: is @lock_fd still the file at
 * domains/<dom>/lock? An undefine removes it while holding the lock, so a
 * waiter that was granted the lock of a removed file must start over. */
static bool lock_is_current(vms_store *store, const char *dom, int lock_fd)
{
    struct stat held, now;
    g_auto(vms_fd) dom_fd = vms_file_open_dir_at(store->domains_fd, dom);
    if (dom_fd < 0 || fstat(lock_fd, &held) < 0 ||
        fstatat(dom_fd, LOCK_FILE, &now, AT_SYMLINK_NOFOLLOW) < 0)
        return false;
    return held.st_dev == now.st_dev && held.st_ino == now.st_ino;
}

/* A domain directory without domain.xml is an undefine that a crash
 * interrupted. Before a define reuses the name, finish removing the old
 * metadata so the new domain does not inherit its snapshots. */
static bool clear_dead_domain(vms_store *store, const char *dom, int dom_fd, int snaps_fd,
                              vmsnap_error **error)
{
    if (file_exists_at(dom_fd, DOMAIN_XML))
        return true;
    g_autofree char *dom_path = domain_path(store, dom, NULL);
    g_autofree char *snaps_path = domain_path(store, dom, SNAPSHOTS_DIR);
    g_auto(GStrv) entries = vms_file_list_dir_at(snaps_fd, snaps_path, error);
    if (!entries)
        return false;
    bool removed = false;
    for (char **e = entries; *e; e++) {
        if (!g_str_has_suffix(*e, SNAP_SUFFIX))
            continue;
        g_autofree char *path = g_build_filename(snaps_path, *e, NULL);
        if (!vms_file_unlink_at(snaps_fd, *e, path, error))
            return false;
        removed = true;
    }
    if (removed && !vms_file_fsync_dir(snaps_fd, snaps_path, error))
        return false;
    g_autofree char *current_path = domain_path(store, dom, CURRENT_FILE);
    return vms_file_unlink_at(dom_fd, CURRENT_FILE, current_path, error) &&
           vms_file_fsync_dir(dom_fd, dom_path, error);
}

/* What an exclusive holder does first: clean a killed writer's debris. */
static bool tidy_domain(vms_store *store, const char *dom, int dom_fd, bool create,
                        vmsnap_error **error)
{
    /* Every temporary file is made in the domain directory itself (see
     * vms_store_write_snapshot_xml), so this scan stays small however many
     * snapshots there are. */
    g_autofree char *dom_path = domain_path(store, dom, NULL);
    if (!vms_file_remove_temporaries_at(dom_fd, dom_path, error))
        return false;
    if (!create)
        return true;
    bool absent;
    g_auto(vms_fd) snaps_fd = open_snapshots_dir(store, dom, dom_fd, create, &absent, error);
    if (snaps_fd < 0)
        return absent;
    return clear_dead_domain(store, dom, dom_fd, snaps_fd, error);
}

/* One attempt. Returns the locked fd; -1 with the error set on failure;
 * -1 with no error (and *retry) when the lock file was replaced meanwhile. */
static int try_lock_domain(vms_store *store, const char *dom, bool exclusive, bool create,
                           bool *retry, vmsnap_error **error)
{
    *retry = false;
    g_autofree char *dom_path = domain_path(store, dom, NULL);
    g_auto(vms_fd) dom_fd = -1;
    if (create)
        dom_fd = vms_file_make_dir_at(store->domains_fd, dom, dom_path, DIR_MODE, error);
    else
        dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return -1;
    g_autofree char *lock_path = domain_path(store, dom, LOCK_FILE);
    g_auto(vms_fd) lock_fd = open_lock_file(dom_fd, lock_path, error);
    if (lock_fd < 0)
        return -1;
    if (!vms_lock_fd(lock_fd, exclusive, true, lock_path, error))
        return -1;
    if (!lock_is_current(store, dom, lock_fd)) {
        *retry = true;
        return -1;
    }
    if (exclusive && !tidy_domain(store, dom, dom_fd, create, error))
        return -1;
    return g_steal_fd(&lock_fd);
}

vms_domain_lock *vms_store_lock_domain(vms_store *store, const char *dom, bool exclusive,
                                       bool create, vmsnap_error **error)
{
    if (!vms_name_validate("domain", dom, error))
        return NULL;
    for (int attempt = 0; attempt < LOCK_MAX_ATTEMPTS; attempt++) {
        bool retry;
        int fd = try_lock_domain(store, dom, exclusive, create, &retry, error);
        if (fd >= 0) {
            vms_domain_lock *lock = g_new0(vms_domain_lock, 1);
            lock->fd = fd;
            return lock;
        }
        if (!retry)
            return NULL;
    }
    vms_error_set(error, VMSNAP_ERR_BUSY,
                  "domain '%s' kept being removed and recreated while waiting for its lock; "
                  "try again",
                  dom);
    return NULL;
}

void vms_domain_lock_release(vms_domain_lock *lock)
{
    if (!lock)
        return;
    vms_file_close(&lock->fd); /* closing the last fd drops the flock */
    g_free(lock);
}

/* --- domains ------------------------------------------------------------ */

bool vms_store_domain_exists(vms_store *store, const char *dom)
{
    if (!vms_name_validate("domain", dom, NULL))
        return false;
    g_auto(vms_fd) dom_fd = vms_file_open_dir_at(store->domains_fd, dom);
    return dom_fd >= 0 && file_exists_at(dom_fd, DOMAIN_XML);
}

static int compare_strings(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **vms_store_list_domains(vms_store *store, vmsnap_error **error)
{
    g_autofree char *path = g_build_filename(store->root, DOMAINS_DIR, NULL);
    g_auto(GStrv) entries = vms_file_list_dir_at(store->domains_fd, path, error);
    if (!entries)
        return NULL;
    GPtrArray *names = g_ptr_array_new();
    for (char **e = entries; *e; e++) {
        /* Dot-files and invalid names are not domains; symlinks are skipped
         * by domain_exists's O_NOFOLLOW. */
        if (vms_store_domain_exists(store, *e))
            g_ptr_array_add(names, g_strdup(*e));
    }
    g_ptr_array_sort(names, compare_strings);
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

char *vms_store_read_domain_xml(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return NULL;
    g_autofree char *path = domain_path(store, dom, DOMAIN_XML);
    bool absent;
    char *xml =
        vms_file_read_at(dom_fd, DOMAIN_XML, path, VMS_STORE_FILE_MAX_BYTES, NULL, &absent, error);
    if (!xml && absent)
        vms_error_set(error, VMSNAP_ERR_NO_DOMAIN, "domain '%s' does not exist", dom);
    return xml;
}

bool vms_store_write_domain_xml(vms_store *store, const char *dom, const char *xml,
                                vmsnap_error **error)
{
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return false;
    g_autofree char *path = domain_path(store, dom, DOMAIN_XML);
    return vms_file_write_atomic_at(dom_fd, DOMAIN_XML, path, xml, strlen(xml), FILE_MODE, error);
}

/* memory/ holds guest RAM written by snapshots; removing a domain must not
 * silently destroy it. */
static bool check_memory_dir_empty(vms_store *store, const char *dom, int dom_fd,
                                   vmsnap_error **error)
{
    g_auto(vms_fd) mem_fd = vms_file_open_dir_at(dom_fd, MEMORY_DIR);
    if (mem_fd < 0 && errno == ENOENT)
        return true;
    g_autofree char *path = domain_path(store, dom, MEMORY_DIR);
    if (mem_fd < 0) {
        vms_file_set_open_error(error, VMSNAP_ERR_IO, errno, dom_fd, MEMORY_DIR, path);
        return false;
    }
    g_auto(GStrv) entries = vms_file_list_dir_at(mem_fd, path, error);
    if (!entries)
        return false;
    if (entries[0]) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "'%s' still holds memory files (for example '%s'); delete the snapshots "
                      "that own them first",
                      path, entries[0]);
        return false;
    }
    return true;
}

bool vms_store_remove_domain(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return false;
    if (!check_memory_dir_empty(store, dom, dom_fd, error))
        return false;
    g_autofree char *dom_path = domain_path(store, dom, NULL);
    g_autofree char *xml_path = domain_path(store, dom, DOMAIN_XML);
    /* domain.xml first: from this instant the domain no longer exists for
     * readers, and a define of the same name clears whatever is left. */
    if (!vms_file_unlink_at(dom_fd, DOMAIN_XML, xml_path, error) ||
        !vms_file_fsync_dir(dom_fd, dom_path, error))
        return false;
    g_auto(GStrv) entries = vms_file_list_dir_at(dom_fd, dom_path, error);
    if (!entries)
        return false;
    for (char **e = entries; *e; e++) {
        if (strcmp(*e, LOCK_FILE) == 0)
            continue;
        g_autofree char *path = g_build_filename(dom_path, *e, NULL);
        if (!vms_file_remove_tree_at(dom_fd, *e, path, error))
            return false;
    }
    /* The lock file last, while we hold it: a waiter that then gets the lock
     * sees that the path no longer names its file and starts over. */
    g_autofree char *lock_path = domain_path(store, dom, LOCK_FILE);
    if (!vms_file_unlink_at(dom_fd, LOCK_FILE, lock_path, error))
        return false;
    if (unlinkat(store->domains_fd, dom, AT_REMOVEDIR) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot remove directory '%s'", dom_path);
        return false;
    }
    g_autofree char *domains_path = g_build_filename(store->root, DOMAINS_DIR, NULL);
    return vms_file_fsync_dir(store->domains_fd, domains_path, error);
}

/* --- snapshots ---------------------------------------------------------- */

/* Snapshot names from the entries of snapshots/ (dot-files and other
 * files skipped). */
static char **snapshot_names_in(int snaps_fd, const char *path, vmsnap_error **error)
{
    g_auto(GStrv) entries = vms_file_list_dir_at(snaps_fd, path, error);
    if (!entries)
        return NULL;
    GPtrArray *names = g_ptr_array_new();
    for (char **e = entries; *e; e++) {
        if ((*e)[0] == '.' || !g_str_has_suffix(*e, SNAP_SUFFIX))
            continue;
        g_autofree char *name = g_strndup(*e, strlen(*e) - strlen(SNAP_SUFFIX));
        if (vms_name_validate("snapshot", name, NULL))
            g_ptr_array_add(names, g_steal_pointer(&name));
    }
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(names, FALSE);
}

char **vms_store_list_snapshots(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return NULL;
    bool absent;
    g_auto(vms_fd) snaps_fd = open_snapshots_dir(store, dom, dom_fd, false, &absent, error);
    if (snaps_fd < 0)
        return absent ? g_new0(char *, 1) : NULL;
    g_autofree char *path = domain_path(store, dom, SNAPSHOTS_DIR);
    return snapshot_names_in(snaps_fd, path, error);
}

bool vms_store_read_all_snapshots(vms_store *store, const char *dom, vms_store_snapshot_fn fn,
                                  gpointer data, vmsnap_error **error)
{
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return false;
    bool absent;
    g_auto(vms_fd) snaps_fd = open_snapshots_dir(store, dom, dom_fd, false, &absent, error);
    if (snaps_fd < 0)
        return absent;
    g_autofree char *dir_path = domain_path(store, dom, SNAPSHOTS_DIR);
    g_auto(GStrv) names = snapshot_names_in(snaps_fd, dir_path, error);
    if (!names)
        return false;
    for (char **n = names; *n; n++) {
        g_autofree char *file = snapshot_file_name(*n);
        g_autofree char *path = snapshot_path(store, dom, *n);
        bool gone = false;
        g_autofree char *xml =
            vms_file_read_at(snaps_fd, file, path, VMS_STORE_FILE_MAX_BYTES, NULL, &gone, error);
        if (!xml && gone)
            continue; /* removed since the listing: not our writer, but harmless */
        if (!xml || !fn(*n, xml, data, error))
            return false;
    }
    return true;
}

/* Open the snapshots directory of @dom after validating @snap; *@absent as
 * for open_snapshots_dir(). */
static int open_snapshots_for(vms_store *store, const char *dom, const char *snap, bool create,
                              bool *absent, vmsnap_error **error)
{
    *absent = false;
    if (!vms_name_validate("snapshot", snap, error))
        return -1;
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return -1;
    return open_snapshots_dir(store, dom, dom_fd, create, absent, error);
}

static void set_no_snapshot(vmsnap_error **error, const char *dom, const char *snap)
{
    vms_error_set(error, VMSNAP_ERR_NO_SNAPSHOT, "domain '%s' has no snapshot named '%s'", dom,
                  snap);
}

bool vms_store_snapshot_exists(vms_store *store, const char *dom, const char *snap)
{
    bool absent;
    g_auto(vms_fd) fd = open_snapshots_for(store, dom, snap, false, &absent, NULL);
    g_autofree char *file = snapshot_file_name(snap);
    return fd >= 0 && file_exists_at(fd, file);
}

char *vms_store_read_snapshot_xml(vms_store *store, const char *dom, const char *snap,
                                  vmsnap_error **error)
{
    bool absent;
    g_auto(vms_fd) fd = open_snapshots_for(store, dom, snap, false, &absent, error);
    if (fd < 0) {
        if (absent)
            set_no_snapshot(error, dom, snap);
        return NULL;
    }
    g_autofree char *file = snapshot_file_name(snap);
    g_autofree char *path = snapshot_path(store, dom, snap);
    char *xml = vms_file_read_at(fd, file, path, VMS_STORE_FILE_MAX_BYTES, NULL, &absent, error);
    if (!xml && absent)
        set_no_snapshot(error, dom, snap);
    return xml;
}

bool vms_store_write_snapshot_xml(vms_store *store, const char *dom, const char *snap,
                                  const char *xml, vmsnap_error **error)
{
    if (!vms_name_validate("snapshot", snap, error))
        return false;
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return false;
    bool absent;
    g_auto(vms_fd) fd = open_snapshots_dir(store, dom, dom_fd, true, &absent, error);
    if (fd < 0)
        return false;
    g_autofree char *file = snapshot_file_name(snap);
    g_autofree char *path = snapshot_path(store, dom, snap);
    /* The temporary goes in the domain directory: a crash leaves debris
     * where tidying looks (a few entries), not among thousands of snapshots. */
    return vms_file_write_atomic_via(dom_fd, fd, file, path, xml, strlen(xml), FILE_MODE, error);
}

bool vms_store_remove_snapshot(vms_store *store, const char *dom, const char *snap,
                               vmsnap_error **error)
{
    bool absent;
    g_auto(vms_fd) fd = open_snapshots_for(store, dom, snap, false, &absent, error);
    if (fd < 0)
        return absent;
    g_autofree char *file = snapshot_file_name(snap);
    g_autofree char *path = snapshot_path(store, dom, snap);
    g_autofree char *dir_path = domain_path(store, dom, SNAPSHOTS_DIR);
    return vms_file_unlink_at(fd, file, path, error) && vms_file_fsync_dir(fd, dir_path, error);
}

/* rename without replacing; filesystems without RENAME_NOREPLACE get
 * link + unlink, which is as safe (a crash in between leaves two names for
 * one file, and the old one is removed again by a retry). */
static int rename_noreplace_at(int dirfd, const char *from, const char *to)
{
    if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS)
        return -1;
    if (linkat(dirfd, from, dirfd, to, 0) < 0)
        return -1;
    return unlinkat(dirfd, from, 0);
}

bool vms_store_rename_snapshot(vms_store *store, const char *dom, const char *from, const char *to,
                               vmsnap_error **error)
{
    if (!vms_name_validate("snapshot", to, error))
        return false;
    bool absent;
    g_auto(vms_fd) fd = open_snapshots_for(store, dom, from, false, &absent, error);
    if (fd < 0) {
        if (absent)
            set_no_snapshot(error, dom, from);
        return false;
    }
    g_autofree char *from_file = snapshot_file_name(from);
    g_autofree char *to_file = snapshot_file_name(to);
    if (rename_noreplace_at(fd, from_file, to_file) < 0) {
        if (errno == ENOENT)
            set_no_snapshot(error, dom, from);
        else if (errno == EEXIST)
            vms_error_set(error, VMSNAP_ERR_SNAPSHOT_EXISTS,
                          "domain '%s' already has a snapshot named '%s'; choose another name", dom,
                          to);
        else {
            g_autofree char *path = snapshot_path(store, dom, from);
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot rename '%s'", path);
        }
        return false;
    }
    g_autofree char *dir_path = domain_path(store, dom, SNAPSHOTS_DIR);
    return vms_file_fsync_dir(fd, dir_path, error);
}

/* --- current snapshot --------------------------------------------------- */

char *vms_store_read_current(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return NULL;
    g_autofree char *path = domain_path(store, dom, CURRENT_FILE);
    bool absent;
    g_autofree char *text =
        vms_file_read_at(dom_fd, CURRENT_FILE, path, VMS_NAME_MAX + 1, NULL, &absent, error);
    if (!text)
        return NULL;
    if (g_str_has_suffix(text, "\n"))
        text[strlen(text) - 1] = '\0';
    vmsnap_error *bad = NULL;
    if (!vms_name_validate("snapshot", text, &bad)) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "'%s' does not hold a snapshot name (%s); set the current snapshot again "
                      "or remove the file",
                      path, vmsnap_error_get_message(bad));
        vmsnap_error_free(bad);
        return NULL;
    }
    return g_steal_pointer(&text);
}

bool vms_store_write_current(vms_store *store, const char *dom, const char *snap,
                             vmsnap_error **error)
{
    if (snap && !vms_name_validate("snapshot", snap, error))
        return false;
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return false;
    g_autofree char *path = domain_path(store, dom, CURRENT_FILE);
    if (!snap) {
        g_autofree char *dom_path = domain_path(store, dom, NULL);
        return vms_file_unlink_at(dom_fd, CURRENT_FILE, path, error) &&
               vms_file_fsync_dir(dom_fd, dom_path, error);
    }
    g_autofree char *line = g_strconcat(snap, "\n", NULL);
    return vms_file_write_atomic_at(dom_fd, CURRENT_FILE, path, line, strlen(line), FILE_MODE,
                                    error);
}

/* --- the journal ------------------------------------------------------------- */

char *vms_store_read_journal(vms_store *store, const char *dom, bool *absent, vmsnap_error **error)
{
    *absent = false;
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return NULL;
    g_autofree char *path = domain_path(store, dom, JOURNAL_FILE);
    return vms_file_read_at(dom_fd, JOURNAL_FILE, path, VMS_STORE_FILE_MAX_BYTES, NULL, absent,
                            error);
}

bool vms_store_write_journal(vms_store *store, const char *dom, const char *text,
                             vmsnap_error **error)
{
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return false;
    g_autofree char *path = domain_path(store, dom, JOURNAL_FILE);
    return vms_file_write_atomic_at(dom_fd, JOURNAL_FILE, path, text, strlen(text), FILE_MODE,
                                    error);
}

bool vms_store_remove_journal(vms_store *store, const char *dom, vmsnap_error **error)
{
    g_auto(vms_fd) dom_fd = open_domain_dir(store, dom, error);
    if (dom_fd < 0)
        return false;
    g_autofree char *path = domain_path(store, dom, JOURNAL_FILE);
    g_autofree char *dom_path = domain_path(store, dom, NULL);
    return vms_file_unlink_at(dom_fd, JOURNAL_FILE, path, error) &&
           vms_file_fsync_dir(dom_fd, dom_path, error);
}
