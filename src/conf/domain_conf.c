/*
 * domain_conf.c: the <domain> XML subset (see docs/formats/domain-xml.md).
 * Reading and writing XML safely is xml.c's job.
 */
#include "conf/domain_conf.h"

#include <libxml/tree.h>
#include <string.h>

#include "conf/xml.h"
#include "util/error.h"
#include "util/names.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

/* ------------------------------------------------------------------ */
/* Small value types                                                   */
/* ------------------------------------------------------------------ */

const char *vms_disk_format_to_string(vms_disk_format fmt)
{
    switch (fmt) {
    case VMS_DISK_FORMAT_RAW:
        return "raw";
    case VMS_DISK_FORMAT_QCOW2:
        return "qcow2";
    case VMS_DISK_FORMAT_NONE:
        break;
    }
    return NULL;
}

int vms_disk_format_from_string(const char *str)
{
    if (g_strcmp0(str, "raw") == 0)
        return VMS_DISK_FORMAT_RAW;
    if (g_strcmp0(str, "qcow2") == 0)
        return VMS_DISK_FORMAT_QCOW2;
    return -1;
}

void vms_uuid_format(const unsigned char uuid[16], char buf[37])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            buf[o++] = '-';
        buf[o++] = hex[uuid[i] >> 4];
        buf[o++] = hex[uuid[i] & 0xf];
    }
    buf[o] = '\0';
}

bool vms_uuid_parse(const char *str, unsigned char uuid[16])
{
    if (!str)
        return false;
    size_t len = strlen(str);
    bool dashed = len == 36;
    if (!dashed && len != 32)
        return false;
    unsigned char out[16];
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (str[i] != '-')
                return false;
            i++;
            continue;
        }
        int hi = g_ascii_xdigit_value(str[i]);
        int lo = g_ascii_xdigit_value(str[i + 1]);
        if (hi < 0 || lo < 0 || n >= 16)
            return false;
        out[n++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    if (n != 16)
        return false;
    memcpy(uuid, out, 16);
    return true;
}

void vms_uuid_generate(unsigned char uuid[16])
{
    g_autofree char *s = g_uuid_string_random(); /* version 4, from a CSPRNG */
    bool ok = vms_uuid_parse(s, uuid);
    g_assert(ok);
}

/* ------------------------------------------------------------------ */
/* Free, copy, find                                                    */
/* ------------------------------------------------------------------ */

