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

/* Refuse XML documents larger than this before parsing them. */
#define VMS_XML_MAX_BYTES (16u * 1024 * 1024)
/* Refuse any single text value (a <description>, a <cmdline>, text inside a
 * kept element) larger than this, whatever libxml2's own limits are. */
#define VMS_XML_MAX_TEXT_BYTES (1024u * 1024)

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

/* true if @text can be written into XML as it is: valid UTF-8 without the
 * control characters XML 1.0 forbids. Otherwise sets VMSNAP_ERR_INVALID_ARG
 * naming @what. (The formatters replace such characters with U+FFFD.) */
bool vms_xml_text_check(const char *what, const char *text, vmsnap_error **error);

/* ------------------------------------------------------------------ */
/* Shared by the parsers in src/conf only. libxml2's types stay opaque  */
/* here so that no other layer needs libxml2's headers.                 */
/* ------------------------------------------------------------------ */
struct _xmlDoc;
struct _xmlNode;

/* Parse @xml safely: refuse more than VMS_XML_MAX_BYTES, any DOCTYPE or
 * entity declaration, network access; parser messages go into @error
 * (VMSNAP_ERR_XML, with the line), never to stderr. The root element must be
 * @root_name. Free the result with xmlFreeDoc(). */
struct _xmlDoc *vms_xml_read(const char *xml, const char *root_name, vmsnap_error **error);

/* Parse a <domain> (or <inactiveDomain>) element of an already parsed document. */
vms_domain_def *vms_domain_def_parse_node(struct _xmlNode *node, vmsnap_error **error);

/* Append @def as element @element_name (e.g. "inactiveDomain"), @indent levels deep. */
void vms_domain_def_format_element(GString *out, const vms_domain_def *def,
                                   const char *element_name, unsigned int indent);

/* Escaped text / single-quoted attribute value, appended to @out. */
void vms_xml_escape_text(GString *out, const char *text);
void vms_xml_escape_attr(GString *out, const char *text);

/* Element-level checks. Each sets VMSNAP_ERR_UNSUPPORTED (or XML) with the
 * line number and returns false. @allowed is a NULL-terminated list;
 * @supported is the sentence naming what is supported. */
bool vms_xml_check_attrs(struct _xmlNode *node, const char *const *allowed, const char *supported,
                         vmsnap_error **error);
bool vms_xml_check_no_text(struct _xmlNode *node, vmsnap_error **error);
void vms_xml_unsupported_element(struct _xmlNode *child, const char *supported,
                                 vmsnap_error **error);
/* The text of a leaf element (an element child is an error); never NULL on success. */
char *vms_xml_leaf_text(struct _xmlNode *node, vmsnap_error **error);
/* The line @node starts on, also past line 65535. */
long vms_xml_line(struct _xmlNode *node);
/* The element's name as written, with its prefix (for messages). */
char *vms_xml_qname(struct _xmlNode *node);
/* Append the element and its subtree as canonical XML (indent levels deep,
 * attributes in document order, blank text between elements dropped). Mixed
 * text and elements are refused. */
bool vms_xml_preserve(GString *out, struct _xmlNode *node, unsigned int indent,
                      vmsnap_error **error);

#endif
