/*
 * snapshot_conf.c: libvirt's <domainsnapshot> XML plus vmsnap's extensions
 * (see docs/formats/snapshot-xml.md).
 */
#include "conf/snapshot_conf.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

#include "conf/xml.h"
#include "util/error.h"
#include "util/names.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

#define SNAPSHOT_SUPPORTED                                                                         \
    "vmsnap supports <name>, <description>, <state>, <parent>, <creationTime>, <memory>, "         \
    "<disks>, <domain>, <inactiveDomain>, <cookie>, <active>, <compression>, "                     \
    "<vmsnap:checksum xmlns:vmsnap='" VMS_SNAPSHOT_XMLNS "'>, <vmsnap:pause> and <vmsnap:tag>"

#define CHECKSUM_TYPE    "xxh3-128"
#define CHECKSUM_HEX_LEN 32

/* ------------------------------------------------------------------ */
/* Enumerations                                                        */
/* ------------------------------------------------------------------ */

static const char *const location_names[] = {
    [VMS_SNAP_LOCATION_DEFAULT] = NULL,        [VMS_SNAP_LOCATION_NO] = "no",
    [VMS_SNAP_LOCATION_INTERNAL] = "internal", [VMS_SNAP_LOCATION_EXTERNAL] = "external",
    [VMS_SNAP_LOCATION_MANUAL] = "manual",
};

const char *vms_snap_location_to_string(vms_snap_location loc)
{
    if ((size_t)loc < G_N_ELEMENTS(location_names))
        return location_names[loc];
    return NULL;
}

int vms_snap_location_from_string(const char *str)
{
    for (size_t i = 1; str && i < G_N_ELEMENTS(location_names); i++)
        if (strcmp(str, location_names[i]) == 0)
            return (int)i;
    return -1;
}

static const char *const state_names[] = {
    [VMSNAP_SNAPSHOT_STATE_NONE] = "none",
    [VMSNAP_SNAPSHOT_STATE_RUNNING] = "running",
    [VMSNAP_SNAPSHOT_STATE_BLOCKED] = "blocked",
    [VMSNAP_SNAPSHOT_STATE_PAUSED] = "paused",
    [VMSNAP_SNAPSHOT_STATE_SHUTDOWN] = "shutdown",
    [VMSNAP_SNAPSHOT_STATE_SHUTOFF] = "shutoff",
    [VMSNAP_SNAPSHOT_STATE_CRASHED] = "crashed",
    [VMSNAP_SNAPSHOT_STATE_PMSUSPENDED] = "pmsuspended",
    [VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT] = "disk-snapshot",
};

const char *vms_snap_state_to_string(vmsnap_snapshot_state state)
{
    if ((size_t)state < G_N_ELEMENTS(state_names))
        return state_names[state];
    return "none";
}

int vms_snap_state_from_string(const char *str)
{
    /* "none" is not a value libvirt writes; it only stands for "absent". */
    for (size_t i = 1; str && i < G_N_ELEMENTS(state_names); i++)
        if (strcmp(str, state_names[i]) == 0)
            return (int)i;
    return -1;
}

static const char *const compression_names[] = {
    [VMS_MEM_COMPRESSION_NONE] = NULL,
    [VMS_MEM_COMPRESSION_RAW] = "raw",
    [VMS_MEM_COMPRESSION_GZIP] = "gzip",
    [VMS_MEM_COMPRESSION_ZSTD] = "zstd",
};

const char *vms_mem_compression_to_string(vms_mem_compression c)
{
    if ((size_t)c < G_N_ELEMENTS(compression_names))
        return compression_names[c];
    return NULL;
}

