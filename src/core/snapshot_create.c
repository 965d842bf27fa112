/* snapshot_create.c: taking snapshots, of shut-off domains with qemu-img and
 * of running ones in one QEMU transaction (ADR 0006). */
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
#include "util/names.h"

/* Deadlines: QMP commands that answer at once; saving the memory of a big
 * guest to a slow disk. */
#define QMP_TIMEOUT_MS  5000
#define SAVE_TIMEOUT_MS (10 * 60 * 1000)

/* --- create ------------------------------------------------------------------ */

static bool check_specs_name_disks(const vms_domain_state *state, const vms_snapshot_def *def,
                                   vmsnap_error **error)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const char *name = def->disks[i]->name;
        bool found = false;
        for (size_t d = 0; d < state->def->ndisks && !found; d++)
            found = g_strcmp0(name, state->def->disks[d]->target) == 0 ||
                    g_strcmp0(name, state->def->disks[d]->source) == 0;
        if (!found) {
            vms_error_set(error, VMSNAP_ERR_XML, "domain '%s' has no disk '%s'", state->name, name);
            return false;
        }
    }
    return true;
}

/* Two disks cannot share a new file. */
static bool check_new_files(const vms_snapshot_def *def, vmsnap_error **error)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const vms_snapshot_disk *a = def->disks[i];
        for (size_t j = i + 1; a->source_file && j < def->ndisks; j++) {
            if (g_strcmp0(a->source_file, def->disks[j]->source_file) == 0) {
                vms_error_set(error, VMSNAP_ERR_XML,
                              "disks %s and %s both name '%s' as their new file; give each disk "
                              "its own",
                              a->name, def->disks[j]->name, a->source_file);
                return false;
            }
        }
    }
    return true;
}

/* Fill in what every new snapshot records; the memory is settled once the
 * disks' kinds are known (resolve_memory). */
static bool complete_new_snapshot(vms_domain_state *state, vms_snapshot_def *def, bool live,
                                  unsigned int flags, vmsnap_error **error)
{
    bool wants_memory = def->memory != VMS_SNAP_LOCATION_NO;
    if (!live && wants_memory && def->memory != VMS_SNAP_LOCATION_DEFAULT) {
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' is shut off: it has no memory to save; take a disk-only "
                      "snapshot",
                      state->name);
        return false;
    }
    if (!live && (flags & VMSNAP_SNAPSHOT_CREATE_LIVE)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' is shut off: --live applies to saving a running guest's "
                      "memory",
                      state->name);
        return false;
    }
    /* Memory kept inside the qcow2 files makes internal the disks' default,
     * as in libvirt. */
    if (live && def->memory == VMS_SNAP_LOCATION_INTERNAL &&
        def->default_disk_kind == VMS_SNAP_LOCATION_DEFAULT)
        def->default_disk_kind = VMS_SNAP_LOCATION_INTERNAL;
    if (!live)
        def->memory = VMS_SNAP_LOCATION_NO;
    long long now = (long long)(g_get_real_time() / G_USEC_PER_SEC);
    if (!def->name)
        def->name = g_strdup_printf("%lld", now);
    if (!vms_name_validate("snapshot", def->name, error))
        return false;
    if (vms_store_snapshot_exists(state->store, state->name, def->name)) {
        vms_error_set(error, VMSNAP_ERR_SNAPSHOT_EXISTS,
                      "domain '%s' already has a snapshot named '%s'", state->name, def->name);
        return false;
    }
    if (def->memory != VMS_SNAP_LOCATION_EXTERNAL)
        g_clear_pointer(&def->memory_file, g_free);
    g_clear_pointer(&def->checksum_type, g_free);
    g_clear_pointer(&def->checksum_value, g_free);
    g_clear_pointer(&def->internal_tag, g_free);
    def->has_pause = false;
    def->creation_time = now;
    def->has_creation_time = true;
    def->has_active = false;
    g_free(def->parent);
    def->parent = g_strdup(state->current);
    g_clear_pointer(&def->domain, vms_domain_def_free);
    def->domain = vms_domain_def_copy(state->def);
    return check_specs_name_disks(state, def, error) && check_new_files(def, error);
}

/* The memory of a running domain's snapshot, once every disk's kind is
 * known (ADR 0006, "Full snapshots"): by default internal when every disk
 * taken is internal, else external; internal memory needs every disk
 * internal (the state goes into the first one's qcow2). Sets the state. */
