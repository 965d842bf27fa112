/* snapshot_revert.c: making a snapshot's state the domain's (ADR 0006). */
#include "core/snapshot_data.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/domain_lifecycle.h"
#include "core/domain_state.h"
#include "core/journal.h"
#include "core/memory_file.h"
#include "core/snapshot_files.h"
#include "qemu/qemu_img.h"
#include "qemu/qemu_snapshot.h"
#include "qemu/qmp.h"
#include "util/error.h"
#include "util/file.h"
#include "util/names.h"
#include "util/subprocess.h"

/* Deadlines: QMP commands that answer at once; loading a big guest's
 * memory from a slow disk. */
#define QMP_TIMEOUT_MS  5000
#define LOAD_TIMEOUT_MS (10 * 60 * 1000)

/* --- revert -------------------------------------------------------------------- */

/* A copy of @file that keeps only internal snapshot @tag, for resuming an
 * internal full snapshot whose file is frozen under other snapshots (its
 * memory can only be loaded from a writable file, and the frozen file must
 * not change): the file is copied (reflinked where the file system can),
 * its other tags deleted; QEMU loads the tag from the copy, then vmsnap
 * deletes it there too. */
static char *copy_keeping_tag(const char *file, const char *tag, const char *snap_name,
                              vms_undo_log *undo, vmsnap_error **error)
{
    g_autofree char *after = g_strdup_printf("after-%s", snap_name);
    g_autofree char *copy = vms_overlay_free_path(file, after, error);
    if (!copy)
        return NULL;
    if (!vms_undo_note_file(undo, copy, error))
        return NULL;
    const char *argv[] = {"cp", "--reflink=auto", "--sparse=always", "--", file, copy, NULL};
    vms_subprocess_options options = VMS_SUBPROCESS_OPTIONS_INIT;
    options.private_umask = true;
    vms_subprocess_result result = {0};
    if (!vms_subprocess_run_with(argv, &options, &result, error))
        return NULL;
    int status = result.exit_status;
    g_autofree char *message = g_strdup(g_strstrip(result.err));
    vms_subprocess_result_clear(&result);
    if (status != 0) {
        vms_error_set(error, VMSNAP_ERR_IO, "cannot copy '%s' to '%s': %s", file, copy, message);
        return NULL;
    }
    if (chmod(copy, 0600) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot set the mode of '%s'", copy);
        return NULL;
    }
    g_auto(GStrv) tags = vms_qemu_img_snapshot_list(copy, error);
    if (!tags)
        return NULL;
    for (char **t = tags; *t; t++)
        if (strcmp(*t, tag) != 0 && !vms_qemu_img_snapshot_delete(copy, *t, error))
            return NULL;
    return g_steal_pointer(&copy);
}

/* Point @disk (of the domain being restored) at the state @snap keeps of
 * it; internal tags to apply are queued on @apply as (file, tag) pairs. */
