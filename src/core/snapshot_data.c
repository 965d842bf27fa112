/* snapshot_data.c: the data of snapshots of shut-off domains (ADR 0006). */
#include "core/snapshot_data.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/domain_lifecycle.h"
#include "core/domain_state.h"
#include "qemu/qemu_img.h"
#include "qemu/qemu_snapshot.h"
#include "qemu/qmp.h"
#include "util/error.h"
#include "util/names.h"

/* Longest backing chain vmsnap follows: far more than any real tree. */
#define CHAIN_MAX 1024

/* --- preconditions --------------------------------------------------------- */

static bool require_shut_off(vms_domain_state *state, vmsnap_error **error)
{
    g_auto(vms_run_status) status = {0};
    if (!vms_domain_get_run_status_locked(state->store, state->name, &status, error))
        return false;
    if (status.state == VMSNAP_DOMAIN_STATE_SHUTOFF)
        return true;
    if (status.state == VMSNAP_DOMAIN_STATE_CRASHED)
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' crashed; clean up with 'vmsnap destroy %s' first", state->name,
                      state->name);
    else
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' is %s; this version deletes snapshots of shut-off domains "
                      "only: shut it down first",
                      state->name,
                      status.state == VMSNAP_DOMAIN_STATE_PAUSED ? "paused" : "running");
    return false;
}

/* The domain's run state, for operations that also work while it runs:
 * crashed is refused (nothing consistent to take). */
static bool require_not_crashed(vms_domain_state *state, vmsnap_domain_state *run,
                                vmsnap_error **error)
{
    g_auto(vms_run_status) status = {0};
    if (!vms_domain_get_run_status_locked(state->store, state->name, &status, error))
        return false;
    if (status.state == VMSNAP_DOMAIN_STATE_CRASHED) {
        vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                      "domain '%s' crashed; clean up with 'vmsnap destroy %s' first", state->name,
                      state->name);
        return false;
    }
    *run = status.state;
    return true;
}

/* --- what a snapshot holds of each disk ---------------------------------------- */

static const vms_snapshot_disk *find_spec(const vms_snapshot_def *def, const vms_domain_disk *disk)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const char *name = def->disks[i]->name;
        if (g_strcmp0(name, disk->target) == 0 || g_strcmp0(name, disk->source) == 0)
            return def->disks[i];
    }
    return NULL;
}

/* What a stored snapshot keeps of @disk: a disk it does not list, or lists
 * without a kind, it did not capture. */
static vms_snap_location stored_kind(const vms_snapshot_def *def, const vms_domain_disk *disk)
{
    const vms_snapshot_disk *spec = find_spec(def, disk);
    if (!spec || spec->snapshot == VMS_SNAP_LOCATION_DEFAULT)
        return VMS_SNAP_LOCATION_NO;
    return spec->snapshot;
}

/* --- files ------------------------------------------------------------------ */

static bool file_exists(const char *path)
{
    struct stat st;
    return g_lstat(path, &st) == 0;
}

/* The name stem of the image at the root of @file's backing chain
 * ("/img/vda.qcow2" -> "vda"), so overlays are named after the disk. */
static char *chain_stem(const char *file, vmsnap_error **error)
{
    g_autofree char *at = g_strdup(file);
    for (int i = 0; i < CHAIN_MAX; i++) {
        g_autofree char *backing = NULL;
        if (!vms_qemu_img_get_backing(at, &backing, NULL, error))
            return NULL;
        if (!backing)
            break;
        g_free(at);
        at = g_steal_pointer(&backing);
    }
    g_autofree char *base = g_path_get_basename(at);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    return g_steal_pointer(&base);
}

/* DIR/STEM.TAG.qcow2, or with -2, -3, ... before the suffix if taken. */
static char *free_overlay_path(const char *next_to, const char *tag, vmsnap_error **error)
{
    g_autofree char *stem = chain_stem(next_to, error);
    if (!stem)
        return NULL;
    g_autofree char *dir = g_path_get_dirname(next_to);
    for (int n = 1; n < 10000; n++) {
        g_autofree char *base = n == 1 ? g_strdup_printf("%s.%s.qcow2", stem, tag)
                                       : g_strdup_printf("%s.%s-%d.qcow2", stem, tag, n);
        char *path = g_build_filename(dir, base, NULL);
        if (!file_exists(path))
            return path;
        g_free(path);
    }
    vms_error_set(error, VMSNAP_ERR_IO, "no free file name for an overlay of '%s' in '%s'", next_to,
                  dir);
    return NULL;
}