static bool resolve_memory(vms_domain_state *state, vms_snapshot_def *def, vmsnap_domain_state run,
                           unsigned int flags, vmsnap_error **error)
{
    bool live = run != VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!live || def->memory == VMS_SNAP_LOCATION_NO) {
        if (flags & VMSNAP_SNAPSHOT_CREATE_LIVE) {
            vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                          "--live applies to full snapshots (with memory); leave it out of a "
                          "disk-only one");
            return false;
        }
        def->memory = VMS_SNAP_LOCATION_NO;
        def->state = live ? VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT : VMSNAP_SNAPSHOT_STATE_SHUTOFF;
        return true;
    }
    const vms_snapshot_disk *external = NULL;
    size_t internal = 0;
    for (size_t i = 0; i < def->ndisks; i++) {
        if (def->disks[i]->snapshot == VMS_SNAP_LOCATION_EXTERNAL && !external)
            external = def->disks[i];
        if (def->disks[i]->snapshot == VMS_SNAP_LOCATION_INTERNAL)
            internal++;
    }
    if (def->memory == VMS_SNAP_LOCATION_DEFAULT)
        def->memory =
            !external && internal > 0 ? VMS_SNAP_LOCATION_INTERNAL : VMS_SNAP_LOCATION_EXTERNAL;
    if (def->memory == VMS_SNAP_LOCATION_MANUAL) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "manual memory snapshots are not supported; use internal or external");
        return false;
    }
    if (def->memory == VMS_SNAP_LOCATION_INTERNAL && external) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "snapshot '%s': internal memory is saved inside the disks' qcow2 files, "
                      "so every disk must be internal, but disk %s is external; make the "
                      "memory external (--memspec snapshot=external) or the disk internal "
                      "(--diskspec %s,snapshot=internal)",
                      def->name, external->name, external->name);
        return false;
    }
    if (def->memory == VMS_SNAP_LOCATION_INTERNAL && internal == 0) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "snapshot '%s': internal memory is saved inside a qcow2 disk, and no "
                      "disk is part of the snapshot; include a qcow2 disk or make the memory "
                      "external",
                      def->name);
        return false;
    }
    if ((flags & VMSNAP_SNAPSHOT_CREATE_LIVE) && def->memory != VMS_SNAP_LOCATION_EXTERNAL) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "--live applies to full snapshots with external memory; snapshot '%s' "
                      "keeps its memory internal",
                      def->name);
        return false;
    }
    def->state = run == VMSNAP_DOMAIN_STATE_PAUSED ? VMSNAP_SNAPSHOT_STATE_PAUSED
                                                   : VMSNAP_SNAPSHOT_STATE_RUNNING;
    if (def->memory != VMS_SNAP_LOCATION_EXTERNAL)
        return true;
    if (!def->memory_file) {
        if (flags & VMSNAP_SNAPSHOT_CREATE_NO_METADATA) {
            vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                          "a snapshot without metadata keeps no record of where its memory "
                          "went; name the memory file (--memspec file=PATH) or take a "
                          "disk-only snapshot");
            return false;
        }
        def->memory_file = vms_memory_default_path(state->store, state->name, def->name, error);
        if (!def->memory_file)
            return false;
    }
    if (vms_path_exists(def->memory_file)) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "'%s' exists; vmsnap never overwrites a file: choose another file for "
                      "the memory",
                      def->memory_file);
        return false;
    }
    return true;
}

/* --reuse-external: @overlay, made by the user, must be a qcow2 file backed
 * by @disk's current file, so it holds exactly the writes to come. */
static bool check_reused_overlay(const vms_domain_disk *disk, const char *overlay,
                                 vmsnap_error **error)
{
    if (!vms_path_exists(overlay)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "--reuse-external: the overlay '%s' of disk %s does not exist; create it "
                      "(qemu-img create -f qcow2 -b '%s' -F %s '%s') or leave out "
                      "--reuse-external",
                      overlay, disk->target, disk->source, vms_disk_format_to_string(disk->format),
                      overlay);
        return false;
    }
    g_autofree char *info = vms_qemu_img_info_json(overlay, false, error);
    if (!info)
        return false;
    g_autofree char *format = vms_qmp_json_get_string(info, "format");
    if (g_strcmp0(format, "qcow2") != 0) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "--reuse-external: '%s' (disk %s) is a %s image; an overlay must be qcow2",
                      overlay, disk->target, format ? format : "unknown");
        return false;
    }
    g_autofree char *backing = NULL;
    if (!vms_qemu_img_get_backing(overlay, &backing, NULL, error))
        return false;
    if (g_strcmp0(backing, disk->source) != 0) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "--reuse-external: '%s' is backed by %s%s%s, not by the current file of "
                      "disk %s, '%s'; create the overlay on that file",
                      overlay, backing ? "'" : "", backing ? backing : "no file",
                      backing ? "'" : "", disk->target, disk->source);
        return false;
    }
    return true;
}

