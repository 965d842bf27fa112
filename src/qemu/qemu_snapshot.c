/*
 * qemu_snapshot.c: snapshot operations on a running QEMU (see the header and
 * docs/qemu.md, "Snapshots of a running QEMU", for the QMP sequences).
 *
 * Devices are found by their -device id in query-block; the node each one
 * writes to is read from there at every call, because overlays taken earlier
 * (by this process or another vmsnap run) move it. Replies are parsed with
 * json-c, which stays inside src/qemu/.
 */
#include "qemu/qemu_snapshot.h"

#include "qemu/qmp_util.h"

#include "util/error.h"

#include <json-c/json.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The deadline for the block transaction (internal snapshots write qcow2
 * metadata before it answers). */
#define TRANSACTION_TIMEOUT_MS 60000

/* A local file can take the state as fast as QEMU writes it: the default
 * limit (128 MiB/s) would make saving slower than it needs to be. */
#define UNLIMITED_BANDWIDTH "1099511627776"

/* QEMU's limit on node names is 31 bytes. */
#define NODE_NAME_MAX 31

/* query-block's entry for @device_id (a new reference). */
static vms_qmp_value *query_device(vms_qmp *qmp, const char *device_id, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) blocks = vms_qmp_command_json(qmp, "query-block", NULL, error);
    if (!blocks)
        return NULL;
    if (!json_object_is_type(blocks, json_type_array)) {
        vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU's reply to 'query-block' is not a list");
        return NULL;
    }
    g_autoptr(GString) known = g_string_new(NULL);
    size_t n = json_object_array_length(blocks);
    for (size_t i = 0; i < n; i++) {
        vms_qmp_value *entry = json_object_array_get_idx(blocks, i);
        const char *qdev = vms_qmp_member_string(entry, "qdev");
        if (vms_qmp_qdev_is(qdev, device_id))
            return json_object_get(entry);
        if (qdev) {
            g_autofree char *id = vms_qmp_qdev_device_id(qdev);
            g_string_append_printf(known, "%s%s", known->len ? ", " : "", id);
        }
    }
    vms_error_set(error, VMSNAP_ERR_QEMU,
                  "QEMU has no disk device '%s' (its disk devices: %s); was the domain's QEMU "
                  "changed outside vmsnap? Restart the domain to attach its disks again",
                  device_id, known->len ? known->str : "none");
    return NULL;
}

/* The "inserted" member of @device_id's entry (a new reference): the medium
 * and its top node. */
static vms_qmp_value *query_inserted(vms_qmp *qmp, const char *device_id, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) entry = query_device(qmp, device_id, error);
    if (!entry)
        return NULL;
    vms_qmp_value *inserted = vms_qmp_member(entry, "inserted");
    if (!inserted) {
        vms_error_set(error, VMSNAP_ERR_QEMU, "disk device '%s' has no image in QEMU", device_id);
        return NULL;
    }
    return json_object_get(inserted);
}

/* The node the device writes to now: its top node (inserted.node-name). */
static char *device_top_node(vms_qmp *qmp, const char *device_id, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) inserted = query_inserted(qmp, device_id, error);
    if (!inserted)
        return NULL;
    const char *node = vms_qmp_member_string(inserted, "node-name");
    if (!node) {
        vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU reports no node name for disk device '%s'",
                      device_id);
        return NULL;
    }
    return g_strdup(node);
}

char *vms_qemu_device_file(vms_qmp *qmp, const char *device_id, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) inserted = query_inserted(qmp, device_id, error);
    if (!inserted)
        return NULL;
    const char *file = vms_qmp_member_string(inserted, "file");
    if (!file) {
        vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU reports no file for disk device '%s'",
                      device_id);
        return NULL;
    }
    return g_strdup(file);
}

/* ---- node names -------------------------------------------------------- */

