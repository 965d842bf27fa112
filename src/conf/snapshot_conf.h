/*
 * snapshot_conf.h: the <domainsnapshot> definition, from libvirt's XML or
 * from an xl-style snapshot config (xl_config.h), and its canonical XML.
 *
 * No file or process I/O. Ownership: a vms_snapshot_def owns everything it
 * points to; vms_snapshot_def_free() releases it all.
 */
#ifndef VMS_CONF_SNAPSHOT_CONF_H
#define VMS_CONF_SNAPSHOT_CONF_H

#include <glib.h>
#include <stdbool.h>
#include <vmsnap/vmsnap.h>

#include "conf/domain_conf.h"

/* The namespace of vmsnap's own elements inside <domainsnapshot>. */
#define VMS_SNAPSHOT_XMLNS "https://vmsnap.dev/xmlns/snapshot/1"

/* snapshot='...' on <memory> and <disk>. */
typedef enum {
    VMS_SNAP_LOCATION_DEFAULT = 0, /* attribute absent */
    VMS_SNAP_LOCATION_NO,
    VMS_SNAP_LOCATION_INTERNAL,
    VMS_SNAP_LOCATION_EXTERNAL,
    VMS_SNAP_LOCATION_MANUAL,
} vms_snap_location;

const char *vms_snap_location_to_string(vms_snap_location loc); /* NULL for DEFAULT */
int vms_snap_location_from_string(const char *str);             /* -1 if unknown */

/* <state>: values are the public vmsnap_snapshot_state. */
int vms_snap_state_from_string(const char *str); /* -1 if unknown */
/* "running", ..., "disk-snapshot"; "none" for NONE; never NULL. */
const char *vms_snap_state_to_string(vmsnap_snapshot_state state);

typedef enum {
    VMS_MEM_COMPRESSION_NONE = 0, /* element absent */
    VMS_MEM_COMPRESSION_RAW,      /* <compression>raw</compression>: explicitly none */
    VMS_MEM_COMPRESSION_GZIP,
    VMS_MEM_COMPRESSION_ZSTD,
} vms_mem_compression;

const char *vms_mem_compression_to_string(vms_mem_compression c); /* NULL for NONE */
int vms_mem_compression_from_string(const char *str);             /* -1 if unknown */

typedef struct {
    char *name;                 /* <disk name='vda'>: target dev (or source path) */
    vms_snap_location snapshot; /* snapshot='...' */
    vms_disk_format format;     /* <driver type='qcow2'/>, NONE if absent */
    char *source_file;          /* <source file='...'/>, NULL if absent */
} vms_snapshot_disk;

typedef struct {
    char *name;        /* NULL when not given (creation picks the time) */
    char *description; /* NULL when absent */
    vmsnap_snapshot_state state;
    long long creation_time; /* seconds since the epoch */
    bool has_creation_time;
    char *parent; /* <parent><name>, NULL for a root */
    vms_snap_location memory;
    char *memory_file; /* <memory file='...'> */
    vms_mem_compression compression;
    char *checksum_type;                 /* <vmsnap:checksum type='...'>, NULL if absent */
    char *checksum_value;                /* lower-case hex */
    vms_snap_location default_disk_kind; /* an xl config's type=: the kind of the disks it
                                          * does not list (no XML form); DEFAULT: vmsnap's */
    /* <vmsnap:pause us='...' qemu-downtime-ms='...'/>: how long taking a full
     * snapshot of a running guest kept it paused (QEMU's STOP to RESUME
     * events), and QEMU's own downtime figure (-1: not given). */
    bool has_pause;
    int64_t pause_us;
    int64_t qemu_downtime_ms;
    char *internal_tag; /* <vmsnap:tag>: the qcow2 snapshot tag of internal data when it is
                         * not the snapshot's name (kept across renames); NULL: the name */
    vms_snapshot_disk **disks;
    size_t ndisks;
    vms_domain_def *domain; /* the domain as it was; NULL when absent */
    bool has_active;        /* libvirt's internal <active>0|1</active> was present */
    bool active;
    /* libvirt's <inactiveDomain> (the persistent definition when it differed
     * from the running one); NULL when absent. Kept, not acted on. */
    vms_domain_def *inactive_domain;
    /* libvirt's hypervisor <cookie> element as canonical XML (whole element,
     * level 0), NULL when absent. Kept verbatim, not acted on. */
    char *cookie_xml;
} vms_snapshot_def;

void vms_snapshot_def_free(vms_snapshot_def *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_snapshot_def, vms_snapshot_def_free)

vms_snapshot_def *vms_snapshot_def_copy(const vms_snapshot_def *def);

/* Parse <domainsnapshot> XML as libvirt writes it (plus vmsnap's extensions).
 * Errors: VMSNAP_ERR_XML, VMSNAP_ERR_UNSUPPORTED, VMSNAP_ERR_INVALID_NAME. */
vms_snapshot_def *vms_snapshot_def_parse_string(const char *xml, vmsnap_error **error);

typedef enum {
    VMS_SNAPSHOT_FORMAT_NO_DOMAIN = 1u << 0, /* leave out <domain> */
} vms_snapshot_format_flags;

/* Canonical XML, ending in a newline. parse(format(parse(x))) formats to the
 * same text as format(parse(x)). */
char *vms_snapshot_def_format(const vms_snapshot_def *def, unsigned int flags);

/* The tag internal disk and memory data of @def carry inside qcow2 files. */
const char *vms_snapshot_def_internal_tag(const vms_snapshot_def *def);

/* Derived facts used by listings. */
bool vms_snapshot_def_has_memory(const vms_snapshot_def *def);
vmsnap_snapshot_location vms_snapshot_def_location(const vms_snapshot_def *def);

#endif