/* Steps to take back if an operation fails half-way. */
typedef struct {
    GPtrArray *files; /* overlays created */
    GPtrArray *tags;  /* pairs: file, internal snapshot tag created */
} undo_log;

static void undo_log_init(undo_log *undo)
{
    undo->files = g_ptr_array_new_with_free_func(g_free);
    undo->tags = g_ptr_array_new_with_free_func(g_free);
}

/* Take back every step, newest first, then forget them. */
static void undo_log_rollback(undo_log *undo)
{
    for (guint i = undo->tags->len; i >= 2; i -= 2)
        vms_qemu_img_snapshot_delete(g_ptr_array_index(undo->tags, i - 2),
                                     g_ptr_array_index(undo->tags, i - 1), NULL);
    for (guint i = undo->files->len; i > 0; i--)
        g_unlink(g_ptr_array_index(undo->files, i - 1));
    g_ptr_array_set_size(undo->tags, 0);
    g_ptr_array_set_size(undo->files, 0);
}

static void undo_log_clear(undo_log *undo)
{
    undo_log_rollback(undo);
    g_clear_pointer(&undo->files, g_ptr_array_unref);
    g_clear_pointer(&undo->tags, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(undo_log, undo_log_clear)

/* A success: keep what was done. */
static void undo_log_commit(undo_log *undo)
{
    g_ptr_array_set_size(undo->tags, 0);
    g_ptr_array_set_size(undo->files, 0);
}

static bool make_overlay(undo_log *undo, const char *path, const char *backing,
                         vms_disk_format backing_format, vmsnap_error **error)
{
    if (file_exists(path)) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "'%s' exists; vmsnap never overwrites a file: choose another file name",
                      path);
        return false;
    }
    if (!vms_qemu_img_create(path, "qcow2", 0, backing, vms_disk_format_to_string(backing_format),
                             error))
        return false;
    g_ptr_array_add(undo->files, g_strdup(path));
    return true;
}

/* Every file the current state or a snapshot needs, with the backing chains
 * under them. @except: a snapshot to leave out (being deleted). */
static GHashTable *files_in_use(vms_domain_state *state, const vms_tree_node *except,
                                vmsnap_error **error)
{
    g_autoptr(GHashTable) used = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    g_autoptr(GPtrArray) todo = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < state->def->ndisks; i++)
        g_ptr_array_add(todo, g_strdup(state->def->disks[i]->source));
    g_autoptr(GPtrArray) nodes = vms_tree_topological(state->tree);
    for (guint n = 0; n < nodes->len; n++) {
        const vms_tree_node *node = g_ptr_array_index(nodes, n);
        const vms_snapshot_def *def = vms_node_def(node);
        if (node == except || !def->domain)
            continue;
        for (size_t i = 0; i < def->domain->ndisks; i++) {
            const vms_domain_disk *disk = def->domain->disks[i];
            if (stored_kind(def, disk) != VMS_SNAP_LOCATION_NO)
                g_ptr_array_add(todo, g_strdup(disk->source));
        }
    }
    while (todo->len > 0) {
        char *file = g_ptr_array_steal_index(todo, todo->len - 1);
        if (g_hash_table_contains(used, file) || !file_exists(file)) {
            g_free(file);
            continue;
        }
        g_hash_table_add(used, file);
        g_autofree char *backing = NULL;
        if (!vms_qemu_img_get_backing(file, &backing, NULL, error))
            return NULL;
        if (backing)
            g_ptr_array_add(todo, g_steal_pointer(&backing));
    }
    return g_steal_pointer(&used);
}

/* Remove each of @files nothing uses any more; *@removed (if not NULL)
 * counts them. */