/* Take one disk's part of the snapshot; fills @out and, for an external
 * snapshot, points @active (the new domain's disk) at the overlay. */
static bool snapshot_disk(vms_domain_state *state, const vms_snapshot_def *def,
                          const vms_domain_disk *disk, vms_domain_disk *active,
                          vms_snapshot_disk *out, bool live, unsigned int flags, vms_undo_log *undo,
                          vmsnap_error **error)
{
    const vms_snapshot_disk *spec = vms_snapshot_disk_spec(def, disk);
    vms_snap_location kind = spec ? spec->snapshot : VMS_SNAP_LOCATION_DEFAULT;
    if (kind == VMS_SNAP_LOCATION_DEFAULT)
        kind = def->default_disk_kind;
    if (kind == VMS_SNAP_LOCATION_DEFAULT)
        kind = disk->readonly ? VMS_SNAP_LOCATION_NO : VMS_SNAP_LOCATION_EXTERNAL;
    out->name = g_strdup(disk->target);
    out->snapshot = kind;
    switch (kind) {
    case VMS_SNAP_LOCATION_NO:
    case VMS_SNAP_LOCATION_DEFAULT:
        return true;
    case VMS_SNAP_LOCATION_MANUAL:
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "disk %s: manual snapshots are not supported; use internal or external",
                      disk->target);
        return false;
    case VMS_SNAP_LOCATION_INTERNAL: {
        if (disk->format == VMS_DISK_FORMAT_RAW) {
            vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                          "disk %s of domain '%s' is raw; raw disks only take external snapshots",
                          disk->target, state->name);
            return false;
        }
        g_auto(GStrv) tags = vms_qemu_img_snapshot_list(disk->source, error);
        if (!tags)
            return false;
        if (g_strv_contains((const char *const *)tags, def->name)) {
            vms_error_set(error, VMSNAP_ERR_SNAPSHOT_EXISTS,
                          "disk %s already holds an internal snapshot tagged '%s' in '%s' (a "
                          "renamed snapshot's); choose another name",
                          disk->target, def->name, disk->source);
            return false;
        }
        if (live)
            return true; /* taken in QEMU's transaction with the other disks */
        return vms_undo_note_tag(undo, disk->source, def->name, error) &&
               vms_qemu_img_snapshot_create(disk->source, def->name, error);
    }
    case VMS_SNAP_LOCATION_EXTERNAL:
        break;
    }
    bool reuse = (flags & VMSNAP_SNAPSHOT_CREATE_REUSE_EXT) && spec && spec->source_file;
    g_autofree char *overlay = spec && spec->source_file
                                   ? g_strdup(spec->source_file)
                                   : vms_overlay_free_path(disk->source, def->name, error);
    if (!overlay)
        return false;
    if (reuse ? !check_reused_overlay(disk, overlay, error)
              : !vms_undo_make_overlay(undo, overlay, disk->source, disk->format, error))
        return false;
    out->format = VMS_DISK_FORMAT_QCOW2;
    out->source_file = g_strdup(overlay);
    g_free(active->source);
    active->source = g_steal_pointer(&overlay);
    active->format = VMS_DISK_FORMAT_QCOW2;
    return true;
}

static bool holds_something(const vms_snapshot_def *def)
{
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i]->snapshot != VMS_SNAP_LOCATION_NO)
            return true;
    return vms_snapshot_def_has_memory(def);
}

/* QEMU's device ids of the disks @def takes with @kind (NULL-terminated). */
static GPtrArray *device_ids(const vms_snapshot_def *def, vms_snap_location kind)
{
    GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i]->snapshot == kind)
            g_ptr_array_add(ids, g_strdup_printf("vms-dev-%s", def->disks[i]->name));
    g_ptr_array_add(ids, NULL);
    return ids;
}

/* Switch the running QEMU to the snapshot at one instant: every disk in
 * one transaction (external: the overlays already made; internal: tags). */
