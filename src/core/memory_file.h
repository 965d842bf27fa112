/*
 * memory_file.h: the external memory of full snapshots (ADR 0006, ADR 0007):
 * where the files go, saving a running QEMU's memory into one through
 * src/memstate (compressed, checksummed), checking one before a revert
 * trusts it, and loading one into a QEMU started with -incoming.
 *
 * Files written since 0.3 are memory-state files (docs/formats/memstate.md);
 * files of 0.2 hold QEMU's bare migration stream ("QEVM") and still load.
 */
#ifndef VMS_CORE_MEMORY_FILE_H
#define VMS_CORE_MEMORY_FILE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <vmsnap/vmsnap.h>

#include "conf/snapshot_conf.h"
#include "qemu/qmp.h"
#include "store/store.h"
#include "util/progress.h"

/* domains/<dom>/memory/<snap>.vmstate, the directory made (0700) if
 * missing: where a full snapshot's memory goes unless the user names a
 * file. */
char *vms_memory_default_path(vms_store *store, const char *dom, const char *snap,
                              vmsnap_error **error);

/* Create @path for writing a memory state: a new file (never an existing
 * one, never through a symlink), mode 0600 whatever the umask. Returns the
 * descriptor or -1. */
int vms_memory_file_create(const char *path, vmsnap_error **error);

/* Open the memory file of full snapshot @def for reading; a missing file
 * is VMSNAP_ERR_CORRUPT naming the snapshot. Returns the descriptor (at
 * offset 0) or -1. */
int vms_memory_file_open(const vms_snapshot_def *def, vmsnap_error **error);

/* Remove @def's external memory file, if it has one (absent is fine): for
 * deleting a full snapshot's data. */
bool vms_memory_file_remove(const vms_snapshot_def *def, vmsnap_error **error);

/* What saving a memory file found out. */
typedef struct {
    char checksum[33];        /* xxh3-128 of the stored bytes, lower-case hex */
    int64_t qemu_downtime_ms; /* QEMU's figure; -1 unknown */
} vms_memory_saved;

/* A memory save in progress: its writer child, and QEMU's name for the
 * pipe into it. */
typedef struct {
    pid_t pid;
    int chan;
    char *fdname;
    int kind; /* vms_migration_kind */
    const char *path;
} vms_memory_saving;

/* Save the VM state of the guest behind @qmp into the new, empty file @fd
 * (@path for messages) as a memory-state file of snapshot @def of domain
 * @domain (its uuid, name, compression and RAM size go in the header), in
 * two steps so that the guest's pause holds only the 'migrate' command:
 * _begin starts the writer (a child process that reads QEMU's stream to its
 * end whatever happens: ADR 0008) and hands QEMU the pipe into it; _end
 * starts the migration — @live: QEMU's background snapshot, the guest runs
 * on while the memory as it was at the start is written; else the guest
 * must be paused — waits for it ("saving memory" progress) and has the
 * child finish the file (trailer, fsync) only once QEMU completed. On
 * failure of _end the caller removes the file; _abort ends a begun save
 * that will not run. */
bool vms_memory_save_begin(vms_qmp *qmp, int fd, const char *path, const vms_snapshot_def *def,
                           const vms_domain_def *domain, bool live, vms_memory_saving *saving,
                           vmsnap_error **error);
bool vms_memory_save_end(vms_qmp *qmp, vms_memory_saving *saving, const vms_progress *progress,
                         vms_memory_saved *saved, vmsnap_error **error);
void vms_memory_save_abort(vms_qmp *qmp, vms_memory_saving *saving);

/* Check the memory file @fd of full snapshot @def of the domain with uuid
 * @domain (may be NULL: not checked) before anything relies on it: a
 * memory-state file must belong to that domain, match the checksum the
 * snapshot recorded and, with @verify, pass its own checksum ("verifying
 * memory" progress); a 0.2 file must start like QEMU's stream. Damage is
 * VMSNAP_ERR_CORRUPT saying what is wrong; callers name the file. */
bool vms_memory_file_check(const vms_snapshot_def *def, int fd, const vms_domain_def *domain,
                           bool verify, const vms_progress *progress, vmsnap_error **error);

/* Load the memory file @fd (checked by vms_memory_file_check()) into the
 * QEMU behind @qmp, started with -S -incoming defer; returns with the
 * guest paused. Reports "loading memory". The file's checksums are checked
 * again as it streams unless @trusted (a forced revert). */
bool vms_memory_load(vms_qmp *qmp, int fd, bool trusted, const vms_progress *progress,
                     vmsnap_error **error);

#endif