static void disk_free(vms_domain_disk *disk)
{
    if (!disk)
        return;
    g_free(disk->target);
    g_free(disk->bus);
    g_free(disk->source);
    g_free(disk->extra_xml);
    g_free(disk);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(vms_domain_disk, disk_free)

void vms_domain_def_free(vms_domain_def *def)
{
    if (!def)
        return;
    g_free(def->name);
    g_free(def->title);
    g_free(def->description);
    g_free(def->os_arch);
    g_free(def->os_machine);
    g_free(def->kernel);
    g_free(def->initrd);
    g_free(def->cmdline);
    g_free(def->boot_dev);
    g_free(def->emulator);
    for (size_t i = 0; i < def->ndisks; i++)
        disk_free(def->disks[i]);
    g_free(def->disks);
    g_free(def->serial_path);
    g_free(def->serial_extra_xml);
    g_free(def->extra_xml);
    g_free(def->extra_devices_xml);
    g_free(def);
}

vms_domain_def *vms_domain_def_copy(const vms_domain_def *def)
{
    if (!def)
        return NULL;
    vms_domain_def *c = g_new0(vms_domain_def, 1);
    *c = *def;
    c->name = g_strdup(def->name);
    c->title = g_strdup(def->title);
    c->description = g_strdup(def->description);
    c->os_arch = g_strdup(def->os_arch);
    c->os_machine = g_strdup(def->os_machine);
    c->kernel = g_strdup(def->kernel);
    c->initrd = g_strdup(def->initrd);
    c->cmdline = g_strdup(def->cmdline);
    c->boot_dev = g_strdup(def->boot_dev);
    c->emulator = g_strdup(def->emulator);
    c->disks = g_new0(vms_domain_disk *, def->ndisks + 1);
    for (size_t i = 0; i < def->ndisks; i++) {
        const vms_domain_disk *d = def->disks[i];
        vms_domain_disk *n = g_new0(vms_domain_disk, 1);
        *n = *d;
        n->target = g_strdup(d->target);
        n->bus = g_strdup(d->bus);
        n->source = g_strdup(d->source);
        n->extra_xml = g_strdup(d->extra_xml);
        c->disks[i] = n;
    }
    c->serial_path = g_strdup(def->serial_path);
    c->serial_extra_xml = g_strdup(def->serial_extra_xml);
    c->extra_xml = g_strdup(def->extra_xml);
    c->extra_devices_xml = g_strdup(def->extra_devices_xml);
    return c;
}

vms_domain_disk *vms_domain_def_find_disk(const vms_domain_def *def, const char *target)
{
    for (size_t i = 0; def && target && i < def->ndisks; i++)
        if (strcmp(def->disks[i]->target, target) == 0)
            return def->disks[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                             */
/* ------------------------------------------------------------------ */

#define DOMAIN_SUPPORTED                                                                           \
    "vmsnap supports <name>, <uuid>, <title>, <description>, <memory>, <currentMemory>, <vcpu>, "  \
    "<os> and <devices>, and keeps <metadata>, <features>, <cpu>, <clock>, <on_poweroff>, "        \
    "<on_reboot>, <on_crash>, <pm>, <resource> and <seclabel> as they are"
#define OS_SUPPORTED "vmsnap supports <type>, <kernel>, <initrd>, <cmdline> and <boot> in <os>"
#define DEVICES_SUPPORTED                                                                          \
    "vmsnap supports <emulator>, <disk> and one <serial>, and keeps <controller>, <console>, "     \
    "<input> and <memballoon> as they are"
#define DISK_SUPPORTED                                                                             \
    "vmsnap supports <driver>, <source>, <target> and <readonly> in <disk>, and keeps <address>, " \
    "<alias> and <backingStore> as they are"
#define SERIAL_SUPPORTED                                                                           \
    "vmsnap supports <source> in <serial>, and keeps <target> and <alias> as they are"

static const char *const domain_kept[] = {
    "metadata", "features", "cpu",      "clock",    "on_poweroff", "on_reboot",
    "on_crash", "pm",       "resource", "seclabel", NULL,
};
static const char *const devices_kept[] = {"controller", "console", "input", "memballoon", NULL};
static const char *const disk_kept[] = {"address", "alias", "backingStore", NULL};
static const char *const serial_kept[] = {"target", "alias", NULL};

static bool in_list(const char *const *list, const xmlNode *node)
{
    if (node->ns)
        return false;
    for (size_t i = 0; list[i]; i++)
        if (strcmp((const char *)node->name, list[i]) == 0)
            return true;
    return false;
}

/* Append a kept element to *@xml (canonical, level 0). */
static bool keep(char **xml, xmlNode *node, vmsnap_error **error)
{
    GString *out = g_string_new(*xml);
    if (!vms_xml_preserve(out, node, 0, error)) {
        g_string_free(out, TRUE);
        return false;
    }
    g_free(*xml);
    *xml = g_string_free(out, FALSE);
    return true;
}

static const char *const no_attrs[] = {NULL};

/* An attribute value outside the subset. */
static void bad_value(xmlNode *node, const char *attr_name, const char *value,
                      const char *supported, vmsnap_error **error)
{
    g_autofree char *v = vms_xml_shown(value);
    vms_error_set(error, VMSNAP_ERR_UNSUPPORTED, "line %ld: unsupported value %s='%s' on <%s>; %s",
                  vms_xml_line(node), attr_name, v, node->name, supported);
}

typedef struct {
    const char *name;
    guint64 bytes;
} mem_unit;

static const mem_unit mem_units[] = {
    {"b", 1},
    {"bytes", 1},
    {"KB", 1000},
    {"k", 1024},
    {"KiB", 1024},
    {"MB", 1000000},
    {"M", 1048576},
    {"MiB", 1048576},
    {"GB", 1000000000},
    {"G", 1073741824},
    {"GiB", 1073741824},
    {"TB", 1000000000000},
    {"T", 1099511627776},
    {"TiB", 1099511627776},
};

#define MEM_UNITS_TEXT "b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB"

static bool parse_memory(xmlNode *node, unsigned long long *kib, vmsnap_error **error)
{
    static const char *const attrs[] = {"unit", NULL};
    g_autofree char *supported =
        g_strdup_printf("vmsnap supports unit= on <%s> (" MEM_UNITS_TEXT ")", node->name);
    if (!vms_xml_check_attrs(node, attrs, supported, error))
        return false;
    g_autofree char *text = vms_xml_leaf_text(node, error);
    if (!text)
        return false;
    g_strstrip(text);
    guint64 value = 0;
    if (!g_ascii_string_to_unsigned(text, 10, 0, G_MAXUINT64, &value, NULL)) {
        g_autofree char *v = vms_xml_shown(text);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <%s> must be a whole number (in KiB unless unit= says "
                      "otherwise), not '%s'",
                      vms_xml_line(node), node->name, v);
        return false;
    }
    const char *unit = vms_xml_attr(node, "unit");
    guint64 unit_bytes = 0;
    for (size_t i = 0; i < G_N_ELEMENTS(mem_units); i++)
        if (!unit || g_ascii_strcasecmp(unit, mem_units[i].name) == 0) {
            unit_bytes = unit ? mem_units[i].bytes : 1024;
            break;
        }
    if (!unit_bytes) {
        bad_value(node, "unit", unit, "use one of " MEM_UNITS_TEXT, error);
        return false;
    }
    guint64 bytes = 0;
    if (!g_uint64_checked_mul(&bytes, value, unit_bytes)) {
        vms_error_set(error, VMSNAP_ERR_XML, "line %ld: <%s> %s %s is too large",
                      vms_xml_line(node), node->name, text, unit ? unit : "KiB");
        return false;
    }
    *kib = bytes / 1024 + (bytes % 1024 != 0); /* partial KiB round up, as libvirt does */
    if (*kib == 0) {
        vms_error_set(error, VMSNAP_ERR_XML, "line %ld: <%s> must be larger than 0",
                      vms_xml_line(node), node->name);
        return false;
    }
    return true;
}

static bool parse_vcpu(xmlNode *node, vms_domain_def *def, vmsnap_error **error)
{
    static const char *const attrs[] = {"placement", NULL};
    if (!vms_xml_check_attrs(node, attrs, "vmsnap supports placement='static' on <vcpu>", error))
        return false;
    const char *placement = vms_xml_attr(node, "placement");
    if (placement && strcmp(placement, "static") != 0) {
        bad_value(node, "placement", placement, "vmsnap supports placement='static'", error);
        return false;
    }
    g_autofree char *text = vms_xml_leaf_text(node, error);
    if (!text)
        return false;
    g_strstrip(text);
    guint64 n = 0;
    if (!g_ascii_string_to_unsigned(text, 10, 1, 1024, &n, NULL)) {
        g_autofree char *v = vms_xml_shown(text);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <vcpu> must be a whole number from 1 to 1024, not '%s'",
                      vms_xml_line(node), v);
        return false;
    }
    def->vcpus = (unsigned int)n;
    return true;
}

static bool parse_uuid(xmlNode *node, vms_domain_def *def, vmsnap_error **error)
{
    g_autofree char *text = vms_xml_trimmed_text(node, error);
    if (!text)
        return false;
    if (!vms_uuid_parse(text, def->uuid)) {
        g_autofree char *v = vms_xml_shown(text);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <uuid> '%s' is not a uuid; write 32 hex digits, either "
                      "plain or grouped 8-4-4-4-12 with dashes, or leave <uuid> out to get a "
                      "new one",
                      vms_xml_line(node), v);
        return false;
    }
    return true;
}

static bool valid_token(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return false;
    for (; *s; s++)
        if (!g_ascii_isalnum(*s) && *s != '.' && *s != '_' && *s != '-')
            return false;
    return true;
}

static bool parse_os_type(xmlNode *node, vms_domain_def *def, vmsnap_error **error)
{
    static const char *const attrs[] = {"arch", "machine", NULL};
    if (!vms_xml_check_attrs(node, attrs, "vmsnap supports arch= and machine= on <type>", error))
        return false;
    const char *arch = vms_xml_attr(node, "arch");
    if (arch && strcmp(arch, "x86_64") != 0 && strcmp(arch, "i686") != 0 &&
        strcmp(arch, "aarch64") != 0) {
        bad_value(node, "arch", arch, "vmsnap supports arch='x86_64', 'i686' or 'aarch64'", error);
        return false;
    }
    const char *machine = vms_xml_attr(node, "machine");
    if (machine && !valid_token(machine, 64)) {
        bad_value(node, "machine", machine,
                  "a machine type is letters, digits, '.', '_' and '-' (e.g. 'pc' or 'q35')",
                  error);
        return false;
    }
    g_autofree char *text = vms_xml_leaf_text(node, error);
    if (!text)
        return false;
    g_strstrip(text);
    if (strcmp(text, "hvm") != 0) {
        g_autofree char *v = vms_xml_shown(text);
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "line %ld: unsupported OS type '%s' in <os><type>; vmsnap supports 'hvm'",
                      vms_xml_line(node), v);
        return false;
    }
    def->os_arch = g_strdup(arch);
    def->os_machine = g_strdup(machine);
    return true;
}

