/* snapshot_files.c: what snapshots hold of each disk, and the image files
 * behind them (ADR 0006). */
#include "core/snapshot_files.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/journal.h"
#include "qemu/qemu_img.h"
#include "util/error.h"

/* Longest backing chain vmsnap follows: far more than any real tree. */
#define CHAIN_MAX 1024

/* --- what a snapshot holds of each disk ---------------------------------------- */

const vms_snapshot_disk *vms_snapshot_disk_spec(const vms_snapshot_def *def,
                                                const vms_domain_disk *disk)
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
vms_snap_location vms_snapshot_stored_kind(const vms_snapshot_def *def, const vms_domain_disk *disk)
{
    const vms_snapshot_disk *spec = vms_snapshot_disk_spec(def, disk);
    if (!spec || spec->snapshot == VMS_SNAP_LOCATION_DEFAULT)
        return VMS_SNAP_LOCATION_NO;
    return spec->snapshot;
}

/* --- files ------------------------------------------------------------------ */

bool vms_path_exists(const char *path)
{
    struct stat st;
    return g_lstat(path, &st) == 0;
}

/* The name stem of the image at the root of @file's backing chain
 * ("/img/vda.qcow2" -> "vda"), so overlays are named after the disk. */
static char *chain_stem(const char *file, vmsnap_error **error)
{
    g_autofree char *at = vms_qemu_img_chain_base(file, error);
    if (!at)
        return NULL;
    g_autofree char *base = g_path_get_basename(at);
    char *dot = strrchr(base, '.');
    if (dot && dot != base)
        *dot = '\0';
    return g_steal_pointer(&base);
}

/* DIR/STEM.TAG.qcow2, or with -2, -3, ... before the suffix if taken. */
char *vms_overlay_free_path(const char *next_to, const char *tag, vmsnap_error **error)
{
    g_autofree char *stem = chain_stem(next_to, error);
    if (!stem)
        return NULL;
    g_autofree char *dir = g_path_get_dirname(next_to);
    for (int n = 1; n < 10000; n++) {
        g_autofree char *base = n == 1 ? g_strdup_printf("%s.%s.qcow2", stem, tag)
                                       : g_strdup_printf("%s.%s-%d.qcow2", stem, tag, n);
        char *path = g_build_filename(dir, base, NULL);
        if (!vms_path_exists(path))
            return path;
        g_free(path);
    }
    vms_error_set(error, VMSNAP_ERR_IO, "no free file name for an overlay of '%s' in '%s'", next_to,
                  dir);
    return NULL;
}

void vms_undo_log_init(vms_undo_log *undo)
{
    undo->files = g_ptr_array_new_with_free_func(g_free);
    undo->tags = g_ptr_array_new_with_free_func(g_free);
}

void vms_undo_log_init_journaled(vms_undo_log *undo, vms_domain_state *state, vms_journal *journal)
{
    vms_undo_log_init(undo);
    undo->state = state;
    undo->journal = journal;
}

bool vms_undo_note_file(vms_undo_log *undo, const char *path, vmsnap_error **error)
{
    if (undo->journal && !vms_journal_note_file(undo->state, undo->journal, path, error))
        return false;
    g_ptr_array_add(undo->files, g_strdup(path));
    return true;
}

bool vms_undo_note_tag(vms_undo_log *undo, const char *file, const char *tag, vmsnap_error **error)
{
    if (undo->journal && !vms_journal_note_tag(undo->state, undo->journal, file, tag, error))
        return false;
    g_ptr_array_add(undo->tags, g_strdup(file));
    g_ptr_array_add(undo->tags, g_strdup(tag));
    return true;
}

/* Take back every step, newest first, then forget them. */
void vms_undo_log_rollback(vms_undo_log *undo)
{
    for (guint i = undo->tags->len; i >= 2; i -= 2)
        vms_qemu_img_snapshot_delete(g_ptr_array_index(undo->tags, i - 2),
                                     g_ptr_array_index(undo->tags, i - 1), NULL);
    for (guint i = undo->files->len; i > 0; i--)
        g_unlink(g_ptr_array_index(undo->files, i - 1));
    g_ptr_array_set_size(undo->tags, 0);
    g_ptr_array_set_size(undo->files, 0);
}

void vms_undo_log_clear(vms_undo_log *undo)
{
    vms_undo_log_rollback(undo);
    g_clear_pointer(&undo->files, g_ptr_array_unref);
    g_clear_pointer(&undo->tags, g_ptr_array_unref);
}

/* A success: keep what was done. */
void vms_undo_log_commit(vms_undo_log *undo)
{
    g_ptr_array_set_size(undo->tags, 0);
    g_ptr_array_set_size(undo->files, 0);
}

