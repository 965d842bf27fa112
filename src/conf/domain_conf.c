/*
 * domain_conf.c: the <domain> XML subset (see docs/formats/domain-xml.md),
 * and the safe XML reading and canonical writing shared by src/conf.
 */
#include "conf/domain_conf.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <string.h>

#include "util/error.h"
#include "util/names.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC(xmlDoc, xmlFreeDoc)

/* ------------------------------------------------------------------ */
/* Safe reading                                                        */
/* ------------------------------------------------------------------ */

typedef struct {
    char *first_error; /* "line N: message" of the first parser error */
    bool saw_dtd;      /* a DOCTYPE or entity declaration was seen */
} xml_read_state;

#if LIBXML_VERSION >= 21200
static void on_xml_error(void *data, const xmlError *err)
#else
static void on_xml_error(void *data, xmlErrorPtr err)
#endif
{
    xmlParserCtxtPtr ctxt = data;
    xml_read_state *st = ctxt ? ctxt->_private : NULL;
    /* Warnings do not make a document unusable; the first error is the cause. */
    if (!st || !err || err->level < XML_ERR_ERROR || st->first_error)
        return;
    g_autofree char *msg = g_strdup(err->message ? err->message : "unknown parser error");
    g_strstrip(msg);
    st->first_error = g_strdup_printf("line %d: %s", err->line, msg);
}

/* Any DOCTYPE stops the parser before its internal subset is read, so no
 * entity is ever declared, let alone expanded or fetched. */
static void on_internal_subset(void *ctx, const xmlChar *name, const xmlChar *external_id,
                               const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;
    ((xml_read_state *)ctxt->_private)->saw_dtd = true;
    xmlStopParser(ctxt);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                           const xmlChar *system_id, xmlChar *content)
{
    xmlParserCtxtPtr ctxt = ctx;
    ((xml_read_state *)ctxt->_private)->saw_dtd = true;
    xmlStopParser(ctxt);
}

static void xml_init_once(void)
{
    static gsize done = 0;
    if (g_once_init_enter(&done)) {
        xmlInitParser();
        g_once_init_leave(&done, 1);
    }
}

static bool is_element(const xmlNode *node, const char *name)
{
    return node->type == XML_ELEMENT_NODE && !node->ns &&
           strcmp((const char *)node->name, name) == 0;
}

/* libxml2 keeps character references in namespace names undecoded ("&#38;"
 * stays as written), so a name with '&' would not survive a round trip
 * through vmsnap's formatter. Namespace names are URIs; refuse that one
 * character rather than store something that reads back differently. */
static bool check_namespace_names(xmlNode *root, vmsnap_error **error)
{
    g_autoptr(GPtrArray) stack = g_ptr_array_new();
    g_ptr_array_add(stack, root);
    while (stack->len > 0) {
        xmlNode *node = g_ptr_array_steal_index(stack, stack->len - 1);
        for (const xmlNs *ns = node->nsDef; ns; ns = ns->next) {
            if (ns->href && strchr((const char *)ns->href, '&')) {
                vms_error_set(error, VMSNAP_ERR_XML,
                              "line %ld: namespace name '%s' contains '&'; vmsnap accepts "
                              "namespace names without '&'",
                              vms_xml_line(node), (const char *)ns->href);
                return false;
            }
        }
        for (xmlNode *c = node->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE)
                g_ptr_array_add(stack, c);
    }
    return true;
}

struct _xmlDoc *vms_xml_read(const char *xml, const char *root_name, vmsnap_error **error)
{
    if (!xml) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "no XML document was given");
        return NULL;
    }
    size_t len = strlen(xml);
    if (len > VMS_XML_MAX_BYTES) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "XML document is %zu bytes; vmsnap refuses documents larger than %u bytes "
                      "(16 MiB)",
                      len, VMS_XML_MAX_BYTES);
        return NULL;
    }
    if (len == 0) {
        vms_error_set(error, VMSNAP_ERR_XML, "XML document is empty; expected a <%s> element",
                      root_name);
        return NULL;
    }
    xml_init_once();
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(xml, (int)len);
    if (!ctxt) {
        vms_error_set(error, VMSNAP_ERR_INTERNAL, "cannot create an XML parser (out of memory?)");
        return NULL;
    }
    xml_read_state st = {0};
    ctxt->_private = &st;
    ctxt->sax->internalSubset = on_internal_subset;
    ctxt->sax->entityDecl = on_entity_decl;
