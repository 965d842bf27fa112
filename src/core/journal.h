/*
 * journal.h: the operation in flight on a domain (ADR 0008). Every
 * multi-step operation records its intent in domains/<dom>/journal before it
 * changes anything, notes each file or internal tag before it makes it, and
 * removes the journal when it is done. The next command that locks the
 * domain (or `vmsnap recover DOM`) finds a journal left by a process that
 * died and completes or undoes that operation first.
 *
 * Each step also passes a fault point "<op>.<step>" (util/fault.h).
 */
#ifndef VMS_CORE_JOURNAL_H
#define VMS_CORE_JOURNAL_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/journal_conf.h"
#include "core/domain_state.h"

/* Record @journal (its domain.xml and current snapshot as they are now
 * filled in) before the operation changes anything. */
bool vms_journal_begin(vms_domain_state *state, vms_journal *journal, vmsnap_error **error);
/* Note, before making it, an image file / an internal tag the operation
 * makes (undone if it is undone). */
bool vms_journal_note_file(vms_domain_state *state, vms_journal *journal, const char *path,
                           vmsnap_error **error);
bool vms_journal_note_tag(vms_domain_state *state, vms_journal *journal, const char *file,
                          const char *tag, vmsnap_error **error);
/* Rewrite the record after other changes to @journal. */
bool vms_journal_save(vms_domain_state *state, vms_journal *journal, vmsnap_error **error);
/* Move to @phase (recorded), then pass fault point "<op>.<phase>". */
bool vms_journal_set_phase(vms_domain_state *state, vms_journal *journal, const char *phase,
                           vmsnap_error **error);
/* Pass fault point "<op>.<step>" (for steps that change no record). */
void vms_journal_step(const vms_journal *journal, const char *step);
/* The operation is over (done, or undone in-process): the record goes. A
 * journal that cannot be removed is found by the next command, whose
 * recovery of a finished operation changes nothing. */
void vms_journal_end(vms_domain_state *state, vms_journal *journal);

/* With the domain's exclusive lock held (@state loaded with its tree):
 * complete or undo the operation a journal records, if there is one, and
 * remove the journal. *@report (may be NULL) gets a sentence saying what
 * was done, or NULL when there was nothing to recover. */
bool vms_journal_recover(vms_domain_state *state, char **report, vmsnap_error **error);

#endif
