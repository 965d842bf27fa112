/* journal.c: recording operations in flight, and finishing or undoing one a
 * dead process left (see the header and ADR 0008). */
#include "core/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "core/domain_lifecycle.h"
#include "core/memory_file.h"
#include "core/snapshot_data.h"
#include "core/snapshot_files.h"
#include "memstate/memstate.h"
#include "qemu/qemu_blockjob.h"
#include "qemu/qemu_img.h"
#include "qemu/qmp.h"
#include "util/error.h"
#include "util/fault.h"

/* Jobs of the dead process may still run in QEMU (a memory save into the
 * disk's qcow2 takes as long as the memory needs). */
#define SETTLE_TIMEOUT_MS (10 * 60 * 1000)
#define QMP_TIMEOUT_MS    5000

/* --- recording --------------------------------------------------------------- */

static bool write_record(vms_domain_state *state, const vms_journal *journal, vmsnap_error **error)
{
    g_autofree char *text = vms_journal_format(journal);
    if (vms_store_write_journal(state->store, state->name, text, error))
        return true;
    vms_error_prefix(error, "cannot record the operation in the journal: ");
    return false;
}

void vms_journal_step(const vms_journal *journal, const char *step)
{
    if (!journal)
        return;
    g_autofree char *point = g_strdup_printf("%s.%s", journal->op, step);
    vms_fault_point(point);
}

bool vms_journal_begin(vms_domain_state *state, vms_journal *journal, vmsnap_error **error)
{
    if (!journal->domain_before)
        journal->domain_before = vms_domain_def_format(state->def, 0);
    if (!journal->current_before && state->current)
        journal->current_before = g_strdup(state->current);
    if (!write_record(state, journal, error))
        return false;
    vms_journal_step(journal, "begun");
    return true;
}

bool vms_journal_save(vms_domain_state *state, vms_journal *journal, vmsnap_error **error)
{
    return write_record(state, journal, error);
}

bool vms_journal_note_file(vms_domain_state *state, vms_journal *journal, const char *path,
                           vmsnap_error **error)
{
    g_ptr_array_add(journal->created, g_strdup(path));
    return write_record(state, journal, error);
}

bool vms_journal_note_tag(vms_domain_state *state, vms_journal *journal, const char *file,
                          const char *tag, vmsnap_error **error)
{
    g_ptr_array_add(journal->tags, g_strdup(file));
    g_ptr_array_add(journal->tags, g_strdup(tag));
    return write_record(state, journal, error);
}

bool vms_journal_set_phase(vms_domain_state *state, vms_journal *journal, const char *phase,
                           vmsnap_error **error)
{
    g_free(journal->phase);
    journal->phase = g_strdup(phase);
    if (!write_record(state, journal, error))
        return false;
    vms_journal_step(journal, phase);
    return true;
}

void vms_journal_end(vms_domain_state *state, vms_journal *journal)
{
    vms_journal_step(journal, "finishing");
    vms_store_remove_journal(state->store, state->name, NULL);
}

/* --- shared recovery steps ------------------------------------------------------ */

/* *@qmp: the QEMU of the domain if one runs (or is paused), with every job
 * the dead process started settled; NULL when none runs. */
static bool settled_qemu(vms_domain_state *state, vmsnap_domain_state *run, vms_qmp **qmp,
                         vmsnap_error **error)
{
    *qmp = NULL;
    g_auto(vms_run_status) status = {0};
    if (!vms_domain_get_run_status_locked(state->store, state->name, &status, error))
        return false;
    *run = status.state;
    if (status.state != VMSNAP_DOMAIN_STATE_RUNNING && status.state != VMSNAP_DOMAIN_STATE_PAUSED)
        return true;
    g_autoptr(vms_qmp) found = vms_domain_connect_qmp(state->store, state->name, error);
    if (!found || !vms_qemu_jobs_settle(found, SETTLE_TIMEOUT_MS, error))
        return false;
    *qmp = g_steal_pointer(&found);
    return true;
}