/* The disks the snapshot takes, as QEMU's transaction wants them: the
 * blockdev-add of the overlays done (nothing switched yet). *@sw stays NULL
 * when no disk is taken. */
static bool prepare_disks(vms_qmp *qmp, const vms_snapshot_def *def, vms_disk_switch **sw,
                          vmsnap_error **error)
{
    g_autoptr(GArray) disks = g_array_new(FALSE, TRUE, sizeof(vms_live_disk));
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
    *sw = NULL;
    for (size_t i = 0; i < def->ndisks; i++) {
        const vms_snapshot_disk *d = def->disks[i];
        if (d->snapshot != VMS_SNAP_LOCATION_INTERNAL && d->snapshot != VMS_SNAP_LOCATION_EXTERNAL)
            continue;
        char *id = g_strdup_printf("vms-dev-%s", d->name);
        g_ptr_array_add(ids, id);
        vms_live_disk live = {
            .device_id = id,
            .kind = d->snapshot == VMS_SNAP_LOCATION_INTERNAL ? VMS_LIVE_DISK_INTERNAL
                                                              : VMS_LIVE_DISK_EXTERNAL,
            .tag = vms_snapshot_def_internal_tag(def),
            .overlay = d->source_file,
        };
        g_array_append_val(disks, live);
    }
    if (disks->len == 0)
        return true;
    *sw = vms_qemu_snapshot_disks_prepare(qmp, (const vms_live_disk *)(void *)disks->data,
                                          disks->len, error);
    return *sw != NULL;
}

static bool take_disks(vms_qmp *qmp, const vms_snapshot_def *def, vmsnap_error **error)
{
    vms_disk_switch *sw = NULL;
    return prepare_disks(qmp, def, &sw, error) &&
           (!sw || vms_qemu_snapshot_disks_commit(qmp, sw, error));
}

static bool qmp_simple(vms_qmp *qmp, const char *command, vmsnap_error **error)
{
    g_autofree char *reply = vms_qmp_command(qmp, command, NULL, QMP_TIMEOUT_MS, error);
    return reply != NULL;
}

/* Full internal: QEMU's snapshot-save job takes every internal disk and the
 * VM state (in the first one's qcow2) at one instant; QEMU pauses the guest
 * for it and runs it again if it ran. */
static bool take_full_internal(vms_qmp *qmp, const vms_snapshot_def *def,
                               const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(GPtrArray) ids = device_ids(def, VMS_SNAP_LOCATION_INTERNAL);
    uint64_t total = def->domain->memory_kib * 1024;
    /* The job holds QEMU's main loop: there is nothing to poll until it ends. */
    vms_progress_report(progress, "saving memory", 0, total);
    if (!vms_qemu_save_internal(qmp, vms_snapshot_def_internal_tag(def),
                                (const char *const *)ids->pdata, g_ptr_array_index(ids, 0),
                                SAVE_TIMEOUT_MS, error))
        return false;
    vms_progress_report(progress, "saving memory", total, total);
    return true;
}

typedef enum {
    TAKEN,           /* disks and memory */
    NOTHING_CHANGED, /* failed before QEMU switched a disk */
    DISKS_ONLY,      /* the disks switched, then saving the memory failed */
    GUEST_STOPPED,   /* taken, but the guest did not go on (the error says why) */
    QEMU_GONE,       /* the disks switched, then QEMU died before the memory was saved */
} full_result;

/* Let the guest go on as it was: running again, or paused with its disks
 * active. After a save QEMU 7.2 keeps the disks inactive until 'cont' (it
 * has no other way to activate them), so a paused guest gets 'cont' and
 * 'stop' back to back: it runs for that instant, after the snapshot. */
static bool resume_after_save(vms_qmp *qmp, bool was_running, vmsnap_error **error)
{
    if (!qmp_simple(qmp, "cont", error))
        return false;
    return was_running || qmp_simple(qmp, "stop", error);
}

/* After a background save QEMU ran the guest again itself, unless the
 * save failed before it got there: then the guest still waits for us. */
static bool resume_after_live_save(vms_qmp *qmp, vmsnap_error **error)
{
    g_autofree char *reply = vms_qmp_command(qmp, "query-status", NULL, QMP_TIMEOUT_MS, error);
    if (!reply)
        return false;
    g_autofree char *status = vms_qmp_json_get_string(reply, "status");
    return g_strcmp0(status, "running") == 0 || qmp_simple(qmp, "cont", error);
}