static bool remove_unused(vms_domain_state *state, GPtrArray *files, const vms_tree_node *except,
                          unsigned int *removed, vmsnap_error **error)
{
    g_autoptr(GHashTable) used = files_in_use(state, except, error);
    if (!used)
        return false;
    for (guint i = 0; i < files->len; i++) {
        const char *file = g_ptr_array_index(files, i);
        if (g_hash_table_contains(used, file) || !file_exists(file))
            continue;
        if (g_unlink(file) < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno, "cannot remove '%s'", file);
            return false;
        }
        if (removed)
            (*removed)++;
    }
    return true;
}

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
                          vms_snapshot_disk *out, bool live, undo_log *undo, vmsnap_error **error)
{
    const vms_snapshot_disk *spec = find_spec(def, disk);
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
                                   : free_overlay_path(disk->source, def->name, error);
    if (!overlay || !make_overlay(undo, overlay, disk->source, disk->format, error))
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
                                           vmsnap_error **error)
{
    g_autoptr(vms_snapshot_def) owned = def;
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE, error);
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!state || !require_not_crashed(state, &run, error))
        return NULL;
    bool live = run != VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!complete_new_snapshot(state, owned, live, error))
        return NULL;

    g_auto(undo_log) undo = {0};
    undo_log_init(&undo);
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
    undo_log_commit(&undo);
    /* From here the snapshot exists; a failure to record it as current
     * leaves it a snapshot that is not current, nothing worse. */
    if (!vms_domain_state_set_current(state, owned->name, error))
        return NULL;
    return vms_snapshot_def_summary(owned);
}

/* --- revert -------------------------------------------------------------------- */

/* Point @disk (of the domain being restored) at the state @snap keeps of
 * it; internal tags to apply are queued on @apply as (file, tag) pairs. */
static bool revert_disk(vms_domain_state *state, const vms_snapshot_def *snap,
                        vms_domain_disk *disk, GPtrArray *apply, undo_log *undo,
                        vmsnap_error **error)
{
    const vms_domain_disk *current = vms_domain_def_find_disk(state->def, disk->target);
    switch (stored_kind(snap, disk)) {
    case VMS_SNAP_LOCATION_EXTERNAL: {
        if (!file_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "the frozen file '%s' of snapshot '%s' (disk %s) is missing",
                          disk->source, snap->name, disk->target);
            return false;
        }
        g_autofree char *tag = g_strdup_printf("after-%s", snap->name);
        g_autofree char *overlay = free_overlay_path(disk->source, tag, error);
        if (!overlay || !make_overlay(undo, overlay, disk->source, disk->format, error))
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
        if (!file_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_CORRUPT,
                          "the file '%s' holding snapshot '%s' (disk %s) is missing", disk->source,
                          snap->name, disk->target);
            return false;
        }
        g_autofree char *backing = NULL;
        g_autofree char *backing_format = NULL;
        if (!vms_qemu_img_get_backing(disk->source, &backing, &backing_format, error))
            return false;
        g_autofree char *tag = g_strdup_printf("after-%s", snap->name);
        g_autofree char *copy = free_overlay_path(disk->source, tag, error);
        if (!copy ||
            !vms_qemu_img_convert_snapshot(disk->source, vms_snapshot_def_internal_tag(snap), copy,
                                           backing, backing_format, error))
            return false;
        g_ptr_array_add(undo->files, g_strdup(copy));
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

int vms_snapshot_data_revert(vms_store *store, const char *dom, const char *name,
                             vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!state || !require_not_crashed(state, &run, error))
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

    if (vms_snapshot_def_has_memory(snap)) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "snapshot '%s' holds the domain's memory; reverting to full snapshots is "
                      "not supported yet",
                      name);
        return -1;
    }
    /* The running state is left behind like any other: QEMU stops first
     * (the snapshot holds no memory to resume from). */
    if (run != VMSNAP_DOMAIN_STATE_SHUTOFF && !vms_domain_stop_locked(store, dom, error))
        return -1;

    g_auto(undo_log) undo = {0};
    undo_log_init(&undo);
    g_autoptr(vms_domain_def) restored = vms_domain_def_copy(snap->domain);
    g_autoptr(GPtrArray) apply = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < restored->ndisks; i++)
        if (!revert_disk(state, snap, restored->disks[i], apply, &undo, error))
            return -1;
    /* Internal tags last: they cannot be taken back, overlays can. */
    for (guint i = 0; i + 1 < apply->len; i += 2)
        if (!vms_qemu_img_snapshot_apply(g_ptr_array_index(apply, i),
                                         g_ptr_array_index(apply, i + 1), error))
            return -1;

    g_autofree char *domain_xml = vms_domain_def_format(restored, 0);
    if (!vms_store_write_domain_xml(store, dom, domain_xml, error))
        return -1;
    undo_log_commit(&undo);
    if (!vms_domain_state_set_current(state, name, error))
        return -1;

    /* The state left behind goes unless a snapshot still needs its files. */
    g_autoptr(GPtrArray) left = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < state->def->ndisks; i++)
        g_ptr_array_add(left, g_strdup(state->def->disks[i]->source));
    vms_domain_def_free(state->def);
    state->def = g_steal_pointer(&restored);
    unsigned int discarded = 0;
    if (!remove_unused(state, left, NULL, &discarded, error))
        return -1;
    return (int)discarded;
}

