/*
 * qemu_blockjob.c: block-stream and block-commit jobs on a running QEMU
 * (see the header and docs/qemu.md, "Block jobs").
 *
 * A job is named "vms-<kind>-<pid>-<n>". It keeps QEMU's defaults
 * (auto-finalize, auto-dismiss): QEMU removes it by itself once it sends
 * BLOCK_JOB_COMPLETED or BLOCK_JOB_CANCELLED, so nothing is left to dismiss.
 * While waiting for those events, query-block-jobs gives the progress.
 */
#include "qemu/qemu_blockjob.h"

#include "qemu/qmp_util.h"

#include "util/error.h"

#include <json-c/json.h>
#include <string.h>

/* How often a running job's progress is read. */
#define POLL_MS 100
/* How long a cancelled job may take to go. */
#define CANCEL_MS 10000

/* ---- the chain of a device --------------------------------------------- */

/* query-block's "inserted" member for @device_id (a new reference). */
static vms_qmp_value *device_inserted(vms_qmp *qmp, const char *device_id, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) blocks = vms_qmp_command_json(qmp, "query-block", NULL, error);
    if (!blocks)
        return NULL;
    size_t n = vms_qmp_array_length(blocks);
    for (size_t i = 0; i < n; i++) {
        vms_qmp_value *entry = json_object_array_get_idx(blocks, i);
        vms_qmp_value *inserted = vms_qmp_member(entry, "inserted");
        if (vms_qmp_qdev_is(vms_qmp_member_string(entry, "qdev"), device_id) && inserted)
            return json_object_get(inserted);
    }
    vms_error_set(error, VMSNAP_ERR_QEMU,
                  "QEMU has no disk device '%s' with an image; was the domain's QEMU changed "
                  "outside vmsnap? Restart the domain to attach its disks again",
                  device_id);
    return NULL;
}

static void append_chain(vms_qmp_value *inserted, GPtrArray *files)
{
    for (vms_qmp_value *image = vms_qmp_member(inserted, "image"); image;
         image = vms_qmp_member(image, "backing-image")) {
        const char *file = vms_qmp_member_string(image, "filename");
        if (file)
            g_ptr_array_add(files, g_strdup(file));
    }
}

char **vms_qemu_device_chain(vms_qmp *qmp, const char *device_id, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) inserted = device_inserted(qmp, device_id, error);
    if (!inserted)
        return NULL;
    GPtrArray *files = g_ptr_array_new();
    append_chain(inserted, files);
    g_ptr_array_add(files, NULL);
    return (char **)g_ptr_array_free(files, false);
}

GHashTable *vms_qemu_open_files(vms_qmp *qmp, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) blocks = vms_qmp_command_json(qmp, "query-block", NULL, error);
    if (!blocks)
        return NULL;
    g_autoptr(GPtrArray) files = g_ptr_array_new();
    size_t n = vms_qmp_array_length(blocks);
    for (size_t i = 0; i < n; i++)
        append_chain(vms_qmp_member(json_object_array_get_idx(blocks, i), "inserted"), files);
    GHashTable *set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (guint i = 0; i < files->len; i++)
        g_hash_table_add(set, g_ptr_array_index(files, i));
    return set;
}

/* The position of @file in @chain (0: the active layer), or -1. */
static int chain_index(char **chain, const char *file)
{
    for (int i = 0; chain[i]; i++)
        if (strcmp(chain[i], file) == 0)
            return i;
    return -1;
}

static char *chain_text(char **chain)
{
    return g_strjoinv(" <- ", chain);
}

/* The format node that opens @file in QEMU: the device's top node for the
 * active layer, else the one node (not a protocol node) whose "file" it is.
 * Two disks sharing a backing file give two nodes: then "" and the caller
 * names the file, which QEMU resolves in the device's own chain. */