int vms_mem_compression_from_string(const char *str)
{
    for (size_t i = 1; str && i < G_N_ELEMENTS(compression_names); i++)
        if (strcmp(str, compression_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* Free, copy, derived facts                                           */
/* ------------------------------------------------------------------ */

static void snapshot_disk_free(vms_snapshot_disk *disk)
{
    if (!disk)
        return;
    g_free(disk->name);
    g_free(disk->source_file);
    g_free(disk);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_snapshot_disk, snapshot_disk_free)

void vms_snapshot_def_free(vms_snapshot_def *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->description);
    g_free(def->parent);
    g_free(def->memory_file);
    g_free(def->checksum_type);
    g_free(def->checksum_value);
    g_free(def->internal_tag);
    for (size_t i = 0; i < def->ndisks; i++)
        snapshot_disk_free(def->disks[i]);
    g_free(def->disks);
    vms_domain_def_free(def->domain);
    vms_domain_def_free(def->inactive_domain);
    g_free(def->cookie_xml);
    g_free(def);
}

vms_snapshot_def *vms_snapshot_def_copy(const vms_snapshot_def *def)
{
    if (!def)
        return NULL;
    vms_snapshot_def *c = g_new0(vms_snapshot_def, 1);
    *c = *def;
    c->name = g_strdup(def->name);
    c->description = g_strdup(def->description);
    c->parent = g_strdup(def->parent);
    c->memory_file = g_strdup(def->memory_file);
    c->checksum_type = g_strdup(def->checksum_type);
    c->checksum_value = g_strdup(def->checksum_value);
    c->internal_tag = g_strdup(def->internal_tag);
    c->has_pause = def->has_pause;
    c->pause_us = def->pause_us;
    c->qemu_downtime_ms = def->qemu_downtime_ms;
    c->disks = g_new0(vms_snapshot_disk *, def->ndisks + 1);
    for (size_t i = 0; i < def->ndisks; i++) {
        vms_snapshot_disk *d = g_new0(vms_snapshot_disk, 1);
        *d = *def->disks[i];
        d->name = g_strdup(def->disks[i]->name);
        d->source_file = g_strdup(def->disks[i]->source_file);
        c->disks[i] = d;
    }
    c->domain = vms_domain_def_copy(def->domain);
    c->inactive_domain = vms_domain_def_copy(def->inactive_domain);
    c->cookie_xml = g_strdup(def->cookie_xml);
    return c;
}

bool vms_snapshot_def_has_memory(const vms_snapshot_def *def)
{
    return def &&
           (def->memory == VMS_SNAP_LOCATION_INTERNAL || def->memory == VMS_SNAP_LOCATION_EXTERNAL);
}

vmsnap_snapshot_location vms_snapshot_def_location(const vms_snapshot_def *def)
{
    bool internal = false, external = false;
    if (!def)
        return VMSNAP_SNAPSHOT_LOCATION_NONE;
    for (size_t i = 0; i <= def->ndisks; i++) {
        /* index ndisks stands for the memory */
        vms_snap_location loc = i < def->ndisks ? def->disks[i]->snapshot : def->memory;
        if (loc == VMS_SNAP_LOCATION_INTERNAL)
            internal = true;
        else if (loc == VMS_SNAP_LOCATION_EXTERNAL || loc == VMS_SNAP_LOCATION_MANUAL)
            external = true; /* manual: the data lives wherever the user put it, outside */
    }
    if (internal && external)
        return VMSNAP_SNAPSHOT_LOCATION_MIXED;
    if (internal)
        return VMSNAP_SNAPSHOT_LOCATION_INTERNAL;
    if (external)
        return VMSNAP_SNAPSHOT_LOCATION_EXTERNAL;
    return VMSNAP_SNAPSHOT_LOCATION_NONE;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

static bool is_vmsnap_element(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && node->ns && node->ns->href &&
           strcmp((const char *)node->ns->href, VMS_SNAPSHOT_XMLNS) == 0 &&
           strcmp((const char *)node->name, name) == 0;
}

static const char *const no_attrs[] = {NULL};

static void bad_value(xmlNode *node, const char *what, const char *value, const char *supported,
                      vmsnap_error **error)
{
    g_autofree char *qname = vms_xml_qname(node);
    g_autofree char *v = g_utf8_make_valid(value, MIN(strlen(value), 60));
    vms_error_set(error, VMSNAP_ERR_UNSUPPORTED, "line %ld: unsupported %s '%s' in <%s>; %s",
                  vms_xml_line(node), what, v, qname, supported);
}

static bool parse_location(xmlNode *node, vms_snap_location *out, vmsnap_error **error)
{
    const char *value = vms_xml_attr(node, "snapshot");
    if (!value) {
        *out = VMS_SNAP_LOCATION_DEFAULT;
        return true;
    }
    int loc = vms_snap_location_from_string(value);
    /* libvirt: memory is never 'manual' */
    if (loc < 0 || (loc == VMS_SNAP_LOCATION_MANUAL && vms_xml_is_element(node, "memory"))) {
        bad_value(node, "snapshot mode", value,
                  vms_xml_is_element(node, "memory")
                      ? "use snapshot='no', 'internal' or 'external'"
                      : "use snapshot='no', 'internal', 'external' or 'manual'",
                  error);
        return false;
    }
    *out = (vms_snap_location)loc;
    return true;
}

static bool parse_name(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    def->name = vms_xml_plain_text(node, error);
    return def->name && vms_name_validate("snapshot", def->name, error);
}

static bool parse_parent(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    if (!vms_xml_check_attrs(node, no_attrs, "<parent> takes no attributes", error) ||
        !vms_xml_check_no_text(node, error))
        return false;
    xmlNode *name = NULL;
    for (xmlNode *c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!vms_xml_is_element(c, "name")) {
            vms_xml_unsupported_element(c, "vmsnap supports <name> in <parent>", error);
            return false;
        }
        if (!vms_xml_once(c, &name, error) || !(def->parent = vms_xml_plain_text(c, error)))
            return false;
    }
    if (!name) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <parent> has no <name>; write <parent><name>SNAPSHOT</name>"
                      "</parent> or leave <parent> out for a root snapshot",
                      vms_xml_line(node));
        return false;
    }
    return vms_name_validate("parent snapshot", def->parent, error);
}