static bool parse_path_element(xmlNode *node, const char *what, char **out, vmsnap_error **error)
{
    g_autofree char *text = vms_xml_plain_text(node, error);
    if (!text || !vms_xml_require_absolute(node, what, text, error))
        return false;
    *out = g_steal_pointer(&text);
    return true;
}

static bool parse_os(xmlNode *os, vms_domain_def *def, vmsnap_error **error)
{
    if (!vms_xml_check_attrs(os, no_attrs, "<os> takes no attributes", error) ||
        !vms_xml_check_no_text(os, error))
        return false;
    xmlNode *type = NULL, *kernel = NULL, *initrd = NULL, *cmdline = NULL, *boot = NULL;
    for (xmlNode *c = os->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        bool ok;
        if (vms_xml_is_element(c, "type"))
            ok = vms_xml_once(c, &type, error) && parse_os_type(c, def, error);
        else if (vms_xml_is_element(c, "kernel"))
            ok = vms_xml_once(c, &kernel, error) &&
                 parse_path_element(c, "kernel", &def->kernel, error);
        else if (vms_xml_is_element(c, "initrd"))
            ok = vms_xml_once(c, &initrd, error) &&
                 parse_path_element(c, "initrd", &def->initrd, error);
        else if (vms_xml_is_element(c, "cmdline"))
            ok = vms_xml_once(c, &cmdline, error) &&
                 (def->cmdline = vms_xml_plain_text(c, error)) != NULL;
        else if (vms_xml_is_element(c, "boot")) {
            static const char *const attrs[] = {"dev", NULL};
            const char *dev = vms_xml_attr(c, "dev");
            ok = vms_xml_once(c, &boot, error) &&
                 vms_xml_check_attrs(c, attrs, "vmsnap supports dev='hd' on <boot>", error) &&
                 vms_xml_check_empty(c, error);
            if (ok && g_strcmp0(dev, "hd") != 0) {
                if (dev)
                    bad_value(c, "dev", dev, "vmsnap boots from disks only: dev='hd'", error);
                else
                    vms_error_set(error, VMSNAP_ERR_XML, "line %ld: <boot> needs dev='hd'",
                                  vms_xml_line(c));
                ok = false;
            }
            if (ok)
                def->boot_dev = g_strdup(dev);
        } else {
            vms_xml_unsupported_element(c, OS_SUPPORTED, error);
            ok = false;
        }
        if (!ok)
            return false;
    }
    if (!type) {
        vms_error_set(error, VMSNAP_ERR_XML, "line %ld: <os> has no <type>; add <type>hvm</type>",
                      vms_xml_line(os));
        return false;
    }
    if (initrd && !kernel) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <initrd> without <kernel>; add the kernel or remove the initrd",
                      vms_xml_line(initrd));
        return false;
    }
    return true;
}

