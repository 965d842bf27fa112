/* snapshot_delete.c: deleting snapshots with their data, merging frozen
 * files into the files built on them (ADR 0006): qemu-img while the domain
 * is shut off; QMP block jobs for the files in the running QEMU's chains. */
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
#include "qemu/qemu_blockjob.h"
#include "qemu/qemu_img.h"
#include "qemu/qemu_snapshot.h"
#include "qemu/qmp.h"
#include "util/error.h"
#include "util/names.h"

/* --- delete ---------------------------------------------------------------------- */

/* The files vmsnap records for this domain: active layers, frozen files
 * and overlays of every snapshot. */
static GPtrArray *recorded_files(vms_domain_state *state)
{
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
    return files;
}

/* The files whose backing file is @frozen: what merging it rewrites.
 * Every recorded file and every file in their backing chains is looked at,
 * so a frozen file kept for a child's internal snapshots (no snapshot
 * records it any more) counts too. */
static GPtrArray *files_built_on(vms_domain_state *state, const char *frozen, vmsnap_error **error)
{
    g_autoptr(GPtrArray) children = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) todo = recorded_files(state);
    g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    while (todo->len > 0) {
        char *file = g_ptr_array_steal_index(todo, todo->len - 1);
        if (g_hash_table_contains(seen, file) || !vms_path_exists(file)) {
            g_free(file);
            continue;
        }
        g_hash_table_add(seen, file);
        g_autofree char *backing = NULL;
        if (!vms_qemu_img_get_backing(file, &backing, NULL, error))
            return NULL;
        if (!backing)
            continue;
        if (strcmp(backing, frozen) == 0 && strcmp(file, frozen) != 0)
            g_ptr_array_add(children, g_strdup(file));
        g_ptr_array_add(todo, g_steal_pointer(&backing));
    }
    return g_steal_pointer(&children);
}

/* Block jobs copy data and take as long as the data needs. */
#define JOB_TIMEOUT_MS (6 * 3600 * 1000)

/* What a data delete works with: the domain's metadata, and while it runs
 * a QMP connection to its QEMU. */
typedef struct {
    vms_domain_state *state;
    vms_journal *journal;   /* the operation's record (fault points) */
    vms_qmp *qmp;           /* NULL: shut off */
    GHashTable *open_files; /* running: every file in QEMU's chains */
    const vms_progress *progress;
} delete_ctx;

static void delete_ctx_clear(delete_ctx *ctx)
{
    g_clear_pointer(&ctx->qmp, vms_qmp_free);
    g_clear_pointer(&ctx->open_files, g_hash_table_unref);
}

static char *device_id_of(const vms_domain_disk *disk)
{
    return g_strdup_printf("vms-dev-%s", disk->target);
}

/* The running chain of @disk's device, active layer first. */
static char **running_chain(delete_ctx *ctx, const vms_domain_disk *disk, vmsnap_error **error)
{
    g_autofree char *device = device_id_of(disk);
    return vms_qemu_device_chain(ctx->qmp, device, error);
}

static int index_in(char **files, const char *file)
{
    for (int i = 0; files[i]; i++)
        if (strcmp(files[i], file) == 0)
            return i;
    return -1;
}