static bool parse_state(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    g_autofree char *text = vms_xml_trimmed_text(node, error);
    if (!text)
        return false;
    int state = vms_snap_state_from_string(text);
    if (state < 0) {
        bad_value(node, "state", text,
                  "use running, blocked, paused, shutdown, shutoff, crashed, pmsuspended or "
                  "disk-snapshot",
                  error);
        return false;
    }
    def->state = (vmsnap_snapshot_state)state;
    return true;
}

static bool parse_creation_time(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    g_autofree char *text = vms_xml_trimmed_text(node, error);
    if (!text)
        return false;
    guint64 t = 0;
    if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXINT64, &t, NULL)) {
        g_autofree char *v = g_utf8_make_valid(text, MIN(strlen(text), 60));
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <creationTime> must be whole seconds since 1970 (e.g. "
                      "1700000000), not '%s'",
                      vms_xml_line(node), v);
        return false;
    }
    def->creation_time = (long long)t;
    def->has_creation_time = true;
    return true;
}

static bool parse_active(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    g_autofree char *text = vms_xml_trimmed_text(node, error);
    if (!text)
        return false;
    if (strcmp(text, "0") != 0 && strcmp(text, "1") != 0) {
        bad_value(node, "value", text, "<active> is 0 or 1", error);
        return false;
    }
    def->has_active = true;
    def->active = text[0] == '1';
    return true;
}

