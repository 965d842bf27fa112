/*
 * snapshot_files.h: what a snapshot holds of each disk, and the image files
 * behind snapshots (docs/adr/0006-snapshot-data.md) — shared by create,
 * revert, delete and deactivate.
 *
 * The undo log records each overlay and internal tag an operation made, so
 * a failure half-way takes them back (newest first) and a success keeps
 * them (vms_undo_log_commit).
 */
#ifndef VMS_CORE_SNAPSHOT_FILES_H
#define VMS_CORE_SNAPSHOT_FILES_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/domain_conf.h"
#include "conf/snapshot_conf.h"
#include "conf/journal_conf.h"
#include "core/domain_state.h"

/* The request's or record's entry for @disk (by target or source file). */
const vms_snapshot_disk *vms_snapshot_disk_spec(const vms_snapshot_def *def,
                                                const vms_domain_disk *disk);

/* What a stored snapshot keeps of @disk: a disk it does not list, or lists
 * without a kind, it did not capture (VMS_SNAP_LOCATION_NO). */
vms_snap_location vms_snapshot_stored_kind(const vms_snapshot_def *def,
                                           const vms_domain_disk *disk);

/* Whether anything (even a dangling symlink) is at @path. */
bool vms_path_exists(const char *path);

/* A free overlay name next to @next_to: DIR/STEM.TAG.qcow2 (or -2, -3, ...),
 * STEM being the name of the image at the root of @next_to's chain. */
char *vms_overlay_free_path(const char *next_to, const char *tag, vmsnap_error **error);

typedef struct {
    GPtrArray *files; /* files created */
    GPtrArray *tags;  /* pairs: file, internal snapshot tag created */
    /* With a journal, each file and tag is recorded there before it is
     * made, so a recovery finds what a dead process made (core/journal.h). */
    vms_domain_state *state;
    vms_journal *journal;
} vms_undo_log;

void vms_undo_log_init(vms_undo_log *undo);
/* Also record every step in @journal (of the operation on @state). */
void vms_undo_log_init_journaled(vms_undo_log *undo, vms_domain_state *state, vms_journal *journal);
/* Record that @path / @tag in @file is about to be made: rolled back with
 * the rest, and in the journal first. */
bool vms_undo_note_file(vms_undo_log *undo, const char *path, vmsnap_error **error);
bool vms_undo_note_tag(vms_undo_log *undo, const char *file, const char *tag, vmsnap_error **error);
/* Take back every step, newest first, then forget them. */
void vms_undo_log_rollback(vms_undo_log *undo);
/* Roll back what is left and free the log (the g_auto cleanup). */
void vms_undo_log_clear(vms_undo_log *undo);
/* A success: keep what was done. */
void vms_undo_log_commit(vms_undo_log *undo);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(vms_undo_log, vms_undo_log_clear)

/* Create qcow2 overlay @path on @backing (never over an existing file) and
 * log it. */
bool vms_undo_make_overlay(vms_undo_log *undo, const char *path, const char *backing,
                           vms_disk_format backing_format, vmsnap_error **error);

/* Remove each of @files that neither the current state nor a snapshot
 * (other than @except) needs, directly or as a backing file; *@removed (if
 * not NULL) counts them. */
bool vms_files_remove_unused(vms_domain_state *state, GPtrArray *files, const vms_tree_node *except,
                             unsigned int *removed, vmsnap_error **error);

/* As vms_files_remove_unused(), with the backing files of @files as
 * candidates too, down each chain while they sit in the same directory as
 * the file above them: a file removed may have been the last use of its
 * backing file (a frozen file kept only as a backing file, ADR 0006).
 * vmsnap makes every file next to the one it builds on, so a backing file
 * elsewhere (a template other machines share) is never a candidate. */
bool vms_files_remove_unused_chains(vms_domain_state *state, GPtrArray *files,
                                    const vms_tree_node *except, unsigned int *removed,
                                    vmsnap_error **error);

#endif