/* Every node name QEMU uses now. */
static GHashTable *node_names_in_use(vms_qmp *qmp, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) nodes =
        vms_qmp_command_json(qmp, "query-named-block-nodes", "{\"flat\":true}", error);
    if (!nodes)
        return NULL;
    GHashTable *names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    size_t n = vms_qmp_array_length(nodes);
    for (size_t i = 0; i < n; i++) {
        const char *name = vms_qmp_member_string(json_object_array_get_idx(nodes, i), "node-name");
        if (name)
            g_hash_table_add(names, g_strdup(name));
    }
    return names;
}

/* "vms-ov-<target>-<n>" for a device "vms-dev-<target>" (any other id is
 * its own target), the smallest n not in @taken; added to @taken. The
 * target is cut so the name fits QEMU's limit. Node names allow what
 * device ids allow, so the result is a valid node name. */
static char *new_overlay_node_name(const char *device_id, GHashTable *taken)
{
    const char *target =
        g_str_has_prefix(device_id, "vms-dev-") ? device_id + strlen("vms-dev-") : device_id;
    for (unsigned int n = 1;; n++) {
        g_autofree char *suffix = g_strdup_printf("-%u", n);
        int room = NODE_NAME_MAX - (int)strlen("vms-ov-") - (int)strlen(suffix);
        char *name = g_strdup_printf("vms-ov-%.*s%s", room, target, suffix);
        if (!g_hash_table_contains(taken, name)) {
            g_hash_table_add(taken, g_strdup(name));
            return name;
        }
        g_free(name);
    }
}

/* ---- the block transaction --------------------------------------------- */

static void remove_nodes(vms_qmp *qmp, GPtrArray *nodes)
{
    for (guint i = 0; i < nodes->len; i++) {
        g_autofree char *quoted = vms_qmp_json_quote(g_ptr_array_index(nodes, i));
        g_autofree char *args = g_strdup_printf("{\"node-name\":%s}", quoted);
        vms_qmp_command_best_effort(qmp, "blockdev-del", args);
    }
}

/* Open @overlay as a qcow2 node named @node with no backing yet:
 * blockdev-snapshot attaches the device's current node as its backing. */
static bool add_overlay_node(vms_qmp *qmp, const char *node, const char *overlay,
                             vmsnap_error **error)
{
    g_autofree char *qnode = vms_qmp_json_quote(node);
    g_autofree char *qfile = vms_qmp_json_quote(overlay);
    g_autofree char *args =
        g_strdup_printf("{\"driver\":\"qcow2\",\"node-name\":%s,\"file\":{"
                        "\"driver\":\"file\",\"filename\":%s},\"backing\":null}",
                        qnode, qfile);
    g_autofree char *reply = vms_qmp_command(qmp, "blockdev-add", args, VMS_QMP_COMMAND_MS, error);
    return reply != NULL;
}

static void append_action(GString *actions, const char *type, const char *data_json)
{
    g_string_append_printf(actions, "%s{\"type\":\"%s\",\"data\":%s}", actions->len > 1 ? "," : "",
                           type, data_json);
}

static bool check_live_disk(const vms_live_disk *disk, vmsnap_error **error)
{
    if (!disk->device_id)
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "a disk to snapshot has no device id");
    else if (disk->kind == VMS_LIVE_DISK_INTERNAL && (!disk->tag || !*disk->tag))
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "the internal snapshot of disk device '%s' has no tag", disk->device_id);
    else if (disk->kind == VMS_LIVE_DISK_EXTERNAL && (!disk->overlay || !*disk->overlay))
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "the external snapshot of disk device '%s' has no overlay file",
                      disk->device_id);
    else
        return true;
    return false;
}

/* Add the action for @disk to @actions; an overlay node added to QEMU on
 * the way is recorded in @added. */