static char *node_of_file(vms_qmp *qmp, const char *device_id, const char *file, bool active,
                          vmsnap_error **error)
{
    if (active) {
        g_autoptr(vms_qmp_value) inserted = device_inserted(qmp, device_id, error);
        if (!inserted)
            return NULL;
        const char *node = vms_qmp_member_string(inserted, "node-name");
        return g_strdup(node ? node : "");
    }
    g_autoptr(vms_qmp_value) nodes =
        vms_qmp_command_json(qmp, "query-named-block-nodes", "{\"flat\":true}", error);
    if (!nodes)
        return NULL;
    const char *found = NULL;
    size_t count = 0;
    size_t n = vms_qmp_array_length(nodes);
    for (size_t i = 0; i < n; i++) {
        vms_qmp_value *node = json_object_array_get_idx(nodes, i);
        const char *drv = vms_qmp_member_string(node, "drv");
        bool protocol = g_strcmp0(drv, "file") == 0 || g_strcmp0(drv, "host_device") == 0;
        if (!protocol && g_strcmp0(vms_qmp_member_string(node, "file"), file) == 0) {
            found = vms_qmp_member_string(node, "node-name");
            count++;
        }
    }
    return g_strdup(count == 1 && found ? found : "");
}

/* Add "key":node (or "file_key":file when the node is ambiguous) to @args. */
static bool append_layer(vms_qmp *qmp, GString *args, const char *device_id, const char *file,
                         bool active, const char *node_key, const char *file_key,
                         vmsnap_error **error)
{
    g_autofree char *node = node_of_file(qmp, device_id, file, active, error);
    if (!node)
        return false;
    if (!*node && !file_key) {
        vms_error_set(error, VMSNAP_ERR_QEMU,
                      "'%s' is open more than once in QEMU (two disks share it); vmsnap cannot "
                      "tell which node to work on: shut the domain down first",
                      file);
        return false;
    }
    g_autofree char *quoted = vms_qmp_json_quote(*node ? node : file);
    g_string_append_printf(args, ",\"%s\":%s", *node ? node_key : file_key, quoted);
    return true;
}

/* The node names of @chain[from, to) (files leaving the chain), top first. */
static GPtrArray *leaving_nodes(vms_qmp *qmp, const char *device_id, char **chain, int from, int to,
                                vmsnap_error **error)
{
    g_autoptr(GPtrArray) nodes = g_ptr_array_new_with_free_func(g_free);
    for (int i = from; i < to && chain[i]; i++) {
        char *node = node_of_file(qmp, device_id, chain[i], i == 0, error);
        if (!node)
            return NULL;
        g_ptr_array_add(nodes, node);
    }
    return g_steal_pointer(&nodes);
}

/* Close the nodes that left the chain. Nodes vmsnap added (blockdev-add)
 * or QEMU's command line defined (-blockdev) belong to the monitor and stay
 * open, holding their files and backing files, until deleted; nodes QEMU
 * opened by itself ("#block...") went with the job. Upper nodes first: each
 * holds the one below as its backing. */
static void release_nodes(vms_qmp *qmp, GPtrArray *nodes)
{
    for (guint i = 0; i < nodes->len; i++) {
        const char *node = g_ptr_array_index(nodes, i);
        if (!*node || node[0] == '#')
            continue;
        g_autofree char *quoted = vms_qmp_json_quote(node);
        g_autofree char *args = g_strdup_printf("{\"node-name\":%s}", quoted);
        vms_qmp_command_best_effort(qmp, "blockdev-del", args);
    }
}

/* ---- waiting for a job ------------------------------------------------- */

/* Read the jobs (which also tells whether QEMU is still there) and report
 * @job_id's progress. */
static bool poll_progress(vms_qmp *qmp, const char *job_id, const char *what,
                          const vms_progress *progress, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) jobs = vms_qmp_command_json(qmp, "query-block-jobs", NULL, error);
    if (!jobs)
        return false;
    size_t n = vms_qmp_array_length(jobs);
    for (size_t i = 0; i < n; i++) {
        vms_qmp_value *job = json_object_array_get_idx(jobs, i);
        if (g_strcmp0(vms_qmp_member_string(job, "device"), job_id) != 0)
            continue;
        int64_t done = json_object_get_int64(vms_qmp_member(job, "offset"));
        int64_t total = json_object_get_int64(vms_qmp_member(job, "len"));
        vms_progress_report(progress, what, (uint64_t)MAX(done, 0), (uint64_t)MAX(total, 0));
    }
    return true;
}