/* @file's size in bytes (0 if unknown): the most a merge of it copies. */
static uint64_t file_size(const char *file)
{
    struct stat st;
    return g_stat(file, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Whether @file holds internal snapshots (qcow2 tags). */
static bool holds_tags(const char *file, bool *holds, vmsnap_error **error)
{
    g_auto(GStrv) tags = vms_qemu_img_snapshot_list(file, error);
    if (!tags)
        return false;
    *holds = tags[0] != NULL;
    return true;
}

/* Everything that could stop deleting @node's data, checked for every disk
 * before any file changes, so a refusal changes nothing. */
static bool check_delete(delete_ctx *ctx, const vms_tree_node *node, vmsnap_error **error)
{
    const vms_snapshot_def *def = vms_node_def(node);
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++) {
        const vms_domain_disk *disk = def->domain->disks[i];
        if (vms_snapshot_stored_kind(def, disk) != VMS_SNAP_LOCATION_INTERNAL)
            continue;
        if (!vms_path_exists(disk->source)) {
            vms_error_set(error, VMSNAP_ERR_IO,
                          "the file '%s' holding snapshot '%s' (disk %s) is missing; delete only "
                          "the snapshot's metadata with --metadata",
                          disk->source, def->name, disk->target);
            return false;
        }
        if (!ctx->qmp || !g_hash_table_contains(ctx->open_files, disk->source))
            continue;
        /* QEMU deletes internal snapshots of a disk's active layer only; a
         * file below it is open read-only and locked against qemu-img. */
        g_auto(GStrv) chain = running_chain(ctx, disk, error);
        if (!chain)
            return false;
        if (index_in(chain, disk->source) != 0) {
            vms_error_set(error, VMSNAP_ERR_INVALID_STATE,
                          "snapshot '%s' keeps disk %s inside '%s', which the running domain "
                          "'%s' reads as a backing file; QEMU can delete internal snapshots of "
                          "the active layer only: shut the domain down first",
                          def->name, disk->target, disk->source, ctx->state->name);
            return false;
        }
    }
    return true;
}

/* Remove internal snapshot @tag from @file: through QEMU when it is the
 * running disk's active layer, else with qemu-img. */
static bool delete_tag(delete_ctx *ctx, const vms_domain_disk *disk, const char *tag,
                       vmsnap_error **error)
{
    const char *file = disk->source;
    if (ctx->qmp && g_hash_table_contains(ctx->open_files, file)) {
        g_autofree char *device = device_id_of(disk);
        return vms_qemu_delete_internal(ctx->qmp, device, tag, error);
    }
    g_auto(GStrv) tags = vms_qemu_img_snapshot_list(file, error);
    if (!tags)
        return false;
    return !g_strv_contains((const char *const *)tags, tag) ||
           vms_qemu_img_snapshot_delete(file, tag, error);
}

/* The running domain's disk @target now writes to @file (an active commit
 * moved it): domain.xml and @state follow. */
static bool record_active_layer(delete_ctx *ctx, const vms_domain_disk *frozen,
                                vmsnap_error **error)
{
    vms_domain_disk *disk = vms_domain_def_find_disk(ctx->state->def, frozen->target);
    if (!disk)
        return true;
    g_free(disk->source);
    disk->source = g_strdup(frozen->source);
    disk->format = frozen->format;
    g_autofree char *xml = vms_domain_def_format(ctx->state->def, 0);
    return vms_store_write_domain_xml(ctx->state->store, ctx->state->name, xml, error);
}

/* An active commit waiting for the second phase of a delete. */
typedef struct {
    const vms_domain_disk *frozen; /* the deleted snapshot's record of the disk */
    char *child;                   /* the active layer, committed into frozen->source */
} pending_commit;

static void pending_commit_clear(gpointer data)
{
    g_free(((pending_commit *)data)->child);
}

/* Merge @child, the file of the running chain built on frozen file @frozen
 * (whose backing file is @base, or none), so @frozen leaves the chain.
 * When @child is the active layer and the only file built on @frozen, the
 * cheaper direction is to commit @child down into @frozen (the base image
 * of a first snapshot is usually far larger than what was written since);
 * that changes @frozen, the snapshot's own point, so it is queued on
 * @commits for after every step that keeps the point. Otherwise @frozen's
 * data is streamed up into @child. */
static bool merge_running(delete_ctx *ctx, const vms_domain_disk *frozen, const char *child,
                          bool child_is_active, guint nchildren, const char *base, GArray *commits,
                          vmsnap_error **error)
{
    if (child_is_active && nchildren == 1) {
        pending_commit commit = {frozen, g_strdup(child)};
        g_array_append_val(commits, commit);
        return true;
    }
    g_autofree char *device = device_id_of(frozen);
    g_autofree char *what = g_strdup_printf("merging %s", frozen->target);
    return vms_qemu_blockjob_stream(ctx->qmp, device, child, base, what, ctx->progress,
                                    JOB_TIMEOUT_MS, error);
}

static bool commit_active(delete_ctx *ctx, const pending_commit *commit, vmsnap_error **error)
{
    g_autofree char *device = device_id_of(commit->frozen);
    g_autofree char *what = g_strdup_printf("merging %s", commit->frozen->target);
    return vms_qemu_blockjob_commit(ctx->qmp, device, commit->child, commit->frozen->source, what,
                                    ctx->progress, JOB_TIMEOUT_MS, error) &&
           record_active_layer(ctx, commit->frozen, error);
}

/* Merge the frozen file of @disk into every file built on it. A file built
 * on it that holds internal snapshots keeps it instead: a rebase or stream
 * rewrites a file's current state only, and its internal snapshots would
 * then read the new backing file; so the frozen file stays as a plain
 * backing file (the file-use rule keeps it) and only the snapshot's point
 * goes. */
static bool merge_frozen_file(delete_ctx *ctx, const vms_domain_disk *disk, GArray *commits,
                              vmsnap_error **error)
{
    const char *frozen = disk->source;
    if (!vms_path_exists(frozen))
        return true; /* merged already */
    g_autofree char *base = NULL;
    g_autofree char *base_format = NULL;
    if (!vms_qemu_img_get_backing(frozen, &base, &base_format, error))
        return false;
    g_autoptr(GPtrArray) children = files_built_on(ctx->state, frozen, error);
    if (!children)
        return false;
    for (guint c = 0; c < children->len; c++) {
        bool holds = false;
        if (!holds_tags(g_ptr_array_index(children, c), &holds, error))
            return false;
        if (holds)
            return true;
    }
    /* The child in QEMU's chain, if the frozen file is in it. */
    g_autofree char *running_child = NULL;
    bool child_is_active = false;
    if (ctx->qmp && g_hash_table_contains(ctx->open_files, frozen)) {
        g_auto(GStrv) chain = running_chain(ctx, disk, error);
        if (!chain)
            return false;
        int at = index_in(chain, frozen);
        if (at > 0) {
            running_child = g_strdup(chain[at - 1]);
            child_is_active = at == 1;
        }
    }
    /* Files outside QEMU: a safe rebase copies what they read from the
     * frozen file. QEMU holds the frozen and base files read-only, which
     * lets qemu-img read them. */
    g_autofree char *what = g_strdup_printf("merging %s", disk->target);
    uint64_t size = file_size(frozen);
    for (guint c = 0; c < children->len; c++) {
        const char *child = g_ptr_array_index(children, c);
        if (g_strcmp0(child, running_child) == 0)
            continue;
        /* qemu-img says nothing while it works: one step per file. */
        vms_progress_report(ctx->progress, what, size * c / children->len, size);
        if (!vms_qemu_img_rebase(child, base, base_format, false, error))
            return false;
        vms_progress_report(ctx->progress, what, size * (c + 1) / children->len, size);
    }
    return !running_child || merge_running(ctx, disk, running_child, child_is_active, children->len,
                                           base, commits, error);
}

/* A step that takes @node's own point away failed after another one
 * succeeded: the snapshot cannot be kept whole, so it goes (its remaining
 * files stay as backing files while something is built on them). */
static void finish_partial_delete(delete_ctx *ctx, const vms_tree_node *node, GPtrArray *touched,
                                  vmsnap_error **error)
{
    const char *name = vms_tree_node_name(node);
    vms_error_prefix(error,
                     "snapshot '%s' is deleted, but not all of its data could be merged (its "
                     "files stay as backing files): ",
                     name);
    vms_snapshot_meta_remove_one_locked(ctx->state, (vms_tree_node *)node, NULL);
    vms_files_remove_unused_chains(ctx->state, touched, NULL, NULL, NULL);
}

/* Delete @node's data in two phases: first every step that keeps every
 * snapshot's contents, @node's included (rebases, streams), so a failure
 * there leaves @node whole; then the steps that take its point away
 * (internal tags, active commits into its frozen files). */
static bool delete_data_one(delete_ctx *ctx, const vms_tree_node *node, vmsnap_error **error)
{
    if (!check_delete(ctx, node, error))
        return false;
    const vms_snapshot_def *def = vms_node_def(node);
    g_autoptr(GPtrArray) touched = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) commits = g_array_new(FALSE, TRUE, sizeof(pending_commit));
    g_array_set_clear_func(commits, pending_commit_clear);
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++) {
        const vms_domain_disk *disk = def->domain->disks[i];
        vms_snap_location kind = vms_snapshot_stored_kind(def, disk);
        if (kind == VMS_SNAP_LOCATION_EXTERNAL && !merge_frozen_file(ctx, disk, commits, error))
            return false;
        if (kind == VMS_SNAP_LOCATION_EXTERNAL)
            vms_journal_step(ctx->journal, "merged");
        if (kind != VMS_SNAP_LOCATION_NO)
            g_ptr_array_add(touched, g_strdup(disk->source));
    }
    bool changed = false;
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++) {
        const vms_domain_disk *disk = def->domain->disks[i];
        if (vms_snapshot_stored_kind(def, disk) != VMS_SNAP_LOCATION_INTERNAL)
            continue;
        if (!delete_tag(ctx, disk, vms_snapshot_def_internal_tag(def), error))
            goto failed;
        changed = true;
        vms_journal_step(ctx->journal, "tag-deleted");
    }
    for (guint i = 0; i < commits->len; i++) {
        const pending_commit *commit = &g_array_index(commits, pending_commit, i);
        if (!commit_active(ctx, commit, error))
            goto failed;
        changed = true;
        vms_journal_step(ctx->journal, "committed");
        g_ptr_array_add(touched, g_strdup(commit->child));
    }
    /* Files kept only for this snapshot (a frozen file, or a file a revert
     * left behind because it held this snapshot's internal tag) go too. */
    return vms_memory_file_remove(def, error) &&
           vms_files_remove_unused_chains(ctx->state, touched, node, NULL, error);

