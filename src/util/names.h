/*
 * names.h: the rule for names that become file names (domains, snapshots).
 *
 * A name is 1..VMS_NAME_MAX bytes of valid UTF-8 with no '/', no control
 * characters (bytes < 0x20 and 0x7f), and no leading '.' (which also rules
 * out "." and ".."; dot-files are vmsnap's temporaries). The limit leaves room
 * for the longest suffix vmsnap appends (".vmstate") inside NAME_MAX.
 * docs/adr/0002-names.md says why.
 */
#ifndef VMS_UTIL_NAMES_H
#define VMS_UTIL_NAMES_H

#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#define VMS_NAME_MAX 240

/* @what is "domain" or "snapshot", used in the error message. */
bool vms_name_validate(const char *what, const char *name, vmsnap_error **error);

#endif