/* Full external: the guest paused, every disk switched in one transaction,
 * then the VM state into the memory file. A running guest is saved in the
 * background (ADR 0007): QEMU runs it again within milliseconds and writes
 * its memory as it was at the pause; a paused one stays paused. */
static full_result take_full_external(vms_qmp *qmp, vms_snapshot_def *def,
                                      const vms_domain_def *domain, bool was_running,
                                      const vms_progress *progress, vmsnap_error **error)
{
    int fd = vms_memory_file_create(def->memory_file, error);
    if (fd < 0)
        return NOTHING_CHANGED;
    /* Everything that can happen before the pause does: the writer, QEMU's
     * descriptor, the overlays' nodes; the pause holds the transaction and
     * 'migrate' only. */
    vms_memory_saving saving;
    vms_disk_switch *sw = NULL;
    if (!vms_memory_save_begin(qmp, fd, def->memory_file, def, domain, was_running, &saving,
                               error)) {
        close(fd);
        g_unlink(def->memory_file);
        return NOTHING_CHANGED;
    }
    if (!prepare_disks(qmp, def, &sw, error) || (was_running && !qmp_simple(qmp, "stop", error)) ||
        (sw && !vms_qemu_snapshot_disks_commit(qmp, g_steal_pointer(&sw), error))) {
        vms_qemu_snapshot_disks_abandon(qmp, sw);
        vms_memory_save_abort(qmp, &saving);
        close(fd);
        g_unlink(def->memory_file);
        if (was_running)
            qmp_simple(qmp, "cont", NULL);
        return NOTHING_CHANGED;
    }
    vms_memory_saved saved = {.qemu_downtime_ms = -1};
    bool ok = vms_memory_save_end(qmp, &saving, progress, &saved, error);
    close(fd);
    if (!ok)
        g_unlink(def->memory_file);
    vmsnap_error *resume_error = NULL;
    bool resumed = was_running ? resume_after_live_save(qmp, ok ? error : &resume_error)
                               : resume_after_save(qmp, false, ok ? error : &resume_error);
    vmsnap_error_free(resume_error);
    if (!ok)
        return vms_qmp_is_usable(qmp) ? DISKS_ONLY : QEMU_GONE;
    def->checksum_type = g_strdup("xxh3-128");
    def->checksum_value = g_strdup(saved.checksum);
    def->qemu_downtime_ms = saved.qemu_downtime_ms;
    return resumed ? TAKEN : GUEST_STOPPED;
}

static int64_t event_time_us(const vms_qmp_event *event)
{
    return event->seconds * G_USEC_PER_SEC + event->microseconds;
}

/* How long the guest was paused for the snapshot, from QEMU's own STOP and
 * RESUME events (queued while the snapshot was taken). */
static void record_pause(vms_qmp *qmp, vms_snapshot_def *def)
{
    g_autoptr(vms_qmp_event) stop = vms_qmp_wait_event(qmp, "STOP", 0, NULL);
    g_autoptr(vms_qmp_event) resume = stop ? vms_qmp_wait_event(qmp, "RESUME", 0, NULL) : NULL;
    if (!resume || event_time_us(resume) < event_time_us(stop))
        return;
    def->has_pause = true;
    def->pause_us = event_time_us(resume) - event_time_us(stop);
}

/* Take the snapshot in the running QEMU. */
static full_result take_live(vms_domain_state *state, vms_snapshot_def *def,
                             vmsnap_domain_state run, const vms_progress *progress,
                             vmsnap_error **error)
{
    g_autoptr(vms_qmp) qmp = vms_domain_connect_qmp(state->store, state->name, error);
    if (!qmp || !vms_domain_activate_disks(qmp, error))
        return NOTHING_CHANGED;
    bool running = run == VMSNAP_DOMAIN_STATE_RUNNING;
    full_result taken;
    switch (def->memory) {
    case VMS_SNAP_LOCATION_INTERNAL:
        taken = take_full_internal(qmp, def, progress, error) ? TAKEN : NOTHING_CHANGED;
        break;
    case VMS_SNAP_LOCATION_EXTERNAL:
        taken = take_full_external(qmp, def, state->def, running, progress, error);
        break;
    default:
        return take_disks(qmp, def, error) ? TAKEN : NOTHING_CHANGED;
    }
    if (running && (taken == TAKEN || taken == GUEST_STOPPED))
        record_pause(qmp, def);
    return taken;
}