static bool parse_memory(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    static const char *const attrs[] = {"snapshot", "file", NULL};
    if (!vms_xml_check_attrs(node, attrs, "vmsnap supports snapshot= and file= on <memory>",
                             error) ||
        !vms_xml_check_empty(node, error) || !parse_location(node, &def->memory, error))
        return false;
    const char *file = vms_xml_attr(node, "file");
    if (file && def->memory == VMS_SNAP_LOCATION_DEFAULT)
        def->memory = VMS_SNAP_LOCATION_EXTERNAL; /* a file implies external, as in libvirt */
    if (file && def->memory != VMS_SNAP_LOCATION_EXTERNAL) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <memory file='...'> needs snapshot='external'; memory kept "
                      "'%s' has no file of its own",
                      vms_xml_line(node), vms_snap_location_to_string(def->memory));
        return false;
    }
    /* External memory without a file is fine here: taking the snapshot picks
     * the default location; a redefinition (core) insists on a file. */
    if (def->memory == VMS_SNAP_LOCATION_EXTERNAL && file) {
        if (!vms_xml_require_absolute(node, "memory file", file, error))
            return false;
        def->memory_file = g_strdup(file);
    }
    return true;
}

static bool parse_snapshot_disk_child(xmlNode *c, vms_snapshot_disk *disk, xmlNode **driver,
                                      xmlNode **source, vmsnap_error **error)
{
    if (vms_xml_is_element(c, "driver")) {
        static const char *const attrs[] = {"type", NULL};
        if (!vms_xml_once(c, driver, error) ||
            !vms_xml_check_attrs(c, attrs, "vmsnap supports type='qcow2'|'raw' on <driver>",
                                 error) ||
            !vms_xml_check_empty(c, error))
            return false;
        const char *type = vms_xml_attr(c, "type");
        if (type) {
            int fmt = vms_disk_format_from_string(type);
            if (fmt < 0) {
                bad_value(c, "image format", type, "use type='qcow2' or type='raw'", error);
                return false;
            }
            disk->format = (vms_disk_format)fmt;
        }
        return true;
    }
    if (vms_xml_is_element(c, "source")) {
        static const char *const attrs[] = {"file", NULL};
        if (!vms_xml_once(c, source, error) ||
            !vms_xml_check_attrs(c, attrs, "vmsnap supports file= on <source>", error) ||
            !vms_xml_check_empty(c, error))
            return false;
        const char *file = vms_xml_attr(c, "file");
        if (!file) {
            vms_error_set(error, VMSNAP_ERR_XML, "line %ld: <source> needs file='/absolute/path'",
                          vms_xml_line(c));
            return false;
        }
        if (!vms_xml_require_absolute(c, "snapshot disk file", file, error))
            return false;
        disk->source_file = g_strdup(file);
        return true;
    }
    vms_xml_unsupported_element(c, "vmsnap supports <driver> and <source> in a snapshot <disk>",
                                error);
    return false;
}

static vms_snapshot_disk *parse_snapshot_disk(xmlNode *node, vmsnap_error **error)
{
    static const char *const attrs[] = {"name", "snapshot", "type", NULL};
    if (!vms_xml_check_attrs(node, attrs,
                             "vmsnap supports name=, snapshot= and type='file' on <disk>", error) ||
        !vms_xml_check_no_text(node, error))
        return NULL;
    g_autoptr(vms_snapshot_disk) disk = g_new0(vms_snapshot_disk, 1);
    const char *name = vms_xml_attr(node, "name");
    if (!name || !*name) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <disk> needs name= (the disk's target, e.g. name='vda')",
                      vms_xml_line(node));
        return NULL;
    }
    disk->name = g_strdup(name);
    if (!parse_location(node, &disk->snapshot, error))
        return NULL;
    const char *type = vms_xml_attr(node, "type");
    if (type && strcmp(type, "file") != 0) {
        bad_value(node, "disk type", type, "vmsnap writes snapshots to files: type='file'", error);
        return NULL;
    }
    xmlNode *driver = NULL, *source = NULL;
    for (xmlNode *c = node->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE &&
            !parse_snapshot_disk_child(c, disk, &driver, &source, error))
            return NULL;
    bool has_target = type || driver || source;
    if (has_target && disk->snapshot == VMS_SNAP_LOCATION_DEFAULT)
        disk->snapshot =
            VMS_SNAP_LOCATION_EXTERNAL; /* a new file implies external, as in libvirt */
    if (has_target && disk->snapshot != VMS_SNAP_LOCATION_EXTERNAL) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: disk '%s' has type=, <driver> or <source>, which describe an "
                      "external snapshot's new file, but snapshot='%s'; use snapshot='external' "
                      "or remove them",
                      vms_xml_line(node), disk->name, vms_snap_location_to_string(disk->snapshot));
        return NULL;
    }
    return g_steal_pointer(&disk);
}