failed:
    if (changed)
        finish_partial_delete(ctx, node, touched, error);
    return false;
}

/* Connect to the domain's QEMU if it runs (or is paused). */
static bool delete_ctx_init(delete_ctx *ctx, vms_domain_state *state, const vms_progress *progress,
                            vmsnap_error **error)
{
    *ctx = (delete_ctx){.state = state, .progress = progress};
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    if (!vms_domain_require_not_crashed(state->store, state->name, &run, error))
        return false;
    if (run == VMSNAP_DOMAIN_STATE_SHUTOFF)
        return true;
    ctx->qmp = vms_domain_connect_qmp(state->store, state->name, error);
    if (!ctx->qmp)
        return false;
    ctx->open_files = vms_qemu_open_files(ctx->qmp, error);
    return ctx->open_files != NULL;
}

/* Reread QEMU's chains after a step that may have changed them. */
static bool refresh_open_files(delete_ctx *ctx, vmsnap_error **error)
{
    if (!ctx->qmp)
        return true;
    g_hash_table_unref(ctx->open_files);
    ctx->open_files = vms_qemu_open_files(ctx->qmp, error);
    return ctx->open_files != NULL;
}

static void add_snapshot_files(const vms_snapshot_def *def, GPtrArray *files);

/* The record of deleting or discarding @names: every step can be taken
 * again, so a recovery runs the operation again for the snapshots still
 * there, then removes the candidates (their files) nothing uses. */