static bool prepare_disk(vms_qmp *qmp, const vms_live_disk *disk, GHashTable *taken,
                         GPtrArray *added, GString *actions, vmsnap_error **error)
{
    g_autofree char *top = device_top_node(qmp, disk->device_id, error);
    if (!top)
        return false;
    g_autofree char *qtop = vms_qmp_json_quote(top);
    if (disk->kind == VMS_LIVE_DISK_INTERNAL) {
        g_autofree char *qtag = vms_qmp_json_quote(disk->tag);
        g_autofree char *data = g_strdup_printf("{\"device\":%s,\"name\":%s}", qtop, qtag);
        append_action(actions, "blockdev-snapshot-internal-sync", data);
        return true;
    }
    g_autofree char *node = new_overlay_node_name(disk->device_id, taken);
    if (!add_overlay_node(qmp, node, disk->overlay, error)) {
        vms_error_prefix(error, "opening overlay '%s' for disk device '%s': ", disk->overlay,
                         disk->device_id);
        return false;
    }
    g_ptr_array_add(added, g_strdup(node));
    g_autofree char *qnode = vms_qmp_json_quote(node);
    g_autofree char *data = g_strdup_printf("{\"node\":%s,\"overlay\":%s}", qtop, qnode);
    append_action(actions, "blockdev-snapshot", data);
    return true;
}

struct vms_disk_switch {
    GPtrArray *added; /* nodes blockdev-add'ed for the overlays */
    GString *actions; /* the transaction's actions */
};

void vms_disk_switch_free(vms_disk_switch *sw)
{
    if (!sw)
        return;
    g_ptr_array_unref(sw->added);
    g_string_free(sw->actions, TRUE);
    g_free(sw);
}

vms_disk_switch *vms_qemu_snapshot_disks_prepare(vms_qmp *qmp, const vms_live_disk *disks,
                                                 size_t ndisks, vmsnap_error **error)
{
    for (size_t i = 0; i < ndisks; i++)
        if (disks[i].kind != VMS_LIVE_DISK_SKIP && !check_live_disk(&disks[i], error))
            return NULL;
    g_autoptr(GHashTable) taken = node_names_in_use(qmp, error);
    if (!taken)
        return NULL;
    vms_disk_switch *sw = g_new0(vms_disk_switch, 1);
    sw->added = g_ptr_array_new_with_free_func(g_free);
    sw->actions = g_string_new("[");
    for (size_t i = 0; i < ndisks; i++) {
        if (disks[i].kind != VMS_LIVE_DISK_SKIP &&
            !prepare_disk(qmp, &disks[i], taken, sw->added, sw->actions, error)) {
            vms_qemu_snapshot_disks_abandon(qmp, sw);
            vms_error_prefix(error, "snapshot of the disks not taken (no disk changed): ");
            return NULL;
        }
    }
    return sw;
}

bool vms_qemu_snapshot_disks_commit(vms_qmp *qmp, vms_disk_switch *sw, vmsnap_error **error)
{
    bool ok = true;
    if (sw->actions->len > 1) {
        g_string_append(sw->actions, "]");
        g_autofree char *args = g_strdup_printf("{\"actions\":%s}", sw->actions->str);
        g_autofree char *reply =
            vms_qmp_command(qmp, "transaction", args, TRANSACTION_TIMEOUT_MS, error);
        ok = reply != NULL;
    }
    if (!ok) {
        remove_nodes(qmp, sw->added);
        vms_error_prefix(error, "snapshot of the disks not taken (no disk changed): ");
    }
    vms_disk_switch_free(sw);
    return ok;
}

void vms_qemu_snapshot_disks_abandon(vms_qmp *qmp, vms_disk_switch *sw)
{
    if (!sw)
        return;
    remove_nodes(qmp, sw->added);
    vms_disk_switch_free(sw);
}

bool vms_qemu_snapshot_disks(vms_qmp *qmp, const vms_live_disk *disks, size_t ndisks,
                             vmsnap_error **error)
{
    vms_disk_switch *sw = vms_qemu_snapshot_disks_prepare(qmp, disks, ndisks, error);
    return sw && vms_qemu_snapshot_disks_commit(qmp, sw, error);
}

/* ---- internal snapshots ------------------------------------------------ */

