/* snapshot_diff.c: comparing two points of a domain's disks (snapshot_diff.h). */
#include "core/snapshot_diff.h"

#include "core/domain_state.h"
#include "core/snapshot_files.h"
#include "util/error.h"

void vms_disk_diff_free(vms_disk_diff *d)
{
    if (!d)
        return;
    g_free(d->disk);
    g_free(d->from_file);
    g_free(d->from_tag);
    g_free(d->to_file);
    g_free(d->to_tag);
    g_free(d->skipped);
    if (d->ranges)
        g_array_unref(d->ranges);
    g_free(d);
}

/* One disk's point: its file, tag and format, or why there is none. */
typedef struct {
    const char *file;
    const char *tag;
    vms_disk_format format;
} disk_point;

/* The point snapshot @def keeps of disk @target; false (with *@why) if it
 * keeps none. */
static bool snapshot_point(const vms_snapshot_def *def, const char *target, disk_point *p,
                           char **why)
{
    const vms_domain_disk *disk = vms_domain_def_find_disk(def->domain, target);
    if (!disk) {
        *why = g_strdup_printf("snapshot '%s' has no disk %s", def->name, target);
        return false;
    }
    switch (vms_snapshot_stored_kind(def, disk)) {
    case VMS_SNAP_LOCATION_INTERNAL:
        p->tag = vms_snapshot_def_internal_tag(def);
        break;
    case VMS_SNAP_LOCATION_EXTERNAL:
        p->tag = NULL;
        break;
    default:
        *why = g_strdup_printf("snapshot '%s' did not capture disk %s", def->name, target);
        return false;
    }
    p->file = disk->source;
    p->format = disk->format;
    return true;
}

static bool compare_disk(vms_disk_diff *d, const disk_point *a, const disk_point *b,
                         vmsnap_error **error)
{
    d->from_file = g_strdup(a->file);
    d->from_tag = g_strdup(a->tag);
    d->to_file = g_strdup(b->file);
    d->to_tag = g_strdup(b->tag);
    g_autoptr(vms_qcow2_chain) ca =
        vms_qcow2_chain_open(a->file, vms_disk_format_to_string(a->format), a->tag, error);
    if (!ca)
        return false;
    g_autoptr(vms_qcow2_chain) cb =
        vms_qcow2_chain_open(b->file, vms_disk_format_to_string(b->format), b->tag, error);
    if (!cb)
        return false;
    return vms_qcow2_chain_diff(ca, cb, d->ranges, &d->stats, error);
}

static vms_snapshot_def *read_full(vms_domain_state *state, const char *name, vmsnap_error **error)
{
    vms_snapshot_def *def = vms_domain_state_read_snapshot(state, name, error);
    if (def && !def->domain) {
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "snapshot '%s' records no domain definition, so vmsnap does not know "
                      "its disks' files; redefine it with its <domain>",
                      name);
        vms_snapshot_def_free(def);
        return NULL;
    }
    return def;
}

GPtrArray *vms_snapshot_diff(vms_store *store, const char *dom, const char *from, const char *to,
                             vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state = vms_domain_state_load(store, dom, 0, error);
    if (!state)
        return NULL;
    g_autoptr(vms_snapshot_def) a = read_full(state, from, error);
    if (!a)
        return NULL;
    g_autoptr(vms_snapshot_def) b = NULL;
    if (to && !(b = read_full(state, to, error)))
        return NULL;

    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify)vms_disk_diff_free);
    for (size_t i = 0; i < a->domain->ndisks; i++) {
        const char *target = a->domain->disks[i]->target;
        vms_disk_diff *d = g_new0(vms_disk_diff, 1);
        d->disk = g_strdup(target);
        d->ranges = g_array_new(FALSE, FALSE, sizeof(vms_qcow2_range));
        g_ptr_array_add(out, d);
        disk_point pa = {0}, pb = {0};
        if (!snapshot_point(a, target, &pa, &d->skipped))
            continue;
        if (b) {
            if (!snapshot_point(b, target, &pb, &d->skipped))
                continue;
        } else {
            const vms_domain_disk *now = vms_domain_def_find_disk(state->def, target);
            if (!now) {
                d->skipped = g_strdup_printf("the domain has no disk %s now", target);
                continue;
            }
            pb.file = now->source;
            pb.format = now->format;
        }
        if (!compare_disk(d, &pa, &pb, error)) {
            vms_error_prefix(error, "comparing disk %s: ", target);
            return NULL;
        }
    }
    return g_steal_pointer(&out);
}