static bool valid_target_dev(const char *dev)
{
    if (!dev || !g_ascii_islower(dev[0]) || strlen(dev) > 32)
        return false;
    for (const char *p = dev; *p; p++)
        if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p))
            return false;
    return true;
}

static bool parse_disk_child(xmlNode *c, vms_domain_disk *disk, xmlNode **seen,
                             vmsnap_error **error)
{
    if (vms_xml_is_element(c, "driver")) {
        static const char *const attrs[] = {"name", "type", NULL};
        if (!vms_xml_once(c, &seen[0], error) ||
            !vms_xml_check_attrs(c, attrs,
                                 "vmsnap supports name='qemu' and type='qcow2'|'raw' on <driver>",
                                 error) ||
            !vms_xml_check_empty(c, error))
            return false;
        const char *name = vms_xml_attr(c, "name");
        if (name && strcmp(name, "qemu") != 0) {
            bad_value(c, "name", name, "vmsnap supports name='qemu'", error);
            return false;
        }
        const char *type = vms_xml_attr(c, "type");
        if (type) {
            int fmt = vms_disk_format_from_string(type);
            if (fmt < 0) {
                bad_value(c, "type", type, "vmsnap supports type='qcow2' or type='raw'", error);
                return false;
            }
            disk->format = (vms_disk_format)fmt;
        }
        return true;
    }
    if (vms_xml_is_element(c, "source")) {
        /* index= is libvirt's runtime numbering of image layers; dropped. */
        static const char *const attrs[] = {"file", "index", NULL};
        if (!vms_xml_once(c, &seen[1], error) ||
            !vms_xml_check_attrs(c, attrs, "vmsnap supports file= on <source>", error) ||
            !vms_xml_check_empty(c, error))
            return false;
        const char *file = vms_xml_attr(c, "file");
        if (!file) {
            vms_error_set(error, VMSNAP_ERR_XML,
                          "line %ld: <source> in <disk> needs file='/absolute/path'",
                          vms_xml_line(c));
            return false;
        }
        if (!vms_xml_require_absolute(c, "disk source", file, error))
            return false;
        disk->source = g_strdup(file);
        return true;
    }
    if (vms_xml_is_element(c, "target")) {
        static const char *const attrs[] = {"dev", "bus", NULL};
        if (!vms_xml_once(c, &seen[2], error) ||
            !vms_xml_check_attrs(c, attrs, "vmsnap supports dev= and bus= on <target>", error) ||
            !vms_xml_check_empty(c, error))
            return false;
        const char *dev = vms_xml_attr(c, "dev");
        if (!dev) {
            vms_error_set(error, VMSNAP_ERR_XML,
                          "line %ld: <target> in <disk> needs dev= (e.g. dev='vda')",
                          vms_xml_line(c));
            return false;
        }
        if (!valid_target_dev(dev)) {
            g_autofree char *v = vms_xml_shown(dev);
            vms_error_set(error, VMSNAP_ERR_XML,
                          "line %ld: disk target dev='%s' is not a device name; use lower-case "
                          "letters and digits such as 'vda' or 'sdb'",
                          vms_xml_line(c), v);
            return false;
        }
        const char *bus = vms_xml_attr(c, "bus");
        if (bus && strcmp(bus, "virtio") != 0 && strcmp(bus, "ide") != 0 &&
            strcmp(bus, "sata") != 0 && strcmp(bus, "scsi") != 0 && strcmp(bus, "usb") != 0) {
            bad_value(c, "bus", bus, "vmsnap supports bus='virtio', 'ide', 'sata', 'scsi' or 'usb'",
                      error);
            return false;
        }
        disk->target = g_strdup(dev);
        disk->bus = g_strdup(bus);
        return true;
    }
    if (vms_xml_is_element(c, "readonly")) {
        if (!vms_xml_once(c, &seen[3], error) ||
            !vms_xml_check_attrs(c, no_attrs, "<readonly/> takes no attributes", error) ||
            !vms_xml_check_empty(c, error))
            return false;
        disk->readonly = true;
        return true;
    }
    if (in_list(disk_kept, c))
        return keep(&disk->extra_xml, c, error);
    vms_xml_unsupported_element(c, DISK_SUPPORTED, error);
    return false;
}