/* Whether the top image of @device_id holds internal snapshot @tag. */
static bool has_internal_snapshot(vms_qmp *qmp, const char *device_id, const char *tag, bool *found,
                                  vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) inserted = query_inserted(qmp, device_id, error);
    if (!inserted)
        return false;
    vms_qmp_value *snapshots = vms_qmp_member(vms_qmp_member(inserted, "image"), "snapshots");
    size_t n = snapshots && json_object_is_type(snapshots, json_type_array)
                   ? json_object_array_length(snapshots)
                   : 0;
    *found = false;
    for (size_t i = 0; i < n; i++)
        if (g_strcmp0(vms_qmp_member_string(json_object_array_get_idx(snapshots, i), "name"),
                      tag) == 0)
            *found = true;
    return true;
}

bool vms_qemu_delete_internal(vms_qmp *qmp, const char *device_id, const char *tag,
                              vmsnap_error **error)
{
    g_autofree char *top = device_top_node(qmp, device_id, error);
    if (!top)
        return false;
    g_autofree char *qtop = vms_qmp_json_quote(top);
    g_autofree char *qtag = vms_qmp_json_quote(tag);
    g_autofree char *args = g_strdup_printf("{\"device\":%s,\"name\":%s}", qtop, qtag);
    g_autoptr(vmsnap_error) refused = NULL;
    g_autofree char *reply = vms_qmp_command(qmp, "blockdev-snapshot-delete-internal-sync", args,
                                             TRANSACTION_TIMEOUT_MS, &refused);
    if (reply)
        return true;
    /* QEMU refuses an absent tag with a GenericError; rather than match its
     * words, look whether the tag is there. */
    bool found = true;
    if (!has_internal_snapshot(qmp, device_id, tag, &found, error))
        return false;
    if (!found)
        return true;
    vms_error_propagate(error, g_steal_pointer(&refused));
    vms_error_prefix(error, "deleting internal snapshot '%s' of disk device '%s': ", tag,
                     device_id);
    return false;
}

/* ---- waiting for jobs -------------------------------------------------- */

/* The next @event_name whose data member @key is @value, before @deadline;
 * events of that name for other jobs are consumed (one job at a time runs
 * on a vmsnap connection). NULL with an error on deadline or disconnect:
 * the deadline's message is the caller's @what. */
static vms_qmp_event *wait_job_event(vms_qmp *qmp, const char *event_name, const char *key,
                                     const char *value, gint64 deadline, const char *what,
                                     int timeout_ms, vmsnap_error **error)
{
    for (;;) {
        vmsnap_error *err = NULL;
        vms_qmp_event *event = vms_qmp_wait_event(qmp, event_name, vms_qmp_ms_left(deadline), &err);
        if (!event) {
            if (vms_qmp_ms_left(deadline) == 0) {
                vmsnap_error_free(err);
                vms_error_set(error, VMSNAP_ERR_QEMU, "%s did not finish within %d ms", what,
                              timeout_ms);
            } else {
                vms_error_propagate(error, err);
            }
            return NULL;
        }
        g_autofree char *got = vms_qmp_json_get_string(event->data_json, key);
        if (g_strcmp0(got, value) == 0)
            return event;
        vms_qmp_event_free(event);
    }
}

/* Wait for job @job_id to conclude; then its error text (NULL if none) in
 * *job_error, and the job dismissed. */
static bool finish_job(vms_qmp *qmp, const char *job_id, gint64 deadline, const char *what,
                       int timeout_ms, char **job_error, vmsnap_error **error)
{
    *job_error = NULL;
    for (;;) {
        g_autoptr(vms_qmp_event) event = wait_job_event(qmp, "JOB_STATUS_CHANGE", "id", job_id,
                                                        deadline, what, timeout_ms, error);
        if (!event)
            return false;
        g_autofree char *status = vms_qmp_json_get_string(event->data_json, "status");
        if (g_strcmp0(status, "concluded") == 0)
            break;
    }
    g_autoptr(vms_qmp_value) jobs = vms_qmp_command_json(qmp, "query-jobs", NULL, error);
    if (!jobs)
        return false;
    size_t n = vms_qmp_array_length(jobs);
    for (size_t i = 0; i < n; i++) {
        vms_qmp_value *job = json_object_array_get_idx(jobs, i);
        if (g_strcmp0(vms_qmp_member_string(job, "id"), job_id) == 0 &&
            vms_qmp_member_string(job, "error"))
            *job_error = g_strdup(vms_qmp_member_string(job, "error"));
    }
    g_autofree char *qid = vms_qmp_json_quote(job_id);
    g_autofree char *args = g_strdup_printf("{\"id\":%s}", qid);
    g_autofree char *reply = vms_qmp_command(qmp, "job-dismiss", args, VMS_QMP_COMMAND_MS, error);
    if (!reply) {
        g_clear_pointer(job_error, g_free);
        return false;
    }
    /* QEMU sent the job's last status change ("null") before answering. */
    g_autoptr(vms_qmp_event) gone = NULL;
    while ((gone = vms_qmp_wait_event(qmp, "JOB_STATUS_CHANGE", 0, NULL))) {
        g_autofree char *id = vms_qmp_json_get_string(gone->data_json, "id");
        bool last = g_strcmp0(id, job_id) == 0;
        g_clear_pointer(&gone, vms_qmp_event_free);
        if (last)
            break;
    }
    return true;
}

