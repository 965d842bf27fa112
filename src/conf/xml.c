/*
 * xml.c: safe libxml2 reading (no DTDs, entities or network; parser errors
 * into vmsnap_error), element checks with user-facing messages, escaping,
 * and canonical writing of kept elements; shared by the XML formats in
 * src/conf.
 */
#include "conf/xml.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <string.h>

#include "util/error.h"

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

bool vms_xml_is_element(const struct _xmlNode *node, const char *name)
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
    if (!vms_xml_is_element(root, root_name)) {
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

char *vms_xml_shown(const char *text)
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
        g_autofree char *v = vms_xml_shown(value ? value : "");
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
        g_autofree char *excerpt = vms_xml_shown(text);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: unexpected text '%s' in <%s>; it holds only elements",
                      vms_xml_line(c), excerpt, ename);
        return false;
    }
    return true;
}

bool vms_xml_check_empty(struct _xmlNode *node, vmsnap_error **error)
{
    if (!vms_xml_check_no_text(node, error))
        return false;
    for (xmlNode *c = node->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        g_autofree char *ename = vms_xml_qname(node);
        g_autofree char *why = g_strdup_printf("<%s> holds no elements", ename);
        vms_xml_unsupported_element(c, why, error);
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

const char *vms_xml_attr(struct _xmlNode *node, const char *name)
{
    xmlAttr *a = xmlHasNsProp(node, (const xmlChar *)name, NULL);
    if (!a || !a->children || !a->children->content)
        return a ? "" : NULL;
    return (const char *)a->children->content;
}

bool vms_xml_once(struct _xmlNode *child, struct _xmlNode **slot, vmsnap_error **error)
{
    if (*slot) {
        g_autofree char *qname = vms_xml_qname(child);
        g_autofree char *pname = vms_xml_qname(child->parent);
        vms_error_set(error, VMSNAP_ERR_XML,
                      "line %ld: <%s> appears more than once in <%s> (first on line %ld); keep one",
                      vms_xml_line(child), qname, pname, vms_xml_line(*slot));
        return false;
    }
    *slot = child;
    return true;
}

bool vms_xml_require_absolute(struct _xmlNode *node, const char *what, const char *path,
                              vmsnap_error **error)
{
    if (path && path[0] == '/')
        return true;
    g_autofree char *v = vms_xml_shown(path ? path : "");
    vms_error_set(error, VMSNAP_ERR_XML,
                  "line %ld: %s '%s' is not an absolute path; give the full path starting with '/'",
                  vms_xml_line(node), what, v);
    return false;
}

static const char *const no_attrs[] = {NULL};

char *vms_xml_plain_text(struct _xmlNode *node, vmsnap_error **error)
{
    g_autofree char *qname = vms_xml_qname(node);
    g_autofree char *supported = g_strdup_printf("<%s> takes no attributes", qname);
    if (!vms_xml_check_attrs(node, no_attrs, supported, error))
        return NULL;
    return vms_xml_leaf_text(node, error);
}

char *vms_xml_trimmed_text(struct _xmlNode *node, vmsnap_error **error)
{
    char *text = vms_xml_plain_text(node, error);
    return text ? g_strstrip(text) : NULL;
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

void vms_xml_indent(GString *out, unsigned int indent)
{
    for (unsigned int i = 0; i < indent; i++)
        g_string_append(out, "  ");
}

void vms_xml_write_attr(GString *out, const char *name, const char *value)
{
    if (!value)
        return;
    g_string_append_printf(out, " %s='", name);
    vms_xml_escape_attr(out, value);
    g_string_append_c(out, '\'');
}

void vms_xml_write_text_element(GString *out, unsigned int indent, const char *name,
                                const char *text)
{
    if (!text)
        return;
    vms_xml_indent(out, indent);
    g_string_append_printf(out, "<%s>", name);
    vms_xml_escape_text(out, text);
    g_string_append_printf(out, "</%s>\n", name);
}

/* Preserved XML never has a raw newline inside text, so lines are elements. */
void vms_xml_append_reindented(GString *out, const char *text, unsigned int indent)
{
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        vms_xml_indent(out, indent);
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
    vms_xml_indent(out, indent);
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
        vms_xml_indent(out, indent);
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
