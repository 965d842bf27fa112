/*
 * xl_config.h: the xl snapshot proposal's config file, parsed into the same
 * vms_snapshot_def as <domainsnapshot> XML.
 *
 *   name="snap1"
 *   description="before the upgrade"
 *   creationtime="..."          # ignored with a warning
 *   memory="yes" | "no" | "/abs/path"
 *   type="internal" | "external"
 *   disk=['vdev=hda,target=null', 'format=qcow2,vdev=hda,target=/abs/path']
 *
 * No file or process I/O. docs/formats/xl-config.md has the grammar.
 */
#ifndef VMS_CONF_XL_CONFIG_H
#define VMS_CONF_XL_CONFIG_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/snapshot_conf.h"

/* Refuse configs larger than this before parsing them. */
#define VMS_XL_CONFIG_MAX_BYTES (1u * 1024 * 1024)

/* true if @text looks like an xl config rather than XML (first non-blank,
 * non-comment character is not '<'). */
bool vms_xl_config_detect(const char *text);

/* Parse @text. @warnings (may be NULL) receives warnings appended as
 * newly allocated strings. Errors: VMSNAP_ERR_CONFIG with "line N: ..." in
 * the message, VMSNAP_ERR_INVALID_NAME. */
vms_snapshot_def *vms_xl_config_parse(const char *text, GPtrArray *warnings, vmsnap_error **error);

/* The same over @len bytes that may contain NUL (refused with the line it
 * is on); vms_xl_config_parse() is this over strlen(@text). */
vms_snapshot_def *vms_xl_config_parse_bytes(const char *data, size_t len, GPtrArray *warnings,
                                            vmsnap_error **error);

#endif
