/* snapshot_diff.c: vmsnap_snapshot_diff(), over src/core/snapshot_diff.c. */
#include "api/handles.h"

#include <string.h>

#include "core/snapshot_diff.h"
#include "util/error.h"

static void fill_disk(vmsnap_disk_diff *out, vms_disk_diff *d)
{
    out->disk = g_steal_pointer(&d->disk);
    out->from_file = g_steal_pointer(&d->from_file);
    out->from_tag = g_steal_pointer(&d->from_tag);
    out->to_file = g_steal_pointer(&d->to_file);
    out->to_tag = g_steal_pointer(&d->to_tag);
    out->skipped = g_steal_pointer(&d->skipped);
    out->size = d->stats.size;
    out->differing_bytes = d->stats.differing_bytes;
    out->compared_bytes = d->stats.compared_bytes;
    out->nranges = d->ranges->len;
    out->ranges = g_new0(vmsnap_diff_range, d->ranges->len + 1);
    for (guint i = 0; i < d->ranges->len; i++) {
        const vms_qcow2_range *r = &g_array_index(d->ranges, vms_qcow2_range, i);
        out->ranges[i].offset = r->offset;
        out->ranges[i].length = r->length;
    }
}

int vmsnap_snapshot_diff(vmsnap_snapshot *from, vmsnap_snapshot *to,
                         vmsnap_snapshot_diff_result **result, unsigned int flags,
                         vmsnap_error **error)
{
    if (!vms_api_check_arg(__func__, from, "from", error) ||
        !vms_api_check_arg(__func__, result, "result", error) ||
        !vms_api_check_flags(__func__, flags, 0, error))
        return -1;
    const char *dom = from->dom->def->name;
    if (to && strcmp(to->dom->def->name, dom) != 0) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "snapshots '%s' and '%s' belong to different domains ('%s', '%s')",
                      from->def->name, to->def->name, dom, to->dom->def->name);
        return -1;
    }
    g_autoptr(GPtrArray) disks = vms_snapshot_diff(from->dom->conn->store, dom, from->def->name,
                                                   to ? to->def->name : NULL, error);
    if (!disks)
        return -1;
    vmsnap_snapshot_diff_result *r = g_new0(vmsnap_snapshot_diff_result, 1);
    r->ndisks = disks->len;
    r->disks = g_new0(vmsnap_disk_diff, disks->len + 1);
    for (guint i = 0; i < disks->len; i++) {
        fill_disk(&r->disks[i], g_ptr_array_index(disks, i));
        r->differing_bytes += r->disks[i].differing_bytes;
    }
    *result = r;
    return 0;
}

void vmsnap_snapshot_diff_result_free(vmsnap_snapshot_diff_result *result)
{
    if (!result)
        return;
    for (size_t i = 0; i < result->ndisks; i++) {
        vmsnap_disk_diff *d = &result->disks[i];
        g_free(d->disk);
        g_free(d->from_file);
        g_free(d->from_tag);
        g_free(d->to_file);
        g_free(d->to_tag);
        g_free(d->skipped);
        g_free(d->ranges);
    }
    g_free(result->disks);
    g_free(result);
}