/* --- delete ---------------------------------------------------------------------- */

/* Every file vmsnap knows of for this domain: active layers, frozen files
 * and overlays of every snapshot, as a NULL-free array of paths. */
static GPtrArray *known_files(vms_domain_state *state)
{
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; i < state->def->ndisks; i++)
        g_ptr_array_add(files, g_strdup(state->def->disks[i]->source));
    g_autoptr(GPtrArray) nodes = vms_tree_topological(state->tree);
    for (guint n = 0; n < nodes->len; n++) {
        const vms_snapshot_def *def = vms_node_def(g_ptr_array_index(nodes, n));
        for (size_t i = 0; def->domain && i < def->domain->ndisks; i++)
            g_ptr_array_add(files, g_strdup(def->domain->disks[i]->source));
        for (size_t i = 0; i < def->ndisks; i++)
            if (def->disks[i]->source_file)
                g_ptr_array_add(files, g_strdup(def->disks[i]->source_file));
    }
    /* Drop duplicates and files that are gone. */
    GPtrArray *unique = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < files->len; i++) {
        char *file = g_ptr_array_index(files, i);
        if (!g_hash_table_contains(seen, file) && file_exists(file)) {
            g_hash_table_add(seen, file);
            g_ptr_array_add(unique, g_strdup(file));
        }
    }
    g_ptr_array_unref(files);
    return unique;
}

/* The known files whose backing file is @frozen: what merging it rewrites. */
static GPtrArray *files_built_on(vms_domain_state *state, const char *frozen, vmsnap_error **error)
{
    g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) files = known_files(state);
    for (guint i = 0; i < files->len; i++) {
        const char *file = g_ptr_array_index(files, i);
        if (strcmp(file, frozen) == 0)
            continue;
        g_autofree char *backing = NULL;
        if (!vms_qemu_img_get_backing(file, &backing, NULL, error))
            return NULL;
        if (g_strcmp0(backing, frozen) == 0)
            g_ptr_array_add(children, g_strdup(file));
    }
    return g_steal_pointer(&children);
}

/* Everything that could stop deleting @node's data, checked for every disk
 * before any file changes, so a refusal changes nothing. */
