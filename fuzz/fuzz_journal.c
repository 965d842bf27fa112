/*
 * fuzz_journal.c: the journal record parser (conf/journal_conf.c). Whatever
 * parses must format to text that parses to the same text again: recovery
 * rewrites journals it read.
 */
#include "fuzz_common.h"

#include <glib.h>
#include <string.h>

#include "conf/journal_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    vmsnap_error *err = NULL;
    g_autoptr(vms_journal) journal = vms_journal_parse(text, &err);
    if (!journal) {
        fuzz_check_failure("vms_journal_parse", err);
        vmsnap_error_free(err);
        return 0;
    }
    fuzz_check_success("vms_journal_parse", err);
    g_autofree char *first = vms_journal_format(journal);
    g_autoptr(vms_journal) again = vms_journal_parse(first, &err);
    if (!again)
        fuzz_fail("a formatted journal does not parse: %s\n%s", vmsnap_error_get_message(err),
                  first);
    g_autofree char *second = vms_journal_format(again);
    if (strcmp(first, second) != 0)
        fuzz_fail("journal formatting is not stable:\n%s\n---\n%s", first, second);
    return 0;
}
