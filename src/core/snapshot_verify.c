/* snapshot_verify.c: is a snapshot's data still there and intact, and does
 * the metadata match the images? Reads only: memory files (their checksums,
 * ADR 0007) and each disk file the snapshot holds — qemu-img check, and
 * vmsnap's own qcow2 reader for the rest: the whole backing chain opens,
 * the internal snapshot is in the file, the snapshot's overlay (while it
 * exists) is backed by the snapshot's file. The domain may run: nothing is
 * locked or written. */
#include "core/snapshot_data.h"

#include <unistd.h>

#include "core/domain_state.h"
#include "core/memory_file.h"
#include "core/snapshot_files.h"
#include "qcow2/qcow2.h"
#include "qemu/qemu_img.h"
#include "util/error.h"

/* Add @err's message to @problems as "WHAT: message" (@what NULL: the
 * message alone) and free it. */
static void note_problem(GPtrArray *problems, const char *what, vmsnap_error *err)
{
    const char *message = vmsnap_error_get_message(err);
    g_ptr_array_add(problems, what ? g_strdup_printf("%s: %s", what, message) : g_strdup(message));
    vmsnap_error_free(err);
}

static void verify_memory(const vms_snapshot_def *snap, const vms_progress *progress,
                          GPtrArray *problems)
{
    vmsnap_error *err = NULL;
    int fd = vms_memory_file_open(snap, &err);
    if (fd < 0) {
        note_problem(problems, NULL, err); /* it names the file */
        return;
    }
    if (!vms_memory_file_check(snap, fd, snap->domain, true, progress, &err)) {
        g_autofree char *what = g_strdup_printf("memory file '%s'", snap->memory_file);
        note_problem(problems, what, err);
    }
    close(fd);
}

/* The chain under @file opens (every backing file there and sound) and,
 * for internal data, @file holds the snapshot's tag. */
static bool check_chain_and_tag(const char *file, const char *tag, vmsnap_error **error)
{
    g_autoptr(vms_qcow2_chain) chain = vms_qcow2_chain_open(file, "qcow2", NULL, error);
    if (!chain)
        return false;
    if (tag && vms_qcow2_find_snapshot(vms_qcow2_chain_layer_image(chain, 0), tag) < 0) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT, "'%s' holds no internal snapshot '%s'", file, tag);
        return false;
    }
    return true;
}

/* The overlay an external snapshot made (recorded in its <disks>) takes
 * the writes after it, so it must be backed by the snapshot's frozen
 * file, while it exists (a revert elsewhere or a delete may have removed
 * it since). */
static bool check_overlay(const vms_snapshot_disk *spec, const char *frozen, vmsnap_error **error)
{
    if (!spec || !spec->source_file || !vms_path_exists(spec->source_file))
        return true;
    g_autoptr(vms_qcow2_chain) chain =
        vms_qcow2_chain_open(spec->source_file, "qcow2", NULL, error);
    if (!chain)
        return false;
    const char *below =
        vms_qcow2_chain_depth(chain) > 1 ? vms_qcow2_chain_layer_path(chain, 1) : NULL;
    if (g_strcmp0(below, frozen) == 0)
        return true;
    vms_error_set(error, VMSNAP_ERR_CORRUPT,
                  "its overlay '%s' is backed by %s%s%s, not by the snapshot's file '%s'",
                  spec->source_file, below ? "'" : "", below ? below : "no file", below ? "'" : "",
                  frozen);
    return false;
}

/* One disk of the snapshot: its file (frozen file or qcow2 holding the tag)
 * exists, is a sound qcow2 whose backing chain is all there, and holds the
 * internal snapshot when the data is internal. */
static void verify_disk(const vms_snapshot_def *snap, const vms_domain_disk *disk,
                        vms_snap_location kind, GPtrArray *problems)
{
    g_autofree char *what = g_strdup_printf("disk %s", disk->target);
    vmsnap_error *err = NULL;
    if (!disk->source || !vms_path_exists(disk->source)) {
        vms_error_set(&err, VMSNAP_ERR_CORRUPT, "its file '%s' is missing",
                      disk->source ? disk->source : "(none)");
        note_problem(problems, what, err);
        return;
    }
    const char *tag =
        kind == VMS_SNAP_LOCATION_INTERNAL ? vms_snapshot_def_internal_tag(snap) : NULL;
    bool ok = disk->format != VMS_DISK_FORMAT_QCOW2 /* a raw file has no structure to check */
              || (vms_qemu_img_check(disk->source, true, &err) &&
                  check_chain_and_tag(disk->source, tag, &err));
    if (ok && kind == VMS_SNAP_LOCATION_EXTERNAL)
        ok = check_overlay(vms_snapshot_disk_spec(snap, disk), disk->source, &err);
    if (!ok)
        note_problem(problems, what, err);
}

bool vms_snapshot_data_verify(vms_store *store, const char *dom, const char *name,
                              const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_SNAPSHOTS, error);
    if (!state)
        return false;
    vms_tree_node *node = vms_domain_state_find(state, name, error);
    if (!node)
        return false;
    const vms_snapshot_def *snap = vms_node_def(node);
    g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func(g_free);
    if (snap->memory == VMS_SNAP_LOCATION_EXTERNAL)
        verify_memory(snap, progress, problems);
    for (size_t i = 0; snap->domain && i < snap->domain->ndisks; i++) {
        const vms_domain_disk *disk = snap->domain->disks[i];
        vms_snap_location kind = vms_snapshot_stored_kind(snap, disk);
        if (kind == VMS_SNAP_LOCATION_INTERNAL || kind == VMS_SNAP_LOCATION_EXTERNAL)
            verify_disk(snap, disk, kind, problems);
    }
    if (!snap->domain)
        g_ptr_array_add(problems, g_strdup("it records no domain definition, so no disks"));
    if (problems->len == 0)
        return true;
    g_ptr_array_add(problems, NULL);
    g_autofree char *all = g_strjoinv("; ", (char **)problems->pdata);
    vms_error_set(error, VMSNAP_ERR_CORRUPT, "snapshot '%s' is damaged: %s", name, all);
    return false;
}