typedef enum {
    JOB_FAILED,    /* vmsnap could not follow it (error set) */
    JOB_COMPLETED, /* BLOCK_JOB_COMPLETED without an error */
    JOB_READY,     /* BLOCK_JOB_READY: an active commit waits to be completed */
} job_outcome;

/* The next event about @job_id among @names (NULL-terminated), polling
 * progress while none comes. NULL on deadline (no error set) or when QEMU
 * is gone (error set). */
static vms_qmp_event *next_job_event(vms_qmp *qmp, const char *job_id, const char *const *names,
                                     gint64 deadline, const char *what,
                                     const vms_progress *progress, vmsnap_error **error)
{
    while (vms_qmp_ms_left(deadline) > 0) {
        vms_qmp_event *event =
            vms_qmp_wait_event(qmp, NULL, MIN(vms_qmp_ms_left(deadline), POLL_MS), NULL);
        if (!event) {
            /* Either no event yet, or QEMU is gone: a command tells. */
            if (!poll_progress(qmp, job_id, what, progress, error))
                return NULL;
            continue;
        }
        g_autofree char *device = vms_qmp_json_get_string(event->data_json, "device");
        if (g_strcmp0(device, job_id) == 0 &&
            g_strv_contains((const char *const *)names, event->name))
            return event;
        vms_qmp_event_free(event);
    }
    return NULL;
}

/* Cancel @job_id and wait until QEMU has dropped it. */
static void cancel_job(vms_qmp *qmp, const char *job_id)
{
    g_autofree char *qid = vms_qmp_json_quote(job_id);
    g_autofree char *args = g_strdup_printf("{\"device\":%s}", qid);
    g_autofree char *reply =
        vms_qmp_command(qmp, "block-job-cancel", args, VMS_QMP_COMMAND_MS, NULL);
    if (!reply)
        return;
    static const char *const ends[] = {"BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", NULL};
    g_autoptr(vms_qmp_event) gone =
        next_job_event(qmp, job_id, ends, vms_qmp_deadline_after(CANCEL_MS), NULL, NULL, NULL);
}

/* Wait until @job_id completes (or, with @until_ready, is ready). */
static job_outcome wait_job(vms_qmp *qmp, const char *job_id, bool until_ready, gint64 deadline,
                            int timeout_ms, const char *what, const vms_progress *progress,
                            vmsnap_error **error)
{
    static const char *const all[] = {"BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED",
                                      "BLOCK_JOB_READY", NULL};
    static const char *const ends[] = {"BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED", NULL};
    vmsnap_error *err = NULL;
    g_autoptr(vms_qmp_event) event =
        next_job_event(qmp, job_id, until_ready ? all : ends, deadline, what, progress, &err);
    if (!event) {
        if (err) {
            vms_error_propagate(error, err);
            vms_error_prefix(error, "%s: ", what);
        } else {
            cancel_job(qmp, job_id);
            vms_error_set(error, VMSNAP_ERR_QEMU,
                          "%s did not finish within %d ms; vmsnap cancelled the job (QEMU "
                          "keeps the disk's chain as it was unless the job had just finished)",
                          what, timeout_ms);
        }
        return JOB_FAILED;
    }
    if (strcmp(event->name, "BLOCK_JOB_READY") == 0)
        return JOB_READY;
    g_autofree char *job_error = vms_qmp_json_get_string(event->data_json, "error");
    if (strcmp(event->name, "BLOCK_JOB_CANCELLED") == 0 || job_error) {
        vms_error_set(error, VMSNAP_ERR_QEMU, "%s failed: %s", what,
                      job_error ? job_error : "QEMU cancelled the job");
        return JOB_FAILED;
    }
    int64_t total = 0;
    vms_qmp_json_get_int(event->data_json, "len", &total);
    vms_progress_report(progress, what, (uint64_t)MAX(total, 0), (uint64_t)MAX(total, 0));
    return JOB_COMPLETED;
}

/* Start @command with @args; a refusal names what was being done. */
static bool start_job(vms_qmp *qmp, const char *command, const char *args, const char *what,
                      vmsnap_error **error)
{
    g_autofree char *reply = vms_qmp_command(qmp, command, args, VMS_QMP_COMMAND_MS, error);
    if (!reply)
        vms_error_prefix(error, "%s: ", what);
    return reply != NULL;
}