static bool parse_disks(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    if (!vms_xml_check_attrs(node, no_attrs, "<disks> takes no attributes", error) ||
        !vms_xml_check_no_text(node, error))
        return false;
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func((GDestroyNotify)snapshot_disk_free);
    for (xmlNode *c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (!vms_xml_is_element(c, "disk")) {
            vms_xml_unsupported_element(c, "vmsnap supports <disk> in <disks>", error);
            return false;
        }
        vms_snapshot_disk *disk = parse_snapshot_disk(c, error);
        if (!disk)
            return false;
        for (guint i = 0; i < disks->len; i++) {
            vms_snapshot_disk *other = g_ptr_array_index(disks, i);
            if (strcmp(other->name, disk->name) == 0) {
                vms_error_set(error, VMSNAP_ERR_XML,
                              "line %ld: disk '%s' is listed twice in <disks>; list each disk "
                              "once",
                              vms_xml_line(c), disk->name);
                snapshot_disk_free(disk);
                return false;
            }
        }
        g_ptr_array_add(disks, disk);
    }
    def->ndisks = disks->len;
    g_ptr_array_set_free_func(disks, NULL);
    g_ptr_array_add(disks, NULL);
    def->disks = (vms_snapshot_disk **)g_ptr_array_steal(disks, NULL);
    return true;
}

static bool parse_compression(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    g_autofree char *text = vms_xml_trimmed_text(node, error);
    if (!text)
        return false;
    int c = vms_mem_compression_from_string(text);
    if (c < 0) {
        bad_value(node, "compression", text, "use gzip, zstd or raw", error);
        return false;
    }
    def->compression = (vms_mem_compression)c;
    return true;
}

static bool parse_checksum(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    static const char *const attrs[] = {"type", NULL};
    if (!vms_xml_check_attrs(
            node, attrs, "vmsnap supports type='" CHECKSUM_TYPE "' on <vmsnap:checksum>", error))
        return false;
    const char *type = vms_xml_attr(node, "type");
    if (!type) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <vmsnap:checksum> needs type='" CHECKSUM_TYPE "'",
                      vms_xml_line(node));
        return false;
    }
    if (strcmp(type, CHECKSUM_TYPE) != 0) {
        bad_value(node, "checksum type", type, "vmsnap supports type='" CHECKSUM_TYPE "'", error);
        return false;
    }
    g_autofree char *text = vms_xml_leaf_text(node, error);
    if (!text)
        return false;
    g_strstrip(text);
    bool hex = strlen(text) == CHECKSUM_HEX_LEN;
    for (const char *p = text; hex && *p; p++)
        hex = g_ascii_isxdigit(*p);
    if (!hex) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: an " CHECKSUM_TYPE " checksum is %d hexadecimal digits",
                      vms_xml_line(node), CHECKSUM_HEX_LEN);
        return false;
    }
    def->checksum_type = g_strdup(type);
    def->checksum_value = g_ascii_strdown(text, -1);
    return true;
}

/* A non-negative whole number in attribute @name of @node; -1 if absent. */
static bool parse_count_attr(xmlNode *node, const char *name, int64_t *out, vmsnap_error **error)
{
    const char *text = vms_xml_attr(node, name);
    guint64 v = 0;
    *out = -1;
    if (!text)
        return true;
    if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXINT64, &v, NULL)) {
        g_autofree char *shown = vms_xml_shown(text);
        g_autofree char *qname = vms_xml_qname(node);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: %s='%s' on <%s> must be a whole number (e.g. 1500)",
                      vms_xml_line(node), name, shown, qname);
        return false;
    }
    *out = (int64_t)v;
    return true;
}