#if LIBXML_VERSION >= 21300
    xmlCtxtSetErrorHandler(ctxt, on_xml_error, ctxt);
#else
    ctxt->sax->serror = on_xml_error; /* called with ctxt->userData, which is ctxt */
#endif
    /* No XML_PARSE_NOENT, DTDLOAD, DTDATTR or HUGE: libxml2's limits stay on.
     * Input is a C string, i.e. UTF-8 whatever the declaration says. */
    xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_IGNORE_ENC |
                                XML_PARSE_BIG_LINES);
    xmlParseDocument(ctxt);

    g_autoptr(xmlDoc) doc = ctxt->myDoc;
    ctxt->myDoc = NULL;
    bool well_formed = ctxt->wellFormed && ctxt->nsWellFormed;
    xmlFreeParserCtxt(ctxt);
    g_autofree char *first_error = st.first_error;

    if (st.saw_dtd) {
        vms_error_set(error, VMSNAP_ERR_XML,
                      "XML document has a <!DOCTYPE> or entity declaration: DTDs and entities are "
                      "not allowed; remove the <!DOCTYPE ...> part");
        return NULL;
    }
    if (first_error || !well_formed || !doc) {
        vms_error_set(error, VMSNAP_ERR_XML, "XML is not well formed: %s",
                      first_error ? first_error : "the parser gave up");
        return NULL;
    }
    xmlNode *root = xmlDocGetRootElement(doc);
    if (!root) {
        vms_error_set(error, VMSNAP_ERR_XML, "XML document has no root element; expected <%s>",
                      root_name);
        return NULL;
    }
    if (!is_element(root, root_name)) {
        g_autofree char *qname = vms_xml_qname(root);
        vms_error_set(error, VMSNAP_ERR_XML, "line %ld: the root element is <%s>; expected <%s>",
                      vms_xml_line(root), qname, root_name);
        return NULL;
    }
    if (!check_namespace_names(root, error))
        return NULL;
    return g_steal_pointer(&doc);
}

/* libxml2 2.9 stores element lines only up to 65535; with BIG_LINES the text
 * node before an element carries the exact line where the element starts. */
long vms_xml_line(struct _xmlNode *node)
{
    if (node && node->line == 65535 && node->prev && node->prev->type == XML_TEXT_NODE &&
        node->prev->psvi)
        return (long)(ptrdiff_t)node->prev->psvi;
    return xmlGetLineNo(node);
}

/* ------------------------------------------------------------------ */
/* Element helpers                                                     */
/* ------------------------------------------------------------------ */

char *vms_xml_qname(struct _xmlNode *node)
{
    if (node->ns && node->ns->prefix)
        return g_strdup_printf("%s:%s", node->ns->prefix, node->name);
    return g_strdup((const char *)node->name);
}

static char *attr_qname(const xmlAttr *attr)
{
    if (attr->ns && attr->ns->prefix)
        return g_strdup_printf("%s:%s", attr->ns->prefix, attr->name);
    return g_strdup((const char *)attr->name);
}

static bool is_text(const xmlNode *node)
{
    return node->type == XML_TEXT_NODE || node->type == XML_CDATA_SECTION_NODE;
}

static bool is_blank(const char *s)
{
    for (; s && *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return false;
    return true;
}

/* User text for messages: cut at 60 characters. */
static char *shown(const char *text)
{
    if (!g_utf8_validate(text, -1, NULL))
        return g_utf8_make_valid(text, 60);
    if (g_utf8_strlen(text, -1) <= 60)
        return g_strdup(text);
    g_autofree char *cut = g_utf8_substring(text, 0, 60);
    return g_strconcat(cut, "...", NULL);
}

bool vms_xml_check_attrs(struct _xmlNode *node, const char *const *allowed, const char *supported,
                         vmsnap_error **error)
{
    for (xmlAttr *a = node->properties; a; a = a->next) {
        bool ok = false;
        for (size_t i = 0; !a->ns && allowed && allowed[i]; i++)
            if (strcmp((const char *)a->name, allowed[i]) == 0)
                ok = true;
        if (ok)
            continue;
        g_autofree char *aname = attr_qname(a);
        g_autofree char *ename = vms_xml_qname(node);
        g_autofree char *value = (char *)xmlNodeListGetString(node->doc, a->children, 1);
        g_autofree char *v = shown(value ? value : "");
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "line %ld: unsupported attribute %s='%s' on <%s>; %s", vms_xml_line(node),
                      aname, v, ename, supported);
        return false;
    }
    return true;
}

