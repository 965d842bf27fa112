/*
 * vmsnap.h: the public API of libvmsnap.
 *
 * Conventions (docs/api.md has the long form):
 *  - Every object is an opaque handle. Handles returned by the library are
 *    owned by the caller and released with the matching _free() call;
 *    _ref() takes another reference.
 *  - Strings returned as `const char *` are borrowed from the handle and live
 *    as long as it does. Strings returned as `char *` belong to the caller and
 *    are released with vmsnap_string_free() (or free()).
 *  - Every call that may fail takes `vmsnap_error **error` last. On failure it
 *    returns -1, NULL or false and, if error is not NULL and *error is NULL,
 *    stores a new error object there. On success *error is left untouched.
 *  - The library never prints and never exits.
 *  - Calls that may grow take `unsigned int flags`; unknown bits are refused
 *    with VMSNAP_ERR_INVALID_ARG.
 *  - Handles describe the object as it was when the handle was obtained;
 *    calls that change the object refresh the handle that made the change.
 */
#ifndef VMSNAP_VMSNAP_H
#define VMSNAP_VMSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/**
 * vmsnap_error_code: what kind of failure an error object reports.
 *
 * Since: 0.1
 */
typedef enum {
    VMSNAP_ERR_OK = 0,
    VMSNAP_ERR_INTERNAL,         /* a bug in vmsnap; please report it */
    VMSNAP_ERR_INVALID_ARG,      /* NULL where a value is needed, unknown flags */
    VMSNAP_ERR_XML,              /* XML that is not well formed or not valid */
    VMSNAP_ERR_CONFIG,           /* an xl-style snapshot config that is not valid */
    VMSNAP_ERR_UNSUPPORTED,      /* a valid request vmsnap does not support */
    VMSNAP_ERR_INVALID_NAME,     /* a domain or snapshot name that is not allowed */
    VMSNAP_ERR_NO_DOMAIN,        /* no domain of that name */
    VMSNAP_ERR_DOMAIN_EXISTS,    /* a domain of that name (or uuid) exists */
    VMSNAP_ERR_NO_SNAPSHOT,      /* no snapshot of that name */
    VMSNAP_ERR_SNAPSHOT_EXISTS,  /* a snapshot of that name exists */
    VMSNAP_ERR_NO_PARENT,        /* the snapshot is a root */
    VMSNAP_ERR_NO_CURRENT,       /* the domain has no current snapshot */
    VMSNAP_ERR_OPERATION_DENIED, /* refused to protect data (e.g. snapshots exist) */
    VMSNAP_ERR_IO,               /* reading or writing the state directory failed */
    VMSNAP_ERR_CORRUPT,          /* state on disk that vmsnap cannot read */
    VMSNAP_ERR_BUSY,             /* another process holds what is needed */
    VMSNAP_ERR_QEMU,             /* QEMU failed, refused, died or did not answer (Since: 0.2) */
    VMSNAP_ERR_QEMU_IMG,         /* qemu-img failed (Since: 0.2) */
    VMSNAP_ERR_INVALID_STATE,    /* not possible in the domain's run state (Since: 0.2) */
} vmsnap_error_code;

/** Since: 0.1 */
typedef struct vmsnap_error vmsnap_error;

/**
 * vmsnap_error_get_code: the kind of failure.
 * Since: 0.1
 */
vmsnap_error_code vmsnap_error_get_code(const vmsnap_error *error);

/**
 * vmsnap_error_get_message: a sentence saying what went wrong and, where the
 * user can act, what to do. Borrowed from @error.
 * Since: 0.1
 */
const char *vmsnap_error_get_message(const vmsnap_error *error);

/**
 * vmsnap_error_free: release an error object. NULL is allowed.
 * Since: 0.1
 */
void vmsnap_error_free(vmsnap_error *error);

/**
 * vmsnap_error_code_to_string: a stable lower-case identifier for @code
 * ("no-snapshot", ...), used in JSON output. Never NULL.
 * Since: 0.1
 */
const char *vmsnap_error_code_to_string(vmsnap_error_code code);

/**
 * vmsnap_string_free, vmsnap_string_list_free: release strings and
 * NULL-terminated string lists returned by the library. NULL is allowed.
 * Since: 0.1
 */
void vmsnap_string_free(char *str);
void vmsnap_string_list_free(char **list);

/* ------------------------------------------------------------------ */
/* Connections: one state directory                                    */
/* ------------------------------------------------------------------ */

/** Since: 0.1 */
typedef struct vmsnap_conn vmsnap_conn;
/** Since: 0.1 */
typedef struct vmsnap_domain vmsnap_domain;
/** Since: 0.1 */
typedef struct vmsnap_snapshot vmsnap_snapshot;

/**
 * vmsnap_conn_open: open the state directory @state_dir, creating it (mode
 * 0700) if it does not exist. With @state_dir NULL the directory is
 * $VMSNAP_DIR if set, else /var/lib/vmsnap for root, else
 * $XDG_DATA_HOME/vmsnap (default ~/.local/share/vmsnap).
 * @flags: 0.
 * Returns: a new connection, free with vmsnap_conn_free().
 * Since: 0.1
 */