static vms_domain_disk *parse_disk(xmlNode *node, vmsnap_error **error)
{
    static const char *const attrs[] = {"type", "device", NULL};
    if (!vms_xml_check_attrs(node, attrs, "vmsnap supports type='file' and device='disk' on <disk>",
                             error) ||
        !vms_xml_check_no_text(node, error))
        return NULL;
    const char *type = vms_xml_attr(node, "type");
    if (type && strcmp(type, "file") != 0) {
        bad_value(node, "type", type, "vmsnap supports disks backed by image files: type='file'",
                  error);
        return NULL;
    }
    const char *device = vms_xml_attr(node, "device");
    if (device && strcmp(device, "disk") != 0) {
        bad_value(node, "device", device, "vmsnap supports device='disk'", error);
        return NULL;
    }
    g_autoptr(vms_domain_disk) disk = g_new0(vms_domain_disk, 1);
    xmlNode *seen[4] = {NULL};
    for (xmlNode *c = node->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && !parse_disk_child(c, disk, seen, error))
            return NULL;
    if (!disk->source) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <disk> has no <source file='...'/>; give the image's absolute "
                      "path",
                      vms_xml_line(node));
        return NULL;
    }
    if (!disk->target) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <disk> has no <target dev='...'/>; name the device (e.g. 'vda')",
                      vms_xml_line(node));
        return NULL;
    }
    return g_steal_pointer(&disk);
}

static bool parse_serial(xmlNode *node, vms_domain_def *def, vmsnap_error **error)
{
    static const char *const attrs[] = {"type", NULL};
    if (!vms_xml_check_attrs(node, attrs, "vmsnap supports type='pty'|'file' on <serial>", error) ||
        !vms_xml_check_no_text(node, error))
        return false;
    const char *type = vms_xml_attr(node, "type");
    if (g_strcmp0(type, "pty") == 0) {
        def->serial = VMS_SERIAL_PTY;
    } else if (g_strcmp0(type, "file") == 0) {
        def->serial = VMS_SERIAL_FILE;
    } else if (!type) {
        vms_error_set(error, VMSNAP_ERR_XML, "line %ld: <serial> needs type='pty' or type='file'",
                      vms_xml_line(node));
        return false;
    } else {
        bad_value(node, "type", type, "vmsnap supports type='pty' or type='file'", error);
        return false;
    }
    xmlNode *source = NULL;
    for (xmlNode *c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (vms_xml_is_element(c, "source")) {
            static const char *const sattrs[] = {"path", NULL};
            if (!vms_xml_once(c, &source, error) ||
                !vms_xml_check_attrs(c, sattrs, "vmsnap supports path= on <source>", error) ||
                !vms_xml_check_empty(c, error))
                return false;
            /* A pty's path is the one libvirt got at run time: not configuration. */
            if (def->serial == VMS_SERIAL_FILE) {
                const char *path = vms_xml_attr(c, "path");
                if (!vms_xml_require_absolute(c, "serial log file", path, error))
                    return false;
                def->serial_path = g_strdup(path);
            }
        } else if (in_list(serial_kept, c)) {
            if (!keep(&def->serial_extra_xml, c, error))
                return false;
        } else {
            vms_xml_unsupported_element(c, SERIAL_SUPPORTED, error);
            return false;
        }
    }
    if (def->serial == VMS_SERIAL_FILE && !def->serial_path) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <serial type='file'> needs <source path='/absolute/path'/>",
                      vms_xml_line(node));
        return false;
    }
    return true;
}