/* QEMU died while it saved the memory, after it switched the disks: merge
 * what the guest wrote into the new overlays since (it ran on during a
 * background save) back into the files below them, so the overlays can go
 * with nothing lost and no snapshot is left. False if a merge failed (the
 * overlays then stay). */
static bool merge_back_overlays(const vms_snapshot_def *def, const vms_domain_def *next,
                                vmsnap_error **error)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        if (def->disks[i]->snapshot != VMS_SNAP_LOCATION_EXTERNAL)
            continue;
        if (!vms_qemu_img_commit(next->disks[i]->source, error)) {
            vms_error_prefix(error, "cannot merge '%s' back: ", next->disks[i]->source);
            return false;
        }
    }
    return true;
}

/* The memory save failed after QEMU switched the disks: the overlays are in
 * use, so the snapshot stays, as what it holds — the disks. */
static void keep_as_disk_only(vms_domain_state *state, vms_snapshot_def *def, bool metadata)
{
    def->memory = VMS_SNAP_LOCATION_NO;
    g_clear_pointer(&def->memory_file, g_free);
    def->state = VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT;
    if (metadata && vms_domain_state_save_snapshot(state, def, NULL))
        vms_domain_state_set_current(state, def->name, NULL);
}

/* Note, in the journal, the internal snapshots QEMU's transaction (or
 * snapshot-save job) will make, and the memory file: a recovery then knows
 * whether the disks switched and what to remove. */
static bool journal_live_parts(vms_domain_state *state, const vms_snapshot_def *def,
                               vms_journal *journal, vmsnap_error **error)
{
    for (size_t i = 0; i < def->ndisks && i < state->def->ndisks; i++) {
        if (def->disks[i]->snapshot != VMS_SNAP_LOCATION_INTERNAL)
            continue;
        g_ptr_array_add(journal->tags, g_strdup(state->def->disks[i]->source));
        g_ptr_array_add(journal->tags, g_strdup(vms_snapshot_def_internal_tag(def)));
    }
    if (def->memory == VMS_SNAP_LOCATION_EXTERNAL)
        journal->memory_file = g_strdup(def->memory_file);
    return vms_journal_save(state, journal, error);
}