static bool revert_disk(vms_domain_state *state, const vms_snapshot_def *snap,
                        vms_domain_disk *disk, GPtrArray *apply, vms_undo_log *undo,
                        vmsnap_error **error)
{
    const vms_domain_disk *current = vms_domain_def_find_disk(state->def, disk->target);
    switch (vms_snapshot_stored_kind(snap, disk)) {
    case VMS_SNAP_LOCATION_EXTERNAL: {
        if (!vms_path_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "the frozen file '%s' of snapshot '%s' (disk %s) is missing",
                          disk->source, snap->name, disk->target);
            return false;
        }
        g_autofree char *tag = g_strdup_printf("after-%s", snap->name);
        g_autofree char *overlay = vms_overlay_free_path(disk->source, tag, error);
        if (!overlay || !vms_undo_make_overlay(undo, overlay, disk->source, disk->format, error))
            return false;
        g_free(disk->source);
        disk->source = g_steal_pointer(&overlay);
        disk->format = VMS_DISK_FORMAT_QCOW2;
        return true;
    }
    case VMS_SNAP_LOCATION_INTERNAL: {
        if (current && g_strcmp0(current->source, disk->source) == 0) {
            /* The tag's file is the active layer: apply it in place. */
            g_ptr_array_add(apply, g_strdup(disk->source));
            g_ptr_array_add(apply, g_strdup(vms_snapshot_def_internal_tag(snap)));
            return true;
        }
        /* The file is frozen under another snapshot (or left behind): copy
         * the tagged state into a new file on the same backing file, so the
         * frozen file never changes. */
        if (!vms_path_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "the file '%s' holding snapshot '%s' (disk %s) is missing", disk->source,
                          snap->name, disk->target);
            return false;
        }
        if (snap->memory == VMS_SNAP_LOCATION_INTERNAL) {
            char *copy = copy_keeping_tag(disk->source, vms_snapshot_def_internal_tag(snap),
                                          snap->name, undo, error);
            if (!copy)
                return false;
            g_free(disk->source);
            disk->source = copy;
            return true;
        }
        g_autofree char *backing = NULL;
        g_autofree char *backing_format = NULL;
        if (!vms_qemu_img_get_backing(disk->source, &backing, &backing_format, error))
            return false;
        g_autofree char *tag = g_strdup_printf("after-%s", snap->name);
        g_autofree char *copy = vms_overlay_free_path(disk->source, tag, error);
        if (!copy || !vms_undo_note_file(undo, copy, error) ||
            !vms_qemu_img_convert_snapshot(disk->source, vms_snapshot_def_internal_tag(snap), copy,
                                           backing, backing_format, error))
            return false;
        g_free(disk->source);
        disk->source = g_steal_pointer(&copy);
        disk->format = VMS_DISK_FORMAT_QCOW2;
        return true;
    }
    default:
        /* Not captured by the snapshot: the disk keeps its current state. */
        if (current) {
            g_free(disk->source);
            disk->source = g_strdup(current->source);
            disk->format = current->format;
        }
        return true;
    }
}

/* The run state a revert ends in: what the flags ask; else a full
 * snapshot's recorded state (running or paused), a disk-only one shut off. */
static vmsnap_domain_state target_run_state(const vms_snapshot_def *snap, unsigned int flags)
{
    if (flags & VMSNAP_SNAPSHOT_REVERT_PAUSED)
        return VMSNAP_DOMAIN_STATE_PAUSED;
    if (flags & VMSNAP_SNAPSHOT_REVERT_RUNNING)
        return VMSNAP_DOMAIN_STATE_RUNNING;
    if (!vms_snapshot_def_has_memory(snap))
        return VMSNAP_DOMAIN_STATE_SHUTOFF;
    return snap->state == VMSNAP_SNAPSHOT_STATE_PAUSED ? VMSNAP_DOMAIN_STATE_PAUSED
                                                       : VMSNAP_DOMAIN_STATE_RUNNING;
}

static bool qmp_simple(vms_qmp *qmp, const char *command, vmsnap_error **error)
{
    g_autofree char *reply = vms_qmp_command(qmp, command, NULL, QMP_TIMEOUT_MS, error);
    return reply != NULL;
}

/* QEMU's device ids of @snap's internal disks (NULL-terminated); the first
 * holds the VM state of an internal full snapshot. */
static GPtrArray *internal_device_ids(const vms_snapshot_def *snap)
{
    GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < snap->domain->ndisks; i++) {
        const vms_domain_disk *disk = snap->domain->disks[i];
        if (vms_snapshot_stored_kind(snap, disk) == VMS_SNAP_LOCATION_INTERNAL)
            g_ptr_array_add(ids, g_strdup_printf("vms-dev-%s", disk->target));
    }
    g_ptr_array_add(ids, NULL);
    return ids;
}

/* Load internal full snapshot @snap into the QEMU on @qmp (which runs the
 * snapshot's configuration) and leave the guest in @target. */
