/* qemu_config.c: a domain definition as the QEMU process layer wants it. */
#include "core/qemu_config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "util/error.h"

void vms_qemu_config_from_domain(const vms_domain_def *def, bool paused, vms_qemu_config *config)
{
    char uuid[37];
    vms_uuid_format(def->uuid, uuid);
    config->name = g_strdup(def->name);
    config->uuid = g_strdup(uuid);
    config->binary = g_strdup(def->emulator);
    config->accel = g_strdup(def->virt == VMS_DOMAIN_VIRT_KVM ? "kvm" : "tcg");
    config->machine = g_strdup(def->os_machine);
    /* QEMU takes whole MiB; round a KiB figure up rather than lose memory. */
    config->memory_mib = (def->memory_kib + 1023) / 1024;
    config->vcpus = def->vcpus ? def->vcpus : 1;
    config->kernel = g_strdup(def->kernel);
    config->initrd = g_strdup(def->initrd);
    config->cmdline = g_strdup(def->cmdline);
    config->paused = paused;
    config->ndisks = def->ndisks;
    config->disks = g_new0(vms_qemu_disk, def->ndisks);
    for (size_t i = 0; i < def->ndisks; i++) {
        const vms_domain_disk *disk = def->disks[i];
        vms_qemu_disk *out = &config->disks[i];
        out->file = g_strdup(disk->source);
        out->format = g_strdup(disk->format == VMS_DISK_FORMAT_RAW ? "raw" : "qcow2");
        out->readonly = disk->readonly;
        out->node_name = g_strdup_printf("vms-%s", disk->target);
        out->device_id = g_strdup_printf("vms-dev-%s", disk->target);
    }
}

bool vms_qemu_config_check_disks(const vms_domain_def *def, vmsnap_error **error)
{
    for (size_t i = 0; i < def->ndisks; i++) {
        const vms_domain_disk *disk = def->disks[i];
        int mode = disk->readonly ? R_OK : R_OK | W_OK;
        if (access(disk->source, mode) < 0) {
            vms_error_set_errno(error, VMSNAP_ERR_IO, errno,
                                "disk %s of domain '%s' cannot be used: '%s'", disk->target,
                                def->name, disk->source);
            return false;
        }
    }
    if (def->kernel && access(def->kernel, R_OK) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno,
                            "the kernel of domain '%s' cannot be read: '%s'", def->name,
                            def->kernel);
        return false;
    }
    if (def->initrd && access(def->initrd, R_OK) < 0) {
        vms_error_set_errno(error, VMSNAP_ERR_IO, errno,
                            "the initrd of domain '%s' cannot be read: '%s'", def->name,
                            def->initrd);
        return false;
    }
    return true;
}