static vms_journal *journal_begin_delete(vms_domain_state *state, const char *op, GPtrArray *names,
                                         vmsnap_error **error)
{
    g_autoptr(vms_journal) journal = vms_journal_new(op);
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        g_ptr_array_add(journal->names, g_strdup(name));
        vms_tree_node *node = vms_tree_lookup(state->tree, name);
        if (node)
            add_snapshot_files(vms_node_def(node), journal->candidates);
    }
    if (!vms_journal_begin(state, journal, error))
        return NULL;
    return g_steal_pointer(&journal);
}

bool vms_snapshot_data_delete_locked(vms_domain_state *state, GPtrArray *names,
                                     const vms_progress *progress, vmsnap_error **error)
{
    delete_ctx ctx;
    g_autoptr(vms_journal) journal = journal_begin_delete(state, "delete", names, error);
    if (!journal)
        return false;
    bool ok = delete_ctx_init(&ctx, state, progress, error);
    ctx.journal = journal;
    for (guint i = 0; ok && i < names->len; i++) {
        vms_tree_node *node = vms_tree_lookup(state->tree, g_ptr_array_index(names, i));
        ok = delete_data_one(&ctx, node, error) &&
             vms_snapshot_meta_remove_one_locked(state, node, error) >= 0 &&
             refresh_open_files(&ctx, error);
        if (ok)
            vms_journal_step(journal, "metadata-removed");
    }
    delete_ctx_clear(&ctx);
    vms_journal_end(state, journal);
    return ok;
}