static bool check_delete(vms_domain_state *state, const vms_tree_node *node, vmsnap_error **error)
{
    const vms_snapshot_def *def = vms_node_def(node);
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++) {
        const vms_domain_disk *disk = def->domain->disks[i];
        vms_snap_location kind = stored_kind(def, disk);
        if (kind == VMS_SNAP_LOCATION_INTERNAL && !file_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_IO,
                          "the file '%s' holding snapshot '%s' (disk %s) is missing; delete only "
                          "the snapshot's metadata with --metadata",
                          disk->source, def->name, disk->target);
            return false;
        }
        if (kind != VMS_SNAP_LOCATION_EXTERNAL || !file_exists(disk->source))
            continue;
        /* A rebase rewrites a child's current state only: internal snapshots
         * inside it would then read the new backing file. */
        g_autoptr(GPtrArray) children = files_built_on(state, disk->source, error);
        if (!children)
            return false;
        for (guint c = 0; c < children->len; c++) {
            const char *child = g_ptr_array_index(children, c);
            g_auto(GStrv) tags = vms_qemu_img_snapshot_list(child, error);
            if (!tags)
                return false;
            if (tags[0]) {
                vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                              "deleting snapshot '%s' would merge '%s' into '%s', which holds "
                              "internal snapshot '%s' that the merge would change; delete that "
                              "one first",
                              def->name, disk->source, child, tags[0]);
                return false;
            }
        }
    }
    return true;
}

/* Merge frozen file @frozen into every file built on it. */
static bool merge_frozen_file(vms_domain_state *state, const char *frozen, vmsnap_error **error)
{
    if (!file_exists(frozen))
        return true; /* merged already */
    g_autofree char *base = NULL;
    g_autofree char *base_format = NULL;
    if (!vms_qemu_img_get_backing(frozen, &base, &base_format, error))
        return false;
    g_autoptr(GPtrArray) children = files_built_on(state, frozen, error);
    if (!children)
        return false;
    for (guint c = 0; c < children->len; c++)
        if (!vms_qemu_img_rebase(g_ptr_array_index(children, c), base, base_format, false, error))
            return false;
    return true;
}

static bool delete_data_one(vms_domain_state *state, const vms_tree_node *node,
                            vmsnap_error **error)
{
    if (!check_delete(state, node, error))
        return false;
    const vms_snapshot_def *def = vms_node_def(node);
    g_autoptr(GPtrArray) touched = g_ptr_array_new_with_free_func(g_free);
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++) {
        const vms_domain_disk *disk = def->domain->disks[i];
        vms_snap_location kind = stored_kind(def, disk);
        if (kind == VMS_SNAP_LOCATION_INTERNAL) {
            g_auto(GStrv) tags = vms_qemu_img_snapshot_list(disk->source, error);
            if (!tags)
                return false;
            const char *tag = vms_snapshot_def_internal_tag(def);
            if (g_strv_contains((const char *const *)tags, tag) &&
                !vms_qemu_img_snapshot_delete(disk->source, tag, error))
                return false;
        } else if (kind == VMS_SNAP_LOCATION_EXTERNAL) {
            if (!merge_frozen_file(state, disk->source, error))
                return false;
        } else {
            continue;
        }
        g_ptr_array_add(touched, g_strdup(disk->source));
    }
    /* Files kept only for this snapshot (a frozen file, or a file a revert
     * left behind because it held this snapshot's internal tag) go too. */
    return remove_unused(state, touched, node, NULL, error);
}

int vms_snapshot_data_delete(vms_store *store, const char *dom, const char *name,
                             vms_delete_scope scope, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state || !require_shut_off(state, error))
        return -1;
    vms_tree_node *top = vms_domain_state_find(state, name, error);
    if (!top)
        return -1;
    /* Leaves first, so every snapshot's data merges into files that stay. */
    g_autoptr(GPtrArray) doomed = g_ptr_array_new_with_free_func(g_free);
    if (scope != VMS_DELETE_ONE) {
        g_autoptr(GPtrArray) below = vms_tree_descendants(top);
        for (guint i = below->len; i > 0; i--)
            g_ptr_array_add(doomed, g_strdup(vms_tree_node_name(g_ptr_array_index(below, i - 1))));
    }
    if (scope != VMS_DELETE_CHILDREN_ONLY)
        g_ptr_array_add(doomed, g_strdup(name));
    for (guint i = 0; i < doomed->len; i++) {
        vms_tree_node *node = vms_tree_lookup(state->tree, g_ptr_array_index(doomed, i));
        if (!delete_data_one(state, node, error) ||
            vms_snapshot_meta_remove_one_locked(state, node, error) < 0)
            return -1;
    }
    return (int)doomed->len;
}