/* The "devices" and "vmstate" arguments of snapshot-save/-load: the top
 * node of each device. Appends to @args. */
static bool append_snapshot_nodes(vms_qmp *qmp, const char *const *device_ids,
                                  const char *vmstate_device, GString *args, vmsnap_error **error)
{
    g_autofree char *vmstate = device_top_node(qmp, vmstate_device, error);
    if (!vmstate)
        return false;
    g_autofree char *qvmstate = vms_qmp_json_quote(vmstate);
    g_string_append_printf(args, ",\"vmstate\":%s,\"devices\":[", qvmstate);
    for (size_t i = 0; device_ids && device_ids[i]; i++) {
        g_autofree char *node = device_top_node(qmp, device_ids[i], error);
        if (!node)
            return false;
        g_autofree char *qnode = vms_qmp_json_quote(node);
        g_string_append_printf(args, "%s%s", i ? "," : "", qnode);
    }
    g_string_append(args, "]");
    return true;
}

/* snapshot-save or snapshot-load (@verb "save" / "load") as a job. */
static bool run_snapshot_job(vms_qmp *qmp, const char *verb, const char *tag,
                             const char *const *device_ids, const char *vmstate_device,
                             int timeout_ms, vmsnap_error **error)
{
    gint64 deadline = vms_qmp_deadline_after(timeout_ms);
    g_autofree char *command = g_strdup_printf("snapshot-%s", verb);
    g_autofree char *job_id = vms_qmp_unique_name(command);
    g_autofree char *qid = vms_qmp_json_quote(job_id);
    g_autofree char *qtag = vms_qmp_json_quote(tag);
    g_autoptr(GString) args = g_string_new(NULL);
    g_string_append_printf(args, "{\"job-id\":%s,\"tag\":%s", qid, qtag);
    if (!append_snapshot_nodes(qmp, device_ids, vmstate_device, args, error))
        return false;
    g_string_append(args, "}");

    g_autofree char *reply = vms_qmp_command(qmp, command, args->str, VMS_QMP_COMMAND_MS, error);
    if (!reply)
        return false;
    g_autofree char *what =
        g_strdup_printf("QEMU's %s job for snapshot '%s' (job id %s)", command, tag, job_id);
    g_autofree char *job_error = NULL;
    if (!finish_job(qmp, job_id, deadline, what, timeout_ms, &job_error, error))
        return false;
    if (job_error) {
        vms_error_set(error, VMSNAP_ERR_QEMU, "QEMU could not %s snapshot '%s': %s", verb, tag,
                      job_error);
        return false;
    }
    return true;
}

bool vms_qemu_save_internal(vms_qmp *qmp, const char *tag, const char *const *device_ids,
                            const char *vmstate_device, int timeout_ms, vmsnap_error **error)
{
    return run_snapshot_job(qmp, "save", tag, device_ids, vmstate_device, timeout_ms, error);
}

bool vms_qemu_load_internal(vms_qmp *qmp, const char *tag, const char *const *device_ids,
                            const char *vmstate_device, int timeout_ms, vmsnap_error **error)
{
    return run_snapshot_job(qmp, "load", tag, device_ids, vmstate_device, timeout_ms, error);
}