static bool load_internal_memory(vms_qmp *qmp, const vms_snapshot_def *snap, bool running_now,
                                 vmsnap_domain_state target, const vms_progress *progress,
                                 vmsnap_error **error)
{
    /* snapshot-load runs the guest again after if it ran. */
    if (running_now && target == VMSNAP_DOMAIN_STATE_PAUSED && !qmp_simple(qmp, "stop", error))
        return false;
    g_autoptr(GPtrArray) ids = internal_device_ids(snap);
    uint64_t total = snap->domain->memory_kib * 1024;
    vms_progress_report(progress, "loading memory", 0, total);
    if (!vms_qemu_load_internal(qmp, vms_snapshot_def_internal_tag(snap),
                                (const char *const *)ids->pdata, g_ptr_array_index(ids, 0),
                                LOAD_TIMEOUT_MS, error))
        return false;
    vms_progress_report(progress, "loading memory", total, total);
    g_autofree char *reply = vms_qmp_command(qmp, "query-status", NULL, QMP_TIMEOUT_MS, error);
    g_autofree char *status = reply ? vms_qmp_json_get_string(reply, "status") : NULL;
    if (!status)
        return false;
    bool running = strcmp(status, "running") == 0;
    if (target == VMSNAP_DOMAIN_STATE_RUNNING && !running)
        return qmp_simple(qmp, "cont", error);
    return true;
}

/* Whether the running QEMU can take @snap's state without a restart: its
 * configuration is the snapshot's (same disks, files, memory, CPUs, ...). */
static bool same_configuration(const vms_domain_state *state, const vms_snapshot_def *snap)
{
    g_autofree char *now = vms_domain_def_format(state->def, 0);
    g_autofree char *then = vms_domain_def_format(snap->domain, 0);
    return g_strcmp0(now, then) == 0;
}

/* Revert in place: QEMU runs the snapshot's configuration and the snapshot
 * is internal full: snapshot-load, no restart. */
static bool revert_in_place(vms_domain_state *state, const vms_snapshot_def *snap,
                            vmsnap_domain_state run, vmsnap_domain_state target,
                            const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_qmp) qmp = vms_domain_connect_qmp(state->store, state->name, error);
    return qmp && vms_domain_activate_disks(qmp, error) &&
           load_internal_memory(qmp, snap, run == VMSNAP_DOMAIN_STATE_RUNNING, target, progress,
                                error);
}

/* Files copied by copy_keeping_tag() held the tag only to be loaded from:
 * delete it there (the running QEMU has the file open). */
static bool drop_tags_of_copies(vms_qmp *qmp, const vms_domain_def *def,
                                const vms_snapshot_def *snap, vmsnap_error **error)
{
    for (size_t i = 0; i < snap->domain->ndisks; i++) {
        const vms_domain_disk *then = snap->domain->disks[i];
        const vms_domain_disk *now = vms_domain_def_find_disk(def, then->target);
        if (vms_snapshot_stored_kind(snap, then) != VMS_SNAP_LOCATION_INTERNAL || !now ||
            g_strcmp0(now->source, then->source) == 0)
            continue;
        g_autofree char *id = g_strdup_printf("vms-dev-%s", then->target);
        if (!vms_qemu_delete_internal(qmp, id, vms_snapshot_def_internal_tag(snap), error))
            return false;
    }
    return true;
}

/* Start the restored domain @def in @target: from @snap's memory for a full
 * snapshot (external: the memory file on @memory_fd; internal:
 * snapshot-load into a QEMU started paused), else booting. */