/* The guest ran when the operation began: let it run again (a dead vmsnap
 * may have left it stopped, or in 'postmigrate' with inactive disks). */
static bool resume_guest(vms_qmp *qmp, vmsnap_error **error)
{
    g_autofree char *reply = vms_qmp_command(qmp, "query-status", NULL, QMP_TIMEOUT_MS, error);
    if (!reply)
        return false;
    g_autofree char *status = vms_qmp_json_get_string(reply, "status");
    if (g_strcmp0(status, "running") == 0)
        return true;
    g_autofree char *cont = vms_qmp_command(qmp, "cont", NULL, QMP_TIMEOUT_MS, error);
    return cont != NULL;
}

/* Put domain.xml and the current snapshot back as the journal found them. */
static bool restore_metadata(vms_domain_state *state, const vms_journal *journal,
                             vmsnap_error **error)
{
    return (!journal->domain_before ||
            vms_store_write_domain_xml(state->store, state->name, journal->domain_before, error)) &&
           vms_store_write_current(state->store, state->name, journal->current_before, error);
}

/* Remove the files and tags the operation made (none is in use). */
static void remove_created(const vms_journal *journal)
{
    for (guint i = journal->tags->len; i >= 2; i -= 2) {
        const char *file = g_ptr_array_index(journal->tags, i - 2);
        const char *tag = g_ptr_array_index(journal->tags, i - 1);
        g_auto(GStrv) tags = vms_path_exists(file) ? vms_qemu_img_snapshot_list(file, NULL) : NULL;
        if (tags && g_strv_contains((const char *const *)tags, tag))
            vms_qemu_img_snapshot_delete(file, tag, NULL);
    }
    for (guint i = journal->created->len; i > 0; i--)
        g_unlink(g_ptr_array_index(journal->created, i - 1));
    if (journal->memory_file)
        g_unlink(journal->memory_file);
}

static const char *first_name(const vms_journal *journal)
{
    return journal->names->len > 0 ? g_ptr_array_index(journal->names, 0) : "";
}

/* --- create ------------------------------------------------------------------ */

/* Did the snapshot's disks switch: QEMU (running) writes to an overlay it
 * made, or a tag it made exists. Shut off, the phase says. */
static bool create_switched(const vms_journal *journal, vms_qmp *qmp, bool *switched,
                            vmsnap_error **error)
{
    *switched = true;
    if (g_strcmp0(journal->phase, "switched") == 0)
        return true;
    *switched = false;
    if (!qmp)
        return true;
    g_autoptr(GHashTable) open = vms_qemu_open_files(qmp, error);
    if (!open)
        return false;
    for (guint i = 0; i < journal->created->len; i++)
        if (g_hash_table_contains(open, g_ptr_array_index(journal->created, i)))
            *switched = true;
    for (guint i = 0; i + 1 < journal->tags->len; i += 2) {
        g_auto(GStrv) tags = vms_qemu_img_snapshot_list(g_ptr_array_index(journal->tags, i), NULL);
        if (tags &&
            g_strv_contains((const char *const *)tags, g_ptr_array_index(journal->tags, i + 1)))
            *switched = true;
    }
    return true;
}

/* A memory file the save finished (its trailer written); its checksum. */
static bool memory_complete(const char *path, char checksum[33])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = vms_memstate_file_checksum(fd, checksum, NULL);
    close(fd);
    return ok;
}

/* The disks switched: the snapshot stays, with its memory if the save
 * finished, else as the disk-only snapshot it then is. */