static bool parse_pause(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    static const char *const attrs[] = {"us", "qemu-downtime-ms", NULL};
    if (!vms_xml_check_attrs(
            node, attrs, "vmsnap supports us= and qemu-downtime-ms= on <vmsnap:pause>", error) ||
        !vms_xml_check_empty(node, error) || !parse_count_attr(node, "us", &def->pause_us, error) ||
        !parse_count_attr(node, "qemu-downtime-ms", &def->qemu_downtime_ms, error))
        return false;
    if (def->pause_us < 0) {
        vms_error_set(error, VMSNAP_ERR_XML, "line %ld: <vmsnap:pause> needs us='MICROSECONDS'",
                      vms_xml_line(node));
        return false;
    }
    def->has_pause = true;
    return true;
}

static bool parse_cookie(xmlNode *node, vms_snapshot_def *def, vmsnap_error **error)
{
    GString *out = g_string_new(NULL);
    if (!vms_xml_preserve(out, node, 0, error)) {
        g_string_free(out, TRUE);
        return false;
    }
    def->cookie_xml = g_string_free(out, FALSE);
    return true;
}

static bool parse_embedded_domain(xmlNode *node, vms_domain_def **out, vmsnap_error **error)
{
    vmsnap_error *err = NULL;
    *out = vms_domain_def_parse_node(node, &err);
    if (!*out) {
        vms_error_prefix(&err, "in the snapshot's <%s>: ", node->name);
        vms_error_propagate(error, err);
        return false;
    }
    return true;
}

typedef struct {
    xmlNode *name, *description, *state, *parent, *creation_time, *memory, *disks, *domain,
        *inactive_domain, *cookie, *active, *compression, *checksum, *tag, *pause;
} snapshot_seen;

static bool parse_snapshot_child(xmlNode *c, vms_snapshot_def *def, snapshot_seen *seen,
                                 vmsnap_error **error)
{
    if (vms_xml_is_element(c, "name"))
        return vms_xml_once(c, &seen->name, error) && parse_name(c, def, error);
    if (vms_xml_is_element(c, "description"))
        return vms_xml_once(c, &seen->description, error) &&
               (def->description = vms_xml_plain_text(c, error)) != NULL;
    if (vms_xml_is_element(c, "state"))
        return vms_xml_once(c, &seen->state, error) && parse_state(c, def, error);
    if (vms_xml_is_element(c, "parent"))
        return vms_xml_once(c, &seen->parent, error) && parse_parent(c, def, error);
    if (vms_xml_is_element(c, "creationTime"))
        return vms_xml_once(c, &seen->creation_time, error) && parse_creation_time(c, def, error);
    if (vms_xml_is_element(c, "memory"))
        return vms_xml_once(c, &seen->memory, error) && parse_memory(c, def, error);
    if (vms_xml_is_element(c, "disks"))
        return vms_xml_once(c, &seen->disks, error) && parse_disks(c, def, error);
    if (vms_xml_is_element(c, "domain"))
        return vms_xml_once(c, &seen->domain, error) &&
               parse_embedded_domain(c, &def->domain, error);
    if (vms_xml_is_element(c, "inactiveDomain"))
        return vms_xml_once(c, &seen->inactive_domain, error) &&
               parse_embedded_domain(c, &def->inactive_domain, error);
    if (vms_xml_is_element(c, "cookie"))
        return vms_xml_once(c, &seen->cookie, error) && parse_cookie(c, def, error);
    if (vms_xml_is_element(c, "active"))
        return vms_xml_once(c, &seen->active, error) && parse_active(c, def, error);
    if (vms_xml_is_element(c, "compression"))
        return vms_xml_once(c, &seen->compression, error) && parse_compression(c, def, error);
    if (is_vmsnap_element(c, "checksum"))
        return vms_xml_once(c, &seen->checksum, error) && parse_checksum(c, def, error);
    if (is_vmsnap_element(c, "pause"))
        return vms_xml_once(c, &seen->pause, error) && parse_pause(c, def, error);
    if (is_vmsnap_element(c, "tag"))
        return vms_xml_once(c, &seen->tag, error) &&
               (def->internal_tag = vms_xml_plain_text(c, error)) != NULL &&
               vms_name_validate("internal snapshot tag", def->internal_tag, error);
    vms_xml_unsupported_element(c, SNAPSHOT_SUPPORTED, error);
    return false;
}