bool vms_xml_check_no_text(struct _xmlNode *node, vmsnap_error **error)
{
    for (xmlNode *c = node->children; c; c = c->next) {
        if (!is_text(c) || is_blank((const char *)c->content))
            continue;
        g_autofree char *ename = vms_xml_qname(node);
        g_autofree char *text = g_strstrip(g_strdup((const char *)c->content));
        g_autofree char *excerpt = shown(text);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: unexpected text '%s' in <%s>; it holds only elements",
                      vms_xml_line(c), excerpt, ename);
        return false;
    }
    return true;
}

void vms_xml_unsupported_element(struct _xmlNode *child, const char *supported,
                                 vmsnap_error **error)
{
    g_autofree char *cname = vms_xml_qname(child);
    g_autofree char *pname = child->parent && child->parent->type == XML_ELEMENT_NODE
                                 ? vms_xml_qname(child->parent)
                                 : g_strdup("the document");
    vms_error_set(error, VMSNAP_ERR_UNSUPPORTED, "line %ld: unsupported element <%s> in <%s>; %s",
                  vms_xml_line(child), cname, pname, supported);
}

static bool check_text_size(xmlNode *node, size_t len, vmsnap_error **error)
{
    if (len <= VMS_XML_MAX_TEXT_BYTES)
        return true;
    g_autofree char *qname = vms_xml_qname(node);
    vms_error_set(error, VMSNAP_ERR_XML,
                  "line %ld: the text of <%s> is %zu bytes; vmsnap refuses text values larger "
                  "than %u bytes (1 MiB)",
                  vms_xml_line(node), qname, len, VMS_XML_MAX_TEXT_BYTES);
    return false;
}

char *vms_xml_leaf_text(struct _xmlNode *node, vmsnap_error **error)
{
    GString *text = g_string_new(NULL);
    for (xmlNode *c = node->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            g_autofree char *cname = vms_xml_qname(c);
            g_autofree char *pname = vms_xml_qname(node);
            vms_error_set(error, VMSNAP_ERR_XML,
                          "line %ld: unexpected element <%s> inside <%s>; <%s> holds text only",
                          vms_xml_line(c), cname, pname, pname);
            g_string_free(text, TRUE);
            return NULL;
        }
        if (is_text(c) && c->content)
            g_string_append(text, (const char *)c->content);
    }
    if (!check_text_size(node, text->len, error)) {
        g_string_free(text, TRUE);
        return NULL;
    }
    return g_string_free(text, FALSE);
}

static const char *attr(xmlNode *node, const char *name)
{
    xmlAttr *a = xmlHasNsProp(node, (const xmlChar *)name, NULL);
    if (!a || !a->children || !a->children->content)
        return a ? "" : NULL;
    return (const char *)a->children->content;
}

/* An element that may appear once: complain about the second. */
static bool once(xmlNode *child, xmlNode **slot, vmsnap_error **error)
{
    if (*slot) {
        g_autofree char *pname = vms_xml_qname(child->parent);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <%s> appears more than once in <%s> (first on line %ld); keep one",
                      vms_xml_line(child), child->name, pname, vms_xml_line(*slot));
        return false;
    }
    *slot = child;
    return true;
}

static void bad_value(xmlNode *node, const char *attr_name, const char *value,
                      const char *supported, vmsnap_error **error)
{
    g_autofree char *v = shown(value);
    vms_error_set(error, VMSNAP_ERR_UNSUPPORTED, "line %ld: unsupported value %s='%s' on <%s>; %s",
                  vms_xml_line(node), attr_name, v, node->name, supported);
}

