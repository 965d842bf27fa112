/*
 * fuzz_xl_config.c: the xl snapshot config parser. Whatever parses must
 * format as <domainsnapshot> XML that the XML parser accepts and formats to
 * the same text: both front ends build the same definition.
 */
#include "fuzz_common.h"

#include <glib.h>

#include "conf/snapshot_conf.h"
#include "conf/xl_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    (void)vms_xl_config_detect(text);

    g_autoptr(GPtrArray) warnings = g_ptr_array_new_with_free_func(g_free);
    vmsnap_error *err = NULL;
    g_autoptr(vms_snapshot_def) def = vms_xl_config_parse(text, warnings, &err);
    if (!def) {
        fuzz_check_failure("vms_xl_config_parse", err);
        vmsnap_error_free(err);
        return 0;
    }
    fuzz_check_success("vms_xl_config_parse", err);
    for (guint i = 0; i < warnings->len; i++) {
        const char *w = g_ptr_array_index(warnings, i);
        if (!w || !*w)
            fuzz_fail("vms_xl_config_parse added an empty warning");
    }

    g_autofree char *first = vms_snapshot_def_format(def, 0);
    if (!first)
        fuzz_fail("formatting an xl-config snapshot returned NULL");
    g_autoptr(vms_snapshot_def) reparsed = vms_snapshot_def_parse_string(first, &err);
    if (!reparsed) {
        fuzz_check_failure("reparsing xl-config snapshot XML", err);
        fuzz_fail("XML formatted from an xl config does not parse: %s\n%s",
                  vmsnap_error_get_message(err), first);
    }
    fuzz_check_success("reparsing xl-config snapshot XML", err);
    g_autofree char *second = vms_snapshot_def_format(reparsed, 0);
    fuzz_check_same("snapshot XML from an xl config", first, second);
    return 0;
}