/* Rules that involve more than one element. */
static bool check_snapshot(const vms_snapshot_def *def, const snapshot_seen *seen,
                           vmsnap_error **error)
{
    bool memory_saved = vms_snapshot_def_has_memory(def);
    if (memory_saved && (def->state == VMSNAP_SNAPSHOT_STATE_DISK_SNAPSHOT ||
                         def->state == VMSNAP_SNAPSHOT_STATE_SHUTOFF)) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: state '%s' has no memory to save, but <memory snapshot='%s'>; "
                      "use <memory snapshot='no'/>",
                      vms_xml_line(seen->memory), vms_snap_state_to_string(def->state),
                      vms_snap_location_to_string(def->memory));
        return false;
    }
    if ((seen->compression || seen->checksum) && def->memory != VMS_SNAP_LOCATION_EXTERNAL) {
        xmlNode *n = seen->compression ? seen->compression : seen->checksum;
        g_autofree char *qname = vms_xml_qname(n);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <%s> describes an external memory file, but there is no "
                      "<memory snapshot='external' file='...'/>; remove it or save memory "
                      "externally",
                      vms_xml_line(n), qname);
        return false;
    }
    if (def->name && def->parent && strcmp(def->name, def->parent) == 0) {
        vms_error_set(error, VMSNAP_ERR_XML, "line %ld: snapshot '%s' names itself as its parent",
                      vms_xml_line(seen->parent), def->name);
        return false;
    }
    return true;
}

vms_snapshot_def *vms_snapshot_def_parse_string(const char *xml, vmsnap_error **error)
{
    g_autoptr(xmlDoc) doc = vms_xml_read(xml, "domainsnapshot", error);
    if (!doc)
        return NULL;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!vms_xml_check_attrs(root, no_attrs, "<domainsnapshot> takes no attributes", error) ||
        !vms_xml_check_no_text(root, error))
        return NULL;
    g_autoptr(vms_snapshot_def) def = g_new0(vms_snapshot_def, 1);
    snapshot_seen seen = {0};
    for (xmlNode *c = root->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !parse_snapshot_child(c, def, &seen, error))
            return NULL;
    if (!check_snapshot(def, &seen, error))
        return NULL;
    if (def->description && !*def->description)
        g_clear_pointer(&def->description, g_free);
    if (!def->disks)
        def->disks = g_new0(vms_snapshot_disk *, 1);
    return g_steal_pointer(&def);
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

static void format_memory(GString *out, const vms_snapshot_def *def)
{
    if (def->memory != VMS_SNAP_LOCATION_DEFAULT) {
        g_string_append(out, "  <memory");
        vms_xml_write_attr(out, "snapshot", vms_snap_location_to_string(def->memory));
        vms_xml_write_attr(out, "file", def->memory_file);
        g_string_append(out, "/>\n");
    }
    if (def->compression != VMS_MEM_COMPRESSION_NONE)
        vms_xml_write_text_element(out, 1, "compression",
                                   vms_mem_compression_to_string(def->compression));
    if (def->checksum_type && def->checksum_value) {
        g_string_append(out, "  <vmsnap:checksum xmlns:vmsnap='" VMS_SNAPSHOT_XMLNS "'");
        vms_xml_write_attr(out, "type", def->checksum_type);
        g_string_append_c(out, '>');
        vms_xml_escape_text(out, def->checksum_value);
        g_string_append(out, "</vmsnap:checksum>\n");
    }
    if (def->has_pause) {
        g_string_append(out, "  <vmsnap:pause xmlns:vmsnap='" VMS_SNAPSHOT_XMLNS "'");
        g_string_append_printf(out, " us='%" G_GINT64_FORMAT "'", def->pause_us);
        if (def->qemu_downtime_ms >= 0)
            g_string_append_printf(out, " qemu-downtime-ms='%" G_GINT64_FORMAT "'",
                                   def->qemu_downtime_ms);
        g_string_append(out, "/>\n");
    }
    if (def->internal_tag) {
        g_string_append(out, "  <vmsnap:tag xmlns:vmsnap='" VMS_SNAPSHOT_XMLNS "'>");
        vms_xml_escape_text(out, def->internal_tag);
        g_string_append(out, "</vmsnap:tag>\n");
    }
}