static bool require_absolute(xmlNode *node, const char *what, const char *path,
                             vmsnap_error **error)
{
    if (path && path[0] == '/')
        return true;
    g_autofree char *v = shown(path ? path : "");
    vms_error_set(error, VMSNAP_ERR_XML,
                  "line %ld: %s '%s' is not an absolute path; give the full path starting with '/'",
                  vms_xml_line(node), what, v);
    return false;
}

/* ------------------------------------------------------------------ */
/* Escaping and canonical writing                                      */
/* ------------------------------------------------------------------ */

static bool xml_char_allowed(gunichar c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
           (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

static void escape(GString *out, const char *text, bool in_attr)
{
    g_autofree char *valid = NULL;
    if (!g_utf8_validate(text, -1, NULL))
        text = valid = g_utf8_make_valid(text, -1);
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        gunichar c = g_utf8_get_char(p);
        switch (c) {
        case '&':
            g_string_append(out, "&amp;");
            continue;
        case '<':
            g_string_append(out, "&lt;");
            continue;
        case '>':
            g_string_append(out, "&gt;");
            continue;
        case '\r':
            g_string_append(out, "&#13;");
            continue;
        default:
            break;
        }
        if (in_attr) {
            /* Attribute-value normalisation would turn these into spaces. */
            if (c == '\'') {
                g_string_append(out, "&apos;");
                continue;
            }
            if (c == '"') {
                g_string_append(out, "&quot;");
                continue;
            }
            if (c == '\n') {
                g_string_append(out, "&#10;");
                continue;
            }
            if (c == '\t') {
                g_string_append(out, "&#9;");
                continue;
            }
        }
        if (!xml_char_allowed(c))
            g_string_append(out, "\xef\xbf\xbd"); /* U+FFFD: XML cannot carry it */
        else
            g_string_append_len(out, p, g_utf8_next_char(p) - p);
    }
}

void vms_xml_escape_text(GString *out, const char *text)
{
    escape(out, text, false);
}

void vms_xml_escape_attr(GString *out, const char *text)
{
    escape(out, text, true);
}

bool vms_xml_text_check(const char *what, const char *text, vmsnap_error **error)
{
    if (!text)
        return true;
    if (!g_utf8_validate(text, -1, NULL)) {
        vms_error_set(error, VMSNAP_ERR_INVALID_ARG, "%s is not valid UTF-8", what);
        return false;
    }
    for (const char *p = text; *p; p = g_utf8_next_char(p)) {
        if (!xml_char_allowed(g_utf8_get_char(p))) {
            vms_error_set(error, VMSNAP_ERR_INVALID_ARG,
                          "%s contains a control character that XML cannot hold; remove it", what);
            return false;
        }
    }
    return true;
}

static void indent_to(GString *out, unsigned int indent)
{
    for (unsigned int i = 0; i < indent; i++)
        g_string_append(out, "  ");
}

/* Append @text (lines of canonical XML at level 0) @indent levels deeper.
 * Preserved XML never has a raw newline inside text, so lines are elements. */
static void append_reindented(GString *out, const char *text, unsigned int indent)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        indent_to(out, indent);
        g_string_append_len(out, p, (gssize)n);
        g_string_append_c(out, '\n');
        p = nl ? nl + 1 : p + n;
    }
}

static bool ns_declared_within(const xmlNode *node, const xmlNs *ns, const xmlNode *top)
{
    for (const xmlNode *n = node; n; n = n->parent) {
        for (const xmlNs *d = n->nsDef; d; d = d->next)
            if (d == ns)
                return true;
        if (n == top)
            break;
    }
    return false;
}

static void note_missing_ns(GPtrArray *missing, const xmlNode *node, xmlNs *ns, const xmlNode *top)
{
    if (!ns || (ns->prefix && strcmp((const char *)ns->prefix, "xml") == 0))
        return;
    if (ns_declared_within(node, ns, top))
        return;
    for (guint i = 0; i < missing->len; i++)
        if (g_ptr_array_index(missing, i) == ns)
            return;
    g_ptr_array_add(missing, ns);
}

/* Namespaces used in the subtree but declared above it: they are declared
 * again on the subtree's top element so it stands on its own. */
