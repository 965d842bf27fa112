/*
 * fuzz_snapshot_xml.c: <domainsnapshot> XML parser. Whatever parses must
 * format, reparse and format to the same text, and copy to an identical def.
 */
#include "fuzz_common.h"

#include <glib.h>

#include "conf/snapshot_conf.h"

static char *reformat(const char *xml)
{
    vmsnap_error *err = NULL;
    g_autoptr(vms_snapshot_def) def = vms_snapshot_def_parse_string(xml, &err);
    if (!def) {
        fuzz_check_failure("reparsing formatted snapshot XML", err);
        fuzz_fail("formatted snapshot XML does not parse: %s\n%s", vmsnap_error_get_message(err),
                  xml);
    }
    fuzz_check_success("reparsing snapshot XML", err);
    return vms_snapshot_def_format(def, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    vmsnap_error *err = NULL;
    g_autoptr(vms_snapshot_def) def = vms_snapshot_def_parse_string(text, &err);
    if (!def) {
        fuzz_check_failure("vms_snapshot_def_parse_string", err);
        vmsnap_error_free(err);
        return 0;
    }
    fuzz_check_success("vms_snapshot_def_parse_string", err);

    g_autofree char *first = vms_snapshot_def_format(def, 0);
    g_autofree char *second = reformat(first);
    fuzz_check_same("snapshot XML", first, second);

    g_autoptr(vms_snapshot_def) copy = vms_snapshot_def_copy(def);
    g_autofree char *copied = vms_snapshot_def_format(copy, 0);
    fuzz_check_same("copied snapshot XML", first, copied);

    /* The short form (no <domain>) must format too; listings use it. */
    g_autofree char *brief = vms_snapshot_def_format(def, VMS_SNAPSHOT_FORMAT_NO_DOMAIN);
    if (!brief)
        fuzz_fail("formatting snapshot XML without <domain> returned NULL");
    return 0;
}