/* Check that @top_file is in the device's chain and @base_file (if any)
 * below it. Returns the chain; *@top_index and *@base_index get the
 * positions (the chain's length for no base). */
static char **check_layers(vms_qmp *qmp, const char *device_id, const char *top_file,
                           const char *base_file, const char *verb, int *top_index, int *base_index,
                           vmsnap_error **error)
{
    g_auto(GStrv) chain = vms_qemu_device_chain(qmp, device_id, error);
    if (!chain)
        return NULL;
    int top = chain_index(chain, top_file);
    int base = base_file ? chain_index(chain, base_file) : G_MAXINT;
    const char *problem = NULL;
    if (top < 0)
        problem = "the upper file is not in the disk's chain";
    else if (base < 0)
        problem = "the lower file is not in the disk's chain";
    else if (base <= top)
        problem = "the lower file is not below the upper one";
    if (!problem) {
        *top_index = top;
        *base_index = base == G_MAXINT ? (int)g_strv_length(chain) : base;
        return g_steal_pointer(&chain);
    }
    g_autofree char *text = chain_text(chain);
    vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                  "cannot %s '%s' and '%s' of disk device '%s': %s (its chain, top first: %s)",
                  verb, top_file, base_file ? base_file : "(none)", device_id, problem, text);
    return NULL;
}

bool vms_qemu_blockjob_stream(vms_qmp *qmp, const char *device_id, const char *top_file,
                              const char *base_file, const char *what, const vms_progress *progress,
                              int timeout_ms, vmsnap_error **error)
{
    gint64 deadline = vms_qmp_deadline_after(timeout_ms);
    int top_index = 0, base_index = 0;
    g_auto(GStrv) chain = check_layers(qmp, device_id, top_file, base_file, "stream between",
                                       &top_index, &base_index, error);
    if (!chain)
        return false;
    g_autoptr(GPtrArray) leaving =
        leaving_nodes(qmp, device_id, chain, top_index + 1, base_index, error);
    if (!leaving)
        return false;
    g_autofree char *job_id = vms_qmp_unique_name("stream");
    g_autofree char *qid = vms_qmp_json_quote(job_id);
    g_autoptr(GString) args = g_string_new(NULL);
    g_string_append_printf(args, "{\"job-id\":%s", qid);
    if (!append_layer(qmp, args, device_id, top_file, top_index == 0, "device", NULL, error) ||
        (base_file &&
         !append_layer(qmp, args, device_id, base_file, false, "base-node", "base", error)))
        return false;
    g_string_append(args, "}");
    if (!start_job(qmp, "block-stream", args->str, what, error) ||
        wait_job(qmp, job_id, false, deadline, timeout_ms, what, progress, error) != JOB_COMPLETED)
        return false;
    release_nodes(qmp, leaving);
    return true;
}

/* An active commit is ready: switch the device to the base. */
static bool complete_job(vms_qmp *qmp, const char *job_id, gint64 deadline, int timeout_ms,
                         const char *what, const vms_progress *progress, vmsnap_error **error)
{
    g_autofree char *qid = vms_qmp_json_quote(job_id);
    g_autofree char *args = g_strdup_printf("{\"device\":%s}", qid);
    g_autofree char *reply =
        vms_qmp_command(qmp, "block-job-complete", args, VMS_QMP_COMMAND_MS, error);
    if (!reply) {
        vms_error_prefix(error, "%s: ", what);
        cancel_job(qmp, job_id);
        return false;
    }
    return wait_job(qmp, job_id, false, deadline, timeout_ms, what, progress, error) ==
           JOB_COMPLETED;
}