static void collect_missing_ns(GPtrArray *missing, xmlNode *node, const xmlNode *top)
{
    note_missing_ns(missing, node, node->ns, top);
    for (xmlAttr *a = node->properties; a; a = a->next)
        note_missing_ns(missing, node, a->ns, top);
    for (xmlNode *c = node->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            collect_missing_ns(missing, c, top);
}

static void write_ns(GString *out, const xmlNs *ns)
{
    g_string_append(out, " xmlns");
    if (ns->prefix) {
        g_string_append_c(out, ':');
        g_string_append(out, (const char *)ns->prefix);
    }
    g_string_append(out, "='");
    vms_xml_escape_attr(out, ns->href ? (const char *)ns->href : "");
    g_string_append_c(out, '\'');
}

static bool preserve_element(GString *out, xmlNode *node, unsigned int indent, GPtrArray *extra_ns,
                             vmsnap_error **error)
{
    g_autofree char *qname = vms_xml_qname(node);
    indent_to(out, indent);
    g_string_append_printf(out, "<%s", qname);
    for (const xmlNs *d = node->nsDef; d; d = d->next)
        write_ns(out, d);
    for (guint i = 0; extra_ns && i < extra_ns->len; i++)
        write_ns(out, g_ptr_array_index(extra_ns, i));
    for (xmlAttr *a = node->properties; a; a = a->next) {
        g_autofree char *aname = attr_qname(a);
        g_autofree char *value = (char *)xmlNodeListGetString(node->doc, a->children, 1);
        g_string_append_printf(out, " %s='", aname);
        vms_xml_escape_attr(out, value ? value : "");
        g_string_append_c(out, '\'');
    }
    bool has_elements = false;
    GString *text = g_string_new(NULL);
    for (xmlNode *c = node->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            has_elements = true;
        else if (is_text(c) && c->content)
            g_string_append(text, (const char *)c->content);
    }
    bool blank = is_blank(text->str);
    if (!check_text_size(node, text->len, error)) {
        g_string_free(text, TRUE);
        return false;
    }
    if (has_elements && !blank) {
        g_string_free(text, TRUE);
        vms_error_set(error, VMSNAP_ERR_UNSUPPORTED,
                      "line %ld: <%s> mixes text and elements; vmsnap keeps such elements only "
                      "when they hold either text or elements",
                      vms_xml_line(node), qname);
        return false;
    }
    if (has_elements) {
        g_string_append(out, ">\n");
        for (xmlNode *c = node->children; c; c = c->next)
            if (c->type == XML_ELEMENT_NODE && !preserve_element(out, c, indent + 1, NULL, error)) {
                g_string_free(text, TRUE);
                return false;
            }
        indent_to(out, indent);
        g_string_append_printf(out, "</%s>\n", qname);
    } else if (!blank) {
        g_string_append_c(out, '>');
        /* Newlines become &#10; so that every raw newline ends an element line. */
        for (const char *p = text->str; *p; p++) {
            if (*p == '\n') {
                g_string_append(out, "&#10;");
            } else {
                const char *nl = strchr(p, '\n');
                g_autofree char *chunk = g_strndup(p, nl ? (gsize)(nl - p) : strlen(p));
                vms_xml_escape_text(out, chunk);
                p += strlen(chunk) - 1;
            }
        }
        g_string_append_printf(out, "</%s>\n", qname);
    } else {
        g_string_append(out, "/>\n");
    }
    g_string_free(text, TRUE);
    return true;
}

bool vms_xml_preserve(GString *out, struct _xmlNode *node, unsigned int indent,
                      vmsnap_error **error)
{
    g_autoptr(GPtrArray) missing = g_ptr_array_new();
    collect_missing_ns(missing, node, node);
    return preserve_element(out, node, indent, missing, error);
}

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

/* Text of a leaf element with no attributes. */
static char *plain_text(xmlNode *node, vmsnap_error **error)
{
    g_autofree char *supported = g_strdup_printf("<%s> takes no attributes", node->name);
    if (!vms_xml_check_attrs(node, no_attrs, supported, error))
        return NULL;
    return vms_xml_leaf_text(node, error);
}

/* Leaf text with surrounding blanks removed (numbers, keywords, uuids). */
static char *trimmed_text(xmlNode *node, vmsnap_error **error)
{
    char *text = plain_text(node, error);
    return text ? g_strstrip(text) : NULL;
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
        g_autofree char *v = shown(text);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <%s> must be a whole number (in KiB unless unit= says "
                      "otherwise), not '%s'",
                      vms_xml_line(node), node->name, v);
        return false;
    }
    const char *unit = attr(node, "unit");
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
    const char *placement = attr(node, "placement");
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
        g_autofree char *v = shown(text);
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
    g_autofree char *text = trimmed_text(node, error);
    if (!text)
        return false;
    if (!vms_uuid_parse(text, def->uuid)) {
        g_autofree char *v = shown(text);
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
    const char *arch = attr(node, "arch");
    if (arch && strcmp(arch, "x86_64") != 0 && strcmp(arch, "i686") != 0 &&
        strcmp(arch, "aarch64") != 0) {
        bad_value(node, "arch", arch, "vmsnap supports arch='x86_64', 'i686' or 'aarch64'", error);
        return false;
    }
    const char *machine = attr(node, "machine");
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
        g_autofree char *v = shown(text);
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
    g_autofree char *text = plain_text(node, error);
    if (!text || !require_absolute(node, what, text, error))
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
        if (is_element(c, "type"))
            ok = once(c, &type, error) && parse_os_type(c, def, error);
        else if (is_element(c, "kernel"))
            ok = once(c, &kernel, error) && parse_path_element(c, "kernel", &def->kernel, error);
        else if (is_element(c, "initrd"))
            ok = once(c, &initrd, error) && parse_path_element(c, "initrd", &def->initrd, error);
        else if (is_element(c, "cmdline"))
            ok = once(c, &cmdline, error) && (def->cmdline = plain_text(c, error)) != NULL;
        else if (is_element(c, "boot")) {
            static const char *const attrs[] = {"dev", NULL};
            const char *dev = attr(c, "dev");
            ok = once(c, &boot, error) &&
                 vms_xml_check_attrs(c, attrs, "vmsnap supports dev='hd' on <boot>", error) &&
                 vms_xml_check_no_text(c, error);
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
    if (is_element(c, "driver")) {
        static const char *const attrs[] = {"name", "type", NULL};
        if (!once(c, &seen[0], error) ||
            !vms_xml_check_attrs(c, attrs,
                                 "vmsnap supports name='qemu' and type='qcow2'|'raw' on <driver>",
                                 error) ||
            !vms_xml_check_no_text(c, error))
            return false;
        const char *name = attr(c, "name");
        if (name && strcmp(name, "qemu") != 0) {
            bad_value(c, "name", name, "vmsnap supports name='qemu'", error);
            return false;
        }
        const char *type = attr(c, "type");
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
    if (is_element(c, "source")) {
        /* index= is libvirt's runtime numbering of image layers; dropped. */
        static const char *const attrs[] = {"file", "index", NULL};
        if (!once(c, &seen[1], error) ||
            !vms_xml_check_attrs(c, attrs, "vmsnap supports file= on <source>", error) ||
            !vms_xml_check_no_text(c, error))
            return false;
        const char *file = attr(c, "file");
        if (!file) {
            vms_error_set(error, VMSNAP_ERR_XML,
                          "line %ld: <source> in <disk> needs file='/absolute/path'",
                          vms_xml_line(c));
            return false;
        }
        if (!require_absolute(c, "disk source", file, error))
            return false;
        disk->source = g_strdup(file);
        return true;
    }
    if (is_element(c, "target")) {
        static const char *const attrs[] = {"dev", "bus", NULL};
        if (!once(c, &seen[2], error) ||
            !vms_xml_check_attrs(c, attrs, "vmsnap supports dev= and bus= on <target>", error) ||
            !vms_xml_check_no_text(c, error))
            return false;
        const char *dev = attr(c, "dev");
        if (!dev) {
            vms_error_set(error, VMSNAP_ERR_XML,
                          "line %ld: <target> in <disk> needs dev= (e.g. dev='vda')",
                          vms_xml_line(c));
            return false;
        }
        if (!valid_target_dev(dev)) {
            g_autofree char *v = shown(dev);
            vms_error_set(error, VMSNAP_ERR_XML,
                          "line %ld: disk target dev='%s' is not a device name; use lower-case "
                          "letters and digits such as 'vda' or 'sdb'",
                          vms_xml_line(c), v);
            return false;
        }
        const char *bus = attr(c, "bus");
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
    if (is_element(c, "readonly")) {
        if (!once(c, &seen[3], error) ||
            !vms_xml_check_attrs(c, no_attrs, "<readonly/> takes no attributes", error) ||
            !vms_xml_check_no_text(c, error))
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
    const char *type = attr(node, "type");
    if (type && strcmp(type, "file") != 0) {
        bad_value(node, "type", type, "vmsnap supports disks backed by image files: type='file'",
                  error);
        return NULL;
    }
    const char *device = attr(node, "device");
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
    const char *type = attr(node, "type");
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
        if (is_element(c, "source")) {
            static const char *const sattrs[] = {"path", NULL};
            if (!once(c, &source, error) ||
                !vms_xml_check_attrs(c, sattrs, "vmsnap supports path= on <source>", error) ||
                !vms_xml_check_no_text(c, error))
                return false;
            /* A pty's path is the one libvirt got at run time: not configuration. */
            if (def->serial == VMS_SERIAL_FILE) {
                const char *path = attr(c, "path");
                if (!require_absolute(c, "serial log file", path, error))
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
        if (is_element(c, "emulator")) {
            ok = once(c, &emulator, error) &&
                 parse_path_element(c, "emulator", &def->emulator, error);
        } else if (is_element(c, "disk")) {
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
        } else if (is_element(c, "serial")) {
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
    def->title = plain_text(node, error);
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
    def->name = plain_text(node, error);
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
    const char *type = attr(root, "type");
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
        if (is_element(c, "name"))
            ok = once(c, &name, error) && parse_name(c, def, error);
        else if (is_element(c, "uuid"))
            ok = once(c, &uuid, error) && parse_uuid(c, def, error);
        else if (is_element(c, "title"))
            ok = once(c, &title, error) && parse_title(c, def, error);
        else if (is_element(c, "description"))
            ok = once(c, &desc, error) && (def->description = plain_text(c, error)) != NULL;
        else if (is_element(c, "memory"))
            ok = once(c, &memory, error) && parse_memory(c, &def->memory_kib, error);
        else if (is_element(c, "currentMemory"))
            ok = once(c, &current, error) && parse_memory(c, &def->current_memory_kib, error);
        else if (is_element(c, "vcpu"))
            ok = once(c, &vcpu, error) && parse_vcpu(c, def, error);
        else if (is_element(c, "os"))
            ok = once(c, &os, error) && parse_os(c, def, error);
        else if (is_element(c, "devices"))
            ok = once(c, &devices, error) && parse_devices(c, def, error);
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

static void text_element(GString *out, unsigned int indent, const char *name, const char *text)
{
    if (!text)
        return;
    indent_to(out, indent);
    g_string_append_printf(out, "<%s>", name);
    vms_xml_escape_text(out, text);
    g_string_append_printf(out, "</%s>\n", name);
}

static void attr_pair(GString *out, const char *name, const char *value)
{
    if (!value)
        return;
    g_string_append_printf(out, " %s='", name);
    vms_xml_escape_attr(out, value);
    g_string_append_c(out, '\'');
}

static void format_os(GString *out, const vms_domain_def *def, unsigned int indent)
{
    indent_to(out, indent);
    g_string_append(out, "<os>\n");
    indent_to(out, indent + 1);
    g_string_append(out, "<type");
    attr_pair(out, "arch", def->os_arch);
    attr_pair(out, "machine", def->os_machine);
    g_string_append(out, ">hvm</type>\n");
    text_element(out, indent + 1, "kernel", def->kernel);
    text_element(out, indent + 1, "initrd", def->initrd);
    text_element(out, indent + 1, "cmdline", def->cmdline);
    if (def->boot_dev) {
        indent_to(out, indent + 1);
        g_string_append(out, "<boot");
        attr_pair(out, "dev", def->boot_dev);
        g_string_append(out, "/>\n");
    }
    indent_to(out, indent);
    g_string_append(out, "</os>\n");
}

static void format_disk(GString *out, const vms_domain_disk *disk, unsigned int indent)
{
    indent_to(out, indent);
    g_string_append(out, "<disk type='file' device='disk'>\n");
    if (disk->format != VMS_DISK_FORMAT_NONE) {
        indent_to(out, indent + 1);
        g_string_append(out, "<driver name='qemu'");
        attr_pair(out, "type", vms_disk_format_to_string(disk->format));
        g_string_append(out, "/>\n");
    }
    indent_to(out, indent + 1);
    g_string_append(out, "<source");
    attr_pair(out, "file", disk->source);
    g_string_append(out, "/>\n");
    indent_to(out, indent + 1);
    g_string_append(out, "<target");
    attr_pair(out, "dev", disk->target);
    attr_pair(out, "bus", disk->bus);
    g_string_append(out, "/>\n");
    if (disk->readonly) {
        indent_to(out, indent + 1);
        g_string_append(out, "<readonly/>\n");
    }
    append_reindented(out, disk->extra_xml, indent + 1);
    indent_to(out, indent);
    g_string_append(out, "</disk>\n");
}

static void format_serial(GString *out, const vms_domain_def *def, unsigned int indent)
{
    if (def->serial == VMS_SERIAL_NONE)
        return;
    indent_to(out, indent);
    const char *type = def->serial == VMS_SERIAL_FILE ? "file" : "pty";
    if (!def->serial_path && !def->serial_extra_xml) {
        g_string_append_printf(out, "<serial type='%s'/>\n", type);
        return;
    }
    g_string_append_printf(out, "<serial type='%s'>\n", type);
    if (def->serial_path) {
        indent_to(out, indent + 1);
        g_string_append(out, "<source");
        attr_pair(out, "path", def->serial_path);
        g_string_append(out, "/>\n");
    }
    append_reindented(out, def->serial_extra_xml, indent + 1);
    indent_to(out, indent);
    g_string_append(out, "</serial>\n");
}

void vms_domain_def_format_element(GString *out, const vms_domain_def *def,
                                   const char *element_name, unsigned int indent)
{
    char uuid[37];
    vms_uuid_format(def->uuid, uuid);
    indent_to(out, indent);
    g_string_append_printf(out, "<%s type='%s'>\n", element_name,
                           def->virt == VMS_DOMAIN_VIRT_KVM ? "kvm" : "qemu");
    unsigned int in = indent + 1;
    text_element(out, in, "name", def->name);
    text_element(out, in, "uuid", uuid);
    text_element(out, in, "title", def->title);
    text_element(out, in, "description", def->description);
    indent_to(out, in);
    g_string_append_printf(out, "<memory unit='KiB'>%llu</memory>\n", def->memory_kib);
    indent_to(out, in);
    g_string_append_printf(out, "<currentMemory unit='KiB'>%llu</currentMemory>\n",
                           def->current_memory_kib ? def->current_memory_kib : def->memory_kib);
    indent_to(out, in);
    g_string_append_printf(out, "<vcpu placement='static'>%u</vcpu>\n",
                           def->vcpus ? def->vcpus : 1);
    format_os(out, def, in);
    append_reindented(out, def->extra_xml, in);
    indent_to(out, in);
    if (!def->emulator && def->ndisks == 0 && def->serial == VMS_SERIAL_NONE &&
        !def->extra_devices_xml) {
        g_string_append(out, "<devices/>\n");
        indent_to(out, indent);
        g_string_append_printf(out, "</%s>\n", element_name);
        return;
    }
    g_string_append(out, "<devices>\n");
    text_element(out, in + 1, "emulator", def->emulator);
    for (size_t i = 0; i < def->ndisks; i++)
        format_disk(out, def->disks[i], in + 1);
    format_serial(out, def, in + 1);
    append_reindented(out, def->extra_devices_xml, in + 1);
    indent_to(out, in);
    g_string_append(out, "</devices>\n");
    indent_to(out, indent);
    g_string_append_printf(out, "</%s>\n", element_name);
}

char *vms_domain_def_format(const vms_domain_def *def, unsigned int indent)
{
    GString *out = g_string_new(NULL);
    vms_domain_def_format_element(out, def, "domain", indent);
    return g_string_free(out, FALSE);
}