static bool start_restored(vms_domain_state *state, const vms_domain_def *def,
                           const vms_snapshot_def *snap, int memory_fd, bool forced,
                           vmsnap_domain_state target, const vms_progress *progress,
                           vmsnap_error **error)
{
    bool paused = target == VMSNAP_DOMAIN_STATE_PAUSED;
    if (snap->memory == VMS_SNAP_LOCATION_EXTERNAL)
        return vms_domain_restore_locked(state->store, state->name, def, memory_fd, forced, paused,
                                         progress, error);
    bool internal = snap->memory == VMS_SNAP_LOCATION_INTERNAL;
    if (!vms_domain_start_locked(state->store, state->name, def, internal || paused, error))
        return false;
    if (!internal)
        return true;
    g_autoptr(vms_qmp) qmp = vms_domain_connect_qmp(state->store, state->name, error);
    if (qmp && load_internal_memory(qmp, snap, false, target, progress, error) &&
        drop_tags_of_copies(qmp, def, snap, error))
        return true;
    vms_error_prefix(error, "cannot resume domain '%s' from snapshot '%s': ", state->name,
                     snap->name);
    vms_domain_stop_locked(state->store, state->name, NULL);
    return false;
}

/* A memory file must be this domain's, the one the snapshot saved, and
 * undamaged, before the running state goes for it; --force trusts it. */
static bool check_memory_file(const vms_snapshot_def *snap, int fd, bool forced,
                              const vms_progress *progress, vmsnap_error **error)
{
    if (forced)
        return true;
    if (vms_memory_file_check(snap, fd, snap->domain, true, progress, error))
        return true;
    vms_error_prefix(error,
                     "the memory file '%s' of snapshot '%s' cannot be used: ", snap->memory_file,
                     snap->name);
    vms_error_append(error, "; nothing was changed ('--force' loads it anyway)");
    return false;
}

/* The revert proper, recorded in @journal: everything that can refuse has
 * refused already. */
static int revert_journaled(vms_domain_state *state, const vms_snapshot_def *snap,
                            vmsnap_domain_state run, unsigned int flags, int memory_fd,
                            const vms_progress *progress, vms_journal *journal,
                            vmsnap_error **error)
{
    vms_store *store = state->store;
    const char *dom = state->name;
    const char *name = snap->name;
    vmsnap_domain_state target = target_run_state(snap, flags);
    bool full = vms_snapshot_def_has_memory(snap);
    bool forced = (flags & VMSNAP_SNAPSHOT_REVERT_FORCE) != 0;
    if (snap->memory == VMS_SNAP_LOCATION_INTERNAL && run != VMSNAP_DOMAIN_STATE_SHUTOFF &&
        same_configuration(state, snap)) {
        if (!revert_in_place(state, snap, run, target, progress, error))
            return -1;
        return vms_domain_state_set_current(state, name, error) ? 0 : -1;
    }

    /* The running state is left behind like any other: QEMU stops first. */
    if (run != VMSNAP_DOMAIN_STATE_SHUTOFF && !vms_domain_stop_locked(store, dom, error))
        return -1;
    if (!vms_journal_set_phase(state, journal, "stopped", error))
        return -1;

    g_auto(vms_undo_log) undo = {0};
    vms_undo_log_init_journaled(&undo, state, journal);
    g_autoptr(vms_domain_def) restored = vms_domain_def_copy(snap->domain);
    g_autoptr(GPtrArray) apply = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < restored->ndisks; i++)
        if (!revert_disk(state, snap, restored->disks[i], apply, &undo, error))
            return -1;
    /* Internal tags last: they cannot be taken back, overlays can. An
     * internal full snapshot's tags are applied by QEMU with the memory. */
    for (guint i = 0; snap->memory != VMS_SNAP_LOCATION_INTERNAL && i + 1 < apply->len; i += 2)
        if (!vms_qemu_img_snapshot_apply(g_ptr_array_index(apply, i),
                                         g_ptr_array_index(apply, i + 1), error))
            return -1;

    g_autofree char *old_domain_xml = vms_domain_def_format(state->def, 0);
    g_autofree char *domain_xml = vms_domain_def_format(restored, 0);
    if (!vms_store_write_domain_xml(store, dom, domain_xml, error))
        return -1;
    vms_journal_step(journal, "domain-written");
    if (full &&
        !start_restored(state, restored, snap, memory_fd, forced, target, progress, error)) {
        /* Back to the state left behind, shut off: its files are all there. */
        vms_store_write_domain_xml(store, dom, old_domain_xml, NULL);
        return -1;
    }
    vms_undo_log_commit(&undo);
    if (!vms_domain_state_set_current(state, name, error))
        return -1;

    /* The state left behind goes unless a snapshot still needs its files. */
    g_autoptr(GPtrArray) left = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < state->def->ndisks; i++) {
        g_ptr_array_add(left, g_strdup(state->def->disks[i]->source));
        g_ptr_array_add(journal->candidates, g_strdup(state->def->disks[i]->source));
    }
    if (!vms_journal_set_phase(state, journal, "started", error))
        return -1;
    vms_domain_def_free(state->def);
    state->def = g_steal_pointer(&restored);
    unsigned int discarded = 0;
    if (!vms_files_remove_unused(state, left, NULL, &discarded, error))
        return -1;
    /* A disk-only snapshot boots when asked to. */
    if (!full && target != VMSNAP_DOMAIN_STATE_SHUTOFF &&
        !vms_domain_start_locked(store, dom, state->def, target == VMSNAP_DOMAIN_STATE_PAUSED,
                                 error)) {
        vms_error_prefix(
            error, "domain '%s' was reverted to snapshot '%s' but did not start: ", dom, name);
        return -1;
    }
    return (int)discarded;
}

