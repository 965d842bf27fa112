/*
 * qemu_config.h: from a domain definition (src/conf) to the plain QEMU
 * configuration the process layer runs (src/qemu), which knows no XML.
 */
#ifndef VMS_CORE_QEMU_CONFIG_H
#define VMS_CORE_QEMU_CONFIG_H

#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/domain_conf.h"
#include "qemu/qemu_process.h"

/* Fill @config (cleared by the caller with vms_qemu_config_clear()).
 * Disk node names are "vms-<target>", device ids "vms-dev-<target>": stable
 * across starts, so snapshot operations can address each layer. */
void vms_qemu_config_from_domain(const vms_domain_def *def, bool paused, vms_qemu_config *config);

/* Refuse to start a domain whose disk files are missing or unreadable, with
 * a message naming the disk, before QEMU is involved. */
bool vms_qemu_config_check_disks(const vms_domain_def *def, vmsnap_error **error);

#endif