static bool parse_devices(xmlNode *devices, vms_domain_def *def, vmsnap_error **error)
{
    if (!vms_xml_check_attrs(devices, no_attrs, "<devices> takes no attributes", error) ||
        !vms_xml_check_no_text(devices, error))
        return false;
    xmlNode *emulator = NULL, *serial = NULL;
    g_autoptr(GPtrArray) disks = g_ptr_array_new();
    g_autoptr(GHashTable) targets = g_hash_table_new(g_str_hash, g_str_equal);
    bool ok = true;
    for (xmlNode *c = devices->children; ok && c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (vms_xml_is_element(c, "emulator")) {
            ok = vms_xml_once(c, &emulator, error) &&
                 parse_path_element(c, "emulator", &def->emulator, error);
        } else if (vms_xml_is_element(c, "disk")) {
            vms_domain_disk *disk = parse_disk(c, error);
            if (!disk) {
                ok = false;
            } else if (g_hash_table_contains(targets, disk->target)) {
                vms_error_set(error, VMSNAP_ERR_XML,
                              "line %ld: two disks use target dev='%s'; give each disk its own "
                              "target",
                              vms_xml_line(c), disk->target);
                disk_free(disk);
                ok = false;
            } else {
                g_hash_table_add(targets, disk->target);
                g_ptr_array_add(disks, disk);
            }
        } else if (vms_xml_is_element(c, "serial")) {
            if (serial) {
                vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                              "line %ld: a second <serial>; vmsnap supports one serial port "
                              "(the first is on line %ld)",
                              vms_xml_line(c), vms_xml_line(serial));
                ok = false;
            } else {
                serial = c;
                ok = parse_serial(c, def, error);
            }
        } else if (in_list(devices_kept, c)) {
            ok = keep(&def->extra_devices_xml, c, error);
        } else {
            vms_xml_unsupported_element(c, DEVICES_SUPPORTED, error);
            ok = false;
        }
    }
    def->ndisks = disks->len;
    g_ptr_array_add(disks, NULL);
    def->disks = (vms_domain_disk **)g_ptr_array_steal(disks, NULL);
    return ok;
}

static bool parse_title(xmlNode *node, vms_domain_def *def, vmsnap_error **error)
{
    def->title = vms_xml_plain_text(node, error);
    if (!def->title)
        return false;
    if (strchr(def->title, '\n')) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <title> must be a single line; put longer text in <description>",
                      vms_xml_line(node));
        return false;
    }
    return true;
}

static bool parse_name(xmlNode *node, vms_domain_def *def, vmsnap_error **error)
{
    def->name = vms_xml_plain_text(node, error);
    return def->name && vms_name_validate("domain", def->name, error);
}

static bool parse_domain_type(xmlNode *root, vms_domain_def *def, vmsnap_error **error)
{
    /* id= is libvirt's number for a running domain: runtime state, dropped. */
    static const char *const attrs[] = {"type", "id", NULL};
    g_autofree char *supported =
        g_strdup_printf("vmsnap supports type='qemu'|'kvm' on <%s>", root->name);
    if (!vms_xml_check_attrs(root, attrs, supported, error))
        return false;
    const char *type = vms_xml_attr(root, "type");
    if (!type) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <%s> has no type attribute; use type='qemu' (software "
                      "emulation) or type='kvm'",
                      vms_xml_line(root), root->name);
        return false;
    }
    if (strcmp(type, "qemu") == 0) {
        def->virt = VMS_DOMAIN_VIRT_QEMU;
    } else if (strcmp(type, "kvm") == 0) {
        def->virt = VMS_DOMAIN_VIRT_KVM;
    } else {
        bad_value(root, "type", type, "vmsnap supports type='qemu' or type='kvm'", error);
        return false;
    }
    return true;
}