int vms_snapshot_data_revert_then_discard(vms_domain_state *state, const char *name,
                                          unsigned int flags, GPtrArray *then_discard,
                                          const vms_progress *progress, vmsnap_error **error)
{
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!vms_domain_require_not_crashed(state->store, state->name, &run, error))
        return -1;
    vms_tree_node *node = vms_domain_state_find(state, name, error);
    if (!node)
        return -1;
    const vms_snapshot_def *snap = vms_node_def(node);
    if (!snap->domain) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "snapshot '%s' records no domain definition, so there is nothing to "
                      "revert to",
                      name);
        return -1;
    }
    /* Everything that can refuse does so before the running state goes. */
    g_auto(vms_fd) memory_fd = -1;
    bool forced = (flags & VMSNAP_SNAPSHOT_REVERT_FORCE) != 0;
    if (snap->memory == VMS_SNAP_LOCATION_EXTERNAL &&
        ((memory_fd = vms_memory_file_open(snap, error)) < 0 ||
         !check_memory_file(snap, memory_fd, forced, progress, error)))
        return -1;

    g_autoptr(vms_journal) journal = vms_journal_new("revert");
    g_ptr_array_add(journal->names, g_strdup(name));
    for (guint i = 0; then_discard && i < then_discard->len; i++)
        g_ptr_array_add(journal->names, g_strdup(g_ptr_array_index(then_discard, i)));
    journal->flags = flags;
    journal->was_running = run == VMSNAP_DOMAIN_STATE_RUNNING;
    if (!vms_journal_begin(state, journal, error))
        return -1;
    /* A failure here was cleaned up as it happened: nothing to recover. */
    int rc = revert_journaled(state, snap, run, flags, memory_fd, progress, journal, error);
    /* With a discard to follow, its own record replaces this one. */
    if (rc < 0 || !then_discard || then_discard->len == 0)
        vms_journal_end(state, journal);
    return rc;
}

int vms_snapshot_data_revert_locked(vms_domain_state *state, const char *name, unsigned int flags,
                                    const vms_progress *progress, vmsnap_error **error)
{
    return vms_snapshot_data_revert_then_discard(state, name, flags, NULL, progress, error);
}

int vms_snapshot_data_revert(vms_store *store, const char *dom, const char *name,
                             unsigned int flags, const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state)
        return -1;
    return vms_snapshot_data_revert_locked(state, name, flags, progress, error);
}