/* ---- the VM state to and from a file ------------------------------------ */

/* How often a waiting migration looks at its progress. */
#define MIGRATION_POLL_MS 50

static bool is_saving(vms_migration_kind kind)
{
    return kind != VMS_MIGRATION_LOAD;
}

/* Capabilities and parameters for this migration. Both are QEMU-wide and
 * stay set, so every migration sets background-snapshot either way. */
static bool prepare_migration(vms_qmp *qmp, vms_migration_kind kind, vmsnap_error **error)
{
    /* Without the "events" capability QEMU sends no MIGRATION events. */
    const char *caps_args = !is_saving(kind)
                                ? "{\"capabilities\":[{\"capability\":\"events\",\"state\":true}]}"
                            : kind == VMS_MIGRATION_SAVE_LIVE
                                ? "{\"capabilities\":[{\"capability\":\"events\",\"state\":true},"
                                  "{\"capability\":\"background-snapshot\",\"state\":true}]}"
                                : "{\"capabilities\":[{\"capability\":\"events\",\"state\":true},"
                                  "{\"capability\":\"background-snapshot\",\"state\":false}]}";
    g_autofree char *caps =
        vms_qmp_command(qmp, "migrate-set-capabilities", caps_args, VMS_QMP_COMMAND_MS, error);
    if (!caps) {
        vms_error_prefix(error, "QEMU cannot %s: ",
                         kind == VMS_MIGRATION_SAVE_LIVE ? "save the VM state in the background"
                                                         : "move the VM state");
        return false;
    }
    if (!is_saving(kind))
        return true;
    g_autofree char *params =
        vms_qmp_command(qmp, "migrate-set-parameters",
                        "{\"max-bandwidth\":" UNLIMITED_BANDWIDTH "}", VMS_QMP_COMMAND_MS, error);
    return params != NULL;
}

static bool is_final_migration_status(const char *status)
{
    return g_strcmp0(status, "completed") == 0 || g_strcmp0(status, "failed") == 0 ||
           g_strcmp0(status, "cancelled") == 0;
}

/* One migration being waited for: which way, and who hears how far it is. */
typedef struct {
    bool incoming;    /* loading into this QEMU (else saving from it) */
    int fd;           /* incoming: a regular file whose offset is how far QEMU read; or -1 */
    const char *verb; /* "saving" / "loading", for messages */
    const vms_progress *progress;
} migration_watch;

static const char *progress_phrase(const migration_watch *watch)
{
    return watch->incoming ? "loading memory" : "saving memory";
}

/* Report how far the migration is: the sender's query-migrate knows the
 * RAM left; the receiver shares the file's offset with QEMU (the descriptor
 * was passed, not reopened), so the offset is what QEMU has read. */
static void report_migration(vms_qmp *qmp, const migration_watch *watch)
{
    if (!watch->progress || !watch->progress->report)
        return;
    if (watch->incoming) {
        struct stat st;
        off_t at = watch->fd >= 0 ? lseek(watch->fd, 0, SEEK_CUR) : -1;
        if (at >= 0 && fstat(watch->fd, &st) == 0)
            vms_progress_report(watch->progress, progress_phrase(watch), (uint64_t)at,
                                (uint64_t)st.st_size);
        return;
    }
    g_autofree char *info = vms_qmp_command(qmp, "query-migrate", NULL, VMS_QMP_COMMAND_MS, NULL);
    int64_t total = 0, remaining = 0;
    if (info && vms_qmp_json_get_int(info, "ram.total", &total) &&
        vms_qmp_json_get_int(info, "ram.remaining", &remaining) && total >= remaining)
        vms_progress_report(watch->progress, progress_phrase(watch), (uint64_t)(total - remaining),
                            (uint64_t)total);
}

/* The final report: everything moved (the sender's total is the guest's
 * RAM, the receiver's the file's size). */