bool vms_undo_make_overlay(vms_undo_log *undo, const char *path, const char *backing,
                           vms_disk_format backing_format, vmsnap_error **error)
{
    if (vms_path_exists(path)) {
        vms_error_set(error, VMSNAP_ERR_OPERATION_DENIED,
                      "'%s' exists; vmsnap never overwrites a file: choose another file name",
                      path);
        return false;
    }
    if (!vms_undo_note_file(undo, path, error) ||
        !vms_qemu_img_create(path, "qcow2", 0, backing, vms_disk_format_to_string(backing_format),
                             error))
        return false;
    if (undo->journal)
        vms_journal_step(undo->journal, "overlay-made");
    return true;
}

/* Every file the current state or a snapshot needs, with the backing chains
 * under them. @except: a snapshot to leave out (being deleted). */
static GHashTable *vms_files_in_use(vms_domain_state *state, const vms_tree_node *except,
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
            if (vms_snapshot_stored_kind(def, disk) != VMS_SNAP_LOCATION_NO)
                g_ptr_array_add(todo, g_strdup(disk->source));
        }
    }
    while (todo->len > 0) {
        char *file = g_ptr_array_steal_index(todo, todo->len - 1);
        if (g_hash_table_contains(used, file) || !vms_path_exists(file)) {
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

/* The directories of every file in the current disks' backing chains:
 * where vmsnap makes and finds the domain's image files. */
static GHashTable *image_directories(const vms_domain_state *state, vmsnap_error **error)
{
    g_autoptr(GHashTable) dirs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; i < state->def->ndisks; i++) {
        g_autofree char *at = g_strdup(state->def->disks[i]->source);
        for (int depth = 0; at && depth < CHAIN_MAX && vms_path_exists(at); depth++) {
            g_hash_table_add(dirs, g_path_get_dirname(at));
            g_autofree char *backing = NULL;
            if (!vms_qemu_img_get_backing(at, &backing, NULL, error))
                return NULL;
            g_free(at);
            at = g_steal_pointer(&backing);
        }
    }
    return g_steal_pointer(&dirs);
}

/* A file that snapshot metadata names is removed only if it can be one of
 * the domain's images: a regular file (never through a symlink) in a
 * directory that holds the domain's current images. Metadata pointing
 * elsewhere (a redefined snapshot from another machine, an edited file)
 * never costs a file that is not the domain's. */
static bool removable(GHashTable *dirs, const char *file)
{
    struct stat st;
    g_autofree char *dir = g_path_get_dirname(file);
    return g_lstat(file, &st) == 0 && S_ISREG(st.st_mode) && g_hash_table_contains(dirs, dir);
}

/* Remove each of @files nothing uses any more; *@removed (if not NULL)
 * counts them. */
bool vms_files_remove_unused(vms_domain_state *state, GPtrArray *files, const vms_tree_node *except,
                             unsigned int *removed, vmsnap_error **error)
{
    g_autoptr(GHashTable) used = vms_files_in_use(state, except, error);
    g_autoptr(GHashTable) dirs = used ? image_directories(state, error) : NULL;
    if (!dirs)
        return false;
    for (guint i = 0; i < files->len; i++) {
        const char *file = g_ptr_array_index(files, i);
        if (g_hash_table_contains(used, file) || !vms_path_exists(file) || !removable(dirs, file))
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

/* --- files left without a use by removals below them ------------------------ */

static bool same_directory(const char *a, const char *b)
{
    g_autofree char *dir_a = g_path_get_dirname(a);
    g_autofree char *dir_b = g_path_get_dirname(b);
    return strcmp(dir_a, dir_b) == 0;
}

bool vms_files_remove_unused_chains(vms_domain_state *state, GPtrArray *files,
                                    const vms_tree_node *except, unsigned int *removed,
                                    vmsnap_error **error)
{
    g_autoptr(GPtrArray) candidates = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < files->len; i++) {
        g_autofree char *at = g_strdup(g_ptr_array_index(files, i));
        for (int depth = 0; at && depth < CHAIN_MAX && vms_path_exists(at); depth++) {
            if (g_hash_table_contains(seen, at))
                break;
            char *kept = g_strdup(at);
            g_ptr_array_add(candidates, kept);
            g_hash_table_add(seen, kept);
            g_autofree char *backing = NULL;
            if (!vms_qemu_img_get_backing(at, &backing, NULL, error))
                return false;
            g_free(at);
            at = backing && same_directory(backing, kept) ? g_steal_pointer(&backing) : NULL;
        }
    }
    return vms_files_remove_unused(state, candidates, except, removed, error);
}
