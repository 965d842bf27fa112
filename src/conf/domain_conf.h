/*
 * domain_conf.h: the <domain> XML subset vmsnap understands.
 *
 * Strings in, structs out and back; no file or process I/O. The subset and
 * the canonical output format are documented in docs/formats/domain-xml.md.
 * Ownership: every vms_domain_def and everything it points to is owned by the
 * def and released by vms_domain_def_free().
 */
#ifndef VMS_CONF_DOMAIN_CONF_H
#define VMS_CONF_DOMAIN_CONF_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <vmsnap/vmsnap.h>

typedef enum {
    VMS_DOMAIN_VIRT_QEMU = 0, /* <domain type='qemu'>: software emulation (TCG) */
    VMS_DOMAIN_VIRT_KVM,      /* <domain type='kvm'> */
} vms_domain_virt;

typedef enum {
    VMS_DISK_FORMAT_NONE = 0, /* not given */
    VMS_DISK_FORMAT_RAW,
    VMS_DISK_FORMAT_QCOW2,
} vms_disk_format;

const char *vms_disk_format_to_string(vms_disk_format fmt); /* "raw", "qcow2", NULL for NONE */
int vms_disk_format_from_string(const char *str);           /* -1 if unknown */

typedef struct {
    char *target;           /* <target dev='vda'> */
    char *bus;              /* <target bus='virtio'>, NULL if absent */
    char *source;           /* <source file='/abs/path'>, absolute */
    vms_disk_format format; /* <driver name='qemu' type='qcow2'> */
    bool readonly;          /* <readonly/> */
    char *extra_xml;        /* preserved libvirt children (<address>...), canonical, or NULL */
} vms_domain_disk;

typedef enum {
    VMS_SERIAL_NONE = 0,
    VMS_SERIAL_PTY,  /* <serial type='pty'> */
    VMS_SERIAL_FILE, /* <serial type='file'><source path='...'/> */
} vms_serial_type;

typedef struct {
    char *name;
    unsigned char uuid[16];
    bool uuid_generated; /* the XML had no <uuid>: the parser made this one up */
    char *title;
    char *description;
    vms_domain_virt virt;
    unsigned long long memory_kib;
    unsigned long long current_memory_kib; /* 0: same as memory_kib */
    unsigned int vcpus;
    /* <os> */
    char *os_arch;    /* <type arch=...>, NULL if absent */
    char *os_machine; /* <type machine=...>, NULL if absent */
    char *kernel;
    char *initrd;
    char *cmdline;
    char *boot_dev;          /* <boot dev='hd'>, NULL if absent */
    char *emulator;          /* <devices><emulator>, NULL if absent */
    vms_domain_disk **disks; /* ndisks entries */
    size_t ndisks;
    vms_serial_type serial;
    char *serial_path;      /* for VMS_SERIAL_FILE */
    char *serial_extra_xml; /* preserved <serial> children (<target>, <alias>), or NULL */
    /* libvirt elements vmsnap keeps but does not act on (<clock>, <on_*>,
     * <features>, <devices><controller|console|input|memballoon>), each as
     * canonical XML, in document order within their parent. */
    char *extra_xml;         /* children of <domain> */
    char *extra_devices_xml; /* children of <devices> */
} vms_domain_def;

void vms_domain_def_free(vms_domain_def *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_domain_def, vms_domain_def_free)

vms_domain_def *vms_domain_def_copy(const vms_domain_def *def);

/* Parse a <domain> document. A missing <uuid> is generated. Errors:
 * VMSNAP_ERR_XML (not well formed, too large, DTD/entities), VMSNAP_ERR_UNSUPPORTED
 * (an element or value outside the subset, named in the message),
 * VMSNAP_ERR_INVALID_NAME. */
vms_domain_def *vms_domain_def_parse_string(const char *xml, vmsnap_error **error);

/* Format canonically: two-space indent, fixed element and attribute order,
 * ending in a newline. @indent levels are prepended to every line (used when
 * embedding in <domainsnapshot>). */
char *vms_domain_def_format(const vms_domain_def *def, unsigned int indent);

/* Find a disk by target name; NULL if none. */
vms_domain_disk *vms_domain_def_find_disk(const vms_domain_def *def, const char *target);

/* uuid helpers: 36-character text form into @buf (37 bytes). */
void vms_uuid_format(const unsigned char uuid[16], char buf[37]);
bool vms_uuid_parse(const char *str, unsigned char uuid[16]);
void vms_uuid_generate(unsigned char uuid[16]);

/* ------------------------------------------------------------------ */
/* Shared with snapshot_conf.c only. libxml2's types stay opaque here   */
/* so that no other layer needs libxml2's headers.                      */
/* ------------------------------------------------------------------ */
struct _xmlNode;

/* Parse a <domain> (or <inactiveDomain>) element of an already parsed document. */
vms_domain_def *vms_domain_def_parse_node(struct _xmlNode *node, vmsnap_error **error);

/* Append @def as element @element_name (e.g. "inactiveDomain"), @indent levels deep. */
void vms_domain_def_format_element(GString *out, const vms_domain_def *def,
                                   const char *element_name, unsigned int indent);

#endif