static void report_migration_done(const migration_watch *watch, int64_t ram_total)
{
    if (!watch->progress || !watch->progress->report)
        return;
    int64_t total = ram_total;
    struct stat st;
    if (watch->incoming)
        total = watch->fd >= 0 && fstat(watch->fd, &st) == 0 ? st.st_size : 0;
    if (total > 0)
        vms_progress_report(watch->progress, progress_phrase(watch), (uint64_t)total,
                            (uint64_t)total);
}

/* QEMU 7.2 sends MIGRATION "completed" while its run state is still
 * "finish-migrate" (or, receiving, "inmigrate"); it settles a moment later,
 * and a 'cont' or query in between sees the half-finished state. Poll
 * until then. */
static bool wait_run_state_settled(vms_qmp *qmp, gint64 deadline, int timeout_ms,
                                   vmsnap_error **error)
{
    for (;;) {
        g_autofree char *reply =
            vms_qmp_command(qmp, "query-status", NULL, MAX(vms_qmp_ms_left(deadline), 1), error);
        if (!reply)
            return false;
        g_autofree char *state = vms_qmp_json_get_string(reply, "status");
        if (g_strcmp0(state, "finish-migrate") != 0 && g_strcmp0(state, "inmigrate") != 0)
            return true;
        if (vms_qmp_ms_left(deadline) == 0) {
            vms_error_set(error, VMSNAP_ERR_QEMU,
                          "QEMU moved the VM state but was still finishing after %d ms",
                          timeout_ms);
            return false;
        }
        g_usleep(1000);
    }
}

/* QEMU's own figures of a finished migration (query-migrate). */
static void read_migration_stats(vms_qmp *qmp, vms_migration_stats *stats)
{
    *stats = (vms_migration_stats){.total_ms = -1, .downtime_ms = -1};
    g_autofree char *info = vms_qmp_command(qmp, "query-migrate", NULL, VMS_QMP_COMMAND_MS, NULL);
    int64_t value;
    if (!info)
        return;
    if (vms_qmp_json_get_int(info, "total-time", &value))
        stats->total_ms = value;
    if (vms_qmp_json_get_int(info, "downtime", &value))
        stats->downtime_ms = value;
    if (vms_qmp_json_get_int(info, "ram.total", &value) && value > 0)
        stats->ram_total = (uint64_t)value;
}

/* Wait for the migration's final status, reporting progress meanwhile;
 * failure carries query-migrate's error-desc. */
static bool wait_migration(vms_qmp *qmp, const migration_watch *watch, gint64 deadline,
                           int timeout_ms, vms_migration_stats *stats, vmsnap_error **error)
{
    g_autofree char *status = NULL;
    while (!is_final_migration_status(status)) {
        vmsnap_error *err = NULL;
        int wait_ms = MIN(vms_qmp_ms_left(deadline), MIGRATION_POLL_MS);
        g_autoptr(vms_qmp_event) event = vms_qmp_wait_event(qmp, "MIGRATION", wait_ms, &err);
        if (!event && vms_qmp_ms_left(deadline) > 0 && vms_qmp_is_usable(qmp)) {
            /* Only the poll period passed. */
            vmsnap_error_free(err);
            report_migration(qmp, watch);
            continue;
        }
        if (!event) {
            if (vms_qmp_ms_left(deadline) == 0) {
                vmsnap_error_free(err);
                vms_qmp_command_best_effort(qmp, "migrate_cancel", NULL);
                vms_error_set(error, VMSNAP_ERR_QEMU,
                              "%s the VM state did not finish within %d ms (cancelled)",
                              watch->verb, timeout_ms);
            } else {
                vms_error_propagate(error, err);
            }
            return false;
        }
        g_free(status);
        status = vms_qmp_json_get_string(event->data_json, "status");
    }
    if (strcmp(status, "completed") == 0) {
        vms_migration_stats got;
        read_migration_stats(qmp, &got);
        if (stats)
            *stats = got;
        report_migration_done(watch, (int64_t)got.ram_total);
        return wait_run_state_settled(qmp, deadline, timeout_ms, error);
    }
    g_autofree char *info = vms_qmp_command(qmp, "query-migrate", NULL, VMS_QMP_COMMAND_MS, NULL);
    g_autofree char *desc = info ? vms_qmp_json_get_string(info, "error-desc") : NULL;
    if (desc)
        vms_error_set(error, VMSNAP_ERR_QEMU, "%s the VM state failed: %s", watch->verb, desc);
    else /* a receiving QEMU 7.2 says why only in its log, then exits */
        vms_error_set(error, VMSNAP_ERR_QEMU, "%s the VM state failed (migration status '%s')",
                      watch->verb, status);
    return false;
}