vms_domain_def *vms_domain_def_parse_node(struct _xmlNode *root, vmsnap_error **error)
{
    g_autoptr(vms_domain_def) def = g_new0(vms_domain_def, 1);
    def->vcpus = 1;
    if (!parse_domain_type(root, def, error) || !vms_xml_check_no_text(root, error))
        return NULL;
    xmlNode *name = NULL, *uuid = NULL, *title = NULL, *desc = NULL, *memory = NULL,
            *current = NULL, *vcpu = NULL, *os = NULL, *devices = NULL;
    for (xmlNode *c = root->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        bool ok;
        if (vms_xml_is_element(c, "name"))
            ok = vms_xml_once(c, &name, error) && parse_name(c, def, error);
        else if (vms_xml_is_element(c, "uuid"))
            ok = vms_xml_once(c, &uuid, error) && parse_uuid(c, def, error);
        else if (vms_xml_is_element(c, "title"))
            ok = vms_xml_once(c, &title, error) && parse_title(c, def, error);
        else if (vms_xml_is_element(c, "description"))
            ok = vms_xml_once(c, &desc, error) &&
                 (def->description = vms_xml_plain_text(c, error)) != NULL;
        else if (vms_xml_is_element(c, "memory"))
            ok = vms_xml_once(c, &memory, error) && parse_memory(c, &def->memory_kib, error);
        else if (vms_xml_is_element(c, "currentMemory"))
            ok = vms_xml_once(c, &current, error) &&
                 parse_memory(c, &def->current_memory_kib, error);
        else if (vms_xml_is_element(c, "vcpu"))
            ok = vms_xml_once(c, &vcpu, error) && parse_vcpu(c, def, error);
        else if (vms_xml_is_element(c, "os"))
            ok = vms_xml_once(c, &os, error) && parse_os(c, def, error);
        else if (vms_xml_is_element(c, "devices"))
            ok = vms_xml_once(c, &devices, error) && parse_devices(c, def, error);
        else if (in_list(domain_kept, c))
            ok = keep(&def->extra_xml, c, error);
        else {
            vms_xml_unsupported_element(c, DOMAIN_SUPPORTED, error);
            ok = false;
        }
        if (!ok)
            return NULL;
    }
    const char *missing = !name ? "<name>" : !memory ? "<memory>" : !os ? "<os>" : NULL;
    if (missing) {
        vms_error_set(error, VMSNAP_ERR_XML, "line %ld: <%s> has no %s; it is required",
                      vms_xml_line(root), root->name, missing);
        return NULL;
    }
    if (def->current_memory_kib > def->memory_kib) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <currentMemory> (%llu KiB) is larger than <memory> (%llu KiB); "
                      "lower it or raise <memory>",
                      vms_xml_line(current), def->current_memory_kib, def->memory_kib);
        return NULL;
    }
    if (def->description && !*def->description)
        g_clear_pointer(&def->description, g_free);
    if (def->title && !*def->title)
        g_clear_pointer(&def->title, g_free);
    if (!def->disks)
        def->disks = g_new0(vms_domain_disk *, 1);
    if (!uuid) {
        vms_uuid_generate(def->uuid);
        def->uuid_generated = true;
    }
    return g_steal_pointer(&def);
}

vms_domain_def *vms_domain_def_parse_string(const char *xml, vmsnap_error **error)
{
    g_autoptr(xmlDoc) doc = vms_xml_read(xml, "domain", error);
    if (!doc)
        return NULL;
    return vms_domain_def_parse_node(xmlDocGetRootElement(doc), error);
}

/* ------------------------------------------------------------------ */
/* Formatting                                                          */
/* ------------------------------------------------------------------ */

static void format_os(GString *out, const vms_domain_def *def, unsigned int indent)
{
    vms_xml_indent(out, indent);
    g_string_append(out, "<os>\n");
    vms_xml_indent(out, indent + 1);
    g_string_append(out, "<type");
    vms_xml_write_attr(out, "arch", def->os_arch);
    vms_xml_write_attr(out, "machine", def->os_machine);
    g_string_append(out, ">hvm</type>\n");
    vms_xml_write_text_element(out, indent + 1, "kernel", def->kernel);
    vms_xml_write_text_element(out, indent + 1, "initrd", def->initrd);
    vms_xml_write_text_element(out, indent + 1, "cmdline", def->cmdline);
    if (def->boot_dev) {
        vms_xml_indent(out, indent + 1);
        g_string_append(out, "<boot");
        vms_xml_write_attr(out, "dev", def->boot_dev);
        g_string_append(out, "/>\n");
    }
    vms_xml_indent(out, indent);
    g_string_append(out, "</os>\n");
}

