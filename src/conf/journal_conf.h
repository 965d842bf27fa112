/*
 * journal_conf.h: the journal record, domains/<dom>/journal (format in
 * docs/formats/journal.md). Text in, struct out and back; no I/O (the
 * store writes the file, core/journal.c decides what it means).
 */
#ifndef VMS_CONF_JOURNAL_CONF_H
#define VMS_CONF_JOURNAL_CONF_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#define VMS_JOURNAL_VERSION 1

typedef struct {
    char *op;              /* "create", "revert", "delete", "discard" */
    GPtrArray *names;      /* the snapshots it works on, in order */
    unsigned int flags;    /* the operation's API flags */
    char *phase;           /* "begun", or how far it got (core/journal.c) */
    bool was_running;      /* the guest ran when the operation began */
    char *domain_before;   /* domain.xml as it was, NULL if not recorded */
    char *current_before;  /* the current snapshot as it was, NULL: none */
    GPtrArray *created;    /* image files the operation made */
    GPtrArray *tags;       /* pairs: file, internal snapshot tag the operation made */
    char *memory_file;     /* a memory file the operation writes, NULL: none */
    GPtrArray *candidates; /* files to remove once nothing uses them */
} vms_journal;

vms_journal *vms_journal_new(const char *op);
void vms_journal_free(vms_journal *journal);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_journal, vms_journal_free)

/* Text of @journal (never fails). */
char *vms_journal_format(const vms_journal *journal);

/* Parse journal text (untrusted: fuzzed). VMSNAP_ERR_CORRUPT naming the
 * line on anything malformed or unknown. */
vms_journal *vms_journal_parse(const char *text, vmsnap_error **error);

#endif
