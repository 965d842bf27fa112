/*
 * store.h: the state directory (DESIGN.md, "State on disk").
 *
 *   <root>/domains/<dom>/domain.xml
 *   <root>/domains/<dom>/snapshots/<snap>.xml
 *   <root>/domains/<dom>/current
 *   <root>/domains/<dom>/lock
 *   <root>/run/<dom>/
 *
 * Directories are 0700, files 0600. Every write goes to a temporary dot-file
 * in the same directory, is fsync'd, renamed over the target, and the
 * directory fsync'd; readers never see a half-written file. Writes never
 * follow symlinks. This layer knows files and names, not XML.
 * Ownership: a vms_store owns its root path; strings returned as char * are
 * the caller's (g_free / g_strfreev).
 */
#ifndef VMS_STORE_STORE_H
#define VMS_STORE_STORE_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

/* Refuse metadata files larger than this when reading them. */
#define VMS_STORE_FILE_MAX_BYTES (16u * 1024 * 1024)

typedef struct vms_store vms_store;
typedef struct vms_domain_lock vms_domain_lock;

/* The default root: $VMSNAP_DIR, else /var/lib/vmsnap for root, else
 * $XDG_DATA_HOME/vmsnap. Newly allocated. */
char *vms_store_default_root(void);

/* Open (creating with mode 0700 if needed) the state directory at @root,
 * which is made absolute. Refuses a root that is a symlink or not a directory. */
vms_store *vms_store_open(const char *root, vmsnap_error **error);
void vms_store_free(vms_store *store);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_store, vms_store_free)
const char *vms_store_root(const vms_store *store);

/* The absolute path of run/<dom>/, where a running domain's QEMU keeps its
 * socket, pid file and logs; with @create, made (0700, never through a
 * symlink) if missing. Callers hold the domain's lock. */
char *vms_store_run_dir(vms_store *store, const char *dom, bool create, vmsnap_error **error);
/* Remove run/<dom>/ and what is in it; absent is fine. */
bool vms_store_remove_run_dir(vms_store *store, const char *dom, vmsnap_error **error);

/* --- locking ------------------------------------------------------------ */

/* Take the domain's lock (flock on domains/<dom>/lock), waiting for other
 * holders. @exclusive: false for read-only commands. @create: make the
 * domain's directory if it does not exist (define); otherwise a missing
 * domain is VMSNAP_ERR_NO_DOMAIN. Copes with the directory being removed
 * while waiting (the undefine race). Leftover temporary files of a killed
 * writer are removed once an exclusive lock is held. */
vms_domain_lock *vms_store_lock_domain(vms_store *store, const char *dom, bool exclusive,
                                       bool create, vmsnap_error **error);
void vms_domain_lock_release(vms_domain_lock *lock);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_domain_lock, vms_domain_lock_release)

/* --- domains ------------------------------------------------------------ */

/* Names of domains with a domain.xml, sorted. Returns a NULL-terminated list. */
char **vms_store_list_domains(vms_store *store, vmsnap_error **error);
bool vms_store_domain_exists(vms_store *store, const char *dom);

/* domain.xml. Read: VMSNAP_ERR_NO_DOMAIN if absent. All calls below need
 * the domain's lock (exclusive for writes) held by the caller. */
char *vms_store_read_domain_xml(vms_store *store, const char *dom, vmsnap_error **error);
bool vms_store_write_domain_xml(vms_store *store, const char *dom, const char *xml,
                                vmsnap_error **error);

/* Remove the domain's directory and everything in it (snapshot metadata,
 * current, memory/ files are NOT removed: refuse with VMSNAP_ERR_OPERATION_DENIED
 * if memory/ is not empty). Called with the exclusive lock held; the lock
 * stays valid until released. */
bool vms_store_remove_domain(vms_store *store, const char *dom, vmsnap_error **error);

/* --- snapshots ---------------------------------------------------------- */

/* Names of all snapshots with a metadata file, in no particular order. */
char **vms_store_list_snapshots(vms_store *store, const char *dom, vmsnap_error **error);
/* Read every snapshot's metadata file through one directory descriptor,
 * calling @fn for each (in no particular order); stops with false as soon as
 * @fn returns false. Much cheaper than a read per name for large trees. */
typedef bool (*vms_store_snapshot_fn)(const char *snap, const char *xml, gpointer data,
                                      vmsnap_error **error);
bool vms_store_read_all_snapshots(vms_store *store, const char *dom, vms_store_snapshot_fn fn,
                                  gpointer data, vmsnap_error **error);

bool vms_store_snapshot_exists(vms_store *store, const char *dom, const char *snap);
/* VMSNAP_ERR_NO_SNAPSHOT if absent. */
char *vms_store_read_snapshot_xml(vms_store *store, const char *dom, const char *snap,
                                  vmsnap_error **error);
bool vms_store_write_snapshot_xml(vms_store *store, const char *dom, const char *snap,
                                  const char *xml, vmsnap_error **error);
/* Removing an absent snapshot file succeeds (steps are idempotent). */
bool vms_store_remove_snapshot(vms_store *store, const char *dom, const char *snap,
                               vmsnap_error **error);
/* Atomically rename a snapshot's metadata file; refuses if @to exists. */
bool vms_store_rename_snapshot(vms_store *store, const char *dom, const char *from, const char *to,
                               vmsnap_error **error);

/* --- current snapshot --------------------------------------------------- */

/* The current snapshot's name, or NULL with no error when there is none. */
char *vms_store_read_current(vms_store *store, const char *dom, vmsnap_error **error);
/* @snap NULL removes the record. */
bool vms_store_write_current(vms_store *store, const char *dom, const char *snap,
                             vmsnap_error **error);

/* --- the journal (the operation in flight: core/journal.c) ------------- */

/* domains/<dom>/journal, written atomically like every metadata file.
 * Read: NULL with *@absent true when there is none. Callers hold the
 * domain's exclusive lock. Removing an absent journal is not an error. */
char *vms_store_read_journal(vms_store *store, const char *dom, bool *absent, vmsnap_error **error);
bool vms_store_write_journal(vms_store *store, const char *dom, const char *text,
                             vmsnap_error **error);
bool vms_store_remove_journal(vms_store *store, const char *dom, vmsnap_error **error);

#endif