static void format_disk(GString *out, const vms_domain_disk *disk, unsigned int indent)
{
    vms_xml_indent(out, indent);
    g_string_append(out, "<disk type='file' device='disk'>\n");
    if (disk->format != VMS_DISK_FORMAT_NONE) {
        vms_xml_indent(out, indent + 1);
        g_string_append(out, "<driver name='qemu'");
        vms_xml_write_attr(out, "type", vms_disk_format_to_string(disk->format));
        g_string_append(out, "/>\n");
    }
    vms_xml_indent(out, indent + 1);
    g_string_append(out, "<source");
    vms_xml_write_attr(out, "file", disk->source);
    g_string_append(out, "/>\n");
    vms_xml_indent(out, indent + 1);
    g_string_append(out, "<target");
    vms_xml_write_attr(out, "dev", disk->target);
    vms_xml_write_attr(out, "bus", disk->bus);
    g_string_append(out, "/>\n");
    if (disk->readonly) {
        vms_xml_indent(out, indent + 1);
        g_string_append(out, "<readonly/>\n");
    }
    vms_xml_append_reindented(out, disk->extra_xml, indent + 1);
    vms_xml_indent(out, indent);
    g_string_append(out, "</disk>\n");
}

static void format_serial(GString *out, const vms_domain_def *def, unsigned int indent)
{
    if (def->serial == VMS_SERIAL_NONE)
        return;
    vms_xml_indent(out, indent);
    const char *type = def->serial == VMS_SERIAL_FILE ? "file" : "pty";
    if (!def->serial_path && !def->serial_extra_xml) {
        g_string_append_printf(out, "<serial type='%s'/>\n", type);
        return;
    }
    g_string_append_printf(out, "<serial type='%s'>\n", type);
    if (def->serial_path) {
        vms_xml_indent(out, indent + 1);
        g_string_append(out, "<source");
        vms_xml_write_attr(out, "path", def->serial_path);
        g_string_append(out, "/>\n");
    }
    vms_xml_append_reindented(out, def->serial_extra_xml, indent + 1);
    vms_xml_indent(out, indent);
    g_string_append(out, "</serial>\n");
}

void vms_domain_def_format_element(GString *out, const vms_domain_def *def,
                                   const char *element_name, unsigned int indent)
{
    char uuid[37];
    vms_uuid_format(def->uuid, uuid);
    vms_xml_indent(out, indent);
    g_string_append_printf(out, "<%s type='%s'>\n", element_name,
                           def->virt == VMS_DOMAIN_VIRT_KVM ? "kvm" : "qemu");
    unsigned int in = indent + 1;
    vms_xml_write_text_element(out, in, "name", def->name);
    vms_xml_write_text_element(out, in, "uuid", uuid);
    vms_xml_write_text_element(out, in, "title", def->title);
    vms_xml_write_text_element(out, in, "description", def->description);
    vms_xml_indent(out, in);
    g_string_append_printf(out, "<memory unit='KiB'>%llu</memory>\n", def->memory_kib);
    vms_xml_indent(out, in);
    g_string_append_printf(out, "<currentMemory unit='KiB'>%llu</currentMemory>\n",
                           def->current_memory_kib ? def->current_memory_kib : def->memory_kib);
    vms_xml_indent(out, in);
    g_string_append_printf(out, "<vcpu placement='static'>%u</vcpu>\n",
                           def->vcpus ? def->vcpus : 1);
    format_os(out, def, in);
    vms_xml_append_reindented(out, def->extra_xml, in);
    vms_xml_indent(out, in);
    if (!def->emulator && def->ndisks == 0 && def->serial == VMS_SERIAL_NONE &&
        !def->extra_devices_xml) {
        g_string_append(out, "<devices/>\n");
        vms_xml_indent(out, indent);
        g_string_append_printf(out, "</%s>\n", element_name);
        return;
    }
    g_string_append(out, "<devices>\n");
    vms_xml_write_text_element(out, in + 1, "emulator", def->emulator);
    for (size_t i = 0; i < def->ndisks; i++)
        format_disk(out, def->disks[i], in + 1);
    format_serial(out, def, in + 1);
    vms_xml_append_reindented(out, def->extra_devices_xml, in + 1);
    vms_xml_indent(out, in);
    g_string_append(out, "</devices>\n");
    vms_xml_indent(out, indent);
    g_string_append_printf(out, "</%s>\n", element_name);
}

char *vms_domain_def_format(const vms_domain_def *def, unsigned int indent)
{
    GString *out = g_string_new(NULL);
    vms_domain_def_format_element(out, def, "domain", indent);
    return g_string_free(out, FALSE);
}
