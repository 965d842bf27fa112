/*
 * qemu_snapshot.h: snapshot operations on a running QEMU over QMP — the
 * block layer (one transaction for all disks, internal snapshots)
 * and the VM state (snapshot-save/-load jobs, migration to a file).
 *
 * Disks are named by their -device id ("vms-dev-vda"); the node a device
 * currently writes to is looked up in QEMU (query-block), never assumed, so
 * every call works whatever overlays were added since QEMU started.
 * Every call has a deadline; moving the VM state to or from a file reports
 * its progress.
 */
#ifndef VMS_QEMU_QEMU_SNAPSHOT_H
#define VMS_QEMU_QEMU_SNAPSHOT_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "qemu/qmp.h"
#include "util/progress.h"

typedef enum {
    VMS_LIVE_DISK_SKIP = 0, /* not part of the snapshot */
    VMS_LIVE_DISK_INTERNAL, /* blockdev-snapshot-internal-sync on the device's node */
    VMS_LIVE_DISK_EXTERNAL, /* the device switches to a new overlay (blockdev-snapshot) */
} vms_live_disk_kind;

typedef struct {
    const char *device_id; /* "vms-dev-vda" */
    vms_live_disk_kind kind;
    const char *tag;     /* INTERNAL: the qcow2 snapshot name */
    const char *overlay; /* EXTERNAL: an existing qcow2 file (created by qemu-img, backed by
                          * the device's current file) that becomes the active layer */
} vms_live_disk;

/* The file behind the node @device_id currently writes to. */
char *vms_qemu_device_file(vms_qmp *qmp, const char *device_id, vmsnap_error **error);

/* The same in two steps, so that only the transaction itself falls in a
 * pause of the guest: _prepare checks the disks and blockdev-adds the
 * overlays (nothing switches); _commit runs the transaction (and on failure
 * removes the nodes); _abandon removes them without switching. Each of
 * _commit and _abandon frees @sw. */
typedef struct vms_disk_switch vms_disk_switch;
vms_disk_switch *vms_qemu_snapshot_disks_prepare(vms_qmp *qmp, const vms_live_disk *disks,
                                                 size_t ndisks, vmsnap_error **error);
bool vms_qemu_snapshot_disks_commit(vms_qmp *qmp, vms_disk_switch *sw, vmsnap_error **error);
void vms_qemu_snapshot_disks_abandon(vms_qmp *qmp, vms_disk_switch *sw);
void vms_disk_switch_free(vms_disk_switch *sw);

/* Take every disk's part at one instant: the overlays are blockdev-add'ed,
 * then ONE 'transaction' switches every EXTERNAL device to its overlay and
 * takes every INTERNAL snapshot. All or nothing: on failure the added nodes
 * are removed again and no device changed. */
bool vms_qemu_snapshot_disks(vms_qmp *qmp, const vms_live_disk *disks, size_t ndisks,
                             vmsnap_error **error);

/* Remove internal snapshot @tag from the node of @device_id
 * (blockdev-snapshot-delete-internal-sync). Absent is not an error. */
bool vms_qemu_delete_internal(vms_qmp *qmp, const char *device_id, const char *tag,
                              vmsnap_error **error);

/* Full internal snapshot: 'snapshot-save' job with tag @tag over the nodes
 * of @device_ids (NULL-terminated), the VM state in the node of
 * @vmstate_device; waits for the job and dismisses it. The guest is paused
 * by QEMU for the duration and runs again after (if it ran). */
bool vms_qemu_save_internal(vms_qmp *qmp, const char *tag, const char *const *device_ids,
                            const char *vmstate_device, int timeout_ms, vmsnap_error **error);

/* 'snapshot-load' job: disks and VM state back to internal snapshot @tag. */
bool vms_qemu_load_internal(vms_qmp *qmp, const char *tag, const char *const *device_ids,
                            const char *vmstate_device, int timeout_ms, vmsnap_error **error);