static bool finish_create(vms_domain_state *state, const vms_journal *journal, bool *disk_only,
                          vmsnap_error **error)
{
    const char *name = first_name(journal);
    if (journal->flags & VMSNAP_SNAPSHOT_CREATE_NO_METADATA) {
        /* Nothing recorded: the data stays as taken; an unfinished memory
         * file is no use to anyone. */
        char checksum[33];
        if (journal->memory_file && !memory_complete(journal->memory_file, checksum))
            g_unlink(journal->memory_file);
        return true;
    }
    g_autoptr(vms_snapshot_def) def = vms_domain_state_read_snapshot(state, name, error);
    if (!def)
        return false;
    char checksum[33];
    if (def->memory == VMS_SNAP_LOCATION_EXTERNAL && def->memory_file &&
        memory_complete(def->memory_file, checksum)) {
        g_free(def->checksum_type);
        g_free(def->checksum_value);
        def->checksum_type = g_strdup("xxh3-128");
        def->checksum_value = g_strdup(checksum);
    } else if (def->memory == VMS_SNAP_LOCATION_EXTERNAL) {
        if (def->memory_file)
            g_unlink(def->memory_file);
        def->memory = VMS_SNAP_LOCATION_NO;
        g_clear_pointer(&def->memory_file, g_free);
        g_clear_pointer(&def->checksum_type, g_free);
        g_clear_pointer(&def->checksum_value, g_free);
        def->compression = VMS_MEM_COMPRESSION_NONE;
        def->has_pause = false;
        def->state = VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT;
        *disk_only = true;
    }
    return vms_domain_state_save_snapshot(state, def, error) &&
           vms_domain_state_set_current(state, name, error);
}

static bool recover_create(vms_domain_state *state, const vms_journal *journal, char **report,
                           vmsnap_error **error)
{
    const char *name = first_name(journal);
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    g_autoptr(vms_qmp) qmp = NULL;
    if (!settled_qemu(state, &run, &qmp, error))
        return false;
    bool switched = false;
    if (!create_switched(journal, qmp, &switched, error))
        return false;
    bool disk_only = false;
    if (switched) {
        if (!finish_create(state, journal, &disk_only, error))
            return false;
    } else {
        remove_created(journal);
        if (!restore_metadata(state, journal, error))
            return false;
        if (vms_store_snapshot_exists(state->store, state->name, name) &&
            !vms_store_remove_snapshot(state->store, state->name, name, error))
            return false;
    }
    if (qmp && journal->was_running && !resume_guest(qmp, error))
        return false;
    *report = switched
                  ? g_strdup_printf("the interrupted creation of snapshot '%s' was "
                                    "completed%s",
                                    name,
                                    disk_only ? " as a disk-only snapshot (its memory "
                                                "was not saved)"
                                              : "")
                  : g_strdup_printf("the interrupted creation of snapshot '%s' was undone", name);
    return true;
}

/* --- revert ------------------------------------------------------------------ */

/* A revert leaves the running state behind whatever happens, so an
 * interrupted one is completed: what it made goes, domain.xml is put back,
 * and the revert runs again from there. Once the reverted state was up
 * ("started"), only the discard of the state left behind remains. */
static bool recover_revert(vms_domain_state *state, const vms_journal *journal, char **report,
                           vmsnap_error **error)
{
    const char *name = first_name(journal);
    if (g_strcmp0(journal->phase, "started") == 0) {
        if (!vms_files_remove_unused_chains(state, journal->candidates, NULL, NULL, error))
            return false;
    } else {
        vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
        g_autoptr(vms_qmp) qmp = NULL;
        if (!settled_qemu(state, &run, &qmp, error))
            return false;
        bool began = g_strcmp0(journal->phase, "begun") == 0;
        /* Past "begun" the QEMU running (if any) is a half-restored one. */
        if (!began && run != VMSNAP_DOMAIN_STATE_SHUTOFF &&
            !vms_domain_stop_locked(state->store, state->name, error))
            return false;
        g_clear_pointer(&qmp, vms_qmp_free);
        remove_created(journal);
        if (!restore_metadata(state, journal, error))
            return false;
        vms_domain_def_free(state->def);
        state->def = vms_domain_state_read_definition(state->store, state->name, error);
        if (!state->def ||
            vms_snapshot_data_revert_locked(state, name, journal->flags, NULL, error) < 0)
            return false;
    }
    /* A discard (deactivate) to follow: it was the rest of the operation. */
    g_autoptr(GPtrArray) doomed = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 1; i < journal->names->len; i++)
        if (vms_tree_lookup(state->tree, g_ptr_array_index(journal->names, i)))
            g_ptr_array_add(doomed, g_strdup(g_ptr_array_index(journal->names, i)));
    if (doomed->len > 0 && !vms_snapshot_data_discard_locked(state, doomed, NULL, error))
        return false;
    *report =
        journal->names->len > 1
            ? g_strdup_printf("the interrupted discard of snapshot '%s' was completed",
                              (char *)g_ptr_array_index(journal->names, journal->names->len - 1))
            : g_strdup_printf("the interrupted revert to snapshot '%s' was completed", name);
    return true;
}