static void format_disks(GString *out, const vms_snapshot_def *def)
{
    if (def->ndisks == 0)
        return;
    g_string_append(out, "  <disks>\n");
    for (size_t i = 0; i < def->ndisks; i++) {
        const vms_snapshot_disk *d = def->disks[i];
        bool external = d->snapshot == VMS_SNAP_LOCATION_EXTERNAL;
        bool children = d->format != VMS_DISK_FORMAT_NONE || d->source_file;
        g_string_append(out, "    <disk");
        vms_xml_write_attr(out, "name", d->name);
        vms_xml_write_attr(out, "snapshot", vms_snap_location_to_string(d->snapshot));
        if (external)
            g_string_append(out, " type='file'");
        if (!children) {
            g_string_append(out, "/>\n");
            continue;
        }
        g_string_append(out, ">\n");
        if (d->format != VMS_DISK_FORMAT_NONE) {
            g_string_append(out, "      <driver");
            vms_xml_write_attr(out, "type", vms_disk_format_to_string(d->format));
            g_string_append(out, "/>\n");
        }
        if (d->source_file) {
            g_string_append(out, "      <source");
            vms_xml_write_attr(out, "file", d->source_file);
            g_string_append(out, "/>\n");
        }
        g_string_append(out, "    </disk>\n");
    }
    g_string_append(out, "  </disks>\n");
}

char *vms_snapshot_def_format(const vms_snapshot_def *def, unsigned int flags)
{
    GString *out = g_string_new("<domainsnapshot>\n");
    vms_xml_write_text_element(out, 1, "name", def->name);
    vms_xml_write_text_element(out, 1, "description", def->description);
    if (def->state != VMSNAP_SNAPSHOT_STATE_NONE)
        vms_xml_write_text_element(out, 1, "state", vms_snap_state_to_string(def->state));
    if (def->parent) {
        g_string_append(out, "  <parent>\n    <name>");
        vms_xml_escape_text(out, def->parent);
        g_string_append(out, "</name>\n  </parent>\n");
    }
    if (def->has_creation_time)
        g_string_append_printf(out, "  <creationTime>%lld</creationTime>\n", def->creation_time);
    format_memory(out, def);
    format_disks(out, def);
    if (!(flags & VMS_SNAPSHOT_FORMAT_NO_DOMAIN)) {
        if (def->domain)
            vms_domain_def_format_element(out, def->domain, "domain", 1);
        if (def->inactive_domain)
            vms_domain_def_format_element(out, def->inactive_domain, "inactiveDomain", 1);
    }
    vms_xml_append_reindented(out, def->cookie_xml, 1); /* stored at level 0 */
    if (def->has_active)
        g_string_append_printf(out, "  <active>%d</active>\n", def->active ? 1 : 0);
    if (strcmp(out->str, "<domainsnapshot>\n") == 0)
        g_string_assign(out, "<domainsnapshot/>\n");
    else
        g_string_append(out, "</domainsnapshot>\n");
    return g_string_free(out, FALSE);
}

const char *vms_snapshot_def_internal_tag(const vms_snapshot_def *def)
{
    return def->internal_tag ? def->internal_tag : def->name;
}