/* The snapshot proper, recorded in @journal. */
static vms_snapshot_def *create_journaled(vms_domain_state *state, vms_snapshot_def *owned,
                                          vmsnap_domain_state run, unsigned int flags,
                                          const vms_progress *progress, vms_journal *journal,
                                          vmsnap_error **error)
{
    vms_store *store = state->store;
    const char *dom = state->name;
    bool live = run != VMSNAP_DOMAIN_STATE_SHUTOFF;
    bool metadata = !(flags & VMSNAP_SNAPSHOT_CREATE_NO_METADATA);
    g_auto(vms_undo_log) undo = {0};
    vms_undo_log_init_journaled(&undo, state, journal);
    g_autoptr(vms_domain_def) next = vms_domain_def_copy(state->def);
    vms_snapshot_disk **disks = g_new0(vms_snapshot_disk *, state->def->ndisks + 1);
    bool ok = true;
    for (size_t i = 0; i < state->def->ndisks && ok; i++) {
        disks[i] = g_new0(vms_snapshot_disk, 1);
        ok = snapshot_disk(state, owned, state->def->disks[i], next->disks[i], disks[i], live,
                           flags, &undo, error);
    }
    /* What was taken (every domain disk, in order) replaces what was asked
     * for; the request's disk list is freed through a throwaway def, the one
     * owner of the code that frees snapshot disks. */
    g_autoptr(vms_snapshot_def) request = g_new0(vms_snapshot_def, 1);
    request->disks = owned->disks;
    request->ndisks = owned->ndisks;
    owned->disks = disks;
    owned->ndisks = state->def->ndisks;
    if (!ok || !resolve_memory(state, owned, run, flags, error))
        return NULL;
    if (!holds_something(owned)) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "snapshot '%s' would hold nothing: every disk is left out "
                      "(snapshot='no') and no memory is saved; keep at least one disk",
                      owned->name);
        return NULL;
    }

    /* Metadata first, then (running) QEMU's switch: if the switch fails the
     * old domain.xml goes back and nothing refers to the new files. */
    g_autofree char *old_domain_xml = vms_domain_def_format(state->def, 0);
    g_autofree char *domain_xml = vms_domain_def_format(next, 0);
    if ((live && !journal_live_parts(state, owned, journal, error)) ||
        (metadata && !vms_domain_state_save_snapshot(state, owned, error)))
        return NULL;
    vms_journal_step(journal, "metadata-saved");
    full_result taken = NOTHING_CHANGED;
    if (vms_store_write_domain_xml(store, dom, domain_xml, error)) {
        vms_journal_step(journal, "domain-written");
        taken = live ? take_live(state, owned, run, progress, error) : TAKEN;
    }
    /* Running, a recovery also sees the switch in QEMU itself. */
    if (taken != NOTHING_CHANGED && taken != QEMU_GONE)
        vms_journal_set_phase(state, journal, "switched", NULL);
    if (taken == NOTHING_CHANGED) {
        vms_store_write_domain_xml(store, dom, old_domain_xml, NULL);
        if (metadata)
            vms_store_remove_snapshot(store, dom, owned->name, NULL);
        return NULL;
    }
    vmsnap_error *merge_error = NULL;
    if (taken == QEMU_GONE && merge_back_overlays(owned, next, &merge_error)) {
        vms_store_write_domain_xml(store, dom, old_domain_xml, NULL);
        if (metadata)
            vms_store_remove_snapshot(store, dom, owned->name, NULL);
        vms_error_prefix(error,
                         "QEMU stopped while the memory of snapshot '%s' was being saved, so "
                         "no snapshot was taken (the guest's disk writes since are kept): ",
                         owned->name);
        return NULL; /* the undo log removes the merged overlays */
    }
    vmsnap_error_free(merge_error); /* the overlays stay: the snapshot is kept below */
    if (taken == QEMU_GONE)
        taken = DISKS_ONLY;
    vms_undo_log_commit(&undo);
    /* The memory's checksum and the guest's pause are known only now. */
    if (metadata && (taken == TAKEN || taken == GUEST_STOPPED))
        vms_domain_state_save_snapshot(state, owned, NULL); /* usable without them */
    if (taken == DISKS_ONLY) {
        keep_as_disk_only(state, owned, metadata);
        vms_error_prefix(error,
                         "the disks of snapshot '%s' were taken, but not its memory, so it "
                         "was kept as a disk-only snapshot: ",
                         owned->name);
        return NULL;
    }
    if (taken == GUEST_STOPPED) {
        if (metadata)
            vms_domain_state_set_current(state, owned->name, NULL);
        vms_error_prefix(error,
                         "snapshot '%s' was taken, but the guest did not go on ('vmsnap resume "
                         "%s' may run it): ",
                         owned->name, dom);
        return NULL;
    }
    /* From here the snapshot exists; a failure to record it as current
     * leaves it a snapshot that is not current, nothing worse. */
    if (metadata && !vms_domain_state_set_current(state, owned->name, error))
        return NULL;
    /* --halt: the snapshot is the domain's last running state. */
    if (live && (flags & VMSNAP_SNAPSHOT_CREATE_HALT) &&
        !vms_domain_stop_locked(store, dom, error)) {
        vms_error_prefix(
            error, "snapshot '%s' was taken, but the domain could not be stopped: ", owned->name);
        return NULL;
    }
    return vms_snapshot_def_summary(owned);
}

vms_snapshot_def *vms_snapshot_data_create(vms_store *store, const char *dom, vms_snapshot_def *def,
                                           unsigned int flags, const vms_progress *progress,
                                           vmsnap_error **error)
{
    g_autoptr(vms_snapshot_def) owned = def;
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE, error);
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!state || !vms_domain_require_not_crashed(state->store, state->name, &run, error))
        return NULL;
    if (!complete_new_snapshot(state, owned, run != VMSNAP_DOMAIN_STATE_SHUTOFF, flags, error))
        return NULL;
    g_autoptr(vms_journal) journal = vms_journal_new("create");
    g_ptr_array_add(journal->names, g_strdup(owned->name));
    journal->flags = flags;
    journal->was_running = run == VMSNAP_DOMAIN_STATE_RUNNING;
    if (!vms_journal_begin(state, journal, error))
        return NULL;
    /* A failure here was cleaned up as it happened: nothing to recover. */
    vms_snapshot_def *summary =
        create_journaled(state, owned, run, flags, progress, journal, error);
    vms_journal_end(state, journal);
    return summary;
}