/* Moving the VM state through a descriptor (QEMU's 'fd:' migration). */
typedef enum {
    VMS_MIGRATION_SAVE,      /* the state of a paused guest (QEMU keeps it paused) */
    VMS_MIGRATION_SAVE_LIVE, /* background snapshot: QEMU pauses the guest for a few
                              * milliseconds, runs it again and writes the memory as it was
                              * at that pause while the guest goes on */
    VMS_MIGRATION_LOAD,      /* into a QEMU started with -incoming defer (and -S) */
} vms_migration_kind;

/* QEMU's figures of a completed migration (query-migrate); -1 / 0 if it
 * did not give them. */
typedef struct {
    int64_t total_ms;    /* QEMU's total-time */
    int64_t downtime_ms; /* how long QEMU itself kept the guest stopped (saving) */
    uint64_t ram_total;  /* the guest's RAM size */
} vms_migration_stats;

/* Start a migration of @kind over @fd: 'getfd' under a fresh name, then
 * 'migrate' or 'migrate-incoming' on "fd:<name>". Saving raises the
 * bandwidth limit for local files and sets the background-snapshot
 * capability for SAVE_LIVE (clears it otherwise). QEMU holds its own copy
 * of @fd; for a pipe, the caller closes its copy of QEMU's end so that
 * EOF comes when QEMU is done. Returns once QEMU accepted the command. */
bool vms_qemu_migration_start(vms_qmp *qmp, int fd, vms_migration_kind kind, vmsnap_error **error);

/* vms_qemu_migration_start() in two steps, so that only 'migrate' falls in
 * a pause of the guest: _prepare sets the capabilities and parameters and
 * hands @fd to QEMU ('getfd'), returning the name it has there; _go runs
 * 'migrate' / 'migrate-incoming' on it. _drop_fd closes a prepared
 * descriptor that will not be used. */
char *vms_qemu_migration_prepare(vms_qmp *qmp, int fd, vms_migration_kind kind,
                                 vmsnap_error **error);
bool vms_qemu_migration_go(vms_qmp *qmp, const char *fdname, vms_migration_kind kind,
                           vmsnap_error **error);
void vms_qemu_migration_drop_fd(vms_qmp *qmp, const char *fdname);

/* Wait (up to @timeout_ms) for the migration started by
 * vms_qemu_migration_start() to complete, reporting "saving memory" (RAM
 * bytes sent) or "loading memory" (the offset of @file_fd, a regular file
 * QEMU reads; -1: none) to @progress (may be NULL) every 50 ms. After a
 * completed one QEMU's run state has settled; @stats (may be NULL) gets
 * QEMU's figures. A failure carries QEMU's reason. After SAVE QEMU is left
 * in 'postmigrate' with its disks inactive: only 'cont' activates them again
 * (docs/qemu.md); after SAVE_LIVE the guest runs. */
bool vms_qemu_migration_wait(vms_qmp *qmp, vms_migration_kind kind, int file_fd, int timeout_ms,
                             const vms_progress *progress, vms_migration_stats *stats,
                             vmsnap_error **error);

/* Save the VM state of a paused guest into the open file @fd: start + wait
 * of a VMS_MIGRATION_SAVE. */
bool vms_qemu_save_state_to_fd(vms_qmp *qmp, int fd, int timeout_ms, const vms_progress *progress,
                               vmsnap_error **error);

/* Load a VM state saved by vms_qemu_save_state_to_fd() from the open file
 * @fd (positioned at the stream's start) into a QEMU started with
 * -incoming defer (and -S): start + wait of a VMS_MIGRATION_LOAD, with
 * progress from the file's offset. Returns with the guest paused. */
bool vms_qemu_load_state_from_fd(vms_qmp *qmp, int fd, int timeout_ms, const vms_progress *progress,
                                 vmsnap_error **error);

#endif