char *vms_qemu_migration_prepare(vms_qmp *qmp, int fd, vms_migration_kind kind,
                                 vmsnap_error **error)
{
    if (!prepare_migration(qmp, kind, error))
        return NULL;
    char *fdname = vms_qmp_unique_name("state");
    g_autofree char *qname = vms_qmp_json_quote(fdname);
    g_autofree char *fdargs = g_strdup_printf("{\"fdname\":%s}", qname);
    g_autofree char *got =
        vms_qmp_command_with_fd(qmp, "getfd", fdargs, fd, VMS_QMP_COMMAND_MS, error);
    if (!got) {
        g_free(fdname);
        return NULL;
    }
    return fdname;
}

bool vms_qemu_migration_go(vms_qmp *qmp, const char *fdname, vms_migration_kind kind,
                           vmsnap_error **error)
{
    g_autofree char *uri = g_strdup_printf("fd:%s", fdname);
    g_autofree char *quri = vms_qmp_json_quote(uri);
    g_autofree char *args = g_strdup_printf("{\"uri\":%s}", quri);
    g_autofree char *started = vms_qmp_command(
        qmp, is_saving(kind) ? "migrate" : "migrate-incoming", args, VMS_QMP_COMMAND_MS, error);
    /* A started migration has taken the descriptor out of QEMU's named
     * ones already; this closes it when the migration never started. */
    vms_qemu_migration_drop_fd(qmp, fdname);
    return started != NULL;
}

void vms_qemu_migration_drop_fd(vms_qmp *qmp, const char *fdname)
{
    g_autofree char *qname = vms_qmp_json_quote(fdname);
    g_autofree char *fdargs = g_strdup_printf("{\"fdname\":%s}", qname);
    vms_qmp_command_best_effort(qmp, "closefd", fdargs);
}

bool vms_qemu_migration_start(vms_qmp *qmp, int fd, vms_migration_kind kind, vmsnap_error **error)
{
    g_autofree char *fdname = vms_qemu_migration_prepare(qmp, fd, kind, error);
    return fdname && vms_qemu_migration_go(qmp, fdname, kind, error);
}

bool vms_qemu_migration_wait(vms_qmp *qmp, vms_migration_kind kind, int file_fd, int timeout_ms,
                             const vms_progress *progress, vms_migration_stats *stats,
                             vmsnap_error **error)
{
    migration_watch watch = {.incoming = !is_saving(kind),
                             .fd = file_fd,
                             .verb = is_saving(kind) ? "saving" : "loading",
                             .progress = progress};
    gint64 deadline = vms_qmp_deadline_after(timeout_ms);
    report_migration(qmp, &watch);
    return wait_migration(qmp, &watch, deadline, timeout_ms, stats, error);
}

bool vms_qemu_save_state_to_fd(vms_qmp *qmp, int fd, int timeout_ms, const vms_progress *progress,
                               vmsnap_error **error)
{
    return vms_qemu_migration_start(qmp, fd, VMS_MIGRATION_SAVE, error) &&
           vms_qemu_migration_wait(qmp, VMS_MIGRATION_SAVE, -1, timeout_ms, progress, NULL, error);
}

bool vms_qemu_load_state_from_fd(vms_qmp *qmp, int fd, int timeout_ms, const vms_progress *progress,
                                 vmsnap_error **error)
{
    return vms_qemu_migration_start(qmp, fd, VMS_MIGRATION_LOAD, error) &&
           vms_qemu_migration_wait(qmp, VMS_MIGRATION_LOAD, fd, timeout_ms, progress, NULL, error);
}