/* --- delete and discard ------------------------------------------------------ */

/* Every step of a delete can be taken again: an interrupted one runs again
 * for the snapshots still there, then the files they left unused go. */
static bool recover_delete(vms_domain_state *state, const vms_journal *journal, bool discard,
                           char **report, vmsnap_error **error)
{
    vmsnap_domain_state run = VMSNAP_DOMAIN_STATE_SHUTOFF;
    g_autoptr(vms_qmp) qmp = NULL;
    if (!settled_qemu(state, &run, &qmp, error))
        return false;
    g_clear_pointer(&qmp, vms_qmp_free);
    g_autoptr(GPtrArray) left = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < journal->names->len; i++) {
        const char *name = g_ptr_array_index(journal->names, i);
        if (vms_tree_lookup(state->tree, name))
            g_ptr_array_add(left, g_strdup(name));
    }
    bool ok =
        left->len == 0 || (discard ? vms_snapshot_data_discard_locked(state, left, NULL, error)
                                   : vms_snapshot_data_delete_locked(state, left, NULL, error));
    if (!ok || !vms_files_remove_unused_chains(state, journal->candidates, NULL, NULL, error))
        return false;
    *report = g_strdup_printf("the interrupted %s of snapshot '%s' was completed",
                              discard ? "discard" : "delete", first_name(journal));
    return true;
}

/* --- dispatch ------------------------------------------------------------------ */

bool vms_journal_recover(vms_domain_state *state, char **report, vmsnap_error **error)
{
    g_autofree char *sentence = NULL;
    bool absent = false;
    g_autofree char *text = vms_store_read_journal(state->store, state->name, &absent, error);
    if (report)
        *report = NULL;
    if (!text)
        return absent;
    vmsnap_error *err = NULL;
    g_autoptr(vms_journal) journal = vms_journal_parse(text, &err);
    if (!journal) {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "the journal of domain '%s' cannot be read (%s), so an interrupted "
                      "operation cannot be completed",
                      state->name, vmsnap_error_get_message(err));
        vmsnap_error_free(err);
        return false;
    }
    bool ok;
    if (strcmp(journal->op, "create") == 0)
        ok = recover_create(state, journal, &sentence, error);
    else if (strcmp(journal->op, "revert") == 0)
        ok = recover_revert(state, journal, &sentence, error);
    else if (strcmp(journal->op, "delete") == 0 || strcmp(journal->op, "discard") == 0)
        ok = recover_delete(state, journal, strcmp(journal->op, "discard") == 0, &sentence, error);
    else {
        vms_error_set(error, VMSNAP_ERR_CORRUPT,
                      "the journal of domain '%s' records an operation this vmsnap does not "
                      "know ('%s')",
                      state->name, journal->op);
        return false;
    }
    if (!ok) {
        vms_error_prefix(
            error, "completing an interrupted operation on domain '%s' failed: ", state->name);
        return false;
    }
    if (!vms_store_remove_journal(state->store, state->name, error))
        return false;
    if (report)
        *report = g_steal_pointer(&sentence);
    return true;
}