/* --- discard --------------------------------------------------------------- */

/* The files @def's data lives in: its frozen (or internal-tag) files and
 * its overlays. */
static void add_snapshot_files(const vms_snapshot_def *def, GPtrArray *files)
{
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++)
        if (vms_snapshot_stored_kind(def, def->domain->disks[i]) != VMS_SNAP_LOCATION_NO)
            g_ptr_array_add(files, g_strdup(def->domain->disks[i]->source));
    for (size_t i = 0; i < def->ndisks; i++)
        if (def->disks[i]->source_file)
            g_ptr_array_add(files, g_strdup(def->disks[i]->source_file));
}

/* Drop one snapshot's data without merging it anywhere: its internal tags
 * and memory file go; its files are collected in @files for removal once
 * nothing uses them. */
static bool discard_data_one(delete_ctx *ctx, const vms_tree_node *node, GPtrArray *files,
                             vmsnap_error **error)
{
    if (!check_delete(ctx, node, error))
        return false;
    const vms_snapshot_def *def = vms_node_def(node);
    for (size_t i = 0; def->domain && i < def->domain->ndisks; i++) {
        const vms_domain_disk *disk = def->domain->disks[i];
        if (vms_snapshot_stored_kind(def, disk) == VMS_SNAP_LOCATION_INTERNAL &&
            !delete_tag(ctx, disk, vms_snapshot_def_internal_tag(def), error))
            return false;
    }
    add_snapshot_files(def, files);
    return vms_memory_file_remove(def, error);
}

bool vms_snapshot_data_discard_locked(vms_domain_state *state, GPtrArray *names,
                                      const vms_progress *progress, vmsnap_error **error)
{
    delete_ctx ctx;
    g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(vms_journal) journal = journal_begin_delete(state, "discard", names, error);
    if (!journal)
        return false;
    bool ok = delete_ctx_init(&ctx, state, progress, error);
    ctx.journal = journal;
    for (guint i = 0; ok && i < names->len; i++) {
        vms_tree_node *node = vms_tree_lookup(state->tree, g_ptr_array_index(names, i));
        ok = discard_data_one(&ctx, node, files, error) &&
             vms_snapshot_meta_remove_one_locked(state, node, error) >= 0;
        if (ok)
            vms_journal_step(journal, "metadata-removed");
    }
    delete_ctx_clear(&ctx);
    ok = ok && vms_files_remove_unused_chains(state, files, NULL, NULL, error);
    vms_journal_end(state, journal);
    return ok;
}

int vms_snapshot_data_delete(vms_store *store, const char *dom, const char *name,
                             vms_delete_scope scope, const vms_progress *progress,
                             vmsnap_error **error)
{
    g_autoptr(vms_domain_state) state =
        vms_domain_state_load(store, dom, VMS_LOAD_EXCLUSIVE | VMS_LOAD_SNAPSHOTS, error);
    if (!state)
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
    return vms_snapshot_data_delete_locked(state, doomed, progress, error) ? (int)doomed->len : -1;
}