vmsnap_conn *vmsnap_conn_open(const char *state_dir, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_conn_get_state_dir: the absolute path of the state directory.
 * Since: 0.1
 */
const char *vmsnap_conn_get_state_dir(const vmsnap_conn *conn);

/**
 * vmsnap_progress_cb: reports how far a long operation is — saving or
 * loading memory, merging or copying disk layers. Called on the calling
 * thread, from inside the library call doing the work, as often as the work
 * advances (callers that draw should rate-limit themselves).
 * @what: what is in progress, a short phrase ("saving memory", "merging
 *   vda"); a new phrase starts a new phase.
 * @done, @total: bytes; @total is 0 while unknown. done == total ends a phase.
 * Since: 0.2
 */
typedef void (*vmsnap_progress_cb)(const char *what, unsigned long long done,
                                   unsigned long long total, void *opaque);

/**
 * vmsnap_conn_set_progress_callback: have every long operation made through
 * @conn (or handles obtained from it) report to @cb with @opaque; @cb NULL
 * stops the reports.
 * @flags: 0.
 * Returns: 0, or -1 on bad arguments.
 * Since: 0.2
 */
int vmsnap_conn_set_progress_callback(vmsnap_conn *conn, vmsnap_progress_cb cb, void *opaque,
                                      unsigned int flags, vmsnap_error **error);

/** Since: 0.1 */
vmsnap_conn *vmsnap_conn_ref(vmsnap_conn *conn);
/** Since: 0.1. Drops one reference; handles keep their connection alive. */
void vmsnap_conn_free(vmsnap_conn *conn);

/* ------------------------------------------------------------------ */
/* Domains                                                             */
/* ------------------------------------------------------------------ */

/**
 * vmsnap_domain_define_flags: flags for vmsnap_domain_define_xml().
 * Since: 0.1
 */
typedef enum {
    /* Refuse if a domain of that name exists instead of replacing its definition. */
    VMSNAP_DOMAIN_DEFINE_NO_OVERWRITE = 1u << 0,
} vmsnap_domain_define_flags;

/**
 * vmsnap_domain_define_xml: define (or redefine) a domain from libvirt-style
 * <domain> XML. A missing <uuid> is generated. Redefining an existing domain
 * keeps its snapshots; its uuid must match if the XML gives one.
 * Returns: the domain, free with vmsnap_domain_free().
 * Since: 0.1
 */
vmsnap_domain *vmsnap_domain_define_xml(vmsnap_conn *conn, const char *xml, unsigned int flags,
                                        vmsnap_error **error);

/**
 * vmsnap_domain_lookup_by_name: find a defined domain.
 * Errors: VMSNAP_ERR_NO_DOMAIN.
 * Since: 0.1
 */
vmsnap_domain *vmsnap_domain_lookup_by_name(vmsnap_conn *conn, const char *name,
                                            vmsnap_error **error);

/**
 * vmsnap_conn_list_all_domains: every defined domain, sorted by name.
 * @domains: receives a NULL-terminated array; free it with
 * vmsnap_domain_list_free(). May be NULL to count only.
 * @flags: 0.
 * Returns: the number of domains, or -1.
 * Since: 0.1
 */
int vmsnap_conn_list_all_domains(vmsnap_conn *conn, vmsnap_domain ***domains, unsigned int flags,
                                 vmsnap_error **error);

/**
 * vmsnap_domain_undefine_flags: flags for vmsnap_domain_undefine().
 * Since: 0.1
 */
typedef enum {
    /* Also remove the snapshot metadata (not the disk images) of the domain. */
    VMSNAP_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA = 1u << 0,
} vmsnap_domain_undefine_flags;

/**
 * vmsnap_domain_undefine: remove the domain's definition. Disk images are
 * never touched. A domain with snapshots is refused (VMSNAP_ERR_OPERATION_DENIED,
 * naming how many) unless VMSNAP_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA.
 * Since: 0.1
 */
int vmsnap_domain_undefine(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_domain_get_xml_desc: the domain's definition as canonical XML.
 * @flags: 0.
 * Returns: a new string, or NULL.
 * Since: 0.1
 */
char *vmsnap_domain_get_xml_desc(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error);

/** Since: 0.1. Borrowed; never NULL. */
const char *vmsnap_domain_get_name(const vmsnap_domain *dom);
/** Since: 0.1. The uuid in its 36-character text form; borrowed. */
const char *vmsnap_domain_get_uuid_string(const vmsnap_domain *dom);
/** Since: 0.1. Maximum memory in KiB. */
unsigned long long vmsnap_domain_get_memory_kib(const vmsnap_domain *dom);
/** Since: 0.1 */
unsigned int vmsnap_domain_get_vcpus(const vmsnap_domain *dom);
/** Since: 0.1. The connection the domain belongs to; borrowed. */
vmsnap_conn *vmsnap_domain_get_conn(const vmsnap_domain *dom);

/* ------------------------------------------------------------------ */
/* Running domains                                                     */
/* ------------------------------------------------------------------ */

/**
 * vmsnap_domain_state: whether a domain's QEMU runs, as vmsnap finds it.
 * Since: 0.2
 */
typedef enum {
    VMSNAP_DOMAIN_STATE_SHUTOFF = 0, /* no QEMU */
    VMSNAP_DOMAIN_STATE_RUNNING,     /* QEMU runs the guest */
    VMSNAP_DOMAIN_STATE_PAUSED,      /* QEMU runs with the CPUs stopped */
    VMSNAP_DOMAIN_STATE_CRASHED,     /* QEMU ended without a shutdown (killed, crashed) */
} vmsnap_domain_state;

/** Since: 0.2. "shut off", "running", "paused", "crashed". Never NULL. */
const char *vmsnap_domain_state_to_string(vmsnap_domain_state state);

/**
 * vmsnap_domain_get_state: find out whether the domain runs. Never waits
 * long: a QEMU that does not answer within seconds is an error
 * (VMSNAP_ERR_QEMU), not a hang.
 * @detail: if not NULL, receives a sentence explaining the state when there
 * is more to say (for CRASHED: what was found and the last lines of QEMU's
 * log), or NULL; free with vmsnap_string_free().
 * @flags: 0.
 * Since: 0.2
 */
int vmsnap_domain_get_state(vmsnap_domain *dom, vmsnap_domain_state *state, char **detail,
                            unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_domain_start_flags: flags for vmsnap_domain_start().
 * Since: 0.2
 */
typedef enum {
    /* Start with the CPUs stopped; vmsnap_domain_resume() runs them. */
    VMSNAP_DOMAIN_START_PAUSED = 1u << 0,
} vmsnap_domain_start_flags;

/**
 * vmsnap_domain_start: start the domain's QEMU from the disks' active layers
 * (the most recently used state, never a base image under them). Returns
 * once QEMU answers on its QMP socket. Errors: VMSNAP_ERR_INVALID_STATE if it
 * runs already; VMSNAP_ERR_IO for a missing disk, kernel or initrd;
 * VMSNAP_ERR_QEMU with the end of QEMU's log if QEMU fails.
 * Since: 0.2
 */
int vmsnap_domain_start(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_domain_shutdown: press the guest's ACPI power button and wait up to
 * @timeout_seconds for QEMU to exit (0: do not wait). A guest still running
 * after the timeout is VMSNAP_ERR_QEMU, saying so; it keeps running.
 * @flags: 0.
 * Since: 0.2
 */
int vmsnap_domain_shutdown(vmsnap_domain *dom, unsigned int timeout_seconds, unsigned int flags,
                           vmsnap_error **error);

/**
 * vmsnap_domain_destroy: stop QEMU at once (what the guest did not write is
 * lost, as when power is cut). A crashed domain's leftovers are cleaned up.
 * @flags: 0.
 * Since: 0.2
 */
int vmsnap_domain_destroy(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error);

/** vmsnap_domain_suspend: stop the guest's CPUs. @flags: 0. Since: 0.2 */
int vmsnap_domain_suspend(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error);

/** vmsnap_domain_resume: run a paused guest's CPUs. @flags: 0. Since: 0.2 */
int vmsnap_domain_resume(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_conn_recover_domain: complete or undo the operation a vmsnap
 * process that died (killed, out of power) left in the journal of domain
 * @name. Every call that locks a domain does this by itself first (looking
 * a domain up included), so this call names the domain instead of taking
 * a handle: it is the one that says what it did.
 * @report: receives a sentence saying what was done (vmsnap_string_free()),
 * or NULL when there was nothing to recover; may be NULL.
 * @flags: 0.
 * Returns 1 if an operation was recovered, 0 if there was none, -1 on
 * error (VMSNAP_ERR_NO_DOMAIN; VMSNAP_ERR_CORRUPT for a journal that
 * cannot be read).
 * Since: 0.3
 */
int vmsnap_conn_recover_domain(vmsnap_conn *conn, const char *name, unsigned int flags,
                               char **report, vmsnap_error **error);

/**
 * vmsnap_domain_get_serial_log: what the guest has written to its serial
 * port since it was last started (the last 16 MiB at most); "" if nothing.
 * @flags: 0.
 * Since: 0.2
 */
char *vmsnap_domain_get_serial_log(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error);

/** Since: 0.1 */
vmsnap_domain *vmsnap_domain_ref(vmsnap_domain *dom);
/** Since: 0.1. NULL is allowed. */
void vmsnap_domain_free(vmsnap_domain *dom);
/** Since: 0.1. Frees each element and the NULL-terminated array. */
void vmsnap_domain_list_free(vmsnap_domain **domains);

/* ------------------------------------------------------------------ */
/* Snapshots                                                           */
/* ------------------------------------------------------------------ */

/**
 * vmsnap_snapshot_state: the domain state a snapshot captured
 * (libvirt's <state> values).
 * Since: 0.1
 */
typedef enum {
    VMSNAP_SNAPSHOT_STATE_NONE = 0,
    VMSNAP_SNAPSHOT_STATE_RUNNING,
    VMSNAP_SNAPSHOT_STATE_BLOCKED,
    VMSNAP_SNAPSHOT_STATE_PAUSED,
    VMSNAP_SNAPSHOT_STATE_SHUTDOWN,
    VMSNAP_SNAPSHOT_STATE_SHUTOFF,
    VMSNAP_SNAPSHOT_STATE_CRASHED,
    VMSNAP_SNAPSHOT_STATE_PMSUSPENDED,
    VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT,
} vmsnap_snapshot_state;

/** Since: 0.1. "running", ..., "disk-snapshot"; "none" for NONE. Never NULL. */
const char *vmsnap_snapshot_state_to_string(vmsnap_snapshot_state state);

/**
 * vmsnap_snapshot_location: where a snapshot keeps its data, summed over its
 * memory and disks.
 * Since: 0.1
 */
typedef enum {
    VMSNAP_SNAPSHOT_LOCATION_NONE = 0, /* neither memory nor any disk */
    VMSNAP_SNAPSHOT_LOCATION_INTERNAL, /* everything inside qcow2 files */
    VMSNAP_SNAPSHOT_LOCATION_EXTERNAL, /* everything in separate files */
    VMSNAP_SNAPSHOT_LOCATION_MIXED,    /* some of each */
} vmsnap_snapshot_location;

/** Since: 0.1. "none", "internal", "external", "mixed". Never NULL. */
const char *vmsnap_snapshot_location_to_string(vmsnap_snapshot_location location);

/**
 * vmsnap_snapshot_create_flags: flags for vmsnap_snapshot_create_xml().
 * Since: 0.1
 */
typedef enum {
    /* Import the metadata of a snapshot that already exists (libvirt's redefine). */
    VMSNAP_SNAPSHOT_CREATE_REDEFINE = 1u << 0,
    /* With REDEFINE: make the imported snapshot the current one. */
    VMSNAP_SNAPSHOT_CREATE_CURRENT = 1u << 1,
    /* Take the snapshot but keep no metadata. */
    VMSNAP_SNAPSHOT_CREATE_NO_METADATA = 1u << 2,
    /* Stop the domain once the snapshot is taken. */
    VMSNAP_SNAPSHOT_CREATE_HALT = 1u << 3,
    /* Disks only, no memory. */
    VMSNAP_SNAPSHOT_CREATE_DISK_ONLY = 1u << 4,
    /* Use existing, pre-created external files. */
    VMSNAP_SNAPSHOT_CREATE_REUSE_EXT = 1u << 5,
    /* All disks or none (always true in vmsnap; accepted for virsh habits). */
    VMSNAP_SNAPSHOT_CREATE_ATOMIC = 1u << 7,
    /* Keep the guest running while memory is saved. */
    VMSNAP_SNAPSHOT_CREATE_LIVE = 1u << 8,
} vmsnap_snapshot_create_flags;

/**
 * vmsnap_snapshot_create_xml: create a snapshot from <domainsnapshot> XML or
 * an xl-style snapshot config (KEY=VALUE lines; detected by content).
 * With VMSNAP_SNAPSHOT_CREATE_REDEFINE the snapshot's data must already
 * exist and only its metadata is recorded; the XML must name the snapshot.
 * A missing <domain> is filled in with the domain's current definition, a
 * missing <creationTime> with the present time. Its <parent> must name an
 * existing snapshot (absent: a new root). Redefining a snapshot that exists
 * replaces its metadata (its place in the tree may move, never into a cycle).
 * Without REDEFINE the snapshot is taken (Since: 0.2): its disks — each
 * disk internal (qcow2 only) or external (a new overlay takes further writes;
 * the default), or left out with snapshot='no'; all disks change or none do.
 * A shut-off domain's snapshot has state 'shutoff'. A running or paused
 * domain's disks are taken at one instant in one QEMU transaction; with
 * DISK_ONLY (or <memory snapshot='no'/>) that is all (state
 * 'disk-snapshot'), otherwise the snapshot is full (Since: 0.2; state
 * 'running' or 'paused', as the domain was, which it stays): the memory is
 * internal (inside the first internal disk's qcow2) when every disk taken is
 * internal or <memory snapshot='internal'/> asks, else external, in the
 * <memory file=...> given or <state dir>/domains/<dom>/memory/<name>.vmstate
 * (a new file, mode 0600). Internal memory with an external disk is refused
 * (VMSNAP_ERR_INVALID_ARG), as is an existing memory file
 * (VMSNAP_ERR_OPERATION_DENIED). HALT stops the domain once the snapshot is
 * taken; LIVE is accepted with external memory (the guest still pauses
 * while its memory is saved); REUSE_EXT uses existing <source file=...>
 * overlays, which must be qcow2 backed by the disks' current files;
 * NO_METADATA takes the data and records no snapshot (external memory then
 * needs a file= ). If the memory cannot be saved after the disks switched,
 * the snapshot is kept as disk-only and the call fails saying so.
 * Returns: the new snapshot, free with vmsnap_snapshot_free().
 * Since: 0.1
 */
vmsnap_snapshot *vmsnap_snapshot_create_xml(vmsnap_domain *dom, const char *xml, unsigned int flags,
                                            vmsnap_error **error);

/**
 * vmsnap_snapshot_config_to_xml: translate a snapshot definition, either
 * <domainsnapshot> XML or an xl-style snapshot config (KEY=VALUE lines; told
 * apart by content), into canonical <domainsnapshot> XML without creating
 * anything. @warnings, if not NULL, receives a NULL-terminated list of
 * warnings (ignored keys such as "creationtime") to free with
 * vmsnap_string_list_free(); it is an empty list when there are none.
 * @flags: 0.
 * Returns: a new string, or NULL.
 * Since: 0.1
 */
char *vmsnap_snapshot_config_to_xml(const char *text, char ***warnings, unsigned int flags,
                                    vmsnap_error **error);

/**
 * vmsnap_snapshot_xml_flags: flags for vmsnap_snapshot_get_xml_desc().
 * Since: 0.1
 */
typedef enum {
    /* Leave out the embedded <domain> definition. */
    VMSNAP_SNAPSHOT_XML_NO_DOMAIN = 1u << 0,
} vmsnap_snapshot_xml_flags;

/**
 * vmsnap_snapshot_get_xml_desc: the snapshot as canonical <domainsnapshot> XML.
 * Returns: a new string, or NULL.
 * Since: 0.1
 */
char *vmsnap_snapshot_get_xml_desc(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_list_flags: filters for listing snapshots. Within each
 * group a snapshot passes if it matches any set bit (or no bit of the group is
 * set); it must pass every group.
 *  - shape:    ROOTS (domain lists) / DESCENDANTS (child lists) — same bit;
 *  - leaves:   LEAVES, NO_LEAVES;
 *  - state:    INACTIVE (shutoff), ACTIVE (with memory), DISK_ONLY;
 *  - location: INTERNAL, EXTERNAL.
 * TOPOLOGICAL orders parents before their children; without it lists are
 * sorted by name.
 * Since: 0.1
 */
typedef enum {
    VMSNAP_SNAPSHOT_LIST_ROOTS = 1u << 0,
    VMSNAP_SNAPSHOT_LIST_DESCENDANTS = 1u << 0,
    VMSNAP_SNAPSHOT_LIST_LEAVES = 1u << 2,
    VMSNAP_SNAPSHOT_LIST_NO_LEAVES = 1u << 3,
    VMSNAP_SNAPSHOT_LIST_INACTIVE = 1u << 6,
    VMSNAP_SNAPSHOT_LIST_ACTIVE = 1u << 7,
    VMSNAP_SNAPSHOT_LIST_DISK_ONLY = 1u << 8,
    VMSNAP_SNAPSHOT_LIST_INTERNAL = 1u << 9,
    VMSNAP_SNAPSHOT_LIST_EXTERNAL = 1u << 10,
    VMSNAP_SNAPSHOT_LIST_TOPOLOGICAL = 1u << 11,
} vmsnap_snapshot_list_flags;

/**
 * vmsnap_domain_snapshot_count: how many snapshots pass @flags' filters.
 * Since: 0.1
 */
int vmsnap_domain_snapshot_count(vmsnap_domain *dom, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_domain_snapshot_list_names: names of the snapshots that pass
 * @flags' filters, as a NULL-terminated list (vmsnap_string_list_free()).
 * Returns: the number of names, or -1.
 * Since: 0.1
 */
int vmsnap_domain_snapshot_list_names(vmsnap_domain *dom, char ***names, unsigned int flags,
                                      vmsnap_error **error);

/**
 * vmsnap_domain_list_all_snapshots: the snapshots that pass @flags' filters,
 * all read under one lock so the list is one consistent view of the tree.
 * @snaps: receives a NULL-terminated array (vmsnap_snapshot_list_free());
 * may be NULL to count only.
 * Returns: the number of snapshots, or -1.
 * Since: 0.1
 */
int vmsnap_domain_list_all_snapshots(vmsnap_domain *dom, vmsnap_snapshot ***snaps,
                                     unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_list_all_children: the direct children of @snap, or with
 * VMSNAP_SNAPSHOT_LIST_DESCENDANTS all of its descendants; other filters as
 * for vmsnap_domain_list_all_snapshots().
 * Since: 0.1
 */
int vmsnap_snapshot_list_all_children(vmsnap_snapshot *snap, vmsnap_snapshot ***snaps,
                                      unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_num_children: how many of @snap's children (or, with
 * DESCENDANTS, descendants) pass @flags' filters.
 * Since: 0.1
 */
int vmsnap_snapshot_num_children(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_lookup_by_name: find a snapshot of @dom.
 * @flags: 0.
 * Errors: VMSNAP_ERR_NO_SNAPSHOT.
 * Since: 0.1
 */
vmsnap_snapshot *vmsnap_snapshot_lookup_by_name(vmsnap_domain *dom, const char *name,
                                                unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_get_parent: the snapshot @snap was taken on top of.
 * @flags: 0.
 * Errors: VMSNAP_ERR_NO_PARENT for a root.
 * Since: 0.1
 */
vmsnap_snapshot *vmsnap_snapshot_get_parent(vmsnap_snapshot *snap, unsigned int flags,
                                            vmsnap_error **error);

/**
 * vmsnap_domain_snapshot_current: the domain's current snapshot.
 * @flags: 0.
 * Errors: VMSNAP_ERR_NO_CURRENT.
 * Since: 0.1
 */
vmsnap_snapshot *vmsnap_domain_snapshot_current(vmsnap_domain *dom, unsigned int flags,
                                                vmsnap_error **error);

/**
 * vmsnap_domain_has_current_snapshot: 1 if the domain has a current snapshot,
 * 0 if not, -1 on error. @flags: 0.
 * Since: 0.1
 */
int vmsnap_domain_has_current_snapshot(vmsnap_domain *dom, unsigned int flags,
                                       vmsnap_error **error);

/**
 * vmsnap_snapshot_is_current: 1 if @snap is its domain's current snapshot,
 * 0 if not, -1 on error. @flags: 0.
 * Since: 0.1
 */
int vmsnap_snapshot_is_current(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_set_current: make @snap the current snapshot without
 * reverting to it (only the metadata changes). @flags: 0.
 * Since: 0.1
 */
int vmsnap_snapshot_set_current(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_rename: give @snap a new name; its children's parent
 * pointers and the current-snapshot record follow. @flags: 0.
 * Errors: VMSNAP_ERR_INVALID_NAME, VMSNAP_ERR_SNAPSHOT_EXISTS.
 * Since: 0.1
 */
int vmsnap_snapshot_rename(vmsnap_snapshot *snap, const char *new_name, unsigned int flags,
                           vmsnap_error **error);

/**
 * vmsnap_snapshot_set_description: replace @snap's description; NULL or ""
 * removes it. @flags: 0.
 * Since: 0.1
 */
int vmsnap_snapshot_set_description(vmsnap_snapshot *snap, const char *description,
                                    unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_revert_flags: flags for vmsnap_snapshot_revert().
 * Since: 0.2
 */
typedef enum {
    /* Start the domain after reverting. */
    VMSNAP_SNAPSHOT_REVERT_RUNNING = 1u << 0,
    /* Start the domain paused after reverting. */
    VMSNAP_SNAPSHOT_REVERT_PAUSED = 1u << 1,
    /* Load a full snapshot's memory file even if its checksums fail, it
     * is not the file the snapshot recorded, or it names another domain
     * (since 0.3; in 0.2 accepted and without effect). The file must still
     * be a complete memory file. */
    VMSNAP_SNAPSHOT_REVERT_FORCE = 1u << 2,
} vmsnap_snapshot_revert_flags;

/**
 * vmsnap_snapshot_revert: make @snap's state the domain's state and @snap
 * the current snapshot. Internal disk snapshots are applied in place;
 * external ones get a fresh overlay on the snapshot's frozen files, so every
 * other snapshot stays intact. The state being left is discarded unless a
 * snapshot still uses its files (take a snapshot first to keep it). The
 * domain configuration recorded in the snapshot is restored.
 * Works from any run state. A full snapshot (with memory; Since: 0.2)
 * brings the guest back at the snapshot's instant, running or paused as the
 * snapshot recorded unless REVERT_RUNNING or REVERT_PAUSED say otherwise: an
 * internal one is loaded into the running QEMU when that runs the snapshot's
 * configuration, otherwise QEMU (re)starts from the snapshot's disks and
 * memory. A missing memory file is VMSNAP_ERR_CORRUPT, refused before
 * anything changes. For a disk-only snapshot a running domain is stopped
 * first (its running state is what is left behind) and stays shut off
 * unless REVERT_RUNNING or REVERT_PAUSED start it.
 * Returns: how many files of the state left behind were discarded (0 when
 * nothing was lost), or -1.
 * Since: 0.2
 */
int vmsnap_snapshot_revert(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_start_flags: flags for vmsnap_snapshot_start().
 * Since: 0.2
 */
typedef enum {
    /* Leave the guest paused instead of running. */
    VMSNAP_SNAPSHOT_START_PAUSED = 1u << 0,
} vmsnap_snapshot_start_flags;

/**
 * vmsnap_snapshot_start: the 2010 RFC's StartWithSnapshot — revert to @snap
 * (see vmsnap_snapshot_revert()) and run the domain from it, whatever state
 * the snapshot recorded; START_PAUSED leaves it paused. The domain may be in
 * any state but crashed.
 * Returns: as vmsnap_snapshot_revert().
 * Since: 0.2
 */
int vmsnap_snapshot_start(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_update_xml: apply an edited copy of @snap's XML (what
 * `snapshot-edit` does). Only <name> (a rename, as vmsnap_snapshot_rename())
 * and <description> may differ from vmsnap_snapshot_get_xml_desc()'s output;
 * any other change is refused with VMSNAP_ERR_UNSUPPORTED naming the
 * element, and nothing changes. Returns 1 if something changed, 0 if the XML
 * matched the snapshot, -1 on error. @flags: 0.
 * Since: 0.1
 */
int vmsnap_snapshot_update_xml(vmsnap_snapshot *snap, const char *xml, unsigned int flags,
                               vmsnap_error **error);

/**
 * vmsnap_snapshot_delete_flags: flags for vmsnap_snapshot_delete().
 * Since: 0.1
 */
typedef enum {
    /* Also delete every descendant. */
    VMSNAP_SNAPSHOT_DELETE_CHILDREN = 1u << 0,
    /* Remove only vmsnap's metadata; leave disk and memory data alone. */
    VMSNAP_SNAPSHOT_DELETE_METADATA_ONLY = 1u << 1,
    /* Delete the descendants but keep @snap itself. */
    VMSNAP_SNAPSHOT_DELETE_CHILDREN_ONLY = 1u << 2,
} vmsnap_snapshot_delete_flags;

/**
 * vmsnap_snapshot_delete: delete @snap (and, with CHILDREN, its descendants).
 * Deleting a snapshot alone re-parents its children onto its parent; if it
 * was current, its parent becomes current. With CHILDREN_ONLY, @snap becomes
 * current if a deleted descendant was.
 * Without METADATA_ONLY the snapshot's data goes too (Since: 0.2, shut-off
 * domains): internal snapshots are removed from their qcow2 files; an external
 * snapshot's frozen files are merged into the files built on them, so every
 * other snapshot and the current state keep their exact contents.
 * Since: 0.1
 */
int vmsnap_snapshot_delete(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_deactivate_flags: flags for vmsnap_snapshot_deactivate().
 * Exactly one of MERGE and DISCARD.
 * Since: 0.2
 */
typedef enum {
    /* Fold the snapshot into its parent: its point disappears, every other
     * snapshot and the current state keep their contents. */
    VMSNAP_SNAPSHOT_DEACTIVATE_MERGE = 1u << 0,
    /* Remove the snapshot and the state built on it: its descendants and,
     * if the current snapshot is it or below it, the current state. */
    VMSNAP_SNAPSHOT_DEACTIVATE_DISCARD = 1u << 1,
    /* Do it even though more than the snapshot's own point goes. */
    VMSNAP_SNAPSHOT_DEACTIVATE_FORCE = 1u << 2,
} vmsnap_snapshot_deactivate_flags;

/**
 * vmsnap_snapshot_deactivate: the 2010 snapshot RFC's Deactivate.
 * MERGE is a data delete of @snap alone (vmsnap_snapshot_delete() with no
 * flag); a snapshot holding memory is refused without FORCE, since its
 * memory state cannot be folded into the parent. DISCARD removes @snap and
 * its descendants with their data, merging nothing; when the current
 * snapshot is @snap or one of its descendants the domain first reverts to
 * @snap's parent as vmsnap_snapshot_revert() does (a disk-only parent
 * leaves it shut off, a full one resumes its guest), and a root @snap is
 * then refused even with FORCE (no state to go back to). Without FORCE, a
 * discard that would also remove descendants or the current state is
 * refused with VMSNAP_ERR_OPERATION_DENIED, the message naming them;
 * nothing changes. Works with the domain running, paused or shut off.
 * Returns: how many snapshots went, or -1.
 * Since: 0.2
 */
int vmsnap_snapshot_deactivate(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/**
 * vmsnap_snapshot_verify: check that @snap's data is intact, changing
 * nothing (the domain may run): an external memory file must belong to the
 * domain, be the file the snapshot recorded and pass its own checksums
 * (reported as "verifying memory" progress); each disk file the snapshot
 * holds must pass `qemu-img check` (leaked clusters are not damage), have
 * its whole backing chain, and hold the snapshot's internal qcow2 snapshot
 * when the data is internal. A raw disk file only has to exist.
 *
 * @flags: 0.
 * Returns 0 when intact; -1 with VMSNAP_ERR_CORRUPT naming every problem
 * found ("snapshot 's' is damaged: memory: ...; disk vda: ..."), or another
 * error when the check itself could not run.
 * Since: 0.3
 */
int vmsnap_snapshot_verify(vmsnap_snapshot *snap, unsigned int flags, vmsnap_error **error);

/** Since: 0.1. Borrowed; never NULL. */
const char *vmsnap_snapshot_get_name(const vmsnap_snapshot *snap);
/** Since: 0.1. The domain @snap belongs to; borrowed. */
vmsnap_domain *vmsnap_snapshot_get_domain(const vmsnap_snapshot *snap);
/** Since: 0.1. Borrowed; NULL if there is none. */
const char *vmsnap_snapshot_get_description(const vmsnap_snapshot *snap);
/** Since: 0.1. Borrowed; NULL for a root. */
const char *vmsnap_snapshot_get_parent_name(const vmsnap_snapshot *snap);
/** Since: 0.1 */
vmsnap_snapshot_state vmsnap_snapshot_get_state(const vmsnap_snapshot *snap);
/** Since: 0.1. Seconds since the epoch. */
long long vmsnap_snapshot_get_creation_time(const vmsnap_snapshot *snap);
/** Since: 0.1 */
vmsnap_snapshot_location vmsnap_snapshot_get_location(const vmsnap_snapshot *snap);
/** Since: 0.1. true if the snapshot holds memory state (a full snapshot). */
bool vmsnap_snapshot_has_memory(const vmsnap_snapshot *snap);

/** Since: 0.1 */
vmsnap_snapshot *vmsnap_snapshot_ref(vmsnap_snapshot *snap);
/** Since: 0.1. NULL is allowed. */
void vmsnap_snapshot_free(vmsnap_snapshot *snap);
/** Since: 0.1. Frees each element and the NULL-terminated array. */
void vmsnap_snapshot_list_free(vmsnap_snapshot **snaps);

/* ------------------------------------------------------------------ */
/* Images and diffs (Since: 0.3)                                       */
/* ------------------------------------------------------------------ */

/*
 * The structs below are allocated and freed by the library only: callers
 * read their fields and never allocate, copy or embed them, so later
 * versions may append fields at their end.
 */

/**
 * vmsnap_image_snapshot: one internal snapshot of a qcow2 image (its
 * snapshot table entry, as `qemu-img info` shows it).
 * Since: 0.3
 */
typedef struct {
    char *id;
    char *name;
    unsigned long long vm_state_size; /* bytes of saved VM state; 0: disk only */
    unsigned long long date_sec;      /* when it was taken, seconds since the epoch */
    unsigned int date_nsec;
    unsigned long long vm_clock_nsec; /* guest run time when taken */
    long long icount;                 /* instructions executed (record/replay); -1: none */
    unsigned long long disk_size;     /* the virtual size when taken */
} vmsnap_image_snapshot;

/**
 * vmsnap_image_info: what vmsnap_image_inspect() found in one image file.
 * qcow2-only fields are 0, false or NULL for raw images.
 * Since: 0.3
 */
typedef struct vmsnap_image_info vmsnap_image_info;
struct vmsnap_image_info {
    char *filename;                  /* as given (or as the backing file was found) */
    char *format;                    /* "qcow2" or "raw" */
    unsigned long long virtual_size; /* what the guest sees; a raw file's size */
    unsigned long long actual_size;  /* bytes the file occupies on the host file system */
    unsigned long long file_size;    /* the file's length */
    unsigned int cluster_size;
    char *compat;           /* "0.10" (qcow2 version 2) or "1.1" (version 3) */
    char *compression_type; /* "zlib" or "zstd" */
    unsigned int refcount_bits;
    bool lazy_refcounts;
    bool corrupt; /* QEMU flagged the image corrupt */
    bool dirty;   /* refcounts may be stale (lazy refcounts, crash) */
    bool extended_l2;
    bool has_bitmaps;        /* a persistent dirty bitmaps extension */
    char *backing_file;      /* as stored in the image, NULL if none */
    char *backing_file_full; /* resolved against the image's directory */
    char *backing_format;    /* from the image, NULL if not recorded */
    size_t nsnapshots;
    vmsnap_image_snapshot *snapshots; /* nsnapshots entries, table order */
    /* Allocation of the active layer in this file (qcow2; a raw file's data
     * regions count as allocated): */
    unsigned long long allocated_bytes;  /* guest bytes stored here, compressed included */
    unsigned long long zero_bytes;       /* guest bytes marked as reading zeros */
    unsigned long long compressed_bytes; /* guest bytes in compressed clusters */
    unsigned long long data_clusters;
    unsigned long long zero_clusters;
    unsigned long long compressed_clusters;
    vmsnap_image_info *backing; /* the next layer down, with BACKING_CHAIN; else NULL */
};

/**
 * vmsnap_image_inspect_flags: flags for vmsnap_image_inspect().
 * Since: 0.3
 */
typedef enum {
    /* Also inspect every backing file, down the chain (->backing). */
    VMSNAP_IMAGE_INSPECT_BACKING_CHAIN = 1u << 0,
} vmsnap_image_inspect_flags;

/**
 * vmsnap_image_inspect: read an image file's metadata natively (qcow2
 * versions 2 and 3; any other file is taken as raw, as `qemu-img info`
 * probes it), without QEMU and without locks (a running domain's images can
 * be read; the result is then a best effort). Every field of a qcow2 file is
 * bounds-checked: a malformed image is VMSNAP_ERR_CORRUPT naming the field,
 * a feature vmsnap does not read (encryption, an external data file, an
 * unknown incompatible feature, named) VMSNAP_ERR_UNSUPPORTED; a missing
 * file VMSNAP_ERR_IO.
 * Returns: the information, free with vmsnap_image_info_free().
 * Since: 0.3
 */
vmsnap_image_info *vmsnap_image_inspect(const char *path, unsigned int flags, vmsnap_error **error);

/** vmsnap_image_info_free: release @info and the chain under it. NULL is allowed. Since: 0.3 */
void vmsnap_image_info_free(vmsnap_image_info *info);

/**
 * vmsnap_diff_range: guest bytes [offset, offset + length) of a disk.
 * Since: 0.3
 */
typedef struct {
    unsigned long long offset;
    unsigned long long length;
} vmsnap_diff_range;

/**
 * vmsnap_disk_diff: how one disk differs between two points.
 * Since: 0.3
 */
typedef struct {
    char *disk;      /* the disk's target ("vda") */
    char *from_file; /* the image holding the first point */
    char *from_tag;  /* its internal snapshot tag, NULL for an image's active layer */
    char *to_file;
    char *to_tag;
    char *skipped;           /* NULL when compared; else why not ("not captured by 'snap'") */
    unsigned long long size; /* bytes compared: the larger virtual size */
    unsigned long long differing_bytes; /* total length of @ranges */
    unsigned long long compared_bytes;  /* bytes whose data had to be read and compared */
    size_t nranges;
    vmsnap_diff_range *ranges; /* sorted, merged, 512-byte sector granularity */
} vmsnap_disk_diff;

/**
 * vmsnap_snapshot_diff_result: the result of vmsnap_snapshot_diff().
 * Since: 0.3
 */
typedef struct {
    size_t ndisks;
    vmsnap_disk_diff *disks;            /* in the domain's disk order */
    unsigned long long differing_bytes; /* summed over the disks */
} vmsnap_snapshot_diff_result;

/**
 * vmsnap_snapshot_diff: which guest byte ranges of each disk differ between
 * snapshot @from and snapshot @to, or the domain's current state when @to
 * is NULL. Internal snapshots are compared through their qcow2 L1/L2
 * tables, external ones through the layers of their backing chains: where
 * both points map to the same stored cluster, or both read zeros, they are
 * equal without reading data; everywhere else the data is read and
 * compared, so the ranges are exactly the content differences (what
 * `qemu-img compare` finds), rounded out to 512-byte sectors. Past the end
 * of the smaller disk, bytes read as zeros. A disk that one point did not
 * capture is listed with ->skipped set. Images are read without locks: a
 * running domain's current state is a best effort.
 * @flags: 0.
 * Returns: 0 and *@result (free with vmsnap_snapshot_diff_result_free()),
 * or -1.
 * Since: 0.3
 */
int vmsnap_snapshot_diff(vmsnap_snapshot *from, vmsnap_snapshot *to,
                         vmsnap_snapshot_diff_result **result, unsigned int flags,
                         vmsnap_error **error);

/** vmsnap_snapshot_diff_result_free: NULL is allowed. Since: 0.3 */
void vmsnap_snapshot_diff_result_free(vmsnap_snapshot_diff_result *result);

/** Since: 0.1. The library's version, "MAJOR.MINOR.PATCH". */
const char *vmsnap_version(void);

#ifdef __cplusplus
}
#endif

#endif /* VMSNAP_VMSNAP_H */
