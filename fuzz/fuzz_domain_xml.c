/*
 * fuzz_domain_xml.c: <domain> XML parser. Whatever parses must format,
 * reparse and format to the same text, and copy to an identical def.
 */
#include "fuzz_common.h"

#include <glib.h>

#include "conf/domain_conf.h"

static char *reformat(const char *xml)
{
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(xml, &err);
    if (!def) {
        fuzz_check_failure("reparsing formatted domain XML", err);
        fuzz_fail("formatted domain XML does not parse: %s\n%s", vmsnap_error_get_message(err),
                  xml);
    }
    fuzz_check_success("reparsing domain XML", err);
    return vms_domain_def_format(def, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = g_strndup((const char *)data, size);
    vmsnap_error *err = NULL;
    g_autoptr(vms_domain_def) def = vms_domain_def_parse_string(text, &err);
    if (!def) {
        fuzz_check_failure("vms_domain_def_parse_string", err);
        vmsnap_error_free(err);
        return 0;
    }
    fuzz_check_success("vms_domain_def_parse_string", err);

    g_autofree char *first = vms_domain_def_format(def, 0);
    g_autofree char *second = reformat(first);
    fuzz_check_same("domain XML", first, second);

    g_autoptr(vms_domain_def) copy = vms_domain_def_copy(def);
    g_autofree char *copied = vms_domain_def_format(copy, 0);
    fuzz_check_same("copied domain XML", first, copied);
    return 0;
}
