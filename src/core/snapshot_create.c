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
#include "core/snapshot_files.h"
#include "qemu/qemu_img.h"
#include "qemu/qemu_snapshot.h"
#include "qemu/qmp.h"
#include "util/error.h"
#include "util/names.h"

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

/* Fill in what a new snapshot of a shut-off domain records. */
static bool complete_new_snapshot(vms_domain_state *state, vms_snapshot_def *def, bool live,
                                  vmsnap_error **error)
{
    bool wants_memory = def->memory != VMS_SNAP_LOCATION_NO;
    if (!live && wants_memory && def->memory != VMS_SNAP_LOCATION_DEFAULT) {
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' is shut off: it has no memory to save; take a disk-only "
                      "snapshot",
                      state->name);
        return false;
    }
    /* A running domain's snapshot includes its memory unless it is
     * disk-only (libvirt's default); saving memory arrives later. */
    if (live && wants_memory) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "domain '%s' is running: a full snapshot (with memory) is not supported "
                      "yet; take a disk-only one (--disk-only, or memory=\"no\" in an xl config)",
                      state->name);
        return false;
    }
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
    def->memory = VMS_SNAP_LOCATION_NO;
    g_clear_pointer(&def->memory_file, g_free);
    def->compression = VMS_MEM_COMPRESSION_NONE;
    g_clear_pointer(&def->checksum_type, g_free);
    g_clear_pointer(&def->checksum_value, g_free);
    def->state = live ? VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT : VMSNAP_SNAPSHOT_STATE_SHUTOFF;
    def->creation_time = now;
    def->has_creation_time = true;
    def->has_active = false;
    g_free(def->parent);
    def->parent = g_strdup(state->current);
    g_clear_pointer(&def->domain, vms_domain_def_free);
    def->domain = vms_domain_def_copy(state->def);
    return check_specs_name_disks(state, def, error) && check_new_files(def, error);
}

/* Take one disk's part of the snapshot; fills @out and, for an external
 * snapshot, points @active (the new domain's disk) at the overlay. */
static bool snapshot_disk(vms_domain_state *state, const vms_snapshot_def *def,
                          const vms_domain_disk *disk, vms_domain_disk *active,
                          vms_snapshot_disk *out, bool live, vms_undo_log *undo,
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
        if (!vms_qemu_img_snapshot_create(disk->source, def->name, error))
            return false;
        g_ptr_array_add(undo->tags, g_strdup(disk->source));
        g_ptr_array_add(undo->tags, g_strdup(def->name));
        return true;
    }
    case VMS_SNAP_LOCATION_EXTERNAL:
        break;
    }
    g_autofree char *overlay = spec && spec->source_file
                                   ? g_strdup(spec->source_file)
                                   : vms_overlay_free_path(disk->source, def->name, error);
    if (!overlay || !vms_undo_make_overlay(undo, overlay, disk->source, disk->format, error))
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

/* Switch the running QEMU to the snapshot at one instant: every disk in
 * one transaction (external: the overlays already made; internal: tags). */
static bool take_live(vms_domain_state *state, const vms_snapshot_def *def, vmsnap_error **error)
{
    g_autoptr(GArray) disks = g_array_new(FALSE, TRUE, sizeof(vms_live_disk));
    g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func(g_free);
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
            .tag = def->name,
            .overlay = d->source_file,
        };
        g_array_append_val(disks, live);
    }
    if (disks->len == 0)
        return true;
    g_autoptr(vms_qmp) qmp = vms_domain_connect_qmp(state->store, state->name, error);
    return qmp && vms_qemu_snapshot_disks(qmp, (const vms_live_disk *)(void *)disks->data,
                                          disks->len, error);
}

vms_snapshot_def *vms_snapshot_data_create(vms_store *store, const char *dom, vms_snapshot_def *def,
                                           const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_snapshot_def) owned = def;
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE, error);
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!state || !vms_domain_require_not_crashed(state->store, state->name, &run, error))
        return NULL;
    bool live = run != VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!complete_new_snapshot(state, owned, live, error))
        return NULL;

    g_auto(vms_undo_log) undo = {0};
    vms_undo_log_init(&undo);
    g_autoptr(vms_domain_def) next = vms_domain_def_copy(state->def);
    vms_snapshot_disk **disks = g_new0(vms_snapshot_disk *, state->def->ndisks + 1);
    bool ok = true;
    for (size_t i = 0; i < state->def->ndisks && ok; i++) {
        disks[i] = g_new0(vms_snapshot_disk, 1);
        ok = snapshot_disk(state, owned, state->def->disks[i], next->disks[i], disks[i], live,
                           &undo, error);
    }
    /* What was taken (every domain disk, in order) replaces what was asked
     * for; the request's disk list is freed through a throwaway def, the one
     * owner of the code that frees snapshot disks. */
    g_autoptr(vms_snapshot_def) request = g_new0(vms_snapshot_def, 1);
    request->disks = owned->disks;
    request->ndisks = owned->ndisks;
    owned->disks = disks;
    owned->ndisks = state->def->ndisks;
    if (!ok)
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
    if (!vms_domain_state_save_snapshot(state, owned, error))
        return NULL;
    if (!vms_store_write_domain_xml(store, dom, domain_xml, error) ||
        (live && !take_live(state, owned, error))) {
        vms_store_write_domain_xml(store, dom, old_domain_xml, NULL);
        vms_store_remove_snapshot(store, dom, owned->name, NULL);
        return NULL;
    }
    vms_undo_log_commit(&undo);
    /* From here the snapshot exists; a failure to record it as current
     * leaves it a snapshot that is not current, nothing worse. */
    if (!vms_domain_state_set_current(state, owned->name, error))
        return NULL;
    return vms_snapshot_def_summary(owned);
}