bool vms_qemu_blockjob_commit(vms_qmp *qmp, const char *device_id, const char *top_file,
                              const char *base_file, const char *what, const vms_progress *progress,
                              int timeout_ms, vmsnap_error **error)
{
    gint64 deadline = vms_qmp_deadline_after(timeout_ms);
    int top_index = 0;
    if (!base_file) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                      "cannot commit '%s' of disk device '%s': a commit needs a file to commit "
                      "into",
                      top_file, device_id);
        return false;
    }
    int base_index = 0;
    g_auto(GStrv) chain = check_layers(qmp, device_id, top_file, base_file, "commit between",
                                       &top_index, &base_index, error);
    if (!chain)
        return false;
    g_autoptr(GPtrArray) leaving =
        leaving_nodes(qmp, device_id, chain, top_index, base_index, error);
    if (!leaving)
        return false;
    bool active = top_index == 0;
    g_autofree char *job_id = vms_qmp_unique_name("commit");
    g_autofree char *qid = vms_qmp_json_quote(job_id);
    g_autoptr(GString) args = g_string_new(NULL);
    g_string_append_printf(args, "{\"job-id\":%s", qid);
    /* "device" is the root (the device's top node); an intermediate
     * commit names its top below it. */
    if (!append_layer(qmp, args, device_id, chain[0], true, "device", NULL, error) ||
        (!active &&
         !append_layer(qmp, args, device_id, top_file, false, "top-node", "top", error)) ||
        !append_layer(qmp, args, device_id, base_file, false, "base-node", "base", error))
        return false;
    g_string_append(args, "}");
    if (!start_job(qmp, "block-commit", args->str, what, error))
        return false;
    job_outcome outcome =
        wait_job(qmp, job_id, active, deadline, timeout_ms, what, progress, error);
    if (outcome == JOB_READY &&
        !complete_job(qmp, job_id, deadline, timeout_ms, what, progress, error))
        return false;
    if (outcome == JOB_FAILED)
        return false;
    release_nodes(qmp, leaving);
    return true;
}

/* ---- jobs left behind ------------------------------------------------------------ */

static bool is_block_job(const char *type)
{
    return g_strcmp0(type, "stream") == 0 || g_strcmp0(type, "commit") == 0 ||
           g_strcmp0(type, "mirror") == 0;
}

/* One look at query-jobs: dismiss what concluded, cancel block jobs still
 * at work; *@busy: something is still there. */
static bool settle_once(vms_qmp *qmp, GHashTable *cancelled, bool *busy, vmsnap_error **error)
{
    g_autoptr(vms_qmp_value) jobs = vms_qmp_command_json(qmp, "query-jobs", NULL, error);
    if (!jobs)
        return false;
    *busy = false;
    size_t n = json_object_is_type(jobs, json_type_array) ? json_object_array_length(jobs) : 0;
    for (size_t i = 0; i < n; i++) {
        vms_qmp_value *job = json_object_array_get_idx(jobs, i);
        const char *id = vms_qmp_member_string(job, "id");
        const char *type = vms_qmp_member_string(job, "type");
        const char *status = vms_qmp_member_string(job, "status");
        if (!id || !status)
            continue;
        g_autofree char *qid = vms_qmp_json_quote(id);
        if (strcmp(status, "concluded") == 0) {
            g_autofree char *args = g_strdup_printf("{\"id\":%s}", qid);
            vms_qmp_command_best_effort(qmp, "job-dismiss", args);
            continue;
        }
        *busy = true;
        if (!is_block_job(type) || g_hash_table_contains(cancelled, id))
            continue;
        if (strcmp(status, "running") == 0 || strcmp(status, "ready") == 0 ||
            strcmp(status, "paused") == 0) {
            g_autofree char *args = g_strdup_printf("{\"device\":%s}", qid);
            vms_qmp_command_best_effort(qmp, "block-job-cancel", args);
            g_hash_table_add(cancelled, g_strdup(id));
        }
    }
    return true;
}

bool vms_qemu_jobs_settle(vms_qmp *qmp, int timeout_ms, vmsnap_error **error)
{
    gint64 deadline = vms_qmp_deadline_after(timeout_ms);
    g_autoptr(GHashTable) cancelled = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (;;) {
        bool busy = false;
        if (!settle_once(qmp, cancelled, &busy, error))
            return false;
        if (!busy)
            return true;
        if (vms_qmp_ms_left(deadline) == 0) {
            vms_error_set(error, VMSNAP_ERR_QEMU,
                          "QEMU still runs jobs of an interrupted vmsnap command after %d ms; "
                          "try again later",
                          timeout_ms);
            return false;
        }
        g_usleep(10 * 1000);
    }
}
