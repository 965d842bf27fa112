/*
 * domain_ops.h: defining, reading, listing and undefining domains.
 * Each call takes the domain's lock for its duration.
 */
#ifndef VMS_CORE_DOMAIN_OPS_H
#define VMS_CORE_DOMAIN_OPS_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/domain_conf.h"
#include "store/store.h"

/* Define (or, unless @no_overwrite, redefine) a domain from XML. A
 * redefinition keeps the domain's uuid and snapshots; a uuid in the XML must
 * match it. A uuid another domain uses is refused. Returns the stored def. */
vms_domain_def *vms_domain_define(vms_store *store, const char *xml, bool no_overwrite,
                                  vmsnap_error **error);

/* The stored definition; VMSNAP_ERR_NO_DOMAIN if there is none. */
vms_domain_def *vms_domain_get(vms_store *store, const char *name, vmsnap_error **error);

/* Names of all defined domains, sorted (NULL-terminated). */
char **vms_domain_list_names(vms_store *store, vmsnap_error **error);

/* Remove the definition; refused while snapshots exist unless
 * @with_snapshots. Disk images are never touched. */
bool vms_domain_undefine(vms_store *store, const char *name, bool with_snapshots,
                         vmsnap_error **error);

#endif
